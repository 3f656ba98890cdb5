/* cli/imatrix.c — `r1kit imatrix MODEL --text FILE -o FILE`: the importance matrix of MODEL on a text, in
 * llama.cpp's GGUF imatrix format (llama-quantize --imatrix reads it). The text is run exactly as
 * `r1kit perplexity` (and llama-imatrix) runs it: n_ctx-token chunks from an empty cache, BOS first; every
 * token of every chunk feeds the statistics. Format and caveats: docs/imatrix.md. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "model/model.h"
#include "model/perplexity.h"
#include "model/tokenizer.h"
#include "quantize/imatrix.h"

const char rk_usage_imatrix[] =
    "usage: r1kit imatrix MODEL --text FILE -o FILE [--ctx N] [--chunks K] [--threads N]\n"
    "\n"
    "Importance matrix of MODEL on a text: for every linear weight, the sum of squares of each input column over\n"
    "the tokens it saw (routed experts: over exactly the tokens routed to each), saved in llama.cpp's GGUF imatrix\n"
    "format, which `llama-quantize --imatrix FILE` reads. Tensors are named as in the GGUF `r1kit convert` writes.\n"
    "The text is cut into chunks of --ctx tokens as llama-imatrix does (each from an empty cache, first token BOS);\n"
    "a progress line per chunk goes to stderr, a summary (tensors, tokens, experts that never fired) to stdout.\n"
    "MoE extras (per-layer routing counts and gate-weight sums) are stored as r1kit.imatrix.* keys.\n"
    "\n"
    "  --text FILE     UTF-8 text (required; at least 2 x ctx tokens)\n"
    "  -o, --output F  the imatrix file to write (required; written through a temp file)\n"
    "  --ctx N         tokens per chunk (default 512)\n"
    "  --chunks K      use at most K chunks (default: all)\n"
    "  --threads N     OpenMP threads (default: all cores)\n"
    "\n"
    "exit codes: 0 ok, 2 usage (also: text too short), 3 bad model/text, 4 cannot read or write a file, 5 out of memory\n";

typedef struct progress_ctx { const rk_imatrix *im; int64_t n_ctx; } progress_ctx;

static void on_chunk(void *user, const rk_ppl_chunk *c) {
    progress_ctx *p = user;
    fprintf(stderr, "[%lld/%lld] %lld tokens, %zu tensors, PPL %.4f, %.2f s\n", (long long)c->index + 1, (long long)c->n_chunks,
            (long long)((c->index + 1) * p->n_ctx), rk_imatrix_count(p->im), c->running_ppl, c->seconds);
}

/* The output must be creatable before hours of compute: its folder exists and is writable, it is no folder. */
static int check_output(const char *out, rk_err *err) {
    if (rk_is_dir(out)) return rk_err_file(err, RK_EIO, out, UINT64_MAX, "is a folder; give a file name for the imatrix");
    char *copy = rk_strdup(out);
    if (!copy) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
    const char *dir = dirname(copy);
    int rc = 0;
    if (access(dir, W_OK | X_OK) != 0) rc = rk_err_file(err, RK_EIO, out, UINT64_MAX, "cannot write in folder '%s': %s", dir, strerror(errno));
    free(copy);
    return rc;
}

/* per MoE layer: experts that never fired, and the three least used */
static void print_routing(const rk_imatrix *im) {
    size_t nr = rk_imatrix_routing_count(im);
    if (!nr) return;
    int64_t never_total = 0;
    printf("expert use per MoE layer (selections; never fired / least used):\n");
    for (size_t i = 0; i < nr; i++) {
        rk_imatrix_routing r;
        rk_imatrix_routing_at(im, i, &r);
        int64_t never = 0;
        printf("  layer %lld: %llu tokens; never fired:", (long long)r.layer, (unsigned long long)r.tokens);
        for (int64_t e = 0; e < r.n_experts; e++)
            if (!r.count[e]) printf(" %lld", (long long)e), never++;
        if (!never) printf(" none");
        never_total += never;
        printf("; least used:");
        unsigned char *shown = calloc((size_t)r.n_experts, 1);
        for (int k = 0; k < 3 && shown; k++) {
            int64_t best = -1;
            for (int64_t e = 0; e < r.n_experts; e++)
                if (r.count[e] && !shown[e] && (best < 0 || r.count[e] < r.count[best])) best = e;
            if (best < 0) break;
            shown[best] = 1;
            printf(" %lld (%llu)", (long long)best, (unsigned long long)r.count[best]);
        }
        free(shown);
        printf("\n");
    }
    printf("experts that never fired: %lld (their importance falls back to the mean of the layer's other experts)\n",
           (long long)never_total);
}

