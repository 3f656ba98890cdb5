/* formats/gguf-impl.h — internals shared by the GGUF reader (gguf.c), value helpers (gguf_value.c) and
 * writer (gguf_write.c): little-endian access, a string hash, and the reader's struct. Not public. */
#ifndef RK_FORMATS_GGUF_IMPL_H
#define RK_FORMATS_GGUF_IMPL_H
#include "formats/gguf.h"

#include <string.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "r1kit's GGUF code assumes a little-endian host (raw array elements pass through unchanged)"
#endif

#define RK_GGUF_MAGIC "GGUF"

static inline uint64_t rk_gguf_rd_le(const uint8_t *p, size_t n) {
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* FNV-1a over bytes: the key/name index of reader and writer. */
static inline uint64_t rk_gguf_hash(const char *s, uint64_t n) {
    uint64_t h = 1469598103934665603ull;
    for (uint64_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

/* Open-addressing index of (ptr,len) strings; slots hold entry index + 1 (0 = empty). */
typedef struct rk_gguf_index {
    uint64_t *slot;
    uint64_t mask;       /* capacity - 1, capacity a power of two */
} rk_gguf_index;
/* Capacity for n entries (load <= 1/2). RK_ENOMEM on failure. */
int rk_gguf_index_init(rk_gguf_index *ix, uint64_t n);
void rk_gguf_index_free(rk_gguf_index *ix);
/* get(i) returns entry i's string; find returns the entry index or UINT64_MAX. */
typedef rk_gguf_str (*rk_gguf_index_get)(const void *ctx, uint64_t i);
uint64_t rk_gguf_index_find(const rk_gguf_index *ix, const char *s, uint64_t n, rk_gguf_index_get get, const void *ctx);
/* Insert entry i; returns UINT64_MAX, or the index of an existing entry with the same string (not inserted). */
uint64_t rk_gguf_index_insert(rk_gguf_index *ix, uint64_t i, rk_gguf_index_get get, const void *ctx);

/* Decode one scalar of type t (U8 .. F64, BOOL) from little-endian bytes p into out (zeroed first). */
void rk_gguf_decode_scalar(int t, const uint8_t *p, rk_gguf_value *out);

/* Copy at most max bytes of s into out (cap bytes) for an error message: non-printable and non-ASCII
 * bytes become '?', "..." marks a cut. */
void rk_gguf_quote(char *out, size_t cap, const char *s, uint64_t n, size_t max);

#endif
