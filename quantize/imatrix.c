/* quantize/imatrix.c — see imatrix.h. Collection keeps double sums (llama.cpp keeps float; its file is F32, and
 * so is ours); the observer finds its entry through a small hash keyed by the name pointer the model passes
 * (stable for the model's life), so the name mapping runs once per weight. Format facts from llama.cpp's
 * tools/imatrix/imatrix.cpp (save_imatrix, save_imatrix_legacy) and common/imatrix-loader.cpp. */
#define _GNU_SOURCE
#include "quantize/imatrix.h"
#include "quantize/recipe.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert/convert.h"
#include "formats/gguf.h"

#define IMX_NAME 64

typedef struct imx_entry {
    char name[IMX_NAME];
    int64_t cols, n_mat;
    double *sum2;      /* [n_mat][cols] */
    double *count;     /* [n_mat] */
} imx_entry;

typedef struct imx_route {
    int64_t layer, n_experts;
    uint64_t tokens;
    uint64_t *count;
    double *gate_sum;
} imx_route;

typedef struct imx_slot { const char *key; size_t idx; int64_t rep; } imx_slot;   /* key NULL = empty */

struct rk_imatrix {
    imx_entry *e;
    size_t n, cap;
    imx_route *r;
    size_t n_r;
    char **ds;
    size_t n_ds;
    uint32_t chunk_count, chunk_size;
    int legacy;
    const rk_hf_config *cfg;   /* of the attached model */
    imx_slot *slots;           /* name pointer → entry */
    size_t n_slots, used;
    double *tmp;
    size_t tmp_cap;
    rk_err err;                /* first collection error */
};

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

/* ---- life cycle ---- */
int rk_imatrix_new(rk_imatrix **out, rk_err *err) {
    *out = calloc(1, sizeof **out);
    if (!*out) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
    rk_err_clear(&(*out)->err);
    return 0;
}

static void free_routes(rk_imatrix *im) {
    for (size_t i = 0; i < im->n_r; i++) free(im->r[i].count), free(im->r[i].gate_sum);
    free(im->r);
    im->r = NULL, im->n_r = 0;
}

void rk_imatrix_free(rk_imatrix *im) {
    if (!im) return;
    for (size_t i = 0; i < im->n; i++) free(im->e[i].sum2), free(im->e[i].count);
    free(im->e);
    free_routes(im);
    for (size_t i = 0; i < im->n_ds; i++) free(im->ds[i]);
    free(im->ds);
    free(im->slots);
    free(im->tmp);
    free(im);
}

int rk_imatrix_status(const rk_imatrix *im, rk_err *err) {
    if (!im->err.code) return 0;
    if (err) *err = im->err;
    return im->err.code;
}

/* ---- entries ---- */
static imx_entry *find_entry(const rk_imatrix *im, const char *name, size_t *idx) {
    for (size_t i = 0; i < im->n; i++)
        if (!strcmp(im->e[i].name, name)) {
            if (idx) *idx = i;
            return &im->e[i];
        }
    return NULL;
}

static int new_entry(rk_imatrix *im, const char *name, int64_t cols, int64_t n_mat, size_t *idx, rk_err *err) {
    if (strlen(name) >= IMX_NAME) return rk_err_set(err, RK_EINVAL, UINT64_MAX, "tensor name '%s' is too long", name);
    if (cols <= 0 || n_mat <= 0 || cols > ((int64_t)1 << 40) / n_mat)
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "'%s': bad size %lld x %lld", name, (long long)cols, (long long)n_mat);
    if (im->n == im->cap) {
        size_t nc = im->cap ? im->cap * 2 : 64;
        imx_entry *e = realloc(im->e, nc * sizeof *e);
        if (!e) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
        im->e = e, im->cap = nc;
    }
    imx_entry *e = &im->e[im->n];
    memset(e, 0, sizeof *e);
    snprintf(e->name, sizeof e->name, "%s", name);
    e->cols = cols, e->n_mat = n_mat;
    e->sum2 = calloc((size_t)(cols * n_mat), sizeof *e->sum2);
    e->count = calloc((size_t)n_mat, sizeof *e->count);
    if (!e->sum2 || !e->count) {
        free(e->sum2), free(e->count);
        return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
    }
    *idx = im->n++;
    return 0;
}

