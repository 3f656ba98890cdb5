/* verify/basefile.h — a base model's answer on a text, computed once and stored, so that candidates can be
 * verified later without the base model (`r1kit verify BASE --save-base FILE`, then `--base FILE CANDIDATE`).
 *
 * Per scored token the file keeps the base's top-k log-probabilities (ids ascending), the log of the summed
 * probability of all other tokens (computed from the full row in double), the target's NLL (double) and the
 * base's argmax; with the text's tokens, ctx and chunking, the BOS rule and a tokenizer fingerprint. Read
 * back, a row is a sparse rk_verify_row: NLL, Δp, PPL(base) and the top-1 agreement are exact; the KLD merges
 * the tokens outside the top k into one bucket, a lower bound of the full KLD (the log-sum inequality), exact
 * when k >= vocabulary (then every figure equals the live base's, bit for bit). docs/verify.md measures the
 * truncation error.
 *
 * File (little-endian), version 1:
 *   header, 128 bytes:  0 magic "R1KVBASE" · 8 u32 version · 12 u32 header bytes (128) · 16 u64 n_ctx ·
 *     24 u64 n_chunks · 32 u64 vocab · 40 u64 k (entries per row, <= vocab) · 48 i64 bos (-1 none) ·
 *     56 u64 tokenizer fingerprint · 64 u64 tokenizer vocabulary · 72 u64 raw payload bytes ·
 *     80 u64 compressed payload bytes · 88 u32 CRC-32 of the compressed payload · 92 u32 flags (0) ·
 *     96 reserved (zero) · 124 u32 CRC-32 of bytes 0..123
 *   payload: one zlib stream (RFC 1950, its Adler-32 checks the raw bytes) of
 *     i32 tokens[n_ctx * n_chunks] (the text's tokens, before the BOS replacement), then per chunk, for its
 *     per = n_ctx-1-n_ctx/2 scored rows: i32 id_delta[per][k] (first id, then differences, ids ascending) ·
 *     f32 logprob[per][k] · f64 nll[per] · i32 top[per] · f32 log_rest[per] (-inf: no rest).
 * The reader checks the header CRC, every size against the file length (header + payload == file size, raw
 * size == what the counts imply, raw <= 1032 x compressed, the zlib bound) before allocating, the payload CRC
 * over the whole file at open, and each row as decoded (ids ascending in range, log-probs <= 0, masses sum to
 * 1). Any defect is RK_ECORRUPT with the file named. The writer goes through a temp file + rename (rk_outfile). */
#ifndef RK_VERIFY_BASEFILE_H
#define RK_VERIFY_BASEFILE_H
#include <stdint.h>
#include "formats/common.h"
#include "model/tokenizer.h"
#include "verify/compare.h"

#define RK_BASEFILE_MAGIC "R1KVBASE"
#define RK_BASEFILE_VERSION 1
#define RK_BASEFILE_HEADER 128

/* FNV-1a 64 over the vocabulary size, every token string (NUL-terminated, "" for an id without one) with its
 * special flag, the leading-BOS id, and the ids of a fixed probe text (letters, digits, punctuation, spaces,
 * accents, CJK, Cyrillic: stands for the merges and the pre-tokenizer): equal for tokenizers that verify treats
 * as interchangeable. */
uint64_t rk_verify_tokenizer_fingerprint(const rk_tokenizer *t);

typedef struct rk_verify_basefile_info {
    int64_t n_ctx, n_chunks, vocab, k;   /* k: entries kept per row (clamped to vocab by the writer) */
    int32_t bos;                         /* -1 none */
    uint64_t tok_fingerprint;
    int64_t tok_vocab;
} rk_verify_basefile_info;

/* ---- writing ---- */
typedef struct rk_verify_basefile_writer rk_verify_basefile_writer;
/* tokens: [n_ctx * n_chunks]. Nothing appears at path until rk_verify_basefile_finish. */
int  rk_verify_basefile_create(rk_verify_basefile_writer **out, const char *path, const rk_verify_basefile_info *info,
                               const int32_t *tokens, rk_err *err);
/* The next chunk's rows (dense rows of the full vocabulary, as rk_verify_live_rows gives them). */
int  rk_verify_basefile_put(rk_verify_basefile_writer *w, const rk_verify_row *rows, int64_t per_chunk, rk_err *err);
int  rk_verify_basefile_finish(rk_verify_basefile_writer *w, rk_err *err);   /* all chunks put; commits; frees w */
void rk_verify_basefile_abort(rk_verify_basefile_writer *w);                 /* removes the temp; NULL ok */
const rk_verify_basefile_info *rk_verify_basefile_writer_info(const rk_verify_basefile_writer *w);
/* An rk_verify_base_fn that runs an inner source and stores its rows (chunks in order 0, 1, ...): lets one run
 * both compare a candidate and save the base. */
typedef struct rk_verify_basefile_tee {
    rk_verify_base_fn inner;
    void *inner_user;
    rk_verify_basefile_writer *w;
} rk_verify_basefile_tee;
int rk_verify_basefile_tee_rows(void *tee, int64_t chunk, const int32_t *in, int64_t n_ctx, const int32_t *targets,
                                int64_t per_chunk, rk_verify_row *rows, rk_err *err);
/* Base only: runs every chunk of tokens (those given to create) of the live source through the writer and finishes the file (w is freed either
 * way). progress (may be NULL) is called after each chunk with (chunk index, n_chunks). */
int rk_verify_basefile_save(rk_verify_basefile_writer *w, rk_verify_live *base, const int32_t *tokens,
                            void (*progress)(void *, int64_t, int64_t), void *user, rk_err *err);

/* ---- reading ---- */
typedef struct rk_verify_basefile rk_verify_basefile;
int  rk_verify_basefile_open(rk_verify_basefile **out, const char *path, rk_err *err);
void rk_verify_basefile_close(rk_verify_basefile *b);                      /* NULL ok */
const rk_verify_basefile_info *rk_verify_basefile_get_info(const rk_verify_basefile *b);
const int32_t *rk_verify_basefile_tokens(const rk_verify_basefile *b);     /* [n_ctx * n_chunks] */
uint64_t rk_verify_basefile_size(const rk_verify_basefile *b);              /* bytes on disk */
/* An rk_verify_base_fn (base_user = the open file): sparse rows with has_rest. Chunks are decoded in order;
 * asking for an earlier chunk restarts the stream. */
int rk_verify_basefile_rows(void *base_user, int64_t chunk, const int32_t *in, int64_t n_ctx, const int32_t *targets,
                            int64_t per_chunk, rk_verify_row *rows, rk_err *err);
#endif
