/* verify/report.c — `r1kit verify --html FILE`: the page around the charts (report_charts.c): header with the
 * headline figures and the gate's verdict, the tables (totals in llama.cpp's wording, percentiles, gate criteria,
 * findings, chunks, layers, allocation), inline CSS. Built in memory, then written with rk_write_file_atomic.
 * Self-contained by construction: no URL is ever written (inline <svg> needs no xmlns in HTML5), and a
 * Content-Security-Policy of default-src 'none' stops the browser from loading anything even so. */
#include "verify/report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "verify/report-impl.h"

/* ---- gate --------------------------------------------------------------------------------------------------- */
void rk_verify_report_gate_from(const rk_verify_gate_result *gr, rk_verify_report_criterion *crit,
                                rk_verify_report_gate *out) {
    size_t n = 0;
    for (int i = 0; i < RK_VERIFY_GATE_N; i++) {
        const rk_verify_gate_item *it = &gr->item[i];
        if (!it->set) continue;
        crit[n].name = it->figure;
        crit[n].op = it->key && strncmp(it->key, "min_", 4) == 0 ? ">=" : "<=";
        crit[n].value = it->value;
        crit[n].threshold = it->threshold;
        crit[n].passed = it->pass;
        n++;
    }
    out->pass = gr->n_failed == 0;
    out->n = n;
    out->item = crit;
}

/* ---- page --------------------------------------------------------------------------------------------------- */
static const char css[] =
    "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;color:#1d1d1f;margin:0;"
    "background:#f4f5f7}main{max-width:960px;margin:0 auto;padding:0 16px 48px}"
    "header{background:#1f2933;color:#fff;padding:20px 0 16px;margin-bottom:16px}header .in{max-width:960px;margin:0 auto;"
    "padding:0 16px}h1{font-size:22px;margin:0 0 6px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #d0d4da;"
    "padding-bottom:4px}.sub{color:#c9d1d9;font-size:13px;word-break:break-all}.badge{display:inline-block;padding:3px 12px;"
    "border-radius:4px;font-weight:700;margin-left:10px;vertical-align:middle;font-size:15px}.pass{background:#2e7d32;color:#fff}"
    ".fail{background:#c62828;color:#fff}.nogate{background:#6b7280;color:#fff}.cards{display:flex;flex-wrap:wrap;gap:10px;"
    "margin-top:14px}.card{background:#2b3945;border-radius:6px;padding:8px 12px;min-width:120px}.card .v{font-size:19px;"
    "font-weight:600}.card .k{font-size:12px;color:#c9d1d9}nav{font-size:13px;margin:8px 0 0}nav a{color:#9ecbff;"
    "margin-right:12px}figure{margin:12px 0;background:#fff;border:1px solid #d0d4da;border-radius:6px;padding:8px}"
    "figcaption{font-size:12px;color:#555;margin-top:4px}table{border-collapse:collapse;background:#fff;margin:8px 0;"
    "font-size:13px}th,td{border:1px solid #d0d4da;padding:3px 8px;text-align:right}th{background:#eef0f3}"
    "td.l,th.l{text-align:left}.row{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}.na{color:#666;"
    "font-style:italic}.lv-error{color:#c62828;font-weight:600}.lv-warn{color:#b26a00;font-weight:600}.lv-ok{color:#2e7d32}"
    "td.ok{color:#2e7d32;font-weight:600}td.bad{color:#c62828;font-weight:600}code{font-size:12px}details{margin:8px 0}"
    "summary{cursor:pointer;color:#1f5fa8}"
    /* charts: the frame (verify/svg.h), then this page's marks */
    RK_SVG_CSS
    "polyline.s-base{fill:none;stroke:#6b7280;stroke-width:2;stroke-dasharray:6 4}circle.s-base,.k-base"
    "{fill:#6b7280}polyline.s-cand{fill:none;stroke:#d62728;stroke-width:2}circle.s-cand,.k-cand{fill:#d62728}"
    ".bar{fill:#4c78a8}.bar.neg{fill:#e45756}.bar.zero{fill:#9aa0a6}.bar:hover{fill:#f58518}.mark{stroke:#d62728;"
    "stroke-width:1.5;stroke-dasharray:4 3}.mk{font-size:10px;fill:#d62728}.cell{font-size:10px;text-anchor:middle;"
    "fill:#111;pointer-events:none}.cell.inv{fill:#fff}svg g:hover rect,svg rect[fill^='#']:hover{stroke:#000;"
    "stroke-width:1}";

