#!/usr/bin/env bash
# `make run`: the whole product on one machine. Starts the sandbox API, the
# worker with its embedded NATS JetStream server, sends a small sample of
# commands (one of them invalid), prints every result, and stops cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-bin}
EMU_ADDR=${EMU_ADDR:-127.0.0.1:18080}
NATS_ADDR=${NATS_ADDR:-127.0.0.1:14222}
HTTP_ADDR=${HTTP_ADDR:-127.0.0.1:18081}
DATA=$(mktemp -d)
LOGS=$DATA/logs
mkdir -p "$LOGS"
pids=()

stop() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$DATA"
}
trap stop EXIT

wait_http() { # url what
  for _ in $(seq 1 200); do
    if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "demo: $2 did not come up; its log:" >&2
  cat "$LOGS"/*.log >&2
  exit 1
}

echo "== starting the 1C-Connect sandbox on $EMU_ADDR (three client users)"
"$BIN/connect-emulator" --listen "$EMU_ADDR" --seed-client-users 3 --latency 20ms \
  --log-level warn >"$LOGS/emulator.log" 2>&1 &
pids+=($!)
wait_http "http://$EMU_ADDR/healthz" "the sandbox"

echo "== starting the worker (embedded NATS JetStream on $NATS_ADDR, probes on $HTTP_ADDR)"
"$BIN/worker" --embedded-listen "$NATS_ADDR" --embedded-dir "$DATA/nats" \
  --connect-url "http://$EMU_ADDR/cus/ws/PartnerWebAPI2" --connect-user admin --connect-password admin \
  --http-listen "$HTTP_ADDR" --max-wait 300ms --log-level warn >"$LOGS/worker.log" 2>&1 &
pids=("$!" "${pids[@]}") # stop the worker first
wait_http "http://$HTTP_ADDR/readyz" "the worker"

echo "== sending examples/demo.jsonl and waiting for every result"
"$BIN/enqueue" -s "nats://$NATS_ADDR" -wait -timeout 60s -f examples/demo.jsonl >"$DATA/results.jsonl" || true
cat "$DATA/results.jsonl"
want=$(grep -c '"op"' examples/demo.jsonl)
got=$(grep -c '"id"' "$DATA/results.jsonl" || true)

echo "== the shared quota ledger (bin/worker quota)"
"$BIN/worker" quota --nats-url "nats://$NATS_ADDR" || true
echo "== the sandbox's call counts"
curl -fsS "http://$EMU_ADDR/stats"; echo
echo "== stopping"
# The sample holds commands that fail on purpose (an unknown user, invalid
# fields), so enqueue exits 1; the demo succeeds when every command got
# exactly one result.
if [ "$got" -ne "$want" ]; then
  echo "demo: $got results for $want commands" >&2
  cat "$LOGS"/*.log >&2
  exit 1
fi
echo "== $got results for $want commands"
