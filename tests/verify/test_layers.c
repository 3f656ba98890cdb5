/* tests/verify/test_layers.c — verify/layers.h and the report's allocation loader, on a tiny deepseek_v3 sample
 * (FP8 folder), its f32 GGUF, a q2-moe quantization and a per-expert allocation (--bpw 4 --layout per-expert):
 *   - a model against itself: every layer's input identical (error 0, cosine 1), routing equal in both, counts
 *     summing to tokens x top_k; the FP8 folder against its f32 GGUF (HF vs GGUF tensor names): ~0;
 *   - against q2-moe: every layer's error > 0 and finite, aggregate <= worst position, cosines ordered;
 *   - positions per chunk capped at the scored ones, chunks at what the text holds; too few tokens and models of
 *     different shapes refused; the observer is cleared afterwards;
 *   - rk_verify_report_load_alloc: types and bytes from the tensor table, recipe/layout keys, the allocator's
 *     predicted errors (per-expert), a folder refused as not GGUF, errors not aligned with types refused. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/gguf.h"
#include "model/model.h"
#include "model/tokenizer.h"
#include "tests/common/rk_test.h"
#include "verify/layers.h"
#include "verify/report.h"

static char g_out[1 << 16], g_err[1 << 16];
static char *g_dir;
static int32_t *g_tok;
static size_t g_ntok;

#define RUN(...) rk_test_r1kit(g_out, sizeof g_out, g_err, sizeof g_err, "OMP_NUM_THREADS=1", __VA_ARGS__)


#define path(name) rk_test_path(g_dir, name)

static void setup(void) {
    g_dir = rk_test_tmpdir("verify_layers");
    ck_assert_int_eq(RUN("sample '%s/ds' --arch deepseek_v3", g_dir), 0);
    ck_assert_int_eq(RUN("sample '%s/qw' --arch qwen2 --layers 1", g_dir), 0);
    ck_assert_int_eq(RUN("convert '%s/ds' '%s/ds-f32.gguf' --outtype f32 --quiet", g_dir, g_dir), 0);
    ck_assert_int_eq(RUN("quantize '%s/ds' '%s/ds-q2.gguf' --recipe q2-moe --quiet", g_dir, g_dir), 0);
    ck_assert_msg(RUN("quantize '%s/ds' '%s/ds-pe.gguf' --bpw 4 --layout per-expert --sample-rows 8 --quiet", g_dir, g_dir) == 0, "%s", g_err);
    rk_test_write_words(path("text.txt"), 8000, 777u);
    rk_err err;
    rk_tokenizer *t = NULL;
    char *text = NULL;
    uint64_t len = 0;
    ck_assert_int_eq(rk_read_file(path("text.txt"), 1 << 20, &text, &len, &err), 0);
    ck_assert_int_eq(rk_tokenizer_load(&t, path("ds-f32.gguf"), &err), 0);
    ck_assert_int_eq(rk_tokenizer_encode(t, text, (size_t)len, 1, &g_tok, &g_ntok, &err), 0);
    ck_assert_msg(g_ntok >= 4 * 64, "text of %zu tokens", g_ntok);
    rk_tokenizer_free(t);
    free(text);
}

static void teardown(void) {
    free(g_tok);
    rk_test_rmtree(g_dir);
    free(g_dir);
}

static rk_model *load(const char *name) {
    rk_model *m = NULL;
    rk_err err;
    ck_assert_msg(rk_model_load(&m, path(name), &err) == 0, "%s", err.msg);
    return m;
}

/* ctx 64, 2 chunks, batch = ctx, the tokenizer's BOS, 8 positions per chunk */
static rk_verify_layers_opts opts(void) {
    rk_verify_layers_opts o = { 64, 2, 0, -1, 8 };
    rk_tokenizer *t = NULL;
    rk_err err;
    ck_assert_int_eq(rk_tokenizer_load(&t, path("ds-f32.gguf"), &err), 0);
    o.bos = rk_tokenizer_leading_bos(t);
    rk_tokenizer_free(t);
    return o;
}

