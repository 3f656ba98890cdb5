/* distill/teacher_cache.h — a teacher's answers on the training windows, computed once and stored, so that a
 * student can be distilled later without running the teacher (`r1kit distill --save-teacher FILE`, then
 * `--teacher-cache FILE`).
 *
 * Window i holds T+1 consecutive tokens (inputs tokens[0..T), targets tokens[1..T]) and, at each of its T
 * positions, the teacher's top-k log-probabilities at temperature 1 (from a full-vocabulary log-softmax in
 * double; ids ascending, ties between equal logits go to the lower id) and log_rest, the log of the summed
 * probability of all other ids (from the full row in double, −inf when k = vocab). Read back, a window is a
 * sparse teacher for rk_kd_loss_sparse (distill/kd_loss.h). Training draws windows in random order, so each
 * window is its own zlib stream, found through an index: one window is read (and inflated) at a time.
 *
 * File (little-endian), version 1:
 *   header, 128 bytes:  0 magic "R1KTCACH" · 8 u32 version · 12 u32 header bytes (128) · 16 u64 T ·
 *     24 u64 n_windows · 32 u64 vocab · 40 u64 k (1 <= k <= vocab) · 48 u64 tokenizer fingerprint
 *     (rk_verify_tokenizer_fingerprint, stored as given) · 56 u64 tokenizer vocabulary · 64 i64 first_token
 *     (the BOS replacement of a window's first input, −1 none) · 72 u64 index offset · 80 u32 flags (0) ·
 *     84 reserved (zero) · 124 u32 CRC-32 of bytes 0..123
 *   records, from byte 128, window 0, 1, ... back to back: each a zlib stream (RFC 1950) of exactly
 *     raw = 4·(T+1) + 8·T·k + 4·T bytes:  i32 tokens[T+1] · i32 id_delta[T][k] (per position the first id,
 *     then differences, ids strictly ascending) · f32 logp[T][k] · f32 log_rest[T] (−inf: no rest)
 *   index, at the index offset (= the end of the last record):  per window u64 record offset · u32 compressed
 *     bytes · u32 CRC-32 of the compressed bytes; then u32 CRC-32 of the index entries. The file ends there.
 * Every byte is under a CRC (header, each record, the index). Limits: T <= 2^20, vocab <= 2^24, raw <= 1 GiB.
 *
 * Open checks the magic, version, header CRC and ranges, that header + records + index == the file size with
 * the counts (checked arithmetic) BEFORE allocating anything sized by them, the index CRC, and that the
 * records tile the record area in order (no hole, overlap or zero size, each within compressBound(raw)).
 * Open also checks every record's CRC (one pass over the file), so a damaged cache is refused before training.
 * Read checks the record's CRC, inflates into exactly raw bytes (a stream that ends early, runs past raw
 * or leaves input over is corrupt; memory is bounded by raw), and validates every position: tokens in
 * [0, vocab), ids strictly ascending in [0, vocab), logp <= 0 and not NaN (−inf allowed), log_rest <= 0 or
 * −inf, and Σ exp(logp) + exp(log_rest) within 1e-3 of 1. Any defect is RK_ECORRUPT with a one-line message
 * naming the file (and the window: "<file>: window 17: record checksum mismatch"). The file is mapped
 * read-only; a reader is not thread-safe (one rk_tcache per thread). The writer goes through a temp file
 * beside the target + rename (rk_outfile): nothing is at the path until rk_tcache_finish succeeds. */
#ifndef RK_DISTILL_TEACHER_CACHE_H
#define RK_DISTILL_TEACHER_CACHE_H
#include <stddef.h>
#include <stdint.h>
#include "formats/common.h"

#define RK_TCACHE_MAGIC "R1KTCACH"
#define RK_TCACHE_VERSION 1
#define RK_TCACHE_HEADER 128
#define RK_TCACHE_MAX_T (1 << 20)
#define RK_TCACHE_MAX_VOCAB (1 << 24)
#define RK_TCACHE_MAX_RAW ((uint64_t)1 << 30)   /* raw bytes of one window's record */

typedef struct rk_tcache_info {
    int64_t T;                  /* positions per window (a window holds T+1 tokens) */
    int64_t n_windows;
    int64_t vocab;              /* teacher rows' width; tokens and ids are in [0, vocab) */
    int64_t k;                  /* entries kept per position, 1 <= k <= vocab */
    int32_t first_token;        /* BOS replacement used for the window inputs, −1 none (stored, not applied) */
    uint64_t tok_fingerprint;   /* rk_verify_tokenizer_fingerprint of the tokenizer (stored, not checked) */
    int64_t tok_vocab;          /* the tokenizer's vocabulary size (stored, not checked) */
} rk_tcache_info;

/* ---- writing ---- */
typedef struct rk_tcache_writer rk_tcache_writer;
/* RK_EINVAL for T outside [1, 2^20], vocab outside [1, 2^24], k outside [1, vocab], n_windows < 1, first_token
 * outside [−1, vocab), tok_vocab outside [0, 2^24] or a record over 1 GiB. Nothing appears at path until
 * rk_tcache_finish. */
int  rk_tcache_create(rk_tcache_writer **out, const char *path, const rk_tcache_info *info, rk_err *err);
/* The next window (0, 1, 2, ... in order): tokens [T+1] in [0, vocab); logits [T, vocab] the teacher's f32
 * logits (any shift per row; −inf allowed, not NaN or +inf, not all −inf). RK_EINVAL on bad values or when
 * all n_windows are already in (w stays usable: abort or finish it). */
int  rk_tcache_put(rk_tcache_writer *w, const int32_t *tokens, const float *logits, rk_err *err);
/* All n_windows put (else RK_EINVAL); writes the index and header, commits. Frees w either way (on failure
 * nothing is left at the path nor beside it). */
int  rk_tcache_finish(rk_tcache_writer *w, rk_err *err);
void rk_tcache_abort(rk_tcache_writer *w);                  /* removes the temp and frees w; NULL ok */
int64_t rk_tcache_writer_count(const rk_tcache_writer *w);  /* windows put so far */

/* ---- reading ---- */
typedef struct rk_tcache rk_tcache;
int  rk_tcache_open(rk_tcache **out, const char *path, rk_err *err);
/* The same from memory (data must outlive the handle; name is used in messages): tests and the fuzzer. */
int  rk_tcache_open_buffer(rk_tcache **out, const void *data, size_t size, const char *name, rk_err *err);
void rk_tcache_close(rk_tcache *c);                         /* NULL ok */
const rk_tcache_info *rk_tcache_get_info(const rk_tcache *c);
uint64_t rk_tcache_size(const rk_tcache *c);                /* bytes on disk */
/* Window i (0 <= i < n_windows, any order) into the caller's buffers: tokens [T+1], ids [T·k] (row-major,
 * ascending per position), logp [T·k], log_rest [T]. RK_EINVAL for i out of range, RK_ECORRUPT for a bad
 * record (the buffers' contents are then unspecified). */
int  rk_tcache_read(rk_tcache *c, int64_t i, int32_t *tokens, int32_t *ids, float *logp, float *log_rest, rk_err *err);
#endif
