/* tests/quantize/test_lowquants.c — Q6_K, Q3_K, Q2_K and TQ2_0 (quantize/blocks_low.h).
 *
 * Golden files tests/quantize/golden_low/<type>.bin (written by this test when RK_GOLDEN_WRITE=1, then committed;
 * all numbers little-endian):
 *     char     magic[8] = "RKLQGLD1"
 *     uint32   ggml type id, n (floats, a multiple of 256), block bytes, 0 (reserved)
 *     float32  x[n]          input row (3 blocks: gaussian; outliers + zeros; negative-only small values)
 *     float32  imp[n]        importance weights
 *     uint8    q[n/256 · block bytes]    rk_T_quantize_ref(x, ·, n, NULL)
 *     uint8    qi[n/256 · block bytes]   rk_T_quantize_ref(x, ·, n, imp)
 *     float32  y[n], yi[n]   rk_T_dequantize of q and qi
 * The decoder half (q -> y) was checked bit for bit against ggml's own dequantize_row_* by hand (see
 * docs/quant-formats.md); this test pins both halves against regressions. */
#include "tests/common/rk_test.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quantize/blocks_low.h"

/* ggml's block_q8_K and quantize_row_q8_K_ref semantics (d = max/−127 signed, round-half-even, min(127, q)). */
typedef struct { float d; int8_t qs[256]; int16_t bsums[16]; } t_q8k;
_Static_assert(sizeof(t_q8k) == 292, "Q8_K layout");

static int t_nearest(float f) {
    float v = f + 12582912.f;
    int32_t i;
    memcpy(&i, &v, 4);
    return (i & 0x007fffff) - 0x00400000;
}

static void t_q8k_quantize(const float *x, t_q8k *y, int64_t n) {
    for (int64_t b = 0; b < n / 256; b++, x += 256) {
        float mx = 0, amax = 0;
        for (int j = 0; j < 256; j++)
            if (fabsf(x[j]) > amax) { amax = fabsf(x[j]); mx = x[j]; }
        memset(&y[b], 0, sizeof y[b]);
        if (amax == 0.0f) continue;
        const float is = -127.f / mx;
        for (int j = 0; j < 256; j++) {
            const int v = t_nearest(is * x[j]);
            y[b].qs[j] = (int8_t)(v < 127 ? v : 127);
        }
        for (int j = 0; j < 16; j++) {
            int s = 0;
            for (int i = 0; i < 16; i++) s += y[b].qs[16 * j + i];
            y[b].bsums[j] = (int16_t)s;
        }
        y[b].d = 1 / is;
    }
}

typedef struct {
    const char *name;
    int type;
    size_t bytes;
    void (*qref)(const float *, void *, int64_t, const float *);
    void (*q)(const float *, void *, int64_t, const float *);
    void (*dq)(const void *, float *, int64_t);
    float (*dot_ref)(int64_t, const void *, const void *);
    float (*dot)(int64_t, const void *, const void *);
    double bound_gauss;     /* max relative RMS error on gaussian rows, unweighted */
} t_type;

static const t_type TYPES[] = {
    {"q6_k", 14, 210, rk_q6k_quantize_ref, rk_q6k_quantize, rk_q6k_dequantize, rk_q6k_vec_dot_ref, rk_q6k_vec_dot, 0.021},
    {"q3_k", 11, 110, rk_q3k_quantize_ref, rk_q3k_quantize, rk_q3k_dequantize, rk_q3k_vec_dot_ref, rk_q3k_vec_dot, 0.17},
    {"q2_k", 10, 84, rk_q2k_quantize_ref, rk_q2k_quantize, rk_q2k_dequantize, rk_q2k_vec_dot_ref, rk_q2k_vec_dot, 0.32},
    {"tq2_0", 35, 66, rk_tq2_0_quantize_ref, rk_tq2_0_quantize, rk_tq2_0_dequantize, rk_tq2_0_vec_dot_ref, rk_tq2_0_vec_dot, 0.48},
};
#define NTYPES ((int)(sizeof TYPES / sizeof TYPES[0]))

