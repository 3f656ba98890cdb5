/* formats/gguf.h — GGUF v3 (ggml's file format): read by mmap and write, streaming.
 * Spec: ggml's docs/gguf.md; facts in ../shared/DESIGN.md. The reader trusts nothing: every length, count
 * and offset is checked against the bytes that remain and hard caps before anything is allocated;
 * nesting of arrays is limited; tensor types must be known ggml types; dims and byte sizes are checked
 * for overflow; offsets must be aligned and inside the file; tensor data may not overlap. Versions 2 and 3
 * are read (v1 is refused: 32-bit counts); big-endian files are refused with a clear message.
 *
 * Where the reader is stricter or looser than ggml's gguf.cpp (on purpose):
 *  - stricter: BOOL values must be 0 or 1 (spec); keys and tensor names may not be empty or hold NUL bytes.
 *  - looser: arrays may nest (the spec allows it; ggml refuses); tensor offsets need only be aligned, in the
 *    file and non-overlapping (ggml now also demands they be consecutive in declaration order); tensor
 *    names may be 64 bytes (spec) where ggml stops at 63. The writer produces what ggml accepts.
 * Codes: RK_EUNSUPPORTED for v1, versions > 3, big-endian files and ggml type ids below 256 that r1kit does
 * not know (removed or newer ggml types); RK_ECORRUPT for every other defect; RK_ENOMEM; RK_EIO (open). */
#ifndef RK_FORMATS_GGUF_H
#define RK_FORMATS_GGUF_H
#include "formats/common.h"

/* Hard caps applied while reading (on top of "must fit in the bytes that remain"). */
#define RK_GGUF_DEFAULT_ALIGNMENT 32
#define RK_GGUF_MAX_DEPTH      8                 /* arrays nested at most this deep */
#define RK_GGUF_MAX_KEY_LEN    65535             /* spec */
#define RK_GGUF_MAX_NAME_LEN   64                /* spec; the writer allows 63 (ggml's GGML_MAX_NAME - 1) */
#define RK_GGUF_MAX_STR_LEN    (1ull << 30)      /* ggml's GGUF_MAX_STRING_LENGTH */
#define RK_GGUF_MAX_ARRAY_LEN  (1ull << 30)      /* ggml's GGUF_MAX_ARRAY_ELEMENTS */
#define RK_GGUF_MAX_KV         (1ull << 20)
#define RK_GGUF_MAX_TENSORS    (1ull << 20)
#define RK_GGUF_MAX_ITEMS      (1ull << 23)      /* parsed STRING/ARRAY array elements in one file, in total */

typedef enum rk_gguf_type {
    RK_GGUF_U8 = 0, RK_GGUF_I8 = 1, RK_GGUF_U16 = 2, RK_GGUF_I16 = 3, RK_GGUF_U32 = 4, RK_GGUF_I32 = 5,
    RK_GGUF_F32 = 6, RK_GGUF_BOOL = 7, RK_GGUF_STRING = 8, RK_GGUF_ARRAY = 9, RK_GGUF_U64 = 10,
    RK_GGUF_I64 = 11, RK_GGUF_F64 = 12, RK_GGUF_TYPE_COUNT = 13
} rk_gguf_type;

typedef struct rk_gguf_str { const char *ptr; uint64_t len; } rk_gguf_str;  /* into the map; not NUL-terminated */

typedef struct rk_gguf_value {
    int type;                       /* rk_gguf_type */
    union {                         /* U8/U16/U32/U64 in u, I8..I64 in i, F32/F64 in f, BOOL in b */
        uint64_t u; int64_t i; double f; int b;
        rk_gguf_str s;
        struct {
            int type;                   /* element type */
            uint64_t n;
            const uint8_t *raw;         /* numeric/bool elements, little-endian as in the file
                                           (unaligned: read with rk_gguf_arr_at); NULL when n == 0 */
            struct rk_gguf_value *items;/* STRING and ARRAY elements, parsed (NULL otherwise) */
        } arr;
    } v;
} rk_gguf_value;

typedef struct rk_gguf_kv { rk_gguf_str key; rk_gguf_value val; } rk_gguf_kv;

typedef struct rk_gguf_tensor {
    rk_gguf_str name;
    char name_z[65];                /* NUL-terminated copy (names are at most 64 bytes) */
    int type;                       /* ggml type id == rk_dtype */
    uint32_t n_dims;                /* 0..4 as stored (ggml writes >= 1; 0 reads as a scalar) */
    int64_t ne[4];                  /* innermost first as in the file; unused dims = 1 */
    uint64_t offset;                /* relative to the data section */
    uint64_t nbytes;
    const uint8_t *data;            /* into the map */
} rk_gguf_tensor;

