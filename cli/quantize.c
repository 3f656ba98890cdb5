/* cli/quantize.c — `r1kit quantize IN OUT.gguf --recipe NAME | --bpw B | --size S`: any checkpoint convert reads
 * (HF folder incl. DeepSeek FP8, PyTorch) or a GGUF → a quantized GGUF, streamed tensor by tensor through convert's
 * pipeline with the per-tensor types of quantize/recipe.h (named recipes) or quantize/alloc.h (the expert-aware
 * budget allocator, which first measures every tensor). docs/quantize.md. Prints the allocation table at the end. */
#define _GNU_SOURCE
#include <getopt.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "convert/convert.h"
#include "formats/gguf.h"
#include "quantize/alloc.h"
#include "quantize/imatrix.h"
#include "quantize/recipe.h"

const char rk_usage_quantize[] =
    "usage: r1kit quantize IN OUT.gguf (--recipe NAME | --bpw B | --size S) [--imatrix FILE] [--override REGEX=TYPE ...]\n"
    "                      [--layout stacked|per-expert] [--sample-rows N] [--threads N] [--quiet]\n"
    "\n"
    "IN: anything `r1kit convert` reads (Hugging Face folder: safetensors incl. DeepSeek FP8, PyTorch .bin) or a\n"
    "GGUF file (its metadata is kept, its tensors re-encoded). OUT: a GGUF in llama.cpp's layout.\n"
    "\n"
    "  --recipe NAME   q8_0     every matrix Q8_0\n"
    "                  q4       Q4_K, output.weight Q6_K\n"
    "                  q2-moe   routed experts (ffn_*_exps) Q2_K; attention, shared experts, dense FFN,\n"
    "                           token_embd Q4_K; output Q6_K\n"
    "                  tq2-moe  routed experts TQ2_0, the rest as q2-moe\n"
    "                  q2       uniform: every matrix Q2_K, output Q6_K\n"
    "  --bpw B         expert-aware allocation: the type of every tensor (and, with --layout per-expert, of every\n"
    "                  routed expert) chosen to minimise the predicted output error (routing frequency x gate\n"
    "                  weight x imatrix-weighted quantization error, measured on the weights) so that the whole\n"
    "                  file averages B bits per weight (F32 tensors included). Candidates: TQ2_0 Q2_K Q3_K Q4_K\n"
    "                  Q5_K Q6_K Q8_0 (rows of 256), Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 (rows of 32)\n"
    "  --size S        the same with a size for all tensor data: 2.5GB, 800MB, 1.5GiB or bytes\n"
    "  --layout L      stacked (default): llama.cpp's ffn_*_exps, one type per stacked tensor (llama.cpp,\n"
    "                  ollama, LM Studio load it); per-expert: blk.N.ffn_{gate,up,down}.E.weight, each expert its\n"
    "                  own type (r1kit runs it; llama.cpp does not)\n"
    "  --sample-rows N with --bpw/--size: measure at most N rows of every matrix (default 64; 0 = all)\n"
    "  --imatrix FILE  importance matrix (r1kit imatrix or llama-imatrix; GGUF or legacy .dat); stacked experts\n"
    "                  use each expert's own importance\n"
    "  --override REGEX=TYPE   type for the matrices whose GGUF name matches REGEX (POSIX extended, searched, first\n"
    "                  match wins; may repeat). TYPE: f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1 q2_k q3_k q4_k q5_k\n"
    "                  q6_k tq2_0; refused when the type's block does not divide the tensor's rows\n"
    "  --threads N     OpenMP threads (default: all cores)\n"
    "  --quiet         no progress and no table, only the total\n"
    "\n"
    "Always F32: 1-D tensors, norms, biases, the MoE router (ffn_gate_inp), exp_probs_b. Rows not a multiple of\n"
    "256 fall back as llama.cpp does: Q2_K/Q3_K/TQ2_0 -> Q4_0, Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0\n"
    "(F16 if not a multiple of 32). With --bpw/--size, a budget that cannot be met is an error (exit 2) that\n"
    "gives the smallest possible size. Metadata: general.file_type, r1kit.quantize.recipe, r1kit.quantize.types\n"
    "(\"name=type\" per tensor), r1kit.quantize.overrides, quantize.imatrix.* (as llama-quantize writes).\n"
    "Table (tensor, shape, type, bytes) on stdout, progress on stderr (TTY). Exit codes: 2 usage (also an\n"
    "override that cannot hold a tensor's rows), 3 bad input, 4 I/O, 5 out of memory.\n";

