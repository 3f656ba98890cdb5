/* quantize/quants.c — the traits table over the block formats (quantize/quants.h) and the helpers built on it. */
#include "quantize/quants.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quantize/blocks.h"
#include "quantize/blocks_low.h"

/* Q8_0 has no importance-weighted search (8 bits: plain rounding is optimal to within noise) */
static void q8_0_quantize_ref_imp(const float *x, void *dst, int64_t n, const float *imp) {
    (void)imp;
    rk_q8_0_quantize_ref(x, dst, n);
}
static void q8_0_quantize_imp(const float *x, void *dst, int64_t n, const float *imp) {
    (void)imp;
    rk_q8_0_quantize(x, dst, n);
}

#define QT(T, NAME, BLK, BYTES, ACT, WANTS, Q, QR, DQ, DR, D)                                                        \
    { T, NAME, BLK, BYTES, 8.0 * (double)(BYTES) / (double)(BLK), ACT, WANTS, QR, Q, DQ, DR, D }

/* In ascending bits per weight (rk_qtype_list promises it; test_qmatmul checks it); ties: the 32-blocks first. */
static const rk_qtype QTYPES[] = {
    QT(RK_DTYPE_TQ2_0, "TQ2_0", 256, sizeof(rk_block_tq2_0), RK_DTYPE_Q8_K, 1, rk_tq2_0_quantize, rk_tq2_0_quantize_ref,
       rk_tq2_0_dequantize, rk_tq2_0_vec_dot_ref, rk_tq2_0_vec_dot),
    QT(RK_DTYPE_Q2_K, "Q2_K", 256, sizeof(rk_block_q2_k), RK_DTYPE_Q8_K, 1, rk_q2k_quantize, rk_q2k_quantize_ref,
       rk_q2k_dequantize, rk_q2k_vec_dot_ref, rk_q2k_vec_dot),
    QT(RK_DTYPE_Q3_K, "Q3_K", 256, sizeof(rk_block_q3_k), RK_DTYPE_Q8_K, 0, rk_q3k_quantize, rk_q3k_quantize_ref,
       rk_q3k_dequantize, rk_q3k_vec_dot_ref, rk_q3k_vec_dot),
    QT(RK_DTYPE_Q4_0, "Q4_0", 32, sizeof(rk_block_q4_0), RK_DTYPE_Q8_0, 0, rk_q4_0_quantize, rk_q4_0_quantize_ref,
       rk_q4_0_dequantize, rk_q4_0_vec_dot_ref, rk_q4_0_vec_dot),
    QT(RK_DTYPE_Q4_K, "Q4_K", 256, sizeof(rk_block_q4_k), RK_DTYPE_Q8_K, 0, rk_q4k_quantize, rk_q4k_quantize_ref,
       rk_q4k_dequantize, rk_q4k_vec_dot_ref, rk_q4k_vec_dot),
    QT(RK_DTYPE_Q4_1, "Q4_1", 32, sizeof(rk_block_q4_1), RK_DTYPE_Q8_1, 0, rk_q4_1_quantize, rk_q4_1_quantize_ref,
       rk_q4_1_dequantize, rk_q4_1_vec_dot_ref, rk_q4_1_vec_dot),
    QT(RK_DTYPE_Q5_0, "Q5_0", 32, sizeof(rk_block_q5_0), RK_DTYPE_Q8_0, 0, rk_q5_0_quantize, rk_q5_0_quantize_ref,
       rk_q5_0_dequantize, rk_q5_0_vec_dot_ref, rk_q5_0_vec_dot),
    QT(RK_DTYPE_Q5_K, "Q5_K", 256, sizeof(rk_block_q5_k), RK_DTYPE_Q8_K, 0, rk_q5k_quantize, rk_q5k_quantize_ref,
       rk_q5k_dequantize, rk_q5k_vec_dot_ref, rk_q5k_vec_dot),
    QT(RK_DTYPE_Q5_1, "Q5_1", 32, sizeof(rk_block_q5_1), RK_DTYPE_Q8_1, 0, rk_q5_1_quantize, rk_q5_1_quantize_ref,
       rk_q5_1_dequantize, rk_q5_1_vec_dot_ref, rk_q5_1_vec_dot),
    QT(RK_DTYPE_Q6_K, "Q6_K", 256, sizeof(rk_block_q6_k), RK_DTYPE_Q8_K, 0, rk_q6k_quantize, rk_q6k_quantize_ref,
       rk_q6k_dequantize, rk_q6k_vec_dot_ref, rk_q6k_vec_dot),
    QT(RK_DTYPE_Q8_0, "Q8_0", 32, sizeof(rk_block_q8_0), RK_DTYPE_Q8_0, 0, q8_0_quantize_imp, q8_0_quantize_ref_imp,
       rk_q8_0_dequantize_ref, rk_q8_0_vec_dot_ref, rk_q8_0_vec_dot),
};
#define N_QTYPES ((int)(sizeof QTYPES / sizeof QTYPES[0]))

const rk_qtype *rk_qtype_get(int type) {
    for (int i = 0; i < N_QTYPES; i++)
        if (QTYPES[i].type == type) return &QTYPES[i];
    return NULL;
}

const int *rk_qtype_list(int *n) {
    static int list[N_QTYPES];
    for (int i = 0; i < N_QTYPES; i++) list[i] = QTYPES[i].type;   /* the table is in ascending bpw */
    *n = N_QTYPES;
    return list;
}

void rk_quantize_act(int act_type, const float *x, void *dst, int64_t n) {
    if (act_type == RK_DTYPE_Q8_K) rk_q8k_quantize(x, dst, n);
    else if (act_type == RK_DTYPE_Q8_1) rk_q8_1_quantize(x, dst, n);
    else rk_q8_0_quantize(x, dst, n);
}

size_t rk_act_row_bytes(int act_type, int64_t n) {
    if (act_type == RK_DTYPE_Q8_K) return (size_t)(n / RK_QK_K) * sizeof(rk_block_q8_k);
    if (act_type == RK_DTYPE_Q8_1) return (size_t)(n / RK_QK8_1) * sizeof(rk_block_q8_1);
    return (size_t)(n / RK_QK8_0) * sizeof(rk_block_q8_0);
}

double rk_quant_error(int type, const float *x, int64_t n, const float *imp) {
    const rk_qtype *q = rk_qtype_get(type);
    if (!q || n <= 0 || n % q->block) return NAN;
    void *blk = malloc((size_t)(n / q->block) * q->bytes);
    float *y = malloc((size_t)n * sizeof(float));
    double e = NAN;
    if (blk && y) {
        q->quantize(x, blk, n, imp);
        q->dequantize(blk, y, n);
        e = 0;
        for (int64_t i = 0; i < n; i++) {
            const double d = (double)x[i] - y[i];
            e += (imp ? imp[i] : 1.0) * d * d;
        }
    }
    free(blk);
    free(y);
    return e;
}
