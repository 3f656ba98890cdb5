/* formats/checkpoint.h — one view over every checkpoint r1kit reads: a Hugging Face folder (safetensors,
 * single or sharded, incl. DeepSeek FP8 with weight_scale_inv; or PyTorch zip .bin, single or sharded), a
 * single .safetensors/.bin/.pt/.pth file, or a GGUF file. Tensors keep their stored dtype and are read in
 * place where the format allows (mmap); rk_ckpt_read_f32 dequantizes one tensor at a time, so callers
 * hold at most a few tensors in memory whatever the model's size. */
#ifndef RK_FORMATS_CHECKPOINT_H
#define RK_FORMATS_CHECKPOINT_H
#include "formats/common.h"

typedef enum rk_ckpt_format { RK_CKPT_SAFETENSORS = 1, RK_CKPT_PYTORCH = 2, RK_CKPT_GGUF = 3 } rk_ckpt_format;

typedef struct rk_ckpt_tensor {
    const char *name;
    int dtype;                     /* rk_dtype */
    int n_dims;
    int64_t shape[RK_MAX_DIMS];    /* outermost first (PyTorch order; GGUF's ne reversed) */
    uint64_t numel;
    uint64_t nbytes;
    const uint8_t *data;           /* bytes in place (mmap) or NULL: then use rk_ckpt_read */
    int file;                      /* index of the file that holds it (shard) */
    int64_t scale;                 /* index of its FP8 "<name>_scale_inv" companion, or -1 */
    int is_scale;                  /* 1 if this tensor is some other tensor's scale_inv companion */
} rk_ckpt_tensor;

typedef struct rk_ckpt rk_ckpt;
int  rk_ckpt_open(rk_ckpt **out, const char *path, rk_err *err);
void rk_ckpt_close(rk_ckpt *ck);                                /* NULL ok */
rk_ckpt_format rk_ckpt_format_of(const rk_ckpt *ck);
const char *rk_ckpt_format_name(const rk_ckpt *ck);             /* "safetensors", "pytorch", "gguf" */
const char *rk_ckpt_path(const rk_ckpt *ck);                    /* as given */
const char *rk_ckpt_dir(const rk_ckpt *ck);                     /* folder with config.json & tokenizer.json */
size_t rk_ckpt_file_count(const rk_ckpt *ck);
const char *rk_ckpt_file_path(const rk_ckpt *ck, size_t i);
size_t rk_ckpt_count(const rk_ckpt *ck);
const rk_ckpt_tensor *rk_ckpt_tensor_at(const rk_ckpt *ck, size_t i);
const rk_ckpt_tensor *rk_ckpt_find(const rk_ckpt *ck, const char *name);   /* NULL if absent */
int64_t rk_ckpt_index(const rk_ckpt *ck, const char *name);                /* -1 if absent */
/* FP8 block size for scale_inv (from config.json quantization_config.weight_block_size, default 128x128). */
void rk_ckpt_set_fp8_block(rk_ckpt *ck, int64_t rows, int64_t cols);
/* Raw stored bytes into dst (cap >= nbytes). */
int  rk_ckpt_read(rk_ckpt *ck, const rk_ckpt_tensor *t, void *dst, uint64_t cap, rk_err *err);
/* Elements as f32 into dst (n == numel): F32/F16/BF16/F64/ints/F8_E5M2 converted; F8_E4M3 with a scale_inv
 * companion dequantized per block (bit-exact to value*scale in f32); F8 without companion converted plainly.
 * GGUF block types: RK_EUNSUPPORTED until the quantize module registers decoders (rk_ckpt_set_decoder). */
int  rk_ckpt_read_f32(rk_ckpt *ck, const rk_ckpt_tensor *t, float *dst, uint64_t n, rk_err *err);
/* Rows [row0, row0+nrows) of t viewed as a matrix [shape[0], numel/shape[0]] (a 1-D tensor is one row per
 * element), as f32 into dst (nrows*row_len floats). Same conversions as rk_ckpt_read_f32; lets callers stream
 * a huge tensor in bounded memory. For block types, a row must hold whole blocks. */
int  rk_ckpt_read_f32_rows(rk_ckpt *ck, const rk_ckpt_tensor *t, int64_t row0, int64_t nrows, float *dst, rk_err *err);
/* Tell the OS that the tensor's mapped pages (and its scale's) are no longer needed, so that streaming over
 * a 700 GB checkpoint keeps resident memory flat (pages stay in the page cache, not in our RSS). */
void rk_ckpt_release(rk_ckpt *ck, const rk_ckpt_tensor *t);
typedef void (*rk_block_decoder)(const void *src, float *dst, int64_t n);
void rk_ckpt_set_decoder(int dtype, rk_block_decoder fn);      /* global table, for block types */

/* The GGUF behind a GGUF checkpoint (NULL otherwise); the first safetensors metadata map (NULL if none). */
struct rk_gguf;
const struct rk_gguf *rk_ckpt_gguf(const rk_ckpt *ck);
size_t rk_ckpt_meta_count(const rk_ckpt *ck);
int rk_ckpt_meta(const rk_ckpt *ck, size_t i, const char **key, const char **value);
#endif
