#!/bin/sh
# /usr/local/bin/sluice in the image: the config is /etc/sluice/sluice.toml when one is
# mounted there, else the shipped example; everything the node writes goes to /data.
if [ -z "$SLUICE_CONFIG" ]; then
  if [ -f /etc/sluice/sluice.toml ]; then SLUICE_CONFIG=/etc/sluice/sluice.toml; else SLUICE_CONFIG=/app/config/sluice.toml; fi
  export SLUICE_CONFIG
fi
exec /usr/local/bin/node /app/dist/gateway/cli/main.js "$@"
