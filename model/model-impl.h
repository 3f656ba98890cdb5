/* model/model-impl.h — internals shared by model.c (loading, validation, common forward driver),
 * arch_deepseek.c (MLA + MoE layers), arch_dense.c (qwen2, llama layers) and kvcache.c. Not a public header. */
#ifndef RK_MODEL_MODEL_IMPL_H
#define RK_MODEL_MODEL_IMPL_H
#include "model/model.h"
#include "model/kernels.h"
#include "formats/checkpoint.h"

/* A linear layer: weight view over checkpoint bytes, optional f32 bias (owned), checkpoint name (for the
 * observer; points into the checkpoint's tensor table). */
typedef struct rk_lin {
    rk_wview w;
    float *bias;
    const char *name;
} rk_lin;

typedef struct rk_layer {
    float *attn_norm, *ffn_norm;          /* [hidden] f32 */
    /* dense attention (qwen2/llama); q also serves deepseek's plain q_proj when q_lora_rank is 0 */
    rk_lin q, k, v, o;
    /* MLA */
    rk_lin q_a, q_b, kv_a, kv_b;
    float *q_a_norm, *kv_a_norm;
    /* FFN */
    int moe;
    rk_lin gate, up, down;                /* dense MLP */
    rk_lin router;                        /* [n_experts, hidden] */
    float *score_bias;                    /* e_score_correction_bias [n_experts] f32, or NULL */
    rk_lin *eg, *eu, *ed;                 /* [n_experts] routed experts */
    int has_shared;
    rk_lin sg, su, sd;                    /* shared experts (merged, n_shared * moe_inter wide) */
    rk_lin *kb, *vb;                      /* GGUF split kv_b: per head attn_k_b [kv_lora, nope], attn_v_b [v, kv_lora] */
    /* routing statistics */
    uint64_t *count;
    double *wsum;
    uint64_t tokens;
} rk_layer;

/* activation buffers for a chunk of up to cap tokens (llm.c style: sized once, reused) */
typedef struct rk_acts {
    int64_t cap;
    float *x, *xn, *tmp;                  /* [cap, hidden] */
    float *q;                             /* [cap, Hq * dq] */
    float *k, *v;                         /* dense: [cap, Hk*hd]; */
    float *qa;                            /* [2, cap, q_lora]: q_a output, then normalized */
    float *kva;                           /* [cap, kv_lora + rope] */
    float *lat;                           /* [cap, kv_lora] */
    float *kvb;                           /* [cap, H * (nope + v)] */
    float *att;                           /* [cap, Hq * dv] */
    float *hg, *hu;                       /* [cap, max ffn width] */
    float *rlog;                          /* [cap, n_experts] router scores */
    float *rsel;                          /* [cap, n_experts] biased scores for choice */
    int32_t *sel;                         /* [cap, top_k] chosen experts */
    float *selw;                          /* [cap, top_k] their weights */
    int32_t *perm;                        /* [2*cap*top_k]: slot ids grouped by expert, then slot -> row */
    int64_t *eoff;                        /* [n_experts + 1] segment offsets, then fill counters */
    int32_t *active;                      /* [n_experts] experts with tokens this chunk */
    float *xg, *ys;                       /* [cap*top_k, hidden] */
    float *eg, *eu;                       /* [cap*top_k, moe_inter] */
    int64_t *pos;                         /* [cap] */
    float *hs;                            /* [cap, max(nope, v)] per-head scratch (GGUF split kv_b) */
} rk_acts;

struct rk_model {
    rk_hf_config cfg;
    rk_ckpt *ck;
    int arch;                             /* rk_hf_arch */
    int v2;                               /* deepseek_v2 gate semantics */
    int gguf;                             /* tensors named and laid out as llama.cpp's GGUF */
    int64_t vocab, hidden, n_layers;
    int64_t hq, hk, dq, dk, dv;           /* heads; per-head query/key width and value width */
    int64_t ffn_max;                      /* widest dense/shared FFN */
    rk_wview embed;
    rk_lin head;                          /* lm_head or tied embedding */
    float *final_norm;
    rk_layer *layers;
    rk_rope_params rope_params;
    rk_rope_table rope;                   /* built lazily for the largest cache seen */
    int64_t rot_dim;
    int rope_interleaved;
    float attn_scale;
    float eps;
    char *notes;
    size_t notes_len;
    rk_model_observer obs;
    void *obs_ctx;
    rk_acts a;
    void **owned;                         /* f32 vectors converted at load; weights read from unmappable storage */
    size_t n_owned, cap_owned;
    uint64_t read_bytes;                  /* bytes of weights read into memory (PyTorch zips) */
};

