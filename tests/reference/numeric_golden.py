#!/usr/bin/python3
"""tests/reference/numeric_golden.py — golden f32 <-> BF16/F16/F8_E4M3/F8_E5M2 values from PyTorch.

Used by tests/formats/test_numeric_torch.c, which writes the inputs and compares formats/numeric.c
against what this prints. Run with Debian's python3-torch:

    /usr/bin/python3 numeric_golden.py IN.f32 OUTDIR

IN.f32 is raw little-endian float32. Writes into OUTDIR:
    enc_bf16.u16 enc_f16.u16 enc_e4m3.u8 enc_e5m2.u8   encodes of every input (torch `.to(dtype)`)
    dec_bf16.u32 dec_f16.u32                           f32 bits of all 65536 patterns decoded
    dec_e4m3.u32 dec_e5m2.u32                          f32 bits of all 256 patterns decoded
and prints one line per format on stdout: "<fmt> <source>", source being "torch-<version>" or
"exact-reference" (see below).

Debian bookworm's torch (1.13) has no float8 dtypes (they arrived in torch 2.1). Where torch lacks one,
the FP8 values come from an exact (integer arithmetic) reference written here from the definitions (OCP OFP8 grid,
round to nearest even, torch's rule for what lies past the largest finite value: inf for E5M2, NaN for
E4M3FN, i.e. c10 fp8e4m3fn_from_fp32_value). That same reference is first checked against torch on
BF16 and F16 (every input encoded, every pattern decoded; NaN compared only as "is NaN"); the
script exits 1 if they disagree, so a wrong reference cannot pass silently. Where torch has a float8
dtype, torch is the source and the reference must agree with it too.
"""
import math
import struct
import sys
from fractions import Fraction

import numpy as np
import torch

# name: (exponent bits, mantissa bits, bias, kind). kind 'ieee': top exponent = inf/NaN;
# 'fn': no inf, only S.1111.111 is NaN (float8_e4m3fn).
FORMATS = {
    "bf16": (8, 7, 127, "ieee"),
    "f16": (5, 10, 15, "ieee"),
    "e4m3": (4, 3, 7, "fn"),
    "e5m2": (5, 2, 15, "ieee"),
}
TORCH_DTYPE = {
    "bf16": getattr(torch, "bfloat16", None),
    "f16": getattr(torch, "float16", None),
    "e4m3": getattr(torch, "float8_e4m3fn", None),
    "e5m2": getattr(torch, "float8_e5m2", None),
}


class Fmt:
    def __init__(self, name):
        self.name = name
        self.ebits, self.mbits, self.bias, self.kind = FORMATS[name]
        self.nbits = 1 + self.ebits + self.mbits
        self.sign_bit = 1 << (self.nbits - 1)
        emax_field = (1 << self.ebits) - 1
        if self.kind == "ieee":
            self.max_code = (emax_field << self.mbits) - 1          # largest finite magnitude code
            self.inf_code = emax_field << self.mbits
        else:
            self.max_code = (emax_field << self.mbits) | ((1 << self.mbits) - 2)
            self.inf_code = None
        self.nan_code = (emax_field << self.mbits) | ((1 << self.mbits) - 1)

    def value(self, mag):
        """Exact value of a finite magnitude code (sign bit clear)."""
        e, m = mag >> self.mbits, mag & ((1 << self.mbits) - 1)
        if e == 0:
            return Fraction(m, 1 << self.mbits) * Fraction(2) ** (1 - self.bias)
        return (1 + Fraction(m, 1 << self.mbits)) * Fraction(2) ** (e - self.bias)

    def is_nan(self, code):
        mag = code & (self.sign_bit - 1)
        e = mag >> self.mbits
        if self.kind == "ieee":
            return e == (1 << self.ebits) - 1 and (mag & ((1 << self.mbits) - 1)) != 0
        return mag == self.nan_code

    def decode(self, code):
        """Python float (exact) or nan/inf."""
        neg = bool(code & self.sign_bit)
        mag = code & (self.sign_bit - 1)
        if self.is_nan(code):
            return float("-nan") if neg else float("nan")
        if self.inf_code is not None and mag == self.inf_code:
            return float("-inf") if neg else float("inf")
        v = float(self.value(mag))
        return -v if neg else v

    def encode(self, x):
        """Round-to-nearest-even encode of a Python float (an f32 value)."""
        neg = (struct.pack("<d", x)[7] & 0x80) != 0
        sign = self.sign_bit if neg else 0
        if x != x:
            return sign | self.nan_code
        over = sign | (self.inf_code if self.inf_code is not None else self.nan_code)
        if x in (float("inf"), float("-inf")):
            return over
        if x == 0:
            return sign
        # Round |x| to a multiple of the ulp of its binade (the subnormal ulp below the smallest normal),
        # ties to even, in exact integer arithmetic: |x| = num/den, ulp = 2**k.
        _, e = math.frexp(abs(x))                     # |x| = m * 2**e, 0.5 <= m < 1
        ue = max(e - 1, 1 - self.bias)                # unbiased exponent of the binade used
        num, den = abs(x).as_integer_ratio()
        k = ue - self.mbits
        if k >= 0:
            den <<= k
        else:
            num <<= -k
        q, r = divmod(num, den)                       # |x| / ulp = q + r/den
        if 2 * r > den or (2 * r == den and q % 2 == 1):
            q += 1
        # q counts ulps: q < 2**mbits only in the subnormal binade, q == 2**(mbits+1) is a carry into the
        # next binade; the same sum gives the code in every case.
        code = ((ue + self.bias - 1) << self.mbits) + q
        return over if code > self.max_code else sign | code


