/* quantize/alloc.c — the budget allocator of quantize/alloc.h: measurement of every candidate type's weighted
 * relative error on the real rows, expert shares from the routing statistics, and a greedy convex-hull knapsack. */
#define _GNU_SOURCE
#include "quantize/alloc.h"

#include <ctype.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quantize/quants.h"

#define MAX_CAND 8

typedef struct unit {
    char name[65];
    uint32_t n_dims;
    int64_t ne[4];
    int64_t mats, rows_per_mat, numel;
    int cls, fixed, type;
    int nc, cand[MAX_CAND];
    double *sig;          /* [mats] Σ imp·w² over the measured rows */
    double *noise;        /* [mats][nc] Σ imp·(w − ŵ)² */
    int64_t measured;     /* rows measured, all matrices */
    int64_t *mrows;       /* [mats] rows measured per matrix */
    int blk;              /* block kind (blk_kind) */
    int writer;           /* 1: its output is added to the residual stream (attn_output, ffn_down*) */
    float *imp;           /* [mats][ne0] while measuring, NULL without an entry */
    int64_t layer, expert;/* routed experts: layer, and the expert of a per-expert tensor (-1 stacked); layer -1 otherwise */
    double share;         /* Σ_m s_m, after solve */
    /* solve */
    uint64_t bytes_c[MAX_CAND];
    double err_c[MAX_CAND];
    int hull[MAX_CAND], nh, pos;
} unit;

struct rk_alloc {
    rk_alloc_opts o;
    const rk_hf_config *cfg;   /* from the first measured tensor; may be NULL */
    unit *u;
    size_t n, cap;
    size_t cursor;         /* decide's lookup hint */
    float *rowerr;         /* scratch [rows][nc + 1] */
    size_t nrowerr;
    uint64_t budget, total;
    double total_err;
    int solved, routing;
};

int rk_alloc_new(rk_alloc **out, const rk_alloc_opts *o, rk_err *err) {
    *out = NULL;
    if (!o || !o->fixed || (!o->budget_bytes && !(o->bpw > 0)))
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "allocator: a budget (bytes or bits per weight) and the fixed rules are required");
    rk_alloc *a = calloc(1, sizeof *a);
    if (!a) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
    a->o = *o;
    *out = a;
    return 0;
}

/* which part of the network a tensor belongs to: its output error is weighed by that part's share of the
 * residual stream (alloc.h) */
enum blk_kind { BK_OTHER = 0, BK_EMBD, BK_OUTPUT, BK_ATTN, BK_FFN, BK_SHEXP, BK_EXPERT };

static void classify(unit *u) {
    u->blk = BK_OTHER;
    if (!strcmp(u->name, "token_embd.weight")) { u->blk = BK_EMBD; return; }
    if (!strcmp(u->name, "output.weight")) { u->blk = BK_OUTPUT; return; }
    long long il;
    int used = 0;
    if (sscanf(u->name, "blk.%lld.%n", &il, &used) != 1 || used <= 0) return;
    const char *base = u->name + used;
    u->layer = il;
    int pr;
    int64_t e;
    if (rk_recipe_expert_of(u->name, NULL, &pr, &e)) {
        u->blk = BK_EXPERT, u->expert = e, u->writer = pr == 2;
    } else if (!strncmp(base, "attn_", 5)) {
        u->blk = BK_ATTN, u->writer = !strcmp(base, "attn_output.weight");
    } else if (strstr(base, "_shexp.weight")) {
        u->blk = BK_SHEXP, u->writer = !strcmp(base, "ffn_down_shexp.weight");
    } else if (!strcmp(base, "ffn_gate.weight") || !strcmp(base, "ffn_up.weight") || !strcmp(base, "ffn_down.weight")) {
        u->blk = BK_FFN, u->writer = !strcmp(base, "ffn_down.weight");
    }
}

static void unit_free_scratch(unit *u) {
    free(u->imp);
    u->imp = NULL;
}

