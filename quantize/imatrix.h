/* quantize/imatrix.h — the importance matrix: per weight, the mean square of each input column over a text,
 * which quantizers use to weight rounding errors (llama.cpp's imatrix, same file format).
 *
 * Collection: rk_imatrix_attach hooks an accumulator onto a model through rk_model_set_observer. Each observed
 * weight is keyed by its llama.cpp GGUF name (HF names go through rk_convert_gguf_name, GGUF names are kept):
 * Σx² per input column in double, plus the number of rows (tokens) seen. Routed experts are accumulated per
 * expert over exactly the tokens routed to it, into the stacked tensor's entry (n_mat = n_routed_experts), as
 * llama.cpp does for MUL_MAT_ID. DeepSeek's kv_b_proj (split by convert into attn_k_b + attn_v_b): its input,
 * the kv latent, is recorded as blk.N.attn_v_b.weight repeated for every head ([kv_lora * n_head], one count),
 * the size llama-quantize expects for attn_v_b; attn_k_b's llama.cpp input (the per-head q_nope of the absorbed
 * form) never passes through the observer, so attn_k_b has no entry (docs/imatrix.md).
 *
 * File (docs/imatrix.md): GGUF, general.type "imatrix", imatrix.datasets / chunk_count / chunk_size, and per
 * entry "<name>.in_sum2" F32 [cols, n_mat] and "<name>.counts" F32 [1, n_mat] — what llama.cpp writes and
 * loads. r1kit's extras are KVs under "r1kit.imatrix." that llama.cpp ignores (routing counts and gate-weight
 * sums per MoE layer). rk_imatrix_load also reads llama.cpp's files and its legacy .dat format. */
#ifndef RK_QUANTIZE_IMATRIX_H
#define RK_QUANTIZE_IMATRIX_H
#include <stdint.h>
#include "formats/common.h"
#include "model/model.h"

typedef struct rk_imatrix rk_imatrix;

int  rk_imatrix_new(rk_imatrix **out, rk_err *err);
void rk_imatrix_free(rk_imatrix *im);     /* NULL ok; a model it is attached to must be detached or freed first */

/* Set (m != NULL) the model's observer to this accumulator; rk_imatrix_attach(im, m) again after a detach.
 * The observer cannot return errors: the first one (unmappable name, column count that changes, non-finite
 * activation, out of memory) is kept and further data is ignored; read it with rk_imatrix_status. */
void rk_imatrix_attach(rk_imatrix *im, rk_model *m);
void rk_imatrix_detach(rk_imatrix *im, rk_model *m);
int  rk_imatrix_status(const rk_imatrix *im, rk_err *err);     /* 0, or the first collection error */
/* Copy the model's routing statistics (rk_model_routing of every MoE layer: tokens, selections and gate-weight
 * sums per expert) into the imatrix; replaces what was there. */
int  rk_imatrix_take_routing(rk_imatrix *im, const rk_model *m, rk_err *err);
/* Metadata written to the file: the text's name (imatrix.datasets) and the chunking. */
int  rk_imatrix_add_dataset(rk_imatrix *im, const char *name, rk_err *err);
void rk_imatrix_set_chunks(rk_imatrix *im, uint32_t chunk_count, uint32_t chunk_size);

/* Write a GGUF imatrix (temp file + rename). Entries are written sorted by name. RK_EINVAL when empty. */
int  rk_imatrix_save(const rk_imatrix *im, const char *path, rk_err *err);
/* Read r1kit's or llama.cpp's GGUF imatrix, or llama.cpp's legacy .dat (told apart by the GGUF magic).
 * RK_ECORRUPT with file, field and offset for anything malformed (sums without counts, non-F32, counts that do
 * not divide the sums, negative or non-finite values, truncated .dat); RK_EIO when unreadable. */
int  rk_imatrix_load(rk_imatrix **out, const char *path, rk_err *err);

/* ---- queries ---- */
typedef struct rk_imatrix_entry {
    const char *name;          /* GGUF tensor name */
    int64_t cols;              /* values per matrix (the weight's input columns, ne0) */
    int64_t n_mat;             /* matrices: n_experts for stacked experts, else 1 */
    const double *sum2;        /* [n_mat][cols] Σx² (legacy .dat: mean × ncall, as stored) */
    const double *count;       /* [n_mat] rows seen per matrix (legacy: ncall) */
} rk_imatrix_entry;
size_t rk_imatrix_count(const rk_imatrix *im);
int  rk_imatrix_entry_at(const rk_imatrix *im, size_t i, rk_imatrix_entry *out);     /* sorted by name after load */
int  rk_imatrix_find(const rk_imatrix *im, const char *name, rk_imatrix_entry *out); /* RK_ENOTFOUND */

enum {
    RK_IMATRIX_MEASURED = 0,   /* mean x² over the rows this matrix saw */
    RK_IMATRIX_FROM_OTHERS = 1,/* this expert never fired: the mean of the tensor's experts that did */
    RK_IMATRIX_UNIFORM = 2,    /* nothing fired at all: every column 1 (no weighting) */
};
/* The importance vector of matrix mat (expert index, 0 for a plain weight) of tensor name: out[cols] = Σx² /
 * count. cols must divide the entry's values: a legacy .dat entry of an expert tensor holds cols × n_experts
 * values and is split accordingly. how (may be NULL) tells which rule gave the values. Never NaN. Errors:
 * RK_ENOTFOUND (no entry), RK_EINVAL (cols or mat do not fit the entry; the message says which). */
int  rk_imatrix_importance(const rk_imatrix *im, const char *name, int64_t mat, float *out, int64_t cols, int *how,
                           rk_err *err);

/* The importance vectors of every matrix of an output tensor `name` (ne innermost first, n_dims 1..4; matrices =
 * ne[2]·ne[3]): out[mats][ne0]. The entry is the tensor's own, or — for r1kit's per-expert name
 * blk.N.ffn_X.E.weight — matrix E of the stacked blk.N.ffn_X_exps.weight entry. Returns 0 with *found 1; 0 with
 * *found 0 when the imatrix has no entry for it; RK_ECORRUPT (naming the tensor and both sizes, "an imatrix of
 * another model?") when the entry does not fit the tensor. */
int  rk_imatrix_tensor_importance(const rk_imatrix *im, const char *name, uint32_t n_dims, const int64_t *ne, float *out,
                                  int *found, rk_err *err);

typedef struct rk_imatrix_routing {
    int64_t layer, n_experts;
    uint64_t tokens;           /* tokens through the layer */
    const uint64_t *count;     /* [n_experts] selections */
    const double *gate_sum;    /* [n_experts] sum of the gate weights each expert received */
} rk_imatrix_routing;
size_t rk_imatrix_routing_count(const rk_imatrix *im);        /* MoE layers with routing data (0 for llama.cpp files) */
int  rk_imatrix_routing_at(const rk_imatrix *im, size_t i, rk_imatrix_routing *out);

/* Metadata: datasets (NULL past the end), chunk count/size (0 when unknown), 1 if read from a legacy .dat. */
const char *rk_imatrix_dataset(const rk_imatrix *im, size_t i);
uint32_t rk_imatrix_chunk_count(const rk_imatrix *im);
uint32_t rk_imatrix_chunk_size(const rk_imatrix *im);
int  rk_imatrix_is_legacy(const rk_imatrix *im);
#endif
