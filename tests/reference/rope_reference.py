#!/usr/bin/python3
"""tests/reference/rope_reference.py — RoPE cos/sin tables in PyTorch (float64), written from the published
formulas of Hugging Face transformers' modeling_rope_utils ('default', 'linear', 'yarn', 'llama3') and of
DeepSeek-V3's modeling code (YaRN magnitude factor = get_mscale(factor, mscale) / get_mscale(factor,
mscale_all_dim)). Used by tests/model/test_rope_torch.c (r1kit's model/kernels/rope.c must agree).

usage: rope_reference.py KIND THETA ROT_DIM FACTOR ORIG BETA_FAST BETA_SLOW MSCALE MSCALE_ALL_DIM LOW HIGH POS...
prints "attn <factor>" then one line per position: "<pos> <cos_0> .. <cos_{d/2-1}> <sin_0> .. <sin_{d/2-1}>".

usage: rope_reference.py batch JOBS   (one job per line of JOBS, as the arguments of either form; each job's
output is followed by a line "=== end": one Python start for a whole test file)

usage: rope_reference.py apply FILE KIND THETA ... HIGH   (same parameters, no positions)
FILE holds one vector per line: "<pos> <x_0> .. <x_{d-1}>". Prints, per line, three rotated vectors of d values:
  HF rotate_half (Llama/Qwen: q*cos + rotate_half(q)*sin with cos = cat(c, c)),
  HF modeling_deepseek (x.view(d/2, 2).transpose -> de-interleaved order, then rotate_half; output stays
  de-interleaved), and DeepSeek-V3 inference/model.py (view_as_complex over pairs (2i, 2i+1) times
  freqs_cis = polar(1, angle), interleaved output; the YaRN magnitude is applied to cos/sin here too).
"""
import math
import sys

import torch


def get_mscale(scale, mscale=1.0):
    if scale <= 1:
        return 1.0
    return 0.1 * mscale * math.log(scale) + 1.0


def inv_freq_and_attn(kind, theta, dim, factor, orig, beta_fast, beta_slow, mscale, mscale_all_dim, low_ff, high_ff):
    pos_freqs = theta ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim)
    inv = 1.0 / pos_freqs
    if kind == "default":
        return inv, 1.0
    if kind == "linear":
        return inv / factor, 1.0
    if kind == "yarn":
        def corr_dim(n_rot):
            return (dim * math.log(orig / (n_rot * 2 * math.pi))) / (2 * math.log(theta))
        low = max(math.floor(corr_dim(beta_fast)), 0)
        high = min(math.ceil(corr_dim(beta_slow)), dim - 1)
        if low == high:
            high += 0.001
        ramp = torch.clamp((torch.arange(dim // 2, dtype=torch.float64) - low) / (high - low), 0, 1)
        extra = 1 - ramp
        inv = (1.0 / (factor * pos_freqs)) * (1 - extra) + inv * extra
        return inv, get_mscale(factor, mscale) / get_mscale(factor, mscale_all_dim)
    if kind == "llama3":
        low_wl = orig / low_ff
        high_wl = orig / high_ff
        wavelen = 2 * math.pi / inv
        scaled = torch.where(wavelen > low_wl, inv / factor, inv)
        smooth = (orig / wavelen - low_ff) / (high_ff - low_ff)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = ~(wavelen < high_wl) & ~(wavelen > low_wl)
        return torch.where(medium, smoothed, scaled), 1.0
    raise SystemExit("unknown kind " + kind)


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


def apply(path, inv, attn):
    for line in open(path):
        f = line.split()
        if not f:
            continue
        pos = int(f[0])
        x = torch.tensor([float(v) for v in f[1:]], dtype=torch.float64)
        d = x.shape[0]
        ang = pos * inv
        cos = torch.cat([ang.cos(), ang.cos()]) * attn
        sin = torch.cat([ang.sin(), ang.sin()]) * attn
        neox = x * cos + rotate_half(x) * sin
        xd = x.view(d // 2, 2).transpose(0, 1).reshape(d)
        hf_ds = xd * cos + rotate_half(xd) * sin
        xc = torch.view_as_complex(x.view(d // 2, 2).contiguous())
        ref = torch.view_as_real(xc * torch.polar(torch.full_like(ang, attn), ang)).reshape(d)
        print(" ".join(repr(v) for v in torch.cat([neox, hf_ds, ref]).tolist()))


def run(a):
    if a[0] == "apply":
        path = a[1]
        a = a[2:]
        kind = a[0]
        inv, attn = inv_freq_and_attn(kind, float(a[1]), int(a[2]), float(a[3]), float(a[4]), float(a[5]),
                                      float(a[6]), float(a[7]), float(a[8]), float(a[9]), float(a[10]))
        apply(path, inv, attn)
        return
    kind = a[0]
    theta, dim, factor, orig = float(a[1]), int(a[2]), float(a[3]), float(a[4])
    beta_fast, beta_slow, mscale, mscale_all_dim = float(a[5]), float(a[6]), float(a[7]), float(a[8])
    low_ff, high_ff = float(a[9]), float(a[10])
    positions = [int(p) for p in a[11:]]
    inv, attn = inv_freq_and_attn(kind, theta, dim, factor, orig, beta_fast, beta_slow, mscale, mscale_all_dim,
                                  low_ff, high_ff)
    print("attn %r" % attn)
    for p in positions:
        ang = torch.tensor(float(p), dtype=torch.float64) * inv
        vals = torch.cat([ang.cos() * attn, ang.sin() * attn]).tolist()
        print(p, " ".join(repr(v) for v in vals))


def main():
    a = sys.argv[1:]
    if a[0] == "batch":   # one job (the arguments above) per line of the file; each job's output ends "=== end"
        for line in open(a[1]):
            if line.split():
                run(line.split())
                print("=== end")
        return
    run(a)


if __name__ == "__main__":
    main()
