#!/usr/bin/env bash
# Incident intake through the real binary: the daemon's webhooks (PagerDuty signed
# with openssl here, a bad signature refused, Alertmanager, the deployment webhook,
# queue metrics), then the console demo showing a simulated alert's card and the
# context of a service from local data.
set -uo pipefail
bin=${1:?usage: incident_intake.sh TIER0_BINARY}
fixtures=${T0_FIXTURES:-$PWD/../shared/fixtures}
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; [ -f "$tmp/err" ] && tail -20 "$tmp/err" >&2; exit 1; }

port=$((20000 + (($$ + 7919) % 20000)))
cat > "$tmp/tier0.yaml" <<YAML
log:
  level: info
store:
  path: $tmp/t.db
http:
  listen: 127.0.0.1:$port
catalog:
  files: ["$PWD/config/demo/catalog/*.yaml"]
runbooks:
  paths: ["$PWD/config/demo/runbooks"]
pagerduty:
  webhook_secrets: [rotated-out, pd-secret-1]
alertmanager:
  token: am-token-1
deployments:
  webhook_secret: deploy-secret-1
incidents:
  default_channel: "#incidents"
YAML
"$bin" run --config "$tmp/tier0.yaml" 2> "$tmp/err" &
pid=$!
for _ in $(seq 1 100); do
	curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
	kill -0 "$pid" 2>/dev/null || fail "daemon exited early"
	sleep 0.05
done

body="$fixtures/pagerduty/webhook_v3_incident_triggered.json"
[ -f "$body" ] || fail "fixture $body missing"
sig=$(openssl dgst -sha256 -hmac pd-secret-1 -hex < "$body" | sed 's/^.*= //')
post() { curl -s -o /dev/null -w '%{http_code}' -X POST "$@"; }
code=$(post -H "X-PagerDuty-Signature: v1=$sig" --data-binary "@$body" "http://127.0.0.1:$port/webhooks/pagerduty")
[ "$code" = 202 ] || fail "signed PagerDuty webhook answered $code"
code=$(post -H "X-PagerDuty-Signature: v1=${sig/a/b}" --data-binary "@$body" "http://127.0.0.1:$port/webhooks/pagerduty")
[ "$code" = 401 ] || fail "bad signature answered $code"
code=$(post --data-binary '{"version":"4","groupKey":"g","status":"firing","alerts":[]}' "http://127.0.0.1:$port/webhooks/alertmanager")
[ "$code" = 401 ] || fail "Alertmanager without its token answered $code"
code=$(post -H 'Authorization: Bearer am-token-1' --data-binary '{"version":"4","groupKey":"g","status":"firing","commonLabels":{"service":"payment-api"},"alerts":[{"status":"firing","labels":{"alertname":"X"}}]}' "http://127.0.0.1:$port/webhooks/alertmanager")
[ "$code" = 200 ] || fail "Alertmanager answered $code"
dep='{"service":"payment-api","version":"v9","actor":"ci"}'
dsig=$(printf '%s' "$dep" | openssl dgst -sha256 -hmac deploy-secret-1 -hex | sed 's/^.*= //')
code=$(post -H "X-Tier0-Signature: sha256=$dsig" --data-binary "$dep" "http://127.0.0.1:$port/webhooks/deployments")
[ "$code" = 201 ] || fail "deployment webhook answered $code"
sleep 0.3
metrics=$(curl -fsS "http://127.0.0.1:$port/metrics") || fail "/metrics"
grep -q '^tier0_incident_queue_depth 0' <<<"$metrics" || fail "no queue depth in /metrics"
grep -q '^tier0_incident_queue_drops_total 0' <<<"$metrics" || fail "no queue drops in /metrics"
grep -q 'tier0_webhook_rejected_total{source="pagerduty",reason="signature"} 1' <<<"$metrics" ||
	fail "the bad signature is not counted"
grep -q '"msg":"bad_signature"' "$tmp/err" || fail "no log line for the bad signature"
grep -q 'pd-secret-1\|am-token-1\|deploy-secret-1' "$tmp/err" && fail "a secret reached the log"
kill -TERM "$pid"
wait "$pid" || fail "daemon exit status $?"
pid=
n=$(sqlite3 "$tmp/t.db" 'SELECT count(*) FROM incidents')
[ "$n" = 2 ] || fail "expected 2 incidents stored, found $n"

# The console demo: a simulated alert's card, then a service's context from local data.
out=$(printf 'simulate alert payment-api HighErrorRate\n/tier0 incident checkout-web\ndeploys payment-api\n' |
	TIER0_FAKE_NOW=2026-11-26T10:00:00Z "$bin" console --config config/demo/tier0.yaml --db "$tmp/demo.db" 2>"$tmp/err2") ||
	fail "console exited $?"
for want in "TRIGGERED: [SIMULATED] HighErrorRate on payment-api" \
	"the incident card went to #payments-oncall" \
	"Context for checkout-web (no open incident)" \
	"PagerDuty not configured, Backstage not configured, GitHub not configured, Argo CD not configured" \
	"No deployments of payment-api recorded since"; do
	grep -qF "$want" <<<"$out" || { echo "$out" >&2; fail "console output lacks: $want"; }
done
echo "incident intake: OK"
