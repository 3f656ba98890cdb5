/* model/kernels/dispatch.c — run-time kernel selection and the parts of the matmul family that are not
 * hot enough for hand-written SIMD (backward, row access).
 *
 * The ISA is decided once, from rk_cpu_simd (formats/numeric.h: CPUID + XGETBV, shared with the format
 * conversions): the fast kernels need AVX2, FMA and F16C. RK_FORCE_REF=1 (anything but "" and "0") in the
 * environment, read at the first call, forces the scalar reference kernels everywhere. AVX-512F adds the prefill
 * matmul's wider micro-kernel (avx512.c), whose results are bit-identical to the AVX2 one; RK_NO_AVX512=1 leaves
 * it out.
 *
 * rk_matmul_backward (fast): for n >= 16 both products run as GEMMs on the forward kernel (see below); otherwise
 * dx is computed per column chunk (one thread owns dx[:, chunk], sums over rows
 * in order into a zeroed f32 tile, then adds it to dx), dw per row (one thread owns dw[r, :], tokens in
 * order), dbias serially in double. No atomics, so results depend on nothing but the inputs. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "formats/numeric.h"
#include "quantize/quants.h"
#include "model/kernels/kernels-impl.h"

static _Atomic int g_isa = -1;   /* -1 unknown, 0 ref, 1 avx2+fma+f16c, 2 that and avx512f */

static int isa_level(void) {
    int v = atomic_load_explicit(&g_isa, memory_order_relaxed);
    if (v >= 0) return v;
    const unsigned f = rk_cpu_simd(), need = RK_CPU_AVX2 | RK_CPU_FMA | RK_CPU_F16C;   /* 0 under RK_FORCE_REF */
    const char *no512 = getenv("RK_NO_AVX512");
    v = (f & need) != need ? 0 : (f & RK_CPU_AVX512F) && !(no512 && *no512 && strcmp(no512, "0") != 0) ? 2 : 1;
    atomic_store_explicit(&g_isa, v, memory_order_relaxed);
    return v;
}

int rk_kern_use_avx2(void) { return isa_level() >= 1; }
int rk_kern_use_avx512(void) { return isa_level() >= 2; }

const char *rk_kernels_isa(void) {
    static const char *const names[] = { "ref", "avx2+fma", "avx2+fma+avx512f" };
    return names[isa_level()];
}

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
    default: {
        const rk_qtype *q = rk_qtype_get(w->dtype);
        if (!q || q->block > 256) { memset(out, 0, (size_t)(c1 - c0) * 4); return; }
        const uint8_t *rowp = p + (size_t)r * (size_t)(w->cols / q->block) * q->bytes;
        for (int64_t c = c0; c < c1;) {
            const int64_t b = c / q->block, b0 = b * q->block, e = b0 + q->block < c1 ? b0 + q->block : c1;
            if (c == b0 && e == b0 + q->block) {
                q->dequantize(rowp + (size_t)b * q->bytes, out + (c - c0), q->block);
            } else {
                float blk[256];
                q->dequantize(rowp + (size_t)b * q->bytes, blk, q->block);
                memcpy(out + (c - c0), blk + (c - b0), (size_t)(e - c) * 4);
            }
            c = e;
        }
        return;
    }
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

/* ---- backward as GEMMs (n >= 16): both products reuse the forward's fast kernel on transposed operands,
 *   dx[n, cols] += dy[n, rows] · W      = matmul(dy, view of Wᵀ [cols, rows])
 *   dW[rows, cols] += dyᵀ · x            = matmul(dyᵀ [rows, n], view of xᵀ [cols, n]),
 * with the transposes (O(n·(rows+cols)) or O(rows·cols), small next to the product) in scratch memory. Each output
 * element is one fixed-order chain, so results do not depend on the thread count. */
enum { BWD_GEMM_MIN_N = 16 };
static const int64_t BWD_GEMM_MAX_ELEMS = (int64_t)1 << 26;   /* scratch cap: 256 MiB per operand */

/* Scratch memory reused across calls (training calls the backward thousands of times with the same sizes; a fresh
 * malloc of megabytes each time costs page faults that showed as 12% of a training step). Per OS thread (experts
 * run their backward in parallel), 4 slots each, grown on demand; the pointers live in a global table so the
 * memory stays reachable until exit. Threads beyond the table get NULL and the caller mallocs. */
