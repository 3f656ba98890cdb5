/* quantize/q4k.c — Q4_K (ggml type 12): 256 weights in 8 sub-blocks of 32, x = d·sc_j·q − dmin·m_j with 4-bit q,
 * 6-bit sc/m and half d/dmin (144 bytes, 4.5 bpw). Layout and decoding follow ggml-common.h block_q4_K and
 * ggml-quants.c dequantize_row_q4_K; the dot product against Q8_K follows ggml's integer scheme (exact int32 per
 * super-block, Σ m_j·bsums for the mins). Also home of the K-quant search shared with Q5_K (kquants-impl.h).
 *
 * The search (our own; ggml's bytes are not reproduced, only its decoder):
 *  1. per sub-block, fit x ≈ s·l + b (b <= 0, l in 0..nmax): start from round-to-nearest over [min(x,0), max(x)],
 *     then for 21 trial level spacings (nmax ± 1.0 in steps of 0.1 over the range) round, refit (s, b) by
 *     weighted least squares given the levels, re-round once and refit again; keep the lowest Σ w·(x − x̂)².
 *  2. super-block: d = max s/63, dmin = max(−b)/63 as halves; per sub-block try the 3×3 6-bit (sc, m) codes
 *     around the rounded ones, and m = 0, with levels re-rounded under the real decoded scale/offset; keep the
 *     best.
 *  3. candidates: plain RTN (step 1 without the search, step 2 without the 3×3), the unit-weight search, and —
 *     with imp — the imp-weighted search; the one with the least Σ imp·(x − x̂)² over the decoded block wins
 *     (ties keep the earlier), so imp never makes a block worse under its own weighting than imp == NULL or RTN.
 * quantize_ref runs this scalar; quantize (OpenMP over blocks) runs the same search with its candidates in AVX2
 * lanes where the CPU has AVX2 (rk_kq_quantize_sb_fast, below), every lane doing the scalar operations in the scalar
 * order, so the bytes equal quantize_ref's (tests/quantize/test_qfast.c). */
/* Same bytes with or without FMA contraction (-march=native): every product is rounded before its sum, in the
 * scalar search and in the AVX2 one alike. Before the includes, so that the inline helpers share the setting
 * (GCC does not inline across differing optimize attributes). */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif
#include <math.h>
#include <string.h>

#include "model/kernels/kernels-impl.h"
#include "quantize/kquants-impl.h"

#ifdef RK_KERN_X86
#include <immintrin.h>
#endif

/* Levels for x ≈ s·l + b (s > 0), clamped to 0..nmax; s <= 0 gives 0. */
static void round_levels(const float *x, int nmax, float s, float b, uint8_t *l) {
    const float is = s > 0.0f ? 1.0f / s : 0.0f;
    for (int i = 0; i < 32; i++) l[i] = (uint8_t)rk_kq_clampi(rk_kq_nearest((x[i] - b) * is), 0, nmax);
}

static double sub_err(const float *x, const float *w, const uint8_t *l, float s, float b) {
    double e = 0.0;
    for (int i = 0; i < 32; i++) {
        const double d = (double)(s * (float)l[i] + b) - (double)x[i];
        e += (double)w[i] * d * d;
    }
    return e;
}

/* Weighted sums of one sub-block that do not depend on the levels. */
typedef struct sub_sums { double sw, sx, sxx; } sub_sums;

/* Weighted least squares of x ≈ s·l + b with b <= 0 from the level sums sl = Σ w·l, sll = Σ w·l², sxl = Σ w·x·l;
 * 0 if degenerate. *err gets Σ w·(s·l + b − x)² for the f32-rounded s and b, expanded over the sums. */
static inline int refit_tail(const sub_sums *k, double sl, double sll, double sxl, float *s, float *b,
                             double *err) {
    const double det = k->sw * sll - sl * sl;
    double ss, bb;
    if (det > 1e-12 * k->sw * sll) {
        ss = (k->sw * sxl - sl * k->sx) / det;
        bb = (sll * k->sx - sl * sxl) / det;
        if (bb > 0) { bb = 0; ss = sxl / sll; }
    } else if (sll > 0) {
        bb = 0; ss = sxl / sll;
    } else {
        return 0;
    }
    if (!(ss > 0) || !isfinite(ss) || !isfinite(bb)) return 0;
    *s = (float)ss;
    *b = (float)bb;
    const double fs = *s, fb = *b;
    *err = k->sxx - 2 * fs * sxl - 2 * fb * k->sx + fs * fs * sll + 2 * fs * fb * sl + fb * fb * k->sw;
    return 1;
}

/* refit_tail over the sums of the levels l (in element order). */
static int refit(const float *x, const float *w, const uint8_t *l, const sub_sums *k, float *s, float *b,
                 double *err) {
    double sl = 0, sll = 0, sxl = 0;
    for (int i = 0; i < 32; i++) {
        const double wl = (double)w[i] * l[i];
        sl += wl; sll += wl * l[i]; sxl += wl * x[i];
    }
    return refit_tail(k, sl, sll, sxl, s, b, err);
}

