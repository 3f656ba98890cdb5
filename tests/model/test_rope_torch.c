/* tests/model/test_rope_torch.c — golden check of rk_rope_table_init against tests/reference/rope_reference.py
 * (PyTorch, float64, written from Hugging Face modeling_rope_utils and DeepSeek's YaRN code) for plain, linear,
 * YaRN (R1's parameters, and variants with a magnitude factor != 1) and llama3 tables, and the application of
 * those tables in both layouts (HF rotate-half; DeepSeek interleaved pairs, as inference/model.py and as HF
 * modeling_deepseek's de-interleave + rotate_half).
 * Tolerance: |table - torch| <= 2e-7 (the table is f32 rounding of a double computation: <= 0.5 ulp of 1.37
 * = 6e-8, plus double pow/cos differences far below that). Needs Debian's python3-torch (skipped otherwise). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/kernels.h"
#include "tests/common/rk_test.h"

typedef struct rope_case {
    const char *kind;
    rk_rope_params p;
    int64_t rot_dim, n_pos;
} rope_case;

static const rope_case CASES[] = {
    { "default", { RK_ROPE_NONE, 10000.0, 1.0, 0, 0, 0, 0, 0, 0, 0 }, 64, 4097 },
    { "linear", { RK_ROPE_LINEAR, 10000.0, 4.0, 0, 0, 0, 0, 0, 0, 0 }, 128, 8193 },
    /* DeepSeek-R1: rope head dim 64, factor 40 over 4096, beta 32/1, mscale = mscale_all_dim = 1 */
    { "yarn", { RK_ROPE_YARN, 10000.0, 40.0, 4096.0, 32.0, 1.0, 1.0, 1.0, 0, 0 }, 64, 163840 },
    /* HF default attention factor (no mscale fields): mscale 1, mscale_all_dim 0 */
    { "yarn", { RK_ROPE_YARN, 10000.0, 40.0, 4096.0, 32.0, 1.0, 1.0, 0.0, 0, 0 }, 64, 163840 },
    { "yarn", { RK_ROPE_YARN, 1000000.0, 4.0, 32768.0, 32.0, 1.0, 0.707, 1.0, 0, 0 }, 128, 131072 },
    /* Llama 3.1 / R1-Distill-Llama-8B and an odd variant */
    { "llama3", { RK_ROPE_LLAMA3, 500000.0, 8.0, 8192.0, 0, 0, 0, 0, 1.0, 4.0 }, 128, 131072 },
    { "llama3", { RK_ROPE_LLAMA3, 10000.0, 4.0, 4096.0, 0, 0, 0, 0, 2.0, 8.0 }, 96, 16384 },
};

static const int64_t POS[] = { 0, 1, 2, 7, 100, 1000, 4095, 4096, 8191, 16383, 65537, 131071, 163839 };

START_TEST(rope_table_matches_torch) {
    const rope_case *c = &CASES[_i];
    rk_rope_table t;
    rk_err err;
    ck_assert_int_eq(rk_rope_table_init(&t, &c->p, c->rot_dim, c->n_pos, &err), 0);
    char cmd[2048];
    int len = snprintf(cmd, sizeof cmd, "%s %s/tests/reference/rope_reference.py %s %.17g %lld %.17g %.17g %.17g %.17g %.17g %.17g %.17g %.17g",
                       rk_test_python(), rk_test_source_dir(), c->kind, c->p.theta, (long long)c->rot_dim, c->p.factor,
                       c->p.orig_ctx, c->p.beta_fast, c->p.beta_slow, c->p.mscale, c->p.mscale_all_dim,
                       c->p.low_freq_factor, c->p.high_freq_factor);
    int npos = 0;
    for (size_t k = 0; k < sizeof POS / sizeof POS[0]; k++)
        if (POS[k] < c->n_pos) {
            len += snprintf(cmd + len, sizeof cmd - (size_t)len, " %lld", (long long)POS[k]);
            npos++;
        }
    const size_t cap = 1 << 20;
    char *out = malloc(cap), errb[4096];
    int rc = rk_test_run(cmd, out, cap, errb, sizeof errb);
    ck_assert_msg(rc == 0, "python failed (%d): %s", rc, errb);
    char *p = out, *end;
    ck_assert(strncmp(p, "attn ", 5) == 0);
    const double attn = strtod(p + 5, &end);
    ck_assert_msg(fabs(attn - t.attn_factor) <= 1e-7, "attn factor %.9g vs torch %.9g", t.attn_factor, attn);
    p = end;
    const int64_t half = c->rot_dim / 2;
    int bad = 0, checked = 0;
    double maxerr = 0.0;
    for (int k = 0; k < npos; k++) {
        long long pos = strtoll(p, &end, 10);
        ck_assert_msg(end != p, "short torch output");
        p = end;
        for (int64_t i = 0; i < 2 * half; i++) {
            double want = strtod(p, &end);
            ck_assert_msg(end != p, "short torch output at pos %lld", pos);
            p = end;
            const float got = i < half ? t.cos[pos * half + i] : t.sin[pos * half + i - half];
            const double e = fabs((double)got - want);
            maxerr = e > maxerr ? e : maxerr;
            bad += !(e <= 2e-7);
            checked++;
        }
    }
    ck_assert_msg(bad == 0, "%s case %d: %d of %d values off, max error %.3g", c->kind, _i, bad, checked, maxerr);
    ck_assert_int_eq(checked, npos * 2 * (int)half);
    free(out);
    rk_rope_table_free(&t);
}
END_TEST

