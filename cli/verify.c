/* cli/verify.c — `r1kit verify`, the release gate: static checks of the model files, then llama-perplexity
 * --kl-divergence's figures (PPL ratio, KLD and its percentiles, Δp, same top token) for a CANDIDATE against a
 * base — a live BASE model, a stored base (--base FILE, written by --save-base) or llama-perplexity's base file
 * (--llama-base) — and the gate's thresholds on them (exit 1 when one fails).
 *
 * Everything a report needs ends up in one verify_report (the checks' findings, the rk_verify_result, the gate
 * outcome, the saved base file), which the text and JSON printers read. */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "model/kernels.h"
#include "model/model.h"
#include "model/tokenizer.h"
#include "verify/basefile.h"
#include "verify/checks.h"
#include "verify/compare.h"
#include "verify/layers.h"
#include "verify/report.h"

const char rk_usage_verify[] =
    "usage: r1kit verify BASE CANDIDATE --text FILE [--save-base FILE [--top-k K]] [GATE] [options]\n"
    "       r1kit verify BASE --save-base FILE --text FILE [--top-k K] [options]\n"
    "       r1kit verify --base FILE CANDIDATE [--text FILE] [GATE] [options]\n"
    "       r1kit verify --llama-base FILE CANDIDATE [--text FILE] [GATE] [options]\n"
    "\n"
    "How far CANDIDATE (e.g. a quantized GGUF) is from BASE on a text, with the figures of llama.cpp's\n"
    "`llama-perplexity --kl-divergence`: PPL of both, Mean ln(PPL(Q)/PPL(base)), KL divergence (mean and\n"
    "percentiles), Δp = p_candidate - p_base of the true token, RMS Δp and \"same top p\" (top-1 agreement).\n"
    "Chunking as `r1kit perplexity`: --ctx-token chunks from an empty cache, BOS first, second half scored.\n"
    "BASE and CANDIDATE are anything r1kit loads (HF folder, GGUF incl. quantized) and must have the same\n"
    "tokenizer (vocabulary, token strings, special tokens, BOS rule, the same tokens for the text), else exit 3.\n"
    "First, static checks of each model file (tensor types, sizes and shapes against the config, metadata,\n"
    "tokenizer, the engine's loader, a NaN/Inf scan of every tensor), one line each on stderr:\n"
    "`check: ok|warn|error MODEL: what`; any error stops before evaluation (exit 3).\n"
    "One line per chunk on stderr (running figures, llama.cpp's columns), the final block on stdout.\n"
    "\n"
    "  --text FILE        UTF-8 text (required with a live BASE)\n"
    "  --ctx N            tokens per chunk (default 512; the text needs at least 2*N tokens)\n"
    "  --chunks K         evaluate at most K chunks (default: all)\n"
    "  --batch N          tokens per forward pass (default: ctx)\n"
    "  --threads N        OpenMP threads (default: all cores)\n"
    "  --json             print everything (checks, totals, percentiles, per-chunk figures, gate) as one JSON\n"
    "                     document on stdout\n"
    "  --no-scan          skip the NaN/Inf scan (it reads the whole file)\n"
    "  --html FILE        also write a self-contained HTML report (SVG charts: per-chunk PPL, KLD histogram,\n"
    "                     per-layer error of the hidden state, MoE routing heat maps, the candidate's bit\n"
    "                     allocation; gate and findings); needs a finished evaluation\n"
    "  --html-layer-chunks N  chunks the per-layer error runs both models over (default 2; live BASE only)\n"
    "  --save-base FILE   store the live BASE's answer (top-k log-probs per scored token + the rest's mass, the\n"
    "                     target's NLL, the argmax, the tokens, ctx, chunks, a tokenizer fingerprint; zlib,\n"
    "                     CRC-32) so that later runs need no BASE; without CANDIDATE only the base is run\n"
    "  --top-k K          entries kept per token by --save-base (default 32; K >= vocabulary keeps all: exact)\n"
    "  --base FILE        take the base from a --save-base file (its tokens, ctx and chunks; refused if the\n"
    "                     CANDIDATE's tokenizer differs). KLD then lumps the tokens outside the top k into one\n"
    "                     bucket (a lower bound, see docs/verify.md); the other figures are exact.\n"
    "  --llama-base FILE  take the base from the file `llama-perplexity -f TEXT --kl-divergence-base FILE` wrote\n"
    "                     (its tokens and ctx; the base log-probs as llama.cpp stores and reads them). With --text\n"
    "                     (also with --base), the text must tokenize to the file's tokens.\n"
    "GATE (exit 1 and one `FAIL <figure> <value> <op> <threshold>` line per failed criterion; a `gate: PASS` or\n"
    "`gate: FAIL` line in any case, on stdout, or stderr with --json):\n"
    "  --max-ppl-ratio X  Mean PPL(Q)/PPL(base) must be <= X (> 0)\n"
    "  --max-kld X        mean KLD must be <= X (>= 0)\n"
    "  --min-top1 P       \"same top p\" must be >= P PERCENT (0..100; 99 means 99%)\n"
    "  --gate FILE        the same as JSON: {\"max_ppl_ratio\": 1.01, \"max_kld\": 0.03, \"min_top1\": 90} (any\n"
    "                     subset; unknown keys refused); options on the command line override it\n"
    "\n"
    "Exit codes: 0 ok (gate passed or none), 1 gate failed, 2 usage (bad option or value, malformed --gate\n"
    "file, text shorter than 2 x ctx), 3 bad input (a static check error, e.g. truncated or NaN-holding model;\n"
    "different tokenizers; corrupt, truncated or foreign base file; missing text or gate file), 4 I/O (a\n"
    "model or file cannot be opened or written), 5 out of memory, 130 interrupted.\n";

