/* formats/numeric.h — scalar number formats to and from f32, and DeepSeek's FP8 block scaling.
 *
 * F16 (IEEE binary16), BF16 (truncated binary32, round to nearest even on the way in, NaN kept quiet),
 * F8_E4M3 as PyTorch's float8_e4m3fn (bias 7, no infinities, max ±448, S.1111.111 = NaN, saturating
 * or NaN-producing encode as documented per function) and F8_E5M2 (bias 15, IEEE-like with inf/NaN).
 * Encoders round to nearest even. Every decode is exhaustively tested over all bit patterns.
 *
 * FP8 block scaling (DeepSeek-V3/R1 release format): weight W [rows, cols] in F8_E4M3 with
 * scale_inv S [ceil(rows/B), ceil(cols/B)] F32 (B = 128); W_f32[r][c] = fp8(W[r][c]) * S[r/B][c/B]
 * (a multiply, computed in f32, so a result is bit-exact to that product). Edge blocks are partial. */
#ifndef RK_FORMATS_NUMERIC_H
#define RK_FORMATS_NUMERIC_H
#include <stddef.h>
#include <stdint.h>
#include "formats/common.h"

float    rk_f16_to_f32(uint16_t h);
uint16_t rk_f32_to_f16(float f);         /* RNE; overflow -> inf; NaN -> quiet NaN */
float    rk_bf16_to_f32(uint16_t h);
uint16_t rk_f32_to_bf16(float f);        /* RNE; NaN -> quiet NaN (never rounds to inf) */
float    rk_e4m3_to_f32(uint8_t v);      /* float8_e4m3fn */
uint8_t  rk_f32_to_e4m3(float f);        /* RNE, saturates to ±448 like torch's .to(float8_e4m3fn)? see .c; NaN -> 0x7F */
float    rk_e5m2_to_f32(uint8_t v);
uint8_t  rk_f32_to_e5m2(float f);        /* RNE; overflow -> inf; NaN -> quiet NaN */

/* Convert n elements of src (dtype src_type) to f32. Supports F32, F16, BF16, F64, F8_E4M3, F8_E5M2,
 * I8/U8/I16/U16/I32/U32/I64/U64/BOOL. Returns RK_EUNSUPPORTED for block (quantized) types here. */
int rk_convert_to_f32(int src_type, const void *src, float *dst, size_t n);
/* Convert n f32 to dst_type in {F32, F16, BF16, F8_E4M3, F8_E5M2}. */
int rk_convert_from_f32(int dst_type, const float *src, void *dst, size_t n);

/* FP8 block dequantization: w is rows*cols bytes of E4M3, scale_inv is sr*sc f32 where
 * sr = ceil(rows/block), sc = ceil(cols/block). dst is rows*cols f32. */
void rk_fp8_block_dequant(const uint8_t *w, const float *scale_inv, int64_t rows, int64_t cols,
                          int64_t block, float *dst);
/* Encode: per block, scale_inv = amax/448 (1 if the block is all zero), w = e4m3(x / scale_inv). */
void rk_fp8_block_quant(const float *x, int64_t rows, int64_t cols, int64_t block,
                        uint8_t *w, float *scale_inv);
#endif
