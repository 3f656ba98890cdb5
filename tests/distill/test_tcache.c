/* tests/distill/test_tcache.c — distill/teacher_cache.c: round trip (vocabulary 50, T = 7, k = 5 and k = vocab,
 * ties and −inf logits) against an independent top-k / log-softmax / log-rest computation, reads out of order,
 * k = vocab giving back the full log-softmax (and, through rk_kd_loss_sparse, the dense loss); every single-byte
 * flip of a small file and every truncation is an error (RK_ECORRUPT, from open or from reading the windows, a
 * one-line message naming the file) and never a crash; records re-encoded with valid CRCs but bad content (size,
 * trailing bytes, ids, log-probs, mass, tokens) and headers with valid CRCs but impossible counts are caught;
 * nothing is left in the folder after abort or a failed finish (an existing target is untouched); bad
 * arguments. */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "distill/kd_loss.h"
#include "distill/teacher_cache.h"
#include "tests/common/rk_test.h"

static uint64_t g_rng = 0x0123456789ABCDEFull;
static uint32_t urand(void) {
    g_rng ^= g_rng << 13; g_rng ^= g_rng >> 7; g_rng ^= g_rng << 17;
    return (uint32_t)(g_rng >> 32);
}
static float frand(void) { return (float)(urand() * 0x1p-32 * 2.0 - 1.0); }

typedef struct fixture {
    rk_tcache_info info;
    int32_t *tokens;   /* [W, T+1] */
    float *logits;     /* [W, T, V] */
} fixture;

static fixture make_fixture(int64_t T, int64_t W, int64_t V, int64_t k) {
    fixture f = {{T, W, V, k, 3, 0x1234567890ABCDEFull, V}, NULL, NULL};
    f.tokens = malloc(sizeof(int32_t) * (size_t)(W * (T + 1)));
    f.logits = malloc(sizeof(float) * (size_t)(W * T * V));
    ck_assert(f.tokens && f.logits);
    for (int64_t i = 0; i < W * (T + 1); i++) f.tokens[i] = (int32_t)(urand() % (uint32_t)V);
    for (int64_t i = 0; i < W * T * V; i++) f.logits[i] = 6.0f * frand() + 20.0f;   /* any shift */
    /* ties across the top-k boundary and masked entries */
    for (int64_t r = 0; r < W * T; r += 2) {
        float *row = f.logits + r * V;
        for (int64_t j = 0; j < V; j += 3) row[j] = 25.0f;
        if (V > 4) row[1] = row[4] = -INFINITY;
    }
    return f;
}
static void free_fixture(fixture *f) { free(f->tokens), free(f->logits); }

static int write_cache(const char *path, const fixture *f, rk_err *err) {
    rk_tcache_writer *w = NULL;
    int rc = rk_tcache_create(&w, path, &f->info, err);
    if (rc) return rc;
    const int64_t T = f->info.T, V = f->info.vocab;
    for (int64_t i = 0; i < f->info.n_windows; i++)
        if ((rc = rk_tcache_put(w, f->tokens + i * (T + 1), f->logits + i * T * V, err))) {
            rk_tcache_abort(w);
            return rc;
        }
    ck_assert(rk_tcache_writer_count(w) == f->info.n_windows);
    return rk_tcache_finish(w, err);
}

/* the expected row, independently: log-softmax in double, the k largest by (logit desc, id asc) by selection */
static void expect_row(const float *row, int64_t V, int64_t k, int32_t *ids, float *lp, float *lrest) {
    double m = -INFINITY, s = 0.0;
    for (int64_t i = 0; i < V; i++) if (row[i] > m) m = row[i];
    for (int64_t i = 0; i < V; i++) s += exp((double)row[i] - m);
    const double lse = m + log(s);
    char *kept = calloc((size_t)V, 1);
    ck_assert_ptr_nonnull(kept);
    ck_assert(k >= 0 && k <= V);
    for (int64_t n = 0; n < k; n++) {
        int64_t best = -1;
        for (int64_t i = 0; i < V; i++)
            if (!kept[i] && (best < 0 || row[i] > row[best])) best = i;
        ck_assert(best >= 0);
        kept[best] = 1;
    }
    double rest = 0.0;
    for (int64_t i = 0, n = 0; i < V; i++) {
        if (kept[i]) { ids[n] = (int32_t)i; lp[n++] = (float)((double)row[i] - lse); }
        else rest += exp((double)row[i] - lse);
    }
    *lrest = rest > 0 ? (float)log(rest) : -INFINITY;
    free(kept);
}

