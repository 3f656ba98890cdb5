/* tests/formats/test_numeric.c — formats/numeric: F16/BF16/FP8 conversions and FP8 block scaling.
 * Why: every later stage (convert, quantize, the engine) trusts these bit for bit. Decoders are checked
 * exhaustively against a formula written independently here; encoders against a double-precision
 * reference that rounds with nearbyint (the FPU's round-to-nearest-even) on every pattern's round trip,
 * all ties, the overflow and underflow edges, and a stratified sweep over f32. Bulk (F16C/LUT/OpenMP)
 * paths are compared with the scalar reference. Golden values from torch: test_numeric_torch.c. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "formats/numeric.h"
#include "tests/common/rk_test.h"

/* Check's ck_assert writes to a pipe on every call, even when it passes; loops over millions of values
 * use these instead, which only call into Check on failure. */
#define EXPECT(cond, ...) do { if (!(cond)) ck_abort_msg(__VA_ARGS__); } while (0)
#define EXPECT_EQ(a, b)                                                                              \
    do {                                                                                             \
        unsigned long long a_ = (unsigned long long)(a), b_ = (unsigned long long)(b);               \
        if (a_ != b_) ck_abort_msg("%s == %s failed: 0x%llx != 0x%llx", #a, #b, a_, b_);            \
    } while (0)

static uint32_t fbits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float bitsf(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static int f32_isnan_bits(uint32_t u) { return (u & 0x7FFFFFFFu) > 0x7F800000u; }

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd32(void) {   /* xorshift64*, deterministic */
    g_rng ^= g_rng >> 12; g_rng ^= g_rng << 25; g_rng ^= g_rng >> 27;
    return (uint32_t)((g_rng * 0x2545F4914F6CDD1Dull) >> 32);
}
static float rnd_unit(void) { return (float)(rnd32() >> 8) * 0x1p-24f; }   /* [0,1) */

/* ---- format descriptions for the generic checks ------------------------------------------------ */
typedef struct fmt {
    const char *name;
    int nbits, mbits, bias;      /* total bits, mantissa bits, exponent bias */
    int fn;                      /* 1: e4m3fn (no inf; only S.1111.111 is NaN) */
    uint32_t max_code;           /* largest finite magnitude code */
    uint32_t over_code;          /* what overflow gives (inf, or NaN for fn) */
    float (*dec)(uint32_t);
    uint32_t (*enc)(float);
} fmt;

static float dec_f16(uint32_t c) { return rk_f16_to_f32((uint16_t)c); }
static float dec_bf16(uint32_t c) { return rk_bf16_to_f32((uint16_t)c); }
static float dec_e4m3(uint32_t c) { return rk_e4m3_to_f32((uint8_t)c); }
static float dec_e5m2(uint32_t c) { return rk_e5m2_to_f32((uint8_t)c); }
static uint32_t enc_f16(float f) { return rk_f32_to_f16(f); }
static uint32_t enc_bf16(float f) { return rk_f32_to_bf16(f); }
static uint32_t enc_e4m3(float f) { return rk_f32_to_e4m3(f); }
static uint32_t enc_e5m2(float f) { return rk_f32_to_e5m2(f); }

static const fmt FMTS[4] = {
    {"f16", 16, 10, 15, 0, 0x7BFF, 0x7C00, dec_f16, enc_f16},
    {"bf16", 16, 7, 127, 0, 0x7F7F, 0x7F80, dec_bf16, enc_bf16},
    {"e4m3", 8, 3, 7, 1, 0x7E, 0x7F, dec_e4m3, enc_e4m3},
    {"e5m2", 8, 2, 15, 0, 0x7B, 0x7C, dec_e5m2, enc_e5m2},
};

static uint32_t sign_bit(const fmt *f) { return 1u << (f->nbits - 1); }
static int is_nan_code(const fmt *f, uint32_t c) {
    uint32_t mag = c & (sign_bit(f) - 1), top = ((1u << (f->nbits - 1 - f->mbits)) - 1) << f->mbits;
    if (f->fn) return mag == (top | ((1u << f->mbits) - 1));
    return (mag & top) == top && (mag & ((1u << f->mbits) - 1)) != 0;
}
static int is_inf_code(const fmt *f, uint32_t c) {
    return !f->fn && (c & (sign_bit(f) - 1)) == f->over_code;
}

/* Value of a finite code written from the definition: (-1)^s * 2^(e-bias) * (1 + m/2^M), subnormal
 * 2^(1-bias) * m/2^M. Computed in double (exact), returned as double. */
static double ref_value(const fmt *f, uint32_t c) {
    uint32_t mag = c & (sign_bit(f) - 1);
    int e = (int)(mag >> f->mbits);
    double m = (double)(mag & ((1u << f->mbits) - 1));
    double v = e == 0 ? ldexp(m, 1 - f->bias - f->mbits) : ldexp(m + ldexp(1.0, f->mbits), e - f->bias - f->mbits);
    return (c & sign_bit(f)) ? -v : v;
}

/* Independent RNE reference in double: the nearest multiple of the ulp of |x|'s binade (the subnormal
 * ulp below the smallest normal), via nearbyint. Returns the rounded magnitude, which may exceed the
 * format's maximum (then the encoder must overflow). */
static double ref_round(const fmt *f, double a) {
    if (a == 0) return 0;
    int e;
    frexp(a, &e);                        /* a = q * 2^e, q in [0.5, 1): unbiased exponent e - 1 */
    int ue = e - 1, emin = 1 - f->bias;
    if (ue < emin) ue = emin;
    double ulp = ldexp(1.0, ue - f->mbits);
    return nearbyint(a / ulp) * ulp;
}

/* Check the encoder on one f32 against ref_round; returns 0 if fine, else fills msg. */
static int check_encode(const fmt *f, float x, char *msg, size_t cap) {
    uint32_t c = f->enc(x), sb = sign_bit(f);
    int neg = signbit(x) != 0;
    if (isnan(x)) {
        if (!is_nan_code(f, c) || ((c & sb) != 0) != neg) {
            snprintf(msg, cap, "%s: NaN 0x%08x -> 0x%x (want NaN, same sign)", f->name, fbits(x), c);
            return 1;
        }
        return 0;
    }
    double want = ref_round(f, fabs((double)x));
    double maxv = ref_value(f, f->max_code);
    int ok;
    if (isinf(x) || want > maxv) ok = (c & (sb - 1)) == f->over_code && ((c & sb) != 0) == neg;
    else ok = !is_nan_code(f, c) && !is_inf_code(f, c) && ((c & sb) != 0) == neg && ref_value(f, c & (sb - 1)) == want;
    if (!ok) snprintf(msg, cap, "%s: %a (0x%08x) -> 0x%x (%g), reference magnitude %a", f->name, (double)x,
                      fbits(x), c, is_nan_code(f, c) ? NAN : ref_value(f, c), want);
    return !ok;
}

/* ---- exhaustive decode / round trip ----------------------------------------------------------- */

START_TEST(decode_exhaustive) {
    const fmt *f = &FMTS[_i];
    uint32_t n = 1u << f->nbits, sb = sign_bit(f);
    size_t nan_count = 0;
    for (uint32_t c = 0; c < n; c++) {
        float v = f->dec(c);
        uint32_t vb = fbits(v);
        if (is_nan_code(f, c)) {
            nan_count++;
            EXPECT(f32_isnan_bits(vb), "%s 0x%x: want NaN, got 0x%08x", f->name, c, vb);
            EXPECT(vb & 0x400000u, "%s 0x%x: NaN not quiet (0x%08x)", f->name, c, vb);
            EXPECT((vb >> 31) == ((c & sb) != 0), "%s 0x%x: NaN sign lost", f->name, c);
            uint32_t back = f->enc(v);
            EXPECT(is_nan_code(f, back) && (back & sb) == (c & sb), "%s 0x%x: NaN -> 0x%x", f->name, c, back);
            /* F16/BF16 keep the payload (made quiet); FP8 NaNs are canonical */
            if (f->nbits == 16) {
                uint32_t quiet = f->mbits == 10 ? 0x200u : 0x40u;
                EXPECT(back == (c | quiet), "%s 0x%x: NaN payload -> 0x%x", f->name, c, back);
            }
            continue;
        }
        if (is_inf_code(f, c)) {
            EXPECT(isinf(v) && (signbit(v) != 0) == ((c & sb) != 0), "%s 0x%x: want inf", f->name, c);
        } else {
            double want = ref_value(f, c);
            EXPECT((double)v == want, "%s 0x%x: decoded %a, want %a", f->name, c, (double)v, want);
            EXPECT((signbit(v) != 0) == ((c & sb) != 0), "%s 0x%x: sign", f->name, c);
        }
        uint32_t back = f->enc(v);
        EXPECT(back == c, "%s 0x%x -> %a -> 0x%x (round trip)", f->name, c, (double)v, back);
    }
    /* counts of NaN patterns: f16 2*1023, bf16 2*127, e4m3 2, e5m2 2*3 */
    size_t want_nan = f->fn ? 2 : 2 * (((size_t)1 << f->mbits) - 1);
    ck_assert_uint_eq(nan_count, want_nan);
}
END_TEST

START_TEST(special_values) {
    /* F16 */
    ck_assert_uint_eq(fbits(rk_f16_to_f32(0x0000)), 0x00000000u);
    ck_assert_uint_eq(fbits(rk_f16_to_f32(0x8000)), 0x80000000u);
    ck_assert(rk_f16_to_f32(0x0001) == 0x1p-24f);
    ck_assert(rk_f16_to_f32(0x03FF) == 1023 * 0x1p-24f);
    ck_assert(rk_f16_to_f32(0x0400) == 0x1p-14f);
    ck_assert(rk_f16_to_f32(0x3C00) == 1.0f);
    ck_assert(rk_f16_to_f32(0x7BFF) == 65504.0f);
    ck_assert(rk_f16_to_f32(0xFBFF) == -65504.0f);
    ck_assert(isinf(rk_f16_to_f32(0x7C00)) && rk_f16_to_f32(0xFC00) < 0);
    ck_assert_uint_eq(rk_f32_to_f16(-0.0f), 0x8000);
    ck_assert_uint_eq(rk_f32_to_f16(65504.0f), 0x7BFF);
    ck_assert_uint_eq(rk_f32_to_f16(0x1p-14f), 0x0400);
    ck_assert_uint_eq(rk_f32_to_f16(0x1p-24f), 0x0001);
    /* BF16 */
    ck_assert(rk_bf16_to_f32(0x3F80) == 1.0f);
    ck_assert(rk_bf16_to_f32(0x7F7F) == 0x1.FEp127f);
    ck_assert(rk_bf16_to_f32(0x0001) == 0x1p-133f);
    ck_assert(rk_bf16_to_f32(0x0080) == FLT_MIN);
    ck_assert_uint_eq(fbits(rk_bf16_to_f32(0x8000)), 0x80000000u);
    ck_assert_uint_eq(rk_f32_to_bf16(-0.0f), 0x8000);
    ck_assert_uint_eq(rk_f32_to_bf16(INFINITY), 0x7F80);
    ck_assert_uint_eq(rk_f32_to_bf16(-INFINITY), 0xFF80);
    ck_assert_uint_eq(rk_f32_to_bf16(bitsf(0x7FC00000u)), 0x7FC0);
    ck_assert_uint_eq(rk_f32_to_bf16(bitsf(0xFF800001u)), 0xFFC0);    /* sNaN, low payload: stays NaN */
    ck_assert_uint_eq(rk_f32_to_bf16(bitsf(0x7F80FFFFu)), 0x7FC0);    /* would round to inf if treated as a number */
    /* E4M3FN */
    ck_assert(rk_e4m3_to_f32(0x7E) == 448.0f);
    ck_assert(rk_e4m3_to_f32(0xFE) == -448.0f);
    ck_assert(rk_e4m3_to_f32(0x08) == 0x1p-6f);
    ck_assert(rk_e4m3_to_f32(0x01) == 0x1p-9f);
    ck_assert(rk_e4m3_to_f32(0x07) == 7 * 0x1p-9f);
    ck_assert(rk_e4m3_to_f32(0x38) == 1.0f);
    ck_assert(rk_e4m3_to_f32(0x78) == 256.0f);                 /* exponent 15 is a normal binade */
    ck_assert(isnan(rk_e4m3_to_f32(0x7F)) && isnan(rk_e4m3_to_f32(0xFF)));
    ck_assert(signbit(rk_e4m3_to_f32(0xFF)) && signbit(rk_e4m3_to_f32(0x80)));
    ck_assert_uint_eq(rk_f32_to_e4m3(bitsf(0x7FC00000u)), 0x7F);
    ck_assert_uint_eq(rk_f32_to_e4m3(bitsf(0xFFC00000u)), 0xFF);
    /* E5M2 */
    ck_assert(rk_e5m2_to_f32(0x7B) == 57344.0f);
    ck_assert(rk_e5m2_to_f32(0x04) == 0x1p-14f);
    ck_assert(rk_e5m2_to_f32(0x01) == 0x1p-16f);
    ck_assert(rk_e5m2_to_f32(0x03) == 3 * 0x1p-16f);
    ck_assert(isinf(rk_e5m2_to_f32(0x7C)) && isinf(rk_e5m2_to_f32(0xFC)) && rk_e5m2_to_f32(0xFC) < 0);
    ck_assert(isnan(rk_e5m2_to_f32(0x7D)) && isnan(rk_e5m2_to_f32(0x7E)) && isnan(rk_e5m2_to_f32(0xFF)));
    ck_assert_uint_eq(rk_f32_to_e5m2(bitsf(0x7FC00000u)), 0x7F);
    ck_assert_uint_eq(rk_f32_to_e5m2(bitsf(0xFFC00000u)), 0xFF);
}
END_TEST

/* ---- rounding: every tie between neighbouring codes, and its f32 neighbours --------------------- */

START_TEST(rne_ties) {
    const fmt *f = &FMTS[_i];
    char msg[256];
    size_t checked = 0;
    for (uint32_t c = 0; c <= f->max_code; c++) {
        double a = ref_value(f, c);
        double b = c == f->max_code ? 2 * ref_value(f, c) - ref_value(f, c - 1) : ref_value(f, c + 1);
        float mid = (float)((a + b) / 2);                    /* exact: one more bit than the format */
        EXPECT((double)mid == (a + b) / 2, "%s: midpoint not exact in f32", f->name);
        for (int s = 0; s < 2; s++) {
            float m = s ? -mid : mid;
            /* the tie itself goes to the even code (for the top: the even is the overflow code) */
            uint32_t got = f->enc(m) & (sign_bit(f) - 1);
            uint32_t want = (c & 1) ? c + 1 : c;
            if (c == f->max_code && (c & 1)) want = f->over_code;
            EXPECT(got == want, "%s: tie %a between 0x%x and next -> 0x%x, want 0x%x", f->name,
                          (double)m, c, got, want);
            /* just below / above the tie */
            EXPECT(!check_encode(f, nextafterf(m, 0.0f), msg, sizeof msg), "%s", msg);
            EXPECT(!check_encode(f, nextafterf(m, s ? -INFINITY : INFINITY), msg, sizeof msg), "%s", msg);
            EXPECT_EQ(f->enc(nextafterf(m, 0.0f)) & (sign_bit(f) - 1), c);
            checked++;
        }
    }
    ck_assert_uint_eq(checked, 2 * ((size_t)f->max_code + 1));
}
END_TEST

START_TEST(overflow_underflow) {
    /* F16: max 65504, the tie 65520 goes to inf */
    ck_assert_uint_eq(rk_f32_to_f16(65519.996f), 0x7BFF);
    ck_assert_uint_eq(rk_f32_to_f16(65520.0f), 0x7C00);
    ck_assert_uint_eq(rk_f32_to_f16(-65520.0f), 0xFC00);
    ck_assert_uint_eq(rk_f32_to_f16(1e10f), 0x7C00);
    ck_assert_uint_eq(rk_f32_to_f16(FLT_MAX), 0x7C00);
    ck_assert_uint_eq(rk_f32_to_f16(0x1p-25f), 0x0000);              /* tie with 0: even */
    ck_assert_uint_eq(rk_f32_to_f16(-0x1p-25f), 0x8000);
    ck_assert_uint_eq(rk_f32_to_f16(nextafterf(0x1p-25f, 1)), 0x0001);
    ck_assert_uint_eq(rk_f32_to_f16(3 * 0x1p-25f), 0x0002);          /* tie between 1 and 2 */
    ck_assert_uint_eq(rk_f32_to_f16(FLT_MIN), 0x0000);
    ck_assert_uint_eq(rk_f32_to_f16(bitsf(0x80000001u)), 0x8000);   /* f32 subnormal keeps sign */
    ck_assert_uint_eq(rk_f32_to_f16(0x1.FF8p-15f), 0x03FF);          /* largest subnormal */
    ck_assert_uint_eq(rk_f32_to_f16(0x1.FFCp-15f), 0x0400);          /* tie 0x3FF|0x400 -> min normal */
    /* BF16: max 0x1.FEp127; FLT_MAX lies past the tie */
    ck_assert_uint_eq(rk_f32_to_bf16(FLT_MAX), 0x7F80);
    ck_assert_uint_eq(rk_f32_to_bf16(bitsf(0x7F7F7FFFu)), 0x7F7F);
    ck_assert_uint_eq(rk_f32_to_bf16(bitsf(0x7F7F8000u)), 0x7F80);
    ck_assert_uint_eq(rk_f32_to_bf16(bitsf(0x00008000u)), 0x0000);   /* subnormal tie to even 0 */
    ck_assert_uint_eq(rk_f32_to_bf16(bitsf(0x00018000u)), 0x0002);
    ck_assert_uint_eq(rk_f32_to_bf16(bitsf(0x00000001u)), 0x0000);
    /* E4M3FN (torch semantics): no saturation; past 464 is NaN */
    ck_assert_uint_eq(rk_f32_to_e4m3(448.0f), 0x7E);
    ck_assert_uint_eq(rk_f32_to_e4m3(449.0f), 0x7E);
    ck_assert_uint_eq(rk_f32_to_e4m3(463.99997f), 0x7E);
    ck_assert_uint_eq(rk_f32_to_e4m3(464.0f), 0x7E);                 /* tie with the missing 480: even */
    ck_assert_uint_eq(rk_f32_to_e4m3(nextafterf(464.0f, 1000)), 0x7F);
    ck_assert_uint_eq(rk_f32_to_e4m3(470.0f), 0x7F);
    ck_assert_uint_eq(rk_f32_to_e4m3(480.0f), 0x7F);
    ck_assert_uint_eq(rk_f32_to_e4m3(1e6f), 0x7F);
    ck_assert_uint_eq(rk_f32_to_e4m3(FLT_MAX), 0x7F);
    ck_assert_uint_eq(rk_f32_to_e4m3(-500.0f), 0xFF);
    ck_assert_uint_eq(rk_f32_to_e4m3(INFINITY), 0x7F);
    ck_assert_uint_eq(rk_f32_to_e4m3(-INFINITY), 0xFF);
    ck_assert_uint_eq(rk_f32_to_e4m3(0x1p-10f), 0x00);               /* tie with 0 */
    ck_assert_uint_eq(rk_f32_to_e4m3(-0x1p-10f), 0x80);
    ck_assert_uint_eq(rk_f32_to_e4m3(nextafterf(0x1p-10f, 1)), 0x01);
    ck_assert_uint_eq(rk_f32_to_e4m3(3 * 0x1p-10f), 0x02);           /* tie 1|2 -> 2 */
    ck_assert_uint_eq(rk_f32_to_e4m3(15 * 0x1p-10f), 0x08);          /* tie 7|8 -> min normal */
    ck_assert_uint_eq(rk_f32_to_e4m3(FLT_MIN), 0x00);
    /* E5M2: max 57344, the tie 61440 goes to inf */
    ck_assert_uint_eq(rk_f32_to_e5m2(57344.0f), 0x7B);
    ck_assert_uint_eq(rk_f32_to_e5m2(61439.996f), 0x7B);
    ck_assert_uint_eq(rk_f32_to_e5m2(61440.0f), 0x7C);
    ck_assert_uint_eq(rk_f32_to_e5m2(-1e9f), 0xFC);
    ck_assert_uint_eq(rk_f32_to_e5m2(INFINITY), 0x7C);
    ck_assert_uint_eq(rk_f32_to_e5m2(0x1p-17f), 0x00);
    ck_assert_uint_eq(rk_f32_to_e5m2(nextafterf(0x1p-17f, 1)), 0x01);
    ck_assert_uint_eq(rk_f32_to_e5m2(7 * 0x1p-17f), 0x04);           /* tie 3|4 -> min normal */
}
END_TEST

/* Stratified sweep: every f32 exponent, both signs, random mantissas plus mantissas built to sit on or
 * next to the tie of each target precision (10, 7, 3, 2 mantissa bits). */
START_TEST(encode_sweep) {
    const fmt *f = &FMTS[_i];
    char msg[256];
    static const int MB[4] = {10, 7, 3, 2};
    size_t n = 0;
    for (uint32_t e = 0; e <= 255; e++)
        for (int k = 0; k < 1200; k++) {
            uint32_t m = rnd32() & 0x7FFFFFu;
            if (k >= 400) {   /* tie patterns for one of the precisions, and +-1 ulp */
                int drop = 23 - MB[k % 4];
                uint32_t low = 1u << (drop - 1);
                m = (m & ~((1u << drop) - 1)) | low;
                m += (uint32_t)((k / 4) % 3) - 1;
                m &= 0x7FFFFFu;
            }
            for (uint32_t s = 0; s < 2; s++) {
                float x = bitsf((s << 31) | (e << 23) | m);
                EXPECT(!check_encode(f, x, msg, sizeof msg), "%s", msg);
                n++;
            }
        }
    ck_assert_uint_eq(n, 256u * 1200u * 2u);
}
END_TEST

/* ---- bulk conversions vs the scalar reference ------------------------------------------------- */

START_TEST(convert_decode_vs_scalar) {
    /* all 16-bit patterns, through an unaligned source, lengths that leave SIMD tails */
    uint8_t *buf = malloc(2 * 65536 + 1);
    float *out = malloc(65536 * sizeof(float));
    ck_assert(buf && out);
    for (uint32_t c = 0; c < 65536; c++) { uint16_t h = (uint16_t)c; memcpy(buf + 1 + 2 * c, &h, 2); }
    static const int types[2] = {RK_DTYPE_F16, RK_DTYPE_BF16};
    static const size_t lens[4] = {65536, 65535, 7, 1};
    for (int t = 0; t < 2; t++)
        for (int l = 0; l < 4; l++) {
            memset(out, 0xAB, 65536 * sizeof(float));
            ck_assert_int_eq(rk_convert_to_f32(types[t], buf + 1, out, lens[l]), RK_OK);
            for (uint32_t c = 0; c < lens[l]; c++) {
                float want = t == 0 ? rk_f16_to_f32((uint16_t)c) : rk_bf16_to_f32((uint16_t)c);
                EXPECT(fbits(out[c]) == fbits(want), "%s 0x%x: bulk 0x%08x scalar 0x%08x",
                              t ? "bf16" : "f16", c, fbits(out[c]), fbits(want));
            }
            if (lens[l] < 65536) ck_assert_uint_eq(fbits(out[lens[l]]), 0xABABABABu);
        }
    /* FP8 tables */
    for (uint32_t c = 0; c < 256; c++) buf[c] = (uint8_t)c;
    ck_assert_int_eq(rk_convert_to_f32(RK_DTYPE_F8_E4M3, buf, out, 256), RK_OK);
    for (uint32_t c = 0; c < 256; c++) EXPECT_EQ(fbits(out[c]), fbits(rk_e4m3_to_f32((uint8_t)c)));
    ck_assert_int_eq(rk_convert_to_f32(RK_DTYPE_F8_E5M2, buf, out, 256), RK_OK);
    for (uint32_t c = 0; c < 256; c++) EXPECT_EQ(fbits(out[c]), fbits(rk_e5m2_to_f32((uint8_t)c)));
    ck_assert_int_eq(rk_convert_to_f32(RK_DTYPE_F8_E8M0, buf, out, 256), RK_OK);
    for (uint32_t c = 0; c < 255; c++) EXPECT(out[c] == ldexpf(1.0f, (int)c - 127), "e8m0 %u", c);
    ck_assert(isnan(out[255]));
    free(buf);
    free(out);
}
END_TEST

START_TEST(convert_encode_vs_scalar) {
    /* the sweep inputs plus specials, through bulk paths (F16C where present), unaligned dst */
    enum { N = 200003 };
    float *x = malloc(N * sizeof(float));
    uint8_t *d = malloc(2 * N + 1);
    ck_assert(x && d);
    for (size_t i = 0; i < N; i++) x[i] = bitsf(rnd32());
    static const float sp[] = {0.0f, -0.0f, 65520.0f, 65519.996f, 0x1p-25f, 3 * 0x1p-25f, 464.0f, 61440.0f,
                               INFINITY, -INFINITY, NAN, -NAN, FLT_MAX, FLT_MIN, 0x1p-149f};
    memcpy(x, sp, sizeof sp);
    for (size_t i = 0; i < 4096; i++) x[100 + i] = bitsf(rnd32() & 0x7FFFE000u);   /* f16 ties-ish */
    for (size_t i = 0; i < 4096; i++) x[5000 + i] = bitsf(0x7F800000u | (rnd32() & 0x807FFFFFu)); /* NaNs, sNaNs */
    static const size_t lens[3] = {N, N - 1, 5};
    for (int l = 0; l < 3; l++) {
        size_t n = lens[l];
        ck_assert_int_eq(rk_convert_from_f32(RK_DTYPE_F16, x, d + 1, n), RK_OK);
        for (size_t i = 0; i < n; i++) {
            uint16_t h; memcpy(&h, d + 1 + 2 * i, 2);
            EXPECT(h == rk_f32_to_f16(x[i]), "f16 %zu: 0x%08x bulk 0x%04x scalar 0x%04x", i,
                          fbits(x[i]), h, rk_f32_to_f16(x[i]));
        }
        ck_assert_int_eq(rk_convert_from_f32(RK_DTYPE_BF16, x, d + 1, n), RK_OK);
        for (size_t i = 0; i < n; i++) {
            uint16_t h; memcpy(&h, d + 1 + 2 * i, 2);
            EXPECT_EQ(h, rk_f32_to_bf16(x[i]));
        }
        ck_assert_int_eq(rk_convert_from_f32(RK_DTYPE_F8_E4M3, x, d + 1, n), RK_OK);
        for (size_t i = 0; i < n; i++) EXPECT_EQ(d[1 + i], rk_f32_to_e4m3(x[i]));
        ck_assert_int_eq(rk_convert_from_f32(RK_DTYPE_F8_E5M2, x, d + 1, n), RK_OK);
        for (size_t i = 0; i < n; i++) EXPECT_EQ(d[1 + i], rk_f32_to_e5m2(x[i]));
    }
    ck_assert_int_eq(rk_convert_from_f32(RK_DTYPE_F32, x, d + 1, 1000), RK_OK);
    ck_assert_int_eq(memcmp(d + 1, x, 1000 * sizeof(float)), 0);
    free(x);
    free(d);
}
END_TEST

START_TEST(convert_other_types) {
    float out[8];
    const int8_t i8[4] = {-128, -1, 0, 127};
    ck_assert_int_eq(rk_convert_to_f32(RK_DTYPE_I8, i8, out, 4), RK_OK);
    ck_assert(out[0] == -128.0f && out[1] == -1.0f && out[2] == 0.0f && out[3] == 127.0f);
    const uint8_t u8[3] = {0, 1, 255}, b8[3] = {0, 1, 7};
    ck_assert_int_eq(rk_convert_to_f32(RK_DTYPE_U8, u8, out, 3), RK_OK);
    ck_assert(out[2] == 255.0f);
    ck_assert_int_eq(rk_convert_to_f32(RK_DTYPE_BOOL, b8, out, 3), RK_OK);
    ck_assert(out[0] == 0.0f && out[1] == 1.0f && out[2] == 1.0f);
    /* unaligned multi-byte integers, rounding of large values to nearest-even f32 */
    uint8_t raw[1 + 8 * 4];
    const int16_t i16[3] = {-32768, 12345, 32767};
    memcpy(raw + 1, i16, sizeof i16);
    ck_assert_int_eq(rk_convert_to_f32(RK_DTYPE_I16, raw + 1, out, 3), RK_OK);
    ck_assert(out[0] == -32768.0f && out[1] == 12345.0f && out[2] == 32767.0f);
    const uint16_t u16[2] = {0, 65535};
    memcpy(raw + 1, u16, sizeof u16);
    ck_assert_int_eq(rk_convert_to_f32(RK_DTYPE_U16, raw + 1, out, 2), RK_OK);
    ck_assert(out[1] == 65535.0f);
    const int32_t i32[3] = {INT32_MIN, 16777217, -16777219};          /* 2^24+1 ties to 2^24 */
    memcpy(raw + 1, i32, sizeof i32);
    ck_assert_int_eq(rk_convert_to_f32(RK_DTYPE_I32, raw + 1, out, 3), RK_OK);
    ck_assert(out[0] == -0x1p31f && out[1] == 16777216.0f && out[2] == -16777220.0f);
    const uint32_t u32[1] = {UINT32_MAX};
    memcpy(raw + 1, u32, sizeof u32);
    ck_assert_int_eq(rk_convert_to_f32(RK_DTYPE_U32, raw + 1, out, 1), RK_OK);
    ck_assert(out[0] == 0x1p32f);
    const int64_t i64[2] = {INT64_MIN, 3};
    memcpy(raw + 1, i64, sizeof i64);
    ck_assert_int_eq(rk_convert_to_f32(RK_DTYPE_I64, raw + 1, out, 2), RK_OK);
    ck_assert(out[0] == -0x1p63f && out[1] == 3.0f);
    const uint64_t u64[2] = {UINT64_MAX, 1};
    memcpy(raw + 1, u64, sizeof u64);
    ck_assert_int_eq(rk_convert_to_f32(RK_DTYPE_U64, raw + 1, out, 2), RK_OK);
    ck_assert(out[0] == 0x1p64f && out[1] == 1.0f);
    const double f64[4] = {0.1, 1e300, -NAN, 0x1.000001p0};          /* last one: tie -> even 1.0 */
    memcpy(raw + 1, f64, sizeof f64);
    ck_assert_int_eq(rk_convert_to_f32(RK_DTYPE_F64, raw + 1, out, 4), RK_OK);
    ck_assert(out[0] == 0.1f && isinf(out[1]) && isnan(out[2]) && out[3] == 1.0f);
    const float f32[2] = {1.5f, -2.0f};
    memcpy(raw + 1, f32, sizeof f32);
    ck_assert_int_eq(rk_convert_to_f32(RK_DTYPE_F32, raw + 1, out, 2), RK_OK);
    ck_assert(out[0] == 1.5f && out[1] == -2.0f);
    /* errors */
    static const int unsupported[] = {RK_DTYPE_Q4_K, RK_DTYPE_Q8_0, RK_DTYPE_F4, RK_DTYPE_F6_E2M3, RK_DTYPE_MXFP4,
                                      RK_DTYPE_LIMIT, -1, 4};
    for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++) {
        ck_assert_int_eq(rk_convert_to_f32(unsupported[i], raw, out, 1), RK_EUNSUPPORTED);
        ck_assert_int_eq(rk_convert_from_f32(unsupported[i], out, raw, 1), RK_EUNSUPPORTED);
    }
    ck_assert_int_eq(rk_convert_from_f32(RK_DTYPE_I32, out, raw, 1), RK_EUNSUPPORTED);
    ck_assert_int_eq(rk_convert_from_f32(RK_DTYPE_F64, out, raw, 1), RK_EUNSUPPORTED);
    ck_assert_int_eq(rk_convert_to_f32(RK_DTYPE_F16, NULL, out, 1), RK_EINVAL);
    ck_assert_int_eq(rk_convert_to_f32(RK_DTYPE_F16, raw, NULL, 1), RK_EINVAL);
    ck_assert_int_eq(rk_convert_from_f32(RK_DTYPE_F16, NULL, raw, 1), RK_EINVAL);
    ck_assert_int_eq(rk_convert_to_f32(RK_DTYPE_F16, NULL, NULL, 0), RK_OK);
    ck_assert_int_eq(rk_convert_from_f32(RK_DTYPE_BF16, NULL, NULL, 0), RK_OK);
}
END_TEST

/* ---- FP8 block scaling ------------------------------------------------------------------------ */

static const int64_t DIMS[] = {1, 127, 128, 129, 300};
#define NDIMS ((int)(sizeof DIMS / sizeof DIMS[0]))

static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* Naive definition: every element times its block's scale, decoded one at a time. */
static void naive_dequant(const uint8_t *w, const float *s, int64_t rows, int64_t cols, int64_t B, float *out) {
    int64_t sc = cdiv(cols, B);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++)
            out[r * cols + c] = rk_e4m3_to_f32(w[r * cols + c]) * s[(r / B) * sc + c / B];
}

