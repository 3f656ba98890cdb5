/* formats/pytorch.c — PyTorch zip checkpoints (torch.save since 1.6) without executing pickle code.
 *
 * Why this shape: the archive is read through libzip from a read-only map of the file (or a caller's buffer),
 * so stored and deflated entries go through one path and nothing is ever decompressed beyond what a tensor
 * needs. Opening checks everything that does not need tensor bytes: entry names (no absolute paths, no ".."
 * components), exactly one data.pkl, byteorder "little" if recorded, the pickle (formats/pickle.h, allowlist
 * only), every tensor's geometry against its storage's declared numel (pytorch-tensors.c), and every storage
 * entry's size in the central directory against that numel. Reading a tensor then streams its storage entry
 * in bounded chunks: contiguous views straight into the caller's buffer, other views (transposed, sliced,
 * expanded) gathered window by window, so memory stays near the tensor's own size.
 * Layout facts from torch/serialization.py: <prefix>/data.pkl, <prefix>/data/<key>, <prefix>/byteorder,
 * <prefix>/version; legacy files start with a pickled magic number (0x1950a86a20f9469cfc6c) or are tar files.
 * Sharded pytorch_model.bin.index.json is read by formats/checkpoint.c, which opens each shard here. */
#include "formats/pytorch-impl.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define READ_CHUNK ((uint64_t)4 << 20)       /* bytes per zip_fread call */
#define GATHER_WINDOW ((uint64_t)64 << 20)   /* minimum storage window for strided gathers */

static const char k_legacy[] = "legacy (pre-1.6) torch.save format is not supported; re-save with torch>=1.6 "
                               "(torch.save(torch.load(f), f2) writes the zip format)";

/* ---- small helpers ---------------------------------------------------------------------------------- */
static int zip_code(int ze) {
    switch (ze) {
    case ZIP_ER_MEMORY: return RK_ENOMEM;
    case ZIP_ER_READ: case ZIP_ER_SEEK: case ZIP_ER_OPEN: case ZIP_ER_TELL: return RK_EIO;
    case ZIP_ER_ENCRNOTSUPP: case ZIP_ER_COMPNOTSUPP: return RK_EUNSUPPORTED;
    default: return RK_ECORRUPT;
    }
}

/* Legacy and foreign files are told apart by their first bytes before libzip sees them. */
static int sniff(const char *label, const uint8_t *d, uint64_t n, rk_err *err) {
    static const uint8_t magic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
    if (n == 0) return rk_err_file(err, RK_ECORRUPT, label, 0, "empty file, not a PyTorch checkpoint");
    if (n >= 4 && d[0] == 'P' && d[1] == 'K') return 0;
    if (n >= sizeof magic && !memcmp(d, magic, sizeof magic)) return rk_err_file(err, RK_EUNSUPPORTED, label, 0, "%s", k_legacy);
    if (d[0] == 0x80)
        return rk_err_file(err, RK_EUNSUPPORTED, label, 0, "a raw pickle stream, not a zip archive: %s", k_legacy);
    if (n >= 262 && !memcmp(d + 257, "ustar", 5))
        return rk_err_file(err, RK_EUNSUPPORTED, label, 0, "a tar archive: %s", k_legacy);
    return rk_err_file(err, RK_ECORRUPT, label, 0, "not a zip archive (torch.save writes zip files since torch 1.6)");
}

/* Absolute names ("/x", "\x", "C:x") and any ".." component are refused. */
static const char *bad_entry_name(const char *name) {
    if (!name[0]) return "is empty";
    if (name[0] == '/' || name[0] == '\\' || (isalpha((unsigned char)name[0]) && name[1] == ':')) return "is absolute";
    for (const char *p = name; *p;) {
        size_t k = strcspn(p, "/\\");
        if (k == 2 && p[0] == '.' && p[1] == '.') return "has a '..' component";
        p += k;
        if (*p) p++;
    }
    return NULL;
}

