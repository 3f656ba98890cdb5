/* tests/cli/test_cli_verify.c — `r1kit verify BASE CANDIDATE --text FILE`, on a tiny deepseek_v3 sample (FP8):
 *   - its f32 GGUF against itself: KLD 0, ratio 1, 100% same top; the FP8 folder against its f32 GGUF: ~0;
 *   - against q4 and q2-moe quantizations: KLD > 0 and q2-moe's KLD above q4's; PPL(Q) is `r1kit perplexity`'s;
 *   - --json is one parseable document whose figures are consistent with each other and with the text output;
 *   - different tokenizers are refused in one line (a qwen2 sample; the same vocabulary with one merge removed);
 *   - missing files and bad options give the documented exit codes;
 *   - --llama-base reads a (hand-written) llama-perplexity base file: a uniform base gives PPL(base) = vocabulary;
 *   - the gate: pass, each criterion failing alone (exit 1, its FAIL line), --gate FILE (valid, overridden,
 *     malformed → 2, missing → 3), the gate inside --json;
 *   - --save-base then --base: identical figures for k >= vocabulary, exact PPL/Δp/top-1 and a lower KLD for a
 *     small k; corrupt base files (flipped byte, truncated, wrong magic) and another tokenizer → 3 naming the file;
 *   - static checks: a truncated candidate and one with a NaN weight are refused before evaluation (exit 3),
 *     --no-scan skips the scan, findings in --json;
 *   - golden: the committed teacher (FP8) against its bf16 GGUF on a fixed text, pinned to r1kit's own output
 *     (tolerances catch a formula change, e.g. n vs n-1 in an error, not engine rounding). If the teacher, the
 *     bf16 conversion or the engine changes on purpose, re-pin from the command in the failure message. */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include "formats/gguf.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/common/rk_test.h"

static char g_out[1 << 18], g_err[1 << 16];
static char *g_dir;

#define RUN(...) rk_test_r1kit(g_out, sizeof g_out, g_err, sizeof g_err, "OMP_NUM_THREADS=1", __VA_ARGS__)


static void setup(void) {
    g_dir = rk_test_tmpdir("cli_verify");
    ck_assert_int_eq(RUN("sample '%s/ds' --arch deepseek_v3", g_dir), 0);
    ck_assert_int_eq(RUN("sample '%s/qw' --arch qwen2", g_dir), 0);
    ck_assert_int_eq(RUN("convert '%s/ds' '%s/ds-f32.gguf' --outtype f32 --quiet", g_dir, g_dir), 0);
    ck_assert_int_eq(RUN("quantize '%s/ds' '%s/ds-q4.gguf' --recipe q4", g_dir, g_dir), 0);
    ck_assert_int_eq(RUN("quantize '%s/ds' '%s/ds-q2.gguf' --recipe q2-moe", g_dir, g_dir), 0);
    char p[4096];
    snprintf(p, sizeof p, "%s/text.txt", g_dir);
    rk_test_write_words(p, 12000, 12345u);
}

static void teardown(void) {
    rk_test_rmtree(g_dir);
    free(g_dir);
}

/* `verify BASE CAND --json` on the sample text; returns the parsed document (caller deletes) */
static cJSON *verify_json(const char *base, const char *cand, int ctx, int chunks) {
    int rc = RUN("verify '%s/%s' '%s/%s' --text '%s/text.txt' --ctx %d --chunks %d --json", g_dir, base, g_dir, cand, g_dir,
                 ctx, chunks);
    ck_assert_msg(rc == 0, "verify %s %s: exit %d: %s", base, cand, rc, g_err);
    cJSON *j = cJSON_Parse(g_out);
    ck_assert_msg(j != NULL, "not JSON: %.200s", g_out);
    return j;
}

static double num(const cJSON *j, const char *path) {   /* "total.kld", "kld_percentiles.99.9" (one dot level) */
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    char *dot = strchr(buf, '.');
    const cJSON *o = j;
    if (dot) *dot = 0, o = cJSON_GetObjectItemCaseSensitive(j, buf);
    ck_assert_msg(o != NULL, "no %s", path);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, dot ? dot + 1 : buf);
    ck_assert_msg(cJSON_IsNumber(v), "%s is not a number", path);
    return v->valuedouble;
}

