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
    "optimisation:\n"
    "  --steps N           optimizer steps (default 1000)\n"
    "  --batch B           sequences per micro-batch (default 8)\n"
    "  --seq T             tokens per sequence (default 256)\n"
    "  --accum A           micro-batches per step (default 1)\n"
    "  --lr X              peak learning rate (default 1e-3); --min-lr X final (default lr/10)\n"
    "  --warmup N          warmup steps (default 100)\n"
    "  --wd X              AdamW weight decay on matrices (default 0.1); --beta1/--beta2/--adam-eps\n"
    "  --clip X            global gradient-norm clip (default 1.0; 0 = off)\n"
    "  --gamma X           expert bias update speed (default 0.001; 0 = off)\n"
    "  --aux-alpha X       sequence-wise balance loss weight (default 0)\n"
    "  --seed N            batch sampling seed (default 1); --init-seed N for fresh weights (default 1)\n"
    "  --no-bos            keep each window's first token (default: replace it by BOS when the tokenizer adds\n"
    "                      one, as generation and llama-perplexity start sequences)\n"
    "run:\n"
    "  --eval-every N      held-out evaluation every N steps (default 100); --eval-windows K (default 64)\n"
    "  --ckpt-every N      checkpoint every N steps (default 200)\n"
    "  --resume            continue from DIR/checkpoints/latest\n"
    "  --stop-after N      stop after N steps of this run, with a checkpoint (for testing resume)\n"
    "  --save-dtype T      final weights: f32 (default), bf16, or fp8 (R1's release layout)\n"
    "  --threads N         OpenMP threads (default: all cores)\n"
    "  --log FILE          also write JSON log lines to FILE; --log-every N steps between them (default 10)\n";

static int copy_file(const char *src, const char *dst, rk_err *err) {
    char *buf = NULL;
    uint64_t n = 0;
    int rc = rk_read_file(src, (uint64_t)1 << 31, &buf, &n, err);
    if (rc) return rc;
    rc = rk_write_file_atomic(dst, buf, (size_t)n, err);
    free(buf);
    return rc;
}

static char *dir_of(const char *path) {
    struct stat st;
    if (!stat(path, &st) && S_ISDIR(st.st_mode)) return strdup(path);
    const char *s = strrchr(path, '/');
    return s ? strndup(path, (size_t)(s - path)) : strdup(".");
}

static int write_generation_config(const char *out, const rk_tokenizer *tok, rk_err *err) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "_from_model_config", 1);
    if (rk_tokenizer_bos_id(tok) >= 0) cJSON_AddNumberToObject(j, "bos_token_id", rk_tokenizer_bos_id(tok));
    if (rk_tokenizer_eos_id(tok) >= 0) cJSON_AddNumberToObject(j, "eos_token_id", rk_tokenizer_eos_id(tok));
    cJSON_AddBoolToObject(j, "do_sample", 1);
    cJSON_AddNumberToObject(j, "temperature", 0.6);
    cJSON_AddNumberToObject(j, "top_p", 0.95);
    char *txt = cJSON_Print(j), *p = rk_path_join(out, "generation_config.json");
    cJSON_Delete(j);
    int rc = !txt || !p ? rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory") : rk_write_file_atomic(p, txt, strlen(txt), err);
    free(txt), free(p);
    return rc;
}

