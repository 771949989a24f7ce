#!/usr/bin/env bash
# Scans a running node as an outsider would: nmap's smtp-open-relay script and testssl.sh
# (both from Debian: apt-get install nmap testssl.sh) against a relay listener (2525) and a
# submission listener (2587) on loopback. The node's relay.networks holds only
# 127.0.0.50, so the scanner (127.0.0.1) is a stranger. Results go to $OUT (default
# /tmp/sluice-scan); docs/RELIABILITY.md quotes the last run. Run from the project root
# after `npm run build`.
set -euo pipefail
OUT=${OUT:-/tmp/sluice-scan}
rm -rf "$OUT"; mkdir -p "$OUT/data"
hash=$(printf '%s' "scan-$RANDOM$RANDOM" | node dist/gateway/cli/main.js hash-password)
cat > "$OUT/scan.toml" <<TOML
[node]
id = "scan"
data_dir = "$OUT/data"
min_free_disk = "1MB"
[[listen]]
host = "127.0.0.1"
port = 2525
mode = "relay"
tls = "starttls"
[[listen]]
host = "127.0.0.1"
port = 2587
mode = "submission"
tls = "starttls"
[[users]]
name = "app"
password_hash = "$hash"
[relay]
networks = ["127.0.0.50/32"]
[dns.static]
"*" = "127.0.0.51:2526"
TOML
node dist/gateway/cli/main.js start --config "$OUT/scan.toml" > "$OUT/node.log" 2>&1 &
node_pid=$!
trap 'kill $node_pid 2>/dev/null || true' EXIT
up=0
for _ in $(seq 1 100); do
  if (exec 3<>/dev/tcp/127.0.0.1/2587) 2>/dev/null; then up=1; break; fi
  kill -0 $node_pid 2>/dev/null || break
  sleep 0.1
done
[ $up = 1 ] || { echo "the node did not start:"; cat "$OUT/node.log"; exit 1; }
nmap -Pn -sV --version-light -p 2525,2587 --script smtp-open-relay --script-args smtp-open-relay.domain=example.com,smtp-open-relay.ip=127.0.0.1 127.0.0.1 > "$OUT/nmap.txt" 2>&1 || true
for port in 2525 2587; do
  testssl --quiet --color 0 --warnings batch --starttls smtp --severity LOW --jsonfile "$OUT/testssl-$port.json" "127.0.0.1:$port" > "$OUT/testssl-$port.txt" 2>&1 || true
done
echo "nmap:"; grep -E "smtp-open-relay|Server (is|doesn't)|open relay" "$OUT/nmap.txt" || cat "$OUT/nmap.txt"
for port in 2525 2587; do
  echo "testssl $port: findings rated LOW or worse:"
  python3 - "$OUT/testssl-$port.json" <<'PY'
import json, sys
findings = [f for f in json.load(open(sys.argv[1])) if f.get("severity") in ("LOW", "MEDIUM", "HIGH", "CRITICAL")]
for f in findings: print(f"  {f['severity']:8} {f['id']}: {f['finding']}")
print(f"  {len(findings)} finding(s)")
PY
done
