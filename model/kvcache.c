/* model/kvcache.c — the per-sequence key/value cache. f32, one [cap, kv_heads, head] block per layer for keys
 * and one for values. For MLA the keys are the expanded per-head [nope | shared rope] keys and the values the
 * per-head values (kv_b applied once per token at append time), so decoding a token costs one kv_b row-block
 * rather than a pass over the whole latent history. */
#include <stdlib.h>
#include <string.h>
#include "model/model-impl.h"

rk_kvcache *rk_kvcache_new(const rk_model *m, int64_t max_ctx, rk_err *err) {
    if (!m) { rk_err_set(err, RK_EINVAL, UINT64_MAX, "kvcache: NULL model"); return NULL; }
    if (max_ctx <= 0 || max_ctx > (1LL << 24)) {
        rk_err_set(err, RK_EINVAL, UINT64_MAX, "kvcache: context %lld out of range [1, %lld]", (long long)max_ctx,
                   1LL << 24);
        return NULL;
    }
    rk_kvcache *kv = calloc(1, sizeof *kv);
    if (!kv) goto oom;
    kv->m = m, kv->cap = max_ctx, kv->n_layers = m->n_layers;
    kv->kw = m->hk * m->dk, kv->vw = m->hk * m->dv;
    kv->k = calloc((size_t)m->n_layers, sizeof *kv->k);
    kv->v = calloc((size_t)m->n_layers, sizeof *kv->v);
    if (!kv->k || !kv->v) goto oom;
    uint64_t nk, nv;
    if (rk_mul_u64((uint64_t)max_ctx, (uint64_t)kv->kw, &nk) || rk_mul_u64((uint64_t)max_ctx, (uint64_t)kv->vw, &nv) ||
        nk > SIZE_MAX / sizeof(float) || nv > SIZE_MAX / sizeof(float))
        goto oom;
    for (int64_t il = 0; il < m->n_layers; il++) {
        kv->k[il] = malloc((size_t)nk * sizeof(float));
        kv->v[il] = malloc((size_t)nv * sizeof(float));
        if (!kv->k[il] || !kv->v[il]) goto oom;
    }
    return kv;
oom:
    rk_kvcache_free(kv);
    rk_err_set(err, RK_ENOMEM, UINT64_MAX, "kvcache: out of memory for %lld positions", (long long)max_ctx);
    return NULL;
}

void rk_kvcache_free(rk_kvcache *kv) {
    if (!kv) return;
    for (int64_t il = 0; il < kv->n_layers; il++) {
        if (kv->k) free(kv->k[il]);
        if (kv->v) free(kv->v[il]);
    }
    free(kv->k);
    free(kv->v);
    free(kv);
}

void rk_kvcache_clear(rk_kvcache *kv) {
    if (kv) kv->len = 0;
}

uint64_t rk_kvcache_bytes_per_token(const rk_model *m) {
    return m ? 4ull * (uint64_t)m->n_layers * (uint64_t)m->hk * (uint64_t)(m->dk + m->dv) : 0;
}

int64_t rk_kvcache_len(const rk_kvcache *kv) { return kv ? kv->len : 0; }
int64_t rk_kvcache_capacity(const rk_kvcache *kv) { return kv ? kv->cap : 0; }

int rk_kvcache_truncate(rk_kvcache *kv, int64_t len, rk_err *err) {
    if (!kv || len < 0 || len > kv->len)
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "kvcache: cannot truncate to %lld (length %lld)", (long long)len,
                          (long long)(kv ? kv->len : 0));
    kv->len = len;
    return 0;
}
