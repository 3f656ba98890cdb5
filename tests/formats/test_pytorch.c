/* tests/formats/test_pytorch.c — PyTorch zip checkpoints built by hand with libzip (no torch needed):
 * a valid state dict read back (contiguous, transposed, offset, shared and expanded views; _rebuild_tensor_v3
 * with an untyped storage and float8; Parameter and _rebuild_from_type_v2 wrappers; nested dicts), and the
 * hostile archives: no data.pkl, "../" and absolute names, storage sizes that lie, stored entries whose
 * headers lie, a deflated entry far larger than declared, a view past its storage, big-endian byteorder,
 * legacy and foreign files, refused globals. Every failure is checked for its code and message. */
#define _GNU_SOURCE   /* memmem */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>

#include "formats/pickle.h"
#include "formats/pytorch.h"
#include "tests/common/rk_test.h"

/* ---- a small pickle writer ------------------------------------------------------------------------ */
typedef struct pb {
    uint8_t b[16384];
    size_t n;
} pb;

static void raw(pb *p, const void *d, size_t n) {
    ck_assert(p->n + n <= sizeof p->b);
    memcpy(p->b + p->n, d, n);
    p->n += n;
}
static void op(pb *p, uint8_t c) { raw(p, &c, 1); }
static void str(pb *p, const char *s) {
    uint32_t n = (uint32_t)strlen(s);
    uint8_t h[5] = {'X', (uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16), (uint8_t)(n >> 24)};
    raw(p, h, 5);
    raw(p, s, n);
}
static void num(pb *p, int64_t v) {
    uint8_t h[10] = {0x8a, 8};
    for (int i = 0; i < 8; i++) h[2 + i] = (uint8_t)((uint64_t)v >> (8 * i));
    raw(p, h, 10);
}
static void glob(pb *p, const char *module, const char *name) {
    op(p, 'c');
    raw(p, module, strlen(module));
    op(p, '\n');
    raw(p, name, strlen(name));
    op(p, '\n');
}
static void dims(pb *p, int n, const int64_t *d) {
    op(p, '(');
    for (int i = 0; i < n; i++) num(p, d[i]);
    op(p, 't');
}
static void begin(pb *p) {
    p->n = 0;
    op(p, 0x80), op(p, 2);
    glob(p, "collections", "OrderedDict");
    op(p, ')'), op(p, 'R'), op(p, '(');
}
static void end(pb *p) { op(p, 'u'), op(p, '.'); }

/* pushes the persistent id ('storage', torch.<cls>, key, 'cpu', numel) */
static void storage(pb *p, const char *module, const char *cls, const char *key, int64_t numel) {
    op(p, '('), str(p, "storage"), glob(p, module, cls), str(p, key), str(p, "cpu"), num(p, numel), op(p, 't'), op(p, 'Q');
}

typedef struct tspec {
    const char *cls, *key;
    int64_t numel, offset;
    int nd;
    int64_t shape[4], stride[4];
} tspec;

/* _rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict()) */
static void tensor_v2(pb *p, const tspec *t) {
    glob(p, "torch._utils", "_rebuild_tensor_v2");
    op(p, '(');
    storage(p, "torch", t->cls, t->key, t->numel);
    num(p, t->offset);
    dims(p, t->nd, t->shape);
    dims(p, t->nd, t->stride);
    op(p, 0x89);
    glob(p, "collections", "OrderedDict"), op(p, ')'), op(p, 'R');
    op(p, 't'), op(p, 'R');
}

/* ---- zips ----------------------------------------------------------------------------------------- */
typedef struct zent {
    const char *name;
    const void *data;
    size_t len;
    int deflate;
} zent;

static void write_zip(const char *path, const zent *e, int n) {
    int ze = 0;
    zip_t *z = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &ze);
    ck_assert_msg(z != NULL, "zip_open %s: %d", path, ze);
    for (int i = 0; i < n; i++) {
        zip_source_t *s = zip_source_buffer(z, e[i].data, e[i].len, 0);
        ck_assert_ptr_nonnull(s);
        zip_int64_t idx = zip_file_add(z, e[i].name, s, ZIP_FL_ENC_RAW);
        ck_assert_msg(idx >= 0, "zip_file_add %s: %s", e[i].name, zip_strerror(z));
        ck_assert_int_eq(zip_set_file_compression(z, (zip_uint64_t)idx, e[i].deflate ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0), 0);
    }
    ck_assert_msg(zip_close(z) == 0, "zip_close: %s", zip_strerror(z));
}

static uint32_t rd32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static void wr32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }

/* Rewrite the uncompressed size of entry `name` in its local header and central directory record. */
static void patch_size(const char *path, const char *name, uint32_t size) {
    size_t n = 0;
    uint8_t *z = rk_test_read_file(path, &n);
    ck_assert_ptr_nonnull(z);
    size_t nl = strlen(name);
    int hits = 0;
    for (size_t i = 0; i + 46 + nl <= n; i++) {
        if (rd32(z + i) == 0x04034b50 && (size_t)(z[i + 26] | z[i + 27] << 8) == nl && !memcmp(z + i + 30, name, nl))
            wr32(z + i + 22, size), hits++;
        if (rd32(z + i) == 0x02014b50 && (size_t)(z[i + 28] | z[i + 29] << 8) == nl && !memcmp(z + i + 46, name, nl))
            wr32(z + i + 24, size), hits++;
    }
    ck_assert_int_eq(hits, 2);
    rk_test_write_file(path, z, n);
    free(z);
}

