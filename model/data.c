/* model/data.c — see data.h. The corpus is one int32 token stream; the split is kept as two lists of stretches
 * (maximal runs of consecutive training blocks, and of held-out blocks), so a training window may cross from one
 * training block into the next but never into held-out text. A batch draw picks uniformly among every start
 * position whose window of T+1 tokens fits inside one training stretch: one rk_rng_below per window over the
 * total count, mapped to a stretch by binary search over the per-stretch counts. */
#define _GNU_SOURCE
#include "model/data.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/tokenizer.h"

enum { DEFAULT_BLOCK = 4096 };
#define MAX_TEXT_BYTES ((uint64_t)UINT32_MAX)   /* the tokenizer's 4 GiB text limit */

typedef struct stretch { int64_t off, len; } stretch;

struct rk_data {
    int32_t *tok;      /* the corpus stream */
    int64_t n;
    int32_t *held;     /* a separate held-out stream, or NULL (held-out stretches then index tok) */
    int64_t n_held;
    stretch *train, *hout;
    int64_t n_train, n_hout;
    int64_t train_tokens, heldout_tokens;
    int32_t first;     /* >= 0: replaces each window's first input token */
};

void rk_data_free(rk_data *d) {
    if (!d) return;
    free(d->tok);
    free(d->held);
    free(d->train);
    free(d->hout);
    free(d);
}

int64_t rk_data_train_tokens(const rk_data *d) { return d ? d->train_tokens : 0; }
int64_t rk_data_heldout_tokens(const rk_data *d) { return d ? d->heldout_tokens : 0; }

/* ---- the split --------------------------------------------------------------------------------------------- */
static int block_held(int64_t i, double f) { return floor((double)(i + 1) * f) > floor((double)i * f); }

/* Runs of equal kind over the blocks of the stream; fills d->train / d->hout. */
static int split_blocks(rk_data *d, double f, int64_t block, const char *label, rk_err *err) {
    const int64_t nb = d->n / block + (d->n % block != 0);
    int64_t runs[2] = {0, 0};   /* [0] train, [1] held out */
    for (int64_t i = 0; i < nb; i++)
        if (i == 0 || block_held(i, f) != block_held(i - 1, f)) runs[block_held(i, f)]++;
    d->train = malloc((size_t)(runs[0] ? runs[0] : 1) * sizeof *d->train);
    d->hout = malloc((size_t)(runs[1] ? runs[1] : 1) * sizeof *d->hout);
    if (!d->train || !d->hout) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "%s: out of memory for the split", label);
    for (int64_t i = 0; i < nb; i++) {
        const int h = block_held(i, f);
        const int64_t off = i * block, len = d->n - off < block ? d->n - off : block;
        stretch *list = h ? d->hout : d->train;
        int64_t *cnt = h ? &d->n_hout : &d->n_train;
        if (i > 0 && block_held(i - 1, f) == h) {
            list[*cnt - 1].len += len;
        } else {
            list[*cnt].off = off;
            list[*cnt].len = len;
            ++*cnt;
        }
        if (h) d->heldout_tokens += len;
        else d->train_tokens += len;
    }
    return 0;
}