void rk_alloc_free(rk_alloc *a) {
    if (!a) return;
    for (size_t i = 0; i < a->n; i++) {
        unit_free_scratch(&a->u[i]);
        free(a->u[i].sig);
        free(a->u[i].noise);
        free(a->u[i].mrows);
    }
    free(a->u);
    free(a->rowerr);
    free(a);
}

static int64_t block_of(int type) {
    const rk_dtype_traits *t = rk_dtype_get(type);
    return t ? (int64_t)t->block_size : 1;
}

static void candidates(unit *u) {
    static const int k256[] = { RK_DTYPE_TQ2_0, RK_DTYPE_Q2_K, RK_DTYPE_Q3_K, RK_DTYPE_Q4_K, RK_DTYPE_Q5_K, RK_DTYPE_Q6_K,
                                RK_DTYPE_Q8_0 };
    static const int k32[] = { RK_DTYPE_Q4_0, RK_DTYPE_Q4_1, RK_DTYPE_Q5_0, RK_DTYPE_Q5_1, RK_DTYPE_Q8_0 };
    const int64_t ne0 = u->ne[0];
    u->nc = 0;
    if (ne0 % 256 == 0) {
        for (size_t i = 0; i < sizeof k256 / sizeof k256[0]; i++) u->cand[u->nc++] = k256[i];
    } else if (ne0 % 32 == 0) {
        for (size_t i = 0; i < sizeof k32 / sizeof k32[0]; i++) u->cand[u->nc++] = k32[i];
    }
}

/* a new unit for tensor t: its fixed decision, candidates, importance */
static int unit_new(rk_alloc *a, const rk_convert_tensor *t, unit **out, rk_err *err) {
    if (a->n) unit_free_scratch(&a->u[a->n - 1]);
    if (a->n == a->cap) {
        size_t nc = a->cap ? 2 * a->cap : 256;
        unit *nu = realloc(a->u, nc * sizeof *nu);
        if (!nu) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
        a->u = nu, a->cap = nc;
    }
    unit *u = &a->u[a->n];
    memset(u, 0, sizeof *u);
    if (t->n_dims < 1 || t->n_dims > 4 || strlen(t->name) >= sizeof u->name)
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "allocator: tensor '%s' has %u dims", t->name, t->n_dims);
    snprintf(u->name, sizeof u->name, "%s", t->name);
    u->n_dims = t->n_dims;
    u->numel = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) u->ne[d] = t->ne[d], u->numel *= t->ne[d];
    u->mats = 1;
    for (uint32_t d = 2; d < t->n_dims; d++) u->mats *= t->ne[d];
    u->rows_per_mat = t->n_dims >= 2 ? t->ne[1] : 1;
    u->layer = -1, u->expert = -1;
    rk_qdecision d;
    int rc = rk_recipe_decide(a->o.fixed, t->cfg, t->name, t->n_dims, t->ne, &d, err);
    if (rc) return rc;
    u->cls = d.cls;
    if (d.cls == RK_QCLASS_KEEP) u->fixed = 1, u->type = RK_DTYPE_F32;
    else if (d.overridden) u->fixed = 2, u->type = d.type;
    else {
        candidates(u);
        if (!u->nc) u->fixed = 1, u->type = RK_DTYPE_F16;   /* rows not a multiple of 32: no block type fits */
    }
    classify(u);
    a->n++;
    if (u->fixed != 1 || u->type != RK_DTYPE_F32) {   /* everything but the kept F32 tensors: at least the signal */
        u->sig = calloc((size_t)u->mats, sizeof *u->sig);
        u->noise = calloc((size_t)(u->mats * (u->nc ? u->nc : 1)), sizeof *u->noise);
        u->mrows = calloc((size_t)u->mats, sizeof *u->mrows);
        if (!u->sig || !u->noise || !u->mrows) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
        if (a->o.im) {
            if (!(u->imp = malloc((size_t)(u->mats * u->ne[0]) * sizeof *u->imp)))
                return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
            int found = 0;
            if ((rc = rk_imatrix_tensor_importance(a->o.im, u->name, u->n_dims, u->ne, u->imp, &found, err))) return rc;
            if (!found) unit_free_scratch(u);
        }
    }
    *out = u;
    return 0;
}

