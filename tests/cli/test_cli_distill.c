/* tests/cli/test_cli_distill.c — `r1kit distill` end to end with the built-in teacher (teacher/: DeepSeek-V3 MoE,
 * FP8) and a qwen2-tiny student on the repository's docs:
 *   - a short run lowers the held-out KLD to the teacher, logs ce/kd/kld/top1, writes an HF folder (bf16), a GGUF and
 *     curve.html; the HF folder and the GGUF give the same perplexity; verify --html of the student vs the teacher;
 *   - kill -9 during a run with on-policy batches, JSD and a teacher cache, then --resume: final weights
 *     byte-identical; a changed distillation setting is refused on resume;
 *   - the teacher cache: training from it matches nothing stale — a damaged cache, a cache of another text, a
 *     student whose tokenizer differs, a student config that disagrees with its checkpoint: each a clear error;
 *   - sequence-level data from --prompts. */
#define _GNU_SOURCE
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "tests/common/rk_test.h"

static char *g_dir;
static char g_train[1024], g_held[1024], g_teacher[1024];

static void setup_once(void) {
    if (g_dir) return;
    g_dir = rk_test_tmpdir("clidistill");
    const char *src = rk_test_source_dir();
    snprintf(g_train, sizeof g_train, "%s/corpus.txt", g_dir);
    snprintf(g_held, sizeof g_held, "%s/held.txt", g_dir);
    snprintf(g_teacher, sizeof g_teacher, "%s/teacher", src);
    char cmd[16384];
    /* small on purpose (about 1.4k training tokens, 43 windows of 32): the teacher runs on every window of it
     * (the cache) and on every training window, also under ASan where its weights are decoded per call */
    snprintf(cmd, sizeof cmd, "cat %s/docs/roadmap.md > %s && head -c 6000 %s/docs/gguf-layout.md > %s", src, g_train, src, g_held);
    ck_assert_int_eq(rk_test_run(cmd, NULL, 0, NULL, 0), 0);
}

#define RUN_OPTS "--teacher %s --student-config qwen2-tiny --text %s --heldout %s --batch 2 --seq 32 --lr 3e-3 " \
                 "--warmup 2 --eval-windows 6 --seed 3 --threads 2"

static uint8_t *file_bytes(const char *dir, const char *name, size_t *n) {
    char p[9000];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return rk_test_read_file(p, n);
}

static double json_num(const char *line, const char *key) {
    char k[64];
    snprintf(k, sizeof k, "\"%s\":", key);
    const char *p = strstr(line, k);
    return p ? strtod(p + strlen(k), NULL) : NAN;
}

START_TEST(distill_learns_and_exports) {
    setup_once();
    char out[1 << 16], err[16384], dir[4200];
    snprintf(dir, sizeof dir, "%s/run_a", g_dir);
    int rc = rk_test_r1kit(out, sizeof out, err, sizeof err, NULL,
                           "distill " RUN_OPTS " --steps 12 --eval-every 6 --ckpt-every 6 --out %s", g_teacher, g_train,
                           g_held, dir);
    ck_assert_msg(rc == 0, "distill failed (%d): %s", rc, err);
    size_t n;
    char *log = (char *)file_bytes(dir, "log.jsonl", &n);
    ck_assert_ptr_nonnull(log);
    log = realloc(log, n + 1);
    log[n] = 0;
    double k0 = NAN, k1 = NAN, top1 = NAN;
    int n_eval = 0, n_step = 0;
    for (char *l = strtok(log, "\n"); l; l = strtok(NULL, "\n")) {
        if (strstr(l, "\"event\":\"step\"")) {
            n_step++;
            ck_assert_msg(isfinite(json_num(l, "kd")) && isfinite(json_num(l, "ce")), "step line without kd/ce: %s", l);
        }
        if (!strstr(l, "\"event\":\"eval\"")) continue;
        const double k = json_num(l, "kld");
        ck_assert_msg(isfinite(k) && k > 0, "eval line without kld: %s", l);
        if (n_eval++ == 0) k0 = k;
        k1 = k, top1 = json_num(l, "top1");
    }
    free(log);
    printf("held-out KLD to the teacher %.4f -> %.4f, top-1 %.3f\n", k0, k1, top1);
    ck_assert_int_eq(n_eval, 2);
    ck_assert_int_ge(n_step, 2);
    ck_assert_msg(k1 < k0, "KLD did not drop: %.4f -> %.4f", k0, k1);
    ck_assert(top1 > 0 && top1 <= 1);
    /* exports: HF folder (bf16 + tokenizer), GGUF, curve page */
    char p[9000];
    const char *files[] = { "config.json", "model.safetensors", "tokenizer.json", "generation_config.json", "model.gguf", "curve.html" };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        ck_assert_msg(rk_file_exists(p), "missing %s", p);
    }
    /* equal perplexity from both formats */
    char o1[1 << 14], o2[1 << 14];
    rc = rk_test_r1kit(o1, sizeof o1, err, sizeof err, NULL, "perplexity %s --text %s --ctx 32 --chunks 4", dir, g_held);
    ck_assert_msg(rc == 0, "%s", err);
    rc = rk_test_r1kit(o2, sizeof o2, err, sizeof err, NULL, "perplexity %s/model.gguf --text %s --ctx 32 --chunks 4", dir, g_held);
    ck_assert_msg(rc == 0, "%s", err);
    const char *f1 = strstr(o1, "Final estimate"), *f2 = strstr(o2, "Final estimate");
    ck_assert_msg(f1 && f2, "%s\n%s", o1, o2);
    printf("HF: %.60s\nGGUF: %.60s\n", f1, f2);
    ck_assert_msg(!strncmp(f1, f2, strcspn(f1, "\n")), "perplexity differs between the HF folder and the GGUF");
    /* verify of the student against its teacher, with the HTML report (no per-layer error: other architecture) */
    rc = rk_test_r1kit(o1, sizeof o1, err, sizeof err, NULL, "verify %s %s/model.gguf --text %s --ctx 32 --chunks 4 --html %s/v.html",
                       g_teacher, dir, g_held, dir);
    ck_assert_msg(rc == 0 && strstr(o1, "Mean    KLD") && strstr(err, "per-layer error not measured"), "%d %s", rc, err);
    snprintf(p, sizeof p, "%s/v.html", dir);
    ck_assert(rk_file_exists(p));
}
END_TEST

