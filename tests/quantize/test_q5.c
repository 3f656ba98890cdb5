/* tests/quantize/test_q5.c — Q4_1, Q5_0, Q5_1 weights and the Q8_1 activation type (quantize/blocks.h), the same
 * checks as test_kquants.c: golden blocks, fast == ref, dot products against the f32 dot of the dequantized rows,
 * importance weighting, error bounds, non-finite input, thread-count independence; plus their rows in the traits
 * table (quantize/quants.h: ascending bpw, activation types, rk_quantize_act / rk_act_row_bytes).
 *
 * Golden files tests/quantize/golden/<type>.bin (q4_1, q5_0, q5_1), the format of test_kquants.c:
 *   char magic[4] = "RKQG"; u32 version = 1; u32 ggml_type; u32 n (values); u32 nbytes (quantized bytes of n);
 *   f32 x[n]; f32 imp[n];
 *   u8 q_noimp[nbytes]; f32 deq_noimp[n];      quantize_ref(x, NULL) (= ggml's quantize_row_*_ref), then dequantize
 *   u8 q_imp[nbytes];   f32 deq_imp[n];        quantize_ref(x, imp), then dequantize
 * The deq arrays were checked equal bit for bit to ggml's dequantize_row_* and the imp=NULL bytes to ggml's
 * quantize_row_*_ref by the hand check in docs/quant-formats.md. RK_WRITE_GOLDEN=1 rewrites the files from the
 * current code (only after such a check). RK_BENCH=1 prints single-thread throughput. */
#include <check.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "formats/numeric.h"
#include "quantize/blocks.h"
#include "quantize/quants.h"
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
    size_t bytes;                 /* per block of 32 */
    int nmax;                     /* levels − 1 */
    int affine;                   /* 1: x = q·d + m (Q4_1, Q5_1, Q8_1 activations); 0: symmetric (Q5_0, Q8_0) */
    void (*qref)(const float *, void *, int64_t, const float *);
    void (*q)(const float *, void *, int64_t, const float *);
    void (*dq)(const void *, float *, int64_t);
    float (*dot_ref)(int64_t, const void *, const void *);
    float (*dot)(int64_t, const void *, const void *);
} wtype;

static const wtype TYPES[] = {
    { "Q4_1", "q4_1", RK_DTYPE_Q4_1, 20, 15, 1, rk_q4_1_quantize_ref, rk_q4_1_quantize, rk_q4_1_dequantize,
      rk_q4_1_vec_dot_ref, rk_q4_1_vec_dot },
    { "Q5_0", "q5_0", RK_DTYPE_Q5_0, 22, 31, 0, rk_q5_0_quantize_ref, rk_q5_0_quantize, rk_q5_0_dequantize,
      rk_q5_0_vec_dot_ref, rk_q5_0_vec_dot },
    { "Q5_1", "q5_1", RK_DTYPE_Q5_1, 24, 31, 1, rk_q5_1_quantize_ref, rk_q5_1_quantize, rk_q5_1_dequantize,
      rk_q5_1_vec_dot_ref, rk_q5_1_vec_dot },
};
#define NTYPES 3

