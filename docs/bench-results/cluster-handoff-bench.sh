#!/bin/bash
# What the handoff costs (issue 14 item 2): three nodes on one Redis, one source IP each,
# every message sent to n1 alone (its plain relay port, no balancer), replicas = 1.
# POOL="a" keeps all mail on n1's own source (no handoff); POOL="a,b,c" spreads it over the
# three IPs by fleet-wide weights, so about two thirds is handed to n2 and n3.
# PORT=2640 sends through HAProxy (round robin over the three nodes) instead of to n1 alone.
# Prints accepted/s, the seconds until the sink had all of it, and CPU per message.
# Uses ports 2640-2669, 5393 (DNS), 6392 (Redis) on loopback.
. "/work/shared/checks/lib/common.sh"
command -v haproxy >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q haproxy) >"$WORK/apt-haproxy.log" 2>&1 || fail "could not install haproxy"
ensure_build
# PROFILE=1: each node writes a V8 CPU profile into $PROFILE_DIR (default /tmp/handoff-prof) when it stops.
if [ -n "${PROFILE:-}" ]; then
  mkdir -p "${PROFILE_DIR:-/tmp/handoff-prof}"
  start_sluice() { node --cpu-prof --cpu-prof-dir="${PROFILE_DIR:-/tmp/handoff-prof}" dist/gateway/cli/main.js start --config "$1" >"$WORK/${2:-sluice}.out" 2>&1 & SLUICE_PID=$!; PIDS+=("$SLUICE_PID"); }
fi
start_dns 5393
redis-server --port 6392 --bind 127.0.0.1 --save "" --appendonly no --daemonize no >"$WORK/redis.out" 2>&1 &
PIDS+=("$!"); wait_port 127.0.0.1 6392 10 || fail "redis did not start"

node_conf() { # n
  cat <<TOML
[node]
id = "n$1"
data_dir = "$WORK/n$1"
[cluster]
redis_url = "redis://127.0.0.1:6392/0"
heartbeat = "1s"
failover_after = "5s"
secret = "check-cluster-secret-0123456789abcdef"
replicas = 1
[[listen]]
host = "127.0.0.1"
port = 264$1
mode = "relay"
proxy = true
[[listen]]
host = "127.0.0.1"
port = 265$1
mode = "relay"
[[listen]]
host = "127.0.0.1"
port = 266$1
mode = "cluster"
[admin]
listen = "127.0.0.1:267$1"
token = "check-token-0123456789"
[relay]
networks = ["127.0.0.1/32"]
[dns]
servers = ["127.0.0.1:5393"]
[delivery]
port = 2639
[queue]
retry = ["1s", "2s", "5s"]
[classify]
default = "transactional"
[[classify.rules]]
header = { "X-Class" = "promo" }
class = "promotional"
[sources.a]
ip = "127.0.0.2"
ehlo = "a.checks.test"
node = "n1"
[sources.b]
ip = "127.0.0.3"
ehlo = "b.checks.test"
node = "n2"
[sources.c]
ip = "127.0.0.4"
ehlo = "c.checks.test"
node = "n3"
[pools.transactional]
sources = [$(echo "${POOL:-a,b,c}" | sed 's/[a-z]/"&"/g; s/,/, /g')]
[pools.promotional]
sources = ["c"]
[providers.bigmail]
mx_suffixes = [".mx.bigmail.test"]
max_connections = 3
max_message_rate = "80/s"
TOML
}
for n in 1 2 3; do node_conf $n > "$WORK/n$n.toml"; done
cat > "$WORK/haproxy.cfg" <<CFG
global
  maxconn 4000
defaults
  mode tcp
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  retries 2
  option redispatch
frontend smtp
  bind 127.0.0.1:2640
  default_backend nodes
backend nodes
  balance roundrobin
  server n1 127.0.0.1:2641 check inter 500 fall 2 rise 2 send-proxy
  server n2 127.0.0.1:2642 check inter 500 fall 2 rise 2 send-proxy
  server n3 127.0.0.1:2643 check inter 500 fall 2 rise 2 send-proxy
CFG
start_sink 127.0.0.20 2639 sink
declare -A NODE_PID
start_node() { start_sluice "$WORK/n$1.toml" "n$1-$2"; NODE_PID[$1]=$SLUICE_PID; }
for n in 1 2 3; do start_node $n 1; done
for n in 1 2 3; do wait_port 127.0.0.1 264$n 30 || fail "node n$n did not listen: $(tail -3 "$WORK/n$n-1.out")"; done
haproxy -f "$WORK/haproxy.cfg" -db >"$WORK/haproxy.out" 2>&1 &
PIDS+=("$!"); wait_port 127.0.0.1 2640 10 || fail "haproxy did not start: $(tail -3 "$WORK/haproxy.out")"
sleep 2   # heartbeats: every node sees the other two


