/* quantize/q4_0.c — Q4_0 (ggml type 2): 32 weights, one half scale d, x = (q − 8)·d with 4-bit q (18 bytes,
 * 4.5 bpw). Layout ggml-common.h block_q4_0, decoding ggml-quants.c dequantize_row_q4_0 (element j in the low
 * nibble of qs[j], element j+16 in the high nibble).
 *
 * Without imp the bytes are ggml's quantize_row_q4_0_ref (what llama-quantize writes without an imatrix):
 * d = max/−8 where max is the first value of largest magnitude, q = min(15, trunc(x/d + 8.5)). With imp that
 * block is one candidate among scales max/v for v in −9.6..−5.2 and 8..5.2 (steps of 0.2), each followed by up to
 * two weighted least-squares refits d = Σ w·x·q / Σ w·q² with re-rounded levels; the candidate with the least
 * Σ imp·(x − x̂)² wins, and replaces ggml's block only if strictly better on the decoded values, so imp never
 * does worse than RTN. */
#include <math.h>
#include <string.h>

#include "model/kernels/kernels-impl.h"
#include "quantize/kquants-impl.h"

#pragma GCC optimize("fp-contract=off")   /* x·id rounded before + 8.5, as ggml's reference (no FMA) */

/* ggml's RTN block; non-finite inputs were sanitised, and the level is clamped before the cast (ggml casts
 * x/d + 8.5 to int8 directly, which is the same for every finite value but undefined for Inf/NaN). */
static void rtn_block(const float *x, rk_block_q4_0 *b) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < RK_QK4_0; j++) {
        if (amax < fabsf(x[j])) { amax = fabsf(x[j]); max = x[j]; }
    }
    const float d = max / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    b->d = rk_kq_f16(d);
    for (int j = 0; j < RK_QK4_0 / 2; j++) {
        int q[2];
        for (int h = 0; h < 2; h++) {
            const float v = x[j + 16 * h] * id + 8.5f;
            q[h] = !(v == v) ? 8 : v <= 0.0f ? 0 : v >= 15.0f ? 15 : (int)v;
        }
        b->qs[j] = (uint8_t)(q[0] | (q[1] << 4));
    }
}

static double block_err(const float *x, const float *w, const rk_block_q4_0 *b) {
    const float d = rk_f16_to_f32(b->d);
    double e = 0.0;
    for (int j = 0; j < RK_QK4_0 / 2; j++) {
        const double d0 = (double)((float)((b->qs[j] & 0xF) - 8) * d) - x[j];
        const double d1 = (double)((float)((b->qs[j] >> 4) - 8) * d) - x[j + 16];
        e += w[j] * d0 * d0 + w[j + 16] * d1 * d1;
    }
    return e;
}

/* Block with scale d (rounded to half), levels round-to-nearest-even of x/d clamped to −8..7. Returns the
 * weighted error Σ w·(q·fd − x)² expanded over sums (one pass) and the least-squares scale for these levels. */
static double scaled_block(const float *x, const float *w, double sxx, float d, rk_block_q4_0 *b, float *dls) {
    b->d = rk_kq_f16(d);
    const float fd = rk_f16_to_f32(b->d);
    const float id = fd != 0.0f ? 1.0f / fd : 0.0f;
    double sxq = 0.0, sqq = 0.0;
    for (int j = 0; j < RK_QK4_0 / 2; j++) {
        const int q0 = rk_kq_clampi(rk_kq_nearest(x[j] * id), -8, 7);
        const int q1 = rk_kq_clampi(rk_kq_nearest(x[j + 16] * id), -8, 7);
        b->qs[j] = (uint8_t)((q0 + 8) | ((q1 + 8) << 4));
        sxq += (double)w[j] * x[j] * q0 + (double)w[j + 16] * x[j + 16] * q1;
        sqq += (double)w[j] * q0 * q0 + (double)w[j + 16] * q1 * q1;
    }
    const double ls = sqq > 0.0 ? sxq / sqq : 0.0;
    *dls = isfinite(ls) ? (float)ls : 0.0f;
    return sxx - 2.0 * fd * sxq + (double)fd * fd * sqq;
}

