#!/bin/bash
# Sends mail through the compose fleet's HAProxy (127.0.0.1:2795, PROXY protocol to the
# nodes) and reads /api/status of every node: deploy/compose.yaml must be up
# (podman-compose -f deploy/compose.yaml up -d). Every message goes to the fleet's own test
# mailbox (mx); nothing leaves the private network.
#   deploy/fleet-smoke.sh [COUNT]
# Exit 0 when the COUNT messages of this run were accepted, all reached the mailbox, each
# node delivered some from its own source address, and every node's /api/status shows
# the three nodes live on healthy shared state.
set -euo pipefail
COUNT=${1:-12}
PORT=${SLUICE_FLEET_PORT:-2795}
TOKEN=compose-admin-token-change-me
PROJECT=${COMPOSE_PROJECT:-deploy}
SINCE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
RUN=$(date +%s)-$$                 # this run's messages, told apart from earlier runs' in the mailbox volume
ctr() { podman ps --filter "label=io.podman.compose.project=$PROJECT" --filter "label=com.docker.compose.service=$1" --format '{{.Names}}' | head -1; }
fail() { echo "FAIL: $*"; exit 1; }
for s in mx n1 n2 n3 haproxy redis; do [ -n "$(ctr "$s")" ] || fail "no running container for service $s (podman-compose -f deploy/compose.yaml up -d; COMPOSE_PROJECT=$PROJECT)"; done

# HAProxy marks a node up after its /readyz answered twice (2 s apart): wait for all three.
up=""
for _ in $(seq 1 60); do
  up=$(podman exec "$(ctr n1)" node -e '
    fetch("http://haproxy:8404/stats;csv").then((r) => r.text()).then((t) => console.log(t.split("\n").filter((l) => /^sluice,n\d,/.test(l) && l.split(",")[17] === "UP").map((l) => l.split(",")[1]).join(",")), () => console.log(""));' 2>/dev/null || true)
  [ "$up" = n1,n2,n3 ] && break
  sleep 1
done
[ "$up" = n1,n2,n3 ] || fail "HAProxy sends to \"$up\" only, not n1,n2,n3 (podman logs $(ctr haproxy))"
echo "HAProxy: n1, n2, n3 up"

# One SMTP session per message, so that HAProxy spreads them over the nodes.
send() {
  node --input-type=module -e '
    import { connect } from "node:net";
    const [port, i, run] = process.argv.slice(1);
    const s = connect(Number(port), "127.0.0.1");
    const steps = ["EHLO app.example\r\n", "MAIL FROM:<app@example.com>\r\n", `RCPT TO:<user${i}@example.net>\r\n`, "DATA\r\n",
      `From: app@example.com\r\nTo: user${i}@example.net\r\nSubject: fleet smoke ${run} ${i}\r\n\r\nmessage ${i}\r\n.\r\n`, "QUIT\r\n"];
    let buf = "", step = 0, last = "";
    s.on("data", (d) => {
      buf += d.toString();
      const lines = buf.split("\r\n"); buf = lines.pop();
      for (const l of lines) { if (/^\d{3} /.test(l)) { last = l; if (l.startsWith("5") || l.startsWith("4")) { console.log(l); process.exit(1); } if (step < steps.length) s.write(steps[step++]); } }
    });
    s.on("error", (e) => { console.log(`error ${e.message}`); process.exit(1); });
    s.on("close", () => { console.log(last); });
  ' "$PORT" "$1" "$RUN"
}

accepted=0
for i in $(seq 1 "$COUNT"); do
  reply=$(send "$i") || fail "message $i refused: $reply"
  case "$reply" in 221*) ;; *) fail "message $i: the session ended with \"$reply\", not 221" ;; esac
  accepted=$((accepted + 1))
done
echo "accepted $accepted/$COUNT through HAProxy on 127.0.0.1:$PORT"

# Who the nodes saw: the PROXY header's address (the host, through the published port), not HAProxy's.
for n in n1 n2 n3; do
  podman logs --since "$SINCE" "$(ctr "$n")" 2>&1 | grep '"event":"queued"' | grep -o '"client":"[^"]*"' | sort | uniq -c | sed "s/^/  $n queued from /" || true
done

mx=$(ctr mx)
got=0
for _ in $(seq 1 60); do
  got=$(podman exec "$mx" sh -c "grep -l 'Subject: fleet smoke $RUN ' /data/mail/*.eml 2>/dev/null | wc -l")
  [ "$got" -ge "$COUNT" ] && break
  sleep 1
done
echo "the mailbox holds $got/$COUNT messages of this run; delivered by (EHLO name from source address):"
podman logs "$mx" 2>/dev/null | grep '"event":"received"' | tail -n "$got" | sed 's/.*"peer":"\([^"]*\)","ehlo":"\([^"]*\)".*/\2 from \1/' | sort | uniq -c | sed 's/^/  /'
[ "$got" -ge "$COUNT" ] || fail "only $got/$COUNT messages of this run reached the mailbox"
senders=$(podman logs "$mx" 2>/dev/null | grep '"event":"received"' | tail -n "$got" | grep -o '"ehlo":"n[123]\.' | sort -u | wc -l)
[ "$senders" = 3 ] || fail "only $senders of the 3 nodes delivered mail of this run"

for n in n1 n2 n3; do
  line=$(podman exec "$(ctr "$n")" node -e '
    fetch("http://127.0.0.1:8925/api/status", { headers: { authorization: "Bearer " + process.argv[1] } })
      .then((r) => r.json())
      .then((s) => {
        const live = s.nodes.filter((x) => x.live).map((x) => x.id).sort().join(",");
        console.log(`${s.node}: version ${s.version}, state ${s.state_backend} healthy=${s.state_healthy}, queued here ${s.queued_here}, live nodes ${live}, config ${s.config.source}`);
        process.exit(s.state_backend === "redis" && s.state_healthy === true && live === "n1,n2,n3" ? 0 : 1);
      }, (e) => { console.log(`no /api/status: ${e.message}`); process.exit(1); });
  ' "$TOKEN") || fail "$n's /api/status: $line"
  echo "  $line"
done
echo "fleet smoke ok"
