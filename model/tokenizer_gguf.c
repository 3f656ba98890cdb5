/* model/tokenizer_gguf.c — the tokenizer from a GGUF file's tokenizer.ggml.* keys, as llama.cpp's
 * converter writes them (see formats/hftokenizer.h and docs/gguf-layout.md): tokens (id = index),
 * token_type (3 control = special added token, 4 user-defined = added token, matched in text like Hugging
 * Face's added tokens), merges "a b", the pre-tokenizer name, bos/eos ids and add_bos/add_eos.
 * tokenizer.ggml.pre selects the Split set: deepseek-v3; llama-bpe (with ignore_merges, as Llama 3's
 * tokenizer.json has); qwen2 / deepseek-r1-qwen (NFC applied as the Qwen tokenizer.json does); gpt2/default
 * (ByteLevel regex). Anything else is RK_EUNSUPPORTED naming the value. */
#define _GNU_SOURCE
#include "formats/gguf.h"
#include "model/tokenizer-impl.h"

#include <stdlib.h>
#include <string.h>

#define GGUF_TOK_MAX ((uint64_t)1 << 22)

static int gerr(rk_err *err, int code, const rk_gguf *g, const char *key, const char *what) {
    return rk_err_file(err, code, rk_gguf_name(g), UINT64_MAX, "%s: %s", key, what);
}

static int set_pre(rk_tokenizer *t, const rk_gguf *g, rk_err *err) {
    rk_gguf_str s = {0};
    int rc = rk_gguf_get_str(g, "tokenizer.ggml.pre", &s);
    char pre[64] = "default";
    if (rc == 0) snprintf(pre, sizeof pre, "%.*s", (int)(s.len < 63 ? s.len : 63), s.ptr);
    else if (rc != RK_ENOTFOUND) return gerr(err, RK_ECORRUPT, g, "tokenizer.ggml.pre", "not a string");
    if (!strcmp(pre, "deepseek-v3")) {
        t->splits[0] = RK_SPLIT_DS_DIGITS;
        t->splits[1] = RK_SPLIT_DS_CJK;
        t->splits[2] = RK_SPLIT_DS_MAIN;
        t->n_splits = 3;
    } else if (!strcmp(pre, "llama-bpe") || !strcmp(pre, "llama3")) {
        t->splits[0] = RK_SPLIT_GPT4_N3;
        t->n_splits = 1;
        t->ignore_merges = 1;
    } else if (!strcmp(pre, "qwen2") || !strcmp(pre, "deepseek-r1-qwen")) {
        t->splits[0] = RK_SPLIT_GPT4_N1;
        t->n_splits = 1;
        t->nfc = 1;
    } else if (!strcmp(pre, "gpt2") || !strcmp(pre, "default")) {
        t->splits[0] = RK_SPLIT_GPT2;
        t->n_splits = 1;
    } else {
        return rk_err_file(err, RK_EUNSUPPORTED, rk_gguf_name(g), UINT64_MAX,
                           "tokenizer.ggml.pre \"%s\" is not supported", pre);
    }
    return 0;
}

static int str_array(const rk_gguf *g, const char *key, int required, const rk_gguf_value **out, rk_err *err) {
    const rk_gguf_kv *kv = rk_gguf_find_kv(g, key);
    *out = NULL;
    if (!kv) return required ? gerr(err, RK_ECORRUPT, g, key, "missing") : 0;
    if (kv->val.type != RK_GGUF_ARRAY || kv->val.v.arr.type != RK_GGUF_STRING)
        return gerr(err, RK_ECORRUPT, g, key, "not an array of strings");
    if (kv->val.v.arr.n > GGUF_TOK_MAX) return gerr(err, RK_ECORRUPT, g, key, "too many entries");
    *out = &kv->val;
    return 0;
}

static int special_id(const rk_tokenizer *t, const rk_gguf *g, const char *key, int32_t *out, rk_err *err) {
    uint64_t v;
    int rc = rk_gguf_get_u64(g, key, &v);
    if (rc == RK_ENOTFOUND) return 0;
    if (rc || v >= t->n_ids || !t->tok[v])
        return gerr(err, RK_ECORRUPT, g, key, "not an id in tokenizer.ggml.tokens");
    *out = (int32_t)v;
    return 0;
}

