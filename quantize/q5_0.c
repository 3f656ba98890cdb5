/* quantize/q5_0.c — Q5_0 (ggml type 6): 32 weights, one half scale d, x = (q − 16)·d with 5-bit q (22 bytes,
 * 5.5 bpw). Layout ggml-common.h block_q5_0: the low 4 bits as Q4_0's nibbles (element j low, j+16 high nibble of
 * qs[j]), the 5th bit of element j in bit j of the little-endian u32 qh; decoding ggml-quants.c dequantize_row_q5_0.
 * The dot product is ggml's against Q8_0 activations (exact int32 per block times both halves).
 *
 * Without imp the bytes are ggml's quantize_row_q5_0_ref (what llama-quantize writes without an imatrix):
 * d = max/−16 where max is the first value of largest magnitude, q = min(31, trunc(x/d + 16.5)). With imp, as Q4_0:
 * that block is one candidate among scales max/v for v in −19.2..−10.4 and 16..10.4 (steps of 0.4), each followed
 * by up to two weighted least-squares refits d = Σ w·x·q / Σ w·q² with re-rounded levels; the least Σ imp·(x − x̂)²
 * on the decoded values wins, and ggml's block is kept unless another is strictly better. */
#include <math.h>
#include <string.h>

#include "model/kernels/kernels-impl.h"
#include "quantize/kquants-impl.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")   /* x·id rounded before + 16.5, as ggml's reference (no FMA) */
#endif

/* ggml's RTN levels (0..31, stored q) for sanitised x; the clamp before the cast is ggml's MIN(31, ·) for finite
 * values and avoids UB where ggml's int8 cast would overflow. Returns the half scale. */
static uint16_t rtn_block(const float *x, uint8_t *L) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < RK_QK5_0; j++) {
        if (amax < fabsf(x[j])) { amax = fabsf(x[j]); max = x[j]; }
    }
    const float d = max / -16.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int j = 0; j < RK_QK5_0; j++) {
        const float v = x[j] * id + 16.5f;
        L[j] = (uint8_t)(!(v == v) ? 16 : v <= 0.0f ? 0 : v >= 31.0f ? 31 : (int)v);
    }
    return rk_kq_f16(d);
}

/* Σ w·((q − 16)·fd − x)² on the decoded values. */
static double block_err(const float *x, const float *w, uint16_t hd, const uint8_t *L) {
    const float d = rk_f16_to_f32(hd);
    double e = 0.0;
    for (int j = 0; j < RK_QK5_0; j++) {
        const double r = (double)((float)(L[j] - 16) * d) - x[j];
        e += w[j] * r * r;
    }
    return e;
}

/* Levels for the half of d: nearest of x/fd in −16..15; *dls the least-squares scale for them (0 if none). */
static void scaled_levels(const float *x, const float *w, uint16_t hd, uint8_t *L, float *dls) {
    const float fd = rk_f16_to_f32(hd);
    const float id = fd != 0.0f ? 1.0f / fd : 0.0f;
    double sxq = 0.0, sqq = 0.0;
    for (int j = 0; j < RK_QK5_0; j++) {
        const int q = rk_kq_clampi(rk_kq_nearest(x[j] * id), -16, 15);
        L[j] = (uint8_t)(q + 16);
        sxq += (double)w[j] * x[j] * q;
        sqq += (double)w[j] * q * q;
    }
    const double ls = sqq > 0.0 ? sxq / sqq : 0.0;
    *dls = isfinite(ls) ? (float)ls : 0.0f;
}

static void q5_0_levels(const float *x_in, const float *imp, uint16_t *hd, uint8_t *L) {
    float x[RK_QK5_0];
    rk_kq_sanitize(x_in, x, RK_QK5_0);
    *hd = rtn_block(x, L);
    if (!imp) return;
    float w[RK_QK5_0];
    rk_kq_weights(imp, w, RK_QK5_0);
    double be = block_err(x, w, *hd, L);
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < RK_QK5_0; j++) {
        if (amax < fabsf(x[j])) { amax = fabsf(x[j]); max = x[j]; }
    }
    uint16_t prev = 0xFFFF;
    uint8_t Lc[RK_QK5_0];
    for (int k = 0; k < 38 && amax > 0.0f && be > 0.0; k++) {
        const float v = k < 23 ? -19.2f + 0.4f * (float)k : 16.0f - 0.4f * (float)(k - 23);
        float d = max / v, dls;
        if (rk_kq_f16(d) == prev) continue;            /* same half scale as the previous candidate */
        prev = rk_kq_f16(d);
        for (int it = 0; it < 3; it++) {               /* the scale, then two least-squares refits */
            const uint16_t h = rk_kq_f16(d);
            scaled_levels(x, w, h, Lc, &dls);
            const double e = block_err(x, w, h, Lc);
            if (e < be) {
                be = e;
                *hd = h;
                memcpy(L, Lc, sizeof Lc);
            }
            if (dls == 0.0f || rk_kq_f16(dls) == h) break;
            d = dls;
        }
    }
}