struct rk_kvcache {
    const rk_model *m;
    int64_t cap, len, n_layers;
    int64_t kw, vw;                       /* floats per position per layer: Hk*dk, Hk*dv */
    float **k, **v;                       /* [n_layers][cap * kw], [n_layers][cap * vw] */
};

#define RK_MAX_EXPERTS 4096                /* routed experts per layer the engine accepts */
#define RK_CHUNK 256                      /* tokens per internal forward chunk */

/* model.c */
/* RoPE parameters and the attention softmax scale a config implies (YaRN's mscale² correction for DeepSeek);
 * where names the config in messages. RK_EUNSUPPORTED for a rope_scaling type the engine lacks. */
int  rk__rope_config(const rk_hf_config *c, const char *where, rk_rope_params *p, float *attn_scale, rk_err *err);
int  rk__acts_reserve(rk_model *m, int64_t n, rk_err *err);
void rk__observe(rk_model *m, const rk_lin *l, int64_t layer, int64_t expert, const float *x, int64_t n);
/* y = x·Wᵀ (+bias), notifying the observer */
void rk__linear(rk_model *m, float *y, const float *x, const rk_lin *l, int64_t n, int64_t layer);

/* arch_deepseek.c */
int  rk__deepseek_load_layer(rk_model *m, int64_t il, rk_err *err);
void rk__deepseek_attention(rk_model *m, rk_kvcache *kv, int64_t il, int64_t n, int64_t p0);
void rk__deepseek_ffn(rk_model *m, int64_t il, int64_t n);
/* Routing of one token (shared with training): scores s[E] (already sigmoid/softmax), choice[E] scratch;
 * writes the chosen experts sel[K] (in choice order) and their gate weights w[K]: s of the chosen, normalised
 * when norm_topk_prob (K > 1), times routed_scaling_factor (V2, v2 = 1: only when not normalised). */
void rk__route_token(const rk_hf_config *c, int v2, const float *score_bias, const float *s, float *choice,
                     int32_t *sel, float *w);
/* arch_dense.c */
int  rk__dense_load_layer(rk_model *m, int64_t il, rk_err *err);
void rk__dense_attention(rk_model *m, rk_kvcache *kv, int64_t il, int64_t n, int64_t p0);
void rk__mlp(rk_model *m, const rk_lin *g, const rk_lin *u, const rk_lin *d, int64_t width, float *out,
             const float *x, int64_t n, int64_t layer);

/* model_gguf.c */
const rk_ckpt_tensor *rk__find(const rk_model *m, const char *hf_name);   /* HF name, translated for GGUF */
const char *rk__display_name(const rk_model *m, const char *hf_name, char *buf, size_t cap);
int rk__gguf_config(rk_model *m, rk_err *err);
/* 1 when layer il holds llama.cpp's stacked blk.N.ffn_*_exps tensors; 0 for r1kit's per-expert layout
 * (blk.N.ffn_{gate,up,down}.E.weight, each its own type, found through the HF names by rk__find) */
int rk__gguf_stacked_experts(const rk_model *m, int64_t il);
int rk__gguf_expert(rk_model *m, rk_lin *l, int64_t il, int64_t e, int which, int64_t rows, int64_t cols, rk_err *err);
int rk__gguf_kv_split(rk_model *m, rk_layer *L, int64_t il, rk_err *err);
int rk__gguf_rope_table(rk_model *m, rk_rope_table *t, int64_t n_pos, int *done, rk_err *err);

/* loader helpers (model.c) */
/* 1 if the kernels (model/kernels.h) run weights of this dtype; the one place to extend when they grow
 * ggml block types */
int rk__weight_dtype_ok(int dtype);
int rk__get_lin(rk_model *m, rk_lin *l, const char *name, int64_t rows, int64_t cols, rk_err *err);
int rk__get_vec(rk_model *m, float **out, const char *name, int64_t len, int optional, rk_err *err);
#endif
