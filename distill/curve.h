/* distill/curve.h — the training-curve page of `r1kit train` / `r1kit distill`: one self-contained HTML file (inline
 * CSS and SVG; no script, font, image or link that leaves the file; a Content-Security-Policy forbids any load) drawn
 * from the JSON-lines log the training loop writes (model/trainloop.c).
 *
 * The log: one JSON object per line. Lines with "event":"step" carry step, loss, lr, grad_norm, tokens_per_s,
 * step_ms and optionally aux, ce (cross-entropy part) and kd (distillation part); lines with "event":"eval" carry
 * step, heldout_loss, heldout_ppl, heldout_tokens and optionally kld (mean KL(teacher || student) on held-out text),
 * top1 (share of positions where the student's argmax is the teacher's) and teacher_ppl. Every numeric field is
 * read generically: unknown fields are ignored, missing ones are not drawn, NaN / Inf values (and JSON null) are
 * skipped. Lines that are not JSON objects or have no "event" are skipped (a run killed mid-write leaves a partial
 * last line). A resumed run appends to the same log: of the lines with the same (event, step) the last one wins.
 *
 * The page, top down: the title; a summary table (per run: last step, last training loss, last held-out loss and
 * PPL, and last kld / top1 when logged); the charts, each an <svg id="..."> with every run overlaid in its own colour:
 * #curve-loss (training loss; the ce and kd parts dashed / dotted when logged), #curve-heldout (held-out loss),
 * #curve-kld and #curve-top1 (only when some run logged them), #curve-lr (learning rate), #curve-tps (tokens/s).
 * A series of more than 1000 points is thinned to about 1000 (the first and last point always kept). */
#ifndef RK_DISTILL_CURVE_H
#define RK_DISTILL_CURVE_H
#include "formats/common.h"

/* One run's log to plot; label is shown in the legend and the table (NULL: the log's file name). */
typedef struct rk_curve_run {
    const char *log_path;
    const char *label;
} rk_curve_run;

/* Writes the page for runs[n_runs] to out_path (temp file beside it + rename, rk_write_file_atomic; nothing is left
 * at out_path on error). title NULL: "r1kit training curves". Errors: RK_EINVAL for n_runs outside 1..256 or a NULL
 * path, or a log with no step line at all (the message names the file); RK_EIO for a log that cannot be read
 * (missing, not a regular file, over 1 GiB: logs are read whole) or an output that cannot be written; RK_ENOMEM. */
int rk_curve_html(const rk_curve_run *runs, int n_runs, const char *title, const char *out_path, rk_err *err);
#endif
