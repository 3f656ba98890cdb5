/* verify/report_charts.c — the report's charts as inline SVG (no script): line, bar and histogram charts on a
 * shared frame (title, axes with "nice" ticks, grid) and heat maps with a colour legend. Every mark carries a
 * <title> (the browser's tooltip). Coordinates are printed with one decimal; non-finite values are never drawn.
 * Colours: a viridis-like sequential scale for shares and bits, a blue-white-red diverging one for differences. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "verify/report-impl.h"

/* chart size and margins (verify/svg.h) */
enum { W = RK_SVG_W, H = RK_SVG_H, ML = RK_SVG_ML, MR = RK_SVG_MR, MT = RK_SVG_MT, MB = RK_SVG_MB };
typedef rk_svg_axis axis;

/* ---- colours ------------------------------------------------------------------------------------------------ */
typedef struct rgb { double r, g, b; } rgb;
static const rgb viridis[5] = { { 68, 1, 84 }, { 59, 82, 139 }, { 33, 145, 140 }, { 94, 201, 98 }, { 253, 231, 37 } };

static void seq_colour(char *buf, double t) {   /* t in [0, 1] → "#rrggbb" */
    if (!(t >= 0)) t = 0;
    if (t > 1) t = 1;
    double x = t * 4;
    int i = (int)x;
    if (i > 3) i = 3;
    x -= i;
    const rgb a = viridis[i], c = viridis[i + 1];
    snprintf(buf, 8, "#%02x%02x%02x", (int)(a.r + (c.r - a.r) * x + 0.5), (int)(a.g + (c.g - a.g) * x + 0.5),
             (int)(a.b + (c.b - a.b) * x + 0.5));
}
static int seq_dark(double t) { return !(t > 0.55); }   /* white text on it */

static void div_colour(char *buf, double t) {   /* t in [-1, 1]: blue - white - red */
    if (!(t >= -1)) t = t > 0 ? 1 : -1;
    if (t > 1) t = 1;
    const rgb w = { 247, 247, 247 }, c = t < 0 ? (rgb){ 33, 102, 172 } : (rgb){ 178, 24, 43 };
    const double x = fabs(t);
    snprintf(buf, 8, "#%02x%02x%02x", (int)(w.r + (c.r - w.r) * x + 0.5), (int)(w.g + (c.g - w.g) * x + 0.5),
             (int)(w.b + (c.b - w.b) * x + 0.5));
}

/* ---- frame (the rest is in verify/svg.h) ------------------------------------------------------------------- */
/* every k-th of n category labels so that they do not overlap (min_px apart) */
static int64_t label_every(int64_t n, double width, double min_px) {
    int64_t k = 1;
    while (k < n && width / (double)n * (double)k < min_px) k = k < 5 ? k + 1 : k * 2;
    return k;
}

/* ---- per chunk ---------------------------------------------------------------------------------------------- */
void rk__chart_ppl(rk_sb *b, const rk_verify_result *r) {
    const int64_t n = r->n_chunks;
    if (n < 1 || !r->chunk) { rk__svg_no_data(b, "No chunks."); return; }
    double lo = INFINITY, hi = -INFINITY;
    for (int64_t c = 0; c < n; c++) {
        const double v[2] = { r->chunk[c].ppl, r->chunk[c].ppl_base };
        for (int k = 0; k < 2; k++)
            if (isfinite(v[k])) lo = fmin(lo, v[k]), hi = fmax(hi, v[k]);
    }
    if (!isfinite(lo)) { rk__svg_no_data(b, "No finite per-chunk perplexity."); return; }
    const double pad = (hi - lo) * 0.08 + hi * 1e-3;
    axis y = rk__svg_lin_axis(lo - pad < 0 ? 0 : lo - pad, hi + pad, 6);
    axis x = { n > 1 ? 1 : 0.5, n > 1 ? (double)n : 1.5, 1, 0 };
    rk__svg_open(b, "chart-ppl", "Perplexity per chunk", W, H);
    rk__svg_y_axis(b, &y, "PPL", "chunk");
    const int64_t every = label_every(n, W - ML - MR, 28);
    char lab[32], f1[48], f2[48];
    for (int64_t c = 0; c < n; c += every) {
        snprintf(lab, sizeof lab, "%lld", (long long)(c + 1));
        rk__svg_x_tick(b, rk__svg_px_x(&x, (double)(c + 1)), lab);
    }
    static const char *const cls[2] = { "s-base", "s-cand" };
    for (int k = 0; k < 2; k++) {   /* base first, candidate on top */
        const int base = k == 0;
        rk__sb_printf(b, "<polyline class=\"%s\" points=\"", cls[k]);
        for (int64_t c = 0; c < n; c++) {
            const double v = base ? r->chunk[c].ppl_base : r->chunk[c].ppl;
            if (isfinite(v)) rk__sb_printf(b, "%.1f,%.1f ", rk__svg_px_x(&x, (double)(c + 1)), rk__svg_px_y(&y, v));
        }
        rk__sb_puts(b, "\"/>\n");
        for (int64_t c = 0; c < n; c++) {
            const rk_verify_stats *s = &r->chunk[c];
            const double v = base ? s->ppl_base : s->ppl;
            if (!isfinite(v)) continue;
            rk__sb_printf(b, "<circle class=\"%s\" cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\"><title>chunk %lld: PPL(%s) %s ± %s</title></circle>\n",
                          cls[k], rk__svg_px_x(&x, (double)(c + 1)), rk__svg_px_y(&y, v), (long long)(c + 1), base ? "base" : "Q",
                          rk__fmt(f1, 'f', 4, v), rk__fmt(f2, 'f', 4, base ? s->ppl_base_err : s->ppl_err));
        }
    }
    rk__svg_legend(b, W - MR - 230, MT + 14, "k-base", "PPL(base)");
    rk__svg_legend(b, W - MR - 120, MT + 14, "k-cand", "PPL(Q), candidate");
    rk__svg_close(b, "Each chunk alone: PPL of the candidate (Q) and of the base on the chunk's scored tokens.");
}

