/* tests/model/test_kernels.c — the engine kernels: fast paths against the scalar references (every weight
 * dtype, FP8 partial edge blocks and odd block sizes, odd sizes 1, 2, 31, 33, 255, 257), determinism across
 * runs and thread counts, batch invariance of the matmul, RK_FORCE_REF, the AVX-512 prefill kernel against the AVX2
 * one bit for bit (RK_NO_AVX512), and the forward values of softmax,
 * cross-entropy, RMSNorm, SwiGLU, RoPE and attention against double-precision loops written here.
 * RK_BENCH=1 in the environment also prints matmul GFLOP/s (2048x2048, n = 1 and 128, per dtype). */
#include <check.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "formats/numeric.h"
#include "model/kernels.h"
#include "tests/common/rk_test.h"

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static float frand(void) {   /* uniform in [-1, 1) */
    g_rng ^= g_rng << 13; g_rng ^= g_rng >> 7; g_rng ^= g_rng << 17;
    return (float)((g_rng >> 40) * 0x1p-24 * 2.0 - 1.0);
}
static float *rand_vec(int64_t n, float scale) {
    float *v = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    for (int64_t i = 0; i < n; i++) v[i] = frand() * scale;
    return v;
}

/* A weight matrix in one dtype, built from random f32 values whose magnitude varies by block (so FP8 block
 * scales differ). */
typedef struct wbuf { rk_wview v; void *data; float *scale; } wbuf;
static void wbuf_make(wbuf *b, int dtype, int64_t rows, int64_t cols, int64_t block) {
    float *f = malloc(sizeof(float) * (size_t)(rows * cols + 1));
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++)
            f[r * cols + c] = frand() * (float)(1 + (r / 16 + c / 16) % 7) * 0.25f;
    memset(b, 0, sizeof *b);
    b->v.dtype = dtype;
    b->v.rows = rows;
    b->v.cols = cols;
    size_t es = dtype == RK_DTYPE_F32 ? 4 : dtype == RK_DTYPE_F8_E4M3 ? 1 : 2;
    b->data = malloc(es * (size_t)(rows * cols) + 1);
    if (dtype == RK_DTYPE_F8_E4M3) {
        const int64_t sr = (rows + block - 1) / block, sc = (cols + block - 1) / block;
        b->scale = malloc(sizeof(float) * (size_t)(sr * sc + 1));
        rk_fp8_block_quant(f, rows, cols, block, b->data, b->scale);
        b->v.scale = b->scale;
        b->v.block = block;
    } else {
        ck_assert_int_eq(rk_convert_from_f32(dtype, f, b->data, (size_t)(rows * cols)), 0);
    }
    b->v.data = b->data;
    free(f);
}
static void wbuf_free(wbuf *b) { free(b->data); free(b->scale); }

static const int DTYPES[] = { RK_DTYPE_F32, RK_DTYPE_F16, RK_DTYPE_BF16, RK_DTYPE_F8_E4M3 };
static const int64_t SIZES[] = { 1, 2, 31, 33, 255, 257 };
#define NSIZES 6

/* Count outputs with |a - ref| > rtol·Σ|x·w| + atol (the scale a dot product's rounding error lives on). */
static int matmul_mismatches(const float *y, const float *yref, const float *x, const rk_wview *w, const float *bias,
                             int64_t n, double rtol, double *worst) {
    int bad = 0;
    float *row = malloc(sizeof(float) * (size_t)(w->cols + 1));
    for (int64_t r = 0; r < w->rows; r++) {
        rk_wview_row(w, r, row);
        for (int64_t t = 0; t < n; t++) {
            double mag = bias ? fabs(bias[r]) : 0.0;
            for (int64_t c = 0; c < w->cols; c++) mag += fabs((double)x[t * w->cols + c] * row[c]);
            const double e = fabs((double)y[t * w->rows + r] - yref[t * w->rows + r]);
            const double rel = e / (mag + 1e-30);
            if (rel > *worst) *worst = rel;
            bad += !(e <= rtol * mag + 1e-30);
        }
    }
    free(row);
    return bad;
}

START_TEST(matmul_ref_vs_fast) {
    const int dtype = DTYPES[_i];
    int bad = 0, cases = 0;
    double worst = 0.0;
    for (int i = 0; i < NSIZES; i++)
        for (int j = 0; j < NSIZES; j++) {
            const int64_t rows = SIZES[i], cols = SIZES[j];
            const int64_t ns[4] = { 1, 2, 3, SIZES[(i + j) % NSIZES] };
            wbuf b;
            wbuf_make(&b, dtype, rows, cols, 128);
            for (int k = 0; k < 4; k++) {
                const int64_t n = ns[k];
                float *x = rand_vec(n * cols, 1.0f), *bias = (k & 1) ? rand_vec(rows, 1.0f) : NULL;
                float *y = malloc(sizeof(float) * (size_t)(n * rows)), *yr = malloc(sizeof(float) * (size_t)(n * rows));
                rk_matmul(y, x, &b.v, bias, n);
                rk_matmul_ref(yr, x, &b.v, bias, n);
                int m = matmul_mismatches(y, yr, x, &b.v, bias, n, 1e-6, &worst);
                if (m) fprintf(stderr, "dtype %d rows %lld cols %lld n %lld: %d mismatches\n", dtype, (long long)rows,
                               (long long)cols, (long long)n, m);
                bad += m;
                cases++;
                free(x); free(bias); free(y); free(yr);
            }
            wbuf_free(&b);
        }
    ck_assert_msg(bad == 0, "%s: %d outputs beyond 1e-6*sum|x*w| (worst %.3g) in %d cases", rk_dtype_name(dtype), bad,
                  worst, cases);
}
END_TEST

