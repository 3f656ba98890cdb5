/* model/tokenizer.c — encoding and decoding (see tokenizer.h for the pipeline; loading is in
 * tokenizer_load.c, the Split matchers in tokenizer_regex.c).
 * BPE follows Hugging Face's word merge: symbols in a linked list, candidate pairs in a min-heap ordered by
 * (merge rank, position); a popped pair is applied only if both symbols are still as they were. */
#include "model/tokenizer-impl.h"

#include <stdlib.h>
#include <string.h>

/* ---- growable id vector ---- */
typedef struct ivec { int32_t *v; size_t n, cap; } ivec;
static int iv_push(ivec *a, int32_t x) {
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        int32_t *v = realloc(a->v, cap * sizeof *v);
        if (!v) return -1;
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = x;
    return 0;
}

/* ---- BPE on one pre-token (raw bytes) ---- */
typedef struct hitem { int32_t rank; uint32_t pos, right; int32_t l, r; } hitem;
typedef struct bpe_ws {
    int32_t *id;
    uint32_t *prev, *next;
    hitem *heap;
    size_t cap, hcap, hn;
    char *str;        /* byte-level string of the piece (ignore_merges) */
    size_t str_cap;
} bpe_ws;

static int h_less(const hitem *a, const hitem *b) {
    return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos;
}
static int h_push(bpe_ws *w, hitem it) {
    if (w->hn == w->hcap) {
        size_t cap = w->hcap ? w->hcap * 2 : 64;
        hitem *h = realloc(w->heap, cap * sizeof *h);
        if (!h) return -1;
        w->heap = h;
        w->hcap = cap;
    }
    size_t i = w->hn++;
    while (i > 0 && h_less(&it, &w->heap[(i - 1) / 2])) { w->heap[i] = w->heap[(i - 1) / 2]; i = (i - 1) / 2; }
    w->heap[i] = it;
    return 0;
}
static hitem h_pop(bpe_ws *w) {
    hitem top = w->heap[0], last = w->heap[--w->hn];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= w->hn) break;
        if (c + 1 < w->hn && h_less(&w->heap[c + 1], &w->heap[c])) c++;
        if (!h_less(&w->heap[c], &last)) break;
        w->heap[i] = w->heap[c];
        i = c;
    }
    if (w->hn) w->heap[i] = last;
    return top;
}

static const rk_pair_slot *pair_get(const rk_tokenizer *t, int32_t a, int32_t b) {
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    for (size_t h = (key * 0x9E3779B97F4A7C15ull) >> 20 & (t->pair_cap - 1);; h = (h + 1) & (t->pair_cap - 1)) {
        const rk_pair_slot *s = &t->pairs[h];
        if (s->rank < 0) return NULL;
        if (s->key == key) return s;
    }
}

static int push_pair(const rk_tokenizer *t, bpe_ws *w, uint32_t pos) {
    uint32_t r = w->next[pos];
    if (r == UINT32_MAX) return 0;
    const rk_pair_slot *s = pair_get(t, w->id[pos], w->id[r]);
    if (!s) return 0;
    hitem it = {s->rank, pos, r, w->id[pos], w->id[r]};
    return h_push(w, it);
}