static void check_routing(const rk_verify_routing *r, int64_t n_experts) {
    ck_assert_int_gt(r->n, 0);
    for (int64_t i = 0; i < r->n; i++) {
        const rk_verify_routing_layer *l = &r->layer[i];
        ck_assert_int_eq(l->n_experts, n_experts);
        ck_assert_uint_gt(l->tokens, 0);
        uint64_t s = 0;
        for (int64_t e = 0; e < l->n_experts; e++) s += l->count[e];
        ck_assert_uint_eq(s, l->tokens * (uint64_t)l->top_k);
    }
}

START_TEST(self_zero) {
    rk_model *a = load("ds-f32.gguf"), *b = load("ds-f32.gguf");
    rk_verify_layers ly;
    rk_err err;
    const rk_verify_layers_opts o = opts();
    ck_assert_msg(rk_verify_layers_run(a, b, g_tok, (int64_t)g_ntok, &o, &ly, &err) == 0, "%s", err.msg);
    const int64_t L = rk_model_layers(a);
    ck_assert_int_eq(ly.n, L + 1);
    ck_assert_int_eq(ly.n_chunks, 2);
    ck_assert_int_eq(ly.positions_per_chunk, 8);
    for (int64_t i = 0; i < ly.n; i++) {
        const rk_verify_layer_err *e = &ly.layer[i];
        ck_assert_int_eq(e->layer, i < L ? i : -1);
        ck_assert_int_eq(e->positions, 16);
        ck_assert_msg(e->rel_err == 0 && e->rel_err_max == 0, "layer %lld: %g", (long long)e->layer, e->rel_err);
        ck_assert(fabs(e->cos_mean - 1) < 1e-12 && fabs(e->cos_min - 1) < 1e-12);
        char want[64];
        if (i < L) snprintf(want, sizeof want, "blk.%lld.", (long long)i);
        else snprintf(want, sizeof want, "output.weight");
        ck_assert_msg(strncmp(e->name, want, strlen(want)) == 0, "layer %lld captured %s", (long long)e->layer, e->name);
    }
    const int64_t E = rk_model_config(a)->n_routed_experts;
    check_routing(&ly.routing_base, E);
    check_routing(&ly.routing_cand, E);
    ck_assert_int_eq(ly.routing_base.n, ly.routing_cand.n);
    for (int64_t i = 0; i < ly.routing_base.n; i++)
        ck_assert(memcmp(ly.routing_base.layer[i].count, ly.routing_cand.layer[i].count, (size_t)E * sizeof(uint64_t)) == 0);
    /* routing over 2 chunks of 64 tokens (every position runs through every MoE layer) */
    ck_assert_uint_eq(ly.routing_base.layer[0].tokens, 2 * 64);
    rk_verify_layers_free(&ly);
    rk_verify_layers_free(&ly);   /* twice: left empty */
    /* the observer was cleared: a plain forward still works */
    rk_kvcache *kv = rk_kvcache_new(a, 8, &err);
    ck_assert_ptr_nonnull(kv);
    ck_assert_int_eq(rk_model_forward(a, kv, g_tok, 4, NULL, &err), 0);
    rk_kvcache_free(kv);
    /* the FP8 folder against its f32 GGUF: HF names on one side, GGUF names on the other */
    rk_model *h = load("ds");
    ck_assert_msg(rk_verify_layers_run(h, a, g_tok, (int64_t)g_ntok, &o, &ly, &err) == 0, "%s", err.msg);
    for (int64_t i = 0; i < ly.n; i++) {
        ck_assert_int_eq(ly.layer[i].positions, 16);
        ck_assert_msg(ly.layer[i].rel_err < 1e-5, "FP8 vs f32 layer %lld: %g", (long long)ly.layer[i].layer, ly.layer[i].rel_err);
    }
    ck_assert_ptr_nonnull(strstr(ly.layer[0].name, "model.layers.0."));
    rk_verify_layers_free(&ly);
    rk_model_free(h);
    rk_model_free(a);
    rk_model_free(b);
}
END_TEST

