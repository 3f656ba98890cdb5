/* model/tokenizer.h — byte-level BPE tokenizer for the DeepSeek-V3/R1, Qwen2/2.5/3 and Llama 3 families,
 * loaded from a Hugging Face tokenizer.json (+ tokenizer_config.json beside it).
 *
 * Pipeline (as Hugging Face `tokenizers` runs it for these files): added/special tokens are cut out of the
 * text first (leftmost-longest, honouring lstrip/rstrip/single_word); every remaining segment is normalized
 * (none, or NFC for Qwen), pre-tokenized by the family's Split regexes (hand-written matchers for the exact
 * patterns, see tokenizer_regex.c; an unknown pattern is refused with RK_EUNSUPPORTED at load), mapped to
 * GPT-2 byte-level characters and merged by BPE rank. Decoding is the ByteLevel decoder.
 *
 * Invalid UTF-8 in the input is not an error: each invalid byte is a code point of its own of class "other"
 * (no letter, digit, punctuation or space) and is still encoded byte-level, so decode(encode(x)) == x for
 * any bytes. Decode returns the raw bytes (no U+FFFD replacement).
 * Deviations from Hugging Face, none reachable with the supported files: every added token is matched on the
 * raw text (HF matches normalized=true ones after the normalizer, which is the identity for DeepSeek/Llama 3
 * and Qwen's are normalized=false); texts are limited to 4 GiB.
 * A loaded tokenizer is read-only: encode/decode may run from several threads at once. */
#ifndef RK_MODEL_TOKENIZER_H
#define RK_MODEL_TOKENIZER_H
#include <stddef.h>
#include <stdint.h>
#include "formats/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rk_tokenizer rk_tokenizer;

/* path: a folder holding tokenizer.json (and optionally tokenizer_config.json), or a tokenizer.json file
 * (tokenizer_config.json is then looked for beside it), or a GGUF file. Errors name the file and the problem:
 * RK_EIO, RK_ECORRUPT (malformed JSON, bad ids, merges naming unknown tokens), RK_EUNSUPPORTED (a model,
 * normalizer, pre-tokenizer pattern or decoder this tokenizer does not implement), RK_ENOMEM. */
int rk_tokenizer_load(rk_tokenizer **out, const char *path, rk_err *err);
void rk_tokenizer_free(rk_tokenizer *t);   /* NULL ok */
/* The same from an open GGUF file's tokenizer.ggml.* keys (model "gpt2"; pre deepseek-v3, llama-bpe,
 * qwen2, deepseek-r1-qwen, gpt2/default). rk_tokenizer_load also accepts a .gguf path (by its magic). */
struct rk_gguf;
int rk_tokenizer_load_gguf(rk_tokenizer **out, const struct rk_gguf *g, rk_err *err);

/* text[0..len) → *ids (malloc'd, caller frees; non-NULL even when *n == 0). add_special adds BOS/EOS as
 * the tokenizer is configured: tokenizer_config.json add_bos_token/add_eos_token when present, else the
 * special tokens of a TemplateProcessing post-processor. */
int rk_tokenizer_encode(const rk_tokenizer *t, const char *text, size_t len, int add_special,
                        int32_t **ids, size_t *n, rk_err *err);
/* ids → *text (malloc'd, NUL-terminated, *len excludes the NUL). skip_special drops tokens marked special.
 * An id outside the vocabulary is RK_EINVAL. */
int rk_tokenizer_decode(const rk_tokenizer *t, const int32_t *ids, size_t n, int skip_special,
                        char **text, size_t *len, rk_err *err);

/* The token's string as stored (byte-level characters for BPE tokens, content for added tokens);
 * NULL for an id without a token. */
const char *rk_tokenizer_token(const rk_tokenizer *t, int32_t id);
/* id of a token string (vocabulary or added token), or -1. */
int32_t rk_tokenizer_token_id(const rk_tokenizer *t, const char *token);
int rk_tokenizer_is_special(const rk_tokenizer *t, int32_t id);
int64_t rk_tokenizer_vocab_size(const rk_tokenizer *t);   /* highest id + 1 */
int32_t rk_tokenizer_bos_id(const rk_tokenizer *t);       /* -1 = none */
int32_t rk_tokenizer_eos_id(const rk_tokenizer *t);       /* -1 = none */
/* The BOS id when encode(add_special = 1) puts BOS first (what a sequence starts with in generation and in
 * llama-perplexity's chunks), else -1. */
int32_t rk_tokenizer_leading_bos(const rk_tokenizer *t);

#ifdef __cplusplus
}
#endif
#endif
