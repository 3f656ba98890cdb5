/* tests/cli/test_cli_engine.c — the engine's commands end to end: perplexity (HF folder vs the GGUF that convert
 * writes from it, to 4 significant digits; llama.cpp's chunking rules), generate (greedy and seeded sampling are
 * reproducible), --no-mmap giving the same numbers and text, bench --json, and clear errors for models whose config and tensors disagree. */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/common/rk_test.h"

static char out[1 << 20], err[1 << 16];

#define run(...) rk_test_r1kit(out, sizeof out, err, sizeof err, "OMP_NUM_THREADS=1", __VA_ARGS__)

static char *g_dir;
static char g_text[4096];

static void setup(void) {
    g_dir = rk_test_tmpdir("cli-engine");
    snprintf(g_text, sizeof g_text, "%s/text.txt", g_dir);
    FILE *f = fopen(g_text, "w");
    for (int i = 0; i < 120; i++)
        fprintf(f, "In the beginning God created the heaven and the earth. And the earth was without form, and void; %d\n", i);
    fclose(f);
}

static void teardown(void) {
    rk_test_rmtree(g_dir);
    free(g_dir);
}

static double ppl_of(const char *model) {
    ck_assert_msg(run("perplexity %s --text %s --ctx 64 --chunks 3 --json", model, g_text) == 0, "perplexity %s: %s", model, err);
    cJSON *j = cJSON_Parse(out);
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(cJSON_GetObjectItem(j, "n_chunks")->valueint, 3);
    ck_assert_int_eq(cJSON_GetObjectItem(j, "scored_tokens")->valueint, 3 * (64 - 1 - 32));
    double p = cJSON_GetObjectItem(j, "ppl")->valuedouble;
    cJSON_Delete(j);
    return p;
}

START_TEST(perplexity_hf_equals_gguf) {
    static const char *const archs[] = { "deepseek_v3", "qwen2", "llama" };
    for (int a = 0; a < 3; a++) {
        ck_assert_int_eq(run("sample %s/%s --arch %s", g_dir, archs[a], archs[a]), 0);
        ck_assert_int_eq(run("convert %s/%s %s/%s.gguf --outtype f32 --quiet", g_dir, archs[a], g_dir, archs[a]), 0);
        char hf[4096], gg[4096];
        snprintf(hf, sizeof hf, "%s/%s", g_dir, archs[a]);
        snprintf(gg, sizeof gg, "%s/%s.gguf", g_dir, archs[a]);
        double p1 = ppl_of(hf), p2 = ppl_of(gg);
        ck_assert_msg(fabs(p1 - p2) <= 5e-5 * p1, "%s: PPL %.6f (HF) vs %.6f (GGUF)", archs[a], p1, p2);
        ck_assert(p1 > 100 && p1 < 1000);   /* random weights over a 267-token vocabulary: near uniform */
    }
    /* weights read into memory instead of mapped: the same bits (the JSON's PPL to 17 digits) */
    ck_assert_int_eq(run("perplexity %s/qwen2 --text %s --ctx 64 --chunks 2 --json", g_dir, g_text), 0);
    cJSON *j1 = cJSON_Parse(out);
    ck_assert_int_eq(run("perplexity %s/qwen2.gguf --text %s --ctx 64 --chunks 2 --json --no-mmap", g_dir, g_text), 0);
    cJSON *j2 = cJSON_Parse(out);
    ck_assert_int_eq(run("perplexity %s/qwen2 --text %s --ctx 64 --chunks 2 --json --no-mmap", g_dir, g_text), 0);
    cJSON *j3 = cJSON_Parse(out);
    ck_assert(j1 && j2 && j3);
    const double q1 = cJSON_GetObjectItem(j1, "ppl")->valuedouble, q3 = cJSON_GetObjectItem(j3, "ppl")->valuedouble;
    ck_assert_msg(memcmp(&q1, &q3, sizeof q1) == 0, "PPL %.17g mapped vs %.17g --no-mmap", q1, q3);
    ck_assert(fabs(cJSON_GetObjectItem(j2, "ppl")->valuedouble - q1) <= 5e-5 * q1);
    cJSON_Delete(j1); cJSON_Delete(j2); cJSON_Delete(j3);
    /* the text output is llama.cpp's line */
    ck_assert_int_eq(run("perplexity %s/qwen2 --text %s --ctx 64 --chunks 1", g_dir, g_text), 0);
    ck_assert_ptr_nonnull(strstr(out, "Final estimate: PPL = "));
    ck_assert_ptr_nonnull(strstr(err, "[1/1]"));
    /* too little text for the context: usage error that says how many tokens are needed */
    ck_assert_int_eq(run("perplexity %s/qwen2 --text %s --ctx 100000", g_dir, g_text), 2);
    ck_assert_ptr_nonnull(strstr(err, "200000"));
    ck_assert_int_eq(run("perplexity %s/qwen2", g_dir), 2);
    ck_assert_int_eq(run("perplexity %s/qwen2 --text %s --ctx 2", g_dir, g_text), 2);
}
END_TEST

