/* tests/cli/test_cli.c — the r1kit command end to end: help and usage errors, exit codes and one-line
 * messages for bad input, sample → inspect → convert, and outputs that are never half-written. */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/common/rk_test.h"

static char out[1 << 20], err[1 << 16];

#define run(...) rk_test_r1kit(out, sizeof out, err, sizeof err, NULL, __VA_ARGS__)

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

static int count_temps(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) n++;
    if (d) closedir(d);
    return n;
}

START_TEST(help_and_usage) {
    ck_assert_int_eq(run("help"), 0);
    ck_assert_ptr_nonnull(strstr(out, "inspect"));
    ck_assert_ptr_nonnull(strstr(out, "convert"));
    ck_assert_int_eq(run("help inspect"), 0);
    char *h1 = strdup(out);
    ck_assert_int_eq(run("inspect --help"), 0);
    ck_assert_str_eq(h1, out);
    free(h1);
    ck_assert_int_eq(run("%s", ""), 2);
    ck_assert_int_eq(run("frobnicate"), 2);
    ck_assert_ptr_nonnull(strstr(err, "unknown command 'frobnicate'"));
    ck_assert_int_eq(run("help frobnicate"), 2);
    ck_assert_int_eq(run("inspect"), 2);
    ck_assert_int_eq(run("inspect a b"), 2);
    ck_assert_int_eq(run("inspect --bogus x"), 2);
    ck_assert_int_eq(run("sample /tmp/x --layers 0"), 2);
    ck_assert_ptr_nonnull(strstr(err, "--layers"));
    ck_assert_int_eq(run("sample /tmp/x --layers 12abc"), 2);
    ck_assert_int_eq(run("sample /tmp/x --arch gpt2"), 2);
    ck_assert_ptr_nonnull(strstr(err, "gpt2"));
    ck_assert_int_eq(run("sample /tmp/x --shard-size lots"), 2);
    ck_assert_int_eq(run("sample /tmp/x --dtype f8_e4m3 --arch qwen2"), 2);
    ck_assert_int_eq(run("version"), 0);
}
END_TEST

START_TEST(bad_input_exit_codes) {
    char *dir = rk_test_tmpdir("cli-bad");
    char p[4096];
    /* missing file: I/O error 4, message names the file */
    ck_assert_int_eq(run("inspect %s/nope.safetensors", dir), 4);
    ck_assert_ptr_nonnull(strstr(err, "nope.safetensors"));
    ck_assert_int_eq(count_lines(err), 1);
    /* garbage: bad input 3 */
    snprintf(p, sizeof p, "%s/garbage.bin", dir);
    rk_test_write_file(p, "hello world, not a model", 24);
    ck_assert_int_eq(run("inspect %s", p), 3);
    ck_assert_ptr_nonnull(strstr(err, "garbage.bin"));
    ck_assert_int_eq(count_lines(err), 1);
    /* a safetensors header that claims more than the file holds */
    snprintf(p, sizeof p, "%s/short.safetensors", dir);
    uint8_t b[16] = { 0xff, 0xff, 0, 0, 0, 0, 0, 0, '{', '}' };
    rk_test_write_file(p, b, 10);
    ck_assert_int_eq(run("inspect %s", p), 3);
    ck_assert_ptr_nonnull(strstr(err, "short.safetensors"));
    ck_assert_int_eq(count_lines(err), 1);
    /* a folder with two loose files and no index: the user must name one (usage, 2) */
    ck_assert_int_eq(run("inspect %s/", dir), 2);
    ck_assert_ptr_nonnull(strstr(err, "name the one"));
    /* an empty folder */
    snprintf(p, sizeof p, "mkdir %s/empty", dir);
    ck_assert_int_eq(system(p), 0);
    ck_assert_int_eq(run("inspect %s/empty", dir), 3);
    ck_assert_ptr_nonnull(strstr(err, "no checkpoint"));
    ck_assert_int_eq(count_lines(err), 1);
    rk_test_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(sample_inspect_convert) {
    char *dir = rk_test_tmpdir("cli-flow");
    ck_assert_int_eq(run("sample %s/r1 --shard-size 1MB", dir), 0);
    ck_assert_int_eq(run("inspect %s/r1 --json", dir), 0);
    cJSON *j = cJSON_Parse(out);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "format")->valuestring, "safetensors");
    ck_assert_str_eq(cJSON_GetObjectItem(j, "architecture")->valuestring, "deepseek_v3");
    ck_assert_int_gt(cJSON_GetArraySize(cJSON_GetObjectItem(j, "files")), 1);
    ck_assert_int_gt(cJSON_GetObjectItem(j, "n_scale_tensors")->valueint, 10);
    ck_assert(cJSON_IsNumber(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "bytes_by_dtype"), "F8_E4M3")));
    cJSON_Delete(j);
    /* the same seed writes the same bytes */
    ck_assert_int_eq(run("sample %s/r1b --shard-size 1MB", dir), 0);
    char a[4096], b2[4096];
    snprintf(a, sizeof a, "cmp -s %s/r1/model.safetensors.index.json %s/r1b/model.safetensors.index.json && "
                          "cmp -s %s/r1/model-00001-of-00005.safetensors %s/r1b/model-00001-of-00005.safetensors", dir, dir, dir, dir);
    snprintf(b2, sizeof b2, "ls %s/r1", dir);
    rk_test_run(b2, out, sizeof out, err, sizeof err);
    ck_assert_msg(system(a) == 0, "same seed gave different bytes (files: %s)", out);

    ck_assert_int_eq(run("convert %s/r1 %s/r1.gguf", dir, dir), 0);
    ck_assert_int_eq(run("inspect %s/r1.gguf --json", dir), 0);
    j = cJSON_Parse(out);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "format")->valuestring, "gguf");
    ck_assert_str_eq(cJSON_GetObjectItem(j, "architecture")->valuestring, "deepseek2");
    cJSON_Delete(j);
    ck_assert_int_eq(count_temps(dir), 0);
    rk_test_rmtree(dir);
    free(dir);
}
END_TEST

