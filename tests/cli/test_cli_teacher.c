/* tests/cli/test_cli_teacher.c — the built-in teacher (teacher/, docs/teacher.md):
 *   - it is stored in R1's release layout (FP8-E4M3 weights + 128x128 weight_scale_inv, quantization_config);
 *   - its GGUF made by `r1kit convert --outtype f32` gives the same held-out perplexity as the FP8 files (4
 *     significant digits; in fact identical, the F32 GGUF holds the FP8 values exactly);
 *   - the perplexity documented in docs/teacher.md is what `r1kit perplexity` computes on the documented text
 *     (plain builds; the full held-out text is too slow under ASan, which runs the first 6 chunks only);
 *   - the experts are used and unequal on the held-out text: none dead, none with half of a layer's selections;
 *   - it generates text.
 * The held-out text comes from scripts/kjv.sh (Debian's bible-kjv, installed by scripts/deps.sh --test); without
 * the `bible` program the perplexity parts print SKIP. */
#define _GNU_SOURCE
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "tests/common/rk_test.h"

#define SANITIZED RK_TEST_SANITIZED

static char g_teacher[1024], g_held[1024], *g_dir;
static int g_have_text;

static void setup_once(void) {
    if (g_dir) return;
    snprintf(g_teacher, sizeof g_teacher, "%s/teacher", rk_test_source_dir());
    g_dir = rk_test_tmpdir("teacher");
    snprintf(g_held, sizeof g_held, "%s/data/kjv-heldout.txt", g_dir);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "command -v bible >/dev/null && sh %s/scripts/kjv.sh %s/data", rk_test_source_dir(), g_dir);
    g_have_text = rk_test_run(cmd, NULL, 0, NULL, 0) == 0 && rk_file_exists(g_held);
    if (!g_have_text) printf("SKIP: no `bible` program (apt-get install bible-kjv): held-out perplexity not checked\n");
}

static double ppl_of(const char *out) {
    const char *k = strstr(out, "Final estimate: PPL = ");
    return k ? strtod(k + 22, NULL) : NAN;
}

START_TEST(release_layout) {
    setup_once();
    char out[1 << 16], err[4096];
    int rc = rk_test_r1kit(out, sizeof out, err, sizeof err, NULL, "inspect %s --json", g_teacher);
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_ptr_nonnull(strstr(out, "F8_E4M3"));
    ck_assert_ptr_nonnull(strstr(out, "weight_scale_inv"));
    ck_assert_ptr_nonnull(strstr(out, "e_score_correction_bias"));
    char p[1200];
    snprintf(p, sizeof p, "%s/config.json", g_teacher);
    size_t n;
    char *cfg = (char *)rk_test_read_file(p, &n);
    ck_assert(cfg != NULL);
    ck_assert_ptr_nonnull(strstr(cfg, "\"quant_method\""));
    ck_assert_ptr_nonnull(strstr(cfg, "\"fp8\""));
    const char *ne = strstr(cfg, "\"n_routed_experts\"");
    ck_assert_ptr_nonnull(ne);
    ne = strchr(ne, ':');
    ck_assert(ne && strtol(ne + 1, NULL, 10) == 16);
    free(cfg);
    const char *files[] = { "tokenizer.json", "tokenizer_config.json", "generation_config.json", "model.safetensors" };
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", g_teacher, files[i]);
        ck_assert_msg(rk_file_exists(p), "teacher/%s missing", files[i]);
    }
    rc = rk_test_r1kit(out, sizeof out, err, sizeof err, NULL, "generate %s --prompt \"And God said\" -n 12", g_teacher);
    ck_assert_msg(rc == 0 && strlen(out) > 10, "generate: %s", err);
}
END_TEST

START_TEST(gguf_equals_fp8_and_docs) {
    setup_once();
    if (!g_have_text) return;
    char out[1 << 16], err[8192], gguf[1200];
    snprintf(gguf, sizeof gguf, "%s/teacher-f32.gguf", g_dir);
    int rc = rk_test_r1kit(NULL, 0, err, sizeof err, NULL, "convert %s %s --outtype f32", g_teacher, gguf);
    ck_assert_msg(rc == 0, "%s", err);
    const char *chunks = SANITIZED ? "--chunks 6" : "";
    rc = rk_test_r1kit(out, sizeof out, err, sizeof err, NULL, "perplexity %s --text %s --ctx 256 %s --routing --json",
                       g_teacher, g_held, chunks);
    ck_assert_msg(rc == 0, "%s", err);
    /* routing health: every expert used, none with half of its layer */
    const char *r = strstr(out, "\"routing\":{");
    ck_assert_ptr_nonnull(r);
    int layers = 0;
    for (const char *a = strchr(r, '['); a; a = strchr(a + 1, '[')) {
        double c[64], tot = 0, mx = 0, mn = 1e300;
        int ne = 0;
        const char *q = a + 1;
        while (ne < 64) {
            char *e;
            c[ne] = strtod(q, &e);
            if (e == q) break;
            tot += c[ne], mx = fmax(mx, c[ne]), mn = fmin(mn, c[ne]);
            ne++;
            q = e;
            if (*q == ',') q++;
            else break;
        }
        ck_assert_int_eq(ne, 16);
        printf("layer %d: min share %.2f%%, max share %.2f%%\n", layers + 1, 100 * mn / tot, 100 * mx / tot);
        ck_assert_msg(mn > 0, "a dead expert");
        ck_assert_msg(mx < 0.5 * tot, "one expert takes half the selections");
        layers++;
    }
    ck_assert_int_eq(layers, 3);
    const char *k = strstr(out, "\"ppl\":");
    ck_assert_ptr_nonnull(k);
    const double p_fp8 = strtod(k + 6, NULL);
    rc = rk_test_r1kit(out, sizeof out, err, sizeof err, NULL, "perplexity %s --text %s --ctx 256 %s", gguf, g_held, chunks);
    ck_assert_msg(rc == 0, "%s", err);
    const double p_gguf = ppl_of(out);
    printf("held-out PPL: FP8 files %.6f, F32 GGUF %.6f\n", p_fp8, p_gguf);
    ck_assert_msg(fabs(p_fp8 - p_gguf) <= 5e-5 * p_fp8, "FP8 %.6f vs GGUF %.6f", p_fp8, p_gguf);
    if (SANITIZED) {
        printf("SKIP: the documented full held-out perplexity is checked in the plain build only\n");
        return;
    }
    /* docs/teacher.md: "| `teacher/` (FP8 release layout) | PPL = X +/- E |" */
    char p[1200];
    snprintf(p, sizeof p, "%s/docs/teacher.md", rk_test_source_dir());
    size_t n;
    char *doc = (char *)rk_test_read_file(p, &n);
    ck_assert(doc != NULL);
    const char *row = strstr(doc, "(FP8 release layout) | PPL = ");
    ck_assert_msg(row != NULL, "docs/teacher.md has no FP8 perplexity row");
    const double p_doc = strtod(row + 29, NULL);
    printf("documented %.4f\n", p_doc);
    ck_assert_msg(fabs(p_doc - p_fp8) <= 5e-5 * p_fp8, "docs say %.4f, r1kit computes %.4f", p_doc, p_fp8);
    free(doc);
}
END_TEST

static Suite *make_suite(void) {
    Suite *s = suite_create("cli_teacher");
    TCase *tc = tcase_create("teacher");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, release_layout);
    tcase_add_test(tc, gguf_equals_fp8_and_docs);
    suite_add_tcase(s, tc);
    return s;
}

RK_TEST_MAIN_SHARED_DIR(g_dir)
