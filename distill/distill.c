/* distill/distill.c — distillation as training-loop hooks (see distill.h): the window grid, the mixed CE + KD
 * loss with a live or cached teacher, on-policy continuations sampled from the student, held-out KLD / top-1. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <errno.h>
#include <cjson/cJSON.h>

#include "distill/distill.h"
#include "distill/teacher_cache.h"
#include "model/kernels.h"
#include "model/sample.h"
#include "model/sampler.h"
#include "verify/basefile.h"

#define MAX_ACCUM_WINDOWS (1 << 24)

struct rk_distill {
    rk_distill_opts o;
    rk_model *teacher;
    rk_tcache *cache;
    const rk_data *d;
    int64_t V;                /* student vocab */
    int64_t n_windows;        /* training grid */
    rk_kvcache *kv;           /* teacher, T positions */
    float *tlog;              /* [B·T, V] teacher logits (dense) */
    float *dbuf;              /* [B·T, V] KD gradient */
    int32_t *ids, *tok;       /* cache: [B·T·k], [T+1] */
    float *logp, *rest;       /* cache: [B·T·k], [B·T] */
    /* the micro-batches of the current step, as drawn by the batch hook */
    int64_t *win;             /* [cap_micro · B] window index per sequence */
    uint8_t *onp;             /* [cap_micro] on-policy flag */
    int64_t cap_micro, cur;   /* step hook: next micro-batch */
    /* on-policy sampler */
    rk_model *sampler;
    rk_kvcache *skv;
    int64_t sampler_step;
    float *slog;              /* [V] */
    char *opts_json;
    rk_loop_hooks hooks;
    rk_loop_figure last[3];
    int n_last;
};

