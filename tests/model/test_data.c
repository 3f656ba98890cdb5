/* tests/model/test_data.c — model/data.h: the block holdout split (fractions, no overlap, full coverage), batch
 * windows (consecutive tokens inside training stretches, seeded and resumable), held-out windows, a separate
 * held-out stream, option and argument errors, and the file path with the committed DeepSeek-V3 tokenizer
 * (EOS between files, errors naming the file). Streams are built with token i == position i, so a window's
 * tokens say exactly where it came from. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/data.h"
#include "model/tokenizer.h"
#include "tests/common/rk_test.h"

static int32_t *iota(int64_t n) {
    int32_t *t = malloc((size_t)n * sizeof *t);
    for (int64_t i = 0; i < n; i++) t[i] = (int32_t)i;
    return t;
}

static int held_block(int64_t i, double f) { return floor((double)(i + 1) * f) > floor((double)i * f); }

static rk_data *open_iota(int64_t n, double f, int64_t block) {
    int32_t *t = iota(n);
    rk_data_opts o = {.holdout = f, .block = block};
    rk_data *d = NULL;
    rk_err err = {0};
    ck_assert_msg(rk_data_from_tokens(&d, t, n, NULL, 0, &o, &err) == 0, "%s", err.msg);
    free(t);
    return d;
}

/* ---- split ------------------------------------------------------------------------------------------------- */
START_TEST(split_fractions) {
    const double fs[] = {0.0, 0.01, 0.1, 1.0 / 3.0, 0.25, 0.5};
    const int64_t n = 100003, block = 100, nb = (n + block - 1) / block;
    for (size_t k = 0; k < sizeof fs / sizeof fs[0]; k++) {
        const double f = fs[k];
        rk_data *d = open_iota(n, f, block);
        int64_t want_held = 0, held_blocks = 0, held_full = 0;
        for (int64_t i = 0; i < nb; i++)
            if (held_block(i, f)) {
                held_blocks++;
                const int64_t len = n - i * block < block ? n - i * block : block;
                want_held += len;
                held_full += len == block;
            }
        ck_assert_int_eq(held_blocks, (int64_t)floor((double)nb * f));   /* telescoping sum of the rule */
        ck_assert_int_eq(rk_data_heldout_tokens(d), want_held);
        ck_assert_int_eq(rk_data_train_tokens(d) + rk_data_heldout_tokens(d), n);
        /* held-out blocks are never adjacent for f <= 0.5, so windows of exactly one block are the held-out blocks */
        const int64_t T = block - 1;
        ck_assert_int_eq(rk_data_heldout_windows(d, T, 0), held_full);
        int32_t in[100], tg[100];
        int64_t w = 0;
        for (int64_t i = 0; i < nb; i++) {
            if (!held_block(i, f) || n - i * block < block) continue;
            rk_err err = {0};
            ck_assert_msg(rk_data_heldout_window(d, T, w, in, tg, &err) == 0, "%s", err.msg);
            ck_assert_int_eq(in[0], i * block);
            ck_assert_int_eq(tg[T - 1], i * block + block - 1);
            w++;
        }
        ck_assert_int_eq(w, held_full);
        rk_data_free(d);
    }
}
END_TEST

