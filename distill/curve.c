/* distill/curve.c — the training-curve page (distill/curve.h): reads each run's JSON-lines log into (event, step,
 * field, value) records, keeps the last line per (event, step) (a resumed run appends to its log), and draws one SVG
 * line chart per figure with every run overlaid. The page is built in memory and written with rk_write_file_atomic.
 * The chart frame, axes, escaping and string buffer are the verify report's (verify/svg.h), so both pages look alike.
 * Long series are thinned per pixel bucket to their minimum and maximum, so that spikes stay visible. */
#include "distill/curve.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "verify/svg.h"

enum { EV_STEP, EV_EVAL, N_EV };
enum { MAX_FIELDS = 64, MAX_POINTS = 1000, MAX_MARKS = 60, MAX_RUNS = 256, MAX_PARTS = 3 };
enum { W = RK_SVG_W, H = RK_SVG_H, ML = RK_SVG_ML, MR = RK_SVG_MR, MT = RK_SVG_MT, MB = RK_SVG_MB };
#define MAX_LOG_BYTES (1ull << 30)
#define MAX_ABS 1e100   /* values beyond it are not drawn (they would break the axis arithmetic) */

/* ---- reading a log ------------------------------------------------------------------------------------------ */
typedef struct rec { double step; int64_t line; int field; double v; } rec;   /* one numeric field of one line */

typedef struct evrecs {
    char name[MAX_FIELDS][40];   /* field names, first seen first */
    int nf;
    rec *r;
    size_t n, cap;
} evrecs;

typedef struct runlog {
    const char *path;
    char *label;                 /* escaped on output; owned */
    evrecs ev[N_EV];
    int64_t skipped;             /* non-empty lines that are not JSON objects with an event and a step */
} runlog;

static void runlog_free(runlog *rl) {
    for (int e = 0; e < N_EV; e++) free(rl->ev[e].r);
    free(rl->label);
    memset(rl, 0, sizeof *rl);
}

static int field_index(evrecs *e, const char *name) {
    for (int i = 0; i < e->nf; i++)
        if (strcmp(e->name[i], name) == 0) return i;
    if (e->nf >= MAX_FIELDS || strlen(name) >= sizeof e->name[0]) return -1;
    snprintf(e->name[e->nf], sizeof e->name[0], "%s", name);
    return e->nf++;
}

static int add_rec(evrecs *e, rec r) {
    if (e->n == e->cap) {
        const size_t cap = e->cap ? e->cap * 2 : 1024;
        rec *p = realloc(e->r, cap * sizeof *p);
        if (!p) return -1;
        e->r = p, e->cap = cap;
    }
    e->r[e->n++] = r;
    return 0;
}

static int is_word(const char *w, size_t n, const char *lit) { return strlen(lit) == n && strncasecmp(w, lit, n) == 0; }

/* A NUL-terminated copy of s[0..n) with the number words that printf and Python's json write for non-finite values
 * (NaN, Infinity, inf, nan, optionally signed) outside strings replaced by null, which cJSON accepts. NULL when the
 * line holds a NUL byte (a crash can leave zeros) or on OOM (*oom set). */
static char *json_text(const char *s, size_t n, int *oom) {
    if (memchr(s, 0, n)) return NULL;
    char *o = malloc(n + n / 3 + 8), *q = o;   /* each word of >= 3 bytes grows by at most 1 + the sign */
    if (!o) { *oom = 1; return NULL; }
    int in_str = 0;
    for (size_t i = 0; i < n;) {
        const char c = s[i];
        if (in_str) {
            *q++ = c, i++;
            if (c == '\\' && i < n) *q++ = s[i++];
            else if (c == '"') in_str = 0;
            continue;
        }
        if (c == '"') { in_str = 1, *q++ = c, i++; continue; }
        const size_t w0 = (c == '-' || c == '+') && i + 1 < n && isalpha((unsigned char)s[i + 1]) ? i + 1 : i;
        if (!isalpha((unsigned char)s[w0])) { *q++ = c, i++; continue; }
        size_t w1 = w0;
        while (w1 < n && isalpha((unsigned char)s[w1])) w1++;
        if (is_word(s + w0, w1 - w0, "nan") || is_word(s + w0, w1 - w0, "inf") || is_word(s + w0, w1 - w0, "infinity")) {
            memcpy(q, "null", 4), q += 4;
        } else {
            memcpy(q, s + i, w1 - i), q += w1 - i;
        }
        i = w1;
    }
    *q = 0;
    return o;
}

