#!/usr/bin/env bash
# Every subcommand's --help, and the exit statuses: 0 ok, 1 runtime failure, 2 usage/config.
set -uo pipefail
bin=$(realpath "${1:?usage: cli_exit_codes.sh TIER0_BINARY}")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

expect() { # expect STATUS PATTERN -- command...
	local want=$1 pattern=$2
	shift 3
	local out status
	out=$("$@" 2>&1)
	status=$?
	if [ "$status" -ne "$want" ]; then
		echo "FAIL: '$*' exited $status, want $want; output: $out" >&2
		fails=$((fails + 1))
	elif [ -n "$pattern" ] && ! grep -qE -- "$pattern" <<<"$out"; then
		echo "FAIL: '$*' output lacks /$pattern/: $out" >&2
		fails=$((fails + 1))
	fi
}

expect 2 'usage: tier0' -- "$bin"
expect 0 'commands:' -- "$bin" --help
expect 2 "unknown command 'frobnicate'" -- "$bin" frobnicate
expect 0 '^tier0 [0-9]+\.[0-9]+\.[0-9]+' -- "$bin" version
for c in run console demo check-config version; do
	expect 0 "usage: tier0 $c" -- "$bin" $c --help
done
expect 0 'usage: tier0 audit verify' -- "$bin" audit --help
expect 0 'usage: tier0 audit verify' -- "$bin" audit verify --help
expect 2 'usage: tier0 audit' -- "$bin" audit
expect 2 "unknown audit command 'fix'" -- "$bin" audit fix --db x
expect 2 '--db FILE is required' -- "$bin" audit verify
expect 2 '--config FILE is required' -- "$bin" run
expect 2 '--config FILE is required' -- "$bin" check-config
expect 2 "unknown or incomplete option '--bogus'" -- "$bin" console --bogus
expect 2 "unexpected argument 'extra'" -- "$bin" console --config x.yaml extra

# Configuration errors name file:line:column and the key path, exit 2.
printf 'http:\n  listen: 127.0.0.1:8080\n  lisen: oops\n' > "$tmp/bad.yaml"
expect 2 "bad.yaml:3:3: .*lisen" -- "$bin" check-config --config "$tmp/bad.yaml"
printf 'store:\n  path: [1, 2]\n' > "$tmp/type.yaml"
expect 2 "type.yaml:2:[0-9]+: store.path" -- "$bin" check-config --config "$tmp/type.yaml"
expect 2 "nope.yaml" -- "$bin" check-config --config "$tmp/nope.yaml"
expect 2 "nope.yaml" -- "$bin" console --config "$tmp/nope.yaml"

# A valid configuration: masked dump, exit 0; the secret never appears.
printf 's3cr3t-token-value\n' > "$tmp/token"
cat > "$tmp/good.yaml" <<YAML
store:
  path: $tmp/good.db
http:
  metrics_token_file: token
catalog:
  files: ["$PWD/config/demo/catalog/*.yaml"]
YAML
expect 0 '"metrics_token' -- "$bin" check-config --config "$tmp/good.yaml"
if "$bin" check-config --config "$tmp/good.yaml" 2>&1 | grep -q s3cr3t; then
	echo "FAIL: check-config printed the secret" >&2
	fails=$((fails + 1))
fi

# Audit on a missing or foreign file is a runtime failure, not a crash.
expect 1 '' -- "$bin" audit verify --db "$tmp/missing.db"
printf 'this is not a database, just text padding it out to a page.%.0s' {1..80} > "$tmp/junk.db"
expect 1 '' -- "$bin" audit verify --db "$tmp/junk.db"
expect 2 '' -- "$bin" audit export --db "$tmp/good.db" --since yesterday-ish

# The demo runs from anywhere with no configuration; a corrupt store is a start-up error (1).
out=$(cd "$tmp" && printf 'ping\n' | "$bin" demo --db "$tmp/demo.db" 2>&1)
[ $? -eq 0 ] && grep -qx pong <<<"$out" || { echo "FAIL: demo did not answer ping: $out" >&2; fails=$((fails + 1)); }
expect 1 "junk.db" -- "$bin" console --config config/demo/tier0.yaml --db "$tmp/junk.db"
expect 1 "$tmp" -- "$bin" console --config config/demo/tier0.yaml --db "$tmp"

# Audit export filters: one request's chain, an action, a user, a time window.
printf 'rollback payment-api\nscale checkout-web to 3\n' |
	"$bin" console --config config/demo/tier0.yaml --db "$tmp/act.db" > "$tmp/act.out" 2>/dev/null
rid=$(grep -oE 'r-[0-9a-f]{16}' "$tmp/act.out" | head -1)
chain=$("$bin" audit export --db "$tmp/act.db" --request "$rid")
n=$(grep -c . <<<"$chain")
if [ -z "$rid" ] || [ "$n" -lt 4 ] || [ "$(grep -c "\"request_id\":\"$rid\"" <<<"$chain")" -ne "$n" ]; then
	echo "FAIL: audit export --request $rid gave $n records: $chain" >&2
	fails=$((fails + 1))
fi
if "$bin" audit export --db "$tmp/act.db" --action scale | grep -q '"action":"rollback"'; then
	echo "FAIL: audit export --action scale kept rollback records" >&2
	fails=$((fails + 1))
fi
[ "$("$bin" audit export --db "$tmp/act.db" --action scale | grep -c .)" -ge 4 ] ||
	{ echo "FAIL: audit export --action scale found too little" >&2; fails=$((fails + 1)); }
[ "$("$bin" audit export --db "$tmp/act.db" --user nobody-at-all | grep -c .)" -eq 0 ] ||
	{ echo "FAIL: audit export --user filtered nothing" >&2; fails=$((fails + 1)); }
[ "$("$bin" audit export --db "$tmp/act.db" --user alice --until 2000-01-01 | grep -c .)" -eq 0 ] ||
	{ echo "FAIL: audit export --until kept later records" >&2; fails=$((fails + 1)); }
[ "$("$bin" audit export --db "$tmp/act.db" --user alice | grep -c .)" -ge 8 ] ||
	{ echo "FAIL: audit export --user alice found too little" >&2; fails=$((fails + 1)); }
expect 2 'invalid until' -- "$bin" audit export --db "$tmp/act.db" --until someday
expect 2 'filters apply to export only' -- "$bin" audit verify --db "$tmp/act.db" --request r-1

if [ $fails -ne 0 ]; then
	echo "$fails CLI checks failed" >&2
	exit 1
fi
echo "cli exit codes: OK"