static int nomem(rk_err *err) { return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory"); }

int rk_distill_teacher_logits(rk_model *teacher, rk_kvcache *kv, const int32_t *in, int64_t T, float *logits,
                              int64_t width, rk_err *err) {
    const int64_t Vt = rk_model_vocab(teacher);
    rk_kvcache_clear(kv);
    if (width == Vt) return rk_model_forward(teacher, kv, in, T, logits, err);
    float *tmp = malloc((size_t)(T * Vt) * sizeof(float));
    if (!tmp) return nomem(err);
    int rc = rk_model_forward(teacher, kv, in, T, tmp, err);
    if (!rc)
        for (int64_t i = 0; i < T; i++) {
            float *dst = logits + i * width;
            const int64_t c = Vt < width ? Vt : width;
            memcpy(dst, tmp + i * Vt, (size_t)c * sizeof(float));
            for (int64_t j = c; j < width; j++) dst[j] = -INFINITY;
        }
    free(tmp);
    return rc;
}

/* ---- batch hook: the window grid, and on-policy continuations --------------------------------------------------- */
static int refresh_sampler(rk_distill *x, rk_train *t, int64_t step, rk_err *err) {
    if (x->sampler && x->sampler_step == step) return 0;
    rk_kvcache_free(x->skv), x->skv = NULL;
    rk_model_free(x->sampler), x->sampler = NULL;
    if (mkdir(x->o.sampler_dir, 0755) != 0 && errno != EEXIST)
        return rk_err_file(err, RK_EIO, x->o.sampler_dir, UINT64_MAX, "cannot create the folder: %s", strerror(errno));
    int rc = rk_train_save(t, x->o.sampler_dir, RK_DTYPE_F32, err);
    if (!rc) rc = rk_model_load(&x->sampler, x->o.sampler_dir, err);
    if (!rc && !(x->skv = rk_kvcache_new(x->sampler, x->o.seq + 1, err))) rc = err->code ? err->code : RK_ENOMEM;
    if (rc) return rc;
    x->sampler_step = step;
    return 0;
}

/* window: inputs [T] (data), targets [T]; keeps in[0..P) and replaces the rest with the student's sample */
static int continue_window(rk_distill *x, rk_sampler *s, int32_t *in, int32_t *tg, int64_t T, int64_t P, rk_err *err) {
    const int64_t V = rk_model_vocab(x->sampler);
    rk_kvcache_clear(x->skv);
    int rc = rk_model_forward_last(x->sampler, x->skv, in, P, x->slog, err);
    for (int64_t j = P; j <= T && !rc; j++) {
        const int32_t next = rk_sampler_pick(s, x->slog, V);
        if (next < 0) return nomem(err);
        tg[j - 1] = next;
        if (j == T) break;
        in[j] = next;
        rc = rk_model_forward_last(x->sampler, x->skv, &next, 1, x->slog, err);
    }
    return rc;
}

static int batch_hook(void *user, rk_train *t, rk_rng *rng, int64_t step, int64_t micro, int64_t B, int64_t T,
                      int32_t *in, int32_t *tg, rk_err *err) {
    rk_distill *x = user;
    if (B != x->o.batch || T != x->o.seq) return rk_err_set(err, RK_EINVAL, UINT64_MAX, "distill: batch shape changed");
    if (micro >= x->cap_micro) {
        const int64_t cap = micro + 1;
        int64_t *w = realloc(x->win, (size_t)(cap * B) * sizeof *w);
        if (!w) return nomem(err);
        x->win = w;
        uint8_t *f = realloc(x->onp, (size_t)cap);
        if (!f) return nomem(err);
        x->onp = f, x->cap_micro = cap;
    }
    if (micro == 0) x->cur = 0;
    int rc = 0;
    for (int64_t b = 0; b < B && !rc; b++) {
        const int64_t i = (int64_t)rk_rng_below(rng, (uint64_t)x->n_windows);
        x->win[micro * B + b] = i;
        rc = rk_data_train_window(x->d, T, i, in + b * T, tg + b * T, err);
    }
    x->onp[micro] = 0;
    if (rc || !(x->o.on_policy > 0)) return rc;
    const double u = rk_rng_uniform(rng);
    const uint64_t seed = rk_rng_next(rng);
    if (u >= x->o.on_policy) return 0;
    x->onp[micro] = 1;
    if ((rc = refresh_sampler(x, t, step, err))) return rc;
    rk_sampler s;
    rk_sampler_init(&s, 1.0f, 0, 1.0f, seed);
    const int64_t P = x->o.prefix > 0 && x->o.prefix < T ? x->o.prefix : T / 2 > 0 ? T / 2 : 1;
    for (int64_t b = 0; b < B && !rc; b++) rc = continue_window(x, &s, in + b * T, tg + b * T, T, P, err);
    rk_sampler_free(&s);
    return rc;
}

/* ---- step hook: CE + KD ---------------------------------------------------------------------------------------- */
typedef struct loss_ctx {
    rk_distill *x;
    const int32_t *in, *tg;
    int64_t micro, B, T;
    float scale;
    rk_loop_terms *terms;
} loss_ctx;

/* teacher targets of the micro-batch's rows: dense (live) into x->tlog, or sparse (cache) into x->ids/logp/rest */
static int teacher_rows(rk_distill *x, const loss_ctx *c, int use_cache, rk_err *err) {
    const int64_t T = c->T, V = x->V;
    int rc = 0;
    for (int64_t b = 0; b < c->B && !rc; b++) {
        if (!use_cache) {
            rc = rk_distill_teacher_logits(x->teacher, x->kv, c->in + b * T, T, x->tlog + b * T * V, V, err);
            continue;
        }
        const rk_tcache_info *ci = rk_tcache_get_info(x->cache);
        const int64_t w = x->win[c->micro * c->B + b];
        rc = rk_tcache_read(x->cache, w, x->tok, x->ids + b * T * ci->k, x->logp + b * T * ci->k, x->rest + b * T, err);
        if (rc) break;
        /* the cache must hold this very window: same targets (the inputs may differ only by the BOS replacement) */
        if (memcmp(x->tok + 1, c->tg + b * T, (size_t)T * sizeof(int32_t)))
            rc = rk_err_set(err, RK_EINVAL, UINT64_MAX,
                            "the teacher cache's window %lld holds other tokens than the training text's: it was made "
                            "from another text, --seq or holdout split", (long long)w);
    }
    return rc;
}

static int loss_fn(void *user, float *logits, int64_t n, int64_t V, rk_err *err) {
    loss_ctx *c = user;
    rk_distill *x = c->x;
    const int onp = x->onp[c->micro];
    const double wce = onp ? 0.0 : x->o.alpha, wkd = onp ? 1.0 : 1.0 - x->o.alpha;
    double kd_sum = 0, ce_sum = 0;
    if (wkd > 0) {
        const int use_cache = x->cache && !onp;
        int rc = teacher_rows(x, c, use_cache, err);
        if (rc) return rc;
        memset(x->dbuf, 0, (size_t)(n * V) * sizeof(float));
        const float dl = (float)(wkd * c->scale * (double)n);
        double kd;
        if (use_cache) {
            const rk_tcache_info *ci = rk_tcache_get_info(x->cache);
            rk_kd_sparse sp = { ci->k, x->ids, x->logp, x->rest };
            const int64_t Vc = ci->vocab;
            if (Vc == V) {
                kd = rk_kd_loss_sparse_backward(x->dbuf, logits, &sp, n, V, &x->o.kd, dl);
            } else {   /* the student's ids past the teacher's vocabulary are outside the support (as live): gradient 0 */
                for (int64_t i = 0; i < n; i++) memcpy(x->tlog + i * Vc, logits + i * V, (size_t)Vc * sizeof(float));
                float *g = x->dbuf + n * (V - Vc);   /* the tail of dbuf holds the compact gradient */
                memset(g, 0, (size_t)(n * Vc) * sizeof(float));
                kd = rk_kd_loss_sparse_backward(g, x->tlog, &sp, n, Vc, &x->o.kd, dl);
                for (int64_t i = 0; i < n; i++) {   /* row i of g lies at or after row i of dbuf: copy forwards */
                    memmove(x->dbuf + i * V, g + i * Vc, (size_t)Vc * sizeof(float));
                    memset(x->dbuf + i * V + Vc, 0, (size_t)(V - Vc) * sizeof(float));
                }
            }
        } else {
            kd = rk_kd_loss_backward(x->dbuf, logits, x->tlog, n, V, &x->o.kd, dl);
        }
        if (!isfinite(kd)) return rk_err_set(err, RK_EINVAL, UINT64_MAX, "the distillation loss is not finite");
        kd_sum = kd * (double)n;
    }
    /* CE: the data's targets (also when its weight is 0, for the log); logits become wce·scale·dCE in place */
    ce_sum = rk_cross_entropy(logits, logits, c->tg, n, V, (float)(wce * c->scale));
    if (wkd > 0)
        for (int64_t i = 0; i < n * V; i++) logits[i] += x->dbuf[i];
    c->terms->ce_sum += onp ? 0.0 : ce_sum;
    c->terms->kd_sum += kd_sum;
    c->terms->loss_sum += wce * ce_sum + wkd * kd_sum;
    c->terms->rows += n;
    return 0;
}

static int step_hook(void *user, rk_train *t, const int32_t *in, const int32_t *tg, int64_t B, int64_t T, float scale,
                     float aux_scale, rk_loop_terms *terms, rk_train_result *res, rk_err *err) {
    rk_distill *x = user;
    if (x->cur >= x->cap_micro) return rk_err_set(err, RK_EINVAL, UINT64_MAX, "distill: step without its batch");
    loss_ctx c = { x, in, tg, x->cur++, B, T, scale, terms };
    return rk_train_step_fn(t, in, B, T, loss_fn, &c, aux_scale, res, err);
}

/* ---- eval hook: KLD, top-1, teacher perplexity on held-out windows -------------------------------------------- */
static int64_t argmax(const float *r, int64_t V) {
    int64_t a = 0;
    for (int64_t j = 1; j < V; j++)
        if (r[j] > r[a]) a = j;
    return a;
}

typedef struct eval_acc { rk_distill *x; double kld, tce; int64_t rows, agree; } eval_acc;

/* one held-out batch: the teacher on the same windows, KLD / top-1 / teacher CE against the student's logits */
static int eval_batch(void *user, const int32_t *in, const int32_t *tg, int64_t b, int64_t T, const float *slog, rk_err *err) {
    eval_acc *a = user;
    rk_distill *x = a->x;
    const int64_t V = x->V;
    const rk_kd_cfg kl = { RK_KD_FORWARD_KL, 1.0, 0.5 };
    for (int64_t i = 0; i < b; i++) {
        int rc = rk_distill_teacher_logits(x->teacher, x->kv, in + i * T, T, x->tlog + i * T * V, V, err);
        if (rc) return rc;
    }
    a->kld += rk_kd_loss(slog, x->tlog, b * T, V, &kl) * (double)(b * T);
    a->tce += rk_cross_entropy(NULL, x->tlog, tg, b * T, V, 1.0f);
    for (int64_t i = 0; i < b * T; i++) a->agree += argmax(slog + i * V, V) == argmax(x->tlog + i * V, V);
    a->rows += b * T;
    return 0;
}

/* the loop's held-out CE, with the teacher figures from the same student forward when a live teacher is present */
static int eval_hook(void *user, rk_train *t, int64_t step, double *mean_ce, int64_t *n_ce, rk_loop_figure *figs,
                     int *n_figs, rk_err *err) {
    (void)step;
    rk_distill *x = user;
    eval_acc a = { x, 0, 0, 0, 0 };
    *n_figs = 0;
    int rc = rk_loop_eval_each(t, x->d, x->o.batch, x->o.seq, x->o.eval_windows, x->teacher ? eval_batch : NULL, &a,
                               mean_ce, n_ce, err);
    if (rc || !a.rows) return rc;
    figs[0] = (rk_loop_figure){ "kld", a.kld / (double)a.rows };
    figs[1] = (rk_loop_figure){ "top1", (double)a.agree / (double)a.rows };
    figs[2] = (rk_loop_figure){ "teacher_ppl", exp(a.tce / (double)a.rows) };
    *n_figs = 3;
    memcpy(x->last, figs, sizeof x->last);
    x->n_last = 3;
    return 0;
}

int rk_distill_last_eval(const rk_distill *x, rk_loop_figure *figs, int *n_figs) {
    memcpy(figs, x->last, sizeof x->last);
    *n_figs = x->n_last;
    return 0;
}

/* ---- setup ----------------------------------------------------------------------------------------------------- */
static const char *kd_name(int kind) {
    return kind == RK_KD_FORWARD_KL ? "forward_kl" : kind == RK_KD_REVERSE_KL ? "reverse_kl" : "jsd";
}

int rk_distill_new(rk_distill **out, rk_model *teacher, rk_tcache *cache, const rk_data *d, int64_t student_vocab,
                   const rk_distill_opts *o, rk_err *err) {
    *out = NULL;
    if (!d || !o || o->batch <= 0 || o->seq <= 0 || !(o->alpha >= 0 && o->alpha <= 1) ||
        !(o->on_policy >= 0 && o->on_policy <= 1) || student_vocab <= 0)
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "distill: invalid options");
    if (o->alpha < 1 && !rk_kd_cfg_valid(&o->kd))
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "distill: invalid divergence settings (temperature %g, beta %g)",
                          o->kd.temperature, o->kd.beta);
    if (o->alpha < 1 && !teacher && !cache)
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "distill: alpha < 1 needs a teacher or a teacher cache");
    if (o->on_policy > 0 && (!teacher || !o->sampler_dir))
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "distill: on-policy batches need a live teacher (--teacher) to score them");
    if (cache) {
        const rk_tcache_info *ci = rk_tcache_get_info(cache);
        if (ci->T != o->seq)
            return rk_err_set(err, RK_EINVAL, UINT64_MAX, "the teacher cache was made with --seq %lld, not %lld",
                              (long long)ci->T, (long long)o->seq);
        if (ci->n_windows != rk_data_train_windows(d, o->seq))
            return rk_err_set(err, RK_EINVAL, UINT64_MAX,
                              "the teacher cache holds %lld windows, the training text has %lld: it was made from another text",
                              (long long)ci->n_windows, (long long)rk_data_train_windows(d, o->seq));
        if (ci->vocab > student_vocab)
            return rk_err_set(err, RK_EINVAL, UINT64_MAX, "the teacher cache's vocabulary (%lld) is larger than the student's (%lld)",
                              (long long)ci->vocab, (long long)student_vocab);
    }
    rk_distill *x = calloc(1, sizeof *x);
    if (!x) return nomem(err);
    x->o = *o, x->teacher = teacher, x->cache = cache, x->d = d, x->V = student_vocab, x->sampler_step = -1;
    x->n_windows = rk_data_train_windows(d, o->seq);
    int rc = 0;
    const int64_t N = o->batch * o->seq, V = student_vocab;
    if (x->n_windows <= 0) {
        rc = rk_err_set(err, RK_EINVAL, UINT64_MAX, "the training text has no window of --seq + 1 = %lld tokens",
                        (long long)o->seq + 1);
        goto fail;
    }
    if (!(x->tlog = malloc((size_t)(N * V) * sizeof(float))) || !(x->dbuf = malloc((size_t)(N * V) * sizeof(float))) ||
        !(x->slog = malloc((size_t)V * sizeof(float)))) { rc = nomem(err); goto fail; }
    if (teacher && !(x->kv = rk_kvcache_new(teacher, o->seq, err))) { rc = err->code ? err->code : RK_ENOMEM; goto fail; }
    if (cache) {
        const int64_t k = rk_tcache_get_info(cache)->k;
        if (!(x->ids = malloc((size_t)(N * k + 1) * sizeof(int32_t))) || !(x->logp = malloc((size_t)(N * k + 1) * sizeof(float))) ||
            !(x->rest = malloc((size_t)N * sizeof(float))) || !(x->tok = malloc((size_t)(o->seq + 1) * sizeof(int32_t)))) {
            rc = nomem(err);
            goto fail;
        }
    }
    {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddNumberToObject(j, "alpha", o->alpha);
        cJSON_AddStringToObject(j, "divergence", kd_name(o->kd.kind));
        cJSON_AddNumberToObject(j, "temperature", o->kd.temperature);
        cJSON_AddNumberToObject(j, "beta", o->kd.beta);
        cJSON_AddNumberToObject(j, "on_policy", o->on_policy);
        cJSON_AddNumberToObject(j, "prefix", (double)o->prefix);
        cJSON_AddStringToObject(j, "teacher", o->teacher_id ? o->teacher_id : "");
        cJSON_AddNumberToObject(j, "cache_k", cache ? (double)rk_tcache_get_info(cache)->k : 0);
        x->opts_json = cJSON_PrintUnformatted(j);
        cJSON_Delete(j);
        if (!x->opts_json) { rc = nomem(err); goto fail; }
    }
    x->hooks = (rk_loop_hooks){ x, batch_hook, step_hook, eval_hook, x->opts_json };
    *out = x;
    return 0;