typedef struct rk_gguf rk_gguf;
int  rk_gguf_open(rk_gguf **out, const char *path, rk_err *err);
int  rk_gguf_open_buffer(rk_gguf **out, const void *buf, size_t len, const char *name, rk_err *err);  /* fuzzing; buf must outlive */
void rk_gguf_close(rk_gguf *g);     /* NULL ok */
const char *rk_gguf_name(const rk_gguf *g);     /* path (or the buffer's name) used in messages */
uint64_t rk_gguf_size(const rk_gguf *g);        /* bytes in the file */
uint32_t rk_gguf_version(const rk_gguf *g);
uint32_t rk_gguf_alignment(const rk_gguf *g);
uint64_t rk_gguf_data_offset(const rk_gguf *g); /* end of the header rounded up to the alignment (not rounded
                                                   when there are no tensors and the file ends first) */
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
/* The same conversions on a value (e.g. an array element); RK_EINVAL when the type does not fit. */
int rk_gguf_value_u64(const rk_gguf_value *v, uint64_t *out);
int rk_gguf_value_i64(const rk_gguf_value *v, int64_t *out);
int rk_gguf_value_f64(const rk_gguf_value *v, double *out);
/* Element i of an ARRAY value as a standalone value (scalars decoded from raw, others copied from items).
 * RK_EINVAL if v is not an array, RK_ENOTFOUND if i >= n. */
int rk_gguf_arr_at(const rk_gguf_value *arr, uint64_t i, rk_gguf_value *out);
/* Bytes of one element of a scalar type (U8 .. F64, BOOL); 0 for STRING, ARRAY and unknown types. */
size_t rk_gguf_type_size(int type);
/* Human-readable rendering of a value into buf (truncated arrays shown as "[a, b, ... (N items)]";
 * strings quoted with non-printable bytes escaped as \xNN). Always NUL-terminates when cap > 0. */
void rk_gguf_value_format(const rk_gguf_value *v, char *buf, size_t cap, size_t max_items);
const char *rk_gguf_type_name(int type);        /* "U8" .. "F64", "?" when unknown */

/* ---- writer: set KVs, add tensor infos, begin (writes the whole header with precomputed offsets),
 * stream each tensor's bytes in declared order (padding between tensors is inserted by the writer), finish
 * (commits the temp file). KV keys must be unique and non-empty; tensor names unique, non-empty and
 * <= 63 bytes (what ggml loads). Output bytes depend only on the calls made (KVs and tensors in call order,
 * zero padding, offsets packed in declaration order as ggml writes them).
 * Setters return 0 or a negative RK_E* code; the first failure is also kept (rk_gguf_writer_err) and makes
 * rk_gguf_writer_begin fail, so a run of setters may be checked once. Numeric arrays take host-order data
 * (the build is little-endian only, like the file). ---- */
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
/* any value, including nested arrays (raw numeric elements little-endian, STRING/ARRAY elements in items) */
int  rk_gguf_set_value(rk_gguf_writer *w, const char *key, const rk_gguf_value *v);
int  rk_gguf_writer_add_tensor(rk_gguf_writer *w, const char *name, int type, uint32_t n_dims,
                               const int64_t *ne /* innermost first */, rk_err *err);
/* alignment: a power of two, or 0 for "general.alignment if it was set, else 32". A general.alignment KV
 * that was set must be U32 and agree with a non-zero alignment; when none was set and the alignment is not
 * 32, begin appends general.alignment (U32) after the other KVs. */
int  rk_gguf_writer_begin(rk_gguf_writer *w, const char *path, uint32_t alignment, rk_err *err);
/* Tensor bytes in declaration order, in chunks of any size (a chunk may span tensors). Writing more than
 * the declared tensors hold fails (RK_EINVAL) and abandons the file. */
int  rk_gguf_writer_write(rk_gguf_writer *w, const void *data, size_t n, rk_err *err);
/* Fails (RK_EINVAL, file abandoned) unless every tensor got all its bytes; then commits the file. */
int  rk_gguf_writer_finish(rk_gguf_writer *w, rk_err *err);
void rk_gguf_writer_free(rk_gguf_writer *w);  /* aborts an unfinished file; NULL ok */
const rk_err *rk_gguf_writer_err(const rk_gguf_writer *w);  /* first error so far (code 0: none) */
uint64_t rk_gguf_writer_data_offset(const rk_gguf_writer *w); /* after begin: where tensor data starts */
#endif
