/* tests/quantize/test_qmatmul.c — the engine's matmul over ggml block weights (model/kernels.h with an rk_wview of
 * a block type): every type of quantize/quants.h, decode-sized batches (n < 16: activations quantized to the type's
 * Q8_0/Q8_K, integer block dots) and prompt-sized batches (n >= 16: weights dequantized per tile into the f32
 * kernel) against the reference (dequantized weights, double sums); rk_wview_row equals dequantize; the traits
 * table is consistent (bpw, ascending order, quant error helper). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "tests/common/rk_test.h"
#include "model/kernels.h"
#include "quantize/quants.h"

static float frand(uint32_t *s) {
    *s = *s * 1664525u + 1013904223u;
    return ((float)(*s >> 8) / (float)(1u << 24)) * 2.0f - 1.0f;
}

START_TEST(traits_table) {
    int n;
    const int *list = rk_qtype_list(&n);
    ck_assert_int_ge(n, 8);
    double prev = 0;
    for (int i = 0; i < n; i++) {
        const rk_qtype *q = rk_qtype_get(list[i]);
        ck_assert_ptr_nonnull(q);
        ck_assert(fabs(q->bpw - 8.0 * (double)q->bytes / (double)q->block) < 1e-12);
        ck_assert_msg(q->bpw >= prev, "%s out of order", q->name);
        prev = q->bpw;
        ck_assert(q->act_type == RK_DTYPE_Q8_0 || q->act_type == RK_DTYPE_Q8_1 || q->act_type == RK_DTYPE_Q8_K);
    }
    ck_assert_ptr_null(rk_qtype_get(RK_DTYPE_F32));
    float x[512];
    uint32_t s = 3;
    for (int i = 0; i < 512; i++) x[i] = frand(&s);
    double e2 = rk_quant_error(RK_DTYPE_Q2_K, x, 512, NULL), e6 = rk_quant_error(RK_DTYPE_Q6_K, x, 512, NULL);
    ck_assert_msg(e6 < e2 && e6 > 0, "Q6_K error %g vs Q2_K %g", e6, e2);
    ck_assert(isnan(rk_quant_error(RK_DTYPE_Q4_K, x, 100, NULL)));
}
END_TEST

START_TEST(matmul_block_types) {
    int nt;
    const int *list = rk_qtype_list(&nt);
    const int type = list[_i];
    const rk_qtype *q = rk_qtype_get(type);
    const int64_t rows = 37, cols = 512;
    uint32_t s = 7 + (uint32_t)_i;
    float *w = malloc(sizeof(float) * rows * cols), *x = malloc(sizeof(float) * 40 * cols);
    for (int64_t i = 0; i < rows * cols; i++) w[i] = frand(&s) * 0.1f;
    for (int64_t i = 0; i < 40 * cols; i++) x[i] = frand(&s);
    const size_t rb = (size_t)(cols / q->block) * q->bytes;
    uint8_t *wq = malloc(rb * rows);
    for (int64_t r = 0; r < rows; r++) q->quantize(w + r * cols, wq + r * rb, cols, NULL);
    rk_wview v = { type, wq, rows, cols, NULL, 0 };
    /* rk_wview_row == dequantize */
    float *row = malloc(sizeof(float) * cols), *deq = malloc(sizeof(float) * cols);
    rk_wview_row(&v, 5, row);
    q->dequantize(wq + 5 * rb, deq, cols);
    ck_assert(!memcmp(row, deq, sizeof(float) * cols));
    float bias[37];
    for (int r = 0; r < 37; r++) bias[r] = frand(&s);
    const int64_t ns[] = { 1, 2, 5, 16, 40 };
    for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
        const int64_t n = ns[k];
        float *y = malloc(sizeof(float) * n * rows), *yr = malloc(sizeof(float) * n * rows);
        rk_matmul(y, x, &v, bias, n);
        rk_matmul_ref(yr, x, &v, bias, n);
        /* scale of each output: Σ|w|·|x| (the activation rounding of n < 16 is relative to it) */
        double worst = 0;
        for (int64_t t = 0; t < n; t++)
            for (int64_t r = 0; r < rows; r++) {
                q->dequantize(wq + r * rb, deq, cols);
                double sc = 0;
                for (int64_t c = 0; c < cols; c++) sc += fabs(deq[c] * x[t * cols + c]);
                const double e = fabs((double)y[t * rows + r] - yr[t * rows + r]) / (sc + 1e-30);
                worst = e > worst ? e : worst;
            }
        const double tol = n < 16 ? 3e-3 : 1e-6;
        printf("%-6s n=%-3lld max |fast-ref| / Σ|w·x| = %.2e (tolerance %.0e)\n", q->name, (long long)n, worst, tol);
        ck_assert_msg(worst <= tol, "%s n=%lld: %g", q->name, (long long)n, worst);
        free(y), free(yr);
    }
    free(w), free(x), free(wq), free(row), free(deq);
}
END_TEST

static Suite *make_suite(void) {
    Suite *s = suite_create("qmatmul");
    TCase *tc = tcase_create("qmatmul");
    tcase_add_test(tc, traits_table);
    int n;
    rk_qtype_list(&n);
    tcase_add_loop_test(tc, matmul_block_types, 0, n);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}

RK_TEST_MAIN()