/* Takes ownership of tok / held (both freed on failure). */
static int data_build(rk_data **out, int32_t *tok, int64_t n, int32_t *held, int64_t n_held, const rk_data_opts *o,
                      const char *label, rk_err *err) {
    *out = NULL;
    const double f = o ? o->holdout : 0.0;
    const int64_t block = o && o->block ? o->block : DEFAULT_BLOCK;
    rk_data *d = calloc(1, sizeof *d);
    if (!d) {
        free(tok);
        free(held);
        return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "%s: out of memory", label);
    }
    d->tok = tok;
    d->n = n;
    d->held = held;
    d->n_held = n_held;
    d->first = o && o->replace_first && o->first_id >= 0 ? o->first_id : -1;
    int rc = 0;
    if (block < 1) {
        rc = rk_err_set(err, RK_EINVAL, UINT64_MAX, "%s: split block of %lld tokens (must be >= 1, or 0 for %d)",
                        label, (long long)block, DEFAULT_BLOCK);
        goto fail;
    }
    if (held) {
        d->train = malloc(sizeof *d->train);
        d->hout = malloc(sizeof *d->hout);
        if (!d->train || !d->hout) {
            rc = rk_err_set(err, RK_ENOMEM, UINT64_MAX, "%s: out of memory", label);
            goto fail;
        }
        d->train[0] = (stretch){0, n};
        d->hout[0] = (stretch){0, n_held};
        d->n_train = d->n_hout = 1;
        d->train_tokens = n;
        d->heldout_tokens = n_held;
    } else {
        if (!(f >= 0.0 && f <= 0.5)) {
            rc = rk_err_set(err, RK_EINVAL, UINT64_MAX, "%s: holdout fraction %g is outside [0, 0.5]", label, f);
            goto fail;
        }
        if ((rc = split_blocks(d, f, block, label, err)) != 0) goto fail;
    }
    int64_t longest = 0;
    for (int64_t j = 0; j < d->n_train; j++)
        if (d->train[j].len > longest) longest = d->train[j].len;
    if (longest < 2) {
        rc = rk_err_set(err, RK_EINVAL, UINT64_MAX,
                        "%s: %lld tokens (%lld for training); no training stretch holds one window of 2 tokens",
                        label, (long long)n, (long long)d->train_tokens);
        goto fail;
    }
    *out = d;
    return 0;
fail:
    rk_data_free(d);
    return rc;
}

static int copy_tokens(int32_t **out, const int32_t *src, int64_t n, const char *what, rk_err *err) {
    *out = NULL;
    for (int64_t i = 0; i < n; i++)
        if (src[i] < 0)
            return rk_err_set(err, RK_EINVAL, UINT64_MAX, "%s: token %lld has negative id %d", what, (long long)i,
                              (int)src[i]);
    uint64_t bytes;
    if (rk_mul_u64((uint64_t)n, sizeof **out, &bytes) != 0 || bytes > SIZE_MAX || !(*out = malloc((size_t)bytes)))
        return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "%s: out of memory for %lld tokens", what, (long long)n);
    memcpy(*out, src, (size_t)bytes);
    return 0;
}

int rk_data_from_tokens(rk_data **out, const int32_t *tokens, int64_t n, const int32_t *heldout, int64_t n_heldout,
                        const rk_data_opts *o, rk_err *err) {
    if (!out) return rk_err_set(err, RK_EINVAL, UINT64_MAX, "token stream: no output pointer");
    *out = NULL;
    if (n <= 0 || !tokens)
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "token stream: empty corpus (%lld tokens)", (long long)n);
    if (heldout && n_heldout <= 0)
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "held-out token stream: empty (%lld tokens)", (long long)n_heldout);
    int32_t *tok = NULL, *held = NULL;
    int rc = copy_tokens(&tok, tokens, n, "token stream", err);
    if (rc) return rc;
    if (heldout && (rc = copy_tokens(&held, heldout, n_heldout, "held-out token stream", err)) != 0) {
        free(tok);
        return rc;
    }
    return data_build(out, tok, n, held, held ? n_heldout : 0, o, "token stream", err);
}

/* ---- from text files ----------------------------------------------------------------------------------------- */
typedef struct tokbuf { int32_t *v; int64_t n, cap; } tokbuf;

static int tokbuf_append(tokbuf *b, const int32_t *src, int64_t n, const char *path, rk_err *err) {
    uint64_t need;
    if (rk_add_u64((uint64_t)b->n, (uint64_t)n, &need) != 0 || need > (uint64_t)INT64_MAX)
        return rk_err_file(err, RK_EINVAL, path, UINT64_MAX, "corpus exceeds 2^63 tokens");
    if ((int64_t)need > b->cap) {
        uint64_t cap = b->cap ? (uint64_t)b->cap : 1024, bytes;
        while (cap < need) cap *= 2;
        int32_t *v = NULL;
        if (rk_mul_u64(cap, sizeof *v, &bytes) != 0 || bytes > SIZE_MAX || !(v = realloc(b->v, (size_t)bytes)))
            return rk_err_file(err, RK_ENOMEM, path, UINT64_MAX, "out of memory for %llu tokens",
                               (unsigned long long)need);
        b->v = v;
        b->cap = (int64_t)cap;
    }
    if (n) memcpy(b->v + b->n, src, (size_t)n * sizeof *src);
    b->n = (int64_t)need;
    return 0;
}