fail:
    rk_distill_free(x);
    return rc;
}

void rk_distill_free(rk_distill *x) {
    if (!x) return;
    rk_kvcache_free(x->kv);
    rk_kvcache_free(x->skv);
    rk_model_free(x->sampler);
    free(x->tlog), free(x->dbuf), free(x->slog), free(x->ids), free(x->logp), free(x->rest), free(x->tok);
    free(x->win), free(x->onp), free(x->opts_json);
    free(x);
}

const rk_loop_hooks *rk_distill_hooks(rk_distill *x) { return &x->hooks; }

/* ---- sequence-level data: teacher completions of prompts ---------------------------------------------------- */
static void unescape_nl(char *s) {
    char *w = s;
    for (const char *r = s; *r; r++) {
        if (r[0] == '\\' && r[1] == 'n') *w++ = '\n', r++;
        else *w++ = *r;
    }
    *w = 0;
}

int rk_distill_generate(rk_model *teacher, const rk_tokenizer *tok, const char *prompts_path, const char *out_path,
                        const rk_distill_gen_opts *o, int64_t *n_samples, int64_t *n_tokens, rk_err *err) {
    *n_samples = *n_tokens = 0;
    char *text = NULL, *outbuf = NULL, *piece = NULL;
    uint64_t len = 0;
    size_t olen = 0, ocap = 0;
    int32_t *ids = NULL;
    float *logits = NULL;
    rk_kvcache *kv = NULL;
    rk_sampler s = { 0 };
    int rc = rk_read_file(prompts_path, (uint64_t)1 << 30, &text, &len, err);
    if (rc) return rc;
    const int64_t V = rk_model_vocab(teacher), cap = o->max_tokens + 4096;
    const int32_t eos = rk_tokenizer_eos_id(tok);
    if (!(logits = malloc((size_t)V * sizeof(float))) || !(kv = rk_kvcache_new(teacher, cap, err))) {
        rc = kv ? nomem(err) : (err->code ? err->code : RK_ENOMEM);
        goto done;
    }
    int64_t line_no = 0;
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        line_no++;
        unescape_nl(line);
        if (!*line || strspn(line, " \t\r") == strlen(line)) continue;
        size_t n = 0;
        free(ids), ids = NULL;
        if ((rc = rk_tokenizer_encode(tok, line, strlen(line), 1, &ids, &n, err))) {
            rk_err_file(err, rc, prompts_path, UINT64_MAX, "line %lld: %s", (long long)line_no, err->msg);
            goto done;
        }
        if (n == 0) continue;
        if ((int64_t)n + o->max_tokens > cap) {
            rc = rk_err_file(err, RK_EINVAL, prompts_path, UINT64_MAX, "line %lld: the prompt has %zu tokens, more than 4096",
                             (long long)line_no, n);
            goto done;
        }
        int32_t *gen = realloc(ids, (n + (size_t)o->max_tokens) * sizeof(int32_t));
        if (!gen) { rc = nomem(err); goto done; }
        ids = gen;
        rk_sampler_free(&s);
        rk_sampler_init(&s, o->temperature, 0, o->top_p, o->seed + (uint64_t)line_no);
        rk_kvcache_clear(kv);
        size_t m = n;
        rc = rk_model_forward_last(teacher, kv, ids, (int64_t)n, logits, err);
        for (int64_t g = 0; g < o->max_tokens && !rc; g++) {
            const int32_t t = rk_sampler_pick(&s, logits, V);
            if (t < 0) { rc = nomem(err); break; }
            if (t == eos) break;
            ids[m++] = t;
            if (g + 1 < o->max_tokens) rc = rk_model_forward_last(teacher, kv, &t, 1, logits, err);
        }
        if (rc) goto done;
        size_t plen = 0;
        free(piece), piece = NULL;
        if ((rc = rk_tokenizer_decode(tok, ids, m, 1, &piece, &plen, err))) goto done;
        if (olen + plen + 3 > ocap) {
            ocap = (olen + plen + 3) * 2;
            char *nb = realloc(outbuf, ocap);
            if (!nb) { rc = nomem(err); goto done; }
            outbuf = nb;
        }
        memcpy(outbuf + olen, piece, plen);
        olen += plen;
        memcpy(outbuf + olen, "\n\n", 2);
        olen += 2;
        *n_samples += 1, *n_tokens += (int64_t)(m - n);
    }
    if (!*n_samples) {
        rc = rk_err_file(err, RK_EINVAL, prompts_path, UINT64_MAX, "no prompts (every line is empty)");
        goto done;
    }
    rc = rk_write_file_atomic(out_path, outbuf, olen, err);
