/* formats/checkpoint.c — opens whatever checkpoint the user points at and presents its tensors uniformly.
 * Detection is by content (magic bytes), not by file name, except for index files and folders. FP8 weights
 * are paired with their "<name>_scale_inv" companions here so that every caller dequantizes the same way. */
#define _GNU_SOURCE
#include "formats/checkpoint.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "formats/gguf.h"
#include "formats/numeric.h"
#include "formats/pytorch.h"
#include "formats/safetensors.h"

typedef struct src_ref { int kind; size_t file; size_t idx; } src_ref;  /* where a tensor lives */

struct rk_ckpt {
    rk_ckpt_format format;
    char *path, *dir;
    rk_st_set *st;
    rk_pytorch **pt;
    size_t n_pt;
    rk_gguf *gguf;
    char **files;
    size_t n_files;
    rk_ckpt_tensor *t;
    src_ref *src;
    size_t n;
    int64_t fp8_rows, fp8_cols;
    uintptr_t *region;     /* [n_files][2]: the span of each file's mapped tensor data (rk_ckpt_release) */
};

static rk_block_decoder g_decoders[RK_GGML_TYPE_LIMIT];
void rk_ckpt_set_decoder(int dtype, rk_block_decoder fn) {
    if (dtype >= 0 && dtype < RK_GGML_TYPE_LIMIT) g_decoders[dtype] = fn;
}

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

static int add_file(rk_ckpt *ck, const char *p) {
    char **f = realloc(ck->files, (ck->n_files + 1) * sizeof *f);
    if (!f) return RK_ENOMEM;
    ck->files = f;
    if (!(f[ck->n_files] = rk_strdup(p))) return RK_ENOMEM;
    ck->n_files++;
    return 0;
}

static int reserve(rk_ckpt *ck, size_t extra, rk_err *err) {
    rk_ckpt_tensor *t = realloc(ck->t, (ck->n + extra) * sizeof *t);
    if (!t) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
    ck->t = t;
    src_ref *s = realloc(ck->src, (ck->n + extra) * sizeof *s);
    if (!s) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
    ck->src = s;
    return 0;
}

static void push(rk_ckpt *ck, const char *name, int dtype, int n_dims, const int64_t *shape, uint64_t nbytes,
                 const uint8_t *data, int file, int kind, size_t idx) {
    rk_ckpt_tensor *t = &ck->t[ck->n];
    memset(t, 0, sizeof *t);
    t->name = name;
    t->dtype = dtype;
    t->n_dims = n_dims;
    for (int d = 0; d < n_dims; d++) t->shape[d] = shape[d];
    if (rk_shape_numel(shape, n_dims, &t->numel)) t->numel = 0;
    t->nbytes = nbytes;
    t->data = data;
    t->file = file;
    t->scale = -1;
    ck->src[ck->n] = (src_ref){ kind, (size_t)file, idx };
    ck->n++;
}

/* ---- openers per format ---- */
static int open_safetensors(rk_ckpt *ck, const char *path, rk_err *err) {
    int rc = rk_st_set_open(&ck->st, path, err);
    if (rc) return rc;
    ck->format = RK_CKPT_SAFETENSORS;
    for (size_t i = 0; i < rk_st_set_shard_count(ck->st); i++)
        if (add_file(ck, rk_safetensors_path(rk_st_set_shard(ck->st, i)))) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
    size_t n = rk_st_set_count(ck->st);
    if ((rc = reserve(ck, n, err))) return rc;
    for (size_t i = 0; i < n; i++) {
        const rk_st_tensor *s = rk_st_set_tensor(ck->st, i);
        push(ck, s->name, s->dtype, s->n_dims, s->shape, s->nbytes, s->data, s->shard, RK_CKPT_SAFETENSORS, i);
    }
    return 0;
}

