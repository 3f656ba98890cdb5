/* tests/verify/test_report.c — the HTML report of `r1kit verify --html` (verify/report.h):
 *   - synthetic input (3 chunks of hand-made token figures, a failing gate, findings and names full of HTML
 *     metacharacters, 4 layers, 3 MoE layers x 8 experts of routing, a per-expert allocation): the file is
 *     well-formed (every tag closed in order), holds each chart's <svg id>, the tables, the verdict, escapes every
 *     string, and has no http:// or https:// anywhere; absent sections are one-line notes; no result → RK_EINVAL
 *     and no file; an unwritable folder → RK_EIO;
 *   - a real pair through the library: `r1kit sample` tiny deepseek_v3 (f32 GGUF) against its q2-moe and its
 *     per-expert --bpw 4 quantizations: rk_verify_compare, routing, rk_verify_layers_run, the allocation → all
 *     charts present (chart-alloc-experts for the per-expert file);
 *   - headless Chromium (/usr/bin/chromium, Debian package `chromium`; $RK_CHROMIUM overrides the path): the page
 *     as written loads (CSP forbids scripts and every load) and its DOM holds the chart ids; a copy with a measuring
 *     script (CSP relaxed for it) reports every svg.chart at its drawn size with marks inside; a screenshot is a
 *     real, non-blank PNG.
 * Without chromium every other test still runs and the program exits 77 (skipped) with a message when they pass. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/model.h"
#include "model/tokenizer.h"
#include "tests/common/rk_test.h"
#include "verify/compare.h"
#include "verify/layers.h"
#include "verify/report.h"

static char g_out[1 << 16], g_err[1 << 16];
static char *g_dir;

#define RUN(...) rk_test_r1kit(g_out, sizeof g_out, g_err, sizeof g_err, "OMP_NUM_THREADS=1", __VA_ARGS__)

#define path(name) rk_test_path(g_dir, name)


/* ---- HTML checks -------------------------------------------------------------------------------------------- */
static void check_common(const char *html) {
    rk_test_html_self_contained(html);
    static const char *const ids[] = { "chart-ppl", "chart-chunk-kld", "chart-kld-hist", "chart-dp-hist" };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        char want[64];
        snprintf(want, sizeof want, "<svg id=\"%s\"", ids[i]);
        ck_assert_msg(strstr(html, want) != NULL, "no %s", want);
    }
    ck_assert_ptr_nonnull(strstr(html, "id=\"totals-table\""));
    ck_assert_ptr_nonnull(strstr(html, "id=\"kld-pct-table\""));
    ck_assert_ptr_nonnull(strstr(html, "id=\"dp-pct-table\""));
}

static int has_svg(const char *html, const char *id) {
    char want[64];
    snprintf(want, sizeof want, "<svg id=\"%s\"", id);
    return strstr(html, want) != NULL;
}

/* ---- synthetic input ---------------------------------------------------------------------------------------- */
typedef struct synth {
    rk_verify_result res;
    rk_verify_report_criterion crit[2];
    rk_verify_report_gate gate;
    rk_verify_report_finding find[3];
    rk_verify_layers ly;
    rk_verify_routing rb, rc;
    rk_verify_report_alloc al;
    rk_verify_report rep;
} synth;

