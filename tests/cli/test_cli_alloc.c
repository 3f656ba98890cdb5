/* tests/cli/test_cli_alloc.c — `r1kit quantize --bpw B | --size S` (quantize/alloc.h) on a tiny deepseek_v3
 * sample with an imatrix from `r1kit imatrix`: the file meets the budget and uses most of it, norms and the router
 * stay F32, the metadata holds the allocation, a larger budget predicts a smaller error, the bytes do not depend
 * on the thread count, the per-expert layout gives every expert its own tensor and type and runs in the engine
 * (and re-quantizes), and bad budgets give the documented errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/common/rk_test.h"
#include "formats/gguf.h"
#include "quantize/alloc.h"

static char g_out[65536 * 4], g_err[65536];
static char *g_dir;

#define RUN(...) rk_test_r1kit(g_out, sizeof g_out, g_err, sizeof g_err, "OMP_NUM_THREADS=1", __VA_ARGS__)
/* rows measured per matrix: all of them, or a sample under the sanitizers (7 candidate quantizations per row) */
#define SAMPLE (RK_TEST_SANITIZED ? "16" : "0")


static void setup(void) {
    g_dir = rk_test_tmpdir("cli_alloc");
    ck_assert_int_eq(RUN("sample '%s/ds' --arch deepseek_v3", g_dir), 0);
    char p[4096];
    snprintf(p, sizeof p, "%s/text.txt", g_dir);
    rk_test_write_words(p, 8000, 777u);
    int rc = RUN("imatrix '%s/ds' --text '%s' -o '%s/im.gguf' --ctx 64 --chunks 4", g_dir, p, g_dir);
    ck_assert_msg(rc == 0, "imatrix: %d %s", rc, g_err);
}

static void teardown(void) {
    rk_test_rmtree(g_dir);
    free(g_dir);
}

/* "total: ... B bytes ... X bits per weight ... predicted error E" */
static void parse_total(uint64_t *bytes, double *bpw, double *perr) {
    const char *t = strstr(g_out, "total: ");
    ck_assert_ptr_nonnull(t);
    unsigned long long b = 0;
    const char *w = strstr(t, "weights, ");
    ck_assert_ptr_nonnull(w);
    ck_assert_int_eq(sscanf(w, "weights, %llu bytes", &b), 1);
    *bytes = b;
    const char *x = strstr(t, "MiB), ");
    ck_assert_ptr_nonnull(x);
    ck_assert_int_eq(sscanf(x, "MiB), %lf bits", bpw), 1);
    const char *e = strstr(t, "predicted error ");
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(sscanf(e, "predicted error %lf", perr), 1);
}

static const rk_gguf_tensor *tensor(const rk_gguf *g, const char *name) {
    const rk_gguf_tensor *t = rk_gguf_find_tensor(g, name);
    ck_assert_msg(t != NULL, "no tensor %s", name);
    return t;
}

static double ppl_of(const char *model) {
    int rc = RUN("perplexity '%s' --text '%s/text.txt' --ctx 64 --chunks 4", model, g_dir);
    ck_assert_msg(rc == 0, "perplexity %s: exit %d: %s", model, rc, g_err);
    const char *p = strstr(g_out, "PPL = ");
    ck_assert_ptr_nonnull(p);
    double v = NAN;
    ck_assert_int_eq(sscanf(p, "PPL = %lf", &v), 1);
    return v;
}

