/* model/model_gguf.c — running GGUF files in llama.cpp's layout (what `r1kit convert` writes, see
 * docs/gguf-layout.md): the typed config is rebuilt from the <arch>.* keys, HF tensor names are translated to
 * GGUF names (blk.N.attn_q ...), routed experts are views into the stacked ffn_*_exps tensors, kv_b may come
 * split (attn_k_b transposed per head + attn_v_b), llama's q/k rows are permuted to interleaved RoPE pairs
 * (so llama runs interleaved rope on them), and llama3 frequency factors come from the rope_freqs tensor.
 * Weight types are those the kernels run (F32, F16, BF16 and the block types of quantize/quants.h); others are
 * refused by name. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "model/model-impl.h"
#include "formats/gguf.h"

static const struct { const char *hf, *gg; } k_names[] = {
    {"input_layernorm.weight", "attn_norm.weight"},
    {"post_attention_layernorm.weight", "ffn_norm.weight"},
    {"self_attn.q_proj.weight", "attn_q.weight"},
    {"self_attn.q_proj.bias", "attn_q.bias"},
    {"self_attn.k_proj.weight", "attn_k.weight"},
    {"self_attn.k_proj.bias", "attn_k.bias"},
    {"self_attn.v_proj.weight", "attn_v.weight"},
    {"self_attn.v_proj.bias", "attn_v.bias"},
    {"self_attn.o_proj.weight", "attn_output.weight"},
    {"self_attn.o_proj.bias", "attn_output.bias"},
    {"self_attn.q_a_proj.weight", "attn_q_a.weight"},
    {"self_attn.q_a_layernorm.weight", "attn_q_a_norm.weight"},
    {"self_attn.q_b_proj.weight", "attn_q_b.weight"},
    {"self_attn.kv_a_proj_with_mqa.weight", "attn_kv_a_mqa.weight"},
    {"self_attn.kv_a_layernorm.weight", "attn_kv_a_norm.weight"},
    {"self_attn.kv_b_proj.weight", "attn_kv_b.weight"},
    {"mlp.gate_proj.weight", "ffn_gate.weight"},
    {"mlp.up_proj.weight", "ffn_up.weight"},
    {"mlp.down_proj.weight", "ffn_down.weight"},
    {"mlp.gate.weight", "ffn_gate_inp.weight"},
    {"mlp.gate.e_score_correction_bias", "exp_probs_b.bias"},
    {"mlp.shared_experts.gate_proj.weight", "ffn_gate_shexp.weight"},
    {"mlp.shared_experts.up_proj.weight", "ffn_up_shexp.weight"},
    {"mlp.shared_experts.down_proj.weight", "ffn_down_shexp.weight"},
};

/* HF name -> GGUF name in buf; 0 if it has no GGUF counterpart */
static int translate(const char *hf, char *buf, size_t cap) {
    if (!strcmp(hf, "model.embed_tokens.weight")) return snprintf(buf, cap, "token_embd.weight") > 0;
    if (!strcmp(hf, "model.norm.weight")) return snprintf(buf, cap, "output_norm.weight") > 0;
    if (!strcmp(hf, "lm_head.weight")) return snprintf(buf, cap, "output.weight") > 0;
    long long il;
    int used = 0;
    if (sscanf(hf, "model.layers.%lld.%n", &il, &used) != 1 || used <= 0) return 0;
    const char *rest = hf + used;
    long long e;
    char proj[8];
    int used2 = 0;   /* r1kit's per-expert layout: blk.N.ffn_{gate,up,down}.E.weight (docs/quantize.md) */
    if (sscanf(rest, "mlp.experts.%lld.%4[a-z]_proj.weight%n", &e, proj, &used2) == 2 && used2 > 0 && !rest[used2] &&
        (!strcmp(proj, "gate") || !strcmp(proj, "up") || !strcmp(proj, "down")))
        return snprintf(buf, cap, "blk.%lld.ffn_%s.%lld.weight", il, proj, e) > 0;
    for (size_t i = 0; i < sizeof k_names / sizeof k_names[0]; i++)
        if (!strcmp(rest, k_names[i].hf)) return snprintf(buf, cap, "blk.%lld.%s", il, k_names[i].gg) > 0;
    return 0;
}

