/* verify/compare.h — how far a CANDIDATE model (e.g. a quantized GGUF) is from a BASE model on a text, with the
 * figures and formulas of llama.cpp's `llama-perplexity --kl-divergence` (tools/perplexity/perplexity.cpp), so
 * r1kit's numbers and llama.cpp's can be read side by side.
 *
 * Chunking is rk_perplexity's (= llama-perplexity's): n_chunk = min(K, n_tokens / n_ctx) chunks of n_ctx tokens,
 * each run from an empty cache with its first token replaced by BOS when the tokenizer adds one; positions
 * n_ctx/2 .. n_ctx-2 are scored (each predicts the next token), n_ctx-1-n_ctx/2 tokens per chunk.
 *
 * Per scored token, with p = base and q = candidate distributions (log-softmax of the logits):
 *   nll = -log q(target), nll_base = -log p(target), KLD = sum_i p_i (log p_i - log q_i),
 *   dp = q(target) - p(target), same_top = (argmax q == argmax p; ties go to the lowest id).
 * Aggregates (rk_verify_stats_from_sums), as llama.cpp prints them:
 *   mean/err of x over n tokens: mean = S/n, err = sqrt((S2/n - mean^2) / (n-1)), err = 0 when n <= 10;
 *   PPL = exp(mean nll), err = PPL * err(nll); cov = (S_ab/n - mean_a mean_b) / (n-1) (0 when n < 10);
 *   Cor = cov / (err_a err_b); ln ratio = mean nll - mean nll_base, err = sqrt(err_a^2 + err_b^2 - 2 cov);
 *   ratio = exp(ln ratio), err = ratio * err(ln ratio); PPL diff err = sqrt(ea^2 + eb^2 - 2 PPL PPL_base cov);
 *   RMS dp = sqrt(mean dp^2), err = err(dp^2) / (2 RMS); same top = k/n, err = sqrt(f (1-f) / (n-1)).
 *   Percentiles of the per-token KLD and dp values are llama.cpp's: linear interpolation at fraction*(n-1) of the
 *   sorted values (in float), the median the mean of the two middle values for even n (rk_verify_percentile).
 * Deliberate differences from llama.cpp (all below its printed precision on real runs; docs/verify.md):
 *   - the base log-probabilities are used in float, not stored as uint16 steps of (max-min)/65535 over the top
 *     16 nats, and tokens with log p < -16 are not dropped from the KLD sum;
 *   - per-token values are computed in double; sums run in token order (results do not depend on threads);
 *   - an error that would be sqrt(negative rounding noise) is 0 (llama.cpp prints nan), Cor is NaN when an
 *     error is 0.
 *
 * The base side is a callback that fills one chunk's rows (rk_verify_base_fn), so a stored base (e.g. top-k
 * log-probs saved once from a model too big to run next to the candidate) can replace the live model:
 * rk_verify_compare runs a live BASE model, rk_verify_run takes any source. Memory: one chunk of base
 * log-probs (n_ctx/2 x vocab floats), one batch of candidate logits, two KV caches, and 2 floats per scored
 * token (the KLD and dp values kept for the percentiles, as llama.cpp keeps them). */
#ifndef RK_VERIFY_COMPARE_H
#define RK_VERIFY_COMPARE_H
#include <stdint.h>
#include "formats/common.h"
#include "model/model.h"

/* ---- per token --------------------------------------------------------------------------------------------- */

/* What the base model says about one scored position. Dense: ids == NULL and logprob[i] is log p(token i) for
 * all n == vocab tokens. Sparse (a stored top-k): ids[0..n) are distinct token ids and logprob their log p; the
 * mass outside them is one "rest" bucket in the KLD (sum over the subset + P_rest log(P_rest / Q_rest), a lower
 * bound of the full KLD, exact when the rest is empty). nll and top are given separately because the target may
 * lie outside a top-k subset. */