static void synth_init(synth *s) {
    memset(s, 0, sizeof *s);
    rk_err err;
    ck_assert_int_eq(rk_verify_begin(&s->res, 3, 40, &err), 0);
    uint32_t x = 1;
    for (int c = 0; c < 3; c++) {
        for (int j = 0; j < 40; j++) {
            x = x * 1664525u + 1013904223u;
            const double u = (double)(x >> 8) / 16777216.0;
            rk_verify_tok t = { 2 + u + 0.1 * c, 2 + 0.9 * u, j % 13 == 0 ? 0 : pow(10, -5 + 5 * u), 0.2 * (u - 0.55), j % 7 ? 1 : 2, 1 };
            ck_assert_int_eq(rk_verify_add(&s->res, &t, &err), 0);
        }
        rk_verify_end_chunk(&s->res);
    }
    ck_assert_int_eq(rk_verify_finish(&s->res, &err), 0);
    s->res.n_ctx = 82, s->res.n_tokens = 300;
    s->crit[0] = (rk_verify_report_criterion){ "mean KLD", "<=", s->res.total.kld, 0.001, 0 };
    s->crit[1] = (rk_verify_report_criterion){ "same top p <&>", ">=", 80, 50, 1 };
    s->gate = (rk_verify_report_gate){ 0, 2, s->crit };
    s->find[0] = (rk_verify_report_finding){ 2, "CANDIDATE", "tensor <script>alert(1)</script> & \"x\" 'y'" };
    s->find[1] = (rk_verify_report_finding){ 1, "BASE", "gating function absent\x01" };
    s->find[2] = (rk_verify_report_finding){ 0, NULL, "structure ok" };
    s->ly.n = 5;
    s->ly.layer = calloc(5, sizeof *s->ly.layer);
    for (int i = 0; i < 5; i++) {
        rk_verify_layer_err *e = &s->ly.layer[i];
        e->layer = i < 4 ? i : -1;
        snprintf(e->name, sizeof e->name, i < 4 ? "blk.%d.attn_q_a.weight" : "output<%d>.weight", i);
        e->positions = 24, e->rel_err = 0.01 * (i + 1), e->rel_err_max = 0.03 * (i + 1), e->cos_mean = 1 - 1e-4 * i,
        e->cos_min = 1 - 1e-3 * i;
    }
    s->ly.layer[2].rel_err = NAN;   /* a layer without positions: not drawn */
    s->ly.n_chunks = 2, s->ly.positions_per_chunk = 12;
    rk_verify_routing *rr[2] = { &s->rb, &s->rc };
    for (int k = 0; k < 2; k++) {
        rr[k]->n = 3;
        rr[k]->layer = calloc(3, sizeof *rr[k]->layer);
        for (int l = 0; l < 3; l++) {
            rk_verify_routing_layer *L = &rr[k]->layer[l];
            L->layer = l + 1, L->n_experts = 8, L->top_k = 2, L->tokens = 100;
            L->count = calloc(8, sizeof *L->count);
            uint64_t left = 200;
            for (int e = 0; e < 7; e++) L->count[e] = (uint64_t)((e + l + k) % 5 * 7), left -= L->count[e];
            L->count[7] = left;
        }
    }
    /* per-expert allocation: global tensors, 4 layers, layers 1..3 with 8 experts x gate/up/down */
    s->al.t = calloc(200, sizeof *s->al.t);
    size_t n = 0;
    const char *glob[3][2] = { { "token_embd.weight", "Q4_K" }, { "output_norm.weight", "F32" }, { "output.weight", "Q6_K" } };
    for (int i = 0; i < 3; i++) {
        rk_verify_alloc_tensor *t = &s->al.t[n++];
        snprintf(t->name, sizeof t->name, "%s", glob[i][0]);
        snprintf(t->type, sizeof t->type, "%s", glob[i][1]);
        snprintf(t->kind, sizeof t->kind, "%.*s", (int)(strlen(glob[i][0]) - 7), glob[i][0]);
        t->n_dims = i == 1 ? 1 : 2, t->n_params = i == 1 ? 64 : 64 * 256, t->layer = -1, t->expert = -1;
        t->bytes = t->n_params * (i == 1 ? 4 : i == 0 ? 144 : 210) / (i == 1 ? 1 : 256);
        t->pred_error = 0.001 * (i + 1), t->share = 1;
    }
    static const char *const ek[3] = { "ffn_gate", "ffn_up", "ffn_down" };
    static const char *const et[4] = { "Q2_K", "Q3_K", "Q4_K", "Q6_K" };
    static const int eb[4] = { 84, 110, 144, 210 };
    for (int l = 0; l < 4; l++) {
        rk_verify_alloc_tensor *t = &s->al.t[n++];
        snprintf(t->name, sizeof t->name, "blk.%d.attn_q_a.weight", l);
        snprintf(t->type, sizeof t->type, "Q5_0");
        snprintf(t->kind, sizeof t->kind, "attn_q_a");
        t->n_dims = 2, t->n_params = 64 * 32, t->bytes = 64 * 22, t->layer = l, t->expert = -1, t->pred_error = NAN, t->share = NAN;
        for (int e = 0; l > 0 && e < 8; e++)
            for (int k = 0; k < 3; k++) {
                t = &s->al.t[n++];
                snprintf(t->name, sizeof t->name, "blk.%d.%s.%d.weight", l, ek[k], e);
                const int ty = (e + l + k) % 4;
                snprintf(t->type, sizeof t->type, "%s", et[ty]);
                snprintf(t->kind, sizeof t->kind, "%s", ek[k]);
                t->n_dims = 2, t->n_params = 256 * 16, t->bytes = 16 * (uint64_t)eb[ty], t->layer = l, t->expert = e;
                t->pred_error = 1e-3 / (ty + 1), t->share = 0.01;
            }
    }
    s->al.n = n;
    for (size_t i = 0; i < n; i++) s->al.total_bytes += s->al.t[i].bytes, s->al.total_params += s->al.t[i].n_params;
    snprintf(s->al.recipe, sizeof s->al.recipe, "alloc");
    snprintf(s->al.layout, sizeof s->al.layout, "per-expert");
    s->al.predicted_error = 0.0123, s->al.n_experts = 8;
    s->rep = (rk_verify_report){ .title = "r1kit verify <test>", .base_path = "/m/base & co/model.gguf",
                                 .cand_path = "/m/cand\"q2\".gguf", .text_path = "/t/a<b>.txt",
                                 .command = "r1kit verify a b --html 'x'", .result = &s->res, .gate = &s->gate,
                                 .findings = s->find, .n_findings = 3, .layers = &s->ly, .routing_base = &s->rb,
                                 .routing_cand = &s->rc, .alloc = &s->al };
}

