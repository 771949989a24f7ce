#!/bin/bash
# Issue "cluster": three nodes on one Redis behind HAProxy (PROXY protocol), each holding one
# source IP. Checks that (1) a message leaves from an IP of its pool whichever node took it
# (handoff over the cluster listener), (2) a pool's weights hold across the fleet even when
# one node takes all the traffic, (3) with `[cluster] replicas = ${REPLICAS:-2}`, killing a node (kill -9)
# under load loses nothing: its accepted mail is delivered by the others without restarting
# it, and restarting it later duplicates at most 1 % of the mail.
# Uses ports 2640-2669, 5393 (DNS), 6392 (Redis) on loopback.
. "/work/shared/checks/lib/common.sh"
command -v haproxy >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q haproxy) >"$WORK/apt-haproxy.log" 2>&1 || fail "could not install haproxy"
ensure_build
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
replicas = ${REPLICAS:-2}
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
sources = ["a", "b", "c"]
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
lat() { for n in 1 2 3; do curl -s -H "authorization: Bearer check-token-0123456789" http://127.0.0.1:267$n/metrics | grep '^sluice_accept_latency_seconds_bucket'; done; }
for run in peak half; do
  CONNS=12; [ $run = half ] && CONNS=${HALF_CONNS:-3}
  C0=$(cpu)
  $PY "$LIB/client.py" --port 2640 --count ${COUNT:-3000} --conns $CONNS --domains 50 --rcpt-prefix $run >"$WORK/$run.json"
  C1=$(cpu)
  wait_sink sink $(( ${COUNT:-3000} * ( $run = half ? 2 : 1 ) )) 300 || true
  C2=$(cpu)
  lat > "$WORK/$run.lat"
  echo "$run replicas=${REPLICAS:-2} conns=$CONNS $(cat "$WORK/$run.json" | cut -c1-80) cpu_ticks_accept=$((C1-C0)) cpu_ticks_total=$((C2-C0)) delivered=$(sink_count sink)"
  $PY - "$WORK/$run.lat" <<'PY'
import sys,re,collections
b=collections.Counter()
import os
prev=sys.argv[1].replace('half.lat','peak.lat')
if prev!=sys.argv[1]:
    for l in open(prev):
        m=re.search(r'le="([^"]+)"[^}]*\} (\d+)',l)
        if m: b[m.group(1)]-=int(m.group(2))
for l in open(sys.argv[1]):
    m=re.search(r'le="([^"]+)"[^}]*\} (\d+)',l)
    if m: b[m.group(1)]+=int(m.group(2))
tot=b['+Inf']
print('accept latency, cumulative share by bucket (3 nodes, this run):', {k: round(v/tot,4) for k,v in b.items()}, 'n', tot)
PY
done

# Paced at half the peak rate (PACED_RATE overrides it), through HAProxy over 4 connections
# on a fixed schedule: the client times each DATA command (DATA, 354, the message, the dot,
# the 250), an upper bound on the node's end of DATA to 250. The issue's latency target is
# read here, and from the nodes' histogram (its 0.02 bucket is the target).
PEAK_RATE=$($PY -c "import json,sys; print(json.load(open(sys.argv[1]))['rate'])" "$WORK/peak.json")
RATE=${PACED_RATE:-$($PY -c "import sys; print(round(float(sys.argv[1]) / 2, 1))" "$PEAK_RATE")}
lat > "$WORK/before-paced.lat"
C0=$(cpu)
$PY - 2640 "${COUNT:-3000}" "$RATE" 4 >"$WORK/paced.json" <<'PY'
import json, smtplib, sys, threading, time, uuid
port, count, rate, conns = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
lat, errors, lock = [], [], threading.Lock()
body = ('x' * 76 + '\r\n') * 26
start = time.time() + 0.5
def worker(k):
    try:
        s = smtplib.SMTP('127.0.0.1', port, timeout=60); s.ehlo('bench.test')
        for i in range(k, count, conns):
            wait = start + i / rate - time.time()
            if wait > 0: time.sleep(wait)
            to = f'paced{i}@d{i % 50}.sim.test'
            msg = f'From: app@example.com\r\nTo: {to}\r\nSubject: paced {i}\r\nMessage-ID: <p{i}.{uuid.uuid4().hex[:12]}@bench.test>\r\n\r\n' + body
            s.mail('app@example.com'); s.rcpt(to)
            t = time.perf_counter(); code, _ = s.data(msg); ms = (time.perf_counter() - t) * 1000
            with lock: lat.append(ms)
        s.quit()
    except Exception as e:
        with lock: errors.append(repr(e)[:200])
threads = [threading.Thread(target=worker, args=(k,)) for k in range(conns)]
for t in threads: t.start()
for t in threads: t.join()
lat.sort()
q = lambda p: round(lat[min(len(lat) - 1, int(p * len(lat)))], 2) if lat else None
print(json.dumps({'accepted': len(lat), 'errors': errors[:3], 'rate_asked': rate, 'rate': round(len(lat) / (time.time() - start), 1), 'data_to_250_ms': {'p50': q(0.5), 'p99': q(0.99), 'max': q(1.0)}}))
PY
C1=$(cpu)
wait_sink sink $(( ${COUNT:-3000} * 3 )) 300 || true
lat > "$WORK/paced.lat"
echo "paced replicas=${REPLICAS:-2} at half of peak $PEAK_RATE msg/s: $(cat "$WORK/paced.json") cpu_ticks_accept=$((C1-C0)) delivered=$(sink_count sink)"
$PY - "$WORK/before-paced.lat" "$WORK/paced.lat" <<'PY'
import sys, re, collections
b = collections.Counter()
for sign, path in ((-1, sys.argv[1]), (1, sys.argv[2])):
    for l in open(path):
        m = re.search(r'le="([^"]+)"[^}]*\} (\d+)', l)
        if m: b[m.group(1)] += sign * int(m.group(2))
tot = b['+Inf']
print('paced: nodes\' accept latency, cumulative share by bucket:', {k: round(v / tot, 4) for k, v in b.items()}, 'n', tot)
PY
# Messages the nodes passed to each other for the weights (traffic enters them evenly here: few should move).
echo "handed off between nodes: $(cat "$WORK"/n*-*.out | grep -c '"event":"handoff_sent"') of $(( ${COUNT:-3000} * 3 )) messages"
