/* tests/formats/test_gguf.c — GGUF reader and writer.
 * golden: a hand-assembled file (bytes written out below, independent of the writer) parsed to exact values,
 *         and the writer reproducing those bytes. roundtrip: every KV type incl. nested and string arrays;
 *         tensors of every ggml type at alignments 32, 64 and 16, odd chunking. parse_corrupt: one hostile
 *         file per failure kind (code + message). truncation: every prefix of a valid file, and every byte
 *         of it overwritten, fail cleanly (run under ASan with -DRK_SANITIZE=ON). writer_misuse: over/under-
 *         write, duplicates, bad names/types/alignments, sticky errors, no file left behind. */
#include "tests/common/rk_test.h"
#include "formats/gguf.h"

#include <dirent.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- a byte builder for hand-made files ---- */
typedef struct bb { uint8_t *p; size_t n, cap; } bb;

static void bb_put(bb *b, const void *d, size_t n) {
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n) cap *= 2;
        b->p = realloc(b->p, cap);
        ck_assert_ptr_nonnull(b->p);
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void bb_le(bb *b, uint64_t v, int n) {
    uint8_t t[8];
    for (int i = 0; i < n; i++) t[i] = (uint8_t)(v >> (8 * i));
    bb_put(b, t, (size_t)n);
}
static void bb_u8(bb *b, uint8_t v) { bb_le(b, v, 1); }
static void bb_u32(bb *b, uint32_t v) { bb_le(b, v, 4); }
static void bb_u64(bb *b, uint64_t v) { bb_le(b, v, 8); }
static void bb_strn(bb *b, const char *s, size_t n) { bb_u64(b, n); bb_put(b, s, n); }
static void bb_str(bb *b, const char *s) { bb_strn(b, s, strlen(s)); }
static void bb_zeros(bb *b, size_t n) { for (size_t i = 0; i < n; i++) bb_u8(b, 0); }
static void bb_pad(bb *b, size_t a) { while (b->n % a) bb_u8(b, 0); }
static void bb_free(bb *b) { free(b->p); memset(b, 0, sizeof *b); }

static void hdr(bb *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    bb_put(b, "GGUF", 4);
    bb_u32(b, version);
    bb_u64(b, n_tensors);
    bb_u64(b, n_kv);
}
static void kv_u32(bb *b, const char *k, uint32_t v) { bb_str(b, k); bb_u32(b, RK_GGUF_U32); bb_u32(b, v); }
static void kv_str(bb *b, const char *k, const char *v) { bb_str(b, k); bb_u32(b, RK_GGUF_STRING); bb_str(b, v); }
/* tensor info with n_dims dims from ne */
static void tinfo(bb *b, const char *name, uint32_t nd, const int64_t *ne, uint32_t type, uint64_t off) {
    bb_str(b, name);
    bb_u32(b, nd);
    for (uint32_t d = 0; d < nd; d++) bb_u64(b, (uint64_t)ne[d]);
    bb_u32(b, type);
    bb_u64(b, off);
}

/* Open from an exact-size heap copy so ASan sees any read past the end. On success *keep holds the copy
 * (free it after rk_gguf_close). */
static int open_copy(rk_gguf **g, const uint8_t *p, size_t n, rk_err *err, uint8_t **keep) {
    uint8_t *copy = n ? malloc(n) : NULL;
    if (n) {
        ck_assert_ptr_nonnull(copy);
        memcpy(copy, p, n);
    }
    int rc = rk_gguf_open_buffer(g, copy, n, "x.gguf", err);
    if (rc) {
        free(copy);
        copy = NULL;
    }
    *keep = copy;
    return rc;
}

/* Touch everything a reader exposes (what a consumer would do). */
static void walk(const rk_gguf *g) {
    char buf[512];
    for (uint64_t i = 0; i < rk_gguf_kv_count(g); i++) {
        const rk_gguf_kv *kv = rk_gguf_kv_at(g, i);
        rk_gguf_value_format(&kv->val, buf, sizeof buf, 8);
        char key[RK_GGUF_MAX_KEY_LEN + 1];
        memcpy(key, kv->key.ptr, (size_t)kv->key.len);
        key[kv->key.len] = 0;
        ck_assert_ptr_eq(rk_gguf_find_kv(g, key), kv);
    }
    for (uint64_t i = 0; i < rk_gguf_tensor_count(g); i++) {
        const rk_gguf_tensor *t = rk_gguf_tensor_at(g, i);
        ck_assert_ptr_eq(rk_gguf_find_tensor(g, t->name_z), t);
        volatile uint8_t s = 0;
        if (t->nbytes) s ^= t->data[0] ^ t->data[t->nbytes - 1];
        (void)s;
    }
}

/* ================================================================================================ */
/* golden: a minimal file, assembled by hand.                                                        */
static const uint8_t k_golden[] = {
    'G', 'G', 'U', 'F', 3, 0, 0, 0,                    /*   0: magic, version 3 */
    1, 0, 0, 0, 0, 0, 0, 0,                            /*   8: tensor_count 1 */
    3, 0, 0, 0, 0, 0, 0, 0,                            /*  16: kv_count 3 */
    20, 0, 0, 0, 0, 0, 0, 0,                           /*  24: key "general.architecture" */
    'g', 'e', 'n', 'e', 'r', 'a', 'l', '.', 'a', 'r', 'c', 'h', 'i', 't', 'e', 'c', 't', 'u', 'r', 'e',
    8, 0, 0, 0,                                        /*  52: STRING */
    5, 0, 0, 0, 0, 0, 0, 0, 'l', 'l', 'a', 'm', 'a',   /*  56: "llama" */
    5, 0, 0, 0, 0, 0, 0, 0, 'x', '.', 'u', '3', '2',   /*  69: key "x.u32" */
    4, 0, 0, 0, 7, 0, 0, 0,                            /*  82: U32 7 */
    5, 0, 0, 0, 0, 0, 0, 0, 'x', '.', 'a', 'r', 'r',   /*  90: key "x.arr" */
    9, 0, 0, 0, 3, 0, 0, 0,                            /* 103: ARRAY of I16 */
    2, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00, 0xFE, 0xFF,    /* 111: n 2: [1, -2] */
    1, 0, 0, 0, 0, 0, 0, 0, 'w',                       /* 123: tensor "w" */
    2, 0, 0, 0,                                        /* 132: n_dims 2 */
    3, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0,    /* 136: ne [3, 2] */
    24, 0, 0, 0,                                       /* 152: I8 */
    0, 0, 0, 0, 0, 0, 0, 0,                            /* 156: offset 0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,          /* 164: padding to 192 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 2, 3, 4, 5, 6,                                  /* 192: data */
};

START_TEST(golden_parse) {
    ck_assert_uint_eq(sizeof k_golden, 198);
    rk_gguf *g = NULL;
    rk_err err;
    uint8_t *keep;
    ck_assert_int_eq(open_copy(&g, k_golden, sizeof k_golden, &err, &keep), 0);
    ck_assert_uint_eq(rk_gguf_version(g), 3);
    ck_assert_uint_eq(rk_gguf_alignment(g), 32);
    ck_assert_uint_eq(rk_gguf_data_offset(g), 192);
    ck_assert_uint_eq(rk_gguf_kv_count(g), 3);
    ck_assert_uint_eq(rk_gguf_tensor_count(g), 1);
    ck_assert_uint_eq(rk_gguf_size(g), 198);
    ck_assert_str_eq(rk_gguf_name(g), "x.gguf");

    rk_gguf_str s;
    ck_assert_int_eq(rk_gguf_get_str(g, "general.architecture", &s), 0);
    ck_assert_uint_eq(s.len, 5);
    ck_assert(memcmp(s.ptr, "llama", 5) == 0);
    uint64_t u;
    ck_assert_int_eq(rk_gguf_get_u64(g, "x.u32", &u), 0);
    ck_assert_uint_eq(u, 7);
    const rk_gguf_kv *kv = rk_gguf_kv_at(g, 2);
    ck_assert_uint_eq(kv->key.len, 5);
    ck_assert(memcmp(kv->key.ptr, "x.arr", 5) == 0);
    ck_assert_int_eq(kv->val.type, RK_GGUF_ARRAY);
    ck_assert_int_eq(kv->val.v.arr.type, RK_GGUF_I16);
    ck_assert_uint_eq(kv->val.v.arr.n, 2);
    rk_gguf_value e;
    ck_assert_int_eq(rk_gguf_arr_at(&kv->val, 0, &e), 0);
    ck_assert_int_eq(e.v.i, 1);
    ck_assert_int_eq(rk_gguf_arr_at(&kv->val, 1, &e), 0);
    ck_assert_int_eq(e.v.i, -2);
    ck_assert_int_eq(rk_gguf_arr_at(&kv->val, 2, &e), RK_ENOTFOUND);
    char buf[64];
    rk_gguf_value_format(&kv->val, buf, sizeof buf, 8);
    ck_assert_str_eq(buf, "[1, -2]");

    const rk_gguf_tensor *t = rk_gguf_find_tensor(g, "w");
    ck_assert_ptr_nonnull(t);
    ck_assert_str_eq(t->name_z, "w");
    ck_assert_int_eq(t->type, RK_DTYPE_I8);
    ck_assert_uint_eq(t->n_dims, 2);
    ck_assert_int_eq(t->ne[0], 3);
    ck_assert_int_eq(t->ne[1], 2);
    ck_assert_int_eq(t->ne[2], 1);
    ck_assert_int_eq(t->ne[3], 1);
    ck_assert_uint_eq(t->offset, 0);
    ck_assert_uint_eq(t->nbytes, 6);
    for (int i = 0; i < 6; i++) ck_assert_uint_eq(t->data[i], (unsigned)(i + 1));
    ck_assert_ptr_null(rk_gguf_find_tensor(g, "nope"));
    ck_assert_ptr_null(rk_gguf_find_kv(g, "nope"));
    rk_gguf_close(g);
    free(keep);
}
END_TEST