/* FP8 with block sizes that are not 128 (16: decode path; 8 and 5: tiled path), partial edge blocks. */
START_TEST(matmul_fp8_blocks) {
    const int64_t blocks[] = { 16, 8, 5, 128, 1 };
    int bad = 0;
    double worst = 0.0;
    for (size_t bi = 0; bi < sizeof blocks / sizeof blocks[0]; bi++)
        for (int64_t n = 1; n <= 5; n += 2) {
            const int64_t rows = 37, cols = 150;
            wbuf b;
            wbuf_make(&b, RK_DTYPE_F8_E4M3, rows, cols, blocks[bi]);
            float *x = rand_vec(n * cols, 2.0f), *y = malloc(sizeof(float) * (size_t)(n * rows));
            float *yr = malloc(sizeof(float) * (size_t)(n * rows));
            rk_matmul(y, x, &b.v, NULL, n);
            rk_matmul_ref(yr, x, &b.v, NULL, n);
            bad += matmul_mismatches(y, yr, x, &b.v, NULL, n, 1e-6, &worst);
            free(x); free(y); free(yr);
            wbuf_free(&b);
        }
    ck_assert_msg(bad == 0, "%d mismatches (worst %.3g)", bad, worst);
}
END_TEST

/* Every weight row as f32 equals the scalar conversion exactly. */
START_TEST(wview_row_exact) {
    const int dtype = DTYPES[_i];
    wbuf b;
    wbuf_make(&b, dtype, 257, 255, 128);
    float *row = malloc(sizeof(float) * 255);
    int bad = 0;
    for (int64_t r = 0; r < 257; r++) {
        rk_wview_row(&b.v, r, row);
        for (int64_t c = 0; c < 255; c++) {
            const uint8_t *p = b.data;
            float want;
            if (dtype == RK_DTYPE_F32) memcpy(&want, p + 4 * (r * 255 + c), 4);
            else if (dtype == RK_DTYPE_F8_E4M3) want = rk_e4m3_to_f32(p[r * 255 + c]) * b.scale[(r / 128) * 2 + c / 128];
            else {
                uint16_t h;
                memcpy(&h, p + 2 * (r * 255 + c), 2);
                want = dtype == RK_DTYPE_F16 ? rk_f16_to_f32(h) : rk_bf16_to_f32(h);
            }
            bad += memcmp(&want, &row[c], 4) != 0;
        }
    }
    ck_assert_int_eq(bad, 0);
    free(row);
    wbuf_free(&b);
}
END_TEST

/* Every E4M3 code (subnormals, ±0, NaN 0x7F/0xFF) under scales from subnormal to 2^110 (past the fast path's
 * folded-scale range, which must then fall back): rows convert exactly (NaN payloads aside) and matmul agrees
 * with the reference (NaN where the reference has NaN). */
START_TEST(fp8_all_codes) {
    const int64_t rows = 40, cols = 272, B = 16, sc = cols / B, sr = (rows + B - 1) / B;
    static const float SCALES[] = { 1.0f, 0x1p-140f, 3.5f, 0x1p110f, 1e-3f, 0x1p-20f, 448.0f };
    uint8_t *w = malloc((size_t)(rows * cols));
    float *scale = malloc(sizeof(float) * (size_t)(sr * sc)), *row = malloc(sizeof(float) * (size_t)cols);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) w[r * cols + c] = (uint8_t)((c + r * 7) & 255);
    for (int pass = 0; pass < 2; pass++) {
        for (int64_t i = 0; i < sr * sc; i++) scale[i] = pass ? SCALES[i % 7] : SCALES[(i % 3 == 1) ? 0 : i % 7 == 3 ? 2 : i % 7];
        rk_wview v = { RK_DTYPE_F8_E4M3, w, rows, cols, scale, B };
        int bad = 0;
        for (int64_t r = 0; r < rows; r++) {
            rk_wview_row(&v, r, row);
            for (int64_t c = 0; c < cols; c++) {
                const float want = rk_e4m3_to_f32(w[r * cols + c]) * scale[(r / B) * sc + c / B];
                bad += isnan(want) ? !isnan(row[c]) : memcmp(&want, &row[c], 4) != 0;
            }
        }
        ck_assert_msg(bad == 0, "pass %d: %d row values differ", pass, bad);
        for (int64_t n = 1; n <= 4; n++) {
            float *x = rand_vec(n * cols, 1.0f), *y = malloc(sizeof(float) * (size_t)(n * rows));
            float *yr = malloc(sizeof(float) * (size_t)(n * rows));
            rk_matmul(y, x, &v, NULL, n);          /* every row holds a NaN code: all outputs NaN */
            rk_matmul_ref(yr, x, &v, NULL, n);
            for (int64_t i = 0; i < n * rows; i++) bad += !isnan(y[i]) || !isnan(yr[i]);
            for (int64_t i = 0; i < rows * cols; i++)   /* now without NaN codes */
                if ((w[i] & 0x7F) == 0x7F) w[i] ^= 1;
            double worst = 0.0;
            rk_matmul(y, x, &v, NULL, n);
            rk_matmul_ref(yr, x, &v, NULL, n);
            bad += matmul_mismatches(y, yr, x, &v, NULL, n, 1e-6, &worst);
            for (int64_t r = 0; r < rows; r++)          /* restore */
                for (int64_t c = 0; c < cols; c++) w[r * cols + c] = (uint8_t)((c + r * 7) & 255);
            free(x); free(y); free(yr);
        }
        ck_assert_msg(bad == 0, "pass %d: %d matmul outputs differ", pass, bad);
    }
    free(w); free(scale); free(row);
}
END_TEST

