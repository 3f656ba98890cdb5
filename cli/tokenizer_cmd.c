/* cli/tokenizer_cmd.c — `r1kit tokenizer train`: train a byte-level BPE tokenizer on text files and write a
 * Hugging Face tokenizer.json + tokenizer_config.json (see model/tokenizer_train.h). The result is loaded back
 * with r1kit's own tokenizer before the summary line is printed. */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "model/tokenizer.h"
#include "model/tokenizer_train.h"

#define DS_BOS "<\xEF\xBD\x9C" "begin\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>"
#define DS_EOS "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>"
#define MAX_ITEMS 4096

const char rk_usage_tokenizer[] =
    "usage: r1kit tokenizer train --text FILE [--text FILE...] --vocab N -o DIR [options]\n"
    "\n"
    "Train a byte-level BPE tokenizer (the kind DeepSeek-V3/R1, Qwen2 and Llama 3 use) on UTF-8 text files and\n"
    "write DIR/tokenizer.json and DIR/tokenizer_config.json in Hugging Face's format. Every byte has a token,\n"
    "so any text round-trips. Pairs are merged by count, ties by the smaller pair of token strings: the same\n"
    "inputs and options give byte-identical files. DIR is created when missing.\n"
    "\n"
    "  --text FILE        training text (repeatable)\n"
    "  --vocab N          vocabulary size including special tokens (>= 256 + number of specials)\n"
    "  -o, --output DIR   output folder\n"
    "  --min-frequency N  stop when the best pair occurs fewer than N times (default 2)\n"
    "  --family F         pre-tokenizer: deepseek_v3 (default), qwen2, llama3\n"
    "  --special TOK      a special token (repeatable; ids 0, 1, ... in order). Default: DeepSeek's\n"
    "                     " DS_BOS " and " DS_EOS "\n"
    "  --bos TOK          BOS token, added at the start by encode (default: DeepSeek's when no --special\n"
    "                     is given); a TOK not among the specials is appended to them\n"
    "  --eos TOK          EOS token (default as for --bos)\n"
    "\n"
    "Prints one line on stdout: vocabulary size, merges and seconds. Progress goes to stderr on a terminal.\n"
    "Exit codes: 0 ok, 2 usage error, 3 the written tokenizer does not load, 4 I/O error (unreadable text,\n"
    "unwritable DIR), 5 out of memory, 130 interrupted.\n";

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* number of merges in DIR/tokenizer.json, or -1 */
static long count_merges(const char *dir) {
    char *path = rk_path_join(dir, "tokenizer.json"), *text = NULL;
    uint64_t len = 0;
    rk_err err;
    long n = -1;
    if (path && !rk_read_file(path, (uint64_t)1 << 30, &text, &len, &err)) {
        cJSON *j = cJSON_ParseWithLength(text, (size_t)len);
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "model"), "merges");
        if (cJSON_IsArray(m)) n = cJSON_GetArraySize(m);
        cJSON_Delete(j);
    }
    free(text);
    free(path);
    return n;
}

static int add_special(const char **list, int *n, const char *tok) {
    for (int i = 0; i < *n; i++)
        if (!strcmp(list[i], tok)) return 0;
    if (*n >= MAX_ITEMS) return -1;
    list[(*n)++] = tok;
    return 0;
}