int rk_alloc_measure(void *user, const rk_convert_tensor *t, int64_t mat, int64_t row0, int64_t n_rows, const float *x,
                     rk_err *err) {
    rk_alloc *a = user;
    (void)row0;
    unit *u = a->n && !strcmp(a->u[a->n - 1].name, t->name) ? &a->u[a->n - 1] : NULL;
    int rc;
    if (!u && (rc = unit_new(a, t, &u, err))) return rc;
    if (!a->cfg) a->cfg = t->cfg;
    if (!u->sig || n_rows <= 0) return 0;
    if (mat < 0 || mat >= u->mats) return rk_err_set(err, RK_EINVAL, UINT64_MAX, "allocator: matrix %lld of '%s'", (long long)mat, u->name);
    const int64_t ne0 = u->ne[0], nc = u->nc, w = nc + 1;
    size_t need = (size_t)(n_rows * w);
    if (need > a->nrowerr) {
        float *p = realloc(a->rowerr, need * sizeof *p);
        if (!p) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
        a->rowerr = p, a->nrowerr = need;
    }
    const float *imp = u->imp ? u->imp + mat * ne0 : NULL;
    float *re = a->rowerr;
    int64_t bad = -1;
    const int threads = a->o.threads > 0 ? a->o.threads : omp_get_max_threads();
    /* every (row, candidate) independently, then summed in row order: the result does not depend on threads */
    #pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (int64_t k = 0; k < n_rows * w; k++) {
        const int64_t r = k / w, c = k % w;
        const float *xr = x + r * ne0;
        if (c == nc) {
            double s = 0;
            int finite = 1;
            for (int64_t j = 0; j < ne0; j++) {
                finite &= isfinite(xr[j]) != 0;
                s += (double)(imp ? imp[j] : 1.0f) * (double)xr[j] * (double)xr[j];
            }
            re[k] = (float)s;
            if (!finite) {
                #pragma omp critical(rk_alloc_bad)
                if (bad < 0 || r < bad) bad = r;
            }
        } else {
            re[k] = (float)rk_quant_error(u->cand[c], xr, ne0, imp);
        }
    }
    if (bad >= 0)
        return rk_err_set(err, RK_ECORRUPT, UINT64_MAX, "tensor '%s' holds a non-finite value in row %lld of matrix %lld", u->name,
                          (long long)(row0 + bad), (long long)mat);
    for (int64_t r = 0; r < n_rows; r++) {
        u->sig[mat] += re[r * w + nc];
        for (int64_t c = 0; c < nc; c++) u->noise[mat * nc + c] += re[r * w + c];
    }
    u->measured += n_rows;
    u->mrows[mat] += n_rows;
    return 0;
}

/* ---- shares: each unit's part of the residual stream ---- */

/* w[e] = f_e·ḡ_e² for the experts of layer il (E of them); 0 when the imatrix has no routing for it */
static int routing_weights(rk_alloc *a, int64_t il, int64_t E, double *w) {
    const rk_imatrix *im = a->o.im;
    for (size_t i = 0; im && i < rk_imatrix_routing_count(im); i++) {
        rk_imatrix_routing r;
        if (rk_imatrix_routing_at(im, i, &r) || r.layer != il || r.n_experts != E || !r.tokens) continue;
        for (int64_t e = 0; e < E; e++) {
            double f = (double)r.count[e] / (double)r.tokens, g = r.count[e] ? r.gate_sum[e] / (double)r.count[e] : 0.0;
            w[e] = f * g * g;
        }
        a->routing = 1;
        return 1;
    }
    /* llama.cpp's imatrix: tokens per expert from the stacked entries' counts; gates taken equal (1/top-k) */
    const int64_t K = a->cfg && a->cfg->num_experts_per_tok > 0 ? a->cfg->num_experts_per_tok : 1;
    static const char *const k[3] = { "gate", "up", "down" };
    for (int p = 0; im && p < 3; p++) {
        char n[96];
        rk_imatrix_entry en;
        snprintf(n, sizeof n, "blk.%lld.ffn_%s_exps.weight", (long long)il, k[p]);
        if (rk_imatrix_find(im, n, &en) || en.n_mat != E) continue;
        double tot = 0;
        for (int64_t e = 0; e < E; e++) tot += en.count[e];
        if (!(tot > 0)) break;
        for (int64_t e = 0; e < E; e++) w[e] = en.count[e] / (tot / (double)K) / (double)(K * K);
        return 1;
    }
    return 0;
}

