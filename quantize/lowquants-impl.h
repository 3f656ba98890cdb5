/* quantize/lowquants-impl.h — internals shared by the low-bit block formats (q6k.c, q3k.c, q2k.c, tq2_0.c):
 * input sanitising, the scale searches, the F16 scale store and the AVX2 integer-dot helpers. Not public.
 *
 * Search design (ours, not ggml's; only the block layouts and decoders are ggml's):
 *   - every block is quantized from a sanitised copy (NaN/±Inf -> 0; importance weights NaN/negative -> 0);
 *   - per sub-block, candidate scales map the largest-magnitude value to each end of the level range, nudged in
 *     steps of 0.1 level; for each candidate the levels are rounded, the scale (and min) refitted by weighted
 *     least squares given those levels, and the candidate with the smallest weighted error kept; one more
 *     re-round/refit pass follows;
 *   - the sub-block scales are then quantized by the same search, weighted by Σ w·L² (how much a scale error
 *     costs in that sub-block), the levels re-rounded against the scales as the decoder sees them, and the
 *     super-block scale(s) refitted once by least squares;
 *   - finally several whole-block candidates (weighted search, unweighted search, plain round-to-nearest) are
 *     decoded exactly as ggml decodes them and the one with the smallest Σ imp·(x − x̂)² is written. So the
 *     result is never worse than plain RTN, and with imp never worse than the unweighted search, on the
 *     weighted error of that block.
 * All search arithmetic is double (no overflow for any finite f32 input), and floating-point contraction is
 * off in these files so that -march=native builds give the same bytes as the portable build.
 * The fast quantizers (T_quantize) run the same searches with the candidate scales in AVX2 lanes
 * (rk_lq_search_sym_avx2, q2k.c's sub-block search) and vectorised level rounding/packing; each lane repeats the
 * scalar operations in the scalar order, so their bytes equal T_quantize_ref's (tests/quantize/test_qfast.c). */
#ifndef RK_QUANTIZE_LOWQUANTS_IMPL_H
#define RK_QUANTIZE_LOWQUANTS_IMPL_H
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "formats/numeric.h"
#include "model/kernels/kernels-impl.h"
#include "quantize/blocks_low.h"

#ifdef RK_KERN_X86
#include <immintrin.h>
#endif

/* Same bytes with or without FMA contraction: the decoders and the searches must round each product. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#define RK_LQ_QK 256

/* ggml's block_q8_K (the activation type of these vec_dots); the same layout as quantize/blocks.h's once the
 * Q8_K helper lands there. */
typedef struct rk_lq_q8k {
    float d;
    int8_t qs[RK_LQ_QK];
    int16_t bsums[RK_LQ_QK / 16];
} rk_lq_q8k;
_Static_assert(sizeof(rk_lq_q8k) == 292, "Q8_K layout");

/* Nearest integer of v clamped to [lo, hi] (halves up; NaN -> the value in range nearest 0). No UB. */
static inline int rk_lq_nearest(double v, int lo, int hi) {
    if (v != v) return lo > 0 ? lo : hi < 0 ? hi : 0;
    if (!(v > lo)) return lo;
    if (v >= hi) return hi;
    const double t = v + 0.5;     /* floor(t) without a libm call (no SSE4.1 in the baseline ISA) */
    int r = (int)t;
    if ((double)r > t) r--;
    return r > hi ? hi : r;
}

/* F16 bits of a scale: finite always (clamped to ±65504), NaN -> 0. */
static inline uint16_t rk_lq_f16(double s) {
    if (s != s) return 0;
    if (s > 65504.0) s = 65504.0;
    if (s < -65504.0) s = -65504.0;
    return rk_f32_to_f16((float)s);
}

/* Copy one block of n values with NaN/±Inf replaced by 0; imp (may be NULL) likewise with NaN, ±Inf and
 * negatives replaced by 0 into w. Returns 1 if w was filled (imp given). */
static inline int rk_lq_sanitize(const float *x, const float *imp, int n, float *xs, float *w) {
    for (int i = 0; i < n; i++) xs[i] = isfinite(x[i]) ? x[i] : 0.0f;
    if (!imp) return 0;
    for (int i = 0; i < n; i++) w[i] = (isfinite(imp[i]) && imp[i] > 0.0f) ? imp[i] : 0.0f;
    return 1;
}