static char *g_dir;
static char g_path[4096];

static const char *zpath(const char *file) {
    snprintf(g_path, sizeof g_path, "%s/%s", g_dir, file);
    return g_path;
}

static void setup(void) { g_dir = rk_test_tmpdir("pytorch"); }
static void teardown(void) {
    rk_test_rmtree(g_dir);
    free(g_dir);
    g_dir = NULL;
}

static rk_pytorch *open_ok(const char *path) {
    rk_pytorch *pt = NULL;
    rk_err err;
    rk_err_clear(&err);
    int rc = rk_pytorch_open(&pt, path, &err);
    ck_assert_msg(rc == 0, "open %s: %d %s", path, rc, err.msg);
    return pt;
}

static void expect_open_fails(const char *path, int code, const char *msg) {
    rk_pytorch *pt = (rk_pytorch *)1;
    rk_err err;
    rk_err_clear(&err);
    int rc = rk_pytorch_open(&pt, path, &err);
    ck_assert_msg(rc == code, "%s: expected %d, got %d (%s)", path, code, rc, err.msg);
    ck_assert_ptr_null(pt);
    ck_assert_msg(strstr(err.msg, msg) != NULL, "%s: message '%s' lacks '%s'", path, err.msg, msg);
    ck_assert_msg(strstr(err.msg, path) == err.msg, "message '%s' does not start with the path", err.msg);
}

static void read_expect(rk_pytorch *pt, const char *name, const void *want, size_t n) {
    const rk_pt_tensor *t = rk_pytorch_find(pt, name);
    ck_assert_msg(t != NULL, "no tensor %s", name);
    ck_assert_uint_eq(t->nbytes, n);
    size_t i = (size_t)(t - rk_pytorch_tensor(pt, 0));
    uint8_t *got = malloc(n + 1);
    rk_err err;
    rk_err_clear(&err);
    int rc = rk_pytorch_read(pt, i, got, n, &err);
    ck_assert_msg(rc == 0, "read %s: %s", name, err.msg);
    ck_assert_msg(!memcmp(got, want, n), "tensor %s: bytes differ", name);
    free(got);
}

/* ---- valid archives ------------------------------------------------------------------------------- */
static float g_f32[24];
static int16_t g_i16[10];
static uint8_t g_f8[6] = {0x38, 0x40, 0xb8, 0x7e, 0x00, 0x01};

static void build_good(pb *p) {
    for (int i = 0; i < 24; i++) g_f32[i] = (float)i * 0.5f - 3.0f;
    for (int i = 0; i < 10; i++) g_i16[i] = (int16_t)(i * 1000 - 4000);
    begin(p);
    str(p, "base");
    tensor_v2(p, &(tspec){"FloatStorage", "0", 24, 0, 2, {4, 6}, {6, 1}});
    str(p, "transposed");
    tensor_v2(p, &(tspec){"FloatStorage", "0", 24, 0, 2, {6, 4}, {1, 6}});
    str(p, "sliced");
    tensor_v2(p, &(tspec){"FloatStorage", "0", 24, 8, 2, {3, 4}, {6, 1}});
    str(p, "col");
    tensor_v2(p, &(tspec){"FloatStorage", "0", 24, 1, 1, {4}, {6}});
    str(p, "scalar");
    tensor_v2(p, &(tspec){"FloatStorage", "0", 24, 23, 0, {0}, {0}});
    str(p, "half_b");
    tensor_v2(p, &(tspec){"ShortStorage", "1", 10, 5, 1, {5}, {1}});
    str(p, "expanded");
    tensor_v2(p, &(tspec){"ShortStorage", "1", 10, 0, 3, {2, 3, 2}, {0, 1, 0}});
    str(p, "empty");
    tensor_v2(p, &(tspec){"ShortStorage", "1", 10, 10, 2, {0, 5}, {5, 1}});
    /* Parameter(_rebuild_tensor_v3(UntypedStorage of 6 bytes, 0, (2,3), (3,1), False, {}, torch.float8_e4m3fn)) */
    str(p, "param_f8");
    glob(p, "torch._utils", "_rebuild_parameter");
    op(p, '(');
    glob(p, "torch._utils", "_rebuild_tensor_v3");
    op(p, '(');
    storage(p, "torch.storage", "UntypedStorage", "f8", 6);
    num(p, 0);
    dims(p, 2, (int64_t[]){2, 3});
    dims(p, 2, (int64_t[]){3, 1});
    op(p, 0x89);
    glob(p, "collections", "OrderedDict"), op(p, ')'), op(p, 'R');
    glob(p, "torch", "float8_e4m3fn");
    op(p, 't'), op(p, 'R');
    op(p, 0x88);
    glob(p, "collections", "OrderedDict"), op(p, ')'), op(p, 'R');
    op(p, 't'), op(p, 'R');
    /* _rebuild_from_type_v2(_rebuild_tensor_v2, torch.Tensor, (args...), {"foo": 3}) */
    str(p, "typed");
    glob(p, "torch._tensor", "_rebuild_from_type_v2");
    op(p, '(');
    glob(p, "torch._utils", "_rebuild_tensor_v2");
    glob(p, "torch", "Tensor");
    op(p, '(');
    storage(p, "torch", "ShortStorage", "1", 10);
    num(p, 0), dims(p, 1, (int64_t[]){2}), dims(p, 1, (int64_t[]){1}), op(p, 0x89);
    glob(p, "collections", "OrderedDict"), op(p, ')'), op(p, 'R');
    op(p, 't');
    op(p, '}'), str(p, "foo"), num(p, 3), op(p, 's');
    op(p, 't'), op(p, 'R');
    /* nested: {"opt": {"state": {7: {"m": tensor}}, "lr": 0.5, "names": ["a", None]}} */
    str(p, "opt");
    op(p, '}'), op(p, '(');
    str(p, "state");
    op(p, '}'), num(p, 7), op(p, '}'), str(p, "m");
    tensor_v2(p, &(tspec){"FloatStorage", "0", 24, 2, 1, {2}, {1}});
    op(p, 's'), op(p, 's');
    str(p, "lr"), op(p, 'G'), raw(p, "\x3f\xe0\0\0\0\0\0\0", 8);
    str(p, "names"), op(p, ']'), op(p, '('), str(p, "a"), op(p, 'N'), op(p, 'e');
    op(p, 'u');
    str(p, "step"), num(p, 42);
    end(p);
}

