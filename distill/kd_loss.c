/* distill/kd_loss.c — forward KL, reverse KL and generalized JSD between student and teacher logits
 * (definitions, conventions and masking in distill/kd_loss.h).
 *
 * Per row, with z = s/T, u = t/T in double and S the teacher's finite entries:
 *   log q_i = z_i − lse_S(z),  log p_i = u_i − lse_S(u)   (lse after subtracting the max over S)
 * and the gradients with respect to z (then ·1/T for s, ·T²/N for the loss scale):
 *   forward KL  ∂D/∂z_j = q_j − p_j
 *   reverse KL  ∂D/∂z_j = q_j·(a_j − D),       a_j = log q_j − log p_j
 *   JSD         ∂D/∂z_j = q_j·(h_j − Σ_i q_i h_i),  h_j = (1−β)·(log q_j − log m_j)
 * (for the JSD, ∂D/∂q_i collapses to (1−β)·log(q_i/m_i): the β·p/m and (1−β)·q/m terms cancel against the +1).
 * log m = log-add-exp(log β + log p, log(1−β) + log q). A term p·(…) with p underflowing to 0 is 0·finite = 0.
 * Rows are independent (OpenMP); the row losses are summed serially in row order. */
#include "distill/kd_loss.h"

#include <math.h>
#include <stdlib.h>

typedef struct kd_row {
    int state;            /* 1 counted, 0 all-masked (skipped), -1 NaN */
    double lse_z, lse_u;  /* log-sum-exp over S of s/T and t/T */
} kd_row;

static kd_row row_stats(const float *s, const float *t, int64_t V, double T) {
    kd_row r = {0, 0.0, 0.0};
    double mz = -INFINITY, mu = -INFINITY;
    for (int64_t i = 0; i < V; i++) {
        if (t[i] != t[i] || t[i] == INFINITY || s[i] != s[i]) { r.state = -1; return r; }
        if (t[i] == -INFINITY) continue;
        const double z = (double)s[i] / T, u = (double)t[i] / T;
        if (z > mz) mz = z;
        if (u > mu) mu = u;
        r.state = 1;
    }
    if (r.state != 1) return r;
    if (mz == INFINITY || mz == -INFINITY) { r.state = -1; return r; }   /* student not finite on S */
    double sz = 0.0, su = 0.0;
    for (int64_t i = 0; i < V; i++) {
        if (t[i] == -INFINITY) continue;
        sz += exp((double)s[i] / T - mz);
        su += exp((double)t[i] / T - mu);
    }
    r.lse_z = mz + log(sz);
    r.lse_u = mu + log(su);
    return r;
}

static double log_add_exp(double a, double b) {
    const double m = a > b ? a : b;
    if (m == -INFINITY) return -INFINITY;
    return m + log(exp(a - m) + exp(b - m));
}

/* log m_i for the JSD */
static double log_mix(double lp, double lq, double lb, double l1b) { return log_add_exp(lb + lp, l1b + lq); }

/* The row divergence D (without the T² scale). */
static double row_div(const float *s, const float *t, int64_t V, const rk_kd_cfg *c, const kd_row *r) {
    const double T = c->temperature, b = c->beta, lb = log(b), l1b = log1p(-b);
    double d = 0.0;
    for (int64_t i = 0; i < V; i++) {
        if (t[i] == -INFINITY) continue;
        const double lq = (double)s[i] / T - r->lse_z, lp = (double)t[i] / T - r->lse_u;
        const double q = exp(lq), p = exp(lp);
        switch (c->kind) {
        case RK_KD_FORWARD_KL: if (p > 0.0) d += p * (lp - lq); break;
        case RK_KD_REVERSE_KL: if (q > 0.0) d += q * (lq - lp); break;
        default: {
            const double lm = log_mix(lp, lq, lb, l1b);
            if (p > 0.0) d += b * p * (lp - lm);
            if (q > 0.0) d += (1.0 - b) * q * (lq - lm);
        }
        }
    }
    return d;
}

/* ds += scale · ∂D/∂z over S (scale already includes dloss·T/N). d_row: the row's D (reverse KL needs it). */
static void row_grad(float *ds, const float *s, const float *t, int64_t V, const rk_kd_cfg *c, const kd_row *r,
                     double d_row, double scale) {
    const double T = c->temperature, b = c->beta, lb = log(b), l1b = log1p(-b);
    double H = 0.0;
    if (c->kind == RK_KD_JSD)
        for (int64_t i = 0; i < V; i++) {
            if (t[i] == -INFINITY) continue;
            const double lq = (double)s[i] / T - r->lse_z, lp = (double)t[i] / T - r->lse_u;
            const double q = exp(lq);
            if (q > 0.0) H += q * (1.0 - b) * (lq - log_mix(lp, lq, lb, l1b));
        }
    for (int64_t j = 0; j < V; j++) {
        if (t[j] == -INFINITY) continue;
        const double lq = (double)s[j] / T - r->lse_z, lp = (double)t[j] / T - r->lse_u;
        const double q = exp(lq);
        double g;
        switch (c->kind) {
        case RK_KD_FORWARD_KL: g = q - exp(lp); break;
        case RK_KD_REVERSE_KL: g = q > 0.0 ? q * (lq - lp - d_row) : 0.0; break;
        default: g = q > 0.0 ? q * ((1.0 - b) * (lq - log_mix(lp, lq, lb, l1b)) - H) : 0.0;
        }
        ds[j] = (float)((double)ds[j] + scale * g);
    }
}

