/* cli/main.c — the r1kit command: git-style subcommands from one table. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

#include "cli/cli.h"

#ifndef RK_VERSION
#define RK_VERSION "0.1.0"
#endif

static int cmd_help(int argc, char **argv);
static int cmd_version(int argc, char **argv) { (void)argc, (void)argv; printf("r1kit %s\n", RK_VERSION); return 0; }

static const char usage_help[] = "usage: r1kit help [COMMAND]\n\nShow the list of commands, or one command's help.\n";
static const char usage_version[] = "usage: r1kit version\n\nPrint the version.\n";

static const rk_cmd g_cmds[] = {
    { "inspect", rk_cmd_inspect, "show a checkpoint's format, architecture, tensors and metadata", rk_usage_inspect },
    { "convert", rk_cmd_convert, "convert an HF checkpoint (safetensors incl. FP8, PyTorch) to GGUF or re-typed safetensors", rk_usage_convert },
    { "generate", rk_cmd_generate, "continue a prompt with a model (greedy or sampled), with tokens/s", rk_usage_generate },
    { "quantize", rk_cmd_quantize, "quantize a checkpoint or GGUF to a GGUF with a named recipe (q8_0, q4, q2-moe, tq2-moe)", rk_usage_quantize },
    { "imatrix", rk_cmd_imatrix, "importance matrix of a model on a text (llama.cpp's imatrix GGUF, for llama-quantize)", rk_usage_imatrix },
    { "perplexity", rk_cmd_perplexity, "perplexity on a text, computed as llama.cpp's llama-perplexity does", rk_usage_perplexity },
    { "verify", rk_cmd_verify, "KLD, PPL ratio and top-1 agreement of a candidate vs its base model (llama-perplexity --kl-divergence)", rk_usage_verify },
    { "bench", rk_cmd_bench, "prompt-processing and decode speed of the engine on a model", rk_usage_bench },
    { "distill", rk_cmd_distill, "distil a dense qwen2/llama student from a teacher: KD losses, teacher cache, on-policy, export", rk_usage_distill },
    { "train", rk_cmd_train, "train a model (deepseek_v3, qwen2, llama) on text: AdamW, checkpoints, --resume", rk_usage_train },
    { "sample", rk_cmd_sample, "write a random-weight HF checkpoint (R1 FP8 layout, qwen2, llama)", rk_usage_sample },
    { "tokenizer", rk_cmd_tokenizer, "train a byte-level BPE tokenizer on text files (HF tokenizer.json)", rk_usage_tokenizer },
    { "help", cmd_help, "show help for a command", usage_help },
    { "version", cmd_version, "print the version", usage_version },
};
#define N_CMDS (sizeof g_cmds / sizeof g_cmds[0])

const rk_cmd *rk_cli_find(const char *name) {
    for (size_t i = 0; i < N_CMDS; i++)
        if (!strcmp(g_cmds[i].name, name)) return &g_cmds[i];
    return NULL;
}

static void print_overview(FILE *f) {
    fprintf(f, "usage: r1kit <command> [options]\n\nr1kit shrinks DeepSeek-R1-class models for laptops and checks the result.\n\ncommands:\n");
    for (size_t i = 0; i < N_CMDS; i++) fprintf(f, "  %-10s %s\n", g_cmds[i].name, g_cmds[i].summary);
    fprintf(f, "\n`r1kit help COMMAND` or `r1kit COMMAND --help` shows a command's options.\n"
               "exit codes: 0 ok, 1 check failed, 2 usage error, 3 bad input file, 4 I/O error, 5 out of memory,\n"
               "            130/143 interrupted (SIGINT/SIGTERM; partial outputs are removed)\n");
}

static int cmd_help(int argc, char **argv) {
    if (argc < 2) { print_overview(stdout); return 0; }
    const rk_cmd *c = rk_cli_find(argv[1]);
    if (!c) return rk_cli_usage_error("help", "unknown command '%s'", argv[1]);
    rk_cli_print_help(c);
    return 0;
}

void rk_cli_print_help(const rk_cmd *c) { fputs(c->usage, stdout); }
int rk_cli_is_help(const char *a) { return !strcmp(a, "-h") || !strcmp(a, "--help"); }

int rk_cli_exit_code(int rc) {
    switch (rc) {
    case RK_OK: return RK_EXIT_OK;
    case RK_EIO: return RK_EXIT_IO;
    case RK_ENOMEM: return RK_EXIT_NOMEM;
    case RK_EINVAL: return RK_EXIT_USAGE;
    case RK_EINTR: return 130;
    default: return RK_EXIT_INPUT;   /* corrupt, unsupported, refused, not found */
    }
}

int rk_cli_fail(const char *cmd, const rk_err *err) {
    fprintf(stderr, "r1kit %s: error: %s\n", cmd, err->msg[0] ? err->msg : rk_err_code_name(err->code));
    return rk_cli_exit_code(err->code);
}

int rk_cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "r1kit %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n(see `r1kit help %s`)\n", cmd);
    va_end(ap);
    return RK_EXIT_USAGE;
}

int rk_cli_parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out) {
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int rk_cli_parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out) {
    if (!s || !*s || *s == '-') return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int rk_cli_parse_size(const char *s, uint64_t *out) {
    if (!s || !*s || *s == '-') return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || !(v >= 0)) return -1;
    static const struct { const char *suf; double mul; } u[] = {
        { "", 1 }, { "B", 1 }, { "K", 1e3 }, { "KB", 1e3 }, { "KiB", 1024.0 }, { "M", 1e6 }, { "MB", 1e6 },
        { "MiB", 1048576.0 }, { "G", 1e9 }, { "GB", 1e9 }, { "GiB", 1073741824.0 }, { "T", 1e12 }, { "TB", 1e12 },
        { "TiB", 1099511627776.0 },
    };
    for (size_t i = 0; i < sizeof u / sizeof u[0]; i++) {
        if (!strcmp(end, u[i].suf)) {
            double b = v * u[i].mul;
            if (b > 1.8e19) return -1;
            *out = (uint64_t)b;
            return 0;
        }
    }
    return -1;
}

int main(int argc, char **argv) {
    rk_outfile_install_signal_handlers();
    if (argc < 2) { print_overview(stderr); return RK_EXIT_USAGE; }
    if (rk_cli_is_help(argv[1])) { print_overview(stdout); return 0; }
    if (!strcmp(argv[1], "--version")) return cmd_version(0, NULL);
    const rk_cmd *c = rk_cli_find(argv[1]);
    if (!c) {
        fprintf(stderr, "r1kit: unknown command '%s'\n\n", argv[1]);
        print_overview(stderr);
        return RK_EXIT_USAGE;
    }
    for (int i = 2; i < argc; i++)
        if (rk_cli_is_help(argv[i])) { rk_cli_print_help(c); return 0; }
        else if (!strcmp(argv[i], "--")) break;
    return c->fn(argc - 1, argv + 1);
}
