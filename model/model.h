/* model/model.h — the inference engine: loads a checkpoint (Hugging Face folder, a safetensors/PyTorch file with
 * its config.json beside it, or a GGUF file in llama.cpp's layout as `r1kit convert` writes it) of a supported
 * family and runs the forward pass with a KV cache.
 *
 *   deepseek_v3 / deepseek_v2: MLA attention (low-rank q and kv, decoupled RoPE key shared across heads,
 *     YaRN), MoE FFN with group-limited routing (sigmoid + e_score_correction_bias for noaux_tc, softmax for V2),
 *     shared experts, first_k_dense_replace dense layers. Follows HF modeling_deepseek.py / DeepSeek's
 *     inference/model.py. MTP layers (index >= num_hidden_layers) are ignored (see rk_model_notes).
 *   qwen2: GQA with q/k/v biases, rotate_half RoPE, tied embeddings per config.
 *   llama: GQA, no biases, llama3 rope scaling.
 *
 * Weights stay where the checkpoint maps them, in their stored dtype (F32/F16/BF16/FP8-E4M3 + block scale_inv);
 * only norms, biases and other small vectors are converted to f32 at load. Every expected tensor is checked at
 * load against the shape the config implies; any mismatch is an error that names the tensor.
 *
 * Activations live in buffers owned by the model and sized for the largest batch seen (llm.c style), so a
 * model is used by one thread at a time (the kernels themselves use OpenMP). Errors: 0 or a negative RK_E*
 * with err filled; nothing aborts or prints. */
#ifndef RK_MODEL_MODEL_H
#define RK_MODEL_MODEL_H
#include <stdint.h>
#include "formats/common.h"
#include "formats/hfconfig.h"

typedef struct rk_model rk_model;
typedef struct rk_kvcache rk_kvcache;
struct rk_ckpt;

/* path: HF folder (config.json + safetensors / pytorch shards), a single .safetensors/.bin file with
 * config.json in the same folder, or a .gguf (config from its <arch>.* keys; F32/F16/BF16 tensors and the ggml
 * block types of quantize/quants.h — Q8_0, Q4_0, Q2_K..Q6_K, TQ2_0 — run from the map without dequantizing the
 * model; other block types (Q5_0, Q4_1, IQ*) are refused by name; DeepSeek's yarn mscale is not stored in GGUF
 * and is taken equal to mscale_all_dim, as llama.cpp does). */
int  rk_model_load(rk_model **out, const char *path, rk_err *err);
void rk_model_free(rk_model *m);                                   /* NULL ok */
const rk_hf_config *rk_model_config(const rk_model *m);
int64_t rk_model_vocab(const rk_model *m);                          /* logits per token (config vocab_size) */
int64_t rk_model_hidden(const rk_model *m);
int64_t rk_model_layers(const rk_model *m);
const char *rk_model_arch_name(const rk_model *m);                  /* "deepseek2", "qwen2", "llama" */
struct rk_ckpt *rk_model_ckpt(const rk_model *m);                   /* the open checkpoint (owned by the model) */
/* Things the caller may want to log, one per line, "" if none (e.g. "ignored 17 tensors of layers 61..61 (>=
 * num_hidden_layers 61: multi-token prediction)"). */
const char *rk_model_notes(const rk_model *m);

/* ---- KV cache -------------------------------------------------------------------------------------------
 * One sequence. For MLA the cache holds the expanded per-head keys [pos, H, nope+rope] and values [pos, H, v]
 * (f32). Positions are 0..len-1; a forward appends at len. */
rk_kvcache *rk_kvcache_new(const rk_model *m, int64_t max_ctx, rk_err *err);
void rk_kvcache_free(rk_kvcache *kv);                               /* NULL ok */
void rk_kvcache_clear(rk_kvcache *kv);                              /* len = 0 */
int64_t rk_kvcache_len(const rk_kvcache *kv);
int64_t rk_kvcache_capacity(const rk_kvcache *kv);
/* Bytes the cache needs per position (all layers): 4 * layers * kv_heads * (key + value head widths).
 * R1: 61 * 128 * (192 + 128) * 4 = 10 MB per token; R1-Distill-Qwen-1.5B: 57 KB. */
uint64_t rk_kvcache_bytes_per_token(const rk_model *m);
/* Drop positions >= len (len <= current length), e.g. to re-run from a shared prefix. */
int rk_kvcache_truncate(rk_kvcache *kv, int64_t len, rk_err *err);

/* ---- forward ------------------------------------------------------------------------------------------------
 * Runs tokens[0..n) at positions kv_len .. kv_len+n-1 and appends them to kv (batched prompt processing and
 * token-by-token decode are the same call). logits: [n, vocab] f32, or NULL to skip the output head.
 * Errors: token id outside [0, vocab), n <= 0, cache full (RK_EINVAL); kv made for another model. */
int rk_model_forward(rk_model *m, rk_kvcache *kv, const int32_t *tokens, int64_t n, float *logits, rk_err *err);
/* Same, but writes only the last token's logits [vocab] (generation). */
int rk_model_forward_last(rk_model *m, rk_kvcache *kv, const int32_t *tokens, int64_t n, float *logits, rk_err *err);

/* ---- MoE routing statistics ----------------------------------------------------------------------------------
 * Accumulated over every forward since load or the last reset. For MoE layers only. */
typedef struct rk_routing {
    int64_t layer;             /* layer index (0-based) */
    int64_t n_experts;
    int64_t top_k;
    uint64_t tokens;           /* tokens that went through this layer */
    const uint64_t *count;     /* [n_experts]: times each expert was selected (sum = tokens * top_k) */
    const double *weight_sum;  /* [n_experts]: sum of the final gate weights it received (after scaling) */
} rk_routing;
/* 0 and *out filled if layer il is an MoE layer; RK_ENOTFOUND if it is dense or out of range. Pointers stay
 * valid until the next forward, reset or free. */
int  rk_model_routing(const rk_model *m, int64_t il, rk_routing *out);
void rk_model_routing_reset(rk_model *m);

/* ---- activation observer (imatrix) ---------------------------------------------------------------------------
 * When set, called once per linear weight per forward with the f32 input rows that weight multiplied:
 * x [n, cols], where for a routed expert only the tokens routed to it are passed (n may be 0: not called).
 * name is the checkpoint tensor name ("model.layers.3.mlp.experts.5.gate_proj.weight"; in a GGUF the stacked
 * "blk.3.ffn_gate_exps.weight"); layer is -1 for the output head; expert is the routed expert's index (>= 0)
 * or -1 for every other weight. Called from the forwarding thread, after the experts ran. */
typedef void (*rk_model_observer)(void *ctx, const char *name, int64_t layer, int64_t expert,
                                  const float *x, int64_t n, int64_t cols);
void rk_model_set_observer(rk_model *m, rk_model_observer fn, void *ctx);
#endif
