/* cli/trainopts.c — what `r1kit train` and `r1kit distill` share: the training loop's options (one table, one
 * parser, one help text) and the files written beside a trained model (tokenizer files, generation_config.json). */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"

const struct option rk_cli_loop_options[] = {
    { "steps", 1, 0, RK_OPT_STEPS }, { "batch", 1, 0, RK_OPT_BATCH }, { "seq", 1, 0, RK_OPT_SEQ },
    { "accum", 1, 0, RK_OPT_ACCUM }, { "lr", 1, 0, RK_OPT_LR }, { "min-lr", 1, 0, RK_OPT_MINLR },
    { "warmup", 1, 0, RK_OPT_WARMUP }, { "wd", 1, 0, RK_OPT_WD }, { "beta1", 1, 0, RK_OPT_B1 },
    { "beta2", 1, 0, RK_OPT_B2 }, { "adam-eps", 1, 0, RK_OPT_AEPS }, { "clip", 1, 0, RK_OPT_CLIP },
    { "gamma", 1, 0, RK_OPT_GAMMA }, { "aux-alpha", 1, 0, RK_OPT_AUX }, { "seed", 1, 0, RK_OPT_SEED },
    { "eval-every", 1, 0, RK_OPT_EVAL }, { "eval-windows", 1, 0, RK_OPT_EVALW }, { "ckpt-every", 1, 0, RK_OPT_CKPT },
    { "resume", 0, 0, RK_OPT_RESUME }, { "stop-after", 1, 0, RK_OPT_STOP }, { "threads", 1, 0, RK_OPT_THREADS },
    { "log", 1, 0, RK_OPT_LOG }, { "log-every", 1, 0, RK_OPT_LOGEVERY }, { 0, 0, 0, 0 },
};

int rk_cli_parse_f64(const char *s, double lo, double hi, double *out) {
    if (!s || !*s) return -1;
    char *e;
    errno = 0;
    const double x = strtod(s, &e);
    if (*e || errno || !(x >= lo && x <= hi)) return -1;
    *out = x;
    return 0;
}

int rk_cli_loop_option(const char *cmd, int code, const char *arg, rk_cli_loop_args *a) {
    rk_loop_opts *o = &a->lo;
    int64_t *i64 = NULL;
    double *f64 = NULL;
    int64_t ilo = 0, ihi = 1LL << 40;
    double dlo = 0, dhi = 10;
    const char *nm = NULL;
    switch (code) {
    case RK_OPT_STEPS: i64 = &o->steps, ilo = 1, nm = "steps"; break;
    case RK_OPT_BATCH: i64 = &o->batch, ilo = 1, ihi = 1 << 16, nm = "batch"; break;
    case RK_OPT_SEQ: i64 = &o->seq, ilo = 2, ihi = 1 << 20, nm = "seq"; break;
    case RK_OPT_ACCUM: i64 = &o->accum, ilo = 1, ihi = 1 << 16, nm = "accum"; break;
    case RK_OPT_LR: f64 = &o->lr, dlo = 1e-12, nm = "lr"; break;
    case RK_OPT_MINLR: f64 = &o->lr_min, nm = "min-lr", a->min_lr_set = 1; break;
    case RK_OPT_WARMUP: i64 = &o->warmup, nm = "warmup"; break;
    case RK_OPT_WD: f64 = &o->weight_decay, nm = "wd"; break;
    case RK_OPT_B1: f64 = &o->beta1, dhi = 0.999999, nm = "beta1"; break;
    case RK_OPT_B2: f64 = &o->beta2, dhi = 0.999999999, nm = "beta2"; break;
    case RK_OPT_AEPS: f64 = &o->eps, dlo = 1e-30, dhi = 1, nm = "adam-eps"; break;
    case RK_OPT_CLIP: f64 = &o->clip, dhi = 1e9, nm = "clip"; break;
    case RK_OPT_GAMMA: f64 = &o->gamma, dhi = 1, nm = "gamma"; break;
    case RK_OPT_AUX: f64 = &o->aux_alpha, nm = "aux-alpha"; break;
    case RK_OPT_SEED:
        if (rk_cli_parse_u64(arg, 0, UINT64_MAX, &o->seed)) return rk_cli_usage_error(cmd, "--seed: '%s' is not a whole number", arg);
        return 0;
    case RK_OPT_EVAL: i64 = &o->eval_every, nm = "eval-every"; break;
    case RK_OPT_EVALW: i64 = &o->eval_windows, nm = "eval-windows"; break;
    case RK_OPT_CKPT: i64 = &o->ckpt_every, nm = "ckpt-every"; break;
    case RK_OPT_RESUME: o->resume = 1; return 0;
    case RK_OPT_STOP: i64 = &o->stop_after, ilo = 1, nm = "stop-after"; break;
    case RK_OPT_THREADS: i64 = &a->threads, ilo = 1, ihi = 4096, nm = "threads"; break;
    case RK_OPT_LOG: a->log_path = arg; return 0;
    case RK_OPT_LOGEVERY: i64 = &o->log_every, ilo = 1, nm = "log-every"; break;
    default: return rk_cli_usage_error(cmd, "bad option");
    }
    if (i64 && rk_cli_parse_i64(arg, ilo, ihi, i64))
        return rk_cli_usage_error(cmd, "--%s: '%s' is not a whole number in [%lld, %lld]", nm, arg, (long long)ilo, (long long)ihi);
    if (f64 && rk_cli_parse_f64(arg, dlo, dhi, f64))
        return rk_cli_usage_error(cmd, "--%s: '%s' is not a number in [%g, %g]", nm, arg, dlo, dhi);
    return 0;
}

