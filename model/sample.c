/* model/sample.c — random-weight HF checkpoints for demos, tests and benchmarks (see sample.h).
 * Weights are N(0, 0.02) from a counter-based generator (splitmix64 of seed, tensor, element), so bytes do
 * not depend on the thread count; norms are 1 ± small noise, biases small. FP8 weights are made the way
 * DeepSeek's release stores them: per 128x128 block, scale_inv = amax/448 and w = e4m3(x / scale_inv). */
#define _GNU_SOURCE
#include "model/sample.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "formats/numeric.h"
#include "formats/safetensors.h"

enum { K_WEIGHT, K_NORM, K_BIAS, K_ZERO };
typedef struct plan_t {
    char name[192];
    int dtype;          /* stored dtype */
    int n_dims;
    int64_t shape[2];
    int kind;
    int fp8;            /* 1: this is an FP8 weight; next entry is its scale */
    int scale_of;       /* 1: a scale companion; its weight is entry `weight` */
    size_t weight;
    float *scale_data;  /* filled when the weight is written, consumed when the scale is */
} plan_t;

typedef struct plan_list { plan_t *v; size_t n, cap; } plan_list;

static int plan_add(plan_list *p, const char *name, int dtype, int nd, int64_t a, int64_t b, int kind) {
    if (p->n == p->cap) {
        size_t c = p->cap ? p->cap * 2 : 64;
        plan_t *v = realloc(p->v, c * sizeof *v);
        if (!v) return RK_ENOMEM;
        p->v = v, p->cap = c;
    }
    plan_t *t = &p->v[p->n++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->dtype = dtype, t->n_dims = nd, t->shape[0] = a, t->shape[1] = b, t->kind = kind;
    return 0;
}

/* a linear weight [out, in]: FP8 + scale_inv when the checkpoint is FP8, else the weight dtype */
static int add_linear(plan_list *p, const rk_sample_opts *o, const char *name, int64_t out, int64_t in) {
    if (o->weight_dtype != RK_DTYPE_F8_E4M3) return plan_add(p, name, o->weight_dtype, 2, out, in, K_WEIGHT);
    int rc = plan_add(p, name, RK_DTYPE_F8_E4M3, 2, out, in, K_WEIGHT);
    if (rc) return rc;
    p->v[p->n - 1].fp8 = 1;
    char sn[160];
    snprintf(sn, sizeof sn, "%s_scale_inv", name);
    if ((rc = plan_add(p, sn, RK_DTYPE_F32, 2, (out + 127) / 128, (in + 127) / 128, K_WEIGHT))) return rc;
    p->v[p->n - 1].scale_of = 1;
    p->v[p->n - 1].weight = p->n - 2;
    return 0;
}

static int other_dtype(const rk_sample_opts *o) { return o->weight_dtype == RK_DTYPE_F8_E4M3 ? RK_DTYPE_BF16 : o->weight_dtype; }

static int build_plan(const rk_sample_opts *o, plan_list *p) {
    char n[160];
    int od = other_dtype(o), rc = 0;
    int ds = !strcmp(o->arch, "deepseek_v3");
    int64_t hd = o->hidden / o->heads;
#define ADD(expr) do { if ((rc = (expr))) return rc; } while (0)
    ADD(plan_add(p, "model.embed_tokens.weight", od, 2, o->vocab, o->hidden, K_WEIGHT));
    int64_t total_layers = o->layers + (ds ? o->mtp_layers : 0);
    for (int64_t l = 0; l < total_layers; l++) {
#define NM(fmt) (snprintf(n, sizeof n, "model.layers.%lld." fmt, (long long)l), n)
        if (ds && l >= o->layers) {   /* MTP module, as in R1's release: extra tensors around a full layer */
            ADD(plan_add(p, NM("enorm.weight"), od, 1, o->hidden, 0, K_NORM));
            ADD(plan_add(p, NM("hnorm.weight"), od, 1, o->hidden, 0, K_NORM));
            ADD(add_linear(p, o, NM("eh_proj.weight"), o->hidden, 2 * o->hidden));
            ADD(plan_add(p, NM("shared_head.norm.weight"), od, 1, o->hidden, 0, K_NORM));
        }
        ADD(plan_add(p, NM("input_layernorm.weight"), od, 1, o->hidden, 0, K_NORM));
        if (ds) {
            int64_t qk = o->nope + o->rope;
            if (o->q_lora) {
                ADD(add_linear(p, o, NM("self_attn.q_a_proj.weight"), o->q_lora, o->hidden));
                ADD(plan_add(p, NM("self_attn.q_a_layernorm.weight"), od, 1, o->q_lora, 0, K_NORM));
                ADD(add_linear(p, o, NM("self_attn.q_b_proj.weight"), o->heads * qk, o->q_lora));
            } else {
                ADD(add_linear(p, o, NM("self_attn.q_proj.weight"), o->heads * qk, o->hidden));
            }
            ADD(add_linear(p, o, NM("self_attn.kv_a_proj_with_mqa.weight"), o->kv_lora + o->rope, o->hidden));
            ADD(plan_add(p, NM("self_attn.kv_a_layernorm.weight"), od, 1, o->kv_lora, 0, K_NORM));
            ADD(add_linear(p, o, NM("self_attn.kv_b_proj.weight"), o->heads * (o->nope + o->v_dim), o->kv_lora));
            ADD(add_linear(p, o, NM("self_attn.o_proj.weight"), o->hidden, o->heads * o->v_dim));
        } else {
            int bias = !strcmp(o->arch, "qwen2");
            ADD(add_linear(p, o, NM("self_attn.q_proj.weight"), o->heads * hd, o->hidden));
            if (bias) ADD(plan_add(p, NM("self_attn.q_proj.bias"), od, 1, o->heads * hd, 0, K_BIAS));
            ADD(add_linear(p, o, NM("self_attn.k_proj.weight"), o->kv_heads * hd, o->hidden));
            if (bias) ADD(plan_add(p, NM("self_attn.k_proj.bias"), od, 1, o->kv_heads * hd, 0, K_BIAS));
            ADD(add_linear(p, o, NM("self_attn.v_proj.weight"), o->kv_heads * hd, o->hidden));
            if (bias) ADD(plan_add(p, NM("self_attn.v_proj.bias"), od, 1, o->kv_heads * hd, 0, K_BIAS));
            ADD(add_linear(p, o, NM("self_attn.o_proj.weight"), o->hidden, o->heads * hd));
        }
        ADD(plan_add(p, NM("post_attention_layernorm.weight"), od, 1, o->hidden, 0, K_NORM));
        if (!ds || l < o->dense_layers) {
            ADD(add_linear(p, o, NM("mlp.gate_proj.weight"), o->inter, o->hidden));
            ADD(add_linear(p, o, NM("mlp.up_proj.weight"), o->inter, o->hidden));
            ADD(add_linear(p, o, NM("mlp.down_proj.weight"), o->hidden, o->inter));
        } else {
            ADD(plan_add(p, NM("mlp.gate.weight"), od, 2, o->n_experts, o->hidden, K_WEIGHT));
            ADD(plan_add(p, NM("mlp.gate.e_score_correction_bias"), RK_DTYPE_F32, 1, o->n_experts, 0, K_BIAS));
            for (int64_t e = 0; e < o->n_experts; e++) {
                char en[160];
                snprintf(en, sizeof en, "model.layers.%lld.mlp.experts.%lld.gate_proj.weight", (long long)l, (long long)e);
                ADD(add_linear(p, o, en, o->moe_inter, o->hidden));
                snprintf(en, sizeof en, "model.layers.%lld.mlp.experts.%lld.up_proj.weight", (long long)l, (long long)e);
                ADD(add_linear(p, o, en, o->moe_inter, o->hidden));
                snprintf(en, sizeof en, "model.layers.%lld.mlp.experts.%lld.down_proj.weight", (long long)l, (long long)e);
                ADD(add_linear(p, o, en, o->hidden, o->moe_inter));
            }
            int64_t si = o->moe_inter * o->n_shared;
            if (si) {
                ADD(add_linear(p, o, NM("mlp.shared_experts.gate_proj.weight"), si, o->hidden));
                ADD(add_linear(p, o, NM("mlp.shared_experts.up_proj.weight"), si, o->hidden));
                ADD(add_linear(p, o, NM("mlp.shared_experts.down_proj.weight"), o->hidden, si));
            }
        }
        if (ds && l >= o->layers) ADD(plan_add(p, NM("embed_tokens.weight"), od, 2, o->vocab, o->hidden, K_WEIGHT));
        if (ds && l >= o->layers) ADD(plan_add(p, NM("shared_head.head.weight"), od, 2, o->vocab, o->hidden, K_WEIGHT));
#undef NM
    }
    ADD(plan_add(p, "model.norm.weight", od, 1, o->hidden, 0, K_NORM));
    if (!o->tie_embeddings) ADD(plan_add(p, "lm_head.weight", od, 2, o->vocab, o->hidden, K_WEIGHT));
#undef ADD
    if (o->scales_at_end) {   /* stable partition: weights first, then scales */
        plan_t *v = malloc(p->n * sizeof *v);
        size_t k = 0, *where = malloc(p->n * sizeof *where);
        if (!v || !where) { free(v); free(where); return RK_ENOMEM; }
        for (int pass = 0; pass < 2; pass++)
            for (size_t i = 0; i < p->n; i++)
                if (p->v[i].scale_of == pass) where[i] = k, v[k++] = p->v[i];
        for (size_t i = 0; i < p->n; i++)
            if (v[i].scale_of) v[i].weight = where[v[i].weight];
        free(p->v);
        free(where);
        p->v = v;
    }
    return 0;
}

/* ---- deterministic values ---- */
static inline uint64_t mix64(uint64_t z) {
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void fill(float *x, uint64_t n, uint64_t seed, int kind) {
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < (int64_t)n; i++) {
        uint64_t r = mix64(seed ^ mix64((uint64_t)i));
        double u1 = ((r >> 11) + 1) * (1.0 / 9007199254740993.0);
        double u2 = (mix64(r) >> 11) * (1.0 / 9007199254740992.0);
        double g = sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
        switch (kind) {
        case K_NORM: x[i] = (float)(1.0 + 0.05 * g); break;
        case K_BIAS: x[i] = (float)(0.01 * g); break;
        case K_ZERO: x[i] = 0; break;
        default: x[i] = (float)(0.02 * g); break;
        }
    }
}

static uint64_t tensor_bytes(const plan_t *t) {
    uint64_t n = (uint64_t)t->shape[0] * (uint64_t)(t->n_dims == 2 ? t->shape[1] : 1), b = 0;
    rk_dtype_nbytes(t->dtype, n, &b);
    return b;
}

uint64_t rk_sample_nbytes(const rk_sample_opts *o) {
    plan_list p = {0};
    uint64_t total = 0;
    if (build_plan(o, &p) == 0)
        for (size_t i = 0; i < p.n; i++) total += tensor_bytes(&p.v[i]);
    free(p.v);
    return total;
}

/* ---- tokenizer: GPT-2 byte-level alphabet, a few merges, the family's special tokens ---- */
static void byte_token(int b, char *out) {
    int cp;
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) cp = b;
    else {
        int k = 0;   /* index among the bytes that are remapped, in byte order */
        for (int c = 0; c < b; c++)
            if (!((c >= 33 && c <= 126) || (c >= 161 && c <= 172) || (c >= 174 && c <= 255))) k++;
        cp = 256 + k;
    }
    if (cp < 0x80) out[0] = (char)cp, out[1] = 0;
    else out[0] = (char)(0xC0 | (cp >> 6)), out[1] = (char)(0x80 | (cp & 0x3F)), out[2] = 0;
}

