/* tests/cli/test_cli_train.c — `r1kit train` end to end on a tiny DeepSeek-V3-architecture MoE, with a tokenizer
 * trained by `r1kit tokenizer train` on the repository's own docs (English prose):
 *   - a short run lowers the held-out loss (first evaluation vs last), writes an HF folder that `r1kit perplexity`
 *     loads, and reports expert loads in its JSON log;
 *   - kill -9 in the middle of a run, then --resume: the final weights are byte-identical to an uninterrupted run
 *     (same seed, same threads); the same after --stop-after;
 *   - two identical runs give identical weights (determinism);
 *   - errors: --resume with changed options, --resume without a checkpoint, a damaged checkpoint, usage errors. */
#define _GNU_SOURCE
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "tests/common/rk_test.h"

static char *g_dir;   /* tokenizer + config + corpus, made once */
static char g_train[1024], g_held[1024];

static const char CFG[] =
    "{\"model_type\":\"deepseek_v3\",\"vocab_size\":320,\"hidden_size\":48,\"intermediate_size\":96,"
    "\"moe_intermediate_size\":24,\"num_hidden_layers\":2,\"num_attention_heads\":2,\"num_key_value_heads\":2,"
    "\"n_shared_experts\":1,\"n_routed_experts\":8,\"routed_scaling_factor\":2.5,\"kv_lora_rank\":16,"
    "\"q_lora_rank\":24,\"qk_rope_head_dim\":8,\"v_head_dim\":12,\"qk_nope_head_dim\":12,\"topk_method\":\"noaux_tc\","
    "\"n_group\":4,\"topk_group\":2,\"num_experts_per_tok\":3,\"moe_layer_freq\":1,\"first_k_dense_replace\":1,"
    "\"norm_topk_prob\":true,\"scoring_func\":\"sigmoid\",\"max_position_embeddings\":512,\"rms_norm_eps\":1e-6,"
    "\"rope_theta\":10000,\"tie_word_embeddings\":false,\"bos_token_id\":0,\"eos_token_id\":1}";

static void setup_once(void) {
    if (g_dir) return;
    g_dir = rk_test_tmpdir("clitrain");
    const char *src = rk_test_source_dir();
    snprintf(g_train, sizeof g_train, "%s/corpus.txt", g_dir);
    snprintf(g_held, sizeof g_held, "%s/held.txt", g_dir);
    char cmd[16384];
    /* training text: README + docs; held out: the tokenizer sample's English part is too short, so one doc */
    snprintf(cmd, sizeof cmd, "cat %s/README.md %s/docs/roadmap.md %s/docs/gguf-layout.md %s/docs/fuzzing.md > %s && "
             "cat %s/docs/engine-parity.md > %s", src, src, src, src, g_train, src, g_held);
    ck_assert_int_eq(rk_test_run(cmd, NULL, 0, NULL, 0), 0);
    char err[4096];
    ck_assert_msg(rk_test_r1kit(NULL, 0, err, sizeof err, NULL, "tokenizer train --text %s --vocab 320 -o %s/tok", g_train,
                                g_dir) == 0, "%s", err);
    char p[9000];
    snprintf(p, sizeof p, "%s/tok/config.json", g_dir);
    rk_test_write_file(p, CFG, strlen(CFG));
}

/* common options of every run: 24 steps of 4 x 32 tokens */
#define RUN_OPTS "--config %s/tok/config.json --text %s --heldout %s --steps 24 --batch 4 --seq 32 --lr 3e-3 " \
                 "--warmup 4 --eval-windows 8 --seed 5 --aux-alpha 0.001 --threads 2"

static uint8_t *model_bytes(const char *dir, size_t *n) {
    char p[9000];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    return rk_test_read_file(p, n);
}