/* ---- collection ---- */
/* observed name → (GGUF name, matrices, repeat): HF names through convert's mapping, GGUF names kept */
static int resolve(rk_imatrix *im, const char *name, int64_t expert, int64_t cols, size_t *idx, int64_t *rep) {
    const rk_hf_config *c = im->cfg;
    rk_err *err = &im->err;
    char gname[IMX_NAME];
    int64_t n_mat = 1;
    *rep = 1;
    if (!strncmp(name, "model.", 6) || !strncmp(name, "lm_head.", 8)) {
        rk_gguf_map g;
        int rc = rk_convert_gguf_name(c, name, &g, err);
        if (rc) return rc;
        switch (g.kind) {
        case RK_GGUF_MAP_ONE: snprintf(gname, sizeof gname, "%s", g.name); break;
        case RK_GGUF_MAP_EXPERT:
            if (g.expert != expert)
                return rk_err_set(err, RK_EINVAL, UINT64_MAX, "'%s' was observed as expert %lld", name, (long long)expert);
            snprintf(gname, sizeof gname, "%s", g.name);
            break;
        case RK_GGUF_MAP_KV_B: snprintf(gname, sizeof gname, "%s", g.name2); break;   /* see imatrix.h */
        default: return rk_err_set(err, RK_EINVAL, UINT64_MAX, "'%s' has no GGUF tensor", name);
        }
    } else {
        snprintf(gname, sizeof gname, "%s", name);
    }
    if (expert >= 0) {
        n_mat = c->n_routed_experts;
        if (expert >= n_mat)
            return rk_err_set(err, RK_EINVAL, UINT64_MAX, "'%s': expert %lld of %lld", name, (long long)expert, (long long)n_mat);
    }
    if (ends_with(gname, ".attn_v_b.weight")) *rep = c->num_attention_heads > 0 ? c->num_attention_heads : 1;
    imx_entry *e = find_entry(im, gname, idx);
    if (!e) return new_entry(im, gname, cols * *rep, n_mat, idx, err);
    if (e->cols != cols * *rep || e->n_mat != n_mat)
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "'%s' observed with %lld columns x %lld matrices, before %lld x %lld", gname,
                          (long long)(cols * *rep), (long long)n_mat, (long long)e->cols, (long long)e->n_mat);
    return 0;
}

static size_t ptr_hash(const char *p, size_t n) { return (size_t)(((uintptr_t)p >> 3) * 0x9E3779B97F4A7C15ull) & (n - 1); }

static imx_slot *slot_find(rk_imatrix *im, const char *key) {
    if (!im->n_slots) return NULL;
    for (size_t h = ptr_hash(key, im->n_slots);; h = (h + 1) & (im->n_slots - 1)) {
        if (im->slots[h].key == key) return &im->slots[h];
        if (!im->slots[h].key) return NULL;
    }
}

static int slot_add(rk_imatrix *im, const char *key, size_t idx, int64_t rep) {
    if (2 * (im->used + 1) > im->n_slots) {
        size_t nn = im->n_slots ? im->n_slots * 2 : 256;
        imx_slot *s = calloc(nn, sizeof *s), *old = im->slots;
        if (!s) return -1;
        size_t on = im->n_slots;
        im->slots = s, im->n_slots = nn;
        for (size_t i = 0; i < on; i++)
            if (old[i].key) {
                size_t h = ptr_hash(old[i].key, nn);
                while (s[h].key) h = (h + 1) & (nn - 1);
                s[h] = old[i];
            }
        free(old);
    }
    size_t h = ptr_hash(key, im->n_slots);
    while (im->slots[h].key) h = (h + 1) & (im->n_slots - 1);
    im->slots[h] = (imx_slot){ key, idx, rep };
    im->used++;
    return 0;
}

static void observe(void *ctx, const char *name, int64_t layer, int64_t expert, const float *x, int64_t n, int64_t cols) {
    (void)layer;
    rk_imatrix *im = ctx;
    if (im->err.code || n <= 0 || cols <= 0) return;
    imx_slot *s = slot_find(im, name);
    size_t idx;
    int64_t rep;
    if (s) {
        idx = s->idx, rep = s->rep;
    } else {
        if (resolve(im, name, expert, cols, &idx, &rep)) return;
        if (slot_add(im, name, idx, rep)) { rk_err_set(&im->err, RK_ENOMEM, UINT64_MAX, "out of memory"); return; }
    }
    imx_entry *e = &im->e[idx];
    const int64_t mat = e->n_mat > 1 ? expert : 0;
    if (mat < 0 || mat >= e->n_mat || cols * rep != e->cols) {
        rk_err_set(&im->err, RK_EINVAL, UINT64_MAX, "'%s' observed as expert %lld with %lld columns; its entry has %lld x %lld",
                   name, (long long)expert, (long long)cols, (long long)e->n_mat, (long long)e->cols);
        return;
    }
    if ((size_t)cols > im->tmp_cap) {
        double *t = realloc(im->tmp, (size_t)cols * sizeof *t);
        if (!t) { rk_err_set(&im->err, RK_ENOMEM, UINT64_MAX, "out of memory"); return; }
        im->tmp = t, im->tmp_cap = (size_t)cols;
    }
    double *t = im->tmp;
    memset(t, 0, (size_t)cols * sizeof *t);
    for (int64_t r = 0; r < n; r++) {
        const float *row = x + r * cols;
        for (int64_t j = 0; j < cols; j++) t[j] += (double)row[j] * (double)row[j];
    }
    for (int64_t j = 0; j < cols; j++)
        if (!isfinite(t[j])) {
            rk_err_set(&im->err, RK_ECORRUPT, UINT64_MAX, "non-finite activation in the input of '%s' (column %lld)", e->name,
                       (long long)j);
            return;
        }
    double *acc = e->sum2 + mat * e->cols;
    for (int64_t k = 0; k < rep; k++)
        for (int64_t j = 0; j < cols; j++) acc[k * cols + j] += t[j];
    e->count[mat] += (double)n;
}

