/* model/arch_dense.c — the dense decoder layers of qwen2 and llama (as transformers' Qwen2/LlamaDecoderLayer):
 * x += o(attn(rope(q(xn)), rope(k(xn)), v(xn))) with GQA and the HF rotate_half RoPE (pairs i, i+d/2);
 * qwen2 has q/k/v biases (llama only when attention_bias is set); then x += down(silu(gate xn) * up xn). */
#include <stdio.h>
#include <string.h>
#include "model/model-impl.h"

int rk__dense_load_layer(rk_model *m, int64_t il, rk_err *err) {
    const rk_hf_config *c = &m->cfg;
    rk_layer *L = &m->layers[il];
    char n[192];
    int64_t D = m->hidden, hd = m->dk, qw = m->hq * hd, kw = m->hk * hd;
    int bias = m->arch == RK_HF_ARCH_QWEN2 || c->attention_bias;
    int rc;
#define NM(s) (snprintf(n, sizeof n, "model.layers.%lld.%s", (long long)il, s), n)
    if ((rc = rk__get_vec(m, &L->attn_norm, NM("input_layernorm.weight"), D, 0, err)) ||
        (rc = rk__get_vec(m, &L->ffn_norm, NM("post_attention_layernorm.weight"), D, 0, err)) ||
        (rc = rk__get_lin(m, &L->q, NM("self_attn.q_proj.weight"), qw, D, err)) ||
        (rc = rk__get_lin(m, &L->k, NM("self_attn.k_proj.weight"), kw, D, err)) ||
        (rc = rk__get_lin(m, &L->v, NM("self_attn.v_proj.weight"), kw, D, err)) ||
        (rc = rk__get_lin(m, &L->o, NM("self_attn.o_proj.weight"), D, qw, err)) ||
        (rc = rk__get_lin(m, &L->gate, NM("mlp.gate_proj.weight"), c->intermediate_size, D, err)) ||
        (rc = rk__get_lin(m, &L->up, NM("mlp.up_proj.weight"), c->intermediate_size, D, err)) ||
        (rc = rk__get_lin(m, &L->down, NM("mlp.down_proj.weight"), D, c->intermediate_size, err)))
        return rc;
    if (bias && ((rc = rk__get_vec(m, &L->q.bias, NM("self_attn.q_proj.bias"), qw, 0, err)) ||
                 (rc = rk__get_vec(m, &L->k.bias, NM("self_attn.k_proj.bias"), kw, 0, err)) ||
                 (rc = rk__get_vec(m, &L->v.bias, NM("self_attn.v_proj.bias"), kw, 0, err))))
        return rc;
    if (m->arch == RK_HF_ARCH_LLAMA && c->attention_bias &&
        (rc = rk__get_vec(m, &L->o.bias, NM("self_attn.o_proj.bias"), D, 0, err)))
        return rc;
#undef NM
    return 0;
}

/* reads a->xn, writes the attention block's output (after o_proj) to a->tmp */
void rk__dense_attention(rk_model *m, rk_kvcache *kv, int64_t il, int64_t n, int64_t p0) {
    rk_acts *a = &m->a;
    rk_layer *L = &m->layers[il];
    int64_t hd = m->dk, kw = m->hk * hd;
    rk__linear(m, a->q, a->xn, &L->q, n, il);
    rk__linear(m, a->k, a->xn, &L->k, n, il);
    rk__linear(m, a->v, a->xn, &L->v, n, il);
    rk_rope(a->q, a->pos, n, m->hq, hd, 0, &m->rope, m->rope_interleaved);
    rk_rope(a->k, a->pos, n, m->hk, hd, 0, &m->rope, m->rope_interleaved);
    memcpy(kv->k[il] + p0 * kw, a->k, (size_t)(n * kw) * sizeof(float));
    memcpy(kv->v[il] + p0 * kw, a->v, (size_t)(n * kw) * sizeof(float));
    rk_attention(a->att, NULL, a->q, kv->k[il], kv->v[il], n, p0 + n, p0, m->hq, m->hk, hd, hd, m->attn_scale);
    rk__linear(m, a->tmp, a->att, &L->o, n, il);
}
