/* cli/sample.c — `r1kit sample OUTDIR`: write a random-weight HF checkpoint (see model/sample.h). */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "model/sample.h"

const char rk_usage_sample[] =
    "usage: r1kit sample OUTDIR [--arch deepseek_v3|qwen2|llama] [--preset tiny|bench] [options]\n"
    "\n"
    "Write a random-weight Hugging Face checkpoint: config.json, generation_config.json, tokenizer.json,\n"
    "tokenizer_config.json and safetensors (sharded with an index when --shard-size is given). deepseek_v3\n"
    "is written in DeepSeek-R1's release layout: FP8-E4M3 linear weights with 128x128 weight_scale_inv,\n"
    "BF16 embeddings/norms/router, F32 e_score_correction_bias, and an MTP layer.\n"
    "\n"
    "  --arch A          deepseek_v3 (default), qwen2, llama\n"
    "  --preset P        tiny (default, a few MB) or bench (~3 GB FP8, for the convert benchmark)\n"
    "  --dtype D         weights: f8_e4m3 (deepseek_v3 default), bf16 (default otherwise), f16, f32\n"
    "  --layers N  --hidden N  --intermediate N  --heads N  --kv-heads N\n"
    "  --experts N  --moe-intermediate N  --top-k N  --dense-layers N  --mtp-layers N   (deepseek_v3)\n"
    "  --tie-embeddings  tie lm_head to the embeddings (qwen2/llama)\n"
    "  --shard-size SIZE max bytes per shard, e.g. 500MB, 2GiB (default: one file; bench: 1GiB)\n"
    "  --seed N          random seed (default 42); same seed, same bytes\n";

int rk_cmd_sample(int argc, char **argv) {
    enum { O_ARCH = 256, O_PRESET, O_DTYPE, O_LAYERS, O_HIDDEN, O_INTER, O_HEADS, O_KVH, O_EXP, O_MOEI, O_TOPK, O_DENSE, O_MTP,
           O_TIE, O_SHARD, O_SEED };
    static const struct option opts[] = {
        { "arch", required_argument, 0, O_ARCH }, { "preset", required_argument, 0, O_PRESET },
        { "dtype", required_argument, 0, O_DTYPE }, { "layers", required_argument, 0, O_LAYERS },
        { "hidden", required_argument, 0, O_HIDDEN }, { "intermediate", required_argument, 0, O_INTER },
        { "heads", required_argument, 0, O_HEADS }, { "kv-heads", required_argument, 0, O_KVH },
        { "experts", required_argument, 0, O_EXP }, { "moe-intermediate", required_argument, 0, O_MOEI },
        { "top-k", required_argument, 0, O_TOPK }, { "dense-layers", required_argument, 0, O_DENSE },
        { "mtp-layers", required_argument, 0, O_MTP }, { "tie-embeddings", no_argument, 0, O_TIE },
        { "shard-size", required_argument, 0, O_SHARD }, { "seed", required_argument, 0, O_SEED }, { 0, 0, 0, 0 },
    };
    /* first pass: arch and preset decide the defaults */
    const char *arch = "deepseek_v3", *preset = "tiny";
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == O_ARCH) arch = optarg;
        else if (c == O_PRESET) preset = optarg;
    }
    rk_err err;
    rk_err_clear(&err);
    rk_sample_opts o;
    if (rk_sample_defaults(&o, arch, preset, &err)) return rk_cli_usage_error("sample", "%s", err.msg);
    optind = 1;
    opterr = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int64_t v = 0;
        int64_t *dst = NULL;
        int64_t lo = 1, hi = 1 << 20;
        switch (c) {
        case O_ARCH: case O_PRESET: continue;
        case O_DTYPE:
            if (!strcmp(optarg, "f8_e4m3") || !strcmp(optarg, "fp8")) o.weight_dtype = RK_DTYPE_F8_E4M3;
            else if (!strcmp(optarg, "bf16")) o.weight_dtype = RK_DTYPE_BF16;
            else if (!strcmp(optarg, "f16")) o.weight_dtype = RK_DTYPE_F16;
            else if (!strcmp(optarg, "f32")) o.weight_dtype = RK_DTYPE_F32;
            else return rk_cli_usage_error("sample", "--dtype must be f8_e4m3, bf16, f16 or f32, not '%s'", optarg);
            continue;
        case O_LAYERS: dst = &o.layers, hi = 1000; break;
        case O_HIDDEN: dst = &o.hidden; break;
        case O_INTER: dst = &o.inter; break;
        case O_HEADS: dst = &o.heads, hi = 4096; break;
        case O_KVH: dst = &o.kv_heads, hi = 4096; break;
        case O_EXP: dst = &o.n_experts, hi = 4096; break;
        case O_MOEI: dst = &o.moe_inter; break;
        case O_TOPK: dst = &o.top_k, hi = 4096; break;
        case O_DENSE: dst = &o.dense_layers, lo = 0, hi = 1000; break;
        case O_MTP: dst = &o.mtp_layers, lo = 0, hi = 16; break;
        case O_TIE: o.tie_embeddings = 1; continue;
        case O_SHARD:
            if (rk_cli_parse_size(optarg, &o.shard_bytes) || o.shard_bytes == 0)
                return rk_cli_usage_error("sample", "--shard-size: '%s' is not a size like 500MB or 2GiB", optarg);
            continue;
        case O_SEED:
            if (rk_cli_parse_u64(optarg, 0, UINT64_MAX, &o.seed)) return rk_cli_usage_error("sample", "--seed: '%s' is not a number", optarg);
            continue;
        default: return rk_cli_usage_error("sample", "bad option");
        }
        if (rk_cli_parse_i64(optarg, lo, hi, &v))
            return rk_cli_usage_error("sample", "--%s: '%s' is not a whole number in [%lld, %lld]", opts[c - O_ARCH].name, optarg,
                                      (long long)lo, (long long)hi);
        *dst = v;
    }
    if (optind != argc - 1) return rk_cli_usage_error("sample", "expected one OUTDIR");
    fprintf(stderr, "writing %s sample (%.1f MB of tensors) to %s\n", o.arch, (double)rk_sample_nbytes(&o) / 1e6, argv[optind]);
    if (rk_sample_write(argv[optind], &o, &err)) return err.code == RK_EINVAL ? rk_cli_usage_error("sample", "%s", err.msg) : rk_cli_fail("sample", &err);
    return 0;
}
