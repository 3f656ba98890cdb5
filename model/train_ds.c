/* model/train_ds.c — DeepSeek-V3/V2 layers of the training engine: MLA attention and the MoE FFN, forward (the
 * computation of arch_deepseek.c, same routing function) and backward.
 *
 * MLA backward: o_proj, causal attention over per-head keys [k_nope | k_pe] and values, RoPE (inverse rotation)
 * on q's rope part and on the shared k_pe (whose gradient is the sum over heads), kv_b, the latent RMSNorm,
 * kv_a_proj_with_mqa; q through q_b, its RMSNorm and q_a (or plain q_proj).
 * MoE backward: each chosen expert's SwiGLU MLP gets d(out)·gate_weight; the gate weight w_k = f·s_k/S (S = Σ of
 * the chosen scores when norm_topk_prob, else w_k = f·s_k; f = routed_scaling_factor where it applies) passes
 * ds_j = f·(dw_j/S − Σ_k dw_k·s_k/S²) to the chosen scores, then through the sigmoid (or softmax) to the router
 * logits and the router weight. The choice itself (top-k with e_score_correction_bias, groups) has no gradient.
 * The optional sequence-wise balance loss adds its own ds (see model/train.h). Experts run in parallel, each
 * owning its weight gradients; token gradients are gathered back in (token, slot) order, so results do not depend
 * on the thread count. */
#include <math.h>
#include <string.h>

#include "model/train-impl.h"
#include "model/model-impl.h"

#define W(i) (t->p[(i)].w)
#define G(i) (t->p[(i)].g)

static void linear(const rk_train *t, float *y, const float *x, int wi, int64_t n) {
    rk_wview v = rk__tview(t, wi);
    rk_matmul(y, x, &v, NULL, n);
}

static void linear_back(rk_train *t, float *dx, const float *dy, const float *x, int wi, int64_t n) {
    rk_wview v = rk__tview(t, wi);
    rk_matmul_backward(dx, G(wi), NULL, dy, x, &v, n);
}

/* ---- MLA ------------------------------------------------------------------------------------------------------ */
void rk__mla_forward(rk_train *t, int64_t il, int64_t B, int64_t T) {
    const rk_hf_config *c = &t->cfg;
    const rk_tlayer *L = &t->layers[il];
    rk_tacts *a = &t->acts[il];
    const int64_t N = B * T, H = t->Hq, dq = t->hdq, dn = c->qk_nope_head_dim, dr = c->qk_rope_head_dim, dv = t->hdv;
    const int64_t kvl = c->kv_lora_rank, ql = c->q_lora_rank;
    if (ql > 0) {
        linear(t, a->qa, a->xn1, L->q_a, N);
        rk_rmsnorm(a->qan, a->rstd_qa, a->qa, W(L->q_a_norm), N, ql, t->eps);
        linear(t, a->q, a->qan, L->q_b, N);
    } else {
        linear(t, a->q, a->xn1, L->q, N);
    }
    linear(t, a->kva, a->xn1, L->kv_a, N);
    for (int64_t i = 0; i < N; i++) memcpy(a->lat_in + i * kvl, a->kva + i * (kvl + dr), (size_t)kvl * sizeof(float));
    rk_rmsnorm(a->lat, a->rstd_kv, a->lat_in, W(L->kv_a_norm), N, kvl, t->eps);
    linear(t, a->kvb, a->lat, L->kv_b, N);
    rk_rope(a->q, t->pos, N, H, dq, dn, &t->rope, t->interleaved);
    rk_rope(a->kva, t->pos, N, 1, kvl + dr, kvl, &t->rope, t->interleaved);
    for (int64_t i = 0; i < N; i++) {
        const float *kvb = a->kvb + i * H * (dn + dv), *kpe = a->kva + i * (kvl + dr) + kvl;
        float *kr = a->k + i * H * dq, *vr = a->v + i * H * dv;
        for (int64_t h = 0; h < H; h++) {
            memcpy(kr + h * dq, kvb + h * (dn + dv), (size_t)dn * sizeof(float));
            memcpy(kr + h * dq + dn, kpe, (size_t)dr * sizeof(float));
            memcpy(vr + h * dv, kvb + h * (dn + dv) + dn, (size_t)dv * sizeof(float));
        }
    }
    for (int64_t b = 0; b < B; b++)
        rk_attention(a->ao + b * T * H * dv, a->att + b * H * T * T, a->q + b * T * H * dq, a->k + b * T * H * dq,
                     a->v + b * T * H * dv, T, T, 0, H, H, dq, dv, t->attn_scale);
    linear(t, t->scratch, a->ao, L->o, N);
}