/* vertical bars from 0: values[n] at categories labelled by label(i) */
typedef void (*label_fn)(char *buf, size_t cap, int64_t i, const void *ctx);
typedef void (*tip_fn)(rk_sb *b, int64_t i, const void *ctx);

static void bars(rk_sb *b, const char *id, const char *title, const char *ylabel, const char *xlabel, const double *v,
                 int64_t n, label_fn lf, tip_fn tf, const void *ctx, const char *caption) {
    double hi = 0;
    for (int64_t i = 0; i < n; i++)
        if (isfinite(v[i]) && v[i] > hi) hi = v[i];
    axis y = rk__svg_lin_axis(0, hi > 0 ? hi * 1.05 : 1, 6);
    rk__svg_open(b, id, title, W, H);
    rk__svg_y_axis(b, &y, ylabel, xlabel);
    const double slot = (double)(W - ML - MR) / (double)n, bw = slot * 0.8 > 1 ? slot * 0.8 : 1;
    const int64_t every = label_every(n, W - ML - MR, 30);
    char lab[48];
    for (int64_t i = 0; i < n; i++) {
        const double cx = ML + slot * ((double)i + 0.5);
        if (i % every == 0) {
            lf(lab, sizeof lab, i, ctx);
            rk__svg_x_tick(b, cx, lab);
        }
        if (!isfinite(v[i])) continue;
        const double y0 = rk__svg_px_y(&y, 0), y1 = rk__svg_px_y(&y, v[i] < 0 ? 0 : v[i]);
        rk__sb_printf(b, "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"><title>", cx - bw / 2, y1,
                      bw, y0 - y1 > 0 ? y0 - y1 : 0);
        tf(b, i, ctx);
        rk__sb_puts(b, "</title></rect>\n");
    }
    rk__svg_close(b, caption);
}

static void chunk_label(char *buf, size_t cap, int64_t i, const void *ctx) { snprintf(buf, cap, "%lld", (long long)(i + 1)); }
static void chunk_tip(rk_sb *b, int64_t i, const void *ctx) {
    const rk_verify_stats *s = &((const rk_verify_result *)ctx)->chunk[i];
    char f1[48], f2[48], f3[48], f4[48];
    rk__sb_printf(b, "chunk %lld: mean KLD %s ± %s, max %s, same top p %s%%", (long long)(i + 1), rk__fmt(f1, 'f', 6, s->kld),
                  rk__fmt(f2, 'f', 6, s->kld_err), rk__fmt(f3, 'f', 6, s->kld_max), rk__fmt(f4, 'f', 3, 100 * s->same_top));
}

void rk__chart_chunk_kld(rk_sb *b, const rk_verify_result *r) {
    if (r->n_chunks < 1 || !r->chunk) { rk__svg_no_data(b, "No chunks."); return; }
    double *v = malloc((size_t)r->n_chunks * sizeof *v);
    if (!v) { b->oom = 1; return; }
    for (int64_t c = 0; c < r->n_chunks; c++) v[c] = r->chunk[c].kld;
    bars(b, "chart-chunk-kld", "Mean KL divergence per chunk", "mean KLD", "chunk", v, r->n_chunks, chunk_label, chunk_tip,
         r, "Each chunk alone: mean KLD(base ‖ candidate) over its scored tokens.");
    free(v);
}

/* ---- histograms --------------------------------------------------------------------------------------------- */
/* bars for counts[nb] over edges[nb+1] on axis x (log or linear); extra "0" bar at the left when zeros > 0 */
static void hist_marker(rk_sb *b, const axis *x, double v, const char *label, int row) {
    if (!isfinite(v) || (x->log && !(v > 0))) return;
    double px = rk__svg_px_x(x, v);
    if (px < ML || px > W - MR) return;
    char f[48];
    rk__sb_printf(b, "<line class=\"mark\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"><title>%s %s</title></line>"
                     "<text class=\"mk\" x=\"%.1f\" y=\"%d\">%s</text>\n",
                  px, MT, px, H - MB, label, rk__fmt(f, 'g', 6, v), px + 3, MT + 12 + 12 * row, label);
}

