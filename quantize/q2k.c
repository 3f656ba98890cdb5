/* quantize/q2k.c — Q2_K (ggml type 10): 256 weights, 16 sub-blocks of 16, each with a 4-bit scale and a 4-bit
 * min (one byte: scale low nibble, min high nibble), 2-bit levels q in [0, 3], F16 d and dmin;
 * x = (d·sc)·q − dmin·m in f32 as ggml's dequantize_row_q2_K (contraction off: see lowquants-impl.h).
 * Sub-block search: candidate steps (3 + 0.1k)/(max − min) from min(0, min x), each refitted as a weighted
 * least-squares line (scale >= 0, offset <= 0); then scales and mins are quantized to 4 bits by the symmetric
 * search (levels 0..15), and (d, dmin) refitted jointly. Layout: quantize/blocks_low.h. */
#include "quantize/lowquants-impl.h"

#include <omp.h>

static inline int q2k_level(const rk_block_q2_k *b, int e) {
    return (b->qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
}

static void q2k_decode(const rk_block_q2_k *b, float *y) {
    const float d = rk_f16_to_f32(b->d), mn = rk_f16_to_f32(b->dmin);
    for (int j = 0; j < 16; j++) {
        const float dl = d * (float)(b->scales[j] & 0xF), ml = mn * (float)(b->scales[j] >> 4);
        for (int i = 0; i < 16; i++) y[16 * j + i] = dl * (float)q2k_level(b, 16 * j + i) - ml;
    }
}

static double q2k_block_err(const rk_block_q2_k *b, const float *x, const float *w) {
    float y[RK_LQ_QK];
    q2k_decode(b, y);
    return rk_lq_err(x, y, w, RK_LQ_QK);
}

/* Best (a >= 0, m >= 0) with x ≈ a·L − m, L in 0..3, for one sub-block of 16 (w may be NULL). */
static void q2k_sub_search(const double *x, const double *w, int search, double *a_out, double *m_out, int *L) {
    double mn = 0.0, mx = x[0];
    for (int i = 0; i < 16; i++) {
        if (x[i] < mn) mn = x[i];
        if (x[i] > mx) mx = x[i];
    }
    *a_out = 0.0;
    *m_out = -mn;
    for (int i = 0; i < 16; i++) L[i] = 0;
    if (!(mx > mn)) return;
    /* plain: a = (max − min)/3, offset min */
    double best_a = (mx - mn) / 3.0, best_b = mn, best_e = INFINITY;
    for (int i = 0; i < 16; i++) L[i] = rk_lq_nearest((x[i] - mn) / best_a, 0, 3);
    if (!search) { *a_out = best_a; *m_out = -best_b; return; }
    best_e = 0.0;
    for (int i = 0; i < 16; i++) {
        const double r = x[i] - (best_a * L[i] + best_b);
        best_e += (w ? w[i] : 1.0) * r * r;
    }
    int Lt[16];
    for (int k = -5; k <= 10; k++) {
        const double is = (3.0 + 0.1 * k) / (mx - mn);
        double sw = 0, sl = 0, sl2 = 0, sx = 0, slx = 0;
        for (int i = 0; i < 16; i++) {
            const int l = rk_lq_nearest(is * (x[i] - mn), 0, 3);
            const double wi = w ? w[i] : 1.0;
            Lt[i] = l;
            sw += wi; sl += wi * l; sl2 += wi * l * l; sx += wi * x[i]; slx += wi * l * x[i];
        }
        const double det = sw * sl2 - sl * sl;
        double a, b;
        if (det > 0.0) {
            a = (sw * slx - sl * sx) / det;
            b = (sl2 * sx - sl * slx) / det;
            if (b > 0.0) { b = 0.0; a = sl2 > 0.0 ? slx / sl2 : 0.0; }
        } else {
            continue;
        }
        if (!(a >= 0.0)) continue;
        double e = 0.0;
        for (int i = 0; i < 16; i++) {
            const double r = x[i] - (a * Lt[i] + b);
            e += (w ? w[i] : 1.0) * r * r;
        }
        if (e < best_e) {
            best_e = e; best_a = a; best_b = b;
            memcpy(L, Lt, sizeof Lt);
        }
    }
    *a_out = best_a;
    *m_out = -best_b;
}

static void q2k_finish(const float *x, uint16_t dh, uint16_t mh, const int *sc, const int *mq, rk_block_q2_k *b) {
    const float d = rk_f16_to_f32(dh), dm = rk_f16_to_f32(mh);
    memset(b, 0, sizeof *b);
    b->d = dh;
    b->dmin = mh;
    for (int j = 0; j < 16; j++) {
        b->scales[j] = (uint8_t)(sc[j] | (mq[j] << 4));
        const float dl = d * (float)sc[j], ml = dm * (float)mq[j];
        for (int i = 0; i < 16; i++) {
            const int e = 16 * j + i;
            const int l = dl != 0.0f ? rk_lq_nearest(((double)x[e] + ml) / dl, 0, 3) : 0;
            b->qs[32 * (e / 128) + e % 32] |= (uint8_t)(l << (2 * ((e % 128) / 32)));
        }
    }
}

/* Quantize 16 non-negative values v to 0..15 under one scale (weights W may be NULL). */
static double q2k_quant_scales(const double *v, const double *W, int search, int *q) {
    double d;
    if (search) {
        d = rk_lq_search_sym(16, v, W, 0, 15, q);
        if (d == 0.0 && W) d = rk_lq_search_sym(16, v, NULL, 0, 15, q);
    } else {
        double mx = 0.0;
        for (int j = 0; j < 16; j++) mx = v[j] > mx ? v[j] : mx;
        d = mx / 15.0;
    }
    return d > 0.0 ? d : 0.0;
}

static void q2k_quant_one(const float *x, const float *w, int search, rk_block_q2_k *b) {
    double a[16], m[16], Wa[16], Wm[16];
    int L[16];
    for (int j = 0; j < 16; j++) {
        double xd[16], wd[16];
        for (int i = 0; i < 16; i++) {
            xd[i] = x[16 * j + i];
            wd[i] = w ? w[16 * j + i] : 1.0;
        }
        q2k_sub_search(xd, w ? wd : NULL, search, &a[j], &m[j], L);
        if (search && w && a[j] == 0.0 && m[j] == 0.0) q2k_sub_search(xd, NULL, search, &a[j], &m[j], L);
        Wa[j] = Wm[j] = 0.0;
        for (int i = 0; i < 16; i++) {
            Wa[j] += wd[i] * L[i] * L[i];
            Wm[j] += wd[i];
        }
    }
    int sc[16], mq[16];
    const uint16_t dh = rk_lq_f16(q2k_quant_scales(a, Wa, search, sc));
    const uint16_t mh = rk_lq_f16(q2k_quant_scales(m, Wm, search, mq));
    const float dq = rk_f16_to_f32(dh), mq_d = rk_f16_to_f32(mh);
    for (int j = 0; j < 16; j++) {
        sc[j] = dq != 0.0f ? rk_lq_nearest(a[j] / dq, 0, 15) : 0;
        mq[j] = mq_d != 0.0f ? rk_lq_nearest(m[j] / mq_d, 0, 15) : 0;
    }
    q2k_finish(x, dh, mh, sc, mq, b);
    if (!search) return;
    /* joint refit of (d, dmin): x ≈ d·u − dmin·v with u = sc·L, v = m */
    double suu = 0, svv = 0, suv = 0, sux = 0, svx = 0;
    for (int e = 0; e < RK_LQ_QK; e++) {
        const double u = (double)sc[e / 16] * q2k_level(b, e), v = mq[e / 16], wi = w ? w[e] : 1.0;
        suu += wi * u * u; svv += wi * v * v; suv += wi * u * v; sux += wi * u * x[e]; svx += wi * v * x[e];
    }
    const double det = suu * svv - suv * suv;
    double nd, nm;
    if (det > 0.0) {
        nd = (sux * svv - svx * suv) / det;
        nm = (sux * suv - svx * suu) / det;     /* coefficient of −v */
        if (nm < 0.0) { nm = 0.0; nd = suu > 0.0 ? sux / suu : 0.0; }
    } else if (suu > 0.0) {
        nd = sux / suu; nm = rk_f16_to_f32(mh);
    } else {
        return;
    }
    if (!(nd >= 0.0)) return;
    rk_block_q2_k alt;
    q2k_finish(x, rk_lq_f16(nd), rk_lq_f16(nm), sc, mq, &alt);
    if (q2k_block_err(&alt, x, w) < q2k_block_err(b, x, w)) *b = alt;
}

static void q2k_quant_block(const float *x, const float *imp, rk_block_q2_k *out) {
    float xs[RK_LQ_QK], ws[RK_LQ_QK];
    const int hw = rk_lq_sanitize(x, imp, RK_LQ_QK, xs, ws);
    const float *w = hw ? ws : NULL;
    rk_block_q2_k cand[3];
    int nc = 0;
    if (hw) q2k_quant_one(xs, ws, 1, &cand[nc++]);
    q2k_quant_one(xs, NULL, 1, &cand[nc++]);
    q2k_quant_one(xs, NULL, 0, &cand[nc++]);
    int best = 0;
    double be = q2k_block_err(&cand[0], xs, w);
    for (int c = 1; c < nc; c++) {
        const double e = q2k_block_err(&cand[c], xs, w);
        if (e < be) { be = e; best = c; }
    }
    memcpy(out, &cand[best], sizeof *out);
}

void rk_q2k_quantize_ref(const float *x, void *dst, int64_t n, const float *imp) {
    rk_block_q2_k *y = dst;
    const int64_t nb = n / RK_LQ_QK;
    for (int64_t i = 0; i < nb; i++) q2k_quant_block(x + i * RK_LQ_QK, imp ? imp + i * RK_LQ_QK : NULL, &y[i]);
}

void rk_q2k_quantize(const float *x, void *dst, int64_t n, const float *imp) {
    rk_block_q2_k *y = dst;
    const int64_t nb = n / RK_LQ_QK;
#pragma omp parallel for schedule(static) if (nb >= 4)
    for (int64_t i = 0; i < nb; i++) q2k_quant_block(x + i * RK_LQ_QK, imp ? imp + i * RK_LQ_QK : NULL, &y[i]);
}

void rk_q2k_dequantize(const void *src, float *dst, int64_t n) {
    const rk_block_q2_k *x = src;
    const int64_t nb = n / RK_LQ_QK;
    for (int64_t i = 0; i < nb; i++) {
        rk_block_q2_k b;
        memcpy(&b, &x[i], sizeof b);
        q2k_decode(&b, dst + i * RK_LQ_QK);
    }
}

float rk_q2k_vec_dot_ref(int64_t n, const void *w, const void *a) {
    const rk_block_q2_k *x = w;
    const rk_lq_q8k *y = a;
    const int64_t nb = n / RK_LQ_QK;
    float sumf = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        int32_t summs = 0, isum = 0;
        for (int j = 0; j < 16; j++) summs += y[i].bsums[j] * (x[i].scales[j] >> 4);
        for (int j = 0; j < 16; j++) {
            int32_t t = 0;
            for (int k = 16 * j; k < 16 * j + 16; k++) t += q2k_level(&x[i], k) * y[i].qs[k];
            isum += (x[i].scales[j] & 0xF) * t;
        }
        const float dall = y[i].d * rk_f16_to_f32(x[i].d);
        const float dmin = y[i].d * rk_f16_to_f32(x[i].dmin);
        sumf += dall * (float)isum - dmin * (float)summs;
    }
    return sumf;
}

