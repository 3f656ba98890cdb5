#!/usr/bin/env bash
# bench/engine_bench.sh — engine speed: prompt processing (pp) and decode (tg) tokens/s of `r1kit bench` against the
# PyTorch reference (tests/reference/bench_reference.py, f32, Debian python3-torch + OpenBLAS) on the same models, at
# 1 and 2 threads, with the fraction of this machine's measured peak (bench/peak.c: FMA GFLOP/s at the vector width
# the engine uses for pp, read bandwidth for tg). Writes docs/bench-engine.md.
#
# The machines share their cores and memory with other guests, so one run can swing by ±30%. Every configuration
# therefore runs ROUNDS times (default 5), interleaved (each round runs every side once, in the same order), and the
# table shows medians. Each side: r1kit with its weights mapped (the default) and read into memory (--no-mmap);
# PyTorch with the OpenBLAS kernels it picks for this CPU and, when the CPU has AVX-512, with OpenBLAS forced to its
# AVX-512 kernels (OPENBLAS_CORETYPE=SkylakeX), so the peer is not judged by a kernel choice the user could change.
# Usage: bash bench/engine_bench.sh [WORKDIR]   (ROUNDS=N, PP=N, TG=N in the environment)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh --test
# PyTorch's peer numbers need an optimised BLAS: Debian's torch uses whatever libblas.so.3 the alternatives
# select, and the default is the reference BLAS (~3 GFLOP/s). OpenBLAS is the fair peer.
dpkg-query -W -f='${Status}' libopenblas0-pthread 2>/dev/null | grep -q "install ok installed" || \
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libopenblas0-pthread >/dev/null
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
R=$PWD/build/r1kit
W=${1:-/tmp/r1kit-engine-bench}
mkdir -p "$W"
PP=${PP:-128}; TG=${TG:-32}; ROUNDS=${ROUNDS:-5}
# ~100M-parameter dense model (llama shape), f32 weights so both sides read the same bytes; a bf16 copy for r1kit;
# a small DeepSeek-V3 MoE in R1's FP8 layout
[ -f "$W/dense/config.json" ] || $R sample "$W/dense" --arch llama --hidden 768 --layers 16 --heads 12 --kv-heads 4 --intermediate 2048 --dtype f32 2>/dev/null
[ -f "$W/dense-bf16/config.json" ] || $R sample "$W/dense-bf16" --arch llama --hidden 768 --layers 16 --heads 12 --kv-heads 4 --intermediate 2048 --dtype bf16 2>/dev/null
[ -f "$W/moe/config.json" ] || $R sample "$W/moe" --arch deepseek_v3 --hidden 512 --layers 6 --experts 16 --top-k 4 --moe-intermediate 256 --intermediate 1024 --mtp-layers 0 2>/dev/null
AVX512=0; grep -qw avx512f /proc/cpuinfo && AVX512=1
RUNS="$W/runs.jsonl"; : > "$RUNS"
log() { echo "{\"model\":\"$1\",\"threads\":$2,\"side\":\"$3\",\"r\":$4}" >> "$RUNS"; }
peak=$(./build/bench/rk_peak)
load0=$(cut -d' ' -f1-3 /proc/loadavg)
for round in $(seq "$ROUNDS"); do
  for m in dense dense-bf16 moe; do
    for t in 1 2; do
      log "$m" "$t" r1kit "$($R bench "$W/$m" --prompt "$PP" --gen "$TG" --threads "$t" --json)"
      log "$m" "$t" r1kit-nommap "$($R bench "$W/$m" --prompt "$PP" --gen "$TG" --threads "$t" --no-mmap --json)"
      [ "$m" = dense-bf16 ] && continue   # PyTorch's reference runs f32 only
      log "$m" "$t" torch "$(OPENBLAS_NUM_THREADS=$t OMP_NUM_THREADS=$t /usr/bin/python3 tests/reference/bench_reference.py "$W/$m" --prompt "$PP" --gen "$TG" --threads "$t")"
      [ "$AVX512" = 1 ] && log "$m" "$t" torch-avx512 "$(OPENBLAS_CORETYPE=SkylakeX OPENBLAS_NUM_THREADS=$t OMP_NUM_THREADS=$t /usr/bin/python3 tests/reference/bench_reference.py "$W/$m" --prompt "$PP" --gen "$TG" --threads "$t")"
    done
  done
  echo "round $round of $ROUNDS done" >&2
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)
torch_blas=$(OPENBLAS_NUM_THREADS=1 /usr/bin/python3 -c 'import sys; sys.path.insert(0, "tests/reference"); import bench_reference as b; print(b.blas_core())')
mm_gflops=$(OPENBLAS_NUM_THREADS=1 /usr/bin/python3 -c '
import torch,time
torch.set_num_threads(1); a=torch.randn(128,768); w=torch.randn(2048,768); a@w.t(); t=time.perf_counter()
for _ in range(50): a@w.t()
print("%.0f" % (2*128*768*2048/((time.perf_counter()-t)/50)/1e9))')
PEAK="$peak" ROUNDS="$ROUNDS" PP="$PP" TG="$TG" LOAD0="$load0" LOAD1="$load1" TORCH_BLAS="$torch_blas" MM_GFLOPS="$mm_gflops" \
TORCH_VER="$(/usr/bin/python3 -c 'import torch; print(torch.__version__)')" OPENBLAS_VER="$(dpkg-query -W -f='${Version}' libopenblas0-pthread)" \
CPU="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" NPROC="$(nproc)" python3 - "$RUNS" > docs/bench-engine.md <<'PY'
import json, os, statistics, sys, datetime
E = os.environ
peak = json.loads(E["PEAK"])
runs = [json.loads(l) for l in open(sys.argv[1])]
def med(model, t, side, key):
    v = [r["r"][key] for r in runs if r["model"] == model and r["threads"] == t and r["side"] == side]
    return (statistics.median(v), min(v), max(v)) if v else None
def f1(x): return "—" if x is None else "%.1f" % x[0]
def rng(x): return "" if x is None else " (%.0f–%.0f)" % (x[1], x[2])
def ratio(a, b): return "—" if a is None or b is None else "%.2f×" % (a[0] / b[0])
print("# Engine benchmark\n")
print("Reproduce: `bash bench/engine_bench.sh` (writes this file). Machine: %s cores, %s, %s. Load average before/after: %s / %s."
      % (E["NPROC"], E["CPU"], datetime.date.today().isoformat(), E["LOAD0"], E["LOAD1"]))
print("Measured peaks (`build/bench/rk_peak`): FMA %.1f GFLOP/s on 1 thread, %.1f on 2, with %d-bit vectors (the width the engine's prefill"
      " matmul uses here; 256-bit: %.1f and %.1f); read bandwidth %.2f GB/s on 1 thread, %.2f on 2.\n"
      % (peak["gflops_1t"], peak["gflops_nt"], peak["fma_bits"], peak["gflops_avx2_1t"], peak["gflops_avx2_nt"], peak["read_gbs_1t"], peak["read_gbs_nt"]))
print("Models (`r1kit sample`, random weights): **dense**, llama-shaped, hidden 768, 16 layers, GQA 12/4 heads, FFN 2048, f32;"
      " **dense-bf16**, the same in BF16 (r1kit only); **moe**, DeepSeek-V3 architecture in R1's FP8 layout, hidden 512, 6 layers"
      " (1 dense), 16 routed experts, top-4, 1 shared expert.\n")
print("Protocol: prompt = one forward of %s tokens from an empty cache; decode = %s single-token forwards after it; each run keeps the"
      " best of 3 repetitions. Every configuration ran **%s times, interleaved** (a round runs every side once), and the table shows"
      " the **median** of those runs, with the range in parentheses for prompt processing. The machine's cores and memory are shared"
      " with other guests, so single runs swing by up to ±30%%.\n" % (E["PP"], E["TG"], E["ROUNDS"]))
print("Sides: **r1kit** maps the weight files (the default); **r1kit --no-mmap** reads them into memory first, as PyTorch does"
      " (`--no-mmap`, like llama.cpp's). **PyTorch** is the reference implementation (`tests/reference/reference_models.py`, f32 weights,"
      " torch %s with OpenBLAS %s, `torch.no_grad`, `torch.set_num_threads`, OPENBLAS_NUM_THREADS and OMP_NUM_THREADS set to the"
      " same count), same models, same token ids; OpenBLAS picks its `%s` kernels on this CPU. **PyTorch AVX-512** is the same with"
      " `OPENBLAS_CORETYPE=SkylakeX`, OpenBLAS's AVX-512 kernels (only on CPUs with AVX-512). For scale, PyTorch's own matmul on one"
      " 128×768 · 768×2048 product reaches %s GFLOP/s on 1 thread with the default kernels.\n"
      % (E["TORCH_VER"], E["OPENBLAS_VER"], E["TORCH_BLAS"], E["MM_GFLOPS"]))
print("**vs best PyTorch** divides r1kit's median by the faster of the two PyTorch medians; the first figure is r1kit as shipped (mapped"
      " weights), the second r1kit --no-mmap (weights in RAM on both sides). pp GFLOP/s counts 2 FLOP per active weight per token"
      " (attention excluded); tg GB/s counts the active weight bytes read per token.\n")
print("| model | threads | r1kit pp tok/s | r1kit --no-mmap pp | PyTorch pp | PyTorch AVX-512 pp | pp vs best PyTorch | r1kit pp GFLOP/s (% of peak) |"
      " r1kit tg tok/s | PyTorch tg | PyTorch AVX-512 tg | tg vs best PyTorch | r1kit tg GB/s (% of peak) |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for m in ("dense", "dense-bf16", "moe"):
    for t in (1, 2):
        rp, rn, tp, ta = (med(m, t, s, "pp_tokens_per_s") for s in ("r1kit", "r1kit-nommap", "torch", "torch-avx512"))
        rt, tt, tat = (med(m, t, s, "tg_tokens_per_s") for s in ("r1kit", "torch", "torch-avx512"))
        bp = max((x for x in (tp, ta) if x), key=lambda x: x[0], default=None)
        bt = max((x for x in (tt, tat) if x), key=lambda x: x[0], default=None)
        g = med(m, t, "r1kit", "pp_gflops"); gb = med(m, t, "r1kit", "tg_weight_gbs")
        pk = peak["gflops_1t"] if t == 1 else peak["gflops_nt"]; bw = peak["read_gbs_1t"] if t == 1 else peak["read_gbs_nt"]
        vs = "—" if bp is None else "%s / %s" % (ratio(rp, bp), ratio(rn, bp))
        print("| %s | %d | %s%s | %s%s | %s%s | %s%s | %s | %.1f (%.0f%%) | %s | %s | %s | %s | %.2f (%.0f%%) |"
              % (m, t, f1(rp), rng(rp), f1(rn), rng(rn), f1(tp), rng(tp), f1(ta), rng(ta), vs, g[0], 100 * g[0] / pk,
                 f1(rt), f1(tt), f1(tat), ratio(rt, bt), gb[0], 100 * gb[0] / bw))
print("""
## Notes

- **Kernels.** Prompt processing runs a register-tiled micro-kernel that broadcasts weights against 16 (AVX2) or 32
  (AVX-512) tokens; on a CPU with AVX-512F the engine picks the 12-row x 32-token zmm kernel (`model/kernels/avx512.c`),
  whose results are bit-identical to the AVX2 6 x 16 kernel's (tested). `RK_NO_AVX512=1 r1kit bench ...` gives the AVX2
  figure. With the AVX2 kernel alone the dense 1-thread prefill was at parity with stock PyTorch on 2026-11-25 (312 vs
  306 tok/s over six interleaved pairs). One 2048x2048 F32 matmul at n=128 on 1 thread runs at 94 GFLOP/s with the AVX2
  kernel and 155 with the AVX-512 one (`RK_BENCH=1 CK_RUN_CASE=bench build/tests/model_test_kernels`, 2026-11-26).
- **Mapped or in memory.** On this VM, the same weights stream ~15-25% slower through the prefill matmul from the page
  cache (mapped) than from anonymous memory in single-run comparisons, and the mapped runs spread wider; the medians
  above are close. `--no-mmap` needs RAM for the whole model; mapping is the default because it does not.
- **2 threads.** The two vCPUs are shared with other guests; the 2-thread rows swing the most, and PyTorch's 2-thread
  prefill is slower than its 1-thread one in most runs here.
""")
PY
cat docs/bench-engine.md
