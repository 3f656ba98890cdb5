/* model/tokenizer_load.c — tokenizer.json (+ tokenizer_config.json) → rk_tokenizer.
 * Accepts exactly what the supported families use and refuses the rest with RK_EUNSUPPORTED naming the
 * field (never a silently different tokenizer): model BPE without dropout/byte_fallback/affixes, normalizer
 * none / empty Sequence / NFC, pre-tokenizer Sequence[Split(known regex, Isolated)…, ByteLevel] or
 * ByteLevel(use_regex), decoder ByteLevel. Merges in either HF form ("a b" or ["a", "b"]); a merge naming a
 * token missing from the vocabulary is RK_ECORRUPT, as in Hugging Face's BPE builder. */
#define _GNU_SOURCE
#include "formats/gguf.h"
#include "model/tokenizer-impl.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TOK_JSON_MAX ((uint64_t)256 << 20)
#define CFG_JSON_MAX ((uint64_t)16 << 20)
#define TOK_MAX_IDS ((size_t)1 << 22)
#define TOK_MAX_MERGES ((size_t)1 << 22)

typedef struct lctx { rk_tokenizer *t; const char *path; rk_err *err; } lctx;

static int oom(lctx *c) { return rk_err_file(c->err, RK_ENOMEM, c->path, UINT64_MAX, "out of memory"); }
static int corrupt(lctx *c, const char *what) {
    return rk_err_file(c->err, RK_ECORRUPT, c->path, UINT64_MAX, "%s", what);
}

/* ---- GPT-2 bytes_to_unicode ---- */
static int byte_printable(unsigned b) { return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174); }
uint32_t rk_tok_byte_to_cp(uint8_t b) {
    if (byte_printable(b)) return b;
    if (b <= 32) return 256u + b;                 /* 0..32    → U+0100..U+0120 */
    if (b >= 127 && b <= 160) return 289u + (b - 127u);  /* 127..160 → U+0121..U+0142 */
    return 323;                                   /* 173      → U+0143 */
}
int rk_tok_cp_to_byte(uint32_t cp) {
    if (cp < 256) return byte_printable(cp) ? (int)cp : -1;
    if (cp <= 288) return (int)(cp - 256);
    if (cp <= 322) return (int)(127 + cp - 289);
    return cp == 323 ? 173 : -1;
}

/* ---- string → id ---- */
static uint64_t fnv(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}
int32_t rk_tok_lookup(const rk_tokenizer *t, const char *s, size_t len) {
    if (!t->str_cap) return -1;
    for (size_t h = fnv(s, len) & (t->str_cap - 1);; h = (h + 1) & (t->str_cap - 1)) {
        int32_t id = t->str_slots[h];
        if (id < 0) return -1;
        if (t->tok_len[id] == len && !memcmp(t->tok[id], s, len)) return id;
    }
}
static void str_insert(rk_tokenizer *t, int32_t id) {
    for (size_t h = fnv(t->tok[id], t->tok_len[id]) & (t->str_cap - 1);; h = (h + 1) & (t->str_cap - 1))
        if (t->str_slots[h] < 0) { t->str_slots[h] = id; return; }
}

static int json_id(const cJSON *v, int32_t *out) {
    if (!cJSON_IsNumber(v)) return -1;
    double d = v->valuedouble;
    if (!(d >= 0) || d != floor(d) || d >= (double)TOK_MAX_IDS) return -1;
    *out = (int32_t)d;
    return 0;
}

static const char *jstr(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}
static int jbool(const cJSON *o, const char *key, int dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : dflt;
}

/* ---- builder shared with the GGUF loader ---- */
int rk_tok_alloc(rk_tokenizer *t, size_t n_ids, size_t n_added) {
    t->n_ids = n_ids;
    t->tok = calloc(n_ids, sizeof *t->tok);
    t->tok_len = calloc(n_ids, sizeof *t->tok_len);
    t->is_added = calloc(n_ids, 1);
    t->is_special = calloc(n_ids, 1);
    t->added = calloc(n_added ? n_added : 1, sizeof *t->added);
    return t->tok && t->tok_len && t->is_added && t->is_special && t->added ? 0 : -1;
}

