/* tests/distill/test_kd_loss.c — distill/kd_loss.c: gradients against central finite differences (the loss is
 * returned in double from f32 logits, h = 1e-3, |fd − g| <= 2e-5 + 2e-4·|g|), for every kind, temperatures
 * 0.5 .. 4 and β 0.1 / 0.5 / 0.9, with masked teacher entries and an all-masked row; the backward accumulates
 * and leaves masked entries alone; KL(p||p) = 0 with gradient 0; hand-computed values on a 3-token vocabulary
 * (also at T = 2 and with a mask); the JSD's β → 0 / β → 1 limits; extreme logits stay finite; bad configs. */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "distill/kd_loss.h"
#include "tests/common/rk_test.h"

static uint64_t g_rng = 0x243F6A8885A308D3ull;
static float frand(void) {
    g_rng ^= g_rng << 13; g_rng ^= g_rng >> 7; g_rng ^= g_rng << 17;
    return (float)((g_rng >> 40) * 0x1p-24 * 2.0 - 1.0);
}

static const rk_kd_cfg *cfgs(int *count) {
    static const rk_kd_cfg c[] = {
        {RK_KD_FORWARD_KL, 1.0, 0.0}, {RK_KD_REVERSE_KL, 1.0, 0.0},
        {RK_KD_JSD, 1.0, 0.1}, {RK_KD_JSD, 1.0, 0.5}, {RK_KD_JSD, 1.0, 0.9},
    };
    *count = (int)(sizeof c / sizeof c[0]);
    return c;
}

START_TEST(grad_fd) {
    enum { N = 4, V = 7 };
    const double temps[] = {0.5, 1.0, 2.0, 4.0};
    int nc;
    const rk_kd_cfg *base = cfgs(&nc);
    for (int ci = 0; ci < nc; ci++)
        for (int ti = 0; ti < 4; ti++) {
            rk_kd_cfg c = base[ci];
            c.temperature = temps[ti];
            float s[N * V], t[N * V], g[N * V], g0[N * V];
            for (int i = 0; i < N * V; i++) { s[i] = 3.0f * frand(); t[i] = 3.0f * frand(); g0[i] = frand(); }
            t[1 * V + 2] = t[1 * V + 5] = -INFINITY;                 /* masked entries */
            for (int i = 0; i < V; i++) t[3 * V + i] = -INFINITY;    /* all-masked row: not counted */
            memcpy(g, g0, sizeof g);
            const float dl = 1.7f;
            const double L = rk_kd_loss_backward(g, s, t, N, V, &c, dl);
            ck_assert(isfinite(L) && L >= 0.0);
            ck_assert(L == rk_kd_loss(s, t, N, V, &c));
            int bad = 0, first = -1;
            double worst = 0.0, fdf = 0.0, gf = 0.0;
            for (int j = 0; j < N * V; j++) {
                const float keep = s[j];
                s[j] = keep + 1e-3f;
                const double hp = (double)s[j] - keep, lp = rk_kd_loss(s, t, N, V, &c);
                s[j] = keep - 1e-3f;
                const double hm = keep - (double)s[j], lm = rk_kd_loss(s, t, N, V, &c);
                s[j] = keep;
                const double fd = dl * (lp - lm) / (hp + hm), gj = (double)g[j] - g0[j];
                const int masked = t[j] == -INFINITY;
                if (masked) ck_assert_msg(g[j] == g0[j], "masked entry %d got a gradient", j);
                const double e = fabs(fd - gj);
                if (e > worst) worst = e;
                if (!(e <= 2e-5 + 2e-4 * fabs(gj))) {
                    if (first < 0) { first = j; fdf = fd; gf = gj; }
                    bad++;
                }
            }
            ck_assert_msg(bad == 0, "kind %d T %g beta %g: %d bad (first [%d] fd %.8g vs %.8g), max err %.3g", c.kind,
                          c.temperature, c.beta, bad, first, fdf, gf, worst);
        }
}
END_TEST

START_TEST(self_zero) {
    enum { N = 3, V = 11 };
    int nc;
    const rk_kd_cfg *base = cfgs(&nc);
    float s[N * V];
    for (int i = 0; i < N * V; i++) s[i] = 5.0f * frand();
    s[4] = -INFINITY;   /* teacher (= student) masked entry */
    for (int ci = 0; ci < nc; ci++)
        for (double T = 0.5; T <= 4.0; T *= 2.0) {
            rk_kd_cfg c = base[ci];
            c.temperature = T;
            float g[N * V] = {0};
            const double L = rk_kd_loss_backward(g, s, s, N, V, &c, 1.0f);
            ck_assert_msg(fabs(L) <= 1e-12, "kind %d T %g: KL(p||p) = %g", c.kind, T, L);
            for (int i = 0; i < N * V; i++) ck_assert_msg(fabs(g[i]) <= 1e-10, "kind %d: g[%d] = %g", c.kind, i, g[i]);
        }
}
END_TEST

static double kl3(const double *a, const double *b, int n) {
    double d = 0.0;
    for (int i = 0; i < n; i++) d += a[i] > 0 ? a[i] * log(a[i] / b[i]) : 0.0;
    return d;
}