START_TEST(self_zero) {
    cJSON *j = verify_json("ds-f32.gguf", "ds-f32.gguf", 64, 2);
    ck_assert(num(j, "total.kld") == 0 && num(j, "total.dp") == 0 && num(j, "total.dp_rms") == 0);
    ck_assert(num(j, "total.ppl_ratio") == 1 && num(j, "total.same_top") == 1 && num(j, "total.ln_ppl_ratio") == 0);
    ck_assert(num(j, "kld_percentiles.100") == 0 && num(j, "dp_percentiles.0") == 0);
    ck_assert(num(j, "total.ppl") == num(j, "total.ppl_base"));
    cJSON_Delete(j);
    /* text output in llama.cpp's wording */
    ck_assert_int_eq(RUN("verify '%s/ds-f32.gguf' '%s/ds-f32.gguf' --text '%s/text.txt' --ctx 64 --chunks 2", g_dir, g_dir, g_dir), 0);
    ck_assert_ptr_nonnull(strstr(g_out, "Mean    KLD:   0.000000 ±   0.000000"));
    ck_assert_ptr_nonnull(strstr(g_out, "Same top p: 100.000 ± 0.000 %"));
    ck_assert_ptr_nonnull(strstr(g_out, "Mean PPL(Q)/PPL(base)         :   1.000000"));
    ck_assert_ptr_nonnull(strstr(g_out, "====== KL divergence statistics ======"));
    ck_assert_ptr_nonnull(strstr(g_err, "ln(PPL(Q)/PPL(base))"));     /* per-chunk table header */
    ck_assert_ptr_nonnull(strstr(g_err, "\n   2 "));                   /* one line per chunk */
    /* the FP8 folder against the f32 GGUF that holds its values: (almost) nothing */
    j = verify_json("ds", "ds-f32.gguf", 64, 2);
    ck_assert_msg(num(j, "total.kld") < 1e-9, "FP8 vs f32 GGUF: KLD %g", num(j, "total.kld"));
    ck_assert(num(j, "total.same_top") == 1);
    cJSON_Delete(j);
}
END_TEST

START_TEST(quantized) {
    cJSON *j4 = verify_json("ds-f32.gguf", "ds-q4.gguf", 64, 3), *j2 = verify_json("ds-f32.gguf", "ds-q2.gguf", 64, 3);
    const double k4 = num(j4, "total.kld"), k2 = num(j2, "total.kld");
    ck_assert_msg(k4 > 0 && k2 > k4, "KLD q4 %g, q2-moe %g", k4, k2);
    ck_assert(num(j2, "total.dp_rms") > num(j4, "total.dp_rms"));
    ck_assert(num(j4, "total.kld_err") > 0 && num(j4, "total.kld_err") < k4);
    /* PPL(Q) is what `r1kit perplexity` prints for the candidate, PPL(base) the base's */
    ck_assert_int_eq(RUN("perplexity '%s/ds-q2.gguf' --text '%s/text.txt' --ctx 64 --chunks 3", g_dir, g_dir), 0);
    const char *p = strstr(g_out, "PPL = ");
    ck_assert_ptr_nonnull(p);
    const double ppl = strtod(p + 6, NULL);
    ck_assert_msg(fabs(num(j2, "total.ppl") - ppl) <= 1e-4 * ppl, "verify PPL(Q) %.6f, perplexity %.6f", num(j2, "total.ppl"), ppl);
    ck_assert_int_eq(RUN("perplexity '%s/ds-f32.gguf' --text '%s/text.txt' --ctx 64 --chunks 3", g_dir, g_dir), 0);
    const double pb = strtod(strstr(g_out, "PPL = ") + 6, NULL);
    ck_assert(fabs(num(j2, "total.ppl_base") - pb) <= 1e-4 * pb);
    cJSON_Delete(j4);
    cJSON_Delete(j2);
}
END_TEST

START_TEST(json_doc) {
    cJSON *j = verify_json("ds-f32.gguf", "ds-q2.gguf", 64, 3);
    ck_assert_int_eq((int)num(j, "n_chunks"), 3);
    ck_assert_int_eq((int)num(j, "n_ctx"), 64);
    ck_assert_int_eq((int)num(j, "scored_tokens"), 3 * (64 - 1 - 32));
    ck_assert_int_eq((int)num(j, "total.count"), 3 * 31);
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(j, "chunks");
    ck_assert(cJSON_IsArray(ch) && cJSON_GetArraySize(ch) == 3);
    double ksum = 0;
    for (int i = 0; i < 3; i++) {
        const cJSON *c = cJSON_GetArrayItem(ch, i);
        ck_assert_int_eq((int)cJSON_GetObjectItemCaseSensitive(c, "count")->valuedouble, 31);
        ksum += cJSON_GetObjectItemCaseSensitive(c, "kld")->valuedouble / 3;
    }
    ck_assert(fabs(ksum - num(j, "total.kld")) < 1e-9);               /* equal chunks: mean of chunk means */
    ck_assert(fabs(num(j, "total.ppl_ratio") - exp(num(j, "total.ln_ppl_ratio"))) < 1e-12);
    ck_assert(fabs(num(j, "total.ppl_ratio") - num(j, "total.ppl") / num(j, "total.ppl_base")) < 1e-9);
    ck_assert(num(j, "kld_percentiles.100") >= num(j, "kld_percentiles.99.9"));
    ck_assert(num(j, "kld_percentiles.50") >= num(j, "kld_percentiles.0"));
    ck_assert(fabs(num(j, "kld_percentiles.100") - num(j, "total.kld_max")) < 1e-6 * num(j, "total.kld_max"));
    ck_assert(num(j, "dp_percentiles.100") >= num(j, "dp_percentiles.75"));
    ck_assert(num(j, "total.same_top") > 0 && num(j, "total.same_top") <= 1);
    ck_assert(num(j, "total.cor_ln_ppl") > 0.5 && num(j, "total.cor_ln_ppl") <= 1 + 1e-9);
    const double kld = num(j, "total.kld");
    cJSON_Delete(j);
    /* the text output prints the same figures */
    ck_assert_int_eq(RUN("verify '%s/ds-f32.gguf' '%s/ds-q2.gguf' --text '%s/text.txt' --ctx 64 --chunks 3 --threads 2",
                         g_dir, g_dir, g_dir), 0);
    const char *p = strstr(g_out, "Mean    KLD: ");
    ck_assert_ptr_nonnull(p);
    ck_assert(fabs(strtod(p + 13, NULL) - kld) < 1e-6);
    ck_assert_ptr_null(strchr(g_out, '{'));
}
END_TEST