/* one line: 0 (used or skipped) or -1 on OOM */
static int parse_line(runlog *rl, const char *s, size_t n, int64_t line) {
    size_t k = 0;
    while (k < n && isspace((unsigned char)s[k])) k++;
    if (k == n) return 0;   /* blank */
    int oom = 0;
    char *t = json_text(s, n, &oom);
    if (!t) { rl->skipped += !oom; return oom ? -1 : 0; }
    cJSON *j = cJSON_Parse(t);
    free(t);
    const cJSON *ev = cJSON_IsObject(j) ? cJSON_GetObjectItemCaseSensitive(j, "event") : NULL;
    const cJSON *st = cJSON_IsObject(j) ? cJSON_GetObjectItemCaseSensitive(j, "step") : NULL;
    const int e = !cJSON_IsString(ev) ? -1 : strcmp(ev->valuestring, "step") == 0 ? EV_STEP
                : strcmp(ev->valuestring, "eval") == 0 ? EV_EVAL : N_EV;
    if (e < 0 || (e < N_EV && (!cJSON_IsNumber(st) || !isfinite(st->valuedouble) || fabs(st->valuedouble) > 1e15))) {
        rl->skipped++;
        cJSON_Delete(j);
        return 0;
    }
    int rc = 0;
    for (const cJSON *x = e < N_EV ? j->child : NULL; x && !rc; x = x->next) {   /* other events: not drawn */
        if (!x->string || x == st || x == ev || !(cJSON_IsNumber(x) || cJSON_IsNull(x))) continue;
        const int f = field_index(&rl->ev[e], x->string);
        if (f < 0) continue;
        const rec r = { st->valuedouble, line, f, cJSON_IsNumber(x) ? x->valuedouble : NAN };
        rc = add_rec(&rl->ev[e], r);
    }
    cJSON_Delete(j);
    return rc;
}

static int rec_cmp(const void *a, const void *b) {
    const rec *x = a, *y = b;
    if (x->step != y->step) return x->step < y->step ? -1 : 1;
    if (x->line != y->line) return x->line < y->line ? -1 : 1;
    return (x->field > y->field) - (x->field < y->field);
}

/* sort by step and keep, per step, only the records of its last line */
static void keep_last(evrecs *e) {
    if (e->n) qsort(e->r, e->n, sizeof *e->r, rec_cmp);
    size_t o = 0;
    for (size_t i = 0; i < e->n;) {
        size_t j = i;
        while (j < e->n && e->r[j].step == e->r[i].step) j++;
        const int64_t last = e->r[j - 1].line;
        for (size_t k = i; k < j; k++)
            if (e->r[k].line == last) e->r[o++] = e->r[k];
        i = j;
    }
    e->n = o;
}

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static int read_log(runlog *rl, const rk_curve_run *run, rk_err *err) {
    memset(rl, 0, sizeof *rl);
    rl->path = run->log_path;
    rl->label = rk_strdup(run->label ? run->label : base_name(run->log_path));
    if (!rl->label) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
    char *buf = NULL;
    uint64_t len = 0;
    int rc = rk_read_file(run->log_path, MAX_LOG_BYTES, &buf, &len, err);
    if (rc && rc != RK_ENOMEM) {   /* missing, not a regular file, too large: all "cannot be read" */
        rc = RK_EIO;
        if (err) err->code = RK_EIO;
    }
    if (rc) return rc;
    int64_t line = 0;
    for (size_t i = 0; i < len && !rc; line++) {
        const char *nl = memchr(buf + i, '\n', len - i);
        const size_t end = nl ? (size_t)(nl - buf) : len;
        if (parse_line(rl, buf + i, end - i, line))
            rc = rk_err_set(err, RK_ENOMEM, UINT64_MAX, "%s: out of memory", run->log_path);
        i = end + 1;
    }
    free(buf);
    if (rc) return rc;
    for (int e = 0; e < N_EV; e++) keep_last(&rl->ev[e]);
    if (rl->ev[EV_STEP].n == 0)
        return rk_err_file(err, RK_EINVAL, run->log_path, UINT64_MAX, "no \"event\":\"step\" line with a numeric field: "
                           "not a training log (%lld lines skipped)", (long long)rl->skipped);
    return 0;
}

