/* distill/teacher_cache.c — the stored teacher (format in teacher_cache.h): full-row log-softmax, top-k selection
 * and one zlib stream per window on the way out; CRC, size and tiling checks at open, and CRC, exact-size inflate
 * and per-position validation on each read. The reader maps the file (rk_map) and inflates straight from it;
 * the writer goes through rk_outfile (temp file beside the target, fsync, rename). */
#define _GNU_SOURCE
#include "distill/teacher_cache.h"
#include "model/kernels.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "teacher_cache.c writes the record arrays in host order: little-endian hosts only"
#endif

#define INDEX_ENTRY 16
#define MAX_RATIO 1032   /* deflate expands at most ~1032:1 */


static uint32_t crc(const void *p, uint64_t n) {
    uLong c = crc32(0, NULL, 0);
    const uint8_t *b = p;
    while (n) {
        const uInt m = n < (1u << 30) ? (uInt)n : (1u << 30);
        c = crc32(c, b, m);
        b += m, n -= m;
    }
    return (uint32_t)c;
}

/* raw bytes of one window's record: 4·(T+1) + 8·T·k + 4·T; -1 on overflow or above RK_TCACHE_MAX_RAW */
static int raw_bytes(uint64_t T, uint64_t k, uint64_t *out) {
    uint64_t a, b;
    if (rk_mul_u64(T, k, &a) || rk_mul_u64(a, 8, &a) || rk_mul_u64(T, 8, &b) || rk_add_u64(a, b, &a) ||
        rk_add_u64(a, 4, &a) || a > RK_TCACHE_MAX_RAW)
        return -1;
    *out = a;
    return 0;
}

/* byte offsets of the arrays inside a record */
typedef struct rec_layout { size_t tokens, ids, logp, rest; } rec_layout;
static rec_layout layout(int64_t T, int64_t k) {
    rec_layout l;
    l.tokens = 0;
    l.ids = (size_t)(T + 1) * 4;
    l.logp = l.ids + (size_t)(T * k) * 4;
    l.rest = l.logp + (size_t)(T * k) * 4;
    return l;
}

/* ---- writing ----------------------------------------------------------------------------------------------- */

struct rk_tcache_writer {
    rk_outfile o;
    rk_tcache_info info;
    uint64_t raw_n;          /* record bytes before compression */
    uLong comp_cap;          /* compressBound(raw_n) */
    uint8_t *raw, *comp;
    uint8_t *mark;           /* [vocab] kept flags of the current position */
    int32_t *heap_id;        /* [k] */
    float *heap_l;           /* [k] */
    uint8_t *index;          /* [cap_index] entries of the windows put */
    int64_t cap_index, put;
    uint64_t pos;            /* file offset of the next record */
};

void rk_tcache_abort(rk_tcache_writer *w) {
    if (!w) return;
    rk_outfile_abort(&w->o);
    free(w->raw), free(w->comp), free(w->mark), free(w->heap_id), free(w->heap_l), free(w->index);
    free(w);
}

int64_t rk_tcache_writer_count(const rk_tcache_writer *w) { return w ? w->put : 0; }