static void write_good(const char *path, const char *prefix, int deflate) {
    pb *p = calloc(1, sizeof *p);
    build_good(p);
    char n_pkl[64], n_0[64], n_1[64], n_f8[64], n_bo[64], n_ver[64];
    snprintf(n_pkl, sizeof n_pkl, "%sdata.pkl", prefix);
    snprintf(n_0, sizeof n_0, "%sdata/0", prefix);
    snprintf(n_1, sizeof n_1, "%sdata/1", prefix);
    snprintf(n_f8, sizeof n_f8, "%sdata/f8", prefix);
    snprintf(n_bo, sizeof n_bo, "%sbyteorder", prefix);
    snprintf(n_ver, sizeof n_ver, "%sversion", prefix);
    zent e[] = {{n_pkl, p->b, p->n, deflate}, {n_0, g_f32, sizeof g_f32, deflate}, {n_1, g_i16, sizeof g_i16, deflate},
                {n_f8, g_f8, sizeof g_f8, deflate}, {n_bo, "little", 6, 0}, {n_ver, "3\n", 2, 0}};
    write_zip(path, e, 6);
    free(p);
}

static void check_good(rk_pytorch *pt) {
    ck_assert_uint_eq(rk_pytorch_count(pt), 11);
    static const char *order[] = {"base", "transposed", "sliced", "col", "scalar", "half_b", "expanded", "empty",
                                  "param_f8", "typed", "opt.state.7.m"};
    for (size_t i = 0; i < 11; i++) ck_assert_str_eq(rk_pytorch_tensor(pt, i)->name, order[i]);
    ck_assert_ptr_null(rk_pytorch_find(pt, "step"));   /* non-tensor leaves are skipped */
    ck_assert_ptr_null(rk_pytorch_find(pt, "opt.lr"));

    const rk_pt_tensor *b = rk_pytorch_find(pt, "base"), *tr = rk_pytorch_find(pt, "transposed");
    ck_assert_int_eq(b->dtype, RK_DTYPE_F32);
    ck_assert_int_eq(b->contiguous, 1);
    ck_assert_int_eq(tr->contiguous, 0);
    ck_assert_str_eq(b->storage_key, tr->storage_key);
    read_expect(pt, "base", g_f32, sizeof g_f32);
    float t[24], s[12], c[4];
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 4; j++) t[i * 4 + j] = g_f32[j * 6 + i];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++) s[i * 4 + j] = g_f32[8 + i * 6 + j];
    for (int i = 0; i < 4; i++) c[i] = g_f32[1 + 6 * i];
    read_expect(pt, "transposed", t, sizeof t);
    read_expect(pt, "sliced", s, sizeof s);
    read_expect(pt, "col", c, sizeof c);
    read_expect(pt, "scalar", &g_f32[23], 4);
    ck_assert_int_eq(rk_pytorch_find(pt, "scalar")->n_dims, 0);
    read_expect(pt, "half_b", &g_i16[5], 10);
    int16_t ex[12];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < 2; k++) ex[i * 6 + j * 2 + k] = g_i16[j];
    read_expect(pt, "expanded", ex, sizeof ex);
    ck_assert_uint_eq(rk_pytorch_find(pt, "empty")->nbytes, 0);
    ck_assert_int_eq(rk_pytorch_read(pt, 7, NULL, 0, NULL), 0);
    const rk_pt_tensor *f8 = rk_pytorch_find(pt, "param_f8");
    ck_assert_int_eq(f8->dtype, RK_DTYPE_F8_E4M3);
    ck_assert_int_eq(f8->n_dims, 2);
    read_expect(pt, "param_f8", g_f8, 6);
    read_expect(pt, "typed", g_i16, 4);
    read_expect(pt, "opt.state.7.m", &g_f32[2], 8);

    const rk_pk_value *root = rk_pytorch_pickle_root(pt);
    ck_assert_int_eq(rk_pk_dict_get(root, "step")->u.i, 42);
    ck_assert(rk_pk_dict_get(rk_pk_dict_get(root, "opt"), "lr")->u.f == 0.5);
}