static uint64_t rng_s;
static uint64_t rng_u64(void) {
    rng_s ^= rng_s >> 12; rng_s ^= rng_s << 25; rng_s ^= rng_s >> 27;
    return rng_s * 0x2545F4914F6CDD1DULL;
}
static double rng_unif(void) { return ((rng_u64() >> 11) + 0.5) * 0x1p-53; }
static float rng_gauss(void) { return (float)(sqrt(-2.0 * log(rng_unif())) * cos(6.283185307179586 * rng_unif())); }

static void fill_gauss(float *x, int64_t n, float scale) {
    for (int64_t i = 0; i < n; i++) x[i] = scale * rng_gauss();
}
static void fill_imp(float *w, int64_t n) {
    for (int64_t i = 0; i < n; i++) w[i] = (float)(0.05 + rng_unif() * rng_unif() * 4.0);
}

static double werr(const float *x, const float *y, const float *w, int64_t n) {
    double e = 0;
    for (int64_t i = 0; i < n; i++) e += (w ? w[i] : 1.0) * ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
    return e;
}

/* ---------------------------------------------------------------- golden */
static void golden_input(float *x, float *imp) {
    rng_s = 0x5EED1234ULL;
    fill_gauss(x, 256, 0.02f);
    fill_gauss(x + 256, 256, 0.01f);
    for (int i = 0; i < 256; i += 37) x[256 + i] = (i & 1 ? -1.0f : 1.0f) * 0.3f;
    for (int i = 3; i < 256; i += 11) x[256 + i] = 0.0f;
    for (int i = 0; i < 256; i++) x[512 + i] = -(float)(1e-3 * rng_unif());
    fill_imp(imp, 768);
}

static void check_golden(const t_type *t) {
    enum { N = 768 };
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/quantize/golden_low/%s.bin", rk_test_source_dir(), t->name);
    const size_t qb = N / 256 * t->bytes;
    const size_t total = 24 + 2 * N * 4 + 2 * qb + 2 * N * 4;
    if (getenv("RK_GOLDEN_WRITE")) {
        uint8_t *buf = calloc(1, total);
        float *x = malloc(N * 4), *imp = malloc(N * 4), *y = malloc(N * 4);
        golden_input(x, imp);
        memcpy(buf, "RKLQGLD1", 8);
        const uint32_t hdr[4] = {(uint32_t)t->type, N, (uint32_t)t->bytes, 0};
        memcpy(buf + 8, hdr, 16);
        uint8_t *p = buf + 24;
        memcpy(p, x, N * 4); p += N * 4;
        memcpy(p, imp, N * 4); p += N * 4;
        t->qref(x, p, N, NULL);
        t->qref(x, p + qb, N, imp);
        t->dq(p, y, N);
        memcpy(p + 2 * qb, y, N * 4);
        t->dq(p + qb, y, N);
        memcpy(p + 2 * qb + N * 4, y, N * 4);
        rk_test_write_file(path, buf, total);
        free(buf); free(x); free(imp); free(y);
    }
    size_t n = 0;
    uint8_t *buf = rk_test_read_file(path, &n);
    ck_assert_msg(buf != NULL, "missing golden file %s (RK_GOLDEN_WRITE=1 makes it)", path);
    ck_assert_uint_eq(n, total);
    ck_assert(memcmp(buf, "RKLQGLD1", 8) == 0);
    uint32_t hdr[4];
    memcpy(hdr, buf + 8, 16);
    ck_assert_uint_eq(hdr[0], (uint32_t)t->type);
    ck_assert_uint_eq(hdr[1], N);
    ck_assert_uint_eq(hdr[2], t->bytes);
    float *x = malloc(N * 4), *imp = malloc(N * 4), *y = malloc(N * 4), *yref = malloc(N * 4);
    uint8_t *q = malloc(qb);
    const uint8_t *p = buf + 24;
    memcpy(x, p, N * 4);
    memcpy(imp, p + N * 4, N * 4);
    const uint8_t *gq = p + 2 * N * 4, *gqi = gq + qb, *gy = gqi + qb, *gyi = gy + N * 4;
    /* decoder: golden bytes -> golden floats, bit for bit */
    t->dq(gq, y, N);
    memcpy(yref, gy, N * 4);
    ck_assert_msg(memcmp(y, yref, N * 4) == 0, "%s: dequantize differs from golden", t->name);
    t->dq(gqi, y, N);
    memcpy(yref, gyi, N * 4);
    ck_assert_msg(memcmp(y, yref, N * 4) == 0, "%s: dequantize (imp) differs from golden", t->name);
    /* quantizer: golden input -> golden bytes */
    t->qref(x, q, N, NULL);
    ck_assert_msg(memcmp(q, gq, qb) == 0, "%s: quantize_ref differs from golden", t->name);
    t->qref(x, q, N, imp);
    ck_assert_msg(memcmp(q, gqi, qb) == 0, "%s: quantize_ref (imp) differs from golden", t->name);
    t->q(x, q, N, imp);
    ck_assert_msg(memcmp(q, gqi, qb) == 0, "%s: quantize (imp) differs from golden", t->name);
    free(buf); free(x); free(imp); free(y); free(yref); free(q);
}

