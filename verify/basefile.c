/* verify/basefile.c — the stored base (format in basefile.h): top-k selection and deflate on the way out,
 * CRC + size checks, inflate and row validation on the way in. zlib does the compression; the file is written
 * through rk_outfile (temp file beside the target, fsync, rename). */
#define _GNU_SOURCE
#include "verify/basefile.h"
#include "model/kernels.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define IOBUF (1 << 16)


static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

uint64_t rk_verify_tokenizer_fingerprint(const rk_tokenizer *t) {
    uint64_t h = 0xcbf29ce484222325ull;
    const int64_t v = rk_tokenizer_vocab_size(t);
    h = fnv(h, &v, sizeof v);
    for (int64_t i = 0; i < v; i++) {
        const char *s = rk_tokenizer_token(t, (int32_t)i);
        h = fnv(h, s ? s : "", (s ? strlen(s) : 0) + 1);
        const uint8_t sp = (uint8_t)(rk_tokenizer_is_special(t, (int32_t)i) != 0);
        h = fnv(h, &sp, 1);
    }
    const int32_t bos = rk_tokenizer_leading_bos(t);
    h = fnv(h, &bos, sizeof bos);
    /* merges and pre-tokenizer are not in the API: the ids of a probe text stand for them */
    static const char probe[] = "The quick brown fox jumps over the lazy dog, 1234567890 times!\n  In the beginning God "
                                "created the heaven and the earth. Don't we'll they're?\tx=y+2*z; naïve café, 北京 東京 "
                                "Москва — https://example.com/a_b?c=d#e ... ;;; ???";
    int32_t *ids = NULL;
    size_t n = 0;
    if (!rk_tokenizer_encode(t, probe, sizeof probe - 1, 0, &ids, &n, NULL)) h = fnv(h, ids, n * sizeof *ids);
    free(ids);
    return h;
}

/* raw bytes of one chunk's rows and of the whole payload; -1 on overflow */
static int sizes(const rk_verify_basefile_info *in, uint64_t *chunk_bytes, uint64_t *raw) {
    const uint64_t per = (uint64_t)(in->n_ctx - 1 - in->n_ctx / 2);
    uint64_t row, cb, tok, all;
    if (rk_mul_u64((uint64_t)in->k, 8, &row) || rk_add_u64(row, 16, &row) || rk_mul_u64(row, per, &cb) ||
        rk_mul_u64((uint64_t)in->n_ctx, (uint64_t)in->n_chunks, &tok) || rk_mul_u64(tok, 4, &tok) ||
        rk_mul_u64(cb, (uint64_t)in->n_chunks, &all) || rk_add_u64(all, tok, &all))
        return -1;
    *chunk_bytes = cb, *raw = all;
    return 0;
}

/* one chunk's arrays, in file order */
typedef struct chunk_buf {
    int32_t *ids;      /* [per * k] ids (deltas in the file) */
    float *lp;         /* [per * k] */
    double *nll;       /* [per] */
    int32_t *top;      /* [per] */
    float *lrest;      /* [per] */
} chunk_buf;

static void chunk_free(chunk_buf *c) { free(c->ids), free(c->lp), free(c->nll), free(c->top), free(c->lrest); }
static int chunk_alloc(chunk_buf *c, int64_t per, int64_t k) {
    c->ids = malloc((size_t)(per * k) * sizeof(int32_t));
    c->lp = malloc((size_t)(per * k) * sizeof(float));
    c->nll = malloc((size_t)per * sizeof(double));
    c->top = malloc((size_t)per * sizeof(int32_t));
    c->lrest = malloc((size_t)per * sizeof(float));
    return c->ids && c->lp && c->nll && c->top && c->lrest ? 0 : -1;
}

/* ---- writing ----------------------------------------------------------------------------------------------- */

struct rk_verify_basefile_writer {
    rk_outfile o;
    rk_verify_basefile_info info;
    z_stream z;
    int z_open;
    uint8_t *out;            /* [IOBUF] deflate output */
    uint32_t crc;
    uint64_t raw, payload;
    int64_t chunks_put;
    chunk_buf c;
};

