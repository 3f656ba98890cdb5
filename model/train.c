/* model/train.c — the training engine's parameters: the tensor table a config implies (HF names and shapes, the
 * same the inference loader checks), fresh initialisation, loading from any checkpoint the engine reads, saving
 * as an HF folder (F32, BF16 or R1's FP8 release layout), activation buffers, and the MoE bias update.
 * Forward/backward: train_fwd.c (driver, dense layers), train_ds.c (MLA, MoE). */
#include <errno.h>
#include <math.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "model/train-impl.h"
#include "model/model-impl.h"
#include "model/optim.h"
#include "formats/checkpoint.h"
#include "formats/numeric.h"
#include "formats/safetensors.h"

/* ---- tensor table ------------------------------------------------------------------------------------------- */
static int add(rk_train *t, const char *name, int64_t rows, int64_t cols, int trainable, rk_err *err) {
    if (t->n_tensors == t->cap_tensors) {
        int64_t c = t->cap_tensors ? t->cap_tensors * 2 : 64;
        rk_tparam *p = realloc(t->p, (size_t)c * sizeof *p);
        if (!p) return -1;
        t->p = p;
        char **nm = realloc(t->names, (size_t)c * sizeof *nm);
        if (!nm) return -1;
        t->names = nm;
        t->cap_tensors = c;
    }
    char *s = strdup(name);
    if (!s) return -1;
    rk_tparam *p = &t->p[t->n_tensors];
    memset(p, 0, sizeof *p);
    t->names[t->n_tensors] = s;
    p->name = s;
    p->ndim = cols > 0 ? 2 : 1;
    p->shape[0] = rows, p->shape[1] = cols > 0 ? cols : 0;
    p->n = rows * (cols > 0 ? cols : 1);
    p->decay = p->ndim == 2;
    p->trainable = trainable;
    (void)err;
    return (int)t->n_tensors++;
}

#define ADD(dst, nm, r, c)                                                                                           \
    do {                                                                                                             \
        if (((dst) = add(t, (nm), (r), (c), 1, err)) < 0) goto oom;                                                  \
    } while (0)

