/* verify/report.h — the HTML report of `r1kit verify --html FILE`: one self-contained page (inline CSS and SVG; no
 * script, font, image or link that leaves the file; a Content-Security-Policy forbids any load) that any browser
 * opens offline. Written through a temp file beside FILE and renamed (rk_write_file_atomic).
 *
 * The page, top down: a header (models, text, chunking, the headline figures and PASS / FAIL of the gate), the gate
 * criteria, the static-check findings, per-chunk PPL of both models (#chart-ppl) and mean KLD per chunk
 * (#chart-chunk-kld), the histogram of per-token KLD on log-spaced bins (#chart-kld-hist) and of Δp
 * (#chart-dp-hist), the tables of totals (llama.cpp's wording) and of the KLD and Δp percentiles, the per-layer
 * relative error of the hidden state (#chart-layers), the MoE routing heat maps (#chart-routing: layers x experts,
 * colour = share of the layer's selections, base | candidate, and the difference below), and the candidate's bit
 * allocation (#chart-alloc: layers x tensor kinds, colour = bits per weight, the type in the cell; #chart-alloc-
 * experts for the per-expert layout: layers x experts, bits per weight of each expert's gate+up+down; bytes per type
 * and the tensors with the largest predicted error as tables). Every chart element has a <title> tooltip. A
 * section whose input is absent says so in one line instead of a chart.
 *
 * How to fill rk_verify_report from a verify run (cli/verify.c):
 *
 *     rk_verify_report r = { 0 };
 *     r.base_path = base_path; r.cand_path = cand_path;     // names: NULL → the paths' last component
 *     r.text_path = text_path; r.command = "r1kit verify ..."; // both optional
 *     r.result = &res;                                        // after rk_verify_compare / rk_verify_run (required)
 *     // gate (optional): from rk_verify_gate_eval
 *     rk_verify_report_criterion crit[RK_VERIFY_GATE_N]; rk_verify_report_gate g;
 *     rk_verify_report_gate_from(&gate_result, crit, &g);  r.gate = &g;
 *     // static checks (optional): one rk_verify_report_finding per rk_check_finding (checks.h)
 *     for (i...) f[i] = (rk_verify_report_finding){ ck.item[i].level, "CANDIDATE", ck.item[i].what };
 *     r.findings = f; r.n_findings = ck.n;
 *     // routing of the whole run (optional, MoE): right after rk_verify_compare, before rk_verify_layers_run
 *     rk_verify_routing rb, rc; rk_verify_routing_collect(mb, &rb, &err); rk_verify_routing_collect(mc, &rc, &err);
 *     r.routing_base = &rb; r.routing_cand = &rc;
 *     // per-layer error (optional; needs both models live): the first chunks of the same tokens
 *     rk_verify_layers_opts lo = { n_ctx, 2, n_batch, rk_tokenizer_leading_bos(tb), 32 };
 *     rk_verify_layers ly; rk_verify_layers_run(mb, mc, ib, nb, &lo, &ly, &err); r.layers = &ly;
 *     //   (without the collect above: r.routing_base = &ly.routing_base, r.routing_cand = &ly.routing_cand)
 *     // bit allocation (optional; when CANDIDATE is a GGUF file)
 *     rk_verify_report_alloc al; if (rk_verify_report_load_alloc(cand_path, &al, &err) == 0) r.alloc = &al;
 *     rc = rk_verify_report_html(html_path, &r, &err);
 *     ... rk_verify_report_alloc_free(&al); rk_verify_layers_free(&ly); rk_verify_routing_free(&rb); ...
 *
 * With --llama-base or a stored base there is no live BASE model: leave layers and routing_base NULL (the
 * candidate's routing alone is still drawn). Strings are copied into the page HTML-escaped; any may be NULL. */
#ifndef RK_VERIFY_REPORT_H
#define RK_VERIFY_REPORT_H
#include <stddef.h>
#include <stdint.h>
#include "formats/common.h"
#include "verify/compare.h"
#include "verify/layers.h"

/* ---- gate outcome ------------------------------------------------------------------------------------------- */
typedef struct rk_verify_report_criterion {
    const char *name;        /* "mean KLD" */
    const char *op;          /* how value must compare with threshold: "<=", ">=" (NULL: not shown) */
    double value, threshold;
    int passed;
} rk_verify_report_criterion;

