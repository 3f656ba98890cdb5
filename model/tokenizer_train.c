/* model/tokenizer_train.c — byte-level BPE training (contract in model/tokenizer_train.h): options, reading and
 * pre-tokenizing the text files into a table of distinct words with counts, and the driver. The merge loop
 * is in tokenizer_train_bpe.c, the JSON writer in tokenizer_train_json.c.
 * Pre-tokenization is the encoder's: the family's Split regexes (taken from the very strings written to
 * tokenizer.json, so trainer and loader agree by construction) run by the matchers of tokenizer_regex.c,
 * each Split on the pieces the previous one left, matches and gaps both kept (behavior Isolated); Qwen2
 * text is NFC-normalized first. Special tokens found in the text are cut out (as the encoder does), so they
 * never take part in merges. Files are mapped and processed in ~1 MB chunks cut right after a newline that
 * is followed by a non-space character: no match of any supported pattern spans such a point. */
#define _GNU_SOURCE
#include "model/tokenizer_train.h"
#include "model/tokenizer-impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_VOCAB ((int64_t)1 << 22)   /* what tokenizer_load.c accepts */
#define MAX_SPECIAL 4096
#ifndef RK_BPE_CHUNK
#define RK_BPE_CHUNK ((size_t)1 << 20)   /* overridable to check that chunking changes nothing */
#endif
#define CHUNK RK_BPE_CHUNK

/* ---- distinct words: bytes in an arena, dense entries in first-seen order, open-addressing index ---- */
typedef struct went { uint64_t hash, off; uint32_t len; int64_t count; } went;
typedef struct wtab {
    went *e;
    size_t n, cap;
    int32_t *slots;
    size_t scap;
    char *arena;
    size_t an, acap;
} wtab;

static uint64_t bytes_hash(const uint8_t *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

static int32_t *wt_slot(const wtab *t, uint64_t h, const uint8_t *s, size_t n) {
    for (size_t i = h & (t->scap - 1);; i = (i + 1) & (t->scap - 1)) {
        int32_t k = t->slots[i];
        if (k < 0 || (t->e[k].hash == h && t->e[k].len == n && !memcmp(t->arena + t->e[k].off, s, n))) return &t->slots[i];
    }
}

static int wt_grow(wtab *t, size_t nbytes) {
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 4096;
        went *e = realloc(t->e, cap * sizeof *e);
        if (!e) return -1;
        t->e = e;
        t->cap = cap;
    }
    if (t->an + nbytes > t->acap) {
        size_t cap = t->acap ? t->acap : (size_t)1 << 16;
        while (cap < t->an + nbytes) cap *= 2;
        char *a = realloc(t->arena, cap);
        if (!a) return -1;
        t->arena = a;
        t->acap = cap;
    }
    if ((t->n + 1) * 2 > t->scap) {
        size_t cap = t->scap ? t->scap * 2 : 8192;
        int32_t *s = malloc(cap * sizeof *s);
        if (!s) return -1;
        memset(s, 0xff, cap * sizeof *s);
        free(t->slots);
        t->slots = s;
        t->scap = cap;
        for (size_t k = 0; k < t->n; k++)
            *wt_slot(t, t->e[k].hash, (const uint8_t *)t->arena + t->e[k].off, t->e[k].len) = (int32_t)k;
    }
    return 0;
}

static int wt_add(wtab *t, const uint8_t *s, size_t n) {
    if (n == 0) return 0;
    if (n > UINT32_MAX || t->n >= INT32_MAX) return -1;
    uint64_t h = bytes_hash(s, n);
    if (t->scap) {
        int32_t *slot = wt_slot(t, h, s, n);
        if (*slot >= 0) { t->e[*slot].count++; return 0; }
    }
    if (wt_grow(t, n)) return -1;
    memcpy(t->arena + t->an, s, n);
    t->e[t->n] = (went){h, t->an, (uint32_t)n, 1};
    t->an += n;
    *wt_slot(t, h, s, n) = (int32_t)t->n++;
    return 0;
}

static void wt_free(wtab *t) {
    free(t->e);
    free(t->slots);
    free(t->arena);
}

