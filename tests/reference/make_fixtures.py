#!/usr/bin/python3
"""tests/reference/make_fixtures.py — tiny random HF checkpoints + reference logits for the r1kit engine.

    /usr/bin/python3 tests/reference/make_fixtures.py [OUTDIR]     (default: tests/reference/fixtures)

Deterministic (numpy default_rng seeds per case). For every case writes OUTDIR/<name>/:
    config.json, model.safetensors, tokenizer.json (trivial byte-level, optional for r1kit), logits.bin
logits.bin (little-endian):
    0   4 bytes  magic "RKLG"
    4   u32      version = 1
    8   u32      T (number of tokens)
    12  u32      V (vocab size = logits per token)
    16  T x i32  token ids (positions 0..T-1)
    ..  T*V f32  logits, row-major [T][V]: row t = next-token logits after tokens[0..t] (causal)
The logits are the float64 reference run rounded to float32. The script asserts, for every case:
incremental (KV cache, token by token, and prefill+steps) == full sequence, f32 run close to f64 run,
the checkpoint re-read from disk is what the reference ran on; for FP8 the codec and block dequantization;
for DeepSeek the rope-layout equivalence, routing margins (no near-ties), that the negative
e_score_correction_bias changes the selection, and that HF's 0.0 group fill selects the same experts.
A summary (also the f32-vs-f64 differences quoted in README.md) goes to stdout and OUTDIR/summary.json.
"""
import copy
import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import reference_models as rm  # noqa: E402

torch.set_num_threads(1)   # deterministic reductions

# ----------------------------------------------------------------------------------------------------------------
# configs
# ----------------------------------------------------------------------------------------------------------------

VOCAB = 320


def ds_v3_config(fp8, mscale_all_dim):
    c = {
        "architectures": ["DeepseekV3ForCausalLM"],
        "model_type": "deepseek_v3",
        "vocab_size": VOCAB,
        "hidden_size": 160,                   # not a multiple of 128: partial FP8 edge blocks
        "intermediate_size": 192,
        "moe_intermediate_size": 32,
        "num_hidden_layers": 3,
        "num_nextn_predict_layers": 1 if fp8 else 0,
        "num_attention_heads": 4,
        "num_key_value_heads": 4,
        "n_shared_experts": 1,
        "n_routed_experts": 8,
        "ep_size": 1,
        "routed_scaling_factor": 2.5,
        "kv_lora_rank": 64,
        "q_lora_rank": 96,
        "qk_rope_head_dim": 16,
        "v_head_dim": 20,
        "qk_nope_head_dim": 24,
        "topk_method": "noaux_tc",
        "n_group": 4,
        "topk_group": 2,
        "num_experts_per_tok": 2,
        "moe_layer_freq": 1,
        "first_k_dense_replace": 1,
        "norm_topk_prob": True,
        "scoring_func": "sigmoid",
        "hidden_act": "silu",
        "max_position_embeddings": 40 * 256,
        "initializer_range": 0.02,
        "rms_norm_eps": 1e-6,
        "use_cache": True,
        "bos_token_id": 256,
        "eos_token_id": 257,
        "tie_word_embeddings": False,
        "rope_theta": 10000,
        "rope_scaling": {"beta_fast": 32, "beta_slow": 1, "factor": 40, "mscale": 1.0,
                         "mscale_all_dim": mscale_all_dim, "original_max_position_embeddings": 256,
                         "type": "yarn"},
        "attention_bias": False,
        "attention_dropout": 0.0,
        "torch_dtype": "bfloat16",
    }
    if fp8:
        c["quantization_config"] = {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8",
                                    "weight_block_size": [128, 128]}
    return c