const rk_ckpt_tensor *rk__find(const rk_model *m, const char *hf_name) {
    if (!m->gguf) return rk_ckpt_find(m->ck, hf_name);
    char g[160];
    if (!translate(hf_name, g, sizeof g)) return NULL;
    return rk_ckpt_find(m->ck, g);
}

const char *rk__display_name(const rk_model *m, const char *hf_name, char *buf, size_t cap) {
    if (m->gguf && translate(hf_name, buf, cap)) return buf;
    return hf_name;
}

/* ---- config ----------------------------------------------------------------------------------------------- */
typedef struct kv_ctx { const rk_gguf *g; const char *arch; const char *path; rk_err *err; int rc; } kv_ctx;

static int64_t geti(kv_ctx *k, const char *suffix, int64_t def, int required) {
    char key[160];
    snprintf(key, sizeof key, "%s.%s", k->arch, suffix);
    int64_t v;
    int rc = rk_gguf_get_i64(k->g, key, &v);
    if (rc == RK_ENOTFOUND && !required) return def;
    if (rc) {
        if (!k->rc)
            k->rc = rk_err_file(k->err, RK_ECORRUPT, k->path, UINT64_MAX, "%s key '%s'",
                                rc == RK_ENOTFOUND ? "missing" : "wrongly typed", key);
        return def;
    }
    if (v < 0 || v > (1LL << 40)) {
        if (!k->rc) k->rc = rk_err_file(k->err, RK_ECORRUPT, k->path, UINT64_MAX, "key '%s' = %lld out of range", key, (long long)v);
        return def;
    }
    return v;
}

static double getf(kv_ctx *k, const char *suffix, double def, int *present) {
    char key[160];
    snprintf(key, sizeof key, "%s.%s", k->arch, suffix);
    double v;
    if (present) *present = 0;
    if (rk_gguf_get_f64(k->g, key, &v) || !isfinite(v)) return def;
    if (present) *present = 1;
    return v;
}

static int positive(kv_ctx *k, const char *what, int64_t v, int64_t lo, int64_t hi) {
    if (k->rc) return k->rc;
    if (v < lo || v > hi)
        k->rc = rk_err_file(k->err, RK_ECORRUPT, k->path, UINT64_MAX, "%s = %lld out of range [%lld, %lld]", what,
                            (long long)v, (long long)lo, (long long)hi);
    return k->rc;
}

