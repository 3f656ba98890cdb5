/* formats/safetensors.c — reads one safetensors file by mmap and validates all of it before use.
 * Layout (spec: huggingface/safetensors, facts in ../shared/DESIGN.md): u64 LE header length N, N bytes of
 * UTF-8 JSON object padded with trailing spaces, then the data buffer. The header is checked by the strict
 * scanner in safetensors_json.c (grammar, UTF-8, integers) and only then parsed by cJSON; the tree is walked
 * for the entry shapes, names are copied into one arena and the tree freed. Tensors are kept sorted by
 * offset (file order) with a name index for lookups; the offsets must tile the buffer exactly. Memory while
 * parsing is a small multiple of N (the cJSON tree); afterwards about 100 bytes per tensor. */
#include "formats/safetensors-impl.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

struct rk_safetensors {
    rk_map map;               /* when opened from a path */
    const uint8_t *data;      /* the whole file */
    uint64_t size;
    char *path;               /* names the file in messages */
    uint64_t header_len;
    size_t n;
    rk_st_tensor *t;          /* sorted by offset */
    rk_st_name *by_name;      /* idx → t */
    size_t n_meta;
    const char **meta_k, **meta_v;   /* file order */
    char *strings;            /* arena for names and metadata */
};

#define NAMEF "'%.*s'"
#define NAMEA(s) RK_ST_NAME_SHOW, (s)

static const char *jtype(const cJSON *c) {
    if (cJSON_IsObject(c)) return "an object";
    if (cJSON_IsArray(c)) return "an array";
    if (cJSON_IsString(c)) return "a string";
    if (cJSON_IsNumber(c)) return "a number";
    if (cJSON_IsBool(c)) return "a boolean";
    return "null";
}

static uint64_t le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* A JSON number that the strict scan has already proved to be an integer in [0, 2^53]. */
static int get_uint(const cJSON *c, uint64_t *out) {
    if (!cJSON_IsNumber(c) || !(c->valuedouble >= 0) || c->valuedouble > (double)RK_ST_MAX_INT) return -1;
    uint64_t v = (uint64_t)c->valuedouble;
    if ((double)v != c->valuedouble) return -1;
    *out = v;
    return 0;
}