static int train(int argc, char **argv) {
    enum { O_TEXT = 256, O_VOCAB, O_OUT, O_MINF, O_FAMILY, O_SPECIAL, O_BOS, O_EOS };
    static const struct option opts[] = {
        { "text", required_argument, 0, O_TEXT }, { "vocab", required_argument, 0, O_VOCAB },
        { "output", required_argument, 0, O_OUT }, { "min-frequency", required_argument, 0, O_MINF },
        { "family", required_argument, 0, O_FAMILY }, { "special", required_argument, 0, O_SPECIAL },
        { "bos", required_argument, 0, O_BOS }, { "eos", required_argument, 0, O_EOS }, { 0, 0, 0, 0 },
    };
    static const char *files[MAX_ITEMS], *special[MAX_ITEMS];
    int n_files = 0, n_special = 0, c;
    const char *out = NULL, *bos = NULL, *eos = NULL;
    rk_bpe_train_opts o = { .vocab_size = -1, .family = "deepseek_v3" };
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:", opts, NULL)) != -1) {
        switch (c) {
        case O_TEXT:
            if (n_files >= MAX_ITEMS) return rk_cli_usage_error("tokenizer", "more than %d --text files", MAX_ITEMS);
            files[n_files++] = optarg;
            break;
        case O_VOCAB:
            if (rk_cli_parse_i64(optarg, 257, (int64_t)1 << 22, &o.vocab_size))
                return rk_cli_usage_error("tokenizer", "--vocab: '%s' is not a whole number in [257, %lld]", optarg, 1LL << 22);
            break;
        case 'o': case O_OUT: out = optarg; break;
        case O_MINF:
            if (rk_cli_parse_i64(optarg, 1, INT64_MAX, &o.min_frequency))
                return rk_cli_usage_error("tokenizer", "--min-frequency: '%s' is not a whole number >= 1", optarg);
            break;
        case O_FAMILY:
            if (strcmp(optarg, "deepseek_v3") && strcmp(optarg, "qwen2") && strcmp(optarg, "llama3"))
                return rk_cli_usage_error("tokenizer", "--family must be deepseek_v3, qwen2 or llama3, not '%s'", optarg);
            o.family = optarg;
            break;
        case O_SPECIAL:
            if (!*optarg) return rk_cli_usage_error("tokenizer", "--special: empty token");
            if (add_special(special, &n_special, optarg))
                return rk_cli_usage_error("tokenizer", "more than %d --special tokens", MAX_ITEMS);
            break;
        case O_BOS: bos = optarg; break;
        case O_EOS: eos = optarg; break;
        case ':': return rk_cli_usage_error("tokenizer", "option '%s' needs a value", argv[optind - 1]);
        default: return rk_cli_usage_error("tokenizer", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc) return rk_cli_usage_error("tokenizer", "unexpected argument '%s'", argv[optind]);
    if (!n_files) return rk_cli_usage_error("tokenizer", "no --text FILE given");
    if (o.vocab_size < 0) return rk_cli_usage_error("tokenizer", "no --vocab N given");
    if (!out) return rk_cli_usage_error("tokenizer", "no -o DIR given");
    if (!n_special) {
        special[n_special++] = DS_BOS;
        special[n_special++] = DS_EOS;
        if (!bos) bos = DS_BOS;
        if (!eos) eos = DS_EOS;
    }
    if ((bos && *bos && add_special(special, &n_special, bos)) || (eos && *eos && add_special(special, &n_special, eos)))
        return rk_cli_usage_error("tokenizer", "more than %d special tokens", MAX_ITEMS);
    o.special = special;
    o.n_special = n_special;
    o.bos = bos && *bos ? bos : NULL;
    o.eos = eos && *eos ? eos : NULL;
    o.progress = isatty(2);

    rk_err err;
    rk_err_clear(&err);
    double t0 = now_s();
    int rc = rk_bpe_train(files, n_files, &o, out, &err);
    if (rc) return rc == RK_EINVAL ? rk_cli_usage_error("tokenizer", "%s", err.msg) : rk_cli_fail("tokenizer", &err);
    double secs = now_s() - t0;
    rk_tokenizer *t = NULL;
    if ((rc = rk_tokenizer_load(&t, out, &err))) return rk_cli_fail("tokenizer", &err);
    printf("tokenizer: vocab %lld (%d special), %ld merges, %.2f s -> %s/tokenizer.json\n",
           (long long)rk_tokenizer_vocab_size(t), n_special, count_merges(out), secs, out);
    rk_tokenizer_free(t);
    return 0;
}

int rk_cmd_tokenizer(int argc, char **argv) {
    if (argc < 2) return rk_cli_usage_error("tokenizer", "expected a subcommand: train");
    if (!strcmp(argv[1], "train")) return train(argc - 1, argv + 1);
    return rk_cli_usage_error("tokenizer", "unknown subcommand '%s' (expected: train)", argv[1]);
}