void rk_imatrix_attach(rk_imatrix *im, rk_model *m) {
    im->cfg = rk_model_config(m);
    im->used = 0;
    if (im->slots) memset(im->slots, 0, im->n_slots * sizeof *im->slots);   /* pointers of another model */
    rk_model_set_observer(m, observe, im);
}

void rk_imatrix_detach(rk_imatrix *im, rk_model *m) {
    rk_model_set_observer(m, NULL, NULL);
    im->cfg = NULL;
}

int rk_imatrix_take_routing(rk_imatrix *im, const rk_model *m, rk_err *err) {
    free_routes(im);
    size_t n = 0;
    for (int64_t il = 0; il < rk_model_layers(m); il++) {
        rk_routing rt;
        if (!rk_model_routing(m, il, &rt)) n++;
    }
    if (!n) return 0;
    if (!(im->r = calloc(n, sizeof *im->r))) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
    for (int64_t il = 0; il < rk_model_layers(m); il++) {
        rk_routing rt;
        if (rk_model_routing(m, il, &rt)) continue;
        imx_route *r = &im->r[im->n_r++];
        r->layer = il, r->n_experts = rt.n_experts, r->tokens = rt.tokens;
        r->count = malloc((size_t)rt.n_experts * sizeof *r->count);
        r->gate_sum = malloc((size_t)rt.n_experts * sizeof *r->gate_sum);
        if (!r->count || !r->gate_sum) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
        memcpy(r->count, rt.count, (size_t)rt.n_experts * sizeof *r->count);
        memcpy(r->gate_sum, rt.weight_sum, (size_t)rt.n_experts * sizeof *r->gate_sum);
    }
    return 0;
}

int rk_imatrix_add_dataset(rk_imatrix *im, const char *name, rk_err *err) {
    char **d = realloc(im->ds, (im->n_ds + 1) * sizeof *d);
    if (!d) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
    im->ds = d;
    if (!(d[im->n_ds] = rk_strdup(name))) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
    im->n_ds++;
    return 0;
}

void rk_imatrix_set_chunks(rk_imatrix *im, uint32_t chunk_count, uint32_t chunk_size) {
    im->chunk_count = chunk_count, im->chunk_size = chunk_size;
}

/* ---- queries ---- */
size_t rk_imatrix_count(const rk_imatrix *im) { return im->n; }

static void fill_entry(const imx_entry *e, rk_imatrix_entry *out) {
    out->name = e->name, out->cols = e->cols, out->n_mat = e->n_mat, out->sum2 = e->sum2, out->count = e->count;
}

int rk_imatrix_entry_at(const rk_imatrix *im, size_t i, rk_imatrix_entry *out) {
    if (i >= im->n) return RK_ENOTFOUND;
    fill_entry(&im->e[i], out);
    return 0;
}

int rk_imatrix_find(const rk_imatrix *im, const char *name, rk_imatrix_entry *out) {
    const imx_entry *e = find_entry(im, name, NULL);
    if (!e) return RK_ENOTFOUND;
    fill_entry(e, out);
    return 0;
}

int rk_imatrix_importance(const rk_imatrix *im, const char *name, int64_t mat, float *out, int64_t cols, int *how,
                          rk_err *err) {
    const imx_entry *e = find_entry(im, name, NULL);
    if (!e) return rk_err_set(err, RK_ENOTFOUND, UINT64_MAX, "the imatrix has no entry for '%s'", name);
    const int64_t total = e->cols * e->n_mat;
    if (cols <= 0 || total % cols)
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "imatrix entry '%s' holds %lld values, not a multiple of %lld columns", name,
                          (long long)total, (long long)cols);
    const int64_t k = total / cols;
    if (k != e->n_mat && e->n_mat != 1)
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "imatrix entry '%s' has %lld matrices of %lld columns, asked for %lld columns",
                          name, (long long)e->n_mat, (long long)e->cols, (long long)cols);
    if (mat < 0 || mat >= k)
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "imatrix entry '%s' has %lld matrices; asked for matrix %lld", name,
                          (long long)k, (long long)mat);
