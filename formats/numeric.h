/* formats/numeric.h — scalar number formats to and from f32, and DeepSeek's FP8 block scaling.
 *
 * F16 (IEEE binary16), BF16 (truncated binary32, round to nearest even on the way in, NaN kept quiet),
 * F8_E4M3 as PyTorch's float8_e4m3fn (bias 7, no infinities, max ±448, S.1111.111 = NaN, NOT saturating:
 * see rk_f32_to_e4m3) and F8_E5M2 (bias 15, IEEE-like with inf/NaN). Every encoder rounds to nearest even
 * and matches PyTorch's CPU `.to(dtype)` bit for bit on non-NaN results; a NaN in gives a quiet NaN out of
 * the same sign (payload bits may differ from torch, whose scalar and SIMD paths disagree on them).
 * Decoders are exact; a NaN decodes to a quiet f32 NaN of the same sign. Spec: IEEE 754-2008 §3.6 and
 * §5.4.2; OCP 8-bit Floating Point Specification (OFP8) rev 1.0 for E4M3/E5M2; torch c10/util/Float8_*.h.
 *
 * FP8 block scaling (DeepSeek-V3/R1 release format): weight W [rows, cols] in F8_E4M3 with
 * scale_inv S [ceil(rows/B), ceil(cols/B)] F32 (B = 128); W_f32[r][c] = fp8(W[r][c]) * S[r/B][c/B]
 * (a multiply, computed in f32, so a result is bit-exact to that product). Edge blocks are partial.
 *
 * The scalar functions are the reference. Bulk conversions and the block dequant use F16C/AVX2 when the
 * CPU has them, bit-identical to the reference (tested); the environment variable RK_FORCE_REF=1, set
 * before the first call, forces the scalar paths. */
#ifndef RK_FORMATS_NUMERIC_H
#define RK_FORMATS_NUMERIC_H
#include <stddef.h>
#include <stdint.h>
#include "formats/common.h"

/* The x86 SIMD extensions this CPU has and the OS saves state for (CPUID + XGETBV), read once: RK_CPU_AVX2 and
 * RK_CPU_FMA and RK_CPU_F16C need YMM state, RK_CPU_AVX512F ZMM state too. 0 off x86, and when RK_FORCE_REF is set
 * (not "" and not "0") at the first call. The conversions here and the engine's kernels (model/kernels) both choose
 * their paths from it. */
enum { RK_CPU_F16C = 1, RK_CPU_AVX2 = 2, RK_CPU_FMA = 4, RK_CPU_AVX512F = 8 };
unsigned rk_cpu_simd(void);

float    rk_f16_to_f32(uint16_t h);
uint16_t rk_f32_to_f16(float f);         /* RNE; |f| >= 65520 -> ±inf; NaN -> quiet NaN, same sign */
float    rk_bf16_to_f32(uint16_t h);
uint16_t rk_f32_to_bf16(float f);        /* RNE (finite may round to ±inf); NaN -> quiet NaN, same sign */
float    rk_e4m3_to_f32(uint8_t v);      /* float8_e4m3fn; 0x7F/0xFF -> NaN */
/* RNE; like torch's .to(float8_e4m3fn) it does NOT saturate: |f| <= 464 rounds normally (464, the tie
 * between 448 and the missing 480, goes to the even 448), |f| > 464, ±inf and NaN give NaN with f's
 * sign (0x7F or 0xFF). Scale first (rk_fp8_block_quant does) if you need values kept. */
uint8_t  rk_f32_to_e4m3(float f);
float    rk_e5m2_to_f32(uint8_t v);
uint8_t  rk_f32_to_e5m2(float f);        /* RNE; |f| >= 61440 -> ±inf (0x7C/0xFC); NaN -> 0x7F/0xFF */

/* Convert n elements of src (dtype src_type) to f32. Supports F32, F16, BF16, F64, F8_E4M3, F8_E5M2,
 * F8_E8M0 (2^(v-127), 0xFF = NaN), I8/U8/I16/U16/I32/U32/I64/U64 (rounded to nearest f32) and BOOL
 * (nonzero byte -> 1). src may be unaligned (file data). Returns RK_OK, RK_EINVAL (NULL with n > 0) or
 * RK_EUNSUPPORTED for block (quantized) and other types. */
int rk_convert_to_f32(int src_type, const void *src, float *dst, size_t n);
/* Convert n f32 to dst_type in {F32, F16, BF16, F8_E4M3, F8_E5M2} with the encoders above; dst may be
 * unaligned. Returns RK_OK, RK_EINVAL or RK_EUNSUPPORTED. */
int rk_convert_from_f32(int dst_type, const float *src, void *dst, size_t n);

/* FP8 block dequantization: w is rows*cols bytes of E4M3, scale_inv is sr*sc f32 where
 * sr = ceil(rows/block), sc = ceil(cols/block). dst is rows*cols f32. Does nothing when rows, cols or
 * block is <= 0. Parallel over rows (OpenMP) for large matrices; results do not depend on threads. */
void rk_fp8_block_dequant(const uint8_t *w, const float *scale_inv, int64_t rows, int64_t cols,
                          int64_t block, float *dst);
/* Encode: per block, scale_inv = amax/448 over the block's finite values (1 if there are none or all are
 * zero; nudged up in the rare subnormal case where its rounding would make amax/scale_inv encode as NaN),
 * then w = e4m3(x / scale_inv). Every finite x thus gets a finite code (|value| <= 448); NaN and ±inf
 * become NaN. Does nothing when rows, cols or block is <= 0. */
void rk_fp8_block_quant(const float *x, int64_t rows, int64_t cols, int64_t block,
                        uint8_t *w, float *scale_inv);
#endif
