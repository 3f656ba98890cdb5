/* quantize/q6k.c — Q6_K (ggml type 14): 256 weights, 16 sub-blocks of 16 with int8 scales, 6-bit levels
 * q − 32 in [−32, 31], one F16 super-block scale; x = d · scale_j · (q − 32) evaluated as (d·scale)·q in f32
 * as ggml's dequantize_row_q6_K does. Layout: quantize/blocks_low.h; search: quantize/lowquants-impl.h. */
#include "quantize/lowquants-impl.h"

#include <omp.h>

static void q6k_decode(const rk_block_q6_k *b, float *y) {
    const float d = rk_f16_to_f32(b->d);
    for (int h = 0; h < 2; h++) {
        const uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
        const int8_t *sc = b->scales + 8 * h;
        float *o = y + 128 * h;
        for (int l = 0; l < 32; l++) {
            const int is = l / 16;
            const int8_t q1 = (int8_t)((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
            const int8_t q2 = (int8_t)((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
            const int8_t q3 = (int8_t)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            const int8_t q4 = (int8_t)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            o[l + 0] = d * sc[is + 0] * q1;
            o[l + 32] = d * sc[is + 2] * q2;
            o[l + 64] = d * sc[is + 4] * q3;
            o[l + 96] = d * sc[is + 6] * q4;
        }
    }
}

/* Levels L (−32..31) for a fixed F16 scale dh and int8 scales sc, rounded against the decoded step, packed. */
static void q6k_finish(const float *x, uint16_t dh, const int *sc, rk_block_q6_k *b) {
    const float d = rk_f16_to_f32(dh);
    int L[RK_LQ_QK];
    for (int j = 0; j < 16; j++) {
        const float dl = d * (float)sc[j];
        for (int i = 0; i < 16; i++)
            L[16 * j + i] = dl != 0.0f ? rk_lq_nearest((double)x[16 * j + i] / dl, -32, 31) + 32 : 32;
        b->scales[j] = (int8_t)sc[j];
    }
    b->d = dh;
    for (int h = 0; h < 2; h++) {
        const int *Lh = L + 128 * h;
        for (int l = 0; l < 32; l++) {
            b->ql[64 * h + l] = (uint8_t)((Lh[l] & 0xF) | ((Lh[l + 64] & 0xF) << 4));
            b->ql[64 * h + l + 32] = (uint8_t)((Lh[l + 32] & 0xF) | ((Lh[l + 96] & 0xF) << 4));
            b->qh[32 * h + l] = (uint8_t)((Lh[l] >> 4) | ((Lh[l + 32] >> 4) << 2) | ((Lh[l + 64] >> 4) << 4) |
                                          ((Lh[l + 96] >> 4) << 6));
        }
    }
}

#ifdef RK_KERN_X86
/* q6k_finish, the same bytes: levels 4 at a time (rk_lq_levels16), then the 4+2-bit packing 32 bytes at a time. */
RK_LQ_TGT static void q6k_finish_avx2(const float *x, uint16_t dh, const int *sc, rk_block_q6_k *b) {
    const float d = rk_f16_to_f32(dh);
    uint8_t L[RK_LQ_QK];
    for (int j = 0; j < 16; j++) {
        rk_lq_levels16(x + 16 * j, d * (float)sc[j], 0.0f, -32, 31, 32, L + 16 * j);
        b->scales[j] = (int8_t)sc[j];
    }
    b->d = dh;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int h = 0; h < 2; h++) {
        __m256i v[4], qh = _mm256_setzero_si256();
        for (int k = 0; k < 4; k++) {
            v[k] = _mm256_loadu_si256((const __m256i *)(L + 128 * h + 32 * k));
            /* L <= 63: L >> 4 <= 3, shifted by at most 6 inside its byte */
            qh = _mm256_or_si256(qh, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(v[k], 4), m4), 2 * k));
        }
        const __m256i hi2 = _mm256_slli_epi16(_mm256_and_si256(v[2], m4), 4);
        const __m256i hi3 = _mm256_slli_epi16(_mm256_and_si256(v[3], m4), 4);
        const __m256i lo0 = _mm256_or_si256(_mm256_and_si256(v[0], m4), hi2);
        const __m256i lo1 = _mm256_or_si256(_mm256_and_si256(v[1], m4), hi3);
        _mm256_storeu_si256((__m256i *)(b->ql + 64 * h), lo0);
        _mm256_storeu_si256((__m256i *)(b->ql + 64 * h + 32), lo1);
        _mm256_storeu_si256((__m256i *)(b->qh + 32 * h), qh);
    }
}
#endif

static void q6k_fin(const float *x, uint16_t dh, const int *sc, int fast, rk_block_q6_k *b) {
#ifdef RK_KERN_X86
    if (fast) { q6k_finish_avx2(x, dh, sc, b); return; }
#endif
    q6k_finish(x, dh, sc, b);
}

static double q6k_block_err(const rk_block_q6_k *b, const float *x, const float *w) {
    float y[RK_LQ_QK];
    q6k_decode(b, y);
    return rk_lq_err(x, y, w, RK_LQ_QK);
}

/* Quantize the sub-block scales s (weights W, may be NULL) to int8 under one F16 scale, finish the block, then
 * try the least-squares refit of the super-block scale given the integer scales and levels. */
static void q6k_from_scales(const float *x, const float *w, const double *s, const double *W, int search,
                            int fast, rk_block_q6_k *b) {
    const rk_lq_sym_fn sym = rk_lq_sym_pick(fast);
    int sc[16];
    double d;
    if (search) {
        d = sym(16, s, W, -128, 127, sc);
        if (d == 0.0 && W) d = sym(16, s, NULL, -128, 127, sc);
    } else {
        double amax = 0.0, vmax = 0.0;
        for (int j = 0; j < 16; j++)
            if (fabs(s[j]) > amax) { amax = fabs(s[j]); vmax = s[j]; }
        d = vmax / -128.0;
    }
    const uint16_t dh = rk_lq_f16(d);
    const float dq = rk_f16_to_f32(dh);
    for (int j = 0; j < 16; j++) sc[j] = dq != 0.0f ? rk_lq_nearest(s[j] / dq, -128, 127) : 0;
    q6k_fin(x, dh, sc, fast, b);
    if (!search) return;
    /* refit d given the integer scales and levels */
    double num = 0.0, den = 0.0;
    for (int j = 0; j < 16; j++)
        for (int i = 0; i < 16; i++) {
            const int e = 16 * j, k = e + i;
            const int h = k / 128, r = k % 128, kk = r / 32, l = r % 32;
            const int lo = (b->ql[64 * h + l + 32 * (kk & 1)] >> (4 * (kk >> 1))) & 0xF;
            const int hi = (b->qh[32 * h + l] >> (2 * kk)) & 3;
            const double u = (double)sc[j] * ((lo | (hi << 4)) - 32);
            const double wi = w ? w[k] : 1.0;
            num += wi * x[k] * u;
            den += wi * u * u;
        }
    if (!(den > 0.0)) return;
    rk_block_q6_k alt;
    q6k_fin(x, rk_lq_f16(num / den), sc, fast, &alt);
    if (q6k_block_err(&alt, x, w) < q6k_block_err(b, x, w)) *b = alt;
}

/* search = 1: weighted scale search (w may be NULL); 0: plain round-to-nearest (largest |x| -> −32). */
/* fast: 0 (scalar, the _ref path) or rk_kern_use_avx2() (the same bytes with the AVX2 searches). */
static void q6k_quant_one(const float *x, const float *w, int search, int fast, rk_block_q6_k *b) {
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
            s[j] = sym(16, xd, w ? wd : NULL, -32, 31, L);
            if (s[j] == 0.0 && w) s[j] = sym(16, xd, NULL, -32, 31, L);
        } else {
            s[j] = vmax / -32.0;
            for (int i = 0; i < 16; i++) L[i] = s[j] != 0.0 ? rk_lq_nearest(xd[i] / s[j], -32, 31) : 0;
        }
        W[j] = 0.0;
        for (int i = 0; i < 16; i++) W[j] += wd[i] * L[i] * L[i];
    }
    q6k_from_scales(x, w, s, W, search, fast, b);
}

