#!/usr/bin/env bash
# scripts/deps.sh [--test] — install what r1kit needs from Debian's packages, only what is missing.
# Build: pkg-config zlib1g-dev libzip-dev libcjson-dev check. --test adds python3-torch (reference checks) and
# bible-kjv (the teacher's held-out text, scripts/kjv.sh) and chromium (renders the verify HTML report headless,
# tests/verify/test_report.c).
set -euo pipefail
pkgs=(pkg-config zlib1g-dev libzip-dev libcjson-dev check)
if [ "${1:-}" = "--test" ]; then pkgs+=(python3-torch python3-numpy bible-kjv chromium); fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
command -v gcc >/dev/null || missing+=(gcc)
command -v cmake >/dev/null || missing+=(cmake)
command -v make >/dev/null || missing+=(make)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
