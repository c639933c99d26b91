#!/usr/bin/env bash
# `make run`: the whole product on one machine. Starts the sandbox API and
# the worker with its embedded NATS JetStream server, sends the sample
# examples/demo.jsonl (several hundred edits, some of the same users, a few
# invalid, a read, an add) with `enqueue -wait`, sums up what batching
# saved, and shows the change feed's events: the sandbox's users mirrored,
# the demo's own edit, a change made in the sandbox's "web cabinet". Every figure comes from the processes themselves: enqueue's
# results, the sandbox's /stats, `worker quota`. bin/demo does the
# counting; this script only starts, waits and stops.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-bin}
SAMPLE=${SAMPLE:-examples/demo.jsonl}
# Free ports unless given: the machine may run other sandboxes and NATS
# servers, and the demo must talk to its own.
read -r free_emu free_nats free_http < <("$BIN/demo" ports 3)
EMU_ADDR=${EMU_ADDR:-$free_emu}
NATS_ADDR=${NATS_ADDR:-$free_nats}
HTTP_ADDR=${HTTP_ADDR:-$free_http}
USERS=$("$BIN/demo" users)
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

fail() { # message
  echo "demo: $1; the logs:" >&2
  cat "$LOGS"/*.log >&2
  exit 1
}

wait_http() { # url what pid
  for _ in $(seq 1 300); do
    kill -0 "$3" 2>/dev/null || fail "$2 exited at start"
    if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  fail "$2 did not come up"
}

CHURN=${CHURN:-120}
echo "== starting the 1C-Connect sandbox on $EMU_ADDR ($USERS client users, 20 specialists, 20ms per call, the real hourly limits;"
echo "   $CHURN changes a minute to its specialists, as if made by people in its web cabinet)"
"$BIN/connect-emulator" --listen "$EMU_ADDR" --seed-client-users "$USERS" --seed-objects Specialist=20 --latency 20ms \
  --churn "$CHURN" --churn-kinds Specialist \
  --log-level warn >"$LOGS/emulator.log" 2>&1 &
pids+=($!)
wait_http "http://$EMU_ADDR/healthz" "the sandbox" "$!"

echo "== starting the worker (embedded NATS JetStream on $NATS_ADDR, probes on $HTTP_ADDR, default settings: max-wait 2s;"
echo "   change feeds of ClientUserRead and SpecialistRead every 2s)"
"$BIN/worker" --embedded-listen "$NATS_ADDR" --embedded-dir "$DATA/nats" --feed ClientUserRead=2s --feed SpecialistRead=2s \
  --connect-url "http://$EMU_ADDR/cus/ws/PartnerWebAPI2" --connect-user admin --connect-password admin \
  --http-listen "$HTTP_ADDR" --log-level warn >"$LOGS/worker.log" 2>&1 &
pids=("$!" "${pids[@]}") # stop the worker first
wait_http "http://$HTTP_ADDR/readyz" "the worker" "${pids[0]}"

echo "== sending $SAMPLE ($(grep -c '"op"' "$SAMPLE") commands) with enqueue -wait"
# The sample holds commands that fail on purpose (invalid fields, a user
# that does not exist), so enqueue exits 1; bin/demo summary checks that
# every command got exactly one result.
t0=$(date +%s%N)
"$BIN/enqueue" -s "nats://$NATS_ADDR" -wait -timeout 60s -f "$SAMPLE" >"$DATA/results.jsonl" || true
t1=$(date +%s%N)

echo "== a few of the results (all are in enqueue's output, one JSON line each)"
for id in demo-edit-1 demo-hot-1-1 demo-invalid-id demo-edit-missing demo-department demo-regions; do
  grep -F "\"id\":\"$id\"" "$DATA/results.jsonl" | cut -c1-220 || true
done

echo "== the shared quota ledger (bin/worker quota)"
"$BIN/worker" quota --nats-url "nats://$NATS_ADDR" | tee "$DATA/quota.txt"
curl -fsS "http://$EMU_ADDR/stats" >"$DATA/stats.json"

echo "== the change feeds (bin/worker feeds): the sandbox's objects backfilled, then polled with ChangedFrom"
"$BIN/demo" changes -s "nats://$NATS_ADDR" -timeout 30s >"$DATA/changes.txt" || fail "the change feed did not report the demo's edit"
"$BIN/worker" feeds --nats-url "nats://$NATS_ADDR"
echo "== change events (stream CONNECT_CHANGES, read with bin/demo changes)"
cat "$DATA/changes.txt"
echo "== the mirror's record of that user (bin/worker mirror get ClientUser $("$BIN/demo" edited-user))"
"$BIN/worker" mirror get ClientUser "$("$BIN/demo" edited-user)" --nats-url "nats://$NATS_ADDR" | cut -c1-300

echo "== summary"
"$BIN/demo" summary -commands "$SAMPLE" -results "$DATA/results.jsonl" -stats "$DATA/stats.json" \
  -quota "$DATA/quota.txt" -elapsed "$(((t1 - t0) / 1000000))ms" || fail "the summary failed"
