/* verify/compare.c — see compare.h. Per-token figures are computed in parallel (OpenMP over the scored rows of
 * a batch) and summed afterwards in token order, so the printed numbers do not depend on the thread count.
 * Formulas follow llama.cpp's tools/perplexity/perplexity.cpp (kl_divergence, mean_and_uncertainty, covariance,
 * percentile); the code is r1kit's own. */
#define _GNU_SOURCE
#include "verify/compare.h"

#include <cjson/cJSON.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const float rk_verify_kld_pct[RK_VERIFY_N_KLD_PCT] = { 1.0f, 0.999f, 0.990f, 0.950f, 0.900f, 0.5f,
                                                       0.100f, 0.050f, 0.010f, 0.001f, 0.0f };
const float rk_verify_dp_pct[RK_VERIFY_N_DP_PCT] = { 1.0f, 0.999f, 0.990f, 0.950f, 0.900f, 0.750f, 0.5f,
                                                     0.250f, 0.100f, 0.050f, 0.010f, 0.001f, 0.0f };

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* max (first index on ties) and log-sum-exp of a logits row; -1 if a logit is not finite */
static int row_lse(const float *l, int64_t n, int32_t *top, double *lse) {
    float m = l[0];
    int32_t im = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(l[i])) return -1;
        if (l[i] > m) m = l[i], im = (int32_t)i;
    }
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += exp((double)l[i] - (double)m);
    *top = im;
    *lse = (double)m + log(s);
    return 0;
}

int rk_verify_row_from_logits(rk_verify_row *row, float *logprob_buf, const float *logits, int64_t vocab,
                              int32_t target, rk_err *err) {
    if (vocab <= 0 || target < 0 || target >= vocab)
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "target token %d outside the vocabulary of %lld", target, (long long)vocab);
    int32_t top;
    double lse;
    if (row_lse(logits, vocab, &top, &lse)) return rk_err_set(err, RK_ECORRUPT, UINT64_MAX, "base logits are not finite (NaN/Inf in the model?)");
    for (int64_t i = 0; i < vocab; i++) logprob_buf[i] = (float)((double)logits[i] - lse);
    row->n = vocab;
    row->ids = NULL;
    row->logprob = logprob_buf;
    row->nll = lse - (double)logits[target];
    row->top = top;
    return 0;
}

int rk_verify_token(const rk_verify_row *b, const float *l, int64_t vocab, int32_t target, rk_verify_tok *out,
                    rk_err *err) {
    if (vocab <= 0 || target < 0 || target >= vocab)
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "target token %d outside the vocabulary of %lld", target, (long long)vocab);
    if (!b->ids && b->n != vocab)
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "base row has %lld entries, the candidate %lld", (long long)b->n, (long long)vocab);
    if (b->n < 0 || b->n > vocab)
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "base row has %lld entries (vocabulary %lld)", (long long)b->n, (long long)vocab);
    int32_t top;
    double lse;
    if (row_lse(l, vocab, &top, &lse)) return rk_err_set(err, RK_ECORRUPT, UINT64_MAX, "candidate logits are not finite (NaN/Inf in the model?)");
    double kld = 0;
    if (!b->ids) {
        /* log q rounded to float like the base row, so identical logits give exactly 0 */
        for (int64_t i = 0; i < vocab; i++) {
            const double lp = b->logprob[i], lq = (float)((double)l[i] - lse);
            if (lp > -INFINITY) kld += exp(lp) * (lp - lq);          /* p = 0 adds nothing */
        }
    } else {
        double P = 0, Q = 0;
        for (int64_t k = 0; k < b->n; k++) {
            const int32_t id = b->ids[k];
            if (id < 0 || id >= vocab)
                return rk_err_set(err, RK_EINVAL, UINT64_MAX, "base row names token %d outside the vocabulary of %lld", id, (long long)vocab);
            const double lp = b->logprob[k], lq = (float)((double)l[id] - lse), p = exp(lp);
            if (lp > -INFINITY) kld += p * (lp - lq);
            P += p;
            Q += exp(lq);
        }
        const double rp = b->has_rest ? b->rest : 1 - P, rq = 1 - Q > 1e-300 ? 1 - Q : 1e-300;
        if (rp > (b->has_rest ? 0 : 1e-12)) kld += rp * log(rp / rq);
    }
    out->nll = lse - (double)l[target];
    out->nll_base = b->nll;
    out->kld = kld;
    out->dp = exp(-out->nll) - exp(-b->nll);
    out->top = top;
    out->top_base = b->top;
    return 0;
}

