# syntax=docker/dockerfile:1
#
# One image for the whole platform. It carries all four binaries; compose.yaml and
# the Kubernetes manifests pick the one to run through the container command:
#
#   certctl-api-server | certctl-notifier-worker | certctl-revocation-responder | certctl-migrate up
#
# It also carries the built web console (web/, a Vite app), which certctl-api-server serves at /
# from CERTCTL_WEB_DIR.
#
# Build:  docker build -t certctl:latest .

############################
# Builder
############################
FROM rust:1.95-bookworm AS builder

WORKDIR /src

# rust-toolchain.toml pins the exact compiler. Install it (a no-op when the base image
# already ships that version) in its own layer so source edits do not repeat it.
COPY rust-toolchain.toml ./
RUN rustup toolchain install && rustc --version

COPY . .

# The cache mounts keep the crate registry and target/ between builds, which does the
# job of a separate "dependencies only" stage without dummy sources per crate.
# Because target/ is a cache mount (not part of the layer), the binaries are copied
# out to /out inside the same RUN.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked --bins \
 && mkdir -p /out \
 && for bin in certctl-api-server certctl-notifier-worker certctl-revocation-responder certctl-migrate; do \
        cp "target/release/${bin}" /out/; \
    done

############################
# Web console
############################
FROM node:20-bookworm-slim AS web

WORKDIR /src/web

# Dependencies first, in their own layer, so source edits do not repeat the install.
COPY web/package.json web/package-lock.json ./
RUN --mount=type=cache,target=/root/.npm,sharing=locked \
    npm ci

# A node_modules/ or dist/ left in web/ on the build host must not overwrite the ones made here.
COPY --exclude=node_modules --exclude=dist web/ ./
# The build generates its API types from ../docs/openapi.json.
COPY docs/openapi.json /src/docs/openapi.json
RUN npm run build

############################
# Runtime
############################
# Same Debian release as the builder, so the glibc the binaries link against matches.
FROM debian:bookworm-slim AS runtime

# ca-certificates: the worker calls out to HTTPS webhooks / SMTP over TLS, and the
# daemons may talk TLS to Postgres, RabbitMQ and the OTLP collector.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*

# Fixed numeric uid/gid so Kubernetes `runAsNonRoot` can verify it without a passwd lookup.
RUN groupadd --system --gid 10001 certctl \
 && useradd --system --uid 10001 --gid certctl --home-dir /nonexistent --no-create-home \
            --shell /usr/sbin/nologin certctl

COPY --from=builder /out/certctl-api-server           /usr/local/bin/certctl-api-server
COPY --from=builder /out/certctl-notifier-worker      /usr/local/bin/certctl-notifier-worker
COPY --from=builder /out/certctl-revocation-responder /usr/local/bin/certctl-revocation-responder
COPY --from=builder /out/certctl-migrate              /usr/local/bin/certctl-migrate

# Static files only (no Node.js in the runtime image). Only the api-server reads CERTCTL_WEB_DIR.
COPY --from=web /src/web/dist /usr/share/certctl/web
ENV CERTCTL_WEB_DIR=/usr/share/certctl/web

USER 10001:10001

# api 8080, responder 8081, admin (healthz/readyz/metrics) 9090-9092. Documentation only.
EXPOSE 8080 8081 9090 9091 9092

# No ENTRYPOINT: the service definition chooses the binary. Default to the API server.
CMD ["certctl-api-server"]