START_TEST(block_dequant_vs_naive) {
    static const int64_t blocks[] = {128, 1, 7, 64, 1000};
    size_t combos = 0;
    for (size_t bi = 0; bi < sizeof blocks / sizeof blocks[0]; bi++)
        for (int ri = 0; ri < NDIMS; ri++)
            for (int ci = 0; ci < NDIMS; ci++) {
                int64_t rows = DIMS[ri], cols = DIMS[ci], B = blocks[bi];
                size_t n = (size_t)(rows * cols), ns = (size_t)(cdiv(rows, B) * cdiv(cols, B));
                uint8_t *w = malloc(n);
                float *s = malloc(ns * sizeof(float)), *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float));
                ck_assert(w && s && a && b);
                for (size_t i = 0; i < n; i++) w[i] = (uint8_t)rnd32();   /* all codes, NaN included */
                for (size_t i = 0; i < ns; i++)
                    s[i] = ldexpf(1.0f + rnd_unit(), (int)(rnd32() % 40) - 30) * ((rnd32() & 7) ? 1.0f : -1.0f);
                if (ns > 1) s[ns - 1] = 0x1p-140f;                 /* a subnormal-producing scale */
                memset(a, 0, n * sizeof(float));
                rk_fp8_block_dequant(w, s, rows, cols, B, a);
                naive_dequant(w, s, rows, cols, B, b);
                for (size_t i = 0; i < n; i++)
                    EXPECT(fbits(a[i]) == fbits(b[i]) || (isnan(a[i]) && isnan(b[i])),
                                  "dequant %ldx%ld B=%ld at %zu: %a vs naive %a", (long)rows, (long)cols,
                                  (long)B, i, (double)a[i], (double)b[i]);
                free(w); free(s); free(a); free(b);
                combos++;
            }
    ck_assert_uint_eq(combos, 5u * NDIMS * NDIMS);
    /* degenerate arguments do nothing */
    float out = 42.0f;
    uint8_t w0 = 0x38;
    float s0 = 2.0f;
    rk_fp8_block_dequant(&w0, &s0, 1, 1, 0, &out);
    rk_fp8_block_dequant(&w0, &s0, 0, 1, 128, &out);
    rk_fp8_block_dequant(&w0, &s0, 1, -1, 128, &out);
    ck_assert(out == 42.0f);
    rk_fp8_block_dequant(&w0, &s0, 1, 1, 128, &out);
    ck_assert(out == 2.0f);
}
END_TEST