START_TEST(read_ok_stored) {
    write_good(zpath("good.pt"), "archive/", 0);
    rk_pytorch *pt = open_ok(zpath("good.pt"));
    check_good(pt);
    ck_assert_str_eq(rk_pytorch_path(pt), zpath("good.pt"));
    ck_assert_str_eq(rk_pytorch_find(pt, "base")->storage_key, "archive/data/0");
    ck_assert_str_eq(rk_pytorch_find(pt, "param_f8")->storage_key, "archive/data/f8");
    rk_err err;
    rk_err_clear(&err);
    uint8_t small[8];
    ck_assert_int_eq(rk_pytorch_read(pt, 0, small, sizeof small, &err), RK_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "'base' needs 96 bytes, buffer has 8"));
    ck_assert_int_eq(rk_pytorch_read(pt, 99, small, sizeof small, &err), RK_EINVAL);
    ck_assert_ptr_null(rk_pytorch_tensor(pt, 99));
    rk_pytorch_close(pt);
    rk_pytorch_close(NULL);
}
END_TEST

START_TEST(read_ok_deflated_and_buffer) {
    write_good(zpath("deflated.pt"), "deep-name_1/", 1);
    rk_pytorch *pt = open_ok(zpath("deflated.pt"));
    check_good(pt);
    rk_pytorch_close(pt);

    size_t n = 0;
    uint8_t *bytes = rk_test_read_file(zpath("deflated.pt"), &n);
    rk_err err;
    rk_err_clear(&err);
    ck_assert_int_eq(rk_pytorch_open_buffer(&pt, bytes, n, "mem.pt", &err), 0);
    check_good(pt);
    ck_assert_str_eq(rk_pytorch_path(pt), "mem.pt");
    rk_pytorch_close(pt);
    free(bytes);

    write_good(zpath("noprefix.pt"), "", 0);   /* data.pkl at the top level is accepted too */
    pt = open_ok(zpath("noprefix.pt"));
    ck_assert_str_eq(rk_pytorch_find(pt, "base")->storage_key, "data/0");
    rk_pytorch_close(pt);
}
END_TEST

/* A storage read in several windows: a transposed 1100x1000 f32 view (4.4 MB, more than one read chunk). */
START_TEST(read_ok_large_transposed) {
    const int64_t R = 1100, C = 1000;
    float *m = malloc((size_t)(R * C) * sizeof *m), *want = malloc((size_t)(R * C) * sizeof *m);
    for (int64_t i = 0; i < R * C; i++) m[i] = (float)i;
    for (int64_t i = 0; i < C; i++)
        for (int64_t j = 0; j < R; j++) want[i * R + j] = m[j * C + i];
    pb *p = calloc(1, sizeof *p);
    begin(p);
    str(p, "t");
    tensor_v2(p, &(tspec){"FloatStorage", "0", R * C, 0, 2, {C, R}, {1, C}});
    str(p, "m");
    tensor_v2(p, &(tspec){"FloatStorage", "0", R * C, 0, 2, {R, C}, {C, 1}});
    end(p);
    zent e[] = {{"a/data.pkl", p->b, p->n, 0}, {"a/data/0", m, (size_t)(R * C) * 4, 1}};
    write_zip(zpath("big.pt"), e, 2);
    rk_pytorch *pt = open_ok(zpath("big.pt"));
    read_expect(pt, "t", want, (size_t)(R * C) * 4);
    read_expect(pt, "m", m, (size_t)(R * C) * 4);
    rk_pytorch_close(pt);
    free(p);
    free(m);
    free(want);
}
END_TEST

/* ---- hostile archives ------------------------------------------------------------------------------ */
static void one_tensor_zip(const char *file, const tspec *t, const void *data, size_t len, int deflate) {
    pb *p = calloc(1, sizeof *p);
    begin(p);
    str(p, "w");
    tensor_v2(p, t);
    end(p);
    char entry[64];
    snprintf(entry, sizeof entry, "a/data/%s", t->key);
    zent e[] = {{"a/data.pkl", p->b, p->n, 0}, {entry, data, len, deflate}};
    write_zip(zpath(file), e, 2);
    free(p);
}

