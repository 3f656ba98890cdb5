/* tests/model/test_optim_torch.c — rk_adamw_update against torch.optim.AdamW (Debian's python3-torch; exit 77
 * otherwise): random f32 parameters and five steps of random gradients with a per-step learning rate, weight
 * decay on and off, two sizes (one small, one over the OpenMP threshold). Parameters and both moments must agree
 * within 1e-6 relative (max|a-b| / max|b|); the parameter change within 1e-4 (see run_case). The Python side is written to a
 * temporary file and run with /usr/bin/python3; data passes through raw little-endian files. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/optim.h"
#include "tests/common/rk_test.h"

enum { STEPS = 5 };

static const char *PY =
    "import struct, sys, torch\n"
    "src, dst = sys.argv[1], sys.argv[2]\n"
    "raw = open(src, 'rb').read()\n"
    "n, steps = struct.unpack_from('<qq', raw, 0)\n"
    "off = 16\n"
    "lrs = struct.unpack_from('<%dd' % steps, raw, off); off += 8 * steps\n"
    "b1, b2, eps, wd = struct.unpack_from('<4d', raw, off); off += 32\n"
    "f = torch.frombuffer(bytearray(raw[off:]), dtype=torch.float32)\n"
    "p = torch.nn.Parameter(f[:n].clone())\n"
    "grads = f[n:].view(steps, n)\n"
    "opt = torch.optim.AdamW([p], lr=lrs[0], betas=(b1, b2), eps=eps, weight_decay=wd)\n"
    "for t in range(steps):\n"
    "    opt.param_groups[0]['lr'] = lrs[t]\n"
    "    p.grad = grads[t].clone()\n"
    "    opt.step()\n"
    "st = opt.state[p]\n"
    "out = torch.cat([p.detach(), st['exp_avg'], st['exp_avg_sq']])\n"
    "vals = out.tolist()\n"
    "open(dst, 'wb').write(struct.pack('<%df' % len(vals), *vals))\n";

static void write_all(const char *path, const void *a, size_t na, const void *b, size_t nb, const void *c, size_t nc,
                      const void *d, size_t nd) {
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "%s", path);
    ck_assert(fwrite(a, 1, na, f) == na && fwrite(b, 1, nb, f) == nb && fwrite(c, 1, nc, f) == nc &&
              fwrite(d, 1, nd, f) == nd);
    ck_assert(fclose(f) == 0);
}

static void run_case(int64_t n, int decay, uint64_t seed) {
    const rk_adamw_cfg cfg = {.lr = 1e-2, .beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8, .weight_decay = 0.1};
    rk_rng r;
    rk_rng_seed(&r, seed);
    float *p0 = malloc((size_t)n * sizeof(float)), *p = malloc((size_t)n * sizeof(float));
    float *g = malloc((size_t)(STEPS * n) * sizeof(float));
    float *m = calloc((size_t)n, sizeof(float)), *v = calloc((size_t)n, sizeof(float));
    for (int64_t i = 0; i < n; i++) p0[i] = (float)rk_rng_normal(&r);
    for (int64_t i = 0; i < STEPS * n; i++) g[i] = (float)(0.1 * rk_rng_normal(&r));
    /* exact zeros here and there, and parameters whose gradient stays tiny at every step (there eps is a tenth of
     * the denominator, so its placement matters) */
    for (int64_t i = 0; i < STEPS * n; i += 97) g[i] = 0.0f;
    for (int t = 0; t < STEPS; t++)
        for (int64_t i = 5; i < n; i += 101) g[t * n + i] = (t % 2 ? -1e-7f : 1e-7f) * (float)(1 + t);
    double lrs[STEPS];
    for (int t = 0; t < STEPS; t++) lrs[t] = rk_lr_schedule(t, 2, STEPS, cfg.lr, cfg.lr * 0.1);
    memcpy(p, p0, (size_t)n * sizeof(float));
    for (int t = 0; t < STEPS; t++) rk_adamw_update(p, g + t * n, m, v, n, t + 1, lrs[t], &cfg, decay);

    char *dir = rk_test_tmpdir("optim_torch");
    char script[4096], in[4096], out[4096], cmd[16384], er[4096];
    snprintf(script, sizeof script, "%.3000s/adamw.py", dir);
    snprintf(in, sizeof in, "%.3000s/in.bin", dir);
    snprintf(out, sizeof out, "%.3000s/out.bin", dir);
    rk_test_write_file(script, PY, strlen(PY));
    const int64_t hdr[2] = {n, STEPS};
    const double hp[4] = {cfg.beta1, cfg.beta2, cfg.eps, decay ? cfg.weight_decay : 0.0};
    double lh[STEPS + 4];
    memcpy(lh, lrs, sizeof lrs);
    memcpy(lh + STEPS, hp, sizeof hp);
    write_all(in, hdr, sizeof hdr, lh, sizeof lh, p0, (size_t)n * sizeof(float), g, (size_t)(STEPS * n) * sizeof(float));
    snprintf(cmd, sizeof cmd, "'%s' '%s' '%s' '%s'", rk_test_python(), script, in, out);
    int rc = rk_test_run(cmd, NULL, 0, er, sizeof er);
    ck_assert_msg(rc == 0, "%s: exit %d: %s", cmd, rc, er);
    size_t nb = 0;
    float *ref = (float *)rk_test_read_file(out, &nb);
    ck_assert_msg(ref && nb == 3 * (size_t)n * sizeof(float), "%s: %zu bytes", out, nb);

    float *dc = malloc((size_t)n * sizeof(float)), *dt = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) {
        dc[i] = p[i] - p0[i];
        dt[i] = ref[i] - p0[i];
    }
    const double ep = rk_max_rel_err(p, ref, (size_t)n), em = rk_max_rel_err(m, ref + n, (size_t)n);
    const double ev = rk_max_rel_err(v, ref + 2 * n, (size_t)n), ed = rk_max_rel_err(dc, dt, (size_t)n);
    printf("adamw n=%lld decay=%d: rel err params %.3g, m %.3g, v %.3g, update %.3g\n", (long long)n, decay, ep, em,
           ev, ed);
    fflush(stdout);
    /* the update itself (p - p0) is small next to p, so one-ulp differences in p (torch's vector kernels use
     * fused multiply-adds where we do not) show up enlarged there: only a sanity bound */
    ck_assert_msg(ep <= 1e-6 && em <= 1e-6 && ev <= 1e-6 && ed <= 1e-4,
                  "n=%lld decay=%d: params %g m %g v %g update %g", (long long)n, decay, ep, em, ev, ed);
    free(dc);
    free(dt);
    free(ref);
    rk_test_rmtree(dir);
    free(dir);
    free(p0);
    free(p);
    free(g);
    free(m);
    free(v);
}

START_TEST(adamw_vs_torch) {
    const int64_t sizes[] = {1000, 40001};
    for (int s = 0; s < 2; s++)
        for (int decay = 0; decay <= 1; decay++) run_case(sizes[s], decay, 100 + 2 * (uint64_t)s + (uint64_t)decay);
}
END_TEST

Suite *make_suite(void) {
    Suite *s = suite_create("optim_torch");
    TCase *tc = tcase_create("adamw");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, adamw_vs_torch);
    suite_add_tcase(s, tc);
    return s;
}

RK_TEST_MAIN_NEEDS_TORCH()
