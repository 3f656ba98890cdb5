/* formats/hfconfig.c — config.json → rk_hf_config (see hfconfig.h).
 *
 * Sections: small typed getters over cJSON (each knows the file path for its message), the per-family defaults
 * (transformers LlamaConfig/Qwen2Config, DeepSeek's configuration_deepseek.py for V2 and V3), rope_scaling and
 * quantization_config, then range validation. Getters refuse wrong JSON types instead of guessing. */
#include "formats/hfconfig.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CFG_MAX_BYTES (16u << 20)
#define DIM_CAP ((int64_t)1 << 31)       /* any single dimension */
#define LAYER_CAP 100000
#define VOCAB_CAP ((int64_t)1 << 24)

typedef struct ctx {
    const char *path;
    rk_err *err;
} ctx;

/* ---- typed getters: 0 ok (value set or default kept), else error filled ---- */
static int bad_type(ctx *c, const char *key, const char *want) {
    return rk_err_file(c->err, RK_ECORRUPT, c->path, UINT64_MAX, "field '%s' must be %s", key, want);
}

/* integer: absent → keep *out; null → *out = null_value (if allow_null) */
static int get_int(ctx *c, const cJSON *o, const char *key, int64_t *out, int allow_null, int64_t null_value) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) return 0;
    if (cJSON_IsNull(v)) {
        if (!allow_null) return bad_type(c, key, "an integer, not null");
        *out = null_value;
        return 0;
    }
    if (!cJSON_IsNumber(v)) return bad_type(c, key, "an integer");
    double d = v->valuedouble;
    if (!isfinite(d) || d != floor(d) || d < -9.0e15 || d > 9.0e15)
        return rk_err_file(c->err, RK_ECORRUPT, c->path, UINT64_MAX, "field '%s' = %g is not an integer", key, d);
    *out = (int64_t)d;
    return 0;
}

static int get_num(ctx *c, const cJSON *o, const char *key, double *out, int *present) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) return bad_type(c, key, "a finite number");
    *out = v->valuedouble;
    if (present) *present = 1;
    return 0;
}

static int get_bool(ctx *c, const cJSON *o, const char *key, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsBool(v)) return bad_type(c, key, "true or false");
    *out = cJSON_IsTrue(v) ? 1 : 0;
    return 0;
}

static int get_str(ctx *c, const cJSON *o, const char *key, char *out, size_t cap) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsString(v)) return bad_type(c, key, "a string");
    if (strlen(v->valuestring) >= cap)
        return rk_err_file(c->err, RK_ECORRUPT, c->path, UINT64_MAX, "field '%s' is too long (%zu bytes, at most %zu)",
                           key, strlen(v->valuestring), cap - 1);
    memcpy(out, v->valuestring, strlen(v->valuestring) + 1);
    return 0;
}

/* ---- range checks ---- */
static int need_range(ctx *c, const char *key, int64_t v, int64_t lo, int64_t hi) {
    if (v < lo || v > hi)
        return rk_err_file(c->err, RK_ECORRUPT, c->path, UINT64_MAX, "field '%s' = %lld is out of range [%lld, %lld]", key,
                           (long long)v, (long long)lo, (long long)hi);
    return 0;
}

static int need_pos(ctx *c, const char *key, double v) {
    if (!(v > 0) || !isfinite(v))
        return rk_err_file(c->err, RK_ECORRUPT, c->path, UINT64_MAX, "field '%s' = %g must be a positive number", key, v);
    return 0;
}

/* ---- defaults ---- */
static void defaults_common(rk_hf_config *f) {
    f->bos_token_id = -1;
    f->pad_token_id = -1;
    f->rms_norm_eps = 1e-6;
    f->rope_theta = 10000.0;
    f->rope_scaling.type = RK_ROPE_SCALING_NONE;
    f->rope_scaling.factor = 1.0;
    f->rope_scaling.low_freq_factor = 1.0;
    f->rope_scaling.high_freq_factor = 4.0;
    f->rope_scaling.mscale = 1.0;
    f->rope_scaling.mscale_all_dim = 0.0;
    f->fp8_block_rows = f->fp8_block_cols = 128;
    f->moe_layer_freq = 1;
    f->routed_scaling_factor = 1.0;
}

