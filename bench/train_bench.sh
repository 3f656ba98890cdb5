#!/usr/bin/env bash
# bench/train_bench.sh — training speed: tokens/s of `r1kit train` against PyTorch (tests/reference/
# train_bench_reference.py: the reference model with autograd + torch.optim.AdamW, f32, Debian python3-torch with
# OpenBLAS) on the same models, batch shape and threads, in the same run. Models: a ~20M-parameter llama-shaped dense
# model, the built-in teacher's architecture (scripts/teacher-config.json) and the two qwen2 distillation students
# (`r1kit distill --student-config qwen2-small|qwen2-tiny`: their student-config.json, scaled to that teacher). The
# table times the training step alone: `r1kit distill`'s own tokens/s also include the teacher. Writes docs/bench-train.md.
# Usage: bash bench/train_bench.sh [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh --test
dpkg-query -W -f='${Status}' libopenblas0-pthread 2>/dev/null | grep -q "install ok installed" || \
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libopenblas0-pthread >/dev/null
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
R=$PWD/build/r1kit
W=${1:-/tmp/r1kit-train-bench}
B=${B:-8}; T=${T:-256}; STEPS=${STEPS:-6}
mkdir -p "$W"
[ -f "$W/data/kjv-train.txt" ] || sh scripts/kjv.sh "$W/data" 2>/dev/null
[ -f "$W/tok/tokenizer.json" ] || $R tokenizer train --text "$W/data/kjv-train.txt" --vocab 4096 -o "$W/tok" >/dev/null 2>&1
cat > "$W/dense.json" <<'CFG'
{"model_type": "llama", "vocab_size": 4096, "hidden_size": 512, "intermediate_size": 1408, "num_hidden_layers": 6,
 "num_attention_heads": 8, "num_key_value_heads": 4, "max_position_embeddings": 4096, "rms_norm_eps": 1e-6,
 "rope_theta": 10000, "tie_word_embeddings": false, "bos_token_id": 0, "eos_token_id": 1}
CFG
cp scripts/teacher-config.json "$W/teacher.json"
get() { echo "$1" | grep -o "\"$2\":[[:space:]]*[0-9.e+-]*" | tail -1 | sed 's/.*:[[:space:]]*//'; }
rows=()
AVX512=0; grep -qw avx512f /proc/cpuinfo && AVX512=1
for m in dense teacher qwen2-small qwen2-tiny; do
  case $m in qwen2-*)   # the distill preset's config, scaled to the teacher (teacher-init: made in the loop's 2nd pass)
    if [ ! -f "$W/$m.json" ] || [ ! -f "$W/$m-init/model.safetensors" ]; then
      rm -rf "$W/$m-cfg" "$W/$m-init"
      $R distill --teacher "$W/teacher-init" --student-config $m --text "$W/data/kjv-train.txt" --holdout 0 --out "$W/$m-cfg" \
          --steps 1 --batch 1 --seq 8 --alpha 1 --eval-every 0 --no-gguf >/dev/null 2>&1
      cp "$W/$m-cfg/student-config.json" "$W/$m.json"
    fi ;;
  esac
  # one step writes an HF folder with the initial weights that both sides then train from
  [ -f "$W/$m-init/model.safetensors" ] || $R train --config "$W/$m.json" --tokenizer "$W/tok" --text "$W/data/kjv-train.txt" \
      --holdout 0 --out "$W/$m-init" --steps 1 --warmup 0 --batch 1 --seq 16 --eval-every 0 >/dev/null 2>&1
  params=$($R train --init "$W/$m-init" --tokenizer "$W/tok" --text "$W/data/kjv-train.txt" --holdout 0 --out "$W/x" --steps 1 \
      --batch 1 --seq 8 --eval-every 0 2>&1 >/dev/null | grep -o '[0-9]* parameters' | cut -d' ' -f1)
  for t in 1 2; do
    rm -rf "$W/$m-run"
    log=$($R train --init "$W/$m-init" --tokenizer "$W/tok" --text "$W/data/kjv-train.txt" --holdout 0 --out "$W/$m-run" \
        --steps $STEPS --warmup 1 --batch $B --seq $T --eval-every 0 --log-every 1 --threads $t 2>/dev/null)
    # mean step time over steps 2..N (the first step allocates)
    ms=$(echo "$log" | grep '"event":"step"' | tail -n +2 | grep -o '"step_ms":[0-9.e+-]*' | cut -d: -f2 | \
         awk '{s+=$1; n++} END {printf "%.1f", s/n}')
    r=$(awk -v ms="$ms" -v bt=$((B*T)) 'BEGIN {printf "%.0f", bt/(ms/1000)}')
    p=$(OPENBLAS_NUM_THREADS=$t OMP_NUM_THREADS=$t /usr/bin/python3 tests/reference/train_bench_reference.py "$W/$m-init" \
        --batch $B --seq $T --steps $((STEPS-1)) --warmup 1 --threads $t)
    pt=$(get "$p" tokens_per_s); pa=0
    # OpenBLAS's AVX-512 kernels, forced (it does not pick them on every AVX-512 CPU: Zen 5 gets its Haswell kernels)
    [ "$AVX512" = 1 ] && pa=$(get "$(OPENBLAS_CORETYPE=SkylakeX OPENBLAS_NUM_THREADS=$t OMP_NUM_THREADS=$t /usr/bin/python3 \
        tests/reference/train_bench_reference.py "$W/$m-init" --batch $B --seq $T --steps $((STEPS-1)) --warmup 1 --threads $t)" tokens_per_s)
    echo "$m $t: r1kit $r tok/s ($ms ms/step), torch $pt tok/s, torch AVX-512 $pa tok/s" >&2
    rows+=("$m $t $params $r $ms $(printf '%.0f' "$pt") $(printf '%.0f' "$pa")")
  done
