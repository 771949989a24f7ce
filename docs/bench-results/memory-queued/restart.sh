#!/bin/bash
# Memory with 100 000 queued, part 2: start a node on a copy of accept.sh's data dir (at the
# default log level), print VmRSS/VmHWM (kB) at "started" and 10 s later, then make all
# 100 000 due at once (POST /api/queue/flush), wait until each has been tried and deferred
# again, and print them 5 s after.
# Usage: docs/bench-results/memory-queued/restart.sh [BUILD_DIR]   (NODEFLAGS as in accept.sh)
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
B=$(cd "${1:-$HERE/../../..}" && pwd)
MEM_DIR=${MEM_DIR:-/tmp/mem}
pkill -f "$MEM_DIR/mem.toml"; sleep 1
rm -rf "$MEM_DIR/data"; cp -a "$MEM_DIR/snap" "$MEM_DIR/data"
cd "$B"
node ${NODEFLAGS:-} dist/gateway/cli/main.js start --config "$MEM_DIR/mem.toml" > "$MEM_DIR/restart.log" 2>&1 &
P=$!
T0=$(date +%s.%N)
until grep -q '"event":"started"' "$MEM_DIR/restart.log"; do sleep 0.1; done
echo "started after $(echo "$(date +%s.%N) - $T0" | bc) s: $(grep -E 'VmHWM|VmRSS' /proc/$P/status | tr -s ' \t\n' ' ')"
sleep 10
echo "10 s later: $(grep -E 'VmHWM|VmRSS' /proc/$P/status | tr -s ' \t\n' ' ')"
T1=$(date +%s.%N)
curl -s -X POST -H 'Authorization: Bearer mem-bench-token-123' http://127.0.0.1:2642/api/queue/flush > /dev/null
until [ "$(grep -c '"event":"deferred"' "$MEM_DIR/restart.log")" -ge 100000 ]; do sleep 0.5; done
echo "flush: all 100 000 deferred again in $(echo "$(date +%s.%N) - $T1" | bc) s"
sleep 5
echo "after the flush: $(grep -E 'VmHWM|VmRSS' /proc/$P/status | tr -s ' \t\n' ' ')"
kill -TERM $P; wait $P
