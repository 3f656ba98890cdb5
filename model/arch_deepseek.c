/* model/arch_deepseek.c — DeepSeek-V3/R1 (and V2) decoder layers, computed as HF modeling_deepseek.py and
 * DeepSeek's inference/model.py ("naive" attention) do:
 *
 * MLA: q = q_b(rmsnorm(q_a(x))) (or q_proj(x) without q_lora_rank), per head [nope | rope];
 *      kv_a_proj_with_mqa(x) = [latent (kv_lora) | k_pe (rope)], k_pe shared by all heads;
 *      [k_nope | v] per head = kv_b(rmsnorm(latent)). RoPE on q_pe and k_pe over interleaved pairs (2i, 2i+1):
 *      HF de-interleaves (view(d/2, 2).transpose) and applies rotate_half, which is the same rotation; the YaRN
 *      magnitude factor lives in the rope table. softmax scale = (nope+rope)^-0.5 × mscale(factor, mscale_all_dim)².
 * MoE: s = sigmoid(x·Gᵀ) (softmax for scoring_func softmax); experts are chosen on s + e_score_correction_bias
 *      (noaux_tc; group score = sum of the group's top-2) or on s (group_limited_greedy: group score = max;
 *      greedy: no groups), within the topk_group best groups; weights are the unbiased s of the chosen,
 *      normalised when norm_topk_prob, times routed_scaling_factor (V2: scaling only when not normalised).
 *      Routed experts run on the tokens gathered for each (one batch per expert, experts in parallel);
 *      shared experts run on every token and are added. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "model/model-impl.h"

int rk__deepseek_load_layer(rk_model *m, int64_t il, rk_err *err) {
    const rk_hf_config *c = &m->cfg;
    rk_layer *L = &m->layers[il];
    char n[192];
    int64_t D = m->hidden, H = m->hq, dq = m->dq, kvl = c->kv_lora_rank, dr = c->qk_rope_head_dim;
    int rc;
#define NM(s) (snprintf(n, sizeof n, "model.layers.%lld.%s", (long long)il, s), n)
    if ((rc = rk__get_vec(m, &L->attn_norm, NM("input_layernorm.weight"), D, 0, err)) ||
        (rc = rk__get_vec(m, &L->ffn_norm, NM("post_attention_layernorm.weight"), D, 0, err)))
        return rc;
    if (c->q_lora_rank > 0) {
        if ((rc = rk__get_lin(m, &L->q_a, NM("self_attn.q_a_proj.weight"), c->q_lora_rank, D, err)) ||
            (rc = rk__get_vec(m, &L->q_a_norm, NM("self_attn.q_a_layernorm.weight"), c->q_lora_rank, 0, err)) ||
            (rc = rk__get_lin(m, &L->q_b, NM("self_attn.q_b_proj.weight"), H * dq, c->q_lora_rank, err)))
            return rc;
    } else if ((rc = rk__get_lin(m, &L->q, NM("self_attn.q_proj.weight"), H * dq, D, err))) {
        return rc;
    }
    if ((rc = rk__get_lin(m, &L->kv_a, NM("self_attn.kv_a_proj_with_mqa.weight"), kvl + dr, D, err)) ||
        (rc = rk__get_vec(m, &L->kv_a_norm, NM("self_attn.kv_a_layernorm.weight"), kvl, 0, err)) ||
        (rc = rk__get_lin(m, &L->o, NM("self_attn.o_proj.weight"), D, H * m->dv, err)))
        return rc;
    if (m->gguf && (rc = rk__gguf_kv_split(m, L, il, err))) return rc;
    if (!L->kb && (rc = rk__get_lin(m, &L->kv_b, NM("self_attn.kv_b_proj.weight"), H * (c->qk_nope_head_dim + m->dv), kvl, err)))
        return rc;
    if (!L->moe) {
        if ((rc = rk__get_lin(m, &L->gate, NM("mlp.gate_proj.weight"), c->intermediate_size, D, err)) ||
            (rc = rk__get_lin(m, &L->up, NM("mlp.up_proj.weight"), c->intermediate_size, D, err)) ||
            (rc = rk__get_lin(m, &L->down, NM("mlp.down_proj.weight"), D, c->intermediate_size, err)))
            return rc;
        return 0;
    }
    int64_t E = c->n_routed_experts, I = c->moe_intermediate_size;
    int noaux = !strcmp(c->topk_method, "noaux_tc");
    if ((rc = rk__get_lin(m, &L->router, NM("mlp.gate.weight"), E, D, err)) ||
        (rc = rk__get_vec(m, &L->score_bias, NM("mlp.gate.e_score_correction_bias"), E, !noaux, err)))
        return rc;
    const int stacked = m->gguf && rk__gguf_stacked_experts(m, il);
    for (int64_t e = 0; e < E && stacked; e++)
        if ((rc = rk__gguf_expert(m, &L->eg[e], il, e, 0, I, D, err)) || (rc = rk__gguf_expert(m, &L->eu[e], il, e, 1, I, D, err)) ||
            (rc = rk__gguf_expert(m, &L->ed[e], il, e, 2, D, I, err)))
            return rc;
    for (int64_t e = 0; e < E && !stacked; e++) {
        snprintf(n, sizeof n, "model.layers.%lld.mlp.experts.%lld.gate_proj.weight", (long long)il, (long long)e);
        if ((rc = rk__get_lin(m, &L->eg[e], n, I, D, err))) return rc;
        snprintf(n, sizeof n, "model.layers.%lld.mlp.experts.%lld.up_proj.weight", (long long)il, (long long)e);
        if ((rc = rk__get_lin(m, &L->eu[e], n, I, D, err))) return rc;
        snprintf(n, sizeof n, "model.layers.%lld.mlp.experts.%lld.down_proj.weight", (long long)il, (long long)e);
        if ((rc = rk__get_lin(m, &L->ed[e], n, D, I, err))) return rc;
    }
    if (c->n_shared_experts > 0) {
        int64_t S = I * c->n_shared_experts;
        L->has_shared = 1;
        if ((rc = rk__get_lin(m, &L->sg, NM("mlp.shared_experts.gate_proj.weight"), S, D, err)) ||
            (rc = rk__get_lin(m, &L->su, NM("mlp.shared_experts.up_proj.weight"), S, D, err)) ||
            (rc = rk__get_lin(m, &L->sd, NM("mlp.shared_experts.down_proj.weight"), D, S, err)))
            return rc;
    }
#undef NM
    return 0;
}

/* ---- MLA ---------------------------------------------------------------------------------------------------- */
/* reads a->xn, writes the attention block's output (after o_proj) to a->tmp */
void rk__deepseek_attention(rk_model *m, rk_kvcache *kv, int64_t il, int64_t n, int64_t p0) {
    const rk_hf_config *c = &m->cfg;
    rk_acts *a = &m->a;
    rk_layer *L = &m->layers[il];
    int64_t H = m->hq, dq = m->dq, dn = c->qk_nope_head_dim, dr = c->qk_rope_head_dim, dv = m->dv;
    int64_t kvl = c->kv_lora_rank, ql = c->q_lora_rank;
    if (ql > 0) {
        float *qn = a->qa + n * ql;
        rk__linear(m, a->qa, a->xn, &L->q_a, n, il);
        rk_rmsnorm(qn, NULL, a->qa, L->q_a_norm, n, ql, m->eps);
        rk__linear(m, a->q, qn, &L->q_b, n, il);
    } else {
        rk__linear(m, a->q, a->xn, &L->q, n, il);
    }
    rk__linear(m, a->kva, a->xn, &L->kv_a, n, il);
    for (int64_t t = 0; t < n; t++)
        rk_rmsnorm(a->lat + t * kvl, NULL, a->kva + t * (kvl + dr), L->kv_a_norm, 1, kvl, m->eps);
    if (!L->kb) {
        rk__linear(m, a->kvb, a->lat, &L->kv_b, n, il);
    } else {   /* GGUF split: k_nope[h] = lat · k_b[h] (k_b stored transposed), v[h] = lat · v_bᵀ[h] */
        for (int64_t h = 0; h < H; h++) {
            memset(a->hs, 0, (size_t)(n * dn) * sizeof(float));
            rk_matmul_backward(a->hs, NULL, NULL, a->lat, NULL, &L->kb[h].w, n);
            for (int64_t t = 0; t < n; t++)
                memcpy(a->kvb + (t * H + h) * (dn + dv), a->hs + t * dn, (size_t)dn * sizeof(float));
            rk_matmul(a->hs, a->lat, &L->vb[h].w, NULL, n);
            for (int64_t t = 0; t < n; t++)
                memcpy(a->kvb + (t * H + h) * (dn + dv) + dn, a->hs + t * dv, (size_t)dv * sizeof(float));
        }
        rk__observe(m, &L->vb[0], il, -1, a->lat, n);
    }
    rk_rope(a->q, a->pos, n, H, dq, dn, &m->rope, m->rope_interleaved);
    rk_rope(a->kva, a->pos, n, 1, kvl + dr, kvl, &m->rope, m->rope_interleaved);
    float *K = kv->k[il], *V = kv->v[il];
    for (int64_t t = 0; t < n; t++) {
        const float *kvb = a->kvb + t * H * (dn + dv), *kpe = a->kva + t * (kvl + dr) + kvl;
        float *krow = K + (p0 + t) * H * dq, *vrow = V + (p0 + t) * H * dv;
        for (int64_t h = 0; h < H; h++) {
            memcpy(krow + h * dq, kvb + h * (dn + dv), (size_t)dn * sizeof(float));
            memcpy(krow + h * dq + dn, kpe, (size_t)dr * sizeof(float));
            memcpy(vrow + h * dv, kvb + h * (dn + dv) + dn, (size_t)dv * sizeof(float));
        }
    }
    rk_attention(a->att, NULL, a->q, K, V, n, p0 + n, p0, H, H, dq, dv, m->attn_scale);
    rk__linear(m, a->tmp, a->att, &L->o, n, il);
}