/* Reads and tokenizes one file (add_special = 0) and appends its ids to b; a file without tokens is an error. */
static int tokenize_file(tokbuf *b, const char *path, const rk_tokenizer *tok, rk_err *err) {
    char *text = NULL;
    uint64_t len = 0;
    int rc = rk_read_file(path, MAX_TEXT_BYTES, &text, &len, err);
    if (rc) return rc;
    int32_t *ids = NULL;
    size_t n = 0;
    rk_err inner = {0};
    rc = rk_tokenizer_encode(tok, text, (size_t)len, 0, &ids, &n, &inner);
    free(text);
    if (rc) {
        free(ids);
        return rk_err_file(err, rc, path, UINT64_MAX, "tokenizing failed: %s", inner.msg);
    }
    if (n == 0) rc = rk_err_file(err, RK_EINVAL, path, UINT64_MAX, "empty file (no tokens)");
    else if (n > (size_t)INT64_MAX) rc = rk_err_file(err, RK_EINVAL, path, UINT64_MAX, "too many tokens");
    else rc = tokbuf_append(b, ids, (int64_t)n, path, err);
    free(ids);
    return rc;
}

int rk_data_open(rk_data **out, const char *const *paths, int n, const struct rk_tokenizer *tok,
                 const rk_data_opts *o, rk_err *err) {
    if (!out) return rk_err_set(err, RK_EINVAL, UINT64_MAX, "corpus: no output pointer");
    *out = NULL;
    if (!paths || n < 1) return rk_err_set(err, RK_EINVAL, UINT64_MAX, "corpus: no input files");
    if (!tok) return rk_err_set(err, RK_EINVAL, UINT64_MAX, "%s: no tokenizer", paths[0] ? paths[0] : "corpus");
    for (int i = 0; i < n; i++)
        if (!paths[i]) return rk_err_set(err, RK_EINVAL, UINT64_MAX, "corpus: file %d has no path", i);
    const int32_t eos = rk_tokenizer_eos_id(tok);
    tokbuf train = {0}, held = {0};
    int rc = 0;
    for (int i = 0; i < n; i++) {
        if (i > 0 && eos >= 0 && (rc = tokbuf_append(&train, &eos, 1, paths[i], err)) != 0) goto fail;
        if ((rc = tokenize_file(&train, paths[i], tok, err)) != 0) goto fail;
    }
    const char *hp = o ? o->heldout_path : NULL;
    if (hp && (rc = tokenize_file(&held, hp, tok, err)) != 0) goto fail;
    char label[160];
    if (n == 1) snprintf(label, sizeof label, "%.150s", paths[0]);
    else snprintf(label, sizeof label, "%.120s (+%d more files)", paths[0], n - 1);
    return data_build(out, train.v, train.n, held.v, held.n, o, label, err);
fail:
    free(train.v);
    free(held.v);
    return rc;
}

/* ---- batches ----------------------------------------------------------------------------------------------- */
static int check_bt(int64_t B, int64_t T, rk_err *err) {
    uint64_t bt;
    if (B <= 0 || T <= 0 || T == INT64_MAX)
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "batch of B = %lld windows of T = %lld tokens: both must be > 0",
                          (long long)B, (long long)T);
    if (rk_mul_u64((uint64_t)B, (uint64_t)T, &bt) != 0 || bt > (uint64_t)INT64_MAX || bt > SIZE_MAX / sizeof(int32_t))
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "batch of %lld x %lld tokens is too large", (long long)B,
                          (long long)T);
    return 0;
}

static void copy_window(const rk_data *d, const int32_t *src, int64_t T, int32_t *inputs, int32_t *targets) {
    memcpy(inputs, src, (size_t)T * sizeof *src);
    memcpy(targets, src + 1, (size_t)T * sizeof *src);
    if (d->first >= 0) inputs[0] = d->first;
}

