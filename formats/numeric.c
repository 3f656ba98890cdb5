/* formats/numeric.c — F16/BF16/FP8 <-> f32 and DeepSeek FP8 128x128 block (de)quantization.
 *
 * Why this way: the scalar functions are the reference and use integer arithmetic (plus exact float
 * products that stay normal), so results do not depend on the FPU mode (no flush-to-zero or
 * double-rounding surprises). One rounding helper
 * (round_mag) serves F16, E4M3 and E5M2: it rounds |f| to nearest-even on the target's grid, letting a
 * carry run into the next exponent; each encoder then decides what "past the top" means (inf for
 * IEEE-like F16/E5M2, NaN for E4M3FN, exactly as torch's c10 fp8e4m3fn_from_fp32_value does).
 * Bulk paths (chosen once at run time, bit-identical to the reference, compared in the tests): F16 via
 * F16C, BF16 and E4M3 decode (fused with the block scale) via AVX2, else scalar loops and 256-entry
 * tables for FP8 decode.
 * Specs: IEEE 754-2008 (binary16, RNE), OCP OFP8 rev 1.0 (E4M3/E5M2), PyTorch float8_e4m3fn / e5m2,
 * DeepSeek-V3 inference/kernel.py (weight_dequant: x * s per 128x128 block). */
#include "formats/numeric.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#define RK_HAVE_X86 1
#endif

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "r1kit reads little-endian file data in place and needs a little-endian host"
#endif

static inline uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* ---- rounding core ---------------------------------------------------------------------------- */

/* v >> s rounded to nearest, ties to even (1 <= s <= 31). */
static inline uint32_t rne_shift(uint32_t v, unsigned s) {
    uint32_t q = v >> s, r = v & ((1u << s) - 1), half = 1u << (s - 1);
    return q + ((r > half) | ((r == half) & (q & 1u)));
}

/* Magnitude code (biased exponent << mbits | mantissa) of the finite f32 magnitude a (sign cleared, not
 * inf/NaN) in a binary format with mbits mantissa bits and exponent bias `bias`, rounded to nearest even,
 * subnormals included. No upper bound: a value past the format's largest finite code yields a bigger code
 * (a carry into the next exponent); callers map that to inf or NaN. Only for formats whose smallest
 * subnormal is far above f32's (F16, E5M2, E4M3), so f32 subnormals here always round to 0. */
static inline uint32_t round_mag(uint32_t a, unsigned mbits, int bias) {
    int e = (int)(a >> 23);                        /* f32 biased exponent */
    if (e == 0) return 0;
    int te = e - 127 + bias;                       /* target biased exponent if it stays normal */
    if (te >= 1)                                   /* normal: re-bias, then drop 23 - mbits bits */
        return rne_shift(((uint32_t)te << 23) | (a & 0x7FFFFFu), 23 - mbits);
    /* subnormal: significand m (24 bits) in units of the target's smallest subnormal 2^(1-bias-mbits) */
    uint32_t m = (a & 0x7FFFFFu) | 0x800000u;
    int s = 23 - (int)mbits + (1 - te);           /* >= 24 - mbits */
    return s > 31 ? 0 : rne_shift(m, (unsigned)s);
}

/* ---- F16 -------------------------------------------------------------------------------------- */

float rk_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1Fu, man = h & 0x3FFu;
    if (exp == 0x1F) /* inf, or NaN made quiet with its payload kept */
        return bits_f32(sign | 0x7F800000u | (man << 13) | (man ? 0x400000u : 0));
    if (exp == 0) {  /* zero or subnormal man * 2^-24: renormalize */
        if (man == 0) return bits_f32(sign);
        int shift = __builtin_clz(man) - 21;       /* bring the leading 1 to bit 10 */
        man = (man << shift) & 0x3FFu;
        return bits_f32(sign | ((uint32_t)(113 - shift) << 23) | (man << 13));
    }
    return bits_f32(sign | ((exp + 112) << 23) | (man << 13));
}

uint16_t rk_f32_to_f16(float f) {
    uint32_t u = f32_bits(f), a = u & 0x7FFFFFFFu;
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    if (a > 0x7F800000u) return (uint16_t)(sign | 0x7E00u | ((a >> 13) & 0x3FFu)); /* quiet, payload cut */
    if (a == 0x7F800000u) return (uint16_t)(sign | 0x7C00u);
    uint32_t c = round_mag(a, 10, 15);
    return (uint16_t)(sign | (c >= 0x7C00u ? 0x7C00u : c));
}

