/* tests/distill/test_kd_sparse.c — distill/kd_loss.c, sparse teacher (top-k + rest): with every id kept and no
 * rest it is the dense loss and gradient (masked entries too, T 0.5 .. 2); with k < vocab it is the dense loss
 * between the bucket-merged distributions (an independent forward KL at T = 1, and rk_kd_loss on merged rows
 * for every kind at T = 1 and 2); gradients against central finite differences for every kind at T = 0.5, 1
 * and 2 with masked entries, rows without a rest and an uncounted row; the rest's mass is exact where
 * 1 − Σ kept would cancel; bit-identical results with 1 and 2 OpenMP threads; k = 0; invalid input is NaN
 * and leaves the gradient alone. */
#include <check.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "distill/kd_loss.h"
#include "tests/common/rk_test.h"

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static float frand(void) {
    g_rng ^= g_rng << 13; g_rng ^= g_rng >> 7; g_rng ^= g_rng << 17;
    return (float)((g_rng >> 40) * 0x1p-24 * 2.0 - 1.0);
}

static const rk_kd_cfg base_cfgs[] = {
    {RK_KD_FORWARD_KL, 1.0, 0.0}, {RK_KD_REVERSE_KL, 1.0, 0.0},
    {RK_KD_JSD, 1.0, 0.1}, {RK_KD_JSD, 1.0, 0.5}, {RK_KD_JSD, 1.0, 0.9},
};
enum { NCFG = sizeof base_cfgs / sizeof base_cfgs[0] };

/* log-softmax of a row in double */
static void log_softmax(const float *x, int V, double T, double *out) {
    double m = -INFINITY, s = 0.0;
    for (int i = 0; i < V; i++) if (x[i] / T > m) m = x[i] / T;
    for (int i = 0; i < V; i++) s += exp(x[i] / T - m);
    for (int i = 0; i < V; i++) out[i] = x[i] / T - m - log(s);
}

/* a sparse row from teacher logits t[V]: the k ids with the largest logits (ties: lower id), ascending, their
 * log-probabilities at T = 1 and the rest's log mass (a log-sum-exp in double) */
static void make_sparse(const float *t, int V, int k, int32_t *ids, float *lp, float *lrest) {
    double l[512];
    char kept[512] = {0};
    log_softmax(t, V, 1.0, l);
    for (int n = 0; n < k; n++) {
        int best = -1;
        for (int i = 0; i < V; i++) if (!kept[i] && (best < 0 || t[i] > t[best])) best = i;
        kept[best] = 1;
    }
    double m = -INFINITY, s = 0.0;
    for (int i = 0, n = 0; i < V; i++) {
        if (kept[i]) { ids[n] = i; lp[n++] = (float)l[i]; }
        else if (l[i] > m) m = l[i];
    }
    for (int i = 0; i < V; i++) if (!kept[i] && m > -INFINITY) s += exp(l[i] - m);
    *lrest = m > -INFINITY ? (float)(m + log(s)) : -INFINITY;
}

START_TEST(dense_equiv) {
    enum { N = 5, V = 13 };
    const double temps[] = {0.5, 1.0, 2.0};
    float s[N * V], t[N * V], lp[N * V], rest[N];
    int32_t ids[N * V];
    for (int i = 0; i < N * V; i++) { s[i] = 4.0f * frand(); t[i] = 4.0f * frand(); }
    for (int r = 0; r < N; r++) {
        double l[V];
        log_softmax(t + r * V, V, 1.0, l);
        for (int i = 0; i < V; i++) { ids[r * V + i] = i; lp[r * V + i] = (float)l[i]; }
        rest[r] = -INFINITY;
    }
    lp[1 * V + 3] = lp[1 * V + 7] = -INFINITY;              /* masked entries */
    for (int i = 0; i < V; i++) lp[4 * V + i] = -INFINITY;    /* an all-masked row: not counted */
    for (int c = 0; c < NCFG; c++)
        for (int ti = 0; ti < 3; ti++) {
            rk_kd_cfg cfg = base_cfgs[c];
            cfg.temperature = temps[ti];
            for (int with_rest = 0; with_rest < 2; with_rest++) {
                const rk_kd_sparse sp = {V, ids, lp, with_rest ? rest : NULL};
                float gd[N * V], gs[N * V];
                for (int i = 0; i < N * V; i++) gd[i] = gs[i] = frand();   /* both accumulate */
                const double Ld = rk_kd_loss_backward(gd, s, lp, N, V, &cfg, 0.7f);
                const double Ls = rk_kd_loss_sparse_backward(gs, s, &sp, N, V, &cfg, 0.7f);
                ck_assert(isfinite(Ld) && Ld > 0);
                ck_assert_msg(fabs(Ls - Ld) <= 1e-6 * Ld, "kind %d T %g: sparse %.12g dense %.12g", cfg.kind,
                              cfg.temperature, Ls, Ld);
                ck_assert(Ls == rk_kd_loss_sparse(s, &sp, N, V, &cfg));
                rk_assert_allclose(gs, gd, N * V, 1e-7, 1e-6);
            }
        }
}
END_TEST