static void defaults_llama(rk_hf_config *f) {       /* transformers LlamaConfig */
    f->vocab_size = 32000; f->hidden_size = 4096; f->intermediate_size = 11008; f->num_hidden_layers = 32;
    f->num_attention_heads = 32; f->num_key_value_heads = -1; f->max_position_embeddings = 2048;
    f->bos_token_id = 1; f->eos_token_ids[0] = 2; f->n_eos = 1;
}

static void defaults_qwen2(rk_hf_config *f) {       /* transformers Qwen2Config */
    f->vocab_size = 151936; f->hidden_size = 4096; f->intermediate_size = 22016; f->num_hidden_layers = 32;
    f->num_attention_heads = 32; f->num_key_value_heads = 32; f->max_position_embeddings = 32768;
    f->attention_bias = 1;
}

static void defaults_deepseek_v3(rk_hf_config *f) { /* DeepSeek-V3 configuration_deepseek.py */
    f->vocab_size = 129280; f->hidden_size = 7168; f->intermediate_size = 18432; f->moe_intermediate_size = 2048;
    f->num_hidden_layers = 61; f->num_nextn_predict_layers = 1; f->num_attention_heads = 128; f->num_key_value_heads = 128;
    f->n_shared_experts = 1; f->n_routed_experts = 256; f->routed_scaling_factor = 2.5; f->kv_lora_rank = 512;
    f->q_lora_rank = 1536; f->qk_rope_head_dim = 64; f->v_head_dim = 128; f->qk_nope_head_dim = 128;
    strcpy(f->topk_method, "noaux_tc"); f->n_group = 8; f->topk_group = 4; f->num_experts_per_tok = 8;
    f->first_k_dense_replace = 3; f->norm_topk_prob = 1; f->scoring_func = RK_MOE_SCORING_SIGMOID;
    f->max_position_embeddings = 4096; f->bos_token_id = 0; f->eos_token_ids[0] = 1; f->n_eos = 1;
}

static void defaults_deepseek_v2(rk_hf_config *f) { /* DeepSeek-V2 configuration_deepseek.py */
    f->vocab_size = 102400; f->hidden_size = 4096; f->intermediate_size = 11008; f->moe_intermediate_size = 1407;
    f->num_hidden_layers = 30; f->num_attention_heads = 32; f->num_key_value_heads = 32;
    f->n_shared_experts = 0; f->n_routed_experts = 0; f->routed_scaling_factor = 1.0; f->kv_lora_rank = 512;
    f->q_lora_rank = 1536; f->qk_rope_head_dim = 64; f->v_head_dim = 128; f->qk_nope_head_dim = 128;
    strcpy(f->topk_method, "greedy"); f->n_group = 0; f->topk_group = 0; f->num_experts_per_tok = 0;
    f->first_k_dense_replace = 0; f->norm_topk_prob = 0; f->scoring_func = RK_MOE_SCORING_SOFTMAX;
    f->max_position_embeddings = 2048; f->bos_token_id = 100000; f->eos_token_ids[0] = 100001; f->n_eos = 1;
}

