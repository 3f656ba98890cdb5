#!/usr/bin/python3
"""tests/reference/reference_models.py — r1kit's PyTorch reference for deepseek_v3 (and deepseek_v2), qwen2, llama.

Self-contained (torch + numpy only; run with Debian's /usr/bin/python3, torch 1.13). Written from the public
descriptions of the architectures (DeepSeek-V3 inference/model.py, Hugging Face modeling_deepseek.py /
modeling_qwen2.py / modeling_llama.py / modeling_rope_utils.py), read for facts, not copied.

    model = RefModel(config_dict, weights_dict, dtype=torch.float64)   # or torch.float32
    logits = model.forward(tokens)               # [T, vocab], full sequence, causal
    logits = model.forward_incremental(tokens)   # same, one token at a time through a KV cache
    cfg, W = load_checkpoint(folder)             # HF folder: config.json + model.safetensors (F32/F16/BF16/F8_E4M3)

Weights go in as float32 tensors (what the checkpoint decodes to; FP8 is dequantized as fp8_value * scale in
f32) and are converted to the run dtype, so the f32 and f64 runs see identical parameters.

Semantics chosen where the public references differ (all documented in README.md):
  * DeepSeek RoPE layout: rotation of INTERLEAVED pairs (2i, 2i+1) of the checkpoint's q_pe / k_pe, as
    DeepSeek's inference/model.py does (view_as_complex). HF's modeling_deepseek.py de-interleaves
    (view(..., d//2, 2).transpose) and then uses rotate_half; check_rope_layout() below proves the two give
    the same attention scores (they differ only by one permutation applied to both q and k).
  * YaRN as in HF's modeling_deepseek.py (the code the HF checkpoints ship with): correction range
    floor/ceil over original_max_position_embeddings, ramp (j-low)/(high-low), cos/sin multiplied by
    yarn_mscale(factor, mscale) / yarn_mscale(factor, mscale_all_dim), softmax scale
    qk_head_dim^-0.5 * yarn_mscale(factor, mscale_all_dim)^2 (when mscale_all_dim is set).
    Applied whenever rope_scaling.type == "yarn" (no seq-len condition). Tables computed in float64.
  * Group-limited routing: experts of dropped groups are excluded (-inf), as DeepSeek's inference code
    does; HF fills them with 0.0, which only differs when biased scores of allowed experts are negative —
    make_fixtures.py asserts that never changes a selection in the fixtures.
  * Routing weights: the UNBIASED scores (sigmoid or softmax) of the selected experts; sigmoid/noaux_tc:
    normalised to sum 1 when norm_topk_prob, then x routed_scaling_factor. model_type deepseek_v2 keeps V2's
    rule (scale only when not normalising).
"""
import json
import math
import os
import struct

import numpy as np
import torch

# ----------------------------------------------------------------------------------------------------------------
# number formats
# ----------------------------------------------------------------------------------------------------------------


def _e4m3fn_table():
    """float64 value of every float8_e4m3fn code (bias 7, 3 mantissa bits, no inf, S.1111.111 = NaN)."""
    t = np.zeros(256, dtype=np.float64)
    for c in range(256):
        s = -1.0 if c & 0x80 else 1.0
        e, m = (c >> 3) & 0xF, c & 7
        if e == 15 and m == 7:
            t[c] = np.nan
        elif e == 0:
            t[c] = s * m * 2.0 ** -9
        else:
            t[c] = s * (1.0 + m / 8.0) * 2.0 ** (e - 7)
    return t


E4M3_TABLE = _e4m3fn_table()                     # exact values
E4M3_TABLE_F32 = E4M3_TABLE.astype(np.float32)    # all exactly representable in f32
E4M3_MAX = 448.0