int rk_tok_set(rk_tokenizer *t, int32_t id, const char *s, size_t len) {
    if (len == 0 || len > RK_TOK_MAX_LEN || memchr(s, 0, len)) return -2;
    if (t->tok[id]) return t->tok_len[id] == len && !memcmp(t->tok[id], s, len) ? 0 : -3;
    if (!(t->tok[id] = malloc(len + 1))) return -1;
    memcpy(t->tok[id], s, len);
    t->tok[id][len] = 0;
    t->tok_len[id] = (uint32_t)len;
    return 0;
}

void rk_tok_mark_added(rk_tokenizer *t, int32_t id, int special, int lstrip, int rstrip, int single_word,
                       int normalized) {
    rk_added_token *a = &t->added[t->n_added++];
    a->content = t->tok[id];
    a->len = t->tok_len[id];
    a->id = id;
    a->special = (uint8_t)special;
    a->lstrip = (uint8_t)lstrip;
    a->rstrip = (uint8_t)rstrip;
    a->single_word = (uint8_t)single_word;
    a->normalized = (uint8_t)normalized;
    t->is_added[id] = 1;
    t->is_special[id] |= (uint8_t)special;
}

/* string table; added tokens first so that their ids win for their content, then the first id of a string */
int rk_tok_build_index(rk_tokenizer *t) {
    size_t cap = 16;
    while (cap < t->n_ids * 2) cap <<= 1;
    t->str_cap = cap;
    if (!(t->str_slots = malloc(cap * sizeof *t->str_slots))) return -1;
    memset(t->str_slots, 0xff, cap * sizeof *t->str_slots);
    for (size_t i = 0; i < t->n_added; i++)
        if (rk_tok_lookup(t, t->added[i].content, t->added[i].len) < 0) str_insert(t, t->added[i].id);
    for (size_t i = 0; i < t->n_ids; i++)
        if (t->tok[i] && rk_tok_lookup(t, t->tok[i], t->tok_len[i]) < 0) str_insert(t, (int32_t)i);
    return 0;
}

static int set_token(lctx *c, int32_t id, const char *s) {
    int rc = rk_tok_set(c->t, id, s, strlen(s));
    if (rc == -1) return oom(c);
    if (rc == -2) return rk_err_file(c->err, RK_ECORRUPT, c->path, UINT64_MAX, "token %d is empty or too long", id);
    if (rc == -3) return rk_err_file(c->err, RK_ECORRUPT, c->path, UINT64_MAX, "id %d names two tokens", id);
    return 0;
}

static int load_vocab(lctx *c, const cJSON *vocab, const cJSON *added) {
    rk_tokenizer *t = c->t;
    int32_t id, max = -1;
    if (!cJSON_IsObject(vocab)) return corrupt(c, "model.vocab is not an object");
    for (const cJSON *e = vocab->child; e; e = e->next) {
        if (json_id(e, &id)) return rk_err_file(c->err, RK_ECORRUPT, c->path, UINT64_MAX,
                                                "model.vocab: bad id for token \"%.40s\"", e->string);
        if (id > max) max = id;
    }
    if (!cJSON_IsArray(added) && added && !cJSON_IsNull(added)) return corrupt(c, "added_tokens is not an array");
    size_t n_added = 0;
    for (const cJSON *e = added ? added->child : NULL; e; e = e->next, n_added++) {
        if (json_id(cJSON_GetObjectItemCaseSensitive(e, "id"), &id) || !jstr(e, "content"))
            return rk_err_file(c->err, RK_ECORRUPT, c->path, UINT64_MAX, "added_tokens[%zu]: missing id or content",
                               n_added);
        if (id > max) max = id;
    }
    if (max < 0) return corrupt(c, "empty vocabulary");
    if (rk_tok_alloc(t, (size_t)max + 1, n_added)) return oom(c);
    for (const cJSON *e = vocab->child; e; e = e->next) {
        json_id(e, &id);
        int rc = set_token(c, id, e->string);
        if (rc) return rc;
    }
    for (const cJSON *e = added ? added->child : NULL; e; e = e->next) {
        json_id(cJSON_GetObjectItemCaseSensitive(e, "id"), &id);
        const char *s = jstr(e, "content");
        int rc = set_token(c, id, s);
        if (rc) return rc;
        rk_tok_mark_added(t, id, jbool(e, "special", 0), jbool(e, "lstrip", 0), jbool(e, "rstrip", 0),
                          jbool(e, "single_word", 0), jbool(e, "normalized", 0));
    }
    if (rk_tok_build_index(t)) return oom(c);
    return 0;
}

