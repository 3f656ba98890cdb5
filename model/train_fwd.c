/* model/train_fwd.c — forward and backward passes of the training engine over B sequences of T tokens (each from
 * position 0): embedding, per layer x += attn(rmsnorm(x)); x += ffn(rmsnorm(x)), final norm, output head, cross-
 * entropy; then the same in reverse, every op's backward half from model/kernels.h, accumulating into the
 * parameter gradients. Dense attention (qwen2/llama, GQA, biases) and the SwiGLU MLP live here; MLA and MoE in
 * train_ds.c. All buffers come from rk__train_reserve; activations of every layer are kept for the backward. */
#include <math.h>
#include <string.h>

#include "model/train-impl.h"

#define W(i) (t->p[(i)].w)
#define G(i) (t->p[(i)].g)

static void linear(const rk_train *t, float *y, const float *x, int wi, int bi, int64_t n) {
    rk_wview v = rk__tview(t, wi);
    rk_matmul(y, x, &v, bi >= 0 ? W(bi) : NULL, n);
}

/* dx += dy·W (dx may be NULL), dW += dyᵀx, db += Σdy */
static void linear_back(rk_train *t, float *dx, const float *dy, const float *x, int wi, int bi, int64_t n) {
    rk_wview v = rk__tview(t, wi);
    rk_matmul_backward(dx, G(wi), bi >= 0 ? G(bi) : NULL, dy, x, &v, n);
}

static void add_into(float *y, const float *a, int64_t n) {
    #pragma omp parallel for schedule(static) if (n >= (1 << 16))
    for (int64_t i = 0; i < n; i++) y[i] += a[i];
}

/* ---- dense attention ----------------------------------------------------------------------------------------- */
static void dense_attn_forward(rk_train *t, int64_t il, int64_t B, int64_t T, float *out) {
    const rk_tlayer *L = &t->layers[il];
    rk_tacts *a = &t->acts[il];
    const int64_t N = B * T, Hq = t->Hq, Hk = t->Hk, hd = t->hdk;
    linear(t, a->q, a->xn1, L->q, L->qb, N);
    linear(t, a->k, a->xn1, L->k, L->kb, N);
    linear(t, a->v, a->xn1, L->v, L->vb, N);
    rk_rope(a->q, t->pos, N, Hq, hd, 0, &t->rope, t->interleaved);
    rk_rope(a->k, t->pos, N, Hk, hd, 0, &t->rope, t->interleaved);
    for (int64_t b = 0; b < B; b++)
        rk_attention(a->ao + b * T * Hq * hd, a->att + b * Hq * T * T, a->q + b * T * Hq * hd, a->k + b * T * Hk * hd,
                     a->v + b * T * Hk * hd, T, T, 0, Hq, Hk, hd, hd, t->attn_scale);
    linear(t, out, a->ao, L->o, L->ob, N);
}

/* dout: t->dtmp (d of the block's output); adds d(xn1) to t->dxn */
static void dense_attn_backward(rk_train *t, int64_t il, int64_t B, int64_t T) {
    const rk_tlayer *L = &t->layers[il];
    rk_tacts *a = &t->acts[il];
    const int64_t N = B * T, Hq = t->Hq, Hk = t->Hk, hd = t->hdk;
    memset(t->dao, 0, (size_t)(N * Hq * hd) * sizeof(float));
    linear_back(t, t->dao, t->dtmp, a->ao, L->o, L->ob, N);
    memset(t->dq, 0, (size_t)(N * Hq * hd) * sizeof(float));
    memset(t->dk, 0, (size_t)(N * Hk * hd) * sizeof(float));
    memset(t->dv, 0, (size_t)(N * Hk * hd) * sizeof(float));
    for (int64_t b = 0; b < B; b++)
        rk_attention_backward(t->dq + b * T * Hq * hd, t->dk + b * T * Hk * hd, t->dv + b * T * Hk * hd,
                              t->dao + b * T * Hq * hd, a->att + b * Hq * T * T, a->q + b * T * Hq * hd,
                              a->k + b * T * Hk * hd, a->v + b * T * Hk * hd, T, T, 0, Hq, Hk, hd, hd, t->attn_scale);
    rk_rope_backward(t->dq, t->pos, N, Hq, hd, 0, &t->rope, t->interleaved);
    rk_rope_backward(t->dk, t->pos, N, Hk, hd, 0, &t->rope, t->interleaved);
    linear_back(t, t->dxn, t->dq, a->xn1, L->q, L->qb, N);
    linear_back(t, t->dxn, t->dk, a->xn1, L->k, L->kb, N);
    linear_back(t, t->dxn, t->dv, a->xn1, L->v, L->vb, N);
}

