/* tests/convert/test_hftokenizer.c — tokenizer.json / tokenizer_config.json loading: token table and types,
 * [PAD] fill up to vocab_size, both merges forms, special ids and add_bos/eos, chat template sources, the
 * tokenizer.ggml.pre choice, and malformed inputs. */
#include <unistd.h>

#include "cv_fixtures.h"
#include "formats/hftokenizer.h"

#define BOS "<\xEF\xBD\x9C" "begin\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>"
#define EOS "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>"

static const char ADDED[] =
    "{\"id\":4,\"content\":\"" BOS "\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":true,\"special\":true},"
    "{\"id\":5,\"content\":\"" EOS "\",\"special\":true},"
    "{\"id\":6,\"content\":\"<think>\",\"special\":false},"
    "{\"id\":7,\"content\":\"\xE2\x96\x81x\",\"special\":false},"
    "{\"id\":8,\"content\":\"<|fim|>\",\"special\":false}";

static rk_hf_config cfg_vocab(int arch, int64_t vocab) {
    rk_hf_config c;
    memset(&c, 0, sizeof c);
    c.arch = arch;
    c.vocab_size = vocab;
    return c;
}

static rk_hf_tokenizer *load_ok(const char *dir, const rk_hf_config *c) {
    rk_hf_tokenizer *t = NULL;
    rk_err e;
    rk_err_clear(&e);
    ck_assert_msg(rk_hf_tokenizer_load(&t, dir, c, &e) == 0, "%s", e.msg);
    return t;
}

