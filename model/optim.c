/* model/optim.c — see optim.h. AdamW follows torch.optim.AdamW's single-tensor path operation by operation
 * (scalars in double rounded to float, elementwise float math), so the torch parity test can be tight. The
 * gradient norm sums squares in double within fixed 4096-element blocks and adds the block sums in order, so
 * its value never depends on how many threads computed the blocks. The generator is xoshiro256** seeded by
 * splitmix64, written from Blackman & Vigna's published descriptions (prng.di.unimi.it). */
#define _GNU_SOURCE
#include "model/optim.h"

#include <math.h>

/* ---- AdamW -------------------------------------------------------------------------------------------------- */
void rk_adamw_update(float *p, const float *g, float *m, float *v, int64_t n, int64_t step, double lr,
                     const rk_adamw_cfg *cfg, int decay) {
    if (n <= 0) return;
    if (step < 1) step = 1;
    const double bc1 = 1.0 - pow(cfg->beta1, (double)step);
    const double bc2 = 1.0 - pow(cfg->beta2, (double)step);
    const float keep = (float)(1.0 - lr * cfg->weight_decay);
    const float b1 = (float)cfg->beta1, one_b1 = (float)(1.0 - cfg->beta1);
    const float b2 = (float)cfg->beta2, one_b2 = (float)(1.0 - cfg->beta2);
    const float neg_step = (float)(-(lr / bc1));
    const float bc2_sqrt = (float)sqrt(bc2);
    const float eps = (float)cfg->eps;
    #pragma omp parallel for schedule(static) if (n >= (1 << 15))
    for (int64_t i = 0; i < n; i++) {
        float pi = p[i];
        if (decay) pi = pi * keep;
        const float gi = g[i];
        const float mi = m[i] * b1 + one_b1 * gi;
        const float vi = v[i] * b2 + one_b2 * gi * gi;
        const float denom = sqrtf(vi) / bc2_sqrt + eps;
        m[i] = mi;
        v[i] = vi;
        p[i] = pi + neg_step * mi / denom;
    }
}

/* ---- learning-rate schedule ---------------------------------------------------------------------------------- */
double rk_lr_schedule(int64_t s, int64_t warmup, int64_t total, double lr_max, double lr_min) {
    if (s < 0) s = 0;
    if (warmup < 0) warmup = 0;
    if (s < warmup) return lr_max * (double)(s + 1) / (double)warmup;
    if (total <= warmup) return lr_max;
    if (s >= total) return lr_min;
    const int64_t span = total - 1 - warmup;
    if (span <= 0) return lr_min;
    const double progress = (double)(s - warmup) / (double)span;
    return lr_min + 0.5 * (lr_max - lr_min) * (1.0 + cos(M_PI * progress));
}

/* ---- gradient norm and clipping ------------------------------------------------------------------------------ */
enum { NORM_BLOCK = 4096, NORM_CHUNK = 256 };   /* blocks of one buffer handled per parallel region */

static double block_sumsq(const float *x, int64_t n) {
    double acc = 0.0;
    for (int64_t i = 0; i < n; i++) acc += (double)x[i] * (double)x[i];
    return acc;
}

double rk_grad_norm(float *const *ptrs, const int64_t *len, int n) {
    double total = 0.0;
    double part[NORM_CHUNK];
    for (int b = 0; b < n; b++) {
        const int64_t nb = len[b] > 0 ? (len[b] + NORM_BLOCK - 1) / NORM_BLOCK : 0;
        for (int64_t c0 = 0; c0 < nb; c0 += NORM_CHUNK) {
            const int64_t nc = nb - c0 < NORM_CHUNK ? nb - c0 : NORM_CHUNK;
            #pragma omp parallel for schedule(static) if (nc > 1)
            for (int64_t k = 0; k < nc; k++) {
                const int64_t off = (c0 + k) * NORM_BLOCK;
                const int64_t cnt = len[b] - off < NORM_BLOCK ? len[b] - off : NORM_BLOCK;
                part[k] = block_sumsq(ptrs[b] + off, cnt);
            }
            for (int64_t k = 0; k < nc; k++) total += part[k];
        }
    }
    return sqrt(total);
}

double rk_grad_clip(float *const *ptrs, const int64_t *len, int n, double norm, double max_norm) {
    if (!(max_norm > 0.0) || isnan(norm)) return 1.0;
    const double coef = max_norm / (norm + 1e-6);
    if (!(coef < 1.0)) return 1.0;
    const float f = (float)coef;
    for (int b = 0; b < n; b++) {
        float *x = ptrs[b];
        const int64_t m = len[b];
        #pragma omp parallel for schedule(static) if (m >= (1 << 15))
        for (int64_t i = 0; i < m; i++) x[i] *= f;
    }
    return coef;
}

/* ---- random numbers ------------------------------------------------------------------------------------------ */
static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline uint64_t rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void rk_rng_seed(rk_rng *r, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

uint64_t rk_rng_next(rk_rng *r) {
    uint64_t *s = r->s;
    const uint64_t out = rotl64(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return out;
}

double rk_rng_uniform(rk_rng *r) { return (double)(rk_rng_next(r) >> 11) * 0x1.0p-53; }

uint64_t rk_rng_below(rk_rng *r, uint64_t n) {
    if (n == 0) return 0;
    const uint64_t lowest = (0 - n) % n;   /* 2^64 mod n: the values below it would make x % n biased */
    for (;;) {
        const uint64_t x = rk_rng_next(r);
        if (x >= lowest) return x % n;
    }
}

double rk_rng_normal(rk_rng *r) {
    const double u1 = 1.0 - rk_rng_uniform(r);   /* (0, 1]: log is finite */
    const double u2 = rk_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}