/* ---- sections ---- */
static int parse_rope_scaling(ctx *c, const cJSON *rs, rk_hf_config *f) {
    rk_hf_rope_scaling *r = &f->rope_scaling;
    if (!rs || cJSON_IsNull(rs)) return 0;
    if (!cJSON_IsObject(rs)) return bad_type(c, "rope_scaling", "an object or null");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(rs, "rope_type");
    if (!t || cJSON_IsNull(t)) t = cJSON_GetObjectItemCaseSensitive(rs, "type");
    if (!t || cJSON_IsNull(t)) return 0;     /* only rope_theta inside rope_parameters */
    if (!cJSON_IsString(t)) return bad_type(c, "rope_scaling.type", "a string");
    const char *s = t->valuestring;
    if (!strcmp(s, "default")) r->type = RK_ROPE_SCALING_NONE;
    else if (!strcmp(s, "linear")) r->type = RK_ROPE_SCALING_LINEAR;
    else if (!strcmp(s, "yarn")) r->type = RK_ROPE_SCALING_YARN;
    else if (!strcmp(s, "llama3")) r->type = RK_ROPE_SCALING_LLAMA3;
    else if (!strcmp(s, "dynamic")) r->type = RK_ROPE_SCALING_DYNAMIC;
    else return rk_err_file(c->err, RK_EUNSUPPORTED, c->path, UINT64_MAX,
                            "rope_scaling type '%s' is not supported (none, linear, yarn, llama3, dynamic)", s);
    int rc, dummy = 0;
    if (r->type == RK_ROPE_SCALING_LLAMA3) r->factor = 8.0;
    if ((rc = get_num(c, rs, "factor", &r->factor, &dummy))) return rc;
    if ((rc = get_int(c, rs, "original_max_position_embeddings", &r->original_max_position_embeddings, 1, 0))) return rc;
    if ((rc = get_num(c, rs, "beta_fast", &r->beta_fast, &r->has_beta_fast))) return rc;
    if ((rc = get_num(c, rs, "beta_slow", &r->beta_slow, &r->has_beta_slow))) return rc;
    if ((rc = get_num(c, rs, "mscale", &r->mscale, &r->has_mscale))) return rc;
    if ((rc = get_num(c, rs, "mscale_all_dim", &r->mscale_all_dim, &r->has_mscale_all_dim))) return rc;
    if ((rc = get_num(c, rs, "low_freq_factor", &r->low_freq_factor, &dummy))) return rc;
    if ((rc = get_num(c, rs, "high_freq_factor", &r->high_freq_factor, &dummy))) return rc;
    if ((rc = get_num(c, rs, "extrapolation_factor", &r->extrapolation_factor, &r->has_extrapolation_factor))) return rc;
    if ((rc = get_num(c, rs, "attention_factor", &r->attn_factor, &r->has_attn_factor))) return rc;
    if (!r->has_attn_factor && (rc = get_num(c, rs, "attn_factor", &r->attn_factor, &r->has_attn_factor))) return rc;
    if (r->type == RK_ROPE_SCALING_NONE) return 0;
    if ((rc = need_pos(c, "rope_scaling.factor", r->factor))) return rc;
    if ((rc = need_range(c, "rope_scaling.original_max_position_embeddings", r->original_max_position_embeddings, 0, DIM_CAP)))
        return rc;
    if (r->type == RK_ROPE_SCALING_YARN && r->original_max_position_embeddings == 0)
        return rk_err_file(c->err, RK_ECORRUPT, c->path, UINT64_MAX,
                           "field 'rope_scaling.original_max_position_embeddings' is required for yarn");
    if (r->type == RK_ROPE_SCALING_LLAMA3) {
        if ((rc = need_pos(c, "rope_scaling.low_freq_factor", r->low_freq_factor))) return rc;
        if ((rc = need_pos(c, "rope_scaling.high_freq_factor", r->high_freq_factor))) return rc;
        if (!(r->high_freq_factor > r->low_freq_factor))
            return rk_err_file(c->err, RK_ECORRUPT, c->path, UINT64_MAX,
                               "field 'rope_scaling.high_freq_factor' = %g must exceed low_freq_factor = %g",
                               r->high_freq_factor, r->low_freq_factor);
        if (r->original_max_position_embeddings == 0) r->original_max_position_embeddings = 8192;
    }
    return 0;
}

