/* convert/convert.c — HF checkpoint → GGUF, streaming (see convert.h).
 *
 * Order of work: open the checkpoint (formats/checkpoint.h), parse config.json and tokenizer.json, build the
 * tensor plan (convert_plan.c: names, shapes, types — all validated before any output), write the GGUF header
 * with every KV and tensor info, then produce the tensors one at a time in plan order: read the source as f32
 * (FP8 dequantized by the checkpoint layer), rearrange if the plan says so (llama q/k permutation, kv_b split,
 * expert stacking one expert at a time), encode to the output type and stream it to the writer. Peak memory is
 * about three buffers the size of the largest single source tensor (one expert for stacked experts). */
#define _GNU_SOURCE
#include "convert/convert.h"

#include <ctype.h>
#include <libgen.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "convert/convert-impl.h"
#include "formats/numeric.h"
#include "model/model.h"
#include "quantize/blocks.h"
#include "quantize/imatrix.h"
#include "quantize/recipe.h"
#include "quantize/quants.h"

void rk_convert_opts_init(rk_convert_opts *o) {
    memset(o, 0, sizeof *o);
    o->outtype = RK_CONVERT_AUTO;
}

int rk_convert_outtype_from_name(const char *s) {
    if (!s) return RK_DTYPE_INVALID;
    if (!strcasecmp(s, "f32")) return RK_DTYPE_F32;
    if (!strcasecmp(s, "f16")) return RK_DTYPE_F16;
    if (!strcasecmp(s, "bf16")) return RK_DTYPE_BF16;
    if (!strcasecmp(s, "q8_0")) return RK_DTYPE_Q8_0;
    if (!strcasecmp(s, "auto")) return RK_CONVERT_AUTO;
    return RK_DTYPE_INVALID;
}

/* ---- scratch buffers, grown on demand ---- */
typedef struct scratch {
    float *a, *b;
    uint8_t *o;
    size_t na, nb, no;   /* capacities in bytes */
} scratch;

static int grow(void **p, size_t *cap, size_t need, rk_err *err) {
    if (need <= *cap) return 0;
    void *q = realloc(*p, need);
    if (!q) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory (%zu bytes for one tensor)", need);
    *p = q;
    *cap = need;
    return 0;
}

typedef struct cvctx {
    rk_ckpt *ck;
    const rk_hf_config *cfg;
    rk_gguf_writer *w;
    scratch s;
    int threads;
    rk_cv_log lg;
    rk_err *err;
    /* quantize mode (opts.tensor_type set) */
    int quant;
    const rk_imatrix *im;
    const rk_cv_item *cur;   /* the tensor being produced */
    int64_t row_base;        /* its ne0-rows written so far */
    float *imp;              /* [n_mat][ne0] importance of cur, or NULL */
    size_t nimp;             /* capacity in bytes */
    int has_imp;
    /* measurement pass (opts.measure) */
    const rk_convert_opts *o;
    int measuring;
    int64_t meas_mat, meas_row;   /* where the next produced row goes */
    int64_t meas_taken;           /* rows of meas_mat handed over so far */
    int meas_spread;              /* copy_rows picked the rows itself: no limit in measure_rows */
} cvctx;

/* ---- quantize mode: block types row by row, each row with the importance of its matrix (expert) ----
 * Rows of a stacked tensor [ne0, ne1, E] belong to matrix row / ne1; the quantizers' own OpenMP is nested
 * inside ours and so runs single-threaded; rows are independent, so the bytes do not depend on the threads. */
static int quant_encode(cvctx *c, const rk_qtype *q, const float *x, int64_t n, void *dst) {
    const int64_t ne0 = c->cur->ne[0], ne1 = c->cur->n_dims >= 2 ? c->cur->ne[1] : 1, rows = n / ne0;
    const size_t rb = (size_t)(ne0 / q->block) * q->bytes;
    int64_t bad = -1;
    #pragma omp parallel for schedule(dynamic, 16) num_threads(c->threads)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * ne0;
        int finite = 1;
        for (int64_t j = 0; j < ne0; j++) finite &= isfinite(xr[j]) != 0;
        if (!finite) {
            #pragma omp critical(rk_cv_bad)
            if (bad < 0 || r < bad) bad = r;
            continue;
        }
        const float *imp = c->has_imp ? c->imp + ((c->row_base + r) / ne1) * ne0 : NULL;
        q->quantize(xr, (uint8_t *)dst + (size_t)r * rb, ne0, imp);
    }
    if (bad >= 0)
        return rk_err_set(c->err, RK_ECORRUPT, UINT64_MAX, "tensor '%s' holds a non-finite value in row %lld", c->cur->name,
                          (long long)(c->row_base + bad));
    return 0;
}