void rk_verify_sums_add(rk_verify_sums *s, const rk_verify_tok *t) {
    s->count++;
    s->same_top += t->top == t->top_base;
    s->nll += t->nll;
    s->nll2 += t->nll * t->nll;
    s->nll_base += t->nll_base;
    s->nll_base2 += t->nll_base * t->nll_base;
    s->nll_nll_base += t->nll * t->nll_base;
    s->kld += t->kld;
    s->kld2 += t->kld * t->kld;
    s->dp += t->dp;
    const double d2 = t->dp * t->dp;
    s->dp2 += d2;
    s->dp4 += d2 * d2;
    if (s->count == 1 || t->kld > s->kld_max) s->kld_max = t->kld;
    if (fabs(t->dp) > s->dp_absmax) s->dp_absmax = fabs(t->dp);
}

/* llama.cpp's mean_and_uncertainty: no error below 11 values */
static void mean_err(double sum, double sum2, int64_t n, double *mean, double *e) {
    *mean = *e = 0;
    if (n < 1) return;
    const double f = sum / (double)n, v = sum2 / (double)n - f * f;
    *mean = f;
    *e = v > 0 && n > 10 ? sqrt(v / (double)(n - 1)) : 0;
}

/* llama.cpp's covariance of the two means: 0 below 10 values */
static double cov_of_means(double sa, double sb, double sab, int64_t n) {
    if (n < 10) return 0;
    const double c = (double)n;
    return (sab / c - (sa / c) * (sb / c)) / (c - 1);
}

static double sqrt0(double v) { return v > 0 ? sqrt(v) : 0; }

void rk_verify_stats_from_sums(const rk_verify_sums *s, rk_verify_stats *o) {
    memset(o, 0, sizeof *o);
    o->count = s->count;
    if (s->count < 1) return;
    double m, e, mb, eb;
    mean_err(s->nll, s->nll2, s->count, &m, &e);
    mean_err(s->nll_base, s->nll_base2, s->count, &mb, &eb);
    const double cov = cov_of_means(s->nll, s->nll_base, s->nll_nll_base, s->count);
    o->ppl = exp(m);
    o->ppl_err = o->ppl * e;
    o->ppl_base = exp(mb);
    o->ppl_base_err = o->ppl_base * eb;
    o->cor = e > 0 && eb > 0 ? cov / (e * eb) : NAN;
    o->ln_ratio = m - mb;
    o->ln_ratio_err = sqrt0(e * e + eb * eb - 2 * cov);
    o->ratio = exp(o->ln_ratio);
    o->ratio_err = o->ratio * o->ln_ratio_err;
    o->diff = o->ppl - o->ppl_base;
    o->diff_err = sqrt0(o->ppl_err * o->ppl_err + o->ppl_base_err * o->ppl_base_err - 2 * o->ppl * o->ppl_base * cov);
    mean_err(s->kld, s->kld2, s->count, &o->kld, &o->kld_err);
    o->kld_max = s->kld_max;
    mean_err(s->dp, s->dp2, s->count, &o->dp, &o->dp_err);
    o->dp_absmax = s->dp_absmax;
    double mse, mse_err;
    mean_err(s->dp2, s->dp4, s->count, &mse, &mse_err);
    o->dp_rms = sqrt(mse);
    o->dp_rms_err = o->dp_rms > 0 ? 0.5 / o->dp_rms * mse_err : 0;
    o->same_top = (double)s->same_top / (double)s->count;
    o->same_top_err = s->count > 1 ? sqrt0(o->same_top * (1 - o->same_top) / (double)(s->count - 1)) : 0;
}

