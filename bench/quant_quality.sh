#!/usr/bin/env bash
# bench/quant_quality.sh — the quality table of `r1kit quantize` on the built-in teacher (docs/quant-quality.md):
# for every named recipe, the budget allocator at 8.5/6.5/4.5/3.5/2.6/2.1 bits per weight (llama.cpp's stacked layout
# and r1kit's per-expert layout), llama.cpp's own mixes (when LLAMA_BIN points at a llama.cpp build/bin with
# llama-quantize), and the allocator at exactly the size of each recipe and mix: tensor bytes, bits per weight,
# held-out perplexity, mean KLD to the unquantized teacher and top-1 agreement, from `r1kit verify --json`.
# All quantizations use the same importance matrix (r1kit imatrix on the training text).
# Usage: [LLAMA_BIN=/path/llama.cpp/build/bin] [CHUNKS=60] bash bench/quant_quality.sh [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
R=$PWD/build/r1kit
W=${1:-/tmp/r1kit-quant-quality}
CHUNKS=${CHUNKS:-60}
LLAMA_BIN=${LLAMA_BIN:-}
mkdir -p "$W"
[ -f "$W/kjv/kjv-heldout.txt" ] || sh scripts/kjv.sh "$W/kjv" >/dev/null 2>&1
TEXT=$W/kjv/kjv-heldout.txt
# the base: the FP8 teacher in f32 (FP8 -> f32 is exact: same logits as the FP8 folder, faster to run)
[ -f "$W/f32.gguf" ] || $R convert teacher "$W/f32.gguf" --outtype f32 --quiet >/dev/null
[ -f "$W/imatrix.gguf" ] || $R imatrix teacher --text "$W/kjv/kjv-train.txt" --ctx 256 --chunks 64 -o "$W/imatrix.gguf" >/dev/null 2>&1
IM=$W/imatrix.gguf
WEIGHTS=$($R inspect "$W/f32.gguf" --no-tensors | awk '/^parameters:/ {print $2}')
tbytes() { $R inspect "$1" --no-tensors | awk '/^bytes:/ {print $2}'; }

ROWS=$W/rows.tsv
: > "$ROWS"
# measure NAME FILE GROUP: one row of the table
measure() {
  local name=$1 f=$2 group=$3 b
  b=$(tbytes "$f")
  $R verify "$W/f32.gguf" "$f" --text "$TEXT" --ctx 256 --chunks "$CHUNKS" --json 2>/dev/null > "$W/v.json"
  python3 - "$name" "$group" "$b" "$WEIGHTS" "$W/v.json" >> "$ROWS" <<'PY'
import json, sys
name, group, b, w, path = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
t = json.load(open(path))["total"]
print("\t".join([group, name, str(b), "%.4f" % (8.0 * b / w), "%.4f" % t["ppl"], "%.5f" % t["kld"], "%.5f" % t["kld_err"],
                 "%.2f" % (100.0 * t["same_top"]), "%.2f" % (100.0 * t["same_top_err"])]))
PY
  echo "  $(tail -1 "$ROWS")" >&2
}
# alloc NAME ARGS...: the allocator (stacked and per-expert); a budget that cannot be met becomes a row saying so
alloc() {
  local name=$1 group=$2; shift 2
  for layout in stacked per-expert; do
    local f="$W/alloc-$name-$layout.gguf"
    if $R quantize teacher "$f" "$@" --imatrix "$IM" --layout "$layout" --sample-rows 0 --quiet > "$W/q.out" 2> "$W/q.err"; then
      measure "alloc $name ($layout)" "$f" "$group"
    else
      printf '%s\t%s\t-\t%s\n' "$group" "alloc $name ($layout)" "$(grep -o 'smallest allocation is [0-9]* bytes ([0-9.]* bits per weight' "$W/q.err" | sed 's/(//')" >> "$ROWS"
      echo "  $(tail -1 "$ROWS")" >&2
    fi
  done
}

echo "base: unquantized teacher (f32)" >&2
measure "f32 (base)" "$W/f32.gguf" base
for r in q8_0 q4 q2-moe tq2-moe q2; do
  echo "recipe $r" >&2
  $R quantize teacher "$W/recipe-$r.gguf" --recipe "$r" --imatrix "$IM" --quiet > /dev/null 2>&1
  measure "recipe $r" "$W/recipe-$r.gguf" "recipe $r"
  alloc "=$r" "recipe $r" --size "$(tbytes "$W/recipe-$r.gguf")"
done
if [ -n "$LLAMA_BIN" ] && [ -x "$LLAMA_BIN/llama-quantize" ]; then
  for m in Q2_K Q3_K_M Q4_K_M Q5_K_M Q6_K; do
    echo "llama.cpp $m" >&2
    "$LLAMA_BIN/llama-quantize" --imatrix "$IM" "$W/f32.gguf" "$W/llama-$m.gguf" "$m" > "$W/lq.log" 2>&1
    measure "llama.cpp $m" "$W/llama-$m.gguf" "llama.cpp $m"
    alloc "=llama-$m" "llama.cpp $m" --size "$(tbytes "$W/llama-$m.gguf")"
  done
fi
for b in 8.5 6.5 4.5 3.5 2.6 2.1; do
  echo "bpw $b" >&2
  alloc "$b" "bpw $b" --bpw "$b"
done

{
  echo "| group | build | tensor bytes | bits/weight | PPL (held-out) | mean KLD | top-1 agreement |"
  echo "|---|---|---:|---:|---:|---:|---:|"
  while IFS=$'\t' read -r g n b bpw ppl kld kerr top terr; do
    if [ "$b" = "-" ]; then echo "| $g | $n | cannot be met: $bpw |  |  |  |  |"; continue; fi
    echo "| $g | $n | $b | $bpw | $ppl | $kld ± $kerr | $top ± $terr % |"
  done < "$ROWS"
} > "$W/table.md"
cat "$W/table.md"