START_TEST(tokenizers) {
    int rc = RUN("verify '%s/ds' '%s/qw' --text '%s/text.txt' --ctx 64", g_dir, g_dir, g_dir);
    ck_assert_msg(rc == 3, "exit %d", rc);
    ck_assert_ptr_nonnull(strstr(g_err, "r1kit verify: error: BASE and CANDIDATE have different tokenizers"));
    const char *e1 = strstr(g_err, "r1kit verify: error: ");   /* after the check lines, one line, the last */
    ck_assert_msg(e1 && strchr(e1, '\n') == g_err + strlen(g_err) - 1, "not one line: %s", g_err);
    ck_assert_ptr_null(strstr(e1 + strlen("r1kit verify: error: "), "error:"));
    /* same vocabulary, one merge less: the text tokenizes differently */
    char p[4096], cmd[8192];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/ds2' && cp '%s/ds/'*.json '%s/ds2/' && ln -s '%s/ds/model.safetensors' '%s/ds2/' && "
             "sed -i 's/\"merges\":\\([[:space:]]*\\)\\[\"[^\"]*\", /\"merges\":\\1[/' '%s/ds2/tokenizer.json'",
             g_dir, g_dir, g_dir, g_dir, g_dir, g_dir);
    ck_assert_int_eq(rk_test_run(cmd, NULL, 0, g_err, sizeof g_err), 0);
    snprintf(p, sizeof p, "%s/ds2/tokenizer.json", g_dir);
    size_t n;
    char *t = (char *)rk_test_read_file(p, &n);
    ck_assert_ptr_nonnull(t);
    ck_assert_msg(!memmem(t, n, "\"Ġ t\"", strlen("\"Ġ t\"")), "the first merge was not removed");
    free(t);
    rc = RUN("verify '%s/ds' '%s/ds2' --text '%s/text.txt' --ctx 64", g_dir, g_dir, g_dir);
    ck_assert_msg(rc == 3, "exit %d: %s", rc, g_err);
    ck_assert_ptr_nonnull(strstr(g_err, "tokenizes differently"));
}
END_TEST

START_TEST(bad_args) {
    ck_assert_int_eq(RUN("verify '%s/nope.gguf' '%s/ds-f32.gguf' --text '%s/text.txt'", g_dir, g_dir, g_dir), 4);
    ck_assert_int_eq(RUN("verify '%s/ds-f32.gguf' '%s/nope' --text '%s/text.txt'", g_dir, g_dir, g_dir), 4);
    ck_assert_int_eq(RUN("verify '%s/ds-f32.gguf' '%s/ds-f32.gguf' --text '%s/nope.txt'", g_dir, g_dir, g_dir), 3);  /* as perplexity */
    ck_assert_int_eq(RUN("verify '%s/ds-f32.gguf' '%s/ds-f32.gguf'", g_dir, g_dir), 2);
    ck_assert_ptr_nonnull(strstr(g_err, "--text FILE is required"));
    ck_assert_int_eq(RUN("verify '%s/ds-f32.gguf' --text '%s/text.txt'", g_dir, g_dir), 2);
    ck_assert_int_eq(RUN("verify '%s/ds-f32.gguf' '%s/ds-f32.gguf' --text '%s/text.txt' --ctx 3", g_dir, g_dir, g_dir), 2);
    ck_assert_int_eq(RUN("verify '%s/ds-f32.gguf' '%s/ds-f32.gguf' --text '%s/text.txt' --chunks 0", g_dir, g_dir, g_dir), 2);
    ck_assert_int_eq(RUN("verify '%s/ds-f32.gguf' '%s/ds-f32.gguf' --text '%s/text.txt' --threads x", g_dir, g_dir, g_dir), 2);
    ck_assert_int_eq(RUN("verify '%s/ds-f32.gguf' '%s/ds-f32.gguf' --text '%s/text.txt' --ctx 100000", g_dir, g_dir, g_dir), 2);
    ck_assert_ptr_nonnull(strstr(g_err, "2 x ctx"));
    ck_assert_int_eq(RUN("verify --help"), 0);
    ck_assert_ptr_nonnull(strstr(g_out, "usage: r1kit verify BASE CANDIDATE"));
    ck_assert_int_eq(RUN("help verify"), 0);
    ck_assert_int_eq(RUN("help"), 0);
    ck_assert_ptr_nonnull(strstr(g_out, "  verify "));
}
END_TEST

