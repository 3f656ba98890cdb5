/* convert/convert_st.c — HF checkpoint → HF safetensors with another float dtype (see convert.h).
 * This is DeepSeek's fp8_cast_bf16.py on the CPU: every FP8 weight is dequantized with its weight_scale_inv
 * (block × scale in f32) and rounded to the target type, the *_scale_inv tensors are dropped; other float
 * tensors are converted (or copied byte for byte when already in the target type) and integer tensors copied.
 * config.json is rewritten without quantization_config and with the new torch_dtype; tokenizer and other
 * small companion files are copied. One tensor in memory at a time. */
#define _GNU_SOURCE
#include "convert/convert.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "convert/convert-impl.h"
#include "formats/numeric.h"
#include "formats/safetensors.h"

static int grow_buf(void **p, size_t *cap, size_t need, rk_err *err) {
    if (need <= *cap) return 0;
    void *q = realloc(*p, need);
    if (!q) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory (%zu bytes for one tensor)", need);
    *p = q;
    *cap = need;
    return 0;
}

static const char *torch_name(int dtype) {
    return dtype == RK_DTYPE_BF16 ? "bfloat16" : dtype == RK_DTYPE_F16 ? "float16" : "float32";
}

/* copy one small file into dir through a temp file (missing source: nothing to do) */
static int copy_file(const char *src, const char *dir, const char *name, rk_err *err) {
    FILE *f = fopen(src, "rb");
    if (!f) return errno == ENOENT ? 0 : rk_err_file(err, RK_EIO, src, UINT64_MAX, "cannot open: %s", strerror(errno));
    char *dst = rk_path_join(dir, name);
    rk_outfile o;
    int rc = dst ? rk_outfile_open(&o, dst, err) : rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
    if (!rc) {
        char buf[1 << 16];
        size_t n;
        while (!rc && (n = fread(buf, 1, sizeof buf, f)) > 0) rc = rk_outfile_write(&o, buf, n, err);
        if (!rc && ferror(f)) rc = rk_err_file(err, RK_EIO, src, UINT64_MAX, "read failed");
        if (!rc) rc = rk_outfile_commit(&o, err);
        else rk_outfile_abort(&o);
    }
    free(dst);
    fclose(f);
    return rc;
}