int rk_kd_cfg_valid(const rk_kd_cfg *cfg) {
    if (!cfg) return 0;
    const double T = cfg->temperature;
    if (!(T > 0.0) || !isfinite(T)) return 0;
    switch (cfg->kind) {
    case RK_KD_FORWARD_KL:
    case RK_KD_REVERSE_KL: return 1;
    case RK_KD_JSD: return cfg->beta > 0.0 && cfg->beta < 1.0;
    default: return 0;
    }
}

/* Shared driver: per-row D into an array, mean·T², then (ds != NULL) the gradient. */
static double kd_run(float *ds, const float *s, const float *t, int64_t n, int64_t V, const rk_kd_cfg *cfg,
                     float dloss) {
    if (!s || !t || V <= 0 || !rk_kd_cfg_valid(cfg)) return NAN;
    if (n <= 0) return 0.0;
    kd_row *rows = malloc(sizeof(kd_row) * (size_t)n);
    double *div = malloc(sizeof(double) * (size_t)n);
    if (!rows || !div) { free(rows); free(div); return NAN; }
    #pragma omp parallel for schedule(static) if (n * V >= (1 << 15))
    for (int64_t r = 0; r < n; r++) {
        rows[r] = row_stats(s + r * V, t + r * V, V, cfg->temperature);
        div[r] = rows[r].state == 1 ? row_div(s + r * V, t + r * V, V, cfg, &rows[r])
                                    : rows[r].state < 0 ? NAN : 0.0;
    }
    double sum = 0.0;
    int64_t cnt = 0;
    for (int64_t r = 0; r < n; r++) {
        if (rows[r].state == 0) continue;
        sum += div[r];
        cnt++;
    }
    const double T = cfg->temperature;
    const double loss = cnt ? T * T * sum / (double)cnt : 0.0;
    if (ds && cnt) {
        const double scale = (double)dloss * T / (double)cnt;   /* T²/N · ∂z/∂s = T/N */
        #pragma omp parallel for schedule(static) if (n * V >= (1 << 15))
        for (int64_t r = 0; r < n; r++)
            if (rows[r].state == 1) row_grad(ds + r * V, s + r * V, t + r * V, V, cfg, &rows[r], div[r], scale);
    }
    free(rows);
    free(div);
    return loss;
}

double rk_kd_loss(const float *student, const float *teacher, int64_t n, int64_t vocab, const rk_kd_cfg *cfg) {
    return kd_run(NULL, student, teacher, n, vocab, cfg, 0.0f);
}

double rk_kd_loss_backward(float *dstudent, const float *student, const float *teacher, int64_t n, int64_t vocab,
                           const rk_kd_cfg *cfg, float dloss) {
    if (!dstudent) return NAN;
    return kd_run(dstudent, student, teacher, n, vocab, cfg, dloss);
}

/* ---- sparse teacher ---------------------------------------------------------------------------------------------
 * Buckets b: each kept id with a finite logp, and the rest (every id not kept) when log_rest > −inf. Per row, in
 * double: lse_z over the included ids (kept ∪ rest ids), the rest's own lse (its log q_rest = lse_rest − lse_z,
 * never 1 − Σ kept), lse_u over the buckets' l_b/T. The divergence is the dense formula over buckets. With
 * G_b = ∂D/∂log q_b:  ∂D/∂z_j = (q_j/q_b)·G_b − q_j·Σ G = w_j·(G_b − q_b·Σ G), where w_j = q_j/q_b is the id's
 * share of its bucket (1 for a kept id, exp(z_j − lse_rest) in the rest) and G_b − q_b·Σ G is the dense
 * per-entry expression on bucket values (q − p, q·(a − D), q·(h − H)). */
typedef struct kds_row {
    int state;            /* 1 counted, 0 no bucket (skipped), -1 invalid */
    int rest;             /* the rest bucket is in */
    double lse_z;         /* over the included ids */
    double lse_rest;      /* over the ids not kept (−inf: none, or all −inf) */
    double lse_u;         /* over the buckets' l_b / T */
} kds_row;

typedef struct kds_ref {  /* one row of the sparse teacher */
    const int32_t *ids;
    const float *lp;
    float lrest;
    int64_t k;
} kds_ref;

