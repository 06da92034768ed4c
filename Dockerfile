# syntax=docker/dockerfile:1
# tenantguard image: compiled JavaScript, production dependencies and the embedded default state on
# a distroless Node.js 22 runtime (no shell, no package manager), running as a non-root user.

FROM node:22-bookworm AS build
WORKDIR /app
# --ignore-scripts: nothing tenantguard ships needs an install script, and it skips the dev-only
# `node` package (the toolchain of development machines whose system Node is older).
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY server ./server
COPY policies ./policies
COPY certs ./certs
RUN ./node_modules/.bin/tsc -p tsconfig.build.json \
 && npm prune --omit=dev --ignore-scripts

FROM gcr.io/distroless/nodejs22-debian12:nonroot
# Set by `make image` from package.json (the one source of the version, as `tenantguard --version`,
# tenantguard_build_info and the traces' service.version); REVISION is the git commit built.
ARG VERSION=unset
ARG REVISION=unknown
LABEL org.opencontainers.image.title="tenantguard" \
      org.opencontainers.image.description="Kubernetes admission webhook for multi-tenant clusters running Pods and KubeVirt VMs" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0"
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/server/embedded-state ./server/embedded-state
USER 65532:65532
EXPOSE 8443 9090
# The distroless image's Node.js lives at /nodejs/bin/node (not on PATH).
ENTRYPOINT ["/nodejs/bin/node", "dist/server/commands/cli.js", "serve"]