int rk__gguf_config(rk_model *m, rk_err *err) {
    const rk_gguf *g = rk_ckpt_gguf(m->ck);
    rk_hf_config *c = &m->cfg;
    const char *path = rk_ckpt_path(m->ck);
    memset(c, 0, sizeof *c);
    rk_gguf_str s;
    char arch[32];
    if (!g || rk_gguf_get_str(g, "general.architecture", &s) || s.len == 0 || s.len >= sizeof arch)
        return rk_err_file(err, RK_ECORRUPT, path, UINT64_MAX, "missing or bad general.architecture");
    memcpy(arch, s.ptr, s.len);
    arch[s.len] = 0;
    kv_ctx k = {g, arch, path, err, 0};
    if (!strcmp(arch, "deepseek2")) c->arch = RK_HF_ARCH_DEEPSEEK2, snprintf(c->model_type, sizeof c->model_type, "deepseek_v3");
    else if (!strcmp(arch, "qwen2")) c->arch = RK_HF_ARCH_QWEN2, snprintf(c->model_type, sizeof c->model_type, "qwen2");
    else if (!strcmp(arch, "llama")) c->arch = RK_HF_ARCH_LLAMA, snprintf(c->model_type, sizeof c->model_type, "llama");
    else return rk_err_file(err, RK_EUNSUPPORTED, path, UINT64_MAX, "GGUF architecture '%s' is not supported", arch);
    c->num_hidden_layers = geti(&k, "block_count", 0, 1);
    c->max_position_embeddings = geti(&k, "context_length", 4096, 0);
    c->hidden_size = geti(&k, "embedding_length", 0, 1);
    c->intermediate_size = geti(&k, "feed_forward_length", 0, 1);
    c->num_attention_heads = geti(&k, "attention.head_count", 0, 1);
    c->num_key_value_heads = geti(&k, "attention.head_count_kv", c->num_attention_heads, 0);
    c->rope_theta = getf(&k, "rope.freq_base", 10000.0, NULL);
    c->rms_norm_eps = getf(&k, "attention.layer_norm_rms_epsilon", c->arch == RK_HF_ARCH_DEEPSEEK2 ? 1e-6 : 1e-5, NULL);
    const rk_ckpt_tensor *emb = rk_ckpt_find(m->ck, "token_embd.weight");
    c->vocab_size = geti(&k, "vocab_size", emb && emb->n_dims == 2 ? emb->shape[0] : 0, 0);
    c->tie_word_embeddings = rk_ckpt_find(m->ck, "output.weight") == NULL;
    c->bos_token_id = c->pad_token_id = -1;
    if (k.rc) return k.rc;
    if (positive(&k, "block_count", c->num_hidden_layers, 1, 100000) ||
        positive(&k, "embedding_length", c->hidden_size, 1, 1 << 20) ||
        positive(&k, "attention.head_count", c->num_attention_heads, 1, 1 << 16) ||
        positive(&k, "vocab_size", c->vocab_size, 1, 1 << 24))
        return k.rc;
    if (c->rms_norm_eps <= 0 || c->rms_norm_eps > 1 || c->rope_theta <= 0)
        return rk_err_file(err, RK_ECORRUPT, path, UINT64_MAX, "rms epsilon %g or rope base %g out of range",
                           c->rms_norm_eps, c->rope_theta);
    /* rope scaling */
    rk_hf_rope_scaling *rs = &c->rope_scaling;
    rs->factor = 1.0, rs->low_freq_factor = 1.0, rs->high_freq_factor = 4.0;
    char key[160];
    snprintf(key, sizeof key, "%s.rope.scaling.type", arch);
    if (!rk_gguf_get_str(g, key, &s)) {
        if (s.len == 4 && !memcmp(s.ptr, "yarn", 4)) rs->type = RK_ROPE_SCALING_YARN;
        else if (s.len == 6 && !memcmp(s.ptr, "linear", 6)) rs->type = RK_ROPE_SCALING_LINEAR;
        else if (!(s.len == 4 && !memcmp(s.ptr, "none", 4)))
            return rk_err_file(err, RK_EUNSUPPORTED, path, UINT64_MAX, "key '%s' = '%.*s' is not supported", key,
                               (int)(s.len > 32 ? 32 : s.len), s.ptr);
        rs->factor = getf(&k, "rope.scaling.factor", 1.0, NULL);
        rs->original_max_position_embeddings = geti(&k, "rope.scaling.original_context_length", 0, 0);
        rs->beta_fast = getf(&k, "rope.scaling.yarn_beta_fast", 32, &rs->has_beta_fast);
        rs->beta_slow = getf(&k, "rope.scaling.yarn_beta_slow", 1, &rs->has_beta_slow);
        int has_log;
        double lm = getf(&k, "rope.scaling.yarn_log_multiplier", 0, &has_log);
        if (has_log && lm != 0) {
            /* r1kit/llama.cpp store 0.1 * mscale_all_dim; DeepSeek's mscale is not stored and equals
               mscale_all_dim in every released config (the cos/sin factor is then 1) */
            rs->mscale_all_dim = rs->mscale = lm / 0.1;
            rs->has_mscale_all_dim = rs->has_mscale = 1;
        }
        if (!(rs->factor > 0) || rs->factor > 1e6)
            return rk_err_file(err, RK_ECORRUPT, path, UINT64_MAX, "rope scaling factor %g out of range", rs->factor);
    }
    if (c->arch == RK_HF_ARCH_DEEPSEEK2) {
        c->q_lora_rank = geti(&k, "attention.q_lora_rank", 0, 0);
        c->kv_lora_rank = geti(&k, "attention.kv_lora_rank", 0, 1);
        c->qk_rope_head_dim = geti(&k, "rope.dimension_count", 64, 0);
        int64_t kl = geti(&k, "attention.key_length_mla", -1, 0), vl = geti(&k, "attention.value_length_mla", -1, 0);
        if (kl < 0) kl = geti(&k, "attention.key_length", 0, 1);   /* older files: per-head sizes */
        if (vl < 0) vl = geti(&k, "attention.value_length", 0, 1);
        c->qk_nope_head_dim = kl - c->qk_rope_head_dim;
        c->v_head_dim = vl;
        c->head_dim = kl;
        c->num_key_value_heads = c->num_attention_heads;
        c->first_k_dense_replace = geti(&k, "leading_dense_block_count", 0, 0);
        c->moe_intermediate_size = geti(&k, "expert_feed_forward_length", 0, 0);
        c->n_routed_experts = geti(&k, "expert_count", 0, 0);
        c->n_shared_experts = geti(&k, "expert_shared_count", 0, 0);
        c->num_experts_per_tok = geti(&k, "expert_used_count", 0, 0);
        c->n_group = geti(&k, "expert_group_count", 0, 0);
        c->topk_group = geti(&k, "expert_group_used_count", 0, 0);
        c->moe_layer_freq = 1;
        c->routed_scaling_factor = getf(&k, "expert_weights_scale", 1.0, NULL);
        snprintf(key, sizeof key, "%s.expert_weights_norm", arch);
        int b = 0;
        c->norm_topk_prob = !rk_gguf_get_bool(g, key, &b) && b;
        int64_t gf = geti(&k, "expert_gating_func", 1, 0);   /* absent: softmax (llama.cpp's back-compat rule) */
        if (gf != 1 && gf != 2)
            return rk_err_file(err, RK_EUNSUPPORTED, path, UINT64_MAX, "%s.expert_gating_func = %lld (1 softmax, 2 sigmoid)",
                               arch, (long long)gf);
        c->scoring_func = gf == 2 ? RK_MOE_SCORING_SIGMOID : RK_MOE_SCORING_SOFTMAX;
        int has_bias = 0;
        char bn[64];
        for (int64_t il = 0; il < c->num_hidden_layers && !has_bias; il++) {
            snprintf(bn, sizeof bn, "blk.%lld.exp_probs_b.bias", (long long)il);
            has_bias = rk_ckpt_find(m->ck, bn) != NULL;
        }
        snprintf(c->topk_method, sizeof c->topk_method, "%s",
                 has_bias ? "noaux_tc" : c->n_group > 1 ? "group_limited_greedy" : "greedy");
        if (k.rc) return k.rc;
        if (positive(&k, "kv_lora_rank", c->kv_lora_rank, 1, 1 << 16) ||
            positive(&k, "rope.dimension_count", c->qk_rope_head_dim, 2, 1 << 16) ||
            positive(&k, "qk_nope_head_dim (key_length_mla - rope)", c->qk_nope_head_dim, 1, 1 << 16) ||
            positive(&k, "value_length_mla", c->v_head_dim, 1, 1 << 16) ||
            positive(&k, "leading_dense_block_count", c->first_k_dense_replace, 0, c->num_hidden_layers) ||
            positive(&k, "expert_count", c->n_routed_experts, 0, RK_MAX_EXPERTS) ||
            positive(&k, "expert_group_count", c->n_group, 0, c->n_routed_experts > 0 ? c->n_routed_experts : 0))
            return k.rc;
        if (c->qk_rope_head_dim % 2)
            return rk_err_file(err, RK_ECORRUPT, path, UINT64_MAX, "rope.dimension_count %lld is odd",
                               (long long)c->qk_rope_head_dim);
        if (c->n_routed_experts == 0) c->first_k_dense_replace = c->num_hidden_layers;
    } else {
        int64_t hd = geti(&k, "rope.dimension_count", -1, 0);
        if (hd < 0) hd = geti(&k, "attention.key_length", -1, 0);
        if (hd < 0) {
            if (c->hidden_size % c->num_attention_heads)
                return rk_err_file(err, RK_ECORRUPT, path, UINT64_MAX, "head_count does not divide embedding_length");
            hd = c->hidden_size / c->num_attention_heads;
        }
        c->head_dim = hd;
        c->has_head_dim = 1;
        c->attention_bias = c->arch == RK_HF_ARCH_QWEN2 || rk_ckpt_find(m->ck, "blk.0.attn_q.bias") != NULL;
        if (k.rc) return k.rc;
        if (positive(&k, "head dimension", hd, 2, 1 << 16) ||
            positive(&k, "attention.head_count_kv", c->num_key_value_heads, 1, c->num_attention_heads))
            return k.rc;
        if (hd % 2) return rk_err_file(err, RK_ECORRUPT, path, UINT64_MAX, "head dimension %lld is odd", (long long)hd);
    }
    if (positive(&k, "feed_forward_length", c->intermediate_size, 0, 1 << 24)) return k.rc;
    m->gguf = 1;
    return 0;
}