static int bpe_piece(const rk_tokenizer *t, bpe_ws *w, const uint8_t *s, size_t n, ivec *out) {
    if (n == 0) return 0;
    if (t->ignore_merges) {   /* a pre-token that is itself in the vocabulary is taken whole */
        if (n * 2 > w->str_cap) {
            char *p = realloc(w->str, n * 2);
            if (!p) return -1;
            w->str = p;
            w->str_cap = n * 2;
        }
        size_t k = 0;
        for (size_t i = 0; i < n; i++) k += rk_utf8_encode(rk_tok_byte_to_cp(s[i]), (uint8_t *)w->str + k);
        int32_t id = rk_tok_lookup(t, w->str, k);
        if (id >= 0 && !t->is_added[id]) return iv_push(out, id);
    }
    if (n > w->cap) {
        int32_t *id = realloc(w->id, n * sizeof *id);
        if (id) w->id = id;
        uint32_t *pv = realloc(w->prev, n * sizeof *pv);
        if (pv) w->prev = pv;
        uint32_t *nx = realloc(w->next, n * sizeof *nx);
        if (nx) w->next = nx;
        if (!id || !pv || !nx) return -1;
        w->cap = n;
    }
    for (size_t i = 0; i < n; i++) {
        w->id[i] = t->byte_id[s[i]];
        w->prev[i] = i ? (uint32_t)(i - 1) : UINT32_MAX;
        w->next[i] = i + 1 < n ? (uint32_t)(i + 1) : UINT32_MAX;
    }
    w->hn = 0;
    for (size_t i = 0; i + 1 < n; i++)
        if (push_pair(t, w, (uint32_t)i)) return -1;
    while (w->hn) {
        hitem it = h_pop(w);
        if (w->id[it.pos] != it.l || w->next[it.pos] != it.right || w->id[it.right] != it.r) continue;
        const rk_pair_slot *ps = pair_get(t, it.l, it.r);
        w->id[it.pos] = ps->merged;
        w->id[it.right] = -1;          /* dead */
        uint32_t nn = w->next[it.right];
        w->next[it.pos] = nn;
        if (nn != UINT32_MAX) w->prev[nn] = it.pos;
        if (w->prev[it.pos] != UINT32_MAX && push_pair(t, w, w->prev[it.pos])) return -1;
        if (push_pair(t, w, it.pos)) return -1;
    }
    for (uint32_t i = 0; i != UINT32_MAX; i = w->next[i])
        if (iv_push(out, w->id[i])) return -1;
    return 0;
}

/* ---- pre-tokenization of one segment (no added tokens inside) ---- */
typedef struct span { uint32_t a, b; } span;
typedef struct svec { span *v; size_t n, cap; } svec;
static int sv_push(svec *s, size_t a, size_t b) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        span *v = realloc(s->v, cap * sizeof *v);
        if (!v) return -1;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n].a = (uint32_t)a;
    s->v[s->n].b = (uint32_t)b;
    s->n++;
    return 0;
}

/* Split with behaviour Isolated: matches and the gaps between them all become pieces. */
static int split_pieces(rk_split_kind k, const uint32_t *cp, const svec *in, svec *out) {
    out->n = 0;
    for (size_t p = 0; p < in->n; p++) {
        /* the matcher sees the piece as the whole string */
        size_t a = in->v[p].a, len = in->v[p].b - a, i = 0, g = 0;
        const uint32_t *base = cp + a;
        while (i < len) {
            size_t m = rk_split_match(k, base, i, len);
            if (!m) { i++; continue; }
            if (g < i && sv_push(out, a + g, a + i)) return -1;
            if (sv_push(out, a + i, a + i + m)) return -1;
            i += m;
            g = i;
        }
        if (g < len && sv_push(out, a + g, a + len)) return -1;
    }
    return 0;
}

typedef struct enc_ws {
    bpe_ws bpe;
    uint32_t *cp, *off;
    size_t cp_cap;
    svec s1, s2;
    uint8_t *tmp;
} enc_ws;