static int w_drain(rk_verify_basefile_writer *w, int flush, rk_err *err) {
    int zr;
    do {
        w->z.next_out = w->out;
        w->z.avail_out = IOBUF;
        zr = deflate(&w->z, flush);
        if (zr == Z_STREAM_ERROR) return rk_err_file(err, RK_EIO, w->o.path, UINT64_MAX, "deflate failed");
        const size_t n = IOBUF - w->z.avail_out;
        if (n) {
            w->crc = (uint32_t)crc32(w->crc, w->out, (uInt)n);
            w->payload += n;
            int rc = rk_outfile_write(&w->o, w->out, n, err);
            if (rc) return rc;
        }
    } while (w->z.avail_out == 0 || (flush == Z_FINISH && zr != Z_STREAM_END));
    return 0;
}

static int w_feed(rk_verify_basefile_writer *w, const void *p, size_t n, rk_err *err) {
    const uint8_t *b = p;
    while (n) {
        const size_t m = n < (1u << 30) ? n : (1u << 30);
        w->z.next_in = (Bytef *)(uintptr_t)b;
        w->z.avail_in = (uInt)m;
        w->raw += m;
        int rc = w_drain(w, Z_NO_FLUSH, err);
        if (rc) return rc;
        b += m, n -= m;
    }
    return 0;
}

void rk_verify_basefile_abort(rk_verify_basefile_writer *w) {
    if (!w) return;
    rk_outfile_abort(&w->o);
    if (w->z_open) deflateEnd(&w->z);
    free(w->out);
    chunk_free(&w->c);
    free(w);
}

const rk_verify_basefile_info *rk_verify_basefile_writer_info(const rk_verify_basefile_writer *w) { return &w->info; }

int rk_verify_basefile_create(rk_verify_basefile_writer **out, const char *path, const rk_verify_basefile_info *info,
                              const int32_t *tokens, rk_err *err) {
    *out = NULL;
    if (info->n_ctx < 4 || info->n_ctx > (1 << 20) || info->n_chunks < 1 || info->vocab < 1 || info->vocab > (1 << 24) ||
        info->k < 1)
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "base file: ctx %lld, %lld chunks, vocabulary %lld, k %lld",
                          (long long)info->n_ctx, (long long)info->n_chunks, (long long)info->vocab, (long long)info->k);
    rk_verify_basefile_writer *w = calloc(1, sizeof *w);
    if (!w) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
    w->info = *info;
    if (w->info.k > w->info.vocab) w->info.k = w->info.vocab;
    const int64_t per = info->n_ctx - 1 - info->n_ctx / 2;
    uint64_t cb, raw;
    int rc;
    if (sizes(&w->info, &cb, &raw)) { rc = rk_err_set(err, RK_EINVAL, UINT64_MAX, "base file: sizes overflow"); goto fail; }
    w->out = malloc(IOBUF);
    if (!w->out || chunk_alloc(&w->c, per, w->info.k)) { rc = rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory"); goto fail; }
    if ((rc = rk_outfile_open(&w->o, path, err))) goto fail;
    static const uint8_t zero[RK_BASEFILE_HEADER];
    if ((rc = rk_outfile_write(&w->o, zero, sizeof zero, err))) goto fail;   /* the header comes at finish */
    if (deflateInit(&w->z, Z_DEFAULT_COMPRESSION) != Z_OK) { rc = rk_err_set(err, RK_ENOMEM, UINT64_MAX, "deflateInit failed"); goto fail; }
    w->z_open = 1;
    w->crc = (uint32_t)crc32(0, NULL, 0);
    if ((rc = w_feed(w, tokens, (size_t)(info->n_ctx * info->n_chunks) * sizeof(int32_t), err))) goto fail;
    *out = w;
    return 0;
fail:
    rk_verify_basefile_abort(w);
    return rc;
}

