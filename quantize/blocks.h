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
/* Same bytes as rk_q8_0_quantize_ref (OpenMP over blocks). */
void rk_q8_0_quantize(const float *x, void *dst, int64_t n);
/* Σ w·a of a Q8_0 weight row and a Q8_0 activation row (n a multiple of 32): per block the exact int32 Σ qw·qa,
 * times f16(dw)·f16(da), summed in f32. _ref scalar; the other AVX2+FMA when available (within float rounding). */
float rk_q8_0_vec_dot_ref(int64_t n, const void *w, const void *a);
float rk_q8_0_vec_dot(int64_t n, const void *w, const void *a);

/* ---- Q4_0: 32 weights, x = (q - 8)·f16(d), q in 0..15; qs[j] holds element j (low nibble) and j+16 (high). */
#define RK_QK4_0 32
typedef struct rk_block_q4_0 {
    uint16_t d;                   /* scale, IEEE half */
    uint8_t qs[RK_QK4_0 / 2];     /* nibbles */
} rk_block_q4_0;
_Static_assert(sizeof(rk_block_q4_0) == 18, "Q4_0 layout");

/* ---- Q4_1, Q5_0, Q5_1 (32 weights; what llama-quantize's K mixes fall back to for rows not a multiple of 256).
 * Q4_1: x = q·f16(d) + f16(m), q in 0..15, nibbles as Q4_0. Q5_0: x = (q − 16)·f16(d), q in 0..31. Q5_1:
 * x = q·f16(d) + f16(m), q in 0..31. Q5: the low 4 bits as Q4_0's nibbles, the 5th bit of element j in bit j of
 * the little-endian u32 qh. Layouts ggml-common.h, decoding ggml-quants.c dequantize_row_q4_1/q5_0/q5_1. */
#define RK_QK4_1 32
typedef struct rk_block_q4_1 {
    uint16_t d;                   /* scale, IEEE half */
    uint16_t m;                   /* offset (the block minimum), IEEE half */
    uint8_t qs[RK_QK4_1 / 2];
} rk_block_q4_1;
_Static_assert(sizeof(rk_block_q4_1) == 20, "Q4_1 layout");

#define RK_QK5_0 32
typedef struct rk_block_q5_0 {
    uint16_t d;
    uint8_t qh[4];                /* 5th bits, u32 little-endian */
    uint8_t qs[RK_QK5_0 / 2];
} rk_block_q5_0;
_Static_assert(sizeof(rk_block_q5_0) == 22, "Q5_0 layout");

#define RK_QK5_1 32
typedef struct rk_block_q5_1 {
    uint16_t d;
    uint16_t m;
    uint8_t qh[4];
    uint8_t qs[RK_QK5_1 / 2];
} rk_block_q5_1;
_Static_assert(sizeof(rk_block_q5_1) == 24, "Q5_1 layout");

/* Q8_1: activation type of the Q4_1/Q5_1 dot products (ggml's vec_dot_type for both). x = q·f16(d);
 * s = f16(d·Σq) with d the f32 scale before rounding, so Σ_block (q_w·dw + m)·a = dw·da·Σq_w·q_a + m·s. */
#define RK_QK8_1 32
typedef struct rk_block_q8_1 {
    uint16_t d;
    uint16_t s;
    int8_t qs[RK_QK8_1];
} rk_block_q8_1;
_Static_assert(sizeof(rk_block_q8_1) == 36, "Q8_1 layout");

/* ggml's quantize_row_q8_1_ref: as Q8_0 (d = amax/127, q = roundf(x·(1/d))) plus s = f16(Σq·d). NaN -> 0, q
 * clamped to ±127; halves that would overflow (d, s) saturate at ±65504 (ggml writes Inf), so blocks are finite.
 * rk_q8_1_quantize is the same bytes with OpenMP over blocks. */
void rk_q8_1_quantize_ref(const float *x, void *dst, int64_t n);
void rk_q8_1_quantize(const float *x, void *dst, int64_t n);
void rk_q8_1_dequantize(const void *src, float *dst, int64_t n);   /* x = q·f16(d) */

/* ---- K-quants: super-blocks of 256 (ggml QK_K) */
#define RK_QK_K 256
#define RK_K_SCALE_SIZE 12

/* Q8_K: activation type of the K-quant dot products. x = d·q; bsums[j] = Σ q[16j .. 16j+15]. */
typedef struct rk_block_q8_k {
    float d;
    int8_t qs[RK_QK_K];
    int16_t bsums[RK_QK_K / 16];
} rk_block_q8_k;
_Static_assert(sizeof(rk_block_q8_k) == 292, "Q8_K layout");

/* Q4_K: 8 sub-blocks of 32; sub-block j: x = f16(d)·sc_j·q − f16(dmin)·m_j, q in 0..15, sc_j/m_j 6-bit packed in
 * scales[12] (ggml get_scale_min_k4: j<4: sc = s[j]&63, m = s[j+4]&63; j>=4: sc = (s[j+4]&15)|((s[j-4]>>6)<<4),
 * m = (s[j+4]>>4)|((s[j]>>6)<<4)). qs: chunk c (64 weights) = qs[32c..32c+31], sub-block 2c in the low nibbles,
 * 2c+1 in the high nibbles. */