static void synth_free(synth *s) {
    rk_verify_result_free(&s->res);
    rk_verify_layers_free(&s->ly);
    rk_verify_routing_free(&s->rb);
    rk_verify_routing_free(&s->rc);
    rk_verify_report_alloc_free(&s->al);
}

START_TEST(synthetic) {
    synth s;
    synth_init(&s);
    rk_err err;
    ck_assert_msg(rk_verify_report_html(path("s.html"), &s.rep, &err) == 0, "%s", err.msg);
    char *h = rk_test_read_text(path("s.html"));
    check_common(h);
    static const char *const ids[] = { "chart-layers", "chart-routing", "chart-alloc", "chart-alloc-experts" };
    for (size_t i = 0; i < 4; i++) ck_assert_msg(has_svg(h, ids[i]), "no %s", ids[i]);
    /* verdict and gate */
    ck_assert_ptr_nonnull(strstr(h, "id=\"verdict\">FAIL<"));
    ck_assert_ptr_nonnull(strstr(h, "id=\"gate-table\""));
    ck_assert_ptr_nonnull(strstr(h, "same top p &lt;&amp;&gt;"));
    /* escaping */
    ck_assert_ptr_null(strstr(h, "<script>alert"));
    ck_assert_ptr_nonnull(strstr(h, "tensor &lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;x&quot; &#39;y&#39;"));
    ck_assert_ptr_nonnull(strstr(h, "gating function absent?"));
    ck_assert_ptr_nonnull(strstr(h, "/m/base &amp; co/model.gguf"));
    ck_assert_ptr_nonnull(strstr(h, "cand&quot;q2&quot;.gguf vs model.gguf"));   /* names = last path component */
    ck_assert_ptr_nonnull(strstr(h, "r1kit verify &lt;test&gt;"));
    ck_assert_ptr_nonnull(strstr(h, "output&lt;4&gt;.weight"));
    /* per chunk: 3 points per series; the layer without positions has no bar (4 of 5) */
    const char *ppl = strstr(h, "<svg id=\"chart-ppl\""), *ppl_end = strstr(ppl, "</svg>");
    size_t circles = 0;
    for (const char *p = strstr(ppl, "<circle"); p && p < ppl_end; p = strstr(p + 1, "<circle")) circles++;
    ck_assert_uint_eq(circles, 6);
    const char *lay = strstr(h, "<svg id=\"chart-layers\""), *lay_end = strstr(lay, "</svg>");
    size_t nbars = 0;
    for (const char *p = strstr(lay, "class=\"bar\""); p && p < lay_end; p = strstr(p + 1, "class=\"bar\"")) nbars++;
    ck_assert_uint_eq(nbars, 4);
    /* routing: 3 panels of 3 x 8 cells; allocation heat map cells */
    const char *rt = strstr(h, "<svg id=\"chart-routing\""), *rt_end = strstr(rt, "</svg>");
    size_t cells = 0;
    for (const char *p = strstr(rt, "of selections ("); p && p < rt_end; p = strstr(p + 1, "of selections (")) cells++;
    ck_assert_uint_eq(cells, 2 * 3 * 8);
    ck_assert_ptr_nonnull(strstr(rt, "difference"));
    ck_assert_ptr_nonnull(strstr(h, "ffn_gate (experts)"));
    ck_assert_ptr_nonnull(strstr(h, "id=\"alloc-types-table\""));
    ck_assert_ptr_nonnull(strstr(h, "id=\"alloc-pred-table\""));
    ck_assert_ptr_nonnull(strstr(h, "id=\"findings-table\""));
    ck_assert_ptr_nonnull(strstr(h, "1 errors, 1 warnings"));
    /* KLD histogram: the zero bin (every 13th token) */
    ck_assert_ptr_nonnull(strstr(h, "KLD = 0: 12 tokens"));
    ck_assert_uint_eq(rk_test_count(h, "<svg "), rk_test_count(h, "</svg>"));
    free(h);
    /* passing gate, nothing optional */
    s.gate.pass = 1;
    rk_verify_report r2 = { 0 };
    r2.result = &s.res;
    r2.gate = &s.gate;
    ck_assert_int_eq(rk_verify_report_html(path("s2.html"), &r2, &err), 0);
    h = rk_test_read_text(path("s2.html"));
    check_common(h);
    ck_assert_ptr_nonnull(strstr(h, "id=\"verdict\">PASS<"));
    ck_assert_ptr_nonnull(strstr(h, "CANDIDATE vs BASE"));
    ck_assert(!has_svg(h, "chart-layers") && !has_svg(h, "chart-routing") && !has_svg(h, "chart-alloc"));
    ck_assert_ptr_nonnull(strstr(h, "Per-layer error not measured"));
    ck_assert_ptr_nonnull(strstr(h, "No MoE routing"));
    ck_assert_ptr_nonnull(strstr(h, "No bit allocation"));
    ck_assert_ptr_nonnull(strstr(h, "No findings."));
    free(h);
    /* only the candidate's routing; no gate */
    r2.gate = NULL;
    r2.routing_cand = &s.rc;
    ck_assert_int_eq(rk_verify_report_html(path("s2.html"), &r2, &err), 0);
    h = rk_test_read_text(path("s2.html"));
    check_common(h);
    ck_assert_ptr_nonnull(strstr(h, "id=\"verdict\">NO GATE<"));
    ck_assert(has_svg(h, "chart-routing"));
    ck_assert_ptr_null(strstr(h, "difference: candidate"));
    free(h);
    /* refusals: nothing written */
    ck_assert_int_eq(rk_verify_report_html(path("none.html"), NULL, &err), RK_EINVAL);
    r2.result = NULL;
    ck_assert_int_eq(rk_verify_report_html(path("none.html"), &r2, &err), RK_EINVAL);
    ck_assert(!rk_file_exists(path("none.html")));
    r2.result = &s.res;
    ck_assert_int_eq(rk_verify_report_html(path("no/such/dir/r.html"), &r2, &err), RK_EIO);
    synth_free(&s);
}
END_TEST