/* the k best entries of a dense row into ids/lp (ids ascending), their complement's mass into *lrest */
static void select_row(const float *row, int64_t vocab, int64_t k, int32_t *ids, float *lp, float *lrest) {
    if (k >= vocab) {
        for (int64_t i = 0; i < vocab; i++) ids[i] = (int32_t)i, lp[i] = row[i];
        *lrest = -INFINITY;
        return;
    }
    rk_top_k(row, vocab, k, ids, lp);
    /* ids ascending (insertion sort on a small k; heap order is nearly random) */
    for (int64_t a = 1; a < k; a++) {
        const int32_t id = ids[a];
        const float v = lp[a];
        int64_t b = a;
        for (; b > 0 && ids[b - 1] > id; b--) ids[b] = ids[b - 1], lp[b] = lp[b - 1];
        ids[b] = id, lp[b] = v;
    }
    double rest = 0;
    int64_t p = 0;
    for (int64_t i = 0; i < vocab; i++) {
        if (p < k && ids[p] == i) { p++; continue; }
        rest += exp((double)row[i]);
    }
    *lrest = rest > 0 ? (float)log(rest) : -INFINITY;
}

int rk_verify_basefile_put(rk_verify_basefile_writer *w, const rk_verify_row *rows, int64_t per, rk_err *err) {
    const int64_t k = w->info.k, vocab = w->info.vocab;
    if (per != w->info.n_ctx - 1 - w->info.n_ctx / 2 || w->chunks_put >= w->info.n_chunks)
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "%s: chunk %lld of %lld rows does not fit the file", w->o.path,
                          (long long)w->chunks_put, (long long)per);
    for (int64_t j = 0; j < per; j++)
        if (rows[j].ids || rows[j].n != vocab)
            return rk_err_set(err, RK_EINVAL, UINT64_MAX, "%s: row %lld is not a dense row of %lld", w->o.path, (long long)j,
                              (long long)vocab);
    chunk_buf *c = &w->c;
    #pragma omp parallel for schedule(static)
    for (int64_t j = 0; j < per; j++) {
        select_row(rows[j].logprob, vocab, k, c->ids + j * k, c->lp + j * k, &c->lrest[j]);
        c->nll[j] = rows[j].nll;
        c->top[j] = rows[j].top;
        for (int64_t i = k - 1; i > 0; i--) c->ids[j * k + i] -= c->ids[j * k + i - 1];   /* deltas */
    }
    int rc;
    if ((rc = w_feed(w, c->ids, (size_t)(per * k) * sizeof(int32_t), err)) ||
        (rc = w_feed(w, c->lp, (size_t)(per * k) * sizeof(float), err)) ||
        (rc = w_feed(w, c->nll, (size_t)per * sizeof(double), err)) ||
        (rc = w_feed(w, c->top, (size_t)per * sizeof(int32_t), err)) ||
        (rc = w_feed(w, c->lrest, (size_t)per * sizeof(float), err)))
        return rc;
    w->chunks_put++;
    return 0;
}

static void header_bytes(uint8_t h[RK_BASEFILE_HEADER], const rk_verify_basefile_info *in, uint64_t raw, uint64_t payload,
                         uint32_t crc) {
    memset(h, 0, RK_BASEFILE_HEADER);
    memcpy(h, RK_BASEFILE_MAGIC, 8);
    rk_put_le32(h + 8, RK_BASEFILE_VERSION);
    rk_put_le32(h + 12, RK_BASEFILE_HEADER);
    rk_put_le64(h + 16, (uint64_t)in->n_ctx);
    rk_put_le64(h + 24, (uint64_t)in->n_chunks);
    rk_put_le64(h + 32, (uint64_t)in->vocab);
    rk_put_le64(h + 40, (uint64_t)in->k);
    rk_put_le64(h + 48, (uint64_t)(int64_t)in->bos);
    rk_put_le64(h + 56, in->tok_fingerprint);
    rk_put_le64(h + 64, (uint64_t)in->tok_vocab);
    rk_put_le64(h + 72, raw);
    rk_put_le64(h + 80, payload);
    rk_put_le32(h + 88, crc);
    rk_put_le32(h + 124, (uint32_t)crc32(0, h, 124));
}