START_TEST(loss_drops_and_model_loads) {
    setup_once();
    char out[1 << 16], err[8192], dir[4200];
    snprintf(dir, sizeof dir, "%s/run_a", g_dir);
    int rc = rk_test_r1kit(out, sizeof out, err, sizeof err, NULL, "train " RUN_OPTS " --eval-every 8 --ckpt-every 8 --out %s",
                           g_dir, g_train, g_held, dir);
    ck_assert_msg(rc == 0, "train failed (%d): %s", rc, err);
    /* JSON lines on stdout (not a TTY): evaluations at steps 8, 16, 24 */
    double first = NAN, last = NAN;
    int n_eval = 0, has_load = 0;
    for (char *l = strtok(out, "\n"); l; l = strtok(NULL, "\n")) {
        if (!strstr(l, "\"event\":\"eval\"")) continue;
        const char *k = strstr(l, "\"heldout_loss\":");
        ck_assert_ptr_nonnull(k);
        double v = strtod(k + 15, NULL);
        if (n_eval++ == 0) first = v;
        last = v;
        has_load |= strstr(l, "\"expert_load\":{\"1\":[") != NULL;
    }
    printf("held-out loss %.4f -> %.4f over %d evaluations\n", first, last, n_eval);
    ck_assert_int_eq(n_eval, 3);
    ck_assert_msg(has_load, "no expert load in the eval log");
    ck_assert_msg(last < first - 0.05, "held-out loss did not drop: %.4f -> %.4f", first, last);
    ck_assert_msg(first < log(320.0), "first evaluation %.4f not below uniform", first);
    /* the result is an HF folder the engine runs */
    rc = rk_test_r1kit(out, sizeof out, err, sizeof err, NULL, "perplexity %s --text %s --ctx 32 --chunks 4", dir, g_held);
    ck_assert_msg(rc == 0 && strstr(out, "Final estimate"), "perplexity on the trained model failed: %s", err);
    /* the same run again: identical bytes (determinism) */
    char dir2[4200];
    snprintf(dir2, sizeof dir2, "%s/run_a2", g_dir);
    rc = rk_test_r1kit(NULL, 0, err, sizeof err, NULL, "train " RUN_OPTS " --eval-every 8 --ckpt-every 8 --out %s", g_dir,
                       g_train, g_held, dir2);
    ck_assert_int_eq(rc, 0);
    size_t n1, n2;
    uint8_t *a = model_bytes(dir, &n1), *b = model_bytes(dir2, &n2);
    ck_assert(a && b && n1 == n2 && !memcmp(a, b, n1));
    free(a), free(b);
}
END_TEST

START_TEST(resume_after_kill9_is_bit_identical) {
    setup_once();
    char err[8192], ref[4200], dir[4200], cmd[40000];
    snprintf(ref, sizeof ref, "%s/run_ref", g_dir);
    snprintf(dir, sizeof dir, "%s/run_kill", g_dir);
    int rc = rk_test_r1kit(NULL, 0, err, sizeof err, NULL, "train " RUN_OPTS " --eval-every 0 --ckpt-every 4 --out %s", g_dir,
                           g_train, g_held, ref);
    ck_assert_msg(rc == 0, "%s", err);
    /* start the same run, kill -9 it as soon as its first checkpoint exists */
    char opts[8192];
    snprintf(opts, sizeof opts, RUN_OPTS, g_dir, g_train, g_held);
    snprintf(cmd, sizeof cmd, "train %s --eval-every 0 --ckpt-every 4 --out %s", opts, dir);
    rk_test_r1kit_kill_at_checkpoint(cmd, dir);
    char p[9000];
    snprintf(p, sizeof p, "%s/checkpoints/latest", dir);
    size_t n;
    uint8_t *latest = rk_test_read_file(p, &n);
    ck_assert_msg(latest != NULL, "no checkpoint was written before the kill");
    printf("resuming from %.*s", (int)n, (char *)latest);
    free(latest);
    rc = rk_test_r1kit(NULL, 0, err, sizeof err, NULL, "train " RUN_OPTS " --eval-every 0 --ckpt-every 4 --out %s --resume",
                       g_dir, g_train, g_held, dir);
    ck_assert_msg(rc == 0, "resume failed: %s", err);
    size_t n1, n2;
    uint8_t *a = model_bytes(ref, &n1), *b = model_bytes(dir, &n2);
    ck_assert_msg(a && b && n1 == n2 && !memcmp(a, b, n1), "resumed weights differ from the uninterrupted run");
    free(a), free(b);
    /* --stop-after 10, then resume: also identical */
    snprintf(dir, sizeof dir, "%s/run_stop", g_dir);
    rc = rk_test_r1kit(NULL, 0, err, sizeof err, NULL, "train " RUN_OPTS " --eval-every 0 --ckpt-every 4 --out %s --stop-after 10",
                       g_dir, g_train, g_held, dir);
    ck_assert_msg(rc == 0 && strstr(err, "stopped at step 10"), "%s", err);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    ck_assert_msg(!rk_file_exists(p), "a stopped run must not write the final model");
    rc = rk_test_r1kit(NULL, 0, err, sizeof err, NULL, "train " RUN_OPTS " --eval-every 0 --ckpt-every 4 --out %s --resume",
                       g_dir, g_train, g_held, dir);
    ck_assert_msg(rc == 0, "%s", err);
    a = model_bytes(ref, &n1), b = model_bytes(dir, &n2);
    ck_assert_msg(a && b && n1 == n2 && !memcmp(a, b, n1), "weights after --stop-after + --resume differ");
    free(a), free(b);
}
END_TEST

