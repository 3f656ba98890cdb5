/* model/sample.h — writes random-weight Hugging Face checkpoints of each supported architecture
 * (deepseek_v3 in R1's release layout: FP8-E4M3 linear weights with 128x128 weight_scale_inv, BF16
 * embeddings/norms/router, F32 e_score_correction_bias, optional MTP layer; qwen2; llama), with config.json,
 * generation_config.json, tokenizer.json and tokenizer_config.json. Used by the README's demo, the tests
 * and the convert benchmark (which asks for several GB). Streaming: one tensor in memory at a time;
 * deterministic bytes for a given seed. */
#ifndef RK_MODEL_SAMPLE_H
#define RK_MODEL_SAMPLE_H
#include "formats/common.h"

typedef struct rk_sample_opts {
    char arch[32];                  /* "deepseek_v3", "qwen2", "llama" */
    int64_t vocab;                  /* config vocab_size (>= tokenizer size) */
    int64_t hidden, inter, layers, heads, kv_heads;
    /* deepseek_v3 */
    int64_t q_lora, kv_lora, nope, rope, v_dim, moe_inter, n_experts, n_shared, top_k, dense_layers,
        n_group, topk_group, mtp_layers;
    int weight_dtype;               /* RK_DTYPE_F8_E4M3 (deepseek default), BF16, F16 or F32 */
    uint64_t shard_bytes;           /* 0: one model.safetensors */
    uint64_t seed;
    int tie_embeddings;
    int scales_at_end;              /* put every weight_scale_inv after all weights (so that, sharded, scales
                                       live in other shards than their weights, as happens in R1's release) */
} rk_sample_opts;

/* preset: "tiny" (a few MB; one FP8 dim not a multiple of 128) or "bench" (several GB, R1-shaped ratios). */
int rk_sample_defaults(rk_sample_opts *o, const char *arch, const char *preset, rk_err *err);
/* Creates dir if needed and writes the checkpoint. Existing files of the same names are replaced atomically. */
int rk_sample_write(const char *dir, const rk_sample_opts *o, rk_err *err);
/* Total bytes of tensor data the options produce (for planning). */
uint64_t rk_sample_nbytes(const rk_sample_opts *o);
/* Llama 3.1's rope_scaling object (rope_type llama3, factor 8, low/high frequency factors 1 and 4, original context
 * 8192) added to the config object j: the sample llama models and distill's llama presets. */
struct cJSON;
void rk_sample_add_llama3_rope(struct cJSON *j);
#endif