/* Σ w (x − y)² in double over n values (w NULL: weights 1); +inf if any y is not finite. */
static inline double rk_lq_err(const float *x, const float *y, const float *w, int n) {
    double e = 0.0;
    for (int i = 0; i < n; i++) {
        if (!isfinite(y[i])) return INFINITY;
        const double d = (double)x[i] - (double)y[i];
        e += (w ? (double)w[i] : 1.0) * d * d;
    }
    return e;
}

/* Symmetric scale search: the s minimising Σ w (x − s·L)² with L = nearest(x/s) in [qmin, qmax] (qmin <= 0 <
 * qmax), searched over candidates that map the largest |x| to qmin or qmax (±0.9 level in 0.1 steps), each
 * refitted by least squares, then one re-round/refit pass. w NULL: weights 1. L receives the levels of the
 * returned scale; returns 0 (all L = 0) if x is all zero or all weights are zero. n <= 256. */
/* The search's last step, shared by the scalar and the AVX2 search: re-round x against the fitted scale best_s
 * (scratch Lt[n]), refit, and keep the refit (scale and levels into L) when it scores better than best_score. */
static inline double rk_lq_refit(int n, const double *x, const double *w, int qmin, int qmax, double best_s,
                                 double best_score, int *Lt, int *L) {
    double slx = 0.0, sl2 = 0.0;
    for (int i = 0; i < n; i++) {
        const int l = rk_lq_nearest(x[i] / best_s, qmin, qmax);
        const double wi = w ? w[i] : 1.0;
        Lt[i] = l;
        slx += wi * x[i] * l;
        sl2 += wi * (double)l * l;
    }
    if (sl2 > 0.0 && slx * slx / sl2 > best_score) {
        best_s = slx / sl2;
        memcpy(L, Lt, (size_t)n * sizeof *L);
    }
    return best_s;
}

static inline double rk_lq_search_sym(int n, const double *x, const double *w, int qmin, int qmax, int *L) {
    double amax = 0.0, vmax = 0.0, sw = 0.0;
    for (int i = 0; i < n; i++) {
        if (fabs(x[i]) > amax) { amax = fabs(x[i]); vmax = x[i]; }
        sw += w ? w[i] : 1.0;
    }
    for (int i = 0; i < n; i++) L[i] = 0;
    if (amax == 0.0 || !(sw > 0.0)) return 0.0;
    int Lt[256];
    double best_score = -1.0, best_s = 0.0;
    const int ends[2] = {qmin, qmax};
    for (int e = 0; e < 2; e++) {
        if (ends[e] == 0) continue;
        for (int k = -9; k <= 9; k++) {
            const double is = (ends[e] + 0.1 * k) / vmax;
            double slx = 0.0, sl2 = 0.0;
            for (int i = 0; i < n; i++) {
                const int l = rk_lq_nearest(is * x[i], qmin, qmax);
                const double wi = w ? w[i] : 1.0;
                Lt[i] = l;
                slx += wi * x[i] * l;
                sl2 += wi * (double)l * l;
            }
            if (!(sl2 > 0.0)) continue;
            const double score = slx * slx / sl2;   /* error = Σ w x² − score */
            if (score > best_score) {
                best_score = score; best_s = slx / sl2;
                memcpy(L, Lt, (size_t)n * sizeof *L);
            }
        }
    }
    if (best_score < 0.0 || best_s == 0.0) return 0.0;
    return rk_lq_refit(n, x, w, qmin, qmax, best_s, best_score, Lt, L);   /* re-round, refit, keep if better */
}

/* The symmetric search as a function pointer: the scalar one or (fast quantizers) its AVX2 twin. */
typedef double (*rk_lq_sym_fn)(int n, const double *x, const double *w, int qmin, int qmax, int *L);

#ifdef RK_KERN_X86
#define RK_LQ_TGT __attribute__((target("avx2,fma")))

/* ---- AVX2 versions of the searches, bit-identical to the scalar ones above. Candidates (scales) sit in SIMD
 * lanes and each lane accumulates the elements in the scalar loop's order with the scalar loop's operations
 * (fp-contract is off in this header's users, so no FMA is formed); rk_lq_nearest4 equals rk_lq_nearest. */

