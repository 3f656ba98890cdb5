#!/bin/sh
# scripts/kjv.sh OUTDIR — the teacher's corpus: the King James Bible (1611; public domain) as printed by Debian's
# `bible-kjv` package, one verse per line, chapter headings kept as their own lines. Every 20th chapter (chapters
# 20, 40, ... in reading order) goes to OUTDIR/kjv-heldout.txt, the rest to OUTDIR/kjv-train.txt.
# Installs bible-kjv with apt when `bible` is missing (sudo if not root).
set -eu
out=${1:?usage: scripts/kjv.sh OUTDIR}
mkdir -p "$out"
if ! command -v bible >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends bible-kjv >/dev/null
fi
bible "Gen1:1-Rev22:21" | awk -v train="$out/kjv-train.txt" -v held="$out/kjv-heldout.txt" '
    function flush() { if (verse != "") { print verse > dest; verse = "" } }
    /^$/ { next }
    /^[0-9A-Za-z][A-Za-z ]* [0-9]+$/ { flush(); chapter++; dest = (chapter % 20 == 0) ? held : train; print $0 > dest; next }
    /^ *[0-9]+ / { flush(); sub(/^ *[0-9]+ /, ""); verse = $0; next }
    { sub(/^ +/, ""); verse = verse " " $0 }
    END { flush() }'
wc -c "$out/kjv-train.txt" "$out/kjv-heldout.txt" >&2