/* k < V: the dense loss between the merged distributions (student merged at temperature T, teacher bucket logits) */
START_TEST(merged) {
    enum { N = 4, V = 11, K = 4 };
    float s[N * V], t[N * V], lp[N * K], rest[N];
    int32_t ids[N * K];
    for (int i = 0; i < N * V; i++) { s[i] = 3.0f * frand(); t[i] = 3.0f * frand(); }
    for (int r = 0; r < N; r++) make_sparse(t + r * V, V, K, ids + r * K, lp + r * K, rest + r);
    const rk_kd_sparse sp = {K, ids, lp, rest};
    /* forward KL at T = 1, computed by hand from the full distributions */
    double want = 0.0;
    for (int r = 0; r < N; r++) {
        double p[V], q[V], pr = 0, qr = 0, d = 0;
        log_softmax(t + r * V, V, 1.0, p);
        log_softmax(s + r * V, V, 1.0, q);
        for (int i = 0, n = 0; i < V; i++) {
            if (n < K && ids[r * K + n] == i) { d += exp(p[i]) * (p[i] - q[i]); n++; }
            else pr += exp(p[i]), qr += exp(q[i]);
        }
        want += d + pr * log(pr / qr);
    }
    want /= N;
    const rk_kd_cfg fk = {RK_KD_FORWARD_KL, 1.0, 0};
    const double got = rk_kd_loss_sparse(s, &sp, N, V, &fk);
    ck_assert_msg(fabs(got - want) <= 1e-6 * want, "merged forward KL %.12g, by hand %.12g", got, want);
    /* every kind at T = 1 and 2 against rk_kd_loss on [N, K+1] merged rows */
    for (int c = 0; c < NCFG; c++)
        for (double T = 1.0; T <= 2.0; T += 1.0) {
            rk_kd_cfg cfg = base_cfgs[c];
            cfg.temperature = T;
            float ms[N * (K + 1)], mt[N * (K + 1)];
            for (int r = 0; r < N; r++) {
                double q[V], qr = 0;
                log_softmax(s + r * V, V, T, q);
                for (int i = 0, n = 0; i < V; i++) {
                    if (n < K && ids[r * K + n] == i) ms[r * (K + 1) + n++] = (float)(T * q[i]);
                    else qr += exp(q[i]);
                }
                ms[r * (K + 1) + K] = (float)(T * log(qr));   /* rk_kd_loss divides by T again */
                for (int n = 0; n < K; n++) mt[r * (K + 1) + n] = lp[r * K + n];
                mt[r * (K + 1) + K] = rest[r];
            }
            const double d = rk_kd_loss(ms, mt, N, K + 1, &cfg), L = rk_kd_loss_sparse(s, &sp, N, V, &cfg);
            ck_assert_msg(fabs(L - d) <= 1e-5 * d, "kind %d beta %g T %g: sparse %.10g, merged dense %.10g", cfg.kind,
                          cfg.beta, T, L, d);
        }
}
END_TEST

