/* convert/convert_plan.c — the tensor plan: every checkpoint tensor is mapped to its llama.cpp GGUF name (or
 * dropped for a stated reason), its shape is checked against config.json, routed experts are grouped for
 * stacking, kv_b is split, and each output gets its GGUF type. Nothing is read here but names and shapes, so a
 * bad checkpoint fails before any output byte is written. Mapping facts: docs/gguf-layout.md §4. */
#define _GNU_SOURCE
#include "convert/convert-impl.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void rk_cv_logf(const rk_cv_log *lg, int level, const char *fmt, ...) {
    if (!lg || !lg->fn) return;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    lg->fn(lg->user, level, buf);
}

void rk_cv_plan_free(rk_cv_plan *p) {
    if (!p) return;
    for (size_t i = 0; i < p->n; i++) free(p->items[i].srcs);
    free(p->items);
    memset(p, 0, sizeof *p);
}

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

/* ---- building blocks ---- */
typedef struct bctx {
    rk_cv_plan *p;
    rk_ckpt *ck;
    const rk_hf_config *cfg;
    int outtype;
    const rk_cv_log *lg;
    rk_err *err;
    int64_t *experts;        /* [layers][3][n_routed] checkpoint indices, -1 = missing */
    size_t *mtp_count;       /* [num_nextn] per MTP layer (index il - layers), capped */
} bctx;

static const char *ck_file(bctx *b, const rk_ckpt_tensor *t) {
    const char *f = rk_ckpt_file_path(b->ck, (size_t)t->file);
    return f ? f : rk_ckpt_path(b->ck);
}

static rk_cv_item *new_item(bctx *b) {
    rk_cv_plan *p = b->p;
    if (p->n == p->cap) {
        size_t nc = p->cap ? p->cap * 2 : 256;
        rk_cv_item *it = realloc(p->items, nc * sizeof *it);
        if (!it) return NULL;
        p->items = it;
        p->cap = nc;
    }
    rk_cv_item *it = &p->items[p->n++];
    memset(it, 0, sizeof *it);
    it->src = -1;
    return it;
}

static void shape_str(const int64_t *s, int n, char *buf, size_t cap) {
    size_t k = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < n && k < cap; i++) k += (size_t)snprintf(buf + k, cap - k, "%s%lld", i ? ", " : "", (long long)s[i]);
    if (k < cap) snprintf(buf + k, cap - k, "]");
}

/* expected HF shape of a tensor, by its GGUF base name; 0 dims = not checked */
static int expected_shape(const rk_hf_config *c, const char *base, int is_bias, int64_t e[2]) {
    const int ds = c->arch == RK_HF_ARCH_DEEPSEEK2;
    const int64_t H = c->hidden_size, nh = c->num_attention_heads, nkv = c->num_key_value_heads;
    const int64_t hd = c->head_dim, qk = c->qk_nope_head_dim + c->qk_rope_head_dim;
    const int64_t shexp = c->moe_intermediate_size * c->n_shared_experts;
    int n = 2;
    if (!strcmp(base, "attn_norm") || !strcmp(base, "ffn_norm") || !strcmp(base, "output_norm")) { e[0] = H; n = 1; }
    else if (!strcmp(base, "token_embd") || !strcmp(base, "output")) { e[0] = c->vocab_size; e[1] = H; }
    else if (!strcmp(base, "attn_q")) { e[0] = ds ? nh * qk : nh * hd; e[1] = H; }
    else if (!strcmp(base, "attn_k") || !strcmp(base, "attn_v")) { e[0] = nkv * hd; e[1] = H; }
    else if (!strcmp(base, "attn_output")) { e[0] = H; e[1] = ds ? nh * c->v_head_dim : nh * hd; }
    else if (!strcmp(base, "ffn_gate") || !strcmp(base, "ffn_up")) { e[0] = c->intermediate_size; e[1] = H; }
    else if (!strcmp(base, "ffn_down")) { e[0] = H; e[1] = c->intermediate_size; }
    else if (!strcmp(base, "attn_q_a")) { e[0] = c->q_lora_rank; e[1] = H; }
    else if (!strcmp(base, "attn_q_a_norm")) { e[0] = c->q_lora_rank; n = 1; }
    else if (!strcmp(base, "attn_q_b")) { e[0] = nh * qk; e[1] = c->q_lora_rank; }
    else if (!strcmp(base, "attn_kv_a_mqa")) { e[0] = c->kv_lora_rank + c->qk_rope_head_dim; e[1] = H; }
    else if (!strcmp(base, "attn_kv_a_norm")) { e[0] = c->kv_lora_rank; n = 1; }
    else if (!strcmp(base, "attn_kv_b")) { e[0] = nkv * (c->qk_nope_head_dim + c->v_head_dim); e[1] = c->kv_lora_rank; }
    else if (!strcmp(base, "ffn_gate_inp")) { e[0] = c->n_routed_experts; e[1] = H; }
    else if (!strcmp(base, "exp_probs_b")) { e[0] = c->n_routed_experts; n = 1; }
    else if (!strcmp(base, "ffn_gate_shexp") || !strcmp(base, "ffn_up_shexp")) { e[0] = shexp; e[1] = H; }
    else if (!strcmp(base, "ffn_down_shexp")) { e[0] = H; e[1] = shexp; }
    else if (!strcmp(base, "ffn_gate_exps") || !strcmp(base, "ffn_up_exps")) { e[0] = c->moe_intermediate_size; e[1] = H; }
    else if (!strcmp(base, "ffn_down_exps")) { e[0] = H; e[1] = c->moe_intermediate_size; }
    else return 0;
    if (is_bias) n = 1;
    return n;
}

