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
int rk_cmd_imatrix(int argc, char **argv); extern const char rk_usage_imatrix[];
int rk_cmd_quantize(int argc, char **argv); extern const char rk_usage_quantize[];
int rk_cmd_verify(int argc, char **argv); extern const char rk_usage_verify[];
extern const char rk_usage_train[];
extern const char rk_usage_tokenizer[];
extern const char rk_usage_inspect[], rk_usage_convert[], rk_usage_sample[], rk_usage_perplexity[], rk_usage_generate[],
    rk_usage_bench[];
#endif
