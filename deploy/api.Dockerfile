# syntax=docker/dockerfile:1.7
# The api image: HTTP only (ARCHITECTURE.md "Processes"). It also runs the migrations: `node packages/db/dist/migrate-main.js` (the
# Kubernetes Job and the compose `migrate` service use this image with that command).
# Build from the repository root: docker build -f deploy/api.Dockerfile -t mule-api .
# The commands below are run the same way, without Docker, by test/deploy.test.ts: keep one command per RUN line
# and one `COPY --from=build /app/<path> <path>` line per built folder, the test reads them from this file.

# Node 22 LTS (pg-boss 12 needs >= 22.12). A tag, not a digest: rebuild to pick up Debian and Node patches.
ARG NODE_IMAGE=node:22.23-bookworm-slim

# 1. Only the workspaces the api needs: package.json files and the lockfile (json/) apart from sources (full/),
#    so the dependency layers below are rebuilt only when a package.json or the lockfile changes.
FROM ${NODE_IMAGE} AS prune
WORKDIR /src
ENV TURBO_TELEMETRY_DISABLED=1
COPY package.json ./
RUN npm install --global --ignore-scripts --no-audit --no-fund "turbo@$(node -p "require('./package.json').devDependencies.turbo")"
COPY . .
RUN turbo prune @mule/api --docker --out-dir /out

# 2. Everything (dev dependencies included) to compile TypeScript and generate the Prisma client
#    (packages/db/src/generated -> packages/db/dist/generated) from the schema in prisma/. --ignore-scripts: the root `prepare` would build before the
#    sources are copied, and no dependency needs an install script (the root package.json's allowScripts already
#    refuses all but the embedded PostgreSQL packages', which the images leave out).
FROM ${NODE_IMAGE} AS build
WORKDIR /app
ENV TURBO_TELEMETRY_DISABLED=1
COPY --from=prune /out/json/ ./
RUN --mount=type=cache,target=/root/.npm npm ci --ignore-scripts --no-audit --no-fund
COPY --from=prune /out/full/ ./
# The Prisma schema and SQL migrations: not a workspace, so not in the pruned tree.
COPY prisma/ prisma/
COPY tsconfig.base.json ./
RUN npm run build

# 3. Production dependencies only, from the pruned lockfile. --omit=optional drops what only the Prisma CLI
#    (an optional peer of @prisma/client: ~150 MB with its Studio) and the embedded PostgreSQL binaries of
#    `npm start` (~60 MB) bring; neither runs in a container.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY --from=prune /out/json/ ./
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund

# 4. The image: node_modules + compiled code + SQL migrations, owned by root and run as the unprivileged `node`
#    user (uid 1000), so the process cannot rewrite its own code.
FROM ${NODE_IMAGE} AS runtime
WORKDIR /app
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080
COPY --from=deps /app ./
COPY --from=build /app/packages/core/dist packages/core/dist
COPY --from=build /app/packages/observability/dist packages/observability/dist
COPY --from=build /app/packages/wasm-runner/dist packages/wasm-runner/dist
COPY --from=build /app/packages/agents/dist packages/agents/dist
COPY --from=build /app/packages/db/dist packages/db/dist
# The SQL migrations: `migrate-main.js` applies them and /readyz checks the database has every one of them.
COPY --from=build /app/prisma/migrations prisma/migrations
COPY --from=build /app/apps/api/dist apps/api/dist
# The dashboard the api serves at /ui (static files; apps/ui is a dev dependency of the api, so the prune keeps it).
COPY --from=build /app/apps/ui/dist apps/ui/dist
USER node
EXPOSE 8080
# No curl in slim images: Node's own fetch. /healthz is "process up"; readiness (/readyz) is the orchestrator's.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
STOPSIGNAL SIGTERM
# Exec form: Node is PID 1 and gets SIGTERM itself (no shell, no npm wrapper); it handles SIGTERM/SIGINT.
CMD ["node", "apps/api/dist/main.js"]