/* Step 1 for one sub-block: scale s >= 0 and min m = −b >= 0. search 0 = plain RTN. */
/* min(x, 0) and max(x) of one sub-block (first extreme wins ties, as the search has always done). */
static inline void sub_range(const float *x, float *plo, float *phi) {
    float lo = x[0], hi = x[0];
    for (int i = 1; i < 32; i++) {
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    *plo = lo > 0.0f ? 0.0f : lo;
    *phi = hi;
}

static inline sub_sums sub_stats(const float *x, const float *w) {
    sub_sums k = { 0, 0, 0 };
    for (int i = 0; i < 32; i++) {
        k.sw += w[i]; k.sx += (double)w[i] * x[i]; k.sxx += (double)w[i] * x[i] * x[i];
    }
    return k;
}

static void fit_sub(const float *x, const float *w, int nmax, int search, float *ps, float *pm) {
    float lo, hi;
    sub_range(x, &lo, &hi);
    if (!(hi > lo)) { *ps = 0.0f; *pm = -lo; return; }
    const float range = hi - lo;
    float bs = range / (float)nmax, bb = lo;
    if (search) {
        const sub_sums k = sub_stats(x, w);
        uint8_t l[32], prev[32], l2[32];
        round_levels(x, nmax, bs, bb, l);
        double be = sub_err(x, w, l, bs, bb);
        memset(prev, 0xFF, sizeof prev);
        for (int t = -10; t <= 10; t++) {
            const float iscale = ((float)nmax + 0.1f * (float)t) / range;
            for (int i = 0; i < 32; i++) l[i] = (uint8_t)rk_kq_clampi(rk_kq_nearest((x[i] - lo) * iscale), 0, nmax);
            if (memcmp(l, prev, 32) == 0) continue;     /* same levels as the previous spacing: same fit */
            memcpy(prev, l, 32);
            float s, b;
            double e;
            if (!refit(x, w, l, &k, &s, &b, &e)) continue;
            if (e < be) { be = e; bs = s; bb = b; }
            round_levels(x, nmax, s, b, l2);             /* one Lloyd step: re-round under the fit, refit */
            if (memcmp(l2, l, 32) == 0 || !refit(x, w, l2, &k, &s, &b, &e)) continue;
            if (e < be) { be = e; bs = s; bb = b; }
        }
    }
    *ps = bs;
    *pm = -bb;
}

/* Levels of one sub-block under the decoded scale ds = d·sc and offset dm = dmin·m; returns the weighted error
 * of the decoded values ds·l − dm (the decoder's exact f32 arithmetic). */
static double sub_eval(const float *x, const float *w, int nmax, float ds, float dm, uint8_t *l) {
    const float id = ds > 0.0f ? 1.0f / ds : 0.0f;
    double e = 0.0;
    for (int i = 0; i < 32; i++) {
        const int q = ds > 0.0f ? rk_kq_clampi(rk_kq_nearest((x[i] + dm) * id), 0, nmax) : 0;
        l[i] = (uint8_t)q;
        const float p = ds * (float)q;
        const double d = (double)(p - dm) - (double)x[i];
        e += (double)w[i] * d * d;
    }
    return e;
}

/* The super-block scales of step 2: d and dmin from the largest sub-block scale and min (as f16; fd, fdm as f32). */
static void sb_scales(const float *s, const float *m, rk_kq_sb *out, float *fd, float *fdm) {
    float maxs = 0.0f, maxm = 0.0f;
    for (int j = 0; j < 8; j++) {
        maxs = s[j] > maxs ? s[j] : maxs;
        maxm = m[j] > maxm ? m[j] : maxm;
    }
    out->d = rk_kq_f16(maxs / 63.0f);
    out->dmin = rk_kq_f16(maxm / 63.0f);
    *fd = rk_f16_to_f32(out->d), *fdm = rk_f16_to_f32(out->dmin);
}

/* Step 2: super-block codes from per-sub-block (s, m); refine: try the 3×3 codes around the rounded ones. */
static double build_sb(const float *x, const float *w, int nmax, const float *s, const float *m, int refine,
                       rk_kq_sb *out) {
    float fd, fdm;
    sb_scales(s, m, out, &fd, &fdm);
    const int r = refine ? 1 : 0;
    double total = 0.0;
    for (int j = 0; j < 8; j++) {
        const float *xj = x + 32 * j, *wj = w + 32 * j;
        const int ls0 = fd > 0.0f ? rk_kq_clampi(rk_kq_nearest(s[j] / fd), 0, 63) : 0;
        const int lm0 = fdm > 0.0f ? rk_kq_clampi(rk_kq_nearest(m[j] / fdm), 0, 63) : 0;
        double be = INFINITY;
        uint8_t l[32];
        for (int da = -r; da <= r; da++) {
            for (int db = -r; db <= r + 1; db++) {
                /* the extra db: m = 0 (no offset), which bounds the error by Σ w·x² even when the halves
                 * d/dmin round badly (tiny blocks near the f16 subnormal range) */
                const int ls = ls0 + da, lm = db == r + 1 ? 0 : lm0 + db;
                if (ls < 0 || ls > 63 || lm < 0 || lm > 63) continue;
                if (db == r + 1 && lm0 - r <= 0) continue;   /* m = 0 already tried */
                const double e = sub_eval(xj, wj, nmax, fd * (float)ls, fdm * (float)lm, l);
                if (e < be || be == INFINITY) {
                    be = e;
                    out->sc[j] = (uint8_t)ls;
                    out->m[j] = (uint8_t)lm;
                    memcpy(out->L + 32 * j, l, 32);
                }
            }
        }
        total += be;
    }
    return total;
}

/* Σ w·(x − decoded)² of an unpacked super-block. */
static double sb_err(const float *x, const float *w, const rk_kq_sb *sb) {
    const float fd = rk_f16_to_f32(sb->d), fdm = rk_f16_to_f32(sb->dmin);
    double e = 0.0;
    for (int j = 0; j < 8; j++) {
        const float ds = fd * (float)sb->sc[j], dm = fdm * (float)sb->m[j];
        for (int i = 0; i < 32; i++) {
            const float p = ds * (float)sb->L[32 * j + i];
            const double d = (double)(p - dm) - (double)x[32 * j + i];
            e += (double)w[32 * j + i] * d * d;
        }
    }
    return e;
}

static void search_sb(const float *x, const float *w, int nmax, int search, rk_kq_sb *out) {
    float s[8], m[8];
    for (int j = 0; j < 8; j++) fit_sub(x + 32 * j, w + 32 * j, nmax, search, &s[j], &m[j]);
    build_sb(x, w, nmax, s, m, search, out);
}

void rk_kq_quantize_sb(const float *x_in, const float *imp, int nmax, rk_kq_sb *out) {
    float x[RK_QK_K], w1[RK_QK_K], wi[RK_QK_K];
    rk_kq_sanitize(x_in, x, RK_QK_K);
    rk_kq_weights(NULL, w1, RK_QK_K);
    const float *wcmp = w1;
    if (imp) {
        rk_kq_weights(imp, wi, RK_QK_K);
        wcmp = wi;
    }
    rk_kq_sb cand;
    search_sb(x, w1, nmax, 1, out);                 /* the imp == NULL result */
    double best = sb_err(x, wcmp, out);
    search_sb(x, w1, nmax, 0, &cand);               /* plain round-to-nearest */
    double e = sb_err(x, wcmp, &cand);
    if (e < best) { best = e; *out = cand; }
    if (imp) {
        search_sb(x, wi, nmax, 1, &cand);
        e = sb_err(x, wcmp, &cand);
        if (e < best) { best = e; *out = cand; }
    }
}

void rk_kq_pack_scales(const rk_kq_sb *sb, uint8_t scales[RK_K_SCALE_SIZE]) {
    memset(scales, 0, RK_K_SCALE_SIZE);
    for (int j = 0; j < 8; j++) rk_kq_put_scale_min(j, scales, sb->sc[j], sb->m[j]);
}

/* ---- the same search, vectorised (AVX2) ACROSS candidates: the 21 trial spacings of fit_sub and the 3×4 codes of
 * build_sb sit in SIMD lanes, and each lane sums its sub-block's elements in element order, exactly as the scalar
 * loop does; elementwise f32 work is the same operations in the same order (no FMA: fp-contract is off above and
 * the target has no fma), rounding is round-half-even (cvtps_epi32) after clamping to 0..nmax, which equals
 * rk_kq_clampi(rk_kq_nearest(v), 0, nmax) for every v (NaN -> 0). So the bytes equal the scalar search's. The
 * scalar search skips a trial whose levels equal the previous trial's; evaluating it anyway cannot change the
 * winner (identical errors never pass the strict e < be test), so the lanes do not skip. */
#ifdef RK_KERN_X86
#define KQ_TGT __attribute__((target("avx2")))
#define KQ_NT 24   /* trial lanes: t = −10..10, then 3 repeats of t = 10 */

/* clamp(nearest_even(v), 0, nmax) per lane; max_ps returns its second operand for NaN, so NaN -> 0. */
KQ_TGT static inline __m256i kq_lev8(__m256 v, __m256 vmax) {
    return _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(v, _mm256_setzero_ps()), vmax));
}

