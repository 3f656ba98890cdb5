/* formats/hftokenizer.c — tokenizer.json / tokenizer_config.json → rk_hf_tokenizer (see hftokenizer.h).
 * Follows llama.cpp's convert_hf_to_gguf.py get_vocab_base() and gguf-py SpecialVocab: token table and types,
 * merges in either form, special ids by added-token content then config.json ids, add_bos/add_eos from
 * tokenizer_config.json or a TemplateProcessing post-processor, chat template. */
#define _GNU_SOURCE
#include "formats/hftokenizer.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TOK_JSON_MAX ((uint64_t)256 << 20)
#define SMALL_JSON_MAX ((uint64_t)16 << 20)
#define TOK_MAX_VOCAB ((size_t)1 << 22)
#define TOK_MAX_MERGES ((size_t)1 << 22)

typedef struct tctx {
    const char *path;    /* tokenizer.json, for messages */
    rk_err *err;
} tctx;

static int oom(rk_err *err) { return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory"); }

void rk_hf_tokenizer_free(rk_hf_tokenizer *t) {
    if (!t) return;
    if (t->tokens)
        for (size_t i = 0; i < t->n_vocab; i++) free(t->tokens[i]);
    free(t->tokens);
    free(t->types);
    if (t->merges)
        for (size_t i = 0; i < t->n_merges; i++) free(t->merges[i]);
    free(t->merges);
    free(t->chat_template);
    free(t);
}

static int starts_with(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }
static int ends_with(const char *s, const char *p) {
    size_t a = strlen(s), b = strlen(p);
    return a >= b && !strcmp(s + a - b, p);
}

/* convert_hf_to_gguf.py does_token_look_special */
static int looks_special(const char *s) {
    static const char fw_bar[] = "\xEF\xBD\x9C";   /* U+FF5C FULLWIDTH VERTICAL LINE (DeepSeek's <｜…｜>) */
    char open_fw[8], close_fw[8];
    snprintf(open_fw, sizeof open_fw, "<%s", fw_bar);
    snprintf(close_fw, sizeof close_fw, "%s>", fw_bar);
    if (!strcmp(s, "<pad>") || !strcmp(s, "<mask>") || !strcmp(s, "<2mass>") || !strcmp(s, "[@BOS@]")) return 1;
    if (strlen(s) >= 4 && starts_with(s, "<|") && ends_with(s, "|>")) return 1;
    if (strlen(s) >= 8 && starts_with(s, open_fw) && ends_with(s, close_fw)) return 1;
    if (starts_with(s, "<unused") && ends_with(s, ">")) return 1;
    return 0;
}

/* user-defined tokens are pre-normalized: U+2581 (▁) → space */
static char *replace_lower_eighth(const char *s) {
    char *d = malloc(strlen(s) + 1);
    if (!d) return NULL;
    char *o = d;
    for (const char *p = s; *p;) {
        if (!strncmp(p, "\xE2\x96\x81", 3)) { *o++ = ' '; p += 3; }
        else *o++ = *p++;
    }
    *o = 0;
    return d;
}

static int json_id(const cJSON *v, size_t cap, size_t *out) {
    if (!cJSON_IsNumber(v)) return -1;
    double d = v->valuedouble;
    if (!(d >= 0) || d != floor(d) || d >= (double)cap) return -1;
    *out = (size_t)d;
    return 0;
}

/* ---- vocab ---- */
static int scan_max_id(tctx *c, const cJSON *vocab, const cJSON *added, size_t *max_id) {
    size_t m = 0, id;
    for (const cJSON *e = vocab->child; e; e = e->next) {
        if (json_id(e, TOK_MAX_VOCAB, &id))
            return rk_err_file(c->err, RK_ECORRUPT, c->path, UINT64_MAX, "model.vocab entry '%.40s' has a bad id (not an integer in [0, %zu))",
                               e->string ? e->string : "?", TOK_MAX_VOCAB);
        if (id > m) m = id;
    }
    for (const cJSON *e = added ? added->child : NULL; e; e = e->next) {
        if (json_id(cJSON_GetObjectItemCaseSensitive(e, "id"), TOK_MAX_VOCAB, &id))
            return rk_err_file(c->err, RK_ECORRUPT, c->path, UINT64_MAX, "an added_tokens entry has a bad id");
        if (id > m) m = id;
    }
    *max_id = m;
    return 0;
}

static int fill_vocab(tctx *c, rk_hf_tokenizer *t, const cJSON *vocab) {
    for (const cJSON *e = vocab->child; e; e = e->next) {
        size_t id = 0;
        json_id(e, TOK_MAX_VOCAB, &id);   /* checked by scan_max_id */
        if (id >= t->n_vocab)
            return rk_err_file(c->err, RK_ECORRUPT, c->path, UINT64_MAX,
                               "token '%.40s' has id %zu, not below the model's vocab_size %zu", e->string, id, t->n_vocab);
        if (t->tokens[id])
            return rk_err_file(c->err, RK_ECORRUPT, c->path, UINT64_MAX, "id %zu is used by both '%.40s' and '%.40s'", id,
                               t->tokens[id], e->string);
        if (!e->string || !e->string[0])
            return rk_err_file(c->err, RK_ECORRUPT, c->path, UINT64_MAX, "model.vocab has an empty token (id %zu)", id);
        if (!(t->tokens[id] = rk_strdup(e->string))) return oom(c->err);
        t->types[id] = RK_TOKEN_NORMAL;
    }
    return 0;
}

static int fill_added(tctx *c, rk_hf_tokenizer *t, const cJSON *added) {
    for (const cJSON *e = added ? added->child : NULL; e; e = e->next) {
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(e, "content");
        size_t id = 0;
        json_id(cJSON_GetObjectItemCaseSensitive(e, "id"), TOK_MAX_VOCAB, &id);   /* checked by scan_max_id */
        if (!cJSON_IsString(content) || !content->valuestring[0])
            return rk_err_file(c->err, RK_ECORRUPT, c->path, UINT64_MAX, "added_tokens entry id %zu has no content string", id);
        if (id >= t->n_vocab)
            return rk_err_file(c->err, RK_ECORRUPT, c->path, UINT64_MAX,
                               "added token '%.40s' has id %zu, not below the model's vocab_size %zu", content->valuestring, id,
                               t->n_vocab);
        int special = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "special"));
        const char *s = content->valuestring;
        char *txt;
        if (special || looks_special(s)) {
            t->types[id] = RK_TOKEN_CONTROL;
            txt = rk_strdup(s);
        } else {
            t->types[id] = RK_TOKEN_USER_DEFINED;
            txt = replace_lower_eighth(s);
        }
        if (!txt) return oom(c->err);
        free(t->tokens[id]);
        t->tokens[id] = txt;
    }
    return 0;
}

