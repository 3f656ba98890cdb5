/* tests/model/test_train.c — the training engine (model/train.h):
 *   - its forward equals the PyTorch reference logits of every inference fixture (tests/reference/fixtures), for
 *     one sequence and for a batch of two;
 *   - the whole-model gradient equals a central finite difference of the loss along random directions, for a
 *     dense (qwen2: biases, tied embeddings) and an MoE model (deepseek_v3: MLA, group-limited sigmoid routing,
 *     shared expert, balance loss);
 *   - gradient accumulation: two half batches give the gradient of the whole batch;
 *   - save (F32, BF16, FP8) and load back, into the trainer and into the inference engine;
 *   - the MoE bias update follows the sign rule;
 *   - errors: tokens outside the vocabulary, unusable batch shapes, a checkpoint missing a tensor. */
#define _GNU_SOURCE
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "tests/common/rk_test.h"
#include "model/train.h"
#include "model/model.h"
#include "model/optim.h"

static char fixture_root[1024];

static int read_logits(const char *dir, int32_t **tok, float **logits, int64_t *T, int64_t *V) {
    char path[4200];
    snprintf(path, sizeof path, "%s/logits.bin", dir);
    size_t n;
    uint8_t *b = rk_test_read_file(path, &n);
    if (!b) return -1;
    uint32_t h[3];
    ck_assert(n >= 16 && !memcmp(b, "RKLG", 4));
    memcpy(h, b + 4, sizeof h);
    *T = h[1], *V = h[2];
    *tok = malloc((size_t)*T * 4);
    *logits = malloc((size_t)(*T * *V) * 4);
    memcpy(*tok, b + 16, (size_t)*T * 4);
    memcpy(*logits, b + 16 + 4 * (size_t)*T, (size_t)(*T * *V) * 4);
    free(b);
    return 0;
}

static const char *const FIXTURES[] = { "qwen2", "qwen2_tied", "llama3", "ds_v3_bf16", "ds_v3_fp8", "ds_v2lite" };

START_TEST(forward_matches_reference) {
    const char *name = FIXTURES[_i];
    char dir[2048];
    snprintf(dir, sizeof dir, "%s/%s", fixture_root, name);
    int32_t *tok;
    float *want;
    int64_t T, V;
    ck_assert_msg(read_logits(dir, &tok, &want, &T, &V) == 0, "%s: no logits.bin", dir);
    rk_train *t;
    rk_err err = {0};
    ck_assert_msg(rk_train_load(&t, dir, &err) == 0, "%s: %s", name, err.msg);
    float *got = malloc((size_t)(2 * T * V) * sizeof(float));
    int32_t *two = malloc((size_t)(2 * T) * 4);
    memcpy(two, tok, (size_t)T * 4);
    memcpy(two + T, tok, (size_t)T * 4);
    rk_train_result r;
    ck_assert_int_eq(rk_train_eval(t, tok, NULL, 1, T, got, &r, &err), 0);
    double e1 = rk_max_rel_err(got, want, (size_t)(T * V));
    ck_assert_int_eq(rk_train_eval(t, two, NULL, 2, T, got, &r, &err), 0);
    double e2 = rk_max_rel_err(got, want, (size_t)(T * V)), e3 = rk_max_rel_err(got + T * V, want, (size_t)(T * V));
    printf("train forward %-12s rel err %.2e (batch of 2: %.2e, %.2e)\n", name, e1, e2, e3);
    ck_assert_msg(e1 <= 1e-4 && e2 <= 1e-4 && e3 <= 1e-4, "%s: %.3g %.3g %.3g", name, e1, e2, e3);
    rk_train_free(t);
    free(got); free(two); free(tok); free(want);
}
END_TEST

/* ---- finite differences ---------------------------------------------------------------------------------------- */
static const char QWEN_CFG[] =
    "{\"model_type\":\"qwen2\",\"vocab_size\":61,\"hidden_size\":24,\"intermediate_size\":40,\"num_hidden_layers\":2,"
    "\"num_attention_heads\":4,\"num_key_value_heads\":2,\"rms_norm_eps\":1e-6,\"rope_theta\":10000,"
    "\"max_position_embeddings\":64,\"tie_word_embeddings\":true,\"initializer_range\":0.2}";
