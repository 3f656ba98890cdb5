/* tests/quantize/test_kquants.c — Q4_0, Q4_K, Q5_K weights, Q8_K activations and the Q8_0/Q4_0/Q4_K/Q5_K dot
 * products (quantize/blocks.h): golden blocks, fast == ref, dot products against the f32 dot of the dequantized
 * rows, importance weighting, error bounds, non-finite input, thread-count independence.
 *
 * Golden files tests/quantize/golden/<type>.bin (little-endian), one per type (q4_0, q4_k, q5_k, q8_k):
 *   char magic[4] = "RKQG"; u32 version = 1; u32 ggml_type; u32 n (values); u32 nbytes (quantized bytes of n);
 *   f32 x[n]; f32 imp[n];
 *   u8 q_noimp[nbytes]; f32 deq_noimp[n];      quantize_ref(x, NULL), then dequantize
 *   u8 q_imp[nbytes];   f32 deq_imp[n];        quantize_ref(x, imp) (Q8_K: rk_q8k_quantize again; imp unused)
 * The deq arrays were checked equal bit for bit to ggml's own decoder (dequantize_row_*) by the hand check in
 * docs/quant-formats.md, which also checked that ggml decodes ggml-made blocks like ours. RK_WRITE_GOLDEN=1
 * rewrites the files from the current code (only after such a check). RK_BENCH=1 prints single-thread
 * throughput of quantize (MB/s of f32 input) and vec_dot (GB/s of weight bytes). */
#include <check.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "formats/numeric.h"
#include "quantize/blocks.h"
#include "quantize/kquants-impl.h"
#include "tests/common/rk_test.h"

/* ---- random rows */
static uint64_t g_rng;
static void seed(uint64_t s) { g_rng = s * 0x9E3779B97F4A7C15ull + 12345; }
static double urand(void) {
    g_rng ^= g_rng << 13; g_rng ^= g_rng >> 7; g_rng ^= g_rng << 17;
    return (double)(g_rng >> 11) * 0x1p-53;
}
static float gauss(void) {
    const double u = urand() + 1e-300, v = urand();
    return (float)(sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}
static float *gauss_row(int64_t n, float scale) {
    float *x = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) x[i] = gauss() * scale;
    return x;
}
static float *imp_row(int64_t n) {
    float *w = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) w[i] = (float)(urand() * urand() * 4.0);
    return w;
}

/* ---- the types under test */
typedef struct wtype {
    const char *name, *file;
    int ggml_type;
    int64_t block;
    size_t bytes;
    int nmax;                     /* levels − 1 (for the error bound) */
    void (*qref)(const float *, void *, int64_t, const float *);
    void (*q)(const float *, void *, int64_t, const float *);
    void (*dq)(const void *, float *, int64_t);
    float (*dot_ref)(int64_t, const void *, const void *);
    float (*dot)(int64_t, const void *, const void *);
    int act_k;                    /* 1: Q8_K activations, 0: Q8_0 */
} wtype;

static const wtype TYPES[] = {
    { "Q4_0", "q4_0", 2, 32, 18, 15, rk_q4_0_quantize_ref, rk_q4_0_quantize, rk_q4_0_dequantize,
      rk_q4_0_vec_dot_ref, rk_q4_0_vec_dot, 0 },
    { "Q4_K", "q4_k", 12, 256, 144, 15, rk_q4k_quantize_ref, rk_q4k_quantize, rk_q4k_dequantize,
      rk_q4k_vec_dot_ref, rk_q4k_vec_dot, 1 },
    { "Q5_K", "q5_k", 13, 256, 176, 31, rk_q5k_quantize_ref, rk_q5k_quantize, rk_q5k_dequantize,
      rk_q5k_vec_dot_ref, rk_q5k_vec_dot, 1 },
};
#define NTYPES 3

static size_t qbytes(const wtype *t, int64_t n) { return (size_t)(n / t->block) * t->bytes; }
static size_t abytes(int act_k, int64_t n) {
    return act_k ? (size_t)(n / RK_QK_K) * sizeof(rk_block_q8_k) : (size_t)(n / RK_QK8_0) * sizeof(rk_block_q8_0);
}
static void quant_act(int act_k, const float *x, void *dst, int64_t n) {
    if (act_k) rk_q8k_quantize(x, dst, n);
    else rk_q8_0_quantize_ref(x, dst, n);
}
static void dequant_act(int act_k, const void *src, float *dst, int64_t n) {
    if (act_k) rk_q8k_dequantize(src, dst, n);
    else rk_q8_0_dequantize_ref(src, dst, n);
}

