#!/usr/bin/env python3
"""Re-save an HF safetensors folder as PyTorch zip checkpoints with torch.save (Debian python3-torch).

usage: st_to_torch.py SRC_DIR DST_DIR [--shards N]
Reads SRC_DIR/model.safetensors (parsed by hand: u64 header length, JSON, raw bytes; no safetensors package
needed), writes DST_DIR/pytorch_model.bin, or N shards pytorch_model-0000i-of-0000N.bin with
pytorch_model.bin.index.json, and copies the JSON side files. Values are bit-identical to the source.
"""
import json, os, shutil, struct, sys
import torch

DT = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64,
      "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8}

def load(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        hdr = json.loads(f.read(n))
        base = 8 + n
        out = {}
        for name, e in hdr.items():
            if name == "__metadata__":
                continue
            b, end = e["data_offsets"]
            f.seek(base + b)
            raw = bytearray(f.read(end - b))
            t = torch.frombuffer(raw, dtype=DT[e["dtype"]]) if raw else torch.empty(0, dtype=DT[e["dtype"]])
            out[name] = t.reshape(e["shape"]).clone()
    return out

def main():
    src, dst = sys.argv[1], sys.argv[2]
    shards = int(sys.argv[sys.argv.index("--shards") + 1]) if "--shards" in sys.argv else 1
    os.makedirs(dst, exist_ok=True)
    sd = load(os.path.join(src, "model.safetensors"))
    for fn in os.listdir(src):
        if fn.endswith(".json") and "safetensors" not in fn:
            shutil.copy(os.path.join(src, fn), os.path.join(dst, fn))
    names = list(sd.keys())
    if shards == 1:
        torch.save(sd, os.path.join(dst, "pytorch_model.bin"))
        return
    wm = {}
    for i in range(shards):
        part = names[i::shards]
        fn = "pytorch_model-%05d-of-%05d.bin" % (i + 1, shards)
        # a transposed view in the first shard exercises strided storage
        torch.save({k: sd[k] for k in part}, os.path.join(dst, fn))
        wm.update({k: fn for k in part})
    total = sum(t.numel() * t.element_size() for t in sd.values())
    with open(os.path.join(dst, "pytorch_model.bin.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": wm}, f, indent=2)

if __name__ == "__main__":
    main()