/* ---- pre-tokenization ---- */
typedef struct span { size_t a, b; } span;
typedef struct svec { span *v; size_t n, cap; } svec;
typedef struct ptok {
    rk_split_kind kind[3];
    size_t n_kinds;
    int nfc;
    uint32_t *cp;
    size_t *off, cap;
    svec s1, s2;
    wtab words;
} ptok;

static int sv_push(svec *s, size_t a, size_t b) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        span *v = realloc(s->v, cap * sizeof *v);
        if (!v) return -1;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = (span){a, b};
    return 0;
}

/* One Split (Isolated) over every piece of in: each match and each gap between matches is a piece of out. */
static int split_isolated(rk_split_kind k, const uint32_t *cp, const svec *in, svec *out) {
    out->n = 0;
    for (size_t p = 0; p < in->n; p++) {
        size_t a = in->v[p].a, n = in->v[p].b - a, i = 0, gap = 0;
        while (i < n) {
            size_t m = rk_split_match(k, cp + a, i, n);
            if (!m) { i++; continue; }
            if (gap < i && sv_push(out, a + gap, a + i)) return -1;
            if (sv_push(out, a + i, a + i + m)) return -1;
            i += m;
            gap = i;
        }
        if (gap < n && sv_push(out, a + gap, a + n)) return -1;
    }
    return 0;
}

static int pretok_chunk(ptok *p, const uint8_t *s, size_t n) {
    uint8_t *norm = NULL;
    int rc = -1;
    if (n == 0) return 0;
    if (p->nfc) {
        size_t nn;
        if (rk_uni_nfc(s, n, &norm, &nn)) return -1;
        s = norm;
        n = nn;
    }
    if (n + 1 > p->cap) {
        uint32_t *cp = realloc(p->cp, (n + 1) * sizeof *cp);
        if (cp) p->cp = cp;
        size_t *off = realloc(p->off, (n + 1) * sizeof *off);
        if (off) p->off = off;
        if (!cp || !off) goto done;
        p->cap = n + 1;
    }
    size_t ncp = 0;
    for (size_t i = 0; i < n; ncp++) {
        p->off[ncp] = i;
        i += rk_utf8_decode(s + i, n - i, &p->cp[ncp]);
    }
    p->off[ncp] = n;
    p->s1.n = 0;
    if (sv_push(&p->s1, 0, ncp)) goto done;
    svec *cur = &p->s1, *nxt = &p->s2;
    for (size_t k = 0; k < p->n_kinds; k++) {
        if (split_isolated(p->kind[k], p->cp, cur, nxt)) goto done;
        svec *t = cur; cur = nxt; nxt = t;
    }
    for (size_t i = 0; i < cur->n; i++) {
        size_t a = p->off[cur->v[i].a], b = p->off[cur->v[i].b];
        if (wt_add(&p->words, s + a, b - a)) goto done;
    }
    rc = 0;
done:
    free(norm);
    return rc;
}

/* A segment with no special token in it, in chunks cut after "\n" + non-space. */
static int pretok_segment(ptok *p, const uint8_t *s, size_t n) {
    while (n > CHUNK) {
        size_t cut = 0;
        for (const uint8_t *q = s + CHUNK; (q = memchr(q, '\n', n - (size_t)(q - s))) != NULL; q++) {
            size_t i = (size_t)(q - s) + 1;
            uint32_t c;
            if (i < n && (rk_utf8_decode(s + i, n - i, &c), !rk_uni_is_space(c))) { cut = i; break; }
        }
        if (!cut) break;
        if (pretok_chunk(p, s, cut)) return -1;
        s += cut;
        n -= cut;
        if (rk_interrupted()) return -2;
    }
    return pretok_chunk(p, s, n);
}

/* Leftmost (then longest) special token at or after pos; next[] caches each one's next occurrence. */
static size_t find_special(const rk_bpe_train_opts *o, const uint8_t *s, size_t n, size_t pos, size_t *next, size_t *len) {
    size_t best = n;
    *len = 0;
    for (int k = 0; k < o->n_special; k++) {
        size_t l = strlen(o->special[k]);
        if (next[k] != SIZE_MAX && next[k] < pos) {
            const uint8_t *f = pos < n ? memmem(s + pos, n - pos, o->special[k], l) : NULL;
            next[k] = f ? (size_t)(f - s) : SIZE_MAX;
        }
        if (next[k] < best || (next[k] == best && best < n && l > *len)) { best = next[k]; *len = l; }
    }
    return best;
}