int rk_verify_basefile_finish(rk_verify_basefile_writer *w, rk_err *err) {
    int rc;
    if (w->chunks_put != w->info.n_chunks) {
        rc = rk_err_set(err, RK_EINVAL, UINT64_MAX, "%s: %lld of %lld chunks written", w->o.path, (long long)w->chunks_put,
                        (long long)w->info.n_chunks);
        goto done;
    }
    w->z.next_in = NULL, w->z.avail_in = 0;
    if ((rc = w_drain(w, Z_FINISH, err))) goto done;
    uint8_t h[RK_BASEFILE_HEADER];
    header_bytes(h, &w->info, w->raw, w->payload, w->crc);
    rc = rk_outfile_commit_header(&w->o, h, sizeof h, err);
done:
    rk_verify_basefile_abort(w);     /* after a commit only frees */
    return rc;
}

int rk_verify_basefile_tee_rows(void *user, int64_t chunk, const int32_t *in, int64_t n_ctx, const int32_t *targets,
                                int64_t per, rk_verify_row *rows, rk_err *err) {
    rk_verify_basefile_tee *t = user;
    int rc = t->inner(t->inner_user, chunk, in, n_ctx, targets, per, rows, err);
    if (rc) return rc;
    if (chunk != t->w->chunks_put)
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "%s: chunk %lld out of order", t->w->o.path, (long long)chunk);
    return rk_verify_basefile_put(t->w, rows, per, err);
}

int rk_verify_basefile_save(rk_verify_basefile_writer *w, rk_verify_live *base, const int32_t *tokens,
                            void (*progress)(void *, int64_t, int64_t), void *user, rk_err *err) {
    const int64_t n_ctx = w->info.n_ctx, per = n_ctx - 1 - n_ctx / 2, first = n_ctx / 2;
    int32_t *in = malloc((size_t)n_ctx * sizeof(int32_t));
    rk_verify_row *rows = calloc((size_t)per, sizeof *rows);
    int rc = 0;
    if (!in || !rows) rc = rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
    for (int64_t c = 0; !rc && c < w->info.n_chunks; c++) {
        const int32_t *chunk = tokens + c * n_ctx;
        memcpy(in, chunk, (size_t)n_ctx * sizeof(int32_t));
        if (w->info.bos >= 0) in[0] = w->info.bos;
        if (!(rc = rk_verify_live_rows(base, c, in, n_ctx, chunk + first + 1, per, rows, err)) &&
            !(rc = rk_verify_basefile_put(w, rows, per, err)) && progress)
            progress(user, c, w->info.n_chunks);
    }
    free(in);
    free(rows);
    if (rc) {
        rk_verify_basefile_abort(w);
        return rc;
    }
    return rk_verify_basefile_finish(w, err);
}

/* ---- reading ----------------------------------------------------------------------------------------------- */

struct rk_verify_basefile {
    FILE *f;
    char path[512];
    rk_verify_basefile_info info;
    uint64_t size, raw, payload, chunk_bytes;
    int32_t *tokens;
    z_stream z;
    int z_open;
    uint8_t *in;             /* [IOBUF] compressed input */
    uint64_t in_left;        /* compressed bytes not yet read from the file */
    int64_t next_chunk;      /* the stream is positioned before this chunk's rows */
    chunk_buf c;
};

void rk_verify_basefile_close(rk_verify_basefile *b) {
    if (!b) return;
    if (b->f) fclose(b->f);
    if (b->z_open) inflateEnd(&b->z);
    free(b->tokens);
    free(b->in);
    chunk_free(&b->c);
    free(b);
}

const rk_verify_basefile_info *rk_verify_basefile_get_info(const rk_verify_basefile *b) { return &b->info; }
const int32_t *rk_verify_basefile_tokens(const rk_verify_basefile *b) { return b->tokens; }
uint64_t rk_verify_basefile_size(const rk_verify_basefile *b) { return b->size; }