START_TEST(hand_values) {
    const double p[3] = {0.7, 0.2, 0.1}, q[3] = {0.2, 0.3, 0.5};
    for (int ti = 0; ti < 2; ti++) {
        const double T = ti ? 2.0 : 1.0;
        float t[3], s[3];
        for (int i = 0; i < 3; i++) { t[i] = (float)(T * log(p[i])); s[i] = (float)(T * log(q[i]) + 0.75); }
        const double fwd = 0.7 * log(0.7 / 0.2) + 0.2 * log(0.2 / 0.3) + 0.1 * log(0.1 / 0.5);
        const double rev = 0.2 * log(0.2 / 0.7) + 0.3 * log(0.3 / 0.2) + 0.5 * log(0.5 / 0.1);
        const double m[3] = {0.45, 0.25, 0.30};   /* β = 0.5 */
        const double jsd = 0.5 * (0.7 * log(0.7 / 0.45) + 0.2 * log(0.2 / 0.25) + 0.1 * log(0.1 / 0.30)) +
                           0.5 * (0.2 * log(0.2 / 0.45) + 0.3 * log(0.3 / 0.25) + 0.5 * log(0.5 / 0.30));
        ck_assert(fabs(jsd - 0.5 * kl3(p, m, 3) - 0.5 * kl3(q, m, 3)) < 1e-15);
        const rk_kd_cfg cf = {RK_KD_FORWARD_KL, T, 0}, cr = {RK_KD_REVERSE_KL, T, 0}, cj = {RK_KD_JSD, T, 0.5};
        const double lf = rk_kd_loss(s, t, 1, 3, &cf), lr = rk_kd_loss(s, t, 1, 3, &cr), lj = rk_kd_loss(s, t, 1, 3, &cj);
        ck_assert_msg(fabs(lf - T * T * fwd) <= 1e-6 * T * T * fwd, "fwd T %g: %.10g vs %.10g", T, lf, T * T * fwd);
        ck_assert_msg(fabs(lr - T * T * rev) <= 1e-6 * T * T * rev, "rev T %g: %.10g vs %.10g", T, lr, T * T * rev);
        ck_assert_msg(fabs(lj - T * T * jsd) <= 1e-6 * T * T * jsd, "jsd T %g: %.10g vs %.10g", T, lj, T * T * jsd);
        /* forward KL gradient: T·(q − p) */
        float g[3] = {0};
        rk_kd_loss_backward(g, s, t, 1, 3, &cf, 1.0f);
        for (int i = 0; i < 3; i++) ck_assert(fabs(g[i] - T * (q[i] - p[i])) < 1e-6);
    }
    /* mask: teacher [0, 0, -inf] → p = (.5, .5); student renormalized over the first two: q = (.25, .75); the
     * student's third logit (100) is ignored. A second, all-masked row is not counted in the mean. */
    const float t2[6] = {0.0f, 0.0f, -INFINITY, -INFINITY, -INFINITY, -INFINITY};
    const float s2[6] = {0.0f, (float)log(3.0), 100.0f, 1.0f, 2.0f, 3.0f};
    const rk_kd_cfg cf = {RK_KD_FORWARD_KL, 1.0, 0}, cr = {RK_KD_REVERSE_KL, 1.0, 0};
    const double ef = 0.5 * log(0.5 / 0.25) + 0.5 * log(0.5 / 0.75), er = 0.25 * log(0.5) + 0.75 * log(1.5);
    ck_assert(fabs(rk_kd_loss(s2, t2, 2, 3, &cf) - ef) < 1e-7);
    ck_assert(fabs(rk_kd_loss(s2, t2, 2, 3, &cr) - er) < 1e-7);
    ck_assert(rk_kd_loss(s2 + 3, t2 + 3, 1, 3, &cf) == 0.0);   /* nothing counted */
}
END_TEST

START_TEST(jsd_limits) {
    enum { N = 2, V = 9 };
    float s[N * V], t[N * V];
    for (int i = 0; i < N * V; i++) { s[i] = 2.0f * frand(); t[i] = 2.0f * frand(); }
    const rk_kd_cfg cf = {RK_KD_FORWARD_KL, 1.5, 0}, cr = {RK_KD_REVERSE_KL, 1.5, 0};
    const rk_kd_cfg j0 = {RK_KD_JSD, 1.5, 1e-4}, j1 = {RK_KD_JSD, 1.5, 1.0 - 1e-4};
    const double f = rk_kd_loss(s, t, N, V, &cf), r = rk_kd_loss(s, t, N, V, &cr);
    const double a = rk_kd_loss(s, t, N, V, &j0) / 1e-4, b = rk_kd_loss(s, t, N, V, &j1) / 1e-4;
    ck_assert_msg(fabs(a - f) <= 1e-3 * f, "JSD/beta %g vs forward KL %g", a, f);
    ck_assert_msg(fabs(b - r) <= 1e-3 * r, "JSD/(1-beta) %g vs reverse KL %g", b, r);
}
END_TEST

