#!/usr/bin/python3
"""tests/reference/make_train_fixtures.py — golden fixtures for ONE training step of the r1kit training engine.

    /usr/bin/python3 tests/reference/make_train_fixtures.py [OUTDIR]   (default: tests/reference/fixtures_train)

Deterministic (numpy seeds, torch.set_num_threads(1)). Uses reference_models.RefModel (the forward the logits
fixtures are checked against) run in float64 with autograd; every sequence of the batch is one forward call.

Per case, OUTDIR/<case>/:
    config.json          HF config
    model.safetensors    F32 initial parameters (HF names; includes mlp.gate.e_score_correction_bias)
    batch.bin            "RKTB", u32 version 1, u32 B, u32 T, B*T i32 inputs, B*T i32 targets (-1 = ignored),
                         little-endian, row-major [B][T]
    grads.safetensors    F32 dL/dtheta for every trainable parameter (all tensors but e_score_correction_bias)
    step.safetensors     F32 all parameters after one optimizer step (see below), same names as model.safetensors
    train.json           scalars (loss, ce, aux, grad_norm, clip_factor, hyper-parameters), MoE loads, f32-vs-f64

Loss:
    L = CE + aux_alpha * AUX
    CE  = mean over the non-ignored tokens (target != -1) of the whole batch of cross-entropy(logits, target)
    AUX = sum over MoE layers of the mean over the B sequences of sum_i f_i * P_i, where (DeepSeek-V3 paper,
          sequence-wise balance loss; per sequence of T tokens, N_r routed experts, K_r = top-k):
          f_i = N_r/(K_r·T) · Σ_t 1[token t selected expert i] (a constant, no gradient), P_i = 1/T · Σ_t s'_{i,t},
          s'_{i,t} = s_{i,t} / Σ_j s_{j,t} where s are the sigmoid scores (before the bias).
    All B*T tokens are routed (and count in f_i, P_i and the loads) whatever their target.
    Gradients flow through the routing weights of the chosen experts (unbiased scores, normalized, x
    routed_scaling_factor) into mlp.gate.weight, and through P_i; not through the top-k choice itself.

Step (float64, stored f32):
    1. g = dL/dtheta (trainable = every tensor except e_score_correction_bias);
    2. global clipping as torch.nn.utils.clip_grad_norm_(max_norm): n = ||g||_2 over all trainable tensors,
       c = min(1, max_norm / (n + 1e-6)), g <- c·g;
    3. one torch.optim.AdamW step (first step: m = (1-b1) g, v = (1-b2) g², theta <- theta·(1 - lr·wd) then
       theta <- theta - lr/(1-b1) · m / (sqrt(v)/sqrt(1-b2) + eps)), lr 1e-3, betas (0.9, 0.95), eps 1e-8,
       weight_decay 0.1 on tensors with ndim >= 2 (matrices, embeddings, router), 0 on 1-D (norms, biases);
    4. MoE layers, auxiliary-loss-free balancing: e_score_correction_bias_i += gamma · sign(mean_load − load_i),
       load_i = number of (token, slot) selections of expert i over all B·T tokens of the batch,
       mean_load = B·T·K_r/N_r, gamma = 0.001, sign(0) = 0.

Checks asserted: no routing near-ties (group and expert margins > 2e-3, f32 picks the same experts as f64),
every routed expert and every trainable tensor gets a gradient, the f64 gradient matches a central finite
difference along a random direction, clipping active/inactive as intended, the checkpoint re-read from disk is
what the reference ran on. The same step is also run entirely in float32 and its differences to the f64
gradients and step go to train.json ("f32_vs_f64").
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
import make_fixtures as mf     # noqa: E402   (configs and the random weight generator)

torch.set_num_threads(1)

VOCAB = 128
B, T = 2, 12
LR, BETAS, EPS, WD, GAMMA = 1e-3, (0.9, 0.95), 1e-8, 0.1, 1e-3
IGNORED = [(0, 4), (1, 11)]          # (sequence, position) whose target is -1

# ----------------------------------------------------------------------------------------------------------------
# configs (the logits fixtures' architectures, smaller)
# ----------------------------------------------------------------------------------------------------------------


def ds_v3_cfg(q_lora, aux_alpha):
    c = mf.ds_v3_config(False, 0.8)       # YaRN factor 40, mscale 1.0, mscale_all_dim 0.8 (both corrections on)
    c.update({
        "vocab_size": VOCAB, "hidden_size": 48, "intermediate_size": 64, "moe_intermediate_size": 16,
        "num_hidden_layers": 3, "num_nextn_predict_layers": 0, "num_attention_heads": 4,
        "num_key_value_heads": 4, "kv_lora_rank": 24, "q_lora_rank": 32 if q_lora else None,
        "qk_rope_head_dim": 8, "v_head_dim": 8, "qk_nope_head_dim": 8,
        "n_routed_experts": 8, "n_group": 4, "topk_group": 2, "num_experts_per_tok": 3, "n_shared_experts": 1,
        "first_k_dense_replace": 1, "routed_scaling_factor": 2.5, "norm_topk_prob": True,
        "scoring_func": "sigmoid", "topk_method": "noaux_tc",
        "aux_loss_alpha": aux_alpha, "seq_aux": True, "torch_dtype": "float32",
        "bos_token_id": VOCAB - 2, "eos_token_id": VOCAB - 1,
    })
    return c


def gqa_cfg(kind, tied):
    if kind == "llama":
        c = mf.llama3_config()
        c.update({"hidden_size": 32, "intermediate_size": 64, "head_dim": 16})   # 8 freqs: all llama3 regimes
    else:
        c = mf.qwen2_config(tied, "float32")
        c.update({"hidden_size": 32, "intermediate_size": 64})                   # head_dim 8
    c.update({"vocab_size": VOCAB, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
              "torch_dtype": "float32", "bos_token_id": VOCAB - 2, "eos_token_id": VOCAB - 1})
    return c


# name: config, weight seed, batch seed, aux_alpha, clipping wanted active
CASES = [
    ("qwen2", gqa_cfg("qwen2", False), 2001, 3001, 0.0, False),
    ("qwen2_tied", gqa_cfg("qwen2", True), 2002, 3002, 0.0, False),
    ("llama3", gqa_cfg("llama", False), 2003, 3003, 0.0, True),
    ("ds_v3", ds_v3_cfg(True, 0.0), 2004, 3004, 0.0, True),
    ("ds_v3_aux", ds_v3_cfg(False, 0.01), 2005, 3005, 0.01, True),
]

# ----------------------------------------------------------------------------------------------------------------
# batch.bin
# ----------------------------------------------------------------------------------------------------------------


def write_batch(path, inputs, targets):
    inputs, targets = np.asarray(inputs), np.asarray(targets)
    with open(path, "wb") as f:
        f.write(b"RKTB")
        f.write(np.array([1, inputs.shape[0], inputs.shape[1]], dtype="<u4").tobytes())
        f.write(np.ascontiguousarray(inputs, dtype="<i4").tobytes())
        f.write(np.ascontiguousarray(targets, dtype="<i4").tobytes())


def read_batch(path):
    with open(path, "rb") as f:
        d = f.read()
    assert d[:4] == b"RKTB"
    ver, b, t = (int(v) for v in np.frombuffer(d[4:16], dtype="<u4"))
    assert ver == 1 and len(d) == 16 + 8 * b * t
    x = np.frombuffer(d[16:16 + 4 * b * t], dtype="<i4").reshape(b, t)
    y = np.frombuffer(d[16 + 4 * b * t:], dtype="<i4").reshape(b, t)
    return x.copy(), y.copy()


def make_batch(rng, vocab):
    seq = rng.integers(0, vocab, (B, T + 1))
    inputs, targets = seq[:, :T].copy(), seq[:, 1:].copy()      # next-token targets
    for b, t in IGNORED:
        targets[b, t] = -1
    return inputs, targets

# ----------------------------------------------------------------------------------------------------------------
# loss
# ----------------------------------------------------------------------------------------------------------------


def is_trainable(name):
    return not name.endswith("e_score_correction_bias")


def loss_fn(cfg, params, inputs, targets, dtype, aux_alpha):
    """-> (L, CE, AUX, per-MoE-layer info). params: dict name -> leaf tensor of `dtype`."""
    m = rm.RefModel(cfg, params, dtype)
    logits, routes = [], []
    for b in range(inputs.shape[0]):
        m.route_log.clear()
        logits.append(m.forward(inputs[b].tolist()))
        routes.append(list(m.route_log))
    lg = torch.cat(logits)                                         # [B*T, V]
    tg = torch.as_tensor(targets.reshape(-1), dtype=torch.long)
    ce = torch.nn.functional.cross_entropy(lg, tg, ignore_index=-1, reduction="mean")
    aux = torch.zeros((), dtype=dtype)
    moe = {}
    if routes[0]:
        E, K = cfg["n_routed_experts"], cfg["num_experts_per_tok"]
        for j in range(len(routes[0])):
            layer = routes[0][j]["layer"]
            per_seq, load = [], torch.zeros(E, dtype=torch.long)
            for b in range(len(routes)):
                r = routes[b][j]
                assert r["layer"] == layer
                idx, s = r["idx"], r["scores"]                      # [T, K], [T, E] sigmoid scores (no bias)
                Tn = idx.shape[0]
                cnt = torch.bincount(idx.reshape(-1), minlength=E)
                load += cnt
                f = (E / (K * Tn)) * cnt.to(dtype)                   # constant
                P = (s / s.sum(-1, keepdim=True)).mean(0)
                per_seq.append((f * P).sum())
            aux = aux + torch.stack(per_seq).mean()
            moe[layer] = {"load": load,
                          "idx": [routes[b][j]["idx"] for b in range(len(routes))],
                          "group_margin": min(routes[b][j]["group_margin"] for b in range(len(routes))),
                          "expert_margin": min(routes[b][j]["expert_margin"] for b in range(len(routes)))}
    L = ce + aux_alpha * aux
    return L, ce, aux, moe, m.used


def run_step(cfg, W, inputs, targets, dtype, aux_alpha, max_norm):
    """Full step in `dtype`. Returns dict with loss parts, grads (pre-clip), new params, norm, clip factor."""
    params = {n: w.to(dtype).clone().requires_grad_(is_trainable(n)) for n, w in W.items()}
    L, ce, aux, moe, used = loss_fn(cfg, params, inputs, targets, dtype, aux_alpha)
    L.backward()
    train = [n for n in sorted(params) if is_trainable(n)]
    grads = {n: params[n].grad.detach().clone() for n in train}
    tp = [params[n] for n in train]
    norm = float(torch.nn.utils.clip_grad_norm_(tp, max_norm))
    clip = min(1.0, max_norm / (norm + 1e-6))
    decay = [params[n] for n in train if params[n].ndim >= 2]
    no_decay = [params[n] for n in train if params[n].ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": WD}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=LR, betas=BETAS, eps=EPS)
    opt.step()
    new = {n: p.detach().clone() for n, p in params.items()}
    if moe:
        E, K = cfg["n_routed_experts"], cfg["num_experts_per_tok"]
        mean_load = inputs.size * K / E
        for layer, info in moe.items():
            n = "model.layers.%d.mlp.gate.e_score_correction_bias" % layer
            sgn = torch.sign(mean_load - info["load"].to(dtype))
            new[n] = new[n] + GAMMA * sgn
    return {"loss": float(L), "ce": float(ce), "aux": float(aux), "moe": moe, "grads": grads, "new": new,
            "norm": norm, "clip": clip, "used": used, "params": params}


def manual_step(cfg, W, grads, max_norm, moe, n_tokens):
    """The documented update written out (float64 numpy), independent of torch.optim: cross-checks AdamW and
    clip_grad_norm_, and (fed the stored f32 grads) shows what an optimizer-only test can expect."""
    g = {n: np.asarray(v, dtype=np.float64) for n, v in grads.items()}
    norm = float(np.sqrt(sum(float((a * a).sum()) for a in g.values())))
    c = min(1.0, max_norm / (norm + 1e-6))
    b1, b2 = BETAS
    out = {}
    for n, w in W.items():
        w = w.double().numpy()
        if n in g:
            gg = c * g[n]
            m, v = (1 - b1) * gg, (1 - b2) * gg * gg
            wd = WD if w.ndim >= 2 else 0.0
            w = w * (1 - LR * wd)
            w = w - (LR / (1 - b1)) * m / (np.sqrt(v) / np.sqrt(1 - b2) + EPS)
        out[n] = w
    if moe:
        E, K = cfg["n_routed_experts"], cfg["num_experts_per_tok"]
        for layer, info in moe.items():
            n = "model.layers.%d.mlp.gate.e_score_correction_bias" % layer
            out[n] = out[n] + GAMMA * np.sign(n_tokens * K / E - info["load"].numpy().astype(np.float64))
    return out, norm, c


def loss_value(cfg, W64, inputs, targets, aux_alpha):
    with torch.no_grad():
        return float(loss_fn(cfg, W64, inputs, targets, torch.float64, aux_alpha)[0])


def fd_check(cfg, W, grads, inputs, targets, aux_alpha, rng):
    """Central difference along a random direction (all trainable tensors) vs the autograd directional derivative."""
    W64 = {n: w.to(torch.float64) for n, w in W.items()}
    d = {n: torch.from_numpy(rng.standard_normal(tuple(W[n].shape))) for n in grads}
    h = 1e-6
    plus = {n: (W64[n] + h * d[n] if n in d else W64[n]) for n in W64}
    minus = {n: (W64[n] - h * d[n] if n in d else W64[n]) for n in W64}
    fd = (loss_value(cfg, plus, inputs, targets, aux_alpha) - loss_value(cfg, minus, inputs, targets, aux_alpha)) / (2 * h)
    an = float(sum((grads[n] * d[n]).sum() for n in grads))
    return fd, an

# ----------------------------------------------------------------------------------------------------------------
# one case
# ----------------------------------------------------------------------------------------------------------------


def st_entries(T_):
    return [(n, "F32", T_[n].to(torch.float32).numpy()) for n in sorted(T_)]


def rel_per_tensor(a, b):
    """max over tensors of max|a-b| / max|b| (b the f64 reference), and the worst tensor."""
    worst, wn = 0.0, None
    for n in b:
        den = float(b[n].abs().max())
        if den == 0:
            assert float(a[n].abs().max()) == 0, n
            continue
        r = float((a[n].double() - b[n]).abs().max()) / den
        if r > worst:
            worst, wn = r, n
    return worst, wn


def run_case(name, cfg, wseed, bseed, aux_alpha, clip_active, outdir, summary):
    rng = np.random.default_rng(wseed)
    Wnp = mf.gen_weights(cfg, rng)
    d = os.path.join(outdir, name)
    os.makedirs(d, exist_ok=True)
    meta = {"format": "pt", "generator": "r1kit tests/reference/make_train_fixtures.py", "case": name}
    rm.write_safetensors(os.path.join(d, "model.safetensors"), [(n, "F32", Wnp[n]) for n in sorted(Wnp)], meta)
    mf.check_safetensors_layout(os.path.join(d, "model.safetensors"))
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    cfg2, W = rm.load_checkpoint(d)
    assert cfg2 == json.loads(json.dumps(cfg)) and set(W) == set(Wnp)
    assert all(np.array_equal(W[n].numpy(), Wnp[n]) for n in W)
    mla = cfg["model_type"].startswith("deepseek")

    # batch: redraw (deterministically) until no routing decision is a near-tie and f32 routes like f64
    brng = np.random.default_rng(bseed)
    for attempt in range(200):
        inputs, targets = make_batch(brng, cfg["vocab_size"])
        if not mla:
            break
        with torch.no_grad():
            _, _, _, moe64, _ = loss_fn(cfg2, {n: w.double() for n, w in W.items()}, inputs, targets,
                                        torch.float64, aux_alpha)
            _, _, _, moe32, _ = loss_fn(cfg2, dict(W), inputs, targets, torch.float32, aux_alpha)
        gm = min(v["group_margin"] for v in moe64.values())
        em = min(v["expert_margin"] for v in moe64.values())
        same = all(torch.equal(a, b) for l in moe64 for a, b in zip(moe64[l]["idx"], moe32[l]["idx"]))
        all_fire = all(bool((v["load"] > 0).all()) for v in moe64.values())
        if gm > 2e-3 and em > 2e-3 and same and all_fire:
            break
    else:
        raise RuntimeError("no batch without routing near-ties")
    write_batch(os.path.join(d, "batch.bin"), inputs, targets)
    x2, y2 = read_batch(os.path.join(d, "batch.bin"))
    assert np.array_equal(x2, inputs) and np.array_equal(y2, targets)

    # gradient norm first (to choose max_norm), then the real step
    probe = run_step(cfg2, W, inputs, targets, torch.float64, aux_alpha, float("inf"))
    n0 = probe["norm"]
    max_norm = float("%.2g" % (n0 * (0.5 if clip_active else 2.0)))
    r64 = run_step(cfg2, W, inputs, targets, torch.float64, aux_alpha, max_norm)
    r32 = run_step(cfg2, W, inputs, targets, torch.float32, aux_alpha, max_norm)
    assert (r64["clip"] < 1.0) == clip_active, (name, r64["norm"], max_norm)
    assert abs(r64["norm"] - n0) <= 1e-12 * n0

    # every tensor used; every trainable tensor has a non-zero gradient
    assert r64["used"] == set(W), sorted(set(W) - r64["used"])
    for n, g in r64["grads"].items():
        assert float(g.abs().max()) > 0, "zero gradient: " + n
    assert set(r64["grads"]) == {n for n in W if is_trainable(n)}
    fd, an = fd_check(cfg2, W, r64["grads"], inputs, targets, aux_alpha, np.random.default_rng(wseed + 7))
    assert abs(fd - an) <= 1e-6 * max(1.0, abs(an)), (fd, an)
    if mla:
        for l in r64["moe"]:
            assert all(torch.equal(a, b) for a, b in zip(r64["moe"][l]["idx"], r32["moe"][l]["idx"]))
            assert torch.equal(r64["moe"][l]["load"], r32["moe"][l]["load"])

    # the documented formulas, independently of torch.optim / clip_grad_norm_
    man, mnorm, mclip = manual_step(cfg2, W, {n: g.numpy() for n, g in r64["grads"].items()}, max_norm,
                                    r64["moe"], inputs.size)
    d_man = max(float(np.abs(man[n] - r64["new"][n].numpy()).max()) for n in man)
    assert d_man <= 1e-12 and abs(mnorm - r64["norm"]) <= 1e-12 * mnorm and abs(mclip - r64["clip"]) <= 1e-12, d_man
    # optimizer-only: the step computed (f64) from the stored f32-rounded grads vs step.safetensors
    g32 = {n: g.float().numpy() for n, g in r64["grads"].items()}
    from_stored, _, _ = manual_step(cfg2, W, g32, max_norm, r64["moe"], inputs.size)
    d_stored = max(float(np.abs(from_stored[n].astype(np.float32).astype(np.float64) -
                                r64["new"][n].float().double().numpy()).max()) for n in man)

    rm.write_safetensors(os.path.join(d, "grads.safetensors"), st_entries(r64["grads"]), meta)
    rm.write_safetensors(os.path.join(d, "step.safetensors"), st_entries(r64["new"]), meta)
    for f in ("grads", "step"):
        mf.check_safetensors_layout(os.path.join(d, f + ".safetensors"))

    # f32 vs f64
    g_rel, g_worst = rel_per_tensor(r32["grads"], r64["grads"])
    g_abs = max(float((r32["grads"][n].double() - r64["grads"][n]).abs().max()) for n in r64["grads"])
    g_max = max(float(g.abs().max()) for g in r64["grads"].values())
    s_abs = max(float((r32["new"][n].double() - r64["new"][n]).abs().max()) for n in r64["new"])
    upd_abs = max(float((r64["new"][n] - W[n].double()).abs().max()) for n in r64["new"])
    # the f64 step rounded to f32 vs the f32 step
    s_abs_f32 = max(float((r32["new"][n] - r64["new"][n].float()).abs().max()) for n in r64["new"])
    n_step_off = sum(int(((r32["new"][n].double() - r64["new"][n]).abs() > 1e-5).sum()) for n in r64["new"])
    small = sum(int((g.abs() < 1e-6 * g_max).sum()) for g in r64["grads"].values())
    nparam = sum(int(g.numel()) for g in r64["grads"].values())

    moe_json = {}
    if mla:
        E, K = cfg["n_routed_experts"], cfg["num_experts_per_tok"]
        for l, v in r64["moe"].items():
            bn = "model.layers.%d.mlp.gate.e_score_correction_bias" % l
            moe_json[str(l)] = {
                "load": v["load"].tolist(), "mean_load": inputs.size * K / E,
                "bias_delta": [round(float(a), 6) for a in (r64["new"][bn] - W[bn].double())],
                "selected": [[row for row in t.tolist()] for t in v["idx"]],
                "min_group_margin": v["group_margin"],
                # null: infinite, i.e. top-k takes every expert the kept groups allow (8 experts, 4 groups,
                # topk_group 2, top-4), so the group choice alone decides
                "min_expert_margin": v["expert_margin"] if np.isfinite(v["expert_margin"]) else None}
    info = {
        "case": name, "model_type": cfg["model_type"], "B": B, "T": T,
        "ignored_targets": [list(p) for p in IGNORED], "n_target_tokens": int((targets >= 0).sum()),
        "loss": r64["loss"], "ce": r64["ce"], "aux": r64["aux"], "aux_alpha": aux_alpha,
        "aux_weighted": aux_alpha * r64["aux"],
        "grad_norm": r64["norm"], "max_norm": max_norm, "clip_factor": r64["clip"], "clip_active": r64["clip"] < 1,
        "lr": LR, "beta1": BETAS[0], "beta2": BETAS[1], "eps": EPS, "weight_decay": WD,
        "weight_decay_applies_to": "tensors with ndim >= 2", "gamma": GAMMA,
        "n_trainable_params": nparam, "n_trainable_tensors": len(r64["grads"]),
        "no_decay_tensors": sorted(n for n in r64["grads"] if W[n].ndim < 2),
        "moe_layers": moe_json,
        "batch_redraws": attempt,
        "finite_difference_check": {"directional_fd": fd, "autograd": an},
        "f32_vs_f64": {
            "grad_max_rel_per_tensor": g_rel, "grad_worst_tensor": g_worst,
            "grad_max_abs": g_abs, "grad_max_abs_over_global_max_abs": g_abs / g_max,
            "grad_global_max_abs": g_max,
            "loss_abs": abs(r32["loss"] - r64["loss"]), "grad_norm_rel": abs(r32["norm"] - r64["norm"]) / r64["norm"],
            "step_params_max_abs": s_abs, "step_params_max_abs_vs_stored_f32": s_abs_f32,
            "step_params_elements_off_by_gt_1e-5": n_step_off,
            "largest_update_abs": upd_abs,
            "step_from_stored_f32_grads_max_abs": d_stored,
            "grad_elements_below_1e-6_of_max": small,
            "note": "f32 = the whole step (forward, backward, clip, AdamW) in float32 from the same f32 weights; "
                    "rel = max|g32-g64| / max|g64| per tensor, max over tensors"},
    }
    with open(os.path.join(d, "train.json"), "w") as f:
        json.dump(info, f, indent=1, allow_nan=False)
        f.write("\n")
    info["bytes"] = {f: os.path.getsize(os.path.join(d, f)) for f in sorted(os.listdir(d))}
    summary[name] = {k: info[k] for k in ("loss", "ce", "aux", "grad_norm", "max_norm", "clip_factor",
                                          "f32_vs_f64", "bytes", "batch_redraws")}
    print("%-10s params %6d  loss %.6f (ce %.6f aux %.6f)  |g| %.4f max_norm %g clip %.4f  "
          "f32: g rel %.2e (%s)  step abs %.2e (>1e-5: %d)  fd %.3e/%.3e" % (
              name, nparam, r64["loss"], r64["ce"], r64["aux"], r64["norm"], max_norm, r64["clip"], g_rel,
              g_worst, s_abs, n_step_off, fd, an))


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "fixtures_train")
    os.makedirs(outdir, exist_ok=True)
    summary = {}
    for name, cfg, ws, bs, alpha, clip in CASES:
        run_case(name, copy.deepcopy(cfg), ws, bs, alpha, clip, outdir, summary)
    with open(os.path.join(outdir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1, sort_keys=True, allow_nan=False)
        f.write("\n")
    print("ok")


if __name__ == "__main__":
    main()
