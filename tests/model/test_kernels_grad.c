/* tests/model/test_kernels_grad.c — every backward kernel against central finite differences.
 *
 * For a kernel y = f(p) the test loss is L = Σ_i r_i·y_i with fixed random r, summed in double; the backward is
 * run with dy = r on gradient buffers pre-filled with random values (checking that it ACCUMULATES), and
 * ∂L/∂p_j is compared with (L(p_j + h) − L(p_j − h)) / 2h. The kernels compute in f32, so the difference
 * quotient carries f32 rounding of L (~1e-7·Σ|y|/h) and, for non-linear kernels, O(h²) truncation:
 *   linear in the parameter (matmul, RoPE):      h = 1e-2, |fd − g| <= 2e-3 + 1e-3·|g|
 *   non-linear (RMSNorm, SwiGLU, attention, CE): h = 1e-2, |fd − g| <= 5e-3 + 2e-2·|g|
 * (measured errors are printed on failure). Cross-entropy's loss is returned in double; its gradient is
 * checked at h = 1e-3 against that. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/numeric.h"
#include "model/kernels.h"
#include "tests/common/rk_test.h"

static uint64_t g_rng = 0x243F6A8885A308D3ull;
static float frand(void) {
    g_rng ^= g_rng << 13; g_rng ^= g_rng >> 7; g_rng ^= g_rng << 17;
    return (float)((g_rng >> 40) * 0x1p-24 * 2.0 - 1.0);
}
static float *rand_vec(int64_t n, float scale) {
    float *v = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    for (int64_t i = 0; i < n; i++) v[i] = frand() * scale;
    return v;
}
static float *copy_vec(const float *a, int64_t n) {
    float *v = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    memcpy(v, a, sizeof(float) * (size_t)n);
    return v;
}
static double dotd(const float *a, const float *b, int64_t n) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

typedef double (*loss_fn)(void *ctx);

/* Compare g (= grad_after − grad_before) with central differences of L over every element of p. */
static void fd_check(float *p, int64_t n, const float *after, const float *before, loss_fn L, void *ctx, double h,
                     double atol, double rtol, const char *what) {
    int bad = 0, first = -1;
    double worst = 0.0, fd_first = 0.0, g_first = 0.0;
    for (int64_t j = 0; j < n; j++) {
        const float keep = p[j];
        p[j] = keep + (float)h;
        const double hp = (double)p[j] - keep;
        const double lp = L(ctx);
        p[j] = keep - (float)h;
        const double hm = keep - (double)p[j];
        const double lm = L(ctx);
        p[j] = keep;
        const double fd = (lp - lm) / (hp + hm), g = (double)after[j] - (double)before[j];
        const double e = fabs(fd - g);
        if (e > worst) worst = e;
        if (!(e <= atol + rtol * fabs(g))) {
            if (first < 0) { first = (int)j; fd_first = fd; g_first = g; }
            bad++;
        }
    }
    ck_assert_msg(bad == 0, "%s: %d of %lld gradients off (first [%d] fd %.6g vs %.6g), max |err| %.3g", what, bad,
                  (long long)n, first, fd_first, g_first, worst);
}

#define LIN_ATOL 2e-3
#define LIN_RTOL 1e-3
#define NL_ATOL 5e-3
#define NL_RTOL 2e-2

/* ---- matmul --------------------------------------------------------------------------------------- */
typedef struct mm_ctx { float *x, *w, *bias, *r, *y; rk_wview v; int64_t n; } mm_ctx;
static double mm_loss(void *c_) {
    mm_ctx *c = c_;
    rk_matmul(c->y, c->x, &c->v, c->bias, c->n);
    return dotd(c->r, c->y, c->n * c->v.rows);
}