static int open_pytorch_file(rk_ckpt *ck, const char *path, rk_err *err) {
    rk_pytorch **p = realloc(ck->pt, (ck->n_pt + 1) * sizeof *p);
    if (!p) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
    ck->pt = p;
    int rc = rk_pytorch_open(&ck->pt[ck->n_pt], path, err);
    if (rc) return rc;
    size_t f = ck->n_pt++;
    if (add_file(ck, path)) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
    size_t n = rk_pytorch_count(ck->pt[f]);
    if ((rc = reserve(ck, n, err))) return rc;
    for (size_t i = 0; i < n; i++) {
        const rk_pt_tensor *s = rk_pytorch_tensor(ck->pt[f], i);
        if (rk_ckpt_find(ck, s->name))
            return rk_err_file(err, RK_ECORRUPT, path, UINT64_MAX, "tensor '%s' appears in more than one shard", s->name);
        push(ck, s->name, s->dtype, s->n_dims, s->shape, s->nbytes, NULL, (int)f, RK_CKPT_PYTORCH, i);
    }
    ck->format = RK_CKPT_PYTORCH;
    return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* pytorch_model.bin.index.json: same shape as the safetensors index; shards must be plain names. */
static int open_pytorch_index(rk_ckpt *ck, const char *index, rk_err *err) {
    char *txt = NULL;
    uint64_t len = 0;
    int rc = rk_read_file(index, 100000000, &txt, &len, err);
    if (rc) return rc;
    cJSON *j = cJSON_ParseWithLength(txt, (size_t)len);
    free(txt);
    char **names = NULL;
    size_t nn = 0;
    cJSON *wm = j ? cJSON_GetObjectItemCaseSensitive(j, "weight_map") : NULL;
    if (!cJSON_IsObject(wm)) {
        rc = rk_err_file(err, RK_ECORRUPT, index, UINT64_MAX, j ? "no \"weight_map\" object" : "not valid JSON");
        goto done;
    }
    size_t cap = (size_t)cJSON_GetArraySize(wm);
    names = calloc(cap ? cap : 1, sizeof *names);
    if (!names) { rc = rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory"); goto done; }
    for (cJSON *e = wm->child; e; e = e->next) {
        if (!cJSON_IsString(e) || !e->valuestring[0] || strchr(e->valuestring, '/') || strstr(e->valuestring, "..")) {
            rc = rk_err_file(err, RK_ECORRUPT, index, UINT64_MAX, "weight_map entry '%s' does not name a shard file in the same folder",
                             e->string ? e->string : "?");
            goto done;
        }
        names[nn++] = e->valuestring;
    }
    qsort(names, nn, sizeof *names, cmp_str);
    char *dcopy = rk_strdup(index);
    const char *dir = dcopy ? dirname(dcopy) : ".";
    for (size_t i = 0; i < nn && !rc; i++) {
        if (i && !strcmp(names[i], names[i - 1])) continue;
        char *p = rk_path_join(dir, names[i]);
        rc = p ? open_pytorch_file(ck, p, err) : rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
        free(p);
    }
    free(dcopy);
    if (rc) goto done;
    for (cJSON *e = wm->child; e; e = e->next) {   /* every mapped tensor must exist where the map says */
        const rk_ckpt_tensor *t = rk_ckpt_find(ck, e->string);
        if (!t || strcmp(basename(ck->files[t->file]), e->valuestring)) {
            rc = rk_err_file(err, RK_ECORRUPT, index, UINT64_MAX, "weight_map says '%s' is in %s, but it is not there",
                             e->string, e->valuestring);
            goto done;
        }
    }
    if ((size_t)cJSON_GetArraySize(wm) != ck->n)
        rc = rk_err_file(err, RK_ECORRUPT, index, UINT64_MAX, "the shards hold %zu tensors but weight_map lists %d",
                         ck->n, cJSON_GetArraySize(wm));
done:
    free(names);
    cJSON_Delete(j);
    return rc;
}

static int open_gguf(rk_ckpt *ck, const char *path, rk_err *err) {
    int rc = rk_gguf_open(&ck->gguf, path, err);
    if (rc) return rc;
    ck->format = RK_CKPT_GGUF;
    if (add_file(ck, path)) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
    uint64_t n = rk_gguf_tensor_count(ck->gguf);
    if ((rc = reserve(ck, (size_t)n, err))) return rc;
    for (uint64_t i = 0; i < n; i++) {
        const rk_gguf_tensor *g = rk_gguf_tensor_at(ck->gguf, i);
        int64_t shape[RK_MAX_DIMS];
        for (uint32_t d = 0; d < g->n_dims; d++) shape[d] = g->ne[g->n_dims - 1 - d];
        push(ck, g->name_z, g->type, (int)g->n_dims, shape, g->nbytes, g->data, 0, RK_CKPT_GGUF, (size_t)i);
    }
    return 0;
}

/* Sniff a file's format from its first bytes. */
static int sniff(const char *path, rk_err *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return rk_err_file(err, RK_EIO, path, UINT64_MAX, "cannot open: %m");
    uint8_t b[16] = {0};
    size_t n = fread(b, 1, sizeof b, f);
    fclose(f);
    if (n >= 4 && !memcmp(b, "GGUF", 4)) return RK_CKPT_GGUF;
    if (n >= 4 && !memcmp(b, "PK\x03\x04", 4)) return RK_CKPT_PYTORCH;
    if (n >= 9 && b[8] == '{') return RK_CKPT_SAFETENSORS;
    if (n >= 2 && b[0] == 0x80 && b[1] <= 5)
        return rk_err_file(err, RK_EUNSUPPORTED, path, 0,
                           "legacy (pre-1.6, non-zip) torch.save format is not supported; re-save it with torch>=1.6");
    if (n >= 1 && b[0] == '{') return 100; /* a JSON index */
    return rk_err_file(err, RK_ECORRUPT, path, 0, "not a safetensors, PyTorch zip or GGUF file (unrecognised first bytes)");
}

static int open_dir(rk_ckpt *ck, const char *dir, rk_err *err) {
    char *p;
    int rc;
    static const char *const st_names[] = { "model.safetensors.index.json", "model.safetensors" };
    for (int i = 0; i < 2; i++) {
        p = rk_path_join(dir, st_names[i]);
        int ex = p && rk_file_exists(p);
        free(p);
        if (ex) return open_safetensors(ck, dir, err);
    }
    p = rk_path_join(dir, "pytorch_model.bin.index.json");
    if (p && rk_file_exists(p)) { rc = open_pytorch_index(ck, p, err); free(p); return rc; }
    free(p);
    /* otherwise: exactly one checkpoint-looking file */
    DIR *d = opendir(dir);
    if (!d) return rk_err_file(err, RK_EIO, dir, UINT64_MAX, "cannot open folder: %m");
    char *found = NULL;
    int count = 0, n_st = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *nm = e->d_name;
        if (nm[0] == '.') continue;
        if (ends_with(nm, ".safetensors")) n_st++;
        if (ends_with(nm, ".safetensors") || ends_with(nm, ".bin") || ends_with(nm, ".pt") || ends_with(nm, ".pth") ||
            ends_with(nm, ".gguf")) {
            count++;
            free(found);
            found = rk_path_join(dir, nm);
        }
    }
    closedir(d);
    if (n_st > 0 && count == n_st) { free(found); return open_safetensors(ck, dir, err); }
    if (count != 1) {
        free(found);
        return rk_err_file(err, count ? RK_EINVAL : RK_ENOTFOUND, dir, UINT64_MAX,
                           count ? "holds %d checkpoint files and no index; name the one to use" :
                                   "no checkpoint here (no *.safetensors, pytorch_model.bin, *.pt or *.gguf)", count);
    }
    if (!found) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
    int kind = sniff(found, err);
    if (kind == RK_CKPT_GGUF) rc = open_gguf(ck, found, err);
    else if (kind == RK_CKPT_PYTORCH) rc = open_pytorch_file(ck, found, err);
    else if (kind == RK_CKPT_SAFETENSORS) rc = open_safetensors(ck, found, err);
    else rc = kind < 0 ? kind : rk_err_file(err, RK_ECORRUPT, found, 0, "unrecognised format");
    free(found);
    return rc;
}

/* quantization_config.weight_block_size from config.json, if present (else 128x128). */
static void read_block_size(rk_ckpt *ck) {
    ck->fp8_rows = ck->fp8_cols = 128;
    char *p = rk_path_join(ck->dir, "config.json"), *txt = NULL;
    uint64_t len;
    if (!p || rk_read_file(p, 16 << 20, &txt, &len, NULL)) { free(p); return; }
    free(p);
    cJSON *j = cJSON_ParseWithLength(txt, (size_t)len);
    free(txt);
    cJSON *q = j ? cJSON_GetObjectItemCaseSensitive(j, "quantization_config") : NULL;
    cJSON *b = q ? cJSON_GetObjectItemCaseSensitive(q, "weight_block_size") : NULL;
    if (cJSON_IsArray(b) && cJSON_GetArraySize(b) == 2) {
        double r = cJSON_GetArrayItem(b, 0)->valuedouble, c = cJSON_GetArrayItem(b, 1)->valuedouble;
        if (r >= 1 && r <= 1 << 20 && c >= 1 && c <= 1 << 20) ck->fp8_rows = (int64_t)r, ck->fp8_cols = (int64_t)c;
    }
    cJSON_Delete(j);
}

static void pair_scales(rk_ckpt *ck) {
    static const char suf[] = "_scale_inv";
    for (size_t i = 0; i < ck->n; i++) {
        const char *nm = ck->t[i].name;
        size_t l = strlen(nm);
        if (l <= sizeof suf - 1 || !ends_with(nm, suf)) continue;
        char *base = strndup(nm, l - (sizeof suf - 1));
        int64_t b = base ? rk_ckpt_index(ck, base) : -1;
        free(base);
        if (b >= 0 && ck->t[b].dtype == RK_DTYPE_F8_E4M3) {
            ck->t[b].scale = (int64_t)i;
            ck->t[i].is_scale = 1;
        }
    }
}

int rk_ckpt_open(rk_ckpt **out, const char *path, rk_err *err) {
    *out = NULL;
    rk_ckpt *ck = calloc(1, sizeof *ck);
    int rc;
    if (!ck || !(ck->path = rk_strdup(path))) { free(ck); return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory"); }
    if (rk_is_dir(path)) {
        ck->dir = rk_strdup(path);
        rc = ck->dir ? open_dir(ck, path, err) : RK_ENOMEM;
    } else {
        char *d = rk_strdup(path);
        ck->dir = d ? rk_strdup(dirname(d)) : NULL;
        free(d);
        int kind = sniff(path, err);
        if (kind < 0) rc = kind;
        else if (kind == RK_CKPT_GGUF) rc = open_gguf(ck, path, err);
        else if (kind == RK_CKPT_PYTORCH) rc = open_pytorch_file(ck, path, err);
        else if (kind == RK_CKPT_SAFETENSORS) rc = open_safetensors(ck, path, err);
        else if (ends_with(path, "pytorch_model.bin.index.json") || ends_with(path, ".bin.index.json"))
            rc = open_pytorch_index(ck, path, err);
        else rc = open_safetensors(ck, path, err);   /* a safetensors index; the reader validates it */
    }
    if (rc) { rk_ckpt_close(ck); return rc; }
    read_block_size(ck);
    pair_scales(ck);
    *out = ck;
    return 0;
}

void rk_ckpt_close(rk_ckpt *ck) {
    if (!ck) return;
    rk_st_set_close(ck->st);
    for (size_t i = 0; i < ck->n_pt; i++) rk_pytorch_close(ck->pt[i]);
    free(ck->pt);
    rk_gguf_close(ck->gguf);
    for (size_t i = 0; i < ck->n_files; i++) free(ck->files[i]);
    free(ck->files);
    free(ck->t);
    free(ck->src);
    free(ck->region);
    free(ck->path);
    free(ck->dir);
    free(ck);
}

rk_ckpt_format rk_ckpt_format_of(const rk_ckpt *ck) { return ck->format; }
const char *rk_ckpt_format_name(const rk_ckpt *ck) {
    switch (ck->format) {
    case RK_CKPT_SAFETENSORS: return "safetensors";
    case RK_CKPT_PYTORCH: return "pytorch";
    case RK_CKPT_GGUF: return "gguf";
    }
    return "?";
}
const char *rk_ckpt_path(const rk_ckpt *ck) { return ck->path; }
const char *rk_ckpt_dir(const rk_ckpt *ck) { return ck->dir; }
size_t rk_ckpt_file_count(const rk_ckpt *ck) { return ck->n_files; }
const char *rk_ckpt_file_path(const rk_ckpt *ck, size_t i) { return i < ck->n_files ? ck->files[i] : NULL; }
size_t rk_ckpt_count(const rk_ckpt *ck) { return ck->n; }
const rk_ckpt_tensor *rk_ckpt_tensor_at(const rk_ckpt *ck, size_t i) { return i < ck->n ? &ck->t[i] : NULL; }

int64_t rk_ckpt_index(const rk_ckpt *ck, const char *name) {
    if (ck->format == RK_CKPT_SAFETENSORS) {    /* the set has a fast lookup */
        const rk_st_tensor *s = rk_st_set_find(ck->st, name);
        if (!s) return -1;
        for (size_t i = 0; i < ck->n; i++)
            if (ck->t[i].name == s->name) return (int64_t)i;
    }
    for (size_t i = 0; i < ck->n; i++)
        if (!strcmp(ck->t[i].name, name)) return (int64_t)i;
    return -1;
}

const rk_ckpt_tensor *rk_ckpt_find(const rk_ckpt *ck, const char *name) {
    int64_t i = rk_ckpt_index(ck, name);
    return i < 0 ? NULL : &ck->t[i];
}

void rk_ckpt_set_fp8_block(rk_ckpt *ck, int64_t rows, int64_t cols) {
    if (rows > 0 && cols > 0) ck->fp8_rows = rows, ck->fp8_cols = cols;
}

int rk_ckpt_read(rk_ckpt *ck, const rk_ckpt_tensor *t, void *dst, uint64_t cap, rk_err *err) {
    if (cap < t->nbytes) return rk_err_set(err, RK_EINVAL, UINT64_MAX, "tensor '%s': buffer too small", t->name);
    if (t->data) {
        memcpy(dst, t->data, t->nbytes);
        return 0;
    }
    if (t->nbytes == 0) return 0;
    size_t i = (size_t)(t - ck->t);
    if (i >= ck->n || ck->src[i].kind != RK_CKPT_PYTORCH)
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "tensor '%s' has no data", t->name);
    return rk_pytorch_read(ck->pt[ck->src[i].file], ck->src[i].idx, dst, cap, err);
}

static int fp8_dequant(rk_ckpt *ck, const rk_ckpt_tensor *t, const uint8_t *raw, float *dst, rk_err *err) {
    const rk_ckpt_tensor *s = &ck->t[t->scale];
    if (t->n_dims != 2)
        return rk_err_file(err, RK_ECORRUPT, ck->files[t->file], UINT64_MAX, "FP8 tensor '%s' with a scale_inv must be 2-D", t->name);
    int64_t r = t->shape[0], c = t->shape[1];
    int64_t sr = (r + ck->fp8_rows - 1) / ck->fp8_rows, sc = (c + ck->fp8_cols - 1) / ck->fp8_cols;
    if (s->n_dims != 2 || s->shape[0] != sr || s->shape[1] != sc)
        return rk_err_file(err, RK_ECORRUPT, ck->files[s->file], UINT64_MAX,
                           "'%s' has shape [%lld, %lld] but weight [%lld, %lld] with %lldx%lld blocks needs [%lld, %lld]",
                           s->name, (long long)(s->n_dims > 0 ? s->shape[0] : 0), (long long)(s->n_dims > 1 ? s->shape[1] : 0),
                           (long long)r, (long long)c, (long long)ck->fp8_rows, (long long)ck->fp8_cols,
                           (long long)sr, (long long)sc);
    if (!dst) return rk_err_set(err, RK_EINVAL, UINT64_MAX, "internal: no destination");
    float *scale = malloc((size_t)(sr * sc) * sizeof(float) + 1);
    if (!scale) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
    int rc = rk_ckpt_read_f32(ck, s, scale, s->numel, err);
    if (!rc) {
        if (ck->fp8_rows == ck->fp8_cols) {
            rk_fp8_block_dequant(raw, scale, r, c, ck->fp8_rows, dst);
        } else {
            for (int64_t i = 0; i < r; i++)
                for (int64_t j = 0; j < c; j++)
                    dst[i * c + j] = rk_e4m3_to_f32(raw[i * c + j]) * scale[(i / ck->fp8_rows) * sc + j / ck->fp8_cols];
        }
    }
    free(scale);
    return rc;
}

int rk_ckpt_read_f32(rk_ckpt *ck, const rk_ckpt_tensor *t, float *dst, uint64_t n, rk_err *err) {
    if (n != t->numel) return rk_err_set(err, RK_EINVAL, UINT64_MAX, "tensor '%s': asked for %llu elements, it has %llu",
                                         t->name, (unsigned long long)n, (unsigned long long)t->numel);
    const uint8_t *raw = t->data;
    uint8_t *tmp = NULL;
    int rc = 0;
    if (!raw && t->nbytes) {
        if (!(tmp = malloc((size_t)t->nbytes))) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
        if ((rc = rk_ckpt_read(ck, t, tmp, t->nbytes, err))) goto done;
        raw = tmp;
    }
    const rk_dtype_traits *tr = rk_dtype_get(t->dtype);
    if (t->dtype == RK_DTYPE_F8_E4M3 && t->scale >= 0) {
        rc = fp8_dequant(ck, t, raw, dst, err);
    } else if (tr && tr->block_size > 1) {
        if (t->dtype < RK_GGML_TYPE_LIMIT && g_decoders[t->dtype]) g_decoders[t->dtype](raw, dst, (int64_t)n);
        else rc = rk_err_file(err, RK_EUNSUPPORTED, ck->files[t->file], UINT64_MAX,
                              "tensor '%s': cannot decode %s to f32", t->name, tr->name);
    } else if (rk_convert_to_f32(t->dtype, raw, dst, (size_t)n) != 0) {
        rc = rk_err_file(err, RK_EUNSUPPORTED, ck->files[t->file], UINT64_MAX, "tensor '%s': cannot convert %s to f32",
                         t->name, rk_dtype_name(t->dtype));
    }
done:
    free(tmp);
    return rc;
}

static int64_t row_len_of(const rk_ckpt_tensor *t) {
    if (t->n_dims <= 1) return 1;
    return t->shape[0] ? (int64_t)(t->numel / (uint64_t)t->shape[0]) : 0;
}

int rk_ckpt_read_f32_rows(rk_ckpt *ck, const rk_ckpt_tensor *t, int64_t row0, int64_t nrows, float *dst, rk_err *err) {
    int64_t rows = t->n_dims == 0 ? 1 : t->shape[0], rl = row_len_of(t);
    if (row0 < 0 || nrows < 0 || row0 > rows || nrows > rows - row0)
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "tensor '%s': rows [%lld, +%lld) out of range", t->name,
                          (long long)row0, (long long)nrows);
    if (nrows == 0) return 0;
    if (row0 == 0 && nrows == rows) return rk_ckpt_read_f32(ck, t, dst, t->numel, err);
    const rk_dtype_traits *tr = rk_dtype_get(t->dtype);
    uint64_t off = 0, len = 0;
    if (!tr || rk_dtype_nbytes(t->dtype, (uint64_t)(row0 * rl), &off) || rk_dtype_nbytes(t->dtype, (uint64_t)(nrows * rl), &len))
        return rk_err_file(err, RK_EUNSUPPORTED, ck->files[t->file], UINT64_MAX,
                           "tensor '%s': rows of %lld %s elements are not whole blocks", t->name, (long long)rl, rk_dtype_name(t->dtype));
    if (!t->data) {   /* not mapped (PyTorch zip): read whole, keep the slice */
        float *all = malloc((size_t)t->numel * sizeof(float) + 1);
        if (!all) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
        int rc = rk_ckpt_read_f32(ck, t, all, t->numel, err);
        if (!rc) memcpy(dst, all + row0 * rl, (size_t)(nrows * rl) * sizeof(float));
        free(all);
        return rc;
    }
    const uint8_t *raw = t->data + off;
    if (t->dtype == RK_DTYPE_F8_E4M3 && t->scale >= 0) {
        const rk_ckpt_tensor *s = &ck->t[t->scale];
        int64_t br = ck->fp8_rows, bc = ck->fp8_cols, sc = (rl + bc - 1) / bc, sr = (rows + br - 1) / br;
        if (t->n_dims != 2 || s->n_dims != 2 || s->shape[0] != sr || s->shape[1] != sc)
            return fp8_dequant(ck, t, t->data, NULL, err);   /* reports the shape problem */
        int64_t s0 = row0 / br, s1 = (row0 + nrows - 1) / br + 1;
        float *scale = malloc((size_t)((s1 - s0) * sc) * sizeof(float));
        if (!scale) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
        int rc = rk_ckpt_read_f32_rows(ck, s, s0, s1 - s0, scale, err);
        if (!rc) {
            #pragma omp parallel for schedule(static)
            for (int64_t i = 0; i < nrows; i++) {
                const float *srow = scale + ((row0 + i) / br - s0) * sc;
                for (int64_t j = 0; j < rl; j++) dst[i * rl + j] = rk_e4m3_to_f32(raw[i * rl + j]) * srow[j / bc];
            }
        }
        free(scale);
        return rc;
    }
    if (tr->block_size > 1) {
        if (t->dtype < RK_GGML_TYPE_LIMIT && g_decoders[t->dtype]) {
            g_decoders[t->dtype](raw, dst, nrows * rl);
            return 0;
        }
        return rk_err_file(err, RK_EUNSUPPORTED, ck->files[t->file], UINT64_MAX, "tensor '%s': cannot decode %s to f32",
                           t->name, tr->name);
    }
    if (rk_convert_to_f32(t->dtype, raw, dst, (size_t)(nrows * rl)) != 0)
        return rk_err_file(err, RK_EUNSUPPORTED, ck->files[t->file], UINT64_MAX, "tensor '%s': cannot convert %s to f32",
                           t->name, rk_dtype_name(t->dtype));
    return 0;
}

