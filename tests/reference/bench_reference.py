#!/usr/bin/env python3
"""Time the PyTorch reference (reference_models.RefModel, f32) on an HF folder, the peer of `r1kit bench`.

usage: bench_reference.py FOLDER --prompt N --gen N --threads T [--reps R]
Same protocol as `r1kit bench`: seeded random token ids (the same LCG), prompt = one forward of N tokens from an
empty cache, decode = N single-token forwards through the cache after the prompt; best of R; torch.no_grad,
torch.set_num_threads(T). Prints one JSON object. Run with Debian's /usr/bin/python3 (python3-torch)."""
import ctypes, json, os, sys, time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_models as rm  # noqa: E402


def arg(name, default):
    return int(sys.argv[sys.argv.index(name) + 1]) if name in sys.argv else default


def blas_core():
    """OpenBLAS's kernel family for this CPU (OPENBLAS_CORETYPE can force one), or "" without OpenBLAS."""
    for name in ("libblas.so.3", "libopenblas.so.0"):
        try:
            lib = ctypes.CDLL(name)
            lib.openblas_get_corename.restype = ctypes.c_char_p
            return lib.openblas_get_corename().decode()
        except (OSError, AttributeError):
            continue
    return ""


def main():
    folder = sys.argv[1]
    n_prompt, n_gen, threads, reps = arg("--prompt", 128), arg("--gen", 32), arg("--threads", 1), arg("--reps", 3)
    torch.set_num_threads(threads)
    cfg, W = rm.load_checkpoint(folder)
    model = rm.RefModel(cfg, W, dtype=torch.float32)
    vocab = cfg["vocab_size"]
    s, ids = 12345, []
    for _ in range(n_prompt + n_gen):   # the same generator as r1kit bench
        s = (s * 6364136223846793005 + 1442695040888963407) & (2**64 - 1)
        ids.append((s >> 33) % vocab)
    best_pp = best_tg = float("inf")
    with torch.no_grad():
        for _ in range(reps):
            cache = model.new_cache()
            t0 = time.perf_counter()
            model.forward(ids[:n_prompt], cache, 0)
            t1 = time.perf_counter()
            for g in range(n_gen):
                model.forward(ids[n_prompt + g:n_prompt + g + 1], cache, n_prompt + g)
            t2 = time.perf_counter()
            best_pp, best_tg = min(best_pp, t1 - t0), min(best_tg, t2 - t1)
    print(json.dumps({"torch": torch.__version__, "blas_core": blas_core(), "threads": threads, "pp_tokens_per_s": n_prompt / best_pp,
                      "tg_tokens_per_s": n_gen / best_tg if n_gen else 0}))


if __name__ == "__main__":
    main()
