#!/usr/bin/env bash
# A scripted console session on the demo organisation, end to end, against golden
# output; then the audit chain it wrote verifies, and a tampered copy does not.
set -euo pipefail
bin=${1:?usage: console_golden.sh TIER0_BINARY}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

export TIER0_FAKE_NOW=2026-11-26T10:00:00Z
# Action request ids are random: they are compared as r-ID.
# Regenerate the golden file (then check the diff by eye):
#   TIER0_FAKE_NOW=2026-11-26T10:00:00Z build/tier0 console --config config/demo/tier0.yaml \
#     --db /tmp/g.db < tests/golden/demo_session.txt 2>/dev/null \
#     | sed -E 's/r-[0-9a-f]{16}/r-ID/g' > tests/golden/demo_session.out
normalise() { sed -E 's/r-[0-9a-f]{16}/r-ID/g'; }
"$bin" console --config config/demo/tier0.yaml --db "$tmp/audit.db" \
	< tests/golden/demo_session.txt 2> "$tmp/err.txt" | normalise > "$tmp/out.txt"
if ! diff -u tests/golden/demo_session.out "$tmp/out.txt"; then
	echo "FAIL: console output differs from tests/golden/demo_session.out" >&2
	exit 1
fi
if grep -q '"level":"error"' "$tmp/err.txt"; then
	echo "FAIL: errors logged during the session:" >&2
	cat "$tmp/err.txt" >&2
	exit 1
fi

# Two audit records (received + reply) per non-empty line that is not "quit",
# plus the records of the action requests (request, policy, state changes ...).
lines=$(grep -cv '^[[:space:]]*$' tests/golden/demo_session.txt)
actions=$(sqlite3 "$tmp/audit.db" "SELECT count(*) FROM audit WHERE kind LIKE 'action.%'")
if [ "$actions" -lt 1 ]; then
	echo "FAIL: the action requests of the session left no audit records" >&2
	exit 1
fi
want=$((lines * 2 + actions))
got=$("$bin" audit verify --db "$tmp/audit.db")
if [ "$got" != "OK: $want records" ]; then
	echo "FAIL: audit verify said '$got', want 'OK: $want records'" >&2
	exit 1
fi

# The same script again is deterministic.
"$bin" console --config config/demo/tier0.yaml --db "$tmp/audit2.db" \
	< tests/golden/demo_session.txt 2>/dev/null | normalise > "$tmp/out2.txt"
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