/* Same inputs -> bit-identical outputs: two runs, 1 vs 2 threads, and a batch vs each token alone. */
START_TEST(matmul_deterministic) {
    const int dtype = DTYPES[_i];
    const int64_t rows = 257, cols = 300, n = 37;
    wbuf b;
    wbuf_make(&b, dtype, rows, cols, 128);
    float *x = rand_vec(n * cols, 1.0f), *bias = rand_vec(rows, 1.0f);
    float *y1 = malloc(sizeof(float) * (size_t)(n * rows)), *y2 = malloc(sizeof(float) * (size_t)(n * rows));
    float *y3 = malloc(sizeof(float) * (size_t)(n * rows));
    const int nthr = omp_get_max_threads();
    omp_set_num_threads(2);
    rk_matmul(y1, x, &b.v, bias, n);
    rk_matmul(y2, x, &b.v, bias, n);
    ck_assert(memcmp(y1, y2, sizeof(float) * (size_t)(n * rows)) == 0);
    omp_set_num_threads(1);
    rk_matmul(y2, x, &b.v, bias, n);
    ck_assert_msg(memcmp(y1, y2, sizeof(float) * (size_t)(n * rows)) == 0, "1 vs 2 threads differ");
    omp_set_num_threads(nthr);
    for (int64_t t = 0; t < n; t++) rk_matmul(y3 + t * rows, x + t * cols, &b.v, bias, 1);
    /* The prompt path (n >= 16) sums in a different order than the 1-2 token path: equal within the documented
     * fast-vs-ref tolerance, not bit for bit. */
    double worst_bs = 0.0;
    ck_assert_msg(matmul_mismatches(y3, y1, x, &b.v, bias, n, 1e-6, &worst_bs) == 0,
                  "batch differs from one token at a time (worst %.3g)", worst_bs);
    for (int64_t t = 0; t + 2 <= n; t += 2) rk_matmul(y3 + t * rows, x + t * cols, &b.v, bias, 2);
    ck_assert_msg(matmul_mismatches(y3, y1, x, &b.v, bias, n - 1, 1e-6, &worst_bs) == 0,
                  "batch differs from pairs (worst %.3g)", worst_bs);
    free(x); free(bias); free(y1); free(y2); free(y3);
    wbuf_free(&b);
}
END_TEST

START_TEST(matmul_backward_ref_vs_fast) {
    const int dtype = DTYPES[_i];
    const int64_t shapes[][3] = { { 1, 1, 1 }, { 31, 33, 2 }, { 257, 255, 5 }, { 33, 257, 70 }, { 2, 300, 31 } };
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int64_t rows = shapes[s][0], cols = shapes[s][1], n = shapes[s][2];
        wbuf b;
        wbuf_make(&b, dtype, rows, cols, 128);
        float *x = rand_vec(n * cols, 1.0f), *dy = rand_vec(n * rows, 1.0f);
        float *dx = rand_vec(n * cols, 1.0f), *dw = rand_vec(rows * cols, 1.0f), *db = rand_vec(rows, 1.0f);
        float *dx2 = malloc(sizeof(float) * (size_t)(n * cols)), *dw2 = malloc(sizeof(float) * (size_t)(rows * cols));
        float *db2 = malloc(sizeof(float) * (size_t)rows);
        memcpy(dx2, dx, sizeof(float) * (size_t)(n * cols));
        memcpy(dw2, dw, sizeof(float) * (size_t)(rows * cols));
        memcpy(db2, db, sizeof(float) * (size_t)rows);
        rk_matmul_backward(dx, dw, db, dy, x, &b.v, n);
        rk_matmul_backward_ref(dx2, dw2, db2, dy, x, &b.v, n);
        /* sums of up to 257 terms of magnitude <= ~2: f32 accumulation error well under 1e-4 */
        rk_assert_allclose(dx, dx2, (size_t)(n * cols), 1e-4, 1e-5);
        rk_assert_allclose(dw, dw2, (size_t)(rows * cols), 1e-4, 1e-5);
        rk_assert_allclose(db, db2, (size_t)rows, 1e-5, 1e-6);
        free(x); free(dy); free(dx); free(dw); free(db); free(dx2); free(dw2); free(db2);
        wbuf_free(&b);
    }
}
END_TEST