START_TEST(all_equal) {   /* KLD all zero, dp all zero: the charts still draw (a single zero bin) */
    rk_verify_result res;
    rk_err err;
    ck_assert_int_eq(rk_verify_begin(&res, 1, 12, &err), 0);
    for (int j = 0; j < 12; j++) {
        rk_verify_tok t = { 3, 3, 0, 0, 5, 5 };
        ck_assert_int_eq(rk_verify_add(&res, &t, &err), 0);
    }
    rk_verify_end_chunk(&res);
    ck_assert_int_eq(rk_verify_finish(&res, &err), 0);
    rk_verify_report r = { .result = &res, .cand_path = "x.gguf", .base_path = "x.gguf" };
    ck_assert_int_eq(rk_verify_report_html(path("eq.html"), &r, &err), 0);
    char *h = rk_test_read_text(path("eq.html"));
    check_common(h);
    ck_assert_ptr_nonnull(strstr(h, "KLD = 0: 12 tokens (100.00%)"));
    ck_assert_ptr_null(strstr(h, "nan"));
    ck_assert_ptr_null(strstr(h, "inf\""));
    free(h);
    rk_verify_result_free(&res);
}
END_TEST

/* ---- a real pair ---------------------------------------------------------------------------------------------- */

static void setup(void) {
    g_dir = rk_test_tmpdir("verify_report");
    ck_assert_int_eq(RUN("sample '%s/ds' --arch deepseek_v3", g_dir), 0);
    ck_assert_int_eq(RUN("convert '%s/ds' '%s/ds-f32.gguf' --outtype f32 --quiet", g_dir, g_dir), 0);
    ck_assert_int_eq(RUN("quantize '%s/ds' '%s/ds-q2.gguf' --recipe q2-moe --quiet", g_dir, g_dir), 0);
    ck_assert_msg(RUN("quantize '%s/ds' '%s/ds-pe.gguf' --bpw 4 --layout per-expert --sample-rows 8 --quiet", g_dir, g_dir) == 0, "%s", g_err);
    rk_test_write_words(path("text.txt"), 8000, 4242u);
}

