#!/usr/bin/env bash
# bench/distill_results.sh — does distillation beat plain training? On the built-in teacher (teacher/: DeepSeek-V3
# MoE, FP8) and its KJV text: for each student preset (qwen2-small ≈ 1/4 and qwen2-tiny ≈ 1/10 of the teacher's
# active parameters), `r1kit distill` with --alpha 0 (forward KL to the live teacher) and its twin with --alpha 1
# (cross-entropy only; the same windows in the same order, same steps, seed and schedule), plus a run from a top-32
# teacher cache (truncation bias, end to end). Each student is then measured by `r1kit verify teacher STUDENT` on
# the held-out text: perplexity, KLD to the teacher, top-1 agreement. Writes docs/distill-results.md.
# Usage: bash bench/distill_results.sh [WORKDIR]   (STEPS, THREADS, PRESETS, VARIANTS, R to override)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${R:-}" ]; then   # R=path/to/r1kit to use a given binary
  bash scripts/deps.sh
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build -j"$(nproc)" >/dev/null
  R=$PWD/build/r1kit
fi
W=${1:-/tmp/r1kit-distill-results}
STEPS=${STEPS:-600}; B=${B:-8}; T=${T:-128}; THREADS=${THREADS:-2}
PRESETS=${PRESETS:-"qwen2-small qwen2-tiny"}
VARIANTS=${VARIANTS:-"kd ce cache32"}
mkdir -p "$W"
[ -f "$W/kjv/kjv-heldout.txt" ] || sh scripts/kjv.sh "$W/kjv"
TRAIN=$W/kjv/kjv-train.txt; HELD=$W/kjv/kjv-heldout.txt
COMMON="--teacher teacher --text $TRAIN --heldout $HELD --steps $STEPS --batch $B --seq $T --lr 3e-3 --warmup 50
        --eval-every 100 --eval-windows 32 --ckpt-every 200 --seed 1 --threads $THREADS --no-gguf --save-dtype f32"
if [[ " $VARIANTS " == *" cache32 "* ]] && [ ! -f "$W/teacher-k32.cache" ]; then
  $R distill --teacher teacher --text "$TRAIN" --heldout "$HELD" --seq $T --top-k 32 --save-teacher "$W/teacher-k32.cache"
fi
rows=()
for p in $PRESETS; do
  for v in $VARIANTS; do
    case $v in
      kd) extra="--alpha 0" ;;
      ce) extra="--alpha 1" ;;
      cache32) extra="--alpha 0 --teacher-cache $W/teacher-k32.cache" ;;
      *) echo "unknown variant $v" >&2; exit 2 ;;
    esac
    d=$W/$p-$v
    if [ ! -f "$d/model.safetensors" ]; then
      rm -rf "$d"
      # shellcheck disable=SC2086
      $R distill $COMMON --student-config $p $extra --out "$d" 2>&1 | tail -1
    fi
    tps=$(grep '"event":"step"' "$d/log.jsonl" | tail -1 | grep -o '"tokens_per_s":[0-9.e+-]*' | cut -d: -f2)
    act=$($R distill --teacher teacher --student-config $p --text "$HELD" \
          --steps 1 --batch 1 --seq 8 --alpha 1 --eval-every 0 --no-gguf --out "$W/probe" 2>&1 | grep -o '[0-9]* active per token, 1/[0-9.]*' | head -1)
    j=$($R verify teacher "$d" --text "$HELD" --ctx $T --json 2>/dev/null)
    vals=$(echo "$j" | /usr/bin/python3 -c 'import json,sys; t=json.load(sys.stdin)["total"]; print("%.3f %.3f %.4f %.4f %.2f %.2f" % (t["ppl"], t["ppl_err"], t["kld"], t["kld_err"], 100*t["same_top"], 100*t["same_top_err"]))')
    base=$(echo "$j" | /usr/bin/python3 -c 'import json,sys; t=json.load(sys.stdin)["total"]; print("%.3f" % t["ppl_base"])')
    echo "$p $v: $vals ($tps tok/s)" >&2
    rows+=("$p|$v|$act|$vals|$tps")
  done