void rk__chart_kld_hist(rk_sb *b, const rk_verify_result *r) {
    const int64_t n = r->sums.count;
    const float *v = r->kld_values;
    if (n < 1 || !v) { rk__svg_no_data(b, "No per-token KLD values."); return; }
    double mn = INFINITY, mx = 0;
    int64_t zeros = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!(v[i] > 0)) { zeros++; continue; }
        mn = fmin(mn, v[i]), mx = fmax(mx, v[i]);
    }
    enum { PER_DECADE = 5 };
    double lo = 0, hi = 1;
    if (zeros < n) {
        lo = floor(log10(mn)), hi = ceil(log10(mx));
        if (hi <= lo) hi = lo + 1;
        if (hi - lo > 10) lo = hi - 10;   /* at most 10 decades; smaller values land in the first bin */
    }
    const int nb = (int)(hi - lo) * PER_DECADE;
    int64_t *cnt = calloc((size_t)nb, sizeof *cnt);
    if (!cnt) { b->oom = 1; return; }
    for (int64_t i = 0; i < n; i++) {
        if (!(v[i] > 0)) continue;
        int k = (int)floor((log10(v[i]) - lo) * PER_DECADE);
        cnt[k < 0 ? 0 : k >= nb ? nb - 1 : k]++;
    }
    int64_t top = zeros;
    for (int k = 0; k < nb; k++) top = cnt[k] > top ? cnt[k] : top;
    axis y = rk__svg_lin_axis(0, (double)top * 1.05, 6);
    /* x: a slot for zeros (when any) left of the log axis */
    axis x = { lo - (zeros ? 2.0 / PER_DECADE : 0), hi, 1, 1 };
    rk__svg_open(b, "chart-kld-hist", "Per-token KL divergence (log-spaced bins)", W, H);
    rk__svg_y_axis(b, &y, "tokens", "KLD(base ‖ candidate) per token, nats");
    char lab[48], f1[48], f2[48];
    for (double e = lo; e <= hi + 1e-9; e += 1) {
        snprintf(lab, sizeof lab, "1e%d", (int)e);
        rk__svg_x_tick(b, ML + (e - x.lo) / (x.hi - x.lo) * (W - ML - MR), lab);
        for (int m = 2; hi - lo <= 3 && e < hi && m <= 5; m += 3) {   /* 2 and 5 within few decades */
            snprintf(lab, sizeof lab, "%de%d", m, (int)e);
            rk__svg_x_tick(b, ML + (e + log10(m) - x.lo) / (x.hi - x.lo) * (W - ML - MR), lab);
        }
    }
    const double y0 = rk__svg_px_y(&y, 0);
    if (zeros) {
        const double x0 = rk__svg_px_x(&(axis){ x.lo, x.hi, 1, 0 }, x.lo + 0.2 / PER_DECADE), x1 = rk__svg_px_x(&(axis){ x.lo, x.hi, 1, 0 }, x.lo + 1.8 / PER_DECADE);
        const double y1 = rk__svg_px_y(&y, (double)zeros);
        rk__sb_printf(b, "<rect class=\"bar zero\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"><title>KLD = 0: %lld tokens (%.2f%%)</title></rect>\n",
                      x0, y1, x1 - x0, y0 - y1, (long long)zeros, 100.0 * (double)zeros / (double)n);
        rk__svg_x_tick(b, (x0 + x1) / 2, "0");
    }
    for (int k = 0; k < nb; k++) {
        if (!cnt[k]) continue;
        const double e0 = lo + (double)k / PER_DECADE, e1 = lo + (double)(k + 1) / PER_DECADE;
        const double px0 = ML + (e0 - x.lo) / (x.hi - x.lo) * (W - ML - MR), px1 = ML + (e1 - x.lo) / (x.hi - x.lo) * (W - ML - MR);
        const double y1 = rk__svg_px_y(&y, (double)cnt[k]);
        rk__sb_printf(b, "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"><title>%s%s … %s: %lld tokens (%.2f%%)</title></rect>\n",
                      px0 + 0.5, y1, px1 - px0 - 1, y0 - y1, k == 0 && lo > floor(log10(mn)) ? "≤ " : "",
                      rk__fmt(f1, 'g', 3, pow(10, e0)), rk__fmt(f2, 'g', 3, pow(10, e1)), (long long)cnt[k],
                      100.0 * (double)cnt[k] / (double)n);
    }
    if (zeros < n) {
        hist_marker(b, &x, r->total.kld, "mean", 0);
        hist_marker(b, &x, r->kld_pct[5], "median", 1);
        hist_marker(b, &x, r->kld_pct[2], "99%", 2);
    }
    free(cnt);
    char cap[200];
    snprintf(cap, sizeof cap, "%lld scored tokens, %d bins per decade; lines: mean, median and 99th percentile.", (long long)n,
             PER_DECADE);
    rk__svg_close(b, cap);
}