typedef struct qrow {
    char name[65];
    uint32_t n_dims;
    int64_t ne[4];
    int type, recipe_type, fell_back, overridden;
} qrow;

typedef struct qstate {
    rk_recipe recipe;
    rk_alloc *alloc;           /* --bpw/--size */
    const char *budget_spec;
    int layout;
    const rk_imatrix *im;
    const char *im_path;
    qrow *rows;
    size_t n, cap;
    int quiet, tty, solved;
    int phase_measuring;       /* progress bar */
    double phase_t0;
} qstate;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* the per-tensor line ("[i/n] name ..." or "measuring [i/n] name") as a progress bar with the phase and an ETA */
static void progress(qstate *q, const char *msg) {
    const int measuring = !strncmp(msg, "measuring ", 10);
    const char *b = strchr(msg, '[');
    long i = 0, n = 0;
    if (!b || sscanf(b, "[%ld/%ld]", &i, &n) != 2 || n <= 0) { fprintf(stderr, "\r\033[K%s", msg); return; }
    const char *name = strchr(b, ']');
    name = name ? name + 1 : "";
    while (*name == ' ') name++;
    char nm[48];
    size_t k = strcspn(name, " ");
    snprintf(nm, sizeof nm, "%.*s", (int)(k < sizeof nm - 1 ? k : sizeof nm - 1), name);
    const double t = now_s();
    if (measuring != q->phase_measuring || !q->phase_t0) q->phase_t0 = t, q->phase_measuring = measuring;
    const double done = (double)(i - 1) / (double)n, el = t - q->phase_t0;
    char eta[32] = "";
    if (done > 0.02 && el > 2) snprintf(eta, sizeof eta, " ETA %.0fs", el / done - el);
    char bar[31];
    int fill = (int)(done * 30.0 + 0.5);
    for (int j = 0; j < 30; j++) bar[j] = j < fill ? '#' : '-';
    bar[30] = 0;
    fprintf(stderr, "\r\033[K%s [%s] %3.0f%% %ld/%ld%s %s", measuring ? "measuring" : "writing  ", bar, 100.0 * done, i, n, eta, nm);
}

static void on_log(void *user, int level, const char *msg) {
    qstate *q = user;
    if (level == RK_LOG_TENSOR && (q->quiet || !q->tty)) return;
    if (level == RK_LOG_TENSOR) { progress(q, msg); return; }
    if (q->tty) fprintf(stderr, "\r\033[K");
    fprintf(stderr, "%s%s\n", level == RK_LOG_WARN ? "warning: " : "", msg);
}

static int decide(void *user, const rk_convert_tensor *t, int *type, rk_err *err) {
    qstate *q = user;
    rk_qdecision d;
    int rc = rk_recipe_decide(&q->recipe, t->cfg, t->name, t->n_dims, t->ne, &d, err);
    if (rc) return rc;
    if (q->alloc) {
        int at;
        if ((rc = rk_alloc_decide(q->alloc, t, &at, err))) return rc;
        d.type = d.recipe_type = at, d.fell_back = 0;
    }
    if (q->n == q->cap) {
        size_t nc = q->cap ? 2 * q->cap : 256;
        qrow *r = realloc(q->rows, nc * sizeof *r);
        if (!r) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
        q->rows = r, q->cap = nc;
    }
    qrow *r = &q->rows[q->n++];
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", t->name);
    r->n_dims = t->n_dims;
    for (uint32_t i = 0; i < t->n_dims && i < 4; i++) r->ne[i] = t->ne[i];
    r->type = d.type, r->recipe_type = d.recipe_type, r->fell_back = d.fell_back, r->overridden = d.overridden;
    *type = d.type;
    return 0;
}