START_TEST(resume_errors) {
    setup_once();
    char err[8192], dir[4200], p[9000];
    snprintf(dir, sizeof dir, "%s/run_err", g_dir);
    /* nothing to resume */
    int rc = rk_test_r1kit(NULL, 0, err, sizeof err, NULL, "train " RUN_OPTS " --out %s --resume", g_dir, g_train, g_held, dir);
    ck_assert_msg(rc != 0 && strstr(err, "no checkpoint"), "%d %s", rc, err);
    rc = rk_test_r1kit(NULL, 0, err, sizeof err, NULL, "train " RUN_OPTS " --out %s --stop-after 4 --ckpt-every 4", g_dir,
                       g_train, g_held, dir);
    ck_assert_msg(rc == 0, "%s", err);
    /* changed option */
    rc = rk_test_r1kit(NULL, 0, err, sizeof err, NULL, "train " RUN_OPTS " --out %s --resume --batch 2", g_dir, g_train,
                       g_held, dir);
    ck_assert_msg(rc == 2 && strstr(err, "--batch"), "%d %s", rc, err);
    /* damaged state */
    snprintf(p, sizeof p, "%s/checkpoints/ckpt-00000004/state.json", dir);
    rk_test_write_file(p, "{\"step\": ", 9);
    rc = rk_test_r1kit(NULL, 0, err, sizeof err, NULL, "train " RUN_OPTS " --out %s --resume", g_dir, g_train, g_held, dir);
    ck_assert_msg(rc == 3 && strstr(err, "state.json"), "%d %s", rc, err);
    /* usage */
    rc = rk_test_r1kit(NULL, 0, err, sizeof err, NULL, "train --text %s --out %s", g_train, dir);
    ck_assert_msg(rc == 2 && strstr(err, "--config"), "%d %s", rc, err);
    rc = rk_test_r1kit(NULL, 0, err, sizeof err, NULL, "train " RUN_OPTS " --out %s --lr -1", g_dir, g_train, g_held, dir);
    ck_assert_int_eq(rc, 2);
    rc = rk_test_r1kit(NULL, 0, err, sizeof err, NULL, "train " RUN_OPTS " --out %s --save-dtype int4", g_dir, g_train, g_held, dir);
    ck_assert_int_eq(rc, 2);
    /* a tokenizer bigger than the model's vocabulary */
    char cfg[9000];
    snprintf(cfg, sizeof cfg, "%s/small.json", g_dir);
    const char *small = "{\"model_type\":\"llama\",\"vocab_size\":100,\"hidden_size\":16,\"intermediate_size\":32,"
                        "\"num_hidden_layers\":1,\"num_attention_heads\":2,\"num_key_value_heads\":1,"
                        "\"max_position_embeddings\":64}";
    rk_test_write_file(cfg, small, strlen(small));
    rc = rk_test_r1kit(NULL, 0, err, sizeof err, NULL, "train --config %s --tokenizer %s/tok --text %s --out %s/x", cfg, g_dir,
                       g_train, g_dir);
    ck_assert_msg(rc == 2 && strstr(err, "vocab_size"), "%d %s", rc, err);
}
END_TEST

static Suite *make_suite(void) {
    Suite *s = suite_create("cli_train");
    TCase *tc = tcase_create("train");
    tcase_set_timeout(tc, 240);
    tcase_add_unchecked_fixture(tc, NULL, NULL);
    tcase_add_test(tc, loss_drops_and_model_loads);
    tcase_add_test(tc, resume_after_kill9_is_bit_identical);
    tcase_add_test(tc, resume_errors);
    suite_add_tcase(s, tc);
    return s;
}

RK_TEST_MAIN_SHARED_DIR(g_dir)
