#!/usr/bin/env bash
# scripts/demo.sh — the README's main job on the built-in default, the teacher (teacher/: a DeepSeek-V3-
# architecture MoE in R1's FP8 release layout, trained by r1kit): install what is missing, build, inspect the
# teacher, convert it to GGUF (llama.cpp's deepseek2 layout), measure its held-out perplexity from both files
# (with the expert load table), generate a sample, quantize it (imatrix, then the q2-moe recipe and the expert-aware
# allocator at 4.5 bits per weight), verify both builds against the FP8 original with a release gate and an HTML
# report, then distil a small Qwen2-shaped student (~1/10 of the teacher's active parameters) from the teacher and
# verify the student against it.
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
$R quantize teacher "$OUT/teacher-4.5bpw.gguf" --bpw 4.5 --imatrix "$OUT/teacher.imatrix.gguf" --quiet
# verify: each build against the FP8 original on the held-out text, gated (exit 1 if a criterion fails)
$R verify teacher "$OUT/teacher-q2-moe.gguf" --text "$OUT/kjv/kjv-heldout.txt" --ctx 256 --chunks 20 \
  --max-ppl-ratio 1.03 --max-kld 0.04 --min-top1 87 --html "$OUT/verify-q2-moe.html"
$R verify teacher "$OUT/teacher-4.5bpw.gguf" --text "$OUT/kjv/kjv-heldout.txt" --ctx 256 --chunks 20 \
  --max-ppl-ratio 1.02 --max-kld 0.02 --min-top1 91 --html "$OUT/verify-4.5bpw.html"
# distill: a qwen2-tiny student from the live teacher (forward KL), exported as an HF folder + GGUF, then verified
$R distill --teacher teacher --student-config qwen2-tiny --text "$OUT/kjv/kjv-train.txt" --heldout "$OUT/kjv/kjv-heldout.txt" \
  --steps 150 --batch 8 --seq 128 --lr 3e-3 --warmup 20 --eval-every 50 --eval-windows 16 --out "$OUT/student"
$R verify teacher "$OUT/student/model.gguf" --text "$OUT/kjv/kjv-heldout.txt" --ctx 128 --chunks 20 --html "$OUT/verify-student.html"