static const char DS_CFG[] =
    "{\"model_type\":\"deepseek_v3\",\"vocab_size\":53,\"hidden_size\":32,\"intermediate_size\":48,"
    "\"moe_intermediate_size\":12,\"num_hidden_layers\":2,\"num_attention_heads\":2,\"num_key_value_heads\":2,"
    "\"n_shared_experts\":1,\"n_routed_experts\":8,\"routed_scaling_factor\":2.5,\"kv_lora_rank\":16,"
    "\"q_lora_rank\":20,\"qk_rope_head_dim\":8,\"v_head_dim\":10,\"qk_nope_head_dim\":12,\"topk_method\":\"noaux_tc\","
    "\"n_group\":4,\"topk_group\":2,\"num_experts_per_tok\":3,\"moe_layer_freq\":1,\"first_k_dense_replace\":1,"
    "\"norm_topk_prob\":true,\"scoring_func\":\"sigmoid\",\"max_position_embeddings\":64,\"rms_norm_eps\":1e-6,"
    "\"rope_theta\":10000,\"rope_scaling\":{\"type\":\"yarn\",\"factor\":4,\"original_max_position_embeddings\":16,"
    "\"beta_fast\":32,\"beta_slow\":1,\"mscale\":1,\"mscale_all_dim\":1},\"tie_word_embeddings\":false,"
    "\"initializer_range\":0.2}";

static rk_train *new_model(const char *cfg_json, uint64_t seed) {
    char *dir = rk_test_tmpdir("train");
    char path[2048];
    snprintf(path, sizeof path, "%s/config.json", dir);
    rk_test_write_file(path, cfg_json, strlen(cfg_json));
    rk_train *t;
    rk_err err = {0};
    ck_assert_msg(rk_train_new(&t, path, seed, &err) == 0, "%s", err.msg);
    rk_test_rmtree(dir);
    free(dir);
    return t;
}

static double loss_of(rk_train *t, const int32_t *in, const int32_t *tg, int64_t B, int64_t T, float aux) {
    rk_train_result r;
    rk_err err = {0};
    ck_assert_int_eq(rk_train_eval(t, in, tg, B, T, NULL, &r, &err), 0);
    return r.ce_sum / (double)r.n_tokens + aux * r.aux;
}

static void fd_check(const char *cfg, float aux, const char *what) {
    rk_train *t = new_model(cfg, 7);
    const int64_t B = 2, T = 9, V = rk_train_config(t)->vocab_size;
    int32_t in[18], tg[18];
    rk_rng r;
    rk_rng_seed(&r, 3);
    for (int i = 0; i < 18; i++) in[i] = (int32_t)rk_rng_below(&r, (uint64_t)V), tg[i] = (int32_t)rk_rng_below(&r, (uint64_t)V);
    tg[4] = -1;
    int64_t n;
    float *w = rk_train_params(t, &n), *g = rk_train_grads(t, NULL);
    rk_train_zero_grad(t);
    rk_train_result res;
    rk_err err = {0};
    ck_assert_int_eq(rk_train_step(t, in, tg, B, T, 1.0f / 17.0f, aux, &res, &err), 0);
    ck_assert_int_eq(res.n_tokens, 17);
    float *w0 = malloc((size_t)n * sizeof(float)), *dir = malloc((size_t)n * sizeof(float));
    memcpy(w0, w, (size_t)n * sizeof(float));
    int bad = 0;
    for (int trial = 0; trial < 4; trial++) {
        double norm = 0, gd = 0;
        for (int64_t i = 0; i < n; i++) dir[i] = (float)rk_rng_normal(&r), norm += (double)dir[i] * dir[i];
        norm = sqrt(norm);
        for (int64_t i = 0; i < n; i++) dir[i] = (float)(dir[i] / norm), gd += (double)g[i] * dir[i];
        const double h = 2e-3;
        for (int64_t i = 0; i < n; i++) w[i] = w0[i] + (float)h * dir[i];
        double lp = loss_of(t, in, tg, B, T, aux);
        for (int64_t i = 0; i < n; i++) w[i] = w0[i] - (float)h * dir[i];
        double lm = loss_of(t, in, tg, B, T, aux);
        memcpy(w, w0, (size_t)n * sizeof(float));
        double fd = (lp - lm) / (2 * h);
        printf("%s fd trial %d: analytic %.6f numeric %.6f\n", what, trial, gd, fd);
        if (!(fabs(fd - gd) <= 2e-2 * fabs(gd) + 2e-3)) bad++;
    }
    ck_assert_msg(bad == 0, "%s: %d of 4 directional derivatives disagree", what, bad);
    free(w0); free(dir);
    rk_train_free(t);
}

START_TEST(grad_fd_dense) { fd_check(QWEN_CFG, 0.0f, "qwen2"); }
END_TEST
START_TEST(grad_fd_moe) { fd_check(DS_CFG, 0.0f, "deepseek_v3"); }
END_TEST
START_TEST(grad_fd_moe_aux) { fd_check(DS_CFG, 0.5f, "deepseek_v3+aux"); }
END_TEST

