/* tests/model/test_tokenizer_train.c — model/tokenizer_train.h: a tiny corpus whose merges are worked out by
 * hand below, round trips through rk_tokenizer_load for every family (text and bytes never seen in training),
 * byte-identical reruns, special tokens (ids, single tokens, cut out of the training text), the JSON shapes
 * against the committed DeepSeek-V3 / Qwen2.5 files, bad options and unreadable files, and — when node and
 * the @lenml/tokenizers package (transformers.js) are under $RK_TOKREF_DIR — the same ids from the JS
 * implementation of Hugging Face tokenizers for a trained file. Without them that case prints a SKIP line
 * (and the rest still counts as a pass, like the other tokenizer tests). */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model/tokenizer-impl.h"
#include "model/tokenizer.h"
#include "model/tokenizer_train.h"
#include "tests/common/rk_test.h"

#define DS_BOS "<\xEF\xBD\x9C" "begin\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>"
#define DS_EOS "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>"

static const char *const DS_SPECIALS[] = {DS_BOS, DS_EOS};
static const char *const FAMILIES[] = {"deepseek_v3", "qwen2", "llama3"};
static int g_have_ref;   /* node + @lenml/tokenizers available (decided in main, before Check forks) */

__attribute__((format(printf, 1, 2))) static char *fmt(const char *f, ...) {
    va_list ap;
    va_start(ap, f);
    char *p = NULL;
    int rc = vasprintf(&p, f, ap);
    va_end(ap);
    ck_assert(rc >= 0);
    return p;
}

static rk_bpe_train_opts ds_opts(int64_t vocab) {
    rk_bpe_train_opts o = {.vocab_size = vocab, .special = DS_SPECIALS, .n_special = 2, .bos = DS_BOS, .eos = DS_EOS};
    return o;
}

static char *write_text(const char *dir, const char *name, const char *text, size_t n) {
    char *p = fmt("%s/%s", dir, name);
    rk_test_write_file(p, text, n);
    return p;
}

static cJSON *read_json(const char *dir, const char *name) {
    char *p = fmt("%s/%s", dir, name);
    size_t n = 0;
    uint8_t *d = rk_test_read_file(p, &n);
    ck_assert_msg(d != NULL, "missing %s", p);
    cJSON *j = cJSON_ParseWithLength((const char *)d, n);
    ck_assert_msg(j != NULL, "bad JSON in %s", p);
    free(d);
    free(p);
    return j;
}

static cJSON *model_item(cJSON *tok, const char *key) {
    return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(tok, "model"), key);
}

/* A corpus of ~60 KB: the committed multilingual sample, then pseudo-English from a fixed word list. */
static char *corpus(size_t *n) {
    char *p = fmt("%s/tests/model/tokenizer_sample.txt", rk_test_source_dir());
    size_t ns = 0;
    char *sample = (char *)rk_test_read_file(p, &ns);
    ck_assert_msg(sample != NULL, "missing %s", p);
    free(p);
    static const char *words[] = {"the", "and", "of", "to", "in", "that", "he", "shall", "unto", "for", "his", "lord",
                                  "they", "be", "is", "him", "not", "them", "with", "it", "all", "thou", "was", "God",
                                  "which", "my", "me", "said", "but", "ye", "their", "have", "will", "thee", "from",
                                  "as", "are", "when", "this", "out", "were", "upon", "man", "by", "Israel", "king"};
    size_t cap = ns + 70000, k = ns;
    char *s = malloc(cap);
    ck_assert_ptr_nonnull(s);
    memcpy(s, sample, ns);
    free(sample);
    uint32_t x = 12345;
    while (k < cap - 64) {
        x = x * 1103515245u + 12345u;
        const char *w = words[(x >> 16) % (sizeof words / sizeof words[0])];
        k += (size_t)sprintf(s + k, "%s%s", w, (x >> 8) % 13 == 0 ? ".\n" : (x >> 8) % 7 == 0 ? ", " : " ");
        if ((x >> 4) % 97 == 0) k += (size_t)sprintf(s + k, "%u ", (x >> 12) % 100000);
    }
    *n = k;
    return s;
}

