/* verify/report-impl.h — internals shared by report.c (page, tables), report_charts.c (SVG charts) and
 * report_alloc.c (the candidate's bit allocation): the charts. The string buffer with HTML escaping, number formatting
 * and the chart frame are in verify/svg.h (shared with distill/curve.c). */
#ifndef RK_VERIFY_REPORT_IMPL_H
#define RK_VERIFY_REPORT_IMPL_H
#include <stddef.h>
#include "verify/report.h"
#include "verify/svg.h"   /* rk_sb, rk__sb_*, rk__fmt and the chart frame */

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
