/* formats/safetensors_write.c — streams a safetensors file or a sharded set with its index, byte-for-byte
 * deterministic. The caller declares every tensor first, so all headers (and the shard plan) are known at
 * begin; data then flows straight to the output files in any chunking, and nothing becomes visible until
 * finish commits the temporaries (rk_outfile). Layout rules: see safetensors.h and ../shared/DESIGN.md. */
#include "formats/safetensors-impl.h"

#include <stdlib.h>
#include <string.h>

typedef struct wtensor {
    char *name;
    int dtype, n_dims;
    int64_t shape[RK_MAX_DIMS];
    uint64_t nbytes;
    uint64_t begin;    /* within its shard's data */
    size_t shard;
} wtensor;

enum { W_DECLARE, W_WRITING, W_DONE, W_FAILED };

struct rk_st_writer {
    char *dir, *base, *label;   /* label = dir/base, names the output in messages */
    uint64_t max_shard;
    int state;
    wtensor *t;
    size_t n, cap;
    char **mk, **mv;
    size_t n_meta, cap_meta;
    size_t *hash;               /* open addressing: tensor index + 1, 0 = empty */
    size_t hcap;
    /* plan (begin) */
    size_t n_shards;
    size_t *first;              /* first tensor of each shard; first[n_shards] = n */
    uint64_t *shard_bytes;
    rk_outfile *out;            /* one per shard */
    size_t n_open;              /* shards opened so far (in order) */
    /* streaming position */
    size_t cur;
    uint64_t cur_done, total, written;
};

static uint64_t fnv1a(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* Index of the tensor called name, or SIZE_MAX; *slot gets the free slot where it would go. */
static size_t hash_find(const rk_st_writer *w, const char *name, size_t *slot) {
    size_t mask = w->hcap - 1, i = (size_t)fnv1a(name) & mask;
    while (w->hash[i]) {
        if (!strcmp(w->t[w->hash[i] - 1].name, name)) return w->hash[i] - 1;
        i = (i + 1) & mask;
    }
    *slot = i;
    return SIZE_MAX;
}

static int hash_grow(rk_st_writer *w) {
    size_t cap = w->hcap ? w->hcap * 2 : 64;
    size_t *h = calloc(cap, sizeof *h);
    if (!h) return -1;
    free(w->hash);
    w->hash = h;
    w->hcap = cap;
    for (size_t k = 0; k < w->n; k++) {
        size_t slot = 0;
        hash_find(w, w->t[k].name, &slot);
        w->hash[slot] = k + 1;
    }
    return 0;
}

static char *shard_name(const rk_st_writer *w, size_t i) {
    size_t len = strlen(w->base) + 64;
    char *s = malloc(len);
    if (!s) return NULL;
    if (w->n_shards > 1) snprintf(s, len, "%s-%05zu-of-%05zu.safetensors", w->base, i + 1, w->n_shards);
    else snprintf(s, len, "%s.safetensors", w->base);
    return s;
}

static void abort_all(rk_st_writer *w) {
    for (size_t i = 0; i < w->n_open; i++) rk_outfile_abort(&w->out[i]);
    w->state = W_FAILED;
}

static int fail(rk_st_writer *w, int rc) {
    abort_all(w);
    return rc;
}

static int check_state(const rk_st_writer *w, int want, const char *fn, rk_err *err) {
    static const char *const what[] = { "still declaring (call begin first)", "writing data", "finished",
                                        "failed earlier (its outputs were removed)" };
    if (!w) return rk_err_set(err, RK_EINVAL, UINT64_MAX, "%s: NULL writer", fn);
    if (w->state != want) return rk_err_set(err, RK_EINVAL, UINT64_MAX, "%s: %s: writer is %s", w->label, fn, what[w->state]);
    return 0;
}

int rk_st_writer_init(rk_st_writer **out, const char *dir, const char *base, uint64_t max_shard_bytes, rk_err *err) {
    *out = NULL;
    if (!dir || !base || !base[0] || strchr(base, '/') || !strcmp(base, ".") || !strcmp(base, ".."))
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "safetensors writer: base name '%s' must be a plain file name",
                          base ? base : "(null)");
    rk_st_writer *w = calloc(1, sizeof *w);
    if (!w) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
    w->dir = rk_strdup(dir);
    w->base = rk_strdup(base);
    w->label = rk_path_join(dir, base);
    if (!w->dir || !w->base || !w->label || hash_grow(w)) {
        rk_st_writer_free(w);
        return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
    }
    w->max_shard = max_shard_bytes;
    *out = w;
    return 0;
}

