/* quantize/q3k.c — Q3_K (ggml type 11): 256 weights, 16 sub-blocks of 16 with 6-bit scales (s − 32 in
 * [−32, 31], packed in 12 bytes as ggml packs them), 3-bit levels q − 4 in [−4, 3] (low 2 bits in qs, high bit
 * in hmask), one F16 scale; x = (d·(s − 32))·(q − 4) in f32 as ggml's dequantize_row_q3_K.
 * Layout: quantize/blocks_low.h; search: quantize/lowquants-impl.h. */
#include "quantize/lowquants-impl.h"

#include <omp.h>

/* The 16 signed scales (−32..31) from the 12 packed bytes, and back. */
static void q3k_get_scales(const uint8_t *p, int *s) {
    for (int j = 0; j < 16; j++) {
        const int lo = j < 8 ? (p[j] & 0xF) : (p[j - 8] >> 4);
        const int hi = (p[8 + j % 4] >> (2 * (j / 4))) & 3;
        s[j] = (lo | (hi << 4)) - 32;
    }
}

static void q3k_set_scales(const int *s, uint8_t *p) {
    memset(p, 0, 12);
    for (int j = 0; j < 16; j++) {
        const int v = s[j] + 32;
        if (j < 8) p[j] |= (uint8_t)(v & 0xF);
        else p[j - 8] |= (uint8_t)((v & 0xF) << 4);
        p[8 + j % 4] |= (uint8_t)((v >> 4) << (2 * (j / 4)));
    }
}

/* Level of element e (−4..3). */
static inline int q3k_level(const rk_block_q3_k *b, int e) {
    const int low = (b->qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
    return low - ((b->hmask[e % 32] >> (e / 32)) & 1 ? 0 : 4);
}

static void q3k_decode(const rk_block_q3_k *b, float *y) {
    const float d = rk_f16_to_f32(b->d);
    int s[16];
    q3k_get_scales(b->scales, s);
    for (int j = 0; j < 16; j++) {
        const float dl = d * (float)s[j];
        for (int i = 0; i < 16; i++) y[16 * j + i] = dl * (float)q3k_level(b, 16 * j + i);
    }
}

static void q3k_finish(const float *x, uint16_t dh, const int *sc, rk_block_q3_k *b) {
    const float d = rk_f16_to_f32(dh);
    memset(b, 0, sizeof *b);
    q3k_set_scales(sc, b->scales);
    b->d = dh;
    for (int j = 0; j < 16; j++) {
        const float dl = d * (float)sc[j];
        for (int i = 0; i < 16; i++) {
            const int e = 16 * j + i;
            const int v = (dl != 0.0f ? rk_lq_nearest((double)x[e] / dl, -4, 3) : 0) + 4;
            b->qs[32 * (e / 128) + e % 32] |= (uint8_t)((v & 3) << (2 * ((e % 128) / 32)));
            if (v > 3) b->hmask[e % 32] |= (uint8_t)(1u << (e / 32));
        }
    }
}

#ifdef RK_KERN_X86
/* q3k_finish, the same bytes: levels 4 at a time (rk_lq_levels16, biased to 0..7), then packed. */
RK_LQ_TGT static void q3k_finish_avx2(const float *x, uint16_t dh, const int *sc, rk_block_q3_k *b) {
    const float d = rk_f16_to_f32(dh);
    memset(b, 0, sizeof *b);
    q3k_set_scales(sc, b->scales);
    b->d = dh;
    uint8_t L[RK_LQ_QK];
    for (int j = 0; j < 16; j++) rk_lq_levels16(x + 16 * j, d * (float)sc[j], 0.0f, -4, 3, 4, L + 16 * j);
    rk_lq_pack2(L, b->qs);   /* the low 2 bits (pack2 masks them) */
    const __m256i one = _mm256_set1_epi8(1);
    __m256i hm = _mm256_setzero_si256();
    for (int k = 0; k < 8; k++) {   /* bit k of hmask[l]: element 32k + l is >= 4 */
        const __m256i v = _mm256_loadu_si256((const __m256i *)(L + 32 * k));
        hm = _mm256_or_si256(hm, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(v, 2), one), k));
    }
    _mm256_storeu_si256((__m256i *)b->hmask, hm);
}
#endif

