/* distill/distill.h — knowledge distillation of a student (model/train.h) from a teacher the inference engine runs
 * (model/model.h: the FP8 original, a quantized GGUF, anything rk_model_load takes), as hooks of the training loop
 * (model/trainloop.h), so that checkpoints, --resume, clipping, schedule and logging are the loop's.
 *
 * Data: the training text's fixed grid of windows (rk_data_train_window: T+1 tokens at stride T), drawn uniformly
 * with the loop's rng, B per micro-batch — the same windows in the same order for every run with the same seed, so
 * a distilled student and its cross-entropy-only twin (alpha = 1) see exactly the same tokens, and a teacher cache
 * (distill/teacher_cache.h) can be indexed by window.
 *
 * Loss of a micro-batch (N = B·T rows, every row counted):
 *   Σ_rows [ alpha · CE(student, data target) + (1 − alpha) · KD_row ] / (rows of the step)
 * with KD_row the divergence of distill/kd_loss.h (forward KL, reverse KL or generalized JSD, temperature T, the T²
 * factor included) between the teacher's and the student's next-token distributions. The teacher is run live on
 * the same input window (rk_model_forward from an empty cache), or read from a teacher cache (top-k + rest:
 * rk_kd_loss_sparse). Vocabularies: the student's vocab_size must be at least the tokenizer's; teacher rows are
 * compared over the student's width (teacher entries past its own vocab are −inf, i.e. not part of the KD support).
 *
 * On-policy mixing (GKD, Agarwal et al. 2024): each micro-batch is, with probability on_policy (a draw of the
 * loop's rng), made of the data window's first `prefix` tokens followed by a continuation sampled from the current
 * student (temperature 1, the full distribution; a seed drawn from the loop's rng); the teacher scores it and the
 * loss of that micro-batch is the divergence alone (the CE weight is 0 on sampled text). The sampler is the
 * inference engine running a snapshot of the student (F32, written to sampler_dir at each step that needs it).
 *
 * Held-out evaluation: the loop's held-out CE (rk_loop_eval_each), and from the same student forward, when a live
 * teacher is present, mean KL(teacher || student) at T = 1, top-1 agreement (student argmax == teacher argmax) and
 * the teacher's perplexity. */
#ifndef RK_DISTILL_DISTILL_H
#define RK_DISTILL_DISTILL_H
#include <stdint.h>
#include "formats/common.h"
#include "distill/kd_loss.h"
#include "model/data.h"
#include "model/model.h"
#include "model/tokenizer.h"
#include "model/trainloop.h"

struct rk_tcache;

typedef struct rk_distill_opts {
    double alpha;             /* weight of cross-entropy on the data, in [0, 1] (1: no teacher needed) */
    rk_kd_cfg kd;             /* divergence, temperature, beta */
    double on_policy;         /* fraction of micro-batches continued by the student, in [0, 1] */
    int64_t prefix;           /* on-policy: data tokens kept (0: T/2) */
    const char *sampler_dir;  /* on-policy: folder for the student snapshot (created; required when on_policy > 0) */
    int64_t batch, seq;       /* B, T: as the loop's */
    int64_t eval_windows;     /* held-out windows per evaluation (0: all), as the loop's */
    const char *teacher_id;   /* recorded in checkpoints (a resume with another teacher is refused); may be NULL */
} rk_distill_opts;

typedef struct rk_distill rk_distill;

/* teacher: live teacher (may be NULL when alpha == 1 or a cache is given; required for on_policy > 0); cache: a
 * teacher cache made on the same data grid (T equal; its windows' tokens are checked against the data's as they
 * are read); student_vocab: the student's vocab_size. Borrowed, not owned. Errors: RK_EINVAL naming the problem. */
int rk_distill_new(rk_distill **out, rk_model *teacher, struct rk_tcache *cache, const rk_data *d, int64_t student_vocab,
                   const rk_distill_opts *o, rk_err *err);
void rk_distill_free(rk_distill *x);   /* NULL ok */
/* The loop hooks (user = x); valid while x lives. */
const rk_loop_hooks *rk_distill_hooks(rk_distill *x);

/* The figures of the last held-out evaluation (kld, top1, teacher_ppl); 0 if none yet. */
int rk_distill_last_eval(const rk_distill *x, rk_loop_figure *figs, int *n_figs);

/* Sequence-level distillation (R1's recipe for its Distill students): for every non-empty line of prompts_path (a
 * prompt, "\n" escapes allowed as two characters), the teacher continues it — tok's BOS rule, temperature + top-p
 * sampling seeded with seed + line number, stopping at EOS or max_tokens — and out_path gets prompt + completion
 * per sample, samples separated by an empty line (written atomically). Counts are returned. */
typedef struct rk_distill_gen_opts { int64_t max_tokens; float temperature, top_p; uint64_t seed; } rk_distill_gen_opts;
int rk_distill_generate(rk_model *teacher, const rk_tokenizer *tok, const char *prompts_path, const char *out_path,
                        const rk_distill_gen_opts *o, int64_t *n_samples, int64_t *n_tokens, rk_err *err);

/* The teacher cache (distill/teacher_cache.h) of every window of d's training grid at T: top-k log-probs + rest.
 * tok gives the fingerprint stored in it; progress (may be NULL) after each window. */
int rk_distill_save_teacher(rk_model *teacher, const rk_tokenizer *tok, const rk_data *d, int64_t T, int64_t k,
                            int32_t first_token, const char *path, void (*progress)(void *, int64_t, int64_t),
                            void *user, rk_err *err);

/* Teacher forward over one window of T tokens from position 0 into logits [T, width] (width >= teacher vocab:
 * padded with −inf; width < teacher vocab: truncated). kv must hold T positions. */
int rk_distill_teacher_logits(rk_model *teacher, struct rk_kvcache *kv, const int32_t *in, int64_t T, float *logits,
                              int64_t width, rk_err *err);

/* A student config.json text for a preset shaped like the R1-Distill students, scaled to the teacher: "qwen2-small"
 * / "llama-small" (hidden = teacher hidden / 2, about 1/4 of the teacher's active parameters on the built-in teacher)
 * and "qwen2-tiny" / "llama-tiny" (hidden / 4, about 1/10). qwen2: GQA, q/k/v biases, tied embeddings (as
 * R1-Distill-Qwen-1.5B); llama: GQA, llama3 rope scaling, untied (as R1-Distill-Llama-8B). vocab_size, bos/eos and
 * max_position_embeddings come from the teacher. Returns malloc'd text, or NULL with err set (unknown name: RK_EINVAL
 * listing the presets). */
char *rk_distill_preset_config(const char *name, const rk_hf_config *teacher, rk_err *err);
extern const char *const rk_distill_presets[];   /* NULL-terminated */
/* Weights multiplied per token, from a config (as rk_train_active_params: the output head counted, the embedding
 * not; MoE layers: shared + top-k routed experts + router). For comparing a student with its teacher. */
int64_t rk_distill_active_params(const rk_hf_config *c);
#endif