static int build_table(rk_train *t, rk_err *err) {
    const rk_hf_config *c = &t->cfg;
    char n[192];
    int64_t D = t->D;
    int ds = c->arch == RK_HF_ARCH_DEEPSEEK2;
    ADD(t->embed, "model.embed_tokens.weight", t->vocab, D);
    t->layers = calloc((size_t)t->L, sizeof *t->layers);
    if (!t->layers) goto oom;
    for (int64_t il = 0; il < t->L; il++) {
        rk_tlayer *L = &t->layers[il];
        memset(L, 0xff, sizeof *L);   /* every index -1 */
        L->eg = L->eu = L->ed = NULL;
        L->load = L->load_total = NULL;
        L->moe = 0;
#define NM(s) (snprintf(n, sizeof n, "model.layers.%lld.%s", (long long)il, s), n)
        ADD(L->attn_norm, NM("input_layernorm.weight"), D, 0);
        if (ds) {
            int64_t H = t->Hq, kvl = c->kv_lora_rank, dr = c->qk_rope_head_dim;
            if (c->q_lora_rank > 0) {
                ADD(L->q_a, NM("self_attn.q_a_proj.weight"), c->q_lora_rank, D);
                ADD(L->q_a_norm, NM("self_attn.q_a_layernorm.weight"), c->q_lora_rank, 0);
                ADD(L->q_b, NM("self_attn.q_b_proj.weight"), H * t->hdq, c->q_lora_rank);
            } else {
                ADD(L->q, NM("self_attn.q_proj.weight"), H * t->hdq, D);
            }
            ADD(L->kv_a, NM("self_attn.kv_a_proj_with_mqa.weight"), kvl + dr, D);
            ADD(L->kv_a_norm, NM("self_attn.kv_a_layernorm.weight"), kvl, 0);
            ADD(L->kv_b, NM("self_attn.kv_b_proj.weight"), H * (c->qk_nope_head_dim + t->hdv), kvl);
            ADD(L->o, NM("self_attn.o_proj.weight"), D, H * t->hdv);
        } else {
            int bias = c->arch == RK_HF_ARCH_QWEN2 || c->attention_bias;
            ADD(L->q, NM("self_attn.q_proj.weight"), t->Hq * t->hdk, D);
            if (bias) ADD(L->qb, NM("self_attn.q_proj.bias"), t->Hq * t->hdk, 0);
            ADD(L->k, NM("self_attn.k_proj.weight"), t->Hk * t->hdk, D);
            if (bias) ADD(L->kb, NM("self_attn.k_proj.bias"), t->Hk * t->hdk, 0);
            ADD(L->v, NM("self_attn.v_proj.weight"), t->Hk * t->hdv, D);
            if (bias) ADD(L->vb, NM("self_attn.v_proj.bias"), t->Hk * t->hdv, 0);
            ADD(L->o, NM("self_attn.o_proj.weight"), D, t->Hq * t->hdv);
            if (c->arch == RK_HF_ARCH_LLAMA && c->attention_bias) ADD(L->ob, NM("self_attn.o_proj.bias"), D, 0);
        }
        ADD(L->ffn_norm, NM("post_attention_layernorm.weight"), D, 0);
        if (ds && rk_hf_config_is_moe_layer(c, il)) {
            int64_t E = c->n_routed_experts, I = c->moe_intermediate_size;
            L->moe = 1;
            ADD(L->router, NM("mlp.gate.weight"), E, D);
            if (!strcmp(c->topk_method, "noaux_tc")) {
                if ((L->score_bias = add(t, NM("mlp.gate.e_score_correction_bias"), E, 0, 0, err)) < 0) goto oom;
            }
            L->eg = malloc((size_t)E * sizeof(int));
            L->eu = malloc((size_t)E * sizeof(int));
            L->ed = malloc((size_t)E * sizeof(int));
            L->load = calloc((size_t)E, sizeof(uint64_t));
            L->load_total = calloc((size_t)E, sizeof(uint64_t));
            if (!L->eg || !L->eu || !L->ed || !L->load || !L->load_total) goto oom;
            for (int64_t e = 0; e < E; e++) {
                snprintf(n, sizeof n, "model.layers.%lld.mlp.experts.%lld.gate_proj.weight", (long long)il, (long long)e);
                ADD(L->eg[e], n, I, D);
                snprintf(n, sizeof n, "model.layers.%lld.mlp.experts.%lld.up_proj.weight", (long long)il, (long long)e);
                ADD(L->eu[e], n, I, D);
                snprintf(n, sizeof n, "model.layers.%lld.mlp.experts.%lld.down_proj.weight", (long long)il, (long long)e);
                ADD(L->ed[e], n, D, I);
            }
            if (c->n_shared_experts > 0) {
                int64_t S = I * c->n_shared_experts;
                ADD(L->sg, NM("mlp.shared_experts.gate_proj.weight"), S, D);
                ADD(L->su, NM("mlp.shared_experts.up_proj.weight"), S, D);
                ADD(L->sd, NM("mlp.shared_experts.down_proj.weight"), D, S);
            }
        } else {
            ADD(L->gate, NM("mlp.gate_proj.weight"), c->intermediate_size, D);
            ADD(L->up, NM("mlp.up_proj.weight"), c->intermediate_size, D);
            ADD(L->down, NM("mlp.down_proj.weight"), D, c->intermediate_size);
        }
#undef NM
    }
    ADD(t->final_norm, "model.norm.weight", D, 0);
    if (c->tie_word_embeddings) t->head = t->embed;
    else ADD(t->head, "lm_head.weight", t->vocab, D);
    /* storage: trainable tensors in one block (and grads), buffers in another */
    int64_t nw = 0, nb = 0;
    for (int64_t i = 0; i < t->n_tensors; i++) {
        if (t->p[i].trainable) nw += t->p[i].n;
        else nb += t->p[i].n;
    }
    t->n_w = nw;
    t->w = calloc((size_t)(nw ? nw : 1), sizeof(float));
    t->g = calloc((size_t)(nw ? nw : 1), sizeof(float));
    t->bufs = calloc((size_t)(nb ? nb : 1), sizeof(float));
    if (!t->w || !t->g || !t->bufs) goto oom;
    int64_t ow = 0, ob = 0;
    for (int64_t i = 0; i < t->n_tensors; i++) {
        rk_tparam *p = &t->p[i];
        if (p->trainable) {
            p->w = t->w + ow, p->g = t->g + ow;
            ow += p->n;
        } else {
            p->w = t->bufs + ob, p->g = NULL;
            ob += p->n;
        }
    }
    return 0;
oom:
    return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory for the parameter table");
}
#undef ADD