static const char *base_name(const char *path) {
    if (!path) return NULL;
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    const char *s = path + n;
    while (s > path && s[-1] != '/') s--;
    return s;
}

static void th(rk_sb *b, const char *cls, const char *text) {
    rk__sb_printf(b, "<th%s>", cls ? cls : "");
    rk__sb_esc(b, text);
    rk__sb_puts(b, "</th>");
}

static void card(rk_sb *b, const char *k, const char *v) {
    rk__sb_puts(b, "<div class=\"card\"><div class=\"v\">");
    rk__sb_esc(b, v);
    rk__sb_puts(b, "</div><div class=\"k\">");
    rk__sb_esc(b, k);
    rk__sb_puts(b, "</div></div>");
}

static void header(rk_sb *b, const rk_verify_report *r, const char *bn, const char *cn) {
    const rk_verify_result *res = r->result;
    const rk_verify_stats *t = &res->total;
    char f1[48], f2[48], v[128];
    rk__sb_puts(b, "<header><div class=\"in\"><h1>");
    rk__sb_esc(b, r->title ? r->title : "r1kit verify");
    rk__sb_puts(b, ": ");
    rk__sb_esc(b, cn);
    rk__sb_puts(b, " vs ");
    rk__sb_esc(b, bn);
    if (!r->gate) rk__sb_puts(b, "<span class=\"badge nogate\" id=\"verdict\">NO GATE</span>");
    else if (r->gate->pass) rk__sb_puts(b, "<span class=\"badge pass\" id=\"verdict\">PASS</span>");
    else rk__sb_puts(b, "<span class=\"badge fail\" id=\"verdict\">FAIL</span>");
    rk__sb_puts(b, "</h1><div class=\"sub\">BASE: ");
    rk__sb_esc(b, r->base_path ? r->base_path : bn);
    rk__sb_puts(b, "<br>CANDIDATE: ");
    rk__sb_esc(b, r->cand_path ? r->cand_path : cn);
    if (r->text_path) rk__sb_puts(b, "<br>text: "), rk__sb_esc(b, r->text_path);
    rk__sb_escf(b, "\n· %lld tokens, ctx %lld, %lld chunks, %lld scored tokens, %.1f s", (long long)res->n_tokens,
                (long long)res->n_ctx, (long long)res->n_chunks, (long long)res->sums.count, res->seconds);
    if (r->command) rk__sb_puts(b, "<br><code>"), rk__sb_esc(b, r->command), rk__sb_puts(b, "</code>");
    rk__sb_puts(b, "</div><div class=\"cards\">");
    snprintf(v, sizeof v, "%s ± %s", rk__fmt(f1, 'f', 4, t->ratio), rk__fmt(f2, 'f', 4, t->ratio_err));
    card(b, "PPL(Q)/PPL(base)", v);
    snprintf(v, sizeof v, "%s ± %s", rk__fmt(f1, 'f', 6, t->kld), rk__fmt(f2, 'f', 6, t->kld_err));
    card(b, "mean KLD", v);
    snprintf(v, sizeof v, "%s %%", rk__fmt(f1, 'f', 3, 100 * t->same_top));
    card(b, "same top p", v);
    snprintf(v, sizeof v, "%s %%", rk__fmt(f1, 'f', 3, 100 * t->dp_rms));
    card(b, "RMS Δp", v);
    card(b, "PPL(Q)", rk__fmt(f1, 'f', 4, t->ppl));
    card(b, "PPL(base)", rk__fmt(f1, 'f', 4, t->ppl_base));
    rk__sb_puts(b, "</div><nav><a href=\"#gate\">gate</a><a href=\"#findings\">checks</a><a href=\"#chunks\">chunks</a>"
                   "<a href=\"#tokens\">tokens</a><a href=\"#totals\">totals</a><a href=\"#layers\">layers</a>"
                   "<a href=\"#routing\">routing</a><a href=\"#alloc\">allocation</a></nav></div></header>\n");
}

