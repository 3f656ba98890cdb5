/* tests/verify/test_basefile.c — the stored base (verify/basefile.h) on hand-made rows (random logits, vocabulary
 * 50, ctx 8 → 3 scored rows per chunk, 3 chunks):
 *   - roundtrip with k >= vocabulary: every id, log-prob, NLL and argmax back; the KLD against candidate logits
 *     is bit-identical to the dense row's;
 *   - top-k: the k largest entries (ids ascending), the rest's mass from the full row, the KLD a lower bound of
 *     the dense one and exact NLL/Δp/top; chunks asked out of order (the stream restarts);
 *   - the writer leaves nothing at the path until finish, and nothing after abort;
 *   - corruptions, each refused by name: flipped payload byte (checksum), flipped header byte, wrong magic,
 *     truncations at many lengths, an appended byte, another version, a raw size that lies, and a payload with a
 *     valid CRC but bad rows (ids not ascending, log p > 0, masses not summing to 1). */
#define _GNU_SOURCE
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "tests/common/rk_test.h"
#include "verify/basefile.h"

enum { V = 50, CTX = 8, PER = CTX - 1 - CTX / 2, CHUNKS = 3 };

static float g_logits[CHUNKS][PER][V], g_lp[CHUNKS][PER][V], g_cand[V];
static int32_t g_tokens[CTX * CHUNKS];
static rk_verify_row g_rows[CHUNKS][PER];

static void make_rows(void) {
    uint32_t s = 7;
    for (int i = 0; i < CTX * CHUNKS; i++) s = s * 1664525u + 1013904223u, g_tokens[i] = (int32_t)((s >> 10) % V);
    for (int c = 0; c < CHUNKS; c++)
        for (int j = 0; j < PER; j++) {
            for (int v = 0; v < V; v++) s = s * 1664525u + 1013904223u, g_logits[c][j][v] = (float)((s >> 8) % 10000) / 900.0f;
            rk_err e;
            ck_assert_int_eq(rk_verify_row_from_logits(&g_rows[c][j], g_lp[c][j], g_logits[c][j], V,
                                                       g_tokens[c * CTX + CTX / 2 + 1 + j], &e), 0);
        }
    for (int v = 0; v < V; v++) s = s * 1664525u + 1013904223u, g_cand[v] = (float)((s >> 8) % 10000) / 1000.0f;
}

