/* formats/gguf.c — GGUF reader: parses a memory-mapped (or caller-owned) GGUF v2/v3 file in place.
 *
 * Layout (ggml's docs/gguf.md, checked against ggml/src/gguf.cpp): "GGUF", u32 version, u64 tensor_count,
 * u64 kv_count; kv_count × {string key, u32 value type, value}; tensor_count × {string name, u32 n_dims,
 * n_dims × i64 ne (innermost first), u32 ggml type, u64 offset}; zero padding up to the alignment
 * (general.alignment, U32, power of two, default 32); the data section. Strings are u64 length + bytes;
 * arrays u32 element type + u64 count + elements. Everything is little-endian.
 *
 * Why this shape: the file is hostile until proven otherwise (ggml's own GGUF parser has a CVE trail).
 * Every read goes through a cursor that knows how many bytes remain; counts are checked against those
 * bytes (times the smallest possible element) and hard caps *before* anything is allocated; numeric arrays
 * and strings are never copied (they point into the map), only STRING/ARRAY array elements are parsed
 * into an arena, capped in total. Tensor data must be aligned, inside the file and non-overlapping. */
#include "formats/gguf-impl.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#define MIN_KV_BYTES 14      /* u64 key length + 1 key byte + u32 type + 1 value byte */
#define MIN_TENSOR_BYTES 25  /* u64 name length + 1 name byte + u32 n_dims (0) + u32 type + u64 offset */

typedef union arena_blk {
    union arena_blk *next;
    max_align_t align;
} arena_blk;

struct rk_gguf {
    rk_map map;                 /* when opened from a path */
    const uint8_t *base;
    uint64_t size;
    char *name;
    uint32_t version, alignment;
    uint64_t data_offset;
    uint64_t n_kv, n_tensors;
    rk_gguf_kv *kv;
    rk_gguf_tensor *tensors;
    rk_gguf_index kv_ix, t_ix;
    arena_blk *arena;           /* STRING/ARRAY array elements */
    uint64_t n_items;
};

/* ---- cursor and errors ---- */
typedef struct cur {
    rk_gguf *g;
    rk_err *err;
    uint64_t pos;
    char ctx[96];               /* what is being read: "header", "key 'x'", "tensor #3" */
} cur;

static uint64_t left(const cur *c) { return c->g->size - c->pos; }

