/* model/kernels/rope.c — rotary position embedding tables (with the scaling variants of Hugging Face
 * transformers' modeling_rope_utils and DeepSeek's modeling code) and their application.
 *
 * Frequencies, in double, for i in [0, rot_dim/2):  inv_freq_i = theta^(-2i/rot_dim), then
 *  - linear:  inv_freq_i / factor.
 *  - yarn (DeepSeek-V3 / HF _compute_yarn_parameters): correction dims
 *        d(n_rot) = rot_dim · ln(orig_ctx / (2π·n_rot)) / (2·ln theta),
 *    low = max(floor(d(beta_fast)), 0), high = min(ceil(d(beta_slow)), rot_dim − 1) (high += 0.001 if equal),
 *    ramp_i = clamp((i − low)/(high − low), 0, 1), extra_i = 1 − ramp_i,
 *    inv_freq_i = inv_freq_i/factor · (1 − extra_i) + inv_freq_i · extra_i;
 *    cos/sin are multiplied by attn_factor = get_mscale(factor, mscale) / get_mscale(factor, mscale_all_dim)
 *    with get_mscale(s, m) = s <= 1 ? 1 : 0.1·m·ln(s) + 1 (DeepSeek's DeepseekV3YarnRotaryEmbedding). For
 *    R1 (mscale = mscale_all_dim = 1) that is 1; the softmax-scale correction get_mscale(factor, mscale_all_dim)²
 *    is the caller's (rk_yarn_get_mscale). For HF configs without mscale fields pass mscale = 1,
 *    mscale_all_dim = 0: that gives HF's default attention_factor get_mscale(factor).
 *    (Newer transformers derive factor = max_position_embeddings / original_max_position_embeddings when
 *    the latter is given; for R1 that is 163840/4096 = 40 = the config's factor. The caller passes factor.)
 *  - llama3: wavelen_i = 2π/inv_freq_i; wavelen < orig_ctx/high_freq_factor: kept; > orig_ctx/low_freq_factor:
 *    inv_freq_i/factor; between: smooth = (orig_ctx/wavelen − low)/(high − low),
 *    inv_freq_i = (1 − smooth)·inv_freq_i/factor + smooth·inv_freq_i.
 * The table holds cos/sin(pos·inv_freq_i)·attn_factor, computed in double and stored as f32.
 * Application is elementwise in f32 and parallel over tokens (no reductions). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/kernels/kernels-impl.h"

double rk_yarn_get_mscale(double scale, double mscale) {
    if (scale <= 1.0) return 1.0;
    return 0.1 * mscale * log(scale) + 1.0;
}

static double yarn_corr_dim(double n_rot, double dim, double base, double orig) {
    return dim * log(orig / (n_rot * 2.0 * M_PI)) / (2.0 * log(base));
}

/* inv_freq for all kinds; returns the attention (magnitude) factor. */
static double rope_inv_freq(const rk_rope_params *p, int64_t rot_dim, double *inv) {
    const int64_t half = rot_dim / 2;
    for (int64_t i = 0; i < half; i++) inv[i] = 1.0 / pow(p->theta, (double)(2 * i) / (double)rot_dim);
    switch (p->kind) {
    case RK_ROPE_LINEAR:
        for (int64_t i = 0; i < half; i++) inv[i] /= p->factor;
        return 1.0;
    case RK_ROPE_YARN: {
        double low = floor(yarn_corr_dim(p->beta_fast, (double)rot_dim, p->theta, p->orig_ctx));
        double high = ceil(yarn_corr_dim(p->beta_slow, (double)rot_dim, p->theta, p->orig_ctx));
        low = low > 0.0 ? low : 0.0;
        high = high < (double)(rot_dim - 1) ? high : (double)(rot_dim - 1);
        if (low == high) high += 0.001;
        for (int64_t i = 0; i < half; i++) {
            double ramp = ((double)i - low) / (high - low);
            ramp = ramp < 0.0 ? 0.0 : ramp > 1.0 ? 1.0 : ramp;
            const double extra = 1.0 - ramp;
            inv[i] = inv[i] / p->factor * (1.0 - extra) + inv[i] * extra;
        }
        return rk_yarn_get_mscale(p->factor, p->mscale) / rk_yarn_get_mscale(p->factor, p->mscale_all_dim);
    }
    case RK_ROPE_LLAMA3: {
        const double low_wl = p->orig_ctx / p->low_freq_factor, high_wl = p->orig_ctx / p->high_freq_factor;
        for (int64_t i = 0; i < half; i++) {
            const double wl = 2.0 * M_PI / inv[i];
            if (wl < high_wl) continue;
            if (wl > low_wl) { inv[i] /= p->factor; continue; }
            const double smooth = (p->orig_ctx / wl - p->low_freq_factor) / (p->high_freq_factor - p->low_freq_factor);
            inv[i] = (1.0 - smooth) * inv[i] / p->factor + smooth * inv[i];
        }
        return 1.0;
    }
    default: return 1.0;
    }
}

