# syntax=docker/dockerfile:1
# Dolly's container image: `dolly serve`, the CSI driver, with the host tools it runs.
# Build: docker build -t ghcr.io/dolly-csi/dolly:0.1.0 .
# The runtime stage has Node.js 20 and the Debian packages of src/host/tools.ts, nothing else:
# no compilers, no npm dev dependencies, no TypeScript sources. A unit test
# (test/unit/dockerfile.test.ts) checks the stages and the apt-get line against tools.ts.

# ---- build: compile TypeScript, then keep only the production dependencies ----
FROM node:20.19-bookworm AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY tsconfig.json ./
COPY proto ./proto
COPY scripts ./scripts
COPY src ./src
COPY test ./test
COPY bench ./bench
COPY reliability ./reliability
RUN npm run build && npm prune --omit=dev --ignore-scripts

# ---- runtime: slim Debian, Node.js 20, the host tools ----
FROM node:20.19-bookworm-slim AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends btrfs-progs e2fsprogs mount util-linux xfsprogs \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/proto ./proto
COPY --from=build /src/dist/src ./dist/src
# The driver needs root (loop devices, mounts); the DaemonSet runs it privileged.
USER root
ENTRYPOINT ["node", "/app/dist/src/cli/main.js"]
CMD ["serve"]