/* ---- tensors that have no HF twin ------------------------------------------------------------------------- */

static int view_slice(rk_model *m, rk_lin *l, const char *name, int64_t idx, int64_t n3, int64_t rows, int64_t cols,
                      rk_err *err) {
    memset(l, 0, sizeof *l);
    const rk_ckpt_tensor *t = rk_ckpt_find(m->ck, name);
    const char *path = rk_ckpt_path(m->ck);
    if (!t) return rk_err_file(err, RK_ENOTFOUND, path, UINT64_MAX, "missing tensor '%s'", name);
    if (t->n_dims != 3 || t->shape[0] != n3 || t->shape[1] != rows || t->shape[2] != cols)
        return rk_err_file(err, RK_ECORRUPT, path, UINT64_MAX,
                           "tensor '%s' has %d dims [%lld, %lld, %lld], the config implies [%lld, %lld, %lld]", name,
                           t->n_dims, (long long)t->shape[0], (long long)(t->n_dims > 1 ? t->shape[1] : 0),
                           (long long)(t->n_dims > 2 ? t->shape[2] : 0), (long long)n3, (long long)rows, (long long)cols);
    uint64_t slice = 0;
    if (!rk__weight_dtype_ok(t->dtype) || t->dtype == RK_DTYPE_F8_E4M3 || !t->data ||
        rk_dtype_nbytes(t->dtype, (uint64_t)rows * (uint64_t)cols, &slice))
        return rk_err_file(err, RK_EUNSUPPORTED, path, UINT64_MAX,
                           "tensor '%s' has type %s; the engine runs F32, F16 and BF16 GGUF weights so far", name,
                           rk_dtype_name(t->dtype));
    l->w.dtype = t->dtype, l->w.rows = rows, l->w.cols = cols;
    l->w.data = t->data + (size_t)idx * (size_t)slice;
    l->name = t->name;
    return 0;
}