static int check_text(const rk_st_writer *w, const char *what, const char *s, rk_err *err) {
    if (!s) return rk_err_set(err, RK_EINVAL, UINT64_MAX, "%s: %s is NULL", w->label, what);
    size_t n = strlen(s);
    if (rk_st_utf8_check((const uint8_t *)s, n) < n)
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "%s: %s '%.*s' is not valid UTF-8", w->label, what, RK_ST_NAME_SHOW, s);
    return 0;
}

int rk_st_writer_add_meta(rk_st_writer *w, const char *key, const char *value, rk_err *err) {
    int rc = check_state(w, W_DECLARE, "add_meta", err);
    if (rc || (rc = check_text(w, "metadata key", key, err)) || (rc = check_text(w, "metadata value", value, err))) return rc;
    for (size_t i = 0; i < w->n_meta; i++)
        if (!strcmp(w->mk[i], key)) return rk_err_set(err, RK_EINVAL, UINT64_MAX, "%s: metadata key '%.64s' added twice", w->label, key);
    if (w->n_meta == w->cap_meta) {
        size_t cap = w->cap_meta ? w->cap_meta * 2 : 8;
        char **k = realloc(w->mk, cap * sizeof *k);
        if (k) w->mk = k;
        char **v = k ? realloc(w->mv, cap * sizeof *v) : NULL;
        if (v) w->mv = v;
        if (!k || !v) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
        w->cap_meta = cap;
    }
    char *k = rk_strdup(key), *v = rk_strdup(value);
    if (!k || !v) {
        free(k);
        free(v);
        return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
    }
    w->mk[w->n_meta] = k;
    w->mv[w->n_meta++] = v;
    return 0;
}

int rk_st_writer_add(rk_st_writer *w, const char *name, int dtype, int n_dims, const int64_t *shape, rk_err *err) {
    int rc = check_state(w, W_DECLARE, "add", err);
    if (rc || (rc = check_text(w, "tensor name", name, err))) return rc;
    const char *L = w->label;
    if (!strcmp(name, "__metadata__")) return rk_err_set(err, RK_EINVAL, UINT64_MAX, "%s: '__metadata__' cannot name a tensor", L);
    if (!rk_st_dtype_ok(dtype))
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "%s: tensor '%.*s': %s (%d) is not a safetensors dtype", L, RK_ST_NAME_SHOW,
                          name, rk_dtype_name(dtype), dtype);
    if (n_dims < 0 || n_dims > RK_MAX_DIMS || (n_dims > 0 && !shape))
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "%s: tensor '%.*s': %d dimensions (0..%d allowed)", L, RK_ST_NAME_SHOW, name,
                          n_dims, RK_MAX_DIMS);
    for (int i = 0; i < n_dims; i++)
        if (shape[i] < 0 || (uint64_t)shape[i] > RK_ST_MAX_INT)
            return rk_err_set(err, RK_EINVAL, UINT64_MAX, "%s: tensor '%.*s': dimension %d is %lld (0..2^53 allowed)", L,
                              RK_ST_NAME_SHOW, name, i, (long long)shape[i]);
    uint64_t numel, nbytes;
    if (rk_shape_numel(shape, n_dims, &numel) || rk_st_nbytes(dtype, numel, &nbytes) || nbytes > RK_ST_MAX_INT)
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "%s: tensor '%.*s': %s of this shape is too large or not a whole number of bytes",
                          L, RK_ST_NAME_SHOW, name, rk_dtype_name(dtype));
    size_t slot;
    if (hash_find(w, name, &slot) != SIZE_MAX)
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "%s: tensor '%.*s' declared twice", L, RK_ST_NAME_SHOW, name);
    if ((w->n + 1) * 2 > w->hcap) {   /* keep the table at most half full */
        if (hash_grow(w)) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
        hash_find(w, name, &slot);
    }
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 16;
        wtensor *t = realloc(w->t, cap * sizeof *t);
        if (!t) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
        w->t = t;
        w->cap = cap;
    }
    wtensor *t = &w->t[w->n];
    memset(t, 0, sizeof *t);
    if (!(t->name = rk_strdup(name))) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
    t->dtype = dtype;
    t->n_dims = n_dims;
    if (n_dims) memcpy(t->shape, shape, (size_t)n_dims * sizeof *shape);
    t->nbytes = nbytes;
    w->hash[slot] = ++w->n;
    return 0;
}

