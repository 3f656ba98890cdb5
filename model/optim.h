/* model/optim.h — the optimizer side of training: AdamW (decoupled weight decay, as torch.optim.AdamW), the
 * warmup + cosine learning-rate schedule, global gradient-norm clipping, and the seeded random generator that
 * training uses everywhere (init, batch sampling, dropout-free, so the only randomness).
 *
 * Determinism: every function here gives bit-identical results for the same inputs and thread count; the
 * reductions (gradient norm) use a fixed blocking that does not depend on the thread count at all.
 * torch.optim.AdamW parity (tested against PyTorch in tests/model/test_optim_torch.c, f32, <= 1e-6 relative):
 *   t = step (1-based), p *= 1 − lr·wd (decay first, decoupled), m = b1·m + (1−b1)·g, v = b2·v + (1−b2)·g·g,
 *   p += −(lr / (1−b1^t)) · m / (sqrt(v) / sqrt(1−b2^t) + eps)
 * in exactly torch's order of operations (its _single_tensor_adamw, torch 1.13–2.x): the scalar factors are
 * formed in double and rounded to float, the elementwise arithmetic is float. */
#ifndef RK_MODEL_OPTIM_H
#define RK_MODEL_OPTIM_H
#include <stdint.h>
#include "formats/common.h"

typedef struct rk_adamw_cfg {
    double lr;            /* peak learning rate (the schedule scales it) */
    double beta1, beta2;  /* 0.9, 0.95 typical */
    double eps;           /* 1e-8 */
    double weight_decay;  /* applied only where the caller says (matrices; not norms, biases) */
} rk_adamw_cfg;

/* One AdamW update of n parameters in place. m, v: the moment buffers (n each, zero before step 1); step >= 1
 * is the 1-based step number used for bias correction; lr is this step's learning rate (after the schedule);
 * decay != 0 applies cfg->weight_decay. OpenMP over elements (elementwise, so deterministic). n <= 0 does
 * nothing; a step < 1 counts as 1. */
void rk_adamw_update(float *p, const float *g, float *m, float *v, int64_t n, int64_t step, double lr,
                     const rk_adamw_cfg *cfg, int decay);

/* Learning rate at 0-based step s:
 *   s < warmup:                 lr_max·(s+1)/warmup                      (linear warmup, reaches lr_max at warmup−1)
 *   total <= warmup, s >= warmup: lr_max                                 (no decay phase)
 *   warmup <= s < total:        lr_min + ½(lr_max−lr_min)(1 + cos(π·(s−warmup)/(total−1−warmup)))
 *                               (lr_max at s = warmup, lr_min at s = total−1; a one-step decay phase,
 *                               total = warmup+1, gives lr_min)
 *   s >= total > warmup:        lr_min
 * warmup may be 0; a negative s or warmup counts as 0. */
double rk_lr_schedule(int64_t s, int64_t warmup, int64_t total, double lr_max, double lr_min);

/* sqrt(Σ g²) over several buffers (each ptrs[i] of len[i] floats), accumulated in double in fixed blocks of 4096
 * elements whose partial sums are added in order — independent of the thread count. */
double rk_grad_norm(float *const *ptrs, const int64_t *len, int n);
/* As torch.nn.utils.clip_grad_norm_: coef = max_norm / (norm + 1e-6); when coef < 1 every buffer is scaled by
 * (float)coef (so a norm a hair below max_norm, within 1e-6, is scaled too, as torch does). Returns the factor
 * applied (1.0 when not clipped). max_norm <= 0 or NaN, or a NaN norm: nothing is done, 1.0 is returned (check
 * the norm for finiteness before calling; an infinite norm gives coef 0 and zeroes the gradients). */
double rk_grad_clip(float *const *ptrs, const int64_t *len, int n, double norm, double max_norm);

/* ---- random numbers ----------------------------------------------------------------------------------------
 * splitmix64-seeded xoshiro256** (public-domain algorithms by Vigna/Blackman); the state is 4 words so that a
 * checkpoint can store and restore it exactly. */
typedef struct rk_rng { uint64_t s[4]; } rk_rng;
void rk_rng_seed(rk_rng *r, uint64_t seed);
uint64_t rk_rng_next(rk_rng *r);
double rk_rng_uniform(rk_rng *r);              /* [0, 1), 53 bits */
uint64_t rk_rng_below(rk_rng *r, uint64_t n);  /* uniform in [0, n), unbiased (rejection); n = 0 → 0 */
double rk_rng_normal(rk_rng *r);               /* standard normal (Box-Muller, one value per call) */
/* Seeding: s[0..3] = four successive splitmix64 outputs from the state `seed`. below(n) draws x = next() until
 * x >= 2^64 mod n and returns x mod n (usually one draw). normal: u1 = 1 − uniform() ∈ (0,1], u2 = uniform(),
 * sqrt(−2 ln u1)·cos(2π u2): exactly two next() per call, no cached second value (the state stays 4 words). */
#endif
