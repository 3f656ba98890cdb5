/* tests/model/test_model.c — the engine (model/model.h) on random checkpoints written by rk_sample_write:
 * hostile checkpoints fail to load with a message naming the tensor; incremental (token by token, and chunked)
 * decoding reproduces the full-sequence logits for every architecture; MoE routing statistics add up; the
 * activation observer sees every routed token. */
#define _GNU_SOURCE
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "tests/common/rk_test.h"
#include "model/model.h"
#include "model/sample.h"

/* ---- helpers ------------------------------------------------------------------------------------------------- */
static char *write_sample(const char *tag, const char *arch, int dtype, int q_lora_zero, int tie) {
    rk_sample_opts o;
    rk_err err = {0};
    ck_assert_int_eq(rk_sample_defaults(&o, arch, "tiny", &err), 0);
    if (dtype >= 0) o.weight_dtype = dtype;
    if (q_lora_zero) o.q_lora = 0;
    o.tie_embeddings = tie;
    char *dir = rk_test_tmpdir(tag);
    int rc = rk_sample_write(dir, &o, &err);
    ck_assert_msg(rc == 0, "sample: %s", err.msg);
    return dir;
}

/* replace the first occurrence of `from` in <dir>/<file> by `to` (same length unless the file is JSON text) */
static void edit_file(const char *dir, const char *file, const char *from, const char *to, const char *after) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    size_t n;
    uint8_t *b = rk_test_read_file(path, &n);
    ck_assert_ptr_nonnull(b);
    size_t start = 0;
    if (after) {
        uint8_t *p = memmem(b, n, after, strlen(after));
        ck_assert_msg(p != NULL, "'%s' not in %s", after, file);
        start = (size_t)(p - b);
    }
    uint8_t *p = memmem(b + start, n - start, from, strlen(from));
    ck_assert_msg(p != NULL, "'%s' not in %s", from, file);
    size_t off = (size_t)(p - b), fl = strlen(from), tl = strlen(to);
    uint8_t *o = malloc(n - fl + tl);
    memcpy(o, b, off);
    memcpy(o + off, to, tl);
    memcpy(o + off + tl, b + off + fl, n - off - fl);
    rk_test_write_file(path, o, n - fl + tl);
    free(o);
    free(b);
}

static int load_fails(const char *dir, int want_code, const char *s1, const char *s2) {
    rk_model *m = NULL;
    rk_err err = {0};
    int rc = rk_model_load(&m, dir, &err);
    ck_assert_msg(rc != 0, "load of %s succeeded", dir);
    ck_assert_ptr_null(m);
    if (want_code) ck_assert_msg(rc == want_code, "code %d (%s), want %d: %s", rc, rk_err_code_name(rc), want_code, err.msg);
    ck_assert_msg(!s1 || strstr(err.msg, s1), "message '%s' lacks '%s'", err.msg, s1);
    ck_assert_msg(!s2 || strstr(err.msg, s2), "message '%s' lacks '%s'", err.msg, s2);
    return rc;
}

static rk_model *load_ok(const char *dir) {
    rk_model *m = NULL;
    rk_err err = {0};
    int rc = rk_model_load(&m, dir, &err);
    ck_assert_msg(rc == 0, "load %s: %s", dir, err.msg);
    return m;
}

static void fill_tokens(int32_t *t, int64_t n, int64_t vocab, uint32_t seed) {
    uint32_t s = seed * 2654435761u + 1;
    for (int64_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        t[i] = (int32_t)((s >> 8) % (uint32_t)vocab);
    }
}

