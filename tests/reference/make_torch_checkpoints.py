#!/usr/bin/python3
"""Write PyTorch checkpoints for tests/formats/test_pytorch_torch.c, with the values r1kit must read back.

Usage: /usr/bin/python3 make_torch_checkpoints.py OUTDIR     (needs Debian's python3-torch)

OUTDIR gets:
  dtypes.pt     a state dict with one tensor per dtype torch offers (float8 too when this torch has it),
                a 0-dim scalar, an empty tensor and an nn.Parameter
  views.pt      a transposed (non-contiguous) tensor, a slice with a storage offset, two views sharing one
                storage, a stride-0 expanded tensor, a larger tensor read in several chunks
  nested.pt     {"model": <nn.Module state_dict with _metadata>, "step": 3, "name": "x", "lr": 0.1,
                 "opt": {"state": {0: {"exp_avg": t}}}, "list": [t, t]} (names flattened with '.')
  proto4.pt     a state dict saved with pickle_protocol=4
  deflate.pt    dtypes.pt re-packed with every entry deflate-compressed
  legacy.pt     _use_new_zipfile_serialization=False (must be refused as legacy)
  malicious.pt  a torch-style zip whose data.pkl calls os.system (must be refused; must never run)
  manifest.json {"files": {file: [{"name", "dtype", "shape", "data"}]}}, data = raw little-endian row-major
                bytes of the tensor in <file>.<i>.bin
The flattening rule mirrors formats/pytorch.c: dict keys (str, or int in decimal) and list/tuple positions
joined with '.', non-tensor leaves skipped.
"""
import collections
import json
import os
import pickle
import sys
import zipfile

import torch

DTYPES = {
    torch.float32: "F32", torch.float64: "F64", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
    torch.bool: "BOOL",
}
for attr, name in (("float8_e4m3fn", "F8_E4M3"), ("float8_e5m2", "F8_E5M2"), ("uint16", "U16"),
                   ("uint32", "U32"), ("uint64", "U64")):
    if hasattr(torch, attr):
        DTYPES[getattr(torch, attr)] = name


def flatten(obj, prefix, out):
    if isinstance(obj, torch.Tensor):
        out.append((prefix, obj))
    elif isinstance(obj, dict):
        for k, v in obj.items():
            flatten(v, f"{prefix}.{k}" if prefix else str(k), out)
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            flatten(v, f"{prefix}.{i}" if prefix else str(i), out)
    return out


def raw_bytes(t):
    return t.detach().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def values(dtype, shape, seed):
    g = torch.Generator().manual_seed(seed)
    if dtype == torch.bool:
        return torch.rand(shape, generator=g) > 0.5
    if dtype.is_floating_point:
        return (torch.randn(shape, generator=g) * 3).to(dtype)
    info = torch.iinfo(dtype)
    lo, hi = max(info.min, -(2 ** 40)), min(info.max, 2 ** 40)
    return torch.randint(lo, hi, shape, generator=g, dtype=torch.int64).to(dtype)


def make_dtypes():
    sd = collections.OrderedDict()
    for i, dtype in enumerate(DTYPES):
        sd[f"t.{str(dtype).split('.')[1]}"] = values(dtype, (3, 5), 100 + i)
    sd["scalar"] = torch.tensor(2.5)
    sd["empty"] = torch.zeros(0, 3)
    sd["param"] = torch.nn.Parameter(torch.arange(4, dtype=torch.float32))
    return sd


def make_views():
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    shared = torch.arange(10, dtype=torch.int16)
    big = values(torch.float32, (700, 3000), 7)   # 8.4 MB: several read chunks
    sd = collections.OrderedDict()
    sd["transposed"] = base.t()
    sd["sliced"] = base[1:, 2:]
    sd["half_a"] = shared[:5]
    sd["half_b"] = shared[5:]
    sd["expanded"] = torch.arange(3, dtype=torch.float64).expand(4, 3)
    sd["col"] = base[:, 1]
    sd["big_t"] = big.t()
    sd["big"] = big
    return sd


def make_nested():
    m = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.LayerNorm(3))
    return {"model": m.state_dict(), "step": 3, "name": "x", "lr": 0.1,
            "opt": {"state": {0: {"exp_avg": values(torch.float32, (2, 2), 9)}}},
            "list": [values(torch.bfloat16, (3,), 10), values(torch.int64, (2,), 11)]}


class Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"echo pwned > {self.marker}",))


def write_malicious(path, marker):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("malicious/data.pkl", pickle.dumps({"x": Evil(marker)}, protocol=2))
        z.writestr("malicious/version", "3\n")


def repack_deflated(src, dst):
    with zipfile.ZipFile(src) as zi, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zo:
        for info in zi.infolist():
            zo.writestr(info.filename.replace("dtypes/", "deflate/", 1), zi.read(info.filename))


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    manifest = {"files": {}}
    objs = {"dtypes.pt": (make_dtypes(), {}), "views.pt": (make_views(), {}),
            "nested.pt": (make_nested(), {}), "proto4.pt": (make_dtypes(), {"pickle_protocol": 4})}
    for fname, (obj, kw) in objs.items():
        path = os.path.join(out, fname)
        torch.save(obj, path, **kw)
        entries = []
        for i, (name, t) in enumerate(flatten(obj, "", [])):
            data = f"{fname}.{i}.bin"
            with open(os.path.join(out, data), "wb") as f:
                f.write(raw_bytes(t))
            entries.append({"name": name, "dtype": DTYPES[t.dtype], "shape": list(t.shape),
                            "contiguous": t.is_contiguous(), "data": data})
        manifest["files"][fname] = entries
    repack_deflated(os.path.join(out, "dtypes.pt"), os.path.join(out, "deflate.pt"))
    manifest["files"]["deflate.pt"] = manifest["files"]["dtypes.pt"]
    torch.save(make_dtypes(), os.path.join(out, "legacy.pt"), _use_new_zipfile_serialization=False)
    write_malicious(os.path.join(out, "malicious.pt"), os.path.join(out, "pwned"))
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


if __name__ == "__main__":
    main()