START_TEST(grad_fd) {
    enum { N = 5, V = 9, K = 3 };
    const double temps[] = {0.5, 1.0, 2.0};
    for (int c = 0; c < NCFG; c++)
        for (int ti = 0; ti < 3; ti++) {
            rk_kd_cfg cfg = base_cfgs[c];
            cfg.temperature = temps[ti];
            float s[N * V], t[N * V], lp[N * K], rest[N], g[N * V], g0[N * V];
            int32_t ids[N * K];
            for (int i = 0; i < N * V; i++) { s[i] = 3.0f * frand(); t[i] = 3.0f * frand(); g0[i] = frand(); }
            for (int r = 0; r < N; r++) make_sparse(t + r * V, V, K, ids + r * K, lp + r * K, rest + r);
            lp[1 * K + 1] = -INFINITY;                                  /* a masked entry */
            rest[2] = -INFINITY;                                        /* no rest: renormalised over the kept */
            for (int i = 0; i < K; i++) lp[3 * K + i] = -INFINITY;      /* rest only */
            for (int i = 0; i < K; i++) lp[4 * K + i] = -INFINITY;      /* nothing: not counted */
            rest[4] = -INFINITY;
            const rk_kd_sparse sp = {K, ids, lp, rest};
            memcpy(g, g0, sizeof g);
            const float dl = 1.3f;
            const double L = rk_kd_loss_sparse_backward(g, s, &sp, N, V, &cfg, dl);
            ck_assert(isfinite(L) && L >= 0.0);
            int bad = 0, first = -1;
            double fdf = 0, gf = 0, worst = 0;
            for (int j = 0; j < N * V; j++) {
                const float keep = s[j];
                s[j] = keep + 1e-3f;
                const double hp = (double)s[j] - keep, lpl = rk_kd_loss_sparse(s, &sp, N, V, &cfg);
                s[j] = keep - 1e-3f;
                const double hm = keep - (double)s[j], lml = rk_kd_loss_sparse(s, &sp, N, V, &cfg);
                s[j] = keep;
                const double fd = dl * (lpl - lml) / (hp + hm), gj = (double)g[j] - g0[j];
                const double e = fabs(fd - gj);
                if (e > worst) worst = e;
                if (!(e <= 2e-5 + 2e-4 * fabs(gj))) {
                    if (first < 0) first = j, fdf = fd, gf = gj;
                    bad++;
                }
            }
            ck_assert_msg(bad == 0, "kind %d T %g beta %g: %d bad (first [%d] fd %.8g vs %.8g), max err %.3g", cfg.kind,
                          cfg.temperature, cfg.beta, bad, first, fdf, gf, worst);
            /* ignored logits get nothing: row 1's masked id, row 2's not-kept ids, all of row 4 */
            ck_assert(g[1 * V + ids[1 * K + 1]] == g0[1 * V + ids[1 * K + 1]]);
            for (int i = 0, n = 0; i < V; i++) {
                if (n < K && ids[2 * K + n] == i) { n++; continue; }
                ck_assert(g[2 * V + i] == g0[2 * V + i]);
            }
            for (int i = 0; i < V; i++) ck_assert(g[4 * V + i] == g0[4 * V + i]);
        }
}
END_TEST

/* The rest's mass is a log-sum-exp over the not-kept ids: exact where 1 − Σ kept is 0 in any precision. */
START_TEST(rest_exact) {
    const float s[4] = {0.0f, -40.0f, -40.0f, -40.0f};
    const int32_t ids[1] = {0};
    const float lp[1] = {(float)log(0.5)}, rest[1] = {(float)log(0.5)};
    const rk_kd_sparse sp = {1, ids, lp, rest};
    const double lqr = log(3.0) - 40.0 - log1p(3.0 * exp(-40.0)), lq0 = -log1p(3.0 * exp(-40.0));
    const double want = 0.5 * (log(0.5) - lq0) + 0.5 * (log(0.5) - lqr);
    const rk_kd_cfg fk = {RK_KD_FORWARD_KL, 1.0, 0};
    const double got = rk_kd_loss_sparse(s, &sp, 1, 4, &fk);
    ck_assert_msg(fabs(got - want) <= 1e-6 * want, "%.12g vs %.12g", got, want);
    /* gradient: each rest id gets a third of the rest bucket's q − p = q_rest − 0.5 */
    float g[4] = {0};
    rk_kd_loss_sparse_backward(g, s, &sp, 1, 4, &fk, 1.0f);
    for (int i = 1; i < 4; i++) ck_assert_msg(fabs(g[i] - (exp(lqr) - 0.5) / 3.0) < 1e-7, "g[%d] = %g", i, g[i]);
    ck_assert(fabs(g[0] - (exp(lq0) - 0.5)) < 1e-7);
}
END_TEST

