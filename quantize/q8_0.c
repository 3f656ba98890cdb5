/* quantize/q8_0.c — Q8_0 reference kernels (ggml's quantize_row_q8_0_ref / dequantize_row_q8_0).
 * 32 weights per block, one F16 scale. Rounding is roundf (half away from zero) on x * (1/d) in f32,
 * exactly as ggml and gguf-py's numpy quantizer do, so files match llama.cpp's byte for byte. */
#include "quantize/blocks.h"

#include <math.h>
#include <string.h>

#include "formats/numeric.h"

void rk_q8_0_quantize_ref(const float *x, void *dst, int64_t n) {
    rk_block_q8_0 *y = dst;
    const int64_t nb = n / RK_QK8_0;
    for (int64_t i = 0; i < nb; i++) {
        const float *b = x + i * RK_QK8_0;
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
        memcpy(&y[i], &blk, sizeof blk);
    }
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