START_TEST(matmul_grad) {
    const int64_t rows = 5, cols = 33, n = 3;
    mm_ctx c = { rand_vec(n * cols, 1.0f), rand_vec(rows * cols, 1.0f), rand_vec(rows, 1.0f), rand_vec(n * rows, 1.0f),
                 malloc(sizeof(float) * n * rows), { RK_DTYPE_F32, NULL, rows, cols, NULL, 0 }, n };
    c.v.data = c.w;
    float *dx = rand_vec(n * cols, 1.0f), *dw = rand_vec(rows * cols, 1.0f), *db = rand_vec(rows, 1.0f);
    float *dx0 = copy_vec(dx, n * cols), *dw0 = copy_vec(dw, rows * cols), *db0 = copy_vec(db, rows);
    rk_matmul_backward(dx, dw, db, c.r, c.x, &c.v, n);
    fd_check(c.x, n * cols, dx, dx0, mm_loss, &c, 1e-2, LIN_ATOL, LIN_RTOL, "matmul dx");
    fd_check(c.w, rows * cols, dw, dw0, mm_loss, &c, 1e-2, LIN_ATOL, LIN_RTOL, "matmul dw");
    fd_check(c.bias, rows, db, db0, mm_loss, &c, 1e-2, LIN_ATOL, LIN_RTOL, "matmul dbias");
    /* dx through BF16 and FP8 weights (the gradient of the dequantized matrix) */
    const int dts[2] = { RK_DTYPE_BF16, RK_DTYPE_F8_E4M3 };
    for (int d = 0; d < 2; d++) {
        uint8_t *q = malloc((size_t)(rows * cols) * 2);
        float scale[1];
        rk_wview v = { dts[d], q, rows, cols, NULL, 0 };
        if (dts[d] == RK_DTYPE_BF16) rk_convert_from_f32(RK_DTYPE_BF16, c.w, q, (size_t)(rows * cols));
        else { rk_fp8_block_quant(c.w, rows, cols, 128, q, scale); v.scale = scale; v.block = 128; }
        mm_ctx c2 = c;
        c2.v = v;
        memcpy(dx, dx0, sizeof(float) * (size_t)(n * cols));
        rk_matmul_backward(dx, NULL, NULL, c.r, c.x, &v, n);
        fd_check(c.x, n * cols, dx, dx0, mm_loss, &c2, 1e-2, LIN_ATOL, LIN_RTOL, dts[d] == RK_DTYPE_BF16 ? "bf16 dx" : "fp8 dx");
        free(q);
    }
    free(c.x); free(c.w); free(c.bias); free(c.r); free(c.y);
    free(dx); free(dw); free(db); free(dx0); free(dw0); free(db0);
}
END_TEST

/* ---- RMSNorm -------------------------------------------------------------------------------------- */
typedef struct rn_ctx { float *x, *w, *r, *y; int64_t n, dim; } rn_ctx;
static double rn_loss(void *c_) {
    rn_ctx *c = c_;
    rk_rmsnorm(c->y, NULL, c->x, c->w, c->n, c->dim, 1e-6f);
    return dotd(c->r, c->y, c->n * c->dim);
}

START_TEST(rmsnorm_grad) {
    const int64_t dims[2] = { 9, 33 };
    for (int k = 0; k < 2; k++) {
        const int64_t n = 3, dim = dims[k];
        rn_ctx c = { rand_vec(n * dim, 2.0f), rand_vec(dim, 1.0f), rand_vec(n * dim, 1.0f), malloc(sizeof(float) * n * dim), n, dim };
        float rstd[3];
        rk_rmsnorm(c.y, rstd, c.x, c.w, n, dim, 1e-6f);
        float *dx = rand_vec(n * dim, 1.0f), *dw = rand_vec(dim, 1.0f), *dx0 = copy_vec(dx, n * dim), *dw0 = copy_vec(dw, dim);
        rk_rmsnorm_backward(dx, dw, c.r, c.x, c.w, rstd, n, dim);
        fd_check(c.x, n * dim, dx, dx0, rn_loss, &c, 1e-2, NL_ATOL, NL_RTOL, "rmsnorm dx");
        fd_check(c.w, dim, dw, dw0, rn_loss, &c, 1e-2, LIN_ATOL, LIN_RTOL, "rmsnorm dweight");
        free(c.x); free(c.w); free(c.r); free(c.y); free(dx); free(dw); free(dx0); free(dw0);
    }
}
END_TEST

