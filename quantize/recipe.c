/* quantize/recipe.c — named quantization recipes and the per-tensor type decision (quantize/recipe.h).
 *
 * Pure name/shape logic: nothing is read. The classes follow llama.cpp's tensor names (docs/gguf-layout.md);
 * the shape fallback is llama.cpp's tensor_type_fallback (src/llama-quant.cpp), so a file we write has the
 * types llama-quantize would pick for the same request. */
#define _GNU_SOURCE
#include "quantize/recipe.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const g_names[RK_RECIPE_COUNT] = { "q8_0", "q4", "q2-moe", "tq2-moe", "q2" };

const char *rk_recipe_name(int id) { return id >= 0 && id < RK_RECIPE_COUNT ? g_names[id] : "?"; }

uint32_t rk_recipe_file_type(int id) {
    switch (id) {
    case RK_RECIPE_Q8_0: return 7;      /* LLAMA_FTYPE_MOSTLY_Q8_0 */
    case RK_RECIPE_Q4: return 14;       /* LLAMA_FTYPE_MOSTLY_Q4_K_S (Q4_K with a Q6_K output) */
    case RK_RECIPE_Q2_MOE: return 10;   /* LLAMA_FTYPE_MOSTLY_Q2_K */
    case RK_RECIPE_TQ2_MOE: return 37;  /* LLAMA_FTYPE_MOSTLY_TQ2_0 */
    case RK_RECIPE_Q2: return 10;       /* LLAMA_FTYPE_MOSTLY_Q2_K */
    default: return 1024;               /* LLAMA_FTYPE_GUESSED */
    }
}

uint32_t rk_recipe_file_type_of(int type) {
    switch (type) {
    case RK_DTYPE_F32: return 0;
    case RK_DTYPE_F16: return 1;
    case RK_DTYPE_Q4_0: return 2;
    case RK_DTYPE_Q4_1: return 3;
    case RK_DTYPE_Q8_0: return 7;
    case RK_DTYPE_Q5_0: return 8;
    case RK_DTYPE_Q5_1: return 9;
    case RK_DTYPE_Q2_K: return 10;
    case RK_DTYPE_Q3_K: return 11;   /* Q3_K_S */
    case RK_DTYPE_Q4_K: return 14;   /* Q4_K_S */
    case RK_DTYPE_Q5_K: return 16;   /* Q5_K_S */
    case RK_DTYPE_Q6_K: return 18;
    case RK_DTYPE_BF16: return 32;
    case RK_DTYPE_TQ2_0: return 37;
    default: return 1024;
    }
}

int rk_recipe_init(rk_recipe *r, const char *name, rk_err *err) {
    memset(r, 0, sizeof *r);
    r->id = -1;
    for (int i = 0; name && i < RK_RECIPE_COUNT; i++)
        if (!strcasecmp(name, g_names[i])) { r->id = i; return 0; }
    return rk_err_set(err, RK_EINVAL, UINT64_MAX, "unknown recipe '%s' (known: q8_0, q4, q2-moe, tq2-moe, q2)", name ? name : "");
}

void rk_recipe_free(rk_recipe *r) {
    if (!r) return;
    for (size_t i = 0; i < r->n_ov; i++) {
        if (r->ov[i].re) regfree(r->ov[i].re);
        free(r->ov[i].re);
        free(r->ov[i].spec);
    }
    free(r->ov);
    r->ov = NULL;
    r->n_ov = 0;
}

static const struct { const char *name; int type; } g_types[] = {
    { "f32", RK_DTYPE_F32 }, { "f16", RK_DTYPE_F16 }, { "bf16", RK_DTYPE_BF16 }, { "q8_0", RK_DTYPE_Q8_0 },
    { "q4_0", RK_DTYPE_Q4_0 }, { "q4_1", RK_DTYPE_Q4_1 }, { "q5_0", RK_DTYPE_Q5_0 }, { "q5_1", RK_DTYPE_Q5_1 },
    { "q2_k", RK_DTYPE_Q2_K }, { "q3_k", RK_DTYPE_Q3_K }, { "q4_k", RK_DTYPE_Q4_K }, { "q5_k", RK_DTYPE_Q5_K },
    { "q6_k", RK_DTYPE_Q6_K }, { "tq2_0", RK_DTYPE_TQ2_0 },
};