typedef struct rk_verify_row {
    int64_t n;
    const int32_t *ids;      /* NULL: dense */
    const float *logprob;    /* [n], natural log; -INFINITY = p 0 (left out of the KLD) */
    double nll;              /* -log p(target) */
    int32_t top;             /* argmax of p (lowest id on ties) */
    int has_rest;            /* sparse rows: 1 = `rest` is the mass outside ids (computed from the full row when it
                                was stored), 0 = take 1 - sum p over the subset */
    double rest;             /* P_rest in [0, 1] when has_rest */
} rk_verify_row;

/* Figures of one scored token (rk_verify_token). */
typedef struct rk_verify_tok {
    double nll, nll_base;    /* -log q(target), -log p(target) */
    double kld;              /* KLD(p || q) */
    double dp;               /* q(target) - p(target) */
    int32_t top, top_base;   /* argmax q, argmax p */
} rk_verify_tok;

/* Dense base row from logits [vocab]: logprob_buf[vocab] receives the log-softmax (float), row points into it.
 * RK_EINVAL for target outside [0, vocab), RK_ECORRUPT for non-finite logits. */
int rk_verify_row_from_logits(rk_verify_row *row, float *logprob_buf, const float *logits, int64_t vocab,
                              int32_t target, rk_err *err);
/* The candidate's logits [vocab] against a base row. RK_EINVAL: target or a sparse id outside [0, vocab), dense
 * row of another size; RK_ECORRUPT: non-finite logits (a NaN in the model). */
int rk_verify_token(const rk_verify_row *base, const float *cand_logits, int64_t vocab, int32_t target,
                    rk_verify_tok *out, rk_err *err);

/* ---- aggregates -------------------------------------------------------------------------------------------- */

typedef struct rk_verify_sums {          /* running sums over tokens, in token order */
    int64_t count, same_top;
    double nll, nll2, nll_base, nll_base2, nll_nll_base;
    double kld, kld2, dp, dp2, dp4;
    double kld_max, dp_absmax;
} rk_verify_sums;
void rk_verify_sums_add(rk_verify_sums *s, const rk_verify_tok *t);

typedef struct rk_verify_stats {         /* fractions, not percent; *_err = standard errors (llama.cpp's "±") */
    int64_t count;
    double ppl, ppl_err;                 /* PPL(Q), the candidate */
    double ppl_base, ppl_base_err;       /* PPL(base) */
    double cor;                          /* Cor(ln(PPL(Q)), ln(PPL(base))) in [-1, 1] */
    double ln_ratio, ln_ratio_err;       /* mean ln(PPL(Q)/PPL(base)) */
    double ratio, ratio_err;             /* PPL(Q)/PPL(base) */
    double diff, diff_err;               /* PPL(Q)-PPL(base) */
    double kld, kld_err, kld_max;        /* mean KLD */
    double dp, dp_err, dp_absmax;        /* mean dp, max |dp| */
    double dp_rms, dp_rms_err;           /* RMS dp */
    double same_top, same_top_err;       /* share of tokens whose argmax agrees */
} rk_verify_stats;
void rk_verify_stats_from_sums(const rk_verify_sums *s, rk_verify_stats *out);

/* llama.cpp's percentile of sorted values [n] (n >= 1): fraction <= 0 the first, >= 1 the last, else linear
 * interpolation at fraction*(n-1), computed in float as llama.cpp does. rk_verify_median: mean of the two middle
 * values for even n. */
double rk_verify_percentile(const float *sorted, int64_t n, float fraction);
double rk_verify_median(const float *sorted, int64_t n);

/* The percentiles llama.cpp prints, top down (1 = maximum, 0.5 = median, 0 = minimum). */
enum { RK_VERIFY_N_KLD_PCT = 11, RK_VERIFY_N_DP_PCT = 13 };
extern const float rk_verify_kld_pct[RK_VERIFY_N_KLD_PCT];   /* 1 .999 .99 .95 .9 .5 .1 .05 .01 .001 0 */
extern const float rk_verify_dp_pct[RK_VERIFY_N_DP_PCT];     /* 1 .999 .99 .95 .9 .75 .5 .25 .1 .05 .01 .001 0 */

/* ---- a whole run ------------------------------------------------------------------------------------------- */