static void check_window(rk_tcache *c, const fixture *f, int64_t i) {
    const int64_t T = f->info.T, V = f->info.vocab, k = f->info.k;
    int32_t *tok = malloc(sizeof(int32_t) * (size_t)(T + 1)), *ids = malloc(sizeof(int32_t) * (size_t)(T * k));
    float *lp = malloc(sizeof(float) * (size_t)(T * k)), *rest = malloc(sizeof(float) * (size_t)T);
    int32_t *eids = malloc(sizeof(int32_t) * (size_t)k);
    float *elp = malloc(sizeof(float) * (size_t)k), erest;
    rk_err err;
    ck_assert_msg(rk_tcache_read(c, i, tok, ids, lp, rest, &err) == 0, "%s", err.msg);
    ck_assert(memcmp(tok, f->tokens + i * (T + 1), sizeof(int32_t) * (size_t)(T + 1)) == 0);
    for (int64_t t = 0; t < T; t++) {
        expect_row(f->logits + (i * T + t) * V, V, k, eids, elp, &erest);
        ck_assert_msg(memcmp(ids + t * k, eids, sizeof(int32_t) * (size_t)k) == 0, "window %lld pos %lld: ids differ",
                      (long long)i, (long long)t);
        for (int64_t j = 0; j < k; j++)
            ck_assert_msg(elp[j] == -INFINITY ? lp[t * k + j] == -INFINITY : fabsf(lp[t * k + j] - elp[j]) <= 2e-6f,
                          "window %lld pos %lld [%lld]: %.9g vs %.9g", (long long)i, (long long)t, (long long)j,
                          lp[t * k + j], elp[j]);
        ck_assert_msg(erest == -INFINITY ? rest[t] == -INFINITY : fabsf(rest[t] - erest) <= 2e-6f,
                      "window %lld pos %lld: log_rest %.9g vs %.9g", (long long)i, (long long)t, rest[t], erest);
    }
    free(tok), free(ids), free(lp), free(rest), free(eids), free(elp);
}

START_TEST(roundtrip) {
    char *dir = rk_test_tmpdir("tcache");
    char path[1024];
    snprintf(path, sizeof path, "%s/t.r1ktc", dir);
    const int64_t ks[] = {5, 50, 1};
    for (int ki = 0; ki < 3; ki++) {
        fixture f = make_fixture(7, 6, 50, ks[ki]);
        rk_err err;
        ck_assert_msg(write_cache(path, &f, &err) == 0, "%s", err.msg);
        rk_tcache *c = NULL;
        ck_assert_msg(rk_tcache_open(&c, path, &err) == 0, "%s", err.msg);
        const rk_tcache_info *in = rk_tcache_get_info(c);
        ck_assert(in->T == 7 && in->n_windows == 6 && in->vocab == 50 && in->k == ks[ki] && in->first_token == 3 &&
                  in->tok_fingerprint == f.info.tok_fingerprint && in->tok_vocab == 50);
        const int64_t order[] = {3, 0, 5, 5, 1, 4, 2, 0};
        for (int j = 0; j < 8; j++) check_window(c, &f, order[j]);
        int32_t tok[8], ids[7 * 50];
        float lp[7 * 50], rest[7];
        ck_assert(rk_tcache_read(c, 6, tok, ids, lp, rest, &err) == RK_EINVAL);
        ck_assert(rk_tcache_read(c, -1, tok, ids, lp, rest, &err) == RK_EINVAL);
        if (ks[ki] == 50) {
            /* every id kept: the full log-softmax, and the sparse loss is the dense loss on the logits */
            ck_assert(rk_tcache_read(c, 2, tok, ids, lp, rest, &err) == 0);
            float s[7 * 50];
            for (int i = 0; i < 7 * 50; i++) s[i] = 2.0f * frand();
            const rk_kd_sparse sp = {50, ids, lp, rest};
            for (int kind = 0; kind < 3; kind++) {
                const rk_kd_cfg cfg = {kind, 2.0, 0.5};
                const double a = rk_kd_loss_sparse(s, &sp, 7, 50, &cfg);
                const double b = rk_kd_loss(s, f.logits + 2 * 7 * 50, 7, 50, &cfg);
                ck_assert_msg(fabs(a - b) <= 1e-5 * b, "kind %d: %.10g vs %.10g", kind, a, b);
            }
        }
        rk_tcache_close(c);
        free_fixture(&f);
    }
    rk_test_rmtree(dir);
    free(dir);
}
END_TEST