#define CNT(m) (e->n_mat == k ? e->count[(m)] : e->count[0])
    int h = RK_IMATRIX_MEASURED;
    if (CNT(mat) > 0) {
        for (int64_t j = 0; j < cols; j++) out[j] = (float)(e->sum2[mat * cols + j] / CNT(mat));
    } else {
        int64_t fired = 0;
        for (int64_t j = 0; j < cols; j++) out[j] = 0;
        for (int64_t m = 0; m < k; m++) {
            if (!(CNT(m) > 0)) continue;
            fired++;
            for (int64_t j = 0; j < cols; j++) out[j] += (float)(e->sum2[m * cols + j] / CNT(m));
        }
        h = fired ? RK_IMATRIX_FROM_OTHERS : RK_IMATRIX_UNIFORM;
        for (int64_t j = 0; j < cols; j++) out[j] = fired ? out[j] / (float)fired : 1.0f;
    }
#undef CNT
    for (int64_t j = 0; j < cols; j++)
        if (!isfinite(out[j])) out[j] = 1.0f;   /* cannot happen with validated data; never hand out NaN */
    if (how) *how = h;
    return 0;
}

size_t rk_imatrix_routing_count(const rk_imatrix *im) { return im->n_r; }

int rk_imatrix_routing_at(const rk_imatrix *im, size_t i, rk_imatrix_routing *out) {
    if (i >= im->n_r) return RK_ENOTFOUND;
    const imx_route *r = &im->r[i];
    out->layer = r->layer, out->n_experts = r->n_experts, out->tokens = r->tokens;
    out->count = r->count, out->gate_sum = r->gate_sum;
    return 0;
}

const char *rk_imatrix_dataset(const rk_imatrix *im, size_t i) { return i < im->n_ds ? im->ds[i] : NULL; }
uint32_t rk_imatrix_chunk_count(const rk_imatrix *im) { return im->chunk_count; }
uint32_t rk_imatrix_chunk_size(const rk_imatrix *im) { return im->chunk_size; }
int rk_imatrix_is_legacy(const rk_imatrix *im) { return im->legacy; }

/* ---- save ---- */
static int cmp_entry(const void *a, const void *b) { return strcmp(((const imx_entry *)a)->name, ((const imx_entry *)b)->name); }

static int cmp_name(const void *a, const void *b) {
    return strcmp((*(const imx_entry *const *)a)->name, (*(const imx_entry *const *)b)->name);
}

static int put_routing(rk_gguf_writer *w, const rk_imatrix *im) {
    if (!im->n_r) return 0;
    uint32_t *layers = malloc(im->n_r * sizeof *layers);
    if (!layers) return RK_ENOMEM;
    for (size_t i = 0; i < im->n_r; i++) layers[i] = (uint32_t)im->r[i].layer;
    rk_gguf_set_arr(w, "r1kit.imatrix.moe_layers", RK_GGUF_U32, layers, im->n_r);
    free(layers);
    for (size_t i = 0; i < im->n_r; i++) {
        const imx_route *r = &im->r[i];
        char k[96];
        snprintf(k, sizeof k, "r1kit.imatrix.blk.%lld.tokens", (long long)r->layer);
        rk_gguf_set_u64(w, k, r->tokens);
        snprintf(k, sizeof k, "r1kit.imatrix.blk.%lld.expert_count", (long long)r->layer);
        rk_gguf_set_arr(w, k, RK_GGUF_U64, r->count, (size_t)r->n_experts);
        snprintf(k, sizeof k, "r1kit.imatrix.blk.%lld.gate_sum", (long long)r->layer);
        rk_gguf_set_arr(w, k, RK_GGUF_F64, r->gate_sum, (size_t)r->n_experts);
    }
    return 0;
}