/* ---- SwiGLU --------------------------------------------------------------------------------------- */
typedef struct sw_ctx { float *g, *u, *r, *y; int64_t n; } sw_ctx;
static double sw_loss(void *c_) {
    sw_ctx *c = c_;
    rk_swiglu(c->y, c->g, c->u, c->n);
    return dotd(c->r, c->y, c->n);
}

START_TEST(swiglu_grad) {
    const int64_t n = 33;
    sw_ctx c = { rand_vec(n, 4.0f), rand_vec(n, 2.0f), rand_vec(n, 1.0f), malloc(sizeof(float) * n), n };
    float *dg = rand_vec(n, 1.0f), *du = rand_vec(n, 1.0f), *dg0 = copy_vec(dg, n), *du0 = copy_vec(du, n);
    rk_swiglu_backward(dg, du, c.r, c.g, c.u, n);
    fd_check(c.g, n, dg, dg0, sw_loss, &c, 1e-2, NL_ATOL, NL_RTOL, "swiglu dgate");
    fd_check(c.u, n, du, du0, sw_loss, &c, 1e-2, LIN_ATOL, LIN_RTOL, "swiglu dup");
    free(c.g); free(c.u); free(c.r); free(c.y); free(dg); free(du); free(dg0); free(du0);
}
END_TEST

/* ---- RoPE (backward is in place: dx = d(out) on entry, d(in) on return) ----------------------------- */
typedef struct rp_ctx { float *x, *r, *y; const int64_t *pos; int64_t n_tok, n_head, stride, off; rk_rope_table *t; int il; } rp_ctx;
static double rp_loss(void *c_) {
    rp_ctx *c = c_;
    const int64_t nel = c->n_tok * c->n_head * c->stride;
    memcpy(c->y, c->x, sizeof(float) * (size_t)nel);
    rk_rope(c->y, c->pos, c->n_tok, c->n_head, c->stride, c->off, c->t, c->il);
    return dotd(c->r, c->y, nel);
}

START_TEST(rope_grad) {
    rk_rope_params p = { RK_ROPE_YARN, 10000.0, 40.0, 4096.0, 32.0, 1.0, 1.0, 0.0, 0, 0 };
    rk_rope_table t;
    rk_err err;
    ck_assert_int_eq(rk_rope_table_init(&t, &p, 16, 5000, &err), 0);
    const int64_t pos[3] = { 0, 17, 4999 }, n_tok = 3, n_head = 2, stride = 21, off = 3, nel = n_tok * n_head * stride;
    for (int il = 0; il < 2; il++) {
        rp_ctx c = { rand_vec(nel, 1.0f), rand_vec(nel, 1.0f), malloc(sizeof(float) * nel), pos, n_tok, n_head, stride, off, &t, il };
        float *zero = calloc((size_t)nel, sizeof(float)), *g = copy_vec(c.r, nel);
        rk_rope_backward(g, pos, n_tok, n_head, stride, off, &t, il);
        fd_check(c.x, nel, g, zero, rp_loss, &c, 1e-2, LIN_ATOL, LIN_RTOL, il ? "rope interleaved" : "rope rotate-half");
        free(c.x); free(c.r); free(c.y); free(zero); free(g);
    }
    rk_rope_table_free(&t);
}
END_TEST

/* ---- attention ------------------------------------------------------------------------------------ */
typedef struct at_ctx { float *q, *k, *v, *r, *out; int64_t T, S, q0, Hq, Hk, dk, dv; float scale; } at_ctx;
static double at_loss(void *c_) {
    at_ctx *c = c_;
    rk_attention(c->out, NULL, c->q, c->k, c->v, c->T, c->S, c->q0, c->Hq, c->Hk, c->dk, c->dv, c->scale);
    return dotd(c->r, c->out, c->T * c->Hq * c->dv);
}