static int fill_pads(rk_hf_tokenizer *t, rk_err *err) {
    for (size_t i = 0; i < t->n_vocab; i++) {
        if (t->tokens[i]) continue;
        char buf[32];
        snprintf(buf, sizeof buf, "[PAD%zu]", i);
        if (!(t->tokens[i] = rk_strdup(buf))) return oom(err);
        t->types[i] = RK_TOKEN_UNUSED;
        t->n_pad++;
    }
    return 0;
}

/* ---- merges: "a b" strings, or [a, b] pairs (spaces inside a part become U+0120) ---- */
static char *join_pair(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b), spaces = 0;
    for (const char *p = a; *p; p++) spaces += *p == ' ';
    for (const char *p = b; *p; p++) spaces += *p == ' ';
    char *d = malloc(na + nb + 2 + spaces + 1);
    if (!d) return NULL;
    char *o = d;
    for (int k = 0; k < 2; k++) {
        for (const char *p = k ? b : a; *p; p++) {
            if (*p == ' ') { *o++ = (char)0xC4; *o++ = (char)0xA0; }
            else *o++ = *p;
        }
        if (!k) *o++ = ' ';
    }
    *o = 0;
    return d;
}

static int load_merges(tctx *c, rk_hf_tokenizer *t, const cJSON *merges) {
    if (!merges || cJSON_IsNull(merges)) return 0;
    if (!cJSON_IsArray(merges)) return rk_err_file(c->err, RK_ECORRUPT, c->path, UINT64_MAX, "model.merges is not a list");
    size_t n = (size_t)cJSON_GetArraySize(merges);
    if (n > TOK_MAX_MERGES)
        return rk_err_file(c->err, RK_ECORRUPT, c->path, UINT64_MAX, "model.merges has %zu entries, at most %zu", n, TOK_MAX_MERGES);
    if (!n) return 0;
    if (!(t->merges = calloc(n, sizeof *t->merges))) return oom(c->err);
    for (const cJSON *e = merges->child; e; e = e->next) {
        char *m = NULL;
        if (cJSON_IsString(e)) {
            const char *sp = strchr(e->valuestring, ' ');
            if (!sp || sp == e->valuestring || !sp[1] || strchr(sp + 1, ' '))
                return rk_err_file(c->err, RK_ECORRUPT, c->path, UINT64_MAX, "merge %zu ('%.40s') is not of the form \"a b\"",
                                   t->n_merges, e->valuestring);
            m = rk_strdup(e->valuestring);
        } else if (cJSON_IsArray(e) && cJSON_GetArraySize(e) == 2 && cJSON_IsString(e->child) &&
                   cJSON_IsString(e->child->next) && e->child->valuestring[0] && e->child->next->valuestring[0]) {
            m = join_pair(e->child->valuestring, e->child->next->valuestring);
        } else {
            return rk_err_file(c->err, RK_ECORRUPT, c->path, UINT64_MAX,
                               "merge %zu is neither a \"a b\" string nor a pair of non-empty strings", t->n_merges);
        }
        if (!m) return oom(c->err);
        t->merges[t->n_merges++] = m;
    }
    return 0;
}