int rk_tcache_create(rk_tcache_writer **out, const char *path, const rk_tcache_info *info, rk_err *err) {
    *out = NULL;
    uint64_t raw_n = 0;
    if (!info || info->T < 1 || info->T > RK_TCACHE_MAX_T || info->vocab < 1 || info->vocab > RK_TCACHE_MAX_VOCAB ||
        info->k < 1 || info->k > info->vocab || info->n_windows < 1 || info->first_token < -1 ||
        info->first_token >= info->vocab || info->tok_vocab < 0 || info->tok_vocab > RK_TCACHE_MAX_VOCAB ||
        raw_bytes((uint64_t)info->T, (uint64_t)info->k, &raw_n))
        return rk_err_set(err, RK_EINVAL, UINT64_MAX,
                          "%s: teacher cache: T %lld, %lld windows, vocabulary %lld, k %lld, first token %d out of range",
                          path, info ? (long long)info->T : 0, info ? (long long)info->n_windows : 0,
                          info ? (long long)info->vocab : 0, info ? (long long)info->k : 0, info ? info->first_token : 0);
    rk_tcache_writer *w = calloc(1, sizeof *w);
    if (!w) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
    w->info = *info;
    w->raw_n = raw_n;
    w->comp_cap = compressBound((uLong)raw_n);
    w->pos = RK_TCACHE_HEADER;
    int rc;
    w->raw = malloc((size_t)raw_n);
    w->comp = malloc((size_t)w->comp_cap);
    w->mark = calloc((size_t)info->vocab, 1);
    w->heap_id = malloc((size_t)info->k * sizeof(int32_t));
    w->heap_l = malloc((size_t)info->k * sizeof(float));
    if (!w->raw || !w->comp || !w->mark || !w->heap_id || !w->heap_l) {
        rc = rk_err_set(err, RK_ENOMEM, UINT64_MAX, "%s: out of memory", path);
        goto fail;
    }
    if ((rc = rk_outfile_open(&w->o, path, err))) goto fail;
    static const uint8_t zero[RK_TCACHE_HEADER];
    if ((rc = rk_outfile_write(&w->o, zero, sizeof zero, err))) goto fail;   /* the header comes at finish */
    *out = w;
    return 0;
fail:
    rk_tcache_abort(w);
    return rc;
}

/* marks the k best entries of row (k < V) in mark[] */
static void mark_top_k(const float *row, int64_t V, int64_t k, int32_t *ids, float *l, uint8_t *mark) {
    rk_top_k(row, V, k, ids, l);
    for (int64_t j = 0; j < k; j++) mark[ids[j]] = 1;
}

/* one position: ids (deltas), logp and log_rest of a logits row; -1 if the row has NaN/+inf or is all −inf */
static int encode_row(rk_tcache_writer *w, const float *row, int32_t *delta, float *lp, float *lrest) {
    const int64_t V = w->info.vocab, k = w->info.k;
    double m = -INFINITY;
    for (int64_t i = 0; i < V; i++) {
        if (row[i] != row[i] || row[i] == INFINITY) return -1;
        if (row[i] > m) m = row[i];
    }
    if (m == -INFINITY) return -1;
    double s = 0.0;
    for (int64_t i = 0; i < V; i++) s += exp((double)row[i] - m);
    const double lse = m + log(s);
    if (k < V) mark_top_k(row, V, k, w->heap_id, w->heap_l, w->mark);
    else memset(w->mark, 1, (size_t)V);
    double mr = -INFINITY;   /* the rest's max, then its sum */
    int64_t n = 0;
    int32_t prev = 0;
    for (int64_t i = 0; i < V; i++) {
        if (w->mark[i]) {
            delta[n] = n ? (int32_t)i - prev : (int32_t)i;
            lp[n++] = (float)((double)row[i] - lse);
            prev = (int32_t)i;
        } else if (row[i] > mr) mr = row[i];
    }
    double sr = 0.0;
    if (mr > -INFINITY)
        for (int64_t i = 0; i < V; i++)
            if (!w->mark[i]) sr += exp((double)row[i] - mr);
    *lrest = mr > -INFINITY ? (float)(mr + log(sr) - lse) : -INFINITY;
    memset(w->mark, 0, (size_t)V);
    return 0;
}