/* ---- create / load ------------------------------------------------------------------------------------------ */
static int setup(rk_train *t, const char *where, rk_err *err) {
    const rk_hf_config *c = &t->cfg;
    if (c->arch != RK_HF_ARCH_DEEPSEEK2 && c->arch != RK_HF_ARCH_QWEN2 && c->arch != RK_HF_ARCH_LLAMA)
        return rk_err_file(err, RK_EUNSUPPORTED, where, UINT64_MAX, "model_type '%s' cannot be trained", c->model_type);
    t->v2 = !strcmp(c->model_type, "deepseek_v2");
    t->vocab = c->vocab_size, t->D = c->hidden_size, t->L = c->num_hidden_layers;
    t->Hq = c->num_attention_heads;
    t->eps = (float)c->rms_norm_eps;
    if (c->arch == RK_HF_ARCH_DEEPSEEK2) {
        t->Hk = t->Hq;
        t->hdq = t->hdk = c->qk_nope_head_dim + c->qk_rope_head_dim;
        t->hdv = c->v_head_dim;
        t->rot_dim = c->qk_rope_head_dim;
        t->interleaved = 1;
        if (c->n_routed_experts > RK_MAX_EXPERTS || c->num_experts_per_tok > c->n_routed_experts)
            return rk_err_file(err, RK_EUNSUPPORTED, where, UINT64_MAX, "unsupported expert counts");
    } else {
        t->Hk = c->num_key_value_heads;
        t->hdq = t->hdk = t->hdv = c->head_dim;
        t->rot_dim = c->head_dim;
        t->interleaved = 0;
    }
    if (t->vocab <= 0 || t->D <= 0 || t->L <= 0 || t->Hq <= 0 || t->Hk <= 0 || t->Hq % t->Hk || t->hdk <= 0 ||
        t->hdv <= 0 || t->rot_dim % 2)
        return rk_err_file(err, RK_ECORRUPT, where, UINT64_MAX, "config.json sizes are not usable for training");
    int rc = rk__rope_config(c, where, &t->rope_params, &t->attn_scale, err);
    if (rc) return rc;
    return build_table(t, err);
}

static int read_text(const char *path, char **out, size_t *len, rk_err *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return rk_err_file(err, RK_EIO, path, UINT64_MAX, "cannot open");
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *b = realloc(buf, cap);
            if (!b) { free(buf); fclose(f); return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory"); }
            buf = b;
        }
        size_t k = fread(buf + n, 1, 4096, f);
        n += k;
        if (k < 4096) break;
        if (n > (64u << 20)) { free(buf); fclose(f); return rk_err_file(err, RK_ECORRUPT, path, UINT64_MAX, "too large for a config"); }
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) { free(buf); return rk_err_file(err, RK_EIO, path, UINT64_MAX, "read error"); }
    buf[n] = 0;
    *out = buf, *len = n;
    return 0;
}

static char *config_path_of(const char *path) {
    size_t n = strlen(path);
    if (n >= 5 && !strcmp(path + n - 5, ".json")) return strdup(path);
    return rk_path_join(path, "config.json");
}

static int init_common(rk_train **out, const char *cfg_path, rk_err *err) {
    *out = NULL;
    rk_train *t = calloc(1, sizeof *t);
    if (!t) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
    size_t len = 0;
    int rc = read_text(cfg_path, &t->config_text, &len, err);
    if (!rc) rc = rk_hf_config_parse(&t->cfg, t->config_text, len, cfg_path, err);
    if (!rc) rc = setup(t, cfg_path, err);
    if (rc) { rk_train_free(t); return rc; }
    *out = t;
    return 0;
}