static kds_ref sparse_ref(const rk_kd_sparse *t, int64_t r) {
    kds_ref x = {NULL, NULL, t->log_rest ? t->log_rest[r] : -INFINITY, t->k};
    if (t->k > 0) x.ids = t->ids + r * t->k, x.lp = t->logp + r * t->k;
    return x;
}

static double lse_finish(double m, double sum) { return m == -INFINITY ? -INFINITY : m + log(sum); }

static kds_row sparse_stats(const float *s, const kds_ref *t, int64_t V, double T) {
    kds_row r = {-1, 0, 0.0, -INFINITY, 0.0};
    const int64_t k = t->k;
    if (t->lrest != t->lrest || t->lrest == INFINITY || (k == V && t->lrest > -INFINITY)) return r;
    int any = t->lrest > -INFINITY;
    double mu = any ? (double)t->lrest / T : -INFINITY;
    for (int64_t i = 0; i < k; i++) {
        const float l = t->lp[i];
        if (t->ids[i] < 0 || t->ids[i] >= V || (i && t->ids[i] <= t->ids[i - 1]) || l != l || l == INFINITY) return r;
        if (l == -INFINITY) continue;
        any = 1;
        if ((double)l / T > mu) mu = (double)l / T;
    }
    double mk = -INFINITY, mr = -INFINITY;   /* student maxima over the included kept ids and over the rest ids */
    for (int64_t i = 0, p = 0; i < V; i++) {
        if (s[i] != s[i]) return r;
        const double z = (double)s[i] / T;
        if (p < k && t->ids[p] == i) {
            if (t->lp[p] > -INFINITY && z > mk) mk = z;
            p++;
        } else if (z > mr) mr = z;
    }
    r.state = 0;
    if (!any) return r;
    r.rest = t->lrest > -INFINITY;
    if (mk == INFINITY || (r.rest && mr == INFINITY)) { r.state = -1; return r; }
    double sk = 0.0, sr = 0.0, su = r.rest ? exp((double)t->lrest / T - mu) : 0.0;
    for (int64_t i = 0, p = 0; i < V; i++) {
        const double z = (double)s[i] / T;
        if (p < k && t->ids[p] == i) {
            if (t->lp[p] > -INFINITY) sk += exp(z - mk), su += exp((double)t->lp[p] / T - mu);
            p++;
        } else if (r.rest && mr > -INFINITY) sr += exp(z - mr);
    }
    r.lse_rest = r.rest ? lse_finish(mr, sr) : -INFINITY;
    r.lse_z = log_add_exp(lse_finish(mk, sk), r.lse_rest);
    r.lse_u = mu + log(su);
    if (r.lse_z == -INFINITY) { r.state = -1; return r; }   /* student all −inf on the buckets */
    r.state = 1;
    return r;
}

/* one bucket's share of D (log p, log q of the bucket) */
static double div_term(const rk_kd_cfg *c, double lp, double lq, double lb, double l1b) {
    const double q = exp(lq), p = exp(lp), b = c->beta;
    switch (c->kind) {
    case RK_KD_FORWARD_KL: return p > 0.0 ? p * (lp - lq) : 0.0;
    case RK_KD_REVERSE_KL: return q > 0.0 ? q * (lq - lp) : 0.0;
    default: {
        const double lm = log_mix(lp, lq, lb, l1b);
        return (p > 0.0 ? b * p * (lp - lm) : 0.0) + (q > 0.0 ? (1.0 - b) * q * (lq - lm) : 0.0);
    }
    }
}

/* a bucket's G_b − q_b·Σ G (D: the row's divergence, H: Σ q_b h_b for the JSD) */
static double grad_term(const rk_kd_cfg *c, double lp, double lq, double D, double H, double lb, double l1b) {
    const double q = exp(lq);
    switch (c->kind) {
    case RK_KD_FORWARD_KL: return q - exp(lp);
    case RK_KD_REVERSE_KL: return q > 0.0 ? q * (lq - lp - D) : 0.0;
    default: return q > 0.0 ? q * ((1.0 - c->beta) * (lq - log_mix(lp, lq, lb, l1b)) - H) : 0.0;
    }
}

/* log p and log q of the rest bucket */
static void rest_lp_lq(const kds_ref *t, const kds_row *r, double T, double *lp, double *lq) {
    *lp = (double)t->lrest / T - r->lse_u;
    *lq = r->lse_rest - r->lse_z;
}

