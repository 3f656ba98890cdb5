/* cli/distill.c — `r1kit distill`: train a small dense student (qwen2 / llama, shaped like the R1-Distill students)
 * from a teacher the engine runs, in one process: live or cached teacher targets, sequence-level data from teacher
 * completions, on-policy mixing; the training loop of `r1kit train` (checkpoints, --resume, JSON log); at the end an
 * HF folder, a GGUF and a loss-curve page. See distill/distill.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "convert/convert.h"
#include "distill/curve.h"
#include "distill/distill.h"
#include "distill/teacher_cache.h"
#include "model/data.h"
#include "model/kernels.h"
#include "model/train.h"
#include "verify/basefile.h"

const char rk_usage_distill[] =
    "usage: r1kit distill --teacher MODEL (--student-config C | --student S) --text FILE --out DIR [options]\n"
    "       r1kit distill --teacher MODEL --text FILE --save-teacher FILE [--top-k K] [--seq T]\n"
    "\n"
    "Distil a dense student from a teacher (anything r1kit runs: the FP8 original, a quantized GGUF, an HF folder),\n"
    "both in this process. Loss: alpha x cross-entropy on the text + (1 - alpha) x a divergence to the teacher's\n"
    "next-token distribution (forward KL, reverse KL or generalized JSD, with temperature). The same training loop as\n"
    "`r1kit train`: AdamW, warmup + cosine, clipping, accumulation, held-out evaluation (perplexity, KLD to the\n"
    "teacher, top-1 agreement), atomic checkpoints, --resume bit-identical after kill -9, a JSON log (DIR/log.jsonl).\n"
    "At the end DIR is a Hugging Face folder (config.json, model.safetensors, tokenizer.json) with a GGUF beside it\n"
    "(DIR/model.gguf) and DIR/curve.html (loss curves).\n"
    "\n"
    "teacher and student:\n"
    "  --teacher MODEL       the teacher\n"
    "  --student-config C    a config.json, or a preset scaled to the teacher: qwen2-small, qwen2-tiny (qwen2: GQA,\n"
    "                        q/k/v biases, tied embeddings), llama-small, llama-tiny (llama3 rope, untied)\n"
    "  --student S           start from a checkpoint (HF folder); with --student-config too, the two must agree\n"
    "  --init-seed N         seed of fresh weights (default 1)\n"
    "  --tokenizer PATH      the teacher's tokenizer.json (or folder) for the export, when the teacher is a GGUF\n"
    "data:\n"
    "  --text FILE           training text (repeatable)\n"
    "  --heldout FILE        held-out text (default: --holdout of the training text)\n"
    "  --holdout F           fraction held out (default 0.05)\n"
    "  --prompts FILE        sequence-level distillation: the teacher first completes every line of FILE (written to\n"
    "                        DIR/teacher-completions.txt) and the student trains on that text too (or only on it,\n"
    "                        without --text)\n"
    "  --gen-tokens N        tokens per completion (default 128); --gen-temp X (default 0.6), --gen-top-p X\n"
    "                        (default 0.95), --gen-seed N (default 1)\n"
    "loss:\n"
    "  --alpha A             weight of cross-entropy on the text, in [0, 1] (default 0: distillation only;\n"
    "                        1: the cross-entropy-only twin, same tokens and steps)\n"
    "  --loss L              forward-kl (default), reverse-kl or jsd\n"
    "  --temperature T       softmax temperature of both distributions (default 1; the loss is scaled by T^2)\n"
    "  --beta B              jsd: the mixture weight, in (0, 1) (default 0.5)\n"
    "  --on-policy L         fraction of micro-batches continued by the student itself and scored by the teacher\n"
    "                        (GKD; default 0); --prefix P data tokens kept before the student's sample (default seq/2)\n"
    "teacher cache:\n"
    "  --save-teacher FILE   store the teacher's top-k log-probs + rest for every training window (zlib, checksummed);\n"
    "                        then train from it, or stop there without a student\n"
    "  --top-k K             entries per token in the cache (default 32)\n"
    "  --teacher-cache FILE  train from a cache (--teacher is then optional: it adds held-out KLD and on-policy)\n"
    RK_CLI_LOOP_HELP
    "export:\n"
    "  --save-dtype T        bf16 (default) or f32 for DIR/model.safetensors\n"
    "  --gguf FILE           the GGUF (default DIR/model.gguf); --no-gguf to skip it\n";

typedef struct prog { const char *what; } prog;
static void progress(void *u, int64_t i, int64_t n) {
    const prog *p = u;
    if (isatty(2) && (i == n || i % 16 == 0)) fprintf(stderr, "\r%s: %lld/%lld windows", p->what, (long long)i, (long long)n);
    if (isatty(2) && i == n) fprintf(stderr, "\n");
}

static int parse_loss(const char *s, int *kind) {
    if (!strcmp(s, "forward-kl") || !strcmp(s, "kl")) *kind = RK_KD_FORWARD_KL;
    else if (!strcmp(s, "reverse-kl")) *kind = RK_KD_REVERSE_KL;
    else if (!strcmp(s, "jsd")) *kind = RK_KD_JSD;
    else return -1;
    return 0;
}

/* a student config given with a checkpoint must describe the checkpoint */
static int same_shape(const rk_hf_config *a, const rk_hf_config *b, const char *cpath, const char *spath, rk_err *err) {
    const struct { const char *name; int64_t x, y; } f[] = {
        { "model_type", a->arch, b->arch }, { "vocab_size", a->vocab_size, b->vocab_size },
        { "hidden_size", a->hidden_size, b->hidden_size }, { "intermediate_size", a->intermediate_size, b->intermediate_size },
        { "num_hidden_layers", a->num_hidden_layers, b->num_hidden_layers },
        { "num_attention_heads", a->num_attention_heads, b->num_attention_heads },
        { "num_key_value_heads", a->num_key_value_heads, b->num_key_value_heads }, { "head_dim", a->head_dim, b->head_dim },
        { "tie_word_embeddings", a->tie_word_embeddings, b->tie_word_embeddings },
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (f[i].x != f[i].y)
            return rk_err_file(err, RK_EINVAL, cpath, UINT64_MAX, "%s is %lld, but the checkpoint %s has %lld", f[i].name,
                               (long long)f[i].x, spath, (long long)f[i].y);
    return 0;
}

int rk_cmd_distill(int argc, char **argv) {
    enum { O_TEACHER = 256, O_SCONFIG, O_STUDENT, O_ISEED, O_TEXT, O_HELDOUT, O_HOLDOUT, O_PROMPTS, O_GENTOK, O_GENTEMP,
           O_GENTOPP, O_GENSEED, O_ALPHA, O_LOSS, O_TEMP, O_BETA, O_ONP, O_PREFIX, O_SAVET, O_TOPK, O_TCACHE, O_OUT,
           O_DTYPE, O_GGUF, O_NOGGUF, O_TOK };
    static const struct option own[] = {
        { "teacher", 1, 0, O_TEACHER }, { "student-config", 1, 0, O_SCONFIG }, { "student", 1, 0, O_STUDENT },
        { "init-seed", 1, 0, O_ISEED }, { "text", 1, 0, O_TEXT }, { "heldout", 1, 0, O_HELDOUT },
        { "holdout", 1, 0, O_HOLDOUT }, { "prompts", 1, 0, O_PROMPTS }, { "gen-tokens", 1, 0, O_GENTOK },
        { "gen-temp", 1, 0, O_GENTEMP }, { "gen-top-p", 1, 0, O_GENTOPP }, { "gen-seed", 1, 0, O_GENSEED },
        { "alpha", 1, 0, O_ALPHA }, { "loss", 1, 0, O_LOSS }, { "temperature", 1, 0, O_TEMP }, { "beta", 1, 0, O_BETA },
        { "on-policy", 1, 0, O_ONP }, { "prefix", 1, 0, O_PREFIX }, { "save-teacher", 1, 0, O_SAVET },
        { "top-k", 1, 0, O_TOPK }, { "teacher-cache", 1, 0, O_TCACHE }, { "out", 1, 0, O_OUT },
        { "save-dtype", 1, 0, O_DTYPE }, { "gguf", 1, 0, O_GGUF }, { "no-gguf", 0, 0, O_NOGGUF }, { "tokenizer", 1, 0, O_TOK },
        { 0, 0, 0, 0 },
    };
    struct option opts[80];
    rk_cli_merge_options(opts, 80, own);
    const char *teacher_path = NULL, *sconfig = NULL, *student = NULL, *heldout = NULL, *prompts = NULL;
    const char *save_teacher = NULL, *tcache_path = NULL, *out = NULL, *gguf = NULL, *tok_opt = NULL;
    const char *texts[65];
    int n_texts = 0, c, save_dtype = RK_DTYPE_BF16, no_gguf = 0;
    double holdout = 0.05, gen_temp = 0.6, gen_top_p = 0.95;
    int64_t gen_tokens = 128, top_k = 32;
    uint64_t init_seed = 1, gen_seed = 1;
    rk_distill_opts dop = { 0 };
    dop.kd = (rk_kd_cfg){ RK_KD_FORWARD_KL, 1.0, 0.5 };
    rk_cli_loop_args la = { 0 };
    rk_loop_defaults(&la.lo);
#define F64(dst, lo_, hi_, nm)                                                                                       \
    if (rk_cli_parse_f64(optarg, lo_, hi_, &(dst)))                                                                  \
    return rk_cli_usage_error("distill", "--%s: '%s' is not a number in [%g, %g]", nm, optarg, (double)(lo_), (double)(hi_))
#define I64(dst, lo_, hi_, nm)                                                                                       \
    if (rk_cli_parse_i64(optarg, lo_, hi_, &(dst)))                                                                  \
    return rk_cli_usage_error("distill", "--%s: '%s' is not a whole number in [%lld, %lld]", nm, optarg, (long long)(lo_), (long long)(hi_))
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case O_TEACHER: teacher_path = optarg; break;
        case O_SCONFIG: sconfig = optarg; break;
        case O_STUDENT: student = optarg; break;
        case O_ISEED:
            if (rk_cli_parse_u64(optarg, 0, UINT64_MAX, &init_seed)) return rk_cli_usage_error("distill", "--init-seed: '%s' is not a whole number", optarg);
            break;
        case O_TEXT:
            if (n_texts == 64) return rk_cli_usage_error("distill", "at most 64 --text files");
            texts[n_texts++] = optarg;
            break;
        case O_HELDOUT: heldout = optarg; break;
        case O_HOLDOUT: F64(holdout, 0.0, 0.5, "holdout"); break;
        case O_PROMPTS: prompts = optarg; break;
        case O_GENTOK: I64(gen_tokens, 1, 1 << 20, "gen-tokens"); break;
        case O_GENTEMP: F64(gen_temp, 0.0, 100.0, "gen-temp"); break;
        case O_GENTOPP: F64(gen_top_p, 1e-6, 1.0, "gen-top-p"); break;
        case O_GENSEED:
            if (rk_cli_parse_u64(optarg, 0, UINT64_MAX, &gen_seed)) return rk_cli_usage_error("distill", "--gen-seed: '%s' is not a whole number", optarg);
            break;
        case O_ALPHA: F64(dop.alpha, 0.0, 1.0, "alpha"); break;
        case O_LOSS:
            if (parse_loss(optarg, &dop.kd.kind)) return rk_cli_usage_error("distill", "--loss: '%s' is not forward-kl, reverse-kl or jsd", optarg);
            break;
        case O_TEMP: F64(dop.kd.temperature, 1e-3, 1e3, "temperature"); break;
        case O_BETA: F64(dop.kd.beta, 1e-6, 1.0 - 1e-6, "beta"); break;
        case O_ONP: F64(dop.on_policy, 0.0, 1.0, "on-policy"); break;
        case O_PREFIX: I64(dop.prefix, 1, 1 << 20, "prefix"); break;
        case O_SAVET: save_teacher = optarg; break;
        case O_TOPK: I64(top_k, 1, 1 << 24, "top-k"); break;
        case O_TCACHE: tcache_path = optarg; break;
        case O_OUT: out = optarg; break;
        case O_DTYPE:
            if (!strcmp(optarg, "f32")) save_dtype = RK_DTYPE_F32;
            else if (!strcmp(optarg, "bf16")) save_dtype = RK_DTYPE_BF16;
            else return rk_cli_usage_error("distill", "--save-dtype: '%s' is not bf16 or f32", optarg);
            break;
        case O_GGUF: gguf = optarg; break;
        case O_NOGGUF: no_gguf = 1; break;
        case O_TOK: tok_opt = optarg; break;
        default: {
            int r = c >= RK_OPT_STEPS && c < RK_OPT_LOOP_END ? rk_cli_loop_option("distill", c, optarg, &la)
                                                               : rk_cli_usage_error("distill", "bad option");
            if (r) return r;
        }
        }
    }
