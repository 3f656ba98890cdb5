/* model/kernels/kernels-impl.h — internals shared by the kernel files: run-time ISA choice, weight-row
 * conversion and the AVX2 entry points. Not a public header. */
#ifndef RK_MODEL_KERNELS_IMPL_H
#define RK_MODEL_KERNELS_IMPL_H
#include <stdint.h>
#include "model/kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#define RK_KERN_X86 1
#endif

/* 1 when the AVX2+FMA+F16C paths may run (CPU and OS support them and RK_FORCE_REF is not set).
 * Decided once, on first use. */
int rk_kern_use_avx2(void);
/* 1 when, in addition, the AVX-512F prefill micro-kernel may run (CPU and OS support AVX-512 state, and neither
 * RK_FORCE_REF nor RK_NO_AVX512 is set). Decided once, on first use. */
int rk_kern_use_avx512(void);

/* Element (r, c) of W as f32: the reference conversion (FP8: e4m3 value times its block's scale_inv, in f32). */
float rk_kern_welem(const rk_wview *w, int64_t r, int64_t c);
/* Columns [c0, c1) of row r as f32, bit-identical to rk_kern_welem (SIMD through formats/numeric). */
void rk_kern_row_f32(const rk_wview *w, int64_t r, int64_t c0, int64_t c1, float *out);
/* 1 if the view is usable (known dtype, data present, sizes >= 0, FP8 has scale and block > 0). */
int rk_kern_wview_ok(const rk_wview *w);

/* y[i] += a * x[i] (SIMD when available; result identical either way: one fused or unfused op per element
 * is NOT guaranteed, so callers that compare paths use a tolerance). */
void rk_kern_axpy(float *y, float a, const float *x, int64_t n);

/* Per-thread scratch memory that lives until exit: slot 0..3, n floats, 64-byte aligned, contents undefined;
 * NULL when unavailable (the caller falls back to malloc or a slower path). Slots 0-2 belong to the matmul
 * backward, slot 3 to the prefill matmul's packed activations. */
float *rk_kern_scratch(int slot, size_t n);

/* Dot product: 8-lane FMA chains + fixed horizontal sum on AVX2 (the matmul's order), double otherwise. */
float rk_kern_dot(const float *a, const float *b, int64_t n);
/* Stable softmax of one row in place (all -inf -> zeros). */
void rk_kern_softmax_row(float *x, int64_t len);

#ifdef RK_KERN_X86
#include <immintrin.h>
/* Sum of the 8 lanes in a fixed order, ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)): the one every AVX2 dot product of the
 * kernels and of the block quantizers' vec_dot uses (callers are compiled for avx2,fma,f16c). */
__attribute__((target("avx2,fma,f16c"), always_inline)) static inline float rk_kern_hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));   /* l0+l4 .. l3+l7 */
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));                                         /* (l0+l4)+(l2+l6), ... */
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Prefill micro-kernel (avx2.c, matmul_prefill): RR weight rows (wr, row stride ldw) x W tokens (xp: kc rows of W
 * packed activations) over kc columns; c[r][W] = (first ? 0 : c) + the FMA chain over k. */
typedef void (*rk_pf_kernel)(const float *wr, int64_t ldw, const float *xp, int64_t kc, float *c, int first);
enum { RK_PF512_MR = 12 };
/* AVX-512F kernels (avx512.c): [0] 16 tokens, [1] 32 tokens; [.][RR-1] for RR = 1..12 rows. */
extern const rk_pf_kernel rk_pf512_tab[2][RK_PF512_MR];


void rk_matmul_avx2(float *y, const float *x, const rk_wview *w, const float *bias, int64_t n);
void rk_axpy_avx2(float *y, float a, const float *x, int64_t n);
float rk_dot_avx2(const float *a, const float *b, int64_t n);
void rk_swiglu_avx2(float *out, const float *gate, const float *up, int64_t n);
void rk_softmax_row_avx2(float *x, int64_t len);
#endif
#endif