/* ---- pre-tokenizer ---- */
static void collect_regex(const cJSON *pt, const char **rx, int *n, int cap) {
    if (!cJSON_IsObject(pt)) return;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(pt, "type");
    if (cJSON_IsString(type) && !strcmp(type->valuestring, "Sequence")) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(pt, "pretokenizers");
        for (const cJSON *e = cJSON_IsArray(list) ? list->child : NULL; e; e = e->next) collect_regex(e, rx, n, cap);
        return;
    }
    if (cJSON_IsString(type) && !strcmp(type->valuestring, "Split")) {
        const cJSON *pat = cJSON_GetObjectItemCaseSensitive(pt, "pattern");
        const cJSON *r = pat ? cJSON_GetObjectItemCaseSensitive(pat, "Regex") : NULL;
        if (cJSON_IsString(r) && *n < cap) rx[(*n)++] = r->valuestring;
    }
}

static void choose_pre(rk_hf_tokenizer *t, const cJSON *root, const rk_hf_config *cfg) {
    const char *rx[16];
    int n = 0, digits3 = 0, cjk = 0, gpt4_digits3 = 0, gpt4_digit1 = 0;
    collect_regex(cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), rx, &n, 16);
    for (int i = 0; i < n; i++) {
        if (!strcmp(rx[i], "\\p{N}{1,3}")) digits3 = 1;
        if (strstr(rx[i], "\xE4\xB8\x80-\xE9\xBE\xA5")) cjk = 1;          /* 一-龥 */
        if (strstr(rx[i], "(?i:'s|'t|'re|'ve|'m|'ll|'d)")) {
            if (strstr(rx[i], "\\p{N}{1,3}")) gpt4_digits3 = 1;
            else if (strstr(rx[i], "\\p{N}|")) gpt4_digit1 = 1;
        }
    }
    const char *pre = NULL;
    if (digits3 && cjk) pre = "deepseek-v3";
    else if (gpt4_digits3) pre = "llama-bpe";
    else if (gpt4_digit1) pre = t->add_bos == 1 ? "deepseek-r1-qwen" : "qwen2";
    if (!pre) {
        t->pre_guessed = 1;
        int arch = cfg ? cfg->arch : RK_HF_ARCH_LLAMA;
        pre = arch == RK_HF_ARCH_DEEPSEEK2 ? "deepseek-v3" : arch == RK_HF_ARCH_QWEN2 ? "qwen2" : "llama-bpe";
    }
    snprintf(t->pre, sizeof t->pre, "%s", pre);
}

