/* model/kernels/avx2.c — AVX2/FMA/F16C fast path of rk_matmul (y = x·Wᵀ + b), compiled per function with
 * __attribute__((target(...))) so the rest of the build needs no -mavx2; chosen at run time (dispatch.c).
 *
 * Summation order (what differs from the double-precision reference, and why results are still
 * deterministic): every output y[t, r] is computed by exactly one thread as
 *     h = rk_kern_hsum8(acc), acc lane j = FMA chain over x[t, k]·w[r, k] for k ≡ j (mod 8), k < cols8 = cols & ~7,
 *     s = fmaf chain over the tail k = cols8 .. cols-1,   y = (h + s) + bias[r],
 * with hsum8 = ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)). Weight values are the exact f32 conversions of the
 * reference. For n < 16 every path (decode kernel converting in registers, tiled kernel over a converted row
 * tile, any tile edge) uses that same order, so a result does not depend on thread count, tile position or on
 * how many tokens are in the batch. Prefill (n >= 16, matmul_prefill below) uses a different, also fixed order
 * (6x16 broadcast register tile, sequential chains per 256-column block): still deterministic and independent
 * of the thread count, but equal to the n < 16 result only within the fast-vs-ref tolerance. Error vs the reference: f32 accumulation, about cols/8 FMAs per lane;
 * tested at |Δ| <= 1e-6·Σ|x·w| + tiny.
 *
 * Prompt processing (n >= 3): OpenMP over (block of <= 48 weight rows) x (block of <= 64 tokens); weights are
 * converted 512 columns at a time into a per-thread f32 tile (96 KiB, L2-sized) that all the block's tokens
 * reuse, with the 8-lane accumulators kept in memory across column chunks; the micro-kernel computes
 * 4 tokens x 3 rows (12 accumulators) per pass. Each weight element is converted once per 64 tokens.
 * Decoding (n <= 2): OpenMP over groups of 4 rows, weights streamed once and converted in registers.
 *
 * Measured 2026-11-25 on the build machine (AMD EPYC guest, AVX2 kernels, 2 vCPUs shared with other jobs; gcc 12,
 * RelWithDebInfo -O2), 2048x2048 weights, GFLOP/s = 2·n·rows·cols / time, best of 3 runs of
 * `RK_BENCH=1 CK_RUN_CASE=bench tests/model_test_kernels` (scalar reference: ~0.5 GFLOP/s):
 *                 1 thread           2 threads
 *               n=1    n=128       n=1    n=128
 *   F32        29.0     84.6      58.6    143.2
 *   F16        42.8     80.6      85.2    124.4
 *   BF16       41.3     80.2      82.6    168 (one run; 65-70 while the other vCPU was busy)
 *   F8_E4M3    21.3     82.1      41.5    132.3
 * Two-thread figures swing down to ~2 GFLOP/s at n=1 whenever another process holds the second vCPU (the
 * team waits a scheduler slice at the barrier). FP8 decode is bound by the in-register E4M3 decode (~10 GB/s
 * of weights per core), the others by L3/DRAM bandwidth; n=128 runs at ~70% of one core's FMA peak.
 * With the AVX-512 prefill kernel (avx512.c; same results), measured 2026-11-26 on the same guest (an AMD Zen 5
 * EPYC: full-width 512-bit FMA, 218 GFLOP/s peak per core against 110 with 256-bit), n=128, 1 / 2 threads:
 * F32 155 / 285, F16 158 / 248, BF16 174 / 252, F8_E4M3 177 / 255; the AVX2 kernel in the same run
 * (RK_NO_AVX512=1): 94 / 185, 94 / 169, 93 / 169, 94 / 171.
 * Blocking constants RK_MM_RB/KC/NB may be overridden at compile time (RB a multiple of 3, KC of 8; results
 * are bit-identical for any choice, tested with 3/8/1 and 6/16/5). */
#include "model/kernels/kernels-impl.h"
#include "quantize/quants.h"

#ifdef RK_KERN_X86
#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>

#define TGT __attribute__((target("avx2,fma,f16c")))
#define AINL __attribute__((always_inline)) inline

/* E4M3 -> f32 through F16: the E4M3 magnitude bits shifted left by 7 form an F16 whose value is exactly the
 * E4M3 value times 2^-8 (same 1-x-3 layout inside F16's 1-5-10, bias 15 vs 7, subnormals included), and cvtph
 * is exact. The byte is sign-extended to 16 bits first so that the shift drops the sign into bit 15; bit 14 is
 * then cleared. 0x7F/0xFF are forced to an F16 NaN. Callers multiply by 256·scale: (v·2^-8)·(256·s) rounds
 * exactly like v·s as long as 256·s does not overflow (checked: scale_ok). 16 codes -> two vectors of 8. */
TGT static AINL void e4m3x16_raw(const uint8_t *p, __m256 *lo, __m256 *hi) {
    const __m256i t = _mm256_slli_epi16(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)p)), 7);
    const __m256i nan = _mm256_cmpeq_epi16(_mm256_and_si256(t, _mm256_set1_epi16(0x3F80)), _mm256_set1_epi16(0x3F80));
    const __m256i h = _mm256_blendv_epi8(_mm256_and_si256(t, _mm256_set1_epi16((short)0xBF80)), _mm256_set1_epi16(0x7E00), nan);
    *lo = _mm256_cvtph_ps(_mm256_castsi256_si128(h));
    *hi = _mm256_cvtph_ps(_mm256_extracti128_si256(h, 1));
}