/* the allocation: budget, predicted errors and shares per tensor (aligned with r1kit.quantize.types) */
static int alloc_kv(qstate *q, rk_gguf_writer *w) {
    const size_t n = rk_alloc_count(q->alloc);
    float *e = malloc((n ? n : 1) * sizeof *e), *s = malloc((n ? n : 1) * sizeof *s);
    int rc = e && s ? 0 : RK_ENOMEM;
    for (size_t i = 0; !rc && i < n; i++) {
        rk_alloc_unit u;
        rk_alloc_unit_at(q->alloc, i, &u);
        e[i] = (float)u.err, s[i] = (float)u.share;
    }
    if (!rc) rc = rk_gguf_set_str(w, "r1kit.quantize.alloc.budget", q->budget_spec);
    if (!rc) rc = rk_gguf_set_u64(w, "r1kit.quantize.alloc.budget_bytes", rk_alloc_budget(q->alloc));
    if (!rc) rc = rk_gguf_set_f64(w, "r1kit.quantize.alloc.predicted_error", rk_alloc_total_err(q->alloc));
    if (!rc) rc = rk_gguf_set_bool(w, "r1kit.quantize.alloc.routing", rk_alloc_has_routing(q->alloc));
    if (!rc) rc = rk_gguf_set_arr(w, "r1kit.quantize.alloc.errors", RK_GGUF_F32, e, n);
    if (!rc) rc = rk_gguf_set_arr(w, "r1kit.quantize.alloc.shares", RK_GGUF_F32, s, n);
    free(e), free(s);
    return rc;
}

/* with a budget: solve once (the measurement pass is over when the first type is asked), then decide */
static int alloc_decide(void *user, const rk_convert_tensor *t, int *type, rk_err *err) {
    qstate *q = user;
    if (!q->solved) {
        int rc = rk_alloc_solve(q->alloc, err);
        if (rc) return rc;
        q->solved = 1;
    }
    return decide(user, t, type, err);
}

static int extra_kv(void *user, rk_gguf_writer *w, rk_err *err) {
    qstate *q = user;
    int rc = rk_gguf_set_str(w, "r1kit.quantize.recipe", q->alloc ? "alloc" : rk_recipe_name(q->recipe.id));
    if (!rc) rc = rk_gguf_set_str(w, "r1kit.quantize.layout", q->layout == RK_CONVERT_EXPERTS_SPLIT ? "per-expert" : "stacked");
    if (!rc && q->alloc) rc = alloc_kv(q, w);
    char **items = calloc(q->n ? q->n : 1, sizeof *items);
    if (!items) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
    for (size_t i = 0; !rc && i < q->n; i++) {
        char tn[16];
        if (asprintf(&items[i], "%s=%s", q->rows[i].name, rk_recipe_type_name(q->rows[i].type, tn, sizeof tn)) < 0) {
            items[i] = NULL;
            rc = RK_ENOMEM;
        }
    }
    if (!rc) rc = rk_gguf_set_arr_str(w, "r1kit.quantize.types", (const char *const *)items, q->n);
    for (size_t i = 0; i < q->n; i++) free(items[i]);
    free(items);
    if (!rc && q->recipe.n_ov) {
        const char **ov = calloc(q->recipe.n_ov, sizeof *ov);
        if (!ov) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
        for (size_t i = 0; i < q->recipe.n_ov; i++) ov[i] = q->recipe.ov[i].spec;
        rc = rk_gguf_set_arr_str(w, "r1kit.quantize.overrides", ov, q->recipe.n_ov);
        free(ov);
    }
    if (!rc && q->im) {   /* the keys llama-quantize writes (tools/quantize/quantize.cpp) */
        rc = rk_gguf_set_str(w, "quantize.imatrix.file", q->im_path);
        const char *ds = rk_imatrix_dataset(q->im, 0);
        if (!rc && ds) rc = rk_gguf_set_str(w, "quantize.imatrix.dataset", ds);
        if (!rc) rc = rk_gguf_set_i32(w, "quantize.imatrix.entries_count", (int32_t)rk_imatrix_count(q->im));
        if (!rc) rc = rk_gguf_set_i32(w, "quantize.imatrix.chunks_count", (int32_t)rk_imatrix_chunk_count(q->im));
    }
    return rc ? rk_err_set(err, rc, UINT64_MAX, "cannot write the quantization metadata (%s)", rk_err_code_name(rc)) : 0;
}

