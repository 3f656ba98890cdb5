/* model/tokenizer_train_bpe.c — the merge loop of the BPE trainer (model/tokenizer_train.h).
 * Pairs of adjacent symbols are counted once over the distinct words (each weighted by its count); every
 * pair remembers which words contain it. A max-heap orders pairs by (count desc, left string, right string);
 * its entries go stale as counts drop and are re-pushed with the current count when popped (lazy updates).
 * Applying a merge rewrites only the words that contain the pair and adjusts the counts of the neighbouring
 * pairs in place, so one merge costs time proportional to the occurrences it touches, not to the corpus. */
#include "model/tokenizer-impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- vocabulary ---- */
static uint64_t str_hash(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

static int32_t *vocab_slot(rk_bpe_vocab *v, const char *s, size_t len) {
    for (size_t h = str_hash(s, len) & (v->slot_cap - 1);; h = (h + 1) & (v->slot_cap - 1)) {
        int32_t id = v->slots[h];
        if (id < 0 || (v->len[id] == len && !memcmp(v->s[id], s, len))) return &v->slots[h];
    }
}

static int vocab_grow(rk_bpe_vocab *v) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 1024;
        char **s = realloc(v->s, cap * sizeof *s);
        if (!s) return -1;
        v->s = s;
        uint32_t *l = realloc(v->len, cap * sizeof *l);
        if (!l) return -1;
        v->len = l;
        v->cap = cap;
    }
    if ((v->n + 1) * 2 > v->slot_cap) {
        size_t cap = v->slot_cap ? v->slot_cap * 2 : 2048;
        int32_t *slots = malloc(cap * sizeof *slots);
        if (!slots) return -1;
        memset(slots, 0xff, cap * sizeof *slots);
        free(v->slots);
        v->slots = slots;
        v->slot_cap = cap;
        for (size_t i = 0; i < v->n; i++) *vocab_slot(v, v->s[i], v->len[i]) = (int32_t)i;
    }
    return 0;
}

int rk_bpe_vocab_add(rk_bpe_vocab *v, const char *s, size_t len, int32_t *id, int *added) {
    if (added) *added = 0;
    if (v->slot_cap) {
        int32_t *slot = vocab_slot(v, s, len);
        if (*slot >= 0) { *id = *slot; return 0; }
    }
    if (vocab_grow(v)) return -1;
    char *copy = malloc(len + 1);
    if (!copy) return -1;
    memcpy(copy, s, len);
    copy[len] = 0;
    v->s[v->n] = copy;
    v->len[v->n] = (uint32_t)len;
    *vocab_slot(v, s, len) = (int32_t)v->n;
    *id = (int32_t)v->n++;
    if (added) *added = 1;
    return 0;
}

void rk_bpe_vocab_free(rk_bpe_vocab *v) {
    if (!v) return;
    for (size_t i = 0; i < v->n; i++) free(v->s[i]);
    free(v->s);
    free(v->len);
    free(v->slots);
    memset(v, 0, sizeof *v);
}

/* ---- pairs ---- */
typedef struct pair {
    int32_t a, b;
    int64_t count;
    uint32_t touched;   /* merge step (1-based) in which the count last grew */
    uint32_t nw, cw;    /* words that contain (or contained) the pair; may repeat and go stale */
    int32_t *w;
} pair;
typedef struct hent { int64_t count; int32_t pair; } hent;

typedef struct bctx {
    rk_bpe_words *W;
    rk_bpe_vocab *V;
    pair *p;
    size_t np, cp;
    int32_t *slots;     /* pair index, -1 empty */
    size_t scap;
    hent *heap;
    size_t hn, hcap;
    int32_t *grown;     /* pairs whose count grew in this merge step */
    size_t ng, cg;
    uint32_t *wstamp;   /* per word: last merge step that rewrote it */
    uint32_t step;
} bctx;

static size_t pair_hash(int32_t a, int32_t b, size_t cap) {
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    return (size_t)((key * 0x9E3779B97F4A7C15ull) >> 17) & (cap - 1);
}

static int32_t *pair_slot(const bctx *c, int32_t a, int32_t b) {
    for (size_t h = pair_hash(a, b, c->scap);; h = (h + 1) & (c->scap - 1)) {
        int32_t i = c->slots[h];
        if (i < 0 || (c->p[i].a == a && c->p[i].b == b)) return &c->slots[h];
    }
}

