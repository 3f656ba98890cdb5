/* verify/checks.c — see checks.h. The structure checks re-read what the checkpoint readers already validated
 * (cheap, and they make the finding explicit); the DeepSeek shape table mirrors model/arch_deepseek.c and
 * model/model_gguf.c but lists every mismatch; the engine's loader is then run as the final word; the NaN/Inf
 * scan goes tensor by tensor over the map (bits for plain floats, quants.h dequantization row by row for
 * block types). */
#define _GNU_SOURCE
#include "verify/checks.h"

#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "formats/checkpoint.h"
#include "formats/gguf.h"
#include "formats/hfconfig.h"
#include "quantize/quants.h"

const char *rk_check_level_name(int level) {
    return level == RK_CHECK_OK ? "ok" : level == RK_CHECK_WARN ? "warn" : "error";
}

static void vadd(rk_verify_checks *c, int level, int force, const char *fmt, va_list ap) {
    const size_t max = c->max_findings ? c->max_findings : 200;
    if (c->n >= max && !force) {
        c->n_dropped++;
        return;
    }
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 16;
        rk_check_finding *p = realloc(c->item, cap * sizeof *p);
        if (!p) { c->n_dropped++; return; }
        c->item = p, c->cap = cap;
    }
    rk_check_finding *f = &c->item[c->n++];
    f->level = level;
    vsnprintf(f->what, sizeof f->what, fmt, ap);
}

void rk_verify_checks_add(rk_verify_checks *c, int level, const char *fmt, ...) {
    if (level == RK_CHECK_WARN) c->n_warn++;
    if (level == RK_CHECK_ERROR) c->n_error++;
    va_list ap;
    va_start(ap, fmt);
    vadd(c, level, 0, fmt, ap);
    va_end(ap);
}

static void add_forced(rk_verify_checks *c, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void add_forced(rk_verify_checks *c, int level, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vadd(c, level, 1, fmt, ap);
    va_end(ap);
}

void rk_verify_checks_free(rk_verify_checks *c) {
    if (!c) return;
    free(c->item);
    memset(c, 0, sizeof *c);
}

/* ---- structure ------------------------------------------------------------------------------------------- */

static void check_structure(rk_verify_checks *c, rk_ckpt *ck) {
    const size_t n = rk_ckpt_count(ck);
    size_t bad = 0;
    uint64_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        const rk_ckpt_tensor *t = rk_ckpt_tensor_at(ck, i);
        const rk_dtype_traits *tr = rk_dtype_get(t->dtype);
        uint64_t nb = 0;
        if (!tr) {
            rk_verify_checks_add(c, RK_CHECK_ERROR, "tensor '%s': unknown type id %d", t->name, t->dtype), bad++;
            continue;
        }
        if (rk_dtype_nbytes(t->dtype, t->numel, &nb) || nb != t->nbytes)
            rk_verify_checks_add(c, RK_CHECK_ERROR, "tensor '%s' (%s, %llu values) holds %llu bytes, its type needs %llu",
                                 t->name, tr->name, (unsigned long long)t->numel, (unsigned long long)t->nbytes,
                                 (unsigned long long)nb), bad++;
        if (tr->block_size > 1 && t->n_dims > 0 && t->shape[t->n_dims - 1] % tr->block_size)
            rk_verify_checks_add(c, RK_CHECK_ERROR, "tensor '%s' (%s): rows of %lld values are not whole blocks of %u", t->name,
                                 tr->name, (long long)t->shape[t->n_dims - 1], tr->block_size), bad++;
        bytes += t->nbytes;
    }
    const rk_gguf *g = rk_ckpt_gguf(ck);
    if (g) {
        const uint64_t al = rk_gguf_alignment(g), base = rk_gguf_data_offset(g), size = rk_gguf_size(g);
        for (uint64_t i = 0; i < rk_gguf_tensor_count(g); i++) {
            const rk_gguf_tensor *t = rk_gguf_tensor_at(g, i);
            uint64_t end;
            if (t->offset % al)
                rk_verify_checks_add(c, RK_CHECK_ERROR, "tensor '%s': offset %llu is not a multiple of the alignment %llu",
                                     t->name_z, (unsigned long long)t->offset, (unsigned long long)al), bad++;
            if (rk_add_u64(base, t->offset, &end) || rk_add_u64(end, t->nbytes, &end) || end > size)
                rk_verify_checks_add(c, RK_CHECK_ERROR, "tensor '%s': data ends past the end of the file (%llu bytes)",
                                     t->name_z, (unsigned long long)size), bad++;
        }
    }
    if (!bad)
        rk_verify_checks_add(c, RK_CHECK_OK, "structure: %zu tensors of known types, %llu bytes of data, sizes match the "
                             "shapes%s", n, (unsigned long long)bytes, g ? ", aligned and inside the file" : "");
}