/* ---- series ------------------------------------------------------------------------------------------------- */
typedef struct series { double *x, *y; size_t n; } series;

static int find_field(const evrecs *e, const char *name) {
    for (int i = 0; i < e->nf; i++)
        if (strcmp(e->name[i], name) == 0) return i;
    return -1;
}

/* the finite points of one field in step order; ln: the natural log of the values (non-positive ones skipped) */
static int get_series(const runlog *rl, int ev, const char *field, int ln, series *s) {
    memset(s, 0, sizeof *s);
    const evrecs *e = &rl->ev[ev];
    const int f = find_field(e, field);
    if (f < 0) return 0;
    size_t n = 0;
    for (size_t i = 0; i < e->n; i++) n += e->r[i].field == f;
    if (!n) return 0;
    s->x = malloc(n * sizeof *s->x), s->y = malloc(n * sizeof *s->y);
    if (!s->x || !s->y) { free(s->x), free(s->y); memset(s, 0, sizeof *s); return -1; }
    for (size_t i = 0; i < e->n; i++) {
        if (e->r[i].field != f) continue;
        const double v = ln ? (e->r[i].v > 0 ? log(e->r[i].v) : NAN) : e->r[i].v;
        if (!isfinite(v) || fabs(v) > MAX_ABS) continue;
        s->x[s->n] = e->r[i].step, s->y[s->n] = v, s->n++;
    }
    return 0;
}

/* indices of at most MAX_POINTS points: all of a short series; else the first, the last, and the minimum and the
 * maximum (in step order) of each of (MAX_POINTS - 2) / 2 buckets between them */
static size_t thin(const series *s, size_t *keep) {
    if (s->n <= MAX_POINTS) {
        for (size_t i = 0; i < s->n; i++) keep[i] = i;
        return s->n;
    }
    const size_t nb = (MAX_POINTS - 2) / 2, lo = 1, span = s->n - 2;
    size_t k = 0;
    keep[k++] = 0;
    for (size_t b = 0; b < nb; b++) {
        const size_t a = lo + span * b / nb, e = lo + span * (b + 1) / nb;
        if (a >= e) continue;
        size_t imin = a, imax = a;
        for (size_t i = a + 1; i < e; i++) {
            if (s->y[i] < s->y[imin]) imin = i;
            if (s->y[i] > s->y[imax]) imax = i;
        }
        keep[k++] = imin < imax ? imin : imax;
        if (imin != imax) keep[k++] = imin < imax ? imax : imin;
    }
    keep[k++] = s->n - 1;
    return k;
}

/* ---- charts ------------------------------------------------------------------------------------------------- */
typedef struct part { const char *field, *suffix; int dash, ln; } part;   /* suffix: legend "label · suffix" */
typedef struct chart_spec {
    const char *id, *title, *ylabel, *caption;
    int ev, optional;            /* optional: left out (no note) when no run logged it */
    part p[MAX_PARTS];
} chart_spec;

