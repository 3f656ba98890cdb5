/* formats/gguf_write.c — streaming GGUF v3 writer.
 *
 * KVs are serialized into one buffer as they are set (so the header is known in full before any tensor
 * byte exists); tensor infos are collected; begin computes the header size, the data offset (rounded up to
 * the alignment) and each tensor's offset (packed in declaration order, each padded to the alignment —
 * exactly what ggml's gguf_write_out produces, whose reader now requires that order), writes the header and
 * its padding through an rk_outfile (temp + rename). Tensor bytes then stream in any chunking; the writer
 * inserts the zero padding after each tensor (the last one too, like ggml) and refuses to over- or
 * under-write. Misuse and bad values fail with RK_EINVAL; the first failure sticks (rk_gguf_writer_err). */
#include "formats/gguf-impl.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#define WRITER_MAX_NAME (RK_GGUF_MAX_NAME_LEN - 1)   /* ggml refuses names of GGML_MAX_NAME (64) bytes or more */

enum { W_BUILD, W_DATA, W_DONE, W_FAILED };

typedef struct wtensor {
    char name[RK_GGUF_MAX_NAME_LEN];
    size_t name_len;
    int type;
    uint32_t n_dims;
    int64_t ne[4];
    uint64_t nbytes, offset;
} wtensor;

typedef struct wkey { size_t off, len; } wkey;     /* key bytes inside kv_buf */

struct rk_gguf_writer {
    uint8_t *kv_buf;
    size_t kv_len, kv_cap;
    wkey *keys;
    uint64_t n_kv, keys_cap;
    rk_gguf_index kv_ix;
    wtensor *t;
    uint64_t n_t, t_cap;
    rk_gguf_index t_ix;
    int has_align_kv;
    uint32_t align_kv;
    uint32_t alignment;
    int state;
    rk_outfile out;
    uint64_t data_offset;
    uint64_t n_items;                   /* STRING/ARRAY array elements so far (the reader caps them) */
    uint64_t cur, cur_done, remaining;  /* streaming position */
    rk_err err;                         /* first failure */
};

