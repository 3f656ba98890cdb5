/* convert/convert.h — Hugging Face checkpoint → GGUF (llama.cpp layout) and HF → HF with a dtype change.
 *
 * GGUF: architectures deepseek2 (DeepSeek-V3/R1, V2), qwen2 and llama, named and shaped exactly as llama.cpp's
 * convert_hf_to_gguf.py writes them (docs/gguf-layout.md): experts stacked, kv_b split into attn_k_b/attn_v_b,
 * q/k rows permuted for llama, MTP layers skipped, tokenizer embedded. The header is written first from the
 * tensor plan, then each tensor is produced from one source tensor (one expert) at a time, so memory stays a
 * small multiple of the largest tensor.
 *
 * safetensors: FP8 (weight_scale_inv) → BF16/F16/F32 like DeepSeek's fp8_cast_bf16.py, scale tensors dropped,
 * config.json copied without quantization_config, tokenizer files copied, optionally sharded with an index. */
#ifndef RK_CONVERT_CONVERT_H
#define RK_CONVERT_CONVERT_H
#include "formats/common.h"
#include "formats/hfconfig.h"

#define RK_CONVERT_AUTO (-2)
#define RK_CONVERT_FTYPE_MOSTLY 0xFFFFFFFFu    /* outtype: keep F32/F16/BF16 as stored, FP8 → BF16 */

enum { RK_LOG_INFO = 0, RK_LOG_WARN = 1, RK_LOG_TENSOR = 2 /* one line per output tensor */ };
typedef void (*rk_convert_log_fn)(void *user, int level, const char *msg);

/* ---- quantization hooks (used by `r1kit quantize`, quantize/recipe.h; unset = plain convert) ----
 * tensor_type is the per-tensor decision point: called once for every output tensor, in output order, after
 * the plan is built and before any byte is written, with the tensor's GGUF name and shape (ne innermost first).
 * It returns 0 and sets *type (F32, F16, BF16 or a block type of quantize/quants.h whose block divides ne[0]),
 * or an RK_E* code with err filled, which aborts the conversion. */
struct rk_gguf_writer;
struct rk_imatrix;
typedef struct rk_convert_tensor {
    const char *name;            /* GGUF name */
    uint32_t n_dims;
    const int64_t *ne;           /* [n_dims], innermost first */
    int src_dtype;               /* stored dtype of the (first) source tensor */
    const rk_hf_config *cfg;     /* the model's config; NULL when it could not be read from a GGUF input */
} rk_convert_tensor;
typedef int (*rk_convert_type_fn)(void *user, const rk_convert_tensor *t, int *type, rk_err *err);
/* extra KVs, written after the standard ones (all tensor_type calls have been made by then) */
typedef int (*rk_convert_kv_fn)(void *user, struct rk_gguf_writer *w, rk_err *err);
/* measurement pass (the budget allocator, quantize/alloc.h): with measure set, before tensor_type is asked,
 * every output tensor is produced once in f32 (same element order as written) and handed over in row runs:
 * rows [row0, row0 + n_rows) of matrix `mat` (the expert of a stacked tensor or the head of a 3-D one; 0 for a
 * matrix), x = n_rows * ne[0] values, rows of one run never cross matrices. Only the first measure_max_rows rows of
 * each matrix are handed over (0 = all): from 2-D sources, runs of 16 rows spread evenly over the matrix, and only
 * those are read; from stacked 3-D sources, the first rows of every matrix. */
typedef int (*rk_convert_measure_fn)(void *user, const rk_convert_tensor *t, int64_t mat, int64_t row0, int64_t n_rows,
                                     const float *x, rk_err *err);
enum { RK_CONVERT_EXPERTS_STACKED = 0, RK_CONVERT_EXPERTS_SPLIT = 1 };

typedef struct rk_convert_opts {
    int outtype;             /* RK_DTYPE_F32, F16, BF16, Q8_0 or RK_CONVERT_AUTO (GGUF); safetensors ignores it */
    int threads;             /* OpenMP threads for encoding; 0 = default */
    rk_convert_log_fn log;   /* may be NULL */
    void *log_user;
    const char *name;        /* general.name; NULL = the input folder's name */
    /* quantization (GGUF output only). With tensor_type set, outtype is ignored, the input may also be a GGUF
     * file (its KVs are copied, its tensors re-encoded; block types are dequantized first), block types are
     * encoded with quantize/quants.h's fast quantizers, row by row, with the importance vector of imatrix
     * (per expert for stacked experts) when imatrix has an entry for the tensor, and general.file_type is
     * file_type. Without an imatrix, each type with wants_imatrix is warned about once. */
    rk_convert_type_fn tensor_type;
    void *tensor_type_user;
    uint32_t file_type;                 /* RK_CONVERT_FTYPE_MOSTLY: from the type that holds the most bytes */
    const struct rk_imatrix *imatrix;   /* may be NULL */
    rk_convert_kv_fn extra_kv;          /* may be NULL */
    void *extra_kv_user;
    rk_convert_measure_fn measure;      /* may be NULL */
    void *measure_user;
    int64_t measure_max_rows;
    /* RK_CONVERT_EXPERTS_STACKED: llama.cpp's blk.N.ffn_*_exps [in, out, E] (default). RK_CONVERT_EXPERTS_SPLIT:
     * r1kit's per-expert layout, blk.N.ffn_{gate,up,down}.E.weight [in, out], each expert its own type (the engine
     * runs it; llama.cpp does not). From a GGUF input, stacked tensors are split; per-expert inputs are kept. */
    int experts;
} rk_convert_opts;

