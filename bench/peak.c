/* bench/peak.c — this machine's measured peaks, the denominators of the engine benchmark's "fraction of peak":
 * f32 FMA throughput (12 independent accumulators per thread, so FMA latency is hidden) and memory read
 * bandwidth (sum over a 1 GiB array, far larger than the caches), for 1 thread and for all threads.
 * The FMA peak is taken at the vector width the engine uses on this CPU (rk_kernels_isa): 512-bit with AVX-512F (the
 * prefill matmul's micro-kernel then runs on zmm; on cores with full-width units that doubles the FLOPs per
 * cycle), else 256-bit; the 256-bit figure is printed too.
 * Prints one JSON object: {"threads":N, "fma_bits":512|256, "gflops_1t":…, "gflops_nt":…, "gflops_avx2_1t":…,
 * "gflops_avx2_nt":…, "read_gbs_1t":…, "read_gbs_nt":…}. */
#define _GNU_SOURCE
#include <immintrin.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/kernels.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

__attribute__((target("avx2,fma"))) static float fma_loop(int64_t iters) {
    __m256 a[12], m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < 12; i++) a[i] = _mm256_set1_ps((float)i);
    for (int64_t k = 0; k < iters; k++)
        for (int i = 0; i < 12; i++) a[i] = _mm256_fmadd_ps(a[i], m, c);
    __m256 s = a[0];
    for (int i = 1; i < 12; i++) s = _mm256_add_ps(s, a[i]);
    float out[8];
    _mm256_storeu_ps(out, s);
    return out[0];
}

__attribute__((target("avx512f"))) static float fma_loop512(int64_t iters) {
    __m512 a[12], m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < 12; i++) a[i] = _mm512_set1_ps((float)i);
    for (int64_t k = 0; k < iters; k++)
        for (int i = 0; i < 12; i++) a[i] = _mm512_fmadd_ps(a[i], m, c);
    __m512 s = a[0];
    for (int i = 1; i < 12; i++) s = _mm512_add_ps(s, a[i]);
    return _mm512_reduce_add_ps(s);
}

static double gflops(int threads, int bits) {
    const int64_t iters = 50 * 1000 * 1000;
    volatile float sink = 0;
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = now_s();
        #pragma omp parallel num_threads(threads)
        {
            float r = bits == 512 ? fma_loop512(iters) : fma_loop(iters);
            #pragma omp atomic
            sink += r;
        }
        double t = now_s() - t0, g = (double)threads * (double)iters * 12 * (bits / 32) * 2 / t / 1e9;
        if (g > best) best = g;
    }
    (void)sink;
    return best;
}

/* vectorised sum with 4 independent accumulators, so the loop is bound by memory, not by add latency */
__attribute__((target("avx2"))) static float sum_avx2(const float *x, int64_t n) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_add_ps(a0, _mm256_loadu_ps(x + i));
        a1 = _mm256_add_ps(a1, _mm256_loadu_ps(x + i + 8));
        a2 = _mm256_add_ps(a2, _mm256_loadu_ps(x + i + 16));
        a3 = _mm256_add_ps(a3, _mm256_loadu_ps(x + i + 24));
    }
    float out[8], r = 0;
    _mm256_storeu_ps(out, _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (int k = 0; k < 8; k++) r += out[k];
    for (; i < n; i++) r += x[i];
    return r;
}

static double read_bw(const float *x, int64_t n, int threads) {
    double best = 0;
    volatile double sink = 0;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = now_s(), s = 0;
        #pragma omp parallel num_threads(threads) reduction(+ : s)
        {
            int64_t nt = omp_get_num_threads(), id = omp_get_thread_num(), per = (n / nt) & ~(int64_t)31;
            int64_t lo = id * per, hi = id == nt - 1 ? n : lo + per;
            s += sum_avx2(x + lo, hi - lo);
        }
        double t = now_s() - t0, g = (double)n * sizeof(float) / t / 1e9;
        sink += s;
        if (g > best) best = g;
    }
    (void)sink;
    return best;
}

int main(void) {
    int nt = omp_get_max_threads();
    const int64_t n = (int64_t)1 << 28;   /* 1 GiB of f32 */
    float *x = malloc((size_t)n * sizeof(float));
    if (!x) { fprintf(stderr, "peak: out of memory\n"); return 5; }
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) x[i] = (float)(i & 1023);
    const int bits = strstr(rk_kernels_isa(), "avx512f") ? 512 : 256;   /* the engine's own choice (RK_NO_AVX512...) */
    double a1 = gflops(1, 256), an = gflops(nt, 256);
    double g1 = bits == 512 ? gflops(1, 512) : a1, gn = bits == 512 ? gflops(nt, 512) : an;
    double b1 = read_bw(x, n, 1), bn = read_bw(x, n, nt);
    printf("{\"threads\":%d,\"fma_bits\":%d,\"gflops_1t\":%.1f,\"gflops_nt\":%.1f,\"gflops_avx2_1t\":%.1f,"
           "\"gflops_avx2_nt\":%.1f,\"read_gbs_1t\":%.2f,\"read_gbs_nt\":%.2f}\n", nt, bits, g1, gn, a1, an, b1, bn);
    free(x);
    return 0;
}