double rk_verify_percentile(const float *v, int64_t n, float fraction) {
    if (n < 1) return NAN;
    if (fraction <= 0) return v[0];
    if (fraction >= 1) return v[n - 1];
    float p = fraction * (float)(n - 1);       /* float, as llama.cpp */
    const int64_t ip = (int64_t)p;
    p -= (float)ip;
    const int64_t ip1 = ip + 1 < n ? ip + 1 : n - 1;
    return (1 - p) * v[ip] + p * v[ip1];
}

double rk_verify_median(const float *v, int64_t n) {
    if (n < 1) return NAN;
    return n % 2 == 0 ? 0.5f * (v[n / 2] + v[n / 2 - 1]) : v[n / 2];
}

/* ---- accumulation ---------------------------------------------------------------------------------------- */

void rk_verify_result_free(rk_verify_result *r) {
    if (!r) return;
    free(r->chunk);
    free(r->kld_values);
    free(r->dp_values);
    r->chunk = NULL;
    r->kld_values = r->dp_values = NULL;
}

int rk_verify_begin(rk_verify_result *r, int64_t n_chunks, int64_t per_chunk, rk_err *err) {
    memset(r, 0, sizeof *r);
    if (n_chunks < 1 || per_chunk < 1 || n_chunks > (INT64_C(1) << 40) / per_chunk)
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "%lld chunks of %lld tokens: not a valid run", (long long)n_chunks,
                          (long long)per_chunk);
    const size_t n = (size_t)(n_chunks * per_chunk);
    r->n_chunks = n_chunks;
    r->per_chunk = per_chunk;
    r->chunk = calloc((size_t)n_chunks, sizeof *r->chunk);
    r->kld_values = malloc(n * sizeof(float));
    r->dp_values = malloc(n * sizeof(float));
    if (!r->chunk || !r->kld_values || !r->dp_values) {
        rk_verify_result_free(r);
        return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory for %zu tokens of statistics", n);
    }
    return 0;
}

int rk_verify_add(rk_verify_result *r, const rk_verify_tok *t, rk_err *err) {
    if (r->sums.count >= r->n_chunks * r->per_chunk || r->chunks_done >= r->n_chunks)
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "more tokens than the %lld x %lld the run was begun with",
                          (long long)r->n_chunks, (long long)r->per_chunk);
    r->kld_values[r->sums.count] = (float)t->kld;
    r->dp_values[r->sums.count] = (float)t->dp;
    rk_verify_sums_add(&r->sums, t);
    rk_verify_sums_add(&r->cur, t);
    return 0;
}

void rk_verify_end_chunk(rk_verify_result *r) {
    if (r->chunks_done >= r->n_chunks) return;
    rk_verify_stats_from_sums(&r->cur, &r->chunk[r->chunks_done++]);
    memset(&r->cur, 0, sizeof r->cur);
}