static int stat_entry(rk_pytorch *pt, zip_uint64_t idx, const char *entry, zip_stat_t *st, rk_err *err) {
    zip_stat_init(st);
    if (zip_stat_index(pt->za, idx, 0, st) != 0 || !(st->valid & ZIP_STAT_SIZE) || !(st->valid & ZIP_STAT_COMP_SIZE))
        return rk_err_file(err, RK_ECORRUPT, pt->path, UINT64_MAX, "%s: cannot stat entry: %s", entry,
                           zip_strerror(pt->za));
    if ((st->valid & ZIP_STAT_ENCRYPTION_METHOD) && st->encryption_method != ZIP_EM_NONE)
        return rk_err_file(err, RK_EUNSUPPORTED, pt->path, UINT64_MAX, "%s: entry is encrypted", entry);
    if ((st->valid & ZIP_STAT_COMP_METHOD) && !zip_compression_method_supported(st->comp_method, 0))
        return rk_err_file(err, RK_EUNSUPPORTED, pt->path, UINT64_MAX, "%s: compression method %d is not supported",
                           entry, (int)st->comp_method);
    if (st->comp_method == ZIP_CM_STORE && st->comp_size != st->size)
        return rk_err_file(err, RK_ECORRUPT, pt->path, UINT64_MAX,
                           "%s: stored entry claims %" PRIu64 " bytes but occupies %" PRIu64, entry,
                           (uint64_t)st->size, (uint64_t)st->comp_size);
    return 0;
}

static int open_entry(rk_pytorch *pt, zip_uint64_t idx, const char *entry, zip_file_t **zf, rk_err *err) {
    *zf = zip_fopen_index(pt->za, idx, 0);
    if (!*zf) {
        zip_error_t *ze = zip_get_error(pt->za);
        return rk_err_file(err, zip_code(zip_error_code_zip(ze)), pt->path, UINT64_MAX, "%s: cannot open entry: %s",
                           entry, zip_error_strerror(ze));
    }
    return 0;
}

/* Exactly n bytes from zf, in bounded calls; `at` is the entry offset, for messages. */
static int read_exact(rk_pytorch *pt, zip_file_t *zf, const char *entry, uint64_t at, uint8_t *dst, uint64_t n,
                      rk_err *err) {
    while (n) {
        zip_int64_t got = zip_fread(zf, dst, n < READ_CHUNK ? n : READ_CHUNK);
        if (got < 0)
            return rk_err_file(err, RK_ECORRUPT, pt->path, UINT64_MAX, "%s: read failed at byte %" PRIu64 ": %s", entry,
                               at, zip_file_strerror(zf));
        if (got == 0)
            return rk_err_file(err, RK_ECORRUPT, pt->path, UINT64_MAX, "%s: data ends at byte %" PRIu64 ", %" PRIu64
                               " more expected", entry, at, n);
        dst += got;
        at += (uint64_t)got;
        n -= (uint64_t)got;
    }
    return 0;
}

/* After the last expected byte: the entry must end here (this also lets libzip verify the CRC). */
static int expect_end(rk_pytorch *pt, zip_file_t *zf, const char *entry, uint64_t size, rk_err *err) {
    uint8_t b;
    zip_int64_t got = zip_fread(zf, &b, 1);
    if (got < 0)
        return rk_err_file(err, RK_ECORRUPT, pt->path, UINT64_MAX, "%s: %s", entry, zip_file_strerror(zf));
    if (got > 0)
        return rk_err_file(err, RK_ECORRUPT, pt->path, UINT64_MAX, "%s: entry holds more than its declared %" PRIu64
                           " bytes", entry, size);
    return 0;
}

/* A small entry (data.pkl, byteorder) read whole, refusing more than max bytes. */
static int read_small(rk_pytorch *pt, zip_uint64_t idx, const char *entry, uint64_t max, uint8_t **out,
                      uint64_t *len, rk_err *err) {
    zip_stat_t st;
    zip_file_t *zf = NULL;
    uint8_t *buf = NULL;
    int rc = stat_entry(pt, idx, entry, &st, err);
    if (rc) return rc;
    if (st.size > max)
        return rk_err_file(err, RK_ECORRUPT, pt->path, UINT64_MAX, "%s: %" PRIu64 " bytes (more than the %" PRIu64
                           " allowed)", entry, (uint64_t)st.size, max);
    buf = malloc(st.size + 1);
    if (!buf) return rk_err_file(err, RK_ENOMEM, pt->path, UINT64_MAX, "%s: out of memory", entry);
    if ((rc = open_entry(pt, idx, entry, &zf, err)) || (rc = read_exact(pt, zf, entry, 0, buf, st.size, err)) ||
        (rc = expect_end(pt, zf, entry, st.size, err)))
        goto fail;
    zip_fclose(zf);
    buf[st.size] = 0;
    *out = buf;
    *len = st.size;
    return 0;
fail:
    if (zf) zip_fclose(zf);
    free(buf);
    return rc;
}