/* The header of shard s: compact JSON, __metadata__ first, padded with spaces to a multiple of 8. */
static int build_header(const rk_st_writer *w, size_t s, rk_st_buf *b, rk_err *err) {
    rk_st_buf_put(b, "{", 1);
    int any = 0;
    if (w->n_meta) {
        rk_st_buf_puts(b, "\"__metadata__\":{");
        for (size_t i = 0; i < w->n_meta; i++) {
            if (i) rk_st_buf_put(b, ",", 1);
            rk_st_buf_json_str(b, w->mk[i]);
            rk_st_buf_put(b, ":", 1);
            rk_st_buf_json_str(b, w->mv[i]);
        }
        rk_st_buf_put(b, "}", 1);
        any = 1;
    }
    for (size_t k = w->first[s]; k < w->first[s + 1]; k++) {
        const wtensor *t = &w->t[k];
        if (any) rk_st_buf_put(b, ",", 1);
        any = 1;
        rk_st_buf_json_str(b, t->name);
        rk_st_buf_printf(b, ":{\"dtype\":\"%s\",\"shape\":[", rk_dtype_name(t->dtype));
        for (int d = 0; d < t->n_dims; d++) rk_st_buf_printf(b, "%s%lld", d ? "," : "", (long long)t->shape[d]);
        rk_st_buf_printf(b, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)t->begin,
                         (unsigned long long)(t->begin + t->nbytes));
    }
    rk_st_buf_put(b, "}", 1);
    while (b->n % 8) rk_st_buf_put(b, " ", 1);
    if (b->oom) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "%s: out of memory building a header", w->label);
    if (b->n > RK_ST_MAX_HEADER)
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "%s: shard %zu header would be %zu bytes, over the %llu-byte limit",
                          w->label, s + 1, b->n, (unsigned long long)RK_ST_MAX_HEADER);
    return 0;
}