int rk_recipe_type_from_name(const char *s) {
    for (size_t i = 0; s && i < sizeof g_types / sizeof g_types[0]; i++)
        if (!strcasecmp(s, g_types[i].name)) return g_types[i].type;
    return RK_DTYPE_INVALID;
}

const char *rk_recipe_type_name(int type, char *buf, size_t cap) {
    for (size_t i = 0; i < sizeof g_types / sizeof g_types[0]; i++)
        if (g_types[i].type == type) { snprintf(buf, cap, "%s", g_types[i].name); return buf; }
    snprintf(buf, cap, "%s", rk_dtype_name(type));
    return buf;
}

int rk_recipe_add_override(rk_recipe *r, const char *spec, rk_err *err) {
    const char *eq = spec ? strrchr(spec, '=') : NULL;
    if (!eq) return rk_err_set(err, RK_EINVAL, UINT64_MAX, "override '%s' is not REGEX=TYPE", spec ? spec : "");
    if (eq == spec) return rk_err_set(err, RK_EINVAL, UINT64_MAX, "override '%s' has an empty regex", spec);
    const int type = rk_recipe_type_from_name(eq + 1);
    if (type == RK_DTYPE_INVALID)
        return rk_err_set(err, RK_EINVAL, UINT64_MAX,
                          "override '%s': unknown type '%s' (f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q2_k, q3_k, "
                          "q4_k, q5_k, q6_k, tq2_0)", spec, eq + 1);
    char *pat = strndup(spec, (size_t)(eq - spec));
    regex_t *re = calloc(1, sizeof *re);
    rk_recipe_override *ov = realloc(r->ov, (r->n_ov + 1) * sizeof *ov);
    if (ov) r->ov = ov;
    char *dup = rk_strdup(spec);
    if (!pat || !re || !ov || !dup) {
        free(pat), free(re), free(dup);
        return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
    }
    int rc = regcomp(re, pat, REG_EXTENDED | REG_NOSUB);
    if (rc) {
        char msg[128];
        regerror(rc, re, msg, sizeof msg);
        free(pat), free(re), free(dup);
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "override '%s': bad regex: %s", spec, msg);
    }
    free(pat);
    r->ov[r->n_ov++] = (rk_recipe_override){ dup, re, type };
    return 0;
}

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

/* "blk.N.<base>.<suffix>" → base in buf; 0 if the name is not a block tensor */
static int block_base(const char *name, char *buf, size_t cap) {
    if (strncmp(name, "blk.", 4)) return 0;
    const char *p = name + 4;
    if (*p < '0' || *p > '9') return 0;
    while (*p >= '0' && *p <= '9') p++;
    if (*p++ != '.') return 0;
    const char *dot = strrchr(p, '.');
    size_t n = dot ? (size_t)(dot - p) : strlen(p);
    if (n + 1 > cap) return 0;
    memcpy(buf, p, n);
    buf[n] = 0;
    return 1;
}

int rk_recipe_expert_of(const char *name, int64_t *layer, int *proj, int64_t *expert) {
    static const char *const k[3] = { "gate", "up", "down" };
    long long il, e;
    char p[8];
    int used = 0, pr = -1;
    *expert = -1;
    if (sscanf(name, "blk.%lld.ffn_%4[a-z]_exps.weight%n", &il, p, &used) == 2 && used > 0 && !name[used]) {
        e = -1;
    } else {
        used = 0;
        if (sscanf(name, "blk.%lld.ffn_%4[a-z].%lld.weight%n", &il, p, &e, &used) != 3 || used <= 0 || name[used] || e < 0)
            return 0;
    }
    for (int i = 0; i < 3; i++)
        if (!strcmp(p, k[i])) pr = i;
    if (pr < 0 || il < 0) return 0;
    if (layer) *layer = il;
    if (proj) *proj = pr;
    *expert = e;
    return 1;
}