TGT static AINL __m256 e4m3x8_raw(const uint8_t *p) {
    const __m128i t = _mm_slli_epi16(_mm_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *)p)), 7);
    const __m128i nan = _mm_cmpeq_epi16(_mm_and_si128(t, _mm_set1_epi16(0x3F80)), _mm_set1_epi16(0x3F80));
    const __m128i h = _mm_blendv_epi8(_mm_and_si128(t, _mm_set1_epi16((short)0xBF80)), _mm_set1_epi16(0x7E00), nan);
    return _mm256_cvtph_ps(h);
}

/* 1 if 256·s cannot overflow for any finite scale s (inf and NaN scales give the same result either way). */
static int scale_ok(float s) { return !(fabsf(s) >= 0x1p100f && fabsf(s) <= 0x1.fffffep127f); }

static int fp8_scales_ok(const rk_wview *w) {
    const int64_t n = ((w->rows + w->block - 1) / w->block) * ((w->cols + w->block - 1) / w->block);
    for (int64_t i = 0; i < n; i++)
        if (!scale_ok(w->scale[i])) return 0;
    return 1;
}

/* 8 weights starting at element index i of the raw data, as f32 (FP8: sc holds 256·scale). */
TGT static AINL __m256 load_w(int dt, const uint8_t *p, int64_t i, __m256 sc) {
    switch (dt) {
    case RK_DTYPE_F16: return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 2 * i)));
    case RK_DTYPE_BF16:
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(p + 2 * i))), 16));
    case RK_DTYPE_F8_E4M3: return _mm256_mul_ps(e4m3x8_raw(p + i), sc);
    default: return _mm256_loadu_ps((const float *)(const void *)(p + 4 * i));
    }
}

/* Columns [c0, c1) of row r of an FP8 view as f32 (e4m3 * block scale), bit-identical to rk_kern_welem. */
TGT static void e4m3_row_range(const rk_wview *w, int64_t r, int64_t c0, int64_t c1, float *out) {
    const uint8_t *p = (const uint8_t *)w->data + r * w->cols;
    const int64_t B = w->block, nsc = (w->cols + B - 1) / B;
    const float *srow = w->scale + (r / B) * nsc;
    for (int64_t b0 = c0; b0 < c1;) {
        const int64_t b1 = (b0 / B + 1) * B < c1 ? (b0 / B + 1) * B : c1;
        const float s = srow[b0 / B];
        int64_t c = b0;
        if (scale_ok(s)) {
            const __m256 vs = _mm256_set1_ps(s * 256.0f);
            for (; c + 16 <= b1; c += 16) {
                __m256 lo, hi;
                e4m3x16_raw(p + c, &lo, &hi);
                _mm256_storeu_ps(out + (c - c0), _mm256_mul_ps(lo, vs));
                _mm256_storeu_ps(out + (c - c0) + 8, _mm256_mul_ps(hi, vs));
            }
        }
        for (; c < b1; c++) out[c - c0] = rk_kern_welem(w, r, c);
        b0 = b1;
    }
}

/* ---- tiled micro-kernel: TT tokens x TR rows over len8 columns of an f32 row tile ------------------
 * The accumulators live in memory between column chunks (acc[t·acc_ld + r·8 + lane]); loading and storing them
 * does not change the per-lane FMA sequence, so chunking leaves results bit-identical. */
TGT static AINL void mk_tile(int TT, int TR, const float *x, int64_t ldx, const float *wb, int64_t ldw, int64_t len8,
                             float *acc_mem, int64_t acc_ld) {
    __m256 acc[4][3];
#pragma GCC unroll 4
    for (int t = 0; t < 4; t++)
#pragma GCC unroll 3
        for (int r = 0; r < 3; r++)
            if (t < TT && r < TR) acc[t][r] = _mm256_loadu_ps(acc_mem + t * acc_ld + r * 8);
    for (int64_t k = 0; k < len8; k += 8) {
        __m256 wv[3];
#pragma GCC unroll 3
        for (int r = 0; r < 3; r++)
            if (r < TR) wv[r] = _mm256_loadu_ps(wb + r * ldw + k);
#pragma GCC unroll 4
        for (int t = 0; t < 4; t++)
            if (t < TT) {
                const __m256 xv = _mm256_loadu_ps(x + t * ldx + k);
#pragma GCC unroll 3
                for (int r = 0; r < 3; r++)
                    if (r < TR) acc[t][r] = _mm256_fmadd_ps(xv, wv[r], acc[t][r]);
            }
    }
#pragma GCC unroll 4
    for (int t = 0; t < 4; t++)
#pragma GCC unroll 3
        for (int r = 0; r < 3; r++)
            if (t < TT && r < TR) _mm256_storeu_ps(acc_mem + t * acc_ld + r * 8, acc[t][r]);
}

