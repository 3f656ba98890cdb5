/* tests/verify/test_compare.c — verify/compare.h: per-token figures on hand-computable logits (KLD, Δp, NLL,
 * top-1 with ties, sparse top-k rows), llama.cpp's percentile/median indexing, its mean/error/covariance
 * formulas on a small sample worked out by hand, the accumulator's per-chunk bookkeeping and bounds, and on a
 * real (random) model: a model against itself gives KLD 0, ratio 1, 100% top-1 and rk_perplexity's PPL. */
#define _GNU_SOURCE
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "tests/common/rk_test.h"
#include "model/model.h"
#include "model/perplexity.h"
#include "model/sample.h"
#include "verify/compare.h"

#define CLOSE(a, b, tol) ck_assert_msg(fabs((double)(a) - (double)(b)) <= (tol), "%s = %.12g, expected %.12g", #a, (double)(a), (double)(b))

static void tok_of(const float *base_logits, const float *cand_logits, int64_t vocab, int32_t target, rk_verify_tok *t) {
    float *lp = malloc((size_t)vocab * sizeof(float));
    rk_verify_row row;
    rk_err err;
    ck_assert_int_eq(rk_verify_row_from_logits(&row, lp, base_logits, vocab, target, &err), 0);
    ck_assert_int_eq(rk_verify_token(&row, cand_logits, vocab, target, t, &err), 0);
    free(lp);
}

/* ---- per token ------------------------------------------------------------------------------------------ */

START_TEST(token_hand) {
    /* p = (1/2, 1/2), q = (3/4, 1/4): KLD = 1/2 ln(2/3) + 1/2 ln 2 = 1/2 ln(4/3) */
    const float b[2] = { 0, 0 }, c[2] = { logf(3), 0 };
    rk_verify_tok t;
    tok_of(b, c, 2, 0, &t);
    CLOSE(t.kld, 0.5 * log(4.0 / 3), 1e-7);
    CLOSE(t.nll, -log(0.75), 1e-7);
    CLOSE(t.nll_base, log(2.0), 1e-7);
    CLOSE(t.dp, 0.25, 1e-7);
    ck_assert_int_eq(t.top, 0);
    ck_assert_int_eq(t.top_base, 0);                  /* tie: lowest id */
    tok_of(b, c, 2, 1, &t);
    CLOSE(t.dp, -0.25, 1e-7);
    CLOSE(t.kld, 0.5 * log(4.0 / 3), 1e-7);          /* KLD does not depend on the target */
    /* reversed: KLD(q || p) = 3/4 ln(3/2) + 1/4 ln(1/2); top-1 differs when the base prefers token 2 */
    const float b3[3] = { 0, 0, 1 }, c3[3] = { 2, 0, 1 };
    tok_of(c, b, 2, 0, &t);
    CLOSE(t.kld, 0.75 * log(1.5) + 0.25 * log(0.5), 1e-7);
    tok_of(b3, c3, 3, 2, &t);
    ck_assert_int_eq(t.top_base, 2);
    ck_assert_int_eq(t.top, 0);
    const double zb = 2 + M_E, zc = exp(2) + 1 + M_E;
    CLOSE(t.dp, M_E / zc - M_E / zb, 1e-7);
    CLOSE(t.kld, (1 / zb) * (log(1 / zb) - log(exp(2) / zc)) + (1 / zb) * (log(1 / zb) - log(1 / zc)) +
                     (M_E / zb) * (log(M_E / zb) - log(M_E / zc)), 1e-6);
}
END_TEST

START_TEST(token_identical) {
    /* identical logits, large and odd vocab: exactly 0, not just small */
    const int64_t V = 257;
    float *l = malloc((size_t)V * sizeof(float));
    uint32_t s = 7;
    for (int64_t i = 0; i < V; i++) s = s * 1664525u + 1013904223u, l[i] = (float)((s >> 8) % 2000) / 100.0f - 10;
    rk_verify_tok t;
    for (int32_t tg = 0; tg < V; tg += 32) {
        tok_of(l, l, V, tg, &t);
        ck_assert(t.kld == 0 && t.dp == 0 && t.nll == t.nll_base && t.top == t.top_base);
    }
    /* shifting all logits does not change the distribution */
    float *l2 = malloc((size_t)V * sizeof(float));
    for (int64_t i = 0; i < V; i++) l2[i] = l[i] + 3.0f;
    tok_of(l, l2, V, 5, &t);
    CLOSE(t.kld, 0, 1e-6);
    CLOSE(t.dp, 0, 1e-6);
    free(l);
    free(l2);
}
END_TEST

