/* model/kernels/dispatch.c — run-time kernel selection and the parts of the matmul family that are not
 * hot enough for hand-written SIMD (backward, row access).
 *
 * The ISA is decided once: CPUID leaf 1 (FMA, F16C, OSXSAVE, AVX) and leaf 7 (AVX2), plus XGETBV to make sure
 * the OS saves YMM state — the same approach as formats/numeric.c (clang 14's __builtin_cpu_supports has no
 * "f16c"). RK_FORCE_REF=1 (anything but "" and "0") in the environment, read at the first call, forces the
 * scalar reference kernels everywhere.
 *
 * rk_matmul_backward (fast): dx is computed per column chunk (one thread owns dx[:, chunk], sums over rows
 * in order into a zeroed f32 tile, then adds it to dx), dw per row (one thread owns dw[r, :], tokens in
 * order), dbias serially in double. No atomics, so results depend on nothing but the inputs. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "formats/numeric.h"
#include "model/kernels/kernels-impl.h"

#ifdef RK_KERN_X86
#include <cpuid.h>
#endif

static _Atomic int g_isa = -1;   /* -1 unknown, 0 ref, 1 avx2+fma+f16c */

#ifdef RK_KERN_X86
static int cpu_has_avx2_fma_f16c(void) {
    unsigned a, b, c, d, xlo, xhi;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    const unsigned need1 = (1u << 12) | (1u << 27) | (1u << 28) | (1u << 29);   /* FMA, OSXSAVE, AVX, F16C */
    if ((c & need1) != need1) return 0;
    __asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
    if ((xlo & 6u) != 6u) return 0;                                             /* XMM and YMM state */
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    return (b & (1u << 5)) != 0;                                                /* AVX2 */
}
#endif

int rk_kern_use_avx2(void) {
    int v = atomic_load_explicit(&g_isa, memory_order_relaxed);
    if (v >= 0) return v;
    v = 0;
#ifdef RK_KERN_X86
    const char *force = getenv("RK_FORCE_REF");
    if (!(force && *force && strcmp(force, "0") != 0)) v = cpu_has_avx2_fma_f16c();
#endif
    atomic_store_explicit(&g_isa, v, memory_order_relaxed);
    return v;
}

const char *rk_kernels_isa(void) { return rk_kern_use_avx2() ? "avx2+fma" : "ref"; }

void rk_kern_row_f32(const rk_wview *w, int64_t r, int64_t c0, int64_t c1, float *out) {
    if (c1 <= c0) return;
    const uint8_t *p = (const uint8_t *)w->data;
    const size_t off = (size_t)(r * w->cols + c0);
    switch (w->dtype) {
    case RK_DTYPE_F32: memcpy(out, p + 4 * off, (size_t)(c1 - c0) * 4); return;
    case RK_DTYPE_F16: case RK_DTYPE_BF16:
        rk_convert_to_f32(w->dtype, p + 2 * off, out, (size_t)(c1 - c0));
        return;
    case RK_DTYPE_F8_E4M3: {
        const int64_t B = w->block, sc = (w->cols + B - 1) / B;
        const float *srow = w->scale + (r / B) * sc;
        rk_convert_to_f32(RK_DTYPE_F8_E4M3, p + off, out, (size_t)(c1 - c0));   /* exact decode */
        for (int64_t c = c0; c < c1;) {
            const int64_t e = ((c / B) + 1) * B < c1 ? ((c / B) + 1) * B : c1;
            const float s = srow[c / B];
            for (int64_t j = c; j < e; j++) out[j - c0] *= s;                  /* = lut[w] * s, as the ref */
            c = e;
        }
        return;
    }
    default: memset(out, 0, (size_t)(c1 - c0) * 4); return;
    }
}

