/* cli/perplexity.c — `r1kit perplexity MODEL --text FILE`: llama-perplexity's numbers from r1kit's engine. */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <getopt.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "model/kernels.h"
#include "model/model.h"
#include "model/perplexity.h"
#include "model/tokenizer.h"

const char rk_usage_perplexity[] =
    "usage: r1kit perplexity MODEL --text FILE [--ctx N] [--chunks K] [--batch N] [--threads N] [--routing] [--json]\n"
    "                        [--no-mmap]\n"
    "\n"
    "Perplexity of MODEL on a text, computed as llama.cpp's llama-perplexity does: the tokens are cut into\n"
    "chunks of --ctx tokens (default 512), each run from an empty cache with its first token replaced by BOS\n"
    "(when the tokenizer adds one), and only the second half of each chunk is scored. Prints one line per chunk\n"
    "(stderr) and `Final estimate: PPL = X +/- E` (stdout). MODEL is a Hugging Face folder, or a safetensors\n"
    "file with config.json and tokenizer.json beside it.\n"
    "\n"
    "  --text FILE   UTF-8 text (required)\n"
    "  --ctx N       tokens per chunk (default 512; the text needs at least 2*N tokens)\n"
    "  --chunks K    evaluate at most K chunks (default: all)\n"
    "  --batch N     tokens per forward pass (default: ctx)\n"
    "  --threads N   OpenMP threads (default: all cores)\n"
    "  --no-mmap     read the weights into memory instead of mapping the files (as llama.cpp's --no-mmap)\n"
    "  --routing     MoE models: print how often each routed expert was chosen, per layer (a markdown table)\n"
    "  --json        print the result as one JSON document on stdout (with --routing: the counts too)\n";

static void on_chunk(void *user, const rk_ppl_chunk *c) {
    (void)user;
    fprintf(stderr, "[%lld/%lld] PPL %.4f (this chunk %.4f), %.2f s\n", (long long)c->index + 1, (long long)c->n_chunks,
            c->running_ppl, c->chunk_ppl, c->seconds);
}

/* share of the selections each routed expert received, per MoE layer: rows = experts, columns = layers */
static void print_routing(const rk_model *m) {
    int64_t layers[512], nl = 0, E = 0;
    for (int64_t il = 0; il < rk_model_layers(m) && nl < 512; il++) {
        rk_routing rt;
        if (!rk_model_routing(m, il, &rt)) layers[nl++] = il, E = rt.n_experts;
    }
    if (!nl) { printf("(no MoE layers)\n"); return; }
    printf("\nexpert load (share of the layer's selections, %%):\n\n| expert |");
    for (int64_t i = 0; i < nl; i++) printf(" layer %lld |", (long long)layers[i]);
    printf("\n|---:|");
    for (int64_t i = 0; i < nl; i++) printf("---:|");
    printf("\n");
    for (int64_t e = 0; e < E; e++) {
        printf("| %lld |", (long long)e);
        for (int64_t i = 0; i < nl; i++) {
            rk_routing rt;
            rk_model_routing(m, layers[i], &rt);
            const double tot = (double)rt.tokens * (double)rt.top_k;
            printf(" %.2f |", tot > 0 ? 100.0 * (double)rt.count[e] / tot : 0.0);
        }
        printf("\n");
    }
    printf("| min/max |");
    for (int64_t i = 0; i < nl; i++) {
        rk_routing rt;
        rk_model_routing(m, layers[i], &rt);
        uint64_t lo = UINT64_MAX, hi = 0;
        for (int64_t e = 0; e < rt.n_experts; e++) lo = rt.count[e] < lo ? rt.count[e] : lo, hi = rt.count[e] > hi ? rt.count[e] : hi;
        printf(" %.2f |", hi ? (double)lo / (double)hi : 0.0);
    }
    printf("\n(uniform: %.2f%% each)\n", 100.0 / (double)E);
}