void rk_cli_loop_finish(rk_cli_loop_args *a) {
    if (!a->min_lr_set) a->lo.lr_min = a->lo.lr / 10;
    if (a->lo.warmup > a->lo.steps) a->lo.warmup = a->lo.steps;
}

int rk_cli_copy_file(const char *src, const char *dst, rk_err *err) {
    char *buf = NULL;
    uint64_t n = 0;
    int rc = rk_read_file(src, (uint64_t)1 << 31, &buf, &n, err);
    if (rc) return rc;
    rc = rk_write_file_atomic(dst, buf, (size_t)n, err);
    free(buf);
    return rc;
}

char *rk_cli_dir_of(const char *path) {
    struct stat st;
    if (!stat(path, &st) && S_ISDIR(st.st_mode)) return strdup(path);
    const char *s = strrchr(path, '/');
    return s ? strndup(path, (size_t)(s - path)) : strdup(".");
}

int rk_cli_write_model_extras(const char *out, const char *tok_dir, const rk_tokenizer *tok, rk_err *err) {
    const char *files[2] = { "tokenizer.json", "tokenizer_config.json" };
    int rc = 0;
    for (int i = 0; i < 2 && !rc && tok_dir; i++) {
        char *s = rk_path_join(tok_dir, files[i]), *d = rk_path_join(out, files[i]);
        if (!s || !d) rc = rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
        else if (rk_file_exists(s) && strcmp(s, d)) rc = rk_cli_copy_file(s, d, err);
        free(s), free(d);
    }
    if (rc) return rc;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "_from_model_config", 1);
    if (rk_tokenizer_bos_id(tok) >= 0) cJSON_AddNumberToObject(j, "bos_token_id", rk_tokenizer_bos_id(tok));
    if (rk_tokenizer_eos_id(tok) >= 0) cJSON_AddNumberToObject(j, "eos_token_id", rk_tokenizer_eos_id(tok));
    cJSON_AddBoolToObject(j, "do_sample", 1);
    cJSON_AddNumberToObject(j, "temperature", 0.6);
    cJSON_AddNumberToObject(j, "top_p", 0.95);
    char *txt = cJSON_Print(j), *p = rk_path_join(out, "generation_config.json");
    cJSON_Delete(j);
    rc = !txt || !p ? rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory") : rk_write_file_atomic(p, txt, strlen(txt), err);
    free(txt), free(p);
    return rc;
}

size_t rk_cli_merge_options(struct option *dst, size_t cap, const struct option *own) {
    size_t n = 0;
    for (const struct option *lists[2] = { own, rk_cli_loop_options }, **l = lists; l < lists + 2; l++)
        for (const struct option *o = *l; o->name && n + 1 < cap; o++) dst[n++] = *o;
    memset(&dst[n], 0, sizeof dst[n]);
    return n;
}