static int cmp_added(const void *a, const void *b) {
    const rk_added_token *x = a, *y = b;
    uint8_t fx = (uint8_t)x->content[0], fy = (uint8_t)y->content[0];
    if (fx != fy) return fx < fy ? -1 : 1;
    if (x->len != y->len) return x->len > y->len ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static void index_added(rk_tokenizer *t) {
    qsort(t->added, t->n_added, sizeof *t->added, cmp_added);
    size_t k = 0;
    for (unsigned b = 0; b <= 256; b++) {
        while (k < t->n_added && (uint8_t)t->added[k].content[0] < b) k++;
        t->added_first[b] = (uint32_t)k;
    }
}

/* ---- merges ---- */
static void pair_put(rk_tokenizer *t, int32_t a, int32_t b, int32_t rank, int32_t merged) {
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    for (size_t h = (key * 0x9E3779B97F4A7C15ull) >> 20 & (t->pair_cap - 1);; h = (h + 1) & (t->pair_cap - 1)) {
        rk_pair_slot *s = &t->pairs[h];
        if (s->rank < 0 || s->key == key) {   /* a repeated pair takes the later rank, as HF's HashMap does */
            s->key = key;
            s->rank = rank;
            s->merged = merged;
            return;
        }
    }
}

int rk_tok_merges_init(rk_tokenizer *t, size_t n) {
    size_t cap = 16;
    while (cap < n * 2) cap <<= 1;
    t->pair_cap = cap;
    if (!(t->pairs = malloc(cap * sizeof *t->pairs))) return -1;
    for (size_t i = 0; i < cap; i++) t->pairs[i].rank = -1;
    return 0;
}

int rk_tok_merge_add(rk_tokenizer *t, const char *a, size_t la, const char *b, size_t lb, int32_t rank) {
    char small[256], *buf = la + lb <= sizeof small ? small : malloc(la + lb);
    if (!buf) return -1;
    memcpy(buf, a, la);
    memcpy(buf + la, b, lb);
    int32_t ia = rk_tok_lookup(t, a, la), ib = rk_tok_lookup(t, b, lb), im = rk_tok_lookup(t, buf, la + lb);
    if (buf != small) free(buf);
    if (ia < 0 || ib < 0 || im < 0) return -2;
    pair_put(t, ia, ib, rank, im);
    t->n_merges = (size_t)rank + 1;
    return 0;
}

/* split "a b" (one space, both sides non-empty); 0 ok */
int rk_tok_merge_split(const char *s, size_t n, size_t *la) {
    const char *sp = memchr(s, ' ', n);
    if (!sp || sp == s || sp + 1 == s + n || memchr(sp + 1, ' ', n - (size_t)(sp + 1 - s))) return -1;
    *la = (size_t)(sp - s);
    return 0;
}

static int load_merges(lctx *c, const cJSON *merges) {
    rk_tokenizer *t = c->t;
    if (!cJSON_IsArray(merges)) return corrupt(c, "model.merges is not an array");
    size_t n = (size_t)cJSON_GetArraySize(merges);
    if (n > TOK_MAX_MERGES) return corrupt(c, "model.merges: too many merges");
    if (rk_tok_merges_init(t, n)) return oom(c);
    size_t i = 0;
    for (const cJSON *e = merges->child; e; e = e->next, i++) {
        const char *a, *b;
        size_t la, lb;
        if (cJSON_IsString(e)) {
            const char *s = e->valuestring;
            if (rk_tok_merge_split(s, strlen(s), &la))
                return rk_err_file(c->err, RK_ECORRUPT, c->path, UINT64_MAX,
                                   "model.merges[%zu] \"%.60s\" is not two tokens separated by one space", i, s);
            a = s; b = s + la + 1; lb = strlen(b);
        } else if (cJSON_IsArray(e) && cJSON_GetArraySize(e) == 2 && cJSON_IsString(e->child) &&
                   cJSON_IsString(e->child->next)) {
            a = e->child->valuestring; la = strlen(a);
            b = e->child->next->valuestring; lb = strlen(b);
        } else {
            return rk_err_file(c->err, RK_ECORRUPT, c->path, UINT64_MAX, "model.merges[%zu] is not a pair of tokens", i);
        }
        int rc = la > RK_TOK_MAX_LEN || lb > RK_TOK_MAX_LEN ? -2 : rk_tok_merge_add(t, a, la, b, lb, (int32_t)i);
        if (rc == -1) return oom(c);
        if (rc)
            return rk_err_file(c->err, RK_ECORRUPT, c->path, UINT64_MAX,
                               "model.merges[%zu] (\"%.*s\" \"%.*s\") names a token missing from the vocabulary", i,
                               (int)(la > 40 ? 40 : la), a, (int)(lb > 40 ? 40 : lb), b);
    }
    return 0;
}

/* byte tokens and the added-token index; -1 with *missing set when a byte has no token */
int rk_tok_finish(rk_tokenizer *t, unsigned *missing) {
    for (unsigned b = 0; b < 256; b++) {
        uint8_t u[4];
        size_t n = rk_utf8_encode(rk_tok_byte_to_cp((uint8_t)b), u);
        if ((t->byte_id[b] = rk_tok_lookup(t, (const char *)u, n)) < 0) { *missing = b; return -1; }
    }
    index_added(t);
    return 0;
}

/* ---- model / normalizer / pre-tokenizer / post-processor / decoder ---- */
static int unsupported(lctx *c, const char *field, const char *value) {
    return rk_err_file(c->err, RK_EUNSUPPORTED, c->path, UINT64_MAX, "%s \"%.120s\" is not supported", field,
                       value ? value : "?");
}

static int load_model(lctx *c, const cJSON *model, const cJSON *added) {
    if (!cJSON_IsObject(model)) return corrupt(c, "missing \"model\"");
    const char *type = jstr(model, "type");
    if (!type && cJSON_GetObjectItemCaseSensitive(model, "merges")) type = "BPE";
    if (!type || strcmp(type, "BPE")) return unsupported(c, "model.type", type);
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(model, "dropout");
    if (d && !cJSON_IsNull(d) && !(cJSON_IsNumber(d) && d->valuedouble == 0.0))
        return unsupported(c, "model.dropout", "non-zero");
    if (jbool(model, "byte_fallback", 0)) return unsupported(c, "model.byte_fallback", "true");
    const char *p = jstr(model, "continuing_subword_prefix"), *s = jstr(model, "end_of_word_suffix");
    if (p && *p) return unsupported(c, "model.continuing_subword_prefix", p);
    if (s && *s) return unsupported(c, "model.end_of_word_suffix", s);
    c->t->ignore_merges = jbool(model, "ignore_merges", 0);
    int rc = load_vocab(c, cJSON_GetObjectItemCaseSensitive(model, "vocab"), added);
    if (rc) return rc;
    rc = load_merges(c, cJSON_GetObjectItemCaseSensitive(model, "merges"));
    if (rc) return rc;
    unsigned missing = 0;
    if (rk_tok_finish(c->t, &missing))
        return rk_err_file(c->err, RK_EUNSUPPORTED, c->path, UINT64_MAX,
                           "model.vocab lacks the byte-level token for byte 0x%02x (not a byte-level BPE)", missing);
    return 0;
}

static int load_normalizer(lctx *c, const cJSON *n) {
    if (!n || cJSON_IsNull(n)) return 0;
    const char *type = jstr(n, "type");
    if (type && !strcmp(type, "Sequence")) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(n, "normalizers");
        if (!cJSON_IsArray(list)) return corrupt(c, "normalizer.normalizers is not an array");
        for (const cJSON *e = list->child; e; e = e->next) {
            int rc = load_normalizer(c, e);
            if (rc) return rc;
        }
        return 0;
    }
    if (type && !strcmp(type, "NFC")) {
        if (c->t->nfc) return unsupported(c, "normalizer", "NFC twice");
        c->t->nfc = 1;
        return 0;
    }
    return unsupported(c, "normalizer.type", type);
}