START_TEST(batch_windows_in_training) {
    /* small stream so that many draws cover every training position */
    const int64_t n = 2003, block = 50, nb = (n + block - 1) / block, T = 3, B = 50;
    const double f = 0.1;
    rk_data *d = open_iota(n, f, block);
    char *covered = calloc((size_t)n, 1);
    int32_t in[50 * 3], tg[50 * 3];
    rk_rng r;
    rk_rng_seed(&r, 5);
    int crossed = 0;
    for (int it = 0; it < 1000; it++) {
        rk_err err = {0};
        ck_assert_msg(rk_data_batch(d, &r, B, T, in, tg, &err) == 0, "%s", err.msg);
        for (int64_t b = 0; b < B; b++) {
            const int32_t *x = in + b * T, *y = tg + b * T;
            for (int64_t t = 0; t < T; t++) {
                ck_assert_int_eq(y[t], x[t] + 1);              /* targets are the inputs shifted by one */
                if (t) ck_assert_int_eq(x[t], x[t - 1] + 1);   /* consecutive tokens */
                ck_assert_msg(!held_block(x[t] / block, f), "token %d is held out", x[t]);
                covered[x[t]] = 1;
            }
            ck_assert_msg(!held_block(y[T - 1] / block, f), "target %d is held out", y[T - 1]);
            covered[y[T - 1]] = 1;
            crossed |= x[0] / block != y[T - 1] / block;
        }
    }
    /* every position of a training stretch (a run of training blocks) that holds T+1 tokens is reached; none else.
     * Here the last block (2000..2002) follows a held-out block and is too short for a window. */
    int64_t reachable = 0;
    for (int64_t b0 = 0; b0 < nb;) {
        int64_t b1 = b0 + 1;
        while (b1 < nb && held_block(b1, f) == held_block(b0, f)) b1++;
        const int64_t lo = b0 * block, hi = b1 * block < n ? b1 * block : n;
        const int ok = !held_block(b0, f) && hi - lo >= T + 1;
        for (int64_t i = lo; i < hi; i++)
            ck_assert_msg(covered[i] == ok, "position %lld: covered %d, expected %d", (long long)i, covered[i], ok);
        reachable += ok ? hi - lo : 0;
        b0 = b1;
    }
    ck_assert(!covered[2000] && reachable > n / 2);
    ck_assert_msg(crossed, "no window crossed between adjacent training blocks");
    free(covered);
    rk_data_free(d);
}
END_TEST

START_TEST(batch_determinism) {
    rk_data *d = open_iota(50000, 0.1, 512);
    enum { B = 4, T = 16 };
    int32_t a_in[B * T], a_tg[B * T], b_in[B * T], b_tg[B * T];
    rk_rng r1, r2;
    rk_rng_seed(&r1, 77);
    rk_rng_seed(&r2, 77);
    for (int it = 0; it < 10; it++) {
        ck_assert_int_eq(rk_data_batch(d, &r1, B, T, a_in, a_tg, NULL), 0);
        ck_assert_int_eq(rk_data_batch(d, &r2, B, T, b_in, b_tg, NULL), 0);
        ck_assert(memcmp(a_in, b_in, sizeof a_in) == 0 && memcmp(a_tg, b_tg, sizeof a_tg) == 0);
    }
    /* a copied state (a checkpoint) continues identically */
    rk_rng saved = r1;
    int32_t first[5][B * T];
    for (int it = 0; it < 5; it++) ck_assert_int_eq(rk_data_batch(d, &r1, B, T, first[it], a_tg, NULL), 0);
    r2 = saved;
    for (int it = 0; it < 5; it++) {
        ck_assert_int_eq(rk_data_batch(d, &r2, B, T, b_in, b_tg, NULL), 0);
        ck_assert(memcmp(first[it], b_in, sizeof b_in) == 0);
    }
    /* one draw per window: a batch of 4 is a batch of 3 followed by a batch of 1 */
    r1 = saved;
    r2 = saved;
    ck_assert_int_eq(rk_data_batch(d, &r1, 4, T, a_in, a_tg, NULL), 0);
    ck_assert_int_eq(rk_data_batch(d, &r2, 3, T, b_in, b_tg, NULL), 0);
    ck_assert_int_eq(rk_data_batch(d, &r2, 1, T, b_in + 3 * T, b_tg + 3 * T, NULL), 0);
    ck_assert(memcmp(a_in, b_in, sizeof a_in) == 0 && memcmp(r1.s, r2.s, sizeof r1.s) == 0);
    /* another seed gives other windows */
    rk_rng_seed(&r2, 78);
    ck_assert_int_eq(rk_data_batch(d, &r2, B, T, b_in, b_tg, NULL), 0);
    ck_assert(memcmp(a_in, b_in, sizeof a_in) != 0);
    rk_data_free(d);
}
END_TEST

