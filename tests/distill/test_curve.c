/* tests/distill/test_curve.c — the training-curve page (distill/curve.h):
 *   - two runs with HTML metacharacters in their labels and the title: a distilled student (step lines with ce / kd,
 *     eval lines with kld / top1 / teacher_ppl, a resume that repeats steps 11..30 with other values, a Python-style
 *     NaN, a null, garbage lines, an unknown event and a truncated last line) and its cross-entropy-only twin: the
 *     page is well-formed, has no URL or script, 6 charts with one <polyline> per series (13), both labels escaped,
 *     the summary values of the last lines (the resume's, not the first pass's), and the point counts after the
 *     repeats and the NaN are dropped;
 *   - 5000 steps: each polyline thinned to <= 1000 points, the first and last kept; a single step line: the constant
 *     and single-point series draw, absent charts are a note (held-out) or left out (kld, top1);
 *   - errors: a missing log and a folder (RK_EIO), a log with no step line (RK_EINVAL), no runs (RK_EINVAL): the
 *     message names the file and nothing is left in the output folder;
 *   - headless Chromium (/usr/bin/chromium; $RK_CHROMIUM overrides): the page loads under its CSP, a measuring copy
 *     reports every svg.chart drawn at its size with marks inside, a screenshot is far from blank.
 * Without chromium every other test still runs and the program exits 77 (skipped) with a message when they pass. */
#define _GNU_SOURCE
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "distill/curve.h"
#include "tests/common/rk_test.h"

static char *g_dir;


#define path(name) rk_test_path(g_dir, name)

static size_t n_entries(const char *dir) {   /* files in dir, "." and ".." aside */
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d));) n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

static void check_common(const char *html) {
    rk_test_html_self_contained(html);
    ck_assert_ptr_null(strstr(html, "nan"));   /* no non-finite number printed into coordinates */
    ck_assert_ptr_null(strstr(html, "inf\""));
}

/* the <svg id="id"> ... </svg> of the page, copied; NULL when absent */
static char *svg_of(const char *html, const char *id) {
    char want[64];
    snprintf(want, sizeof want, "<svg id=\"%s\"", id);
    const char *a = strstr(html, want);
    if (!a) return NULL;
    const char *e = strstr(a, "</svg>");
    ck_assert_ptr_nonnull(e);
    return strndup(a, (size_t)(e - a));
}

/* points of the first polyline whose <title> starts with title */
static size_t polyline_points(const char *svg, const char *title, char *first, char *last) {
    char want[256];
    snprintf(want, sizeof want, "\"><title>%s (", title);
    const char *t = strstr(svg, want);
    ck_assert_msg(t != NULL, "no polyline titled %s", title);
    const char *p = t;
    while (p > svg && strncmp(p, "points=\"", 8)) p--;
    ck_assert(strncmp(p, "points=\"", 8) == 0);
    p += 8;
    size_t n = 0;
    for (const char *q = p; q < t; q++) n += *q == ' ';
    if (first) sscanf(p, "%63s", first);
    if (last) {
        const char *q = t - 1;   /* the points end with "x,y " */
        while (q > p && q[-1] != ' ') q--;
        snprintf(last, 64, "%.*s", (int)(t - 1 - q), q);
    }
    return n;
}

/* ---- the synthetic pair ----------------------------------------------------------------------------------------- */
#define LABEL_A "student <&> \"kd\""
#define LABEL_A_ESC "student &lt;&amp;&gt; &quot;kd&quot;"
#define LABEL_B "ce-only 'twin'"
#define LABEL_B_ESC "ce-only &#39;twin&#39;"
#define TITLE "Curves &lt;b&gt;&amp; friends"