typedef struct verify_args {
    const char *base, *cand, *text, *llama_base, *base_file, *save_base, *gate_file, *html;
    int64_t n_ctx, n_chunks, n_batch, threads, top_k, layer_chunks;
    int ctx_given, json, scan;
    rk_verify_gate gate;              /* command-line values over the --gate file's */
} verify_args;

/* everything a report needs */
typedef struct verify_report {
    const char *base_label;           /* BASE path, or the base file */
    const char *base_kind;            /* "model", "r1kit base file", "llama-perplexity base file" */
    const char *cand_label;           /* NULL: base-only run (--save-base) */
    const char *text;                 /* "" when none */
    rk_verify_checks checks[2];       /* [0] BASE (live only), [1] CANDIDATE; checked[i] says whether they ran */
    int checked[2];
    int have_result;
    rk_verify_result res;
    int have_gate;
    rk_verify_gate gate;
    rk_verify_gate_result gate_res;
    const char *saved_base;           /* --save-base target once written */
    uint64_t saved_bytes;
    int64_t saved_k, saved_rows;
    int64_t base_k;                   /* --base: entries per row of the file (0 otherwise) */
    /* --html: what only a run with the models can give */
    rk_verify_routing routing[2];     /* [0] BASE (live only), [1] CANDIDATE, over the whole evaluation */
    rk_verify_layers layers;
    int have_layers;
} verify_report;

static void on_chunk(void *user, const rk_verify_chunk_info *c) {
    (void)user;
    const rk_verify_stats *r = c->running;
    if (c->index == 0)
        fprintf(stderr, "chunk             PPL               ln(PPL(Q)/PPL(base))          KL Divergence              "
                        "Δp RMS            Same top p\n");
    fprintf(stderr, "%4lld    %9.4f ± %9.4f    %10.5f ± %10.5f    %10.5f ± %10.5f    %6.3f ± %6.3f %%    %6.3f ± %6.3f %%"
                    "    (%.2f s)\n",
            (long long)c->index + 1, r->ppl, r->ppl_err, r->ln_ratio, r->ln_ratio_err, r->kld, r->kld_err,
            100 * r->dp_rms, 100 * r->dp_rms_err, 100 * r->same_top, 100 * r->same_top_err, c->seconds);
}

static const char *const g_kld_labels[RK_VERIFY_N_KLD_PCT] = { "Maximum", "99.9%  ", "99.0%  ", "95.0%  ", "90.0%  ", "Median ",
                                                               "10.0%  ", " 5.0%  ", " 1.0%  ", " 0.1%  ", "Minimum" };
static const char *const g_dp_labels[RK_VERIFY_N_DP_PCT] = { "Maximum", "99.9%  ", "99.0%  ", "95.0%  ", "90.0%  ", "75.0%  ",
                                                             "Median ", "25.0%  ", "10.0%  ", " 5.0%  ", " 1.0%  ", " 0.1%  ",
                                                             "Minimum" };

/* the final block, in llama-perplexity's wording */
static void print_text(const rk_verify_result *res) {
    const rk_verify_stats *t = &res->total;
    printf("====== Perplexity statistics ======\n");
    printf("Mean PPL(Q)                   : %10.6f ± %10.6f\n", t->ppl, t->ppl_err);
    printf("Mean PPL(base)                : %10.6f ± %10.6f\n", t->ppl_base, t->ppl_base_err);
    printf("Cor(ln(PPL(Q)), ln(PPL(base))): %6.2f%%\n", 100 * t->cor);
    printf("Mean ln(PPL(Q)/PPL(base))     : %10.6f ± %10.6f\n", t->ln_ratio, t->ln_ratio_err);
    printf("Mean PPL(Q)/PPL(base)         : %10.6f ± %10.6f\n", t->ratio, t->ratio_err);
    printf("Mean PPL(Q)-PPL(base)         : %10.6f ± %10.6f\n", t->diff, t->diff_err);
    printf("\n====== KL divergence statistics ======\n");
    printf("Mean    KLD: %10.6f ± %10.6f\n", t->kld, t->kld_err);
    for (int i = 0; i < RK_VERIFY_N_KLD_PCT; i++) printf("%s KLD: %10.6f\n", g_kld_labels[i], res->kld_pct[i]);
    printf("\n====== Token probability statistics ======\n");
    printf("Mean    Δp: %6.3f ± %5.3f %%\n", 100 * t->dp, 100 * t->dp_err);
    for (int i = 0; i < RK_VERIFY_N_DP_PCT; i++) printf("%s Δp: %6.3f%%\n", g_dp_labels[i], 100 * res->dp_pct[i]);
    printf("RMS Δp    : %6.3f ± %5.3f %%\n", 100 * t->dp_rms, 100 * t->dp_rms_err);
    printf("Same top p: %6.3f ± %5.3f %%\n", 100 * t->same_top, 100 * t->same_top_err);
}