START_TEST(heldout_windows) {
    rk_data *d = open_iota(10000, 0.25, 1000);   /* blocks 3 and 7 held out: 3000..3999, 7000..7999 */
    ck_assert_int_eq(rk_data_heldout_tokens(d), 2000);
    const int64_t T = 99;   /* windows of 100: 10 per block */
    ck_assert_int_eq(rk_data_heldout_windows(d, T, 0), 20);
    ck_assert_int_eq(rk_data_heldout_windows(d, T, 7), 7);
    ck_assert_int_eq(rk_data_heldout_windows(d, T, -1), 20);
    ck_assert_int_eq(rk_data_heldout_windows(d, 0, 0), 0);
    ck_assert_int_eq(rk_data_heldout_windows(d, 998, 0), 2);
    ck_assert_int_eq(rk_data_heldout_windows(d, 1000, 0), 0);   /* tail shorter than T+1 is dropped */
    int32_t in[99], tg[99], in2[99], tg2[99];
    for (int64_t i = 0; i < 20; i++) {
        ck_assert_int_eq(rk_data_heldout_window(d, T, i, in, tg, NULL), 0);
        ck_assert_int_eq(rk_data_heldout_window(d, T, i, in2, tg2, NULL), 0);
        ck_assert(memcmp(in, in2, sizeof in) == 0 && memcmp(tg, tg2, sizeof tg) == 0);
        ck_assert_int_eq(in[0], (i < 10 ? 3000 : 7000) + (i % 10) * 100);
        ck_assert_int_eq(tg[98], in[0] + 99);
    }
    rk_err err = {0};
    ck_assert_int_eq(rk_data_heldout_window(d, T, 20, in, tg, &err), RK_EINVAL);
    ck_assert_int_eq(rk_data_heldout_window(d, T, -1, in, tg, &err), RK_EINVAL);
    ck_assert_int_eq(rk_data_heldout_window(d, 0, 0, in, tg, &err), RK_EINVAL);
    rk_data_free(d);
}
END_TEST