/* importance vectors of cur from the imatrix (none: has_imp 0) */
static int load_importance(cvctx *c, const rk_cv_item *it, int64_t *missing) {
    c->has_imp = 0;
    if (!c->im || !rk_qtype_get(it->type)) return 0;
    int64_t mats = 1;
    for (uint32_t d = 2; d < it->n_dims; d++) mats *= it->ne[d];
    int found = 0, rc = grow((void **)&c->imp, &c->nimp, (size_t)(mats * it->ne[0]) * sizeof(float), c->err);
    if (!rc) rc = rk_imatrix_tensor_importance(c->im, it->name, it->n_dims, it->ne, c->imp, &found, c->err);
    if (!rc && !found) (*missing)++;
    c->has_imp = !rc && found;
    return rc;
}

/* ---- encoding f32 → output type (parallel over chunks; every chunk is whole rows / blocks) ---- */
static int encode(cvctx *c, int type, const float *x, int64_t n, void *dst) {
    if (type == RK_DTYPE_F32) {
        memcpy(dst, x, (size_t)n * sizeof(float));
        return 0;
    }
    if (type == RK_DTYPE_Q8_0) {
        const int64_t nb = n / 32, chunk = 4096;   /* blocks per task */
        #pragma omp parallel for schedule(static) num_threads(c->threads)
        for (int64_t i = 0; i < nb; i += chunk) {
            int64_t k = nb - i < chunk ? nb - i : chunk;
            rk_q8_0_quantize_ref(x + i * 32, (uint8_t *)dst + i * (int64_t)sizeof(rk_block_q8_0), k * 32);
        }
        return 0;
    }
    if (type != RK_DTYPE_F16 && type != RK_DTYPE_BF16)
        return rk_err_set(c->err, RK_EINVAL, UINT64_MAX, "internal: cannot encode to %s", rk_dtype_name(type));
    const int64_t chunk = 1 << 16;
    int bad = 0;
    #pragma omp parallel for schedule(static) num_threads(c->threads) reduction(| : bad)
    for (int64_t i = 0; i < n; i += chunk) {
        int64_t k = n - i < chunk ? n - i : chunk;
        bad |= rk_convert_from_f32(type, x + i, (uint16_t *)dst + i, (size_t)k) != 0;
    }
    return bad ? rk_err_set(c->err, RK_EINVAL, UINT64_MAX, "internal: f32 → %s conversion failed", rk_dtype_name(type)) : 0;
}

/* measuring: hand the rows to opts.measure, split at matrix boundaries, rows past measure_max_rows dropped */
static int measure_rows(cvctx *c, const float *x, int64_t n) {
    const rk_cv_item *it = c->cur;
    const int64_t ne0 = it->ne[0], ne1 = it->n_dims >= 2 ? it->ne[1] : 1, max = c->o->measure_max_rows;
    rk_convert_tensor t = { it->name, it->n_dims, it->ne, it->src_dtype, c->cfg };
    for (int64_t r = 0, rows = n / ne0; r < rows;) {
        if (c->meas_row >= ne1) c->meas_mat++, c->meas_row = 0, c->meas_taken = 0;
        int64_t k = ne1 - c->meas_row < rows - r ? ne1 - c->meas_row : rows - r;
        int64_t use = max > 0 && !c->meas_spread ? (max - c->meas_taken < k ? max - c->meas_taken : k) : k;
        if (use > 0) {
            int rc = c->o->measure(c->o->measure_user, &t, c->meas_mat, c->meas_row, use, x + r * ne0, c->err);
            if (rc) return rc;
            c->meas_taken += use;
        }
        c->meas_row += k, r += k;
    }
    return 0;
}