/* ---- DeepSeek metadata and shapes ------------------------------------------------------------------------ */

typedef struct ds_cfg {
    int64_t V, H, L, heads, qlora, kvlora, nope, rope, vdim, ff, ffe, E, shared, used, groups, groups_used, dense;
    int64_t gating;       /* 1 softmax, 2 sigmoid, 0 absent */
} ds_cfg;

typedef struct kreader { const rk_gguf *g; rk_verify_checks *c; int missing; } kreader;

static int64_t kget(kreader *k, const char *suffix, int64_t def, int required) {
    char key[128];
    snprintf(key, sizeof key, "deepseek2.%s", suffix);
    int64_t v;
    int rc = rk_gguf_get_i64(k->g, key, &v);
    if (rc == RK_ENOTFOUND && !required) return def;
    if (rc || v < 0 || v > (INT64_C(1) << 40)) {
        rk_verify_checks_add(k->c, RK_CHECK_ERROR, "metadata: key '%s' %s", key,
                             rc == RK_ENOTFOUND ? "is missing" : rc ? "has the wrong type" : "is out of range");
        k->missing = 1;
        return def;
    }
    return v;
}

/* the config from a deepseek2 GGUF's keys (1 ok, 0 when keys are missing: findings added) */
static int ds_from_gguf(rk_verify_checks *c, const rk_gguf *g, rk_ckpt *ck, ds_cfg *d) {
    kreader k = { g, c, 0 };
    memset(d, 0, sizeof *d);
    d->L = kget(&k, "block_count", 0, 1);
    d->H = kget(&k, "embedding_length", 0, 1);
    d->ff = kget(&k, "feed_forward_length", 0, 1);
    d->heads = kget(&k, "attention.head_count", 0, 1);
    d->qlora = kget(&k, "attention.q_lora_rank", 0, 0);
    d->kvlora = kget(&k, "attention.kv_lora_rank", 0, 1);
    d->rope = kget(&k, "rope.dimension_count", 64, 0);
    int64_t kl = kget(&k, "attention.key_length_mla", -1, 0), vl = kget(&k, "attention.value_length_mla", -1, 0);
    if (kl < 0) kl = kget(&k, "attention.key_length", 0, 1);
    if (vl < 0) vl = kget(&k, "attention.value_length", 0, 1);
    d->nope = kl - d->rope, d->vdim = vl;
    d->dense = kget(&k, "leading_dense_block_count", 0, 0);
    d->ffe = kget(&k, "expert_feed_forward_length", 0, 0);
    d->E = kget(&k, "expert_count", 0, 0);
    d->shared = kget(&k, "expert_shared_count", 0, 0);
    d->used = kget(&k, "expert_used_count", 0, 0);
    d->groups = kget(&k, "expert_group_count", 0, 0);
    d->groups_used = kget(&k, "expert_group_used_count", 0, 0);
    d->gating = kget(&k, "expert_gating_func", 0, 0);
    const rk_ckpt_tensor *emb = rk_ckpt_find(ck, "token_embd.weight");
    d->V = kget(&k, "vocab_size", emb && emb->n_dims == 2 ? emb->shape[0] : 0, 0);
    return !k.missing;
}