int rk_train_new(rk_train **out, const char *config_path, uint64_t seed, rk_err *err) {
    char *cp = config_path_of(config_path);
    if (!cp) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
    rk_train *t;
    int rc = init_common(&t, cp, err);
    if (rc) { free(cp); *out = NULL; return rc; }
    double sigma = 0.02;
    cJSON *j = cJSON_Parse(t->config_text);
    const cJSON *ir = j ? cJSON_GetObjectItemCaseSensitive(j, "initializer_range") : NULL;
    if (cJSON_IsNumber(ir) && ir->valuedouble > 0 && ir->valuedouble < 1) sigma = ir->valuedouble;
    cJSON_Delete(j);
    free(cp);
    rk_rng r;
    rk_rng_seed(&r, seed);
    for (int64_t i = 0; i < t->n_tensors; i++) {
        rk_tparam *p = &t->p[i];
        const char *nm = p->name;
        size_t L = strlen(nm);
        int is_norm = L > 11 && strstr(nm, "norm.weight") == nm + L - 11;
        if (p->ndim == 2)
            for (int64_t k = 0; k < p->n; k++) p->w[k] = (float)(sigma * rk_rng_normal(&r));
        else
            for (int64_t k = 0; k < p->n; k++) p->w[k] = is_norm ? 1.0f : 0.0f;
    }
    *out = t;
    return 0;
}