rk_qclass rk_recipe_class(const char *name, uint32_t n_dims) {
    if (n_dims <= 1 || !ends_with(name, ".weight") || ends_with(name, "_norm.weight") || strstr(name, "ffn_gate_inp") ||
        strstr(name, "exp_probs_b") || !strncmp(name, "rope_freqs", 10))
        return RK_QCLASS_KEEP;
    if (!strcmp(name, "token_embd.weight")) return RK_QCLASS_TOKEN_EMBD;
    if (!strcmp(name, "output.weight")) return RK_QCLASS_OUTPUT;
    char base[64];
    if (!block_base(name, base, sizeof base)) return RK_QCLASS_OTHER;
    int64_t e;
    if (rk_recipe_expert_of(name, NULL, NULL, &e)) return RK_QCLASS_EXPERTS;
    if (ends_with(base, "_shexp")) return RK_QCLASS_SHARED;
    if (!strncmp(base, "attn_", 5)) return RK_QCLASS_ATTN;
    if (!strcmp(base, "ffn_gate") || !strcmp(base, "ffn_up") || !strcmp(base, "ffn_down")) return RK_QCLASS_FFN;
    return RK_QCLASS_OTHER;
}

static int recipe_type(int id, rk_qclass c) {
    switch (id) {
    case RK_RECIPE_Q8_0: return RK_DTYPE_Q8_0;
    case RK_RECIPE_Q4: return c == RK_QCLASS_OUTPUT ? RK_DTYPE_Q6_K : RK_DTYPE_Q4_K;
    case RK_RECIPE_Q2_MOE:
        return c == RK_QCLASS_EXPERTS ? RK_DTYPE_Q2_K : c == RK_QCLASS_OUTPUT ? RK_DTYPE_Q6_K : RK_DTYPE_Q4_K;
    case RK_RECIPE_TQ2_MOE:
        return c == RK_QCLASS_EXPERTS ? RK_DTYPE_TQ2_0 : c == RK_QCLASS_OUTPUT ? RK_DTYPE_Q6_K : RK_DTYPE_Q4_K;
    case RK_RECIPE_Q2: return c == RK_QCLASS_OUTPUT ? RK_DTYPE_Q6_K : RK_DTYPE_Q2_K;
    default: return RK_DTYPE_INVALID;
    }
}

static int64_t block_of(int type) {
    const rk_dtype_traits *t = rk_dtype_get(type);
    return t ? (int64_t)t->block_size : 1;
}

/* llama.cpp's tensor_type_fallback */
static int fallback(int type, int64_t ne0) {
    if (ne0 % block_of(type) == 0) return type;
    int f;
    switch (type) {
    case RK_DTYPE_Q2_K: case RK_DTYPE_Q3_K: case RK_DTYPE_TQ2_0: f = RK_DTYPE_Q4_0; break;
    case RK_DTYPE_Q4_K: f = RK_DTYPE_Q5_0; break;
    case RK_DTYPE_Q5_K: f = RK_DTYPE_Q5_1; break;
    case RK_DTYPE_Q6_K: f = RK_DTYPE_Q8_0; break;
    default: f = type; break;   /* 32-wide types */
    }
    return ne0 % block_of(f) == 0 ? f : RK_DTYPE_F16;
}

int rk_recipe_decide(const rk_recipe *r, const rk_hf_config *cfg, const char *name, uint32_t n_dims, const int64_t *ne,
                     rk_qdecision *out, rk_err *err) {
    (void)cfg;
    memset(out, 0, sizeof *out);
    out->override_index = -1;
    if (!r || r->id < 0 || r->id >= RK_RECIPE_COUNT)
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "internal: no recipe for tensor '%s'", name);
    if (n_dims < 1 || n_dims > 4 || ne[0] <= 0)
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "tensor '%s': bad shape (%u dims)", name, n_dims);
    const rk_qclass c = rk_recipe_class(name, n_dims);
    out->cls = c;
    if (c == RK_QCLASS_KEEP) {
        out->type = out->recipe_type = RK_DTYPE_F32;
        return 0;
    }
    out->recipe_type = recipe_type(r->id, c);
    out->type = fallback(out->recipe_type, ne[0]);
    out->fell_back = out->type != out->recipe_type;
    for (size_t i = 0; i < r->n_ov; i++) {
        if (regexec((const regex_t *)r->ov[i].re, name, 0, NULL, 0)) continue;
        const int t = r->ov[i].type;
        if (ne[0] % block_of(t)) {
            char tn[16];
            return rk_err_set(err, RK_EINVAL, UINT64_MAX,
                              "override '%s': tensor '%s' has rows of %lld, not a multiple of %s's block of %lld",
                              r->ov[i].spec, name, (long long)ne[0], rk_recipe_type_name(t, tn, sizeof tn),
                              (long long)block_of(t));
        }
        out->type = t;
        out->overridden = 1;
        out->override_index = (int64_t)i;
        break;
    }
    return 0;
}