/* ---- opening ---------------------------------------------------------------------------------------- */
/* Every name is checked; the single "<prefix>/data.pkl" (prefix without '/') fixes the prefix. */
static int scan_entries(rk_pytorch *pt, zip_uint64_t *pkl, rk_err *err) {
    zip_int64_t n = zip_get_num_entries(pt->za, 0);
    const char *found = NULL;
    for (zip_int64_t i = 0; i < n; i++) {
        const char *name = zip_get_name(pt->za, (zip_uint64_t)i, ZIP_FL_ENC_RAW);
        if (!name)
            return rk_err_file(err, RK_ECORRUPT, pt->path, UINT64_MAX, "entry %" PRId64 " has no readable name", (int64_t)i);
        const char *why = bad_entry_name(name);
        if (why)
            return rk_err_file(err, RK_ECORRUPT, pt->path, UINT64_MAX, "entry name '%.120s' %s (refusing path tricks)",
                               name, why);
        size_t len = strlen(name), pre = len - 8;
        if (len < 8 || strcmp(name + pre, "data.pkl") || (pre && name[pre - 1] != '/') ||
            (pre && memchr(name, '/', pre - 1)))
            continue;
        if (pre > 1024)
            return rk_err_file(err, RK_ECORRUPT, pt->path, UINT64_MAX, "archive folder name of %zu bytes is too long", pre);
        if (found)
            return rk_err_file(err, RK_ECORRUPT, pt->path, UINT64_MAX, "two data.pkl entries ('%.100s' and '%.100s')",
                               found, name);
        found = name;
        *pkl = (zip_uint64_t)i;
    }
    if (!found)
        return rk_err_file(err, RK_ECORRUPT, pt->path, UINT64_MAX,
                           "no <archive>/data.pkl entry: this zip is not a torch.save checkpoint");
    pt->prefix = rk_strdup(found);
    if (!pt->prefix) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "%s: out of memory", pt->path);
    pt->prefix[strlen(found) - 8] = 0;
    return 0;
}

static int check_byteorder(rk_pytorch *pt, rk_err *err) {
    char entry[RK_PT_MAX_NAME];
    snprintf(entry, sizeof entry, "%sbyteorder", pt->prefix);
    zip_int64_t idx = zip_name_locate(pt->za, entry, ZIP_FL_ENC_RAW);
    if (idx < 0) return 0;   /* torch < 2.1 writes none; their files are little-endian */
    uint8_t *buf = NULL;
    uint64_t len = 0;
    int rc = read_small(pt, (zip_uint64_t)idx, entry, 16, &buf, &len, err);
    if (rc) return rc;
    while (len && isspace(buf[len - 1])) buf[--len] = 0;
    if (!strcmp((char *)buf, "little")) rc = 0;
    else if (!strcmp((char *)buf, "big"))
        rc = rk_err_file(err, RK_EUNSUPPORTED, pt->path, UINT64_MAX, "%s: big-endian checkpoints are not supported", entry);
    else
        rc = rk_err_file(err, RK_ECORRUPT, pt->path, UINT64_MAX, "%s: unknown byte order '%.16s'", entry, (char *)buf);
    free(buf);
    return rc;
}

static int load_pickle(rk_pytorch *pt, zip_uint64_t idx, rk_err *err) {
    char entry[RK_PT_MAX_NAME], label[RK_PT_MAX_NAME + 300];
    snprintf(entry, sizeof entry, "%sdata.pkl", pt->prefix);
    snprintf(label, sizeof label, "%.255s: %s", pt->path, entry);
    uint8_t *buf = NULL;
    uint64_t len = 0;
    int rc = read_small(pt, idx, entry, RK_PT_MAX_PICKLE_BYTES, &buf, &len, err);
    if (rc) return rc;
    rc = rk_pickle_load(&pt->pk, buf, (size_t)len, label, NULL, err);   /* default caps: ~500k tensors */
    free(buf);
    return rc;
}

/* Each storage entry must exist and hold exactly the bytes its persistent id declares. */
static int check_storages(rk_pytorch *pt, rk_err *err) {
    for (size_t i = 0; i < pt->n_st; i++) {
        rk_pt_storage *s = &pt->st[i];
        zip_int64_t idx = zip_name_locate(pt->za, s->entry, ZIP_FL_ENC_RAW);
        if (idx < 0)
            return rk_err_file(err, RK_ECORRUPT, pt->path, UINT64_MAX, "%s: storage entry named in data.pkl is missing",
                               s->entry);
        zip_stat_t st;
        int rc = stat_entry(pt, (zip_uint64_t)idx, s->entry, &st, err);
        if (rc) return rc;
        if (st.size != s->nbytes)
            return rk_err_file(err, RK_ECORRUPT, pt->path, UINT64_MAX, "%s: entry holds %" PRIu64 " bytes but data.pkl "
                               "declares %" PRIu64 " (%" PRIu64 " %s)", s->entry, (uint64_t)st.size, s->nbytes,
                               s->numel, s->untyped ? "bytes" : "elements");
        s->index = (zip_uint64_t)idx;
        s->stored = st.comp_method == ZIP_CM_STORE;
    }
    return 0;
}