int rk_train_load(rk_train **out, const char *path, rk_err *err) {
    *out = NULL;
    rk_ckpt *ck = NULL;
    int rc = rk_ckpt_open(&ck, path, err);
    if (rc) return rc;
    char *cp = rk_path_join(rk_ckpt_dir(ck), "config.json");
    rk_train *t = NULL;
    if (!cp) { rc = rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory"); goto done; }
    if ((rc = init_common(&t, cp, err))) goto done;
    if (t->cfg.fp8) rk_ckpt_set_fp8_block(ck, t->cfg.fp8_block_rows, t->cfg.fp8_block_cols);
    for (int64_t i = 0; i < t->n_tensors && !rc; i++) {
        rk_tparam *p = &t->p[i];
        const rk_ckpt_tensor *ct = rk_ckpt_find(ck, p->name);
        if (!ct) {
            rc = rk_err_file(err, RK_ENOTFOUND, path, UINT64_MAX, "missing tensor '%s'", p->name);
            break;
        }
        int ok = ct->n_dims == p->ndim && ct->shape[0] == p->shape[0] && (p->ndim == 1 || ct->shape[1] == p->shape[1]);
        if (!ok) {
            rc = rk_err_file(err, RK_ECORRUPT, path, UINT64_MAX, "tensor '%s' does not have the shape config.json implies",
                             p->name);
            break;
        }
        if ((rc = rk_ckpt_read_f32(ck, ct, p->w, (uint64_t)p->n, err))) break;
        for (int64_t k = 0; k < p->n; k++)
            if (!isfinite(p->w[k])) {
                rc = rk_err_file(err, RK_ECORRUPT, path, UINT64_MAX, "tensor '%s' element %lld is not finite", p->name,
                                 (long long)k);
                break;
            }
    }
done:
    free(cp);
    rk_ckpt_close(ck);
    if (rc) { rk_train_free(t); return rc; }
    *out = t;
    return 0;
}

static void free_acts(rk_train *t) {
    if (!t->acts) return;
    for (int64_t il = 0; il < t->L; il++) {
        rk_tacts *a = &t->acts[il];
        void *ps[] = { a->x, a->xn1, a->rstd1, a->q, a->k, a->v, a->qa, a->qan, a->rstd_qa, a->kva, a->lat_in, a->lat,
                       a->rstd_kv, a->kvb, a->att, a->ao, a->xm, a->xn2, a->rstd2, a->hg, a->hu, a->h, a->s, a->sel,
                       a->selw, a->sden, a->perm, a->eoff, a->xg, a->eg, a->eu, a->eh, a->ye };
        for (size_t k = 0; k < sizeof ps / sizeof ps[0]; k++) free(ps[k]);
    }
    free(t->acts);
    t->acts = NULL;
}

static void free_scratch(rk_train *t) {
    void *ps[] = { t->xf, t->xfn, t->rstdf, t->logits, t->pos, t->dx, t->dxn, t->dtmp, t->dq, t->dk, t->dv, t->dao,
                   t->dqa, t->dkva, t->dlat, t->dkvb, t->dhg, t->dhu, t->dh, t->ds, t->dxg, t->dye, t->deg, t->deu,
                   t->deh, t->scratch };
    for (size_t k = 0; k < sizeof ps / sizeof ps[0]; k++) free(ps[k]);
}

void rk_train_free(rk_train *t) {
    if (!t) return;
    free_acts(t);
    free_scratch(t);
    if (t->layers)
        for (int64_t il = 0; il < t->L; il++) {
            rk_tlayer *L = &t->layers[il];
            free(L->eg), free(L->eu), free(L->ed), free(L->load), free(L->load_total);
        }
    free(t->layers);
    for (int64_t i = 0; i < t->n_tensors; i++) free(t->names[i]);
    free(t->names);
    free(t->p);
    free(t->w), free(t->g), free(t->bufs);
    rk_rope_table_free(&t->rope);
    free(t->config_text);
    free(t);
}

/* ---- accessors ---------------------------------------------------------------------------------------------- */
const rk_hf_config *rk_train_config(const rk_train *t) { return &t->cfg; }
int rk_train_n_tensors(const rk_train *t) { return (int)t->n_tensors; }
const rk_tparam *rk_train_tensor(const rk_train *t, int i) { return i >= 0 && i < t->n_tensors ? &t->p[i] : NULL; }
const rk_tparam *rk_train_find(const rk_train *t, const char *name) {
    for (int64_t i = 0; i < t->n_tensors; i++)
        if (!strcmp(t->p[i].name, name)) return &t->p[i];
    return NULL;
}
float *rk_train_params(rk_train *t, int64_t *n) { if (n) *n = t->n_w; return t->w; }
float *rk_train_grads(rk_train *t, int64_t *n) { if (n) *n = t->n_w; return t->g; }
void rk_train_zero_grad(rk_train *t) { memset(t->g, 0, (size_t)t->n_w * sizeof(float)); }

int64_t rk_train_active_params(const rk_train *t) {
    int64_t n = 0;
    for (int64_t i = 0; i < t->n_tensors; i++)
        if (t->p[i].ndim == 2 && (int)i != t->embed) n += t->p[i].n;
    if (t->head == t->embed) n += t->vocab * t->D;   /* tied: the embedding is also the output head's matmul */
    const rk_hf_config *c = &t->cfg;
    if (c->arch == RK_HF_ARCH_DEEPSEEK2)
        for (int64_t il = 0; il < t->L; il++)
            if (t->layers[il].moe) {
                int64_t per = 3 * c->moe_intermediate_size * t->D;
                n -= per * (c->n_routed_experts - c->num_experts_per_tok);
            }
    return n;
}

/* ---- activations -------------------------------------------------------------------------------------------- */
static int grow(void **p, size_t bytes) {
    void *q = realloc(*p, bytes ? bytes : 1);
    if (!q) return -1;
    *p = q;
    return 0;
}

int rk__train_reserve(rk_train *t, int64_t B, int64_t T, rk_err *err) {
    const int64_t N = B * T;
    if (N <= t->cap_n && T <= t->cap_t && B * T * T <= t->cap_n * t->cap_t) return 0;
    const rk_hf_config *c = &t->cfg;
    const size_t F = sizeof(float);
    int ds = c->arch == RK_HF_ARCH_DEEPSEEK2;
    int64_t D = t->D, Hq = t->Hq, Hk = t->Hk, dq = t->hdq, dv = t->hdv;
    int64_t ql = ds ? c->q_lora_rank : 0, kvl = ds ? c->kv_lora_rank : 0, dr = ds ? c->qk_rope_head_dim : 0;
    int64_t dn = ds ? c->qk_nope_head_dim : 0, E = ds ? c->n_routed_experts : 0, K = ds ? c->num_experts_per_tok : 0;
    int64_t I = ds ? c->moe_intermediate_size : 0, S = I * (ds ? c->n_shared_experts : 0);
    int64_t Fd = c->intermediate_size > S ? c->intermediate_size : S;
    if (!t->acts && !(t->acts = calloc((size_t)t->L, sizeof *t->acts))) goto oom;
    for (int64_t il = 0; il < t->L; il++) {
        rk_tacts *a = &t->acts[il];
        int moe = t->layers[il].moe;
        int64_t fw = moe ? S : c->intermediate_size;
        int bad = grow((void **)&a->x, (size_t)(N * D) * F) || grow((void **)&a->xn1, (size_t)(N * D) * F) ||
                  grow((void **)&a->rstd1, (size_t)N * F) || grow((void **)&a->q, (size_t)(N * Hq * dq) * F) ||
                  grow((void **)&a->k, (size_t)(N * Hk * dq) * F) || grow((void **)&a->v, (size_t)(N * Hk * dv) * F) ||
                  grow((void **)&a->att, (size_t)(B * Hq * T * T) * F) || grow((void **)&a->ao, (size_t)(N * Hq * dv) * F) ||
                  grow((void **)&a->xm, (size_t)(N * D) * F) || grow((void **)&a->xn2, (size_t)(N * D) * F) ||
                  grow((void **)&a->rstd2, (size_t)N * F) || grow((void **)&a->hg, (size_t)(N * fw) * F) ||
                  grow((void **)&a->hu, (size_t)(N * fw) * F) || grow((void **)&a->h, (size_t)(N * fw) * F);
        if (!bad && ds)
            bad = grow((void **)&a->qa, (size_t)(N * ql) * F) || grow((void **)&a->qan, (size_t)(N * ql) * F) ||
                  grow((void **)&a->rstd_qa, (size_t)N * F) || grow((void **)&a->kva, (size_t)(N * (kvl + dr)) * F) ||
                  grow((void **)&a->lat_in, (size_t)(N * kvl) * F) || grow((void **)&a->lat, (size_t)(N * kvl) * F) ||
                  grow((void **)&a->rstd_kv, (size_t)N * F) || grow((void **)&a->kvb, (size_t)(N * Hq * (dn + dv)) * F);
        if (!bad && moe)
            bad = grow((void **)&a->s, (size_t)(N * E) * F) || grow((void **)&a->sel, (size_t)(N * K) * sizeof(int32_t)) ||
                  grow((void **)&a->selw, (size_t)(N * K) * F) || grow((void **)&a->sden, (size_t)N * F) ||
                  grow((void **)&a->perm, (size_t)(2 * N * K) * sizeof(int32_t)) ||
                  grow((void **)&a->eoff, (size_t)(E + 1) * sizeof(int64_t)) || grow((void **)&a->xg, (size_t)(N * K * D) * F) ||
                  grow((void **)&a->eg, (size_t)(N * K * I) * F) || grow((void **)&a->eu, (size_t)(N * K * I) * F) ||
                  grow((void **)&a->eh, (size_t)(N * K * I) * F) || grow((void **)&a->ye, (size_t)(N * K * D) * F);
        if (bad) goto oom;
    }
    int64_t wq = Hq * dq > Hk * dq ? Hq * dq : Hk * dq;
    int64_t big = D;
    if (Hq * dv > big) big = Hq * dv;
    if (Hq * (dn + dv) > big) big = Hq * (dn + dv);
    if (ql > big) big = ql;
    if (kvl > big) big = kvl;
    if (K > big) big = K;
    int bad = grow((void **)&t->xf, (size_t)(N * D) * F) || grow((void **)&t->xfn, (size_t)(N * D) * F) ||
              grow((void **)&t->rstdf, (size_t)N * F) || grow((void **)&t->logits, (size_t)(N * t->vocab) * F) ||
              grow((void **)&t->pos, (size_t)N * sizeof(int64_t)) || grow((void **)&t->dx, (size_t)(N * D) * F) ||
              grow((void **)&t->dxn, (size_t)(N * D) * F) || grow((void **)&t->dtmp, (size_t)(N * D) * F) ||
              grow((void **)&t->dq, (size_t)(N * wq) * F) || grow((void **)&t->dk, (size_t)(N * Hq * dq) * F) ||
              grow((void **)&t->dv, (size_t)(N * Hq * dv) * F) || grow((void **)&t->dao, (size_t)(N * Hq * dv) * F) ||
              grow((void **)&t->dhg, (size_t)(N * Fd) * F) || grow((void **)&t->dhu, (size_t)(N * Fd) * F) ||
              grow((void **)&t->dh, (size_t)(N * Fd) * F) || grow((void **)&t->scratch, (size_t)(N * big) * F);
    if (!bad && ds)
        bad = grow((void **)&t->dqa, (size_t)(N * ql) * F) || grow((void **)&t->dkva, (size_t)(N * (kvl + dr)) * F) ||
              grow((void **)&t->dlat, (size_t)(N * kvl) * F) || grow((void **)&t->dkvb, (size_t)(N * Hq * (dn + dv)) * F) ||
              grow((void **)&t->ds, (size_t)(N * E) * F) || grow((void **)&t->dxg, (size_t)(N * K * D) * F) ||
              grow((void **)&t->dye, (size_t)(N * K * D) * F) || grow((void **)&t->deg, (size_t)(N * K * I) * F) ||
              grow((void **)&t->deu, (size_t)(N * K * I) * F) || grow((void **)&t->deh, (size_t)(N * K * I) * F);
    if (bad) goto oom;
    if (!t->rope.cos || t->rope.n_pos < T) {
        rk_rope_table nt;
        int rc = rk_rope_table_init(&nt, &t->rope_params, t->rot_dim, T, err);
        if (rc) return rc;
        rk_rope_table_free(&t->rope);
        t->rope = nt;
    }
    t->cap_n = N, t->cap_t = T;
    return 0;
oom:
    return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory for training activations (%lld sequences of %lld tokens)",
                      (long long)B, (long long)T);
}

