/* tests/convert/test_convert.c — end-to-end conversion of tiny checkpoints written here with rk_st_writer:
 * DeepSeek-V3 in the FP8 release layout (dims not multiples of 128, sharded, a scale_inv in another shard
 * than its weight, an MTP layer), Qwen2 (BF16, biases, tied embeddings) and Llama (F32, GQA, llama3 rope).
 * Each GGUF is read back with rk_gguf_open and checked for keys, names, shapes, types and values: FP8 bit-exact
 * to fp8*scale, stacked experts, the kv_b split, the llama q/k permutation, Q8_0 bytes equal to the reference
 * quantizer, F16 fallback for rows that are not multiples of 32. Also HF → HF FP8 → BF16 and error paths. */
#include <unistd.h>

#include "convert/convert.h"
#include "cv_fixtures.h"
#include "formats/gguf.h"
#include "quantize/blocks.h"

/* ---------------------------------------------------------------- fixtures */
enum { DS_V = 40, DS_H = 64, DS_I = 160, DS_MI = 32, DS_NH = 2, DS_QL = 48, DS_KVL = 32, DS_NOPE = 16, DS_ROPE = 8, DS_VD = 16, DS_E = 4 };

static const char DS_CONFIG[] =
    "{\"architectures\":[\"DeepseekV3ForCausalLM\"],\"model_type\":\"deepseek_v3\",\"vocab_size\":40,\"hidden_size\":64,"
    "\"intermediate_size\":160,\"moe_intermediate_size\":32,\"num_hidden_layers\":2,\"num_nextn_predict_layers\":1,"
    "\"num_attention_heads\":2,\"num_key_value_heads\":2,\"n_shared_experts\":1,\"n_routed_experts\":4,"
    "\"routed_scaling_factor\":2.5,\"kv_lora_rank\":32,\"q_lora_rank\":48,\"qk_rope_head_dim\":8,\"v_head_dim\":16,"
    "\"qk_nope_head_dim\":16,\"topk_method\":\"noaux_tc\",\"n_group\":2,\"topk_group\":1,\"num_experts_per_tok\":2,"
    "\"moe_layer_freq\":1,\"first_k_dense_replace\":1,\"norm_topk_prob\":true,\"scoring_func\":\"sigmoid\","
    "\"max_position_embeddings\":163840,\"rms_norm_eps\":1e-06,\"rope_theta\":10000,\"bos_token_id\":30,\"eos_token_id\":31,"
    "\"rope_scaling\":{\"beta_fast\":32,\"beta_slow\":1,\"factor\":40,\"mscale\":1.0,\"mscale_all_dim\":1.0,"
    "\"original_max_position_embeddings\":4096,\"type\":\"yarn\"},\"tie_word_embeddings\":false,\"torch_dtype\":\"bfloat16\","
    "\"quantization_config\":{\"activation_scheme\":\"dynamic\",\"fmt\":\"e4m3\",\"quant_method\":\"fp8\",\"weight_block_size\":[128,128]}}";

#define DS_BOS "<\xEF\xBD\x9C" "begin\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>"
#define DS_EOS "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>"
static const char DS_ADDED[] = "{\"id\":30,\"content\":\"" DS_BOS "\",\"special\":true},{\"id\":31,\"content\":\"" DS_EOS "\",\"special\":true}";

static int g_lite;   /* V2-Lite style: q_lora_rank null, plain q_proj */

static void ds_layer(fx_model *m, int il, int moe) {
    char n[128];
#define NM(fmt) (snprintf(n, sizeof n, "model.layers.%d." fmt, il), n)
    fx_float(m, NM("input_layernorm.weight"), RK_DTYPE_BF16, 1, DS_H, 0, 1.0f);
    if (g_lite) {
        fx_fp8(m, NM("self_attn.q_proj.weight"), DS_NH * (DS_NOPE + DS_ROPE), DS_H, 0);
    } else {
        fx_fp8(m, NM("self_attn.q_a_proj.weight"), DS_QL, DS_H, 0);
        fx_float(m, NM("self_attn.q_a_layernorm.weight"), RK_DTYPE_BF16, 1, DS_QL, 0, 1.0f);
        fx_fp8(m, NM("self_attn.q_b_proj.weight"), DS_NH * (DS_NOPE + DS_ROPE), DS_QL, 0);
    }
    fx_fp8(m, NM("self_attn.kv_a_proj_with_mqa.weight"), DS_KVL + DS_ROPE, DS_H, 0);
    fx_float(m, NM("self_attn.kv_a_layernorm.weight"), RK_DTYPE_BF16, 1, DS_KVL, 0, 1.0f);
    fx_fp8(m, NM("self_attn.kv_b_proj.weight"), DS_NH * (DS_NOPE + DS_VD), DS_KVL, 1);
    fx_fp8(m, NM("self_attn.o_proj.weight"), DS_H, DS_NH * DS_VD, 0);
    fx_float(m, NM("post_attention_layernorm.weight"), RK_DTYPE_BF16, 1, DS_H, 0, 1.0f);
    if (!moe) {
        fx_fp8(m, NM("mlp.gate_proj.weight"), DS_I, DS_H, 0);
        fx_fp8(m, NM("mlp.up_proj.weight"), DS_I, DS_H, 1);     /* 160 rows: a full and a partial row block */
        fx_fp8(m, NM("mlp.down_proj.weight"), DS_H, DS_I, 0);   /* 160 cols: a partial column block */
        return;
    }
    fx_float(m, NM("mlp.gate.weight"), RK_DTYPE_BF16, 2, DS_E, DS_H, 0.5f);
    fx_float(m, NM("mlp.gate.e_score_correction_bias"), RK_DTYPE_F32, 1, DS_E, 0, 0.1f);
    for (int e = 0; e < DS_E; e++) {
        char en[128];
        snprintf(en, sizeof en, "model.layers.%d.mlp.experts.%d.gate_proj.weight", il, e);
        fx_fp8(m, en, DS_MI, DS_H, 0);
        snprintf(en, sizeof en, "model.layers.%d.mlp.experts.%d.up_proj.weight", il, e);
        fx_fp8(m, en, DS_MI, DS_H, 0);
        snprintf(en, sizeof en, "model.layers.%d.mlp.experts.%d.down_proj.weight", il, e);
        fx_fp8(m, en, DS_H, DS_MI, 0);
    }
    fx_fp8(m, NM("mlp.shared_experts.gate_proj.weight"), DS_MI, DS_H, 0);
    fx_fp8(m, NM("mlp.shared_experts.up_proj.weight"), DS_MI, DS_H, 0);
    fx_fp8(m, NM("mlp.shared_experts.down_proj.weight"), DS_H, DS_MI, 0);
#undef NM
}