#undef F64
#undef I64
    if (optind != argc) return rk_cli_usage_error("distill", "unexpected argument '%s'", argv[optind]);
    const int want_student = sconfig || student;
    if (!teacher_path && !tcache_path) return rk_cli_usage_error("distill", "--teacher MODEL (or --teacher-cache FILE) is required");
    if (!n_texts && !prompts) return rk_cli_usage_error("distill", "--text FILE (or --prompts FILE) is required");
    if (save_teacher && tcache_path) return rk_cli_usage_error("distill", "give --save-teacher or --teacher-cache, not both");
    if (save_teacher && !teacher_path) return rk_cli_usage_error("distill", "--save-teacher needs --teacher");
    if (!want_student && !save_teacher) return rk_cli_usage_error("distill", "--student-config C or --student S is required");
    if (want_student && !out) return rk_cli_usage_error("distill", "--out DIR is required");
    if (prompts && !out) return rk_cli_usage_error("distill", "--prompts needs --out DIR (the completions are written there)");
    if (dop.on_policy > 0 && !teacher_path) return rk_cli_usage_error("distill", "--on-policy needs --teacher (it scores the student's samples)");
    if (dop.alpha >= 1 && (save_teacher || tcache_path)) return rk_cli_usage_error("distill", "--alpha 1 trains without the teacher: no cache is used");
    if ((save_teacher || tcache_path) && dop.kd.temperature != 1.0)
        return rk_cli_usage_error("distill", "--temperature %g needs the live teacher: a cache keeps one rest bucket at temperature 1, which "
                                  "cannot be tempered (docs/distill-truncation.md)", dop.kd.temperature);
    rk_cli_loop_finish(&la);
    rk_loop_opts lo = la.lo;
    if (la.threads) omp_set_num_threads((int)la.threads);

    rk_err err;
    rk_err_clear(&err);
    int rc = 0;
    rk_model *teacher = NULL;
    rk_tokenizer *tok = NULL;
    rk_data *d = NULL;
    rk_tcache *cache = NULL;
    rk_train *t = NULL;
    rk_distill *x = NULL;
    FILE *logf = NULL;
    char *tok_dir = NULL, *comp = NULL, *cfg_path = NULL, *cfg_text = NULL, *log_path = NULL, *gguf_path = NULL,
         *sampler_dir = NULL, *html = NULL;
    if (out && mkdir(out, 0755) != 0 && errno != EEXIST) {
        rc = rk_err_file(&err, RK_EIO, out, UINT64_MAX, "cannot create the folder: %s", strerror(errno));
        goto fail;
    }
    /* the tokenizer: the teacher's (a GGUF carries its own) */
    tok_dir = rk_cli_dir_of(tok_opt ? tok_opt : teacher_path ? teacher_path : student ? student : ".");
    if (want_student && tok_dir) {   /* the export needs the tokenizer's HF file: check before training, not after */
        char *tj = rk_path_join(tok_dir, "tokenizer.json");
        const int have = tj && rk_file_exists(tj);
        free(tj);
        if (!have) {
            rc = rk_err_file(&err, RK_EINVAL, tok_dir, UINT64_MAX,
                             "no tokenizer.json for the student's export (a GGUF teacher carries its tokenizer inside): "
                             "give --tokenizer with the teacher's tokenizer.json or its folder");
            goto fail;
        }
    }
    if (teacher_path) {
        if ((rc = rk_model_load(&teacher, teacher_path, &err))) goto fail;
        if ((rc = rk_tokenizer_load(&tok, teacher_path, &err))) goto fail;
    } else if ((rc = rk_tokenizer_load(&tok, student ? student : ".", &err))) {
        rk_err_set(&err, rc, UINT64_MAX, "without --teacher the tokenizer comes from --student: %s", err.msg);
        goto fail;
    }
    if (tok_opt) {   /* the tokenizer file given for the export must be the teacher's */
        rk_tokenizer *ot = NULL;
        if ((rc = rk_tokenizer_load(&ot, tok_opt, &err))) goto fail;
        const int same = rk_verify_tokenizer_fingerprint(ot) == rk_verify_tokenizer_fingerprint(tok);
        rk_tokenizer_free(ot);
        if (!same) {
            rc = rk_err_file(&err, RK_EINVAL, tok_opt, UINT64_MAX, "this tokenizer differs from the teacher's");
            goto fail;
        }
    }
    if (student) {   /* a student with its own tokenizer must share the teacher's */
        rk_tokenizer *st = NULL;
        rk_err e2;
        rk_err_clear(&e2);
        if (!rk_tokenizer_load(&st, student, &e2) &&
            rk_verify_tokenizer_fingerprint(st) != rk_verify_tokenizer_fingerprint(tok)) {
            rk_tokenizer_free(st);
            rc = rk_err_file(&err, RK_EINVAL, student, UINT64_MAX,
                             "the student's tokenizer differs from the teacher's (vocabulary, merges or special tokens): a student must share its teacher's tokenizer");
            goto fail;
        }
        rk_tokenizer_free(st);
    }
    const int32_t bos = rk_tokenizer_leading_bos(tok);
    lo.first_token = bos;
    /* sequence-level data */
    if (prompts) {
        rk_distill_gen_opts go = { gen_tokens, (float)gen_temp, (float)gen_top_p, gen_seed };
        int64_t ns, nt;
        if (!teacher) { rc = rk_err_set(&err, RK_EINVAL, UINT64_MAX, "--prompts needs --teacher"); goto fail; }
        if (!(comp = rk_path_join(out, "teacher-completions.txt"))) { rc = rk_err_set(&err, RK_ENOMEM, UINT64_MAX, "out of memory"); goto fail; }
        if (!lo.resume || !rk_file_exists(comp)) {
            if ((rc = rk_distill_generate(teacher, tok, prompts, comp, &go, &ns, &nt, &err))) goto fail;
            fprintf(stderr, "%s: the teacher completed %lld prompts (%lld tokens)\n", comp, (long long)ns, (long long)nt);
        }
        texts[n_texts++] = comp;
    }
    rk_data_opts dd = { holdout, 0, heldout, bos >= 0, bos };
    if ((rc = rk_data_open(&d, texts, n_texts, tok, &dd, &err))) goto fail;
    dop.batch = lo.batch, dop.seq = lo.seq, dop.eval_windows = lo.eval_windows;
    dop.teacher_id = teacher_path ? teacher_path : tcache_path;
    /* the teacher cache */
    if (save_teacher) {
        prog p = { save_teacher };
        if ((rc = rk_distill_save_teacher(teacher, tok, d, lo.seq, top_k, bos, save_teacher, progress, &p, &err))) goto fail;
        fprintf(stderr, "%s: teacher top-%lld for %lld windows of %lld tokens\n", save_teacher, (long long)top_k,
                (long long)rk_data_train_windows(d, lo.seq), (long long)lo.seq);
        if (!want_student) goto fail;   /* done */
        tcache_path = save_teacher;
    }
    if (tcache_path && dop.alpha < 1) {
        if ((rc = rk_tcache_open(&cache, tcache_path, &err))) goto fail;
        const rk_tcache_info *ci = rk_tcache_get_info(cache);
        if (ci->tok_fingerprint != rk_verify_tokenizer_fingerprint(tok) || ci->tok_vocab != rk_tokenizer_vocab_size(tok)) {
            rc = rk_err_file(&err, RK_EINVAL, tcache_path, UINT64_MAX, "the teacher cache was made with another tokenizer");
            goto fail;
        }
        if (ci->first_token != bos) {
            rc = rk_err_file(&err, RK_EINVAL, tcache_path, UINT64_MAX, "the teacher cache was made with another BOS rule");
            goto fail;
        }
    }
    /* the student */
    if (sconfig && !rk_file_exists(sconfig)) {
        const rk_hf_config *tc = teacher ? rk_model_config(teacher) : NULL;
        if (!tc) { rc = rk_err_set(&err, RK_EINVAL, UINT64_MAX, "a preset student needs --teacher (its sizes follow the teacher's)"); goto fail; }
        if (!(cfg_text = rk_distill_preset_config(sconfig, tc, &err))) { rc = err.code; goto fail; }
        if (!(cfg_path = rk_path_join(out, "student-config.json"))) { rc = rk_err_set(&err, RK_ENOMEM, UINT64_MAX, "out of memory"); goto fail; }
        if ((rc = rk_write_file_atomic(cfg_path, cfg_text, strlen(cfg_text), &err))) goto fail;
    } else if (sconfig) {
        cfg_path = strdup(sconfig);
    }
    if (student) {
        if ((rc = rk_train_load(&t, student, &err))) goto fail;
        if (cfg_path) {
            rk_hf_config hc;
            if ((rc = rk_hf_config_load(&hc, cfg_path, &err)) || (rc = same_shape(&hc, rk_train_config(t), sconfig, student, &err))) goto fail;
        }
    } else if ((rc = rk_train_new(&t, cfg_path, init_seed, &err))) {
        goto fail;
    }
    {
        const rk_hf_config *sc = rk_train_config(t);
        if (sc->arch != RK_HF_ARCH_QWEN2 && sc->arch != RK_HF_ARCH_LLAMA) {
            rc = rk_err_set(&err, RK_EINVAL, UINT64_MAX, "the student is a %s model; distill trains dense qwen2 or llama students", sc->model_type);
            goto fail;
        }
        if (rk_tokenizer_vocab_size(tok) > sc->vocab_size) {
            rc = rk_err_set(&err, RK_EINVAL, UINT64_MAX, "the tokenizer has %lld tokens, more than the student's vocab_size %lld",
                            (long long)rk_tokenizer_vocab_size(tok), (long long)sc->vocab_size);
            goto fail;
        }
    }
    if (dop.on_policy > 0 && !(sampler_dir = rk_path_join(out, ".sampler"))) { rc = rk_err_set(&err, RK_ENOMEM, UINT64_MAX, "out of memory"); goto fail; }
    dop.sampler_dir = sampler_dir;
    if ((rc = rk_distill_new(&x, teacher, cache, d, rk_train_config(t)->vocab_size, &dop, &err))) goto fail;
    lo.hooks = rk_distill_hooks(x);
    lo.out_dir = out;
    lo.progress = isatty(2);
    if (!(log_path = rk_path_join(out, "log.jsonl"))) { rc = rk_err_set(&err, RK_ENOMEM, UINT64_MAX, "out of memory"); goto fail; }
    if (!(logf = fopen(la.log_path ? la.log_path : log_path, lo.resume ? "a" : "w"))) {
        rc = rk_err_file(&err, RK_EIO, la.log_path ? la.log_path : log_path, UINT64_MAX, "cannot open for writing");
        goto fail;
    }
    lo.json = logf;
    {
        int64_t np = 0;
        rk_train_params(t, &np);
        const int64_t sa = rk_train_active_params(t), ta = teacher ? rk_distill_active_params(rk_model_config(teacher)) : 0;
        char ratio[96] = "";
        if (ta > 0) snprintf(ratio, sizeof ratio, ", 1/%.1f of the teacher's %lld", (double)ta / (double)sa, (long long)ta);
        fprintf(stderr, "%s: student %s, %lld parameters (%lld active per token%s); teacher %s; %lld training windows of %lld tokens, %lld held-out tokens; %s kernels, %d threads\n",
                out, rk_train_config(t)->model_type, (long long)np, (long long)sa, ratio,
                teacher_path ? teacher_path : tcache_path, (long long)rk_data_train_windows(d, lo.seq), (long long)lo.seq,
                (long long)rk_data_heldout_tokens(d), rk_kernels_isa(), omp_get_max_threads());
    }
    rk_loop_result res;
    if ((rc = rk_loop_run(t, d, &lo, &res, &err))) goto fail;
    fclose(logf), logf = NULL;
    if (res.steps_done < lo.steps) {
        fprintf(stderr, "stopped at step %lld of %lld (checkpoint in %s/checkpoints; continue with --resume)\n",
                (long long)res.steps_done, (long long)lo.steps, out);
        goto fail;
    }
    /* export: HF folder, GGUF, curves */
    if ((rc = rk_train_save(t, out, save_dtype, &err))) goto fail;
    if ((rc = rk_cli_write_model_extras(out, tok_dir, tok, &err))) goto fail;
    if (!no_gguf) {
        gguf_path = gguf ? strdup(gguf) : rk_path_join(out, "model.gguf");
        rk_convert_opts co;
        rk_convert_opts_init(&co);
        if (!gguf_path) { rc = rk_err_set(&err, RK_ENOMEM, UINT64_MAX, "out of memory"); goto fail; }
        if ((rc = rk_convert_to_gguf(out, gguf_path, &co, &err))) goto fail;
    }
    if (!(html = rk_path_join(out, "curve.html"))) { rc = rk_err_set(&err, RK_ENOMEM, UINT64_MAX, "out of memory"); goto fail; }
    {
        rk_curve_run run = { la.log_path ? la.log_path : log_path, "student" };
        if ((rc = rk_curve_html(&run, 1, "r1kit distill", html, &err))) goto fail;
    }
    {
        rk_loop_figure f[8];
        int nf = 0;
        rk_distill_last_eval(x, f, &nf);
        fprintf(stderr, "distilled %lld steps in %.1f s (%.0f tokens/s); ", (long long)res.steps_done, res.seconds, res.tokens_per_s);
        if (isnan(res.eval_loss)) fprintf(stderr, "no held-out windows of --seq + 1 tokens (give --heldout or a larger --holdout)");
        else fprintf(stderr, "held-out loss %.4f (ppl %.3f)", res.eval_loss, exp(res.eval_loss));
        for (int i = 0; i < nf; i++) fprintf(stderr, ", %s %.4f", f[i].name, f[i].value);
        fprintf(stderr, "; saved %s%s%s, %s\n", out, gguf_path ? " and " : "", gguf_path ? gguf_path : "", html);
    }
fail:
    if (logf) fclose(logf);
    rk_distill_free(x);
    rk_train_free(t);
    rk_tcache_close(cache);
    rk_data_free(d);
    rk_tokenizer_free(tok);
    rk_model_free(teacher);
    free(tok_dir), free(comp), free(cfg_path), free(cfg_text), free(log_path), free(gguf_path), free(sampler_dir), free(html);
    if (rc) return rk_cli_fail("distill", &err);
    return 0;
}