/* ---- errors ---- */
static int werr(rk_gguf_writer *w, rk_err *err, int code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int werr(rk_gguf_writer *w, rk_err *err, int code, const char *fmt, ...) {
    char msg[224];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *who = w->out.path ? w->out.path : "gguf writer";
    if (w->err.code == 0) rk_err_file(&w->err, code, who, UINT64_MAX, "%s", msg);
    if (err) rk_err_file(err, code, who, UINT64_MAX, "%s", msg);
    return code;
}

static void fail_file(rk_gguf_writer *w) {
    rk_outfile_abort(&w->out);
    w->state = W_FAILED;
}

/* ---- KV buffer ---- */
static int put(rk_gguf_writer *w, const void *p, size_t n) {
    if (n == 0) return 0;
    if (n > SIZE_MAX / 2 - w->kv_len) return RK_ENOMEM;
    if (w->kv_len + n > w->kv_cap) {
        size_t cap = w->kv_cap ? w->kv_cap : 256;
        while (cap < w->kv_len + n) cap *= 2;
        uint8_t *b = realloc(w->kv_buf, cap);
        if (!b) return RK_ENOMEM;
        w->kv_buf = b;
        w->kv_cap = cap;
    }
    memcpy(w->kv_buf + w->kv_len, p, n);
    w->kv_len += n;
    return 0;
}

static int put_le(rk_gguf_writer *w, uint64_t v, size_t n) {
    uint8_t b[8];
    for (size_t i = 0; i < n; i++) b[i] = (uint8_t)(v >> (8 * i));
    return put(w, b, n);
}

static int put_str(rk_gguf_writer *w, const char *s, uint64_t n) {
    int rc = put_le(w, n, 8);
    return rc ? rc : put(w, s, (size_t)n);
}

static rk_gguf_str wkey_at(const void *ctx, uint64_t i) {
    const rk_gguf_writer *w = ctx;
    return (rk_gguf_str){ (const char *)w->kv_buf + w->keys[i].off, w->keys[i].len };
}

static rk_gguf_str wname_at(const void *ctx, uint64_t i) {
    const rk_gguf_writer *w = ctx;
    return (rk_gguf_str){ w->t[i].name, w->t[i].name_len };
}

/* Make room for one more entry in an index (rebuilding it at twice the size when half full). */
static int index_reserve(rk_gguf_index *ix, uint64_t n, rk_gguf_index_get get, const void *ctx) {
    if (ix->slot && 2 * (n + 1) <= ix->mask + 1) return 0;
    rk_gguf_index nx;
    if (rk_gguf_index_init(&nx, 2 * (n + 1))) return RK_ENOMEM;
    for (uint64_t i = 0; i < n; i++) rk_gguf_index_insert(&nx, i, get, ctx);
    rk_gguf_index_free(ix);
    *ix = nx;
    return 0;
}

/* ---- values ---- */
static int put_payload(rk_gguf_writer *w, const rk_gguf_value *v, int depth, const char **why);

static int put_array(rk_gguf_writer *w, const rk_gguf_value *v, int depth, const char **why) {
    int et = v->v.arr.type, rc;
    uint64_t n = v->v.arr.n;
    size_t ew = rk_gguf_type_size(et);
    if (depth >= RK_GGUF_MAX_DEPTH) { *why = "arrays nested too deep"; return RK_EINVAL; }
    if (et < 0 || et >= RK_GGUF_TYPE_COUNT) { *why = "unknown array element type"; return RK_EINVAL; }
    if (n > RK_GGUF_MAX_ARRAY_LEN) { *why = "array longer than readers accept"; return RK_EINVAL; }
    if ((rc = put_le(w, (uint32_t)et, 4)) || (rc = put_le(w, n, 8))) return rc;
    if (n == 0) return 0;
    if (ew) {
        const uint8_t *raw = v->v.arr.raw;
        if (!raw || n > SIZE_MAX / ew) { *why = "numeric array without data"; return RK_EINVAL; }
        if (et == RK_GGUF_BOOL)
            for (uint64_t i = 0; i < n; i++)
                if (raw[i] > 1) { *why = "BOOL array element is neither 0 nor 1"; return RK_EINVAL; }
        return put(w, raw, (size_t)(n * ew));
    }
    if (!v->v.arr.items) { *why = "array without items"; return RK_EINVAL; }
    if (n > RK_GGUF_MAX_ITEMS - w->n_items) { *why = "more string/array elements than readers accept"; return RK_EINVAL; }
    w->n_items += n;
    for (uint64_t i = 0; i < n; i++) {
        if (v->v.arr.items[i].type != et) { *why = "array element of the wrong type"; return RK_EINVAL; }
        if ((rc = put_payload(w, &v->v.arr.items[i], depth + 1, why))) return rc;
    }
    return 0;
}

static int put_payload(rk_gguf_writer *w, const rk_gguf_value *v, int depth, const char **why) {
    size_t bits = 8 * rk_gguf_type_size(v->type);
    switch (v->type) {
    case RK_GGUF_U8: case RK_GGUF_U16: case RK_GGUF_U32: case RK_GGUF_U64:
        if (bits < 64 && (v->v.u >> bits)) { *why = "value does not fit its type"; return RK_EINVAL; }
        return put_le(w, v->v.u, bits / 8);
    case RK_GGUF_I8: case RK_GGUF_I16: case RK_GGUF_I32: case RK_GGUF_I64:
        if (bits < 64 && (v->v.i < -(INT64_C(1) << (bits - 1)) || v->v.i >= (INT64_C(1) << (bits - 1)))) {
            *why = "value does not fit its type";
            return RK_EINVAL;
        }
        return put_le(w, (uint64_t)v->v.i, bits / 8);
    case RK_GGUF_F32: {
        float f = (float)v->v.f;
        uint32_t b;
        memcpy(&b, &f, 4);
        return put_le(w, b, 4);
    }
    case RK_GGUF_F64: {
        uint64_t b;
        memcpy(&b, &v->v.f, 8);
        return put_le(w, b, 8);
    }
    case RK_GGUF_BOOL: return put_le(w, v->v.b ? 1 : 0, 1);
    case RK_GGUF_STRING:
        if (!v->v.s.ptr && v->v.s.len) { *why = "string without data"; return RK_EINVAL; }
        if (v->v.s.len > RK_GGUF_MAX_STR_LEN) { *why = "string longer than readers accept"; return RK_EINVAL; }
        return put_str(w, v->v.s.ptr, v->v.s.len);
    case RK_GGUF_ARRAY: return put_array(w, v, depth, why);
    default: *why = "unknown value type"; return RK_EINVAL;
    }
}

/* Check the key, serialize key + type + value, then register the key. Rolls back on failure. */
static int set_value(rk_gguf_writer *w, const char *key, size_t klen, const rk_gguf_value *v) {
    char q[72];
    if (!w) return RK_EINVAL;
    if (w->state != W_BUILD) return werr(w, NULL, RK_EINVAL, "KV set after begin");
    if (!key || !v) return werr(w, NULL, RK_EINVAL, "KV set with a NULL key or value");
    rk_gguf_quote(q, sizeof q, key, klen, 64);
    if (klen == 0 || klen > RK_GGUF_MAX_KEY_LEN || memchr(key, 0, klen))
        return werr(w, NULL, RK_EINVAL, "key '%s': must be 1..%d bytes without NUL", q, RK_GGUF_MAX_KEY_LEN);
    if (rk_gguf_index_find(&w->kv_ix, key, klen, wkey_at, w) != UINT64_MAX)
        return werr(w, NULL, RK_EINVAL, "duplicate key '%s'", q);
    if (w->n_kv >= RK_GGUF_MAX_KV) return werr(w, NULL, RK_EINVAL, "more than %llu keys", RK_GGUF_MAX_KV);
    int is_align = klen == 17 && memcmp(key, "general.alignment", 17) == 0;
    if (is_align && (v->type != RK_GGUF_U32 || v->v.u == 0 || v->v.u > UINT32_MAX || (v->v.u & (v->v.u - 1))))
        return werr(w, NULL, RK_EINVAL, "key 'general.alignment': must be a U32 power of two");
    if (index_reserve(&w->kv_ix, w->n_kv, wkey_at, w)) return werr(w, NULL, RK_ENOMEM, "out of memory");
    if (w->n_kv == w->keys_cap) {
        uint64_t cap = w->keys_cap ? 2 * w->keys_cap : 32;
        wkey *k = realloc(w->keys, (size_t)cap * sizeof *k);
        if (!k) return werr(w, NULL, RK_ENOMEM, "out of memory");
        w->keys = k;
        w->keys_cap = cap;
    }
    size_t mark = w->kv_len;
    uint64_t items_mark = w->n_items;
    const char *why = NULL;
    int rc = put_str(w, key, klen);
    if (!rc) rc = put_le(w, (uint32_t)v->type, 4);
    if (!rc) rc = put_payload(w, v, 0, &why);
    if (rc) {
        w->kv_len = mark;
        w->n_items = items_mark;
        if (rc == RK_ENOMEM) return werr(w, NULL, rc, "key '%s': out of memory", q);
        return werr(w, NULL, rc, "key '%s': %s", q, why ? why : "invalid value");
    }
    w->keys[w->n_kv] = (wkey){ mark + 8, klen };
    rk_gguf_index_insert(&w->kv_ix, w->n_kv, wkey_at, w);
    w->n_kv++;
    if (is_align) {
        w->has_align_kv = 1;
        w->align_kv = (uint32_t)v->v.u;
    }
    return 0;
}

static int set_scalar(rk_gguf_writer *w, const char *key, rk_gguf_value v) {
    return set_value(w, key, key ? strlen(key) : 0, &v);
}

int rk_gguf_set_u8(rk_gguf_writer *w, const char *key, uint8_t v) { return set_scalar(w, key, (rk_gguf_value){ .type = RK_GGUF_U8, .v.u = v }); }
int rk_gguf_set_i8(rk_gguf_writer *w, const char *key, int8_t v) { return set_scalar(w, key, (rk_gguf_value){ .type = RK_GGUF_I8, .v.i = v }); }
int rk_gguf_set_u16(rk_gguf_writer *w, const char *key, uint16_t v) { return set_scalar(w, key, (rk_gguf_value){ .type = RK_GGUF_U16, .v.u = v }); }
int rk_gguf_set_i16(rk_gguf_writer *w, const char *key, int16_t v) { return set_scalar(w, key, (rk_gguf_value){ .type = RK_GGUF_I16, .v.i = v }); }
int rk_gguf_set_u32(rk_gguf_writer *w, const char *key, uint32_t v) { return set_scalar(w, key, (rk_gguf_value){ .type = RK_GGUF_U32, .v.u = v }); }
int rk_gguf_set_i32(rk_gguf_writer *w, const char *key, int32_t v) { return set_scalar(w, key, (rk_gguf_value){ .type = RK_GGUF_I32, .v.i = v }); }
int rk_gguf_set_u64(rk_gguf_writer *w, const char *key, uint64_t v) { return set_scalar(w, key, (rk_gguf_value){ .type = RK_GGUF_U64, .v.u = v }); }
int rk_gguf_set_i64(rk_gguf_writer *w, const char *key, int64_t v) { return set_scalar(w, key, (rk_gguf_value){ .type = RK_GGUF_I64, .v.i = v }); }
int rk_gguf_set_f32(rk_gguf_writer *w, const char *key, float v) { return set_scalar(w, key, (rk_gguf_value){ .type = RK_GGUF_F32, .v.f = v }); }
int rk_gguf_set_f64(rk_gguf_writer *w, const char *key, double v) { return set_scalar(w, key, (rk_gguf_value){ .type = RK_GGUF_F64, .v.f = v }); }
int rk_gguf_set_bool(rk_gguf_writer *w, const char *key, int v) { return set_scalar(w, key, (rk_gguf_value){ .type = RK_GGUF_BOOL, .v.b = v != 0 }); }

int rk_gguf_set_strn(rk_gguf_writer *w, const char *key, const char *v, size_t len) {
    if (!v && len) return w ? werr(w, NULL, RK_EINVAL, "string value is NULL") : RK_EINVAL;
    return set_scalar(w, key, (rk_gguf_value){ .type = RK_GGUF_STRING, .v.s = { v, len } });
}

int rk_gguf_set_str(rk_gguf_writer *w, const char *key, const char *v) {
    if (!v) return w ? werr(w, NULL, RK_EINVAL, "string value is NULL") : RK_EINVAL;
    return rk_gguf_set_strn(w, key, v, strlen(v));
}

int rk_gguf_set_arr(rk_gguf_writer *w, const char *key, int elem_type, const void *data, size_t n) {
    if (rk_gguf_type_size(elem_type) == 0)
        return w ? werr(w, NULL, RK_EINVAL, "rk_gguf_set_arr: element type %d is not a numeric/bool type", elem_type)
                 : RK_EINVAL;
    rk_gguf_value v = { .type = RK_GGUF_ARRAY, .v.arr = { elem_type, n, data, NULL } };
    return set_value(w, key, key ? strlen(key) : 0, &v);
}

int rk_gguf_set_arr_str(rk_gguf_writer *w, const char *key, const char *const *v, size_t n) {
    if (!w) return RK_EINVAL;
    if (n && !v) return werr(w, NULL, RK_EINVAL, "rk_gguf_set_arr_str: NULL array");
    rk_gguf_value *items = n ? calloc(n, sizeof *items) : NULL;
    if (n && !items) return werr(w, NULL, RK_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        if (!v[i]) {
            free(items);
            return werr(w, NULL, RK_EINVAL, "rk_gguf_set_arr_str: element %zu is NULL", i);
        }
        items[i] = (rk_gguf_value){ .type = RK_GGUF_STRING, .v.s = { v[i], strlen(v[i]) } };
    }
    rk_gguf_value a = { .type = RK_GGUF_ARRAY, .v.arr = { RK_GGUF_STRING, n, NULL, items } };
    int rc = set_value(w, key, key ? strlen(key) : 0, &a);
    free(items);
    return rc;
}

int rk_gguf_set_kv(rk_gguf_writer *w, const rk_gguf_kv *kv) {
    if (!kv) return w ? werr(w, NULL, RK_EINVAL, "rk_gguf_set_kv: NULL kv") : RK_EINVAL;
    return set_value(w, kv->key.ptr, (size_t)kv->key.len, &kv->val);
}

int rk_gguf_set_value(rk_gguf_writer *w, const char *key, const rk_gguf_value *v) {
    return set_value(w, key, key ? strlen(key) : 0, v);
}

/* ---- tensors ---- */
int rk_gguf_writer_add_tensor(rk_gguf_writer *w, const char *name, int type, uint32_t n_dims, const int64_t *ne,
                              rk_err *err) {
    if (!w) return rk_err_set(err, RK_EINVAL, UINT64_MAX, "gguf writer: NULL writer");
    if (w->state != W_BUILD) return werr(w, err, RK_EINVAL, "tensor added after begin");
    if (!name) return werr(w, err, RK_EINVAL, "tensor with a NULL name");
    size_t len = strlen(name);
    char q[72];
    rk_gguf_quote(q, sizeof q, name, len, 64);
    if (len == 0 || len > WRITER_MAX_NAME)
        return werr(w, err, RK_EINVAL, "tensor '%s': name must be 1..%d bytes (ggml's limit)", q, WRITER_MAX_NAME);
    if (rk_gguf_index_find(&w->t_ix, name, len, wname_at, w) != UINT64_MAX)
        return werr(w, err, RK_EINVAL, "duplicate tensor name '%s'", q);
    if (w->n_t >= RK_GGUF_MAX_TENSORS) return werr(w, err, RK_EINVAL, "more than %llu tensors", RK_GGUF_MAX_TENSORS);
    const rk_dtype_traits *tr = rk_dtype_is_ggml(type) ? rk_dtype_get(type) : NULL;
    if (!tr) return werr(w, err, RK_EINVAL, "tensor '%s': %d is not a ggml type", q, type);
    if (n_dims < 1 || n_dims > 4 || !ne) return werr(w, err, RK_EINVAL, "tensor '%s': n_dims %" PRIu32 " not in 1..4", q, n_dims);
    wtensor t = { .type = type, .n_dims = n_dims, .name_len = len, .ne = { 1, 1, 1, 1 } };
    uint64_t numel = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        if (ne[d] < 0) return werr(w, err, RK_EINVAL, "tensor '%s': dimension %" PRIu32 " is negative", q, d);
        t.ne[d] = ne[d];
        if (rk_mul_u64(numel, (uint64_t)ne[d], &numel) || numel > (uint64_t)INT64_MAX)
            return werr(w, err, RK_EINVAL, "tensor '%s': element count overflows", q);
    }
    if ((uint64_t)t.ne[0] % tr->block_size)
        return werr(w, err, RK_EINVAL, "tensor '%s': row of %" PRId64 " elements is not a multiple of the %s block size %"
                    PRIu32, q, t.ne[0], tr->name, tr->block_size);
    if (rk_dtype_nbytes(type, numel, &t.nbytes)) return werr(w, err, RK_EINVAL, "tensor '%s': byte size overflows", q);
    memcpy(t.name, name, len);
    if (index_reserve(&w->t_ix, w->n_t, wname_at, w)) return werr(w, err, RK_ENOMEM, "out of memory");
    if (w->n_t == w->t_cap) {
        uint64_t cap = w->t_cap ? 2 * w->t_cap : 64;
        wtensor *nt = realloc(w->t, (size_t)cap * sizeof *nt);
        if (!nt) return werr(w, err, RK_ENOMEM, "out of memory");
        w->t = nt;
        w->t_cap = cap;
    }
    w->t[w->n_t] = t;
    rk_gguf_index_insert(&w->t_ix, w->n_t, wname_at, w);
    w->n_t++;
    return 0;
}