static const char *const k_merges[][2] = {
    { "Ġ", "t" }, { "h", "e" }, { "i", "n" }, { "Ġ", "a" }, { "e", "r" }, { "a", "n" }, { "o", "n" }, { "Ġt", "he" },
};
#define N_MERGES (sizeof k_merges / sizeof k_merges[0])

static void specials(const char *arch, const char *sp[3]) {
    if (!strcmp(arch, "qwen2")) sp[0] = "<|endoftext|>", sp[1] = "<|im_start|>", sp[2] = "<|im_end|>";
    else if (!strcmp(arch, "llama")) sp[0] = "<|begin_of_text|>", sp[1] = "<|end_of_text|>", sp[2] = "<|eot_id|>";
    else sp[0] = "<｜begin▁of▁sentence｜>", sp[1] = "<｜end▁of▁sentence｜>", sp[2] = "<｜▁pad▁｜>";
}

static int64_t tokenizer_size(void) { return 256 + (int64_t)N_MERGES + 3; }

static int write_json(const char *dir, const char *name, cJSON *j, rk_err *err) {
    char *txt = cJSON_Print(j), *path = rk_path_join(dir, name);
    int rc = 0;
    rk_outfile of;
    if (!txt || !path) { rc = rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory"); goto done; }
    if ((rc = rk_outfile_open(&of, path, err))) goto done;
    if ((rc = rk_outfile_write(&of, txt, strlen(txt), err)) || (rc = rk_outfile_write(&of, "\n", 1, err))) {
        rk_outfile_abort(&of);
        goto done;
    }
    rc = rk_outfile_commit(&of, err);
done:
    free(txt);
    free(path);
    return rc;
}

static int write_tokenizer(const char *dir, const rk_sample_opts *o, rk_err *err) {
    const char *sp[3];
    specials(o->arch, sp);
    cJSON *j = cJSON_CreateObject(), *added = cJSON_AddArrayToObject(j, "added_tokens");
    cJSON_AddStringToObject(j, "version", "1.0");
    for (int i = 0; i < 3; i++) {
        cJSON *a = cJSON_CreateObject();
        cJSON_AddNumberToObject(a, "id", (double)(256 + N_MERGES + i));
        cJSON_AddStringToObject(a, "content", sp[i]);
        cJSON_AddBoolToObject(a, "single_word", 0);
        cJSON_AddBoolToObject(a, "lstrip", 0);
        cJSON_AddBoolToObject(a, "rstrip", 0);
        cJSON_AddBoolToObject(a, "normalized", 0);
        cJSON_AddBoolToObject(a, "special", 1);
        cJSON_AddItemToArray(added, a);
    }
    cJSON_AddNullToObject(j, "normalizer");
    cJSON *pre = cJSON_AddObjectToObject(j, "pre_tokenizer");
    cJSON_AddStringToObject(pre, "type", "Sequence");
    cJSON *pts = cJSON_AddArrayToObject(pre, "pretokenizers");
    /* the split patterns each family's published tokenizer.json uses */
    static const char *const rx_llama3[] = {
        "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+", NULL };
    static const char *const rx_qwen2[] = {
        "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+", NULL };
    static const char *const rx_deepseek[] = {
        "\\p{N}{1,3}",
        "[\xE4\xB8\x80-\xE9\xBE\xA5\xE3\x81\x80-\xE3\x82\x9F\xE3\x82\xA0-\xE3\x83\xBF]+",
        "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
        NULL };
    const char *const *rx = !strcmp(o->arch, "qwen2") ? rx_qwen2 : !strcmp(o->arch, "llama") ? rx_llama3 : rx_deepseek;
    for (; *rx; rx++) {
        cJSON *split = cJSON_CreateObject();
        cJSON_AddStringToObject(split, "type", "Split");
        cJSON *pat = cJSON_AddObjectToObject(split, "pattern");
        cJSON_AddStringToObject(pat, "Regex", *rx);
        cJSON_AddStringToObject(split, "behavior", "Isolated");
        cJSON_AddBoolToObject(split, "invert", 0);
        cJSON_AddItemToArray(pts, split);
    }
    cJSON *bl = cJSON_CreateObject();
    cJSON_AddStringToObject(bl, "type", "ByteLevel");
    cJSON_AddBoolToObject(bl, "add_prefix_space", 0);
    cJSON_AddBoolToObject(bl, "trim_offsets", 0);
    cJSON_AddBoolToObject(bl, "use_regex", 0);
    cJSON_AddItemToArray(pts, bl);
    cJSON *dec = cJSON_AddObjectToObject(j, "decoder");
    cJSON_AddStringToObject(dec, "type", "ByteLevel");
    cJSON *model = cJSON_AddObjectToObject(j, "model");
    cJSON_AddStringToObject(model, "type", "BPE");
    cJSON_AddBoolToObject(model, "byte_fallback", 0);
    cJSON *vocab = cJSON_AddObjectToObject(model, "vocab");
    char tok[8];
    for (int b = 0; b < 256; b++) {
        byte_token(b, tok);
        cJSON_AddNumberToObject(vocab, tok, b);
    }
    cJSON *merges = cJSON_AddArrayToObject(model, "merges");
    for (size_t m = 0; m < N_MERGES; m++) {
        char both[32], cat[32];
        snprintf(both, sizeof both, "%s %s", k_merges[m][0], k_merges[m][1]);
        snprintf(cat, sizeof cat, "%s%s", k_merges[m][0], k_merges[m][1]);
        cJSON_AddNumberToObject(vocab, cat, (double)(256 + m));
        cJSON_AddItemToArray(merges, cJSON_CreateString(both));
    }
    for (int i = 0; i < 3; i++) cJSON_AddNumberToObject(vocab, sp[i], (double)(256 + N_MERGES + i));
    int rc = write_json(dir, "tokenizer.json", j, err);
    cJSON_Delete(j);
    if (rc) return rc;

    int ds = !strcmp(o->arch, "deepseek_v3"), qw = !strcmp(o->arch, "qwen2");
    j = cJSON_CreateObject();
    cJSON_AddBoolToObject(j, "add_bos_token", !qw);
    cJSON_AddBoolToObject(j, "add_eos_token", 0);
    if (!qw) cJSON_AddStringToObject(j, "bos_token", sp[0]);
    cJSON_AddStringToObject(j, "eos_token", qw ? sp[2] : sp[1]);
    if (ds) cJSON_AddStringToObject(j, "pad_token", sp[2]);
    cJSON_AddStringToObject(j, "tokenizer_class", ds ? "LlamaTokenizerFast" : qw ? "Qwen2Tokenizer" : "PreTrainedTokenizerFast");
    cJSON_AddNumberToObject(j, "model_max_length", 4096);
    cJSON_AddStringToObject(j, "chat_template",
        "{% for message in messages %}{{ message['role'] + ': ' + message['content'] + '\\n' }}{% endfor %}");
    rc = write_json(dir, "tokenizer_config.json", j, err);
    cJSON_Delete(j);
    return rc;
}

static int write_configs(const char *dir, const rk_sample_opts *o, rk_err *err) {
    int ds = !strcmp(o->arch, "deepseek_v3"), qw = !strcmp(o->arch, "qwen2");
    int64_t bos = 256 + N_MERGES, eos = bos + (qw ? 2 : 1);
    cJSON *j = cJSON_CreateObject();
    cJSON *archs = cJSON_AddArrayToObject(j, "architectures");
    cJSON_AddItemToArray(archs, cJSON_CreateString(ds ? "DeepseekV3ForCausalLM" : qw ? "Qwen2ForCausalLM" : "LlamaForCausalLM"));
    cJSON_AddStringToObject(j, "model_type", o->arch);
    cJSON_AddNumberToObject(j, "vocab_size", (double)o->vocab);
    cJSON_AddNumberToObject(j, "hidden_size", (double)o->hidden);
    cJSON_AddNumberToObject(j, "intermediate_size", (double)o->inter);
    cJSON_AddNumberToObject(j, "num_hidden_layers", (double)o->layers);
    cJSON_AddNumberToObject(j, "num_attention_heads", (double)o->heads);
    cJSON_AddNumberToObject(j, "num_key_value_heads", (double)(ds ? o->heads : o->kv_heads));
    cJSON_AddNumberToObject(j, "max_position_embeddings", 4096);
    cJSON_AddNumberToObject(j, "rms_norm_eps", ds ? 1e-6 : 1e-5);
    cJSON_AddNumberToObject(j, "bos_token_id", (double)bos);
    cJSON_AddNumberToObject(j, "eos_token_id", (double)eos);
    cJSON_AddBoolToObject(j, "tie_word_embeddings", o->tie_embeddings);
    cJSON_AddStringToObject(j, "torch_dtype", o->weight_dtype == RK_DTYPE_F32 ? "float32" :
                                              o->weight_dtype == RK_DTYPE_F16 ? "float16" : "bfloat16");
    cJSON_AddStringToObject(j, "hidden_act", "silu");
    if (ds) {
        cJSON_AddNumberToObject(j, "rope_theta", 10000);
        if (o->q_lora) cJSON_AddNumberToObject(j, "q_lora_rank", (double)o->q_lora);
        else cJSON_AddNullToObject(j, "q_lora_rank");
        cJSON_AddNumberToObject(j, "kv_lora_rank", (double)o->kv_lora);
        cJSON_AddNumberToObject(j, "qk_nope_head_dim", (double)o->nope);
        cJSON_AddNumberToObject(j, "qk_rope_head_dim", (double)o->rope);
        cJSON_AddNumberToObject(j, "v_head_dim", (double)o->v_dim);
        cJSON_AddNumberToObject(j, "moe_intermediate_size", (double)o->moe_inter);
        cJSON_AddNumberToObject(j, "n_routed_experts", (double)o->n_experts);
        cJSON_AddNumberToObject(j, "n_shared_experts", (double)o->n_shared);
        cJSON_AddNumberToObject(j, "num_experts_per_tok", (double)o->top_k);
        cJSON_AddNumberToObject(j, "first_k_dense_replace", (double)o->dense_layers);
        cJSON_AddNumberToObject(j, "moe_layer_freq", 1);
        cJSON_AddNumberToObject(j, "n_group", (double)o->n_group);
        cJSON_AddNumberToObject(j, "topk_group", (double)o->topk_group);
        cJSON_AddStringToObject(j, "topk_method", "noaux_tc");
        cJSON_AddStringToObject(j, "scoring_func", "sigmoid");
        cJSON_AddBoolToObject(j, "norm_topk_prob", 1);
        cJSON_AddNumberToObject(j, "routed_scaling_factor", 2.5);
        cJSON_AddNumberToObject(j, "num_nextn_predict_layers", (double)o->mtp_layers);
        cJSON_AddBoolToObject(j, "attention_bias", 0);
        cJSON *rs = cJSON_AddObjectToObject(j, "rope_scaling");
        cJSON_AddStringToObject(rs, "type", "yarn");
        cJSON_AddNumberToObject(rs, "factor", 40);
        cJSON_AddNumberToObject(rs, "original_max_position_embeddings", 4096);
        cJSON_AddNumberToObject(rs, "beta_fast", 32);
        cJSON_AddNumberToObject(rs, "beta_slow", 1);
        cJSON_AddNumberToObject(rs, "mscale", 1.0);
        cJSON_AddNumberToObject(rs, "mscale_all_dim", 1.0);
        cJSON_ReplaceItemInObject(j, "max_position_embeddings", cJSON_CreateNumber(163840));
        if (o->weight_dtype == RK_DTYPE_F8_E4M3) {
            cJSON *q = cJSON_AddObjectToObject(j, "quantization_config");
            cJSON_AddStringToObject(q, "activation_scheme", "dynamic");
            cJSON_AddStringToObject(q, "fmt", "e4m3");
            cJSON_AddStringToObject(q, "quant_method", "fp8");
            cJSON *b = cJSON_AddArrayToObject(q, "weight_block_size");
            cJSON_AddItemToArray(b, cJSON_CreateNumber(128));
            cJSON_AddItemToArray(b, cJSON_CreateNumber(128));
        }
    } else if (qw) {
        cJSON_AddNumberToObject(j, "rope_theta", 1000000);
        cJSON_AddNumberToObject(j, "sliding_window", 4096);
        cJSON_AddBoolToObject(j, "use_sliding_window", 0);
    } else {
        cJSON_AddNumberToObject(j, "rope_theta", 500000);
        cJSON_AddBoolToObject(j, "attention_bias", 0);
        rk_sample_add_llama3_rope(j);
    }
    int rc = write_json(dir, "config.json", j, err);
    cJSON_Delete(j);
    if (rc) return rc;
    j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "bos_token_id", (double)bos);
    cJSON_AddNumberToObject(j, "eos_token_id", (double)eos);
    cJSON_AddBoolToObject(j, "do_sample", 1);
    cJSON_AddNumberToObject(j, "temperature", 0.6);
    cJSON_AddNumberToObject(j, "top_p", 0.95);
    rc = write_json(dir, "generation_config.json", j, err);
    cJSON_Delete(j);
    return rc;
}