START_TEST(hostile_layout) {
    static const float d[6] = {1, 2, 3, 4, 5, 6};
    pb *p = calloc(1, sizeof *p);
    begin(p);
    str(p, "w");
    tensor_v2(p, &(tspec){"FloatStorage", "0", 6, 0, 1, {6}, {1}});
    end(p);

    write_zip(zpath("nopkl.pt"), (zent[]){{"a/data/0", d, 24, 0}, {"a/version", "3\n", 2, 0}}, 2);
    expect_open_fails(zpath("nopkl.pt"), RK_ECORRUPT, "no <archive>/data.pkl entry");

    write_zip(zpath("deep.pt"), (zent[]){{"a/b/data.pkl", p->b, p->n, 0}, {"a/b/data/0", d, 24, 0}}, 2);
    expect_open_fails(zpath("deep.pt"), RK_ECORRUPT, "no <archive>/data.pkl entry");

    write_zip(zpath("twopkl.pt"), (zent[]){{"a/data.pkl", p->b, p->n, 0}, {"b/data.pkl", p->b, p->n, 0}}, 2);
    expect_open_fails(zpath("twopkl.pt"), RK_ECORRUPT, "two data.pkl entries");

    static const char *evil[] = {"a/../../etc/passwd", "../a/data/0", "/etc/passwd", "a\\..\\x", "C:/x", "a/.."};
    for (size_t i = 0; i < sizeof evil / sizeof evil[0]; i++) {
        write_zip(zpath("evil.pt"), (zent[]){{"a/data.pkl", p->b, p->n, 0}, {"a/data/0", d, 24, 0}, {evil[i], "x", 1, 0}}, 3);
        expect_open_fails(zpath("evil.pt"), RK_ECORRUPT, i == 2 || i == 4 ? "is absolute" : "has a '..' component");
    }
    /* a name that merely contains dots is fine */
    write_zip(zpath("dots.pt"), (zent[]){{"a/data.pkl", p->b, p->n, 0}, {"a/data/0", d, 24, 0}, {"a/..x/...", "x", 1, 0}}, 3);
    rk_pytorch_close(open_ok(zpath("dots.pt")));

    write_zip(zpath("nostorage.pt"), (zent[]){{"a/data.pkl", p->b, p->n, 0}, {"a/data/1", d, 24, 0}}, 2);
    expect_open_fails(zpath("nostorage.pt"), RK_ECORRUPT, "a/data/0: storage entry named in data.pkl is missing");

    static const struct { const char *order; int code; const char *msg; } orders[] = {
        {"big", RK_EUNSUPPORTED, "a/byteorder: big-endian checkpoints are not supported"},
        {"middle", RK_ECORRUPT, "a/byteorder: unknown byte order 'middle'"},
        {"littlelittlelittle", RK_ECORRUPT, "a/byteorder: 18 bytes (more than the 16 allowed)"},
        {"little\n", 0, NULL},
    };
    for (size_t i = 0; i < sizeof orders / sizeof orders[0]; i++) {
        zent e[] = {{"a/data.pkl", p->b, p->n, 0}, {"a/data/0", d, 24, 0}, {"a/byteorder", orders[i].order, 0, 0}};
        e[2].len = strlen(orders[i].order);
        write_zip(zpath("order.pt"), e, 3);
        if (orders[i].code) expect_open_fails(zpath("order.pt"), orders[i].code, orders[i].msg);
        else rk_pytorch_close(open_ok(zpath("order.pt")));
    }
    free(p);
}
END_TEST