/* --llama-base: a hand-written llama-perplexity base file with a uniform base distribution over the sample's
 * vocabulary (scale 0, log p = -ln V): PPL(base) is V, Δp = q(target) - 1/V; bad files and options are refused */
START_TEST(llama_base) {
    char p[4096];
    snprintf(p, sizeof p, "%s/ds/config.json", g_dir);
    size_t n;
    char *cfg = (char *)rk_test_read_file(p, &n);
    ck_assert_ptr_nonnull(cfg);
    const char *k = strstr(cfg, "\"vocab_size\"");
    ck_assert_ptr_nonnull(k);
    const int V = atoi(strchr(k, ':') + 1);
    free(cfg);
    ck_assert(V > 2);
    const uint32_t n_ctx = 16, n_chunk = 3, per = n_ctx - 1 - n_ctx / 2, nv = 2 * ((V + 1) / 2) + 4;
    snprintf(p, sizeof p, "%s/base.kld", g_dir);
    FILE *f = fopen(p, "wb");
    ck_assert_ptr_nonnull(f);
    const int32_t hv = V, hc = (int32_t)n_chunk;
    fwrite("_logits_", 1, 8, f), fwrite(&n_ctx, 4, 1, f), fwrite(&hv, 4, 1, f), fwrite(&hc, 4, 1, f);
    for (uint32_t i = 0; i < n_ctx * n_chunk; i++) {
        const int32_t t = (int32_t)((i * 7 + 3) % (uint32_t)V);
        fwrite(&t, 4, 1, f);
    }
    uint16_t *row = calloc(nv, sizeof(uint16_t));
    const float d[2] = { 0.0f, -logf((float)V) };
    memcpy(row, d, 8);
    for (uint32_t i = 0; i < n_chunk * per; i++) fwrite(row, 2, nv, f);
    free(row);
    fclose(f);
    int rc = RUN("verify --llama-base '%s' '%s/ds-q4.gguf' --json", p, g_dir);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, g_err);
    cJSON *j = cJSON_Parse(g_out);
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq((int)num(j, "n_chunks"), 3);
    ck_assert_int_eq((int)num(j, "scored_tokens"), 3 * 7);
    ck_assert_msg(fabs(num(j, "total.ppl_base") - V) < 1e-3 * V, "PPL(base) %g, V %d", num(j, "total.ppl_base"), V);
    ck_assert(num(j, "total.kld") > 0);
    cJSON_Delete(j);
    ck_assert_int_eq(RUN("verify --llama-base '%s' '%s/ds-q4.gguf' --chunks 2", p, g_dir), 0);
    ck_assert_ptr_nonnull(strstr(g_out, "Mean PPL(base)"));
    ck_assert_int_eq(RUN("verify --llama-base '%s' '%s/ds-q4.gguf' --ctx 32", p, g_dir), 2);
    ck_assert_int_eq(RUN("verify --llama-base '%s' '%s/ds-q4.gguf' '%s/ds-q4.gguf'", p, g_dir, g_dir), 2);
    ck_assert_int_eq(RUN("verify --llama-base '%s' '%s/ds-q4.gguf' --text '%s/text.txt'", p, g_dir, g_dir), 3);
    ck_assert_ptr_nonnull(strstr(g_err, "tokenizes differently"));
    ck_assert_int_eq(RUN("verify --llama-base '%s/text.txt' '%s/ds-q4.gguf'", g_dir, g_dir), 3);
    ck_assert_ptr_nonnull(strstr(g_err, "_logits_"));
    ck_assert_int_eq(RUN("verify --llama-base '%s/none.kld' '%s/ds-q4.gguf'", g_dir, g_dir), 3);
}
END_TEST


/* ---- the gate --------------------------------------------------------------------------------------------- */

#define VQ2 "verify '%s/ds-f32.gguf' '%s/ds-q2.gguf' --text '%s/text.txt' --ctx 64 --chunks 3 --no-scan "