void rk__chart_dp_hist(rk_sb *b, const rk_verify_result *r) {
    const int64_t n = r->sums.count;
    const float *v = r->dp_values;
    if (n < 1 || !v) { rk__svg_no_data(b, "No per-token Δp values."); return; }
    double a = 0;
    for (int64_t i = 0; i < n; i++)
        if (isfinite(v[i])) a = fmax(a, fabs(v[i]));
    a *= 100;
    if (a <= 0) a = 1;
    enum { NB = 41 };
    int64_t cnt[NB] = { 0 };
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(v[i])) continue;
        int k = (int)floor((100.0 * v[i] + a) / (2 * a) * NB);
        cnt[k < 0 ? 0 : k >= NB ? NB - 1 : k]++;
    }
    int64_t top = 0;
    for (int k = 0; k < NB; k++) top = cnt[k] > top ? cnt[k] : top;
    axis y = rk__svg_lin_axis(0, (double)top * 1.05, 6), x = rk__svg_lin_axis(-a, a, 9);
    rk__svg_open(b, "chart-dp-hist", "Per-token Δp = p_candidate − p_base of the true token", W, H);
    rk__svg_y_axis(b, &y, "tokens", "Δp, percentage points");
    char lab[48], f1[48], f2[48];
    for (double t = x.lo; t <= x.hi + x.step * 1e-6; t += x.step) {
        rk__svg_tick_label(lab, sizeof lab, t, x.step);
        rk__svg_x_tick(b, rk__svg_px_x(&x, t), lab);
    }
    const double y0 = rk__svg_px_y(&y, 0);
    for (int k = 0; k < NB; k++) {
        if (!cnt[k]) continue;
        const double e0 = -a + 2 * a * k / NB, e1 = -a + 2 * a * (k + 1) / NB;
        const double px0 = rk__svg_px_x(&x, e0), px1 = rk__svg_px_x(&x, e1), y1 = rk__svg_px_y(&y, (double)cnt[k]);
        rk__sb_printf(b, "<rect class=\"bar%s\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"><title>%s … %s %%: %lld tokens (%.2f%%)</title></rect>\n",
                      e1 <= 0 ? " neg" : "", px0 + 0.5, y1, px1 - px0 - 1 > 0.5 ? px1 - px0 - 1 : 0.5, y0 - y1,
                      rk__fmt(f1, 'g', 3, e0), rk__fmt(f2, 'g', 3, e1), (long long)cnt[k], 100.0 * (double)cnt[k] / (double)n);
    }
    hist_marker(b, &x, 100 * r->total.dp, "mean", 0);
    snprintf(lab, sizeof lab, "%lld scored tokens, %d bins.", (long long)n, NB);
    rk__svg_close(b, lab);
}

/* ---- layers ------------------------------------------------------------------------------------------------- */
static void layer_label(char *buf, size_t cap, int64_t i, const void *ctx) {
    const rk_verify_layer_err *e = &((const rk_verify_layers *)ctx)->layer[i];
    if (e->layer < 0) snprintf(buf, cap, "out");
    else snprintf(buf, cap, "%lld", (long long)e->layer);
}
static void layer_tip(rk_sb *b, int64_t i, const void *ctx) {
    const rk_verify_layer_err *e = &((const rk_verify_layers *)ctx)->layer[i];
    char f1[48], f2[48], f3[48], f4[48];
    if (e->layer < 0) rk__sb_puts(b, "output head input");
    else rk__sb_printf(b, "layer %lld input", (long long)e->layer);
    rk__sb_puts(b, " (");
    rk__sb_esc(b, e->name);
    rk__sb_printf(b, "): relative error %s (max %s), cosine mean %s, min %s, %lld positions", rk__fmt(f1, 'f', 5, e->rel_err),
                  rk__fmt(f2, 'f', 5, e->rel_err_max), rk__fmt(f3, 'f', 6, e->cos_mean), rk__fmt(f4, 'f', 6, e->cos_min),
                  (long long)e->positions);
}

void rk__chart_layers(rk_sb *b, const rk_verify_layers *l) {
    if (!l || l->n < 1) { rk__svg_no_data(b, "Per-layer error not measured (needs both models live)."); return; }
    double *v = malloc((size_t)l->n * sizeof *v);
    if (!v) { b->oom = 1; return; }
    for (int64_t i = 0; i < l->n; i++) v[i] = l->layer[i].rel_err;
    char cap[240];
    snprintf(cap, sizeof cap, "||x_cand − x_base|| / ||x_base|| of the RMS-normed hidden state entering each layer "
             "(out: the output head's input), over %lld positions in each of %lld chunks.", (long long)l->positions_per_chunk,
             (long long)l->n_chunks);
    bars(b, "chart-layers", "Relative error of each layer's input", "relative error", "layer", v, l->n, layer_label, layer_tip,
         l, cap);
    free(v);
}