static void gate_section(rk_sb *b, const rk_verify_report_gate *g) {
    rk__sb_puts(b, "<h2 id=\"gate\">Gate</h2>\n");
    if (!g) { rk__sb_puts(b, "<p class=\"na\">No gate was given.</p>\n"); return; }
    rk__sb_printf(b, "<p>Verdict: <b class=\"%s\">%s</b> (%zu criteria).</p>\n", g->pass ? "lv-ok" : "lv-error",
                  g->pass ? "PASS" : "FAIL", g->n);
    if (!g->n) return;
    rk__sb_puts(b, "<table id=\"gate-table\"><tr>");
    th(b, " class=\"l\"", "criterion"), th(b, NULL, "value"), th(b, NULL, "must be"), th(b, NULL, "threshold"), th(b, NULL, "result");
    rk__sb_puts(b, "</tr>\n");
    char f1[48], f2[48];
    for (size_t i = 0; i < g->n; i++) {
        const rk_verify_report_criterion *c = &g->item[i];
        rk__sb_puts(b, "<tr><td class=\"l\">");
        rk__sb_esc(b, c->name);
        rk__sb_printf(b, "</td><td>%s</td><td>", rk__fmt(f1, 'g', 6, c->value));
        rk__sb_esc(b, c->op ? c->op : "");
        rk__sb_printf(b, "</td><td>%s</td><td class=\"%s\">%s</td></tr>\n", rk__fmt(f2, 'g', 6, c->threshold),
                      c->passed ? "ok" : "bad", c->passed ? "pass" : "FAIL");
    }
    rk__sb_puts(b, "</table>\n");
}

static void findings_section(rk_sb *b, const rk_verify_report *r) {
    rk__sb_puts(b, "<h2 id=\"findings\">Static checks</h2>\n");
    if (!r->n_findings || !r->findings) { rk__sb_puts(b, "<p class=\"na\">No findings.</p>\n"); return; }
    size_t nw = 0, ne = 0;
    for (size_t i = 0; i < r->n_findings; i++) nw += r->findings[i].level == 1, ne += r->findings[i].level >= 2;
    rk__sb_printf(b, "<p>%zu findings: %zu errors, %zu warnings.</p><table id=\"findings-table\"><tr>", r->n_findings, ne, nw);
    th(b, " class=\"l\"", "level"), th(b, " class=\"l\"", "model"), th(b, " class=\"l\"", "finding");
    rk__sb_puts(b, "</tr>\n");
    for (size_t i = 0; i < r->n_findings; i++) {
        const rk_verify_report_finding *f = &r->findings[i];
        const char *lv = f->level >= 2 ? "error" : f->level == 1 ? "warn" : "ok";
        rk__sb_printf(b, "<tr><td class=\"l lv-%s\">%s</td><td class=\"l\">", lv, lv);
        rk__sb_esc(b, f->where ? f->where : "");
        rk__sb_puts(b, "</td><td class=\"l\">");
        rk__sb_esc(b, f->text);
        rk__sb_puts(b, "</td></tr>\n");
    }
    rk__sb_puts(b, "</table>\n");
}

static void row2(rk_sb *b, const char *k, const char *v) {
    rk__sb_puts(b, "<tr><td class=\"l\">");
    rk__sb_esc(b, k);
    rk__sb_puts(b, "</td><td>");
    rk__sb_esc(b, v);
    rk__sb_puts(b, "</td></tr>\n");
}

