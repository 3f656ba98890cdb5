/* verify/report-impl.h — internals shared by report.c (page, tables), report_charts.c (SVG charts) and
 * report_alloc.c (the candidate's bit allocation): a growing string buffer with HTML escaping, and the charts. */
#ifndef RK_VERIFY_REPORT_IMPL_H
#define RK_VERIFY_REPORT_IMPL_H
#include <stddef.h>
#include "verify/report.h"

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

/* The charts; each writes a <figure> holding one <svg id="..."> (or a one-line note when there is no data). */
void rk__chart_ppl(rk_sb *b, const rk_verify_result *r);             /* #chart-ppl */
void rk__chart_chunk_kld(rk_sb *b, const rk_verify_result *r);       /* #chart-chunk-kld */
void rk__chart_kld_hist(rk_sb *b, const rk_verify_result *r);        /* #chart-kld-hist */
void rk__chart_dp_hist(rk_sb *b, const rk_verify_result *r);         /* #chart-dp-hist */
void rk__chart_layers(rk_sb *b, const rk_verify_layers *l);          /* #chart-layers */
void rk__chart_routing(rk_sb *b, const rk_verify_routing *rb, const rk_verify_routing *rc);   /* #chart-routing */
void rk__chart_alloc(rk_sb *b, const rk_verify_report_alloc *a);     /* #chart-alloc */
void rk__chart_alloc_experts(rk_sb *b, const rk_verify_report_alloc *a);   /* #chart-alloc-experts (per-expert) */
#endif