static int parse_quant(ctx *c, const cJSON *q, rk_hf_config *f) {
    if (!q || cJSON_IsNull(q)) return 0;
    if (!cJSON_IsObject(q)) return bad_type(c, "quantization_config", "an object");
    char method[32] = "", fmt[16] = "e4m3";
    int rc;
    if ((rc = get_str(c, q, "quant_method", method, sizeof method))) return rc;
    if (strcmp(method, "fp8") != 0)
        return rk_err_file(c->err, RK_EUNSUPPORTED, c->path, UINT64_MAX,
                           "quantization_config.quant_method '%s' is not supported (only DeepSeek's block \"fp8\")", method);
    if ((rc = get_str(c, q, "fmt", fmt, sizeof fmt))) return rc;
    if (strcmp(fmt, "e4m3") != 0)
        return rk_err_file(c->err, RK_EUNSUPPORTED, c->path, UINT64_MAX,
                           "quantization_config.fmt '%s' is not supported (only \"e4m3\")", fmt);
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(q, "weight_block_size");
    if (b && !cJSON_IsNull(b)) {
        if (!cJSON_IsArray(b) || cJSON_GetArraySize(b) != 2 || !cJSON_IsNumber(cJSON_GetArrayItem(b, 0)) ||
            !cJSON_IsNumber(cJSON_GetArrayItem(b, 1)))
            return bad_type(c, "quantization_config.weight_block_size", "a list of two integers");
        double r = cJSON_GetArrayItem(b, 0)->valuedouble, k = cJSON_GetArrayItem(b, 1)->valuedouble;
        if (!(r >= 1 && r <= 65536 && r == floor(r) && k >= 1 && k <= 65536 && k == floor(k)))
            return rk_err_file(c->err, RK_ECORRUPT, c->path, UINT64_MAX,
                               "field 'quantization_config.weight_block_size' = [%g, %g] must be two integers in [1, 65536]", r, k);
        f->fp8_block_rows = (int64_t)r;
        f->fp8_block_cols = (int64_t)k;
    }
    f->fp8 = 1;
    return 0;
}

static int parse_eos(ctx *c, const cJSON *root, rk_hf_config *f) {
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "eos_token_id");
    if (!e) return 0;
    if (cJSON_IsNull(e)) { f->n_eos = 0; return 0; }
    if (cJSON_IsNumber(e)) {
        int64_t v = 0;
        int rc = get_int(c, root, "eos_token_id", &v, 0, 0);
        if (rc) return rc;
        f->eos_token_ids[0] = v;
        f->n_eos = 1;
        return 0;
    }
    if (!cJSON_IsArray(e)) return bad_type(c, "eos_token_id", "an integer or a list of integers");
    int n = cJSON_GetArraySize(e);
    if (n > RK_HF_MAX_EOS)
        return rk_err_file(c->err, RK_ECORRUPT, c->path, UINT64_MAX, "field 'eos_token_id' lists %d ids, at most %d", n, RK_HF_MAX_EOS);
    f->n_eos = 0;
    for (const cJSON *x = e->child; x; x = x->next) {
        if (!cJSON_IsNumber(x) || x->valuedouble != floor(x->valuedouble) || x->valuedouble < 0 || x->valuedouble >= (double)VOCAB_CAP)
            return bad_type(c, "eos_token_id", "a list of non-negative integers");
        f->eos_token_ids[f->n_eos++] = (int64_t)x->valuedouble;
    }
    return 0;
}

static int parse_scoring(ctx *c, const cJSON *root, rk_hf_config *f) {
    char s[24] = "";
    int rc = get_str(c, root, "scoring_func", s, sizeof s);
    if (rc || !s[0]) return rc;
    if (!strcmp(s, "softmax")) f->scoring_func = RK_MOE_SCORING_SOFTMAX;
    else if (!strcmp(s, "sigmoid")) f->scoring_func = RK_MOE_SCORING_SIGMOID;
    else return rk_err_file(c->err, RK_EUNSUPPORTED, c->path, UINT64_MAX,
                            "field 'scoring_func' = '%s' is not supported (softmax, sigmoid)", s);
    return 0;
}