/* ---- output ---- */
static int write_zeros(rk_gguf_writer *w, uint64_t n, rk_err *err) {
    static const uint8_t zeros[4096];
    while (n) {
        size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
        int rc = rk_outfile_write(&w->out, zeros, k, err);
        if (rc) return rc;
        n -= k;
    }
    return 0;
}

static int write_le(rk_gguf_writer *w, uint64_t v, size_t n, rk_err *err) {
    uint8_t b[8];
    for (size_t i = 0; i < n; i++) b[i] = (uint8_t)(v >> (8 * i));
    return rk_outfile_write(&w->out, b, n, err);
}

static uint64_t pad_to(uint64_t x, uint64_t a) { return (a - x % a) % a; }

/* Header bytes, tensor offsets and the data offset; RK_EINVAL on overflow. */
static int layout(rk_gguf_writer *w, uint64_t *header_len) {
    uint64_t h = 4 + 4 + 8 + 8 + w->kv_len, off = 0;
    for (uint64_t i = 0; i < w->n_t; i++) {
        wtensor *t = &w->t[i];
        h += 8 + t->name_len + 4 + 8ull * t->n_dims + 4 + 8;
        t->offset = off;
        uint64_t padded;
        if (rk_add_u64(t->nbytes, pad_to(t->nbytes, w->alignment), &padded) || rk_add_u64(off, padded, &off))
            return RK_EINVAL;
    }
    *header_len = h;
    w->data_offset = h + pad_to(h, w->alignment);
    return 0;
}

