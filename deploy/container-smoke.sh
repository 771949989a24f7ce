#!/bin/bash
# The container image as the README's "Container" section promises it, tried with podman:
#  - the default target holds no dev dependency and no load test; it runs as a non-root user;
#    the loadtest target runs the load test;
#  - the README's run line (the port published, deploy/container/sluice.toml mounted at
#    /etc/sluice) relays the first message: 250, not 550 5.7.1;
#  - port 25 binds as that user; HEALTHCHECK answers with a config that has no [admin];
#  - everything the node writes is in /data, nothing beside the config;
#  - `podman stop` (SIGTERM) drains and exits 0 with the queued message kept in the volume,
#    and a new container on the same volume delivers it.
# Nothing leaves this machine: [dns.static] sends every domain to a port on loopback.
#
#   deploy/container-smoke.sh [IMAGE]      (default: builds localhost/sluice-smoke from .)
# Needs podman (../shared/container/setup.sh on this machine); loopback ports 2760-2762.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${SMOKE_PORT:-2760}          # the published SMTP port (README: -p 25:25)
PORT2=$((PORT + 1))               # the second container's listener (host network)
SINK=$((PORT + 2))                # the test mailbox on loopback
WORK=$(mktemp -d /tmp/sluice-smoke.XXXXXX)
C=sluice-smoke-$$
VOL=sluice-smoke-$$
MX=sluice-smoke-mx-$$
IMAGE=${1:-}
fail() { echo "FAIL: $*"; podman logs --tail 5 "$C" 2>&1 | sed 's/^/  node: /' || true; exit 1; }
cleanup() {
  podman rm -f "$C" "$MX" >/dev/null 2>&1 || true
  podman volume rm -f "$VOL" >/dev/null 2>&1 || true
  [ -n "${BUILT:-}" ] && podman rmi -f "$IMAGE" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
if [ -z "$IMAGE" ]; then
  IMAGE=localhost/sluice-smoke:$$
  BUILT=1
  podman build --format docker --network=host -t "$IMAGE" . >"$WORK/build.log" 2>&1 || fail "podman build: $(tail -5 "$WORK/build.log")"
fi

# What the default target ships.
user=$(podman image inspect "$IMAGE" --format '{{.Config.User}}')
[ "$user" = sluice ] || fail "the image runs as '$user', not sluice"
hc=$(podman image inspect "$IMAGE" --format '{{json .Config.Healthcheck}}')
case "$hc" in *health*) ;; *) fail "no HEALTHCHECK in the image (build with --format docker): $hc" ;; esac
extra=$(podman run --rm --entrypoint node "$IMAGE" 2>"$WORK/err" -e '
  const fs = require("fs");
  const dev = Object.keys(require("/app/package.json").devDependencies ?? {});
  const there = dev.filter((d) => fs.existsSync("/app/node_modules/" + d));
  if (fs.existsSync("/app/dist/loadtest")) there.push("dist/loadtest");
  if (fs.existsSync("/app/test")) there.push("test");
  console.log(there.join(" "));')
[ -z "$extra" ] || fail "the default target ships what start does not need: $extra"
echo "image: user sluice, HEALTHCHECK $(podman image inspect "$IMAGE" --format '{{join .Config.Healthcheck.Test " "}}'), no dev dependencies, no load test"

# The README's mount, as written (a relative host path), gives the node that config.
# (podman's stderr carries its own complaints here: no systemd to run healthcheck timers.)
seen=$(podman run --rm -v ./deploy/container:/etc/sluice:ro "$IMAGE" check-config 2>"$WORK/err") || fail "the README's mount: $seen $(cat "$WORK/err")"
[ "$seen" = "OK: /etc/sluice/sluice.toml" ] || fail "with deploy/container mounted the image checks \"$seen\", not /etc/sluice/sluice.toml"
shipped=$(podman run --rm "$IMAGE" check-config 2>"$WORK/err") || fail "the shipped config does not check: $shipped $(cat "$WORK/err")"
echo "config: $seen when mounted; without a mount $shipped"

# The README's run line, with the shipped container config (plus a dead MX on loopback, so the mail waits).
mkdir -p "$WORK/etc" "$WORK/etc2" "$WORK/mailbox"
cp deploy/container/sluice.toml "$WORK/etc/sluice.toml"
printf '\n[dns.static]\n"*" = "127.0.0.1:9"\n[queue]\nretry = ["1s", "2s"]\n' >>"$WORK/etc/sluice.toml"
chmod -R a+rX "$WORK/etc"
podman run -d --name "$C" -p "127.0.0.1:$PORT:25" -v "$WORK/etc:/etc/sluice:ro" -v "$VOL:/data" "$IMAGE" >/dev/null 2>"$WORK/err" || fail "podman run: $(cat "$WORK/err")"

# One SMTP transaction; prints the reply to each command, one per line.
smtp() { # port rcpt subject
  node --input-type=module -e '
    import { connect } from "node:net";
    const [port, rcpt, subject] = process.argv.slice(1);
    const s = connect(Number(port), "127.0.0.1");
    const steps = ["EHLO app.example\r\n", "MAIL FROM:<app@example.com>\r\n", `RCPT TO:<${rcpt}>\r\n`, "DATA\r\n",
      `From: app@example.com\r\nTo: ${rcpt}\r\nSubject: ${subject}\r\n\r\nqueued across containers\r\n.\r\n`, "QUIT\r\n"];
    let buf = "", step = 0;
    s.on("data", (d) => {
      buf += d.toString();
      const lines = buf.split("\r\n"); buf = lines.pop();
      for (const l of lines) if (/^\d{3} /.test(l)) { console.log(l); if (/^[45]/.test(l)) { s.end(); return; } if (step < steps.length) s.write(steps[step++]); }
    });
    s.on("error", (e) => { console.log("error " + e.message); });
  ' "$@"
}
for _ in $(seq 1 60); do podman logs "$C" 2>&1 | grep -q '"event":"started"' && break; sleep 0.5; done
podman logs "$C" 2>&1 | grep -q '"event":"started"' || fail "the node did not start"
replies=$(smtp "$PORT" user@example.net "smoke $$")
echo "$replies" | grep -q '^250 2.0.0 Ok: queued as' || fail "the README's run line did not relay the first message: $(echo "$replies" | tr '\n' '|')"
peer=$(podman logs "$C" 2>&1 | grep '"event":"queued"' | grep -o '"client":"[^"]*"' | head -1 || true)
echo "relayed on the first try through the published port (the node saw ${peer:-no client address}): $(echo "$replies" | grep '^250 2.0.0')"

uid=$(podman exec "$C" id -u)
[ "$uid" != 0 ] || fail "the node runs as root"
podman exec "$C" cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk '$4 == "0A" {print $2}' | grep -qi ':0019$' || fail "nothing listens on port 25 in the container"
echo "port 25 bound by uid $uid"
podman healthcheck run "$C" >/dev/null || fail "HEALTHCHECK failed with a config that has no [admin]"
echo "healthcheck: healthy ($(podman exec "$C" sluice health))"
writes=$(podman exec "$C" sh -c 'ls /data | tr "\n" " "; ls -d /app/config/data /etc/sluice/data 2>/dev/null || true')
case "$writes" in *spool*state*) ;; *) fail "/data holds: $writes" ;; esac
case "$writes" in */app/config/data*|*/etc/sluice/data*) fail "the node wrote beside its config: $writes" ;; esac
echo "/data holds: $writes"

