/* model/train.h — the training engine: a model of any supported architecture (deepseek_v3/v2, qwen2, llama) held
 * as f32 master parameters with gradients, a forward pass over a batch of B sequences of T tokens that keeps the
 * activations the backward needs (llm.c style: buffers sized for the largest batch seen, reused), and the
 * backward pass of every op into the gradients.
 *
 * The forward is the same computation as the inference engine (model/model.h; same kernels, same routing
 * function), written for full sequences from position 0 with saved activations; it is checked against the
 * inference engine's logits and against PyTorch autograd (tests/reference/make_train_fixtures.py).
 *
 * Loss of one call: ce_scale · Σ_tokens CE(logits_t, target_t) over targets >= 0, plus for MoE layers with
 * aux_scale > 0 the sequence-wise balance loss of DeepSeek-V3: aux_scale · Σ_layers (1/B) Σ_b Σ_i f_i·P_i with
 * f_i = N_r/(K_r·T)·#{t: t chose i}, P_i = (1/T) Σ_t s_i,t / Σ_j s_j,t (s: router scores before the bias).
 * Gradients are accumulated (+=) so that several calls make gradient accumulation; zero them with
 * rk_train_zero_grad. Routing chooses experts with e_score_correction_bias (selection only); the gradient
 * reaches the router through the chosen experts' gate weights. The bias is not a trained parameter: it moves by
 * rk_train_bias_update (DeepSeek-V3's auxiliary-loss-free balancing).
 *
 * Determinism: for a given thread count every result is bit-identical run to run (fixed reduction orders). */
#ifndef RK_MODEL_TRAIN_H
#define RK_MODEL_TRAIN_H
#include <stdint.h>
#include "formats/common.h"
#include "formats/hfconfig.h"

typedef struct rk_train rk_train;

typedef struct rk_tparam {
    const char *name;       /* HF tensor name, e.g. "model.layers.0.self_attn.q_proj.weight" */
    int ndim;               /* 1 or 2 */
    int64_t shape[2];       /* [rows, cols] or [len, 0] */
    int64_t n;              /* elements */
    float *w, *g;           /* parameter and gradient (g NULL for a non-trained buffer) */
    int decay;              /* 1 for matrices and embeddings: AdamW weight decay applies */
    int trainable;          /* 0 for e_score_correction_bias */
} rk_tparam;

/* A model with fresh parameters for the config.json at config_path: linear weights and embeddings ~ N(0, σ²) with
 * σ = initializer_range (0.02 when absent), norms 1, biases and score biases 0; seeded (rk_rng). The config's
 * text is kept and written back by rk_train_save. */
int rk_train_new(rk_train **out, const char *config_path, uint64_t seed, rk_err *err);
/* Parameters read from a checkpoint (HF folder or file with config.json; any dtype, FP8 dequantized). Errors name
 * the tensor: missing, misshapen, not finite. */
int rk_train_load(rk_train **out, const char *path, rk_err *err);
void rk_train_free(rk_train *t);   /* NULL ok */

const rk_hf_config *rk_train_config(const rk_train *t);
int rk_train_n_tensors(const rk_train *t);
const rk_tparam *rk_train_tensor(const rk_train *t, int i);
const rk_tparam *rk_train_find(const rk_train *t, const char *name);
/* All trainable parameters and gradients are one contiguous array each (tensor i at its offset), so the optimizer
 * runs over flat buffers. Non-trainable buffers are not in them. */
float *rk_train_params(rk_train *t, int64_t *n);
float *rk_train_grads(rk_train *t, int64_t *n);
int64_t rk_train_active_params(const rk_train *t);   /* weights multiplied per token: every matrix but the embedding
                                                        (the output head counted, also when tied), MoE: shared + top_k routed experts */
void rk_train_zero_grad(rk_train *t);

typedef struct rk_train_result {
    double ce_sum;          /* Σ CE over counted tokens (natural log) */
    int64_t n_tokens;       /* targets >= 0 */
    double aux;             /* balance loss value (before aux_scale), summed over MoE layers */
} rk_train_result;

/* Forward + backward over inputs/targets [B, T] (targets < 0 ignored). RK_EINVAL for a token outside the vocabulary,
 * B or T <= 0, T beyond max_position_embeddings; RK_ENOMEM. */
int rk_train_step(rk_train *t, const int32_t *inputs, const int32_t *targets, int64_t B, int64_t T, float ce_scale,
                  float aux_scale, rk_train_result *res, rk_err *err);
/* The same with the caller's loss (distillation): after the forward, fn(user, logits, n = B·T, vocab, err) gets the
 * logits [n, vocab] (rows in batch order) and must overwrite them in place with d(loss)/d(logits); a non-zero
 * return aborts the step (gradients untouched) and is returned. res->ce_sum and n_tokens stay 0. */
typedef int (*rk_train_loss_fn)(void *user, float *logits, int64_t n, int64_t vocab, rk_err *err);
int rk_train_step_fn(rk_train *t, const int32_t *inputs, int64_t B, int64_t T, rk_train_loss_fn fn, void *user,
                     float aux_scale, rk_train_result *res, rk_err *err);
/* Forward only (evaluation). logits may be NULL; else [B·T, vocab] are written. Does not touch gradients or the
 * load counts. */
int rk_train_eval(rk_train *t, const int32_t *inputs, const int32_t *targets, int64_t B, int64_t T, float *logits,
                  rk_train_result *res, rk_err *err);

/* ---- MoE balance ----------------------------------------------------------------------------------------------
 * Load = number of (token, slot) selections of each routed expert in rk_train_step calls since the last
 * rk_train_bias_update (evaluation does not count). For layer il (RK_ENOTFOUND if not an MoE layer): E counts. */
int rk_train_load_counts(const rk_train *t, int64_t il, const uint64_t **counts, int64_t *n_experts);
/* e_score_correction_bias_i += gamma · sign(mean_load − load_i) in every MoE layer, then the counts restart.
 * Also adds the counts to the cumulative per-layer totals (rk_train_load_totals) used for reports. */
void rk_train_bias_update(rk_train *t, double gamma);
int rk_train_load_totals(const rk_train *t, int64_t il, const uint64_t **counts, int64_t *n_experts);

/* ---- saving ----------------------------------------------------------------------------------------------------
 * HF folder: config.json (the original text; for RK_DTYPE_F8_E4M3 with quantization_config {quant_method fp8,
 * fmt e4m3, activation_scheme dynamic, weight_block_size [128, 128]} added, else with it removed, and torch_dtype
 * set), model.safetensors. dtype: RK_DTYPE_F32, RK_DTYPE_BF16, or RK_DTYPE_F8_E4M3 (R1's release layout: 2-D
 * linear weights of the decoder layers FP8 with <name>_scale_inv [ceil(r/128), ceil(c/128)] f32; embeddings, the
 * output head, norms, router BF16; e_score_correction_bias F32). Files are written atomically (temp + rename). */
int rk_train_save(const rk_train *t, const char *dir, int dtype, rk_err *err);
#endif
