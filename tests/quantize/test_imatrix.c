/* tests/quantize/test_imatrix.c — the importance matrix: accumulation against a direct computation on a tiny
 * DeepSeek model (dense input from the embedding by hand; per-expert sums over the tokens our own top-k routes
 * to each expert), save/load round trip, llama.cpp's GGUF and legacy .dat files, experts that never fired,
 * corrupt files. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tests/common/rk_test.h"
#include "convert/convert.h"
#include "formats/checkpoint.h"
#include "formats/gguf.h"
#include "model/model.h"
#include "model/sample.h"
#include "quantize/imatrix.h"

/* ---- name mapping ---- */
START_TEST(map_names) {
    rk_hf_config c;
    memset(&c, 0, sizeof c);
    c.arch = RK_HF_ARCH_DEEPSEEK2, c.num_hidden_layers = 4, c.n_routed_experts = 8;
    rk_gguf_map g;
    ck_assert_int_eq(rk_convert_gguf_name(&c, "model.layers.3.mlp.experts.5.up_proj.weight", &g, NULL), 0);
    ck_assert_int_eq(g.kind, RK_GGUF_MAP_EXPERT);
    ck_assert_str_eq(g.name, "blk.3.ffn_up_exps.weight");
    ck_assert_int_eq(g.expert, 5);
    ck_assert_int_eq(g.layer, 3);
    ck_assert_int_eq(rk_convert_gguf_name(&c, "lm_head.weight", &g, NULL), 0);
    ck_assert_str_eq(g.name, "output.weight");
    ck_assert_int_eq(rk_convert_gguf_name(&c, "model.layers.0.self_attn.kv_b_proj.weight", &g, NULL), 0);
    ck_assert_int_eq(g.kind, RK_GGUF_MAP_KV_B);
    ck_assert_str_eq(g.name, "blk.0.attn_k_b.weight");
    ck_assert_str_eq(g.name2, "blk.0.attn_v_b.weight");
    ck_assert_int_eq(rk_convert_gguf_name(&c, "model.layers.4.self_attn.q_a_proj.weight", &g, NULL), 0);
    ck_assert_int_eq(g.kind, RK_GGUF_MAP_DROP_MTP);
    ck_assert_int_eq(rk_convert_gguf_name(&c, "model.layers.1.mlp.gate.weight", &g, NULL), 0);
    ck_assert_str_eq(g.name, "blk.1.ffn_gate_inp.weight");
    rk_err err;
    ck_assert_int_eq(rk_convert_gguf_name(&c, "model.layers.1.self_attn.k_proj.weight", &g, &err), RK_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(err.msg, "cannot map"));
    c.tie_word_embeddings = 1;
    ck_assert_int_eq(rk_convert_gguf_name(&c, "lm_head.weight", &g, NULL), 0);
    ck_assert_int_eq(g.kind, RK_GGUF_MAP_DROP_TIED);
}
END_TEST

/* ---- accumulation vs a direct computation ---- */
typedef struct raw_obs { const char *want; float *x; int64_t n, cols, cap; } raw_obs;
static void raw_cb(void *ctx, const char *name, int64_t layer, int64_t expert, const float *x, int64_t n, int64_t cols) {
    (void)layer, (void)expert;
    raw_obs *r = ctx;
    if (strcmp(name, r->want)) return;
    ck_assert_int_le(r->n + n, r->cap);
    memcpy(r->x + r->n * cols, x, (size_t)(n * cols) * sizeof(float));
    r->n += n, r->cols = cols;
}

static float *read_tensor(rk_model *m, const char *name, int64_t n) {
    rk_ckpt *ck = rk_model_ckpt(m);
    const rk_ckpt_tensor *t = rk_ckpt_find(ck, name);
    ck_assert_msg(t != NULL, "missing %s", name);
    float *v = malloc((size_t)n * sizeof *v);
    rk_err err;
    ck_assert_int_eq(rk_ckpt_read_f32(ck, t, v, (uint64_t)n, &err), 0);
    return v;
}

static char *make_model(const char *tag) {
    rk_sample_opts o;
    rk_err err;
    ck_assert_int_eq(rk_sample_defaults(&o, "deepseek_v3", "tiny", &err), 0);
    o.weight_dtype = RK_DTYPE_F32, o.n_group = 1, o.topk_group = 1, o.mtp_layers = 0;
    char *dir = rk_test_tmpdir(tag);
    ck_assert_msg(rk_sample_write(dir, &o, &err) == 0, "%s", err.msg);
    return dir;
}

