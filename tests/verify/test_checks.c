/* tests/verify/test_checks.c — static checks (verify/checks.h) on a tiny deepseek_v3 sample:
 *   - clean files (FP8 folder, f32 GGUF, q2-moe GGUF) give no error and hand back the model and tokenizer;
 *   - a NaN in an F32 weight and an Inf block scale in a Q4_K tensor are scan errors naming the tensor, the
 *     count and the first element; with the scan off the same files pass;
 *   - a GGUF truncated inside its tensor data is one "file:" error naming the file (not an I/O failure); a missing path is RK_EIO;
 *   - metadata that contradicts the tensors (expert_count 6 of 8 stacked experts, expert_used_count 99, no
 *     gating function) lists every finding: the metadata errors, each misshapen tensor, the loader's refusal,
 *     the gating warning. */
#define _GNU_SOURCE
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "formats/gguf.h"
#include "tests/common/rk_test.h"
#include "verify/checks.h"

static char g_out[1 << 16], g_err[1 << 16];
static char *g_dir;

#define RUN(...) rk_test_r1kit(g_out, sizeof g_out, g_err, sizeof g_err, "OMP_NUM_THREADS=1", __VA_ARGS__)

static void setup(void) {
    g_dir = rk_test_tmpdir("checks");
    ck_assert_int_eq(RUN("sample '%s/ds' --arch deepseek_v3", g_dir), 0);
    ck_assert_int_eq(RUN("convert '%s/ds' '%s/f32.gguf' --outtype f32 --quiet", g_dir, g_dir), 0);
    ck_assert_int_eq(RUN("quantize '%s/ds' '%s/q2.gguf' --recipe q2-moe", g_dir, g_dir), 0);
}

static void teardown(void) {
    rk_test_rmtree(g_dir);
    free(g_dir);
}

#define path(name) rk_test_path(g_dir, name)

static int has(const rk_verify_checks *c, int level, const char *a, const char *b) {
    for (size_t i = 0; i < c->n; i++)
        if (c->item[i].level == level && strstr(c->item[i].what, a) && (!b || strstr(c->item[i].what, b))) return 1;
    return 0;
}

static void dump(const rk_verify_checks *c) {
    for (size_t i = 0; i < c->n; i++) fprintf(stderr, "  %s %s\n", rk_check_level_name(c->item[i].level), c->item[i].what);
}

static void run(rk_verify_checks *c, const char *p, int scan) {
    rk_verify_check_opts o = { scan, 0 };
    rk_err e;
    rk_err_clear(&e);
    ck_assert_msg(rk_verify_checks_run(c, p, &o, NULL, NULL, &e) == 0, "%s: %s", p, e.msg);
}

START_TEST(clean) {
    const char *files[] = { "ds", "f32.gguf", "q2.gguf" };
    for (int i = 0; i < 3; i++) {
        rk_verify_checks c;
        rk_model *m = NULL;
        rk_tokenizer *t = NULL;
        rk_verify_check_opts o = { 1, 0 };
        rk_err e;
        ck_assert_int_eq(rk_verify_checks_run(&c, path(files[i]), &o, &m, &t, &e), 0);
        if (c.n_error) dump(&c);
        ck_assert_msg(c.n_error == 0 && c.n_warn == 0, "%s: %zu errors, %zu warnings", files[i], c.n_error, c.n_warn);
        ck_assert(m != NULL && t != NULL);
        ck_assert(c.scanned_values > 1000000);
        ck_assert(has(&c, RK_CHECK_OK, "scan:", "no NaN/Inf") && has(&c, RK_CHECK_OK, "shape:", "match the config"));
        ck_assert(has(&c, RK_CHECK_OK, "metadata:", "sigmoid") && has(&c, RK_CHECK_OK, "engine: loads", NULL));
        ck_assert(has(&c, RK_CHECK_OK, "structure:", NULL) && has(&c, RK_CHECK_OK, "tokenizer:", NULL));
        rk_model_free(m);
        rk_tokenizer_free(t);
        rk_verify_checks_free(&c);
    }
}
END_TEST