static void ds_from_hf(const rk_hf_config *h, ds_cfg *d) {
    memset(d, 0, sizeof *d);
    d->V = h->vocab_size, d->H = h->hidden_size, d->L = h->num_hidden_layers, d->heads = h->num_attention_heads;
    d->qlora = h->q_lora_rank, d->kvlora = h->kv_lora_rank, d->nope = h->qk_nope_head_dim, d->rope = h->qk_rope_head_dim;
    d->vdim = h->v_head_dim, d->ff = h->intermediate_size, d->ffe = h->moe_intermediate_size, d->E = h->n_routed_experts;
    d->shared = h->n_shared_experts, d->used = h->num_experts_per_tok, d->groups = h->n_group, d->groups_used = h->topk_group;
    d->dense = h->first_k_dense_replace;
    d->gating = h->scoring_func == RK_MOE_SCORING_SIGMOID ? 2 : h->scoring_func == RK_MOE_SCORING_SOFTMAX ? 1 : 0;
}

static int ds_is_moe(const ds_cfg *d, int64_t il) { return d->E > 0 && il >= d->dense; }

static void ds_metadata(rk_verify_checks *c, const ds_cfg *d, int gguf, int has_bias) {
    const size_t e0 = c->n_error;
    if (d->E > 0 && (d->used < 1 || d->used > d->E))
        rk_verify_checks_add(c, RK_CHECK_ERROR, "metadata: expert_used_count %lld, expert_count %lld (need 1 <= used <= count)",
                             (long long)d->used, (long long)d->E);
    if (d->groups > 0 && (d->E % d->groups || d->groups_used < 1 || d->groups_used > d->groups))
        rk_verify_checks_add(c, RK_CHECK_ERROR, "metadata: %lld experts in %lld groups, %lld groups used",
                             (long long)d->E, (long long)d->groups, (long long)d->groups_used);
    if (d->dense > d->L)
        rk_verify_checks_add(c, RK_CHECK_ERROR, "metadata: leading_dense_block_count %lld > block_count %lld",
                             (long long)d->dense, (long long)d->L);
    if (d->E > 0 && d->gating != 1 && d->gating != 2) {
        if (d->gating == 0 && gguf)
            rk_verify_checks_add(c, RK_CHECK_WARN, "metadata: no expert_gating_func: softmax assumed (llama.cpp's rule); "
                                 "DeepSeek-V3/R1 route with sigmoid");
        else
            rk_verify_checks_add(c, RK_CHECK_ERROR, "metadata: expert gating function %lld (1 softmax, 2 sigmoid)",
                                 (long long)d->gating);
    }
    if (d->E > 0 && has_bias && d->gating == 1)
        rk_verify_checks_add(c, RK_CHECK_WARN, "metadata: routing has a score-correction bias (noaux_tc) but softmax gating");
    if (d->nope < 1 || d->rope < 2 || d->rope % 2 || d->vdim < 1 || d->kvlora < 1 || d->heads < 1 || d->H < 1 || d->V < 1)
        rk_verify_checks_add(c, RK_CHECK_ERROR, "metadata: attention sizes out of range (heads %lld, nope %lld, rope %lld, "
                             "v %lld, kv_lora %lld)", (long long)d->heads, (long long)d->nope, (long long)d->rope,
                             (long long)d->vdim, (long long)d->kvlora);
    if (c->n_error == e0)
        rk_verify_checks_add(c, RK_CHECK_OK, "metadata: %lld layers (%lld dense), %lld experts (%lld used, %lld shared), %s gating, "
                             "vocabulary %lld", (long long)d->L, (long long)(d->E ? d->dense : d->L), (long long)d->E,
                             (long long)d->used, (long long)d->shared,
                             d->gating == 2 ? "sigmoid" : d->gating == 1 ? "softmax" : "default", (long long)d->V);
}

typedef struct shape_ctx {
    rk_verify_checks *c;
    rk_ckpt *ck;
    uint8_t *used;            /* [count] tensors the config accounts for */
    size_t checked, bad;
} shape_ctx;

