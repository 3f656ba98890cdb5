/* bench/kd_truncation.c — the bias that keeping only the teacher's top-k log-probabilities (+ one "rest" bucket,
 * as `r1kit distill --save-teacher/--teacher-cache` does, distill/teacher_cache.h) introduces into the
 * distillation loss and its gradient (numbers in docs/distill-truncation.md).
 *
 *   rk_kd_truncation TEACHER STUDENT TEXT [--seq T] [--windows N] [--k 8,16,32,64,128,256] [--threads N]
 *
 * Both models run over the first N held-out windows of T tokens of TEXT (tokenized with the teacher's tokenizer,
 * each window's first input replaced by the BOS rk_tokenizer_leading_bos gives, as distill does: the windows of
 * rk_data_heldout_window). For each temperature (1, 2), divergence (forward KL, reverse KL, JSD β = 0.5) and k:
 *   full     rk_kd_loss_backward on the full teacher row (the reference);
 *   bucket   rk_kd_loss_sparse_backward on the top-k (ids ascending, log-probs from a double log-softmax, stored
 *            as f32) + log_rest (log of the rest mass, from the full row in double) — what the cache gives;
 *   renorm   rk_kd_loss_backward on the teacher's f32 log-probs with −inf outside the top-k (student and teacher
 *            renormalised over the top-k ids);
 *   tempered (T ≠ 1 only) the bucket loss with the rest given its exact tempered mass, log_rest' =
 *            T·log Σ_rest p_i^(1/T): not available from a cache (it keeps log_rest at T = 1), printed to separate
 *            the T ≠ 1 approximation of kd_loss.h from the lumping itself.
 * Reported: the relative bias of the mean loss against full, and for the gradient w.r.t. the student logits (all
 * rows of all windows concatenated) its cosine with the full one and the relative L2 error ‖g − g_full‖/‖g_full‖;
 * plus the teacher's mean rest mass at that k: at T = 1 Σ_rest p_i; at T = 2 the rest's exact share of the tempered
 * teacher, Σ_rest p_i^½ / Σ p_i^½, and in parentheses the share the bucket gives it, P_rest^½ / (Σ_kept p_i^½ +
 * P_rest^½). A Markdown table on stdout, progress on stderr.
 *
 * The top-k selection sorts the whole row once (higher logit first, ties to the lower id: the order of rk_top_k,
 * which the cache writer uses), since every k of the table is then a prefix of one ranking.
 * Exit: 0 ok, 2 usage, 3 a model/tokenizer/text that does not load or vocabularies that differ, 1 a NaN loss. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "distill/kd_loss.h"
#include "formats/common.h"
#include "model/data.h"
#include "model/model.h"
#include "model/tokenizer.h"

#define MAX_K 32
#define N_TEMP 2
#define N_KIND 3
#define N_VAR 3   /* bucket, renorm, tempered */

static const double g_temp[N_TEMP] = {1.0, 2.0};
static const char *const g_kind_name[N_KIND] = {"forward KL", "reverse KL", "JSD β=0.5"};

typedef struct acc {      /* one (T, kind, k, variant), summed over windows */
    double loss;          /* Σ window losses */
    double dot, sq, err;  /* Σ g·g_full, Σ g², Σ (g − g_full)² */
} acc;

typedef struct acc_full { double loss, sq; } acc_full;

static void usage(FILE *f) {
    fprintf(f, "usage: rk_kd_truncation TEACHER STUDENT TEXT [--seq T] [--windows N] [--k 8,16,32,64,128,256] "
                    "[--threads N]\n");
}

