/* formats/gguf.h — GGUF v3 (ggml's file format): read by mmap and write, streaming.
 * Spec: ggml's docs/gguf.md; facts in ../shared/DESIGN.md. The reader trusts nothing: every length, count
 * and offset is checked against the bytes that remain and hard caps before anything is allocated;
 * nesting of arrays is limited; tensor types must be known ggml types; dims and byte sizes are checked
 * for overflow; offsets must be aligned and inside the file; tensor data may not overlap. Versions 2 and 3
 * are read (v1 is refused: 32-bit counts); big-endian files are refused with a clear message. */
#ifndef RK_FORMATS_GGUF_H
#define RK_FORMATS_GGUF_H
#include "formats/common.h"

typedef enum rk_gguf_type {
    RK_GGUF_U8 = 0, RK_GGUF_I8 = 1, RK_GGUF_U16 = 2, RK_GGUF_I16 = 3, RK_GGUF_U32 = 4, RK_GGUF_I32 = 5,
    RK_GGUF_F32 = 6, RK_GGUF_BOOL = 7, RK_GGUF_STRING = 8, RK_GGUF_ARRAY = 9, RK_GGUF_U64 = 10,
    RK_GGUF_I64 = 11, RK_GGUF_F64 = 12, RK_GGUF_TYPE_COUNT = 13
} rk_gguf_type;

typedef struct rk_gguf_str { const char *ptr; uint64_t len; } rk_gguf_str;  /* into the map; not NUL-terminated */

typedef struct rk_gguf_value {
    int type;                       /* rk_gguf_type */
    union {
        uint64_t u; int64_t i; double f; int b;
        rk_gguf_str s;
        struct {
            int type;                   /* element type */
            uint64_t n;
            const uint8_t *raw;         /* numeric/bool elements, little-endian as in the file */
            struct rk_gguf_value *items;/* STRING and ARRAY elements, parsed (NULL otherwise) */
        } arr;
    } v;
} rk_gguf_value;

typedef struct rk_gguf_kv { rk_gguf_str key; rk_gguf_value val; } rk_gguf_kv;

typedef struct rk_gguf_tensor {
    rk_gguf_str name;
    char name_z[65];                /* NUL-terminated copy (names are at most 64 bytes) */
    int type;                       /* ggml type id == rk_dtype */
    uint32_t n_dims;                /* 1..4 */
    int64_t ne[4];                  /* innermost first as in the file; unused dims = 1 */
    uint64_t offset;                /* relative to the data section */
    uint64_t nbytes;
    const uint8_t *data;            /* into the map */
} rk_gguf_tensor;

typedef struct rk_gguf rk_gguf;
int  rk_gguf_open(rk_gguf **out, const char *path, rk_err *err);
int  rk_gguf_open_buffer(rk_gguf **out, const void *buf, size_t len, const char *name, rk_err *err);  /* fuzzing; buf must outlive */
void rk_gguf_close(rk_gguf *g);
uint32_t rk_gguf_version(const rk_gguf *g);
uint32_t rk_gguf_alignment(const rk_gguf *g);
uint64_t rk_gguf_data_offset(const rk_gguf *g);
uint64_t rk_gguf_kv_count(const rk_gguf *g);
const rk_gguf_kv *rk_gguf_kv_at(const rk_gguf *g, uint64_t i);
const rk_gguf_kv *rk_gguf_find_kv(const rk_gguf *g, const char *key);    /* NULL if absent */
uint64_t rk_gguf_tensor_count(const rk_gguf *g);
const rk_gguf_tensor *rk_gguf_tensor_at(const rk_gguf *g, uint64_t i);
const rk_gguf_tensor *rk_gguf_find_tensor(const rk_gguf *g, const char *name);
/* Typed getters: 0 ok, RK_ENOTFOUND if absent, RK_EINVAL if the stored type differs (integers of any
 * width that fit are accepted by get_u64/get_i64; F32/F64 by get_f64). */
int rk_gguf_get_u64(const rk_gguf *g, const char *key, uint64_t *out);
int rk_gguf_get_i64(const rk_gguf *g, const char *key, int64_t *out);
int rk_gguf_get_f64(const rk_gguf *g, const char *key, double *out);
int rk_gguf_get_bool(const rk_gguf *g, const char *key, int *out);
int rk_gguf_get_str(const rk_gguf *g, const char *key, rk_gguf_str *out);
/* Human-readable rendering of a value into buf (truncated arrays shown as "[a, b, ... (N items)]"). */
void rk_gguf_value_format(const rk_gguf_value *v, char *buf, size_t cap, size_t max_items);
const char *rk_gguf_type_name(int type);

/* ---- writer: set KVs, add tensor infos, begin (writes the whole header with precomputed offsets),
 * stream each tensor's bytes in declared order (padding between tensors is inserted by the writer), finish
 * (commits the temp file). KV keys must be unique; tensor names unique and <= 64 bytes. ---- */
typedef struct rk_gguf_writer rk_gguf_writer;
int  rk_gguf_writer_init(rk_gguf_writer **out, rk_err *err);
int  rk_gguf_set_u8 (rk_gguf_writer *w, const char *key, uint8_t v);
int  rk_gguf_set_i8 (rk_gguf_writer *w, const char *key, int8_t v);
int  rk_gguf_set_u16(rk_gguf_writer *w, const char *key, uint16_t v);
int  rk_gguf_set_i16(rk_gguf_writer *w, const char *key, int16_t v);
int  rk_gguf_set_u32(rk_gguf_writer *w, const char *key, uint32_t v);
int  rk_gguf_set_i32(rk_gguf_writer *w, const char *key, int32_t v);
int  rk_gguf_set_u64(rk_gguf_writer *w, const char *key, uint64_t v);
int  rk_gguf_set_i64(rk_gguf_writer *w, const char *key, int64_t v);
int  rk_gguf_set_f32(rk_gguf_writer *w, const char *key, float v);
int  rk_gguf_set_f64(rk_gguf_writer *w, const char *key, double v);
int  rk_gguf_set_bool(rk_gguf_writer *w, const char *key, int v);
int  rk_gguf_set_str(rk_gguf_writer *w, const char *key, const char *v);
int  rk_gguf_set_strn(rk_gguf_writer *w, const char *key, const char *v, size_t len);
int  rk_gguf_set_arr_str(rk_gguf_writer *w, const char *key, const char *const *v, size_t n);
/* numeric array: elem_type a scalar rk_gguf_type, data n elements of that type's width */
int  rk_gguf_set_arr(rk_gguf_writer *w, const char *key, int elem_type, const void *data, size_t n);
/* copy a KV from a reader (used when re-writing GGUF files) */
int  rk_gguf_set_kv(rk_gguf_writer *w, const rk_gguf_kv *kv);
int  rk_gguf_writer_add_tensor(rk_gguf_writer *w, const char *name, int type, uint32_t n_dims,
                               const int64_t *ne /* innermost first */, rk_err *err);
int  rk_gguf_writer_begin(rk_gguf_writer *w, const char *path, uint32_t alignment, rk_err *err); /* writes general.alignment if != 32 */
int  rk_gguf_writer_write(rk_gguf_writer *w, const void *data, size_t n, rk_err *err);
int  rk_gguf_writer_finish(rk_gguf_writer *w, rk_err *err);
void rk_gguf_writer_free(rk_gguf_writer *w);  /* aborts an unfinished file; NULL ok */
#endif