static int write_header(rk_gguf_writer *w, uint64_t header_len, rk_err *err) {
    int rc;
    if ((rc = rk_outfile_write(&w->out, RK_GGUF_MAGIC, 4, err)) || (rc = write_le(w, 3, 4, err)) ||
        (rc = write_le(w, w->n_t, 8, err)) || (rc = write_le(w, w->n_kv, 8, err)) ||
        (rc = rk_outfile_write(&w->out, w->kv_buf, w->kv_len, err)))
        return rc;
    for (uint64_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        if ((rc = write_le(w, t->name_len, 8, err)) || (rc = rk_outfile_write(&w->out, t->name, t->name_len, err)) ||
            (rc = write_le(w, t->n_dims, 4, err)))
            return rc;
        for (uint32_t d = 0; d < t->n_dims; d++)
            if ((rc = write_le(w, (uint64_t)t->ne[d], 8, err))) return rc;
        if ((rc = write_le(w, (uint32_t)t->type, 4, err)) || (rc = write_le(w, t->offset, 8, err))) return rc;
    }
    return write_zeros(w, w->data_offset - header_len, err);
}

/* Close off finished tensors (and empty ones) with their padding. */
static int advance(rk_gguf_writer *w, rk_err *err) {
    while (w->cur < w->n_t && w->cur_done == w->t[w->cur].nbytes) {
        int rc = write_zeros(w, pad_to(w->t[w->cur].nbytes, w->alignment), err);
        if (rc) return rc;
        w->cur++;
        w->cur_done = 0;
    }
    return 0;
}