/* ---- MoE balance -------------------------------------------------------------------------------------------- */
int rk_train_load_counts(const rk_train *t, int64_t il, const uint64_t **counts, int64_t *n_experts) {
    if (il < 0 || il >= t->L || !t->layers[il].moe) return RK_ENOTFOUND;
    *counts = t->layers[il].load;
    *n_experts = t->cfg.n_routed_experts;
    return 0;
}

int rk_train_load_totals(const rk_train *t, int64_t il, const uint64_t **counts, int64_t *n_experts) {
    if (il < 0 || il >= t->L || !t->layers[il].moe) return RK_ENOTFOUND;
    *counts = t->layers[il].load_total;
    *n_experts = t->cfg.n_routed_experts;
    return 0;
}

void rk_train_bias_update(rk_train *t, double gamma) {
    const int64_t E = t->cfg.n_routed_experts;
    for (int64_t il = 0; il < t->L; il++) {
        rk_tlayer *L = &t->layers[il];
        if (!L->moe) continue;
        uint64_t tot = 0;
        for (int64_t e = 0; e < E; e++) tot += L->load[e];
        const double mean = (double)tot / (double)E;
        if (L->score_bias >= 0 && tot > 0) {
            float *b = t->p[L->score_bias].w;
            for (int64_t e = 0; e < E; e++) {
                const double d = mean - (double)L->load[e];
                b[e] = (float)((double)b[e] + gamma * (d > 0 ? 1.0 : d < 0 ? -1.0 : 0.0));
            }
        }
        for (int64_t e = 0; e < E; e++) L->load_total[e] += L->load[e], L->load[e] = 0;
    }
}