static int open_common(rk_pytorch *pt, const uint8_t *data, uint64_t size, rk_err *err) {
    int rc = sniff(pt->path, data, size, err);
    if (rc) return rc;
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(data, size, 0, &ze);
    if (src) pt->za = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze);
    if (!pt->za) {
        rc = rk_err_file(err, zip_code(zip_error_code_zip(&ze)), pt->path, UINT64_MAX, "not a readable zip archive: %s",
                         zip_error_strerror(&ze));
        if (src) zip_source_free(src);
        zip_error_fini(&ze);
        return rc;
    }
    zip_error_fini(&ze);
    zip_uint64_t pkl = 0;
    if ((rc = scan_entries(pt, &pkl, err)) || (rc = check_byteorder(pt, err)) || (rc = load_pickle(pt, pkl, err)) ||
        (rc = rk_pt_collect(pt, rk_pickle_root(pt->pk), err)) || (rc = check_storages(pt, err)))
        return rc;
    return 0;
}

static int open_finish(rk_pytorch **out, rk_pytorch *pt, int rc) {
    if (rc) {
        rk_pytorch_close(pt);
        return rc;
    }
    *out = pt;
    return 0;
}

int rk_pytorch_open(rk_pytorch **out, const char *path, rk_err *err) {
    if (!out || !path) return rk_err_set(err, RK_EINVAL, UINT64_MAX, "rk_pytorch_open: bad arguments");
    *out = NULL;
    rk_pytorch *pt = calloc(1, sizeof *pt);
    if (!pt || !(pt->path = rk_strdup(path))) {
        free(pt);
        return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "%s: out of memory", path);
    }
    int rc = rk_map_open(&pt->map, path, err);
    if (!rc) rc = open_common(pt, pt->map.data, pt->map.size, err);
    return open_finish(out, pt, rc);
}

int rk_pytorch_open_buffer(rk_pytorch **out, const void *data, uint64_t size, const char *label, rk_err *err) {
    if (!out || (!data && size)) return rk_err_set(err, RK_EINVAL, UINT64_MAX, "rk_pytorch_open_buffer: bad arguments");
    *out = NULL;
    rk_pytorch *pt = calloc(1, sizeof *pt);
    if (!pt || !(pt->path = rk_strdup(label ? label : "(buffer)"))) {
        free(pt);
        return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
    }
    return open_finish(out, pt, open_common(pt, data, size, err));
}

void rk_pytorch_close(rk_pytorch *pt) {
    if (!pt) return;
    if (pt->za) zip_discard(pt->za);
    for (size_t i = 0; i < pt->n; i++) free((char *)pt->t[i].name);
    for (size_t i = 0; i < pt->n_st; i++) {
        free(pt->st[i].key);
        free(pt->st[i].entry);
    }
    free(pt->t);
    free(pt->t_storage);
    free(pt->st);
    rk_pt_hash_free(&pt->names);
    rk_pt_hash_free(&pt->keys);
    rk_pickle_free(pt->pk);
    rk_map_close(&pt->map);
    free(pt->prefix);
    free(pt->path);
    free(pt);
}

size_t rk_pytorch_count(const rk_pytorch *pt) { return pt ? pt->n : 0; }
const char *rk_pytorch_path(const rk_pytorch *pt) { return pt ? pt->path : NULL; }
const rk_pt_tensor *rk_pytorch_tensor(const rk_pytorch *pt, size_t i) { return pt && i < pt->n ? &pt->t[i] : NULL; }
const struct rk_pk_value *rk_pytorch_pickle_root(const rk_pytorch *pt) { return pt ? rk_pickle_root(pt->pk) : NULL; }

const rk_pt_tensor *rk_pytorch_find(const rk_pytorch *pt, const char *name) {
    if (!pt || !name) return NULL;
    size_t i = rk_pt_hash_find(&pt->names, name, rk_pt_tensor_key, pt);
    return i == SIZE_MAX ? NULL : &pt->t[i];
}