START_TEST(accumulate) {
    char *dir = make_model("imx_acc");
    rk_model *m = NULL;
    rk_err err;
    ck_assert_msg(rk_model_load(&m, dir, &err) == 0, "%s", err.msg);
    const rk_hf_config *c = rk_model_config(m);
    const int64_t T = 40, D = c->hidden_size, E = c->n_routed_experts, K = c->num_experts_per_tok;
    int32_t tok[40];
    for (int64_t i = 0; i < T; i++) tok[i] = (int32_t)((i * 37 + 11) % rk_model_vocab(m));
    rk_imatrix *im;
    ck_assert_int_eq(rk_imatrix_new(&im, &err), 0);
    rk_imatrix_attach(im, m);
    rk_kvcache *kv = rk_kvcache_new(m, 64, &err);
    ck_assert_int_eq(rk_model_forward(m, kv, tok, 25, NULL, &err), 0);   /* two calls: sums must add up */
    ck_assert_int_eq(rk_model_forward(m, kv, tok + 25, T - 25, NULL, &err), 0);
    rk_imatrix_detach(im, m);
    ck_assert_int_eq(rk_imatrix_status(im, &err), 0);

    /* dense: attn_q_a's input is rmsnorm(embed) * input_layernorm */
    float *emb = read_tensor(m, "model.embed_tokens.weight", rk_model_vocab(m) * D);
    float *nw = read_tensor(m, "model.layers.0.input_layernorm.weight", D);
    double *want = calloc((size_t)D, sizeof *want);
    for (int64_t t = 0; t < T; t++) {
        const float *x = emb + tok[t] * D;
        double ss = 0;
        for (int64_t j = 0; j < D; j++) ss += (double)x[j] * x[j];
        double inv = 1.0 / sqrt(ss / (double)D + c->rms_norm_eps);
        for (int64_t j = 0; j < D; j++) {
            double y = x[j] * inv * nw[j];
            want[j] += y * y;
        }
    }
    rk_imatrix_entry e;
    ck_assert_int_eq(rk_imatrix_find(im, "blk.0.attn_q_a.weight", &e), 0);
    ck_assert_int_eq(e.cols, D);
    ck_assert_int_eq(e.n_mat, 1);
    ck_assert(e.count[0] == (double)T);
    for (int64_t j = 0; j < D; j++) ck_assert_msg(fabs(e.sum2[j] - want[j]) <= 1e-4 * fabs(want[j]) + 1e-6, "col %lld", (long long)j);

    /* experts of layer 1: route the router's input ourselves (sigmoid + bias, top-k, one group) */
    raw_obs r = { "model.layers.1.mlp.gate.weight", malloc((size_t)(T * D) * sizeof(float)), 0, 0, T };
    rk_kvcache_clear(kv);
    rk_model_set_observer(m, raw_cb, &r);
    ck_assert_int_eq(rk_model_forward(m, kv, tok, T, NULL, &err), 0);
    rk_model_set_observer(m, NULL, NULL);
    ck_assert_int_eq(r.n, T);
    float *G = read_tensor(m, "model.layers.1.mlp.gate.weight", E * D);
    float *bias = read_tensor(m, "model.layers.1.mlp.gate.e_score_correction_bias", E);
    double *esum = calloc((size_t)(E * D), sizeof *esum), *ecnt = calloc((size_t)E, sizeof *ecnt);
    for (int64_t t = 0; t < T; t++) {
        const float *x = r.x + t * D;
        double choice[64];
        int taken[64] = { 0 };
        for (int64_t ex = 0; ex < E; ex++) {
            double z = 0;
            for (int64_t j = 0; j < D; j++) z += (double)G[ex * D + j] * x[j];
            choice[ex] = 1.0 / (1.0 + exp(-z)) + bias[ex];
        }
        for (int64_t k = 0; k < K; k++) {
            int64_t best = -1;
            for (int64_t ex = 0; ex < E; ex++)
                if (!taken[ex] && (best < 0 || choice[ex] > choice[best])) best = ex;
            taken[best] = 1;
            ecnt[best] += 1;
            for (int64_t j = 0; j < D; j++) esum[best * D + j] += (double)x[j] * x[j];
        }
    }
    ck_assert_int_eq(rk_imatrix_find(im, "blk.1.ffn_gate_exps.weight", &e), 0);
    ck_assert_int_eq(e.n_mat, E);
    ck_assert_int_eq(e.cols, D);
    for (int64_t ex = 0; ex < E; ex++) {
        ck_assert_msg(e.count[ex] == ecnt[ex], "expert %lld: %g vs %g tokens", (long long)ex, e.count[ex], ecnt[ex]);
        for (int64_t j = 0; j < D; j++)
            ck_assert_msg(fabs(e.sum2[ex * D + j] - esum[ex * D + j]) <= 1e-4 * esum[ex * D + j] + 1e-6, "expert %lld col %lld",
                          (long long)ex, (long long)j);
    }
    rk_imatrix_entry d;
    ck_assert_int_eq(rk_imatrix_find(im, "blk.1.ffn_down_exps.weight", &d), 0);
    for (int64_t ex = 0; ex < E; ex++) ck_assert(d.count[ex] == ecnt[ex]);
    /* kv_b: the latent, repeated per head under attn_v_b; no attn_k_b */
    ck_assert_int_eq(rk_imatrix_find(im, "blk.0.attn_v_b.weight", &e), 0);
    ck_assert_int_eq(e.cols, c->kv_lora_rank * c->num_attention_heads);
    ck_assert_int_eq(rk_imatrix_find(im, "blk.0.attn_k_b.weight", &e), RK_ENOTFOUND);
    ck_assert_int_eq(rk_imatrix_find(im, "output.weight", &e), RK_ENOTFOUND);   /* logits were not asked for */

    /* routing extras agree with the counts */
    ck_assert_int_eq(rk_imatrix_take_routing(im, m, &err), 0);
    ck_assert_uint_ge(rk_imatrix_routing_count(im), 1);
    rk_imatrix_routing rt;
    ck_assert_int_eq(rk_imatrix_routing_at(im, 0, &rt), 0);
    ck_assert_int_eq(rt.layer, 1);
    for (int64_t ex = 0; ex < E; ex++) ck_assert(rt.count[ex] == 2 * (uint64_t)ecnt[ex]);   /* two passes */

    free(G), free(bias), free(esum), free(ecnt), free(r.x), free(emb), free(nw), free(want);
    rk_kvcache_free(kv);
    rk_imatrix_free(im);
    rk_model_free(m);
    rk_test_rmtree(dir);
    free(dir);
}
END_TEST

