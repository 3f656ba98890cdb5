/* model/model.c — loading and the forward driver shared by every architecture.
 *
 * Loading opens the checkpoint (formats/checkpoint.h), reads config.json (formats/hfconfig.h; for a GGUF the
 * config comes from its keys, model_gguf.c) and then asks the architecture file for each layer's tensors by
 * (HF) name with the exact shape the config implies. Linear weights
 * become rk_wview over the mapped bytes (F32/F16/BF16, or FP8-E4M3 with its block scale_inv); 1-D tensors
 * (norms, biases, the router's score bias) are converted to f32 and owned by the model. Anything missing,
 * misshapen or of an unusable dtype is an error naming the tensor; MTP layers are ignored and noted.
 *
 * The forward pass runs in chunks of RK_CHUNK tokens over activation buffers owned by the model, so a long
 * prompt needs no more memory than a chunk; the KV cache makes chunking exact. */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "model/model-impl.h"
#include "quantize/quants.h"

/* ---- notes ------------------------------------------------------------------------------------------------ */
static void note(rk_model *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(rk_model *m, const char *fmt, ...) {
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (k < 0) return;
    size_t add = strlen(line) + 1;
    char *p = realloc(m->notes, m->notes_len + add + 1);
    if (!p) return;
    m->notes = p;
    memcpy(p + m->notes_len, line, add - 1);
    p[m->notes_len + add - 1] = '\n';
    m->notes_len += add;
    p[m->notes_len] = 0;
}

static int own(rk_model *m, void *p) {
    if (m->n_owned == m->cap_owned) {
        size_t c = m->cap_owned ? m->cap_owned * 2 : 64;
        void **v = realloc(m->owned, c * sizeof *v);
        if (!v) return RK_ENOMEM;
        m->owned = v, m->cap_owned = c;
    }
    m->owned[m->n_owned++] = p;
    return 0;
}

/* ---- tensor lookup with validation ------------------------------------------------------------------------- */
static const char *ck_file(const rk_model *m, const rk_ckpt_tensor *t) {
    return rk_ckpt_file_path(m->ck, (size_t)t->file);
}

static int shape_str(char *buf, size_t cap, const int64_t *s, int nd) {
    size_t o = 0;
    o += (size_t)snprintf(buf + o, cap - o, "[");
    for (int i = 0; i < nd && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%lld", i ? ", " : "", (long long)s[i]);
    if (o < cap) snprintf(buf + o, cap - o, "]");
    return 0;
}

static int check_shape(rk_model *m, const rk_ckpt_tensor *t, const int64_t *want, int nd, rk_err *err) {
    int ok = t->n_dims == nd;
    for (int i = 0; ok && i < nd; i++) ok = t->shape[i] == want[i];
    if (ok) return 0;
    char a[96], b[96];
    shape_str(a, sizeof a, want, nd);
    shape_str(b, sizeof b, t->shape, t->n_dims);
    return rk_err_file(err, RK_ECORRUPT, ck_file(m, t), UINT64_MAX,
                       "tensor '%s' has shape %s, the config implies %s", t->name, b, a);
}

/* the tensor's stored bytes: in place when mapped, else read once into memory owned by the model (PyTorch zip
 * storages are not exposed as maps); still the stored dtype, never widened */
static const void *tensor_bytes(rk_model *m, const rk_ckpt_tensor *t, rk_err *err) {
    const rk_dtype_traits *tr = rk_dtype_get(t->dtype);
    uintptr_t align = tr && tr->bits >= 16 ? tr->bits / 8 : 1;   /* element alignment the kernels read with */
    if (t->data && (uintptr_t)t->data % align == 0) return t->data;
    void *buf = malloc(t->nbytes ? t->nbytes : 1);
    if (!buf || own(m, buf)) {
        free(buf);
        rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory reading '%s' (%llu bytes)", t->name,
                   (unsigned long long)t->nbytes);
        return NULL;
    }
    if (rk_ckpt_read(m->ck, t, buf, t->nbytes, err)) return NULL;
    m->read_bytes += t->nbytes;
    return buf;
}

int rk__weight_dtype_ok(int dt) {
    return dt == RK_DTYPE_F32 || dt == RK_DTYPE_F16 || dt == RK_DTYPE_BF16 || dt == RK_DTYPE_F8_E4M3 ||
           rk_qtype_get(dt) != NULL;   /* ggml block types the kernels run (quantize/quants.h) */
}

static const rk_ckpt_tensor *need(rk_model *m, const char *name, rk_err *err) {
    const rk_ckpt_tensor *t = rk__find(m, name);
    char buf[160];
    if (!t) rk_err_file(err, RK_ENOTFOUND, rk_ckpt_path(m->ck), UINT64_MAX, "missing tensor '%s'",
                        rk__display_name(m, name, buf, sizeof buf));
    return t;
}

int rk__get_lin(rk_model *m, rk_lin *l, const char *name, int64_t rows, int64_t cols, rk_err *err) {
    memset(l, 0, sizeof *l);
    const rk_ckpt_tensor *t = need(m, name, err);
    if (!t) return err ? err->code : RK_ENOTFOUND;
    int64_t want[2] = {rows, cols};
    int rc = check_shape(m, t, want, 2, err);
    if (rc) return rc;
    if (!rk__weight_dtype_ok(t->dtype))
        return rk_err_file(err, RK_EUNSUPPORTED, ck_file(m, t), UINT64_MAX,
                           "tensor '%s' has dtype %s; the engine runs F32, F16, BF16, FP8-E4M3 (+scale_inv) and the ggml block types of quantize/quants.h",
                           t->name, rk_dtype_name(t->dtype));
    const void *bytes = tensor_bytes(m, t, err);
    if (!bytes) return err ? err->code : RK_EIO;
    l->w.dtype = t->dtype, l->w.data = bytes, l->w.rows = rows, l->w.cols = cols, l->w.block = 0;
    l->name = t->name;
    if (t->dtype == RK_DTYPE_F8_E4M3) {
        if (t->scale < 0)
            return rk_err_file(err, RK_ECORRUPT, ck_file(m, t), UINT64_MAX,
                               "FP8 tensor '%s' has no '%s_scale_inv' companion", t->name, t->name);
        const rk_ckpt_tensor *s = rk_ckpt_tensor_at(m->ck, (size_t)t->scale);
        int64_t br = m->cfg.fp8_block_rows > 0 ? m->cfg.fp8_block_rows : 128;
        int64_t bc = m->cfg.fp8_block_cols > 0 ? m->cfg.fp8_block_cols : 128;
        if (br != bc)
            return rk_err_file(err, RK_EUNSUPPORTED, rk_ckpt_path(m->ck), UINT64_MAX,
                               "FP8 weight_block_size [%lld, %lld] is not square", (long long)br, (long long)bc);
        int64_t sw[2] = {(rows + br - 1) / br, (cols + bc - 1) / bc};
        if ((rc = check_shape(m, s, sw, 2, err))) return rc;
        if (s->dtype != RK_DTYPE_F32)
            return rk_err_file(err, RK_EUNSUPPORTED, ck_file(m, s), UINT64_MAX, "scale tensor '%s' must be F32 (is %s)",
                               s->name, rk_dtype_name(s->dtype));
        const void *sb = tensor_bytes(m, s, err);
        if (!sb) return err ? err->code : RK_EIO;
        l->w.scale = (const float *)sb;
        l->w.block = br;
    }
    return 0;
}

int rk__get_vec(rk_model *m, float **out, const char *name, int64_t len, int optional, rk_err *err) {
    *out = NULL;
    const rk_ckpt_tensor *t = rk__find(m, name);
    if (!t) {
        char buf[160];
        if (optional) return 0;
        return rk_err_file(err, RK_ENOTFOUND, rk_ckpt_path(m->ck), UINT64_MAX, "missing tensor '%s'",
                           rk__display_name(m, name, buf, sizeof buf));
    }
    int rc = check_shape(m, t, &len, 1, err);
    if (rc) return rc;
    const rk_dtype_traits *tr = rk_dtype_get(t->dtype);
    if (!tr || !tr->is_float || tr->block_size != 1)
        return rk_err_file(err, RK_EUNSUPPORTED, ck_file(m, t), UINT64_MAX, "tensor '%s' has unsupported dtype %s",
                           t->name, rk_dtype_name(t->dtype));
    float *v = malloc((size_t)len * sizeof *v);
    if (!v || own(m, v)) {
        free(v);
        return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory for '%s'", name);
    }
    if ((rc = rk_ckpt_read_f32(m->ck, t, v, (uint64_t)len, err))) return rc;
    for (int64_t i = 0; i < len; i++)
        if (!isfinite(v[i]))
            return rk_err_file(err, RK_ECORRUPT, ck_file(m, t), UINT64_MAX, "tensor '%s' element %lld is not finite",
                               t->name, (long long)i);
    *out = v;
    return 0;
}

/* ---- MTP / unused tensors ----------------------------------------------------------------------------------- */
static void note_unused(rk_model *m) {
    int64_t mtp_first = -1, mtp_last = -1;
    size_t n_mtp = 0;
    for (size_t i = 0; i < rk_ckpt_count(m->ck); i++) {
        const rk_ckpt_tensor *t = rk_ckpt_tensor_at(m->ck, i);
        long long il;
        if (sscanf(t->name, "model.layers.%lld.", &il) == 1 && il >= m->n_layers) {
            if (mtp_first < 0 || il < mtp_first) mtp_first = il;
            if (il > mtp_last) mtp_last = il;
            n_mtp++;
        }
    }
    if (n_mtp)
        note(m, "ignored %zu tensors of layers %lld..%lld (>= num_hidden_layers %lld: multi-token prediction)", n_mtp,
             (long long)mtp_first, (long long)mtp_last, (long long)m->n_layers);
}

/* ---- rope / attention scale ---------------------------------------------------------------------------------- */
int rk__rope_config(const rk_hf_config *c, const char *where, rk_rope_params *p, float *attn_scale, rk_err *err) {
    const rk_hf_rope_scaling *rs = &c->rope_scaling;
    memset(p, 0, sizeof *p);
    p->theta = c->rope_theta;
    p->factor = rs->factor > 0 ? rs->factor : 1.0;
    p->orig_ctx = (double)(rs->original_max_position_embeddings > 0 ? rs->original_max_position_embeddings
                                                                     : c->max_position_embeddings);
    switch (rs->type) {
    case RK_ROPE_SCALING_NONE: p->kind = RK_ROPE_NONE; break;
    case RK_ROPE_SCALING_LINEAR: p->kind = RK_ROPE_LINEAR; break;
    case RK_ROPE_SCALING_YARN:
        p->kind = RK_ROPE_YARN;
        p->beta_fast = rs->has_beta_fast ? rs->beta_fast : 32;
        p->beta_slow = rs->has_beta_slow ? rs->beta_slow : 1;
        p->mscale = rs->has_mscale ? rs->mscale : 1;
        p->mscale_all_dim = rs->has_mscale_all_dim ? rs->mscale_all_dim : 0;
        break;
    case RK_ROPE_SCALING_LLAMA3:
        p->kind = RK_ROPE_LLAMA3;
        p->low_freq_factor = rs->low_freq_factor;
        p->high_freq_factor = rs->high_freq_factor;
        if (rs->original_max_position_embeddings <= 0) p->orig_ctx = 8192;
        break;
    default:
        return rk_err_file(err, RK_EUNSUPPORTED, where, UINT64_MAX,
                           "config.json rope_scaling type '%s' is not supported by the engine",
                           rk_rope_scaling_name(rs->type));
    }
    int ds = c->arch == RK_HF_ARCH_DEEPSEEK2;
    double dqk = ds ? (double)(c->qk_nope_head_dim + c->qk_rope_head_dim) : (double)c->head_dim;
    double scale = 1.0 / sqrt(dqk);
    if (ds && rs->type == RK_ROPE_SCALING_YARN && rs->has_mscale_all_dim && rs->mscale_all_dim != 0) {
        double ms = rk_yarn_get_mscale(p->factor, rs->mscale_all_dim);
        scale *= ms * ms;
    }
    *attn_scale = (float)scale;
    return 0;
}

static int setup_rope(rk_model *m, rk_err *err) {
    return rk__rope_config(&m->cfg, rk_ckpt_dir(m->ck), &m->rope_params, &m->attn_scale, err);
}

static int ensure_rope(rk_model *m, int64_t n_pos, rk_err *err) {
    if (m->rope.cos && m->rope.n_pos >= n_pos) return 0;
    rk_rope_table t;
    memset(&t, 0, sizeof t);
    int done = 0, rc = rk__gguf_rope_table(m, &t, n_pos, &done, err);
    if (!rc && !done) rc = rk_rope_table_init(&t, &m->rope_params, m->rot_dim, n_pos, err);
    if (rc) return rc;
    rk_rope_table_free(&m->rope);
    m->rope = t;
    return 0;
}

/* ---- load ------------------------------------------------------------------------------------------------------ */
static int load_common(rk_model *m, rk_err *err) {
    const rk_hf_config *c = &m->cfg;
    const rk_ckpt_tensor *e = need(m, "model.embed_tokens.weight", err);
    if (!e) return err ? err->code : RK_ENOTFOUND;
    if (e->n_dims == 2 && e->shape[1] == c->hidden_size && e->shape[0] < c->vocab_size)
        return rk_err_file(err, RK_ECORRUPT, ck_file(m, e), UINT64_MAX,
                           "%s vocab_size %lld is larger than the embedding '%s' (%lld rows)",
                           m->gguf ? "the GGUF's" : "config.json", (long long)c->vocab_size, e->name, (long long)e->shape[0]);
    rk_lin emb;
    int rc = rk__get_lin(m, &emb, "model.embed_tokens.weight", m->vocab, m->hidden, err);
    if (rc) return rc;
    m->embed = emb.w;
    if ((rc = rk__get_vec(m, &m->final_norm, "model.norm.weight", m->hidden, 0, err))) return rc;
    if (c->tie_word_embeddings) {
        m->head = emb;
        if (rk__find(m, "lm_head.weight")) note(m, "tie_word_embeddings: 'lm_head.weight' present but unused");
    } else {
        const rk_ckpt_tensor *h = rk__find(m, "lm_head.weight");
        if (h && h->n_dims == 2 && h->shape[1] == c->hidden_size && h->shape[0] < c->vocab_size)
            return rk_err_file(err, RK_ECORRUPT, ck_file(m, h),
                               UINT64_MAX, "vocab_size %lld is larger than '%s' (%lld rows)",
                               (long long)c->vocab_size, h->name, (long long)h->shape[0]);
        if ((rc = rk__get_lin(m, &m->head, "lm_head.weight", m->vocab, m->hidden, err))) return rc;
    }
    return 0;
}

static int alloc_routing(rk_model *m, rk_layer *L, rk_err *err) {
    int64_t E = m->cfg.n_routed_experts;
    L->count = calloc((size_t)E, sizeof *L->count);
    L->wsum = calloc((size_t)E, sizeof *L->wsum);
    L->eg = calloc((size_t)E, sizeof *L->eg);
    L->eu = calloc((size_t)E, sizeof *L->eu);
    L->ed = calloc((size_t)E, sizeof *L->ed);
    if (!L->count || !L->wsum || !L->eg || !L->eu || !L->ed) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
    return 0;
}

int rk_model_load(rk_model **out, const char *path, rk_err *err) {
    *out = NULL;
    rk_model *m = calloc(1, sizeof *m);
    if (!m) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
    int rc = rk_ckpt_open(&m->ck, path, err);
    if (rc) goto fail;
    if (rk_ckpt_format_of(m->ck) == RK_CKPT_GGUF) rc = rk__gguf_config(m, err);
    else rc = rk_hf_config_load(&m->cfg, rk_ckpt_dir(m->ck), err);
    if (rc) goto fail;
    const rk_hf_config *c = &m->cfg;
    if (c->fp8) rk_ckpt_set_fp8_block(m->ck, c->fp8_block_rows, c->fp8_block_cols);
    m->arch = c->arch;
    m->v2 = !strcmp(c->model_type, "deepseek_v2");
    m->vocab = c->vocab_size, m->hidden = c->hidden_size, m->n_layers = c->num_hidden_layers;
    m->eps = (float)c->rms_norm_eps;
    m->hq = c->num_attention_heads;
    if (m->arch == RK_HF_ARCH_DEEPSEEK2) {
        m->hk = m->hq;
        m->dq = m->dk = c->qk_nope_head_dim + c->qk_rope_head_dim;
        m->dv = c->v_head_dim;
        m->rot_dim = c->qk_rope_head_dim;
        m->rope_interleaved = 1;
        int64_t sh = c->moe_intermediate_size * c->n_shared_experts;
        m->ffn_max = c->intermediate_size > sh ? c->intermediate_size : sh;
        if (c->n_routed_experts > 0 &&
            (c->num_experts_per_tok <= 0 || c->num_experts_per_tok > c->n_routed_experts || c->n_group < 0 ||
             (c->n_group > 0 && (c->n_routed_experts % c->n_group || c->topk_group <= 0 || c->topk_group > c->n_group ||
                                 c->topk_group * (c->n_routed_experts / c->n_group) < c->num_experts_per_tok)) ||
             c->moe_intermediate_size <= 0 || c->n_routed_experts > RK_MAX_EXPERTS)) {
            rc = rk_err_file(err, RK_ECORRUPT, rk_ckpt_dir(m->ck), UINT64_MAX,
                             "config.json MoE fields are inconsistent (n_routed_experts %lld, num_experts_per_tok %lld, "
                             "n_group %lld, topk_group %lld)", (long long)c->n_routed_experts,
                             (long long)c->num_experts_per_tok, (long long)c->n_group, (long long)c->topk_group);
            goto fail;
        }
        if (c->n_routed_experts > 0 && strcmp(c->topk_method, "noaux_tc") && strcmp(c->topk_method, "greedy") &&
            strcmp(c->topk_method, "group_limited_greedy")) {
            rc = rk_err_file(err, RK_EUNSUPPORTED, rk_ckpt_dir(m->ck), UINT64_MAX,
                             "config.json topk_method '%s' is not supported", c->topk_method);
            goto fail;
        }
    } else if (m->arch == RK_HF_ARCH_QWEN2 || m->arch == RK_HF_ARCH_LLAMA) {
        m->hk = c->num_key_value_heads;
        m->dq = m->dk = m->dv = c->head_dim;
        m->rot_dim = c->head_dim;
        m->rope_interleaved = m->gguf && m->arch == RK_HF_ARCH_LLAMA;   /* convert permuted llama's q/k rows */
        m->ffn_max = c->intermediate_size;
        if (m->hk <= 0 || m->hq % m->hk) {
            rc = rk_err_file(err, RK_ECORRUPT, rk_ckpt_dir(m->ck), UINT64_MAX,
                             "config.json num_key_value_heads %lld does not divide num_attention_heads %lld",
                             (long long)m->hk, (long long)m->hq);
            goto fail;
        }
    } else {
        rc = rk_err_file(err, RK_EUNSUPPORTED, rk_ckpt_dir(m->ck), UINT64_MAX, "model_type '%s' is not supported",
                         c->model_type);
        goto fail;
    }
    if ((rc = setup_rope(m, err))) goto fail;
    if ((rc = load_common(m, err))) goto fail;
    m->layers = calloc((size_t)m->n_layers, sizeof *m->layers);
    if (!m->layers) { rc = rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory"); goto fail; }
    for (int64_t il = 0; il < m->n_layers; il++) {
        rk_layer *L = &m->layers[il];
        if (m->arch == RK_HF_ARCH_DEEPSEEK2) {
            L->moe = rk_hf_config_is_moe_layer(c, il);
            if (L->moe && (rc = alloc_routing(m, L, err))) goto fail;
            rc = rk__deepseek_load_layer(m, il, err);
        } else {
            rc = rk__dense_load_layer(m, il, err);
        }
        if (rc) goto fail;
    }
    note_unused(m);
    if (m->read_bytes)
        note(m, "%.1f MB of weights read into memory (%s storage not mappable in place or misaligned)",
             m->read_bytes / 1e6, rk_ckpt_format_name(m->ck));
    if (m->gguf && m->arch == RK_HF_ARCH_DEEPSEEK2 && c->rope_scaling.type == RK_ROPE_SCALING_YARN)
        note(m, "GGUF: yarn mscale is not stored; taken equal to mscale_all_dim (%g), as llama.cpp does",
             c->rope_scaling.mscale_all_dim);
    *out = m;
    return 0;
fail:
    rk_model_free(m);
    return rc;
}

static void acts_free(rk_acts *a) {
    float *f[] = {a->x, a->xn, a->tmp, a->q, a->k, a->v, a->qa, a->kva, a->lat, a->kvb, a->att, a->hg, a->hu,
                  a->rlog, a->rsel, a->selw, a->xg, a->ys, a->eg, a->eu};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) free(f[i]);
    free(a->sel);
    free(a->perm);
    free(a->eoff);
    free(a->active);
    free(a->pos);
    free(a->hs);
    memset(a, 0, sizeof *a);
}

void rk_model_free(rk_model *m) {
    if (!m) return;
    if (m->layers) {
        for (int64_t il = 0; il < m->n_layers; il++) {
            rk_layer *L = &m->layers[il];
            free(L->count), free(L->wsum), free(L->eg), free(L->eu), free(L->ed), free(L->kb), free(L->vb);
        }
        free(m->layers);
    }
    for (size_t i = 0; i < m->n_owned; i++) free(m->owned[i]);
    free(m->owned);
    rk_rope_table_free(&m->rope);
    acts_free(&m->a);
    free(m->notes);
    rk_ckpt_close(m->ck);
    free(m);
}

const rk_hf_config *rk_model_config(const rk_model *m) { return &m->cfg; }
int64_t rk_model_vocab(const rk_model *m) { return m->vocab; }
int64_t rk_model_hidden(const rk_model *m) { return m->hidden; }
int64_t rk_model_layers(const rk_model *m) { return m->n_layers; }
const char *rk_model_arch_name(const rk_model *m) { return rk_hf_arch_name(m->arch); }
struct rk_ckpt *rk_model_ckpt(const rk_model *m) { return m->ck; }
const char *rk_model_notes(const rk_model *m) { return m->notes ? m->notes : ""; }

void rk_model_set_observer(rk_model *m, rk_model_observer fn, void *ctx) { m->obs = fn, m->obs_ctx = ctx; }

int rk_model_routing(const rk_model *m, int64_t il, rk_routing *out) {
    if (il < 0 || il >= m->n_layers || !m->layers[il].moe) return RK_ENOTFOUND;
    const rk_layer *L = &m->layers[il];
    out->layer = il;
    out->n_experts = m->cfg.n_routed_experts;
    out->top_k = m->cfg.num_experts_per_tok;
    out->tokens = L->tokens;
    out->count = L->count;
    out->weight_sum = L->wsum;
    return 0;
}

void rk_model_routing_reset(rk_model *m) {
    for (int64_t il = 0; il < m->n_layers; il++) {
        rk_layer *L = &m->layers[il];
        if (!L->moe) continue;
        memset(L->count, 0, (size_t)m->cfg.n_routed_experts * sizeof *L->count);
        memset(L->wsum, 0, (size_t)m->cfg.n_routed_experts * sizeof *L->wsum);
        L->tokens = 0;
    }
}

/* ---- activations ----------------------------------------------------------------------------------------------- */
static int grow(void **p, size_t bytes) {
    void *q = realloc(*p, bytes ? bytes : 1);
    if (!q) return -1;
    *p = q;
    return 0;
}

int rk__acts_reserve(rk_model *m, int64_t n, rk_err *err) {
    rk_acts *a = &m->a;
    if (n <= a->cap) return 0;
    const rk_hf_config *c = &m->cfg;
    size_t N = (size_t)n, F = sizeof(float);
    size_t D = (size_t)m->hidden;
    size_t K = (size_t)(c->n_routed_experts > 0 ? c->num_experts_per_tok : 0);
    size_t E = (size_t)(c->n_routed_experts > 0 ? c->n_routed_experts : 0);
    size_t I = (size_t)(c->moe_intermediate_size > 0 ? c->moe_intermediate_size : 0);
    int ds = m->arch == RK_HF_ARCH_DEEPSEEK2;
    int bad = grow((void **)&a->x, N * D * F) || grow((void **)&a->xn, N * D * F) || grow((void **)&a->tmp, N * D * F) ||
              grow((void **)&a->q, N * (size_t)(m->hq * m->dq) * F) ||
              grow((void **)&a->att, N * (size_t)(m->hq * m->dv) * F) ||
              grow((void **)&a->hg, N * (size_t)m->ffn_max * F) || grow((void **)&a->hu, N * (size_t)m->ffn_max * F) ||
              grow((void **)&a->pos, N * sizeof *a->pos);
    if (!bad && ds) {
        size_t kvl = (size_t)c->kv_lora_rank, dr = (size_t)c->qk_rope_head_dim;
        bad = grow((void **)&a->qa, 2 * N * (size_t)(c->q_lora_rank > 0 ? c->q_lora_rank : 1) * F) ||
              grow((void **)&a->kva, N * (kvl + dr) * F) || grow((void **)&a->lat, N * kvl * F) ||
              grow((void **)&a->kvb, N * (size_t)(m->hq * (c->qk_nope_head_dim + c->v_head_dim)) * F) ||
              grow((void **)&a->hs, N * (size_t)(c->qk_nope_head_dim > c->v_head_dim ? c->qk_nope_head_dim : c->v_head_dim) * F);
        if (!bad && E)
            bad = grow((void **)&a->rlog, N * E * F) || grow((void **)&a->rsel, N * E * F) ||
                  grow((void **)&a->sel, N * K * sizeof *a->sel) || grow((void **)&a->selw, N * K * F) ||
                  grow((void **)&a->perm, 2 * N * K * sizeof *a->perm) ||
                  grow((void **)&a->eoff, (E + 1) * sizeof *a->eoff) || grow((void **)&a->active, E * sizeof *a->active) || grow((void **)&a->xg, N * K * D * F) ||
                  grow((void **)&a->ys, N * K * D * F) || grow((void **)&a->eg, N * K * I * F) ||
                  grow((void **)&a->eu, N * K * I * F);
    } else if (!bad) {
        bad = grow((void **)&a->k, N * (size_t)(m->hk * m->dk) * F) || grow((void **)&a->v, N * (size_t)(m->hk * m->dv) * F);
    }
    if (bad) return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory for activations of %lld tokens", (long long)n);
    a->cap = n;
    return 0;
}

void rk__observe(rk_model *m, const rk_lin *l, int64_t layer, int64_t expert, const float *x, int64_t n) {
    if (m->obs && n > 0) m->obs(m->obs_ctx, l->name, layer, expert, x, n, l->w.cols);
}

void rk__linear(rk_model *m, float *y, const float *x, const rk_lin *l, int64_t n, int64_t layer) {
    rk__observe(m, l, layer, -1, x, n);
    rk_matmul(y, x, &l->w, l->bias, n);
}

/* gate/up/down MLP: out[n, hidden] = down(silu(gate x) * up x) */
void rk__mlp(rk_model *m, const rk_lin *g, const rk_lin *u, const rk_lin *d, int64_t width, float *out,
             const float *x, int64_t n, int64_t layer) {
    rk_acts *a = &m->a;
    rk__linear(m, a->hg, x, g, n, layer);
    rk__linear(m, a->hu, x, u, n, layer);
    rk_swiglu(a->hg, a->hg, a->hu, n * width);
    rk__linear(m, out, a->hg, d, n, layer);
}

/* ---- forward ----------------------------------------------------------------------------------------------------- */
static int forward_chunk(rk_model *m, rk_kvcache *kv, const int32_t *tok, int64_t n, float *logits, int last_only) {
    rk_acts *a = &m->a;
    int64_t D = m->hidden, p0 = kv->len;
    for (int64_t t = 0; t < n; t++) {
        rk_wview_row(&m->embed, tok[t], a->x + t * D);
        a->pos[t] = p0 + t;
    }
    for (int64_t il = 0; il < m->n_layers; il++) {
        rk_layer *L = &m->layers[il];
        rk_rmsnorm(a->xn, NULL, a->x, L->attn_norm, n, D, m->eps);
        if (m->arch == RK_HF_ARCH_DEEPSEEK2) rk__deepseek_attention(m, kv, il, n, p0);
        else rk__dense_attention(m, kv, il, n, p0);
        for (int64_t i = 0; i < n * D; i++) a->x[i] += a->tmp[i];
        rk_rmsnorm(a->xn, NULL, a->x, L->ffn_norm, n, D, m->eps);
        if (m->arch == RK_HF_ARCH_DEEPSEEK2) rk__deepseek_ffn(m, il, n);
        else rk__mlp(m, &L->gate, &L->up, &L->down, m->cfg.intermediate_size, a->tmp, a->xn, n, il);
        for (int64_t i = 0; i < n * D; i++) a->x[i] += a->tmp[i];
    }
    kv->len = p0 + n;
    if (!logits) return 0;
    if (last_only) {
        rk_rmsnorm(a->xn, NULL, a->x + (n - 1) * D, m->final_norm, 1, D, m->eps);
        rk__linear(m, logits, a->xn, &m->head, 1, -1);
    } else {
        rk_rmsnorm(a->xn, NULL, a->x, m->final_norm, n, D, m->eps);
        rk__linear(m, logits, a->xn, &m->head, n, -1);
    }
    return 0;
}

static int forward(rk_model *m, rk_kvcache *kv, const int32_t *tokens, int64_t n, float *logits, int last_only,
                   rk_err *err) {
    if (!m || !kv || (!tokens && n)) return rk_err_set(err, RK_EINVAL, UINT64_MAX, "forward: NULL argument");
    if (kv->m != m) return rk_err_set(err, RK_EINVAL, UINT64_MAX, "forward: the KV cache belongs to another model");
    if (n <= 0) return rk_err_set(err, RK_EINVAL, UINT64_MAX, "forward: %lld tokens (need at least 1)", (long long)n);
    if (n > kv->cap - kv->len)
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "forward: %lld tokens do not fit the KV cache (%lld of %lld used)",
                          (long long)n, (long long)kv->len, (long long)kv->cap);
    for (int64_t t = 0; t < n; t++)
        if (tokens[t] < 0 || tokens[t] >= m->vocab)
            return rk_err_set(err, RK_EINVAL, UINT64_MAX, "forward: token %lld is id %d, outside the vocabulary [0, %lld)",
                              (long long)t, tokens[t], (long long)m->vocab);
    int rc = ensure_rope(m, kv->cap, err);
    if (rc) return rc;
    if ((rc = rk__acts_reserve(m, n < RK_CHUNK ? n : RK_CHUNK, err))) return rc;
    for (int64_t t0 = 0; t0 < n; t0 += RK_CHUNK) {
        int64_t c = n - t0 < RK_CHUNK ? n - t0 : RK_CHUNK;
        int last = t0 + c == n;
        float *lg = NULL;
        if (logits && !last_only) lg = logits + t0 * m->vocab;
        else if (logits && last) lg = logits;
        forward_chunk(m, kv, tokens + t0, c, lg, last_only);
    }
    return 0;
}

int rk_model_forward(rk_model *m, rk_kvcache *kv, const int32_t *tokens, int64_t n, float *logits, rk_err *err) {
    return forward(m, kv, tokens, n, logits, 0, err);
}

int rk_model_forward_last(rk_model *m, rk_kvcache *kv, const int32_t *tokens, int64_t n, float *logits, rk_err *err) {
    return forward(m, kv, tokens, n, logits, 1, err);
}
