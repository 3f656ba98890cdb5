/* tests/model/test_model_torch.c — the engine on PyTorch zip checkpoints (torch.save, single and sharded),
 * made from the reference fixtures by tests/reference/st_to_torch.py: same logits as the fixture
 * (max|a-b| / max|b| <= 1e-4). Needs Debian's python3-torch (exit 77 otherwise). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "tests/common/rk_test.h"
#include "model/model.h"


static void run_case(const char *fixture, int shards) {
    char src[2048], path[4096], cmd[8192], er[4096];
    snprintf(src, sizeof src, "%.1500s/tests/reference/fixtures/%s", rk_test_source_dir(), fixture);
    snprintf(path, sizeof path, "%s/logits.bin", src);
    size_t n;
    uint8_t *b = rk_test_read_file(path, &n);
    if (!b) {
        printf("fixture %s absent, skipped\n", fixture);
        return;
    }
    uint32_t h[3];
    memcpy(h, b + 4, sizeof h);
    int64_t T = h[1], V = h[2];
    ck_assert(n == 16 + 4 * (size_t)T + 4 * (size_t)(T * V));
    const int32_t *tok = (const int32_t *)(b + 16);
    const float *ref = (const float *)(b + 16 + 4 * (size_t)T);
    char *dst = rk_test_tmpdir("model_torch");
    char sh[32] = "";
    if (shards > 1) snprintf(sh, sizeof sh, " --shards %d", shards);
    snprintf(cmd, sizeof cmd, "'%s' '%s/tests/reference/st_to_torch.py' '%s' '%s/pt'%s", rk_test_python(),
             rk_test_source_dir(), src, dst, sh);
    int rc = rk_test_run(cmd, NULL, 0, er, sizeof er);
    ck_assert_msg(rc == 0, "%s: exit %d: %s", cmd, rc, er);
    snprintf(path, sizeof path, "%.2000s/pt", dst);
    rk_model *m = NULL;
    rk_err err = {0};
    ck_assert_msg(rk_model_load(&m, path, &err) == 0, "%s: %s", fixture, err.msg);
    ck_assert_msg(strstr(rk_model_notes(m), "read into memory") != NULL, "notes: %s", rk_model_notes(m));
    float *out = malloc((size_t)(T * V) * sizeof(float));
    rk_kvcache *kv = rk_kvcache_new(m, T, &err);
    ck_assert_int_eq(rk_model_forward(m, kv, tok, T, out, &err), 0);
    double e = rk_max_rel_err(out, ref, (size_t)(T * V));
    printf("pytorch %-12s shards %d: max rel err %.3g\n", fixture, shards, e);
    fflush(stdout);
    ck_assert_msg(e <= 1e-4, "%s (pytorch, %d shards): rel err %g", fixture, shards, e);
    rk_kvcache_free(kv);
    rk_model_free(m);
    free(out);
    free(b);
    rk_test_rmtree(dst);
    free(dst);
}

START_TEST(pytorch_fixtures) {
    const char *cases[] = {"ds_v3_bf16", "ds_v2lite", "qwen2", "llama3"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        run_case(cases[i], 1);
        run_case(cases[i], 2);
    }
}
END_TEST

Suite *make_suite(void) {
    Suite *s = suite_create("model_torch");
    TCase *tc = tcase_create("pytorch");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, pytorch_fixtures);
    suite_add_tcase(s, tc);
    return s;
}

RK_TEST_MAIN_NEEDS_TORCH()