def e4m3fn_encode(x):
    """float32 array -> uint8 float8_e4m3fn codes, round to nearest, ties to even. |x| must be < 464
    (values in (448, 464) round to 448; nothing here may overflow, the caller scales by amax/448)."""
    x = np.asarray(x, dtype=np.float32)
    a = np.abs(x.astype(np.float64))
    if np.isnan(a).any() or (a >= 464.0).any():
        raise ValueError("e4m3fn_encode: NaN or value out of range")
    pos = E4M3_TABLE[:127]                        # codes 0x00..0x7E, strictly increasing, 0 .. 448
    hi = np.clip(np.searchsorted(pos, a, side="left"), 1, 126)
    lo = hi - 1
    dlo = a - pos[lo]
    dhi = pos[hi] - a
    pick_hi = (dhi < dlo) | ((dhi == dlo) & (hi % 2 == 0))   # tie: the even code (mantissa LSB = code LSB)
    code = np.where(pick_hi, hi, lo)
    code = np.where(a >= 448.0, 126, code)                    # (448, 464) saturates to 448
    sign = np.signbit(x).astype(np.int64) << 7
    return (code | sign).astype(np.uint8)


def e4m3fn_decode(codes):
    """uint8 codes -> float32 values through the 256-entry table."""
    return E4M3_TABLE_F32[np.asarray(codes, dtype=np.uint8)]


def bf16_encode(x):
    """float32 -> bfloat16 bits (uint16), round to nearest even (finite inputs)."""
    b = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    r = (b + 0x7FFF + ((b >> 16) & 1)) >> 16
    return r.astype(np.uint16)