/* ---- SwiGLU MLP (dense layers and shared experts) ------------------------------------------------------------- */
static void mlp_forward(rk_train *t, int gi, int ui, int di, const float *x, float *hg, float *hu, float *h,
                        float *out, int64_t N) {
    const int64_t F = t->p[gi].shape[0];
    linear(t, hg, x, gi, -1, N);
    linear(t, hu, x, ui, -1, N);
    rk_swiglu(h, hg, hu, N * F);
    linear(t, out, h, di, -1, N);
}

/* dy: d(out); adds d(x) to dx */
static void mlp_backward(rk_train *t, int gi, int ui, int di, const float *x, const float *hg, const float *hu,
                         const float *h, const float *dy, float *dx, int64_t N) {
    const int64_t F = t->p[gi].shape[0];
    memset(t->dh, 0, (size_t)(N * F) * sizeof(float));
    linear_back(t, t->dh, dy, h, di, -1, N);
    memset(t->dhg, 0, (size_t)(N * F) * sizeof(float));
    memset(t->dhu, 0, (size_t)(N * F) * sizeof(float));
    rk_swiglu_backward(t->dhg, t->dhu, t->dh, hg, hu, N * F);
    linear_back(t, dx, t->dhg, x, gi, -1, N);
    linear_back(t, dx, t->dhu, x, ui, -1, N);
}

/* ---- driver -------------------------------------------------------------------------------------------------- */
static int check_tokens(const rk_train *t, const int32_t *in, const int32_t *tg, int64_t N, rk_err *err) {
    for (int64_t i = 0; i < N; i++) {
        if (in[i] < 0 || in[i] >= t->vocab)
            return rk_err_set(err, RK_EINVAL, UINT64_MAX, "input token %lld is %d, outside the vocabulary [0, %lld)",
                              (long long)i, in[i], (long long)t->vocab);
        if (tg && tg[i] >= t->vocab)
            return rk_err_set(err, RK_EINVAL, UINT64_MAX, "target %lld is %d, outside the vocabulary [0, %lld)",
                              (long long)i, tg[i], (long long)t->vocab);
    }
    return 0;
}

int rk__train_forward(rk_train *t, const int32_t *in, int64_t B, int64_t T, int counting, rk_err *err) {
    if (B <= 0 || T <= 0 || B > (1 << 20) || T > (1 << 20))
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "batch %lld x %lld is not usable", (long long)B, (long long)T);
    if (t->cfg.max_position_embeddings > 0 && T > t->cfg.max_position_embeddings)
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "sequence length %lld exceeds max_position_embeddings %lld",
                          (long long)T, (long long)t->cfg.max_position_embeddings);
    int rc = rk__train_reserve(t, B, T, err);
    if (rc) return rc;
    const int64_t N = B * T, D = t->D;
    for (int64_t i = 0; i < N; i++) {
        t->pos[i] = i % T;
        memcpy(t->acts[0].x + i * D, W(t->embed) + (int64_t)in[i] * D, (size_t)D * sizeof(float));
    }
    for (int64_t il = 0; il < t->L; il++) {
        const rk_tlayer *L = &t->layers[il];
        rk_tacts *a = &t->acts[il];
        float *next = il + 1 < t->L ? t->acts[il + 1].x : t->xf;
        rk_rmsnorm(a->xn1, a->rstd1, a->x, W(L->attn_norm), N, D, t->eps);
        if (t->cfg.arch == RK_HF_ARCH_DEEPSEEK2) rk__mla_forward(t, il, B, T);
        else dense_attn_forward(t, il, B, T, t->scratch);
        for (int64_t i = 0; i < N * D; i++) a->xm[i] = a->x[i] + t->scratch[i];
        rk_rmsnorm(a->xn2, a->rstd2, a->xm, W(L->ffn_norm), N, D, t->eps);
        if (L->moe) rk__moe_forward(t, il, N, t->scratch, counting);
        else mlp_forward(t, L->gate, L->up, L->down, a->xn2, a->hg, a->hu, a->h, t->scratch, N);
        for (int64_t i = 0; i < N * D; i++) next[i] = a->xm[i] + t->scratch[i];
    }
    rk_rmsnorm(t->xfn, t->rstdf, t->xf, W(t->final_norm), N, D, t->eps);
    linear(t, t->logits, t->xfn, t->head, -1, N);
    return 0;
}

static double aux_total(const rk_train *t, int64_t B, int64_t T) {
    double s = 0;
    for (int64_t il = 0; il < t->L; il++)
        if (t->layers[il].moe) s += rk__moe_aux(t, il, B, T);
    return s;
}

