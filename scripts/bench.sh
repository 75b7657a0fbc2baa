#!/usr/bin/env bash
# Every benchmark, reproducibly: builds (RelWithDebInfo) and prints the figures that
# bench/README.md records. Traffic stays on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh >/dev/null
./scripts/build.sh >/dev/null
bin=./build/tier0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=${BENCH_MESSAGES:-10000}

echo "== intent matching (built-ins + 100 configured rules)"
./build/bench/bench_intent

echo "== incidents: alert-to-card latency (fakes answering in 50 ms), a hanging source, a storm"
./build/bench/bench_incident

echo "== console round trip in-process ($n messages, demo organisation, SQLite file)"
./build/bench/bench_console config/demo/tier0.yaml "$n"

echo "== Teams: activity -> reply against the fake Bot Framework (1000 activities)"
./build/bench/bench_teams 1000

echo "== actions: policy, render + hash, request + approval through the router"
./build/bench/bench_actions config/demo/tier0.yaml 2000

echo "== console process: idle RSS, $n scripted messages through stdin, RSS after"
mkfifo "$tmp/in"
"$bin" console --config config/demo/tier0.yaml --db "$tmp/c.db" < "$tmp/in" > "$tmp/out" 2>/dev/null &
pid=$!
exec 3> "$tmp/in"
sleep 0.5
idle=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
msgs=("who owns payment-api" "who is on call for checkout-web" "what depends on payments-db"
      "runbook for payment-api" "describe ledger-service" "ping" "who owns payment-ap1"
      "tell me a joke" "blast radius of auth-service" "version")
for ((i = 0; i < n; i++)); do echo "${msgs[i % ${#msgs[@]}]}"; done > "$tmp/script"
start=$(date +%s%N)
cat "$tmp/script" >&3
# Wait until every message has been echoed back by the console.
while [ "$(grep -c '^> ' "$tmp/out" 2>/dev/null || true)" -lt "$n" ]; do sleep 0.01; done
ms=$(( ($(date +%s%N) - start) / 1000000 ))
after=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
peak=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")
exec 3>&-
wait "$pid"
echo "idle RSS: ${idle} kB"
echo "$n messages: ${ms} ms wall (including the pipe), RSS after: ${after} kB, peak: ${peak} kB"

echo "== daemon idle RSS (tier0 run, HTTP server up)"
port=$((30000 + ($$ % 20000)))
printf 'store:\n  path: %s/d.db\nhttp:\n  listen: 127.0.0.1:%s\ncatalog:\n  files: ["%s/config/demo/catalog/*.yaml"]\nrunbooks:\n  paths: ["%s/config/demo/runbooks"]\n' \
	"$tmp" "$port" "$PWD" "$PWD" > "$tmp/d.yaml"
"$bin" run --config "$tmp/d.yaml" 2>/dev/null &
pid=$!
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.05; done
sleep 0.5
echo "daemon idle RSS: $(awk '/^VmRSS/ {print $2}' "/proc/$pid/status") kB (peak $(awk '/^VmHWM/ {print $2}' "/proc/$pid/status") kB)"
kill -TERM "$pid"
wait "$pid"

if [ -x ./build/bench/bench_llm ]; then
	echo "== LLM agent overhead per step (fake provider: in-process, then HTTP on 127.0.0.1)"
	./build/bench/bench_llm "${BENCH_LLM_REQUESTS:-1000}"
fi
echo "== Slack load against the fake Slack (bench/README.md, ## Slack; SLACK_BENCH_ARGS=--long for 10 s)"
./build/bench/bench_slack_load ${SLACK_BENCH_ARGS:-}