static int params_ok(const rk_rope_params *p, int64_t rot_dim, int64_t n_pos, rk_err *err) {
    if (!p) return rk_err_set(err, RK_EINVAL, UINT64_MAX, "rope: no parameters");
    if (rot_dim <= 0 || rot_dim % 2 || rot_dim > 65536)
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "rope: rot_dim %lld must be even and in [2, 65536]", (long long)rot_dim);
    if (n_pos < 0 || n_pos > ((int64_t)1 << 40) / rot_dim)
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "rope: n_pos %lld out of range", (long long)n_pos);
    if (!(p->theta > 1.0) || !isfinite(p->theta))
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "rope: theta %g must be finite and > 1", p->theta);
    if (p->kind < RK_ROPE_NONE || p->kind > RK_ROPE_LLAMA3)
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "rope: unknown scaling kind %d", p->kind);
    if (p->kind != RK_ROPE_NONE && !(p->factor > 0.0 && isfinite(p->factor)))
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "rope: scaling factor %g must be finite and > 0", p->factor);
    if ((p->kind == RK_ROPE_YARN || p->kind == RK_ROPE_LLAMA3) && !(p->orig_ctx > 0.0 && isfinite(p->orig_ctx)))
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "rope: original_max_position_embeddings %g must be > 0", p->orig_ctx);
    if (p->kind == RK_ROPE_YARN &&
        (!(p->beta_fast > 0.0) || !(p->beta_slow > 0.0) || !isfinite(p->beta_fast) || !isfinite(p->beta_slow) ||
         !isfinite(p->mscale) || !isfinite(p->mscale_all_dim)))
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "rope: yarn beta_fast %g / beta_slow %g must be > 0", p->beta_fast,
                          p->beta_slow);
    if (p->kind == RK_ROPE_YARN && !(rk_yarn_get_mscale(p->factor, p->mscale_all_dim) > 0.0))
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "rope: yarn mscale_all_dim %g gives a zero divisor", p->mscale_all_dim);
    if (p->kind == RK_ROPE_LLAMA3 &&
        (!(p->low_freq_factor > 0.0) || !(p->high_freq_factor > p->low_freq_factor) || !isfinite(p->high_freq_factor)))
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "rope: llama3 needs 0 < low_freq_factor (%g) < high_freq_factor (%g)",
                          p->low_freq_factor, p->high_freq_factor);
    return RK_OK;
}

int rk_rope_table_init(rk_rope_table *t, const rk_rope_params *p, int64_t rot_dim, int64_t n_pos, rk_err *err) {
    if (!t) return rk_err_set(err, RK_EINVAL, UINT64_MAX, "rope: no table");
    memset(t, 0, sizeof *t);
    int rc = params_ok(p, rot_dim, n_pos, err);
    if (rc) return rc;
    const int64_t half = rot_dim / 2;
    double *inv = malloc(sizeof(double) * (size_t)half);
    t->cos = malloc(sizeof(float) * (size_t)(n_pos * half) + 1);
    t->sin = malloc(sizeof(float) * (size_t)(n_pos * half) + 1);
    if (!inv || !t->cos || !t->sin) {
        free(inv);
        rk_rope_table_free(t);
        return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "rope: out of memory for %lld x %lld table", (long long)n_pos,
                          (long long)half);
    }
    const double mag = rope_inv_freq(p, rot_dim, inv);
    #pragma omp parallel for schedule(static) if (n_pos * half >= (1 << 15))
    for (int64_t pos = 0; pos < n_pos; pos++)
        for (int64_t i = 0; i < half; i++) {
            const double a = (double)pos * inv[i];
            t->cos[pos * half + i] = (float)(cos(a) * mag);
            t->sin[pos * half + i] = (float)(sin(a) * mag);
        }
    free(inv);
    t->n_pos = n_pos;
    t->rot_dim = rot_dim;
    t->attn_factor = (float)mag;
    return RK_OK;
}

void rk_rope_table_free(rk_rope_table *t) {
    if (!t) return;
    free(t->cos);
    free(t->sin);
    memset(t, 0, sizeof *t);
}

/* sign = +1 forward, -1 backward (rotation by the opposite angle, the transpose of the forward map). */
static void rope_apply(float *x, const int64_t *pos, int64_t n_tok, int64_t n_head, int64_t head_stride, int64_t off,
                       const rk_rope_table *t, int interleaved, float sign) {
    if (!x || !t || !t->cos || n_tok <= 0 || n_head <= 0) return;
    const int64_t half = t->rot_dim / 2;
    if (off < 0 || off + t->rot_dim > head_stride) return;
    #pragma omp parallel for schedule(static) if (n_tok * n_head * half >= (1 << 15))
    for (int64_t tk = 0; tk < n_tok; tk++) {
        const int64_t p = pos ? pos[tk] : tk;
        if (p < 0 || p >= t->n_pos) continue;   /* outside the table: left unchanged (caller checks) */
        const float *cs = t->cos + p * half, *sn = t->sin + p * half;
        for (int64_t h = 0; h < n_head; h++) {
            float *b = x + (tk * n_head + h) * head_stride + off;
            for (int64_t i = 0; i < half; i++) {
                const int64_t i0 = interleaved ? 2 * i : i, i1 = interleaved ? 2 * i + 1 : i + half;
                const float c = cs[i], s = sign * sn[i], x0 = b[i0], x1 = b[i1];
                b[i0] = x0 * c - x1 * s;
                b[i1] = x0 * s + x1 * c;
            }
        }
    }
}

void rk_rope(float *x, const int64_t *pos, int64_t n_tok, int64_t n_head, int64_t head_stride, int64_t off,
             const rk_rope_table *t, int interleaved) {
    rope_apply(x, pos, n_tok, n_head, head_stride, off, t, interleaved, 1.0f);
}

void rk_rope_backward(float *dx, const int64_t *pos, int64_t n_tok, int64_t n_head, int64_t head_stride, int64_t off,
                      const rk_rope_table *t, int interleaved) {
    rope_apply(dx, pos, n_tok, n_head, head_stride, off, t, interleaved, -1.0f);
}
