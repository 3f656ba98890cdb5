/* model/tokenizer_train.h — train a byte-level BPE tokenizer (the kind model/tokenizer.h runs) on text files and
 * write it as a Hugging Face tokenizer.json that r1kit's tokenizer and Hugging Face `tokenizers` load.
 *
 * Algorithm (what Hugging Face's BpeTrainer does for byte-level BPE): pre-tokenize every file with the chosen
 * family's split pattern (DeepSeek-V3's by default; Qwen2 text is NFC-normalized first, as its normalizer
 * does), map bytes to GPT-2 byte-level characters, count distinct words; occurrences of the special tokens in the
 * text are cut out first (as the encoder does), so no merge spans or imitates them. The initial alphabet is all
 * 256 byte-level characters, given ids after the specials in code point order; then repeatedly merge the most
 * frequent adjacent pair (ties broken by the lexicographically smallest pair of token strings, compared as bytes:
 * left string first, then right — the same order as comparing the "a b" merge strings — so results are
 * deterministic and independent of file order), with incremental pair-count updates over the word table, until
 * vocab_size (including special tokens) is reached or no pair occurs at least min_frequency times. A merge whose
 * result is already a token reuses its id (as Hugging Face's trainer does). Special tokens take the first ids,
 * in the order given.
 * The written file has: model BPE (vocab, merges as "a b" strings, byte_fallback false), the family's
 * normalizer and pre_tokenizer (Sequence of Split + ByteLevel, exactly as that family's tokenizer.json spells
 * them), ByteLevel decoder, added_tokens for the specials (special: true), and a post_processor: the family's
 * ByteLevel one, wrapped as Sequence[ByteLevel, TemplateProcessing("BOS $A")] when bos is given (Llama 3's
 * shape). A tokenizer_config.json beside it names bos/eos (add_bos_token = bos given, add_eos_token false,
 * LlamaTokenizerFast) like DeepSeek-V3's. out_dir is created when missing (one level). */
#ifndef RK_MODEL_TOKENIZER_TRAIN_H
#define RK_MODEL_TOKENIZER_TRAIN_H
#include <stdint.h>
#include "formats/common.h"

typedef struct rk_bpe_train_opts {
    int64_t vocab_size;        /* total, specials included; >= 256 + n_special */
    int64_t min_frequency;     /* a pair must occur this often to be merged (>= 1; 0 means 2) */
    const char *family;        /* pre-tokenizer: "deepseek_v3" (default when NULL), "qwen2", "llama3" */
    const char *const *special;/* special tokens, ids 0..n_special-1 */
    int n_special;
    const char *bos, *eos;     /* which specials are BOS / EOS (may be NULL) */
    int progress;              /* 1: a progress line on stderr */
} rk_bpe_train_opts;

/* Trains on files[0..n_files) and writes out_dir/tokenizer.json and out_dir/tokenizer_config.json (both through
 * rk_outfile: temp file + rename). Errors name the file: RK_EIO, RK_EINVAL (bad options), RK_ENOMEM. */
int rk_bpe_train(const char *const *files, int n_files, const rk_bpe_train_opts *o, const char *out_dir, rk_err *err);
#endif