START_TEST(extreme_finite) {
    enum { V = 6 };
    const float big[] = {1e4f, 1e30f, FLT_MAX / 4};
    const double temps[] = {0.25, 1.0, 8.0};
    int nc;
    const rk_kd_cfg *base = cfgs(&nc);
    for (int bi = 0; bi < 3; bi++) {
        const float B = big[bi];
        const float s[3 * V] = {B, -B, 0, 1, -1, B,        -B, -B, B, 0, 0, 0,    0, 0, 0, 0, 0, -B};
        const float t[3 * V] = {-B, B, -INFINITY, 0, B, -B,  B, -INFINITY, -B, 0, 1, 2,  -INFINITY, -INFINITY, B, 0, -B, -INFINITY};
        for (int ci = 0; ci < nc; ci++)
            for (int ti = 0; ti < 3; ti++) {
                rk_kd_cfg c = base[ci];
                c.temperature = temps[ti];
                float g[3 * V] = {0};
                const double L = rk_kd_loss_backward(g, s, t, 3, V, &c, 1.0f);
                ck_assert_msg(isfinite(L) && L >= 0.0, "B %g kind %d T %g: loss %g", B, c.kind, c.temperature, L);
                if (bi < 2)   /* at FLT_MAX/4 the true gradient itself can exceed the f32 range */
                    for (int i = 0; i < 3 * V; i++)
                        ck_assert_msg(isfinite(g[i]), "B %g kind %d T %g: g[%d] = %g", B, c.kind, c.temperature, i, g[i]);
                else
                    for (int i = 0; i < 3 * V; i++) ck_assert(g[i] == g[i]);
            }
    }
}
END_TEST

START_TEST(bad_args) {
    const float s[3] = {0, 1, 2}, t[3] = {2, 1, 0};
    float g[3] = {0};
    const rk_kd_cfg bad[] = {
        {RK_KD_FORWARD_KL, 0.0, 0}, {RK_KD_FORWARD_KL, -1.0, 0}, {RK_KD_REVERSE_KL, NAN, 0},
        {RK_KD_REVERSE_KL, INFINITY, 0}, {RK_KD_JSD, 1.0, 0.0}, {RK_KD_JSD, 1.0, 1.0}, {RK_KD_JSD, 1.0, NAN}, {7, 1.0, 0.5},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert(!rk_kd_cfg_valid(&bad[i]));
        ck_assert(isnan(rk_kd_loss(s, t, 1, 3, &bad[i])));
        ck_assert(isnan(rk_kd_loss_backward(g, s, t, 1, 3, &bad[i], 1.0f)));
    }
    for (int i = 0; i < 3; i++) ck_assert(g[i] == 0.0f);
    const rk_kd_cfg ok = {RK_KD_FORWARD_KL, 1.0, 0};
    ck_assert(!rk_kd_cfg_valid(NULL));
    ck_assert(isnan(rk_kd_loss(NULL, t, 1, 3, &ok)) && isnan(rk_kd_loss(s, NULL, 1, 3, &ok)));
    ck_assert(isnan(rk_kd_loss(s, t, 1, 0, &ok)) && isnan(rk_kd_loss(s, t, 1, 3, NULL)));
    ck_assert(isnan(rk_kd_loss_backward(NULL, s, t, 1, 3, &ok, 1.0f)));
    ck_assert(rk_kd_loss(s, t, 0, 3, &ok) == 0.0);
    const float tn[3] = {0, NAN, 1}, ti[3] = {0, INFINITY, 1};
    ck_assert(isnan(rk_kd_loss(s, tn, 1, 3, &ok)) && isnan(rk_kd_loss(s, ti, 1, 3, &ok)));
}
END_TEST

/* Above the OpenMP threshold: the loss equals the serial row-order mean of single-row calls' divergences. */
START_TEST(many_rows) {
    enum { N = 64, V = 1024 };
    float *s = malloc(sizeof(float) * N * V), *t = malloc(sizeof(float) * N * V);
    for (int i = 0; i < N * V; i++) { s[i] = 4.0f * frand(); t[i] = 4.0f * frand(); }
    const rk_kd_cfg c = {RK_KD_JSD, 2.0, 0.3};
    double sum = 0.0;
    for (int r = 0; r < N; r++) sum += rk_kd_loss(s + r * V, t + r * V, 1, V, &c) / 4.0;
    const double L = rk_kd_loss(s, t, N, V, &c);
    ck_assert_msg(fabs(L - 4.0 * sum / N) <= 1e-12 * L, "%.17g vs %.17g", L, 4.0 * sum / N);
    free(s);
    free(t);
}
END_TEST

Suite *make_suite(void) {
    Suite *s = suite_create("distill");
    TCase *tc = tcase_create("kd_loss");
    tcase_add_test(tc, grad_fd);
    tcase_add_test(tc, self_zero);
    tcase_add_test(tc, hand_values);
    tcase_add_test(tc, jsd_limits);
    tcase_add_test(tc, extreme_finite);
    tcase_add_test(tc, bad_args);
    tcase_add_test(tc, many_rows);
    suite_add_tcase(s, tc);
    return s;
}

RK_TEST_MAIN()