static void step_line(FILE *f, int s, double loss, int distill) {
    fprintf(f, "{\"event\":\"step\",\"step\":%d,\"loss\":%.6f,", s, loss);
    if (distill) fprintf(f, "\"ce\":%.6f,\"kd\":%.6f,", loss * 0.6, loss * 0.4);
    fprintf(f, "\"lr\":%.6g,\"grad_norm\":%.4f,\"tokens_per_s\":%.1f,\"step_ms\":%.2f}\n", 3e-4 * (s < 5 ? s / 5.0 : 1.0),
            1.0 / s, 1000.0 + s, 12.5);
}

static void eval_line(FILE *f, int s, double hl, int distill) {
    fprintf(f, "{\"event\":\"eval\",\"step\":%d,\"heldout_loss\":%.6f,\"heldout_ppl\":%.6f,\"heldout_tokens\":4096,"
               "\"expert_load\":{\"1\":[3,5,8]}", s, hl, exp(hl));
    if (distill) fprintf(f, ",\"kld\":%.6f,\"top1\":%.4f,\"teacher_ppl\":9.5", 0.5 / s, 0.5 + s / 80.0);
    fprintf(f, "}\n");
}

static void write_pair(void) {
    FILE *f = fopen(path("a.jsonl"), "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "starting run\n{\"event\":\"start\",\"step\":0,\"n_params\":1234}\n[1,2,3]\n{\"no_event\":1}\n\n");
    for (int s = 1; s <= 30; s++) {   /* the first pass: killed after step 30's line */
        step_line(f, s, s == 30 ? 7.777 : 10.0 - s * 0.1, 1);
        if (s % 10 == 0) eval_line(f, s, s == 30 ? 8.888 : 9.0 - s * 0.1, 1);
    }
    for (int s = 11; s <= 30; s++) {  /* the resume from the step-10 checkpoint: steps 11..30 again */
        if (s == 15) fprintf(f, "{\"event\":\"step\",\"step\":15,\"loss\":NaN,\"ce\":null,\"kd\":0.1,\"lr\":3e-4,"
                                "\"tokens_per_s\":1015,\"step_ms\":12}\n");
        else step_line(f, s, s == 30 ? 1.2345 : 5.0 - s * 0.1, 1);
        if (s % 10 == 0) eval_line(f, s, s == 30 ? 2.5 : 4.0 - s * 0.05, 1);
    }
    fprintf(f, "{\"event\":\"step\",\"step\":31,\"loss\":0.5,\"l");   /* kill -9 mid-line */
    fclose(f);
    f = fopen(path("b.jsonl"), "w");
    ck_assert_ptr_nonnull(f);
    for (int s = 1; s <= 40; s++) {
        step_line(f, s, s == 40 ? 1.5 : 10.0 - s * 0.08, 0);
        if (s % 20 == 0) eval_line(f, s, s == 40 ? 3.25 : 6.0, 0);
    }
    fclose(f);
}

START_TEST(pair) {
    write_pair();
    const rk_curve_run runs[2] = { { path("a.jsonl"), LABEL_A }, { path("b.jsonl"), LABEL_B } };
    rk_err err;
    ck_assert_msg(rk_curve_html(runs, 2, "Curves <b>& friends", path("pair.html"), &err) == 0, "%s", err.msg);
    char *h = rk_test_read_text(path("pair.html"));
    check_common(h);
    ck_assert_ptr_nonnull(strstr(h, TITLE));
    ck_assert_ptr_null(strstr(h, "<b>"));
    ck_assert_uint_eq(rk_test_count(h, "<svg "), 6);
    static const char *const ids[] = { "curve-loss", "curve-heldout", "curve-kld", "curve-top1", "curve-lr", "curve-tps" };
    static const size_t lines[] = { 4, 3, 1, 1, 2, 2 };   /* A: loss ce kd, B: loss | A: heldout teacher, B | A | A | 2 | 2 */
    for (size_t i = 0; i < 6; i++) {
        char *s = svg_of(h, ids[i]);
        ck_assert_msg(s != NULL, "no <svg id=\"%s\"", ids[i]);
        ck_assert_msg(rk_test_count(s, "<polyline") == lines[i], "%s: %zu polylines", ids[i], rk_test_count(s, "<polyline"));
        ck_assert_msg(strstr(s, ">" LABEL_A_ESC) != NULL, "%s: no legend for A", ids[i]);
        ck_assert_msg(i == 2 || i == 3 || strstr(s, ">" LABEL_B_ESC) != NULL, "%s: no legend for B", ids[i]);
        ck_assert_msg(rk_test_count(s, "class=\"xt\"") >= 2 && rk_test_count(s, "class=\"yt\"") >= 2, "%s: too few tick labels", ids[i]);
        free(s);
    }
    ck_assert_uint_eq(rk_test_count(h, "<polyline"), 13);
    ck_assert_ptr_null(strstr(h, LABEL_A));
    ck_assert_ptr_null(strstr(h, LABEL_B));
    /* the loss of A: 30 distinct steps, step 15's NaN dropped; ce: step 15's null dropped; kd has all 30 */
    char *s = svg_of(h, "curve-loss");
    ck_assert_uint_eq(polyline_points(s, LABEL_A_ESC, NULL, NULL), 29);
    ck_assert_uint_eq(polyline_points(s, LABEL_A_ESC " · ce", NULL, NULL), 29);
    ck_assert_uint_eq(polyline_points(s, LABEL_A_ESC " · kd", NULL, NULL), 30);
    ck_assert_uint_eq(polyline_points(s, LABEL_B_ESC, NULL, NULL), 40);
    ck_assert_ptr_nonnull(strstr(s, "step 30: 1.2345<"));   /* the last marker: the resume's value */
    ck_assert_ptr_null(strstr(s, "7.777"));
    free(s);
    s = svg_of(h, "curve-heldout");
    ck_assert_uint_eq(polyline_points(s, LABEL_A_ESC, NULL, NULL), 3);
    ck_assert_uint_eq(polyline_points(s, LABEL_A_ESC " · teacher", NULL, NULL), 3);
    ck_assert_ptr_null(strstr(s, "8.888"));
    free(s);
    /* the summary: the last lines' values */
    const char *t0 = strstr(h, "<table id=\"summary-table\">"), *t1 = t0 ? strstr(t0, "</table>") : NULL;
    ck_assert(t0 && t1);
    char *tab = strndup(t0, (size_t)(t1 - t0));
    static const char *const want[] = { LABEL_A_ESC, LABEL_B_ESC, "a.jsonl", "b.jsonl", "<td>30</td>", "<td>40</td>",
                                        "<td>1.2345</td>", "<td>1.5000</td>", "<td>0.7407</td>", "<td>0.4938</td>",
                                        "<td>2.5000</td>", "<td>12.182</td>", "<td>3.2500</td>", "<td>25.790</td>",
                                        "<td>0.01667</td>", "<td>0.8750</td>", "<td>9.500</td>", "<td>4</td>",
                                        "<th>KLD</th>", "<th>top-1</th>", "<th>kd</th>" };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        ck_assert_msg(strstr(tab, want[i]) != NULL, "summary lacks %s:\n%s", want[i], tab);
    ck_assert_ptr_null(strstr(tab, "7.7770"));
    ck_assert_ptr_null(strstr(tab, "<td>31</td>"));
    free(tab);
    free(h);
}
END_TEST

START_TEST(long_and_single) {
    FILE *f = fopen(path("long.jsonl"), "w");
    ck_assert_ptr_nonnull(f);
    for (int s = 1; s <= 5000; s++) step_line(f, s, 2.0 + sin(s * 0.01) + (s == 2500 ? 5 : 0), 0);
    fclose(f);
    rk_curve_run run = { path("long.jsonl"), NULL };
    rk_err err;
    ck_assert_msg(rk_curve_html(&run, 1, NULL, path("long.html"), &err) == 0, "%s", err.msg);
    char *h = rk_test_read_text(path("long.html"));
    check_common(h);
    ck_assert_ptr_nonnull(strstr(h, "r1kit training curves"));
    ck_assert_uint_eq(rk_test_count(h, "<svg "), 3);   /* loss, lr, tps; no held-out (a note), no kld / top1 */
    ck_assert_ptr_nonnull(strstr(h, "Held-out loss: not in the log."));
    ck_assert_ptr_null(strstr(h, "curve-kld"));
    char *s = svg_of(h, "curve-loss"), first[64], last[64];
    const size_t n = polyline_points(s, "long.jsonl", first, last);
    ck_assert_msg(n >= 900 && n <= 1000, "%zu points", n);
    ck_assert_ptr_nonnull(strstr(s, "(5000 points, thinned)"));
    /* x: steps 0..5000 over pixels 72..876; the first point is step 1, the last step 5000 */
    ck_assert_msg(!strncmp(first, "72.2,", 5), "first point %s", first);
    ck_assert_msg(!strncmp(last, "876.0,", 6), "last point %s", last);
    ck_assert_ptr_nonnull(strstr(s, " 474.0,"));   /* the spike at step 2500 (x = 474.0) survives the thinning */
    free(s);
    free(h);

    f = fopen(path("one.jsonl"), "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "{\"event\":\"step\",\"step\":1,\"loss\":3.5,\"lr\":0.001,\"tokens_per_s\":0}\n");
    fclose(f);
    run.log_path = path("one.jsonl");
    run.label = "one";
    ck_assert_msg(rk_curve_html(&run, 1, "single", path("one.html"), &err) == 0, "%s", err.msg);
    h = rk_test_read_text(path("one.html"));
    check_common(h);
    ck_assert_uint_eq(rk_test_count(h, "<svg "), 3);
    ck_assert_uint_eq(rk_test_count(h, "<polyline"), 3);
    ck_assert_uint_eq(rk_test_count(h, "<circle"), 3);   /* a single point is drawn as its marker */
    ck_assert_ptr_nonnull(strstr(h, "step 1: 3.5<"));
    free(h);
}
END_TEST

START_TEST(errors) {
    char *dir = rk_test_tmpdir("curve_err");
    char out[4096], log[4096];
    snprintf(out, sizeof out, "%s/out.html", dir);
    rk_err err;
    /* missing log */
    snprintf(log, sizeof log, "%s/missing.jsonl", dir);
    rk_curve_run run = { log, "x" };
    ck_assert_int_eq(rk_curve_html(&run, 1, NULL, out, &err), RK_EIO);
    ck_assert_msg(strstr(err.msg, "missing.jsonl") != NULL, "%s", err.msg);
    ck_assert_uint_eq(n_entries(dir), 0);
    /* a folder */
    run.log_path = dir;
    ck_assert_int_eq(rk_curve_html(&run, 1, NULL, out, &err), RK_EIO);
    ck_assert_uint_eq(n_entries(dir), 0);
    /* no step line: eval lines, garbage, a step line without a numeric step, a truncated step line */
    snprintf(log, sizeof log, "%s/nostep.jsonl", dir);
    static const char txt[] = "{\"event\":\"eval\",\"step\":10,\"heldout_loss\":2}\nnot json\n"
                              "{\"event\":\"step\",\"step\":\"ten\",\"loss\":1}\n{\"event\":\"step\",\"step\":11,\"lo";
    rk_test_write_file(log, txt, sizeof txt - 1);
    run.log_path = log;
    const rk_curve_run two[2] = { { path("b.jsonl"), "ok" }, { log, "bad" } };
    write_pair();
    ck_assert_int_eq(rk_curve_html(two, 2, NULL, out, &err), RK_EINVAL);
    ck_assert_msg(strstr(err.msg, "nostep.jsonl") != NULL, "%s", err.msg);
    ck_assert_uint_eq(n_entries(dir), 1);   /* the log alone */
    /* an empty log */
    rk_test_write_file(log, "", 0);
    ck_assert_int_eq(rk_curve_html(&run, 1, NULL, out, &err), RK_EINVAL);
    ck_assert_uint_eq(n_entries(dir), 1);
    /* API misuse */
    ck_assert_int_eq(rk_curve_html(&run, 0, NULL, out, &err), RK_EINVAL);
    ck_assert_int_eq(rk_curve_html(NULL, 1, NULL, out, &err), RK_EINVAL);
    ck_assert_int_eq(rk_curve_html(&run, 1, NULL, NULL, &err), RK_EINVAL);
    /* an unwritable output folder */
    snprintf(out, sizeof out, "%s/no/such/dir/out.html", dir);
    ck_assert_int_eq(rk_curve_html(two, 1, NULL, out, &err), RK_EIO);
    rk_test_rmtree(dir);
    free(dir);
}
END_TEST

/* ---- headless Chromium ---------------------------------------------------------------------------------------- */
START_TEST(browser) {
    if (!rk_test_have_chromium()) return;   /* main() reports the skip */
    write_pair();
    const rk_curve_run runs[2] = { { path("a.jsonl"), LABEL_A }, { path("b.jsonl"), LABEL_B } };
    rk_err err;
    ck_assert_msg(rk_curve_html(runs, 2, "browser", path("br.html"), &err) == 0, "%s", err.msg);
    /* 1. as written: loads, the DOM has every chart */
    static char g_dom[1 << 22];
    int rc = rk_test_chromium(g_dir, "--dump-dom", path("br.html"), g_dom, sizeof g_dom);
    ck_assert_msg(rc == 0, "chromium --dump-dom exit %d", rc);
    static const char *const ids[] = { "curve-loss", "curve-heldout", "curve-kld", "curve-top1", "curve-lr", "curve-tps" };
    for (size_t i = 0; i < 6; i++) {
        char want[64];
        snprintf(want, sizeof want, "id=\"%s\"", ids[i]);
        ck_assert_msg(strstr(g_dom, want) != NULL, "the DOM has no %s", want);
    }
    ck_assert_ptr_nonnull(strstr(g_dom, "student &lt;&amp;&gt; \"kd\""));   /* the DOM's serialization of label A */
    /* 2. a copy with a measuring script (CSP relaxed for it): every chart laid out with marks inside */
    rk_test_chart_box box[16];
    const int charts = rk_test_chromium_measure(g_dir, path("br.html"), "circle,polyline", box, 16);
    for (int i = 0; i < charts && i < 16; i++)
        ck_assert_msg(box[i].w >= 400 && box[i].h >= 150 && box[i].marks >= 2, "%s drawn at %dx%d with %d marks", box[i].id,
                      box[i].w, box[i].h, box[i].marks);
    ck_assert_int_eq(charts, 6);
    /* 3. a screenshot far from blank */
    size_t pn = 0;
    free(rk_test_chromium_screenshot(g_dir, path("br.html"), path("br.png"), &pn));
    const size_t bn = rk_test_chromium_blank_bytes(g_dir);
    ck_assert_msg(pn > 8 * bn && pn > 50000, "screenshot of %zu bytes, a blank page %zu", pn, bn);
}
END_TEST

static void setup(void) { g_dir = rk_test_tmpdir("curve"); }
static void teardown(void) {
    rk_test_rmtree(g_dir);
    free(g_dir);
}

Suite *make_suite(void) {
    Suite *s = suite_create("distill_curve");
    TCase *tc = tcase_create("curve");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, pair);
    tcase_add_test(tc, long_and_single);
    tcase_add_test(tc, errors);
    tcase_add_test(tc, browser);
    suite_add_tcase(s, tc);
    return s;
}

RK_TEST_MAIN_BROWSER()