static void q6k_quant_block(const float *x, const float *imp, int fast, rk_block_q6_k *out) {
    float xs[RK_LQ_QK], ws[RK_LQ_QK];
    const int hw = rk_lq_sanitize(x, imp, RK_LQ_QK, xs, ws);
    const float *w = hw ? ws : NULL;
    rk_block_q6_k cand[3];
    int nc = 0;
    if (hw) q6k_quant_one(xs, ws, 1, fast, &cand[nc++]);
    q6k_quant_one(xs, NULL, 1, fast, &cand[nc++]);
    q6k_quant_one(xs, NULL, 0, fast, &cand[nc++]);
    int best = 0;
    double be = q6k_block_err(&cand[0], xs, w);
    for (int c = 1; c < nc; c++) {
        const double e = q6k_block_err(&cand[c], xs, w);
        if (e < be) { be = e; best = c; }
    }
    memcpy(out, &cand[best], sizeof *out);
}

void rk_q6k_quantize_ref(const float *x, void *dst, int64_t n, const float *imp) {
    rk_block_q6_k *y = dst;
    const int64_t nb = n / RK_LQ_QK;
    for (int64_t i = 0; i < nb; i++) q6k_quant_block(x + i * RK_LQ_QK, imp ? imp + i * RK_LQ_QK : NULL, 0, &y[i]);
}