int rk_cmd_train(int argc, char **argv) {
    enum { O_CONFIG = 256, O_INIT, O_TOK, O_TEXT, O_HELDOUT, O_HOLDOUT, O_OUT, O_STEPS, O_BATCH, O_SEQ, O_ACCUM, O_LR,
           O_MINLR, O_WARMUP, O_WD, O_B1, O_B2, O_AEPS, O_CLIP, O_GAMMA, O_AUX, O_SEED, O_ISEED, O_EVAL, O_EVALW,
           O_CKPT, O_RESUME, O_STOP, O_DTYPE, O_THREADS, O_LOG, O_LOGEVERY, O_NOBOS };
    static const struct option opts[] = {
        { "config", 1, 0, O_CONFIG }, { "init", 1, 0, O_INIT }, { "tokenizer", 1, 0, O_TOK }, { "text", 1, 0, O_TEXT },
        { "heldout", 1, 0, O_HELDOUT }, { "holdout", 1, 0, O_HOLDOUT }, { "out", 1, 0, O_OUT }, { "steps", 1, 0, O_STEPS },
        { "batch", 1, 0, O_BATCH }, { "seq", 1, 0, O_SEQ }, { "accum", 1, 0, O_ACCUM }, { "lr", 1, 0, O_LR },
        { "min-lr", 1, 0, O_MINLR }, { "warmup", 1, 0, O_WARMUP }, { "wd", 1, 0, O_WD }, { "beta1", 1, 0, O_B1 },
        { "beta2", 1, 0, O_B2 }, { "adam-eps", 1, 0, O_AEPS }, { "clip", 1, 0, O_CLIP }, { "gamma", 1, 0, O_GAMMA },
        { "aux-alpha", 1, 0, O_AUX }, { "seed", 1, 0, O_SEED }, { "init-seed", 1, 0, O_ISEED },
        { "eval-every", 1, 0, O_EVAL }, { "eval-windows", 1, 0, O_EVALW }, { "ckpt-every", 1, 0, O_CKPT },
        { "resume", 0, 0, O_RESUME }, { "stop-after", 1, 0, O_STOP }, { "save-dtype", 1, 0, O_DTYPE },
        { "threads", 1, 0, O_THREADS }, { "log", 1, 0, O_LOG }, { "log-every", 1, 0, O_LOGEVERY },
        { "no-bos", 0, 0, O_NOBOS }, { 0, 0, 0, 0 },
    };
    const char *config = NULL, *init = NULL, *tok_path = NULL, *heldout = NULL, *out = NULL, *log_path = NULL;
    const char *texts[64];
    int n_texts = 0, c, min_lr_set = 0, save_dtype = RK_DTYPE_F32, no_bos = 0;
    double holdout = 0.05;
    int64_t threads = 0;
    uint64_t init_seed = 1;
    rk_loop_opts lo;
    rk_loop_defaults(&lo);
#define NUM_I(dst, lo_, hi_, nm)                                                                                     \
    if (rk_cli_parse_i64(optarg, lo_, hi_, &(dst))) return rk_cli_usage_error("train", "--%s: '%s' is not a whole number in [%lld, %lld]", nm, optarg, (long long)(lo_), (long long)(hi_))
#define NUM_D(dst, lo_, hi_, nm)                                                                                     \
    do {                                                                                                             \
        char *e;                                                                                                     \
        errno = 0;                                                                                                   \
        double x_ = strtod(optarg, &e);                                                                              \
        if (e == optarg || *e || errno || !(x_ >= (lo_) && x_ <= (hi_)))                                             \
            return rk_cli_usage_error("train", "--%s: '%s' is not a number in [%g, %g]", nm, optarg, (double)(lo_), (double)(hi_)); \
        dst = x_;                                                                                                    \
    } while (0)
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
        case O_HOLDOUT: NUM_D(holdout, 0.0, 0.5, "holdout"); break;
        case O_OUT: out = optarg; break;
        case O_STEPS: NUM_I(lo.steps, 1, 1LL << 40, "steps"); break;
        case O_BATCH: NUM_I(lo.batch, 1, 1 << 16, "batch"); break;
        case O_SEQ: NUM_I(lo.seq, 2, 1 << 20, "seq"); break;
        case O_ACCUM: NUM_I(lo.accum, 1, 1 << 16, "accum"); break;
        case O_LR: NUM_D(lo.lr, 1e-12, 10.0, "lr"); break;
        case O_MINLR: NUM_D(lo.lr_min, 0.0, 10.0, "min-lr"); min_lr_set = 1; break;
        case O_WARMUP: NUM_I(lo.warmup, 0, 1LL << 40, "warmup"); break;
        case O_WD: NUM_D(lo.weight_decay, 0.0, 10.0, "wd"); break;
        case O_B1: NUM_D(lo.beta1, 0.0, 0.999999, "beta1"); break;
        case O_B2: NUM_D(lo.beta2, 0.0, 0.999999999, "beta2"); break;
        case O_AEPS: NUM_D(lo.eps, 1e-30, 1.0, "adam-eps"); break;
        case O_CLIP: NUM_D(lo.clip, 0.0, 1e9, "clip"); break;
        case O_GAMMA: NUM_D(lo.gamma, 0.0, 1.0, "gamma"); break;
        case O_AUX: NUM_D(lo.aux_alpha, 0.0, 10.0, "aux-alpha"); break;
        case O_SEED:
            if (rk_cli_parse_u64(optarg, 0, UINT64_MAX, &lo.seed)) return rk_cli_usage_error("train", "--seed: '%s' is not a whole number", optarg);
            break;
        case O_ISEED:
            if (rk_cli_parse_u64(optarg, 0, UINT64_MAX, &init_seed)) return rk_cli_usage_error("train", "--init-seed: '%s' is not a whole number", optarg);
            break;
        case O_EVAL: NUM_I(lo.eval_every, 0, 1LL << 40, "eval-every"); break;
        case O_EVALW: NUM_I(lo.eval_windows, 0, 1LL << 40, "eval-windows"); break;
        case O_CKPT: NUM_I(lo.ckpt_every, 0, 1LL << 40, "ckpt-every"); break;
        case O_RESUME: lo.resume = 1; break;
        case O_STOP: NUM_I(lo.stop_after, 1, 1LL << 40, "stop-after"); break;
        case O_DTYPE:
            if (!strcmp(optarg, "f32")) save_dtype = RK_DTYPE_F32;
            else if (!strcmp(optarg, "bf16")) save_dtype = RK_DTYPE_BF16;
            else if (!strcmp(optarg, "fp8")) save_dtype = RK_DTYPE_F8_E4M3;
            else return rk_cli_usage_error("train", "--save-dtype: '%s' is not f32, bf16 or fp8", optarg);
            break;
        case O_THREADS: NUM_I(threads, 1, 4096, "threads"); break;
        case O_LOG: log_path = optarg; break;
        case O_LOGEVERY: NUM_I(lo.log_every, 1, 1LL << 40, "log-every"); break;
        case O_NOBOS: no_bos = 1; break;
        default: return rk_cli_usage_error("train", "bad option");
        }
    }