int rk_imatrix_save(const rk_imatrix *im, const char *path, rk_err *err) {
    if (!im->n) return rk_err_set(err, RK_EINVAL, UINT64_MAX, "%s: the importance matrix is empty (nothing was observed)", path);
    rk_gguf_writer *w = NULL;
    const imx_entry **order = malloc(im->n * sizeof *order);
    float *buf = NULL;
    size_t buf_cap = 0;
    int rc = 0;
    if (!order) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
    for (size_t i = 0; i < im->n; i++) order[i] = &im->e[i];
    qsort(order, im->n, sizeof *order, cmp_name);
    if ((rc = rk_gguf_writer_init(&w, err))) goto done;
    rk_gguf_set_str(w, "general.type", "imatrix");
    rk_gguf_set_arr_str(w, "imatrix.datasets", (const char *const *)im->ds, im->n_ds);
    rk_gguf_set_u32(w, "imatrix.chunk_count", im->chunk_count);
    rk_gguf_set_u32(w, "imatrix.chunk_size", im->chunk_size);
    if ((rc = put_routing(w, im))) { rc = rk_err_set(err, rc, UINT64_MAX, "out of memory"); goto done; }
    for (size_t i = 0; i < im->n && !rc; i++) {
        const imx_entry *e = order[i];
        char nm[96];
        if (strlen(e->name) + sizeof ".in_sum2" > 64) {
            rc = rk_err_set(err, RK_EINVAL, UINT64_MAX, "%s: tensor name '%s.in_sum2' is longer than ggml's 63 bytes", path, e->name);
            break;
        }
        int64_t ne_s[2] = { e->cols, e->n_mat }, ne_c[2] = { 1, e->n_mat };
        snprintf(nm, sizeof nm, "%s.in_sum2", e->name);
        if ((rc = rk_gguf_writer_add_tensor(w, nm, RK_DTYPE_F32, 2, ne_s, err))) break;
        snprintf(nm, sizeof nm, "%s.counts", e->name);
        rc = rk_gguf_writer_add_tensor(w, nm, RK_DTYPE_F32, 2, ne_c, err);
    }
    if (rc || (rc = rk_gguf_writer_begin(w, path, 0, err))) goto done;
    for (size_t i = 0; i < im->n && !rc; i++) {
        const imx_entry *e = order[i];
        size_t nv = (size_t)(e->cols * e->n_mat);
        if (nv > buf_cap) {
            float *b = realloc(buf, nv * sizeof *b);
            if (!b) { rc = rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory"); break; }
            buf = b, buf_cap = nv;
        }
        for (size_t j = 0; j < nv; j++) buf[j] = (float)e->sum2[j];
        if ((rc = rk_gguf_writer_write(w, buf, nv * sizeof *buf, err))) break;
        for (int64_t j = 0; j < e->n_mat; j++) buf[j] = (float)e->count[j];
        rc = rk_gguf_writer_write(w, buf, (size_t)e->n_mat * sizeof *buf, err);
    }
    if (!rc) rc = rk_gguf_writer_finish(w, err);
done:
    rk_gguf_writer_free(w);
    free(order);
    free(buf);
    return rc;
}

/* ---- load: GGUF ---- */
static int dup_str(char **out, const char *p, uint64_t len) {
    if (!(*out = malloc((size_t)len + 1))) return -1;
    memcpy(*out, p, (size_t)len);
    (*out)[len] = 0;
    return 0;
}

static uint64_t tensor_numel(const rk_gguf_tensor *t) { return (uint64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]); }

static int load_meta(rk_imatrix *im, const rk_gguf *g, const char *path, rk_err *err) {
    rk_gguf_str s;
    if (!rk_gguf_get_str(g, "general.type", &s) && !(s.len == 7 && !memcmp(s.ptr, "imatrix", 7)))
        return rk_err_file(err, RK_ECORRUPT, path, UINT64_MAX, "general.type is '%.*s', not 'imatrix' (is this a model?)",
                           (int)(s.len > 64 ? 64 : s.len), s.ptr);
    const rk_gguf_kv *kv = rk_gguf_find_kv(g, "imatrix.datasets");
    if (kv) {
        if (kv->val.type != RK_GGUF_ARRAY || kv->val.v.arr.type != RK_GGUF_STRING)
            return rk_err_file(err, RK_ECORRUPT, path, UINT64_MAX, "imatrix.datasets is not an array of strings");
        for (uint64_t i = 0; i < kv->val.v.arr.n; i++) {
            const rk_gguf_str *d = &kv->val.v.arr.items[i].v.s;
            char *c;
            if (dup_str(&c, d->ptr, d->len)) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
            int rc = rk_imatrix_add_dataset(im, c, err);
            free(c);
            if (rc) return rc;
        }
    }
    static const char *const keys[2] = { "imatrix.chunk_count", "imatrix.chunk_size" };
    for (int k = 0; k < 2; k++) {
        uint64_t v = 0;
        int rc = rk_gguf_get_u64(g, keys[k], &v);
        if (rc == RK_ENOTFOUND) continue;
        if (rc || v > UINT32_MAX) return rk_err_file(err, RK_ECORRUPT, path, UINT64_MAX, "%s is not an unsigned 32-bit integer", keys[k]);
        if (k) im->chunk_size = (uint32_t)v;
        else im->chunk_count = (uint32_t)v;
    }
    return 0;
}