static void pm(char *v, size_t cap, int prec, double x, double e, const char *unit) {
    char f1[48], f2[48];
    snprintf(v, cap, "%s ± %s%s", rk__fmt(f1, 'f', prec, x), rk__fmt(f2, 'f', prec, e), unit);
}

static void pct_label(char *buf, size_t cap, float f) {
    if (f >= 1) snprintf(buf, cap, "Maximum");
    else if (f <= 0) snprintf(buf, cap, "Minimum");
    else if (f == 0.5f) snprintf(buf, cap, "Median");
    else snprintf(buf, cap, "%.1f%%", 100.0 * f);
}

static void totals_section(rk_sb *b, const rk_verify_result *res) {
    const rk_verify_stats *t = &res->total;
    char v[128], f1[48], k[32];
    rk__sb_puts(b, "<h2 id=\"totals\">Totals</h2>\n<div class=\"row\"><table id=\"totals-table\"><tr>");
    th(b, " class=\"l\"", "figure"), th(b, NULL, "value");
    rk__sb_puts(b, "</tr>\n");
    pm(v, sizeof v, 6, t->ppl, t->ppl_err, ""), row2(b, "Mean PPL(Q)", v);
    pm(v, sizeof v, 6, t->ppl_base, t->ppl_base_err, ""), row2(b, "Mean PPL(base)", v);
    snprintf(v, sizeof v, "%s%%", rk__fmt(f1, 'f', 2, 100 * t->cor)), row2(b, "Cor(ln(PPL(Q)), ln(PPL(base)))", v);
    pm(v, sizeof v, 6, t->ln_ratio, t->ln_ratio_err, ""), row2(b, "Mean ln(PPL(Q)/PPL(base))", v);
    pm(v, sizeof v, 6, t->ratio, t->ratio_err, ""), row2(b, "Mean PPL(Q)/PPL(base)", v);
    pm(v, sizeof v, 6, t->diff, t->diff_err, ""), row2(b, "Mean PPL(Q)-PPL(base)", v);
    pm(v, sizeof v, 6, t->kld, t->kld_err, ""), row2(b, "Mean KLD", v);
    row2(b, "Maximum KLD", rk__fmt(f1, 'f', 6, t->kld_max));
    pm(v, sizeof v, 3, 100 * t->dp, 100 * t->dp_err, " %"), row2(b, "Mean Δp", v);
    snprintf(v, sizeof v, "%s%%", rk__fmt(f1, 'f', 3, 100 * t->dp_absmax)), row2(b, "Maximum |Δp|", v);
    pm(v, sizeof v, 3, 100 * t->dp_rms, 100 * t->dp_rms_err, " %"), row2(b, "RMS Δp", v);
    pm(v, sizeof v, 3, 100 * t->same_top, 100 * t->same_top_err, " %"), row2(b, "Same top p", v);
    snprintf(v, sizeof v, "%lld", (long long)t->count), row2(b, "Scored tokens", v);
    rk__sb_puts(b, "</table>\n<table id=\"kld-pct-table\"><tr>");
    th(b, " class=\"l\"", "KLD percentile"), th(b, NULL, "value");
    rk__sb_puts(b, "</tr>\n");
    for (int i = 0; i < RK_VERIFY_N_KLD_PCT; i++)
        pct_label(k, sizeof k, rk_verify_kld_pct[i]), row2(b, k, rk__fmt(f1, 'f', 6, res->kld_pct[i]));
    rk__sb_puts(b, "</table>\n<table id=\"dp-pct-table\"><tr>");
    th(b, " class=\"l\"", "Δp percentile"), th(b, NULL, "value");
    rk__sb_puts(b, "</tr>\n");
    for (int i = 0; i < RK_VERIFY_N_DP_PCT; i++) {
        pct_label(k, sizeof k, rk_verify_dp_pct[i]);
        snprintf(v, sizeof v, "%s%%", rk__fmt(f1, 'f', 3, 100 * res->dp_pct[i]));
        row2(b, k, v);
    }
    rk__sb_puts(b, "</table></div>\n");
}

