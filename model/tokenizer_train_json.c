/* model/tokenizer_train_json.c — writes a trained BPE as Hugging Face tokenizer.json + tokenizer_config.json.
 * The JSON follows the files the families ship (DeepSeek-V3's for the default): key order as Hugging Face
 * saves them (version, truncation, padding, added_tokens, normalizer, pre_tokenizer, post_processor,
 * decoder, model), vocab in id order, merges as "a b" strings. The Split regexes are spelled exactly as in
 * each family's own file; model/tokenizer_regex.c recognises those spellings, so the loader (and the
 * trainer, which takes its matchers from the same strings) run the same pre-tokenizer. */
#include "model/tokenizer-impl.h"
#include "model/tokenizer_train.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

/* DeepSeek-V3: literal CR/LF inside the third regex, as its tokenizer.json has them */
static const char DS_DIGITS[] = "\\p{N}{1,3}";
static const char DS_CJK[] = "[\xE4\xB8\x80-\xE9\xBE\xA5\xE3\x81\x80-\xE3\x82\x9F\xE3\x82\xA0-\xE3\x83\xBF]+";
static const char DS_MAIN[] =
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+|"
    " ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+";
static const char QWEN2[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char LLAMA3[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

static const rk_bpe_family FAMILIES[] = {
    {"deepseek_v3", {DS_DIGITS, DS_CJK, DS_MAIN}, 3, 0, 0, 1, 1},
    {"qwen2", {QWEN2, NULL, NULL}, 1, 1, 0, 0, 0},
    {"llama3", {LLAMA3, NULL, NULL}, 1, 0, 1, 1, 1},
};

const rk_bpe_family *rk_bpe_family_find(const char *name) {
    for (size_t i = 0; i < sizeof FAMILIES / sizeof FAMILIES[0]; i++)
        if (!strcmp(FAMILIES[i].name, name)) return &FAMILIES[i];
    return NULL;
}

static cJSON *byte_level(int add_prefix_space, int trim_offsets, int use_regex) {
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "type", "ByteLevel");
    cJSON_AddBoolToObject(b, "add_prefix_space", add_prefix_space);
    cJSON_AddBoolToObject(b, "trim_offsets", trim_offsets);
    cJSON_AddBoolToObject(b, "use_regex", use_regex);
    return b;
}

static cJSON *normalizer(const rk_bpe_family *f) {
    if (f->null_normalizer) return cJSON_CreateNull();
    cJSON *n = cJSON_CreateObject();
    if (f->nfc) {
        cJSON_AddStringToObject(n, "type", "NFC");
    } else {
        cJSON_AddStringToObject(n, "type", "Sequence");
        cJSON_AddItemToObject(n, "normalizers", cJSON_CreateArray());
    }
    return n;
}

static cJSON *pre_tokenizer(const rk_bpe_family *f) {
    cJSON *p = cJSON_CreateObject(), *list = cJSON_CreateArray();
    cJSON_AddStringToObject(p, "type", "Sequence");
    for (size_t i = 0; i < f->n_patterns; i++) {
        cJSON *s = cJSON_CreateObject(), *pat = cJSON_CreateObject();
        cJSON_AddStringToObject(s, "type", "Split");
        cJSON_AddStringToObject(pat, "Regex", f->pattern[i]);
        cJSON_AddItemToObject(s, "pattern", pat);
        cJSON_AddStringToObject(s, "behavior", "Isolated");
        cJSON_AddBoolToObject(s, "invert", 0);
        cJSON_AddItemToArray(list, s);
    }
    cJSON_AddItemToArray(list, byte_level(0, f->pretok_trim_offsets, 0));
    cJSON_AddItemToObject(p, "pretokenizers", list);
    return p;
}

static cJSON *template_piece(const char *kind, const char *id, int type_id) {
    cJSON *o = cJSON_CreateObject(), *in = cJSON_CreateObject();
    cJSON_AddStringToObject(in, "id", id);
    cJSON_AddNumberToObject(in, "type_id", type_id);
    cJSON_AddItemToObject(o, kind, in);
    return o;
}

/* ByteLevel, or Sequence[ByteLevel, TemplateProcessing(BOS $A)] when there is a BOS (Llama 3's shape). */
static cJSON *post_processor(const rk_bpe_family *f, const char *bos, int32_t bos_id) {
    cJSON *bl = byte_level(f->decoder_flags, 0, f->decoder_flags);
    if (!bos) return bl;
    cJSON *t = cJSON_CreateObject(), *single = cJSON_CreateArray(), *pair = cJSON_CreateArray();
    cJSON_AddStringToObject(t, "type", "TemplateProcessing");
    cJSON_AddItemToArray(single, template_piece("SpecialToken", bos, 0));
    cJSON_AddItemToArray(single, template_piece("Sequence", "A", 0));
    cJSON_AddItemToArray(pair, template_piece("SpecialToken", bos, 0));
    cJSON_AddItemToArray(pair, template_piece("Sequence", "A", 0));
    cJSON_AddItemToArray(pair, template_piece("SpecialToken", bos, 1));
    cJSON_AddItemToArray(pair, template_piece("Sequence", "B", 1));
    cJSON_AddItemToObject(t, "single", single);
    cJSON_AddItemToObject(t, "pair", pair);
    cJSON *st = cJSON_CreateObject(), *one = cJSON_CreateObject(), *ids = cJSON_CreateArray(), *toks = cJSON_CreateArray();
    cJSON_AddStringToObject(one, "id", bos);
    cJSON_AddItemToArray(ids, cJSON_CreateNumber(bos_id));
    cJSON_AddItemToObject(one, "ids", ids);
    cJSON_AddItemToArray(toks, cJSON_CreateString(bos));
    cJSON_AddItemToObject(one, "tokens", toks);
    cJSON_AddItemToObject(st, bos, one);
    cJSON_AddItemToObject(t, "special_tokens", st);
    cJSON *seq = cJSON_CreateObject(), *list = cJSON_CreateArray();
    cJSON_AddStringToObject(seq, "type", "Sequence");
    cJSON_AddItemToArray(list, bl);
    cJSON_AddItemToArray(list, t);
    cJSON_AddItemToObject(seq, "processors", list);
    return seq;
}

static cJSON *model(const rk_bpe_vocab *v, const rk_bpe_merge *m, size_t nm) {
    cJSON *o = cJSON_CreateObject(), *vocab = cJSON_CreateObject(), *merges = cJSON_CreateArray();
    cJSON_AddStringToObject(o, "type", "BPE");
    cJSON_AddNullToObject(o, "dropout");
    cJSON_AddNullToObject(o, "unk_token");
    cJSON_AddNullToObject(o, "continuing_subword_prefix");
    cJSON_AddNullToObject(o, "end_of_word_suffix");
    cJSON_AddBoolToObject(o, "fuse_unk", 0);
    cJSON_AddBoolToObject(o, "byte_fallback", 0);
    int ok = o && vocab && merges;
    for (size_t i = 0; ok && i < v->n; i++) {
        cJSON *id = cJSON_CreateNumber((double)i);
        if (!id || !cJSON_AddItemToObject(vocab, v->s[i], id)) { cJSON_Delete(id); ok = 0; }
    }
    for (size_t i = 0; ok && i < nm; i++) {
        size_t la = v->len[m[i].a], lb = v->len[m[i].b];
        char *s = malloc(la + lb + 2);
        cJSON *str = NULL;
        if (s) {
            memcpy(s, v->s[m[i].a], la);
            s[la] = ' ';
            memcpy(s + la + 1, v->s[m[i].b], lb + 1);
            str = cJSON_CreateString(s);
        }
        if (!str || !cJSON_AddItemToArray(merges, str)) { cJSON_Delete(str); ok = 0; }
        free(s);
    }
    if (!ok || !cJSON_AddItemToObject(o, "vocab", vocab)) goto fail;
    vocab = NULL;
    if (!cJSON_AddItemToObject(o, "merges", merges)) goto fail;
    return o;
fail:
    cJSON_Delete(o);
    cJSON_Delete(vocab);
    cJSON_Delete(merges);
    return NULL;
}

static cJSON *tokenizer_json(const rk_bpe_train_opts *o, const rk_bpe_family *f, const rk_bpe_vocab *v, size_t n_special,
                             const rk_bpe_merge *m, size_t nm) {
    cJSON *root = cJSON_CreateObject(), *added = cJSON_CreateArray();
    int32_t bos_id = -1;
    cJSON_AddStringToObject(root, "version", "1.0");
    cJSON_AddNullToObject(root, "truncation");
    cJSON_AddNullToObject(root, "padding");
    for (size_t i = 0; i < n_special; i++) {
        cJSON *a = cJSON_CreateObject();
        cJSON_AddNumberToObject(a, "id", (double)i);
        cJSON_AddStringToObject(a, "content", v->s[i]);
        cJSON_AddBoolToObject(a, "single_word", 0);
        cJSON_AddBoolToObject(a, "lstrip", 0);
        cJSON_AddBoolToObject(a, "rstrip", 0);
        cJSON_AddBoolToObject(a, "normalized", 0);
        cJSON_AddBoolToObject(a, "special", 1);
        cJSON_AddItemToArray(added, a);
        if (o->bos && !strcmp(o->bos, v->s[i])) bos_id = (int32_t)i;
    }
    cJSON_AddItemToObject(root, "added_tokens", added);
    cJSON_AddItemToObject(root, "normalizer", normalizer(f));
    cJSON_AddItemToObject(root, "pre_tokenizer", pre_tokenizer(f));
    cJSON_AddItemToObject(root, "post_processor", post_processor(f, o->bos, bos_id));
    cJSON_AddItemToObject(root, "decoder", byte_level(f->decoder_flags, f->pretok_trim_offsets, f->decoder_flags));
    cJSON *mo = model(v, m, nm);
    if (!mo) { cJSON_Delete(root); return NULL; }
    cJSON_AddItemToObject(root, "model", mo);
    return root;
}

static cJSON *added_token(const char *content) {
    cJSON *t = cJSON_CreateObject();
    cJSON_AddStringToObject(t, "__type", "AddedToken");
    cJSON_AddStringToObject(t, "content", content);
    cJSON_AddBoolToObject(t, "lstrip", 0);
    cJSON_AddBoolToObject(t, "normalized", 0);
    cJSON_AddBoolToObject(t, "rstrip", 0);
    cJSON_AddBoolToObject(t, "single_word", 0);
    return t;
}

/* DeepSeek-V3's tokenizer_config.json without its chat template: LlamaTokenizerFast honours add_bos_token. */
static cJSON *config_json(const rk_bpe_train_opts *o) {
    cJSON *c = cJSON_CreateObject();
    cJSON_AddBoolToObject(c, "add_bos_token", o->bos != NULL);
    cJSON_AddBoolToObject(c, "add_eos_token", 0);
    cJSON_AddItemToObject(c, "bos_token", o->bos ? added_token(o->bos) : cJSON_CreateNull());
    cJSON_AddBoolToObject(c, "clean_up_tokenization_spaces", 0);
    cJSON_AddItemToObject(c, "eos_token", o->eos ? added_token(o->eos) : cJSON_CreateNull());
    cJSON_AddBoolToObject(c, "legacy", 1);
    cJSON_AddNumberToObject(c, "model_max_length", 131072);
    cJSON_AddItemToObject(c, "pad_token", o->eos ? added_token(o->eos) : cJSON_CreateNull());
    cJSON_AddItemToObject(c, "sp_model_kwargs", cJSON_CreateObject());
    cJSON_AddNullToObject(c, "unk_token");
    cJSON_AddStringToObject(c, "tokenizer_class", "LlamaTokenizerFast");
    return c;
}

static int write_json(const char *dir, const char *name, cJSON *j, rk_err *err) {
    char *path = rk_path_join(dir, name), *text = j ? cJSON_Print(j) : NULL;
    int rc;
    if (!path || !text) {
        rc = rk_err_set(err, RK_ENOMEM, UINT64_MAX, "%s/%s: out of memory", dir, name);
    } else {
        rk_outfile f;
        size_t n = strlen(text);
        text[n] = '\n';   /* cJSON_Print's terminator becomes the final newline */
        rc = rk_outfile_open(&f, path, err);
        if (!rc && (rc = rk_outfile_write(&f, text, n + 1, err))) rk_outfile_abort(&f);
        if (!rc) rc = rk_outfile_commit(&f, err);
    }
    free(text);
    free(path);
    return rc;
}

int rk_bpe_write(const char *out_dir, const rk_bpe_train_opts *o, const rk_bpe_family *f, const rk_bpe_vocab *v,
                 size_t n_special, const rk_bpe_merge *m, size_t n_merges, rk_err *err) {
    cJSON *tok = tokenizer_json(o, f, v, n_special, m, n_merges), *cfg = config_json(o);
    int rc = write_json(out_dir, "tokenizer.json", tok, err);
    if (!rc) rc = write_json(out_dir, "tokenizer_config.json", cfg, err);
    cJSON_Delete(tok);
    cJSON_Delete(cfg);
    return rc;
}