/* a small cache file in memory */
static uint8_t *small_cache(const char *dir, int64_t k, size_t *n) {
    char path[1024];
    snprintf(path, sizeof path, "%s/small.r1ktc", dir);
    fixture f = make_fixture(3, 3, 12, k);
    rk_err err;
    ck_assert_msg(write_cache(path, &f, &err) == 0, "%s", err.msg);
    free_fixture(&f);
    uint8_t *d = rk_test_read_file(path, n);
    ck_assert(d);
    remove(path);
    return d;
}

/* 0 if the buffer opens and every window reads; else the first error code (err filled) */
static int open_and_read_all(const uint8_t *d, size_t n, rk_err *err) {
    rk_tcache *c = NULL;
    int rc = rk_tcache_open_buffer(&c, d, n, "mem.r1ktc", err);
    if (rc) {
        ck_assert(c == NULL);
        return rc;
    }
    const rk_tcache_info *in = rk_tcache_get_info(c);
    int32_t tok[64], ids[1024];
    float lp[1024], rest[64];
    ck_assert(in->T + 1 <= 64 && in->T * in->k <= 1024);
    for (int64_t i = 0; i < in->n_windows && !rc; i++) rc = rk_tcache_read(c, i, tok, ids, lp, rest, err);
    rk_tcache_close(c);
    return rc;
}

static void check_msg(const rk_err *err) {
    ck_assert_msg(strncmp(err->msg, "mem.r1ktc: ", 11) == 0 && !strchr(err->msg, '\n'), "message: %s", err->msg);
}

START_TEST(flip_every_byte) {
    char *dir = rk_test_tmpdir("tcache");
    for (int64_t k = 3; k <= 12; k += 9) {
        size_t n;
        uint8_t *d = small_cache(dir, k, &n);
        rk_err err;
        ck_assert_msg(open_and_read_all(d, n, &err) == 0, "%s", err.msg);
        const uint8_t masks[] = {0x01, 0x80, 0xFF};
        for (size_t pos = 0; pos < n; pos++)
            for (int m = 0; m < 3; m++) {
                d[pos] ^= masks[m];
                const int rc = open_and_read_all(d, n, &err);
                ck_assert_msg(rc == RK_ECORRUPT, "k %lld: flip %02x at %zu of %zu: rc %d (%s)", (long long)k, masks[m], pos,
                              n, rc, rc ? err.msg : "accepted");
                check_msg(&err);
                d[pos] ^= masks[m];
            }
        /* every truncation, and one byte more */
        for (size_t len = 0; len < n; len++) {
            const int rc = open_and_read_all(d, len, &err);
            ck_assert_msg(rc == RK_ECORRUPT, "truncated to %zu: rc %d", len, rc);
            check_msg(&err);
        }
        uint8_t *longer = malloc(n + 1);
        memcpy(longer, d, n);
        longer[n] = 0;
        ck_assert(open_and_read_all(longer, n + 1, &err) == RK_ECORRUPT);
        free(longer);
        free(d);
    }
    rk_test_rmtree(dir);
    free(dir);
}
END_TEST

/* ---- an independent encoder of the format, to make files whose CRCs are right but whose content is not ---- */
static void p32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static void p64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }

/* header fields of a file made by build(): T, n, V, k */
typedef struct hdr { uint64_t T, n, V, k; } hdr;

