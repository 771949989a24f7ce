#!/bin/sh
# Entrypoint of a compose node: podman-compose (Debian's 1.0.3) cannot give a container a
# fixed address, so the node's source IP, the mailbox's address and the network's gateway
# are read at start and written into a copy of the config under /data/etc.
set -eu
ip=$(hostname -i | cut -d' ' -f1)
mx=$(getent hosts mx | cut -d' ' -f1)
gw="${ip%.*}.1"
mkdir -p /data/etc
for f in fleet.toml "$NODE.toml"; do
  sed -e "s/@IP@/$ip/g" -e "s/@MX@/$mx/g" -e "s/@GW@/$gw/g" "/etc/sluice/$f" > "/data/etc/$f"
done
exec sluice start --config "/data/etc/$NODE.toml"
