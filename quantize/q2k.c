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

#ifdef RK_KERN_X86
/* q2k_sub_search(search = 1) with the 16 trial steps in 4×4 lanes: each lane runs the scalar loop's operations
 * over the 16 elements in order (its sums, then its error), so the winner and its levels are the same. */
RK_LQ_TGT static void q2k_sub_search_avx2(const double *x, const double *w, double *a_out, double *m_out, int *L) {
    double mn = 0.0, mx = x[0];
    for (int i = 0; i < 16; i++) {
        if (x[i] < mn) mn = x[i];
        if (x[i] > mx) mx = x[i];
    }
    *a_out = 0.0;
    *m_out = -mn;
    for (int i = 0; i < 16; i++) L[i] = 0;
    if (!(mx > mn)) return;
    double best_a = (mx - mn) / 3.0, best_b = mn, best_e = 0.0;
    for (int i = 0; i < 16; i++) L[i] = rk_lq_nearest((x[i] - mn) / best_a, 0, 3);
    for (int i = 0; i < 16; i++) {
        const double r = x[i] - (best_a * L[i] + best_b);
        best_e += (w ? w[i] : 1.0) * r * r;
    }
    double sw = 0.0, sx = 0.0;   /* the same in every trial */
    for (int i = 0; i < 16; i++) {
        const double wi = w ? w[i] : 1.0;
        sw += wi;
        sx += wi * x[i];
    }
    double is[16];
    for (int k = -5; k <= 10; k++) is[k + 5] = (3.0 + 0.1 * k) / (mx - mn);
    const __m256d lo = _mm256_setzero_pd(), hi = _mm256_set1_pd(3.0), zero = _mm256_setzero_pd();
    __m256d iv[4], sl[4], sl2[4], slx[4], Lt[16][4];
    for (int v = 0; v < 4; v++) {
        iv[v] = _mm256_loadu_pd(is + 4 * v);
        sl[v] = sl2[v] = slx[v] = zero;
    }
    for (int i = 0; i < 16; i++) {
        const __m256d xm = _mm256_set1_pd(x[i] - mn), xb = _mm256_set1_pd(x[i]);
        const __m256d wb = _mm256_set1_pd(w ? w[i] : 1.0);
        for (int v = 0; v < 4; v++) {
            const __m256d l = rk_lq_nearest4(_mm256_mul_pd(iv[v], xm), lo, hi);
            const __m256d wl = _mm256_mul_pd(wb, l);
            Lt[i][v] = l;
            sl[v] = _mm256_add_pd(sl[v], wl);
            sl2[v] = _mm256_add_pd(sl2[v], _mm256_mul_pd(wl, l));
            slx[v] = _mm256_add_pd(slx[v], _mm256_mul_pd(wl, xb));
        }
    }
    const __m256d swv = _mm256_set1_pd(sw), sxv = _mm256_set1_pd(sx);
    __m256d av[4], bv[4], ok[4], e[4];
    for (int v = 0; v < 4; v++) {
        const __m256d det = _mm256_sub_pd(_mm256_mul_pd(swv, sl2[v]), _mm256_mul_pd(sl[v], sl[v]));
        const __m256d a1 = _mm256_div_pd(_mm256_sub_pd(_mm256_mul_pd(swv, slx[v]), _mm256_mul_pd(sl[v], sxv)), det);
        const __m256d b1 = _mm256_div_pd(_mm256_sub_pd(_mm256_mul_pd(sl2[v], sxv), _mm256_mul_pd(sl[v], slx[v])), det);
        const __m256d a0 = _mm256_and_pd(_mm256_div_pd(slx[v], sl2[v]), _mm256_cmp_pd(sl2[v], zero, _CMP_GT_OQ));
        const __m256d bpos = _mm256_cmp_pd(b1, zero, _CMP_GT_OQ);
        av[v] = _mm256_blendv_pd(a1, a0, bpos);
        bv[v] = _mm256_andnot_pd(bpos, b1);
        ok[v] = _mm256_and_pd(_mm256_cmp_pd(det, zero, _CMP_GT_OQ), _mm256_cmp_pd(av[v], zero, _CMP_GE_OQ));
        e[v] = zero;
    }
    for (int i = 0; i < 16; i++) {
        const __m256d xb = _mm256_set1_pd(x[i]), wb = _mm256_set1_pd(w ? w[i] : 1.0);
        for (int v = 0; v < 4; v++) {
            const __m256d r = _mm256_sub_pd(xb, _mm256_add_pd(_mm256_mul_pd(av[v], Lt[i][v]), bv[v]));
            e[v] = _mm256_add_pd(e[v], _mm256_mul_pd(_mm256_mul_pd(wb, r), r));
        }
    }
    double ea[16], aa[16], ba[16];
    int okm = 0;
    for (int v = 0; v < 4; v++) {
        _mm256_storeu_pd(ea + 4 * v, e[v]);
        _mm256_storeu_pd(aa + 4 * v, av[v]);
        _mm256_storeu_pd(ba + 4 * v, bv[v]);
        okm |= _mm256_movemask_pd(ok[v]) << (4 * v);
    }
    int best = -1;
    for (int t = 0; t < 16; t++) {
        if (!(okm >> t & 1)) continue;
        if (ea[t] < best_e) { best_e = ea[t]; best_a = aa[t]; best_b = ba[t]; best = t; }
    }
    if (best >= 0)
        for (int i = 0; i < 16; i++) L[i] = rk_lq_nearest(is[best] * (x[i] - mn), 0, 3);
    *a_out = best_a;
    *m_out = -best_b;
}
#endif

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

