/* convert/convert_gguf.c — a GGUF file as the converter's input (quantize mode only, convert.h): the file is
 * already in llama.cpp's layout, so the plan is one COPY item per tensor in file order (names and shapes kept)
 * and the KVs are copied, except those that describe the old encoding (general.file_type,
 * general.quantization_version, general.alignment, quantize.imatrix.*, r1kit.quantize.*), which the new
 * file writes itself. */
#define _GNU_SOURCE
#include "convert/convert-impl.h"

#include <stdlib.h>
#include <string.h>

int rk_cv_build_plan_gguf(rk_cv_plan *p, rk_ckpt *ck, rk_err *err) {
    memset(p, 0, sizeof *p);
    const size_t n = rk_ckpt_count(ck);
    if (!(p->items = calloc(n ? n : 1, sizeof *p->items))) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
    p->cap = n ? n : 1;
    for (size_t i = 0; i < n; i++) {
        const rk_ckpt_tensor *t = rk_ckpt_tensor_at(ck, i);
        rk_cv_item *it = &p->items[p->n++];
        if (t->n_dims < 1 || t->n_dims > 4 || strlen(t->name) > 63) {
            rk_cv_plan_free(p);
            return rk_err_file(err, RK_EUNSUPPORTED, rk_ckpt_path(ck), UINT64_MAX, "tensor '%s' has %d dims or a name over 63 bytes",
                               t->name, t->n_dims);
        }
        snprintf(it->name, sizeof it->name, "%s", t->name);
        it->kind = RK_CV_COPY;
        it->type = t->dtype;
        it->src_dtype = t->dtype;
        it->src = (int64_t)i;
        it->n_dims = (uint32_t)t->n_dims;
        for (int d = 0; d < t->n_dims; d++) it->ne[d] = t->shape[t->n_dims - 1 - d];
        it->order_seq = i;
    }
    return 0;
}

/* "blk.N.ffn_gate_exps.weight" → 0 (gate), 1 (up), 2 (down) with *layer; -1 for any other name */
static int exps_proj(const char *name, long long *layer) {
    static const char *const k[3] = { "gate", "up", "down" };
    char proj[8];
    int used = 0;
    if (sscanf(name, "blk.%lld.ffn_%4[a-z]_exps.weight%n", layer, proj, &used) != 2 || used <= 0 || name[used]) return -1;
    for (int i = 0; i < 3; i++)
        if (!strcmp(proj, k[i])) return i;
    return -1;
}

int rk_cv_split_experts(rk_cv_plan *p, rk_err *err) {
    static const char *const k[3] = { "gate", "up", "down" };
    size_t extra = 0;
    long long il;
    for (size_t i = 0; i < p->n; i++) {
        const rk_cv_item *it = &p->items[i];
        int pr = exps_proj(it->name, &il);
        if (pr < 0 || (it->kind != RK_CV_STACK && !(it->kind == RK_CV_COPY && it->n_dims == 3))) continue;
        extra += (size_t)it->ne[2] - 1;
    }
    if (!extra) return 0;
    rk_cv_item *out = calloc(p->n + extra, sizeof *out);
    if (!out) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
    size_t n = 0;
    for (size_t i = 0; i < p->n; i++) {
        rk_cv_item *it = &p->items[i];
        int pr = exps_proj(it->name, &il);
        if (pr < 0 || (it->kind != RK_CV_STACK && !(it->kind == RK_CV_COPY && it->n_dims == 3))) {
            out[n++] = *it;
            it->srcs = NULL;
            continue;
        }
        for (int64_t e = 0; e < it->ne[2]; e++) {
            rk_cv_item *o = &out[n++];
            *o = *it;
            o->srcs = NULL, o->n_srcs = 0;
            snprintf(o->name, sizeof o->name, "blk.%lld.ffn_%s.%lld.weight", il, k[pr], (long long)e);
            o->n_dims = 2, o->ne[2] = 1;
            if (it->kind == RK_CV_STACK) o->kind = RK_CV_COPY, o->src = it->srcs[e];
            else o->kind = RK_CV_SLICE, o->slice = e;
        }
        free(it->srcs);
        it->srcs = NULL;
    }
    free(p->items);
    p->items = out;
    p->n = p->cap = n;
    return 0;
}

static int skip_key(const rk_gguf_str *k) {
    static const char *const exact[] = { "general.file_type", "general.quantization_version", "general.alignment" };
    static const char *const prefix[] = { "quantize.imatrix.", "r1kit.quantize." };
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
        if (k->len == strlen(exact[i]) && !memcmp(k->ptr, exact[i], k->len)) return 1;
    for (size_t i = 0; i < sizeof prefix / sizeof prefix[0]; i++)
        if (k->len >= strlen(prefix[i]) && !memcmp(k->ptr, prefix[i], strlen(prefix[i]))) return 1;
    return 0;
}

int rk_cv_copy_kv(rk_gguf_writer *w, const rk_gguf *g, uint32_t file_type, rk_err *err) {
    const uint64_t n = rk_gguf_kv_count(g);
    for (uint64_t i = 0; i < n; i++) {
        const rk_gguf_kv *kv = rk_gguf_kv_at(g, i);
        if (skip_key(&kv->key)) continue;
        int rc = rk_gguf_set_kv(w, kv);
        if (rc)
            return rk_err_set(err, rc, UINT64_MAX, "cannot copy GGUF key '%.*s' (%s)", (int)(kv->key.len > 200 ? 200 : kv->key.len),
                              kv->key.ptr, rk_err_code_name(rc));
    }
    int rc = rk_gguf_set_u32(w, "general.file_type", file_type);
    if (!rc) rc = rk_gguf_set_u32(w, "general.quantization_version", 2);
    return rc ? rk_err_set(err, rc, UINT64_MAX, "cannot set general.file_type (%s)", rk_err_code_name(rc)) : 0;
}