cpu() { local t=0; for n in 1 2 3; do t=$((t + $(awk '{print $14+$15}' /proc/${NODE_PID[$n]}/stat))); done; echo $t; }
C0=$(cpu); T0=$(date +%s.%N)
if [ -n "${PACE_MS:-}" ]; then
  # PACE_MS=50: one connection, one message every 50 ms (well under the sink's 80/s per IP),
  # so that the time to delivery below is the path's, not a queue's.
  $PY - "${PORT:-2651}" "${COUNT:-3000}" "$PACE_MS" >"$WORK/run.json" <<'PY'
import json, smtplib, sys, time, uuid
port, count, pace = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]) / 1000
s = smtplib.SMTP('127.0.0.1', port); s.ehlo('bench.test')
t0 = time.time(); n = 0
for i in range(count):
    mid = f'<h{i}.{uuid.uuid4().hex[:12]}@bench.test>'
    msg = f'From: app@example.com\r\nTo: h{i}@d{i % 50}.sim.test\r\nSubject: paced {i}\r\nMessage-ID: {mid}\r\n\r\n' + ('x' * 76 + '\r\n') * 26
    s.sendmail('app@example.com', [f'h{i}@d{i % 50}.sim.test'], msg); n += 1
    time.sleep(pace)
s.quit()
print(json.dumps({'accepted': n, 'seconds': round(time.time() - t0, 3), 'pace_ms': pace * 1000}))
PY
else
  $PY "$LIB/client.py" --port ${PORT:-2651} --count ${COUNT:-3000} --conns ${CONNS:-8} --domains 50 --rcpt-prefix h >"$WORK/run.json"
fi
C1=$(cpu)
wait_sink sink ${COUNT:-3000} 300 || true
T1=$(date +%s.%N); C2=$(cpu)
TICK=$(getconf CLK_TCK)
echo "pool=[${POOL:-a,b,c}] count=${COUNT:-3000} conns=${CONNS:-8} client: $(cut -c1-120 "$WORK/run.json")"
echo "delivered=$(sink_count sink) seconds_to_all_delivered=$(echo "$T1 - $T0" | bc) cpu_ms_per_msg_3_nodes=$(echo "scale=2; ($C2-$C0)*1000/$TICK/${COUNT:-3000}" | bc)"
for n in 1 2 3; do echo "n$n handoff_received=$(grep -c '"event":"handoff_received"' "$WORK/n$n-1.out")"; done
echo "per source IP at the sink: $($PY -c "import json,collections; print(dict(collections.Counter(json.loads(l)['ip'] for l in open('$WORK/sink.log'))))")"
echo "time from n1's log line 'queued' to the sink, per source IP: $($PY - "$WORK" <<'PY'
import json, sys
from datetime import datetime
d = sys.argv[1]; q = {}; out = {}
for l in open(d + '/n1-1.out'):
    try: x = json.loads(l)
    except ValueError: continue
    if x.get('event') == 'queued' and x.get('message_id'): q[x['message_id']] = datetime.fromisoformat(x['time'].replace('Z', '+00:00')).timestamp()
for l in open(d + '/sink.log'):
    r = json.loads(l)
    if r['mid'] in q: out.setdefault(r['ip'], []).append((r['t'] - q[r['mid']]) * 1e3)
# 'first_ms': the first message to that IP (a handoff's first one opens the TLS connection to the peer).
print({ip: {'n': len(v), 'p50_ms': round(sorted(v)[len(v) // 2], 1), 'p90_ms': round(sorted(v)[int(len(v) * 0.9)], 1), 'p99_ms': round(sorted(v)[min(len(v) - 1, int(len(v) * 0.99))], 1), 'first_ms': round(v[0], 1)} for ip, v in sorted(out.items())})
PY
)"
echo "n1 accept latency (cumulative count per bucket): $(curl -s -H "authorization: Bearer check-token-0123456789" http://127.0.0.1:2671/metrics | grep '^sluice_accept_latency_seconds_bucket' | sed -E 's/.*le="([^"]+)".* ([0-9]+)$/\1:\2/' | tr '\n' ' ')"
# Stop the nodes gently (SIGTERM, then wait), so that PROFILE=1 runs write their CPU profiles.
for n in 1 2 3; do kill -TERM ${NODE_PID[$n]} 2>/dev/null; done
for n in 1 2 3; do for i in $(seq 1 100); do kill -0 ${NODE_PID[$n]} 2>/dev/null || break; sleep 0.1; done; done
