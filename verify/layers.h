/* verify/layers.h — where in the network a CANDIDATE starts to differ from its BASE: the relative error of the
 * hidden state entering every layer, and the MoE routing of both models (for the HTML report, verify/report.h).
 *
 * Method. Both models run the same chunks as `r1kit verify` (rk_verify_compare's chunking and batching: n_ctx
 * tokens from an empty cache, BOS first when the tokenizer adds one, the first half without the output head, then
 * n_batch tokens at a time), usually only the first few chunks. An activation observer (rk_model_set_observer)
 * keeps, for each layer, the input rows of the first linear that layer multiplies — the RMS-normed hidden state
 * entering the layer (attn_norm(x): the input of q_a / q / the first attention projection) — and for the output
 * head its input (output_norm(x), reported as layer -1). The first linear is recognised by its name: the first
 * name the observer reports for a layer (per model, so an HF folder and a GGUF of it can be compared).
 *
 * Positions: only scored positions (n_ctx/2 .. n_ctx-2, those verify scores) and at most max_positions of them
 * per chunk, evenly spaced. Memory: the base's captured rows of one chunk, (layers + 1) x max_positions x hidden
 * floats (R1: 62 x 32 x 7168 x 4 = 57 MB at the default 32), plus one batch of logits per model (n_batch x vocab
 * floats, as in verify); the candidate's rows are compared as they arrive.
 *
 * Figures per layer, over all captured positions t (b = base row, c = candidate row):
 *   rel_err     = sqrt(sum_t ||c_t - b_t||^2 / sum_t ||b_t||^2)
 *   rel_err_max = max_t ||c_t - b_t|| / ||b_t||
 *   cos_mean    = mean_t cos(b_t, c_t), cos_min = min_t cos(b_t, c_t)
 * computed in double, in position order (independent of threads).
 *
 * Routing (MoE layers): rk_model_routing counts accumulate over every forward since load or the last reset.
 * rk_verify_layers resets both models' counters first and collects them at the end, so its routing covers its
 * own chunks. To get the routing of a whole verify run instead, call rk_verify_routing_collect on both models
 * right after rk_verify_compare (before rk_verify_layers). */
#ifndef RK_VERIFY_LAYERS_H
#define RK_VERIFY_LAYERS_H
#include <stdint.h>
#include "formats/common.h"
#include "model/model.h"

/* ---- routing ------------------------------------------------------------------------------------------------ */
typedef struct rk_verify_routing_layer {
    int64_t layer;           /* model layer index */
    int64_t n_experts, top_k;
    uint64_t tokens;         /* tokens routed through this layer */
    uint64_t *count;         /* [n_experts]: selections per expert (sum = tokens * top_k) */
} rk_verify_routing_layer;

typedef struct rk_verify_routing {
    int64_t n;                       /* MoE layers (0 for a dense model) */
    rk_verify_routing_layer *layer;  /* [n], in layer order */
} rk_verify_routing;

/* A copy of m's routing counters now (every MoE layer). out is zeroed first; free with rk_verify_routing_free. */
int  rk_verify_routing_collect(const rk_model *m, rk_verify_routing *out, rk_err *err);
void rk_verify_routing_free(rk_verify_routing *r);    /* NULL ok; leaves it empty */

/* ---- per-layer error ----------------------------------------------------------------------------------------- */
typedef struct rk_verify_layer_err {
    int64_t layer;           /* 0 .. layers-1, -1 = the output head's input */
    char name[128];          /* the base's linear whose input was captured ("blk.3.attn_q_a.weight") */
    int64_t positions;       /* rows compared */
    double rel_err, rel_err_max;
    double cos_mean, cos_min;
} rk_verify_layer_err;

typedef struct rk_verify_layers {
    int64_t n;                       /* entries: model layers + 1 (layers in order, the head last) */
    rk_verify_layer_err *layer;      /* [n] */
    int64_t n_chunks;                /* chunks run */
    int64_t positions_per_chunk;     /* captured positions per chunk */
    rk_verify_routing routing_base, routing_cand;   /* over these chunks (n == 0 for dense models) */
    double seconds;
} rk_verify_layers;

typedef struct rk_verify_layers_opts {
    int64_t n_ctx;           /* as verify (required, >= 4) */
    int64_t n_chunks;        /* chunks to run (<= 0: 2); never more than the text holds */
    int64_t n_batch;         /* as verify (<= 0: n_ctx) */
    int32_t bos;             /* replaces each chunk's first token when >= 0 (rk_tokenizer_leading_bos) */
    int64_t max_positions;   /* captured positions per chunk (<= 0: 32) */
} rk_verify_layers_opts;

/* Runs base and cand over the first chunks of tokens (the text verify used; at least n_ctx tokens). The models
 * must have the same layer count, hidden size and vocabulary. Each model's observer is replaced during the run
 * and cleared (NULL) at the end; its routing counters are reset. out is zeroed first; on error it is left freed.
 * Errors: RK_EINVAL (too few tokens, bad options), RK_EUNSUPPORTED (models of different shapes), RK_ENOMEM,
 * RK_EINTR, and whatever rk_model_forward returns. */
int  rk_verify_layers_run(rk_model *base, rk_model *cand, const int32_t *tokens, int64_t n_tokens,
                          const rk_verify_layers_opts *o, rk_verify_layers *out, rk_err *err);
void rk_verify_layers_free(rk_verify_layers *l);      /* NULL ok; leaves it empty */
#endif
