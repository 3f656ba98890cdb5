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
#endif
