/* model/perplexity.h — perplexity the way llama.cpp's llama-perplexity computes it, so our numbers and theirs
 * can be compared directly: the token stream is cut into n_ctx-token chunks (n_chunk = min(K, n_tokens / n_ctx)),
 * each evaluated from an empty cache with its first token replaced by BOS when the tokenizer adds one; only the
 * second half of each chunk is scored (positions first = n_ctx/2 .. n_ctx-2 predict the next token, n_ctx-1-first
 * per chunk); PPL = exp(mean NLL) and its error is PPL * sqrt(var(NLL) / (count-1)), as llama.cpp prints it. */
#ifndef RK_MODEL_PERPLEXITY_H
#define RK_MODEL_PERPLEXITY_H
#include <stdint.h>
#include "formats/common.h"
#include "model/model.h"

typedef struct rk_ppl_opts {
    int64_t n_ctx;        /* tokens per chunk (llama.cpp default 512) */
    int64_t n_chunks;     /* < 0: all */
    int64_t n_batch;      /* tokens per forward call (<= 0: n_ctx) */
    int32_t bos;          /* replaces each chunk's first token when >= 0 */
} rk_ppl_opts;

typedef struct rk_ppl_chunk {
    int64_t index, n_chunks;
    double chunk_ppl;     /* this chunk alone */
    double running_ppl;   /* all chunks so far (what llama.cpp prints as [i]x.xxxx) */
    double seconds;       /* wall time of this chunk */
} rk_ppl_chunk;
typedef void (*rk_ppl_progress)(void *user, const rk_ppl_chunk *c);
/* Called for every scored position with the full logits row (used by verify's KLD and its base files). */
typedef int (*rk_ppl_row_fn)(void *user, int64_t chunk, int64_t pos, const float *logits, int64_t vocab, int32_t target);

typedef struct rk_ppl_result {
    double ppl, ppl_err;  /* exp(mean nll), ppl * sqrt(var/(count-1)) */
    double nll_mean, nll_std_err;
    int64_t count, n_chunks, n_tokens;
    double *chunk_ppl;    /* [n_chunks], malloc'd; free with rk_ppl_result_free */
    double seconds;
} rk_ppl_result;

int  rk_perplexity(rk_model *m, const int32_t *tokens, int64_t n_tokens, const rk_ppl_opts *o, rk_ppl_progress progress,
                   rk_ppl_row_fn row_fn, void *user, rk_ppl_result *res, rk_err *err);
void rk_ppl_result_free(rk_ppl_result *r);
#endif
