/* tests/quantize/test_recipe.c — the per-tensor type decision (quantize/recipe.h): every recipe on DeepSeek-V3
 * (R1's real shapes and tiny ones) and llama tensors, the kept-F32 rule, llama.cpp's shape fallbacks, overrides
 * (first match wins, refused when the type cannot hold the rows), and the errors for bad recipes/regexes/types. */
#include <string.h>

#include "tests/common/rk_test.h"
#include "quantize/recipe.h"

static rk_hf_config g_ds, g_ll;

static void setup(void) {
    memset(&g_ds, 0, sizeof g_ds);
    g_ds.arch = RK_HF_ARCH_DEEPSEEK2, g_ds.num_hidden_layers = 61, g_ds.hidden_size = 7168, g_ds.n_routed_experts = 256;
    memset(&g_ll, 0, sizeof g_ll);
    g_ll.arch = RK_HF_ARCH_LLAMA, g_ll.num_hidden_layers = 32, g_ll.hidden_size = 4096;
}

typedef struct tcase {
    const char *name;
    uint32_t n_dims;
    int64_t ne[4];
    int want[RK_RECIPE_COUNT];   /* q8_0, q4, q2-moe, tq2-moe */
    int fell_back[RK_RECIPE_COUNT];
} tcase;

#define F32 RK_DTYPE_F32
#define Q80 RK_DTYPE_Q8_0
#define Q4K RK_DTYPE_Q4_K
#define Q6K RK_DTYPE_Q6_K
#define Q2K RK_DTYPE_Q2_K
#define TQ2 RK_DTYPE_TQ2_0

static void check_cases(const rk_hf_config *cfg, const tcase *tc, size_t n) {
    for (int id = 0; id < 4; id++) {   /* the tables' columns; q2 has its own test */
        rk_recipe r;
        rk_err err;
        ck_assert_int_eq(rk_recipe_init(&r, rk_recipe_name(id), &err), 0);
        for (size_t i = 0; i < n; i++) {
            rk_qdecision d;
            ck_assert_msg(rk_recipe_decide(&r, cfg, tc[i].name, tc[i].n_dims, tc[i].ne, &d, &err) == 0, "%s", err.msg);
            ck_assert_msg(d.type == tc[i].want[id], "recipe %s, %s: got %s, want %s", rk_recipe_name(id), tc[i].name,
                          rk_dtype_name(d.type), rk_dtype_name(tc[i].want[id]));
            ck_assert_msg(d.fell_back == tc[i].fell_back[id], "recipe %s, %s: fell_back %d", rk_recipe_name(id), tc[i].name,
                          d.fell_back);
            ck_assert(!d.overridden && d.override_index == -1);
        }
        rk_recipe_free(&r);
    }
}