static int pretok_file(ptok *p, const rk_bpe_train_opts *o, const char *path, rk_err *err) {
    rk_map m;
    int rc = rk_map_open(&m, path, err);
    if (rc || m.size == 0) { rk_map_close(&m); return rc; }
    size_t n = (size_t)m.size, pos = 0, *next = calloc((size_t)o->n_special + 1, sizeof *next);
    if (!next) { rk_map_close(&m); return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "%s: out of memory", path); }
    for (int k = 0; k < o->n_special; k++) {
        const uint8_t *f = memmem(m.data, n, o->special[k], strlen(o->special[k]));
        next[k] = f ? (size_t)(f - m.data) : SIZE_MAX;
    }
    while (pos <= n && rc == 0) {
        size_t len, at = find_special(o, m.data, n, pos, next, &len);
        int r = pretok_segment(p, m.data + pos, at - pos);
        if (r == -2) rc = rk_err_set(err, RK_EINTR, UINT64_MAX, "BPE training interrupted");
        else if (r) rc = rk_err_file(err, RK_ENOMEM, path, UINT64_MAX, "out of memory while pre-tokenizing");
        if (at >= n) break;
        pos = at + len;
    }
    free(next);
    rk_map_close(&m);
    return rc;
}

/* ---- options ---- */
static int valid_utf8(const char *s) {
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        uint32_t c;
        i += rk_utf8_decode((const uint8_t *)s + i, n - i, &c);
        if (c >= RK_UNI_BADBYTE) return 0;
    }
    return 1;
}

static int is_special(const rk_bpe_train_opts *o, const char *s) {
    for (int k = 0; k < o->n_special; k++)
        if (!strcmp(o->special[k], s)) return 1;
    return 0;
}

static int check_opts(const char *const *files, int n_files, const rk_bpe_train_opts *o, const char *out_dir, rk_err *err) {
    if (!files || n_files < 1 || !o || !out_dir) return rk_err_set(err, RK_EINVAL, UINT64_MAX, "rk_bpe_train: no text files, options or output folder");
    for (int i = 0; i < n_files; i++)
        if (!files[i]) return rk_err_set(err, RK_EINVAL, UINT64_MAX, "rk_bpe_train: text file %d is NULL", i);
    if (o->family && !rk_bpe_family_find(o->family))
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "unknown pre-tokenizer family '%.60s' (deepseek_v3, qwen2 or llama3)", o->family);
    if (o->n_special < 0 || o->n_special > MAX_SPECIAL || (o->n_special && !o->special))
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "%d special tokens: must be 0..%d", o->n_special, MAX_SPECIAL);
    for (int k = 0; k < o->n_special; k++) {
        const char *s = o->special[k];
        if (!s || !*s || strlen(s) > RK_TOK_MAX_LEN || !valid_utf8(s))
            return rk_err_set(err, RK_EINVAL, UINT64_MAX, "special token %d is empty, too long or not valid UTF-8", k);
        for (int j = 0; j < k; j++)
            if (!strcmp(o->special[j], s))
                return rk_err_set(err, RK_EINVAL, UINT64_MAX, "special token '%.80s' is given twice", s);
    }
    if (o->bos && !is_special(o, o->bos))
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "bos '%.80s' is not one of the special tokens", o->bos);
    if (o->eos && !is_special(o, o->eos))
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "eos '%.80s' is not one of the special tokens", o->eos);
    if (o->vocab_size < 256 + (int64_t)o->n_special || o->vocab_size > MAX_VOCAB)
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "vocab size %lld: must be in [%lld, %lld] (256 bytes + %d special tokens at least)",
                          (long long)o->vocab_size, 256LL + o->n_special, (long long)MAX_VOCAB, o->n_special);
    if (o->min_frequency < 0)
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "min frequency %lld is negative", (long long)o->min_frequency);
    struct stat st;
    if (stat(out_dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) return rk_err_file(err, RK_EIO, out_dir, UINT64_MAX, "exists and is not a folder");
    } else if (mkdir(out_dir, 0777) != 0) {
        return rk_err_file(err, RK_EIO, out_dir, UINT64_MAX, "cannot create folder: %s", strerror(errno));
    }
    return 0;
}

