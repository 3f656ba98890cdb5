/* quantize/q4_1.c — Q4_1 (ggml type 3): 32 weights, half scale d and half offset m, x = q·d + m with 4-bit q
 * (20 bytes, 5 bpw). Layout ggml-common.h block_q4_1, decoding ggml-quants.c dequantize_row_q4_1 (element j in the
 * low nibble of qs[j], element j+16 in the high nibble; q·d rounded, then + m rounded: no FMA). The dot product is
 * ggml's against Q8_1 activations: per block dw·da·Σq·qa + m·s, with s = da·Σqa stored in the Q8_1 block.
 *
 * This file also holds the affine block search shared with Q5_1 (rk_qaffine_block). Without imp the block is
 * ggml's quantize_row_q4_1_ref / q5_1_ref: m = min, d = (max − min)/nmax, q = trunc((x − min)/d + 0.5) (what
 * llama-quantize writes without an imatrix). With imp that block is one candidate; the others start from 21 level
 * spacings (nmax − 1 .. nmax + 1 over the block's range, steps of 0.1), each followed by up to three weighted
 * least-squares refits of (d, m) for the levels re-rounded under the half-rounded d and m. The candidate with the
 * least Σ imp·(x − x̂)² on the decoded values wins; ggml's block is kept unless another is strictly better, so imp
 * never does worse than RTN. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "model/kernels/kernels-impl.h"
#include "quantize/kquants-impl.h"

/* The decoder and the RTN must round q·d before adding m, as ggml's (built without FMA) does. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#endif

/* ggml's RTN levels (x sanitised: finite). ggml casts (x − min)·id + 0.5 to an integer directly; the clamp before
 * the cast gives the same for every finite block with a normal d and avoids UB when 1/d overflows. */
static void affine_rtn(const float *x, int nmax, uint16_t *hd, uint16_t *hm, uint8_t *L) {
    float min = FLT_MAX, max = -FLT_MAX;
    for (int j = 0; j < 32; j++) {
        if (x[j] < min) min = x[j];
        if (x[j] > max) max = x[j];
    }
    const float d = (max - min) / (float)nmax;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    *hd = rk_kq_f16(d);
    *hm = rk_kq_f16(min);
    for (int j = 0; j < 32; j++) {
        const float v = (x[j] - min) * id + 0.5f;
        L[j] = (uint8_t)(!(v == v) || v <= 0.0f ? 0 : v >= (float)nmax ? nmax : (int)v);
    }
}

/* Σ w·(q·fd + fm − x)² on the decoded values (the decoder's float arithmetic). */
static double affine_err(const float *x, const float *w, uint16_t hd, uint16_t hm, const uint8_t *L) {
    const float fd = rk_f16_to_f32(hd), fm = rk_f16_to_f32(hm);
    double e = 0.0;
    for (int j = 0; j < 32; j++) {
        const float y = (float)L[j] * fd + fm;
        const double r = (double)y - x[j];
        e += w[j] * r * r;
    }
    return e;
}

/* Levels for (d, m) rounded to halves: nearest of (x − fm)/fd in 0..nmax. */
static void affine_levels(const float *x, int nmax, uint16_t hd, uint16_t hm, uint8_t *L) {
    const float fd = rk_f16_to_f32(hd), fm = rk_f16_to_f32(hm);
    const float id = fd > 0.0f ? 1.0f / fd : 0.0f;
    for (int j = 0; j < 32; j++) L[j] = (uint8_t)rk_kq_clampi(rk_kq_nearest((x[j] - fm) * id), 0, nmax);
}

/* Weighted least squares of x ≈ d·L + m for fixed levels; 0 if degenerate (no weight or one level only). */
static int affine_fit(const float *x, const float *w, const uint8_t *L, float *d, float *m) {
    double sw = 0, sl = 0, sll = 0, sx = 0, slx = 0;
    for (int j = 0; j < 32; j++) {
        sw += w[j];
        sl += (double)w[j] * L[j];
        sll += (double)w[j] * L[j] * L[j];
        sx += (double)w[j] * x[j];
        slx += (double)w[j] * L[j] * x[j];
    }
    const double det = sw * sll - sl * sl;
    if (!(sw > 0.0) || !(det > 1e-12 * sw * sll)) return 0;
    const double dd = (sw * slx - sl * sx) / det, mm = (sll * sx - sl * slx) / det;
    if (!(dd > 0.0) || !isfinite(dd) || !isfinite(mm)) return 0;
    *d = (float)dd;
    *m = (float)mm;
    return 1;
}