/* RK_FORCE_REF=1 set before the first kernel call: isa "ref", and rk_matmul is rk_matmul_ref bit for bit.
 * Runs in a child process so the choice (made once per process) does not leak into other tests. */
START_TEST(force_ref_honoured) {
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        setenv("RK_FORCE_REF", "1", 1);
        int ok = strcmp(rk_kernels_isa(), "ref") == 0;
        wbuf b;
        wbuf_make(&b, RK_DTYPE_BF16, 33, 257, 128);
        float *x = rand_vec(5 * 257, 1.0f), y[5 * 33], yr[5 * 33];
        rk_matmul(y, x, &b.v, NULL, 5);
        rk_matmul_ref(yr, x, &b.v, NULL, 5);
        ok = ok && memcmp(y, yr, sizeof y) == 0;
        _exit(ok ? 0 : 1);
    }
    int st = 0;
    ck_assert(waitpid(pid, &st, 0) == pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "RK_FORCE_REF=1 was not honoured");
    const char *isa = rk_kernels_isa();
    ck_assert(strcmp(isa, "ref") == 0 || strcmp(isa, "avx2+fma") == 0 || strcmp(isa, "avx2+fma+avx512f") == 0);
}
END_TEST

/* The prefill matmul's AVX-512 micro-kernel (12 rows x 32 tokens) and the AVX2 one (6 x 16) compute each output
 * as the same sequence of roundings: bit-identical results for every dtype, row tails 1..11 of the wider tile,
 * token counts with a 16-wide last group, several 256-column blocks and a bias. The AVX2 figures come from a child
 * started with RK_NO_AVX512=1, through shared memory. On a CPU without AVX-512 both sides run AVX2 (said so). */