static int load_routing(rk_imatrix *im, const rk_gguf *g, const char *path, rk_err *err) {
    const rk_gguf_kv *kv = rk_gguf_find_kv(g, "r1kit.imatrix.moe_layers");
    if (!kv) return 0;
    if (kv->val.type != RK_GGUF_ARRAY || kv->val.v.arr.type != RK_GGUF_U32 || kv->val.v.arr.n > 1u << 20)
        return rk_err_file(err, RK_ECORRUPT, path, UINT64_MAX, "r1kit.imatrix.moe_layers is not an array of U32");
    const uint64_t n = kv->val.v.arr.n;
    if (n && !(im->r = calloc((size_t)n, sizeof *im->r))) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
    for (uint64_t i = 0; i < n; i++) {
        rk_gguf_value lv;
        uint64_t layer;
        rk_gguf_arr_at(&kv->val, i, &lv);
        rk_gguf_value_u64(&lv, &layer);
        imx_route *r = &im->r[im->n_r++];
        r->layer = (int64_t)layer;
        char k[96];
        snprintf(k, sizeof k, "r1kit.imatrix.blk.%llu.tokens", (unsigned long long)layer);
        if (rk_gguf_get_u64(g, k, &r->tokens)) return rk_err_file(err, RK_ECORRUPT, path, UINT64_MAX, "%s is missing or not an integer", k);
        snprintf(k, sizeof k, "r1kit.imatrix.blk.%llu.expert_count", (unsigned long long)layer);
        const rk_gguf_kv *c = rk_gguf_find_kv(g, k);
        snprintf(k, sizeof k, "r1kit.imatrix.blk.%llu.gate_sum", (unsigned long long)layer);
        const rk_gguf_kv *s = rk_gguf_find_kv(g, k);
        if (!c || !s || c->val.type != RK_GGUF_ARRAY || s->val.type != RK_GGUF_ARRAY || c->val.v.arr.type != RK_GGUF_U64 ||
            s->val.v.arr.type != RK_GGUF_F64 || c->val.v.arr.n != s->val.v.arr.n || c->val.v.arr.n == 0)
            return rk_err_file(err, RK_ECORRUPT, path, UINT64_MAX,
                               "layer %llu: r1kit.imatrix expert_count (U64) and gate_sum (F64) arrays are missing or differ",
                               (unsigned long long)layer);
        r->n_experts = (int64_t)c->val.v.arr.n;
        r->count = malloc((size_t)r->n_experts * sizeof *r->count);
        r->gate_sum = malloc((size_t)r->n_experts * sizeof *r->gate_sum);
        if (!r->count || !r->gate_sum) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
        memcpy(r->count, c->val.v.arr.raw, (size_t)r->n_experts * sizeof *r->count);
        memcpy(r->gate_sum, s->val.v.arr.raw, (size_t)r->n_experts * sizeof *r->gate_sum);
    }
    return 0;
}

static int load_entry(rk_imatrix *im, const rk_gguf *g, const rk_gguf_tensor *ts, const char *path, rk_err *err) {
    char base[IMX_NAME], cn[80];
    size_t bl = strlen(ts->name_z) - strlen(".in_sum2");
    if (bl == 0 || bl >= IMX_NAME) return rk_err_file(err, RK_ECORRUPT, path, UINT64_MAX, "bad tensor name '%s'", ts->name_z);
    memcpy(base, ts->name_z, bl);
    base[bl] = 0;
    snprintf(cn, sizeof cn, "%s.counts", base);
    const rk_gguf_tensor *tc = rk_gguf_find_tensor(g, cn);
    const uint64_t off = rk_gguf_data_offset(g) + ts->offset;
    if (!tc) return rk_err_file(err, RK_ECORRUPT, path, off, "'%s' has no '%s' tensor", ts->name_z, cn);
    if (ts->type != RK_DTYPE_F32 || tc->type != RK_DTYPE_F32)
        return rk_err_file(err, RK_ECORRUPT, path, off, "'%s' and '%s' must be F32 (are %s, %s)", ts->name_z, cn, rk_dtype_name(ts->type),
                           rk_dtype_name(tc->type));
    const uint64_t nv = tensor_numel(ts), nm = tensor_numel(tc);
    if (nm == 0 || nv == 0 || nv % nm || nv > (1ull << 40))
        return rk_err_file(err, RK_ECORRUPT, path, off, "'%s' has %llu values for %llu counts (must be a non-zero multiple)",
                           ts->name_z, (unsigned long long)nv, (unsigned long long)nm);
    if (find_entry(im, base, NULL)) return rk_err_file(err, RK_ECORRUPT, path, off, "'%s' appears twice", ts->name_z);
    size_t idx;
    int rc = new_entry(im, base, (int64_t)(nv / nm), (int64_t)nm, &idx, err);
    if (rc) return rc;
    imx_entry *e = &im->e[idx];
    for (uint64_t j = 0; j < nv; j++) {
        float v;
        memcpy(&v, ts->data + 4 * j, 4);
        if (!isfinite(v) || v < 0)
            return rk_err_file(err, RK_ECORRUPT, path, off + 4 * j, "'%s'[%llu] = %g (sums of squares are finite and >= 0)",
                               ts->name_z, (unsigned long long)j, (double)v);
        e->sum2[j] = v;
    }
    for (uint64_t j = 0; j < nm; j++) {
        float v;
        memcpy(&v, tc->data + 4 * j, 4);
        if (!isfinite(v) || v < 0)
            return rk_err_file(err, RK_ECORRUPT, path, rk_gguf_data_offset(g) + tc->offset + 4 * j,
                               "'%s'[%llu] = %g (counts are finite and >= 0)", cn, (unsigned long long)j, (double)v);
        e->count[j] = v;
    }
    return 0;
}