done:
    rk_sampler_free(&s);
    rk_kvcache_free(kv);
    free(text), free(outbuf), free(piece), free(ids), free(logits);
    return rc;
}

/* ---- teacher cache of the training grid -------------------------------------------------------------------- */
int rk_distill_save_teacher(rk_model *teacher, const rk_tokenizer *tok, const rk_data *d, int64_t T, int64_t k,
                            int32_t first_token, const char *path, void (*progress)(void *, int64_t, int64_t),
                            void *user, rk_err *err) {
    const int64_t nw = rk_data_train_windows(d, T), V = rk_model_vocab(teacher);
    if (nw <= 0)
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "the training text has no window of --seq + 1 = %lld tokens", (long long)T + 1);
    rk_tcache_info info = { T, nw, V, k < V ? k : V, first_token, rk_verify_tokenizer_fingerprint(tok),
                            rk_tokenizer_vocab_size(tok) };
    int32_t *in = malloc((size_t)(T + 1) * sizeof(int32_t)), *tg = malloc((size_t)T * sizeof(int32_t));
    float *logits = malloc((size_t)(T * V) * sizeof(float));
    rk_kvcache *kv = NULL;
    rk_tcache_writer *w = NULL;
    int rc = 0;
    if (!in || !tg || !logits) { rc = nomem(err); goto done; }
    if (!(kv = rk_kvcache_new(teacher, T, err))) { rc = err->code ? err->code : RK_ENOMEM; goto done; }
    if ((rc = rk_tcache_create(&w, path, &info, err))) goto done;
    for (int64_t i = 0; i < nw && !rc; i++) {
        if ((rc = rk_data_train_window(d, T, i, in, tg, err))) break;
        if ((rc = rk_distill_teacher_logits(teacher, kv, in, T, logits, V, err))) break;
        in[T] = tg[T - 1];
        /* the record's tokens: inputs as fed (BOS first) and the last target */
        rc = rk_tcache_put(w, in, logits, err);
        if (progress) progress(user, i + 1, nw);
    }
    if (!rc) rc = rk_tcache_finish(w, err), w = NULL;