START_TEST(deepseek_style) {
    char *dir = rk_test_tmpdir("tok");
    fx_tokenizer(dir, 4, FX_RX_DEEPSEEK_V3, ADDED, NULL);
    fx_text(dir, "tokenizer_config.json",
            "{\"add_bos_token\":true,\"add_eos_token\":false,\"bos_token\":{\"__type\":\"AddedToken\",\"content\":\"" BOS "\"},"
            "\"eos_token\":\"" EOS "\",\"pad_token\":\"" EOS "\",\"chat_template\":\"{{ bos_token }}{% for m in messages %}{% endfor %}\"}");
    rk_hf_config c = cfg_vocab(RK_HF_ARCH_DEEPSEEK2, 12);
    rk_hf_tokenizer *t = load_ok(dir, &c);
    ck_assert_uint_eq(t->n_vocab, 12);
    ck_assert_str_eq(t->pre, "deepseek-v3");
    ck_assert_int_eq(t->pre_guessed, 0);
    ck_assert_str_eq(t->tokens[0], "t0");
    ck_assert_int_eq(t->types[3], RK_TOKEN_NORMAL);
    ck_assert_str_eq(t->tokens[4], BOS);
    ck_assert_int_eq(t->types[4], RK_TOKEN_CONTROL);
    ck_assert_int_eq(t->types[5], RK_TOKEN_CONTROL);
    ck_assert_str_eq(t->tokens[6], "<think>");
    ck_assert_int_eq(t->types[6], RK_TOKEN_USER_DEFINED);
    ck_assert_str_eq(t->tokens[7], " x");                 /* ▁ pre-normalized to a space */
    ck_assert_int_eq(t->types[7], RK_TOKEN_USER_DEFINED);
    ck_assert_int_eq(t->types[8], RK_TOKEN_CONTROL);      /* <|...|> looks special */
    ck_assert_str_eq(t->tokens[9], "[PAD9]");
    ck_assert_int_eq(t->types[9], RK_TOKEN_UNUSED);
    ck_assert_str_eq(t->tokens[11], "[PAD11]");
    ck_assert_uint_eq(t->n_pad, 3);
    ck_assert_uint_eq(t->n_merges, 2);
    ck_assert_str_eq(t->merges[0], "t t0");
    ck_assert_int_eq(t->bos_id, 4);
    ck_assert_int_eq(t->eos_id, 5);
    ck_assert_int_eq(t->pad_id, 5);
    ck_assert_int_eq(t->unk_id, -1);
    ck_assert_int_eq(t->add_bos, 1);
    ck_assert_int_eq(t->add_eos, 0);
    ck_assert_ptr_nonnull(t->chat_template);
    ck_assert_ptr_nonnull(strstr(t->chat_template, "bos_token"));
    rk_hf_tokenizer_free(t);
    rk_test_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(pre_names) {
    char *dir = rk_test_tmpdir("tok");
    rk_hf_config c = cfg_vocab(RK_HF_ARCH_QWEN2, 10);
    /* qwen2 regex, no BOS added → qwen2 */
    fx_tokenizer(dir, 4, FX_RX_QWEN2, ADDED, NULL);
    rk_hf_tokenizer *t = load_ok(dir, &c);
    ck_assert_str_eq(t->pre, "qwen2");
    ck_assert_int_eq(t->add_bos, -1);
    rk_hf_tokenizer_free(t);
    /* same regex, the tokenizer adds a BOS (R1-Distill-Qwen) → deepseek-r1-qwen */
    fx_text(dir, "tokenizer_config.json", "{\"add_bos_token\":true,\"bos_token\":\"" BOS "\"}");
    t = load_ok(dir, &c);
    ck_assert_str_eq(t->pre, "deepseek-r1-qwen");
    rk_hf_tokenizer_free(t);
    /* llama3 regex with a TemplateProcessing that prepends the BOS (no tokenizer_config) */
    char *p = rk_path_join(dir, "tokenizer_config.json");
    unlink(p);
    free(p);
    c.arch = RK_HF_ARCH_LLAMA;
    fx_tokenizer(dir, 4, FX_RX_LLAMA3, ADDED,
                 "{\"type\":\"Sequence\",\"processors\":[{\"type\":\"ByteLevel\"},{\"type\":\"TemplateProcessing\","
                 "\"single\":[{\"SpecialToken\":{\"id\":\"" BOS "\",\"type_id\":0}},{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}],"
                 "\"pair\":[],\"special_tokens\":{}}]}");
    t = load_ok(dir, &c);
    ck_assert_str_eq(t->pre, "llama-bpe");
    ck_assert_int_eq(t->add_bos, 1);
    ck_assert_int_eq(t->bos_id, 4);
    ck_assert_int_eq(t->add_eos, -1);
    rk_hf_tokenizer_free(t);
    /* unrecognised regex → family default, flagged */
    fx_tokenizer(dir, 4, "{\"type\":\"ByteLevel\",\"add_prefix_space\":false}", ADDED, NULL);
    c.arch = RK_HF_ARCH_QWEN2;
    t = load_ok(dir, &c);
    ck_assert_str_eq(t->pre, "qwen2");
    ck_assert_int_eq(t->pre_guessed, 1);
    rk_hf_tokenizer_free(t);
    c.arch = RK_HF_ARCH_DEEPSEEK2;
    t = load_ok(dir, &c);
    ck_assert_str_eq(t->pre, "deepseek-v3");
    rk_hf_tokenizer_free(t);
    rk_test_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(merges_pairs_and_template_files) {
    char *dir = rk_test_tmpdir("tok");
    fx_text(dir, "tokenizer.json",
            "{\"added_tokens\":[],\"pre_tokenizer\":null,\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"a b\":2,\"c\":3},"
            "\"merges\":[[\"a\",\"b\"],[\"a b\",\"c\"]]}}");
    fx_text(dir, "chat_template.jinja", "{{ messages }}");
    fx_text(dir, "config.json", "{\"bos_token_id\":1,\"eos_token_id\":[2,3],\"pad_token_id\":0}");
    rk_hf_tokenizer *t = load_ok(dir, NULL);
    ck_assert_uint_eq(t->n_vocab, 4);
    ck_assert_uint_eq(t->n_merges, 2);
    ck_assert_str_eq(t->merges[0], "a b");
    ck_assert_str_eq(t->merges[1], "a\xC4\xA0" "b c");      /* inner space → U+0120 */
    ck_assert_str_eq(t->chat_template, "{{ messages }}");
    ck_assert_int_eq(t->bos_id, 1);                      /* from config.json */
    ck_assert_int_eq(t->eos_id, -1);                     /* a list is not an id */
    ck_assert_int_eq(t->pad_id, 0);
    ck_assert_str_eq(t->pre, "llama-bpe");
    ck_assert_int_eq(t->pre_guessed, 1);
    rk_hf_tokenizer_free(t);
    /* chat_template.json is the last fallback */
    char *p = rk_path_join(dir, "chat_template.jinja");
    unlink(p);
    free(p);
    fx_text(dir, "chat_template.json", "{\"chat_template\":\"T\"}");
    t = load_ok(dir, NULL);
    ck_assert_str_eq(t->chat_template, "T");
    rk_hf_tokenizer_free(t);
    /* a list of named templates in tokenizer_config: the default one */
    fx_text(dir, "tokenizer_config.json", "{\"chat_template\":[{\"name\":\"tool_use\",\"template\":\"U\"},{\"name\":\"default\",\"template\":\"D\"}]}");
    t = load_ok(dir, NULL);
    ck_assert_str_eq(t->chat_template, "D");
    rk_hf_tokenizer_free(t);
    rk_test_rmtree(dir);
    free(dir);
}
END_TEST

typedef struct bad_tok { const char *json; int vocab; int code; const char *needle; } bad_tok;
static const bad_tok BAD[] = {
    { "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":12}}}", 10, RK_ECORRUPT, "vocab_size" },
    { "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":0}}}", 10, RK_ECORRUPT, "id 0" },
    { "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":-1}}}", 10, RK_ECORRUPT, "bad id" },
    { "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1.5}}}", 10, RK_ECORRUPT, "bad id" },
    { "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"ab\"]}}", 10, RK_ECORRUPT, "merge 0" },
    { "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[[\"a\"]]}}", 10, RK_ECORRUPT, "merge 0" },
    { "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":{}}}", 10, RK_ECORRUPT, "merges" },
    { "{\"model\":{\"type\":\"Unigram\",\"vocab\":{}}}", 10, RK_EUNSUPPORTED, "Unigram" },
    { "{\"model\":{\"type\":\"BPE\"}}", 10, RK_ECORRUPT, "vocab" },
    { "{\"model\":{\"type\":\"BPE\",\"vocab\":{}}}", 10, RK_ECORRUPT, "empty" },
    { "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0}},\"added_tokens\":[{\"id\":20,\"content\":\"<s>\"}]}", 10, RK_ECORRUPT, "<s>" },
    { "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0}},\"added_tokens\":[{\"id\":2}]}", 10, RK_ECORRUPT, "content" },
    { "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0}},\"added_tokens\":{}}", 10, RK_ECORRUPT, "added_tokens" },
    { "{\"model\":", 10, RK_ECORRUPT, "not valid JSON" },
};