/* ---- BF16 ------------------------------------------------------------------------------------- */

float rk_bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) u |= 0x400000u;   /* keep NaNs quiet */
    return bits_f32(u);
}

static inline uint16_t bf16_from_bits(uint32_t u) {
    uint32_t rounded = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;   /* RNE; carries into inf correctly */
    uint32_t nan = (u >> 16) | 0x40u;
    return (uint16_t)((u & 0x7FFFFFFFu) > 0x7F800000u ? nan : rounded);
}

uint16_t rk_f32_to_bf16(float f) { return bf16_from_bits(f32_bits(f)); }

/* ---- FP8 -------------------------------------------------------------------------------------- */

float rk_e4m3_to_f32(uint8_t v) {
    uint32_t sign = (uint32_t)(v & 0x80u) << 24;
    uint32_t exp = (v >> 3) & 0xFu, man = v & 0x7u;
    if (exp == 0xF && man == 0x7) return bits_f32(sign | 0x7FC00000u);
    if (exp == 0) {  /* man * 2^-9, exact */
        float x = (float)man * 0x1p-9f;
        return bits_f32(sign | f32_bits(x));
    }
    return bits_f32(sign | ((exp + 120) << 23) | (man << 20));
}

uint8_t rk_f32_to_e4m3(float f) {
    uint32_t u = f32_bits(f), a = u & 0x7FFFFFFFu;
    uint8_t sign = (uint8_t)((u >> 24) & 0x80u);
    if (a >= 0x7F800000u) return (uint8_t)(sign | 0x7Fu);        /* inf and NaN -> NaN */
    uint32_t c = round_mag(a, 3, 7);
    return (uint8_t)(sign | (c >= 0x7Fu ? 0x7Fu : c));          /* rounded past 448 -> NaN (torch) */
}

/* E5M2 is the top byte of an F16. */
float rk_e5m2_to_f32(uint8_t v) { return rk_f16_to_f32((uint16_t)(v << 8)); }

uint8_t rk_f32_to_e5m2(float f) {
    uint32_t u = f32_bits(f), a = u & 0x7FFFFFFFu;
    uint8_t sign = (uint8_t)((u >> 24) & 0x80u);
    if (a > 0x7F800000u) return (uint8_t)(sign | 0x7Fu);
    if (a == 0x7F800000u) return (uint8_t)(sign | 0x7Cu);
    uint32_t c = round_mag(a, 2, 15);
    return (uint8_t)(sign | (c >= 0x7Cu ? 0x7Cu : c));
}

static float e8m0_to_f32(uint8_t v) {
    if (v == 0xFF) return bits_f32(0x7FC00000u);
    if (v == 0) return 0x1p-127f;                  /* f32 subnormal, exact */
    return bits_f32((uint32_t)v << 23);
}

/* ---- SIMD kernels (x86), picked once at run time ------------------------------------------------
 * Each returns how many leading elements it handled (a multiple of its width); the caller finishes the
 * tail with the scalar code. All are bit-identical to the scalar reference (the tests compare them);
 * RK_FORCE_REF=1 in the environment turns them off. */

enum { SIMD_F16C = RK_CPU_F16C, SIMD_AVX2 = RK_CPU_AVX2, SIMD_KNOWN = 1u << 30 };
static _Atomic unsigned g_simd;

#ifdef RK_HAVE_X86
/* CPUID, with the OS check for saved YMM (and ZMM) state (clang's __builtin_cpu_supports lacks "f16c"). */
static unsigned x86_features(void) {
    unsigned a, b, c, d, xlo, xhi;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    if (!(c & (1u << 27)) || !(c & (1u << 28))) return 0;            /* OSXSAVE, AVX */
    __asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
    if ((xlo & 6u) != 6u) return 0;                                   /* XMM and YMM state enabled */
    unsigned f = ((c & (1u << 29)) ? RK_CPU_F16C : 0) | ((c & (1u << 12)) ? RK_CPU_FMA : 0);
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
        if (b & (1u << 5)) f |= RK_CPU_AVX2;
        if ((b & (1u << 16)) && (xlo & 0xE0u) == 0xE0u) f |= RK_CPU_AVX512F;   /* + opmask, ZMM_Hi256, Hi16_ZMM */
    }
    return f;
}
#endif