START_TEST(threads) {
    enum { N = 64, V = 1024, K = 16 };
    float *s = malloc(sizeof(float) * N * V), *lp = malloc(sizeof(float) * N * K), rest[N];
    int32_t *ids = malloc(sizeof(int32_t) * N * K);
    float *g1 = calloc(N * V, sizeof(float)), *g2 = calloc(N * V, sizeof(float));
    ck_assert(s && lp && ids && g1 && g2);
    for (int i = 0; i < N * V; i++) s[i] = 4.0f * frand();
    for (int r = 0; r < N; r++) {
        double sum = 0;
        for (int n = 0; n < K; n++) {
            ids[r * K + n] = n * 61 + r % 7;
            lp[r * K + n] = -3.0f - (float)n * 0.1f + 0.5f * frand();
            sum += exp(lp[r * K + n]);
        }
        rest[r] = (float)log1p(-sum);
    }
    const rk_kd_sparse sp = {K, ids, lp, rest};
    const int nthr = omp_get_max_threads();
    for (int c = 0; c < NCFG; c++) {
        rk_kd_cfg cfg = base_cfgs[c];
        cfg.temperature = 2.0;
        memset(g1, 0, sizeof(float) * N * V);
        memset(g2, 0, sizeof(float) * N * V);
        omp_set_num_threads(1);
        const double a = rk_kd_loss_sparse_backward(g1, s, &sp, N, V, &cfg, 1.0f);
        omp_set_num_threads(2);
        const double b = rk_kd_loss_sparse_backward(g2, s, &sp, N, V, &cfg, 1.0f);
        ck_assert(isfinite(a));
        ck_assert_msg(memcmp(&a, &b, sizeof a) == 0, "kind %d: %.17g vs %.17g", cfg.kind, a, b);
        ck_assert(memcmp(g1, g2, sizeof(float) * N * V) == 0);
        /* the serial row-order mean of single-row calls */
        double sum = 0;
        for (int r = 0; r < N; r++) {
            const rk_kd_sparse one = {K, ids + r * K, lp + r * K, rest + r};
            sum += rk_kd_loss_sparse(s + r * V, &one, 1, V, &cfg) / 4.0;
        }
        ck_assert_msg(fabs(a - 4.0 * sum / N) <= 1e-12 * a, "%.17g vs %.17g", a, 4.0 * sum / N);
    }
    omp_set_num_threads(nthr);
    free(s), free(lp), free(ids), free(g1), free(g2);
}
END_TEST

START_TEST(k_zero) {
    const float s[3] = {1, 2, 3};
    const float rest[2] = {0.0f, -INFINITY};
    float g[3] = {0};
    const rk_kd_cfg cfg = {RK_KD_JSD, 2.0, 0.5};
    const rk_kd_sparse one = {0, NULL, NULL, rest}, none = {0, NULL, NULL, rest + 1};
    ck_assert(rk_kd_loss_sparse_backward(g, s, &one, 1, 3, &cfg, 1.0f) == 0.0);   /* one bucket on both sides */
    ck_assert(rk_kd_loss_sparse(s, &none, 1, 3, &cfg) == 0.0);                  /* no bucket: not counted */
    for (int i = 0; i < 3; i++) ck_assert(fabs(g[i]) < 1e-12);
}
END_TEST