static cJSON *stats_json(const rk_verify_stats *s) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "count", (double)s->count);
    cJSON_AddNumberToObject(j, "ppl", s->ppl);
    cJSON_AddNumberToObject(j, "ppl_err", s->ppl_err);
    cJSON_AddNumberToObject(j, "ppl_base", s->ppl_base);
    cJSON_AddNumberToObject(j, "ppl_base_err", s->ppl_base_err);
    cJSON_AddNumberToObject(j, "cor_ln_ppl", s->cor);          /* NaN/inf print as null */
    cJSON_AddNumberToObject(j, "ln_ppl_ratio", s->ln_ratio);
    cJSON_AddNumberToObject(j, "ln_ppl_ratio_err", s->ln_ratio_err);
    cJSON_AddNumberToObject(j, "ppl_ratio", s->ratio);
    cJSON_AddNumberToObject(j, "ppl_ratio_err", s->ratio_err);
    cJSON_AddNumberToObject(j, "ppl_diff", s->diff);
    cJSON_AddNumberToObject(j, "ppl_diff_err", s->diff_err);
    cJSON_AddNumberToObject(j, "kld", s->kld);
    cJSON_AddNumberToObject(j, "kld_err", s->kld_err);
    cJSON_AddNumberToObject(j, "kld_max", s->kld_max);
    cJSON_AddNumberToObject(j, "dp", s->dp);
    cJSON_AddNumberToObject(j, "dp_err", s->dp_err);
    cJSON_AddNumberToObject(j, "dp_absmax", s->dp_absmax);
    cJSON_AddNumberToObject(j, "dp_rms", s->dp_rms);
    cJSON_AddNumberToObject(j, "dp_rms_err", s->dp_rms_err);
    cJSON_AddNumberToObject(j, "same_top", s->same_top);
    cJSON_AddNumberToObject(j, "same_top_err", s->same_top_err);
    return j;
}

static void print_notes(const char *path, const rk_model *m) {
    const char *n = rk_model_notes(m);
    if (n[0]) fprintf(stderr, "%s: %s%s", path, n, n[strlen(n) - 1] == '\n' ? "" : "\n");
}

static int streq(const char *a, const char *b) { return a == b || (a && b && !strcmp(a, b)); }

/* 0 if the two tokenizers are interchangeable for this text, else RK_EUNSUPPORTED with the first difference */
static int check_tokenizers(const rk_tokenizer *a, const rk_tokenizer *b, const int32_t *ia, size_t na, const int32_t *ib,
                            size_t nb, rk_err *err) {
    static const char pre[] = "BASE and CANDIDATE have different tokenizers";
    const int64_t va = rk_tokenizer_vocab_size(a), vb = rk_tokenizer_vocab_size(b);
    if (va != vb) return rk_err_set(err, RK_EUNSUPPORTED, UINT64_MAX, "%s: vocabularies of %lld vs %lld tokens", pre, (long long)va, (long long)vb);
    for (int64_t i = 0; i < va; i++) {
        const char *sa = rk_tokenizer_token(a, (int32_t)i), *sb = rk_tokenizer_token(b, (int32_t)i);
        if (!streq(sa, sb) || rk_tokenizer_is_special(a, (int32_t)i) != rk_tokenizer_is_special(b, (int32_t)i))
            return rk_err_set(err, RK_EUNSUPPORTED, UINT64_MAX, "%s: token %lld is '%.40s' vs '%.40s'", pre, (long long)i,
                              sa ? sa : "(none)", sb ? sb : "(none)");
    }
    if (rk_tokenizer_leading_bos(a) != rk_tokenizer_leading_bos(b))   /* what each chunk starts with */
        return rk_err_set(err, RK_EUNSUPPORTED, UINT64_MAX, "%s: BOS first %d vs %d", pre, rk_tokenizer_leading_bos(a),
                          rk_tokenizer_leading_bos(b));
    for (size_t i = 0; i < na || i < nb; i++)       /* same vocabulary, different merges or pre-tokenizer */
        if (i >= na || i >= nb || ia[i] != ib[i])
            return rk_err_set(err, RK_EUNSUPPORTED, UINT64_MAX, "%s: the text tokenizes differently from token %zu on "
                              "(%zu vs %zu tokens)", pre, i, na, nb);
    return 0;
}


static void gate_json(cJSON *j, const verify_report *r) {
    if (!r->have_gate) {
        cJSON_AddNullToObject(j, "gate");
        return;
    }
    cJSON *g = cJSON_AddObjectToObject(j, "gate");
    cJSON_AddBoolToObject(g, "pass", r->gate_res.n_failed == 0);
    cJSON *c = cJSON_AddArrayToObject(g, "criteria");
    for (int i = 0; i < RK_VERIFY_GATE_N; i++) {
        const rk_verify_gate_item *it = &r->gate_res.item[i];
        if (!it->set) continue;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "key", it->key);
        cJSON_AddStringToObject(o, "figure", it->figure);
        cJSON_AddNumberToObject(o, "value", it->value);
        cJSON_AddNumberToObject(o, "threshold", it->threshold);
        cJSON_AddBoolToObject(o, "pass", it->pass);
        cJSON_AddItemToArray(c, o);
    }
}

static cJSON *checks_json(const rk_verify_checks *c) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "errors", (double)c->n_error);
    cJSON_AddNumberToObject(o, "warnings", (double)c->n_warn);
    cJSON_AddNumberToObject(o, "scanned_values", (double)c->scanned_values);
    cJSON_AddNumberToObject(o, "seconds", c->seconds);
    cJSON *a = cJSON_AddArrayToObject(o, "findings");
    for (size_t i = 0; i < c->n; i++) {
        cJSON *f = cJSON_CreateObject();
        cJSON_AddStringToObject(f, "level", rk_check_level_name(c->item[i].level));
        cJSON_AddStringToObject(f, "what", c->item[i].what);
        cJSON_AddItemToArray(a, f);
    }
    return o;
}