/* a file from raw (uncompressed) records recs[n] of lens[n] bytes; comp_extra appends bytes after record 0's stream */
static uint8_t *build(hdr h, uint8_t **recs, const size_t *lens, int comp_extra, size_t *out_n) {
    uint8_t *out = calloc(1, 128 + h.n * (compressBound(1 << 16) + 8) + 16 * h.n + 4);
    uint8_t *idx = malloc(16 * h.n);
    size_t pos = 128;
    for (uint64_t i = 0; i < h.n; i++) {
        uLongf cl = compressBound((uLong)lens[i]);
        ck_assert(compress2(out + pos, &cl, recs[i], (uLong)lens[i], 6) == Z_OK);
        if (i == 0 && comp_extra) out[pos + cl++] = 0x55;
        p64(idx + 16 * i, pos);
        p32(idx + 16 * i + 8, (uint32_t)cl);
        p32(idx + 16 * i + 12, (uint32_t)crc32(0, out + pos, (uInt)cl));
        pos += cl;
    }
    memcpy(out, "R1KTCACH", 8);
    p32(out + 8, 1), p32(out + 12, 128), p64(out + 16, h.T), p64(out + 24, h.n), p64(out + 32, h.V), p64(out + 40, h.k);
    p64(out + 56, h.V), p64(out + 64, (uint64_t)-1), p64(out + 72, pos);
    p32(out + 124, (uint32_t)crc32(0, out, 124));
    memcpy(out + pos, idx, 16 * h.n);
    p32(out + pos + 16 * h.n, (uint32_t)crc32(0, idx, (uInt)(16 * h.n)));
    free(idx);
    *out_n = pos + 16 * h.n + 4;
    return out;
}

/* a valid raw record for T, V, k: ids 0..k-1, uniform probabilities, the rest holding the remainder */
static size_t valid_raw(uint8_t *r, uint64_t T, uint64_t V, uint64_t k) {
    int32_t *tok = (int32_t *)(void *)r, *ids = tok + T + 1;
    float *lp = (float *)(void *)(ids + T * k), *rest = lp + T * k;
    for (uint64_t i = 0; i <= T; i++) tok[i] = (int32_t)(i % V);
    for (uint64_t t = 0; t < T; t++) {
        for (uint64_t j = 0; j < k; j++) ids[t * k + j] = j ? 1 : 0, lp[t * k + j] = (float)-log((double)V);
        rest[t] = k == V ? -INFINITY : (float)log((double)(V - k) / (double)V);
    }
    return (size_t)(4 * (T + 1) + 8 * T * k + 4 * T);
}

