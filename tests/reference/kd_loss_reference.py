#!/usr/bin/python3
"""tests/reference/kd_loss_reference.py — knowledge-distillation losses in PyTorch (float64, autograd), the
reference for distill/kd_loss.c (used by tests/distill/test_kd_loss_torch.c).

Definitions (as distill/kd_loss.h): p = softmax(t/T) teacher, q = softmax(s/T) student; per row
  kind 0 forward KL  KL(p||q),  kind 1 reverse KL  KL(q||p),
  kind 2 generalized JSD  beta*KL(p||m) + (1-beta)*KL(q||m),  m = beta*p + (1-beta)*q;
loss = T^2 * mean over counted rows. Teacher -inf masks the entry for both distributions (the student is
renormalized over the teacher's finite entries); rows with an all -inf teacher are not counted.
Written with torch.nn.functional.log_softmax / kl_div (log_target=True); the gradient d loss / d s by autograd.

usage: kd_loss_reference.py IN OUT
IN (little-endian): int64 njobs, then per job: int64 n, vocab, kind; float64 T, beta; float32 s[n*vocab],
float32 t[n*vocab]. OUT: per job float64 loss, then float64 grad[n*vocab].
"""
import math
import struct
import sys

import torch
import torch.nn.functional as F


def kd_loss(s, t, kind, T, beta):
    """s, t: float64 [n, V]; s requires grad. Returns the scalar loss."""
    valid = torch.isfinite(t).any(dim=1)
    if not bool(valid.any()):
        return (s * 0.0).sum()
    s, t = s[valid], t[valid]
    mask = torch.isinf(t)                       # teacher -inf: masked for both
    lq = F.log_softmax((s / T).masked_fill(mask, -math.inf), dim=-1)
    lp = F.log_softmax(t / T, dim=-1)
    zero = torch.zeros_like(lq)
    lq = torch.where(mask, zero, lq)            # equal finite values at masked entries: kl_div terms are 0 there
    lp = torch.where(mask, zero, lp)
    if kind == 0:
        d = F.kl_div(lq, lp, reduction="none", log_target=True)      # p * (log p - log q)
    elif kind == 1:
        d = F.kl_div(lp, lq, reduction="none", log_target=True)      # q * (log q - log p)
    else:
        lm = torch.logsumexp(torch.stack([lp + math.log(beta), lq + math.log1p(-beta)]), dim=0)
        lm = torch.where(mask, zero, lm)
        d = beta * F.kl_div(lm, lp, reduction="none", log_target=True) + \
            (1 - beta) * F.kl_div(lm, lq, reduction="none", log_target=True)
        d = torch.where(mask, zero, d)
    d = torch.where(mask, zero, d)
    return T * T * d.sum(dim=-1).mean()


def main():
    raw = open(sys.argv[1], "rb").read()
    (njobs,) = struct.unpack_from("<q", raw, 0)
    off = 8
    out = bytearray()
    for _ in range(njobs):
        n, V, kind = struct.unpack_from("<3q", raw, off)
        off += 24
        T, beta = struct.unpack_from("<2d", raw, off)
        off += 16
        nv = n * V
        s = torch.frombuffer(bytearray(raw[off:off + 4 * nv]), dtype=torch.float32).double().view(n, V)
        off += 4 * nv
        t = torch.frombuffer(bytearray(raw[off:off + 4 * nv]), dtype=torch.float32).double().view(n, V)
        off += 4 * nv
        s.requires_grad_(True)
        loss = kd_loss(s, t, kind, T, beta)
        loss.backward()
        out += struct.pack("<d", loss.item())
        out += struct.pack("<%dd" % nv, *s.grad.reshape(-1).tolist())
    open(sys.argv[2], "wb").write(bytes(out))


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
