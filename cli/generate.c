/* cli/generate.c — `r1kit generate MODEL --prompt TEXT`: greedy or sampled generation with the engine. */
#define _GNU_SOURCE
#include <getopt.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "model/kernels.h"
#include "model/model.h"
#include "model/sampler.h"
#include "model/tokenizer.h"

const char rk_usage_generate[] =
    "usage: r1kit generate MODEL --prompt TEXT [-n N] [--temp T] [--top-k K] [--top-p P] [--seed S] [--threads N]\n"
    "                      [--no-mmap]\n"
    "\n"
    "Continue TEXT with MODEL (a Hugging Face folder, or a safetensors file with config.json and tokenizer.json\n"
    "beside it). The text goes to stdout as it is produced; prompt and generation speed (tokens/s) to stderr.\n"
    "\n"
    "  --prompt TEXT  the prompt (required); BOS is added when the tokenizer adds one\n"
    "  -n, --tokens N tokens to generate (default 64); stops early at end-of-sequence\n"
    "  --temp T       0 = greedy (default); > 0 samples with temperature T\n"
    "  --top-k K      keep the K most likely tokens (default 0 = off)\n"
    "  --top-p P      nucleus sampling mass (default 1 = off)\n"
    "  --seed S       sampling seed (default 42); the same seed gives the same text\n"
    "  --threads N    OpenMP threads (default: all cores)\n"
    "  --no-mmap      read the weights into memory instead of mapping the files (as llama.cpp's --no-mmap)\n";

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int rk_cmd_generate(int argc, char **argv) {
    enum { O_PROMPT = 256, O_TEMP, O_TOPK, O_TOPP, O_SEED, O_THREADS, O_NOMMAP };
    static const struct option opts[] = {
        { "prompt", required_argument, 0, O_PROMPT }, { "tokens", required_argument, 0, 'n' },
        { "temp", required_argument, 0, O_TEMP }, { "top-k", required_argument, 0, O_TOPK },
        { "top-p", required_argument, 0, O_TOPP }, { "seed", required_argument, 0, O_SEED },
        { "threads", required_argument, 0, O_THREADS }, { "no-mmap", no_argument, 0, O_NOMMAP }, { 0, 0, 0, 0 },
    };
    const char *prompt = NULL;
    int64_t n_gen = 64, top_k = 0, threads = 0;
    double temp = 0, top_p = 1;
    uint64_t seed = 42;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "n:", opts, NULL)) != -1) {
        char *end = NULL;
        switch (c) {
        case O_PROMPT: prompt = optarg; break;
        case 'n':
            if (rk_cli_parse_i64(optarg, 1, 1 << 20, &n_gen)) return rk_cli_usage_error("generate", "-n: '%s' is not a whole number in [1, 1048576]", optarg);
            break;
        case O_TEMP:
            temp = strtod(optarg, &end);
            if (!end || *end || !(temp >= 0 && temp <= 100)) return rk_cli_usage_error("generate", "--temp: '%s' is not a number in [0, 100]", optarg);
            break;
        case O_TOPK:
            if (rk_cli_parse_i64(optarg, 0, INT64_MAX, &top_k)) return rk_cli_usage_error("generate", "--top-k: '%s' is not a whole number >= 0", optarg);
            break;
        case O_TOPP:
            top_p = strtod(optarg, &end);
            if (!end || *end || !(top_p > 0 && top_p <= 1)) return rk_cli_usage_error("generate", "--top-p: '%s' is not a number in (0, 1]", optarg);
            break;
        case O_SEED:
            if (rk_cli_parse_u64(optarg, 0, UINT64_MAX, &seed)) return rk_cli_usage_error("generate", "--seed: '%s' is not a number", optarg);
            break;
        case O_THREADS:
            if (rk_cli_parse_i64(optarg, 1, 4096, &threads)) return rk_cli_usage_error("generate", "--threads: '%s' is not a whole number in [1, 4096]", optarg);
            break;
        case O_NOMMAP: rk_map_use_memory(); break;
        default: return rk_cli_usage_error("generate", "bad option");
        }
    }
    if (optind != argc - 1) return rk_cli_usage_error("generate", "expected one MODEL");
    if (!prompt) return rk_cli_usage_error("generate", "--prompt TEXT is required");
    if (threads) omp_set_num_threads((int)threads);

    rk_err err;
    rk_err_clear(&err);
    rk_model *m = NULL;
    rk_tokenizer *tok = NULL;
    rk_kvcache *kv = NULL;
    int32_t *ids = NULL, *all = NULL;
    size_t n_ids = 0;
    float *logits = NULL;
    char *txt = NULL;
    size_t printed = 0;
    rk_sampler s;
    rk_sampler_init(&s, (float)temp, top_k, (float)top_p, seed);
    int rc = 0;
    if ((rc = rk_model_load(&m, argv[optind], &err))) goto fail;
    if (rk_model_notes(m)[0]) fprintf(stderr, "%s\n", rk_model_notes(m));
    if ((rc = rk_tokenizer_load(&tok, argv[optind], &err))) goto fail;
    if ((rc = rk_tokenizer_encode(tok, prompt, strlen(prompt), 1, &ids, &n_ids, &err))) goto fail;
    if (n_ids == 0) { rc = rk_err_set(&err, RK_EINVAL, UINT64_MAX, "the prompt encodes to no tokens"); goto fail; }
    const int64_t vocab = rk_model_vocab(m);
    for (size_t i = 0; i < n_ids; i++)
        if (ids[i] < 0 || ids[i] >= vocab) {
            rc = rk_err_set(&err, RK_ECORRUPT, UINT64_MAX, "%s: token id %d is outside the model's vocabulary of %lld",
                            argv[optind], ids[i], (long long)vocab);
            goto fail;
        }
    if (!(kv = rk_kvcache_new(m, (int64_t)n_ids + n_gen, &err))) { rc = err.code; goto fail; }
    logits = malloc((size_t)vocab * sizeof(float));
    all = malloc(((size_t)n_ids + (size_t)n_gen) * sizeof(int32_t));
    if (!logits || !all) { rc = rk_err_set(&err, RK_ENOMEM, UINT64_MAX, "out of memory"); goto fail; }
    memcpy(all, ids, n_ids * sizeof(int32_t));
    size_t n_all = n_ids;
    /* echo the prompt as the tokenizer reads it back */
    if ((rc = rk_tokenizer_decode(tok, all, n_all, 1, &txt, &printed, &err))) goto fail;
    fwrite(txt, 1, printed, stdout);
    fflush(stdout);
    free(txt);
    txt = NULL;
    double t0 = now_s();
    if ((rc = rk_model_forward_last(m, kv, ids, (int64_t)n_ids, logits, &err))) goto fail;
    double t1 = now_s();
    int64_t made = 0;
    for (; made < n_gen; made++) {
        int32_t next = rk_sampler_pick(&s, logits, vocab);
        if (next < 0) { rc = rk_err_set(&err, RK_ENOMEM, UINT64_MAX, "out of memory"); goto fail; }
        all[n_all++] = next;
        size_t len = 0;
        if ((rc = rk_tokenizer_decode(tok, all, n_all, 1, &txt, &len, &err))) goto fail;
        if (len > printed) fwrite(txt + printed, 1, len - printed, stdout), printed = len;
        fflush(stdout);
        free(txt);
        txt = NULL;
        if (next == rk_tokenizer_eos_id(tok)) { made++; break; }
        if (made + 1 < n_gen && (rc = rk_model_forward_last(m, kv, &next, 1, logits, &err))) goto fail;
        if (rk_interrupted()) break;
    }
    double t2 = now_s();
    printf("\n");
    fprintf(stderr, "prompt: %zu tokens in %.3f s (%.1f tokens/s); generated: %lld tokens in %.3f s (%.1f tokens/s); %s, %d threads\n",
            n_ids, t1 - t0, (double)n_ids / (t1 - t0 > 0 ? t1 - t0 : 1e-9), (long long)made, t2 - t1,
            (double)made / (t2 - t1 > 0 ? t2 - t1 : 1e-9), rk_kernels_isa(), omp_get_max_threads());
fail:
    free(txt);
    free(ids);
    free(all);
    free(logits);
    rk_sampler_free(&s);
    rk_kvcache_free(kv);
    rk_tokenizer_free(tok);
    rk_model_free(m);
    if (rc) return err.code == RK_EINVAL ? (fprintf(stderr, "r1kit generate: error: %s\n", err.msg), RK_EXIT_USAGE)
                                         : rk_cli_fail("generate", &err);
    return 0;
}