static void chunks_table(rk_sb *b, const rk_verify_result *res) {
    char f[6][48];
    rk__sb_printf(b, "<details><summary>Per-chunk figures (%lld chunks)</summary><table id=\"chunks-table\"><tr>", (long long)res->n_chunks);
    static const char *const hd[] = { "chunk", "PPL(Q)", "PPL(base)", "ln ratio", "mean KLD", "max KLD", "RMS Δp %", "same top p %" };
    for (size_t i = 0; i < sizeof hd / sizeof hd[0]; i++) th(b, NULL, hd[i]);
    rk__sb_puts(b, "</tr>\n");
    for (int64_t c = 0; c < res->n_chunks; c++) {
        const rk_verify_stats *s = &res->chunk[c];
        rk__sb_printf(b, "<tr><td>%lld</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%.3f</td></tr>\n",
                      (long long)(c + 1), rk__fmt(f[0], 'f', 4, s->ppl), rk__fmt(f[1], 'f', 4, s->ppl_base),
                      rk__fmt(f[2], 'f', 6, s->ln_ratio), rk__fmt(f[3], 'f', 6, s->kld), rk__fmt(f[4], 'f', 6, s->kld_max),
                      rk__fmt(f[5], 'f', 3, 100 * s->dp_rms), 100 * s->same_top);
    }
    rk__sb_puts(b, "</table></details>\n");
}

static void layers_table(rk_sb *b, const rk_verify_layers *l) {
    if (!l || l->n < 1) return;
    char f[4][48];
    rk__sb_printf(b, "<details><summary>Per-layer figures (%lld inputs, %.1f s)</summary><table id=\"layers-table\"><tr>",
                  (long long)l->n, l->seconds);
    static const char *const hd[] = { "layer", "linear", "positions", "rel. error", "max rel. error", "mean cos", "min cos" };
    for (size_t i = 0; i < sizeof hd / sizeof hd[0]; i++) th(b, i == 1 ? " class=\"l\"" : NULL, hd[i]);
    rk__sb_puts(b, "</tr>\n");
    for (int64_t i = 0; i < l->n; i++) {
        const rk_verify_layer_err *e = &l->layer[i];
        if (e->layer < 0) rk__sb_puts(b, "<tr><td>out</td><td class=\"l\">");
        else rk__sb_printf(b, "<tr><td>%lld</td><td class=\"l\">", (long long)e->layer);
        rk__sb_esc(b, e->name);
        rk__sb_printf(b, "</td><td>%lld</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n", (long long)e->positions,
                      rk__fmt(f[0], 'f', 6, e->rel_err), rk__fmt(f[1], 'f', 6, e->rel_err_max), rk__fmt(f[2], 'f', 6, e->cos_mean),
                      rk__fmt(f[3], 'f', 6, e->cos_min));
    }
    rk__sb_puts(b, "</table></details>\n");
}

static int by_pred_desc(const void *pa, const void *pb) {
    const rk_verify_alloc_tensor *a = *(const rk_verify_alloc_tensor *const *)pa, *c = *(const rk_verify_alloc_tensor *const *)pb;
    return (c->pred_error > a->pred_error) - (c->pred_error < a->pred_error);
}

static void tensor_row(rk_sb *b, const rk_verify_alloc_tensor *t) {
    char f[3][48];
    rk__sb_puts(b, "<tr><td class=\"l\">");
    rk__sb_esc(b, t->name);
    rk__sb_puts(b, "</td><td class=\"l\">");
    rk__sb_esc(b, t->type);
    rk__sb_printf(b, "</td><td>%llu</td><td>%llu</td><td>%s</td><td>%s</td><td>%s</td></tr>\n", (unsigned long long)t->n_params,
                  (unsigned long long)t->bytes, rk__fmt(f[0], 'f', 3, t->n_params ? 8.0 * (double)t->bytes / (double)t->n_params : NAN),
                  rk__fmt(f[1], 'g', 4, t->pred_error), rk__fmt(f[2], 'g', 4, t->share));
}