unsigned rk_cpu_simd(void) {
    unsigned f = atomic_load_explicit(&g_simd, memory_order_relaxed);
    if (f & SIMD_KNOWN) return f & ~SIMD_KNOWN;
    f = SIMD_KNOWN;
#ifdef RK_HAVE_X86
    const char *force = getenv("RK_FORCE_REF");
    if (!(force && *force && strcmp(force, "0") != 0)) f |= x86_features();
#endif
    atomic_store_explicit(&g_simd, f, memory_order_relaxed);
    return f & ~SIMD_KNOWN;
}
#define simd_flags rk_cpu_simd

#ifdef RK_HAVE_X86
__attribute__((target("avx,f16c")))
static size_t f16_to_f32_f16c(const uint8_t *src, float *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + 2 * i))));
    return i;
}

__attribute__((target("avx,f16c")))
static size_t f32_to_f16_f16c(const float *src, uint8_t *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm_storeu_si128((__m128i *)(dst + 2 * i), h);
    }
    return i;
}

__attribute__((target("avx2")))
static size_t bf16_to_f32_avx2(const uint8_t *src, float *dst, size_t n) {
    const __m256i absm = _mm256_set1_epi32(0x7FFFFFFF), inf = _mm256_set1_epi32(0x7F800000);
    const __m256i quiet = _mm256_set1_epi32(0x400000);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i u = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(src + 2 * i)));
        u = _mm256_slli_epi32(u, 16);
        __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, absm), inf);
        _mm256_storeu_si256((__m256i *)(dst + i), _mm256_or_si256(u, _mm256_and_si256(nan, quiet)));
    }
    return i;
}

/* 8 f32 -> 8 bf16 codes in the low halves of the 32-bit lanes, exactly as bf16_from_bits */
__attribute__((target("avx2")))
static inline __m256i bf16_round8(__m256 x) {
    const __m256i absm = _mm256_set1_epi32(0x7FFFFFFF), inf = _mm256_set1_epi32(0x7F800000);
    const __m256i one = _mm256_set1_epi32(1), half = _mm256_set1_epi32(0x7FFF), quiet = _mm256_set1_epi32(0x40);
    __m256i u = _mm256_castps_si256(x);
    __m256i hi = _mm256_srli_epi32(u, 16);
    __m256i r = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(u, half), _mm256_and_si256(hi, one)), 16);
    __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, absm), inf);
    return _mm256_blendv_epi8(r, _mm256_or_si256(hi, quiet), nan);
}

__attribute__((target("avx2")))
static size_t f32_to_bf16_avx2(const float *src, uint8_t *dst, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i a = bf16_round8(_mm256_loadu_ps(src + i)), b = bf16_round8(_mm256_loadu_ps(src + i + 8));
        __m256i p = _mm256_permute4x64_epi64(_mm256_packus_epi32(a, b), 0xD8);   /* undo the lane split */
        _mm256_storeu_si256((__m256i *)(dst + 2 * i), p);
    }
    return i;
}

/* out[i] = e4m3(w[i]) * s. The decode never does subnormal arithmetic (so DAZ/FTZ cannot change it):
 * a normal is a re-biased bit pattern; a subnormal k*2^-9 is built as 2^-6*(1+k/8) - 2^-6, exactly. */
__attribute__((target("avx2")))
static size_t e4m3_scale_avx2(const uint8_t *w, float s, float *out, size_t n) {
    const __m256i m7f = _mm256_set1_epi32(0x7F), ebits = _mm256_set1_epi32(0x78), zero = _mm256_setzero_si256();
    const __m256i rebias = _mm256_set1_epi32(120 << 23), one_exp = _mm256_set1_epi32(1 << 23);
    const __m256i qnan = _mm256_set1_epi32(0x7FC00000);
    const __m256 min_normal = _mm256_set1_ps(0x1p-6f), vs = _mm256_set1_ps(s);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(w + i)));
        __m256i mag = _mm256_and_si256(v, m7f);
        __m256i sign = _mm256_slli_epi32(_mm256_xor_si256(v, mag), 24);
        __m256i sub = _mm256_cmpeq_epi32(_mm256_and_si256(v, ebits), zero);
        __m256i t = _mm256_add_epi32(_mm256_add_epi32(_mm256_slli_epi32(mag, 20), rebias),
                                     _mm256_and_si256(sub, one_exp));
        __m256 f = _mm256_sub_ps(_mm256_castsi256_ps(t), _mm256_and_ps(_mm256_castsi256_ps(sub), min_normal));
        __m256i bits = _mm256_blendv_epi8(_mm256_castps_si256(f), qnan, _mm256_cmpeq_epi32(mag, m7f));
        _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_castsi256_ps(_mm256_or_si256(bits, sign)), vs));
    }
    return i;
}
#endif