static int cmp_float(const void *a, const void *b) {
    const float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

int rk_verify_finish(rk_verify_result *r, rk_err *err) {
    const int64_t n = r->sums.count;
    if (n < 1) return rk_err_set(err, RK_EINVAL, UINT64_MAX, "no token was scored");
    if (r->cur.count) rk_verify_end_chunk(r);
    rk_verify_stats_from_sums(&r->sums, &r->total);
    float *s = malloc((size_t)n * sizeof(float));
    if (!s) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
    memcpy(s, r->kld_values, (size_t)n * sizeof(float));
    qsort(s, (size_t)n, sizeof(float), cmp_float);
    for (int i = 0; i < RK_VERIFY_N_KLD_PCT; i++)
        r->kld_pct[i] = rk_verify_kld_pct[i] == 0.5f ? rk_verify_median(s, n) : rk_verify_percentile(s, n, rk_verify_kld_pct[i]);
    memcpy(s, r->dp_values, (size_t)n * sizeof(float));
    qsort(s, (size_t)n, sizeof(float), cmp_float);
    for (int i = 0; i < RK_VERIFY_N_DP_PCT; i++)
        r->dp_pct[i] = rk_verify_dp_pct[i] == 0.5f ? rk_verify_median(s, n) : rk_verify_percentile(s, n, rk_verify_dp_pct[i]);
    free(s);
    return 0;
}

/* ---- driving the models ---------------------------------------------------------------------------------- */

/* Runs in[0..n_ctx) from an empty cache: positions before `first` without the output head, the rest with logits,
 * n_batch at a time; calls fn(ctx, j0, logits, nb) for each batch of scored rows j0 .. j0+nb-1 (row j is position
 * first + j; position n_ctx-1 is evaluated but not scored). */
typedef int (*rows_fn)(void *ctx, int64_t j0, const float *logits, int64_t nb, rk_err *err);
static int forward_chunk(rk_model *m, rk_kvcache *kv, const int32_t *in, int64_t n_ctx, int64_t n_batch, float *logits,
                         rows_fn fn, void *ctx, rk_err *err) {
    const int64_t first = n_ctx / 2, per = n_ctx - 1 - first;
    int rc;
    rk_kvcache_clear(kv);
    for (int64_t b = 0; b < first; b += n_batch) {
        const int64_t nb = first - b < n_batch ? first - b : n_batch;
        if ((rc = rk_model_forward(m, kv, in + b, nb, NULL, err))) return rc;
    }
    for (int64_t b = first; b < n_ctx; b += n_batch) {
        const int64_t nb = n_ctx - b < n_batch ? n_ctx - b : n_batch;
        if ((rc = rk_model_forward(m, kv, in + b, nb, logits, err))) return rc;
        const int64_t ns = b + nb <= first + per ? nb : first + per - b;   /* drop position n_ctx-1 */
        if (ns > 0 && (rc = fn(ctx, b - first, logits, ns, err))) return rc;
        if (rk_interrupted()) return rk_err_set(err, RK_EINTR, UINT64_MAX, "interrupted");
    }
    return 0;
}

/* the candidate side: per-token figures in parallel, then summed in order */
typedef struct cand_ctx {
    rk_verify_result *res;
    const rk_verify_row *rows;
    const int32_t *targets;
    int64_t vocab;
    rk_verify_tok *toks;
    int *rcs;
} cand_ctx;

static int cand_rows(void *vctx, int64_t j0, const float *logits, int64_t nb, rk_err *err) {
    cand_ctx *c = vctx;
    #pragma omp parallel for schedule(static)
    for (int64_t j = 0; j < nb; j++)
        c->rcs[j] = rk_verify_token(&c->rows[j0 + j], logits + j * c->vocab, c->vocab, c->targets[j0 + j], &c->toks[j], NULL);
    for (int64_t j = 0; j < nb; j++) {
        int rc = c->rcs[j] ? rk_verify_token(&c->rows[j0 + j], logits + j * c->vocab, c->vocab, c->targets[j0 + j], &c->toks[j], err)
                           : rk_verify_add(c->res, &c->toks[j], err);
        if (rc) return rc;
    }
    return 0;
}

int rk_verify_run(rk_model *cand, const int32_t *tokens, int64_t n_tokens, const rk_verify_opts *o,
                  rk_verify_base_fn base_fn, void *base_user, rk_verify_progress progress, void *user,
                  rk_verify_result *res, rk_err *err) {
    memset(res, 0, sizeof *res);
    const int64_t n_ctx = o->n_ctx, vocab = rk_model_vocab(cand);
    if (n_ctx < 4) return rk_err_set(err, RK_EINVAL, UINT64_MAX, "context of %lld tokens is too small (at least 4)", (long long)n_ctx);
    if (n_tokens < n_ctx)
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "%lld tokens: not one chunk of %lld", (long long)n_tokens, (long long)n_ctx);
    int64_t n_chunk = n_tokens / n_ctx;
    if (o->n_chunks >= 0 && o->n_chunks < n_chunk) n_chunk = o->n_chunks;
    if (n_chunk < 1) return rk_err_set(err, RK_EINVAL, UINT64_MAX, "no chunk to evaluate");
    for (int64_t i = 0; i < n_chunk * n_ctx; i++)
        if (tokens[i] < 0 || tokens[i] >= vocab)
            return rk_err_set(err, RK_EINVAL, UINT64_MAX, "token %lld of the text (id %d) is outside the vocabulary of %lld",
                              (long long)i, tokens[i], (long long)vocab);
    const int64_t n_batch = o->n_batch > 0 && o->n_batch < n_ctx ? o->n_batch : n_ctx;
    const int64_t first = n_ctx / 2, per = n_ctx - 1 - first, nl = n_batch < n_ctx - first ? n_batch : n_ctx - first;
    int rc;
    if ((rc = rk_verify_begin(res, n_chunk, per, err))) return rc;
    res->n_ctx = n_ctx;
    res->n_tokens = n_tokens;
    rk_kvcache *kv = rk_kvcache_new(cand, n_ctx, err);
    float *logits = malloc((size_t)(nl * vocab) * sizeof(float));
    int32_t *in = malloc((size_t)n_ctx * sizeof(int32_t));
    rk_verify_row *rows = calloc((size_t)per, sizeof *rows);
    rk_verify_tok *toks = malloc((size_t)nl * sizeof *toks);
    int *rcs = malloc((size_t)nl * sizeof *rcs);
    if (!kv) { rc = err ? err->code : RK_ENOMEM; goto done; }
    if (!logits || !in || !rows || !toks || !rcs) { rc = rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory"); goto done; }
    const double t0 = now_s();
    for (int64_t c = 0; c < n_chunk; c++) {
        const double tc = now_s();
        const int32_t *chunk = tokens + c * n_ctx;
        memcpy(in, chunk, (size_t)n_ctx * sizeof(int32_t));
        if (o->bos >= 0) in[0] = o->bos;
        if ((rc = base_fn(base_user, c, in, n_ctx, chunk + first + 1, per, rows, err))) goto done;
        cand_ctx cc = { res, rows, chunk + first + 1, vocab, toks, rcs };
        if ((rc = forward_chunk(cand, kv, in, n_ctx, n_batch, logits, cand_rows, &cc, err))) goto done;
        rk_verify_end_chunk(res);
        if (progress) {
            rk_verify_stats running;
            rk_verify_stats_from_sums(&res->sums, &running);
            rk_verify_chunk_info ci = { c, n_chunk, &res->chunk[c], &running, now_s() - tc };
            progress(user, &ci);
        }
    }
    if ((rc = rk_verify_finish(res, err))) goto done;
    res->seconds = now_s() - t0;
done:
    rk_kvcache_free(kv);
    free(logits);
    free(in);
    free(rows);
    free(toks);
    free(rcs);
    if (rc) rk_verify_result_free(res);
    return rc;
}

/* ---- the live base model as a base source ----------------------------------------------------------------- */

struct rk_verify_live {
    rk_model *m;
    rk_kvcache *kv;
    int64_t n_ctx, n_batch, vocab;
    float *logits;            /* [n_batch, vocab] */
    float *lp;                /* [per_chunk, vocab] log-probs of the scored rows */
    const int32_t *targets;
    rk_verify_row *rows;
    int *rcs;
};

static int base_rows(void *vctx, int64_t j0, const float *logits, int64_t nb, rk_err *err) {
    rk_verify_live *b = vctx;
    #pragma omp parallel for schedule(static)
    for (int64_t j = 0; j < nb; j++)
        b->rcs[j] = rk_verify_row_from_logits(&b->rows[j0 + j], b->lp + (j0 + j) * b->vocab, logits + j * b->vocab, b->vocab,
                                              b->targets[j0 + j], NULL);
    for (int64_t j = 0; j < nb; j++)
        if (b->rcs[j])
            return rk_verify_row_from_logits(&b->rows[j0 + j], b->lp + (j0 + j) * b->vocab, logits + j * b->vocab, b->vocab,
                                             b->targets[j0 + j], err);
    return 0;
}

void rk_verify_live_close(rk_verify_live *b) {
    if (!b) return;
    rk_kvcache_free(b->kv);
    free(b->logits);
    free(b->lp);
    free(b->rcs);
    free(b);
}

int rk_verify_live_open(rk_verify_live **out, rk_model *base, const rk_verify_opts *o, rk_err *err) {
    *out = NULL;
    const int64_t n_ctx = o->n_ctx, vocab = rk_model_vocab(base);
    if (n_ctx < 4) return rk_err_set(err, RK_EINVAL, UINT64_MAX, "context of %lld tokens is too small (at least 4)", (long long)n_ctx);
    rk_verify_live *b = calloc(1, sizeof *b);
    if (!b) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
    const int64_t first = n_ctx / 2, per = n_ctx - 1 - first;
    b->m = base, b->n_ctx = n_ctx, b->vocab = vocab;
    b->n_batch = o->n_batch > 0 && o->n_batch < n_ctx ? o->n_batch : n_ctx;
    const int64_t nl = b->n_batch < n_ctx - first ? b->n_batch : n_ctx - first;
    if (!(b->kv = rk_kvcache_new(base, n_ctx, err))) {
        rk_verify_live_close(b);
        return err ? err->code : RK_ENOMEM;
    }
    b->logits = malloc((size_t)(nl * vocab) * sizeof(float));
    b->lp = malloc((size_t)(per * vocab) * sizeof(float));
    b->rcs = malloc((size_t)nl * sizeof(int));
    if (!b->logits || !b->lp || !b->rcs) {
        rk_verify_live_close(b);
        return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory for the base log-probabilities");
    }
    *out = b;
    return 0;
}

int rk_verify_live_rows(void *user, int64_t chunk, const int32_t *in, int64_t n_ctx, const int32_t *targets,
                        int64_t per_chunk, rk_verify_row *rows, rk_err *err) {
    (void)chunk;
    rk_verify_live *b = user;
    if (n_ctx != b->n_ctx || per_chunk != n_ctx - 1 - n_ctx / 2)
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "live base opened for ctx %lld, asked for %lld", (long long)b->n_ctx,
                          (long long)n_ctx);
    b->targets = targets;
    b->rows = rows;
    return forward_chunk(b->m, b->kv, in, n_ctx, b->n_batch, b->logits, base_rows, b, err);
}

