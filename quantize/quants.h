/* quantize/quants.h — ggml-compatible block quantization: one traits table over every block type r1kit reads,
 * writes and runs (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K, Q3_K, Q2_K, TQ2_0, and the activation types
 * Q8_0/Q8_1/Q8_K).
 *
 * Bit compatibility: the block layouts (quantize/blocks.h) and the dequantization are ggml's (ggml-common.h,
 * ggml-quants.c dequantize_row_*), checked by hand against ggml's own decoder and pinned by committed golden
 * blocks (docs/quant-formats.md says how). Quantizers need not produce ggml's bytes: any block that ggml decodes
 * to our dequantized values is a correct file; ours search scales with optional importance weights.
 *
 * For each weight type:
 *   quantize_ref(x, dst, n, imp)  the definition, scalar. n a multiple of the block size. imp: per-element importance
 *                                 weights (length n, >= 0) or NULL; with imp the scale/min search minimises
 *                                 Σ imp_i·(x_i − x̂_i)², without it an unweighted (round-to-nearest style) search.
 *   quantize(x, dst, n, imp)      fast (SIMD/OpenMP where it pays), bit-identical to quantize_ref (tested).
 *   dequantize(src, dst, n)       ggml's values exactly (tested bit for bit against golden blocks).
 *   vec_dot_ref(n, w, a)          Σ w_i·a_i of one weight row and one activation row quantized to vec_dot_type,
 *                                 in integer arithmetic per block as ggml does, result f32; scalar.
 *   vec_dot(n, w, a)              AVX2 where available, else the ref; equal to vec_dot_ref within float rounding
 *                                 (the integer parts are exact; only the f32 block sums may be ordered differently).
 * Activations: rk_quantize_act(type, x, dst, n) for Q8_0 (ggml's quantize_row_q8_0), Q8_1 (Q8_0 plus the half
 * s = d·Σq, ggml's quantize_row_q8_1_ref; for Q4_1 and Q5_1) and Q8_K (float d, int8 qs[256], int16 bsums[16] with
 * d = max|x|/127 signed as ggml's quantize_row_q8_K_ref does).
 * NaN/Inf inputs never cause undefined behaviour (they give some finite block); callers scan for them first. */
#ifndef RK_QUANTIZE_QUANTS_H
#define RK_QUANTIZE_QUANTS_H
#include <stddef.h>
#include <stdint.h>
#include "formats/common.h"

typedef struct rk_qtype {
    int type;                 /* RK_DTYPE_* (= ggml type id) */
    const char *name;         /* "Q4_K" */
    int64_t block;            /* weights per block */
    size_t bytes;             /* bytes per block */
    double bpw;               /* bits per weight = 8·bytes/block */
    int act_type;             /* activation type of vec_dot: RK_DTYPE_Q8_0, RK_DTYPE_Q8_1 or RK_DTYPE_Q8_K */
    int wants_imatrix;        /* 1: quality suffers without importance weights (sub-3-bit types): warn */
    void (*quantize_ref)(const float *x, void *dst, int64_t n, const float *imp);
    void (*quantize)(const float *x, void *dst, int64_t n, const float *imp);
    void (*dequantize)(const void *src, float *dst, int64_t n);
    float (*vec_dot_ref)(int64_t n, const void *w, const void *a);
    float (*vec_dot)(int64_t n, const void *w, const void *a);
} rk_qtype;

/* The traits of a block weight type, or NULL if r1kit cannot quantize/run it. */
const rk_qtype *rk_qtype_get(int type);
/* Weight types in ascending bits per weight (for the allocator); *n set. */
const int *rk_qtype_list(int *n);

/* Activation quantization for vec_dot: act_type RK_DTYPE_Q8_0, _Q8_1 or _Q8_K; n a multiple of its block. */
void rk_quantize_act(int act_type, const float *x, void *dst, int64_t n);
size_t rk_act_row_bytes(int act_type, int64_t n);

/* Weighted squared error Σ imp_i·(x_i − dequant(quant(x))_i)² of one row under type (imp NULL: weights 1), using
 * the fast quantizer; scratch-free helper for the allocator and tests. Returns NAN on a bad type or n. */
double rk_quant_error(int type, const float *x, int64_t n, const float *imp);
#endif
