/* tests/formats/test_safetensors.c — safetensors reader, set (index) and writer.
 * parse_ok: every dtype, scalars, empty tensors, metadata, escaped names. parse_corrupt: one table of hostile
 * files, each opened from disk and from memory, asserting the code and a piece of the one-line message.
 * set_ok / set_corrupt: sharded sets and their index. roundtrip: write then read, single and sharded, in odd
 * chunkings, bytes identical across two writes. writer_errors: misuse leaves no files behind. */
#define _GNU_SOURCE
#include "tests/common/rk_test.h"
#include "formats/safetensors.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ---- */

/* Bytes of a safetensors file: u64 header length (hlen, or strlen(json) when hlen < 0), json, ndata bytes
 * of the pattern i*7+3. *n gets the size. */
static uint8_t *st_bytes(const char *json, int64_t hlen, size_t ndata, size_t *n) {
    size_t jl = strlen(json);
    uint64_t h = hlen < 0 ? jl : (uint64_t)hlen;
    *n = 8 + jl + ndata;
    uint8_t *b = malloc(*n + 1);
    ck_assert_ptr_nonnull(b);
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(h >> (8 * i));
    memcpy(b + 8, json, jl);
    for (size_t i = 0; i < ndata; i++) b[8 + jl + i] = (uint8_t)(i * 7 + 3);
    return b;
}

static void write_st(const char *path, const char *json, size_t ndata) {
    size_t n;
    uint8_t *b = st_bytes(json, -1, ndata, &n);
    rk_test_write_file(path, b, n);
    free(b);
}

static char *join(const char *dir, const char *name) {
    char *p = rk_path_join(dir, name);
    ck_assert_ptr_nonnull(p);
    return p;
}

/* Entries of a folder (not . or ..); *tmps counts names holding ".tmp.". */
static int count_files(const char *dir, int *tmps) {
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0, t = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        n++;
        if (strstr(e->d_name, ".tmp.")) t++;
    }
    closedir(d);
    if (tmps) *tmps = t;
    return n;
}

static void assert_same_file(const char *a, const char *b) {
    size_t na, nb;
    uint8_t *x = rk_test_read_file(a, &na), *y = rk_test_read_file(b, &nb);
    ck_assert_msg(x && y, "missing %s or %s", a, b);
    ck_assert_msg(na == nb && memcmp(x, y, na) == 0, "%s and %s differ", a, b);
    free(x);
    free(y);
}