/* rk_lq_nearest of 4 doubles: floor(v + 0.5) (the same double sum), NaN -> 0, then clamped to [lo, hi]. */
RK_LQ_TGT static inline __m256d rk_lq_nearest4(__m256d v, __m256d lo, __m256d hi) {
    __m256d t = _mm256_floor_pd(_mm256_add_pd(v, _mm256_set1_pd(0.5)));
    t = _mm256_and_pd(t, _mm256_cmp_pd(v, v, _CMP_ORD_Q));
    return _mm256_min_pd(_mm256_max_pd(t, lo), hi);
}

/* Levels of 16 values under one decoded step: L[i] = (d != 0 ? rk_lq_nearest(((double)x[i] + off) / d, lo, hi) : 0)
 * + bias, the finishing loops' arithmetic (off = 0 gives their x/d: x + 0 is x, and ±0 round alike). */
RK_LQ_TGT static inline void rk_lq_levels16(const float *x, float d, float off, int lo, int hi, int bias, uint8_t *L) {
    if (d == 0.0f) {
        memset(L, bias, 16);
        return;
    }
    const __m256d dv = _mm256_set1_pd((double)d), ov = _mm256_set1_pd((double)off);
    const __m256d lov = _mm256_set1_pd(lo), hiv = _mm256_set1_pd(hi);
    const __m128i b4 = _mm_set1_epi32(bias);
    for (int i = 0; i < 16; i += 4) {
        const __m256d xv = _mm256_cvtps_pd(_mm_loadu_ps(x + i));
        const __m256d l = rk_lq_nearest4(_mm256_div_pd(_mm256_add_pd(xv, ov), dv), lov, hiv);
        const __m128i q = _mm_add_epi32(_mm256_cvtpd_epi32(l), b4);
        const __m128i q8 = _mm_packus_epi16(_mm_packs_epi32(q, q), _mm_setzero_si128());
        const uint32_t u = (uint32_t)_mm_cvtsi128_si32(q8);
        memcpy(L + i, &u, 4);
    }
}

/* 2-bit fields of 256 levels (each 0..3) as Q2_K/Q3_K/TQ2_0 store them: element e in byte 32(e/128) + e%32 at
 * bit 2((e%128)/32). */
RK_LQ_TGT static inline void rk_lq_pack2(const uint8_t *L, uint8_t *qs) {
    const __m256i m3 = _mm256_set1_epi8(3);
    for (int h = 0; h < 2; h++) {
        __m256i r = _mm256_setzero_si256();
        for (int k = 0; k < 4; k++) {
            const __m256i v = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(L + 128 * h + 32 * k)), m3);
            r = _mm256_or_si256(r, _mm256_slli_epi16(v, 2 * k));   /* v <= 3: no bit crosses a byte */
        }
        _mm256_storeu_si256((__m256i *)(qs + 32 * h), r);
    }
}

/* Σ over n elements for NV·4 candidate inverse scales is[]: slx += (w·x)·l, sl2 += (w·l)·l with
 * l = nearest(is·x). */
RK_LQ_TGT static inline __attribute__((always_inline)) void rk_lq_sym_chunk(int NV, int n, const double *x,
        const double *w, const double *is, int qmin, int qmax, double *slx, double *sl2) {
    __m256d a[4], b[4], iv[4];
    const __m256d lo = _mm256_set1_pd(qmin), hi = _mm256_set1_pd(qmax);
    for (int v = 0; v < NV; v++) {
        a[v] = b[v] = _mm256_setzero_pd();
        iv[v] = _mm256_loadu_pd(is + 4 * v);
    }
    for (int i = 0; i < n; i++) {
        const double wi = w ? w[i] : 1.0;
        const __m256d xb = _mm256_set1_pd(x[i]), wb = _mm256_set1_pd(wi), wx = _mm256_set1_pd(wi * x[i]);
        for (int v = 0; v < NV; v++) {
            const __m256d l = rk_lq_nearest4(_mm256_mul_pd(iv[v], xb), lo, hi);
            a[v] = _mm256_add_pd(a[v], _mm256_mul_pd(wx, l));
            b[v] = _mm256_add_pd(b[v], _mm256_mul_pd(_mm256_mul_pd(wb, l), l));
        }
    }
    for (int v = 0; v < NV; v++) {
        _mm256_storeu_pd(slx + 4 * v, a[v]);
        _mm256_storeu_pd(sl2 + 4 * v, b[v]);
    }
}

