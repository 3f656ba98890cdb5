/* cli/verify.c — `r1kit verify BASE CANDIDATE --text FILE`: llama-perplexity --kl-divergence's figures (PPL ratio,
 * KLD and its percentiles, Δp, same top token) for a candidate model against a base model, both run live by
 * r1kit's engine (verify/compare.h). The two must share a tokenizer; that is checked first. */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <getopt.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "model/kernels.h"
#include "model/model.h"
#include "model/tokenizer.h"
#include "verify/compare.h"

const char rk_usage_verify[] =
    "usage: r1kit verify BASE CANDIDATE --text FILE [--ctx N] [--chunks K] [--batch N] [--threads N] [--json]\n"
    "       r1kit verify --llama-base FILE CANDIDATE [--text FILE] [--chunks K] [--batch N] [--threads N] [--json]\n"
    "\n"
    "How far CANDIDATE (e.g. a quantized GGUF) is from BASE on a text, with the figures of llama.cpp's\n"
    "`llama-perplexity --kl-divergence`: PPL of both, Mean ln(PPL(Q)/PPL(base)), KL divergence (mean and\n"
    "percentiles), Δp = p_candidate - p_base of the true token, RMS Δp and \"same top p\" (top-1 agreement).\n"
    "Chunking as `r1kit perplexity`: --ctx-token chunks from an empty cache, BOS first, second half scored.\n"
    "BASE and CANDIDATE are anything r1kit loads (HF folder, GGUF incl. quantized) and must have the same\n"
    "tokenizer (vocabulary, token strings, special tokens, BOS rule, the same tokens for the text), else exit 3.\n"
    "One line per chunk on stderr (running figures, llama.cpp's columns), the final block on stdout.\n"
    "\n"
    "  --text FILE   UTF-8 text (required)\n"
    "  --ctx N       tokens per chunk (default 512; the text needs at least 2*N tokens)\n"
    "  --chunks K    evaluate at most K chunks (default: all)\n"
    "  --batch N     tokens per forward pass (default: ctx)\n"
    "  --threads N   OpenMP threads (default: all cores)\n"
    "  --json        print the result (totals, percentiles, per-chunk figures) as one JSON document on stdout\n"
    "  --llama-base FILE  take the base from the file `llama-perplexity -f TEXT --kl-divergence-base FILE` wrote\n"
    "                (its tokens and ctx; the base log-probs as llama.cpp stores and reads them). With --text, the\n"
    "                text must tokenize to the file's tokens.\n";

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

static void print_json(const rk_verify_result *res, const char *base, const char *cand, const char *text) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "base", base);
    cJSON_AddStringToObject(j, "candidate", cand);
    cJSON_AddStringToObject(j, "text", text);
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
    char *s = cJSON_PrintUnformatted(j);
    if (s) puts(s);
    free(s);
    cJSON_Delete(j);
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

static int finish(int rc, const rk_err *err) {
    if (!rc) return 0;
    return err->code == RK_EINVAL ? (fprintf(stderr, "r1kit verify: error: %s\n", err->msg), RK_EXIT_USAGE) : rk_cli_fail("verify", err);
}