START_TEST(hostile_sizes) {
    static const float d[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    /* the entry holds 20 bytes, the persistent id says 6 floats */
    one_tensor_zip("short.pt", &(tspec){"FloatStorage", "0", 6, 0, 1, {6}, {1}}, d, 20, 0);
    expect_open_fails(zpath("short.pt"), RK_ECORRUPT, "a/data/0: entry holds 20 bytes but data.pkl declares 24 (6 elements)");
    one_tensor_zip("long.pt", &(tspec){"FloatStorage", "0", 6, 0, 1, {6}, {1}}, d, 32, 1);
    expect_open_fails(zpath("long.pt"), RK_ECORRUPT, "entry holds 32 bytes but data.pkl declares 24");
    /* a view reaching past its storage */
    one_tensor_zip("view.pt", &(tspec){"FloatStorage", "0", 6, 3, 1, {4}, {1}}, d, 24, 0);
    expect_open_fails(zpath("view.pt"), RK_ECORRUPT, "'w': view reaches element 6 but storage '0' holds 6 elements");
    one_tensor_zip("view2.pt", &(tspec){"FloatStorage", "0", 6, 0, 2, {2, 3}, {3, 2}}, d, 24, 0);
    expect_open_fails(zpath("view2.pt"), RK_ECORRUPT, "view reaches element 7");
    one_tensor_zip("offset.pt", &(tspec){"FloatStorage", "0", 6, 7, 1, {0}, {1}}, d, 24, 0);
    expect_open_fails(zpath("offset.pt"), RK_ECORRUPT, "view reaches element 7");
    one_tensor_zip("negstride.pt", &(tspec){"FloatStorage", "0", 6, 5, 1, {6}, {-1}}, d, 24, 0);
    expect_open_fails(zpath("negstride.pt"), RK_ECORRUPT, "stride[0] is not a non-negative int");
    one_tensor_zip("overflow.pt", &(tspec){"FloatStorage", "0", 6, 0, 2, {INT64_MAX, 4}, {1, 1}}, d, 24, 0);
    expect_open_fails(zpath("overflow.pt"), RK_ECORRUPT, "tensor size overflows");
    one_tensor_zip("hugeexp.pt", &(tspec){"ByteStorage", "0", 1, 0, 2, {1LL << 30, 1LL << 30}, {0, 0}}, d, 1, 0);
    expect_open_fails(zpath("hugeexp.pt"), RK_EUNSUPPORTED, "absurdly large");
    one_tensor_zip("numel.pt", &(tspec){"DoubleStorage", "0", INT64_MAX / 2, 0, 1, {1}, {1}}, d, 24, 0);
    expect_open_fails(zpath("numel.pt"), RK_ECORRUPT, "storage numel");
    one_tensor_zip("badkey.pt", &(tspec){"FloatStorage", "0-x", 6, 0, 1, {6}, {1}}, d, 24, 0);
    expect_open_fails(zpath("badkey.pt"), RK_ECORRUPT, "holds characters other than");
    one_tensor_zip("complex.pt", &(tspec){"ComplexFloatStorage", "0", 3, 0, 1, {3}, {1}}, d, 24, 0);
    expect_open_fails(zpath("complex.pt"), RK_EUNSUPPORTED, "torch.ComplexFloatStorage is not supported");

    /* a stored entry whose headers claim fewer bytes than it occupies */
    one_tensor_zip("liar_stored.pt", &(tspec){"FloatStorage", "0", 4, 0, 1, {4}, {1}}, d, 32, 0);
    patch_size(zpath("liar_stored.pt"), "a/data/0", 16);
    expect_open_fails(zpath("liar_stored.pt"), RK_ECORRUPT, "stored entry claims 16 bytes but occupies 32");

    /* a flipped data byte: opening cannot know, reading the whole storage checks the CRC */
    one_tensor_zip("crc.pt", &(tspec){"FloatStorage", "0", 6, 0, 1, {6}, {1}}, d, 24, 0);
    size_t n = 0;
    uint8_t *z = rk_test_read_file(zpath("crc.pt"), &n);
    uint8_t *at = memmem(z, n, d, 24);
    ck_assert_ptr_nonnull(at);
    at[5] ^= 0x40;
    rk_test_write_file(zpath("crc.pt"), z, n);
    free(z);
    rk_pytorch *pt = open_ok(zpath("crc.pt"));
    float out[6];
    rk_err err;
    rk_err_clear(&err);
    ck_assert_int_eq(rk_pytorch_read(pt, 0, out, sizeof out, &err), RK_ECORRUPT);
    ck_assert_msg(strstr(err.msg, "a/data/0: CRC error") != NULL, "%s", err.msg);
    rk_pytorch_close(pt);
}
END_TEST

/* 8 MiB of deflated zeros whose headers claim 24 bytes: opening only trusts the headers, reading
 * never inflates more than a chunk beyond the declared size and reports the lie. */
START_TEST(hostile_deflate_bomb) {
    size_t big = (size_t)8 << 20;
    uint8_t *zeros = calloc(1, big);
    one_tensor_zip("bomb.pt", &(tspec){"FloatStorage", "0", 6, 0, 1, {6}, {1}}, zeros, big, 1);
    patch_size(zpath("bomb.pt"), "a/data/0", 24);
    rk_pytorch *pt = NULL;
    rk_err err;
    rk_err_clear(&err);
    int rc = rk_pytorch_open(&pt, zpath("bomb.pt"), &err);
    if (rc == 0) {   /* headers are consistent with each other: the lie shows when reading */
        float out[6];
        rc = rk_pytorch_read(pt, 0, out, sizeof out, &err);
        rk_pytorch_close(pt);
    }
    ck_assert_msg(rc == RK_ECORRUPT, "got %d: %s", rc, err.msg);
    ck_assert_msg(strstr(err.msg, "a/data/0") != NULL, "%s", err.msg);

    /* the same against data.pkl: its declared size is checked before anything is allocated */
    pb *p = calloc(1, sizeof *p);
    begin(p);
    end(p);
    write_zip(zpath("pklbomb.pt"), (zent[]){{"a/data.pkl", zeros, big, 1}}, 1);
    patch_size(zpath("pklbomb.pt"), "a/data.pkl", 0x20000000);
    expect_open_fails(zpath("pklbomb.pt"), RK_ECORRUPT, "a/data.pkl: 536870912 bytes (more than the 268435456 allowed)");
    write_zip(zpath("pklbomb2.pt"), (zent[]){{"a/data.pkl", zeros, big, 1}}, 1);
    patch_size(zpath("pklbomb2.pt"), "a/data.pkl", 4);
    expect_open_fails(zpath("pklbomb2.pt"), RK_ECORRUPT, "a/data.pkl");
    free(p);
    free(zeros);
}
END_TEST

START_TEST(hostile_pickles) {
    static const float d[6] = {1, 2, 3, 4, 5, 6};
    pb *p = calloc(1, sizeof *p);
    struct { const char *what; int code; const char *msg; } cases[] = {
        {"os.system", RK_EREFUSED, "a/data.pkl: pickle GLOBAL (0x63) at offset 2: global 'os.system' is not allowed"},
        {"not a dict", RK_EUNSUPPORTED, "the top-level object is a int"},
        {"single tensor", RK_EUNSUPPORTED, "a single tensor"},
        {"duplicate", RK_ECORRUPT, "'a.b': tensor name appears twice"},
        {"typed twice", RK_ECORRUPT, "storage '0' is declared twice with different type or size"},
        {"untyped v2", RK_ECORRUPT, "untyped storage without a dtype"},
        {"v3 partial", RK_ECORRUPT, "storage '0' of 6 bytes is not whole F32 elements"},
        {"bad persid", RK_ECORRUPT, "persistent id is not ('storage'"},
        {"not a storage", RK_ECORRUPT, "persistent id names a str"},
        {"float key", RK_EUNSUPPORTED, "a dict key of type float above tensors"},
        {"empty name", RK_EUNSUPPORTED, "a tensor with an empty name"},
        {"bad arg count", RK_ECORRUPT, "tensor rebuild call has 3 arguments"},
        {"size vs stride", RK_ECORRUPT, "size has 1 dims but stride has 2"},
        {"nine dims", RK_EUNSUPPORTED, "tensor has 9 dims"},
        {"v3 complex", RK_EUNSUPPORTED, "dtype torch.complex64 is not supported"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        tspec t = {"FloatStorage", "0", 6, 0, 1, {6}, {1}};
        p->n = 0;
        switch (c) {
        case 0: op(p, 0x80), op(p, 2), glob(p, "os", "system"), str(p, "id"), op(p, 0x85), op(p, 'R'), op(p, '.'); break;
        case 1: op(p, 0x80), op(p, 2), num(p, 5), op(p, '.'); break;
        case 2: op(p, 0x80), op(p, 2), tensor_v2(p, &t), op(p, '.'); break;
        case 3:
            begin(p), str(p, "a.b"), tensor_v2(p, &t), str(p, "a"), op(p, '}'), str(p, "b"), tensor_v2(p, &t), op(p, 's');
            end(p);
            break;
        case 4:
            begin(p), str(p, "x"), tensor_v2(p, &t), str(p, "y");
            t.cls = "IntStorage";
            tensor_v2(p, &t), end(p);
            break;
        case 5: begin(p), str(p, "x"), t.cls = "UntypedStorage", tensor_v2(p, &t), end(p); break;
        case 6:
        case 14:
            begin(p), str(p, "x");
            glob(p, "torch._utils", "_rebuild_tensor_v3");
            op(p, '('), storage(p, "torch", "UntypedStorage", "0", 6), num(p, 0), dims(p, 1, (int64_t[]){1});
            dims(p, 1, (int64_t[]){1}), op(p, 0x89), op(p, '}'), glob(p, "torch", c == 6 ? "float32" : "complex64");
            op(p, 't'), op(p, 'R'), end(p);
            break;
        case 7:
            begin(p), str(p, "x"), glob(p, "torch._utils", "_rebuild_tensor_v2"), op(p, '(');
            op(p, '('), str(p, "storage"), op(p, 't'), op(p, 'Q');
            num(p, 0), dims(p, 1, t.shape), dims(p, 1, t.stride), op(p, 0x89), op(p, '}'), op(p, 't'), op(p, 'R'), end(p);
            break;
        case 8:
            begin(p), str(p, "x"), glob(p, "torch._utils", "_rebuild_tensor_v2"), op(p, '(');
            op(p, '('), str(p, "storage"), str(p, "FloatStorage"), str(p, "0"), str(p, "cpu"), num(p, 6), op(p, 't'), op(p, 'Q');
            num(p, 0), dims(p, 1, t.shape), dims(p, 1, t.stride), op(p, 0x89), op(p, '}'), op(p, 't'), op(p, 'R'), end(p);
            break;
        case 9:
            begin(p), op(p, 'G'), raw(p, "\x3f\xf0\0\0\0\0\0\0", 8), op(p, '}'), str(p, "w"), tensor_v2(p, &t), op(p, 's');
            end(p);
            break;
        case 10: begin(p), str(p, ""), tensor_v2(p, &t), end(p); break;
        case 11:
            begin(p), str(p, "x"), glob(p, "torch._utils", "_rebuild_tensor_v2"), op(p, '(');
            storage(p, "torch", "FloatStorage", "0", 6), num(p, 0), dims(p, 1, t.shape), op(p, 't'), op(p, 'R'), end(p);
            break;
        case 12:
            begin(p), str(p, "x"), glob(p, "torch._utils", "_rebuild_tensor_v2"), op(p, '(');
            storage(p, "torch", "FloatStorage", "0", 6), num(p, 0), dims(p, 1, t.shape), dims(p, 2, (int64_t[]){1, 1});
            op(p, 0x89), op(p, '}'), op(p, 't'), op(p, 'R'), end(p);
            break;
        case 13: {
            int64_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 6};
            begin(p), str(p, "x"), glob(p, "torch._utils", "_rebuild_tensor_v2"), op(p, '(');
            storage(p, "torch", "FloatStorage", "0", 6), num(p, 0), dims(p, 9, nine), dims(p, 9, nine);
            op(p, 0x89), op(p, '}'), op(p, 't'), op(p, 'R'), end(p);
            break;
        }
        }
        write_zip(zpath("pkl.pt"), (zent[]){{"a/data.pkl", p->b, p->n, 0}, {"a/data/0", d, 24, 0}}, 2);
        rk_pytorch *pt = (rk_pytorch *)1;
        rk_err err;
        rk_err_clear(&err);
        int rc = rk_pytorch_open(&pt, zpath("pkl.pt"), &err);
        ck_assert_msg(rc == cases[c].code, "%s: expected %d, got %d (%s)", cases[c].what, cases[c].code, rc, err.msg);
        ck_assert_ptr_null(pt);
        ck_assert_msg(strstr(err.msg, cases[c].msg) != NULL, "%s: '%s' lacks '%s'", cases[c].what, err.msg, cases[c].msg);
    }
    free(p);
}
END_TEST

START_TEST(foreign_files) {
    uint8_t buf[1024] = {0};
    static const uint8_t magic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, '.'};
    rk_test_write_file(zpath("legacy.pt"), magic, sizeof magic);
    expect_open_fails(zpath("legacy.pt"), RK_EUNSUPPORTED,
                      "legacy (pre-1.6) torch.save format is not supported; re-save with torch>=1.6");
    rk_test_write_file(zpath("raw.pkl"), "\x80\x04N.", 4);
    expect_open_fails(zpath("raw.pkl"), RK_EUNSUPPORTED, "a raw pickle stream, not a zip archive: legacy (pre-1.6)");
    memcpy(buf, "storages", 8);
    memcpy(buf + 257, "ustar\0" "00", 8);
    rk_test_write_file(zpath("legacy.tar"), buf, sizeof buf);
    expect_open_fails(zpath("legacy.tar"), RK_EUNSUPPORTED, "a tar archive: legacy (pre-1.6)");
    rk_test_write_file(zpath("text.pt"), "hello world\n", 12);
    expect_open_fails(zpath("text.pt"), RK_ECORRUPT, "not a zip archive");
    rk_test_write_file(zpath("empty.pt"), "", 0);
    expect_open_fails(zpath("empty.pt"), RK_ECORRUPT, "empty file");
    rk_test_write_file(zpath("pk.pt"), "PK\x03\x04garbage-garbage-garbage", 27);
    expect_open_fails(zpath("pk.pt"), RK_ECORRUPT, "not a readable zip archive");
    rk_pytorch *pt = (rk_pytorch *)1;
    rk_err err;
    rk_err_clear(&err);
    ck_assert_int_eq(rk_pytorch_open(&pt, zpath("missing.pt"), &err), RK_EIO);
    ck_assert_ptr_null(pt);
    ck_assert_int_eq(rk_pytorch_open(NULL, "x", &err), RK_EINVAL);
    ck_assert_int_eq(rk_pytorch_open_buffer(&pt, NULL, 5, "x", &err), RK_EINVAL);
}
END_TEST

