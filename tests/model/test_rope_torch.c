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

#define N_CASES (sizeof CASES / sizeof CASES[0])

/* the apply test's input for case i: 6 positions and 6 x rot_dim values in [-1, 1) (same every run) */
static void apply_input(int i, int64_t pos[6], float *x) {
    const rope_case *c = &CASES[i];
    const int64_t p0[6] = { 0, 1, 5, 4095, 4096, c->n_pos - 1 }, d = c->rot_dim;
    uint32_t s = 12345u + (uint32_t)i;
    for (int k = 0; k < 6; k++) {
        pos[k] = p0[k] >= c->n_pos ? c->n_pos - 1 : p0[k];
        for (int64_t j = 0; j < d; j++) {
            s = s * 1664525u + 1013904223u;
            x[k * d + j] = (float)((s >> 8) * 0x1p-24 * 2.0 - 1.0);
        }
    }
}

static int params(char *buf, size_t cap, const rope_case *c, int64_t d) {
    return snprintf(buf, cap, "%s %.17g %lld %.17g %.17g %.17g %.17g %.17g %.17g %.17g %.17g", c->kind, c->p.theta, (long long)d,
                    c->p.factor, c->p.orig_ctx, c->p.beta_fast, c->p.beta_slow, c->p.mscale, c->p.mscale_all_dim,
                    c->p.low_freq_factor, c->p.high_freq_factor);
}

/* torch's answers for every case, from one Python start (it takes ~2 s to import torch): [0] tables, [1] apply */
static char *g_torch[2][N_CASES];
static char *g_torch_buf, *g_dir;

static void torch_setup(void) {
    g_dir = rk_test_tmpdir("rope-torch");
    char *jobs = rk_path_join(g_dir, "jobs.txt");
    FILE *jf = fopen(jobs, "w");
    ck_assert(jf != NULL);
    char line[1024];
    for (size_t i = 0; i < N_CASES; i++) {
        const rope_case *c = &CASES[i];
        params(line, sizeof line, c, c->rot_dim);
        fprintf(jf, "%s", line);
        for (size_t k = 0; k < sizeof POS / sizeof POS[0]; k++)
            if (POS[k] < c->n_pos) fprintf(jf, " %lld", (long long)POS[k]);
        fprintf(jf, "\n");
    }
    for (size_t i = 0; i < N_CASES; i++) {
        const rope_case *c = &CASES[i];
        const int64_t d = c->rot_dim;
        char name[32];
        snprintf(name, sizeof name, "x%zu.txt", i);
        char *path = rk_path_join(g_dir, name);
        FILE *f = fopen(path, "w");
        ck_assert(f != NULL);
        int64_t pos[6];
        float *x = malloc(sizeof(float) * (size_t)(6 * d));
        apply_input((int)i, pos, x);
        for (int k = 0; k < 6; k++) {
            fprintf(f, "%lld", (long long)pos[k]);
            for (int64_t j = 0; j < d; j++) fprintf(f, " %.9g", x[k * d + j]);
            fprintf(f, "\n");
        }
        fclose(f);
        free(x);
        params(line, sizeof line, c, d);
        fprintf(jf, "apply %s %s\n", path, line);
        free(path);
    }
    fclose(jf);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s %s/tests/reference/rope_reference.py batch %s", rk_test_python(), rk_test_source_dir(), jobs);
    const size_t cap = 16u << 20;
    char errb[4096];
    g_torch_buf = malloc(cap);
    int rc = rk_test_run(cmd, g_torch_buf, cap, errb, sizeof errb);
    ck_assert_msg(rc == 0, "python failed (%d): %s", rc, errb);
    char *p = g_torch_buf;
    for (size_t j = 0; j < 2 * N_CASES; j++) {
        char *e = strstr(p, "=== end\n");
        ck_assert_msg(e != NULL, "torch output ends after %zu of %zu jobs", j, 2 * N_CASES);
        *e = 0;
        g_torch[j / N_CASES][j % N_CASES] = p;
        p = e + 8;
    }
    free(jobs);
}

static void torch_teardown(void) {
    rk_test_rmtree(g_dir);
    free(g_dir);
    free(g_torch_buf);
}

START_TEST(rope_table_matches_torch) {
    const rope_case *c = &CASES[_i];
    rk_rope_table t;
    rk_err err;
    ck_assert_int_eq(rk_rope_table_init(&t, &c->p, c->rot_dim, c->n_pos, &err), 0);
    int npos = 0;
    for (size_t k = 0; k < sizeof POS / sizeof POS[0]; k++) npos += POS[k] < c->n_pos;
    char *out = g_torch[0][_i];
    ck_assert_msg(out != NULL, "no torch output for table case %d", _i);
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
    int64_t pos[6];
    float *x = malloc(sizeof(float) * (size_t)(6 * d)), *a = malloc(sizeof(float) * (size_t)(6 * d));
    float *b = malloc(sizeof(float) * (size_t)(6 * d));
    apply_input(_i, pos, x);
    memcpy(a, x, sizeof(float) * (size_t)(6 * d));
    memcpy(b, x, sizeof(float) * (size_t)(6 * d));
    rk_rope(a, pos, 6, 1, d, 0, &t, 0);
    rk_rope(b, pos, 6, 1, d, 0, &t, 1);
    char *out = g_torch[1][_i];
    ck_assert_msg(out != NULL, "no torch output for apply case %d", _i);
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
    free(x); free(a); free(b);
    rk_rope_table_free(&t);
}
END_TEST

Suite *make_suite(void) {
    Suite *s = suite_create("model_rope_torch");
    TCase *tc = tcase_create("golden");
    tcase_add_unchecked_fixture(tc, torch_setup, torch_teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, rope_table_matches_torch, 0, (int)(sizeof CASES / sizeof CASES[0]));
    tcase_add_loop_test(tc, rope_apply_matches_torch, 0, (int)(sizeof CASES / sizeof CASES[0]));
    suite_add_tcase(s, tc);
    return s;
}

RK_TEST_MAIN_NEEDS_TORCH()
