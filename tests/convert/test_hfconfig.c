/* tests/convert/test_hfconfig.c — config.json parsing for deepseek_v3/v2, qwen2 and llama: the published
 * configs of R1 and its distills, HF defaults for absent keys, and every validation error (each must name
 * config.json and the field). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "tests/common/rk_test.h"
#include "formats/hfconfig.h"

static const char R1_CONFIG[] =
    "{\"architectures\":[\"DeepseekV3ForCausalLM\"],\"attention_bias\":false,\"attention_dropout\":0.0,"
    "\"bos_token_id\":0,\"eos_token_id\":1,\"ep_size\":1,\"first_k_dense_replace\":3,\"hidden_act\":\"silu\","
    "\"hidden_size\":7168,\"initializer_range\":0.02,\"intermediate_size\":18432,\"kv_lora_rank\":512,"
    "\"max_position_embeddings\":163840,\"model_type\":\"deepseek_v3\",\"moe_intermediate_size\":2048,"
    "\"moe_layer_freq\":1,\"n_group\":8,\"n_routed_experts\":256,\"n_shared_experts\":1,\"norm_topk_prob\":true,"
    "\"num_attention_heads\":128,\"num_experts_per_tok\":8,\"num_hidden_layers\":61,\"num_key_value_heads\":128,"
    "\"num_nextn_predict_layers\":1,\"q_lora_rank\":1536,\"qk_nope_head_dim\":128,\"qk_rope_head_dim\":64,"
    "\"quantization_config\":{\"activation_scheme\":\"dynamic\",\"fmt\":\"e4m3\",\"quant_method\":\"fp8\","
    "\"weight_block_size\":[128,128]},\"rms_norm_eps\":1e-06,\"rope_scaling\":{\"beta_fast\":32,\"beta_slow\":1,"
    "\"factor\":40,\"mscale\":1.0,\"mscale_all_dim\":1.0,\"original_max_position_embeddings\":4096,\"type\":\"yarn\"},"
    "\"rope_theta\":10000,\"routed_scaling_factor\":2.5,\"scoring_func\":\"sigmoid\",\"tie_word_embeddings\":false,"
    "\"topk_group\":4,\"topk_method\":\"noaux_tc\",\"torch_dtype\":\"bfloat16\",\"use_cache\":true,\"v_head_dim\":128,"
    "\"vocab_size\":129280}";

static const char QWEN_CONFIG[] =
    "{\"architectures\":[\"Qwen2ForCausalLM\"],\"attention_dropout\":0.0,\"bos_token_id\":151643,\"eos_token_id\":151643,"
    "\"hidden_act\":\"silu\",\"hidden_size\":1536,\"initializer_range\":0.02,\"intermediate_size\":8960,"
    "\"max_position_embeddings\":131072,\"max_window_layers\":21,\"model_type\":\"qwen2\",\"num_attention_heads\":12,"
    "\"num_hidden_layers\":28,\"num_key_value_heads\":2,\"rms_norm_eps\":1e-06,\"rope_theta\":10000,"
    "\"sliding_window\":4096,\"tie_word_embeddings\":false,\"torch_dtype\":\"bfloat16\",\"use_cache\":true,"
    "\"use_mrope\":false,\"use_sliding_window\":false,\"vocab_size\":151936}";

static const char LLAMA_CONFIG[] =
    "{\"architectures\":[\"LlamaForCausalLM\"],\"attention_bias\":false,\"bos_token_id\":128000,"
    "\"eos_token_id\":128001,\"hidden_act\":\"silu\",\"hidden_size\":4096,\"intermediate_size\":14336,"
    "\"max_position_embeddings\":131072,\"mlp_bias\":false,\"model_type\":\"llama\",\"num_attention_heads\":32,"
    "\"num_hidden_layers\":32,\"num_key_value_heads\":8,\"pretraining_tp\":1,\"rms_norm_eps\":1e-05,"
    "\"rope_scaling\":{\"factor\":8.0,\"high_freq_factor\":4.0,\"low_freq_factor\":1.0,"
    "\"original_max_position_embeddings\":8192,\"rope_type\":\"llama3\"},\"rope_theta\":500000.0,"
    "\"tie_word_embeddings\":false,\"torch_dtype\":\"bfloat16\",\"vocab_size\":128256}";

static int parse(const char *json, rk_hf_config *c, rk_err *e) {
    rk_err_clear(e);
    return rk_hf_config_parse(c, json, strlen(json), "/m/config.json", e);
}

START_TEST(parse_r1) {
    rk_hf_config c;
    rk_err e;
    ck_assert_msg(parse(R1_CONFIG, &c, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(c.arch, RK_HF_ARCH_DEEPSEEK2);
    ck_assert_str_eq(rk_hf_arch_name(c.arch), "deepseek2");
    ck_assert_str_eq(c.model_type, "deepseek_v3");
    ck_assert_int_eq(c.vocab_size, 129280);
    ck_assert_int_eq(c.hidden_size, 7168);
    ck_assert_int_eq(c.intermediate_size, 18432);
    ck_assert_int_eq(c.num_hidden_layers, 61);
    ck_assert_int_eq(c.num_attention_heads, 128);
    ck_assert_int_eq(c.num_key_value_heads, 128);
    ck_assert_int_eq(c.q_lora_rank, 1536);
    ck_assert_int_eq(c.kv_lora_rank, 512);
    ck_assert_int_eq(c.qk_nope_head_dim, 128);
    ck_assert_int_eq(c.qk_rope_head_dim, 64);
    ck_assert_int_eq(c.v_head_dim, 128);
    ck_assert_int_eq(c.head_dim, 192);
    ck_assert_int_eq(c.moe_intermediate_size, 2048);
    ck_assert_int_eq(c.n_routed_experts, 256);
    ck_assert_int_eq(c.n_shared_experts, 1);
    ck_assert_int_eq(c.num_experts_per_tok, 8);
    ck_assert_int_eq(c.first_k_dense_replace, 3);
    ck_assert_int_eq(c.moe_layer_freq, 1);
    ck_assert_int_eq(c.n_group, 8);
    ck_assert_int_eq(c.topk_group, 4);
    ck_assert_str_eq(c.topk_method, "noaux_tc");
    ck_assert_int_eq(c.scoring_func, RK_MOE_SCORING_SIGMOID);
    ck_assert_int_eq(c.norm_topk_prob, 1);
    ck_assert_double_eq(c.routed_scaling_factor, 2.5);
    ck_assert_int_eq(c.num_nextn_predict_layers, 1);
    ck_assert_double_eq(c.rms_norm_eps, 1e-6);
    ck_assert_double_eq(c.rope_theta, 10000.0);
    ck_assert_int_eq(c.rope_scaling.type, RK_ROPE_SCALING_YARN);
    ck_assert_double_eq(c.rope_scaling.factor, 40.0);
    ck_assert_int_eq(c.rope_scaling.original_max_position_embeddings, 4096);
    ck_assert_int_eq(c.rope_scaling.has_beta_fast, 1);
    ck_assert_double_eq(c.rope_scaling.beta_fast, 32.0);
    ck_assert_double_eq(c.rope_scaling.beta_slow, 1.0);
    ck_assert_int_eq(c.rope_scaling.has_mscale_all_dim, 1);
    ck_assert_double_eq(c.rope_scaling.mscale_all_dim, 1.0);
    ck_assert_int_eq(c.max_position_embeddings, 163840);
    ck_assert_int_eq(c.tie_word_embeddings, 0);
    ck_assert_int_eq(c.bos_token_id, 0);
    ck_assert_int_eq(c.n_eos, 1);
    ck_assert_int_eq(c.eos_token_ids[0], 1);
    ck_assert_str_eq(c.torch_dtype, "bfloat16");
    ck_assert_int_eq(c.fp8, 1);
    ck_assert_int_eq(c.fp8_block_rows, 128);
    ck_assert_int_eq(c.fp8_block_cols, 128);
    ck_assert_int_eq(rk_hf_config_is_moe_layer(&c, 2), 0);
    ck_assert_int_eq(rk_hf_config_is_moe_layer(&c, 3), 1);
    ck_assert_int_eq(rk_hf_config_is_moe_layer(&c, 60), 1);
    ck_assert_int_eq(rk_hf_config_is_moe_layer(&c, 61), 0);
}
END_TEST

START_TEST(parse_qwen2) {
    rk_hf_config c;
    rk_err e;
    ck_assert_msg(parse(QWEN_CONFIG, &c, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(c.arch, RK_HF_ARCH_QWEN2);
    ck_assert_int_eq(c.hidden_size, 1536);
    ck_assert_int_eq(c.num_attention_heads, 12);
    ck_assert_int_eq(c.num_key_value_heads, 2);
    ck_assert_int_eq(c.head_dim, 128);
    ck_assert_int_eq(c.has_head_dim, 0);
    ck_assert_int_eq(c.attention_bias, 1);
    ck_assert_int_eq(c.rope_scaling.type, RK_ROPE_SCALING_NONE);
    ck_assert_int_eq(c.n_routed_experts, 0);
    ck_assert_int_eq(c.fp8, 0);
    ck_assert_int_eq(c.bos_token_id, 151643);
}
END_TEST

START_TEST(parse_llama) {
    rk_hf_config c;
    rk_err e;
    ck_assert_msg(parse(LLAMA_CONFIG, &c, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(c.arch, RK_HF_ARCH_LLAMA);
    ck_assert_int_eq(c.head_dim, 128);
    ck_assert_int_eq(c.num_key_value_heads, 8);
    ck_assert_double_eq(c.rope_theta, 500000.0);
    ck_assert_double_eq(c.rms_norm_eps, 1e-5);
    ck_assert_int_eq(c.rope_scaling.type, RK_ROPE_SCALING_LLAMA3);
    ck_assert_str_eq(rk_rope_scaling_name(c.rope_scaling.type), "llama3");
    ck_assert_double_eq(c.rope_scaling.factor, 8.0);
    ck_assert_double_eq(c.rope_scaling.low_freq_factor, 1.0);
    ck_assert_double_eq(c.rope_scaling.high_freq_factor, 4.0);
    ck_assert_int_eq(c.rope_scaling.original_max_position_embeddings, 8192);
}
END_TEST

START_TEST(defaults) {
    rk_hf_config c;
    rk_err e;
    ck_assert_msg(parse("{\"model_type\":\"llama\"}", &c, &e) == 0, "%s", e.msg);   /* transformers LlamaConfig() */
    ck_assert_int_eq(c.vocab_size, 32000);
    ck_assert_int_eq(c.hidden_size, 4096);
    ck_assert_int_eq(c.intermediate_size, 11008);
    ck_assert_int_eq(c.num_hidden_layers, 32);
    ck_assert_int_eq(c.num_key_value_heads, 32);       /* None → num_attention_heads */
    ck_assert_int_eq(c.max_position_embeddings, 2048);
    ck_assert_double_eq(c.rms_norm_eps, 1e-6);
    ck_assert_int_eq(c.bos_token_id, 1);
    ck_assert_int_eq(c.eos_token_ids[0], 2);
    ck_assert_msg(parse("{\"model_type\":\"qwen2\"}", &c, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(c.vocab_size, 151936);
    ck_assert_int_eq(c.intermediate_size, 22016);
    ck_assert_int_eq(c.max_position_embeddings, 32768);
    ck_assert_int_eq(c.bos_token_id, -1);
    ck_assert_msg(parse("{\"model_type\":\"deepseek_v3\"}", &c, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(c.n_routed_experts, 256);
    ck_assert_int_eq(c.q_lora_rank, 1536);
    ck_assert_int_eq(c.topk_group, 4);
    ck_assert_int_eq(c.max_position_embeddings, 4096);
    ck_assert_int_eq(c.scoring_func, RK_MOE_SCORING_SIGMOID);
    ck_assert_msg(parse("{\"model_type\":\"deepseek_v2\"}", &c, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(c.n_routed_experts, 0);             /* dense by default */
    ck_assert_int_eq(c.scoring_func, RK_MOE_SCORING_SOFTMAX);
    ck_assert_str_eq(c.topk_method, "greedy");
    ck_assert_int_eq(c.vocab_size, 102400);
    /* V2-Lite style: q_lora_rank null, eos as a list, rope_parameters, quantization_config absent */
    ck_assert_msg(parse("{\"model_type\":\"deepseek_v2\",\"q_lora_rank\":null,\"n_routed_experts\":64,\"num_experts_per_tok\":6,"
                        "\"n_shared_experts\":2,\"first_k_dense_replace\":1,\"eos_token_id\":[100001,100002]}", &c, &e) == 0,
                  "%s", e.msg);
    ck_assert_int_eq(c.q_lora_rank, 0);
    ck_assert_int_eq(c.n_eos, 2);
    ck_assert_int_eq(c.eos_token_ids[1], 100002);
    ck_assert_msg(parse("{\"model_type\":\"llama\",\"rope_parameters\":{\"rope_theta\":123.0,\"rope_type\":\"linear\",\"factor\":2}}",
                        &c, &e) == 0, "%s", e.msg);
    ck_assert_double_eq(c.rope_theta, 123.0);
    ck_assert_int_eq(c.rope_scaling.type, RK_ROPE_SCALING_LINEAR);
    ck_assert_double_eq(c.rope_scaling.factor, 2.0);
    ck_assert_msg(parse("{\"model_type\":\"llama\",\"head_dim\":64,\"num_attention_heads\":48}", &c, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(c.head_dim, 64);
    ck_assert_int_eq(c.has_head_dim, 1);
    ck_assert_msg(parse("{\"model_type\":\"llama\",\"rope_scaling\":null,\"num_key_value_heads\":null}", &c, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(c.num_key_value_heads, 32);
}
END_TEST

typedef struct bad_case {
    const char *json;
    int code;
    const char *needle;   /* must appear in the message */
} bad_case;

static const bad_case BAD[] = {
    { "{\"model_type\":\"mistral\"}", RK_EUNSUPPORTED, "'mistral'" },
    { "{\"model_type\":", RK_ECORRUPT, "not valid JSON" },
    { "[1,2]", RK_ECORRUPT, "not a JSON object" },
    { "{\"hidden_size\":8}", RK_ECORRUPT, "model_type" },
    { "{\"model_type\":7}", RK_ECORRUPT, "model_type" },
    { "{\"model_type\":\"llama\",\"hidden_size\":0}", RK_ECORRUPT, "hidden_size" },
    { "{\"model_type\":\"llama\",\"hidden_size\":-64}", RK_ECORRUPT, "hidden_size" },
    { "{\"model_type\":\"llama\",\"vocab_size\":\"big\"}", RK_ECORRUPT, "vocab_size" },
    { "{\"model_type\":\"llama\",\"num_hidden_layers\":1.5}", RK_ECORRUPT, "num_hidden_layers" },
    { "{\"model_type\":\"llama\",\"num_hidden_layers\":null}", RK_ECORRUPT, "num_hidden_layers" },
    { "{\"model_type\":\"llama\",\"intermediate_size\":0}", RK_ECORRUPT, "intermediate_size" },
    { "{\"model_type\":\"llama\",\"num_attention_heads\":0}", RK_ECORRUPT, "num_attention_heads" },
    { "{\"model_type\":\"llama\",\"num_key_value_heads\":5}", RK_ECORRUPT, "num_key_value_heads" },
    { "{\"model_type\":\"llama\",\"num_attention_heads\":3}", RK_ECORRUPT, "hidden_size" },
    { "{\"model_type\":\"llama\",\"head_dim\":7}", RK_ECORRUPT, "head dimension" },
    { "{\"model_type\":\"llama\",\"rms_norm_eps\":0}", RK_ECORRUPT, "rms_norm_eps" },
    { "{\"model_type\":\"llama\",\"rope_theta\":-1}", RK_ECORRUPT, "rope_theta" },
    { "{\"model_type\":\"llama\",\"max_position_embeddings\":0}", RK_ECORRUPT, "max_position_embeddings" },
    { "{\"model_type\":\"llama\",\"tie_word_embeddings\":1}", RK_ECORRUPT, "tie_word_embeddings" },
    { "{\"model_type\":\"llama\",\"bos_token_id\":32000}", RK_ECORRUPT, "bos_token_id" },
    { "{\"model_type\":\"llama\",\"eos_token_id\":[1,99999]}", RK_ECORRUPT, "eos_token_id" },
    { "{\"model_type\":\"llama\",\"eos_token_id\":\"x\"}", RK_ECORRUPT, "eos_token_id" },
    { "{\"model_type\":\"llama\",\"rope_scaling\":{\"type\":\"longrope\"}}", RK_EUNSUPPORTED, "longrope" },
    { "{\"model_type\":\"llama\",\"rope_scaling\":{\"type\":\"yarn\",\"factor\":4}}", RK_ECORRUPT, "original_max_position_embeddings" },
    { "{\"model_type\":\"llama\",\"rope_scaling\":{\"type\":\"linear\",\"factor\":0}}", RK_ECORRUPT, "rope_scaling.factor" },
    { "{\"model_type\":\"llama\",\"rope_scaling\":{\"rope_type\":\"llama3\",\"low_freq_factor\":4,\"high_freq_factor\":4}}",
      RK_ECORRUPT, "high_freq_factor" },
    { "{\"model_type\":\"llama\",\"rope_scaling\":5}", RK_ECORRUPT, "rope_scaling" },
    { "{\"model_type\":\"deepseek_v3\",\"quantization_config\":{\"quant_method\":\"gptq\"}}", RK_EUNSUPPORTED, "gptq" },
    { "{\"model_type\":\"deepseek_v3\",\"quantization_config\":{\"quant_method\":\"fp8\",\"fmt\":\"e5m2\"}}", RK_EUNSUPPORTED, "e5m2" },
    { "{\"model_type\":\"deepseek_v3\",\"quantization_config\":{\"quant_method\":\"fp8\",\"weight_block_size\":[128]}}",
      RK_ECORRUPT, "weight_block_size" },
    { "{\"model_type\":\"deepseek_v3\",\"quantization_config\":{\"quant_method\":\"fp8\",\"weight_block_size\":[0,128]}}",
      RK_ECORRUPT, "weight_block_size" },
    { "{\"model_type\":\"deepseek_v3\",\"num_experts_per_tok\":300}", RK_ECORRUPT, "num_experts_per_tok" },
    { "{\"model_type\":\"deepseek_v3\",\"num_experts_per_tok\":0}", RK_ECORRUPT, "num_experts_per_tok" },
    { "{\"model_type\":\"deepseek_v3\",\"n_group\":7}", RK_ECORRUPT, "n_group" },
    { "{\"model_type\":\"deepseek_v3\",\"topk_group\":9}", RK_ECORRUPT, "topk_group" },
    { "{\"model_type\":\"deepseek_v3\",\"topk_group\":1,\"num_experts_per_tok\":40}", RK_ECORRUPT, "num_experts_per_tok" },
    { "{\"model_type\":\"deepseek_v3\",\"scoring_func\":\"relu\"}", RK_EUNSUPPORTED, "scoring_func" },
    { "{\"model_type\":\"deepseek_v3\",\"topk_method\":\"random\"}", RK_EUNSUPPORTED, "topk_method" },
    { "{\"model_type\":\"deepseek_v3\",\"first_k_dense_replace\":62}", RK_ECORRUPT, "first_k_dense_replace" },
    { "{\"model_type\":\"deepseek_v3\",\"qk_rope_head_dim\":63}", RK_ECORRUPT, "qk_rope_head_dim" },
    { "{\"model_type\":\"deepseek_v3\",\"kv_lora_rank\":0}", RK_ECORRUPT, "kv_lora_rank" },
    { "{\"model_type\":\"deepseek_v3\",\"q_lora_rank\":-1}", RK_ECORRUPT, "q_lora_rank" },
    { "{\"model_type\":\"deepseek_v3\",\"moe_intermediate_size\":0}", RK_ECORRUPT, "moe_intermediate_size" },
    { "{\"model_type\":\"deepseek_v3\",\"moe_layer_freq\":0}", RK_ECORRUPT, "moe_layer_freq" },
    { "{\"model_type\":\"deepseek_v3\",\"routed_scaling_factor\":0}", RK_ECORRUPT, "routed_scaling_factor" },
    { "{\"model_type\":\"deepseek_v3\",\"norm_topk_prob\":\"yes\"}", RK_ECORRUPT, "norm_topk_prob" },
    { "{\"model_type\":\"deepseek_v3\",\"num_nextn_predict_layers\":-1}", RK_ECORRUPT, "num_nextn_predict_layers" },
};

START_TEST(parse_errors) {
    const bad_case *b = &BAD[_i];
    rk_hf_config c;
    rk_err e;
    int rc = parse(b->json, &c, &e);
    ck_assert_msg(rc == b->code, "case %d (%s): rc %d, want %d (%s)", _i, b->json, rc, b->code, e.msg);
    ck_assert_int_eq(e.code, b->code);
    ck_assert_msg(strstr(e.msg, "/m/config.json") != NULL, "case %d: message does not name the file: %s", _i, e.msg);
    ck_assert_msg(strstr(e.msg, b->needle) != NULL, "case %d: message lacks '%s': %s", _i, b->needle, e.msg);
}
END_TEST

START_TEST(load_file) {
    char *dir = rk_test_tmpdir("hfconfig");
    rk_hf_config c;
    rk_err e;
    rk_err_clear(&e);
    ck_assert_int_eq(rk_hf_config_load(&c, dir, &e), RK_ENOTFOUND);
    ck_assert_msg(strstr(e.msg, "config.json") != NULL, "%s", e.msg);
    char *p = rk_path_join(dir, "config.json");
    rk_test_write_file(p, QWEN_CONFIG, strlen(QWEN_CONFIG));
    ck_assert_msg(rk_hf_config_load(&c, dir, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(c.arch, RK_HF_ARCH_QWEN2);
    ck_assert_msg(rk_hf_config_load(&c, p, &e) == 0, "%s", e.msg);
    free(p);
    rk_test_rmtree(dir);
    free(dir);
}
END_TEST

Suite *make_suite(void) {
    Suite *s = suite_create("hfconfig");
    TCase *ok = tcase_create("parse_ok");
    tcase_add_test(ok, parse_r1);
    tcase_add_test(ok, parse_qwen2);
    tcase_add_test(ok, parse_llama);
    tcase_add_test(ok, defaults);
    tcase_add_test(ok, load_file);
    suite_add_tcase(s, ok);
    TCase *bad = tcase_create("parse_corrupt");
    tcase_add_loop_test(bad, parse_errors, 0, (int)(sizeof BAD / sizeof BAD[0]));
    suite_add_tcase(s, bad);
    return s;
}

RK_TEST_MAIN()