static void print_json(const verify_report *r) {
    const rk_verify_result *res = &r->res;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "base", r->base_label);
    cJSON_AddStringToObject(j, "base_kind", r->base_kind);
    if (r->cand_label) cJSON_AddStringToObject(j, "candidate", r->cand_label);
    else cJSON_AddNullToObject(j, "candidate");
    cJSON_AddStringToObject(j, "text", r->text);
    cJSON *ch = cJSON_AddObjectToObject(j, "checks");
    if (r->checked[0]) cJSON_AddItemToObject(ch, "base", checks_json(&r->checks[0]));
    if (r->checked[1]) cJSON_AddItemToObject(ch, "candidate", checks_json(&r->checks[1]));
    if (r->saved_base) {
        cJSON *s = cJSON_AddObjectToObject(j, "saved_base");
        cJSON_AddStringToObject(s, "path", r->saved_base);
        cJSON_AddNumberToObject(s, "bytes", (double)r->saved_bytes);
        cJSON_AddNumberToObject(s, "top_k", (double)r->saved_k);
        cJSON_AddNumberToObject(s, "scored_tokens", (double)r->saved_rows);
    }
    if (r->base_k) cJSON_AddNumberToObject(j, "base_top_k", (double)r->base_k);
    if (r->have_result) {
        cJSON_AddNumberToObject(j, "n_tokens", (double)res->n_tokens);
        cJSON_AddNumberToObject(j, "n_ctx", (double)res->n_ctx);
        cJSON_AddNumberToObject(j, "n_chunks", (double)res->n_chunks);
        cJSON_AddNumberToObject(j, "scored_tokens", (double)res->sums.count);
        cJSON_AddItemToObject(j, "total", stats_json(&res->total));
        cJSON *p = cJSON_AddObjectToObject(j, "kld_percentiles");
        char k[16];
        for (int i = 0; i < RK_VERIFY_N_KLD_PCT; i++) {
            snprintf(k, sizeof k, "%g", 100.0 * rk_verify_kld_pct[i]);
            cJSON_AddNumberToObject(p, k, res->kld_pct[i]);
        }
        p = cJSON_AddObjectToObject(j, "dp_percentiles");
        for (int i = 0; i < RK_VERIFY_N_DP_PCT; i++) {
            snprintf(k, sizeof k, "%g", 100.0 * rk_verify_dp_pct[i]);
            cJSON_AddNumberToObject(p, k, res->dp_pct[i]);
        }
        cJSON *a = cJSON_AddArrayToObject(j, "chunks");
        for (int64_t i = 0; i < res->n_chunks; i++) cJSON_AddItemToArray(a, stats_json(&res->chunk[i]));
        cJSON_AddNumberToObject(j, "seconds", res->seconds);
    }
    gate_json(j, r);
    char *s = cJSON_PrintUnformatted(j);
    if (s) puts(s);
    free(s);
    cJSON_Delete(j);
}

/* the gate's lines: FAIL lines, then PASS/FAIL */
static void print_gate(FILE *f, const verify_report *r) {
    if (!r->have_gate) return;
    const rk_verify_gate_result *g = &r->gate_res;
    for (int i = 0; i < RK_VERIFY_GATE_N; i++)
        if (g->item[i].set) fprintf(f, "%s\n", g->item[i].line);
    if (g->n_failed) fprintf(f, "gate: FAIL (%d of %d criteria failed)\n", g->n_failed, g->n_set);
    else fprintf(f, "gate: PASS (%d criteria)\n", g->n_set);
}

static int finish(int rc, const rk_err *err) {
    if (!rc) return 0;
    return err->code == RK_EINVAL ? (fprintf(stderr, "r1kit verify: error: %s\n", err->msg), RK_EXIT_USAGE) : rk_cli_fail("verify", err);
}

/* ---- stages ---------------------------------------------------------------------------------------------- */

/* static checks of one model file; 0 ok, RK_ECORRUPT when a check failed (findings printed), or an I/O code */
static int run_checks(verify_report *r, int which, const char *path, const verify_args *a, rk_model **m, rk_tokenizer **t,
                      rk_err *err) {
    const char *label = which ? "CANDIDATE" : "BASE";
    rk_verify_check_opts o = { a->scan, 0 };
    int rc = rk_verify_checks_run(&r->checks[which], path, &o, m, t, err);
    if (rc) return rc;
    r->checked[which] = 1;
    const rk_verify_checks *c = &r->checks[which];
    for (size_t i = 0; i < c->n; i++)
        fprintf(stderr, "check: %-5s %s: %s\n", rk_check_level_name(c->item[i].level), label, c->item[i].what);
    if (c->n_error)
        return rk_err_set(err, RK_ECORRUPT, UINT64_MAX, "%s (%s) failed %zu static check%s; nothing was evaluated", label, path,
                          c->n_error, c->n_error > 1 ? "s" : "");
    return 0;
}

static int read_tokens(const rk_tokenizer *t, const char *path, int32_t **ids, size_t *n, rk_err *err) {
    char *text = NULL;
    uint64_t len = 0;
    int rc = rk_read_file(path, (uint64_t)1 << 32, &text, &len, err);
    if (!rc) rc = rk_tokenizer_encode(t, text, (size_t)len, 1, ids, n, err);
    free(text);
    return rc;
}

static int64_t n_chunks_of(int64_t n_tokens, int64_t n_ctx, int64_t want) {
    const int64_t n = n_tokens / n_ctx;
    return want >= 0 && want < n ? want : n;
}

static int long_enough(int64_t n_tokens, int64_t n_ctx, rk_err *err) {
    if (n_tokens >= 2 * n_ctx) return 0;                   /* llama-perplexity's rule for a text */
    return rk_err_set(err, RK_EINVAL, UINT64_MAX, "the text tokenizes to %lld tokens; a context of %lld needs at least %lld (2 x ctx)",
                      (long long)n_tokens, (long long)n_ctx, (long long)(2 * n_ctx));
}