static int fail(cur *c, int code, uint64_t off, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail(cur *c, int code, uint64_t off, const char *fmt, ...) {
    char msg[224];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return rk_err_file(c->err, code, c->g->name, off, "%s: %s", c->ctx, msg);
}

static int need(cur *c, uint64_t n, const char *what) {
    if (left(c) >= n) return 0;
    return fail(c, RK_ECORRUPT, c->pos, "%s needs %" PRIu64 " bytes at offset %" PRIu64 " but only %" PRIu64
                " remain (truncated file)", what, n, c->pos, left(c));
}

static int rd_u32(cur *c, const char *what, uint32_t *out) {
    int rc = need(c, 4, what);
    if (rc) return rc;
    *out = (uint32_t)rk_gguf_rd_le(c->g->base + c->pos, 4);
    c->pos += 4;
    return 0;
}

static int rd_u64(cur *c, const char *what, uint64_t *out) {
    int rc = need(c, 8, what);
    if (rc) return rc;
    *out = rk_gguf_rd_le(c->g->base + c->pos, 8);
    c->pos += 8;
    return 0;
}

static int rd_str(cur *c, const char *what, uint64_t max, rk_gguf_str *out) {
    uint64_t at = c->pos, len;
    int rc = rd_u64(c, what, &len);
    if (rc) return rc;
    if (len > max)
        return fail(c, RK_ECORRUPT, at, "%s length %" PRIu64 " exceeds the limit %" PRIu64, what, len, max);
    if (len > left(c))
        return fail(c, RK_ECORRUPT, at, "%s of %" PRIu64 " bytes at offset %" PRIu64 " runs past the end of the file"
                    " (%" PRIu64 " bytes left)", what, len, at, left(c));
    out->ptr = (const char *)c->g->base + c->pos;
    out->len = len;
    c->pos += len;
    return 0;
}

/* ---- arena for parsed array elements ---- */
static rk_gguf_value *arena_alloc(rk_gguf *g, uint64_t n) {
    if (n > (SIZE_MAX - sizeof(arena_blk)) / sizeof(rk_gguf_value)) return NULL;
    arena_blk *b = malloc(sizeof *b + (size_t)n * sizeof(rk_gguf_value));
    if (!b) return NULL;
    b->next = g->arena;
    g->arena = b;
    return (rk_gguf_value *)(b + 1);
}

/* ---- metadata values ---- */
static uint64_t min_elem_bytes(int t) {
    if (t == RK_GGUF_STRING) return 8;
    if (t == RK_GGUF_ARRAY) return 12;
    return rk_gguf_type_size(t);
}

static int parse_value(cur *c, int type, rk_gguf_value *out, int depth);

static int check_bools(cur *c, const uint8_t *p, uint64_t n) {
    for (uint64_t i = 0; i < n; i++)
        if (p[i] > 1)
            return fail(c, RK_ECORRUPT, (uint64_t)(p + i - c->g->base), "BOOL value %u at offset %" PRIu64
                        " is neither 0 nor 1", p[i], (uint64_t)(p + i - c->g->base));
    return 0;
}

static int parse_array(cur *c, rk_gguf_value *out, int depth) {
    uint64_t at = c->pos, n;
    uint32_t et;
    int rc;
    if (depth >= RK_GGUF_MAX_DEPTH)
        return fail(c, RK_ECORRUPT, at, "arrays nested more than %d deep at offset %" PRIu64, RK_GGUF_MAX_DEPTH, at);
    if ((rc = rd_u32(c, "array element type", &et))) return rc;
    if (et >= RK_GGUF_TYPE_COUNT)
        return fail(c, RK_ECORRUPT, at, "array element type %" PRIu32 " at offset %" PRIu64 " is not a GGUF value type",
                    et, at);
    if ((rc = rd_u64(c, "array length", &n))) return rc;
    uint64_t ms = min_elem_bytes((int)et);
    if (n > RK_GGUF_MAX_ARRAY_LEN)
        return fail(c, RK_ECORRUPT, at, "array length %" PRIu64 " exceeds the limit %llu", n, RK_GGUF_MAX_ARRAY_LEN);
    if (n > left(c) / ms)
        return fail(c, RK_ECORRUPT, at, "array of %" PRIu64 " %s elements at offset %" PRIu64
                    " runs past the end of the file (%" PRIu64 " bytes left)", n, rk_gguf_type_name((int)et), at, left(c));
    out->v.arr.type = (int)et;
    out->v.arr.n = n;
    out->v.arr.raw = NULL;
    out->v.arr.items = NULL;
    if (n == 0) return 0;
    if (ms == rk_gguf_type_size((int)et)) {   /* scalar elements stay in the map */
        out->v.arr.raw = c->g->base + c->pos;
        if (et == RK_GGUF_BOOL && (rc = check_bools(c, out->v.arr.raw, n))) return rc;
        c->pos += n * ms;
        return 0;
    }
    if (n > RK_GGUF_MAX_ITEMS - c->g->n_items)
        return fail(c, RK_ECORRUPT, at, "more than %llu string/array elements in arrays in total", RK_GGUF_MAX_ITEMS);
    c->g->n_items += n;
    rk_gguf_value *items = arena_alloc(c->g, n);
    if (!items) return fail(c, RK_ENOMEM, at, "out of memory for %" PRIu64 " array elements", n);
    memset(items, 0, (size_t)n * sizeof *items);
    out->v.arr.items = items;
    for (uint64_t i = 0; i < n; i++)
        if ((rc = parse_value(c, (int)et, &items[i], depth + 1))) return rc;
    return 0;
}

static int parse_value(cur *c, int type, rk_gguf_value *out, int depth) {
    out->type = type;
    if (type == RK_GGUF_STRING) return rd_str(c, "string", RK_GGUF_MAX_STR_LEN, &out->v.s);
    if (type == RK_GGUF_ARRAY) return parse_array(c, out, depth);
    size_t w = rk_gguf_type_size(type);
    int rc = need(c, w, rk_gguf_type_name(type));
    if (rc) return rc;
    if (type == RK_GGUF_BOOL && (rc = check_bools(c, c->g->base + c->pos, 1))) return rc;
    rk_gguf_decode_scalar(type, c->g->base + c->pos, out);
    c->pos += w;
    return 0;
}

static rk_gguf_str kv_key(const void *ctx, uint64_t i) { return ((const rk_gguf *)ctx)->kv[i].key; }
static rk_gguf_str tensor_name(const void *ctx, uint64_t i) { return ((const rk_gguf *)ctx)->tensors[i].name; }

/* A key or tensor name: non-empty, no NUL bytes. Sets c->ctx to "<kind> '<name>'". */
static int check_name(cur *c, uint64_t at, const rk_gguf_str *s, const char *kind) {
    char q[72];
    if (s->len == 0) return fail(c, RK_ECORRUPT, at, "%s at offset %" PRIu64 " is empty", kind, at);
    if (memchr(s->ptr, 0, (size_t)s->len)) {
        rk_gguf_quote(q, sizeof q, s->ptr, s->len, 48);
        return fail(c, RK_ECORRUPT, at, "%s '%s' at offset %" PRIu64 " holds a NUL byte", kind, q, at);
    }
    rk_gguf_quote(q, sizeof q, s->ptr, s->len, 64);
    snprintf(c->ctx, sizeof c->ctx, "%s '%s'", kind, q);
    return 0;
}

/* ---- sections ---- */
static int parse_header(cur *c) {
    rk_gguf *g = c->g;
    uint32_t v;
    int rc;
    snprintf(c->ctx, sizeof c->ctx, "header");
    if (g->size < 4 || memcmp(g->base, RK_GGUF_MAGIC, 4) != 0) {
        char q[16] = "";
        if (g->size) rk_gguf_quote(q, sizeof q, (const char *)g->base, g->size < 4 ? g->size : 4, 4);
        return fail(c, RK_ECORRUPT, 0, "not a GGUF file: magic '%s' (%" PRIu64 " bytes), expected 'GGUF'", q, g->size);
    }
    c->pos = 4;
    if ((rc = rd_u32(c, "version", &v))) return rc;
    if (v == 0) return fail(c, RK_ECORRUPT, 4, "version 0 is invalid");
    if ((v & 0xFFFFu) == 0)
        return fail(c, RK_EUNSUPPORTED, 4, "version reads as 0x%08" PRIx32 " (%" PRIu32 " byte-swapped): a big-endian"
                    " GGUF file; only little-endian files are supported", v, __builtin_bswap32(v));
    if (v == 1)
        return fail(c, RK_EUNSUPPORTED, 4, "GGUF version 1 (32-bit counts) is not supported; re-convert the model");
    if (v > 3) return fail(c, RK_EUNSUPPORTED, 4, "GGUF version %" PRIu32 " is newer than 3, the latest known", v);
    g->version = v;
    if ((rc = rd_u64(c, "tensor count", &g->n_tensors))) return rc;
    if ((rc = rd_u64(c, "key/value count", &g->n_kv))) return rc;
    if (g->n_tensors > RK_GGUF_MAX_TENSORS)
        return fail(c, RK_ECORRUPT, 8, "tensor count %" PRIu64 " exceeds the limit %llu", g->n_tensors, RK_GGUF_MAX_TENSORS);
    if (g->n_kv > RK_GGUF_MAX_KV)
        return fail(c, RK_ECORRUPT, 16, "key/value count %" PRIu64 " exceeds the limit %llu", g->n_kv, RK_GGUF_MAX_KV);
    if (g->n_kv > left(c) / MIN_KV_BYTES || g->n_tensors > (left(c) - g->n_kv * MIN_KV_BYTES) / MIN_TENSOR_BYTES)
        return fail(c, RK_ECORRUPT, 8, "%" PRIu64 " tensors and %" PRIu64 " key/value pairs cannot fit in the %" PRIu64
                    " bytes that follow the header", g->n_tensors, g->n_kv, left(c));
    return 0;
}

static int parse_kvs(cur *c) {
    rk_gguf *g = c->g;
    int rc;
    if (g->n_kv) {
        g->kv = calloc((size_t)g->n_kv, sizeof *g->kv);
        if (!g->kv || rk_gguf_index_init(&g->kv_ix, g->n_kv)) return fail(c, RK_ENOMEM, UINT64_MAX, "out of memory");
    }
    for (uint64_t i = 0; i < g->n_kv; i++) {
        rk_gguf_kv *kv = &g->kv[i];
        uint64_t at = c->pos;
        uint32_t t;
        snprintf(c->ctx, sizeof c->ctx, "key #%" PRIu64, i);
        if ((rc = rd_str(c, "key", RK_GGUF_MAX_KEY_LEN, &kv->key))) return rc;
        if ((rc = check_name(c, at, &kv->key, "key"))) return rc;
        uint64_t dup = rk_gguf_index_insert(&g->kv_ix, i, kv_key, g);
        if (dup != UINT64_MAX)
            return fail(c, RK_ECORRUPT, at, "duplicate key at offset %" PRIu64 " (entries #%" PRIu64 " and #%" PRIu64 ")",
                        at, dup, i);
        uint64_t tat = c->pos;
        if ((rc = rd_u32(c, "value type", &t))) return rc;
        if (t >= RK_GGUF_TYPE_COUNT)
            return fail(c, RK_ECORRUPT, tat, "value type %" PRIu32 " at offset %" PRIu64 " is not a GGUF value type", t, tat);
        if ((rc = parse_value(c, (int)t, &kv->val, 0))) return rc;
    }
    g->alignment = RK_GGUF_DEFAULT_ALIGNMENT;
    const rk_gguf_kv *a = rk_gguf_find_kv(g, "general.alignment");
    snprintf(c->ctx, sizeof c->ctx, "key 'general.alignment'");
    if (a && a->val.type != RK_GGUF_U32)
        return fail(c, RK_ECORRUPT, UINT64_MAX, "type is %s, must be U32", rk_gguf_type_name(a->val.type));
    if (a && (a->val.v.u == 0 || (a->val.v.u & (a->val.v.u - 1)) != 0))
        return fail(c, RK_ECORRUPT, UINT64_MAX, "alignment %" PRIu64 " is not a power of two", a->val.v.u);
    if (a) g->alignment = (uint32_t)a->val.v.u;
    return 0;
}

static int parse_tensor_info(cur *c, uint64_t i) {
    rk_gguf *g = c->g;
    rk_gguf_tensor *t = &g->tensors[i];
    uint64_t at = c->pos, numel = 1;
    uint32_t nd, type;
    int rc;
    snprintf(c->ctx, sizeof c->ctx, "tensor #%" PRIu64, i);
    if ((rc = rd_str(c, "tensor name", RK_GGUF_MAX_NAME_LEN, &t->name))) return rc;
    if ((rc = check_name(c, at, &t->name, "tensor"))) return rc;
    memcpy(t->name_z, t->name.ptr, (size_t)t->name.len);
    t->name_z[t->name.len] = 0;
    uint64_t dup = rk_gguf_index_insert(&g->t_ix, i, tensor_name, g);
    if (dup != UINT64_MAX)
        return fail(c, RK_ECORRUPT, at, "duplicate tensor name (tensors #%" PRIu64 " and #%" PRIu64 ")", dup, i);
    uint64_t dat = c->pos;
    if ((rc = rd_u32(c, "n_dims", &nd))) return rc;
    if (nd > 4) return fail(c, RK_ECORRUPT, dat, "n_dims %" PRIu32 " is more than 4", nd);
    t->n_dims = nd;
    for (uint32_t d = 0; d < 4; d++) {
        uint64_t v = 1;
        if (d < nd && (rc = rd_u64(c, "dimension", &v))) return rc;
        if ((int64_t)v < 0)
            return fail(c, RK_ECORRUPT, c->pos - 8, "dimension %" PRIu32 " is negative (%" PRId64 ")", d, (int64_t)v);
        t->ne[d] = (int64_t)v;
        if (rk_mul_u64(numel, v, &numel) || numel > (uint64_t)INT64_MAX)
            return fail(c, RK_ECORRUPT, dat, "element count of shape [%" PRId64 ", ...] overflows", t->ne[0]);
    }
    uint64_t tat = c->pos;
    if ((rc = rd_u32(c, "ggml type", &type))) return rc;
    const rk_dtype_traits *tr = rk_dtype_is_ggml((int)type) ? rk_dtype_get((int)type) : NULL;
    if (!tr)
        return fail(c, type < 256 ? RK_EUNSUPPORTED : RK_ECORRUPT, tat, "ggml type %" PRIu32 " at offset %" PRIu64
                    " is unknown", type, tat);
    t->type = (int)type;
    if ((uint64_t)t->ne[0] % tr->block_size)
        return fail(c, RK_ECORRUPT, dat, "row of %" PRId64 " elements is not a multiple of the %s block size %" PRIu32,
                    t->ne[0], tr->name, tr->block_size);
    if (rk_dtype_nbytes((int)type, numel, &t->nbytes))
        return fail(c, RK_ECORRUPT, dat, "byte size of %" PRIu64 " %s elements overflows", numel, tr->name);
    uint64_t oat = c->pos;
    if ((rc = rd_u64(c, "offset", &t->offset))) return rc;
    if (t->offset % g->alignment)
        return fail(c, RK_ECORRUPT, oat, "offset %" PRIu64 " is not a multiple of alignment %" PRIu32, t->offset,
                    g->alignment);
    return 0;
}

typedef struct span { uint64_t off, end, idx; } span;

static int span_cmp(const void *a, const void *b) {
    const span *x = a, *y = b;
    if (x->off != y->off) return x->off < y->off ? -1 : 1;
    return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

static void tensor_ctx(cur *c, const rk_gguf_tensor *t) {
    char q[72];
    rk_gguf_quote(q, sizeof q, t->name.ptr, t->name.len, 64);
    snprintf(c->ctx, sizeof c->ctx, "tensor '%s'", q);
}

/* Data section start, each tensor inside the file, no two overlapping. */
static int place_tensors(cur *c) {
    rk_gguf *g = c->g;
    uint64_t end = c->pos, a = g->alignment;
    uint64_t dofs = end + (a - end % a) % a;
    snprintf(c->ctx, sizeof c->ctx, "data section");
    if (dofs < end || dofs > g->size) {
        if (g->n_tensors)
            return fail(c, RK_ECORRUPT, end, "would start at offset %" PRIu64 " (header ends at %" PRIu64 ", alignment %"
                        PRIu32 "), past the end of the file (%" PRIu64 " bytes)", dofs, end, g->alignment, g->size);
        dofs = end;
    }
    g->data_offset = dofs;
    uint64_t room = g->size - dofs;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        rk_gguf_tensor *t = &g->tensors[i];
        if (t->offset > room || t->nbytes > room - t->offset) {
            tensor_ctx(c, t);
            return fail(c, RK_ECORRUPT, UINT64_MAX, "data at offset %" PRIu64 " + %" PRIu64 " bytes runs past the end"
                        " of the file (data section at %" PRIu64 ", file size %" PRIu64 ")", t->offset, t->nbytes,
                        dofs, g->size);
        }
        t->data = g->base + dofs + t->offset;
    }
    if (g->n_tensors < 2) return 0;
    span *s = malloc((size_t)g->n_tensors * sizeof *s);
    if (!s) return fail(c, RK_ENOMEM, UINT64_MAX, "out of memory");
    for (uint64_t i = 0; i < g->n_tensors; i++)
        s[i] = (span){ g->tensors[i].offset, g->tensors[i].offset + g->tensors[i].nbytes, i };
    qsort(s, (size_t)g->n_tensors, sizeof *s, span_cmp);
    uint64_t max_end = 0, max_i = 0;
    int rc = 0;
    for (uint64_t k = 0; k < g->n_tensors && !rc; k++) {
        if (s[k].end == s[k].off) continue;              /* empty tensors overlap nothing */
        if (s[k].off < max_end) {
            const rk_gguf_tensor *o = &g->tensors[max_i];
            char q[72];
            rk_gguf_quote(q, sizeof q, o->name.ptr, o->name.len, 64);
            tensor_ctx(c, &g->tensors[s[k].idx]);
            rc = fail(c, RK_ECORRUPT, UINT64_MAX, "data [%" PRIu64 ", %" PRIu64 ") overlaps tensor '%s' [%" PRIu64 ", %"
                      PRIu64 ")", s[k].off, s[k].end, q, o->offset, o->offset + o->nbytes);
        }
        if (s[k].end > max_end) { max_end = s[k].end; max_i = s[k].idx; }
    }
    free(s);
    return rc;
}

static int parse(rk_gguf *g, rk_err *err) {
    cur c = { .g = g, .err = err, .pos = 0 };
    int rc;
    if ((rc = parse_header(&c)) || (rc = parse_kvs(&c))) return rc;
    if (g->n_tensors) {
        g->tensors = calloc((size_t)g->n_tensors, sizeof *g->tensors);
        if (!g->tensors || rk_gguf_index_init(&g->t_ix, g->n_tensors)) return fail(&c, RK_ENOMEM, UINT64_MAX, "out of memory");
    }
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if ((rc = parse_tensor_info(&c, i))) return rc;
    return place_tensors(&c);
}

/* ---- open/close ---- */
static int open_common(rk_gguf **out, rk_gguf *g, rk_err *err) {
    int rc;
    if (!g->name) {
        rc = rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
        goto fail;
    }
    if ((rc = parse(g, err))) goto fail;
    *out = g;
    return 0;
fail:
    rk_gguf_close(g);
    return rc;
}

int rk_gguf_open(rk_gguf **out, const char *path, rk_err *err) {
    rk_err_clear(err);
    if (!out || !path) return rk_err_set(err, RK_EINVAL, UINT64_MAX, "rk_gguf_open: NULL argument");
    *out = NULL;
    rk_gguf *g = calloc(1, sizeof *g);
    if (!g) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "%s: out of memory", path);
    int rc = rk_map_open(&g->map, path, err);
    if (rc) {
        free(g);
        return rc;
    }
    g->base = g->map.data;
    g->size = g->map.size;
    g->name = rk_strdup(path);
    return open_common(out, g, err);
}