typedef struct rk_block_q4_k {
    uint16_t d;                   /* super-block scale of the sub-block scales (half) */
    uint16_t dmin;                /* super-block scale of the sub-block mins (half) */
    uint8_t scales[RK_K_SCALE_SIZE];
    uint8_t qs[RK_QK_K / 2];
} rk_block_q4_k;
_Static_assert(sizeof(rk_block_q4_k) == 144, "Q4_K layout");

/* Q5_K: as Q4_K with q in 0..31; the 5th bit of element l of sub-block j is bit j of qh[l] (l in 0..31). */
typedef struct rk_block_q5_k {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[RK_K_SCALE_SIZE];
    uint8_t qh[RK_QK_K / 8];
    uint8_t qs[RK_QK_K / 2];
} rk_block_q5_k;
_Static_assert(sizeof(rk_block_q5_k) == 176, "Q5_K layout");

/* Weight types (T = q4_0, q4k, q5k). n a multiple of the block (32 for Q4_0, 256 for K types).
 *   quantize_ref: imp NULL -> unweighted search (Q4_0: exactly ggml's quantize_row_q4_0_ref); imp (length n, >= 0)
 *                 -> the search minimises Σ imp·(x − x̂)² and is never worse under that weighting than the imp==NULL
 *                 result or plain round-to-nearest (both are candidates). NaN/Inf give a finite block.
 *   quantize:     same bytes, OpenMP over blocks.
 *   dequantize:   ggml's dequantize_row_* values bit for bit.
 *   vec_dot*:     weights · activations, Q4_0 against Q8_0 rows, Q4_K/Q5_K against Q8_K rows. */
void rk_q4_0_quantize_ref(const float *x, void *dst, int64_t n, const float *imp);
void rk_q4_0_quantize(const float *x, void *dst, int64_t n, const float *imp);
void rk_q4_0_dequantize(const void *src, float *dst, int64_t n);
float rk_q4_0_vec_dot_ref(int64_t n, const void *w, const void *a);
float rk_q4_0_vec_dot(int64_t n, const void *w, const void *a);

/* Q4_1 and Q5_1 (vec_dot against Q8_1 rows), Q5_0 (against Q8_0 rows): the same contract as Q4_0 above; without
 * imp the bytes are ggml's quantize_row_q4_1_ref / q5_0_ref / q5_1_ref. */
void rk_q4_1_quantize_ref(const float *x, void *dst, int64_t n, const float *imp);
void rk_q4_1_quantize(const float *x, void *dst, int64_t n, const float *imp);
void rk_q4_1_dequantize(const void *src, float *dst, int64_t n);
float rk_q4_1_vec_dot_ref(int64_t n, const void *w, const void *a);
float rk_q4_1_vec_dot(int64_t n, const void *w, const void *a);

void rk_q5_0_quantize_ref(const float *x, void *dst, int64_t n, const float *imp);
void rk_q5_0_quantize(const float *x, void *dst, int64_t n, const float *imp);
void rk_q5_0_dequantize(const void *src, float *dst, int64_t n);
float rk_q5_0_vec_dot_ref(int64_t n, const void *w, const void *a);
float rk_q5_0_vec_dot(int64_t n, const void *w, const void *a);

void rk_q5_1_quantize_ref(const float *x, void *dst, int64_t n, const float *imp);
void rk_q5_1_quantize(const float *x, void *dst, int64_t n, const float *imp);
void rk_q5_1_dequantize(const void *src, float *dst, int64_t n);
float rk_q5_1_vec_dot_ref(int64_t n, const void *w, const void *a);
float rk_q5_1_vec_dot(int64_t n, const void *w, const void *a);

/* Internal to quantize/ (defined in q4_1.c, used by q5_1.c): one affine block x ≈ q·d + m, q in 0..nmax (15 or 31)
 * from 32 sanitised values x and weights w (NULL: none). Gives ggml's RTN block (d = (max − min)/nmax, m = min) when
 * w is NULL, else the winner of the weighted search (RTN unless another candidate is strictly better under
 * Σ w·(x − x̂)² on the decoded values): the halves *d, *m and the levels L. */
void rk_qaffine_block(const float *x, const float *w, int nmax, uint16_t *d, uint16_t *m, uint8_t L[32]);

void rk_q4k_quantize_ref(const float *x, void *dst, int64_t n, const float *imp);
void rk_q4k_quantize(const float *x, void *dst, int64_t n, const float *imp);
void rk_q4k_dequantize(const void *src, float *dst, int64_t n);
float rk_q4k_vec_dot_ref(int64_t n, const void *w, const void *a);
float rk_q4k_vec_dot(int64_t n, const void *w, const void *a);

void rk_q5k_quantize_ref(const float *x, void *dst, int64_t n, const float *imp);
void rk_q5k_quantize(const float *x, void *dst, int64_t n, const float *imp);
void rk_q5k_dequantize(const void *src, float *dst, int64_t n);
float rk_q5k_vec_dot_ref(int64_t n, const void *w, const void *a);
float rk_q5k_vec_dot(int64_t n, const void *w, const void *a);

/* ggml's quantize_row_q8_K_ref: per 256, max = the x of largest |x| (first one), iscale = -127/max,
 * q = min(127, nearest_int(iscale·x)) (round half to even), d = 1/iscale, bsums; an all-zero block gives d = 0,
 * q = 0, bsums = 0. NaN counts as 0 and |x| is clamped to 2^126 (Inf saturates): always a finite block. */
void rk_q8k_quantize(const float *x, void *dst, int64_t n);
void rk_q8k_dequantize(const void *src, float *dst, int64_t n);   /* x = d·q */
#endif
