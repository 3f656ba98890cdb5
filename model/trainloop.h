/* model/trainloop.h — the training loop shared by `r1kit train` (and later distillation): AdamW with warmup +
 * cosine schedule, global gradient clipping, gradient accumulation, DeepSeek-V3's auxiliary-loss-free expert
 * balancing (bias update every optimizer step) plus the optional sequence-wise balance loss, held-out evaluation,
 * and atomic checkpoints from which --resume continues bit-identically.
 *
 * One optimizer step: draw `accum` micro-batches of B windows of T+1 tokens (rk_data_batch with the loop's rng),
 * forward/backward each with ce_scale = 1/(all counted targets of the step) and aux_scale = aux_alpha/accum, clip
 * the global gradient norm to clip (if > 0), lr = rk_lr_schedule(step), AdamW on every trainable tensor (weight
 * decay on matrices and embeddings only), then e_score_correction_bias += gamma·sign(mean − load).
 *
 * Checkpoints: <out>/checkpoints/ckpt-<step>/ holds model.safetensors + config.json (F32, exact), optimizer.
 * safetensors (AdamW m and v) and state.json (step, rng state, the options that must not change, cumulative
 * expert loads). It is written into a temporary folder and renamed; then <out>/checkpoints/latest (one line, the
 * folder name) is replaced atomically; older checkpoints are removed after that. A kill -9 at any moment leaves
 * either the previous or the new checkpoint usable. Resume refuses a checkpoint whose options differ.
 *
 * State is fully determined by (parameters, m, v, step, rng): with the same thread count a resumed run produces
 * bit-identical weights to an uninterrupted one. Evaluation does not touch any of it. */
#ifndef RK_MODEL_TRAINLOOP_H
#define RK_MODEL_TRAINLOOP_H
#include <stdint.h>
#include <stdio.h>
#include "formats/common.h"
#include "model/train.h"
#include "model/data.h"

/* Hooks that make the loop train on something other than cross-entropy on the data (distillation). Each may be
 * NULL (the plain behaviour). They must be deterministic given their arguments, so that --resume stays
 * bit-identical. */
typedef struct rk_loop_terms {
    double loss_sum;          /* Σ over the micro-batch's counted rows of the row's total loss */
    double ce_sum, kd_sum;    /* its cross-entropy and distillation parts (kd_sum 0 when there is none) */
    int64_t rows;             /* counted rows */
} rk_loop_terms;
typedef struct rk_loop_figure { const char *name; double value; } rk_loop_figure;
typedef struct rk_loop_hooks {
    void *user;
    /* Micro-batch `micro` of optimizer step `step` (0-based) into inputs/targets [B·T], in place of rk_data_batch;
     * randomness only from rng (it is checkpointed). */
    int (*batch)(void *user, rk_train *t, rk_rng *rng, int64_t step, int64_t micro, int64_t B, int64_t T,
                 int32_t *inputs, int32_t *targets, rk_err *err);
    /* Forward + backward of one micro-batch (e.g. through rk_train_step_fn) in place of rk_train_step; scale is
     * 1/(counted targets of the whole step), as ce_scale; terms are added to (not reset). */
    int (*step)(void *user, rk_train *t, const int32_t *inputs, const int32_t *targets, int64_t B, int64_t T,
                float scale, float aux_scale, rk_loop_terms *terms, rk_train_result *res, rk_err *err);
    /* The held-out evaluation in place of rk_loop_eval (same windows and batching: *mean_ce, *n as it gives them),
     * plus up to 8 more figures (name, value) for the JSON log and the progress line — so that a hook that needs
     * the student's held-out logits anyway (distillation's KLD) does not run the student twice. */
    int (*eval)(void *user, rk_train *t, int64_t step, double *mean_ce, int64_t *n, rk_loop_figure *figs, int *n_figs,
                rk_err *err);
    /* A JSON object (text) of the settings a resume must not change; stored in checkpoints under "hooks". */
    const char *options;
} rk_loop_hooks;

typedef struct rk_loop_opts {
    int64_t steps;            /* optimizer steps in total */
    int64_t batch, seq, accum;
    double lr, lr_min;        /* peak and final learning rate */
    int64_t warmup;
    double beta1, beta2, eps, weight_decay, clip;
    double gamma;             /* bias update speed (0: off) */
    double aux_alpha;         /* sequence-wise balance loss weight (0: off) */
    uint64_t seed;            /* batch sampling */
    int32_t first_token;      /* recorded in checkpoints: the data's window-start token (-1 none), so that a
                                 resume with other data settings is refused */
    int64_t eval_every;       /* steps between held-out evaluations (0: only at the end) */
    int64_t eval_windows;     /* held-out windows per evaluation (0: all) */
    int64_t ckpt_every;       /* steps between checkpoints (0: only at the end) */
    int64_t stop_after;       /* stop (with a checkpoint) after this many steps of this run (0: no) — tests */
    const char *out_dir;      /* checkpoints go to out_dir/checkpoints */
    int resume;               /* continue from out_dir/checkpoints/latest */
    int progress;             /* 1: a progress line on stderr (TTY); 0: none */
    FILE *json;               /* JSON log lines (one object per log/eval event), or NULL */
    int64_t log_every;        /* steps between JSON log lines (0: 10) */
    const rk_loop_hooks *hooks;   /* NULL: cross-entropy training on rk_data_batch windows */
} rk_loop_opts;

void rk_loop_defaults(rk_loop_opts *o);

typedef struct rk_loop_result {
    int64_t steps_done;       /* optimizer steps completed overall */
    double train_loss;        /* mean loss of the last step (CE, or the hooks' total) */
    double train_kd;          /* mean distillation part of the last step (0 without hooks) */
    double eval_loss;         /* last held-out mean CE (NAN if never evaluated) */
    int64_t eval_tokens;
    double tokens_per_s;      /* training tokens / s over this run */
    double seconds;
} rk_loop_result;

/* Runs (or resumes) training of t on d. Errors: RK_EINVAL (options, a checkpoint made with other options),
 * RK_EIO, RK_ECORRUPT (a damaged checkpoint), RK_ENOMEM, RK_EINTR (SIGINT/SIGTERM: stops after the current step
 * and writes a checkpoint first). */
int rk_loop_run(rk_train *t, const rk_data *d, const rk_loop_opts *o, rk_loop_result *res, rk_err *err);

/* Mean held-out CE over at most max_windows windows of T tokens (batched by B); NAN and n = 0 when the held-out
 * part is empty. */
int rk_loop_eval(rk_train *t, const rk_data *d, int64_t B, int64_t T, int64_t max_windows, double *mean_ce, int64_t *n,
                 rk_err *err);
/* The same, and after each batch of b windows each(user, inputs, targets [b·T], b, T, logits [b·T, vocab], err) sees
 * the student's logits (a non-zero return stops the evaluation and is returned). */
typedef int (*rk_loop_eval_fn)(void *user, const int32_t *inputs, const int32_t *targets, int64_t b, int64_t T,
                               const float *logits, rk_err *err);
int rk_loop_eval_each(rk_train *t, const rk_data *d, int64_t B, int64_t T, int64_t max_windows, rk_loop_eval_fn each,
                      void *user, double *mean_ce, int64_t *n, rk_err *err);
#endif
