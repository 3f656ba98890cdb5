/* tests/verify/test_llama_base.c — reading llama-perplexity's --kl-divergence-base file (verify/llama_base.c):
 * a hand-made file decodes to llama.cpp's values (log p = scale*q + min, nll/top from them, entries at or below
 * -16 nats out of the KLD), and every corruption of the header, the length or a token is refused by name. */
#define _GNU_SOURCE
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "tests/common/rk_test.h"
#include "verify/compare.h"

/* n_ctx 4 (one scored row per chunk: position 2 predicts token 3), vocab 3 (nv = 8), 2 chunks */
static size_t make_file(uint8_t *b, float scale, float min_lp, const uint16_t q[3]) {
    size_t n = 0;
    memcpy(b, "_logits_", 8), n = 8;
    const uint32_t hdr[3] = { 4, 3, 2 };
    memcpy(b + n, hdr, 12), n += 12;
    const int32_t tok[8] = { 1, 2, 0, 2, 0, 1, 1, 0 };
    memcpy(b + n, tok, sizeof tok), n += sizeof tok;
    for (int c = 0; c < 2; c++) {
        uint16_t row[8] = { 0 };
        const float d[2] = { scale, min_lp + (float)c };
        memcpy(row, d, 8);
        memcpy(row + 4, q, 6);
        memcpy(b + n, row, sizeof row), n += sizeof row;
    }
    return n;
}