/* Level sums of 8 lanes for one element: sl += w·l, sll += w·l·l, sxl += w·l·x (double, as refit). */
KQ_TGT static inline void kq_acc(__m256i l, __m256d wd, __m256d xd, __m256d *sl, __m256d *sll, __m256d *sxl) {
    const __m256d l0 = _mm256_cvtepi32_pd(_mm256_castsi256_si128(l));
    const __m256d l1 = _mm256_cvtepi32_pd(_mm256_extracti128_si256(l, 1));
    const __m256d wl0 = _mm256_mul_pd(wd, l0), wl1 = _mm256_mul_pd(wd, l1);
    sl[0] = _mm256_add_pd(sl[0], wl0);
    sl[1] = _mm256_add_pd(sl[1], wl1);
    sll[0] = _mm256_add_pd(sll[0], _mm256_mul_pd(wl0, l0));
    sll[1] = _mm256_add_pd(sll[1], _mm256_mul_pd(wl1, l1));
    sxl[0] = _mm256_add_pd(sxl[0], _mm256_mul_pd(wl0, xd));
    sxl[1] = _mm256_add_pd(sxl[1], _mm256_mul_pd(wl1, xd));
}

/* Unit weights (w_i = 1): Σ l and Σ l² are small integers, exact in int32 lanes; only Σ l·x needs double. */
KQ_TGT static inline void kq_acc_unit(__m256i l, __m256d xd, __m256i *sl, __m256i *sll, __m256d *sxl) {
    *sl = _mm256_add_epi32(*sl, l);
    *sll = _mm256_add_epi32(*sll, _mm256_madd_epi16(l, l));
    sxl[0] = _mm256_add_pd(sxl[0], _mm256_mul_pd(_mm256_cvtepi32_pd(_mm256_castsi256_si128(l)), xd));
    sxl[1] = _mm256_add_pd(sxl[1], _mm256_mul_pd(_mm256_cvtepi32_pd(_mm256_extracti128_si256(l, 1)), xd));
}