START_TEST(token_row) {
    const float l[4] = { 1, 3, 3, -2 };
    float lp[4];
    rk_verify_row row;
    rk_err err;
    ck_assert_int_eq(rk_verify_row_from_logits(&row, lp, l, 4, 3, &err), 0);
    const double lse = log(exp(1) + 2 * exp(3) + exp(-2));
    for (int i = 0; i < 4; i++) CLOSE(lp[i], l[i] - lse, 1e-6);
    ck_assert_int_eq(row.top, 1);
    CLOSE(row.nll, lse + 2, 1e-9);
    ck_assert(row.ids == NULL && row.n == 4 && row.logprob == lp);
    /* bad inputs */
    ck_assert_int_eq(rk_verify_row_from_logits(&row, lp, l, 4, 4, &err), RK_EINVAL);
    ck_assert_int_eq(rk_verify_row_from_logits(&row, lp, l, 4, -1, &err), RK_EINVAL);
    const float bad[3] = { 0, NAN, 1 }, inf[3] = { 0, INFINITY, 1 };
    ck_assert_int_eq(rk_verify_row_from_logits(&row, lp, bad, 3, 0, &err), RK_ECORRUPT);
    ck_assert_int_eq(rk_verify_row_from_logits(&row, lp, inf, 3, 0, &err), RK_ECORRUPT);
    ck_assert_int_eq(rk_verify_row_from_logits(&row, lp, l, 4, 0, &err), 0);
    rk_verify_tok t;
    ck_assert_int_eq(rk_verify_token(&row, bad, 3, 0, &t, &err), RK_EINVAL);   /* size and NaN */
    ck_assert_int_eq(rk_verify_token(&row, l, 4, 9, &t, &err), RK_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "outside the vocabulary"));
}
END_TEST

START_TEST(token_sparse) {
    const int64_t V = 6;
    const float b[6] = { 2, 1, 0.5f, 0, -1, -3 }, c[6] = { 1.5f, 1.2f, 0.1f, 0.3f, -2, -1 };
    float lp[6];
    rk_verify_row dense;
    rk_err err;
    ck_assert_int_eq(rk_verify_row_from_logits(&dense, lp, b, V, 4, &err), 0);
    rk_verify_tok td, ts;
    ck_assert_int_eq(rk_verify_token(&dense, c, V, 4, &td, &err), 0);
    /* all ids, in another order: the same KLD */
    const int32_t ids[6] = { 5, 0, 3, 1, 4, 2 };
    float slp[6];
    for (int k = 0; k < 6; k++) slp[k] = lp[ids[k]];
    rk_verify_row sp = { 6, ids, slp, dense.nll, dense.top, 0, 0 };
    ck_assert_int_eq(rk_verify_token(&sp, c, V, 4, &ts, &err), 0);
    CLOSE(ts.kld, td.kld, 1e-7);
    CLOSE(ts.dp, td.dp, 1e-12);
    /* top-2 {0, 1} + rest bucket: by hand, and a lower bound of the full KLD */
    const int32_t top2[2] = { 0, 1 };
    float lp2[2] = { lp[0], lp[1] };
    rk_verify_row s2 = { 2, top2, lp2, dense.nll, dense.top, 0, 0 };
    ck_assert_int_eq(rk_verify_token(&s2, c, V, 4, &ts, &err), 0);
    double zc = 0;
    for (int i = 0; i < 6; i++) zc += exp(c[i]);
    const double p0 = exp(lp[0]), p1 = exp(lp[1]), q0 = exp(c[0]) / zc, q1 = exp(c[1]) / zc;
    const double want = p0 * log(p0 / q0) + p1 * log(p1 / q1) + (1 - p0 - p1) * log((1 - p0 - p1) / (1 - q0 - q1));
    CLOSE(ts.kld, want, 1e-6);
    ck_assert(ts.kld <= td.kld + 1e-9);
    CLOSE(ts.dp, td.dp, 1e-12);                       /* the target's p comes from row.nll */
    /* the rest's mass given explicitly (as a stored base has it): the same figure; P_rest = 0 drops the bucket */
    rk_verify_row s2r = { 2, top2, lp2, dense.nll, dense.top, 1, 1 - p0 - p1 };
    rk_verify_tok tr;
    ck_assert_int_eq(rk_verify_token(&s2r, c, V, 4, &tr, &err), 0);
    CLOSE(tr.kld, want, 1e-6);
    rk_verify_row s2z = { 2, top2, lp2, dense.nll, dense.top, 1, 0 };
    ck_assert_int_eq(rk_verify_token(&s2z, c, V, 4, &tr, &err), 0);
    CLOSE(tr.kld, p0 * log(p0 / q0) + p1 * log(p1 / q1), 1e-6);
    const int32_t badid[1] = { 6 };
    rk_verify_row s3 = { 1, badid, lp2, dense.nll, 0, 0, 0 };
    ck_assert_int_eq(rk_verify_token(&s3, c, V, 4, &ts, &err), RK_EINVAL);
}
END_TEST

