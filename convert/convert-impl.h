/* convert/convert-impl.h — internals shared by the converter's files: the tensor plan (what each output tensor
 * is made of), logging, and the KV writer. Not part of the public API. */
#ifndef RK_CONVERT_IMPL_H
#define RK_CONVERT_IMPL_H
#include "convert/convert.h"
#include "formats/checkpoint.h"
#include "formats/gguf.h"
#include "formats/hfconfig.h"
#include "formats/hftokenizer.h"

typedef enum rk_cv_kind {
    RK_CV_COPY = 0,       /* one source tensor, same element order */
    RK_CV_PERMUTE = 1,    /* llama q/k: rows regrouped from rotate-half to adjacent pairs per head */
    RK_CV_STACK = 2,      /* routed experts: n sources [out, in] → [n, out, in] */
    RK_CV_K_B = 3,        /* kv_b_proj → attn_k_b [H, kv_lora, nope] (K part, transposed per head) */
    RK_CV_V_B = 4,        /* kv_b_proj → attn_v_b [H, v_head, kv_lora] */
    RK_CV_ROPE_FREQS = 5, /* llama3 rope factors, generated */
    RK_CV_SLICE = 6,      /* one expert of a stacked GGUF source [E, out, in]: matrix `slice` */
} rk_cv_kind;

typedef struct rk_cv_item {
    char name[65];        /* GGUF tensor name */
    int kind;             /* rk_cv_kind */
    int type;             /* output ggml type */
    int src_dtype;        /* dtype of the (first) source, for logs and "auto" */
    uint32_t n_dims;
    int64_t ne[4];        /* innermost first */
    int64_t src;          /* checkpoint index (all kinds but STACK and ROPE_FREQS) */
    int64_t *srcs;        /* STACK: one index per expert */
    int64_t n_srcs;
    int64_t heads;        /* PERMUTE / K_B / V_B */
    int64_t nope, vdim;   /* K_B / V_B */
    int64_t slice;        /* SLICE: the expert */
    int fell_back;        /* Q8_0 requested but rows are not multiples of 32 → F16 */
    int64_t order_layer;  /* sort key: -1 token_embd/rope_freqs, layer index, INT64_MAX output */
    size_t order_seq;
} rk_cv_item;

typedef struct rk_cv_plan {
    rk_cv_item *items;
    size_t n, cap;
    size_t n_skipped_mtp;     /* source tensors dropped because they belong to MTP layers */
    uint32_t file_type;       /* llama_ftype for general.file_type */
} rk_cv_plan;

typedef struct rk_cv_log {
    rk_convert_log_fn fn;
    void *user;
} rk_cv_log;
void rk_cv_logf(const rk_cv_log *lg, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* convert_plan.c */
int  rk_cv_build_plan(rk_cv_plan *p, rk_ckpt *ck, const rk_hf_config *cfg, int outtype, const rk_cv_log *lg, rk_err *err);
void rk_cv_plan_free(rk_cv_plan *p);
/* llama3 rope factors (head_dim/2 values) as llama.cpp's generate_extra_tensors computes them */
/* Rows per streaming chunk for tensor t: about 4M elements (16 MB as f32), whole 128-row FP8 scale blocks
 * when it can, all rows for tensors that are not memory-mapped (PyTorch zip). Always >= 1 when t has rows. */
int64_t rk_cv_chunk_rows(const rk_ckpt_tensor *t);
void rk_cv_llama3_rope_factors(const rk_hf_config *cfg, float *out, int64_t n);

/* r1kit's per-expert layout (convert.h, RK_CONVERT_EXPERTS_SPLIT): every blk.N.ffn_{gate,up,down}_exps item is
 * replaced, in place, by one 2-D item per expert named blk.N.ffn_{gate,up,down}.E.weight (STACK → COPY of the
 * expert's source, a 3-D GGUF COPY → SLICE). */
int rk_cv_split_experts(rk_cv_plan *p, rk_err *err);

/* convert_gguf.c — GGUF input (quantize mode): one COPY item per tensor in file order, KVs copied */
int rk_cv_build_plan_gguf(rk_cv_plan *p, rk_ckpt *ck, rk_err *err);
int rk_cv_copy_kv(rk_gguf_writer *w, const rk_gguf *g, uint32_t file_type, rk_err *err);

/* convert_kv.c */
int rk_cv_write_kv(rk_gguf_writer *w, const rk_hf_config *cfg, const rk_hf_tokenizer *tok, const char *name,
                   uint32_t file_type, rk_err *err);
#endif