/* Σ over the 32 elements of the levels of 24 lanes: L[i][v] (v: lanes 8v..8v+7) into sl/sll/sxl[6] (4 lanes each). */
KQ_TGT static void kq_lane_sums(const float *x, const float *w, int unit, const __m256i (*L)[3], __m256d *sl,
                                __m256d *sll, __m256d *sxl) {
    for (int v = 0; v < 6; v++) sl[v] = sll[v] = sxl[v] = _mm256_setzero_pd();
    if (unit) {
        __m256i isl[3], isll[3];
        for (int v = 0; v < 3; v++) isl[v] = isll[v] = _mm256_setzero_si256();
        for (int i = 0; i < 32; i++) {
            const __m256d xd = _mm256_set1_pd((double)x[i]);
            for (int v = 0; v < 3; v++) kq_acc_unit(L[i][v], xd, &isl[v], &isll[v], &sxl[2 * v]);
        }
        for (int v = 0; v < 3; v++) {
            sl[2 * v] = _mm256_cvtepi32_pd(_mm256_castsi256_si128(isl[v]));
            sl[2 * v + 1] = _mm256_cvtepi32_pd(_mm256_extracti128_si256(isl[v], 1));
            sll[2 * v] = _mm256_cvtepi32_pd(_mm256_castsi256_si128(isll[v]));
            sll[2 * v + 1] = _mm256_cvtepi32_pd(_mm256_extracti128_si256(isll[v], 1));
        }
    } else {
        for (int i = 0; i < 32; i++) {
            const __m256d wd = _mm256_set1_pd((double)w[i]), xd = _mm256_set1_pd((double)x[i]);
            for (int v = 0; v < 3; v++) kq_acc(L[i][v], wd, xd, &sl[2 * v], &sll[2 * v], &sxl[2 * v]);
        }
    }
}

/* refit_tail in 4 lanes, the same operations in the same order per lane; each branch computed and blended.
 * ok (all-ones lanes) where refit_tail returns 1; there s, b are its f32 results and the return its error;
 * elsewhere s = 1, b = 0 (harmless placeholders). */
