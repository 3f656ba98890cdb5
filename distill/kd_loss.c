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