/* two half-batches accumulate to the gradient of the whole batch */
START_TEST(grad_accumulation) {
    rk_train *t = new_model(DS_CFG, 11);
    int32_t in[24], tg[24];
    for (int i = 0; i < 24; i++) in[i] = (i * 7 + 3) % 53, tg[i] = (i * 5 + 1) % 53;
    int64_t n;
    float *g = rk_train_grads(t, &n);
    rk_train_result r;
    rk_err err = {0};
    rk_train_zero_grad(t);
    ck_assert_int_eq(rk_train_step(t, in, tg, 2, 12, 1.0f / 24, 0.0f, &r, &err), 0);
    float *full = malloc((size_t)n * sizeof(float));
    memcpy(full, g, (size_t)n * sizeof(float));
    rk_train_zero_grad(t);
    ck_assert_int_eq(rk_train_step(t, in, tg, 1, 12, 1.0f / 24, 0.0f, &r, &err), 0);
    ck_assert_int_eq(rk_train_step(t, in + 12, tg + 12, 1, 12, 1.0f / 24, 0.0f, &r, &err), 0);
    double gmax = 0;
    for (int64_t i = 0; i < n; i++) gmax = fmax(gmax, fabs(full[i]));
    rk_assert_allclose(g, full, (size_t)n, 1e-5 * gmax, 1e-4);   /* the summation order over tokens differs */
    free(full);
    rk_train_free(t);
}
END_TEST

/* save in three dtypes; F32 reloads bit-identical; every one runs in the inference engine with the trainer's logits */
START_TEST(save_load) {
    rk_train *t = new_model(DS_CFG, 5);
    char *dir = rk_test_tmpdir("trainsave");
    int32_t in[10];
    for (int i = 0; i < 10; i++) in[i] = (i * 11) % 53;
    const int64_t V = 53;
    float *want = malloc(10 * V * sizeof(float)), *got = malloc(10 * V * sizeof(float));
    rk_train_result r;
    rk_err err = {0};
    ck_assert_int_eq(rk_train_eval(t, in, NULL, 1, 10, want, &r, &err), 0);
    const int dts[3] = { RK_DTYPE_F32, RK_DTYPE_BF16, RK_DTYPE_F8_E4M3 };
    const double tol[3] = { 1e-5, 5e-2, 4e-1 };   /* E4M3 keeps 3 mantissa bits */
    for (int k = 0; k < 3; k++) {
        char sub[2100];
        snprintf(sub, sizeof sub, "%s/m%d", dir, k);
        ck_assert_msg(rk_train_save(t, sub, dts[k], &err) == 0, "%s", err.msg);
        rk_model *m;
        ck_assert_msg(rk_model_load(&m, sub, &err) == 0, "dtype %d: %s", dts[k], err.msg);
        rk_kvcache *kv = rk_kvcache_new(m, 16, &err);
        ck_assert_int_eq(rk_model_forward(m, kv, in, 10, got, &err), 0);
        double e = rk_max_rel_err(got, want, (size_t)(10 * V));
        /* the saved file read back by the trainer (dequantized) runs like the inference engine on it */
        rk_train *back;
        ck_assert_msg(rk_train_load(&back, sub, &err) == 0, "%s", err.msg);
        float *again = malloc(10 * V * sizeof(float));
        ck_assert_int_eq(rk_train_eval(back, in, NULL, 1, 10, again, &r, &err), 0);
        double e_same = rk_max_rel_err(got, again, (size_t)(10 * V));
        printf("saved as dtype %d: inference vs original %.2e (rounding of the weights), vs trainer on the file %.2e\n",
               dts[k], e, e_same);
        ck_assert_msg(e <= tol[k] && e_same <= 1e-4, "dtype %d: %g %g", dts[k], e, e_same);
        free(again);
        rk_train_free(back);
        rk_kvcache_free(kv);
        rk_model_free(m);
        if (k == 0) {
            rk_train *u;
            ck_assert_msg(rk_train_load(&u, sub, &err) == 0, "%s", err.msg);
            int64_t n1, n2;
            float *a = rk_train_params(t, &n1), *b = rk_train_params(u, &n2);
            ck_assert_int_eq(n1, n2);
            ck_assert(!memcmp(a, b, (size_t)n1 * sizeof(float)));
            rk_train_free(u);
        }
    }
    rk_test_rmtree(dir);
    free(dir); free(want); free(got);
    rk_train_free(t);
}
END_TEST