static double werr(const float *x, const float *y, const float *w, int64_t n) {
    double e = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const double d = (double)y[i] - x[i];
        e += (w ? w[i] : 1.0) * d * d;
    }
    return e;
}

/* ---- layout */
START_TEST(test_layout) {
    ck_assert_uint_eq(sizeof(rk_block_q4_0), 18);
    ck_assert_uint_eq(sizeof(rk_block_q8_k), 292);
    ck_assert_uint_eq(sizeof(rk_block_q4_k), 144);
    ck_assert_uint_eq(sizeof(rk_block_q5_k), 176);
    /* the 6-bit packing: every (sc, m) pair in every slot survives put/get, neighbours untouched */
    for (int j = 0; j < 8; j++) {
        for (int sc = 0; sc < 64; sc += 3) {
            for (int m = 0; m < 64; m += 5) {
                uint8_t q[12];
                memset(q, 0, sizeof q);
                for (int k = 0; k < 8; k++) rk_kq_put_scale_min(k, q, (uint8_t)(k == j ? sc : 63 - k), (uint8_t)(k == j ? m : k * 7));
                for (int k = 0; k < 8; k++) {
                    uint8_t a, b;
                    rk_kq_get_scale_min(k, q, &a, &b);
                    ck_assert_int_eq(a, k == j ? sc : 63 - k);
                    ck_assert_int_eq(b, k == j ? m : k * 7);
                }
            }
        }
    }
}
END_TEST

/* ---- golden */
static const char *GOLDEN_NAMES[] = { "q4_0", "q4_k", "q5_k", "q8_k" };

/* The golden input: 512 values with structure the search must handle: a planted outlier per 64, a zero
 * sub-block, a negative-only sub-block, a tiny-scale sub-block, a second super-block 20x larger. */
static void golden_input(float *x, float *imp, int64_t n) {
    seed(20261125);
    for (int64_t i = 0; i < n; i++) {
        float v = gauss() * 0.05f;
        if (i % 64 == 17) v = 0.6f * (i % 128 == 17 ? 1.0f : -1.0f);
        if (i >= 64 && i < 96) v = 0.0f;
        if (i >= 128 && i < 160) v = -fabsf(v);
        if (i >= 192 && i < 224) v *= 1e-3f;
        if (i >= 256) v *= 20.0f;
        x[i] = v;
        imp[i] = (i % 7 == 3) ? 0.0f : 0.1f + (float)((i * 37) % 11) * 0.25f;
    }
}

static void golden_make(int g, const float *x, const float *imp, int64_t n, uint8_t *q0, float *d0, uint8_t *q1,
                        float *d1, size_t *nbytes) {
    if (g < NTYPES) {
        const wtype *t = &TYPES[g];
        *nbytes = qbytes(t, n);
        t->qref(x, q0, n, NULL);
        t->dq(q0, d0, n);
        t->qref(x, q1, n, imp);
        t->dq(q1, d1, n);
    } else {
        *nbytes = abytes(1, n);
        rk_q8k_quantize(x, q0, n);
        rk_q8k_dequantize(q0, d0, n);
        rk_q8k_quantize(x, q1, n);
        rk_q8k_dequantize(q1, d1, n);
    }
}

static int bits_equal(const float *a, const float *b, int64_t n, int64_t *bad) {
    for (int64_t i = 0; i < n; i++) {
        uint32_t u, v;
        memcpy(&u, a + i, 4);
        memcpy(&v, b + i, 4);
        if (u != v) { *bad = i; return 0; }
    }
    return 1;
}

