/* tests/cli/test_cli_tokenizer.c — `r1kit tokenizer train` end to end: help, usage errors (exit 2, one message
 * naming the option), an unreadable text (exit 4, names the file), a successful run (exit 0, one summary line,
 * files that r1kit loads and that are identical on a rerun), custom specials and --bos/--eos. */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/common/rk_test.h"

static char out[1 << 16], err[1 << 16];

#define run(...) rk_test_r1kit(out, sizeof out, err, sizeof err, NULL, __VA_ARGS__)

static char *g_dir, g_text[4096];

static void setup(void) {
    g_dir = rk_test_tmpdir("cli-tok");
    snprintf(g_text, sizeof g_text, "%s/text.txt", g_dir);
    FILE *f = fopen(g_text, "w");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < 200; i++)
        fprintf(f, "In the beginning God created the heaven and the earth, %d times over. Und dann: Grüße!\n", i);
    fclose(f);
}

static void teardown(void) {
    rk_test_rmtree(g_dir);
    free(g_dir);
}

static uint8_t *slurp(const char *dir, const char *name, size_t *n) {
    char *p = NULL;
    ck_assert(asprintf(&p, "%s/%s", dir, name) > 0);
    uint8_t *d = rk_test_read_file(p, n);
    free(p);
    return d;
}

START_TEST(help_and_usage) {
    ck_assert_int_eq(run("help tokenizer"), 0);
    ck_assert_ptr_nonnull(strstr(out, "tokenizer train"));
    char *h = strdup(out);
    ck_assert_int_eq(run("tokenizer train --help"), 0);
    ck_assert_str_eq(h, out);
    free(h);
    ck_assert_int_eq(run("help"), 0);
    ck_assert_ptr_nonnull(strstr(out, "tokenizer"));
    ck_assert_int_eq(run("tokenizer"), 2);
    ck_assert_int_eq(run("tokenizer frobnicate"), 2);
    ck_assert_ptr_nonnull(strstr(err, "frobnicate"));
    ck_assert_int_eq(run("tokenizer train --vocab 500 -o %s/o", g_dir), 2);
    ck_assert_ptr_nonnull(strstr(err, "--text"));
    ck_assert_int_eq(run("tokenizer train --text %s -o %s/o", g_text, g_dir), 2);
    ck_assert_ptr_nonnull(strstr(err, "--vocab"));
    ck_assert_int_eq(run("tokenizer train --text %s --vocab 500", g_text), 2);
    ck_assert_ptr_nonnull(strstr(err, "-o"));
    ck_assert_int_eq(run("tokenizer train --text %s --vocab 12abc -o %s/o", g_text, g_dir), 2);
    ck_assert_ptr_nonnull(strstr(err, "--vocab"));
    ck_assert_int_eq(run("tokenizer train --text %s --vocab 100 -o %s/o", g_text, g_dir), 2);
    ck_assert_int_eq(run("tokenizer train --text %s --vocab 257 -o %s/o", g_text, g_dir), 2);   /* < 256 + 2 */
    ck_assert_ptr_nonnull(strstr(err, "vocab size 257"));
    ck_assert_int_eq(run("tokenizer train --text %s --vocab 500 -o %s/o --min-frequency 0", g_text, g_dir), 2);
    ck_assert_int_eq(run("tokenizer train --text %s --vocab 500 -o %s/o --family gpt2", g_text, g_dir), 2);
    ck_assert_ptr_nonnull(strstr(err, "gpt2"));
    ck_assert_int_eq(run("tokenizer train --text %s --vocab 500 -o %s/o --bogus", g_text, g_dir), 2);
    ck_assert_int_eq(run("tokenizer train --text %s --vocab 500 -o %s/o extra", g_text, g_dir), 2);
    ck_assert_int_eq(run("tokenizer train --text %s --vocab 500 -o %s/o --special ''", g_text, g_dir), 2);
    ck_assert_int_eq(run("tokenizer train --text %s --vocab 500 -o %s/o --special \"$(printf '\\377')\"", g_text, g_dir), 2);
    ck_assert_ptr_nonnull(strstr(err, "UTF-8"));
}
END_TEST

START_TEST(io_errors) {
    ck_assert_int_eq(run("tokenizer train --text %s --text %s/missing.txt --vocab 500 -o %s/o", g_text, g_dir, g_dir), 4);
    ck_assert_ptr_nonnull(strstr(err, "missing.txt"));
    ck_assert_ptr_nonnull(strstr(err, "error"));
    size_t n;
    ck_assert_ptr_null(slurp(g_dir, "o/tokenizer.json", &n));
    ck_assert_int_eq(run("tokenizer train --text %s --vocab 500 -o %s", g_text, g_text), 4);   /* -o is a file */
    ck_assert_int_eq(run("tokenizer train --text %s --vocab 500 -o /proc/no/such/dir", g_text), 4);
}
END_TEST

START_TEST(train_ok) {
    ck_assert_msg(run("tokenizer train --text %s --vocab 300 -o %s/a", g_text, g_dir) == 0, "%s", err);
    ck_assert_ptr_nonnull(strstr(out, "vocab 300"));
    ck_assert_ptr_nonnull(strstr(out, "merges"));
    ck_assert_ptr_nonnull(strstr(out, " s "));
    ck_assert_ptr_eq(strchr(out, '\n'), out + strlen(out) - 1);   /* one line */
    ck_assert_int_eq(run("tokenizer train --text %s --vocab 300 -o %s/b", g_text, g_dir), 0);
    static const char *names[] = {"tokenizer.json", "tokenizer_config.json"};
    for (int i = 0; i < 2; i++) {
        char a[64], b[64];
        snprintf(a, sizeof a, "a/%s", names[i]);
        snprintf(b, sizeof b, "b/%s", names[i]);
        size_t na = 0, nb = 0;
        uint8_t *da = slurp(g_dir, a, &na), *db = slurp(g_dir, b, &nb);
        ck_assert_msg(da && db && na == nb && !memcmp(da, db, na), "%s differs between runs", names[i]);
        free(da);
        free(db);
    }
    /* DeepSeek's specials by default, as ids 0 and 1, BOS/EOS in the config */
    size_t n = 0;
    uint8_t *cfg = slurp(g_dir, "a/tokenizer_config.json", &n);
    cJSON *j = cJSON_ParseWithLength((const char *)cfg, n);
    ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "bos_token"), "content")->valuestring,
                     "<\xEF\xBD\x9C" "begin\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>");
    cJSON_Delete(j);
    free(cfg);
    /* custom specials; --bos/--eos not among them are appended */
    ck_assert_msg(run("tokenizer train --text %s --vocab 300 -o %s/c --family llama3 --special '<pad>' --bos '<s>' --eos '</s>' "
                      "--min-frequency 3", g_text, g_dir) == 0, "%s", err);
    uint8_t *tj = slurp(g_dir, "c/tokenizer.json", &n);
    j = cJSON_ParseWithLength((const char *)tj, n);
    cJSON *added = cJSON_GetObjectItem(j, "added_tokens");
    ck_assert_int_eq(cJSON_GetArraySize(added), 3);
    ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(added, 0), "content")->valuestring, "<pad>");
    ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(added, 1), "content")->valuestring, "<s>");
    ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(added, 2), "content")->valuestring, "</s>");
    cJSON_Delete(j);
    free(tj);
}
END_TEST

static Suite *make_suite(void) {
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("tokenizer");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, help_and_usage);
    tcase_add_test(tc, io_errors);
    tcase_add_test(tc, train_ok);
    suite_add_tcase(s, tc);
    return s;
}

RK_TEST_MAIN()