/* ---- reading ---------------------------------------------------------------------------------------- */
static int skip_to(rk_pytorch *pt, zip_file_t *zf, const rk_pt_storage *s, uint64_t bytes, rk_err *err) {
    if (!bytes) return 0;
    if (s->stored && bytes <= INT64_MAX && zip_fseek(zf, (zip_int64_t)bytes, SEEK_SET) == 0) return 0;
    uint8_t tmp[16384];
    for (uint64_t at = 0; at < bytes;) {
        uint64_t k = bytes - at < sizeof tmp ? bytes - at : sizeof tmp;
        int rc = read_exact(pt, zf, s->entry, at, tmp, k, err);
        if (rc) return rc;
        at += k;
    }
    return 0;
}

/* Copy every element of t whose storage index lies in [w0, w1) from win (holding those elements) to dst. */
static void scatter(const rk_pt_tensor *t, uint64_t el, uint64_t w0, uint64_t w1, const uint8_t *win, uint8_t *dst) {
    int nd = t->n_dims;
    if (nd == 0) {
        uint64_t s = (uint64_t)t->storage_offset;
        if (s >= w0 && s < w1) memcpy(dst, win + (s - w0) * el, el);
        return;
    }
    uint64_t idx[RK_MAX_DIMS] = {0}, off = (uint64_t)t->storage_offset, k = 0;
    uint64_t inner = (uint64_t)t->shape[nd - 1], istride = (uint64_t)t->stride[nd - 1];
    for (;;) {
        for (uint64_t j = 0; j < inner; j++) {
            uint64_t s = off + j * istride;
            if (s >= w0 && s < w1) memcpy(dst + (k + j) * el, win + (s - w0) * el, el);
        }
        k += inner;
        int d = nd - 2;
        for (; d >= 0; d--) {   /* unsigned wrap-around is intended: off returns to range */
            off += (uint64_t)t->stride[d];
            if (++idx[d] < (uint64_t)t->shape[d]) break;
            off -= (uint64_t)t->stride[d] * (uint64_t)t->shape[d];
            idx[d] = 0;
        }
        if (d < 0) return;
    }
}

static int gather(rk_pytorch *pt, zip_file_t *zf, const rk_pt_storage *s, const rk_pt_tensor *t, uint64_t el,
                  uint64_t lo, uint64_t hi, uint8_t *dst, rk_err *err) {
    uint64_t span = (hi - lo) * el, cap = t->nbytes > GATHER_WINDOW ? t->nbytes : GATHER_WINDOW;
    uint64_t win = (span < cap ? span : cap) / el;
    uint8_t *buf = malloc(win * el);
    if (!buf) return rk_err_file(err, RK_ENOMEM, pt->path, UINT64_MAX, "%s: out of memory", s->entry);
    int rc = 0;
    for (uint64_t w0 = lo; w0 < hi && !rc; w0 += win) {
        uint64_t wn = hi - w0 < win ? hi - w0 : win;
        rc = read_exact(pt, zf, s->entry, w0 * el, buf, wn * el, err);
        if (!rc) scatter(t, el, w0, w0 + wn, buf, dst);
    }
    free(buf);
    return rc;
}

int rk_pytorch_read(rk_pytorch *pt, size_t i, void *dst, uint64_t dst_bytes, rk_err *err) {
    if (!pt || i >= pt->n) return rk_err_set(err, RK_EINVAL, UINT64_MAX, "rk_pytorch_read: no tensor %zu", i);
    const rk_pt_tensor *t = &pt->t[i];
    const rk_pt_storage *s = &pt->st[pt->t_storage[i]];
    if (!t->nbytes) return 0;
    if (!dst || dst_bytes < t->nbytes)
        return rk_err_file(err, RK_EINVAL, pt->path, UINT64_MAX, "'%s' needs %" PRIu64 " bytes, buffer has %" PRIu64,
                           t->name, t->nbytes, dst_bytes);
    uint64_t el = 0, lo = (uint64_t)t->storage_offset, hi = lo;
    rk_dtype_nbytes(t->dtype, 1, &el);
    for (int d = 0; d < t->n_dims; d++) hi += (uint64_t)(t->shape[d] - 1) * (uint64_t)t->stride[d];
    hi += 1;   /* validated at open: no overflow, hi <= storage elements */
    zip_file_t *zf = NULL;
    int rc = open_entry(pt, s->index, s->entry, &zf, err);
    if (rc) return rc;
    if (!(rc = skip_to(pt, zf, s, lo * el, err))) {
        if (t->contiguous) rc = read_exact(pt, zf, s->entry, lo * el, dst, t->nbytes, err);
        else rc = gather(pt, zf, s, t, el, lo, hi, dst, err);
    }
    if (!rc && hi * el == s->nbytes) rc = expect_end(pt, zf, s->entry, s->nbytes, err);
    zip_fclose(zf);
    return rc;
}
