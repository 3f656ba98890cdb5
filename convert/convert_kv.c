/* convert/convert_kv.c — GGUF metadata for deepseek2 / qwen2 / llama, key for key as llama.cpp's converter
 * writes it (TextModel.set_gguf_parameters, DeepseekV2Model / LlamaModel overrides, SpecialVocab), see
 * docs/gguf-layout.md §2-3. Integer hyperparameters are u32, real ones f32, flags bool, the rope scaling type a
 * string. */
#include "convert/convert-impl.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef struct kvw {
    rk_gguf_writer *w;
    const char *arch;
    int rc;          /* first failure */
    const char *bad; /* key that failed */
} kvw;

static void note(kvw *k, int rc, const char *key) {
    if (rc && !k->rc) { k->rc = rc < 0 ? rc : RK_EINVAL; k->bad = key; }
}

static const char *akey(kvw *k, char *buf, size_t cap, const char *suffix) {
    snprintf(buf, cap, "%s.%s", k->arch, suffix);
    return buf;
}

static void u32(kvw *k, const char *suffix, int64_t v) {
    char key[128];
    akey(k, key, sizeof key, suffix);
    if (v < 0 || v > (int64_t)UINT32_MAX) { note(k, RK_EINVAL, suffix); return; }
    note(k, rk_gguf_set_u32(k->w, key, (uint32_t)v), suffix);
}

static void f32(kvw *k, const char *suffix, double v) {
    char key[128];
    note(k, rk_gguf_set_f32(k->w, akey(k, key, sizeof key, suffix), (float)v), suffix);
}

static void flag(kvw *k, const char *suffix, int v) {
    char key[128];
    note(k, rk_gguf_set_bool(k->w, akey(k, key, sizeof key, suffix), v), suffix);
}

static void str(kvw *k, const char *suffix, const char *v) {
    char key[128];
    note(k, rk_gguf_set_str(k->w, akey(k, key, sizeof key, suffix), v), suffix);
}

static void write_rope_scaling(kvw *k, const rk_hf_config *c) {
    const rk_hf_rope_scaling *r = &c->rope_scaling;
    if (r->type == RK_ROPE_SCALING_LINEAR) {
        str(k, "rope.scaling.type", "linear");
        f32(k, "rope.scaling.factor", r->factor);
    } else if (r->type == RK_ROPE_SCALING_YARN) {
        str(k, "rope.scaling.type", "yarn");
        f32(k, "rope.scaling.factor", r->factor);
        u32(k, "rope.scaling.original_context_length", r->original_max_position_embeddings);
        if (r->has_extrapolation_factor) f32(k, "rope.scaling.yarn_ext_factor", r->extrapolation_factor);
        if (r->has_attn_factor) f32(k, "rope.scaling.yarn_attn_factor", r->attn_factor);
        if (r->has_beta_fast) f32(k, "rope.scaling.yarn_beta_fast", r->beta_fast);
        if (r->has_beta_slow) f32(k, "rope.scaling.yarn_beta_slow", r->beta_slow);
    }
    /* llama3: the rope_freqs tensor; dynamic: nothing (as llama.cpp) */
}

static void write_generic(kvw *k, const rk_hf_config *c) {
    u32(k, "block_count", c->num_hidden_layers);
    u32(k, "context_length", c->max_position_embeddings);
    u32(k, "embedding_length", c->hidden_size);
    u32(k, "feed_forward_length", c->intermediate_size);
    u32(k, "attention.head_count", c->num_attention_heads);
    u32(k, "attention.head_count_kv", c->arch == RK_HF_ARCH_DEEPSEEK2 ? 1 : c->num_key_value_heads);
    write_rope_scaling(k, c);
    f32(k, "rope.freq_base", c->rope_theta);
    f32(k, "attention.layer_norm_rms_epsilon", c->rms_norm_eps);
    if (c->num_experts_per_tok > 0) u32(k, "expert_used_count", c->num_experts_per_tok);
    if (c->n_group > 0) u32(k, "expert_group_count", c->n_group);
    if (c->topk_group > 0) u32(k, "expert_group_used_count", c->topk_group);
    if (c->scoring_func == RK_MOE_SCORING_SOFTMAX || c->scoring_func == RK_MOE_SCORING_SIGMOID)
        u32(k, "expert_gating_func", c->scoring_func);   /* the enum values are llama.cpp's: softmax 1, sigmoid 2 */
    if (c->has_head_dim && c->arch != RK_HF_ARCH_DEEPSEEK2) {
        u32(k, "attention.key_length", c->head_dim);
        u32(k, "attention.value_length", c->head_dim);
    }
}