static int load_gguf(rk_imatrix *im, const char *path, rk_err *err) {
    rk_gguf *g = NULL;
    int rc = rk_gguf_open(&g, path, err);
    if (rc) return rc;
    if ((rc = load_meta(im, g, path, err)) || (rc = load_routing(im, g, path, err))) goto done;
    for (uint64_t i = 0; i < rk_gguf_tensor_count(g) && !rc; i++) {
        const rk_gguf_tensor *t = rk_gguf_tensor_at(g, i);
        if (ends_with(t->name_z, ".in_sum2")) {
            rc = load_entry(im, g, t, path, err);
        } else if (ends_with(t->name_z, ".counts")) {
            char sn[80];
            snprintf(sn, sizeof sn, "%.*s.in_sum2", (int)(strlen(t->name_z) - strlen(".counts")), t->name_z);
            if (!rk_gguf_find_tensor(g, sn))
                rc = rk_err_file(err, RK_ECORRUPT, path, rk_gguf_data_offset(g) + t->offset, "'%s' has no '%s' tensor", t->name_z, sn);
        }
    }
    if (!rc && !im->n) rc = rk_err_file(err, RK_ECORRUPT, path, UINT64_MAX, "no importance data (no '<name>.in_sum2' tensors)");
done:
    rk_gguf_close(g);
    return rc;
}

/* ---- load: llama.cpp's legacy .dat ----
 * i32 n_entries; per entry: i32 len, name[len], i32 ncall, i32 nval, f32 value[nval] (= mean x² × ncall);
 * then optionally i32 chunk_count, i32 len, dataset[len]. Little-endian. */
typedef struct rd { const uint8_t *p; uint64_t n, off; const char *path; rk_err *err; } rd;

static int rd_i32(rd *r, int32_t *v, const char *what) {
    if (r->n - r->off < 4) return rk_err_file(r->err, RK_ECORRUPT, r->path, r->off, "truncated: no room for %s", what);
    memcpy(v, r->p + r->off, 4);
    r->off += 4;
    return 0;
}

static int load_dat(rk_imatrix *im, const char *path, rk_err *err) {
    rk_map m;
    int rc = rk_map_open(&m, path, err);
    if (rc) return rc;
    rd r = { m.data, m.size, 0, path, err };
    int32_t n_entries = 0;
    if ((rc = rd_i32(&r, &n_entries, "the entry count"))) goto done;
    if (n_entries < 1 || (uint64_t)n_entries > (m.size - 4) / 12) {
        rc = rk_err_file(err, RK_ECORRUPT, path, 0, "neither GGUF nor a legacy imatrix: entry count %d does not fit %llu bytes",
                         n_entries, (unsigned long long)m.size);
        goto done;
    }
    for (int32_t i = 0; i < n_entries && !rc; i++) {
        int32_t len = 0, ncall = 0, nval = 0;
        const uint64_t at = r.off;
        if ((rc = rd_i32(&r, &len, "a name length"))) break;
        if (len < 1 || len >= IMX_NAME || (uint64_t)len > r.n - r.off) {
            rc = rk_err_file(err, RK_ECORRUPT, path, at, "entry %d: name length %d (1..63 bytes that remain)", i, len);
            break;
        }
        char name[IMX_NAME];
        memcpy(name, r.p + r.off, (size_t)len);
        name[len] = 0;
        r.off += (uint64_t)len;
        if (strlen(name) != (size_t)len) { rc = rk_err_file(err, RK_ECORRUPT, path, at + 4, "entry %d: name holds a NUL byte", i); break; }
        if ((rc = rd_i32(&r, &ncall, "ncall")) || (rc = rd_i32(&r, &nval, "the value count"))) break;
        if (nval < 1 || (uint64_t)nval > (r.n - r.off) / 4) {
            rc = rk_err_file(err, RK_ECORRUPT, path, r.off - 4, "entry '%s': %d values do not fit the %llu bytes that remain", name, nval,
                             (unsigned long long)(r.n - r.off));
            break;
        }
        if (find_entry(im, name, NULL)) { rc = rk_err_file(err, RK_ECORRUPT, path, at, "entry '%s' appears twice", name); break; }
        size_t idx;
        if ((rc = new_entry(im, name, nval, 1, &idx, err))) break;
        imx_entry *e = &im->e[idx];
        for (int32_t j = 0; j < nval && !rc; j++) {
            float v;
            memcpy(&v, r.p + r.off + 4 * (uint64_t)j, 4);
            if (!isfinite(v) || v < 0) rc = rk_err_file(err, RK_ECORRUPT, path, r.off + 4 * (uint64_t)j, "entry '%s'[%d] = %g", name, j, (double)v);
            e->sum2[j] = v;
        }
        r.off += 4 * (uint64_t)nval;
        e->count[0] = ncall > 0 ? ncall : 1;   /* llama-quantize uses the values as they are when ncall <= 0 */
    }
    if (!rc && r.n - r.off >= 8) {   /* optional trailer: chunk count, dataset name */
        int32_t chunks, len;
        memcpy(&chunks, r.p + r.off, 4);
        memcpy(&len, r.p + r.off + 4, 4);
        r.off += 8;
        im->chunk_count = chunks > 0 ? (uint32_t)chunks : 0;
        if (len > 0 && (uint64_t)len <= r.n - r.off) {
            char *d;
            if (dup_str(&d, (const char *)r.p + r.off, (uint64_t)len)) rc = rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
            else rc = rk_imatrix_add_dataset(im, d, err), free(d);
        }
    }
    im->legacy = 1;
done:
    rk_map_close(&m);
    return rc;
}