typedef struct rk_verify_report_gate {
    int pass;                                 /* overall */
    size_t n;
    const rk_verify_report_criterion *item;   /* [n] */
} rk_verify_report_gate;

/* From rk_verify_gate_eval's result: the criteria that are set, into crit[RK_VERIFY_GATE_N] (names point into gr,
 * which must outlive the report call). */
void rk_verify_report_gate_from(const rk_verify_gate_result *gr, rk_verify_report_criterion *crit,
                                rk_verify_report_gate *out);

/* ---- findings ----------------------------------------------------------------------------------------------- */
typedef struct rk_verify_report_finding {
    int level;               /* rk_check_level: 0 ok, 1 warn, 2 error */
    const char *where;       /* "BASE", "CANDIDATE" or NULL */
    const char *text;
} rk_verify_report_finding;

/* ---- bit allocation of the candidate ------------------------------------------------------------------------ */
typedef struct rk_verify_alloc_tensor {
    char name[72];           /* GGUF tensor name */
    char type[16];           /* rk_dtype_name of the stored type ("Q2_K") */
    char kind[40];           /* name without "blk.N." / ".E" / ".weight" ("attn_q_a", "ffn_gate_exps", "ffn_gate") */
    uint64_t bytes, n_params;
    int64_t layer;           /* N of "blk.N.", -1 for global tensors (token_embd, output, output_norm) */
    int64_t expert;          /* E of the per-expert layout "blk.N.ffn_{gate,up,down}.E.weight", else -1 */
    int n_dims;
    double pred_error;       /* r1kit.quantize.alloc.errors for this tensor, NAN when absent */
    double share;            /* r1kit.quantize.alloc.shares, NAN when absent */
} rk_verify_alloc_tensor;

typedef struct rk_verify_report_alloc {
    rk_verify_alloc_tensor *t;   /* [n], in file order */
    size_t n;
    char recipe[32];             /* r1kit.quantize.recipe ("" when absent: not written by r1kit quantize) */
    char layout[16];             /* r1kit.quantize.layout ("stacked", "per-expert", "") */
    double predicted_error;      /* r1kit.quantize.alloc.predicted_error, NAN when absent */
    uint64_t total_bytes, total_params;
    int n_experts;               /* max expert index + 1 of the per-expert layout, 0 otherwise */
} rk_verify_report_alloc;

/* Reads the candidate GGUF's tensor table (types and sizes from the file itself) and the r1kit.quantize.* keys.
 * RK_EUNSUPPORTED when path is not a GGUF file (e.g. a Hugging Face folder: no allocation to show), the GGUF
 * reader's codes for a broken file, RK_ECORRUPT when r1kit.quantize.alloc.errors is not an F32/F64 array
 * aligned with r1kit.quantize.types. out is zeroed first; free with rk_verify_report_alloc_free. */
int  rk_verify_report_load_alloc(const char *gguf_path, rk_verify_report_alloc *out, rk_err *err);
void rk_verify_report_alloc_free(rk_verify_report_alloc *a);   /* NULL ok */

/* ---- the report --------------------------------------------------------------------------------------------- */
typedef struct rk_verify_report {
    const char *title;                    /* NULL: "r1kit verify" */
    const char *base_name, *base_path;    /* names NULL: the path's last component */
    const char *cand_name, *cand_path;
    const char *text_path;                /* NULL: not shown */
    const char *command;                  /* the command line, NULL: not shown */
    const rk_verify_result *result;       /* required, finished (rk_verify_finish) */
    const rk_verify_report_gate *gate;    /* NULL: no gate */
    const rk_verify_report_finding *findings;
    size_t n_findings;
    const rk_verify_layers *layers;       /* NULL: not measured */
    const rk_verify_routing *routing_base, *routing_cand;   /* NULL or n == 0: none */
    const rk_verify_report_alloc *alloc;  /* NULL: none */
} rk_verify_report;

/* Writes the page to path (temp file + rename; nothing is left on error). RK_EINVAL without a finished result,
 * RK_ENOMEM, RK_EIO. */
int rk_verify_report_html(const char *path, const rk_verify_report *r, rk_err *err);
#endif
