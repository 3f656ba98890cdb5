/* cli/cli.h — shared pieces of the r1kit command: the subcommand signature, exit codes, option parsing.
 *
 * Exit codes (documented in README and `r1kit help`):
 *   0 success · 1 a check failed (verify gate) · 2 usage error · 3 bad input (corrupt, unsupported or refused file)
 *   4 I/O error (cannot open/read/write) · 5 out of memory · 130/143 interrupted (SIGINT/SIGTERM) */
#ifndef RK_CLI_H
#define RK_CLI_H
#include <stdint.h>
#include "formats/common.h"

enum { RK_EXIT_OK = 0, RK_EXIT_CHECK = 1, RK_EXIT_USAGE = 2, RK_EXIT_INPUT = 3, RK_EXIT_IO = 4, RK_EXIT_NOMEM = 5 };

typedef struct rk_cmd {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
    const char *usage;      /* full help text */
} rk_cmd;

int rk_cli_exit_code(int rc);                             /* RK_E* -> exit code */
int rk_cli_fail(const char *cmd, const rk_err *err);      /* prints "r1kit CMD: error: MSG" and returns the exit code */
int rk_cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* strict number parsing: whole string, range checked; return 0 ok, -1 bad */
int rk_cli_parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out);
int rk_cli_parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out);
/* sizes like 5GB, 500MB, 4GiB, 1024 (bytes) */
int rk_cli_parse_size(const char *s, uint64_t *out);
void rk_cli_print_help(const rk_cmd *c);                  /* stdout */
int rk_cli_is_help(const char *a);                        /* -h / --help */
const rk_cmd *rk_cli_find(const char *name);

int rk_cmd_inspect(int argc, char **argv);
int rk_cmd_convert(int argc, char **argv);
int rk_cmd_sample(int argc, char **argv);
int rk_cmd_perplexity(int argc, char **argv);
int rk_cmd_generate(int argc, char **argv);
int rk_cmd_bench(int argc, char **argv);
int rk_cmd_tokenizer(int argc, char **argv);
int rk_cmd_train(int argc, char **argv);
int rk_cmd_distill(int argc, char **argv); extern const char rk_usage_distill[];
int rk_cmd_imatrix(int argc, char **argv); extern const char rk_usage_imatrix[];
int rk_cmd_quantize(int argc, char **argv); extern const char rk_usage_quantize[];
int rk_cmd_verify(int argc, char **argv); extern const char rk_usage_verify[];
extern const char rk_usage_train[];
extern const char rk_usage_tokenizer[];
extern const char rk_usage_inspect[], rk_usage_convert[], rk_usage_sample[], rk_usage_perplexity[], rk_usage_generate[],
    rk_usage_bench[];
/* ---- shared by `train` and `distill` (cli/trainopts.c) ---- */
#include <getopt.h>
#include "model/tokenizer.h"
#include "model/trainloop.h"
enum { RK_OPT_STEPS = 1000, RK_OPT_BATCH, RK_OPT_SEQ, RK_OPT_ACCUM, RK_OPT_LR, RK_OPT_MINLR, RK_OPT_WARMUP, RK_OPT_WD,
       RK_OPT_B1, RK_OPT_B2, RK_OPT_AEPS, RK_OPT_CLIP, RK_OPT_GAMMA, RK_OPT_AUX, RK_OPT_SEED, RK_OPT_EVAL, RK_OPT_EVALW,
       RK_OPT_CKPT, RK_OPT_RESUME, RK_OPT_STOP, RK_OPT_THREADS, RK_OPT_LOG, RK_OPT_LOGEVERY, RK_OPT_LOOP_END };
extern const struct option rk_cli_loop_options[];   /* codes RK_OPT_STEPS .. RK_OPT_LOOP_END-1; {0} terminated */
/* the "optimisation:" and "run:" sections of the help text */
#define RK_CLI_LOOP_HELP \
    "optimisation:\n" \
    "  --steps N           optimizer steps (default 1000)\n" \
    "  --batch B           sequences per micro-batch (default 8)\n" \
    "  --seq T             tokens per sequence (default 256)\n" \
    "  --accum A           micro-batches per step (default 1)\n" \
    "  --lr X              peak learning rate (default 1e-3); --min-lr X final (default lr/10)\n" \
    "  --warmup N          warmup steps (default 100)\n" \
    "  --wd X              AdamW weight decay on matrices (default 0.1); --beta1/--beta2/--adam-eps\n" \
    "  --clip X            global gradient-norm clip (default 1.0; 0 = off)\n" \
    "  --gamma X           expert bias update speed, MoE students (default 0.001; 0 = off)\n" \
    "  --aux-alpha X       sequence-wise balance loss weight, MoE students (default 0)\n" \
    "  --seed N            batch sampling seed (default 1)\n" \
    "run:\n" \
    "  --eval-every N      held-out evaluation every N steps (default 100); --eval-windows K (default 64)\n" \
    "  --ckpt-every N      checkpoint every N steps (default 200)\n" \
    "  --resume            continue from DIR/checkpoints/latest\n" \
    "  --stop-after N      stop after N steps of this run, with a checkpoint (for testing resume)\n" \
    "  --threads N         OpenMP threads (default: all cores)\n" \
    "  --log FILE          also write JSON log lines to FILE; --log-every N steps between them (default 10)\n"
typedef struct rk_cli_loop_args {
    rk_loop_opts lo;          /* rk_loop_defaults first */
    int min_lr_set;
    int64_t threads;          /* 0: all cores */
    const char *log_path;
} rk_cli_loop_args;
/* One loop option (code from rk_cli_loop_options) into a; usage error (exit code) on a bad value, else 0. */
int rk_cli_loop_option(const char *cmd, int code, const char *arg, rk_cli_loop_args *a);
void rk_cli_loop_finish(rk_cli_loop_args *a);       /* min-lr default lr/10, warmup <= steps */
/* own options then the loop's into dst[cap] ({0} terminated); returns the count */
size_t rk_cli_merge_options(struct option *dst, size_t cap, const struct option *own);
int rk_cli_parse_f64(const char *s, double lo, double hi, double *out);   /* strict, range checked; 0 ok, -1 bad */
int rk_cli_copy_file(const char *src, const char *dst, rk_err *err);     /* atomic */
char *rk_cli_dir_of(const char *path);              /* the folder itself, or the file's folder (malloc'd) */
/* Beside a model written to out: tokenizer.json / tokenizer_config.json copied from tok_dir (those present) and a
 * generation_config.json (BOS/EOS of tok, R1's sampling defaults: temperature 0.6, top-p 0.95). */
int rk_cli_write_model_extras(const char *out, const char *tok_dir, const rk_tokenizer *tok, rk_err *err);
#endif
