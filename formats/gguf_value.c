/* formats/gguf_value.c — GGUF metadata values: type names and sizes, conversions, array element access,
 * human-readable formatting; plus the small string index shared by reader and writer.
 * Value types follow ggml's docs/gguf.md (gguf_metadata_value_type, 0 U8 … 12 F64). */
#include "formats/gguf-impl.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- types ---- */
static const char *const g_type_names[RK_GGUF_TYPE_COUNT] = {
    "U8", "I8", "U16", "I16", "U32", "I32", "F32", "BOOL", "STRING", "ARRAY", "U64", "I64", "F64",
};
static const uint8_t g_type_sizes[RK_GGUF_TYPE_COUNT] = { 1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8 };

const char *rk_gguf_type_name(int type) {
    return type >= 0 && type < RK_GGUF_TYPE_COUNT ? g_type_names[type] : "?";
}

size_t rk_gguf_type_size(int type) {
    return type >= 0 && type < RK_GGUF_TYPE_COUNT ? g_type_sizes[type] : 0;
}

/* ---- conversions ---- */
static int is_unsigned(int t) { return t == RK_GGUF_U8 || t == RK_GGUF_U16 || t == RK_GGUF_U32 || t == RK_GGUF_U64; }
static int is_signed(int t) { return t == RK_GGUF_I8 || t == RK_GGUF_I16 || t == RK_GGUF_I32 || t == RK_GGUF_I64; }

int rk_gguf_value_u64(const rk_gguf_value *v, uint64_t *out) {
    if (!v) return RK_EINVAL;
    if (is_unsigned(v->type)) { *out = v->v.u; return 0; }
    if (is_signed(v->type) && v->v.i >= 0) { *out = (uint64_t)v->v.i; return 0; }
    return RK_EINVAL;
}

int rk_gguf_value_i64(const rk_gguf_value *v, int64_t *out) {
    if (!v) return RK_EINVAL;
    if (is_signed(v->type)) { *out = v->v.i; return 0; }
    if (is_unsigned(v->type) && v->v.u <= (uint64_t)INT64_MAX) { *out = (int64_t)v->v.u; return 0; }
    return RK_EINVAL;
}

int rk_gguf_value_f64(const rk_gguf_value *v, double *out) {
    if (!v || (v->type != RK_GGUF_F32 && v->type != RK_GGUF_F64)) return RK_EINVAL;
    *out = v->v.f;
    return 0;
}

void rk_gguf_decode_scalar(int t, const uint8_t *p, rk_gguf_value *out) {
    memset(out, 0, sizeof *out);
    out->type = t;
    uint64_t raw = rk_gguf_rd_le(p, rk_gguf_type_size(t));
    switch (t) {
    case RK_GGUF_U8: case RK_GGUF_U16: case RK_GGUF_U32: case RK_GGUF_U64: out->v.u = raw; break;
    case RK_GGUF_I8: out->v.i = (int8_t)raw; break;
    case RK_GGUF_I16: out->v.i = (int16_t)raw; break;
    case RK_GGUF_I32: out->v.i = (int32_t)raw; break;
    case RK_GGUF_I64: out->v.i = (int64_t)raw; break;
    case RK_GGUF_F32: { uint32_t b = (uint32_t)raw; float f; memcpy(&f, &b, 4); out->v.f = f; break; }
    case RK_GGUF_F64: { double d; memcpy(&d, &raw, 8); out->v.f = d; break; }
    case RK_GGUF_BOOL: out->v.b = raw != 0; break;
    default: break;
    }
}

int rk_gguf_arr_at(const rk_gguf_value *arr, uint64_t i, rk_gguf_value *out) {
    if (!arr || arr->type != RK_GGUF_ARRAY || !out) return RK_EINVAL;
    if (i >= arr->v.arr.n) return RK_ENOTFOUND;
    int t = arr->v.arr.type;
    size_t w = rk_gguf_type_size(t);
    if (w) {
        if (!arr->v.arr.raw) return RK_EINVAL;
        rk_gguf_decode_scalar(t, arr->v.arr.raw + i * w, out);
        return 0;
    }
    if (!arr->v.arr.items) return RK_EINVAL;
    *out = arr->v.arr.items[i];
    return 0;
}

/* ---- formatting: a bounded appender that never overruns and always terminates ---- */
typedef struct sbuf { char *p; size_t cap, len; } sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
    if (b->cap == 0) return;
    for (size_t i = 0; i < n && b->len + 1 < b->cap; i++) b->p[b->len++] = s[i];
    b->p[b->len] = 0;
}

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k > 0) sb_put(b, tmp, (size_t)k < sizeof tmp ? (size_t)k : sizeof tmp - 1);
}

static int sb_full(const sbuf *b) { return b->cap == 0 || b->len + 1 >= b->cap; }