/* Per-block magnitude varies over many binades; some blocks are all zero or hold non-finite values. */
static void fill_blocks(float *x, int64_t rows, int64_t cols, int64_t B) {
    int64_t sc = cdiv(cols, B);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) {
            int64_t blk = (r / B) * sc + c / B;
            float mag = ldexpf(1.0f, (int)(blk * 7 % 50) - 30);
            float v = (rnd_unit() * 2 - 1) * mag;
            if (blk % 5 == 3) v = 0.0f;                            /* all-zero block */
            x[r * cols + c] = v;
        }
}

START_TEST(block_quant_roundtrip) {
    const int64_t B = 128;
    for (int ri = 0; ri < NDIMS; ri++)
        for (int ci = 0; ci < NDIMS; ci++) {
            int64_t rows = DIMS[ri], cols = DIMS[ci], sc = cdiv(cols, B), sr = cdiv(rows, B);
            size_t n = (size_t)(rows * cols), ns = (size_t)(sr * sc);
            float *x = malloc(n * sizeof(float)), *s = malloc(ns * sizeof(float)), *y = malloc(n * sizeof(float));
            uint8_t *w = malloc(n);
            ck_assert(x && s && y && w);
            fill_blocks(x, rows, cols, B);
            rk_fp8_block_quant(x, rows, cols, B, w, s);
            rk_fp8_block_dequant(w, s, rows, cols, B, y);
            float *amax = calloc(ns, sizeof(float));
            ck_assert(amax);
            for (int64_t r = 0; r < rows; r++)
                for (int64_t c = 0; c < cols; c++)
                    amax[(r / B) * sc + c / B] = fmaxf(amax[(r / B) * sc + c / B], fabsf(x[r * cols + c]));
            for (int64_t r = 0; r < rows; r++)
                for (int64_t c = 0; c < cols; c++) {
                    size_t i = (size_t)(r * cols + c);
                    int64_t blk = (r / B) * sc + c / B;
                    float want_s = amax[blk] > 0 ? amax[blk] / 448.0f : 1.0f;
                    EXPECT(s[blk] == want_s, "scale of block %ld: %a, want %a", (long)blk,
                                  (double)s[blk], (double)want_s);
                    EXPECT((w[i] & 0x7F) != 0x7F, "finite input became NaN at %zu", i);
                    EXPECT(fabsf(rk_e4m3_to_f32(w[i])) <= 448.0f, "code 0x%02x at %zu", w[i], i);
                    /* e4m3 keeps 3 mantissa bits: error <= half an ulp, 2^-4 relative for normals,
                     * 2^-10 * scale absolute in the subnormal range; plus the f32 rounding of x/s and q*s */
                    double err = fabs((double)y[i] - (double)x[i]);
                    double bound = (fabs((double)x[i]) * 0x1p-4 + (double)s[blk] * 0x1p-10) * (1 + 1e-6);
                    EXPECT(err <= bound, "quant error at %zu: x %a y %a err %g > %g", i, (double)x[i],
                                  (double)y[i], err, bound);
                    if (x[i] == 0) EXPECT(w[i] == 0 || w[i] == 0x80, "zero at %zu -> 0x%02x", i, w[i]);
                    if (amax[blk] > 0 && fabsf(x[i]) == amax[blk]) EXPECT_EQ(w[i] & 0x7F, 0x7E);
                }
            free(amax);
            free(x); free(s); free(y); free(w);
        }
}
END_TEST

