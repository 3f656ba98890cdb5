/* formats/safetensors_json.c — the strict JSON scanner run before cJSON, UTF-8 checks, the safetensors
 * dtype table and small helpers (name index, text buffer) shared by the reader, set and writer.
 * Grammar: RFC 8259. UTF-8: RFC 3629 (shortest form, no surrogates, <= U+10FFFF). Dtypes: the safetensors
 * spec (see ../shared/DESIGN.md). */
#include "formats/safetensors-impl.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- UTF-8 ---- */

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if it is not one. */
static size_t utf8_seq(const uint8_t *s, size_t n) {
    uint8_t c = s[0];
    if (c < 0x80) return 1;
    size_t len = c < 0xC2 ? 0 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : c < 0xF5 ? 4 : 0;
    if (len == 0 || len > n) return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    if (c == 0xE0 && s[1] < 0xA0) return 0;   /* overlong 3-byte */
    if (c == 0xED && s[1] >= 0xA0) return 0;  /* UTF-16 surrogate */
    if (c == 0xF0 && s[1] < 0x90) return 0;   /* overlong 4-byte */
    if (c == 0xF4 && s[1] >= 0x90) return 0;  /* above U+10FFFF */
    return len;
}

size_t rk_st_utf8_check(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        if (s[i] < 0x80) { i++; continue; }
        size_t k = utf8_seq(s + i, n - i);
        if (!k) return i;
        i += k;
    }
    return n;
}

/* ---- strict JSON scanner ---- */
#define JSON_MAX_DEPTH 64
#define JSON_MAX_NUMBER 40
#define JSON_MAX_INT_ARRAY 64

typedef struct jscan {
    const uint8_t *s;
    size_t n, i;
    int ints_only;
    rk_st_jerr *e;
} jscan;

__attribute__((format(printf, 4, 0)))
static int jvfail(jscan *p, int syntax, size_t pos, const char *fmt, va_list ap) {
    p->e->pos = pos;
    p->e->syntax = syntax;
    vsnprintf(p->e->msg, sizeof p->e->msg, fmt, ap);
    return -1;
}

/* Not JSON. */
__attribute__((format(printf, 3, 4)))
static int jfail(jscan *p, size_t pos, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    jvfail(p, 1, pos, fmt, ap);
    va_end(ap);
    return -1;
}

/* JSON, but not what we accept. */
__attribute__((format(printf, 3, 4)))
static int jrefuse(jscan *p, size_t pos, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    jvfail(p, 0, pos, fmt, ap);
    va_end(ap);
    return -1;
}

static void jws(jscan *p) {
    while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' || p->s[p->i] == '\r'))
        p->i++;
}

