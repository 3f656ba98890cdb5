/* formats/pytorch-tensors.c — from the unpickled data.pkl tree (formats/pickle.h) to r1kit's tensor list.
 *
 * What torch.save writes for a tensor (torch/_tensor.py, torch/_utils.py, torch/serialization.py):
 *   _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
 *   _rebuild_tensor_v3(... same six ..., dtype[, metadata])   for dtypes without a legacy storage class
 *   _rebuild_parameter(tensor, requires_grad, hooks) / _rebuild_parameter_with_state(..., state)
 *   _rebuild_from_type_v2(func, type, args, state)             for tensors carrying Python attributes
 * where storage is a persistent id ('storage', torch.<X>Storage, key, location, numel) naming the zip entry
 * <prefix>data/<key>; numel counts elements for typed storage classes and bytes for UntypedStorage.
 *
 * Flattening: dict keys (str, or int printed in decimal) and list/tuple positions are joined with '.', so
 * {"model": {"w": t}, "step": 3} gives the tensor "model.w". Non-tensor leaves (numbers, strings, None, bare
 * storages) are skipped; callers who want them read the tree through rk_pytorch_pickle_root(). The BUILD
 * state of an OrderedDict (a state dict's _metadata) is not walked. Every geometry is checked here, before
 * any data is read: dims and strides non-negative, numel and the furthest element computed with overflow
 * checks, and the view must end inside its storage. */
#include "formats/pytorch-impl.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- string hash ------------------------------------------------------------------------------------ */
static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

size_t rk_pt_hash_find(const rk_pt_hash *h, const char *key, const char *(*key_of)(const void *, size_t),
                       const void *owner) {
    if (!h->cap) return SIZE_MAX;
    for (size_t j = hash_str(key) & (h->cap - 1);; j = (j + 1) & (h->cap - 1)) {
        if (!h->slot[j]) return SIZE_MAX;
        if (!strcmp(key_of(owner, h->slot[j] - 1), key)) return h->slot[j] - 1;
    }
}

static void hash_place(size_t *slot, size_t cap, size_t i, const char *key) {
    size_t j = hash_str(key) & (cap - 1);
    while (slot[j]) j = (j + 1) & (cap - 1);
    slot[j] = i + 1;
}

int rk_pt_hash_add(rk_pt_hash *h, size_t i, const char *(*key_of)(const void *, size_t), const void *owner) {
    if ((h->n + 1) * 2 > h->cap) {
        size_t nc = h->cap ? h->cap * 2 : 64;
        size_t *ns = calloc(nc, sizeof *ns);
        if (!ns) return RK_ENOMEM;
        for (size_t j = 0; j < h->cap; j++)
            if (h->slot[j]) hash_place(ns, nc, h->slot[j] - 1, key_of(owner, h->slot[j] - 1));
        free(h->slot);
        h->slot = ns;
        h->cap = nc;
    }
    hash_place(h->slot, h->cap, i, key_of(owner, i));
    h->n++;
    return 0;
}

void rk_pt_hash_free(rk_pt_hash *h) {
    free(h->slot);
    memset(h, 0, sizeof *h);
}

const char *rk_pt_tensor_key(const void *pt, size_t i) { return ((const rk_pytorch *)pt)->t[i].name; }
const char *rk_pt_storage_key(const void *pt, size_t i) { return ((const rk_pytorch *)pt)->st[i].key; }

/* ---- walking ---------------------------------------------------------------------------------------- */
typedef struct walker {
    rk_pytorch *pt;
    rk_err *err;
    char name[RK_PT_MAX_NAME];
    size_t len;
} walker;