/* Checks one tensor entry and fills *t (name set by the caller). data_size: bytes after the header. */
static int parse_entry(rk_safetensors *st, const cJSON *c, rk_st_tensor *t, uint64_t data_size, rk_err *err) {
    const char *P = st->path, *nm = c->string;
    if (!cJSON_IsObject(c))
        return rk_err_file(err, RK_ECORRUPT, P, 8, "tensor " NAMEF ": entry is %s, expected an object", NAMEA(nm), jtype(c));
    const cJSON *dtype = NULL, *shape = NULL, *offs = NULL;
    for (const cJSON *f = c->child; f; f = f->next) {
        const cJSON **slot = !strcmp(f->string, "dtype") ? &dtype : !strcmp(f->string, "shape") ? &shape
                           : !strcmp(f->string, "data_offsets") ? &offs : NULL;
        if (!slot)
            return rk_err_file(err, RK_ECORRUPT, P, 8, "tensor " NAMEF ": unexpected field '%.40s' (expected dtype, shape, data_offsets)",
                               NAMEA(nm), f->string);
        if (*slot) return rk_err_file(err, RK_ECORRUPT, P, 8, "tensor " NAMEF ": duplicate field '%s'", NAMEA(nm), f->string);
        *slot = f;
    }
    const char *missing = !dtype ? "dtype" : !shape ? "shape" : !offs ? "data_offsets" : NULL;
    if (missing) return rk_err_file(err, RK_ECORRUPT, P, 8, "tensor " NAMEF ": missing field '%s'", NAMEA(nm), missing);

    if (!cJSON_IsString(dtype))
        return rk_err_file(err, RK_ECORRUPT, P, 8, "tensor " NAMEF ": dtype is %s, expected a string", NAMEA(nm), jtype(dtype));
    t->dtype = rk_st_dtype_from_name(dtype->valuestring);
    if (t->dtype == RK_DTYPE_INVALID)
        return rk_err_file(err, RK_EUNSUPPORTED, P, 8, "tensor " NAMEF ": unknown dtype '%.32s'", NAMEA(nm), dtype->valuestring);

    if (!cJSON_IsArray(shape))
        return rk_err_file(err, RK_ECORRUPT, P, 8, "tensor " NAMEF ": shape is %s, expected an array", NAMEA(nm), jtype(shape));
    int nd = cJSON_GetArraySize(shape);
    if (nd > RK_MAX_DIMS)
        return rk_err_file(err, RK_EUNSUPPORTED, P, 8, "tensor " NAMEF ": shape has %d dimensions, at most %d are supported",
                           NAMEA(nm), nd, RK_MAX_DIMS);
    t->n_dims = 0;
    for (const cJSON *d = shape->child; d; d = d->next) {
        uint64_t v;
        if (get_uint(d, &v))
            return rk_err_file(err, RK_ECORRUPT, P, 8, "tensor " NAMEF ": shape[%d] is %s, expected a non-negative integer",
                               NAMEA(nm), t->n_dims, jtype(d));
        t->shape[t->n_dims++] = (int64_t)v;
    }

    uint64_t be[2];
    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2 || get_uint(offs->child, &be[0]) ||
        get_uint(offs->child->next, &be[1]))
        return rk_err_file(err, RK_ECORRUPT, P, 8, "tensor " NAMEF ": data_offsets must be [begin, end] (two non-negative integers)",
                           NAMEA(nm));
    if (be[1] < be[0])
        return rk_err_file(err, RK_ECORRUPT, P, 8, "tensor " NAMEF ": data_offsets [%llu, %llu] end before they begin", NAMEA(nm),
                           (unsigned long long)be[0], (unsigned long long)be[1]);

    char shp[96];
    rk_st_fmt_shape(shp, sizeof shp, t->shape, t->n_dims);
    uint64_t numel, nbytes;
    if (rk_shape_numel(t->shape, t->n_dims, &numel))
        return rk_err_file(err, RK_ECORRUPT, P, 8, "tensor " NAMEF ": shape %s has more elements than fit in 64 bits", NAMEA(nm), shp);
    int rc = rk_st_nbytes(t->dtype, numel, &nbytes);
    if (rc == -1)
        return rk_err_file(err, RK_ECORRUPT, P, 8, "tensor " NAMEF ": %s %s is more bytes than fit in 64 bits", NAMEA(nm),
                           rk_dtype_name(t->dtype), shp);
    if (rc == -2)
        return rk_err_file(err, RK_EUNSUPPORTED, P, 8, "tensor " NAMEF ": %s %s is %llu x %u bits, not a whole number of bytes",
                           NAMEA(nm), rk_dtype_name(t->dtype), shp, (unsigned long long)numel, rk_dtype_get(t->dtype)->bits);
    if (be[1] - be[0] != nbytes)
        return rk_err_file(err, RK_ECORRUPT, P, 8, "tensor " NAMEF ": data_offsets [%llu, %llu] hold %llu bytes but %s %s needs %llu",
                           NAMEA(nm), (unsigned long long)be[0], (unsigned long long)be[1],
                           (unsigned long long)(be[1] - be[0]), rk_dtype_name(t->dtype), shp, (unsigned long long)nbytes);
    uint64_t base = 8 + st->header_len;
    if (be[1] > data_size)
        return rk_err_file(err, RK_ECORRUPT, P, base + be[0],
                           "tensor " NAMEF ": data_offsets [%llu, %llu] end past the %llu data bytes in the file (truncated?)",
                           NAMEA(nm), (unsigned long long)be[0], (unsigned long long)be[1], (unsigned long long)data_size);
    t->offset = base + be[0];
    t->nbytes = nbytes;
    t->data = nbytes ? st->data + t->offset : NULL;
    t->shard = 0;
    return 0;
}