static int encode_write(cvctx *c, int type, const float *x, int64_t n) {
    if (c->measuring) return measure_rows(c, x, n);
    uint64_t nbytes;
    if (rk_dtype_nbytes(type, (uint64_t)n, &nbytes))
        return rk_err_set(c->err, RK_EINVAL, UINT64_MAX, "internal: %lld elements are not whole %s blocks", (long long)n,
                          rk_dtype_name(type));
    int rc = grow((void **)&c->s.o, &c->s.no, (size_t)nbytes + 1, c->err);
    const rk_qtype *q = c->quant ? rk_qtype_get(type) : NULL;
    if (!rc && q) {
        rc = quant_encode(c, q, x, n, c->s.o);
        c->row_base += n / c->cur->ne[0];
    } else if (!rc) {
        rc = encode(c, type, x, n, c->s.o);
    }
    if (!rc) rc = rk_gguf_writer_write(c->w, c->s.o, (size_t)nbytes, c->err);
    return rc;
}

/* read one checkpoint tensor as f32 into s.a */
static int read_src(cvctx *c, int64_t idx, const rk_ckpt_tensor **out) {
    const rk_ckpt_tensor *t = rk_ckpt_tensor_at(c->ck, (size_t)idx);
    int rc = grow((void **)&c->s.a, &c->s.na, (size_t)t->numel * sizeof(float) + 1, c->err);
    if (!rc) rc = rk_ckpt_read_f32(c->ck, t, c->s.a, t->numel, c->err);
    rk_ckpt_release(c->ck, t);
    *out = t;
    return rc;
}

/* Stream a tensor through the encoder in row chunks of about 4M elements, so that even R1's 1.85 GB
 * embedding never exists in f32 all at once, and release its mapped pages as we go: peak memory stays
 * a small multiple of one chunk, not of the largest tensor. (PyTorch tensors are not mapped: one chunk.) */
int64_t rk_cv_chunk_rows(const rk_ckpt_tensor *t) {
    const int64_t rows = t->n_dims == 0 ? 1 : t->shape[0];
    if (rows <= 0 || t->numel == 0) return 1;
    const int64_t row_len = (int64_t)(t->numel / (uint64_t)rows);
    int64_t chunk = t->data ? ((int64_t)1 << 22) / (row_len ? row_len : 1) : rows;
    if (chunk < 1) chunk = 1;
    if (chunk >= 128) chunk -= chunk % 128;   /* whole FP8 scale blocks per chunk */
    return chunk > rows ? rows : chunk;
}

/* measuring a matrix (2-D source) of more rows than measure_max_rows: read only runs of up to 16 rows spread evenly
 * over the matrix (first rows alone are not typical: an embedding's first rows are the byte tokens) */
static int sample_rows(cvctx *c, const rk_ckpt_tensor *t, int64_t rows, int64_t row_len) {
    const int64_t max = c->o->measure_max_rows, runs = (max + 15) / 16, stride = rows / runs;
    int rc = grow((void **)&c->s.a, &c->s.na, (size_t)(16 * row_len) * sizeof(float) + 1, c->err);
    c->meas_spread = 1;
    for (int64_t k = 0, taken = 0; !rc && k < runs && taken < max; k++) {
        const int64_t n = max - taken < 16 ? max - taken : 16, r0 = k * stride;
        rc = rk_ckpt_read_f32_rows(c->ck, t, r0, n, c->s.a, c->err);
        c->meas_row = r0;
        if (!rc) rc = encode_write(c, RK_DTYPE_F32, c->s.a, n * row_len);
        rk_ckpt_release(c->ck, t);
        taken += n;
    }
    c->meas_spread = 0;
    return rc;
}

static int copy_rows(cvctx *c, const rk_ckpt_tensor *t, int type) {
    const int64_t rows = t->n_dims == 0 ? 1 : t->shape[0];
    if (rows == 0 || t->numel == 0) return 0;
    const int64_t row_len = (int64_t)(t->numel / (uint64_t)rows), chunk = rk_cv_chunk_rows(t);
    if (c->measuring && c->o->measure_max_rows > 0 && t->n_dims == 2 && rows > c->o->measure_max_rows && rows / ((c->o->measure_max_rows + 15) / 16) >= 16)
        return sample_rows(c, t, rows, row_len);
    int rc = grow((void **)&c->s.a, &c->s.na, (size_t)(chunk * row_len) * sizeof(float) + 1, c->err);
    for (int64_t r = 0; !rc && r < rows; r += chunk) {
        int64_t k = rows - r < chunk ? rows - r : chunk;
        rc = rk_ckpt_read_f32_rows(c->ck, t, r, k, c->s.a, c->err);
        if (!rc) rc = encode_write(c, type, c->s.a, k * row_len);
        rk_ckpt_release(c->ck, t);
        if (!rc && rk_interrupted()) rc = rk_err_set(c->err, RK_EINTR, UINT64_MAX, "interrupted");
    }
    return rc;
}

