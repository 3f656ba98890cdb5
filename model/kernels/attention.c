/* model/kernels/attention.c — causal scaled-dot-product attention for one sequence, GQA/MQA-aware, with a
 * query block that may start inside a longer key sequence (KV cache: query t sits at key position q_pos0+t and
 * sees keys 0 .. q_pos0+t).
 *
 * Forward: blocks of >= 16 queries run per head as two matmuls (scores = Q·Kᵀ, out = P·V, see attention_gemm);
 * otherwise OpenMP over (head, query) pairs, each owning its output row and probability row; scores by a
 * deterministic dot product (8-lane FMA chains on AVX2, double on the reference path), stable softmax
 * (max subtracted), then out = Σ_s p_s·v_s in key order. The two orders agree within the matmul tolerance.
 * Backward (p = softmax(scale·q·kᵀ)):  dv_s += Σ p_s·dout,  dp_s = dout·v_s,  ds_s = p_s·(dp_s − Σ_j p_j·dp_j),
 * dq += scale·Σ_s ds_s·k_s,  dk_s += scale·ds_s·q. OpenMP over KV heads: each thread owns dk/dv of its KV head
 * and dq of that head's query group, and walks its queries in order — no atomics, so results are identical
 * for any thread count (parallelism is limited to Hk threads; MQA runs on one). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/kernels/kernels-impl.h"

float rk_kern_dot(const float *a, const float *b, int64_t n) {
#ifdef RK_KERN_X86
    if (rk_kern_use_avx2()) return rk_dot_avx2(a, b, n);
#endif
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return (float)s;
}

/* Probabilities of query (h, t) over its visible keys [0, L) into p[0..L); returns L. */
static int64_t att_row(float *p, const float *q, const float *k, int64_t t, int64_t S, int64_t q_pos0, int64_t h,
                       int64_t Hq, int64_t Hk, int64_t dk, float scale) {
    const int64_t hk = h / (Hq / Hk);
    int64_t L = q_pos0 + t + 1;
    L = L < S ? L : S;
    const float *qr = q + (t * Hq + h) * dk;
    for (int64_t s = 0; s < L; s++) p[s] = scale * rk_kern_dot(qr, k + (s * Hk + hk) * dk, dk);
    rk_kern_softmax_row(p, L);
    return L;
}

static int shapes_ok(int64_t T, int64_t S, int64_t q_pos0, int64_t Hq, int64_t Hk, int64_t dk, int64_t dv) {
    return T > 0 && S > 0 && q_pos0 >= 0 && Hq > 0 && Hk > 0 && Hq % Hk == 0 && dk >= 0 && dv >= 0;
}

/* Blocks of >= ATT_GEMM_MIN queries (prompt processing, training): per head, scores = Q·Kᵀ and out = P·V as two
 * matmuls (the forward's fast kernel) over gathered contiguous copies, instead of one dot product and one axpy per
 * (query, key) pair; heads in parallel. Causal masking and the softmax run per row on the first L scores. */
enum { ATT_GEMM_MIN = 16 };

static int attention_gemm(float *out, float *att, const float *q, const float *k, const float *v, int64_t T, int64_t S,
                          int64_t q_pos0, int64_t Hq, int64_t Hk, int64_t dk, int64_t dv, float scale) {
    const size_t per = (size_t)(T * dk + S * dk + dv * S + T * S + T * dv);
    int failed = 0;
    #pragma omp parallel for schedule(dynamic, 1) if (T * Hq * S * (dk + dv) >= (1 << 16))
    for (int64_t h = 0; h < Hq; h++) {
        float *buf = malloc(sizeof(float) * per);
        if (!buf) {
            #pragma omp atomic write
            failed = 1;
            continue;
        }
        float *qh = buf, *kh = qh + T * dk, *vt = kh + S * dk, *p = vt + dv * S, *o = p + T * S;
        const int64_t hk = h / (Hq / Hk);
        for (int64_t t = 0; t < T; t++) memcpy(qh + t * dk, q + (t * Hq + h) * dk, sizeof(float) * (size_t)dk);
        for (int64_t s = 0; s < S; s++) memcpy(kh + s * dk, k + (s * Hk + hk) * dk, sizeof(float) * (size_t)dk);
        for (int64_t s = 0; s < S; s++)
            for (int64_t i = 0; i < dv; i++) vt[i * S + s] = v[(s * Hk + hk) * dv + i];
        const rk_wview kv = { RK_DTYPE_F32, kh, S, dk, NULL, 0 }, vv = { RK_DTYPE_F32, vt, dv, S, NULL, 0 };
        rk_matmul(p, qh, &kv, NULL, T);
        for (int64_t t = 0; t < T; t++) {
            float *row = p + t * S;
            int64_t L = q_pos0 + t + 1;
            L = L < S ? L : S;
            for (int64_t s = 0; s < L; s++) row[s] *= scale;
            rk_kern_softmax_row(row, L);
            memset(row + L, 0, sizeof(float) * (size_t)(S - L));
        }
        rk_matmul(o, p, &vv, NULL, T);
        for (int64_t t = 0; t < T; t++) memcpy(out + (t * Hq + h) * dv, o + t * dv, sizeof(float) * (size_t)dv);
        if (att) memcpy(att + h * T * S, p, sizeof(float) * (size_t)(T * S));
        free(buf);
    }
    return failed ? -1 : 0;
}