int rk_tcache_put(rk_tcache_writer *w, const int32_t *tokens, const float *logits, rk_err *err) {
    const rk_tcache_info *in = &w->info;
    const int64_t T = in->T, V = in->vocab, k = in->k;
    if (w->put >= in->n_windows)
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "%s: all %lld windows are already written", w->o.path,
                          (long long)in->n_windows);
    for (int64_t i = 0; i <= T; i++)
        if (tokens[i] < 0 || tokens[i] >= V)
            return rk_err_set(err, RK_EINVAL, UINT64_MAX, "%s: window %lld: token %lld is %d, outside the vocabulary of %lld",
                              w->o.path, (long long)w->put, (long long)i, tokens[i], (long long)V);
    const rec_layout L = layout(T, k);
    memcpy(w->raw + L.tokens, tokens, (size_t)(T + 1) * sizeof(int32_t));
    int32_t *delta = (int32_t *)(void *)(w->raw + L.ids);
    float *lp = (float *)(void *)(w->raw + L.logp), *lrest = (float *)(void *)(w->raw + L.rest);
    for (int64_t t = 0; t < T; t++)
        if (encode_row(w, logits + t * V, delta + t * k, lp + t * k, lrest + t))
            return rk_err_set(err, RK_EINVAL, UINT64_MAX, "%s: window %lld: position %lld: the teacher's logits hold NaN or "
                              "+inf, or are all -inf", w->o.path, (long long)w->put, (long long)t);
    uLongf clen = w->comp_cap;
    const int zr = compress2(w->comp, &clen, w->raw, (uLong)w->raw_n, 6);
    if (zr != Z_OK)
        return rk_err_set(err, zr == Z_MEM_ERROR ? RK_ENOMEM : RK_EIO, UINT64_MAX, "%s: window %lld: compression failed",
                          w->o.path, (long long)w->put);
    if (w->put == w->cap_index) {
        const int64_t cap = w->cap_index ? 2 * w->cap_index : 1024;
        uint8_t *p = realloc(w->index, (size_t)cap * INDEX_ENTRY);
        if (!p) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
        w->index = p, w->cap_index = cap;
    }
    int rc = rk_outfile_write(&w->o, w->comp, (size_t)clen, err);
    if (rc) return rc;
    uint8_t *e = w->index + w->put * INDEX_ENTRY;
    rk_put_le64(e, w->pos);
    rk_put_le32(e + 8, (uint32_t)clen);
    rk_put_le32(e + 12, crc(w->comp, clen));
    w->pos += clen;
    w->put++;
    return 0;
}

static void header_bytes(uint8_t h[RK_TCACHE_HEADER], const rk_tcache_info *in, uint64_t index_off) {
    memset(h, 0, RK_TCACHE_HEADER);
    memcpy(h, RK_TCACHE_MAGIC, 8);
    rk_put_le32(h + 8, RK_TCACHE_VERSION);
    rk_put_le32(h + 12, RK_TCACHE_HEADER);
    rk_put_le64(h + 16, (uint64_t)in->T);
    rk_put_le64(h + 24, (uint64_t)in->n_windows);
    rk_put_le64(h + 32, (uint64_t)in->vocab);
    rk_put_le64(h + 40, (uint64_t)in->k);
    rk_put_le64(h + 48, in->tok_fingerprint);
    rk_put_le64(h + 56, (uint64_t)in->tok_vocab);
    rk_put_le64(h + 64, (uint64_t)(int64_t)in->first_token);
    rk_put_le64(h + 72, index_off);
    rk_put_le32(h + 124, crc(h, 124));
}

int rk_tcache_finish(rk_tcache_writer *w, rk_err *err) {
    int rc;
    if (w->put != w->info.n_windows) {
        rc = rk_err_set(err, RK_EINVAL, UINT64_MAX, "%s: %lld of %lld windows written", w->o.path, (long long)w->put,
                        (long long)w->info.n_windows);
        goto done;
    }
    const size_t nidx = (size_t)w->put * INDEX_ENTRY;
    uint8_t tail[4], h[RK_TCACHE_HEADER];
    rk_put_le32(tail, crc(w->index, nidx));
    header_bytes(h, &w->info, w->pos);
    if ((rc = rk_outfile_write(&w->o, w->index, nidx, err)) || (rc = rk_outfile_write(&w->o, tail, 4, err))) goto done;
    rc = rk_outfile_commit_header(&w->o, h, sizeof h, err);
done:
    rk_tcache_abort(w);   /* after a commit only frees */
    return rc;
}

/* ---- reading ----------------------------------------------------------------------------------------------- */

struct rk_tcache {
    rk_map map;                 /* file mode (zeroed for a buffer) */
    const uint8_t *data;
    uint64_t size;
    char name[512];
    rk_tcache_info info;
    uint64_t raw_n, index_off;
    const uint8_t *index;       /* inside data */
    uint8_t *raw;               /* [raw_n] */
    z_stream z;
    int z_open;
};