int rk_cmd_perplexity(int argc, char **argv) {
    enum { O_TEXT = 256, O_CTX, O_CHUNKS, O_BATCH, O_THREADS, O_JSON, O_ROUTING, O_NOMMAP };
    static const struct option opts[] = {
        { "text", required_argument, 0, O_TEXT }, { "ctx", required_argument, 0, O_CTX },
        { "chunks", required_argument, 0, O_CHUNKS }, { "batch", required_argument, 0, O_BATCH },
        { "threads", required_argument, 0, O_THREADS }, { "json", no_argument, 0, O_JSON },
        { "routing", no_argument, 0, O_ROUTING }, { "no-mmap", no_argument, 0, O_NOMMAP }, { 0, 0, 0, 0 },
    };
    const char *text_path = NULL;
    int64_t n_ctx = 512, n_chunks = -1, n_batch = 0, threads = 0;
    int json = 0, routing = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case O_TEXT: text_path = optarg; break;
        case O_CTX:
            if (rk_cli_parse_i64(optarg, 4, 1 << 20, &n_ctx)) return rk_cli_usage_error("perplexity", "--ctx: '%s' is not a whole number in [4, 1048576]", optarg);
            break;
        case O_CHUNKS:
            if (rk_cli_parse_i64(optarg, 1, INT64_MAX, &n_chunks)) return rk_cli_usage_error("perplexity", "--chunks: '%s' is not a positive whole number", optarg);
            break;
        case O_BATCH:
            if (rk_cli_parse_i64(optarg, 1, 1 << 20, &n_batch)) return rk_cli_usage_error("perplexity", "--batch: '%s' is not a whole number in [1, 1048576]", optarg);
            break;
        case O_THREADS:
            if (rk_cli_parse_i64(optarg, 1, 4096, &threads)) return rk_cli_usage_error("perplexity", "--threads: '%s' is not a whole number in [1, 4096]", optarg);
            break;
        case O_JSON: json = 1; break;
        case O_ROUTING: routing = 1; break;
        case O_NOMMAP: rk_map_use_memory(); break;
        default: return rk_cli_usage_error("perplexity", "bad option");
        }
    }
    if (optind != argc - 1) return rk_cli_usage_error("perplexity", "expected one MODEL");
    if (!text_path) return rk_cli_usage_error("perplexity", "--text FILE is required");
    if (threads) omp_set_num_threads((int)threads);

    rk_err err;
    rk_err_clear(&err);
    rk_model *m = NULL;
    rk_tokenizer *tok = NULL;
    char *text = NULL;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    uint64_t text_len = 0;
    rk_ppl_result res;
    memset(&res, 0, sizeof res);
    int rc = 0;
    if ((rc = rk_read_file(text_path, (uint64_t)1 << 32, &text, &text_len, &err))) goto fail;
    if ((rc = rk_model_load(&m, argv[optind], &err))) goto fail;
    if (rk_model_notes(m)[0]) fprintf(stderr, "%s\n", rk_model_notes(m));
    if ((rc = rk_tokenizer_load(&tok, argv[optind], &err))) goto fail;
    if ((rc = rk_tokenizer_encode(tok, text, (size_t)text_len, 1, &ids, &n_ids, &err))) goto fail;
    for (size_t i = 0; i < n_ids; i++)
        if (ids[i] < 0 || ids[i] >= rk_model_vocab(m)) {
            rc = rk_err_set(&err, RK_ECORRUPT, UINT64_MAX, "%s: token id %d is outside the model's vocabulary of %lld",
                            argv[optind], ids[i], (long long)rk_model_vocab(m));
            goto fail;
        }
    fprintf(stderr, "%s: %zu tokens, ctx %lld, %s kernels, %d threads\n", text_path, n_ids, (long long)n_ctx, rk_kernels_isa(),
            omp_get_max_threads());
    rk_ppl_opts po = { n_ctx, n_chunks, n_batch, rk_tokenizer_leading_bos(tok) };
    if ((rc = rk_perplexity(m, ids, (int64_t)n_ids, &po, on_chunk, NULL, NULL, &res, &err))) goto fail;
    if (json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "model", argv[optind]);
        cJSON_AddStringToObject(j, "text", text_path);
        cJSON_AddNumberToObject(j, "n_tokens", (double)res.n_tokens);
        cJSON_AddNumberToObject(j, "n_ctx", (double)n_ctx);
        cJSON_AddNumberToObject(j, "n_chunks", (double)res.n_chunks);
        cJSON_AddNumberToObject(j, "scored_tokens", (double)res.count);
        cJSON_AddNumberToObject(j, "ppl", res.ppl);
        cJSON_AddNumberToObject(j, "ppl_err", res.ppl_err);
        cJSON_AddNumberToObject(j, "nll_mean", res.nll_mean);
        cJSON *a = cJSON_AddArrayToObject(j, "chunk_ppl");
        for (int64_t i = 0; i < res.n_chunks; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(res.chunk_ppl[i]));
        cJSON_AddNumberToObject(j, "seconds", res.seconds);
        if (routing) {
            cJSON *r = cJSON_AddObjectToObject(j, "routing");
            for (int64_t il = 0; il < rk_model_layers(m); il++) {
                rk_routing rt;
                if (rk_model_routing(m, il, &rt)) continue;
                char k[32];
                snprintf(k, sizeof k, "%lld", (long long)il);
                cJSON *arr = cJSON_AddArrayToObject(r, k);
                for (int64_t e = 0; e < rt.n_experts; e++) cJSON_AddItemToArray(arr, cJSON_CreateNumber((double)rt.count[e]));
            }
        }
        char *s = cJSON_PrintUnformatted(j);
        if (s) puts(s);
        free(s);
        cJSON_Delete(j);
    } else {
        printf("Final estimate: PPL = %.4f +/- %.5f\n", res.ppl, res.ppl_err);
        if (routing) print_routing(m);
    }
    fprintf(stderr, "%lld tokens scored in %.2f s (%.1f tokens/s processed)\n", (long long)res.count, res.seconds,
            (double)(res.n_chunks * n_ctx) / (res.seconds > 0 ? res.seconds : 1));
fail:
    rk_ppl_result_free(&res);
    free(ids);
    free(text);
    rk_tokenizer_free(tok);
    rk_model_free(m);
    if (rc) return err.code == RK_EINVAL ? (fprintf(stderr, "r1kit perplexity: error: %s\n", err.msg), RK_EXIT_USAGE)
                                         : rk_cli_fail("perplexity", &err);
    return 0;
}