static int bad(walker *w, int code, const rk_pk_value *at, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int bad(walker *w, int code, const rk_pk_value *at, const char *fmt, ...) {
    char what[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return rk_err_file(w->err, code, w->pt->path, at ? at->offset : UINT64_MAX, "%sdata.pkl: '%.100s': %s",
                       w->pt->prefix, w->name, what);
}

static int get_int(const rk_pk_value *v, int64_t *out) {
    if (!v || v->kind != RK_PK_INT) return -1;
    *out = v->u.i;
    return 0;
}

/* ('storage', <Storage class>, key, location, numel) → storage index. */
static int take_storage(walker *w, const rk_pk_value *sv, size_t *out) {
    rk_pytorch *pt = w->pt;
    if (!sv || sv->kind != RK_PK_PERSID) return bad(w, RK_ECORRUPT, sv, "tensor storage is not a persistent id");
    const rk_pk_value *pid = sv->u.persid.pid;
    if (pid->kind != RK_PK_TUPLE || pid->u.seq.n != 5 || !rk_pk_is_str(pid->u.seq.items[0], "storage"))
        return bad(w, RK_ECORRUPT, sv, "persistent id is not ('storage', type, key, location, numel)");
    const rk_pk_value *cls = pid->u.seq.items[1], *key = pid->u.seq.items[2], *loc = pid->u.seq.items[3];
    int64_t numel;
    if (cls->kind != RK_PK_GLOBAL || cls->u.global.id != RK_PKG_STORAGE)
        return bad(w, RK_ECORRUPT, sv, "persistent id names a %s, not a torch storage class", rk_pk_kind_name(cls->kind));
    if (key->kind != RK_PK_STR || loc->kind != RK_PK_STR || get_int(pid->u.seq.items[4], &numel) || numel < 0)
        return bad(w, RK_ECORRUPT, sv, "persistent id has a bad key, location or numel");
    if (cls->u.global.dtype == RK_DTYPE_INVALID)
        return bad(w, RK_EUNSUPPORTED, sv, "storage type torch.%s is not supported", cls->u.global.name);
    if (key->u.str.len == 0 || key->u.str.len > RK_PT_MAX_KEY)
        return bad(w, RK_ECORRUPT, sv, "storage key of %zu bytes", key->u.str.len);
    for (size_t i = 0; i < key->u.str.len; i++) {
        char c = key->u.str.s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'))
            return bad(w, RK_ECORRUPT, sv, "storage key '%.64s' holds characters other than [A-Za-z0-9_]", key->u.str.s);
    }
    size_t i = rk_pt_hash_find(&pt->keys, key->u.str.s, rk_pt_storage_key, pt);
    if (i != SIZE_MAX) {
        const rk_pt_storage *s = &pt->st[i];
        if (s->untyped != cls->u.global.untyped || s->class_dtype != cls->u.global.dtype || s->numel != (uint64_t)numel)
            return bad(w, RK_ECORRUPT, sv, "storage '%s' is declared twice with different type or size", s->key);
        *out = i;
        return 0;
    }
    if (pt->n_st == pt->cap_st) {
        size_t nc = pt->cap_st ? pt->cap_st * 2 : 64;
        rk_pt_storage *ns = realloc(pt->st, nc * sizeof *ns);
        if (!ns) return bad(w, RK_ENOMEM, sv, "out of memory");
        pt->st = ns;
        pt->cap_st = nc;
    }
    rk_pt_storage *s = &pt->st[pt->n_st];
    memset(s, 0, sizeof *s);
    s->untyped = cls->u.global.untyped;
    s->class_dtype = cls->u.global.dtype;
    s->elem_dtype = RK_DTYPE_INVALID;
    s->numel = (uint64_t)numel;
    uint64_t el = 0;
    rk_dtype_nbytes(s->class_dtype, 1, &el);
    if (rk_mul_u64(s->numel, el, &s->nbytes))
        return bad(w, RK_ECORRUPT, sv, "storage numel %" PRId64 " overflows", numel);
    s->key = rk_strdup(key->u.str.s);
    size_t elen = strlen(pt->prefix) + 5 + key->u.str.len + 1;
    s->entry = malloc(elen);
    if (!s->key || !s->entry) {
        free(s->key);
        free(s->entry);
        return bad(w, RK_ENOMEM, sv, "out of memory");
    }
    snprintf(s->entry, elen, "%sdata/%s", pt->prefix, s->key);
    pt->n_st++;
    if (rk_pt_hash_add(&pt->keys, pt->n_st - 1, rk_pt_storage_key, pt)) return bad(w, RK_ENOMEM, sv, "out of memory");
    *out = pt->n_st - 1;
    return 0;
}

static int take_dims(walker *w, const rk_pk_value *v, const char *what, int64_t *dims, int *n) {
    if (!v || v->kind != RK_PK_TUPLE) return bad(w, RK_ECORRUPT, v, "tensor %s is not a tuple", what);
    if (v->u.seq.n > RK_MAX_DIMS)
        return bad(w, RK_EUNSUPPORTED, v, "tensor has %zu dims (at most %d supported)", v->u.seq.n, RK_MAX_DIMS);
    for (size_t i = 0; i < v->u.seq.n; i++)
        if (get_int(v->u.seq.items[i], &dims[i]) || dims[i] < 0)
            return bad(w, RK_ECORRUPT, v, "tensor %s[%zu] is not a non-negative int", what, i);
    *n = (int)v->u.seq.n;
    return 0;
}

static int add_tensor(walker *w, const rk_pt_tensor *t, size_t storage, const rk_pk_value *at) {
    rk_pytorch *pt = w->pt;
    if (!t->name[0]) return bad(w, RK_EUNSUPPORTED, at, "a tensor with an empty name");
    if (rk_pt_hash_find(&pt->names, t->name, rk_pt_tensor_key, pt) != SIZE_MAX)
        return bad(w, RK_ECORRUPT, at, "tensor name appears twice");
    if (pt->n == pt->cap) {
        if (pt->n >= RK_PT_MAX_TENSORS) return bad(w, RK_ECORRUPT, at, "more than %zu tensors (cap)", RK_PT_MAX_TENSORS);
        size_t nc = pt->cap ? pt->cap * 2 : 64;
        rk_pt_tensor *nt = realloc(pt->t, nc * sizeof *nt);
        if (nt) pt->t = nt;
        size_t *ns = nt ? realloc(pt->t_storage, nc * sizeof *ns) : NULL;
        if (!ns) return bad(w, RK_ENOMEM, at, "out of memory");
        pt->t_storage = ns;
        pt->cap = nc;
    }
    char *name = rk_strdup(t->name);
    if (!name) return bad(w, RK_ENOMEM, at, "out of memory");
    pt->t[pt->n] = *t;
    pt->t[pt->n].name = name;
    pt->t_storage[pt->n] = storage;
    pt->n++;
    if (rk_pt_hash_add(&pt->names, pt->n - 1, rk_pt_tensor_key, pt)) return bad(w, RK_ENOMEM, at, "out of memory");
    return 0;
}

/* _rebuild_tensor{,_v2,_v3}(storage, offset, size, stride, ...) */
static int rebuild(walker *w, int fn, const rk_pk_value *args, const rk_pk_value *at) {
    size_t n = args->kind == RK_PK_TUPLE ? args->u.seq.n : 0;
    size_t lo = fn == RK_PKG_REBUILD_TENSOR ? 4 : fn == RK_PKG_REBUILD_TENSOR_V2 ? 6 : 7;
    if (args->kind != RK_PK_TUPLE || n < lo || n > (fn == RK_PKG_REBUILD_TENSOR ? 4 : lo + 1))
        return bad(w, RK_ECORRUPT, at, "tensor rebuild call has %zu arguments", n);
    rk_pt_tensor t;
    memset(&t, 0, sizeof t);
    t.name = w->name;
    size_t si = 0;
    int rc, ns = 0;
    if ((rc = take_storage(w, args->u.seq.items[0], &si))) return rc;
    rk_pt_storage *s = &w->pt->st[si];
    if (get_int(args->u.seq.items[1], &t.storage_offset) || t.storage_offset < 0)
        return bad(w, RK_ECORRUPT, at, "storage offset is not a non-negative int");
    if ((rc = take_dims(w, args->u.seq.items[2], "size", t.shape, &t.n_dims)) ||
        (rc = take_dims(w, args->u.seq.items[3], "stride", t.stride, &ns)))
        return rc;
    if (ns != t.n_dims) return bad(w, RK_ECORRUPT, at, "size has %d dims but stride has %d", t.n_dims, ns);
    t.dtype = s->class_dtype;
    if (fn == RK_PKG_REBUILD_TENSOR_V3) {
        const rk_pk_value *d = args->u.seq.items[6];
        if (d->kind != RK_PK_GLOBAL || d->u.global.id != RK_PKG_DTYPE)
            return bad(w, RK_ECORRUPT, at, "_rebuild_tensor_v3 dtype argument is a %s", rk_pk_kind_name(d->kind));
        if (d->u.global.dtype == RK_DTYPE_INVALID)
            return bad(w, RK_EUNSUPPORTED, at, "dtype torch.%s is not supported", d->u.global.name);
        if (!s->untyped && d->u.global.dtype != s->class_dtype)
            return bad(w, RK_ECORRUPT, at, "dtype torch.%s disagrees with its storage class", d->u.global.name);
        t.dtype = d->u.global.dtype;
    } else if (s->untyped) {
        return bad(w, RK_ECORRUPT, at, "an untyped storage without a dtype (needs _rebuild_tensor_v3)");
    }
    if (s->elem_dtype == RK_DTYPE_INVALID) {
        uint64_t el = 0;
        rk_dtype_nbytes(t.dtype, 1, &el);
        if (!el || s->nbytes % el)
            return bad(w, RK_ECORRUPT, at, "storage '%s' of %" PRIu64 " bytes is not whole %s elements", s->key,
                       s->nbytes, rk_dtype_name(t.dtype));
        s->elem_dtype = t.dtype;
        s->elems = s->nbytes / el;
    } else if (s->elem_dtype != t.dtype) {
        return bad(w, RK_ECORRUPT, at, "storage '%s' is viewed as both %s and %s", s->key, rk_dtype_name(s->elem_dtype),
                   rk_dtype_name(t.dtype));
    }
    uint64_t numel, last = (uint64_t)t.storage_offset, term;
    if (rk_shape_numel(t.shape, t.n_dims, &numel) || rk_dtype_nbytes(t.dtype, numel, &t.nbytes))
        return bad(w, RK_ECORRUPT, at, "tensor size overflows");
    if (t.nbytes > RK_PT_MAX_TENSOR_BYTES)
        return bad(w, RK_EUNSUPPORTED, at, "tensor of %" PRIu64 " bytes is absurdly large", t.nbytes);
    for (int d = 0; numel && d < t.n_dims; d++)
        if (rk_mul_u64((uint64_t)(t.shape[d] - 1), (uint64_t)t.stride[d], &term) || rk_add_u64(last, term, &last))
            return bad(w, RK_ECORRUPT, at, "tensor extent overflows");
    if (numel ? last >= s->elems : last > s->elems)
        return bad(w, RK_ECORRUPT, at, "view reaches element %" PRIu64 " but storage '%s' holds %" PRIu64 " elements",
                   last, s->key, s->elems);
    t.contiguous = 1;
    uint64_t expect = 1;
    for (int d = t.n_dims - 1; d >= 0; d--) {
        if (t.shape[d] != 1 && (uint64_t)t.stride[d] != expect) t.contiguous = 0;
        expect *= (uint64_t)t.shape[d];   /* bounded by numel, which did not overflow */
    }
    t.storage_key = s->entry;
    return add_tensor(w, &t, si, at);
}

/* A REDUCE node in the tree: some form of tensor. depth guards the Parameter/from_type wrappers. */
static int take_tensor(walker *w, const rk_pk_value *r, int depth) {
    if (depth > 4) return bad(w, RK_ECORRUPT, r, "tensor wrappers nested too deep");
    const rk_pk_value *args = r->u.reduce.args;
    int fn = r->u.reduce.fn->u.global.id;
    size_t n = args->u.seq.n;
    switch (fn) {
    case RK_PKG_REBUILD_TENSOR: case RK_PKG_REBUILD_TENSOR_V2: case RK_PKG_REBUILD_TENSOR_V3:
        return rebuild(w, fn, args, r);
    case RK_PKG_REBUILD_PARAMETER: case RK_PKG_REBUILD_PARAMETER_WITH_STATE:
        if (n != (fn == RK_PKG_REBUILD_PARAMETER ? 3u : 4u) || args->u.seq.items[0]->kind != RK_PK_REDUCE)
            return bad(w, RK_ECORRUPT, r, "%s has %zu arguments or no tensor", r->u.reduce.fn->u.global.name, n);
        return take_tensor(w, args->u.seq.items[0], depth + 1);
    case RK_PKG_REBUILD_FROM_TYPE_V2: {
        const rk_pk_value *f = n == 4 ? args->u.seq.items[0] : NULL, *ty = n == 4 ? args->u.seq.items[1] : NULL;
        if (!f || f->kind != RK_PK_GLOBAL || ty->kind != RK_PK_GLOBAL || ty->u.global.id != RK_PKG_TENSOR_TYPE ||
            args->u.seq.items[2]->kind != RK_PK_TUPLE ||
            (f->u.global.id != RK_PKG_REBUILD_TENSOR && f->u.global.id != RK_PKG_REBUILD_TENSOR_V2 &&
             f->u.global.id != RK_PKG_REBUILD_TENSOR_V3))
            return bad(w, RK_EUNSUPPORTED, r, "_rebuild_from_type_v2 of something other than a plain tensor");
        return rebuild(w, f->u.global.id, args->u.seq.items[2], r);
    }
    default:
        return bad(w, RK_EUNSUPPORTED, r, "a call to %s.%s is not a tensor", r->u.reduce.fn->u.global.module,
                   r->u.reduce.fn->u.global.name);
    }
}

static int walk(walker *w, const rk_pk_value *v);

/* Append ".part" (or "part" at the top) to the name, walk v, restore the name. */
static int walk_child(walker *w, const char *part, size_t plen, const rk_pk_value *v) {
    size_t old = w->len, need = old + (old ? 1 : 0) + plen;
    if (need >= sizeof w->name) return bad(w, RK_ECORRUPT, v, "flattened name longer than %d bytes", RK_PT_MAX_NAME - 1);
    if (memchr(part, 0, plen)) return bad(w, RK_ECORRUPT, v, "a dict key holds a NUL byte");
    if (old) w->name[w->len++] = '.';
    memcpy(w->name + w->len, part, plen);
    w->len += plen;
    w->name[w->len] = 0;
    int rc = walk(w, v);
    w->len = old;
    w->name[old] = 0;
    return rc;
}

static int is_container(const rk_pk_value *v) {
    return v->kind == RK_PK_DICT || v->kind == RK_PK_LIST || v->kind == RK_PK_TUPLE || v->kind == RK_PK_REDUCE;
}

static int walk(walker *w, const rk_pk_value *v) {
    char num[32];
    int rc = 0;
    switch (v->kind) {
    case RK_PK_DICT:
        for (size_t i = 0; i < v->u.dict.n && !rc; i++) {
            const rk_pk_value *k = v->u.dict.keys[i], *x = v->u.dict.vals[i];
            if (k->kind == RK_PK_STR) {
                rc = walk_child(w, k->u.str.s, k->u.str.len, x);
            } else if (k->kind == RK_PK_INT) {
                int len = snprintf(num, sizeof num, "%" PRId64, k->u.i);
                rc = walk_child(w, num, (size_t)len, x);
            } else if (is_container(x)) {
                rc = bad(w, RK_EUNSUPPORTED, k, "a dict key of type %s above tensors", rk_pk_kind_name(k->kind));
            }
        }
        return rc;
    case RK_PK_LIST: case RK_PK_TUPLE:
        for (size_t i = 0; i < v->u.seq.n && !rc; i++) {
            int len = snprintf(num, sizeof num, "%zu", i);
            rc = walk_child(w, num, (size_t)len, v->u.seq.items[i]);
        }
        return rc;
    case RK_PK_REDUCE:
        return take_tensor(w, v, 0);
    default:
        return 0;   /* numbers, strings, None, globals, bare storages: not tensors */
    }
}

int rk_pt_collect(rk_pytorch *pt, const rk_pk_value *root, rk_err *err) {
    walker *w = calloc(1, sizeof *w);
    if (!w) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "%s: out of memory", pt->path);
    w->pt = pt;
    w->err = err;
    int rc;
    if (root->kind == RK_PK_DICT || root->kind == RK_PK_LIST || root->kind == RK_PK_TUPLE)
        rc = walk(w, root);
    else if (root->kind == RK_PK_REDUCE)
        rc = bad(w, RK_EUNSUPPORTED, root, "the file holds a single tensor, not a dict of tensors (a state dict)");
    else
        rc = bad(w, RK_EUNSUPPORTED, root, "the top-level object is a %s, not a dict of tensors", rk_pk_kind_name(root->kind));
    free(w);
    return rc;
}
