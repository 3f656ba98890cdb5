/* tests/model/test_parity.c — the engine's logits against the PyTorch reference (tests/reference/
 * reference_models.py, fixtures written by make_fixtures.py into tests/reference/fixtures/<case>/: config.json,
 * model.safetensors, logits.bin). For every fixture: full-sequence logits, token-by-token logits and a
 * prefill + steps run, each within max|a-b| / max|b| <= 1e-4 of the reference. Exits 77 (skipped) when the
 * fixtures folder is absent. */
#define _GNU_SOURCE
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "tests/common/rk_test.h"
#include "model/model.h"
#include "formats/hfconfig.h"

#define PARITY_TOL 1e-4

typedef struct fixture { int32_t *tok; float *logits; int64_t T, V; } fixture;

static int read_fixture(const char *dir, fixture *f) {
    char path[4096];
    snprintf(path, sizeof path, "%s/logits.bin", dir);
    size_t n;
    uint8_t *b = rk_test_read_file(path, &n);
    if (!b) return -1;
    uint32_t h[3];
    ck_assert_msg(n >= 16 && !memcmp(b, "RKLG", 4), "%s: not an RKLG file", path);
    memcpy(h, b + 4, sizeof h);
    ck_assert_msg(h[0] == 1, "%s: version %u", path, h[0]);
    f->T = h[1], f->V = h[2];
    ck_assert_msg(f->T > 0 && f->V > 0 && n == 16 + 4 * (size_t)f->T + 4 * (size_t)(f->T * f->V), "%s: bad size", path);
    f->tok = malloc((size_t)f->T * sizeof *f->tok);
    f->logits = malloc((size_t)(f->T * f->V) * sizeof(float));
    memcpy(f->tok, b + 16, (size_t)f->T * 4);
    memcpy(f->logits, b + 16 + 4 * (size_t)f->T, (size_t)(f->T * f->V) * 4);
    free(b);
    return 0;
}


static char fixture_root[1024];

static int list_fixtures(char names[][256], int cap) {
    DIR *d = opendir(fixture_root);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < cap) {
        if (e->d_name[0] == '.') continue;
        char p[2048];
        snprintf(p, sizeof p, "%s/%s/logits.bin", fixture_root, e->d_name);
        if (!rk_file_exists(p)) continue;
        snprintf(names[n++], 256, "%s", e->d_name);
    }
    closedir(d);
    /* sorted, for a stable report */
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char t[256];
            memcpy(t, names[j], 256), memcpy(names[j], names[j - 1], 256), memcpy(names[j - 1], t, 256);
        }
    return n;
}

/* the fixture converted to an F32 GGUF by `r1kit convert`: same logits through the GGUF path. GGUF does not
 * store DeepSeek's yarn `mscale` (llama.cpp assumes mscale == mscale_all_dim, true of every released config),
 * so a fixture that sets them apart is reported but not held to the tolerance. */
static void parity_gguf(const char *name, const char *dir, const fixture *f) {
    char *tmp = rk_test_tmpdir("parity_gguf"), gg[2048], cmd[8192], er[2048];
    snprintf(gg, sizeof gg, "%.1500s/m.gguf", tmp);
    snprintf(cmd, sizeof cmd, "'%s' convert '%s' '%s' --outtype f32 --quiet", rk_test_bin(), dir, gg);
    int rc = rk_test_run(cmd, NULL, 0, er, sizeof er);
    ck_assert_msg(rc == 0, "%s: exit %d: %s", cmd, rc, er);
    rk_hf_config cfg;
    rk_err err = {0};
    ck_assert_int_eq(rk_hf_config_load(&cfg, dir, &err), 0);
    const rk_hf_rope_scaling *rs = &cfg.rope_scaling;
    int mscale_lost = cfg.arch == RK_HF_ARCH_DEEPSEEK2 && rs->type == RK_ROPE_SCALING_YARN &&
                      (rs->has_mscale ? rs->mscale : 1.0) != (rs->has_mscale_all_dim ? rs->mscale_all_dim : 0.0);
    rk_model *m = NULL;
    ck_assert_msg(rk_model_load(&m, gg, &err) == 0, "%s: GGUF load: %s", name, err.msg);
    size_t nl = (size_t)(f->T * f->V);
    float *out = malloc(nl * sizeof(float));
    rk_kvcache *kv = rk_kvcache_new(m, f->T, &err);
    ck_assert_int_eq(rk_model_forward(m, kv, f->tok, f->T, out, &err), 0);
    double e_full = rk_max_rel_err(out, f->logits, nl);
    rk_kvcache_clear(kv);
    for (int64_t t = 0; t < f->T; t++) ck_assert_int_eq(rk_model_forward(m, kv, f->tok + t, 1, out + t * f->V, &err), 0);
    double e_inc = rk_max_rel_err(out, f->logits, nl);
    printf("parity %-14s via GGUF f32: full %.3g  token-by-token %.3g%s\n", name, e_full, e_inc,
           mscale_lost ? "  (yarn mscale != mscale_all_dim: not representable in GGUF, not checked)" : "");
    fflush(stdout);
    if (!mscale_lost) {
        ck_assert_msg(e_full <= PARITY_TOL, "%s via GGUF: full-sequence max rel err %g", name, e_full);
        ck_assert_msg(e_inc <= PARITY_TOL, "%s via GGUF: token-by-token max rel err %g", name, e_inc);
    }
    rk_kvcache_free(kv);
    rk_model_free(m);
    free(out);
    rk_test_rmtree(tmp);
    free(tmp);
}