/* ---- driver ---- */
static int cmp_cp(const void *x, const void *y) {
    uint32_t a = rk_tok_byte_to_cp(*(const uint8_t *)x), b = rk_tok_byte_to_cp(*(const uint8_t *)y);
    return (a > b) - (a < b);
}

/* specials, then the 256 byte-level characters in code point order (Hugging Face's alphabet order) */
static int initial_vocab(const rk_bpe_train_opts *o, rk_bpe_vocab *v, int32_t byte_id[256]) {
    uint8_t order[256];
    int32_t id;
    for (int k = 0; k < o->n_special; k++)
        if (rk_bpe_vocab_add(v, o->special[k], strlen(o->special[k]), &id, NULL)) return -1;
    for (int b = 0; b < 256; b++) order[b] = (uint8_t)b;
    qsort(order, 256, 1, cmp_cp);
    for (int i = 0; i < 256; i++) {
        uint8_t u[4];
        size_t l = rk_utf8_encode(rk_tok_byte_to_cp(order[i]), u);
        if (rk_bpe_vocab_add(v, (const char *)u, l, &byte_id[order[i]], NULL)) return -1;
    }
    return 0;
}

static int build_words(const wtab *t, const int32_t byte_id[256], rk_bpe_words *w) {
    w->n = t->n;
    w->off = malloc((t->n + 1) * sizeof *w->off);
    w->len = malloc((t->n + 1) * sizeof *w->len);
    w->count = malloc((t->n + 1) * sizeof *w->count);
    w->sym = malloc((t->an + 1) * sizeof *w->sym);
    if (!w->off || !w->len || !w->count || !w->sym) return -1;
    for (size_t i = 0; i < t->n; i++) {
        const went *e = &t->e[i];
        w->off[i] = e->off;
        w->len[i] = e->len;
        w->count[i] = e->count;
        for (uint32_t k = 0; k < e->len; k++) w->sym[e->off + k] = byte_id[(uint8_t)t->arena[e->off + k]];
    }
    return 0;
}

int rk_bpe_train(const char *const *files, int n_files, const rk_bpe_train_opts *o, const char *out_dir, rk_err *err) {
    int rc = check_opts(files, n_files, o, out_dir, err);
    if (rc) return rc;
    const rk_bpe_family *fam = rk_bpe_family_find(o->family ? o->family : "deepseek_v3");
    ptok p = {.nfc = fam->nfc};
    rk_bpe_vocab v = {0};
    rk_bpe_words w = {0};
    rk_bpe_merge *m = NULL;
    size_t nm = 0;
    int32_t byte_id[256];
    for (size_t k = 0; k < fam->n_patterns; k++)
        if (!(p.kind[p.n_kinds++] = rk_split_from_pattern(fam->pattern[k])))
            return rk_err_set(err, RK_EUNSUPPORTED, UINT64_MAX, "%s: split pattern %zu has no matcher", fam->name, k);
    for (int i = 0; i < n_files && !rc; i++) {   /* every file readable before the long part starts */
        rk_map probe;
        if (!(rc = rk_map_open(&probe, files[i], err))) rk_map_close(&probe);
    }
    for (int i = 0; i < n_files && !rc; i++) {
        rc = pretok_file(&p, o, files[i], err);
        if (!rc && o->progress)
            fprintf(stderr, "bpe: pre-tokenized %s (%zu distinct words so far)\n", files[i], p.words.n);
    }
    if (rc) goto done;
    if (initial_vocab(o, &v, byte_id) || build_words(&p.words, byte_id, &w)) {
        rc = rk_err_set(err, RK_ENOMEM, UINT64_MAX, "BPE training: out of memory");
        goto done;
    }
    wt_free(&p.words);
    memset(&p.words, 0, sizeof p.words);
    int64_t min_freq = o->min_frequency ? o->min_frequency : 2;
    if ((rc = rk_bpe_learn(&w, &v, o->vocab_size, min_freq, o->progress, &m, &nm, err))) goto done;
    rc = rk_bpe_write(out_dir, o, fam, &v, (size_t)o->n_special, m, nm, err);
done:
    wt_free(&p.words);
    free(p.cp);
    free(p.off);
    free(p.s1.v);
    free(p.s2.v);
    rk_bpe_vocab_free(&v);
    free(w.sym);
    free(w.off);
    free(w.len);
    free(w.count);
    free(m);
    return rc;
}
