/* tests/cli/test_cli_quantize.c — `r1kit quantize`: every recipe on a deepseek_v3 (tiny, FP8) and a qwen2 sample;
 * the outputs load in `r1kit inspect` and run in `r1kit perplexity` (q8_0 within 1% of the f32 GGUF's PPL, q4
 * within 10%), carry the metadata, and do not depend on the input format (HF folder vs its f32 GGUF) or the
 * thread count; with an imatrix from `r1kit imatrix` the importance-weighted error of the Q2_K experts is not
 * worse than without; bad inputs give the documented exit codes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/common/rk_test.h"
#include "formats/gguf.h"
#include "quantize/imatrix.h"
#include "quantize/quants.h"

static char g_out[65536], g_err[65536];
static char *g_dir;
static const char *const g_recipes[] = { "q8_0", "q4", "q2-moe", "tq2-moe" };
static const unsigned g_ftypes[] = { 7, 14, 10, 37 };

#define RUN(...) rk_test_r1kit(g_out, sizeof g_out, g_err, sizeof g_err, "OMP_NUM_THREADS=1", __VA_ARGS__)


static void setup(void) {
    g_dir = rk_test_tmpdir("cli_quantize");
    ck_assert_int_eq(RUN("sample '%s/ds' --arch deepseek_v3", g_dir), 0);
    ck_assert_int_eq(RUN("sample '%s/qw' --arch qwen2", g_dir), 0);
    ck_assert_int_eq(RUN("convert '%s/ds' '%s/ds-f32.gguf' --outtype f32 --quiet", g_dir, g_dir), 0);
    ck_assert_int_eq(RUN("convert '%s/qw' '%s/qw-f32.gguf' --outtype f32 --quiet", g_dir, g_dir), 0);
    char p[4096];
    snprintf(p, sizeof p, "%s/text.txt", g_dir);
    rk_test_write_words(p, 12000, 12345u);
}

static void teardown(void) {
    rk_test_rmtree(g_dir);
    free(g_dir);
}

static double ppl_of(const char *model) {
    int rc = RUN("perplexity '%s' --text '%s/text.txt' --ctx 64 --chunks 6", model, g_dir);
    ck_assert_msg(rc == 0, "perplexity %s: exit %d: %s", model, rc, g_err);
    const char *p = strstr(g_out, "PPL = ");
    ck_assert_ptr_nonnull(p);
    double v = NAN;
    ck_assert_int_eq(sscanf(p, "PPL = %lf", &v), 1);
    ck_assert(isfinite(v) && v > 1);
    return v;
}

static const rk_gguf_tensor *tensor(const rk_gguf *g, const char *name) {
    const rk_gguf_tensor *t = rk_gguf_find_tensor(g, name);
    ck_assert_msg(t != NULL, "no tensor %s", name);
    return t;
}

/* every tensor's type matches its "name=type" entry in r1kit.quantize.types */
static void check_metadata(const char *path, const char *recipe, unsigned ftype) {
    rk_gguf *g;
    rk_err err;
    ck_assert_msg(rk_gguf_open(&g, path, &err) == 0, "%s", err.msg);
    uint64_t ft = 0;
    ck_assert_int_eq(rk_gguf_get_u64(g, "general.file_type", &ft), 0);
    ck_assert_uint_eq(ft, ftype);
    rk_gguf_str s;
    ck_assert_int_eq(rk_gguf_get_str(g, "r1kit.quantize.recipe", &s), 0);
    ck_assert(s.len == strlen(recipe) && !memcmp(s.ptr, recipe, s.len));
    const rk_gguf_kv *kv = rk_gguf_find_kv(g, "r1kit.quantize.types");
    ck_assert_ptr_nonnull(kv);
    ck_assert_int_eq(kv->val.type, RK_GGUF_ARRAY);
    ck_assert_uint_eq(kv->val.v.arr.n, rk_gguf_tensor_count(g));
    for (uint64_t i = 0; i < kv->val.v.arr.n; i++) {
        rk_gguf_value v;
        ck_assert_int_eq(rk_gguf_arr_at(&kv->val, i, &v), 0);
        char buf[128];
        snprintf(buf, sizeof buf, "%.*s", (int)v.v.s.len, v.v.s.ptr);
        char *eq = strrchr(buf, '=');
        ck_assert_ptr_nonnull(eq);
        *eq = 0;
        const rk_gguf_tensor *t = tensor(g, buf);
        char tn[16];
        snprintf(tn, sizeof tn, "%s", rk_dtype_name(t->type));
        for (char *c = tn; *c; c++) *c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
        ck_assert_msg(!strcmp(tn, eq + 1), "%s: file type %s, metadata %s", buf, tn, eq + 1);
    }
    rk_gguf_close(g);
}