def bf16_decode(bits):
    return (np.asarray(bits, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


def fp8_block_quantize(w, block=128):
    """DeepSeek block FP8: per [block x block] tile scale = amax/448 (f32), code = e4m3fn(w/scale).
    Returns (codes uint8 [out,in], scale_inv float32 [ceil(out/128), ceil(in/128)])."""
    w = np.asarray(w, dtype=np.float32)
    out_f, in_f = w.shape
    nbo, nbi = -(-out_f // block), -(-in_f // block)
    codes = np.empty(w.shape, dtype=np.uint8)
    scale = np.empty((nbo, nbi), dtype=np.float32)
    for i in range(nbo):
        for j in range(nbi):
            blk = w[i * block:(i + 1) * block, j * block:(j + 1) * block]
            amax = np.float32(np.abs(blk).max())
            s = np.float32(amax / np.float32(E4M3_MAX)) if amax > 0 else np.float32(1.0)
            scale[i, j] = s
            codes[i * block:(i + 1) * block, j * block:(j + 1) * block] = e4m3fn_encode(blk / s)
    return codes, scale


def fp8_block_dequantize(codes, scale, block=128):
    """fp8 value x scale of its block, multiplied in float32 (edge blocks partial)."""
    v = e4m3fn_decode(codes)
    s = np.repeat(np.repeat(scale, block, axis=0), block, axis=1)[:v.shape[0], :v.shape[1]]
    return (v * s).astype(np.float32)


# ----------------------------------------------------------------------------------------------------------------
# safetensors (by hand)
# ----------------------------------------------------------------------------------------------------------------

_ST_NP = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "BF16": np.uint16, "F8_E4M3": np.uint8,
          "I64": np.int64, "I32": np.int32, "U8": np.uint8, "I8": np.int8}


def read_safetensors(path):
    """-> (dict name -> (dtype string, numpy array of the raw element type), metadata dict)."""
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    hdr = json.loads(data[8:8 + n].decode("utf-8"))
    base = 8 + n
    meta = hdr.pop("__metadata__", {}) or {}
    out = {}
    for name, e in hdr.items():
        b, end = e["data_offsets"]
        dt = np.dtype(_ST_NP[e["dtype"]]).newbyteorder("<")
        arr = np.frombuffer(data[base + b: base + end], dtype=dt).reshape(e["shape"])
        out[name] = (e["dtype"], arr.copy())
    return out, meta


def write_safetensors(path, tensors, metadata=None):
    """tensors: list of (name, dtype string, numpy array already in that element type). Writes in list order."""
    hdr = {}
    if metadata:
        hdr["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    off = 0
    blobs = []
    for name, dt, arr in tensors:
        raw = np.ascontiguousarray(arr).astype(np.dtype(_ST_NP[dt]).newbyteorder("<"), copy=False).tobytes()
        hdr[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [off, off + len(raw)]}
        off += len(raw)
        blobs.append(raw)
    h = json.dumps(hdr, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for raw in blobs:
            f.write(raw)


def load_checkpoint(folder):
    """HF folder -> (config dict, dict name -> float32 torch tensor). FP8 weights are dequantized with their
    weight_scale_inv (and the *_scale_inv entries dropped); BF16/F16 decoded exactly."""
    with open(os.path.join(folder, "config.json")) as f:
        cfg = json.load(f)
    raw, _ = read_safetensors(os.path.join(folder, "model.safetensors"))
    qc = cfg.get("quantization_config") or {}
    block = (qc.get("weight_block_size") or [128, 128])[0]
    W = {}
    for name, (dt, arr) in raw.items():
        if name.endswith("_scale_inv"):
            continue
        if dt == "F8_E4M3":
            sname = name + "_scale_inv"
            if sname not in raw:
                raise ValueError("FP8 tensor without scale: " + name)
            v = fp8_block_dequantize(arr, raw[sname][1], block)
        elif dt == "BF16":
            v = bf16_decode(arr)
        else:
            v = arr.astype(np.float32)
        W[name] = torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32))
    return cfg, W


# ----------------------------------------------------------------------------------------------------------------
# RoPE
# ----------------------------------------------------------------------------------------------------------------


def yarn_get_mscale(scale, mscale):
    if scale <= 1:
        return 1.0
    return 0.1 * mscale * math.log(scale) + 1.0


def rope_inv_freq(cfg, dim):
    """-> (inv_freq float64 [dim/2], cos/sin multiplier). Default, yarn (DeepSeek/HF) or llama3."""
    base = float(cfg.get("rope_theta", 10000.0))
    inv = 1.0 / base ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim)
    rs = cfg.get("rope_scaling")
    if not rs:
        return inv, 1.0
    typ = rs.get("rope_type", rs.get("type"))
    if typ == "yarn":
        factor = float(rs["factor"])
        orig = float(rs.get("original_max_position_embeddings", 4096))
        beta_fast, beta_slow = float(rs.get("beta_fast", 32)), float(rs.get("beta_slow", 1))

        def corr_dim(rot):
            return dim * math.log(orig / (rot * 2 * math.pi)) / (2 * math.log(base))
        low = max(math.floor(corr_dim(beta_fast)), 0)
        high = min(math.ceil(corr_dim(beta_slow)), dim - 1)
        if low == high:
            high += 0.001
        ramp = ((torch.arange(dim // 2, dtype=torch.float64) - low) / (high - low)).clamp(0, 1)
        keep = 1.0 - ramp                           # 1: high-frequency dims keep their frequency
        inv = (inv / factor) * (1.0 - keep) + inv * keep
        att = yarn_get_mscale(factor, float(rs.get("mscale", 1))) / \
            yarn_get_mscale(factor, float(rs.get("mscale_all_dim", 0)))
        return inv, att
    if typ == "llama3":
        factor = float(rs["factor"])
        lff, hff = float(rs["low_freq_factor"]), float(rs["high_freq_factor"])
        old = float(rs["original_max_position_embeddings"])
        low_wl, high_wl = old / lff, old / hff
        wl = 2 * math.pi / inv
        out = torch.where(wl > low_wl, inv / factor, inv)
        smooth = (old / wl - lff) / (hff - lff)
        mid = (wl >= high_wl) & (wl <= low_wl)
        out = torch.where(mid, (1 - smooth) * inv / factor + smooth * inv, out)
        return out, 1.0
    if typ in ("default", None):
        return inv, 1.0
    raise ValueError("unsupported rope_scaling type %r" % typ)


def rope_tables(inv_freq, att, positions, dtype):
    """cos, sin [T, dim/2] (float64 math, cast to the run dtype), already multiplied by att."""
    ang = positions.to(torch.float64)[:, None] * inv_freq[None, :]
    return (ang.cos() * att).to(dtype), (ang.sin() * att).to(dtype)


def rope_interleaved(x, cos, sin):
    """x [T, H, d]: rotate pairs (x[2i], x[2i+1]) by angle i (DeepSeek inference/model.py layout)."""
    T, H, d = x.shape
    p = x.reshape(T, H, d // 2, 2)
    a, b = p[..., 0], p[..., 1]
    c, s = cos[:, None, :], sin[:, None, :]
    return torch.stack((a * c - b * s, b * c + a * s), dim=-1).reshape(T, H, d)


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def rope_neox(x, cos, sin):
    """x [T, H, d]: rotate (x[i], x[i+d/2]) by angle i (HF rotate_half layout; qwen2/llama)."""
    c = torch.cat((cos, cos), dim=-1)[:, None, :]
    s = torch.cat((sin, sin), dim=-1)[:, None, :]
    return x * c + rotate_half(x) * s


def rope_hf_deinterleave(x, cos, sin):
    """HF modeling_deepseek.py: view(..., d//2, 2).transpose(-1,-2) then rotate_half. Output is in the
    de-interleaved order [even dims..., odd dims...]."""
    T, H, d = x.shape
    x = x.reshape(T, H, d // 2, 2).transpose(-1, -2).reshape(T, H, d)
    return rope_neox(x, cos, sin)


# ----------------------------------------------------------------------------------------------------------------
# the model
# ----------------------------------------------------------------------------------------------------------------


def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def attend(q, k, v, qpos, kpos, scale):
    """q [Tq,H,D], k [Tk,H,D], v [Tk,H,Dv] -> [Tq,H,Dv]; causal by absolute positions."""
    s = torch.einsum("thd,shd->hts", q, k) * scale
    s = s.masked_fill((kpos[None, :] > qpos[:, None])[None], float("-inf"))
    p = torch.softmax(s, dim=-1)
    return torch.einsum("hts,shd->thd", p, v)


class RefModel:
    def __init__(self, cfg, W, dtype=torch.float64, rope_impl="interleaved", group_fill="-inf"):
        self.cfg = cfg
        self.dt = dtype
        self.W = {k: v.to(dtype) for k, v in W.items()}
        self.used = set()
        self.arch = cfg["model_type"]
        self.mla = self.arch in ("deepseek_v3", "deepseek_v2")
        self.L = cfg["num_hidden_layers"]
        self.H = cfg["num_attention_heads"]
        self.eps = float(cfg.get("rms_norm_eps", 1e-6))
        self.rope_impl = rope_impl          # interleaved | hf (de-interleave+rotate_half) | neox_wrong (contrast)
        self.group_fill = group_fill        # "-inf" (DeepSeek inference) or "zero" (HF masked_fill 0.0)
        self.route_log = []                 # filled during forward: per MoE layer call, dicts (see _gate)
        if self.mla:
            self.nope = cfg["qk_nope_head_dim"]
            self.rope_d = cfg["qk_rope_head_dim"]
            self.vd = cfg["v_head_dim"]
            self.inv_freq, self.att = rope_inv_freq(cfg, self.rope_d)
            self.scale = (self.nope + self.rope_d) ** -0.5
            rs = cfg.get("rope_scaling")
            if rs and rs.get("mscale_all_dim"):
                m = yarn_get_mscale(float(rs["factor"]), float(rs["mscale_all_dim"]))
                self.scale *= m * m
        else:
            self.KV = cfg.get("num_key_value_heads", self.H)
            self.hd = cfg.get("head_dim") or cfg["hidden_size"] // self.H
            self.inv_freq, self.att = rope_inv_freq(cfg, self.hd)
            self.scale = self.hd ** -0.5

    def w(self, name):
        self.used.add(name)
        return self.W[name]

    def has(self, name):
        return name in self.W

    def lin(self, x, name, bias=False):
        y = x @ self.w(name + ".weight").t()
        if bias:
            y = y + self.w(name + ".bias")
        return y

    def norm(self, x, name):
        return rms_norm(x, self.w(name + ".weight"), self.eps)

    # ---- attention ----
    def _rope_mla(self, x, cos, sin):
        if self.rope_impl == "interleaved":
            return rope_interleaved(x, cos, sin)
        if self.rope_impl == "hf":
            return rope_hf_deinterleave(x, cos, sin)
        if self.rope_impl == "neox_wrong":
            return rope_neox(x, cos, sin)
        raise ValueError(self.rope_impl)

    def attn_mla(self, l, x, pos, cache):
        p = "model.layers.%d.self_attn." % l
        T = x.shape[0]
        if self.cfg.get("q_lora_rank"):
            q = self.lin(self.norm(self.lin(x, p + "q_a_proj"), p + "q_a_layernorm"), p + "q_b_proj")
        else:
            q = self.lin(x, p + "q_proj")
        q = q.view(T, self.H, self.nope + self.rope_d)
        q_nope, q_pe = q[..., :self.nope], q[..., self.nope:]
        kv = self.lin(x, p + "kv_a_proj_with_mqa")
        r = self.cfg["kv_lora_rank"]
        c = self.norm(kv[:, :r], p + "kv_a_layernorm")              # latent, cached
        k_pe = kv[:, r:].reshape(T, 1, self.rope_d)
        cos, sin = rope_tables(self.inv_freq, self.att, pos, self.dt)
        q_pe = self._rope_mla(q_pe, cos, sin)
        k_pe = self._rope_mla(k_pe, cos, sin)                       # shared by all heads, cached
        cache["c"] = torch.cat((cache["c"], c)) if "c" in cache else c
        cache["kpe"] = torch.cat((cache["kpe"], k_pe)) if "kpe" in cache else k_pe
        cache["pos"] = torch.cat((cache["pos"], pos)) if "pos" in cache else pos
        Tk = cache["c"].shape[0]
        kvb = self.lin(cache["c"], p + "kv_b_proj").view(Tk, self.H, self.nope + self.vd)
        k_nope, v = kvb[..., :self.nope], kvb[..., self.nope:]
        k = torch.cat((k_nope, cache["kpe"].expand(Tk, self.H, self.rope_d)), dim=-1)
        qq = torch.cat((q_nope, q_pe), dim=-1)
        o = attend(qq, k, v, pos, cache["pos"], self.scale).reshape(T, self.H * self.vd)
        return self.lin(o, p + "o_proj")

    def attn_gqa(self, l, x, pos, cache):
        p = "model.layers.%d.self_attn." % l
        T = x.shape[0]
        qb = self.arch == "qwen2" or bool(self.cfg.get("attention_bias"))
        q = self.lin(x, p + "q_proj", qb).view(T, self.H, self.hd)
        k = self.lin(x, p + "k_proj", qb).view(T, self.KV, self.hd)
        v = self.lin(x, p + "v_proj", qb).view(T, self.KV, self.hd)
        cos, sin = rope_tables(self.inv_freq, self.att, pos, self.dt)
        q, k = rope_neox(q, cos, sin), rope_neox(k, cos, sin)
        for key, val in (("k", k), ("v", v), ("pos", pos)):
            cache[key] = torch.cat((cache[key], val)) if key in cache else val
        rep = self.H // self.KV                                      # head h uses kv head h // rep
        K = cache["k"].repeat_interleave(rep, dim=1)
        V = cache["v"].repeat_interleave(rep, dim=1)
        o = attend(q, K, V, pos, cache["pos"], self.scale).reshape(T, self.H * self.hd)
        return self.lin(o, p + "o_proj", bool(self.cfg.get("attention_bias")) and self.arch != "qwen2")

    # ---- feed-forward ----
    def mlp(self, x, p):
        return self.lin(torch.nn.functional.silu(self.lin(x, p + "gate_proj")) * self.lin(x, p + "up_proj"),
                        p + "down_proj")

    def is_moe(self, l):
        c = self.cfg
        return (self.mla and c.get("n_routed_experts") and l >= c.get("first_k_dense_replace", 0)
                and l % c.get("moe_layer_freq", 1) == 0)

    def _gate(self, l, x):
        c = self.cfg
        p = "model.layers.%d.mlp.gate." % l
        E, K = c["n_routed_experts"], c["num_experts_per_tok"]
        logits = x @ self.w(p + "weight").t()
        func = c.get("scoring_func", "softmax")
        scores = logits.sigmoid() if func == "sigmoid" else logits.softmax(dim=-1)
        method = c.get("topk_method", "greedy")
        choice = scores
        if method == "noaux_tc":
            choice = scores + self.w(p + "e_score_correction_bias")[None, :]
        ng, tg = c.get("n_group") or 1, c.get("topk_group") or 1
        gmargin = float("inf")
        if method in ("noaux_tc", "group_limited_greedy") and ng > 1:
            g = choice.view(-1, ng, E // ng)
            gs = g.topk(2, dim=-1)[0].sum(-1) if method == "noaux_tc" else g.max(-1)[0]
            gsort = gs.sort(dim=-1, descending=True)[0]
            gmargin = float((gsort[:, tg - 1] - gsort[:, tg]).min())
            gidx = gs.topk(tg, dim=-1)[1]
            keep = torch.zeros_like(gs, dtype=torch.bool).scatter_(1, gidx, True)
            keep = keep[:, :, None].expand(-1, ng, E // ng).reshape(-1, E)
            fill = float("-inf") if self.group_fill == "-inf" else 0.0
            choice = choice.masked_fill(~keep, fill)
        csort = choice.sort(dim=-1, descending=True)[0]
        emargin = float((csort[:, K - 1] - csort[:, K]).min())
        idx = choice.topk(K, dim=-1)[1]
        wts = scores.gather(1, idx)
        rsf = float(c.get("routed_scaling_factor", 1.0))
        if self.arch == "deepseek_v2":
            if K > 1 and c.get("norm_topk_prob"):
                wts = wts / (wts.sum(-1, keepdim=True) + 1e-20)
            else:
                wts = wts * rsf
        else:
            if K > 1 and c.get("norm_topk_prob"):
                wts = wts / (wts.sum(-1, keepdim=True) + 1e-20)
            wts = wts * rsf
        self.route_log.append({"layer": l, "idx": idx.sort(dim=-1)[0].clone(), "group_margin": gmargin,
                               "expert_margin": emargin, "choice": choice.clone(),
                               "scores": scores})          # unbiased scores, kept in the autograd graph
        #                                                     (make_train_fixtures.py's balance loss)
        return idx, wts

    def moe(self, l, x):
        p = "model.layers.%d.mlp." % l
        idx, wts = self._gate(l, x)
        y = torch.zeros_like(x)
        for e in range(self.cfg["n_routed_experts"]):
            tok, slot = torch.where(idx == e)
            if tok.numel():
                y[tok] += self.mlp(x[tok], p + "experts.%d." % e) * wts[tok, slot, None]
        if self.cfg.get("n_shared_experts"):
            y = y + self.mlp(x, p + "shared_experts.")
        return y

    # ---- whole model ----
    def new_cache(self):
        return [dict() for _ in range(self.L)]

    def forward(self, tokens, cache=None, start=0):
        """tokens: list/1-D tensor of ids at positions start..start+T-1. Returns logits [T, vocab]."""
        tokens = torch.as_tensor(tokens, dtype=torch.long)
        if cache is None:
            cache = self.new_cache()
        T = tokens.shape[0]
        pos = torch.arange(start, start + T)
        x = self.w("model.embed_tokens.weight")[tokens]
        trace = getattr(self, "trace", None)
        if trace is not None:
            trace.append(x)
        for l in range(self.L):
            p = "model.layers.%d." % l
            h = self.norm(x, p + "input_layernorm")
            x = x + (self.attn_mla if self.mla else self.attn_gqa)(l, h, pos, cache[l])
            h = self.norm(x, p + "post_attention_layernorm")
            x = x + (self.moe(l, h) if self.is_moe(l) else self.mlp(h, p + "mlp."))
            if trace is not None:
                trace.append(x)
        x = self.norm(x, "model.norm")
        if trace is not None:
            trace.append(x)
        head = "model.embed_tokens.weight" if self.cfg.get("tie_word_embeddings") else "lm_head.weight"
        return x @ self.w(head).t()

    def forward_incremental(self, tokens, prefill=0):
        """Optionally `prefill` tokens in one call, then the rest one token at a time through the cache."""
        tokens = list(tokens)
        cache = self.new_cache()
        out = []
        if prefill:
            out.append(self.forward(tokens[:prefill], cache, 0))
        for t in range(prefill, len(tokens)):
            out.append(self.forward(tokens[t:t + 1], cache, t))
        return torch.cat(out)


# ----------------------------------------------------------------------------------------------------------------
# self-checks
# ----------------------------------------------------------------------------------------------------------------


def check_rope_layout(seed=0, d=16, T=9, H=3):
    """Numerical evidence for the DeepSeek rope layout: HF's de-interleave + rotate_half equals DeepSeek's
    interleaved-pair rotation up to one fixed permutation of the output dims (the same for q and k), so
    q.k is identical. Returns a dict of max differences (float64)."""
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(T, H, d, generator=g, dtype=torch.float64)
    k = torch.randn(T, 1, d, generator=g, dtype=torch.float64)
    cfg = {"rope_theta": 10000.0, "rope_scaling": {"type": "yarn", "factor": 40.0, "beta_fast": 32,
           "beta_slow": 1, "mscale": 1.0, "mscale_all_dim": 0.8, "original_max_position_embeddings": 256}}
    inv, att = rope_inv_freq(cfg, d)
    cos, sin = rope_tables(inv, att, torch.arange(T), torch.float64)
    perm = torch.cat((torch.arange(0, d, 2), torch.arange(1, d, 2)))
    qi, ki = rope_interleaved(q, cos, sin), rope_interleaved(k, cos, sin)
    qh, kh = rope_hf_deinterleave(q, cos, sin), rope_hf_deinterleave(k, cos, sin)
    qn, kn = rope_neox(q, cos, sin), rope_neox(k, cos, sin)
    si = torch.einsum("thd,sgd->hts", qi, ki)
    sh = torch.einsum("thd,sgd->hts", qh, kh)
    sn = torch.einsum("thd,sgd->hts", qn, kn)
    return {"perm_q": float((qh - qi[..., perm]).abs().max()),
            "perm_k": float((kh - ki[..., perm]).abs().max()),
            "scores_hf_vs_interleaved": float((sh - si).abs().max()),
            "scores_plain_rotate_half_vs_interleaved": float((sn - si).abs().max())}


def write_logits(path, tokens, logits):
    """logits.bin: "RKLG", u32 version 1, u32 T, u32 V, T x i32 token ids, T*V f32 logits (all little-endian)."""
    logits = np.asarray(logits)
    T, V = logits.shape
    with open(path, "wb") as f:
        f.write(b"RKLG")
        f.write(np.array([1, T, V], dtype="<u4").tobytes())
        f.write(np.asarray(tokens, dtype="<i4").tobytes())
        f.write(np.ascontiguousarray(logits, dtype="<f4").tobytes())


def read_logits(path):
    with open(path, "rb") as f:
        d = f.read()
    if d[:4] != b"RKLG":
        raise ValueError("not a logits.bin")
    ver, T, V = (int(v) for v in np.frombuffer(d[4:16], dtype="<u4"))
    if ver != 1 or len(d) != 16 + 4 * T + 4 * T * V:
        raise ValueError("bad logits.bin header")
    toks = np.frombuffer(d[16:16 + 4 * T], dtype="<i4")
    return toks.tolist(), np.frombuffer(d[16 + 4 * T:], dtype="<f4").reshape(T, V)


def main(argv):
    """No argument: the rope-layout self-check. FIXTURE_DIR [--dtype f32|f64] [--hidden OUT.bin]: rerun a fixture,
    compare with its logits.bin; --hidden also writes the residual stream after the embedding and after every
    layer, and the final-norm output ("RKHS", u32 1, u32 n_states, u32 T, u32 H, then f32 [n_states][T][H]),
    to bisect an engine layer by layer."""
    if not argv:
        r = check_rope_layout()
        print(json.dumps(r, indent=1))
        assert r["perm_q"] < 1e-12 and r["perm_k"] < 1e-12 and r["scores_hf_vs_interleaved"] < 1e-12
        assert r["scores_plain_rotate_half_vs_interleaved"] > 1e-3
        print("rope layout: HF de-interleave+rotate_half == interleaved pairs (up to a shared permutation)")
        return 0
    folder = argv[0]
    dtype = torch.float32 if "--dtype" in argv and argv[argv.index("--dtype") + 1] == "f32" else torch.float64
    cfg, W = load_checkpoint(folder)
    tokens, ref = read_logits(os.path.join(folder, "logits.bin"))
    m = RefModel(cfg, W, dtype)
    states = []
    m.trace = states
    with torch.no_grad():
        out = m.forward(tokens)
    d = (out.double() - torch.from_numpy(ref.astype(np.float64))).abs()
    print("%s: T=%d V=%d max|logit| %.4f max|diff vs logits.bin| %.3e (%s)" % (
        folder, len(tokens), ref.shape[1], float(np.abs(ref).max()), float(d.max()), dtype))
    if "--hidden" in argv:
        hs = torch.stack(states).to(torch.float32).numpy()
        with open(argv[argv.index("--hidden") + 1], "wb") as f:
            f.write(b"RKHS")
            f.write(np.array([1] + list(hs.shape), dtype="<u4").tobytes())
            f.write(np.ascontiguousarray(hs, dtype="<f4").tobytes())
    return 0


if __name__ == "__main__":
    import sys
    sys.exit(main(sys.argv[1:]))
