/* cli/bench.c — `r1kit bench MODEL`: prompt-processing and decode speed of the engine, like llama-bench. */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <getopt.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "formats/checkpoint.h"
#include "model/kernels.h"
#include "model/model.h"

const char rk_usage_bench[] =
    "usage: r1kit bench MODEL [--prompt N] [--gen N] [--reps R] [--threads N] [--no-mmap] [--json]\n"
    "\n"
    "Time the engine on MODEL: prompt processing (one forward of N tokens from an empty cache) and decoding\n"
    "(N single-token forwards after the prompt), best of R repetitions, with seeded random token ids. Also reports\n"
    "the work per token the speeds imply: FLOP (2 x active weights that multiply, attention excluded) and weight\n"
    "bytes read per decoded token (routed experts counted at top_k/n_experts).\n"
    "\n"
    "  --prompt N   prompt tokens (default 128)\n"
    "  --gen N      decoded tokens (default 32)\n"
    "  --reps R     repetitions, best kept (default 3)\n"
    "  --threads N  OpenMP threads (default: all cores)\n"
    "  --no-mmap    read the weights into memory instead of mapping the files (as llama.cpp's --no-mmap)\n"
    "  --json       one JSON document on stdout\n";

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* active matmul weights per token: every 2-D weight except the embedding lookup; routed experts scaled */
static void active_work(const rk_model *m, double *params, double *bytes) {
    const rk_hf_config *cfg = rk_model_config(m);
    struct rk_ckpt *ck = rk_model_ckpt(m);
    double p = 0, b = 0;
    for (size_t i = 0; i < rk_ckpt_count(ck); i++) {
        const rk_ckpt_tensor *t = rk_ckpt_tensor_at(ck, i);
        if (t->n_dims != 2 || t->is_scale || strstr(t->name, "embed_tokens")) continue;
        if (strstr(t->name, ".mlp.gate.weight")) { p += (double)t->numel; b += (double)t->nbytes; continue; }
        int layer = -1;
        if (sscanf(t->name, "model.layers.%d.", &layer) == 1 && layer >= cfg->num_hidden_layers) continue;  /* MTP */
        double f = 1;
        if (strstr(t->name, ".mlp.experts.") && cfg->n_routed_experts > 0) f = (double)cfg->num_experts_per_tok / (double)cfg->n_routed_experts;
        p += f * (double)t->numel;
        b += f * (double)t->nbytes;
    }
    if (cfg->tie_word_embeddings) {
        const rk_ckpt_tensor *e = rk_ckpt_find(ck, "model.embed_tokens.weight");
        if (e) p += (double)e->numel, b += (double)e->nbytes;
    }
    *params = p;
    *bytes = b;
}