/* n raw bytes of the payload into dst (NULL: skip) */
static int r_inflate(rk_verify_basefile *b, void *dst, size_t n, rk_err *err) {
    uint8_t scratch[4096];
    uint8_t *d = dst;
    while (n) {
        const size_t m = dst ? (n < (1u << 30) ? n : (1u << 30)) : (n < sizeof scratch ? n : sizeof scratch);
        b->z.next_out = dst ? d : scratch;
        b->z.avail_out = (uInt)m;
        while (b->z.avail_out) {
            if (b->z.avail_in == 0) {
                if (b->in_left == 0)
                    return rk_err_file(err, RK_ECORRUPT, b->path, b->size, "the compressed payload ends early");
                const size_t r = b->in_left < IOBUF ? (size_t)b->in_left : IOBUF;
                if (fread(b->in, 1, r, b->f) != r) return rk_err_file(err, RK_EIO, b->path, UINT64_MAX, "short read");
                b->in_left -= r;
                b->z.next_in = b->in, b->z.avail_in = (uInt)r;
            }
            const int zr = inflate(&b->z, Z_NO_FLUSH);
            if (zr == Z_STREAM_END && b->z.avail_out) 
                return rk_err_file(err, RK_ECORRUPT, b->path, UINT64_MAX, "the payload holds fewer bytes than its header says");
            if (zr != Z_OK && zr != Z_STREAM_END)
                return rk_err_file(err, zr == Z_MEM_ERROR ? RK_ENOMEM : RK_ECORRUPT, b->path, UINT64_MAX,
                                   "compressed payload is damaged (zlib: %s)", b->z.msg ? b->z.msg : "error");
            if (zr == Z_STREAM_END) break;
        }
        if (dst) d += m;
        n -= m;
    }
    return 0;
}

/* position the stream at the start of the payload */
static int r_rewind(rk_verify_basefile *b, rk_err *err) {
    if (fseeko(b->f, RK_BASEFILE_HEADER, SEEK_SET))
        return rk_err_file(err, RK_EIO, b->path, UINT64_MAX, "cannot seek: %s", strerror(errno));
    b->in_left = b->payload;
    b->z.next_in = NULL, b->z.avail_in = 0;
    if (inflateReset(&b->z) != Z_OK) return rk_err_file(err, RK_EIO, b->path, UINT64_MAX, "inflateReset failed");
    b->next_chunk = 0;
    return 0;
}

static int corrupt(rk_err *err, const char *path, uint64_t off, const char *what) {
    return rk_err_file(err, RK_ECORRUPT, path, off, "%s", what);
}

