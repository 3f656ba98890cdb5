/* verify/layers.c — per-layer relative error of the hidden state between BASE and CANDIDATE, and the routing
 * counters of both (method, positions and memory in layers.h). The base runs a chunk first and its captured rows
 * are kept; the candidate then runs the same chunk and each captured row is compared as the observer sees it. */
#include "verify/layers.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- routing ------------------------------------------------------------------------------------------------ */
void rk_verify_routing_free(rk_verify_routing *r) {
    if (!r) return;
    for (int64_t i = 0; i < r->n; i++) free(r->layer[i].count);
    free(r->layer);
    memset(r, 0, sizeof *r);
}

int rk_verify_routing_collect(const rk_model *m, rk_verify_routing *out, rk_err *err) {
    memset(out, 0, sizeof *out);
    const int64_t L = rk_model_layers(m);
    rk_routing rt;
    int64_t n = 0;
    for (int64_t il = 0; il < L; il++) n += rk_model_routing(m, il, &rt) == 0;
    if (n == 0) return 0;
    out->layer = calloc((size_t)n, sizeof *out->layer);
    if (!out->layer) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory for routing statistics");
    for (int64_t il = 0; il < L; il++) {
        if (rk_model_routing(m, il, &rt)) continue;
        rk_verify_routing_layer *d = &out->layer[out->n];
        d->count = malloc((size_t)(rt.n_experts > 0 ? rt.n_experts : 1) * sizeof *d->count);
        if (!d->count) {
            rk_verify_routing_free(out);
            return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory for routing statistics");
        }
        d->layer = il, d->n_experts = rt.n_experts, d->top_k = rt.top_k, d->tokens = rt.tokens;
        if (rt.n_experts > 0) memcpy(d->count, rt.count, (size_t)rt.n_experts * sizeof *d->count);
        out->n++;
    }
    return 0;
}

/* ---- capture ------------------------------------------------------------------------------------------------ */
typedef struct slot {
    char name[2][128];       /* first linear's name, per model (0 base, 1 cand) */
    int64_t cols;
    float *rows;             /* [max_pos, cols]: the base's rows of the current chunk */
    unsigned char *have;     /* [max_pos]: row filled by the base in this chunk */
    double sb, sd, cos_sum, cos_min, rel_max;
    int64_t npos;
} slot;

typedef struct cap {
    slot *s;                 /* [L + 1]: layers, then the head */
    int64_t L, mpos;
    const int64_t *pos;      /* [mpos] captured positions of a chunk, ascending */
    int side;                /* 0 base, 1 cand */
    int64_t p0;              /* position of the current batch's first row */
    int rc;                  /* first failure inside the observer */
} cap;

/* index in pos[] of position p, or -1 */
static int64_t find_pos(const cap *c, int64_t p) {
    int64_t lo = 0, hi = c->mpos;
    while (lo < hi) {
        int64_t mid = (lo + hi) / 2;
        if (c->pos[mid] < p) lo = mid + 1;
        else hi = mid;
    }
    return lo < c->mpos && c->pos[lo] == p ? lo : -1;
}

static void compare_row(slot *s, const float *b, const float *x, int64_t cols) {
    double bb = 0, dd = 0, xx = 0, bx = 0;
    for (int64_t j = 0; j < cols; j++) {
        const double u = b[j], v = x[j];
        bb += u * u, xx += v * v, bx += u * v, dd += (v - u) * (v - u);
    }
    const double cs = bb > 0 && xx > 0 ? bx / sqrt(bb * xx) : (bb == xx ? 1.0 : 0.0);
    const double rel = bb > 0 ? sqrt(dd / bb) : (dd > 0 ? INFINITY : 0.0);
    s->sb += bb, s->sd += dd, s->cos_sum += cs;
    if (s->npos == 0 || cs < s->cos_min) s->cos_min = cs;
    if (s->npos == 0 || rel > s->rel_max) s->rel_max = rel;
    s->npos++;
}