static int parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out) {
    char *end;
    errno = 0;
    const long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static int parse_ks(const char *s, int64_t *ks, int *nk) {
    char buf[512];
    if (strlen(s) >= sizeof buf) return -1;
    strcpy(buf, s);
    *nk = 0;
    for (char *save = NULL, *p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        if (*nk == MAX_K || parse_i64(p, 1, INT32_MAX, &ks[*nk])) return -1;
        (*nk)++;
    }
    return *nk ? 0 : -1;
}

/* rank order of one row: higher logit first, ties to the lower id (teacher_cache.c's `better`) */
static const float *g_row;
static int by_rank(const void *a, const void *b) {
    const int32_t i = *(const int32_t *)a, j = *(const int32_t *)b;
    if (g_row[i] != g_row[j]) return g_row[i] > g_row[j] ? -1 : 1;
    return (i > j) - (i < j);
}
static int by_id(const void *a, const void *b) {
    const int32_t i = *(const int32_t *)a, j = *(const int32_t *)b;
    return (i > j) - (i < j);
}

typedef struct topk_set {    /* the teacher at one k over one window's T rows */
    int64_t k;
    int32_t *ids;         /* [T, k] ascending */
    float *logp;          /* [T, k] */
    float *log_rest;      /* [T] */
    float *log_rest_t2;   /* [T] exact tempered rest for temperature 2 (see the top) */
    double rest_mass;     /* Σ over rows of the rest mass (double) */
    double rest_t2[2];    /* Σ over rows of the rest's share of the teacher at temperature 2: exact, as a bucket */
} topk_set;

/* One teacher row (logits t[V]): f32 log-probs into lp[V], rank order into ord[V], and for each k its top-k +
 * log_rest in row r of every tr[]. Sums in double, relative to the row max (a tail under e^-745 of the max is 0). */
static void teacher_row(const float *t, int64_t V, int64_t r, float *lp, int32_t *ord, double *suf1, double *suf2,
                        topk_set *tr, int nk) {
    double m = -INFINITY;
    for (int64_t i = 0; i < V; i++) if (t[i] > m) m = t[i];
    double s = 0.0;
    for (int64_t i = 0; i < V; i++) s += exp((double)t[i] - m);
    const double lse = m + log(s);
    for (int64_t i = 0; i < V; i++) lp[i] = (float)((double)t[i] - lse), ord[i] = (int32_t)i;
    g_row = t;
    qsort(ord, (size_t)V, sizeof *ord, by_rank);
    /* suffix sums over the rank order, smallest first: Σ_{rank >= j} p_i and Σ p_i^(1/2) (relative to the max) */
    suf1[V] = suf2[V] = 0.0;
    for (int64_t j = V - 1; j >= 0; j--) {
        const double d = (double)t[ord[j]] - m;
        suf1[j] = suf1[j + 1] + exp(d);
        suf2[j] = suf2[j + 1] + exp(d / 2.0);
    }
    for (int c = 0; c < nk; c++) {
        const int64_t k = tr[c].k;
        int32_t *ids = tr[c].ids + r * k;
        memcpy(ids, ord, (size_t)k * sizeof *ids);
        qsort(ids, (size_t)k, sizeof *ids, by_id);
        for (int64_t j = 0; j < k; j++) tr[c].logp[r * k + j] = lp[ids[j]];
        if (k < V && suf1[k] > 0.0) {
            const double lr = m + log(suf1[k]) - lse;
            tr[c].log_rest[r] = (float)lr;
            tr[c].rest_mass += exp(lr);
            /* T·log Σ_rest p_i^(1/T) at T = 2, p_i = exp(t_i − lse) */
            tr[c].log_rest_t2[r] = (float)(2.0 * (log(suf2[k]) + (m - lse) / 2.0));
            tr[c].rest_t2[0] += suf2[k] / suf2[0];
            tr[c].rest_t2[1] += sqrt(suf1[k]) / (suf2[0] - suf2[k] + sqrt(suf1[k]));
        } else {
            tr[c].log_rest[r] = tr[c].log_rest_t2[r] = -INFINITY;
        }
    }
}

static void grad_cmp(const float *g, const float *gf, int64_t n, acc *a) {
    double dot = 0.0, sq = 0.0, err = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const double x = g[i], y = gf[i];
        dot += x * y, sq += x * x, err += (x - y) * (x - y);
    }
    a->dot += dot, a->sq += sq, a->err += err;
}

