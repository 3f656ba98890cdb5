#!/usr/bin/env bash
# scripts/test.sh — install what is missing, build, and run the whole test suite twice:
# a normal build (warnings as errors) and an ASan+UBSan build. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh --test
jobs=$(nproc 2>/dev/null || echo 2)

echo "== build (RelWithDebInfo, -Werror)"
cmake -S . -B build -DRK_WERROR=ON >/dev/null
cmake --build build -j"$jobs" >/dev/null
echo "== tests"
ctest --test-dir build -j"$jobs" --output-on-failure --timeout 900

echo "== build (ASan + UBSan)"
cmake -S . -B build-asan -DRK_SANITIZE=ON -DRK_WERROR=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-asan -j"$jobs" >/dev/null
echo "== tests under ASan + UBSan"
ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan -j"$jobs" --output-on-failure --timeout 900