static int load_bytelevel(lctx *c, const cJSON *b, int last) {
    if (!last) return unsupported(c, "pre_tokenizer", "ByteLevel before other pre-tokenizers");
    c->t->add_prefix_space = jbool(b, "add_prefix_space", 1);
    if (jbool(b, "use_regex", 1)) {
        if (c->t->n_splits >= RK_TOK_MAX_SPLITS) return unsupported(c, "pre_tokenizer", "too many splits");
        c->t->splits[c->t->n_splits++] = RK_SPLIT_GPT2;
    }
    return 0;
}

static int load_split(lctx *c, const cJSON *s) {
    const cJSON *pat = cJSON_GetObjectItemCaseSensitive(s, "pattern");
    const char *re = pat ? jstr(pat, "Regex") : NULL;
    if (!re) return unsupported(c, "pre_tokenizer Split pattern", pat && jstr(pat, "String") ? jstr(pat, "String") : "?");
    const char *beh = jstr(s, "behavior");
    if (!beh || strcmp(beh, "Isolated")) return unsupported(c, "pre_tokenizer Split behavior", beh);
    if (jbool(s, "invert", 0)) return unsupported(c, "pre_tokenizer Split invert", "true");
    rk_split_kind k = rk_split_from_pattern(re);
    if (!k) return unsupported(c, "pre_tokenizer Split regex", re);
    if (c->t->n_splits >= RK_TOK_MAX_SPLITS) return unsupported(c, "pre_tokenizer", "too many splits");
    c->t->splits[c->t->n_splits++] = k;
    return 0;
}