/* ---- the hand-checked case ----
 * "low lower lowest\nnewer newest wider\n" pre-tokenizes (DeepSeek-V3) to low, Ġlower, Ġlowest, Ċ, newer,
 * Ġnewest, Ġwider, Ċ (Ġ = space, Ċ = newline). Pair counts: (w,e) 4 — in lower, lowest, newer, newest — is the
 * single most frequent pair; then (l,o) 3. Then seven pairs tie at 2: (e,we) (lo,we) (n,e)... and the smallest
 * left string wins: "e we", "lo we" (now (n,ewe), (s,t), (Ġ,lowe) are left at 2), "n ewe", "s t", "Ġ lowe"
 * (Ġ is U+0120, after ASCII). Every other pair occurs once, below min_frequency 2. */
static const char TINY[] = "low lower lowest\nnewer newest wider\n";
static const char *const TINY_MERGES[] = {"w e", "l o", "e we", "lo we", "n ewe", "s t", "\xC4\xA0 lowe"};

static void check_merges(const char *dir, const char *const *want, int n) {
    cJSON *j = read_json(dir, "tokenizer.json");
    cJSON *m = model_item(j, "merges");
    ck_assert_int_eq(cJSON_GetArraySize(m), n);
    int i = 0;
    for (cJSON *e = m->child; e; e = e->next, i++) ck_assert_str_eq(e->valuestring, want[i]);
    ck_assert_int_eq(cJSON_GetArraySize(model_item(j, "vocab")), 2 + 256 + n);
    cJSON_Delete(j);
}