START_TEST(gate) {
    int rc = RUN(VQ2 "--max-ppl-ratio 2 --max-kld 1 --min-top1 10", g_dir, g_dir, g_dir);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, g_err);
    ck_assert_ptr_nonnull(strstr(g_out, "gate: PASS (3 criteria)"));
    ck_assert_ptr_nonnull(strstr(g_out, "ok   mean KLD "));
    ck_assert_ptr_null(strstr(g_out, "FAIL"));
    /* each criterion failing alone */
    static const struct { const char *opt, *line; } f[] = {
        { "--max-kld 1e-9", "FAIL mean KLD 0.0" }, { "--max-ppl-ratio 0.5", "FAIL PPL ratio " },
        { "--min-top1 100", "FAIL same top p " },
    };
    for (int i = 0; i < 3; i++) {
        rc = RUN(VQ2 "%s --max-kld 1", g_dir, g_dir, g_dir, f[i].opt);   /* a later --max-kld overrides: KLD passes */
        ck_assert_int_eq(rc, i ? 1 : 0);
        rc = RUN(VQ2 "--max-kld 1 %s", g_dir, g_dir, g_dir, f[i].opt);
        ck_assert_msg(rc == 1, "%s: exit %d: %s", f[i].opt, rc, g_err);
        ck_assert_msg(strstr(g_out, f[i].line) != NULL, "%s: %s", f[i].opt, g_out);
        ck_assert_ptr_nonnull(strstr(g_out, i ? "gate: FAIL (1 of 2 criteria failed)" : "gate: FAIL (1 of 1 criteria failed)"));
    }
    ck_assert_ptr_nonnull(strstr(g_out, "% < 100.000%"));
    /* --json: the gate in the document, its lines on stderr */
    rc = RUN(VQ2 "--max-kld 1e-9 --json", g_dir, g_dir, g_dir);
    ck_assert_int_eq(rc, 1);
    cJSON *j = cJSON_Parse(g_out);
    ck_assert_ptr_nonnull(j);
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(j, "gate");
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(g, "pass")));
    const cJSON *c0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(g, "criteria"), 0);
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(c0, "key")->valuestring, "max_kld");
    ck_assert(cJSON_GetObjectItemCaseSensitive(c0, "value")->valuedouble == num(j, "total.kld"));
    ck_assert(cJSON_GetObjectItemCaseSensitive(c0, "threshold")->valuedouble == 1e-9);
    cJSON_Delete(j);
    ck_assert_ptr_nonnull(strstr(g_err, "gate: FAIL"));
    /* --gate FILE; the command line overrides it */
    char p[4096];
    snprintf(p, sizeof p, "%s/gate.json", g_dir);
    rk_test_write_file(p, "{\"max_kld\": 1e-9, \"min_top1\": 10}", 34);
    ck_assert_int_eq(RUN(VQ2 "--gate '%s'", g_dir, g_dir, g_dir, p), 1);
    ck_assert_ptr_nonnull(strstr(g_out, "FAIL mean KLD"));
    ck_assert_int_eq(RUN(VQ2 "--gate '%s' --max-kld 1", g_dir, g_dir, g_dir, p), 0);
    ck_assert_ptr_nonnull(strstr(g_out, "gate: PASS (2 criteria)"));
    /* malformed or unknown keys: usage (2) before anything runs; a missing file: 3 */
    static const char *const bad[] = { "{\"max_kld\": ", "{\"max_kdl\": 0.1}", "{\"min_top1\": 0.5e3}", "[1]" };
    for (int i = 0; i < 4; i++) {
        rk_test_write_file(p, bad[i], strlen(bad[i]));
        rc = RUN(VQ2 "--gate '%s'", g_dir, g_dir, g_dir, p);
        ck_assert_msg(rc == 2, "%s: exit %d", bad[i], rc);
        ck_assert_ptr_nonnull(strstr(g_err, p));
        ck_assert_ptr_null(strstr(g_err, "check:"));                     /* nothing ran */
    }
    ck_assert_int_eq(RUN(VQ2 "--gate '%s/none.json'", g_dir, g_dir, g_dir, g_dir), 3);
    ck_assert_int_eq(RUN(VQ2 "--min-top1 101", g_dir, g_dir, g_dir), 2);
    ck_assert_int_eq(RUN(VQ2 "--max-kld -1", g_dir, g_dir, g_dir), 2);
    ck_assert_int_eq(RUN(VQ2 "--max-ppl-ratio 0", g_dir, g_dir, g_dir), 2);
    ck_assert_int_eq(RUN(VQ2 "--max-kld x", g_dir, g_dir, g_dir), 2);
}
END_TEST

/* ---- stored base ------------------------------------------------------------------------------------------ */

static cJSON *run_json(const char *fmt, const char *a, const char *b) {
    char cmd[16384];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    snprintf(cmd, sizeof cmd, fmt, a, b, g_dir);
#pragma GCC diagnostic pop
    int rc = RUN("%s", cmd);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, g_err);
    cJSON *j = cJSON_Parse(g_out);
    ck_assert_msg(j != NULL, "not JSON: %.200s", g_out);
    return j;
}

