/* tests/convert/cv_fixtures.h — tiny Hugging Face checkpoints written from C for the converter tests:
 * a model builder (named tensors with owned bytes, written with rk_st_writer, optionally sharded), a
 * deterministic RNG, FP8 block helpers, and the small JSON files (config.json, tokenizer.json,
 * tokenizer_config.json) each test needs. Header-only; included by test_*.c in this folder. */
#ifndef RK_TESTS_CV_FIXTURES_H
#define RK_TESTS_CV_FIXTURES_H
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/common/rk_test.h"
#include "formats/numeric.h"
#include "formats/safetensors.h"

/* ---- RNG ---- */
static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static inline uint64_t rng_u64(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}
static inline float rng_f(void) { return (float)((rng_u64() >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f; }   /* [-1, 1) */
static inline uint8_t rng_e4m3(void) {   /* any finite e4m3fn byte (0x7F/0xFF are NaN) */
    for (;;) {
        uint8_t b = (uint8_t)rng_u64();
        if ((b & 0x7F) != 0x7F) return b;
    }
}

/* ---- model builder ---- */
typedef struct fx_tensor {
    char name[160];
    int dtype, nd;
    int64_t shape[3];
    uint8_t *data;
    size_t nbytes;
    float *ref;       /* the f32 values a reader must produce (FP8: value*scale) */
} fx_tensor;

typedef struct fx_model {
    fx_tensor t[512];
    size_t n;
} fx_model;

static inline size_t fx_numel(const fx_tensor *t) {
    size_t n = 1;
    for (int d = 0; d < t->nd; d++) n *= (size_t)t->shape[d];
    return n;
}

static inline fx_tensor *fx_add(fx_model *m, const char *name, int dtype, int nd, int64_t d0, int64_t d1) {
    ck_assert_uint_lt(m->n, 512);
    fx_tensor *t = &m->t[m->n++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%.150s", name);
    t->dtype = dtype;
    t->nd = nd;
    t->shape[0] = d0;
    t->shape[1] = d1;
    size_t n = fx_numel(t);
    uint64_t nb = 0;
    ck_assert_int_eq(rk_dtype_nbytes(dtype, n, &nb), 0);
    t->nbytes = (size_t)nb;
    t->data = calloc(1, t->nbytes + 1);
    t->ref = calloc(n + 1, sizeof(float));
    ck_assert_ptr_nonnull(t->data);
    ck_assert_ptr_nonnull(t->ref);
    return t;
}

/* random float tensor in dtype (F32/F16/BF16); ref = the stored values as f32 */
static inline fx_tensor *fx_float(fx_model *m, const char *name, int dtype, int nd, int64_t d0, int64_t d1, float scale) {
    fx_tensor *t = fx_add(m, name, dtype, nd, d0, d1);
    size_t n = fx_numel(t);
    for (size_t i = 0; i < n; i++) {
        float v = rng_f() * scale;
        if (dtype == RK_DTYPE_F32) memcpy(t->data + 4 * i, &v, 4);
        else {
            uint16_t h = dtype == RK_DTYPE_F16 ? rk_f32_to_f16(v) : rk_f32_to_bf16(v);
            memcpy(t->data + 2 * i, &h, 2);
            v = dtype == RK_DTYPE_F16 ? rk_f16_to_f32(h) : rk_bf16_to_f32(h);
        }
        t->ref[i] = v;
    }
    return t;
}

/* FP8 weight [r, c] plus "<name>_scale_inv" [ceil(r/128), ceil(c/128)]; ref = fp8 * scale (f32 multiply).
 * When scale_first is set the scale tensor is declared before the weight. */
static inline void fx_fp8(fx_model *m, const char *name, int64_t r, int64_t c, int scale_first) {
    char sname[176];
    snprintf(sname, sizeof sname, "%.150s_scale_inv", name);
    int64_t sr = (r + 127) / 128, sc = (c + 127) / 128;
    fx_tensor *s, *w;
    if (scale_first) {
        s = fx_add(m, sname, RK_DTYPE_F32, 2, sr, sc);
        w = fx_add(m, name, RK_DTYPE_F8_E4M3, 2, r, c);
    } else {
        w = fx_add(m, name, RK_DTYPE_F8_E4M3, 2, r, c);
        s = fx_add(m, sname, RK_DTYPE_F32, 2, sr, sc);
    }
    for (int64_t i = 0; i < sr * sc; i++) {
        float v = 0.001f + 0.01f * (float)(rng_u64() % 1000) / 1000.0f;
        memcpy(s->data + 4 * i, &v, 4);
        s->ref[i] = v;
    }
    for (int64_t i = 0; i < r; i++)
        for (int64_t j = 0; j < c; j++) {
            uint8_t b = rng_e4m3();
            w->data[i * c + j] = b;
            w->ref[i * c + j] = rk_e4m3_to_f32(b) * s->ref[(i / 128) * sc + j / 128];
        }
}

static inline fx_tensor *fx_find(fx_model *m, const char *name) {
    for (size_t i = 0; i < m->n; i++)
        if (!strcmp(m->t[i].name, name)) return &m->t[i];
    ck_abort_msg("fixture has no tensor %s", name);
    return NULL;
}

static inline void fx_write(fx_model *m, const char *dir, uint64_t max_shard) {
    rk_st_writer *w = NULL;
    rk_err err;
    rk_err_clear(&err);
    ck_assert_msg(rk_st_writer_init(&w, dir, "model", max_shard, &err) == 0, "%s", err.msg);
    for (size_t i = 0; i < m->n; i++)
        ck_assert_msg(rk_st_writer_add(w, m->t[i].name, m->t[i].dtype, m->t[i].nd, m->t[i].shape, &err) == 0, "%s", err.msg);
    ck_assert_msg(rk_st_writer_begin(w, &err) == 0, "%s", err.msg);
    for (size_t i = 0; i < m->n; i++)
        ck_assert_msg(rk_st_writer_write(w, m->t[i].data, m->t[i].nbytes, &err) == 0, "%s", err.msg);
    ck_assert_msg(rk_st_writer_finish(w, &err) == 0, "%s", err.msg);
    rk_st_writer_free(w);
}

static inline void fx_free(fx_model *m) {
    for (size_t i = 0; i < m->n; i++) {
        free(m->t[i].data);
        free(m->t[i].ref);
    }
    m->n = 0;
}

static inline void fx_text(const char *dir, const char *name, const char *text) {
    char *p = rk_path_join(dir, name);
    rk_test_write_file(p, text, strlen(text));
    free(p);
}

/* ---- tokenizers ---- */
#define FX_RX_DEEPSEEK_V3                                                                                        \
    "{\"type\":\"Sequence\",\"pretokenizers\":["                                                             \
    "{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\p{N}{1,3}\"},\"behavior\":\"Isolated\",\"invert\":false}," \
    "{\"type\":\"Split\",\"pattern\":{\"Regex\":\"[\xE4\xB8\x80-\xE9\xBE\xA5\xE3\x81\x80-\xE3\x82\x9F\xE3\x82\xA0-\xE3\x83\xBF]+\"},"   \
    "\"behavior\":\"Isolated\",\"invert\":false},"                                                            \
    "{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\s+(?!\\\\S)|\\\\s+\"},\"behavior\":\"Isolated\",\"invert\":false}," \
    "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":false}]}"