/* ---- percentiles ------------------------------------------------------------------------------------------ */

START_TEST(percentiles) {
    float v[10];
    for (int i = 0; i < 10; i++) v[i] = (float)i;
    CLOSE(rk_verify_percentile(v, 10, 0.0f), 0, 0);
    CLOSE(rk_verify_percentile(v, 10, 1.0f), 9, 0);
    CLOSE(rk_verify_percentile(v, 10, 0.9f), 8.1, 1e-5);   /* 0.9 * (10-1) = 8.1: between v[8] and v[9] */
    CLOSE(rk_verify_percentile(v, 10, 0.1f), 0.9, 1e-5);
    CLOSE(rk_verify_percentile(v, 10, 0.999f), 8.991, 1e-5);
    CLOSE(rk_verify_percentile(v, 10, 0.001f), 0.009, 1e-6);
    CLOSE(rk_verify_median(v, 10), 4.5, 0);               /* even: mean of the middle two */
    CLOSE(rk_verify_median(v, 9), 4, 0);                  /* odd: the middle one */
    CLOSE(rk_verify_percentile(v, 9, 0.5f), 4, 0);
    const float one[1] = { 3.5f };
    CLOSE(rk_verify_percentile(one, 1, 0.99f), 3.5, 0);
    CLOSE(rk_verify_median(one, 1), 3.5, 0);
    /* non-uniform spacing: 0.95 * 4 = 3.8 -> 0.2 * 10 + 0.8 * 100 */
    const float w[5] = { -1, 0, 2, 10, 100 };
    CLOSE(rk_verify_percentile(w, 5, 0.95f), 82, 1e-4);
    CLOSE(rk_verify_percentile(w, 5, 0.05f), -0.8, 1e-6);
    ck_assert(isnan(rk_verify_percentile(w, 0, 0.5f)));
    /* the tables llama.cpp prints */
    ck_assert(rk_verify_kld_pct[0] == 1 && rk_verify_kld_pct[5] == 0.5f && rk_verify_kld_pct[10] == 0);
    ck_assert(rk_verify_dp_pct[0] == 1 && rk_verify_dp_pct[6] == 0.5f && rk_verify_dp_pct[12] == 0);
}
END_TEST

/* ---- aggregates ------------------------------------------------------------------------------------------- */

