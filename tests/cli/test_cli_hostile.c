/* tests/cli/test_cli_hostile.c — every hostile file we know of, through the real command: `r1kit inspect` on each
 * fuzz-corpus file and on truncated/bit-flipped copies of real shards. Each run must end with exit 0 or 3 (bad
 * input), never a crash or sanitizer abort; an error is exactly one stderr line that names the file. A malicious
 * pickle is refused by name. */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/common/rk_test.h"

static char out[1 << 20], err[1 << 16];

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

/* run inspect on path; check the contract; return the exit code */
static int inspect_ok(const char *path) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s inspect '%s' --json", rk_test_bin(), path);
    int rc = rk_test_run(cmd, out, sizeof out, err, sizeof err);
    ck_assert_msg(rc == 0 || rc == 3, "inspect %s: exit %d (expected 0 or 3); stderr: %.500s", path, rc, err);
    if (rc == 3) {
        const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
        ck_assert_msg(count_lines(err) == 1, "inspect %s: expected one error line, got: %.500s", path, err);
        ck_assert_msg(strstr(err, base) != NULL, "inspect %s: the message does not name the file: %s", path, err);
    }
    return rc;
}

START_TEST(fuzz_corpora) {
    static const char *const dirs[] = { "fuzz_safetensors", "fuzz_gguf", "fuzz_pickle", "fuzz_pytorch" };
    int n = 0, bad = 0;
    for (size_t d = 0; d < sizeof dirs / sizeof dirs[0]; d++) {
        char p[4096];
        snprintf(p, sizeof p, "%s/fuzz/corpus/%s", rk_test_source_dir(), dirs[d]);
        DIR *dd = opendir(p);
        ck_assert_ptr_nonnull(dd);
        struct dirent *e;
        while ((e = readdir(dd))) {
            if (e->d_name[0] == '.') continue;
            char f[8192];
            snprintf(f, sizeof f, "%s/%s", p, e->d_name);
            bad += inspect_ok(f) == 3;
            n++;
        }
        closedir(dd);
    }
    ck_assert_int_gt(n, 30);
    ck_assert_int_gt(bad, 15);
    /* names that say "bad" must be refused */
    char f[4096];
    snprintf(f, sizeof f, "%s/fuzz/corpus/fuzz_safetensors/bad_overlap", rk_test_source_dir());
    ck_assert_int_eq(inspect_ok(f), 3);
    snprintf(f, sizeof f, "%s/fuzz/corpus/fuzz_pytorch/malicious.pt", rk_test_source_dir());
    ck_assert_int_eq(inspect_ok(f), 3);
    ck_assert_msg(strstr(err, "system") != NULL, "malicious pickle: %s", err);
    snprintf(f, sizeof f, "%s/fuzz/corpus/fuzz_pytorch/legacy.pt", rk_test_source_dir());
    ck_assert_int_eq(inspect_ok(f), 3);
    ck_assert_msg(strstr(err, "legacy") != NULL, "legacy torch file: %s", err);
    snprintf(f, sizeof f, "%s/fuzz/corpus/fuzz_gguf/bigendian.gguf", rk_test_source_dir());
    ck_assert_int_eq(inspect_ok(f), 3);
}
END_TEST

/* Truncations and bit flips of a real FP8 shard and of a real GGUF. */
START_TEST(damaged_real_files) {
    char *dir = rk_test_tmpdir("cli-hostile");
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s sample %s/m --layers 2 && %s convert %s/m %s/m.gguf --quiet", rk_test_bin(), dir, rk_test_bin(), dir, dir);
    ck_assert_int_eq(rk_test_run(cmd, out, sizeof out, err, sizeof err), 0);
    static const char *const srcs[] = { "m/model.safetensors", "m.gguf" };
    for (int s = 0; s < 2; s++) {
        char src[4096];
        snprintf(src, sizeof src, "%s/%s", dir, srcs[s]);
        size_t n;
        uint8_t *b = rk_test_read_file(src, &n);
        ck_assert_ptr_nonnull(b);
        /* truncations: inside the length/magic, inside the header, at the data start, one byte short */
        size_t cuts[] = { 3, 8, 9, 20, 100, 1000, n / 2, n - 1 };
        for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
            char f[4096];
            snprintf(f, sizeof f, "%s/cut%zu-%d.bin", dir, c, s);
            rk_test_write_file(f, b, cuts[c]);
            ck_assert_msg(inspect_ok(f) == 3, "truncated to %zu bytes but accepted", cuts[c]);
        }
        /* header bit flips: must never crash (some flips are still valid files) */
        uint64_t seed = 12345;
        for (int k = 0; k < 40; k++) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            size_t pos = (size_t)(seed >> 33) % (n < 2048 ? n : 2048);
            uint8_t *c2 = malloc(n);
            memcpy(c2, b, n);
            c2[pos] ^= (uint8_t)(1u << ((seed >> 20) & 7));
            char f[4096];
            snprintf(f, sizeof f, "%s/flip%d-%d.bin", dir, k, s);
            rk_test_write_file(f, c2, n);
            inspect_ok(f);
            free(c2);
        }
        free(b);
    }
    rk_test_rmtree(dir);
    free(dir);
}
END_TEST

static Suite *make_suite(void) {
    Suite *s = suite_create("cli_hostile");
    TCase *tc = tcase_create("hostile");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, fuzz_corpora);
    tcase_add_test(tc, damaged_real_files);
    suite_add_tcase(s, tc);
    return s;
}
RK_TEST_MAIN()