/* ---- saving ------------------------------------------------------------------------------------------------- */
static int is_fp8_weight(const rk_train *t, const rk_tparam *p) {
    if (p->ndim != 2 || strncmp(p->name, "model.layers.", 13)) return 0;
    return !strstr(p->name, "mlp.gate.weight");
}

static int write_config(const rk_train *t, const char *dir, int dtype, rk_err *err) {
    cJSON *j = cJSON_Parse(t->config_text);
    if (!j) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "cannot re-read the config");
    cJSON_DeleteItemFromObjectCaseSensitive(j, "quantization_config");
    cJSON_DeleteItemFromObjectCaseSensitive(j, "torch_dtype");
    cJSON_AddStringToObject(j, "torch_dtype", dtype == RK_DTYPE_F32 ? "float32" : "bfloat16");
    if (dtype == RK_DTYPE_F8_E4M3) {
        cJSON *q = cJSON_AddObjectToObject(j, "quantization_config");
        cJSON_AddStringToObject(q, "activation_scheme", "dynamic");
        cJSON_AddStringToObject(q, "fmt", "e4m3");
        cJSON_AddStringToObject(q, "quant_method", "fp8");
        const int bs[2] = { 128, 128 };
        cJSON_AddItemToObject(q, "weight_block_size", cJSON_CreateIntArray(bs, 2));
    }
    char *txt = cJSON_Print(j), *path = rk_path_join(dir, "config.json");
    cJSON_Delete(j);
    const size_t n = txt ? strlen(txt) : 0;
    if (txt) txt[n] = '\n';   /* cJSON's terminator becomes the final newline */
    const int rc = !txt || !path ? rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory")
                                 : rk_write_file_atomic(path, txt, n + 1, err);
    free(txt);
    free(path);
    return rc;
}