int rk_gguf_writer_begin(rk_gguf_writer *w, const char *path, uint32_t alignment, rk_err *err) {
    rk_err local;
    if (!err) err = &local;
    int rc;
    uint64_t header_len;
    if (!w || !path) return rk_err_set(err, RK_EINVAL, UINT64_MAX, "gguf writer: NULL argument to begin");
    if (w->err.code) {
        *err = w->err;
        return w->err.code;
    }
    if (w->state != W_BUILD) return werr(w, err, RK_EINVAL, "begin called twice");
    if (alignment && (alignment & (alignment - 1)))
        return werr(w, err, RK_EINVAL, "alignment %" PRIu32 " is not a power of two", alignment);
    if (alignment && w->has_align_kv && alignment != w->align_kv)
        return werr(w, err, RK_EINVAL, "general.alignment was set to %" PRIu32 " but begin asks for %" PRIu32,
                    w->align_kv, alignment);
    w->alignment = alignment ? alignment : w->has_align_kv ? w->align_kv : RK_GGUF_DEFAULT_ALIGNMENT;
    if (!w->has_align_kv && w->alignment != RK_GGUF_DEFAULT_ALIGNMENT &&
        (rc = rk_gguf_set_u32(w, "general.alignment", w->alignment))) {
        *err = w->err;
        return rc;
    }
    if (layout(w, &header_len)) return werr(w, err, RK_EINVAL, "total tensor size overflows");
    w->remaining = 0;
    for (uint64_t i = 0; i < w->n_t; i++) w->remaining += w->t[i].nbytes;   /* <= the padded sum: no overflow */
    if ((rc = rk_outfile_open(&w->out, path, err))) {
        if (w->err.code == 0) w->err = *err;
        w->state = W_FAILED;
        return rc;
    }
    w->state = W_DATA;
    w->cur = w->cur_done = 0;
    if ((rc = write_header(w, header_len, err)) || (rc = advance(w, err))) {
        if (w->err.code == 0) w->err = *err;
        fail_file(w);
        return rc;
    }
    return 0;
}