START_TEST(stats_hand) {
    /* 12 tokens: nll = 1..12, nll_base = nll - 0.5 on even tokens and nll on odd ones, kld = 0.01 k, dp alternating
     * +-0.1, top agreeing on 9 of 12. Expected values from the textbook formulas llama.cpp uses. */
    enum { N = 12 };
    rk_verify_sums s;
    memset(&s, 0, sizeof s);
    double a[N], bb[N], kl[N], dp[N];
    for (int i = 0; i < N; i++) {
        rk_verify_tok t = { i + 1, i + 1 - (i % 2 == 0 ? 0.5 : 0), 0.01 * (i + 1), i % 2 ? 0.1 : -0.1, 3, i < 9 ? 3 : 4 };
        a[i] = t.nll, bb[i] = t.nll_base, kl[i] = t.kld, dp[i] = t.dp;
        rk_verify_sums_add(&s, &t);
    }
    rk_verify_stats st;
    rk_verify_stats_from_sums(&s, &st);
    double ma = 0, mb = 0, mk = 0, md = 0;
    for (int i = 0; i < N; i++) ma += a[i] / N, mb += bb[i] / N, mk += kl[i] / N, md += dp[i] / N;
    double va = 0, vb = 0, cab = 0, vk = 0, vd = 0, m2 = 0, v2 = 0;
    for (int i = 0; i < N; i++) {
        va += (a[i] - ma) * (a[i] - ma) / N, vb += (bb[i] - mb) * (bb[i] - mb) / N, cab += (a[i] - ma) * (bb[i] - mb) / N;
        vk += (kl[i] - mk) * (kl[i] - mk) / N, vd += (dp[i] - md) * (dp[i] - md) / N;
        m2 += dp[i] * dp[i] / N;
    }
    for (int i = 0; i < N; i++) v2 += (dp[i] * dp[i] - m2) * (dp[i] * dp[i] - m2) / N;
    const double ea = sqrt(va / (N - 1)), eb = sqrt(vb / (N - 1)), cov = cab / (N - 1);
    ck_assert_int_eq(st.count, N);
    CLOSE(st.ppl, exp(ma), 1e-9 * exp(ma));
    CLOSE(st.ppl_err, exp(ma) * ea, 1e-6);
    CLOSE(st.ppl_base, exp(mb), 1e-9 * exp(mb));
    CLOSE(st.ppl_base_err, exp(mb) * eb, 1e-6);
    CLOSE(st.cor, cov / (ea * eb), 1e-9);
    CLOSE(st.ln_ratio, ma - mb, 1e-12);
    CLOSE(st.ln_ratio, 0.25, 1e-12);
    CLOSE(st.ln_ratio_err, sqrt(ea * ea + eb * eb - 2 * cov), 1e-7);
    CLOSE(st.ratio, exp(0.25), 1e-12);
    CLOSE(st.ratio_err, exp(0.25) * st.ln_ratio_err, 1e-9);
    CLOSE(st.diff, exp(ma) - exp(mb), 1e-6);
    CLOSE(st.diff_err, sqrt(st.ppl_err * st.ppl_err + st.ppl_base_err * st.ppl_base_err - 2 * exp(ma) * exp(mb) * cov), 1e-4);
    CLOSE(st.kld, mk, 1e-12);
    CLOSE(st.kld_err, sqrt(vk / (N - 1)), 1e-9);
    CLOSE(st.kld_max, 0.12, 1e-12);
    CLOSE(st.dp, 0, 1e-12);
    CLOSE(st.dp_err, sqrt(vd / (N - 1)), 1e-9);
    CLOSE(st.dp_absmax, 0.1, 1e-12);
    CLOSE(st.dp_rms, 0.1, 1e-9);
    CLOSE(st.dp_rms_err, 0.5 / 0.1 * sqrt(v2 / (N - 1)), 1e-9);   /* all dp^2 equal: 0 */
    CLOSE(st.same_top, 0.75, 1e-12);
    CLOSE(st.same_top_err, sqrt(0.75 * 0.25 / (N - 1)), 1e-12);
    /* up to 10 values llama.cpp gives no error (and no covariance) */
    memset(&s, 0, sizeof s);
    for (int i = 0; i < 10; i++) {
        rk_verify_tok t = { a[i], bb[i], kl[i], dp[i], 1, 1 };
        rk_verify_sums_add(&s, &t);
    }
    rk_verify_stats_from_sums(&s, &st);
    ck_assert(st.ppl_err == 0 && st.kld_err == 0 && st.ln_ratio_err == 0 && st.dp_err == 0);
    ck_assert(isnan(st.cor));
    CLOSE(st.same_top, 1, 0);
    CLOSE(st.same_top_err, 0, 0);
    /* empty */
    memset(&s, 0, sizeof s);
    rk_verify_stats_from_sums(&s, &st);
    ck_assert(st.count == 0 && st.ppl == 0);
}
END_TEST

