/* model/data.h — training data: a text corpus tokenized once into a token stream, split into a training part and
 * a held-out part, and served as batches of fixed-length windows.
 *
 * Split: the stream is cut into blocks of `block` tokens (default 4096); with holdout fraction f > 0, block i is
 * held out when floor((i+1)·f) > floor(i·f) (so about f of the blocks, spread evenly over the corpus, the same
 * every run). A separate held-out text (rk_data_open with a second file) replaces the split instead.
 * Batches: B windows of T+1 consecutive tokens from the training part (never crossing into a held-out block),
 * start positions drawn from the caller's rk_rng; inputs = window[0..T), targets = window[1..T]. Evaluation
 * walks the held-out part in order in non-overlapping windows (deterministic, no randomness).
 * Token ids are int32; the tokenizer is model/tokenizer.h. A document separator: when the corpus is several
 * files, the tokenizer's EOS id (if any) is inserted between files. */
#ifndef RK_MODEL_DATA_H
#define RK_MODEL_DATA_H
#include <stdint.h>
#include "formats/common.h"
#include "model/optim.h"

struct rk_tokenizer;
typedef struct rk_data rk_data;

typedef struct rk_data_opts {
    double holdout;        /* fraction of blocks held out, in [0, 0.5]; ignored when heldout_path is set */
    int64_t block;         /* split block length in tokens (0: 4096) */
    const char *heldout_path;  /* optional separate held-out text file */
    int replace_first;         /* 1: every window (training and held-out) starts with first_id instead of its
                                  first token — as llama-perplexity feeds chunks (BOS first), so a model trained
                                  this way sees what generation and perplexity give it; targets are unchanged */
    int32_t first_id;          /* usually the tokenizer's BOS */
} rk_data_opts;

/* Tokenizes every file in paths[0..n) (add_special = 0; concatenated, EOS between files) with tok. o may be NULL
 * (no holdout, block 4096). Errors name the file: RK_ENOTFOUND (missing), RK_EIO (unreadable), RK_ECORRUPT (a
 * file over the tokenizer's 4 GiB text limit), RK_EINVAL (a file — corpus or held-out — that gives no tokens,
 * no training stretch of at least one window of 2 tokens, holdout outside [0, 0.5] or NaN, block < 0),
 * a tokenizer error code (message prefixed by the file), RK_ENOMEM. Prints nothing. */
int rk_data_open(rk_data **out, const char *const *paths, int n, const struct rk_tokenizer *tok,
                 const rk_data_opts *o, rk_err *err);
/* The same over an in-memory token stream (copied); used by tests and by callers that tokenize themselves.
 * heldout non-NULL (n_heldout > 0) replaces the split like heldout_path. Negative ids are RK_EINVAL. */
int rk_data_from_tokens(rk_data **out, const int32_t *tokens, int64_t n, const int32_t *heldout, int64_t n_heldout,
                        const rk_data_opts *o, rk_err *err);
void rk_data_free(rk_data *d);   /* NULL ok */

int64_t rk_data_train_tokens(const rk_data *d);
int64_t rk_data_heldout_tokens(const rk_data *d);

/* B windows of T+1 from the training part into inputs[B·T], targets[B·T]. RK_EINVAL if B or T <= 0, B·T overflows,
 * or no training stretch holds T+1 tokens. Every start position whose window lies inside one training stretch is
 * equally likely. Uses exactly B calls of rk_rng_below on r (so a restored rng state resumes the sequence). */
int rk_data_batch(const rk_data *d, rk_rng *r, int64_t B, int64_t T, int32_t *inputs, int32_t *targets, rk_err *err);
/* Number of non-overlapping held-out windows of T+1 tokens (each stretch of held-out tokens is walked from its
 * start; a tail shorter than T+1 is dropped), and window i of them. max_windows caps the count (<= 0: no cap);
 * T <= 0 gives 0 windows. rk_data_heldout_window: RK_EINVAL for T <= 0 or i outside the (uncapped) count. */
int64_t rk_data_heldout_windows(const rk_data *d, int64_t T, int64_t max_windows);
int rk_data_heldout_window(const rk_data *d, int64_t T, int64_t i, int32_t *inputs, int32_t *targets, rk_err *err);
/* The training part as a fixed grid of windows (distillation, whose teacher cache is indexed by window): each
 * training stretch is cut into windows of T+1 tokens at stride T (consecutive windows share one token, so every
 * token but a stretch's first is a target exactly once; a tail shorter than T+1 is dropped); windows numbered
 * across stretches in corpus order. The same first-token replacement as rk_data_batch. */
int64_t rk_data_train_windows(const rk_data *d, int64_t T);
int rk_data_train_window(const rk_data *d, int64_t T, int64_t i, int32_t *inputs, int32_t *targets, rk_err *err);
#endif
