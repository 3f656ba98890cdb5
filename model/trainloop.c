/* model/trainloop.c — the training loop (see trainloop.h): steps, evaluation, logging, checkpoints, resume. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "model/trainloop.h"
#include "model/optim.h"
#include "formats/safetensors.h"

void rk_loop_defaults(rk_loop_opts *o) {
    memset(o, 0, sizeof *o);
    o->steps = 1000, o->batch = 8, o->seq = 256, o->accum = 1;
    o->lr = 1e-3, o->lr_min = 1e-4, o->warmup = 100;
    o->beta1 = 0.9, o->beta2 = 0.95, o->eps = 1e-8, o->weight_decay = 0.1, o->clip = 1.0;
    o->gamma = 1e-3, o->aux_alpha = 0.0, o->seed = 1, o->first_token = -1;
    o->eval_every = 100, o->eval_windows = 64, o->ckpt_every = 200, o->log_every = 10;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- evaluation ------------------------------------------------------------------------------------------------ */
int rk_loop_eval_each(rk_train *t, const rk_data *d, int64_t B, int64_t T, int64_t max_windows, rk_loop_eval_fn each,
                      void *user, double *mean_ce, int64_t *n, rk_err *err) {
    *mean_ce = NAN, *n = 0;
    const int64_t nw = rk_data_heldout_windows(d, T, max_windows), V = rk_train_config(t)->vocab_size;
    if (nw <= 0) return 0;
    int32_t *in = malloc((size_t)(B * T) * sizeof(int32_t)), *tg = malloc((size_t)(B * T) * sizeof(int32_t));
    float *logits = each ? malloc((size_t)(B * T * V) * sizeof(float)) : NULL;
    if (!in || !tg || (each && !logits)) {
        free(in), free(tg), free(logits);
        return rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
    }
    double sum = 0;
    int64_t cnt = 0;
    int rc = 0;
    for (int64_t w0 = 0; w0 < nw && !rc; w0 += B) {
        const int64_t b = nw - w0 < B ? nw - w0 : B;
        for (int64_t i = 0; i < b && !rc; i++) rc = rk_data_heldout_window(d, T, w0 + i, in + i * T, tg + i * T, err);
        rk_train_result r;
        if (!rc) rc = rk_train_eval(t, in, tg, b, T, logits, &r, err);
        if (!rc) sum += r.ce_sum, cnt += r.n_tokens;
        if (!rc && each) rc = each(user, in, tg, b, T, logits, err);
    }
    free(in), free(tg), free(logits);
    if (rc) return rc;
    *mean_ce = cnt ? sum / (double)cnt : NAN;
    *n = cnt;
    return 0;
}

int rk_loop_eval(rk_train *t, const rk_data *d, int64_t B, int64_t T, int64_t max_windows, double *mean_ce, int64_t *n,
                 rk_err *err) {
    return rk_loop_eval_each(t, d, B, T, max_windows, NULL, NULL, mean_ce, n, err);
}

/* ---- checkpoints ----------------------------------------------------------------------------------------------- */
static char *join(const char *a, const char *b) { return rk_path_join(a, b); }

static int mkdir_p1(const char *p, rk_err *err) {
    if (mkdir(p, 0755) != 0 && errno != EEXIST)
        return rk_err_file(err, RK_EIO, p, UINT64_MAX, "cannot create the folder: %s", strerror(errno));
    return 0;
}

static void rmtree(const char *p) {
    DIR *d = opendir(p);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char *q = join(p, e->d_name);
            if (!q) continue;
            struct stat st;
            if (!lstat(q, &st) && S_ISDIR(st.st_mode)) rmtree(q);
            else unlink(q);
            free(q);
        }
        closedir(d);
    }
    rmdir(p);
}

static void fsync_dir(const char *p) {
    int fd = open(p, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) { fsync(fd); close(fd); }
}

