#!/usr/bin/env python3
"""Time one training step of the PyTorch reference (reference_models.RefModel, f32), the peer of r1kit's training bench.

usage: train_bench_reference.py FOLDER --batch B --seq T --steps N --threads K [--warmup W] [--aux-alpha A]
FOLDER is an HF folder (config.json + model.safetensors) of any architecture reference_models.py runs; FP8/BF16/F16
weights are dequantized to f32 master weights. Each step: B sequences of T+1 seeded random token ids (the LCG of
`r1kit bench` / bench_reference.py, continuing across steps), inputs = ids[:T], targets = ids[1:]; forward one
sequence at a time, loss = mean cross-entropy (+ A x the sequence-wise balance loss of make_train_fixtures.py,
default A = 0), backward, clip_grad_norm_(1.0), AdamW (lr 1e-3, betas (0.9, 0.95), eps 1e-8, weight decay 0.1 on
tensors with ndim >= 2), and for MoE layers the e_score_correction_bias update (gamma 1e-3) — the step of
tests/reference/fixtures_train. W warmup steps (default 1) are not timed; step_ms is the mean of the N timed steps,
tokens_per_s = B*T / mean step time. torch.set_num_threads(K). Prints one JSON object.
Run with Debian's /usr/bin/python3 (python3-torch)."""
import json, os, sys, time

import numpy as np

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_models as rm  # noqa: E402
import make_train_fixtures as mtf  # noqa: E402   (loss_fn, the fixtures' hyper-parameters)


def arg(name, default, cast=int):
    return cast(sys.argv[sys.argv.index(name) + 1]) if name in sys.argv else default


def main():
    folder = sys.argv[1]
    B, T, steps, threads = arg("--batch", 1), arg("--seq", 128), arg("--steps", 3), arg("--threads", 1)
    warmup, alpha = arg("--warmup", 1), arg("--aux-alpha", 0.0, float)
    torch.set_num_threads(threads)
    cfg, W = rm.load_checkpoint(folder)
    params = {n: w.requires_grad_(mtf.is_trainable(n)) for n, w in W.items()}   # f32 masters, updated in place
    train = [params[n] for n in sorted(params) if mtf.is_trainable(n)]
    opt = torch.optim.AdamW([{"params": [p for p in train if p.ndim >= 2], "weight_decay": mtf.WD},
                             {"params": [p for p in train if p.ndim < 2], "weight_decay": 0.0}],
                            lr=mtf.LR, betas=mtf.BETAS, eps=mtf.EPS)
    vocab = cfg["vocab_size"]
    state = [12345]

    def ids(n):                          # the same generator as r1kit bench, continuing across steps
        out = []
        s = state[0]
        for _ in range(n):
            s = (s * 6364136223846793005 + 1442695040888963407) & (2**64 - 1)
            out.append((s >> 33) % vocab)
        state[0] = s
        return out

    def step():
        seq = np.array(ids(B * (T + 1)), dtype=np.int64).reshape(B, T + 1)
        opt.zero_grad(set_to_none=True)
        L, _, _, moe, _ = mtf.loss_fn(cfg, params, seq[:, :T], seq[:, 1:], torch.float32, alpha)
        L.backward()
        torch.nn.utils.clip_grad_norm_(train, 1.0)
        opt.step()
        if moe:
            E, K = cfg["n_routed_experts"], cfg["num_experts_per_tok"]
            with torch.no_grad():
                for layer, info in moe.items():
                    b = params.get("model.layers.%d.mlp.gate.e_score_correction_bias" % layer)
                    if b is not None:        # noaux_tc models only
                        b += mtf.GAMMA * torch.sign(B * T * K / E - info["load"].to(b.dtype))
        return float(L)

    for _ in range(warmup):
        step()
    times, losses = [], []
    for _ in range(steps):
        t0 = time.perf_counter()
        losses.append(step())
        times.append(time.perf_counter() - t0)
    mean = sum(times) / len(times)
    print(json.dumps({"torch": torch.__version__, "threads": threads, "batch": B, "seq": T, "steps": steps,
                      "warmup": warmup, "tokens_per_s": B * T / mean, "step_ms": mean * 1e3,
                      "best_step_ms": min(times) * 1e3, "loss_first": losses[0], "loss_last": losses[-1]}))


if __name__ == "__main__":
    main()