START_TEST(avx512_matches_avx2) {
    static const int64_t shapes[][3] = {   /* rows, cols, n */
        { 1, 40, 16 }, { 7, 513, 17 }, { 12, 256, 32 }, { 23, 300, 33 }, { 37, 1030, 48 }, { 131, 96, 128 },
        { 29, 777, 100 },
    };
    const int nshape = (int)(sizeof shapes / sizeof shapes[0]), ndt = 4;
    size_t total = 0;
    for (int i = 0; i < nshape; i++) total += (size_t)(shapes[i][0] * shapes[i][2]);
    float *shared = mmap(NULL, sizeof(float) * total * (size_t)ndt, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert(shared != MAP_FAILED);
    for (int side = 0; side < 2; side++) {
        pid_t pid = side == 0 ? fork() : 0;
        ck_assert(pid >= 0);
        if (side == 0 && pid > 0) {
            int st = 0;
            ck_assert(waitpid(pid, &st, 0) == pid);
            ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the RK_NO_AVX512=1 child failed");
            continue;
        }
        if (side == 0) setenv("RK_NO_AVX512", "1", 1);
        const char *isa = rk_kernels_isa();
        if (side == 0 && strcmp(isa, "avx2+fma") != 0) _exit(1);
        if (side == 1 && strcmp(isa, "avx2+fma+avx512f") != 0)
            fprintf(stderr, "avx512_matches_avx2: kernels are %s here, so both sides ran the same path\n", isa);
        g_rng = 0x1234567ull;
        size_t off = 0;
        for (int d = 0; d < ndt; d++)
            for (int i = 0; i < nshape; i++) {
                const int64_t rows = shapes[i][0], cols = shapes[i][1], n = shapes[i][2];
                wbuf b;
                wbuf_make(&b, DTYPES[d], rows, cols, 128);
                float *x = rand_vec(n * cols, 1.0f), *bias = (i & 1) ? rand_vec(rows, 1.0f) : NULL;
                float *y = malloc(sizeof(float) * (size_t)(n * rows));
                rk_matmul(y, x, &b.v, bias, n);
                if (side == 0) memcpy(shared + off, y, sizeof(float) * (size_t)(n * rows));
                else ck_assert_msg(memcmp(shared + off, y, sizeof(float) * (size_t)(n * rows)) == 0,
                                   "%s rows %lld cols %lld n %lld: AVX-512 and AVX2 prefill differ", rk_dtype_name(DTYPES[d]),
                                   (long long)rows, (long long)cols, (long long)n);
                off += (size_t)(n * rows);
                free(x); free(bias); free(y);
                wbuf_free(&b);
            }
        if (side == 0) _exit(0);
    }
    munmap(shared, sizeof(float) * total * (size_t)ndt);
}
END_TEST

/* ---- elementwise / row kernels ----------------------------------------------------------------- */

START_TEST(softmax_stable) {
    for (int i = 0; i < NSIZES; i++) {
        const int64_t len = SIZES[i], n = 3;
        float *x = rand_vec(n * len, 10.0f);
        for (int64_t k = 0; k < len; k++) x[len + k] += 1e4f;          /* huge offset: must not overflow */
        for (int64_t k = 0; k < len; k++) x[2 * len + k] = -INFINITY;  /* fully masked row */
        x[2 * len + len / 2] = -3.0f;
        float *want = malloc(sizeof(float) * (size_t)(n * len));
        for (int64_t t = 0; t < n; t++) {
            double m = -INFINITY, s = 0.0;
            for (int64_t k = 0; k < len; k++) m = fmax(m, x[t * len + k]);
            for (int64_t k = 0; k < len; k++) s += exp((double)x[t * len + k] - m);
            for (int64_t k = 0; k < len; k++) want[t * len + k] = (float)(exp((double)x[t * len + k] - m) / s);
        }
        rk_softmax(x, n, len);
        rk_assert_allclose(x, want, (size_t)(n * len), 1e-7, 1e-5);
        free(x); free(want);
    }
    float z[4] = { -INFINITY, -INFINITY, -INFINITY, -INFINITY };
    rk_softmax(z, 1, 4);
    for (int k = 0; k < 4; k++) ck_assert(z[k] == 0.0f);
}
END_TEST

START_TEST(cross_entropy_values) {
    const int64_t n = 5, vocab = 257;
    float *l = rand_vec(n * vocab, 30.0f);
    for (int64_t k = 0; k < vocab; k++) l[vocab + k] += 5e4f;
    int32_t tg[5] = { 3, 256, -1, 0, 100 };
    float *d = malloc(sizeof(float) * (size_t)(n * vocab));
    const double loss = rk_cross_entropy(d, l, tg, n, vocab, 0.5f);
    double want = 0.0;
    for (int64_t t = 0; t < n; t++) {
        if (tg[t] < 0) continue;
        double m = -INFINITY, s = 0.0;
        for (int64_t k = 0; k < vocab; k++) m = fmax(m, l[t * vocab + k]);
        for (int64_t k = 0; k < vocab; k++) s += exp((double)l[t * vocab + k] - m);
        const double nll = m + log(s) - l[t * vocab + tg[t]];
        want += nll;
        ck_assert_msg(fabs(rk_nll_row(l + t * vocab, vocab, tg[t]) - nll) <= 1e-9 * (1 + nll), "nll row %d", (int)t);
        for (int64_t k = 0; k < vocab; k++) {
            const double g = (exp((double)l[t * vocab + k] - m) / s - (k == tg[t])) * 0.5;
            ck_assert_msg(fabs(d[t * vocab + k] - g) <= 1e-7, "dlogits[%d][%d] %g vs %g", (int)t, (int)k, d[t * vocab + k], g);
        }
    }
    for (int64_t k = 0; k < vocab; k++) ck_assert(d[2 * vocab + k] == 0.0f);
    ck_assert_msg(fabs(loss - want) <= 1e-9 * (1 + want), "loss %.17g vs %.17g", loss, want);
    ck_assert(isnan(rk_nll_row(l, vocab, (int32_t)vocab)));
    ck_assert(isnan(rk_nll_row(l, vocab, -1)));
    free(l); free(d);
}
END_TEST

START_TEST(rmsnorm_swiglu_values) {
    for (int i = 0; i < NSIZES; i++) {
        const int64_t dim = SIZES[i], n = 4;
        float *x = rand_vec(n * dim, 3.0f), *w = rand_vec(dim, 1.0f), *y = malloc(sizeof(float) * (size_t)(n * dim));
        float *want = malloc(sizeof(float) * (size_t)(n * dim)), rstd[4];
        for (int64_t t = 0; t < n; t++) {
            double ss = 0.0;
            for (int64_t k = 0; k < dim; k++) ss += (double)x[t * dim + k] * x[t * dim + k];
            const double r = 1.0 / sqrt(ss / dim + 1e-6);
            for (int64_t k = 0; k < dim; k++) want[t * dim + k] = (float)(x[t * dim + k] * r * w[k]);
        }
        rk_rmsnorm(y, rstd, x, w, n, dim, 1e-6f);
        rk_assert_allclose(y, want, (size_t)(n * dim), 1e-6, 1e-6);
        for (int64_t k = 0; k < n * dim; k++) {
            const double g = x[k], u = w[k % dim];
            want[k] = (float)(g / (1.0 + exp(-g)) * u);
        }
        rk_swiglu(y, x, (const float *)w, 0);
        float *up = malloc(sizeof(float) * (size_t)(n * dim));
        for (int64_t k = 0; k < n * dim; k++) up[k] = w[k % dim];
        rk_swiglu(y, x, up, n * dim);
        rk_assert_allclose(y, want, (size_t)(n * dim), 1e-7, 1e-6);
        free(x); free(w); free(y); free(want); free(up);
    }
}
END_TEST

/* SwiGLU's SIMD exp over its whole range: gate in [-100, 100] (both saturation ends), against double; NaN in,
 * NaN out; and softmax rows with -inf entries give exact zeros there. */
START_TEST(swiglu_exp_range) {
    const int64_t n = 200001;
    float *g = malloc(sizeof(float) * n), *u = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * n);
    for (int64_t i = 0; i < n; i++) { g[i] = -100.0f + 200.0f * (float)i / (float)(n - 1); u[i] = 1.0f; }
    g[7] = NAN;
    rk_swiglu(y, g, u, n);
    int64_t bad = 0, first = -1;
    for (int64_t i = 0; i < n; i++) {
        if (i == 7) continue;
        const double want = (double)g[i] / (1.0 + exp(-(double)g[i]));
        if (!(fabs(y[i] - want) <= 3e-7 * fabs(want) + 1e-35)) { bad++; if (first < 0) first = i; }
    }
    ck_assert_msg(bad == 0, "%lld swiglu values off, first at g=%g: %g vs %g", (long long)bad,
                  first < 0 ? 0.0 : g[first], first < 0 ? 0.0 : y[first],
                  first < 0 ? 0.0 : g[first] / (1.0 + exp(-(double)g[first])));
    ck_assert(isnan(y[7]));
    float row[19];
    for (int k = 0; k < 19; k++) row[k] = k % 3 ? -INFINITY : (float)k;
    rk_softmax(row, 1, 19);
    for (int k = 0; k < 19; k++) ck_assert(k % 3 ? row[k] == 0.0f : row[k] > 0.0f);
    free(g); free(u); free(y);
}
END_TEST