def ds_v2lite_config():
    return {
        "architectures": ["DeepseekV2ForCausalLM"],
        "model_type": "deepseek_v2",
        "vocab_size": VOCAB,
        "hidden_size": 128,
        "intermediate_size": 192,
        "moe_intermediate_size": 32,
        "num_hidden_layers": 3,
        "num_attention_heads": 4,
        "num_key_value_heads": 4,
        "n_shared_experts": 2,
        "n_routed_experts": 8,
        "ep_size": 1,
        "routed_scaling_factor": 1.0,
        "kv_lora_rank": 48,
        "q_lora_rank": None,
        "qk_rope_head_dim": 16,
        "v_head_dim": 32,
        "qk_nope_head_dim": 32,
        "topk_method": "greedy",
        "n_group": 1,
        "topk_group": 1,
        "num_experts_per_tok": 3,
        "moe_layer_freq": 1,
        "first_k_dense_replace": 1,
        "norm_topk_prob": False,
        "scoring_func": "softmax",
        "aux_loss_alpha": 0.001,
        "seq_aux": True,
        "hidden_act": "silu",
        "max_position_embeddings": 4096,
        "rms_norm_eps": 1e-6,
        "use_cache": True,
        "bos_token_id": 256,
        "eos_token_id": 257,
        "tie_word_embeddings": False,
        "rope_theta": 10000,
        "rope_scaling": None,
        "attention_bias": False,
        "attention_dropout": 0.0,
        "torch_dtype": "bfloat16",
    }


def qwen2_config(tied, dtype):
    return {
        "architectures": ["Qwen2ForCausalLM"],
        "model_type": "qwen2",
        "vocab_size": VOCAB,
        "hidden_size": 128,
        "intermediate_size": 192,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "hidden_act": "silu",
        "max_position_embeddings": 4096,
        "max_window_layers": 2,
        "use_sliding_window": False,
        "sliding_window": 4096,
        "rms_norm_eps": 1e-6,
        "rope_theta": 10000.0,
        "tie_word_embeddings": tied,
        "bos_token_id": 256,
        "eos_token_id": 257,
        "attention_dropout": 0.0,
        "use_cache": True,
        "torch_dtype": dtype,
    }


def llama3_config():
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": VOCAB,
        "hidden_size": 128,
        "intermediate_size": 192,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 32,
        "hidden_act": "silu",
        "max_position_embeddings": 1024,
        "rms_norm_eps": 1e-5,
        "rope_theta": 500000.0,
        "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                         "original_max_position_embeddings": 128, "rope_type": "llama3"},
        "attention_bias": False,
        "mlp_bias": False,
        "tie_word_embeddings": False,
        "bos_token_id": 256,
        "eos_token_id": 257,
        "use_cache": True,
        "torch_dtype": "float16",
    }


# name: (config, seed, storage, number of tokens)
#   storage: "fp8" (DeepSeek block FP8 for linear weights; embeddings/head/norms/router BF16; bias F32),
#            "bf16" (BF16; e_score_correction_bias F32), "f32", "f16"
CASES = [
    ("ds_v3_fp8", ds_v3_config(True, 1.0), 1035, "fp8", 16),
    ("ds_v3_bf16", ds_v3_config(False, 0.8), 1035, "bf16", 16),
    ("ds_v2lite", ds_v2lite_config(), 1002, "bf16", 14),
    ("qwen2_tied", qwen2_config(True, "bfloat16"), 1003, "bf16", 12),
    ("qwen2", qwen2_config(False, "float32"), 1004, "f32", 17),
    ("llama3", llama3_config(), 1005, "f16", 20),
]

# ----------------------------------------------------------------------------------------------------------------
# random weights (HF names and shapes, float32 numpy)
# ----------------------------------------------------------------------------------------------------------------