/* The writer, given the same content, produces the hand-assembled bytes (plus ggml's trailing pad). */
START_TEST(golden_writer_bytes) {
    char *dir = rk_test_tmpdir("gguf");
    char *path = rk_path_join(dir, "golden.gguf");
    rk_gguf_writer *w = NULL;
    rk_err err;
    ck_assert_int_eq(rk_gguf_writer_init(&w, &err), 0);
    ck_assert_int_eq(rk_gguf_set_str(w, "general.architecture", "llama"), 0);
    ck_assert_int_eq(rk_gguf_set_u32(w, "x.u32", 7), 0);
    int16_t arr[2] = { 1, -2 };
    ck_assert_int_eq(rk_gguf_set_arr(w, "x.arr", RK_GGUF_I16, arr, 2), 0);
    int64_t ne[2] = { 3, 2 };
    ck_assert_int_eq(rk_gguf_writer_add_tensor(w, "w", RK_DTYPE_I8, 2, ne, &err), 0);
    ck_assert_int_eq(rk_gguf_writer_begin(w, path, 32, &err), 0);
    ck_assert_uint_eq(rk_gguf_writer_data_offset(w), 192);
    const uint8_t data[6] = { 1, 2, 3, 4, 5, 6 };
    ck_assert_int_eq(rk_gguf_writer_write(w, data, 6, &err), 0);
    ck_assert_msg(rk_gguf_writer_finish(w, &err) == 0, "%s", err.msg);
    rk_gguf_writer_free(w);
    size_t n = 0;
    uint8_t *got = rk_test_read_file(path, &n);
    ck_assert_ptr_nonnull(got);
    ck_assert_uint_eq(n, 224);
    ck_assert(memcmp(got, k_golden, sizeof k_golden) == 0);
    for (size_t i = sizeof k_golden; i < n; i++) ck_assert_uint_eq(got[i], 0);
    free(got);
    free(path);
    rk_test_rmtree(dir);
    free(dir);
}
END_TEST

/* ================================================================================================ */
/* roundtrip of every KV type                                                                        */
static void write_all_kvs(rk_gguf_writer *w) {
    ck_assert_int_eq(rk_gguf_set_u8(w, "t.u8", 255), 0);
    ck_assert_int_eq(rk_gguf_set_i8(w, "t.i8", -128), 0);
    ck_assert_int_eq(rk_gguf_set_u16(w, "t.u16", 65535), 0);
    ck_assert_int_eq(rk_gguf_set_i16(w, "t.i16", -32768), 0);
    ck_assert_int_eq(rk_gguf_set_u32(w, "t.u32", 4000000000u), 0);
    ck_assert_int_eq(rk_gguf_set_i32(w, "t.i32", INT32_MIN), 0);
    ck_assert_int_eq(rk_gguf_set_u64(w, "t.u64", UINT64_MAX), 0);
    ck_assert_int_eq(rk_gguf_set_i64(w, "t.i64", INT64_MIN), 0);
    ck_assert_int_eq(rk_gguf_set_f32(w, "t.f32", 0.1f), 0);
    ck_assert_int_eq(rk_gguf_set_f64(w, "t.f64", -1e300), 0);
    ck_assert_int_eq(rk_gguf_set_bool(w, "t.true", 7), 0);
    ck_assert_int_eq(rk_gguf_set_bool(w, "t.false", 0), 0);
    ck_assert_int_eq(rk_gguf_set_str(w, "t.str", "héllo \"q\"\n"), 0);
    ck_assert_int_eq(rk_gguf_set_str(w, "t.empty", ""), 0);
    ck_assert_int_eq(rk_gguf_set_strn(w, "t.nul", "a\0b", 3), 0);
    const uint8_t a_u8[3] = { 0, 1, 255 };
    const int8_t a_i8[2] = { -1, 127 };
    const uint16_t a_u16[2] = { 1, 65535 };
    const int16_t a_i16[2] = { -32768, 5 };
    const uint32_t a_u32[5] = { 1, 2, 3, 4, 5 };
    const int32_t a_i32[2] = { -7, 7 };
    const float a_f32[3] = { 1.5f, -0.0f, INFINITY };
    const uint8_t a_bool[3] = { 1, 0, 1 };
    const uint64_t a_u64[2] = { 0, UINT64_MAX };
    const int64_t a_i64[2] = { INT64_MIN, INT64_MAX };
    const double a_f64[2] = { 3.141592653589793, 1e-300 };
    ck_assert_int_eq(rk_gguf_set_arr(w, "a.u8", RK_GGUF_U8, a_u8, 3), 0);
    ck_assert_int_eq(rk_gguf_set_arr(w, "a.i8", RK_GGUF_I8, a_i8, 2), 0);
    ck_assert_int_eq(rk_gguf_set_arr(w, "a.u16", RK_GGUF_U16, a_u16, 2), 0);
    ck_assert_int_eq(rk_gguf_set_arr(w, "a.i16", RK_GGUF_I16, a_i16, 2), 0);
    ck_assert_int_eq(rk_gguf_set_arr(w, "a.u32", RK_GGUF_U32, a_u32, 5), 0);
    ck_assert_int_eq(rk_gguf_set_arr(w, "a.i32", RK_GGUF_I32, a_i32, 2), 0);
    ck_assert_int_eq(rk_gguf_set_arr(w, "a.f32", RK_GGUF_F32, a_f32, 3), 0);
    ck_assert_int_eq(rk_gguf_set_arr(w, "a.bool", RK_GGUF_BOOL, a_bool, 3), 0);
    ck_assert_int_eq(rk_gguf_set_arr(w, "a.u64", RK_GGUF_U64, a_u64, 2), 0);
    ck_assert_int_eq(rk_gguf_set_arr(w, "a.i64", RK_GGUF_I64, a_i64, 2), 0);
    ck_assert_int_eq(rk_gguf_set_arr(w, "a.f64", RK_GGUF_F64, a_f64, 2), 0);
    ck_assert_int_eq(rk_gguf_set_arr(w, "a.empty", RK_GGUF_U32, NULL, 0), 0);
    const char *strs[4] = { "<s>", "", "Ġthe", "x\x01y" };
    ck_assert_int_eq(rk_gguf_set_arr_str(w, "a.str", strs, 4), 0);
    ck_assert_int_eq(rk_gguf_set_arr_str(w, "a.str0", NULL, 0), 0);

    /* nested: [[1,2,3],[],[4]] of U32; [["a","bc"],["d"]]; and a 3-deep [[[true]]] */
    rk_gguf_value in_u32[3] = {
        { .type = RK_GGUF_ARRAY, .v.arr = { RK_GGUF_U32, 3, (const uint8_t *)a_u32, NULL } },
        { .type = RK_GGUF_ARRAY, .v.arr = { RK_GGUF_U32, 0, NULL, NULL } },
        { .type = RK_GGUF_ARRAY, .v.arr = { RK_GGUF_U32, 1, (const uint8_t *)(a_u32 + 3), NULL } },
    };
    rk_gguf_value nn = { .type = RK_GGUF_ARRAY, .v.arr = { RK_GGUF_ARRAY, 3, NULL, in_u32 } };
    ck_assert_int_eq(rk_gguf_set_value(w, "n.u32", &nn), 0);
    rk_gguf_value s_a[2] = { { .type = RK_GGUF_STRING, .v.s = { "a", 1 } }, { .type = RK_GGUF_STRING, .v.s = { "bc", 2 } } };
    rk_gguf_value s_b[1] = { { .type = RK_GGUF_STRING, .v.s = { "d", 1 } } };
    rk_gguf_value in_s[2] = {
        { .type = RK_GGUF_ARRAY, .v.arr = { RK_GGUF_STRING, 2, NULL, s_a } },
        { .type = RK_GGUF_ARRAY, .v.arr = { RK_GGUF_STRING, 1, NULL, s_b } },
    };
    rk_gguf_value ns = { .type = RK_GGUF_ARRAY, .v.arr = { RK_GGUF_ARRAY, 2, NULL, in_s } };
    ck_assert_int_eq(rk_gguf_set_value(w, "n.str", &ns), 0);
    rk_gguf_value l3 = { .type = RK_GGUF_ARRAY, .v.arr = { RK_GGUF_BOOL, 1, a_bool, NULL } };
    rk_gguf_value l2 = { .type = RK_GGUF_ARRAY, .v.arr = { RK_GGUF_ARRAY, 1, NULL, &l3 } };
    rk_gguf_value l1 = { .type = RK_GGUF_ARRAY, .v.arr = { RK_GGUF_ARRAY, 1, NULL, &l2 } };
    ck_assert_int_eq(rk_gguf_set_value(w, "n.deep", &l1), 0);
    ck_assert_int_eq(rk_gguf_writer_err(w)->code, 0);
}

static void fmt_kv(const rk_gguf *g, const char *key, char *buf, size_t cap, size_t max_items) {
    const rk_gguf_kv *kv = rk_gguf_find_kv(g, key);
    ck_assert_msg(kv != NULL, "missing %s", key);
    rk_gguf_value_format(&kv->val, buf, cap, max_items);
}

