/* quantize/alloc.h — expert-aware bit allocation under a size budget (`r1kit quantize --bpw B | --size S`).
 *
 * For every quantizable tensor ("unit": a matrix, a stacked expert tensor, or in r1kit's per-expert layout one
 * expert) and every candidate type t, the allocator predicts the output error the quantization adds:
 *
 *     E(unit, t) = Σ_m  s_m · ρ_m(t),     ρ_m(t) = Σ_rows Σ_j imp_j·(w_ij − ŵ_ij(t))²  /  Σ_rows Σ_j imp_j·w_ij²
 *
 * m runs over the unit's matrices (the experts of a stacked tensor; one otherwise). ρ is the imatrix-weighted
 * relative error of the linear's output (imp_j = mean x_j² of input column j over the tokens that reached the
 * matrix — for an expert, only the tokens routed to it), measured by quantizing (a sample of) the real rows with
 * the real quantizer (the same importance it will get). s is the matrix's share of the residual stream: a relative
 * error introduced where a block adds its output is carried on unchanged downstream (every block reads the residual
 * through RMSNorm), so s = (energy the block adds per token) / (the residual's energy right after it). Energies are
 * the diagonal estimate Σ_rows Σ_j imp_j·w_ij² of each block's residual writer (attn_output, ffn_down,
 * ffn_down_shexp, each routed expert's ffn_down), the embedding's is its mean row norm², summed in layer order.
 * A routed expert e adds its output only on the tokens routed to it, scaled by its gate, so its energy is
 *
 *     f_e·ḡ_e²·energy_e      f_e = tokens routed to e / tokens, ḡ_e = mean gate weight e received
 *
 * (routing frequency × gate weight, from the imatrix's routing keys). The embedding and output.weight have s = 1;
 * a block's inner matrices (q/k/v, gate/up) take their block's share. Without routing data in the imatrix
 * (llama.cpp files) f comes from the per-expert token counts and the gates are taken equal (1/top-k); without an
 * imatrix, imp = 1, every block's energy is 1 and the experts share their layer's routed half equally. An expert
 * that never fired has share 0 and gets its smallest type. docs/quantize.md has the derivation.
 *
 * The choice minimises Σ_units E under Σ bytes ≤ budget (a multiple-choice knapsack): each unit's candidates are
 * reduced to their lower convex hull in (bytes, E), every unit starts at its smallest type, and upgrades are taken
 * greedily by error saved per byte while they fit (optimal up to the last upgrade for convex hulls; then the
 * remaining room is filled with the best upgrades that still fit). Tensors the recipe keeps in F32 (norms, router,
 * biases, 1-D) and tensors an override names are fixed; their bytes count against the budget.
 *
 * Candidates: for rows that are multiples of 256: TQ2_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_0; otherwise the 32-wide
 * Q4_0, Q4_1, Q5_0, Q5_1, Q8_0; F16 when rows are not multiples of 32 either (no choice). */
#ifndef RK_QUANTIZE_ALLOC_H
#define RK_QUANTIZE_ALLOC_H
#include <stdint.h>
#include "convert/convert.h"
#include "quantize/imatrix.h"
#include "quantize/recipe.h"

typedef struct rk_alloc rk_alloc;

typedef struct rk_alloc_opts {
    uint64_t budget_bytes;     /* total bytes of all tensors (F32 ones included); 0: use bpw */
    double bpw;                /* total bits / total weights, all tensors included (the table's "bits per weight") */
    const rk_recipe *fixed;    /* rules 1 (kept F32) and 4 (overrides) of quantize/recipe.h; its named types unused */
    const rk_imatrix *im;      /* may be NULL */
    int threads;               /* OpenMP threads for the measurement; 0 = default */
} rk_alloc_opts;

int  rk_alloc_new(rk_alloc **out, const rk_alloc_opts *o, rk_err *err);
void rk_alloc_free(rk_alloc *a);

/* The measurement callback (convert.h's rk_convert_measure_fn, user = the rk_alloc): rows of matrix mat of
 * tensor t. Errors: an imatrix entry that does not fit the tensor (RK_ECORRUPT), a non-finite weight
 * (RK_ECORRUPT), out of memory. */
int  rk_alloc_measure(void *a, const rk_convert_tensor *t, int64_t mat, int64_t row0, int64_t n_rows, const float *x,
                      rk_err *err);

/* Solve after measuring: every tensor the type callback will ask about must have been seen by rk_alloc_measure.
 * RK_EINVAL when the budget cannot be met (the message gives the smallest possible size and bpw). */
int  rk_alloc_solve(rk_alloc *a, rk_err *err);

/* The tensor-type callback (convert.h's rk_convert_type_fn, user = the rk_alloc), after solve: the allocated type,
 * the kept F32 or the override. Tensors never measured (none of the plan's are) get RK_EINVAL. */
int  rk_alloc_decide(void *a, const rk_convert_tensor *t, int *type, rk_err *err);

/* ---- the result, for the table and the metadata ---- */
typedef struct rk_alloc_unit {
    const char *name;
    uint32_t n_dims;
    const int64_t *ne;
    int type;                  /* the decision */
    int fixed;                 /* 0 allocated, 1 kept F32, 2 override */
    int cls;                   /* rk_qclass */
    uint64_t bytes;            /* at type */
    double err;                /* predicted E at type (0 for fixed) */
    double share;              /* Σ_m s_m: 1 for plain matrices, the experts' total for a stacked tensor */
    double sampled;            /* fraction of the rows measured */
} rk_alloc_unit;
size_t rk_alloc_count(const rk_alloc *a);
void   rk_alloc_unit_at(const rk_alloc *a, size_t i, rk_alloc_unit *out);
uint64_t rk_alloc_budget(const rk_alloc *a);        /* in bytes, after solve */
uint64_t rk_alloc_total_bytes(const rk_alloc *a);   /* chosen total, after solve */
double   rk_alloc_total_err(const rk_alloc *a);     /* Σ predicted E, after solve */
int      rk_alloc_has_routing(const rk_alloc *a);   /* 1: expert shares came from measured routing */

/* "4.5" → bpw; "2.5GB" "800MB" "1.5GiB" "123456" (bytes) → bytes. RK_EINVAL when malformed or <= 0. */
int rk_alloc_parse_size(const char *s, uint64_t *bytes);
#endif