START_TEST(base_file) {
    char all[4096], k8[4096], bad[4096];
    snprintf(all, sizeof all, "%s/all.kb", g_dir);
    snprintf(k8, sizeof k8, "%s/k8.kb", g_dir);
    snprintf(bad, sizeof bad, "%s/bad.kb", g_dir);
    /* compare and save in one run, every token kept: the stored base gives the same figures, bit for bit */
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "verify '%s/ds-f32.gguf' '%s/ds-q2.gguf' --text '%%s/text.txt' --ctx 64 --chunks 3 --json --no-scan "
             "--save-base '%s' --top-k 100000", g_dir, g_dir, all);
    cJSON *live = run_json(cmd, g_dir, NULL);
    ck_assert(num(live, "saved_base.top_k") > 100 && num(live, "saved_base.scored_tokens") == 93);
    cJSON *st = run_json("verify --base '%s' '%s/ds-q2.gguf' --json --no-scan", all, g_dir);
    static const char *const keys[] = { "total.kld", "total.kld_err", "total.ppl", "total.ppl_base", "total.cor_ln_ppl",
                                        "total.ppl_ratio", "total.dp", "total.dp_rms", "total.same_top", "kld_percentiles.99",
                                        "kld_percentiles.50", "dp_percentiles.1", "scored_tokens", "n_chunks" };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        ck_assert_msg(num(st, keys[i]) == num(live, keys[i]), "%s: %.17g stored, %.17g live", keys[i], num(st, keys[i]),
                      num(live, keys[i]));
    cJSON_Delete(st);
    /* base only, top 8: PPL, Δp and top-1 exact, the KLD a lower bound */
    ck_assert_int_eq(RUN("verify '%s/ds-f32.gguf' --save-base '%s' --top-k 8 --text '%s/text.txt' --ctx 64 --chunks 3 --no-scan",
                         g_dir, k8, g_dir), 0);
    ck_assert_ptr_nonnull(strstr(g_err, "bytes per scored token"));
    st = run_json("verify --base '%s' '%s/ds-q2.gguf' --text '%s/text.txt' --json", k8, g_dir);
    ck_assert(num(st, "base_top_k") == 8);
    for (size_t i = 2; i < 9; i++)
        if (strcmp(keys[i], "total.cor_ln_ppl")) ck_assert_msg(num(st, keys[i]) == num(live, keys[i]), "%s", keys[i]);
    ck_assert(num(st, "total.kld") < num(live, "total.kld") && num(st, "total.kld") > 0);
    cJSON_Delete(st);
    cJSON_Delete(live);
    /* gate on a stored base */
    ck_assert_int_eq(RUN("verify --base '%s' '%s/ds-q2.gguf' --no-scan --max-kld 1e-9", all, g_dir), 1);
    /* corrupt files: exit 3, the file named */
    size_t n;
    uint8_t *b = rk_test_read_file(all, &n);
    ck_assert_ptr_nonnull(b);
    const struct { size_t at, len; uint8_t x; const char *what; } dmg[] = {
        { 5000, 0, 0x40, "checksum mismatch" }, { 20, 0, 0x01, "header checksum" }, { 0, 0, 'x', "not an r1kit base file" },
        { 0, 1, 0, "truncated" }, { 0, 2, 0, "truncated" },
    };
    for (int i = 0; i < 5; i++) {
        uint8_t *c = malloc(n);
        memcpy(c, b, n);
        size_t m = n;
        if (dmg[i].len == 1) m = n / 2;
        else if (dmg[i].len == 2) m = 100;
        else c[dmg[i].at] ^= dmg[i].x;
        rk_test_write_file(bad, c, m);
        free(c);
        int rc = RUN("verify --base '%s' '%s/ds-q2.gguf' --no-scan", bad, g_dir);
        ck_assert_msg(rc == 3, "%s: exit %d: %s", dmg[i].what, rc, g_err);
        ck_assert_msg(strstr(g_err, bad) && strstr(g_err, dmg[i].what), "%s: %s", dmg[i].what, g_err);
    }
    free(b);
    ck_assert_int_eq(RUN("verify --base '%s/none.kb' '%s/ds-q2.gguf'", g_dir, g_dir), 3);
    /* another tokenizer: a qwen2 model; the same vocabulary with one merge removed */
    int rc = RUN("verify --base '%s' '%s/qw' --no-scan", all, g_dir);
    ck_assert_msg(rc == 3 && strstr(g_err, "another tokenizer"), "exit %d: %s", rc, g_err);
    char sh[8192];
    snprintf(sh, sizeof sh, "rm -rf '%s/ds3' && mkdir -p '%s/ds3' && cp '%s/ds/'*.json '%s/ds3/' && ln -s '%s/ds/model.safetensors' '%s/ds3/' && "
             "sed -i 's/\"merges\":\\([[:space:]]*\\)\\[\"[^\"]*\", /\"merges\":\\1[/' '%s/ds3/tokenizer.json'",
             g_dir, g_dir, g_dir, g_dir, g_dir, g_dir, g_dir);
    ck_assert_int_eq(rk_test_run(sh, NULL, 0, g_err, sizeof g_err), 0);
    rc = RUN("verify --base '%s' '%s/ds3' --no-scan", all, g_dir);
    ck_assert_msg(rc == 3 && strstr(g_err, "another tokenizer") && strstr(g_err, all), "exit %d: %s", rc, g_err);
    /* options */
    ck_assert_int_eq(RUN("verify --base '%s' '%s/ds-q2.gguf' --ctx 32", all, g_dir), 2);
    ck_assert_int_eq(RUN("verify --base '%s' --llama-base '%s' '%s/ds-q2.gguf'", all, all, g_dir), 2);
    ck_assert_int_eq(RUN("verify --base '%s' '%s/ds-q2.gguf' --save-base '%s'", all, g_dir, bad), 2);
    ck_assert_int_eq(RUN(VQ2 "--top-k 8", g_dir, g_dir, g_dir), 2);
    ck_assert_int_eq(RUN("verify '%s/ds-f32.gguf' --save-base '%s' --text '%s/text.txt' --top-k 0", g_dir, bad, g_dir), 2);
    ck_assert_int_eq(RUN("verify '%s/ds-f32.gguf' --save-base '%s' --text '%s/text.txt' --max-kld 1", g_dir, bad, g_dir), 2);
}
END_TEST