void rk__mla_backward(rk_train *t, int64_t il, int64_t B, int64_t T) {
    const rk_hf_config *c = &t->cfg;
    const rk_tlayer *L = &t->layers[il];
    rk_tacts *a = &t->acts[il];
    const int64_t N = B * T, H = t->Hq, dq = t->hdq, dn = c->qk_nope_head_dim, dr = c->qk_rope_head_dim, dv = t->hdv;
    const int64_t kvl = c->kv_lora_rank, ql = c->q_lora_rank;
    const size_t F = sizeof(float);
    memset(t->dao, 0, (size_t)(N * H * dv) * F);
    linear_back(t, t->dao, t->dtmp, a->ao, L->o, N);
    memset(t->dq, 0, (size_t)(N * H * dq) * F);
    memset(t->dk, 0, (size_t)(N * H * dq) * F);
    memset(t->dv, 0, (size_t)(N * H * dv) * F);
    for (int64_t b = 0; b < B; b++)
        rk_attention_backward(t->dq + b * T * H * dq, t->dk + b * T * H * dq, t->dv + b * T * H * dv,
                              t->dao + b * T * H * dv, a->att + b * H * T * T, a->q + b * T * H * dq,
                              a->k + b * T * H * dq, a->v + b * T * H * dv, T, T, 0, H, H, dq, dv, t->attn_scale);
    rk_rope_backward(t->dq, t->pos, N, H, dq, dn, &t->rope, t->interleaved);
    for (int64_t i = 0; i < N; i++) {
        float *dkvb = t->dkvb + i * H * (dn + dv), *dkva = t->dkva + i * (kvl + dr);
        const float *dk = t->dk + i * H * dq, *dvr = t->dv + i * H * dv;
        for (int64_t j = 0; j < dr; j++) dkva[kvl + j] = 0.0f;
        for (int64_t h = 0; h < H; h++) {
            memcpy(dkvb + h * (dn + dv), dk + h * dq, (size_t)dn * F);
            memcpy(dkvb + h * (dn + dv) + dn, dvr + h * dv, (size_t)dv * F);
            for (int64_t j = 0; j < dr; j++) dkva[kvl + j] += dk[h * dq + dn + j];
        }
    }
    rk_rope_backward(t->dkva, t->pos, N, 1, kvl + dr, kvl, &t->rope, t->interleaved);
    memset(t->dlat, 0, (size_t)(N * kvl) * F);
    linear_back(t, t->dlat, t->dkvb, a->lat, L->kv_b, N);
    memset(t->scratch, 0, (size_t)(N * kvl) * F);
    rk_rmsnorm_backward(t->scratch, G(L->kv_a_norm), t->dlat, a->lat_in, W(L->kv_a_norm), a->rstd_kv, N, kvl);
    for (int64_t i = 0; i < N; i++) memcpy(t->dkva + i * (kvl + dr), t->scratch + i * kvl, (size_t)kvl * F);
    linear_back(t, t->dxn, t->dkva, a->xn1, L->kv_a, N);
    if (ql > 0) {
        memset(t->dqa, 0, (size_t)(N * ql) * F);
        linear_back(t, t->dqa, t->dq, a->qan, L->q_b, N);
        memset(t->scratch, 0, (size_t)(N * ql) * F);
        rk_rmsnorm_backward(t->scratch, G(L->q_a_norm), t->dqa, a->qa, W(L->q_a_norm), a->rstd_qa, N, ql);
        linear_back(t, t->dxn, t->scratch, a->xn1, L->q_a, N);
    } else {
        linear_back(t, t->dxn, t->dq, a->xn1, L->q, N);
    }
}