static void q5_0_block(const float *x, const float *imp, rk_block_q5_0 *y) {
    uint8_t L[RK_QK5_0];
    rk_block_q5_0 b;
    q5_0_levels(x, imp, &b.d, L);
    rk_q5_pack(L, b.qs, b.qh);
    memcpy(y, &b, sizeof b);
}

void rk_q5_0_quantize_ref(const float *x, void *dst, int64_t n, const float *imp) {
    rk_block_q5_0 *y = dst;
    const int64_t nb = n / RK_QK5_0;
    for (int64_t i = 0; i < nb; i++) q5_0_block(x + i * RK_QK5_0, imp ? imp + i * RK_QK5_0 : NULL, &y[i]);
}

void rk_q5_0_quantize(const float *x, void *dst, int64_t n, const float *imp) {
    rk_block_q5_0 *y = dst;
    const int64_t nb = n / RK_QK5_0;
#pragma omp parallel for schedule(static) if (nb >= 8 * RK_KQ_OMP_MIN_BLOCKS)
    for (int64_t i = 0; i < nb; i++) q5_0_block(x + i * RK_QK5_0, imp ? imp + i * RK_QK5_0 : NULL, &y[i]);
}

void rk_q5_0_dequantize(const void *src, float *dst, int64_t n) {
    const rk_block_q5_0 *xb = src;
    const int64_t nb = n / RK_QK5_0;
    for (int64_t i = 0; i < nb; i++) {
        rk_block_q5_0 b;
        memcpy(&b, &xb[i], sizeof b);
        const float d = rk_f16_to_f32(b.d);
        const uint32_t qh = rk_q5_qh32(b.qh);
        for (int j = 0; j < RK_QK5_0 / 2; j++) {
            const int q0 = ((b.qs[j] & 0xF) | (int)(((qh >> j) & 1u) << 4)) - 16;
            const int q1 = ((b.qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1u) << 4)) - 16;
            dst[i * RK_QK5_0 + j] = (float)q0 * d;
            dst[i * RK_QK5_0 + j + 16] = (float)q1 * d;
        }
    }
}

float rk_q5_0_vec_dot_ref(int64_t n, const void *w, const void *a) {
    const rk_block_q5_0 *x = w;
    const rk_block_q8_0 *y = a;
    const int64_t nb = n / RK_QK5_0;
    float sumf = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        const uint32_t qh = rk_q5_qh32(x[i].qh);
        int32_t s = 0;
        for (int j = 0; j < RK_QK5_0 / 2; j++) {
            const int q0 = ((x[i].qs[j] & 0xF) | (int)(((qh >> j) & 1u) << 4)) - 16;
            const int q1 = ((x[i].qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1u) << 4)) - 16;
            s += q0 * y[i].qs[j] + q1 * y[i].qs[j + 16];
        }
        sumf += (float)s * (rk_f16_to_f32(x[i].d) * rk_f16_to_f32(y[i].d));
    }
    return sumf;
}

#ifdef RK_KERN_X86
#include <immintrin.h>
#define TGT __attribute__((target("avx2,fma,f16c")))

/* q − 16 in −16..15 as signed bytes, then |w|·sign(a, w) with maddubs as Q4_0 (|w| <= 16). */
TGT static float q5_0_dot_avx2(int64_t n, const rk_block_q5_0 *x, const rk_block_q8_0 *y) {
    const int64_t nb = n / RK_QK5_0;
    const __m256i m4 = _mm256_set1_epi8(0xF), off = _mm256_set1_epi8(16), ones = _mm256_set1_epi16(1);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const __m128i q = _mm_loadu_si128((const __m128i *)x[i].qs);
        const __m256i lo = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), m4);
        const __m256i w = _mm256_sub_epi8(_mm256_or_si256(lo, rk_q5_fifth_bits(x[i].qh)), off);
        const __m256i a = _mm256_loadu_si256((const __m256i *)y[i].qs);
        const __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w));
        const __m256i s = _mm256_madd_epi16(p, ones);
        const float d = _cvtsh_ss(x[i].d) * _cvtsh_ss(y[i].d);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(s), acc);
    }
    return rk_kern_hsum8(acc);
}
#endif

float rk_q5_0_vec_dot(int64_t n, const void *w, const void *a) {
#ifdef RK_KERN_X86
    if (rk_kern_use_avx2()) return q5_0_dot_avx2(n, w, a);
#endif
    return rk_q5_0_vec_dot_ref(n, w, a);
}