/* ---- heat maps ---------------------------------------------------------------------------------------------- */
static void colour_legend(rk_sb *b, const char *gid, int x, int y, int w, double lo, double hi, const char *unit,
                          int diverging) {
    char c[8], f1[48], f2[48];
    rk__sb_printf(b, "<defs><linearGradient id=\"%s\">", gid);
    for (int k = 0; k <= 8; k++) {
        const double t = k / 8.0;
        if (diverging) div_colour(c, 2 * t - 1);
        else seq_colour(c, t);
        rk__sb_printf(b, "<stop offset=\"%.3f\" stop-color=\"%s\"/>", t, c);
    }
    rk__sb_printf(b, "</linearGradient></defs><rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"10\" fill=\"url(#%s)\"/>"
                     "<text class=\"lg\" x=\"%d\" y=\"%d\">%s</text><text class=\"lg end\" x=\"%d\" y=\"%d\">%s</text>"
                     "<text class=\"lg mid\" x=\"%d\" y=\"%d\">",
                  x, y, w, gid, x, y + 22, rk__fmt(f1, 'g', 3, lo), x + w, y + 22, rk__fmt(f2, 'g', 3, hi), x + w / 2, y + 22);
    rk__sb_esc(b, unit);
    rk__sb_puts(b, "</text>\n");
}

static double share_of(const rk_verify_routing_layer *l, int64_t e) {
    const double tot = (double)l->tokens * (double)(l->top_k > 0 ? l->top_k : 1);
    return tot > 0 ? (double)l->count[e] / tot : 0;
}

/* one panel: rows = MoE layers, cols = experts; mode 0 = a (sequential, scale max), 2 = b - a (diverging) */
static void routing_panel(rk_sb *b, const rk_verify_routing *ra, const rk_verify_routing *rb, int mode, int x0, int y0,
                          double pw, double ch, double scale, const char *label) {
    const rk_verify_routing *r = ra ? ra : rb;
    const int64_t E = r->layer[0].n_experts, nl = r->n;
    const double cw = pw / (double)E;
    rk__sb_printf(b, "<text class=\"pt\" x=\"%d\" y=\"%d\">", x0, y0 - 6);
    rk__sb_esc(b, label);
    rk__sb_puts(b, "</text>\n");
    const int64_t ly = label_every(nl, ch * (double)nl, 12), lx = label_every(E, pw, 22);
    char c[8], f1[48], f2[48], f3[48];
    for (int64_t i = 0; i < nl; i++) {
        const double py = y0 + ch * (double)i;
        if (i % ly == 0)
            rk__sb_printf(b, "<text class=\"yt\" x=\"%d\" y=\"%.1f\">%lld</text>", x0 - 4, py + ch / 2 + 4, (long long)r->layer[i].layer);
        for (int64_t e = 0; e < E; e++) {
            const double px = x0 + cw * (double)e;
            if (mode == 0) {
                const double s = share_of(&ra->layer[i], e);
                seq_colour(c, scale > 0 ? s / scale : 0);
                rk__sb_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\"><title>layer %lld, expert %lld: %s%% of selections (%llu)</title></rect>\n",
                              px, py, cw, ch, c, (long long)ra->layer[i].layer, (long long)e, rk__fmt(f1, 'f', 3, 100 * s),
                              (unsigned long long)ra->layer[i].count[e]);
            } else {
                const double sa = share_of(&ra->layer[i], e), sb = share_of(&rb->layer[i], e), d = sb - sa;
                div_colour(c, scale > 0 ? d / scale : 0);
                rk__sb_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\"><title>layer %lld, expert %lld: base %s%%, candidate %s%%, difference %s points</title></rect>\n",
                              px, py, cw, ch, c, (long long)ra->layer[i].layer, (long long)e, rk__fmt(f1, 'f', 3, 100 * sa),
                              rk__fmt(f2, 'f', 3, 100 * sb), rk__fmt(f3, '+', 3, 100 * d));
            }
        }
    }
    const double yb = y0 + ch * (double)nl;
    for (int64_t e = 0; e < E; e += lx)
        rk__sb_printf(b, "<text class=\"xt\" x=\"%.1f\" y=\"%.1f\">%lld</text>", x0 + cw * ((double)e + 0.5), yb + 13, (long long)e);
    rk__sb_printf(b, "<rect class=\"box\" x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%.1f\"/>\n", x0, y0, pw, ch * (double)nl);
}

static int same_shape(const rk_verify_routing *a, const rk_verify_routing *b) {
    if (a->n != b->n) return 0;
    for (int64_t i = 0; i < a->n; i++)
        if (a->layer[i].layer != b->layer[i].layer || a->layer[i].n_experts != b->layer[i].n_experts) return 0;
    return 1;
}

