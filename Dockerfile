# The ops-gen image: the binary, the PostgreSQL and Redis client tools that
# backups and drills run (`pg_dump`, `pg_restore`, `psql`, `redis-cli`,
# `redis-check-rdb`), CA certificates, and a non-root user whose UID (65532)
# is the one the Kubernetes manifests run as.
#
#   docker build -t ops-gen .                   # compiles ops-gen in a Rust image
#   cargo build --release --locked \
#     && docker build --target prebuilt -t ops-gen .
#                                               # copies target/release/ops-gen
#
# The profile runs it as `profile.images.ops-gen` (see the README). The
# PostgreSQL client is Debian's (15): `pg_dump` must be at least the server's
# major version, which `ops-gen doctor` checks; for a newer server, build
# FROM an image with a newer client (`--build-arg DEBIAN=trixie-slim` gives
# PostgreSQL 17).
#
# Stages are in this order so that `--target prebuilt` needs no Rust image:
# the classic builder builds every stage before the target.

ARG DEBIAN=bookworm-slim
ARG RUST=1.89-slim-bookworm

FROM debian:${DEBIAN} AS base
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates postgresql-client redis-tools tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 65532 ops-gen \
 && useradd --uid 65532 --gid 65532 --home-dir /data --no-create-home --shell /usr/sbin/nologin ops-gen \
 && mkdir -p /data \
 && chown 65532:65532 /data
LABEL org.opencontainers.image.title="ops-gen" \
      org.opencontainers.image.description="The ops desk for a self-hosted docker compose stack: metrics, backups, drills, the ops API" \
      org.opencontainers.image.source="https://github.com/ops-gen/ops-gen" \
      org.opencontainers.image.licenses="Apache-2.0"
WORKDIR /data
USER 65532:65532
EXPOSE 9743
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 CMD ["/usr/local/bin/ops-gen", "healthcheck"]
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/ops-gen"]
CMD ["serve", "--listen", "0.0.0.0:9743"]

FROM base AS prebuilt
COPY target/release/ops-gen /usr/local/bin/ops-gen

FROM rust:${RUST} AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked && install -m 0755 target/release/ops-gen /ops-gen

FROM base AS runtime
COPY --from=build /ops-gen /usr/local/bin/ops-gen
