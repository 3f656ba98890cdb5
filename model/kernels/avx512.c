/* model/kernels/avx512.c — the AVX-512F micro-kernel of the prefill matmul (avx2.c, matmul_prefill), chosen at
 * run time when the CPU and OS support AVX-512 (dispatch.c; RK_NO_AVX512=1 turns it off).
 *
 * Same contract and the same arithmetic as the AVX2 kernel: RR (1..12) weight rows x W (16 or 32) tokens over kc
 * columns, c[r][W] = (first ? 0 : c) + a fresh FMA chain over k, lanes = tokens, the weight broadcast. Only the
 * tile is wider (12 rows x 32 tokens = 24 zmm accumulators, against 6 x 16 in 12 ymm), so every output is the
 * same sequence of roundings and the two paths agree bit for bit (tested). What the wider tile buys: on a core
 * with full-width 512-bit FMA units (AMD Zen 5, Intel server cores) twice the FLOPs per instruction, and per
 * 24 FMAs only 2 activation loads and 12 broadcasts. */
#include "model/kernels/kernels-impl.h"

#ifdef RK_KERN_X86
#include <immintrin.h>

#define T512 __attribute__((target("avx512f")))

T512 static inline __attribute__((always_inline)) void k512(int RR, int W, const float *wr, int64_t ldw,
                                                            const float *xp, int64_t kc, float *c, int first) {
    __m512 a[RK_PF512_MR][2];
#pragma GCC unroll 12
    for (int r = 0; r < RK_PF512_MR; r++) a[r][0] = a[r][1] = _mm512_setzero_ps();
#pragma GCC unroll 2
    for (int64_t k = 0; k < kc; k++) {
        const __m512 x0 = _mm512_load_ps(xp + k * W);
        const __m512 x1 = W == 32 ? _mm512_load_ps(xp + k * W + 16) : x0;
#pragma GCC unroll 12
        for (int r = 0; r < RK_PF512_MR; r++)
            if (r < RR) {
                const __m512 wb = _mm512_set1_ps(wr[r * ldw + k]);
                a[r][0] = _mm512_fmadd_ps(wb, x0, a[r][0]);
                if (W == 32) a[r][1] = _mm512_fmadd_ps(wb, x1, a[r][1]);
            }
    }
#pragma GCC unroll 12
    for (int r = 0; r < RK_PF512_MR; r++)
        if (r < RR) {
            float *cr = c + r * W;
            if (first) {
                _mm512_storeu_ps(cr, a[r][0]);
                if (W == 32) _mm512_storeu_ps(cr + 16, a[r][1]);
            } else {
                _mm512_storeu_ps(cr, _mm512_add_ps(_mm512_loadu_ps(cr), a[r][0]));
                if (W == 32) _mm512_storeu_ps(cr + 16, _mm512_add_ps(_mm512_loadu_ps(cr + 16), a[r][1]));
            }
        }
}

#define K512(RR) \
    T512 static void k512_##RR##_32(const float *wr, int64_t ldw, const float *xp, int64_t kc, float *c, int first) \
    { k512(RR, 32, wr, ldw, xp, kc, c, first); } \
    T512 static void k512_##RR##_16(const float *wr, int64_t ldw, const float *xp, int64_t kc, float *c, int first) \
    { k512(RR, 16, wr, ldw, xp, kc, c, first); }
K512(1) K512(2) K512(3) K512(4) K512(5) K512(6) K512(7) K512(8) K512(9) K512(10) K512(11) K512(12)

const rk_pf_kernel rk_pf512_tab[2][RK_PF512_MR] = {
    { k512_1_16, k512_2_16, k512_3_16, k512_4_16, k512_5_16, k512_6_16,
      k512_7_16, k512_8_16, k512_9_16, k512_10_16, k512_11_16, k512_12_16 },
    { k512_1_32, k512_2_32, k512_3_32, k512_4_32, k512_5_32, k512_6_32,
      k512_7_32, k512_8_32, k512_9_32, k512_10_32, k512_11_32, k512_12_32 },
};
#endif