int rk_gguf_open_buffer(rk_gguf **out, const void *buf, size_t len, const char *name, rk_err *err) {
    rk_err_clear(err);
    if (!out || (!buf && len)) return rk_err_set(err, RK_EINVAL, UINT64_MAX, "rk_gguf_open_buffer: NULL argument");
    *out = NULL;
    rk_gguf *g = calloc(1, sizeof *g);
    if (!g) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
    g->base = buf;
    g->size = len;
    g->name = rk_strdup(name ? name : "(buffer)");
    return open_common(out, g, err);
}

void rk_gguf_close(rk_gguf *g) {
    if (!g) return;
    while (g->arena) {
        arena_blk *n = g->arena->next;
        free(g->arena);
        g->arena = n;
    }
    rk_gguf_index_free(&g->kv_ix);
    rk_gguf_index_free(&g->t_ix);
    free(g->kv);
    free(g->tensors);
    free(g->name);
    rk_map_close(&g->map);
    free(g);
}

/* ---- accessors ---- */
const char *rk_gguf_name(const rk_gguf *g) { return g->name; }
uint64_t rk_gguf_size(const rk_gguf *g) { return g->size; }
uint32_t rk_gguf_version(const rk_gguf *g) { return g->version; }
uint32_t rk_gguf_alignment(const rk_gguf *g) { return g->alignment; }
uint64_t rk_gguf_data_offset(const rk_gguf *g) { return g->data_offset; }
uint64_t rk_gguf_kv_count(const rk_gguf *g) { return g->n_kv; }
uint64_t rk_gguf_tensor_count(const rk_gguf *g) { return g->n_tensors; }