/* experts per layer: the stacked tensor's ne[2], or the per-expert tensors of the layer */
static int64_t experts_in_layer(const rk_alloc *a, int64_t il) {
    int64_t E = 0;
    for (size_t i = 0; i < a->n; i++) {
        const unit *u = &a->u[i];
        if (u->blk != BK_EXPERT || u->layer != il) continue;
        if (u->expert < 0) return u->mats;
        if (u->expert + 1 > E) E = u->expert + 1;
    }
    return E;
}

/* per-token output energy Σ_rows Σ_j imp_j·w_ij² of matrix m (diagonal approximation of E‖W x‖²) */
static double energy(const unit *u, int64_t m) {
    return u->sig && u->mrows[m] ? u->sig[m] * (double)u->rows_per_mat / (double)u->mrows[m] : 0.0;
}

static double rho(const unit *u, int64_t m, int c) {
    return u->sig && u->sig[m] > 0 ? u->noise[m * u->nc + c] / u->sig[m] : 0.0;
}

/* share[m] of every unit (its block's energy / the residual stream's), then err_c */
static int shares(rk_alloc *a, rk_err *err) {
    int64_t L = 0;
    for (size_t i = 0; i < a->n; i++)
        if (a->u[i].layer + 1 > L) L = a->u[i].layer + 1;
    double *A = calloc((size_t)L + 1, sizeof *A), *F = calloc((size_t)L + 1, sizeof *F), *S = calloc((size_t)L + 1, sizeof *S);
    double **B = calloc((size_t)L + 1, sizeof *B);
    int64_t *EL = calloc((size_t)L + 1, sizeof *EL);
    int rc = A && F && S && B && EL ? 0 : RK_ENOMEM;
    const int weighted = a->o.im != NULL;
    double E0 = weighted ? 0 : 1;
    for (int64_t il = 0; !rc && il < L; il++) {
        if ((EL[il] = experts_in_layer(a, il)) <= 0) continue;
        double *w = calloc((size_t)EL[il], sizeof *w);
        if (!(B[il] = calloc((size_t)EL[il], sizeof **B)) || !w) { free(w); rc = RK_ENOMEM; break; }
        if (!weighted || !routing_weights(a, il, EL[il], w))
            for (int64_t e = 0; e < EL[il]; e++) w[e] = 1.0 / (double)EL[il];
        for (int64_t e = 0; e < EL[il]; e++) B[il][e] = w[e];   /* × the expert's down energy below */
        free(w);
    }
    /* block energies from the residual writers */
    for (size_t i = 0; !rc && i < a->n; i++) {
        unit *u = &a->u[i];
        if (u->blk == BK_EMBD && weighted && u->sig && u->mrows[0]) E0 = u->sig[0] / (double)u->mrows[0];
        if (!u->writer || u->layer < 0 || u->layer >= L) continue;
        double *dst = u->blk == BK_ATTN ? A : u->blk == BK_SHEXP ? S : u->blk == BK_FFN ? F : NULL;
        if (dst) dst[u->layer] = weighted ? energy(u, 0) : 1.0;
        if (u->blk == BK_EXPERT && B[u->layer]) {
            for (int64_t m = 0; m < u->mats; m++) {
                int64_t e = u->expert >= 0 ? u->expert : m;
                if (e < EL[u->layer]) B[u->layer][e] *= weighted ? energy(u, m) : 0.5;
            }
        }
    }
    /* the residual stream's energy where each block adds its output: a relative error introduced there is carried
     * on unchanged by everything downstream (RMSNorm makes the blocks scale-equivariant), so a block's share is its
     * energy over the residual's right after it (the embedding's is 1: it is the whole residual) */
    double H = E0 > 0 ? E0 : 1.0, *HA = calloc((size_t)L + 1, sizeof *HA), *HF = calloc((size_t)L + 1, sizeof *HF);
    if (!HA || !HF) rc = RK_ENOMEM;
    for (int64_t il = 0; !rc && il < L; il++) {
        if (!weighted && EL[il] > 0) S[il] = S[il] > 0 ? 0.5 : 0;
        for (int64_t e = 0; e < EL[il]; e++) F[il] += B[il][e];
        F[il] += S[il];
        H += A[il], HA[il] = H;
        H += F[il], HF[il] = H;
    }
    for (size_t i = 0; !rc && i < a->n; i++) {
        unit *u = &a->u[i];
        if (u->fixed) continue;
        const int64_t l = u->layer;
        double sh;
        switch (u->blk) {
        case BK_OUTPUT: sh = 1.0; break;
        case BK_EMBD: sh = 1.0; break;
        case BK_ATTN: sh = A[l] / HA[l]; break;
        case BK_FFN: sh = F[l] / HF[l]; break;
        case BK_SHEXP: sh = S[l] / HF[l]; break;
        case BK_EXPERT: sh = -1; break;
        default: sh = l >= 0 && l < L ? (A[l] + F[l]) / (2 * HF[l]) : 1.0; break;
        }
        u->share = 0;
        for (int c = 0; c < u->nc; c++) u->err_c[c] = 0;
        for (int64_t m = 0; m < u->mats; m++) {
            double s_m = sh;
            if (sh < 0) {
                int64_t e = u->expert >= 0 ? u->expert : m;
                s_m = B[l] && e < EL[l] ? B[l][e] / HF[l] : 0;
            } else {
                s_m = sh / (double)u->mats;   /* heads of one attention tensor share its block */
            }
            u->share += s_m;
            for (int c = 0; c < u->nc; c++) u->err_c[c] += s_m * rho(u, m, c);
        }
    }
    for (int64_t il = 0; B && il < L; il++) free(B[il]);
    free(A), free(F), free(S), free(B), free(EL), free(HA), free(HF);
    return rc ? rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory") : 0;
}