void rk_tcache_close(rk_tcache *c) {
    if (!c) return;
    if (c->z_open) inflateEnd(&c->z);
    free(c->raw);
    rk_map_close(&c->map);
    free(c);
}

const rk_tcache_info *rk_tcache_get_info(const rk_tcache *c) { return &c->info; }
uint64_t rk_tcache_size(const rk_tcache *c) { return c->size; }

static int corrupt(rk_tcache *c, rk_err *err, uint64_t off, const char *what) {
    return rk_err_file(err, RK_ECORRUPT, c->name, off, "%s", what);
}

/* header fields into c->info and c->raw_n / index_off, all ranges checked */
static int parse_header(rk_tcache *c, rk_err *err) {
    const uint8_t *h = c->data;
    if (c->size < 8 || memcmp(h, RK_TCACHE_MAGIC, 8))
        return corrupt(c, err, 0, "not an r1kit teacher cache (no \"" RK_TCACHE_MAGIC "\" magic)");
    if (c->size < RK_TCACHE_HEADER) return corrupt(c, err, 8, "truncated inside the 128-byte header");
    if (rk_get_le32(h + 124) != crc(h, 124)) return corrupt(c, err, 124, "header checksum mismatch (the header is damaged)");
    if (rk_get_le32(h + 8) != RK_TCACHE_VERSION)
        return rk_err_file(err, RK_EUNSUPPORTED, c->name, 8, "teacher cache version %u (r1kit reads %d)", rk_get_le32(h + 8),
                           RK_TCACHE_VERSION);
    const uint64_t T = rk_get_le64(h + 16), n = rk_get_le64(h + 24), V = rk_get_le64(h + 32), k = rk_get_le64(h + 40);
    const uint64_t tv = rk_get_le64(h + 56), idx = rk_get_le64(h + 72);
    const int64_t first = (int64_t)rk_get_le64(h + 64);
    int reserved = rk_get_le32(h + 80) != 0;
    for (int i = 84; i < 124; i++) reserved |= h[i] != 0;
    if (rk_get_le32(h + 12) != RK_TCACHE_HEADER || T < 1 || T > RK_TCACHE_MAX_T || n < 1 || V < 1 || V > RK_TCACHE_MAX_VOCAB ||
        k < 1 || k > V || first < -1 || first >= (int64_t)V || tv > RK_TCACHE_MAX_VOCAB || reserved ||
        raw_bytes(T, k, &c->raw_n))
        return rk_err_file(err, RK_ECORRUPT, c->name, 12,
                           "header out of range: T %llu, %llu windows, vocabulary %llu, k %llu, first token %lld",
                           (unsigned long long)T, (unsigned long long)n, (unsigned long long)V, (unsigned long long)k,
                           (long long)first);
    /* header + records (>= 1 byte each) + index + its CRC == the file */
    uint64_t ib, end;
    if (rk_mul_u64(n, INDEX_ENTRY, &ib) || idx < RK_TCACHE_HEADER || idx - RK_TCACHE_HEADER < n ||
        rk_add_u64(idx, ib, &end) || rk_add_u64(end, 4, &end) || end != c->size)
        return rk_err_file(err, RK_ECORRUPT, c->name, 72,
                           "%llu bytes, but %llu windows with the index at %llu need %llu: the file is truncated or extended",
                           (unsigned long long)c->size, (unsigned long long)n, (unsigned long long)idx,
                           (unsigned long long)(idx + n * INDEX_ENTRY + 4));
    c->info = (rk_tcache_info){(int64_t)T, (int64_t)n, (int64_t)V, (int64_t)k, (int32_t)first, rk_get_le64(h + 48), (int64_t)tv};
    c->index_off = idx;
    c->index = c->data + idx;
    return 0;
}

