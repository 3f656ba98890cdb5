/* formats/hfconfig.h — a Hugging Face config.json read into typed fields for the three model families r1kit
 * handles: DeepSeek-V3/R1 (model_type "deepseek_v3"; "deepseek_v2" also accepted, both map to llama.cpp's
 * "deepseek2"), Qwen2 ("qwen2") and Llama ("llama").
 *
 * Keys absent from the file take the defaults of the config class that defines them: transformers'
 * LlamaConfig and Qwen2Config, and DeepSeek's configuration_deepseek.py (V3 and V2 differ: V3 defaults to 256
 * routed experts, sigmoid scoring and noaux_tc; V2 to a dense model with softmax scoring). JSON null means
 * "None" (q_lora_rank null → 0 = plain q_proj; num_key_value_heads null → num_attention_heads).
 * Every value is range-checked; an error names config.json, the field and the value. No allocation: the
 * struct is plain data. */
#ifndef RK_FORMATS_HFCONFIG_H
#define RK_FORMATS_HFCONFIG_H
#include "formats/common.h"

typedef enum rk_hf_arch {
    RK_HF_ARCH_NONE = 0,
    RK_HF_ARCH_DEEPSEEK2 = 1,   /* deepseek_v3, deepseek_v2 */
    RK_HF_ARCH_QWEN2 = 2,
    RK_HF_ARCH_LLAMA = 3,
} rk_hf_arch;

typedef enum rk_rope_scaling_type {
    RK_ROPE_SCALING_NONE = 0, RK_ROPE_SCALING_LINEAR = 1, RK_ROPE_SCALING_YARN = 2,
    RK_ROPE_SCALING_LLAMA3 = 3, RK_ROPE_SCALING_DYNAMIC = 4,
} rk_rope_scaling_type;

typedef enum rk_moe_scoring { RK_MOE_SCORING_NONE = 0, RK_MOE_SCORING_SOFTMAX = 1, RK_MOE_SCORING_SIGMOID = 2 } rk_moe_scoring;

typedef struct rk_hf_rope_scaling {
    int type;                               /* rk_rope_scaling_type */
    double factor;                          /* 1 when none */
    int64_t original_max_position_embeddings; /* 0 = absent */
    double beta_fast, beta_slow;            /* yarn (present flags below) */
    double mscale, mscale_all_dim;          /* DeepSeek yarn */
    double low_freq_factor, high_freq_factor;  /* llama3 (defaults 1, 4) */
    double extrapolation_factor, attn_factor;  /* optional yarn overrides */
    int has_beta_fast, has_beta_slow, has_mscale, has_mscale_all_dim, has_extrapolation_factor, has_attn_factor;
} rk_hf_rope_scaling;

#define RK_HF_MAX_EOS 16

typedef struct rk_hf_config {
    char model_type[32];        /* as written in the file */
    int arch;                   /* rk_hf_arch */
    int64_t vocab_size, hidden_size, intermediate_size, num_hidden_layers;
    int64_t num_attention_heads, num_key_value_heads;
    int64_t head_dim;           /* explicit head_dim, or hidden/heads (llama, qwen2); qk_nope+qk_rope for deepseek */
    int has_head_dim;           /* 1 when config.json has a non-null head_dim */
    double rms_norm_eps, rope_theta;
    rk_hf_rope_scaling rope_scaling;
    int64_t max_position_embeddings;
    int tie_word_embeddings;
    int attention_bias;         /* qwen2: always 1 (q/k/v biases); llama: attention_bias */
    int64_t bos_token_id;       /* -1 = none */
    int64_t eos_token_ids[RK_HF_MAX_EOS];
    int n_eos;
    int64_t pad_token_id;       /* -1 = none */
    char torch_dtype[16];       /* "bfloat16", ... or "" */
    /* DeepSeek (zero for other families) */
    int64_t q_lora_rank;        /* 0 = none (plain q_proj) */
    int64_t kv_lora_rank, qk_nope_head_dim, qk_rope_head_dim, v_head_dim;
    int64_t moe_intermediate_size, n_routed_experts, n_shared_experts, num_experts_per_tok;
    int64_t first_k_dense_replace, moe_layer_freq, n_group, topk_group, num_nextn_predict_layers;
    char topk_method[24];       /* greedy | group_limited_greedy | noaux_tc */
    int scoring_func;           /* rk_moe_scoring */
    int norm_topk_prob;
    double routed_scaling_factor;
    /* quantization_config */
    int fp8;                    /* 1 for quant_method fp8 (fmt e4m3) */
    int64_t fp8_block_rows, fp8_block_cols;   /* weight_block_size, default 128x128 */
} rk_hf_config;

/* Parse config.json text. path is used only in messages. */
int rk_hf_config_parse(rk_hf_config *cfg, const char *json, size_t len, const char *path, rk_err *err);
/* Read <dir>/config.json (or path itself when it names a file). */
int rk_hf_config_load(rk_hf_config *cfg, const char *dir_or_file, rk_err *err);

const char *rk_hf_arch_name(int arch);            /* "deepseek2", "qwen2", "llama" or "?" */
const char *rk_rope_scaling_name(int type);       /* "none", "linear", "yarn", "llama3", "dynamic" */
/* 1 if layer il (0-based, < num_hidden_layers) has a routed-expert MoE FFN (DeepSeek rule:
 * n_routed_experts > 0 && il >= first_k_dense_replace && il % moe_layer_freq == 0). */
int rk_hf_config_is_moe_layer(const rk_hf_config *cfg, int64_t il);
#endif