/* ---- RoPE ----------------------------------------------------------------------------------------- */

/* interleaved on x equals rotate-half on the de-interleaved x; forward then backward = attn_factor² · x;
 * values against a direct double computation. */
START_TEST(rope_layouts) {
    rk_rope_params p = { RK_ROPE_YARN, 10000.0, 40.0, 4096.0, 32.0, 1.0, 1.0, 0.0, 0, 0 };   /* attn factor 1.37 */
    rk_rope_table t;
    rk_err err;
    ck_assert_int_eq(rk_rope_table_init(&t, &p, 64, 9000, &err), 0);
    const int64_t n_tok = 5, n_head = 3, stride = 64 + 128 + 3, off = 128, half = 32;
    const int64_t pos[5] = { 0, 1, 4095, 4096, 8999 };
    const int64_t nel = n_tok * n_head * stride;
    float *a = rand_vec(nel, 1.0f), *b = malloc(sizeof(float) * (size_t)nel), *orig = malloc(sizeof(float) * (size_t)nel);
    memcpy(orig, a, sizeof(float) * (size_t)nel);
    for (int64_t th = 0; th < n_tok * n_head; th++)   /* b = a with the rope part de-interleaved */
        for (int64_t k = 0; k < stride; k++) {
            float v = a[th * stride + k];
            if (k >= off && k < off + 2 * half) {
                const int64_t i = k - off;
                v = a[th * stride + off + (i < half ? 2 * i : 2 * (i - half) + 1)];
            }
            b[th * stride + k] = v;
        }
    rk_rope(a, pos, n_tok, n_head, stride, off, &t, 1);
    rk_rope(b, pos, n_tok, n_head, stride, off, &t, 0);
    int bad = 0;
    for (int64_t tk = 0; tk < n_tok; tk++)
        for (int64_t h = 0; h < n_head; h++) {
            const int64_t base = (tk * n_head + h) * stride;
            for (int64_t k = 0; k < off; k++) bad += a[base + k] != orig[base + k];   /* untouched part */
            for (int64_t i = 0; i < half; i++) {
                bad += a[base + off + 2 * i] != b[base + off + i];
                bad += a[base + off + 2 * i + 1] != b[base + off + half + i];
                const double x0 = orig[base + off + 2 * i], x1 = orig[base + off + 2 * i + 1];
                const double c = t.cos[pos[tk] * half + i], s = t.sin[pos[tk] * half + i];
                bad += fabs(a[base + off + 2 * i] - (x0 * c - x1 * s)) > 1e-6;
                bad += fabs(a[base + off + 2 * i + 1] - (x0 * s + x1 * c)) > 1e-6;
            }
        }
    ck_assert_int_eq(bad, 0);
    rk_rope_backward(a, pos, n_tok, n_head, stride, off, &t, 1);
    const double m2 = (double)t.attn_factor * t.attn_factor;
    double worst = 0.0;
    for (int64_t k = 0; k < nel; k++) {
        const int in_rope = (k % stride) >= off && (k % stride) < off + 2 * half;
        const double e = fabs(a[k] - (in_rope ? m2 : 1.0) * orig[k]);
        worst = e > worst ? e : worst;
        bad += e > 2e-6;
    }
    ck_assert_msg(bad == 0, "backward(forward(x)) != attn_factor^2 x: %d bad, worst %.3g", bad, worst);
    free(a); free(b); free(orig);
    rk_rope_table_free(&t);
    rk_rope_table_free(&t);   /* a freed table may be freed again */
}
END_TEST