/* ---- parse_ok ---- */
static const char *const k_dtypes[] = { "BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16", "BF16", "I32",
                                        "U32", "F32", "F64", "I64", "U64", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4" };
#define N_DTYPES (sizeof k_dtypes / sizeof k_dtypes[0])

static uint64_t bytes_of(const char *dt, uint64_t numel) {
    const rk_dtype_traits *t = rk_dtype_get(rk_dtype_from_name(dt));
    ck_assert_ptr_nonnull(t);
    return numel * t->bits / 8;
}

START_TEST(parse_ok_all_dtypes) {
    char json[4096];
    size_t k = 0;
    uint64_t off = 0, offs[N_DTYPES + 2];
    k += (size_t)snprintf(json + k, sizeof json - k, "{\"__metadata__\":{\"format\":\"pt\",\"note\":\"caf\\u00e9 \\\"q\\\"\"}");
    for (size_t i = 0; i < N_DTYPES; i++) {   /* shape [2, 4]: 8 elements, whole bytes even for F4 and F6 */
        uint64_t nb = bytes_of(k_dtypes[i], 8);
        offs[i] = off;
        k += (size_t)snprintf(json + k, sizeof json - k, ",\"t_%s\":{\"dtype\":\"%s\",\"shape\":[2,4],\"data_offsets\":[%llu,%llu]}",
                              k_dtypes[i], k_dtypes[i], (unsigned long long)off, (unsigned long long)(off + nb));
        off += nb;
    }
    offs[N_DTYPES] = off;   /* scalar F32 */
    k += (size_t)snprintf(json + k, sizeof json - k,
                          ",\"scalar\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
                          (unsigned long long)(off + 4));
    off += 4;
    offs[N_DTYPES + 1] = off;   /* empty tensors: in the middle and at the end */
    k += (size_t)snprintf(json + k, sizeof json - k,
                          ",\"empty\":{\"dtype\":\"BF16\",\"shape\":[0,5],\"data_offsets\":[%llu,%llu]}"
                          ",\"w\\u00e9ight\\n\\\"x\\\"\\/\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}}",
                          (unsigned long long)off, (unsigned long long)off);
    while (k % 8) json[k++] = ' ';   /* trailing space padding is allowed */
    json[k] = 0;

    char *dir = rk_test_tmpdir("st-ok");
    char *path = join(dir, "model.safetensors");
    write_st(path, json, (size_t)off);
    size_t fsize;
    uint8_t *file = rk_test_read_file(path, &fsize);

    rk_err err;
    rk_safetensors *st = NULL;
    int rc = rk_safetensors_open(&st, path, &err);
    ck_assert_msg(rc == 0, "open: %s", err.msg);
    ck_assert_uint_eq(rk_safetensors_count(st), N_DTYPES + 3);
    ck_assert_uint_eq(rk_safetensors_header_len(st), k);
    ck_assert_str_eq(rk_safetensors_path(st), path);
    for (size_t i = 0; i < N_DTYPES; i++) {
        char nm[32];
        snprintf(nm, sizeof nm, "t_%s", k_dtypes[i]);
        const rk_st_tensor *t = rk_safetensors_find(st, nm);
        ck_assert_msg(t != NULL, "missing %s", nm);
        ck_assert_str_eq(t->name, nm);
        ck_assert_int_eq(t->dtype, rk_dtype_from_name(k_dtypes[i]));
        ck_assert_str_eq(rk_dtype_name(t->dtype), k_dtypes[i]);
        ck_assert_int_eq(t->n_dims, 2);
        ck_assert_int_eq(t->shape[0], 2);
        ck_assert_int_eq(t->shape[1], 4);
        ck_assert_uint_eq(t->nbytes, bytes_of(k_dtypes[i], 8));
        ck_assert_uint_eq(t->offset, 8 + k + offs[i]);
        ck_assert_ptr_nonnull(t->data);
        ck_assert(memcmp(t->data, file + t->offset, t->nbytes) == 0);
        ck_assert_int_eq(t->shard, 0);
    }
    const rk_st_tensor *s = rk_safetensors_find(st, "scalar");
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(s->n_dims, 0);
    ck_assert_uint_eq(s->nbytes, 4);
    const rk_st_tensor *e = rk_safetensors_find(st, "empty");
    ck_assert_ptr_nonnull(e);
    ck_assert_uint_eq(e->nbytes, 0);
    ck_assert_ptr_null(e->data);
    ck_assert_int_eq(e->n_dims, 2);
    ck_assert_int_eq(e->shape[0], 0);
    const rk_st_tensor *u = rk_safetensors_find(st, "w\xc3\xa9ight\n\"x\"/");
    ck_assert_msg(u != NULL, "escaped name not decoded");
    ck_assert_uint_eq(u->nbytes, 0);
    ck_assert_ptr_null(rk_safetensors_find(st, "nope"));
    ck_assert_ptr_null(rk_safetensors_tensor(st, N_DTYPES + 3));

    /* file order: offsets never decrease */
    for (size_t i = 1; i < rk_safetensors_count(st); i++)
        ck_assert_uint_le(rk_safetensors_tensor(st, i - 1)->offset, rk_safetensors_tensor(st, i)->offset);
    ck_assert_str_eq(rk_safetensors_tensor(st, 0)->name, "w\xc3\xa9ight\n\"x\"/");   /* [0,0] sorts first */

    ck_assert_uint_eq(rk_safetensors_meta_count(st), 2);
    const char *key, *val;
    ck_assert_int_eq(rk_safetensors_meta(st, 1, &key, &val), 0);
    ck_assert_str_eq(key, "note");
    ck_assert_str_eq(val, "caf\xc3\xa9 \"q\"");
    ck_assert_str_eq(rk_safetensors_meta_get(st, "format"), "pt");
    ck_assert_ptr_null(rk_safetensors_meta_get(st, "absent"));
    ck_assert_int_eq(rk_safetensors_meta(st, 2, &key, &val), RK_ENOTFOUND);
    rk_safetensors_close(st);

    /* the same bytes from memory */
    rc = rk_safetensors_open_buffer(&st, file, fsize, "mem", &err);
    ck_assert_msg(rc == 0, "open_buffer: %s", err.msg);
    ck_assert_uint_eq(rk_safetensors_count(st), N_DTYPES + 3);
    rk_safetensors_close(st);

    /* as a set: by file and by folder */
    rk_st_set *set = NULL;
    const char *srcs[2] = { path, dir };
    for (int i = 0; i < 2; i++) {
        rc = rk_st_set_open(&set, srcs[i], &err);
        ck_assert_msg(rc == 0, "set open %s: %s", srcs[i], err.msg);
        ck_assert_uint_eq(rk_st_set_count(set), N_DTYPES + 3);
        ck_assert_uint_eq(rk_st_set_shard_count(set), 1);
        ck_assert_ptr_nonnull(rk_st_set_find(set, "t_F4"));
        ck_assert_ptr_eq(rk_st_set_tensor(set, 0), rk_safetensors_tensor(rk_st_set_shard(set, 0), 0));
        rk_st_set_close(set);
    }
    free(file);
    free(path);
    rk_test_rmtree(dir);
    free(dir);
    rk_safetensors_close(NULL);
    rk_st_set_close(NULL);
}
END_TEST

START_TEST(parse_ok_empty_and_padded) {
    static const char *const ok[] = {
        "{}",
        "{}      ",
        "{\"__metadata__\":{}}",
        ("{ \"a\" : { \"dtype\" : \"U8\" , \"shape\" : [ ] , \"data_offsets\" : [ 0 , 1 ] } }   "),
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        size_t n;
        uint8_t *b = st_bytes(ok[i], -1, i == 3 ? 1 : 0, &n);
        rk_err err;
        rk_safetensors *st = NULL;
        int rc = rk_safetensors_open_buffer(&st, b, n, "x.safetensors", &err);
        ck_assert_msg(rc == 0, "case %zu: %s", i, err.msg);
        ck_assert_uint_eq(rk_safetensors_count(st), i == 3 ? 1 : 0);
        rk_safetensors_close(st);
        free(b);
    }
}
END_TEST

/* ---- parse_corrupt ---- */
typedef struct bad_case {
    const char *json;   /* NULL: generated (see gen_json) */
    int64_t hlen;       /* -1: strlen(json) */
    size_t ndata;       /* data bytes after the header */
    size_t cut;         /* nonzero: keep only this many bytes of the file */
    int code;
    const char *needle;
} bad_case;

#define F32_1(nm, b, e) "\"" nm "\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[" #b "," #e "]}"

static const bad_case k_bad[] = {
    /* 0 */ { "{}", -1, 0, 3, RK_ECORRUPT, "too short for the 8-byte header length" },
    { "{}", 1000, 0, 0, RK_ECORRUPT, "header length 1000 runs past the end of the file" },
    { "{}", 200000000, 0, 0, RK_ECORRUPT, "exceeds the limit of 100000000 bytes" },
    { "{}", 0, 0, 0, RK_ECORRUPT, "header is empty" },
    { "{\"a\xff\":1}", -1, 0, 0, RK_ECORRUPT, "not valid UTF-8 (byte 0xff at offset 11)" },
    /* 5 */ { "{\"\xc0\xaf\":{}}", -1, 0, 0, RK_ECORRUPT, "not valid UTF-8" },
    { "{\"\xed\xa0\x80\":{}}", -1, 0, 0, RK_ECORRUPT, "not valid UTF-8" },
    { "{\"a\":", -1, 0, 0, RK_ECORRUPT, "header is not valid JSON" },
    { "[1]", -1, 0, 0, RK_ECORRUPT, "header is not a JSON object" },
    { " {}", -1, 0, 0, RK_ECORRUPT, "header is not a JSON object" },
    /* 10 */ { "{}x", -1, 0, 0, RK_ECORRUPT, "after the JSON object" },
    { "{}\n", -1, 0, 0, RK_ECORRUPT, "only space padding" },
    { "{\"a\":1,}", -1, 0, 0, RK_ECORRUPT, "expected a string key" },
    { "{\"a\":'x'}", -1, 0, 0, RK_ECORRUPT, "unexpected character" },
    { "{\"a\":5}", -1, 0, 0, RK_ECORRUPT, "tensor 'a': entry is a number, expected an object" },
    /* 15 */ { "{\"a\":\"F32\"}", -1, 0, 0, RK_ECORRUPT, "entry is a string" },
    { "{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", -1, 4, 0, RK_ECORRUPT, "tensor 'a': missing field 'dtype'" },
    { "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", -1, 4, 0, RK_ECORRUPT, "missing field 'shape'" },
    { "{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", -1, 4, 0, RK_ECORRUPT, "missing field 'data_offsets'" },
    { "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":\"y\"}}", -1, 4, 0, RK_ECORRUPT, "unexpected field 'x'" },
    /* 20 */ { "{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", -1, 4, 0, RK_ECORRUPT,
               "duplicate field 'dtype'" },
    { "{\"a\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", -1, 4, 0, RK_EUNSUPPORTED, "tensor 'a': unknown dtype 'F33'" },
    { "{\"a\":{\"dtype\":\"Q4_K\",\"shape\":[256],\"data_offsets\":[0,144]}}", -1, 144, 0, RK_EUNSUPPORTED, "unknown dtype 'Q4_K'" },
    { "{\"a\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", -1, 4, 0, RK_EUNSUPPORTED, "unknown dtype 'f32'" },
    { "{\"a\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,4]}}", -1, 4, 0, RK_ECORRUPT, "dtype is a number" },
    /* 25 */ { "{\"a\":{\"dtype\":\"F32\",\"shape\":4,\"data_offsets\":[0,4]}}", -1, 4, 0, RK_ECORRUPT, "shape is a number" },
    { "{\"a\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,4]}}", -1, 4, 0, RK_ECORRUPT, "2.5 is not a non-negative integer" },
    { "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4]}}", -1, 4, 0, RK_ECORRUPT, "1.0 is not a non-negative integer" },
    { "{\"a\":{\"dtype\":\"F32\",\"shape\":[1e0],\"data_offsets\":[0,4]}}", -1, 4, 0, RK_ECORRUPT, "not a non-negative integer" },
    { "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", -1, 4, 0, RK_ECORRUPT, "-1 is not a non-negative integer" },
    /* 30 */ { "{\"a\":{\"dtype\":\"U8\",\"shape\":[9007199254740993],\"data_offsets\":[0,1]}}", -1, 1, 0, RK_ECORRUPT,
               "larger than 2^53" },
    { "{\"a\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}}", -1, 4, 0, RK_ECORRUPT, "shape[0] is a string" },
    { "{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", -1, 1, 0, RK_EUNSUPPORTED,
      "shape has 9 dimensions, at most 8" },
    { "{\"a\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,1]}}", -1, 1, 0, RK_ECORRUPT,
      "more elements than fit in 64 bits" },
    { "{\"a\":{\"dtype\":\"F64\",\"shape\":[9007199254740992,1024],\"data_offsets\":[0,8]}}", -1, 8, 0, RK_ECORRUPT,
      "more bytes than fit in 64 bits" },
    /* 35 */ { "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", -1, 8, 0, RK_ECORRUPT, "data_offsets must be [begin, end]" },
    { "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", -1, 4, 0, RK_ECORRUPT, "data_offsets must be [begin, end]" },
    { "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":{}}}", -1, 4, 0, RK_ECORRUPT, "data_offsets must be [begin, end]" },
    { "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,0]}}", -1, 4, 0, RK_ECORRUPT, "data_offsets [4, 0] end before they begin" },
    { "{\"x\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}}", -1, 12, 0, RK_ECORRUPT,
      "tensor 'x': data_offsets [0, 12] hold 12 bytes but F32 [2, 2] needs 16" },
    /* 40 */ { "{\"a\":{\"dtype\":\"F4\",\"shape\":[3],\"data_offsets\":[0,1]}}", -1, 1, 0, RK_EUNSUPPORTED,
               "F4 [3] is 3 x 4 bits, not a whole number of bytes" },
    { "{\"a\":{\"dtype\":\"F6_E2M3\",\"shape\":[3],\"data_offsets\":[0,2]}}", -1, 2, 0, RK_EUNSUPPORTED, "not a whole number of bytes" },
    { "{" F32_1("a", 1000, 1004) "}", -1, 4, 0, RK_ECORRUPT, "data_offsets [1000, 1004] end past the 4 data bytes" },
    { "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", -1, 8, 0, RK_ECORRUPT, "(truncated?)" },
    { "{" F32_1("a", 0, 4) "}", -1, 10, 0, RK_ECORRUPT, "6 trailing bytes" },
    /* 45 */ { "{" F32_1("a", 0, 4) "," F32_1("b", 2, 6) "}", -1, 6, 0, RK_ECORRUPT, "tensor 'b' (data_offsets [2, 6]) overlaps tensor 'a'" },
    { "{" F32_1("a", 0, 4) "," F32_1("b", 8, 12) "}", -1, 12, 0, RK_ECORRUPT, "hole of 4 unused data bytes before tensor 'b'" },
    { "{" F32_1("a", 4, 8) "}", -1, 8, 0, RK_ECORRUPT, "hole of 4 unused data bytes before tensor 'a'" },
    { "{" F32_1("a", 0, 4) "," F32_1("a", 4, 8) "}", -1, 8, 0, RK_ECORRUPT, "duplicate tensor name 'a'" },
    { "{\"__metadata__\":{},\"__metadata__\":{}}", -1, 0, 0, RK_ECORRUPT, "duplicate key '__metadata__'" },
    /* 50 */ { "{\"__metadata__\":\"x\"}", -1, 0, 0, RK_ECORRUPT, "__metadata__ is a string, expected a string-to-string map" },
    { "{\"__metadata__\":{\"k\":1}}", -1, 0, 0, RK_ECORRUPT, "not a string-to-string map: value of 'k' is a number" },
    { "{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"}}", -1, 0, 0, RK_ECORRUPT, "__metadata__ has the key 'k' twice" },
    { "{\"a\\u0000b\":{}}", -1, 0, 0, RK_ECORRUPT, "\\u0000 (NUL) inside a string" },
    { "{\"\\ud800\":{}}", -1, 0, 0, RK_ECORRUPT, "unpaired UTF-16 high surrogate" },
    /* 55 */ { "{\"\\udc00x\":{}}", -1, 0, 0, RK_ECORRUPT, "unpaired UTF-16 low surrogate" },
    { "{\"a\tb\":{}}", -1, 0, 0, RK_ECORRUPT, "raw control character 0x09" },
    { "{\"a\\x\":{}}", -1, 0, 0, RK_ECORRUPT, "invalid escape" },
    { "{\"a\":{\"dtype\":\"U8\",\"shape\":[12345678901234567890123456789012345678901],\"data_offsets\":[0,1]}}", -1, 1, 0,
      RK_ECORRUPT, "too long" },
    { "{\"a\":{\"dtype\":\"U8\",\"shape\":[01],\"data_offsets\":[0,1]}}", -1, 1, 0, RK_ECORRUPT, "expected ',' or ']'" },
    /* 60 */ { "{\"a\":tru}", -1, 0, 0, RK_ECORRUPT, "invalid literal" },
    { "{\"a\":{}", -1, 0, 0, RK_ECORRUPT, "expected ',' or '}'" },
    { "{\"a\" {}}", -1, 0, 0, RK_ECORRUPT, "expected ':'" },
    { "{\"a", -1, 0, 0, RK_ECORRUPT, "unterminated string" },
    { NULL, -1, 0, 0, RK_ECORRUPT, "nested deeper than 64 levels" },
    /* 65 */ { NULL, -1, 0, 0, RK_ECORRUPT, "array with more than 64 items" },
    { "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", -1, 1, 60, RK_ECORRUPT, "runs past the end of the file" },
    { "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 54, 2, 0, RK_ECORRUPT, "header has byte 0x03 at offset 61" },
};