/* Applying the table: rk_rope rotate-half vs HF Llama/Qwen, rk_rope interleaved vs DeepSeek-V3 inference/model.py
 * (complex pairs), and HF modeling_deepseek (which de-interleaves q/k before rotate_half) vs the interleaved
 * result read in de-interleaved order. f32 kernel vs float64 torch: |Δ| <= 2e-6 (values <= ~2.7). */
START_TEST(rope_apply_matches_torch) {
    const rope_case *c = &CASES[_i];
    rk_rope_table t;
    rk_err err;
    ck_assert_int_eq(rk_rope_table_init(&t, &c->p, c->rot_dim, c->n_pos, &err), 0);
    const int64_t d = c->rot_dim, half = d / 2;
    int64_t pos[6] = { 0, 1, 5, 4095, 4096, c->n_pos - 1 };
    char *dir = rk_test_tmpdir("rope-apply");
    char *path = rk_path_join(dir, "x.txt");
    FILE *f = fopen(path, "w");
    ck_assert(f != NULL);
    float *x = malloc(sizeof(float) * (size_t)(6 * d)), *a = malloc(sizeof(float) * (size_t)(6 * d));
    float *b = malloc(sizeof(float) * (size_t)(6 * d));
    uint32_t s = 12345u + (uint32_t)_i;
    for (int k = 0; k < 6; k++) {
        if (pos[k] >= c->n_pos) pos[k] = c->n_pos - 1;
        fprintf(f, "%lld", (long long)pos[k]);
        for (int64_t i = 0; i < d; i++) {
            s = s * 1664525u + 1013904223u;
            x[k * d + i] = (float)((s >> 8) * 0x1p-24 * 2.0 - 1.0);
            fprintf(f, " %.9g", x[k * d + i]);
        }
        fprintf(f, "\n");
    }
    fclose(f);
    memcpy(a, x, sizeof(float) * (size_t)(6 * d));
    memcpy(b, x, sizeof(float) * (size_t)(6 * d));
    rk_rope(a, pos, 6, 1, d, 0, &t, 0);
    rk_rope(b, pos, 6, 1, d, 0, &t, 1);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s %s/tests/reference/rope_reference.py apply %s %s %.17g %lld %.17g %.17g %.17g %.17g %.17g %.17g %.17g %.17g",
             rk_test_python(), rk_test_source_dir(), path, c->kind, c->p.theta, (long long)d, c->p.factor, c->p.orig_ctx,
             c->p.beta_fast, c->p.beta_slow, c->p.mscale, c->p.mscale_all_dim, c->p.low_freq_factor, c->p.high_freq_factor);
    const size_t cap = 1 << 20;
    char *out = malloc(cap), errb[4096];
    int rc = rk_test_run(cmd, out, cap, errb, sizeof errb);
    ck_assert_msg(rc == 0, "python failed (%d): %s", rc, errb);
    char *p = out, *end;
    int bad[3] = { 0, 0, 0 };
    double worst = 0.0;
    for (int k = 0; k < 6; k++)
        for (int part = 0; part < 3; part++)
            for (int64_t i = 0; i < d; i++) {
                const double want = strtod(p, &end);
                ck_assert_msg(end != p, "short torch output (token %d part %d)", k, part);
                p = end;
                float got;
                if (part == 0) got = a[k * d + i];
                else if (part == 1) got = b[k * d + (i < half ? 2 * i : 2 * (i - half) + 1)];   /* de-interleaved */
                else got = b[k * d + i];
                const double e = fabs(got - want);
                worst = e > worst ? e : worst;
                bad[part] += !(e <= 2e-6);
            }
    ck_assert_msg(bad[0] + bad[1] + bad[2] == 0, "case %d: rotate-half %d, HF deepseek %d, deepseek ref %d values off (max %.3g)",
                  _i, bad[0], bad[1], bad[2], worst);
    rk_test_rmtree(dir);
    free(dir); free(path); free(x); free(a); free(b); free(out);
    rk_rope_table_free(&t);
}
END_TEST

Suite *make_suite(void) {
    Suite *s = suite_create("model_rope_torch");
    TCase *tc = tcase_create("golden");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, rope_table_matches_torch, 0, (int)(sizeof CASES / sizeof CASES[0]));
    tcase_add_loop_test(tc, rope_apply_matches_torch, 0, (int)(sizeof CASES / sizeof CASES[0]));
    suite_add_tcase(s, tc);
    return s;
}

RK_TEST_MAIN_NEEDS_TORCH()