START_TEST(golden) { check_golden(&TYPES[_i]); }
END_TEST

/* ---------------------------------------------------------------- ref vs opt, threads */
START_TEST(ref_vs_opt) {
    const t_type *t = &TYPES[_i];
    const int64_t sizes[] = {256, 512, 1280, 4096};
    for (int si = 0; si < 4; si++)
        for (uint64_t seed = 1; seed <= 3; seed++) {
            const int64_t n = sizes[si];
            rng_s = seed * 0x9E3779B97F4A7C15ULL + (uint64_t)n;
            float *x = malloc(n * 4), *imp = malloc(n * 4);
            fill_gauss(x, n, (float)(0.001 * seed * seed));
            for (int64_t i = 0; i < n; i += 97) x[i] *= 20.0f;
            fill_imp(imp, n);
            const size_t qb = (size_t)(n / 256) * t->bytes;
            uint8_t *a = malloc(qb), *b = malloc(qb);
            for (int wi = 0; wi < 2; wi++) {
                const float *w = wi ? imp : NULL;
                t->qref(x, a, n, w);
                t->q(x, b, n, w);
                ck_assert_msg(memcmp(a, b, qb) == 0, "%s n=%lld seed=%llu imp=%d: quantize != ref", t->name,
                              (long long)n, (unsigned long long)seed, wi);
            }
            free(x); free(imp); free(a); free(b);
        }
}
END_TEST

START_TEST(threads) {
    const t_type *t = &TYPES[_i];
    const int64_t n = 4096;
    rng_s = 77;
    float *x = malloc(n * 4), *imp = malloc(n * 4);
    fill_gauss(x, n, 0.05f);
    fill_imp(imp, n);
    const size_t qb = (size_t)(n / 256) * t->bytes;
    uint8_t *a = malloc(qb), *b = malloc(qb);
    const int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    t->q(x, a, n, imp);
    omp_set_num_threads(2);
    t->q(x, b, n, imp);
    ck_assert(memcmp(a, b, qb) == 0);
    omp_set_num_threads(3);
    t->q(x, b, n, imp);
    ck_assert(memcmp(a, b, qb) == 0);
    omp_set_num_threads(saved);
    free(x); free(imp); free(a); free(b);
}
END_TEST