START_TEST(recipes_run) {
    static const char *const archs[] = { "ds", "qw" };
    char p[4096];
    for (int a = 0; a < 2; a++) {
        snprintf(p, sizeof p, "%s/%s-f32.gguf", g_dir, archs[a]);
        const double base = ppl_of(p);
        for (int r = 0; r < 4; r++) {
            int rc = RUN("quantize '%s/%s' '%s/%s-%s.gguf' --recipe %s", g_dir, archs[a], g_dir, archs[a], g_recipes[r], g_recipes[r]);
            ck_assert_msg(rc == 0, "%s %s: exit %d: %s", archs[a], g_recipes[r], rc, g_err);
            ck_assert_ptr_nonnull(strstr(g_out, "bits per weight"));
            ck_assert_ptr_nonnull(strstr(g_out, "token_embd.weight"));
            snprintf(p, sizeof p, "%s/%s-%s.gguf", g_dir, archs[a], g_recipes[r]);
            rc = RUN("inspect '%s'", p);
            ck_assert_msg(rc == 0, "inspect: exit %d: %s", rc, g_err);
            ck_assert_ptr_nonnull(strstr(g_out, "r1kit.quantize.recipe"));
            check_metadata(p, g_recipes[r], g_ftypes[r]);
            const double ppl = ppl_of(p);
            const double rel = fabs(ppl - base) / base;
            if (r == 0) ck_assert_msg(rel < 0.01, "%s q8_0: PPL %.4f vs f32 %.4f", archs[a], ppl, base);
            if (r == 1) ck_assert_msg(rel < 0.10, "%s q4: PPL %.4f vs f32 %.4f", archs[a], ppl, base);
        }
    }
    /* types as the recipe says, on the tiny deepseek (rows of 256 and of 128) */
    rk_gguf *g;
    rk_err err;
    snprintf(p, sizeof p, "%s/ds-q2-moe.gguf", g_dir);
    ck_assert_msg(rk_gguf_open(&g, p, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(tensor(g, "blk.1.ffn_gate_exps.weight")->type, RK_DTYPE_Q2_K);
    ck_assert_int_eq(tensor(g, "blk.1.ffn_down_exps.weight")->type, RK_DTYPE_Q4_0);   /* rows of 128: fallback */
    ck_assert_int_eq(tensor(g, "blk.1.ffn_gate_inp.weight")->type, RK_DTYPE_F32);
    ck_assert_int_eq(tensor(g, "blk.1.exp_probs_b.bias")->type, RK_DTYPE_F32);
    ck_assert_int_eq(tensor(g, "blk.1.ffn_gate_shexp.weight")->type, RK_DTYPE_Q4_K);
    ck_assert_int_eq(tensor(g, "blk.0.ffn_up.weight")->type, RK_DTYPE_Q4_K);
    ck_assert_int_eq(tensor(g, "token_embd.weight")->type, RK_DTYPE_Q4_K);
    ck_assert_int_eq(tensor(g, "output.weight")->type, RK_DTYPE_Q6_K);
    ck_assert_int_eq(tensor(g, "output_norm.weight")->type, RK_DTYPE_F32);
    rk_gguf_close(g);
    snprintf(p, sizeof p, "%s/ds-tq2-moe.gguf", g_dir);
    ck_assert_msg(rk_gguf_open(&g, p, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(tensor(g, "blk.2.ffn_up_exps.weight")->type, RK_DTYPE_TQ2_0);
    rk_gguf_close(g);
}
END_TEST

/* same tensor bytes from the HF folder and from its f32 GGUF, with 1 or 2 threads; a q8_0 GGUF re-quantizes */
START_TEST(gguf_input_and_threads) {
    int rc = RUN("quantize '%s/ds' '%s/a.gguf' --recipe q4 --quiet", g_dir, g_dir);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, g_err);
    rc = rk_test_r1kit(g_out, sizeof g_out, g_err, sizeof g_err, "OMP_NUM_THREADS=2", "quantize '%s/ds-f32.gguf' '%s/b.gguf' --recipe q4 --threads 2 --quiet", g_dir, g_dir);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, g_err);
    ck_assert_ptr_nonnull(strstr(g_out, "total:"));
    ck_assert_ptr_null(strstr(g_out, "token_embd.weight"));   /* --quiet: no table */
    char pa[4096], pb[4096];
    snprintf(pa, sizeof pa, "%s/a.gguf", g_dir);
    snprintf(pb, sizeof pb, "%s/b.gguf", g_dir);
    rk_gguf *a, *b;
    rk_err err;
    ck_assert_msg(rk_gguf_open(&a, pa, &err) == 0, "%s", err.msg);
    ck_assert_msg(rk_gguf_open(&b, pb, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(rk_gguf_tensor_count(a), rk_gguf_tensor_count(b));
    for (uint64_t i = 0; i < rk_gguf_tensor_count(a); i++) {
        const rk_gguf_tensor *x = rk_gguf_tensor_at(a, i), *y = rk_gguf_tensor_at(b, i);
        ck_assert_str_eq(x->name_z, y->name_z);
        ck_assert_int_eq(x->type, y->type);
        ck_assert_msg(x->nbytes == y->nbytes && !memcmp(x->data, y->data, x->nbytes), "%s differs", x->name_z);
    }
    rk_gguf_str s;
    ck_assert_int_eq(rk_gguf_get_str(b, "general.architecture", &s), 0);   /* KVs copied */
    ck_assert(s.len == 9 && !memcmp(s.ptr, "deepseek2", 9));
    ck_assert_int_eq(rk_gguf_get_str(b, "tokenizer.ggml.model", &s), 0);
    rk_gguf_close(a);
    rk_gguf_close(b);
    rc = RUN("quantize '%s/ds' '%s/c8.gguf' --recipe q8_0 --quiet", g_dir, g_dir);
    ck_assert_int_eq(rc, 0);
    rc = RUN("quantize '%s/c8.gguf' '%s/c4.gguf' --recipe q4 --quiet", g_dir, g_dir);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, g_err);
    snprintf(pa, sizeof pa, "%s/c4.gguf", g_dir);
    check_metadata(pa, "q4", 14);
    ppl_of(pa);
}
END_TEST

/* Σ over experts, rows, columns of imp_e[j]·(x − x̂)² for a stacked tensor */
static double weighted_error(const rk_gguf_tensor *ref, const rk_gguf_tensor *q, const rk_imatrix *im) {
    const rk_qtype *qt = rk_qtype_get(q->type);
    ck_assert_ptr_nonnull(qt);
    ck_assert_int_eq(ref->type, RK_DTYPE_F32);
    const int64_t ne0 = q->ne[0], ne1 = q->ne[1], ne2 = q->ne[2], rb = ne0 / qt->block * (int64_t)qt->bytes;
    float *y = malloc((size_t)ne0 * sizeof *y), *imp = malloc((size_t)ne0 * sizeof *imp);
    const float *x = (const float *)ref->data;
    double e = 0;
    rk_err err;
    for (int64_t m = 0; m < ne2; m++) {
        ck_assert_msg(rk_imatrix_importance(im, q->name_z, m, imp, ne0, NULL, &err) == 0, "%s", err.msg);
        for (int64_t r = 0; r < ne1; r++) {
            const int64_t row = m * ne1 + r;
            qt->dequantize(q->data + row * rb, y, ne0);
            for (int64_t j = 0; j < ne0; j++) {
                const double d = (double)x[row * ne0 + j] - y[j];
                e += imp[j] * d * d;
            }
        }
    }
    free(y), free(imp);
    return e;
}

START_TEST(with_imatrix) {
    int rc = RUN("imatrix '%s/ds' --text '%s/text.txt' -o '%s/im.gguf' --ctx 64 --chunks 4", g_dir, g_dir, g_dir);
    ck_assert_msg(rc == 0, "imatrix: exit %d: %s", rc, g_err);
    rc = RUN("quantize '%s/ds' '%s/noim.gguf' --recipe q2-moe --quiet", g_dir, g_dir);
    ck_assert_int_eq(rc, 0);
    const char *w = strstr(g_err, "Q2_K is used without an importance matrix");
    ck_assert_ptr_nonnull(w);
    ck_assert_ptr_null(strstr(w + 1, "Q2_K is used without"));   /* once per type */
    rc = RUN("quantize '%s/ds' '%s/im-q2.gguf' --recipe q2-moe --imatrix '%s/im.gguf'", g_dir, g_dir, g_dir);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, g_err);
    ck_assert_ptr_null(strstr(g_err, "without an importance matrix"));
    char p[4096];
    snprintf(p, sizeof p, "%s/im-q2.gguf", g_dir);
    check_metadata(p, "q2-moe", 10);
    ppl_of(p);
    rk_gguf *gi, *gn, *gf;
    rk_err err;
    ck_assert_msg(rk_gguf_open(&gi, p, &err) == 0, "%s", err.msg);
    rk_gguf_str s;
    ck_assert_int_eq(rk_gguf_get_str(gi, "quantize.imatrix.file", &s), 0);
    int64_t n_ent = 0;
    ck_assert_int_eq(rk_gguf_get_i64(gi, "quantize.imatrix.entries_count", &n_ent), 0);
    ck_assert_int_gt(n_ent, 0);
    snprintf(p, sizeof p, "%s/noim.gguf", g_dir);
    ck_assert_msg(rk_gguf_open(&gn, p, &err) == 0, "%s", err.msg);
    snprintf(p, sizeof p, "%s/ds-f32.gguf", g_dir);
    ck_assert_msg(rk_gguf_open(&gf, p, &err) == 0, "%s", err.msg);
    rk_imatrix *im;
    snprintf(p, sizeof p, "%s/im.gguf", g_dir);
    ck_assert_msg(rk_imatrix_load(&im, p, &err) == 0, "%s", err.msg);
    static const char *const names[] = { "blk.1.ffn_gate_exps.weight", "blk.1.ffn_up_exps.weight", "blk.2.ffn_gate_exps.weight" };
    int differ = 0;
    for (int k = 0; k < 3; k++) {
        const rk_gguf_tensor *ti = tensor(gi, names[k]), *tn = tensor(gn, names[k]);
        ck_assert_int_eq(ti->type, RK_DTYPE_Q2_K);
        const double ei = weighted_error(tensor(gf, names[k]), ti, im), en = weighted_error(tensor(gf, names[k]), tn, im);
        ck_assert_msg(ei <= en * (1 + 1e-6), "%s: weighted error %.6g with imatrix > %.6g without", names[k], ei, en);
        differ |= memcmp(ti->data, tn->data, ti->nbytes) != 0;
    }
    ck_assert_msg(differ, "the imatrix changed nothing");
    rk_imatrix_free(im);
    rk_gguf_close(gi), rk_gguf_close(gn), rk_gguf_close(gf);
}
END_TEST

START_TEST(errors) {
    char p[4096];
    ck_assert_int_eq(RUN("quantize '%s/ds' '%s/x.gguf'", g_dir, g_dir), 2);                       /* no --recipe */
    ck_assert_ptr_nonnull(strstr(g_err, "--recipe"));
    ck_assert_int_eq(RUN("quantize '%s/ds' '%s/x.gguf' --recipe q3", g_dir, g_dir), 2);
    ck_assert_ptr_nonnull(strstr(g_err, "unknown recipe"));
    ck_assert_int_eq(RUN("quantize '%s/ds' '%s/x' --recipe q4", g_dir, g_dir), 2);                 /* not .gguf */
    ck_assert_int_eq(RUN("quantize '%s/ds' --recipe q4", g_dir), 2);
    ck_assert_int_eq(RUN("quantize '%s/ds' '%s/x.gguf' --recipe q4 --threads 0", g_dir, g_dir), 2);
    ck_assert_int_eq(RUN("quantize '%s/ds' '%s/x.gguf' --recipe q4 --override 'ffn_(=q4_k'", g_dir, g_dir), 2);
    ck_assert_ptr_nonnull(strstr(g_err, "bad regex"));
    ck_assert_int_eq(RUN("quantize '%s/ds' '%s/x.gguf' --recipe q4 --override 'ffn=q9'", g_dir, g_dir), 2);
    ck_assert_ptr_nonnull(strstr(g_err, "unknown type"));
    /* attn_k_b rows are 32 wide in the tiny sample: Q4_K cannot hold them; nothing is written */
    ck_assert_int_eq(RUN("quantize '%s/ds' '%s/x.gguf' --recipe q4 --override 'attn_k_b=q4_k'", g_dir, g_dir), 2);
    ck_assert_ptr_nonnull(strstr(g_err, "attn_k_b"));
    snprintf(p, sizeof p, "%s/x.gguf", g_dir);
    ck_assert_int_ne(access(p, F_OK), 0);
    /* an override that fits works and shows in the table */
    ck_assert_int_eq(RUN("quantize '%s/ds' '%s/x.gguf' --recipe q4 --override 'attn_k_b=q8_0' --override 'gate_exps=q5_k'", g_dir, g_dir), 0);
    ck_assert_ptr_nonnull(strstr(g_out, "(override)"));
    rk_gguf *g;
    rk_err err;
    ck_assert_msg(rk_gguf_open(&g, p, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(tensor(g, "blk.0.attn_k_b.weight")->type, RK_DTYPE_Q8_0);
    ck_assert_int_eq(tensor(g, "blk.1.ffn_gate_exps.weight")->type, RK_DTYPE_Q5_K);
    ck_assert_ptr_nonnull(rk_gguf_find_kv(g, "r1kit.quantize.overrides"));
    rk_gguf_close(g);
    /* inputs */
    ck_assert_int_eq(RUN("quantize '%s/missing' '%s/y.gguf' --recipe q4", g_dir, g_dir), 4);
    snprintf(p, sizeof p, "%s/junk.gguf", g_dir);
    rk_test_write_file(p, "GGUF\x03\0\0\0garbage", 15);
    ck_assert_int_eq(RUN("quantize '%s' '%s/y.gguf' --recipe q4", p, g_dir), 3);
    ck_assert_int_eq(RUN("quantize '%s/ds' '%s/y.gguf' --recipe q4 --imatrix '%s/none.gguf'", g_dir, g_dir, g_dir), 4);
    ck_assert_int_eq(RUN("quantize '%s/ds' '%s/y.gguf' --recipe q4 --imatrix '%s'", g_dir, g_dir, p), 3);
    ck_assert_int_eq(RUN("quantize '%s/ds' '%s/nodir/y.gguf' --recipe q4", g_dir, g_dir), 4);
    /* an imatrix of another model (qwen2: same names, other sizes) is refused, not half used */
    ck_assert_int_eq(RUN("imatrix '%s/qw' --text '%s/text.txt' -o '%s/imq.gguf' --ctx 64 --chunks 2", g_dir, g_dir, g_dir), 0);
    ck_assert_int_eq(RUN("quantize '%s/ds' '%s/y.gguf' --recipe q4 --imatrix '%s/imq.gguf'", g_dir, g_dir, g_dir), 3);
    ck_assert_ptr_nonnull(strstr(g_err, "does not fit"));
    snprintf(p, sizeof p, "%s/y.gguf", g_dir);
    ck_assert_int_ne(access(p, F_OK), 0);
    /* help */
    ck_assert_int_eq(RUN("help quantize"), 0);
    ck_assert_ptr_nonnull(strstr(g_out, "--recipe NAME"));
}
END_TEST

Suite *make_suite(void) {
    Suite *s = suite_create("cli_quantize");
    TCase *t = tcase_create("quantize");
    tcase_add_unchecked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 300);
    tcase_add_test(t, recipes_run);
    tcase_add_test(t, gguf_input_and_threads);
    tcase_add_test(t, with_imatrix);
    tcase_add_test(t, errors);
    suite_add_tcase(s, t);
    return s;
}

RK_TEST_MAIN()
