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

#define RK_CONVERT_AUTO (-2)    /* outtype: keep F32/F16/BF16 as stored, FP8 → BF16 */

enum { RK_LOG_INFO = 0, RK_LOG_WARN = 1, RK_LOG_TENSOR = 2 /* one line per output tensor */ };
typedef void (*rk_convert_log_fn)(void *user, int level, const char *msg);

typedef struct rk_convert_opts {
    int outtype;             /* RK_DTYPE_F32, F16, BF16, Q8_0 or RK_CONVERT_AUTO (GGUF); safetensors ignores it */
    int threads;             /* OpenMP threads for encoding; 0 = default */
    rk_convert_log_fn log;   /* may be NULL */
    void *log_user;
    const char *name;        /* general.name; NULL = the input folder's name */
} rk_convert_opts;

void rk_convert_opts_init(rk_convert_opts *o);    /* outtype AUTO, threads 0, no log */
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
#endif