KQ_TGT static __m256d kq_refit4(const sub_sums *k, __m256d sl, __m256d sll, __m256d sxl, __m256d *ok, __m128 *s,
                                __m128 *b) {
    const __m256d sw = _mm256_set1_pd(k->sw), sx = _mm256_set1_pd(k->sx), zero = _mm256_setzero_pd();
    const __m256d det = _mm256_sub_pd(_mm256_mul_pd(sw, sll), _mm256_mul_pd(sl, sl));
    const __m256d c1 = _mm256_cmp_pd(det, _mm256_mul_pd(_mm256_mul_pd(_mm256_set1_pd(1e-12), sw), sll), _CMP_GT_OQ);
    const __m256d ss1 = _mm256_div_pd(_mm256_sub_pd(_mm256_mul_pd(sw, sxl), _mm256_mul_pd(sl, sx)), det);
    const __m256d bb1 = _mm256_div_pd(_mm256_sub_pd(_mm256_mul_pd(sll, sx), _mm256_mul_pd(sl, sxl)), det);
    const __m256d ss0 = _mm256_div_pd(sxl, sll);
    const __m256d use1 = _mm256_andnot_pd(_mm256_cmp_pd(bb1, zero, _CMP_GT_OQ), c1);
    const __m256d ss = _mm256_blendv_pd(ss0, ss1, use1), bb = _mm256_and_pd(bb1, use1);
    const __m256d inf = _mm256_set1_pd(INFINITY), absm = _mm256_castsi256_pd(_mm256_set1_epi64x(INT64_MAX));
    __m256d m = _mm256_or_pd(c1, _mm256_cmp_pd(sll, zero, _CMP_GT_OQ));
    m = _mm256_and_pd(m, _mm256_cmp_pd(ss, zero, _CMP_GT_OQ));
    m = _mm256_and_pd(m, _mm256_cmp_pd(_mm256_and_pd(ss, absm), inf, _CMP_LT_OQ));
    m = _mm256_and_pd(m, _mm256_cmp_pd(_mm256_and_pd(bb, absm), inf, _CMP_LT_OQ));
    const __m128 fs4 = _mm256_cvtpd_ps(ss), fb4 = _mm256_cvtpd_ps(bb);
    const __m256d fs = _mm256_cvtps_pd(fs4), fb = _mm256_cvtps_pd(fb4), two = _mm256_set1_pd(2.0);
    const __m256d fs2 = _mm256_mul_pd(two, fs);
    __m256d e = _mm256_sub_pd(_mm256_set1_pd(k->sxx), _mm256_mul_pd(fs2, sxl));
    e = _mm256_sub_pd(e, _mm256_mul_pd(_mm256_mul_pd(two, fb), sx));
    e = _mm256_add_pd(e, _mm256_mul_pd(_mm256_mul_pd(fs, fs), sll));
    e = _mm256_add_pd(e, _mm256_mul_pd(_mm256_mul_pd(fs2, fb), sl));
    e = _mm256_add_pd(e, _mm256_mul_pd(_mm256_mul_pd(fb, fb), sw));
    const __m128i mi = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(_mm256_castpd_si256(m),
                                                                           _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7)));
    *s = _mm_blendv_ps(_mm_set1_ps(1.0f), fs4, _mm_castsi128_ps(mi));
    *b = _mm_and_ps(fb4, _mm_castsi128_ps(mi));
    *ok = m;
    return e;
}

/* fit_sub(search = 1). unit: every w_i is 1.0f. */
KQ_TGT static void fit_sub_avx2(const float *x, const float *w, int unit, int nmax, float *ps, float *pm) {
    float lo, hi;
    sub_range(x, &lo, &hi);
    if (!(hi > lo)) { *ps = 0.0f; *pm = -lo; return; }
    const float range = hi - lo;
    float bs = range / (float)nmax, bb = lo;
    const sub_sums k = sub_stats(x, w);
    uint8_t l0[32];
    round_levels(x, nmax, bs, bb, l0);
    double be = sub_err(x, w, l0, bs, bb);

    _Alignas(32) float isc[KQ_NT];
    for (int t = 0; t < KQ_NT; t++) {
        const int tt = t < 21 ? t - 10 : 10;
        isc[t] = ((float)nmax + 0.1f * (float)tt) / range;
    }
    const __m256 vmax = _mm256_set1_ps((float)nmax);
    __m256i L1[32][3];
    for (int i = 0; i < 32; i++) {
        const __m256 xb = _mm256_set1_ps(x[i] - lo);
        for (int v = 0; v < 3; v++) L1[i][v] = kq_lev8(_mm256_mul_ps(xb, _mm256_load_ps(isc + 8 * v)), vmax);
    }
    __m256d sl[6], sll[6], sxl[6], okv;
    kq_lane_sums(x, w, unit, (const __m256i(*)[3])L1, sl, sll, sxl);
    _Alignas(32) double e1[KQ_NT], e2[KQ_NT];
    uint32_t ok1 = 0, ok2 = 0;   /* bit t: lane t's refit succeeded */
    _Alignas(32) float s1[KQ_NT], b1[KQ_NT], s2[KQ_NT], b2[KQ_NT];
    for (int v = 0; v < 6; v++) {
        __m128 s4, b4;
        _mm256_store_pd(e1 + 4 * v, kq_refit4(&k, sl[v], sll[v], sxl[v], &okv, &s4, &b4));
        ok1 |= (uint32_t)_mm256_movemask_pd(okv) << (4 * v);
        _mm_store_ps(s1 + 4 * v, s4);
        _mm_store_ps(b1 + 4 * v, b4);
    }
    /* one Lloyd step per lane: re-round under the lane's fit (round_levels), note which lanes changed */
    __m256i diff[3], L2[32][3];
    __m256 sv[3], bv[3];
    for (int v = 0; v < 3; v++) {
        const __m256 s8 = _mm256_load_ps(s1 + 8 * v);
        const __m256 inv = _mm256_div_ps(_mm256_set1_ps(1.0f), s8);
        sv[v] = _mm256_and_ps(inv, _mm256_cmp_ps(s8, _mm256_setzero_ps(), _CMP_GT_OQ));   /* s > 0 ? 1/s : 0 */
        bv[v] = _mm256_load_ps(b1 + 8 * v);
        diff[v] = _mm256_setzero_si256();
    }
    for (int i = 0; i < 32; i++) {
        const __m256 xb = _mm256_set1_ps(x[i]);
        for (int v = 0; v < 3; v++) {
            L2[i][v] = kq_lev8(_mm256_mul_ps(_mm256_sub_ps(xb, bv[v]), sv[v]), vmax);
            diff[v] = _mm256_or_si256(diff[v], _mm256_xor_si256(L2[i][v], L1[i][v]));
        }
    }
    _Alignas(32) int32_t dl[KQ_NT];
    for (int v = 0; v < 3; v++) _mm256_store_si256((__m256i *)(dl + 8 * v), diff[v]);
    kq_lane_sums(x, w, unit, (const __m256i(*)[3])L2, sl, sll, sxl);
    for (int v = 0; v < 6; v++) {
        __m128 s4, b4;
        _mm256_store_pd(e2 + 4 * v, kq_refit4(&k, sl[v], sll[v], sxl[v], &okv, &s4, &b4));
        ok2 |= (uint32_t)_mm256_movemask_pd(okv) << (4 * v);
        _mm_store_ps(s2 + 4 * v, s4);
        _mm_store_ps(b2 + 4 * v, b4);
    }
    for (int t = 0; t < 21; t++) {          /* the scalar loop's order of comparisons */
        if (!(ok1 >> t & 1)) continue;
        if (e1[t] < be) { be = e1[t]; bs = s1[t]; bb = b1[t]; }
        if (dl[t] == 0 || !(ok2 >> t & 1)) continue;
        if (e2[t] < be) { be = e2[t]; bs = s2[t]; bb = b2[t]; }
    }
    *ps = bs;
    *pm = -bb;
}