/* ---- static checks ---------------------------------------------------------------------------------------- */

START_TEST(static_checks) {
    char p[4096], q[4096];
    snprintf(p, sizeof p, "%s/ds-q2.gguf", g_dir);
    size_t n;
    uint8_t *b = rk_test_read_file(p, &n);
    ck_assert_ptr_nonnull(b);
    snprintf(q, sizeof q, "%s/cut.gguf", g_dir);
    rk_test_write_file(q, b, n / 2);
    free(b);
    int rc = RUN("verify '%s/ds-f32.gguf' '%s' --text '%s/text.txt' --ctx 64 --chunks 3", g_dir, q, g_dir);
    ck_assert_msg(rc == 3, "exit %d: %s", rc, g_err);
    ck_assert_ptr_nonnull(strstr(g_err, "check: error CANDIDATE: file: "));
    ck_assert_ptr_nonnull(strstr(g_err, q));
    ck_assert_ptr_nonnull(strstr(g_err, "failed 1 static check; nothing was evaluated"));
    ck_assert_ptr_null(strstr(g_err, "chunk "));
    ck_assert_ptr_nonnull(strstr(g_err, "check: ok    BASE: engine: loads"));
    /* NaN in an F32 weight of the candidate */
    snprintf(p, sizeof p, "%s/ds-f32.gguf", g_dir);
    b = rk_test_read_file(p, &n);
    rk_gguf *g;
    rk_err e;
    ck_assert_int_eq(rk_gguf_open_buffer(&g, b, n, "x", &e), 0);
    const rk_gguf_tensor *t = rk_gguf_find_tensor(g, "blk.2.ffn_up_exps.weight");
    ck_assert(t && t->type == 0);
    const float nan = NAN;
    memcpy(b + (t->data - b) + 4 * 1000, &nan, 4);
    rk_gguf_close(g);
    snprintf(q, sizeof q, "%s/nan.gguf", g_dir);
    rk_test_write_file(q, b, n);
    free(b);
    rc = RUN("verify '%s/ds-f32.gguf' '%s' --text '%s/text.txt' --ctx 64 --chunks 3 --json", g_dir, q, g_dir);
    ck_assert_msg(rc == 3, "exit %d: %s", rc, g_err);
    ck_assert_ptr_nonnull(strstr(g_err, "check: error CANDIDATE: scan: tensor 'blk.2.ffn_up_exps.weight' (F32) has 1 NaN/Inf"));
    cJSON *j = cJSON_Parse(g_out);
    ck_assert_ptr_nonnull(j);
    const cJSON *cc = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "checks"), "candidate");
    ck_assert(cc && cJSON_GetObjectItemCaseSensitive(cc, "errors")->valuedouble == 1);
    ck_assert(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(cc, "findings")) >= 6);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "gate")) && !cJSON_GetObjectItemCaseSensitive(j, "total"));
    cJSON_Delete(j);
    /* --no-scan: the loader accepts the file; a NaN reaching the logits is then the run's own error (3) */
    rc = RUN("verify '%s/ds-f32.gguf' '%s' --text '%s/text.txt' --ctx 64 --chunks 1 --no-scan", g_dir, q, g_dir);
    ck_assert_msg(rc == 0 || rc == 3, "exit %d: %s", rc, g_err);
    ck_assert_ptr_null(strstr(g_err, "check: error"));
    ck_assert_ptr_null(strstr(g_err, "scan:"));
}
END_TEST