static void ds_write(const char *dir, fx_model *m, int drop_expert) {
    g_rng = 12345;
    fx_float(m, "model.embed_tokens.weight", RK_DTYPE_BF16, 2, DS_V, DS_H, 1.0f);
    ds_layer(m, 0, 0);
    ds_layer(m, 1, 1);
    /* MTP module (layer index == num_hidden_layers) */
    fx_float(m, "model.layers.2.enorm.weight", RK_DTYPE_BF16, 1, DS_H, 0, 1.0f);
    fx_float(m, "model.layers.2.hnorm.weight", RK_DTYPE_BF16, 1, DS_H, 0, 1.0f);
    fx_float(m, "model.layers.2.eh_proj.weight", RK_DTYPE_BF16, 2, DS_H, 2 * DS_H, 1.0f);
    fx_float(m, "model.norm.weight", RK_DTYPE_BF16, 1, DS_H, 0, 1.0f);
    fx_float(m, "lm_head.weight", RK_DTYPE_BF16, 2, DS_V, DS_H, 1.0f);
    if (drop_expert)   /* remove model.layers.1.mlp.experts.3.up_proj.weight (and its scale) */
        for (size_t i = 0; i < m->n; i++)
            if (!strcmp(m->t[i].name, "model.layers.1.mlp.experts.3.up_proj.weight")) {
                free(m->t[i].data); free(m->t[i].ref); free(m->t[i + 1].data); free(m->t[i + 1].ref);
                memmove(&m->t[i], &m->t[i + 2], (m->n - i - 2) * sizeof m->t[0]);
                m->n -= 2;
                break;
            }
    fx_write(m, dir, 4096);
    if (g_lite) {
        char cfg[sizeof DS_CONFIG + 64];
        const char *q = strstr(DS_CONFIG, "\"q_lora_rank\":48");
        snprintf(cfg, sizeof cfg, "%.*s\"q_lora_rank\":null%s", (int)(q - DS_CONFIG), DS_CONFIG, q + strlen("\"q_lora_rank\":48"));
        fx_text(dir, "config.json", cfg);
    } else {
        fx_text(dir, "config.json", DS_CONFIG);
    }
    fx_tokenizer(dir, 30, FX_RX_DEEPSEEK_V3, DS_ADDED, NULL);
    fx_text(dir, "tokenizer_config.json", "{\"add_bos_token\":true,\"add_eos_token\":false,\"bos_token\":{\"content\":\"" DS_BOS
            "\"},\"eos_token\":{\"content\":\"" DS_EOS "\"},\"chat_template\":\"{% for m in messages %}{{m.content}}{% endfor %}\"}");
}

/* ---------------------------------------------------------------- helpers */
typedef struct logbuf { char text[1 << 16]; size_t len; int n_tensor_lines; } logbuf;
static void log_cb(void *user, int level, const char *msg) {
    logbuf *b = user;
    if (level == RK_LOG_TENSOR) b->n_tensor_lines++;
    int k = snprintf(b->text + b->len, sizeof b->text - b->len, "%s\n", msg);
    if (k > 0 && b->len + (size_t)k < sizeof b->text) b->len += (size_t)k;
}

static rk_gguf *convert_open(const char *in, const char *out, int outtype, logbuf *lb) {
    rk_convert_opts o;
    rk_convert_opts_init(&o);
    o.outtype = outtype;
    o.log = log_cb;
    o.log_user = lb;
    o.threads = 2;
    rk_err e;
    rk_err_clear(&e);
    ck_assert_msg(rk_convert_to_gguf(in, out, &o, &e) == 0, "convert failed: %s", e.msg);
    rk_gguf *g = NULL;
    ck_assert_msg(rk_gguf_open(&g, out, &e) == 0, "reopen failed: %s", e.msg);
    return g;
}

static uint64_t kv_u(const rk_gguf *g, const char *key) {
    uint64_t v = 0;
    ck_assert_msg(rk_gguf_get_u64(g, key, &v) == 0, "missing integer key %s", key);
    const rk_gguf_kv *kv = rk_gguf_find_kv(g, key);
    ck_assert_msg(kv->val.type == RK_GGUF_U32, "key %s is %s, want u32", key, rk_gguf_type_name(kv->val.type));
    return v;
}
static double kv_f(const rk_gguf *g, const char *key) {
    double v = 0;
    ck_assert_msg(rk_gguf_get_f64(g, key, &v) == 0, "missing float key %s", key);
    ck_assert_int_eq(rk_gguf_find_kv(g, key)->val.type, RK_GGUF_F32);
    return v;
}
static void kv_s(const rk_gguf *g, const char *key, const char *want) {
    rk_gguf_str s;
    ck_assert_msg(rk_gguf_get_str(g, key, &s) == 0, "missing string key %s", key);
    ck_assert_msg(s.len == strlen(want) && !memcmp(s.ptr, want, s.len), "key %s = '%.*s', want '%s'", key, (int)s.len, s.ptr, want);
}
static void kv_absent(const rk_gguf *g, const char *key) { ck_assert_msg(!rk_gguf_find_kv(g, key), "key %s should be absent", key); }

static const rk_gguf_tensor *tensor(const rk_gguf *g, const char *name, int type, uint32_t nd, int64_t n0, int64_t n1, int64_t n2) {
    const rk_gguf_tensor *t = rk_gguf_find_tensor(g, name);
    ck_assert_msg(t != NULL, "tensor %s missing", name);
    ck_assert_msg(t->type == type, "tensor %s type %s, want %s", name, rk_dtype_name(t->type), rk_dtype_name(type));
    ck_assert_msg(t->n_dims == nd, "tensor %s has %u dims, want %u", name, t->n_dims, nd);
    ck_assert_msg(t->ne[0] == n0 && (nd < 2 || t->ne[1] == n1) && (nd < 3 || t->ne[2] == n2),
                  "tensor %s ne {%lld,%lld,%lld}, want {%lld,%lld,%lld}", name, (long long)t->ne[0], (long long)t->ne[1],
                  (long long)t->ne[2], (long long)n0, (long long)n1, (long long)n2);
    return t;
}

/* exact f32 comparison (bit patterns) */
static void same_f32(const rk_gguf_tensor *t, const float *want, size_t n, const char *what) {
    ck_assert_uint_eq(t->nbytes, n * 4);
    for (size_t i = 0; i < n; i++) {
        float v;
        memcpy(&v, t->data + 4 * i, 4);
        ck_assert_msg(!memcmp(&v, &want[i], 4), "%s: element %zu is %.9g, want %.9g", what, i, v, want[i]);
    }
}

static void same_u16(const rk_gguf_tensor *t, const float *want, size_t n, int type, const char *what) {
    ck_assert_uint_eq(t->nbytes, n * 2);
    for (size_t i = 0; i < n; i++) {
        uint16_t v, w = type == RK_DTYPE_F16 ? rk_f32_to_f16(want[i]) : rk_f32_to_bf16(want[i]);
        memcpy(&v, t->data + 2 * i, 2);
        ck_assert_msg(v == w, "%s: element %zu is 0x%04x, want 0x%04x", what, i, v, w);
    }
}

static void same_q8(const rk_gguf_tensor *t, const float *want, size_t n, const char *what) {
    ck_assert_uint_eq(n % 32, 0);
    uint8_t *q = malloc(n / 32 * 34);
    rk_q8_0_quantize_ref(want, q, (int64_t)n);
    ck_assert_uint_eq(t->nbytes, n / 32 * 34);
    ck_assert_msg(!memcmp(q, t->data, n / 32 * 34), "%s: Q8_0 bytes differ from the reference quantizer", what);
    free(q);
}

/* ---------------------------------------------------------------- deepseek */
static const char *const DS_NAMES_L0[] = { "attn_norm", "attn_q_a", "attn_q_a_norm", "attn_q_b", "attn_kv_a_mqa", "attn_kv_a_norm",
                                           "attn_k_b", "attn_v_b", "attn_output", "ffn_norm", "ffn_gate", "ffn_up", "ffn_down" };
static const char *const DS_NAMES_L1[] = { "attn_norm", "attn_q_a", "attn_q_a_norm", "attn_q_b", "attn_kv_a_mqa", "attn_kv_a_norm",
                                           "attn_k_b", "attn_v_b", "attn_output", "ffn_norm", "ffn_gate_inp", "ffn_gate_exps",
                                           "ffn_up_exps", "ffn_down_exps", "ffn_gate_shexp", "ffn_up_shexp", "ffn_down_shexp" };