START_TEST(tiny_merges) {
    char *dir = rk_test_tmpdir("bpe-tiny");
    char *txt = write_text(dir, "tiny.txt", TINY, strlen(TINY));
    char *out = fmt("%s/out", dir);
    const char *files[] = {txt};
    rk_err err;
    rk_bpe_train_opts o = ds_opts(300);
    ck_assert_msg(rk_bpe_train(files, 1, &o, out, &err) == 0, "%s", err.msg);
    check_merges(out, TINY_MERGES, 7);
    /* vocabulary layout: specials, the 256 byte characters by code point ('!' first, Ń = byte 0xAD last), merges */
    rk_tokenizer *t = NULL;
    ck_assert_msg(rk_tokenizer_load(&t, out, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(rk_tokenizer_vocab_size(t), 265);
    ck_assert_str_eq(rk_tokenizer_token(t, 2), "!");
    ck_assert_str_eq(rk_tokenizer_token(t, 257), "\xC5\x83");
    ck_assert_str_eq(rk_tokenizer_token(t, 258), "we");
    ck_assert_str_eq(rk_tokenizer_token(t, 264), "\xC4\xA0lowe");
    int32_t *ids = NULL;
    size_t n = 0;
    ck_assert_int_eq(rk_tokenizer_encode(t, " lowest", 7, 0, &ids, &n, &err), 0);
    ck_assert_int_eq(n, 2);   /* Ġlowe + st */
    ck_assert_int_eq(ids[0], 264);
    ck_assert_int_eq(ids[1], 263);
    free(ids);
    rk_tokenizer_free(t);
    /* the vocabulary cap and min_frequency stop it early */
    o.vocab_size = 260;
    ck_assert_int_eq(rk_bpe_train(files, 1, &o, out, &err), 0);
    check_merges(out, TINY_MERGES, 2);
    o.vocab_size = 300;
    o.min_frequency = 3;
    ck_assert_int_eq(rk_bpe_train(files, 1, &o, out, &err), 0);
    check_merges(out, TINY_MERGES, 2);
    o.min_frequency = 5;
    ck_assert_int_eq(rk_bpe_train(files, 1, &o, out, &err), 0);
    check_merges(out, TINY_MERGES, 0);
    free(out);
    free(txt);
    rk_test_rmtree(dir);
    free(dir);
}
END_TEST

/* ---- the incremental merge loop against a naive one that recounts every pair at every step ---- */
typedef struct nword { int32_t s[16]; int n; int64_t c; } nword;

static int str_less(const rk_bpe_vocab *v, int32_t a1, int32_t b1, int32_t a2, int32_t b2) {
    int r = strcmp(v->s[a1], v->s[a2]);
    return r ? r < 0 : strcmp(v->s[b1], v->s[b2]) < 0;
}

static size_t naive_learn(nword *w, size_t nw, rk_bpe_vocab *v, int64_t vocab, int64_t minf, rk_bpe_merge *out) {
    size_t nm = 0;
    while ((int64_t)v->n < vocab) {
        int32_t ba = -1, bb = -1;
        int64_t bc = 0;
        for (int32_t a = 0; a < (int32_t)v->n; a++)
            for (int32_t b = 0; b < (int32_t)v->n; b++) {
                int64_t c = 0;
                for (size_t i = 0; i < nw; i++)
                    for (int k = 0; k + 1 < w[i].n; k++) c += (w[i].s[k] == a && w[i].s[k + 1] == b) ? w[i].c : 0;
                if (c > bc || (c == bc && c > 0 && str_less(v, a, b, ba, bb))) { ba = a; bb = b; bc = c; }
            }
        if (bc < minf || bc == 0) break;
        char buf[256];
        snprintf(buf, sizeof buf, "%s%s", v->s[ba], v->s[bb]);
        int32_t x;
        ck_assert_int_eq(rk_bpe_vocab_add(v, buf, strlen(buf), &x, NULL), 0);
        out[nm++] = (rk_bpe_merge){ba, bb, x};
        for (size_t i = 0; i < nw; i++) {
            int r = 0, o = 0;
            while (r < w[i].n)
                if (r + 1 < w[i].n && w[i].s[r] == ba && w[i].s[r + 1] == bb) { w[i].s[o++] = x; r += 2; }
                else w[i].s[o++] = w[i].s[r++];
            w[i].n = o;
        }
    }
    return nm;
}

START_TEST(ref_vs_opt) {
    enum { NW = 200, VOCAB = 60 };
    static nword words[NW];
    uint32_t x = 777u + (uint32_t)_i;
    rk_bpe_words w = {0};
    w.n = NW;
    w.sym = malloc(NW * 16 * sizeof *w.sym);
    w.off = malloc(NW * sizeof *w.off);
    w.len = malloc(NW * sizeof *w.len);
    w.count = malloc(NW * sizeof *w.count);
    for (int i = 0; i < NW; i++) {   /* letters a..d with runs (aaaa, abab) to stress overlapping pairs */
        x = x * 1103515245u + 12345u;
        words[i].n = 1 + (int)((x >> 16) % 15);
        words[i].c = 1 + (x >> 8) % 5;
        for (int k = 0; k < words[i].n; k++) {
            x = x * 1103515245u + 12345u;
            int32_t sym = (int32_t)((x >> 16) % 4);
            if (k >= 2 && (x >> 10) % 3 == 0) sym = words[i].s[k - 2];
            words[i].s[k] = sym;
        }
        w.off[i] = (uint64_t)i * 16;
        w.len[i] = (uint32_t)words[i].n;
        w.count[i] = words[i].c;
        memcpy(w.sym + i * 16, words[i].s, sizeof words[i].s);
    }
    rk_bpe_vocab v1 = {0}, v2 = {0};
    int32_t id;
    for (int c = 0; c < 4; c++) {
        char s[2] = {(char)('a' + c), 0};
        ck_assert_int_eq(rk_bpe_vocab_add(&v1, s, 1, &id, NULL), 0);
        ck_assert_int_eq(rk_bpe_vocab_add(&v2, s, 1, &id, NULL), 0);
    }
    int64_t minf = _i == 0 ? 1 : 3;
    rk_bpe_merge *m = NULL, ref[VOCAB];
    size_t nm = 0;
    rk_err err;
    ck_assert_int_eq(rk_bpe_learn(&w, &v1, VOCAB, minf, 0, &m, &nm, &err), 0);
    size_t nr = naive_learn(words, NW, &v2, VOCAB, minf, ref);
    ck_assert_int_eq(nm, nr);
    ck_assert_int_gt(nm, 10);
    for (size_t i = 0; i < nm; i++)
        ck_assert_msg(m[i].a == ref[i].a && m[i].b == ref[i].b && m[i].id == ref[i].id,
                      "merge %zu: (%s, %s) vs naive (%s, %s)", i, v1.s[m[i].a], v1.s[m[i].b], v2.s[ref[i].a], v2.s[ref[i].b]);
    for (int i = 0; i < NW; i++) {   /* and the words end up the same */
        ck_assert_int_eq(w.len[i], words[i].n);
        ck_assert(!memcmp(w.sym + i * 16, words[i].s, (size_t)words[i].n * sizeof(int32_t)));
    }
    free(m);
    rk_bpe_vocab_free(&v1);
    rk_bpe_vocab_free(&v2);
    free(w.sym); free(w.off); free(w.len); free(w.count);
}
END_TEST

/* ---- round trips ---- */
static const char UNSEEN[] =
    "Brand-new: \xF0\x9F\xA6\x80 \xE0\xB8\xAA\xE0\xB8\xA7\xE0\xB8\xB1\xE0\xB8\xAA\xE0\xB8\x94\xE0\xB8\xB5 "   /* 🦀 สวัสดี */
    "\xE1\x83\xA5\xE1\x83\x90\xE1\x83\xA0\xE1\x83\x97\xE1\x83\xA3\xE1\x83\x9A\xE1\x83\x98 "                    /* ქართული */
    "ctrl\x01\x02\x7f and invalid \xff\xfe\xc3 bytes\xed\xa0\x80, a NUL \x00 inside, tab\tCR\r\n"
    "    indented  and trailing   \n\n\n";

static void roundtrip(const rk_tokenizer *t, const char *s, size_t n, int nfc) {
    int32_t *ids = NULL;
    size_t nid = 0, nd = 0;
    char *dec = NULL;
    rk_err err;
    ck_assert_int_eq(rk_tokenizer_encode(t, s, n, 0, &ids, &nid, &err), 0);
    ck_assert_int_eq(rk_tokenizer_decode(t, ids, nid, 0, &dec, &nd, &err), 0);
    uint8_t *want = (uint8_t *)s;
    size_t nw = n;
    if (nfc) ck_assert_int_eq(rk_uni_nfc((const uint8_t *)s, n, &want, &nw), 0);
    ck_assert_msg(nd == nw && !memcmp(dec, want, nw), "round trip differs (%zu vs %zu bytes)", nd, nw);
    if (nfc) free(want);
    free(ids);
    free(dec);
}

START_TEST(roundtrip_families) {
    const char *family = FAMILIES[_i];
    char *dir = rk_test_tmpdir("bpe-rt");
    size_t n = 0;
    char *text = corpus(&n);
    char *txt = write_text(dir, "corpus.txt", text, n);
    char *out = fmt("%s/out", dir);
    const char *files[] = {txt};
    rk_err err;
    rk_bpe_train_opts o = ds_opts(500);
    o.family = family;
    ck_assert_msg(rk_bpe_train(files, 1, &o, out, &err) == 0, "%s: %s", family, err.msg);
    rk_tokenizer *t = NULL;
    ck_assert_msg(rk_tokenizer_load(&t, out, &err) == 0, "%s: %s", family, err.msg);
    ck_assert_int_eq(rk_tokenizer_vocab_size(t), 500);
    int nfc = !strcmp(family, "qwen2");
    roundtrip(t, text, n, nfc);
    roundtrip(t, UNSEEN, sizeof UNSEEN - 1, nfc);
    for (size_t len = 1; len < 300; len += 37) roundtrip(t, text + 100, len, nfc);   /* odd cuts */
    /* merges learned something: the training text takes well under half a token per byte */
    int32_t *ids = NULL;
    size_t nid = 0;
    ck_assert_int_eq(rk_tokenizer_encode(t, text, n, 0, &ids, &nid, &err), 0);
    ck_assert_msg(nid * 3 < n, "%s: %zu tokens for %zu bytes", family, nid, n);
    free(ids);
    rk_tokenizer_free(t);
    free(text);
    free(txt);
    free(out);
    rk_test_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(deterministic) {
    char *dir = rk_test_tmpdir("bpe-det");
    size_t n = 0;
    char *text = corpus(&n);
    /* two files, to cover the multi-file path too */
    char *a = write_text(dir, "a.txt", text, n / 2), *b = write_text(dir, "b.txt", text + n / 2, n - n / 2);
    const char *files[] = {a, b};
    rk_err err;
    rk_bpe_train_opts o = ds_opts(700);
    char *out1 = fmt("%s/o1", dir), *out2 = fmt("%s/o2", dir);
    ck_assert_int_eq(rk_bpe_train(files, 2, &o, out1, &err), 0);
    ck_assert_int_eq(rk_bpe_train(files, 2, &o, out2, &err), 0);
    static const char *names[] = {"tokenizer.json", "tokenizer_config.json"};
    for (int i = 0; i < 2; i++) {
        char *p1 = fmt("%s/%s", out1, names[i]), *p2 = fmt("%s/%s", out2, names[i]);
        size_t n1 = 0, n2 = 0;
        uint8_t *d1 = rk_test_read_file(p1, &n1), *d2 = rk_test_read_file(p2, &n2);
        ck_assert_msg(d1 && d2 && n1 == n2 && !memcmp(d1, d2, n1), "%s differs between runs", names[i]);
        free(d1); free(d2); free(p1); free(p2);
    }
    free(text); free(a); free(b); free(out1); free(out2);
    rk_test_rmtree(dir);
    free(dir);
}
END_TEST

/* ---- special tokens ---- */
START_TEST(special_tokens) {
    char *dir = rk_test_tmpdir("bpe-special");
    size_t n = 0;
    char *text = corpus(&n);
    /* "<pad>" 300 times in the text: cut out, so no learned token may contain "pad" */
    size_t cap = n + 300 * 16;
    char *t2 = malloc(cap);
    memcpy(t2, text, n);
    for (int i = 0; i < 300; i++) n += (size_t)sprintf(t2 + n, "<pad> x<pad>");
    char *txt = write_text(dir, "c.txt", t2, n);
    const char *specials[] = {"<s>", "</s>", "<pad>"};
    const char *files[] = {txt};
    rk_bpe_train_opts o = {.vocab_size = 800, .special = specials, .n_special = 3, .bos = "<s>", .eos = "</s>"};
    char *out = fmt("%s/out", dir);
    rk_err err;
    ck_assert_msg(rk_bpe_train(files, 1, &o, out, &err) == 0, "%s", err.msg);
    rk_tokenizer *t = NULL;
    ck_assert_msg(rk_tokenizer_load(&t, out, &err) == 0, "%s", err.msg);
    for (int k = 0; k < 3; k++) {
        ck_assert_int_eq(rk_tokenizer_token_id(t, specials[k]), k);
        ck_assert(rk_tokenizer_is_special(t, k));
    }
    ck_assert_int_eq(rk_tokenizer_bos_id(t), 0);
    ck_assert_int_eq(rk_tokenizer_eos_id(t), 1);
    ck_assert(!rk_tokenizer_is_special(t, 3));
    ck_assert_int_gt(rk_tokenizer_vocab_size(t), 400);
    for (int32_t id = 3; id < rk_tokenizer_vocab_size(t); id++) ck_assert_msg(!strstr(rk_tokenizer_token(t, id), "pad"), "token %d", id);
    int32_t *ids = NULL;
    size_t nid = 0;
    const char *s = "a<pad>b</s>";
    ck_assert_int_eq(rk_tokenizer_encode(t, s, strlen(s), 1, &ids, &nid, &err), 0);
    ck_assert_int_eq(nid, 5);   /* <s> a <pad> b </s> */
    ck_assert_int_eq(ids[0], 0);
    ck_assert_int_eq(ids[2], 2);
    ck_assert_int_eq(ids[4], 1);
    char *dec = NULL;
    size_t nd = 0;
    ck_assert_int_eq(rk_tokenizer_decode(t, ids, nid, 1, &dec, &nd, &err), 0);
    ck_assert_str_eq(dec, "ab");
    free(dec);
    free(ids);
    rk_tokenizer_free(t);
    /* tokenizer_config.json names them */
    cJSON *cfg = read_json(out, "tokenizer_config.json");
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(cfg, "add_bos_token")));
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(cfg, "add_eos_token")));
    ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(cfg, "bos_token"), "content")->valuestring, "<s>");
    ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(cfg, "eos_token"), "content")->valuestring, "</s>");
    cJSON_Delete(cfg);
    /* no BOS: no template, add_bos_token false, nothing added by add_special */
    o.bos = NULL;
    ck_assert_int_eq(rk_bpe_train(files, 1, &o, out, &err), 0);
    ck_assert_int_eq(rk_tokenizer_load(&t, out, &err), 0);
    ck_assert_int_eq(rk_tokenizer_encode(t, "a", 1, 1, &ids, &nid, &err), 0);
    ck_assert_int_eq(nid, 1);
    ck_assert_int_ne(ids[0], 0);
    free(ids);
    rk_tokenizer_free(t);
    free(text); free(t2); free(txt); free(out);
    rk_test_rmtree(dir);
    free(dir);
}
END_TEST