static int parse_common(ctx *c, const cJSON *root, rk_hf_config *f) {
    int rc;
    if ((rc = get_int(c, root, "vocab_size", &f->vocab_size, 0, 0)) ||
        (rc = get_int(c, root, "hidden_size", &f->hidden_size, 0, 0)) ||
        (rc = get_int(c, root, "intermediate_size", &f->intermediate_size, 0, 0)) ||
        (rc = get_int(c, root, "num_hidden_layers", &f->num_hidden_layers, 0, 0)) ||
        (rc = get_int(c, root, "num_attention_heads", &f->num_attention_heads, 0, 0)) ||
        (rc = get_int(c, root, "num_key_value_heads", &f->num_key_value_heads, 1, -1)) ||
        (rc = get_int(c, root, "max_position_embeddings", &f->max_position_embeddings, 0, 0)) ||
        (rc = get_int(c, root, "bos_token_id", &f->bos_token_id, 1, -1)) ||
        (rc = get_int(c, root, "pad_token_id", &f->pad_token_id, 1, -1)) ||
        (rc = get_num(c, root, "rms_norm_eps", &f->rms_norm_eps, NULL)) ||
        (rc = get_num(c, root, "rope_theta", &f->rope_theta, NULL)) ||
        (rc = get_bool(c, root, "tie_word_embeddings", &f->tie_word_embeddings)) ||
        (rc = parse_eos(c, root, f)))
        return rc;
    int64_t hd = -1;
    if ((rc = get_int(c, root, "head_dim", &hd, 1, -1))) return rc;
    if (hd != -1) { f->head_dim = hd; f->has_head_dim = 1; }
    if ((rc = get_str(c, root, "torch_dtype", f->torch_dtype, sizeof f->torch_dtype))) return rc;
    if (!f->torch_dtype[0] && (rc = get_str(c, root, "dtype", f->torch_dtype, sizeof f->torch_dtype))) return rc;
    /* newer transformers keep rope_theta and the scaling in "rope_parameters" */
    const cJSON *rp = cJSON_GetObjectItemCaseSensitive(root, "rope_parameters");
    if (rp && cJSON_IsObject(rp)) {
        if ((rc = get_num(c, rp, "rope_theta", &f->rope_theta, NULL))) return rc;
        if ((rc = parse_rope_scaling(c, rp, f))) return rc;
    }
    if ((rc = parse_rope_scaling(c, cJSON_GetObjectItemCaseSensitive(root, "rope_scaling"), f))) return rc;
    return parse_quant(c, cJSON_GetObjectItemCaseSensitive(root, "quantization_config"), f);
}

static int parse_deepseek(ctx *c, const cJSON *root, rk_hf_config *f) {
    int rc;
    if ((rc = get_int(c, root, "q_lora_rank", &f->q_lora_rank, 1, 0)) ||
        (rc = get_int(c, root, "kv_lora_rank", &f->kv_lora_rank, 0, 0)) ||
        (rc = get_int(c, root, "qk_nope_head_dim", &f->qk_nope_head_dim, 0, 0)) ||
        (rc = get_int(c, root, "qk_rope_head_dim", &f->qk_rope_head_dim, 0, 0)) ||
        (rc = get_int(c, root, "v_head_dim", &f->v_head_dim, 0, 0)) ||
        (rc = get_int(c, root, "moe_intermediate_size", &f->moe_intermediate_size, 0, 0)) ||
        (rc = get_int(c, root, "n_routed_experts", &f->n_routed_experts, 1, 0)) ||
        (rc = get_int(c, root, "n_shared_experts", &f->n_shared_experts, 1, 0)) ||
        (rc = get_int(c, root, "num_experts_per_tok", &f->num_experts_per_tok, 1, 0)) ||
        (rc = get_int(c, root, "first_k_dense_replace", &f->first_k_dense_replace, 1, 0)) ||
        (rc = get_int(c, root, "moe_layer_freq", &f->moe_layer_freq, 0, 0)) ||
        (rc = get_int(c, root, "n_group", &f->n_group, 1, 0)) ||
        (rc = get_int(c, root, "topk_group", &f->topk_group, 1, 0)) ||
        (rc = get_int(c, root, "num_nextn_predict_layers", &f->num_nextn_predict_layers, 1, 0)) ||
        (rc = get_str(c, root, "topk_method", f->topk_method, sizeof f->topk_method)) ||
        (rc = get_bool(c, root, "norm_topk_prob", &f->norm_topk_prob)) ||
        (rc = get_num(c, root, "routed_scaling_factor", &f->routed_scaling_factor, NULL)) ||
        (rc = get_bool(c, root, "attention_bias", &f->attention_bias)) ||
        (rc = parse_scoring(c, root, f)))
        return rc;
    return 0;
}