/* ---- routing ------------------------------------------------------------------------------------------------ */
/* index of the largest v[i] among i with mask[i] == 0 (lowest index on ties), or -1 */
static int64_t argmax_free(const float *v, const unsigned char *mask, int64_t len) {
    int64_t best = -1;
    for (int64_t i = 0; i < len; i++)
        if (!mask[i] && (best < 0 || v[i] > v[best])) best = i;
    return best;
}

void rk__route_token(const rk_hf_config *c, int v2, const float *score_bias, const float *s, float *choice,
                     int32_t *sel, float *w) {
    int64_t E = c->n_routed_experts, K = c->num_experts_per_tok;
    int64_t G = c->n_group > 0 ? c->n_group : 1, TG = c->n_group > 0 ? c->topk_group : 1, per = E / G;
    int noaux = !strcmp(c->topk_method, "noaux_tc"), greedy = !strcmp(c->topk_method, "greedy");
    unsigned char msk[RK_MAX_EXPERTS], gmask[RK_MAX_EXPERTS];   /* E, G <= RK_MAX_EXPERTS (checked at load) */
    for (int64_t e = 0; e < E; e++) choice[e] = s[e] + (noaux && score_bias ? score_bias[e] : 0.0f);
    memset(msk, 0, (size_t)E);
    if (!greedy && G > 1 && TG < G) {
        float gs[RK_MAX_EXPERTS];
        for (int64_t g = 0; g < G; g++) {
            const float *v = choice + g * per;
            if (noaux) {   /* sum of the group's two best */
                float b1 = -INFINITY, b2 = -INFINITY;
                for (int64_t i = 0; i < per; i++) {
                    if (v[i] > b1) b2 = b1, b1 = v[i];
                    else if (v[i] > b2) b2 = v[i];
                }
                gs[g] = per >= 2 ? b1 + b2 : b1;
            } else {
                float b = -INFINITY;
                for (int64_t i = 0; i < per; i++) b = v[i] > b ? v[i] : b;
                gs[g] = b;
            }
        }
        memset(gmask, 0, (size_t)G);
        unsigned char keep[RK_MAX_EXPERTS];
        memset(keep, 0, (size_t)G);
        for (int64_t k = 0; k < TG; k++) {
            int64_t g = argmax_free(gs, gmask, G);
            gmask[g] = 1, keep[g] = 1;
        }
        for (int64_t e = 0; e < E; e++) msk[e] = !keep[e / per];
    }
    double sum = 0;
    for (int64_t k = 0; k < K; k++) {
        int64_t e = argmax_free(choice, msk, E);
        if (e < 0) e = 0;   /* cannot happen: topk_group * per >= K is checked at load */
        msk[e] = 1;
        sel[k] = (int32_t)e;
        w[k] = s[e];
        sum += s[e];
    }
    int norm = K > 1 && c->norm_topk_prob;
    float rsf = (float)c->routed_scaling_factor;
    if (norm) {
        float den = (float)sum + 1e-20f;
        for (int64_t k = 0; k < K; k++) w[k] /= den;
    }
    if (!v2 || !norm)
        for (int64_t k = 0; k < K; k++) w[k] *= rsf;
}