void rk_q6k_quantize(const float *x, void *dst, int64_t n, const float *imp) {
    rk_block_q6_k *y = dst;
    const int64_t nb = n / RK_LQ_QK;
    const int fast = rk_kern_use_avx2();
#pragma omp parallel for schedule(static) if (nb >= 4)
    for (int64_t i = 0; i < nb; i++) q6k_quant_block(x + i * RK_LQ_QK, imp ? imp + i * RK_LQ_QK : NULL, fast, &y[i]);
}

void rk_q6k_dequantize(const void *src, float *dst, int64_t n) {
    const rk_block_q6_k *x = src;
    const int64_t nb = n / RK_LQ_QK;
    for (int64_t i = 0; i < nb; i++) {
        rk_block_q6_k b;
        memcpy(&b, &x[i], sizeof b);
        q6k_decode(&b, dst + i * RK_LQ_QK);
    }
}

float rk_q6k_vec_dot_ref(int64_t n, const void *w, const void *a) {
    const rk_block_q6_k *x = w;
    const rk_lq_q8k *y = a;
    const int64_t nb = n / RK_LQ_QK;
    float sumf = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        const rk_block_q6_k *b = &x[i];
        int32_t isum = 0;
        for (int j = 0; j < 16; j++) {
            int32_t s = 0;
            for (int t = 0; t < 16; t++) {
                const int k = 16 * j + t, h = k / 128, r = k % 128, kk = r / 32, l = r % 32;
                const int lo = (b->ql[64 * h + l + 32 * (kk & 1)] >> (4 * (kk >> 1))) & 0xF;
                const int hi = (b->qh[32 * h + l] >> (2 * kk)) & 3;
                s += ((lo | (hi << 4)) - 32) * y[i].qs[k];
            }
            isum += b->scales[j] * s;
        }
        const float d = rk_f16_to_f32(b->d) * y[i].d;
        sumf += d * (float)isum;
    }
    return sumf;
}

#ifdef RK_KERN_X86
RK_LQ_TGT static float q6k_vec_dot_avx2(int64_t n, const void *w, const void *a) {
    const rk_block_q6_k *x = w;
    const rk_lq_q8k *y = a;
    const int64_t nb = n / RK_LQ_QK;
    const __m256i m4 = _mm256_set1_epi8(0x0F), m3 = _mm256_set1_epi8(3), o32 = _mm256_set1_epi8(32);
    float sumf = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        const rk_block_q6_k *b = &x[i];
        __m256i acc = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const __m256i ql0 = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h));
            const __m256i ql1 = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h + 32));
            const __m256i qh = _mm256_loadu_si256((const __m256i *)(b->qh + 32 * h));
            __m256i q[4];
            q[0] = _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_slli_epi16(_mm256_and_si256(qh, m3), 4));
            q[1] = _mm256_or_si256(_mm256_and_si256(ql1, m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m3), 4));
            q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m3), 4));
            q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m3), 4));
            for (int k = 0; k < 4; k++) {
                const __m256i qa = _mm256_loadu_si256((const __m256i *)(y[i].qs + 128 * h + 32 * k));
                const __m256i p = rk_lq_dot16_signed(_mm256_sub_epi8(q[k], o32), qa);
                acc = _mm256_add_epi32(acc, rk_lq_scale2(p, b->scales[8 * h + 2 * k], b->scales[8 * h + 2 * k + 1]));
            }
        }
        const float d = rk_f16_to_f32(b->d) * y[i].d;
        sumf += d * (float)rk_lq_hsum_i32(acc);
    }
    return sumf;
}
#endif

float rk_q6k_vec_dot(int64_t n, const void *w, const void *a) {
#ifdef RK_KERN_X86
    if (rk_kern_use_avx2()) return q6k_vec_dot_avx2(n, w, a);
#endif
    return rk_q6k_vec_dot_ref(n, w, a);
}