static int validate_common(ctx *c, rk_hf_config *f) {
    int rc;
    if ((rc = need_range(c, "vocab_size", f->vocab_size, 1, VOCAB_CAP)) ||
        (rc = need_range(c, "hidden_size", f->hidden_size, 1, DIM_CAP)) ||
        (rc = need_range(c, "intermediate_size", f->intermediate_size, 1, DIM_CAP)) ||
        (rc = need_range(c, "num_hidden_layers", f->num_hidden_layers, 1, LAYER_CAP)) ||
        (rc = need_range(c, "num_attention_heads", f->num_attention_heads, 1, 1 << 16)) ||
        (rc = need_range(c, "num_key_value_heads", f->num_key_value_heads, 1, 1 << 16)) ||
        (rc = need_range(c, "max_position_embeddings", f->max_position_embeddings, 1, DIM_CAP)) ||
        (rc = need_range(c, "bos_token_id", f->bos_token_id, -1, f->vocab_size - 1)) ||
        (rc = need_range(c, "pad_token_id", f->pad_token_id, -1, f->vocab_size - 1)) ||
        (rc = need_pos(c, "rms_norm_eps", f->rms_norm_eps)) || (rc = need_pos(c, "rope_theta", f->rope_theta)))
        return rc;
    for (int i = 0; i < f->n_eos; i++)
        if ((rc = need_range(c, "eos_token_id", f->eos_token_ids[i], 0, f->vocab_size - 1))) return rc;
    if (f->num_attention_heads % f->num_key_value_heads)
        return rk_err_file(c->err, RK_ECORRUPT, c->path, UINT64_MAX,
                           "field 'num_key_value_heads' = %lld must divide num_attention_heads = %lld",
                           (long long)f->num_key_value_heads, (long long)f->num_attention_heads);
    return 0;
}

static int validate_dense(ctx *c, rk_hf_config *f) {     /* llama, qwen2 */
    int rc;
    if (f->has_head_dim) {
        if ((rc = need_range(c, "head_dim", f->head_dim, 2, 1 << 16))) return rc;
    } else {
        if (f->hidden_size % f->num_attention_heads)
            return rk_err_file(c->err, RK_ECORRUPT, c->path, UINT64_MAX,
                               "field 'num_attention_heads' = %lld must divide hidden_size = %lld (no head_dim given)",
                               (long long)f->num_attention_heads, (long long)f->hidden_size);
        f->head_dim = f->hidden_size / f->num_attention_heads;
    }
    if (f->head_dim % 2)
        return rk_err_file(c->err, RK_ECORRUPT, c->path, UINT64_MAX, "head dimension %lld must be even for RoPE",
                           (long long)f->head_dim);
    return 0;
}