static const chart_spec charts[] = {
    { "curve-loss", "Training loss", "loss, nats per token", "Training loss of each logged step (the mean over the "
      "step's tokens); when the log splits it, the cross-entropy part (ce, dashed) and the distillation part (kd, dotted).",
      EV_STEP, 0, { { "loss", NULL, 0, 0 }, { "ce", "ce", 1, 0 }, { "kd", "kd", 2, 0 } } },
    { "curve-heldout", "Held-out loss", "loss, nats per token", "Mean cross-entropy on the held-out text at each "
      "evaluation; dashed: the teacher's, ln(teacher_ppl), when logged.",
      EV_EVAL, 0, { { "heldout_loss", NULL, 0, 0 }, { "teacher_ppl", "teacher", 1, 1 } } },
    { "curve-kld", "Held-out KL(teacher ‖ student)", "mean KLD, nats", "Mean KL divergence of the student's next-token "
      "distribution from the teacher's on the held-out text.", EV_EVAL, 1, { { "kld", NULL, 0, 0 } } },
    { "curve-top1", "Held-out top-1 agreement with the teacher", "share of positions", "Share of held-out positions "
      "where the student's most likely token is the teacher's.", EV_EVAL, 1, { { "top1", NULL, 0, 0 } } },
    { "curve-lr", "Learning rate", "learning rate", "The schedule's learning rate at each logged step.", EV_STEP, 0,
      { { "lr", NULL, 0, 0 } } },
    { "curve-tps", "Throughput", "tokens/s", "Training tokens per second since the run (or its resume) started.",
      EV_STEP, 0, { { "tokens_per_s", NULL, 0, 0 } } },
};
enum { N_CHARTS = sizeof charts / sizeof charts[0], N_COLOURS = 8 };
static const char *const colours[N_COLOURS] = { "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                                "#9467bd", "#8c564b", "#e377c2", "#17becf" };

/* an axis that the frame can draw: finite, a positive step that moves lo, at most 100 ticks */
static int axis_ok(const rk_svg_axis *a) {
    return isfinite(a->lo) && isfinite(a->hi) && a->step > 0 && a->lo + a->step > a->lo && (a->hi - a->lo) / a->step <= 100;
}

static rk_svg_axis x_axis(double lo, double hi) {
    if (hi - lo < 2) lo = lo >= 1 ? floor(lo) - 1 : floor(lo), hi = ceil(hi) + 1;
    rk_svg_axis a = rk__svg_lin_axis(lo, hi, 8);
    if (a.step < 1) a.step = 1, a.lo = floor(a.lo), a.hi = ceil(a.hi);   /* steps are whole numbers */
    return a;
}

static rk_svg_axis y_axis_for(double lo, double hi) {
    if (hi - lo <= 1e-9 * fmax(fabs(lo), fabs(hi))) {   /* constant: centred in a band of ±10% (or ±1 around 0) */
        const double v = lo, d = v != 0 ? fabs(v) * 0.1 : 1;
        lo = v >= 0 && v - d < 0 ? 0 : v - d, hi = v + d;
    } else {
        const double pad = (hi - lo) * 0.05;
        lo = lo >= 0 && lo - pad < 0 ? 0 : lo - pad, hi += pad;
    }
    return rk__svg_lin_axis(lo, hi, 6);
}

static void legend_label(char *buf, size_t cap, const runlog *rl, const part *p) {
    snprintf(buf, cap, "%s%s%s", rl->label, p->suffix ? " · " : "", p->suffix ? p->suffix : "");
}

static void draw_series(rk_sb *b, const series *s, const rk_svg_axis *x, const rk_svg_axis *y, int colour,
                        const part *p, const char *label, size_t *keep) {
    const size_t k = thin(s, keep);
    char f1[48];
    rk__sb_printf(b, "<polyline class=\"ln c%d d%d\" points=\"", colour, p->dash);
    for (size_t i = 0; i < k; i++)
        rk__sb_printf(b, "%.1f,%.1f ", rk__svg_px_x(x, s->x[keep[i]]), rk__svg_px_y(y, s->y[keep[i]]));
    rk__sb_puts(b, "\"><title>");
    rk__sb_esc(b, label);
    rk__sb_printf(b, " (%zu points%s)</title></polyline>\n", s->n, k < s->n ? ", thinned" : "");
    for (size_t i = k <= MAX_MARKS ? 0 : k - 1; i < k; i++) {   /* markers: every point of a short series, else the last */
        const size_t j = keep[i];
        rk__sb_printf(b, "<circle class=\"c%d\" cx=\"%.1f\" cy=\"%.1f\" r=\"%s\"><title>", colour, rk__svg_px_x(x, s->x[j]),
                      rk__svg_px_y(y, s->y[j]), p->dash ? "2.5" : "3.5");
        rk__sb_esc(b, label);
        rk__sb_printf(b, ", step %.0f: %s%s</title></circle>\n", s->x[j], p->ln ? "ln " : "", rk__fmt(f1, 'g', 6, s->y[j]));
    }
}

/* legend rows below the frame: a line in the series' colour and dash, then the label; returns the rows used */
static int legend_rows(rk_sb *b, const runlog *runs, int nr, const chart_spec *c, const series *s, int draw) {
    int x = ML, row = 0;
    char lab[600];
    for (int r = 0; r < nr; r++)
        for (int k = 0; k < MAX_PARTS && c->p[k].field; k++) {
            if (!s[r * MAX_PARTS + k].n) continue;
            legend_label(lab, sizeof lab, &runs[r], &c->p[k]);
            const int w = 30 + (int)strlen(lab) * 6 + 18;
            if (x > ML && x + w > W - MR) x = ML, row++;
            if (draw) {
                const int y = H + 6 + 16 * row;
                rk__sb_printf(b, "<line class=\"ln c%d d%d\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/><text class=\"lg\" x=\"%d\" y=\"%d\">",
                              r % N_COLOURS, c->p[k].dash, x, y, x + 24, y, x + 30, y + 4);
                rk__sb_esc(b, lab);
                rk__sb_puts(b, "</text>\n");
            }
            x += w;
        }
    return row + 1;
}

static void chart_frame(rk_sb *b, const chart_spec *c, const rk_svg_axis *x, const rk_svg_axis *y, int rows) {
    rk__svg_open(b, c->id, c->title, W, H + 16 * rows);
    rk__svg_y_axis(b, y, c->ylabel, "step");
    char lab[48];
    for (double v = x->lo; v <= x->hi + x->step * 1e-6; v += x->step) {
        rk__svg_tick_label(lab, sizeof lab, v, x->step);
        rk__svg_x_tick(b, rk__svg_px_x(x, v), lab);
    }
}

static void draw_chart(rk_sb *b, const chart_spec *c, const runlog *runs, int nr) {
    series *s = calloc((size_t)nr * MAX_PARTS, sizeof *s);
    size_t *keep = malloc(MAX_POINTS * sizeof *keep);
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    int any_field = 0;
    if (!s || !keep) { b->oom = 1; goto done; }
    for (int r = 0; r < nr; r++)
        for (int k = 0; k < MAX_PARTS && c->p[k].field; k++) {
            series *q = &s[r * MAX_PARTS + k];
            any_field |= find_field(&runs[r].ev[c->ev], c->p[k].field) >= 0;
            if (get_series(&runs[r], c->ev, c->p[k].field, c->p[k].ln, q)) { b->oom = 1; goto done; }
            for (size_t i = 0; i < q->n; i++)
                xlo = fmin(xlo, q->x[i]), xhi = fmax(xhi, q->x[i]), ylo = fmin(ylo, q->y[i]), yhi = fmax(yhi, q->y[i]);
        }
    if (!isfinite(xlo)) {
        if (!c->optional || any_field) {
            char note[200];
            snprintf(note, sizeof note, "%s: %s.", c->title,
                     any_field ? "no finite value within ±1e100 in the log" : "not in the log");
            rk__svg_no_data(b, note);
        }
        goto done;
    }
    const rk_svg_axis x = x_axis(xlo, xhi), y = y_axis_for(ylo, yhi);
    if (!axis_ok(&x) || !axis_ok(&y)) {
        char note[200];
        snprintf(note, sizeof note, "%s: values span too wide or too narrow a range to draw.", c->title);
        rk__svg_no_data(b, note);
        goto done;
    }
    chart_frame(b, c, &x, &y, legend_rows(b, runs, nr, c, s, 0));
    char lab[600];
    for (int r = 0; r < nr; r++)
        for (int k = MAX_PARTS - 1; k >= 0; k--) {   /* the parts first, the main line on top */
            const series *q = &s[r * MAX_PARTS + k];
            if (!c->p[k].field || !q->n) continue;
            legend_label(lab, sizeof lab, &runs[r], &c->p[k]);
            draw_series(b, q, &x, &y, r % N_COLOURS, &c->p[k], lab, keep);
        }
    legend_rows(b, runs, nr, c, s, 1);
    rk__svg_close(b, c->caption);
done:
    for (int r = 0; s && r < nr * MAX_PARTS; r++) free(s[r].x), free(s[r].y);
    free(s);
    free(keep);
}

/* ---- page --------------------------------------------------------------------------------------------------- */
static const char css[] =
    "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;color:#1d1d1f;margin:0;"
    "background:#f4f5f7}main{max-width:960px;margin:0 auto;padding:0 16px 48px}"
    "header{background:#1f2933;color:#fff;padding:20px 0 16px;margin-bottom:16px}header .in{max-width:960px;margin:0 auto;"
    "padding:0 16px}h1{font-size:22px;margin:0 0 6px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #d0d4da;"
    "padding-bottom:4px}.sub{color:#c9d1d9;font-size:13px;word-break:break-all}"
    "figure{margin:12px 0;background:#fff;border:1px solid #d0d4da;border-radius:6px;padding:8px}"
    "figcaption{font-size:12px;color:#555;margin-top:4px}table{border-collapse:collapse;background:#fff;margin:8px 0;"
    "font-size:13px}th,td{border:1px solid #d0d4da;padding:3px 8px;text-align:right}th{background:#eef0f3}"
    "td.l,th.l{text-align:left}.na{color:#666;font-style:italic}.sw{display:inline-block;width:16px;height:4px;"
    "vertical-align:middle;margin-right:6px}"
    RK_SVG_CSS
    "polyline.ln,line.ln{fill:none;stroke-width:2}.d1{stroke-dasharray:7 4}.d2{stroke-dasharray:2 3}"
    "circle{stroke:#fff;stroke-width:1}";

/* the value of field at the event's last logged step (NAN when that line lacks it) */
static double last_value(const runlog *rl, int ev, const char *field, double *step) {
    const evrecs *e = &rl->ev[ev];
    if (step) *step = e->n ? e->r[e->n - 1].step : NAN;
    const int f = find_field(e, field);
    if (!e->n || f < 0) return NAN;
    const double last = e->r[e->n - 1].step;
    for (size_t i = e->n; i-- > 0 && e->r[i].step == last;)
        if (e->r[i].field == f) return e->r[i].v;
    return NAN;
}

static int any_has(const runlog *runs, int nr, int ev, const char *field) {
    for (int r = 0; r < nr; r++)
        if (find_field(&runs[r].ev[ev], field) >= 0) return 1;
    return 0;
}

typedef struct col { int ev; const char *field, *head; char style; int prec; int optional; } col;
static const col cols[] = {
    { EV_STEP, "loss", "train loss", 'f', 4, 0 }, { EV_STEP, "ce", "ce", 'f', 4, 1 }, { EV_STEP, "kd", "kd", 'f', 4, 1 },
    { EV_EVAL, "heldout_loss", "held-out loss", 'f', 4, 0 }, { EV_EVAL, "heldout_ppl", "held-out PPL", 'f', 3, 0 },
    { EV_EVAL, "kld", "KLD", 'f', 5, 1 }, { EV_EVAL, "top1", "top-1", 'f', 4, 1 },
    { EV_EVAL, "teacher_ppl", "teacher PPL", 'f', 3, 1 },
};
enum { N_COLS = sizeof cols / sizeof cols[0] };

static void summary_table(rk_sb *b, const runlog *runs, int nr) {
    rk__sb_puts(b, "<table id=\"summary-table\"><tr><th class=\"l\">run</th><th class=\"l\">log</th><th>last step</th>");
    int show[N_COLS];
    for (int i = 0; i < N_COLS; i++) {
        show[i] = !cols[i].optional || any_has(runs, nr, cols[i].ev, cols[i].field);
        if (show[i]) rk__sb_printf(b, "<th>%s</th>", cols[i].head);
    }
    rk__sb_puts(b, "<th>last eval step</th><th>lines skipped</th></tr>\n");
    char f[48];
    for (int r = 0; r < nr; r++) {
        double st, se;
        last_value(&runs[r], EV_STEP, "", &st);
        last_value(&runs[r], EV_EVAL, "", &se);
        rk__sb_printf(b, "<tr><td class=\"l\"><span class=\"sw\" style=\"background:%s\"></span>", colours[r % N_COLOURS]);
        rk__sb_esc(b, runs[r].label);
        rk__sb_puts(b, "</td><td class=\"l\">");
        rk__sb_esc(b, base_name(runs[r].path));
        rk__sb_printf(b, "</td><td>%.0f</td>", st);
        for (int i = 0; i < N_COLS; i++) {
            if (!show[i]) continue;
            const double v = last_value(&runs[r], cols[i].ev, cols[i].field, NULL);
            rk__sb_printf(b, "<td>%s</td>", rk__fmt(f, cols[i].style, cols[i].prec, v));
        }
        if (isfinite(se)) rk__sb_printf(b, "<td>%.0f</td>", se);
        else rk__sb_puts(b, "<td>n/a</td>");
        rk__sb_printf(b, "<td>%lld</td></tr>\n", (long long)runs[r].skipped);
    }
    rk__sb_puts(b, "</table>\n<p class=\"na\">Training figures at each run's last logged step, held-out figures at its "
                   "last evaluation; n/a: not logged there. Of repeated steps (a resumed run) the last line counts.</p>\n");
}

static size_t n_steps(const evrecs *e) {   /* distinct steps (records are sorted by step) */
    size_t n = 0;
    for (size_t i = 0; i < e->n; i++) n += i == 0 || e->r[i].step != e->r[i - 1].step;
    return n;
}

static void page(rk_sb *b, const runlog *runs, int nr, const char *title) {
    rk__sb_puts(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                   "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
                   "script-src 'none'; img-src data:\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                   "<meta name=\"generator\" content=\"r1kit\"><title>");
    rk__sb_esc(b, title);
    rk__sb_printf(b, "</title><style>%s", css);
    for (int c = 0; c < N_COLOURS; c++) rk__sb_printf(b, ".c%d{stroke:%s;fill:%s}", c, colours[c], colours[c]);
    rk__sb_puts(b, "</style></head><body>\n<header><div class=\"in\"><h1>");
    rk__sb_esc(b, title);
    rk__sb_puts(b, "</h1><div class=\"sub\">");
    for (int r = 0; r < nr; r++) {
        rk__sb_puts(b, r ? "<br>" : "");
        rk__sb_esc(b, runs[r].label);
        rk__sb_puts(b, ": ");
        rk__sb_esc(b, runs[r].path);
        rk__sb_printf(b, " (%zu steps, %zu evaluations logged)", n_steps(&runs[r].ev[EV_STEP]),
                      n_steps(&runs[r].ev[EV_EVAL]));
    }
    rk__sb_puts(b, "</div></div></header>\n<main>\n<h2 id=\"summary\">Summary</h2>\n");
    summary_table(b, runs, nr);
    rk__sb_puts(b, "<h2 id=\"loss\">Loss</h2>\n");
    for (int i = 0; i < N_CHARTS; i++) {
        if (i == 4) rk__sb_puts(b, "<h2 id=\"schedule\">Schedule and throughput</h2>\n");
        draw_chart(b, &charts[i], runs, nr);
    }
    rk__sb_puts(b, "</main></body></html>\n");
}

int rk_curve_html(const rk_curve_run *runs, int n_runs, const char *title, const char *out_path, rk_err *err) {
    if (!runs || n_runs < 1 || n_runs > MAX_RUNS || !out_path)
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "curve page: need 1 to %d runs and an output path", MAX_RUNS);
    for (int r = 0; r < n_runs; r++)
        if (!runs[r].log_path) return rk_err_set(err, RK_EINVAL, UINT64_MAX, "curve page: run %d has no log path", r + 1);
    runlog *rl = calloc((size_t)n_runs, sizeof *rl);
    if (!rl) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
    int rc = 0;
    for (int r = 0; r < n_runs && !rc; r++) rc = read_log(&rl[r], &runs[r], err);
    rk_sb b = { 0 };
    if (!rc) {
        page(&b, rl, n_runs, title ? title : "r1kit training curves");
        rc = b.oom ? rk_err_set(err, RK_ENOMEM, UINT64_MAX, "%s: out of memory", out_path)
                   : rk_write_file_atomic(out_path, b.p, b.n, err);
    }
    rk__sb_free(&b);
    for (int r = 0; r < n_runs; r++) runlog_free(&rl[r]);
    free(rl);
    return rc;
}