static int encode_segment(const rk_tokenizer *t, enc_ws *w, const uint8_t *s, size_t n, ivec *out) {
    if (n == 0) return 0;
    uint8_t *norm = NULL;
    if (t->nfc) {
        size_t nn;
        if (rk_uni_nfc(s, n, &norm, &nn)) return -1;
        s = norm;
        n = nn;
    }
    int rc = -1;
    uint8_t *pref = NULL;
    if (t->add_prefix_space && s[0] != ' ') {   /* ByteLevel add_prefix_space */
        if (!(pref = malloc(n + 1))) goto done;
        pref[0] = ' ';
        memcpy(pref + 1, s, n);
        s = pref;
        n++;
    }
    if (n + 1 > w->cp_cap) {
        uint32_t *cp = realloc(w->cp, (n + 1) * sizeof *cp);
        if (cp) w->cp = cp;
        uint32_t *off = realloc(w->off, (n + 1) * sizeof *off);
        if (off) w->off = off;
        if (!cp || !off) goto done;
        w->cp_cap = n + 1;
    }
    size_t ncp = 0;
    for (size_t i = 0; i < n;) {
        w->off[ncp] = (uint32_t)i;
        i += rk_utf8_decode(s + i, n - i, &w->cp[ncp]);
        ncp++;
    }
    w->off[ncp] = (uint32_t)n;
    w->s1.n = 0;
    if (sv_push(&w->s1, 0, ncp)) goto done;
    svec *cur = &w->s1, *nxt = &w->s2;
    for (size_t k = 0; k < t->n_splits; k++) {
        if (split_pieces(t->splits[k], w->cp, cur, nxt)) goto done;
        svec *tmp = cur; cur = nxt; nxt = tmp;
    }
    for (size_t p = 0; p < cur->n; p++) {
        size_t a = w->off[cur->v[p].a], b = w->off[cur->v[p].b];
        if (bpe_piece(t, &w->bpe, s + a, b - a, out)) goto done;
    }
    rc = 0;
done:
    free(pref);
    free(norm);
    return rc;
}

/* ---- added tokens ---- */
static int is_word_cp(uint32_t c) {
    int k = rk_uni_class(c);
    return k == RK_UC_L || k == RK_UC_N || c == '_';
}
static uint32_t cp_before(const uint8_t *s, size_t i) {
    if (i == 0) return ' ';
    size_t j = i - 1;
    while (j > 0 && i - j < 4 && (s[j] & 0xC0) == 0x80) j--;
    uint32_t cp;
    if (j + rk_utf8_decode(s + j, i - j, &cp) != i) cp = RK_UNI_BADBYTE + s[i - 1];
    return cp;
}

/* Find the leftmost-longest added token at or after `from` (not before `lo` when lstrip extends it).
 * On success *ms..*me is the span consumed (strip included), *tok the token. */
static int find_added(const rk_tokenizer *t, const uint8_t *s, size_t n, size_t from, size_t lo,
                      size_t *ms, size_t *me, const rk_added_token **tok) {
    for (size_t i = from; i < n; i++) {
        uint32_t a = t->added_first[s[i]], b = t->added_first[s[i] + 1];
        for (uint32_t k = a; k < b; k++) {   /* longest first */
            const rk_added_token *x = &t->added[k];
            if (x->len > n - i || memcmp(s + i, x->content, x->len)) continue;
            size_t e = i + x->len;
            if (x->single_word) {
                uint32_t after = ' ';
                if (e < n) rk_utf8_decode(s + e, n - e, &after);
                if (is_word_cp(cp_before(s, i)) || is_word_cp(after)) continue;
            }
            size_t st = i;
            if (x->lstrip)
                while (st > lo) {
                    uint32_t c = cp_before(s, st);
                    if (!rk_uni_is_space(c)) break;
                    uint8_t tmp[4];
                    st -= rk_utf8_encode(c, tmp);
                }
            if (x->rstrip)
                while (e < n) {
                    uint32_t c;
                    size_t l = rk_utf8_decode(s + e, n - e, &c);
                    if (!rk_uni_is_space(c)) break;
                    e += l;
                }
            *ms = st;
            *me = e;
            *tok = x;
            return 1;
        }
    }
    return 0;
}

int rk_tokenizer_encode(const rk_tokenizer *t, const char *text, size_t len, int add_special,
                        int32_t **ids, size_t *n, rk_err *err) {
    if (!t || !ids || !n || (!text && len))
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "rk_tokenizer_encode: NULL argument");
    if (len > UINT32_MAX - 8)
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "rk_tokenizer_encode: text of %zu bytes is too long", len);
    *ids = NULL;
    *n = 0;
    const uint8_t *s = (const uint8_t *)text;
    ivec out = {0};
    enc_ws w;
    memset(&w, 0, sizeof w);
    int rc = 0;
    if (add_special)
        for (size_t i = 0; i < t->n_prefix; i++)
            if (iv_push(&out, t->prefix_ids[i])) goto oom;
    size_t pos = 0;
    while (pos < len) {
        size_t ms, me;
        const rk_added_token *x;
        if (!find_added(t, s, len, pos, pos, &ms, &me, &x)) { ms = me = len; x = NULL; }
        if (encode_segment(t, &w, s + pos, ms - pos, &out)) goto oom;
        if (x && iv_push(&out, x->id)) goto oom;
        pos = me;
    }
    if (add_special)
        for (size_t i = 0; i < t->n_suffix; i++)
            if (iv_push(&out, t->suffix_ids[i])) goto oom;
    if (!out.v && !(out.v = malloc(sizeof *out.v))) goto oom;
    *ids = out.v;
    *n = out.n;
    goto done;