static void moe(rk_model *m, int64_t il, int64_t n) {
    const rk_hf_config *c = &m->cfg;
    rk_acts *a = &m->a;
    rk_layer *L = &m->layers[il];
    int64_t E = c->n_routed_experts, K = c->num_experts_per_tok, D = m->hidden, I = c->moe_intermediate_size;
    /* router */
    rk__linear(m, a->rlog, a->xn, &L->router, n, il);
    if (c->scoring_func == RK_MOE_SCORING_SOFTMAX) {
        rk_softmax(a->rlog, n, E);
    } else {
        for (int64_t i = 0; i < n * E; i++) a->rlog[i] = 1.0f / (1.0f + expf(-a->rlog[i]));
    }
    for (int64_t t = 0; t < n; t++)
        rk__route_token(c, m->v2, L->score_bias, a->rlog + t * E, a->rsel + t * E, a->sel + t * K, a->selw + t * K);
    /* statistics, and slots grouped by expert */
    int64_t *off = a->eoff;
    memset(off, 0, (size_t)(E + 1) * sizeof *off);
    for (int64_t s = 0; s < n * K; s++) {
        off[a->sel[s] + 1]++;
        L->count[a->sel[s]]++;
        L->wsum[a->sel[s]] += a->selw[s];
    }
    L->tokens += (uint64_t)n;
    for (int64_t e = 0; e < E; e++) off[e + 1] += off[e];
    int32_t *perm = a->perm, *row_of = a->perm + n * K;
    int64_t n_act = 0;
    for (int64_t e = 0; e < E; e++)
        if (off[e + 1] > off[e]) a->active[n_act++] = (int32_t)e;
    {
        int64_t fill[RK_MAX_EXPERTS];
        for (int64_t e = 0; e < E; e++) fill[e] = off[e];
        for (int64_t s = 0; s < n * K; s++) {
            int64_t j = fill[a->sel[s]]++;
            perm[j] = (int32_t)s;
            row_of[s] = (int32_t)j;
        }
    }
    for (int64_t j = 0; j < n * K; j++) memcpy(a->xg + j * D, a->xn + (perm[j] / K) * D, (size_t)D * sizeof(float));
    /* experts: disjoint row segments, so experts run in parallel (kernels inside run single-threaded then) */
    #pragma omp parallel for schedule(dynamic, 1) if (n_act > 1)
    for (int64_t ai = 0; ai < n_act; ai++) {
        int64_t e = a->active[ai], o = off[e], cnt = off[e + 1] - off[e];
        rk_matmul(a->eg + o * I, a->xg + o * D, &L->eg[e].w, NULL, cnt);
        rk_matmul(a->eu + o * I, a->xg + o * D, &L->eu[e].w, NULL, cnt);
        rk_swiglu(a->eg + o * I, a->eg + o * I, a->eu + o * I, cnt * I);
        rk_matmul(a->ys + o * D, a->eg + o * I, &L->ed[e].w, NULL, cnt);
    }
    if (m->obs)
        for (int64_t ai = 0; ai < n_act; ai++) {
            int64_t e = a->active[ai], o = off[e], cnt = off[e + 1] - off[e];
            rk__observe(m, &L->eg[e], il, e, a->xg + o * D, cnt);
            rk__observe(m, &L->eu[e], il, e, a->xg + o * D, cnt);
            rk__observe(m, &L->ed[e], il, e, a->eg + o * I, cnt);
        }
    /* shared experts into tmp, then the weighted routed outputs in selection order */
    if (L->has_shared) rk__mlp(m, &L->sg, &L->su, &L->sd, I * c->n_shared_experts, a->tmp, a->xn, n, il);
    else memset(a->tmp, 0, (size_t)(n * D) * sizeof(float));
    #pragma omp parallel for schedule(static) if (n * D * K >= (1 << 16))
    for (int64_t t = 0; t < n; t++) {
        float *y = a->tmp + t * D;
        for (int64_t d = 0; d < D; d++) {
            float r = 0;
            for (int64_t k = 0; k < K; k++) r += a->selw[t * K + k] * a->ys[(int64_t)row_of[t * K + k] * D + d];
            y[d] += r;
        }
    }
}

/* reads a->xn, writes the FFN output to a->tmp */
void rk__deepseek_ffn(rk_model *m, int64_t il, int64_t n) {
    rk_layer *L = &m->layers[il];
    if (L->moe) moe(m, il, n);
    else rk__mlp(m, &L->gate, &L->up, &L->down, m->cfg.intermediate_size, m->a.tmp, m->a.xn, n, il);
}