static int check_shape(bctx *b, const rk_ckpt_tensor *t, const char *base, int is_bias) {
    int64_t e[2] = { 0, 0 };
    int n = expected_shape(b->cfg, base, is_bias, e);
    if (!n) return 0;
    int ok = t->n_dims == n;
    for (int d = 0; ok && d < n; d++) ok = t->shape[d] == e[d];
    if (ok) return 0;
    char got[96], want[64];
    shape_str(t->shape, t->n_dims, got, sizeof got);
    shape_str(e, n, want, sizeof want);
    return rk_err_file(b->err, RK_ECORRUPT, ck_file(b, t), UINT64_MAX,
                       "tensor '%s' has shape %s but config.json implies %s", t->name, got, want);
}

/* ---- output type (docs/gguf-layout.md §4.6) ---- */
static int pick_type(bctx *b, rk_cv_item *it) {
    const char *nm = it->name;
    if (it->n_dims <= 1 || ends_with(nm, "_norm.weight") || strstr(nm, ".ffn_gate_inp.") || !ends_with(nm, ".weight"))
        return RK_DTYPE_F32;
    int t = b->outtype;
    if (t == RK_CONVERT_AUTO) {
        switch (it->src_dtype) {
        case RK_DTYPE_F16: t = RK_DTYPE_F16; break;
        case RK_DTYPE_BF16: case RK_DTYPE_F8_E4M3: case RK_DTYPE_F8_E5M2: t = RK_DTYPE_BF16; break;
        default: t = RK_DTYPE_F32; break;
        }
    }
    if (t == RK_DTYPE_Q8_0 && it->ne[0] % 32) {
        it->fell_back = 1;
        t = RK_DTYPE_F16;
    }
    return t;
}

/* a tensor that maps one-to-one (or with the llama row permutation) */
static int add_simple(bctx *b, int64_t idx, int64_t il, const char *base, const char *suffix, int kind, int64_t heads) {
    const rk_ckpt_tensor *t = rk_ckpt_tensor_at(b->ck, (size_t)idx);
    int rc = check_shape(b, t, base, !strcmp(suffix, "bias"));
    if (rc) return rc;
    if (t->n_dims < 1 || t->n_dims > 4)
        return rk_err_file(b->err, RK_EUNSUPPORTED, ck_file(b, t), UINT64_MAX, "tensor '%s' has %d dims (1 to 4 supported)",
                           t->name, t->n_dims);
    rk_cv_item *it = new_item(b);
    if (!it) return rk_err_set(b->err, RK_ENOMEM, UINT64_MAX, "out of memory");
    if (il >= 0) snprintf(it->name, sizeof it->name, "blk.%lld.%s.%s", (long long)il, base, suffix);
    else snprintf(it->name, sizeof it->name, "%s.%s", base, suffix);
    it->kind = kind;
    it->src = idx;
    it->src_dtype = t->dtype;
    it->heads = heads;
    it->n_dims = (uint32_t)t->n_dims;
    for (int d = 0; d < t->n_dims; d++) it->ne[d] = t->shape[t->n_dims - 1 - d];
    it->order_layer = il >= 0 ? il : !strcmp(base, "token_embd") ? -1 : INT64_MAX;
    it->order_seq = (size_t)idx;
    it->type = pick_type(b, it);
    return 0;
}