/* ---- JSON shapes: pre_tokenizer, normalizer, decoder as the families' own files have them ---- */
START_TEST(json_shapes) {
    static const struct { const char *family, *ref; } cases[] = {{"deepseek_v3", "deepseek_v3"}, {"qwen2", "qwen2_5"}};
    char *dir = rk_test_tmpdir("bpe-shape");
    char *txt = write_text(dir, "tiny.txt", TINY, strlen(TINY));
    const char *files[] = {txt};
    for (size_t c = 0; c < 2; c++) {
        char *out = fmt("%s/%s", dir, cases[c].family);
        rk_err err;
        rk_bpe_train_opts o = ds_opts(300);
        o.family = cases[c].family;
        o.bos = NULL;   /* the reference files carry a plain ByteLevel post-processor */
        ck_assert_int_eq(rk_bpe_train(files, 1, &o, out, &err), 0);
        char *refdir = fmt("%s/tests/model/tokenizers/%s", rk_test_source_dir(), cases[c].ref);
        cJSON *mine = read_json(out, "tokenizer.json"), *ref = read_json(refdir, "tokenizer.json");
        static const char *keys[] = {"normalizer", "pre_tokenizer", "post_processor", "decoder"};
        for (int k = 0; k < 4; k++)
            ck_assert_msg(cJSON_Compare(cJSON_GetObjectItem(mine, keys[k]), cJSON_GetObjectItem(ref, keys[k]), 1),
                          "%s: %s differs from %s's", cases[c].family, keys[k], cases[c].ref);
        /* model fields as DeepSeek-V3 writes them */
        cJSON *mm = cJSON_GetObjectItem(mine, "model");
        ck_assert_str_eq(cJSON_GetObjectItem(mm, "type")->valuestring, "BPE");
        ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(mm, "byte_fallback")));
        ck_assert(cJSON_IsString(cJSON_GetArrayItem(cJSON_GetObjectItem(mm, "merges"), 0)));
        cJSON *at = cJSON_GetArrayItem(cJSON_GetObjectItem(mine, "added_tokens"), 0);
        ck_assert(cJSON_Compare(at, cJSON_GetArrayItem(cJSON_GetObjectItem(ref, "added_tokens"), 0), 1) ||
                  c == 1);   /* DeepSeek's first added token is the same BOS, byte for byte */
        cJSON_Delete(mine);
        cJSON_Delete(ref);
        free(refdir);
        free(out);
    }
    /* each family's spelled patterns are the ones the loader recognises */
    for (size_t f = 0; f < 3; f++) {
        const rk_bpe_family *fam = rk_bpe_family_find(FAMILIES[f]);
        ck_assert_ptr_nonnull(fam);
        for (size_t k = 0; k < fam->n_patterns; k++) ck_assert_int_ne(rk_split_from_pattern(fam->pattern[k]), 0);
    }
    free(txt);
    rk_test_rmtree(dir);
    free(dir);
}
END_TEST