def gen_weights(cfg, rng):
    W = {}

    def lin(name, out_f, in_f, bias_std=None):
        W[name + ".weight"] = (rng.standard_normal((out_f, in_f)) / np.sqrt(in_f)).astype(np.float32)
        if bias_std is not None:
            W[name + ".bias"] = (rng.standard_normal(out_f) * bias_std).astype(np.float32)

    def norm(name, n):
        W[name + ".weight"] = (1.0 + 0.1 * rng.standard_normal(n)).astype(np.float32)

    def mlp(p, hid, inter):
        lin(p + "gate_proj", inter, hid)
        lin(p + "up_proj", inter, hid)
        lin(p + "down_proj", hid, inter)

    Hd, V = cfg["hidden_size"], cfg["vocab_size"]
    mt = cfg["model_type"]
    W["model.embed_tokens.weight"] = rng.standard_normal((V, Hd)).astype(np.float32)

    def ds_layer(l, moe):
        p = "model.layers.%d." % l
        norm(p + "input_layernorm", Hd)
        norm(p + "post_attention_layernorm", Hd)
        a = p + "self_attn."
        nh, qh = cfg["num_attention_heads"], cfg["qk_nope_head_dim"] + cfg["qk_rope_head_dim"]
        if cfg.get("q_lora_rank"):
            lin(a + "q_a_proj", cfg["q_lora_rank"], Hd)
            norm(a + "q_a_layernorm", cfg["q_lora_rank"])
            lin(a + "q_b_proj", nh * qh, cfg["q_lora_rank"])
        else:
            lin(a + "q_proj", nh * qh, Hd)
        lin(a + "kv_a_proj_with_mqa", cfg["kv_lora_rank"] + cfg["qk_rope_head_dim"], Hd)
        norm(a + "kv_a_layernorm", cfg["kv_lora_rank"])
        lin(a + "kv_b_proj", nh * (cfg["qk_nope_head_dim"] + cfg["v_head_dim"]), cfg["kv_lora_rank"])
        lin(a + "o_proj", Hd, nh * cfg["v_head_dim"])
        if not moe:
            mlp(p + "mlp.", Hd, cfg["intermediate_size"])
            return
        E = cfg["n_routed_experts"]
        W[p + "mlp.gate.weight"] = (2.0 * rng.standard_normal((E, Hd)) / np.sqrt(Hd)).astype(np.float32)
        if cfg.get("topk_method") == "noaux_tc":
            b = rng.uniform(-0.05, 0.05, E)
            b[[1, 4, 6]] = [-0.15, -0.1, -0.25]             # negative corrections that change the selection
            W[p + "mlp.gate.e_score_correction_bias"] = b.astype(np.float32)
        for e in range(E):
            mlp(p + "mlp.experts.%d." % e, Hd, cfg["moe_intermediate_size"])
        if cfg.get("n_shared_experts"):
            mlp(p + "mlp.shared_experts.", Hd, cfg["moe_intermediate_size"] * cfg["n_shared_experts"])

    if mt in ("deepseek_v3", "deepseek_v2"):
        L = cfg["num_hidden_layers"]
        for l in range(L):
            ds_layer(l, l >= cfg["first_k_dense_replace"] and l % cfg.get("moe_layer_freq", 1) == 0)
        for m in range(cfg.get("num_nextn_predict_layers", 0) or 0):
            l = L + m                                       # MTP module: ignored by the reference
            ds_layer(l, True)
            p = "model.layers.%d." % l
            W[p + "embed_tokens.weight"] = rng.standard_normal((V, Hd)).astype(np.float32)
            norm(p + "enorm", Hd)
            norm(p + "hnorm", Hd)
            lin(p + "eh_proj", Hd, 2 * Hd)
            norm(p + "shared_head.norm", Hd)
            lin(p + "shared_head.head", V, Hd)
    else:
        nh, kvh = cfg["num_attention_heads"], cfg["num_key_value_heads"]
        hd = cfg.get("head_dim") or Hd // nh
        bias = 0.5 if mt == "qwen2" else None
        for l in range(cfg["num_hidden_layers"]):
            p = "model.layers.%d." % l
            norm(p + "input_layernorm", Hd)
            norm(p + "post_attention_layernorm", Hd)
            lin(p + "self_attn.q_proj", nh * hd, Hd, bias)
            lin(p + "self_attn.k_proj", kvh * hd, Hd, bias)
            lin(p + "self_attn.v_proj", kvh * hd, Hd, bias)
            lin(p + "self_attn.o_proj", Hd, nh * hd)
            mlp(p + "mlp.", Hd, cfg["intermediate_size"])
    norm("model.norm", Hd)
    if not cfg.get("tie_word_embeddings"):
        lin("lm_head", V, Hd)
    return W


