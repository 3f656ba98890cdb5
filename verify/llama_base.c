/* verify/llama_base.c — reads llama-perplexity's --kl-divergence-base file as a base source for rk_verify_run
 * (format in compare.h, from llama.cpp's tools/perplexity/perplexity.cpp: perplexity() writes it, kl_divergence()
 * reads it). Lets r1kit's candidate be compared with llama.cpp's base logits, and a base be computed once. */
#define _GNU_SOURCE
#include "verify/compare.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct rk_verify_llama_base {
    FILE *f;
    char path[512];
    int64_t n_ctx, n_vocab, n_chunk, per, nv;
    uint64_t data_off;         /* first chunk's rows */
    int32_t *tokens;           /* [n_ctx * n_chunk] */
    uint16_t *raw;             /* [per * nv] one chunk as stored */
    float *lp;                 /* [per * n_vocab] decoded log-probs, -inf below the window */
};

static uint32_t rd_u32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static float rd_f32(const uint16_t *p) {       /* two uint16 of a little-endian f32 (host is little-endian) */
    float v;
    memcpy(&v, p, sizeof v);
    return v;
}

void rk_verify_llama_base_close(rk_verify_llama_base *b) {
    if (!b) return;
    if (b->f) fclose(b->f);
    free(b->tokens);
    free(b->raw);
    free(b->lp);
    free(b);
}