static void check_all_kvs(const rk_gguf *g) {
    uint64_t u;
    int64_t i;
    double f;
    int b;
    char buf[256];
    ck_assert_int_eq(rk_gguf_get_u64(g, "t.u8", &u), 0); ck_assert_uint_eq(u, 255);
    ck_assert_int_eq(rk_gguf_get_i64(g, "t.i8", &i), 0); ck_assert_int_eq(i, -128);
    ck_assert_int_eq(rk_gguf_get_u64(g, "t.u16", &u), 0); ck_assert_uint_eq(u, 65535);
    ck_assert_int_eq(rk_gguf_get_i64(g, "t.i16", &i), 0); ck_assert_int_eq(i, -32768);
    ck_assert_int_eq(rk_gguf_get_u64(g, "t.u32", &u), 0); ck_assert_uint_eq(u, 4000000000u);
    ck_assert_int_eq(rk_gguf_get_i64(g, "t.i32", &i), 0); ck_assert_int_eq(i, INT32_MIN);
    ck_assert_int_eq(rk_gguf_get_u64(g, "t.u64", &u), 0); ck_assert(u == UINT64_MAX);
    ck_assert_int_eq(rk_gguf_get_i64(g, "t.i64", &i), 0); ck_assert(i == INT64_MIN);
    ck_assert_int_eq(rk_gguf_get_f64(g, "t.f32", &f), 0); ck_assert((float)f == 0.1f);
    ck_assert_int_eq(rk_gguf_get_f64(g, "t.f64", &f), 0); ck_assert(f == -1e300);
    ck_assert_int_eq(rk_gguf_get_bool(g, "t.true", &b), 0); ck_assert_int_eq(b, 1);
    ck_assert_int_eq(rk_gguf_get_bool(g, "t.false", &b), 0); ck_assert_int_eq(b, 0);
    /* conversions and refusals */
    ck_assert_int_eq(rk_gguf_get_i64(g, "t.u8", &i), 0); ck_assert_int_eq(i, 255);
    ck_assert_int_eq(rk_gguf_get_u64(g, "t.i8", &u), RK_EINVAL);
    ck_assert_int_eq(rk_gguf_get_i64(g, "t.u64", &i), RK_EINVAL);
    ck_assert_int_eq(rk_gguf_get_f64(g, "t.u8", &f), RK_EINVAL);
    ck_assert_int_eq(rk_gguf_get_bool(g, "t.u8", &b), RK_EINVAL);
    ck_assert_int_eq(rk_gguf_get_u64(g, "missing", &u), RK_ENOTFOUND);
    rk_gguf_str s;
    ck_assert_int_eq(rk_gguf_get_str(g, "t.u8", &s), RK_EINVAL);
    ck_assert_int_eq(rk_gguf_get_str(g, "t.str", &s), 0);
    ck_assert_uint_eq(s.len, strlen("héllo \"q\"\n"));
    ck_assert(memcmp(s.ptr, "héllo \"q\"\n", s.len) == 0);
    ck_assert_int_eq(rk_gguf_get_str(g, "t.empty", &s), 0); ck_assert_uint_eq(s.len, 0);
    ck_assert_int_eq(rk_gguf_get_str(g, "t.nul", &s), 0);
    ck_assert_uint_eq(s.len, 3); ck_assert(memcmp(s.ptr, "a\0b", 3) == 0);

    struct { const char *key, *want; size_t max; } fm[] = {
        { "t.u8", "255", 8 }, { "t.i8", "-128", 8 }, { "t.u64", "18446744073709551615", 8 },
        { "t.i64", "-9223372036854775808", 8 }, { "t.f32", "0.100000001", 8 }, { "t.f64", "-1.0000000000000001e+300", 8 },
        { "t.true", "true", 8 }, { "t.false", "false", 8 },
        { "t.str", "\"h\xc3\xa9llo \\\"q\\\"\\x0a\"", 8 }, { "t.empty", "\"\"", 8 }, { "t.nul", "\"a\\x00b\"", 8 },
        { "a.u8", "[0, 1, 255]", 8 }, { "a.i8", "[-1, 127]", 8 }, { "a.u16", "[1, 65535]", 8 },
        { "a.i16", "[-32768, 5]", 8 }, { "a.u32", "[1, 2, 3, 4, 5]", 8 }, { "a.u32", "[1, 2, ... (5 items)]", 2 },
        { "a.u32", "[... (5 items)]", 0 }, { "a.i32", "[-7, 7]", 8 }, { "a.f32", "[1.5, -0, inf]", 8 },
        { "a.bool", "[true, false, true]", 8 }, { "a.u64", "[0, 18446744073709551615]", 8 },
        { "a.i64", "[-9223372036854775808, 9223372036854775807]", 8 },
        { "a.f64", "[3.1415926535897931, 1e-300]", 8 }, { "a.empty", "[]", 8 },
        { "a.str", "[\"<s>\", \"\", \"\xc4\xa0the\", \"x\\x01y\"]", 8 }, { "a.str0", "[]", 8 },
        { "n.u32", "[[1, 2, 3], [], [4]]", 8 }, { "n.str", "[[\"a\", \"bc\"], [\"d\"]]", 8 },
        { "n.deep", "[[[true]]]", 8 },
    };
    for (size_t k = 0; k < sizeof fm / sizeof fm[0]; k++) {
        fmt_kv(g, fm[k].key, buf, sizeof buf, fm[k].max);
        ck_assert_msg(strcmp(buf, fm[k].want) == 0, "%s: got <%s> want <%s>", fm[k].key, buf, fm[k].want);
    }
    const rk_gguf_kv *kv = rk_gguf_find_kv(g, "n.str");
    ck_assert_int_eq(kv->val.v.arr.type, RK_GGUF_ARRAY);
    ck_assert_int_eq(kv->val.v.arr.items[0].v.arr.type, RK_GGUF_STRING);
    ck_assert_uint_eq(kv->val.v.arr.items[0].v.arr.items[1].v.s.len, 2);
    rk_gguf_value e;
    ck_assert_int_eq(rk_gguf_arr_at(&rk_gguf_find_kv(g, "a.f32")->val, 2, &e), 0);
    ck_assert_int_eq(rk_gguf_value_f64(&e, &f), 0);
    ck_assert(isinf(f) && f > 0);
    ck_assert_int_eq(rk_gguf_arr_at(&rk_gguf_find_kv(g, "a.u64")->val, 1, &e), 0);
    ck_assert_int_eq(rk_gguf_value_u64(&e, &u), 0);
    ck_assert(u == UINT64_MAX);
    ck_assert_int_eq(rk_gguf_arr_at(&rk_gguf_find_kv(g, "t.u8")->val, 0, &e), RK_EINVAL);
}

