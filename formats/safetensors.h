/* formats/safetensors.h — Hugging Face safetensors: read by mmap (single file or a sharded set
 * described by model.safetensors.index.json), and write (single or sharded, deterministic bytes).
 * Spec facts: ../shared/DESIGN.md. Reading validates everything before trusting it: header length
 * (<= 100,000,000 and within the file), UTF-8 JSON object, each entry's dtype/shape/data_offsets,
 * end-begin == numel*bits/8, no holes/overlaps once sorted, 8+N+last_end == file size, no duplicates. */
#ifndef RK_FORMATS_SAFETENSORS_H
#define RK_FORMATS_SAFETENSORS_H
#include "formats/common.h"

typedef struct rk_st_tensor {
    const char *name;
    int dtype;                     /* rk_dtype */
    int n_dims;                    /* 0 for a scalar */
    int64_t shape[RK_MAX_DIMS];    /* outermost first, as in the file */
    uint64_t offset;               /* absolute byte offset in its file */
    uint64_t nbytes;
    const uint8_t *data;           /* points into the map (NULL when nbytes == 0); may be unaligned */
    int shard;                     /* index of the file in a set (0 for a single file) */
} rk_st_tensor;

/* ---- one file ---- */
typedef struct rk_safetensors rk_safetensors;
int  rk_safetensors_open(rk_safetensors **out, const char *path, rk_err *err);
/* The same checks over bytes already in memory (fuzzing, embedded files). Nothing is copied: data must
 * outlive the handle. label names the bytes in messages (NULL: "<buffer>"). */
int  rk_safetensors_open_buffer(rk_safetensors **out, const void *data, size_t size, const char *label, rk_err *err);
void rk_safetensors_close(rk_safetensors *st);                      /* NULL ok */
size_t rk_safetensors_count(const rk_safetensors *st);
const rk_st_tensor *rk_safetensors_tensor(const rk_safetensors *st, size_t i);   /* file order (by offset) */
const rk_st_tensor *rk_safetensors_find(const rk_safetensors *st, const char *name);
size_t rk_safetensors_meta_count(const rk_safetensors *st);         /* __metadata__ entries */
int rk_safetensors_meta(const rk_safetensors *st, size_t i, const char **key, const char **value);
const char *rk_safetensors_meta_get(const rk_safetensors *st, const char *key);  /* NULL if absent */
const char *rk_safetensors_path(const rk_safetensors *st);
uint64_t rk_safetensors_header_len(const rk_safetensors *st);

/* ---- a set: a directory (model.safetensors.index.json, else model.safetensors, else exactly one
 * *.safetensors.index.json, else exactly one *.safetensors), an index .json path, or one .safetensors path.
 * All shards are opened and validated at open (maps are cheap). Shard names in weight_map must be plain file
 * names in the index's folder (no '/', '\\', ".."); shards are ordered by name. Every weight_map entry must
 * exist in its shard, and a tensor present in a shard but not mapped to that shard is an error.
 * Index "metadata" (total_size, ...) is not checked against the data: real indexes are often off. ---- */
typedef struct rk_st_set rk_st_set;
int  rk_st_set_open(rk_st_set **out, const char *path, rk_err *err);
void rk_st_set_close(rk_st_set *s);
size_t rk_st_set_count(const rk_st_set *s);
const rk_st_tensor *rk_st_set_tensor(const rk_st_set *s, size_t i);      /* shard order, then file order */
const rk_st_tensor *rk_st_set_find(const rk_st_set *s, const char *name);
size_t rk_st_set_shard_count(const rk_st_set *s);
const rk_safetensors *rk_st_set_shard(const rk_st_set *s, size_t i);

/* ---- writer: declare all tensors, begin, stream the data of each tensor in declared order, finish.
 * Bytes are deterministic: header JSON has "__metadata__" first (if any, keys in declared order, repeated
 * in every shard), then tensors in declared order, compact, padded with spaces to a multiple of 8. Data in
 * declared order, no gaps. Only safetensors dtypes (BOOL ... U64, F8_*, F6_*, F4) and whole-byte sizes.
 * Sharded when max_shard_bytes > 0 (a limit on tensor data bytes per shard, as in Hugging Face): shards are
 * filled greedily in declared order; a tensor never straddles shards (a tensor larger than the limit gets a
 * shard of its own). N > 1 shards give "<base>-00001-of-0000N.safetensors" + "<base>.safetensors.index.json"
 * ({"metadata":{"total_size":sum of tensor bytes},"weight_map":{...}}, names sorted, 2-space indent, as
 * transformers writes it); if everything fits in one shard the output is one "<base>.safetensors" and no
 * index (transformers does the same). All outputs go through rk_outfile (temp + rename) and are committed
 * only by finish (shards in order, the index last). Any error (including writing more or fewer bytes than
 * declared) removes every temp file and leaves the writer failed: later calls return RK_EINVAL. ---- */
typedef struct rk_st_writer rk_st_writer;
int  rk_st_writer_init(rk_st_writer **out, const char *dir, const char *base, uint64_t max_shard_bytes, rk_err *err);
int  rk_st_writer_add_meta(rk_st_writer *w, const char *key, const char *value, rk_err *err);
int  rk_st_writer_add(rk_st_writer *w, const char *name, int dtype, int n_dims, const int64_t *shape, rk_err *err);
int  rk_st_writer_begin(rk_st_writer *w, rk_err *err);
int  rk_st_writer_write(rk_st_writer *w, const void *data, size_t n, rk_err *err);  /* any chunking */
int  rk_st_writer_finish(rk_st_writer *w, rk_err *err);
void rk_st_writer_free(rk_st_writer *w);   /* aborts (removes temps) if not finished; NULL ok */
#endif