/* Generated cases: deep nesting and a long array. */
static char *gen_json(size_t i) {
    char *j = malloc(1024);
    ck_assert_ptr_nonnull(j);
    if (i == 64) {
        strcpy(j, "{\"a\":");
        for (int d = 0; d < 80; d++) strcat(j, "[");
        for (int d = 0; d < 80; d++) strcat(j, "]");
        strcat(j, "}");
    } else {
        strcpy(j, "{\"a\":{\"dtype\":\"U8\",\"shape\":[1");
        for (int d = 0; d < 70; d++) strcat(j, ",1");
        strcat(j, "],\"data_offsets\":[0,1]}}");
    }
    return j;
}

START_TEST(parse_corrupt) {
    char *dir = rk_test_tmpdir("st-bad");
    char *path = join(dir, "model.safetensors");
    for (size_t i = 0; i < sizeof k_bad / sizeof k_bad[0]; i++) {
        const bad_case *c = &k_bad[i];
        char *gen = c->json ? NULL : gen_json(i);
        size_t n;
        uint8_t *b = st_bytes(c->json ? c->json : gen, c->hlen, c->ndata, &n);
        if (c->cut && c->cut < n) n = c->cut;
        rk_test_write_file(path, b, n);
        for (int mode = 0; mode < 2; mode++) {
            rk_err err;
            rk_err_clear(&err);
            rk_safetensors *st = (rk_safetensors *)1;
            int rc = mode == 0 ? rk_safetensors_open(&st, path, &err) : rk_safetensors_open_buffer(&st, b, n, "buf.safetensors", &err);
            const char *label = mode == 0 ? path : "buf.safetensors";
            ck_assert_msg(rc == c->code, "case %zu (%s): rc %d, want %d; msg: %s", i, mode ? "buffer" : "file", rc, c->code, err.msg);
            ck_assert_int_eq(err.code, c->code);
            ck_assert_ptr_null(st);
            ck_assert_msg(strstr(err.msg, c->needle) != NULL, "case %zu: message \"%s\" lacks \"%s\"", i, err.msg, c->needle);
            ck_assert_msg(strncmp(err.msg, label, strlen(label)) == 0, "case %zu: message \"%s\" does not name the file", i, err.msg);
            ck_assert_msg(strchr(err.msg, '\n') == NULL, "case %zu: message has a newline", i);
        }
        free(b);
        free(gen);
    }
    /* missing file: an I/O error naming it */
    rk_err err;
    rk_safetensors *st = NULL;
    char *missing = join(dir, "nope.safetensors");
    ck_assert_int_eq(rk_safetensors_open(&st, missing, &err), RK_EIO);
    ck_assert(strstr(err.msg, "nope.safetensors") != NULL);
    free(missing);
    free(path);
    rk_test_rmtree(dir);
    free(dir);
}
END_TEST

