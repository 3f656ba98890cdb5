/* quantize/recipe.h — the per-tensor type decision of `r1kit quantize`: from a GGUF tensor name and shape (and
 * the model's config) to the ggml type it is written in, under a named recipe plus user overrides.
 *
 * This is the single decision point the quantizer calls for every output tensor (convert's tensor_type hook,
 * convert/convert.h); the budget-driven, expert-aware allocator will be another rule set behind the same call.
 * Rules, in order (llama.cpp's llama-quant.cpp is the model; docs/quantize.md has the table):
 *   1. kept F32: 1-D tensors, norms (*_norm.weight), biases, the MoE router (ffn_gate_inp), the e_score_correction
 *      bias (exp_probs_b), rope_freqs — whatever the recipe or overrides say.
 *   2. the recipe's type for the tensor's class (token_embd, output, routed experts ffn_*_exps or per-expert
 *      ffn_*.E, the rest).
 *   3. shape fallback when ne0 is not a multiple of the type's block (llama.cpp's tensor_type_fallback):
 *      Q2_K, Q3_K, TQ2_0 → Q4_0 · Q4_K → Q5_0 · Q5_K → Q5_1 · Q6_K → Q8_0; then F16 if ne0 % 32 != 0.
 *   4. overrides REGEX=TYPE (POSIX extended regex, unanchored search on the GGUF name, first match wins),
 *      applied last to the tensors rule 1 does not keep (as llama-quantize never touches norms or the router);
 *      a type whose block does not divide ne0 is refused (RK_EINVAL), never silently changed. */
#ifndef RK_QUANTIZE_RECIPE_H
#define RK_QUANTIZE_RECIPE_H
#include <stdint.h>
#include "formats/common.h"
#include "formats/hfconfig.h"

typedef enum rk_recipe_id {
    RK_RECIPE_Q8_0 = 0,     /* every matrix Q8_0 */
    RK_RECIPE_Q4 = 1,       /* Q4_K, output.weight Q6_K */
    RK_RECIPE_Q2_MOE = 2,   /* routed experts Q2_K, the rest as q4 */
    RK_RECIPE_TQ2_MOE = 3,  /* routed experts TQ2_0, the rest as q4 */
    RK_RECIPE_Q2 = 4,       /* uniform: every matrix Q2_K, output.weight Q6_K */
    RK_RECIPE_COUNT = 5,
} rk_recipe_id;

/* tensor classes the rules speak of */
typedef enum rk_qclass {
    RK_QCLASS_KEEP = 0,     /* rule 1: stays F32 */
    RK_QCLASS_TOKEN_EMBD,
    RK_QCLASS_OUTPUT,
    RK_QCLASS_EXPERTS,      /* blk.N.ffn_{gate,up,down}_exps (stacked routed experts) */
    RK_QCLASS_SHARED,       /* blk.N.ffn_*_shexp */
    RK_QCLASS_ATTN,         /* blk.N.attn_* matrices */
    RK_QCLASS_FFN,          /* dense blk.N.ffn_{gate,up,down} */
    RK_QCLASS_OTHER,        /* any other matrix */
} rk_qclass;

typedef struct rk_recipe_override {
    char *spec;             /* "REGEX=TYPE" as given */
    void *re;               /* compiled regex_t (opaque here) */
    int type;
} rk_recipe_override;

typedef struct rk_recipe {
    int id;                 /* rk_recipe_id */
    rk_recipe_override *ov;
    size_t n_ov;
} rk_recipe;

/* name: "q8_0", "q4", "q2-moe", "tq2-moe", "q2" (case-insensitive). RK_EINVAL (listing the names) when unknown. */
int  rk_recipe_init(rk_recipe *r, const char *name, rk_err *err);
void rk_recipe_free(rk_recipe *r);                 /* NULL ok; r may be zeroed or initialised */
const char *rk_recipe_name(int id);                /* "q4"; "?" when unknown */
/* llama.cpp's LLAMA_FTYPE closest to the recipe: q8_0 7 (MOSTLY_Q8_0), q4 14 (MOSTLY_Q4_K_S), q2-moe and q2 10
 * (MOSTLY_Q2_K), tq2-moe 37 (MOSTLY_TQ2_0). */
uint32_t rk_recipe_file_type(int id);
/* LLAMA_FTYPE of a file mostly in one type (llama.h's llama_ftype: Q2_K 10, Q3_K 11 (_S), Q4_K 14 (_S), Q5_K 16
 * (_S), Q6_K 18, Q8_0 7, TQ2_0 37, ...); 1024 (GUESSED) for a type without one. */
uint32_t rk_recipe_file_type_of(int type);
/* "REGEX=TYPE" (the last '=' splits; TYPE as in rk_recipe_type_from_name). RK_EINVAL for a missing '=', an empty
 * regex, a bad regex (regerror's text) or an unknown type. */
int  rk_recipe_add_override(rk_recipe *r, const char *spec, rk_err *err);
/* Types r1kit can write: f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q2_k, q3_k, q4_k, q5_k, q6_k, tq2_0
 * (case-insensitive); RK_DTYPE_INVALID otherwise. */
int  rk_recipe_type_from_name(const char *s);
/* Lower-case name of a type ("q4_k"). */
const char *rk_recipe_type_name(int type, char *buf, size_t cap);

rk_qclass rk_recipe_class(const char *name, uint32_t n_dims);
/* Routed-expert names: llama.cpp's stacked "blk.N.ffn_{gate,up,down}_exps.weight" (1, *expert = -1) and r1kit's
 * per-expert "blk.N.ffn_{gate,up,down}.E.weight" (1, *expert = E); 0 for any other name. layer/proj (0 gate,
 * 1 up, 2 down) may be NULL. */
int rk_recipe_expert_of(const char *name, int64_t *layer, int *proj, int64_t *expert);

typedef struct rk_qdecision {
    int type;               /* the decision */
    int recipe_type;        /* what the recipe asked for before the shape fallback */
    int fell_back;          /* 1: rule 3 changed recipe_type */
    int overridden;         /* 1: an override decided (type is its type) */
    int64_t override_index; /* which override, -1 if none */
    int cls;                /* rk_qclass */
} rk_qdecision;

/* The decision for one tensor (ne innermost first, n_dims 1..4). cfg may be NULL (no rule needs it yet; the
 * allocator's will). RK_EINVAL when an override's type cannot hold ne0 (message names tensor, ne0, type, override). */
int  rk_recipe_decide(const rk_recipe *r, const rk_hf_config *cfg, const char *name, uint32_t n_dims, const int64_t *ne,
                      rk_qdecision *out, rk_err *err);
#endif
