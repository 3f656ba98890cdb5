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

/* ---- top-k -------------------------------------------------------------------------------------------------- */
static int topk_better(float a, int32_t ia, float b, int32_t ib) { return a > b || (a == b && ia < ib); }

void rk_top_k(const float *row, int64_t n_row, int64_t k, int32_t *ids, float *vals) {
    /* min-heap on `better` (root = worst kept) */
    int64_t n = 0;
    for (int64_t i = 0; i < n_row; i++) {
        const float v = row[i];
        int64_t j;
        if (n < k) {
            j = n++;
            while (j > 0 && topk_better(vals[(j - 1) / 2], ids[(j - 1) / 2], v, (int32_t)i)) {
                ids[j] = ids[(j - 1) / 2], vals[j] = vals[(j - 1) / 2];
                j = (j - 1) / 2;
            }
        } else {
            if (!topk_better(v, (int32_t)i, vals[0], ids[0])) continue;
            j = 0;
            for (;;) {
                int64_t c = 2 * j + 1;
                if (c >= n) break;
                if (c + 1 < n && topk_better(vals[c], ids[c], vals[c + 1], ids[c + 1])) c++;
                if (!topk_better(v, (int32_t)i, vals[c], ids[c])) break;
                ids[j] = ids[c], vals[j] = vals[c];
                j = c;
            }
        }
        ids[j] = (int32_t)i, vals[j] = v;
    }
}