/* ---- MoE ------------------------------------------------------------------------------------------------------- */
static float gate_factor(const rk_train *t) {
    const rk_hf_config *c = &t->cfg;
    int norm = c->num_experts_per_tok > 1 && c->norm_topk_prob;
    return !t->v2 || !norm ? (float)c->routed_scaling_factor : 1.0f;
}

void rk__moe_forward(rk_train *t, int64_t il, int64_t N, float *out, int counting) {
    const rk_hf_config *c = &t->cfg;
    rk_tlayer *L = &t->layers[il];
    rk_tacts *a = &t->acts[il];
    const int64_t E = c->n_routed_experts, K = c->num_experts_per_tok, D = t->D, I = c->moe_intermediate_size;
    linear(t, a->s, a->xn2, L->router, N);
    if (c->scoring_func == RK_MOE_SCORING_SOFTMAX) rk_softmax(a->s, N, E);
    else
        for (int64_t i = 0; i < N * E; i++) a->s[i] = 1.0f / (1.0f + expf(-a->s[i]));
    const float *bias = L->score_bias >= 0 ? W(L->score_bias) : NULL;
    float choice[RK_MAX_EXPERTS];
    for (int64_t i = 0; i < N; i++) {
        rk__route_token(c, t->v2, bias, a->s + i * E, choice, a->sel + i * K, a->selw + i * K);
        double sum = 0;
        for (int64_t k = 0; k < K; k++) sum += a->s[i * E + a->sel[i * K + k]];
        a->sden[i] = (float)sum + 1e-20f;
    }
    int64_t *off = a->eoff;
    memset(off, 0, (size_t)(E + 1) * sizeof *off);
    for (int64_t s = 0; s < N * K; s++) {
        off[a->sel[s] + 1]++;
        if (counting) L->load[a->sel[s]]++;
    }
    for (int64_t e = 0; e < E; e++) off[e + 1] += off[e];
    int32_t *perm = a->perm, *row_of = a->perm + N * K;
    int64_t fill[RK_MAX_EXPERTS];
    for (int64_t e = 0; e < E; e++) fill[e] = off[e];
    for (int64_t s = 0; s < N * K; s++) {
        int64_t j = fill[a->sel[s]]++;
        perm[j] = (int32_t)s;
        row_of[s] = (int32_t)j;
    }
    for (int64_t j = 0; j < N * K; j++) memcpy(a->xg + j * D, a->xn2 + (perm[j] / K) * D, (size_t)D * sizeof(float));
    #pragma omp parallel for schedule(dynamic, 1)
    for (int64_t e = 0; e < E; e++) {
        int64_t o = off[e], cnt = off[e + 1] - off[e];
        if (!cnt) continue;
        rk_wview wg = rk__tview(t, L->eg[e]), wu = rk__tview(t, L->eu[e]), wd = rk__tview(t, L->ed[e]);
        rk_matmul(a->eg + o * I, a->xg + o * D, &wg, NULL, cnt);
        rk_matmul(a->eu + o * I, a->xg + o * D, &wu, NULL, cnt);
        rk_swiglu(a->eh + o * I, a->eg + o * I, a->eu + o * I, cnt * I);
        rk_matmul(a->ye + o * D, a->eh + o * I, &wd, NULL, cnt);
    }
    if (L->sg >= 0) {
        const int64_t S = t->p[L->sg].shape[0];
        rk_wview g = rk__tview(t, L->sg), u = rk__tview(t, L->su), d = rk__tview(t, L->sd);
        rk_matmul(a->hg, a->xn2, &g, NULL, N);
        rk_matmul(a->hu, a->xn2, &u, NULL, N);
        rk_swiglu(a->h, a->hg, a->hu, N * S);
        rk_matmul(out, a->h, &d, NULL, N);
    } else {
        memset(out, 0, (size_t)(N * D) * sizeof(float));
    }
    #pragma omp parallel for schedule(static) if (N * D * K >= (1 << 16))
    for (int64_t i = 0; i < N; i++) {
        float *y = out + i * D;
        for (int64_t d = 0; d < D; d++) {
            float r = 0;
            for (int64_t k = 0; k < K; k++) r += a->selw[i * K + k] * a->ye[(int64_t)row_of[i * K + k] * D + d];
            y[d] += r;
        }
    }
}