START_TEST(resume_after_kill9_is_bit_identical) {
    setup_once();
    char err[16384], ref[4200], dir[4200], cmd[40000], opts[8192], cache[4200];
    snprintf(ref, sizeof ref, "%s/run_ref", g_dir);
    snprintf(dir, sizeof dir, "%s/run_kill", g_dir);
    snprintf(cache, sizeof cache, "%s/teacher.cache", g_dir);
    /* the cache first (no student: stops after writing it) */
    int rc = rk_test_r1kit(NULL, 0, err, sizeof err, NULL, "distill --teacher %s --text %s --heldout %s --seq 32 --top-k 16 --save-teacher %s",
                           g_teacher, g_train, g_held, cache);
    ck_assert_msg(rc == 0 && rk_file_exists(cache), "%s", err);
    snprintf(opts, sizeof opts, RUN_OPTS " --steps 12 --eval-every 0 --ckpt-every 4 --no-gguf --teacher-cache %s "
             "--on-policy 0.5 --loss jsd --beta 0.3", g_teacher, g_train, g_held, cache);
    rc = rk_test_r1kit(NULL, 0, err, sizeof err, NULL, "distill %s --out %s", opts, ref);
    ck_assert_msg(rc == 0, "%s", err);
    snprintf(cmd, sizeof cmd, "distill %s --out %s", opts, dir);
    rk_test_r1kit_kill_at_checkpoint(cmd, dir);
    rc = rk_test_r1kit(NULL, 0, err, sizeof err, NULL, "distill %s --out %s --resume", opts, dir);
    ck_assert_msg(rc == 0, "resume failed: %s", err);
    size_t n1, n2;
    uint8_t *a = file_bytes(ref, "model.safetensors", &n1), *b = file_bytes(dir, "model.safetensors", &n2);
    ck_assert_msg(a && b && n1 == n2 && !memcmp(a, b, n1), "resumed weights differ from the uninterrupted run");
    free(a), free(b);
    /* a changed distillation setting is refused on resume */
    rc = rk_test_r1kit(NULL, 0, err, sizeof err, NULL, "distill %s --out %s --resume --alpha 0.5", opts, dir);
    ck_assert_msg(rc == 2 && strstr(err, "hooks"), "%d %s", rc, err);
}
END_TEST