int rk_gguf_writer_write(rk_gguf_writer *w, const void *data, size_t n, rk_err *err) {
    rk_err local;
    if (!err) err = &local;
    if (!w) return rk_err_set(err, RK_EINVAL, UINT64_MAX, "gguf writer: NULL writer");
    if (w->state != W_DATA) return werr(w, err, RK_EINVAL, "tensor data written outside begin..finish");
    if (n == 0) return 0;
    if (!data) return werr(w, err, RK_EINVAL, "NULL tensor data");
    if (n > w->remaining) {
        int rc = werr(w, err, RK_EINVAL, "write of %zu bytes exceeds the %" PRIu64 " bytes the declared tensors still "
                      "need; file abandoned", n, w->remaining);
        fail_file(w);
        return rc;
    }
    const uint8_t *p = data;
    while (n) {
        const wtensor *t = &w->t[w->cur];
        uint64_t room = t->nbytes - w->cur_done;
        size_t k = n < room ? n : (size_t)room;
        int rc = rk_outfile_write(&w->out, p, k, err);
        if (!rc) {
            w->cur_done += k;
            w->remaining -= k;
            rc = advance(w, err);
        }
        if (rc) {
            if (w->err.code == 0) w->err = *err;
            fail_file(w);
            return rc;
        }
        p += k;
        n -= k;
    }
    return 0;
}

