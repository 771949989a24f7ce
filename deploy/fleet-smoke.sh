#!/bin/bash
# Sends mail through the compose fleet's HAProxy (127.0.0.1:2795) and reads /api/status of
# every node: deploy/compose.yaml must be up (podman-compose -f deploy/compose.yaml up -d).
# Every message goes to the fleet's own test mailbox (mx); nothing leaves the private network.
#   deploy/fleet-smoke.sh [COUNT]     exit 0 when COUNT messages were accepted and delivered
set -euo pipefail
COUNT=${1:-12}
PORT=${SLUICE_FLEET_PORT:-2795}
TOKEN=compose-admin-token-change-me
PROJECT=${COMPOSE_PROJECT:-deploy}
ctr() { podman ps --filter "label=io.podman.compose.project=$PROJECT" --filter "label=com.docker.compose.service=$1" --format '{{.Names}}' | head -1; }

# One SMTP session per message, so that HAProxy spreads them over the nodes.
send() {
  node --input-type=module -e '
    import { connect } from "node:net";
    const [port, i] = process.argv.slice(1);
    const s = connect(Number(port), "127.0.0.1");
    const steps = ["EHLO app.example\r\n", "MAIL FROM:<app@example.com>\r\n", `RCPT TO:<user${i}@example.net>\r\n`, "DATA\r\n",
      `From: app@example.com\r\nTo: user${i}@example.net\r\nSubject: fleet smoke ${i}\r\n\r\nmessage ${i}\r\n.\r\n`, "QUIT\r\n"];
    let buf = "", step = 0, last = "";
    s.on("data", (d) => {
      buf += d.toString();
      const lines = buf.split("\r\n"); buf = lines.pop();
      for (const l of lines) { if (/^\d{3} /.test(l)) { last = l; if (l.startsWith("5") || l.startsWith("4")) { console.log(l); process.exit(1); } if (step < steps.length) s.write(steps[step++]); } }
    });
    s.on("close", () => { console.log(last); });
  ' "$PORT" "$1"
}

accepted=0
for i in $(seq 1 "$COUNT"); do
  reply=$(send "$i") || { echo "message $i refused: $reply"; exit 1; }
  case "$reply" in 221*) ;; *) echo "message $i: the session ended with \"$reply\", not 221"; exit 1 ;; esac
  accepted=$((accepted + 1))
done
echo "accepted $accepted/$COUNT through HAProxy on 127.0.0.1:$PORT"

mx=$(ctr mx)
for _ in $(seq 1 60); do
  got=$(podman exec "$mx" sh -c 'ls /data/mail 2>/dev/null | wc -l')
  [ "$got" -ge "$COUNT" ] && break
  sleep 1
done
echo "the mailbox holds $got messages; delivered by:"
podman logs "$mx" 2>/dev/null | grep '"event":"received"' | sed 's/.*"peer":"\([^"]*\)","ehlo":"\([^"]*\)".*/  \2 from \1/' | sort | uniq -c || true

for n in n1 n2 n3; do
  c=$(ctr "$n")
  podman exec "$c" node -e '
    fetch("http://127.0.0.1:8925/api/status", { headers: { authorization: "Bearer " + process.argv[1] } })
      .then((r) => r.json())
      .then((s) => console.log(`${s.node}: version ${s.version}, state ${s.state_backend} healthy=${s.state_healthy}, queued here ${s.queued_here}, live nodes ${s.nodes.filter((x) => x.live).map((x) => x.id).join(",")}`));
  ' "$TOKEN"
done
[ "$got" -ge "$COUNT" ] || { echo "only $got/$COUNT messages reached the mailbox"; exit 1; }
