#!/bin/bash
# Memory with 100 000 queued, part 1: accept 100 000 messages of 5 KB (20 connections,
# 50 domains) into a node that cannot deliver any, print VmRSS/VmHWM (kB) 5 s after the
# last, stop the node and keep its data dir as $MEM_DIR/snap for restart.sh.
# Usage: docs/bench-results/memory-queued/accept.sh [BUILD_DIR]   (a tree with dist/ built)
# NODEFLAGS: extra options for node. Ports 2631 and 2642 on loopback.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
B=$(cd "${1:-$HERE/../../..}" && pwd)
MEM_DIR=${MEM_DIR:-/tmp/mem}
SHARED=${SHARED:-/work/shared}
mkdir -p "$MEM_DIR"; sed "s|@MEM_DIR@|$MEM_DIR|" "$HERE/mem.toml" > "$MEM_DIR/mem.toml"
pkill -f "$MEM_DIR/mem.toml"; sleep 1
rm -rf "$MEM_DIR/data" "$MEM_DIR/snap"
cd "$B"
SLUICE_LOG_LEVEL=warn node ${NODEFLAGS:-} dist/gateway/cli/main.js start --config "$MEM_DIR/mem.toml" > "$MEM_DIR/accept.log" 2>&1 &
P=$!
for i in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/2631) 2>/dev/null && break; sleep 0.2; done
echo "idle: $(grep VmRSS /proc/$P/status | tr -s ' \t' ' ')"
node "$SHARED/bench/smtp-load.mjs" --port 2631 --n 100000 --c 20 --size 5000 --domains 50 | tail -1
sleep 5
echo "after accepting: $(grep -E 'VmHWM|VmRSS' /proc/$P/status | tr -s ' \t\n' ' ')"
kill -TERM $P; wait $P
cp -a "$MEM_DIR/data" "$MEM_DIR/snap"
