#!/usr/bin/env bash
# Measuring's cost where the server does not saturate: a 100-item shop, wrk paced at 500/s,
# alternating rounds with measurement off and on (a fresh copy of the data each).
#   bash bench/http/measurement_tiny_ab.sh [ROUNDS]      (run from the repository root)
set -euo pipefail
ROUNDS=${1:-3}
BIN=$PWD/.venv/bin
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
echo '{"content": {"encoder": "none"}}' > "$WORK/on.json"
echo '{"content": {"encoder": "none"}, "measurement": {"enabled": false}}' > "$WORK/off.json"
"$BIN/freshrec" simulate --out "$WORK/shop" --users 200 --items 100 --events 2000 > /dev/null
"$BIN/freshrec" import --data "$WORK/data" --events "$WORK/shop/events.csv" \
  --items "$WORK/shop/items.jsonl" --config "$WORK/on.json" > /dev/null
rm -f "$WORK"/data/measurement.db*
export FRESHREC_USERS=200 FRESHREC_RATE=500 OPENBLAS_NUM_THREADS=1
for _ in $(seq "$ROUNDS"); do
  for mode in off on; do
    rm -rf "$WORK/run" && cp -r "$WORK/data" "$WORK/run"
    "$BIN/freshrec" serve --data "$WORK/run" --port 8940 --open --config "$WORK/$mode.json" \
      > /dev/null 2>&1 &
    server=$!
    sleep 7
    wrk -t1 -c10 -d3s -s bench/http/recommend.lua http://127.0.0.1:8940 > /dev/null
    echo "$mode $(wrk -t1 -c10 -d15s --latency -s bench/http/recommend.lua \
      http://127.0.0.1:8940 | grep -E '50%|99%|Requests/sec' | tr -s ' ' | tr '\n' ' ')"
    kill "$server"
    wait "$server" 2> /dev/null || true
  done
done