/* kv_b_proj.weight → attn_k_b + attn_v_b */
static int add_kv_b(bctx *b, int64_t idx, int64_t il) {
    const rk_ckpt_tensor *t = rk_ckpt_tensor_at(b->ck, (size_t)idx);
    int rc = check_shape(b, t, "attn_kv_b", 0);
    if (rc) return rc;
    const rk_hf_config *c = b->cfg;
    for (int k = 0; k < 2; k++) {
        rk_cv_item *it = new_item(b);
        if (!it) return rk_err_set(b->err, RK_ENOMEM, UINT64_MAX, "out of memory");
        snprintf(it->name, sizeof it->name, "blk.%lld.%s.weight", (long long)il, k ? "attn_v_b" : "attn_k_b");
        it->kind = k ? RK_CV_V_B : RK_CV_K_B;
        it->src = idx;
        it->src_dtype = t->dtype;
        it->heads = c->num_key_value_heads;
        it->nope = c->qk_nope_head_dim;
        it->vdim = c->v_head_dim;
        it->n_dims = 3;
        if (k == 0) { it->ne[0] = c->qk_nope_head_dim; it->ne[1] = c->kv_lora_rank; }
        else { it->ne[0] = c->kv_lora_rank; it->ne[1] = c->v_head_dim; }
        it->ne[2] = c->num_key_value_heads;
        it->order_layer = il;
        it->order_seq = (size_t)idx;
        it->type = pick_type(b, it);
    }
    return 0;
}

/* ---- HF name → plan ---- */
static int parse_layer(const char *name, int64_t *il, const char **rest) {
    static const char pre[] = "model.layers.";
    if (strncmp(name, pre, sizeof pre - 1)) return -1;
    const char *p = name + sizeof pre - 1;
    int64_t v = 0;
    if (*p < '0' || *p > '9') return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        v = v * 10 + (*p - '0');
        if (v > 1000000) return -1;
    }
    if (*p != '.') return -1;
    *il = v;
    *rest = p + 1;
    return 0;
}

typedef struct map_entry { const char *hf; const char *base; const char *suffix; int arch_mask; } map_entry;
#define A_DS (1 << RK_HF_ARCH_DEEPSEEK2)
#define A_QW (1 << RK_HF_ARCH_QWEN2)
#define A_LL (1 << RK_HF_ARCH_LLAMA)
#define A_ALL (A_DS | A_QW | A_LL)
static const map_entry g_layer_map[] = {
    { "input_layernorm.weight", "attn_norm", "weight", A_ALL },
    { "post_attention_layernorm.weight", "ffn_norm", "weight", A_ALL },
    { "self_attn.q_proj.weight", "attn_q", "weight", A_ALL },
    { "self_attn.q_proj.bias", "attn_q", "bias", A_QW | A_LL },
    { "self_attn.k_proj.weight", "attn_k", "weight", A_QW | A_LL },
    { "self_attn.k_proj.bias", "attn_k", "bias", A_QW | A_LL },
    { "self_attn.v_proj.weight", "attn_v", "weight", A_QW | A_LL },
    { "self_attn.v_proj.bias", "attn_v", "bias", A_QW | A_LL },
    { "self_attn.o_proj.weight", "attn_output", "weight", A_ALL },
    { "self_attn.o_proj.bias", "attn_output", "bias", A_LL },
    { "mlp.gate_proj.weight", "ffn_gate", "weight", A_ALL },
    { "mlp.up_proj.weight", "ffn_up", "weight", A_ALL },
    { "mlp.down_proj.weight", "ffn_down", "weight", A_ALL },
    { "self_attn.q_a_proj.weight", "attn_q_a", "weight", A_DS },
    { "self_attn.q_a_layernorm.weight", "attn_q_a_norm", "weight", A_DS },
    { "self_attn.q_b_proj.weight", "attn_q_b", "weight", A_DS },
    { "self_attn.kv_a_proj_with_mqa.weight", "attn_kv_a_mqa", "weight", A_DS },
    { "self_attn.kv_a_layernorm.weight", "attn_kv_a_norm", "weight", A_DS },
    { "mlp.gate.weight", "ffn_gate_inp", "weight", A_DS },
    { "mlp.gate.e_score_correction_bias", "exp_probs_b", "bias", A_DS },
    { "mlp.shared_experts.gate_proj.weight", "ffn_gate_shexp", "weight", A_DS },
    { "mlp.shared_experts.up_proj.weight", "ffn_up_shexp", "weight", A_DS },
    { "mlp.shared_experts.down_proj.weight", "ffn_down_shexp", "weight", A_DS },
};
static const char *const g_proj[3] = { "gate_proj", "up_proj", "down_proj" };
static const char *const g_exps[3] = { "ffn_gate_exps", "ffn_up_exps", "ffn_down_exps" };

