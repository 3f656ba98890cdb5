/* tests/convert/test_q8_0.c — the Q8_0 reference kernel the converter writes with: golden blocks (roundf
 * rounds halves away from zero, d = amax/127 stored as F16), zero blocks, round-trip error bounds over several
 * lengths, and no undefined behaviour on NaN/inf input. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "formats/numeric.h"
#include "quantize/blocks.h"
#include "tests/common/rk_test.h"

START_TEST(golden_block) {
    float x[32] = { 0 };
    x[0] = 127.0f;     /* amax 127 → d = 1, id = 1 */
    x[1] = 2.5f;       /* roundf: 3 (rint would give 2) */
    x[2] = -2.5f;      /* -3 */
    x[3] = 0.49f;
    x[4] = 126.5f;     /* 127 */
    x[5] = -127.0f;
    x[6] = 3.5f;       /* 4 */
    rk_block_q8_0 b;
    rk_q8_0_quantize_ref(x, &b, 32);
    ck_assert_uint_eq(b.d, 0x3C00);
    const int8_t want[7] = { 127, 3, -3, 0, 127, -127, 4 };
    for (int j = 0; j < 7; j++) ck_assert_int_eq(b.qs[j], want[j]);
    for (int j = 7; j < 32; j++) ck_assert_int_eq(b.qs[j], 0);
    float y[32];
    rk_q8_0_dequantize_ref(&b, y, 32);
    ck_assert_float_eq(y[1], 3.0f);
    ck_assert_float_eq(y[5], -127.0f);
    /* d is amax/127 in f32, stored as F16; q uses the unrounded 1/d */
    for (int j = 0; j < 32; j++) x[j] = (float)j * 0.01f - 0.1f;
    rk_q8_0_quantize_ref(x, &b, 32);
    float d = 0.21f / 127.0f;   /* amax = |31*0.01 - 0.1| = 0.21 */
    ck_assert_uint_eq(b.d, rk_f32_to_f16(x[31] / 127.0f));
    for (int j = 0; j < 32; j++) ck_assert_int_eq(b.qs[j], (int8_t)roundf(x[j] * (1.0f / (x[31] / 127.0f))));
    (void)d;
}
END_TEST

START_TEST(zero_block) {
    float x[64] = { 0 };
    uint8_t buf[68];
    memset(buf, 0xAB, sizeof buf);
    rk_q8_0_quantize_ref(x, buf, 64);
    for (int i = 0; i < 68; i++) ck_assert_uint_eq(buf[i], 0);
    float y[64];
    rk_q8_0_dequantize_ref(buf, y, 64);
    for (int i = 0; i < 64; i++) ck_assert_float_eq(y[i], 0.0f);
}
END_TEST

START_TEST(roundtrip_lengths) {
    static const int lens[] = { 32, 64, 96, 320, 4096 };
    const int n = lens[_i];
    float *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y);
    uint8_t *q = malloc((size_t)n / 32 * 34);
    uint64_t s = 99;
    for (int i = 0; i < n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((double)(s >> 11) / 9007199254740992.0 * 2.0 - 1.0) * (float)(1 + i % 7);
    }
    rk_q8_0_quantize_ref(x, q, n);
    rk_q8_0_dequantize_ref(q, y, n);
    for (int b = 0; b < n / 32; b++) {
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[b * 32 + j]));
        float d = amax / 127.0f, dh = rk_f16_to_f32(rk_f32_to_f16(d));
        for (int j = 0; j < 32; j++) {
            float err = fabsf(y[b * 32 + j] - x[b * 32 + j]);
            ck_assert_msg(err <= d * 0.5f + 127.0f * fabsf(dh - d) + 1e-6f, "n=%d block %d elem %d: err %g, d %g", n, b, j, err, d);
        }
    }
    free(x);
    free(y);
    free(q);
}
END_TEST

START_TEST(non_finite_input) {
    float x[32] = { 0 };
    x[0] = NAN;
    x[1] = 1.0f;
    rk_block_q8_0 b;
    rk_q8_0_quantize_ref(x, &b, 32);   /* must not trap under UBSan */
    ck_assert_int_eq(b.qs[0], 0);
    ck_assert_int_eq(b.qs[1], 127);
    x[0] = INFINITY;
    rk_q8_0_quantize_ref(x, &b, 32);
    ck_assert(b.qs[0] >= -127 && b.qs[0] <= 127);
}
END_TEST

Suite *make_suite(void) {
    Suite *s = suite_create("q8_0");
    TCase *g = tcase_create("golden");
    tcase_add_test(g, golden_block);
    tcase_add_test(g, zero_block);
    tcase_add_test(g, non_finite_input);
    suite_add_tcase(s, g);
    TCase *r = tcase_create("roundtrip");
    tcase_add_loop_test(r, roundtrip_lengths, 0, 5);
    suite_add_tcase(s, r);
    return s;
}

RK_TEST_MAIN()