static size_t qbytes(const wtype *t, int64_t n) { return (size_t)(n / 32) * t->bytes; }
/* activations: Q8_1 for the affine types, Q8_0 for Q5_0 (ggml's vec_dot_type) */
static size_t abytes(const wtype *t, int64_t n) { return (size_t)(n / 32) * (t->affine ? 36 : 34); }
static void quant_act(const wtype *t, const float *x, void *dst, int64_t n) {
    if (t->affine) rk_q8_1_quantize_ref(x, dst, n);
    else rk_q8_0_quantize_ref(x, dst, n);
}
static void dequant_act(const wtype *t, const void *src, float *dst, int64_t n) {
    if (t->affine) rk_q8_1_dequantize(src, dst, n);
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

/* ---- layout: sizes and the field order of ggml-common.h (offsets of d, m, qh, qs) */
START_TEST(test_layout) {
    ck_assert_uint_eq(sizeof(rk_block_q4_1), 20);
    ck_assert_uint_eq(sizeof(rk_block_q5_0), 22);
    ck_assert_uint_eq(sizeof(rk_block_q5_1), 24);
    ck_assert_uint_eq(sizeof(rk_block_q8_1), 36);
    ck_assert_uint_eq(offsetof(rk_block_q4_1, qs), 4);
    ck_assert_uint_eq(offsetof(rk_block_q5_0, qh), 2);
    ck_assert_uint_eq(offsetof(rk_block_q5_0, qs), 6);
    ck_assert_uint_eq(offsetof(rk_block_q5_1, qh), 4);
    ck_assert_uint_eq(offsetof(rk_block_q5_1, qs), 8);
    ck_assert_uint_eq(offsetof(rk_block_q8_1, s), 2);
    ck_assert_uint_eq(offsetof(rk_block_q8_1, qs), 4);
    /* hand-made blocks decode as ggml documents: Q5_0 element j = ((nibble | bit j of qh << 4) − 16)·d */
    rk_block_q5_0 b;
    memset(&b, 0, sizeof b);
    b.d = rk_f32_to_f16(0.5f);
    b.qs[3] = 0x2F;          /* element 3: nibble 15; element 19: nibble 2 (q = 18 with its 5th bit) */
    b.qh[0] = 0x08;          /* bit 3: element 3 has the 5th bit */
    b.qh[2] = 0x08;          /* bit 19: element 19 too */
    float y[32];
    rk_q5_0_dequantize(&b, y, 32);
    ck_assert(y[3] == 7.5f && y[19] == 1.0f && y[0] == -8.0f && y[16] == -8.0f);
    rk_block_q5_1 c;
    memset(&c, 0, sizeof c);
    c.d = rk_f32_to_f16(0.25f);
    c.m = rk_f32_to_f16(-1.0f);
    c.qs[0] = 0x1F;
    c.qh[3] = 0x80;          /* bit 31: element 31 */
    c.qs[15] = 0x30;         /* element 31: nibble 3 -> q = 19 */
    rk_q5_1_dequantize(&c, y, 32);
    ck_assert(y[0] == 2.75f && y[16] == -0.75f && y[31] == 3.75f && y[1] == -1.0f);
}
END_TEST

/* ---- golden */
/* The golden input: 512 values (16 blocks) with structure: a planted outlier per 64, a zero block, a negative-only
 * block, a tiny-scale block, the second half 20x larger (as test_kquants.c). */
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
    const wtype *t = &TYPES[_i];
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/quantize/golden/%s.bin", rk_test_source_dir(), t->file);
    const int64_t n = 512;
    float x[512], imp[512], d0[512], d1[512];
    uint8_t q0[16 * 24], q1[16 * 24];
    const size_t nb = qbytes(t, n);
    const char *wr = getenv("RK_WRITE_GOLDEN");
    if (wr && *wr && strcmp(wr, "0") != 0) {
        golden_input(x, imp, n);
        t->qref(x, q0, n, NULL);
        t->dq(q0, d0, n);
        t->qref(x, q1, n, imp);
        t->dq(q1, d1, n);
        FILE *f = fopen(path, "wb");
        ck_assert_msg(f != NULL, "cannot write %s", path);
        const uint32_t hdr[4] = { 1, (uint32_t)t->ggml_type, (uint32_t)n, (uint32_t)nb };
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
    ck_assert_uint_eq(hdr[1], (uint32_t)t->ggml_type);
    ck_assert_uint_eq(hdr[2], (uint32_t)n);
    ck_assert_uint_eq(hdr[3], nb);
    ck_assert_uint_eq(sz, 20 + 4 * (size_t)n * 4 + 2 * nb);
    const uint8_t *p = buf + 20;
    memcpy(x, p, 4 * (size_t)n); p += 4 * n;
    memcpy(imp, p, 4 * (size_t)n); p += 4 * n;
    float gd0[512], gd1[512];
    const uint8_t *gq0 = p; p += nb;
    memcpy(gd0, p, sizeof gd0); p += 4 * n;
    const uint8_t *gq1 = p; p += nb;
    memcpy(gd1, p, sizeof gd1);

    t->qref(x, q0, n, NULL);
    t->dq(q0, d0, n);
    t->qref(x, q1, n, imp);
    t->dq(q1, d1, n);
    ck_assert_msg(memcmp(q0, gq0, nb) == 0, "%s: quantize_ref(imp=NULL) bytes differ from golden", t->name);
    ck_assert_msg(memcmp(q1, gq1, nb) == 0, "%s: quantize_ref(imp) bytes differ from golden", t->name);
    int64_t bad = -1;
    ck_assert_msg(bits_equal(d0, gd0, n, &bad), "%s: dequantized value %ld differs", t->name, (long)bad);
    ck_assert_msg(bits_equal(d1, gd1, n, &bad), "%s: dequantized value %ld differs (imp)", t->name, (long)bad);
    /* decoding the golden bytes (not our fresh ones) gives the golden values; the fast quantizer the same bytes */
    t->dq(gq1, d1, n);
    ck_assert(bits_equal(d1, gd1, n, &bad));
    t->q(x, q1, n, imp);
    ck_assert(memcmp(q1, gq1, nb) == 0);
    t->q(x, q0, n, NULL);
    ck_assert(memcmp(q0, gq0, nb) == 0);
    /* the imp block is no worse than the plain one under imp */
    ck_assert(werr(x, gd1, imp, n) <= werr(x, gd0, imp, n) * (1 + 1e-12));
    free(buf);
}
END_TEST

/* ---- fast == ref, bit for bit (odd block counts too) */
START_TEST(test_ref_vs_fast) {
    const wtype *t = &TYPES[_i];
    const int64_t sizes[] = { 32, 64, 992, 1056, 2304, 4096 };
    for (int s = 0; s < 6; s++) {
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
    /* Q8_1: the fast quantizer too */
    seed(7);
    float *x = gauss_row(65536, 1.0f);
    uint8_t *a = malloc(65536 / 32 * 36), *b = malloc(65536 / 32 * 36);
    rk_q8_1_quantize_ref(x, a, 65536);
    rk_q8_1_quantize(x, b, 65536);
    ck_assert(memcmp(a, b, 65536 / 32 * 36) == 0);
    free(x); free(a); free(b);
}
END_TEST

/* ---- dot products */
/* Tolerance scale as test_kquants.c: Σ_i (|w_i| + max|w| of i's block)·|a_i| over the dequantized rows (the
 * affine types add m·s to d·Σq·a, two terms that can each exceed Σ|w·a|). The f64 reference is the dot of the
 * dequantized rows plus, for Q8_1, each block's m·(s − f16(d_a)·Σq_a): s is its own half (d_a·Σq_a rounded), which
 * the dequantized activations do not carry — ggml's dot products use s as stored. */
static void check_dot(const wtype *t, int64_t n, const void *w, const void *a, const float *wd, const float *ad) {
    const float r = t->dot_ref(n, w, a), f = t->dot(n, w, a);
    double sabs = 0.0, exact = 0.0;
    for (int64_t b = 0; b < n / 32; b++) {
        double mx = 0.0;
        for (int64_t i = b * 32; i < (b + 1) * 32; i++) mx = fmax(mx, fabs((double)wd[i]));
        for (int64_t i = b * 32; i < (b + 1) * 32; i++) {
            sabs += (fabs((double)wd[i]) + mx) * fabs((double)ad[i]);
            exact += (double)wd[i] * ad[i];
        }
        if (t->affine) {
            uint16_t hm;
            memcpy(&hm, (const uint8_t *)w + (size_t)b * t->bytes + 2, 2);   /* m follows d in Q4_1 and Q5_1 */
            const rk_block_q8_1 *ab = (const rk_block_q8_1 *)a + b;
            int sq = 0;
            for (int j = 0; j < 32; j++) sq += ab->qs[j];
            exact += (double)rk_f16_to_f32(hm) * ((double)rk_f16_to_f32(ab->s) - (double)rk_f16_to_f32(ab->d) * sq);
        }
    }
    ck_assert_msg(fabs((double)f - r) <= 1e-5 * sabs + 1e-30, "%s n=%ld: fast %.9g ref %.9g", t->name, (long)n, f, r);
    ck_assert_msg(fabs((double)r - exact) <= 1e-5 * sabs + 1e-30, "%s n=%ld: ref %.9g, f64 dot %.9g", t->name, (long)n, r, exact);
    ck_assert_msg(fabs((double)f - exact) <= 1e-5 * sabs + 1e-30, "%s n=%ld: fast %.9g, f64 dot %.9g", t->name, (long)n, f, exact);
}

START_TEST(test_vec_dot) {
    const int64_t sizes[] = { 32, 96, 256, 1024, 4096 };
    for (int s = 0; s < 5; s++) {
        for (int sd = 0; sd < 5; sd++) {
            seed((uint64_t)(1000 + 10 * s + sd));
            const int64_t n = sizes[s];
            float *x = gauss_row(n, sd == 3 ? 100.0f : 0.05f), *act = gauss_row(n, 1.0f);
            if (sd == 1) for (int64_t i = 0; i < n; i++) x[i] = fabsf(x[i]);                 /* all positive */
            if (sd == 2) for (int64_t i = 0; i < n; i++) act[i] = 1.0f + 0.01f * act[i];      /* no cancellation */
            if (sd == 4) for (int64_t i = 0; i < n; i++) x[i] = 3.0f + x[i];                  /* offset >> range */
            float *wd = malloc(sizeof(float) * (size_t)n), *ad = malloc(sizeof(float) * (size_t)n);
            for (int ti = 0; ti < NTYPES; ti++) {
                const wtype *t = &TYPES[ti];
                uint8_t *w = malloc(qbytes(t, n)), *a = malloc(abytes(t, n));
                for (int wi = 0; wi < 2; wi++) {
                    float *imp = wi ? imp_row(n) : NULL;
                    t->qref(x, w, n, imp);
                    t->dq(w, wd, n);
                    quant_act(t, act, a, n);
                    dequant_act(t, a, ad, n);
                    check_dot(t, n, w, a, wd, ad);
                    free(imp);
                }
                free(w); free(a);
            }
            free(x); free(act); free(wd); free(ad);
        }
    }
}
END_TEST

/* ---- Q8_1 semantics: Q8_0's d and qs (ggml's quantize_row_q8_0_ref and _q8_1_ref agree on them), s = f16(d·Σq)
 * with the f32 d */
START_TEST(test_q8_1) {
    seed(5);
    const int64_t n = 1024;
    float *x = gauss_row(n, 2.0f);
    for (int64_t i = 32; i < 64; i++) x[i] = 0.0f;              /* an all-zero block */
    for (int64_t i = 64; i < 96; i++) x[i] = -fabsf(x[i]);      /* negative-only */
    for (int64_t i = 96; i < 128; i++) x[i] = 0.5f;             /* exact halves: roundf away from zero */
    rk_block_q8_1 *q = malloc(sizeof(rk_block_q8_1) * 32);
    rk_block_q8_0 *q0 = malloc(sizeof(rk_block_q8_0) * 32);
    memset(q, 0x5A, sizeof(rk_block_q8_1) * 32);
    rk_q8_1_quantize_ref(x, q, n);
    rk_q8_0_quantize_ref(x, q0, n);
    for (int b = 0; b < 32; b++) {
        ck_assert_uint_eq(q[b].d, q0[b].d);
        ck_assert(memcmp(q[b].qs, q0[b].qs, 32) == 0);
        float amax = 0.0f;
        int sum = 0;
        for (int j = 0; j < 32; j++) {
            amax = fmaxf(amax, fabsf(x[32 * b + j]));
            sum += q[b].qs[j];
        }
        ck_assert_uint_eq(q[b].s, rk_f32_to_f16((float)sum * (amax / 127.0f)));
        if (b == 1) ck_assert(q[b].d == 0 && q[b].s == 0);
    }
    for (int j = 0; j < 32; j++) ck_assert_int_eq(q[3].qs[j], 127);
    /* rk_quantize_act / rk_act_row_bytes route Q8_1 */
    uint8_t *c = malloc(sizeof(rk_block_q8_1) * 32);
    ck_assert_uint_eq(rk_act_row_bytes(RK_DTYPE_Q8_1, n), 32 * 36);
    ck_assert_uint_eq(rk_act_row_bytes(RK_DTYPE_Q8_0, n), 32 * 34);
    ck_assert_uint_eq(rk_act_row_bytes(RK_DTYPE_Q8_K, n), 4 * 292);
    rk_quantize_act(RK_DTYPE_Q8_1, x, c, n);
    ck_assert(memcmp(c, q, 32 * 36) == 0);
    /* non-finite input: finite halves */
    for (int64_t i = 0; i < n; i++) x[i] = i % 5 == 0 ? NAN : i % 7 == 0 ? INFINITY : gauss() * 1e6f;
    rk_q8_1_quantize(x, q, n);
    for (int b = 0; b < 32; b++) {
        ck_assert(isfinite(rk_f16_to_f32(q[b].d)));
        ck_assert(isfinite(rk_f16_to_f32(q[b].s)));
    }
    free(q); free(q0); free(c); free(x);
}
END_TEST

/* ---- the traits table rows */
START_TEST(test_traits) {
    for (int ti = 0; ti < NTYPES; ti++) {
        const wtype *t = &TYPES[ti];
        const rk_qtype *q = rk_qtype_get(t->ggml_type);
        ck_assert_ptr_nonnull(q);
        ck_assert_str_eq(q->name, t->name);
        ck_assert_int_eq(q->block, 32);
        ck_assert_uint_eq(q->bytes, t->bytes);
        ck_assert_int_eq(q->act_type, t->affine ? RK_DTYPE_Q8_1 : RK_DTYPE_Q8_0);
        ck_assert(q->quantize == t->q && q->quantize_ref == t->qref && q->dequantize == t->dq);
        ck_assert(q->vec_dot == t->dot && q->vec_dot_ref == t->dot_ref);
    }
    int n;
    const int *list = rk_qtype_list(&n);
    double prev = 0;
    int seen = 0;
    for (int i = 0; i < n; i++) {
        const rk_qtype *q = rk_qtype_get(list[i]);
        ck_assert_msg(q->bpw >= prev, "%s out of order", q->name);
        prev = q->bpw;
        seen += list[i] == RK_DTYPE_Q4_1 || list[i] == RK_DTYPE_Q5_0 || list[i] == RK_DTYPE_Q5_1;
    }
    ck_assert_int_eq(seen, 3);
}
END_TEST

/* ---- importance weighting on rows with planted outliers and hot columns */
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
        for (int64_t b = 0; b < n / 32; b++) {
            const int64_t o = b * 32;
            const double e1 = werr(x + o, y1 + o, w + o, 32), e0 = werr(x + o, y0 + o, w + o, 32);
            ck_assert_msg(e1 <= e0 * (1 + 1e-12) + 1e-30, "%s block %ld: imp %.9g > plain %.9g", t->name, (long)b, e1, e0);
        }
        sum_imp += werr(x, y1, w, n);
        sum_plain += werr(x, y0, w, n);
        free(x); free(w); free(q); free(y0); free(y1);
    }
    ck_assert_msg(sum_imp < 0.97 * sum_plain, "%s: imp gains too little: %.6g vs %.6g", t->name, sum_imp, sum_plain);
}
END_TEST

