/* verify/svg.h — internals shared by the pages that r1kit writes as self-contained HTML with inline SVG charts:
 * `r1kit verify --html` (verify/report*.c) and the training-curve page (distill/curve.c). A growing string buffer
 * with HTML escaping, number formatting, "nice" linear axes and the frame of a line / bar chart (W x H pixels, plot
 * box inside the margins, y grid with tick labels, x ticks, axis titles, legend swatches).
 *
 * The CSS classes the frame uses (RK_SVG_CSS, to paste into the page's <style>): .chart .bg .ttl .grid .box .tick
 * .yt .xt .axt .lg .pt; the page adds its own classes for series and legend swatches. */
#ifndef RK_VERIFY_SVG_H
#define RK_VERIFY_SVG_H
#include <stddef.h>

/* ---- string buffer ------------------------------------------------------------------------------------------ */
typedef struct rk_sb {
    char *p;
    size_t n, cap;
    int oom;                 /* an append failed: the buffer is incomplete */
} rk_sb;

void rk__sb_put(rk_sb *b, const char *s, size_t n);
void rk__sb_puts(rk_sb *b, const char *s);
void rk__sb_printf(rk_sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* s HTML-escaped (& < > " ' as entities; control bytes other than tab and newline as '?'); NULL as "" */
void rk__sb_esc(rk_sb *b, const char *s);
/* printf into a temporary, then escaped */
void rk__sb_escf(rk_sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rk__sb_free(rk_sb *b);

/* A number for display: "n/a" for NaN/Inf, else "%.<prec>f" (style 'f'), "%+.<prec>f" ('+') or "%.<prec>g" ('g').
 * buf must hold 48 bytes; returns buf. */
const char *rk__fmt(char *buf, char style, int prec, double v);

/* ---- charts ------------------------------------------------------------------------------------------------- */
/* a chart's size and margins (left, right, top, bottom), pixels */
enum { RK_SVG_W = 900, RK_SVG_H = 320, RK_SVG_ML = 72, RK_SVG_MR = 24, RK_SVG_MT = 44, RK_SVG_MB = 52 };

/* lo..hi in data units with a tick every step; log: lo, hi are decades (log10) and ticks fall on whole decades */
typedef struct rk_svg_axis { double lo, hi, step; int log; } rk_svg_axis;

/* 1, 2, 2.5 or 5 x 10^k, so that range holds about max_ticks ticks */
double rk__svg_nice_step(double range, int max_ticks);
/* linear axis over lo..hi widened to whole steps (non-finite → 0..1; empty range → widened by 10% or 1) */
rk_svg_axis rk__svg_lin_axis(double lo, double hi, int max_ticks);
/* data value → pixel inside the W x H frame: x from the left margin, y from the bottom margin up */
double rk__svg_px_x(const rk_svg_axis *a, double v);
double rk__svg_px_y(const rk_svg_axis *a, double v);
/* a tick label for v on an axis of the given step: as many decimals as the step needs, %.3g for very large or small */
void rk__svg_tick_label(char *buf, size_t cap, double v, double step);

/* <figure><svg id class="chart"> with <title>, background and the title text; svg_close ends it (caption optional) */
void rk__svg_open(rk_sb *b, const char *id, const char *title, int w, int h);
void rk__svg_close(rk_sb *b, const char *caption);
/* a one-line note in place of a chart */
void rk__svg_no_data(rk_sb *b, const char *what);
/* y grid lines and tick labels, the plot box, the axis titles (W x H frame) */
void rk__svg_y_axis(rk_sb *b, const rk_svg_axis *y, const char *ylabel, const char *xlabel);
/* one x tick with its label at pixel px */
void rk__svg_x_tick(rk_sb *b, double px, const char *label);
/* a legend swatch (14 x 4 rect of class cls) and its label at (x, y) */
void rk__svg_legend(rk_sb *b, int x, int y, const char *cls, const char *label);

/* the frame's CSS (string literal, to concatenate into a page's stylesheet) */
#define RK_SVG_CSS                                                                                                  \
    ".chart{display:block;max-width:100%;height:auto}.bg{fill:#fff}.ttl{font-size:15px;font-weight:600;text-anchor:middle}" \
    ".grid{stroke:#e6e8eb}.box{fill:none;stroke:#8a8f98}.tick{stroke:#8a8f98}.yt{font-size:11px;text-anchor:end;fill:#444}" \
    ".xt{font-size:11px;text-anchor:middle;fill:#444}.xt.rot{text-anchor:start}.axt{font-size:12px;text-anchor:middle;"   \
    "fill:#222}.lg{font-size:11px;fill:#222}.lg.end{text-anchor:end}.lg.mid{text-anchor:middle}.pt{font-size:12px;"       \
    "font-weight:600}"
#endif