/* index of pair (a, b), created with count 0 when new; -1 when out of memory */
static int32_t pair_get(bctx *c, int32_t a, int32_t b) {
    int32_t *slot = c->scap ? pair_slot(c, a, b) : NULL;
    if (slot && *slot >= 0) return *slot;
    if (c->np == c->cp) {
        size_t cap = c->cp ? c->cp * 2 : 4096;
        pair *p = realloc(c->p, cap * sizeof *p);
        if (!p) return -1;
        c->p = p;
        c->cp = cap;
    }
    if ((c->np + 1) * 2 > c->scap) {
        size_t cap = c->scap ? c->scap * 2 : 8192;
        int32_t *s = malloc(cap * sizeof *s);
        if (!s) return -1;
        memset(s, 0xff, cap * sizeof *s);
        free(c->slots);
        c->slots = s;
        c->scap = cap;
        for (size_t i = 0; i < c->np; i++) *pair_slot(c, c->p[i].a, c->p[i].b) = (int32_t)i;
        slot = NULL;
    }
    if (!slot) slot = pair_slot(c, a, b);
    pair *p = &c->p[c->np];
    memset(p, 0, sizeof *p);
    p->a = a;
    p->b = b;
    *slot = (int32_t)c->np;
    return (int32_t)c->np++;
}

static int pair_add_word(pair *p, int32_t w) {
    if (p->nw && p->w[p->nw - 1] == w) return 0;
    if (p->nw == p->cw) {
        uint32_t cap = p->cw ? p->cw * 2 : 4;
        int32_t *v = realloc(p->w, cap * sizeof *v);
        if (!v) return -1;
        p->w = v;
        p->cw = cap;
    }
    p->w[p->nw++] = w;
    return 0;
}

/* ---- heap: (count desc, left string asc, right string asc) ---- */
static int str_cmp(const rk_bpe_vocab *v, int32_t x, int32_t y) {
    uint32_t lx = v->len[x], ly = v->len[y];
    int r = memcmp(v->s[x], v->s[y], lx < ly ? lx : ly);
    return r ? r : (lx > ly) - (lx < ly);
}
static int h_before(const bctx *c, hent x, hent y) {
    if (x.count != y.count) return x.count > y.count;
    const pair *p = &c->p[x.pair], *q = &c->p[y.pair];
    int r = str_cmp(c->V, p->a, q->a);
    return r ? r < 0 : str_cmp(c->V, p->b, q->b) < 0;
}
static int h_push(bctx *c, hent e) {
    if (c->hn == c->hcap) {
        size_t cap = c->hcap ? c->hcap * 2 : 4096;
        hent *h = realloc(c->heap, cap * sizeof *h);
        if (!h) return -1;
        c->heap = h;
        c->hcap = cap;
    }
    size_t i = c->hn++;
    while (i > 0 && h_before(c, e, c->heap[(i - 1) / 2])) { c->heap[i] = c->heap[(i - 1) / 2]; i = (i - 1) / 2; }
    c->heap[i] = e;
    return 0;
}
static hent h_pop(bctx *c) {
    hent top = c->heap[0], last = c->heap[--c->hn];
    size_t i = 0;
    for (;;) {
        size_t k = 2 * i + 1;
        if (k >= c->hn) break;
        if (k + 1 < c->hn && h_before(c, c->heap[k + 1], c->heap[k])) k++;
        if (!h_before(c, c->heap[k], last)) break;
        c->heap[i] = c->heap[k];
        i = k;
    }
    if (c->hn) c->heap[i] = last;
    return top;
}

/* ---- count updates while a merge rewrites a word ---- */
static void dec(bctx *c, int32_t a, int32_t b, int64_t n) {
    int32_t i = *pair_slot(c, a, b);   /* exists: it was counted from this very word */
    c->p[i].count -= n;
}
static int inc(bctx *c, int32_t a, int32_t b, int64_t n, int32_t word) {
    int32_t i = pair_get(c, a, b);
    if (i < 0) return -1;
    pair *p = &c->p[i];
    p->count += n;
    if (pair_add_word(p, word)) return -1;
    if (p->touched != c->step) {
        p->touched = c->step;
        if (c->ng == c->cg) {
            size_t cap = c->cg ? c->cg * 2 : 256;
            int32_t *g = realloc(c->grown, cap * sizeof *g);
            if (!g) return -1;
            c->grown = g;
            c->cg = cap;
        }
        c->grown[c->ng++] = i;
    }
    return 0;
}

/* Replace every non-overlapping (a, b), left to right, by x in word wi. */
static int merge_word(bctx *c, int32_t wi, int32_t a, int32_t b, int32_t x) {
    int32_t *s = c->W->sym + c->W->off[wi];
    uint32_t n = c->W->len[wi], r = 0, w = 0;
    int64_t cnt = c->W->count[wi];
    while (r < n) {
        if (r + 1 < n && s[r] == a && s[r + 1] == b) {
            if (w > 0) {
                dec(c, s[w - 1], a, cnt);
                if (inc(c, s[w - 1], x, cnt, wi)) return -1;
            }
            if (r + 2 < n) {
                dec(c, b, s[r + 2], cnt);
                if (inc(c, x, s[r + 2], cnt, wi)) return -1;
            }
            dec(c, a, b, cnt);
            s[w++] = x;
            r += 2;
        } else {
            s[w++] = s[r++];
        }
    }
    c->W->len[wi] = w;
    return 0;
}