static int load_pretok(lctx *c, const cJSON *p) {
    const char *type = p ? jstr(p, "type") : NULL;
    if (type && !strcmp(type, "ByteLevel")) return load_bytelevel(c, p, 1);
    if (!type || strcmp(type, "Sequence")) return unsupported(c, "pre_tokenizer.type", type ? type : "null");
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(p, "pretokenizers");
    if (!cJSON_IsArray(list)) return corrupt(c, "pre_tokenizer.pretokenizers is not an array");
    int have_bl = 0;
    for (const cJSON *e = list->child; e; e = e->next) {
        const char *et = jstr(e, "type");
        int rc;
        if (et && !strcmp(et, "Split")) rc = have_bl ? unsupported(c, "pre_tokenizer", "Split after ByteLevel")
                                                     : load_split(c, e);
        else if (et && !strcmp(et, "ByteLevel")) { rc = load_bytelevel(c, e, e->next == NULL); have_bl = 1; }
        else rc = unsupported(c, "pre_tokenizer.pretokenizers[].type", et);
        if (rc) return rc;
    }
    if (!have_bl) return unsupported(c, "pre_tokenizer", "Sequence without ByteLevel");
    return 0;
}

/* TemplateProcessing "single": special tokens before $A go first, after it last */
static int load_template(lctx *c, const cJSON *pp) {
    rk_tokenizer *t = c->t;
    const char *type = jstr(pp, "type");
    if (!type) return 0;
    if (!strcmp(type, "Sequence")) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(pp, "processors");
        for (const cJSON *e = cJSON_IsArray(list) ? list->child : NULL; e; e = e->next) {
            int rc = load_template(c, e);
            if (rc) return rc;
        }
        return 0;
    }
    if (strcmp(type, "TemplateProcessing")) return 0;   /* ByteLevel etc.: nothing to add */
    const cJSON *single = cJSON_GetObjectItemCaseSensitive(pp, "single");
    int seen_a = 0;
    for (const cJSON *e = cJSON_IsArray(single) ? single->child : NULL; e; e = e->next) {
        const cJSON *sp = cJSON_GetObjectItemCaseSensitive(e, "SpecialToken");
        if (cJSON_GetObjectItemCaseSensitive(e, "Sequence")) { seen_a = 1; continue; }
        const char *name = sp ? jstr(sp, "id") : NULL;
        if (!name) continue;
        int32_t id = rk_tok_lookup(t, name, strlen(name));
        if (id < 0) return rk_err_file(c->err, RK_ECORRUPT, c->path, UINT64_MAX,
                                       "post_processor names unknown special token \"%.60s\"", name);
        if (!seen_a && t->n_prefix < 4) t->prefix_ids[t->n_prefix++] = id;
        else if (seen_a && t->n_suffix < 4) t->suffix_ids[t->n_suffix++] = id;
    }
    return 0;
}