done
{
  echo "# Training benchmark"
  echo
  echo "Reproduce: \`bash bench/train_bench.sh\` (writes this file). Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(date -u +%Y-%m-%d)."
  echo
  echo "One optimizer step = forward + backward over $B sequences of $T tokens (KJV text, the teacher's 4096-token BPE) +"
  echo "global-norm clipping + AdamW, all parameters f32. r1kit: \`r1kit train --init MODEL --batch $B --seq $T\` (its step also"
  echo "updates the MoE routing bias); PyTorch: \`tests/reference/train_bench_reference.py\` (the reference model of the parity"
  echo "tests, autograd, \`torch.optim.AdamW\`, clip_grad_norm_), torch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)') with OpenBLAS"
  echo "$(dpkg-query -W -f='${Version}' libopenblas0-pthread) (its own kernel choice for this CPU, and, on CPUs with AVX-512, again with \`OPENBLAS_CORETYPE=SkylakeX\`:"
  echo "its AVX-512 kernels), OPENBLAS_NUM_THREADS = OMP_NUM_THREADS = threads; the ratio is against the faster of the two. r1kit's"
  echo "kernels here: $($R bench "$W/qwen2-tiny-init" --prompt 16 --gen 0 --reps 1 --json | grep -o '"isa":"[^"]*"' | cut -d'"' -f4). Same initial weights, same"
  echo "batch shape, same run; tokens/s from the mean step time after the first step ($STEPS steps in all, PyTorch: 1 warmup + $((STEPS-1)))."
  echo
  echo "Models: **dense**, llama-shaped, hidden 512, 6 layers, GQA 8/4 heads, FFN 1408, vocab 4096, untied;"
  echo "**teacher**, the built-in teacher's architecture (DeepSeek-V3: MLA, 1 dense + 3 MoE layers, 16 routed experts, top-4, 1 shared);"
  for m in qwen2-small qwen2-tiny; do
    c=$(cat "$W/$m.json")
    echo "**$m**, the distillation student \`r1kit distill --student-config $m\` makes for that teacher (its student-config.json):"
    echo "qwen2, hidden $(get "$c" hidden_size), $(get "$c" num_hidden_layers) layers, GQA $(get "$c" num_attention_heads)/$(get "$c" num_key_value_heads) heads of $(get "$c" head_dim), FFN $(get "$c" intermediate_size), q/k/v biases, tied embeddings$([ $m = qwen2-small ] && echo ";" || echo ".")"
  done
  echo
  echo "For the students the table times the training step alone (\`r1kit train\` on the student's config, cross-entropy):"
  echo "the tokens/s that \`r1kit distill\` reports also include the teacher's forward pass (or reading the teacher cache) and"
  echo "the distillation loss, so they are lower (only its \`--alpha 1\` cross-entropy twin trains without the teacher)."
  echo
  echo "| model | parameters | threads | r1kit tokens/s | r1kit ms/step | PyTorch tokens/s | PyTorch AVX-512 tokens/s | ratio vs faster PyTorch |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|"
  for row in "${rows[@]}"; do
    set -- $row
    echo "| $1 | $3 | $2 | $4 | $5 | $6 | $([ "$7" = 0 ] && echo — || echo "$7") | $(awk -v a="$4" -v b="$6" -v c="$7" 'BEGIN {if (c > b) b = c; printf "%.2f×", a/b}') |"
  done
  echo
  echo "The machine's 2 vCPUs are shared with other work, so single runs swing by ±20%; the ratio is measured within one run."
  echo "Load average when this run ended: $(cut -d' ' -f1-3 /proc/loadavg). With other jobs running, the 2-thread rows are"
  echo "oversubscribed (slower than 1 thread on both sides); compare ratios, and rerun on an idle machine for scaling."
} > docs/bench-train.md
cat docs/bench-train.md