/* r1kit's own figures for a fixed pair (see the file comment); relative tolerance per figure */
/* --html: the page is written (also when the gate fails), holds every chart, and an unwritable target is exit 4 */
START_TEST(html_report) {
    char p[4096];
    snprintf(p, sizeof p, "%s/report.html", g_dir);
    int rc = RUN("verify '%s/ds' '%s/ds-q2.gguf' --text '%s/text.txt' --ctx 64 --chunks 3 --max-kld 0 --html '%s'", g_dir, g_dir,
                 g_dir, p);
    ck_assert_msg(rc == 1, "exit %d: %s", rc, g_err);
    size_t n = 0;
    char *h = (char *)rk_test_read_file(p, &n);
    ck_assert_ptr_nonnull(h);
    h = realloc(h, n + 1);
    h[n] = 0;
    static const char *const ids[] = { "chart-ppl", "chart-kld-hist", "chart-layers", "chart-routing", "chart-alloc" };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        char want[64];
        snprintf(want, sizeof want, "id=\"%s\"", ids[i]);
        ck_assert_msg(strstr(h, want) != NULL, "no %s in the report", ids[i]);
    }
    ck_assert_ptr_nonnull(strstr(h, "FAIL"));
    ck_assert_ptr_null(strstr(h, "http://"));
    ck_assert_ptr_null(strstr(h, "https://"));
    free(h);
    ck_assert_int_eq(RUN("verify '%s/ds-f32.gguf' '%s/ds-q4.gguf' --text '%s/text.txt' --ctx 64 --chunks 2 --html '%s/nodir/r.html'",
                         g_dir, g_dir, g_dir, g_dir), 4);
}
END_TEST

START_TEST(golden) {
    char cmd[4096];
    ck_assert_int_eq(RUN("convert '%s/teacher' '%s/t-bf16.gguf' --outtype bf16 --quiet", rk_test_source_dir(), g_dir), 0);
    snprintf(cmd, sizeof cmd, "verify '%s/teacher' '%s/t-bf16.gguf' --text '%s/text.txt' --ctx 64 --chunks 2 --json",
             rk_test_source_dir(), g_dir, g_dir);
    int rc = RUN("%s", cmd);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, g_err);
    cJSON *j = cJSON_Parse(g_out);
    ck_assert_ptr_nonnull(j);
    static const struct { const char *key; double want, rtol; } g[] = {
        { "total.count", 62, 0 },
        { "total.ppl", 2059.766723711568, 1e-4 },
        { "total.ppl_base", 2061.8373767369044, 1e-4 },
        { "total.cor_ln_ppl", 0.99999886983751, 1e-6 },
        { "total.ln_ppl_ratio", -0.0010047802501551573, 2e-3 },
        { "total.ln_ppl_ratio_err", 0.0006405578792596335, 2e-3 },
        { "total.kld", 5.230383441008863e-06, 2e-3 },
        { "total.kld_err", 5.15324143972402e-07, 2e-3 },
        { "total.dp_rms", 0.0002575641823577259, 2e-3 },
        { "total.dp_rms_err", 6.617991561330766e-05, 2e-3 },
        { "total.same_top", 1, 0.017 },                           /* one token either way */
        { "kld_percentiles.99", 1.792634247976821e-05, 5e-3 },
        { "kld_percentiles.90", 1.1776723113143817e-05, 5e-3 },
        { "kld_percentiles.50", 3.865751750709023e-06, 5e-3 },
        { "kld_percentiles.10", 1.3827448128722608e-06, 5e-3 },
    };
    for (size_t i = 0; i < sizeof g / sizeof g[0]; i++) {
        const double v = num(j, g[i].key);
        ck_assert_msg(fabs(v - g[i].want) <= g[i].rtol * fabs(g[i].want), "%s = %.12g, pinned %.12g (r1kit %s)", g[i].key, v,
                      g[i].want, cmd);
    }
    cJSON_Delete(j);
}
END_TEST

Suite *make_suite(void) {
    Suite *s = suite_create("cli_verify");
    TCase *tc = tcase_create("verify");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, self_zero);
    tcase_add_test(tc, quantized);
    tcase_add_test(tc, json_doc);
    tcase_add_test(tc, tokenizers);
    tcase_add_test(tc, bad_args);
    tcase_add_test(tc, llama_base);
    tcase_add_test(tc, gate);
    tcase_add_test(tc, base_file);
    tcase_add_test(tc, static_checks);
    tcase_add_test(tc, html_report);
    tcase_add_test(tc, golden);
    suite_add_tcase(s, tc);
    return s;
}

RK_TEST_MAIN()