START_TEST(block_quant_exact_grid) {
    /* values on the e4m3 grid times a power-of-two scale, each block holding 448: quant recovers codes
     * and scales exactly, and dequant reproduces the input bit for bit */
    const int64_t rows = 300, cols = 129, B = 128, sc = 2, sr = 3;
    uint8_t *w = malloc(rows * cols), *w2 = malloc(rows * cols);
    float *s = malloc(sr * sc * sizeof(float)), *s2 = malloc(sr * sc * sizeof(float));
    float *x = malloc(rows * cols * sizeof(float)), *y = malloc(rows * cols * sizeof(float));
    ck_assert(w && w2 && s && s2 && x && y);
    for (int64_t i = 0; i < rows * cols; i++) {
        uint8_t c = (uint8_t)rnd32();
        if ((c & 0x7F) == 0x7F) c ^= 1;                            /* no NaN codes */
        w[i] = c;
    }
    for (int64_t rb = 0; rb < sr; rb++)
        for (int64_t cb = 0; cb < sc; cb++) {
            s[rb * sc + cb] = ldexpf(1.0f, (int)(rb * 5 - cb * 13));
            w[(rb * B) * cols + cb * B] = (rb + cb) & 1 ? 0x7E : 0xFE;   /* block amax = 448 * scale */
        }
    rk_fp8_block_dequant(w, s, rows, cols, B, x);
    rk_fp8_block_quant(x, rows, cols, B, w2, s2);
    ck_assert_int_eq(memcmp(s, s2, sr * sc * sizeof(float)), 0);
    for (int64_t i = 0; i < rows * cols; i++) {
        EXPECT(w[i] == w2[i], "code %ld: 0x%02x -> 0x%02x", (long)i, w[i], w2[i]);
    }
    rk_fp8_block_dequant(w2, s2, rows, cols, B, y);
    ck_assert_int_eq(memcmp(x, y, rows * cols * sizeof(float)), 0);
    free(w); free(w2); free(s); free(s2); free(x); free(y);
}
END_TEST

