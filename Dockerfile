# Sluice node image. Build: docker build -t sluice .   Run: docker run -p 25:25 -p 587:587 -v sluice-data:/data sluice
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
RUN npm ci --no-audit --no-fund
COPY gateway ./gateway
COPY plugins ./plugins
COPY loadtest ./loadtest
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY config ./config
# Ports 25/587 need CAP_NET_BIND_SERVICE when not root; the image runs as root inside its namespace.
EXPOSE 25 587 8925
VOLUME ["/data"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "dist/gateway/cli/main.js"]
CMD ["start", "--config", "/app/config/sluice.toml"]
