/* fuzz/fuzz_tcache.c — libFuzzer harness for the distillation teacher cache reader (distill/teacher_cache.h).
 * Opens the input from memory with rk_tcache_open_buffer and, when it is accepted, reads every window (up to a
 * budget) in reverse order then window 0 again (random access must not depend on history). Any bytes must open
 * or fail with a one-line message naming the input; a window that reads must hold what the header promises
 * (tokens and ids in range, ids strictly ascending, log-probabilities <= 0, masses summing to 1).
 * Every input is tried twice: as is, and with its CRCs (header, each record the index points at, the index)
 * recomputed, so that mutations get past the checksums to the counts, the inflate and the row checks.
 * Seeds: fuzz/corpus/fuzz_tcache/ (small caches written by rk_tcache_put; replayed as an ordinary test). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "distill/teacher_cache.h"

#define NAME "fuzz.r1ktc"
#define MAX_WINDOWS 256

static void check_err(const rk_err *err) {
    if (err->code >= 0 || strncmp(err->msg, NAME ": ", sizeof NAME + 1) != 0 || strchr(err->msg, '\n')) abort();
}

static void check_window(const rk_tcache_info *in, const int32_t *tok, const int32_t *ids, const float *lp,
                         const float *rest) {
    for (int64_t t = 0; t <= in->T; t++)
        if (tok[t] < 0 || tok[t] >= in->vocab) abort();
    for (int64_t t = 0; t < in->T; t++) {
        double mass = exp((double)rest[t]);
        for (int64_t j = 0; j < in->k; j++) {
            const int32_t id = ids[t * in->k + j];
            if (id < 0 || id >= in->vocab || (j && id <= ids[t * in->k + j - 1]) || !(lp[t * in->k + j] <= 0.0f)) abort();
            mass += exp((double)lp[t * in->k + j]);
        }
        if (!(fabs(mass - 1.0) <= 1e-3)) abort();
    }
}

static uint64_t get_u64(const uint8_t *p) { uint64_t v = 0; for (int i = 7; i >= 0; i--) v = v << 8 | p[i]; return v; }
static uint32_t get_u32(const uint8_t *p) { uint32_t v = 0; for (int i = 3; i >= 0; i--) v = v << 8 | p[i]; return v; }
static void put_u32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }

/* recompute the CRCs the layout lets us find */
static void fix_crcs(uint8_t *d, size_t size) {
    if (size < RK_TCACHE_HEADER) return;
    const uint64_t n = get_u64(d + 24), idx = get_u64(d + 72);
    if (idx <= size && n <= (size - idx) / 16 && size - idx - n * 16 >= 4) {
        for (uint64_t i = 0; i < n; i++) {
            uint8_t *e = d + idx + 16 * i;
            const uint64_t off = get_u64(e), sz = get_u32(e + 8);
            if (off <= size && sz <= size - off) put_u32(e + 12, (uint32_t)crc32(0, d + off, (uInt)sz));
        }
        put_u32(d + idx + 16 * n, (uint32_t)crc32(0, d + idx, (uInt)(16 * n)));
    }
    put_u32(d + 124, (uint32_t)crc32(0, d, 124));
}

static void run(const uint8_t *data, size_t size) {
    rk_tcache *c = NULL;
    rk_err err;
    rk_err_clear(&err);
    if (rk_tcache_open_buffer(&c, data, size, NAME, &err) != 0) {
        if (c) abort();
        check_err(&err);
        return;
    }
    const rk_tcache_info *in = rk_tcache_get_info(c);
    if (in->T < 1 || in->k < 1 || in->k > in->vocab || in->n_windows < 1) abort();
    int32_t *tok = malloc((size_t)(in->T + 1) * sizeof(int32_t)), *ids = malloc((size_t)(in->T * in->k) * sizeof(int32_t));
    float *lp = malloc((size_t)(in->T * in->k) * sizeof(float)), *rest = malloc((size_t)in->T * sizeof(float));
    if (!tok || !ids || !lp || !rest) abort();
    const int64_t n = in->n_windows < MAX_WINDOWS ? in->n_windows : MAX_WINDOWS;
    for (int64_t i = n; i >= 0; i--) {
        const int64_t w = i == n ? 0 : i;   /* window 0 first and last */
        rk_err_clear(&err);
        if (rk_tcache_read(c, w, tok, ids, lp, rest, &err) != 0) check_err(&err);
        else check_window(in, tok, ids, lp, rest);
    }
    if (rk_tcache_read(c, in->n_windows, tok, ids, lp, rest, &err) != RK_EINVAL) abort();
    free(tok), free(ids), free(lp), free(rest);
    rk_tcache_close(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    run(data, size);
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) abort();
    memcpy(copy, data, size);
    fix_crcs(copy, size);
    run(copy, size);
    free(copy);
    return 0;
}
