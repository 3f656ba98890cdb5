/* tests/formats/test_checkpoint.c — the uniform checkpoint view: folder/file detection, FP8 scale pairing
 * across shards, f32 reads (whole and by rows) bit-exact to fp8 * scale in f32, page release, and files read into
 * memory (rk_map_use_memory, --no-mmap): the same bytes, and release leaves them intact. */
#define _GNU_SOURCE
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "formats/checkpoint.h"
#include "formats/numeric.h"
#include "model/sample.h"
#include "tests/common/rk_test.h"

static char *make_sample(const char *tag, const char *arch, uint64_t shard, int scales_at_end) {
    char *dir = rk_test_tmpdir(tag);
    char *m = rk_path_join(dir, "m");
    rk_sample_opts o;
    rk_err err;
    ck_assert_int_eq(rk_sample_defaults(&o, arch, "tiny", &err), 0);
    o.shard_bytes = shard;
    o.scales_at_end = scales_at_end;
    ck_assert_msg(rk_sample_write(m, &o, &err) == 0, "%s", err.msg);
    free(dir);
    return m;
}

static void drop(char *m) {
    char *d = strdup(m);
    *strrchr(d, '/') = 0;
    rk_test_rmtree(d);
    free(d);
    free(m);
}

START_TEST(fp8_sharded) {
    char *m = make_sample("ck-fp8", "deepseek_v3", 1000000, 1);
    rk_ckpt *ck = NULL;
    rk_err err;
    ck_assert_msg(rk_ckpt_open(&ck, m, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(rk_ckpt_format_of(ck), RK_CKPT_SAFETENSORS);
    ck_assert_int_gt((int)rk_ckpt_file_count(ck), 2);
    int cross = 0, n_fp8 = 0;
    for (size_t i = 0; i < rk_ckpt_count(ck); i++) {
        const rk_ckpt_tensor *t = rk_ckpt_tensor_at(ck, i);
        if (t->dtype != RK_DTYPE_F8_E4M3) continue;
        n_fp8++;
        ck_assert_msg(t->scale >= 0, "%s has no scale_inv", t->name);
        const rk_ckpt_tensor *s = rk_ckpt_tensor_at(ck, (size_t)t->scale);
        ck_assert(s->is_scale);
        cross += s->file != t->file;
        /* reference: fp8 value times its block's scale, in f32 */
        float *got = malloc(t->numel * sizeof(float)), *scale = malloc(s->numel * sizeof(float));
        ck_assert_int_eq(rk_ckpt_read_f32(ck, s, scale, s->numel, &err), 0);
        ck_assert_int_eq(rk_ckpt_read_f32(ck, t, got, t->numel, &err), 0);
        int64_t r = t->shape[0], c = t->shape[1], sc = s->shape[1], bad = -1;
        for (int64_t a = 0; a < r && bad < 0; a++)   /* no ck_assert per element: each one is a syscall */
            for (int64_t b = 0; b < c; b++) {
                float want = rk_e4m3_to_f32(t->data[a * c + b]) * scale[(a / 128) * sc + b / 128];
                if (memcmp(&want, &got[a * c + b], 4) != 0) { bad = a * c + b; break; }
            }
        ck_assert_msg(bad < 0, "%s: element %lld differs from fp8 * scale", t->name, (long long)bad);
        /* rows in odd chunks equal the whole */
        float *rows = malloc(t->numel * sizeof(float));
        for (int64_t a = 0; a < r;) {
            int64_t k = a % 3 == 0 ? 1 : 37;
            if (k > r - a) k = r - a;
            ck_assert_int_eq(rk_ckpt_read_f32_rows(ck, t, a, k, rows + a * c, &err), 0);
            a += k;
        }
        ck_assert_int_eq(memcmp(rows, got, t->numel * sizeof(float)), 0);
        rk_ckpt_release(ck, t);
        ck_assert_int_eq(t->data[0], t->data[0]);   /* still readable after release */
        free(rows);
        free(got);
        free(scale);
    }
    ck_assert_int_gt(n_fp8, 20);
    ck_assert_msg(cross > 0, "no FP8 weight had its scale in another shard; adjust the shard size");
    /* an edge block: q_a_proj is 192 rows, so its scale has 2 block rows, the second partial */
    const rk_ckpt_tensor *qa = rk_ckpt_find(ck, "model.layers.0.self_attn.q_a_proj.weight");
    ck_assert_ptr_nonnull(qa);
    ck_assert_int_eq(qa->shape[0], 192);
    ck_assert_int_eq(rk_ckpt_tensor_at(ck, (size_t)qa->scale)->shape[0], 2);
    /* out-of-range rows and wrong counts are refused */
    float one;
    ck_assert_int_eq(rk_ckpt_read_f32_rows(ck, qa, 192, 1, &one, &err), RK_EINVAL);
    ck_assert_int_eq(rk_ckpt_read_f32(ck, qa, &one, 1, &err), RK_EINVAL);
    rk_ckpt_close(ck);
    drop(m);
}
END_TEST

/* rk_map_use_memory is one-way per process, so the in-memory side runs in a child: every tensor's bytes equal the
 * mapped file's (inherited from the parent), before and after rk_ckpt_release. */
START_TEST(read_into_memory) {
    char *m = make_sample("ck-mem", "deepseek_v3", 1000000, 1);
    rk_ckpt *ck = NULL;
    rk_err err;
    ck_assert_msg(rk_ckpt_open(&ck, m, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(rk_map_in_memory(), 0);
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        rk_map_use_memory();
        rk_ckpt *mem = NULL;
        if (!rk_map_in_memory() || rk_ckpt_open(&mem, m, &err) != 0 || rk_ckpt_count(mem) != rk_ckpt_count(ck)) _exit(1);
        for (size_t i = 0; i < rk_ckpt_count(ck); i++) {
            const rk_ckpt_tensor *a = rk_ckpt_tensor_at(ck, i), *b = rk_ckpt_tensor_at(mem, i);
            if (a->nbytes != b->nbytes || a->data == b->data || memcmp(a->data, b->data, a->nbytes) != 0) _exit(2);
            rk_ckpt_release(mem, b);
            if (memcmp(a->data, b->data, a->nbytes) != 0) _exit(3);   /* would be zeros had the pages been dropped */
        }
        rk_ckpt_close(mem);
        _exit(0);
    }
    int st = 0;
    ck_assert(waitpid(pid, &st, 0) == pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "in-memory checkpoint: child exit %d (1 open, 2 bytes differ, 3 "
                  "release dropped data)", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    rk_ckpt_close(ck);
    drop(m);
}
END_TEST

START_TEST(open_forms) {
    char *m = make_sample("ck-forms", "qwen2", 0, 0);
    rk_ckpt *ck = NULL;
    rk_err err;
    char *file = rk_path_join(m, "model.safetensors");
    ck_assert_msg(rk_ckpt_open(&ck, file, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(rk_ckpt_dir(ck), m);
    ck_assert_ptr_nonnull(rk_ckpt_find(ck, "model.layers.0.self_attn.q_proj.bias"));
    ck_assert_ptr_null(rk_ckpt_find(ck, "nope"));
    const rk_ckpt_tensor *e = rk_ckpt_find(ck, "model.embed_tokens.weight");
    ck_assert_int_eq(e->dtype, RK_DTYPE_BF16);
    float *x = malloc(e->numel * 4);
    ck_assert_int_eq(rk_ckpt_read_f32(ck, e, x, e->numel, &err), 0);
    const uint16_t *raw = (const uint16_t *)e->data;
    uint64_t nbad = 0;
    for (uint64_t i = 0; i < e->numel; i++) nbad += x[i] != rk_bf16_to_f32(raw[i]);
    ck_assert_uint_eq(nbad, 0);
    free(x);
    rk_ckpt_close(ck);
    ck_assert_msg(rk_ckpt_open(&ck, m, &err) == 0, "%s", err.msg);
    ck_assert_int_eq((int)rk_ckpt_file_count(ck), 1);
    rk_ckpt_close(ck);
    /* a folder with two loose checkpoints and no index is ambiguous */
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cp %s/model.safetensors %s/other.bin", m, m);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(rk_ckpt_open(&ck, m, &err), 0);   /* model.safetensors wins */
    rk_ckpt_close(ck);
    snprintf(cmd, sizeof cmd, "mv %s/model.safetensors %s/a.pt", m, m);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_ne(rk_ckpt_open(&ck, m, &err), 0);
    ck_assert_ptr_nonnull(strstr(err.msg, "name the one"));
    free(file);
    drop(m);
}
END_TEST

static Suite *make_suite(void) {
    Suite *s = suite_create("checkpoint");
    TCase *tc = tcase_create("checkpoint");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, fp8_sharded);
    tcase_add_test(tc, open_forms);
    tcase_add_test(tc, read_into_memory);
    suite_add_tcase(s, tc);
    return s;
}
RK_TEST_MAIN()
