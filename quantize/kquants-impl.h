/* quantize/kquants-impl.h — internals shared by the Q4_0/Q8_0/Q8_K/Q4_K/Q5_K kernels: rounding as ggml does it,
 * half conversion that never yields Inf, input sanitising, the 6-bit scale/min packing and the K-quant
 * super-block search (q4k.c) that Q5_K reuses. Not a public header. */
#ifndef RK_QUANTIZE_KQUANTS_IMPL_H
#define RK_QUANTIZE_KQUANTS_IMPL_H
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "formats/numeric.h"
#include "quantize/blocks.h"

/* ggml's nearest_int: round half to even (the 1.5·2^23 trick), valid for |v| <= 2^22. Here NaN -> 0 and the
 * argument is clamped to ±4194303 first, so any float is safe; results for in-range v are ggml's. */
static inline int rk_kq_nearest(float v) {
    if (!(v == v)) return 0;
    if (v > 4194303.0f) v = 4194303.0f;
    if (v < -4194303.0f) v = -4194303.0f;
    const float t = v + 12582912.0f;   /* 1.5·2^23: the sum's last mantissa bit is the rounded integer */
    int32_t i;
    memcpy(&i, &t, sizeof i);
    return (i & 0x007FFFFF) - 0x00400000;
}
static inline int rk_kq_clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* f32 -> f16 bits, but finite: values that would round to ±Inf become ±65504 (0x7BFF/0xFBFF). */
static inline uint16_t rk_kq_f16(float f) {
    uint16_t h = rk_f32_to_f16(f);
    if ((h & 0x7FFFu) >= 0x7C00u) h = (uint16_t)((h & 0x8000u) | 0x7BFFu);   /* Inf/NaN never expected: clamp */
    return h;
}

/* Copy of one block with NaN -> 0 and |x| clamped to 1e30 (Inf saturates); squares stay finite in double. */
static inline void rk_kq_sanitize(const float *x, float *out, int n) {
    for (int i = 0; i < n; i++) {
        float v = x[i];
        out[i] = !(v == v) ? 0.0f : v > 1e30f ? 1e30f : v < -1e30f ? -1e30f : v;
    }
}
/* Importance weights of one block: NULL -> 1; negative/NaN -> 0, +Inf -> 1e30. */
static inline void rk_kq_weights(const float *imp, float *w, int n) {
    for (int i = 0; i < n; i++) {
        float v = imp ? imp[i] : 1.0f;
        w[i] = !(v > 0.0f) ? 0.0f : v > 1e30f ? 1e30f : v;
    }
}

/* ggml get_scale_min_k4 / its inverse (scales[12] must be zeroed before packing). */
static inline void rk_kq_get_scale_min(int j, const uint8_t *q, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}
static inline void rk_kq_put_scale_min(int j, uint8_t *q, uint8_t sc, uint8_t m) {
    if (j < 4) {
        q[j] = (uint8_t)((q[j] & 0xC0) | sc);
        q[j + 4] = (uint8_t)((q[j + 4] & 0xC0) | m);
    } else {
        q[j + 4] = (uint8_t)((sc & 0xF) | ((m & 0xF) << 4));
        q[j - 4] |= (uint8_t)((sc >> 4) << 6);
        q[j] |= (uint8_t)((m >> 4) << 6);
    }
}

/* One K-quant super-block (256 weights) in unpacked form: halves d/dmin, 6-bit sc/m per sub-block of 32,
 * levels L in 0..nmax. Decoded value of element i of sub-block j: (f16(d)·sc_j)·L_i − f16(dmin)·m_j. */
typedef struct rk_kq_sb {
    uint16_t d, dmin;
    uint8_t sc[8], m[8];
    uint8_t L[RK_QK_K];
} rk_kq_sb;

/* The search (q4k.c): nmax 15 (Q4_K) or 31 (Q5_K); imp the block's 256 weights or NULL. Deterministic. */
void rk_kq_quantize_sb(const float *x, const float *imp, int nmax, rk_kq_sb *out);
/* The same result, faster (AVX2 when rk_kern_use_avx2(), else rk_kq_quantize_sb itself). */
void rk_kq_quantize_sb_fast(const float *x, const float *imp, int nmax, rk_kq_sb *out);
/* Pack sc/m into ggml's 12-byte form. */
void rk_kq_pack_scales(const rk_kq_sb *sb, uint8_t scales[RK_K_SCALE_SIZE]);

/* Threshold (blocks) under which the fast quantizers stay single-threaded. */
#define RK_KQ_OMP_MIN_BLOCKS 8

/* Q5_0 / Q5_1 (32 weights, levels L[j] in 0..31): the low nibbles of j and j + 16 share qs[j], the fifth bits are
 * bit j of the little-endian u32 qh. */
static inline void rk_q5_pack(const uint8_t *L, uint8_t *qs, uint8_t *qh) {
    uint32_t h = 0;
    for (int j = 0; j < 16; j++) {
        qs[j] = (uint8_t)((L[j] & 0xF) | ((L[j + 16] & 0xF) << 4));
        h |= (uint32_t)(L[j] >> 4) << j;
        h |= (uint32_t)(L[j + 16] >> 4) << (j + 16);
    }
    for (int k = 0; k < 4; k++) qh[k] = (uint8_t)(h >> (8 * k));
}

static inline uint32_t rk_q5_qh32(const uint8_t *qh) {
    return (uint32_t)qh[0] | ((uint32_t)qh[1] << 8) | ((uint32_t)qh[2] << 16) | ((uint32_t)qh[3] << 24);
}

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
/* Byte k of the result is 0x10 if bit k of the u32 qh is set: each byte takes qh's byte k/8, then tests 1 << k%8. */
__attribute__((target("avx2"))) static inline __m256i rk_q5_fifth_bits(const uint8_t *qh) {
    uint32_t h;
    memcpy(&h, qh, sizeof h);
    const __m256i sel = _mm256_set_epi64x(0x0303030303030303ll, 0x0202020202020202ll, 0x0101010101010101ll, 0);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    const __m256i v = _mm256_and_si256(_mm256_shuffle_epi8(_mm256_set1_epi32((int)h), sel), bit);
    return _mm256_and_si256(_mm256_cmpeq_epi8(v, bit), _mm256_set1_epi8(0x10));
}
#endif
#endif
