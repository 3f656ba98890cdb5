/* fuzz/fuzz_pytorch.c — libFuzzer harness for PyTorch zip checkpoints (formats/pytorch.h) opened from memory
 * with rk_pytorch_open_buffer: any bytes must open or fail with a filled-in error; every tensor of an opened
 * file is then read (within a budget), which must succeed or fail cleanly, never crash or over-read.
 *
 * Two modes, so that mutations reach past the zip layer: input starting with "PK" is used as the archive
 * as is; anything else is taken as a data.pkl and wrapped in a fresh archive together with one storage
 * entry per persistent id it names, sized as declared (so tensor geometry, views and reads get exercised).
 * Corpus: fuzz/corpus/fuzz_pytorch/ (small torch.save files, and data.pkl files for the second mode). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>

#include "formats/pickle.h"
#include "formats/pytorch.h"

#define MAX_ENTRY ((uint64_t)256 << 10)
#define MAX_ENTRIES 64

typedef struct wrap {
    zip_t *za;
    uint8_t *bufs[MAX_ENTRIES];
    int n;
    int deflate;
} wrap;

static void add_entry(wrap *w, const char *name, const uint8_t *data, size_t len) {
    if (w->n >= MAX_ENTRIES) return;
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy) return;
    if (data) memcpy(copy, data, len);
    else for (size_t i = 0; i < len; i++) copy[i] = (uint8_t)(i * 37 + 11);
    w->bufs[w->n++] = copy;
    zip_source_t *s = zip_source_buffer(w->za, copy, len, 0);
    if (!s) return;
    zip_int64_t idx = zip_file_add(w->za, name, s, ZIP_FL_OVERWRITE | ZIP_FL_ENC_RAW);
    if (idx < 0) {
        zip_source_free(s);
        return;
    }
    zip_set_file_compression(w->za, (zip_uint64_t)idx, w->deflate ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0);
}

/* One storage entry for each ('storage', torch.<X>Storage, key, location, numel) found in the tree. */
static void add_storages(wrap *w, const rk_pk_value *v, int depth) {
    if (depth > 64 || w->n >= MAX_ENTRIES) return;
    switch (v->kind) {
    case RK_PK_TUPLE: case RK_PK_LIST:
        for (size_t i = 0; i < v->u.seq.n; i++) add_storages(w, v->u.seq.items[i], depth + 1);
        return;
    case RK_PK_DICT:
        for (size_t i = 0; i < v->u.dict.n; i++) add_storages(w, v->u.dict.vals[i], depth + 1);
        return;
    case RK_PK_REDUCE:
        add_storages(w, v->u.reduce.args, depth + 1);
        return;
    case RK_PK_PERSID: {
        const rk_pk_value *p = v->u.persid.pid;
        if (p->kind != RK_PK_TUPLE || p->u.seq.n != 5) return;
        const rk_pk_value *cls = p->u.seq.items[1], *key = p->u.seq.items[2], *numel = p->u.seq.items[4];
        if (cls->kind != RK_PK_GLOBAL || key->kind != RK_PK_STR || numel->kind != RK_PK_INT || numel->u.i < 0) return;
        uint64_t el = 0, bytes;
        if (rk_dtype_nbytes(cls->u.global.dtype, 1, &el) || rk_mul_u64((uint64_t)numel->u.i, el, &bytes) ||
            bytes > MAX_ENTRY || key->u.str.len > 64)
            return;
        char name[128];
        snprintf(name, sizeof name, "archive/data/%s", key->u.str.s);
        add_entry(w, name, NULL, (size_t)bytes);
        return;
    }
    default:
        return;
    }
}

/* The archive bytes for a data.pkl, or NULL. */
static uint8_t *wrap_pickle(const uint8_t *pkl, size_t n, size_t *out_len) {
    wrap w = {0};
    w.deflate = n % 8 == 1;   /* deflate costs ~10x per run: exercise it on a fraction */
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(NULL, 0, 0, &ze);
    uint8_t *out = NULL;
    if (!src) goto done;
    w.za = zip_open_from_source(src, ZIP_TRUNCATE, &ze);
    if (!w.za) {
        zip_source_free(src);
        goto done;
    }
    zip_source_keep(src);
    add_entry(&w, "archive/data.pkl", pkl, n);
    add_entry(&w, "archive/version", (const uint8_t *)"3\n", 2);
    rk_pk_limits lim = {.max_objects = 1 << 16, .max_depth = 64, .max_tree = 1 << 16};
    rk_pickle *pk = NULL;
    if (rk_pickle_load(&pk, pkl, n, "wrap", &lim, NULL) == 0) add_storages(&w, rk_pickle_root(pk), 0);
    rk_pickle_free(pk);
    if (zip_close(w.za) != 0) {
        zip_discard(w.za);
    } else if (zip_source_open(src) == 0) {
        zip_source_seek(src, 0, SEEK_END);
        zip_int64_t len = zip_source_tell(src);
        zip_source_seek(src, 0, SEEK_SET);
        out = len > 0 ? malloc((size_t)len) : NULL;
        if (out && zip_source_read(src, out, (zip_uint64_t)len) == len) *out_len = (size_t)len;
        else free(out), out = NULL;
        zip_source_close(src);
    }
    zip_source_free(src);
done:
    for (int i = 0; i < w.n; i++) free(w.bufs[i]);
    zip_error_fini(&ze);
    return out;
}

static void check(const uint8_t *data, size_t size) {
    rk_pytorch *pt = NULL;
    rk_err err;
    rk_err_clear(&err);
    int rc = rk_pytorch_open_buffer(&pt, data, size, "fuzz.pt", &err);
    if (rc) {
        if (pt != NULL || err.code != rc || err.msg[0] == 0) __builtin_trap();
        return;
    }
    uint64_t budget = (uint64_t)4 << 20;
    for (size_t i = 0; i < rk_pytorch_count(pt); i++) {
        const rk_pt_tensor *t = rk_pytorch_tensor(pt, i);
        if (rk_pytorch_find(pt, t->name) != t) __builtin_trap();
        if (t->nbytes > budget) continue;   /* e.g. stride-0 views of a tiny storage can be huge */
        budget -= t->nbytes;
        uint8_t *buf = malloc(t->nbytes ? t->nbytes : 1);
        if (!buf) break;
        rc = rk_pytorch_read(pt, i, buf, t->nbytes, &err);
        if (rc && (err.code != rc || err.msg[0] == 0)) __builtin_trap();
        free(buf);
    }
    rk_pytorch_close(pt);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size >= 2 && data[0] == 'P' && data[1] == 'K') {
        check(data, size);
        return 0;
    }
    size_t zlen = 0;
    uint8_t *z = wrap_pickle(data, size, &zlen);
    if (z) check(z, zlen);
    free(z);
    return 0;
}
