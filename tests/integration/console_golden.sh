#!/usr/bin/env bash
# A scripted console session on the demo organisation, end to end, against golden
# output; then the audit chain it wrote verifies, and a tampered copy does not.
set -euo pipefail
bin=${1:?usage: console_golden.sh TIER0_BINARY}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

export TIER0_FAKE_NOW=2026-11-26T10:00:00Z
"$bin" console --config config/demo/tier0.yaml --db "$tmp/audit.db" \
	< tests/golden/demo_session.txt > "$tmp/out.txt" 2> "$tmp/err.txt"
if ! diff -u tests/golden/demo_session.out "$tmp/out.txt"; then
	echo "FAIL: console output differs from tests/golden/demo_session.out" >&2
	exit 1
fi
if grep -q '"level":"error"' "$tmp/err.txt"; then
	echo "FAIL: errors logged during the session:" >&2
	cat "$tmp/err.txt" >&2
	exit 1
fi

# Two audit records (received + reply) per non-empty line that is not "quit".
lines=$(grep -cv '^[[:space:]]*$' tests/golden/demo_session.txt)
want=$((lines * 2))
got=$("$bin" audit verify --db "$tmp/audit.db")
if [ "$got" != "OK: $want records" ]; then
	echo "FAIL: audit verify said '$got', want 'OK: $want records'" >&2
	exit 1
fi

# The same script again is deterministic.
"$bin" console --config config/demo/tier0.yaml --db "$tmp/audit2.db" \
	< tests/golden/demo_session.txt > "$tmp/out2.txt" 2>/dev/null
cmp -s "$tmp/out.txt" "$tmp/out2.txt" || { echo "FAIL: second run differs" >&2; exit 1; }

# Tampering with one reply is detected at its sequence number.
sqlite3 "$tmp/audit.db" "DROP TRIGGER audit_no_update; UPDATE audit SET detail = replace(detail, 'pong', 'p0ng') WHERE seq = 2;"
set +e
out=$("$bin" audit verify --db "$tmp/audit.db")
status=$?
set -e
if [ $status -ne 1 ] || [[ "$out" != *"seq 2"* ]]; then
	echo "FAIL: tampered chain: status $status, output '$out'" >&2
	exit 1
fi
echo "console golden session: OK ($lines messages, $want audit records)"
