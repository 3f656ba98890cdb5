/* tests/quantize/test_qfast.c — the fast quantizers (rk_qtype.quantize: AVX2 searches where the CPU has them)
 * against their scalar definitions (quantize_ref), bit for bit, on rows built to reach the corners of the
 * searches: all-zero, constant, one-signed, huge (near the 1e30 clamp and beyond the F16 range of the scales),
 * tiny and subnormal, scales that change by powers of two from sub-block to sub-block, sparse rows, values on
 * exact level ties, non-finite values; each without importance, with random importance including zeros, with
 * all-zero, spiky and out-of-contract (negative/NaN) importance. Every weight type in the traits table; a few
 * seconds even under ASan. RK_FORCE_REF=1 makes both sides scalar (then the test is trivially green). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quantize/quants.h"
#include "tests/common/rk_test.h"

static uint64_t g_rng;
static void seed(uint64_t s) { g_rng = s * 0x9E3779B97F4A7C15ull + 0x1234567ull; }
static uint64_t rnd(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}
static double urand(void) { return (double)(rnd() >> 11) * 0x1p-53; }
static float gauss(void) {
    const double u = urand() + 1e-300, v = urand();
    return (float)(sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}

enum { NKINDS = 14, NIMPS = 6 };
static const char *KIND_NAMES[NKINDS] = { "gauss", "outliers", "zero", "const+", "const-", "negative", "positive",
                                          "huge", "tiny", "subnormal", "subblock-scales", "sparse", "ties",
                                          "nonfinite" };
static const char *IMP_NAMES[NIMPS] = { "none", "random", "random+zeros", "all-zero", "spiky", "bad-values" };

static void make_row(int kind, float *x, int64_t n) {
    const float c = (float)(urand() * 3.0 + 0.01);
    float scale = 1.0f;
    for (int64_t i = 0; i < n; i++) {
        const float g = gauss();
        if (kind != 10 || i % 16 == 0) scale = ldexpf(1.0f, (int)(rnd() % 81) - 40);
        switch (kind) {
        case 0: x[i] = 0.02f * g; break;
        case 1: x[i] = (rnd() % 37 == 0) ? 30.0f * g : 0.02f * g; break;
        case 2: x[i] = 0.0f; break;
        case 3: x[i] = c; break;
        case 4: x[i] = -c; break;
        case 5: x[i] = -fabsf(g) * 0.1f - 1e-4f; break;
        case 6: x[i] = fabsf(g) + 5.0f; break;
        case 7: x[i] = g * 1e29f * (float)(1 + rnd() % 20); break;     /* some beyond the 1e30 clamp */
        case 8: x[i] = g * 1e-30f; break;
        case 9: x[i] = g * 1e-41f; break;                              /* f32 subnormals */
        case 10: x[i] = g * scale; break;
        case 11: x[i] = (rnd() % 11 == 0) ? g : 0.0f; break;
        case 12: x[i] = 0.5f * (float)((int)(rnd() % 33) - 16); break;  /* halves: rounding ties everywhere */
        default: {
            const uint64_t r = rnd() % 50;
            x[i] = r == 0 ? NAN : r == 1 ? INFINITY : r == 2 ? -INFINITY : g;
        }
        }
    }
}

static void make_imp(int kind, float *w, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        const double u = urand();
        switch (kind) {
        case 1: w[i] = (float)(u * u * 8.0); break;
        case 2: w[i] = (rnd() % 3 == 0) ? 0.0f : expf(3.0f * gauss()); break;
        case 3: w[i] = 0.0f; break;
        case 4: w[i] = (rnd() % 64 == 0) ? 1e6f : 1e-3f; break;
        default: {
            const uint64_t r = rnd() % 8;
            w[i] = r == 0 ? -1.0f : r == 1 ? NAN : r == 2 ? INFINITY : r == 3 ? 1e35f : (float)u;
        }
        }
    }
}

/* rows of 256 or 512 (two blocks: the second block gets a different kind, so per-block state cannot leak) */
START_TEST(test_fast_eq_ref) {
    int nt;
    const int *types = rk_qtype_list(&nt);
    ck_assert_int_gt(nt, 0);
    const rk_qtype *q = rk_qtype_get(types[_i % nt]);
    ck_assert_ptr_nonnull(q);
    enum { N = 512 };
    float x[N], w[N];
    uint8_t a[N / 32 * 40], b[N / 32 * 40];
    int checked = 0;
    for (int kind = 0; kind < NKINDS; kind++) {
        for (int ik = 0; ik < NIMPS; ik++) {
            for (int rep = 0; rep < 2; rep++) {
                seed((uint64_t)(q->type * 1000 + kind * 31 + ik * 7 + rep));
                const int64_t n = rep ? 512 : 256;
                make_row(kind, x, 256);
                if (n > 256) make_row((kind + 5) % NKINDS, x + 256, 256);
                make_imp(ik, w, n);
                const size_t bytes = (size_t)(n / q->block) * q->bytes;
                ck_assert_uint_le(bytes, sizeof a);
                memset(a, 0xA5, bytes);
                memset(b, 0x5A, bytes);
                q->quantize_ref(x, a, n, ik ? w : NULL);
                q->quantize(x, b, n, ik ? w : NULL);
                size_t d = 0;
                while (d < bytes && a[d] == b[d]) d++;
                ck_assert_msg(d == bytes, "%s: rows \"%s\" (n=%ld), imp \"%s\": fast differs from ref at byte %zu "
                              "(block %zu)", q->name, KIND_NAMES[kind], (long)n, IMP_NAMES[ik], d, d / q->bytes);
                checked++;
            }
        }
    }
    ck_assert_int_eq(checked, NKINDS * NIMPS * 2);
}
END_TEST

/* many ordinary random rows (weights-like, with random importance), several blocks each */
START_TEST(test_fast_eq_ref_random) {
    int nt;
    const int *types = rk_qtype_list(&nt);
    const rk_qtype *q = rk_qtype_get(types[_i % nt]);
    enum { N = 1024 };
    float *x = malloc(N * sizeof *x), *w = malloc(N * sizeof *w);
    uint8_t *a = malloc(N / 32 * 40), *b = malloc(N / 32 * 40);
    ck_assert(x && w && a && b);
    for (int r = 0; r < 4; r++) {
        seed((uint64_t)(q->type * 77 + r));
        const float sc = (float)ldexp(1.0, (int)(rnd() % 30) - 20);
        for (int64_t i = 0; i < N; i++) {
            x[i] = sc * gauss() + (r == 3 ? 0.5f * sc : 0.0f);
            w[i] = (rnd() % 10 == 0) ? 0.0f : (float)urand();
        }
        const size_t bytes = (size_t)(N / q->block) * q->bytes;
        for (int wi = 0; wi < 2; wi++) {
            q->quantize_ref(x, a, N, wi ? w : NULL);
            q->quantize(x, b, N, wi ? w : NULL);
            size_t d = 0;
            while (d < bytes && a[d] == b[d]) d++;
            ck_assert_msg(d == bytes, "%s: random row %d, imp %d: fast differs from ref at block %zu", q->name, r, wi,
                          d / q->bytes);
        }
    }
    free(x); free(w); free(a); free(b);
}
END_TEST

Suite *make_suite(void) {
    int nt;
    rk_qtype_list(&nt);
    Suite *s = suite_create("quantize_qfast");
    TCase *tc = tcase_create("ref_vs_opt");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_fast_eq_ref, 0, nt);
    tcase_add_loop_test(tc, test_fast_eq_ref_random, 0, nt);
    suite_add_tcase(s, tc);
    return s;
}

RK_TEST_MAIN()