/* ---- bulk conversions ------------------------------------------------------------------------- */

#define LOAD(T, p, i) ({ T v_; memcpy(&v_, (const uint8_t *)(p) + (size_t)(i) * sizeof(T), sizeof(T)); v_; })

static void fp8_lut(float lut[256], float (*dec)(uint8_t)) {
    for (int i = 0; i < 256; i++) lut[i] = dec((uint8_t)i);
}

int rk_convert_to_f32(int src_type, const void *src, float *dst, size_t n) {
    if (n == 0) return RK_OK;
    if (!src || !dst) return RK_EINVAL;
    const uint8_t *s = src;
    size_t i = 0;
    switch (src_type) {
    case RK_DTYPE_F32: memmove(dst, src, n * sizeof(float)); return RK_OK;
    case RK_DTYPE_F16:
#ifdef RK_HAVE_X86
        if (simd_flags() & SIMD_F16C) i = f16_to_f32_f16c(s, dst, n);
#endif
        for (; i < n; i++) dst[i] = rk_f16_to_f32(LOAD(uint16_t, s, i));
        return RK_OK;
    case RK_DTYPE_BF16:
#ifdef RK_HAVE_X86
        if (simd_flags() & SIMD_AVX2) i = bf16_to_f32_avx2(s, dst, n);
#endif
        for (; i < n; i++) {
            uint32_t u = (uint32_t)LOAD(uint16_t, s, i) << 16;
            dst[i] = bits_f32((u & 0x7FFFFFFFu) > 0x7F800000u ? (u | 0x400000u) : u);
        }
        return RK_OK;
    case RK_DTYPE_F8_E4M3:
#ifdef RK_HAVE_X86
        if (simd_flags() & SIMD_AVX2) i = e4m3_scale_avx2(s, 1.0f, dst, n);   /* x * 1 is exact */
#endif
        /* fall through */
    case RK_DTYPE_F8_E5M2:
    case RK_DTYPE_F8_E8M0: {
        float lut[256];
        fp8_lut(lut, src_type == RK_DTYPE_F8_E4M3 ? rk_e4m3_to_f32
                     : src_type == RK_DTYPE_F8_E5M2 ? rk_e5m2_to_f32 : e8m0_to_f32);
        for (; i < n; i++) dst[i] = lut[s[i]];
        return RK_OK;
    }
    case RK_DTYPE_F64:  for (; i < n; i++) dst[i] = (float)LOAD(double, s, i); return RK_OK;
    case RK_DTYPE_I8:   for (; i < n; i++) dst[i] = (float)(int8_t)s[i]; return RK_OK;
    case RK_DTYPE_U8:   for (; i < n; i++) dst[i] = (float)s[i]; return RK_OK;
    case RK_DTYPE_BOOL: for (; i < n; i++) dst[i] = s[i] ? 1.0f : 0.0f; return RK_OK;
    case RK_DTYPE_I16:  for (; i < n; i++) dst[i] = (float)LOAD(int16_t, s, i); return RK_OK;
    case RK_DTYPE_U16:  for (; i < n; i++) dst[i] = (float)LOAD(uint16_t, s, i); return RK_OK;
    case RK_DTYPE_I32:  for (; i < n; i++) dst[i] = (float)LOAD(int32_t, s, i); return RK_OK;
    case RK_DTYPE_U32:  for (; i < n; i++) dst[i] = (float)LOAD(uint32_t, s, i); return RK_OK;
    case RK_DTYPE_I64:  for (; i < n; i++) dst[i] = (float)LOAD(int64_t, s, i); return RK_OK;
    case RK_DTYPE_U64:  for (; i < n; i++) dst[i] = (float)LOAD(uint64_t, s, i); return RK_OK;
    default: return RK_EUNSUPPORTED;
    }
}