/* ---- tokenizer_config.json, special ids ---- */
static const char *token_content(const cJSON *v) {   /* "<s>" or {"content": "<s>", ...} */
    if (cJSON_IsString(v)) return v->valuestring;
    if (cJSON_IsObject(v)) {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(v, "content");
        if (cJSON_IsString(c)) return c->valuestring;
    }
    return NULL;
}

static int64_t find_added(const cJSON *added, const char *content, size_t n_vocab) {
    size_t id;
    for (const cJSON *e = added ? added->child : NULL; content && e; e = e->next) {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(e, "content");
        if (cJSON_IsString(c) && !strcmp(c->valuestring, content) &&
            !json_id(cJSON_GetObjectItemCaseSensitive(e, "id"), n_vocab, &id))
            return (int64_t)id;
    }
    return -1;
}

/* TemplateProcessing (possibly inside a Sequence): first/last special token of the "single" template */
static void template_specials(const cJSON *pp, const char **first, const char **last) {
    if (!cJSON_IsObject(pp)) return;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(pp, "type");
    if (cJSON_IsString(type) && !strcmp(type->valuestring, "Sequence")) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(pp, "processors");
        for (const cJSON *e = cJSON_IsArray(list) ? list->child : NULL; e; e = e->next) template_specials(e, first, last);
        return;
    }
    if (!cJSON_IsString(type) || strcmp(type->valuestring, "TemplateProcessing")) return;
    const cJSON *single = cJSON_GetObjectItemCaseSensitive(pp, "single");
    if (!cJSON_IsArray(single) || cJSON_GetArraySize(single) < 2) return;
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(single->child, "SpecialToken");
    const cJSON *z = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(single, cJSON_GetArraySize(single) - 1), "SpecialToken");
    const cJSON *ai = a ? cJSON_GetObjectItemCaseSensitive(a, "id") : NULL;
    const cJSON *zi = z ? cJSON_GetObjectItemCaseSensitive(z, "id") : NULL;
    if (cJSON_IsString(ai)) *first = ai->valuestring;
    if (cJSON_IsString(zi)) *last = zi->valuestring;
}

static int read_json_file(const char *dir, const char *name, cJSON **out, rk_err *err) {
    *out = NULL;
    char *p = rk_path_join(dir, name), *txt = NULL;
    if (!p) return oom(err);
    if (!rk_file_exists(p)) { free(p); return 0; }
    uint64_t len = 0;
    int rc = rk_read_file(p, SMALL_JSON_MAX, &txt, &len, err);
    if (!rc && !(*out = cJSON_ParseWithLength(txt, (size_t)len)))
        rc = rk_err_file(err, RK_ECORRUPT, p, UINT64_MAX, "not valid JSON");
    if (!rc && !cJSON_IsObject(*out)) {
        rc = rk_err_file(err, RK_ECORRUPT, p, UINT64_MAX, "top level is not a JSON object");
        cJSON_Delete(*out);
        *out = NULL;
    }
    free(txt);
    free(p);
    return rc;
}