/* llama: per head, rows [j*hd/2 + i] → [2i + j] (HF rotate-half → adjacent pairs) */
static int permute_rows(cvctx *c, const rk_ckpt_tensor *t, int64_t heads) {
    const int64_t rows = t->shape[0], row_len = t->n_dims > 1 ? (int64_t)(t->numel / (uint64_t)rows) : 1;
    if (heads <= 0 || rows % heads || (rows / heads) % 2)
        return rk_err_set(c->err, RK_ECORRUPT, UINT64_MAX, "tensor '%s': %lld rows cannot be split into %lld heads of even size",
                          t->name, (long long)rows, (long long)heads);
    int rc = grow((void **)&c->s.b, &c->s.nb, (size_t)t->numel * sizeof(float) + 1, c->err);
    if (rc) return rc;
    const int64_t hd = rows / heads, half = hd / 2;
    for (int64_t h = 0; h < heads; h++)
        for (int64_t i = 0; i < half; i++)
            for (int64_t j = 0; j < 2; j++)
                memcpy(c->s.b + (h * hd + 2 * i + j) * row_len, c->s.a + (h * hd + j * half + i) * row_len,
                       (size_t)row_len * sizeof(float));
    return 0;
}

/* kv_b [H*(nope+v), L] → k_b [H, L, nope] (transposed per head) or v_b [H, v, L] */
static int split_kv_b(cvctx *c, const rk_cv_item *it, const rk_ckpt_tensor *t) {
    const int64_t H = it->heads, nope = it->nope, v = it->vdim, L = t->shape[1], per = nope + v;
    int rc = grow((void **)&c->s.b, &c->s.nb, (size_t)(H * (it->kind == RK_CV_K_B ? nope : v) * L) * sizeof(float) + 1, c->err);
    if (rc) return rc;
    const float *src = c->s.a;
    float *dst = c->s.b;
    if (it->kind == RK_CV_K_B) {
        for (int64_t h = 0; h < H; h++)
            for (int64_t r = 0; r < L; r++)
                for (int64_t k = 0; k < nope; k++) dst[(h * L + r) * nope + k] = src[(h * per + k) * L + r];
    } else {
        for (int64_t h = 0; h < H; h++)
            memcpy(dst + h * v * L, src + (h * per + nope) * L, (size_t)(v * L) * sizeof(float));
    }
    return 0;
}

static int64_t item_numel(const rk_cv_item *it) {
    int64_t n = 1;
    for (uint32_t d = 0; d < it->n_dims; d++) n *= it->ne[d];
    return n;
}

static int produce(cvctx *c, const rk_cv_item *it) {
    const rk_ckpt_tensor *t = NULL;
    int rc;
    switch (it->kind) {
    case RK_CV_COPY:
        return copy_rows(c, rk_ckpt_tensor_at(c->ck, (size_t)it->src), it->type);
    case RK_CV_PERMUTE:
        if ((rc = read_src(c, it->src, &t)) || (rc = permute_rows(c, t, it->heads))) return rc;
        return encode_write(c, it->type, c->s.b, (int64_t)t->numel);
    case RK_CV_K_B:
    case RK_CV_V_B:
        if ((rc = read_src(c, it->src, &t)) || (rc = split_kv_b(c, it, t))) return rc;
        return encode_write(c, it->type, c->s.b, item_numel(it));
    case RK_CV_STACK:
        for (int64_t e = 0; e < it->n_srcs; e++) {
            t = rk_ckpt_tensor_at(c->ck, (size_t)it->srcs[e]);
            c->meas_mat = e, c->meas_row = 0, c->meas_taken = 0;
            if (t->n_dims != 2 || t->shape[0] != it->ne[1] || t->shape[1] != it->ne[0])
                return rk_err_set(c->err, RK_ECORRUPT, UINT64_MAX, "expert tensor '%s' differs in shape from expert 0", t->name);
            if ((rc = copy_rows(c, t, it->type))) return rc;
        }
        return 0;
    case RK_CV_SLICE: {   /* expert `slice` of a stacked [E, out, in] source: one "row" of the source */
        t = rk_ckpt_tensor_at(c->ck, (size_t)it->src);
        if (t->n_dims != 3 || it->slice < 0 || it->slice >= t->shape[0] || t->shape[1] != it->ne[1] || t->shape[2] != it->ne[0])
            return rk_err_set(c->err, RK_ECORRUPT, UINT64_MAX, "tensor '%s' is not a stack of %lld x %lld matrices", t->name,
                              (long long)it->ne[1], (long long)it->ne[0]);
        const int64_t n = it->ne[0] * it->ne[1];
        if ((rc = grow((void **)&c->s.a, &c->s.na, (size_t)n * sizeof(float) + 1, c->err))) return rc;
        rc = rk_ckpt_read_f32_rows(c->ck, t, it->slice, 1, c->s.a, c->err);
        rk_ckpt_release(c->ck, t);
        return rc ? rc : encode_write(c, it->type, c->s.a, n);
    }
    case RK_CV_ROPE_FREQS:
        if ((rc = grow((void **)&c->s.b, &c->s.nb, (size_t)it->ne[0] * sizeof(float) + 1, c->err))) return rc;
        rk_cv_llama3_rope_factors(c->cfg, c->s.b, it->ne[0]);
        return encode_write(c, it->type, c->s.b, it->ne[0]);
    default:
        return rk_err_set(c->err, RK_EINVAL, UINT64_MAX, "internal: unknown plan kind %d", it->kind);
    }
}

