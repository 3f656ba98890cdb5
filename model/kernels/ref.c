/* model/kernels/ref.c — the scalar reference kernels for weight views: the definition the fast paths are
 * tested against. Plain loops, one output at a time, dot products accumulated in double in column order,
 * so a reference result is the correctly rounded-ish value of the exact sum and does not depend on threads.
 * Weight elements are converted exactly as formats/numeric.h defines them (FP8: e4m3 * block scale_inv in f32). */
#include <string.h>

#include <stdlib.h>

#include "formats/numeric.h"
#include "quantize/quants.h"
#include "model/kernels/kernels-impl.h"

int rk_kern_wview_ok(const rk_wview *w) {
    if (!w || w->rows < 0 || w->cols < 0) return 0;
    if ((w->rows > 0 && w->cols > 0) && !w->data) return 0;
    switch (w->dtype) {
    case RK_DTYPE_F32: case RK_DTYPE_F16: case RK_DTYPE_BF16: return 1;
    case RK_DTYPE_F8_E4M3: return w->block > 0 && (w->scale != NULL || w->rows == 0 || w->cols == 0);
    default: {
        const rk_qtype *q = rk_qtype_get(w->dtype);   /* ggml block types: whole blocks per row */
        return q && w->cols % q->block == 0;
    }
    }
}

float rk_kern_welem(const rk_wview *w, int64_t r, int64_t c) {
    const uint8_t *p = (const uint8_t *)w->data;
    const size_t i = (size_t)(r * w->cols + c);
    switch (w->dtype) {
    case RK_DTYPE_F32: { float f; memcpy(&f, p + 4 * i, 4); return f; }
    case RK_DTYPE_F16: { uint16_t h; memcpy(&h, p + 2 * i, 2); return rk_f16_to_f32(h); }
    case RK_DTYPE_BF16: { uint16_t h; memcpy(&h, p + 2 * i, 2); return rk_bf16_to_f32(h); }
    case RK_DTYPE_F8_E4M3: {
        const int64_t sc = (w->cols + w->block - 1) / w->block;
        return rk_e4m3_to_f32(p[i]) * w->scale[(r / w->block) * sc + c / w->block];
    }
    default: {
        const rk_qtype *q = rk_qtype_get(w->dtype);
        if (!q || q->block > 256) return 0.0f;
        float blk[256];
        const size_t row_bytes = (size_t)(w->cols / q->block) * q->bytes;
        q->dequantize(p + (size_t)r * row_bytes + (size_t)(c / q->block) * q->bytes, blk, q->block);
        return blk[c % q->block];
    }
    }
}

/* one weight row as f32, element by element through rk_kern_welem (block types: one dequantization per block) */
static void ref_row(const rk_wview *w, int64_t r, float *out) {
    const rk_qtype *q = rk_qtype_get(w->dtype);
    if (q) {
        const size_t row_bytes = (size_t)(w->cols / q->block) * q->bytes;
        q->dequantize((const uint8_t *)w->data + (size_t)r * row_bytes, out, w->cols);
        return;
    }
    for (int64_t c = 0; c < w->cols; c++) out[c] = rk_kern_welem(w, r, c);
}

void rk_matmul_ref(float *y, const float *x, const rk_wview *w, const float *bias, int64_t n) {
    if (!rk_kern_wview_ok(w) || n <= 0) return;
    float *row = malloc(sizeof(float) * (size_t)(w->cols ? w->cols : 1));
    if (!row) return;
    for (int64_t r = 0; r < w->rows; r++) {
        ref_row(w, r, row);
        for (int64_t t = 0; t < n; t++) {
            double s = 0.0;
            for (int64_t c = 0; c < w->cols; c++) s += (double)x[t * w->cols + c] * (double)row[c];
            if (bias) s += bias[r];
            y[t * w->rows + r] = (float)s;
        }
    }
    free(row);
}

void rk_matmul_backward_ref(float *dx, float *dw, float *dbias, const float *dy, const float *x, const rk_wview *w,
                            int64_t n) {
    if (!rk_kern_wview_ok(w) || n <= 0) return;
    const int64_t rows = w->rows, cols = w->cols;
    if (dx)
        for (int64_t t = 0; t < n; t++)
            for (int64_t c = 0; c < cols; c++) {
                double s = 0.0;
                for (int64_t r = 0; r < rows; r++) s += (double)dy[t * rows + r] * (double)rk_kern_welem(w, r, c);
                dx[t * cols + c] += (float)s;
            }
    if (dw)
        for (int64_t r = 0; r < rows; r++)
            for (int64_t c = 0; c < cols; c++) {
                double s = 0.0;
                for (int64_t t = 0; t < n; t++) s += (double)dy[t * rows + r] * (double)x[t * cols + c];
                dw[r * cols + c] += (float)s;
            }
    if (dbias)
        for (int64_t r = 0; r < rows; r++) {
            double s = 0.0;
            for (int64_t t = 0; t < n; t++) s += dy[t * rows + r];
            dbias[r] += (float)s;
        }
}
