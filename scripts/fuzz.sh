#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/fuzz_*.c) with clang into build-fuzz/ and
# runs each for SECONDS (default 60), seeded from the repository's YAML/JSON files.
# Exits non-zero when any target finds a crash; reproducers land in
# build-fuzz/artifacts/. Rerun one with: build-fuzz/tests/fuzz/fuzz_yload FILE
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"
case "$secs" in '' | *[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;; esac

CC=clang cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DT0_FUZZ=ON -DT0_TESTS=OFF >/dev/null
cmake --build build-fuzz -j2

# Seeds: every YAML/JSON file in config/ and tests/ (only what the repository holds).
seeds=build-fuzz/seeds
rm -rf "$seeds"
mkdir -p "$seeds" build-fuzz/artifacts
n=0
while IFS= read -r -d '' f; do
  n=$((n + 1))
  cp "$f" "$seeds/seed-$n"
done < <(find config tests/data tests/fuzz/corpus -type f \
           \( -name '*.yaml' -o -name '*.yml' -o -name '*.json' -o -path 'tests/fuzz/corpus/*' \) \
           -size -64k -print0 2>/dev/null || true)

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
failed=0
for bin in build-fuzz/tests/fuzz/fuzz_*; do
  [ -x "$bin" ] && [ -f "$bin" ] || continue
  name=$(basename "$bin")
  corpus="build-fuzz/corpus/$name"
  mkdir -p "$corpus"
  echo "== $name: ${secs}s"
  # The run's chatter goes to a log; the summary line and any crash report are printed.
  if "$bin" -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
       -print_final_stats=1 -artifact_prefix="build-fuzz/artifacts/$name-" \
       "$corpus" "$seeds" > "build-fuzz/$name.log" 2>&1; then
    grep -E '^Done [0-9]+ runs' "build-fuzz/$name.log" || true
  else
    tail -60 "build-fuzz/$name.log" >&2
    echo "!! $name found a crash (see build-fuzz/artifacts/, log build-fuzz/$name.log)" >&2
    failed=1
  fi
done
exit "$failed"