static int by_offset(const void *a, const void *b) {
    const rk_st_tensor *x = a, *y = b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    if (x->nbytes != y->nbytes) return x->nbytes < y->nbytes ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* The sorted tensors must tile [0, data_size) exactly: no hole, no overlap, nothing after the last. */
static int check_layout(rk_safetensors *st, uint64_t data_size, rk_err *err) {
    uint64_t base = 8 + st->header_len, pos = 0;
    const char *prev = NULL;
    for (size_t i = 0; i < st->n; i++) {
        const rk_st_tensor *t = &st->t[i];
        uint64_t b = t->offset - base, e = b + t->nbytes;
        if (b > pos)
            return rk_err_file(err, RK_ECORRUPT, st->path, base + pos,
                               "hole of %llu unused data bytes before tensor " NAMEF " (data_offsets [%llu, %llu]; the data before it ends at %llu)",
                               (unsigned long long)(b - pos), NAMEA(t->name), (unsigned long long)b, (unsigned long long)e,
                               (unsigned long long)pos);
        if (b < pos)
            return rk_err_file(err, RK_ECORRUPT, st->path, base + b,
                               "tensor " NAMEF " (data_offsets [%llu, %llu]) overlaps tensor '%.*s', which ends at %llu",
                               NAMEA(t->name), (unsigned long long)b, (unsigned long long)e, NAMEA(prev), (unsigned long long)pos);
        pos = e;
        prev = t->name;
    }
    if (pos != data_size)
        return rk_err_file(err, RK_ECORRUPT, st->path, base + pos,
                           "file is %llu bytes but its tensors end at byte %llu (8 + %llu header + %llu data): %llu trailing bytes",
                           (unsigned long long)st->size, (unsigned long long)(base + pos), (unsigned long long)st->header_len,
                           (unsigned long long)pos, (unsigned long long)(data_size - pos));
    return 0;
}

static char *arena_copy(char **cursor, const char *s) {
    size_t n = strlen(s) + 1;
    char *d = *cursor;
    memcpy(d, s, n);
    *cursor += n;
    return d;
}

/* Walks the (already strictly scanned) header object: metadata map, then every tensor entry. */
static int walk(rk_safetensors *st, const cJSON *root, rk_err *err) {
    const char *P = st->path;
    const cJSON *meta = NULL;
    size_t n = 0, strbytes = 0;
    rk_st_name *mk = NULL;
    int rc = 0;
    for (const cJSON *c = root->child; c; c = c->next) {
        if (strcmp(c->string, "__metadata__") != 0) {
            n++;
            strbytes += strlen(c->string) + 1;
            continue;
        }
        if (meta) return rk_err_file(err, RK_ECORRUPT, P, 8, "duplicate key '__metadata__'");
        meta = c;
        if (!cJSON_IsObject(c))
            return rk_err_file(err, RK_ECORRUPT, P, 8, "__metadata__ is %s, expected a string-to-string map", jtype(c));
        for (const cJSON *m = c->child; m; m = m->next) {
            if (!cJSON_IsString(m))
                return rk_err_file(err, RK_ECORRUPT, P, 8, "__metadata__ is not a string-to-string map: value of '%.64s' is %s",
                                   m->string, jtype(m));
            st->n_meta++;
            strbytes += strlen(m->string) + strlen(m->valuestring) + 2;
        }
    }
    st->t = calloc(n ? n : 1, sizeof *st->t);
    st->by_name = calloc(n ? n : 1, sizeof *st->by_name);
    st->meta_k = calloc(st->n_meta ? st->n_meta : 1, sizeof *st->meta_k);
    st->meta_v = calloc(st->n_meta ? st->n_meta : 1, sizeof *st->meta_v);
    mk = calloc(st->n_meta ? st->n_meta : 1, sizeof *mk);
    st->strings = malloc(strbytes ? strbytes : 1);
    if (!st->t || !st->by_name || !st->meta_k || !st->meta_v || !mk || !st->strings) {
        rc = rk_err_file(err, RK_ENOMEM, P, UINT64_MAX, "out of memory for %zu tensors", n);
        goto fail;
    }
    char *cursor = st->strings;
    size_t k = 0;
    if (meta) {
        for (const cJSON *m = meta->child; m; m = m->next, k++) {
            st->meta_k[k] = arena_copy(&cursor, m->string);
            st->meta_v[k] = arena_copy(&cursor, m->valuestring);
            mk[k] = (rk_st_name){ st->meta_k[k], k };
        }
        rk_st_names_sort(mk, st->n_meta);
        size_t d = rk_st_names_dup(mk, st->n_meta);
        if (d < st->n_meta) {
            rc = rk_err_file(err, RK_ECORRUPT, P, 8, "__metadata__ has the key '%.64s' twice", mk[d].name);
            goto fail;
        }
    }
    uint64_t data_size = st->size - 8 - st->header_len;
    k = 0;
    for (const cJSON *c = root->child; c; c = c->next) {
        if (c == meta) continue;
        st->t[k].name = arena_copy(&cursor, c->string);
        if ((rc = parse_entry(st, c, &st->t[k], data_size, err))) goto fail;
        k++;
    }
    st->n = n;
    if (n > 1) qsort(st->t, n, sizeof *st->t, by_offset);
    for (size_t i = 0; i < n; i++) st->by_name[i] = (rk_st_name){ st->t[i].name, i };
    rk_st_names_sort(st->by_name, n);
    size_t d = rk_st_names_dup(st->by_name, n);
    if (d < n) {
        rc = rk_err_file(err, RK_ECORRUPT, P, 8, "duplicate tensor name " NAMEF, NAMEA(st->by_name[d].name));
        goto fail;
    }
    rc = check_layout(st, data_size, err);
fail:
    free(mk);
    return rc;
}

static int parse(rk_safetensors *st, rk_err *err) {
    const char *P = st->path;
    if (st->size < 8)
        return rk_err_file(err, RK_ECORRUPT, P, 0, "file is %llu bytes, too short for the 8-byte header length",
                           (unsigned long long)st->size);
    uint64_t hn = le64(st->data);
    if (hn > RK_ST_MAX_HEADER)
        return rk_err_file(err, RK_ECORRUPT, P, 0, "header length %llu exceeds the limit of %llu bytes", (unsigned long long)hn,
                           (unsigned long long)RK_ST_MAX_HEADER);
    if (hn > st->size - 8)
        return rk_err_file(err, RK_ECORRUPT, P, 0, "header length %llu runs past the end of the file (%llu bytes)",
                           (unsigned long long)hn, (unsigned long long)st->size);
    st->header_len = hn;
    const char *h = (const char *)st->data + 8;
    if (hn == 0) return rk_err_file(err, RK_ECORRUPT, P, 8, "header is empty, expected a JSON object");
    size_t bad = rk_st_utf8_check((const uint8_t *)h, (size_t)hn);
    if (bad < hn)
        return rk_err_file(err, RK_ECORRUPT, P, 8 + bad, "header is not valid UTF-8 (byte 0x%02x at offset %llu)",
                           (unsigned char)h[bad], (unsigned long long)(8 + bad));
    if (h[0] != '{')
        return rk_err_file(err, RK_ECORRUPT, P, 8, "header is not a JSON object (it starts with byte 0x%02x, not '{')",
                           (unsigned char)h[0]);
    rk_st_jerr je;
    size_t end;
    if (rk_st_json_check(h, (size_t)hn, 1, &end, &je))
        return rk_err_file(err, RK_ECORRUPT, P, 8 + je.pos, "header %s: %s at offset %llu",
                           je.syntax ? "is not valid JSON" : "rejected", je.msg, (unsigned long long)(8 + je.pos));
    for (size_t i = end; i < hn; i++)
        if (h[i] != ' ')
            return rk_err_file(err, RK_ECORRUPT, P, 8 + i,
                               "header has byte 0x%02x at offset %llu after the JSON object (only space padding may follow)",
                               (unsigned char)h[i], (unsigned long long)(8 + i));
    cJSON *root = cJSON_ParseWithLengthOpts(h, end, NULL, 0);
    if (!root) return rk_err_file(err, RK_ENOMEM, P, 8, "out of memory parsing the %llu-byte header", (unsigned long long)hn);
    int rc = walk(st, root, err);
    cJSON_Delete(root);
    return rc;
}

static int open_common(rk_safetensors **out, rk_safetensors *st, rk_err *err) {
    int rc = parse(st, err);
    if (rc) {
        rk_safetensors_close(st);
        return rc;
    }
    *out = st;
    return 0;
}

int rk_safetensors_open(rk_safetensors **out, const char *path, rk_err *err) {
    *out = NULL;
    rk_safetensors *st = calloc(1, sizeof *st);
    if (!st) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "%s: out of memory", path);
    int rc = rk_map_open(&st->map, path, err);
    if (rc) {
        free(st);
        return rc;
    }
    st->data = st->map.data;
    st->size = st->map.size;
    st->path = rk_strdup(path);
    if (!st->path) {
        rk_safetensors_close(st);
        return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "%s: out of memory", path);
    }
    return open_common(out, st, err);
}