void rk_convert_opts_init(rk_convert_opts *o);    /* outtype AUTO, threads 0, no log, no quantization hooks */
/* "f32", "f16", "bf16", "q8_0", "auto" (case-insensitive) → outtype; RK_DTYPE_INVALID if unknown */
int rk_convert_outtype_from_name(const char *s);

/* in: HF folder (config.json, tokenizer.json, safetensors or pytorch_model*.bin, possibly sharded);
 * out: .gguf path (written through a temp file, renamed on success). o may be NULL (defaults). */
int rk_convert_to_gguf(const char *in, const char *out, const rk_convert_opts *o, rk_err *err);

/* dtype: RK_DTYPE_BF16, F16 or F32 (applies to floating tensors; integer tensors are copied).
 * max_shard_bytes 0 = one model.safetensors, else model-0000i-of-0000N.safetensors + index.
 * outdir is created if missing; files already there with the same names are replaced. */
int rk_convert_to_safetensors(const char *in, const char *outdir, int dtype, uint64_t max_shard_bytes,
                              const rk_convert_opts *o, rk_err *err);
/* ---- tensor names: one HF checkpoint name → its llama.cpp GGUF name (the mapping the GGUF converter uses;
 * docs/gguf-layout.md §4.1). Pure name logic for cfg's architecture: nothing is read, shapes are not checked. */
typedef enum rk_gguf_map_kind {
    RK_GGUF_MAP_ONE = 0,       /* one-to-one: name (llama q/k rows are permuted, the name is still one-to-one) */
    RK_GGUF_MAP_EXPERT = 1,    /* routed expert: slice `expert` of the stacked tensor name (blk.N.ffn_*_exps) */
    RK_GGUF_MAP_KV_B = 2,      /* DeepSeek kv_b_proj: split into name (attn_k_b) and name2 (attn_v_b) */
    RK_GGUF_MAP_DROP = 3,      /* no GGUF counterpart: rotary inv_freq, FP8 *_scale_inv, activation scales */
    RK_GGUF_MAP_DROP_MTP = 4,  /* a layer >= num_hidden_layers (DeepSeek multi-token prediction): dropped */
    RK_GGUF_MAP_DROP_TIED = 5, /* lm_head of a tie_word_embeddings model: llama.cpp uses token_embd */
} rk_gguf_map_kind;

typedef struct rk_gguf_map {
    int kind;                  /* rk_gguf_map_kind */
    char name[64];             /* GGUF name ("blk.3.ffn_up_exps.weight", "output.weight"); "" when dropped */
    char name2[64];            /* KV_B only: "blk.N.attn_v_b.weight" */
    char base[32];             /* name without "blk.N." and suffix ("ffn_up_exps", "attn_kv_b" for KV_B) */
    char suffix[8];            /* "weight" or "bias" */
    int64_t layer;             /* block index, -1 outside the blocks (token_embd, output_norm, output) */
    int64_t expert;            /* EXPERT: the expert index (not checked against n_routed_experts), else -1 */
    int proj;                  /* EXPERT: 0 gate_proj, 1 up_proj, 2 down_proj; else -1 */
} rk_gguf_map;

/* 0 and *out filled (a dropped name is a success with a DROP kind); RK_ENOTFOUND when the name has no GGUF
 * counterpart for cfg's architecture (err: "cannot map tensor '<name>' to a <arch> GGUF name"). Examples:
 * "model.layers.3.mlp.experts.5.up_proj.weight" → EXPERT "blk.3.ffn_up_exps.weight", expert 5;
 * "lm_head.weight" → "output.weight"; "model.layers.0.self_attn.kv_b_proj.weight" → KV_B
 * "blk.0.attn_k_b.weight" + "blk.0.attn_v_b.weight". */
int rk_convert_gguf_name(const rk_hf_config *cfg, const char *hf_name, rk_gguf_map *out, rk_err *err);
#endif