/* Every truncation of a valid archive fails cleanly (any error, never a crash). */
START_TEST(truncations) {
    write_good(zpath("good.pt"), "archive/", 0);
    size_t n = 0;
    uint8_t *z = rk_test_read_file(zpath("good.pt"), &n);
    for (size_t k = 0; k < n; k += (k < 64 || n - k < 256) ? 1 : 7) {
        uint8_t *copy = malloc(k ? k : 1);
        memcpy(copy, z, k);
        rk_pytorch *pt = NULL;
        rk_err err;
        rk_err_clear(&err);
        int rc = rk_pytorch_open_buffer(&pt, copy, k, "cut.pt", &err);
        ck_assert_msg(rc != 0, "prefix %zu of %zu opened", k, n);
        ck_assert_int_eq(err.code, rc);
        ck_assert_ptr_null(pt);
        free(copy);
    }
    free(z);
}
END_TEST

Suite *make_suite(void) {
    Suite *s = suite_create("pytorch");
    TCase *tc = tcase_create("parse_ok");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, read_ok_stored);
    tcase_add_test(tc, read_ok_deflated_and_buffer);
    tcase_add_test(tc, read_ok_large_transposed);
    suite_add_tcase(s, tc);
    tc = tcase_create("parse_corrupt");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, hostile_layout);
    tcase_add_test(tc, hostile_sizes);
    tcase_add_test(tc, hostile_deflate_bomb);
    tcase_add_test(tc, hostile_pickles);
    tcase_add_test(tc, foreign_files);
    tcase_add_test(tc, truncations);
    suite_add_tcase(s, tc);
    return s;
}

RK_TEST_MAIN()