done:
    rk_tcache_abort(w);
    rk_kvcache_free(kv);
    free(in), free(tg), free(logits);
    return rc;
}

/* ---- sizes ----------------------------------------------------------------------------------------------------- */
int64_t rk_distill_active_params(const rk_hf_config *c) {
    const int64_t D = c->hidden_size, H = c->num_attention_heads;
    int64_t n = c->vocab_size * D;   /* output head */
    for (int64_t il = 0; il < c->num_hidden_layers; il++) {
        if (c->arch == RK_HF_ARCH_DEEPSEEK2) {
            const int64_t dq = c->qk_nope_head_dim + c->qk_rope_head_dim;
            n += c->q_lora_rank > 0 ? D * c->q_lora_rank + c->q_lora_rank * H * dq : D * H * dq;
            n += D * (c->kv_lora_rank + c->qk_rope_head_dim) + c->kv_lora_rank * H * (c->qk_nope_head_dim + c->v_head_dim);
            n += H * c->v_head_dim * D;
            if (c->n_routed_experts > 0 && il >= c->first_k_dense_replace)
                n += 3 * D * c->moe_intermediate_size * (c->n_shared_experts + c->num_experts_per_tok) + D * c->n_routed_experts;
            else
                n += 3 * D * c->intermediate_size;
        } else {
            const int64_t hd = c->head_dim, kv = c->num_key_value_heads;
            n += D * H * hd + 2 * D * kv * hd + H * hd * D + 3 * D * c->intermediate_size;
        }
    }
    return n;
}