START_TEST(roundtrip_kv_types) {
    char *dir = rk_test_tmpdir("gguf");
    char *p1 = rk_path_join(dir, "kv.gguf"), *p2 = rk_path_join(dir, "kv2.gguf");
    rk_gguf_writer *w = NULL;
    rk_err err;
    ck_assert_int_eq(rk_gguf_writer_init(&w, &err), 0);
    write_all_kvs(w);
    ck_assert_msg(rk_gguf_writer_begin(w, p1, 0, &err) == 0, "%s", err.msg);
    ck_assert_msg(rk_gguf_writer_finish(w, &err) == 0, "%s", err.msg);
    rk_gguf_writer_free(w);

    rk_gguf *g = NULL;
    ck_assert_msg(rk_gguf_open(&g, p1, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(rk_gguf_tensor_count(g), 0);
    ck_assert_ptr_null(rk_gguf_find_kv(g, "general.alignment"));
    check_all_kvs(g);
    walk(g);

    /* copying every KV through set_kv reproduces the file byte for byte */
    ck_assert_int_eq(rk_gguf_writer_init(&w, &err), 0);
    for (uint64_t i = 0; i < rk_gguf_kv_count(g); i++) ck_assert_int_eq(rk_gguf_set_kv(w, rk_gguf_kv_at(g, i)), 0);
    ck_assert_int_eq(rk_gguf_writer_begin(w, p2, 0, &err), 0);
    ck_assert_int_eq(rk_gguf_writer_finish(w, &err), 0);
    rk_gguf_writer_free(w);
    rk_gguf_close(g);
    size_t n1, n2;
    uint8_t *b1 = rk_test_read_file(p1, &n1), *b2 = rk_test_read_file(p2, &n2);
    ck_assert_uint_eq(n1, n2);
    ck_assert(memcmp(b1, b2, n1) == 0);
    ck_assert_uint_eq(n1 % 32, 0);   /* header padded like ggml's writer does */
    free(b1);
    free(b2);
    free(p1);
    free(p2);
    rk_test_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(format_bounds) {
    const uint32_t v[3] = { 10, 20, 30 };
    rk_gguf_value a = { .type = RK_GGUF_ARRAY, .v.arr = { RK_GGUF_U32, 3, (const uint8_t *)v, NULL } };
    char buf[16];
    for (size_t cap = 0; cap < sizeof buf; cap++) {
        memset(buf, 'Z', sizeof buf);
        rk_gguf_value_format(&a, buf, cap, 8);
        if (cap) ck_assert_uint_lt(strlen(buf), cap);
        for (size_t k = cap; k < sizeof buf; k++) ck_assert_int_eq(buf[k], 'Z');
    }
    rk_gguf_value_format(&a, buf, sizeof buf, 8);
    ck_assert_str_eq(buf, "[10, 20, 30]");
    rk_gguf_value bad = { .type = 77 };
    rk_gguf_value_format(&bad, buf, sizeof buf, 8);
    ck_assert_str_eq(buf, "?");
    ck_assert_str_eq(rk_gguf_type_name(RK_GGUF_F64), "F64");
    ck_assert_str_eq(rk_gguf_type_name(13), "?");
    ck_assert_uint_eq(rk_gguf_type_size(RK_GGUF_U16), 2);
    ck_assert_uint_eq(rk_gguf_type_size(RK_GGUF_STRING), 0);
}
END_TEST

/* ================================================================================================ */
/* tensors of every ggml type                                                                        */
static uint8_t pattern(uint64_t t, uint64_t i) { return (uint8_t)((i * 31 + t * 7 + 3) % 251); }

static void tensors_roundtrip(uint32_t alignment, size_t chunk) {
    char *dir = rk_test_tmpdir("gguf");
    char *path = rk_path_join(dir, "t.gguf"), *path2 = rk_path_join(dir, "t2.gguf");
    int types[RK_GGML_TYPE_LIMIT];
    int nt = 0;
    for (int ty = 0; ty < RK_GGML_TYPE_LIMIT; ty++)
        if (rk_dtype_is_ggml(ty)) types[nt++] = ty;
    ck_assert_int_ge(nt, 30);
    for (int pass = 0; pass < 2; pass++) {
        rk_gguf_writer *w = NULL;
        rk_err err;
        ck_assert_int_eq(rk_gguf_writer_init(&w, &err), 0);
        ck_assert_int_eq(rk_gguf_set_str(w, "general.architecture", "test"), 0);
        uint64_t total = 0;
        for (int k = 0; k < nt; k++) {
            const rk_dtype_traits *tr = rk_dtype_get(types[k]);
            char name[64];
            snprintf(name, sizeof name, "blk.%d.%s.weight", k, tr->name);
            int64_t ne[3] = { 2 * (int64_t)tr->block_size, 3, (k % 3) + 1 };
            uint32_t nd = (uint32_t)(k % 3) + 1;
            ck_assert_msg(rk_gguf_writer_add_tensor(w, name, types[k], nd, ne, &err) == 0, "%s", err.msg);
            uint64_t nb;
            uint64_t numel = (uint64_t)ne[0] * (nd > 1 ? 3 : 1) * (nd > 2 ? (uint64_t)ne[2] : 1);
            ck_assert_int_eq(rk_dtype_nbytes(types[k], numel, &nb), 0);
            total += nb;
        }
        int64_t z[2] = { 32, 0 };   /* an empty tensor in the middle of nowhere */
        ck_assert_int_eq(rk_gguf_writer_add_tensor(w, "empty", RK_DTYPE_Q8_0, 2, z, &err), 0);
        ck_assert_msg(rk_gguf_writer_begin(w, pass ? path2 : path, alignment, &err) == 0, "%s", err.msg);
        /* stream all tensors' bytes, in chunks that straddle tensor boundaries */
        uint8_t *buf = malloc(total);
        uint64_t pos = 0;
        for (int k = 0; k < nt; k++) {
            const rk_dtype_traits *tr = rk_dtype_get(types[k]);
            uint32_t nd = (uint32_t)(k % 3) + 1;
            uint64_t numel = 2ull * tr->block_size * (nd > 1 ? 3 : 1) * (nd > 2 ? (uint64_t)(k % 3) + 1 : 1), nb;
            rk_dtype_nbytes(types[k], numel, &nb);
            for (uint64_t i = 0; i < nb; i++) buf[pos + i] = pattern((uint64_t)k, i);
            pos += nb;
        }
        ck_assert_uint_eq(pos, total);
        for (uint64_t off = 0; off < total; off += chunk) {
            size_t n = total - off < chunk ? (size_t)(total - off) : chunk;
            ck_assert_msg(rk_gguf_writer_write(w, buf + off, n, &err) == 0, "%s", err.msg);
        }
        free(buf);
        ck_assert_msg(rk_gguf_writer_finish(w, &err) == 0, "%s", err.msg);
        rk_gguf_writer_free(w);
    }

    rk_gguf *g = NULL;
    rk_err err;
    ck_assert_msg(rk_gguf_open(&g, path, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(rk_gguf_alignment(g), alignment);
    ck_assert_uint_eq(rk_gguf_data_offset(g) % alignment, 0);
    const rk_gguf_kv *akv = rk_gguf_find_kv(g, "general.alignment");
    if (alignment == 32) ck_assert_ptr_null(akv);
    else ck_assert(akv && akv->val.type == RK_GGUF_U32 && akv->val.v.u == alignment);
    ck_assert_uint_eq(rk_gguf_tensor_count(g), (uint64_t)nt + 1);
    for (int k = 0; k < nt; k++) {
        const rk_gguf_tensor *t = rk_gguf_tensor_at(g, (uint64_t)k);
        const rk_dtype_traits *tr = rk_dtype_get(types[k]);
        ck_assert_int_eq(t->type, types[k]);
        ck_assert_uint_eq(t->n_dims, (uint32_t)(k % 3) + 1);
        ck_assert_int_eq(t->ne[0], 2 * (int64_t)tr->block_size);
        ck_assert_uint_eq(t->offset % alignment, 0);
        for (uint64_t i = 0; i < t->nbytes; i++)
            if (t->data[i] != pattern((uint64_t)k, i)) ck_abort_msg("tensor %s byte %" PRIu64 " differs", t->name_z, i);
    }
    const rk_gguf_tensor *e = rk_gguf_find_tensor(g, "empty");
    ck_assert(e && e->nbytes == 0 && e->ne[1] == 0);
    ck_assert_uint_eq(rk_gguf_size(g) % alignment, 0);
    walk(g);
    rk_gguf_close(g);
    size_t n1, n2;   /* deterministic bytes */
    uint8_t *b1 = rk_test_read_file(path, &n1), *b2 = rk_test_read_file(path2, &n2);
    ck_assert_uint_eq(n1, n2);
    ck_assert(memcmp(b1, b2, n1) == 0);
    free(b1);
    free(b2);
    free(path);
    free(path2);
    rk_test_rmtree(dir);
    free(dir);
}

START_TEST(roundtrip_tensors_align32) { tensors_roundtrip(32, 7); }
END_TEST
START_TEST(roundtrip_tensors_align64) { tensors_roundtrip(64, 1000); }
END_TEST
START_TEST(roundtrip_tensors_align16) { tensors_roundtrip(16, 1); }
END_TEST
START_TEST(roundtrip_tensors_align4096) { tensors_roundtrip(4096, 1u << 20); }
END_TEST

/* general.alignment set as a KV (alignment 0 at begin) is honoured */
START_TEST(roundtrip_alignment_kv) {
    char *dir = rk_test_tmpdir("gguf");
    char *path = rk_path_join(dir, "a.gguf");
    rk_gguf_writer *w = NULL;
    rk_err err;
    ck_assert_int_eq(rk_gguf_writer_init(&w, &err), 0);
    ck_assert_int_eq(rk_gguf_set_u32(w, "general.alignment", 128), 0);
    int64_t ne[1] = { 5 };
    ck_assert_int_eq(rk_gguf_writer_add_tensor(w, "a", RK_DTYPE_F32, 1, ne, &err), 0);
    ck_assert_int_eq(rk_gguf_writer_add_tensor(w, "b", RK_DTYPE_F16, 1, ne, &err), 0);
    ck_assert_int_eq(rk_gguf_writer_begin(w, path, 0, &err), 0);
    uint8_t d[30];
    for (int i = 0; i < 30; i++) d[i] = (uint8_t)i;
    ck_assert_int_eq(rk_gguf_writer_write(w, d, 30, &err), 0);
    ck_assert_int_eq(rk_gguf_writer_finish(w, &err), 0);
    rk_gguf_writer_free(w);
    rk_gguf *g = NULL;
    ck_assert_int_eq(rk_gguf_open(&g, path, &err), 0);
    ck_assert_uint_eq(rk_gguf_alignment(g), 128);
    ck_assert_uint_eq(rk_gguf_data_offset(g) % 128, 0);
    ck_assert_uint_eq(rk_gguf_find_tensor(g, "b")->offset, 128);
    ck_assert_uint_eq(rk_gguf_find_tensor(g, "b")->data[9], 29);
    ck_assert_uint_eq(rk_gguf_size(g), rk_gguf_data_offset(g) + 256);
    rk_gguf_close(g);
    free(path);
    rk_test_rmtree(dir);
    free(dir);
}
END_TEST

/* ================================================================================================ */
/* parse_corrupt: one hostile file per failure kind                                                  */
static void data_after(bb *b, uint32_t align, size_t nbytes) { bb_pad(b, align); bb_zeros(b, nbytes); }

static void c_empty(bb *b) { (void)b; }
static void c_magic(bb *b) { hdr(b, 3, 0, 0); b->p[3] = 'X'; }
static void c_short(bb *b) { bb_put(b, "GG", 2); }
static void c_v0(bb *b) { hdr(b, 0, 0, 0); }
static void c_v1(bb *b) { hdr(b, 1, 0, 0); }
static void c_v4(bb *b) { hdr(b, 4, 0, 0); }
static void c_bigendian(bb *b) { hdr(b, 0x03000000u, 0, 0); }
static void c_trunc_hdr(bb *b) { hdr(b, 3, 0, 0); b->n = 13; }
static void c_tcount_cap(bb *b) { hdr(b, 3, 1ull << 40, 0); }
static void c_kv_cap(bb *b) { hdr(b, 3, 0, UINT64_MAX); }
static void c_counts_fit(bb *b) { hdr(b, 3, 0, 1000); kv_u32(b, "a", 1); }
static void c_key_beyond(bb *b) { hdr(b, 3, 0, 1); bb_u64(b, 100); bb_put(b, "abcdefghijklmnopqrstuvwxyz", 26); }
static void c_key_huge(bb *b) { hdr(b, 3, 0, 1); bb_u64(b, 1ull << 63); bb_zeros(b, 20); }
static void c_key_empty(bb *b) { hdr(b, 3, 0, 1); bb_str(b, ""); bb_u32(b, RK_GGUF_U8); bb_u8(b, 0); bb_zeros(b, 8); }
static void c_key_nul(bb *b) { hdr(b, 3, 0, 1); bb_strn(b, "a\0b", 3); bb_u32(b, RK_GGUF_U8); bb_u8(b, 0); bb_zeros(b, 8); }
static void c_key_dup(bb *b) { hdr(b, 3, 0, 2); kv_u32(b, "general.x", 1); kv_u32(b, "general.x", 2); }
static void c_vtype(bb *b) { hdr(b, 3, 0, 1); bb_str(b, "k"); bb_u32(b, 13); bb_zeros(b, 8); }
static void c_str_beyond(bb *b) { hdr(b, 3, 0, 1); bb_str(b, "k"); bb_u32(b, RK_GGUF_STRING); bb_u64(b, 1000); bb_zeros(b, 10); }
static void c_str_trunc(bb *b) { hdr(b, 3, 0, 1); bb_str(b, "k"); bb_u32(b, RK_GGUF_STRING); bb_zeros(b, 5); }
static void c_arr_beyond(bb *b) {
    hdr(b, 3, 0, 1); bb_str(b, "k"); bb_u32(b, RK_GGUF_ARRAY); bb_u32(b, RK_GGUF_U32); bb_u64(b, 1000); bb_zeros(b, 8);
}
static void c_arr_cap(bb *b) {
    hdr(b, 3, 0, 1); bb_str(b, "k"); bb_u32(b, RK_GGUF_ARRAY); bb_u32(b, RK_GGUF_U8); bb_u64(b, 1ull << 31); bb_zeros(b, 8);
}
static void c_arr_str_beyond(bb *b) {
    hdr(b, 3, 0, 1); bb_str(b, "tokenizer.ggml.tokens"); bb_u32(b, RK_GGUF_ARRAY); bb_u32(b, RK_GGUF_STRING);
    bb_u64(b, 1ull << 28); bb_str(b, "a"); bb_str(b, "b");
}
static void c_arr_elem_len(bb *b) {   /* the 2nd string of an array claims more than remains */
    hdr(b, 3, 0, 1); bb_str(b, "k"); bb_u32(b, RK_GGUF_ARRAY); bb_u32(b, RK_GGUF_STRING); bb_u64(b, 2);
    bb_str(b, "a"); bb_u64(b, 100); bb_zeros(b, 4);
}
static void c_str_cap(bb *b) { hdr(b, 3, 0, 1); bb_str(b, "k"); bb_u32(b, RK_GGUF_STRING); bb_u64(b, 1ull << 40); bb_zeros(b, 10); }
static void c_arr_etype(bb *b) {
    hdr(b, 3, 0, 1); bb_str(b, "k"); bb_u32(b, RK_GGUF_ARRAY); bb_u32(b, 99); bb_u64(b, 1); bb_zeros(b, 8);
}
static void nest(bb *b, int levels) {
    hdr(b, 3, 0, 1); bb_str(b, "k"); bb_u32(b, RK_GGUF_ARRAY);
    for (int i = 0; i < levels - 1; i++) { bb_u32(b, RK_GGUF_ARRAY); bb_u64(b, 1); }
    bb_u32(b, RK_GGUF_U8); bb_u64(b, 1); bb_u8(b, 42);
}
static void c_deep(bb *b) { nest(b, RK_GGUF_MAX_DEPTH + 1); }
static void c_deep_ok(bb *b) { nest(b, RK_GGUF_MAX_DEPTH); }
static void c_bool(bb *b) { hdr(b, 3, 0, 1); bb_str(b, "k"); bb_u32(b, RK_GGUF_BOOL); bb_u8(b, 2); }
static void c_bool_arr(bb *b) {
    hdr(b, 3, 0, 1); bb_str(b, "k"); bb_u32(b, RK_GGUF_ARRAY); bb_u32(b, RK_GGUF_BOOL); bb_u64(b, 3);
    bb_u8(b, 1); bb_u8(b, 0); bb_u8(b, 9);
}
static void c_align_type(bb *b) { hdr(b, 3, 0, 1); bb_str(b, "general.alignment"); bb_u32(b, RK_GGUF_U64); bb_u64(b, 32); }
static void c_align_pow2(bb *b) { hdr(b, 3, 0, 1); kv_u32(b, "general.alignment", 48); }
static void c_align_zero(bb *b) { hdr(b, 3, 0, 1); kv_u32(b, "general.alignment", 0); }
static const int64_t NE8[4] = { 8, 1, 1, 1 };
static void c_tname_empty(bb *b) { hdr(b, 3, 1, 0); tinfo(b, "", 1, NE8, 0, 0); data_after(b, 32, 32); }
static void c_tname_long(bb *b) {
    char n[66];
    memset(n, 'a', 65);
    n[65] = 0;
    hdr(b, 3, 1, 0); tinfo(b, n, 1, NE8, 0, 0); data_after(b, 32, 32);
}
static void c_tname_dup(bb *b) {
    hdr(b, 3, 2, 0); tinfo(b, "w", 1, NE8, 0, 0); tinfo(b, "w", 1, NE8, 0, 32); data_after(b, 32, 64);
}
static void c_ndims(bb *b) { int64_t ne[5] = { 1, 1, 1, 1, 1 }; hdr(b, 3, 1, 0); tinfo(b, "w", 5, ne, 0, 0); data_after(b, 32, 32); }
static void c_negdim(bb *b) { int64_t ne[2] = { 8, -1 }; hdr(b, 3, 1, 0); tinfo(b, "w", 2, ne, 0, 0); data_after(b, 32, 32); }
static void c_dim_overflow(bb *b) {
    int64_t ne[3] = { 1ll << 32, 1ll << 31, 2 };
    hdr(b, 3, 1, 0); tinfo(b, "w", 3, ne, 0, 0); data_after(b, 32, 32);
}
static void c_bytes_overflow(bb *b) {   /* numel fits int64, bytes do not fit u64 */
    int64_t ne[2] = { 1ll << 31, 1ll << 31 };
    hdr(b, 3, 1, 0); tinfo(b, "w", 2, ne, 0, 0); data_after(b, 32, 32);
}
static void c_huge_tensor(bb *b) {      /* 2^53 bytes claimed by a tiny file */
    int64_t ne[2] = { 1ll << 31, 1ll << 20 };
    hdr(b, 3, 1, 0); tinfo(b, "w", 2, ne, 0, 0); data_after(b, 32, 32);
}
static void c_type_gap(bb *b) { hdr(b, 3, 1, 0); tinfo(b, "w", 1, NE8, 4, 0); data_after(b, 32, 32); }
static void c_type_new(bb *b) { hdr(b, 3, 1, 0); tinfo(b, "w", 1, NE8, 40, 0); data_after(b, 32, 32); }
static void c_type_huge(bb *b) { hdr(b, 3, 1, 0); tinfo(b, "w", 1, NE8, 0xdeadbeef, 0); data_after(b, 32, 32); }
static void c_row_block(bb *b) {
    int64_t ne[2] = { 33, 2 };
    hdr(b, 3, 1, 0); tinfo(b, "blk.0.ffn_down.weight", 2, ne, RK_DTYPE_Q4_0, 0); data_after(b, 32, 64);
}
static void c_misaligned(bb *b) {
    hdr(b, 3, 1, 0); tinfo(b, "blk.0.attn_q.weight", 1, NE8, 0, 17); data_after(b, 32, 64);
}
static void c_misaligned_custom(bb *b) {
    hdr(b, 3, 1, 1); kv_u32(b, "general.alignment", 64); tinfo(b, "w", 1, NE8, 0, 32); data_after(b, 64, 128);
}
static void c_off_beyond(bb *b) { hdr(b, 3, 1, 0); tinfo(b, "w", 1, NE8, 0, 1ull << 40); data_after(b, 32, 32); }
static void c_off_wrap(bb *b) { hdr(b, 3, 1, 0); tinfo(b, "w", 1, NE8, 0, UINT64_MAX - 31); data_after(b, 32, 32); }
static void c_data_trunc(bb *b) { hdr(b, 3, 1, 0); tinfo(b, "w", 1, NE8, 0, 0); data_after(b, 32, 31); }
static void c_data_start(bb *b) { hdr(b, 3, 1, 0); int64_t z[1] = { 0 }; tinfo(b, "w", 1, z, 0, 0); }
static void c_overlap(bb *b) {
    int64_t ne[1] = { 16 };
    hdr(b, 3, 3, 0);
    tinfo(b, "a", 1, ne, 0, 0); tinfo(b, "b", 1, ne, 0, 64); tinfo(b, "c", 1, ne, 0, 32);  /* c = [32,96) hits a and b */
    data_after(b, 32, 128);
}
static void c_overlap_ok(bb *b) {   /* out of order, touching, plus empty tensors at shared offsets: valid */
    int64_t ne[1] = { 8 }, z[1] = { 0 };
    hdr(b, 3, 4, 0);
    tinfo(b, "a", 1, ne, 0, 32); tinfo(b, "b", 1, ne, 0, 0); tinfo(b, "e1", 1, z, 0, 0); tinfo(b, "e2", 1, z, 0, 64);
    data_after(b, 32, 64);
}
static void c_v2_ok(bb *b) { hdr(b, 2, 1, 2); kv_u32(b, "x", 1); kv_str(b, "general.name", "v2"); tinfo(b, "w", 1, NE8, 0, 0); data_after(b, 32, 32); }
static void c_name64_ok(bb *b) {
    char n[65];
    memset(n, 'n', 64);
    n[64] = 0;
    hdr(b, 3, 1, 0); tinfo(b, n, 1, NE8, 0, 0); data_after(b, 32, 32);
}
static void c_trunc_tinfo(bb *b) { hdr(b, 3, 1, 0); tinfo(b, "w", 1, NE8, 0, 0); b->n -= 3; }

typedef struct ccase {
    const char *name;
    void (*build)(bb *);
    int code;
    const char *msg;   /* expected substring (after "x.gguf: ") */
} ccase;

static const ccase k_cases[] = {
    { "empty", c_empty, RK_ECORRUPT, "not a GGUF file" },
    { "magic", c_magic, RK_ECORRUPT, "magic 'GGUX'" },
    { "short", c_short, RK_ECORRUPT, "not a GGUF file" },
    { "version0", c_v0, RK_ECORRUPT, "version 0 is invalid" },
    { "version1", c_v1, RK_EUNSUPPORTED, "version 1" },
    { "version4", c_v4, RK_EUNSUPPORTED, "version 4 is newer" },
    { "big_endian", c_bigendian, RK_EUNSUPPORTED, "big-endian" },
    { "trunc_header", c_trunc_hdr, RK_ECORRUPT, "header: tensor count needs 8 bytes at offset 8 but only 5 remain (truncated" },
    { "tensor_count_cap", c_tcount_cap, RK_ECORRUPT, "tensor count 1099511627776 exceeds the limit" },
    { "kv_count_cap", c_kv_cap, RK_ECORRUPT, "key/value count 18446744073709551615 exceeds the limit" },
    { "counts_fit", c_counts_fit, RK_ECORRUPT, "cannot fit" },
    { "key_beyond", c_key_beyond, RK_ECORRUPT, "key #0: key of 100 bytes at offset 24 runs past the end of the file" },
    { "key_huge", c_key_huge, RK_ECORRUPT, "key length 9223372036854775808 exceeds the limit 65535" },
    { "key_empty", c_key_empty, RK_ECORRUPT, "key at offset 24 is empty" },
    { "key_nul", c_key_nul, RK_ECORRUPT, "holds a NUL byte" },
    { "key_dup", c_key_dup, RK_ECORRUPT, "key 'general.x': duplicate key" },
    { "value_type", c_vtype, RK_ECORRUPT, "key 'k': value type 13 at offset 33 is not a GGUF value type" },
    { "string_beyond", c_str_beyond, RK_ECORRUPT, "string of 1000 bytes at offset 37 runs past the end of the file" },
    { "string_trunc", c_str_trunc, RK_ECORRUPT, "string needs 8 bytes" },
    { "array_beyond", c_arr_beyond, RK_ECORRUPT, "array of 1000 U32 elements at offset 37 runs past the end of the file" },
    { "array_cap", c_arr_cap, RK_ECORRUPT, "array length 2147483648 exceeds the limit" },
    { "array_str_beyond", c_arr_str_beyond, RK_ECORRUPT, "key 'tokenizer.ggml.tokens': array of 268435456 STRING elements" },
    { "array_elem_len", c_arr_elem_len, RK_ECORRUPT, "key 'k': string of 100 bytes at offset 58 runs past the end" },
    { "string_cap", c_str_cap, RK_ECORRUPT, "key 'k': string length 1099511627776 exceeds the limit 1073741824" },
    { "array_elem_type", c_arr_etype, RK_ECORRUPT, "array element type 99" },
    { "deep_nesting", c_deep, RK_ECORRUPT, "arrays nested more than 8 deep" },
    { "deep_ok", c_deep_ok, 0, NULL },
    { "bool", c_bool, RK_ECORRUPT, "BOOL value 2 at offset 37 is neither 0 nor 1" },
    { "bool_array", c_bool_arr, RK_ECORRUPT, "BOOL value 9" },
    { "alignment_type", c_align_type, RK_ECORRUPT, "key 'general.alignment': type is U64, must be U32" },
    { "alignment_pow2", c_align_pow2, RK_ECORRUPT, "alignment 48 is not a power of two" },
    { "alignment_zero", c_align_zero, RK_ECORRUPT, "alignment 0 is not a power of two" },
    { "tensor_name_empty", c_tname_empty, RK_ECORRUPT, "tensor at offset 24 is empty" },
    { "tensor_name_long", c_tname_long, RK_ECORRUPT, "tensor #0: tensor name length 65 exceeds the limit 64" },
    { "tensor_name_dup", c_tname_dup, RK_ECORRUPT, "tensor 'w': duplicate tensor name" },
    { "n_dims", c_ndims, RK_ECORRUPT, "tensor 'w': n_dims 5 is more than 4" },
    { "negative_dim", c_negdim, RK_ECORRUPT, "dimension 1 is negative (-1)" },
    { "dims_overflow", c_dim_overflow, RK_ECORRUPT, "overflows" },
    { "bytes_overflow", c_bytes_overflow, RK_ECORRUPT, "byte size of 4611686018427387904 F32 elements overflows" },
    { "huge_tensor", c_huge_tensor, RK_ECORRUPT, "data at offset 0 + 9007199254740992 bytes runs past the end" },
    { "type_gap", c_type_gap, RK_EUNSUPPORTED, "tensor 'w': ggml type 4 at offset" },
    { "type_new", c_type_new, RK_EUNSUPPORTED, "ggml type 40" },
    { "type_huge", c_type_huge, RK_ECORRUPT, "ggml type 3735928559" },
    { "row_block", c_row_block, RK_ECORRUPT, "tensor 'blk.0.ffn_down.weight': row of 33 elements is not a multiple of the Q4_0 block size 32" },
    { "misaligned", c_misaligned, RK_ECORRUPT, "tensor 'blk.0.attn_q.weight': offset 17 is not a multiple of alignment 32" },
    { "misaligned_custom", c_misaligned_custom, RK_ECORRUPT, "offset 32 is not a multiple of alignment 64" },
    { "offset_beyond", c_off_beyond, RK_ECORRUPT, "tensor 'w': data at offset 1099511627776 + 32 bytes runs past the end" },
    { "offset_wrap", c_off_wrap, RK_ECORRUPT, "runs past the end of the file" },
    { "data_truncated", c_data_trunc, RK_ECORRUPT, "tensor 'w': data at offset 0 + 32 bytes runs past the end of the file" },
    { "data_start_beyond", c_data_start, RK_ECORRUPT, "data section: would start at offset 64 (header ends at 57, alignment 32), past the end of the file (57 bytes)" },
    { "overlap", c_overlap, RK_ECORRUPT, "tensor 'c': data [32, 96) overlaps tensor 'a' [0, 64)" },
    { "overlap_ok", c_overlap_ok, 0, NULL },
    { "v2_ok", c_v2_ok, 0, NULL },
    { "name64_ok", c_name64_ok, 0, NULL },
    { "trunc_tensor_info", c_trunc_tinfo, RK_ECORRUPT, "tensor 'w': offset needs 8 bytes" },
};

START_TEST(parse_corrupt) {
    const ccase *c = &k_cases[_i];
    bb b = { 0 };
    c->build(&b);
    rk_gguf *g = (rk_gguf *)(uintptr_t)1;
    rk_err err;
    memset(&err, 0, sizeof err);
    uint8_t *keep;
    int rc = open_copy(&g, b.p, b.n, &err, &keep);
    if (c->code == 0) {
        ck_assert_msg(rc == 0, "%s: expected success, got %d: %s", c->name, rc, err.msg);
        walk(g);
        rk_gguf_close(g);
        free(keep);
    } else {
        ck_assert_msg(rc == c->code, "%s: expected %d, got %d (%s)", c->name, c->code, rc, err.msg);
        ck_assert_int_eq(err.code, rc);
        ck_assert_ptr_null(g);
        ck_assert_msg(strncmp(err.msg, "x.gguf: ", 8) == 0, "%s: message <%s> does not name the file", c->name, err.msg);
        ck_assert_msg(strstr(err.msg, c->msg) != NULL, "%s: message <%s> lacks <%s>", c->name, err.msg, c->msg);
        ck_assert_msg(strchr(err.msg, '\n') == NULL, "%s: multi-line message", c->name);
    }
    bb_free(&b);
}
END_TEST

START_TEST(open_path_errors) {
    rk_gguf *g = NULL;
    rk_err err;
    ck_assert_int_eq(rk_gguf_open(&g, "/nonexistent/dir/x.gguf", &err), RK_EIO);
    ck_assert_ptr_null(g);
    char *dir = rk_test_tmpdir("gguf");
    char *path = rk_path_join(dir, "bad.gguf");
    bb b = { 0 };
    c_misaligned(&b);
    rk_test_write_file(path, b.p, b.n);
    ck_assert_int_eq(rk_gguf_open(&g, path, &err), RK_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(err.msg, path));
    ck_assert_ptr_nonnull(strstr(err.msg, "offset 17 is not a multiple of alignment 32"));
    ck_assert_ptr_null(g);
    rk_test_write_file(path, "", 0);
    ck_assert_int_eq(rk_gguf_open(&g, path, &err), RK_ECORRUPT);
    bb_free(&b);
    free(path);
    rk_test_rmtree(dir);
    free(dir);
    rk_gguf_close(NULL);
}
END_TEST

/* ================================================================================================ */
/* truncation at every offset and every byte overwritten                                             */
static uint8_t *small_valid_file(size_t *n) {
    char *dir = rk_test_tmpdir("gguf");
    char *path = rk_path_join(dir, "s.gguf");
    rk_gguf_writer *w = NULL;
    rk_err err;
    ck_assert_int_eq(rk_gguf_writer_init(&w, &err), 0);
    ck_assert_int_eq(rk_gguf_set_str(w, "general.architecture", "deepseek2"), 0);
    ck_assert_int_eq(rk_gguf_set_f32(w, "deepseek2.rope.freq_base", 10000.0f), 0);
    const char *toks[3] = { "<s>", "a", "bc" };
    ck_assert_int_eq(rk_gguf_set_arr_str(w, "tokenizer.ggml.tokens", toks, 3), 0);
    const int32_t tt[3] = { 3, 1, 1 };
    ck_assert_int_eq(rk_gguf_set_arr(w, "tokenizer.ggml.token_type", RK_GGUF_I32, tt, 3), 0);
    rk_gguf_value inner[2] = { { .type = RK_GGUF_ARRAY, .v.arr = { RK_GGUF_I32, 2, (const uint8_t *)tt, NULL } },
                               { .type = RK_GGUF_ARRAY, .v.arr = { RK_GGUF_I32, 1, (const uint8_t *)tt, NULL } } };
    rk_gguf_value nested = { .type = RK_GGUF_ARRAY, .v.arr = { RK_GGUF_ARRAY, 2, NULL, inner } };
    ck_assert_int_eq(rk_gguf_set_value(w, "x.nested", &nested), 0);
    ck_assert_int_eq(rk_gguf_set_bool(w, "x.flag", 1), 0);
    int64_t ne1[2] = { 32, 2 }, ne2[1] = { 3 };
    ck_assert_int_eq(rk_gguf_writer_add_tensor(w, "blk.0.attn_q.weight", RK_DTYPE_Q8_0, 2, ne1, &err), 0);
    ck_assert_int_eq(rk_gguf_writer_add_tensor(w, "output_norm.weight", RK_DTYPE_F32, 1, ne2, &err), 0);
    ck_assert_int_eq(rk_gguf_writer_begin(w, path, 32, &err), 0);
    uint8_t d[68 + 12];
    for (size_t i = 0; i < sizeof d; i++) d[i] = (uint8_t)(i * 13);
    ck_assert_int_eq(rk_gguf_writer_write(w, d, sizeof d, &err), 0);
    ck_assert_int_eq(rk_gguf_writer_finish(w, &err), 0);
    rk_gguf_writer_free(w);
    uint8_t *p = rk_test_read_file(path, n);
    ck_assert_ptr_nonnull(p);
    free(path);
    rk_test_rmtree(dir);
    free(dir);
    return p;
}

START_TEST(truncation_every_offset) {
    size_t n;
    uint8_t *full = small_valid_file(&n);
    rk_gguf *g = NULL;
    rk_err err;
    uint8_t *keep;
    ck_assert_int_eq(open_copy(&g, full, n, &err, &keep), 0);
    uint64_t need = 0;   /* the file stays valid as long as every tensor's bytes are present */
    for (uint64_t i = 0; i < rk_gguf_tensor_count(g); i++) {
        const rk_gguf_tensor *t = rk_gguf_tensor_at(g, i);
        uint64_t end = rk_gguf_data_offset(g) + t->offset + t->nbytes;
        if (end > need) need = end;
    }
    rk_gguf_close(g);
    free(keep);
    ck_assert_uint_lt(need, n);
    for (size_t len = 0; len < n; len++) {
        g = NULL;
        int rc = open_copy(&g, full, len, &err, &keep);
        if (len < need) {
            ck_assert_msg(rc == RK_ECORRUPT, "prefix %zu: rc %d (%s)", len, rc, rc ? err.msg : "ok");
            ck_assert_ptr_null(g);
            ck_assert_msg(strncmp(err.msg, "x.gguf: ", 8) == 0, "prefix %zu: %s", len, err.msg);
        } else {
            ck_assert_msg(rc == 0, "prefix %zu: %s", len, err.msg);
            walk(g);
            rk_gguf_close(g);
            free(keep);
        }
    }
    free(full);
}
END_TEST

START_TEST(mutation_every_byte) {
    size_t n;
    uint8_t *full = small_valid_file(&n);
    uint8_t *buf = malloc(n);
    static const int deltas[] = { 0x100, 0x1FF, 0x180, 1, -1, 0x140 };   /* 0x100+: set to low byte */
    size_t ok = 0, bad = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < sizeof deltas / sizeof deltas[0]; k++) {
            memcpy(buf, full, n);
            buf[i] = deltas[k] >= 0x100 ? (uint8_t)deltas[k] : (uint8_t)(buf[i] + deltas[k]);
            rk_gguf *g = NULL;
            rk_err err;
            int rc = rk_gguf_open_buffer(&g, buf, n, "m.gguf", &err);
            if (rc == 0) {
                walk(g);
                rk_gguf_close(g);
                ok++;
            } else {
                ck_assert_int_lt(rc, 0);
                ck_assert_int_eq(err.code, rc);
                ck_assert_ptr_null(g);
                bad++;
            }
        }
    }
    ck_assert_uint_gt(bad, 0);
    ck_assert_uint_gt(ok, 0);
    free(buf);
    free(full);
}
END_TEST

/* ================================================================================================ */
/* writer misuse                                                                                      */
static size_t dir_entries(const char *dir) {
    size_t k = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) k++;
    if (d) closedir(d);
    return k;
}

static rk_gguf_writer *one_tensor_writer(rk_err *err) {
    rk_gguf_writer *w = NULL;
    ck_assert_int_eq(rk_gguf_writer_init(&w, err), 0);
    int64_t ne[2] = { 4, 2 };
    ck_assert_int_eq(rk_gguf_writer_add_tensor(w, "t0", RK_DTYPE_F32, 2, ne, err), 0);
    ck_assert_int_eq(rk_gguf_writer_add_tensor(w, "t1", RK_DTYPE_F16, 1, ne, err), 0);
    return w;
}

START_TEST(writer_over_under) {
    char *dir = rk_test_tmpdir("gguf");
    char *path = rk_path_join(dir, "o.gguf");
    rk_err err;
    uint8_t d[64] = { 0 };
    /* over-write in one chunk */
    rk_gguf_writer *w = one_tensor_writer(&err);
    ck_assert_int_eq(rk_gguf_writer_begin(w, path, 32, &err), 0);
    ck_assert_int_eq(rk_gguf_writer_write(w, d, 30, &err), 0);
    ck_assert_int_eq(rk_gguf_writer_write(w, d, 11, &err), RK_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "exceeds the 10 bytes"));
    ck_assert_int_eq(rk_gguf_writer_write(w, d, 1, &err), RK_EINVAL);
    ck_assert_int_eq(rk_gguf_writer_finish(w, &err), RK_EINVAL);
    rk_gguf_writer_free(w);
    ck_assert_uint_eq(dir_entries(dir), 0);
    /* under-write */
    w = one_tensor_writer(&err);
    ck_assert_int_eq(rk_gguf_writer_begin(w, path, 32, &err), 0);
    ck_assert_int_eq(rk_gguf_writer_write(w, d, 35, &err), 0);
    ck_assert_int_eq(rk_gguf_writer_finish(w, &err), RK_EINVAL);
    ck_assert_msg(strstr(err.msg, "tensor 't1' got 3 of its 8 bytes") != NULL, "%s", err.msg);
    ck_assert_int_eq(rk_gguf_writer_err(w)->code, RK_EINVAL);
    rk_gguf_writer_free(w);
    ck_assert_uint_eq(dir_entries(dir), 0);
    /* freed mid-stream: temp removed, no target */
    w = one_tensor_writer(&err);
    ck_assert_int_eq(rk_gguf_writer_begin(w, path, 32, &err), 0);
    ck_assert_int_eq(rk_gguf_writer_write(w, d, 5, &err), 0);
    ck_assert_uint_eq(dir_entries(dir), 1);
    rk_gguf_writer_free(w);
    ck_assert_uint_eq(dir_entries(dir), 0);
    /* exact: ok, and nothing but the target remains */
    w = one_tensor_writer(&err);
    ck_assert_int_eq(rk_gguf_writer_write(w, d, 1, &err), RK_EINVAL);   /* before begin */
    rk_gguf_writer_free(w);
    w = one_tensor_writer(&err);
    ck_assert_int_eq(rk_gguf_writer_begin(w, path, 32, &err), 0);
    ck_assert_int_eq(rk_gguf_writer_begin(w, path, 32, &err), RK_EINVAL);
    rk_gguf_writer_free(w);
    w = one_tensor_writer(&err);
    ck_assert_int_eq(rk_gguf_writer_begin(w, path, 32, &err), 0);
    ck_assert_int_eq(rk_gguf_writer_write(w, d, 0, &err), 0);
    ck_assert_int_eq(rk_gguf_writer_write(w, d, 40, &err), 0);
    ck_assert_int_eq(rk_gguf_set_u32(w, "late", 1), RK_EINVAL);
    ck_assert_int_eq(rk_gguf_writer_finish(w, &err), 0);
    ck_assert_int_eq(rk_gguf_writer_finish(w, &err), RK_EINVAL);
    rk_gguf_writer_free(w);
    ck_assert_uint_eq(dir_entries(dir), 1);
    free(path);
    rk_test_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(writer_bad_input) {
    char *dir = rk_test_tmpdir("gguf");
    char *path = rk_path_join(dir, "b.gguf");
    rk_err err;
    rk_gguf_writer *w = NULL;
    int64_t ne[2] = { 32, 1 };
    char n63[64], n64[65];
    memset(n63, 'a', 63);
    n63[63] = 0;
    memset(n64, 'a', 64);
    n64[64] = 0;
    struct { const char *name; int type; uint32_t nd; int64_t ne0, ne1; const char *msg; } bad_t[] = {
        { "", RK_DTYPE_F32, 1, 4, 1, "name must be 1..63" },
        { n64, RK_DTYPE_F32, 1, 4, 1, "name must be 1..63" },
        { "t", 4, 1, 4, 1, "4 is not a ggml type" },
        { "t", RK_DTYPE_F8_E4M3, 1, 4, 1, "is not a ggml type" },
        { "t", RK_DTYPE_F32, 0, 4, 1, "n_dims 0" },
        { "t", RK_DTYPE_F32, 5, 4, 1, "n_dims 5" },
        { "t", RK_DTYPE_F32, 2, 4, -1, "dimension 1 is negative" },
        { "t", RK_DTYPE_Q4_K, 2, 32, 1, "row of 32 elements is not a multiple of the Q4_K block size 256" },
        { "t", RK_DTYPE_F32, 2, INT64_MAX, 2, "element count overflows" },
    };
    for (size_t k = 0; k < sizeof bad_t / sizeof bad_t[0]; k++) {
        ck_assert_int_eq(rk_gguf_writer_init(&w, &err), 0);
        int64_t e[5] = { bad_t[k].ne0, bad_t[k].ne1, 1, 1, 1 };
        ck_assert_int_eq(rk_gguf_writer_add_tensor(w, bad_t[k].name, bad_t[k].type, bad_t[k].nd, e, &err), RK_EINVAL);
        ck_assert_msg(strstr(err.msg, bad_t[k].msg) != NULL, "case %zu: %s", k, err.msg);
        /* sticky: begin fails with the same error and writes nothing */
        rk_err e2;
        ck_assert_int_eq(rk_gguf_writer_begin(w, path, 32, &e2), RK_EINVAL);
        ck_assert_str_eq(e2.msg, err.msg);
        rk_gguf_writer_free(w);
    }
    ck_assert_uint_eq(dir_entries(dir), 0);

    ck_assert_int_eq(rk_gguf_writer_init(&w, &err), 0);
    ck_assert_int_eq(rk_gguf_writer_add_tensor(w, n63, RK_DTYPE_F32, 2, ne, &err), 0);
    ck_assert_int_eq(rk_gguf_writer_add_tensor(w, n63, RK_DTYPE_F32, 2, ne, &err), RK_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "duplicate tensor name"));
    rk_gguf_writer_free(w);

    /* KV misuse */
    ck_assert_int_eq(rk_gguf_writer_init(&w, &err), 0);
    ck_assert_int_eq(rk_gguf_set_u32(w, "k", 1), 0);
    ck_assert_int_eq(rk_gguf_set_str(w, "k", "x"), RK_EINVAL);
    ck_assert_ptr_nonnull(strstr(rk_gguf_writer_err(w)->msg, "duplicate key 'k'"));
    ck_assert_int_eq(rk_gguf_writer_begin(w, path, 32, &err), RK_EINVAL);
    rk_gguf_writer_free(w);
    const uint8_t bools[2] = { 1, 2 };
    rk_gguf_value big = { .type = RK_GGUF_U8, .v.u = 300 };
    rk_gguf_value neg = { .type = RK_GGUF_I16, .v.i = -40000 };
    rk_gguf_value badt = { .type = 42 };
    rk_gguf_value mixed_items[2] = { { .type = RK_GGUF_STRING, .v.s = { "a", 1 } }, { .type = RK_GGUF_U8 } };
    rk_gguf_value mixed = { .type = RK_GGUF_ARRAY, .v.arr = { RK_GGUF_STRING, 2, NULL, mixed_items } };
    rk_gguf_value deep[RK_GGUF_MAX_DEPTH + 1];
    for (int i = 0; i <= RK_GGUF_MAX_DEPTH; i++)
        deep[i] = (rk_gguf_value){ .type = RK_GGUF_ARRAY,
                                   .v.arr = { i == RK_GGUF_MAX_DEPTH ? RK_GGUF_U8 : RK_GGUF_ARRAY, i == RK_GGUF_MAX_DEPTH ? 0 : 1,
                                              NULL, i == RK_GGUF_MAX_DEPTH ? NULL : &deep[i + 1] } };
    for (int k = 0; k < 11; k++) {
        ck_assert_int_eq(rk_gguf_writer_init(&w, &err), 0);
        int rc = 0;
        switch (k) {
        case 0: rc = rk_gguf_set_u8(w, "", 1); break;
        case 1: rc = rk_gguf_set_u8(w, NULL, 1); break;
        case 2: rc = rk_gguf_set_arr(w, "b", RK_GGUF_BOOL, bools, 2); break;
        case 3: rc = rk_gguf_set_arr(w, "s", RK_GGUF_STRING, bools, 2); break;
        case 4: rc = rk_gguf_set_u64(w, "general.alignment", 32); break;
        case 5: rc = rk_gguf_set_u32(w, "general.alignment", 48); break;
        case 6: rc = rk_gguf_set_value(w, "v", &big); break;
        case 7: rc = rk_gguf_set_value(w, "v", &neg); break;
        case 8: rc = rk_gguf_set_value(w, "v", &badt); break;
        case 9: rc = rk_gguf_set_value(w, "v", &mixed); break;
        case 10: rc = rk_gguf_set_value(w, "v", &deep[0]); break;
        }
        ck_assert_msg(rc == RK_EINVAL, "kv case %d: rc %d", k, rc);
        ck_assert_int_eq(rk_gguf_writer_err(w)->code, RK_EINVAL);
        ck_assert_int_eq(rk_gguf_writer_begin(w, path, 32, &err), RK_EINVAL);
        rk_gguf_writer_free(w);
    }
    ck_assert_uint_eq(dir_entries(dir), 0);
    /* alignment: not a power of two; disagreeing with general.alignment */
    ck_assert_int_eq(rk_gguf_writer_init(&w, &err), 0);
    ck_assert_int_eq(rk_gguf_writer_begin(w, path, 48, &err), RK_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "alignment 48 is not a power of two"));
    rk_gguf_writer_free(w);
    ck_assert_int_eq(rk_gguf_writer_init(&w, &err), 0);
    ck_assert_int_eq(rk_gguf_set_u32(w, "general.alignment", 64), 0);
    ck_assert_int_eq(rk_gguf_writer_begin(w, path, 32, &err), RK_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "general.alignment was set to 64"));
    rk_gguf_writer_free(w);
    /* unwritable target */
    ck_assert_int_eq(rk_gguf_writer_init(&w, &err), 0);
    ck_assert_int_eq(rk_gguf_writer_begin(w, "/nonexistent/dir/x.gguf", 32, &err), RK_EIO);
    ck_assert_int_eq(rk_gguf_writer_finish(w, &err), RK_EINVAL);
    rk_gguf_writer_free(w);
    rk_gguf_writer_free(NULL);
    ck_assert_uint_eq(dir_entries(dir), 0);
    free(path);
    rk_test_rmtree(dir);
    free(dir);
}
END_TEST