/* ---- errors ---- */
START_TEST(bad_options) {
    char *dir = rk_test_tmpdir("bpe-bad");
    char *txt = write_text(dir, "tiny.txt", TINY, strlen(TINY));
    char *out = fmt("%s/out", dir), *missing = fmt("%s/nope.txt", dir);
    const char *files[] = {txt}, *bad_files[] = {txt, missing};
    rk_err err;
    rk_bpe_train_opts o = ds_opts(257);   /* < 256 + 2 specials */
    ck_assert_int_eq(rk_bpe_train(files, 1, &o, out, &err), RK_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "vocab size 257"));
    o = ds_opts(300);
    o.family = "gpt2";
    ck_assert_int_eq(rk_bpe_train(files, 1, &o, out, &err), RK_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "gpt2"));
    o = ds_opts(300);
    o.min_frequency = -1;
    ck_assert_int_eq(rk_bpe_train(files, 1, &o, out, &err), RK_EINVAL);
    o = ds_opts(300);
    o.bos = "<s>";
    ck_assert_int_eq(rk_bpe_train(files, 1, &o, out, &err), RK_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "<s>"));
    const char *dup[] = {"<a>", "<a>"}, *bad_utf8[] = {"<\xff>"}, *empty[] = {""};
    o = (rk_bpe_train_opts){.vocab_size = 300, .special = dup, .n_special = 2};
    ck_assert_int_eq(rk_bpe_train(files, 1, &o, out, &err), RK_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "twice"));
    o.special = bad_utf8;
    o.n_special = 1;
    ck_assert_int_eq(rk_bpe_train(files, 1, &o, out, &err), RK_EINVAL);
    o.special = empty;
    ck_assert_int_eq(rk_bpe_train(files, 1, &o, out, &err), RK_EINVAL);
    ck_assert_int_eq(rk_bpe_train(files, 0, &o, out, &err), RK_EINVAL);
    ck_assert_int_eq(rk_bpe_train(NULL, 1, &o, out, &err), RK_EINVAL);
    /* nothing was written by any of those */
    char *tj = fmt("%s/tokenizer.json", out);
    ck_assert(!rk_file_exists(tj));
    /* an unreadable (missing) second file: I/O error naming it, before any output */
    o = ds_opts(300);
    ck_assert_int_eq(rk_bpe_train(bad_files, 2, &o, out, &err), RK_EIO);
    ck_assert_ptr_nonnull(strstr(err.msg, "nope.txt"));
    ck_assert(!rk_file_exists(tj));
    /* output "folder" that is a file */
    ck_assert_int_eq(rk_bpe_train(files, 1, &o, txt, &err), RK_EIO);
    ck_assert_ptr_nonnull(strstr(err.msg, "tiny.txt"));
    /* an empty text trains the bare byte vocabulary */
    char *empty_txt = write_text(dir, "empty.txt", "", 0);
    const char *ef[] = {empty_txt};
    ck_assert_int_eq(rk_bpe_train(ef, 1, &o, out, &err), 0);
    check_merges(out, TINY_MERGES, 0);
    free(empty_txt); free(tj); free(txt); free(out); free(missing);
    rk_test_rmtree(dir);
    free(dir);
}
END_TEST

