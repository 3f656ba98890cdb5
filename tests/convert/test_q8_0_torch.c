/* tests/convert/test_q8_0_torch.c — Q8_0 bytes from rk_q8_0_quantize_ref against gguf-py's numpy quantizer
 * (the one llama.cpp's convert_hf_to_gguf.py writes Q8_0 with: d = amax/127 in f32, q = np_roundf(x * 1/d),
 * d stored as float16), bit for bit, over random blocks of mixed magnitude including a zero block. Needs
 * Debian's python3-torch (which brings numpy); skipped (exit 77) without it. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quantize/blocks.h"
#include "tests/common/rk_test.h"

static const char PY[] =
    "import numpy as np, sys\n"
    "rng = np.random.default_rng(int(sys.argv[1])); n = int(sys.argv[2])\n"
    "x = (rng.standard_normal(n) * rng.choice([1e-3, 1.0, 300.0], n)).astype(np.float32)\n"
    "x[5] = 0; x[64:96] = 0\n"
    "blocks = x.reshape(-1, 32)\n"
    "d = np.abs(blocks).max(axis=-1, keepdims=True) / 127\n"
    "with np.errstate(divide='ignore'):\n"
    "    idd = np.where(d == 0, 0, 1 / d)\n"
    "def np_roundf(v):\n"
    "    a = abs(v); f = np.floor(a); return np.sign(v) * (f + np.floor(2 * (a - f)))\n"
    "qs = np_roundf(blocks * idd)\n"
    "out = np.concatenate([d.astype(np.float16).view(np.uint8), qs.astype(np.int8).view(np.uint8)], axis=1)\n"
    "sys.stdout.write(x.tobytes().hex() + '\\n' + out.tobytes().hex() + '\\n')\n";

static size_t unhex(const char *s, uint8_t *dst, size_t cap) {
    size_t n = 0;
    while (s[0] && s[1] && s[0] != '\n' && n < cap) {
        unsigned v;
        if (sscanf(s, "%2x", &v) != 1) break;
        dst[n++] = (uint8_t)v;
        s += 2;
    }
    return n;
}

START_TEST(matches_gguf_py) {
    enum { N = 2048 };
    char *dir = rk_test_tmpdir("q8");
    char *script = rk_path_join(dir, "q8.py");
    rk_test_write_file(script, PY, strlen(PY));
    char cmd[512], errb[2048];
    static char out[64 * N];
    snprintf(cmd, sizeof cmd, "%s %s %d %d", rk_test_python(), script, 7 + _i, N);
    int rc = rk_test_run(cmd, out, sizeof out, errb, sizeof errb);
    ck_assert_msg(rc == 0, "python failed (%d): %s", rc, errb);
    static float x[N];
    static uint8_t want[N / 32 * 34], got[N / 32 * 34];
    ck_assert_uint_eq(unhex(out, (uint8_t *)x, sizeof x), sizeof x);
    const char *nl = strchr(out, '\n');
    ck_assert_ptr_nonnull(nl);
    ck_assert_uint_eq(unhex(nl + 1, want, sizeof want), sizeof want);
    rk_q8_0_quantize_ref(x, got, N);
    for (size_t b = 0; b < N / 32; b++)
        ck_assert_msg(!memcmp(got + 34 * b, want + 34 * b, 34), "seed %d: block %zu differs from gguf-py", 7 + _i, b);
    rk_test_rmtree(dir);
    free(script);
    free(dir);
}
END_TEST

Suite *make_suite(void) {
    Suite *s = suite_create("q8_0_torch");
    TCase *t = tcase_create("golden");
    tcase_set_timeout(t, 120);
    tcase_add_loop_test(t, matches_gguf_py, 0, 3);
    suite_add_tcase(s, t);
    return s;
}

RK_TEST_MAIN_NEEDS_TORCH()
