/* model/sampler.c — see sampler.h. */
#include "model/sampler.h"

#include <math.h>
#include <stdlib.h>

void rk_sampler_init(rk_sampler *s, float temperature, int64_t top_k, float top_p, uint64_t seed) {
    s->temperature = temperature;
    s->top_k = top_k;
    s->top_p = top_p;
    s->state = seed ? seed : 0x853c49e6748fea9bULL;
    s->idx = NULL;
    s->prob = NULL;
    s->cap = 0;
}

void rk_sampler_free(rk_sampler *s) {
    if (!s) return;
    free(s->idx);
    free(s->prob);
    s->idx = NULL;
    s->prob = NULL;
    s->cap = 0;
}

static double next_uniform(rk_sampler *s) {   /* splitmix64 → [0, 1) */
    uint64_t z = (s->state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

static const float *g_sort_key;
static int by_prob_desc(const void *a, const void *b) {
    float x = g_sort_key[*(const int32_t *)a], y = g_sort_key[*(const int32_t *)b];
    if (x != y) return x > y ? -1 : 1;
    return *(const int32_t *)a < *(const int32_t *)b ? -1 : 1;
}

int32_t rk_sampler_pick(rk_sampler *s, const float *logits, int64_t vocab) {
    if (vocab <= 0) return -1;
    if (s->temperature <= 0) {
        int32_t best = 0;
        for (int64_t i = 1; i < vocab; i++)
            if (logits[i] > logits[best]) best = (int32_t)i;
        return best;
    }
    if (s->cap < vocab) {
        int32_t *idx = realloc(s->idx, (size_t)vocab * sizeof *idx);
        if (idx) s->idx = idx;
        float *p = realloc(s->prob, (size_t)vocab * sizeof *p);
        if (p) s->prob = p;
        if (!idx || !p) return -1;
        s->cap = vocab;
    }
    float mx = logits[0];
    for (int64_t i = 1; i < vocab; i++) mx = logits[i] > mx ? logits[i] : mx;
    double sum = 0;
    for (int64_t i = 0; i < vocab; i++) {
        s->prob[i] = expf((logits[i] - mx) / s->temperature);
        sum += s->prob[i];
        s->idx[i] = (int32_t)i;
    }
    for (int64_t i = 0; i < vocab; i++) s->prob[i] = (float)(s->prob[i] / sum);
    g_sort_key = s->prob;   /* single-threaded use per sampler */
    qsort(s->idx, (size_t)vocab, sizeof *s->idx, by_prob_desc);
    int64_t n = vocab;
    if (s->top_k > 0 && s->top_k < n) n = s->top_k;
    double mass = 0;
    if (s->top_p < 1) {
        int64_t k = 0;
        for (; k < n; k++) {
            mass += s->prob[s->idx[k]];
            if (mass >= s->top_p) { k++; break; }
        }
        n = k < 1 ? 1 : k;
    }
    mass = 0;
    for (int64_t k = 0; k < n; k++) mass += s->prob[s->idx[k]];
    double r = next_uniform(s) * mass, acc = 0;
    for (int64_t k = 0; k < n; k++) {
        acc += s->prob[s->idx[k]];
        if (r < acc) return s->idx[k];
    }
    return s->idx[n - 1];
}