/* ---- solve ---- */

static uint64_t nbytes(int type, int64_t numel) {
    uint64_t b = 0;
    rk_dtype_nbytes(type, (uint64_t)numel, &b);
    return b;
}

typedef struct heap { double *key; int64_t *idx; size_t n; } heap;
static int hless(const heap *h, size_t i, size_t j) {   /* i before j: larger saving per byte, then lower index */
    return h->key[i] > h->key[j] || (h->key[i] == h->key[j] && h->idx[i] < h->idx[j]);
}
static void hswap(heap *h, size_t i, size_t j) {
    double k = h->key[i]; h->key[i] = h->key[j]; h->key[j] = k;
    int64_t x = h->idx[i]; h->idx[i] = h->idx[j]; h->idx[j] = x;
}
static void hpush(heap *h, double key, int64_t idx) {
    size_t i = h->n++;
    h->key[i] = key, h->idx[i] = idx;
    while (i && hless(h, i, (i - 1) / 2)) hswap(h, i, (i - 1) / 2), i = (i - 1) / 2;
}
static void hpop(heap *h) {
    h->n--;
    if (!h->n) return;
    hswap(h, 0, h->n);
    for (size_t i = 0;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && hless(h, l, m)) m = l;
        if (r < h->n && hless(h, r, m)) m = r;
        if (m == i) break;
        hswap(h, i, m), i = m;
    }
}