static int expert_name(const char *rest, int64_t *e, int *proj) {
    static const char pre[] = "mlp.experts.";
    if (strncmp(rest, pre, sizeof pre - 1)) return -1;
    const char *p = rest + sizeof pre - 1;
    int64_t v = 0;
    if (*p < '0' || *p > '9') return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        v = v * 10 + (*p - '0');
        if (v > 1000000) return -1;
    }
    if (*p++ != '.') return -1;
    for (int k = 0; k < 3; k++) {
        size_t l = strlen(g_proj[k]);
        if (!strncmp(p, g_proj[k], l) && !strcmp(p + l, ".weight")) { *e = v; *proj = k; return 0; }
    }
    return -1;
}

/* ---- the public name mapping (shared with the imatrix, so the two cannot disagree) ---- */
static int map_ok(rk_gguf_map *o, int kind, int64_t il, const char *base, const char *suffix) {
    o->kind = kind;
    snprintf(o->base, sizeof o->base, "%s", base);
    snprintf(o->suffix, sizeof o->suffix, "%s", suffix);
    if (il >= 0) snprintf(o->name, sizeof o->name, "blk.%lld.%s.%s", (long long)il, base, suffix);
    else snprintf(o->name, sizeof o->name, "%s.%s", base, suffix);
    return 0;
}

int rk_convert_gguf_name(const rk_hf_config *c, const char *nm, rk_gguf_map *o, rk_err *err) {
    memset(o, 0, sizeof *o);
    o->layer = -1, o->expert = -1, o->proj = -1;
    const int ds = c->arch == RK_HF_ARCH_DEEPSEEK2;
    if (ends_with(nm, ".activation_scale") || ends_with(nm, "_activation_scale")) return o->kind = RK_GGUF_MAP_DROP, 0;
    int64_t il;
    const char *rest;
    if (!parse_layer(nm, &il, &rest)) {
        o->layer = il;
        if (il >= c->num_hidden_layers) return o->kind = RK_GGUF_MAP_DROP_MTP, 0;
        if (ends_with(rest, "rotary_emb.inv_freq")) return o->kind = RK_GGUF_MAP_DROP, 0;
        int64_t e;
        int proj;
        if (ds && !expert_name(rest, &e, &proj)) {
            o->expert = e, o->proj = proj;
            return map_ok(o, RK_GGUF_MAP_EXPERT, il, g_exps[proj], "weight");
        }
        if (ds && !strcmp(rest, "self_attn.kv_b_proj.weight")) {
            snprintf(o->name2, sizeof o->name2, "blk.%lld.attn_v_b.weight", (long long)il);
            map_ok(o, RK_GGUF_MAP_KV_B, il, "attn_k_b", "weight");
            snprintf(o->base, sizeof o->base, "attn_kv_b");
            return 0;
        }
        for (size_t k = 0; k < sizeof g_layer_map / sizeof g_layer_map[0]; k++) {
            const map_entry *m = &g_layer_map[k];
            if (!strcmp(m->hf, rest) && (m->arch_mask & (1 << c->arch))) return map_ok(o, RK_GGUF_MAP_ONE, il, m->base, m->suffix);
        }
    } else {
        if (ends_with(nm, "rotary_emb.inv_freq")) return o->kind = RK_GGUF_MAP_DROP, 0;
        if (!strcmp(nm, "model.embed_tokens.weight")) return map_ok(o, RK_GGUF_MAP_ONE, -1, "token_embd", "weight");
        if (!strcmp(nm, "model.norm.weight")) return map_ok(o, RK_GGUF_MAP_ONE, -1, "output_norm", "weight");
        if (!strcmp(nm, "lm_head.weight") || !strcmp(nm, "model.lm_head.weight")) {
            if (c->tie_word_embeddings) return o->kind = RK_GGUF_MAP_DROP_TIED, 0;
            return map_ok(o, RK_GGUF_MAP_ONE, -1, "output", "weight");
        }
    }
    return rk_err_set(err, RK_ENOTFOUND, UINT64_MAX, "cannot map tensor '%s' to a %s GGUF name", nm, rk_hf_arch_name(c->arch));
}