/* A failed or interrupted convert leaves an existing target as it was and no temp file behind. */
START_TEST(never_half_written) {
    char *dir = rk_test_tmpdir("cli-atomic");
    char p[4096];
    ck_assert_int_eq(run("sample %s/m --layers 2", dir), 0);
    snprintf(p, sizeof p, "%s/out.gguf", dir);
    rk_test_write_file(p, "precious", 8);
    /* failure: a corrupt shard */
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "cp -r %s/m %s/bad && truncate -s -100 %s/bad/model.safetensors", dir, dir, dir);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(run("convert %s/bad %s", dir, p), 3);
    ck_assert_int_eq(count_lines(err), 1);
    size_t n;
    uint8_t *keep = rk_test_read_file(p, &n);
    ck_assert_uint_eq(n, 8);
    ck_assert_int_eq(memcmp(keep, "precious", 8), 0);
    free(keep);
    ck_assert_int_eq(count_temps(dir), 0);

    /* interruption: SIGTERM while the temp file is being written */
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        setenv("RK_TEST_WRITE_DELAY_US", "20000", 1);
        int nul = open("/dev/null", 1);
        dup2(nul, 1), dup2(nul, 2);
        char src[4096];
        snprintf(src, sizeof src, "%s/m", dir);
        execl(rk_test_bin(), "r1kit", "convert", src, p, "--outtype", "f32", (char *)NULL);
        _exit(127);
    }
    int seen = 0;
    for (int i = 0; i < 2000 && !seen; i++) {  /* wait for the temp file to appear */
        seen = count_temps(dir) > 0;
        if (!seen) usleep(5000);
    }
    ck_assert_msg(seen, "convert never created its temporary file");
    usleep(50000);
    kill(pid, SIGTERM);
    int status;
    waitpid(pid, &status, 0);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM, "convert did not die by SIGTERM (status %d)", status);
    keep = rk_test_read_file(p, &n);
    ck_assert_uint_eq(n, 8);
    ck_assert_int_eq(memcmp(keep, "precious", 8), 0);
    free(keep);
    ck_assert_int_eq(count_temps(dir), 0);
    rk_test_rmtree(dir);
    free(dir);
}
END_TEST

static Suite *make_suite(void) {
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("cli");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, help_and_usage);
    tcase_add_test(tc, bad_input_exit_codes);
    tcase_add_test(tc, sample_inspect_convert);
    tcase_add_test(tc, never_half_written);
    suite_add_tcase(s, tc);
    return s;
}

RK_TEST_MAIN()