static void fmt_string(sbuf *b, const rk_gguf_str *s) {
    sb_put(b, "\"", 1);
    for (uint64_t i = 0; i < s->len && !sb_full(b); i++) {
        unsigned char c = (unsigned char)s->ptr[i];
        if (c == '"' || c == '\\') { char e[2] = { '\\', (char)c }; sb_put(b, e, 2); }
        else if (c < 0x20 || c == 0x7f) sb_printf(b, "\\x%02x", c);
        else sb_put(b, (const char *)&c, 1);     /* UTF-8 passes through */
    }
    sb_put(b, "\"", 1);
}

static void fmt_value(sbuf *b, const rk_gguf_value *v, size_t max_items, int depth);

static void fmt_array(sbuf *b, const rk_gguf_value *v, size_t max_items, int depth) {
    uint64_t n = v->v.arr.n;
    sb_put(b, "[", 1);
    uint64_t shown = n < max_items ? n : max_items;
    for (uint64_t i = 0; i < shown && !sb_full(b); i++) {
        rk_gguf_value e;
        if (i) sb_put(b, ", ", 2);
        if (rk_gguf_arr_at(v, i, &e) != 0) { sb_put(b, "?", 1); continue; }
        fmt_value(b, &e, max_items, depth + 1);
    }
    if (shown < n) sb_printf(b, "%s... (%" PRIu64 " items)", shown ? ", " : "", n);
    sb_put(b, "]", 1);
}

static void fmt_value(sbuf *b, const rk_gguf_value *v, size_t max_items, int depth) {
    switch (v->type) {
    case RK_GGUF_U8: case RK_GGUF_U16: case RK_GGUF_U32: case RK_GGUF_U64: sb_printf(b, "%" PRIu64, v->v.u); break;
    case RK_GGUF_I8: case RK_GGUF_I16: case RK_GGUF_I32: case RK_GGUF_I64: sb_printf(b, "%" PRId64, v->v.i); break;
    case RK_GGUF_F32: sb_printf(b, "%.9g", v->v.f); break;
    case RK_GGUF_F64: sb_printf(b, "%.17g", v->v.f); break;
    case RK_GGUF_BOOL: sb_put(b, v->v.b ? "true" : "false", v->v.b ? 4 : 5); break;
    case RK_GGUF_STRING: fmt_string(b, &v->v.s); break;
    case RK_GGUF_ARRAY:
        if (depth > RK_GGUF_MAX_DEPTH) sb_put(b, "[...]", 5);
        else fmt_array(b, v, max_items, depth);
        break;
    default: sb_put(b, "?", 1); break;
    }
}

void rk_gguf_value_format(const rk_gguf_value *v, char *buf, size_t cap, size_t max_items) {
    sbuf b = { buf, cap, 0 };
    if (cap) buf[0] = 0;
    if (!v || !buf) return;
    fmt_value(&b, v, max_items, 0);
}

/* ---- error-message quoting ---- */
void rk_gguf_quote(char *out, size_t cap, const char *s, uint64_t n, size_t max) {
    if (!cap) return;
    size_t k = 0;
    uint64_t take = n < max ? n : max;
    for (uint64_t i = 0; i < take && k + 1 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        out[k++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    for (int d = 0; take < n && d < 3 && k + 1 < cap; d++) out[k++] = '.';
    out[k] = 0;
}

/* ---- string index ---- */
int rk_gguf_index_init(rk_gguf_index *ix, uint64_t n) {
    uint64_t cap = 16;
    while (cap < 2 * n) cap <<= 1;           /* n <= 2^20 by the callers' caps */
    ix->slot = calloc(cap, sizeof *ix->slot);
    ix->mask = cap - 1;
    return ix->slot ? 0 : RK_ENOMEM;
}

void rk_gguf_index_free(rk_gguf_index *ix) {
    if (!ix) return;
    free(ix->slot);
    ix->slot = NULL;
    ix->mask = 0;
}

uint64_t rk_gguf_index_find(const rk_gguf_index *ix, const char *s, uint64_t n, rk_gguf_index_get get, const void *ctx) {
    if (!ix->slot) return UINT64_MAX;
    for (uint64_t h = rk_gguf_hash(s, n) & ix->mask;; h = (h + 1) & ix->mask) {
        uint64_t e = ix->slot[h];
        if (!e) return UINT64_MAX;
        rk_gguf_str k = get(ctx, e - 1);
        if (k.len == n && (n == 0 || memcmp(k.ptr, s, n) == 0)) return e - 1;
    }
}

uint64_t rk_gguf_index_insert(rk_gguf_index *ix, uint64_t i, rk_gguf_index_get get, const void *ctx) {
    rk_gguf_str s = get(ctx, i);
    for (uint64_t h = rk_gguf_hash(s.ptr, s.len) & ix->mask;; h = (h + 1) & ix->mask) {
        uint64_t e = ix->slot[h];
        if (!e) {
            ix->slot[h] = i + 1;
            return UINT64_MAX;
        }
        rk_gguf_str k = get(ctx, e - 1);
        if (k.len == s.len && (s.len == 0 || memcmp(k.ptr, s.ptr, s.len) == 0)) return e - 1;
    }
}