/* ---- student presets ------------------------------------------------------------------------------------------- */
const char *const rk_distill_presets[] = { "qwen2-small", "qwen2-tiny", "llama-small", "llama-tiny", NULL };

char *rk_distill_preset_config(const char *name, const rk_hf_config *tc, rk_err *err) {
    int qwen, div;
    if (!strcmp(name, "qwen2-small")) qwen = 1, div = 2;
    else if (!strcmp(name, "qwen2-tiny")) qwen = 1, div = 4;
    else if (!strcmp(name, "llama-small")) qwen = 0, div = 2;
    else if (!strcmp(name, "llama-tiny")) qwen = 0, div = 4;
    else {
        rk_err_set(err, RK_EINVAL, UINT64_MAX,
                   "unknown student preset '%s' (presets: qwen2-small, qwen2-tiny, llama-small, llama-tiny; or a config.json)", name);
        return NULL;
    }
    int64_t D = tc->hidden_size / div / 32 * 32;
    if (D < 32) D = 32;
    const int64_t heads = D / 32, kv = heads >= 2 ? heads / 2 : 1;
    cJSON *j = cJSON_CreateObject();
    cJSON *arch = cJSON_AddArrayToObject(j, "architectures");
    cJSON_AddItemToArray(arch, cJSON_CreateString(qwen ? "Qwen2ForCausalLM" : "LlamaForCausalLM"));
    cJSON_AddStringToObject(j, "model_type", qwen ? "qwen2" : "llama");
    cJSON_AddNumberToObject(j, "vocab_size", (double)tc->vocab_size);
    cJSON_AddNumberToObject(j, "hidden_size", (double)D);
    cJSON_AddNumberToObject(j, "intermediate_size", (double)(3 * D));
    cJSON_AddNumberToObject(j, "num_hidden_layers", 2);
    cJSON_AddNumberToObject(j, "num_attention_heads", (double)heads);
    cJSON_AddNumberToObject(j, "num_key_value_heads", (double)kv);
    cJSON_AddNumberToObject(j, "head_dim", 32);
    cJSON_AddStringToObject(j, "hidden_act", "silu");
    cJSON_AddNumberToObject(j, "max_position_embeddings", (double)(tc->max_position_embeddings > 0 ? tc->max_position_embeddings : 4096));
    cJSON_AddNumberToObject(j, "initializer_range", 0.02);
    cJSON_AddNumberToObject(j, "rms_norm_eps", 1e-6);
    if (tc->bos_token_id >= 0) cJSON_AddNumberToObject(j, "bos_token_id", (double)tc->bos_token_id);
    if (tc->n_eos > 0 && tc->eos_token_ids[0] >= 0) cJSON_AddNumberToObject(j, "eos_token_id", (double)tc->eos_token_ids[0]);
    cJSON_AddBoolToObject(j, "tie_word_embeddings", qwen);
    cJSON_AddStringToObject(j, "torch_dtype", "float32");
    cJSON_AddBoolToObject(j, "use_cache", 1);
    if (qwen) {
        cJSON_AddNumberToObject(j, "rope_theta", 10000.0);
        cJSON_AddBoolToObject(j, "use_sliding_window", 0);
        cJSON_AddNumberToObject(j, "max_window_layers", 2);
        cJSON_AddNumberToObject(j, "attention_dropout", 0.0);
    } else {
        cJSON_AddNumberToObject(j, "rope_theta", 500000.0);
        cJSON_AddBoolToObject(j, "attention_bias", 0);
        cJSON_AddBoolToObject(j, "mlp_bias", 0);
        rk_sample_add_llama3_rope(j);
    }
    char *txt = cJSON_Print(j);
    cJSON_Delete(j);
    if (!txt) nomem(err);
    return txt;
}