void rk__chart_routing(rk_sb *b, const rk_verify_routing *rb, const rk_verify_routing *rc) {
    if (rb && rb->n < 1) rb = NULL;
    if (rc && rc->n < 1) rc = NULL;
    if (!rb && !rc) { rk__svg_no_data(b, "No MoE routing (a dense model, or routing not collected)."); return; }
    const rk_verify_routing *r0 = rb ? rb : rc;
    for (int64_t i = 0; i < r0->n; i++)
        if (r0->layer[i].n_experts != r0->layer[0].n_experts || r0->layer[i].n_experts < 1)
            { rk__svg_no_data(b, "Routing layers have different expert counts; not drawn."); return; }
    int note = 0;
    if (rb && rc && !same_shape(rb, rc)) rc = NULL, note = 1;
    const int64_t E = r0->layer[0].n_experts, nl = r0->n;
    const int both = rb && rc, side = both && E <= 32;
    const double ch = fmin(22, fmax(4, 360.0 / (double)nl));
    const int x0 = 56, gap = 40, full = W - x0 - MR;
    const double pw = side ? (full - gap) / 2.0 : full;
    const double ph = ch * (double)nl + 44;   /* panel height incl. its title and expert labels */
    const int panels = both ? 3 : 1;
    const int rows = side ? 2 : panels;
    const int h = (int)(MT + 10 + ph * rows + 50);
    double mx = 0, dmx = 0;
    for (int64_t i = 0; i < nl; i++)
        for (int64_t e = 0; e < E; e++) {
            if (rb) mx = fmax(mx, share_of(&rb->layer[i], e));
            if (rc) mx = fmax(mx, share_of(&rc->layer[i], e));
            if (both) dmx = fmax(dmx, fabs(share_of(&rc->layer[i], e) - share_of(&rb->layer[i], e)));
        }
    rk__svg_open(b, "chart-routing", "Expert routing: share of each layer's selections", W, h);
    double y = MT + 14;
    if (both) {
        routing_panel(b, rb, NULL, 0, x0, (int)y, pw, ch, mx, "base");
        routing_panel(b, rc, NULL, 0, side ? (int)(x0 + pw + gap) : x0, side ? (int)y : (int)(y + ph), pw, ch, mx, "candidate");
        y += side ? ph : 2 * ph;
        routing_panel(b, rb, rc, 2, x0, (int)y, pw, ch, dmx, "difference: candidate − base");
    } else {
        routing_panel(b, r0, NULL, 0, x0, (int)y, pw, ch, mx, rb ? "base" : "candidate");
    }
    const int ly = h - 34;
    colour_legend(b, "grad-routing", x0, ly, 220, 0, 100 * mx, "% of selections", 0);
    if (both) colour_legend(b, "grad-routing-diff", x0 + 300, ly, 220, -100 * dmx, 100 * dmx, "difference, points", 1);
    rk__sb_printf(b, "<text class=\"axt\" transform=\"translate(14 %d) rotate(-90)\">layer</text>\n", (int)(MT + 14 + ph / 2));
    char cap[240];
    snprintf(cap, sizeof cap, "Rows: MoE layers; columns: the %lld routed experts (top-%lld). A uniform router gives every "
             "expert %.3g%%.%s", (long long)E, (long long)r0->layer[0].top_k, 100.0 / (double)E,
             note ? " The candidate's routing has other layers or experts than the base's; only the base is drawn." : "");
    rk__svg_close(b, cap);
}

/* ---- bit allocation ----------------------------------------------------------------------------------------- */
typedef struct cell { uint64_t bytes, params; int type_idx; int mixed; double pred; } cell;

static int kind_index(char (*kinds)[56], int *nk, int cap, const char *k) {
    for (int i = 0; i < *nk; i++)
        if (strcmp(kinds[i], k) == 0) return i;
    if (*nk >= cap) return -1;
    snprintf(kinds[*nk], 56, "%s", k);
    return (*nk)++;
}