oom:
    free(out.v);
    rc = rk_err_set(err, RK_ENOMEM, UINT64_MAX, "rk_tokenizer_encode: out of memory");
done:
    free(w.bpe.id); free(w.bpe.prev); free(w.bpe.next); free(w.bpe.heap); free(w.bpe.str);
    free(w.cp); free(w.off); free(w.s1.v); free(w.s2.v);
    return rc;
}

/* ---- decoding (ByteLevel decoder: a token whose characters all map back to bytes becomes those bytes,
 * any other token its own UTF-8, as Hugging Face does) ---- */
int rk_tokenizer_decode(const rk_tokenizer *t, const int32_t *ids, size_t n, int skip_special,
                        char **text, size_t *len, rk_err *err) {
    if (!t || !text || !len || (!ids && n))
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "rk_tokenizer_decode: NULL argument");
    *text = NULL;
    *len = 0;
    size_t total = 0;
    if (n > SIZE_MAX / RK_TOK_MAX_LEN)
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "rk_tokenizer_decode: %zu ids are too many", n);
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || (size_t)ids[i] >= t->n_ids || !t->tok[ids[i]])
            return rk_err_set(err, RK_EINVAL, UINT64_MAX, "rk_tokenizer_decode: id %d at position %zu is not in the vocabulary of %s",
                              ids[i], i, t->path);
        total += t->tok_len[ids[i]];
    }
    char *o = malloc(total + 1);
    if (!o) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "rk_tokenizer_decode: out of memory");
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (skip_special && t->is_special[id]) continue;
        const uint8_t *s = (const uint8_t *)t->tok[id];
        size_t l = t->tok_len[id], start = w;
        int ok = 1;
        for (size_t k = 0; k < l;) {
            uint32_t cp;
            k += rk_utf8_decode(s + k, l - k, &cp);
            int b = rk_tok_cp_to_byte(cp);
            if (b < 0) { ok = 0; break; }
            o[w++] = (char)b;
        }
        if (!ok) {
            memcpy(o + start, s, l);
            w = start + l;
        }
    }
    o[w] = 0;
    *text = o;
    *len = w;
    return 0;
}

/* ---- accessors ---- */
const char *rk_tokenizer_token(const rk_tokenizer *t, int32_t id) {
    return t && id >= 0 && (size_t)id < t->n_ids ? t->tok[id] : NULL;
}
int32_t rk_tokenizer_token_id(const rk_tokenizer *t, const char *token) {
    return t && token ? rk_tok_lookup(t, token, strlen(token)) : -1;
}
int rk_tokenizer_is_special(const rk_tokenizer *t, int32_t id) {
    return t && id >= 0 && (size_t)id < t->n_ids && t->is_special[id];
}
int64_t rk_tokenizer_vocab_size(const rk_tokenizer *t) { return t ? (int64_t)t->n_ids : 0; }
int32_t rk_tokenizer_bos_id(const rk_tokenizer *t) { return t ? t->bos_id : -1; }
int32_t rk_tokenizer_eos_id(const rk_tokenizer *t) { return t ? t->eos_id : -1; }

int32_t rk_tokenizer_leading_bos(const rk_tokenizer *t) {
    int32_t *ids = NULL, bos = rk_tokenizer_bos_id(t), out = -1;
    size_t n = 0;
    if (bos >= 0 && rk_tokenizer_encode(t, "", 0, 1, &ids, &n, NULL) == 0 && n > 0 && ids[0] == bos) out = bos;
    free(ids);
    return out;
}