/* Every prefix of a valid file is rejected (never crashes); so is every single-byte corruption of the
 * length field. */
START_TEST(parse_corrupt_truncations) {
    const char *json = "{\"__metadata__\":{\"k\":\"v\"}," F32_1("a", 0, 4) "," F32_1("b", 4, 8) "}";
    size_t n;
    uint8_t *b = st_bytes(json, -1, 8, &n);
    rk_err err;
    rk_safetensors *st;
    ck_assert_int_eq(rk_safetensors_open_buffer(&st, b, n, "t", &err), 0);
    rk_safetensors_close(st);
    for (size_t cut = 0; cut < n; cut++) {
        uint8_t *c = malloc(cut ? cut : 1);
        memcpy(c, b, cut);
        int rc = rk_safetensors_open_buffer(&st, c, cut, "t", &err);
        ck_assert_msg(rc == RK_ECORRUPT, "prefix %zu: rc %d (%s)", cut, rc, err.msg);
        free(c);
    }
    for (int i = 0; i < 8; i++) {
        uint8_t save = b[i];
        b[i] ^= 0x40;
        ck_assert_int_ne(rk_safetensors_open_buffer(&st, b, n, "t", &err), 0);
        b[i] = save;
    }
    free(b);
}
END_TEST

/* ---- sets ---- */
typedef struct set_case {
    const char *index;   /* text of model.safetensors.index.json */
    int code;
    const char *needle;
} set_case;

/* shards: a = {x}, b = {y}, c = {x2, w}, d = {x, q}, bad = corrupt */
static void make_shards(const char *dir) {
    char *p;
    write_st(p = join(dir, "a.safetensors"), "{" F32_1("x", 0, 4) "}", 4), free(p);
    write_st(p = join(dir, "b.safetensors"), "{" F32_1("y", 0, 4) "}", 4), free(p);
    write_st(p = join(dir, "c.safetensors"), "{" F32_1("x2", 0, 4) "," F32_1("w", 4, 8) "}", 8), free(p);
    write_st(p = join(dir, "d.safetensors"), "{" F32_1("x", 0, 4) "," F32_1("q", 4, 8) "}", 8), free(p);
    write_st(p = join(dir, "bad.safetensors"), "{" F32_1("z", 0, 4) "}", 3), free(p);
}