static void q3k_fin(const float *x, uint16_t dh, const int *sc, int fast, rk_block_q3_k *b) {
#ifdef RK_KERN_X86
    if (fast) { q3k_finish_avx2(x, dh, sc, b); return; }
#endif
    q3k_finish(x, dh, sc, b);
}

static double q3k_block_err(const rk_block_q3_k *b, const float *x, const float *w) {
    float y[RK_LQ_QK];
    q3k_decode(b, y);
    return rk_lq_err(x, y, w, RK_LQ_QK);
}

static void q3k_from_scales(const float *x, const float *w, const double *s, const double *W, int search,
                            int fast, rk_block_q3_k *b) {
    const rk_lq_sym_fn sym = rk_lq_sym_pick(fast);
    int sc[16];
    double d;
    if (search) {
        d = sym(16, s, W, -32, 31, sc);
        if (d == 0.0 && W) d = sym(16, s, NULL, -32, 31, sc);
    } else {
        double amax = 0.0, vmax = 0.0;
        for (int j = 0; j < 16; j++)
            if (fabs(s[j]) > amax) { amax = fabs(s[j]); vmax = s[j]; }
        d = vmax / -32.0;
    }
    const uint16_t dh = rk_lq_f16(d);
    const float dq = rk_f16_to_f32(dh);
    for (int j = 0; j < 16; j++) sc[j] = dq != 0.0f ? rk_lq_nearest(s[j] / dq, -32, 31) : 0;
    q3k_fin(x, dh, sc, fast, b);
    if (!search) return;
    double num = 0.0, den = 0.0;
    for (int e = 0; e < RK_LQ_QK; e++) {
        const double u = (double)sc[e / 16] * q3k_level(b, e);
        const double wi = w ? w[e] : 1.0;
        num += wi * x[e] * u;
        den += wi * u * u;
    }
    if (!(den > 0.0)) return;
    rk_block_q3_k alt;
    q3k_fin(x, rk_lq_f16(num / den), sc, fast, &alt);
    if (q3k_block_err(&alt, x, w) < q3k_block_err(b, x, w)) *b = alt;
}

/* search = 1: weighted scale search (w may be NULL); 0: plain round-to-nearest (largest |x| -> −4). */
/* fast: 0 (scalar, the _ref path) or rk_kern_use_avx2() (the same bytes with the AVX2 searches). */
static void q3k_quant_one(const float *x, const float *w, int search, int fast, rk_block_q3_k *b) {
    const rk_lq_sym_fn sym = rk_lq_sym_pick(fast);
    double s[16], W[16];
    int L[16];
    for (int j = 0; j < 16; j++) {
        double xd[16], wd[16];
        double amax = 0.0, vmax = 0.0;
        for (int i = 0; i < 16; i++) {
            xd[i] = x[16 * j + i];
            wd[i] = w ? w[16 * j + i] : 1.0;
            if (fabs(xd[i]) > amax) { amax = fabs(xd[i]); vmax = xd[i]; }
        }
        if (search) {
            s[j] = sym(16, xd, w ? wd : NULL, -4, 3, L);
            if (s[j] == 0.0 && w) s[j] = sym(16, xd, NULL, -4, 3, L);
        } else {
            s[j] = vmax / -4.0;
            for (int i = 0; i < 16; i++) L[i] = s[j] != 0.0 ? rk_lq_nearest(xd[i] / s[j], -4, 3) : 0;
        }
        W[j] = 0.0;
        for (int i = 0; i < 16; i++) W[j] += wd[i] * L[i] * L[i];
    }
    q3k_from_scales(x, w, s, W, search, fast, b);
}

static void q3k_quant_block(const float *x, const float *imp, int fast, rk_block_q3_k *out) {
    float xs[RK_LQ_QK], ws[RK_LQ_QK];
    const int hw = rk_lq_sanitize(x, imp, RK_LQ_QK, xs, ws);
    const float *w = hw ? ws : NULL;
    rk_block_q3_k cand[3];
    int nc = 0;
    if (hw) q3k_quant_one(xs, ws, 1, fast, &cand[nc++]);
    q3k_quant_one(xs, NULL, 1, fast, &cand[nc++]);
    q3k_quant_one(xs, NULL, 0, fast, &cand[nc++]);
    int best = 0;
    double be = q3k_block_err(&cand[0], xs, w);
    for (int c = 1; c < nc; c++) {
        const double e = q3k_block_err(&cand[c], xs, w);
        if (e < be) { be = e; best = c; }
    }
    memcpy(out, &cand[best], sizeof *out);
}