START_TEST(test_golden) {
    const int g = _i;
    const int gtypes[] = { 2, 12, 13, 15 };
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/quantize/golden/%s.bin", rk_test_source_dir(), GOLDEN_NAMES[g]);
    const int64_t n = 512;
    float x[512], imp[512], d0[512], d1[512];
    uint8_t q0[4 * 292], q1[4 * 292];
    size_t nb;
    const char *wr = getenv("RK_WRITE_GOLDEN");
    if (wr && *wr && strcmp(wr, "0") != 0) {
        golden_input(x, imp, n);
        golden_make(g, x, imp, n, q0, d0, q1, d1, &nb);
        FILE *f = fopen(path, "wb");
        ck_assert_msg(f != NULL, "cannot write %s", path);
        const uint32_t hdr[4] = { 1, (uint32_t)gtypes[g], (uint32_t)n, (uint32_t)nb };
        fwrite("RKQG", 1, 4, f);
        fwrite(hdr, 4, 4, f);
        fwrite(x, 4, (size_t)n, f);
        fwrite(imp, 4, (size_t)n, f);
        fwrite(q0, 1, nb, f);
        fwrite(d0, 4, (size_t)n, f);
        fwrite(q1, 1, nb, f);
        fwrite(d1, 4, (size_t)n, f);
        ck_assert_int_eq(fclose(f), 0);
    }
    size_t sz;
    uint8_t *buf = rk_test_read_file(path, &sz);
    ck_assert_msg(buf != NULL, "missing %s", path);
    ck_assert_int_eq(memcmp(buf, "RKQG", 4), 0);
    uint32_t hdr[4];
    memcpy(hdr, buf + 4, sizeof hdr);
    ck_assert_uint_eq(hdr[0], 1);
    ck_assert_uint_eq(hdr[1], (uint32_t)gtypes[g]);
    ck_assert_uint_eq(hdr[2], (uint32_t)n);
    nb = hdr[3];
    ck_assert_uint_le(nb, sizeof q0);
    ck_assert_uint_eq(sz, 20 + 4 * (size_t)n * 4 + 2 * nb);
    const uint8_t *p = buf + 20;
    memcpy(x, p, 4 * (size_t)n); p += 4 * n;
    memcpy(imp, p, 4 * (size_t)n); p += 4 * n;
    float gd0c[512], gd1c[512];
    const uint8_t *gq0 = p; p += nb;
    memcpy(gd0c, p, sizeof gd0c); p += 4 * n;
    const uint8_t *gq1 = p; p += nb;
    memcpy(gd1c, p, sizeof gd1c);

    size_t nb2;
    golden_make(g, x, imp, n, q0, d0, q1, d1, &nb2);
    ck_assert_uint_eq(nb2, nb);
    ck_assert_msg(memcmp(q0, gq0, nb) == 0, "%s: quantize_ref(imp=NULL) bytes differ from golden", GOLDEN_NAMES[g]);
    ck_assert_msg(memcmp(q1, gq1, nb) == 0, "%s: quantize_ref(imp) bytes differ from golden", GOLDEN_NAMES[g]);
    int64_t bad = -1;
    ck_assert_msg(bits_equal(d0, gd0c, n, &bad), "%s: dequantized value %ld differs", GOLDEN_NAMES[g], (long)bad);
    ck_assert_msg(bits_equal(d1, gd1c, n, &bad), "%s: dequantized value %ld differs (imp)", GOLDEN_NAMES[g], (long)bad);
    /* decoding the golden bytes (not our fresh ones) gives the golden values; the fast quantizer the same bytes */
    if (g < NTYPES) {
        const wtype *t = &TYPES[g];
        t->dq(gq1, d1, n);
        ck_assert(bits_equal(d1, gd1c, n, &bad));
        t->q(x, q1, n, imp);
        ck_assert(memcmp(q1, gq1, nb) == 0);
        /* the imp block is no worse than the plain one under imp */
        ck_assert(werr(x, gd1c, imp, n) <= werr(x, gd0c, imp, n) * (1 + 1e-12));
    }
    free(buf);
}
END_TEST

/* ---- fast == ref, bit for bit */
START_TEST(test_ref_vs_fast) {
    const wtype *t = &TYPES[_i];
    const int64_t sizes[] = { 256, 512, 1024, 2304, 4096 };
    for (int s = 0; s < 5; s++) {
        for (int sd = 1; sd <= 3; sd++) {
            seed((uint64_t)(sd * 100 + s));
            const int64_t n = sizes[s];
            float *x = gauss_row(n, sd == 2 ? 3.0f : 0.02f), *w = imp_row(n);
            if (sd == 3) for (int64_t i = 0; i < n; i += 97) x[i] *= 40.0f;
            uint8_t *a = malloc(qbytes(t, n)), *b = malloc(qbytes(t, n));
            for (int wi = 0; wi < 2; wi++) {
                t->qref(x, a, n, wi ? w : NULL);
                t->q(x, b, n, wi ? w : NULL);
                ck_assert_msg(memcmp(a, b, qbytes(t, n)) == 0, "%s n=%ld seed=%d imp=%d", t->name, (long)n, sd, wi);
            }
            free(x); free(w); free(a); free(b);
        }
    }
    /* Q8_0: the fast quantizer too */
    seed(7);
    float *x = gauss_row(4096, 1.0f);
    uint8_t a[4096 / 32 * 34], b[4096 / 32 * 34];
    rk_q8_0_quantize_ref(x, a, 4096);
    rk_q8_0_quantize(x, b, 4096);
    ck_assert(memcmp(a, b, sizeof a) == 0);
    free(x);
}
END_TEST

