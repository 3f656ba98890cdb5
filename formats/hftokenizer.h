/* formats/hftokenizer.h — a Hugging Face byte-level BPE tokenizer (tokenizer.json + tokenizer_config.json)
 * read far enough to carry it into GGUF the way llama.cpp's converter does (see docs/gguf-layout.md §3):
 * the id → token table (with [PAD<id>] fillers up to the model's vocab_size), llama.cpp token types
 * (1 normal, 3 control, 4 user-defined, 5 unused), merges (either HF form, written as "a b"), the
 * tokenizer.ggml.pre name, special ids, add_bos/add_eos and the chat template.
 *
 * The pre-tokenizer name: llama.cpp hashes the ids its HF tokenizer produces for a test string. r1kit cannot
 * run that tokenizer, so it recognises the Split regexes in tokenizer.json instead (DeepSeek-V3 set →
 * "deepseek-v3"; GPT-4-style with \p{N}{1,3} → "llama-bpe"; with single \p{N} → "qwen2", or
 * "deepseek-r1-qwen" when the tokenizer adds a BOS). Unrecognised regexes fall back to the model family's
 * default and set pre_guessed. Sizes are bounded (file 256 MiB, 4M tokens, 4M merges). */
#ifndef RK_FORMATS_HFTOKENIZER_H
#define RK_FORMATS_HFTOKENIZER_H
#include "formats/common.h"
#include "formats/hfconfig.h"

enum { RK_TOKEN_NORMAL = 1, RK_TOKEN_UNKNOWN = 2, RK_TOKEN_CONTROL = 3, RK_TOKEN_USER_DEFINED = 4,
       RK_TOKEN_UNUSED = 5, RK_TOKEN_BYTE = 6 };

typedef struct rk_hf_tokenizer {
    size_t n_vocab;          /* = cfg->vocab_size when a config is given, else highest id + 1 */
    char **tokens;           /* [n_vocab] owned NUL-terminated strings */
    int32_t *types;          /* [n_vocab] RK_TOKEN_* */
    size_t n_merges;
    char **merges;           /* [n_merges] "a b" */
    char pre[32];            /* tokenizer.ggml.pre */
    int pre_guessed;         /* 1 if pre came from the family default, not from the regexes */
    size_t n_pad;            /* ids filled with [PAD<id>] */
    int64_t bos_id, eos_id, unk_id, sep_id, pad_id;   /* -1 = none */
    int add_bos, add_eos;    /* -1 = not specified, else 0/1 */
    char *chat_template;     /* NULL = none */
} rk_hf_tokenizer;

/* dir holds tokenizer.json (required) and optionally tokenizer_config.json, chat_template.jinja/.json and
 * config.json (ids fallback). cfg may be NULL (then n_vocab = highest id + 1 and the family default for pre
 * is llama-bpe). */
int  rk_hf_tokenizer_load(rk_hf_tokenizer **out, const char *dir, const rk_hf_config *cfg, rk_err *err);
void rk_hf_tokenizer_free(rk_hf_tokenizer *t);    /* NULL ok */
#endif
