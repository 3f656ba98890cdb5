/* model/kernels.h — the engine's compute kernels, each a forward/backward pair over explicit buffers (llm.c
 * style): the forward writes its output, the backward ACCUMULATES (+=) into the gradient buffers it is given, so
 * the training loop (a later issue) can chain them without a rewrite. f32 compute throughout.
 *
 * Weights are used in their stored dtype, never copied to f32 whole: rk_wview describes a row-major [rows, cols]
 * matrix (rows = out features, cols = in features, as PyTorch/HF store nn.Linear) in F32, F16, BF16 or
 * F8_E4M3 with DeepSeek's block scale_inv; kernels convert rows on the fly. Later issues add ggml block types.
 *
 * The matmul family has a scalar *_ref version (the definition) and a fast path (cache blocking, AVX2/FMA/F16C
 * picked once at run time via CPUID, OpenMP over rows/tokens); RK_FORCE_REF=1 in the environment (read at the
 * first call) forces the reference everywhere. The memory-bound kernels (RMSNorm, losses, RoPE, the backward of
 * SwiGLU) are one scalar implementation that is its own reference, parallel over rows; SwiGLU and the softmax row
 * have an AVX2 path with a polynomial exp (about 2 ulp, tested against double over its range) next to the scalar
 * reference; attention uses the matmul's dot product (SIMD or reference). Tests compare fast vs ref (tolerance for dot products) and backward vs finite
 * differences.
 * Implementation: model/kernels/ (ref.c the scalar definitions, avx2.c, dispatch.c, norm.c, loss.c, rope.c,
 * attention.c). Every reduction has a fixed order: results are deterministic and do not depend on the number
 * of OpenMP threads. Kernels are void and do nothing on NULL/invalid views or non-positive sizes. */
#ifndef RK_MODEL_KERNELS_H
#define RK_MODEL_KERNELS_H
#include <stdint.h>
#include "formats/common.h"

typedef struct rk_wview {
    int dtype;               /* RK_DTYPE_F32, F16, BF16, F8_E4M3, or a ggml block type of quantize/quants.h
                                (rows of whole blocks; decode-sized batches use its integer vec_dot against
                                8-bit activations, prompt-sized ones dequantize tiles into the f32 kernel) */
    const void *data;        /* rows*cols elements, row-major */
    int64_t rows, cols;
    const float *scale;      /* F8_E4M3: [ceil(rows/block), ceil(cols/block)] f32 scale_inv, else NULL */
    int64_t block;           /* FP8 block edge (128) */
} rk_wview;

/* y[n, rows] = x[n, cols] · Wᵀ (+ bias[rows] when bias != NULL). y and x do not alias.
 * _ref: each dot product in double, column order, rounded once to f32. Fast path (avx2.c): f32 FMA in 8 lanes +
 * fixed horizontal sum for n < 16, a packed 6-token x 16-row micro-kernel in 256-column blocks for n >= 16;
 * |fast − ref| <= ~1e-6·Σ|x·w| (tested). Results do not depend on the thread count or on how a prompt of >= 16
 * tokens is split into batches; prompts below 16 tokens and single-token decode may differ from it in the last bits. */
void rk_matmul(float *y, const float *x, const rk_wview *w, const float *bias, int64_t n);
void rk_matmul_ref(float *y, const float *x, const rk_wview *w, const float *bias, int64_t n);
/* dx[n, cols] += dy · W;  dw[rows, cols] += dyᵀ · x (an f32 gradient of the dequantized weights; meant for F32
 * weights);  dbias[rows] += Σ dy. Any of dx, dw, dbias may be NULL. */
void rk_matmul_backward(float *dx, float *dw, float *dbias, const float *dy, const float *x, const rk_wview *w, int64_t n);
void rk_matmul_backward_ref(float *dx, float *dw, float *dbias, const float *dy, const float *x, const rk_wview *w,
                            int64_t n);
/* Row r of W as f32 (used by embeddings and tests). */
void rk_wview_row(const rk_wview *w, int64_t r, float *out);

/* RMSNorm over the last dim: y = x / sqrt(mean(x²) + eps) * weight (weight NULL: 1). rstd[n] (may be NULL in
 * inference) keeps 1/rms; the backward needs it (it does nothing with rstd == NULL). */
void rk_rmsnorm(float *y, float *rstd, const float *x, const float *weight, int64_t n, int64_t dim, float eps);
void rk_rmsnorm_backward(float *dx, float *dweight, const float *dy, const float *x, const float *weight,
                         const float *rstd, int64_t n, int64_t dim);

/* SwiGLU: out = silu(gate) * up, elementwise over n. */
void rk_swiglu(float *out, const float *gate, const float *up, int64_t n);
void rk_swiglu_backward(float *dgate, float *dup, const float *dout, const float *gate, const float *up, int64_t n);

/* Numerically stable softmax in place over rows of length len (n rows). An all -inf row becomes zeros. */
void rk_softmax(float *x, int64_t n, int64_t len);