static void on_saved_chunk(void *user, int64_t c, int64_t n) {
    (void)user;
    fprintf(stderr, "base chunk %lld/%lld\n", (long long)c + 1, (long long)n);
}

static int note_saved(verify_report *r, const char *path, const rk_verify_basefile_info *info, rk_err *err) {
    rk_verify_basefile *b;
    int rc = rk_verify_basefile_open(&b, path, err);     /* read back: what was written is readable */
    if (rc) return rc;
    r->saved_base = path;
    r->saved_bytes = rk_verify_basefile_size(b);
    r->saved_k = info->k;
    r->saved_rows = info->n_chunks * (info->n_ctx - 1 - info->n_ctx / 2);
    rk_verify_basefile_close(b);
    fprintf(stderr, "%s: base of %lld chunks x %lld tokens, top %lld of %lld, %llu bytes (%.1f bytes per scored token)\n", path,
            (long long)info->n_chunks, (long long)info->n_ctx, (long long)info->k, (long long)info->vocab,
            (unsigned long long)r->saved_bytes, (double)r->saved_bytes / (double)r->saved_rows);
    return 0;
}

/* BASE [CANDIDATE] live, optionally saving the base */
static int run_live(const verify_args *a, verify_report *r, rk_err *err) {
    rk_model *mb = NULL, *mc = NULL;
    rk_tokenizer *tb = NULL, *tc = NULL;
    int32_t *ib = NULL, *ic = NULL;
    size_t nb = 0, nc = 0;
    rk_verify_live *live = NULL;
    rk_verify_basefile_writer *w = NULL;
    int rc;
    r->base_label = a->base, r->base_kind = "model", r->cand_label = a->cand, r->text = a->text;
    if ((rc = run_checks(r, 0, a->base, a, &mb, &tb, err))) goto done;
    if (a->cand && (rc = run_checks(r, 1, a->cand, a, &mc, &tc, err))) goto done;
    if ((rc = read_tokens(tb, a->text, &ib, &nb, err))) goto done;
    if (mc) {
        if ((rc = read_tokens(tc, a->text, &ic, &nc, err)) || (rc = check_tokenizers(tb, tc, ib, nb, ic, nc, err))) goto done;
        if (rk_model_vocab(mb) != rk_model_vocab(mc)) {
            rc = rk_err_set(err, RK_EUNSUPPORTED, UINT64_MAX, "BASE has %lld logits per token, CANDIDATE %lld",
                            (long long)rk_model_vocab(mb), (long long)rk_model_vocab(mc));
            goto done;
        }
        print_notes(a->cand, mc);
    }
    print_notes(a->base, mb);
    for (size_t i = 0; i < nb; i++)
        if (ib[i] < 0 || ib[i] >= rk_model_vocab(mb)) {
            rc = rk_err_set(err, RK_ECORRUPT, UINT64_MAX, "%s: token id %d is outside the model's vocabulary of %lld", a->base,
                            ib[i], (long long)rk_model_vocab(mb));
            goto done;
        }
    if ((rc = long_enough((int64_t)nb, a->n_ctx, err))) goto done;
    fprintf(stderr, "%s: %zu tokens, ctx %lld, %s kernels, %d threads\n", a->text, nb, (long long)a->n_ctx, rk_kernels_isa(),
            omp_get_max_threads());
    rk_verify_opts vo = { a->n_ctx, a->n_chunks, a->n_batch, rk_tokenizer_leading_bos(tb) };
    if ((rc = rk_verify_live_open(&live, mb, &vo, err))) goto done;
    rk_verify_basefile_info info = { a->n_ctx, n_chunks_of((int64_t)nb, a->n_ctx, a->n_chunks), rk_model_vocab(mb), a->top_k,
                                     vo.bos, rk_verify_tokenizer_fingerprint(tb), rk_tokenizer_vocab_size(tb) };
    if (a->save_base && (rc = rk_verify_basefile_create(&w, a->save_base, &info, ib, err))) goto done;
    if (a->save_base) info = *rk_verify_basefile_writer_info(w);
    if (!mc) {                                          /* base only */
        rc = rk_verify_basefile_save(w, live, ib, on_saved_chunk, NULL, err);
        w = NULL;
        if (!rc) rc = note_saved(r, a->save_base, &info, err);
        goto done;
    }
    rk_verify_basefile_tee tee = { rk_verify_live_rows, live, w };
    if ((rc = rk_verify_run(mc, ib, (int64_t)nb, &vo, w ? rk_verify_basefile_tee_rows : rk_verify_live_rows, w ? (void *)&tee : live,
                            on_chunk, NULL, &r->res, err)))
        goto done;
    r->have_result = 1;
    if (a->html) {   /* routing of the whole evaluation first: the layer run resets the counters */
        if ((rc = rk_verify_routing_collect(mb, &r->routing[0], err)) || (rc = rk_verify_routing_collect(mc, &r->routing[1], err)))
            goto done;
        if (rk_model_layers(mb) != rk_model_layers(mc) || rk_model_hidden(mb) != rk_model_hidden(mc)) {
            /* e.g. a distilled student: no layer of one corresponds to a layer of the other */
            fprintf(stderr, "per-layer error not measured: BASE has %lld layers of width %lld, CANDIDATE %lld of width %lld\n",
                    (long long)rk_model_layers(mb), (long long)rk_model_hidden(mb), (long long)rk_model_layers(mc),
                    (long long)rk_model_hidden(mc));
        } else {
            fprintf(stderr, "per-layer error over %lld chunk(s) for the report\n", (long long)a->layer_chunks);
            rk_verify_layers_opts lo = { a->n_ctx, a->layer_chunks, a->n_batch, vo.bos, 32 };
            if ((rc = rk_verify_layers_run(mb, mc, ib, (int64_t)nb, &lo, &r->layers, err))) goto done;
            r->have_layers = 1;
        }
    }
    if (w) {
        rc = rk_verify_basefile_finish(w, err);
        w = NULL;
        if (!rc) rc = note_saved(r, a->save_base, &info, err);
    }
done:
    rk_verify_basefile_abort(w);
    rk_verify_live_close(live);
    free(ib);
    free(ic);
    rk_tokenizer_free(tb);
    rk_tokenizer_free(tc);
    rk_model_free(mb);
    rk_model_free(mc);
    return rc;
}