int rk_data_batch(const rk_data *d, rk_rng *r, int64_t B, int64_t T, int32_t *inputs, int32_t *targets, rk_err *err) {
    if (!d || !r || !inputs || !targets) return rk_err_set(err, RK_EINVAL, UINT64_MAX, "batch: NULL argument");
    int rc = check_bt(B, T, err);
    if (rc) return rc;
    /* cum[j] = number of window starts in stretches [0, j) */
    int64_t *cum = malloc((size_t)(d->n_train + 1) * sizeof *cum);
    if (!cum) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "batch: out of memory");
    int64_t longest = 0;
    cum[0] = 0;
    for (int64_t j = 0; j < d->n_train; j++) {
        const int64_t len = d->train[j].len;
        if (len > longest) longest = len;
        cum[j + 1] = cum[j] + (len > T ? len - T : 0);
    }
    const int64_t total = cum[d->n_train];
    if (total == 0) {
        free(cum);
        return rk_err_set(err, RK_EINVAL, UINT64_MAX,
                          "batch: no training stretch holds a window of T+1 = %lld tokens (longest: %lld)",
                          (long long)T + 1, (long long)longest);
    }
    for (int64_t b = 0; b < B; b++) {
        const int64_t u = (int64_t)rk_rng_below(r, (uint64_t)total);
        int64_t lo = 0, hi = d->n_train - 1;   /* the stretch j with cum[j] <= u < cum[j+1] */
        while (lo < hi) {
            const int64_t mid = lo + (hi - lo + 1) / 2;
            if (cum[mid] <= u) lo = mid;
            else hi = mid - 1;
        }
        const int64_t start = d->train[lo].off + (u - cum[lo]);
        copy_window(d, d->tok + start, T, inputs + b * T, targets + b * T);
    }
    free(cum);
    return 0;
}

/* ---- held-out windows -------------------------------------------------------------------------------------- */
static int64_t heldout_count(const rk_data *d, int64_t T) {
    int64_t c = 0;
    for (int64_t j = 0; j < d->n_hout; j++) c += d->hout[j].len / (T + 1);
    return c;
}

int64_t rk_data_heldout_windows(const rk_data *d, int64_t T, int64_t max_windows) {
    if (!d || T <= 0 || T == INT64_MAX) return 0;
    const int64_t c = heldout_count(d, T);
    return max_windows > 0 && max_windows < c ? max_windows : c;
}

int rk_data_heldout_window(const rk_data *d, int64_t T, int64_t i, int32_t *inputs, int32_t *targets, rk_err *err) {
    if (!d || !inputs || !targets) return rk_err_set(err, RK_EINVAL, UINT64_MAX, "held-out window: NULL argument");
    int rc = check_bt(1, T, err);
    if (rc) return rc;
    const int64_t c = heldout_count(d, T);
    if (i < 0 || i >= c)
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "held-out window %lld of T = %lld: there are %lld", (long long)i,
                          (long long)T, (long long)c);
    const int32_t *base = d->held ? d->held : d->tok;
    for (int64_t j = 0; j < d->n_hout; j++) {
        const int64_t k = d->hout[j].len / (T + 1);
        if (i < k) {
            copy_window(d, base + d->hout[j].off + i * (T + 1), T, inputs, targets);
            return 0;
        }
        i -= k;
    }
    return rk_err_set(err, RK_EINVAL, UINT64_MAX, "held-out window out of range");   /* not reached */
}

/* ---- the training windows' grid ----------------------------------------------------------------------------- */
int64_t rk_data_train_windows(const rk_data *d, int64_t T) {
    if (!d || T <= 0 || T == INT64_MAX) return 0;
    int64_t c = 0;
    for (int64_t j = 0; j < d->n_train; j++) c += d->train[j].len > T ? (d->train[j].len - 1) / T : 0;
    return c;
}

int rk_data_train_window(const rk_data *d, int64_t T, int64_t i, int32_t *inputs, int32_t *targets, rk_err *err) {
    if (!d || !inputs || !targets) return rk_err_set(err, RK_EINVAL, UINT64_MAX, "training window: NULL argument");
    int rc = check_bt(1, T, err);
    if (rc) return rc;
    const int64_t c = rk_data_train_windows(d, T);
    if (i < 0 || i >= c)
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "training window %lld of T = %lld: there are %lld", (long long)i,
                          (long long)T, (long long)c);
    for (int64_t j = 0; j < d->n_train; j++) {
        const int64_t k = d->train[j].len > T ? (d->train[j].len - 1) / T : 0;
        if (i < k) {
            copy_window(d, d->tok + d->train[j].off + i * T, T, inputs, targets);
            return 0;
        }
        i -= k;
    }
    return rk_err_set(err, RK_EINVAL, UINT64_MAX, "training window out of range");   /* not reached */
}
