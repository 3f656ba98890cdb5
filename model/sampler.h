/* model/sampler.h — picking the next token from logits: greedy, or temperature + top-k + top-p (nucleus)
 * sampling with a seeded generator, as llama.cpp and Hugging Face generate() define them (temperature first,
 * then top-k, then top-p over the renormalised distribution). Deterministic for a given seed. */
#ifndef RK_MODEL_SAMPLER_H
#define RK_MODEL_SAMPLER_H
#include <stdint.h>

typedef struct rk_sampler {
    float temperature;    /* <= 0: greedy (argmax, lowest id on ties) */
    int64_t top_k;        /* <= 0: off */
    float top_p;          /* >= 1: off */
    uint64_t state;       /* RNG state */
    /* scratch */
    int32_t *idx;
    float *prob;
    int64_t cap;
} rk_sampler;

void rk_sampler_init(rk_sampler *s, float temperature, int64_t top_k, float top_p, uint64_t seed);
void rk_sampler_free(rk_sampler *s);
/* Returns the chosen id, or -1 if out of memory / vocab <= 0. logits are not modified. */
int32_t rk_sampler_pick(rk_sampler *s, const float *logits, int64_t vocab);
#endif
