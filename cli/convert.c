/* cli/convert.c — `r1kit convert IN OUT`: HF checkpoint → GGUF (OUT ends in .gguf) or → HF safetensors folder. */
#define _GNU_SOURCE
#include <getopt.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "convert/convert.h"

const char rk_usage_convert[] =
    "usage: r1kit convert IN OUT [--outtype T] [--shard-size SIZE] [--threads N] [--name NAME] [--quiet]\n"
    "\n"
    "IN is a Hugging Face folder: config.json, tokenizer.json, and safetensors (single or sharded, F32/F16/BF16\n"
    "or DeepSeek FP8-E4M3 with weight_scale_inv) or PyTorch pytorch_model*.bin (single or sharded).\n"
    "\n"
    "OUT ending in .gguf: a GGUF v3 file in llama.cpp's layout (arch deepseek2 for deepseek_v3/deepseek_v2,\n"
    "qwen2, llama): experts stacked, kv_b split into attn_k_b/attn_v_b, expert_gating_func written, MTP layers\n"
    "skipped, tokenizer embedded. 1-D tensors and the MoE router stay F32.\n"
    "  --outtype T   auto (default: F32/F16/BF16 kept, FP8 -> BF16), f32, f16, bf16, q8_0\n"
    "\n"
    "Any other OUT: a folder of safetensors with the floating tensors re-typed (FP8 -> BF16 like DeepSeek's\n"
    "fp8_cast_bf16.py, on a CPU); scale_inv tensors dropped; config.json (without quantization_config) and\n"
    "tokenizer files copied.\n"
    "  --outtype T   bf16 (default), f16, f32\n"
    "  --shard-size SIZE  split into shards of at most SIZE (e.g. 5GB) with model.safetensors.index.json\n"
    "\n"
    "  --threads N   OpenMP threads (default: all cores)\n"
    "  --name NAME   general.name in the GGUF (default: the input folder's name)\n"
    "  --quiet       no per-tensor lines\n"
    "\n"
    "Memory stays a small multiple of the largest tensor. Output goes to a temporary file beside OUT and is\n"
    "renamed on success; on error or interruption the temporary is removed and an existing OUT is untouched.\n";

typedef struct log_state { int quiet; int tty; } log_state;

static void on_log(void *user, int level, const char *msg) {
    log_state *ls = user;
    if (level == RK_LOG_TENSOR && ls->quiet) return;
    if (level == RK_LOG_TENSOR && ls->tty) { fprintf(stderr, "\r\033[K%s", msg); return; }
    if (ls->tty) fprintf(stderr, "\r\033[K");
    fprintf(stderr, "%s%s\n", level == RK_LOG_WARN ? "warning: " : "", msg);
}

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

int rk_cmd_convert(int argc, char **argv) {
    enum { O_TYPE = 256, O_SHARD, O_THREADS, O_NAME, O_QUIET };
    static const struct option opts[] = {
        { "outtype", required_argument, 0, O_TYPE }, { "shard-size", required_argument, 0, O_SHARD },
        { "threads", required_argument, 0, O_THREADS }, { "name", required_argument, 0, O_NAME },
        { "quiet", no_argument, 0, O_QUIET }, { 0, 0, 0, 0 },
    };
    rk_convert_opts o;
    rk_convert_opts_init(&o);
    const char *type_name = NULL;
    uint64_t shard = 0;
    int64_t threads = 0;
    log_state ls = { 0, isatty(2) };
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case O_TYPE: type_name = optarg; break;
        case O_SHARD:
            if (rk_cli_parse_size(optarg, &shard) || shard == 0)
                return rk_cli_usage_error("convert", "--shard-size: '%s' is not a size like 5GB or 500MiB", optarg);
            break;
        case O_THREADS:
            if (rk_cli_parse_i64(optarg, 1, 4096, &threads))
                return rk_cli_usage_error("convert", "--threads: '%s' is not a whole number in [1, 4096]", optarg);
            break;
        case O_NAME: o.name = optarg; break;
        case O_QUIET: ls.quiet = 1; break;
        default: return rk_cli_usage_error("convert", "bad option");
        }
    }
    if (optind != argc - 2) return rk_cli_usage_error("convert", "expected IN and OUT");
    const char *in = argv[optind], *out = argv[optind + 1];
    int to_gguf = ends_with(out, ".gguf");
    if (type_name) {
        o.outtype = rk_convert_outtype_from_name(type_name);
        if (o.outtype == RK_DTYPE_INVALID || (!to_gguf && o.outtype != RK_DTYPE_BF16 && o.outtype != RK_DTYPE_F16 &&
                                              o.outtype != RK_DTYPE_F32))
            return rk_cli_usage_error("convert", "--outtype '%s' is not one of %s", type_name,
                                      to_gguf ? "auto, f32, f16, bf16, q8_0" : "bf16, f16, f32 (for a safetensors folder)");
    }
    if (to_gguf && shard) return rk_cli_usage_error("convert", "--shard-size applies to safetensors output, not GGUF");
    if (threads) omp_set_num_threads((int)threads);
    o.threads = (int)threads;
    o.log = on_log;
    o.log_user = &ls;
    rk_err err;
    rk_err_clear(&err);
    int rc = to_gguf ? rk_convert_to_gguf(in, out, &o, &err)
                     : rk_convert_to_safetensors(in, out, type_name ? o.outtype : RK_DTYPE_BF16, shard, &o, &err);
    if (ls.tty && !ls.quiet) fprintf(stderr, "\r\033[K");
    if (rc) return rk_cli_fail("convert", &err);
    fprintf(stderr, "wrote %s\n", out);
    return 0;
}