int rk_gguf_writer_finish(rk_gguf_writer *w, rk_err *err) {
    rk_err local;
    if (!err) err = &local;
    if (!w) return rk_err_set(err, RK_EINVAL, UINT64_MAX, "gguf writer: NULL writer");
    if (w->state != W_DATA) return werr(w, err, RK_EINVAL, "finish without a successful begin");
    if (w->cur < w->n_t) {
        const wtensor *t = &w->t[w->cur];
        char q[72];
        rk_gguf_quote(q, sizeof q, t->name, t->name_len, 64);
        int rc = werr(w, err, RK_EINVAL, "tensor '%s' got %" PRIu64 " of its %" PRIu64 " bytes (%" PRIu64 " bytes missing"
                      " in all); file abandoned", q, w->cur_done, t->nbytes, w->remaining);
        fail_file(w);
        return rc;
    }
    int rc = rk_outfile_commit(&w->out, err);
    if (rc) {
        if (w->err.code == 0) w->err = *err;
        w->state = W_FAILED;
        return rc;
    }
    w->state = W_DONE;
    return 0;
}

/* ---- lifetime ---- */
int rk_gguf_writer_init(rk_gguf_writer **out, rk_err *err) {
    if (!out) return rk_err_set(err, RK_EINVAL, UINT64_MAX, "gguf writer: NULL argument");
    rk_gguf_writer *w = calloc(1, sizeof *w);
    *out = w;
    if (!w) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "gguf writer: out of memory");
    rk_err_clear(&w->err);
    w->out.slot = -1;
    w->state = W_BUILD;
    return 0;
}

void rk_gguf_writer_free(rk_gguf_writer *w) {
    if (!w) return;
    if (w->state == W_DATA) rk_outfile_abort(&w->out);
    rk_gguf_index_free(&w->kv_ix);
    rk_gguf_index_free(&w->t_ix);
    free(w->kv_buf);
    free(w->keys);
    free(w->t);
    free(w);
}

const rk_err *rk_gguf_writer_err(const rk_gguf_writer *w) { return w ? &w->err : NULL; }
uint64_t rk_gguf_writer_data_offset(const rk_gguf_writer *w) { return w ? w->data_offset : 0; }
