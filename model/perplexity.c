/* model/perplexity.c — see perplexity.h. Sums are in double, in token order, so the result does not depend on
 * the thread count. */
#define _GNU_SOURCE
#include "model/perplexity.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/kernels.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void rk_ppl_result_free(rk_ppl_result *r) {
    if (!r) return;
    free(r->chunk_ppl);
    r->chunk_ppl = NULL;
}

int rk_perplexity(rk_model *m, const int32_t *tokens, int64_t n_tokens, const rk_ppl_opts *o, rk_ppl_progress progress,
                  rk_ppl_row_fn row_fn, void *user, rk_ppl_result *res, rk_err *err) {
    memset(res, 0, sizeof *res);
    const int64_t n_ctx = o->n_ctx, vocab = rk_model_vocab(m);
    if (n_ctx < 4) return rk_err_set(err, RK_EINVAL, UINT64_MAX, "context of %lld tokens is too small (at least 4)", (long long)n_ctx);
    if (n_tokens < 2 * n_ctx)
        return rk_err_set(err, RK_EINVAL, UINT64_MAX,
                          "the text tokenizes to %lld tokens; a context of %lld needs at least %lld (2 x ctx)",
                          (long long)n_tokens, (long long)n_ctx, (long long)(2 * n_ctx));
    int64_t n_chunk = n_tokens / n_ctx;
    if (o->n_chunks >= 0 && o->n_chunks < n_chunk) n_chunk = o->n_chunks;
    if (n_chunk < 1) return rk_err_set(err, RK_EINVAL, UINT64_MAX, "no chunk to evaluate");
    int64_t n_batch = o->n_batch > 0 && o->n_batch < n_ctx ? o->n_batch : n_ctx;
    const int64_t first = n_ctx / 2;
    int rc = 0;
    rk_kvcache *kv = rk_kvcache_new(m, n_ctx, err);
    float *logits = malloc((size_t)(n_batch * vocab) * sizeof(float));
    int32_t *in = malloc((size_t)n_ctx * sizeof(int32_t));
    res->chunk_ppl = calloc((size_t)n_chunk, sizeof(double));
    if (!kv) { rc = err ? err->code : RK_ENOMEM; goto done; }
    if (!logits || !in || !res->chunk_ppl) { rc = rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory"); goto done; }
    double nll = 0, nll2 = 0, t0 = now_s();
    int64_t count = 0;
    for (int64_t c = 0; c < n_chunk; c++) {
        const int64_t start = c * n_ctx;
        double tc = now_s(), cnll = 0;
        memcpy(in, tokens + start, (size_t)n_ctx * sizeof(int32_t));
        if (o->bos >= 0) in[0] = o->bos;
        rk_kvcache_clear(kv);
        for (int64_t b = 0; b < n_ctx; b += n_batch) {
            const int64_t nb = n_ctx - b < n_batch ? n_ctx - b : n_batch;
            if ((rc = rk_model_forward(m, kv, in + b, nb, logits, err))) goto done;
            for (int64_t j = 0; j < nb; j++) {
                const int64_t pos = b + j;
                if (pos < first || pos >= n_ctx - 1) continue;
                const int32_t target = tokens[start + pos + 1];
                const float *row = logits + j * vocab;
                double v = rk_nll_row(row, vocab, target);
                nll += v;
                nll2 += v * v;
                cnll += v;
                count++;
                if (row_fn && (rc = row_fn(user, c, pos, row, vocab, target))) goto done;
            }
            if (rk_interrupted()) { rc = rk_err_set(err, RK_EINTR, UINT64_MAX, "interrupted"); goto done; }
        }
        res->chunk_ppl[c] = exp(cnll / (double)(n_ctx - 1 - first));
        if (progress) {
            rk_ppl_chunk pc = { c, n_chunk, res->chunk_ppl[c], exp(nll / (double)count), now_s() - tc };
            progress(user, &pc);
        }
    }
    double mean = nll / (double)count, var = nll2 / (double)count - mean * mean;
    res->nll_mean = mean;
    res->nll_std_err = var > 0 && count > 1 ? sqrt(var / (double)(count - 1)) : 0;
    res->ppl = exp(mean);
    res->ppl_err = res->nll_std_err * res->ppl;
    res->count = count;
    res->n_chunks = n_chunk;
    res->n_tokens = n_tokens;
    res->seconds = now_s() - t0;
done:
    rk_kvcache_free(kv);
    free(logits);
    free(in);
    if (rc) rk_ppl_result_free(res);
    return rc;
}
