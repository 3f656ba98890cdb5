/* tests/distill/test_kd_loss_torch.c — distill/kd_loss.c against tests/reference/kd_loss_reference.py (PyTorch
 * float64 log_softmax / kl_div and autograd; Debian's python3-torch, exit 77 otherwise). Every kind, T in
 * {0.5, 1, 2, 4}, β in {0.1, 0.5, 0.9}, rows with masked (-inf) teacher entries and an all-masked row, plus one
 * case above the OpenMP threshold; one Python start for all cases, data through raw little-endian files.
 * Loss and gradient (max|a-b| / max|b|) must agree within 1e-6 relative. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "distill/kd_loss.h"
#include "tests/common/rk_test.h"

typedef struct kd_case { int64_t n, V; rk_kd_cfg c; float *s, *t; } kd_case;

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static float frand(void) {
    g_rng ^= g_rng << 13; g_rng ^= g_rng >> 7; g_rng ^= g_rng << 17;
    return (float)((g_rng >> 40) * 0x1p-24 * 2.0 - 1.0);
}

static void make_case(kd_case *k, int64_t n, int64_t V, rk_kd_cfg c, float scale) {
    k->n = n; k->V = V; k->c = c;
    k->s = malloc(sizeof(float) * (size_t)(n * V));
    k->t = malloc(sizeof(float) * (size_t)(n * V));
    for (int64_t i = 0; i < n * V; i++) { k->s[i] = scale * frand(); k->t[i] = scale * frand(); }
    for (int64_t i = 3; i < V; i += 5) k->t[i] = -INFINITY;                    /* row 0: masked entries */
    if (n > 2) for (int64_t i = 0; i < V; i++) k->t[2 * V + i] = -INFINITY;   /* row 2: all masked */
}

START_TEST(kd_vs_torch) {
    enum { MAXC = 64 };
    kd_case cs[MAXC];
    int nc = 0;
    const double temps[] = {0.5, 1.0, 2.0, 4.0}, betas[] = {0.1, 0.5, 0.9};
    for (int ti = 0; ti < 4; ti++) {
        make_case(&cs[nc++], 5, 37, (rk_kd_cfg){RK_KD_FORWARD_KL, temps[ti], 0}, 6.0f);
        make_case(&cs[nc++], 5, 37, (rk_kd_cfg){RK_KD_REVERSE_KL, temps[ti], 0}, 6.0f);
        for (int bi = 0; bi < 3; bi++) make_case(&cs[nc++], 5, 37, (rk_kd_cfg){RK_KD_JSD, temps[ti], betas[bi]}, 6.0f);
    }
    make_case(&cs[nc++], 40, 1000, (rk_kd_cfg){RK_KD_FORWARD_KL, 2.0, 0}, 10.0f);
    make_case(&cs[nc++], 40, 1000, (rk_kd_cfg){RK_KD_REVERSE_KL, 1.0, 0}, 10.0f);
    make_case(&cs[nc++], 40, 1000, (rk_kd_cfg){RK_KD_JSD, 1.0, 0.5}, 10.0f);

    char *dir = rk_test_tmpdir("kd_torch");
    char in[4096], out[4096], cmd[16384], er[4096];
    snprintf(in, sizeof in, "%.3000s/in.bin", dir);
    snprintf(out, sizeof out, "%.3000s/out.bin", dir);
    FILE *f = fopen(in, "wb");
    ck_assert(f != NULL);
    const int64_t nj = nc;
    ck_assert(fwrite(&nj, 8, 1, f) == 1);
    size_t total = 0;
    for (int i = 0; i < nc; i++) {
        const int64_t h[3] = {cs[i].n, cs[i].V, cs[i].c.kind};
        const double d[2] = {cs[i].c.temperature, cs[i].c.beta};
        const size_t nv = (size_t)(cs[i].n * cs[i].V);
        ck_assert(fwrite(h, 8, 3, f) == 3 && fwrite(d, 8, 2, f) == 2);
        ck_assert(fwrite(cs[i].s, 4, nv, f) == nv && fwrite(cs[i].t, 4, nv, f) == nv);
        total += 1 + nv;
    }
    ck_assert(fclose(f) == 0);
    snprintf(cmd, sizeof cmd, "'%s' '%s/tests/reference/kd_loss_reference.py' '%s' '%s'", rk_test_python(),
             rk_test_source_dir(), in, out);
    const int rc = rk_test_run(cmd, NULL, 0, er, sizeof er);
    ck_assert_msg(rc == 0, "%s: exit %d: %s", cmd, rc, er);
    size_t nb = 0;
    double *ref = (double *)rk_test_read_file(out, &nb);
    ck_assert_msg(ref && nb == total * sizeof(double), "%s: %zu bytes, want %zu", out, nb, total * sizeof(double));

    const double *r = ref;
    for (int i = 0; i < nc; i++) {
        const kd_case *k = &cs[i];
        const size_t nv = (size_t)(k->n * k->V);
        float *g = calloc(nv, sizeof(float)), *gr = malloc(nv * sizeof(float));
        const double L = rk_kd_loss_backward(g, k->s, k->t, k->n, k->V, &k->c, 1.0f);
        for (size_t j = 0; j < nv; j++) gr[j] = (float)r[1 + j];
        const double el = fabs(L - r[0]) / fabs(r[0]), eg = rk_max_rel_err(g, gr, nv);
        printf("kd kind %d T %g beta %g n %lld V %lld: loss %.10g (torch %.10g) rel %.3g, grad rel %.3g\n", k->c.kind,
               k->c.temperature, k->c.beta, (long long)k->n, (long long)k->V, L, r[0], el, eg);
        ck_assert_msg(el <= 1e-6 && eg <= 1e-6, "case %d kind %d T %g beta %g: loss rel %g grad rel %g", i, k->c.kind,
                      k->c.temperature, k->c.beta, el, eg);
        r += 1 + nv;
        free(g);
        free(gr);
    }
    fflush(stdout);
    free(ref);
    rk_test_rmtree(dir);
    free(dir);
    for (int i = 0; i < nc; i++) { free(cs[i].s); free(cs[i].t); }
}
END_TEST

Suite *make_suite(void) {
    Suite *s = suite_create("distill_torch");
    TCase *tc = tcase_create("kd_loss");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, kd_vs_torch);
    suite_add_tcase(s, tc);
    return s;
}

RK_TEST_MAIN_NEEDS_TORCH()
