/* tests/convert/test_rope_torch.c — golden check of the llama3 rope_freqs factors against PyTorch running the
 * same computation as llama.cpp's convert_hf_to_gguf.py (LlamaModel.generate_extra_tensors): bit-exact f32.
 * Needs Debian's python3-torch; skipped (exit 77) without it. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert/convert-impl.h"
#include "tests/common/rk_test.h"

static const char PY[] =
    "import math, struct, sys, torch\n"
    "base, dim, factor, low, high, old = float(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])\n"
    "freqs = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))\n"
    "lw = old / low; hw = old / high; out = []\n"
    "for freq in freqs:\n"
    "    wavelen = 2 * math.pi / freq\n"
    "    if wavelen < hw: out.append(1)\n"
    "    elif wavelen > lw: out.append(factor)\n"
    "    else:\n"
    "        smooth = (old / wavelen - low) / (high - low)\n"
    "        out.append(1 / ((1 - smooth) / factor + smooth))\n"
    "t = torch.tensor(out, dtype=torch.float32)\n"
    "print(' '.join('%08x' % struct.unpack('<I', struct.pack('<f', float(v)))[0] for v in t))\n";

typedef struct rope_case { double base; int dim; double factor, low, high; int old; } rope_case;
static const rope_case CASES[] = {
    { 500000.0, 128, 8.0, 1.0, 4.0, 8192 },    /* Llama 3.1 / R1-Distill-Llama-8B */
    { 500000.0, 64, 32.0, 1.0, 4.0, 8192 },    /* Llama 3.2 1B */
    { 500000.0, 16, 8.0, 1.0, 4.0, 8192 },     /* the converter test fixture */
    { 10000.0, 96, 4.0, 2.0, 8.0, 4096 },
};

START_TEST(llama3_factors_match_torch) {
    const rope_case *c = &CASES[_i];
    char *dir = rk_test_tmpdir("rope");
    char *script = rk_path_join(dir, "rope.py");
    rk_test_write_file(script, PY, strlen(PY));
    char cmd[1024], out[8192], errb[2048];
    snprintf(cmd, sizeof cmd, "%s %s %.17g %d %.17g %.17g %.17g %d", rk_test_python(), script, c->base, c->dim, c->factor, c->low,
             c->high, c->old);
    int rc = rk_test_run(cmd, out, sizeof out, errb, sizeof errb);
    ck_assert_msg(rc == 0, "python failed (%d): %s", rc, errb);
    rk_hf_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.rope_theta = c->base;
    cfg.head_dim = c->dim;
    cfg.rope_scaling.type = RK_ROPE_SCALING_LLAMA3;
    cfg.rope_scaling.factor = c->factor;
    cfg.rope_scaling.low_freq_factor = c->low;
    cfg.rope_scaling.high_freq_factor = c->high;
    cfg.rope_scaling.original_max_position_embeddings = c->old;
    float got[128];
    rk_cv_llama3_rope_factors(&cfg, got, c->dim / 2);
    const char *p = out;
    for (int i = 0; i < c->dim / 2; i++) {
        char *end;
        unsigned long want = strtoul(p, &end, 16);
        ck_assert_msg(end != p, "short torch output at %d: %s", i, out);
        p = end;
        uint32_t g;
        memcpy(&g, &got[i], 4);
        ck_assert_msg(g == (uint32_t)want, "case %d factor %d: 0x%08x, torch 0x%08lx", _i, i, g, want);
    }
    rk_test_rmtree(dir);
    free(script);
    free(dir);
}
END_TEST

Suite *make_suite(void) {
    Suite *s = suite_create("convert_torch");
    TCase *t = tcase_create("golden");
    tcase_set_timeout(t, 120);
    tcase_add_loop_test(t, llama3_factors_match_torch, 0, (int)(sizeof CASES / sizeof CASES[0]));
    suite_add_tcase(s, t);
    return s;
}

RK_TEST_MAIN_NEEDS_TORCH()