static int load_decoder(lctx *c, const cJSON *d) {
    const char *type = d ? jstr(d, "type") : NULL;
    if (type && !strcmp(type, "ByteLevel")) return 0;
    if (type && !strcmp(type, "Sequence")) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(d, "decoders");
        if (cJSON_IsArray(list) && cJSON_GetArraySize(list) == 1) return load_decoder(c, list->child);
    }
    return unsupported(c, "decoder.type", type ? type : "null");
}

/* ---- tokenizer_config.json ---- */
static const char *cfg_token(const cJSON *cfg, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (cJSON_IsString(v)) return v->valuestring;
    if (cJSON_IsObject(v)) return jstr(v, "content");
    return NULL;
}

static int load_config(rk_tokenizer *t, const char *cfg_path, rk_err *err) {
    char *text = NULL;
    uint64_t len = 0;
    if (!rk_file_exists(cfg_path)) return 0;
    int rc = rk_read_file(cfg_path, CFG_JSON_MAX, &text, &len, err);
    if (rc) return rc;
    cJSON *cfg = cJSON_ParseWithLength(text, (size_t)len);
    free(text);
    if (!cJSON_IsObject(cfg)) {
        cJSON_Delete(cfg);
        return rk_err_file(err, RK_ECORRUPT, cfg_path, UINT64_MAX, "not a JSON object");
    }
    const char *bos = cfg_token(cfg, "bos_token"), *eos = cfg_token(cfg, "eos_token");
    if (bos) t->bos_id = rk_tok_lookup(t, bos, strlen(bos));
    if (eos) t->eos_id = rk_tok_lookup(t, eos, strlen(eos));
    const cJSON *ab = cJSON_GetObjectItemCaseSensitive(cfg, "add_bos_token");
    const cJSON *ae = cJSON_GetObjectItemCaseSensitive(cfg, "add_eos_token");
    if (cJSON_IsBool(ab) || cJSON_IsBool(ae)) {   /* the flags replace the post-processor (LlamaTokenizerFast) */
        t->n_prefix = t->n_suffix = 0;
        if (cJSON_IsTrue(ab)) {
            if (t->bos_id < 0) rc = rk_err_file(err, RK_ECORRUPT, cfg_path, UINT64_MAX, "add_bos_token without a known bos_token");
            else t->prefix_ids[t->n_prefix++] = t->bos_id;
        }
        if (!rc && cJSON_IsTrue(ae)) {
            if (t->eos_id < 0) rc = rk_err_file(err, RK_ECORRUPT, cfg_path, UINT64_MAX, "add_eos_token without a known eos_token");
            else t->suffix_ids[t->n_suffix++] = t->eos_id;
        }
    }
    cJSON_Delete(cfg);
    return rc;
}