START_TEST(parity_all_fixtures) {
    char names[64][256];
    int n = list_fixtures(names, 64);
    ck_assert_msg(n > 0, "no fixtures in %s", fixture_root);
    for (int i = 0; i < n; i++) {
        char dir[2048];
        snprintf(dir, sizeof dir, "%.1023s/%.255s", fixture_root, names[i]);
        fixture f;
        ck_assert_int_eq(read_fixture(dir, &f), 0);
        rk_model *m = NULL;
        rk_err err = {0};
        int rc = rk_model_load(&m, dir, &err);
        ck_assert_msg(rc == 0, "%s: load: %s", names[i], err.msg);
        ck_assert_int_eq(rk_model_vocab(m), f.V);
        size_t nl = (size_t)(f.T * f.V);
        float *out = malloc(nl * sizeof(float));
        rk_kvcache *kv = rk_kvcache_new(m, f.T, &err);
        ck_assert_msg(kv != NULL, "%s", err.msg);
        /* full sequence */
        ck_assert_msg(rk_model_forward(m, kv, f.tok, f.T, out, &err) == 0, "%s: %s", names[i], err.msg);
        double e_full = rk_max_rel_err(out, f.logits, nl);
        /* token by token */
        rk_kvcache_clear(kv);
        for (int64_t t = 0; t < f.T; t++)
            ck_assert_msg(rk_model_forward(m, kv, f.tok + t, 1, out + t * f.V, &err) == 0, "%s: %s", names[i], err.msg);
        double e_inc = rk_max_rel_err(out, f.logits, nl);
        /* prefill half, then steps */
        rk_kvcache_clear(kv);
        int64_t P = f.T / 2 > 0 ? f.T / 2 : 1;
        ck_assert_int_eq(rk_model_forward(m, kv, f.tok, P, out, &err), 0);
        for (int64_t t = P; t < f.T; t++) ck_assert_int_eq(rk_model_forward(m, kv, f.tok + t, 1, out + t * f.V, &err), 0);
        double e_pre = rk_max_rel_err(out, f.logits, nl);
        printf("parity %-14s T=%-4lld V=%-6lld full %.3g  token-by-token %.3g  prefill+steps %.3g\n", names[i],
               (long long)f.T, (long long)f.V, e_full, e_inc, e_pre);
        fflush(stdout);
        ck_assert_msg(e_full <= PARITY_TOL, "%s: full-sequence max rel err %g > %g", names[i], e_full, PARITY_TOL);
        ck_assert_msg(e_inc <= PARITY_TOL, "%s: token-by-token max rel err %g > %g", names[i], e_inc, PARITY_TOL);
        ck_assert_msg(e_pre <= PARITY_TOL, "%s: prefill+steps max rel err %g > %g", names[i], e_pre, PARITY_TOL);
        rk_kvcache_free(kv);
        rk_model_free(m);
        parity_gguf(names[i], dir, &f);
        free(out), free(f.tok), free(f.logits);
    }
}
END_TEST

Suite *make_suite(void) {
    Suite *s = suite_create("model_parity");
    TCase *tc = tcase_create("golden");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, parity_all_fixtures);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    const char *env = getenv("RK_PARITY_FIXTURES");
    snprintf(fixture_root, sizeof fixture_root, "%s", env && *env ? env : RK_SOURCE_DIR "/tests/reference/fixtures");
    char names[1][256];
    if (list_fixtures(names, 1) <= 0) {
        printf("SKIP: no logits fixtures in %s (run /usr/bin/python3 tests/reference/make_fixtures.py)\n", fixture_root);
        return 77;
    }
    SRunner *sr = srunner_create(make_suite());
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? 0 : 1;
}