enum { SCRATCH_THREADS = 256, SCRATCH_SLOTS = 4 };
static struct { void *raw; size_t cap; } g_scratch[SCRATCH_THREADS][SCRATCH_SLOTS];
static atomic_int g_scratch_next;
static _Thread_local int t_scratch_id = -1;

float *rk_kern_scratch(int slot, size_t n) {
    if (slot < 0 || slot >= SCRATCH_SLOTS) return NULL;
    if (t_scratch_id < 0) t_scratch_id = atomic_fetch_add(&g_scratch_next, 1);
    if (t_scratch_id >= SCRATCH_THREADS) return NULL;
    __typeof__(g_scratch[0][0]) *e = &g_scratch[t_scratch_id][slot];
    if (e->cap < n) {
        free(e->raw);
        e->cap = 0;
        if (!(e->raw = malloc(n * sizeof(float) + 64))) return NULL;
        e->cap = n;
    }
    return (float *)(((uintptr_t)e->raw + 63) & ~(uintptr_t)63);
}
#define scratch rk_kern_scratch

static void transpose(float *dst, const float *src, int64_t r, int64_t c) {   /* src [r, c] -> dst [c, r] */
    #pragma omp parallel for schedule(static) if (r * c >= (1 << 16))
    for (int64_t c0 = 0; c0 < c; c0 += 32)
        for (int64_t r0 = 0; r0 < r; r0 += 32)
            for (int64_t j = c0; j < (c0 + 32 < c ? c0 + 32 : c); j++)
                for (int64_t i = r0; i < (r0 + 32 < r ? r0 + 32 : r); i++) dst[j * r + i] = src[i * c + j];
}

static void add_into(float *y, const float *a, int64_t n) {
    #pragma omp parallel for schedule(static) if (n >= (1 << 16))
    for (int64_t i = 0; i < n; i++) y[i] += a[i];
}

/* 0 on success, -1 when scratch memory is not available (the caller falls back) */
static int backward_dx_gemm(float *dx, const float *dy, const rk_wview *w, int64_t n) {
    const int64_t rows = w->rows, cols = w->cols;
    float *wf = scratch(0, (size_t)(rows * cols)), *wt = scratch(1, (size_t)(rows * cols));
    float *tmp = scratch(2, (size_t)(n * cols));
    if (!wf || !wt || !tmp) return -1;
    const float *src = (const float *)w->data;
    if (w->dtype != RK_DTYPE_F32) {
        #pragma omp parallel for schedule(static) if (rows * cols >= (1 << 16))
        for (int64_t r = 0; r < rows; r++) rk_kern_row_f32(w, r, 0, cols, wf + r * cols);
        src = wf;
    }
    transpose(wt, src, rows, cols);
    rk_wview v = { RK_DTYPE_F32, wt, cols, rows, NULL, 0 };
    rk_matmul(tmp, dy, &v, NULL, n);
    add_into(dx, tmp, n * cols);
    return 0;
}

static int backward_dw_gemm(float *dw, const float *dy, const float *x, int64_t rows, int64_t cols, int64_t n) {
    float *dyt = scratch(0, (size_t)(rows * n)), *xt = scratch(1, (size_t)(cols * n));
    float *tmp = scratch(2, (size_t)(rows * cols));
    if (!dyt || !xt || !tmp) return -1;
    transpose(dyt, dy, n, rows);
    transpose(xt, x, n, cols);
    rk_wview v = { RK_DTYPE_F32, xt, cols, n, NULL, 0 };
    rk_matmul(tmp, dyt, &v, NULL, rows);
    add_into(dw, tmp, rows * cols);
    return 0;
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
    const int gemm = n >= BWD_GEMM_MIN_N && rows * cols <= BWD_GEMM_MAX_ELEMS && n * (rows > cols ? rows : cols) <= BWD_GEMM_MAX_ELEMS;
    if (dx && !(gemm && backward_dx_gemm(dx, dy, w, n) == 0)) backward_dx(dx, dy, w, n);
    if (dw && x && gemm && backward_dw_gemm(dw, dy, x, rows, cols, n) == 0) dw = NULL;
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