static int load_chat_template(rk_hf_tokenizer *t, const char *dir, const cJSON *tc, rk_err *err) {
    const cJSON *ct = tc ? cJSON_GetObjectItemCaseSensitive(tc, "chat_template") : NULL;
    if (cJSON_IsString(ct)) return (t->chat_template = rk_strdup(ct->valuestring)) ? 0 : oom(err);
    if (cJSON_IsArray(ct)) {      /* [{name, template}, ...]: the "default" one (or the first) */
        const cJSON *pick = NULL;
        for (const cJSON *e = ct->child; e; e = e->next) {
            const cJSON *nm = cJSON_GetObjectItemCaseSensitive(e, "name");
            if (!pick || (cJSON_IsString(nm) && !strcmp(nm->valuestring, "default"))) pick = e;
        }
        const cJSON *tp = pick ? cJSON_GetObjectItemCaseSensitive(pick, "template") : NULL;
        if (cJSON_IsString(tp)) return (t->chat_template = rk_strdup(tp->valuestring)) ? 0 : oom(err);
        return 0;
    }
    char *p = rk_path_join(dir, "chat_template.jinja");
    if (!p) return oom(err);
    int rc = 0;
    if (rk_file_exists(p)) {
        uint64_t len;
        rc = rk_read_file(p, SMALL_JSON_MAX, &t->chat_template, &len, err);
        free(p);
        return rc;
    }
    free(p);
    cJSON *j = NULL;
    if ((rc = read_json_file(dir, "chat_template.json", &j, err))) return rc;
    const cJSON *s = j ? cJSON_GetObjectItemCaseSensitive(j, "chat_template") : NULL;
    if (cJSON_IsString(s) && !(t->chat_template = rk_strdup(s->valuestring))) rc = oom(err);
    cJSON_Delete(j);
    return rc;
}

static void config_id(const cJSON *config, const char *key, size_t n_vocab, int64_t *dst) {
    size_t id;
    if (*dst < 0 && config && !json_id(cJSON_GetObjectItemCaseSensitive(config, key), n_vocab, &id)) *dst = (int64_t)id;
}

static int load_specials(rk_hf_tokenizer *t, const char *dir, const cJSON *root, rk_err *err) {
    cJSON *tc = NULL, *config = NULL;
    int rc = read_json_file(dir, "tokenizer_config.json", &tc, err);
    if (!rc) rc = read_json_file(dir, "config.json", &config, err);
    if (rc) goto done;
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    const char *bos = tc ? token_content(cJSON_GetObjectItemCaseSensitive(tc, "bos_token")) : NULL;
    const char *eos = tc ? token_content(cJSON_GetObjectItemCaseSensitive(tc, "eos_token")) : NULL;
    const char *first = NULL, *last = NULL;
    template_specials(cJSON_GetObjectItemCaseSensitive(root, "post_processor"), &first, &last);
    if (first) { if (!bos && !tc) bos = first; t->add_bos = bos && !strcmp(first, bos); }
    if (last) { if (!eos && !tc) eos = last; t->add_eos = eos && !strcmp(last, eos); }
    t->bos_id = find_added(added, bos, t->n_vocab);
    t->eos_id = find_added(added, eos, t->n_vocab);
    if (tc) {
        t->unk_id = find_added(added, token_content(cJSON_GetObjectItemCaseSensitive(tc, "unk_token")), t->n_vocab);
        t->sep_id = find_added(added, token_content(cJSON_GetObjectItemCaseSensitive(tc, "sep_token")), t->n_vocab);
        t->pad_id = find_added(added, token_content(cJSON_GetObjectItemCaseSensitive(tc, "pad_token")), t->n_vocab);
        const cJSON *ab = cJSON_GetObjectItemCaseSensitive(tc, "add_bos_token");
        const cJSON *ae = cJSON_GetObjectItemCaseSensitive(tc, "add_eos_token");
        if (cJSON_IsBool(ab)) t->add_bos = cJSON_IsTrue(ab);
        if (cJSON_IsBool(ae)) t->add_eos = cJSON_IsTrue(ae);
    }
    config_id(config, "bos_token_id", t->n_vocab, &t->bos_id);
    config_id(config, "eos_token_id", t->n_vocab, &t->eos_id);   /* a list is not an int: ignored, as llama.cpp does */
    config_id(config, "unk_token_id", t->n_vocab, &t->unk_id);
    config_id(config, "sep_token_id", t->n_vocab, &t->sep_id);
    config_id(config, "pad_token_id", t->n_vocab, &t->pad_id);
    rc = load_chat_template(t, dir, tc, err);
done:
    cJSON_Delete(tc);
    cJSON_Delete(config);
    return rc;
}