static int check_opts(const rk_sample_opts *o, rk_err *err) {
    int ds = !strcmp(o->arch, "deepseek_v3");
    if (!ds && strcmp(o->arch, "qwen2") && strcmp(o->arch, "llama"))
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "unknown architecture '%s' (deepseek_v3, qwen2, llama)", o->arch);
    if (o->vocab < tokenizer_size())
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "vocab %lld is smaller than the sample tokenizer (%lld)",
                          (long long)o->vocab, (long long)tokenizer_size());
    if (o->hidden <= 0 || o->layers <= 0 || o->heads <= 0 || o->inter <= 0 || o->hidden > (1 << 20) || o->layers > 1000)
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "hidden, layers, heads and intermediate must be positive");
    if (!ds && (o->hidden % o->heads || o->kv_heads <= 0 || o->heads % o->kv_heads || (o->hidden / o->heads) % 2))
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "heads must divide hidden (even head size) and kv_heads divide heads");
    if (ds && (o->kv_lora <= 0 || o->nope <= 0 || o->rope <= 0 || o->rope % 2 || o->v_dim <= 0 || o->moe_inter <= 0 ||
               o->n_experts <= 0 || o->top_k <= 0 || o->top_k > o->n_experts || o->n_group <= 0 ||
               o->n_experts % o->n_group || o->topk_group <= 0 || o->topk_group > o->n_group ||
               o->dense_layers < 0 || o->dense_layers > o->layers || o->mtp_layers < 0 || o->n_shared < 0 || o->q_lora < 0))
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "inconsistent deepseek_v3 sample options");
    if (o->weight_dtype != RK_DTYPE_F8_E4M3 && o->weight_dtype != RK_DTYPE_BF16 && o->weight_dtype != RK_DTYPE_F16 &&
        o->weight_dtype != RK_DTYPE_F32)
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "weight dtype must be f8_e4m3, bf16, f16 or f32");
    if (o->weight_dtype == RK_DTYPE_F8_E4M3 && !ds)
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "FP8 weights are DeepSeek's release format; use bf16/f16/f32 for %s", o->arch);
    return 0;
}

