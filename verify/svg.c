/* verify/svg.c — helpers for self-contained HTML pages with inline SVG charts (no script): a growing string buffer
 * with HTML escaping, number formatting, "nice" linear axes and the chart frame (title, y grid with tick labels, x
 * ticks, legend swatches). Moved here from verify/report.c and verify/report_charts.c so that the verify report and
 * the training-curve page (distill/curve.c) draw the same way; the output is unchanged. Coordinates are printed with
 * one decimal. */
#include "verify/svg.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { W = RK_SVG_W, H = RK_SVG_H, ML = RK_SVG_ML, MR = RK_SVG_MR, MT = RK_SVG_MT, MB = RK_SVG_MB };

/* ---- string buffer ------------------------------------------------------------------------------------------ */
void rk__sb_put(rk_sb *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1 << 16;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) { b->oom = 1; return; }
        b->p = p, b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}
void rk__sb_puts(rk_sb *b, const char *s) { rk__sb_put(b, s, strlen(s)); }

static void sb_vprintf(rk_sb *b, const char *fmt, va_list ap) {
    char tmp[1024];
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    if (n < 0) { va_end(ap2); return; }
    if ((size_t)n < sizeof tmp) {
        rk__sb_put(b, tmp, (size_t)n);
    } else {
        char *p = malloc((size_t)n + 1);
        if (!p) b->oom = 1;
        else vsnprintf(p, (size_t)n + 1, fmt, ap2), rk__sb_put(b, p, (size_t)n), free(p);
    }
    va_end(ap2);
}
void rk__sb_printf(rk_sb *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    sb_vprintf(b, fmt, ap);
    va_end(ap);
}
void rk__sb_esc(rk_sb *b, const char *s) {
    if (!s) return;
    const char *run = s;
    for (; *s; s++) {
        const unsigned char c = (unsigned char)*s;
        const char *rep = c == '&' ? "&amp;" : c == '<' ? "&lt;" : c == '>' ? "&gt;" : c == '"' ? "&quot;" : c == '\'' ? "&#39;"
                        : (c < 0x20 && c != '\t' && c != '\n') || c == 0x7f ? "?" : NULL;
        if (!rep) continue;
        rk__sb_put(b, run, (size_t)(s - run));
        rk__sb_puts(b, rep);
        run = s + 1;
    }
    rk__sb_put(b, run, (size_t)(s - run));
}
void rk__sb_escf(rk_sb *b, const char *fmt, ...) {
    rk_sb t = { 0 };
    va_list ap;
    va_start(ap, fmt);
    sb_vprintf(&t, fmt, ap);
    va_end(ap);
    if (t.oom) b->oom = 1;
    else rk__sb_esc(b, t.p);
    rk__sb_free(&t);
}
void rk__sb_free(rk_sb *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}

const char *rk__fmt(char *buf, char style, int prec, double v) {
    if (!isfinite(v)) snprintf(buf, 48, "n/a");
    else if (style == 'g') snprintf(buf, 48, "%.*g", prec, v);
    else if (style == '+') snprintf(buf, 48, "%+.*f", prec, v);
    else snprintf(buf, 48, "%.*f", prec, v);
    return buf;
}

/* ---- scales ------------------------------------------------------------------------------------------------- */
double rk__svg_nice_step(double range, int max_ticks) {
    if (!(range > 0) || !isfinite(range)) return 1;
    const double raw = range / (max_ticks > 1 ? max_ticks - 1 : 1), p = pow(10, floor(log10(raw))), f = raw / p;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * p;
}

/* lo..hi widened to whole steps */
rk_svg_axis rk__svg_lin_axis(double lo, double hi, int max_ticks) {
    rk_svg_axis a = { lo, hi, 1, 0 };
    if (!isfinite(lo) || !isfinite(hi)) a.lo = 0, a.hi = 1;
    if (a.hi <= a.lo) a.hi = a.lo + (a.lo != 0 ? fabs(a.lo) * 0.1 : 1);
    a.step = rk__svg_nice_step(a.hi - a.lo, max_ticks);
    a.lo = floor(a.lo / a.step + 1e-9) * a.step;
    a.hi = ceil(a.hi / a.step - 1e-9) * a.step;
    if (a.hi <= a.lo) a.hi = a.lo + a.step;
    return a;
}

static double frac(const rk_svg_axis *a, double v) {
    if (a->log) return (log10(v) - a->lo) / (a->hi - a->lo);
    return (v - a->lo) / (a->hi - a->lo);
}
double rk__svg_px_x(const rk_svg_axis *a, double v) { return ML + frac(a, v) * (W - ML - MR); }
double rk__svg_px_y(const rk_svg_axis *a, double v) { return H - MB - frac(a, v) * (H - MT - MB); }