static int validate_deepseek(ctx *c, rk_hf_config *f) {
    int rc;
    if ((rc = need_range(c, "q_lora_rank", f->q_lora_rank, 0, DIM_CAP)) ||
        (rc = need_range(c, "kv_lora_rank", f->kv_lora_rank, 1, DIM_CAP)) ||
        (rc = need_range(c, "qk_nope_head_dim", f->qk_nope_head_dim, 1, 1 << 16)) ||
        (rc = need_range(c, "qk_rope_head_dim", f->qk_rope_head_dim, 2, 1 << 16)) ||
        (rc = need_range(c, "v_head_dim", f->v_head_dim, 1, 1 << 16)) ||
        (rc = need_range(c, "first_k_dense_replace", f->first_k_dense_replace, 0, f->num_hidden_layers)) ||
        (rc = need_range(c, "moe_layer_freq", f->moe_layer_freq, 1, LAYER_CAP)) ||
        (rc = need_range(c, "num_nextn_predict_layers", f->num_nextn_predict_layers, 0, 64)) ||
        (rc = need_range(c, "n_routed_experts", f->n_routed_experts, 0, 1 << 16)) ||
        (rc = need_range(c, "n_shared_experts", f->n_shared_experts, 0, 1 << 10)))
        return rc;
    if (f->qk_rope_head_dim % 2)
        return rk_err_file(c->err, RK_ECORRUPT, c->path, UINT64_MAX, "field 'qk_rope_head_dim' = %lld must be even",
                           (long long)f->qk_rope_head_dim);
    f->head_dim = f->qk_nope_head_dim + f->qk_rope_head_dim;
    if (f->n_routed_experts > 0) {
        if ((rc = need_range(c, "moe_intermediate_size", f->moe_intermediate_size, 1, DIM_CAP)) ||
            (rc = need_range(c, "num_experts_per_tok", f->num_experts_per_tok, 1, f->n_routed_experts)) ||
            (rc = need_pos(c, "routed_scaling_factor", f->routed_scaling_factor)) ||
            (rc = need_range(c, "n_group", f->n_group, 0, f->n_routed_experts)))
            return rc;
        if (f->n_group > 0) {
            if (f->n_routed_experts % f->n_group)
                return rk_err_file(c->err, RK_ECORRUPT, c->path, UINT64_MAX,
                                   "field 'n_group' = %lld must divide n_routed_experts = %lld", (long long)f->n_group,
                                   (long long)f->n_routed_experts);
            if ((rc = need_range(c, "topk_group", f->topk_group, 1, f->n_group))) return rc;
            /* every kept group must be able to supply its share of the chosen experts */
            if (f->topk_group * (f->n_routed_experts / f->n_group) < f->num_experts_per_tok)
                return rk_err_file(c->err, RK_ECORRUPT, c->path, UINT64_MAX,
                                   "topk_group %lld x %lld experts per group is fewer than num_experts_per_tok = %lld",
                                   (long long)f->topk_group, (long long)(f->n_routed_experts / f->n_group),
                                   (long long)f->num_experts_per_tok);
        }
        if (strcmp(f->topk_method, "greedy") && strcmp(f->topk_method, "group_limited_greedy") &&
            strcmp(f->topk_method, "noaux_tc"))
            return rk_err_file(c->err, RK_EUNSUPPORTED, c->path, UINT64_MAX,
                               "field 'topk_method' = '%s' is not supported (greedy, group_limited_greedy, noaux_tc)",
                               f->topk_method);
        if (f->scoring_func == RK_MOE_SCORING_NONE)
            return rk_err_file(c->err, RK_ECORRUPT, c->path, UINT64_MAX, "field 'scoring_func' is missing");
    }
    return 0;
}