START_TEST(budget) {
    uint64_t b3, b5;
    double bpw3, bpw5, e3, e5;
    int rc = RUN("quantize '%s/ds' '%s/a3.gguf' --bpw 3.5 --imatrix '%s/im.gguf' --sample-rows %s", g_dir, g_dir, g_dir, SAMPLE);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, g_err);
    parse_total(&b3, &bpw3, &e3);
    ck_assert_msg(bpw3 <= 3.5 && bpw3 > 3.3, "bpw %.4f for a budget of 3.5", bpw3);
    ck_assert_ptr_nonnull(strstr(g_out, "expert shares from routing"));
    ck_assert_int_eq(RUN("quantize '%s/ds' '%s/a5.gguf' --bpw 5 --imatrix '%s/im.gguf' --sample-rows %s", g_dir, g_dir, g_dir, SAMPLE), 0);
    parse_total(&b5, &bpw5, &e5);
    ck_assert_msg(bpw5 <= 5.0 && bpw5 > 4.8, "bpw %.4f for a budget of 5", bpw5);
    ck_assert_msg(e5 < e3, "predicted error %.4e at 5 bpw, %.4e at 3.5", e5, e3);
    /* --size: the same machinery in bytes; the file's tensor data fits */
    ck_assert_int_eq(RUN("quantize '%s/ds' '%s/s.gguf' --size %llu --imatrix '%s/im.gguf' --sample-rows %s", g_dir, g_dir,
                         (unsigned long long)b3, g_dir, SAMPLE), 0);
    uint64_t bs;
    double bpws, es;
    parse_total(&bs, &bpws, &es);
    ck_assert_uint_le(bs, b3);
    ck_assert_msg(fabs(es - e3) <= 1e-9 + 1e-6 * e3, "--size of the --bpw result: error %.6e vs %.6e", es, e3);
    /* the file: kept tensors F32, metadata aligned with the tensors, runs */
    char p[4096];
    snprintf(p, sizeof p, "%s/a3.gguf", g_dir);
    rk_gguf *g;
    rk_err err;
    ck_assert_msg(rk_gguf_open(&g, p, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(tensor(g, "blk.1.ffn_gate_inp.weight")->type, RK_DTYPE_F32);
    ck_assert_int_eq(tensor(g, "blk.1.exp_probs_b.bias")->type, RK_DTYPE_F32);
    ck_assert_int_eq(tensor(g, "output_norm.weight")->type, RK_DTYPE_F32);
    rk_gguf_str s;
    ck_assert_int_eq(rk_gguf_get_str(g, "r1kit.quantize.recipe", &s), 0);
    ck_assert(s.len == 5 && !memcmp(s.ptr, "alloc", 5));
    const rk_gguf_kv *kt = rk_gguf_find_kv(g, "r1kit.quantize.types"), *ke = rk_gguf_find_kv(g, "r1kit.quantize.alloc.errors");
    ck_assert_ptr_nonnull(kt);
    ck_assert_ptr_nonnull(ke);
    ck_assert_uint_eq(kt->val.v.arr.n, rk_gguf_tensor_count(g));
    ck_assert_uint_eq(ke->val.v.arr.n, rk_gguf_tensor_count(g));
    ck_assert_ptr_nonnull(rk_gguf_find_kv(g, "r1kit.quantize.alloc.budget_bytes"));
    uint64_t ft = 0;
    ck_assert_int_eq(rk_gguf_get_u64(g, "general.file_type", &ft), 0);
    ck_assert(ft != 0 && ft != 1024);
    rk_gguf_close(g);
    const double pa = ppl_of(p);
    ck_assert(isfinite(pa) && pa > 1);
    /* thread count does not change the bytes */
    rc = rk_test_r1kit(g_out, sizeof g_out, g_err, sizeof g_err, "OMP_NUM_THREADS=2",
                       "quantize '%s/ds' '%s/a3t.gguf' --bpw 3.5 --imatrix '%s/im.gguf' --sample-rows %s --threads 2 --quiet",
                       g_dir, g_dir, g_dir, SAMPLE);
    ck_assert_int_eq(rc, 0);
    size_t n1, n2;
    uint8_t *f1 = rk_test_read_file(p, &n1);
    snprintf(p, sizeof p, "%s/a3t.gguf", g_dir);
    uint8_t *f2 = rk_test_read_file(p, &n2);
    ck_assert_uint_eq(n1, n2);
    ck_assert(!memcmp(f1, f2, n1));
    free(f1), free(f2);
}
END_TEST

START_TEST(per_expert) {
    int rc = RUN("quantize '%s/ds' '%s/pe.gguf' --bpw 3 --imatrix '%s/im.gguf' --layout per-expert --sample-rows 16", g_dir,
                 g_dir, g_dir);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, g_err);
    ck_assert_ptr_nonnull(strstr(g_out, "blk.1.ffn_gate.0.weight"));
    char p[4096];
    snprintf(p, sizeof p, "%s/pe.gguf", g_dir);
    rk_gguf *g;
    rk_err err;
    ck_assert_msg(rk_gguf_open(&g, p, &err) == 0, "%s", err.msg);
    ck_assert_ptr_null(rk_gguf_find_tensor(g, "blk.1.ffn_gate_exps.weight"));
    const rk_gguf_tensor *t = tensor(g, "blk.1.ffn_down.3.weight");
    ck_assert_int_eq(t->n_dims, 2);
    rk_gguf_str s;
    ck_assert_int_eq(rk_gguf_get_str(g, "r1kit.quantize.layout", &s), 0);
    ck_assert(s.len == 10 && !memcmp(s.ptr, "per-expert", 10));
    rk_gguf_close(g);
    const double pe = ppl_of(p);
    ck_assert(isfinite(pe) && pe > 1);
    /* the same weights in both layouts: q8_0 of the stacked and of the per-expert layout run to the same PPL */
    ck_assert_int_eq(RUN("quantize '%s/ds' '%s/st8.gguf' --recipe q8_0 --quiet", g_dir, g_dir), 0);
    ck_assert_int_eq(RUN("quantize '%s/ds' '%s/pe8.gguf' --recipe q8_0 --layout per-expert --quiet", g_dir, g_dir), 0);
    snprintf(p, sizeof p, "%s/st8.gguf", g_dir);
    const double a = ppl_of(p);
    snprintf(p, sizeof p, "%s/pe8.gguf", g_dir);
    const double b = ppl_of(p);
    ck_assert_msg(fabs(a - b) <= 1e-4 * a, "stacked %.6f vs per-expert %.6f", a, b);
    /* a stacked GGUF split into the per-expert layout, and a per-expert GGUF re-quantized (not under the sanitizers:
     * the same convert paths run in the cases above) */
    if (RK_TEST_SANITIZED) return;
    ck_assert_int_eq(RUN("quantize '%s/st8.gguf' '%s/pe8b.gguf' --recipe q8_0 --layout per-expert --quiet", g_dir, g_dir), 0);
    snprintf(p, sizeof p, "%s/pe8b.gguf", g_dir);
    ck_assert_msg(fabs(ppl_of(p) - b) <= 2e-3 * b, "split from GGUF");
    ck_assert_int_eq(RUN("quantize '%s/pe.gguf' '%s/pe2.gguf' --recipe q4 --quiet", g_dir, g_dir), 0);
    snprintf(p, sizeof p, "%s/pe2.gguf", g_dir);
    ck_assert(isfinite(ppl_of(p)));
}
END_TEST