/* ---- dot products */
/* Tolerance scale: Σ_i (|w_i| + max|w| of i's block)·|a_i| over the dequantized rows. The K types compute
 * d·Σsc·q·a − dmin·Σm·bsum, two terms that can each exceed Σ|w·a| (their difference is the result), bounded by
 * this: |d·sc·q| <= |w| + dmin·m and dmin·m <= max|w| + step. "Within 1e-5 relative" is relative to it. */
static void check_dot(const char *name, int64_t n, int64_t block, const void *w, const void *a,
                      const float *wd, const float *ad,
                      float (*dref)(int64_t, const void *, const void *), float (*dfast)(int64_t, const void *, const void *)) {
    const float r = dref(n, w, a), f = dfast(n, w, a);
    double sabs = 0.0, exact = 0.0;
    for (int64_t b = 0; b < n / block; b++) {
        double mx = 0.0;
        for (int64_t i = b * block; i < (b + 1) * block; i++) mx = fmax(mx, fabs((double)wd[i]));
        for (int64_t i = b * block; i < (b + 1) * block; i++) {
            sabs += (fabs((double)wd[i]) + mx) * fabs((double)ad[i]);
            exact += (double)wd[i] * ad[i];
        }
    }
    ck_assert_msg(fabs((double)f - r) <= 1e-5 * sabs + 1e-30, "%s n=%ld: fast %.9g ref %.9g", name, (long)n, f, r);
    ck_assert_msg(fabs((double)r - exact) <= 1e-5 * sabs + 1e-30, "%s n=%ld: ref %.9g, f32 dot %.9g", name, (long)n, r, exact);
    ck_assert_msg(fabs((double)f - exact) <= 1e-5 * sabs + 1e-30, "%s n=%ld: fast %.9g, f32 dot %.9g", name, (long)n, f, exact);
}

START_TEST(test_vec_dot) {
    const int64_t sizes[] = { 256, 512, 1024, 4096 };
    for (int s = 0; s < 4; s++) {
        for (int sd = 0; sd < 4; sd++) {
            seed((uint64_t)(1000 + 10 * s + sd));
            const int64_t n = sizes[s];
            float *x = gauss_row(n, sd == 3 ? 100.0f : 0.05f), *act = gauss_row(n, 1.0f);
            if (sd == 1) for (int64_t i = 0; i < n; i++) x[i] = fabsf(x[i]);          /* all positive: mins 0 */
            if (sd == 2) for (int64_t i = 0; i < n; i++) act[i] = 1.0f + 0.01f * act[i];   /* no cancellation */
            float *wd = malloc(sizeof(float) * (size_t)n), *ad = malloc(sizeof(float) * (size_t)n);
            for (int t = 0; t < NTYPES; t++) {
                const wtype *ty = &TYPES[t];
                uint8_t *w = malloc(qbytes(ty, n)), *a = malloc(abytes(ty->act_k, n));
                ty->qref(x, w, n, NULL);
                ty->dq(w, wd, n);
                quant_act(ty->act_k, act, a, n);
                dequant_act(ty->act_k, a, ad, n);
                check_dot(ty->name, n, ty->block, w, a, wd, ad, ty->dot_ref, ty->dot);
                free(w); free(a);
            }
            /* Q8_0 weights */
            uint8_t *w = malloc(abytes(0, n)), *a = malloc(abytes(0, n));
            rk_q8_0_quantize_ref(x, w, n);
            rk_q8_0_dequantize_ref(w, wd, n);
            rk_q8_0_quantize_ref(act, a, n);
            rk_q8_0_dequantize_ref(a, ad, n);
            check_dot("Q8_0", n, 32, w, a, wd, ad, rk_q8_0_vec_dot_ref, rk_q8_0_vec_dot);
            free(w); free(a); free(x); free(act); free(wd); free(ad);
        }
    }
}
END_TEST