/* many keys and tensors: the indexes grow and lookups still work */
START_TEST(many_entries) {
    char *dir = rk_test_tmpdir("gguf");
    char *path = rk_path_join(dir, "m.gguf");
    rk_err err;
    rk_gguf_writer *w = NULL;
    ck_assert_int_eq(rk_gguf_writer_init(&w, &err), 0);
    char k[64];
    for (int i = 0; i < 3000; i++) {
        snprintf(k, sizeof k, "key.%d", i);
        ck_assert_int_eq(rk_gguf_set_i32(w, k, -i), 0);
    }
    int64_t ne[1] = { 1 };
    for (int i = 0; i < 2000; i++) {
        snprintf(k, sizeof k, "blk.%d.w", i);
        ck_assert_int_eq(rk_gguf_writer_add_tensor(w, k, RK_DTYPE_I8, 1, ne, &err), 0);
    }
    ck_assert_int_eq(rk_gguf_writer_begin(w, path, 32, &err), 0);
    for (int i = 0; i < 2000; i++) {
        uint8_t b = (uint8_t)i;
        ck_assert_int_eq(rk_gguf_writer_write(w, &b, 1, &err), 0);
    }
    ck_assert_int_eq(rk_gguf_writer_finish(w, &err), 0);
    rk_gguf_writer_free(w);
    rk_gguf *g = NULL;
    ck_assert_int_eq(rk_gguf_open(&g, path, &err), 0);
    for (int i = 0; i < 3000; i += 7) {
        int64_t v;
        snprintf(k, sizeof k, "key.%d", i);
        ck_assert_int_eq(rk_gguf_get_i64(g, k, &v), 0);
        ck_assert_int_eq(v, -i);
    }
    for (int i = 0; i < 2000; i += 3) {
        snprintf(k, sizeof k, "blk.%d.w", i);
        const rk_gguf_tensor *t = rk_gguf_find_tensor(g, k);
        ck_assert_ptr_nonnull(t);
        ck_assert_uint_eq(t->data[0], (uint8_t)i);
        ck_assert_uint_eq(t->offset, 32u * (unsigned)i);
    }
    rk_gguf_close(g);
    free(path);
    rk_test_rmtree(dir);
    free(dir);
}
END_TEST