/* ---- HF tensor → plan items (validation against config.json on top of the name mapping) ---- */
static int plan_expert(bctx *b, int64_t idx, const rk_gguf_map *g) {
    const rk_hf_config *c = b->cfg;
    const rk_ckpt_tensor *t = rk_ckpt_tensor_at(b->ck, (size_t)idx);
    const int64_t il = g->layer, e = g->expert;
    if (!rk_hf_config_is_moe_layer(c, il))
        return rk_err_file(b->err, RK_ECORRUPT, ck_file(b, t), UINT64_MAX,
                           "'%s' is a routed expert, but config.json makes layer %lld dense "
                           "(first_k_dense_replace=%lld, moe_layer_freq=%lld, n_routed_experts=%lld)",
                           t->name, (long long)il, (long long)c->first_k_dense_replace, (long long)c->moe_layer_freq,
                           (long long)c->n_routed_experts);
    if (e >= c->n_routed_experts)
        return rk_err_file(b->err, RK_ECORRUPT, ck_file(b, t), UINT64_MAX,
                           "'%s': expert %lld but config.json n_routed_experts is %lld", t->name, (long long)e,
                           (long long)c->n_routed_experts);
    int rc = check_shape(b, t, g->base, 0);
    if (rc) return rc;
    b->experts[((size_t)il * 3 + (size_t)g->proj) * (size_t)c->n_routed_experts + (size_t)e] = idx;
    return 0;
}

static int plan_layer_one(bctx *b, int64_t idx, const rk_gguf_map *g) {
    const rk_hf_config *c = b->cfg;
    const rk_ckpt_tensor *t = rk_ckpt_tensor_at(b->ck, (size_t)idx);
    const int64_t il = g->layer;
    const int moe = rk_hf_config_is_moe_layer(c, il);
    const char *base = g->base;
    const int dense_ffn = !strcmp(base, "ffn_gate") || !strcmp(base, "ffn_up") || !strcmp(base, "ffn_down");
    const int moe_part = !strcmp(base, "ffn_gate_inp") || !strcmp(base, "exp_probs_b") || strstr(base, "_shexp");
    if (c->arch == RK_HF_ARCH_DEEPSEEK2 && ((dense_ffn && moe) || (moe_part && !moe)))
        return rk_err_file(b->err, RK_ECORRUPT, ck_file(b, t), UINT64_MAX,
                           "'%s' does not fit layer %lld, which config.json makes %s (first_k_dense_replace=%lld)",
                           t->name, (long long)il, moe ? "a MoE layer" : "a dense layer", (long long)c->first_k_dense_replace);
    if (c->arch == RK_HF_ARCH_DEEPSEEK2 && !strcmp(base, "attn_q") && c->q_lora_rank > 0)
        return rk_err_file(b->err, RK_ECORRUPT, ck_file(b, t), UINT64_MAX,
                           "'%s' is a plain q_proj but config.json has q_lora_rank %lld", t->name, (long long)c->q_lora_rank);
    int kind = RK_CV_COPY;
    int64_t heads = 0;
    if (c->arch == RK_HF_ARCH_LLAMA && (!strcmp(base, "attn_q") || !strcmp(base, "attn_k"))) {
        kind = RK_CV_PERMUTE;
        heads = !strcmp(base, "attn_q") ? c->num_attention_heads : c->num_key_value_heads;
    }
    return add_simple(b, idx, il, base, g->suffix, kind, heads);
}