static void check_ds_kv(const rk_gguf *g) {
    kv_s(g, "general.architecture", "deepseek2");
    kv_s(g, "general.type", "model");
    ck_assert_uint_eq(kv_u(g, "general.quantization_version"), 2);
    ck_assert_uint_eq(kv_u(g, "deepseek2.block_count"), 2);
    ck_assert_uint_eq(kv_u(g, "deepseek2.context_length"), 163840);
    ck_assert_uint_eq(kv_u(g, "deepseek2.embedding_length"), DS_H);
    ck_assert_uint_eq(kv_u(g, "deepseek2.feed_forward_length"), DS_I);
    ck_assert_uint_eq(kv_u(g, "deepseek2.attention.head_count"), DS_NH);
    ck_assert_uint_eq(kv_u(g, "deepseek2.attention.head_count_kv"), 1);
    ck_assert_double_eq_tol(kv_f(g, "deepseek2.rope.freq_base"), 10000.0, 1e-3);
    ck_assert_double_eq_tol(kv_f(g, "deepseek2.attention.layer_norm_rms_epsilon"), 1e-6, 1e-12);
    ck_assert_uint_eq(kv_u(g, "deepseek2.expert_used_count"), 2);
    ck_assert_uint_eq(kv_u(g, "deepseek2.expert_group_count"), 2);
    ck_assert_uint_eq(kv_u(g, "deepseek2.expert_group_used_count"), 1);
    ck_assert_uint_eq(kv_u(g, "deepseek2.expert_gating_func"), 2);
    ck_assert_uint_eq(kv_u(g, "deepseek2.leading_dense_block_count"), 1);
    ck_assert_uint_eq(kv_u(g, "deepseek2.vocab_size"), DS_V);
    ck_assert_uint_eq(kv_u(g, "deepseek2.attention.q_lora_rank"), DS_QL);
    ck_assert_uint_eq(kv_u(g, "deepseek2.attention.kv_lora_rank"), DS_KVL);
    ck_assert_uint_eq(kv_u(g, "deepseek2.attention.key_length"), DS_KVL + DS_ROPE);
    ck_assert_uint_eq(kv_u(g, "deepseek2.attention.value_length"), DS_KVL);
    ck_assert_uint_eq(kv_u(g, "deepseek2.attention.key_length_mla"), DS_NOPE + DS_ROPE);
    ck_assert_uint_eq(kv_u(g, "deepseek2.attention.value_length_mla"), DS_VD);
    ck_assert_uint_eq(kv_u(g, "deepseek2.expert_feed_forward_length"), DS_MI);
    ck_assert_uint_eq(kv_u(g, "deepseek2.expert_count"), DS_E);
    ck_assert_uint_eq(kv_u(g, "deepseek2.expert_shared_count"), 1);
    ck_assert_double_eq_tol(kv_f(g, "deepseek2.expert_weights_scale"), 2.5, 1e-7);
    int b = 0;
    ck_assert_int_eq(rk_gguf_get_bool(g, "deepseek2.expert_weights_norm", &b), 0);
    ck_assert_int_eq(b, 1);
    ck_assert_uint_eq(kv_u(g, "deepseek2.rope.dimension_count"), DS_ROPE);
    kv_s(g, "deepseek2.rope.scaling.type", "yarn");
    ck_assert_double_eq_tol(kv_f(g, "deepseek2.rope.scaling.factor"), 40.0, 1e-6);
    ck_assert_uint_eq(kv_u(g, "deepseek2.rope.scaling.original_context_length"), 4096);
    ck_assert_double_eq_tol(kv_f(g, "deepseek2.rope.scaling.yarn_log_multiplier"), 0.1, 1e-7);
    ck_assert_double_eq_tol(kv_f(g, "deepseek2.rope.scaling.yarn_beta_fast"), 32.0, 1e-6);
    ck_assert_double_eq_tol(kv_f(g, "deepseek2.rope.scaling.yarn_beta_slow"), 1.0, 1e-6);
    /* tokenizer */
    kv_s(g, "tokenizer.ggml.model", "gpt2");
    kv_s(g, "tokenizer.ggml.pre", "deepseek-v3");
    const rk_gguf_kv *toks = rk_gguf_find_kv(g, "tokenizer.ggml.tokens");
    ck_assert_ptr_nonnull(toks);
    ck_assert_int_eq(toks->val.v.arr.type, RK_GGUF_STRING);
    ck_assert_uint_eq(toks->val.v.arr.n, DS_V);
    ck_assert_uint_eq(toks->val.v.arr.items[30].v.s.len, strlen(DS_BOS));
    ck_assert_int_eq(memcmp(toks->val.v.arr.items[30].v.s.ptr, DS_BOS, strlen(DS_BOS)), 0);
    const rk_gguf_kv *types = rk_gguf_find_kv(g, "tokenizer.ggml.token_type");
    ck_assert_ptr_nonnull(types);
    ck_assert_int_eq(types->val.v.arr.type, RK_GGUF_I32);
    ck_assert_uint_eq(types->val.v.arr.n, DS_V);
    int32_t ty[DS_V];
    memcpy(ty, types->val.v.arr.raw, sizeof ty);
    ck_assert_int_eq(ty[0], 1);
    ck_assert_int_eq(ty[30], 3);
    ck_assert_int_eq(ty[39], 5);
    const rk_gguf_kv *merges = rk_gguf_find_kv(g, "tokenizer.ggml.merges");
    ck_assert_ptr_nonnull(merges);
    ck_assert_uint_eq(merges->val.v.arr.n, 2);
    ck_assert_uint_eq(kv_u(g, "tokenizer.ggml.bos_token_id"), 30);
    ck_assert_uint_eq(kv_u(g, "tokenizer.ggml.eos_token_id"), 31);
    ck_assert_int_eq(rk_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b), 0);
    ck_assert_int_eq(b, 1);
    ck_assert_int_eq(rk_gguf_get_bool(g, "tokenizer.ggml.add_eos_token", &b), 0);
    ck_assert_int_eq(b, 0);
    kv_s(g, "tokenizer.chat_template", "{% for m in messages %}{{m.content}}{% endfor %}");
}

static void check_ds_names(const rk_gguf *g) {
    ck_assert_uint_eq(rk_gguf_tensor_count(g), 3 + 13 + 18);
    char n[96];
    for (size_t i = 0; i < sizeof DS_NAMES_L0 / sizeof *DS_NAMES_L0; i++) {
        snprintf(n, sizeof n, "blk.0.%s.weight", DS_NAMES_L0[i]);
        ck_assert_msg(rk_gguf_find_tensor(g, n) != NULL, "missing %s", n);
    }
    for (size_t i = 0; i < sizeof DS_NAMES_L1 / sizeof *DS_NAMES_L1; i++) {
        snprintf(n, sizeof n, "blk.1.%s.weight", DS_NAMES_L1[i]);
        ck_assert_msg(rk_gguf_find_tensor(g, n) != NULL, "missing %s", n);
    }
    ck_assert_ptr_nonnull(rk_gguf_find_tensor(g, "blk.1.exp_probs_b.bias"));
    for (uint64_t i = 0; i < rk_gguf_tensor_count(g); i++) {
        const char *nm = rk_gguf_tensor_at(g, i)->name_z;
        ck_assert_msg(strncmp(nm, "blk.2.", 6) != 0, "MTP tensor %s was written", nm);
        ck_assert_msg(!strstr(nm, "scale_inv") && !strstr(nm, "attn_kv_b"), "unexpected tensor %s", nm);
    }
}

/* kv_b reference [H*(nope+v), L] → k_b [H, L, nope], v_b [H, v, L] */
static void kv_b_split_ref(const float *kvb, float *kb, float *vb) {
    for (int h = 0; h < DS_NH; h++)
        for (int r = 0; r < DS_KVL; r++) {
            for (int c = 0; c < DS_NOPE; c++) kb[(h * DS_KVL + r) * DS_NOPE + c] = kvb[(h * (DS_NOPE + DS_VD) + c) * DS_KVL + r];
            for (int i = 0; i < DS_VD; i++) vb[(h * DS_VD + i) * DS_KVL + r] = kvb[(h * (DS_NOPE + DS_VD) + DS_NOPE + i) * DS_KVL + r];
        }
}