START_TEST(errors) {
    ck_assert_int_eq(RUN("quantize '%s/ds' '%s/x.gguf' --bpw 1", g_dir, g_dir), 2);   /* below what F32 norms + TQ2_0 allow */
    ck_assert_ptr_nonnull(strstr(g_err, "cannot be met"));
    ck_assert_ptr_nonnull(strstr(g_err, "smallest allocation"));
    char p[4096];
    snprintf(p, sizeof p, "%s/x.gguf", g_dir);
    ck_assert_int_ne(access(p, F_OK), 0);
    ck_assert_int_eq(RUN("quantize '%s/ds' '%s/x.gguf' --size 10KB", g_dir, g_dir), 2);
    ck_assert_int_eq(RUN("quantize '%s/ds' '%s/x.gguf' --bpw 4 --recipe q4", g_dir, g_dir), 2);
    ck_assert_int_eq(RUN("quantize '%s/ds' '%s/x.gguf' --bpw four", g_dir, g_dir), 2);
    ck_assert_int_eq(RUN("quantize '%s/ds' '%s/x.gguf' --size 12XB", g_dir, g_dir), 2);
    ck_assert_int_eq(RUN("quantize '%s/ds' '%s/x.gguf' --bpw 4 --layout diagonal", g_dir, g_dir), 2);
    ck_assert_int_eq(RUN("quantize '%s/ds' '%s/x.gguf' --bpw 4 --sample-rows -3", g_dir, g_dir), 2);
    /* without an imatrix: a note, still a valid allocation */
    ck_assert_int_eq(RUN("quantize '%s/ds' '%s/x.gguf' --bpw 4 --quiet", g_dir, g_dir), 0);
    ck_assert_ptr_nonnull(strstr(g_err, "no --imatrix"));
    /* an imatrix of another model is refused before anything is written */
    ck_assert_int_eq(RUN("sample '%s/qw' --arch qwen2", g_dir), 0);
    ck_assert_int_eq(RUN("imatrix '%s/qw' --text '%s/text.txt' -o '%s/imq.gguf' --ctx 64 --chunks 2", g_dir, g_dir, g_dir), 0);
    ck_assert_int_eq(RUN("quantize '%s/ds' '%s/y.gguf' --bpw 4 --imatrix '%s/imq.gguf'", g_dir, g_dir, g_dir), 3);
    ck_assert_ptr_nonnull(strstr(g_err, "another model"));
    snprintf(p, sizeof p, "%s/y.gguf", g_dir);
    ck_assert_int_ne(access(p, F_OK), 0);
}
END_TEST

START_TEST(parse_size) {
    uint64_t b;
    ck_assert_int_eq(rk_alloc_parse_size("2.5GB", &b), 0);
    ck_assert_uint_eq(b, 2500000000ull);
    ck_assert_int_eq(rk_alloc_parse_size("800MB", &b), 0);
    ck_assert_uint_eq(b, 800000000ull);
    ck_assert_int_eq(rk_alloc_parse_size("1.5GiB", &b), 0);
    ck_assert_uint_eq(b, 1610612736ull);
    ck_assert_int_eq(rk_alloc_parse_size("123456", &b), 0);
    ck_assert_uint_eq(b, 123456ull);
    ck_assert_int_eq(rk_alloc_parse_size("4 kib", &b), 0);
    ck_assert_uint_eq(b, 4096ull);
    ck_assert_int_ne(rk_alloc_parse_size("", &b), 0);
    ck_assert_int_ne(rk_alloc_parse_size("-5GB", &b), 0);
    ck_assert_int_ne(rk_alloc_parse_size("5QB", &b), 0);
    ck_assert_int_ne(rk_alloc_parse_size("GB", &b), 0);
    ck_assert_int_ne(rk_alloc_parse_size("nan", &b), 0);
    ck_assert_int_ne(rk_alloc_parse_size("1e30", &b), 0);
}
END_TEST

Suite *make_suite(void) {
    Suite *s = suite_create("cli_alloc");
    TCase *t = tcase_create("alloc");
    tcase_add_unchecked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 300);
    tcase_add_test(t, parse_size);
    tcase_add_test(t, budget);
    tcase_add_test(t, per_expert);
    tcase_add_test(t, errors);
    suite_add_tcase(s, t);
    return s;
}

RK_TEST_MAIN()