START_TEST(accumulate) {
    rk_verify_result r;
    rk_err err;
    ck_assert_int_eq(rk_verify_begin(&r, 0, 5, &err), RK_EINVAL);
    ck_assert_int_eq(rk_verify_begin(&r, 2, 3, &err), 0);
    ck_assert_int_eq(rk_verify_finish(&r, &err), RK_EINVAL);          /* nothing scored */
    const double kl[6] = { 0.5, 0.1, 0.3, 0.2, 0.0, 0.4 };
    for (int i = 0; i < 6; i++) {
        rk_verify_tok t = { 2.0 + i, 2.0, kl[i], 0.01 * i, i, i < 3 ? i : 0 };
        ck_assert_int_eq(rk_verify_add(&r, &t, &err), 0);
        if (i % 3 == 2) rk_verify_end_chunk(&r);
    }
    rk_verify_tok t = { 1, 1, 0, 0, 0, 0 };
    ck_assert_int_eq(rk_verify_add(&r, &t, &err), RK_EINVAL);         /* beyond 2 x 3 */
    ck_assert_int_eq(rk_verify_finish(&r, &err), 0);
    ck_assert_int_eq(r.sums.count, 6);
    ck_assert_int_eq(r.chunk[0].count, 3);
    CLOSE(r.chunk[0].kld, 0.3, 1e-12);
    CLOSE(r.chunk[1].kld, 0.2, 1e-12);
    CLOSE(r.chunk[0].same_top, 1, 0);
    CLOSE(r.chunk[1].same_top, 0, 0);
    CLOSE(r.total.same_top, 0.5, 0);
    CLOSE(r.chunk[1].ppl, exp(6.0), 1e-9);
    CLOSE(r.total.kld, 0.25, 1e-12);
    /* values kept in text order; percentiles from a sorted copy */
    ck_assert(r.kld_values[0] == 0.5f && r.kld_values[4] == 0.0f);
    CLOSE(r.kld_pct[0], 0.5, 1e-7);                    /* max */
    CLOSE(r.kld_pct[5], 0.25, 1e-7);                   /* median of 0 .1 .2 .3 .4 .5 */
    CLOSE(r.kld_pct[10], 0.0, 0);                      /* min */
    CLOSE(r.kld_pct[4], 0.45, 1e-6);                   /* 90%: 0.9 * 5 = 4.5 */
    CLOSE(r.dp_pct[0], 0.05, 1e-7);
    CLOSE(r.dp_pct[12], 0.0, 0);
    rk_verify_result_free(&r);
    rk_verify_result_free(&r);                          /* twice is fine */
    rk_verify_result_free(NULL);
}
END_TEST

/* ---- on a model --------------------------------------------------------------------------------------------- */