/* the index: its CRC, records tiling [header, index) in order, each a plausible size for raw_n */
static int check_index(rk_tcache *c, rk_err *err) {
    const uint64_t n = (uint64_t)c->info.n_windows, nb = n * INDEX_ENTRY;
    if (rk_get_le32(c->index + nb) != crc(c->index, nb))
        return corrupt(c, err, c->index_off + nb, "index checksum mismatch (the index is damaged)");
    const uint64_t bound = compressBound((uLong)c->raw_n);
    uint64_t pos = RK_TCACHE_HEADER;
    for (uint64_t i = 0; i < n; i++) {
        const uint8_t *e = c->index + i * INDEX_ENTRY;
        const uint64_t off = rk_get_le64(e), sz = rk_get_le32(e + 8);
        if (off != pos || sz == 0 || sz > bound || sz > c->index_off - pos || c->raw_n / MAX_RATIO > sz + 64)
            return rk_err_file(err, RK_ECORRUPT, c->name, c->index_off + i * INDEX_ENTRY,
                               "window %llu: record at %llu of %llu bytes does not follow the previous one (at %llu) "
                               "inside the record area, or cannot hold %llu bytes",
                               (unsigned long long)i, (unsigned long long)off, (unsigned long long)sz,
                               (unsigned long long)pos, (unsigned long long)c->raw_n);
        pos += sz;
    }
    if (pos != c->index_off)
        return rk_err_file(err, RK_ECORRUPT, c->name, 72, "the records end at %llu, the index starts at %llu",
                           (unsigned long long)pos, (unsigned long long)c->index_off);
    /* every record's checksum now (one pass over the file), so that damage shows at open, not mid-training */
    for (uint64_t i = 0; i < n; i++) {
        const uint8_t *e = c->index + i * INDEX_ENTRY;
        const uint64_t off = rk_get_le64(e), sz = rk_get_le32(e + 8);
        if (crc(c->data + off, sz) != rk_get_le32(e + 12))
            return rk_err_file(err, RK_ECORRUPT, c->name, off, "window %llu: record checksum mismatch", (unsigned long long)i);
    }
    return 0;
}

static int open_common(rk_tcache *c, rk_err *err) {
    int rc;
    if ((rc = parse_header(c, err)) || (rc = check_index(c, err))) return rc;
    if (!(c->raw = malloc((size_t)c->raw_n))) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "%s: out of memory", c->name);
    if (inflateInit(&c->z) != Z_OK) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "%s: inflateInit failed", c->name);
    c->z_open = 1;
    return 0;
}

int rk_tcache_open_buffer(rk_tcache **out, const void *data, size_t size, const char *name, rk_err *err) {
    *out = NULL;
    rk_tcache *c = calloc(1, sizeof *c);
    if (!c) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
    snprintf(c->name, sizeof c->name, "%s", name ? name : "(buffer)");
    c->data = data, c->size = data ? size : 0;
    int rc = open_common(c, err);
    if (rc) { rk_tcache_close(c); return rc; }
    *out = c;
    return 0;
}

int rk_tcache_open(rk_tcache **out, const char *path, rk_err *err) {
    *out = NULL;
    struct stat st;
    if (stat(path, &st) != 0 && errno == ENOENT) return rk_err_file(err, RK_ENOTFOUND, path, UINT64_MAX, "no such file");
    rk_tcache *c = calloc(1, sizeof *c);
    if (!c) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
    snprintf(c->name, sizeof c->name, "%s", path);
    int rc = rk_map_open(&c->map, path, err);
    if (!rc) {
        c->data = c->map.data, c->size = c->map.size;
        rc = open_common(c, err);
    }
    if (rc) { rk_tcache_close(c); return rc; }
    *out = c;
    return 0;
}