static cJSON *opts_json(const rk_loop_opts *o) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "steps", (double)o->steps);
    cJSON_AddNumberToObject(j, "batch", (double)o->batch);
    cJSON_AddNumberToObject(j, "seq", (double)o->seq);
    cJSON_AddNumberToObject(j, "accum", (double)o->accum);
    cJSON_AddNumberToObject(j, "lr", o->lr);
    cJSON_AddNumberToObject(j, "lr_min", o->lr_min);
    cJSON_AddNumberToObject(j, "warmup", (double)o->warmup);
    cJSON_AddNumberToObject(j, "beta1", o->beta1);
    cJSON_AddNumberToObject(j, "beta2", o->beta2);
    cJSON_AddNumberToObject(j, "eps", o->eps);
    cJSON_AddNumberToObject(j, "weight_decay", o->weight_decay);
    cJSON_AddNumberToObject(j, "clip", o->clip);
    cJSON_AddNumberToObject(j, "gamma", o->gamma);
    cJSON_AddNumberToObject(j, "aux_alpha", o->aux_alpha);
    cJSON_AddNumberToObject(j, "first_token", (double)o->first_token);
    char s[32];
    snprintf(s, sizeof s, "%" PRIu64, o->seed);
    cJSON_AddStringToObject(j, "seed", s);
    if (o->hooks && o->hooks->options) {
        cJSON *h = cJSON_Parse(o->hooks->options);
        if (h) cJSON_AddItemToObject(j, "hooks", h);
        else cJSON_AddStringToObject(j, "hooks", o->hooks->options);
    }
    return j;
}

static int save_ckpt(const rk_train *t, const rk_loop_opts *o, int64_t step, const rk_rng *rng, const float *m,
                     const float *v, int64_t n, rk_err *err) {
    char *cdir = NULL, *tmp = NULL, *fin = NULL, *p = NULL;
    char name[64], tname[80];
    int rc = 0;
    snprintf(name, sizeof name, "ckpt-%08lld", (long long)step);
    snprintf(tname, sizeof tname, ".%s.tmp", name);
    if (!(cdir = join(o->out_dir, "checkpoints")) || !(tmp = join(cdir, tname)) || !(fin = join(cdir, name))) {
        rc = rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory");
        goto done;
    }
    if ((rc = mkdir_p1(o->out_dir, err)) || (rc = mkdir_p1(cdir, err))) goto done;
    rmtree(tmp);
    if ((rc = mkdir_p1(tmp, err))) goto done;
    if ((rc = rk_train_save(t, tmp, RK_DTYPE_F32, err))) goto done;
    {   /* optimizer moments */
        rk_st_writer *w = NULL;
        int64_t shp[1] = { n };
        if (!(rc = rk_st_writer_init(&w, tmp, "optimizer", 0, err)) && !(rc = rk_st_writer_add(w, "adam.m", RK_DTYPE_F32, 1, shp, err)) &&
            !(rc = rk_st_writer_add(w, "adam.v", RK_DTYPE_F32, 1, shp, err)) && !(rc = rk_st_writer_begin(w, err)) &&
            !(rc = rk_st_writer_write(w, m, (size_t)n * 4, err)) && !(rc = rk_st_writer_write(w, v, (size_t)n * 4, err)))
            rc = rk_st_writer_finish(w, err);
        rk_st_writer_free(w);
        if (rc) goto done;
    }
    {   /* state */
        cJSON *j = cJSON_CreateObject();
        cJSON_AddNumberToObject(j, "step", (double)step);
        cJSON *r = cJSON_AddArrayToObject(j, "rng");
        for (int i = 0; i < 4; i++) {
            char s[32];
            snprintf(s, sizeof s, "%016" PRIx64, rng->s[i]);
            cJSON_AddItemToArray(r, cJSON_CreateString(s));
        }
        cJSON_AddNumberToObject(j, "n_params", (double)n);
        cJSON_AddItemToObject(j, "options", opts_json(o));
        cJSON *loads = cJSON_AddObjectToObject(j, "expert_load_totals");
        for (int64_t il = 0; il < rk_train_config(t)->num_hidden_layers; il++) {
            const uint64_t *c;
            int64_t E;
            if (rk_train_load_totals(t, il, &c, &E)) continue;
            char k[32];
            snprintf(k, sizeof k, "%lld", (long long)il);
            cJSON *a = cJSON_AddArrayToObject(loads, k);
            for (int64_t e = 0; e < E; e++) cJSON_AddItemToArray(a, cJSON_CreateNumber((double)c[e]));
        }
        char *txt = cJSON_Print(j);
        cJSON_Delete(j);
        if (!txt || !(p = join(tmp, "state.json"))) { free(txt); rc = rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory"); goto done; }
        rc = rk_write_file_atomic(p, txt, strlen(txt), err);
        free(txt);
        if (rc) goto done;
    }
    fsync_dir(tmp);
    rmtree(fin);
    if (rename(tmp, fin) != 0) {
        rc = rk_err_file(err, RK_EIO, fin, UINT64_MAX, "cannot rename the checkpoint into place: %s", strerror(errno));
        goto done;
    }
    fsync_dir(cdir);
    free(p);
    if (!(p = join(cdir, "latest"))) { rc = rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory"); goto done; }
    {
        char line[80];
        snprintf(line, sizeof line, "%s\n", name);
        if ((rc = rk_write_file_atomic(p, line, strlen(line), err))) goto done;
    }
    /* older checkpoints go once `latest` names the new one */
    DIR *d = opendir(cdir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)))
            if (!strncmp(e->d_name, "ckpt-", 5) && strcmp(e->d_name, name)) {
                char *q = join(cdir, e->d_name);
                if (q) rmtree(q);
                free(q);
            }
        closedir(d);
    }