static const set_case k_set_bad[] = {
    { "{\"weight_map\":{\"x\":\"../a.safetensors\"}}", RK_ECORRUPT, "shard '../a.safetensors' of tensor 'x' is not a plain file name" },
    { "{\"weight_map\":{\"x\":\"sub/a.safetensors\"}}", RK_ECORRUPT, "not a plain file name" },
    { "{\"weight_map\":{\"x\":\"..\"}}", RK_ECORRUPT, "not a plain file name" },
    { "{\"weight_map\":{\"x\":\"\"}}", RK_ECORRUPT, "not a plain file name" },
    { "{\"weight_map\":{\"x\":\"a.safetensors\",\"z\":\"a.safetensors\"}}", RK_ECORRUPT,
      "weight_map puts tensor 'z' in 'a.safetensors', but that shard has no such tensor" },
    { "{\"weight_map\":{\"x2\":\"c.safetensors\"}}", RK_ECORRUPT, "tensor 'w' in shard 'c.safetensors' is not listed in weight_map" },
    { "{\"weight_map\":{\"x\":\"b.safetensors\",\"y\":\"a.safetensors\"}}", RK_ECORRUPT,
      "tensor 'x' is in shard 'a.safetensors' but weight_map says 'b.safetensors'" },
    { "{\"weight_map\":{\"x\":\"a.safetensors\",\"q\":\"d.safetensors\"}}", RK_ECORRUPT, "tensor 'x' is in shard 'd.safetensors'" },
    { "{\"weight_map\":{\"x\":\"nope.safetensors\"}}", RK_EIO, "nope.safetensors: cannot open" },
    { "{\"weight_map\":{\"z\":\"bad.safetensors\"}}", RK_ECORRUPT, "bad.safetensors: tensor 'z'" },
    { "{\"metadata\":{}}", RK_ECORRUPT, "no \"weight_map\"" },
    { "{\"weight_map\":[]}", RK_ECORRUPT, "\"weight_map\" is not an object" },
    { "{\"metadata\":3,\"weight_map\":{}}", RK_ECORRUPT, "\"metadata\" is not an object" },
    { "{\"weight_map\":{\"x\":1}}", RK_ECORRUPT, "the shard of 'x' is not a string" },
    { "{\"weight_map\":{\"x\":\"a.safetensors\",\"x\":\"a.safetensors\"}}", RK_ECORRUPT, "weight_map lists tensor 'x' twice" },
    { "{\"weight_map\":{},\"weight_map\":{}}", RK_ECORRUPT, "duplicate key 'weight_map'" },
    { "{\"weight_map\":{\"x\":\"a.safetensors\"}", RK_ECORRUPT, "not a valid JSON object" },
    { "{\"weight_map\":{}} x", RK_ECORRUPT, "after the JSON object" },
    { "{\"weight_map\":{\"\xff\":\"a\"}}", RK_ECORRUPT, "not valid UTF-8" },
};

