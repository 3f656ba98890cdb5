#!/usr/bin/env bash
# scripts/demo.sh — the README's main job on the built-in default: install what is missing, build, write a
# small checkpoint in DeepSeek-R1's release layout (FP8-E4M3 + 128x128 weight_scale_inv, sharded), convert it
# to GGUF (llama.cpp's deepseek2 layout) and inspect both.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake -S . -B build >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
R=./build/r1kit
OUT=${OUT:-out}
mkdir -p "$OUT"
set -x
$R sample "$OUT/r1-tiny" --arch deepseek_v3 --shard-size 2MB
$R inspect "$OUT/r1-tiny" --no-tensors
$R convert "$OUT/r1-tiny" "$OUT/r1-tiny.gguf" --outtype q8_0
$R inspect "$OUT/r1-tiny.gguf" --filter blk.1.