START_TEST(errors) {
    setup_once();
    char err[16384], dir[4200], cache[4200], bad[4200], p[9000];
    snprintf(dir, sizeof dir, "%s/run_err", g_dir);
    snprintf(cache, sizeof cache, "%s/teacher.cache", g_dir);
    if (!rk_file_exists(cache)) {
        int rc = rk_test_r1kit(NULL, 0, err, sizeof err, NULL, "distill --teacher %s --text %s --heldout %s --seq 32 --top-k 16 --save-teacher %s",
                               g_teacher, g_train, g_held, cache);
        ck_assert_msg(rc == 0, "%s", err);
    }
    /* a damaged cache: one byte flipped in the middle */
    snprintf(bad, sizeof bad, "%s/bad.cache", g_dir);
    size_t n;
    uint8_t *c = rk_test_read_file(cache, &n);
    ck_assert_ptr_nonnull(c);
    c[n / 2] ^= 0x40;
    rk_test_write_file(bad, c, n);
    free(c);
    int rc = rk_test_r1kit(NULL, 0, err, sizeof err, NULL, "distill " RUN_OPTS " --steps 4 --out %s --teacher-cache %s", g_teacher,
                           g_train, g_held, dir, bad);
    ck_assert_msg(rc == 3 && strstr(err, "bad.cache"), "damaged cache: %d %s", rc, err);
    /* a cache of another text */
    rc = rk_test_r1kit(NULL, 0, err, sizeof err, NULL, "distill --teacher %s --student-config qwen2-tiny --text %s --heldout %s "
                       "--batch 2 --seq 32 --steps 4 --out %s --teacher-cache %s", g_teacher, g_held, g_train, dir, cache);
    ck_assert_msg(rc != 0 && strstr(err, "another text"), "cache of another text: %d %s", rc, err);
    /* a student whose tokenizer differs: a model trained with another tokenizer */
    char tokdir[4200];
    snprintf(tokdir, sizeof tokdir, "%s/othertok", g_dir);
    rc = rk_test_r1kit(NULL, 0, err, sizeof err, NULL, "tokenizer train --text %s --vocab 300 -o %s", g_train, tokdir);
    ck_assert_msg(rc == 0, "%s", err);
    const char *cfg = "{\"model_type\":\"llama\",\"vocab_size\":4096,\"hidden_size\":32,\"intermediate_size\":64,"
                      "\"num_hidden_layers\":1,\"num_attention_heads\":1,\"num_key_value_heads\":1,\"max_position_embeddings\":64}";
    snprintf(p, sizeof p, "%s/config.json", tokdir);
    rk_test_write_file(p, cfg, strlen(cfg));
    rc = rk_test_r1kit(NULL, 0, err, sizeof err, NULL, "train --config %s --text %s --steps 1 --batch 1 --seq 16 --out %s/m --eval-every 0",
                       p, g_train, tokdir);
    ck_assert_msg(rc == 0, "%s", err);
    rc = rk_test_r1kit(NULL, 0, err, sizeof err, NULL, "distill --teacher %s --student %s/m --text %s --steps 2 --batch 1 --seq 16 --out %s",
                       g_teacher, tokdir, g_train, dir);
    ck_assert_msg(rc != 0 && strstr(err, "tokenizer"), "mismatched tokenizers: %d %s", rc, err);
    /* a student config that disagrees with its checkpoint */
    char sdir[4200];
    snprintf(sdir, sizeof sdir, "%s/run_a", g_dir);
    if (rk_file_exists(sdir)) {
        char wrong[4200];
        snprintf(wrong, sizeof wrong, "%s/wrong.json", g_dir);
        const char *w = "{\"model_type\":\"qwen2\",\"vocab_size\":4096,\"hidden_size\":96,\"intermediate_size\":192,"
                        "\"num_hidden_layers\":2,\"num_attention_heads\":3,\"num_key_value_heads\":1,\"head_dim\":32,"
                        "\"tie_word_embeddings\":true,\"max_position_embeddings\":4096}";
        rk_test_write_file(wrong, w, strlen(w));
        rc = rk_test_r1kit(NULL, 0, err, sizeof err, NULL, "distill --teacher %s --student %s --student-config %s --text %s --steps 2 "
                           "--batch 1 --seq 16 --out %s", g_teacher, sdir, wrong, g_train, dir);
        ck_assert_msg(rc != 0 && strstr(err, "hidden_size") && strstr(err, "wrong.json"), "config vs checkpoint: %d %s", rc, err);
    }
    /* a GGUF teacher: no tokenizer.json beside it for the export, unless --tokenizer gives the teacher's */
    char gdir[4200];
    snprintf(gdir, sizeof gdir, "%s/gguf", g_dir);
    snprintf(p, sizeof p, "mkdir -p %s", gdir);
    ck_assert_int_eq(rk_test_run(p, NULL, 0, NULL, 0), 0);
    rc = rk_test_r1kit(NULL, 0, err, sizeof err, NULL, "convert %s %s/teacher.gguf --outtype bf16", g_teacher, gdir);
    ck_assert_msg(rc == 0, "%s", err);
    rc = rk_test_r1kit(NULL, 0, err, sizeof err, NULL, "distill --teacher %s/teacher.gguf --student-config qwen2-tiny --text %s "
                       "--steps 2 --batch 1 --seq 16 --eval-every 0 --no-gguf --out %s/g1", gdir, g_train, gdir);
    ck_assert_msg(rc == 2 && strstr(err, "--tokenizer"), "GGUF teacher without tokenizer.json: %d %s", rc, err);
    rc = rk_test_r1kit(NULL, 0, err, sizeof err, NULL, "distill --teacher %s/teacher.gguf --tokenizer %s/tokenizer.json "
                       "--student-config qwen2-tiny --text %s --steps 1 --batch 1 --seq 16 --eval-every 0 --no-gguf --out %s/g2",
                       gdir, g_teacher, g_train, gdir);
    ck_assert_msg(rc == 0, "GGUF teacher with --tokenizer: %s", err);
    rc = rk_test_r1kit(NULL, 0, err, sizeof err, NULL, "distill --teacher %s/teacher.gguf --tokenizer %s/m --student-config qwen2-tiny "
                       "--text %s --steps 2 --batch 1 --seq 16 --out %s/g3", gdir, tokdir, g_train, gdir);
    ck_assert_msg(rc == 2 && strstr(err, "differs"), "a --tokenizer of another model: %d %s", rc, err);
    /* usage */
    rc = rk_test_r1kit(NULL, 0, err, sizeof err, NULL, "distill --teacher %s --text %s --out %s", g_teacher, g_train, dir);
    ck_assert_msg(rc == 2 && strstr(err, "--student"), "%d %s", rc, err);
    rc = rk_test_r1kit(NULL, 0, err, sizeof err, NULL, "distill " RUN_OPTS " --out %s --loss l2", g_teacher, g_train, g_held, dir);
    ck_assert_int_eq(rc, 2);
    rc = rk_test_r1kit(NULL, 0, err, sizeof err, NULL, "distill " RUN_OPTS " --out %s --alpha 1.5", g_teacher, g_train, g_held, dir);
    ck_assert_int_eq(rc, 2);
    rc = rk_test_r1kit(NULL, 0, err, sizeof err, NULL, "distill " RUN_OPTS " --out %s --teacher-cache %s --temperature 2", g_teacher,
                       g_train, g_held, dir, cache);
    ck_assert_msg(rc == 2 && strstr(err, "live teacher"), "%d %s", rc, err);
    rc = rk_test_r1kit(NULL, 0, err, sizeof err, NULL, "distill --teacher %s --student-config nosuch --text %s --out %s", g_teacher,
                       g_train, dir);
    ck_assert_msg(rc == 2 && strstr(err, "qwen2-small"), "%d %s", rc, err);
}
END_TEST