START_TEST(quantized) {
    rk_model *a = load("ds-f32.gguf"), *b = load("ds-q2.gguf");
    rk_verify_layers ly;
    rk_err err;
    rk_verify_layers_opts o = opts();
    o.n_chunks = 3, o.max_positions = 1000, o.n_batch = 16;   /* more than the 31 scored positions: all of them */
    ck_assert_msg(rk_verify_layers_run(a, b, g_tok, (int64_t)g_ntok, &o, &ly, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(ly.positions_per_chunk, 64 - 1 - 32);
    ck_assert_int_eq(ly.n_chunks, 3);
    for (int64_t i = 0; i < ly.n; i++) {
        const rk_verify_layer_err *e = &ly.layer[i];
        ck_assert_int_eq(e->positions, 3 * 31);
        /* layer 0's input is the embedding row (Q4_K in q2-moe), so every input differs */
        ck_assert_msg(isfinite(e->rel_err) && e->rel_err > 0 && e->rel_err < 1, "layer %lld: %g", (long long)e->layer, e->rel_err);
        ck_assert(e->rel_err <= e->rel_err_max * (1 + 1e-12));
        ck_assert(e->cos_min <= e->cos_mean && e->cos_mean <= 1 + 1e-12 && e->cos_min > 0.5);
    }
    ck_assert_uint_eq(ly.routing_base.layer[0].tokens, 3 * 64);
    rk_verify_layers_free(&ly);
    /* more chunks than the text holds: clamped */
    o.n_chunks = 1000, o.max_positions = 2;
    ck_assert_int_eq(rk_verify_layers_run(a, b, g_tok, 3 * 64 + 5, &o, &ly, &err), 0);
    ck_assert_int_eq(ly.n_chunks, 3);
    ck_assert_int_eq(ly.layer[0].positions, 6);
    rk_verify_layers_free(&ly);
    /* refusals */
    ck_assert_int_eq(rk_verify_layers_run(a, b, g_tok, 63, &o, &ly, &err), RK_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "fewer than one chunk"));
    ck_assert_ptr_null(ly.layer);
    o.n_ctx = 2;
    ck_assert_int_eq(rk_verify_layers_run(a, b, g_tok, (int64_t)g_ntok, &o, &ly, &err), RK_EINVAL);
    o.n_ctx = 64;
    rk_model *q = load("qw");
    ck_assert_int_eq(rk_verify_layers_run(a, q, g_tok, (int64_t)g_ntok, &o, &ly, &err), RK_EUNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(err.msg, "layers"));
    rk_model_free(q);
    rk_model_free(a);
    rk_model_free(b);
}
END_TEST

START_TEST(routing_dense) {
    rk_model *q = load("qw");
    rk_verify_routing r;
    rk_err err;
    ck_assert_int_eq(rk_verify_routing_collect(q, &r, &err), 0);
    ck_assert_int_eq(r.n, 0);
    ck_assert_ptr_null(r.layer);
    rk_verify_routing_free(&r);
    rk_verify_routing_free(NULL);
    rk_model_free(q);
}
END_TEST

static const rk_verify_alloc_tensor *find(const rk_verify_report_alloc *a, const char *name) {
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->t[i].name, name) == 0) return &a->t[i];
    return NULL;
}