int rk_cmd_imatrix(int argc, char **argv) {
    enum { O_TEXT = 256, O_CTX, O_CHUNKS, O_THREADS };
    static const struct option opts[] = {
        { "text", required_argument, 0, O_TEXT }, { "output", required_argument, 0, 'o' },
        { "ctx", required_argument, 0, O_CTX }, { "chunks", required_argument, 0, O_CHUNKS },
        { "threads", required_argument, 0, O_THREADS }, { 0, 0, 0, 0 },
    };
    const char *text_path = NULL, *out_path = NULL;
    int64_t n_ctx = 512, n_chunks = -1, threads = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
        switch (c) {
        case O_TEXT: text_path = optarg; break;
        case 'o': out_path = optarg; break;
        case O_CTX:
            if (rk_cli_parse_i64(optarg, 4, 1 << 20, &n_ctx)) return rk_cli_usage_error("imatrix", "--ctx: '%s' is not a whole number in [4, 1048576]", optarg);
            break;
        case O_CHUNKS:
            if (rk_cli_parse_i64(optarg, 1, INT64_MAX, &n_chunks)) return rk_cli_usage_error("imatrix", "--chunks: '%s' is not a positive whole number", optarg);
            break;
        case O_THREADS:
            if (rk_cli_parse_i64(optarg, 1, 4096, &threads)) return rk_cli_usage_error("imatrix", "--threads: '%s' is not a whole number in [1, 4096]", optarg);
            break;
        default: return rk_cli_usage_error("imatrix", "bad option");
        }
    }
    if (optind != argc - 1) return rk_cli_usage_error("imatrix", "expected one MODEL");
    if (!text_path) return rk_cli_usage_error("imatrix", "--text FILE is required");
    if (!out_path) return rk_cli_usage_error("imatrix", "-o FILE (the imatrix to write) is required");
    if (threads) omp_set_num_threads((int)threads);

    const char *model_path = argv[optind];
    rk_err err;
    rk_err_clear(&err);
    rk_model *m = NULL;
    rk_tokenizer *tok = NULL;
    rk_imatrix *im = NULL;
    char *text = NULL;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    uint64_t text_len = 0;
    rk_ppl_result res;
    memset(&res, 0, sizeof res);
    int rc = 0;
    if ((rc = check_output(out_path, &err))) goto fail;
    if ((rc = rk_read_file(text_path, (uint64_t)1 << 32, &text, &text_len, &err))) {
        if (rc == RK_ENOTFOUND) rc = err.code = RK_EIO;   /* a text that cannot be opened is an I/O error (exit 4) */
        goto fail;
    }
    if ((rc = rk_model_load(&m, model_path, &err))) goto fail;
    if (rk_model_notes(m)[0]) fprintf(stderr, "%s\n", rk_model_notes(m));
    if ((rc = rk_tokenizer_load(&tok, model_path, &err))) goto fail;
    if ((rc = rk_tokenizer_encode(tok, text, (size_t)text_len, 1, &ids, &n_ids, &err))) goto fail;
    for (size_t i = 0; i < n_ids; i++)
        if (ids[i] < 0 || ids[i] >= rk_model_vocab(m)) {
            rc = rk_err_set(&err, RK_ECORRUPT, UINT64_MAX, "%s: token id %d is outside the model's vocabulary of %lld", model_path,
                            ids[i], (long long)rk_model_vocab(m));
            goto fail;
        }
    if ((rc = rk_imatrix_new(&im, &err)) || (rc = rk_imatrix_add_dataset(im, text_path, &err))) goto fail;
    fprintf(stderr, "%s: %zu tokens, ctx %lld, %d threads\n", text_path, n_ids, (long long)n_ctx, omp_get_max_threads());
    /* logits rows per forward: all of a chunk, unless that passes ~64 MB */
    int64_t n_batch = ((int64_t)16 << 20) / (rk_model_vocab(m) > 0 ? rk_model_vocab(m) : 1);
    if (n_batch < 1) n_batch = 1;
    rk_ppl_opts po = { n_ctx, n_chunks, n_batch < n_ctx ? n_batch : n_ctx, rk_tokenizer_leading_bos(tok) };
    progress_ctx pc = { im, n_ctx };
    rk_model_routing_reset(m);
    rk_imatrix_attach(im, m);
    rc = rk_perplexity(m, ids, (int64_t)n_ids, &po, on_chunk, NULL, &pc, &res, &err);
    rk_imatrix_detach(im, m);
    if (rc) goto fail;
    if ((rc = rk_imatrix_status(im, &err)) || (rc = rk_imatrix_take_routing(im, m, &err))) goto fail;
    rk_imatrix_set_chunks(im, (uint32_t)res.n_chunks, (uint32_t)n_ctx);
    if ((rc = rk_imatrix_save(im, out_path, &err))) goto fail;

    int64_t partial = 0;
    for (size_t i = 0; i < rk_imatrix_count(im); i++) {
        rk_imatrix_entry e;
        rk_imatrix_entry_at(im, i, &e);
        for (int64_t k = 0; k < e.n_mat; k++)
            if (e.count[k] == 0) { partial++; break; }
    }
    printf("saved %s: %zu tensors, %lld tokens in %lld chunks of %lld (PPL %.4f)\n", out_path, rk_imatrix_count(im),
           (long long)(res.n_chunks * n_ctx), (long long)res.n_chunks, (long long)n_ctx, res.ppl);
    if (partial) printf("%lld stacked-expert tensors have experts without data\n", (long long)partial);
    print_routing(im);
    if (rk_model_config(m)->arch == RK_HF_ARCH_DEEPSEEK2)
        printf("note: attn_k_b has no entry (its llama.cpp input is not observable here; see docs/imatrix.md)\n");
fail:
    rk_ppl_result_free(&res);
    free(ids);
    free(text);
    rk_imatrix_free(im);
    rk_tokenizer_free(tok);
    rk_model_free(m);
    if (rc) return err.code == RK_EINVAL ? (fprintf(stderr, "r1kit imatrix: error: %s\n", err.msg), RK_EXIT_USAGE)
                                         : rk_cli_fail("imatrix", &err);
    return 0;
}