/* ---- Q8_K semantics */
START_TEST(test_q8k) {
    seed(5);
    const int64_t n = 1024;
    float *x = gauss_row(n, 2.0f);
    for (int64_t i = 256; i < 512; i++) x[i] = 0.0f;            /* an all-zero block */
    for (int64_t i = 512; i < 768; i++) x[i] = -fabsf(x[i]);    /* negative-only */
    rk_block_q8_k *q = malloc(sizeof(rk_block_q8_k) * 4);
    memset(q, 0x5A, sizeof(rk_block_q8_k) * 4);
    rk_q8k_quantize(x, q, n);
    for (int b = 0; b < 4; b++) {
        float amax = 0.0f, mx = 0.0f;
        for (int j = 0; j < 256; j++) if (fabsf(x[256 * b + j]) > amax) { amax = fabsf(x[256 * b + j]); mx = x[256 * b + j]; }
        for (int j = 0; j < 16; j++) {
            int s = 0;
            for (int k = 0; k < 16; k++) s += q[b].qs[16 * j + k];
            ck_assert_int_eq(q[b].bsums[j], s);
        }
        if (amax == 0.0f) { ck_assert(q[b].d == 0.0f); continue; }
        ck_assert(q[b].d == 1.0f / (-127.0f / mx));
        for (int j = 0; j < 256; j++) {
            ck_assert_int_le(abs(q[b].qs[j]), 127);
            ck_assert(fabsf(q[b].d * q[b].qs[j] - x[256 * b + j]) <= fabsf(q[b].d) * 0.5001f);
            if (x[256 * b + j] == mx) ck_assert_int_eq(q[b].qs[j], -127);
        }
    }
    free(q); free(x);
}
END_TEST

/* ---- importance weighting on rows with planted outliers */
START_TEST(test_imp_not_worse) {
    const wtype *t = &TYPES[_i];
    double sum_imp = 0, sum_plain = 0;
    for (int sd = 0; sd < 6; sd++) {
        seed((uint64_t)(300 + sd));
        const int64_t n = 2048;
        float *x = gauss_row(n, 0.02f), *w = malloc(sizeof(float) * (size_t)n);
        for (int64_t i = 0; i < n; i++) {
            w[i] = 0.05f + (float)urand();
            if (urand() < 0.01) { x[i] += (urand() < 0.5 ? -1.0f : 1.0f) * 0.3f; w[i] = 0.01f; }   /* outliers */
            if (urand() < 0.05) w[i] = 20.0f;                                                  /* hot columns */
        }
        uint8_t *q = malloc(qbytes(t, n));
        float *y0 = malloc(sizeof(float) * (size_t)n), *y1 = malloc(sizeof(float) * (size_t)n);
        t->qref(x, q, n, NULL);
        t->dq(q, y0, n);
        t->qref(x, q, n, w);
        t->dq(q, y1, n);
        /* per block: never worse (the test in the contract), and overall */
        for (int64_t b = 0; b < n / t->block; b++) {
            const int64_t o = b * t->block;
            const double e1 = werr(x + o, y1 + o, w + o, t->block), e0 = werr(x + o, y0 + o, w + o, t->block);
            ck_assert_msg(e1 <= e0 * (1 + 1e-12) + 1e-30, "%s block %ld: imp %.9g > plain %.9g", t->name, (long)b, e1, e0);
        }
        sum_imp += werr(x, y1, w, n);
        sum_plain += werr(x, y0, w, n);
        free(x); free(w); free(q); free(y0); free(y1);
    }
    ck_assert_msg(sum_imp < 0.97 * sum_plain, "%s: imp gains too little: %.6g vs %.6g", t->name, sum_imp, sum_plain);
}
END_TEST