/* lower convex hull of the candidates in (bytes, err), bytes ascending */
static void hull(unit *u) {
    int ord[MAX_CAND];
    for (int i = 0; i < u->nc; i++) ord[i] = i;
    for (int i = 1; i < u->nc; i++)   /* insertion sort by bytes, then err */
        for (int j = i; j > 0; j--) {
            int p = ord[j - 1], q = ord[j];
            if (u->bytes_c[p] < u->bytes_c[q] || (u->bytes_c[p] == u->bytes_c[q] && u->err_c[p] <= u->err_c[q])) break;
            ord[j - 1] = q, ord[j] = p;
        }
    u->nh = 0;
    for (int i = 0; i < u->nc; i++) {
        int c = ord[i];
        if (u->nh && (u->bytes_c[c] == u->bytes_c[u->hull[u->nh - 1]] || u->err_c[c] >= u->err_c[u->hull[u->nh - 1]])) continue;
        while (u->nh >= 2) {   /* drop the last point while it lies on or above the segment from its predecessor to c */
            int p = u->hull[u->nh - 2], q = u->hull[u->nh - 1];
            double s1 = (u->err_c[p] - u->err_c[q]) / (double)(u->bytes_c[q] - u->bytes_c[p]);
            double s2 = (u->err_c[q] - u->err_c[c]) / (double)(u->bytes_c[c] - u->bytes_c[q]);
            if (s2 < s1) break;
            u->nh--;
        }
        u->hull[u->nh++] = c;
    }
}

static double step_gain(const unit *u) {
    int p = u->hull[u->pos], q = u->hull[u->pos + 1];
    return (u->err_c[p] - u->err_c[q]) / (double)(u->bytes_c[q] - u->bytes_c[p]);
}

int rk_alloc_solve(rk_alloc *a, rk_err *err) {
    if (a->n) unit_free_scratch(&a->u[a->n - 1]);
    double weights = 0;
    uint64_t fixed = 0, total = 0;
    for (size_t i = 0; i < a->n; i++) weights += (double)a->u[i].numel;
    a->budget = a->o.budget_bytes ? a->o.budget_bytes : (uint64_t)floor(a->o.bpw * weights / 8.0);
    int rc = shares(a, err);
    if (rc) return rc;
    size_t n_alloc = 0;
    for (size_t i = 0; i < a->n; i++) {
        unit *u = &a->u[i];
        if (u->fixed) {
            fixed += nbytes(u->type, u->numel);
            continue;
        }
        n_alloc++;
        for (int c = 0; c < u->nc; c++) u->bytes_c[c] = nbytes(u->cand[c], u->numel);
        hull(u);
        u->pos = 0;
        total += u->bytes_c[u->hull[0]];
    }
    total += fixed;
    if (total > a->budget)
        return rk_err_set(err, RK_EINVAL, UINT64_MAX,
                          "the budget of %llu bytes (%.4f bits per weight) cannot be met: the smallest allocation is %llu bytes "
                          "(%.4f bits per weight; %llu of them in tensors kept F32 or overridden)",
                          (unsigned long long)a->budget, 8.0 * (double)a->budget / weights, (unsigned long long)total,
                          8.0 * (double)total / weights, (unsigned long long)fixed);
    heap h = { malloc((n_alloc ? n_alloc : 1) * sizeof(double)), malloc((n_alloc ? n_alloc : 1) * sizeof(int64_t)), 0 };
    if (!h.key || !h.idx) {
        free(h.key), free(h.idx);
        return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
    }
    for (size_t i = 0; i < a->n; i++)
        if (!a->u[i].fixed && a->u[i].nh > 1) hpush(&h, step_gain(&a->u[i]), (int64_t)i);
    while (h.n) {
        unit *u = &a->u[h.idx[0]];
        int64_t i = h.idx[0];
        hpop(&h);
        uint64_t d = u->bytes_c[u->hull[u->pos + 1]] - u->bytes_c[u->hull[u->pos]];
        if (total + d > a->budget) continue;   /* this unit cannot grow any more within the budget */
        total += d;
        u->pos++;
        if (u->pos + 1 < u->nh) hpush(&h, step_gain(u), i);
    }
    free(h.key), free(h.idx);
    a->total_err = 0;
    for (size_t i = 0; i < a->n; i++) {
        unit *u = &a->u[i];
        if (u->fixed) continue;
        u->type = u->cand[u->hull[u->pos]];
        a->total_err += u->err_c[u->hull[u->pos]];
    }
    a->total = total;
    a->solved = 1;
    return 0;
}