static void teardown(void) {
    rk_test_rmtree(g_dir);
    free(g_dir);
}

/* what cli/verify.c will do for --html: compare, routing of the run, layers, allocation, gate → the page */
static void real_report(const char *cand, const char *out) {
    rk_err err;
    rk_model *mb = NULL, *mc = NULL;
    rk_tokenizer *tk = NULL;
    char *text = NULL;
    uint64_t len = 0;
    int32_t *ids = NULL;
    size_t n = 0;
    ck_assert_int_eq(rk_read_file(path("text.txt"), 1 << 20, &text, &len, &err), 0);
    ck_assert_msg(rk_model_load(&mb, path("ds-f32.gguf"), &err) == 0, "%s", err.msg);
    ck_assert_msg(rk_model_load(&mc, path(cand), &err) == 0, "%s", err.msg);
    ck_assert_int_eq(rk_tokenizer_load(&tk, path("ds-f32.gguf"), &err), 0);
    ck_assert_int_eq(rk_tokenizer_encode(tk, text, (size_t)len, 1, &ids, &n, &err), 0);
    rk_verify_opts vo = { 64, 3, 0, rk_tokenizer_leading_bos(tk) };
    rk_verify_result res;
    ck_assert_msg(rk_verify_compare(mb, mc, ids, (int64_t)n, &vo, NULL, NULL, &res, &err) == 0, "%s", err.msg);
    res.n_tokens = (int64_t)n;
    rk_verify_routing rb, rc;
    ck_assert_int_eq(rk_verify_routing_collect(mb, &rb, &err), 0);
    ck_assert_int_eq(rk_verify_routing_collect(mc, &rc, &err), 0);
    ck_assert_int_gt(rb.n, 0);
    rk_verify_layers_opts lo = { 64, 2, 0, rk_tokenizer_leading_bos(tk), 16 };
    rk_verify_layers ly;
    ck_assert_msg(rk_verify_layers_run(mb, mc, ids, (int64_t)n, &lo, &ly, &err) == 0, "%s", err.msg);
    rk_verify_report_alloc al;
    ck_assert_msg(rk_verify_report_load_alloc(path(cand), &al, &err) == 0, "%s", err.msg);
    rk_verify_gate gate;
    rk_verify_gate_init(&gate);
    gate.max_kld = 10, gate.min_top1 = 1;
    rk_verify_gate_result gr;
    rk_verify_gate_eval(&gate, &res.total, &gr);
    rk_verify_report_criterion crit[RK_VERIFY_GATE_N];
    rk_verify_report_gate g;
    rk_verify_report_gate_from(&gr, crit, &g);
    ck_assert_uint_eq(g.n, 2);
    ck_assert_int_eq(g.pass, 1);
    rk_verify_report_finding f = { 1, "CANDIDATE", "a warning for the test" };
    rk_verify_report r = { .base_path = path("ds-f32.gguf"), .cand_path = path(cand), .text_path = path("text.txt"),
                           .result = &res, .gate = &g, .findings = &f, .n_findings = 1, .layers = &ly,
                           .routing_base = &rb, .routing_cand = &rc, .alloc = &al };
    ck_assert_msg(rk_verify_report_html(path(out), &r, &err) == 0, "%s", err.msg);
    rk_verify_report_alloc_free(&al);
    rk_verify_layers_free(&ly);
    rk_verify_routing_free(&rb);
    rk_verify_routing_free(&rc);
    rk_verify_result_free(&res);
    free(ids);
    free(text);
    rk_tokenizer_free(tk);
    rk_model_free(mb);
    rk_model_free(mc);
}