START_TEST(rope_params_rejected) {
    rk_rope_table t;
    rk_err err;
    rk_rope_params p = { RK_ROPE_NONE, 10000.0, 1.0, 0, 0, 0, 0, 0, 0, 0 };
    ck_assert_int_eq(rk_rope_table_init(&t, &p, 63, 10, &err), RK_EINVAL);
    ck_assert_int_eq(rk_rope_table_init(&t, &p, 0, 10, &err), RK_EINVAL);
    ck_assert_int_eq(rk_rope_table_init(&t, &p, 64, -1, &err), RK_EINVAL);
    p.theta = 0.5;
    ck_assert_int_eq(rk_rope_table_init(&t, &p, 64, 10, &err), RK_EINVAL);
    p.theta = 10000.0;
    p.kind = RK_ROPE_YARN;   /* factor 1 but no orig_ctx / betas */
    ck_assert_int_eq(rk_rope_table_init(&t, &p, 64, 10, &err), RK_EINVAL);
    ck_assert(strstr(err.msg, "rope") != NULL);
    p.kind = RK_ROPE_LLAMA3;
    p.orig_ctx = 8192;
    p.low_freq_factor = 4;
    p.high_freq_factor = 1;
    ck_assert_int_eq(rk_rope_table_init(&t, &p, 64, 10, &err), RK_EINVAL);
    p.kind = 99;
    ck_assert_int_eq(rk_rope_table_init(&t, &p, 64, 10, &err), RK_EINVAL);
    ck_assert(t.cos == NULL && t.sin == NULL);
    ck_assert(fabs(rk_yarn_get_mscale(40.0, 1.0) - (0.1 * log(40.0) + 1.0)) < 1e-15);
    ck_assert(rk_yarn_get_mscale(1.0, 1.0) == 1.0 && rk_yarn_get_mscale(0.5, 3.0) == 1.0);
}
END_TEST

/* ---- attention ------------------------------------------------------------------------------------ */

static void attention_naive(double *out, const float *q, const float *k, const float *v, int64_t T, int64_t S,
                            int64_t q0, int64_t Hq, int64_t Hk, int64_t dk, int64_t dv, double scale) {
    double *p = malloc(sizeof(double) * (size_t)S);
    for (int64_t h = 0; h < Hq; h++)
        for (int64_t t = 0; t < T; t++) {
            const int64_t hk = h / (Hq / Hk), L = q0 + t + 1 < S ? q0 + t + 1 : S;
            double m = -INFINITY, s = 0.0;
            for (int64_t j = 0; j < L; j++) {
                double d = 0.0;
                for (int64_t i = 0; i < dk; i++) d += (double)q[(t * Hq + h) * dk + i] * k[(j * Hk + hk) * dk + i];
                p[j] = d * scale;
                m = fmax(m, p[j]);
            }
            for (int64_t j = 0; j < L; j++) s += (p[j] = exp(p[j] - m));
            for (int64_t i = 0; i < dv; i++) {
                double o = 0.0;
                for (int64_t j = 0; j < L; j++) o += p[j] / s * v[(j * Hk + hk) * dv + i];
                out[(t * Hq + h) * dv + i] = o;
            }
        }
    free(p);
}