int rk_verify_compare(rk_model *base, rk_model *cand, const int32_t *tokens, int64_t n_tokens, const rk_verify_opts *o,
                      rk_verify_progress progress, void *user, rk_verify_result *res, rk_err *err) {
    memset(res, 0, sizeof *res);
    const int64_t vocab = rk_model_vocab(base), n_ctx = o->n_ctx;
    if (vocab != rk_model_vocab(cand))
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "the base model has %lld logits per token, the candidate %lld",
                          (long long)vocab, (long long)rk_model_vocab(cand));
    if (n_ctx < 4) return rk_err_set(err, RK_EINVAL, UINT64_MAX, "context of %lld tokens is too small (at least 4)", (long long)n_ctx);
    if (n_tokens < 2 * n_ctx)                          /* llama-perplexity's rule for a text */
        return rk_err_set(err, RK_EINVAL, UINT64_MAX,
                          "the text tokenizes to %lld tokens; a context of %lld needs at least %lld (2 x ctx)",
                          (long long)n_tokens, (long long)n_ctx, (long long)(2 * n_ctx));
    rk_verify_live *b;
    int rc = rk_verify_live_open(&b, base, o, err);
    if (rc) return rc;
    rc = rk_verify_run(cand, tokens, n_tokens, o, rk_verify_live_rows, b, progress, user, res, err);
    rk_verify_live_close(b);
    return rc;
}

