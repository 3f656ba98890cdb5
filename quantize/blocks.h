/* quantize/blocks.h — ggml-compatible block formats: layouts and the reference (_ref) kernels that define them.
 * The _ref functions are what r1kit writes files with; faster versions must match them bit for bit.
 * Layouts follow ggml-common.h; values follow ggml-quants.c (quantize_row_*_ref / dequantize_row_*). */
#ifndef RK_QUANTIZE_BLOCKS_H
#define RK_QUANTIZE_BLOCKS_H
#include <stdint.h>

#define RK_QK8_0 32
typedef struct rk_block_q8_0 {
    uint16_t d;               /* scale, IEEE half */
    int8_t qs[RK_QK8_0];      /* quants */
} rk_block_q8_0;
_Static_assert(sizeof(rk_block_q8_0) == 34, "Q8_0 layout");

/* n must be a multiple of 32. Per block: amax = max|x|, d = amax/127 (f32), id = d ? 1/d : 0,
 * q = roundf(x*id) (halves away from zero), d stored as F16 (round to nearest even). */
void rk_q8_0_quantize_ref(const float *x, void *dst, int64_t n);
/* x = q * f16(d) */
void rk_q8_0_dequantize_ref(const void *src, float *dst, int64_t n);
#endif