done
{
  echo "# Distillation results"
  echo
  echo "Reproduce: \`bash bench/distill_results.sh\` (writes this file; STEPS=$STEPS). Machine: $(nproc) cores, $(date -u +%Y-%m-%d)."
  echo
  echo "Teacher: the built-in teacher (\`teacher/\`, DeepSeek-V3 architecture, 16 routed experts, FP8), held-out perplexity"
  echo "$base on \`kjv-heldout.txt\` at context $T. Students: \`--student-config qwen2-small\` / \`qwen2-tiny\` (Qwen2-shaped"
  echo "like R1-Distill-Qwen: GQA, q/k/v biases, tied embeddings; sizes in the table, active parameters counted with the output"
  echo "head). Every run: $STEPS optimizer steps of $B windows × $T tokens of \`kjv-train.txt\` (the teacher's own training"
  echo "text), AdamW lr 3e-3, 50 warmup steps, cosine to 3e-4, clip 1.0, seed 1, $THREADS threads."
  echo
  echo "- **kd**: \`--alpha 0\`, forward KL to the live teacher at temperature 1."
  echo "- **ce**: \`--alpha 1\`, cross-entropy on the text only — the twin: the same windows in the same order."
  echo "- **cache32**: as kd, but the teacher's targets read from a top-32 teacher cache (\`--save-teacher\`, then"
  echo "  \`--teacher-cache\`): the end-to-end effect of truncating the teacher to 32 entries + the rest bucket."
  echo
  echo "Measured by \`r1kit verify teacher STUDENT --text kjv-heldout.txt --ctx $T\` (all chunks, the second half of each"
  echo "scored, as llama-perplexity): the student's perplexity, mean KL(teacher ‖ student) and how often the student's top"
  echo "token is the teacher's (± standard errors)."
  echo
  echo "| student | run | active parameters (vs teacher) | held-out PPL | KLD to teacher | top-1 agreement % | training tokens/s |"
  echo "|---|---|---|---:|---:|---:|---:|"
  for r in "${rows[@]}"; do
    IFS='|' read -r p v act vals tps <<<"$r"
    read -r ppl pple kld klde top tope <<<"$vals"
    a=${act% active*}; ratio=${act##*, }
    printf '| %s | %s | %s (%s) | %s ± %s | %s ± %s | %s ± %s | %.0f |\n' "$p" "$v" "$a" "$ratio" "$ppl" "$pple" "$kld" "$klde" "$top" "$tope" "$tps"
  done
  echo
  echo "Distilled against its cross-entropy twin (same tokens, steps and schedule):"
  echo
  for p in $PRESETS; do
    kd=""; ce=""; c32=""
    for r in "${rows[@]}"; do
      IFS='|' read -r rp rv _ rvals _ <<<"$r"
      [ "$rp" = "$p" ] || continue
      case $rv in kd) kd=$rvals ;; ce) ce=$rvals ;; cache32) c32=$rvals ;; esac
    done
    [ -n "$kd" ] && [ -n "$ce" ] || continue
    read -r kp _ kk _ kt _ <<<"$kd"; read -r cp _ ck _ ct _ <<<"$ce"
    awk -v p="$p" -v kp="$kp" -v cp="$cp" -v kk="$kk" -v ck="$ck" -v kt="$kt" -v ct="$ct" 'BEGIN {
      printf "- **%s**: held-out perplexity %.1f vs %.1f (%+.0f%%), KLD to the teacher %.3f vs %.3f (%+.0f%%), top-1 agreement %.1f%% vs %.1f%% (%+.1f points): distillation %s.\n",
        p, kp, cp, 100*(kp/cp-1), kk, ck, 100*(kk/ck-1), kt, ct, kt-ct, (kp < cp && kk < ck) ? "wins on both" : "does NOT win on both" }'
    if [ -n "$c32" ]; then
      read -r qp _ qk _ _ _ <<<"$c32"
      awk -v p="$p" -v qp="$qp" -v kp="$kp" -v cp="$cp" -v qk="$qk" -v kk="$kk" -v ck="$ck" 'BEGIN {
        printf "  From a top-32 teacher cache: perplexity %.1f, KLD %.3f — %.0f%% of the live teacher'"'"'s perplexity gain and %.0f%% of its KLD gain over the twin.\n",
          qp, qk, 100*(cp-qp)/(cp-kp), 100*(ck-qk)/(ck-kk) }'
    fi
  done
  echo
  echo "Training tokens/s here include the teacher: its forward on every window (kd), reading the cache (cache32), or"
  echo "nothing (ce). The training step alone against PyTorch on the same student shapes: \`docs/bench-train.md\`."
} > docs/distill-results.md
echo "wrote docs/distill-results.md" >&2