void rk_q3k_quantize_ref(const float *x, void *dst, int64_t n, const float *imp) {
    rk_block_q3_k *y = dst;
    const int64_t nb = n / RK_LQ_QK;
    for (int64_t i = 0; i < nb; i++) q3k_quant_block(x + i * RK_LQ_QK, imp ? imp + i * RK_LQ_QK : NULL, 0, &y[i]);
}

void rk_q3k_quantize(const float *x, void *dst, int64_t n, const float *imp) {
    rk_block_q3_k *y = dst;
    const int64_t nb = n / RK_LQ_QK;
    const int fast = rk_kern_use_avx2();
#pragma omp parallel for schedule(static) if (nb >= 4)
    for (int64_t i = 0; i < nb; i++) q3k_quant_block(x + i * RK_LQ_QK, imp ? imp + i * RK_LQ_QK : NULL, fast, &y[i]);
}

void rk_q3k_dequantize(const void *src, float *dst, int64_t n) {
    const rk_block_q3_k *x = src;
    const int64_t nb = n / RK_LQ_QK;
    for (int64_t i = 0; i < nb; i++) {
        rk_block_q3_k b;
        memcpy(&b, &x[i], sizeof b);
        q3k_decode(&b, dst + i * RK_LQ_QK);
    }
}

float rk_q3k_vec_dot_ref(int64_t n, const void *w, const void *a) {
    const rk_block_q3_k *x = w;
    const rk_lq_q8k *y = a;
    const int64_t nb = n / RK_LQ_QK;
    float sumf = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        int s[16];
        q3k_get_scales(x[i].scales, s);
        int32_t isum = 0;
        for (int j = 0; j < 16; j++) {
            int32_t t = 0;
            for (int k = 16 * j; k < 16 * j + 16; k++) t += q3k_level(&x[i], k) * y[i].qs[k];
            isum += s[j] * t;
        }
        const float d = rk_f16_to_f32(x[i].d) * y[i].d;
        sumf += d * (float)isum;
    }
    return sumf;
}

#ifdef RK_KERN_X86
RK_LQ_TGT static float q3k_vec_dot_avx2(int64_t n, const void *w, const void *a) {
    const rk_block_q3_k *x = w;
    const rk_lq_q8k *y = a;
    const int64_t nb = n / RK_LQ_QK;
    const __m256i m3 = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1), four = _mm256_set1_epi8(4);
    float sumf = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        int s[16];
        q3k_get_scales(x[i].scales, s);
        const __m256i hm = _mm256_loadu_si256((const __m256i *)x[i].hmask);
        __m256i acc = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const __m256i qs = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * h));
            for (int k = 0; k < 4; k++) {
                const int bit = 4 * h + k;
                const __m256i low = _mm256_and_si256(_mm256_srli_epi16(qs, 2 * k), m3);
                const __m256i high = _mm256_and_si256(_mm256_srli_epi16(hm, bit), one);
                /* q = low + 4·high − 4 */
                const __m256i q = _mm256_sub_epi8(_mm256_add_epi8(low, _mm256_slli_epi16(high, 2)), four);
                const __m256i qa = _mm256_loadu_si256((const __m256i *)(y[i].qs + 128 * h + 32 * k));
                const __m256i p = rk_lq_dot16_signed(q, qa);
                acc = _mm256_add_epi32(acc, rk_lq_scale2(p, s[8 * h + 2 * k], s[8 * h + 2 * k + 1]));
            }
        }
        const float d = rk_f16_to_f32(x[i].d) * y[i].d;
        sumf += d * (float)rk_lq_hsum_i32(acc);
    }
    return sumf;
}
#endif

float rk_q3k_vec_dot(int64_t n, const void *w, const void *a) {
#ifdef RK_KERN_X86
    if (rk_kern_use_avx2()) return q3k_vec_dot_avx2(n, w, a);
#endif
    return rk_q3k_vec_dot_ref(n, w, a);
}