static void q4_0_block(const float *x_in, const float *imp, rk_block_q4_0 *y) {
    float x[RK_QK4_0];
    rk_kq_sanitize(x_in, x, RK_QK4_0);
    rk_block_q4_0 rtn;
    rtn_block(x, &rtn);
    if (!imp) {
        memcpy(y, &rtn, sizeof rtn);
        return;
    }
    float w[RK_QK4_0];
    rk_kq_weights(imp, w, RK_QK4_0);
    double sxx = 0.0;
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < RK_QK4_0; j++) {
        sxx += (double)w[j] * x[j] * x[j];
        if (amax < fabsf(x[j])) { amax = fabsf(x[j]); max = x[j]; }
    }
    rk_block_q4_0 best = rtn, c;
    double be = INFINITY;
    uint16_t prev = 0xFFFF;
    for (int k = 0; k < 38 && amax > 0.0f; k++) {
        const float v = k < 23 ? -9.6f + 0.2f * (float)k : 8.0f - 0.2f * (float)(k - 23);
        float d = max / v, dls;
        if (rk_kq_f16(d) == prev) continue;            /* same half scale as the previous candidate */
        prev = rk_kq_f16(d);
        for (int it = 0; it < 3; it++) {               /* the scale, then two least-squares refits */
            const double e = scaled_block(x, w, sxx, d, &c, &dls);
            if (e < be) { be = e; best = c; }
            if (dls == 0.0f || rk_kq_f16(dls) == c.d) break;
            d = dls;
        }
    }
    /* the search compares expanded sums; the final word is the direct error against ggml's RTN block */
    if (!(block_err(x, w, &best) < block_err(x, w, &rtn))) best = rtn;
    memcpy(y, &best, sizeof best);
}

void rk_q4_0_quantize_ref(const float *x, void *dst, int64_t n, const float *imp) {
    rk_block_q4_0 *y = dst;
    const int64_t nb = n / RK_QK4_0;
    for (int64_t i = 0; i < nb; i++) q4_0_block(x + i * RK_QK4_0, imp ? imp + i * RK_QK4_0 : NULL, &y[i]);
}

void rk_q4_0_quantize(const float *x, void *dst, int64_t n, const float *imp) {
    rk_block_q4_0 *y = dst;
    const int64_t nb = n / RK_QK4_0;
#pragma omp parallel for schedule(static) if (nb >= 8 * RK_KQ_OMP_MIN_BLOCKS)
    for (int64_t i = 0; i < nb; i++) q4_0_block(x + i * RK_QK4_0, imp ? imp + i * RK_QK4_0 : NULL, &y[i]);
}

void rk_q4_0_dequantize(const void *src, float *dst, int64_t n) {
    const rk_block_q4_0 *xb = src;
    const int64_t nb = n / RK_QK4_0;
    for (int64_t i = 0; i < nb; i++) {
        rk_block_q4_0 b;
        memcpy(&b, &xb[i], sizeof b);
        const float d = rk_f16_to_f32(b.d);
        for (int j = 0; j < RK_QK4_0 / 2; j++) {
            dst[i * RK_QK4_0 + j] = (float)((b.qs[j] & 0xF) - 8) * d;
            dst[i * RK_QK4_0 + j + 16] = (float)((b.qs[j] >> 4) - 8) * d;
        }
    }
}

float rk_q4_0_vec_dot_ref(int64_t n, const void *w, const void *a) {
    const rk_block_q4_0 *x = w;
    const rk_block_q8_0 *y = a;
    const int64_t nb = n / RK_QK4_0;
    float sumf = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        int32_t s = 0;
        for (int j = 0; j < RK_QK4_0 / 2; j++)
            s += ((x[i].qs[j] & 0xF) - 8) * y[i].qs[j] + ((x[i].qs[j] >> 4) - 8) * y[i].qs[j + 16];
        sumf += (float)s * (rk_f16_to_f32(x[i].d) * rk_f16_to_f32(y[i].d));
    }
    return sumf;
}

#ifdef RK_KERN_X86
#include <immintrin.h>
#define TGT __attribute__((target("avx2,fma,f16c")))

TGT static float q4_0_dot_avx2(int64_t n, const rk_block_q4_0 *x, const rk_block_q8_0 *y) {
    const int64_t nb = n / RK_QK4_0;
    const __m256i m4 = _mm256_set1_epi8(0xF), off = _mm256_set1_epi8(8), ones = _mm256_set1_epi16(1);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const __m128i q = _mm_loadu_si128((const __m128i *)x[i].qs);
        const __m256i qq = _mm256_set_m128i(_mm_srli_epi16(q, 4), q);
        const __m256i w = _mm256_sub_epi8(_mm256_and_si256(qq, m4), off);          /* −8..7 */
        const __m256i a = _mm256_loadu_si256((const __m256i *)y[i].qs);
        const __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w));
        const __m256i s = _mm256_madd_epi16(p, ones);
        const float d = _cvtsh_ss(x[i].d) * _cvtsh_ss(y[i].d);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(s), acc);
    }
    return rk_kern_hsum8(acc);
}
#endif

float rk_q4_0_vec_dot(int64_t n, const void *w, const void *a) {
#ifdef RK_KERN_X86
    if (rk_kern_use_avx2()) return q4_0_dot_avx2(n, w, a);
#endif
    return rk_q4_0_vec_dot_ref(n, w, a);
}