START_TEST(set_corrupt) {
    char *dir = rk_test_tmpdir("st-set");
    make_shards(dir);
    char *idx = join(dir, "model.safetensors.index.json");
    for (size_t i = 0; i < sizeof k_set_bad / sizeof k_set_bad[0]; i++) {
        const set_case *c = &k_set_bad[i];
        rk_test_write_file(idx, c->index, strlen(c->index));
        for (int mode = 0; mode < 2; mode++) {
            rk_err err;
            rk_st_set *s = (rk_st_set *)1;
            int rc = rk_st_set_open(&s, mode ? dir : idx, &err);
            ck_assert_msg(rc == c->code, "case %zu: rc %d, want %d; msg: %s", i, rc, c->code, err.msg);
            ck_assert_ptr_null(s);
            ck_assert_msg(strstr(err.msg, c->needle) != NULL, "case %zu: message \"%s\" lacks \"%s\"", i, err.msg, c->needle);
        }
    }
    free(idx);
    rk_test_rmtree(dir);
    free(dir);

    /* folders without an index */
    rk_err err;
    rk_st_set *s = NULL;
    dir = rk_test_tmpdir("st-set2");
    ck_assert_int_eq(rk_st_set_open(&s, dir, &err), RK_ENOTFOUND);
    ck_assert(strstr(err.msg, "no .safetensors file") != NULL);
    make_shards(dir);
    ck_assert_int_eq(rk_st_set_open(&s, dir, &err), RK_ECORRUPT);
    ck_assert_msg(strstr(err.msg, "5 .safetensors files but no model.safetensors.index.json") != NULL, "%s", err.msg);
    rk_test_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(set_ok) {
    char *dir = rk_test_tmpdir("st-setok");
    make_shards(dir);
    char *idx = join(dir, "model.safetensors.index.json");
    const char *text = "{\n  \"metadata\": {\"total_size\": 16, \"extra\": [1.5, null]},\n  \"weight_map\": {\"y\": \"b.safetensors\","
                       " \"x2\": \"c.safetensors\", \"w\": \"c.safetensors\", \"x\": \"a.safetensors\"}, \"other\": true\n}\n";
    rk_test_write_file(idx, text, strlen(text));
    const char *srcs[2] = { idx, dir };
    for (int i = 0; i < 2; i++) {
        rk_err err;
        rk_st_set *s = NULL;
        int rc = rk_st_set_open(&s, srcs[i], &err);
        ck_assert_msg(rc == 0, "%s", err.msg);
        ck_assert_uint_eq(rk_st_set_shard_count(s), 3);
        ck_assert_uint_eq(rk_st_set_count(s), 4);
        const char *order[] = { "x", "y", "x2", "w" };   /* shard order (a, b, c), then file order */
        for (int k = 0; k < 4; k++) ck_assert_str_eq(rk_st_set_tensor(s, (size_t)k)->name, order[k]);
        ck_assert_ptr_null(rk_st_set_tensor(s, 4));
        const rk_st_tensor *w = rk_st_set_find(s, "w");
        ck_assert_ptr_nonnull(w);
        ck_assert_int_eq(w->shard, 2);
        ck_assert(strstr(rk_safetensors_path(rk_st_set_shard(s, (size_t)w->shard)), "c.safetensors") != NULL);
        ck_assert_ptr_null(rk_st_set_find(s, "q"));
        ck_assert_ptr_null(rk_st_set_shard(s, 3));
        rk_st_set_close(s);
    }
    free(idx);
    rk_test_rmtree(dir);
    free(dir);
}
END_TEST

/* ---- writer ---- */
typedef struct wspec {
    const char *name;
    int dtype;
    int n_dims;
    int64_t shape[3];
} wspec;

static const wspec k_w[] = {
    { "model.embed.weight", RK_DTYPE_BF16, 2, { 5, 8 } },   /* 80 bytes */
    { "layers.0.q\"uoted\\", RK_DTYPE_F32, 2, { 3, 7 } },    /* 84 */
    { "scalar", RK_DTYPE_I64, 0, { 0 } },                    /* 8 */
    { "empty", RK_DTYPE_U8, 2, { 0, 4 } },                   /* 0 */
    { "fp8", RK_DTYPE_F8_E4M3, 1, { 33 } },                  /* 33 */
    { "f4", RK_DTYPE_F4, 1, { 6 } },                         /* 3 */
    { "f6", RK_DTYPE_F6_E3M2, 2, { 2, 2 } },                 /* 3 */
    { "caf\xc3\xa9", RK_DTYPE_F64, 1, { 2 } },               /* 16 */
    { "tail_empty", RK_DTYPE_F16, 1, { 0 } },                /* 0 */
};
#define N_W (sizeof k_w / sizeof k_w[0])

static uint64_t spec_bytes(const wspec *s) {
    uint64_t n = 1, b;
    for (int d = 0; d < s->n_dims; d++) n *= (uint64_t)s->shape[d];
    ck_assert_int_eq(rk_dtype_nbytes(s->dtype, n, &b), 0);
    return b;
}

/* Write k_w into dir/base with the given shard limit, feeding data in chunks cycling through `chunks`. */
static void write_model(const char *dir, const char *base, uint64_t max_shard, const size_t *chunks, size_t n_chunks) {
    rk_err err;
    rk_st_writer *w = NULL;
    ck_assert_int_eq(rk_st_writer_init(&w, dir, base, max_shard, &err), 0);
    ck_assert_int_eq(rk_st_writer_add_meta(w, "format", "pt", &err), 0);
    ck_assert_int_eq(rk_st_writer_add_meta(w, "note", "line\n\"two\"", &err), 0);
    uint64_t total = 0;
    for (size_t i = 0; i < N_W; i++) {
        int rc = rk_st_writer_add(w, k_w[i].name, k_w[i].dtype, k_w[i].n_dims, k_w[i].shape, &err);
        ck_assert_msg(rc == 0, "add %s: %s", k_w[i].name, err.msg);
        total += spec_bytes(&k_w[i]);
    }
    ck_assert_int_eq(rk_st_writer_begin(w, &err), 0);
    uint8_t *data = malloc(total);
    for (uint64_t i = 0; i < total; i++) data[i] = (uint8_t)(i * 13 + 1);
    uint64_t pos = 0;
    for (size_t c = 0; pos < total; c++) {
        size_t n = chunks[c % n_chunks];
        if (n > total - pos) n = (size_t)(total - pos);
        int rc = rk_st_writer_write(w, data + pos, n, &err);
        ck_assert_msg(rc == 0, "write: %s", err.msg);
        pos += n;
    }
    ck_assert_int_eq(rk_st_writer_write(w, data, 0, &err), 0);
    int rc = rk_st_writer_finish(w, &err);
    ck_assert_msg(rc == 0, "finish: %s", err.msg);
    rk_st_writer_free(w);
    free(data);
}

/* Read back through a set and compare names, shapes and bytes with what write_model wrote. */
static void check_model(const char *src, size_t want_shards) {
    rk_err err;
    rk_st_set *s = NULL;
    int rc = rk_st_set_open(&s, src, &err);
    ck_assert_msg(rc == 0, "%s", err.msg);
    ck_assert_uint_eq(rk_st_set_count(s), N_W);
    ck_assert_uint_eq(rk_st_set_shard_count(s), want_shards);
    uint64_t pos = 0;
    int prev_shard = 0;
    for (size_t i = 0; i < N_W; i++) {
        const rk_st_tensor *t = rk_st_set_find(s, k_w[i].name);
        ck_assert_msg(t != NULL, "missing %s", k_w[i].name);
        ck_assert_int_eq(t->dtype, k_w[i].dtype);
        ck_assert_int_eq(t->n_dims, k_w[i].n_dims);
        for (int d = 0; d < t->n_dims; d++) ck_assert_int_eq(t->shape[d], k_w[i].shape[d]);
        ck_assert_uint_eq(t->nbytes, spec_bytes(&k_w[i]));
        ck_assert_int_ge(t->shard, prev_shard);   /* declared order runs through the shards */
        prev_shard = t->shard;
        for (uint64_t j = 0; j < t->nbytes; j++) ck_assert_uint_eq(t->data[j], (uint8_t)((pos + j) * 13 + 1));
        pos += t->nbytes;
        const rk_safetensors *sh = rk_st_set_shard(s, (size_t)t->shard);
        ck_assert_uint_eq(rk_safetensors_header_len(sh) % 8, 0);
        ck_assert_uint_eq(rk_safetensors_meta_count(sh), 2);
        ck_assert_str_eq(rk_safetensors_meta_get(sh, "note"), "line\n\"two\"");
    }
    rk_st_set_close(s);
}

START_TEST(roundtrip_single) {
    static const size_t chunks_a[] = { 1, 2, 31, 32, 33, 255, 257 }, chunks_b[] = { 1000 };
    char *d1 = rk_test_tmpdir("st-w1"), *d2 = rk_test_tmpdir("st-w2");
    write_model(d1, "model", 0, chunks_a, 7);
    write_model(d2, "model", 0, chunks_b, 1);
    char *f1 = join(d1, "model.safetensors"), *f2 = join(d2, "model.safetensors");
    assert_same_file(f1, f2);
    int tmps;
    ck_assert_int_eq(count_files(d1, &tmps), 1);
    ck_assert_int_eq(tmps, 0);
    size_t n;
    uint8_t *b = rk_test_read_file(f1, &n);
    const char *head = "{\"__metadata__\":{\"format\":\"pt\",\"note\":\"line\\u000a\\\"two\\\"\"},\"model.embed.weight\":"
                       "{\"dtype\":\"BF16\",\"shape\":[5,8],\"data_offsets\":[0,80]}";
    ck_assert_msg(memcmp(b + 8, head, strlen(head)) == 0, "header starts %.120s", (const char *)b + 8);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | b[i];
    ck_assert_uint_eq(hl % 8, 0);
    ck_assert(b[8 + hl - 1] == ' ' || b[8 + hl - 1] == '}');
    free(b);
    check_model(f1, 1);
    check_model(d1, 1);
    /* all within one shard: still one plain file, no index */
    write_model(d2, "model", 1 << 20, chunks_b, 1);
    ck_assert_int_eq(count_files(d2, NULL), 1);
    assert_same_file(f1, f2);
    free(f1);
    free(f2);
    rk_test_rmtree(d1);
    rk_test_rmtree(d2);
    free(d1);
    free(d2);
}
END_TEST

START_TEST(roundtrip_sharded) {
    /* limit 84: [embed 80] [q 84] [scalar 8, empty 0, fp8 33, f4 3, f6 3, caf 16 = 63, tail_empty 0] */
    static const size_t chunks_a[] = { 3, 1, 257 }, chunks_b[] = { 7 };
    char *d1 = rk_test_tmpdir("st-s1"), *d2 = rk_test_tmpdir("st-s2");
    write_model(d1, "model", 84, chunks_a, 3);
    write_model(d2, "model", 84, chunks_b, 1);
    static const char *const files[] = { "model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
                                         "model-00003-of-00003.safetensors", "model.safetensors.index.json" };
    int tmps;
    ck_assert_int_eq(count_files(d1, &tmps), 4);
    ck_assert_int_eq(tmps, 0);
    for (int i = 0; i < 4; i++) {
        char *a = join(d1, files[i]), *b = join(d2, files[i]);
        assert_same_file(a, b);
        free(a);
        free(b);
    }
    char *idx = join(d1, "model.safetensors.index.json");
    size_t n;
    char *text = (char *)rk_test_read_file(idx, &n);
    ck_assert_ptr_nonnull(strstr(text, "\"total_size\": 227"));
    ck_assert_ptr_nonnull(strstr(text, "\"caf\xc3\xa9\": \"model-00003-of-00003.safetensors\""));
    ck_assert_ptr_nonnull(strstr(text, "\"layers.0.q\\\"uoted\\\\\": \"model-00002-of-00003.safetensors\""));
    ck_assert(strstr(text, "\"caf") < strstr(text, "\"fp8") && strstr(text, "\"model.embed") < strstr(text, "\"scalar"));   /* sorted */
    ck_assert(text[n - 1] == '\n');
    free(text);
    check_model(idx, 3);
    check_model(d1, 3);
    free(idx);

    /* a tiny limit: every tensor with bytes gets its own shard, empties ride along */
    write_model(d2, "tiny", 1, chunks_b, 1);
    char *idx2 = join(d2, "tiny.safetensors.index.json");
    rk_err err;
    rk_st_set *s = NULL;
    ck_assert_int_eq(rk_st_set_open(&s, idx2, &err), 0);
    ck_assert_uint_eq(rk_st_set_shard_count(s), 7);
    ck_assert_int_eq(rk_st_set_find(s, "empty")->shard, 2);
    ck_assert_int_eq(rk_st_set_find(s, "tail_empty")->shard, 6);
    rk_st_set_close(s);
    free(idx2);
    rk_test_rmtree(d1);
    rk_test_rmtree(d2);
    free(d1);
    free(d2);
}
END_TEST

START_TEST(roundtrip_empty) {
    char *dir = rk_test_tmpdir("st-we");
    rk_err err;
    rk_st_writer *w = NULL;
    ck_assert_int_eq(rk_st_writer_init(&w, dir, "model", 100, &err), 0);
    ck_assert_int_eq(rk_st_writer_begin(w, &err), 0);
    ck_assert_int_eq(rk_st_writer_finish(w, &err), 0);
    ck_assert_int_eq(rk_st_writer_finish(w, &err), RK_EINVAL);   /* twice */
    rk_st_writer_free(w);
    char *f = join(dir, "model.safetensors");
    size_t n;
    uint8_t *b = rk_test_read_file(f, &n);
    ck_assert_uint_eq(n, 16);
    ck_assert(memcmp(b, "\x08\0\0\0\0\0\0\0{}      ", 16) == 0);
    free(b);
    rk_safetensors *st = NULL;
    ck_assert_int_eq(rk_safetensors_open(&st, f, &err), 0);
    ck_assert_uint_eq(rk_safetensors_count(st), 0);
    rk_safetensors_close(st);
    free(f);
    rk_test_rmtree(dir);
    free(dir);
}
END_TEST

/* A writer with one F32 [4] tensor, begun. */
static rk_st_writer *begun(const char *dir, uint64_t max_shard) {
    rk_err err;
    rk_st_writer *w = NULL;
    int64_t shape[1] = { 4 };
    ck_assert_int_eq(rk_st_writer_init(&w, dir, "model", max_shard, &err), 0);
    ck_assert_int_eq(rk_st_writer_add(w, "a", RK_DTYPE_F32, 1, shape, &err), 0);
    ck_assert_int_eq(rk_st_writer_add(w, "b", RK_DTYPE_F32, 1, shape, &err), 0);
    ck_assert_int_eq(rk_st_writer_begin(w, &err), 0);
    return w;
}

START_TEST(writer_errors) {
    char *dir = rk_test_tmpdir("st-werr");
    char *target = join(dir, "model.safetensors");
    rk_test_write_file(target, "old", 3);   /* an existing output is untouched when a write fails */
    static const uint8_t data[64];
    rk_err err;
    int64_t shape[2] = { 3, 1 };

    /* too many bytes, in one call and across calls; sharded and not */
    for (int sharded = 0; sharded < 2; sharded++) {
        rk_st_writer *w = begun(dir, sharded ? 4 : 0);
        ck_assert_int_eq(rk_st_writer_write(w, data, 40, &err), RK_EINVAL);
        ck_assert_msg(strstr(err.msg, "write of 40 bytes but only 32 of the declared 32 remain") != NULL, "%s", err.msg);
        ck_assert_int_eq(rk_st_writer_write(w, data, 1, &err), RK_EINVAL);
        ck_assert(strstr(err.msg, "failed earlier") != NULL);
        ck_assert_int_eq(rk_st_writer_finish(w, &err), RK_EINVAL);
        rk_st_writer_free(w);
        w = begun(dir, sharded ? 4 : 0);
        ck_assert_int_eq(rk_st_writer_write(w, data, 30, &err), 0);
        ck_assert_int_eq(rk_st_writer_write(w, data, 3, &err), RK_EINVAL);
        rk_st_writer_free(w);
        ck_assert_int_eq(count_files(dir, NULL), 1);
    }
    /* too few bytes */
    rk_st_writer *w = begun(dir, 0);
    ck_assert_int_eq(rk_st_writer_write(w, data, 5, &err), 0);
    ck_assert_int_eq(rk_st_writer_finish(w, &err), RK_EINVAL);
    ck_assert_msg(strstr(err.msg, "finish with 27 of the declared 32 bytes missing (tensor 'a' got 5 of 16)") != NULL, "%s", err.msg);
    rk_st_writer_free(w);
    w = begun(dir, 0);
    ck_assert_int_eq(rk_st_writer_write(w, data, 16, &err), 0);
    ck_assert_int_eq(rk_st_writer_finish(w, &err), RK_EINVAL);
    ck_assert_msg(strstr(err.msg, "tensor 'b' got 0 of 16") != NULL, "%s", err.msg);
    rk_st_writer_free(w);
    /* freed half-way: temps removed */
    w = begun(dir, 4);
    ck_assert_int_eq(rk_st_writer_write(w, data, 20, &err), 0);
    int tmps;
    ck_assert_int_eq(count_files(dir, &tmps), 3);   /* target + two shard temps */
    ck_assert_int_eq(tmps, 2);
    rk_st_writer_free(w);
    ck_assert_int_eq(count_files(dir, NULL), 1);
    size_t n;
    uint8_t *old = rk_test_read_file(target, &n);
    ck_assert(n == 3 && memcmp(old, "old", 3) == 0);
    free(old);

    /* declaration errors */
    ck_assert_int_eq(rk_st_writer_init(&w, dir, "sub/model", 0, &err), RK_EINVAL);
    ck_assert_int_eq(rk_st_writer_init(&w, dir, "", 0, &err), RK_EINVAL);
    ck_assert_int_eq(rk_st_writer_init(&w, dir, "model", 0, &err), 0);
    ck_assert_int_eq(rk_st_writer_add(w, "q", RK_DTYPE_Q4_K, 1, (int64_t[]){ 256 }, &err), RK_EINVAL);
    ck_assert(strstr(err.msg, "Q4_K (12) is not a safetensors dtype") != NULL);
    ck_assert_int_eq(rk_st_writer_add(w, "q", 999, 1, shape, &err), RK_EINVAL);
    ck_assert_int_eq(rk_st_writer_add(w, "f4", RK_DTYPE_F4, 1, shape, &err), RK_EINVAL);
    ck_assert_int_eq(rk_st_writer_add(w, "__metadata__", RK_DTYPE_F32, 1, shape, &err), RK_EINVAL);
    ck_assert_int_eq(rk_st_writer_add(w, "bad\xff", RK_DTYPE_F32, 1, shape, &err), RK_EINVAL);
    ck_assert_int_eq(rk_st_writer_add(w, "neg", RK_DTYPE_F32, 2, (int64_t[]){ 2, -1 }, &err), RK_EINVAL);
    ck_assert_int_eq(rk_st_writer_add(w, "dims", RK_DTYPE_F32, 9, (int64_t[9]){ 1 }, &err), RK_EINVAL);
    ck_assert_int_eq(rk_st_writer_add(w, "x", RK_DTYPE_F32, 2, shape, &err), 0);
    ck_assert_int_eq(rk_st_writer_add(w, "x", RK_DTYPE_F32, 2, shape, &err), RK_EINVAL);
    ck_assert(strstr(err.msg, "tensor 'x' declared twice") != NULL);
    ck_assert_int_eq(rk_st_writer_add_meta(w, "k", "v", &err), 0);
    ck_assert_int_eq(rk_st_writer_add_meta(w, "k", "w", &err), RK_EINVAL);
    ck_assert_int_eq(rk_st_writer_write(w, data, 1, &err), RK_EINVAL);   /* before begin */
    ck_assert(strstr(err.msg, "call begin first") != NULL);
    ck_assert_int_eq(rk_st_writer_begin(w, &err), 0);
    ck_assert_int_eq(rk_st_writer_add(w, "late", RK_DTYPE_F32, 2, shape, &err), RK_EINVAL);
    ck_assert_int_eq(rk_st_writer_begin(w, &err), RK_EINVAL);
    rk_st_writer_free(w);
    rk_st_writer_free(NULL);
    ck_assert_int_eq(count_files(dir, NULL), 1);

    /* many names: the duplicate check scales */
    ck_assert_int_eq(rk_st_writer_init(&w, dir, "many", 0, &err), 0);
    for (int i = 0; i < 5000; i++) {
        char nm[32];
        snprintf(nm, sizeof nm, "t.%d", i);
        ck_assert_int_eq(rk_st_writer_add(w, nm, RK_DTYPE_U8, 0, NULL, &err), 0);
    }
    ck_assert_int_eq(rk_st_writer_add(w, "t.4321", RK_DTYPE_U8, 0, NULL, &err), RK_EINVAL);
    rk_st_writer_free(w);

    free(target);
    rk_test_rmtree(dir);
    free(dir);
}
END_TEST

Suite *make_suite(void) {
    Suite *s = suite_create("safetensors");
    TCase *tc = tcase_create("parse_ok");
    tcase_add_test(tc, parse_ok_all_dtypes);
    tcase_add_test(tc, parse_ok_empty_and_padded);
    suite_add_tcase(s, tc);
    tc = tcase_create("parse_corrupt");
    tcase_add_test(tc, parse_corrupt);
    tcase_add_test(tc, parse_corrupt_truncations);
    suite_add_tcase(s, tc);
    tc = tcase_create("sets");
    tcase_add_test(tc, set_ok);
    tcase_add_test(tc, set_corrupt);
    suite_add_tcase(s, tc);
    tc = tcase_create("roundtrip");
    tcase_add_test(tc, roundtrip_single);
    tcase_add_test(tc, roundtrip_sharded);
    tcase_add_test(tc, roundtrip_empty);
    tcase_add_test(tc, writer_errors);
    suite_add_tcase(s, tc);
    return s;
}

RK_TEST_MAIN()