/* ---- Hugging Face (transformers.js) loads it and agrees ---- */
static const char REF_JS[] =
    "import { createRequire } from 'node:module';\n"
    "import { readFileSync } from 'node:fs';\n"
    "import { join } from 'node:path';\n"
    "import { pathToFileURL } from 'node:url';\n"
    "const [dir, sample, refDir] = process.argv.slice(2);\n"
    "const require = createRequire(join(refDir, 'package.json'));\n"
    "const { TokenizerLoader } = await import(pathToFileURL(require.resolve('@lenml/tokenizers')).href);\n"
    "const tok = TokenizerLoader.fromPreTrained({\n"
    "  tokenizerJSON: JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')),\n"
    "  tokenizerConfig: JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8')) });\n"
    "const text = readFileSync(sample, 'utf8');\n"
    "console.log(JSON.stringify({ plain: Array.from(tok.encode(text, { add_special_tokens: false })),\n"
    "  special: Array.from(tok.encode('Hi', { add_special_tokens: true })) }));\n";

static const char *tokref_dir(void) {
    static char buf[4096];
    const char *e = getenv("RK_TOKREF_DIR");
    if (e && *e) return e;
    snprintf(buf, sizeof buf, "%s/../tok-ref", rk_test_source_dir());
    return buf;
}