static void write_base(const char *path, int64_t k) {
    rk_verify_basefile_info in = { CTX, CHUNKS, V, k, 3, 0x1234abcdull, V };
    rk_verify_basefile_writer *w;
    rk_err e;
    ck_assert_msg(rk_verify_basefile_create(&w, path, &in, g_tokens, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(rk_test_read_file(path, &(size_t){ 0 }) == NULL, 1);     /* nothing at path yet */
    for (int c = 0; c < CHUNKS; c++) ck_assert_msg(rk_verify_basefile_put(w, g_rows[c], PER, &e) == 0, "%s", e.msg);
    ck_assert_msg(rk_verify_basefile_finish(w, &e) == 0, "%s", e.msg);
}

static char *g_dir;
static void setup(void) { g_dir = rk_test_tmpdir("basefile"); make_rows(); }
static void teardown(void) { rk_test_rmtree(g_dir); free(g_dir); }

static const int32_t *targets(int c) { return g_tokens + c * CTX + CTX / 2 + 1; }

START_TEST(roundtrip_all) {
    char p[1024];
    snprintf(p, sizeof p, "%s/all.kb", g_dir);
    write_base(p, 1000);                                  /* clamped to V */
    rk_verify_basefile *b;
    rk_err e;
    ck_assert_msg(rk_verify_basefile_open(&b, p, &e) == 0, "%s", e.msg);
    const rk_verify_basefile_info *in = rk_verify_basefile_get_info(b);
    ck_assert(in->n_ctx == CTX && in->n_chunks == CHUNKS && in->vocab == V && in->k == V && in->bos == 3);
    ck_assert(in->tok_fingerprint == 0x1234abcdull && in->tok_vocab == V);
    ck_assert_mem_eq(rk_verify_basefile_tokens(b), g_tokens, sizeof g_tokens);
    rk_verify_row rows[PER];
    for (int c = 0; c < CHUNKS; c++) {
        ck_assert_msg(rk_verify_basefile_rows(b, c, NULL, CTX, targets(c), PER, rows, &e) == 0, "%s", e.msg);
        for (int j = 0; j < PER; j++) {
            const rk_verify_row *r = &rows[j], *d = &g_rows[c][j];
            ck_assert(r->n == V && r->ids && r->has_rest && r->rest == 0);
            for (int v = 0; v < V; v++) ck_assert(r->ids[v] == v && r->logprob[v] == d->logprob[v]);
            ck_assert(r->nll == d->nll && r->top == d->top);
            rk_verify_tok a, t;
            ck_assert_int_eq(rk_verify_token(d, g_cand, V, targets(c)[j], &a, &e), 0);
            ck_assert_int_eq(rk_verify_token(r, g_cand, V, targets(c)[j], &t, &e), 0);
            ck_assert(a.kld == t.kld && a.nll == t.nll && a.nll_base == t.nll_base && a.dp == t.dp && a.top_base == t.top_base);
        }
    }
    rk_verify_basefile_close(b);
}
END_TEST

START_TEST(roundtrip_topk) {
    char p[1024];
    snprintf(p, sizeof p, "%s/k5.kb", g_dir);
    const int K = 5;
    write_base(p, K);
    rk_verify_basefile *b;
    rk_err e;
    ck_assert_msg(rk_verify_basefile_open(&b, p, &e) == 0, "%s", e.msg);
    rk_verify_row rows[PER];
    const int order[4] = { 2, 0, 1, 1 };                  /* out of order: the stream restarts */
    for (int oi = 0; oi < 4; oi++) {
        const int c = order[oi];
        ck_assert_msg(rk_verify_basefile_rows(b, c, NULL, CTX, targets(c), PER, rows, &e) == 0, "%s", e.msg);
        for (int j = 0; j < PER; j++) {
            const rk_verify_row *r = &rows[j], *d = &g_rows[c][j];
            ck_assert(r->n == K && r->has_rest);
            /* the K best: every kept entry beats every dropped one */
            double rest = 0, kept_min = INFINITY;
            for (int i = 0; i < K; i++) {
                if (i) ck_assert(r->ids[i] > r->ids[i - 1]);
                ck_assert(r->logprob[i] == d->logprob[r->ids[i]]);
                if (r->logprob[i] < kept_min) kept_min = r->logprob[i];
            }
            for (int v = 0, i = 0; v < V; v++) {
                if (i < K && r->ids[i] == v) { i++; continue; }
                ck_assert(d->logprob[v] <= kept_min);
                rest += exp((double)d->logprob[v]);
            }
            ck_assert(fabs(r->rest - rest) <= 1e-6 * rest);
            rk_verify_tok a, t;
            ck_assert_int_eq(rk_verify_token(d, g_cand, V, targets(c)[j], &a, &e), 0);
            ck_assert_int_eq(rk_verify_token(r, g_cand, V, targets(c)[j], &t, &e), 0);
            ck_assert_msg(t.kld <= a.kld + 1e-9 && t.kld >= 0, "top-k KLD %g, full %g", t.kld, a.kld);
            ck_assert(t.nll == a.nll && t.nll_base == a.nll_base && t.dp == a.dp && t.top_base == a.top_base);
        }
    }
    /* a wrong target (another text) is refused */
    int32_t bad[PER];
    memcpy(bad, targets(0), sizeof bad);
    bad[1] = (bad[1] + 1) % V;
    ck_assert_int_eq(rk_verify_basefile_rows(b, 0, NULL, CTX, bad, PER, rows, &e), RK_EINVAL);
    ck_assert_int_eq(rk_verify_basefile_rows(b, 3, NULL, CTX, targets(0), PER, rows, &e), RK_EINVAL);
    rk_verify_basefile_close(b);
}
END_TEST

START_TEST(writer_abort) {
    char p[1024];
    snprintf(p, sizeof p, "%s/ab.kb", g_dir);
    rk_verify_basefile_info in = { CTX, CHUNKS, V, 4, -1, 1, V };
    rk_verify_basefile_writer *w;
    rk_err e;
    ck_assert_int_eq(rk_verify_basefile_create(&w, p, &in, g_tokens, &e), 0);
    ck_assert_int_eq(rk_verify_basefile_put(w, g_rows[0], PER, &e), 0);
    ck_assert_int_eq(rk_verify_basefile_finish(w, &e), RK_EINVAL);        /* 1 of 3 chunks: refused, freed */
    size_t n;
    ck_assert_ptr_null(rk_test_read_file(p, &n));
    ck_assert_int_eq(rk_verify_basefile_create(&w, p, &in, g_tokens, &e), 0);
    rk_verify_basefile_abort(w);
    ck_assert_ptr_null(rk_test_read_file(p, &n));
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "ls -A '%s' | grep -c tmp", g_dir);         /* no temp left behind */
    char out[64] = "";
    rk_test_run(cmd, out, sizeof out, NULL, 0);
    ck_assert_int_eq(atoi(out), 0);
}
END_TEST

/* open must fail with code and a message that names the file and contains `what` */
static void refused(const char *p, const uint8_t *buf, size_t n, int code, const char *what, const char *label) {
    rk_test_write_file(p, buf, n);
    rk_verify_basefile *b = NULL;
    rk_err e;
    rk_err_clear(&e);
    int rc = rk_verify_basefile_open(&b, p, &e);
    if (!rc) {   /* some damage only shows when the rows are decoded */
        rk_verify_row rows[PER];
        for (int c = 0; c < CHUNKS && !rc; c++) rc = rk_verify_basefile_rows(b, c, NULL, CTX, targets(c), PER, rows, &e);
        rk_verify_basefile_close(b);
    }
    ck_assert_msg(rc == code, "%s: code %d, want %d (%s)", label, rc, code, e.msg);
    ck_assert_msg(strstr(e.msg, p) != NULL, "%s: message does not name the file: %s", label, e.msg);
    ck_assert_msg(strstr(e.msg, what) != NULL, "%s: '%s' not in: %s", label, what, e.msg);
}

static void fix_header_crc(uint8_t *h) {
    const uint32_t c = (uint32_t)crc32(0, h, 124);
    memcpy(h + 124, &c, 4);
}

/* re-pack a payload: inflate, let f modify the raw bytes, deflate, fix both CRCs and the sizes */
static size_t repack(uint8_t *dst, const uint8_t *src, size_t n, void (*f)(uint8_t *raw, size_t rn)) {
    uint64_t rn;
    memcpy(&rn, src + 72, 8);
    uint8_t *raw = malloc(rn);
    uLongf got = (uLongf)rn;
    ck_assert_int_eq(uncompress(raw, &got, src + 128, (uLong)(n - 128)), Z_OK);
    ck_assert_int_eq((int)got, (int)rn);
    f(raw, rn);
    memcpy(dst, src, 128);
    uLongf cn = compressBound((uLong)rn);
    ck_assert_int_eq(compress(dst + 128, &cn, raw, (uLong)rn), Z_OK);
    free(raw);
    const uint64_t pl = cn;
    memcpy(dst + 80, &pl, 8);
    const uint32_t c = (uint32_t)crc32(0, dst + 128, (uInt)cn);
    memcpy(dst + 88, &c, 4);
    fix_header_crc(dst);
    return 128 + cn;
}

enum { TOK = CTX * CHUNKS * 4, K4 = 4 };
static void swap_ids(uint8_t *raw, size_t n) {          /* second delta of row 0 of chunk 0 made negative */
    (void)n;
    int32_t d = -1;
    memcpy(raw + TOK + 4, &d, 4);
}
static void positive_lp(uint8_t *raw, size_t n) {
    (void)n;
    const float v = 0.5f;
    memcpy(raw + TOK + PER * K4 * 4, &v, 4);
}
static void mass_off(uint8_t *raw, size_t n) {          /* log_rest of row 0 of chunk 1 raised */
    (void)n;
    const size_t chunk = (size_t)PER * (K4 * 8 + 16), off = TOK + chunk + (size_t)PER * K4 * 8 + PER * 8 + PER * 4;
    const float v = -0.01f;
    memcpy(raw + off, &v, 4);
}
static void bad_token(uint8_t *raw, size_t n) {
    (void)n;
    const int32_t t = V;
    memcpy(raw + 8, &t, 4);
}

START_TEST(corrupt) {
    char p[1024], q[1024];
    snprintf(p, sizeof p, "%s/good.kb", g_dir);
    snprintf(q, sizeof q, "%s/bad.kb", g_dir);
    write_base(p, K4);
    size_t n;
    uint8_t *good = rk_test_read_file(p, &n);
    ck_assert_ptr_nonnull(good);
    ck_assert(n > 200);
    uint8_t *b = malloc(n + 4096);
    /* a byte of the payload flipped: checksum */
    memcpy(b, good, n);
    b[n / 2 + 64] ^= 0x10;
    refused(q, b, n, RK_ECORRUPT, "checksum mismatch", "payload flip");
    /* a header byte flipped: header checksum */
    for (size_t off = 16; off < 124; off += 8) {
        memcpy(b, good, n);
        b[off] ^= 1;
        refused(q, b, n, RK_ECORRUPT, "header checksum", "header flip");
    }
    /* wrong magic */
    memcpy(b, good, n);
    b[0] = 'X';
    refused(q, b, n, RK_ECORRUPT, "not an r1kit base file", "magic");
    refused(q, (const uint8_t *)"R1KV", 4, RK_ECORRUPT, "not an r1kit base file", "4 bytes");
    /* truncated anywhere, extended by one byte */
    const size_t cuts[] = { 0, 8, 9, 100, 127, 128, 129, 160, n / 2, n - 2, n - 1 };
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++)
        refused(q, good, cuts[i], RK_ECORRUPT, cuts[i] < 8 ? "not an r1kit" : cuts[i] < 128 ? "truncated inside the" : "truncated",
                "truncation");
    memcpy(b, good, n);
    b[n] = 0;
    refused(q, b, n + 1, RK_ECORRUPT, "truncated or extended", "extension");
    /* another version (header CRC fixed): unsupported */
    memcpy(b, good, n);
    b[8] = 2;
    fix_header_crc(b);
    refused(q, b, n, RK_EUNSUPPORTED, "version 2", "version");
    /* counts that do not match the raw size; k > vocab; ctx too small */
    const struct { size_t off; uint64_t v; const char *what; } lies[] = {
        { 72, 12345, "raw bytes" }, { 24, 4, "raw bytes" }, { 40, V + 1, "out of range" }, { 16, 2, "out of range" },
        { 32, 0, "out of range" }, { 48, V, "out of range" },
    };
    for (size_t i = 0; i < sizeof lies / sizeof lies[0]; i++) {
        memcpy(b, good, n);
        memcpy(b + lies[i].off, &lies[i].v, 8);
        fix_header_crc(b);
        refused(q, b, n, RK_ECORRUPT, lies[i].what, "lie");
    }
    /* valid checksums, bad content */
    void (*fs[])(uint8_t *, size_t) = { swap_ids, positive_lp, mass_off };
    for (size_t i = 0; i < 3; i++) {
        const size_t m = repack(b, good, n, fs[i]);
        refused(q, b, m, RK_ECORRUPT, "invalid values", "content");
    }
    const size_t m = repack(b, good, n, bad_token);
    refused(q, b, m, RK_ECORRUPT, "outside the vocabulary", "token");
    free(b);
    free(good);
}
END_TEST

Suite *make_suite(void) {
    Suite *s = suite_create("verify_basefile");
    TCase *tc = tcase_create("basefile");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, roundtrip_all);
    tcase_add_test(tc, roundtrip_topk);
    tcase_add_test(tc, writer_abort);
    tcase_add_test(tc, corrupt);
    suite_add_tcase(s, tc);
    return s;
}

RK_TEST_MAIN()