static void release_range(const uint8_t *p, uint64_t n) {
    if (!p || !n || rk_map_in_memory()) return;   /* anonymous copies (--no-mmap) would be zeroed, not released */
    uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = (uintptr_t)p & ~(pg - 1), b = ((uintptr_t)p + n + pg - 1) & ~(pg - 1);
    madvise((void *)a, b - a, MADV_DONTNEED);   /* read-only private file map: pages return to the page cache */
}

/* The pages of t, widened to 2 MiB-aligned bounds but kept inside the span of its file's tensor data. A page fault
 * on a file mapping also maps the cached pages around it (the kernel's fault-around window, 64 KiB by default), so
 * reading tensor i+1 maps the tail of tensor i again after it was released; releasing exactly t's own pages left
 * ~14 KB per tensor mapped, ~1.3 GB over R1's 91k tensors (docs/bench-quantize.md). The mapping is read-only, so a
 * released page is only read again from the page cache. */
static void release_wide(rk_ckpt *ck, const rk_ckpt_tensor *t) {
    if (!t->data || !t->nbytes || rk_map_in_memory()) return;
    if (!ck->region && ck->n_files) {
        if (!(ck->region = calloc(ck->n_files * 2, sizeof *ck->region))) { release_range(t->data, t->nbytes); return; }
        for (size_t f = 0; f < ck->n_files; f++) ck->region[2 * f] = UINTPTR_MAX;
        for (size_t i = 0; i < ck->n; i++) {
            const rk_ckpt_tensor *u = &ck->t[i];
            if (!u->data || u->file < 0 || (size_t)u->file >= ck->n_files) continue;
            uintptr_t a = (uintptr_t)u->data, b = a + u->nbytes, *r = &ck->region[2 * (size_t)u->file];
            if (a < r[0]) r[0] = a;
            if (b > r[1]) r[1] = b;
        }
    }
    if (!ck->region || t->file < 0 || (size_t)t->file >= ck->n_files) { release_range(t->data, t->nbytes); return; }
    const uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE), W = (uintptr_t)2 << 20;
    const uintptr_t *r = &ck->region[2 * (size_t)t->file];
    uintptr_t lo = (r[0] + pg - 1) & ~(pg - 1), hi = r[1] & ~(pg - 1);   /* whole pages inside the file's data */
    uintptr_t a = (uintptr_t)t->data & ~(W - 1), b = ((uintptr_t)t->data + t->nbytes + W - 1) & ~(W - 1);
    if (a < lo) a = lo;
    if (b > hi) b = hi;
    if (b > a) madvise((void *)a, b - a, MADV_DONTNEED);
    release_range(t->data, t->nbytes);   /* the partial pages at the span's ends */
}

void rk_ckpt_release(rk_ckpt *ck, const rk_ckpt_tensor *t) {
    release_wide(ck, t);
    if (t->scale >= 0) release_wide(ck, &ck->t[t->scale]);
}

const struct rk_gguf *rk_ckpt_gguf(const rk_ckpt *ck) { return ck->gguf; }

size_t rk_ckpt_meta_count(const rk_ckpt *ck) {
    if (!ck->st || rk_st_set_shard_count(ck->st) == 0) return 0;
    return rk_safetensors_meta_count(rk_st_set_shard(ck->st, 0));
}

int rk_ckpt_meta(const rk_ckpt *ck, size_t i, const char **key, const char **value) {
    if (!ck->st || rk_st_set_shard_count(ck->st) == 0) return RK_ENOTFOUND;
    return rk_safetensors_meta(rk_st_set_shard(ck->st, 0), i, key, value);
}
