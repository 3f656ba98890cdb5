/* quantize/blocks_low.h — ggml-compatible low-bit super-block formats Q6_K, Q3_K, Q2_K and TQ2_0: layouts and
 * kernels (contract: quantize/quants.h). 256 weights per block; rows must be a multiple of 256 (other n: the
 * trailing partial block is ignored). Layouts are ggml-common.h's; decoding is ggml-quants.c's
 * dequantize_row_{q6_K,q3_K,q2_K,tq2_0} bit for bit; vec_dot pairs a weight row with a Q8_K activation row
 * (ggml's block_q8_K: float d; int8 qs[256]; int16 bsums[16], bsums = sums of 16 consecutive qs) and computes
 * the integer dot per block exactly, then Σ over blocks in f32 as ggml's generic kernels do.
 * Quantizers are ours (quantize/lowquants-impl.h describes the search); any block they write decodes in ggml to
 * the values our dequantize returns. */
#ifndef RK_QUANTIZE_BLOCKS_LOW_H
#define RK_QUANTIZE_BLOCKS_LOW_H
#include <stdint.h>

#define RK_QK_K 256

/* Q6_K: x = d · scales[j] · (q − 32), q 6 bits (low 4 in ql, high 2 in qh), 16 sub-blocks of 16, int8 scales.
 * Element e (0..255): h = e/128, r = e%128, k = r/32, l = r%32; ql byte 64h + l + 32(k&1), nibble k>>1;
 * qh byte 32h + l, bits 2k..2k+1; sub-block e/16. 6.5625 bpw. */
typedef struct rk_block_q6_k {
    uint8_t ql[RK_QK_K / 2];
    uint8_t qh[RK_QK_K / 4];
    int8_t scales[RK_QK_K / 16];
    uint16_t d;                    /* F16 super-block scale */
} rk_block_q6_k;
_Static_assert(sizeof(rk_block_q6_k) == 210, "Q6_K layout");

/* Q3_K: x = d · (s_j − 32) · (q − 4), q 3 bits (low 2 in qs, high bit in hmask), s_j 6 bits packed in 12 bytes:
 * j < 8 low nibble of scales[j], j >= 8 high nibble of scales[j−8]; top 2 bits in scales[8 + j%4] at bit 2(j/4).
 * Element e: qs byte 32(e/128) + e%32 at bit 2((e%128)/32); hmask byte e%32, bit e/32. 3.4375 bpw. */
typedef struct rk_block_q3_k {
    uint8_t hmask[RK_QK_K / 8];
    uint8_t qs[RK_QK_K / 4];
    uint8_t scales[12];
    uint16_t d;
} rk_block_q3_k;
_Static_assert(sizeof(rk_block_q3_k) == 110, "Q3_K layout");

/* Q2_K: x = d · (scales[j] & 15) · q − dmin · (scales[j] >> 4), q 2 bits; element e: qs byte 32(e/128) + e%32
 * at bit 2((e%128)/32); sub-block e/16. 2.625 bpw. */
typedef struct rk_block_q2_k {
    uint8_t scales[RK_QK_K / 16];
    uint8_t qs[RK_QK_K / 4];
    uint16_t d;
    uint16_t dmin;
} rk_block_q2_k;
_Static_assert(sizeof(rk_block_q2_k) == 84, "Q2_K layout");

/* TQ2_0 (ternary): x = (q − 1) · d with q in {0, 1, 2} (3 decodes as 2·d in ggml; never written); element e:
 * qs byte 32(e/128) + e%32 at bit 2((e%128)/32). 2.0625 bpw. */
typedef struct rk_block_tq2_0 {
    uint8_t qs[RK_QK_K / 4];
    uint16_t d;
} rk_block_tq2_0;
_Static_assert(sizeof(rk_block_tq2_0) == 66, "TQ2_0 layout");

/* For T in q6k, q3k, q2k, tq2_0 (see quantize/quants.h for the contract):
 *   quantize_ref  scalar definition; imp NULL or n per-element importance weights (>= 0)
 *   quantize      bit-identical, OpenMP over blocks
 *   dequantize    ggml's decoder
 *   vec_dot_ref   against a Q8_K row, integer per block, f32 sum over blocks
 *   vec_dot       AVX2 when rk_kern_use_avx2(), else the ref (bit-identical to the ref: same integer sums,
 *                 same f32 accumulation order) */
void rk_q6k_quantize_ref(const float *x, void *dst, int64_t n, const float *imp);
void rk_q6k_quantize(const float *x, void *dst, int64_t n, const float *imp);
void rk_q6k_dequantize(const void *src, float *dst, int64_t n);
float rk_q6k_vec_dot_ref(int64_t n, const void *w, const void *a);
float rk_q6k_vec_dot(int64_t n, const void *w, const void *a);

void rk_q3k_quantize_ref(const float *x, void *dst, int64_t n, const float *imp);
void rk_q3k_quantize(const float *x, void *dst, int64_t n, const float *imp);
void rk_q3k_dequantize(const void *src, float *dst, int64_t n);
float rk_q3k_vec_dot_ref(int64_t n, const void *w, const void *a);
float rk_q3k_vec_dot(int64_t n, const void *w, const void *a);

void rk_q2k_quantize_ref(const float *x, void *dst, int64_t n, const float *imp);
void rk_q2k_quantize(const float *x, void *dst, int64_t n, const float *imp);
void rk_q2k_dequantize(const void *src, float *dst, int64_t n);
float rk_q2k_vec_dot_ref(int64_t n, const void *w, const void *a);
float rk_q2k_vec_dot(int64_t n, const void *w, const void *a);

void rk_tq2_0_quantize_ref(const float *x, void *dst, int64_t n, const float *imp);
void rk_tq2_0_quantize(const float *x, void *dst, int64_t n, const float *imp);
void rk_tq2_0_dequantize(const void *src, float *dst, int64_t n);
float rk_tq2_0_vec_dot_ref(int64_t n, const void *w, const void *a);
float rk_tq2_0_vec_dot(int64_t n, const void *w, const void *a);
#endif