/* CANDIDATE against a llama-perplexity base file */
static int verify_llama_base(const char *base_path, const char *cand_path, const char *text_path, int64_t n_ctx,
                             int64_t n_chunks, int64_t n_batch, int json) {
    rk_err err;
    rk_err_clear(&err);
    rk_verify_llama_base *lb = NULL;
    rk_model *mc = NULL;
    rk_tokenizer *tc = NULL;
    char *text = NULL;
    int32_t *ic = NULL;
    size_t nc = 0;
    uint64_t text_len = 0;
    rk_verify_result res;
    memset(&res, 0, sizeof res);
    int rc = 0;
    if ((rc = rk_verify_llama_base_open(&lb, base_path, &err))) goto fail;
    const int64_t fctx = rk_verify_llama_base_ctx(lb), ntok = fctx * rk_verify_llama_base_chunks(lb);
    if (n_ctx >= 0 && n_ctx != fctx) {
        rc = rk_err_set(&err, RK_EINVAL, UINT64_MAX, "--ctx %lld, but %s was computed with ctx %lld", (long long)n_ctx,
                        base_path, (long long)fctx);
        goto fail;
    }
    if ((rc = rk_model_load(&mc, cand_path, &err))) goto fail;
    if ((rc = rk_tokenizer_load(&tc, cand_path, &err))) goto fail;
    print_notes(cand_path, mc);
    if (rk_verify_llama_base_vocab(lb) != rk_model_vocab(mc)) {
        rc = rk_err_set(&err, RK_EUNSUPPORTED, UINT64_MAX, "%s has %lld log-probs per token, CANDIDATE %lld logits", base_path,
                        (long long)rk_verify_llama_base_vocab(lb), (long long)rk_model_vocab(mc));
        goto fail;
    }
    if (text_path) {
        if ((rc = rk_read_file(text_path, (uint64_t)1 << 32, &text, &text_len, &err))) goto fail;
        if ((rc = rk_tokenizer_encode(tc, text, (size_t)text_len, 1, &ic, &nc, &err))) goto fail;
        const int32_t *ft = rk_verify_llama_base_tokens(lb);
        for (int64_t i = 0; i < ntok; i++)
            if (i >= (int64_t)nc || ic[i] != ft[i]) {
                rc = rk_err_set(&err, RK_EUNSUPPORTED, UINT64_MAX, "%s tokenizes differently from %s's tokens from token %lld on",
                                text_path, base_path, (long long)i);
                goto fail;
            }
    }
    fprintf(stderr, "%s: %lld tokens, ctx %lld, %s kernels, %d threads\n", base_path, (long long)ntok, (long long)fctx,
            rk_kernels_isa(), omp_get_max_threads());
    rk_verify_opts vo = { fctx, n_chunks, n_batch, rk_tokenizer_leading_bos(tc) };
    if ((rc = rk_verify_run(mc, rk_verify_llama_base_tokens(lb), ntok, &vo, rk_verify_llama_base_rows, lb, on_chunk, NULL,
                            &res, &err)))
        goto fail;
    res.n_tokens = ntok;
    if (json) print_json(&res, base_path, cand_path, text_path ? text_path : "");
    else print_text(&res);
    fprintf(stderr, "%lld tokens scored in %lld chunks, %.2f s\n", (long long)res.sums.count, (long long)res.n_chunks, res.seconds);
fail:
    rk_verify_result_free(&res);
    free(ic);
    free(text);
    rk_tokenizer_free(tc);
    rk_model_free(mc);
    rk_verify_llama_base_close(lb);
    return finish(rc, &err);
}

