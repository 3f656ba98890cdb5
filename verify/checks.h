/* verify/checks.h — static checks of a model before any forward pass (the first stage of `r1kit verify`):
 * cheap, and listing every finding rather than stopping at the first.
 *
 *   structure  every tensor's type is known, its byte size is what type x shape needs, rows hold whole blocks;
 *              for GGUF, offsets aligned and data inside the file (the readers refuse a file where this fails
 *              — e.g. a truncated GGUF — and that refusal is the finding);
 *   metadata   DeepSeek: expert_used_count <= expert_count, group counts, gating function present and known
 *              (warn: absent means softmax, DeepSeek-V3/R1 route with sigmoid), leading dense blocks <= blocks,
 *              vocab_size against token_embd and the tokenizer;
 *   shapes     DeepSeek: every tensor the config implies (GGUF names, stacked or per-expert experts, split or
 *              whole kv_b; or HF names), each mismatch or absence listed; all families: the engine's loader
 *              (rk_model_load) must accept the file, its message is the finding when it does not;
 *   tokenizer  present and loadable, no more tokens than the model has logits;
 *   scan       (opts.scan) every floating tensor (F32/F16/BF16/F64/FP8) by its bits and every block-typed one
 *              dequantized row by row (quantize/quants.h) for NaN/Inf; streams in bounded memory (a row per
 *              thread; mapped pages released after each tensor). Reads the whole file.
 * A finding is ok, warn or error; errors mean "do not evaluate" (the CLI exits 3). */
#ifndef RK_VERIFY_CHECKS_H
#define RK_VERIFY_CHECKS_H
#include <stddef.h>
#include <stdint.h>
#include "formats/common.h"
#include "model/model.h"
#include "model/tokenizer.h"

typedef enum rk_check_level { RK_CHECK_OK = 0, RK_CHECK_WARN = 1, RK_CHECK_ERROR = 2 } rk_check_level;

typedef struct rk_check_finding {
    int level;              /* rk_check_level */
    char what[300];         /* one line */
} rk_check_finding;

typedef struct rk_verify_checks {
    rk_check_finding *item;
    size_t n, cap;
    size_t n_warn, n_error;
    size_t n_dropped;       /* findings beyond max_findings (counted, not kept) */
    size_t max_findings;
    uint64_t scanned_values;
    double seconds;
} rk_verify_checks;

typedef struct rk_verify_check_opts {
    int scan;               /* 1: NaN/Inf scan */
    size_t max_findings;    /* 0: 200 */
} rk_verify_check_opts;

/* Runs every check on the checkpoint at path. Returns 0 when the checks ran (errors are findings, out->n_error),
 * or RK_EIO / RK_ENOMEM / RK_EINTR when the file cannot be read at all. model / tok (may be NULL) receive the
 * loaded model and tokenizer when they load (the caller frees them), NULL otherwise. */
int  rk_verify_checks_run(rk_verify_checks *out, const char *path, const rk_verify_check_opts *o, rk_model **model,
                          rk_tokenizer **tok, rk_err *err);
void rk_verify_checks_free(rk_verify_checks *c);       /* NULL ok; leaves it empty */
/* Adds a finding (printf-style); used by the checks and by callers with findings of their own. */
void rk_verify_checks_add(rk_verify_checks *c, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
const char *rk_check_level_name(int level);            /* "ok", "warn", "error" */
#endif