/* ---------------------------------------------------------------- vec_dot */
START_TEST(vec_dot) {
    const t_type *t = &TYPES[_i];
    const int64_t sizes[] = {256, 768, 4096};
    for (int si = 0; si < 3; si++)
        for (uint64_t seed = 1; seed <= 3; seed++) {
            const int64_t n = sizes[si];
            rng_s = seed * 1000003ULL + (uint64_t)n;
            float *x = malloc(n * 4), *act = malloc(n * 4), *xd = malloc(n * 4), *ad = malloc(n * 4);
            fill_gauss(x, n, 0.02f);
            fill_gauss(act, n, 1.0f + (float)seed);
            if (seed == 3) for (int64_t i = 0; i < n; i++) x[i] = -fabsf(x[i]);
            uint8_t *q = malloc((size_t)(n / 256) * t->bytes);
            t_q8k *aq = malloc((size_t)(n / 256) * sizeof(t_q8k));
            t->qref(x, q, n, NULL);
            t_q8k_quantize(act, aq, n);
            t->dq(q, xd, n);
            double exact = 0, mag = 0;
            for (int64_t b = 0; b < n / 256; b++)
                for (int j = 0; j < 256; j++) {
                    ad[b * 256 + j] = aq[b].d * aq[b].qs[j];
                    exact += (double)xd[b * 256 + j] * ad[b * 256 + j];
                    mag += fabs((double)xd[b * 256 + j] * ad[b * 256 + j]);
                }
            const float r = t->dot_ref(n, q, aq), f = t->dot(n, q, aq);
            ck_assert_msg(fabs((double)r - f) <= 1e-5 * fabs((double)r) + 1e-7 * mag, "%s n=%lld: dot %.9g ref %.9g",
                          t->name, (long long)n, f, r);
            ck_assert_msg(fabs(r - exact) <= 1e-5 * mag + 1e-30, "%s n=%lld: ref %.9g vs f32 dot %.9g (mag %g)",
                          t->name, (long long)n, r, exact, mag);
            free(x); free(act); free(xd); free(ad); free(q); free(aq);
        }
}
END_TEST

/* ---------------------------------------------------------------- importance, error bounds */
START_TEST(imp_better) {
    const t_type *t = &TYPES[_i];
    const int64_t n = 2048;
    for (uint64_t seed = 1; seed <= 4; seed++) {
        rng_s = seed * 31337ULL;
        float *x = malloc(n * 4), *imp = malloc(n * 4), *y = malloc(n * 4), *yi = malloc(n * 4);
        fill_gauss(x, n, 0.01f);
        fill_imp(imp, n);
        for (int64_t i = 0; i < n; i += 61) { x[i] *= 12.0f; imp[i] *= 0.05f; }   /* planted outliers that matter little */
        for (int64_t i = 5; i < n; i += 29) imp[i] *= 30.0f;                      /* a few columns that matter a lot */
        uint8_t *q = malloc((size_t)(n / 256) * t->bytes);
        t->q(x, q, n, NULL);
        t->dq(q, y, n);
        t->q(x, q, n, imp);
        t->dq(q, yi, n);
        const double e0 = werr(x, y, imp, n), e1 = werr(x, yi, imp, n);
        ck_assert_msg(e1 <= e0, "%s seed %llu: weighted error with imp %g > without %g", t->name,
                      (unsigned long long)seed, e1, e0);
        if (seed == 1) printf("%-6s weighted error with imp / without: %.3f\n", t->name, e1 / e0);
        free(x); free(imp); free(y); free(yi); free(q);
    }
}
END_TEST

START_TEST(error_bound) {
    const t_type *t = &TYPES[_i];
    const int64_t n = 4096;
    rng_s = 4242;
    float *x = malloc(n * 4), *y = malloc(n * 4);
    fill_gauss(x, n, 0.03f);
    uint8_t *q = malloc((size_t)(n / 256) * t->bytes);
    t->q(x, q, n, NULL);
    t->dq(q, y, n);
    double ss = 0;
    for (int64_t i = 0; i < n; i++) ss += (double)x[i] * x[i];
    const double rel = sqrt(werr(x, y, NULL, n) / ss);
    printf("%-6s gaussian relative RMS error %.4f (bound %.3f)\n", t->name, rel, t->bound_gauss);
    ck_assert_msg(rel <= t->bound_gauss, "%s: relative RMS error %g > %g", t->name, rel, t->bound_gauss);
    /* scale invariance in the normal range: ×2^k gives the same relative error */
    for (int64_t i = 0; i < n; i++) x[i] *= 64.0f;
    t->q(x, q, n, NULL);
    t->dq(q, y, n);
    ck_assert(sqrt(werr(x, y, NULL, n) / (ss * 4096.0)) <= t->bound_gauss);
    free(x); free(y); free(q);
}
END_TEST