static int hexval(uint8_t c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* \uXXXX at s[at] (the backslash); -1 if it is not one. */
static long hex4(const jscan *p, size_t at) {
    if (p->n - at < 6 || p->s[at] != '\\' || p->s[at + 1] != 'u') return -1;
    long v = 0;
    for (size_t k = 0; k < 4; k++) {
        int h = hexval(p->s[at + 2 + k]);
        if (h < 0) return -1;
        v = v * 16 + h;
    }
    return v;
}

static int jstring(jscan *p) {
    size_t start = p->i++;
    for (;;) {
        if (p->i >= p->n) return jfail(p, start, "unterminated string");
        uint8_t c = p->s[p->i];
        if (c == '"') { p->i++; return 0; }
        if (c < 0x20) return jfail(p, p->i, "raw control character 0x%02x inside a string", c);
        if (c >= 0x80) {
            size_t k = utf8_seq(p->s + p->i, p->n - p->i);
            if (!k) return jfail(p, p->i, "invalid UTF-8 byte 0x%02x inside a string", c);
            p->i += k;
            continue;
        }
        if (c != '\\') { p->i++; continue; }
        if (p->i + 1 >= p->n) return jfail(p, start, "unterminated string");
        switch (p->s[p->i + 1]) {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
            p->i += 2;
            break;
        case 'u': {
            long u = hex4(p, p->i);
            if (u < 0) return jfail(p, p->i, "invalid \\u escape");
            if (u == 0) return jrefuse(p, p->i, "\\u0000 (NUL) inside a string");
            if (u >= 0xDC00 && u <= 0xDFFF) return jfail(p, p->i, "unpaired UTF-16 low surrogate \\u%04lx", u);
            if (u >= 0xD800 && u <= 0xDBFF) {
                long lo = hex4(p, p->i + 6);
                if (lo < 0xDC00 || lo > 0xDFFF)
                    return jfail(p, p->i, "unpaired UTF-16 high surrogate \\u%04lx", u);
                p->i += 12;
            } else {
                p->i += 6;
            }
            break;
        }
        default:
            return jfail(p, p->i, "invalid escape '\\%c'", p->s[p->i + 1] >= 0x20 && p->s[p->i + 1] < 0x7f ? p->s[p->i + 1] : '?');
        }
    }
}

static int isdig(const jscan *p) { return p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9'; }

static int jnumber(jscan *p) {
    size_t st = p->i;
    int is_int = 1;
    if (p->s[p->i] == '-') { p->i++; is_int = 0; }
    if (p->i < p->n && p->s[p->i] == '0') p->i++;
    else if (isdig(p)) while (isdig(p)) p->i++;
    else return jfail(p, st, "invalid number");
    if (p->i < p->n && p->s[p->i] == '.') {
        p->i++;
        is_int = 0;
        if (!isdig(p)) return jfail(p, st, "invalid number (no digits after '.')");
        while (isdig(p)) p->i++;
    }
    if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
        p->i++;
        is_int = 0;
        if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-')) p->i++;
        if (!isdig(p)) return jfail(p, st, "invalid number (no exponent digits)");
        while (isdig(p)) p->i++;
    }
    size_t len = p->i - st;
    if (len > JSON_MAX_NUMBER) return jrefuse(p, st, "number of %zu characters is too long", len);
    if (!p->ints_only) return 0;
    if (!is_int)
        return jrefuse(p, st, "number %.*s is not a non-negative integer (shape and data_offsets hold only those)",
                     (int)len, (const char *)p->s + st);
    uint64_t v = 0;
    for (size_t k = st; k < p->i; k++) {
        v = v * 10 + (uint64_t)(p->s[k] - '0');
        if (v > RK_ST_MAX_INT)
            return jrefuse(p, st, "integer %.*s is larger than 2^53 (not exact as a JSON double)", (int)len,
                         (const char *)p->s + st);
    }
    return 0;
}

static int jlit(jscan *p, const char *lit) {
    size_t k = strlen(lit);
    if (p->n - p->i < k || memcmp(p->s + p->i, lit, k) != 0) return jfail(p, p->i, "invalid literal");
    p->i += k;
    return 0;
}

static int jvalue(jscan *p, int depth);

static int jobject(jscan *p, int depth) {
    if (depth > JSON_MAX_DEPTH) return jrefuse(p, p->i, "nested deeper than %d levels", JSON_MAX_DEPTH);
    p->i++;
    jws(p);
    if (p->i < p->n && p->s[p->i] == '}') { p->i++; return 0; }
    for (;;) {
        jws(p);
        if (p->i >= p->n || p->s[p->i] != '"') return jfail(p, p->i, "expected a string key");
        if (jstring(p)) return -1;
        jws(p);
        if (p->i >= p->n || p->s[p->i] != ':') return jfail(p, p->i, "expected ':' after a key");
        p->i++;
        if (jvalue(p, depth + 1)) return -1;
        jws(p);
        if (p->i < p->n && p->s[p->i] == ',') { p->i++; continue; }
        if (p->i < p->n && p->s[p->i] == '}') { p->i++; return 0; }
        return jfail(p, p->i, "expected ',' or '}' in an object");
    }
}

static int jarray(jscan *p, int depth) {
    if (depth > JSON_MAX_DEPTH) return jrefuse(p, p->i, "nested deeper than %d levels", JSON_MAX_DEPTH);
    size_t st = p->i++, count = 0;
    jws(p);
    if (p->i < p->n && p->s[p->i] == ']') { p->i++; return 0; }
    for (;;) {
        if (p->ints_only && ++count > JSON_MAX_INT_ARRAY)
            return jrefuse(p, st, "array with more than %d items", JSON_MAX_INT_ARRAY);
        if (jvalue(p, depth + 1)) return -1;
        jws(p);
        if (p->i < p->n && p->s[p->i] == ',') { p->i++; continue; }
        if (p->i < p->n && p->s[p->i] == ']') { p->i++; return 0; }
        return jfail(p, p->i, "expected ',' or ']' in an array");
    }
}

static int jvalue(jscan *p, int depth) {
    jws(p);
    if (p->i >= p->n) return jfail(p, p->i, "unexpected end of JSON");
    uint8_t c = p->s[p->i];
    switch (c) {
    case '{': return jobject(p, depth);
    case '[': return jarray(p, depth);
    case '"': return jstring(p);
    case 't': return jlit(p, "true");
    case 'f': return jlit(p, "false");
    case 'n': return jlit(p, "null");
    default:
        if (c == '-' || (c >= '0' && c <= '9')) return jnumber(p);
        if (c >= 0x20 && c < 0x7f) return jfail(p, p->i, "unexpected character '%c'", c);
        return jfail(p, p->i, "unexpected byte 0x%02x", c);
    }
}

int rk_st_json_check(const char *s, size_t n, int ints_only, size_t *end, rk_st_jerr *e) {
    jscan p = { (const uint8_t *)s, n, 0, ints_only, e };
    jws(&p);
    if (p.i >= p.n || p.s[p.i] != '{') return jfail(&p, p.i, "expected a JSON object");
    if (jobject(&p, 1)) return -1;
    *end = p.i;
    return 0;
}

/* ---- dtypes ---- */
static const int g_st_dtypes[] = {
    RK_DTYPE_BOOL, RK_DTYPE_U8, RK_DTYPE_I8, RK_DTYPE_F8_E5M2, RK_DTYPE_F8_E4M3, RK_DTYPE_I16, RK_DTYPE_U16,
    RK_DTYPE_F16, RK_DTYPE_BF16, RK_DTYPE_I32, RK_DTYPE_U32, RK_DTYPE_F32, RK_DTYPE_F64, RK_DTYPE_I64,
    RK_DTYPE_U64, RK_DTYPE_F8_E8M0, RK_DTYPE_F6_E2M3, RK_DTYPE_F6_E3M2, RK_DTYPE_F4,
};

int rk_st_dtype_ok(int dtype) {
    for (size_t i = 0; i < sizeof g_st_dtypes / sizeof g_st_dtypes[0]; i++)
        if (g_st_dtypes[i] == dtype) return 1;
    return 0;
}

int rk_st_dtype_from_name(const char *name) {
    int d = rk_dtype_from_name(name);
    return rk_st_dtype_ok(d) ? d : RK_DTYPE_INVALID;
}

int rk_st_nbytes(int dtype, uint64_t numel, uint64_t *out) {
    const rk_dtype_traits *t = rk_dtype_get(dtype);
    uint64_t bits;
    if (!t || t->block_size != 1 || t->bits == 0) return -1;   /* safetensors dtypes are all scalar */
    if (rk_mul_u64(numel, t->bits, &bits)) return -1;
    if (bits % 8) return -2;
    *out = bits / 8;
    return 0;
}

void rk_st_fmt_shape(char *buf, size_t cap, const int64_t *shape, int n_dims) {
    size_t k = 0;
    int w = snprintf(buf, cap, "[");
    k = w > 0 ? (size_t)w : 0;
    for (int i = 0; i < n_dims && k < cap; i++) {
        w = snprintf(buf + k, cap - k, "%s%lld", i ? ", " : "", (long long)shape[i]);
        if (w < 0) break;
        k += (size_t)w;
    }
    if (k < cap) snprintf(buf + k, cap - k, "]");
    else if (cap >= 4) memcpy(buf + cap - 4, "...", 4);
}

/* ---- name index ---- */
static int name_cmp(const void *a, const void *b) {
    const rk_st_name *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c) return c;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

void rk_st_names_sort(rk_st_name *v, size_t n) {
    if (n > 1) qsort(v, n, sizeof *v, name_cmp);
}

const rk_st_name *rk_st_names_find(const rk_st_name *v, size_t n, const char *name) {
    size_t lo = 0, hi = n;
    while (lo < hi) {   /* first element >= name */
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(v[mid].name, name) < 0) lo = mid + 1;
        else hi = mid;
    }
    return lo < n && strcmp(v[lo].name, name) == 0 ? &v[lo] : NULL;
}

