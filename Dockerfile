# Sluice node image (README "Container"). Build: podman build --format docker -t sluice .
# (the docker format keeps HEALTHCHECK; OCI drops it). Target "loadtest" adds the load test.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
RUN npm ci --no-audit --no-fund
COPY gateway ./gateway
COPY plugins ./plugins
COPY loadtest ./loadtest
RUN npm run build

# Production dependencies only, apart from the compiler's output.
FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts

FROM node:20-bookworm-slim AS base
WORKDIR /app
ENV NODE_ENV=production \
    SLUICE_DATA_DIR=/data
# Ports 25/587 as a non-root user: the file capability CAP_NET_BIND_SERVICE on node (kept
# unless the container drops it: with --cap-drop=all add --cap-add=NET_BIND_SERVICE).
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libcap2-bin >/dev/null \
 && setcap cap_net_bind_service=+ep /usr/local/bin/node \
 && apt-get purge -y -qq libcap2-bin >/dev/null && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 999 sluice && useradd --system --uid 999 --gid sluice --home-dir /data --shell /usr/sbin/nologin sluice \
 && mkdir -p /data /etc/sluice && chown sluice:sluice /data
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist/gateway ./dist/gateway
COPY --from=build /app/dist/plugins ./dist/plugins
COPY package.json ./
COPY config ./config
COPY deploy/sluice-wrapper.sh /usr/local/bin/sluice
USER sluice
EXPOSE 25 587 8925
VOLUME ["/data"]
# Asks the node itself: [admin] /healthz when configured, else /data/sluice.sock.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 CMD ["sluice", "health", "--timeout", "4s"]
# SIGTERM: 421 to new sessions, finish what is in flight within [node] drain_timeout, queued mail stays in /data.
STOPSIGNAL SIGTERM
ENTRYPOINT ["sluice"]
CMD ["start"]

# podman build --target loadtest: the node plus `node dist/loadtest/main.js` (docs/LOADTEST.md).
FROM base AS loadtest
COPY --from=build /app/dist/loadtest ./dist/loadtest
COPY loadtest/profiles ./loadtest/profiles
# The load test's DNS server (loadtest/setup/dns-server.ts) needs dns2, a dev dependency
# of the project (no dependencies of its own); the node itself does not.
COPY --from=build /app/node_modules/dns2 ./node_modules/dns2

# The default target (last): what `start` needs and nothing else.
FROM base AS runtime