#define FX_RX_GPT4(DIGITS)                                                                                       \
    "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":"                    \
    "\"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|" DIGITS                                 \
    "| ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+\"},"                              \
    "\"behavior\":\"Isolated\",\"invert\":false},"                                                            \
    "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":false,\"use_regex\":false}]}"
#define FX_RX_LLAMA3 FX_RX_GPT4("\\\\p{N}{1,3}")
#define FX_RX_QWEN2 FX_RX_GPT4("\\\\p{N}")

/* A byte-level BPE tokenizer.json: n_base tokens "t0".."t{n-1}" plus specials at the given ids. */
static inline void fx_tokenizer(const char *dir, int n_base, const char *pre_tokenizer, const char *added_json,
                                const char *post_processor) {
    size_t cap = 65536;
    char *s = malloc(cap);
    size_t k = (size_t)snprintf(s, cap, "{\"version\":\"1.0\",\"added_tokens\":[%s],\"normalizer\":null,\"pre_tokenizer\":%s,"
                                "\"post_processor\":%s,\"decoder\":{\"type\":\"ByteLevel\"},\"model\":{\"type\":\"BPE\",\"vocab\":{",
                                added_json, pre_tokenizer, post_processor ? post_processor : "null");
    for (int i = 0; i < n_base; i++) k += (size_t)snprintf(s + k, cap - k, "%s\"t%d\":%d", i ? "," : "", i, i);
    k += (size_t)snprintf(s + k, cap - k, "},\"merges\":[\"t t0\",\"t0 t1\"]}}");
    ck_assert_uint_lt(k, cap);
    fx_text(dir, "tokenizer.json", s);
    free(s);
}
#endif
