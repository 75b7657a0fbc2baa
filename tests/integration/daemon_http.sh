#!/usr/bin/env bash
# The daemon end to end: HTTP endpoints, SIGHUP reload (a bad file keeps the old
# configuration), and SIGTERM exits 0 within the shutdown deadline.
set -uo pipefail
bin=${1:?usage: daemon_http.sh TIER0_BINARY}
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; [ -f "$tmp/err" ] && tail -20 "$tmp/err" >&2; exit 1; }

port=$((20000 + ($$ % 20000)))
write_config() {
	cat > "$tmp/tier0.yaml" <<YAML
log:
  level: info
store:
  path: $tmp/t.db
http:
  listen: 127.0.0.1:$port
  max_body_bytes: 1024
  metrics_token: ${1}
shutdown:
  grace_ms: 2000
catalog:
  files: ["$PWD/config/demo/catalog/*.yaml"]
YAML
}
write_config first-token
"$bin" run --config "$tmp/tier0.yaml" 2> "$tmp/err" &
pid=$!

for _ in $(seq 1 100); do
	curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
	kill -0 "$pid" 2>/dev/null || fail "daemon exited early"
	sleep 0.05
done
[ "$(curl -sS "http://127.0.0.1:$port/healthz")" = "ok" ] || fail "/healthz"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")
[ "$code" = 200 ] || fail "/readyz answered $code with no adapters configured"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/nope")
[ "$code" = 404 ] || fail "unknown path answered $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary "@$bin" "http://127.0.0.1:$port/healthz")
[ "$code" = 413 ] || [ "$code" = 405 ] || fail "oversized POST answered $code"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/metrics")
[ "$code" = 401 ] || fail "/metrics without token answered $code"
metrics=$(curl -fsS -H 'Authorization: Bearer first-token' "http://127.0.0.1:$port/metrics") ||
	fail "/metrics with token"
grep -q '^# TYPE ' <<<"$metrics" || fail "/metrics has no TYPE lines"
grep -q 'first-token' "$tmp/err" && fail "the metrics token reached the log"

# SIGHUP with a broken file: logged, old configuration kept.
cp "$tmp/tier0.yaml" "$tmp/good.yaml"
printf 'log:\n  level: loud\n' > "$tmp/tier0.yaml"
kill -HUP "$pid"
for _ in $(seq 1 40); do grep -q reload_failed "$tmp/err" && break; sleep 0.05; done
grep -q reload_failed "$tmp/err" || fail "bad reload not logged"
kill -0 "$pid" || fail "daemon died on a bad reload"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer first-token' "http://127.0.0.1:$port/metrics")
[ "$code" = 200 ] || fail "old configuration not kept after a bad reload ($code)"

# SIGHUP with a good file: the new token applies.
write_config second-token
kill -HUP "$pid"
for _ in $(seq 1 40); do grep -q '"msg":"reloaded"' "$tmp/err" && break; sleep 0.05; done
grep -q '"msg":"reloaded"' "$tmp/err" || fail "good reload not logged"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer second-token' "http://127.0.0.1:$port/metrics")
[ "$code" = 200 ] || fail "new token refused after reload ($code)"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer first-token' "http://127.0.0.1:$port/metrics")
[ "$code" = 401 ] || fail "old token still accepted after reload ($code)"

# SIGTERM: exit 0 within the grace period plus a margin.
start=$(date +%s%N)
kill -TERM "$pid"
wait "$pid"
status=$?
pid=
ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$status" -eq 0 ] || fail "exit status $status after SIGTERM"
[ "$ms" -lt 3000 ] || fail "took ${ms} ms to stop"
grep -q '"msg":"stopped"' "$tmp/err" || fail "no stopped log line"
echo "daemon http: OK (stopped in ${ms} ms)"