typedef struct rk_verify_result {
    int64_t n_ctx, n_chunks, per_chunk;  /* per_chunk = scored tokens per chunk (n_ctx - 1 - n_ctx/2) */
    int64_t n_tokens;                    /* tokens in the text */
    rk_verify_sums sums;                 /* all scored tokens */
    rk_verify_stats total;               /* from sums (rk_verify_finish) */
    rk_verify_stats *chunk;              /* [n_chunks]: each chunk alone */
    float *kld_values, *dp_values;       /* [sums.count] per scored token, in text order */
    double kld_pct[RK_VERIFY_N_KLD_PCT]; /* at rk_verify_kld_pct */
    double dp_pct[RK_VERIFY_N_DP_PCT];   /* at rk_verify_dp_pct */
    double seconds;
    /* accumulation state */
    rk_verify_sums cur;                  /* the chunk being accumulated */
    int64_t chunks_done;
} rk_verify_result;

/* Accumulation by hand (what rk_verify_run does): begin, then per chunk add() its per_chunk tokens and
 * end_chunk(), then finish(). add fails with RK_EINVAL beyond n_chunks * per_chunk tokens. */
int  rk_verify_begin(rk_verify_result *r, int64_t n_chunks, int64_t per_chunk, rk_err *err);
int  rk_verify_add(rk_verify_result *r, const rk_verify_tok *t, rk_err *err);
void rk_verify_end_chunk(rk_verify_result *r);
int  rk_verify_finish(rk_verify_result *r, rk_err *err);   /* totals and percentiles (needs >= 1 token) */
void rk_verify_result_free(rk_verify_result *r);            /* NULL ok; frees the arrays */

typedef struct rk_verify_opts {
    int64_t n_ctx;        /* tokens per chunk (llama.cpp default 512) */
    int64_t n_chunks;     /* < 0: all */
    int64_t n_batch;      /* tokens per forward call (<= 0: n_ctx) */
    int32_t bos;          /* replaces each chunk's first token when >= 0 */
} rk_verify_opts;

/* Fills rows[0..per_chunk) for chunk `chunk`, whose evaluated tokens (BOS applied) are in[0..n_ctx) and whose
 * targets are targets[0..per_chunk) (targets[j] follows position n_ctx/2 + j). Rows may point into memory the
 * source owns; they must stay valid until the next call. Returns 0 or an RK_E* code with err filled. */
typedef int (*rk_verify_base_fn)(void *base_user, int64_t chunk, const int32_t *in, int64_t n_ctx,
                                 const int32_t *targets, int64_t per_chunk, rk_verify_row *rows, rk_err *err);

typedef struct rk_verify_chunk_info {
    int64_t index, n_chunks;
    const rk_verify_stats *chunk;        /* this chunk alone */
    const rk_verify_stats *running;      /* all chunks so far (what llama.cpp prints per chunk) */
    double seconds;                      /* wall time of this chunk (base + candidate) */
} rk_verify_chunk_info;
typedef void (*rk_verify_progress)(void *user, const rk_verify_chunk_info *c);

/* Candidate model against any base source (tokens: at least one chunk). res is filled (and finished) on success,
 * left freed on error. */
int rk_verify_run(rk_model *cand, const int32_t *tokens, int64_t n_tokens, const rk_verify_opts *o,
                  rk_verify_base_fn base_fn, void *base_user, rk_verify_progress progress, void *user,
                  rk_verify_result *res, rk_err *err);
/* A live BASE model as a base source (what rk_verify_compare uses): dense rows, valid until the next call. */
typedef struct rk_verify_live rk_verify_live;
int  rk_verify_live_open(rk_verify_live **out, rk_model *base, const rk_verify_opts *o, rk_err *err);
void rk_verify_live_close(rk_verify_live *b);                              /* NULL ok */
int  rk_verify_live_rows(void *base_user, int64_t chunk, const int32_t *in, int64_t n_ctx, const int32_t *targets,
                         int64_t per_chunk, rk_verify_row *rows, rk_err *err);   /* an rk_verify_base_fn */