START_TEST(generate_reproducible) {
    ck_assert_int_eq(run("sample %s/m --arch llama", g_dir), 0);
    ck_assert_int_eq(run("generate %s/m --prompt 'Hello the world' -n 12", g_dir), 0);
    char *a = strdup(out);
    ck_assert_ptr_nonnull(strstr(a, "Hello the world"));
    ck_assert_ptr_nonnull(strstr(err, "tokens/s"));
    ck_assert_int_eq(run("generate %s/m --prompt 'Hello the world' -n 12", g_dir), 0);
    ck_assert_str_eq(a, out);
    free(a);
    ck_assert_int_eq(run("generate %s/m --prompt 'Hello' -n 12 --temp 0.9 --top-p 0.9 --seed 7", g_dir), 0);
    a = strdup(out);
    ck_assert_int_eq(run("generate %s/m --prompt 'Hello' -n 12 --temp 0.9 --top-p 0.9 --seed 7", g_dir), 0);
    ck_assert_str_eq(a, out);
    ck_assert_int_eq(run("generate %s/m --prompt 'Hello' -n 12 --temp 0.9 --top-p 0.9 --seed 7 --no-mmap", g_dir), 0);
    ck_assert_str_eq(a, out);
    free(a);
    ck_assert_int_eq(run("generate %s/m -n 3", g_dir), 2);
    ck_assert_int_eq(run("generate %s/m --prompt x --temp -1", g_dir), 2);
    ck_assert_int_eq(run("generate %s/m --prompt x --top-p 0", g_dir), 2);
    ck_assert_int_eq(run("bench %s/m --prompt 16 --gen 4 --reps 1 --json", g_dir), 0);
    cJSON *j = cJSON_Parse(out);
    ck_assert_ptr_nonnull(j);
    ck_assert(cJSON_GetObjectItem(j, "pp_tokens_per_s")->valuedouble > 0);
    ck_assert(cJSON_GetObjectItem(j, "tg_tokens_per_s")->valuedouble > 0);
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(j, "mmap")));
    cJSON_Delete(j);
    ck_assert_int_eq(run("bench %s/m --prompt 16 --gen 4 --reps 1 --json --no-mmap", g_dir), 0);
    ck_assert_ptr_nonnull(j = cJSON_Parse(out));
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(j, "mmap")));
    ck_assert(cJSON_GetObjectItem(j, "pp_tokens_per_s")->valuedouble > 0);
    cJSON_Delete(j);
}
END_TEST

/* config and tensors that disagree: exit 3 and one line that names the tensor or field */
START_TEST(bad_models) {
    char cmd[8192];
    ck_assert_int_eq(run("sample %s/good --arch qwen2", g_dir), 0);
    struct { const char *sed, *expect; } cases[] = {
        { "s/\"intermediate_size\":\\s*512/\"intermediate_size\": 640/", "mlp" },
        { "s/\"vocab_size\":\\s*267/\"vocab_size\": 300/", "vocab" },
        { "s/\"num_hidden_layers\":\\s*3/\"num_hidden_layers\": 4/", "layers.3" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(cmd, sizeof cmd, "rm -rf %s/bad && cp -r %s/good %s/bad && sed -i -E '%s' %s/bad/config.json", g_dir, g_dir, g_dir,
                 cases[i].sed, g_dir);
        ck_assert_int_eq(system(cmd), 0);
        ck_assert_int_eq(run("generate %s/bad --prompt hi -n 1", g_dir), 3);
        ck_assert_msg(strstr(err, cases[i].expect) != NULL, "case %zu: %s", i, err);
        int lines = 0;
        for (const char *p = err; *p; p++) lines += *p == '\n';
        ck_assert_int_eq(lines, 1);
    }
}
END_TEST

static Suite *make_suite(void) {
    Suite *s = suite_create("cli_engine");
    TCase *tc = tcase_create("engine");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, perplexity_hf_equals_gguf);
    tcase_add_test(tc, generate_reproducible);
    tcase_add_test(tc, bad_models);
    suite_add_tcase(s, tc);
    return s;
}
RK_TEST_MAIN()