def f32_bits(x):
    return struct.unpack("<I", struct.pack("<f", x))[0]


def same(fmt, a, b):
    """Codes equal, or both NaN (torch's SIMD paths do not keep a NaN's sign: bf16 NaN -> 0xFFFF)."""
    if fmt.is_nan(a) or fmt.is_nan(b):
        return fmt.is_nan(a) and fmt.is_nan(b)
    return a == b


def torch_encode(name, x):
    dt = TORCH_DTYPE[name]
    t = torch.from_numpy(x).to(dt)
    if name in ("bf16", "f16"):
        return t.view(torch.int16).numpy().astype("<u2")
    return t.view(torch.uint8).numpy().astype("u1")


def torch_decode(name):
    dt = TORCH_DTYPE[name]
    if name in ("bf16", "f16"):
        pats = torch.from_numpy(np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.int16))
    else:
        pats = torch.from_numpy(np.arange(256, dtype=np.uint8))
    return pats.view(dt).to(torch.float32).numpy().view("<u4")


def f32_is_nan(bits):
    return (bits & 0x7FFFFFFF) > 0x7F800000


def main():
    if len(sys.argv) != 3:
        sys.stderr.write(__doc__)
        return 2
    xs = np.fromfile(sys.argv[1], dtype="<f4")
    out = sys.argv[2]
    pyx = [float(v) for v in xs]
    bad = 0
    for name in ("bf16", "f16", "e4m3", "e5m2"):
        fmt = Fmt(name)
        ref_enc = np.array([fmt.encode(v) for v in pyx], dtype="<u2" if fmt.nbits == 16 else "u1")
        ref_dec = np.array([f32_bits(fmt.decode(c)) for c in range(1 << fmt.nbits)], dtype="<u4")
        if TORCH_DTYPE[name] is not None:
            enc, dec, source = torch_encode(name, xs), torch_decode(name), "torch-" + torch.__version__
            for i, (a, b) in enumerate(zip(enc.tolist(), ref_enc.tolist())):
                if not same(fmt, a, b):
                    sys.stderr.write("%s encode: torch 0x%x, reference 0x%x for %r (f32 0x%08x)\n"
                                     % (name, a, b, pyx[i], f32_bits(pyx[i])))
                    bad += 1
                    if bad > 20:
                        return 1
            for c, (a, b) in enumerate(zip(dec.tolist(), ref_dec.tolist())):
                if a != b and not (f32_is_nan(a) and f32_is_nan(b)):
                    sys.stderr.write("%s decode 0x%x: torch 0x%08x, reference 0x%08x\n" % (name, c, a, b))
                    bad += 1
                    if bad > 20:
                        return 1
        else:
            enc, dec, source = ref_enc, ref_dec, "exact-reference"
        enc.tofile("%s/enc_%s.%s" % (out, name, "u16" if fmt.nbits == 16 else "u8"))
        dec.tofile("%s/dec_%s.u32" % (out, name))
        print(name, source)
    if bad:
        sys.stderr.write("reference and torch disagree in %d places\n" % bad)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