static int have_reference(void) {
    char pkg[4200];   /* outside a test: no ck_assert here */
    snprintf(pkg, sizeof pkg, "%s/node_modules/@lenml/tokenizers/package.json", tokref_dir());
    int ok = rk_file_exists(pkg) && system("node --version >/dev/null 2>&1") == 0;
    return ok;
}

START_TEST(hf_reference) {
    if (!g_have_ref) {
        printf("SKIP: hf_reference: node or @lenml/tokenizers not found under %s (set RK_TOKREF_DIR; see "
               "tests/model/tokenizers/README.md)\n", tokref_dir());
        return;
    }
    const char *family = FAMILIES[_i];
    char *dir = rk_test_tmpdir("bpe-ref");
    size_t n = 0;
    char *text = corpus(&n);
    char *txt = write_text(dir, "corpus.txt", text, n);
    /* the comparison text: the multilingual sample (valid UTF-8, NFC-stable parts are all JS can pass) */
    char *sp = fmt("%s/tests/model/tokenizer_sample.txt", rk_test_source_dir());
    size_t ns = 0;
    char *sample = (char *)rk_test_read_file(sp, &ns);
    ck_assert_ptr_nonnull(sample);
    char *out = fmt("%s/out", dir), *js = write_text(dir, "ref.mjs", REF_JS, sizeof REF_JS - 1);
    const char *files[] = {txt};
    rk_err err;
    rk_bpe_train_opts o = ds_opts(1500);
    o.family = family;
    ck_assert_int_eq(rk_bpe_train(files, 1, &o, out, &err), 0);
    char *cmd = fmt("node '%s' '%s' '%s' '%s'", js, out, sp, tokref_dir());
    static char res[1 << 20], errs[1 << 14];
    int st = rk_test_run(cmd, res, sizeof res, errs, sizeof errs);
    ck_assert_msg(st == 0, "%s: node failed (%d): %.500s", family, st, errs);
    cJSON *j = cJSON_Parse(res);
    ck_assert_ptr_nonnull(j);
    rk_tokenizer *t = NULL;
    ck_assert_int_eq(rk_tokenizer_load(&t, out, &err), 0);
    int32_t *ids = NULL;
    size_t nid = 0;
    ck_assert_int_eq(rk_tokenizer_encode(t, sample, ns, 0, &ids, &nid, &err), 0);
    cJSON *plain = cJSON_GetObjectItem(j, "plain");
    ck_assert_int_eq((size_t)cJSON_GetArraySize(plain), nid);
    size_t i = 0;
    for (cJSON *e = plain->child; e; e = e->next, i++)
        ck_assert_msg(e->valueint == ids[i], "%s: id %zu: js %d, r1kit %d", family, i, e->valueint, ids[i]);
    free(ids);
    ck_assert_int_eq(rk_tokenizer_encode(t, "Hi", 2, 1, &ids, &nid, &err), 0);
    cJSON *spec = cJSON_GetObjectItem(j, "special");
    ck_assert_int_eq((size_t)cJSON_GetArraySize(spec), nid);
    ck_assert_int_eq(cJSON_GetArrayItem(spec, 0)->valueint, 0);   /* BOS */
    for (size_t k = 0; k < nid; k++) ck_assert_int_eq(cJSON_GetArrayItem(spec, (int)k)->valueint, ids[k]);
    free(ids);
    printf("hf_reference %s: %zu ids agree with transformers.js\n", family, (size_t)cJSON_GetArraySize(plain));
    rk_tokenizer_free(t);
    cJSON_Delete(j);
    free(cmd); free(js); free(out); free(sample); free(sp); free(text); free(txt);
    rk_test_rmtree(dir);
    free(dir);
}
END_TEST

static Suite *make_suite(void) {
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("tokenizer_train");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, tiny_merges);
    tcase_add_loop_test(tc, ref_vs_opt, 0, 2);
    tcase_add_loop_test(tc, roundtrip_families, 0, 3);
    tcase_add_test(tc, deterministic);
    tcase_add_test(tc, special_tokens);
    tcase_add_test(tc, json_shapes);
    tcase_add_test(tc, bad_options);
    tcase_add_loop_test(tc, hf_reference, 0, 3);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    g_have_ref = have_reference();
    SRunner *sr = srunner_create(make_suite());
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    if (nf) return 1;
    if (!g_have_ref) printf("SKIP: the Hugging Face reference check did not run (everything else passed)\n");
    return 0;
}