START_TEST(deepseek_r1_shapes) {
    static const tcase tc[] = {
        { "token_embd.weight", 2, { 7168, 129280 }, { Q80, Q4K, Q4K, Q4K }, { 0 } },
        { "output.weight", 2, { 7168, 129280 }, { Q80, Q6K, Q6K, Q6K }, { 0 } },
        { "output_norm.weight", 1, { 7168 }, { F32, F32, F32, F32 }, { 0 } },
        { "blk.0.attn_norm.weight", 1, { 7168 }, { F32, F32, F32, F32 }, { 0 } },
        { "blk.0.attn_q_a.weight", 2, { 7168, 1536 }, { Q80, Q4K, Q4K, Q4K }, { 0 } },
        { "blk.0.attn_q_a_norm.weight", 1, { 1536 }, { F32, F32, F32, F32 }, { 0 } },
        { "blk.0.attn_q_b.weight", 2, { 1536, 24576 }, { Q80, Q4K, Q4K, Q4K }, { 0 } },
        { "blk.0.attn_kv_a_mqa.weight", 2, { 7168, 576 }, { Q80, Q4K, Q4K, Q4K }, { 0 } },
        /* attn_k_b rows are qk_nope = 128: Q4_K falls back to Q5_0 (llama.cpp does the same) */
        { "blk.0.attn_k_b.weight", 3, { 128, 512, 128 }, { Q80, RK_DTYPE_Q5_0, RK_DTYPE_Q5_0, RK_DTYPE_Q5_0 }, { 0, 1, 1, 1 } },
        { "blk.0.attn_v_b.weight", 3, { 512, 128, 128 }, { Q80, Q4K, Q4K, Q4K }, { 0 } },
        { "blk.0.attn_output.weight", 2, { 16384, 7168 }, { Q80, Q4K, Q4K, Q4K }, { 0 } },
        { "blk.0.ffn_gate.weight", 2, { 7168, 18432 }, { Q80, Q4K, Q4K, Q4K }, { 0 } },
        { "blk.0.ffn_down.weight", 2, { 18432, 7168 }, { Q80, Q4K, Q4K, Q4K }, { 0 } },
        { "blk.3.ffn_gate_inp.weight", 2, { 7168, 256 }, { F32, F32, F32, F32 }, { 0 } },
        { "blk.3.exp_probs_b.bias", 1, { 256 }, { F32, F32, F32, F32 }, { 0 } },
        { "blk.3.ffn_gate_exps.weight", 3, { 7168, 2048, 256 }, { Q80, Q4K, Q2K, TQ2 }, { 0 } },
        { "blk.3.ffn_up_exps.weight", 3, { 7168, 2048, 256 }, { Q80, Q4K, Q2K, TQ2 }, { 0 } },
        { "blk.3.ffn_down_exps.weight", 3, { 2048, 7168, 256 }, { Q80, Q4K, Q2K, TQ2 }, { 0 } },
        { "blk.3.ffn_gate_shexp.weight", 2, { 7168, 2048 }, { Q80, Q4K, Q4K, Q4K }, { 0 } },
        { "blk.3.ffn_down_shexp.weight", 2, { 2048, 7168 }, { Q80, Q4K, Q4K, Q4K }, { 0 } },
    };
    check_cases(&g_ds, tc, sizeof tc / sizeof tc[0]);
    check_cases(NULL, tc, sizeof tc / sizeof tc[0]);   /* no rule needs the config yet */
}
END_TEST

/* q2: uniform Q2_K with a Q6_K output, the shape fallbacks and kept tensors as every recipe */
START_TEST(uniform_q2) {
    static const struct { const char *name; uint32_t n_dims; int64_t ne[4]; int want; } tc[] = {
        { "token_embd.weight", 2, { 7168, 129280 }, Q2K },
        { "output.weight", 2, { 7168, 129280 }, Q6K },
        { "blk.0.attn_q_b.weight", 2, { 1536, 24576 }, Q2K },
        { "blk.0.attn_k_b.weight", 3, { 128, 512, 128 }, RK_DTYPE_Q4_0 },
        { "blk.3.ffn_gate_inp.weight", 2, { 7168, 256 }, F32 },
        { "blk.3.ffn_down_exps.weight", 3, { 2048, 7168, 256 }, Q2K },
        { "blk.3.ffn_down.7.weight", 2, { 2048, 7168 }, Q2K },
        { "blk.3.ffn_down_shexp.weight", 2, { 2048, 7168 }, Q2K },
    };
    rk_recipe r;
    rk_err err;
    ck_assert_int_eq(rk_recipe_init(&r, "Q2", &err), 0);
    ck_assert_int_eq(r.id, RK_RECIPE_Q2);
    ck_assert_uint_eq(rk_recipe_file_type(RK_RECIPE_Q2), 10);
    for (size_t i = 0; i < sizeof tc / sizeof tc[0]; i++) {
        rk_qdecision d;
        ck_assert_int_eq(rk_recipe_decide(&r, &g_ds, tc[i].name, tc[i].n_dims, tc[i].ne, &d, &err), 0);
        ck_assert_msg(d.type == tc[i].want, "%s: %s", tc[i].name, rk_dtype_name(d.type));
    }
    rk_recipe_free(&r);
    /* per-expert names are routed experts */
    int64_t il, e;
    int pr;
    ck_assert_int_eq(rk_recipe_class("blk.3.ffn_up.12.weight", 2), RK_QCLASS_EXPERTS);
    ck_assert_int_eq(rk_recipe_expert_of("blk.3.ffn_up.12.weight", &il, &pr, &e), 1);
    ck_assert(il == 3 && pr == 1 && e == 12);
    ck_assert_int_eq(rk_recipe_expert_of("blk.3.ffn_down_exps.weight", &il, &pr, &e), 1);
    ck_assert(il == 3 && pr == 2 && e == -1);
    ck_assert_int_eq(rk_recipe_expert_of("blk.3.ffn_up.weight", &il, &pr, &e), 0);
    ck_assert_int_eq(rk_recipe_expert_of("blk.3.ffn_side.2.weight", &il, &pr, &e), 0);
    ck_assert_int_eq(rk_recipe_expert_of("blk.3.ffn_up.2.weightx", &il, &pr, &e), 0);
    ck_assert_int_eq(rk_recipe_file_type_of(RK_DTYPE_Q4_K), 14);
    ck_assert_int_eq(rk_recipe_file_type_of(RK_DTYPE_TQ2_0), 37);
}
END_TEST