static float *stack_ref(fx_model *m, int il, const char *proj, size_t per) {
    float *s = malloc(per * DS_E * sizeof(float));
    for (int e = 0; e < DS_E; e++) {
        char n[128];
        snprintf(n, sizeof n, "model.layers.%d.mlp.experts.%d.%s.weight", il, e, proj);
        memcpy(s + per * (size_t)e, fx_find(m, n)->ref, per * sizeof(float));
    }
    return s;
}

START_TEST(deepseek_fp8_f32) {
    char *dir = rk_test_tmpdir("cv_ds");
    static fx_model m;
    ds_write(dir, &m, 0);
    /* the fixture must really have a scale_inv in another shard than its weight */
    {
        rk_st_set *set = NULL;
        rk_err e;
        ck_assert_msg(rk_st_set_open(&set, dir, &e) == 0, "%s", e.msg);
        ck_assert_uint_gt(rk_st_set_shard_count(set), 2);
        const rk_st_tensor *w = rk_st_set_find(set, "model.layers.0.mlp.up_proj.weight");
        const rk_st_tensor *sc = rk_st_set_find(set, "model.layers.0.mlp.up_proj.weight_scale_inv");
        ck_assert_ptr_nonnull(w);
        ck_assert_ptr_nonnull(sc);
        ck_assert_msg(w->shard != sc->shard, "fixture: weight and scale_inv landed in the same shard");
        rk_st_set_close(set);
    }
    char *out = rk_path_join(dir, "out-f32.gguf");
    static logbuf lb;
    memset(&lb, 0, sizeof lb);
    rk_gguf *g = convert_open(dir, out, RK_DTYPE_F32, &lb);
    ck_assert_msg(strstr(lb.text, "skipping MTP layer 2 (3 tensors)") != NULL, "log: %s", lb.text);
    ck_assert_int_eq(lb.n_tensor_lines, 34);
    check_ds_kv(g);
    check_ds_names(g);
    ck_assert_uint_eq(kv_u(g, "general.file_type"), 0);
    /* plain tensors: bit-exact (FP8: fp8*scale in f32) */
    const rk_gguf_tensor *t;
    t = tensor(g, "token_embd.weight", RK_DTYPE_F32, 2, DS_H, DS_V, 0);
    same_f32(t, fx_find(&m, "model.embed_tokens.weight")->ref, DS_V * DS_H, "token_embd");
    t = tensor(g, "blk.0.ffn_up.weight", RK_DTYPE_F32, 2, DS_H, DS_I, 0);
    same_f32(t, fx_find(&m, "model.layers.0.mlp.up_proj.weight")->ref, DS_I * DS_H, "ffn_up (scale in another shard)");
    t = tensor(g, "blk.0.ffn_down.weight", RK_DTYPE_F32, 2, DS_I, DS_H, 0);
    same_f32(t, fx_find(&m, "model.layers.0.mlp.down_proj.weight")->ref, DS_I * DS_H, "ffn_down (partial column block)");
    t = tensor(g, "blk.1.attn_q_b.weight", RK_DTYPE_F32, 2, DS_QL, DS_NH * (DS_NOPE + DS_ROPE), 0);
    same_f32(t, fx_find(&m, "model.layers.1.self_attn.q_b_proj.weight")->ref, (size_t)DS_QL * DS_NH * (DS_NOPE + DS_ROPE), "q_b (not permuted)");
    t = tensor(g, "blk.1.attn_kv_a_mqa.weight", RK_DTYPE_F32, 2, DS_H, DS_KVL + DS_ROPE, 0);
    same_f32(t, fx_find(&m, "model.layers.1.self_attn.kv_a_proj_with_mqa.weight")->ref, (size_t)DS_H * (DS_KVL + DS_ROPE), "kv_a");
    t = tensor(g, "blk.1.ffn_gate_inp.weight", RK_DTYPE_F32, 2, DS_H, DS_E, 0);
    same_f32(t, fx_find(&m, "model.layers.1.mlp.gate.weight")->ref, DS_H * DS_E, "router");
    t = tensor(g, "blk.1.exp_probs_b.bias", RK_DTYPE_F32, 1, DS_E, 0, 0);
    same_f32(t, fx_find(&m, "model.layers.1.mlp.gate.e_score_correction_bias")->ref, DS_E, "exp_probs_b");
    t = tensor(g, "output.weight", RK_DTYPE_F32, 2, DS_H, DS_V, 0);
    same_f32(t, fx_find(&m, "lm_head.weight")->ref, DS_V * DS_H, "output");
    tensor(g, "output_norm.weight", RK_DTYPE_F32, 1, DS_H, 0, 0);
    tensor(g, "blk.1.ffn_down_shexp.weight", RK_DTYPE_F32, 2, DS_MI, DS_H, 0);
    /* kv_b split */
    for (int il = 0; il < 2; il++) {
        char n[96];
        snprintf(n, sizeof n, "model.layers.%d.self_attn.kv_b_proj.weight", il);
        float kb[DS_NH * DS_KVL * DS_NOPE], vb[DS_NH * DS_VD * DS_KVL];
        kv_b_split_ref(fx_find(&m, n)->ref, kb, vb);
        snprintf(n, sizeof n, "blk.%d.attn_k_b.weight", il);
        same_f32(tensor(g, n, RK_DTYPE_F32, 3, DS_NOPE, DS_KVL, DS_NH), kb, sizeof kb / 4, n);
        snprintf(n, sizeof n, "blk.%d.attn_v_b.weight", il);
        same_f32(tensor(g, n, RK_DTYPE_F32, 3, DS_KVL, DS_VD, DS_NH), vb, sizeof vb / 4, n);
    }
    /* stacked experts [E, out, in] → ne {in, out, E} */
    float *s = stack_ref(&m, 1, "gate_proj", DS_MI * DS_H);
    same_f32(tensor(g, "blk.1.ffn_gate_exps.weight", RK_DTYPE_F32, 3, DS_H, DS_MI, DS_E), s, (size_t)DS_E * DS_MI * DS_H, "gate_exps");
    free(s);
    s = stack_ref(&m, 1, "up_proj", DS_MI * DS_H);
    same_f32(tensor(g, "blk.1.ffn_up_exps.weight", RK_DTYPE_F32, 3, DS_H, DS_MI, DS_E), s, (size_t)DS_E * DS_MI * DS_H, "up_exps");
    free(s);
    s = stack_ref(&m, 1, "down_proj", DS_MI * DS_H);
    same_f32(tensor(g, "blk.1.ffn_down_exps.weight", RK_DTYPE_F32, 3, DS_MI, DS_H, DS_E), s, (size_t)DS_E * DS_MI * DS_H, "down_exps");
    free(s);
    rk_gguf_close(g);
    free(out);
    fx_free(&m);
    rk_test_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(deepseek_types) {
    char *dir = rk_test_tmpdir("cv_ds");
    static fx_model m;
    ds_write(dir, &m, 0);
    static logbuf lb;
    /* Q8_0: 2-D weights with rows of 32·k; k_b (rows of 16) falls back to F16; norms, router, biases F32 */
    memset(&lb, 0, sizeof lb);
    char *out = rk_path_join(dir, "q8.gguf");
    rk_gguf *g = convert_open(dir, out, RK_DTYPE_Q8_0, &lb);
    ck_assert_uint_eq(kv_u(g, "general.file_type"), 7);
    check_ds_names(g);
    same_q8(tensor(g, "token_embd.weight", RK_DTYPE_Q8_0, 2, DS_H, DS_V, 0), fx_find(&m, "model.embed_tokens.weight")->ref,
            DS_V * DS_H, "token_embd q8");
    same_q8(tensor(g, "blk.0.ffn_gate.weight", RK_DTYPE_Q8_0, 2, DS_H, DS_I, 0), fx_find(&m, "model.layers.0.mlp.gate_proj.weight")->ref,
            DS_I * DS_H, "ffn_gate q8");
    float kb[DS_NH * DS_KVL * DS_NOPE], vb[DS_NH * DS_VD * DS_KVL];
    kv_b_split_ref(fx_find(&m, "model.layers.0.self_attn.kv_b_proj.weight")->ref, kb, vb);
    same_u16(tensor(g, "blk.0.attn_k_b.weight", RK_DTYPE_F16, 3, DS_NOPE, DS_KVL, DS_NH), kb, sizeof kb / 4, RK_DTYPE_F16, "k_b fallback");
    same_q8(tensor(g, "blk.0.attn_v_b.weight", RK_DTYPE_Q8_0, 3, DS_KVL, DS_VD, DS_NH), vb, sizeof vb / 4, "v_b q8");
    float *s = stack_ref(&m, 1, "down_proj", DS_MI * DS_H);
    same_q8(tensor(g, "blk.1.ffn_down_exps.weight", RK_DTYPE_Q8_0, 3, DS_MI, DS_H, DS_E), s, (size_t)DS_E * DS_MI * DS_H, "down_exps q8");
    free(s);
    tensor(g, "blk.1.attn_norm.weight", RK_DTYPE_F32, 1, DS_H, 0, 0);
    tensor(g, "blk.1.attn_q_a_norm.weight", RK_DTYPE_F32, 1, DS_QL, 0, 0);
    tensor(g, "blk.1.ffn_gate_inp.weight", RK_DTYPE_F32, 2, DS_H, DS_E, 0);
    tensor(g, "blk.1.exp_probs_b.bias", RK_DTYPE_F32, 1, DS_E, 0, 0);
    ck_assert_ptr_nonnull(strstr(lb.text, "F16 instead of Q8_0"));
    rk_gguf_close(g);
    free(out);
    /* auto: FP8 → BF16, BF16 stays BF16, F32 bias stays F32 */
    memset(&lb, 0, sizeof lb);
    out = rk_path_join(dir, "auto.gguf");
    g = convert_open(dir, out, RK_CONVERT_AUTO, &lb);
    ck_assert_uint_eq(kv_u(g, "general.file_type"), 32);
    same_u16(tensor(g, "blk.0.ffn_down.weight", RK_DTYPE_BF16, 2, DS_I, DS_H, 0), fx_find(&m, "model.layers.0.mlp.down_proj.weight")->ref,
             DS_I * DS_H, RK_DTYPE_BF16, "ffn_down bf16");
    same_u16(tensor(g, "token_embd.weight", RK_DTYPE_BF16, 2, DS_H, DS_V, 0), fx_find(&m, "model.embed_tokens.weight")->ref, DS_V * DS_H,
             RK_DTYPE_BF16, "token_embd bf16");
    tensor(g, "blk.1.exp_probs_b.bias", RK_DTYPE_F32, 1, DS_E, 0, 0);
    tensor(g, "blk.0.attn_kv_a_norm.weight", RK_DTYPE_F32, 1, DS_KVL, 0, 0);
    rk_gguf_close(g);
    free(out);
    /* f16 */
    memset(&lb, 0, sizeof lb);
    out = rk_path_join(dir, "f16.gguf");
    g = convert_open(dir, out, RK_DTYPE_F16, &lb);
    ck_assert_uint_eq(kv_u(g, "general.file_type"), 1);
    same_u16(tensor(g, "blk.1.attn_output.weight", RK_DTYPE_F16, 2, DS_NH * DS_VD, DS_H, 0),
             fx_find(&m, "model.layers.1.self_attn.o_proj.weight")->ref, (size_t)DS_H * DS_NH * DS_VD, RK_DTYPE_F16, "o_proj f16");
    rk_gguf_close(g);
    free(out);
    fx_free(&m);
    rk_test_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(deepseek_lite_q_proj) {
    char *dir = rk_test_tmpdir("cv_ds");
    static fx_model m;
    g_lite = 1;
    ds_write(dir, &m, 0);
    static logbuf lb;
    memset(&lb, 0, sizeof lb);
    char *out = rk_path_join(dir, "lite.gguf");
    rk_gguf *g = convert_open(dir, out, RK_DTYPE_F32, &lb);
    kv_absent(g, "deepseek2.attention.q_lora_rank");
    ck_assert_ptr_null(rk_gguf_find_tensor(g, "blk.0.attn_q_a.weight"));
    ck_assert_ptr_null(rk_gguf_find_tensor(g, "blk.0.attn_q_b.weight"));
    same_f32(tensor(g, "blk.1.attn_q.weight", RK_DTYPE_F32, 2, DS_H, DS_NH * (DS_NOPE + DS_ROPE), 0),
             fx_find(&m, "model.layers.1.self_attn.q_proj.weight")->ref, (size_t)DS_H * DS_NH * (DS_NOPE + DS_ROPE), "lite q");
    ck_assert_uint_eq(rk_gguf_tensor_count(g), 3 + 11 + 16);
    rk_gguf_close(g);
    free(out);
    g_lite = 0;
    fx_free(&m);
    rk_test_rmtree(dir);
    free(dir);
}
END_TEST

/* ---------------------------------------------------------------- qwen2 */
enum { QW_V = 40, QW_H = 32, QW_I = 64, QW_NH = 4, QW_KV = 2, QW_HD = 8 };

START_TEST(qwen2_bf16_tied) {
    char *dir = rk_test_tmpdir("cv_qw");
    static fx_model m;
    memset(&m, 0, sizeof m);
    g_rng = 777;
    fx_float(&m, "model.embed_tokens.weight", RK_DTYPE_BF16, 2, QW_V, QW_H, 1.0f);
    for (int il = 0; il < 2; il++) {
        char n[128];
#define NM(fmt) (snprintf(n, sizeof n, "model.layers.%d." fmt, il), n)
        fx_float(&m, NM("input_layernorm.weight"), RK_DTYPE_BF16, 1, QW_H, 0, 1.0f);
        fx_float(&m, NM("self_attn.q_proj.weight"), RK_DTYPE_BF16, 2, QW_NH * QW_HD, QW_H, 1.0f);
        fx_float(&m, NM("self_attn.q_proj.bias"), RK_DTYPE_BF16, 1, QW_NH * QW_HD, 0, 1.0f);
        fx_float(&m, NM("self_attn.k_proj.weight"), RK_DTYPE_BF16, 2, QW_KV * QW_HD, QW_H, 1.0f);
        fx_float(&m, NM("self_attn.k_proj.bias"), RK_DTYPE_BF16, 1, QW_KV * QW_HD, 0, 1.0f);
        fx_float(&m, NM("self_attn.v_proj.weight"), RK_DTYPE_BF16, 2, QW_KV * QW_HD, QW_H, 1.0f);
        fx_float(&m, NM("self_attn.v_proj.bias"), RK_DTYPE_BF16, 1, QW_KV * QW_HD, 0, 1.0f);
        fx_float(&m, NM("self_attn.o_proj.weight"), RK_DTYPE_BF16, 2, QW_H, QW_NH * QW_HD, 1.0f);
        fx_float(&m, NM("self_attn.rotary_emb.inv_freq"), RK_DTYPE_F32, 1, QW_HD / 2, 0, 1.0f);
        fx_float(&m, NM("post_attention_layernorm.weight"), RK_DTYPE_BF16, 1, QW_H, 0, 1.0f);
        fx_float(&m, NM("mlp.gate_proj.weight"), RK_DTYPE_BF16, 2, QW_I, QW_H, 1.0f);
        fx_float(&m, NM("mlp.up_proj.weight"), RK_DTYPE_BF16, 2, QW_I, QW_H, 1.0f);
        fx_float(&m, NM("mlp.down_proj.weight"), RK_DTYPE_BF16, 2, QW_H, QW_I, 1.0f);
#undef NM
    }
    fx_float(&m, "model.norm.weight", RK_DTYPE_BF16, 1, QW_H, 0, 1.0f);
    fx_float(&m, "lm_head.weight", RK_DTYPE_BF16, 2, QW_V, QW_H, 1.0f);   /* present although tied: dropped */
    fx_write(&m, dir, 0);
    fx_text(dir, "config.json",
            "{\"model_type\":\"qwen2\",\"vocab_size\":40,\"hidden_size\":32,\"intermediate_size\":64,\"num_hidden_layers\":2,"
            "\"num_attention_heads\":4,\"num_key_value_heads\":2,\"max_position_embeddings\":4096,\"rms_norm_eps\":1e-06,"
            "\"rope_theta\":10000.0,\"tie_word_embeddings\":true,\"bos_token_id\":30,\"eos_token_id\":31,\"torch_dtype\":\"bfloat16\"}");
    fx_tokenizer(dir, 30, FX_RX_QWEN2, "{\"id\":30,\"content\":\"<|endoftext|>\",\"special\":true},{\"id\":31,\"content\":\"<|im_end|>\",\"special\":true}", NULL);
    fx_text(dir, "tokenizer_config.json", "{\"add_bos_token\":false,\"eos_token\":\"<|im_end|>\",\"bos_token\":null}");
    static logbuf lb;
    memset(&lb, 0, sizeof lb);
    char *out = rk_path_join(dir, "qwen.gguf");
    rk_gguf *g = convert_open(dir, out, RK_DTYPE_F16, &lb);
    kv_s(g, "general.architecture", "qwen2");
    kv_s(g, "tokenizer.ggml.pre", "qwen2");
    ck_assert_uint_eq(kv_u(g, "qwen2.block_count"), 2);
    ck_assert_uint_eq(kv_u(g, "qwen2.attention.head_count"), QW_NH);
    ck_assert_uint_eq(kv_u(g, "qwen2.attention.head_count_kv"), QW_KV);
    ck_assert_uint_eq(kv_u(g, "qwen2.feed_forward_length"), QW_I);
    ck_assert_uint_eq(kv_u(g, "qwen2.context_length"), 4096);
    ck_assert_uint_eq(kv_u(g, "general.file_type"), 1);
    ck_assert_uint_eq(kv_u(g, "tokenizer.ggml.eos_token_id"), 31);
    ck_assert_uint_eq(kv_u(g, "tokenizer.ggml.bos_token_id"), 30);     /* from config.json */
    kv_absent(g, "qwen2.vocab_size");
    kv_absent(g, "qwen2.rope.dimension_count");
    kv_absent(g, "qwen2.rope.scaling.type");
    kv_absent(g, "qwen2.expert_gating_func");
    ck_assert_ptr_null(rk_gguf_find_tensor(g, "output.weight"));
    ck_assert_uint_eq(rk_gguf_tensor_count(g), 2 + 2 * 12);
    /* no permutation for qwen2 (NEOX rope) */
    same_u16(tensor(g, "blk.1.attn_q.weight", RK_DTYPE_F16, 2, QW_H, QW_NH * QW_HD, 0), fx_find(&m, "model.layers.1.self_attn.q_proj.weight")->ref,
             QW_H * QW_NH * QW_HD, RK_DTYPE_F16, "q");
    same_u16(tensor(g, "blk.1.attn_k.weight", RK_DTYPE_F16, 2, QW_H, QW_KV * QW_HD, 0), fx_find(&m, "model.layers.1.self_attn.k_proj.weight")->ref,
             QW_H * QW_KV * QW_HD, RK_DTYPE_F16, "k");
    same_f32(tensor(g, "blk.1.attn_q.bias", RK_DTYPE_F32, 1, QW_NH * QW_HD, 0, 0), fx_find(&m, "model.layers.1.self_attn.q_proj.bias")->ref,
             QW_NH * QW_HD, "q bias");
    same_f32(tensor(g, "blk.0.attn_v.bias", RK_DTYPE_F32, 1, QW_KV * QW_HD, 0, 0), fx_find(&m, "model.layers.0.self_attn.v_proj.bias")->ref,
             QW_KV * QW_HD, "v bias");
    same_f32(tensor(g, "blk.0.ffn_norm.weight", RK_DTYPE_F32, 1, QW_H, 0, 0), fx_find(&m, "model.layers.0.post_attention_layernorm.weight")->ref,
             QW_H, "ffn_norm");
    tensor(g, "blk.0.ffn_down.weight", RK_DTYPE_F16, 2, QW_I, QW_H, 0);
    ck_assert_ptr_nonnull(strstr(lb.text, "tie_word_embeddings"));
    rk_gguf_close(g);
    free(out);
    fx_free(&m);
    rk_test_rmtree(dir);
    free(dir);
}
END_TEST

/* ---------------------------------------------------------------- llama */
enum { LL_V = 40, LL_H = 64, LL_I = 80, LL_NH = 4, LL_KV = 2, LL_HD = 16 };

static void llama_write(const char *dir, fx_model *m) {
    g_rng = 4242;
    fx_float(m, "model.embed_tokens.weight", RK_DTYPE_F32, 2, LL_V, LL_H, 1.0f);
    char n[128];
    const int il = 0;
#define NM(fmt) (snprintf(n, sizeof n, "model.layers.%d." fmt, il), n)
    fx_float(m, NM("input_layernorm.weight"), RK_DTYPE_F32, 1, LL_H, 0, 1.0f);
    fx_float(m, NM("self_attn.q_proj.weight"), RK_DTYPE_F32, 2, LL_NH * LL_HD, LL_H, 1.0f);
    fx_float(m, NM("self_attn.k_proj.weight"), RK_DTYPE_F32, 2, LL_KV * LL_HD, LL_H, 1.0f);
    fx_float(m, NM("self_attn.v_proj.weight"), RK_DTYPE_F32, 2, LL_KV * LL_HD, LL_H, 1.0f);
    fx_float(m, NM("self_attn.o_proj.weight"), RK_DTYPE_F32, 2, LL_H, LL_NH * LL_HD, 1.0f);
    fx_float(m, NM("post_attention_layernorm.weight"), RK_DTYPE_F32, 1, LL_H, 0, 1.0f);
    fx_float(m, NM("mlp.gate_proj.weight"), RK_DTYPE_F32, 2, LL_I, LL_H, 1.0f);
    fx_float(m, NM("mlp.up_proj.weight"), RK_DTYPE_F32, 2, LL_I, LL_H, 1.0f);
    fx_float(m, NM("mlp.down_proj.weight"), RK_DTYPE_F32, 2, LL_H, LL_I, 1.0f);
#undef NM
    fx_float(m, "model.norm.weight", RK_DTYPE_F32, 1, LL_H, 0, 1.0f);
    fx_float(m, "lm_head.weight", RK_DTYPE_F32, 2, LL_V, LL_H, 1.0f);
    fx_write(m, dir, 0);
    fx_text(dir, "config.json",
            "{\"model_type\":\"llama\",\"vocab_size\":40,\"hidden_size\":64,\"intermediate_size\":80,\"num_hidden_layers\":1,"
            "\"num_attention_heads\":4,\"num_key_value_heads\":2,\"max_position_embeddings\":131072,\"rms_norm_eps\":1e-05,"
            "\"rope_theta\":500000.0,\"rope_scaling\":{\"factor\":8.0,\"high_freq_factor\":4.0,\"low_freq_factor\":1.0,"
            "\"original_max_position_embeddings\":8192,\"rope_type\":\"llama3\"},\"bos_token_id\":30,\"eos_token_id\":[31,32],"
            "\"tie_word_embeddings\":false}");
    fx_tokenizer(dir, 30, FX_RX_LLAMA3, "{\"id\":30,\"content\":\"<|begin_of_text|>\",\"special\":true},{\"id\":31,\"content\":\"<|eot_id|>\",\"special\":true}",
                 "{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<|begin_of_text|>\",\"type_id\":0}},"
                 "{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}],\"pair\":[]}");
    fx_text(dir, "tokenizer_config.json", "{\"bos_token\":\"<|begin_of_text|>\",\"eos_token\":\"<|eot_id|>\"}");
}

/* HF rotate-half rows → llama.cpp adjacent pairs, per head of size hd */
static void permute_ref(const float *src, float *dst, int heads, int hd, int row_len) {
    for (int h = 0; h < heads; h++)
        for (int i = 0; i < hd / 2; i++)
            for (int j = 0; j < 2; j++)
                memcpy(dst + (size_t)(h * hd + 2 * i + j) * row_len, src + (size_t)(h * hd + j * hd / 2 + i) * row_len, (size_t)row_len * 4);
}

START_TEST(llama_permute_and_rope) {
    char *dir = rk_test_tmpdir("cv_ll");
    static fx_model m;
    memset(&m, 0, sizeof m);
    llama_write(dir, &m);
    static logbuf lb;
    memset(&lb, 0, sizeof lb);
    char *out = rk_path_join(dir, "ll32.gguf");
    rk_gguf *g = convert_open(dir, out, RK_DTYPE_F32, &lb);
    kv_s(g, "general.architecture", "llama");
    kv_s(g, "tokenizer.ggml.pre", "llama-bpe");
    ck_assert_uint_eq(kv_u(g, "llama.vocab_size"), LL_V);
    ck_assert_uint_eq(kv_u(g, "llama.rope.dimension_count"), LL_HD);
    ck_assert_uint_eq(kv_u(g, "llama.attention.head_count_kv"), LL_KV);
    ck_assert_double_eq_tol(kv_f(g, "llama.rope.freq_base"), 500000.0, 1e-2);
    kv_absent(g, "llama.rope.scaling.type");
    ck_assert_uint_eq(kv_u(g, "tokenizer.ggml.bos_token_id"), 30);
    ck_assert_uint_eq(kv_u(g, "tokenizer.ggml.eos_token_id"), 31);
    int b = 0;
    ck_assert_int_eq(rk_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b), 0);
    ck_assert_int_eq(b, 1);
    float qp[LL_NH * LL_HD * LL_H], kp[LL_KV * LL_HD * LL_H];
    permute_ref(fx_find(&m, "model.layers.0.self_attn.q_proj.weight")->ref, qp, LL_NH, LL_HD, LL_H);
    permute_ref(fx_find(&m, "model.layers.0.self_attn.k_proj.weight")->ref, kp, LL_KV, LL_HD, LL_H);
    same_f32(tensor(g, "blk.0.attn_q.weight", RK_DTYPE_F32, 2, LL_H, LL_NH * LL_HD, 0), qp, sizeof qp / 4, "q permuted");
    same_f32(tensor(g, "blk.0.attn_k.weight", RK_DTYPE_F32, 2, LL_H, LL_KV * LL_HD, 0), kp, sizeof kp / 4, "k permuted");
    same_f32(tensor(g, "blk.0.attn_v.weight", RK_DTYPE_F32, 2, LL_H, LL_KV * LL_HD, 0), fx_find(&m, "model.layers.0.self_attn.v_proj.weight")->ref,
             LL_KV * LL_HD * LL_H, "v not permuted");
    /* spot-check one row mapping directly: GGUF row 2i+1 of head 1 = HF row hd/2 + i */
    const rk_gguf_tensor *q = rk_gguf_find_tensor(g, "blk.0.attn_q.weight");
    float v;
    memcpy(&v, q->data + 4 * ((size_t)(1 * LL_HD + 2 * 3 + 1) * LL_H + 5), 4);
    ck_assert_float_eq(v, fx_find(&m, "model.layers.0.self_attn.q_proj.weight")->ref[(size_t)(1 * LL_HD + LL_HD / 2 + 3) * LL_H + 5]);
    /* rope_freqs: llama3 factors, computed independently in double */
    const rk_gguf_tensor *rf = tensor(g, "rope_freqs.weight", RK_DTYPE_F32, 1, LL_HD / 2, 0, 0);
    for (int i = 0; i < LL_HD / 2; i++) {
        double freq = 1.0 / pow(500000.0, (2.0 * i) / LL_HD), wl = 2 * M_PI / freq, want;
        if (wl < 8192.0 / 4.0) want = 1.0;
        else if (wl > 8192.0 / 1.0) want = 8.0;
        else { double s = (8192.0 / wl - 1.0) / 3.0; want = 1.0 / ((1 - s) / 8.0 + s); }
        float got;
        memcpy(&got, rf->data + 4 * i, 4);
        ck_assert_double_eq_tol(got, want, 1e-5 * want);
    }
    rk_gguf_close(g);
    free(out);
    /* Q8_0: q permuted then quantized; ffn_down rows of 80 → F16 */
    memset(&lb, 0, sizeof lb);
    out = rk_path_join(dir, "llq8.gguf");
    g = convert_open(dir, out, RK_DTYPE_Q8_0, &lb);
    same_q8(tensor(g, "blk.0.attn_q.weight", RK_DTYPE_Q8_0, 2, LL_H, LL_NH * LL_HD, 0), qp, sizeof qp / 4, "q q8");
    same_q8(tensor(g, "blk.0.ffn_gate.weight", RK_DTYPE_Q8_0, 2, LL_H, LL_I, 0), fx_find(&m, "model.layers.0.mlp.gate_proj.weight")->ref,
            LL_I * LL_H, "gate q8");
    same_u16(tensor(g, "blk.0.ffn_down.weight", RK_DTYPE_F16, 2, LL_I, LL_H, 0), fx_find(&m, "model.layers.0.mlp.down_proj.weight")->ref,
             LL_I * LL_H, RK_DTYPE_F16, "down f16 fallback");
    tensor(g, "rope_freqs.weight", RK_DTYPE_F32, 1, LL_HD / 2, 0, 0);
    tensor(g, "output.weight", RK_DTYPE_Q8_0, 2, LL_H, LL_V, 0);
    ck_assert_uint_eq(rk_gguf_tensor_count(g), 3 + 9 + 1);
    rk_gguf_close(g);
    free(out);
    fx_free(&m);
    rk_test_rmtree(dir);
    free(dir);
}
END_TEST

/* ---------------------------------------------------------------- HF → HF */
START_TEST(fp8_to_bf16_safetensors) {
    char *dir = rk_test_tmpdir("cv_st");
    static fx_model m;
    ds_write(dir, &m, 0);
    char *outdir = rk_path_join(dir, "bf16");
    rk_convert_opts o;
    rk_convert_opts_init(&o);
    rk_err e;
    rk_err_clear(&e);
    ck_assert_msg(rk_convert_to_safetensors(dir, outdir, RK_DTYPE_BF16, 8192, &o, &e) == 0, "%s", e.msg);
    rk_st_set *s = NULL;
    ck_assert_msg(rk_st_set_open(&s, outdir, &e) == 0, "%s", e.msg);
    ck_assert_uint_gt(rk_st_set_shard_count(s), 1);
    size_t n_src = 0;
    for (size_t i = 0; i < m.n; i++) {
        const fx_tensor *t = &m.t[i];
        const char *sfx = "_scale_inv";
        if (strlen(t->name) > strlen(sfx) && !strcmp(t->name + strlen(t->name) - strlen(sfx), sfx)) {
            ck_assert_ptr_null(rk_st_set_find(s, t->name));
            continue;
        }
        n_src++;
        const rk_st_tensor *st = rk_st_set_find(s, t->name);
        ck_assert_msg(st != NULL, "missing %s", t->name);
        ck_assert_int_eq(st->dtype, RK_DTYPE_BF16);
        ck_assert_int_eq(st->n_dims, t->nd);
        size_t n = fx_numel(t);
        for (size_t k = 0; k < n; k++) {
            uint16_t got;
            memcpy(&got, st->data + 2 * k, 2);
            ck_assert_msg(got == rk_f32_to_bf16(t->ref[k]), "%s[%zu]", t->name, k);
        }
        if (t->dtype == RK_DTYPE_BF16) ck_assert_int_eq(memcmp(st->data, t->data, t->nbytes), 0);   /* byte copy */
    }
    ck_assert_uint_eq(rk_st_set_count(s), n_src);
    rk_st_set_close(s);
    char *cfgp = rk_path_join(outdir, "config.json");
    size_t len = 0;
    char *cfg = (char *)rk_test_read_file(cfgp, &len);
    ck_assert_ptr_nonnull(cfg);
    ck_assert_ptr_null(strstr(cfg, "quantization_config"));
    ck_assert_ptr_nonnull(strstr(cfg, "\"torch_dtype\":\t\"bfloat16\""));
    free(cfg);
    free(cfgp);
    char *tokp = rk_path_join(outdir, "tokenizer.json");
    ck_assert(rk_file_exists(tokp));
    free(tokp);
    /* the BF16 copy converts to GGUF like the FP8 original (same values once rounded) */
    char *out = rk_path_join(dir, "from-bf16.gguf");
    static logbuf lb;
    memset(&lb, 0, sizeof lb);
    rk_gguf *g = convert_open(outdir, out, RK_CONVERT_AUTO, &lb);
    check_ds_names(g);
    rk_gguf_close(g);
    free(out);
    /* refusing to write into the input folder */
    ck_assert_int_eq(rk_convert_to_safetensors(dir, dir, RK_DTYPE_BF16, 0, &o, &e), RK_EINVAL);
    ck_assert_int_eq(rk_convert_to_safetensors(dir, outdir, RK_DTYPE_Q8_0, 0, &o, &e), RK_EINVAL);
    free(outdir);
    fx_free(&m);
    rk_test_rmtree(dir);
    free(dir);
}
END_TEST

/* ---------------------------------------------------------------- errors */
static int convert_err(const char *in, const char *out, int outtype, rk_err *e) {
    rk_convert_opts o;
    rk_convert_opts_init(&o);
    o.outtype = outtype;
    rk_err_clear(e);
    return rk_convert_to_gguf(in, out, &o, e);
}

START_TEST(errors) {
    char *dir = rk_test_tmpdir("cv_err");
    static fx_model m;
    ds_write(dir, &m, 1);   /* one expert missing */
    char *out = rk_path_join(dir, "x.gguf");
    rk_err e;
    ck_assert_int_eq(convert_err(dir, out, RK_DTYPE_F16, &e), RK_ECORRUPT);
    ck_assert_msg(strstr(e.msg, "experts.3.up_proj") != NULL, "%s", e.msg);
    ck_assert(!rk_file_exists(out));
    fx_free(&m);
    rk_test_rmtree(dir);
    free(dir);
    free(out);

    /* unknown tensor; wrong shape vs config; unsupported outtype; GGUF input; no tokenizer */
    dir = rk_test_tmpdir("cv_err");
    out = rk_path_join(dir, "x.gguf");
    memset(&m, 0, sizeof m);
    llama_write(dir, &m);
    ck_assert_int_eq(convert_err(dir, out, RK_DTYPE_Q4_K, &e), RK_EINVAL);
    ck_assert_int_eq(convert_err(dir, out, RK_DTYPE_F16, &e), 0);
    ck_assert_int_eq(convert_err(out, out, RK_DTYPE_F16, &e), RK_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "GGUF"));
    char *tp = rk_path_join(dir, "tokenizer.json");
    unlink(tp);
    unlink(out);
    ck_assert_int_eq(convert_err(dir, out, RK_DTYPE_F16, &e), RK_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(e.msg, "tokenizer.json"));
    fx_free(&m);
    rk_test_rmtree(dir);
    free(dir);

    dir = rk_test_tmpdir("cv_err");
    memset(&m, 0, sizeof m);
    fx_float(&m, "model.layers.0.self_attn.foo.weight", RK_DTYPE_F32, 2, 4, 4, 1.0f);
    llama_write(dir, &m);
    free(out);
    out = rk_path_join(dir, "x.gguf");
    ck_assert_int_eq(convert_err(dir, out, RK_DTYPE_F16, &e), RK_EUNSUPPORTED);
    ck_assert_msg(strstr(e.msg, "self_attn.foo.weight") != NULL, "%s", e.msg);
    fx_free(&m);
    rk_test_rmtree(dir);
    free(dir);

    dir = rk_test_tmpdir("cv_err");
    memset(&m, 0, sizeof m);
    llama_write(dir, &m);
    fx_text(dir, "config.json", "{\"model_type\":\"llama\",\"vocab_size\":40,\"hidden_size\":64,\"intermediate_size\":96,"
                                "\"num_hidden_layers\":1,\"num_attention_heads\":4,\"num_key_value_heads\":2}");
    ck_assert_int_eq(convert_err(dir, out, RK_DTYPE_F16, &e), RK_ECORRUPT);
    ck_assert_msg(strstr(e.msg, "config.json implies") != NULL, "%s", e.msg);
    fx_text(dir, "config.json", "{\"model_type\":\"llama\",\"vocab_size\":40,\"hidden_size\":64,\"intermediate_size\":80,"
                                "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"num_key_value_heads\":2}");
    ck_assert_int_eq(convert_err(dir, out, RK_DTYPE_F16, &e), RK_ECORRUPT);
    ck_assert_msg(strstr(e.msg, "blk.1.attn_norm.weight") != NULL, "%s", e.msg);
    ck_assert(!rk_file_exists(out));
    fx_free(&m);
    free(tp);
    free(out);
    rk_test_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(outtype_names) {
    ck_assert_int_eq(rk_convert_outtype_from_name("f32"), RK_DTYPE_F32);
    ck_assert_int_eq(rk_convert_outtype_from_name("F16"), RK_DTYPE_F16);
    ck_assert_int_eq(rk_convert_outtype_from_name("bf16"), RK_DTYPE_BF16);
    ck_assert_int_eq(rk_convert_outtype_from_name("q8_0"), RK_DTYPE_Q8_0);
    ck_assert_int_eq(rk_convert_outtype_from_name("auto"), RK_CONVERT_AUTO);
    ck_assert_int_eq(rk_convert_outtype_from_name("q4_k"), RK_DTYPE_INVALID);
    ck_assert_int_eq(rk_convert_outtype_from_name(NULL), RK_DTYPE_INVALID);
}
END_TEST

Suite *make_suite(void) {
    Suite *s = suite_create("convert");
    TCase *gg = tcase_create("gguf");
    tcase_set_timeout(gg, 120);
    tcase_add_test(gg, deepseek_fp8_f32);
    tcase_add_test(gg, deepseek_types);
    tcase_add_test(gg, deepseek_lite_q_proj);
    tcase_add_test(gg, qwen2_bf16_tied);
    tcase_add_test(gg, llama_permute_and_rope);
    tcase_add_test(gg, outtype_names);
    suite_add_tcase(s, gg);
    TCase *st = tcase_create("safetensors");
    tcase_set_timeout(st, 120);
    tcase_add_test(st, fp8_to_bf16_safetensors);
    suite_add_tcase(s, st);
    TCase *bad = tcase_create("errors");
    tcase_add_test(bad, errors);
    suite_add_tcase(s, bad);
    return s;
}

RK_TEST_MAIN()