/* overwrite bytes of tensor `name` at byte offset `at` of its data, in a copy of src named dst */
static void poke(const char *src, const char *dst, const char *name, size_t at, const void *bytes, size_t n, int want_type) {
    size_t len;
    uint8_t *buf = rk_test_read_file(src, &len);
    ck_assert_ptr_nonnull(buf);
    rk_gguf *g;
    rk_err e;
    ck_assert_int_eq(rk_gguf_open_buffer(&g, buf, len, src, &e), 0);
    const rk_gguf_tensor *t = rk_gguf_find_tensor(g, name);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(t->type, want_type);
    const size_t off = (size_t)(t->data - buf) + at;
    rk_gguf_close(g);
    memcpy(buf + off, bytes, n);
    rk_test_write_file(dst, buf, len);
    free(buf);
}

START_TEST(nan_scan) {
    const float nan = NAN;
    poke(path("f32.gguf"), path("nan.gguf"), "blk.1.attn_q_b.weight", 4 * 5, &nan, 4, RK_DTYPE_F32);
    rk_verify_checks c;
    run(&c, path("nan.gguf"), 1);
    if (c.n_error != 1) dump(&c);
    ck_assert_int_eq((int)c.n_error, 1);
    ck_assert(has(&c, RK_CHECK_ERROR, "scan: tensor 'blk.1.attn_q_b.weight' (F32) has 1 NaN/Inf", "first at element 5 (row 0)"));
    ck_assert(has(&c, RK_CHECK_OK, "engine: loads", NULL));         /* the loader does not look at weights */
    rk_verify_checks_free(&c);
    run(&c, path("nan.gguf"), 0);
    ck_assert_int_eq((int)c.n_error, 0);
    ck_assert(!has(&c, RK_CHECK_OK, "scan:", NULL));
    rk_verify_checks_free(&c);
    /* an Inf block scale (f16 d of the second Q4_K block of token_embd): every value of that block is NaN/Inf */
    const uint16_t inf16 = 0x7c00;
    poke(path("q2.gguf"), path("inf.gguf"), "token_embd.weight", 144, &inf16, 2, RK_DTYPE_Q4_K);
    run(&c, path("inf.gguf"), 1);
    if (c.n_error != 1) dump(&c);
    ck_assert_int_eq((int)c.n_error, 1);
    ck_assert(has(&c, RK_CHECK_ERROR, "scan: tensor 'token_embd.weight' (Q4_K) has ", "first at element 256 (row 1)"));
    rk_verify_checks_free(&c);
}
END_TEST

START_TEST(truncated) {
    size_t len;
    uint8_t *buf = rk_test_read_file(path("q2.gguf"), &len);
    ck_assert_ptr_nonnull(buf);
    rk_gguf *g;
    rk_err e0;
    ck_assert_int_eq(rk_gguf_open_buffer(&g, buf, len, "q2", &e0), 0);
    uint64_t end = 0;                                      /* the end of the last tensor's data (padding follows) */
    for (uint64_t i = 0; i < rk_gguf_tensor_count(g); i++) {
        const rk_gguf_tensor *t = rk_gguf_tensor_at(g, i);
        if (rk_gguf_data_offset(g) + t->offset + t->nbytes > end) end = rk_gguf_data_offset(g) + t->offset + t->nbytes;
    }
    rk_gguf_close(g);
    const size_t cuts[] = { (size_t)end - 1, len / 2, 100, 3 };
    for (int i = 0; i < 4; i++) {
        rk_test_write_file(path("cut.gguf"), buf, cuts[i]);
        rk_verify_checks c;
        rk_model *m = (rk_model *)1;
        rk_verify_check_opts o = { 1, 0 };
        rk_err e;
        ck_assert_int_eq(rk_verify_checks_run(&c, path("cut.gguf"), &o, &m, NULL, &e), 0);
        ck_assert_ptr_null(m);
        ck_assert_int_eq((int)c.n_error, 1);
        ck_assert_msg(c.n == 1 && c.item[0].level == RK_CHECK_ERROR && !strncmp(c.item[0].what, "file: ", 6) &&
                      strstr(c.item[0].what, path("cut.gguf")), "cut %zu: %s", cuts[i], c.n ? c.item[0].what : "");
        rk_verify_checks_free(&c);
    }
    free(buf);
    rk_verify_checks c;
    rk_verify_check_opts o = { 1, 0 };
    rk_err e;
    ck_assert_int_eq(rk_verify_checks_run(&c, path("none.gguf"), &o, NULL, NULL, &e), RK_EIO);
    rk_verify_checks_free(&c);
}
END_TEST

