/* cli/train.c — `r1kit train`: pretrain a model of any supported architecture on a text corpus (model/trainloop.h),
 * writing an HF folder (config.json, model.safetensors, tokenizer files, generation_config.json) that every r1kit
 * command and Hugging Face load. */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "model/data.h"
#include "model/kernels.h"
#include "model/tokenizer.h"
#include "model/train.h"
#include "model/trainloop.h"

const char rk_usage_train[] =
    "usage: r1kit train (--config CONFIG.json | --init MODEL) --text FILE [--text FILE ...] --out DIR [options]\n"
    "\n"
    "Train a deepseek_v3/v2, qwen2 or llama model on text with AdamW (warmup + cosine), gradient clipping and\n"
    "accumulation; for MoE models, DeepSeek-V3's auxiliary-loss-free expert balancing (and optionally its small\n"
    "sequence-wise balance loss). A progress line on a terminal, JSON lines otherwise (and with --log). Checkpoints\n"
    "go to DIR/checkpoints atomically; --resume continues after an interruption (even kill -9) to the same weights\n"
    "an uninterrupted run gives (same options and thread count). At the end DIR is a Hugging Face folder.\n"
    "\n"
    "model and data:\n"
    "  --config FILE       config.json of a fresh model (random init, --init-seed)\n"
    "  --init MODEL        start from a checkpoint instead (HF folder, any dtype)\n"
    "  --tokenizer PATH    tokenizer.json or its folder (default: the --init model's, or beside --config)\n"
    "  --text FILE         training text (repeatable; files are joined with EOS)\n"
    "  --heldout FILE      held-out text for evaluation (default: --holdout of the training text)\n"
    "  --holdout F         fraction of 4096-token blocks held out (default 0.05)\n"
    "  --out DIR           output folder (created)\n"
    "  --init-seed N       seed of fresh weights (default 1)\n"
    "  --no-bos            keep each window's first token (default: replace it by BOS when the tokenizer adds\n"
    "                      one, as generation and llama-perplexity start sequences)\n"
    "  --save-dtype T      final weights: f32 (default), bf16, or fp8 (R1's release layout)\n"
    RK_CLI_LOOP_HELP;