/* the text (when given) must tokenize to the stored tokens */
static int same_tokens(const rk_tokenizer *t, const char *text, const char *file, const int32_t *ft, int64_t ntok, rk_err *err) {
    int32_t *ic = NULL;
    size_t nc = 0;
    int rc = read_tokens(t, text, &ic, &nc, err);
    for (int64_t i = 0; !rc && i < ntok; i++)
        if (i >= (int64_t)nc || ic[i] != ft[i])
            rc = rk_err_set(err, RK_EUNSUPPORTED, UINT64_MAX, "%s tokenizes differently from %s's tokens from token %lld on", text,
                            file, (long long)i);
    free(ic);
    return rc;
}

/* CANDIDATE against a stored base: r1kit's (--base) or llama-perplexity's (--llama-base) */
static int run_file_base(const verify_args *a, verify_report *r, rk_err *err) {
    const int ours = a->base_file != NULL;
    const char *path = ours ? a->base_file : a->llama_base;
    rk_verify_basefile *bf = NULL;
    rk_verify_llama_base *lb = NULL;
    rk_model *mc = NULL;
    rk_tokenizer *tc = NULL;
    int rc;
    r->base_label = path, r->base_kind = ours ? "r1kit base file" : "llama-perplexity base file";
    r->cand_label = a->cand, r->text = a->text ? a->text : "";
    if ((rc = ours ? rk_verify_basefile_open(&bf, path, err) : rk_verify_llama_base_open(&lb, path, err))) goto done;
    const rk_verify_basefile_info *bi = ours ? rk_verify_basefile_get_info(bf) : NULL;
    const int64_t fctx = ours ? bi->n_ctx : rk_verify_llama_base_ctx(lb);
    const int64_t ntok = fctx * (ours ? bi->n_chunks : rk_verify_llama_base_chunks(lb));
    const int64_t fvocab = ours ? bi->vocab : rk_verify_llama_base_vocab(lb);
    const int32_t *ft = ours ? rk_verify_basefile_tokens(bf) : rk_verify_llama_base_tokens(lb);
    if (a->ctx_given && a->n_ctx != fctx) {
        rc = rk_err_set(err, RK_EINVAL, UINT64_MAX, "--ctx %lld, but %s was computed with ctx %lld", (long long)a->n_ctx, path,
                        (long long)fctx);
        goto done;
    }
    if ((rc = run_checks(r, 1, a->cand, a, &mc, &tc, err))) goto done;
    print_notes(a->cand, mc);
    if (ours && bi->tok_fingerprint != rk_verify_tokenizer_fingerprint(tc)) {
        rc = rk_err_set(err, RK_EUNSUPPORTED, UINT64_MAX, "%s was saved from a model with another tokenizer than CANDIDATE's "
                        "(%lld vs %lld tokens, fingerprint %016llx vs %016llx)", path, (long long)bi->tok_vocab,
                        (long long)rk_tokenizer_vocab_size(tc), (unsigned long long)bi->tok_fingerprint,
                        (unsigned long long)rk_verify_tokenizer_fingerprint(tc));
        goto done;
    }
    if (fvocab != rk_model_vocab(mc)) {
        rc = rk_err_set(err, RK_EUNSUPPORTED, UINT64_MAX, "%s has %lld log-probs per token, CANDIDATE %lld logits", path,
                        (long long)fvocab, (long long)rk_model_vocab(mc));
        goto done;
    }
    if (a->text && (rc = same_tokens(tc, a->text, path, ft, ntok, err))) goto done;
    fprintf(stderr, "%s: %lld tokens, ctx %lld%s%lld, %s kernels, %d threads\n", path, (long long)ntok, (long long)fctx,
            ours ? ", top k " : "", ours ? (long long)bi->k : 0LL, rk_kernels_isa(), omp_get_max_threads());
    if (ours) r->base_k = bi->k;
    rk_verify_opts vo = { fctx, a->n_chunks, a->n_batch, ours ? bi->bos : rk_tokenizer_leading_bos(tc) };
    if ((rc = rk_verify_run(mc, ft, ntok, &vo, ours ? rk_verify_basefile_rows : rk_verify_llama_base_rows,
                            ours ? (void *)bf : (void *)lb, on_chunk, NULL, &r->res, err)))
        goto done;
    r->res.n_tokens = ntok;
    r->have_result = 1;
    if (a->html && (rc = rk_verify_routing_collect(mc, &r->routing[1], err))) goto done;
done:
    rk_tokenizer_free(tc);
    rk_model_free(mc);
    rk_verify_basefile_close(bf);
    rk_verify_llama_base_close(lb);
    return rc;
}

/* ---- options --------------------------------------------------------------------------------------------- */