def is_fp8_weight(name, arr):
    """DeepSeek FP8 checkpoints quantize every 2-D linear weight except embeddings, lm_head/shared_head.head
    and the router (mlp.gate.weight); norms and biases are 1-D."""
    if arr.ndim != 2 or not name.endswith(".weight"):
        return False
    return not any(s in name for s in ("embed_tokens", "lm_head", "shared_head.head", "mlp.gate.weight"))


def store(W, storage):
    """-> list of (name, dtype, array) for write_safetensors, in sorted name order (scales after weights)."""
    out = []
    for name in sorted(W):
        a = W[name]
        if storage == "f32":
            out.append((name, "F32", a))
        elif storage == "f16":
            out.append((name, "F16", a.astype(np.float16)))
        elif name.endswith("e_score_correction_bias"):
            out.append((name, "F32", a))                       # F32 in the real checkpoints too
        elif storage == "fp8" and is_fp8_weight(name, a):
            codes, scale = rm.fp8_block_quantize(a)
            out.append((name, "F8_E4M3", codes))
            out.append((name + "_scale_inv", "F32", scale))
        else:
            out.append((name, "BF16", rm.bf16_encode(a)))
    return out


def byte_level_tokenizer():
    """Trivial tokenizer.json: the 256 GPT-2 byte-level symbols (ids 0..255) + 2 specials, no merges."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) + \
        list(range(ord("\xae"), ord("\xff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    sym = dict(zip(bs, (chr(c) for c in cs)))
    vocab = {sym[b]: b for b in range(256)}
    specials = [(256, "<|begin_of_text|>"), (257, "<|end_of_text|>")]
    for i, s in specials:
        vocab[s] = i
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [{"id": i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": False, "special": True} for i, s in specials],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                          "use_regex": False},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                  "ignore_merges": False, "vocab": vocab, "merges": []},
    }


write_logits = rm.write_logits
read_logits = rm.read_logits


# ----------------------------------------------------------------------------------------------------------------
# checks
# ----------------------------------------------------------------------------------------------------------------


def check_e4m3_codec():
    t = rm.E4M3_TABLE
    finite = [c for c in range(256) if not np.isnan(t[c])]
    assert len(finite) == 254 and t[0x7E] == 448.0 and t[0x08] == 2.0 ** -6 and t[0x01] == 2.0 ** -9
    # every finite code re-encodes to itself (incl. -0 -> 0x80)
    vals = rm.E4M3_TABLE_F32[finite]
    assert (rm.e4m3fn_encode(vals) == np.array(finite, dtype=np.uint8)).all()
    # midpoints between neighbours go to the even code; just off the midpoint goes to the nearer one
    pos = t[:127]
    mids = ((pos[:-1] + pos[1:]) / 2).astype(np.float32)
    assert (mids.astype(np.float64) == (pos[:-1] + pos[1:]) / 2).all()   # midpoints exact in f32
    enc = rm.e4m3fn_encode(mids).astype(int)
    lo = np.arange(126)
    assert (enc == np.where(lo % 2 == 0, lo, lo + 1)).all()
    up = np.nextafter(mids, np.float32(np.inf))
    dn = np.nextafter(mids, np.float32(0))
    assert (rm.e4m3fn_encode(up).astype(int) == lo + 1).all()
    assert (rm.e4m3fn_encode(dn).astype(int) == lo).all()
    assert (rm.e4m3fn_encode(-up).astype(int) == (lo + 1) | 0x80).all()
    assert rm.e4m3fn_encode(np.float32(463.9)) == 0x7E
    # cross-check against the exact (integer-arithmetic) encoder of numeric_golden.py when present
    note = "numeric_golden.py absent"
    try:
        import numeric_golden as ng
        f = ng.Fmt("e4m3")
        rng = np.random.default_rng(7)
        x = np.concatenate([rng.standard_normal(20000) * 10.0 ** rng.uniform(-4, 2.6, 20000), mids, up, dn,
                            -mids]).astype(np.float32)
        x = x[np.abs(x) < 448]
        mine = rm.e4m3fn_encode(x)
        ref = np.array([f.encode(float(v)) for v in x], dtype=np.uint8)
        assert (mine == ref).all(), "e4m3 encoder disagrees with numeric_golden.py"
        note = "agrees with numeric_golden.py exact encoder on %d values" % len(x)
    except ImportError:
        pass
    return note


def check_fp8_tensor(name, w, codes, scale, deq):
    """Block dequant bound: |deq - w| <= half a step of e4m3 at that magnitude (relative 2^-4 for normals,
    2^-10 * scale in the subnormal range), and every block's amax maps to +-448 * scale."""
    s = np.repeat(np.repeat(scale, 128, 0), 128, 1)[:w.shape[0], :w.shape[1]].astype(np.float64)
    err = np.abs(deq.astype(np.float64) - w.astype(np.float64))
    bound = np.maximum(np.abs(w) * 2.0 ** -4, s * 2.0 ** -10) * (1 + 1e-6) + s * 1e-6
    assert (err <= bound).all(), name
    nbo, nbi = scale.shape
    for i in range(nbo):
        for j in range(nbi):
            blk = codes[i * 128:(i + 1) * 128, j * 128:(j + 1) * 128]
            assert (blk & 0x7F).max() == 0x7E, name       # the amax element encodes to 448
    normal = np.abs(w) >= s * 2.0 ** -6                   # w/scale in e4m3's normal range
    return float((err[normal] / np.abs(w[normal])).max()), float((err / s).max())