int rk_alloc_decide(void *user, const rk_convert_tensor *t, int *type, rk_err *err) {
    rk_alloc *a = user;
    if (!a->solved) return rk_err_set(err, RK_EINVAL, UINT64_MAX, "internal: allocator asked before it was solved");
    for (size_t k = 0; k < a->n; k++) {
        size_t i = (a->cursor + k) % a->n;
        if (strcmp(a->u[i].name, t->name)) continue;
        a->cursor = i + 1;
        if (a->u[i].ne[0] % block_of(a->u[i].type))
            return rk_err_set(err, RK_EINVAL, UINT64_MAX, "internal: '%s' allocated a type that does not fit", t->name);
        *type = a->u[i].type;
        return 0;
    }
    return rk_err_set(err, RK_EINVAL, UINT64_MAX, "internal: tensor '%s' was not measured by the allocator", t->name);
}

size_t rk_alloc_count(const rk_alloc *a) { return a->n; }

void rk_alloc_unit_at(const rk_alloc *a, size_t i, rk_alloc_unit *out) {
    const unit *u = &a->u[i];
    memset(out, 0, sizeof *out);
    out->name = u->name, out->n_dims = u->n_dims, out->ne = u->ne, out->type = u->type, out->fixed = u->fixed;
    out->cls = u->cls;
    out->bytes = nbytes(u->type, u->numel);
    out->share = u->fixed ? 0 : u->share;
    out->err = u->fixed || !a->solved ? 0 : u->err_c[u->hull[u->pos]];
    int64_t rows = u->rows_per_mat * u->mats;
    out->sampled = u->fixed || !rows ? 0 : (double)u->measured / (double)rows;
}

uint64_t rk_alloc_budget(const rk_alloc *a) { return a->budget; }
uint64_t rk_alloc_total_bytes(const rk_alloc *a) { return a->total; }
double rk_alloc_total_err(const rk_alloc *a) { return a->total_err; }
int rk_alloc_has_routing(const rk_alloc *a) { return a->routing; }

int rk_alloc_parse_size(const char *s, uint64_t *bytes) {
    char *end;
    if (!s || !*s) return RK_EINVAL;
    double v = strtod(s, &end);
    if (end == s || !(v > 0) || !isfinite(v)) return RK_EINVAL;
    while (*end == ' ') end++;
    double mul = 1;
    char u[8] = { 0 };
    size_t k = 0;
    while (*end && k < sizeof u - 1) u[k++] = (char)tolower((unsigned char)*end++);
    if (*end) return RK_EINVAL;
    if (!*u || !strcmp(u, "b")) mul = 1;
    else if (!strcmp(u, "kb")) mul = 1e3;
    else if (!strcmp(u, "mb")) mul = 1e6;
    else if (!strcmp(u, "gb")) mul = 1e9;
    else if (!strcmp(u, "tb")) mul = 1e12;
    else if (!strcmp(u, "kib")) mul = 1024.0;
    else if (!strcmp(u, "mib")) mul = 1048576.0;
    else if (!strcmp(u, "gib")) mul = 1073741824.0;
    else if (!strcmp(u, "tib")) mul = 1099511627776.0;
    else return RK_EINVAL;
    double b = v * mul;
    if (b < 1 || b > 1.8e19) return RK_EINVAL;
    *bytes = (uint64_t)b;
    return 0;
}