void rk__chart_alloc(rk_sb *b, const rk_verify_report_alloc *a) {
    if (!a || a->n == 0) { rk__svg_no_data(b, "No bit allocation (the candidate is not a GGUF file)."); return; }
    enum { MAXK = 40 };
    char kinds[MAXK][56];
    int nk = 0;
    int64_t maxl = -1;
    for (size_t i = 0; i < a->n; i++) {
        const rk_verify_alloc_tensor *t = &a->t[i];
        if (t->n_dims < 2) continue;
        char k[56];
        snprintf(k, sizeof k, "%s%s", t->kind, t->expert >= 0 ? " (experts)" : "");
        kind_index(kinds, &nk, MAXK, k);
        if (t->layer > maxl) maxl = t->layer;
    }
    if (nk == 0) { rk__svg_no_data(b, "No matrices in the candidate."); return; }
    const int64_t nrow = maxl + 2;   /* row 0: global tensors, then layers */
    if (nrow > 4096) { rk__svg_no_data(b, "Too many layers to draw."); return; }
    cell *g = calloc((size_t)(nrow * nk), sizeof *g);
    if (!g) { b->oom = 1; return; }
    for (size_t i = 0; i < a->n; i++) {
        const rk_verify_alloc_tensor *t = &a->t[i];
        if (t->n_dims < 2) continue;
        char k[56];
        snprintf(k, sizeof k, "%s%s", t->kind, t->expert >= 0 ? " (experts)" : "");
        const int ki = kind_index(kinds, &nk, MAXK, k);
        if (ki < 0) continue;
        cell *c = &g[(t->layer + 1) * nk + ki];
        if (c->params && c->type_idx != (int)i && strcmp(a->t[c->type_idx].type, t->type) != 0) c->mixed = 1;
        if (!c->params) c->type_idx = (int)i, c->pred = 0;
        c->bytes += t->bytes, c->params += t->n_params;
        if (isfinite(t->pred_error)) c->pred += t->pred_error;
        else c->pred = NAN;
    }
    /* colour scale over the block-quantized cells (< 16 bits), so that an F32 router does not flatten it; cells
     * above it take its top colour. Only F16/F32 cells: their range. */
    int has_global = 0;
    double lo = INFINITY, hi = 0, alo = INFINITY, ahi = 0;
    for (int64_t r = 0; r < nrow; r++)
        for (int k = 0; k < nk; k++) {
            const cell *c = &g[r * nk + k];
            if (!c->params) continue;
            if (r == 0) has_global = 1;
            const double bpw = 8.0 * (double)c->bytes / (double)c->params;
            alo = fmin(alo, bpw), ahi = fmax(ahi, bpw);
            if (bpw < 16) lo = fmin(lo, bpw), hi = fmax(hi, bpw);
        }
    if (!isfinite(lo)) lo = alo, hi = ahi;
    if (lo >= hi) lo -= 0.5, hi += 0.5;
    const int64_t r0 = has_global ? 0 : 1, nr = nrow - r0;
    const int x0 = 80, top = MT + 90;
    const int gw = W - x0 - 96;   /* room on the right for the last rotated column label */
    const double cw = (double)gw / nk, ch = fmin(24, fmax(6, 480.0 / (double)nr));
    const int h = (int)(top + ch * (double)nr + 60);
    rk__svg_open(b, "chart-alloc", "Candidate bit allocation: bits per weight by layer and tensor", W, h);
    char col[8], f1[48], f2[48], f3[48];
    for (int k = 0; k < nk; k++) {   /* column labels, rotated */
        const double px = x0 + cw * (k + 0.5);
        rk__sb_printf(b, "<text class=\"xt rot\" transform=\"translate(%.1f %d) rotate(-45)\">", px, top - 6);
        rk__sb_esc(b, kinds[k]);
        rk__sb_puts(b, "</text>\n");
    }
    const int64_t ly = label_every(nr, ch * (double)nr, 12);
    for (int64_t r = r0; r < nrow; r++) {
        const double py = top + ch * (double)(r - r0);
        if ((r - r0) % ly == 0 || r == 0) {
            if (r == 0) rk__sb_printf(b, "<text class=\"yt\" x=\"%d\" y=\"%.1f\">global</text>", x0 - 4, py + ch / 2 + 4);
            else rk__sb_printf(b, "<text class=\"yt\" x=\"%d\" y=\"%.1f\">%lld</text>", x0 - 4, py + ch / 2 + 4, (long long)(r - 1));
        }
        for (int k = 0; k < nk; k++) {
            const cell *c = &g[r * nk + k];
            if (!c->params) continue;
            const double bpw = 8.0 * (double)c->bytes / (double)c->params, t = (bpw - lo) / (hi - lo);
            const rk_verify_alloc_tensor *t0 = &a->t[c->type_idx];
            seq_colour(col, t);
            const double px = x0 + cw * k;
            rk__sb_printf(b, "<g><rect x=\"%.1f\" y=\"%.1f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\"/><title>", px, py, cw, ch, col);
            if (t0->expert >= 0) rk__sb_printf(b, "layer %lld ", (long long)t0->layer), rk__sb_esc(b, kinds[k]);
            else rk__sb_esc(b, t0->name);
            rk__sb_printf(b, ": %s, %s bits per weight, %llu bytes, %llu weights", c->mixed ? "mixed types" : t0->type,
                          rk__fmt(f1, 'f', 3, bpw), (unsigned long long)c->bytes, (unsigned long long)c->params);
            if (isfinite(c->pred)) rk__sb_printf(b, ", predicted error %s", rk__fmt(f2, 'g', 4, c->pred));
            if (isfinite(t0->share) && t0->expert < 0) rk__sb_printf(b, ", share %s", rk__fmt(f3, 'g', 4, t0->share));
            rk__sb_puts(b, "</title>");
            if (cw >= 30 && ch >= 11)
                rk__sb_printf(b, "<text class=\"cell%s\" x=\"%.1f\" y=\"%.1f\">%s</text>", seq_dark(t) ? " inv" : "", px + cw / 2,
                              py + ch / 2 + 4, c->mixed ? "mix" : t0->type);
            rk__sb_puts(b, "</g>\n");
        }
    }
    rk__sb_printf(b, "<rect class=\"box\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%.1f\"/>\n", x0, top, gw, ch * (double)nr);
    colour_legend(b, "grad-alloc", x0, h - 34, 220, lo, hi, "bits per weight", 0);
    rk__svg_close(b, "Rows: layers (global: embedding and output); columns: the kinds of matrices (1-D tensors, kept F32, "
                 "are left out). Colour: bits per weight (bytes × 8 / weights); the cell shows the type. Per-expert "
                 "tensors are summed over the layer's experts (see the next chart).");
    free(g);
}

