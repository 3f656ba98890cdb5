/* tests/convert/test_convert_torch.c — checkpoints written by real torch.save (single and sharded) convert to
 * the same GGUF bytes as the safetensors they were made from, and inspect sees the same tensors. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/common/rk_test.h"

static char out[1 << 16], err[1 << 16];

static void sh(const char *cmd) {
    int rc = rk_test_run(cmd, out, sizeof out, err, sizeof err);
    ck_assert_msg(rc == 0, "`%s` failed (%d): %s", cmd, rc, err);
}

static void check_arch(const char *arch) {
    char *dir = rk_test_tmpdir("cv-torch");
    char cmd[8192];
    const char *bin = rk_test_bin();
    snprintf(cmd, sizeof cmd, "%s sample %s/st --arch %s", bin, dir, arch);
    sh(cmd);
    snprintf(cmd, sizeof cmd, "%s %s/tests/reference/st_to_torch.py %s/st %s/pt1 && %s %s/tests/reference/st_to_torch.py %s/st %s/pt3 --shards 3",
             rk_test_python(), rk_test_source_dir(), dir, dir, rk_test_python(), rk_test_source_dir(), dir, dir);
    sh(cmd);
    const char *variants[] = { "st", "pt1", "pt3" };
    for (int v = 0; v < 3; v++) {
        snprintf(cmd, sizeof cmd, "%s convert %s/%s %s/%s.gguf --outtype f32 --name same --quiet", bin, dir, variants[v], dir, variants[v]);
        sh(cmd);
        snprintf(cmd, sizeof cmd, "%s inspect %s/%s --json --no-tensors", bin, dir, variants[v]);
        sh(cmd);
        ck_assert_ptr_nonnull(strstr(out, v ? "\"format\":\"pytorch\"" : "\"format\":\"safetensors\""));
    }
    snprintf(cmd, sizeof cmd, "cmp %s/st.gguf %s/pt1.gguf && cmp %s/st.gguf %s/pt3.gguf", dir, dir, dir, dir);
    sh(cmd);
    rk_test_rmtree(dir);
    free(dir);
}

START_TEST(torch_save_qwen2) { check_arch("qwen2"); }
END_TEST
START_TEST(torch_save_llama) { check_arch("llama"); }
END_TEST

static Suite *make_suite(void) {
    Suite *s = suite_create("convert_torch");
    TCase *tc = tcase_create("torch_save");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, torch_save_qwen2);
    tcase_add_test(tc, torch_save_llama);
    suite_add_tcase(s, tc);
    return s;
}
RK_TEST_MAIN_NEEDS_TORCH()
