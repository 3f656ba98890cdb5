/* tests/model/test_train_parity.c — one full training step against PyTorch autograd + torch.optim.AdamW
 * (golden fixtures from tests/reference/make_train_fixtures.py in tests/reference/fixtures_train/<case>/):
 *   loss (CE mean + balance loss) within 1e-6 relative; every gradient tensor within 2e-5 of that tensor's max |g|
 *   (the f32-vs-f64 difference of the reference itself is <= 1.9e-6, train.json); the gradient norm; then clip +
 *   AdamW (decay on matrices only) + the e_score_correction_bias sign update, every parameter within 1e-4 abs
 *   (a first Adam step is lr·g/(|g|+eps): gradients of ~1e-8 magnify f32 noise, see the fixtures' README). */
#define _GNU_SOURCE
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "tests/common/rk_test.h"
#include "model/train.h"
#include "model/optim.h"
#include "formats/safetensors.h"

static char root[1024];
static const char *const CASES[] = { "qwen2", "qwen2_tied", "llama3", "ds_v3", "ds_v3_aux" };

static double jnum(const cJSON *j, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
    ck_assert_msg(cJSON_IsNumber(v), "train.json: no number '%s'", k);
    return v->valuedouble;
}

static void check_tensors(const rk_train *t, const char *path, int grads, double rel, double abs_tol) {
    rk_safetensors *st;
    rk_err err = {0};
    ck_assert_msg(rk_safetensors_open(&st, path, &err) == 0, "%s", err.msg);
    int n_checked = 0;
    double worst = 0;
    const char *worst_name = "";
    for (int i = 0; i < rk_train_n_tensors(t); i++) {
        const rk_tparam *p = rk_train_tensor(t, i);
        if (grads && !p->trainable) continue;
        const rk_st_tensor *s = rk_safetensors_find(st, p->name);
        ck_assert_msg(s && s->dtype == RK_DTYPE_F32 && s->nbytes == (uint64_t)p->n * 4, "%s: '%s' missing or misshapen",
                      path, p->name);
        float *want = malloc(s->nbytes);
        memcpy(want, s->data, s->nbytes);
        const float *got = grads ? p->g : p->w;
        double mx = 0, err_max = 0;
        for (int64_t k = 0; k < p->n; k++) mx = fmax(mx, fabs(want[k]));
        for (int64_t k = 0; k < p->n; k++) err_max = fmax(err_max, fabs((double)got[k] - want[k]));
        const double tol = rel * mx + abs_tol;
        if (err_max / (tol > 0 ? tol : 1) > worst) worst = err_max / (tol > 0 ? tol : 1), worst_name = p->name;
        ck_assert_msg(err_max <= tol, "%s: '%s' max |diff| %.3g > %.3g (max |ref| %.3g)", path, p->name, err_max, tol, mx);
        n_checked++;
        free(want);
    }
    printf("  %s: %d tensors, worst %.2f of tolerance (%s)\n", grads ? "gradients" : "after step", n_checked, worst,
           worst_name);
    rk_safetensors_close(st);
}

START_TEST(step_parity) {
    const char *name = CASES[_i];
    char dir[1100], path[1300];
    snprintf(dir, sizeof dir, "%s/%s", root, name);
    snprintf(path, sizeof path, "%s/train.json", dir);
    size_t n;
    char *txt = (char *)rk_test_read_file(path, &n);
    ck_assert_msg(txt != NULL, "%s missing", path);
    cJSON *j = cJSON_ParseWithLength(txt, n);
    ck_assert(j);
    snprintf(path, sizeof path, "%s/batch.bin", dir);
    uint8_t *b = rk_test_read_file(path, &n);
    ck_assert(b && n >= 16 && !memcmp(b, "RKTB", 4));
    uint32_t h[3];
    memcpy(h, b + 4, sizeof h);
    const int64_t B = h[1], T = h[2];
    ck_assert(n == 16 + 8 * (size_t)(B * T));
    int32_t *in = malloc((size_t)(B * T) * 4), *tg = malloc((size_t)(B * T) * 4);
    memcpy(in, b + 16, (size_t)(B * T) * 4);
    memcpy(tg, b + 16 + 4 * (size_t)(B * T), (size_t)(B * T) * 4);

    rk_train *t;
    rk_err err = {0};
    ck_assert_msg(rk_train_load(&t, dir, &err) == 0, "%s: %s", name, err.msg);
    int64_t nv = 0;
    for (int64_t i = 0; i < B * T; i++) nv += tg[i] >= 0;
    const double alpha = jnum(j, "aux_alpha");
    rk_train_zero_grad(t);
    rk_train_result r;
    ck_assert_int_eq(rk_train_step(t, in, tg, B, T, (float)(1.0 / (double)nv), (float)alpha, &r, &err), 0);
    const double loss = r.ce_sum / (double)r.n_tokens + alpha * r.aux, want_loss = jnum(j, "loss");
    printf("%s: loss %.9f (torch %.9f), aux %.6f (torch %.6f)\n", name, loss, want_loss, r.aux, jnum(j, "aux"));
    ck_assert_msg(fabs(loss - want_loss) <= 1e-6 * want_loss, "%s: loss %.9g vs %.9g", name, loss, want_loss);
    snprintf(path, sizeof path, "%s/grads.safetensors", dir);
    check_tensors(t, path, 1, 2e-5, 1e-9);

    /* clip + AdamW + bias update */
    int64_t np;
    float *w = rk_train_params(t, &np), *g = rk_train_grads(t, NULL);
    float *ptrs[1] = { g };
    int64_t lens[1] = { np };
    const double gn = rk_grad_norm(ptrs, lens, 1);
    ck_assert_msg(fabs(gn - jnum(j, "grad_norm")) <= 1e-5 * gn, "%s: grad norm %.9g vs %.9g", name, gn, jnum(j, "grad_norm"));
    rk_grad_clip(ptrs, lens, 1, gn, jnum(j, "max_norm"));
    rk_adamw_cfg oc = { jnum(j, "lr"), jnum(j, "beta1"), jnum(j, "beta2"), jnum(j, "eps"), jnum(j, "weight_decay") };
    float *m = calloc((size_t)np, sizeof(float)), *v = calloc((size_t)np, sizeof(float));
    for (int i = 0; i < rk_train_n_tensors(t); i++) {
        const rk_tparam *p = rk_train_tensor(t, i);
        if (!p->trainable) continue;
        const int64_t off = p->w - w;
        rk_adamw_update(p->w, p->g, m + off, v + off, p->n, 1, oc.lr, &oc, p->decay);
    }
    rk_train_bias_update(t, jnum(j, "gamma"));
    snprintf(path, sizeof path, "%s/step.safetensors", dir);
    check_tensors(t, path, 0, 0.0, 1e-4);
    free(m); free(v);
    rk_train_free(t);
    free(in); free(tg); free(b); free(txt);
    cJSON_Delete(j);
}
END_TEST

int main(void) {
    const char *src = getenv("RK_SOURCE_DIR");
    snprintf(root, sizeof root, "%s/tests/reference/fixtures_train", src ? src : ".");
    Suite *s = suite_create("train_parity");
    TCase *tc = tcase_create("step");
    tcase_add_loop_test(tc, step_parity, 0, (int)(sizeof CASES / sizeof CASES[0]));
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? 1 : 0;
}
