/* tests/cli/test_cli_imatrix.c — `r1kit imatrix`: a run on a sample model writes a file that loads (and the GGUF
 * of the same model gives the same file); usage errors exit 2, unreadable inputs and unwritable outputs exit 4. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/common/rk_test.h"
#include "quantize/imatrix.h"

static char g_out[8192], g_err[8192];
static char *g_dir;

static void setup(void) {
    g_dir = rk_test_tmpdir("cli_imatrix");
    ck_assert_int_eq(rk_test_r1kit(g_out, sizeof g_out, g_err, sizeof g_err, NULL, "sample '%s/m' --arch deepseek_v3", g_dir), 0);
    /* text: the README, several times (the tiny vocabulary makes ~1 token per byte) */
    char p[4096];
    snprintf(p, sizeof p, "%s/README.md", rk_test_source_dir());
    size_t n = 0;
    uint8_t *t = rk_test_read_file(p, &n);
    ck_assert_ptr_nonnull(t);
    snprintf(p, sizeof p, "%s/text.txt", g_dir);
    FILE *f = fopen(p, "wb");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < 3; i++) fwrite(t, 1, n, f);
    fclose(f);
    free(t);
    rk_test_write_file((snprintf(p, sizeof p, "%s/short.txt", g_dir), p), "hi", 2);
}

static void teardown(void) {
    rk_test_rmtree(g_dir);
    free(g_dir);
}

#define RUN(...) rk_test_r1kit(g_out, sizeof g_out, g_err, sizeof g_err, "OMP_NUM_THREADS=1", __VA_ARGS__)

START_TEST(run_and_load) {
    int rc = RUN("imatrix '%s/m' --text '%s/text.txt' -o '%s/im.gguf' --ctx 32 --chunks 3", g_dir, g_dir, g_dir);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, g_err);
    ck_assert_ptr_nonnull(strstr(g_err, "[3/3]"));
    ck_assert_ptr_nonnull(strstr(g_out, "saved"));
    ck_assert_ptr_nonnull(strstr(g_out, "never fired"));
    char p[4096];
    snprintf(p, sizeof p, "%s/im.gguf", g_dir);
    rk_imatrix *im;
    rk_err err;
    ck_assert_msg(rk_imatrix_load(&im, p, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(rk_imatrix_chunk_count(im), 3);
    ck_assert_uint_eq(rk_imatrix_chunk_size(im), 32);
    ck_assert_uint_gt(rk_imatrix_count(im), 10);
    ck_assert_uint_ge(rk_imatrix_routing_count(im), 1);
    rk_imatrix_entry e;
    ck_assert_int_eq(rk_imatrix_find(im, "blk.1.ffn_down_exps.weight", &e), 0);
    double tot = 0;
    for (int64_t k = 0; k < e.n_mat; k++) tot += e.count[k];
    rk_imatrix_routing r;
    rk_imatrix_routing_at(im, 0, &r);
    ck_assert(tot == (double)r.tokens * 2);   /* top_k = 2 in the tiny sample */
    ck_assert(r.tokens == 3 * 32);
    rk_imatrix_free(im);

    /* the GGUF of the same model: same names, same numbers, byte-identical file */
    ck_assert_int_eq(RUN("convert '%s/m' '%s/m.gguf' --outtype f32 --quiet", g_dir, g_dir), 0);
    rc = RUN("imatrix '%s/m.gguf' --text '%s/text.txt' -o '%s/im2.gguf' --ctx 32 --chunks 3", g_dir, g_dir, g_dir);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, g_err);
    size_t n1 = 0, n2 = 0;
    char p2[4096];
    snprintf(p2, sizeof p2, "%s/im2.gguf", g_dir);
    uint8_t *a = rk_test_read_file(p, &n1), *b = rk_test_read_file(p2, &n2);
    ck_assert(a && b && n1 == n2 && !memcmp(a, b, n1));
    free(a), free(b);
}
END_TEST

START_TEST(errors) {
    /* usage */
    ck_assert_int_eq(RUN("imatrix '%s/m' -o '%s/x.gguf'", g_dir, g_dir), 2);
    ck_assert_ptr_nonnull(strstr(g_err, "--text"));
    ck_assert_int_eq(RUN("imatrix '%s/m' --text '%s/text.txt'", g_dir, g_dir), 2);
    ck_assert_int_eq(RUN("imatrix '%s/m' --text '%s/text.txt' -o '%s/x.gguf' --ctx 2", g_dir, g_dir, g_dir), 2);
    ck_assert_int_eq(RUN("imatrix '%s/m' --text '%s/text.txt' -o '%s/x.gguf' --chunks 0", g_dir, g_dir, g_dir), 2);
    ck_assert_int_eq(RUN("imatrix --text '%s/text.txt' -o '%s/x.gguf'", g_dir, g_dir), 2);
    ck_assert_int_eq(RUN("imatrix '%s/m' --text '%s/short.txt' -o '%s/x.gguf' --ctx 32", g_dir, g_dir, g_dir), 2);
    ck_assert_ptr_nonnull(strstr(g_err, "tokens"));
    /* files */
    ck_assert_int_eq(RUN("imatrix '%s/m' --text '%s/missing.txt' -o '%s/x.gguf'", g_dir, g_dir, g_dir), 4);
    ck_assert_ptr_nonnull(strstr(g_err, "missing.txt"));
    int rc = RUN("imatrix '%s/nomodel' --text '%s/text.txt' -o '%s/x.gguf'", g_dir, g_dir, g_dir);
    ck_assert_msg(rc == 3 || rc == 4, "exit %d", rc);
    ck_assert_ptr_nonnull(strstr(g_err, "r1kit imatrix: error:"));
    ck_assert_int_eq(RUN("imatrix '%s/m' --text '%s/text.txt' -o '%s/no/such/dir/x.gguf' --ctx 32", g_dir, g_dir, g_dir), 4);
    ck_assert_ptr_nonnull(strstr(g_err, "cannot write"));
    ck_assert_int_eq(RUN("imatrix '%s/m' --text '%s/text.txt' -o '%s' --ctx 32", g_dir, g_dir, g_dir), 4);
    char p[4096];
    snprintf(p, sizeof p, "%s/x.gguf", g_dir);
    FILE *f = fopen(p, "rb");
    ck_assert_ptr_null(f);   /* nothing half-written */
    /* help */
    ck_assert_int_eq(RUN("help imatrix"), 0);
    ck_assert_ptr_nonnull(strstr(g_out, "llama-quantize"));
}
END_TEST

Suite *make_suite(void) {
    Suite *s = suite_create("cli_imatrix");
    TCase *t = tcase_create("imatrix");
    tcase_add_unchecked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 300);
    tcase_add_test(t, run_and_load);
    tcase_add_test(t, errors);
    suite_add_tcase(s, t);
    return s;
}

RK_TEST_MAIN()
