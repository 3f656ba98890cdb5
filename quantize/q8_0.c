/* quantize/q8_0.c — Q8_0 (ggml type 8) kernels: ggml's quantize_row_q8_0_ref / dequantize_row_q8_0 and the
 * Q8_0·Q8_0 dot product (ggml_vec_dot_q8_0_q8_0: exact int32 per block, scaled by both halves, f32 sum).
 * 32 weights per block, one F16 scale. Rounding is roundf (half away from zero) on x * (1/d) in f32,
 * exactly as ggml and gguf-py's numpy quantizer do, so files match llama.cpp's byte for byte. */
#include "quantize/blocks.h"

#include <math.h>
#include <string.h>

#include "formats/numeric.h"
#include "model/kernels/kernels-impl.h"

static void q8_0_block(const float *b, rk_block_q8_0 *out) {
    float amax = 0.0f;
    for (int j = 0; j < RK_QK8_0; j++) amax = fmaxf(amax, fabsf(b[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    rk_block_q8_0 blk;
    blk.d = rk_f32_to_f16(d);
    for (int j = 0; j < RK_QK8_0; j++) {
        float v = roundf(b[j] * id);
        /* finite inputs never leave [-127, 127]; NaN/inf (which ggml leaves to the CPU's conversion) become
         * 0 / ±127 here instead of undefined behaviour */
        if (v != v) v = 0.0f;
        blk.qs[j] = (int8_t)(v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v);
    }
    memcpy(out, &blk, sizeof blk);
}

void rk_q8_0_quantize_ref(const float *x, void *dst, int64_t n) {
    rk_block_q8_0 *y = dst;
    const int64_t nb = n / RK_QK8_0;
    for (int64_t i = 0; i < nb; i++) q8_0_block(x + i * RK_QK8_0, &y[i]);
}

void rk_q8_0_quantize(const float *x, void *dst, int64_t n) {
    rk_block_q8_0 *y = dst;
    const int64_t nb = n / RK_QK8_0;
#pragma omp parallel for schedule(static) if (nb >= 1024)
    for (int64_t i = 0; i < nb; i++) q8_0_block(x + i * RK_QK8_0, &y[i]);
}

void rk_q8_0_dequantize_ref(const void *src, float *dst, int64_t n) {
    const rk_block_q8_0 *x = src;
    const int64_t nb = n / RK_QK8_0;
    for (int64_t i = 0; i < nb; i++) {
        rk_block_q8_0 blk;
        memcpy(&blk, &x[i], sizeof blk);
        const float d = rk_f16_to_f32(blk.d);
        for (int j = 0; j < RK_QK8_0; j++) dst[i * RK_QK8_0 + j] = blk.qs[j] * d;
    }
}

float rk_q8_0_vec_dot_ref(int64_t n, const void *w, const void *a) {
    const rk_block_q8_0 *x = w, *y = a;
    const int64_t nb = n / RK_QK8_0;
    float sumf = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        int32_t s = 0;
        for (int j = 0; j < RK_QK8_0; j++) s += x[i].qs[j] * y[i].qs[j];
        sumf += (float)s * (rk_f16_to_f32(x[i].d) * rk_f16_to_f32(y[i].d));
    }
    return sumf;
}

#ifdef RK_KERN_X86
#include <immintrin.h>
#define TGT __attribute__((target("avx2,fma,f16c")))

/* |w|·sign(a, w) with maddubs: |w| <= 128 and pairs stay below 2·128·127 < 32768 for ggml's −127..127 codes. */
TGT static float q8_0_dot_avx2(int64_t n, const rk_block_q8_0 *x, const rk_block_q8_0 *y) {
    const int64_t nb = n / RK_QK8_0;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const __m256i w = _mm256_loadu_si256((const __m256i *)x[i].qs);
        const __m256i a = _mm256_loadu_si256((const __m256i *)y[i].qs);
        const __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w));
        const __m256i s = _mm256_madd_epi16(p, ones);
        const float d = _cvtsh_ss(x[i].d) * _cvtsh_ss(y[i].d);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(s), acc);
    }
    return rk_kern_hsum8(acc);
}
#endif

float rk_q8_0_vec_dot(int64_t n, const void *w, const void *a) {
#ifdef RK_KERN_X86
    if (rk_kern_use_avx2()) return q8_0_dot_avx2(n, w, a);
#endif
    return rk_q8_0_vec_dot_ref(n, w, a);
}