int rk_hf_config_parse(rk_hf_config *cfg, const char *json, size_t len, const char *path, rk_err *err) {
    memset(cfg, 0, sizeof *cfg);
    ctx c = { path ? path : "config.json", err };
    int rc = 0;
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) return rk_err_file(err, RK_ECORRUPT, c.path, UINT64_MAX, "not valid JSON");
    if (!cJSON_IsObject(root)) { rc = rk_err_file(err, RK_ECORRUPT, c.path, UINT64_MAX, "top level is not a JSON object"); goto fail; }
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    if (!cJSON_IsString(mt)) { rc = rk_err_file(err, RK_ECORRUPT, c.path, UINT64_MAX, "field 'model_type' is missing or not a string"); goto fail; }
    const char *m = mt->valuestring;
    defaults_common(cfg);
    if (!strcmp(m, "deepseek_v3")) { cfg->arch = RK_HF_ARCH_DEEPSEEK2; defaults_deepseek_v3(cfg); }
    else if (!strcmp(m, "deepseek_v2")) { cfg->arch = RK_HF_ARCH_DEEPSEEK2; defaults_deepseek_v2(cfg); }
    else if (!strcmp(m, "qwen2")) { cfg->arch = RK_HF_ARCH_QWEN2; defaults_qwen2(cfg); }
    else if (!strcmp(m, "llama")) { cfg->arch = RK_HF_ARCH_LLAMA; defaults_llama(cfg); }
    else {
        rc = rk_err_file(err, RK_EUNSUPPORTED, c.path, UINT64_MAX,
                         "model_type '%.64s' is not supported (deepseek_v3, deepseek_v2, qwen2, llama)", m);
        goto fail;
    }
    snprintf(cfg->model_type, sizeof cfg->model_type, "%s", m);
    if ((rc = parse_common(&c, root, cfg))) goto fail;
    if (cfg->arch == RK_HF_ARCH_DEEPSEEK2 && (rc = parse_deepseek(&c, root, cfg))) goto fail;
    if (cfg->arch == RK_HF_ARCH_LLAMA && (rc = get_bool(&c, root, "attention_bias", &cfg->attention_bias))) goto fail;
    if (cfg->num_key_value_heads == -1) cfg->num_key_value_heads = cfg->num_attention_heads;
    if ((rc = validate_common(&c, cfg))) goto fail;
    rc = cfg->arch == RK_HF_ARCH_DEEPSEEK2 ? validate_deepseek(&c, cfg) : validate_dense(&c, cfg);
fail:
    cJSON_Delete(root);
    return rc;
}

int rk_hf_config_load(rk_hf_config *cfg, const char *dir_or_file, rk_err *err) {
    char *p = rk_is_dir(dir_or_file) ? rk_path_join(dir_or_file, "config.json") : rk_strdup(dir_or_file);
    if (!p) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
    char *txt = NULL;
    uint64_t len = 0;
    int rc = rk_read_file(p, CFG_MAX_BYTES, &txt, &len, err);
    if (!rc) rc = rk_hf_config_parse(cfg, txt, (size_t)len, p, err);
    free(txt);
    free(p);
    return rc;
}

const char *rk_hf_arch_name(int arch) {
    switch (arch) {
    case RK_HF_ARCH_DEEPSEEK2: return "deepseek2";
    case RK_HF_ARCH_QWEN2: return "qwen2";
    case RK_HF_ARCH_LLAMA: return "llama";
    default: return "?";
    }
}

const char *rk_rope_scaling_name(int type) {
    switch (type) {
    case RK_ROPE_SCALING_NONE: return "none";
    case RK_ROPE_SCALING_LINEAR: return "linear";
    case RK_ROPE_SCALING_YARN: return "yarn";
    case RK_ROPE_SCALING_LLAMA3: return "llama3";
    case RK_ROPE_SCALING_DYNAMIC: return "dynamic";
    default: return "?";
    }
}

int rk_hf_config_is_moe_layer(const rk_hf_config *cfg, int64_t il) {
    return cfg->n_routed_experts > 0 && il >= cfg->first_k_dense_replace && il < cfg->num_hidden_layers &&
           il % cfg->moe_layer_freq == 0;
}