int rk_tokenizer_load_gguf(rk_tokenizer **out, const rk_gguf *g, rk_err *err) {
    if (!out || !g) return rk_err_set(err, RK_EINVAL, UINT64_MAX, "rk_tokenizer_load_gguf: NULL argument");
    *out = NULL;
    rk_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
    t->bos_id = t->eos_id = -1;
    int rc = 0;
    rk_gguf_str model = {0};
    if (!(t->path = rk_strdup(rk_gguf_name(g)))) goto oom;
    if ((rc = rk_gguf_get_str(g, "tokenizer.ggml.model", &model))) {
        rc = gerr(err, RK_ECORRUPT, g, "tokenizer.ggml.model", rc == RK_ENOTFOUND ? "missing" : "not a string");
        goto fail;
    }
    if (model.len != 4 || memcmp(model.ptr, "gpt2", 4)) {
        rc = rk_err_file(err, RK_EUNSUPPORTED, rk_gguf_name(g), UINT64_MAX,
                         "tokenizer.ggml.model \"%.*s\" is not supported (only byte-level BPE \"gpt2\")",
                         (int)(model.len < 40 ? model.len : 40), model.ptr);
        goto fail;
    }
    if ((rc = set_pre(t, g, err))) goto fail;
    const rk_gguf_value *toks, *merges;
    if ((rc = str_array(g, "tokenizer.ggml.tokens", 1, &toks, err))) goto fail;
    if ((rc = str_array(g, "tokenizer.ggml.merges", 0, &merges, err))) goto fail;
    uint64_t n = toks->v.arr.n;
    if (n == 0) { rc = gerr(err, RK_ECORRUPT, g, "tokenizer.ggml.tokens", "empty"); goto fail; }
    const rk_gguf_kv *types = rk_gguf_find_kv(g, "tokenizer.ggml.token_type");
    if (types && (types->val.type != RK_GGUF_ARRAY || types->val.v.arr.n != n)) {
        rc = gerr(err, RK_ECORRUPT, g, "tokenizer.ggml.token_type", "not an array as long as tokenizer.ggml.tokens");
        goto fail;
    }
    /* types first: count added tokens */
    size_t n_added = 0;
    int32_t *ty = calloc(n, sizeof *ty);
    if (!ty) goto oom;
    for (uint64_t i = 0; types && i < n; i++) {
        rk_gguf_value v;
        int64_t x;
        if (rk_gguf_arr_at(&types->val, i, &v) || rk_gguf_value_i64(&v, &x) || x < 0 || x > 6) {
            free(ty);
            rc = rk_err_file(err, RK_ECORRUPT, rk_gguf_name(g), UINT64_MAX,
                             "tokenizer.ggml.token_type[%llu] is not a token type", (unsigned long long)i);
            goto fail;
        }
        ty[i] = (int32_t)x;
        n_added += x == 3 || x == 4;
    }
    if (rk_tok_alloc(t, (size_t)n, n_added)) { free(ty); goto oom; }
    for (uint64_t i = 0; i < n; i++) {
        const rk_gguf_str *s = &toks->v.arr.items[i].v.s;
        int r = rk_tok_set(t, (int32_t)i, s->ptr, (size_t)s->len);
        if (r == -1) { free(ty); goto oom; }
        if (r) {
            free(ty);
            rc = rk_err_file(err, RK_ECORRUPT, rk_gguf_name(g), UINT64_MAX,
                             "tokenizer.ggml.tokens[%llu] is empty, too long or contains NUL", (unsigned long long)i);
            goto fail;
        }
        if (ty[i] == 3 || ty[i] == 4) rk_tok_mark_added(t, (int32_t)i, ty[i] == 3, 0, 0, 0, 0);
    }
    free(ty);
    if (rk_tok_build_index(t)) goto oom;
    uint64_t nm = merges ? merges->v.arr.n : 0;
    if (rk_tok_merges_init(t, (size_t)nm)) goto oom;
    for (uint64_t i = 0; i < nm; i++) {
        const rk_gguf_str *s = &merges->v.arr.items[i].v.s;
        size_t la;
        int r = rk_tok_merge_split(s->ptr, (size_t)s->len, &la) ? -2
              : rk_tok_merge_add(t, s->ptr, la, s->ptr + la + 1, (size_t)s->len - la - 1, (int32_t)i);
        if (r == -1) goto oom;
        if (r) {
            rc = rk_err_file(err, RK_ECORRUPT, rk_gguf_name(g), UINT64_MAX,
                             "tokenizer.ggml.merges[%llu] \"%.*s\" is malformed or names a token missing from the vocabulary",
                             (unsigned long long)i, (int)(s->len < 60 ? s->len : 60), s->ptr);
            goto fail;
        }
    }
    unsigned missing = 0;
    if (rk_tok_finish(t, &missing)) {
        rc = rk_err_file(err, RK_EUNSUPPORTED, rk_gguf_name(g), UINT64_MAX,
                         "tokenizer.ggml.tokens lacks the byte-level token for byte 0x%02x", missing);
        goto fail;
    }
    if ((rc = special_id(t, g, "tokenizer.ggml.bos_token_id", &t->bos_id, err))) goto fail;
    if ((rc = special_id(t, g, "tokenizer.ggml.eos_token_id", &t->eos_id, err))) goto fail;
    int flag = 0;
    if (rk_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &flag) == 0 && flag) {
        if (t->bos_id < 0) { rc = gerr(err, RK_ECORRUPT, g, "tokenizer.ggml.add_bos_token", "set without a bos id"); goto fail; }
        t->prefix_ids[t->n_prefix++] = t->bos_id;
    }
    flag = 0;
    if (rk_gguf_get_bool(g, "tokenizer.ggml.add_eos_token", &flag) == 0 && flag) {
        if (t->eos_id < 0) { rc = gerr(err, RK_ECORRUPT, g, "tokenizer.ggml.add_eos_token", "set without an eos id"); goto fail; }
        t->suffix_ids[t->n_suffix++] = t->eos_id;
    }
    *out = t;
    return 0;
oom:
    rc = rk_err_set(err, RK_ENOMEM, UINT64_MAX, "%s: out of memory", rk_gguf_name(g));
fail:
    rk_tokenizer_free(t);
    return rc;
}
