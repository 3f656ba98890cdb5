#!/usr/bin/env bash
# bench/quantize_bench.sh — `r1kit quantize` on a generated DeepSeek-R1-layout FP8 checkpoint (`r1kit sample
# --preset bench`, ~3 GB, 3 shards): wall time, GB/s of FP8 input, weights/s and peak RSS for the q4 and q2-moe
# recipes (q2-moe also with an imatrix) at 1 and 2 threads, against two peers in the same run: `r1kit convert
# --outtype q8_0` (same input) and llama.cpp's `llama-quantize ... Q4_K_S` (from a BF16 GGUF made by r1kit convert,
# because llama-quantize cannot read FP8 safetensors; `r1kit quantize` is timed on that same GGUF for the ratio).
# Peak RSS is checked against the bound 2 × largest tensor + 100 MB for three readings of "largest tensor".
# Writes docs/bench-quantize.md (DOC=path to write elsewhere).
#
# Usage: bash bench/quantize_bench.sh [R1KIT] [WORKDIR]     (defaults: build/r1kit, /tmp/r1kit-qbench)
# Environment: LAYERS=N       sample with --layers N instead of the preset's 10 (same largest tensors, fewer bytes)
#              THREADS="1 2"  thread counts for the r1kit rows;  PEER_THREADS="1 2" for the BF16-GGUF rows
#              LLAMA_BIN=dir  llama.cpp build/bin (default /work/llama-new/build/bin; the peer is skipped if absent)
#              IMATRIX=0      skip the imatrix rows;  KEEP=1  keep the outputs and the sample
set -euo pipefail
cd "$(dirname "$0")/.."
R=$(realpath "${1:-build/r1kit}")
W=${2:-/tmp/r1kit-qbench}
[ -x "$R" ] || { echo "no r1kit binary at $R (build it, or pass its path)" >&2; exit 2; }
[ -x /usr/bin/time ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null; }
THREADS=${THREADS:-"1 2"}
PEER_THREADS=${PEER_THREADS:-"$THREADS"}
LLAMA_BIN=${LLAMA_BIN:-/work/llama-new/build/bin}
IMATRIX=${IMATRIX:-1}
DOC=${DOC:-docs/bench-quantize.md}
rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$([ -n "$(git status --porcelain -- quantize convert cli formats 2>/dev/null)" ] && echo ' plus uncommitted edits in quantize/ convert/ cli/ formats/' || true)
mkdir -p "$W"
SRC=$W/r1-bench${LAYERS:+-L$LAYERS}
[ -f "$SRC/config.json" ] || $R sample "$SRC" --preset bench ${LAYERS:+--layers $LAYERS} >&2

