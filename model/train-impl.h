/* model/train-impl.h — internals of the training engine (train.c: parameters, init, load, save; train_fwd.c:
 * forward/backward driver, dense attention and MLP; train_ds.c: MLA and MoE). Not a public header. */
#ifndef RK_MODEL_TRAIN_IMPL_H
#define RK_MODEL_TRAIN_IMPL_H
#include "model/train.h"
#include "model/kernels.h"

/* index of a tensor in rk_train.p (-1: absent) */
typedef struct rk_tlayer {
    int attn_norm, ffn_norm;
    int q, k, v, o, qb, kb, vb, ob;           /* dense attention (+ biases); q also DeepSeek's plain q_proj */
    int q_a, q_a_norm, q_b, kv_a, kv_a_norm, kv_b;   /* MLA */
    int moe;
    int gate, up, down;                       /* dense MLP */
    int router, score_bias;                   /* MoE */
    int *eg, *eu, *ed;                        /* [E] routed experts */
    int sg, su, sd;                           /* shared experts */
    uint64_t *load, *load_total;              /* [E] selections since the last bias update / overall */
} rk_tlayer;

/* saved activations of one layer for a batch of N = B·T tokens */
typedef struct rk_tacts {
    float *x;                 /* [N, D] layer input (residual stream) */
    float *xn1, *rstd1;       /* attention norm out, 1/rms */
    float *q, *k, *v;         /* dense: after RoPE; MLA: q [N,H,dq] after rope, k [N,H,dq], v [N,H,dv] */
    float *qa, *qan, *rstd_qa;        /* MLA q_lora path */
    float *kva, *lat_in, *lat, *rstd_kv;  /* MLA: kv_a out [N, kvl+dr] (k_pe roped in place), latent pre/post norm */
    float *kvb;               /* MLA: [N, H*(dn+dv)] */
    float *att;               /* probabilities [B][Hq][T][T] */
    float *ao;                /* attention output [N, Hq*dv] */
    float *xm;                /* residual after attention */
    float *xn2, *rstd2;       /* FFN norm */
    float *hg, *hu, *h;       /* dense / shared MLP: gate, up pre-activation, swiglu out [N, F] */
    /* MoE */
    float *s;                 /* router scores [N, E] (sigmoid/softmax) */
    int32_t *sel;             /* [N, K] */
    float *selw;              /* [N, K] gate weights */
    float *sden;              /* [N] Σ of chosen s (normalisation denominator) */
    int32_t *perm;            /* [N·K] slots grouped by expert; then [N·K] slot -> row */
    int64_t *eoff;            /* [E+1] */
    float *xg;                /* [N·K, D] gathered inputs */
    float *eg, *eu, *eh;      /* [N·K, I] */
    float *ye;                /* [N·K, D] expert outputs */
} rk_tacts;

struct rk_train {
    rk_hf_config cfg;
    char *config_text;        /* config.json as read */
    int v2;
    int64_t vocab, D, L, Hq, Hk, hdq, hdk, hdv;   /* head widths: query/key, key, value */
    int64_t n_tensors, cap_tensors;
    rk_tparam *p;
    char **names;
    float *w, *g;             /* flat trainable params / grads */
    int64_t n_w;
    float *bufs;              /* non-trainable buffers (score biases) */
    int embed, head, final_norm;
    rk_tlayer *layers;
    rk_rope_params rope_params;
    rk_rope_table rope;
    int64_t rot_dim;
    int interleaved;
    float attn_scale, eps;
    /* activations for capacity cap_n tokens, cap_b sequences */
    int64_t cap_n, cap_t;
    rk_tacts *acts;           /* [L] */
    float *xf, *xfn, *rstdf;  /* final residual, final norm out */
    float *logits;            /* [N, vocab] (then dlogits) */
    int64_t *pos;
    /* backward scratch */
    float *dx, *dxn, *dtmp;   /* [N, D] */
    float *dq, *dk, *dv, *dao;
    float *dqa, *dkva, *dlat, *dkvb;
    float *dhg, *dhu, *dh;
    float *ds;                /* [N, E] */
    float *dxg, *dye, *deg, *deu, *deh;
    float *scratch;           /* misc [N, max] */
};

/* train.c */
/* f32 view of tensor i as a linear weight */
static inline rk_wview rk__tview(const rk_train *t, int i) {
    rk_wview v = { RK_DTYPE_F32, t->p[i].w, t->p[i].shape[0], t->p[i].shape[1], NULL, 0 };
    return v;
}
int rk__train_reserve(rk_train *t, int64_t B, int64_t T, rk_err *err);

/* train_fwd.c */
int rk__train_forward(rk_train *t, const int32_t *in, int64_t B, int64_t T, int saving, rk_err *err);

/* train_ds.c */
void rk__mla_forward(rk_train *t, int64_t il, int64_t B, int64_t T);
void rk__mla_backward(rk_train *t, int64_t il, int64_t B, int64_t T);   /* d(attention out) in t->dtmp; adds to t->dxn */
void rk__moe_forward(rk_train *t, int64_t il, int64_t N, float *out, int count);
void rk__moe_backward(rk_train *t, int64_t il, int64_t B, int64_t T, float aux_scale);  /* dy in t->dx; adds to t->dxn */
double rk__moe_aux(const rk_train *t, int64_t il, int64_t B, int64_t T);
#endif