int rk_train_eval(rk_train *t, const int32_t *inputs, const int32_t *targets, int64_t B, int64_t T, float *logits,
                  rk_train_result *res, rk_err *err) {
    memset(res, 0, sizeof *res);
    int rc = B > 0 && T > 0 ? check_tokens(t, inputs, targets, B * T, err) : 0;
    if (!rc) rc = rk__train_forward(t, inputs, B, T, 0, err);
    if (rc) return rc;
    const int64_t N = B * T;
    if (logits) memcpy(logits, t->logits, (size_t)(N * t->vocab) * sizeof(float));
    if (targets) {
        res->ce_sum = rk_cross_entropy(NULL, t->logits, targets, N, t->vocab, 1.0f);
        for (int64_t i = 0; i < N; i++) res->n_tokens += targets[i] >= 0;
    }
    res->aux = aux_total(t, B, T);
    return 0;
}

static int backward(rk_train *t, const int32_t *inputs, int64_t B, int64_t T, float aux_scale);

int rk_train_step(rk_train *t, const int32_t *inputs, const int32_t *targets, int64_t B, int64_t T, float ce_scale,
                  float aux_scale, rk_train_result *res, rk_err *err) {
    memset(res, 0, sizeof *res);
    if (B <= 0 || T <= 0 || !targets)
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "batch %lld x %lld is not usable", (long long)B, (long long)T);
    int rc = check_tokens(t, inputs, targets, B * T, err);
    if (!rc) rc = rk__train_forward(t, inputs, B, T, 1, err);
    if (rc) return rc;
    const int64_t N = B * T;
    res->aux = aux_total(t, B, T);
    for (int64_t i = 0; i < N; i++) res->n_tokens += targets[i] >= 0;
    /* logits -> dlogits in place */
    res->ce_sum = rk_cross_entropy(t->logits, t->logits, targets, N, t->vocab, ce_scale);
    return backward(t, inputs, B, T, aux_scale);
}

int rk_train_step_fn(rk_train *t, const int32_t *inputs, int64_t B, int64_t T, rk_train_loss_fn fn, void *user,
                     float aux_scale, rk_train_result *res, rk_err *err) {
    memset(res, 0, sizeof *res);
    if (B <= 0 || T <= 0 || !fn)
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "batch %lld x %lld is not usable", (long long)B, (long long)T);
    int rc = check_tokens(t, inputs, NULL, B * T, err);
    if (!rc) rc = rk__train_forward(t, inputs, B, T, 1, err);
    if (rc) return rc;
    res->aux = aux_total(t, B, T);
    if ((rc = fn(user, t->logits, B * T, t->vocab, err))) return rc;
    return backward(t, inputs, B, T, aux_scale);
}

/* t->logits holds d(loss)/d(logits) */
static int backward(rk_train *t, const int32_t *inputs, int64_t B, int64_t T, float aux_scale) {
    const int64_t N = B * T, D = t->D;
    memset(t->dxn, 0, (size_t)(N * D) * sizeof(float));
    linear_back(t, t->dxn, t->logits, t->xfn, t->head, -1, N);
    memset(t->dx, 0, (size_t)(N * D) * sizeof(float));
    rk_rmsnorm_backward(t->dx, G(t->final_norm), t->dxn, t->xf, W(t->final_norm), t->rstdf, N, D);
    for (int64_t il = t->L - 1; il >= 0; il--) {
        const rk_tlayer *L = &t->layers[il];
        rk_tacts *a = &t->acts[il];
        /* FFN: x_out = xm + ffn(rmsnorm(xm)); t->dx = d(x_out) */
        memset(t->dxn, 0, (size_t)(N * D) * sizeof(float));
        if (L->moe) rk__moe_backward(t, il, B, T, aux_scale);
        else mlp_backward(t, L->gate, L->up, L->down, a->xn2, a->hg, a->hu, a->h, t->dx, t->dxn, N);
        memset(t->dtmp, 0, (size_t)(N * D) * sizeof(float));
        rk_rmsnorm_backward(t->dtmp, G(L->ffn_norm), t->dxn, a->xm, W(L->ffn_norm), a->rstd2, N, D);
        add_into(t->dx, t->dtmp, N * D);
        /* attention: xm = x + attn(rmsnorm(x)) */
        memcpy(t->dtmp, t->dx, (size_t)(N * D) * sizeof(float));
        memset(t->dxn, 0, (size_t)(N * D) * sizeof(float));
        if (t->cfg.arch == RK_HF_ARCH_DEEPSEEK2) rk__mla_backward(t, il, B, T);
        else dense_attn_backward(t, il, B, T);
        memset(t->dtmp, 0, (size_t)(N * D) * sizeof(float));
        rk_rmsnorm_backward(t->dtmp, G(L->attn_norm), t->dxn, a->x, W(L->attn_norm), a->rstd1, N, D);
        add_into(t->dx, t->dtmp, N * D);
    }
    /* embedding rows, in token order (deterministic) */
    float *ge = G(t->embed);
    for (int64_t i = 0; i < N; i++) {
        float *gr = ge + (int64_t)inputs[i] * D;
        const float *d = t->dx + i * D;
        for (int64_t k = 0; k < D; k++) gr[k] += d[k];
    }
    return 0;
}