/* ---- error bounds: RMS error per block against the block's level step (range/nmax; Q4_0: 2·max|x|/15) */
START_TEST(test_error_bounds) {
    const wtype *t = &TYPES[_i];
    seed(77);
    const int64_t n = 8192;
    float *x = gauss_row(n, 0.03f), *y = malloc(sizeof(float) * (size_t)n);
    uint8_t *q = malloc(qbytes(t, n));
    for (int wi = 0; wi < 2; wi++) {
        float *w = wi ? imp_row(n) : NULL;
        t->qref(x, q, n, w);
        t->dq(q, y, n);
        double worst = 0;
        for (int64_t b = 0; b < n / t->block; b++) {
            float lo = x[b * t->block], hi = lo;
            for (int64_t i = 0; i < t->block; i++) {
                lo = fminf(lo, x[b * t->block + i]);
                hi = fmaxf(hi, x[b * t->block + i]);
            }
            const double rms = sqrt(werr(x + b * t->block, y + b * t->block, NULL, t->block) / (double)t->block);
            /* K types: levels span [min(x, 0), max x]; Q4_0 is symmetric: 16 levels over ±max|x| */
            const double step = t->block == 32 ? 2.0 * fmax(fabs(lo), fabs(hi)) / t->nmax : (double)(hi - lo) / t->nmax;
            if (rms / step > worst) worst = rms / step;
        }
        /* uniform rounding noise is step/sqrt(12) = 0.29 step over the whole block's range */
        /* (Q4_0's RTN maps max|x| to level −8, so the other sign clips at 7 steps: a little more) */
        ck_assert_msg(worst < (wi ? 0.5 : t->block == 32 ? 0.45 : 0.35), "%s imp=%d: worst block RMS = %.3f x (range/%d)", t->name, wi, worst, t->nmax);
        free(w);
    }
    free(x); free(y); free(q);
}
END_TEST

/* ---- zero, non-finite and extreme input: finite output, zeros stay zeros */
START_TEST(test_nonfinite) {
    const wtype *t = &TYPES[_i];
    const int64_t n = 512;
    float *x = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * n), *w = malloc(sizeof(float) * n);
    uint8_t *q = malloc(qbytes(t, n));
    for (int kind = 0; kind < 7; kind++) {
        seed((uint64_t)kind);
        for (int64_t i = 0; i < n; i++) {
            const float g = gauss();
            x[i] = kind == 0 ? 0.0f : kind == 1 ? g * 1e38f : kind == 2 ? g * 1e-42f : kind == 3 ? -fabsf(g) * 1e6f
                 : g;
            if (kind == 4 && i % 13 == 0) x[i] = NAN;
            if (kind == 5 && i % 29 == 0) x[i] = (i & 1) ? INFINITY : -INFINITY;
            w[i] = kind == 6 ? (i % 3 == 0 ? NAN : i % 3 == 1 ? -1.0f : INFINITY) : 1.0f;
        }
        for (int wi = 0; wi < 2; wi++) {
            t->qref(x, q, n, wi ? w : NULL);
            t->dq(q, y, n);
            for (int64_t i = 0; i < n; i++) {
                ck_assert_msg(isfinite(y[i]), "%s kind %d imp=%d: y[%ld] = %g (x %g)", t->name, kind, wi, (long)i, y[i], x[i]);
                if (kind == 0) ck_assert(y[i] == 0.0f);
            }
        }
    }
    /* Q8_K and Q8_0 too */
    for (int64_t i = 0; i < n; i++) x[i] = i % 5 == 0 ? NAN : i % 7 == 0 ? INFINITY : gauss();
    rk_block_q8_k k8[2];
    rk_q8k_quantize(x, k8, n);
    rk_q8k_dequantize(k8, y, n);
    for (int64_t i = 0; i < n; i++) ck_assert(isfinite(y[i]));
    free(x); free(y); free(w); free(q);
}
END_TEST

/* ---- the fast quantizer does not depend on the thread count */
START_TEST(test_threads) {
    const wtype *t = &TYPES[_i];
    seed(99);
    const int64_t n = 64 * 256;
    float *x = gauss_row(n, 0.1f), *w = imp_row(n);
    uint8_t *a = malloc(qbytes(t, n)), *b = malloc(qbytes(t, n));
    const int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    t->q(x, a, n, w);
    for (int th = 2; th <= 4; th++) {
        omp_set_num_threads(th);
        t->q(x, b, n, w);
        ck_assert_msg(memcmp(a, b, qbytes(t, n)) == 0, "%s: %d threads differ from 1", t->name, th);
    }
    omp_set_num_threads(saved);
    free(x); free(w); free(a); free(b);
}
END_TEST