/* Live BASE model against the candidate (both must have the same vocabulary size; checking that they share a
 * tokenizer is the caller's job). The text needs 2 x n_ctx tokens, as in llama-perplexity. */
int rk_verify_compare(rk_model *base, rk_model *cand, const int32_t *tokens, int64_t n_tokens, const rk_verify_opts *o,
                      rk_verify_progress progress, void *user, rk_verify_result *res, rk_err *err);
/* ---- the release gate -----------------------------------------------------------------------------------
 * Thresholds on the totals; NAN = criterion not set. ppl_ratio: PPL(Q)/PPL(base) must be <= max_ppl_ratio;
 * kld: mean KLD <= max_kld; top1: "same top p" in PERCENT (as printed) >= min_top1. A criterion passes on
 * equality. rk_verify_gate_parse reads the JSON form {"max_ppl_ratio": 1.01, "max_kld": 0.03, "min_top1": 90}:
 * an object of those keys only, numbers in range (ratio > 0, kld >= 0, top1 in [0, 100]); anything else is
 * RK_EINVAL naming the file and the key. */
typedef struct rk_verify_gate { double max_ppl_ratio, max_kld, min_top1; } rk_verify_gate;
enum { RK_VERIFY_GATE_N = 3 };
typedef struct rk_verify_gate_item {
    const char *key;         /* "max_ppl_ratio", "max_kld", "min_top1" */
    const char *figure;      /* "PPL ratio", "mean KLD", "same top p" */
    int set, pass;
    double value, threshold; /* top1 in percent */
    char line[128];          /* "FAIL mean KLD 0.031200 > 0.030000" / "ok   mean KLD 0.012000 <= 0.030000" */
} rk_verify_gate_item;
typedef struct rk_verify_gate_result {
    int n_set, n_failed;     /* pass = n_failed == 0 */
    rk_verify_gate_item item[RK_VERIFY_GATE_N];
} rk_verify_gate_result;
void rk_verify_gate_init(rk_verify_gate *g);                   /* all NAN */
int  rk_verify_gate_parse(rk_verify_gate *g, const char *json, size_t len, const char *path, rk_err *err);
void rk_verify_gate_eval(const rk_verify_gate *g, const rk_verify_stats *total, rk_verify_gate_result *out);

/* ---- llama.cpp base files --------------------------------------------------------------------------------
 * The file `llama-perplexity -f TEXT --kl-divergence-base FILE` writes: "_logits_", u32 n_ctx, i32 n_vocab,
 * i32 n_chunk, i32 tokens[n_ctx * n_chunk] (the text's tokens, before the BOS replacement), then per chunk
 * n_ctx-1-n_ctx/2 rows of nv = 2*((n_vocab+1)/2)+4 uint16: f32 scale and f32 min_log_prob (4 uint16), then
 * n_vocab steps q with log p = scale*q + min_log_prob (little-endian). As llama.cpp reads them: nll and top come
 * from these values, and entries with log p <= -16 (below the 16-nat window the file keeps) leave the KLD sum.
 * Every size is checked against the file length before anything is allocated. */
typedef struct rk_verify_llama_base rk_verify_llama_base;
int  rk_verify_llama_base_open(rk_verify_llama_base **out, const char *path, rk_err *err);
void rk_verify_llama_base_close(rk_verify_llama_base *b);                  /* NULL ok */
int64_t rk_verify_llama_base_ctx(const rk_verify_llama_base *b);
int64_t rk_verify_llama_base_vocab(const rk_verify_llama_base *b);
int64_t rk_verify_llama_base_chunks(const rk_verify_llama_base *b);
const int32_t *rk_verify_llama_base_tokens(const rk_verify_llama_base *b);  /* [ctx * chunks] */
/* An rk_verify_base_fn; base_user is the open rk_verify_llama_base. */
int rk_verify_llama_base_rows(void *base_user, int64_t chunk, const int32_t *in, int64_t n_ctx, const int32_t *targets,
                              int64_t per_chunk, rk_verify_row *rows, rk_err *err);
#endif