static const char *lower_name(int type, char *buf, size_t cap) {
    snprintf(buf, cap, "%s", rk_dtype_name(type));
    for (char *p = buf; *p; p++) *p = (char)tolower((unsigned char)*p);
    return buf;
}

static void log_item(cvctx *c, size_t i, size_t n, const rk_cv_item *it) {
    char a[16], b[16], shape[96];
    size_t k = (size_t)snprintf(shape, sizeof shape, "{");
    for (uint32_t d = 0; d < it->n_dims && k < sizeof shape; d++)
        k += (size_t)snprintf(shape + k, sizeof shape - k, "%s%lld", d ? ", " : "", (long long)it->ne[d]);
    if (k < sizeof shape) snprintf(shape + k, sizeof shape - k, "}");
    rk_cv_logf(&c->lg, RK_LOG_TENSOR, "[%*zu/%zu] %-34s %-5s -> %-5s shape = %s%s", (int)(n >= 1000 ? 4 : n >= 100 ? 3 : 2),
               i + 1, n, it->name, lower_name(it->src_dtype, a, sizeof a), lower_name(it->type, b, sizeof b), shape,
               it->fell_back ? "  (rows not a multiple of 32: F16 instead of Q8_0)" : "");
}

static char *default_name(const char *in) {
    char *d = rk_strdup(in);
    if (!d) return NULL;
    size_t l = strlen(d);
    while (l > 1 && d[l - 1] == '/') d[--l] = 0;
    char *base = rk_strdup(basename(d));
    free(d);
    return base;
}

/* quantize mode: ask tensor_type for every output tensor and check what it says */
static int decide_types(cvctx *c, rk_cv_plan *plan, const rk_convert_opts *o) {
    for (size_t i = 0; i < plan->n; i++) {
        rk_cv_item *it = &plan->items[i];
        rk_convert_tensor t = { it->name, it->n_dims, it->ne, it->src_dtype, c->cfg };
        int type = RK_DTYPE_INVALID, rc = o->tensor_type(o->tensor_type_user, &t, &type, c->err);
        if (rc) return rc;
        const rk_dtype_traits *tr = rk_dtype_get(type);
        if (!tr || (type != RK_DTYPE_F32 && type != RK_DTYPE_F16 && type != RK_DTYPE_BF16 && !rk_qtype_get(type)))
            return rk_err_set(c->err, RK_EINVAL, UINT64_MAX, "tensor '%s': r1kit cannot write type %s", it->name, rk_dtype_name(type));
        if (it->ne[0] % (int64_t)tr->block_size)
            return rk_err_set(c->err, RK_EINVAL, UINT64_MAX, "tensor '%s': rows of %lld are not whole %s blocks of %u", it->name,
                              (long long)it->ne[0], rk_dtype_name(type), tr->block_size);
        it->type = type;
        it->fell_back = 0;
    }
    plan->file_type = o->file_type;
    if (o->file_type == RK_CONVERT_FTYPE_MOSTLY) {   /* the type that holds the most bytes names the file */
        uint64_t by[RK_DTYPE_LIMIT] = { 0 };
        int best = RK_DTYPE_F32;
        for (size_t i = 0; i < plan->n; i++) {
            const rk_cv_item *it = &plan->items[i];
            uint64_t b = 0;
            if (it->type < 0 || it->type >= RK_DTYPE_LIMIT || it->n_dims < 2) continue;
            int64_t n = 1;
            for (uint32_t d = 0; d < it->n_dims; d++) n *= it->ne[d];
            rk_dtype_nbytes(it->type, (uint64_t)n, &b);
            by[it->type] += b;
        }
        for (int t = 0; t < RK_DTYPE_LIMIT; t++)
            if (by[t] > by[best]) best = t;
        plan->file_type = rk_recipe_file_type_of(best);
    }
    if (o->imatrix) return 0;
    int warned[RK_DTYPE_LIMIT] = { 0 };
    for (size_t i = 0; i < plan->n; i++) {
        const rk_qtype *q = rk_qtype_get(plan->items[i].type);
        if (q && q->wants_imatrix && !warned[q->type]++)
            rk_cv_logf(&c->lg, RK_LOG_WARN, "%s is used without an importance matrix (--imatrix): its quality suffers",
                       q->name);
    }
    return 0;
}