int rk_train_save(const rk_train *t, const char *dir, int dtype, rk_err *err) {
    if (dtype != RK_DTYPE_F32 && dtype != RK_DTYPE_BF16 && dtype != RK_DTYPE_F8_E4M3)
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "save dtype must be F32, BF16 or F8_E4M3");
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return rk_err_file(err, RK_EIO, dir, UINT64_MAX, "cannot create the folder: %s", strerror(errno));
    rk_st_writer *w = NULL;
    int rc = rk_st_writer_init(&w, dir, "model", 0, err);
    if (rc) return rc;
    rk_st_writer_add_meta(w, "format", "pt", NULL);
    for (int64_t i = 0; i < t->n_tensors && !rc; i++) {
        const rk_tparam *p = &t->p[i];
        int dt = dtype;
        if (dtype == RK_DTYPE_F8_E4M3) dt = is_fp8_weight(t, p) ? RK_DTYPE_F8_E4M3 : RK_DTYPE_BF16;
        if (!p->trainable) dt = RK_DTYPE_F32;
        if (p->ndim == 1 && dtype == RK_DTYPE_F8_E4M3 && p->trainable) dt = RK_DTYPE_BF16;
        rc = rk_st_writer_add(w, p->name, dt, p->ndim, p->shape, err);
        if (!rc && dt == RK_DTYPE_F8_E4M3) {
            char sn[224];
            snprintf(sn, sizeof sn, "%s_scale_inv", p->name);
            int64_t ss[2] = { (p->shape[0] + 127) / 128, (p->shape[1] + 127) / 128 };
            rc = rk_st_writer_add(w, sn, RK_DTYPE_F32, 2, ss, err);
        }
    }
    if (!rc) rc = rk_st_writer_begin(w, err);
    for (int64_t i = 0; i < t->n_tensors && !rc; i++) {
        const rk_tparam *p = &t->p[i];
        int dt = dtype;
        if (dtype == RK_DTYPE_F8_E4M3) dt = is_fp8_weight(t, p) ? RK_DTYPE_F8_E4M3 : RK_DTYPE_BF16;
        if (!p->trainable) dt = RK_DTYPE_F32;
        if (p->ndim == 1 && dtype == RK_DTYPE_F8_E4M3 && p->trainable) dt = RK_DTYPE_BF16;
        if (dt == RK_DTYPE_F32) {
            rc = rk_st_writer_write(w, p->w, (size_t)p->n * 4, err);
        } else if (dt == RK_DTYPE_BF16) {
            uint16_t *b = malloc((size_t)p->n * 2);
            if (!b) { rc = rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory"); break; }
            rk_convert_from_f32(RK_DTYPE_BF16, p->w, b, (size_t)p->n);
            rc = rk_st_writer_write(w, b, (size_t)p->n * 2, err);
            free(b);
        } else {
            int64_t sr = (p->shape[0] + 127) / 128, sc = (p->shape[1] + 127) / 128;
            uint8_t *q = malloc((size_t)p->n);
            float *s = malloc((size_t)(sr * sc) * sizeof(float));
            if (!q || !s) { free(q); free(s); rc = rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory"); break; }
            rk_fp8_block_quant(p->w, p->shape[0], p->shape[1], 128, q, s);
            rc = rk_st_writer_write(w, q, (size_t)p->n, err);
            if (!rc) rc = rk_st_writer_write(w, s, (size_t)(sr * sc) * sizeof(float), err);
            free(q);
            free(s);
        }
    }
    if (!rc) rc = rk_st_writer_finish(w, err);
    rk_st_writer_free(w);
    if (!rc) rc = write_config(t, dir, dtype, err);
    return rc;
}