START_TEST(bad_tokenizers) {
    const bad_tok *b = &BAD[_i];
    char *dir = rk_test_tmpdir("tok");
    fx_text(dir, "tokenizer.json", b->json);
    rk_hf_config c = cfg_vocab(RK_HF_ARCH_LLAMA, b->vocab);
    rk_hf_tokenizer *t = NULL;
    rk_err e;
    rk_err_clear(&e);
    int rc = rk_hf_tokenizer_load(&t, dir, &c, &e);
    ck_assert_msg(rc == b->code, "case %d: rc %d (%s)", _i, rc, e.msg);
    ck_assert_ptr_null(t);
    ck_assert_msg(strstr(e.msg, "tokenizer.json") != NULL, "case %d: %s", _i, e.msg);
    ck_assert_msg(strstr(e.msg, b->needle) != NULL, "case %d: want '%s' in: %s", _i, b->needle, e.msg);
    rk_test_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(missing_files) {
    char *dir = rk_test_tmpdir("tok");
    rk_hf_tokenizer *t = NULL;
    rk_err e;
    rk_err_clear(&e);
    ck_assert_int_eq(rk_hf_tokenizer_load(&t, dir, NULL, &e), RK_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(e.msg, "tokenizer.json"));
    fx_tokenizer(dir, 4, FX_RX_LLAMA3, ADDED, NULL);
    fx_text(dir, "tokenizer_config.json", "{\"bos_token\":");
    ck_assert_int_eq(rk_hf_tokenizer_load(&t, dir, NULL, &e), RK_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(e.msg, "tokenizer_config.json"));
    rk_test_rmtree(dir);
    free(dir);
}
END_TEST

Suite *make_suite(void) {
    Suite *s = suite_create("hftokenizer");
    TCase *ok = tcase_create("parse_ok");
    tcase_add_test(ok, deepseek_style);
    tcase_add_test(ok, pre_names);
    tcase_add_test(ok, merges_pairs_and_template_files);
    suite_add_tcase(s, ok);
    TCase *bad = tcase_create("parse_corrupt");
    tcase_add_loop_test(bad, bad_tokenizers, 0, (int)(sizeof BAD / sizeof BAD[0]));
    tcase_add_test(bad, missing_files);
    suite_add_tcase(s, bad);
    return s;
}

RK_TEST_MAIN()
