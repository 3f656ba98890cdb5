/* tests/formats/test_pytorch_torch.c — real torch.save files (Debian's python3-torch) read without torch:
 * tests/reference/make_torch_checkpoints.py writes state dicts of every dtype, non-contiguous and shared
 * views, a nested dict, a protocol-4 save, a deflated re-pack, a legacy file and a malicious pickle, plus the
 * raw bytes torch holds for every tensor; every tensor read here must match those bytes exactly, the legacy
 * file must be refused as legacy and the malicious one refused without running anything. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/pickle.h"
#include "formats/pytorch.h"
#include "tests/common/rk_test.h"

static char *g_dir;
static cJSON *g_manifest;

static void make_files(void) {
    g_dir = rk_test_tmpdir("pytorch-torch");
    char cmd[8192], out[4096], err[16384];
    snprintf(cmd, sizeof cmd, "%s %s/tests/reference/make_torch_checkpoints.py %s", rk_test_python(),
             rk_test_source_dir(), g_dir);
    int rc = rk_test_run(cmd, out, sizeof out, err, sizeof err);
    ck_assert_msg(rc == 0, "make_torch_checkpoints.py failed (%d): %s", rc, err);
    char *path = rk_path_join(g_dir, "manifest.json");
    size_t n = 0;
    char *txt = (char *)rk_test_read_file(path, &n);
    ck_assert_msg(txt != NULL, "no manifest.json");
    g_manifest = cJSON_ParseWithLength(txt, n);
    ck_assert_ptr_nonnull(g_manifest);
    free(txt);
    free(path);
}

static void drop_files(void) {
    cJSON_Delete(g_manifest);
    g_manifest = NULL;
    rk_test_rmtree(g_dir);
    free(g_dir);
    g_dir = NULL;
}

static void check_file(const char *fname) {
    cJSON *list = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(g_manifest, "files"), fname);
    ck_assert_msg(cJSON_IsArray(list), "manifest lacks %s", fname);
    char *path = rk_path_join(g_dir, fname);
    rk_pytorch *pt = NULL;
    rk_err err;
    rk_err_clear(&err);
    int rc = rk_pytorch_open(&pt, path, &err);
    ck_assert_msg(rc == 0, "%s: %s", fname, err.msg);
    ck_assert_uint_eq(rk_pytorch_count(pt), (size_t)cJSON_GetArraySize(list));
    size_t i = 0;
    for (cJSON *e = list->child; e; e = e->next, i++) {
        const rk_pt_tensor *t = rk_pytorch_tensor(pt, i);
        const char *name = cJSON_GetObjectItemCaseSensitive(e, "name")->valuestring;
        ck_assert_msg(!strcmp(t->name, name), "%s: tensor %zu is '%s', torch says '%s'", fname, i, t->name, name);
        ck_assert_ptr_eq(rk_pytorch_find(pt, name), t);
        ck_assert_str_eq(rk_dtype_name(t->dtype), cJSON_GetObjectItemCaseSensitive(e, "dtype")->valuestring);
        cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
        ck_assert_int_eq(t->n_dims, cJSON_GetArraySize(shape));
        int d = 0;
        for (cJSON *s = shape->child; s; s = s->next, d++) ck_assert_int_eq(t->shape[d], (int64_t)s->valuedouble);
        ck_assert_int_eq(t->contiguous, cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "contiguous")));
        char *bin = rk_path_join(g_dir, cJSON_GetObjectItemCaseSensitive(e, "data")->valuestring);
        size_t n = 0;
        uint8_t *want = rk_test_read_file(bin, &n);
        ck_assert_ptr_nonnull(want);
        ck_assert_uint_eq(t->nbytes, n);
        uint8_t *got = malloc(n + 1);
        rc = rk_pytorch_read(pt, i, got, n, &err);
        ck_assert_msg(rc == 0, "%s: read %s: %s", fname, name, err.msg);
        ck_assert_msg(!memcmp(got, want, n), "%s: tensor %s differs from torch's bytes", fname, name);
        free(got);
        free(want);
        free(bin);
    }
    if (!strcmp(fname, "nested.pt")) {   /* non-tensor leaves stay reachable through the pickle tree */
        const rk_pk_value *root = rk_pytorch_pickle_root(pt);
        ck_assert_int_eq(rk_pk_dict_get(root, "step")->u.i, 3);
        ck_assert(rk_pk_is_str(rk_pk_dict_get(root, "name"), "x"));
        ck_assert(rk_pk_dict_get(root, "lr")->u.f == 0.1);
        ck_assert_ptr_nonnull(rk_pk_dict_get(root, "model")->u.dict.state);   /* state_dict()._metadata */
    }
    rk_pytorch_close(pt);
    free(path);
}

START_TEST(torch_dtypes) { check_file("dtypes.pt"); }
END_TEST
START_TEST(torch_views) { check_file("views.pt"); }
END_TEST
START_TEST(torch_nested) { check_file("nested.pt"); }
END_TEST
START_TEST(torch_protocol4) { check_file("proto4.pt"); }
END_TEST
START_TEST(torch_deflated) { check_file("deflate.pt"); }
END_TEST

START_TEST(torch_refused) {
    rk_pytorch *pt = NULL;
    rk_err err;
    rk_err_clear(&err);
    char *legacy = rk_path_join(g_dir, "legacy.pt");
    ck_assert_int_eq(rk_pytorch_open(&pt, legacy, &err), RK_EUNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(err.msg, "legacy (pre-1.6) torch.save format is not supported; re-save with torch>=1.6"));
    ck_assert_ptr_null(pt);
    free(legacy);

    char *evil = rk_path_join(g_dir, "malicious.pt"), *marker = rk_path_join(g_dir, "pwned");
    ck_assert_int_eq(rk_pytorch_open(&pt, evil, &err), RK_EREFUSED);
    ck_assert_msg(strstr(err.msg, "malicious/data.pkl: pickle GLOBAL") && strstr(err.msg, "'posix.system' is not allowed"),
                  "%s", err.msg);
    ck_assert_ptr_null(pt);
    ck_assert_msg(access(marker, F_OK) != 0, "the malicious pickle ran");
    free(evil);
    free(marker);
}
END_TEST

Suite *make_suite(void) {
    Suite *s = suite_create("pytorch_torch");
    TCase *tc = tcase_create("golden");
    tcase_add_unchecked_fixture(tc, make_files, drop_files);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, torch_dtypes);
    tcase_add_test(tc, torch_views);
    tcase_add_test(tc, torch_nested);
    tcase_add_test(tc, torch_protocol4);
    tcase_add_test(tc, torch_deflated);
    tcase_add_test(tc, torch_refused);
    suite_add_tcase(s, tc);
    return s;
}

RK_TEST_MAIN_NEEDS_TORCH()