START_TEST(real_pair) {
    real_report("ds-q2.gguf", "q2.html");
    char *h = rk_test_read_text(path("q2.html"));
    check_common(h);
    static const char *const ids[] = { "chart-layers", "chart-routing", "chart-alloc" };
    for (size_t i = 0; i < 3; i++) ck_assert_msg(has_svg(h, ids[i]), "no %s", ids[i]);
    ck_assert(!has_svg(h, "chart-alloc-experts"));   /* stacked experts */
    ck_assert_ptr_nonnull(strstr(h, "id=\"verdict\">PASS<"));
    ck_assert_ptr_nonnull(strstr(h, ">Q2_K<"));      /* routed experts' cells show their type */
    ck_assert_ptr_nonnull(strstr(h, "<code>q2-moe</code>"));
    ck_assert_ptr_nonnull(strstr(h, "blk.0.attn_q_a.weight"));
    free(h);
    real_report("ds-pe.gguf", "pe.html");
    h = rk_test_read_text(path("pe.html"));
    check_common(h);
    ck_assert(has_svg(h, "chart-alloc-experts") && has_svg(h, "chart-alloc") && has_svg(h, "chart-routing"));
    ck_assert_ptr_nonnull(strstr(h, "id=\"alloc-pred-table\""));
    free(h);
}
END_TEST

/* ---- headless Chromium ---------------------------------------------------------------------------------------- */
static char g_dom[1 << 22];

static void render(const char *name) {
    /* 1. the page as written: loads, its DOM has every chart */
    int rc = rk_test_chromium(g_dir, "--dump-dom", path(name), g_dom, sizeof g_dom);
    ck_assert_msg(rc == 0, "chromium --dump-dom exit %d", rc);
    static const char *const ids[] = { "chart-ppl", "chart-chunk-kld", "chart-kld-hist", "chart-dp-hist", "chart-layers",
                                       "chart-routing", "chart-alloc" };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        char want[64];
        snprintf(want, sizeof want, "id=\"%s\"", ids[i]);
        ck_assert_msg(strstr(g_dom, want) != NULL, "%s: the DOM has no %s", name, want);
    }
    /* 2. a copy with a measuring script (CSP relaxed for it): every chart laid out at a non-zero size */
    rk_test_chart_box box[32];
    const int charts = rk_test_chromium_measure(g_dir, path(name), "rect,circle,polyline", box, 32);
    for (int i = 0; i < charts && i < 32; i++)
        ck_assert_msg(box[i].w >= 400 && box[i].h >= 100 && box[i].marks >= 3, "%s: %s drawn at %dx%d with %d marks", name,
                      box[i].id, box[i].w, box[i].h, box[i].marks);
    ck_assert_msg(charts >= 7, "%s: %d charts measured", name, charts);
    /* 3. a screenshot: a PNG of the window size, far from blank (a blank page compresses to a few KB) */
    char shot[64];
    snprintf(shot, sizeof shot, "shot-%s.png", name);
    size_t pn = 0;
    uint8_t *png = rk_test_chromium_screenshot(g_dir, path(name), path(shot), &pn);
    ck_assert(memcmp(png + 12, "IHDR", 4) == 0);
    const uint32_t pw = (uint32_t)png[16] << 24 | (uint32_t)png[17] << 16 | (uint32_t)png[18] << 8 | png[19];
    const uint32_t ph = (uint32_t)png[20] << 24 | (uint32_t)png[21] << 16 | (uint32_t)png[22] << 8 | png[23];
    ck_assert_msg(pw >= 1000 && ph >= 2400, "screenshot %ux%u", pw, ph);   /* device scale may double it */
    free(png);
    const size_t bn = rk_test_chromium_blank_bytes(g_dir);
    ck_assert_msg(pn > 8 * bn && pn > 50000, "%s: screenshot of %zu bytes, a blank page %zu", name, pn, bn);
}

START_TEST(browser) {
    if (!rk_test_have_chromium()) return;   /* main() reports the skip */
    real_report("ds-pe.gguf", "b-pe.html");
    render("b-pe.html");
    synth s;
    synth_init(&s);
    rk_err err;
    ck_assert_int_eq(rk_verify_report_html(path("b-s.html"), &s.rep, &err), 0);
    synth_free(&s);
    render("b-s.html");
}
END_TEST

Suite *make_suite(void) {
    Suite *s = suite_create("verify_report");
    TCase *tc = tcase_create("report");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, synthetic);
    tcase_add_test(tc, all_equal);
    tcase_add_test(tc, real_pair);
    tcase_add_test(tc, browser);
    suite_add_tcase(s, tc);
    return s;
}

RK_TEST_MAIN_BROWSER()