const rk_gguf_kv *rk_gguf_kv_at(const rk_gguf *g, uint64_t i) { return i < g->n_kv ? &g->kv[i] : NULL; }
const rk_gguf_tensor *rk_gguf_tensor_at(const rk_gguf *g, uint64_t i) { return i < g->n_tensors ? &g->tensors[i] : NULL; }

const rk_gguf_kv *rk_gguf_find_kv(const rk_gguf *g, const char *key) {
    if (!g || !key) return NULL;
    uint64_t i = rk_gguf_index_find(&g->kv_ix, key, strlen(key), kv_key, g);
    return i == UINT64_MAX ? NULL : &g->kv[i];
}

const rk_gguf_tensor *rk_gguf_find_tensor(const rk_gguf *g, const char *name) {
    if (!g || !name) return NULL;
    uint64_t i = rk_gguf_index_find(&g->t_ix, name, strlen(name), tensor_name, g);
    return i == UINT64_MAX ? NULL : &g->tensors[i];
}

int rk_gguf_get_u64(const rk_gguf *g, const char *key, uint64_t *out) {
    const rk_gguf_kv *kv = rk_gguf_find_kv(g, key);
    return kv ? rk_gguf_value_u64(&kv->val, out) : RK_ENOTFOUND;
}

int rk_gguf_get_i64(const rk_gguf *g, const char *key, int64_t *out) {
    const rk_gguf_kv *kv = rk_gguf_find_kv(g, key);
    return kv ? rk_gguf_value_i64(&kv->val, out) : RK_ENOTFOUND;
}

int rk_gguf_get_f64(const rk_gguf *g, const char *key, double *out) {
    const rk_gguf_kv *kv = rk_gguf_find_kv(g, key);
    return kv ? rk_gguf_value_f64(&kv->val, out) : RK_ENOTFOUND;
}

int rk_gguf_get_bool(const rk_gguf *g, const char *key, int *out) {
    const rk_gguf_kv *kv = rk_gguf_find_kv(g, key);
    if (!kv) return RK_ENOTFOUND;
    if (kv->val.type != RK_GGUF_BOOL) return RK_EINVAL;
    *out = kv->val.v.b;
    return 0;
}

int rk_gguf_get_str(const rk_gguf *g, const char *key, rk_gguf_str *out) {
    const rk_gguf_kv *kv = rk_gguf_find_kv(g, key);
    if (!kv) return RK_ENOTFOUND;
    if (kv->val.type != RK_GGUF_STRING) return RK_EINVAL;
    *out = kv->val.v.s;
    return 0;
}