#ifdef RK_KERN_X86
RK_LQ_TGT static float q2k_vec_dot_avx2(int64_t n, const void *w, const void *a) {
    const rk_block_q2_k *x = w;
    const rk_lq_q8k *y = a;
    const int64_t nb = n / RK_LQ_QK;
    const __m256i m3 = _mm256_set1_epi8(3);
    float sumf = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        /* mins: Σ bsums[j]·(scales[j] >> 4) */
        const __m128i sc8 = _mm_loadu_si128((const __m128i *)x[i].scales);
        const __m256i mins = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sc8, 4), _mm_set1_epi8(0x0F)));
        const __m256i bs = _mm256_loadu_si256((const __m256i *)y[i].bsums);
        const int32_t summs = rk_lq_hsum_i32(_mm256_madd_epi16(mins, bs));
        __m256i acc = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const __m256i qs = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * h));
            for (int k = 0; k < 4; k++) {
                const __m256i q = _mm256_and_si256(_mm256_srli_epi16(qs, 2 * k), m3);
                const __m256i qa = _mm256_loadu_si256((const __m256i *)(y[i].qs + 128 * h + 32 * k));
                const __m256i p = _mm256_maddubs_epi16(q, qa);
                const int j = 8 * h + 2 * k;
                acc = _mm256_add_epi32(acc, rk_lq_scale2(p, x[i].scales[j] & 0xF, x[i].scales[j + 1] & 0xF));
            }
        }
        const float dall = y[i].d * rk_f16_to_f32(x[i].d);
        const float dmin = y[i].d * rk_f16_to_f32(x[i].dmin);
        sumf += dall * (float)rk_lq_hsum_i32(acc) - dmin * (float)summs;
    }
    return sumf;
}
#endif

float rk_q2k_vec_dot(int64_t n, const void *w, const void *a) {
#ifdef RK_KERN_X86
    if (rk_kern_use_avx2()) return q2k_vec_dot_avx2(n, w, a);
#endif
    return rk_q2k_vec_dot_ref(n, w, a);
}