static int map_tensor(bctx *b, int64_t idx) {
    const rk_hf_config *c = b->cfg;
    const rk_ckpt_tensor *t = rk_ckpt_tensor_at(b->ck, (size_t)idx);
    const char *nm = t->name;
    if (t->is_scale || ends_with(nm, ".activation_scale") || ends_with(nm, "_activation_scale")) return 0;
    const rk_dtype_traits *tr = rk_dtype_get(t->dtype);
    rk_gguf_map g;
    const int mapped = rk_convert_gguf_name(c, nm, &g, NULL) == 0;
    if (mapped && g.kind == RK_GGUF_MAP_DROP_MTP) {     /* MTP (DeepSeek: layer 61) */
        int64_t k = g.layer - c->num_hidden_layers;
        if (k < 64) b->mtp_count[k]++;
        b->p->n_skipped_mtp++;
        return 0;
    }
    if (mapped && g.kind == RK_GGUF_MAP_DROP && g.layer < 0) return 0;   /* top-level rotary inv_freq */
    if (!tr || !tr->is_float || tr->block_size != 1)
        return rk_err_file(b->err, RK_EUNSUPPORTED, ck_file(b, t), UINT64_MAX, "tensor '%s' has dtype %s; expected a float type",
                           nm, rk_dtype_name(t->dtype));
    if (g.layer >= 0 && t->dtype == RK_DTYPE_F8_E4M3 && t->scale < 0)
        rk_cv_logf(b->lg, RK_LOG_WARN, "%s is FP8 without a weight_scale_inv companion; converting it unscaled", nm);
    if (!mapped)
        return rk_err_file(b->err, RK_EUNSUPPORTED, ck_file(b, t), UINT64_MAX, "cannot map tensor '%s' to a %s GGUF name", nm,
                           rk_hf_arch_name(c->arch));
    switch (g.kind) {
    case RK_GGUF_MAP_DROP: return 0;
    case RK_GGUF_MAP_DROP_TIED:
        rk_cv_logf(b->lg, RK_LOG_INFO, "skipping %s: tie_word_embeddings is set, llama.cpp uses token_embd", nm);
        return 0;
    case RK_GGUF_MAP_EXPERT: return plan_expert(b, idx, &g);
    case RK_GGUF_MAP_KV_B: return add_kv_b(b, idx, g.layer);
    default:
        if (g.layer >= 0) return plan_layer_one(b, idx, &g);
        return add_simple(b, idx, -1, g.base, g.suffix, RK_CV_COPY, 0);
    }
}

/* ---- experts: one STACK item per (layer, projection), all experts present and equal in shape ---- */
static int add_stacks(bctx *b) {
    const rk_hf_config *c = b->cfg;
    const int64_t E = c->n_routed_experts;
    for (int64_t il = 0; il < c->num_hidden_layers; il++) {
        if (!rk_hf_config_is_moe_layer(c, il)) continue;
        for (int k = 0; k < 3; k++) {
            const int64_t *ex = &b->experts[((size_t)il * 3 + (size_t)k) * (size_t)E];
            for (int64_t e = 0; e < E; e++)
                if (ex[e] < 0)
                    return rk_err_file(b->err, RK_ECORRUPT, rk_ckpt_path(b->ck), UINT64_MAX,
                                       "model.layers.%lld.mlp.experts.%lld.%s.weight is missing (config.json has %lld routed experts)",
                                       (long long)il, (long long)e, g_proj[k], (long long)E);
            rk_cv_item *it = new_item(b);
            if (!it || !(it->srcs = malloc((size_t)E * sizeof *it->srcs)))
                return rk_err_set(b->err, RK_ENOMEM, UINT64_MAX, "out of memory");
            memcpy(it->srcs, ex, (size_t)E * sizeof *ex);
            it->n_srcs = E;
            const rk_ckpt_tensor *t0 = rk_ckpt_tensor_at(b->ck, (size_t)ex[0]);
            snprintf(it->name, sizeof it->name, "blk.%lld.%s.weight", (long long)il, g_exps[k]);
            it->kind = RK_CV_STACK;
            it->src_dtype = t0->dtype;
            it->n_dims = 3;
            it->ne[0] = t0->shape[1];
            it->ne[1] = t0->shape[0];
            it->ne[2] = E;
            it->order_layer = il;
            size_t seq = (size_t)ex[0];
            for (int64_t e = 1; e < E; e++)
                if ((size_t)ex[e] < seq) seq = (size_t)ex[e];
            it->order_seq = seq;
            it->type = pick_type(b, it);
        }
    }
    return 0;
}

/* ---- completeness: every tensor llama.cpp's loader requires is planned ---- */
static int has_item(const rk_cv_plan *p, const char *name) {
    for (size_t i = 0; i < p->n; i++)
        if (!strcmp(p->items[i].name, name)) return 1;
    return 0;
}