static int write_config(const char *in_dir, const char *out_dir, int dtype, rk_err *err) {
    char *src = rk_path_join(in_dir, "config.json"), *txt = NULL, *outp = NULL, *printed = NULL;
    cJSON *j = NULL;
    uint64_t len = 0;
    int rc = 0;
    if (!src) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
    if (!rk_file_exists(src)) goto done;
    if ((rc = rk_read_file(src, 16u << 20, &txt, &len, err))) goto done;
    if (!(j = cJSON_ParseWithLength(txt, (size_t)len)) || !cJSON_IsObject(j)) {
        rc = rk_err_file(err, RK_ECORRUPT, src, UINT64_MAX, "not a JSON object");
        goto done;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(j, "quantization_config");
    int have = 0;
    static const char *const keys[2] = { "torch_dtype", "dtype" };
    for (int k = 0; k < 2; k++)
        if (cJSON_GetObjectItemCaseSensitive(j, keys[k])) {
            have = 1;
            if (!cJSON_ReplaceItemInObjectCaseSensitive(j, keys[k], cJSON_CreateString(torch_name(dtype)))) rc = RK_ENOMEM;
        }
    if (!have && !cJSON_AddStringToObject(j, "torch_dtype", torch_name(dtype))) rc = RK_ENOMEM;
    if (rc || !(printed = cJSON_Print(j)) || !(outp = rk_path_join(out_dir, "config.json"))) {
        rc = rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
        goto done;
    }
    rk_outfile o;
    if ((rc = rk_outfile_open(&o, outp, err))) goto done;
    if ((rc = rk_outfile_write(&o, printed, strlen(printed), err)) || (rc = rk_outfile_write(&o, "\n", 1, err))) {
        rk_outfile_abort(&o);
        goto done;
    }
    rc = rk_outfile_commit(&o, err);
done:
    cJSON_Delete(j);
    free(printed);
    free(txt);
    free(src);
    free(outp);
    return rc;
}

static int copy_companions(const char *in_dir, const char *out_dir, rk_err *err) {
    static const char *const names[] = {
        "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json",
        "added_tokens.json", "vocab.json", "merges.txt", "tokenizer.model", "chat_template.jinja", "chat_template.json",
        "configuration_deepseek.py", "modeling_deepseek.py",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char *src = rk_path_join(in_dir, names[i]);
        int rc = src ? copy_file(src, out_dir, names[i], err) : rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
        free(src);
        if (rc) return rc;
    }
    return 0;
}

static int out_dtype_of(const rk_ckpt_tensor *t, int dtype) {
    const rk_dtype_traits *tr = rk_dtype_get(t->dtype);
    return tr && tr->is_float && tr->block_size == 1 ? dtype : t->dtype;
}

static int skip_tensor(const rk_ckpt_tensor *t) {
    size_t l = strlen(t->name);
    static const char a[] = ".activation_scale";
    return t->is_scale || (l >= sizeof a - 1 && !strcmp(t->name + l - (sizeof a - 1), a));
}

static int same_dir(const char *a, const char *b) {
    char ra[PATH_MAX], rb[PATH_MAX];
    return realpath(a, ra) && realpath(b, rb) && !strcmp(ra, rb);
}

int rk_convert_to_safetensors(const char *in, const char *outdir, int dtype, uint64_t max_shard_bytes,
                              const rk_convert_opts *o, rk_err *err) {
    if (!in || !outdir) return rk_err_set(err, RK_EINVAL, UINT64_MAX, "convert: input and output paths are required");
    if (dtype != RK_DTYPE_BF16 && dtype != RK_DTYPE_F16 && dtype != RK_DTYPE_F32)
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "convert: safetensors output type %s is not one of bf16, f16, f32",
                          rk_dtype_name(dtype));
    rk_cv_log lg = { o ? o->log : NULL, o ? o->log_user : NULL };
    const int threads = o && o->threads > 0 ? o->threads : omp_get_max_threads();
    rk_ckpt *ck = NULL;
    rk_st_writer *w = NULL;
    float *f = NULL;
    uint8_t *buf = NULL;
    size_t fcap = 0, bcap = 0;
    int rc = rk_ckpt_open(&ck, in, err);
    if (rc) return rc;
    if (rk_ckpt_format_of(ck) == RK_CKPT_GGUF) {
        rc = rk_err_file(err, RK_EINVAL, in, UINT64_MAX, "is a GGUF file; safetensors output is made from Hugging Face checkpoints");
        goto fail;
    }
    if (!rk_is_dir(outdir) && mkdir(outdir, 0755) != 0) {
        rc = rk_err_file(err, RK_EIO, outdir, UINT64_MAX, "cannot create folder: %s", strerror(errno));
        goto fail;
    }
    if (same_dir(rk_ckpt_dir(ck), outdir)) {
        rc = rk_err_file(err, RK_EINVAL, outdir, UINT64_MAX, "is the input folder; write the converted copy elsewhere");
        goto fail;
    }
    if ((rc = rk_st_writer_init(&w, outdir, "model", max_shard_bytes, err))) goto fail;
    if ((rc = rk_st_writer_add_meta(w, "format", "pt", err))) goto fail;
    size_t n = rk_ckpt_count(ck), n_out = 0, n_scale = 0;
    for (size_t i = 0; i < n; i++) {
        const rk_ckpt_tensor *t = rk_ckpt_tensor_at(ck, i);
        if (skip_tensor(t)) { n_scale++; continue; }
        if ((rc = rk_st_writer_add(w, t->name, out_dtype_of(t, dtype), t->n_dims, t->shape, err))) goto fail;
        n_out++;
    }
    if ((rc = rk_st_writer_begin(w, err))) goto fail;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const rk_ckpt_tensor *t = rk_ckpt_tensor_at(ck, i);
        if (skip_tensor(t)) continue;
        const int od = out_dtype_of(t, dtype);
        rk_cv_logf(&lg, RK_LOG_TENSOR, "[%zu/%zu] %-48s %s -> %s", ++k, n_out, t->name, rk_dtype_name(t->dtype), rk_dtype_name(od));
        if (od == t->dtype && t->scale < 0) {        /* byte-exact copy */
            if (t->data) rc = rk_st_writer_write(w, t->data, (size_t)t->nbytes, err);
            else if (!(rc = grow_buf((void **)&buf, &bcap, (size_t)t->nbytes + 1, err)) && !(rc = rk_ckpt_read(ck, t, buf, t->nbytes, err)))
                rc = rk_st_writer_write(w, buf, (size_t)t->nbytes, err);
        } else {
            /* in row chunks (see rk_cv_chunk_rows), so memory stays flat whatever the tensor's size */
            const int64_t rows = t->n_dims == 0 ? 1 : t->shape[0], chunk = rk_cv_chunk_rows(t);
            const int64_t row_len = rows ? (int64_t)(t->numel / (uint64_t)rows) : 0, osz = od == RK_DTYPE_F32 ? 4 : 2;
            if (!(rc = grow_buf((void **)&f, &fcap, (size_t)(chunk * row_len) * sizeof(float) + 1, err)))
                rc = grow_buf((void **)&buf, &bcap, (size_t)(chunk * row_len * osz) + 1, err);
            for (int64_t r = 0; !rc && r < rows && row_len; r += chunk) {
                const int64_t kr = rows - r < chunk ? rows - r : chunk, m = kr * row_len, step = 1 << 16;
                if ((rc = rk_ckpt_read_f32_rows(ck, t, r, kr, f, err))) break;
                int bad = 0;
                #pragma omp parallel for schedule(static) num_threads(threads) reduction(| : bad)
                for (int64_t j = 0; j < m; j += step) {
                    int64_t c = m - j < step ? m - j : step;
                    bad |= rk_convert_from_f32(od, f + j, buf + (size_t)(j * osz), (size_t)c) != 0;
                }
                rc = bad ? rk_err_set(err, RK_EINVAL, UINT64_MAX, "tensor '%s': conversion to %s failed", t->name, rk_dtype_name(od))
                         : rk_st_writer_write(w, buf, (size_t)(m * osz), err);
                rk_ckpt_release(ck, t);
            }
        }
        rk_ckpt_release(ck, t);
        if (rc) goto fail;
        if (rk_interrupted()) { rc = rk_err_set(err, RK_EINTR, UINT64_MAX, "interrupted"); goto fail; }
    }
    if ((rc = rk_st_writer_finish(w, err))) goto fail;
    if ((rc = write_config(rk_ckpt_dir(ck), outdir, dtype, err)) || (rc = copy_companions(rk_ckpt_dir(ck), outdir, err))) goto fail;
    rk_cv_logf(&lg, RK_LOG_INFO, "wrote %zu tensors to %s (%zu scale tensors dropped)", n_out, outdir, n_scale);
fail:
    rk_st_writer_free(w);
    free(f);
    free(buf);
    rk_ckpt_close(ck);
    return rc;
}