Suite *make_suite(void) {
    Suite *s = suite_create("gguf");
    TCase *tc = tcase_create("golden");
    tcase_add_test(tc, golden_parse);
    tcase_add_test(tc, golden_writer_bytes);
    suite_add_tcase(s, tc);
    tc = tcase_create("roundtrip");
    tcase_add_test(tc, roundtrip_kv_types);
    tcase_add_test(tc, format_bounds);
    tcase_add_test(tc, roundtrip_tensors_align32);
    tcase_add_test(tc, roundtrip_tensors_align64);
    tcase_add_test(tc, roundtrip_tensors_align16);
    tcase_add_test(tc, roundtrip_tensors_align4096);
    tcase_add_test(tc, roundtrip_alignment_kv);
    tcase_add_test(tc, many_entries);
    suite_add_tcase(s, tc);
    tc = tcase_create("parse_corrupt");
    tcase_add_loop_test(tc, parse_corrupt, 0, (int)(sizeof k_cases / sizeof k_cases[0]));
    tcase_add_test(tc, open_path_errors);
    tcase_add_test(tc, truncation_every_offset);
    tcase_add_test(tc, mutation_every_byte);
    suite_add_tcase(s, tc);
    tc = tcase_create("writer_misuse");
    tcase_add_test(tc, writer_over_under);
    tcase_add_test(tc, writer_bad_input);
    suite_add_tcase(s, tc);
    return s;
}

RK_TEST_MAIN()