static void observe(void *ctx, const char *name, int64_t layer, int64_t expert, const float *x, int64_t n, int64_t cols) {
    cap *c = ctx;
    if (c->rc || expert >= 0 || layer < -1 || layer >= c->L) return;
    slot *s = &c->s[layer < 0 ? c->L : layer];
    char *nm = s->name[c->side];
    if (!nm[0]) snprintf(nm, sizeof s->name[0], "%s", name);
    else if (strcmp(nm, name) != 0) return;                  /* not the layer's first linear */
    if (s->cols == 0) {
        s->cols = cols;
        s->rows = malloc((size_t)(c->mpos * cols) * sizeof(float));
        s->have = calloc((size_t)c->mpos, 1);
        if (!s->rows || !s->have) { c->rc = RK_ENOMEM; return; }
    } else if (s->cols != cols) {
        c->rc = RK_EUNSUPPORTED;
        return;
    }
    for (int64_t t = 0; t < n; t++) {
        const int64_t k = find_pos(c, c->p0 + t);
        if (k < 0) continue;
        float *row = s->rows + k * cols;
        if (c->side == 0) {
            memcpy(row, x + t * cols, (size_t)cols * sizeof(float));
            s->have[k] = 1;
        } else if (s->have[k]) {
            compare_row(s, row, x + t * cols, cols);
        }
    }
}

/* verify's forward_chunk (compare.c): first half without the head, then n_batch at a time with logits */
static int run_chunk(rk_model *m, rk_kvcache *kv, cap *c, const int32_t *in, int64_t n_ctx, int64_t n_batch,
                     float *logits, rk_err *err) {
    const int64_t first = n_ctx / 2;
    int rc;
    rk_kvcache_clear(kv);
    for (int half = 0; half < 2; half++) {
        const int64_t start = half ? first : 0, end = half ? n_ctx : first;
        for (int64_t b = start; b < end; b += n_batch) {
            const int64_t nb = end - b < n_batch ? end - b : n_batch;
            c->p0 = b;
            if ((rc = rk_model_forward(m, kv, in + b, nb, half ? logits : NULL, err))) return rc;
            if (c->rc == RK_ENOMEM) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory for captured activations");
            if (c->rc) return rk_err_set(err, c->rc, UINT64_MAX, "a layer's input width changed between forward calls");
            if (rk_interrupted()) return rk_err_set(err, RK_EINTR, UINT64_MAX, "interrupted");
        }
    }
    return 0;
}

