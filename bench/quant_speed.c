/* bench/quant_speed.c — single-thread speed of the weight quantizers: for each block type, quantize_ref and the
 * fast quantize over the same random f32 rows (Gaussian with a few outliers, like trained weights), without and
 * with an importance vector, printing MB/s of f32 input and the fast/ref speedup. It also checks that both wrote
 * the same bytes (exit 1 if not), so a speed-up that broke bit-exactness cannot be reported.
 *
 *   rk_quant_speed [--mb N] [--type NAME]...    (default 64 MB per measurement, every type)
 *
 * One OpenMP thread (forced); times are process CPU time, so the MB/s are per core even on a loaded machine. */
#define _GNU_SOURCE
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "quantize/quants.h"

/* CPU time of the process: with one thread this is the time the quantizer ran, robust to a busy machine. */
static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}
static float unif(void) { return (float)((rnd() >> 40) + 0.5) / 16777216.0f; }
static float gauss(void) { return sqrtf(-2.0f * logf(unif())) * cosf(6.2831853f * unif()); }

static void usage(void) { fprintf(stderr, "usage: rk_quant_speed [--mb N] [--type NAME]...\n"); }

int main(int argc, char **argv) {
    double mb = 64.0;
    const char *only[32];
    int nonly = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--mb") && i + 1 < argc) {
            char *end;
            mb = strtod(argv[++i], &end);
            if (*end || !(mb > 0.0) || mb > 65536.0) { usage(); return 2; }
        } else if (!strcmp(argv[i], "--type") && i + 1 < argc && nonly < 32) {
            only[nonly++] = argv[++i];
        } else {
            usage();
            return 2;
        }
    }
    omp_set_num_threads(1);
    int64_t n = (int64_t)(mb * 1048576.0 / 4.0);
    n -= n % 256;
    if (n < 256) n = 256;
    float *x = malloc((size_t)n * sizeof *x), *imp = malloc((size_t)n * sizeof *imp);
    if (!x || !imp) { fprintf(stderr, "out of memory\n"); return 3; }
    for (int64_t i = 0; i < n; i++) {
        x[i] = 0.02f * gauss();
        if (rnd() % 512 == 0) x[i] *= 20.0f;
        imp[i] = expf(2.0f * gauss());
        if (rnd() % 64 == 0) imp[i] = 0.0f;
    }
    int nt;
    const int *types = rk_qtype_list(&nt);
    printf("%-6s %-4s %10s %10s %8s\n", "type", "imp", "ref MB/s", "fast MB/s", "speedup");
    int bad = 0;
    for (int k = 0; k < nt; k++) {
        const rk_qtype *q = rk_qtype_get(types[k]);
        int want = nonly == 0;
        for (int o = 0; o < nonly; o++) want |= !strcasecmp(only[o], q->name);
        if (!want) continue;
        const size_t bytes = (size_t)(n / q->block) * q->bytes;
        uint8_t *a = malloc(bytes), *b = malloc(bytes);
        if (!a || !b) { fprintf(stderr, "out of memory\n"); return 3; }
        for (int wi = 0; wi < 2; wi++) {
            const float *w = wi ? imp : NULL;
            double t0 = now_s();
            q->quantize_ref(x, a, n, w);
            const double tr = now_s() - t0;
            t0 = now_s();
            q->quantize(x, b, n, w);
            const double tf = now_s() - t0;
            const double in_mb = (double)n * 4.0 / 1e6;
            const int same = memcmp(a, b, bytes) == 0;
            printf("%-6s %-4s %10.1f %10.1f %7.2fx%s\n", q->name, wi ? "yes" : "no", in_mb / tr, in_mb / tf, tr / tf,
                   same ? "" : "  MISMATCH");
            fflush(stdout);
            bad |= !same;
        }
        free(a);
        free(b);
    }
    free(x);
    free(imp);
    return bad ? 1 : 0;
}