START_TEST(fallbacks) {
    static const tcase tc[] = {
        /* rows of 128: Q2_K/TQ2_0 -> Q4_0, Q4_K -> Q5_0, Q6_K -> Q8_0 (llama.cpp's tensor_type_fallback) */
        { "blk.1.ffn_down_exps.weight", 3, { 128, 256, 8 }, { Q80, RK_DTYPE_Q5_0, RK_DTYPE_Q4_0, RK_DTYPE_Q4_0 }, { 0, 1, 1, 1 } },
        { "output.weight", 2, { 128, 267 }, { Q80, Q80, Q80, Q80 }, { 0, 1, 1, 1 } },
        { "blk.0.attn_k_b.weight", 3, { 32, 128, 4 }, { Q80, RK_DTYPE_Q5_0, RK_DTYPE_Q5_0, RK_DTYPE_Q5_0 }, { 0, 1, 1, 1 } },
        /* rows of 48: no 32-wide type fits either -> F16 */
        { "blk.0.attn_q_b.weight", 2, { 48, 96 }, { RK_DTYPE_F16, RK_DTYPE_F16, RK_DTYPE_F16, RK_DTYPE_F16 }, { 1, 1, 1, 1 } },
        { "blk.1.ffn_up_exps.weight", 3, { 48, 96, 8 }, { RK_DTYPE_F16, RK_DTYPE_F16, RK_DTYPE_F16, RK_DTYPE_F16 }, { 1, 1, 1, 1 } },
        /* tiny sample's rows of 256 need no fallback */
        { "blk.1.ffn_gate_exps.weight", 3, { 256, 128, 8 }, { Q80, Q4K, Q2K, TQ2 }, { 0 } },
    };
    check_cases(&g_ds, tc, sizeof tc / sizeof tc[0]);
    rk_recipe r;
    rk_err err;
    rk_qdecision d;
    ck_assert_int_eq(rk_recipe_init(&r, "q2-moe", &err), 0);
    const int64_t ne[3] = { 128, 256, 8 };
    ck_assert_int_eq(rk_recipe_decide(&r, &g_ds, "blk.1.ffn_down_exps.weight", 3, ne, &d, &err), 0);
    ck_assert_int_eq(d.recipe_type, Q2K);
    ck_assert_int_eq(d.cls, RK_QCLASS_EXPERTS);
    rk_recipe_free(&r);
}
END_TEST

START_TEST(llama_dense) {
    static const tcase tc[] = {
        { "token_embd.weight", 2, { 4096, 128256 }, { Q80, Q4K, Q4K, Q4K }, { 0 } },
        { "rope_freqs.weight", 1, { 64 }, { F32, F32, F32, F32 }, { 0 } },
        { "blk.0.attn_q.weight", 2, { 4096, 4096 }, { Q80, Q4K, Q4K, Q4K }, { 0 } },
        { "blk.0.attn_q.bias", 1, { 4096 }, { F32, F32, F32, F32 }, { 0 } },
        { "blk.0.attn_k.weight", 2, { 4096, 1024 }, { Q80, Q4K, Q4K, Q4K }, { 0 } },
        { "blk.0.attn_v.weight", 2, { 4096, 1024 }, { Q80, Q4K, Q4K, Q4K }, { 0 } },
        { "blk.0.ffn_down.weight", 2, { 14336, 4096 }, { Q80, Q4K, Q4K, Q4K }, { 0 } },
        { "blk.31.ffn_up.weight", 2, { 4096, 14336 }, { Q80, Q4K, Q4K, Q4K }, { 0 } },
        { "output.weight", 2, { 4096, 128256 }, { Q80, Q6K, Q6K, Q6K }, { 0 } },
        /* qwen2-1.5B rows of 1536 = 6 x 256, 8960 = 35 x 256 */
        { "blk.0.ffn_down.weight", 2, { 8960, 1536 }, { Q80, Q4K, Q4K, Q4K }, { 0 } },
    };
    check_cases(&g_ll, tc, sizeof tc / sizeof tc[0]);
}
END_TEST