int rk_safetensors_open_buffer(rk_safetensors **out, const void *data, size_t size, const char *label, rk_err *err) {
    *out = NULL;
    if (!label) label = "<buffer>";
    if (!data && size) return rk_err_set(err, RK_EINVAL, UINT64_MAX, "%s: NULL buffer of %zu bytes", label, size);
    rk_safetensors *st = calloc(1, sizeof *st);
    if (!st || !(st->path = rk_strdup(label))) {
        free(st);
        return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "%s: out of memory", label);
    }
    st->data = data;
    st->size = size;
    return open_common(out, st, err);
}

void rk_safetensors_close(rk_safetensors *st) {
    if (!st) return;
    rk_map_close(&st->map);
    free(st->path);
    free(st->t);
    free(st->by_name);
    free(st->meta_k);
    free(st->meta_v);
    free(st->strings);
    free(st);
}

size_t rk_safetensors_count(const rk_safetensors *st) { return st ? st->n : 0; }

const rk_st_tensor *rk_safetensors_tensor(const rk_safetensors *st, size_t i) {
    return st && i < st->n ? &st->t[i] : NULL;
}

const rk_st_tensor *rk_safetensors_find(const rk_safetensors *st, const char *name) {
    if (!st || !name) return NULL;
    const rk_st_name *e = rk_st_names_find(st->by_name, st->n, name);
    return e ? &st->t[e->idx] : NULL;
}

size_t rk_safetensors_meta_count(const rk_safetensors *st) { return st ? st->n_meta : 0; }

int rk_safetensors_meta(const rk_safetensors *st, size_t i, const char **key, const char **value) {
    if (!st || i >= st->n_meta) return RK_ENOTFOUND;
    if (key) *key = st->meta_k[i];
    if (value) *value = st->meta_v[i];
    return 0;
}

const char *rk_safetensors_meta_get(const rk_safetensors *st, const char *key) {
    if (!st || !key) return NULL;
    for (size_t i = 0; i < st->n_meta; i++)
        if (!strcmp(st->meta_k[i], key)) return st->meta_v[i];
    return NULL;
}

const char *rk_safetensors_path(const rk_safetensors *st) { return st ? st->path : NULL; }
uint64_t rk_safetensors_header_len(const rk_safetensors *st) { return st ? st->header_len : 0; }

void rk_st_set_shard_index(rk_safetensors *st, int shard) {
    for (size_t i = 0; i < st->n; i++) st->t[i].shard = shard;
}