/* every tensor once through opts.measure, in f32, before any type is decided */
static int measure_pass(cvctx *c, rk_cv_plan *plan) {
    c->measuring = 1;
    int rc = 0;
    for (size_t i = 0; !rc && i < plan->n; i++) {
        c->cur = &plan->items[i];
        c->meas_mat = c->meas_row = c->meas_taken = 0;
        rk_cv_logf(&c->lg, RK_LOG_TENSOR, "measuring [%zu/%zu] %s", i + 1, plan->n, c->cur->name);
        rc = produce(c, c->cur);
        if (!rc && rk_interrupted()) rc = rk_err_set(c->err, RK_EINTR, UINT64_MAX, "interrupted");
    }
    c->measuring = 0;
    return rc;
}

static void register_decoders(void) {
    int n = 0;
    const int *list = rk_qtype_list(&n);
    for (int i = 0; i < n; i++) rk_ckpt_set_decoder(list[i], rk_qtype_get(list[i])->dequantize);
}

/* the config of a GGUF input, through the engine's reader; NULL (with a note) when the engine cannot read it */
static const rk_hf_config *gguf_config(cvctx *c, const char *in, rk_hf_config *cfg) {
    rk_model *m = NULL;
    rk_err e;
    if (rk_model_load(&m, in, &e)) {
        rk_cv_logf(&c->lg, RK_LOG_INFO, "no model config from %s (%s); deciding types from names and shapes", in, e.msg);
        return NULL;
    }
    *cfg = *rk_model_config(m);
    rk_model_free(m);
    return cfg;
}