static void tensor_head(rk_sb *b) {
    static const char *const hd[] = { "tensor", "type", "weights", "bytes", "bits/weight", "pred. error", "share" };
    rk__sb_puts(b, "<tr>");
    for (size_t i = 0; i < sizeof hd / sizeof hd[0]; i++) th(b, i < 2 ? " class=\"l\"" : NULL, hd[i]);
    rk__sb_puts(b, "</tr>\n");
}

static void alloc_tables(rk_sb *b, const rk_verify_report_alloc *a) {
    if (!a || !a->n) return;
    char f1[48], f2[48];
    rk__sb_printf(b, "<p>%zu tensors, %llu weights, %llu bytes, %s bits per weight", a->n, (unsigned long long)a->total_params,
                  (unsigned long long)a->total_bytes,
                  rk__fmt(f1, 'f', 4, a->total_params ? 8.0 * (double)a->total_bytes / (double)a->total_params : NAN));
    if (a->recipe[0]) rk__sb_puts(b, "; recipe <code>"), rk__sb_esc(b, a->recipe), rk__sb_puts(b, "</code>");
    if (a->layout[0]) rk__sb_puts(b, ", layout <code>"), rk__sb_esc(b, a->layout), rk__sb_puts(b, "</code>");
    if (isfinite(a->predicted_error)) rk__sb_printf(b, ", predicted error %s", rk__fmt(f2, 'g', 5, a->predicted_error));
    rk__sb_puts(b, ".</p>\n");
    /* bytes per type */
    enum { MAXT = 48 };
    struct { const char *type; uint64_t bytes, params; size_t n; } ty[MAXT];
    int nt = 0;
    for (size_t i = 0; i < a->n; i++) {
        int k = 0;
        while (k < nt && strcmp(ty[k].type, a->t[i].type) != 0) k++;
        if (k == nt) {
            if (nt == MAXT) continue;
            ty[nt].type = a->t[i].type, ty[nt].bytes = ty[nt].params = 0, ty[nt].n = 0, nt++;
        }
        ty[k].bytes += a->t[i].bytes, ty[k].params += a->t[i].n_params, ty[k].n++;
    }
    rk__sb_puts(b, "<div class=\"row\"><table id=\"alloc-types-table\"><tr>");
    th(b, " class=\"l\"", "type"), th(b, NULL, "tensors"), th(b, NULL, "weights"), th(b, NULL, "bytes"), th(b, NULL, "% of bytes"),
        th(b, NULL, "bits/weight");
    rk__sb_puts(b, "</tr>\n");
    for (int k = 0; k < nt; k++) {
        rk__sb_puts(b, "<tr><td class=\"l\">");
        rk__sb_esc(b, ty[k].type);
        rk__sb_printf(b, "</td><td>%zu</td><td>%llu</td><td>%llu</td><td>%.2f</td><td>%s</td></tr>\n", ty[k].n,
                      (unsigned long long)ty[k].params, (unsigned long long)ty[k].bytes,
                      a->total_bytes ? 100.0 * (double)ty[k].bytes / (double)a->total_bytes : 0.0,
                      rk__fmt(f1, 'f', 3, ty[k].params ? 8.0 * (double)ty[k].bytes / (double)ty[k].params : NAN));
    }
    rk__sb_puts(b, "</table>\n");
    /* largest predicted errors */
    size_t np = 0;
    for (size_t i = 0; i < a->n; i++) np += isfinite(a->t[i].pred_error) != 0;
    if (np) {
        const rk_verify_alloc_tensor **p = malloc(np * sizeof *p);
        if (!p) { b->oom = 1; return; }
        np = 0;
        for (size_t i = 0; i < a->n; i++)
            if (isfinite(a->t[i].pred_error)) p[np++] = &a->t[i];
        qsort(p, np, sizeof *p, by_pred_desc);
        rk__sb_puts(b, "<table id=\"alloc-pred-table\"><caption>Largest predicted errors (r1kit.quantize.alloc.errors)</caption>");
        tensor_head(b);
        for (size_t i = 0; i < np && i < 15; i++) tensor_row(b, p[i]);
        rk__sb_puts(b, "</table>\n");
        free(p);
    }
    rk__sb_puts(b, "</div>\n");
    enum { MAX_ROWS = 3000 };
    rk__sb_printf(b, "<details><summary>All tensors (%zu)</summary>", a->n);
    if (a->n > MAX_ROWS) {
        rk__sb_printf(b, "<p class=\"na\">%zu tensors: too many to list here (`r1kit inspect` lists them).</p></details>\n", a->n);
        return;
    }
    rk__sb_puts(b, "<table id=\"alloc-table\">");
    tensor_head(b);
    for (size_t i = 0; i < a->n; i++) tensor_row(b, &a->t[i]);
    rk__sb_puts(b, "</table></details>\n");
}