START_TEST(bad_input) {
    enum { V = 5, K = 3 };
    const float s[2 * V] = {0, 1, 2, 3, 4, 4, 3, 2, 1, 0};
    const rk_kd_cfg cfg = {RK_KD_FORWARD_KL, 1.0, 0};
    const float lp_ok[2 * K] = {-1, -2, -3, -1, -2, -3};
    const float rest_ok[2] = {-1, -1};
    const int32_t ids_ok[2 * K] = {0, 2, 4, 1, 2, 3};
    const rk_kd_sparse ok = {K, ids_ok, lp_ok, rest_ok};
    ck_assert(isfinite(rk_kd_loss_sparse(s, &ok, 2, V, &cfg)));
    struct { int32_t ids[2 * K]; float lp[2 * K]; float rest[2]; int64_t k; } bad[] = {
        {{0, 2, 4, 1, 3, 2}, {-1, -2, -3, -1, -2, -3}, {-1, -1}, K},   /* not ascending */
        {{0, 2, 4, 1, 1, 3}, {-1, -2, -3, -1, -2, -3}, {-1, -1}, K},   /* duplicate */
        {{0, 2, 5, 1, 2, 3}, {-1, -2, -3, -1, -2, -3}, {-1, -1}, K},   /* out of range */
        {{-1, 2, 4, 1, 2, 3}, {-1, -2, -3, -1, -2, -3}, {-1, -1}, K},
        {{0, 2, 4, 1, 2, 3}, {-1, NAN, -3, -1, -2, -3}, {-1, -1}, K},  /* NaN */
        {{0, 2, 4, 1, 2, 3}, {-1, -2, -3, -1, INFINITY, -3}, {-1, -1}, K},
        {{0, 2, 4, 1, 2, 3}, {-1, -2, -3, -1, -2, -3}, {-1, NAN}, K},
        {{0, 2, 4, 1, 2, 3}, {-1, -2, -3, -1, -2, -3}, {INFINITY, -1}, K},
        {{0, 2, 4, 1, 2, 3}, {-1, -2, -3, -1, -2, -3}, {-1, -1}, -1},  /* k < 0 */
        {{0, 2, 4, 1, 2, 3}, {-1, -2, -3, -1, -2, -3}, {-1, -1}, V + 1},
    };
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
        const rk_kd_sparse sp = {bad[b].k, bad[b].ids, bad[b].lp, bad[b].rest};
        float g[2 * V] = {0};
        ck_assert_msg(isnan(rk_kd_loss_sparse(s, &sp, 2, V, &cfg)), "case %zu", b);
        ck_assert_msg(isnan(rk_kd_loss_sparse_backward(g, s, &sp, 2, V, &cfg, 1.0f)), "case %zu", b);
        for (int i = 0; i < 2 * V; i++) ck_assert_msg(g[i] == 0.0f, "case %zu wrote g[%d]", b, i);
    }
    /* a finite rest with every id kept; NaN in the student (even on an ignored id); +inf on a bucket */
    int32_t all[V] = {0, 1, 2, 3, 4};
    float lpa[V] = {-1, -2, -3, -4, -5}, r1 = -1.0f;
    const rk_kd_sparse full = {V, all, lpa, &r1};
    ck_assert(isnan(rk_kd_loss_sparse(s, &full, 1, V, &cfg)));
    float sn[2 * V];
    memcpy(sn, s, sizeof sn);
    sn[1] = NAN;
    ck_assert(isnan(rk_kd_loss_sparse(sn, &ok, 2, V, &cfg)));
    sn[1] = INFINITY;
    ck_assert(isnan(rk_kd_loss_sparse(sn, &ok, 2, V, &cfg)));   /* id 1 is in row 0's rest */
    const rk_kd_cfg badc = {RK_KD_JSD, 1.0, 1.0};
    ck_assert(isnan(rk_kd_loss_sparse(s, &ok, 2, V, &badc)));
    ck_assert(isnan(rk_kd_loss_sparse(NULL, &ok, 2, V, &cfg)) && isnan(rk_kd_loss_sparse(s, NULL, 2, V, &cfg)));
    ck_assert(isnan(rk_kd_loss_sparse_backward(NULL, s, &ok, 2, V, &cfg, 1.0f)));
    ck_assert(isnan(rk_kd_loss_sparse(s, &ok, 2, 0, &cfg)));
    ck_assert(rk_kd_loss_sparse(s, &ok, 0, V, &cfg) == 0.0);
}
END_TEST

Suite *make_suite(void) {
    Suite *s = suite_create("distill");
    TCase *tc = tcase_create("kd_sparse");
    tcase_add_test(tc, dense_equiv);
    tcase_add_test(tc, merged);
    tcase_add_test(tc, grad_fd);
    tcase_add_test(tc, rest_exact);
    tcase_add_test(tc, threads);
    tcase_add_test(tc, k_zero);
    tcase_add_test(tc, bad_input);
    suite_add_tcase(s, tc);
    return s;
}

RK_TEST_MAIN()