int rk_sample_defaults(rk_sample_opts *o, const char *arch, const char *preset, rk_err *err) {
    memset(o, 0, sizeof *o);
    snprintf(o->arch, sizeof o->arch, "%s", arch ? arch : "deepseek_v3");
    int ds = !strcmp(o->arch, "deepseek_v3");
    int bench = preset && !strcmp(preset, "bench");
    if (preset && !bench && strcmp(preset, "tiny"))
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "unknown preset '%s' (tiny, bench)", preset);
    o->vocab = tokenizer_size();
    o->seed = 42;
    o->weight_dtype = ds ? RK_DTYPE_F8_E4M3 : RK_DTYPE_BF16;
    if (!bench) {
        o->hidden = 256, o->inter = 512, o->layers = 3, o->heads = 4, o->kv_heads = 2;
        o->q_lora = 192, o->kv_lora = 128, o->nope = 32, o->rope = 16, o->v_dim = 32;   /* q_lora: FP8 edge blocks */
        o->moe_inter = 128, o->n_experts = 8, o->n_shared = 1, o->top_k = 2, o->dense_layers = 1;
        o->n_group = 4, o->topk_group = 2, o->mtp_layers = 1;
    } else {   /* ~3 GB FP8 with R1's ratios scaled down */
        o->hidden = 2048, o->inter = 5120, o->layers = 10, o->heads = 16, o->kv_heads = 4;
        o->q_lora = 768, o->kv_lora = 256, o->nope = 64, o->rope = 32, o->v_dim = 64;
        o->moe_inter = 768, o->n_experts = 64, o->n_shared = 1, o->top_k = 6, o->dense_layers = 1;
        o->n_group = 8, o->topk_group = 4, o->mtp_layers = 1;
        o->shard_bytes = 1ULL << 30;
    }
    return check_opts(o, err);
}