static int require(bctx *b, int64_t il, const char *base, const char *suffix) {
    char nm[80];
    if (il >= 0) snprintf(nm, sizeof nm, "blk.%lld.%s.%s", (long long)il, base, suffix);
    else snprintf(nm, sizeof nm, "%s.%s", base, suffix);
    if (has_item(b->p, nm)) return 0;
    return rk_err_file(b->err, RK_ECORRUPT, rk_ckpt_path(b->ck), UINT64_MAX,
                       "the checkpoint has no tensor for %s (needed by a %s model with this config.json)", nm,
                       rk_hf_arch_name(b->cfg->arch));
}

static int check_complete(bctx *b) {
    const rk_hf_config *c = b->cfg;
    int rc;
    if ((rc = require(b, -1, "token_embd", "weight")) || (rc = require(b, -1, "output_norm", "weight"))) return rc;
    if (!c->tie_word_embeddings && (rc = require(b, -1, "output", "weight"))) return rc;
    for (int64_t il = 0; il < c->num_hidden_layers; il++) {
        if ((rc = require(b, il, "attn_norm", "weight")) || (rc = require(b, il, "ffn_norm", "weight")) ||
            (rc = require(b, il, "attn_output", "weight")))
            return rc;
        if (c->arch != RK_HF_ARCH_DEEPSEEK2) {
            static const char *const qkv[3] = { "attn_q", "attn_k", "attn_v" };
            for (int k = 0; k < 3; k++) {
                if ((rc = require(b, il, qkv[k], "weight"))) return rc;
                if (c->arch == RK_HF_ARCH_QWEN2 && (rc = require(b, il, qkv[k], "bias"))) return rc;
            }
            if ((rc = require(b, il, "ffn_gate", "weight")) || (rc = require(b, il, "ffn_up", "weight")) ||
                (rc = require(b, il, "ffn_down", "weight")))
                return rc;
            continue;
        }
        if (c->q_lora_rank > 0) {
            if ((rc = require(b, il, "attn_q_a", "weight")) || (rc = require(b, il, "attn_q_a_norm", "weight")) ||
                (rc = require(b, il, "attn_q_b", "weight")))
                return rc;
        } else if ((rc = require(b, il, "attn_q", "weight"))) {
            return rc;
        }
        if ((rc = require(b, il, "attn_kv_a_mqa", "weight")) || (rc = require(b, il, "attn_kv_a_norm", "weight")) ||
            (rc = require(b, il, "attn_k_b", "weight")) || (rc = require(b, il, "attn_v_b", "weight")))
            return rc;
        if (rk_hf_config_is_moe_layer(c, il)) {
            if ((rc = require(b, il, "ffn_gate_inp", "weight"))) return rc;
            if (!strcmp(c->topk_method, "noaux_tc") && (rc = require(b, il, "exp_probs_b", "bias"))) return rc;
            if (c->n_shared_experts > 0 &&
                ((rc = require(b, il, "ffn_gate_shexp", "weight")) || (rc = require(b, il, "ffn_up_shexp", "weight")) ||
                 (rc = require(b, il, "ffn_down_shexp", "weight"))))
                return rc;
        } else if ((rc = require(b, il, "ffn_gate", "weight")) || (rc = require(b, il, "ffn_up", "weight")) ||
                   (rc = require(b, il, "ffn_down", "weight"))) {
            return rc;
        }
    }
    return 0;
}

/* ---- llama3 rope factors (convert_hf_to_gguf.py LlamaModel.generate_extra_tensors) ---- */
void rk_cv_llama3_rope_factors(const rk_hf_config *cfg, float *out, int64_t n) {
    const rk_hf_rope_scaling *r = &cfg->rope_scaling;
    const double base = cfg->rope_theta, dim = (double)cfg->head_dim;
    const double factor = r->factor, lo = r->low_freq_factor, hi = r->high_freq_factor;
    const double old_ctx = r->original_max_position_embeddings ? (double)r->original_max_position_embeddings : 8192.0;
    const double low_wl = old_ctx / lo, high_wl = old_ctx / hi;
    for (int64_t i = 0; i < n; i++) {
        /* torch does all of this in float32 (python scalars meet f32 tensors) */
        float expo = (float)(2 * i) / (float)dim;
        float freq = 1.0f / powf((float)base, expo);
        float wavelen = (float)(2.0 * M_PI) / freq;
        float f;
        if (wavelen < (float)high_wl) f = 1.0f;
        else if (wavelen > (float)low_wl) f = (float)factor;
        else {
            float s = ((float)old_ctx / wavelen - (float)lo) / (float)(hi - lo);
            f = 1.0f / ((1.0f - s) / (float)factor + s);
        }
        out[i] = (float)f;
    }
}

