/* formats/common.h — what every r1kit module shares: the error record, the element/block type table,
 * checked arithmetic, read-only file maps and never-half-written output files.
 *
 * Errors: library functions never abort or print on bad input. They return 0 on success or a negative
 * RK_E* code, and fill the caller's rk_err with a one-line message that names the file and the problem
 * (and the byte offset where one is known). The CLI maps codes to exit codes (see cli/ and README).
 *
 * Types: rk_dtype numbers every element or block type that r1kit reads or writes. Where ggml has the type,
 * the value IS the ggml type id as stored in GGUF files (F32 0 … BF16 30, TQ2_0 35, MXFP4 39), so GGUF
 * readers and writers pass ids straight through after validating them. Types ggml lacks (unsigned ints,
 * bool, FP8/FP6/FP4 of safetensors) are numbered from 100. Values are only ever appended. */
#ifndef RK_FORMATS_COMMON_H
#define RK_FORMATS_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- errors ---------------------------------------------------------------------------------- */
enum {
    RK_OK = 0,
    RK_EIO = -1,          /* open/read/write/mmap/rename failed (errno text in msg) */
    RK_ECORRUPT = -2,     /* the file is malformed or lies about itself */
    RK_EUNSUPPORTED = -3, /* valid but not something r1kit handles (e.g. F4 dtype, legacy torch file) */
    RK_EREFUSED = -4,     /* pickle asked for something we refuse to do (disallowed global/opcode) */
    RK_ENOMEM = -5,       /* allocation failed */
    RK_EINVAL = -6,       /* caller/API misuse or bad option value */
    RK_ENOTFOUND = -7,    /* named tensor/key/file does not exist */
    RK_EINTR = -8,        /* interrupted by SIGINT/SIGTERM */
};

typedef struct rk_err {
    int code;            /* one of RK_E* (0 if no error) */
    uint64_t offset;     /* byte offset in the offending file, or UINT64_MAX when not applicable */
    char msg[256];       /* one line, no trailing newline: "<file>: <problem>" */
} rk_err;