int rk__gguf_stacked_experts(const rk_model *m, int64_t il) {
    char n[96];
    snprintf(n, sizeof n, "blk.%lld.ffn_gate_exps.weight", (long long)il);
    return rk_ckpt_find(m->ck, n) != NULL;
}

int rk__gguf_expert(rk_model *m, rk_lin *l, int64_t il, int64_t e, int which, int64_t rows, int64_t cols, rk_err *err) {
    static const char *k_exps[3] = {"ffn_gate_exps", "ffn_up_exps", "ffn_down_exps"};
    char n[96];
    snprintf(n, sizeof n, "blk.%lld.%s.weight", (long long)il, k_exps[which]);
    return view_slice(m, l, n, e, m->cfg.n_routed_experts, rows, cols, err);
}

/* attn_k_b [H, kv_lora, nope] and attn_v_b [H, v, kv_lora]: per-head views. 0 with L->kb == NULL when the
 * file has the unsplit attn_kv_b instead. */
int rk__gguf_kv_split(rk_model *m, rk_layer *L, int64_t il, rk_err *err) {
    const rk_hf_config *c = &m->cfg;
    char kn[96], vn[96];
    snprintf(kn, sizeof kn, "blk.%lld.attn_k_b.weight", (long long)il);
    snprintf(vn, sizeof vn, "blk.%lld.attn_v_b.weight", (long long)il);
    if (!rk_ckpt_find(m->ck, kn)) return 0;
    int64_t H = m->hq;
    L->kb = calloc((size_t)H, sizeof *L->kb);
    L->vb = calloc((size_t)H, sizeof *L->vb);
    if (!L->kb || !L->vb) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
    for (int64_t h = 0; h < H; h++) {
        int rc = view_slice(m, &L->kb[h], kn, h, H, c->kv_lora_rank, c->qk_nope_head_dim, err);
        if (!rc) rc = view_slice(m, &L->vb[h], vn, h, H, c->v_head_dim, c->kv_lora_rank, err);
        if (rc) return rc;
    }
    return 0;
}