/* a copy of src with some deepseek2.* keys set (v >= 0) or dropped (v < 0) */
static void rewrite(const char *src, const char *dst, const char *const *keys, const int64_t *vals, int n) {
    rk_gguf *g;
    rk_gguf_writer *w;
    rk_err e;
    ck_assert_int_eq(rk_gguf_open(&g, src, &e), 0);
    ck_assert_int_eq(rk_gguf_writer_init(&w, &e), 0);
    for (uint64_t i = 0; i < rk_gguf_kv_count(g); i++) {
        const rk_gguf_kv *kv = rk_gguf_kv_at(g, i);
        int j = 0;
        for (; j < n; j++)
            if (kv->key.len == strlen(keys[j]) && !memcmp(kv->key.ptr, keys[j], kv->key.len)) break;
        if (j == n) ck_assert_int_eq(rk_gguf_set_kv(w, kv), 0);
        else if (vals[j] >= 0) ck_assert_int_eq(rk_gguf_set_u32(w, keys[j], (uint32_t)vals[j]), 0);
    }
    for (uint64_t i = 0; i < rk_gguf_tensor_count(g); i++) {
        const rk_gguf_tensor *t = rk_gguf_tensor_at(g, i);
        ck_assert_int_eq(rk_gguf_writer_add_tensor(w, t->name_z, t->type, t->n_dims, t->ne, &e), 0);
    }
    ck_assert_msg(rk_gguf_writer_begin(w, dst, rk_gguf_alignment(g), &e) == 0, "%s", e.msg);
    for (uint64_t i = 0; i < rk_gguf_tensor_count(g); i++) {
        const rk_gguf_tensor *t = rk_gguf_tensor_at(g, i);
        ck_assert_int_eq(rk_gguf_writer_write(w, t->data, t->nbytes, &e), 0);
    }
    ck_assert_msg(rk_gguf_writer_finish(w, &e) == 0, "%s", e.msg);
    rk_gguf_writer_free(w);
    rk_gguf_close(g);
}

START_TEST(metadata) {
    const char *const keys[] = { "deepseek2.expert_count", "deepseek2.expert_used_count", "deepseek2.expert_gating_func",
                                 "deepseek2.expert_group_count" };
    const int64_t vals[] = { 6, 99, -1, 4 };
    rewrite(path("q2.gguf"), path("meta.gguf"), keys, vals, 4);
    rk_verify_checks c;
    run(&c, path("meta.gguf"), 0);
    ck_assert(has(&c, RK_CHECK_ERROR, "metadata: expert_used_count 99, expert_count 6", NULL));
    ck_assert(has(&c, RK_CHECK_ERROR, "metadata: 6 experts in 4 groups", NULL));
    ck_assert(has(&c, RK_CHECK_WARN, "no expert_gating_func", NULL));
    /* both MoE layers (1, 2): router, bias, three stacked expert tensors, each listed */
    ck_assert(has(&c, RK_CHECK_ERROR, "shape: tensor 'blk.1.ffn_gate_inp.weight' is [8, 256], the config implies [6, 256]", NULL));
    ck_assert(has(&c, RK_CHECK_ERROR, "'blk.2.ffn_down_exps.weight'", "implies [6, 256, 128]"));
    ck_assert(has(&c, RK_CHECK_ERROR, "'blk.2.exp_probs_b.bias'", NULL));
    ck_assert(has(&c, RK_CHECK_ERROR, "engine: ", NULL));
    ck_assert_msg(c.n_error >= 13, "%zu errors", c.n_error);
    ck_assert(!has(&c, RK_CHECK_OK, "shape:", "match"));
    rk_verify_checks_free(&c);
    /* the cap on listed findings */
    rk_verify_check_opts o = { 0, 4 };
    rk_err e;
    ck_assert_int_eq(rk_verify_checks_run(&c, path("meta.gguf"), &o, NULL, NULL, &e), 0);
    ck_assert_int_eq((int)c.n, 5);
    ck_assert(has(&c, RK_CHECK_WARN, "more findings not listed", NULL));
    rk_verify_checks_free(&c);
}
END_TEST

Suite *make_suite(void) {
    Suite *s = suite_create("verify_checks");
    TCase *tc = tcase_create("checks");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, clean);
    tcase_add_test(tc, nan_scan);
    tcase_add_test(tc, truncated);
    tcase_add_test(tc, metadata);
    suite_add_tcase(s, tc);
    return s;
}

RK_TEST_MAIN()