START_TEST(model_vs_itself) {
    rk_sample_opts so;
    rk_err err = { 0 };
    ck_assert_int_eq(rk_sample_defaults(&so, "qwen2", "tiny", &err), 0);
    char *dir = rk_test_tmpdir("verify_self");
    ck_assert_msg(rk_sample_write(dir, &so, &err) == 0, "%s", err.msg);
    rk_model *m;
    ck_assert_msg(rk_model_load(&m, dir, &err) == 0, "%s", err.msg);
    const int64_t V = rk_model_vocab(m), n = 200;
    int32_t tok[200];
    uint32_t s = 99;
    for (int64_t i = 0; i < n; i++) s = s * 1664525u + 1013904223u, tok[i] = (int32_t)((s >> 8) % (uint32_t)V);
    rk_verify_opts o = { 32, 2, 0, 1 };
    rk_verify_result r;
    ck_assert_msg(rk_verify_compare(m, m, tok, n, &o, NULL, NULL, &r, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(r.n_chunks, 2);
    ck_assert_int_eq(r.per_chunk, 15);
    ck_assert_int_eq(r.sums.count, 30);
    ck_assert(r.total.kld == 0 && r.total.dp == 0 && r.total.dp_rms == 0);
    ck_assert(r.total.ln_ratio == 0 && r.total.ratio == 1 && r.total.same_top == 1);
    CLOSE(r.total.cor, 1, 1e-9);
    ck_assert(r.kld_pct[0] == 0 && r.dp_pct[0] == 0 && r.dp_pct[12] == 0);
    /* PPL as rk_perplexity computes it (same chunks, BOS rule, scored positions) */
    rk_ppl_opts po = { 32, 2, 0, 1 };
    rk_ppl_result pr;
    ck_assert_msg(rk_perplexity(m, tok, n, &po, NULL, NULL, NULL, &pr, &err) == 0, "%s", err.msg);
    CLOSE(r.total.ppl, pr.ppl, 1e-5 * pr.ppl);
    CLOSE(r.total.ppl_base, pr.ppl, 1e-5 * pr.ppl);
    CLOSE(r.total.ppl_err, pr.ppl_err, 1e-4 * pr.ppl_err);
    for (int c = 0; c < 2; c++) CLOSE(r.chunk[c].ppl, pr.chunk_ppl[c], 1e-5 * pr.chunk_ppl[c]);
    const double c0 = pr.chunk_ppl[0];
    rk_ppl_result_free(&pr);
    rk_verify_result_free(&r);
    /* a smaller batch gives the same figures (first chunk); a text shorter than 2 x ctx is refused */
    rk_verify_opts o2 = { 32, 1, 5, 1 };
    ck_assert_msg(rk_verify_compare(m, m, tok, n, &o2, NULL, NULL, &r, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(r.sums.count, 15);
    CLOSE(r.total.ppl, c0, 1e-4 * c0);
    ck_assert(r.total.kld == 0);
    rk_verify_result_free(&r);
    ck_assert_int_eq(rk_verify_compare(m, m, tok, 63, &o, NULL, NULL, &r, &err), RK_EINVAL);
    tok[5] = (int32_t)V;
    ck_assert_int_eq(rk_verify_compare(m, m, tok, n, &o, NULL, NULL, &r, &err), RK_EINVAL);
    rk_model_free(m);
    rk_test_rmtree(dir);
    free(dir);
}
END_TEST

/* ---- the gate ------------------------------------------------------------------------------------------- */

START_TEST(gate) {
    rk_verify_gate g;
    rk_verify_gate_init(&g);
    rk_err err;
    const char ok[] = "{\"max_ppl_ratio\": 1.01, \"max_kld\": 0.03, \"min_top1\": 90}";
    ck_assert_int_eq(rk_verify_gate_parse(&g, ok, strlen(ok), "g.json", &err), 0);
    ck_assert(g.max_ppl_ratio == 1.01 && g.max_kld == 0.03 && g.min_top1 == 90);
    static const char *const bad[] = { "", "[]", "{", "{\"max_kld\": \"0.1\"}", "{\"max_kl\": 0.1}", "{\"min_top1\": 101}",
                                       "{\"max_ppl_ratio\": 0}", "{\"max_kld\": -1}", "3" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rk_verify_gate h;
        rk_verify_gate_init(&h);
        ck_assert_msg(rk_verify_gate_parse(&h, bad[i], strlen(bad[i]), "g.json", &err) == RK_EINVAL, "accepted %s", bad[i]);
        ck_assert(strstr(err.msg, "g.json") != NULL);
    }
    rk_verify_stats t = { 0 };
    t.ratio = 1.02, t.kld = 0.03, t.same_top = 0.899;
    rk_verify_gate_result r;
    rk_verify_gate_eval(&g, &t, &r);
    ck_assert_int_eq(r.n_set, 3);
    ck_assert_int_eq(r.n_failed, 2);
    ck_assert_str_eq(r.item[0].line, "FAIL PPL ratio 1.020000 > 1.010000");
    ck_assert_str_eq(r.item[1].line, "ok   mean KLD 0.030000 <= 0.030000");          /* equality passes */
    ck_assert_str_eq(r.item[2].line, "FAIL same top p 89.900% < 90.000%");
    rk_verify_gate_init(&g);
    g.max_kld = 0.1;
    t.kld = NAN;                                                                    /* NaN fails */
    rk_verify_gate_eval(&g, &t, &r);
    ck_assert(r.n_set == 1 && r.n_failed == 1 && !r.item[0].set && !r.item[1].pass && !r.item[2].set);
}
END_TEST

Suite *make_suite(void) {
    Suite *s = suite_create("verify");
    TCase *tc = tcase_create("token");
    tcase_add_test(tc, token_hand);
    tcase_add_test(tc, token_identical);
    tcase_add_test(tc, token_row);
    tcase_add_test(tc, token_sparse);
    suite_add_tcase(s, tc);
    tc = tcase_create("aggregate");
    tcase_add_test(tc, percentiles);
    tcase_add_test(tc, stats_hand);
    tcase_add_test(tc, accumulate);
    tcase_add_test(tc, gate);
    suite_add_tcase(s, tc);
    tc = tcase_create("model");
    tcase_add_test(tc, model_vs_itself);
    suite_add_tcase(s, tc);
    return s;
}

RK_TEST_MAIN()