START_TEST(bias_update) {
    rk_train *t = new_model(DS_CFG, 9);
    int32_t in[32], tg[32];
    for (int i = 0; i < 32; i++) in[i] = (i * 13) % 53, tg[i] = (i * 3) % 53;
    rk_train_result r;
    rk_err err = {0};
    ck_assert_int_eq(rk_train_step(t, in, tg, 2, 16, 1.0f / 32, 0.0f, &r, &err), 0);
    const uint64_t *cnt;
    int64_t E;
    ck_assert_int_eq(rk_train_load_counts(t, 0, &cnt, &E), RK_ENOTFOUND);   /* layer 0 is dense */
    ck_assert_int_eq(rk_train_load_counts(t, 1, &cnt, &E), 0);
    ck_assert_int_eq(E, 8);
    uint64_t c[8], tot = 0;
    for (int e = 0; e < 8; e++) c[e] = cnt[e], tot += cnt[e];
    ck_assert_int_eq(tot, 32 * 3);
    const rk_tparam *b = rk_train_find(t, "model.layers.1.mlp.gate.e_score_correction_bias");
    ck_assert_ptr_nonnull(b);
    ck_assert(!b->trainable && b->g == NULL);
    rk_train_bias_update(t, 0.01);
    for (int e = 0; e < 8; e++) {
        const double want = c[e] * 8 < tot ? 0.01 : c[e] * 8 > tot ? -0.01 : 0.0;
        ck_assert_msg(fabs(b->w[e] - want) < 1e-7, "expert %d load %llu: bias %g", e, (unsigned long long)c[e], b->w[e]);
    }
    ck_assert_int_eq(rk_train_load_counts(t, 1, &cnt, &E), 0);
    for (int e = 0; e < 8; e++) ck_assert_int_eq(cnt[e], 0);
    ck_assert_int_eq(rk_train_load_totals(t, 1, &cnt, &E), 0);
    for (int e = 0; e < 8; e++) ck_assert_int_eq(cnt[e], c[e]);
    rk_train_free(t);
}
END_TEST

START_TEST(errors) {
    rk_train *t = new_model(QWEN_CFG, 1);
    int32_t in[4] = { 1, 2, 61, 3 }, tg[4] = { 1, 2, 3, 4 };
    rk_train_result r;
    rk_err err = {0};
    ck_assert_int_eq(rk_train_step(t, in, tg, 1, 4, 1.0f, 0.0f, &r, &err), RK_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "vocabulary"));
    in[2] = 3, tg[3] = 99;
    ck_assert_int_eq(rk_train_step(t, in, tg, 1, 4, 1.0f, 0.0f, &r, &err), RK_EINVAL);
    ck_assert_int_eq(rk_train_step(t, in, tg, 0, 4, 1.0f, 0.0f, &r, &err), RK_EINVAL);
    int32_t *big = calloc(65, 4);
    ck_assert_int_eq(rk_train_eval(t, big, NULL, 1, 65, NULL, &r, &err), RK_EINVAL);   /* > max_position_embeddings */
    free(big);
    /* a checkpoint missing a tensor */
    char *dir = rk_test_tmpdir("trainbad");
    ck_assert_int_eq(rk_train_save(t, dir, RK_DTYPE_F32, &err), 0);
    rk_train_free(t);
    char cfg[2100];
    snprintf(cfg, sizeof cfg, "%s/config.json", dir);
    const char *deeper = "{\"model_type\":\"qwen2\",\"vocab_size\":61,\"hidden_size\":24,\"intermediate_size\":40,"
                         "\"num_hidden_layers\":3,\"num_attention_heads\":4,\"num_key_value_heads\":2,"
                         "\"max_position_embeddings\":64,\"tie_word_embeddings\":true}";
    rk_test_write_file(cfg, deeper, strlen(deeper));
    ck_assert_int_eq(rk_train_load(&t, dir, &err), RK_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(err.msg, "model.layers.2."));
    rk_test_rmtree(dir);
    free(dir);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("train");
    TCase *tf = tcase_create("forward");
    tcase_add_loop_test(tf, forward_matches_reference, 0, (int)(sizeof FIXTURES / sizeof FIXTURES[0]));
    tcase_set_timeout(tf, 60);
    suite_add_tcase(s, tf);
    TCase *tg = tcase_create("gradients");
    tcase_add_test(tg, grad_fd_dense);
    tcase_add_test(tg, grad_fd_moe);
    tcase_add_test(tg, grad_fd_moe_aux);
    tcase_add_test(tg, grad_accumulation);
    tcase_set_timeout(tg, 120);
    suite_add_tcase(s, tg);
    TCase *tm = tcase_create("misc");
    tcase_add_test(tm, save_load);
    tcase_add_test(tm, bias_update);
    tcase_add_test(tm, errors);
    tcase_set_timeout(tm, 60);
    suite_add_tcase(s, tm);
    return s;
}

int main(void) {
    const char *src = getenv("RK_SOURCE_DIR");
    snprintf(fixture_root, sizeof fixture_root, "%s/tests/reference/fixtures", src ? src : ".");
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? 1 : 0;
}