/* ---- round trip ---- */
START_TEST(roundtrip) {
    char *dir = make_model("imx_rt");
    rk_model *m = NULL;
    rk_err err;
    ck_assert_int_eq(rk_model_load(&m, dir, &err), 0);
    rk_imatrix *im, *back = NULL;
    ck_assert_int_eq(rk_imatrix_new(&im, &err), 0);
    rk_imatrix_attach(im, m);
    rk_kvcache *kv = rk_kvcache_new(m, 32, &err);
    int32_t tok[20];
    for (int i = 0; i < 20; i++) tok[i] = (int32_t)(i * 5 % rk_model_vocab(m));
    float *logits = malloc((size_t)(20 * rk_model_vocab(m)) * sizeof(float));
    ck_assert_int_eq(rk_model_forward(m, kv, tok, 20, logits, &err), 0);
    rk_imatrix_detach(im, m);
    ck_assert_int_eq(rk_imatrix_take_routing(im, m, &err), 0);
    ck_assert_int_eq(rk_imatrix_add_dataset(im, "some text.txt", &err), 0);
    rk_imatrix_set_chunks(im, 3, 20);
    char *path = rk_path_join(dir, "im.gguf");
    ck_assert_msg(rk_imatrix_save(im, path, &err) == 0, "%s", err.msg);
    ck_assert_msg(rk_imatrix_load(&back, path, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(rk_imatrix_count(back), rk_imatrix_count(im));
    ck_assert_str_eq(rk_imatrix_dataset(back, 0), "some text.txt");
    ck_assert_uint_eq(rk_imatrix_chunk_count(back), 3);
    ck_assert_uint_eq(rk_imatrix_chunk_size(back), 20);
    ck_assert_int_eq(rk_imatrix_is_legacy(back), 0);
    for (size_t i = 0; i < rk_imatrix_count(im); i++) {
        rk_imatrix_entry a, b;
        rk_imatrix_entry_at(im, i, &a);
        ck_assert_int_eq(rk_imatrix_find(back, a.name, &b), 0);
        ck_assert_int_eq(a.cols, b.cols);
        ck_assert_int_eq(a.n_mat, b.n_mat);
        for (int64_t k = 0; k < a.n_mat; k++) ck_assert(a.count[k] == b.count[k]);
        for (int64_t j = 0; j < a.cols * a.n_mat; j++) ck_assert(b.sum2[j] == (double)(float)a.sum2[j]);
    }
    rk_imatrix_entry head;
    ck_assert_int_eq(rk_imatrix_find(back, "output.weight", &head), 0);   /* logits were asked for this time */
    ck_assert_uint_eq(rk_imatrix_routing_count(back), rk_imatrix_routing_count(im));
    for (size_t i = 0; i < rk_imatrix_routing_count(im); i++) {
        rk_imatrix_routing a, b;
        rk_imatrix_routing_at(im, i, &a);
        rk_imatrix_routing_at(back, i, &b);
        ck_assert_int_eq(a.layer, b.layer);
        ck_assert_uint_eq(a.tokens, b.tokens);
        for (int64_t e = 0; e < a.n_experts; e++) ck_assert(a.count[e] == b.count[e] && a.gate_sum[e] == b.gate_sum[e]);
    }
    /* importance of an expert = sum2 / count */
    rk_imatrix_entry e;
    ck_assert_int_eq(rk_imatrix_find(back, "blk.1.ffn_up_exps.weight", &e), 0);
    float *v = malloc((size_t)e.cols * sizeof *v);
    for (int64_t k = 0; k < e.n_mat; k++) {
        int how = -1;
        ck_assert_int_eq(rk_imatrix_importance(back, e.name, k, v, e.cols, &how, &err), 0);
        if (e.count[k] > 0) {
            ck_assert_int_eq(how, RK_IMATRIX_MEASURED);
            ck_assert(fabsf(v[0] - (float)(e.sum2[k * e.cols] / e.count[k])) <= 1e-6f * fabsf(v[0]));
        }
        for (int64_t j = 0; j < e.cols; j++) ck_assert(isfinite(v[j]));
    }
    ck_assert_int_eq(rk_imatrix_importance(back, e.name, e.n_mat, v, e.cols, NULL, &err), RK_EINVAL);
    ck_assert_int_eq(rk_imatrix_importance(back, e.name, 0, v, e.cols + 1, NULL, &err), RK_EINVAL);
    ck_assert_int_eq(rk_imatrix_importance(back, "nope.weight", 0, v, 1, NULL, &err), RK_ENOTFOUND);
    free(v);
    free(logits);
    free(path);
    rk_kvcache_free(kv);
    rk_imatrix_free(im);
    rk_imatrix_free(back);
    rk_model_free(m);
    rk_test_rmtree(dir);
    free(dir);
}
END_TEST

/* ---- llama.cpp's files, written here with the GGUF writer / by hand ---- */
static void write_llama(const char *path, const char *type, int bad) {
    rk_gguf_writer *w;
    rk_err err;
    ck_assert_int_eq(rk_gguf_writer_init(&w, &err), 0);
    rk_gguf_set_str(w, "general.type", type);
    const char *ds[1] = { "wiki.train.raw" };
    rk_gguf_set_arr_str(w, "imatrix.datasets", ds, 1);
    rk_gguf_set_u32(w, "imatrix.chunk_count", 7);
    rk_gguf_set_u32(w, "imatrix.chunk_size", 512);
    /* expert tensor: 3 experts x 4 columns, expert 1 never fired; a dense tensor that saw nothing */
    float s[12] = { 2, 4, 6, 8, 0, 0, 0, 0, 4, 4, 4, 4 }, cnt[3] = { 2, 0, 4 }, d[2] = { 5, 5 }, dc[1] = { 0 };
    if (bad == 1) s[3] = NAN;
    if (bad == 2) cnt[2] = -1;
    int64_t ne_s[2] = { 4, 3 }, ne_c[2] = { 1, bad == 3 ? 5 : 3 }, ne_d[2] = { 2, 1 }, ne_dc[2] = { 1, 1 };
    ck_assert_int_eq(rk_gguf_writer_add_tensor(w, "blk.0.ffn_up_exps.weight.in_sum2", bad == 4 ? RK_DTYPE_F16 : RK_DTYPE_F32, 2,
                                               ne_s, &err), 0);
    if (bad != 5) ck_assert_int_eq(rk_gguf_writer_add_tensor(w, "blk.0.ffn_up_exps.weight.counts", RK_DTYPE_F32, 2, ne_c, &err), 0);
    ck_assert_int_eq(rk_gguf_writer_add_tensor(w, "blk.0.attn_q.weight.in_sum2", RK_DTYPE_F32, 2, ne_d, &err), 0);
    ck_assert_int_eq(rk_gguf_writer_add_tensor(w, "blk.0.attn_q.weight.counts", RK_DTYPE_F32, 2, ne_dc, &err), 0);
    ck_assert_int_eq(rk_gguf_writer_add_tensor(w, "something.else", RK_DTYPE_F32, 1, (int64_t[]){ 1 }, &err), 0);
    ck_assert_int_eq(rk_gguf_writer_begin(w, path, 0, &err), 0);
    ck_assert_int_eq(rk_gguf_writer_write(w, s, bad == 4 ? 24 : sizeof s, &err), 0);
    if (bad != 5) ck_assert_int_eq(rk_gguf_writer_write(w, cnt, (size_t)ne_c[1] * 4 > sizeof cnt ? sizeof cnt : (size_t)ne_c[1] * 4, &err), 0);
    if (bad == 3) ck_assert_int_eq(rk_gguf_writer_write(w, cnt, 8, &err), 0);
    ck_assert_int_eq(rk_gguf_writer_write(w, d, sizeof d, &err), 0);
    ck_assert_int_eq(rk_gguf_writer_write(w, dc, sizeof dc, &err), 0);
    ck_assert_int_eq(rk_gguf_writer_write(w, dc, sizeof dc, &err), 0);
    ck_assert_msg(rk_gguf_writer_finish(w, &err) == 0, "%s", err.msg);
    rk_gguf_writer_free(w);
}

START_TEST(llama_gguf) {
    char *dir = rk_test_tmpdir("imx_llama");
    char *path = rk_path_join(dir, "imatrix.gguf");
    write_llama(path, "imatrix", 0);
    rk_imatrix *im;
    rk_err err;
    ck_assert_msg(rk_imatrix_load(&im, path, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(rk_imatrix_count(im), 2);
    ck_assert_str_eq(rk_imatrix_dataset(im, 0), "wiki.train.raw");
    ck_assert_uint_eq(rk_imatrix_chunk_count(im), 7);
    ck_assert_uint_eq(rk_imatrix_chunk_size(im), 512);
    float v[4];
    int how;
    ck_assert_int_eq(rk_imatrix_importance(im, "blk.0.ffn_up_exps.weight", 0, v, 4, &how, &err), 0);
    ck_assert_int_eq(how, RK_IMATRIX_MEASURED);
    ck_assert(v[0] == 1 && v[1] == 2 && v[2] == 3 && v[3] == 4);
    ck_assert_int_eq(rk_imatrix_importance(im, "blk.0.ffn_up_exps.weight", 1, v, 4, &how, &err), 0);
    ck_assert_int_eq(how, RK_IMATRIX_FROM_OTHERS);   /* mean of {1,2,3,4} and {1,1,1,1} */
    ck_assert(v[0] == 1 && v[1] == 1.5f && v[2] == 2 && v[3] == 2.5f);
    ck_assert_int_eq(rk_imatrix_importance(im, "blk.0.attn_q.weight", 0, v, 2, &how, &err), 0);
    ck_assert_int_eq(how, RK_IMATRIX_UNIFORM);
    ck_assert(v[0] == 1 && v[1] == 1);
    rk_imatrix_free(im);
    free(path);
    rk_test_rmtree(dir);
    free(dir);
}
END_TEST

static void put_i32(uint8_t **p, int32_t v) { memcpy(*p, &v, 4), *p += 4; }

/* legacy .dat: values stored as mean x ncall */
static size_t make_dat(uint8_t *buf, int trailer) {
    uint8_t *p = buf;
    put_i32(&p, 1);
    put_i32(&p, 24);
    memcpy(p, "blk.0.ffn_up_exps.weight", 24), p += 24;
    put_i32(&p, 10);   /* ncall */
    put_i32(&p, 8);    /* 2 experts x 4 columns */
    for (int j = 0; j < 8; j++) {
        float f = 10.0f * (float)(j + 1);
        memcpy(p, &f, 4), p += 4;
    }
    if (trailer) {
        put_i32(&p, 10);
        put_i32(&p, 8);
        memcpy(p, "data.txt", 8), p += 8;
    }
    return (size_t)(p - buf);
}

START_TEST(legacy_dat) {
    char *dir = rk_test_tmpdir("imx_dat");
    char *path = rk_path_join(dir, "imatrix.dat");
    uint8_t buf[256];
    rk_test_write_file(path, buf, make_dat(buf, 1));
    rk_imatrix *im;
    rk_err err;
    ck_assert_msg(rk_imatrix_load(&im, path, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(rk_imatrix_is_legacy(im), 1);
    ck_assert_str_eq(rk_imatrix_dataset(im, 0), "data.txt");
    ck_assert_uint_eq(rk_imatrix_chunk_count(im), 10);
    float v[4];
    ck_assert_int_eq(rk_imatrix_importance(im, "blk.0.ffn_up_exps.weight", 1, v, 4, NULL, &err), 0);   /* split by cols */
    ck_assert(v[0] == 5 && v[3] == 8);
    rk_imatrix_free(im);
    rk_test_write_file(path, buf, make_dat(buf, 0));   /* no trailer */
    ck_assert_int_eq(rk_imatrix_load(&im, path, &err), 0);
    rk_imatrix_free(im);
    free(path);
    rk_test_rmtree(dir);
    free(dir);
}
END_TEST

/* ---- corrupt files ---- */
START_TEST(corrupt) {
    char *dir = rk_test_tmpdir("imx_bad");
    char *path = rk_path_join(dir, "bad.gguf");
    rk_imatrix *im = NULL;
    rk_err err;
    static const struct { int bad; const char *type, *msg; } cases[] = {
        { 1, "imatrix", "finite" }, { 2, "imatrix", "counts are finite" }, { 3, "imatrix", "multiple" },
        { 4, "imatrix", "must be F32" }, { 5, "imatrix", "has no" }, { 0, "model", "not 'imatrix'" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_llama(path, cases[i].type, cases[i].bad);
        ck_assert_int_eq(rk_imatrix_load(&im, path, &err), RK_ECORRUPT);
        ck_assert_ptr_null(im);
        ck_assert_msg(strstr(err.msg, cases[i].msg) && strstr(err.msg, path), "case %zu: %s", i, err.msg);
    }
    /* legacy: every truncation of a valid file before its trailer fails cleanly; garbage and empty files too */
    uint8_t buf[256];
    size_t n = make_dat(buf, 0);
    for (size_t cut = 0; cut < n; cut++) {
        rk_test_write_file(path, buf, cut);
        ck_assert_int_eq(rk_imatrix_load(&im, path, &err), RK_ECORRUPT);
        ck_assert_ptr_nonnull(strstr(err.msg, path));
    }
    memset(buf, 0x7f, 64);
    rk_test_write_file(path, buf, 64);
    ck_assert_int_eq(rk_imatrix_load(&im, path, &err), RK_ECORRUPT);
    memcpy(buf, "GGUF\x03\0\0\0", 8);   /* GGUF v3 magic with garbage behind it */
    rk_test_write_file(path, buf, 64);
    ck_assert_int_eq(rk_imatrix_load(&im, path, &err), RK_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(err.msg, path));
    char *missing = rk_path_join(dir, "missing.gguf");
    ck_assert_int_eq(rk_imatrix_load(&im, missing, &err), RK_EIO);
    /* an empty imatrix is not saved */
    ck_assert_int_eq(rk_imatrix_new(&im, &err), 0);
    ck_assert_int_eq(rk_imatrix_save(im, path, &err), RK_EINVAL);
    rk_imatrix_free(im);
    rk_imatrix_free(NULL);
    free(missing);
    free(path);
    rk_test_rmtree(dir);
    free(dir);
}
END_TEST

Suite *make_suite(void) {
    Suite *s = suite_create("quantize");
    TCase *t = tcase_create("imatrix");
    tcase_set_timeout(t, 300);
    tcase_add_test(t, map_names);
    tcase_add_test(t, accumulate);
    tcase_add_test(t, roundtrip);
    tcase_add_test(t, llama_gguf);
    tcase_add_test(t, legacy_dat);
    tcase_add_test(t, corrupt);
    suite_add_tcase(s, t);
    return s;
}

RK_TEST_MAIN()