START_TEST(decode) {
    char *dir = rk_test_tmpdir("llama_base");
    char p[1024];
    snprintf(p, sizeof p, "%s/base.kld", dir);
    uint8_t buf[256];
    const uint16_t q[3] = { 65535, 0, 30000 };
    const float scale = 16.0f / 65535, min_lp = -16.5f;
    rk_test_write_file(p, buf, make_file(buf, scale, min_lp, q));
    rk_verify_llama_base *b;
    rk_err err;
    ck_assert_msg(rk_verify_llama_base_open(&b, p, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(rk_verify_llama_base_ctx(b), 4);
    ck_assert_int_eq(rk_verify_llama_base_vocab(b), 3);
    ck_assert_int_eq(rk_verify_llama_base_chunks(b), 2);
    ck_assert_int_eq(rk_verify_llama_base_tokens(b)[3], 2);
    rk_verify_row row;
    const int32_t *t = rk_verify_llama_base_tokens(b);
    ck_assert_int_eq(rk_verify_llama_base_rows(b, 0, t, 4, t + 3, 1, &row, &err), 0);
    ck_assert(row.ids == NULL && row.n == 3 && row.top == 0);
    const float l0 = scale * 65535 + min_lp, l2 = scale * 30000 + min_lp;
    ck_assert(row.logprob[0] == l0);
    ck_assert(isinf(row.logprob[1]) && row.logprob[1] < 0);      /* -16.5: below the window */
    ck_assert(row.logprob[2] == l2);
    ck_assert(row.nll == -(double)l2);                          /* target token 2 */
    /* chunk 1 (min + 1): token 1 is at -15.5 now, inside the window; target token 0 */
    ck_assert_int_eq(rk_verify_llama_base_rows(b, 1, t + 4, 4, t + 7, 1, &row, &err), 0);
    ck_assert(row.logprob[1] == -15.5f);
    ck_assert(fabs(row.nll + (double)(scale * 65535 + min_lp + 1)) < 1e-6);
    /* the KLD against candidate logits skips the -inf entry, as llama.cpp skips log p <= -16 */
    rk_verify_llama_base_rows(b, 0, t, 4, t + 3, 1, &row, &err);
    const float cand[3] = { 1, 0, -1 };
    rk_verify_tok tk;
    ck_assert_int_eq(rk_verify_token(&row, cand, 3, 2, &tk, &err), 0);
    const double lse = log(exp(1) + 1 + exp(-1));
    const double want = exp(l0) * (l0 - (1 - lse)) + exp(l2) * (l2 - (-1 - lse));
    ck_assert_msg(fabs(tk.kld - want) < 1e-6, "kld %g want %g", tk.kld, want);
    ck_assert_int_eq(rk_verify_llama_base_rows(b, 2, t, 4, t + 3, 1, &row, &err), RK_EINVAL);   /* no chunk 2 */
    ck_assert_int_eq(rk_verify_llama_base_rows(b, 0, t, 8, t + 3, 1, &row, &err), RK_EINVAL);   /* other ctx */
    rk_verify_llama_base_close(b);
    rk_verify_llama_base_close(NULL);
    rk_test_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(corrupt) {
    char *dir = rk_test_tmpdir("llama_base_bad");
    char p[1024];
    snprintf(p, sizeof p, "%s/base.kld", dir);
    const uint16_t q[3] = { 1, 2, 3 };
    uint8_t good[256], buf[256];
    const size_t n = make_file(good, 1e-3f, -5, q);
    rk_verify_llama_base *b = NULL;
    rk_err err;
    const struct { const char *what; size_t off; uint32_t val; long dlen; const char *msg; } cases[] = {
        { "magic", 0, 0x6f6c5f5f, 0, "_logits_" },
        { "n_ctx 2", 8, 2, 0, "out of range" },
        { "n_ctx huge", 8, 0x7fffffff, 0, "out of range" },
        { "n_vocab 0", 12, 0, 0, "out of range" },
        { "n_vocab negative", 12, 0xffffffff, 0, "out of range" },
        { "n_chunk 0", 16, 0, 0, "out of range" },
        { "n_chunk 3", 16, 3, 0, "needs" },
        { "n_chunk huge", 16, 0x7fffffff, 0, "needs" },
        { "token out of range", 20 + 4 * 5, 3, 0, "outside n_vocab" },
        { "token negative", 20, 0xffffffff, 0, "outside n_vocab" },
        { "one byte more", 0, 0, 1, "needs" },
        { "one byte less", 0, 0, -1, "needs" },
        { "header only", 0, 0, -(long)(n - 20), "needs" },
        { "short header", 0, 0, -(long)(n - 12), "_logits_" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memcpy(buf, good, n);
        if (cases[i].off || !strcmp(cases[i].what, "magic")) memcpy(buf + cases[i].off, &cases[i].val, 4);
        rk_test_write_file(p, buf, (size_t)((long)n + cases[i].dlen));
        int rc = rk_verify_llama_base_open(&b, p, &err);
        ck_assert_msg(rc == RK_ECORRUPT, "%s: rc %d", cases[i].what, rc);
        ck_assert_ptr_null(b);
        ck_assert_msg(strstr(err.msg, cases[i].msg) && strstr(err.msg, p), "%s: '%s'", cases[i].what, err.msg);
    }
    /* a NaN scale is refused when its chunk is read */
    memcpy(buf, good, n);
    const float nan = NAN;
    memcpy(buf + 20 + 32, &nan, 4);
    rk_test_write_file(p, buf, n);
    ck_assert_int_eq(rk_verify_llama_base_open(&b, p, &err), 0);
    rk_verify_row row;
    const int32_t *t = rk_verify_llama_base_tokens(b);
    ck_assert_int_eq(rk_verify_llama_base_rows(b, 0, t, 4, t + 3, 1, &row, &err), RK_ECORRUPT);
    ck_assert_int_eq(rk_verify_llama_base_rows(b, 1, t + 4, 4, t + 7, 1, &row, &err), 0);
    rk_verify_llama_base_close(b);
    snprintf(p, sizeof p, "%s/missing.kld", dir);
    ck_assert_int_eq(rk_verify_llama_base_open(&b, p, &err), RK_ENOTFOUND);
    rk_test_rmtree(dir);
    free(dir);
}
END_TEST

Suite *make_suite(void) {
    Suite *s = suite_create("verify_llama_base");
    TCase *tc = tcase_create("llama_base");
    tcase_add_test(tc, decode);
    tcase_add_test(tc, corrupt);
    suite_add_tcase(s, tc);
    return s;
}

RK_TEST_MAIN()