/* ---- error bounds: RMS error per block against the level step (affine: range/nmax; Q5_0: 2·max|x|/31) */
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
        for (int64_t b = 0; b < n / 32; b++) {
            float lo = x[b * 32], hi = lo;
            for (int64_t i = 0; i < 32; i++) {
                lo = fminf(lo, x[b * 32 + i]);
                hi = fmaxf(hi, x[b * 32 + i]);
            }
            const double rms = sqrt(werr(x + b * 32, y + b * 32, NULL, 32) / 32.0);
            const double step = t->affine ? (double)(hi - lo) / t->nmax : 2.0 * fmax(fabs(lo), fabs(hi)) / t->nmax;
            if (rms / step > worst) worst = rms / step;
        }
        /* uniform rounding noise is step/sqrt(12) = 0.29 step; Q5_0's RTN maps max|x| to −16, so the other sign
         * clips at 15 steps (a little more); with imp the unweighted RMS may grow where weights are near 0 (these
         * weights are u1·u2·4), more so with Q5_0's finer step */
        ck_assert_msg(worst < (wi ? 0.6 : t->affine ? 0.35 : 0.45), "%s imp=%d: worst block RMS = %.3f steps", t->name, wi, worst);
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
    for (int kind = 0; kind < 8; kind++) {
        seed((uint64_t)kind);
        for (int64_t i = 0; i < n; i++) {
            const float g = gauss();
            x[i] = kind == 0 ? 0.0f : kind == 1 ? g * 1e38f : kind == 2 ? g * 1e-42f : kind == 3 ? -fabsf(g) * 1e6f
                 : kind == 7 ? 1e30f + g : g;
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
    for (int ti = 0; ti < NTYPES; ti++) {
        const wtype *t = &TYPES[ti];
        uint8_t *q = malloc(qbytes(t, big)), *a = malloc(abytes(t, big));
        double best[2] = { 1e9, 1e9 };
        for (int wi = 0; wi < 2; wi++)
            for (int r = 0; r < 2; r++) {
                const double t0 = now();
                t->q(x, q, n, wi ? w : NULL);
                best[wi] = fmin(best[wi], now() - t0);
            }
        for (int64_t o = 0; o < big; o += n) memcpy(xa + o, x, sizeof(float) * (size_t)n);
        t->q(xa, q, big, NULL);
        seed(2);
        for (int64_t i = 0; i < big; i++) xa[i] = gauss();
        quant_act(t, xa, a, big);
        double bd = 1e9, bdr = 1e9;
        volatile float sink = 0;
        for (int r = 0; r < 3; r++) {
            double t0 = now();
            sink += t->dot(big, q, a);
            bd = fmin(bd, now() - t0);
            t0 = now();
            sink += t->dot_ref(big, q, a);
            bdr = fmin(bdr, now() - t0);
        }
        printf("BENCH %s quantize %.1f MB/s (imp %.1f MB/s) | vec_dot %.2f GB/s of weights (ref %.2f GB/s)\n", t->name,
               4.0 * n / best[0] / 1e6, 4.0 * n / best[1] / 1e6, qbytes(t, big) / bd / 1e9, qbytes(t, big) / bdr / 1e9);
        free(q); free(a);
    }
    uint8_t *a = malloc((size_t)(big / 32) * 36);
    const double t0 = now();
    rk_q8_1_quantize(xa, a, big);
    printf("BENCH Q8_1 quantize %.1f MB/s\n", 4.0 * big / (now() - t0) / 1e6);
    free(a);
    omp_set_num_threads(saved);
    free(x); free(w); free(xa);
}
END_TEST

Suite *make_suite(void) {
    Suite *s = suite_create("quantize_q5");
    TCase *tc = tcase_create("layout");
    tcase_add_test(tc, test_layout);
    tcase_add_test(tc, test_traits);
    suite_add_tcase(s, tc);
    tc = tcase_create("golden");
    tcase_add_loop_test(tc, test_golden, 0, NTYPES);
    suite_add_tcase(s, tc);
    tc = tcase_create("ref_vs_opt");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, test_ref_vs_fast, 0, NTYPES);
    tcase_add_test(tc, test_vec_dot);
    tcase_add_loop_test(tc, test_threads, 0, NTYPES);
    suite_add_tcase(s, tc);
    tc = tcase_create("quality");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_q8_1);
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
