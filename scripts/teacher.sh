#!/bin/sh
# scripts/teacher.sh [OUTDIR] — reproduces the built-in teacher (default OUTDIR: teacher): the KJV corpus
# (scripts/kjv.sh), a 4096-token byte-level BPE trained on its training part, then `r1kit train` of the
# DeepSeek-V3-architecture MoE in scripts/teacher-config.json, saved in R1's FP8 release layout. Deterministic
# for a given thread count (the published teacher: --threads 2). Takes about an hour on 2 cores.
set -eu
cd "$(dirname "$0")/.."
out=${1:-teacher}
work=${RK_TEACHER_WORK:-build/teacher-work}
r1kit=${R1KIT:-build/r1kit}
[ -x "$r1kit" ] || { echo "build r1kit first (cmake -S . -B build && cmake --build build)" >&2; exit 2; }
mkdir -p "$work" "$out"
sh scripts/kjv.sh "$work/data"
"$r1kit" tokenizer train --text "$work/data/kjv-train.txt" --vocab 4096 -o "$work/tok"
cp scripts/teacher-config.json "$work/tok/config.json"
"$r1kit" train --config "$work/tok/config.json" --tokenizer "$work/tok" \
    --text "$work/data/kjv-train.txt" --heldout "$work/data/kjv-heldout.txt" --out "$work/run" \
    --steps 2400 --batch 8 --seq 256 --lr 2e-3 --min-lr 2e-4 --warmup 100 --wd 0.1 --clip 1.0 \
    --gamma 1e-3 --aux-alpha 1e-4 --eval-every 200 --eval-windows 64 --ckpt-every 200 --seed 1 --init-seed 1 \
    --save-dtype fp8 --threads 2 --log "$work/train-log.jsonl" ${RK_TEACHER_RESUME:+--resume}
for f in config.json model.safetensors tokenizer.json tokenizer_config.json generation_config.json; do
    cp "$work/run/$f" "$out/$f"
done
echo "teacher written to $out" >&2