/* llama3 in GGUF: per-frequency divisors in rope_freqs.weight [rot_dim/2] (F32). Builds the table directly:
 * angle = pos * base^(-2i/d) / ff[i]. */
int rk__gguf_rope_table(rk_model *m, rk_rope_table *t, int64_t n_pos, int *done, rk_err *err) {
    *done = 0;
    if (!m->gguf || m->arch == RK_HF_ARCH_DEEPSEEK2) return 0;
    const rk_ckpt_tensor *f = rk_ckpt_find(m->ck, "rope_freqs.weight");
    if (!f) return 0;
    int64_t half = m->rot_dim / 2;
    if (f->n_dims != 1 || f->shape[0] != half || f->dtype != RK_DTYPE_F32 || !f->data)
        return rk_err_file(err, RK_ECORRUPT, rk_ckpt_path(m->ck), UINT64_MAX,
                           "tensor 'rope_freqs.weight' must be F32 [%lld]", (long long)half);
    float ff[4096];
    if (half > 4096) return rk_err_set(err, RK_EUNSUPPORTED, UINT64_MAX, "rope dimension too large");
    memcpy(ff, f->data, (size_t)half * sizeof(float));
    for (int64_t i = 0; i < half; i++)
        if (!(ff[i] > 0) || !isfinite(ff[i]))
            return rk_err_file(err, RK_ECORRUPT, rk_ckpt_path(m->ck), UINT64_MAX, "rope_freqs.weight[%lld] = %g",
                               (long long)i, ff[i]);
    memset(t, 0, sizeof *t);
    t->n_pos = n_pos, t->rot_dim = m->rot_dim, t->attn_factor = 1.0f;
    t->cos = malloc((size_t)(n_pos * half) * sizeof(float) + 1);
    t->sin = malloc((size_t)(n_pos * half) * sizeof(float) + 1);
    if (!t->cos || !t->sin) {
        free(t->cos), free(t->sin);
        memset(t, 0, sizeof *t);
        return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory for the rope table");
    }
    for (int64_t i = 0; i < half; i++) {
        double inv = pow(m->cfg.rope_theta, -2.0 * (double)i / (double)m->rot_dim) / ff[i];
        for (int64_t p = 0; p < n_pos; p++) {
            double a = (double)p * inv;
            t->cos[p * half + i] = (float)cos(a);
            t->sin[p * half + i] = (float)sin(a);
        }
    }
    *done = 1;
    return 0;
}