/* ---- RK_BENCH=1: single-thread throughput */
static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
START_TEST(test_bench) {
    const char *e = getenv("RK_BENCH");
    if (!e || !*e || strcmp(e, "0") == 0) return;
    const int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    seed(1);
    const int64_t n = 1 << 16, big = 1 << 22;
    float *x = gauss_row(n, 0.05f), *w = imp_row(n), *xa = gauss_row(big, 1.0f);
    for (int t = 0; t < NTYPES; t++) {
        const wtype *ty = &TYPES[t];
        uint8_t *q = malloc(qbytes(ty, big)), *a = malloc(abytes(ty->act_k, big));
        double best[2] = { 1e9, 1e9 };
        for (int wi = 0; wi < 2; wi++)
            for (int r = 0; r < 2; r++) {
                const double t0 = now();
                ty->q(x, q, n, wi ? w : NULL);
                best[wi] = fmin(best[wi], now() - t0);
            }
        /* vec_dot over a 4M-weight row (quantized by tiling the small one) */
        for (int64_t o = 0; o < big; o += n) memcpy(xa + o, x, sizeof(float) * (size_t)n);
        ty->q(xa, q, big, NULL);
        seed(2);
        for (int64_t i = 0; i < big; i++) xa[i] = gauss();
        quant_act(ty->act_k, xa, a, big);
        double bd = 1e9, bdr = 1e9;
        volatile float sink = 0;
        for (int r = 0; r < 3; r++) {
            double t0 = now();
            sink += ty->dot(big, q, a);
            bd = fmin(bd, now() - t0);
            t0 = now();
            sink += ty->dot_ref(big, q, a);
            bdr = fmin(bdr, now() - t0);
        }
        printf("BENCH %s quantize %.1f MB/s (imp %.1f MB/s) | vec_dot %.2f GB/s of weights (ref %.2f GB/s)\n", ty->name,
               4.0 * n / best[0] / 1e6, 4.0 * n / best[1] / 1e6, qbytes(ty, big) / bd / 1e9, qbytes(ty, big) / bdr / 1e9);
        free(q); free(a);
    }
    {
        uint8_t *q = malloc(abytes(0, big)), *a = malloc(abytes(1, big) > abytes(0, big) ? abytes(1, big) : abytes(0, big));
        double t0 = now();
        rk_q8_0_quantize(xa, q, big);
        const double tq = now() - t0;
        rk_q8_0_quantize(xa, a, big);
        double bd = 1e9, bdr = 1e9;
        volatile float sink = 0;
        for (int r = 0; r < 3; r++) {
            t0 = now();
            sink += rk_q8_0_vec_dot(big, q, a);
            bd = fmin(bd, now() - t0);
            t0 = now();
            sink += rk_q8_0_vec_dot_ref(big, q, a);
            bdr = fmin(bdr, now() - t0);
        }
        t0 = now();
        rk_q8k_quantize(xa, a, big);
        const double tk = now() - t0;
        printf("BENCH Q8_0 quantize %.1f MB/s | vec_dot %.2f GB/s (ref %.2f GB/s); Q8_K quantize %.1f MB/s\n",
               4.0 * big / tq / 1e6, abytes(0, big) / bd / 1e9, abytes(0, big) / bdr / 1e9, 4.0 * big / tk / 1e6);
        free(q); free(a);
    }
    omp_set_num_threads(saved);
    free(x); free(w); free(xa);
}
END_TEST

Suite *make_suite(void) {
    Suite *s = suite_create("quantize");
    TCase *tc = tcase_create("layout");
    tcase_add_test(tc, test_layout);
    suite_add_tcase(s, tc);
    tc = tcase_create("golden");
    tcase_add_loop_test(tc, test_golden, 0, 4);
    suite_add_tcase(s, tc);
    tc = tcase_create("ref_vs_opt");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, test_ref_vs_fast, 0, NTYPES);
    tcase_add_test(tc, test_vec_dot);
    tcase_add_loop_test(tc, test_threads, 0, NTYPES);
    suite_add_tcase(s, tc);
    tc = tcase_create("quality");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_q8k);
    tcase_add_loop_test(tc, test_imp_not_worse, 0, NTYPES);
    tcase_add_loop_test(tc, test_error_bounds, 0, NTYPES);
    tcase_add_loop_test(tc, test_nonfinite, 0, NTYPES);
    suite_add_tcase(s, tc);
    tc = tcase_create("bench");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_bench);
    suite_add_tcase(s, tc);
    return s;
}

RK_TEST_MAIN()
