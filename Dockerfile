# syntax=docker/dockerfile:1
# Dolly's container image: `dolly serve`, the CSI driver, with the host tools it runs.
# Build: docker build -t ghcr.io/dolly-csi/dolly:0.1.0 .
# The runtime stage has Node.js 20, the Debian packages of src/host/tools.ts and the built native
# addon, nothing else: no compilers, no npm dev dependencies, no TypeScript or C sources. A unit test
# (test/unit/host-tools.test.ts) checks the stages and the apt-get line against tools.ts.

# ---- build: the native addon and TypeScript, then keep only the production dependencies ----
# This image has gcc, make, python3 and Node's headers: `npm ci` builds the addon (package.json
# "install": scripts/build-native.mjs runs node-gyp on binding.gyp).
FROM node:20.19-bookworm AS build
WORKDIR /src
COPY package.json package-lock.json binding.gyp ./
COPY scripts ./scripts
COPY src/native ./src/native
RUN npm ci
COPY tsconfig.json ./
COPY proto ./proto
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
# The native addon, where src/host/kernel.ts looks for it (from dist/src/host: ../../../build/Release).
COPY --from=build /src/build/Release/dolly_kernel.node ./build/Release/dolly_kernel.node
# The driver needs root (loop devices, mounts); the DaemonSet runs it privileged.
USER root
ENTRYPOINT ["node", "/app/dist/src/cli/main.js"]
CMD ["serve"]