START_TEST(block_quant_edge_values) {
    /* one 2x3 matrix, block 2 -> blocks [2x2][2x1] */
    float x[6] = {1.0f, NAN, -3.0f, INFINITY, 0.5f, 0.0f};
    uint8_t w[6];
    float s[2];
    rk_fp8_block_quant(x, 2, 3, 2, w, s);
    ck_assert(s[0] == 1.0f / 448.0f);                              /* amax over finite values = 1 */
    ck_assert_uint_eq(w[0], 0x7E);
    ck_assert_uint_eq(w[1] & 0x7F, 0x7F);                          /* NaN -> NaN */
    ck_assert_uint_eq(w[3], 0x7F);                                 /* inf -> NaN */
    ck_assert(rk_e4m3_to_f32(w[4]) == 224.0f);
    ck_assert(s[1] == 3.0f / 448.0f);
    ck_assert_uint_eq(w[2], 0xFE);
    ck_assert_uint_eq(w[5], 0x00);
    /* all-zero and all-NaN blocks get scale 1 */
    float z[4] = {0.0f, -0.0f, NAN, NAN};
    uint8_t wz[4];
    float zs[2];
    rk_fp8_block_quant(z, 1, 4, 2, wz, zs);
    ck_assert(zs[0] == 1.0f && zs[1] == 1.0f);
    ck_assert_uint_eq(wz[0], 0x00);
    ck_assert_uint_eq(wz[1], 0x80);
    /* subnormal amax: amax/448 rounds down in the subnormal range; the scale is nudged up so the
     * largest value still encodes finitely */
    for (uint32_t k = 1; k < 5000; k += 7) {
        float t[2] = {bitsf(k), -bitsf(k / 2)};
        uint8_t wt[2];
        float st;
        rk_fp8_block_quant(t, 1, 2, 128, wt, &st);
        EXPECT(st > 0 && t[0] / st <= 464.0f, "k=%u scale %a", k, (double)st);
        EXPECT((wt[0] & 0x7F) != 0x7F && (wt[1] & 0x7F) != 0x7F, "k=%u NaN code", k);
    }
    /* FLT_MAX does not overflow the scale */
    float big[2] = {FLT_MAX, -FLT_MAX / 2};
    uint8_t wb[2];
    float sb;
    rk_fp8_block_quant(big, 1, 2, 128, wb, &sb);
    ck_assert(isfinite(sb));
    ck_assert_uint_eq(wb[0], 0x7E);
}
END_TEST

Suite *make_suite(void) {
    Suite *s = suite_create("formats");
    TCase *tc = tcase_create("decode");
    tcase_add_loop_test(tc, decode_exhaustive, 0, 4);
    tcase_add_test(tc, special_values);
    suite_add_tcase(s, tc);
    tc = tcase_create("encode");
    tcase_add_loop_test(tc, rne_ties, 0, 4);
    tcase_add_test(tc, overflow_underflow);
    tcase_add_loop_test(tc, encode_sweep, 0, 4);
    suite_add_tcase(s, tc);
    tc = tcase_create("ref_vs_opt");
    tcase_add_test(tc, convert_decode_vs_scalar);
    tcase_add_test(tc, convert_encode_vs_scalar);
    tcase_add_test(tc, convert_other_types);
    suite_add_tcase(s, tc);
    tc = tcase_create("fp8_block");
    tcase_add_test(tc, block_dequant_vs_naive);
    tcase_add_test(tc, block_quant_roundtrip);
    tcase_add_test(tc, block_quant_exact_grid);
    tcase_add_test(tc, block_quant_edge_values);
    suite_add_tcase(s, tc);
    return s;
}

RK_TEST_MAIN()