void rk_attention(float *out, float *att, const float *q, const float *k, const float *v, int64_t T, int64_t S,
                  int64_t q_pos0, int64_t Hq, int64_t Hk, int64_t dk, int64_t dv, float scale) {
    if (!shapes_ok(T, S, q_pos0, Hq, Hk, dk, dv) || !out) return;
    if (T >= ATT_GEMM_MIN && dk > 0 && dv > 0 && attention_gemm(out, att, q, k, v, T, S, q_pos0, Hq, Hk, dk, dv, scale) == 0)
        return;
    const int par = T * Hq * S * (dk + dv) >= (1 << 16);
    #pragma omp parallel if (par)
    {
        float *scratch = att ? NULL : malloc(sizeof(float) * (size_t)S);
        #pragma omp for schedule(static) collapse(2)
        for (int64_t h = 0; h < Hq; h++)
            for (int64_t t = 0; t < T; t++) {
                float *p = att ? att + (h * T + t) * S : scratch;
                float *o = out + (t * Hq + h) * dv;
                memset(o, 0, sizeof(float) * (size_t)dv);
                if (!p) { for (int64_t i = 0; i < dv; i++) o[i] = NAN; continue; }   /* out of memory */
                const int64_t L = att_row(p, q, k, t, S, q_pos0, h, Hq, Hk, dk, scale);
                const int64_t hk = h / (Hq / Hk);
                for (int64_t s = 0; s < L; s++) rk_kern_axpy(o, p[s], v + (s * Hk + hk) * dv, dv);
                if (att) memset(p + L, 0, sizeof(float) * (size_t)(S - L));
            }
        free(scratch);
    }
}

void rk_attention_backward(float *dq, float *dk_, float *dv_, const float *dout, const float *att, const float *q,
                           const float *k, const float *v, int64_t T, int64_t S, int64_t q_pos0, int64_t Hq,
                           int64_t Hk, int64_t dk, int64_t dv, float scale) {
    if (!shapes_ok(T, S, q_pos0, Hq, Hk, dk, dv) || !dout) return;
    const int64_t G = Hq / Hk;
    const int par = T * Hq * S * (dk + dv) >= (1 << 16);
    #pragma omp parallel if (par)
    {
        float *ds = malloc(sizeof(float) * (size_t)S), *pbuf = att ? NULL : malloc(sizeof(float) * (size_t)S);
        const int ok = ds && (att || pbuf);
        #pragma omp for schedule(static)
        for (int64_t hk = 0; hk < Hk; hk++) {
            if (!ok) continue;
            for (int64_t h = hk * G; h < (hk + 1) * G; h++)
                for (int64_t t = 0; t < T; t++) {
                    int64_t L = q_pos0 + t + 1;
                    L = L < S ? L : S;
                    const float *p = att ? att + (h * T + t) * S : pbuf;
                    if (!att) att_row(pbuf, q, k, t, S, q_pos0, h, Hq, Hk, dk, scale);
                    const float *g = dout + (t * Hq + h) * dv, *qr = q + (t * Hq + h) * dk;
                    double sum = 0.0;
                    for (int64_t s = 0; s < L; s++) {
                        ds[s] = rk_kern_dot(g, v + (s * Hk + hk) * dv, dv);
                        sum += (double)p[s] * ds[s];
                    }
                    for (int64_t s = 0; s < L; s++) ds[s] = (float)(p[s] * (ds[s] - sum)) * scale;
                    for (int64_t s = 0; s < L; s++) {
                        if (dq) rk_kern_axpy(dq + (t * Hq + h) * dk, ds[s], k + (s * Hk + hk) * dk, dk);
                        if (dk_) rk_kern_axpy(dk_ + (s * Hk + hk) * dk, ds[s], qr, dk);
                        if (dv_) rk_kern_axpy(dv_ + (s * Hk + hk) * dv, p[s], g, dv);
                    }
                }
        }
        free(ds);
        free(pbuf);
    }
}