/* build_sb(refine = 1): the 3×4 (sc, m) codes of each sub-block in 12 lanes. */
KQ_TGT static void build_sb_avx2(const float *x, const float *w, int nmax, const float *s, const float *m,
                                 rk_kq_sb *out) {
    float fd, fdm;
    sb_scales(s, m, out, &fd, &fdm);
    const __m256 vmax = _mm256_set1_ps((float)nmax);
    for (int j = 0; j < 8; j++) {
        const float *xj = x + 32 * j, *wj = w + 32 * j;
        const int ls0 = fd > 0.0f ? rk_kq_clampi(rk_kq_nearest(s[j] / fd), 0, 63) : 0;
        const int lm0 = fdm > 0.0f ? rk_kq_clampi(rk_kq_nearest(m[j] / fdm), 0, 63) : 0;
        /* lane c: da = c/4 − 1, db = c%4 − 1 (db = 2: m = 0), as build_sb's loops visit them */
        _Alignas(32) float ds[16], dm[16], id[16];
        int ls[12], lm[12], ok[12];
        for (int c = 0; c < 16; c++) {
            const int cc = c < 12 ? c : 5;   /* lanes 12-15 repeat lane 5 (da = db = 0) */
            const int da = cc / 4 - 1, db = cc % 4 - 1;
            const int a = ls0 + da, b = db == 2 ? 0 : lm0 + db;
            const int valid = !(a < 0 || a > 63 || b < 0 || b > 63) && !(db == 2 && lm0 - 1 <= 0);
            const int sa = valid ? a : ls0, sb = valid ? b : lm0;
            ds[c] = fd * (float)sa;
            dm[c] = fdm * (float)sb;
            id[c] = ds[c] > 0.0f ? 1.0f / ds[c] : 0.0f;
            if (c < 12) { ls[c] = sa; lm[c] = sb; ok[c] = valid; }
        }
        const __m256 ds0 = _mm256_load_ps(ds), ds1 = _mm256_load_ps(ds + 8);
        const __m256 dm0 = _mm256_load_ps(dm), dm1 = _mm256_load_ps(dm + 8);
        const __m256 id0 = _mm256_load_ps(id), id1 = _mm256_load_ps(id + 8);
        __m256d e0 = _mm256_setzero_pd(), e1 = _mm256_setzero_pd(), e2 = _mm256_setzero_pd();
        for (int i = 0; i < 32; i++) {
            const __m256 xb = _mm256_set1_ps(xj[i]);
            const __m256d xd = _mm256_set1_pd((double)xj[i]), wd = _mm256_set1_pd((double)wj[i]);
            const __m256i q0 = kq_lev8(_mm256_mul_ps(_mm256_add_ps(xb, dm0), id0), vmax);
            const __m256i q1 = kq_lev8(_mm256_mul_ps(_mm256_add_ps(xb, dm1), id1), vmax);
            const __m256 r0 = _mm256_sub_ps(_mm256_mul_ps(ds0, _mm256_cvtepi32_ps(q0)), dm0);
            const __m256 r1 = _mm256_sub_ps(_mm256_mul_ps(ds1, _mm256_cvtepi32_ps(q1)), dm1);
            const __m256d d0 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(r0)), xd);
            const __m256d d1 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(r0, 1)), xd);
            const __m256d d2 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(r1)), xd);
            e0 = _mm256_add_pd(e0, _mm256_mul_pd(_mm256_mul_pd(wd, d0), d0));
            e1 = _mm256_add_pd(e1, _mm256_mul_pd(_mm256_mul_pd(wd, d1), d1));
            e2 = _mm256_add_pd(e2, _mm256_mul_pd(_mm256_mul_pd(wd, d2), d2));
        }
        double err[12];
        _mm256_storeu_pd(err, e0);
        _mm256_storeu_pd(err + 4, e1);
        _mm256_storeu_pd(err + 8, e2);
        double be = INFINITY;
        int best = -1;
        for (int c = 0; c < 12; c++) {
            if (!ok[c]) continue;
            if (err[c] < be || be == INFINITY) { be = err[c]; best = c; }
        }
        /* lane 5 (da = db = 0) is always valid, so best >= 0 */
        out->sc[j] = (uint8_t)ls[best];
        out->m[j] = (uint8_t)lm[best];
        const __m256 bd = _mm256_set1_ps(dm[best]), bi = _mm256_set1_ps(id[best]);
        for (int i = 0; i < 32; i += 8) {
            const __m256i q = kq_lev8(_mm256_mul_ps(_mm256_add_ps(_mm256_loadu_ps(xj + i), bd), bi), vmax);
            const __m128i q16 = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
            _mm_storel_epi64((__m128i *)(out->L + 32 * j + i), _mm_packus_epi16(q16, q16));
        }
    }
}