int rk_hf_tokenizer_load(rk_hf_tokenizer **out, const char *dir, const rk_hf_config *cfg, rk_err *err) {
    *out = NULL;
    char *path = rk_path_join(dir, "tokenizer.json"), *txt = NULL;
    cJSON *root = NULL;
    rk_hf_tokenizer *t = calloc(1, sizeof *t);
    int rc;
    if (!path || !t) { rc = oom(err); goto fail; }
    t->bos_id = t->eos_id = t->unk_id = t->sep_id = t->pad_id = -1;
    t->add_bos = t->add_eos = -1;
    tctx c = { path, err };
    uint64_t len = 0;
    if ((rc = rk_read_file(path, TOK_JSON_MAX, &txt, &len, err))) goto fail;
    if (!(root = cJSON_ParseWithLength(txt, (size_t)len))) { rc = rk_err_file(err, RK_ECORRUPT, path, UINT64_MAX, "not valid JSON"); goto fail; }
    free(txt);
    txt = NULL;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *mtype = model ? cJSON_GetObjectItemCaseSensitive(model, "type") : NULL;
    const cJSON *vocab = model ? cJSON_GetObjectItemCaseSensitive(model, "vocab") : NULL;
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    if (!cJSON_IsObject(model) || !cJSON_IsObject(vocab)) {
        rc = rk_err_file(err, RK_ECORRUPT, path, UINT64_MAX, "no \"model\" object with a \"vocab\" map");
        goto fail;
    }
    if (mtype && (!cJSON_IsString(mtype) || strcmp(mtype->valuestring, "BPE"))) {
        rc = rk_err_file(err, RK_EUNSUPPORTED, path, UINT64_MAX, "tokenizer model type '%s' is not supported (only byte-level BPE)",
                         cJSON_IsString(mtype) ? mtype->valuestring : "?");
        goto fail;
    }
    if (added && !cJSON_IsArray(added)) { rc = rk_err_file(err, RK_ECORRUPT, path, UINT64_MAX, "added_tokens is not a list"); goto fail; }
    size_t max_id = 0;
    if ((rc = scan_max_id(&c, vocab, added, &max_id))) goto fail;
    if (!vocab->child && !(added && added->child)) { rc = rk_err_file(err, RK_ECORRUPT, path, UINT64_MAX, "the vocabulary is empty"); goto fail; }
    t->n_vocab = cfg ? (size_t)cfg->vocab_size : max_id + 1;
    if (!(t->tokens = calloc(t->n_vocab, sizeof *t->tokens)) || !(t->types = calloc(t->n_vocab, sizeof *t->types))) {
        rc = oom(err);
        goto fail;
    }
    if ((rc = fill_vocab(&c, t, vocab)) || (rc = fill_added(&c, t, added)) || (rc = fill_pads(t, err)) ||
        (rc = load_merges(&c, t, cJSON_GetObjectItemCaseSensitive(model, "merges"))) ||
        (rc = load_specials(t, dir, root, err)))
        goto fail;
    choose_pre(t, root, cfg);
    cJSON_Delete(root);
    free(path);
    *out = t;
    return 0;
fail:
    cJSON_Delete(root);
    free(txt);
    free(path);
    rk_hf_tokenizer_free(t);
    return rc;
}