START_TEST(crafted) {
    enum { T = 4, V = 10, K = 3 };
    static uint8_t r0[4096], r1[4096];
    uint8_t *recs[2] = {r0, r1};
    size_t lens[2], n;
    rk_err err;
    const hdr h = {T, 2, V, K};
    int32_t *tok = (int32_t *)(void *)r1, *ids = tok + T + 1;
    float *lp = (float *)(void *)(ids + T * K), *rest = lp + T * K;
    /* the encoder agrees with the reader */
    lens[0] = valid_raw(r0, T, V, K), lens[1] = valid_raw(r1, T, V, K);
    uint8_t *d = build(h, recs, lens, 0, &n);
    ck_assert_msg(open_and_read_all(d, n, &err) == 0, "%s", err.msg);
    free(d);
    struct { const char *what, *expect; } cases[] = {
        {"short", "fewer bytes"}, {"long", "more bytes"}, {"trailing", "after the end"}, {"not ascending", "ascending"},
        {"delta 0", "ascending"}, {"id range", "outside the vocabulary"}, {"lp nan", "NaN or positive"},
        {"lp positive", "NaN or positive"}, {"rest positive", "log_rest"}, {"mass", "sum to 1"},
        {"token", "token"}, {"rest nan", "log_rest"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        lens[0] = valid_raw(r0, T, V, K), lens[1] = valid_raw(r1, T, V, K);
        int extra = 0;
        switch (c) {
        case 0: lens[1] -= 4; break;
        case 1: lens[1] += 4; break;
        case 2: extra = 1; break;
        case 3: ids[2 * K + 2] = -1; break;
        case 4: ids[2 * K + 1] = 0; break;
        case 5: ids[2 * K + 2] = V; break;
        case 6: lp[1] = NAN; break;
        case 7: lp[1] = 0.01f; break;
        case 8: rest[3] = 0.001f; break;
        case 9: lp[5] = -0.5f; break;
        case 10: tok[T] = V; break;
        case 11: rest[0] = NAN; break;
        }
        d = build(h, recs, lens, extra, &n);
        const int rc = open_and_read_all(d, n, &err);
        ck_assert_msg(rc == RK_ECORRUPT && strstr(err.msg, cases[c].expect) &&
                      strstr(err.msg, extra ? "window 0" : "window 1"), "%s: rc %d: %s", cases[c].what, rc, err.msg);
        check_msg(&err);
        free(d);
    }
    /* k = vocab with a finite rest */
    const hdr hf = {T, 2, V, V};
    lens[0] = valid_raw(r0, T, V, V), lens[1] = valid_raw(r1, T, V, V);
    d = build(hf, recs, lens, 0, &n);
    ck_assert(open_and_read_all(d, n, &err) == 0);
    free(d);
    float *restf = (float *)(void *)(r1 + 4 * (T + 1) + 8 * T * V);
    restf[1] = -30.0f;
    d = build(hf, recs, lens, 0, &n);
    ck_assert(open_and_read_all(d, n, &err) == RK_ECORRUPT && strstr(err.msg, "every id kept"));
    free(d);
    /* headers with valid CRCs but impossible counts: refused before allocating */
    const hdr bad[] = {
        {T, (uint64_t)1 << 60, V, K}, {T, 3, V, K}, {T, 1, V, K}, {0, 2, V, K}, {T, 2, V, 0}, {T, 2, V, V + 1},
        {(uint64_t)1 << 40, 2, V, K}, {T, 2, (uint64_t)1 << 40, K}, {1 << 20, 2, 1 << 24, 1 << 24}, {T + 1, 2, V, K},
    };
    lens[0] = valid_raw(r0, T, V, K), lens[1] = valid_raw(r1, T, V, K);
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
        d = build(h, recs, lens, 0, &n);
        p64(d + 16, bad[b].T), p64(d + 24, bad[b].n), p64(d + 32, bad[b].V), p64(d + 40, bad[b].k);
        p32(d + 124, (uint32_t)crc32(0, d, 124));
        const int rc = open_and_read_all(d, n, &err);
        ck_assert_msg(rc == RK_ECORRUPT, "case %zu: rc %d %s", b, rc, rc ? err.msg : "");
        check_msg(&err);
        free(d);
    }
    /* version 2: unsupported, not corrupt */
    d = build(h, recs, lens, 0, &n);
    p32(d + 8, 2), p32(d + 124, (uint32_t)crc32(0, d, 124));
    ck_assert(open_and_read_all(d, n, &err) == RK_EUNSUPPORTED);
    free(d);
}
END_TEST

static int dir_entries(const char *dir) {
    DIR *dd = opendir(dir);
    ck_assert(dd);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dd)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(dd);
    return n;
}