START_TEST(attention_values) {
    /* {T, S, q_pos0, Hq, Hk, dk, dv} */
    const int64_t cases[][7] = { { 1, 1, 0, 1, 1, 1, 1 }, { 7, 7, 0, 4, 2, 33, 31 }, { 1, 40, 39, 6, 1, 24, 16 },
                                 { 5, 33, 28, 8, 8, 31, 2 }, { 31, 31, 0, 3, 3, 64, 64 }, { 3, 10, 2, 2, 1, 8, 8 },
                                 { 20, 45, 25, 4, 2, 24, 20 }, { 16, 16, 0, 2, 2, 7, 5 } };   /* >= 16: matmul path */
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const int64_t T = cases[c][0], S = cases[c][1], q0 = cases[c][2], Hq = cases[c][3], Hk = cases[c][4];
        const int64_t dk = cases[c][5], dv = cases[c][6];
        float *q = rand_vec(T * Hq * dk, 2.0f), *k = rand_vec(S * Hk * dk, 2.0f), *v = rand_vec(S * Hk * dv, 1.0f);
        float *out = malloc(sizeof(float) * (size_t)(T * Hq * dv)), *out2 = malloc(sizeof(float) * (size_t)(T * Hq * dv));
        float *att = malloc(sizeof(float) * (size_t)(Hq * T * S)), *want = malloc(sizeof(float) * (size_t)(T * Hq * dv));
        double *wd = malloc(sizeof(double) * (size_t)(T * Hq * dv));
        const float scale = 1.0f / sqrtf((float)dk);
        rk_attention(out, att, q, k, v, T, S, q0, Hq, Hk, dk, dv, scale);
        rk_attention(out2, NULL, q, k, v, T, S, q0, Hq, Hk, dk, dv, scale);
        ck_assert(memcmp(out, out2, sizeof(float) * (size_t)(T * Hq * dv)) == 0);
        attention_naive(wd, q, k, v, T, S, q0, Hq, Hk, dk, dv, scale);
        for (int64_t i = 0; i < T * Hq * dv; i++) want[i] = (float)wd[i];
        rk_assert_allclose(out, want, (size_t)(T * Hq * dv), 2e-6, 2e-5);
        for (int64_t h = 0; h < Hq; h++)                  /* rows sum to 1, zeros past the causal limit */
            for (int64_t t = 0; t < T; t++) {
                double s = 0.0;
                for (int64_t j = 0; j < S; j++) {
                    const float pj = att[(h * T + t) * S + j];
                    if (j > q0 + t) ck_assert(pj == 0.0f);
                    s += pj;
                }
                ck_assert(fabs(s - 1.0) < 1e-5);
            }
        /* KV-cache decode: the last query alone at q_pos0 + T - 1 equals the last row of the block */
        /* (bit-identical below 16 queries; blocks of >= 16 use the matmul path, equal within its tolerance) */
        rk_attention(out2, NULL, q + (T - 1) * Hq * dk, k, v, 1, S, q0 + T - 1, Hq, Hk, dk, dv, scale);
        if (T < 16) ck_assert(memcmp(out2, out + (T - 1) * Hq * dv, sizeof(float) * (size_t)(Hq * dv)) == 0);
        else rk_assert_allclose(out2, out + (T - 1) * Hq * dv, (size_t)(Hq * dv), 2e-6, 2e-5);
        free(q); free(k); free(v); free(out); free(out2); free(att); free(want); free(wd);
    }
}
END_TEST

/* ---- benchmark (RK_BENCH=1) ------------------------------------------------------------------------ */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

START_TEST(matmul_bench) {
    const char *e = getenv("RK_BENCH");
    if (!e || strcmp(e, "1") != 0) return;
    const int64_t R = 2048, C = 2048;
    float *x = rand_vec(128 * C, 1.0f), *y = malloc(sizeof(float) * 128 * R);
    const int nthr = omp_get_max_threads();
    printf("matmul 2048x2048, isa %s, best of repeats, GFLOP/s\n", rk_kernels_isa());
    for (size_t d = 0; d < 4; d++) {
        wbuf b;
        wbuf_make(&b, DTYPES[d], R, C, 128);
        for (int th = 1; th <= 2; th++)
            for (int64_t n = 1; n <= 128; n += 127) {
                omp_set_num_threads(th);
                double best = 1e9;
                for (int rep = 0; rep < (n == 1 ? 40 : 6); rep++) {
                    const double t0 = now_s();
                    rk_matmul(y, x, &b.v, NULL, n);
                    const double dt = now_s() - t0;
                    best = dt < best ? dt : best;
                }
                printf("  %-8s threads %d n %3lld: %7.1f GFLOP/s\n", rk_dtype_name(DTYPES[d]), th, (long long)n,
                       2.0 * (double)n * R * C / best / 1e9);
            }
        wbuf_free(&b);
    }
    omp_set_num_threads(nthr);
    free(x); free(y);
}
END_TEST

Suite *make_suite(void) {
    Suite *s = suite_create("model_kernels");
    TCase *tc = tcase_create("ref_vs_opt");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, matmul_ref_vs_fast, 0, 4);
    tcase_add_test(tc, matmul_fp8_blocks);
    tcase_add_loop_test(tc, wview_row_exact, 0, 4);
    tcase_add_test(tc, fp8_all_codes);
    tcase_add_loop_test(tc, matmul_deterministic, 0, 4);
    tcase_add_loop_test(tc, matmul_backward_ref_vs_fast, 0, 4);
    tcase_add_test(tc, force_ref_honoured);
    tcase_add_test(tc, avx512_matches_avx2);
    suite_add_tcase(s, tc);
    TCase *tv = tcase_create("values");
    tcase_add_test(tv, softmax_stable);
    tcase_add_test(tv, cross_entropy_values);
    tcase_add_test(tv, rmsnorm_swiglu_values);
    tcase_add_test(tv, swiglu_exp_range);
    tcase_add_test(tv, rope_layouts);
    tcase_add_test(tv, rope_params_rejected);
    tcase_add_test(tv, attention_values);
    suite_add_tcase(s, tv);
    TCase *tb = tcase_create("bench");
    tcase_set_timeout(tb, 600);
    tcase_add_test(tb, matmul_bench);
    suite_add_tcase(s, tb);
    return s;
}

RK_TEST_MAIN()