# SIGTERM: the drain the README describes, the message stays in the volume.
sleep 1
t0=$(date +%s%N)
podman stop -t 40 "$C" >/dev/null
ms=$((($(date +%s%N) - t0) / 1000000))
code=$(podman inspect "$C" --format '{{.State.ExitCode}}')
[ "$code" = 0 ] || fail "the node exited $code after SIGTERM (podman stop), not 0"
podman logs "$C" 2>&1 | grep '"event":"stopped"' | grep -q '"queued":1' || fail "no \"stopped\" line with queued 1: $(podman logs --tail 3 "$C" 2>&1 | tr '\n' ' ')"
echo "podman stop: exit 0 after $ms ms, log: $(podman logs "$C" 2>&1 | grep -o '"msg":"stopped[^"]*"')"
podman rm "$C" >/dev/null

# A new container on the same volume delivers it (host network: the mailbox is on loopback).
podman run -d --name "$MX" --network=host --entrypoint node -v "$WORK/mailbox:/mailbox" --user 0 "$IMAGE" /app/dist/gateway/cli/main.js mailbox --listen "127.0.0.1:$SINK" --dir /mailbox >/dev/null 2>"$WORK/err" || fail "the mailbox: $(cat "$WORK/err")"
cat >"$WORK/etc2/sluice.toml" <<TOML
[node]
id = "gw-1"
[[listen]]
host = "127.0.0.1"
port = $PORT2
mode = "relay"
tls = "none"
[relay]
networks = ["127.0.0.0/8"]
[dns.static]
"*" = "127.0.0.1:$SINK"
TOML
chmod -R a+rX "$WORK/etc2"
podman run -d --name "$C" --network=host -v "$WORK/etc2:/etc/sluice:ro" -v "$VOL:/data" "$IMAGE" >/dev/null 2>"$WORK/err" || fail "podman run (second container): $(cat "$WORK/err")"
for _ in $(seq 1 60); do [ -n "$(ls "$WORK/mailbox" 2>/dev/null)" ] && break; sleep 0.5; done
got=$(ls "$WORK/mailbox" | wc -l)
[ "$got" = 1 ] || fail "the mailbox holds $got messages, not the one queued by the first container"
grep -q "^Subject: smoke $$" "$WORK/mailbox"/* || fail "the delivered message is not the one queued"
echo "a new container on the same volume delivered the queued message: $(podman logs "$MX" 2>&1 | tail -1)"
# The second target: the node plus the load test, which runs in it (docs/LOADTEST.md).
if [ -n "${BUILT:-}" ]; then
  podman build --format docker --network=host --target loadtest -t "$IMAGE-loadtest" . >"$WORK/build-lt.log" 2>&1 || fail "podman build --target loadtest: $(tail -5 "$WORK/build-lt.log")"
  lt=$(podman run --rm --entrypoint node "$IMAGE-loadtest" /app/dist/loadtest/main.js --messages 200 --connections 4 2>"$WORK/err") || { podman rmi -f "$IMAGE-loadtest" >/dev/null 2>&1; fail "the load test in the loadtest target: $(echo "$lt" | tail -3) $(tail -3 "$WORK/err")"; }
  podman rmi -f "$IMAGE-loadtest" >/dev/null 2>&1 || true
  echo "--target loadtest: $(echo "$lt" | grep -m1 -E '^ *sink +[0-9]+' | tr -s ' ')"
fi
echo "container smoke ok"