int rk_verify_report_html(const char *path, const rk_verify_report *r, rk_err *err) {
    if (!path || !r || !r->result || r->result->n_chunks < 1 || !r->result->chunk || r->result->sums.count < 1)
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "verify report: no finished verify result to report");
    const rk_verify_result *res = r->result;
    const char *bn = r->base_name ? r->base_name : r->base_path ? base_name(r->base_path) : "BASE";
    const char *cn = r->cand_name ? r->cand_name : r->cand_path ? base_name(r->cand_path) : "CANDIDATE";
    rk_sb b = { 0 };
    rk__sb_puts(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                    "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
                    "script-src 'none'; img-src data:\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                    "<meta name=\"generator\" content=\"r1kit verify\"><title>");
    rk__sb_esc(&b, r->title ? r->title : "r1kit verify");
    rk__sb_puts(&b, ": ");
    rk__sb_esc(&b, cn);
    rk__sb_puts(&b, " vs ");
    rk__sb_esc(&b, bn);
    rk__sb_printf(&b, "</title><style>%s</style></head><body>\n", css);
    header(&b, r, bn, cn);
    rk__sb_puts(&b, "<main>\n");
    gate_section(&b, r->gate);
    findings_section(&b, r);
    rk__sb_puts(&b, "<h2 id=\"chunks\">Per chunk</h2>\n");
    rk__chart_ppl(&b, res);
    rk__chart_chunk_kld(&b, res);
    chunks_table(&b, res);
    rk__sb_puts(&b, "<h2 id=\"tokens\">Per token</h2>\n");
    rk__chart_kld_hist(&b, res);
    rk__chart_dp_hist(&b, res);
    totals_section(&b, res);
    rk__sb_puts(&b, "<h2 id=\"layers\">Per layer</h2>\n");
    rk__chart_layers(&b, r->layers);
    layers_table(&b, r->layers);
    rk__sb_puts(&b, "<h2 id=\"routing\">Expert routing</h2>\n");
    rk__chart_routing(&b, r->routing_base, r->routing_cand);
    rk__sb_puts(&b, "<h2 id=\"alloc\">Bit allocation of the candidate</h2>\n");
    rk__chart_alloc(&b, r->alloc);
    rk__chart_alloc_experts(&b, r->alloc);
    alloc_tables(&b, r->alloc);
    rk__sb_puts(&b, "</main></body></html>\n");
    int rc;
    if (b.oom) rc = rk_err_set(err, RK_ENOMEM, UINT64_MAX, "%s: out of memory building the report", path);
    else rc = rk_write_file_atomic(path, b.p, b.n, err);
    rk__sb_free(&b);
    return rc;
}