/* Fill err (may be NULL) and return code. fmt is printf-style; keep it one line. */
int rk_err_set(rk_err *err, int code, uint64_t offset, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Same, with "<path>: " prefixed. */
int rk_err_file(rk_err *err, int code, const char *path, uint64_t offset, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void rk_err_clear(rk_err *err);
const char *rk_err_code_name(int code);

/* ---- dtypes ----------------------------------------------------------------------------------- */
typedef enum rk_dtype {
    RK_DTYPE_F32 = 0, RK_DTYPE_F16 = 1, RK_DTYPE_Q4_0 = 2, RK_DTYPE_Q4_1 = 3,
    RK_DTYPE_Q5_0 = 6, RK_DTYPE_Q5_1 = 7, RK_DTYPE_Q8_0 = 8, RK_DTYPE_Q8_1 = 9,
    RK_DTYPE_Q2_K = 10, RK_DTYPE_Q3_K = 11, RK_DTYPE_Q4_K = 12, RK_DTYPE_Q5_K = 13,
    RK_DTYPE_Q6_K = 14, RK_DTYPE_Q8_K = 15, RK_DTYPE_IQ2_XXS = 16, RK_DTYPE_IQ2_XS = 17,
    RK_DTYPE_IQ3_XXS = 18, RK_DTYPE_IQ1_S = 19, RK_DTYPE_IQ4_NL = 20, RK_DTYPE_IQ3_S = 21,
    RK_DTYPE_IQ2_S = 22, RK_DTYPE_IQ4_XS = 23, RK_DTYPE_I8 = 24, RK_DTYPE_I16 = 25,
    RK_DTYPE_I32 = 26, RK_DTYPE_I64 = 27, RK_DTYPE_F64 = 28, RK_DTYPE_IQ1_M = 29,
    RK_DTYPE_BF16 = 30, RK_DTYPE_TQ1_0 = 34, RK_DTYPE_TQ2_0 = 35, RK_DTYPE_MXFP4 = 39,
    RK_GGML_TYPE_LIMIT = 40,     /* ggml ids are < this */
    /* not in ggml */
    RK_DTYPE_BOOL = 100, RK_DTYPE_U8 = 101, RK_DTYPE_U16 = 102, RK_DTYPE_U32 = 103, RK_DTYPE_U64 = 104,
    RK_DTYPE_F8_E4M3 = 105, RK_DTYPE_F8_E5M2 = 106, RK_DTYPE_F8_E8M0 = 107,
    RK_DTYPE_F6_E2M3 = 108, RK_DTYPE_F6_E3M2 = 109, RK_DTYPE_F4 = 110,
    RK_DTYPE_LIMIT = 111,
    RK_DTYPE_INVALID = -1,
} rk_dtype;

typedef struct rk_dtype_traits {
    const char *name;        /* "F32", "Q4_K", "F8_E4M3" (safetensors spelling where it has one) */
    uint32_t block_size;     /* elements per block (1 for scalar types) */
    uint32_t type_size;      /* bytes per block; for sub-byte scalar types (F4, F6) see bits */
    uint32_t bits;           /* bits per element for scalar types (1 byte BOOL = 8); 0 for block types */
    int is_float;            /* holds real numbers r1kit can convert to f32 */
} rk_dtype_traits;

/* NULL for values that are not a known type (gaps in the ggml numbering, out of range). */
const rk_dtype_traits *rk_dtype_get(int dtype);
const char *rk_dtype_name(int dtype);                 /* "?" when unknown */
rk_dtype rk_dtype_from_name(const char *name);        /* exact, case-sensitive; RK_DTYPE_INVALID if none */
int rk_dtype_is_ggml(int dtype);                      /* 1 if the id can appear in a GGUF tensor info */
/* Bytes for n elements: fails (returns RK_ECORRUPT, *out untouched) if n is not a whole number of blocks
 * or bytes, or on overflow. */
int rk_dtype_nbytes(int dtype, uint64_t n, uint64_t *out);

/* ---- checked arithmetic ------------------------------------------------------------------------ */
static inline int rk_mul_u64(uint64_t a, uint64_t b, uint64_t *out) { return __builtin_mul_overflow(a, b, out) ? -1 : 0; }
static inline int rk_add_u64(uint64_t a, uint64_t b, uint64_t *out) { return __builtin_add_overflow(a, b, out) ? -1 : 0; }
/* product of n dims (each must be >= 0); -1 on overflow or negative dim */
int rk_shape_numel(const int64_t *shape, int n_dims, uint64_t *out);

#define RK_MAX_DIMS 8

/* ---- read-only file maps ----------------------------------------------------------------------- */
typedef struct rk_map {
    const uint8_t *data;    /* NULL for an empty file */
    uint64_t size;
    char *path;             /* owned copy */
} rk_map;
int rk_map_open(rk_map *m, const char *path, rk_err *err);   /* zero-inits m first */
void rk_map_close(rk_map *m);                                 /* accepts a zeroed/closed map */
/* Process-wide and one-way, before the maps that should use it are opened: from now on rk_map_open reads each
 * file into private anonymous memory (huge pages requested) instead of mapping it, like llama.cpp's --no-mmap.
 * The whole file is read up front and needs that much RAM; in exchange the data no longer lives in the page
 * cache, whose scattered 4 KiB pages streamed ~15% slower through the prefill matmul on the benchmark VM
 * (docs/bench-engine.md). Page release (rk_ckpt_release) is then a no-op: dropping anonymous pages would lose
 * them. */
void rk_map_use_memory(void);
int rk_map_in_memory(void);   /* 1 once rk_map_use_memory was called */

/* ---- never-half-written outputs ----------------------------------------------------------------
 * rk_outfile_open creates "<dir>/.<base>.tmp.XXXXXX" beside path; write through ->fp; commit fsyncs,
 * renames onto path and fsyncs the folder; abort removes the temp. While open, the temp is registered
 * so that SIGINT/SIGTERM (handlers installed by rk_outfile_install_signal_handlers) remove it before the
 * process exits. An existing target is never touched until the rename. */
typedef struct rk_outfile {
    FILE *fp;
    char *path;      /* final */
    char *tmp;       /* temporary */
    int slot;        /* registry slot */
} rk_outfile;
int rk_outfile_open(rk_outfile *o, const char *path, rk_err *err);
int rk_outfile_commit(rk_outfile *o, rk_err *err);   /* closes; on failure removes temp */
void rk_outfile_abort(rk_outfile *o);                /* safe on a zeroed or finished outfile */
void rk_outfile_install_signal_handlers(void);
int rk_interrupted(void);                            /* nonzero after SIGINT/SIGTERM was received */
/* Write all of buf or fail with RK_EIO naming o->path. */
int rk_outfile_write(rk_outfile *o, const void *buf, size_t n, rk_err *err);
/* Files whose header is known only at the end: write a placeholder of n bytes first, then this overwrites it with
 * head (seek to 0) and commits. Fails like rk_outfile_commit, or with RK_EIO when the seek fails. */
int rk_outfile_commit_header(rk_outfile *o, const void *head, size_t n, rk_err *err);
/* The whole of data[0..n) to path through an rk_outfile (temp file beside it, fsync, rename; nothing left on error). */
int rk_write_file_atomic(const char *path, const void *data, size_t n, rk_err *err);

/* Little-endian fields of our own binary files, whatever the host's byte order */
static inline void rk_put_le32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static inline void rk_put_le64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static inline uint32_t rk_get_le32(const uint8_t *p) { uint32_t v = 0; for (int i = 3; i >= 0; i--) v = v << 8 | p[i]; return v; }
static inline uint64_t rk_get_le64(const uint8_t *p) { uint64_t v = 0; for (int i = 7; i >= 0; i--) v = v << 8 | p[i]; return v; }

/* Small helpers */
char *rk_strdup(const char *s);                      /* NULL on NULL/OOM */
char *rk_path_join(const char *dir, const char *name);
int rk_is_dir(const char *path);
int rk_file_exists(const char *path);
/* Read a whole (small) file into a NUL-terminated heap buffer, refusing files larger than max_bytes. */
int rk_read_file(const char *path, uint64_t max_bytes, char **out, uint64_t *out_len, rk_err *err);

#ifdef __cplusplus
}
#endif
#endif