/* f_i of sequence b into f[E] */
static void seq_fraction(const rk_train *t, const rk_tacts *a, int64_t b, int64_t T, double *f) {
    const int64_t E = t->cfg.n_routed_experts, K = t->cfg.num_experts_per_tok;
    for (int64_t e = 0; e < E; e++) f[e] = 0;
    for (int64_t s = b * T * K; s < (b + 1) * T * K; s++) f[a->sel[s]] += 1.0;
    for (int64_t e = 0; e < E; e++) f[e] *= (double)E / (double)(K * T);
}

double rk__moe_aux(const rk_train *t, int64_t il, int64_t B, int64_t T) {
    const rk_tacts *a = &t->acts[il];
    const int64_t E = t->cfg.n_routed_experts;
    double f[RK_MAX_EXPERTS], total = 0;
    for (int64_t b = 0; b < B; b++) {
        seq_fraction(t, a, b, T, f);
        double lb = 0;
        for (int64_t i = b * T; i < (b + 1) * T; i++) {
            const float *s = a->s + i * E;
            double den = 0;
            for (int64_t e = 0; e < E; e++) den += s[e];
            for (int64_t e = 0; e < E; e++) lb += f[e] * (s[e] / den) / (double)T;
        }
        total += lb;
    }
    return total / (double)B;
}