#undef NUM_I
#undef NUM_D
    if (optind != argc) return rk_cli_usage_error("train", "unexpected argument '%s'", argv[optind]);
    if (!config == !init) return rk_cli_usage_error("train", "give exactly one of --config FILE and --init MODEL");
    if (!n_texts) return rk_cli_usage_error("train", "--text FILE is required");
    if (!out) return rk_cli_usage_error("train", "--out DIR is required");
    if (!min_lr_set) lo.lr_min = lo.lr / 10;
    if (lo.warmup > lo.steps) lo.warmup = lo.steps;
    if (threads) omp_set_num_threads((int)threads);
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
    if (!tok_path) tdir = dir_of(init ? init : config);
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
        char *src_dir = tok_path ? dir_of(tok_path) : strdup(tdir);
        const char *files[2] = { "tokenizer.json", "tokenizer_config.json" };
        for (int i = 0; i < 2 && !rc && src_dir; i++) {
            char *s = rk_path_join(src_dir, files[i]), *dd = rk_path_join(out, files[i]);
            if (s && dd && rk_file_exists(s) && strcmp(s, dd)) rc = copy_file(s, dd, &err);
            free(s), free(dd);
        }
        free(src_dir);
        if (!rc) rc = write_generation_config(out, tok, &err);
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