static void print_table(const qstate *q) {
    uint64_t total = 0, params = 0;
    if (!q->quiet) printf("%-36s %-24s %-6s %12s%s\n", "tensor", "shape", "type", "bytes", q->alloc ? "   share  pred.error" : "");
    for (size_t i = 0; i < q->n; i++) {
        const qrow *r = &q->rows[i];
        uint64_t n = 1, bytes = 0;
        for (uint32_t d = 0; d < r->n_dims; d++) n *= (uint64_t)r->ne[d];
        rk_dtype_nbytes(r->type, n, &bytes);
        total += bytes, params += n;
        if (q->quiet) continue;
        char shape[64], tn[16], rn[16];
        size_t k = 0;
        for (uint32_t d = 0; d < r->n_dims && k < sizeof shape; d++)
            k += (size_t)snprintf(shape + k, sizeof shape - k, "%s%lld", d ? " x " : "", (long long)r->ne[d]);
        printf("%-36s %-24s %-6s %12llu", r->name, shape, rk_recipe_type_name(r->type, tn, sizeof tn), (unsigned long long)bytes);
        rk_alloc_unit u;
        if (q->alloc && i < rk_alloc_count(q->alloc)) {
            rk_alloc_unit_at(q->alloc, i, &u);
            if (u.fixed == 0) printf("  %6.4f  %10.3e", u.share, u.err);
            else printf("  %-18s", u.fixed == 1 ? "(kept)" : "(override)");
        } else if (r->overridden) printf("  (override)");
        else if (r->fell_back) printf("  (%s: rows of %lld)", rk_recipe_type_name(r->recipe_type, rn, sizeof rn), (long long)r->ne[0]);
        printf("\n");
    }
    printf("total: %zu tensors, %llu weights, %llu bytes (%.2f MiB), %.4f bits per weight, %s%s", q->n,
           (unsigned long long)params, (unsigned long long)total, (double)total / 1048576.0,
           params ? 8.0 * (double)total / (double)params : 0.0, q->alloc ? "allocated for " : "recipe ",
           q->alloc ? q->budget_spec : rk_recipe_name(q->recipe.id));
    if (q->alloc)
        printf(" (budget %llu bytes, predicted error %.4e%s)", (unsigned long long)rk_alloc_budget(q->alloc),
               rk_alloc_total_err(q->alloc), rk_alloc_has_routing(q->alloc) ? ", expert shares from routing" : "");
    printf("\n");
}

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

