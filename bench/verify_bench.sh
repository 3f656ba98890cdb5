#!/usr/bin/env bash
# bench/verify_bench.sh — what `r1kit verify` costs and how fast quantized builds run (docs/bench-verify.md):
#  1. verify (static checks + both models over the same chunks) against its peer, `r1kit perplexity` run twice
#     (base, then candidate) on the same text, ctx and chunks — the figures it adds (KLD, Δp, top-1) come from the
#     same forwards, so the ratio says what the comparison itself costs;
#  2. the quantized forward against the f32 forward (`r1kit bench`: prompt processing and decode tokens/s, best of
#     3) at 1 and 2 threads, on a ~100M-weight llama-shaped dense model (random weights; speed only) and on the
#     teacher (MoE).
# Usage: bash bench/verify_bench.sh [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh >/dev/null
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
R=$PWD/build/r1kit
W=${1:-/tmp/r1kit-verify-bench}
CHUNKS=${CHUNKS:-40}
mkdir -p "$W"
[ -f "$W/kjv/kjv-heldout.txt" ] || sh scripts/kjv.sh "$W/kjv" >/dev/null 2>&1
TEXT=$W/kjv/kjv-heldout.txt
[ -f "$W/t-f32.gguf" ] || $R convert teacher "$W/t-f32.gguf" --outtype f32 --quiet >/dev/null 2>&1
[ -f "$W/t-q2-moe.gguf" ] || $R quantize teacher "$W/t-q2-moe.gguf" --recipe q2-moe --quiet >/dev/null 2>&1
[ -f "$W/t-q4.gguf" ] || $R quantize teacher "$W/t-q4.gguf" --recipe q4 --quiet >/dev/null 2>&1
if [ ! -f "$W/d-f32.gguf" ]; then
  $R sample "$W/dense" --arch llama --hidden 768 --intermediate 2048 --layers 16 --heads 12 --kv-heads 4 >/dev/null 2>&1
  $R convert "$W/dense" "$W/d-f32.gguf" --outtype f32 --quiet >/dev/null 2>&1
  for r in q8_0 q4 q2; do $R quantize "$W/dense" "$W/d-$r.gguf" --recipe $r --quiet >/dev/null 2>&1; done
fi
secs() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null 2>&1; t1=$(date +%s.%N); echo "$t1 - $t0" | bc -l; }
command -v bc >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bc >/dev/null

OUT=docs/bench-verify.md
{
echo "# What verify costs, and how fast quantized builds run"
echo
echo "Reproduce: \`bash bench/verify_bench.sh\` (writes this file). $(date -u +%F), r1kit $(git rev-parse --short HEAD),"
echo "$(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)."
echo
echo "## 1. verify against perplexity twice"
echo
echo "Teacher f32 GGUF (base) and its q2-moe GGUF (candidate), held-out KJV text, ctx 256, $CHUNKS chunks, 2 threads."
echo
echo "| run | wall s |"
echo "|---|---:|"
} > "$OUT"
pb=$(secs $R perplexity "$W/t-f32.gguf" --text "$TEXT" --ctx 256 --chunks "$CHUNKS")
pc=$(secs $R perplexity "$W/t-q2-moe.gguf" --text "$TEXT" --ctx 256 --chunks "$CHUNKS")
v=$(secs $R verify "$W/t-f32.gguf" "$W/t-q2-moe.gguf" --text "$TEXT" --ctx 256 --chunks "$CHUNKS")
vn=$(secs $R verify "$W/t-f32.gguf" "$W/t-q2-moe.gguf" --text "$TEXT" --ctx 256 --chunks "$CHUNKS" --no-scan)
vh=$(secs $R verify "$W/t-f32.gguf" "$W/t-q2-moe.gguf" --text "$TEXT" --ctx 256 --chunks "$CHUNKS" --html "$W/r.html")
{
printf '| `perplexity` base | %.2f |\n| `perplexity` candidate | %.2f |\n| both (the peer) | %.2f |\n' "$pb" "$pc" "$(echo "$pb + $pc" | bc -l)"
printf '| `verify` (checks incl. NaN/Inf scan) | %.2f |\n| `verify --no-scan` | %.2f |\n| `verify --html` (+ per-layer error over 2 chunks) | %.2f |\n' "$v" "$vn" "$vh"
echo
printf 'verify / (perplexity × 2) = **%.2f×** (%.2f× without the scan).\n' "$(echo "$v / ($pb + $pc)" | bc -l)" "$(echo "$vn / ($pb + $pc)" | bc -l)"
echo
echo "## 2. Quantized forward against f32 (\`r1kit bench --prompt 128 --gen 32 --reps 3\`)"
echo
echo "| model | file | threads | prompt tok/s | vs f32 | decode tok/s | vs f32 |"
echo "|---|---|---:|---:|---:|---:|---:|"
} >> "$OUT"
row() {   # model label, file, threads, f32 pp, f32 tg
  local j pp tg
  j=$($R bench "$2" --prompt 128 --gen 32 --reps 3 --threads "$3" --json 2>/dev/null)
  pp=$(echo "$j" | grep -o '"pp_tokens_per_s":[0-9.e+-]*' | cut -d: -f2)
  tg=$(echo "$j" | grep -o '"tg_tokens_per_s":[0-9.e+-]*' | cut -d: -f2)
  printf '| %s | %s | %s | %.0f | %.2f× | %.1f | %.2f× |\n' "$1" "$(basename "$2")" "$3" "$pp" "$(echo "$pp / ${4:-$pp}" | bc -l)" \
    "$tg" "$(echo "$tg / ${5:-$tg}" | bc -l)" >> "$OUT"
  echo "$pp $tg"
}
for t in 1 2; do
  read -r fpp ftg < <(row "dense llama 102M" "$W/d-f32.gguf" $t)
  for r in q8_0 q4 q2; do row "dense llama 102M" "$W/d-$r.gguf" $t "$fpp" "$ftg" >/dev/null; done
  read -r fpp ftg < <(row "teacher (MoE)" "$W/t-f32.gguf" $t)
  for r in q4 q2-moe; do row "teacher (MoE)" "$W/t-$r.gguf" $t "$fpp" "$ftg" >/dev/null; done
done
cat "$OUT"