size_t rk_st_names_dup(const rk_st_name *v, size_t n) {
    for (size_t i = 0; i + 1 < n; i++)
        if (strcmp(v[i].name, v[i + 1].name) == 0) return i;
    return n;
}

/* ---- text buffer ---- */
void rk_st_buf_put(rk_st_buf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->cap - b->n <= n) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->n <= n) {
            if (cap > SIZE_MAX / 2) { b->oom = 1; return; }
            cap *= 2;
        }
        char *p = realloc(b->p, cap);
        if (!p) { b->oom = 1; return; }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

void rk_st_buf_puts(rk_st_buf *b, const char *s) { rk_st_buf_put(b, s, strlen(s)); }

void rk_st_buf_printf(rk_st_buf *b, const char *fmt, ...) {
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (w < 0 || (size_t)w >= sizeof tmp) { b->oom = 1; return; }   /* only used for short numeric text */
    rk_st_buf_put(b, tmp, (size_t)w);
}

void rk_st_buf_json_str(rk_st_buf *b, const char *s) {
    rk_st_buf_put(b, "\"", 1);
    const char *run = s;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c != '"' && c != '\\' && c >= 0x20) continue;
        rk_st_buf_put(b, run, (size_t)(s - run));
        char esc[8];
        if (c == '"' || c == '\\') snprintf(esc, sizeof esc, "\\%c", c);
        else snprintf(esc, sizeof esc, "\\u%04x", c);
        rk_st_buf_puts(b, esc);
        run = s + 1;
    }
    rk_st_buf_put(b, run, (size_t)(s - run));
    rk_st_buf_put(b, "\"", 1);
}

void rk_st_buf_free(rk_st_buf *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}