static int count_pairs(bctx *c) {
    for (size_t wi = 0; wi < c->W->n; wi++) {
        const int32_t *s = c->W->sym + c->W->off[wi];
        for (uint32_t k = 0; k + 1 < c->W->len[wi]; k++) {
            int32_t i = pair_get(c, s[k], s[k + 1]);
            if (i < 0 || pair_add_word(&c->p[i], (int32_t)wi)) return -1;
            c->p[i].count += c->W->count[wi];
        }
    }
    for (size_t i = 0; i < c->np; i++)
        if (h_push(c, (hent){c->p[i].count, (int32_t)i})) return -1;
    return 0;
}

/* One merge of pair pi: new token, rewrite the words that hold it, re-queue the pairs that grew. */
static int apply_merge(bctx *c, int32_t pi, rk_bpe_merge *m) {
    int32_t a = c->p[pi].a, b = c->p[pi].b, x;
    size_t la = c->V->len[a], lb = c->V->len[b];
    char small[512], *buf = la + lb <= sizeof small ? small : malloc(la + lb);
    if (!buf) return -1;
    memcpy(buf, c->V->s[a], la);
    memcpy(buf + la, c->V->s[b], lb);
    int rc = rk_bpe_vocab_add(c->V, buf, la + lb, &x, NULL);
    if (buf != small) free(buf);
    if (rc) return -1;
    *m = (rk_bpe_merge){a, b, x};
    int32_t *words = c->p[pi].w;   /* detached: the list is not appended to while we walk it */
    uint32_t nw = c->p[pi].nw;
    c->p[pi].w = NULL;
    c->p[pi].nw = c->p[pi].cw = 0;
    c->ng = 0;
    for (uint32_t k = 0; k < nw && !rc; k++) {
        int32_t wi = words[k];
        if (c->wstamp[wi] == c->step) continue;
        c->wstamp[wi] = c->step;
        rc = merge_word(c, wi, a, b, x);
    }
    free(words);
    for (size_t k = 0; k < c->ng && !rc; k++) {
        int32_t i = c->grown[k];
        if (c->p[i].count > 0) rc = h_push(c, (hent){c->p[i].count, i});
    }
    return rc;
}

int rk_bpe_learn(rk_bpe_words *w, rk_bpe_vocab *v, int64_t vocab_size, int64_t min_frequency, int progress,
                 rk_bpe_merge **merges, size_t *n_merges, rk_err *err) {
    bctx c = {.W = w, .V = v};
    rk_bpe_merge *m = NULL;
    size_t nm = 0, cm = 0;
    int rc = 0;
    *merges = NULL;
    *n_merges = 0;
    if (!(c.wstamp = calloc(w->n ? w->n : 1, sizeof *c.wstamp)) || count_pairs(&c)) goto oom;
    while ((int64_t)v->n < vocab_size && c.hn) {
        if (rk_interrupted()) { rc = rk_err_set(err, RK_EINTR, UINT64_MAX, "BPE training interrupted"); goto done; }
        hent top = h_pop(&c);
        int64_t now = c.p[top.pair].count;
        if (top.count != now) {   /* stale: re-queue a drop; a rise was queued when it happened */
            if (now > 0 && now < top.count && h_push(&c, (hent){now, top.pair})) goto oom;
            continue;
        }
        if (now < min_frequency || now <= 0) break;
        if (nm == cm) {
            cm = cm ? cm * 2 : 1024;
            rk_bpe_merge *g = realloc(m, cm * sizeof *g);
            if (!g) goto oom;
            m = g;
        }
        c.step++;
        if (apply_merge(&c, top.pair, &m[nm])) goto oom;
        nm++;
        if (progress && nm % 1000 == 0)
            fprintf(stderr, "bpe: %zu merges, vocab %zu, last pair count %lld\n", nm, v->n, (long long)now);
    }
    goto done;
oom:
    rc = rk_err_set(err, RK_ENOMEM, UINT64_MAX, "BPE training: out of memory");
done:
    for (size_t i = 0; i < c.np; i++) free(c.p[i].w);
    free(c.p);
    free(c.slots);
    free(c.heap);
    free(c.grown);
    free(c.wstamp);
    if (rc) { free(m); return rc; }
    *merges = m;
    *n_merges = nm;
    return 0;
}
