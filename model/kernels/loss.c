/* model/kernels/loss.c — cross-entropy and per-row NLL over logits.
 *
 * log-sum-exp is computed stably: m = max, lse = m + log Σ exp(l − m) with the sum in double (every term
 * is in (0, 1], so the double sum of up to 2^31 terms loses nothing that matters). The loss over rows is
 * summed serially in row order from a per-row array, so it is identical for any thread count. */
#include <math.h>
#include <stdlib.h>

#include "model/kernels/kernels-impl.h"

static double row_lse(const float *l, int64_t vocab) {
    float m = -INFINITY;
    for (int64_t i = 0; i < vocab; i++) m = l[i] > m ? l[i] : m;
    if (m == -INFINITY || m != m) return m;   /* all -inf: -inf; NaN propagates */
    if (m == INFINITY) return INFINITY;
    double s = 0.0;
    for (int64_t i = 0; i < vocab; i++) s += exp((double)l[i] - (double)m);
    return (double)m + log(s);
}

double rk_nll_row(const float *logits, int64_t vocab, int32_t target) {
    if (!logits || vocab <= 0 || target < 0 || target >= vocab) return NAN;
    return row_lse(logits, vocab) - (double)logits[target];
}

double rk_cross_entropy(float *dlogits, const float *logits, const int32_t *targets, int64_t n, int64_t vocab,
                        float grad_scale) {
    if (n <= 0 || vocab <= 0) return 0.0;
    double *loss = malloc(sizeof(double) * (size_t)n);
    if (!loss) return NAN;
    #pragma omp parallel for schedule(static) if (n * vocab >= (1 << 15))
    for (int64_t t = 0; t < n; t++) {
        const float *l = logits + t * vocab;
        const int32_t tg = targets[t];
        if (tg < 0) {                              /* ignored row */
            loss[t] = 0.0;
            if (dlogits)
                for (int64_t i = 0; i < vocab; i++) dlogits[t * vocab + i] = 0.0f;
            continue;
        }
        const double lse = row_lse(l, vocab);
        loss[t] = tg < vocab ? lse - (double)l[tg] : NAN;
        if (dlogits) {
            float *d = dlogits + t * vocab;
            for (int64_t i = 0; i < vocab; i++) {
                const double p = exp((double)l[i] - lse);
                d[i] = (float)((p - (i == tg ? 1.0 : 0.0)) * grad_scale);
            }
        }
    }
    double s = 0.0;
    for (int64_t t = 0; t < n; t++) s += loss[t];
    free(loss);
    return s;
}