void rk_tokenizer_free(rk_tokenizer *t) {
    if (!t) return;
    if (t->tok)
        for (size_t i = 0; i < t->n_ids; i++) free(t->tok[i]);
    free(t->tok);
    free(t->tok_len);
    free(t->is_added);
    free(t->is_special);
    free(t->str_slots);
    free(t->pairs);
    free(t->added);
    free(t->path);
    free(t);
}

int rk_tokenizer_load(rk_tokenizer **out, const char *path, rk_err *err) {
    if (!out || !path) return rk_err_set(err, RK_EINVAL, UINT64_MAX, "rk_tokenizer_load: NULL argument");
    *out = NULL;
    if (!rk_is_dir(path)) {   /* a GGUF file? */
        FILE *f = fopen(path, "rb");
        char magic[4] = {0};
        int is_gguf = f && fread(magic, 1, 4, f) == 4 && !memcmp(magic, "GGUF", 4);
        if (f) fclose(f);
        if (is_gguf) {
            rk_gguf *g = NULL;
            int rc = rk_gguf_open(&g, path, err);
            if (!rc) rc = rk_tokenizer_load_gguf(out, g, err);
            rk_gguf_close(g);
            return rc;
        }
    }
    rk_tokenizer *t = calloc(1, sizeof *t);
    char *dir = NULL, *cfg_path = NULL, *text = NULL;
    cJSON *root = NULL;
    int rc;
    if (!t) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
    t->bos_id = t->eos_id = -1;
    if (rk_is_dir(path)) {
        dir = rk_strdup(path);
        t->path = rk_path_join(path, "tokenizer.json");
    } else {
        t->path = rk_strdup(path);
        const char *slash = strrchr(path, '/');
        dir = slash ? strndup(path, (size_t)(slash - path) + (slash == path)) : rk_strdup(".");
    }
    if (!dir || !t->path || !(cfg_path = rk_path_join(dir, "tokenizer_config.json"))) {
        rc = rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
        goto fail;
    }
    lctx c = {t, t->path, err};
    uint64_t len = 0;
    if ((rc = rk_read_file(t->path, TOK_JSON_MAX, &text, &len, err))) goto fail;
    root = cJSON_ParseWithLength(text, (size_t)len);
    if (!cJSON_IsObject(root)) {
        const char *at = cJSON_GetErrorPtr();
        uint64_t off = at && at >= text && at <= text + len ? (uint64_t)(at - text) : UINT64_MAX;
        rc = rk_err_file(err, RK_ECORRUPT, t->path, off, "not a valid JSON object (parse error near byte %llu)",
                         (unsigned long long)(off == UINT64_MAX ? 0 : off));
        goto fail;
    }
    if ((rc = load_model(&c, cJSON_GetObjectItemCaseSensitive(root, "model"),
                         cJSON_GetObjectItemCaseSensitive(root, "added_tokens"))))
        goto fail;
    if ((rc = load_normalizer(&c, cJSON_GetObjectItemCaseSensitive(root, "normalizer")))) goto fail;
    if ((rc = load_pretok(&c, cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer")))) goto fail;
    const cJSON *pp = cJSON_GetObjectItemCaseSensitive(root, "post_processor");
    if (pp && (rc = load_template(&c, pp))) goto fail;
    if ((rc = load_decoder(&c, cJSON_GetObjectItemCaseSensitive(root, "decoder")))) goto fail;
    if (t->n_prefix) t->bos_id = t->prefix_ids[0];
    if (t->n_suffix) t->eos_id = t->suffix_ids[t->n_suffix - 1];
    if ((rc = load_config(t, cfg_path, err))) goto fail;
    cJSON_Delete(root);
    free(text);
    free(dir);
    free(cfg_path);
    *out = t;
    return 0;
fail:
    cJSON_Delete(root);
    free(text);
    free(dir);
    free(cfg_path);
    rk_tokenizer_free(t);
    return rc;
}