void rk__chart_alloc_experts(rk_sb *b, const rk_verify_report_alloc *a) {
    if (!a || a->n_experts < 1) return;   /* stacked layout: nothing per expert */
    int64_t maxl = -1;
    for (size_t i = 0; i < a->n; i++)
        if (a->t[i].expert >= 0 && a->t[i].layer > maxl) maxl = a->t[i].layer;
    if (maxl < 0 || maxl > 4096) return;
    const int64_t E = a->n_experts, nl = maxl + 1;
    cell *g = calloc((size_t)(nl * E), sizeof *g);
    if (!g) { b->oom = 1; return; }
    for (size_t i = 0; i < a->n; i++) {
        const rk_verify_alloc_tensor *t = &a->t[i];
        if (t->expert < 0 || t->layer < 0) continue;
        cell *c = &g[t->layer * E + t->expert];
        if (c->params && strcmp(a->t[c->type_idx].type, t->type) != 0) c->mixed = 1;
        if (!c->params) c->type_idx = (int)i;
        c->bytes += t->bytes, c->params += t->n_params;
        c->pred += isfinite(t->pred_error) ? t->pred_error : 0;
    }
    double lo = INFINITY, hi = 0;
    int64_t first = -1;
    for (int64_t l = 0; l < nl; l++)
        for (int64_t e = 0; e < E; e++)
            if (g[l * E + e].params) {
                const double bpw = 8.0 * (double)g[l * E + e].bytes / (double)g[l * E + e].params;
                lo = fmin(lo, bpw), hi = fmax(hi, bpw);
                if (first < 0) first = l;
            }
    if (first < 0) { free(g); return; }
    if (lo >= hi) lo -= 0.5, hi += 0.5;
    const int64_t nr = nl - first;
    const int x0 = 56, top = MT + 14;
    const double cw = (double)(W - x0 - MR) / (double)E, ch = fmin(22, fmax(4, 360.0 / (double)nr));
    const int h = (int)(top + ch * (double)nr + 80);
    rk__svg_open(b, "chart-alloc-experts", "Per-expert allocation: bits per weight of each expert (gate + up + down)", W, h);
    char col[8], f1[48], f2[48];
    const int64_t ly = label_every(nr, ch * (double)nr, 12), lx = label_every(E, W - x0 - MR, 22);
    for (int64_t l = first; l < nl; l++) {
        const double py = top + ch * (double)(l - first);
        if ((l - first) % ly == 0) rk__sb_printf(b, "<text class=\"yt\" x=\"%d\" y=\"%.1f\">%lld</text>", x0 - 4, py + ch / 2 + 4, (long long)l);
        for (int64_t e = 0; e < E; e++) {
            const cell *c = &g[l * E + e];
            if (!c->params) continue;
            const double bpw = 8.0 * (double)c->bytes / (double)c->params;
            seq_colour(col, (bpw - lo) / (hi - lo));
            rk__sb_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\"><title>layer %lld, expert %lld: %s bits per weight (%s), %llu bytes, predicted error %s</title></rect>\n",
                          x0 + cw * (double)e, py, cw, ch, col, (long long)l, (long long)e, rk__fmt(f1, 'f', 3, bpw),
                          c->mixed ? "mixed types" : a->t[c->type_idx].type, (unsigned long long)c->bytes,
                          rk__fmt(f2, 'g', 4, c->pred));
        }
    }
    for (int64_t e = 0; e < E; e += lx)
        rk__sb_printf(b, "<text class=\"xt\" x=\"%.1f\" y=\"%.1f\">%lld</text>", x0 + cw * ((double)e + 0.5), top + ch * (double)nr + 13, (long long)e);
    rk__sb_printf(b, "<rect class=\"box\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%.1f\"/>\n", x0, top, W - x0 - MR, ch * (double)nr);
    rk__sb_printf(b, "<text class=\"axt\" x=\"%d\" y=\"%.1f\">expert</text>", (x0 + W - MR) / 2, top + ch * (double)nr + 30);
    colour_legend(b, "grad-alloc-experts", x0, h - 34, 220, lo, hi, "bits per weight", 0);
    rk__svg_close(b, "Rows: MoE layers; columns: routed experts (per-expert layout blk.N.ffn_{gate,up,down}.E.weight).");
    free(g);
}
