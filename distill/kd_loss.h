/* distill/kd_loss.h — knowledge-distillation losses between student and teacher logits, forward and backward.
 *
 * Per token (row) the inputs are student logits s[V] and teacher logits t[V]; with temperature T > 0
 *   p = softmax(t / T)  (teacher),   q = softmax(s / T)  (student).
 * Teacher log-probabilities may be passed instead of logits: softmax is shift-invariant per row, so
 * softmax(log_softmax(t) / T) = softmax(t / T) and the result is identical.
 *
 * Losses (natural log), each a per-row divergence D:
 *   RK_KD_FORWARD_KL  D = KL(p || q) = Σ p·(log p − log q)              (Hinton et al. 2015)
 *   RK_KD_REVERSE_KL  D = KL(q || p) = Σ q·(log q − log p)              (MiniLLM-style mode seeking)
 *   RK_KD_JSD         D = β·KL(p || m) + (1−β)·KL(q || m), m = β·p + (1−β)·q, β in (0, 1)
 *                     (generalized JSD of the GKD paper, Agarwal et al. 2024). D = β·KL(p||q) + O(β²) as β → 0
 *                     and D = (1−β)·KL(q||p) + O((1−β)²) as β → 1: JSD/β tends to the forward KL and
 *                     JSD/(1−β) to the reverse KL (tested at β = 1e-4 and 1 − 1e-4). β = 0.5 is the usual JSD.
 *
 * Convention (the same for all three): the returned loss is  T² · (1/N) · Σ_rows D_row, the mean over the N
 * counted rows, multiplied by T² as Hinton et al. do so that gradient magnitudes stay comparable across
 * temperatures (at T = 1 it is the plain mean). The gradient is that of this returned value with respect to the
 * student logits s (not s/T); the teacher gets no gradient.
 *
 * Masking: a teacher entry of −inf removes that vocabulary entry from BOTH distributions — the student is
 * renormalized over the teacher's finite entries S (the student's logits outside S are ignored and get gradient 0).
 * This keeps every loss finite (reverse KL would be +inf otherwise) and suits top-k/truncated teacher logits and
 * padded vocabularies. A row whose teacher is all −inf is not counted (loss 0, gradient 0, not in N); if no row
 * counts, the loss is 0. Student logits must be finite on S; any NaN, or +inf in the teacher, makes the loss NaN.
 *
 * Numerics: everything in double — s/T and t/T, log-sum-exp after subtracting the row max over S, log m by
 * log-add-exp — so finite logits of any magnitude (±1e30) give finite results; per-row losses are summed serially
 * in row order (deterministic, independent of the OpenMP thread count; OpenMP over rows). The gradient is
 * rounded to f32 once per element. */
#ifndef RK_DISTILL_KD_LOSS_H
#define RK_DISTILL_KD_LOSS_H
#include <stdint.h>

typedef enum { RK_KD_FORWARD_KL = 0, RK_KD_REVERSE_KL = 1, RK_KD_JSD = 2 } rk_kd_kind;

typedef struct rk_kd_cfg {
    int kind;             /* rk_kd_kind */
    double temperature;   /* T > 0 (and finite) */
    double beta;          /* RK_KD_JSD only: β in (0, 1) */
} rk_kd_cfg;

/* 1 if cfg is usable (known kind, finite T > 0, β in (0, 1) for JSD), else 0. */
int rk_kd_cfg_valid(const rk_kd_cfg *cfg);

/* The loss above over n rows of vocab logits (student, teacher: [n, vocab] row-major). Returns NaN for an invalid
 * cfg, NULL pointers or vocab <= 0 (and on allocation failure); n <= 0 gives 0. */
double rk_kd_loss(const float *student, const float *teacher, int64_t n, int64_t vocab, const rk_kd_cfg *cfg);

/* dstudent[n, vocab] += dloss · ∂loss/∂student (ACCUMULATES, like the model's backward kernels; zero it first for
 * a plain gradient). dloss is the upstream gradient of the returned loss (1 for a standalone loss, a weight when
 * mixing with cross-entropy). Returns the loss (as rk_kd_loss), NaN and nothing written on invalid arguments. */
