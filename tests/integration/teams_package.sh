#!/usr/bin/env bash
# scripts/teams-package.sh: a zip with manifest.json (bot id, scopes, commands) and two PNG
# icons at its root; the subcommand's usage errors.
set -uo pipefail
bin=$(realpath "${1:?usage: teams_package.sh TIER0_BINARY}")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

app=3f1c7a2e-9b4d-4e8a-a1c2-0d5e6f7a8b9c
printf 'teams:\n  app_id: %s\n  app_password: x\n' "$app" >"$tmp/t.yaml"
printf 'log: {level: info}\n' >"$tmp/no-teams.yaml"

"$bin" teams-package --help | grep -q 'usage: tier0 teams-package' || fail "no usage"
"$bin" teams-package --config "$tmp/t.yaml" >/dev/null 2>&1; [ $? -eq 2 ] || fail "missing --out not a usage error"
"$bin" teams-package --config "$tmp/no-teams.yaml" --out "$tmp/x" 2>"$tmp/err"; [ $? -eq 2 ] || fail "no teams section accepted"
grep -q 'no teams section' "$tmp/err" || fail "unclear error: $(cat "$tmp/err")"
"$bin" teams-package --config "$tmp/t.yaml" --out "$tmp/x" --website http://insecure 2>/dev/null; [ $? -eq 2 ] || fail "http website accepted"

if ! command -v zip >/dev/null || ! command -v unzip >/dev/null; then
	echo "FAIL: zip/unzip not installed: run scripts/install-deps.sh" >&2; exit 1
fi
TIER0_BIN=$bin scripts/teams-package.sh "$tmp/t.yaml" "$tmp/app.zip" --website https://ops.example.com >/dev/null \
	|| fail "script failed"
list=$(unzip -Z1 "$tmp/app.zip" | sort | tr '\n' ' ')
[ "$list" = "color.png manifest.json outline.png " ] || fail "zip holds: $list"
unzip -p "$tmp/app.zip" manifest.json >"$tmp/m.json"
grep -q "\"botId\": \"$app\"" "$tmp/m.json" || fail "bot id missing"
grep -q '"groupChat"' "$tmp/m.json" || fail "scopes missing"
grep -q '"title": "who owns"' "$tmp/m.json" || fail "commands missing"
grep -q '"websiteUrl": "https://ops.example.com"' "$tmp/m.json" || fail "website option ignored"
[ "$(unzip -p "$tmp/app.zip" color.png | head -c 8 | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || fail "color.png is not a PNG"
echo "ok"