/* ---- the gate ---------------------------------------------------------------------------------------------- */

void rk_verify_gate_init(rk_verify_gate *g) { g->max_ppl_ratio = g->max_kld = g->min_top1 = NAN; }

int rk_verify_gate_parse(rk_verify_gate *g, const char *json, size_t len, const char *path, rk_err *err) {
    cJSON *j = cJSON_ParseWithLength(json, len);
    int rc = 0;
    if (!cJSON_IsObject(j)) {
        rc = rk_err_file(err, RK_EINVAL, path, UINT64_MAX, "not a JSON object (expected {\"max_ppl_ratio\": X, "
                         "\"max_kld\": X, \"min_top1\": PERCENT})");
        goto done;
    }
    for (const cJSON *it = j->child; it; it = it->next) {
        double *dst = NULL, lo = 0, hi = INFINITY;
        int lo_open = 0;
        if (it->string && !strcmp(it->string, "max_ppl_ratio")) dst = &g->max_ppl_ratio, lo_open = 1;
        else if (it->string && !strcmp(it->string, "max_kld")) dst = &g->max_kld;
        else if (it->string && !strcmp(it->string, "min_top1")) dst = &g->min_top1, hi = 100;
        else {
            rc = rk_err_file(err, RK_EINVAL, path, UINT64_MAX, "unknown key '%.60s' (max_ppl_ratio, max_kld, min_top1)",
                             it->string ? it->string : "");
            goto done;
        }
        const double v = it->valuedouble;
        if (!cJSON_IsNumber(it) || !isfinite(v) || v < lo || (lo_open && v == lo) || v > hi) {
            rc = rk_err_file(err, RK_EINVAL, path, UINT64_MAX, "'%s' must be a number %s %g%s", it->string,
                             lo_open ? ">" : ">=", lo, hi < INFINITY ? " and <= 100 (percent)" : "");
            goto done;
        }
        *dst = v;
    }
done:
    cJSON_Delete(j);
    return rc;
}