void rk_wview_row(const rk_wview *w, int64_t r, float *out) {
    if (!rk_kern_wview_ok(w) || r < 0 || r >= w->rows || !out) return;
    if (!rk_kern_use_avx2()) {
        for (int64_t c = 0; c < w->cols; c++) out[c] = rk_kern_welem(w, r, c);
        return;
    }
    rk_kern_row_f32(w, r, 0, w->cols, out);
}

void rk_kern_axpy(float *y, float a, const float *x, int64_t n) {
#ifdef RK_KERN_X86
    if (rk_kern_use_avx2()) { rk_axpy_avx2(y, a, x, n); return; }
#endif
    for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

void rk_matmul(float *y, const float *x, const rk_wview *w, const float *bias, int64_t n) {
    if (!rk_kern_wview_ok(w) || n <= 0 || !y || !x) return;
#ifdef RK_KERN_X86
    if (rk_kern_use_avx2()) { rk_matmul_avx2(y, x, w, bias, n); return; }
#endif
    rk_matmul_ref(y, x, w, bias, n);
}

enum { BWD_CC = 256, BWD_TB = 64 };   /* dx tile: 64 tokens x 256 columns of f32 = 64 KiB */

static void backward_dx(float *dx, const float *dy, const rk_wview *w, int64_t n) {
    const int64_t rows = w->rows, cols = w->cols;
    const int64_t nchunk = (cols + BWD_CC - 1) / BWD_CC, ntb = (n + BWD_TB - 1) / BWD_TB;
    const int par = rows * cols * n >= (1 << 16);
    #pragma omp parallel if (par)
    {
        float *acc = malloc(sizeof(float) * BWD_TB * BWD_CC), *wr = malloc(sizeof(float) * BWD_CC);
        int ok = acc && wr;
        #pragma omp for schedule(static) collapse(2)
        for (int64_t ch = 0; ch < nchunk; ch++)
            for (int64_t tb = 0; tb < ntb; tb++) {
                if (!ok) continue;
                const int64_t c0 = ch * BWD_CC, c1 = c0 + BWD_CC < cols ? c0 + BWD_CC : cols, nc = c1 - c0;
                const int64_t t0 = tb * BWD_TB, t1 = t0 + BWD_TB < n ? t0 + BWD_TB : n;
                memset(acc, 0, sizeof(float) * BWD_TB * BWD_CC);
                for (int64_t r = 0; r < rows; r++) {
                    rk_kern_row_f32(w, r, c0, c1, wr);
                    for (int64_t t = t0; t < t1; t++) {
                        const float g = dy[t * rows + r];
                        rk_kern_axpy(acc + (t - t0) * BWD_CC, g, wr, nc);
                    }
                }
                for (int64_t t = t0; t < t1; t++)
                    for (int64_t c = 0; c < nc; c++) dx[t * cols + c0 + c] += acc[(t - t0) * BWD_CC + c];
            }
        free(acc);
        free(wr);
    }
}

void rk_matmul_backward(float *dx, float *dw, float *dbias, const float *dy, const float *x, const rk_wview *w,
                        int64_t n) {
    if (!rk_kern_wview_ok(w) || n <= 0 || !dy) return;
    if (!rk_kern_use_avx2()) { rk_matmul_backward_ref(dx, dw, dbias, dy, x, w, n); return; }
    const int64_t rows = w->rows, cols = w->cols;
    if (dx) backward_dx(dx, dy, w, n);
    if (dw && x) {
        #pragma omp parallel for schedule(static) if (rows * cols * n >= (1 << 16))
        for (int64_t r = 0; r < rows; r++)
            for (int64_t t = 0; t < n; t++) {
                const float g = dy[t * rows + r];
                rk_kern_axpy(dw + r * cols, g, x + t * cols, cols);
            }
    }
    if (dbias)
        for (int64_t r = 0; r < rows; r++) {
            double s = 0.0;
            for (int64_t t = 0; t < n; t++) s += dy[t * rows + r];
            dbias[r] += (float)s;
        }
}