static void write_deepseek2(kvw *k, const rk_hf_config *c) {
    u32(k, "leading_dense_block_count", c->n_routed_experts > 0 ? c->first_k_dense_replace : c->num_hidden_layers);
    u32(k, "vocab_size", c->vocab_size);
    if (c->q_lora_rank > 0) u32(k, "attention.q_lora_rank", c->q_lora_rank);
    u32(k, "attention.kv_lora_rank", c->kv_lora_rank);
    u32(k, "attention.key_length", c->kv_lora_rank + c->qk_rope_head_dim);
    u32(k, "attention.value_length", c->kv_lora_rank);
    u32(k, "attention.key_length_mla", c->qk_nope_head_dim + c->qk_rope_head_dim);
    u32(k, "attention.value_length_mla", c->v_head_dim);
    u32(k, "expert_feed_forward_length", c->n_routed_experts > 0 ? c->moe_intermediate_size : c->intermediate_size);
    if (c->n_routed_experts > 0) u32(k, "expert_count", c->n_routed_experts);
    u32(k, "expert_shared_count", c->n_shared_experts);
    f32(k, "expert_weights_scale", c->routed_scaling_factor);
    if (c->norm_topk_prob) flag(k, "expert_weights_norm", 1);
    u32(k, "rope.dimension_count", c->qk_rope_head_dim);
    if (c->rope_scaling.has_mscale_all_dim) f32(k, "rope.scaling.yarn_log_multiplier", 0.1 * c->rope_scaling.mscale_all_dim);
}

static void write_llama(kvw *k, const rk_hf_config *c) {
    u32(k, "vocab_size", c->vocab_size);
    u32(k, "rope.dimension_count", c->head_dim);
}

static void write_tokenizer(kvw *k, const rk_hf_tokenizer *t) {
    rk_gguf_writer *w = k->w;
    note(k, rk_gguf_set_str(w, "tokenizer.ggml.model", "gpt2"), "tokenizer.ggml.model");
    note(k, rk_gguf_set_str(w, "tokenizer.ggml.pre", t->pre), "tokenizer.ggml.pre");
    note(k, rk_gguf_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)t->tokens, t->n_vocab), "tokenizer.ggml.tokens");
    note(k, rk_gguf_set_arr(w, "tokenizer.ggml.token_type", RK_GGUF_I32, t->types, t->n_vocab), "tokenizer.ggml.token_type");
    if (t->n_merges)
        note(k, rk_gguf_set_arr_str(w, "tokenizer.ggml.merges", (const char *const *)t->merges, t->n_merges), "tokenizer.ggml.merges");
    static const struct { const char *key; size_t off; } ids[] = {
        { "tokenizer.ggml.bos_token_id", offsetof(rk_hf_tokenizer, bos_id) },
        { "tokenizer.ggml.eos_token_id", offsetof(rk_hf_tokenizer, eos_id) },
        { "tokenizer.ggml.unknown_token_id", offsetof(rk_hf_tokenizer, unk_id) },
        { "tokenizer.ggml.seperator_token_id", offsetof(rk_hf_tokenizer, sep_id) },
        { "tokenizer.ggml.padding_token_id", offsetof(rk_hf_tokenizer, pad_id) },
    };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        int64_t v;
        memcpy(&v, (const char *)t + ids[i].off, sizeof v);
        if (v >= 0) note(k, rk_gguf_set_u32(w, ids[i].key, (uint32_t)v), ids[i].key);
    }
    if (t->add_bos >= 0) note(k, rk_gguf_set_bool(w, "tokenizer.ggml.add_bos_token", t->add_bos), "tokenizer.ggml.add_bos_token");
    if (t->add_eos >= 0) note(k, rk_gguf_set_bool(w, "tokenizer.ggml.add_eos_token", t->add_eos), "tokenizer.ggml.add_eos_token");
    if (t->chat_template) note(k, rk_gguf_set_str(w, "tokenizer.chat_template", t->chat_template), "tokenizer.chat_template");
}

int rk_cv_write_kv(rk_gguf_writer *w, const rk_hf_config *cfg, const rk_hf_tokenizer *tok, const char *name,
                   uint32_t file_type, rk_err *err) {
    kvw k = { w, rk_hf_arch_name(cfg->arch), 0, NULL };
    note(&k, rk_gguf_set_str(w, "general.architecture", k.arch), "general.architecture");
    note(&k, rk_gguf_set_str(w, "general.type", "model"), "general.type");
    if (name && name[0]) note(&k, rk_gguf_set_str(w, "general.name", name), "general.name");
    write_generic(&k, cfg);
    if (cfg->arch == RK_HF_ARCH_DEEPSEEK2) write_deepseek2(&k, cfg);
    else if (cfg->arch == RK_HF_ARCH_LLAMA) write_llama(&k, cfg);
    note(&k, rk_gguf_set_u32(w, "general.file_type", file_type), "general.file_type");
    note(&k, rk_gguf_set_u32(w, "general.quantization_version", 2), "general.quantization_version");
    if (tok) write_tokenizer(&k, tok);
    if (k.rc)
        return rk_err_set(err, k.rc == RK_ENOMEM ? RK_ENOMEM : k.rc, UINT64_MAX, "cannot set GGUF key '%s' (%s)",
                          k.bad ? k.bad : "?", rk_err_code_name(k.rc));
    return 0;
}