void rk_sample_add_llama3_rope(struct cJSON *j) {
    cJSON *rs = cJSON_AddObjectToObject(j, "rope_scaling");
    cJSON_AddStringToObject(rs, "rope_type", "llama3");
    cJSON_AddNumberToObject(rs, "factor", 8.0);
    cJSON_AddNumberToObject(rs, "low_freq_factor", 1.0);
    cJSON_AddNumberToObject(rs, "high_freq_factor", 4.0);
    cJSON_AddNumberToObject(rs, "original_max_position_embeddings", 8192);
}

int rk_sample_write(const char *dir, const rk_sample_opts *o, rk_err *err) {
    plan_list p = {0};
    rk_st_writer *w = NULL;
    float *x = NULL, *scale = NULL;
    uint8_t *buf = NULL;
    int rc = check_opts(o, err);
    if (rc) return rc;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return rk_err_file(err, RK_EIO, dir, UINT64_MAX, "cannot create folder: %s", strerror(errno));
    if ((rc = build_plan(o, &p))) { rc = rk_err_set(err, rc, UINT64_MAX, "out of memory"); goto done; }
    if ((rc = rk_st_writer_init(&w, dir, "model", o->shard_bytes, err))) goto done;
    if ((rc = rk_st_writer_add_meta(w, "format", "pt", err))) goto done;
    uint64_t maxn = 0;
    for (size_t i = 0; i < p.n; i++)
        if (p.v[i].scale_of) p.v[p.v[i].weight].scale_data = NULL;
    for (size_t i = 0; i < p.n; i++) {
        const plan_t *t = &p.v[i];
        uint64_t n = (uint64_t)t->shape[0] * (uint64_t)(t->n_dims == 2 ? t->shape[1] : 1);
        if (n > maxn) maxn = n;
        if ((rc = rk_st_writer_add(w, t->name, t->dtype, t->n_dims, t->shape, err))) goto done;
    }
    x = malloc(maxn * sizeof(float));
    buf = malloc(maxn * sizeof(float));
    scale = malloc(maxn * sizeof(float));
    if (!x || !buf || !scale) { rc = rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory"); goto done; }
    if ((rc = rk_st_writer_begin(w, err))) goto done;
    for (size_t i = 0; i < p.n; i++) {
        const plan_t *t = &p.v[i];
        uint64_t n = (uint64_t)t->shape[0] * (uint64_t)(t->n_dims == 2 ? t->shape[1] : 1);
        if (t->scale_of) {   /* computed when its weight was written */
            plan_t *wt = &p.v[t->weight];
            rc = rk_st_writer_write(w, wt->scale_data, n * sizeof(float), err);
            free(wt->scale_data);
            wt->scale_data = NULL;
            if (rc) goto done;
            continue;
        }
        /* seed by name so that the values do not depend on the layout options */
        uint64_t h = 1469598103934665603ULL;
        for (const char *c = t->name; *c; c++) h = (h ^ (uint8_t)*c) * 1099511628211ULL;
        fill(x, n, mix64(o->seed * 1000003ULL ^ h), t->kind);
        if (t->fp8) {
            uint64_t ns = (uint64_t)((t->shape[0] + 127) / 128 * ((t->shape[1] + 127) / 128));
            rk_fp8_block_quant(x, t->shape[0], t->shape[1], 128, buf, scale);
            if (!(p.v[i].scale_data = malloc(ns * sizeof(float)))) { rc = rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory"); goto done; }
            memcpy(p.v[i].scale_data, scale, ns * sizeof(float));
            if ((rc = rk_st_writer_write(w, buf, n, err))) goto done;
        } else {
            if (rk_convert_from_f32(t->dtype, x, buf, n)) { rc = rk_err_set(err, RK_EINVAL, UINT64_MAX, "bad dtype"); goto done; }
            if ((rc = rk_st_writer_write(w, buf, tensor_bytes(t), err))) goto done;
        }
        if (rk_interrupted()) { rc = rk_err_set(err, RK_EINTR, UINT64_MAX, "interrupted"); goto done; }
    }
    if ((rc = rk_st_writer_finish(w, err))) goto done;
    if ((rc = write_configs(dir, o, err))) goto done;
    rc = write_tokenizer(dir, o, err);
done:
    rk_st_writer_free(w);
    for (size_t i = 0; i < p.n; i++) free(p.v[i].scale_data);
    free(p.v);
    free(x);
    free(buf);
    free(scale);
    return rc;
}