START_TEST(alloc_load) {
    rk_verify_report_alloc a;
    rk_err err;
    /* q2-moe: stacked experts */
    ck_assert_msg(rk_verify_report_load_alloc(path("ds-q2.gguf"), &a, &err) == 0, "%s", err.msg);
    rk_gguf *g = NULL;
    ck_assert_int_eq(rk_gguf_open(&g, path("ds-q2.gguf"), &err), 0);
    ck_assert_uint_eq(a.n, rk_gguf_tensor_count(g));
    uint64_t bytes = 0;
    for (uint64_t i = 0; i < rk_gguf_tensor_count(g); i++) {
        const rk_gguf_tensor *t = rk_gguf_tensor_at(g, i);
        ck_assert_str_eq(a.t[i].name, t->name_z);
        ck_assert_str_eq(a.t[i].type, rk_dtype_name(t->type));
        ck_assert_uint_eq(a.t[i].bytes, t->nbytes);
        ck_assert_uint_eq(a.t[i].n_params, (uint64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]));
        ck_assert(isnan(a.t[i].pred_error));
        bytes += t->nbytes;
    }
    rk_gguf_close(g);
    ck_assert_uint_eq(a.total_bytes, bytes);
    ck_assert_str_eq(a.recipe, "q2-moe");
    ck_assert_str_eq(a.layout, "stacked");
    ck_assert_int_eq(a.n_experts, 0);
    const rk_verify_alloc_tensor *t = find(&a, "blk.1.ffn_gate_exps.weight");
    ck_assert_ptr_nonnull(t);
    ck_assert_str_eq(t->type, "Q2_K");
    ck_assert_int_eq(t->layer, 1);
    ck_assert_int_eq(t->expert, -1);
    ck_assert_str_eq(t->kind, "ffn_gate_exps");
    t = find(&a, "token_embd.weight");
    ck_assert(t && t->layer == -1 && strcmp(t->kind, "token_embd") == 0);
    rk_verify_report_alloc_free(&a);
    rk_verify_report_alloc_free(NULL);
    /* per-expert allocation: every expert its own tensor, predicted errors present */
    ck_assert_msg(rk_verify_report_load_alloc(path("ds-pe.gguf"), &a, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(a.recipe, "alloc");
    ck_assert_str_eq(a.layout, "per-expert");
    ck_assert(isfinite(a.predicted_error) && a.predicted_error > 0);
    rk_model *m = load("ds");
    ck_assert_int_eq(a.n_experts, rk_model_config(m)->n_routed_experts);
    rk_model_free(m);
    t = find(&a, "blk.1.ffn_down.3.weight");
    ck_assert_ptr_nonnull(t);
    ck_assert(t->layer == 1 && t->expert == 3 && strcmp(t->kind, "ffn_down") == 0);
    ck_assert(isfinite(t->pred_error) && t->pred_error >= 0 && isfinite(t->share));
    rk_verify_report_alloc_free(&a);
    /* not a GGUF */
    ck_assert_int_eq(rk_verify_report_load_alloc(path("ds"), &a, &err), RK_EUNSUPPORTED);
    ck_assert_int_eq(rk_verify_report_load_alloc(path("missing.gguf"), &a, &err), RK_EUNSUPPORTED);
    /* errors not aligned with types */
    rk_gguf_writer *w = NULL;
    ck_assert_int_eq(rk_gguf_writer_init(&w, &err), 0);
    const char *types[2] = { "a.weight=q4_0", "b.weight=q8_0" };
    const float e3[3] = { 1, 2, 3 };
    rk_gguf_set_arr_str(w, "r1kit.quantize.types", types, 2);
    rk_gguf_set_arr(w, "r1kit.quantize.alloc.errors", RK_GGUF_F32, e3, 3);
    ck_assert_int_eq(rk_gguf_writer_begin(w, path("bad.gguf"), 0, &err), 0);
    ck_assert_int_eq(rk_gguf_writer_finish(w, &err), 0);
    rk_gguf_writer_free(w);
    ck_assert_int_eq(rk_verify_report_load_alloc(path("bad.gguf"), &a, &err), RK_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(err.msg, "r1kit.quantize.alloc.errors"));
    ck_assert_ptr_null(a.t);
}
END_TEST

Suite *make_suite(void) {
    Suite *s = suite_create("verify_layers");
    TCase *tc = tcase_create("layers");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, self_zero);
    tcase_add_test(tc, quantized);
    tcase_add_test(tc, routing_dense);
    tcase_add_test(tc, alloc_load);
    suite_add_tcase(s, tc);
    return s;
}

RK_TEST_MAIN()