static double sparse_div(const float *s, const kds_ref *t, const rk_kd_cfg *c, const kds_row *r) {
    const double T = c->temperature, lb = log(c->beta), l1b = log1p(-c->beta);
    double d = 0.0, lp, lq;
    for (int64_t i = 0; i < t->k; i++) {
        if (t->lp[i] == -INFINITY) continue;
        d += div_term(c, (double)t->lp[i] / T - r->lse_u, (double)s[t->ids[i]] / T - r->lse_z, lb, l1b);
    }
    if (r->rest) {
        rest_lp_lq(t, r, T, &lp, &lq);
        d += div_term(c, lp, lq, lb, l1b);
    }
    return d;
}

static void sparse_grad(float *ds, const float *s, const kds_ref *t, int64_t V, const rk_kd_cfg *c, const kds_row *r,
                        double d_row, double scale) {
    const double T = c->temperature, b = c->beta, lb = log(b), l1b = log1p(-b);
    double H = 0.0, lp, lq;
    if (c->kind == RK_KD_JSD) {
        for (int64_t i = 0; i < t->k; i++) {
            if (t->lp[i] == -INFINITY) continue;
            lp = (double)t->lp[i] / T - r->lse_u, lq = (double)s[t->ids[i]] / T - r->lse_z;
            if (exp(lq) > 0.0) H += exp(lq) * (1.0 - b) * (lq - log_mix(lp, lq, lb, l1b));
        }
        if (r->rest) {
            rest_lp_lq(t, r, T, &lp, &lq);
            if (exp(lq) > 0.0) H += exp(lq) * (1.0 - b) * (lq - log_mix(lp, lq, lb, l1b));
        }
    }
    for (int64_t i = 0; i < t->k; i++) {
        if (t->lp[i] == -INFINITY) continue;
        const int32_t j = t->ids[i];
        const double g = grad_term(c, (double)t->lp[i] / T - r->lse_u, (double)s[j] / T - r->lse_z, d_row, H, lb, l1b);
        ds[j] = (float)((double)ds[j] + scale * g);
    }
    if (!r->rest || r->lse_rest == -INFINITY) return;
    rest_lp_lq(t, r, T, &lp, &lq);
    const double g = scale * grad_term(c, lp, lq, d_row, H, lb, l1b);
    for (int64_t i = 0, p = 0; i < V; i++) {
        if (p < t->k && t->ids[p] == i) { p++; continue; }
        ds[i] = (float)((double)ds[i] + exp((double)s[i] / T - r->lse_rest) * g);   /* share of the bucket */
    }
}

static double kds_run(float *ds, const float *s, const rk_kd_sparse *t, int64_t n, int64_t V, const rk_kd_cfg *cfg,
                      float dloss) {
    if (!s || !t || V <= 0 || !rk_kd_cfg_valid(cfg) || t->k < 0 || t->k > V || (t->k > 0 && (!t->ids || !t->logp)))
        return NAN;
    if (n <= 0) return 0.0;
    kds_row *rows = malloc(sizeof(kds_row) * (size_t)n);
    double *div = malloc(sizeof(double) * (size_t)n);
    if (!rows || !div) { free(rows); free(div); return NAN; }
    #pragma omp parallel for schedule(static) if (n * V >= (1 << 15))
    for (int64_t r = 0; r < n; r++) {
        const kds_ref tr = sparse_ref(t, r);
        rows[r] = sparse_stats(s + r * V, &tr, V, cfg->temperature);
        div[r] = rows[r].state == 1 ? sparse_div(s + r * V, &tr, cfg, &rows[r]) : 0.0;
    }
    double sum = 0.0;
    int64_t cnt = 0;
    int bad = 0;
    for (int64_t r = 0; r < n; r++) {
        if (rows[r].state < 0) bad = 1;
        if (rows[r].state != 1) continue;
        sum += div[r];
        cnt++;
    }
    const double T = cfg->temperature;
    const double loss = bad ? NAN : cnt ? T * T * sum / (double)cnt : 0.0;
    if (ds && cnt && !bad) {
        const double scale = (double)dloss * T / (double)cnt;   /* T²/N · ∂z/∂s = T/N */
        #pragma omp parallel for schedule(static) if (n * V >= (1 << 15))
        for (int64_t r = 0; r < n; r++) {
            const kds_ref tr = sparse_ref(t, r);
            if (rows[r].state == 1) sparse_grad(ds + r * V, s + r * V, &tr, V, cfg, &rows[r], div[r], scale);
        }
    }
    free(rows);
    free(div);
    return loss;
}

double rk_kd_loss_sparse(const float *student, const rk_kd_sparse *teacher, int64_t n, int64_t vocab, const rk_kd_cfg *cfg) {
    return kds_run(NULL, student, teacher, n, vocab, cfg, 0.0f);
}

double rk_kd_loss_sparse_backward(float *dstudent, const float *student, const rk_kd_sparse *teacher, int64_t n,
                                  int64_t vocab, const rk_kd_cfg *cfg, float dloss) {
    if (!dstudent) return NAN;
    return kds_run(dstudent, student, teacher, n, vocab, cfg, dloss);
}
