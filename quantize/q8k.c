/* quantize/q8k.c — Q8_K (ggml type 15), the activation type of the K-quant dot products: per 256 values a float
 * d, int8 q and int16 bsums (sums of 16 q each, which let the dot product fold the K-quant mins in with 16
 * multiplies). Semantics of ggml-quants.c quantize_row_q8_K_ref: the signed value of largest magnitude (the
 * first such) sets iscale = −127/max, q = min(127, nearest_int(iscale·x)) with ties to even, d = 1/iscale.
 * Differences (only where ggml is undefined or overflows): an all-zero block also zeroes bsums; NaN counts as 0
 * and |x| is clamped to 2^126 (Inf saturates; d·127 can then not overflow), so any input gives a finite block. */
#include <math.h>
#include <string.h>

#include "quantize/kquants-impl.h"

void rk_q8k_quantize(const float *x, void *dst, int64_t n) {
    rk_block_q8_k *y = dst;
    const int64_t nb = n / RK_QK_K;
    for (int64_t i = 0; i < nb; i++) {
        const float *b = x + i * RK_QK_K;
        float xs[RK_QK_K];
        for (int j = 0; j < RK_QK_K; j++) {
            const float v = b[j];
            xs[j] = !(v == v) ? 0.0f : v > 0x1p126f ? 0x1p126f : v < -0x1p126f ? -0x1p126f : v;
        }
        rk_block_q8_k blk;
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < RK_QK_K; j++) {
            const float ax = fabsf(xs[j]);
            if (ax > amax) { amax = ax; max = xs[j]; }
        }
        if (amax == 0.0f) {
            memset(&blk, 0, sizeof blk);
        } else {
            const float iscale = -127.0f / max;
            for (int j = 0; j < RK_QK_K; j++) blk.qs[j] = (int8_t)rk_kq_clampi(rk_kq_nearest(iscale * xs[j]), -127, 127);
            for (int j = 0; j < RK_QK_K / 16; j++) {
                int s = 0;
                for (int k = 0; k < 16; k++) s += blk.qs[16 * j + k];
                blk.bsums[j] = (int16_t)s;
            }
            blk.d = 1.0f / iscale;
        }
        memcpy(&y[i], &blk, sizeof blk);
    }
}

void rk_q8k_dequantize(const void *src, float *dst, int64_t n) {
    const rk_block_q8_k *x = src;
    const int64_t nb = n / RK_QK_K;
    for (int64_t i = 0; i < nb; i++)
        for (int j = 0; j < RK_QK_K; j++) dst[i * RK_QK_K + j] = x[i].d * x[i].qs[j];
}