int rk_verify_llama_base_open(rk_verify_llama_base **out, const char *path, rk_err *err) {
    *out = NULL;
    rk_verify_llama_base *b = calloc(1, sizeof *b);
    if (!b) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
    snprintf(b->path, sizeof b->path, "%s", path);
    int rc = 0;
    struct stat st;
    unsigned char h[20];
    if (!(b->f = fopen(path, "rb")) || fstat(fileno(b->f), &st)) {
        rc = rk_err_set(err, errno == ENOENT ? RK_ENOTFOUND : RK_EIO, UINT64_MAX, "%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    const uint64_t size = (uint64_t)st.st_size;
    if (size < 20 || fread(h, 1, 20, b->f) != 20 || memcmp(h, "_logits_", 8)) {
        rc = rk_err_set(err, RK_ECORRUPT, 0, "%s: not a llama-perplexity log-probability file (no \"_logits_\" header)", path);
        goto fail;
    }
    b->n_ctx = rd_u32(h + 8);
    b->n_vocab = (int32_t)rd_u32(h + 12);
    b->n_chunk = (int32_t)rd_u32(h + 16);
    if (b->n_ctx < 4 || b->n_ctx > (1 << 20) || b->n_vocab < 1 || b->n_vocab > (1 << 24) || b->n_chunk < 1) {
        rc = rk_err_set(err, RK_ECORRUPT, 8, "%s: n_ctx %lld, n_vocab %lld, n_chunk %lld out of range", path,
                        (long long)b->n_ctx, (long long)b->n_vocab, (long long)b->n_chunk);
        goto fail;
    }
    b->per = b->n_ctx - 1 - b->n_ctx / 2;
    b->nv = 2 * ((b->n_vocab + 1) / 2) + 4;
    const uint64_t tok_bytes = 4 * (uint64_t)b->n_ctx * (uint64_t)b->n_chunk, chunk_bytes = 2 * (uint64_t)b->per * (uint64_t)b->nv;
    if (b->n_chunk > (int64_t)(size / chunk_bytes) || 20 + tok_bytes + (uint64_t)b->n_chunk * chunk_bytes != size) {
        rc = rk_err_set(err, RK_ECORRUPT, 16, "%s: %llu bytes, but n_ctx %lld x n_chunk %lld x n_vocab %lld needs %llu", path,
                        (unsigned long long)size, (long long)b->n_ctx, (long long)b->n_chunk, (long long)b->n_vocab,
                        (unsigned long long)(20 + tok_bytes + (uint64_t)b->n_chunk * chunk_bytes));
        goto fail;
    }
    b->data_off = 20 + tok_bytes;
    b->tokens = malloc((size_t)tok_bytes);
    b->raw = malloc((size_t)chunk_bytes);
    b->lp = malloc((size_t)(b->per * b->n_vocab) * sizeof(float));
    if (!b->tokens || !b->raw || !b->lp) { rc = rk_err_set(err, RK_ENOMEM, UINT64_MAX, "%s: out of memory", path); goto fail; }
    if (fread(b->tokens, 1, (size_t)tok_bytes, b->f) != tok_bytes) {
        rc = rk_err_set(err, RK_EIO, 20, "%s: short read", path);
        goto fail;
    }
    for (int64_t i = 0; i < b->n_ctx * b->n_chunk; i++)
        if (b->tokens[i] < 0 || b->tokens[i] >= b->n_vocab) {
            rc = rk_err_set(err, RK_ECORRUPT, 20 + 4 * (uint64_t)i, "%s: token %lld is %d, outside n_vocab %lld", path,
                            (long long)i, b->tokens[i], (long long)b->n_vocab);
            goto fail;
        }
    *out = b;
    return 0;
fail:
    rk_verify_llama_base_close(b);
    return rc;
}

int64_t rk_verify_llama_base_ctx(const rk_verify_llama_base *b) { return b->n_ctx; }
int64_t rk_verify_llama_base_vocab(const rk_verify_llama_base *b) { return b->n_vocab; }
int64_t rk_verify_llama_base_chunks(const rk_verify_llama_base *b) { return b->n_chunk; }
const int32_t *rk_verify_llama_base_tokens(const rk_verify_llama_base *b) { return b->tokens; }

int rk_verify_llama_base_rows(void *user, int64_t chunk, const int32_t *in, int64_t n_ctx, const int32_t *targets,
                              int64_t per_chunk, rk_verify_row *rows, rk_err *err) {
    (void)in;
    rk_verify_llama_base *b = user;
    if (n_ctx != b->n_ctx || per_chunk != b->per || chunk < 0 || chunk >= b->n_chunk)
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "%s: chunk %lld of ctx %lld asked, the file has %lld chunks of ctx %lld",
                          b->path, (long long)chunk, (long long)n_ctx, (long long)b->n_chunk, (long long)b->n_ctx);
    const uint64_t chunk_bytes = 2 * (uint64_t)b->per * (uint64_t)b->nv, off = b->data_off + (uint64_t)chunk * chunk_bytes;
    if (fseeko(b->f, (off_t)off, SEEK_SET) || fread(b->raw, 1, (size_t)chunk_bytes, b->f) != chunk_bytes)
        return rk_err_set(err, RK_EIO, off, "%s: cannot read chunk %lld", b->path, (long long)chunk);
    for (int64_t j = 0; j < b->per; j++) {
        const uint16_t *r = b->raw + j * b->nv;
        const float scale = rd_f32(r), min_lp = rd_f32(r + 2);
        if (!isfinite(scale) || !isfinite(min_lp) || scale < 0)
            return rk_err_set(err, RK_ECORRUPT, off + 2 * (uint64_t)(j * b->nv), "%s: chunk %lld row %lld: scale %g, min %g",
                              b->path, (long long)chunk, (long long)j, (double)scale, (double)min_lp);
        const uint16_t *q = r + 4;
        float *lp = b->lp + j * b->n_vocab, best = 0;
        int32_t top = 0;
        for (int64_t i = 0; i < b->n_vocab; i++) {
            const float v = scale * q[i] + min_lp;            /* float, as llama.cpp */
            if (i == 0 || v > best) best = v, top = (int32_t)i;
            lp[i] = v > -16.f ? v : -INFINITY;
        }
        const int32_t t = targets[j];
        if (t < 0 || t >= b->n_vocab) return rk_err_set(err, RK_EINVAL, UINT64_MAX, "target %d outside n_vocab", t);
        rows[j] = (rk_verify_row){ b->n_vocab, NULL, lp, -(double)(scale * q[t] + min_lp), top, 0, 0 };
    }
    return 0;
}
