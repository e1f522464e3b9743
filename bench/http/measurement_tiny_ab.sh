for round in 1 2 3; do
for mode in off on; do
  rm -rf /tmp/tinyrun; cp -r /tmp/tiny /tmp/tinyrun; rm -f /tmp/tinyrun/measurement.db*
  cfg=/tmp/enc.json; [ $mode = off ] && cfg=/tmp/enc2.json
  /work/main/.venv/bin/freshrec serve --data /tmp/tinyrun --port 8940 --open --config $cfg > /dev/null 2>&1 &
  PID=$!; sleep 7
  FRESHREC_USERS=200 FRESHREC_RATE=500 wrk -t1 -c10 -d3s -s http/recommend.lua http://127.0.0.1:8940 > /dev/null
  echo "$mode $(FRESHREC_USERS=200 FRESHREC_RATE=500 wrk -t1 -c10 -d15s --latency -s http/recommend.lua http://127.0.0.1:8940 | grep -E '50%|99%|Requests/sec' | tr -s ' ' | tr '\n' ' ')"
  kill $PID; wait $PID 2>/dev/null; sleep 1
done; done