void rk_qaffine_block(const float *x, const float *w, int nmax, uint16_t *d, uint16_t *m, uint8_t L[32]) {
    affine_rtn(x, nmax, d, m, L);
    if (!w) return;
    double be = affine_err(x, w, *d, *m, L);
    float min = FLT_MAX, max = -FLT_MAX;
    for (int j = 0; j < 32; j++) {
        min = fminf(min, x[j]);
        max = fmaxf(max, x[j]);
    }
    if (!(max > min) || !(be > 0.0)) return;
    uint8_t Lc[32];
    for (int k = -10; k <= 10; k++) {
        const float is = ((float)nmax + 0.1f * (float)k) / (max - min);
        for (int j = 0; j < 32; j++) Lc[j] = (uint8_t)rk_kq_clampi(rk_kq_nearest((x[j] - min) * is), 0, nmax);
        for (int it = 0; it < 3; it++) {       /* refit (d, m) for these levels, re-round under the halves */
            float fd, fm;
            if (!affine_fit(x, w, Lc, &fd, &fm)) break;
            const uint16_t hd = rk_kq_f16(fd), hm = rk_kq_f16(fm);
            uint8_t Ln[32];
            affine_levels(x, nmax, hd, hm, Ln);
            const double e = affine_err(x, w, hd, hm, Ln);
            if (e < be) {
                be = e;
                *d = hd;
                *m = hm;
                memcpy(L, Ln, 32);
            }
            if (!memcmp(Ln, Lc, 32)) break;    /* converged */
            memcpy(Lc, Ln, 32);
        }
    }
}

static void q4_1_block(const float *x_in, const float *imp, rk_block_q4_1 *y) {
    float x[RK_QK4_1], w[RK_QK4_1];
    rk_kq_sanitize(x_in, x, RK_QK4_1);
    if (imp) rk_kq_weights(imp, w, RK_QK4_1);
    uint8_t L[RK_QK4_1];
    rk_block_q4_1 b;
    rk_qaffine_block(x, imp ? w : NULL, 15, &b.d, &b.m, L);
    for (int j = 0; j < RK_QK4_1 / 2; j++) b.qs[j] = (uint8_t)(L[j] | (L[j + 16] << 4));
    memcpy(y, &b, sizeof b);
}

void rk_q4_1_quantize_ref(const float *x, void *dst, int64_t n, const float *imp) {
    rk_block_q4_1 *y = dst;
    const int64_t nb = n / RK_QK4_1;
    for (int64_t i = 0; i < nb; i++) q4_1_block(x + i * RK_QK4_1, imp ? imp + i * RK_QK4_1 : NULL, &y[i]);
}

void rk_q4_1_quantize(const float *x, void *dst, int64_t n, const float *imp) {
    rk_block_q4_1 *y = dst;
    const int64_t nb = n / RK_QK4_1;
#pragma omp parallel for schedule(static) if (nb >= 8 * RK_KQ_OMP_MIN_BLOCKS)
    for (int64_t i = 0; i < nb; i++) q4_1_block(x + i * RK_QK4_1, imp ? imp + i * RK_QK4_1 : NULL, &y[i]);
}

void rk_q4_1_dequantize(const void *src, float *dst, int64_t n) {
    const rk_block_q4_1 *xb = src;
    const int64_t nb = n / RK_QK4_1;
    for (int64_t i = 0; i < nb; i++) {
        rk_block_q4_1 b;
        memcpy(&b, &xb[i], sizeof b);
        const float d = rk_f16_to_f32(b.d), m = rk_f16_to_f32(b.m);
        for (int j = 0; j < RK_QK4_1 / 2; j++) {
            dst[i * RK_QK4_1 + j] = (float)(b.qs[j] & 0xF) * d + m;
            dst[i * RK_QK4_1 + j + 16] = (float)(b.qs[j] >> 4) * d + m;
        }
    }
}

float rk_q4_1_vec_dot_ref(int64_t n, const void *w, const void *a) {
    const rk_block_q4_1 *x = w;
    const rk_block_q8_1 *y = a;
    const int64_t nb = n / RK_QK4_1;
    float sumf = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        int32_t s = 0;
        for (int j = 0; j < RK_QK4_1 / 2; j++) s += (x[i].qs[j] & 0xF) * y[i].qs[j] + (x[i].qs[j] >> 4) * y[i].qs[j + 16];
        sumf += (rk_f16_to_f32(x[i].d) * rk_f16_to_f32(y[i].d)) * (float)s + rk_f16_to_f32(x[i].m) * rk_f16_to_f32(y[i].s);
    }
    return sumf;
}

#ifdef RK_KERN_X86
#include <immintrin.h>
#define TGT __attribute__((target("avx2,fma,f16c")))

/* Levels 0..15 are unsigned: maddubs(q, a) directly. The m·s terms are summed apart (fused), then added once. */
TGT static float q4_1_dot_avx2(int64_t n, const rk_block_q4_1 *x, const rk_block_q8_1 *y) {
    const int64_t nb = n / RK_QK4_1;
    const __m256i m4 = _mm256_set1_epi8(0xF), ones = _mm256_set1_epi16(1);
    __m256 acc = _mm256_setzero_ps();
    float summs = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        summs = fmaf(_cvtsh_ss(x[i].m), _cvtsh_ss(y[i].s), summs);
        const __m128i q = _mm_loadu_si128((const __m128i *)x[i].qs);
        const __m256i w = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), m4);
        const __m256i a = _mm256_loadu_si256((const __m256i *)y[i].qs);
        const __m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(w, a), ones);
        const float d = _cvtsh_ss(x[i].d) * _cvtsh_ss(y[i].d);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(s), acc);
    }
    return rk_kern_hsum8(acc) + summs;
}
#endif

float rk_q4_1_vec_dot(int64_t n, const void *w, const void *a) {
#ifdef RK_KERN_X86
    if (rk_kern_use_avx2()) return q4_1_dot_avx2(n, w, a);
#endif
    return rk_q4_1_vec_dot_ref(n, w, a);
}