/* Open the next shard's temp file and write its length + header. */
static int open_next(rk_st_writer *w, rk_err *err) {
    size_t s = w->n_open;
    rk_st_buf b = { 0 };
    char *nm = shard_name(w, s), *path = nm ? rk_path_join(w->dir, nm) : NULL;
    int rc = 0;
    if (!path) { rc = rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory"); goto done; }
    if ((rc = build_header(w, s, &b, err))) goto done;
    if ((rc = rk_outfile_open(&w->out[s], path, err))) goto done;
    w->n_open++;
    uint8_t len[8];
    for (int i = 0; i < 8; i++) len[i] = (uint8_t)((uint64_t)b.n >> (8 * i));
    if ((rc = rk_outfile_write(&w->out[s], len, 8, err))) goto done;
    rc = rk_outfile_write(&w->out[s], b.p, b.n, err);
done:
    rk_st_buf_free(&b);
    free(nm);
    free(path);
    return rc;
}

int rk_st_writer_begin(rk_st_writer *w, rk_err *err) {
    int rc = check_state(w, W_DECLARE, "begin", err);
    if (rc) return rc;
    /* plan: greedy in declared order; empty tensors never open a shard */
    w->first = calloc(w->n + 2, sizeof *w->first);
    w->shard_bytes = calloc(w->n + 1, sizeof *w->shard_bytes);
    if (!w->first || !w->shard_bytes) return fail(w, rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory"));
    size_t s = 0;
    for (size_t k = 0; k < w->n; k++) {
        wtensor *t = &w->t[k];
        if (w->max_shard && k > w->first[s] && t->nbytes && w->shard_bytes[s] + t->nbytes > w->max_shard) w->first[++s] = k;
        t->shard = s;
        t->begin = w->shard_bytes[s];
        w->shard_bytes[s] += t->nbytes;
        w->total += t->nbytes;
        if (w->shard_bytes[s] > RK_ST_MAX_INT)
            return fail(w, rk_err_set(err, RK_EINVAL, UINT64_MAX, "%s: more than 2^53 bytes of tensor data in one file", w->label));
    }
    w->n_shards = s + 1;
    w->first[w->n_shards] = w->n;
    w->out = calloc(w->n_shards, sizeof *w->out);
    if (!w->out) return fail(w, rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory"));
    for (size_t i = 0; i < w->n_shards; i++) {   /* every header must fit before any file exists */
        rk_st_buf b = { 0 };
        rc = build_header(w, i, &b, err);
        rk_st_buf_free(&b);
        if (rc) return fail(w, rc);
    }
    w->state = W_WRITING;
    return 0;
}

/* Skip finished and empty tensors; make sure the current tensor's shard is open. */
static int advance(rk_st_writer *w, rk_err *err) {
    while (w->cur < w->n && w->cur_done == w->t[w->cur].nbytes) {
        w->cur++;
        w->cur_done = 0;
    }
    size_t need = w->cur < w->n ? w->t[w->cur].shard + 1 : w->n_shards;
    while (w->n_open < need) {
        int rc = open_next(w, err);
        if (rc) return rc;
    }
    return 0;
}

int rk_st_writer_write(rk_st_writer *w, const void *data, size_t n, rk_err *err) {
    int rc = check_state(w, W_WRITING, "write", err);
    if (rc) return rc;
    if (n && !data) return fail(w, rk_err_set(err, RK_EINVAL, UINT64_MAX, "%s: write of %zu bytes from NULL", w->label, n));
    if (n > w->total - w->written)
        return fail(w, rk_err_set(err, RK_EINVAL, UINT64_MAX, "%s: write of %zu bytes but only %llu of the declared %llu remain",
                                  w->label, n, (unsigned long long)(w->total - w->written), (unsigned long long)w->total));
    const uint8_t *p = data;
    while (n) {
        if ((rc = advance(w, err))) return fail(w, rc);
        const wtensor *t = &w->t[w->cur];
        uint64_t room = t->nbytes - w->cur_done;
        size_t take = n < room ? n : (size_t)room;
        if ((rc = rk_outfile_write(&w->out[t->shard], p, take, err))) return fail(w, rc);
        p += take;
        n -= take;
        w->cur_done += take;
        w->written += take;
    }
    return 0;
}

static int write_index(rk_st_writer *w, rk_err *err) {
    rk_st_buf b = { 0 };
    rk_outfile o = { 0 };
    rk_st_name *names = calloc(w->n ? w->n : 1, sizeof *names);
    char **files = calloc(w->n_shards, sizeof *files);
    char *nm = NULL, *path = NULL;
    int rc = 0;
    if (!names || !files) { rc = rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory"); goto done; }
    for (size_t s = 0; s < w->n_shards; s++)
        if (!(files[s] = shard_name(w, s))) { rc = rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory"); goto done; }
    for (size_t k = 0; k < w->n; k++) names[k] = (rk_st_name){ w->t[k].name, k };
    rk_st_names_sort(names, w->n);
    rk_st_buf_printf(&b, "{\n  \"metadata\": {\n    \"total_size\": %llu\n  },\n  \"weight_map\": {", (unsigned long long)w->total);
    for (size_t k = 0; k < w->n; k++) {
        rk_st_buf_puts(&b, k ? ",\n    " : "\n    ");
        rk_st_buf_json_str(&b, names[k].name);
        rk_st_buf_puts(&b, ": ");
        rk_st_buf_json_str(&b, files[w->t[names[k].idx].shard]);
    }
    rk_st_buf_puts(&b, w->n ? "\n  }\n}\n" : "}\n}\n");
    if (b.oom) { rc = rk_err_set(err, RK_ENOMEM, UINT64_MAX, "%s: out of memory building the index", w->label); goto done; }
    size_t len = strlen(w->base) + 32;
    if (!(nm = malloc(len))) { rc = rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory"); goto done; }
    snprintf(nm, len, "%s.safetensors.index.json", w->base);
    if (!(path = rk_path_join(w->dir, nm))) { rc = rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory"); goto done; }
    if ((rc = rk_outfile_open(&o, path, err))) goto done;
    if ((rc = rk_outfile_write(&o, b.p, b.n, err))) { rk_outfile_abort(&o); goto done; }
    rc = rk_outfile_commit(&o, err);
done:
    if (files)
        for (size_t s = 0; s < w->n_shards; s++) free(files[s]);
    free(files);
    free(names);
    free(nm);
    free(path);
    rk_st_buf_free(&b);
    return rc;
}

int rk_st_writer_finish(rk_st_writer *w, rk_err *err) {
    int rc = check_state(w, W_WRITING, "finish", err);
    if (rc) return rc;
    if (w->written < w->total) {
        size_t k = w->cur;
        uint64_t got = w->cur_done;
        while (k < w->n && got == w->t[k].nbytes) k++, got = 0;   /* the first tensor still short */
        return fail(w, rk_err_set(err, RK_EINVAL, UINT64_MAX,
                                  "%s: finish with %llu of the declared %llu bytes missing (tensor '%.*s' got %llu of %llu)",
                                  w->label, (unsigned long long)(w->total - w->written), (unsigned long long)w->total,
                                  RK_ST_NAME_SHOW, w->t[k].name, (unsigned long long)got, (unsigned long long)w->t[k].nbytes));
    }
    if ((rc = advance(w, err))) return fail(w, rc);   /* opens trailing shards holding only empty tensors */
    for (size_t s = 0; s < w->n_shards; s++) {
        if ((rc = rk_outfile_commit(&w->out[s], err))) {
            for (size_t r = s + 1; r < w->n_open; r++) rk_outfile_abort(&w->out[r]);
            w->state = W_FAILED;
            return rc;
        }
    }
    if (w->n_shards > 1 && (rc = write_index(w, err))) {
        w->state = W_FAILED;
        return rc;
    }
    w->state = W_DONE;
    return 0;
}

void rk_st_writer_free(rk_st_writer *w) {
    if (!w) return;
    if (w->state != W_DONE) abort_all(w);
    for (size_t k = 0; k < w->n; k++) free(w->t[k].name);
    for (size_t i = 0; i < w->n_meta; i++) {
        free(w->mk[i]);
        free(w->mv[i]);
    }
    free(w->t);
    free(w->mk);
    free(w->mv);
    free(w->hash);
    free(w->first);
    free(w->shard_bytes);
    free(w->out);
    free(w->dir);
    free(w->base);
    free(w->label);
    free(w);
}
