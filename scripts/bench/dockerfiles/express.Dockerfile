# The Dockerfile a person would write for tests/apps/express on the same
# base, for scripts/bench/builder: Debian's node and npm, lockfile first.
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates nodejs npm && rm -rf /var/lib/apt/lists/*
ARG BERTH_CA_BUNDLE
COPY ${BERTH_CA_BUNDLE} /etc/ca-bundle.crt
WORKDIR /app
COPY package.json package-lock.json /app/
RUN --mount=type=cache,target=/root/.npm npm_config_cafile=/etc/ca-bundle.crt npm ci --omit=dev
COPY . /app
ENV NODE_ENV=production
EXPOSE 5000
CMD ["node", "server.js"]
