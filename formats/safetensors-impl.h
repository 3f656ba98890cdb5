/* formats/safetensors-impl.h — internals shared by the safetensors files (reader, set, writer, JSON checks).
 * Not part of the public API. */
#ifndef RK_FORMATS_SAFETENSORS_IMPL_H
#define RK_FORMATS_SAFETENSORS_IMPL_H
#include "formats/safetensors.h"

#define RK_ST_MAX_HEADER 100000000ull            /* spec limit on the header length N */
#define RK_ST_MAX_INT 9007199254740992ull         /* 2^53: the largest integer a JSON double holds exactly */
#define RK_ST_MAX_INDEX ((uint64_t)256 << 20)     /* cap on model.safetensors.index.json (R1's is ~9 MB) */
#define RK_ST_NAME_SHOW 96                        /* bytes of a tensor name quoted in messages */

/* ---- strict JSON (safetensors_json.c) ----
 * cJSON accepts things RFC 8259 does not and cannot report where a problem is, so every document is first
 * checked by this scanner: strict grammar, UTF-8 in strings (no overlongs or surrogates), no raw control
 * characters, no \u0000 (names are C strings), surrogate escapes paired, numbers at most 40 characters, depth
 * at most 64. With ints_only, every number must be a plain non-negative integer <= 2^53 (a safetensors header
 * holds numbers only in shape and data_offsets) and arrays hold at most 64 items. The value must be an object;
 * leading JSON whitespace is skipped. On success *end is the offset just past the closing '}'. */
typedef struct rk_st_jerr {
    size_t pos;      /* offset of the problem within the scanned buffer */
    int syntax;      /* 1: not JSON at all; 0: JSON, but outside what we accept (depth, NUL, numbers) */
    char msg[160];
} rk_st_jerr;
int rk_st_json_check(const char *s, size_t n, int ints_only, size_t *end, rk_st_jerr *e);
/* Offset of the first byte that is not part of valid UTF-8, or n if all of s is valid. */
size_t rk_st_utf8_check(const uint8_t *s, size_t n);

/* The dtypes of the safetensors spec (rk_dtype values), by their spec spelling; RK_DTYPE_INVALID otherwise. */
int rk_st_dtype_from_name(const char *name);
int rk_st_dtype_ok(int dtype);   /* 1 if dtype is one of them */
/* Bytes of numel elements of dtype: 0 ok; -1 overflow; -2 not a whole number of bytes. */
int rk_st_nbytes(int dtype, uint64_t numel, uint64_t *out);
/* "[2, 2]" (truncated with "...") into buf. */
void rk_st_fmt_shape(char *buf, size_t cap, const int64_t *shape, int n_dims);

/* ---- a name → index lookup: sorted array searched by bsearch ---- */
typedef struct rk_st_name {
    const char *name;
    size_t idx;
} rk_st_name;
void rk_st_names_sort(rk_st_name *v, size_t n);                   /* by strcmp, ties by idx */
const rk_st_name *rk_st_names_find(const rk_st_name *v, size_t n, const char *name);
/* First i with v[i].name == v[i+1].name, or n if none (v sorted). */
size_t rk_st_names_dup(const rk_st_name *v, size_t n);

/* ---- a growable text buffer for writing JSON ---- */
typedef struct rk_st_buf {
    char *p;
    size_t n, cap;
    int oom;        /* sticky: an allocation failed */
} rk_st_buf;
void rk_st_buf_put(rk_st_buf *b, const char *s, size_t n);
void rk_st_buf_puts(rk_st_buf *b, const char *s);
void rk_st_buf_printf(rk_st_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rk_st_buf_json_str(rk_st_buf *b, const char *s);             /* quoted, escaped */
void rk_st_buf_free(rk_st_buf *b);

/* ---- reader internals (safetensors.c) ---- */
void rk_st_set_shard_index(rk_safetensors *st, int shard);        /* stamps tensors' .shard */

#endif