START_TEST(writer_failures) {
    char *dir = rk_test_tmpdir("tcache");
    char path[1024];
    snprintf(path, sizeof path, "%s/t.r1ktc", dir);
    fixture f = make_fixture(5, 3, 20, 4);
    rk_err err;
    rk_tcache_writer *w = NULL;
    /* abort after one window */
    ck_assert(rk_tcache_create(&w, path, &f.info, &err) == 0);
    ck_assert(rk_tcache_put(w, f.tokens, f.logits, &err) == 0);
    ck_assert(dir_entries(dir) == 1);   /* the temp */
    rk_tcache_abort(w);
    rk_tcache_abort(NULL);
    ck_assert(dir_entries(dir) == 0);
    /* finish with a window missing: RK_EINVAL, nothing left */
    ck_assert(rk_tcache_create(&w, path, &f.info, &err) == 0);
    ck_assert(rk_tcache_put(w, f.tokens, f.logits, &err) == 0);
    ck_assert(rk_tcache_finish(w, &err) == RK_EINVAL);
    ck_assert_msg(strstr(err.msg, "1 of 3 windows"), "%s", err.msg);
    ck_assert(dir_entries(dir) == 0);
    /* an existing target is untouched by a failed finish */
    rk_test_write_file(path, "old", 3);
    ck_assert(rk_tcache_create(&w, path, &f.info, &err) == 0);
    ck_assert(rk_tcache_finish(w, &err) == RK_EINVAL);
    size_t n;
    uint8_t *d = rk_test_read_file(path, &n);
    ck_assert(d && n == 3 && memcmp(d, "old", 3) == 0);
    free(d);
    ck_assert(dir_entries(dir) == 1);
    /* bad windows are refused and the writer stays usable */
    ck_assert(rk_tcache_create(&w, path, &f.info, &err) == 0);
    int32_t badtok[6];
    memcpy(badtok, f.tokens, sizeof badtok);
    badtok[5] = 20;
    ck_assert(rk_tcache_put(w, badtok, f.logits, &err) == RK_EINVAL);
    float *lg = malloc(sizeof(float) * 5 * 20);
    memcpy(lg, f.logits, sizeof(float) * 5 * 20);
    lg[2 * 20 + 7] = NAN;
    ck_assert(rk_tcache_put(w, f.tokens, lg, &err) == RK_EINVAL && strstr(err.msg, "position 2"));
    lg[2 * 20 + 7] = INFINITY;
    ck_assert(rk_tcache_put(w, f.tokens, lg, &err) == RK_EINVAL);
    for (int i = 0; i < 20; i++) lg[3 * 20 + i] = -INFINITY;
    lg[2 * 20 + 7] = 0;
    ck_assert(rk_tcache_put(w, f.tokens, lg, &err) == RK_EINVAL && strstr(err.msg, "position 3"));
    ck_assert(rk_tcache_writer_count(w) == 0);
    for (int i = 0; i < 3; i++) ck_assert(rk_tcache_put(w, f.tokens + i * 6, f.logits + i * 5 * 20, &err) == 0);
    ck_assert(rk_tcache_put(w, f.tokens, f.logits, &err) == RK_EINVAL);   /* one too many */
    ck_assert_msg(rk_tcache_finish(w, &err) == 0, "%s", err.msg);
    ck_assert(dir_entries(dir) == 1);
    rk_tcache *c = NULL;
    ck_assert(rk_tcache_open(&c, path, &err) == 0);
    check_window(c, &f, 1);
    rk_tcache_close(c);
    rk_tcache_close(NULL);
    free(lg);
    /* invalid info */
    const rk_tcache_info bad[] = {
        {0, 3, 20, 4, -1, 0, 20}, {5, 0, 20, 4, -1, 0, 20}, {5, 3, 0, 1, -1, 0, 20}, {5, 3, 20, 0, -1, 0, 20},
        {5, 3, 20, 21, -1, 0, 20}, {5, 3, 20, 4, 20, 0, 20}, {5, 3, 20, 4, -2, 0, 20}, {5, 3, 20, 4, -1, 0, -1},
        {5, 3, 20, 4, -1, 0, (1 << 24) + 1},
        {RK_TCACHE_MAX_T + 1, 3, 20, 4, -1, 0, 20}, {RK_TCACHE_MAX_T, 3, 1 << 20, 1 << 20, -1, 0, 20},
    };
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
        ck_assert_msg(rk_tcache_create(&w, path, &bad[b], &err) == RK_EINVAL, "case %zu", b);
        ck_assert(w == NULL);
    }
    ck_assert(dir_entries(dir) == 1);
    /* missing file */
    snprintf(path, sizeof path, "%s/none.r1ktc", dir);
    ck_assert(rk_tcache_open(&c, path, &err) == RK_ENOTFOUND && c == NULL);
    ck_assert(rk_tcache_open(&c, dir, &err) == RK_EIO && c == NULL);   /* a folder */
    free_fixture(&f);
    rk_test_rmtree(dir);
    free(dir);
}
END_TEST

Suite *make_suite(void) {
    Suite *s = suite_create("distill");
    TCase *tc = tcase_create("tcache");
    tcase_add_test(tc, roundtrip);
    tcase_add_test(tc, flip_every_byte);
    tcase_add_test(tc, crafted);
    tcase_add_test(tc, writer_failures);
    suite_add_tcase(s, tc);
    return s;
}

RK_TEST_MAIN()
