/* quantize/tq2_0.c — TQ2_0 (ggml type 35): ternary weights, 256 per block, x = (q − 1)·d with q in {0, 1, 2}
 * packed 4 per byte (element e: byte 32(e/128) + e%32, bits 2((e%128)/32)), one F16 d; 2.0625 bpw.
 * ggml's own quantizer takes d = max|x|. Ours searches d exactly: for ternary levels the best d for a given set
 * of nonzero positions is Σ w|x| / Σ w over them, and the best set is always "the k largest |x|", so every k is
 * scored (Σ w|x|)² / Σ w after one sort; the winner is F16-rounded, the levels re-rounded against the stored d
 * and refitted once, and the block with the smallest exact weighted error among that, the unweighted search
 * and max|x| (plain RTN) is written. Layout: quantize/blocks_low.h. */
#include "quantize/lowquants-impl.h"

#include <omp.h>
#include <stdlib.h>

static void tq2_decode(const rk_block_tq2_0 *b, float *y) {
    const float d = rk_f16_to_f32(b->d);
    for (int e = 0; e < RK_LQ_QK; e++) {
        const int q = (b->qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
        y[e] = (float)(q - 1) * d;
    }
}

static double tq2_block_err(const rk_block_tq2_0 *b, const float *x, const float *w) {
    float y[RK_LQ_QK];
    tq2_decode(b, y);
    return rk_lq_err(x, y, w, RK_LQ_QK);
}

static void tq2_finish(const float *x, uint16_t dh, rk_block_tq2_0 *b) {
    const float d = rk_f16_to_f32(dh);
    memset(b, 0, sizeof *b);
    b->d = dh;
    for (int e = 0; e < RK_LQ_QK; e++) {
        const int t = d != 0.0f ? rk_lq_nearest((double)x[e] / d, -1, 1) : 0;
        b->qs[32 * (e / 128) + e % 32] |= (uint8_t)((t + 1) << (2 * ((e % 128) / 32)));
    }
}

typedef struct { float a; int i; } tq2_key;

static int tq2_cmp(const void *pa, const void *pb) {
    const tq2_key *a = pa, *b = pb;
    if (a->a != b->a) return a->a > b->a ? -1 : 1;     /* descending |x| */
    return (a->i > b->i) - (a->i < b->i);               /* ties by index: a total order */
}

/* The d minimising Σ w (x − d·t)² over ternary t (w may be NULL); 0 if there is none. */
static double tq2_search(const float *x, const float *w) {
    tq2_key k[RK_LQ_QK];
    for (int i = 0; i < RK_LQ_QK; i++) { k[i].a = fabsf(x[i]); k[i].i = i; }
    qsort(k, RK_LQ_QK, sizeof k[0], tq2_cmp);
    double s1 = 0.0, s0 = 0.0, best = 0.0, best_d = 0.0;
    for (int j = 0; j < RK_LQ_QK && k[j].a > 0.0f; j++) {
        const double wi = w ? w[k[j].i] : 1.0;
        s1 += wi * k[j].a;
        s0 += wi;
        if (s0 > 0.0 && s1 * s1 / s0 > best) { best = s1 * s1 / s0; best_d = s1 / s0; }
    }
    return best_d;
}

static void tq2_quant_one(const float *x, const float *w, int search, rk_block_tq2_0 *b) {
    if (!search) {
        float amax = 0.0f;
        for (int e = 0; e < RK_LQ_QK; e++) amax = fmaxf(amax, fabsf(x[e]));
        tq2_finish(x, rk_lq_f16(amax), b);
        return;
    }
    tq2_finish(x, rk_lq_f16(tq2_search(x, w)), b);
    /* refit d against the levels chosen for the stored d */
    double num = 0.0, den = 0.0;
    for (int e = 0; e < RK_LQ_QK; e++) {
        const int t = ((b->qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3) - 1;
        const double wi = w ? w[e] : 1.0;
        num += wi * x[e] * t;
        den += wi * t * t;
    }
    if (!(den > 0.0)) return;
    rk_block_tq2_0 alt;
    tq2_finish(x, rk_lq_f16(num / den), &alt);
    if (tq2_block_err(&alt, x, w) < tq2_block_err(b, x, w)) *b = alt;
}

static void tq2_quant_block(const float *x, const float *imp, rk_block_tq2_0 *out) {
    float xs[RK_LQ_QK], ws[RK_LQ_QK];
    const int hw = rk_lq_sanitize(x, imp, RK_LQ_QK, xs, ws);
    const float *w = hw ? ws : NULL;
    rk_block_tq2_0 cand[3];
    int nc = 0;
    if (hw) tq2_quant_one(xs, ws, 1, &cand[nc++]);
    tq2_quant_one(xs, NULL, 1, &cand[nc++]);
    tq2_quant_one(xs, NULL, 0, &cand[nc++]);
    int best = 0;
    double be = tq2_block_err(&cand[0], xs, w);
    for (int c = 1; c < nc; c++) {
        const double e = tq2_block_err(&cand[c], xs, w);
        if (e < be) { be = e; best = c; }
    }
    memcpy(out, &cand[best], sizeof *out);
}

void rk_tq2_0_quantize_ref(const float *x, void *dst, int64_t n, const float *imp) {
    rk_block_tq2_0 *y = dst;
    const int64_t nb = n / RK_LQ_QK;
    for (int64_t i = 0; i < nb; i++) tq2_quant_block(x + i * RK_LQ_QK, imp ? imp + i * RK_LQ_QK : NULL, &y[i]);
}

void rk_tq2_0_quantize(const float *x, void *dst, int64_t n, const float *imp) {
    rk_block_tq2_0 *y = dst;
    const int64_t nb = n / RK_LQ_QK;
#pragma omp parallel for schedule(static) if (nb >= 4)
    for (int64_t i = 0; i < nb; i++) tq2_quant_block(x + i * RK_LQ_QK, imp ? imp + i * RK_LQ_QK : NULL, &y[i]);
}

void rk_tq2_0_dequantize(const void *src, float *dst, int64_t n) {
    const rk_block_tq2_0 *x = src;
    const int64_t nb = n / RK_LQ_QK;
    for (int64_t i = 0; i < nb; i++) {
        rk_block_tq2_0 b;
        memcpy(&b, &x[i], sizeof b);
        tq2_decode(&b, dst + i * RK_LQ_QK);
    }
}

float rk_tq2_0_vec_dot_ref(int64_t n, const void *w, const void *a) {
    const rk_block_tq2_0 *x = w;
    const rk_lq_q8k *y = a;
    const int64_t nb = n / RK_LQ_QK;
    float sumf = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        int32_t isum = 0;
        for (int e = 0; e < RK_LQ_QK; e++)
            isum += (((x[i].qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3) - 1) * y[i].qs[e];
        const float d = y[i].d * rk_f16_to_f32(x[i].d);
        sumf += (float)isum * d;
    }
    return sumf;
}

#ifdef RK_KERN_X86
RK_LQ_TGT static float tq2_vec_dot_avx2(int64_t n, const void *w, const void *a) {
    const rk_block_tq2_0 *x = w;
    const rk_lq_q8k *y = a;
    const int64_t nb = n / RK_LQ_QK;
    const __m256i m3 = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
    float sumf = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        __m256i acc16 = _mm256_setzero_si256();   /* 8 pair sums per lane at most 8·2·2·127: no int16 overflow */
        for (int h = 0; h < 2; h++) {
            const __m256i qs = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * h));
            for (int k = 0; k < 4; k++) {
                const __m256i q = _mm256_sub_epi8(_mm256_and_si256(_mm256_srli_epi16(qs, 2 * k), m3), one);
                const __m256i qa = _mm256_loadu_si256((const __m256i *)(y[i].qs + 128 * h + 32 * k));
                acc16 = _mm256_add_epi16(acc16, rk_lq_dot16_signed(q, qa));
            }
        }
        const int32_t isum = rk_lq_hsum_i32(_mm256_madd_epi16(acc16, ones16));
        const float d = y[i].d * rk_f16_to_f32(x[i].d);
        sumf += (float)isum * d;
    }
    return sumf;
}
#endif

float rk_tq2_0_vec_dot(int64_t n, const void *w, const void *a) {
#ifdef RK_KERN_X86
    if (rk_kern_use_avx2()) return tq2_vec_dot_avx2(n, w, a);
#endif
    return rk_tq2_0_vec_dot_ref(n, w, a);
}