typedef void (*mk_tile_fn)(const float *, int64_t, const float *, int64_t, int64_t, float *, int64_t);
#define MK_TILE(TT, TR) \
    TGT static void mk_tile_##TT##_##TR(const float *x, int64_t ldx, const float *wb, int64_t ldw, int64_t len8, \
                                        float *acc, int64_t acc_ld) \
    { mk_tile(TT, TR, x, ldx, wb, ldw, len8, acc, acc_ld); }
MK_TILE(1, 1) MK_TILE(1, 2) MK_TILE(1, 3) MK_TILE(2, 1) MK_TILE(2, 2) MK_TILE(2, 3)
MK_TILE(3, 1) MK_TILE(3, 2) MK_TILE(3, 3) MK_TILE(4, 1) MK_TILE(4, 2) MK_TILE(4, 3)
static const mk_tile_fn MK_TILE_TAB[4][3] = {
    { mk_tile_1_1, mk_tile_1_2, mk_tile_1_3 }, { mk_tile_2_1, mk_tile_2_2, mk_tile_2_3 },
    { mk_tile_3_1, mk_tile_3_2, mk_tile_3_3 }, { mk_tile_4_1, mk_tile_4_2, mk_tile_4_3 },
};

/* ---- decode micro-kernel: TT (1, 2) tokens x TR (1..4) rows, weights converted in registers ------ */
TGT static AINL void mk_fused(int dt, int TT, int TR, const float *x, int64_t ldx, const rk_wview *w, int64_t r0,
                              int64_t c8, float *out) {
    const uint8_t *p = (const uint8_t *)w->data;
    const int64_t cols = w->cols;
    __m256 acc[2][4], sc[4];
    const float *srow[4] = { 0, 0, 0, 0 };
    int64_t B = c8 + 8, next = 0;
    if (dt == RK_DTYPE_F8_E4M3) {
        const int64_t nsc = (cols + w->block - 1) / w->block;
        B = w->block;
        for (int r = 0; r < TR; r++) srow[r] = w->scale + ((r0 + r) / B) * nsc;
    }
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++) {
        sc[r] = _mm256_set1_ps(1.0f);
        acc[0][r] = acc[1][r] = _mm256_setzero_ps();
    }
    int64_t k = 0;
    if (dt == RK_DTYPE_F8_E4M3) /* 16 codes per step, same per-lane FMA order as 8 at a time; block % 16 == 0 */
        for (; k + 16 <= c8; k += 16) {
            if (k == next) {
#pragma GCC unroll 4
                for (int r = 0; r < 4; r++)
                    if (r < TR) sc[r] = _mm256_set1_ps(srow[r][k / B] * 256.0f);
                next += B;
            }
            __m256 wl[4], wh[4];
#pragma GCC unroll 4
            for (int r = 0; r < 4; r++)
                if (r < TR) {
                    e4m3x16_raw(p + (r0 + r) * cols + k, &wl[r], &wh[r]);
                    wl[r] = _mm256_mul_ps(wl[r], sc[r]);
                    wh[r] = _mm256_mul_ps(wh[r], sc[r]);
                }
#pragma GCC unroll 2
            for (int t = 0; t < 2; t++)
                if (t < TT) {
                    const __m256 xl = _mm256_loadu_ps(x + t * ldx + k), xh = _mm256_loadu_ps(x + t * ldx + k + 8);
#pragma GCC unroll 4
                    for (int r = 0; r < 4; r++)
                        if (r < TR) acc[t][r] = _mm256_fmadd_ps(xh, wh[r], _mm256_fmadd_ps(xl, wl[r], acc[t][r]));
                }
        }
    for (; k < c8; k += 8) {
        if (dt == RK_DTYPE_F8_E4M3 && k == next) {
#pragma GCC unroll 4
            for (int r = 0; r < 4; r++)
                if (r < TR) sc[r] = _mm256_set1_ps(srow[r][k / B] * 256.0f);
            next += B;
        }
        __m256 wv[4];
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++)
            if (r < TR) wv[r] = load_w(dt, p, (r0 + r) * cols + k, sc[r]);
#pragma GCC unroll 2
        for (int t = 0; t < 2; t++)
            if (t < TT) {
                const __m256 xv = _mm256_loadu_ps(x + t * ldx + k);
#pragma GCC unroll 4
                for (int r = 0; r < 4; r++)
                    if (r < TR) acc[t][r] = _mm256_fmadd_ps(xv, wv[r], acc[t][r]);
            }
    }
#pragma GCC unroll 2
    for (int t = 0; t < 2; t++)
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++)
            if (t < TT && r < TR) out[t * 4 + r] = rk_kern_hsum8(acc[t][r]);
}

typedef void (*mk_fused_fn)(const float *, int64_t, const rk_wview *, int64_t, int64_t, float *);
#define MK_FUSED(NAME, DT, TT, TR) \
    TGT static void mkf_##NAME##_##TT##_##TR(const float *x, int64_t ldx, const rk_wview *w, int64_t r0, int64_t c8, float *o) \
    { mk_fused(DT, TT, TR, x, ldx, w, r0, c8, o); }