KQ_TGT static void search_sb_avx2(const float *x, const float *w, int unit, int nmax, rk_kq_sb *out) {
    float s[8], m[8];
    for (int j = 0; j < 8; j++) fit_sub_avx2(x + 32 * j, w + 32 * j, unit, nmax, &s[j], &m[j]);
    build_sb_avx2(x, w, nmax, s, m, out);
}

KQ_TGT static void quantize_sb_avx2(const float *x_in, const float *imp, int nmax, rk_kq_sb *out) {
    float x[RK_QK_K], w1[RK_QK_K], wi[RK_QK_K];
    rk_kq_sanitize(x_in, x, RK_QK_K);
    rk_kq_weights(NULL, w1, RK_QK_K);
    const float *wcmp = w1;
    if (imp) {
        rk_kq_weights(imp, wi, RK_QK_K);
        wcmp = wi;
    }
    rk_kq_sb cand;
    search_sb_avx2(x, w1, 1, nmax, out);
    double best = sb_err(x, wcmp, out);
    search_sb(x, w1, nmax, 0, &cand);
    double e = sb_err(x, wcmp, &cand);
    if (e < best) { best = e; *out = cand; }
    if (imp) {
        search_sb_avx2(x, wi, 0, nmax, &cand);
        e = sb_err(x, wcmp, &cand);
        if (e < best) { best = e; *out = cand; }
    }
}
#endif

void rk_kq_quantize_sb_fast(const float *x, const float *imp, int nmax, rk_kq_sb *out) {
#ifdef RK_KERN_X86
    if (rk_kern_use_avx2()) { quantize_sb_avx2(x, imp, nmax, out); return; }
#endif
    rk_kq_quantize_sb(x, imp, nmax, out);
}

/* ---- Q4_K block kernels */

static void q4k_block(const float *x, const float *imp, int fast, rk_block_q4_k *y) {
    rk_kq_sb sb;
    if (fast) rk_kq_quantize_sb_fast(x, imp, 15, &sb);
    else rk_kq_quantize_sb(x, imp, 15, &sb);
    rk_block_q4_k b;
    b.d = sb.d;
    b.dmin = sb.dmin;
    rk_kq_pack_scales(&sb, b.scales);
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++)
            b.qs[32 * c + l] = (uint8_t)(sb.L[64 * c + l] | (sb.L[64 * c + 32 + l] << 4));
    memcpy(y, &b, sizeof b);
}

void rk_q4k_quantize_ref(const float *x, void *dst, int64_t n, const float *imp) {
    rk_block_q4_k *y = dst;
    const int64_t nb = n / RK_QK_K;
    for (int64_t i = 0; i < nb; i++) q4k_block(x + i * RK_QK_K, imp ? imp + i * RK_QK_K : NULL, 0, &y[i]);
}