double rk_kd_loss_backward(float *dstudent, const float *student, const float *teacher, int64_t n, int64_t vocab,
                           const rk_kd_cfg *cfg, float dloss);
/* ---- sparse teacher (top-k + rest, as a teacher cache stores it) ----------------------------------------------
 * A teacher row kept sparsely: k entries (ids strictly ascending, in [0, vocab)) with their log-probabilities at
 * temperature 1, plus log_rest = the log of the teacher's total probability on every other id (−inf: none).
 * The divergence is taken over k+1 buckets: each kept id alone, and one "rest" bucket holding every id not kept.
 *   student  q = softmax(s / T) over the full vocabulary; q_rest = Σ q over the ids not kept (a log-sum-exp over
 *            those ids in double, never 1 − Σ kept, which cancels);
 *   teacher  p_b ∝ exp(l_b / T) over the buckets, l_b = logp of a kept id, l_rest = log_rest.
 * At T = 1 this is exactly the teacher's distribution merged into the buckets, and the loss is the dense loss
 * between the merged teacher and the merged student (for KL a lower bound of the full-vocabulary KL: the
 * log-sum inequality). At T ≠ 1 the rest bucket is an APPROXIMATION: the true tempered rest mass is
 * ∝ Σ_rest p_i^(1/T), which is not a function of Σ_rest p_i; treating the rest as one token of log-probability
 * log_rest gives (Σ_rest p_i)^(1/T), which UNDER-states the rest for T > 1 ((Σa)^α <= Σa^α for α < 1) and
 * over-states it for T < 1 (relative to the kept buckets, whose ratios are exact).
 * The logp need not be normalised (p is renormalised over the buckets, like logits).
 *
 * Masking, as in the dense loss: a kept entry with logp −inf is an empty bucket, removed from BOTH distributions
 * (that id's student logit is ignored and gets gradient 0); log_rest = −inf means no rest bucket, and then the
 * student is renormalised over the kept ids only (the not-kept ids' logits are ignored, gradient 0) — with k =
 * vocab and log_rest = −inf the sparse loss and gradient are the dense rk_kd_loss / _backward on the same
 * teacher log-probs. A row with no bucket left is not counted. Same loss convention (T² · mean over counted
 * rows), gradient convention (w.r.t. s, accumulated ·dloss), double-precision numerics and deterministic
 * row-order sum (OpenMP over rows) as the dense functions. Inside the rest bucket the gradient of an id j is
 * its share q_j / q_rest of the bucket's.
 *
 * Invalid input makes the result NaN and the backward writes nothing: a NULL pointer (ids/logp may be NULL
 * only when k = 0), vocab <= 0, k < 0, k > vocab, an id out of range or not strictly ascending, NaN anywhere
 * (student or teacher), +inf in the teacher, a finite log_rest with k = vocab (an empty rest cannot hold mass),
 * a student +inf or all −inf on a row's buckets, or an invalid cfg. n <= 0 gives 0. */
typedef struct rk_kd_sparse {
    int64_t k;               /* entries per row, 0 <= k <= vocab */
    const int32_t *ids;      /* [n, k] row-major, strictly ascending per row */
    const float *logp;       /* [n, k] teacher log-probabilities at T = 1 (−inf: masked entry) */
    const float *log_rest;   /* [n] log of the teacher's mass outside the row's ids (−inf: none); NULL: all −inf */
} rk_kd_sparse;

/* The loss over n rows (student [n, vocab] row-major). */
double rk_kd_loss_sparse(const float *student, const rk_kd_sparse *teacher, int64_t n, int64_t vocab, const rk_kd_cfg *cfg);

/* dstudent[n, vocab] += dloss · ∂loss/∂student (accumulates, as rk_kd_loss_backward); returns the loss, NaN and
 * nothing written on invalid input. */
double rk_kd_loss_sparse_backward(float *dstudent, const float *student, const rk_kd_sparse *teacher, int64_t n,
                                  int64_t vocab, const rk_kd_cfg *cfg, float dloss);
#endif