#define MK_FUSED_DT(NAME, DT) \
    MK_FUSED(NAME, DT, 1, 1) MK_FUSED(NAME, DT, 1, 2) MK_FUSED(NAME, DT, 1, 3) MK_FUSED(NAME, DT, 1, 4) \
    MK_FUSED(NAME, DT, 2, 1) MK_FUSED(NAME, DT, 2, 2) MK_FUSED(NAME, DT, 2, 3) MK_FUSED(NAME, DT, 2, 4) \
    static const mk_fused_fn MKF_##NAME[2][4] = { \
        { mkf_##NAME##_1_1, mkf_##NAME##_1_2, mkf_##NAME##_1_3, mkf_##NAME##_1_4 }, \
        { mkf_##NAME##_2_1, mkf_##NAME##_2_2, mkf_##NAME##_2_3, mkf_##NAME##_2_4 } };
MK_FUSED_DT(f32, RK_DTYPE_F32)
MK_FUSED_DT(f16, RK_DTYPE_F16)
MK_FUSED_DT(bf16, RK_DTYPE_BF16)
MK_FUSED_DT(e4m3, RK_DTYPE_F8_E4M3)

/* ---- drivers ---------------------------------------------------------------------------------- */
TGT static float tail_dot_w(const float *xr, const rk_wview *w, int64_t r, int64_t c8, int64_t cols) {
    float s = 0.0f;
    for (int64_t k = c8; k < cols; k++) s = fmaf(xr[k], rk_kern_welem(w, r, k), s);
    return s;
}

static void matmul_decode(float *y, const float *x, const rk_wview *w, const float *bias, int64_t n) {
    const int64_t rows = w->rows, cols = w->cols, c8 = cols & ~(int64_t)7, ngroup = (rows + 3) / 4;
    const mk_fused_fn(*tab)[4] = w->dtype == RK_DTYPE_F16    ? MKF_f16
                                : w->dtype == RK_DTYPE_BF16   ? MKF_bf16
                                : w->dtype == RK_DTYPE_F8_E4M3 ? MKF_e4m3 : MKF_f32;
    #pragma omp parallel for schedule(static) if (rows * cols >= (1 << 16))
    for (int64_t g = 0; g < ngroup; g++) {
        const int64_t r0 = g * 4, tr = rows - r0 < 4 ? rows - r0 : 4;
        float o[8];
        tab[n - 1][tr - 1](x, cols, w, r0, c8, o);
        for (int64_t t = 0; t < n; t++)
            for (int64_t r = 0; r < tr; r++) {
                float v = o[t * 4 + r] + tail_dot_w(x + t * cols, w, r0 + r, c8, cols);
                if (bias) v += bias[r0 + r];
                y[t * rows + r0 + r] = v;
            }
    }
}

/* Blocking of the prompt path: RB rows x KC columns of converted weights (96 KiB) against NB tokens, with
 * NB x RB 8-lane accumulators (96 KiB) kept across column chunks; all L2-sized whatever cols is. */
#ifndef RK_MM_RB
#define RK_MM_RB 48
#define RK_MM_KC 512
#define RK_MM_NB 64
#endif
enum { RB = RK_MM_RB, KC = RK_MM_KC, NB = RK_MM_NB };
_Static_assert(RB >= 3 && RB % 3 == 0 && KC >= 8 && KC % 8 == 0 && NB >= 1, "matmul blocking constants");

/* Columns [k0, k0+kc) of rows [r0, r0+nr) as f32 into buf[nr][kc]. */
static void convert_tile(const rk_wview *w, int64_t r0, int64_t nr, int64_t k0, int64_t kc, float *buf) {
    for (int64_t i = 0; i < nr; i++) {
        if (w->dtype == RK_DTYPE_F8_E4M3) e4m3_row_range(w, r0 + i, k0, k0 + kc, buf + i * kc);
        else rk_kern_row_f32(w, r0 + i, k0, k0 + kc, buf + i * kc);
    }
}

typedef struct tiled_job { const float *x; const rk_wview *w; const float *bias; float *y; int64_t n, rb; } tiled_job;

/* One (row block, token block) of the prompt path. A separate TGT function: the OpenMP-outlined loop body
 * would not inherit the target attribute (clang). */
TGT static void tiled_block(const tiled_job *j, int64_t b, int64_t tb, float *wbuf, float *acc) {
    const rk_wview *w = j->w;
    const int64_t rows = w->rows, cols = w->cols, c8 = cols & ~(int64_t)7;
    const int64_t r0 = b * j->rb, nr = rows - r0 < j->rb ? rows - r0 : j->rb;
    const int64_t tb0 = tb * NB, nt = j->n - tb0 < NB ? j->n - tb0 : NB;
    memset(acc, 0, sizeof(float) * (size_t)(NB * RB * 8));
    for (int64_t k0 = 0; k0 < c8; k0 += KC) {
        const int64_t kc = c8 - k0 < KC ? c8 - k0 : KC;
        convert_tile(w, r0, nr, k0, kc, wbuf);
        for (int64_t t0 = 0; t0 < nt; t0 += 4) {
            const int64_t tt = nt - t0 < 4 ? nt - t0 : 4;
            for (int64_t ri = 0; ri < nr; ri += 3) {
                const int64_t tr = nr - ri < 3 ? nr - ri : 3;
                MK_TILE_TAB[tt - 1][tr - 1](j->x + (tb0 + t0) * cols + k0, cols, wbuf + ri * kc, kc, kc,
                                            acc + (t0 * RB + ri) * 8, RB * 8);
            }
        }
    }
    for (int64_t t = 0; t < nt; t++)
        for (int64_t r = 0; r < nr; r++) {
            const int64_t row = r0 + r, tok = tb0 + t;
            float v = rk_kern_hsum8(_mm256_loadu_ps(acc + (t * RB + r) * 8)) + tail_dot_w(j->x + tok * cols, w, row, c8, cols);
            if (j->bias) v += j->bias[row];
            j->y[tok * rows + row] = v;
        }
}

static void matmul_tiled(float *y, const float *x, const rk_wview *w, const float *bias, int64_t n) {
    const int64_t rows = w->rows, cols = w->cols;
    const int nthr = omp_get_max_threads();
    int64_t rb = (rows + 4 * nthr - 1) / (4 * nthr);          /* keep >= 4 blocks per thread when rows allow */
    rb = rb > RB ? RB : rb < 3 ? 3 : (rb + 2) / 3 * 3;
    const int64_t nblk = (rows + rb - 1) / rb, ntb = (n + NB - 1) / NB;
    const size_t per_thr = (size_t)(RB * KC + NB * RB * 8);
    float *mem = malloc(sizeof(float) * per_thr * (size_t)nthr);
    if (!mem) { rk_matmul_ref(y, x, w, bias, n); return; }
    const tiled_job job = { x, w, bias, y, n, rb };
    #pragma omp parallel for schedule(static) collapse(2) if ((double)rows * cols * n >= (double)(1 << 18))
    for (int64_t b = 0; b < nblk; b++)
        for (int64_t tb = 0; tb < ntb; tb++) {
            float *wbuf = mem + per_thr * (size_t)omp_get_thread_num();
            tiled_block(&job, b, tb, wbuf, wbuf + RB * KC);
        }
    free(mem);
}

/* ---- prefill path (n >= PF_MIN): 6 weight rows x 16 tokens register tile (AVX2), 12 x 32 (AVX-512) ----------
 * The activations (small, cache-resident) are packed once per call, token-minor: xp[k block][token group of 16
 * (32)][k][16 (32)]. The weights are read in place, row-major, one block of 6 rows x PF_KC columns at a time (F32 read
 * directly; other dtypes converted into a per-thread f32 tile), so the big operand streams sequentially from
 * memory along 6 rows, which the hardware prefetcher follows; packing the weights instead stalled on DRAM for a
 * third of the time on a 400 MB model. The micro-kernel broadcasts w[r, k] and does 2 FMAs per row per k into
 * fresh accumulators (lanes = tokens); the weight block stays in L1 for all token groups.
 * With AVX-512 (avx512.c) the tile is 12 rows x 32 tokens and F32 weights are copied into the tile as well
 * (see matmul_prefill); the per-output arithmetic below is unchanged, so both paths give identical bits.
 * Order for y[t, r]: per k block, a sequential FMA chain over its columns starting from 0; block partial sums
 * are added in column order; then + bias. Each 6-row block is computed by one thread (OpenMP static over row
 * blocks), so results do not depend on the thread count; they differ (within the tested 1e-6·Σ|x·w|) from the
 * n < PF_MIN paths. */
enum { PF_MIN = 16, PF_KC = 256, PF_MR = 6, PF_NT = 16 };

/* RR (1..6) rows x 16 tokens over kc columns: c[r][16] = (first ? 0 : c) + chain. */
TGT static AINL void pw_kernel(int RR, const float *wr, int64_t ldw, const float *xp, int64_t kc, float *c,
                               int first) {
    __m256 a[PF_MR][2];
#pragma GCC unroll 6
    for (int r = 0; r < PF_MR; r++) a[r][0] = a[r][1] = _mm256_setzero_ps();
#pragma GCC unroll 2
    for (int64_t k = 0; k < kc; k++) {
        const __m256 x0 = _mm256_load_ps(xp + k * 16), x1 = _mm256_load_ps(xp + k * 16 + 8);
#pragma GCC unroll 6
        for (int r = 0; r < PF_MR; r++)
            if (r < RR) {
                const __m256 wb = _mm256_broadcast_ss(wr + r * ldw + k);
                a[r][0] = _mm256_fmadd_ps(wb, x0, a[r][0]);
                a[r][1] = _mm256_fmadd_ps(wb, x1, a[r][1]);
            }
    }
#pragma GCC unroll 6
    for (int r = 0; r < PF_MR; r++)
        if (r < RR) {
            if (first) {
                _mm256_storeu_ps(c + r * 16, a[r][0]);
                _mm256_storeu_ps(c + r * 16 + 8, a[r][1]);
            } else {
                _mm256_storeu_ps(c + r * 16, _mm256_add_ps(_mm256_loadu_ps(c + r * 16), a[r][0]));
                _mm256_storeu_ps(c + r * 16 + 8, _mm256_add_ps(_mm256_loadu_ps(c + r * 16 + 8), a[r][1]));
            }
        }
}

#define PW_K(RR) \
    TGT static void pw_k##RR(const float *wr, int64_t ldw, const float *xp, int64_t kc, float *c, int first) \
    { pw_kernel(RR, wr, ldw, xp, kc, c, first); }
PW_K(1) PW_K(2) PW_K(3) PW_K(4) PW_K(5) PW_K(6)
static const rk_pf_kernel PW_TAB[PF_MR] = { pw_k1, pw_k2, pw_k3, pw_k4, pw_k5, pw_k6 };

/* The register tile in use: mr weight rows x nt tokens; a last token group narrower than nt is 16 wide.
 * kern[0] are the 16-token kernels, kern[1] the nt-token ones, indexed by rows - 1. */
typedef struct pf_geom {
    int mr, nt;
    int tile_f32;   /* copy F32 weight blocks into the tile too (see matmul_prefill) */
    const rk_pf_kernel *kern[2];
} pf_geom;

/* xp[kb][group][k][gw]: block kb holds columns [kb*PF_KC, +kc) of all npad = 16*ceil(n/16) token slots, at xp +
 * kb*PF_KC*npad; within it the group of tokens [t0, t0+gw) (gw = nt, or 16 for a last short group) starts at
 * t0*kc. Missing tokens are 0. */
TGT static void pw_pack_x(float *xp, const float *x, int64_t n, int64_t cols, int64_t npad, int64_t nt) {
    #pragma omp parallel for schedule(static) if (n * cols >= (1 << 16))
    for (int64_t kb = 0; kb < (cols + PF_KC - 1) / PF_KC; kb++) {
        const int64_t k0 = kb * PF_KC, kc = cols - k0 < PF_KC ? cols - k0 : PF_KC;
        float *blk = xp + k0 * npad;
        for (int64_t t0 = 0; t0 < npad; t0 += nt) {
            const int64_t gw = npad - t0 < nt ? npad - t0 : nt;
            float *o = blk + t0 * kc;
            for (int64_t t = 0; t < gw; t++) {
                const int64_t tok = t0 + t;
                if (tok >= n) {
                    for (int64_t k = 0; k < kc; k++) o[k * gw + t] = 0.0f;
                    continue;
                }
                const float *xr = x + tok * cols + k0;
                for (int64_t k = 0; k < kc; k++) o[k * gw + t] = xr[k];
            }
        }
    }
}

/* bytes of the first k elements of a weight row (k a multiple of the block size for ggml block types) */
static int64_t wbytes(const rk_wview *w, int64_t k) {
    switch (w->dtype) {
    case RK_DTYPE_F32: return 4 * k;
    case RK_DTYPE_F16: case RK_DTYPE_BF16: return 2 * k;
    case RK_DTYPE_F8_E4M3: return k;
    default: {
        const rk_qtype *q = rk_qtype_get(w->dtype);
        return q ? k / q->block * (int64_t)q->bytes : k;
    }
    }
}

/* One block of rows [r0, r0+nr), nr <= g->mr; tile: mr x PF_KC f32 (non-F32 weights), c: npad*mr floats (the
 * group of tokens from t0 at c + t0*mr, row stride its width). */
TGT static void pw_rows(const pf_geom *g, float *y, const float *xp, const rk_wview *w, const float *bias, int64_t n,
                        int64_t npad, int64_t r0, int64_t nr, float *tile, float *c) {
    const int64_t rows = w->rows, cols = w->cols, nt = g->nt, ngr = (npad + nt - 1) / nt;
    for (int64_t k0 = 0; k0 < cols; k0 += PF_KC) {
        const int64_t kc = cols - k0 < PF_KC ? cols - k0 : PF_KC;
        const float *wr;
        int64_t ldw;
        if (w->dtype == RK_DTYPE_F32 && !g->tile_f32) {
            wr = (const float *)w->data + r0 * cols + k0;
            ldw = cols;
        } else {
            for (int64_t i = 0; i < nr; i++) {
                if (w->dtype == RK_DTYPE_F8_E4M3) e4m3_row_range(w, r0 + i, k0, k0 + kc, tile + i * PF_KC);
                else rk_kern_row_f32(w, r0 + i, k0, k0 + kc, tile + i * PF_KC);
            }
            wr = tile;
            ldw = PF_KC;
        }
        /* the next weight block (same rows, next columns; else the next row block), requested a slice per call */
        int64_t nr0 = r0, nk0 = k0 + kc, nnr = nr;
        if (nk0 >= cols) { nr0 = r0 + nr; nk0 = 0; nnr = rows - nr0 < g->mr ? rows - nr0 : g->mr; }
        const int64_t nkc = cols - nk0 < PF_KC ? cols - nk0 : PF_KC, lpr = (wbytes(w, nkc) + 63) / 64;
        const int64_t lines = nnr > 0 ? nnr * lpr : 0, row_b = wbytes(w, cols);
        const char *nb = (const char *)w->data + nr0 * row_b + wbytes(w, nk0);
        const float *blk = xp + k0 * npad;
        int64_t pl = 0, prow = 0, pcol = 0;   /* next line to request: row prow, line pcol of that row */
        for (int64_t gi = 0; gi < ngr; gi++) {
            for (const int64_t end = (gi + 1) * lines / ngr; pl < end; pl++) {
                _mm_prefetch(nb + prow * row_b + pcol * 64, _MM_HINT_T0);
                if (++pcol == lpr) { pcol = 0; prow++; }
            }
            const int64_t t0 = gi * nt, gw = npad - t0 < nt ? npad - t0 : nt;
            g->kern[gw == nt][nr - 1](wr, ldw, blk + t0 * kc, kc, c + t0 * g->mr, k0 == 0);
        }
    }
    for (int64_t t0 = 0; t0 < n; t0 += nt) {
        const int64_t gw = npad - t0 < nt ? npad - t0 : nt, tn = n - t0 < gw ? n - t0 : gw;
        const float *cg = c + t0 * g->mr;
        for (int64_t t = 0; t < tn; t++) {
            float *yr = y + (t0 + t) * rows + r0;
            for (int64_t r = 0; r < nr; r++) yr[r] = bias ? cg[r * gw + t] + bias[r0 + r] : cg[r * gw + t];
        }
    }
}

static void matmul_prefill(float *y, const float *x, const rk_wview *w, const float *bias, int64_t n) {
    /* The AVX-512 tile reads 12 weight rows at once; read in place, rows whose stride is a multiple of 4 KiB
     * (2048 columns) fall into the same L1 sets and the speed then depended on where the mapping landed (568-722
     * tok/s over six runs of the 100M dense model); copied into the 12 KiB tile first it held 721-761. The AVX2
     * tile (6 rows) showed no difference, so it keeps reading in place. */
    static const pf_geom g2 = { PF_MR, PF_NT, 0, { PW_TAB, PW_TAB } };
    static const pf_geom g5 = { RK_PF512_MR, 2 * PF_NT, 1, { rk_pf512_tab[0], rk_pf512_tab[1] } };
    const pf_geom *g = rk_kern_use_avx512() ? &g5 : &g2;
    const int64_t npad = (n + 15) / 16 * 16, nblk = (w->rows + g->mr - 1) / g->mr;
    const int nthr = omp_get_max_threads();
    const size_t per_thr = (size_t)(g->mr * PF_KC + npad * g->mr + 16);
    float *xp = rk_kern_scratch(3, (size_t)(npad * w->cols)), *xp_own = NULL;
    if (!xp) xp = xp_own = aligned_alloc(64, (sizeof(float) * (size_t)(npad * w->cols) + 63) / 64 * 64);
    float *mem = aligned_alloc(64, (sizeof(float) * per_thr * (size_t)nthr + 63) / 64 * 64);
    if (!xp || !mem) {
        free(xp_own); free(mem);
        matmul_tiled(y, x, w, bias, n);
        return;
    }
    pw_pack_x(xp, x, n, w->cols, npad, g->nt);
    #pragma omp parallel for schedule(static) if ((double)w->rows * w->cols * n >= (double)(1 << 18))
    for (int64_t b = 0; b < nblk; b++) {
        float *tile = mem + per_thr * (size_t)omp_get_thread_num(), *c = tile + g->mr * PF_KC;
        const int64_t r0 = b * g->mr, nr = w->rows - r0 < g->mr ? w->rows - r0 : g->mr;
        pw_rows(g, y, xp, w, bias, n, npad, r0, nr, tile, c);
    }
    free(xp_own);
    free(mem);
}

/* ggml block types below PF_MIN tokens: the activations are quantized once to the type's 8-bit activation format
 * (Q8_0 or Q8_K, as ggml does) and every output is the type's integer block dot product; OpenMP over rows. Results
 * differ from the f32 paths by the activation rounding (~0.5% of a block's range), as in llama.cpp. */
static int cols_ok_for_act(const rk_qtype *q, int64_t cols) {
    return cols % (q->act_type == RK_DTYPE_Q8_K ? 256 : 32) == 0;
}

static void matmul_qdot(float *y, const float *x, const rk_wview *w, const rk_qtype *q, const float *bias, int64_t n) {
    const int64_t rows = w->rows, cols = w->cols;
    const size_t ab = rk_act_row_bytes(q->act_type, cols), rb = (size_t)(cols / q->block) * q->bytes;
    uint8_t *xa = malloc(ab * (size_t)n);
    if (!xa) { matmul_tiled(y, x, w, bias, n); return; }
    for (int64_t t = 0; t < n; t++) rk_quantize_act(q->act_type, x + t * cols, xa + (size_t)t * ab, cols);
    #pragma omp parallel for schedule(static) if (rows * cols * n >= (1 << 16))
    for (int64_t r = 0; r < rows; r++) {
        const uint8_t *wr = (const uint8_t *)w->data + (size_t)r * rb;
        for (int64_t t = 0; t < n; t++) {
            const float s = q->vec_dot(cols, wr, xa + (size_t)t * ab);
            y[t * rows + r] = bias ? s + bias[r] : s;
        }
    }
    free(xa);
}

void rk_matmul_avx2(float *y, const float *x, const rk_wview *w, const float *bias, int64_t n) {
    if (w->rows == 0) return;
    if (w->cols == 0) {
        for (int64_t t = 0; t < n; t++)
            for (int64_t r = 0; r < w->rows; r++) y[t * w->rows + r] = bias ? bias[r] : 0.0f;
        return;
    }
    const rk_qtype *q = w->dtype == RK_DTYPE_F32 || w->dtype == RK_DTYPE_F16 || w->dtype == RK_DTYPE_BF16 ||
                                w->dtype == RK_DTYPE_F8_E4M3 ? NULL : rk_qtype_get(w->dtype);
    if (q && n < PF_MIN && cols_ok_for_act(q, w->cols)) { matmul_qdot(y, x, w, q, bias, n); return; }
    if (q) { n >= PF_MIN ? matmul_prefill(y, x, w, bias, n) : matmul_tiled(y, x, w, bias, n); return; }
    const int fused_ok = w->dtype != RK_DTYPE_F8_E4M3 || (w->block % 16 == 0 && fp8_scales_ok(w));
    if (n <= 2 && fused_ok) matmul_decode(y, x, w, bias, n);
    else if (n >= PF_MIN) matmul_prefill(y, x, w, bias, n);
    else matmul_tiled(y, x, w, bias, n);
}

TGT void rk_axpy_avx2(float *y, float a, const float *x, int64_t n) {
    const __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] = fmaf(a, x[i], y[i]);
}

TGT float rk_dot_avx2(const float *a, const float *b, int64_t n) {
    __m256 acc = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc);
    float s = 0.0f;
    for (int64_t j = i; j < n; j++) s = fmaf(a[j], b[j], s);
    return rk_kern_hsum8(acc) + s;
}
/* ---- elementwise: exp, SwiGLU, softmax row ---------------------------------------------------------------------- */
/* e^x for 8 lanes: x = n·ln2 + r (Cody-Waite split of ln2), e^r by Cephes' degree-6 polynomial on |r| <= ln2/2,
 * 2^n by exponent bits. Max error about 2 ulp over the normal range (tested through SwiGLU/softmax against double).
 * Below -87.33 the result is 0 (also for -inf), above 88.72 it is +inf, NaN propagates. */