START_TEST(classes_and_ftypes) {
    ck_assert_int_eq(rk_recipe_class("blk.2.ffn_gate_exps.weight", 3), RK_QCLASS_EXPERTS);
    ck_assert_int_eq(rk_recipe_class("blk.2.ffn_up_shexp.weight", 2), RK_QCLASS_SHARED);
    ck_assert_int_eq(rk_recipe_class("blk.2.ffn_up.weight", 2), RK_QCLASS_FFN);
    ck_assert_int_eq(rk_recipe_class("blk.2.attn_kv_a_mqa.weight", 2), RK_QCLASS_ATTN);
    ck_assert_int_eq(rk_recipe_class("blk.2.attn_kv_a_norm.weight", 1), RK_QCLASS_KEEP);
    ck_assert_int_eq(rk_recipe_class("blk.2.ffn_gate_inp.weight", 2), RK_QCLASS_KEEP);
    ck_assert_int_eq(rk_recipe_class("blk.2.attn_q.bias", 1), RK_QCLASS_KEEP);
    ck_assert_int_eq(rk_recipe_class("token_embd.weight", 2), RK_QCLASS_TOKEN_EMBD);
    ck_assert_int_eq(rk_recipe_class("output.weight", 2), RK_QCLASS_OUTPUT);
    ck_assert_int_eq(rk_recipe_class("something.weight", 2), RK_QCLASS_OTHER);
    ck_assert_uint_eq(rk_recipe_file_type(RK_RECIPE_Q8_0), 7);
    ck_assert_uint_eq(rk_recipe_file_type(RK_RECIPE_Q4), 14);
    ck_assert_uint_eq(rk_recipe_file_type(RK_RECIPE_Q2_MOE), 10);
    ck_assert_uint_eq(rk_recipe_file_type(RK_RECIPE_TQ2_MOE), 37);
    rk_recipe r;
    rk_err err;
    ck_assert_int_eq(rk_recipe_init(&r, "TQ2-MoE", &err), 0);
    ck_assert_int_eq(r.id, RK_RECIPE_TQ2_MOE);
    rk_recipe_free(&r);
    ck_assert_int_eq(rk_recipe_type_from_name("Q4_K"), RK_DTYPE_Q4_K);
    ck_assert_int_eq(rk_recipe_type_from_name("tq2_0"), RK_DTYPE_TQ2_0);
    ck_assert_int_eq(rk_recipe_type_from_name("iq2_xxs"), RK_DTYPE_INVALID);
    char b[16];
    ck_assert_str_eq(rk_recipe_type_name(RK_DTYPE_Q6_K, b, sizeof b), "q6_k");
}
END_TEST