int rk_cmd_train(int argc, char **argv) {
    enum { O_CONFIG = 256, O_INIT, O_TOK, O_TEXT, O_HELDOUT, O_HOLDOUT, O_OUT, O_ISEED, O_DTYPE, O_NOBOS };
    static const struct option own[] = {
        { "config", 1, 0, O_CONFIG }, { "init", 1, 0, O_INIT }, { "tokenizer", 1, 0, O_TOK }, { "text", 1, 0, O_TEXT },
        { "heldout", 1, 0, O_HELDOUT }, { "holdout", 1, 0, O_HOLDOUT }, { "out", 1, 0, O_OUT },
        { "init-seed", 1, 0, O_ISEED }, { "save-dtype", 1, 0, O_DTYPE }, { "no-bos", 0, 0, O_NOBOS }, { 0, 0, 0, 0 },
    };
    struct option opts[64];
    rk_cli_merge_options(opts, 64, own);
    const char *config = NULL, *init = NULL, *tok_path = NULL, *heldout = NULL, *out = NULL;
    const char *texts[64];
    int n_texts = 0, c, save_dtype = RK_DTYPE_F32, no_bos = 0;
    double holdout = 0.05;
    uint64_t init_seed = 1;
    rk_cli_loop_args la = { 0 };
    rk_loop_defaults(&la.lo);
    rk_loop_opts lo;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case O_CONFIG: config = optarg; break;
        case O_INIT: init = optarg; break;
        case O_TOK: tok_path = optarg; break;
        case O_TEXT:
            if (n_texts == 64) return rk_cli_usage_error("train", "at most 64 --text files");
            texts[n_texts++] = optarg;
            break;
        case O_HELDOUT: heldout = optarg; break;
        case O_HOLDOUT:
            if (rk_cli_parse_f64(optarg, 0.0, 0.5, &holdout)) return rk_cli_usage_error("train", "--holdout: '%s' is not a number in [0, 0.5]", optarg);
            break;
        case O_OUT: out = optarg; break;
        case O_ISEED:
            if (rk_cli_parse_u64(optarg, 0, UINT64_MAX, &init_seed)) return rk_cli_usage_error("train", "--init-seed: '%s' is not a whole number", optarg);
            break;
        case O_DTYPE:
            if (!strcmp(optarg, "f32")) save_dtype = RK_DTYPE_F32;
            else if (!strcmp(optarg, "bf16")) save_dtype = RK_DTYPE_BF16;
            else if (!strcmp(optarg, "fp8")) save_dtype = RK_DTYPE_F8_E4M3;
            else return rk_cli_usage_error("train", "--save-dtype: '%s' is not f32, bf16 or fp8", optarg);
            break;
        case O_NOBOS: no_bos = 1; break;
        default: {
            int r = c >= RK_OPT_STEPS && c < RK_OPT_LOOP_END ? rk_cli_loop_option("train", c, optarg, &la)
                                                               : rk_cli_usage_error("train", "bad option");
            if (r) return r;
        }
        }
    }
    if (optind != argc) return rk_cli_usage_error("train", "unexpected argument '%s'", argv[optind]);
    if (!config == !init) return rk_cli_usage_error("train", "give exactly one of --config FILE and --init MODEL");
    if (!n_texts) return rk_cli_usage_error("train", "--text FILE is required");
    if (!out) return rk_cli_usage_error("train", "--out DIR is required");
    rk_cli_loop_finish(&la);
    lo = la.lo;
    const char *log_path = la.log_path;
    if (la.threads) omp_set_num_threads((int)la.threads);
    lo.out_dir = out;
    lo.progress = isatty(2);

    rk_err err;
    rk_err_clear(&err);
    rk_train *t = NULL;
    rk_tokenizer *tok = NULL;
    rk_data *d = NULL;
    FILE *logf = NULL;
    char *tdir = NULL;
    int rc = 0;
    if (!tok_path) tdir = rk_cli_dir_of(init ? init : config);
    if ((rc = rk_tokenizer_load(&tok, tok_path ? tok_path : tdir, &err))) goto fail;
    if (init) rc = rk_train_load(&t, init, &err);
    else rc = rk_train_new(&t, config, init_seed, &err);
    if (rc) goto fail;
    if (rk_tokenizer_vocab_size(tok) > rk_train_config(t)->vocab_size) {
        rc = rk_err_set(&err, RK_EINVAL, UINT64_MAX, "the tokenizer has %lld tokens, more than the model's vocab_size %lld",
                        (long long)rk_tokenizer_vocab_size(tok), (long long)rk_train_config(t)->vocab_size);
        goto fail;
    }
    /* windows start with BOS when the tokenizer adds one (what generate and perplexity feed the model) */
    const int32_t bos = no_bos ? -1 : rk_tokenizer_leading_bos(tok);
    lo.first_token = bos;
    rk_data_opts dop = { holdout, 0, heldout, bos >= 0, bos };
    if ((rc = rk_data_open(&d, texts, n_texts, tok, &dop, &err))) goto fail;
    if (mkdir(out, 0755) != 0 && errno != EEXIST) {
        rc = rk_err_file(&err, RK_EIO, out, UINT64_MAX, "cannot create the folder: %s", strerror(errno));
        goto fail;
    }
    if (log_path && !(logf = fopen(log_path, lo.resume ? "a" : "w"))) {
        rc = rk_err_file(&err, RK_EIO, log_path, UINT64_MAX, "cannot open for writing");
        goto fail;
    }
    lo.json = logf ? logf : (lo.progress ? NULL : stdout);
    {
        int64_t np;
        rk_train_params(t, &np);
        fprintf(stderr, "%s: %s, %lld parameters (%lld active per token); %lld training tokens, %lld held out; %s kernels, %d threads\n",
                out, rk_train_config(t)->model_type, (long long)np, (long long)rk_train_active_params(t),
                (long long)rk_data_train_tokens(d), (long long)rk_data_heldout_tokens(d), rk_kernels_isa(), omp_get_max_threads());
    }
    rk_loop_result res;
    if ((rc = rk_loop_run(t, d, &lo, &res, &err))) goto fail;
    if (res.steps_done >= lo.steps) {
        if ((rc = rk_train_save(t, out, save_dtype, &err))) goto fail;
        char *src_dir = tok_path ? rk_cli_dir_of(tok_path) : strdup(tdir);
        rc = src_dir ? rk_cli_write_model_extras(out, src_dir, tok, &err) : rk_err_set(&err, RK_ENOMEM, UINT64_MAX, "out of memory");
        free(src_dir);
        if (rc) goto fail;
        fprintf(stderr, "trained %lld steps in %.1f s (%.0f tokens/s); held-out loss %.4f (ppl %.3f); saved %s\n",
                (long long)res.steps_done, res.seconds, res.tokens_per_s, res.eval_loss, exp(res.eval_loss), out);
    } else {
        fprintf(stderr, "stopped at step %lld of %lld (checkpoint in %s/checkpoints; continue with --resume)\n",
                (long long)res.steps_done, (long long)lo.steps, out);
    }
fail:
    if (logf) fclose(logf);
    free(tdir);
    rk_data_free(d);
    rk_train_free(t);
    rk_tokenizer_free(tok);
    if (rc) return rk_cli_fail("train", &err);
    return 0;
}