#ifdef RK_KERN_X86
/* q2k_finish, the same bytes: the levels 4 at a time (rk_lq_levels16), then packed. */
RK_LQ_TGT static void q2k_finish_avx2(const float *x, uint16_t dh, uint16_t mh, const int *sc, const int *mq,
                                      rk_block_q2_k *b) {
    const float d = rk_f16_to_f32(dh), dm = rk_f16_to_f32(mh);
    memset(b, 0, sizeof *b);
    b->d = dh;
    b->dmin = mh;
    uint8_t L[RK_LQ_QK];
    for (int j = 0; j < 16; j++) {
        b->scales[j] = (uint8_t)(sc[j] | (mq[j] << 4));
        rk_lq_levels16(x + 16 * j, d * (float)sc[j], dm * (float)mq[j], 0, 3, 0, L + 16 * j);
    }
    rk_lq_pack2(L, b->qs);
}
#endif

static void q2k_fin(const float *x, uint16_t dh, uint16_t mh, const int *sc, const int *mq, int fast,
                    rk_block_q2_k *b) {
#ifdef RK_KERN_X86
    if (fast) { q2k_finish_avx2(x, dh, mh, sc, mq, b); return; }
#endif
    q2k_finish(x, dh, mh, sc, mq, b);
}

/* Quantize 16 non-negative values v to 0..15 under one scale (weights W may be NULL). */
static double q2k_quant_scales(const double *v, const double *W, int search, rk_lq_sym_fn sym, int *q) {
    double d;
    if (search) {
        d = sym(16, v, W, 0, 15, q);
        if (d == 0.0 && W) d = sym(16, v, NULL, 0, 15, q);
    } else {
        double mx = 0.0;
        for (int j = 0; j < 16; j++) mx = v[j] > mx ? v[j] : mx;
        d = mx / 15.0;
    }
    return d > 0.0 ? d : 0.0;
}

/* One sub-block search: the AVX2 twin when fast (and the CPU has it), else the scalar one. */
static void q2k_sub(const double *x, const double *w, int search, int fast, double *a, double *m, int *L) {
#ifdef RK_KERN_X86
    if (fast && search) { q2k_sub_search_avx2(x, w, a, m, L); return; }
#endif
    q2k_sub_search(x, w, search, a, m, L);
}

/* fast: 1 when the AVX2 kernels may run (rk_kern_use_avx2()), else 0. */
static void q2k_quant_one(const float *x, const float *w, int search, int fast, rk_block_q2_k *b) {
    const rk_lq_sym_fn sym = rk_lq_sym_pick(fast);
    double a[16], m[16], Wa[16], Wm[16];
    int L[16];
    for (int j = 0; j < 16; j++) {
        double xd[16], wd[16];
        for (int i = 0; i < 16; i++) {
            xd[i] = x[16 * j + i];
            wd[i] = w ? w[16 * j + i] : 1.0;
        }
        q2k_sub(xd, w ? wd : NULL, search, fast, &a[j], &m[j], L);
        if (search && w && a[j] == 0.0 && m[j] == 0.0) q2k_sub(xd, NULL, search, fast, &a[j], &m[j], L);
        Wa[j] = Wm[j] = 0.0;
        for (int i = 0; i < 16; i++) {
            Wa[j] += wd[i] * L[i] * L[i];
            Wm[j] += wd[i];
        }
    }
    int sc[16], mq[16];
    const uint16_t dh = rk_lq_f16(q2k_quant_scales(a, Wa, search, sym, sc));
    const uint16_t mh = rk_lq_f16(q2k_quant_scales(m, Wm, search, sym, mq));
    const float dq = rk_f16_to_f32(dh), mq_d = rk_f16_to_f32(mh);
    for (int j = 0; j < 16; j++) {
        sc[j] = dq != 0.0f ? rk_lq_nearest(a[j] / dq, 0, 15) : 0;
        mq[j] = mq_d != 0.0f ? rk_lq_nearest(m[j] / mq_d, 0, 15) : 0;
    }
    q2k_fin(x, dh, mh, sc, mq, fast, b);
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
    q2k_fin(x, rk_lq_f16(nd), rk_lq_f16(nm), sc, mq, fast, &alt);
    if (q2k_block_err(&alt, x, w) < q2k_block_err(b, x, w)) *b = alt;
}

static void q2k_quant_block(const float *x, const float *imp, int fast, rk_block_q2_k *out) {
    float xs[RK_LQ_QK], ws[RK_LQ_QK];
    const int hw = rk_lq_sanitize(x, imp, RK_LQ_QK, xs, ws);
    const float *w = hw ? ws : NULL;
    rk_block_q2_k cand[3];
    int nc = 0;
    if (hw) q2k_quant_one(xs, ws, 1, fast, &cand[nc++]);
    q2k_quant_one(xs, NULL, 1, fast, &cand[nc++]);
    q2k_quant_one(xs, NULL, 0, fast, &cand[nc++]);
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
    for (int64_t i = 0; i < nb; i++) q2k_quant_block(x + i * RK_LQ_QK, imp ? imp + i * RK_LQ_QK : NULL, 0, &y[i]);
}

void rk_q2k_quantize(const float *x, void *dst, int64_t n, const float *imp) {
    rk_block_q2_k *y = dst;
    const int64_t nb = n / RK_LQ_QK;
    const int fast = rk_kern_use_avx2();
#pragma omp parallel for schedule(static) if (nb >= 4)
    for (int64_t i = 0; i < nb; i++) q2k_quant_block(x + i * RK_LQ_QK, imp ? imp + i * RK_LQ_QK : NULL, fast, &y[i]);
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