void rk__svg_tick_label(char *buf, size_t cap, double v, double step) {
    if (fabs(v) < step * 1e-6) v = 0;
    const double av = fabs(v);
    if (av != 0 && (av >= 1e6 || av < 1e-3)) snprintf(buf, cap, "%.3g", v);
    else {
        int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
        if (dec > 6) dec = 6;
        snprintf(buf, cap, "%.*f", dec, v);
    }
}

/* ---- frame -------------------------------------------------------------------------------------------------- */
void rk__svg_open(rk_sb *b, const char *id, const char *title, int w, int h) {
    rk__sb_printf(b, "<figure><svg id=\"%s\" class=\"chart\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"",
                  id, w, h, w, h);
    rk__sb_esc(b, title);
    rk__sb_puts(b, "\"><title>");
    rk__sb_esc(b, title);
    rk__sb_printf(b, "</title><rect class=\"bg\" x=\"0\" y=\"0\" width=\"%d\" height=\"%d\"/>"
                     "<text class=\"ttl\" x=\"%d\" y=\"22\">", w, h, w / 2);
    rk__sb_esc(b, title);
    rk__sb_puts(b, "</text>\n");
}
void rk__svg_close(rk_sb *b, const char *caption) {
    rk__sb_puts(b, "</svg>");
    if (caption) {
        rk__sb_puts(b, "<figcaption>");
        rk__sb_esc(b, caption);
        rk__sb_puts(b, "</figcaption>");
    }
    rk__sb_puts(b, "</figure>\n");
}
void rk__svg_no_data(rk_sb *b, const char *what) {
    rk__sb_puts(b, "<p class=\"na\">");
    rk__sb_esc(b, what);
    rk__sb_puts(b, "</p>\n");
}

/* y axis with grid lines and labels; the plot box; x and y axis titles */
void rk__svg_y_axis(rk_sb *b, const rk_svg_axis *y, const char *ylabel, const char *xlabel) {
    char lab[48];
    if (y->log) {
        for (double e = ceil(y->lo - 1e-9); e <= y->hi + 1e-9; e += 1) {
            const double py = H - MB - (e - y->lo) / (y->hi - y->lo) * (H - MT - MB);
            snprintf(lab, sizeof lab, "1e%d", (int)e);
            rk__sb_printf(b, "<line class=\"grid\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/><text class=\"yt\" x=\"%d\" y=\"%.1f\">%s</text>\n",
                          ML, py, W - MR, py, ML - 6, py + 4, lab);
        }
    } else {
        for (double v = y->lo; v <= y->hi + y->step * 1e-6; v += y->step) {
            const double py = rk__svg_px_y(y, v);
            rk__svg_tick_label(lab, sizeof lab, v, y->step);
            rk__sb_printf(b, "<line class=\"grid\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/><text class=\"yt\" x=\"%d\" y=\"%.1f\">%s</text>\n",
                          ML, py, W - MR, py, ML - 6, py + 4, lab);
        }
    }
    rk__sb_printf(b, "<rect class=\"box\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\"/>\n", ML, MT, W - ML - MR, H - MT - MB);
    rk__sb_printf(b, "<text class=\"axt\" transform=\"translate(16 %d) rotate(-90)\">", (MT + H - MB) / 2);
    rk__sb_esc(b, ylabel);
    rk__sb_printf(b, "</text><text class=\"axt\" x=\"%d\" y=\"%d\">", (ML + W - MR) / 2, H - 10);
    rk__sb_esc(b, xlabel);
    rk__sb_puts(b, "</text>\n");
}

void rk__svg_x_tick(rk_sb *b, double px, const char *label) {
    rk__sb_printf(b, "<line class=\"tick\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/><text class=\"xt\" x=\"%.1f\" y=\"%d\">",
                  px, H - MB, px, H - MB + 5, px, H - MB + 18);
    rk__sb_esc(b, label);
    rk__sb_puts(b, "</text>\n");
}

void rk__svg_legend(rk_sb *b, int x, int y, const char *cls, const char *label) {
    rk__sb_printf(b, "<rect class=\"%s\" x=\"%d\" y=\"%d\" width=\"14\" height=\"4\"/><text class=\"lg\" x=\"%d\" y=\"%d\">",
                  cls, x, y - 2, x + 18, y + 4);
    rk__sb_esc(b, label);
    rk__sb_puts(b, "</text>\n");
}