TGT static inline __m256 exp8(__m256 x) {
    const __m256 hi = _mm256_set1_ps(88.7228f), lo = _mm256_set1_ps(-87.3365f);
    const __m256 under = _mm256_cmp_ps(x, lo, _CMP_LT_OQ), over = _mm256_cmp_ps(x, hi, _CMP_GT_OQ);
    x = _mm256_min_ps(hi, _mm256_max_ps(lo, x));     /* NaN stays NaN: min/max return the second operand */
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500E-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507E-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073E-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894E-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459E-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201E-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    /* 2^n in two halves so that n = 128 (x near 88.7) does not overflow the exponent field */
    const __m256i ni = _mm256_cvtps_epi32(n);
    const __m256i h1 = _mm256_srai_epi32(ni, 1), h2 = _mm256_sub_epi32(ni, h1);
    const __m256i bias = _mm256_set1_epi32(127);
    const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(h1, bias), 23));
    const __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(h2, bias), 23));
    const __m256 e = _mm256_andnot_ps(under, _mm256_mul_ps(_mm256_mul_ps(p, s1), s2));
    return _mm256_blendv_ps(e, _mm256_set1_ps(INFINITY), over);
}

TGT void rk_swiglu_avx2(float *out, const float *gate, const float *up, int64_t n) {
    const __m256 one = _mm256_set1_ps(1.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 g = _mm256_loadu_ps(gate + i);
        const __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), g));
        _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(one, e)), _mm256_loadu_ps(up + i)));
    }
    for (; i < n; i++) out[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}