static void gate_item(rk_verify_gate_item *it, const char *key, const char *figure, double v, double thr, int max,
                      int pct, rk_verify_gate_result *r) {
    it->key = key, it->figure = figure, it->value = v, it->threshold = thr;
    it->set = !isnan(thr);
    if (!it->set) return;
    it->pass = max ? v <= thr : v >= thr;      /* NaN figures fail */
    r->n_set++;
    r->n_failed += !it->pass;
    const char *op = it->pass ? (max ? "<=" : ">=") : (max ? ">" : "<");
    snprintf(it->line, sizeof it->line, pct ? "%s %s %.3f%% %s %.3f%%" : "%s %s %.6f %s %.6f", it->pass ? "ok  " : "FAIL",
             figure, v, op, thr);
}

void rk_verify_gate_eval(const rk_verify_gate *g, const rk_verify_stats *t, rk_verify_gate_result *r) {
    memset(r, 0, sizeof *r);
    gate_item(&r->item[0], "max_ppl_ratio", "PPL ratio", t->ratio, g->max_ppl_ratio, 1, 0, r);
    gate_item(&r->item[1], "max_kld", "mean KLD", t->kld, g->max_kld, 1, 0, r);
    gate_item(&r->item[2], "min_top1", "same top p", 100 * t->same_top, g->min_top1, 0, 1, r);
}