START_TEST(separate_heldout) {
    int32_t *t = iota(5000), *h = iota(700);
    for (int i = 0; i < 700; i++) h[i] += 100000;
    rk_data_opts o = {.holdout = 0.4};   /* ignored */
    rk_data *d = NULL;
    rk_err err = {0};
    ck_assert_msg(rk_data_from_tokens(&d, t, 5000, h, 700, &o, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(rk_data_train_tokens(d), 5000);
    ck_assert_int_eq(rk_data_heldout_tokens(d), 700);
    ck_assert_int_eq(rk_data_heldout_windows(d, 99, 0), 7);
    int32_t in[99], tg[99];
    ck_assert_int_eq(rk_data_heldout_window(d, 99, 6, in, tg, NULL), 0);
    ck_assert_int_eq(in[0], 100600);
    /* batches come from the whole corpus */
    rk_rng r;
    rk_rng_seed(&r, 3);
    int32_t bi[4 * 4999], bt[4 * 4999];
    ck_assert_int_eq(rk_data_batch(d, &r, 4, 4999, bi, bt, NULL), 0);
    ck_assert_int_eq(bi[0], 0);   /* one start position only */
    ck_assert_int_eq(bt[4998], 4999);
    /* the caller's buffers are copied */
    t[0] = 42;
    ck_assert_int_eq(rk_data_batch(d, &r, 1, 4999, bi, bt, NULL), 0);
    ck_assert_int_eq(bi[0], 0);
    rk_data_free(d);
    free(t);
    free(h);
}
END_TEST

/* ---- errors ------------------------------------------------------------------------------------------------ */
static int try_open(int64_t n, double f, int64_t block, rk_err *err) {
    int32_t *t = iota(n > 0 ? n : 1);
    rk_data_opts o = {.holdout = f, .block = block};
    rk_data *d = (rk_data *)1;
    int rc = rk_data_from_tokens(&d, t, n, NULL, 0, &o, err);
    if (rc) ck_assert(d == NULL);
    rk_data_free(d);
    free(t);
    return rc;
}

/* replace_first: every training and held-out window starts with first_id; the rest and the targets unchanged */
START_TEST(window_first_token) {
    int32_t tok[3000], held[500];
    for (int i = 0; i < 3000; i++) tok[i] = 1000 + i;
    for (int i = 0; i < 500; i++) held[i] = 5000 + i;
    rk_data_opts o = { 0.0, 0, NULL, 1, 7 };
    rk_data *d;
    rk_err err = {0};
    ck_assert_int_eq(rk_data_from_tokens(&d, tok, 3000, held, 500, &o, &err), 0);
    rk_rng r;
    rk_rng_seed(&r, 1);
    int32_t in[4 * 16], tg[4 * 16];
    ck_assert_int_eq(rk_data_batch(d, &r, 4, 16, in, tg, &err), 0);
    for (int b = 0; b < 4; b++) {
        ck_assert_int_eq(in[b * 16], 7);
        for (int t = 1; t < 16; t++) ck_assert_int_eq(in[b * 16 + t], tg[b * 16 + t - 1]);
        ck_assert_int_eq(tg[b * 16 + 1], tg[b * 16] + 1);
    }
    ck_assert_int_eq(rk_data_heldout_window(d, 16, 2, in, tg, &err), 0);
    ck_assert_int_eq(in[0], 7);
    ck_assert_int_eq(in[1], 5000 + 2 * 17 + 1);
    ck_assert_int_eq(tg[0], 5000 + 2 * 17 + 1);
    rk_data_free(d);
}
END_TEST

START_TEST(errors) {
    rk_err err = {0};
    ck_assert_int_eq(try_open(0, 0.1, 0, &err), RK_EINVAL);
    ck_assert_int_eq(try_open(1, 0.0, 0, &err), RK_EINVAL);         /* not even one window of 2 */
    ck_assert_msg(strstr(err.msg, "window of 2") != NULL, "%s", err.msg);
    ck_assert_int_eq(try_open(2, 0.0, 0, &err), 0);
    ck_assert_int_eq(try_open(100, 0.6, 0, &err), RK_EINVAL);
    ck_assert_msg(strstr(err.msg, "0.6") != NULL, "%s", err.msg);
    ck_assert_int_eq(try_open(100, -0.01, 0, &err), RK_EINVAL);
    ck_assert_int_eq(try_open(100, NAN, 0, &err), RK_EINVAL);
    ck_assert_int_eq(try_open(100, 0.1, -5, &err), RK_EINVAL);
    ck_assert_int_eq(try_open(100, 0.5, 1, &err), RK_EINVAL);       /* every other token held out */
    ck_assert_int_eq(try_open(100, 0.5, 2, &err), 0);
    /* negative ids, empty separate held-out stream */
    int32_t bad[3] = {1, -2, 3};
    rk_data *d = NULL;
    ck_assert_int_eq(rk_data_from_tokens(&d, bad, 3, NULL, 0, NULL, &err), RK_EINVAL);
    int32_t ok[3] = {1, 2, 3};
    ck_assert_int_eq(rk_data_from_tokens(&d, ok, 3, ok, 0, NULL, &err), RK_EINVAL);
    ck_assert(d == NULL);

    /* batch arguments */
    d = open_iota(1000, 0.0, 0);
    rk_rng r;
    rk_rng_seed(&r, 1);
    const rk_rng r0 = r;
    int32_t in[8], tg[8];
    ck_assert_int_eq(rk_data_batch(d, &r, 0, 4, in, tg, &err), RK_EINVAL);
    ck_assert_int_eq(rk_data_batch(d, &r, 2, 0, in, tg, &err), RK_EINVAL);
    ck_assert_int_eq(rk_data_batch(d, &r, -1, 4, in, tg, &err), RK_EINVAL);
    ck_assert_int_eq(rk_data_batch(d, &r, INT64_MAX / 2, 4, in, tg, &err), RK_EINVAL);   /* B·T overflows */
    ck_assert_int_eq(rk_data_batch(d, &r, 1, INT64_MAX, in, tg, &err), RK_EINVAL);
    ck_assert_int_eq(rk_data_batch(d, &r, 1, 1000, in, tg, &err), RK_EINVAL);   /* T+1 = 1001 > 1000 tokens */
    ck_assert_msg(strstr(err.msg, "1001") != NULL, "%s", err.msg);
    ck_assert(memcmp(&r, &r0, sizeof r) == 0);   /* failed calls draw nothing */
    int32_t *big_in = malloc(999 * sizeof(int32_t)), *big_tg = malloc(999 * sizeof(int32_t));
    ck_assert_int_eq(rk_data_batch(d, &r, 1, 999, big_in, big_tg, &err), 0);   /* exactly fits */
    ck_assert_int_eq(big_in[0], 0);
    free(big_in);
    free(big_tg);
    ck_assert_int_eq(rk_data_heldout_windows(d, 4, 0), 0);   /* no holdout */
    ck_assert_int_eq(rk_data_heldout_window(d, 4, 0, in, tg, &err), RK_EINVAL);
    rk_data_free(d);
    rk_data_free(NULL);
}
END_TEST

/* ---- from files -------------------------------------------------------------------------------------------- */
static rk_tokenizer *load_tok(void) {
    char path[4096];
    snprintf(path, sizeof path, "%.3900s/tests/model/tokenizers/deepseek_v3", rk_test_source_dir());
    rk_tokenizer *t = NULL;
    rk_err err = {0};
    ck_assert_msg(rk_tokenizer_load(&t, path, &err) == 0, "%s", err.msg);
    return t;
}

static char *in_dir(const char *dir, const char *name) {
    char *p = NULL;
    ck_assert(asprintf(&p, "%s/%s", dir, name) > 0);
    return p;
}

START_TEST(from_files) {
    rk_tokenizer *tok = load_tok();
    const int32_t eos = rk_tokenizer_eos_id(tok);
    ck_assert(eos >= 0);
    char *dir = rk_test_tmpdir("data");
    char *f1 = in_dir(dir, "a.txt"), *f2 = in_dir(dir, "b.txt"), *f3 = in_dir(dir, "held.txt");
    char *fe = in_dir(dir, "empty.txt"), *fm = in_dir(dir, "missing.txt");
    const char *t1 = "The quick brown fox jumps over the lazy dog.\nSecond line, with numbers 12345.",
               *t2 = "Ein zweites Dokument: Grüße aus Köln!", *t3 = "Held-out text, not for training.";
    rk_test_write_file(f1, t1, strlen(t1));
    rk_test_write_file(f2, t2, strlen(t2));
    rk_test_write_file(f3, t3, strlen(t3));
    rk_test_write_file(fe, "", 0);
    int32_t *e1, *e2, *e3;
    size_t n1, n2, n3;
    rk_err err = {0};
    ck_assert(rk_tokenizer_encode(tok, t1, strlen(t1), 0, &e1, &n1, &err) == 0);
    ck_assert(rk_tokenizer_encode(tok, t2, strlen(t2), 0, &e2, &n2, &err) == 0);
    ck_assert(rk_tokenizer_encode(tok, t3, strlen(t3), 0, &e3, &n3, &err) == 0);

    /* two files: e1 EOS e2; one batch window of the whole stream shows its exact content */
    const char *paths[2] = {f1, f2};
    rk_data_opts o = {.heldout_path = f3};
    rk_data *d = NULL;
    ck_assert_msg(rk_data_open(&d, paths, 2, tok, &o, &err) == 0, "%s", err.msg);
    const int64_t n = (int64_t)(n1 + 1 + n2);
    ck_assert_int_eq(rk_data_train_tokens(d), n);
    ck_assert_int_eq(rk_data_heldout_tokens(d), (int64_t)n3);
    int32_t *in = malloc((size_t)n * sizeof *in), *tg = malloc((size_t)n * sizeof *tg);
    rk_rng r;
    rk_rng_seed(&r, 1);
    ck_assert_int_eq(rk_data_batch(d, &r, 1, n - 1, in, tg, &err), 0);
    ck_assert(memcmp(in, e1, n1 * sizeof *e1) == 0);
    ck_assert_int_eq(in[n1], eos);
    ck_assert(memcmp(tg + n1, e2, n2 * sizeof *e2) == 0);
    ck_assert_int_eq(rk_data_heldout_windows(d, (int64_t)n3 - 1, 0), 1);
    ck_assert_int_eq(rk_data_heldout_window(d, (int64_t)n3 - 1, 0, in, tg, &err), 0);
    ck_assert(memcmp(in, e3, (n3 - 1) * sizeof *e3) == 0);
    /* T too large: names T+1 */
    ck_assert_int_eq(rk_data_batch(d, &r, 1, n, in, tg, &err), RK_EINVAL);
    rk_data_free(d);

    /* one file, no EOS added, split options honoured */
    rk_data_opts o2 = {.holdout = 0.5, .block = 4};
    ck_assert_msg(rk_data_open(&d, paths, 1, tok, &o2, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(rk_data_train_tokens(d) + rk_data_heldout_tokens(d), (int64_t)n1);
    ck_assert(rk_data_heldout_tokens(d) > 0);
    rk_data_free(d);

    /* errors name the file */
    const char *with_empty[2] = {f1, fe};
    d = (rk_data *)1;
    ck_assert_int_eq(rk_data_open(&d, with_empty, 2, tok, NULL, &err), RK_EINVAL);
    ck_assert(d == NULL);
    ck_assert_msg(strstr(err.msg, fe) != NULL, "%s", err.msg);
    const char *with_missing[2] = {f1, fm};
    ck_assert_int_eq(rk_data_open(&d, with_missing, 2, tok, NULL, &err), RK_ENOTFOUND);
    ck_assert_msg(strstr(err.msg, fm) != NULL, "%s", err.msg);
    rk_data_opts o3 = {.heldout_path = fm};
    ck_assert_int_eq(rk_data_open(&d, paths, 1, tok, &o3, &err), RK_ENOTFOUND);
    ck_assert_msg(strstr(err.msg, fm) != NULL, "%s", err.msg);
    o3.heldout_path = fe;
    ck_assert_int_eq(rk_data_open(&d, paths, 1, tok, &o3, &err), RK_EINVAL);
    ck_assert_msg(strstr(err.msg, fe) != NULL, "%s", err.msg);
    rk_data_opts o4 = {.holdout = 0.7};
    ck_assert_int_eq(rk_data_open(&d, paths, 1, tok, &o4, &err), RK_EINVAL);
    ck_assert_msg(strstr(err.msg, f1) != NULL, "%s", err.msg);
    ck_assert_int_eq(rk_data_open(&d, paths, 0, tok, NULL, &err), RK_EINVAL);
    ck_assert_int_eq(rk_data_open(&d, paths, 1, NULL, NULL, &err), RK_EINVAL);
    /* a directory is not a text file */
    const char *dirs[1] = {dir};
    ck_assert_int_eq(rk_data_open(&d, dirs, 1, tok, NULL, &err), RK_EIO);
    ck_assert_msg(strstr(err.msg, dir) != NULL, "%s", err.msg);

    free(in);
    free(tg);
    free(e1);
    free(e2);
    free(e3);
    rk_test_rmtree(dir);
    free(dir);
    free(f1);
    free(f2);
    free(f3);
    free(fe);
    free(fm);
    rk_tokenizer_free(tok);
}
END_TEST

Suite *make_suite(void) {
    Suite *s = suite_create("data");
    TCase *tc = tcase_create("split");
    tcase_add_test(tc, split_fractions);
    tcase_add_test(tc, heldout_windows);
    tcase_add_test(tc, separate_heldout);
    suite_add_tcase(s, tc);
    tc = tcase_create("batch");
    tcase_add_test(tc, batch_windows_in_training);
    tcase_add_test(tc, batch_determinism);
    suite_add_tcase(s, tc);
    tc = tcase_create("errors");
    tcase_add_test(tc, errors);
    tcase_add_test(tc, window_first_token);
    suite_add_tcase(s, tc);
    tc = tcase_create("files");
    tcase_add_test(tc, from_files);
    suite_add_tcase(s, tc);
    return s;
}

RK_TEST_MAIN()