done:
    if (rc && tmp) rmtree(tmp);
    free(cdir), free(tmp), free(fin), free(p);
    return rc;
}

static int same_opts(const cJSON *a, const cJSON *b, char *which, size_t cap) {
    for (const cJSON *x = a ? a->child : NULL; x; x = x->next) {
        if (!strcmp(x->string, "steps")) continue;   /* a run may be extended */
        const cJSON *y = cJSON_GetObjectItemCaseSensitive(b, x->string);
        if (!y || !cJSON_Compare(x, y, 1)) {
            snprintf(which, cap, "%s", x->string);
            return 0;
        }
    }
    return 1;
}

static int load_ckpt(rk_train **tp, const rk_loop_opts *o, int64_t *step, rk_rng *rng, float *m, float *v, int64_t n,
                     rk_err *err) {
    char *cdir = join(o->out_dir, "checkpoints"), *lp = cdir ? join(cdir, "latest") : NULL, *dir = NULL, *p = NULL;
    char line[128] = {0};
    int rc = 0;
    cJSON *j = NULL, *cur = NULL;
    rk_safetensors *st = NULL;
    rk_train *t = NULL;
    if (!lp) { rc = rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory"); goto done; }
    FILE *f = fopen(lp, "r");
    if (!f) { rc = rk_err_file(err, RK_EIO, lp, UINT64_MAX, "no checkpoint to resume from"); goto done; }
    if (!fgets(line, sizeof line, f)) line[0] = 0;
    fclose(f);
    line[strcspn(line, "\r\n")] = 0;
    if (strncmp(line, "ckpt-", 5) || strchr(line, '/')) { rc = rk_err_file(err, RK_ECORRUPT, lp, UINT64_MAX, "does not name a checkpoint"); goto done; }
    if (!(dir = join(cdir, line)) || !(p = join(dir, "state.json"))) { rc = rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory"); goto done; }
    {
        FILE *g = fopen(p, "rb");
        if (!g) { rc = rk_err_file(err, RK_EIO, p, UINT64_MAX, "cannot open"); goto done; }
        char buf[1 << 16];
        size_t k = fread(buf, 1, sizeof buf - 1, g);
        fclose(g);
        buf[k] = 0;
        j = cJSON_Parse(buf);
    }
    const cJSON *js = j ? cJSON_GetObjectItemCaseSensitive(j, "step") : NULL, *jr = j ? cJSON_GetObjectItemCaseSensitive(j, "rng") : NULL;
    const cJSON *jn = j ? cJSON_GetObjectItemCaseSensitive(j, "n_params") : NULL;
    if (!cJSON_IsNumber(js) || !cJSON_IsArray(jr) || cJSON_GetArraySize(jr) != 4 || !cJSON_IsNumber(jn)) {
        rc = rk_err_file(err, RK_ECORRUPT, p, UINT64_MAX, "malformed checkpoint state");
        goto done;
    }
    if ((int64_t)jn->valuedouble != n) { rc = rk_err_file(err, RK_EINVAL, p, UINT64_MAX, "checkpoint of another model (%lld parameters, this one has %lld)", (long long)jn->valuedouble, (long long)n); goto done; }
    cur = opts_json(o);
    char which[64] = "";
    if (!same_opts(cJSON_GetObjectItemCaseSensitive(j, "options"), cur, which, sizeof which) ||
        !same_opts(cur, cJSON_GetObjectItemCaseSensitive(j, "options"), which, sizeof which)) {
        rc = rk_err_file(err, RK_EINVAL, p, UINT64_MAX, "the checkpoint was made with a different --%s; resume with the same options", which);
        goto done;
    }
    for (int i = 0; i < 4; i++) {
        const cJSON *x = cJSON_GetArrayItem(jr, i);
        if (!cJSON_IsString(x) || sscanf(x->valuestring, "%" SCNx64, &rng->s[i]) != 1) {
            rc = rk_err_file(err, RK_ECORRUPT, p, UINT64_MAX, "malformed rng state");
            goto done;
        }
    }
    *step = (int64_t)js->valuedouble;
    if ((rc = rk_train_load(&t, dir, err))) goto done;
    {
        int64_t nn;
        rk_train_params(t, &nn);
        if (nn != n) { rc = rk_err_file(err, RK_EINVAL, dir, UINT64_MAX, "checkpoint model differs from the configured one"); goto done; }
    }
    free(p);
    if (!(p = join(dir, "optimizer.safetensors"))) { rc = rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory"); goto done; }
    if ((rc = rk_safetensors_open(&st, p, err))) goto done;
    const rk_st_tensor *tm = rk_safetensors_find(st, "adam.m"), *tv = rk_safetensors_find(st, "adam.v");
    if (!tm || !tv || tm->dtype != RK_DTYPE_F32 || tv->dtype != RK_DTYPE_F32 || tm->nbytes != (uint64_t)n * 4 ||
        tv->nbytes != (uint64_t)n * 4) {
        rc = rk_err_file(err, RK_ECORRUPT, p, UINT64_MAX, "optimizer state does not match the model");
        goto done;
    }
    memcpy(m, tm->data, (size_t)n * 4);
    memcpy(v, tv->data, (size_t)n * 4);
    /* cumulative expert loads */
    const cJSON *loads = cJSON_GetObjectItemCaseSensitive(j, "expert_load_totals");
    for (const cJSON *a = loads ? loads->child : NULL; a; a = a->next) {
        const uint64_t *c;
        int64_t E;
        long il = strtol(a->string, NULL, 10);
        if (rk_train_load_totals(t, il, &c, &E) || cJSON_GetArraySize(a) != E) continue;
        uint64_t *w = (uint64_t *)c;
        for (int64_t e = 0; e < E; e++) w[e] = (uint64_t)cJSON_GetArrayItem(a, (int)e)->valuedouble;
    }
done:
    rk_safetensors_close(st);
    cJSON_Delete(j);
    cJSON_Delete(cur);
    free(cdir), free(lp), free(dir), free(p);
    if (rc) { rk_train_free(t); return rc; }
    *tp = t;
    return 0;
}

/* ---- the loop ------------------------------------------------------------------------------------------------ */
static void json_loads(cJSON *j, const rk_train *t) {
    cJSON *l = cJSON_AddObjectToObject(j, "expert_load");
    for (int64_t il = 0; il < rk_train_config(t)->num_hidden_layers; il++) {
        const uint64_t *c;
        int64_t E;
        if (rk_train_load_totals(t, il, &c, &E)) continue;
        char k[32];
        snprintf(k, sizeof k, "%lld", (long long)il);
        cJSON *a = cJSON_AddArrayToObject(l, k);
        for (int64_t e = 0; e < E; e++) cJSON_AddItemToArray(a, cJSON_CreateNumber((double)c[e]));
    }
}

/* one line per MoE layer: the least and most chosen experts' shares of the selections so far */
static void progress_loads(const rk_train *t) {
    for (int64_t il = 0; il < rk_train_config(t)->num_hidden_layers; il++) {
        const uint64_t *c;
        int64_t E;
        if (rk_train_load_totals(t, il, &c, &E)) continue;
        uint64_t tot = 0, lo = UINT64_MAX, hi = 0;
        for (int64_t e = 0; e < E; e++) tot += c[e], lo = c[e] < lo ? c[e] : lo, hi = c[e] > hi ? c[e] : hi;
        if (tot)
            fprintf(stderr, "  layer %lld expert load: min %.2f%%  max %.2f%%  (uniform %.2f%%)\n", (long long)il,
                    100.0 * (double)lo / (double)tot, 100.0 * (double)hi / (double)tot, 100.0 / (double)E);
    }
}

static void emit(FILE *f, cJSON *j) {
    char *s = cJSON_PrintUnformatted(j);
    if (s) { fprintf(f, "%s\n", s); fflush(f); }
    free(s);
    cJSON_Delete(j);
}

static int check_opts(const rk_loop_opts *o, rk_err *err) {
    if (o->steps < 1 || o->batch < 1 || o->seq < 2 || o->accum < 1 || !(o->lr > 0) || o->lr_min < 0 || o->warmup < 0 ||
        !(o->beta1 >= 0 && o->beta1 < 1) || !(o->beta2 >= 0 && o->beta2 < 1) || !(o->eps > 0) || o->weight_decay < 0 ||
        o->clip < 0 || o->gamma < 0 || o->aux_alpha < 0 || !o->out_dir)
        return rk_err_set(err, RK_EINVAL, UINT64_MAX, "invalid training options");
    return 0;
}

int rk_loop_run(rk_train *t, const rk_data *d, const rk_loop_opts *o, rk_loop_result *res, rk_err *err) {
    memset(res, 0, sizeof *res);
    res->eval_loss = NAN;
    int rc = check_opts(o, err);
    if (rc) return rc;
    int64_t n;
    float *w = rk_train_params(t, &n);
    float *m = calloc((size_t)(n ? n : 1), sizeof(float)), *v = calloc((size_t)(n ? n : 1), sizeof(float));
    const int64_t BT = o->batch * o->seq, A = o->accum;
    int32_t *in = malloc((size_t)(A * BT) * sizeof(int32_t)), *tg = malloc((size_t)(A * BT) * sizeof(int32_t));
    if (!m || !v || !in || !tg) { rc = rk_err_set(err, RK_ENOMEM, UINT64_MAX, "out of memory"); goto done; }
    rk_rng rng;
    rk_rng_seed(&rng, o->seed);
    int64_t step = 0;
    if (o->resume) {
        rk_train *r = NULL;
        if ((rc = load_ckpt(&r, o, &step, &rng, m, v, n, err))) goto done;
        /* copy the checkpoint's parameters and buffers into t (same table) */
        for (int i = 0; i < rk_train_n_tensors(t); i++) {
            const rk_tparam *a = rk_train_tensor(t, i), *b = rk_train_find(r, a->name);
            if (!b || b->n != a->n) { rk_train_free(r); rc = rk_err_set(err, RK_EINVAL, UINT64_MAX, "checkpoint lacks '%s'", a->name); goto done; }
            memcpy(a->w, b->w, (size_t)a->n * sizeof(float));
        }
        for (int64_t il = 0; il < rk_train_config(t)->num_hidden_layers; il++) {
            const uint64_t *src, *dst;
            int64_t E;
            if (rk_train_load_totals(r, il, &src, &E) || rk_train_load_totals(t, il, &dst, &E)) continue;
            memcpy((uint64_t *)dst, src, (size_t)E * sizeof(uint64_t));
        }
        rk_train_free(r);
        w = rk_train_params(t, &n);
    }
    const double t_start = now_s();
    int64_t run_steps = 0, run_tokens = 0;
    float *g = rk_train_grads(t, NULL);
    float *ptrs[1] = { g };
    int64_t lens[1] = { n };
    rk_adamw_cfg oc = { o->lr, o->beta1, o->beta2, o->eps, o->weight_decay };
    const int64_t log_every = o->log_every > 0 ? o->log_every : 10;
    const rk_loop_hooks *hk = o->hooks;
    while (step < o->steps) {
        const double ts = now_s();
        for (int64_t a = 0; a < A && !rc; a++)
            rc = hk && hk->batch ? hk->batch(hk->user, t, &rng, step, a, o->batch, o->seq, in + a * BT, tg + a * BT, err)
                                 : rk_data_batch(d, &rng, o->batch, o->seq, in + a * BT, tg + a * BT, err);
        if (rc) goto done;
        int64_t nv = 0;
        for (int64_t i = 0; i < A * BT; i++) nv += tg[i] >= 0;
        rk_train_zero_grad(t);
        double ce = 0, aux = 0;
        rk_loop_terms terms = { 0, 0, 0, 0 };
        for (int64_t a = 0; a < A; a++) {
            rk_train_result r;
            const float sc = (float)(1.0 / (double)(nv ? nv : 1)), ax = (float)(o->aux_alpha / (double)A);
            if (hk && hk->step) rc = hk->step(hk->user, t, in + a * BT, tg + a * BT, o->batch, o->seq, sc, ax, &terms, &r, err);
            else rc = rk_train_step(t, in + a * BT, tg + a * BT, o->batch, o->seq, sc, ax, &r, err);
            if (rc) goto done;
            ce += r.ce_sum, aux += r.aux / (double)A;
        }
        if (hk && hk->step) ce = terms.loss_sum;
        const double gn = rk_grad_norm(ptrs, lens, 1);
        if (o->clip > 0) rk_grad_clip(ptrs, lens, 1, gn, o->clip);
        const double lr = rk_lr_schedule(step, o->warmup, o->steps, o->lr, o->lr_min);
        for (int i = 0; i < rk_train_n_tensors(t); i++) {
            const rk_tparam *p = rk_train_tensor(t, i);
            if (!p->trainable) continue;
            const int64_t off = p->w - w;
            rk_adamw_update(p->w, p->g, m + off, v + off, p->n, step + 1, lr, &oc, p->decay);
        }
        rk_train_bias_update(t, o->gamma);
        step++, run_steps++, run_tokens += A * BT;
        const double loss = ce / (double)(nv ? nv : 1), el = now_s() - t_start;
        const double kd = hk && hk->step ? terms.kd_sum / (double)(nv ? nv : 1) : 0;
        res->train_loss = loss, res->train_kd = kd;
        const double tps = (double)run_tokens / (el > 0 ? el : 1e-9);
        if (!isfinite(loss)) { rc = rk_err_set(err, RK_EINVAL, UINT64_MAX, "loss is not finite at step %lld (lr too high?)", (long long)step); goto done; }
        if (o->progress) {
            const double eta = (double)(o->steps - step) / ((double)run_steps / (el > 0 ? el : 1e-9));
            char kds[32] = "";
            if (hk && hk->step) snprintf(kds, sizeof kds, "  kd %.4f", kd);
            fprintf(stderr, "\rstep %lld/%lld  loss %.4f%s  lr %.2e  |g| %.3f  %.0f tok/s  ETA %02d:%02d:%02d ", (long long)step,
                    (long long)o->steps, loss, kds, lr, gn, tps, (int)(eta / 3600), (int)fmod(eta / 60, 60), (int)fmod(eta, 60));
            fflush(stderr);
        }
        if (o->json && (step % log_every == 0 || step == o->steps)) {
            cJSON *j = cJSON_CreateObject();
            cJSON_AddStringToObject(j, "event", "step");
            cJSON_AddNumberToObject(j, "step", (double)step);
            cJSON_AddNumberToObject(j, "loss", loss);
            if (hk && hk->step) {
                cJSON_AddNumberToObject(j, "ce", terms.ce_sum / (double)(nv ? nv : 1));
                cJSON_AddNumberToObject(j, "kd", kd);
            }
            if (o->aux_alpha > 0) cJSON_AddNumberToObject(j, "aux", aux);
            cJSON_AddNumberToObject(j, "lr", lr);
            cJSON_AddNumberToObject(j, "grad_norm", gn);
            cJSON_AddNumberToObject(j, "tokens_per_s", tps);
            cJSON_AddNumberToObject(j, "step_ms", (now_s() - ts) * 1e3);
            emit(o->json, j);
        }
        const int last = step == o->steps || (o->stop_after > 0 && run_steps >= o->stop_after);
        if ((o->eval_every > 0 && step % o->eval_every == 0) || step == o->steps) {
            double ev;
            int64_t ntok;
            rk_loop_figure figs[8];
            int nf = 0;
            if (hk && hk->eval) rc = hk->eval(hk->user, t, step, &ev, &ntok, figs, &nf, err);
            else rc = rk_loop_eval(t, d, o->batch, o->seq, o->eval_windows, &ev, &ntok, err);
            if (rc) goto done;
            res->eval_loss = ev, res->eval_tokens = ntok;
            if (nf > 8) nf = 8;
            if (o->progress) {
                fprintf(stderr, "\n  held-out loss %.4f  ppl %.3f  (%lld tokens)", ev, exp(ev), (long long)ntok);
                for (int f = 0; f < nf; f++) fprintf(stderr, "  %s %.4f", figs[f].name, figs[f].value);
                fprintf(stderr, "\n");
                progress_loads(t);
            }
            if (o->json) {
                cJSON *j = cJSON_CreateObject();
                cJSON_AddStringToObject(j, "event", "eval");
                cJSON_AddNumberToObject(j, "step", (double)step);
                cJSON_AddNumberToObject(j, "heldout_loss", ev);
                cJSON_AddNumberToObject(j, "heldout_ppl", exp(ev));
                cJSON_AddNumberToObject(j, "heldout_tokens", (double)ntok);
                for (int f = 0; f < nf; f++) cJSON_AddNumberToObject(j, figs[f].name, figs[f].value);
                json_loads(j, t);
                emit(o->json, j);
            }
        }
        if ((o->ckpt_every > 0 && step % o->ckpt_every == 0) || last) {
            if ((rc = save_ckpt(t, o, step, &rng, m, v, n, err))) goto done;
        }
        if (last) break;
    }
    res->steps_done = step;
    res->seconds = now_s() - t_start;
    res->tokens_per_s = (double)run_tokens / (res->seconds > 0 ? res->seconds : 1e-9);
    if (o->progress) fprintf(stderr, "\n");
done:
    free(m), free(v), free(in), free(tg);
    return rc;
}