int rk_convert_to_gguf(const char *in, const char *out, const rk_convert_opts *o, rk_err *err) {
    rk_convert_opts defaults;
    if (!o) { rk_convert_opts_init(&defaults); o = &defaults; }
    if (!in || !out) return rk_err_set(err, RK_EINVAL, UINT64_MAX, "convert: input and output paths are required");
    if (!o->tensor_type && o->outtype != RK_CONVERT_AUTO && o->outtype != RK_DTYPE_F32 && o->outtype != RK_DTYPE_F16 &&
        o->outtype != RK_DTYPE_BF16 && o->outtype != RK_DTYPE_Q8_0)
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "convert: output type %s is not one of f32, f16, bf16, q8_0, auto",
                          rk_dtype_name(o->outtype));
    cvctx c = { 0 };
    c.err = err;
    c.lg = (rk_cv_log){ o->log, o->log_user };
    c.threads = o->threads > 0 ? o->threads : omp_get_max_threads();
    c.quant = o->tensor_type != NULL;
    c.im = o->imatrix;
    c.o = o;
    rk_hf_config cfg;
    rk_hf_tokenizer *tok = NULL;
    rk_cv_plan plan = { 0 };
    char *name = NULL;
    int rc = rk_ckpt_open(&c.ck, in, err);
    if (rc) return rc;
    const int from_gguf = rk_ckpt_format_of(c.ck) == RK_CKPT_GGUF;
    if (from_gguf && !c.quant) {
        rc = rk_err_file(err, RK_EINVAL, in, UINT64_MAX, "is already a GGUF file; convert reads Hugging Face checkpoints");
        goto fail;
    }
    if (from_gguf) {
        register_decoders();
        c.cfg = gguf_config(&c, in, &cfg);
        rk_cv_logf(&c.lg, RK_LOG_INFO, "%s: GGUF, %zu tensors", rk_ckpt_path(c.ck), rk_ckpt_count(c.ck));
        if ((rc = rk_cv_build_plan_gguf(&plan, c.ck, err))) goto fail;
    } else {
        if ((rc = rk_hf_config_load(&cfg, rk_ckpt_dir(c.ck), err))) goto fail;
        c.cfg = &cfg;
        rk_ckpt_set_fp8_block(c.ck, cfg.fp8_block_rows, cfg.fp8_block_cols);
        if ((rc = rk_hf_tokenizer_load(&tok, rk_ckpt_dir(c.ck), &cfg, err))) goto fail;
        if (tok->pre_guessed)
            rk_cv_logf(&c.lg, RK_LOG_WARN, "tokenizer.json pre-tokenizer not recognised; using the %s default '%s'",
                       rk_hf_arch_name(cfg.arch), tok->pre);
        rk_cv_logf(&c.lg, RK_LOG_INFO, "%s: %s (%s), %lld layers, vocab %zu (%zu padded), tokenizer pre '%s'",
                   rk_ckpt_path(c.ck), cfg.model_type, rk_hf_arch_name(cfg.arch), (long long)cfg.num_hidden_layers, tok->n_vocab,
                   tok->n_pad, tok->pre);
        if ((rc = rk_cv_build_plan(&plan, c.ck, &cfg, c.quant ? RK_DTYPE_F32 : o->outtype, &c.lg, err))) goto fail;
    }
    if (o->experts == RK_CONVERT_EXPERTS_SPLIT && (rc = rk_cv_split_experts(&plan, err))) goto fail;
    if (c.quant && o->measure && (rc = measure_pass(&c, &plan))) goto fail;
    if (c.quant && (rc = decide_types(&c, &plan, o))) goto fail;
    if ((rc = rk_gguf_writer_init(&c.w, err))) goto fail;
    if (from_gguf) {
        if ((rc = rk_cv_copy_kv(c.w, rk_ckpt_gguf(c.ck), plan.file_type, err))) goto fail;   /* general.name kept */
    } else {
        if (!(name = o->name ? rk_strdup(o->name) : default_name(in))) { rc = rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory"); goto fail; }
        if ((rc = rk_cv_write_kv(c.w, &cfg, tok, name, plan.file_type, err))) goto fail;
        rk_hf_tokenizer_free(tok);   /* the writer holds its own copies */
        tok = NULL;
    }
    if (o->extra_kv && (rc = o->extra_kv(o->extra_kv_user, c.w, err))) goto fail;
    for (size_t i = 0; i < plan.n; i++) {
        const rk_cv_item *it = &plan.items[i];
        if ((rc = rk_gguf_writer_add_tensor(c.w, it->name, it->type, it->n_dims, it->ne, err))) goto fail;
    }
    if ((rc = rk_gguf_writer_begin(c.w, out, 32, err))) goto fail;
    int64_t missing = 0;
    for (size_t i = 0; i < plan.n; i++) {
        log_item(&c, i, plan.n, &plan.items[i]);
        c.cur = &plan.items[i];
        c.row_base = 0;
        if (c.quant && (rc = load_importance(&c, c.cur, &missing))) goto fail;
        if ((rc = produce(&c, &plan.items[i]))) goto fail;
        if (rk_interrupted()) { rc = rk_err_set(err, RK_EINTR, UINT64_MAX, "interrupted"); goto fail; }
    }
    if ((rc = rk_gguf_writer_finish(c.w, err))) goto fail;
    if (c.im && missing)
        rk_cv_logf(&c.lg, RK_LOG_INFO, "%lld quantized tensors had no imatrix entry (quantized without importance)", (long long)missing);
    rk_cv_logf(&c.lg, RK_LOG_INFO, "wrote %s: %zu tensors", out, plan.n);
fail:
    rk_gguf_writer_free(c.w);
    rk_cv_plan_free(&plan);
    rk_hf_tokenizer_free(tok);
    free(name);
    free(c.s.a);
    free(c.s.b);
    free(c.s.o);
    free(c.imp);
    rk_ckpt_close(c.ck);
    return rc;
}