/* expects tensor `name` with shape [a, b(, c)] (nd dims); optional: absent is fine */
static const rk_ckpt_tensor *expect(shape_ctx *s, const char *name, int nd, int64_t a, int64_t b, int64_t c3, int optional) {
    const int64_t idx = rk_ckpt_index(s->ck, name);
    if (idx < 0) {
        if (!optional) rk_verify_checks_add(s->c, RK_CHECK_ERROR, "shape: missing tensor '%s'", name), s->bad++;
        return NULL;
    }
    const rk_ckpt_tensor *t = rk_ckpt_tensor_at(s->ck, (size_t)idx);
    s->used[idx] = 1;
    if (t->scale >= 0) s->used[t->scale] = 1;
    s->checked++;
    const int64_t w[3] = { a, b, c3 };
    int ok = t->n_dims == nd;
    for (int i = 0; ok && i < nd; i++) ok = t->shape[i] == w[i];
    if (!ok) {
        char got[96] = "[", want[96] = "[";
        for (int i = 0; i < t->n_dims && i < RK_MAX_DIMS; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", i ? ", " : "", (long long)t->shape[i]);
        for (int i = 0; i < nd; i++) snprintf(want + strlen(want), sizeof want - strlen(want), "%s%lld", i ? ", " : "", (long long)w[i]);
        rk_verify_checks_add(s->c, RK_CHECK_ERROR, "shape: tensor '%s' is %s], the config implies %s]", name, got, want);
        s->bad++;
    }
    return t;
}

static void ds_shapes(rk_verify_checks *c, rk_ckpt *ck, const ds_cfg *d, int gguf) {
    shape_ctx s = { c, ck, calloc(rk_ckpt_count(ck) + 1, 1), 0, 0 };
    if (!s.used) { rk_verify_checks_add(c, RK_CHECK_ERROR, "shape: out of memory"); return; }
    char n[192];
    const int64_t H = d->H, V = d->V, hq = d->heads * (d->nope + d->rope);
#define NM(g, h) (snprintf(n, sizeof n, gguf ? g : h, (long long)il), n)
#define NME(g, h) (snprintf(n, sizeof n, gguf ? g : h, (long long)il, (long long)e), n)
    int64_t il = 0;
    expect(&s, gguf ? "token_embd.weight" : "model.embed_tokens.weight", 2, V, H, 0, 0);
    expect(&s, gguf ? "output_norm.weight" : "model.norm.weight", 1, H, 0, 0, 0);
    expect(&s, gguf ? "output.weight" : "lm_head.weight", 2, V, H, 0, 1);
    for (il = 0; il < d->L; il++) {
        expect(&s, NM("blk.%lld.attn_norm.weight", "model.layers.%lld.input_layernorm.weight"), 1, H, 0, 0, 0);
        expect(&s, NM("blk.%lld.ffn_norm.weight", "model.layers.%lld.post_attention_layernorm.weight"), 1, H, 0, 0, 0);
        if (d->qlora > 0) {
            expect(&s, NM("blk.%lld.attn_q_a.weight", "model.layers.%lld.self_attn.q_a_proj.weight"), 2, d->qlora, H, 0, 0);
            expect(&s, NM("blk.%lld.attn_q_a_norm.weight", "model.layers.%lld.self_attn.q_a_layernorm.weight"), 1, d->qlora, 0, 0, 0);
            expect(&s, NM("blk.%lld.attn_q_b.weight", "model.layers.%lld.self_attn.q_b_proj.weight"), 2, hq, d->qlora, 0, 0);
        } else {
            expect(&s, NM("blk.%lld.attn_q.weight", "model.layers.%lld.self_attn.q_proj.weight"), 2, hq, H, 0, 0);
        }
        expect(&s, NM("blk.%lld.attn_kv_a_mqa.weight", "model.layers.%lld.self_attn.kv_a_proj_with_mqa.weight"), 2,
               d->kvlora + d->rope, H, 0, 0);
        expect(&s, NM("blk.%lld.attn_kv_a_norm.weight", "model.layers.%lld.self_attn.kv_a_layernorm.weight"), 1, d->kvlora, 0, 0, 0);
        if (gguf && rk_ckpt_find(ck, NM("blk.%lld.attn_k_b.weight", "%lld"))) {
            expect(&s, NM("blk.%lld.attn_k_b.weight", "%lld"), 3, d->heads, d->kvlora, d->nope, 0);
            expect(&s, NM("blk.%lld.attn_v_b.weight", "%lld"), 3, d->heads, d->vdim, d->kvlora, 0);
        } else {
            expect(&s, NM("blk.%lld.attn_kv_b.weight", "model.layers.%lld.self_attn.kv_b_proj.weight"), 2,
                   d->heads * (d->nope + d->vdim), d->kvlora, 0, 0);
        }
        expect(&s, NM("blk.%lld.attn_output.weight", "model.layers.%lld.self_attn.o_proj.weight"), 2, H, d->heads * d->vdim, 0, 0);
        if (!ds_is_moe(d, il)) {
            expect(&s, NM("blk.%lld.ffn_gate.weight", "model.layers.%lld.mlp.gate_proj.weight"), 2, d->ff, H, 0, 0);
            expect(&s, NM("blk.%lld.ffn_up.weight", "model.layers.%lld.mlp.up_proj.weight"), 2, d->ff, H, 0, 0);
            expect(&s, NM("blk.%lld.ffn_down.weight", "model.layers.%lld.mlp.down_proj.weight"), 2, H, d->ff, 0, 0);
            continue;
        }
        expect(&s, NM("blk.%lld.ffn_gate_inp.weight", "model.layers.%lld.mlp.gate.weight"), 2, d->E, H, 0, 0);
        expect(&s, NM("blk.%lld.exp_probs_b.bias", "model.layers.%lld.mlp.gate.e_score_correction_bias"), 1, d->E, 0, 0, 1);
        if (gguf && rk_ckpt_find(ck, NM("blk.%lld.ffn_gate_exps.weight", "%lld"))) {
            expect(&s, NM("blk.%lld.ffn_gate_exps.weight", "%lld"), 3, d->E, d->ffe, H, 0);
            expect(&s, NM("blk.%lld.ffn_up_exps.weight", "%lld"), 3, d->E, d->ffe, H, 0);
            expect(&s, NM("blk.%lld.ffn_down_exps.weight", "%lld"), 3, d->E, H, d->ffe, 0);
        } else {
            for (int64_t e = 0; e < d->E; e++) {
                expect(&s, NME("blk.%lld.ffn_gate.%lld.weight", "model.layers.%lld.mlp.experts.%lld.gate_proj.weight"), 2, d->ffe, H, 0, 0);
                expect(&s, NME("blk.%lld.ffn_up.%lld.weight", "model.layers.%lld.mlp.experts.%lld.up_proj.weight"), 2, d->ffe, H, 0, 0);
                expect(&s, NME("blk.%lld.ffn_down.%lld.weight", "model.layers.%lld.mlp.experts.%lld.down_proj.weight"), 2, H, d->ffe, 0, 0);
            }
        }
        if (d->shared > 0) {
            const int64_t S = d->ffe * d->shared;
            expect(&s, NM("blk.%lld.ffn_gate_shexp.weight", "model.layers.%lld.mlp.shared_experts.gate_proj.weight"), 2, S, H, 0, 0);
            expect(&s, NM("blk.%lld.ffn_up_shexp.weight", "model.layers.%lld.mlp.shared_experts.up_proj.weight"), 2, S, H, 0, 0);
            expect(&s, NM("blk.%lld.ffn_down_shexp.weight", "model.layers.%lld.mlp.shared_experts.down_proj.weight"), 2, H, S, 0, 0);
        }
    }
#undef NM
#undef NME
    size_t extra = 0, mtp = 0;
    const char *first = NULL;
    for (size_t i = 0; i < rk_ckpt_count(ck); i++) {
        const rk_ckpt_tensor *t = rk_ckpt_tensor_at(ck, i);
        long long l;
        if (s.used[i] || t->is_scale) continue;
        if ((sscanf(t->name, "model.layers.%lld.", &l) == 1 || sscanf(t->name, "blk.%lld.", &l) == 1) && l >= d->L) mtp++;
        else if (!extra++) first = t->name;
    }
    if (extra)
        rk_verify_checks_add(c, RK_CHECK_WARN, "shape: %zu tensors the config does not account for (first: '%s')", extra, first);
    if (mtp) rk_verify_checks_add(c, RK_CHECK_OK, "shape: %zu tensors of layers >= %lld (multi-token prediction) not used", mtp,
                                  (long long)d->L);
    if (!s.bad) rk_verify_checks_add(c, RK_CHECK_OK, "shape: %zu tensors match the config", s.checked);
    free(s.used);
}

static void check_deepseek(rk_verify_checks *c, rk_ckpt *ck, const char *path) {
    const rk_gguf *g = rk_ckpt_gguf(ck);
    ds_cfg d;
    int has_bias = 0;
    for (size_t i = 0; i < rk_ckpt_count(ck) && !has_bias; i++) {
        const char *nm = rk_ckpt_tensor_at(ck, i)->name;
        has_bias = strstr(nm, "exp_probs_b") || strstr(nm, "e_score_correction_bias");
    }
    if (g) {
        rk_gguf_str s;
        if (rk_gguf_get_str(g, "general.architecture", &s) || s.len != 9 || memcmp(s.ptr, "deepseek2", 9)) return;
        if (!ds_from_gguf(c, g, ck, &d)) return;
        const rk_ckpt_tensor *emb = rk_ckpt_find(ck, "token_embd.weight");
        if (emb && emb->n_dims == 2 && emb->shape[0] != d.V)
            rk_verify_checks_add(c, RK_CHECK_ERROR, "metadata: vocab_size %lld, token_embd has %lld rows", (long long)d.V,
                                 (long long)emb->shape[0]);
    } else {
        rk_hf_config h;
        rk_err e;
        if (rk_hf_config_load(&h, rk_ckpt_dir(ck), &e)) {
            rk_verify_checks_add(c, RK_CHECK_ERROR, "metadata: %s", e.msg);
            return;
        }
        if (h.arch != RK_HF_ARCH_DEEPSEEK2) return;
        ds_from_hf(&h, &d);
    }
    (void)path;
    ds_metadata(c, &d, g != NULL, has_bias);
    if (d.L > 0 && d.L <= 100000 && d.H > 0 && d.V > 0) ds_shapes(c, ck, &d, g != NULL);
}

/* ---- NaN / Inf scan -------------------------------------------------------------------------------------- */

static int64_t bad_bits(const uint8_t *p, int dtype, uint64_t i) {
    switch (dtype) {
    case RK_DTYPE_F32: { uint32_t v; memcpy(&v, p + 4 * i, 4); return (v & 0x7f800000u) == 0x7f800000u; }
    case RK_DTYPE_F16: { uint16_t v; memcpy(&v, p + 2 * i, 2); return (v & 0x7c00u) == 0x7c00u; }
    case RK_DTYPE_BF16: { uint16_t v; memcpy(&v, p + 2 * i, 2); return (v & 0x7f80u) == 0x7f80u; }
    case RK_DTYPE_F64: { uint64_t v; memcpy(&v, p + 8 * i, 8); return (v & 0x7ff0000000000000ull) == 0x7ff0000000000000ull; }
    case RK_DTYPE_F8_E4M3: return (p[i] & 0x7f) == 0x7f;
    case RK_DTYPE_F8_E5M2: return (p[i] & 0x7c) == 0x7c;
    default: return 0;
    }
}

/* non-finite values of t: count and first index; -1 if it cannot be scanned (*why set) */
static int scan_tensor(rk_ckpt *ck, const rk_ckpt_tensor *t, uint64_t *n_bad, uint64_t *first, const char **why) {
    *n_bad = 0, *first = UINT64_MAX;
    const int dt = t->dtype;
    const rk_qtype *q = rk_qtype_get(dt);
    const int plain = dt == RK_DTYPE_F32 || dt == RK_DTYPE_F16 || dt == RK_DTYPE_BF16 || dt == RK_DTYPE_F64 ||
                      dt == RK_DTYPE_F8_E4M3 || dt == RK_DTYPE_F8_E5M2;
    if (!plain && !q) { *why = "no decoder for its type"; return -1; }
    uint64_t nb = 0, fi = UINT64_MAX;
    if (t->data && plain) {
        const uint64_t n = t->numel;
        #pragma omp parallel for schedule(static) reduction(+ : nb) reduction(min : fi)
        for (uint64_t i = 0; i < n; i++)
            if (bad_bits(t->data, dt, i)) {
                nb++;
                if (i < fi) fi = i;
            }
    } else if (t->data && q) {
        const int64_t row = t->n_dims ? t->shape[t->n_dims - 1] : 1, rows = row ? (int64_t)(t->numel / (uint64_t)row) : 0;
        if (row % q->block) { *why = "rows are not whole blocks"; return -1; }
        const size_t rb = (size_t)(row / q->block) * q->bytes;
        int oom = 0;
        #pragma omp parallel reduction(+ : nb) reduction(min : fi) reduction(| : oom)
        {
            float *buf = malloc((size_t)row * sizeof(float));
            oom |= !buf;
            #pragma omp for schedule(static)
            for (int64_t r = 0; r < rows; r++) {
                if (!buf) continue;
                q->dequantize(t->data + (size_t)r * rb, buf, row);
                for (int64_t i = 0; i < row; i++)
                    if (!isfinite(buf[i])) {
                        nb++;
                        const uint64_t at = (uint64_t)r * (uint64_t)row + (uint64_t)i;
                        if (at < fi) fi = at;
                    }
            }
            free(buf);
        }
        if (oom) { *why = "out of memory"; return -1; }
    } else {
        /* not mapped (PyTorch zip): rows as f32 through the checkpoint reader, ~4M values at a time */
        const int64_t row = t->n_dims > 1 ? (int64_t)(t->numel / (uint64_t)t->shape[0]) : 1;
        const int64_t rows = t->n_dims > 1 ? t->shape[0] : (int64_t)t->numel;
        int64_t step = row > 0 ? (INT64_C(1) << 22) / row : 1;
        if (step < 1) step = 1;
        float *buf = malloc((size_t)(step * row) * sizeof(float));
        if (!buf) { *why = "out of memory"; return -1; }
        for (int64_t r = 0; r < rows; r += step) {
            const int64_t m = rows - r < step ? rows - r : step;
            if (rk_ckpt_read_f32_rows(ck, t, r, m, buf, NULL)) { free(buf); *why = "cannot be read as f32"; return -1; }
            for (int64_t i = 0; i < m * row; i++)
                if (!isfinite(buf[i])) {
                    if (!nb) fi = (uint64_t)(r * row + i);
                    nb++;
                }
        }
        free(buf);
    }
    *n_bad = nb, *first = fi;
    return 0;
}

static int check_scan(rk_verify_checks *c, rk_ckpt *ck, rk_err *err) {
    size_t scanned = 0, skipped = 0, bad = 0;
    uint64_t values = 0;
    for (size_t i = 0; i < rk_ckpt_count(ck); i++) {
        if (rk_interrupted()) return rk_err_set(err, RK_EINTR, UINT64_MAX, "interrupted");
        const rk_ckpt_tensor *t = rk_ckpt_tensor_at(ck, i);
        const rk_dtype_traits *tr = rk_dtype_get(t->dtype);
        if (!tr || (!tr->is_float && !rk_qtype_get(t->dtype))) continue;      /* integers, bool */
        uint64_t nb, first;
        const char *why = "";
        if (scan_tensor(ck, t, &nb, &first, &why)) {
            rk_verify_checks_add(c, RK_CHECK_WARN, "scan: tensor '%s' (%s) not scanned: %s", t->name, tr->name, why);
            skipped++;
        } else {
            scanned++;
            values += t->numel;
            if (nb) {
                const int64_t row = t->n_dims > 1 ? t->shape[t->n_dims - 1] : 0;
                rk_verify_checks_add(c, RK_CHECK_ERROR, "scan: tensor '%s' (%s) has %llu NaN/Inf of %llu values, first at "
                                     "element %llu%s%lld%s", t->name, tr->name, (unsigned long long)nb,
                                     (unsigned long long)t->numel, (unsigned long long)first, row ? " (row " : "",
                                     row ? (long long)(first / (uint64_t)row) : 0LL, row ? ")" : "");
                bad++;
            }
        }
        rk_ckpt_release(ck, t);
    }
    c->scanned_values = values;
    if (!bad)
        rk_verify_checks_add(c, RK_CHECK_OK, "scan: %zu tensors, %llu values, no NaN/Inf%s", scanned, (unsigned long long)values,
                             skipped ? " (some not scanned, see above)" : "");
    return 0;
}

/* ---- all ------------------------------------------------------------------------------------------------- */

int rk_verify_checks_run(rk_verify_checks *c, const char *path, const rk_verify_check_opts *o, rk_model **model,
                         rk_tokenizer **tok, rk_err *err) {
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    memset(c, 0, sizeof *c);
    c->max_findings = o && o->max_findings ? o->max_findings : 200;
    if (model) *model = NULL;
    if (tok) *tok = NULL;
    rk_ckpt *ck = NULL;
    rk_model *m = NULL;
    rk_tokenizer *tk = NULL;
    rk_err e;
    rk_err_clear(&e);
    int rc = rk_ckpt_open(&ck, path, &e);
    if (rc == RK_EIO || rc == RK_ENOMEM || rc == RK_EINTR) {
        if (err) *err = e;
        return rc;
    }
    if (rc) {
        rk_verify_checks_add(c, RK_CHECK_ERROR, "file: %s", e.msg);
        rc = 0;
        goto done;
    }
    check_structure(c, ck);
    check_deepseek(c, ck, path);
    if (rk_tokenizer_load(&tk, path, &e))
        rk_verify_checks_add(c, RK_CHECK_ERROR, "tokenizer: %s", e.msg);
    if ((rc = rk_model_load(&m, path, &e))) {
        if (rc == RK_ENOMEM || rc == RK_EINTR) {
            if (err) *err = e;
            goto done;
        }
        rc = 0;
        rk_verify_checks_add(c, RK_CHECK_ERROR, "engine: %s", e.msg);
    } else {
        rk_verify_checks_add(c, RK_CHECK_OK, "engine: loads (%s, %lld layers, vocabulary %lld)", rk_model_arch_name(m),
                             (long long)rk_model_layers(m), (long long)rk_model_vocab(m));
    }
    if (tk) {
        const int64_t tv = rk_tokenizer_vocab_size(tk);
        if (m && tv > rk_model_vocab(m))
            rk_verify_checks_add(c, RK_CHECK_ERROR, "tokenizer: %lld tokens, the model has %lld logits", (long long)tv,
                                 (long long)rk_model_vocab(m));
        else
            rk_verify_checks_add(c, RK_CHECK_OK, "tokenizer: %lld tokens, BOS %d", (long long)tv, rk_tokenizer_leading_bos(tk));
    }
    if (o && o->scan) rc = check_scan(c, ck, err);
done:
    if (c->n_dropped)
        add_forced(c, RK_CHECK_WARN, "%zu more findings not listed (%zu errors, %zu warnings in all)", c->n_dropped, c->n_error,
                   c->n_warn);
    if (model && !rc) *model = m, m = NULL;
    if (tok && !rc) *tok = tk, tk = NULL;
    rk_model_free(m);
    rk_tokenizer_free(tk);
    rk_ckpt_close(ck);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    c->seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    return rc;
}