/* RoPE. A rope table holds cos/sin for positions [0, n_pos) and rot_dim/2 frequencies, already including any
 * scaling (YaRN frequency blend and its magnitude factor mscale folded into cos/sin, llama3 factors, linear).
 * Apply to x laid out [n_tok, n_head, head_stride] at positions pos[t], rotating dims [off, off+rot_dim) of each head.
 * interleaved=1: pairs (2i, 2i+1) (GPT-J / DeepSeek reference / GGUF "norm" rope);
 * interleaved=0: pairs (i, i+rot_dim/2) (HF rotate_half / NEOX). backward = rotation by -angle, in place (dx holds
 * d(out) on entry and d(in) on return). pos == NULL means positions 0..n_tok-1; a token whose position is outside
 * [0, n_pos) is left unchanged (callers size the table). Table formulas: see model/kernels/rope.c.
 * YaRN: attn_factor = get_mscale(factor, mscale)/get_mscale(factor, mscale_all_dim) (DeepSeek); for HF configs
 * without mscale fields pass mscale = 1, mscale_all_dim = 0 (HF's default get_mscale(factor)).
 * DeepSeek-V3/R1: interleaved=1 on q_pe/k_pe as stored in the HF checkpoint. DeepSeek's inference/model.py rotates
 * pairs (2i, 2i+1); HF modeling_deepseek de-interleaves q/k first and then applies rotate_half, which yields the
 * same values in permuted order (identical q·k). Qwen2/Llama: interleaved=0. Both checked against torch
 * (tests/model/test_rope_torch.c). */
typedef struct rk_rope_table { int64_t n_pos, rot_dim; float *cos, *sin; float attn_factor; } rk_rope_table;
typedef enum { RK_ROPE_NONE = 0, RK_ROPE_LINEAR, RK_ROPE_YARN, RK_ROPE_LLAMA3 } rk_rope_kind;
typedef struct rk_rope_params {
    int kind;                         /* rk_rope_kind */
    double theta, factor;             /* base, scaling factor */
    double orig_ctx;                  /* original_max_position_embeddings */
    double beta_fast, beta_slow, mscale, mscale_all_dim;          /* YaRN */
    double low_freq_factor, high_freq_factor;                      /* llama3 */
} rk_rope_params;
/* 0 ok; RK_EINVAL (bad parameters, named in err) or RK_ENOMEM. t is zeroed first; free with rk_rope_table_free. */
int  rk_rope_table_init(rk_rope_table *t, const rk_rope_params *p, int64_t rot_dim, int64_t n_pos, rk_err *err);
void rk_rope_table_free(rk_rope_table *t);
void rk_rope(float *x, const int64_t *pos, int64_t n_tok, int64_t n_head, int64_t head_stride, int64_t off,
             const rk_rope_table *t, int interleaved);
void rk_rope_backward(float *dx, const int64_t *pos, int64_t n_tok, int64_t n_head, int64_t head_stride, int64_t off,
                      const rk_rope_table *t, int interleaved);
/* YaRN's softmax-scale correction: mscale(factor, mscale_all_dim)² multiplies 1/sqrt(d) when mscale_all_dim > 0. */
double rk_yarn_get_mscale(double scale, double mscale);

/* Causal attention for one sequence, GQA-aware. q [T, Hq, dk], k [S, Hk, dk], v [S, Hk, dv] where the T queries sit
 * at key positions q_pos0 .. q_pos0+T-1 (S >= q_pos0+T: keys before q_pos0 come from a cache). out [T, Hq, dv];
 * att [Hq, T, S] (may be NULL in inference) keeps probabilities for backward (zeros past the causal limit).
 * Hq % Hk == 0. The backward accumulates into dq, dk_, dv_ (each may be NULL); with att == NULL it recomputes
 * the probabilities. */
void rk_attention(float *out, float *att, const float *q, const float *k, const float *v, int64_t T, int64_t S,
                  int64_t q_pos0, int64_t Hq, int64_t Hk, int64_t dk, int64_t dv, float scale);
void rk_attention_backward(float *dq, float *dk_, float *dv_, const float *dout, const float *att, const float *q,
                           const float *k, const float *v, int64_t T, int64_t S, int64_t q_pos0, int64_t Hq,
                           int64_t Hk, int64_t dk, int64_t dv, float scale);

/* The k largest entries of row[0..n) (k <= n): their ids and values into ids[k], vals[k] in heap order (not sorted).
 * Order: larger value first, ties to the lower id (NaN never enters). O(n log k). Used by the stored top-k files
 * (verify's base file, distill's teacher cache), so that both keep the same entries. */
void rk_top_k(const float *row, int64_t n, int64_t k, int32_t *ids, float *vals);

/* Cross-entropy over logits [n, vocab] with targets[n] (target < 0: ignored). Returns the summed loss (double) and,
 * when dlogits != NULL, writes dlogits = (softmax - onehot) * grad_scale (zeros on ignored rows). log-sum-exp in
 * double after subtracting the row max. A target >= vocab makes the loss NaN. */
double rk_cross_entropy(float *dlogits, const float *logits, const int32_t *targets, int64_t n, int64_t vocab, float grad_scale);
/* log-softmax NLL of one row (used by perplexity): -log p(target); NaN if target is not in [0, vocab). */
double rk_nll_row(const float *logits, int64_t vocab, int32_t target);

/* SIMD selection, for logs and benchmarks: "avx2+fma+avx512f", "avx2+fma" or "ref". */
const char *rk_kernels_isa(void);
#endif