/* max, then e^(x-max) with an 8-lane float sum (fixed order), then scale; all -inf -> zeros. */
TGT void rk_softmax_row_avx2(float *x, int64_t len) {
    __m256 vm = _mm256_set1_ps(-INFINITY);
    int64_t i = 0;
    for (; i + 8 <= len; i += 8) vm = _mm256_max_ps(vm, _mm256_loadu_ps(x + i));
    float lanes[8], m = -INFINITY;
    _mm256_storeu_ps(lanes, vm);
    for (int k = 0; k < 8; k++) m = lanes[k] > m ? lanes[k] : m;
    for (int64_t j = i; j < len; j++) m = x[j] > m ? x[j] : m;
    if (m == -INFINITY) {
        memset(x, 0, sizeof(float) * (size_t)len);
        return;
    }
    const __m256 mv = _mm256_set1_ps(m);
    __m256 acc = _mm256_setzero_ps();
    for (i = 0; i + 8 <= len; i += 8) {
        const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), mv));
        _mm256_storeu_ps(x + i, e);
        acc = _mm256_add_ps(acc, e);
    }
    double s = rk_kern_hsum8(acc);
    for (int64_t j = i; j < len; j++) {
        x[j] = expf(x[j] - m);
        s += x[j];
    }
    const __m256 inv = _mm256_set1_ps((float)(1.0 / s));
    for (i = 0; i + 8 <= len; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), inv));
    for (int64_t j = i; j < len; j++) x[j] *= (float)(1.0 / s);
}
#endif