/* Canonical order inside a block, whatever order the source files list tensors in (shards, torch.save
 * dicts): the same model gives the same bytes from any of its formats. */
static int name_rank(const char *name) {
    static const char *const order[] = {
        "attn_norm", "attn_q_a.", "attn_q_a_norm", "attn_q_b", "attn_q.", "attn_k.", "attn_v.", "attn_kv_a_mqa",
        "attn_kv_a_norm", "attn_k_b", "attn_v_b", "attn_kv_b", "attn_output", "ffn_norm", "ffn_gate_inp", "exp_probs_b",
        "ffn_gate.", "ffn_up.", "ffn_down.", "ffn_gate_exps", "ffn_up_exps", "ffn_down_exps", "ffn_gate_shexp",
        "ffn_up_shexp", "ffn_down_shexp", "token_embd", "rope_freqs", "output_norm", "output.",
    };
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
        if (strstr(name, order[i])) return (int)i;
    return (int)(sizeof order / sizeof order[0]);
}

static int cmp_item(const void *a, const void *b) {
    const rk_cv_item *x = a, *y = b;
    if (x->order_layer != y->order_layer) return x->order_layer < y->order_layer ? -1 : 1;
    int rx = name_rank(x->name), ry = name_rank(y->name);
    if (rx != ry) return rx < ry ? -1 : 1;
    int c = strcmp(x->name, y->name);
    if (c) return c;
    return x->order_seq < y->order_seq ? -1 : x->order_seq > y->order_seq;
}

static uint32_t ftype_of(int type) {
    switch (type) {
    case RK_DTYPE_F16: return 1;
    case RK_DTYPE_Q8_0: return 7;
    case RK_DTYPE_BF16: return 32;
    default: return 0;
    }
}

int rk_cv_build_plan(rk_cv_plan *p, rk_ckpt *ck, const rk_hf_config *cfg, int outtype, const rk_cv_log *lg, rk_err *err) {
    memset(p, 0, sizeof *p);
    size_t mtp[64] = { 0 };
    bctx b = { p, ck, cfg, outtype, lg, err, NULL, mtp };
    int rc = 0;
    size_t n_exp = cfg->n_routed_experts > 0 ? (size_t)cfg->num_hidden_layers * 3 * (size_t)cfg->n_routed_experts : 1;
    if (!(b.experts = malloc(n_exp * sizeof *b.experts))) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
    for (size_t i = 0; i < n_exp; i++) b.experts[i] = -1;
    for (size_t i = 0; i < rk_ckpt_count(ck) && !rc; i++) rc = map_tensor(&b, (int64_t)i);
    if (!rc && cfg->n_routed_experts > 0) rc = add_stacks(&b);
    if (!rc && cfg->arch == RK_HF_ARCH_LLAMA && cfg->rope_scaling.type == RK_ROPE_SCALING_LLAMA3) {
        rk_cv_item *it = new_item(&b);
        if (!it) rc = rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
        else {
            snprintf(it->name, sizeof it->name, "rope_freqs.weight");
            it->kind = RK_CV_ROPE_FREQS;
            it->type = RK_DTYPE_F32;
            it->src_dtype = RK_DTYPE_F32;
            it->n_dims = 1;
            it->ne[0] = cfg->head_dim / 2;
            it->order_layer = -2;
        }
    }
    if (!rc) rc = check_complete(&b);
    if (rc) goto fail;
    for (int k = 0; k < 64; k++)
        if (mtp[k])
            rk_cv_logf(lg, RK_LOG_INFO, "skipping MTP layer %lld (%zu tensors)", (long long)(cfg->num_hidden_layers + k), mtp[k]);
    qsort(p->items, p->n, sizeof *p->items, cmp_item);
    p->file_type = outtype == RK_CONVERT_AUTO ? 0 : ftype_of(outtype);
    if (outtype == RK_CONVERT_AUTO)
        for (size_t i = 0; i < p->n; i++)
            if (p->items[i].n_dims >= 2) { p->file_type = ftype_of(p->items[i].type); break; }
    free(b.experts);
    return 0;
fail:
    free(b.experts);
    rk_cv_plan_free(p);
    return rc;
}