START_TEST(attention_grad) {
    /* {T, S, q_pos0, Hq, Hk, dk, dv}: GQA with a cache offset, MHA, MQA */
    const int64_t cases[][7] = { { 3, 5, 2, 4, 2, 6, 5 }, { 4, 4, 0, 2, 2, 9, 3 }, { 2, 6, 4, 3, 1, 4, 7 } };
    for (int cs = 0; cs < 3; cs++) {
        const int64_t T = cases[cs][0], S = cases[cs][1], q0 = cases[cs][2], Hq = cases[cs][3], Hk = cases[cs][4];
        const int64_t dk = cases[cs][5], dv = cases[cs][6];
        at_ctx c = { rand_vec(T * Hq * dk, 1.0f), rand_vec(S * Hk * dk, 1.0f), rand_vec(S * Hk * dv, 1.0f),
                     rand_vec(T * Hq * dv, 1.0f), malloc(sizeof(float) * T * Hq * dv), T, S, q0, Hq, Hk, dk, dv,
                     1.0f / sqrtf((float)dk) };
        float *att = malloc(sizeof(float) * (size_t)(Hq * T * S));
        rk_attention(c.out, att, c.q, c.k, c.v, T, S, q0, Hq, Hk, dk, dv, c.scale);
        for (int use_att = 0; use_att < 2; use_att++) {
            float *dq = rand_vec(T * Hq * dk, 1.0f), *dk_ = rand_vec(S * Hk * dk, 1.0f), *dv_ = rand_vec(S * Hk * dv, 1.0f);
            float *dq0 = copy_vec(dq, T * Hq * dk), *dk0 = copy_vec(dk_, S * Hk * dk), *dv0 = copy_vec(dv_, S * Hk * dv);
            rk_attention_backward(dq, dk_, dv_, c.r, use_att ? att : NULL, c.q, c.k, c.v, T, S, q0, Hq, Hk, dk, dv, c.scale);
            fd_check(c.q, T * Hq * dk, dq, dq0, at_loss, &c, 1e-2, NL_ATOL, NL_RTOL, "attention dq");
            fd_check(c.k, S * Hk * dk, dk_, dk0, at_loss, &c, 1e-2, NL_ATOL, NL_RTOL, "attention dk");
            fd_check(c.v, S * Hk * dv, dv_, dv0, at_loss, &c, 1e-2, LIN_ATOL, LIN_RTOL, "attention dv");
            free(dq); free(dk_); free(dv_); free(dq0); free(dk0); free(dv0);
        }
        free(c.q); free(c.k); free(c.v); free(c.r); free(c.out); free(att);
    }
}
END_TEST

/* ---- cross-entropy -------------------------------------------------------------------------------- */
typedef struct ce_ctx { float *l; const int32_t *tg; int64_t n, vocab; } ce_ctx;
static double ce_loss(void *c_) {
    ce_ctx *c = c_;
    return rk_cross_entropy(NULL, c->l, c->tg, c->n, c->vocab, 1.0f);
}

START_TEST(cross_entropy_grad) {
    const int64_t n = 4, vocab = 31;
    const int32_t tg[4] = { 0, 30, -1, 7 };
    ce_ctx c = { rand_vec(n * vocab, 5.0f), tg, n, vocab };
    float *d = malloc(sizeof(float) * (size_t)(n * vocab)), *zero = calloc((size_t)(n * vocab), sizeof(float));
    rk_cross_entropy(d, c.l, tg, n, vocab, 1.0f);
    fd_check(c.l, n * vocab, d, zero, ce_loss, &c, 1e-3, 1e-5, 1e-3, "cross-entropy dlogits");
    free(c.l); free(d); free(zero);
}
END_TEST

Suite *make_suite(void) {
    Suite *s = suite_create("model_kernels_grad");
    TCase *tc = tcase_create("finite_differences");
    tcase_add_test(tc, matmul_grad);
    tcase_add_test(tc, rmsnorm_grad);
    tcase_add_test(tc, swiglu_grad);
    tcase_add_test(tc, rope_grad);
    tcase_add_test(tc, attention_grad);
    tcase_add_test(tc, cross_entropy_grad);
    suite_add_tcase(s, tc);
    return s;
}

RK_TEST_MAIN()