static int parse_double(const char *s, double lo, int lo_open, double hi, double *out) {
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    const double v = strtod(s, &end);
    if (errno || *end || !isfinite(v) || v < lo || (lo_open && v == lo) || v > hi) return -1;
    *out = v;
    return 0;
}

/* 0 ok, else the exit code (message printed) */
static int parse_args(int argc, char **argv, verify_args *a) {
    enum { O_TEXT = 256, O_CTX, O_CHUNKS, O_BATCH, O_THREADS, O_JSON, O_LLAMA_BASE, O_BASE, O_SAVE_BASE, O_TOP_K,
           O_MAX_PPL_RATIO, O_MAX_KLD, O_MIN_TOP1, O_GATE, O_NO_SCAN, O_HTML, O_HTML_LAYERS };
    static const struct option opts[] = {
        { "text", required_argument, 0, O_TEXT }, { "ctx", required_argument, 0, O_CTX },
        { "chunks", required_argument, 0, O_CHUNKS }, { "batch", required_argument, 0, O_BATCH },
        { "threads", required_argument, 0, O_THREADS }, { "json", no_argument, 0, O_JSON },
        { "llama-base", required_argument, 0, O_LLAMA_BASE }, { "base", required_argument, 0, O_BASE },
        { "save-base", required_argument, 0, O_SAVE_BASE }, { "top-k", required_argument, 0, O_TOP_K },
        { "max-ppl-ratio", required_argument, 0, O_MAX_PPL_RATIO }, { "max-kld", required_argument, 0, O_MAX_KLD },
        { "min-top1", required_argument, 0, O_MIN_TOP1 }, { "gate", required_argument, 0, O_GATE },
        { "no-scan", no_argument, 0, O_NO_SCAN }, { "html", required_argument, 0, O_HTML },
        { "html-layer-chunks", required_argument, 0, O_HTML_LAYERS }, { 0, 0, 0, 0 },
    };
    memset(a, 0, sizeof *a);
    a->n_ctx = 512, a->n_chunks = -1, a->top_k = -1, a->scan = 1, a->layer_chunks = 2;
    rk_verify_gate cli;
    rk_verify_gate_init(&cli);
    rk_verify_gate_init(&a->gate);
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case O_TEXT: a->text = optarg; break;
        case O_CTX:
            if (rk_cli_parse_i64(optarg, 4, 1 << 20, &a->n_ctx)) return rk_cli_usage_error("verify", "--ctx: '%s' is not a whole number in [4, 1048576]", optarg);
            a->ctx_given = 1;
            break;
        case O_CHUNKS:
            if (rk_cli_parse_i64(optarg, 1, INT64_MAX, &a->n_chunks)) return rk_cli_usage_error("verify", "--chunks: '%s' is not a positive whole number", optarg);
            break;
        case O_BATCH:
            if (rk_cli_parse_i64(optarg, 1, 1 << 20, &a->n_batch)) return rk_cli_usage_error("verify", "--batch: '%s' is not a whole number in [1, 1048576]", optarg);
            break;
        case O_THREADS:
            if (rk_cli_parse_i64(optarg, 1, 4096, &a->threads)) return rk_cli_usage_error("verify", "--threads: '%s' is not a whole number in [1, 4096]", optarg);
            break;
        case O_JSON: a->json = 1; break;
        case O_LLAMA_BASE: a->llama_base = optarg; break;
        case O_BASE: a->base_file = optarg; break;
        case O_SAVE_BASE: a->save_base = optarg; break;
        case O_TOP_K:
            if (rk_cli_parse_i64(optarg, 1, 1 << 24, &a->top_k)) return rk_cli_usage_error("verify", "--top-k: '%s' is not a whole number in [1, 16777216]", optarg);
            break;
        case O_MAX_PPL_RATIO:
            if (parse_double(optarg, 0, 1, INFINITY, &cli.max_ppl_ratio)) return rk_cli_usage_error("verify", "--max-ppl-ratio: '%s' is not a number > 0", optarg);
            break;
        case O_MAX_KLD:
            if (parse_double(optarg, 0, 0, INFINITY, &cli.max_kld)) return rk_cli_usage_error("verify", "--max-kld: '%s' is not a number >= 0", optarg);
            break;
        case O_MIN_TOP1:
            if (parse_double(optarg, 0, 0, 100, &cli.min_top1)) return rk_cli_usage_error("verify", "--min-top1: '%s' is not a percentage in [0, 100]", optarg);
            break;
        case O_GATE: a->gate_file = optarg; break;
        case O_NO_SCAN: a->scan = 0; break;
        case O_HTML: a->html = optarg; break;
        case O_HTML_LAYERS:
            if (rk_cli_parse_i64(optarg, 1, 1 << 20, &a->layer_chunks)) return rk_cli_usage_error("verify", "--html-layer-chunks: '%s' is not a positive whole number", optarg);
            break;
        default: return rk_cli_usage_error("verify", "bad option");
        }
    }
    const int npos = argc - optind, from_file = a->base_file || a->llama_base;
    if (a->base_file && a->llama_base) return rk_cli_usage_error("verify", "--base and --llama-base exclude each other");
    if (a->save_base && from_file) return rk_cli_usage_error("verify", "--save-base needs a live BASE model, not --base/--llama-base");
    if (a->top_k >= 0 && !a->save_base) return rk_cli_usage_error("verify", "--top-k applies to --save-base only");
    if (a->top_k < 0) a->top_k = 32;
    if (from_file) {
        if (npos != 1) return rk_cli_usage_error("verify", "with --%s, expected one CANDIDATE", a->base_file ? "base" : "llama-base");
        a->cand = argv[optind];
    } else if (a->save_base && npos == 1) {
        a->base = argv[optind];
    } else {
        if (npos != 2) return rk_cli_usage_error("verify", "expected BASE and CANDIDATE");
        a->base = argv[optind], a->cand = argv[optind + 1];
    }
    if (!from_file && !a->text) return rk_cli_usage_error("verify", "--text FILE is required");
    const int cli_gate = !isnan(cli.max_ppl_ratio) || !isnan(cli.max_kld) || !isnan(cli.min_top1);
    if (!a->cand && (cli_gate || a->gate_file)) return rk_cli_usage_error("verify", "a gate needs a CANDIDATE");
    if (a->gate_file) {
        rk_err err;
        rk_err_clear(&err);
        char *txt = NULL;
        uint64_t len = 0;
        int rc = rk_read_file(a->gate_file, 1 << 20, &txt, &len, &err);
        if (!rc) rc = rk_verify_gate_parse(&a->gate, txt, (size_t)len, a->gate_file, &err);
        free(txt);
        if (rc) return finish(rc, &err);
    }
    if (!isnan(cli.max_ppl_ratio)) a->gate.max_ppl_ratio = cli.max_ppl_ratio;
    if (!isnan(cli.max_kld)) a->gate.max_kld = cli.max_kld;
    if (!isnan(cli.min_top1)) a->gate.min_top1 = cli.min_top1;
    if (a->gate.min_top1 > 0 && a->gate.min_top1 <= 1)
        fprintf(stderr, "r1kit verify: note: min_top1 is a percentage; %g means %g%% (for %g%% write %g)\n", a->gate.min_top1,
                a->gate.min_top1, 100 * a->gate.min_top1, 100 * a->gate.min_top1);
    if (a->threads) omp_set_num_threads((int)a->threads);
    return 0;
}