# ---- sizes: input bytes, the largest input tensor (its stored FP8 bytes and its f32 size) ----
$R inspect "$SRC" --json > "$W/inspect.json"
read -r in_bytes in_params largest_name largest_dtype largest_bytes largest_f32 < <(python3 - "$W/inspect.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
best = max(d["tensors"], key=lambda t: t["bytes"])
def numel(t):
    n = 1
    for s in t["shape"]: n *= s
    return n
big = max(d["tensors"], key=numel)
print(d["n_bytes"], d["n_params"], best["name"], best["dtype"], best["bytes"], 4 * numel(big))
EOF
)
shard_bytes=$(cat "$SRC"/*.safetensors | wc -c)

measure() {  # label, out, command...  -> appends "label|seconds|maxrss_kb|out_bytes|out_params|largest_out_bytes|cpu_s"
  local label=$1 out=$2; shift 2
  rm -rf "$out"
  sync
  /usr/bin/time -f "%e %M %U %S" -o "$W/time.txt" "$@" >"$W/stdout.txt" 2>"$W/log.txt" || { cat "$W/log.txt" >&2; exit 1; }
  read -r s kb us ss < "$W/time.txt"
  local ob=0 op=0 lo=0
  if [ -f "$out" ]; then
    read -r ob op lo < <($R inspect "$out" --json --no-tensors | python3 -c \
      'import json,sys; d=json.load(sys.stdin); print(d["n_bytes"], d["n_params"], d["largest_tensor_bytes"])')
  fi
  rows+=("$label|$s|$kb|$ob|$op|$lo|$(awk "BEGIN{printf \"%.2f\", $us+$ss}")")
  echo "$label: ${s}s, $((kb / 1024)) MB peak RSS" >&2
  [ "${KEEP:-0}" = 1 ] || rm -rf "$out"
}

rows=()
cat "$SRC"/*.safetensors > /dev/null          # warm page cache for every row
mkdir -p "$W/copy"
measure "cp (shard files)" "$W/copy/none" cp "$SRC"/*.safetensors "$W/copy/"; rm -rf "$W/copy"

# imatrix on a short text (README + docs, ctx 256, 8 chunks); timed, but it is not a quantize row
im_s="skipped"
if [ "$IMATRIX" = 1 ]; then
  cat README.md docs/*.md > "$W/imatrix-text.txt"
  /usr/bin/time -f "%e %M %U %S" -o "$W/time.txt" $R imatrix "$SRC" --text "$W/imatrix-text.txt" -o "$W/imatrix.gguf" \
    --ctx 256 --chunks 8 --threads 2 >/dev/null 2>"$W/log.txt" || { cat "$W/log.txt" >&2; exit 1; }
  read -r im_s im_kb _ _ < "$W/time.txt"
  echo "imatrix: ${im_s}s" >&2
fi

for t in $THREADS; do
  measure "convert --outtype q8_0, $t thr" "$W/out.gguf" $R convert "$SRC" "$W/out.gguf" --outtype q8_0 --threads "$t"
  measure "quantize q4, $t thr" "$W/out.gguf" $R quantize "$SRC" "$W/out.gguf" --recipe q4 --threads "$t"
  measure "quantize q2-moe, $t thr" "$W/out.gguf" $R quantize "$SRC" "$W/out.gguf" --recipe q2-moe --threads "$t"
  [ "$IMATRIX" = 1 ] && measure "quantize q2-moe + imatrix, $t thr" "$W/out.gguf" \
    $R quantize "$SRC" "$W/out.gguf" --recipe q2-moe --imatrix "$W/imatrix.gguf" --threads "$t"
done

# peer: llama-quantize cannot read FP8 safetensors, so both tools start from the same BF16 GGUF
peer_rows=()
if [ -x "$LLAMA_BIN/llama-quantize" ]; then
  $R convert "$SRC" "$W/bf16.gguf" --outtype bf16 --quiet >/dev/null 2>&1
  bf16_bytes=$(stat -c %s "$W/bf16.gguf")
  cat "$W/bf16.gguf" > /dev/null
  n0=${#rows[@]}
  for t in $PEER_THREADS; do
    measure "llama-quantize Q4_K_S (BF16 GGUF), $t thr" "$W/out.gguf" "$LLAMA_BIN/llama-quantize" "$W/bf16.gguf" "$W/out.gguf" Q4_K_S "$t"
    measure "r1kit quantize q4 (BF16 GGUF), $t thr" "$W/out.gguf" $R quantize "$W/bf16.gguf" "$W/out.gguf" --recipe q4 --threads "$t"
  done
  peer_rows=("${rows[@]:$n0}")
  rows=("${rows[@]:0:$n0}")
  rm -f "$W/bf16.gguf"
fi

# ---- report ----
mb() { awk "BEGIN{printf \"%.1f\", $1/1e6}"; }
lim_fp8=$((2 * largest_bytes + 100000000)); lim_f32=$((2 * largest_f32 + 100000000))
verdict() { [ "$1" -le "$2" ] && echo pass || echo FAIL; }
table() {  # rows..., input bytes
  local inb=$1; shift
  echo "| job | wall s | CPU s (user+sys) | GB/s (input) | M weights/s | peak RSS MB | largest output tensor MB | RSS ≤ 2×largest input (stored)+100 MB ($(mb $lim_fp8)) | ≤ 2×f32 largest+100 MB ($(mb $lim_f32)) | ≤ 2×largest output+100 MB |"
  echo "|---|---:|---:|---:|---:|---:|---:|---|---|---|"
  for r in "$@"; do
    IFS='|' read -r label s kb ob op lo cpu <<< "$r"
    local rss=$((kb * 1024)) v1 v2 v3 wps="n/a" lom="n/a"
    v1=$(verdict $rss $lim_fp8); v2=$(verdict $rss $lim_f32)
    [ "$op" -gt 0 ] && wps=$(awk "BEGIN{printf \"%.1f\", $op/1e6/$s}")
    v3="n/a"; [ "$lo" -gt 0 ] && { lom=$(mb "$lo"); v3="$(verdict $rss $((2 * lo + 100000000))) ($(mb $((2 * lo + 100000000))))"; }
    case "$label" in cp*) v1=n/a; v2=n/a;; esac
    echo "| $label | $s | $cpu | $(awk "BEGIN{printf \"%.3f\", $inb/1e9/$s}") | $wps | $(awk "BEGIN{printf \"%.0f\", $rss/1e6}") | $lom | $v1 | $v2 | $v3 |"
  done
}
{
  echo "# Quantize benchmark"
  echo
  echo "Reproduce: \`bash bench/quantize_bench.sh [R1KIT] [WORKDIR]\`$( [ -n "${LAYERS:-}" ] && echo " with \`LAYERS=$LAYERS\`") (writes this file)."
  echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(date -u +%Y-%m-%d);"
  echo "load average at the end of the run: $(cut -d' ' -f1-3 /proc/loadavg) (the cores are shared with other jobs)."
  echo "r1kit: \`$R\`; the source tree was at $rev$dirty when the run started (the binary may be older: rebuild first)."
  echo
  echo "Input: \`r1kit sample $SRC --preset bench$( [ -n "${LAYERS:-}" ] && echo " --layers $LAYERS")\`: DeepSeek-V3 architecture in R1's release layout"
  echo "(FP8-E4M3 + 128×128 weight_scale_inv, BF16 embeddings/norms/router): $(awk "BEGIN{printf \"%.3f\", $in_bytes/1e9}") GB of tensors"
  echo "($(awk "BEGIN{printf \"%.3f\", $shard_bytes/1e9}") GB of shard files), $(awk "BEGIN{printf \"%.0f\", $in_params/1e6}") M weights."
  echo "Largest input tensor: \`$largest_name\`, $(mb $largest_bytes) MB as stored ($largest_dtype); the largest tensor as f32: $(mb $largest_f32) MB."
  echo "GB/s = bytes of the input tensors / wall time. M weights/s = weights written / wall time. MB = 10^6 bytes."
  echo "Page cache warm. Wall times move with the machine's load; CPU s (user+sys) is the steadier figure when cores are shared."
  echo "Imatrix: $( [ "$im_s" = skipped ] && echo skipped || echo "\`r1kit imatrix SRC --text README.md+docs/*.md --ctx 256 --chunks 8 --threads 2\`, ${im_s} s (not part of the quantize rows)")."
  echo "Rows: \`cp SRC/*.safetensors DIR/\`; \`r1kit convert SRC out.gguf --outtype q8_0 --threads T\`; \`r1kit quantize SRC out.gguf --recipe q4|q2-moe [--imatrix imatrix.gguf] --threads T\`; /usr/bin/time -f \"%e %M %U %S\" around each."
  echo
  table "$in_bytes" "${rows[@]}"
  if [ ${#peer_rows[@]} -gt 0 ]; then
    echo
    echo "## Peer: llama.cpp's llama-quantize"
    echo
    echo "llama-quantize cannot read FP8 safetensors, so both tools start from the same BF16 GGUF"
    echo "(\`r1kit convert SRC bf16.gguf --outtype bf16\`, $(awk "BEGIN{printf \"%.3f\", $bf16_bytes/1e9}") GB; GB/s below is of that file)."
    echo "Commands: \`$LLAMA_BIN/llama-quantize bf16.gguf out.gguf Q4_K_S T\` and \`r1kit quantize bf16.gguf out.gguf --recipe q4 --threads T\`."
    echo
    table "$bf16_bytes" "${peer_rows[@]}"
    echo
    for t in $PEER_THREADS; do
      ls=$(printf '%s\n' "${peer_rows[@]}" | grep "^llama-quantize.*, $t thr|" | cut -d'|' -f2)
      rs=$(printf '%s\n' "${peer_rows[@]}" | grep "^r1kit quantize.*, $t thr|" | cut -d'|' -f2)
      echo "- $t thread(s): r1kit quantize q4 takes $(awk "BEGIN{printf \"%.1f\", $rs/$ls}")× llama-quantize Q4_K_S's wall time."
    done
  fi
} > "$DOC"
cat "$DOC"