int rk_convert_from_f32(int dst_type, const float *src, void *dst, size_t n) {
    if (n == 0) return RK_OK;
    if (!src || !dst) return RK_EINVAL;
    uint8_t *d = dst;
    size_t i = 0;
    switch (dst_type) {
    case RK_DTYPE_F32: memmove(dst, src, n * sizeof(float)); return RK_OK;
    case RK_DTYPE_F16:
#ifdef RK_HAVE_X86
        if (simd_flags() & SIMD_F16C) i = f32_to_f16_f16c(src, d, n);
#endif
        for (; i < n; i++) { uint16_t h = rk_f32_to_f16(src[i]); memcpy(d + 2 * i, &h, 2); }
        return RK_OK;
    case RK_DTYPE_BF16:
#ifdef RK_HAVE_X86
        if (simd_flags() & SIMD_AVX2) i = f32_to_bf16_avx2(src, d, n);
#endif
        for (; i < n; i++) { uint16_t h = bf16_from_bits(f32_bits(src[i])); memcpy(d + 2 * i, &h, 2); }
        return RK_OK;
    case RK_DTYPE_F8_E4M3: for (; i < n; i++) d[i] = rk_f32_to_e4m3(src[i]); return RK_OK;
    case RK_DTYPE_F8_E5M2: for (; i < n; i++) d[i] = rk_f32_to_e5m2(src[i]); return RK_OK;
    default: return RK_EUNSUPPORTED;
    }
}

/* ---- FP8 block scaling ------------------------------------------------------------------------ */

#define RK_FP8_PAR_MIN ((int64_t)1 << 16)   /* below this many elements, threads cost more than they save */

void rk_fp8_block_dequant(const uint8_t *w, const float *scale_inv, int64_t rows, int64_t cols,
                          int64_t block, float *dst) {
    if (rows <= 0 || cols <= 0 || block <= 0 || !w || !scale_inv || !dst) return;
    float lut[256];
    fp8_lut(lut, rk_e4m3_to_f32);
    const int64_t sc = (cols + block - 1) / block;
#ifdef RK_HAVE_X86
    const int avx2 = (simd_flags() & SIMD_AVX2) != 0;
#endif
    #pragma omp parallel for schedule(static) if (rows * cols >= RK_FP8_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *srow = scale_inv + (r / block) * sc;
        const uint8_t *wr = w + r * cols;
        float *dr = dst + r * cols;
        for (int64_t cb = 0; cb < sc; cb++) {
            const float s = srow[cb];
            const int64_t c1 = (cb + 1) * block < cols ? (cb + 1) * block : cols;
            int64_t c = cb * block;
#ifdef RK_HAVE_X86
            if (avx2) c += (int64_t)e4m3_scale_avx2(wr + c, s, dr + c, (size_t)(c1 - c));
#endif
            for (; c < c1; c++) dr[c] = lut[wr[c]] * s;
        }
    }
}

/* Scale for a block whose largest finite magnitude is amax: amax/448 (DeepSeek's definition). For a
 * normal scale amax/scale is 448 within an ulp and encodes as 448; when amax/448 is subnormal it may have
 * rounded far enough down (or to 0) that amax/scale would encode as NaN, so it is nudged up until not. */
static float fp8_block_scale(float amax) {
    if (!(amax > 0.0f)) return 1.0f;
    float s = amax / 448.0f;
    if (s == 0.0f) s = 0x1p-149f;
    while ((rk_f32_to_e4m3(amax / s) & 0x7Fu) == 0x7Fu) s = nextafterf(s, INFINITY);
    return s;
}

void rk_fp8_block_quant(const float *x, int64_t rows, int64_t cols, int64_t block,
                        uint8_t *w, float *scale_inv) {
    if (rows <= 0 || cols <= 0 || block <= 0 || !x || !w || !scale_inv) return;
    const int64_t sr = (rows + block - 1) / block, sc = (cols + block - 1) / block;
    #pragma omp parallel for schedule(dynamic, 1) if (rows * cols >= RK_FP8_PAR_MIN)
    for (int64_t rb = 0; rb < sr; rb++) {
        const int64_t r0 = rb * block, r1 = r0 + block < rows ? r0 + block : rows;
        for (int64_t cb = 0; cb < sc; cb++) {
            const int64_t c0 = cb * block, c1 = c0 + block < cols ? c0 + block : cols;
            float amax = 0.0f;
            for (int64_t r = r0; r < r1; r++)
                for (int64_t c = c0; c < c1; c++) {
                    float a = fabsf(x[r * cols + c]);
                    if (a > amax && a <= 0x1.fffffep127f) amax = a;    /* finite only; NaN fails a > amax */
                }
            const float s = fp8_block_scale(amax);
            scale_inv[rb * sc + cb] = s;
            for (int64_t r = r0; r < r1; r++)
                for (int64_t c = c0; c < c1; c++) w[r * cols + c] = rk_f32_to_e4m3(x[r * cols + c] / s);
        }
    }
}