static double pct(double v, double ref) { return 100.0 * (v - ref) / ref; }

int main(int argc, char **argv) {
    int64_t T = 128, N = 32, threads = 1, ks[MAX_K] = {8, 16, 32, 64, 128, 256};
    int nk = 6;
    static const struct option lo[] = {
        {"seq", required_argument, 0, 's'}, {"windows", required_argument, 0, 'n'},
        {"k", required_argument, 0, 'k'},   {"threads", required_argument, 0, 't'},
        {"help", no_argument, 0, 'h'},      {0, 0, 0, 0}};
    int li = 0;
    for (int c; (c = getopt_long(argc, argv, "h", lo, &li)) != -1;) {
        int bad = 0;
        switch (c) {
        case 's': bad = parse_i64(optarg, 1, 1 << 20, &T); break;
        case 'n': bad = parse_i64(optarg, 1, 1 << 20, &N); break;
        case 't': bad = parse_i64(optarg, 1, 1024, &threads); break;
        case 'k': bad = parse_ks(optarg, ks, &nk); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
        if (bad) { fprintf(stderr, "rk_kd_truncation: bad value for --%s: '%s'\n", lo[li].name, optarg); usage(stderr); return 2; }
    }
    if (argc - optind != 3) { usage(stderr); return 2; }
    const char *tpath = argv[optind], *spath = argv[optind + 1], *text = argv[optind + 2];
    omp_set_num_threads((int)threads);

    int rc = 3;
    rk_err err;
    rk_err_clear(&err);
    rk_model *tm = NULL, *sm = NULL;
    rk_kvcache *tkv = NULL, *skv = NULL;
    rk_tokenizer *tok = NULL;
    rk_data *d = NULL;
    int32_t *ids = NULL, *in = NULL, *tg = NULL, *ord = NULL;
    size_t nids = 0;
    float *tl = NULL, *sl = NULL, *lp = NULL, *ren = NULL, *gf = NULL, *gv = NULL;
    double *suf1 = NULL, *suf2 = NULL;
    char *buf = NULL;
    topk_set tr[MAX_K];
    memset(tr, 0, sizeof tr);
    acc *A = NULL;
    acc_full F[N_TEMP][N_KIND];
    memset(F, 0, sizeof F);

    if (rk_model_load(&tm, tpath, &err) || rk_model_load(&sm, spath, &err) || rk_tokenizer_load(&tok, tpath, &err)) goto fail;
    const int64_t V = rk_model_vocab(tm);
    if (rk_model_vocab(sm) != V) {
        rk_err_set(&err, RK_EINVAL, UINT64_MAX, "vocabularies differ: teacher %lld, student %lld", (long long)V,
                   (long long)rk_model_vocab(sm));
        goto fail;
    }
    for (int c = 0; c < nk; c++)
        if (ks[c] > V) { fprintf(stderr, "rk_kd_truncation: --k %lld exceeds the vocabulary (%lld)\n", (long long)ks[c], (long long)V); rc = 2; goto fail; }
    {   /* tokenize TEXT once; held-out windows = the text itself */
        FILE *f = fopen(text, "rb");
        if (!f) { rk_err_file(&err, RK_ENOTFOUND, text, UINT64_MAX, "cannot open: %s", strerror(errno)); goto fail; }
        fseek(f, 0, SEEK_END);
        const long len = ftell(f);
        fseek(f, 0, SEEK_SET);
        buf = malloc((size_t)len + 1);
        const size_t got = buf ? fread(buf, 1, (size_t)len, f) : 0;
        fclose(f);
        if (!buf || got != (size_t)len) { rk_err_file(&err, RK_EIO, text, UINT64_MAX, "read failed"); goto fail; }
        if (rk_tokenizer_encode(tok, buf, (size_t)len, 0, &ids, &nids, &err)) goto fail;
        const int32_t bos = rk_tokenizer_leading_bos(tok);
        rk_data_opts o = {0.0, 0, NULL, bos >= 0, bos};
        if (rk_data_from_tokens(&d, ids, (int64_t)nids, ids, (int64_t)nids, &o, &err)) goto fail;
    }
    const int64_t nw = rk_data_heldout_windows(d, T, N);
    if (nw < N) fprintf(stderr, "rk_kd_truncation: %s holds only %lld windows of %lld tokens\n", text, (long long)nw, (long long)T);
    if (nw < 1) { rc = 2; goto fail; }
    const int64_t TV = T * V;
    if (!(tkv = rk_kvcache_new(tm, T, &err)) || !(skv = rk_kvcache_new(sm, T, &err))) goto fail;
    in = malloc(sizeof *in * (size_t)T), tg = malloc(sizeof *tg * (size_t)T), ord = malloc(sizeof *ord * (size_t)V);
    tl = malloc(sizeof *tl * (size_t)TV), sl = malloc(sizeof *sl * (size_t)TV), lp = malloc(sizeof *lp * (size_t)TV);
    ren = malloc(sizeof *ren * (size_t)TV), gf = malloc(sizeof *gf * (size_t)TV), gv = malloc(sizeof *gv * (size_t)TV);
    suf1 = malloc(sizeof *suf1 * (size_t)(V + 1)), suf2 = malloc(sizeof *suf2 * (size_t)(V + 1));
    A = calloc((size_t)N_TEMP * N_KIND * (size_t)nk * N_VAR, sizeof *A);
    if (!in || !tg || !ord || !tl || !sl || !lp || !ren || !gf || !gv || !suf1 || !suf2 || !A) goto nomem;
    for (int c = 0; c < nk; c++) {
        tr[c].k = ks[c];
        tr[c].ids = malloc(sizeof(int32_t) * (size_t)(T * ks[c]));
        tr[c].logp = malloc(sizeof(float) * (size_t)(T * ks[c]));
        tr[c].log_rest = malloc(sizeof(float) * (size_t)T);
        tr[c].log_rest_t2 = malloc(sizeof(float) * (size_t)T);
        if (!tr[c].ids || !tr[c].logp || !tr[c].log_rest || !tr[c].log_rest_t2) goto nomem;
    }

    rc = 1;
    for (int64_t w = 0; w < nw; w++) {
        rc = 3;
        if (rk_data_heldout_window(d, T, w, in, tg, &err)) goto fail;
        rk_kvcache_clear(tkv), rk_kvcache_clear(skv);
        if (rk_model_forward(tm, tkv, in, T, tl, &err) || rk_model_forward(sm, skv, in, T, sl, &err)) goto fail;
        rc = 1;
        for (int64_t r = 0; r < T; r++) teacher_row(tl + r * V, V, r, lp + r * V, ord, suf1, suf2, tr, nk);
        for (int it = 0; it < N_TEMP; it++)
            for (int ik = 0; ik < N_KIND; ik++) {
                const rk_kd_cfg cfg = {ik, g_temp[it], 0.5};
                memset(gf, 0, sizeof *gf * (size_t)TV);
                const double lf = rk_kd_loss_backward(gf, sl, tl, T, V, &cfg, 1.0f);
                if (lf != lf) { fprintf(stderr, "rk_kd_truncation: window %lld: full loss is NaN\n", (long long)w); goto fail; }
                F[it][ik].loss += lf;
                for (int64_t i = 0; i < TV; i++) F[it][ik].sq += (double)gf[i] * gf[i];
                for (int c = 0; c < nk; c++) {
                    acc *a = A + (((size_t)it * N_KIND + ik) * (size_t)nk + c) * N_VAR;
                    const rk_kd_sparse sp = {tr[c].k, tr[c].ids, tr[c].logp, tr[c].log_rest};
                    for (int v = 0; v < N_VAR; v++) {
                        double l;
                        memset(gv, 0, sizeof *gv * (size_t)TV);
                        if (v == 0) l = rk_kd_loss_sparse_backward(gv, sl, &sp, T, V, &cfg, 1.0f);
                        else if (v == 1) {
                            for (int64_t i = 0; i < TV; i++) ren[i] = -INFINITY;
                            for (int64_t r = 0; r < T; r++)
                                for (int64_t j = 0; j < tr[c].k; j++)
                                    ren[r * V + tr[c].ids[r * tr[c].k + j]] = tr[c].logp[r * tr[c].k + j];
                            l = rk_kd_loss_backward(gv, sl, ren, T, V, &cfg, 1.0f);
                        } else {
                            if (g_temp[it] != 2.0) continue;   /* = bucket at T = 1; computed for T = 2 only */
                            const rk_kd_sparse st = {tr[c].k, tr[c].ids, tr[c].logp, tr[c].log_rest_t2};
                            l = rk_kd_loss_sparse_backward(gv, sl, &st, T, V, &cfg, 1.0f);
                        }
                        if (l != l) {
                            fprintf(stderr, "rk_kd_truncation: window %lld, k %lld, variant %d: loss is NaN\n", (long long)w,
                                    (long long)tr[c].k, v);
                            goto fail;
                        }
                        a[v].loss += l;
                        grad_cmp(gv, gf, TV, &a[v]);
                    }
                }
            }
        fprintf(stderr, "\rwindow %lld/%lld", (long long)w + 1, (long long)nw);
    }
    fprintf(stderr, "\n");

    printf("Teacher %s, student %s, %lld windows × %lld tokens of %s (vocabulary %lld).\n\n", tpath, spath,
           (long long)nw, (long long)T, text, (long long)V);
    printf("| T | loss | k | rest mass | full loss | bucket: loss bias | grad cos | grad rel. err | renorm: loss bias | "
           "grad cos | grad rel. err | exact tempered rest: loss bias | grad rel. err |\n");
    printf("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int it = 0; it < N_TEMP; it++)
        for (int ik = 0; ik < N_KIND; ik++)
            for (int c = 0; c < nk; c++) {
                const acc *a = A + (((size_t)it * N_KIND + ik) * (size_t)nk + c) * N_VAR;
                const double lf = F[it][ik].loss / (double)nw, nf = sqrt(F[it][ik].sq);
                const double nr = (double)(nw * T);
                if (it == 0) printf("| %g | %s | %lld | %.4f | %.5f |", g_temp[it], g_kind_name[ik], (long long)tr[c].k,
                                    tr[c].rest_mass / nr, lf);
                else printf("| %g | %s | %lld | %.4f (%.4f) | %.5f |", g_temp[it], g_kind_name[ik], (long long)tr[c].k,
                            tr[c].rest_t2[0] / nr, tr[c].rest_t2[1] / nr, lf);
                for (int v = 0; v < 2; v++)
                    printf(" %+.2f%% | %.5f | %.2f%% |", pct(a[v].loss / (double)nw, lf), a[v].dot / (sqrt(a[v].sq) * nf),
                           100.0 * sqrt(a[v].err) / nf);
                if (g_temp[it] == 2.0) printf(" %+.2f%% | %.2f%% |\n", pct(a[2].loss / (double)nw, lf), 100.0 * sqrt(a[2].err) / nf);
                else printf(" = bucket | = bucket |\n");
            }
    rc = 0;
    goto done;
nomem:
    rk_err_set(&err, RK_ENOMEM, UINT64_MAX, "out of memory");
fail:
    if (err.msg[0]) fprintf(stderr, "rk_kd_truncation: %s\n", err.msg);
done:
    for (int c = 0; c < nk; c++) free(tr[c].ids), free(tr[c].logp), free(tr[c].log_rest), free(tr[c].log_rest_t2);
    free(A), free(suf1), free(suf2), free(gv), free(gf), free(ren), free(lp), free(sl), free(tl), free(ord), free(tg), free(in);
    free(ids), free(buf);
    rk_data_free(d);
    rk_tokenizer_free(tok);
    rk_kvcache_free(skv), rk_kvcache_free(tkv);
    rk_model_free(sm), rk_model_free(tm);
    return rc;
}
