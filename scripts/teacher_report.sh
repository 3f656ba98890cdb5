#!/usr/bin/env bash
# scripts/teacher_report.sh — writes docs/teacher.md from the committed teacher/ folder: held-out perplexity from
# the FP8 files and from a GGUF made by `r1kit convert`, the expert load table on the held-out text, generated
# samples, and the training curve from docs/teacher-train-log.jsonl. Usage: bash scripts/teacher_report.sh
set -euo pipefail
cd "$(dirname "$0")/.."
R=${R1KIT:-build/r1kit}
W=${RK_REPORT_WORK:-build/teacher-report}
mkdir -p "$W"
[ -f "$W/data/kjv-heldout.txt" ] || sh scripts/kjv.sh "$W/data" 2>/dev/null
H="$W/data/kjv-heldout.txt"
ppl_fp8=$($R perplexity teacher --text "$H" --ctx 256 --routing --threads 2 2>/dev/null)
$R convert teacher "$W/teacher-f32.gguf" --outtype f32 >/dev/null 2>&1
ppl_gguf=$($R perplexity "$W/teacher-f32.gguf" --text "$H" --ctx 256 --threads 2 2>/dev/null)
$R convert teacher "$W/teacher-bf16.gguf" --outtype bf16 >/dev/null 2>&1
ppl_bf16=$($R perplexity "$W/teacher-bf16.gguf" --text "$H" --ctx 256 --threads 2 2>/dev/null)
final() { echo "$1" | grep 'Final estimate' | sed 's/Final estimate: //'; }
sample() { $R generate teacher --prompt "$1" -n 48 "${@:2}" 2>/dev/null; }
{
  echo "# The built-in teacher"
  echo
  echo "\`teacher/\` is a small model with DeepSeek-V3's architecture, trained by r1kit on the King James Bible and"
  echo "stored exactly in R1's release layout: \`config.json\` with the FP8 \`quantization_config\`, FP8-E4M3 linear"
  echo "weights with 128×128 \`weight_scale_inv\` (F32), BF16 embeddings, output head, norms and router, F32"
  echo "\`e_score_correction_bias\`, a byte-level BPE \`tokenizer.json\` and \`generation_config.json\`."
  echo
  echo "## Architecture"
  echo
  echo "$($R inspect teacher --no-tensors 2>/dev/null | sed 's/^/    /')"
  echo
  echo "From \`scripts/teacher-config.json\`: hidden 256, 4 layers (the first dense, FFN 768; then 3 MoE layers), MLA with"
  echo "q_lora_rank 128, kv_lora_rank 64, 4 heads of nope 32 + rope 16 (YaRN, factor 4), values 32; per MoE layer 16"
  echo "routed experts (intermediate 128) in 4 groups, top-2 groups, top-4 experts, sigmoid scores with"
  echo "e_score_correction_bias (noaux_tc), normalised and scaled by 2.5, plus 1 shared expert. Vocabulary 4096."
  echo
  echo "## Data and licence"
  echo
  echo "The King James Version (1611) is in the public domain; the text comes from Debian's \`bible-kjv\` package"
  echo "(\`scripts/kjv.sh\`: one verse per line, chapter headings kept). Every 20th chapter is held out (\`kjv-heldout.txt\`,"
  echo "$(wc -c < "$H") bytes); the tokenizer and the model saw only \`kjv-train.txt\`."
  echo
  echo "## How it was made"
  echo
  echo '```sh'
  echo "cmake -S . -B build && cmake --build build -j2"
  echo "bash scripts/teacher.sh teacher      # corpus, tokenizer, r1kit train (2400 steps), about 40 min on 2 cores"
  echo '```'
  echo
  echo "\`scripts/teacher.sh\` spells out every option (AdamW lr 2e-3 → 2e-4 cosine, 100 warmup steps, weight decay 0.1,"
  echo "clip 1.0, 2400 steps of 8 × 256 tokens = 4.9M tokens ≈ 5 epochs, bias update γ = 1e-3, sequence balance loss"
  echo "α = 1e-4, seeds 1, 2 threads). Training is deterministic for a given thread count."
  echo
  echo "## Held-out perplexity"
  echo
  echo "\`r1kit perplexity MODEL --text kjv-heldout.txt --ctx 256\` (llama-perplexity's method: 256-token chunks, second"
  echo "half of each scored):"
  echo
  echo "| model files | PPL |"
  echo "|---|---|"
  echo "| \`teacher/\` (FP8 release layout) | $(final "$ppl_fp8") |"
  echo "| \`r1kit convert teacher t.gguf --outtype f32\` | $(final "$ppl_gguf") |"
  echo "| \`r1kit convert teacher t.gguf --outtype bf16\` | $(final "$ppl_bf16") |"
  echo
  echo "The F32 GGUF holds the FP8 values exactly, so its perplexity is the FP8 files' (pinned by \`tests/cli/test_cli_teacher.c\`)."
  echo
  echo "## Expert load on the held-out text"
  echo
  echo "$(echo "$ppl_fp8" | sed -n '/expert load/,$p')"
  echo
  echo "No expert is dead and none takes most of a layer's selections; the min/max row is the least-chosen expert's"
  echo "count over the most-chosen one's."
  echo
  echo "## Samples"
  echo
  echo "Greedy (\`r1kit generate teacher --prompt P -n 48\`) and sampled (\`--temp 0.8 --top-p 0.95 --seed 1\`):"
  echo
  for p in "In the beginning" "And the LORD said unto Moses," "Blessed are the"; do
    echo "- **$p** (greedy): $(sample "$p" | tr '\n' ' ')"
    echo "- **$p** (sampled): $(sample "$p" --temp 0.8 --top-p 0.95 --seed 1 | tr '\n' ' ')"
  done
  echo
  echo "## Training curve"
  echo
  echo "From \`docs/teacher-train-log.jsonl\` (the run's JSON log): held-out loss every 200 steps."
  echo
  echo "| step | train loss | held-out loss | held-out PPL (first 64 windows of 256 tokens, all positions) |"
  echo "|---:|---:|---:|---:|"
  grep '"event":"eval"' docs/teacher-train-log.jsonl | while read -r l; do
    s=$(echo "$l" | grep -o '"step":[0-9]*' | cut -d: -f2)
    tl=$(grep "\"event\":\"step\",\"step\":$s," docs/teacher-train-log.jsonl | grep -o '"loss":[0-9.]*' | cut -d: -f2)
    hl=$(echo "$l" | grep -o '"heldout_loss":[0-9.]*' | cut -d: -f2)
    hp=$(echo "$l" | grep -o '"heldout_ppl":[0-9.]*' | cut -d: -f2)
    printf '| %s | %.4f | %.4f | %.2f |\n' "$s" "$tl" "$hl" "$hp"
  done
} > docs/teacher.md
echo "wrote docs/teacher.md" >&2
