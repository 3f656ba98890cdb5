#!/usr/bin/env bash
# bench/engine_bench.sh — engine speed: prompt processing (pp) and decode (tg) tokens/s of `r1kit bench` against the
# PyTorch reference (tests/reference/bench_reference.py, f32, Debian python3-torch) on the same models, in the same
# run, at 1 and 2 threads; with the fraction of this machine's measured peak (bench/peak.c: FMA GFLOP/s for pp,
# read bandwidth for tg). Writes docs/bench-engine.md. Usage: bash bench/engine_bench.sh [WORKDIR]
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
PP=${PP:-128}; TG=${TG:-32}
# ~100M-parameter dense model (llama shape), f32 weights so both sides read the same bytes; a bf16 copy for r1kit;
# a small DeepSeek-V3 MoE in R1's FP8 layout
[ -f "$W/dense/config.json" ] || $R sample "$W/dense" --arch llama --hidden 768 --layers 16 --heads 12 --kv-heads 4 --intermediate 2048 --dtype f32 2>/dev/null
[ -f "$W/dense-bf16/config.json" ] || $R sample "$W/dense-bf16" --arch llama --hidden 768 --layers 16 --heads 12 --kv-heads 4 --intermediate 2048 --dtype bf16 2>/dev/null
[ -f "$W/moe/config.json" ] || $R sample "$W/moe" --arch deepseek_v3 --hidden 512 --layers 6 --experts 16 --top-k 4 --moe-intermediate 256 --intermediate 1024 --mtp-layers 0 2>/dev/null
peak=$(./build/bench/rk_peak)
get() { echo "$1" | grep -o "\"$2\": *[0-9.e+-]*" | sed 's/.*: *//'; }
rows=()
for m in dense dense-bf16 moe; do
  for t in 1 2; do
    r=$($R bench "$W/$m" --prompt $PP --gen $TG --threads $t --json)
    if [ "$m" = dense-bf16 ]; then p='{"pp_tokens_per_s":0,"tg_tokens_per_s":0}'
    else p=$(OPENBLAS_NUM_THREADS=$t OMP_NUM_THREADS=$t /usr/bin/python3 tests/reference/bench_reference.py "$W/$m" --prompt $PP --gen $TG --threads $t); fi
    echo "$m $t: r1kit $r" >&2; echo "$m $t: torch $p" >&2
    rows+=("$m $t $(get "$r" pp_tokens_per_s) $(get "$r" tg_tokens_per_s) $(get "$r" pp_gflops) $(get "$r" tg_weight_gbs) $(get "$p" pp_tokens_per_s) $(get "$p" tg_tokens_per_s) $(get "$r" active_params)")
  done
done
g1=$(get "$peak" gflops_1t); gn=$(get "$peak" gflops_nt); b1=$(get "$peak" read_gbs_1t); bn=$(get "$peak" read_gbs_nt)
{
  echo "# Engine benchmark"
  echo
  echo "Reproduce: \`bash bench/engine_bench.sh\` (writes this file). Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(date -u +%Y-%m-%d)."
  echo "Measured peaks (\`build/bench/rk_peak\`): FMA $g1 GFLOP/s on 1 thread, $gn on 2; read bandwidth $b1 GB/s on 1 thread, $bn on 2."
  echo
  echo "Models (\`r1kit sample\`, random weights): **dense**, llama-shaped, hidden 768, 16 layers, GQA 12/4 heads, FFN 2048, f32;"
  echo "**dense-bf16**, the same in BF16 (r1kit only); **moe**, DeepSeek-V3 architecture in R1's FP8 layout, hidden 512, 6 layers"
  echo "(1 dense), 16 routed experts, top-4, 1 shared expert. Protocol: prompt = one forward of $PP tokens from an empty cache;"
  echo "decode = $TG single-token forwards after it; best of 3. Peer: the PyTorch reference (\`tests/reference/reference_models.py\`,"
  echo "f32 weights, torch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)') with OpenBLAS $(dpkg-query -W -f='${Version}' libopenblas0-pthread), \`torch.no_grad\`, \`torch.set_num_threads\`), same models, same token ids, same run."
  echo "PyTorch runs with OPENBLAS_NUM_THREADS and OMP_NUM_THREADS set to the same thread count (OpenBLAS keeps its own pool)."
  echo "For scale, PyTorch's own matmul on one 128×768 · 768×2048 product reaches $(OPENBLAS_NUM_THREADS=1 /usr/bin/python3 -c '
import torch,time
torch.set_num_threads(1); a=torch.randn(128,768); w=torch.randn(2048,768); a@w.t(); t=time.perf_counter()
for _ in range(50): a@w.t()
print("%.0f" % (2*128*768*2048/((time.perf_counter()-t)/50)/1e9))') GFLOP/s on 1 thread here, so the reference is not handicapped by its BLAS."
  echo "pp GFLOP/s counts 2 FLOP per active weight per token (attention excluded); tg GB/s counts the active weight bytes read per token."
  echo
  echo "| model | threads | r1kit pp tok/s | PyTorch pp tok/s | ratio | r1kit pp GFLOP/s (% of peak) | r1kit tg tok/s | PyTorch tg tok/s | ratio | r1kit tg GB/s (% of peak) |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for row in "${rows[@]}"; do
    set -- $row
    pk=$g1; bw=$b1; [ "$2" = 1 ] || { pk=$gn; bw=$bn; }
    rp=$(awk "BEGIN{ if ($7>0) printf \"%.2f×\", $3/$7; else print \"—\" }"); rt=$(awk "BEGIN{ if ($8>0) printf \"%.2f×\", $4/$8; else print \"—\" }")
    pt=$(awk "BEGIN{ if ($7>0) printf \"%.1f\", $7; else print \"—\" }"); tt=$(awk "BEGIN{ if ($8>0) printf \"%.1f\", $8; else print \"—\" }")
    echo "| $1 | $2 | $(awk "BEGIN{printf \"%.1f\", $3}") | $pt | $rp | $(awk "BEGIN{printf \"%.1f (%.0f%%)\", $5, 100*$5/$pk}") | $(awk "BEGIN{printf \"%.1f\", $4}") | $tt | $rt | $(awk "BEGIN{printf \"%.2f (%.0f%%)\", $6, 100*$6/$bw}") |"
  done
} > docs/bench-engine.md
cat docs/bench-engine.md