void rk_q4k_quantize(const float *x, void *dst, int64_t n, const float *imp) {
    rk_block_q4_k *y = dst;
    const int64_t nb = n / RK_QK_K;
#pragma omp parallel for schedule(static) if (nb >= RK_KQ_OMP_MIN_BLOCKS)
    for (int64_t i = 0; i < nb; i++) q4k_block(x + i * RK_QK_K, imp ? imp + i * RK_QK_K : NULL, 1, &y[i]);
}

/* fp-contract off: the decoder must round d1·q before subtracting m1, as ggml's does (no FMA even with -march). */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("fp-contract=off")))
#endif
void rk_q4k_dequantize(const void *src, float *dst, int64_t n) {
    const rk_block_q4_k *xb = src;
    const int64_t nb = n / RK_QK_K;
    for (int64_t i = 0; i < nb; i++) {
        rk_block_q4_k b;
        memcpy(&b, &xb[i], sizeof b);
        const float d = rk_f16_to_f32(b.d), dmin = rk_f16_to_f32(b.dmin);
        float *y = dst + i * RK_QK_K;
        for (int c = 0; c < 4; c++) {
            uint8_t sc, m;
            rk_kq_get_scale_min(2 * c, b.scales, &sc, &m);
            const float d1 = d * sc, m1 = dmin * m;
            rk_kq_get_scale_min(2 * c + 1, b.scales, &sc, &m);
            const float d2 = d * sc, m2 = dmin * m;
            const uint8_t *q = b.qs + 32 * c;
            for (int l = 0; l < 32; l++) y[64 * c + l] = d1 * (float)(q[l] & 0xF) - m1;
            for (int l = 0; l < 32; l++) y[64 * c + 32 + l] = d2 * (float)(q[l] >> 4) - m2;
        }
    }
}

/* ---- dot product with Q8_K activations */

float rk_q4k_vec_dot_ref(int64_t n, const void *w, const void *a) {
    const rk_block_q4_k *x = w;
    const rk_block_q8_k *y = a;
    const int64_t nb = n / RK_QK_K;
    float sumf = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        int32_t isum = 0, msum = 0;
        for (int j = 0; j < 8; j++) {
            uint8_t sc, m;
            rk_kq_get_scale_min(j, x[i].scales, &sc, &m);
            msum += (int32_t)m * (y[i].bsums[2 * j] + y[i].bsums[2 * j + 1]);
            const uint8_t *q = x[i].qs + 32 * (j / 2);
            const int8_t *q8 = y[i].qs + 32 * j;
            const int shift = (j & 1) * 4;
            int32_t s = 0;
            for (int l = 0; l < 32; l++) s += ((q[l] >> shift) & 0xF) * q8[l];
            isum += (int32_t)sc * s;
        }
        const float dw = rk_f16_to_f32(x[i].d) * y[i].d;
        const float dmw = rk_f16_to_f32(x[i].dmin) * y[i].d;
        sumf += dw * (float)isum - dmw * (float)msum;
    }
    return sumf;
}

#ifdef RK_KERN_X86
#define TGT __attribute__((target("avx2,fma,f16c")))

TGT static float q4k_dot_avx2(int64_t n, const rk_block_q4_k *x, const rk_block_q8_k *y) {
    const int64_t nb = n / RK_QK_K;
    const __m256i m4 = _mm256_set1_epi8(0xF);
    __m256 acc = _mm256_setzero_ps();
    float accm = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        uint8_t sc[8], mn[8];
        int32_t msum = 0;
        for (int j = 0; j < 8; j++) {
            rk_kq_get_scale_min(j, x[i].scales, &sc[j], &mn[j]);
            msum += (int32_t)mn[j] * (y[i].bsums[2 * j] + y[i].bsums[2 * j + 1]);
        }
        __m256i isum = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            const __m256i q4 = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * c));
            const __m256i lo = _mm256_and_si256(q4, m4);
            const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q4, 4), m4);
            const __m256i a0 = _mm256_loadu_si256((const __m256i *)(y[i].qs + 64 * c));
            const __m256i a1 = _mm256_loadu_si256((const __m256i *)(y[i].qs + 64 * c + 32));
            const __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, a0), _mm256_set1_epi16(sc[2 * c]));
            const __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, a1), _mm256_set1_epi16(sc[2 * c + 1]));
            isum = _mm256_add_epi32(isum, _mm256_add_epi32(p0, p1));
        }
        const float dw = rk_f16_to_f32(x[i].d) * y[i].d;
        const float dmw = rk_f16_to_f32(x[i].dmin) * y[i].d;
        acc = _mm256_fmadd_ps(_mm256_set1_ps(dw), _mm256_cvtepi32_ps(isum), acc);
        accm += dmw * (float)msum;
    }
    return rk_kern_hsum8(acc) - accm;
}
#endif

float rk_q4k_vec_dot(int64_t n, const void *w, const void *a) {
#ifdef RK_KERN_X86
    if (rk_kern_use_avx2()) return q4k_dot_avx2(n, w, a);
#endif
    return rk_q4k_vec_dot_ref(n, w, a);
}
