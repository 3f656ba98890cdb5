/* quantize/q5_1.c — Q5_1 (ggml type 7): 32 weights, half scale d and half offset m, x = q·d + m with 5-bit q
 * (24 bytes, 6 bpw). Layout ggml-common.h block_q5_1: the low 4 bits as Q4_1's nibbles, the 5th bit of element j
 * in bit j of the little-endian u32 qh; decoding ggml-quants.c dequantize_row_q5_1 (q·d rounded, then + m).
 * Quantization is q4_1.c's affine block search with nmax = 31 (without imp: ggml's quantize_row_q5_1_ref bytes);
 * the dot product is ggml's against Q8_1: per block dw·da·Σq·qa + m·s. */
#include <math.h>
#include <string.h>

#include "model/kernels/kernels-impl.h"
#include "quantize/kquants-impl.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")   /* q·d rounded before + m, as ggml's decoder */
#endif

static void q5_1_block(const float *x_in, const float *imp, rk_block_q5_1 *y) {
    float x[RK_QK5_1], w[RK_QK5_1];
    rk_kq_sanitize(x_in, x, RK_QK5_1);
    if (imp) rk_kq_weights(imp, w, RK_QK5_1);
    uint8_t L[RK_QK5_1];
    rk_block_q5_1 b;
    rk_qaffine_block(x, imp ? w : NULL, 31, &b.d, &b.m, L);
    rk_q5_pack(L, b.qs, b.qh);
    memcpy(y, &b, sizeof b);
}

void rk_q5_1_quantize_ref(const float *x, void *dst, int64_t n, const float *imp) {
    rk_block_q5_1 *y = dst;
    const int64_t nb = n / RK_QK5_1;
    for (int64_t i = 0; i < nb; i++) q5_1_block(x + i * RK_QK5_1, imp ? imp + i * RK_QK5_1 : NULL, &y[i]);
}

void rk_q5_1_quantize(const float *x, void *dst, int64_t n, const float *imp) {
    rk_block_q5_1 *y = dst;
    const int64_t nb = n / RK_QK5_1;
#pragma omp parallel for schedule(static) if (nb >= 8 * RK_KQ_OMP_MIN_BLOCKS)
    for (int64_t i = 0; i < nb; i++) q5_1_block(x + i * RK_QK5_1, imp ? imp + i * RK_QK5_1 : NULL, &y[i]);
}

void rk_q5_1_dequantize(const void *src, float *dst, int64_t n) {
    const rk_block_q5_1 *xb = src;
    const int64_t nb = n / RK_QK5_1;
    for (int64_t i = 0; i < nb; i++) {
        rk_block_q5_1 b;
        memcpy(&b, &xb[i], sizeof b);
        const float d = rk_f16_to_f32(b.d), m = rk_f16_to_f32(b.m);
        const uint32_t qh = rk_q5_qh32(b.qh);
        for (int j = 0; j < RK_QK5_1 / 2; j++) {
            const int q0 = (b.qs[j] & 0xF) | (int)(((qh >> j) & 1u) << 4);
            const int q1 = (b.qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1u) << 4);
            dst[i * RK_QK5_1 + j] = (float)q0 * d + m;
            dst[i * RK_QK5_1 + j + 16] = (float)q1 * d + m;
        }
    }
}

float rk_q5_1_vec_dot_ref(int64_t n, const void *w, const void *a) {
    const rk_block_q5_1 *x = w;
    const rk_block_q8_1 *y = a;
    const int64_t nb = n / RK_QK5_1;
    float sumf = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        const uint32_t qh = rk_q5_qh32(x[i].qh);
        int32_t s = 0;
        for (int j = 0; j < RK_QK5_1 / 2; j++) {
            const int q0 = (x[i].qs[j] & 0xF) | (int)(((qh >> j) & 1u) << 4);
            const int q1 = (x[i].qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1u) << 4);
            s += q0 * y[i].qs[j] + q1 * y[i].qs[j + 16];
        }
        sumf += (rk_f16_to_f32(x[i].d) * rk_f16_to_f32(y[i].d)) * (float)s + rk_f16_to_f32(x[i].m) * rk_f16_to_f32(y[i].s);
    }
    return sumf;
}

#ifdef RK_KERN_X86
#include <immintrin.h>
#define TGT __attribute__((target("avx2,fma,f16c")))

TGT static float q5_1_dot_avx2(int64_t n, const rk_block_q5_1 *x, const rk_block_q8_1 *y) {
    const int64_t nb = n / RK_QK5_1;
    const __m256i m4 = _mm256_set1_epi8(0xF), ones = _mm256_set1_epi16(1);
    __m256 acc = _mm256_setzero_ps();
    float summs = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        summs = fmaf(_cvtsh_ss(x[i].m), _cvtsh_ss(y[i].s), summs);
        const __m128i q = _mm_loadu_si128((const __m128i *)x[i].qs);
        const __m256i lo = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), m4);
        const __m256i w = _mm256_or_si256(lo, rk_q5_fifth_bits(x[i].qh));               /* 0..31 */
        const __m256i a = _mm256_loadu_si256((const __m256i *)y[i].qs);
        const __m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(w, a), ones);
        const float d = _cvtsh_ss(x[i].d) * _cvtsh_ss(y[i].d);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(s), acc);
    }
    return rk_kern_hsum8(acc) + summs;
}
#endif

float rk_q5_1_vec_dot(int64_t n, const void *w, const void *a) {
#ifdef RK_KERN_X86
    if (rk_kern_use_avx2()) return q5_1_dot_avx2(n, w, a);
#endif
    return rk_q5_1_vec_dot_ref(n, w, a);
}
