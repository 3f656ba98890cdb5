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
 * All arithmetic is scalar and in a fixed order, so quantize (OpenMP over blocks) equals quantize_ref. */
#include <math.h>
#include <string.h>

#include "model/kernels/kernels-impl.h"
#include "quantize/kquants-impl.h"

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

/* Weighted least squares of x ≈ s·l + b with b <= 0 given the levels; 0 if degenerate. *err gets
 * Σ w·(s·l + b − x)² for the f32-rounded s and b, expanded over the sums (no second pass). */
static int refit(const float *x, const float *w, const uint8_t *l, const sub_sums *k, float *s, float *b,
                 double *err) {
    double sl = 0, sll = 0, sxl = 0;
    for (int i = 0; i < 32; i++) {
        const double wl = (double)w[i] * l[i];
        sl += wl; sll += wl * l[i]; sxl += wl * x[i];
    }
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

/* Step 1 for one sub-block: scale s >= 0 and min m = −b >= 0. search 0 = plain RTN. */
static void fit_sub(const float *x, const float *w, int nmax, int search, float *ps, float *pm) {
    float lo = x[0], hi = x[0];
    for (int i = 1; i < 32; i++) {
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    if (lo > 0.0f) lo = 0.0f;
    if (!(hi > lo)) { *ps = 0.0f; *pm = -lo; return; }
    const float range = hi - lo;
    float bs = range / (float)nmax, bb = lo;
    if (search) {
        sub_sums k = { 0, 0, 0 };
        for (int i = 0; i < 32; i++) {
            k.sw += w[i]; k.sx += (double)w[i] * x[i]; k.sxx += (double)w[i] * x[i] * x[i];
        }
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

/* Step 2: super-block codes from per-sub-block (s, m); refine: try the 3×3 codes around the rounded ones. */
static double build_sb(const float *x, const float *w, int nmax, const float *s, const float *m, int refine,
                       rk_kq_sb *out) {
    float maxs = 0.0f, maxm = 0.0f;
    for (int j = 0; j < 8; j++) {
        maxs = s[j] > maxs ? s[j] : maxs;
        maxm = m[j] > maxm ? m[j] : maxm;
    }
    out->d = rk_kq_f16(maxs / 63.0f);
    out->dmin = rk_kq_f16(maxm / 63.0f);
    const float fd = rk_f16_to_f32(out->d), fdm = rk_f16_to_f32(out->dmin);
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

/* ---- Q4_K block kernels */

static void q4k_block(const float *x, const float *imp, rk_block_q4_k *y) {
    rk_kq_sb sb;
    rk_kq_quantize_sb(x, imp, 15, &sb);
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
    for (int64_t i = 0; i < nb; i++) q4k_block(x + i * RK_QK_K, imp ? imp + i * RK_QK_K : NULL, &y[i]);
}

void rk_q4k_quantize(const float *x, void *dst, int64_t n, const float *imp) {
    rk_block_q4_k *y = dst;
    const int64_t nb = n / RK_QK_K;
#pragma omp parallel for schedule(static) if (nb >= RK_KQ_OMP_MIN_BLOCKS)
    for (int64_t i = 0; i < nb; i++) q4k_block(x + i * RK_QK_K, imp ? imp + i * RK_QK_K : NULL, &y[i]);
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
#include <immintrin.h>
#define TGT __attribute__((target("avx2,fma,f16c")))

TGT static inline float hsum8_ps(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

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
    return hsum8_ps(acc) - accm;
}
#endif

float rk_q4k_vec_dot(int64_t n, const void *w, const void *a) {
#ifdef RK_KERN_X86
    if (rk_kern_use_avx2()) return q4k_dot_avx2(n, w, a);
#endif
    return rk_q4k_vec_dot_ref(n, w, a);
}