void rk__moe_backward(rk_train *t, int64_t il, int64_t B, int64_t T, float aux_scale) {
    const rk_hf_config *c = &t->cfg;
    const rk_tlayer *L = &t->layers[il];
    rk_tacts *a = &t->acts[il];
    const int64_t N = B * T, E = c->n_routed_experts, K = c->num_experts_per_tok, D = t->D, I = c->moe_intermediate_size;
    const size_t F = sizeof(float);
    const float *dy = t->dx;
    const int32_t *row_of = a->perm + N * K;
    /* shared experts */
    if (L->sg >= 0) {
        const int64_t S = t->p[L->sg].shape[0];
        memset(t->dh, 0, (size_t)(N * S) * F);
        rk_wview g = rk__tview(t, L->sg), u = rk__tview(t, L->su), d = rk__tview(t, L->sd);
        rk_matmul_backward(t->dh, G(L->sd), NULL, dy, a->h, &d, N);
        memset(t->dhg, 0, (size_t)(N * S) * F);
        memset(t->dhu, 0, (size_t)(N * S) * F);
        rk_swiglu_backward(t->dhg, t->dhu, t->dh, a->hg, a->hu, N * S);
        rk_matmul_backward(t->dxn, G(L->sg), NULL, t->dhg, a->xn2, &g, N);
        rk_matmul_backward(t->dxn, G(L->su), NULL, t->dhu, a->xn2, &u, N);
    }
    /* slots: d(expert output) and d(gate weight) */
    float *dw = t->scratch;   /* [N·K] */
    #pragma omp parallel for schedule(static) if (N * K * D >= (1 << 16))
    for (int64_t s = 0; s < N * K; s++) {
        const int64_t i = s / K, j = row_of[s];
        const float *g = dy + i * D, *ye = a->ye + j * D;
        float *de = t->dye + j * D;
        double acc = 0;
        for (int64_t d = 0; d < D; d++) {
            de[d] = a->selw[s] * g[d];
            acc += (double)g[d] * ye[d];
        }
        dw[s] = (float)acc;
    }
    /* experts */
    const int64_t *off = a->eoff;
    #pragma omp parallel for schedule(dynamic, 1)
    for (int64_t e = 0; e < E; e++) {
        int64_t o = off[e], cnt = off[e + 1] - off[e];
        if (!cnt) continue;
        rk_wview wg = rk__tview(t, L->eg[e]), wu = rk__tview(t, L->eu[e]), wd = rk__tview(t, L->ed[e]);
        memset(t->deh + o * I, 0, (size_t)(cnt * I) * F);
        rk_matmul_backward(t->deh + o * I, G(L->ed[e]), NULL, t->dye + o * D, a->eh + o * I, &wd, cnt);
        memset(t->deg + o * I, 0, (size_t)(cnt * I) * F);
        memset(t->deu + o * I, 0, (size_t)(cnt * I) * F);
        rk_swiglu_backward(t->deg + o * I, t->deu + o * I, t->deh + o * I, a->eg + o * I, a->eu + o * I, cnt * I);
        memset(t->dxg + o * D, 0, (size_t)(cnt * D) * F);
        rk_matmul_backward(t->dxg + o * D, G(L->eg[e]), NULL, t->deg + o * I, a->xg + o * D, &wg, cnt);
        rk_matmul_backward(t->dxg + o * D, G(L->eu[e]), NULL, t->deu + o * I, a->xg + o * D, &wu, cnt);
    }
    #pragma omp parallel for schedule(static) if (N * K * D >= (1 << 16))
    for (int64_t i = 0; i < N; i++)
        for (int64_t k = 0; k < K; k++) {
            const float *src = t->dxg + (int64_t)row_of[i * K + k] * D;
            float *dst = t->dxn + i * D;
            for (int64_t d = 0; d < D; d++) dst[d] += src[d];
        }
    /* gate weights -> scores */
    float *ds = t->ds;
    memset(ds, 0, (size_t)(N * E) * F);
    const float f = gate_factor(t);
    const int norm = K > 1 && c->norm_topk_prob;
    for (int64_t i = 0; i < N; i++) {
        const float *s = a->s + i * E;
        const int32_t *sel = a->sel + i * K;
        const float *dwi = dw + i * K;
        float *dsi = ds + i * E;
        if (norm) {
            const double S = a->sden[i];
            double cross = 0;
            for (int64_t k = 0; k < K; k++) cross += (double)dwi[k] * s[sel[k]];
            for (int64_t k = 0; k < K; k++) dsi[sel[k]] += (float)(f * ((double)dwi[k] / S - cross / (S * S)));
        } else {
            for (int64_t k = 0; k < K; k++) dsi[sel[k]] += f * dwi[k];
        }
    }
    /* sequence-wise balance loss */
    if (aux_scale > 0) {
        double fr[RK_MAX_EXPERTS];
        for (int64_t b = 0; b < B; b++) {
            seq_fraction(t, a, b, T, fr);
            for (int64_t i = b * T; i < (b + 1) * T; i++) {
                const float *s = a->s + i * E;
                double den = 0, cross = 0;
                for (int64_t e = 0; e < E; e++) den += s[e];
                for (int64_t e = 0; e < E; e++) cross += fr[e] * s[e];
                const double cs = (double)aux_scale / ((double)B * (double)T);
                for (int64_t e = 0; e < E; e++) ds[i * E + e] += (float)(cs * (fr[e] / den - cross / (den * den)));
            }
        }
    }
    /* scores -> router logits */
    for (int64_t i = 0; i < N; i++) {
        const float *s = a->s + i * E;
        float *d = ds + i * E;
        if (c->scoring_func == RK_MOE_SCORING_SOFTMAX) {
            double dot = 0;
            for (int64_t e = 0; e < E; e++) dot += (double)d[e] * s[e];
            for (int64_t e = 0; e < E; e++) d[e] = (float)(s[e] * ((double)d[e] - dot));
        } else {
            for (int64_t e = 0; e < E; e++) d[e] = d[e] * s[e] * (1.0f - s[e]);
        }
    }
    linear_back(t, t->dxn, ds, a->xn2, L->router, N);
}
