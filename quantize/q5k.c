/* quantize/q5k.c — Q5_K (ggml type 13): Q4_K's super-block with 5-bit levels (176 bytes, 5.5 bpw): the low
 * nibbles as in Q4_K, the fifth bit of element l of sub-block j in bit j of qh[l]. Layout and decoding follow
 * ggml-common.h block_q5_K and ggml-quants.c dequantize_row_q5_K; the search is the K-quant one in q4k.c with
 * nmax = 31; the dot product against Q8_K is ggml's integer scheme. */
#include <math.h>
#include <string.h>

#include "model/kernels/kernels-impl.h"
#include "quantize/kquants-impl.h"

static void q5k_block(const float *x, const float *imp, int fast, rk_block_q5_k *y) {
    rk_kq_sb sb;
    if (fast) rk_kq_quantize_sb_fast(x, imp, 31, &sb);
    else rk_kq_quantize_sb(x, imp, 31, &sb);
    rk_block_q5_k b;
    b.d = sb.d;
    b.dmin = sb.dmin;
    rk_kq_pack_scales(&sb, b.scales);
    memset(b.qh, 0, sizeof b.qh);
    for (int c = 0; c < 4; c++) {
        for (int l = 0; l < 32; l++) {
            const int l1 = sb.L[64 * c + l], l2 = sb.L[64 * c + 32 + l];
            b.qs[32 * c + l] = (uint8_t)((l1 & 0xF) | ((l2 & 0xF) << 4));
            b.qh[l] |= (uint8_t)(((l1 >> 4) << (2 * c)) | ((l2 >> 4) << (2 * c + 1)));
        }
    }
    memcpy(y, &b, sizeof b);
}

void rk_q5k_quantize_ref(const float *x, void *dst, int64_t n, const float *imp) {
    rk_block_q5_k *y = dst;
    const int64_t nb = n / RK_QK_K;
    for (int64_t i = 0; i < nb; i++) q5k_block(x + i * RK_QK_K, imp ? imp + i * RK_QK_K : NULL, 0, &y[i]);
}

void rk_q5k_quantize(const float *x, void *dst, int64_t n, const float *imp) {
    rk_block_q5_k *y = dst;
    const int64_t nb = n / RK_QK_K;
#pragma omp parallel for schedule(static) if (nb >= RK_KQ_OMP_MIN_BLOCKS)
    for (int64_t i = 0; i < nb; i++) q5k_block(x + i * RK_QK_K, imp ? imp + i * RK_QK_K : NULL, 1, &y[i]);
}

#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("fp-contract=off")))   /* d1·q rounded before − m1, as ggml's decoder */
#endif
void rk_q5k_dequantize(const void *src, float *dst, int64_t n) {
    const rk_block_q5_k *xb = src;
    const int64_t nb = n / RK_QK_K;
    for (int64_t i = 0; i < nb; i++) {
        rk_block_q5_k b;
        memcpy(&b, &xb[i], sizeof b);
        const float d = rk_f16_to_f32(b.d), dmin = rk_f16_to_f32(b.dmin);
        float *y = dst + i * RK_QK_K;
        for (int c = 0; c < 4; c++) {
            uint8_t sc, m;
            rk_kq_get_scale_min(2 * c, b.scales, &sc, &m);
            const float d1 = d * sc, m1 = dmin * m;
            rk_kq_get_scale_min(2 * c + 1, b.scales, &sc, &m);
            const float d2 = d * sc, m2 = dmin * m;
            const uint8_t *q = b.qs + 32 * c;
            const uint8_t u1 = (uint8_t)(1u << (2 * c)), u2 = (uint8_t)(2u << (2 * c));
            for (int l = 0; l < 32; l++) y[64 * c + l] = d1 * (float)((q[l] & 0xF) + (b.qh[l] & u1 ? 16 : 0)) - m1;
            for (int l = 0; l < 32; l++) y[64 * c + 32 + l] = d2 * (float)((q[l] >> 4) + (b.qh[l] & u2 ? 16 : 0)) - m2;
        }
    }
}