int rk_cmd_quantize(int argc, char **argv) {
    enum { O_RECIPE = 256, O_IMATRIX, O_OVERRIDE, O_THREADS, O_QUIET, O_BPW, O_SIZE, O_LAYOUT, O_SAMPLE };
    static const struct option opts[] = {
        { "recipe", required_argument, 0, O_RECIPE }, { "imatrix", required_argument, 0, O_IMATRIX },
        { "bpw", required_argument, 0, O_BPW }, { "size", required_argument, 0, O_SIZE },
        { "layout", required_argument, 0, O_LAYOUT }, { "sample-rows", required_argument, 0, O_SAMPLE },
        { "override", required_argument, 0, O_OVERRIDE }, { "threads", required_argument, 0, O_THREADS },
        { "quiet", no_argument, 0, O_QUIET }, { 0, 0, 0, 0 },
    };
    qstate q = { 0 };
    q.recipe.id = -1;
    q.tty = isatty(2);
    const char *recipe = NULL, *bpw_s = NULL, *size_s = NULL;
    int64_t threads = 0, sample_rows = 64;
    double bpw = 0;
    uint64_t size_bytes = 0;
    rk_imatrix *im = NULL;
    rk_err err;
    rk_err_clear(&err);
    int c, rc = 0;
    optind = 1;
    /* overrides are compiled after the recipe is known, in the order given */
    const char **ovs = calloc((size_t)argc + 1, sizeof *ovs);
    size_t n_ov = 0;
    if (!ovs) return rk_cli_exit_code(RK_ENOMEM);
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case O_RECIPE: recipe = optarg; break;
        case O_IMATRIX: q.im_path = optarg; break;
        case O_OVERRIDE: ovs[n_ov++] = optarg; break;
        case O_THREADS:
            if (rk_cli_parse_i64(optarg, 1, 4096, &threads)) {
                rc = rk_cli_usage_error("quantize", "--threads: '%s' is not a whole number in [1, 4096]", optarg);
                goto done;
            }
            break;
        case O_QUIET: q.quiet = 1; break;
        case O_BPW: {
            char *end;
            bpw_s = optarg;
            bpw = strtod(optarg, &end);
            if (end == optarg || *end || !(bpw >= 1.0 && bpw <= 32.0)) {
                rc = rk_cli_usage_error("quantize", "--bpw: '%s' is not a number of bits per weight in [1, 32]", optarg);
                goto done;
            }
            break;
        }
        case O_SIZE:
            size_s = optarg;
            if (rk_alloc_parse_size(optarg, &size_bytes)) {
                rc = rk_cli_usage_error("quantize", "--size: '%s' is not a size (e.g. 2.5GB, 800MB, 1.5GiB, bytes)", optarg);
                goto done;
            }
            break;
        case O_LAYOUT:
            if (!strcmp(optarg, "stacked")) q.layout = RK_CONVERT_EXPERTS_STACKED;
            else if (!strcmp(optarg, "per-expert")) q.layout = RK_CONVERT_EXPERTS_SPLIT;
            else { rc = rk_cli_usage_error("quantize", "--layout: '%s' is not stacked or per-expert", optarg); goto done; }
            break;
        case O_SAMPLE:
            if (rk_cli_parse_i64(optarg, 0, INT64_MAX / 2, &sample_rows)) {
                rc = rk_cli_usage_error("quantize", "--sample-rows: '%s' is not a whole number >= 0", optarg);
                goto done;
            }
            break;
        default: rc = rk_cli_usage_error("quantize", "bad option"); goto done;
        }
    }
    if (optind != argc - 2) { rc = rk_cli_usage_error("quantize", "expected IN and OUT.gguf"); goto done; }
    const char *in = argv[optind], *out = argv[optind + 1];
    if (!ends_with(out, ".gguf")) { rc = rk_cli_usage_error("quantize", "OUT must end in .gguf: '%s'", out); goto done; }
    if (!!recipe + !!bpw_s + !!size_s != 1) {
        rc = rk_cli_usage_error("quantize", "give one of --recipe (q8_0, q4, q2-moe, tq2-moe, q2), --bpw B or --size S");
        goto done;
    }
    /* with a budget, the recipe only supplies the fixed rules (kept F32, overrides) */
    if (rk_recipe_init(&q.recipe, recipe ? recipe : "q4", &err)) { rc = rk_cli_usage_error("quantize", "%s", err.msg); goto done; }
    for (size_t i = 0; i < n_ov; i++)
        if ((rc = rk_recipe_add_override(&q.recipe, ovs[i], &err))) {
            rc = rc == RK_ENOMEM ? rk_cli_fail("quantize", &err) : rk_cli_usage_error("quantize", "--override: %s", err.msg);
            goto done;
        }
    if (q.im_path && rk_imatrix_load(&im, q.im_path, &err)) { rc = rk_cli_fail("quantize", &err); goto done; }
    q.im = im;
    if (threads) omp_set_num_threads((int)threads);
    if (!recipe) {
        rk_alloc_opts ao = { size_bytes, bpw, &q.recipe, im, (int)threads };
        if (rk_alloc_new(&q.alloc, &ao, &err)) { rc = rk_cli_fail("quantize", &err); goto done; }
        q.budget_spec = bpw_s ? bpw_s : size_s;
        if (!im) fprintf(stderr, "note: no --imatrix: errors are unweighted and every routed expert weighs the same\n");
    }
    rk_convert_opts o;
    rk_convert_opts_init(&o);
    o.threads = (int)threads;
    o.log = on_log;
    o.log_user = &q;
    o.tensor_type = decide;
    o.tensor_type_user = &q;
    o.file_type = q.alloc ? RK_CONVERT_FTYPE_MOSTLY : rk_recipe_file_type(q.recipe.id);
    o.experts = q.layout;
    if (q.alloc) {
        o.measure = rk_alloc_measure;
        o.measure_user = q.alloc;
        o.measure_max_rows = sample_rows;
        o.tensor_type = alloc_decide;
    }
    o.imatrix = im;
    o.extra_kv = extra_kv;
    o.extra_kv_user = &q;
    int crc = rk_convert_to_gguf(in, out, &o, &err);
    if (crc == RK_EINVAL && q.alloc && strstr(err.msg, "cannot be met")) {   /* a budget too small: a usage error */
        if (q.tty && !q.quiet) fprintf(stderr, "\r\033[K");
        rc = rk_cli_usage_error("quantize", "%s", err.msg);
        goto done;
    }
    if (q.tty && !q.quiet) fprintf(stderr, "\r\033[K");
    if (crc) { rc = rk_cli_fail("quantize", &err); goto done; }
    print_table(&q);
    fprintf(stderr, "wrote %s\n", out);
    rc = 0;
done:
    free(ovs);
    free(q.rows);
    rk_recipe_free(&q.recipe);
    rk_alloc_free(q.alloc);
    rk_imatrix_free(im);
    return rc;
}