/* --html: the report from everything the run gathered (verify/report.h) */
static int write_html(const verify_args *a, verify_report *r, int argc, char **argv, rk_err *err) {
    rk_verify_report p;
    memset(&p, 0, sizeof p);
    p.base_path = r->base_label, p.cand_path = r->cand_label, p.text_path = r->text && *r->text ? r->text : NULL;
    p.result = &r->res;
    size_t cl = 1;
    for (int i = 0; i < argc; i++) cl += strlen(argv[i]) + 1;
    char *cmd = malloc(cl + 8);
    if (cmd) {
        strcpy(cmd, "r1kit");
        for (int i = 0; i < argc; i++) strcat(strcat(cmd, " "), argv[i]);
        p.command = cmd;
    }
    rk_verify_report_criterion crit[RK_VERIFY_GATE_N];
    rk_verify_report_gate g;
    if (r->have_gate) {
        rk_verify_report_gate_from(&r->gate_res, crit, &g);
        p.gate = &g;
    }
    size_t nf = r->checks[0].n + r->checks[1].n, k = 0;
    rk_verify_report_finding *f = calloc(nf ? nf : 1, sizeof *f);
    for (int w = 0; f && w < 2; w++)
        for (size_t i = 0; i < r->checks[w].n; i++)
            f[k++] = (rk_verify_report_finding){ r->checks[w].item[i].level, w ? "CANDIDATE" : "BASE", r->checks[w].item[i].what };
    p.findings = f, p.n_findings = f ? k : 0;
    p.layers = r->have_layers ? &r->layers : NULL;
    p.routing_base = r->routing[0].n ? &r->routing[0] : NULL;
    p.routing_cand = r->routing[1].n ? &r->routing[1] : NULL;
    rk_verify_report_alloc al;
    rk_err e2;
    int have_alloc = rk_verify_report_load_alloc(r->cand_label, &al, &e2) == 0;
    if (have_alloc) p.alloc = &al;
    int rc = rk_verify_report_html(a->html, &p, err);
    if (!rc) fprintf(stderr, "wrote %s\n", a->html);
    if (have_alloc) rk_verify_report_alloc_free(&al);
    free(f);
    free(cmd);
    return rc;
}

int rk_cmd_verify(int argc, char **argv) {
    verify_args a;
    int ex = parse_args(argc, argv, &a);
    if (ex) return ex;
    verify_report r;
    memset(&r, 0, sizeof r);
    r.gate = a.gate;
    rk_err err;
    rk_err_clear(&err);
    int rc = a.base ? run_live(&a, &r, &err) : run_file_base(&a, &r, &err);
    const int checks_failed = r.checks[0].n_error || r.checks[1].n_error;
    if (r.have_result) {
        rk_verify_gate_eval(&r.gate, &r.res.total, &r.gate_res);
        r.have_gate = r.gate_res.n_set > 0;
    }
    if (a.json && (!rc || checks_failed)) print_json(&r);
    else if (!rc && r.have_result) print_text(&r.res);
    if (!rc && r.have_result)
        fprintf(stderr, "%lld tokens scored in %lld chunks, %.2f s\n", (long long)r.res.sums.count, (long long)r.res.n_chunks,
                r.res.seconds);
    print_gate(a.json ? stderr : stdout, &r);
    if (!rc && a.html && r.have_result) rc = write_html(&a, &r, argc, argv, &err);
    ex = rc ? finish(rc, &err) : r.have_gate && r.gate_res.n_failed ? RK_EXIT_CHECK : RK_EXIT_OK;
    rk_verify_result_free(&r.res);
    rk_verify_routing_free(&r.routing[0]);
    rk_verify_routing_free(&r.routing[1]);
    rk_verify_layers_free(&r.layers);
    rk_verify_checks_free(&r.checks[0]);
    rk_verify_checks_free(&r.checks[1]);
    return ex;
}