/* ---------------------------------------------------------------- edge inputs */
START_TEST(edge_inputs) {
    const t_type *t = &TYPES[_i];
    enum { N = 256 };
    float x[N], y[N], imp[N];
    uint8_t q[256];
    for (int kind = 0; kind < 9; kind++) {
        rng_s = 99 + (uint64_t)kind;
        fill_gauss(x, N, 1.0f);
        fill_imp(imp, N);
        switch (kind) {
        case 0: memset(x, 0, sizeof x); break;
        case 1: for (int i = 0; i < N; i++) x[i] *= 1e30f; break;
        case 2: for (int i = 0; i < N; i++) x[i] *= 3e38f / 6.0f; break;
        case 3: for (int i = 0; i < N; i++) x[i] *= 1e-40f; break;
        case 4: for (int i = 0; i < N; i++) x[i] = -fabsf(x[i]); break;
        case 5: x[3] = NAN; x[7] = INFINITY; x[200] = -INFINITY; break;
        case 6: for (int i = 0; i < N; i++) x[i] = NAN; break;
        case 7: memset(imp, 0, sizeof imp); imp[9] = NAN; imp[10] = -1.0f; imp[11] = INFINITY; break;
        case 8: for (int i = 0; i < N; i++) x[i] = 0.25f; break;
        }
        for (int wi = 0; wi < 2; wi++) {
            t->qref(x, q, N, wi ? imp : NULL);
            t->dq(q, y, N);
            for (int i = 0; i < N; i++)
                ck_assert_msg(isfinite(y[i]), "%s kind %d imp %d: y[%d] = %g", t->name, kind, wi, i, y[i]);
            if (kind == 0 || kind == 6)
                for (int i = 0; i < N; i++) ck_assert_msg(y[i] == 0.0f, "%s kind %d: nonzero", t->name, kind);
            if (kind == 8 && t->type != 10) /* constant rows are exact for the symmetric types */
                for (int i = 0; i < N; i++) ck_assert_msg(y[i] == 0.25f, "%s: %g", t->name, y[i]);
        }
    }
}
END_TEST

START_TEST(ternary_exact) {
    /* values already ternary × an F16-representable scale come back exactly */
    enum { N = 512 };
    float x[N], y[N];
    uint8_t q[2 * 66];
    rng_s = 5;
    for (int i = 0; i < N; i++) {
        const uint64_t r = rng_u64() % 3;
        x[i] = (float)((int)r - 1) * (i < 256 ? 0.0625f : 3.5f);
    }
    rk_tq2_0_quantize_ref(x, q, N, NULL);
    rk_tq2_0_dequantize(q, y, N);
    ck_assert(memcmp(x, y, sizeof x) == 0);
}
END_TEST

Suite *make_suite(void) {
    Suite *s = suite_create("quantize_lowquants");
    TCase *tc = tcase_create("golden");
    tcase_add_loop_test(tc, golden, 0, NTYPES);
    suite_add_tcase(s, tc);
    tc = tcase_create("ref_vs_opt");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, ref_vs_opt, 0, NTYPES);
    tcase_add_loop_test(tc, threads, 0, NTYPES);
    suite_add_tcase(s, tc);
    tc = tcase_create("vec_dot");
    tcase_add_loop_test(tc, vec_dot, 0, NTYPES);
    suite_add_tcase(s, tc);
    tc = tcase_create("quality");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, imp_better, 0, NTYPES);
    tcase_add_loop_test(tc, error_bound, 0, NTYPES);
    tcase_add_loop_test(tc, edge_inputs, 0, NTYPES);
    tcase_add_test(tc, ternary_exact);
    suite_add_tcase(s, tc);
    return s;
}

RK_TEST_MAIN()
