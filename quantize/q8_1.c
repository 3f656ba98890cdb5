/* quantize/q8_1.c — Q8_1 (ggml type 9), the activation type of the Q4_1/Q5_1 dot products: Q8_0's block plus
 * s = f16(d·Σq) (36 bytes), so that the offset term of a weight block (m·Σa) costs one multiply. Semantics of
 * ggml-quants.c quantize_row_q8_1_ref: d = amax/127 in f32, q = roundf(x·(1/d)) (halves away from zero), and s
 * uses the f32 d, not its half. (ggml-cpu's AVX2 quantize_row_q8_1 rounds halves to even and scales by 127/amax;
 * its bytes can differ from the ref in the last level, as for Q8_0.) */
#include "quantize/blocks.h"

#include <math.h>
#include <string.h>

#include "quantize/kquants-impl.h"

static void q8_1_block(const float *x, rk_block_q8_1 *out) {
    float amax = 0.0f;
    for (int j = 0; j < RK_QK8_1; j++) amax = fmaxf(amax, fabsf(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    rk_block_q8_1 b;
    int sum = 0;
    for (int j = 0; j < RK_QK8_1; j++) {
        float v = roundf(x[j] * id);
        if (v != v) v = 0.0f;                          /* NaN (or Inf·0) -> 0; finite input stays in ±127 */
        b.qs[j] = (int8_t)(v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v);
        sum += b.qs[j];
    }
    b.d = rk_kq_f16(d);                                /* finite: ±65504 where ggml's half would be Inf */
    b.s = rk_kq_f16((float)sum * d);
    memcpy(out, &b, sizeof b);
}

void rk_q8_1_quantize_ref(const float *x, void *dst, int64_t n) {
    rk_block_q8_1 *y = dst;
    const int64_t nb = n / RK_QK8_1;
    for (int64_t i = 0; i < nb; i++) q8_1_block(x + i * RK_QK8_1, &y[i]);
}

void rk_q8_1_quantize(const float *x, void *dst, int64_t n) {
    rk_block_q8_1 *y = dst;
    const int64_t nb = n / RK_QK8_1;
#pragma omp parallel for schedule(static) if (nb >= 1024)
    for (int64_t i = 0; i < nb; i++) q8_1_block(x + i * RK_QK8_1, &y[i]);
}

void rk_q8_1_dequantize(const void *src, float *dst, int64_t n) {
    const rk_block_q8_1 *xb = src;
    const int64_t nb = n / RK_QK8_1;
    for (int64_t i = 0; i < nb; i++) {
        rk_block_q8_1 b;
        memcpy(&b, &xb[i], sizeof b);
        const float d = rk_f16_to_f32(b.d);
        for (int j = 0; j < RK_QK8_1; j++) dst[i * RK_QK8_1 + j] = (float)b.qs[j] * d;
    }
}