/* rk_lq_search_sym with the 19 or 38 candidate scales in lanes; the same result. */
RK_LQ_TGT static double rk_lq_search_sym_avx2(int n, const double *x, const double *w, int qmin, int qmax,
                                              int *L) {
    double amax = 0.0, vmax = 0.0, sw = 0.0;
    for (int i = 0; i < n; i++) {
        if (fabs(x[i]) > amax) { amax = fabs(x[i]); vmax = x[i]; }
        sw += w ? w[i] : 1.0;
    }
    for (int i = 0; i < n; i++) L[i] = 0;
    if (amax == 0.0 || !(sw > 0.0)) return 0.0;
    double is[40], slx[40] = {0}, sl2[40] = {0};   /* lanes past the last chunk stay 0 */
    int nc = 0;
    const int ends[2] = {qmin, qmax};
    for (int e = 0; e < 2; e++) {
        if (ends[e] == 0) continue;
        for (int k = -9; k <= 9; k++) is[nc++] = (ends[e] + 0.1 * k) / vmax;
    }
    for (int c = nc; c < 40; c++) is[c] = is[0];   /* padding lanes, never read back */
    int c0 = 0;
    for (; c0 + 16 <= nc; c0 += 16) rk_lq_sym_chunk(4, n, x, w, is + c0, qmin, qmax, slx + c0, sl2 + c0);
    if (nc - c0 > 4) rk_lq_sym_chunk(2, n, x, w, is + c0, qmin, qmax, slx + c0, sl2 + c0), c0 += 8;
    if (nc - c0 > 0) rk_lq_sym_chunk(1, n, x, w, is + c0, qmin, qmax, slx + c0, sl2 + c0);
    double score[40];
    for (int c = 0; c < 40; c += 4) {   /* slx·slx/sl2 per lane; candidates with sl2 <= 0 (or NaN) are skipped */
        const __m256d a = _mm256_loadu_pd(slx + c), b = _mm256_loadu_pd(sl2 + c);
        const __m256d sc = _mm256_div_pd(_mm256_mul_pd(a, a), b);
        const __m256d ok = _mm256_cmp_pd(b, _mm256_setzero_pd(), _CMP_GT_OQ);
        _mm256_storeu_pd(score + c, _mm256_blendv_pd(_mm256_set1_pd(NAN), sc, ok));
    }
    double best_score = -1.0, best_s = 0.0;
    int best = -1;
    for (int c = 0; c < nc; c++) {   /* NaN (skipped) never compares greater */
        const int take = score[c] > best_score;
        best_score = take ? score[c] : best_score;
        best = take ? c : best;
    }
    if (best >= 0) best_s = slx[best] / sl2[best];
    if (best >= 0)
        for (int i = 0; i < n; i++) L[i] = rk_lq_nearest(is[best] * x[i], qmin, qmax);
    if (best_score < 0.0 || best_s == 0.0) return 0.0;
    int Lt[256];
    return rk_lq_refit(n, x, w, qmin, qmax, best_s, best_score, Lt, L);
}

/* Horizontal sum of 8 int32 lanes (exact). */
RK_LQ_TGT static inline int32_t rk_lq_hsum_i32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

/* 32 signed weight levels q (|q| <= 64) times 32 activations a: 16 int16 pair sums, lanes 0-7 from elements
 * 0-15 and lanes 8-15 from 16-31 (exact: |sum| <= 2·64·127). */
RK_LQ_TGT static inline __m256i rk_lq_dot16_signed(__m256i q, __m256i a) {
    return _mm256_maddubs_epi16(_mm256_sign_epi8(q, q), _mm256_sign_epi8(a, q));
}

/* Multiply the pair sums of elements 0-15 by s0 and of 16-31 by s1, summed into 8 int32 lanes (exact). */
RK_LQ_TGT static inline __m256i rk_lq_scale2(__m256i p16, int s0, int s1) {
    const __m256i sc = _mm256_set_m128i(_mm_set1_epi16((short)s1), _mm_set1_epi16((short)s0));
    return _mm256_madd_epi16(p16, sc);
}
#endif
/* The symmetric search of a quantizer: fast is 0 for the _ref quantizers, rk_kern_use_avx2() for the fast ones. */
static inline rk_lq_sym_fn rk_lq_sym_pick(int fast) {
#ifdef RK_KERN_X86
    if (fast) return rk_lq_search_sym_avx2;
#else
    (void)fast;
#endif
    return rk_lq_search_sym;
}
#endif