int rk_cmd_bench(int argc, char **argv) {
    enum { O_PROMPT = 256, O_GEN, O_REPS, O_THREADS, O_JSON, O_NOMMAP };
    static const struct option opts[] = {
        { "prompt", required_argument, 0, O_PROMPT }, { "gen", required_argument, 0, O_GEN },
        { "reps", required_argument, 0, O_REPS }, { "threads", required_argument, 0, O_THREADS },
        { "json", no_argument, 0, O_JSON }, { "no-mmap", no_argument, 0, O_NOMMAP }, { 0, 0, 0, 0 },
    };
    int64_t n_prompt = 128, n_gen = 32, reps = 3, threads = 0;
    int json = 0, no_mmap = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int64_t *dst = NULL, lo = 1, hi = 1 << 20;
        switch (c) {
        case O_PROMPT: dst = &n_prompt; break;
        case O_GEN: dst = &n_gen, lo = 0; break;
        case O_REPS: dst = &reps, hi = 1000; break;
        case O_THREADS: dst = &threads, hi = 4096; break;
        case O_JSON: json = 1; continue;
        case O_NOMMAP: rk_map_use_memory(), no_mmap = 1; continue;
        default: return rk_cli_usage_error("bench", "bad option");
        }
        if (rk_cli_parse_i64(optarg, lo, hi, dst))
            return rk_cli_usage_error("bench", "--%s: '%s' is not a whole number in [%lld, %lld]", opts[c - O_PROMPT].name, optarg,
                                      (long long)lo, (long long)hi);
    }
    if (optind != argc - 1) return rk_cli_usage_error("bench", "expected one MODEL");
    if (threads) omp_set_num_threads((int)threads);
    rk_err err;
    rk_err_clear(&err);
    rk_model *m = NULL;
    rk_kvcache *kv = NULL;
    float *logits = NULL;
    int32_t *ids = NULL;
    int rc = 0;
    if ((rc = rk_model_load(&m, argv[optind], &err))) goto fail;
    const int64_t vocab = rk_model_vocab(m);
    if (!(kv = rk_kvcache_new(m, n_prompt + n_gen, &err))) { rc = err.code; goto fail; }
    logits = malloc((size_t)(n_prompt * vocab) * sizeof(float));
    ids = malloc((size_t)(n_prompt + n_gen) * sizeof(int32_t));
    if (!logits || !ids) { rc = rk_err_set(&err, RK_ENOMEM, UINT64_MAX, "out of memory"); goto fail; }
    uint64_t s = 12345;
    for (int64_t i = 0; i < n_prompt + n_gen; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        ids[i] = (int32_t)((s >> 33) % (uint64_t)vocab);
    }
    double best_pp = 1e30, best_tg = 1e30;
    for (int64_t r = 0; r < reps; r++) {
        rk_kvcache_clear(kv);
        double t0 = now_s();
        if ((rc = rk_model_forward(m, kv, ids, n_prompt, logits, &err))) goto fail;
        double t1 = now_s();
        for (int64_t g = 0; g < n_gen; g++)
            if ((rc = rk_model_forward_last(m, kv, ids + n_prompt + g, 1, logits, &err))) goto fail;
        double t2 = now_s();
        if (t1 - t0 < best_pp) best_pp = t1 - t0;
        if (n_gen && t2 - t1 < best_tg) best_tg = t2 - t1;
    }
    double params, bytes;
    active_work(m, &params, &bytes);
    double pp = (double)n_prompt / best_pp, tg = n_gen ? (double)n_gen / best_tg : 0;
    if (json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "model", argv[optind]);
        cJSON_AddStringToObject(j, "arch", rk_model_arch_name(m));
        cJSON_AddStringToObject(j, "isa", rk_kernels_isa());
        cJSON_AddNumberToObject(j, "threads", omp_get_max_threads());
        cJSON_AddBoolToObject(j, "mmap", !no_mmap);
        cJSON_AddNumberToObject(j, "n_prompt", (double)n_prompt);
        cJSON_AddNumberToObject(j, "n_gen", (double)n_gen);
        cJSON_AddNumberToObject(j, "pp_tokens_per_s", pp);
        cJSON_AddNumberToObject(j, "tg_tokens_per_s", tg);
        cJSON_AddNumberToObject(j, "active_params", params);
        cJSON_AddNumberToObject(j, "active_weight_bytes", bytes);
        cJSON_AddNumberToObject(j, "pp_gflops", pp * 2 * params / 1e9);
        cJSON_AddNumberToObject(j, "tg_weight_gbs", tg * bytes / 1e9);
        char *str = cJSON_PrintUnformatted(j);
        if (str) puts(str);
        free(str);
        cJSON_Delete(j);
    } else {
        printf("%s (%s), %s kernels, %d threads\n", argv[optind], rk_model_arch_name(m), rk_kernels_isa(), omp_get_max_threads());
        printf("prompt %lld tokens: %.1f tokens/s (%.1f GFLOP/s on %.1fM active weights)\n", (long long)n_prompt, pp,
               pp * 2 * params / 1e9, params / 1e6);
        if (n_gen) printf("decode %lld tokens: %.1f tokens/s (%.2f GB/s of weights)\n", (long long)n_gen, tg, tg * bytes / 1e9);
    }
fail:
    free(logits);
    free(ids);
    rk_kvcache_free(kv);
    rk_model_free(m);
    return rc ? rk_cli_fail("bench", &err) : 0;
}