float rk_q5k_vec_dot_ref(int64_t n, const void *w, const void *a) {
    const rk_block_q5_k *x = w;
    const rk_block_q8_k *y = a;
    const int64_t nb = n / RK_QK_K;
    float sumf = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        int32_t isum = 0, msum = 0;
        for (int j = 0; j < 8; j++) {
            uint8_t sc, m;
            rk_kq_get_scale_min(j, x[i].scales, &sc, &m);
            msum += (int32_t)m * (y[i].bsums[2 * j] + y[i].bsums[2 * j + 1]);
            const uint8_t *q = x[i].qs + 32 * (j / 2);
            const int8_t *q8 = y[i].qs + 32 * j;
            const int shift = (j & 1) * 4;
            int32_t s = 0;
            for (int l = 0; l < 32; l++) s += (((q[l] >> shift) & 0xF) | (((x[i].qh[l] >> j) & 1) << 4)) * q8[l];
            isum += (int32_t)sc * s;
        }
        const float dw = rk_f16_to_f32(x[i].d) * y[i].d;
        const float dmw = rk_f16_to_f32(x[i].dmin) * y[i].d;
        sumf += dw * (float)isum - dmw * (float)msum;
    }
    return sumf;
}

#ifdef RK_KERN_X86
#include <immintrin.h>
#define TGT __attribute__((target("avx2,fma,f16c")))

TGT static float q5k_dot_avx2(int64_t n, const rk_block_q5_k *x, const rk_block_q8_k *y) {
    const int64_t nb = n / RK_QK_K;
    const __m256i m4 = _mm256_set1_epi8(0xF), one = _mm256_set1_epi8(1);
    __m256 acc = _mm256_setzero_ps();
    float accm = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        uint8_t sc[8], mn[8];
        int32_t msum = 0;
        for (int j = 0; j < 8; j++) {
            rk_kq_get_scale_min(j, x[i].scales, &sc[j], &mn[j]);
            msum += (int32_t)mn[j] * (y[i].bsums[2 * j] + y[i].bsums[2 * j + 1]);
        }
        const __m256i qh = _mm256_loadu_si256((const __m256i *)x[i].qh);
        __m256i isum = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            const __m256i q4 = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * c));
            /* bit 2c / 2c+1 of each qh byte -> 16; shifting 16-bit lanes is safe after masking to bit 0 */
            const __m256i h0 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * c), one), 4);
            const __m256i h1 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * c + 1), one), 4);
            const __m256i lo = _mm256_or_si256(_mm256_and_si256(q4, m4), h0);
            const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q4, 4), m4), h1);
            const __m256i a0 = _mm256_loadu_si256((const __m256i *)(y[i].qs + 64 * c));
            const __m256i a1 = _mm256_loadu_si256((const __m256i *)(y[i].qs + 64 * c + 32));
            const __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, a0), _mm256_set1_epi16(sc[2 * c]));
            const __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, a1), _mm256_set1_epi16(sc[2 * c + 1]));
            isum = _mm256_add_epi32(isum, _mm256_add_epi32(p0, p1));
        }
        const float dw = rk_f16_to_f32(x[i].d) * y[i].d;
        const float dmw = rk_f16_to_f32(x[i].dmin) * y[i].d;
        acc = _mm256_fmadd_ps(_mm256_set1_ps(dw), _mm256_cvtepi32_ps(isum), acc);
        accm += dmw * (float)msum;
    }
    return rk_kern_hsum8(acc) - accm;
}
#endif

float rk_q5k_vec_dot(int64_t n, const void *w, const void *a) {
#ifdef RK_KERN_X86
    if (rk_kern_use_avx2()) return q5k_dot_avx2(n, w, a);
#endif
    return rk_q5k_vec_dot_ref(n, w, a);
}