def check_safetensors_layout(path):
    """The file obeys the rules r1kit's reader enforces (docs: DESIGN.md): header starts with '{', padded with
    spaces to 8, entries cover the buffer without holes or overlaps, sizes match dtype x shape."""
    with open(path, "rb") as f:
        data = f.read()
    n = int(np.frombuffer(data[:8], dtype="<u8")[0])
    assert n % 8 == 0 and data[8:9] == b"{"
    hdr = json.loads(data[8:8 + n])
    hdr.pop("__metadata__", None)
    bits = {"F32": 32, "F16": 16, "BF16": 16, "F8_E4M3": 8}
    spans = sorted((e["data_offsets"][0], e["data_offsets"][1], e) for e in hdr.values())
    at = 0
    for b, e_, e in spans:
        assert b == at and e_ - b == int(np.prod(e["shape"], dtype=np.int64)) * bits[e["dtype"]] // 8
        at = e_
    assert 8 + n + at == len(data)


def run_case(name, cfg, seed, storage, ntok, outdir, summary):
    rng = np.random.default_rng(seed)
    W = gen_weights(cfg, rng)
    tokens = rng.integers(0, cfg["vocab_size"], ntok).tolist()
    d = os.path.join(outdir, name)
    os.makedirs(d, exist_ok=True)
    entries = store(W, storage)
    meta = {"format": "pt", "generator": "r1kit tests/reference/make_fixtures.py", "case": name}
    rm.write_safetensors(os.path.join(d, "model.safetensors"), entries, meta)
    check_safetensors_layout(os.path.join(d, "model.safetensors"))
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    with open(os.path.join(d, "tokenizer.json"), "w") as f:
        json.dump(byte_level_tokenizer(), f, ensure_ascii=False, separators=(",", ":"))
    info = {"storage": storage, "tokens": len(tokens)}

    # re-read from disk: this is what the reference runs on
    cfg2, Wd = rm.load_checkpoint(d)
    assert cfg2 == json.loads(json.dumps(cfg))
    assert set(Wd) == set(W), "tensor set changed on disk"
    if storage == "fp8":
        n8, worst, worst_abs = 0, 0.0, 0.0
        ent = {e[0]: e for e in entries}
        for n, a in W.items():
            if is_fp8_weight(n, a):
                codes, scale = ent[n][2], ent[n + "_scale_inv"][2]
                deq = rm.fp8_block_dequantize(codes, scale)
                assert np.array_equal(deq, Wd[n].numpy()), n
                assert scale.shape == (-(-a.shape[0] // 128), -(-a.shape[1] // 128))
                r, e = check_fp8_tensor(n, a, codes, scale, deq)
                worst, worst_abs = max(worst, r), max(worst_abs, e)
                n8 += 1
        edge = [n for n, a in W.items() if is_fp8_weight(n, a) and (a.shape[0] % 128 or a.shape[1] % 128)]
        big = [n for n, a in W.items() if is_fp8_weight(n, a) and max(a.shape) > 128]
        assert edge and big
        info["fp8"] = {"tensors": n8, "with_partial_edge_blocks": len(edge), "with_dim_gt_128": len(big),
                       "max_rel_dequant_err_normal_range": worst, "max_abs_dequant_err_over_scale": worst_abs}
        assert worst <= 2.0 ** -4 + 1e-6 and worst_abs <= 16.0 + 1e-3

    m64 = rm.RefModel(cfg2, Wd, torch.float64)
    m32 = rm.RefModel(cfg2, Wd, torch.float32)
    with torch.no_grad():
        full64 = m64.forward(tokens)
        routes = list(m64.route_log)
        m64.route_log.clear()
        inc64 = m64.forward_incremental(tokens)
        pre64 = m64.forward_incremental(tokens, prefill=ntok // 2)
        full32 = m32.forward(tokens)
        inc32 = m32.forward_incremental(tokens)
    scale = float(full64.abs().max())
    d_inc64 = float((inc64 - full64).abs().max())
    d_pre64 = float((pre64 - full64).abs().max())
    d_inc32 = float((inc32 - full32).abs().max())
    d_32_64 = float((full32.double() - full64).abs().max())
    # relative to the largest |logit| of the same token's row (per-element relative error is meaningless
    # for logits near 0)
    rel_32_64 = float(((full32.double() - full64).abs().max(-1)[0] / full64.abs().max(-1)[0]).max())
    assert d_inc64 <= 1e-11 * scale and d_pre64 <= 1e-11 * scale, (d_inc64, d_pre64)
    assert d_inc32 <= 1e-5 * scale, d_inc32
    assert d_32_64 <= 1e-5 * scale, d_32_64
    # every tensor is used, except the MTP module
    unused = sorted(set(Wd) - m64.used)
    L = cfg["num_hidden_layers"]
    never = [n for n in unused if not n.startswith("model.layers.%d." % L)]
    assert all(".mlp.experts." in n for n in never), never      # only routed experts nobody picked
    assert not never, "every routed expert must fire at least once: " + repr(never)
    if cfg.get("num_nextn_predict_layers"):
        assert unused, "MTP tensors missing"
        assert {"model.layers.%d.%s.weight" % (L, s) for s in ("enorm", "hnorm", "eh_proj")} <= set(unused)
    info.update({"max_abs_logit": scale, "max_abs_diff_f32_vs_f64": d_32_64, "max_rowrel_diff_f32_vs_f64":
                 rel_32_64, "max_abs_diff_incremental_vs_full_f64": d_inc64,
                 "max_abs_diff_prefill_steps_vs_full_f64": d_pre64,
                 "max_abs_diff_incremental_vs_full_f32": d_inc32, "unused_tensors_ignored": len(unused)})

    inv, att = m64.inv_freq, m64.att
    base = float(cfg.get("rope_theta", 10000.0))
    dim = 2 * inv.shape[0]
    plain = 1.0 / base ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim)
    info["rope"] = {"dim": dim, "inv_freq_over_unscaled": [round(float(v), 6) for v in inv / plain],
                    "cos_sin_multiplier": att, "softmax_scale": m64.scale}
    if m64.mla:
        # rope layout: the same model run with HF's de-interleave + rotate_half must give the same logits,
        # and plain rotate_half on the checkpoint order must not
        with torch.no_grad():
            hf = rm.RefModel(cfg2, Wd, torch.float64, rope_impl="hf").forward(tokens)
            wrong = rm.RefModel(cfg2, Wd, torch.float64, rope_impl="neox_wrong").forward(tokens)
        info["rope_hf_vs_interleaved_max_abs"] = float((hf - full64).abs().max())
        info["rope_plain_rotate_half_vs_interleaved_max_abs"] = float((wrong - full64).abs().max())
        assert info["rope_hf_vs_interleaved_max_abs"] <= 1e-11 * scale
        assert info["rope_plain_rotate_half_vs_interleaved_max_abs"] > 1e-3 * scale
        # routing: no near-ties (so f32 engines pick the same experts)
        gm = min(r["group_margin"] for r in routes)
        em = min(r["expert_margin"] for r in routes)
        assert gm > 2e-3 and em > 2e-3, (gm, em)
        with torch.no_grad():
            r32 = rm.RefModel(cfg2, Wd, torch.float32)
            r32.forward(tokens)
        assert all(torch.equal(a["idx"], b["idx"]) for a, b in zip(routes, r32.route_log))
        info["routing_min_margin"] = {"group": gm, "expert": em}
        info["routing_selected"] = {str(r["layer"]): r["idx"].tolist() for r in routes}
        if cfg.get("topk_method") == "noaux_tc":
            # HF's masked_fill(0.0) selects the same experts
            with torch.no_grad():
                z = rm.RefModel(cfg2, Wd, torch.float64, group_fill="zero")
                z.forward(tokens)
            assert all(torch.equal(a["idx"], b["idx"]) for a, b in zip(routes, z.route_log))
            # the negative correction bias changes the selection
            Wnb = dict(Wd)
            for n in Wd:
                if n.endswith("e_score_correction_bias"):
                    Wnb[n] = torch.zeros_like(Wd[n])
            with torch.no_grad():
                nb = rm.RefModel(cfg2, Wnb, torch.float64)
                nb_logits = nb.forward(tokens)
            changed = sum(int((a["idx"] != b["idx"]).any(-1).sum()) for a, b in zip(routes, nb.route_log))
            assert changed > 0, "e_score_correction_bias does not change any selection"
            neg_sel = sum(int(torch.isin(a["idx"], torch.tensor([1, 4, 6])).sum()) for a in routes)
            info["bias_changes_selection_tokens"] = changed
            info["bias_off_logits_max_abs_diff"] = float((nb_logits - full64).abs().max())
            info["negatively_biased_experts_still_selected"] = neg_sel

    write_logits(os.path.join(d, "logits.bin"), tokens, full64.float().numpy())
    t2, l2 = read_logits(os.path.join(d, "logits.bin"))
    assert t2 == tokens and np.array_equal(l2, full64.float().numpy())
    info["bytes"] = {f: os.path.getsize(os.path.join(d, f)) for f in sorted(os.listdir(d))}
    summary[name] = info
    print("%-11s %-4s T=%2d  |logit|max %.3f  f32-f64 %.2e (row-rel %.2e)  inc-full f64 %.1e f32 %.1e  st %d B" % (
        name, storage, len(tokens), scale, d_32_64, rel_32_64, d_inc64, d_inc32,
        info["bytes"]["model.safetensors"]))


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "fixtures")
    os.makedirs(outdir, exist_ok=True)
    summary = {}
    r = rm.check_rope_layout()
    assert r["perm_q"] < 1e-12 and r["scores_hf_vs_interleaved"] < 1e-12
    assert r["scores_plain_rotate_half_vs_interleaved"] > 1e-3
    summary["rope_layout_unit_check"] = r
    summary["e4m3_codec"] = check_e4m3_codec()
    print("e4m3 codec:", summary["e4m3_codec"])
    for name, cfg, seed, storage, ntok in CASES:
        run_case(name, copy.deepcopy(cfg), seed, storage, ntok, outdir, summary)
    with open(os.path.join(outdir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1, sort_keys=True)
        f.write("\n")
    print("ok")


if __name__ == "__main__":
    main()