START_TEST(sequence_level_from_prompts) {
    setup_once();
    char err[16384], dir[4200], prompts[4200];
    snprintf(dir, sizeof dir, "%s/run_seq", g_dir);
    snprintf(prompts, sizeof prompts, "%s/prompts.txt", g_dir);
    const char *pr = "In the beginning\n\nAnd the LORD said\nBlessed are\n";
    rk_test_write_file(prompts, pr, strlen(pr));
    int rc = rk_test_r1kit(NULL, 0, err, sizeof err, NULL,
                           "distill --teacher %s --student-config llama-tiny --prompts %s --gen-tokens 48 --heldout %s "
                           "--batch 2 --seq 16 --steps 3 --eval-every 0 --alpha 1 --no-gguf --out %s",
                           g_teacher, prompts, g_held, dir);
    ck_assert_msg(rc == 0, "%s", err);
    size_t n;
    char *t = (char *)file_bytes(dir, "teacher-completions.txt", &n);
    ck_assert_ptr_nonnull(t);
    ck_assert_msg(n > 60 && memmem(t, n, "In the beginning", 16) && memmem(t, n, "Blessed are", 11), "%.*s", (int)n, t);
    free(t);
}
END_TEST

static Suite *make_suite(void) {
    Suite *s = suite_create("cli_distill");
    TCase *tc = tcase_create("distill");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, distill_learns_and_exports);
    tcase_add_test(tc, resume_after_kill9_is_bit_identical);
    tcase_add_test(tc, errors);
    tcase_add_test(tc, sequence_level_from_prompts);
    suite_add_tcase(s, tc);
    return s;
}

RK_TEST_MAIN_SHARED_DIR(g_dir)