int rk_imatrix_load(rk_imatrix **out, const char *path, rk_err *err) {
    *out = NULL;
    rk_imatrix *im;
    int rc = rk_imatrix_new(&im, err);
    if (rc) return rc;
    FILE *f = fopen(path, "rb");
    if (!f) {
        rk_imatrix_free(im);
        return rk_err_file(err, RK_EIO, path, UINT64_MAX, "cannot open: %s", strerror(errno));
    }
    char magic[4] = { 0 };
    size_t got = fread(magic, 1, 4, f);
    fclose(f);
    rc = got == 4 && !memcmp(magic, "GGUF", 4) ? load_gguf(im, path, err) : load_dat(im, path, err);
    if (rc) {
        rk_imatrix_free(im);
        return rc;
    }
    qsort(im->e, im->n, sizeof *im->e, cmp_entry);
    *out = im;
    return 0;
}

int rk_imatrix_tensor_importance(const rk_imatrix *im, const char *name, uint32_t n_dims, const int64_t *ne, float *out,
                                 int *found, rk_err *err) {
    *found = 0;
    const int64_t ne0 = ne[0];
    int64_t mats = 1;
    for (uint32_t d = 2; d < n_dims; d++) mats *= ne[d];
    rk_imatrix_entry e;
    char stacked[96];
    const char *ename = name;
    int64_t mat0 = 0, il, ex;
    int pr;
    static const char *const k[3] = { "gate", "up", "down" };
    if (rk_imatrix_find(im, name, &e)) {
        if (!rk_recipe_expert_of(name, &il, &pr, &ex) || ex < 0) return 0;
        snprintf(stacked, sizeof stacked, "blk.%lld.ffn_%s_exps.weight", (long long)il, k[pr]);
        if (rk_imatrix_find(im, stacked, &e)) return 0;
        if (e.cols != ne0 || ex >= e.n_mat || mats != 1)
            return rk_err_set(err, RK_ECORRUPT, UINT64_MAX,
                              "the imatrix does not fit tensor '%s': entry '%s' holds %lld x %lld values, the tensor is expert %lld "
                              "with rows of %lld (an imatrix of another model?)", name, stacked, (long long)e.n_mat,
                              (long long)e.cols, (long long)ex, (long long)ne0);
        ename = stacked, mat0 = ex;
    } else if (e.cols * e.n_mat != ne0 * mats) {   /* one value per input column of each matrix, nothing left over */
        return rk_err_set(err, RK_ECORRUPT, UINT64_MAX,
                          "the imatrix does not fit tensor '%s': its entry holds %lld x %lld values, the tensor needs %lld x %lld "
                          "(an imatrix of another model?)", name, (long long)e.n_mat, (long long)e.cols, (long long)mats,
                          (long long)ne0);
    }
    for (int64_t m = 0; m < mats; m++) {
        rk_err e2;
        if (rk_imatrix_importance(im, ename, mat0 + m, out + m * ne0, ne0, NULL, &e2))
            return rk_err_set(err, RK_ECORRUPT, UINT64_MAX, "the imatrix does not fit tensor '%s' (rows of %lld, %lld matrices): %s",
                              name, (long long)ne0, (long long)mats, e2.msg);
    }
    *found = 1;
    return 0;
}