START_TEST(overrides) {
    rk_recipe r;
    rk_err err;
    rk_qdecision d;
    ck_assert_int_eq(rk_recipe_init(&r, "q2-moe", &err), 0);
    ck_assert_int_eq(rk_recipe_add_override(&r, "blk\\.3\\..*_exps=q8_0", &err), 0);   /* first match wins */
    ck_assert_int_eq(rk_recipe_add_override(&r, "ffn_down_exps=q3_k", &err), 0);
    ck_assert_int_eq(rk_recipe_add_override(&r, "norm=q8_0", &err), 0);                 /* never applies to 1-D */
    ck_assert_int_eq(rk_recipe_add_override(&r, "^output\\.weight$=bf16", &err), 0);
    ck_assert_int_eq(rk_recipe_add_override(&r, "attn_k_b=q4_k", &err), 0);
    const int64_t exps[3] = { 7168, 2048, 256 }, down[3] = { 2048, 7168, 256 }, norm[1] = { 7168 }, out[2] = { 7168, 129280 };
    ck_assert_int_eq(rk_recipe_decide(&r, &g_ds, "blk.3.ffn_down_exps.weight", 3, down, &d, &err), 0);
    ck_assert(d.type == Q80 && d.overridden && d.override_index == 0 && d.recipe_type == Q2K);
    ck_assert_int_eq(rk_recipe_decide(&r, &g_ds, "blk.4.ffn_down_exps.weight", 3, down, &d, &err), 0);
    ck_assert(d.type == RK_DTYPE_Q3_K && d.override_index == 1);
    ck_assert_int_eq(rk_recipe_decide(&r, &g_ds, "blk.4.ffn_up_exps.weight", 3, exps, &d, &err), 0);
    ck_assert(d.type == Q2K && !d.overridden);
    ck_assert_int_eq(rk_recipe_decide(&r, &g_ds, "blk.4.attn_norm.weight", 1, norm, &d, &err), 0);
    ck_assert(d.type == F32 && !d.overridden);
    ck_assert_int_eq(rk_recipe_decide(&r, &g_ds, "output.weight", 2, out, &d, &err), 0);
    ck_assert(d.type == RK_DTYPE_BF16 && d.overridden);
    /* rows of 128 cannot hold Q4_K: refused, not silently changed */
    const int64_t kb[3] = { 128, 512, 128 };
    ck_assert_int_eq(rk_recipe_decide(&r, &g_ds, "blk.0.attn_k_b.weight", 3, kb, &d, &err), RK_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "blk.0.attn_k_b.weight"));
    ck_assert_ptr_nonnull(strstr(err.msg, "128"));
    ck_assert_ptr_nonnull(strstr(err.msg, "attn_k_b=q4_k"));
    rk_recipe_free(&r);
    rk_recipe_free(&r);   /* twice is fine */
    rk_recipe_free(NULL);
}
END_TEST

START_TEST(errors) {
    rk_recipe r;
    rk_err err;
    ck_assert_int_eq(rk_recipe_init(&r, "q3", &err), RK_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "q2-moe"));
    ck_assert_int_eq(rk_recipe_init(&r, NULL, &err), RK_EINVAL);
    ck_assert_int_eq(rk_recipe_init(&r, "q4", &err), 0);
    ck_assert_int_eq(rk_recipe_add_override(&r, "ffn_(up=q4_k", &err), RK_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "bad regex"));
    ck_assert_int_eq(rk_recipe_add_override(&r, "ffn_up=q9_k", &err), RK_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "unknown type"));
    ck_assert_int_eq(rk_recipe_add_override(&r, "ffn_up", &err), RK_EINVAL);
    ck_assert_int_eq(rk_recipe_add_override(&r, "=q4_k", &err), RK_EINVAL);
    ck_assert_int_eq(rk_recipe_add_override(&r, "ffn_up=", &err), RK_EINVAL);
    ck_assert_int_eq(rk_recipe_add_override(&r, "a=b=q5_k", &err), 0);   /* the last '=' splits */
    ck_assert_uint_eq(r.n_ov, 1);
    ck_assert_int_eq(r.ov[0].type, RK_DTYPE_Q5_K);
    rk_qdecision d;
    const int64_t bad[2] = { 0, 4 };
    ck_assert_int_eq(rk_recipe_decide(&r, &g_ll, "blk.0.ffn_up.weight", 2, bad, &d, &err), RK_EINVAL);
    ck_assert_int_eq(rk_recipe_decide(&r, &g_ll, "blk.0.ffn_up.weight", 5, bad, &d, &err), RK_EINVAL);
    rk_recipe_free(&r);
}
END_TEST

Suite *make_suite(void) {
    Suite *s = suite_create("quantize_recipe");
    TCase *t = tcase_create("decide");
    tcase_add_checked_fixture(t, setup, NULL);
    tcase_add_test(t, deepseek_r1_shapes);
    tcase_add_test(t, fallbacks);
    tcase_add_test(t, uniform_q2);
    tcase_add_test(t, llama_dense);
    tcase_add_test(t, classes_and_ftypes);
    tcase_add_test(t, overrides);
    tcase_add_test(t, errors);
    suite_add_tcase(s, t);
    return s;
}

RK_TEST_MAIN()