void rk_verify_layers_free(rk_verify_layers *l) {
    if (!l) return;
    free(l->layer);
    rk_verify_routing_free(&l->routing_base);
    rk_verify_routing_free(&l->routing_cand);
    memset(l, 0, sizeof *l);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int rk_verify_layers_run(rk_model *base, rk_model *cand, const int32_t *tokens, int64_t n_tokens,
                         const rk_verify_layers_opts *o, rk_verify_layers *out, rk_err *err) {
    memset(out, 0, sizeof *out);
    const double t0 = now_s();
    const int64_t n_ctx = o->n_ctx;
    if (n_ctx < 4 || n_ctx > (INT64_C(1) << 24))
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "layers: ctx %lld is not in [4, 16777216]", (long long)n_ctx);
    if (!tokens || n_tokens < n_ctx)
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "layers: %lld tokens are fewer than one chunk of %lld",
                          (long long)n_tokens, (long long)n_ctx);
    const int64_t L = rk_model_layers(base), vocab = rk_model_vocab(base);
    if (rk_model_layers(cand) != L || rk_model_hidden(cand) != rk_model_hidden(base) || rk_model_vocab(cand) != vocab)
        return rk_err_set(err, RK_EUNSUPPORTED, UINT64_MAX,
                          "layers: BASE has %lld layers of width %lld, CANDIDATE %lld of width %lld (vocab %lld vs %lld)",
                          (long long)L, (long long)rk_model_hidden(base), (long long)rk_model_layers(cand),
                          (long long)rk_model_hidden(cand), (long long)vocab, (long long)rk_model_vocab(cand));
    int64_t n_chunk = n_tokens / n_ctx, want = o->n_chunks > 0 ? o->n_chunks : 2;
    if (want < n_chunk) n_chunk = want;
    const int64_t n_batch = o->n_batch > 0 && o->n_batch < n_ctx ? o->n_batch : n_ctx;
    const int64_t first = n_ctx / 2, per = n_ctx - 1 - first;
    const int64_t mpos = o->max_positions > 0 && o->max_positions < per ? o->max_positions : per;

    int rc = 0;
    cap c;
    memset(&c, 0, sizeof c);
    int64_t *pos = malloc((size_t)mpos * sizeof *pos);
    int32_t *in = malloc((size_t)n_ctx * sizeof *in);
    float *logits = malloc((size_t)(n_batch * vocab) * sizeof *logits);
    rk_kvcache *kvb = NULL, *kvc = NULL;
    c.s = calloc((size_t)(L + 1), sizeof *c.s);
    out->layer = calloc((size_t)(L + 1), sizeof *out->layer);
    if (!pos || !in || !logits || !c.s || !out->layer) {
        rc = rk_err_set(err, RK_ENOMEM, UINT64_MAX, "layers: out of memory");
        goto done;
    }
    for (int64_t k = 0; k < mpos; k++) pos[k] = first + k * per / mpos;   /* evenly spaced, ascending, distinct */
    c.L = L, c.mpos = mpos, c.pos = pos;
    if (!(kvb = rk_kvcache_new(base, n_ctx, err)) || !(kvc = rk_kvcache_new(cand, n_ctx, err))) {
        rc = err && err->code ? err->code : RK_ENOMEM;
        goto done;
    }
    rk_model_routing_reset(base);
    rk_model_routing_reset(cand);
    rk_model_set_observer(base, observe, &c);
    rk_model_set_observer(cand, observe, &c);
    for (int64_t ch = 0; ch < n_chunk; ch++) {
        memcpy(in, tokens + ch * n_ctx, (size_t)n_ctx * sizeof *in);
        if (o->bos >= 0) in[0] = o->bos;
        for (int64_t i = 0; i <= L; i++)
            if (c.s[i].have) memset(c.s[i].have, 0, (size_t)mpos);
        c.side = 0;
        if ((rc = run_chunk(base, kvb, &c, in, n_ctx, n_batch, logits, err))) goto done;
        c.side = 1;
        if ((rc = run_chunk(cand, kvc, &c, in, n_ctx, n_batch, logits, err))) goto done;
    }
    for (int64_t i = 0; i <= L; i++) {
        const slot *s = &c.s[i];
        rk_verify_layer_err *e = &out->layer[i];
        e->layer = i < L ? i : -1;
        snprintf(e->name, sizeof e->name, "%s", s->name[0]);
        e->positions = s->npos;
        e->rel_err = s->sb > 0 ? sqrt(s->sd / s->sb) : (s->sd > 0 ? INFINITY : 0.0);
        e->rel_err_max = s->rel_max;
        e->cos_mean = s->npos ? s->cos_sum / (double)s->npos : NAN;
        e->cos_min = s->npos ? s->cos_min : NAN;
        if (s->npos == 0) e->rel_err = e->rel_err_max = NAN;
    }
    out->n = L + 1;
    out->n_chunks = n_chunk;
    out->positions_per_chunk = mpos;
    if ((rc = rk_verify_routing_collect(base, &out->routing_base, err)) ||
        (rc = rk_verify_routing_collect(cand, &out->routing_cand, err)))
        goto done;
    out->seconds = now_s() - t0;
done:
    rk_model_set_observer(base, NULL, NULL);
    rk_model_set_observer(cand, NULL, NULL);
    if (c.s)
        for (int64_t i = 0; i <= L; i++) free(c.s[i].rows), free(c.s[i].have);
    free(c.s);
    rk_kvcache_free(kvb);
    rk_kvcache_free(kvc);
    free(logits);
    free(in);
    free(pos);
    if (rc) rk_verify_layers_free(out);
    return rc;
}
