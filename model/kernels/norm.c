/* model/kernels/norm.c — RMSNorm, SwiGLU and softmax with their backward passes.
 *
 * These are memory-bound and cheap next to the matmuls, so the scalar code below IS the reference and the
 * fast path at once: OpenMP over rows (each row owned by one thread, sums in double in index order), so
 * results are identical for any thread count and with RK_FORCE_REF. Reductions over tokens (dweight) run
 * parallel over columns instead, each column summing its tokens in order: no atomics. */
#include <math.h>

#include "model/kernels/kernels-impl.h"

#define PAR_MIN ((int64_t)1 << 15)   /* below this many elements a thread team costs more than it saves */

static double row_sumsq(const float *x, int64_t dim) {
    double s = 0.0;
    for (int64_t i = 0; i < dim; i++) s += (double)x[i] * x[i];
    return s;
}

void rk_rmsnorm(float *y, float *rstd, const float *x, const float *weight, int64_t n, int64_t dim, float eps) {
    if (n <= 0 || dim <= 0) return;
    #pragma omp parallel for schedule(static) if (n * dim >= PAR_MIN)
    for (int64_t t = 0; t < n; t++) {
        const float *xr = x + t * dim;
        const double rs = 1.0 / sqrt(row_sumsq(xr, dim) / (double)dim + (double)eps);
        if (rstd) rstd[t] = (float)rs;
        float *yr = y + t * dim;
        for (int64_t i = 0; i < dim; i++) yr[i] = (float)(xr[i] * rs) * (weight ? weight[i] : 1.0f);
    }
}

/* y_i = x_i·r·w_i with r = (mean x² + eps)^-1/2:
 * dx_i = r·w_i·dy_i − x_i·r³/dim · Σ_j dy_j·w_j·x_j,   dw_i = Σ_t dy_i·x_i·r. */
void rk_rmsnorm_backward(float *dx, float *dweight, const float *dy, const float *x, const float *weight,
                         const float *rstd, int64_t n, int64_t dim) {
    if (n <= 0 || dim <= 0) return;
    if (!rstd) return;   /* the forward's rstd is required (documented in kernels.h) */
    if (dx) {
        #pragma omp parallel for schedule(static) if (n * dim >= PAR_MIN)
        for (int64_t t = 0; t < n; t++) {
            const float *xr = x + t * dim, *g = dy + t * dim;
            const double r = rstd[t];
            double dot = 0.0;
            for (int64_t i = 0; i < dim; i++) dot += (double)g[i] * (weight ? weight[i] : 1.0f) * xr[i];
            const double c = dot * r * r * r / (double)dim;
            float *d = dx + t * dim;
            for (int64_t i = 0; i < dim; i++) d[i] += (float)(r * g[i] * (weight ? weight[i] : 1.0f) - c * xr[i]);
        }
    }
    if (dweight) {
        #pragma omp parallel for schedule(static) if (n * dim >= PAR_MIN)
        for (int64_t i = 0; i < dim; i++) {
            double s = 0.0;
            for (int64_t t = 0; t < n; t++) s += (double)dy[t * dim + i] * x[t * dim + i] * rstd[t];
            dweight[i] += (float)s;
        }
    }
}

static inline double sigmoid(double g) { return 1.0 / (1.0 + exp(-g)); }

void rk_swiglu(float *out, const float *gate, const float *up, int64_t n) {
#ifdef RK_KERN_X86
    if (rk_kern_use_avx2()) {
        const int64_t nb = (n + 4095) / 4096;   /* blocks of 4096 elements: SIMD inside, threads across */
        #pragma omp parallel for schedule(static) if (n >= PAR_MIN)
        for (int64_t b = 0; b < nb; b++) {
            const int64_t i0 = b * 4096, len = n - i0 < 4096 ? n - i0 : 4096;
            rk_swiglu_avx2(out + i0, gate + i0, up + i0, len);
        }
        return;
    }
#endif
    #pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (int64_t i = 0; i < n; i++) out[i] = (float)(gate[i] * sigmoid(gate[i]) * up[i]);
}

/* out = g·σ(g)·u:  dgate += dout·u·σ(g)·(1 + g·(1 − σ(g))),  dup += dout·g·σ(g). */
void rk_swiglu_backward(float *dgate, float *dup, const float *dout, const float *gate, const float *up, int64_t n) {
    #pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        const double g = gate[i], s = sigmoid(g);
        if (dgate) dgate[i] += (float)(dout[i] * up[i] * s * (1.0 + g * (1.0 - s)));
        if (dup) dup[i] += (float)(dout[i] * g * s);
    }
}

/* One row in place. A row that is entirely -inf (fully masked) becomes all zeros instead of NaN. */
void rk_kern_softmax_row(float *x, int64_t len) {
#ifdef RK_KERN_X86
    if (rk_kern_use_avx2()) {
        rk_softmax_row_avx2(x, len);
        return;
    }
#endif
    float m = -INFINITY;
    for (int64_t i = 0; i < len; i++) m = x[i] > m ? x[i] : m;
    if (m == -INFINITY) {
        for (int64_t i = 0; i < len; i++) x[i] = 0.0f;
        return;
    }
    double s = 0.0;
    for (int64_t i = 0; i < len; i++) {
        const float e = expf(x[i] - m);
        x[i] = e;
        s += e;
    }
    const double inv = 1.0 / s;
    for (int64_t i = 0; i < len; i++) x[i] = (float)(x[i] * inv);
}

void rk_softmax(float *x, int64_t n, int64_t len) {
    if (n <= 0 || len <= 0) return;
    #pragma omp parallel for schedule(static) if (n * len >= PAR_MIN)
    for (int64_t t = 0; t < n; t++) rk_kern_softmax_row(x + t * len, len);
}