int rk_cmd_verify(int argc, char **argv) {
    enum { O_TEXT = 256, O_CTX, O_CHUNKS, O_BATCH, O_THREADS, O_JSON, O_LLAMA_BASE };
    static const struct option opts[] = {
        { "text", required_argument, 0, O_TEXT }, { "ctx", required_argument, 0, O_CTX },
        { "chunks", required_argument, 0, O_CHUNKS }, { "batch", required_argument, 0, O_BATCH },
        { "threads", required_argument, 0, O_THREADS }, { "json", no_argument, 0, O_JSON },
        { "llama-base", required_argument, 0, O_LLAMA_BASE }, { 0, 0, 0, 0 },
    };
    const char *text_path = NULL, *llama_base = NULL;
    int ctx_given = 0;
    int64_t n_ctx = 512, n_chunks = -1, n_batch = 0, threads = 0;
    int json = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case O_TEXT: text_path = optarg; break;
        case O_CTX:
            if (rk_cli_parse_i64(optarg, 4, 1 << 20, &n_ctx)) return rk_cli_usage_error("verify", "--ctx: '%s' is not a whole number in [4, 1048576]", optarg);
            ctx_given = 1;
            break;
        case O_CHUNKS:
            if (rk_cli_parse_i64(optarg, 1, INT64_MAX, &n_chunks)) return rk_cli_usage_error("verify", "--chunks: '%s' is not a positive whole number", optarg);
            break;
        case O_BATCH:
            if (rk_cli_parse_i64(optarg, 1, 1 << 20, &n_batch)) return rk_cli_usage_error("verify", "--batch: '%s' is not a whole number in [1, 1048576]", optarg);
            break;
        case O_THREADS:
            if (rk_cli_parse_i64(optarg, 1, 4096, &threads)) return rk_cli_usage_error("verify", "--threads: '%s' is not a whole number in [1, 4096]", optarg);
            break;
        case O_JSON: json = 1; break;
        case O_LLAMA_BASE: llama_base = optarg; break;
        default: return rk_cli_usage_error("verify", "bad option");
        }
    }
    if (threads) omp_set_num_threads((int)threads);
    if (llama_base) {
        if (optind != argc - 1) return rk_cli_usage_error("verify", "with --llama-base, expected one CANDIDATE");
        return verify_llama_base(llama_base, argv[optind], text_path, ctx_given ? n_ctx : -1, n_chunks, n_batch, json);
    }
    if (optind != argc - 2) return rk_cli_usage_error("verify", "expected BASE and CANDIDATE");
    if (!text_path) return rk_cli_usage_error("verify", "--text FILE is required");
    const char *base_path = argv[optind], *cand_path = argv[optind + 1];

    rk_err err;
    rk_err_clear(&err);
    rk_model *mb = NULL, *mc = NULL;
    rk_tokenizer *tb = NULL, *tc = NULL;
    char *text = NULL;
    int32_t *ib = NULL, *ic = NULL;
    size_t nb = 0, nc = 0;
    uint64_t text_len = 0;
    rk_verify_result res;
    memset(&res, 0, sizeof res);
    int rc = 0;
    if ((rc = rk_read_file(text_path, (uint64_t)1 << 32, &text, &text_len, &err))) goto fail;
    if ((rc = rk_model_load(&mb, base_path, &err))) goto fail;
    if ((rc = rk_model_load(&mc, cand_path, &err))) goto fail;
    if ((rc = rk_tokenizer_load(&tb, base_path, &err))) goto fail;
    if ((rc = rk_tokenizer_load(&tc, cand_path, &err))) goto fail;
    if ((rc = rk_tokenizer_encode(tb, text, (size_t)text_len, 1, &ib, &nb, &err))) goto fail;
    if ((rc = rk_tokenizer_encode(tc, text, (size_t)text_len, 1, &ic, &nc, &err))) goto fail;
    if ((rc = check_tokenizers(tb, tc, ib, nb, ic, nc, &err))) goto fail;
    print_notes(base_path, mb);
    print_notes(cand_path, mc);
    if (rk_model_vocab(mb) != rk_model_vocab(mc)) {
        rc = rk_err_set(&err, RK_EUNSUPPORTED, UINT64_MAX, "BASE has %lld logits per token, CANDIDATE %lld",
                        (long long)rk_model_vocab(mb), (long long)rk_model_vocab(mc));
        goto fail;
    }
    for (size_t i = 0; i < nb; i++)
        if (ib[i] < 0 || ib[i] >= rk_model_vocab(mb)) {
            rc = rk_err_set(&err, RK_ECORRUPT, UINT64_MAX, "%s: token id %d is outside the model's vocabulary of %lld",
                            base_path, ib[i], (long long)rk_model_vocab(mb));
            goto fail;
        }
    fprintf(stderr, "%s: %zu tokens, ctx %lld, %s kernels, %d threads\n", text_path, nb, (long long)n_ctx, rk_kernels_isa(),
            omp_get_max_threads());
    rk_verify_opts vo = { n_ctx, n_chunks, n_batch, rk_tokenizer_leading_bos(tb) };
    if ((rc = rk_verify_compare(mb, mc, ib, (int64_t)nb, &vo, on_chunk, NULL, &res, &err))) goto fail;
    if (json) print_json(&res, base_path, cand_path, text_path);
    else print_text(&res);
    fprintf(stderr, "%lld tokens scored in %lld chunks, %.2f s\n", (long long)res.sums.count, (long long)res.n_chunks,
            res.seconds);
fail:
    rk_verify_result_free(&res);
    free(ib);
    free(ic);
    free(text);
    rk_tokenizer_free(tb);
    rk_tokenizer_free(tc);
    rk_model_free(mb);
    rk_model_free(mc);
    return finish(rc, &err);
}
