#!/usr/bin/env bash
# scripts/demo.sh — the README's main job on the built-in default, the teacher (teacher/: a DeepSeek-V3-
# architecture MoE in R1's FP8 release layout, trained by r1kit): install what is missing, build, inspect the
# teacher, convert it to GGUF (llama.cpp's deepseek2 layout), measure its held-out perplexity from both files
# (with the expert load table), generate a sample, and quantize it (imatrix + the q2-moe recipe). Grows as
# quantize, verify and distill land.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake -S . -B build >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
R=./build/r1kit
OUT=${OUT:-out}
mkdir -p "$OUT"
[ -f "$OUT/kjv/kjv-heldout.txt" ] || sh scripts/kjv.sh "$OUT/kjv"     # the held-out text (Debian's bible-kjv)
set -x
$R inspect teacher --no-tensors
$R convert teacher "$OUT/teacher.gguf" --outtype f32
$R inspect "$OUT/teacher.gguf" --no-tensors
$R perplexity teacher --text "$OUT/kjv/kjv-heldout.txt" --ctx 256 --routing
$R perplexity "$OUT/teacher.gguf" --text "$OUT/kjv/kjv-heldout.txt" --ctx 256
$R generate teacher --prompt "In the beginning" -n 48
# quantize: an importance matrix on the training text, then routed experts at 2 bits, the rest at >= 4 bits
$R imatrix teacher --text "$OUT/kjv/kjv-train.txt" --ctx 256 --chunks 64 -o "$OUT/teacher.imatrix.gguf"
$R quantize teacher "$OUT/teacher-q2-moe.gguf" --recipe q2-moe --imatrix "$OUT/teacher.imatrix.gguf" --quiet
$R perplexity "$OUT/teacher-q2-moe.gguf" --text "$OUT/kjv/kjv-heldout.txt" --ctx 256