int rk_verify_basefile_open(rk_verify_basefile **out, const char *path, rk_err *err) {
    *out = NULL;
    rk_verify_basefile *b = calloc(1, sizeof *b);
    if (!b) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
    snprintf(b->path, sizeof b->path, "%s", path);
    int rc = 0;
    struct stat st;
    uint8_t h[RK_BASEFILE_HEADER];
    if (!(b->f = fopen(path, "rb")) || fstat(fileno(b->f), &st)) {
        rc = rk_err_file(err, errno == ENOENT ? RK_ENOTFOUND : RK_EIO, path, UINT64_MAX, "cannot open: %s", strerror(errno));
        goto fail;
    }
    b->size = (uint64_t)st.st_size;
    if (b->size < 8 || fread(h, 1, 8, b->f) != 8 || memcmp(h, RK_BASEFILE_MAGIC, 8)) {
        rc = corrupt(err, path, 0, "not an r1kit base file (no \"" RK_BASEFILE_MAGIC "\" magic)");
        goto fail;
    }
    if (b->size < RK_BASEFILE_HEADER || fread(h + 8, 1, RK_BASEFILE_HEADER - 8, b->f) != RK_BASEFILE_HEADER - 8) {
        rc = corrupt(err, path, 8, "truncated inside the 128-byte header");
        goto fail;
    }
    if (rk_get_le32(h + 124) != (uint32_t)crc32(0, h, 124)) {
        rc = corrupt(err, path, 124, "header checksum mismatch (the header is damaged)");
        goto fail;
    }
    if (rk_get_le32(h + 8) != RK_BASEFILE_VERSION) {
        rc = rk_err_file(err, RK_EUNSUPPORTED, path, 8, "base file version %u (r1kit reads %d)", rk_get_le32(h + 8), RK_BASEFILE_VERSION);
        goto fail;
    }
    rk_verify_basefile_info *in = &b->info;
    const uint64_t n_ctx = rk_get_le64(h + 16), n_chunks = rk_get_le64(h + 24), vocab = rk_get_le64(h + 32), k = rk_get_le64(h + 40);
    const int64_t bos = (int64_t)rk_get_le64(h + 48);
    if (rk_get_le32(h + 12) != RK_BASEFILE_HEADER || n_ctx < 4 || n_ctx > (1 << 20) || n_chunks < 1 || n_chunks > (1ull << 32) ||
        vocab < 1 || vocab > (1 << 24) || k < 1 || k > vocab || bos < -1 || bos >= (int64_t)vocab || rk_get_le32(h + 92) ||
        rk_get_le64(h + 64) > (1ull << 24)) {
        rc = rk_err_file(err, RK_ECORRUPT, path, 12, "header out of range: ctx %llu, %llu chunks, vocabulary %llu, k %llu, bos %lld",
                         (unsigned long long)n_ctx, (unsigned long long)n_chunks, (unsigned long long)vocab,
                         (unsigned long long)k, (long long)bos);
        goto fail;
    }
    in->n_ctx = (int64_t)n_ctx, in->n_chunks = (int64_t)n_chunks, in->vocab = (int64_t)vocab, in->k = (int64_t)k;
    in->bos = (int32_t)bos, in->tok_fingerprint = rk_get_le64(h + 56), in->tok_vocab = (int64_t)rk_get_le64(h + 64);
    b->raw = rk_get_le64(h + 72), b->payload = rk_get_le64(h + 80);
    uint64_t want_raw = 0;
    if (sizes(in, &b->chunk_bytes, &want_raw) || want_raw != b->raw) {
        rc = rk_err_file(err, RK_ECORRUPT, path, 72, "header says %llu raw bytes, its counts imply %llu",
                         (unsigned long long)b->raw, (unsigned long long)want_raw);
        goto fail;
    }
    if (b->payload != b->size - RK_BASEFILE_HEADER) {
        rc = rk_err_file(err, RK_ECORRUPT, path, 80, "%llu bytes, the header says %d + %llu: the file is truncated or extended",
                         (unsigned long long)b->size, RK_BASEFILE_HEADER, (unsigned long long)b->payload);
        goto fail;
    }
    if (b->raw / 1032 > b->payload + 64) {   /* deflate expands at most ~1032:1 */
        rc = corrupt(err, path, 72, "raw size impossible for the compressed size");
        goto fail;
    }
    /* payload checksum, streamed */
    b->in = malloc(IOBUF);
    if (!b->in) { rc = rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory"); goto fail; }
    uint32_t crc = (uint32_t)crc32(0, NULL, 0);
    for (uint64_t left = b->payload; left;) {
        const size_t r = left < IOBUF ? (size_t)left : IOBUF;
        if (fread(b->in, 1, r, b->f) != r) { rc = rk_err_file(err, RK_EIO, path, UINT64_MAX, "short read"); goto fail; }
        crc = (uint32_t)crc32(crc, b->in, (uInt)r);
        left -= r;
    }
    if (crc != rk_get_le32(h + 88)) {
        rc = rk_err_file(err, RK_ECORRUPT, path, RK_BASEFILE_HEADER, "payload checksum mismatch (CRC-32 %08x, header %08x): "
                         "the file is damaged", crc, rk_get_le32(h + 88));
        goto fail;
    }
    const int64_t ntok = in->n_ctx * in->n_chunks, per = in->n_ctx - 1 - in->n_ctx / 2;
    b->tokens = malloc((size_t)ntok * sizeof(int32_t));
    if (!b->tokens || chunk_alloc(&b->c, per, in->k)) { rc = rk_err_set(err, RK_ENOMEM, UINT64_MAX, "%s: out of memory", path); goto fail; }
    if (inflateInit(&b->z) != Z_OK) { rc = rk_err_set(err, RK_ENOMEM, UINT64_MAX, "inflateInit failed"); goto fail; }
    b->z_open = 1;
    if ((rc = r_rewind(b, err)) || (rc = r_inflate(b, b->tokens, (size_t)ntok * sizeof(int32_t), err))) goto fail;
    for (int64_t i = 0; i < ntok; i++)
        if (b->tokens[i] < 0 || b->tokens[i] >= in->vocab) {
            rc = rk_err_file(err, RK_ECORRUPT, path, UINT64_MAX, "token %lld is %d, outside the vocabulary of %lld", (long long)i,
                             b->tokens[i], (long long)in->vocab);
            goto fail;
        }
    *out = b;
    return 0;
fail:
    rk_verify_basefile_close(b);
    return rc;
}

int rk_verify_basefile_rows(void *user, int64_t chunk, const int32_t *inp, int64_t n_ctx, const int32_t *targets,
                            int64_t per, rk_verify_row *rows, rk_err *err) {
    (void)inp;
    rk_verify_basefile *b = user;
    const rk_verify_basefile_info *in = &b->info;
    const int64_t k = in->k, first = in->n_ctx / 2;
    if (n_ctx != in->n_ctx || per != in->n_ctx - 1 - first || chunk < 0 || chunk >= in->n_chunks)
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "%s: chunk %lld of ctx %lld asked, the file has %lld chunks of ctx %lld",
                          b->path, (long long)chunk, (long long)n_ctx, (long long)in->n_chunks, (long long)in->n_ctx);
    int rc;
    if (chunk < b->next_chunk &&
        ((rc = r_rewind(b, err)) || (rc = r_inflate(b, NULL, (size_t)(in->n_ctx * in->n_chunks) * sizeof(int32_t), err))))
        return rc;
    for (; b->next_chunk < chunk; b->next_chunk++)
        if ((rc = r_inflate(b, NULL, (size_t)b->chunk_bytes, err))) return rc;
    chunk_buf *c = &b->c;
    if ((rc = r_inflate(b, c->ids, (size_t)(per * k) * sizeof(int32_t), err)) ||
        (rc = r_inflate(b, c->lp, (size_t)(per * k) * sizeof(float), err)) ||
        (rc = r_inflate(b, c->nll, (size_t)per * sizeof(double), err)) ||
        (rc = r_inflate(b, c->top, (size_t)per * sizeof(int32_t), err)) ||
        (rc = r_inflate(b, c->lrest, (size_t)per * sizeof(float), err)))
        return rc;
    b->next_chunk = chunk + 1;
    for (int64_t j = 0; j < per; j++) {
        int32_t *ids = c->ids + j * k;
        const float *lp = c->lp + j * k;
        double mass = c->lrest[j] > -INFINITY ? exp((double)c->lrest[j]) : 0;
        int bad = !(c->lrest[j] <= 1e-3f) || !isfinite(c->nll[j]) || c->nll[j] < -1e-3 || c->top[j] < 0 || c->top[j] >= in->vocab;
        for (int64_t i = 0; i < k && !bad; i++) {
            const int64_t id = i ? (int64_t)ids[i] + ids[i - 1] : ids[i];    /* deltas back to ids */
            bad = id < 0 || id >= in->vocab || (i && id <= ids[i - 1]) || !(lp[i] <= 1e-3f);
            ids[i] = (int32_t)(bad ? 0 : id);
            if (!bad) mass += exp((double)lp[i]);
        }
        if (!bad && fabs(mass - 1) > 1e-3) bad = 1;
        const int32_t t = b->tokens[chunk * in->n_ctx + first + 1 + j];
        if (bad)
            return rk_err_file(err, RK_ECORRUPT, b->path, UINT64_MAX, "chunk %lld row %lld holds invalid values", (long long)chunk,
                               (long long)j);
        if (targets[j] != t)
            return rk_err_set(err, RK_EINVAL, UINT64_MAX, "%s: chunk %lld row %lld: target %d, the file's token %d", b->path,
                              (long long)chunk, (long long)j, targets[j], t);
        const double rest = c->lrest[j] > -INFINITY ? exp((double)c->lrest[j]) : 0;
        rows[j] = (rk_verify_row){ k, ids, lp, c->nll[j], c->top[j], 1, rest };
    }
    return 0;
}
