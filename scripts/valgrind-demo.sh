#!/usr/bin/env bash
# The demo script (the golden console session) under valgrind: no leaks, no invalid
# accesses. Uninitialised-value checks are off: PCRE2's JIT-compiled code trips them
# with false positives (valgrind cannot see through generated code); ASan and UBSan
# cover memory errors in the sanitizer build.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-./build/tier0}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
TIER0_FAKE_NOW=2026-11-26T10:00:00Z valgrind --quiet --undef-value-errors=no \
	--leak-check=full --show-leak-kinds=all --errors-for-leak-kinds=all --error-exitcode=3 \
	"$bin" console --config config/demo/tier0.yaml --db "$tmp/vg.db" \
	< tests/golden/demo_session.txt > "$tmp/out.txt"
# Action request ids are random (tests/integration/console_golden.sh compares them as r-ID).
sed -E 's/r-[0-9a-f]{16}/r-ID/g' "$tmp/out.txt" | diff -q tests/golden/demo_session.out - >/dev/null
echo "valgrind demo: no leaks, no errors"