/* full-sequence logits vs token-by-token and vs uneven chunks, all within 1e-5 relative */
static void check_incremental(const char *dir, int64_t T) {
    rk_model *m = load_ok(dir);
    rk_err err = {0};
    int64_t V = rk_model_vocab(m);
    int32_t *tok = malloc((size_t)T * sizeof *tok);
    float *full = malloc((size_t)(T * V) * sizeof(float)), *inc = malloc((size_t)(T * V) * sizeof(float));
    fill_tokens(tok, T, V, (uint32_t)T);
    rk_kvcache *kv = rk_kvcache_new(m, T + 4, &err);
    ck_assert_msg(kv != NULL, "%s", err.msg);
    ck_assert_msg(rk_model_forward(m, kv, tok, T, full, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(rk_kvcache_len(kv), T);
    double mx = 0;
    for (int64_t i = 0; i < T * V; i++) {
        ck_assert_msg(isfinite(full[i]), "logit %lld not finite", (long long)i);
        mx = fabs(full[i]) > mx ? fabs(full[i]) : mx;
    }
    ck_assert_msg(mx > 1e-6, "logits are all zero");
    /* token by token */
    rk_kvcache_clear(kv);
    for (int64_t t = 0; t < T; t++)
        ck_assert_msg(rk_model_forward(m, kv, tok + t, 1, inc + t * V, &err) == 0, "%s", err.msg);
    double e = rk_max_rel_err(inc, full, (size_t)(T * V));
    ck_assert_msg(e <= 1e-5, "%s: token-by-token rel err %g", dir, e);
    /* uneven chunks: 1, 2, 3, ... */
    rk_kvcache_clear(kv);
    for (int64_t t = 0, c = 1; t < T; t += c, c++) {
        int64_t k = t + c <= T ? c : T - t;
        ck_assert_msg(rk_model_forward(m, kv, tok + t, k, inc + t * V, &err) == 0, "%s", err.msg);
    }
    e = rk_max_rel_err(inc, full, (size_t)(T * V));
    ck_assert_msg(e <= 1e-5, "%s: chunked rel err %g", dir, e);
    /* last-only */
    rk_kvcache_clear(kv);
    ck_assert_int_eq(rk_model_forward_last(m, kv, tok, T, inc, &err), 0);
    e = rk_max_rel_err(inc, full + (T - 1) * V, (size_t)V);
    ck_assert_msg(e <= 1e-5, "%s: forward_last rel err %g", dir, e);
    /* truncate and re-run the tail */
    ck_assert_int_eq(rk_kvcache_truncate(kv, T / 2, &err), 0);
    ck_assert_int_eq(rk_model_forward(m, kv, tok + T / 2, T - T / 2, inc, &err), 0);
    e = rk_max_rel_err(inc, full + (T / 2) * V, (size_t)((T - T / 2) * V));
    ck_assert_msg(e <= 1e-5, "%s: truncate+rerun rel err %g", dir, e);
    rk_kvcache_free(kv);
    rk_model_free(m);
    free(tok), free(full), free(inc);
}

/* ---- load errors ---------------------------------------------------------------------------------------------- */
START_TEST(load_ok_all) {
    const char *arch[] = {"deepseek_v3", "qwen2", "llama"};
    for (int i = 0; i < 3; i++) {
        char *dir = write_sample("model_ok", arch[i], -1, 0, 0);
        rk_model *m = load_ok(dir);
        ck_assert_int_eq(rk_model_vocab(m), rk_model_config(m)->vocab_size);
        ck_assert_int_eq(rk_model_layers(m), 3);
        ck_assert_ptr_nonnull(rk_model_ckpt(m));
        if (i == 0) {
            ck_assert_str_eq(rk_model_arch_name(m), "deepseek2");
            ck_assert_msg(strstr(rk_model_notes(m), "multi-token prediction") != NULL, "notes: %s", rk_model_notes(m));
        } else {
            ck_assert_str_eq(rk_model_notes(m), "");
        }
        rk_model_free(m);
        /* a safetensors file path works too (config.json beside it) */
        char p[1024];
        snprintf(p, sizeof p, "%s/model.safetensors", dir);
        m = load_ok(p);
        rk_model_free(m);
        rk_test_rmtree(dir);
        free(dir);
    }
    rk_model_free(NULL);
    rk_kvcache_free(NULL);
}
END_TEST

START_TEST(load_shape_mismatch) {
    char *dir = write_sample("model_shape", "qwen2", -1, 0, 0);
    edit_file(dir, "config.json", "\"intermediate_size\":\t512", "\"intermediate_size\":\t640", NULL);
    load_fails(dir, RK_ECORRUPT, "model.layers.0.mlp.gate_proj.weight", "[512, 256], the config implies [640, 256]");
    rk_test_rmtree(dir);
    free(dir);
    /* deepseek: kv_lora_rank changes kv_a's rows */
    dir = write_sample("model_shape_ds", "deepseek_v3", -1, 0, 0);
    edit_file(dir, "config.json", "\"kv_lora_rank\":\t128", "\"kv_lora_rank\":\t96", NULL);
    load_fails(dir, RK_ECORRUPT, "model.layers.0.self_attn.kv_a_proj_with_mqa.weight", "the config implies [112, 256]");
    rk_test_rmtree(dir);
    free(dir);
    /* the expert width */
    dir = write_sample("model_shape_ds2", "deepseek_v3", RK_DTYPE_BF16, 0, 0);
    edit_file(dir, "config.json", "\"moe_intermediate_size\":\t128", "\"moe_intermediate_size\":\t64", NULL);
    load_fails(dir, RK_ECORRUPT, "model.layers.1.mlp.experts.0.gate_proj.weight", "[128, 256]");
    rk_test_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(load_missing_tensor) {
    char *dir = write_sample("model_missing", "llama", -1, 0, 1);
    edit_file(dir, "config.json", "\"tie_word_embeddings\":\ttrue", "\"tie_word_embeddings\":\tfalse", NULL);
    load_fails(dir, RK_ENOTFOUND, "missing tensor 'lm_head.weight'", NULL);
    rk_test_rmtree(dir);
    free(dir);
    dir = write_sample("model_missing2", "qwen2", -1, 0, 0);
    edit_file(dir, "config.json", "\"num_hidden_layers\":\t3", "\"num_hidden_layers\":\t4", NULL);
    load_fails(dir, RK_ENOTFOUND, "missing tensor 'model.layers.3.", NULL);
    rk_test_rmtree(dir);
    free(dir);
    /* a renamed tensor (same-length name in the safetensors header) */
    dir = write_sample("model_missing3", "deepseek_v3", -1, 0, 0);
    edit_file(dir, "model.safetensors", "model.layers.1.mlp.experts.3.up_proj.weight\"",
              "model.layers.1.mlp.experts.3.up_xxxx.weight\"", NULL);
    load_fails(dir, RK_ENOTFOUND, "missing tensor 'model.layers.1.mlp.experts.3.up_proj.weight'", NULL);
    rk_test_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(load_vocab_too_large) {
    const char *arch[] = {"deepseek_v3", "qwen2", "llama"};
    for (int i = 0; i < 3; i++) {
        char *dir = write_sample("model_vocab", arch[i], -1, 0, i == 1);
        char path[1024];
        snprintf(path, sizeof path, "%s/config.json", dir);
        size_t n;
        char *cfg = (char *)rk_test_read_file(path, &n);
        char *p = strstr(cfg, "\"vocab_size\":");
        ck_assert_ptr_nonnull(p);
        long v = strtol(p + strlen("\"vocab_size\":"), NULL, 10);
        char from[64], to[64];
        snprintf(from, sizeof from, "\"vocab_size\":\t%ld", v);
        snprintf(to, sizeof to, "\"vocab_size\":\t%ld", v + 7);
        free(cfg);
        edit_file(dir, "config.json", from, to, NULL);
        load_fails(dir, RK_ECORRUPT, "vocab_size", "larger than the embedding 'model.embed_tokens.weight'");
        rk_test_rmtree(dir);
        free(dir);
    }
}
END_TEST

START_TEST(load_bad_dtype) {
    /* a BF16 weight relabelled I16 (same size): the engine refuses it by name */
    char *dir = write_sample("model_dtype", "qwen2", -1, 0, 0);
    edit_file(dir, "model.safetensors", "\"BF16\"", "\"I16\"\x20", "model.layers.2.self_attn.o_proj.weight");
    load_fails(dir, RK_EUNSUPPORTED, "model.layers.2.self_attn.o_proj.weight", "dtype I16");
    rk_test_rmtree(dir);
    free(dir);
    /* a norm relabelled U16 */
    dir = write_sample("model_dtype2", "llama", -1, 0, 0);
    edit_file(dir, "model.safetensors", "\"BF16\"", "\"U16\"\x20", "model.layers.1.post_attention_layernorm.weight");
    load_fails(dir, RK_EUNSUPPORTED, "model.layers.1.post_attention_layernorm.weight", "U16");
    rk_test_rmtree(dir);
    free(dir);
    /* a dtype name nobody knows: the checkpoint reader already refuses the file */
    dir = write_sample("model_dtype3", "llama", -1, 0, 0);
    edit_file(dir, "model.safetensors", "\"BF16\"", "\"XF16\"", "model.layers.0.mlp.up_proj.weight");
    load_fails(dir, 0, "XF16", NULL);
    rk_test_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(load_not_a_model) {
    rk_model *m = NULL;
    rk_err err = {0};
    ck_assert_int_ne(rk_model_load(&m, "/nonexistent/r1kit-model", &err), 0);
    ck_assert_ptr_null(m);
    ck_assert_msg(strstr(err.msg, "/nonexistent/r1kit-model") != NULL, "%s", err.msg);
    /* model_type nobody supports */
    char *dir = write_sample("model_type", "llama", -1, 0, 0);
    edit_file(dir, "config.json", "\"model_type\":\t\"llama\"", "\"model_type\":\t\"gpt2\"", NULL);
    load_fails(dir, 0, "gpt2", NULL);
    rk_test_rmtree(dir);
    free(dir);
    /* rope scaling the engine does not run */
    dir = write_sample("model_rope", "llama", -1, 0, 0);
    edit_file(dir, "config.json", "\"llama3\"", "\"dynamic\"", NULL);
    load_fails(dir, RK_EUNSUPPORTED, "dynamic", NULL);
    rk_test_rmtree(dir);
    free(dir);
}
END_TEST

/* ---- forward --------------------------------------------------------------------------------------------------- */
START_TEST(incremental_deepseek_fp8) {
    char *dir = write_sample("model_inc_ds", "deepseek_v3", -1, 0, 0);
    check_incremental(dir, 13);
    rk_test_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(incremental_deepseek_bf16_no_qlora) {
    char *dir = write_sample("model_inc_ds2", "deepseek_v3", RK_DTYPE_BF16, 1, 1);
    check_incremental(dir, 11);
    rk_test_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(incremental_qwen2) {
    char *dir = write_sample("model_inc_qw", "qwen2", -1, 0, 1);
    check_incremental(dir, 13);
    rk_test_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(incremental_llama) {
    char *dir = write_sample("model_inc_ll", "llama", RK_DTYPE_F16, 0, 0);
    check_incremental(dir, 13);
    rk_test_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(long_prompt_chunks) {
    /* more tokens than one internal chunk: the same as feeding them in pieces */
    char *dir = write_sample("model_long", "llama", RK_DTYPE_F32, 0, 0);
    check_incremental(dir, 300);
    rk_test_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(sharded_scales_elsewhere) {
    /* R1's release layout: shards, with weight_scale_inv tensors in other shards than their weights */
    rk_sample_opts o;
    rk_err err = {0};
    ck_assert_int_eq(rk_sample_defaults(&o, "deepseek_v3", "tiny", &err), 0);
    char *one = rk_test_tmpdir("model_one"), *many = rk_test_tmpdir("model_many");
    ck_assert_int_eq(rk_sample_write(one, &o, &err), 0);
    o.shard_bytes = 1 << 20;
    o.scales_at_end = 1;
    ck_assert_msg(rk_sample_write(many, &o, &err) == 0, "%s", err.msg);
    rk_model *a = load_ok(one), *b = load_ok(many);
    int64_t V = rk_model_vocab(a), T = 7;
    int32_t tok[7];
    fill_tokens(tok, T, V, 11);
    float *la = malloc((size_t)(T * V) * sizeof(float)), *lb = malloc((size_t)(T * V) * sizeof(float));
    rk_kvcache *ka = rk_kvcache_new(a, T, &err), *kb = rk_kvcache_new(b, T, &err);
    ck_assert_int_eq(rk_model_forward(a, ka, tok, T, la, &err), 0);
    ck_assert_int_eq(rk_model_forward(b, kb, tok, T, lb, &err), 0);
    ck_assert_msg(memcmp(la, lb, (size_t)(T * V) * sizeof(float)) == 0, "sharded logits differ");
    rk_kvcache_free(ka), rk_kvcache_free(kb);
    rk_model_free(a), rk_model_free(b);
    free(la), free(lb);
    rk_test_rmtree(one), rk_test_rmtree(many);
    free(one), free(many);
}
END_TEST

START_TEST(forward_errors) {
    char *dir = write_sample("model_fwd_err", "qwen2", -1, 0, 0);
    rk_model *m = load_ok(dir), *m2 = load_ok(dir);
    rk_err err = {0};
    int64_t V = rk_model_vocab(m);
    float *lg = malloc((size_t)(8 * V) * sizeof(float));
    rk_kvcache *kv = rk_kvcache_new(m, 4, &err);
    ck_assert_ptr_nonnull(kv);
    ck_assert_uint_eq(rk_kvcache_bytes_per_token(m), 4ull * 3 * 2 * (64 + 64));   /* 3 layers, 2 kv heads of 64 */
    ck_assert_int_eq(rk_kvcache_capacity(kv), 4);
    ck_assert_ptr_null(rk_kvcache_new(m, 0, &err));
    ck_assert_int_eq(err.code, RK_EINVAL);
    int32_t bad[2] = {1, (int32_t)V};
    ck_assert_int_eq(rk_model_forward(m, kv, bad, 2, lg, &err), RK_EINVAL);
    ck_assert_msg(strstr(err.msg, "outside the vocabulary") != NULL, "%s", err.msg);
    bad[1] = -3;
    ck_assert_int_eq(rk_model_forward(m, kv, bad, 2, lg, &err), RK_EINVAL);
    ck_assert_int_eq(rk_kvcache_len(kv), 0);
    int32_t ok[5] = {1, 2, 3, 4, 5};
    ck_assert_int_eq(rk_model_forward(m, kv, ok, 5, lg, &err), RK_EINVAL);   /* cache of 4 */
    ck_assert_msg(strstr(err.msg, "KV cache") != NULL, "%s", err.msg);
    ck_assert_int_eq(rk_model_forward(m, kv, ok, 0, lg, &err), RK_EINVAL);
    ck_assert_int_eq(rk_model_forward(m2, kv, ok, 1, lg, &err), RK_EINVAL);   /* other model's cache */
    ck_assert_int_eq(rk_model_forward(m, kv, ok, 4, NULL, &err), 0);           /* no logits */
    ck_assert_int_eq(rk_kvcache_len(kv), 4);
    ck_assert_int_eq(rk_model_forward(m, kv, ok, 1, lg, &err), RK_EINVAL);     /* full */
    ck_assert_int_eq(rk_kvcache_truncate(kv, 5, &err), RK_EINVAL);
    ck_assert_int_eq(rk_kvcache_truncate(kv, 3, &err), 0);
    ck_assert_int_eq(rk_model_forward(m, kv, ok, 1, lg, &err), 0);
    rk_routing r;
    ck_assert_int_eq(rk_model_routing(m, 0, &r), RK_ENOTFOUND);   /* dense model */
    rk_kvcache_free(kv);
    rk_model_free(m);
    rk_model_free(m2);
    free(lg);
    rk_test_rmtree(dir);
    free(dir);
}
END_TEST

/* ---- routing + observer ---------------------------------------------------------------------------------------- */
typedef struct obs_ctx { int64_t expert_rows[8][64]; int64_t calls, head_rows; } obs_ctx;

static void observer(void *ctx, const char *name, int64_t layer, int64_t expert, const float *x, int64_t n, int64_t cols) {
    obs_ctx *o = ctx;
    o->calls++;
    ck_assert_int_gt(n, 0);
    ck_assert_int_gt(cols, 0);
    ck_assert(isfinite(x[0]) && isfinite(x[n * cols - 1]));
    if (expert >= 0 && strstr(name, "gate_proj") && layer < 8 && expert < 64) {
        char want[128];
        snprintf(want, sizeof want, "model.layers.%lld.mlp.experts.%lld.gate_proj.weight", (long long)layer,
                 (long long)expert);
        ck_assert_str_eq(name, want);
        o->expert_rows[layer][expert] += n;
    }
    if (!strcmp(name, "lm_head.weight")) o->head_rows += n;
}

START_TEST(routing_counts) {
    char *dir = write_sample("model_route", "deepseek_v3", -1, 0, 0);
    rk_model *m = load_ok(dir);
    const rk_hf_config *c = rk_model_config(m);
    rk_err err = {0};
    int64_t V = rk_model_vocab(m), T = 17;
    int32_t tok[17];
    fill_tokens(tok, T, V, 7);
    float *lg = malloc((size_t)(T * V) * sizeof(float));
    rk_kvcache *kv = rk_kvcache_new(m, 64, &err);
    obs_ctx o;
    memset(&o, 0, sizeof o);
    rk_model_set_observer(m, observer, &o);
    ck_assert_int_eq(rk_model_forward(m, kv, tok, T, lg, &err), 0);
    ck_assert_int_eq(rk_model_forward(m, kv, tok, 5, lg, &err), 0);
    int n_moe = 0;
    for (int64_t il = 0; il < rk_model_layers(m); il++) {
        rk_routing r;
        int rc = rk_model_routing(m, il, &r);
        if (il < c->first_k_dense_replace) {
            ck_assert_int_eq(rc, RK_ENOTFOUND);
            continue;
        }
        ck_assert_int_eq(rc, 0);
        n_moe++;
        ck_assert_int_eq(r.layer, il);
        ck_assert_int_eq(r.n_experts, c->n_routed_experts);
        ck_assert_int_eq(r.top_k, c->num_experts_per_tok);
        ck_assert_uint_eq(r.tokens, (uint64_t)(T + 5));
        uint64_t sum = 0;
        double ws = 0;
        for (int64_t e = 0; e < r.n_experts; e++) {
            sum += r.count[e];
            ws += r.weight_sum[e];
            ck_assert_int_eq(o.expert_rows[il][e], (int64_t)r.count[e]);   /* observer saw exactly the routed rows */
        }
        ck_assert_uint_eq(sum, (uint64_t)(T + 5) * (uint64_t)c->num_experts_per_tok);
        /* sigmoid + norm_topk_prob: each token's weights sum to routed_scaling_factor */
        ck_assert_msg(fabs(ws - (T + 5) * c->routed_scaling_factor) < 1e-3, "weight sum %g", ws);
    }
    ck_assert_int_eq(n_moe, rk_model_layers(m) - c->first_k_dense_replace);
    ck_assert_int_eq(o.head_rows, T + 5);
    ck_assert_int_gt(o.calls, 0);
    rk_model_routing_reset(m);
    for (int64_t il = c->first_k_dense_replace; il < rk_model_layers(m); il++) {
        rk_routing r;
        ck_assert_int_eq(rk_model_routing(m, il, &r), 0);
        ck_assert_uint_eq(r.tokens, 0);
        for (int64_t e = 0; e < r.n_experts; e++) ck_assert_uint_eq(r.count[e], 0);
    }
    ck_assert_int_eq(rk_model_routing(m, -1, &(rk_routing){0}), RK_ENOTFOUND);
    ck_assert_int_eq(rk_model_routing(m, 99, &(rk_routing){0}), RK_ENOTFOUND);
    rk_kvcache_free(kv);
    rk_model_free(m);
    free(lg);
    rk_test_rmtree(dir);
    free(dir);
}
END_TEST

/* ---- GGUF (r1kit convert output) runs like its source folder ------------------------------------------------------ */
static char *convert_gguf(const char *dir, const char *outtype) {
    char *out = malloc(strlen(dir) + 32), cmd[4096], er[2048];
    sprintf(out, "%s/model-%s.gguf", dir, outtype);
    snprintf(cmd, sizeof cmd, "'%s' convert '%s' '%s' --outtype %s --quiet", rk_test_bin(), dir, out, outtype);
    int rc = rk_test_run(cmd, NULL, 0, er, sizeof er);
    ck_assert_msg(rc == 0, "%s: exit %d: %s", cmd, rc, er);
    return out;
}

static void check_gguf_vs_hf(const char *arch, int tie) {
    char *dir = write_sample("model_gguf", arch, -1, 0, tie);
    char *gg = convert_gguf(dir, "f32");
    rk_model *a = load_ok(dir), *b = load_ok(gg);
    rk_err err = {0};
    int64_t V = rk_model_vocab(a), T = 11;
    ck_assert_int_eq(rk_model_vocab(b), V);
    ck_assert_int_eq(rk_model_layers(b), rk_model_layers(a));
    int32_t tok[11];
    fill_tokens(tok, T, V, 3);
    float *la = malloc((size_t)(T * V) * sizeof(float)), *lb = malloc((size_t)(T * V) * sizeof(float));
    rk_kvcache *ka = rk_kvcache_new(a, T, &err), *kb = rk_kvcache_new(b, T, &err);
    ck_assert_int_eq(rk_model_forward(a, ka, tok, T, la, &err), 0);
    ck_assert_msg(rk_model_forward(b, kb, tok, T, lb, &err) == 0, "%s", err.msg);
    double e = rk_max_rel_err(lb, la, (size_t)(T * V));
    printf("gguf %-12s vs HF folder: max rel err %.3g\n", arch, e);
    fflush(stdout);
    ck_assert_msg(e <= 1e-4, "%s: GGUF vs HF rel err %g", arch, e);
    rk_kvcache_free(ka), rk_kvcache_free(kb);
    rk_model_free(a), rk_model_free(b);
    check_incremental(gg, 9);
    free(gg);
    /* block types are refused by name until the kernels run them */
    gg = convert_gguf(dir, "q8_0");
    rk_model *q = NULL;
    int rc = rk_model_load(&q, gg, &err);
    if (rc) ck_assert_msg(rc == RK_EUNSUPPORTED && strstr(err.msg, "Q8_0"), "%s", err.msg);
    rk_model_free(q);
    free(gg);
    free(la), free(lb);
    rk_test_rmtree(dir);
    free(dir);
}

START_TEST(gguf_deepseek) { check_gguf_vs_hf("deepseek_v3", 0); }
END_TEST

START_TEST(gguf_hostile) {
    char *dir = write_sample("model_gguf_bad", "deepseek_v3", -1, 0, 0);
    char *gg = convert_gguf(dir, "f32");
    const char *base = strrchr(gg, '/') + 1;
    size_t n;
    uint8_t *orig = rk_test_read_file(gg, &n);
    /* a renamed stacked-expert tensor */
    edit_file(dir, base, "blk.1.ffn_up_exps.weight", "blk.1.ffn_up_exps.weighX", NULL);
    load_fails(gg, RK_ENOTFOUND, "blk.1.ffn_up_exps.weight", NULL);
    /* an architecture nobody runs */
    rk_test_write_file(gg, orig, n);
    edit_file(dir, base, "deepseek2", "deepseek9", NULL);
    load_fails(gg, RK_EUNSUPPORTED, "deepseek9", NULL);
    /* a key with an impossible value: rope dims larger than the key length */
    rk_test_write_file(gg, orig, n);
    edit_file(dir, base, "deepseek2.attention.key_length_mla", "deepseek2.attention.key_length_mlX", NULL);
    load_fails(gg, 0, NULL, NULL);
    free(orig);
    free(gg);
    rk_test_rmtree(dir);
    free(dir);
}
END_TEST
START_TEST(gguf_qwen2) { check_gguf_vs_hf("qwen2", 1); }
END_TEST
START_TEST(gguf_llama) { check_gguf_vs_hf("llama", 0); }
END_TEST

Suite *make_suite(void) {
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("load_errors");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, load_ok_all);
    tcase_add_test(tc, load_shape_mismatch);
    tcase_add_test(tc, load_missing_tensor);
    tcase_add_test(tc, load_vocab_too_large);
    tcase_add_test(tc, load_bad_dtype);
    tcase_add_test(tc, load_not_a_model);
    suite_add_tcase(s, tc);
    tc = tcase_create("incremental");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, incremental_deepseek_fp8);
    tcase_add_test(tc, incremental_deepseek_bf16_no_qlora);
    tcase_add_test(tc, incremental_qwen2);
    tcase_add_test(tc, incremental_llama);
    tcase_add_test(tc, long_prompt_chunks);
    tcase_add_test(tc, sharded_scales_elsewhere);
    tcase_add_test(tc, forward_errors);
    suite_add_tcase(s, tc);
    tc = tcase_create("gguf");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, gguf_deepseek);
    tcase_add_test(tc, gguf_qwen2);
    tcase_add_test(tc, gguf_llama);
    tcase_add_test(tc, gguf_hostile);
    suite_add_tcase(s, tc);
    tc = tcase_create("routing");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, routing_counts);
    suite_add_tcase(s, tc);
    return s;
}

RK_TEST_MAIN()