/* inflate window i's record into c->raw: exactly raw_n bytes from exactly its compressed bytes */
static int inflate_record(rk_tcache *c, int64_t i, rk_err *err) {
    const uint8_t *e = c->index + i * INDEX_ENTRY;
    const uint64_t off = rk_get_le64(e), sz = rk_get_le32(e + 8);
    if (crc(c->data + off, sz) != rk_get_le32(e + 12))
        return rk_err_file(err, RK_ECORRUPT, c->name, off, "window %lld: record checksum mismatch", (long long)i);
    if (inflateReset(&c->z) != Z_OK) return rk_err_file(err, RK_EIO, c->name, UINT64_MAX, "inflateReset failed");
    c->z.next_in = (Bytef *)(uintptr_t)(c->data + off);
    c->z.avail_in = (uInt)sz;
    c->z.next_out = c->raw;
    c->z.avail_out = (uInt)c->raw_n;
    const int zr = inflate(&c->z, Z_FINISH);
    if (zr == Z_MEM_ERROR) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "%s: out of memory", c->name);
    const char *why = NULL;
    if (zr == Z_STREAM_END && c->z.avail_out) why = "inflates to fewer bytes than T and k imply";
    else if (zr == Z_STREAM_END && c->z.avail_in) why = "has bytes after the end of its compressed stream";
    else if (zr == Z_BUF_ERROR && !c->z.avail_out) why = "inflates to more bytes than T and k imply";
    else if (zr != Z_STREAM_END) why = "compressed stream is damaged";
    if (why)
        return rk_err_file(err, RK_ECORRUPT, c->name, off, "window %lld: record %s (zlib: %s)", (long long)i, why,
                           c->z.msg ? c->z.msg : zr == Z_BUF_ERROR ? "truncated" : "ok");
    return 0;
}

/* one position's ids (deltas in place → ids), logp, log_rest: NULL if valid, else what is wrong */
static const char *check_row(int32_t *ids, const float *lp, float lrest, int64_t k, int64_t V) {
    if (!(lrest <= 0.0f)) return "log_rest is NaN or positive";
    if (k == V && lrest != -INFINITY) return "log_rest is finite with every id kept";
    double mass = exp((double)lrest);
    for (int64_t i = 0; i < k; i++) {
        const int64_t id = i ? (int64_t)ids[i - 1] + ids[i] : ids[i];
        if (id < 0 || id >= V) return "an id is outside the vocabulary";
        if (i && id <= ids[i - 1]) return "ids are not strictly ascending";
        if (!(lp[i] <= 0.0f)) return "a log-probability is NaN or positive";
        ids[i] = (int32_t)id;
        mass += exp((double)lp[i]);
    }
    if (!(fabs(mass - 1.0) <= 1e-3)) return "the probabilities do not sum to 1";
    return NULL;
}

int rk_tcache_read(rk_tcache *c, int64_t i, int32_t *tokens, int32_t *ids, float *logp, float *log_rest, rk_err *err) {
    const rk_tcache_info *in = &c->info;
    const int64_t T = in->T, k = in->k, V = in->vocab;
    if (i < 0 || i >= in->n_windows)
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "%s: window %lld asked, the cache holds %lld", c->name, (long long)i,
                          (long long)in->n_windows);
    int rc = inflate_record(c, i, err);
    if (rc) return rc;
    const rec_layout L = layout(T, k);
    memcpy(tokens, c->raw + L.tokens, (size_t)(T + 1) * sizeof(int32_t));
    memcpy(ids, c->raw + L.ids, (size_t)(T * k) * sizeof(int32_t));
    memcpy(logp, c->raw + L.logp, (size_t)(T * k) * sizeof(float));
    memcpy(log_rest, c->raw + L.rest, (size_t)T * sizeof(float));
    for (int64_t t = 0; t <= T; t++)
        if (tokens[t] < 0 || tokens[t] >= V)
            return rk_err_file(err, RK_ECORRUPT, c->name, UINT64_MAX,
                               "window %lld: token %lld is %d, outside the vocabulary of %lld", (long long)i, (long long)t,
                               tokens[t], (long long)V);
    for (int64_t t = 0; t < T; t++) {
        const char *why = check_row(ids + t * k, logp + t * k, log_rest[t], k, V);
        if (why)
            return rk_err_file(err, RK_ECORRUPT, c->name, UINT64_MAX, "window %lld: position %lld: %s", (long long)i,
                               (long long)t, why);
    }
    return 0;
}
