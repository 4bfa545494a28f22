#!/usr/bin/env bash
# Real services for ops-gen's tests and benchmarks, on loopback, private to
# this checkout's user: PostgreSQL 15, Redis, an S3 server (s3s-fs) and a
# Docker engine on its own socket with locally built images (scripts/docker.sh:
# docker-compose 1.29, ops-gen-test/prometheus:2.42, ops-gen-test/node-exporter:1,
# ops-gen-test/busybox:1), and the tools tests run (promtool, chromium, nginx).
# Installs missing Debian packages when run as root.
#
#   scripts/services.sh up     install what is missing, start, wait until ready
#   scripts/services.sh down   stop and delete the data
#   scripts/services.sh env    print the variables tests read (eval "$(… env)")
#
# Ports and the folders can be moved with OPS_GEN_PG_PORT, OPS_GEN_REDIS_PORT,
# OPS_GEN_S3_PORT, OPS_GEN_SERVICES_DIR and OPS_GEN_DOCKER_DIR. OPS_GEN_DOCKER=0
# leaves Docker out (it needs root); `env` then prints no DOCKER_HOST.
set -euo pipefail

PG_PORT=${OPS_GEN_PG_PORT:-55432}
REDIS_PORT=${OPS_GEN_REDIS_PORT:-56379}
S3_PORT=${OPS_GEN_S3_PORT:-59000}
S3_BUCKET=ops-gen-test
DIR=${OPS_GEN_SERVICES_DIR:-/tmp/ops-gen-services}
# Test-only credentials for throwaway local servers; never used elsewhere.
PASSWORD=opsgen-test
PG_BIN=/usr/lib/postgresql/15/bin
DOCKER_SH=$(dirname "${BASH_SOURCE[0]}")/docker.sh
WITH_DOCKER=${OPS_GEN_DOCKER:-1}
# chromium: the status page and beacon tests; nginx: `nginx -t` on docs/deploy.
PACKAGES=(postgresql-15 postgresql-client-15 redis-server redis-tools prometheus wrk curl openssl chromium nginx)

log() { printf 'services: %s\n' "$*" >&2; }

# shellcheck source=scripts/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/apt.sh"

pg() { if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }

# A self-signed certificate for the TLS tests (PostgreSQL sslmode=require,
# and tests' own HTTPS servers read it from $DIR/tls).
make_cert() {
  [[ -f $DIR/tls/server.crt ]] && return
  mkdir -p "$DIR/tls"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$DIR/tls/server.key" -out "$DIR/tls/server.crt" 2>/dev/null
  chmod 600 "$DIR/tls/server.key"
  chmod 755 "$DIR/tls"
}

start_postgres() {
  local data=$DIR/postgres
  if pg "$PG_BIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    if [[ $(pg psql -h "$data" -p "$PG_PORT" -U postgres -tAc 'SHOW ssl' 2>/dev/null) == on ]]; then
      log "PostgreSQL already running on 127.0.0.1:$PG_PORT"
      return
    fi
    log "PostgreSQL on 127.0.0.1:$PG_PORT runs without TLS (started by an older services.sh): restarting it"
    pg "$PG_BIN/pg_ctl" -D "$data" -m fast -w stop >/dev/null
  fi
  if [[ ! -f $data/PG_VERSION ]]; then
    mkdir -p "$data"
    printf '%s\n' "$PASSWORD" >"$DIR/pgpass"
    [[ $(id -u) -eq 0 ]] && chown -R postgres:postgres "$data" "$DIR/pgpass"
    pg "$PG_BIN/initdb" -D "$data" -U postgres -E UTF8 --locale=C.UTF-8 \
      --auth-local=trust --auth-host=scram-sha-256 --pwfile="$DIR/pgpass" >/dev/null
    rm -f "$DIR/pgpass"
  fi
  if [[ ! -f $data/server.crt ]]; then
    cp "$DIR/tls/server.crt" "$DIR/tls/server.key" "$data/"
    if [[ $(id -u) -eq 0 ]]; then chown postgres:postgres "$data/server.crt" "$data/server.key"; fi
  fi
  pg "$PG_BIN/pg_ctl" -D "$data" -l "$DIR/postgres.log" -w -t 30 \
    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $data -c max_connections=200 -c fsync=off -c ssl=on" start >/dev/null
  log "PostgreSQL ready on 127.0.0.1:$PG_PORT"
}

start_redis() {
  if redis-cli -p "$REDIS_PORT" -a "$PASSWORD" --no-auth-warning ping >/dev/null 2>&1; then
    # Backups read snapshots through replication: no 5 s wait per snapshot.
    redis-cli -p "$REDIS_PORT" -a "$PASSWORD" --no-auth-warning config set repl-diskless-sync-delay 0 >/dev/null
    log "Redis already running on 127.0.0.1:$REDIS_PORT"
    return
  fi
  mkdir -p "$DIR/redis"
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$DIR/redis" --requirepass "$PASSWORD" \
    --save "" --appendonly no --repl-diskless-sync-delay 0 --daemonize yes --pidfile "$DIR/redis/redis.pid" --logfile "$DIR/redis/redis.log"
  for _ in $(seq 100); do
    redis-cli -p "$REDIS_PORT" -a "$PASSWORD" --no-auth-warning ping >/dev/null 2>&1 && break
    sleep 0.05
  done
  log "Redis ready on 127.0.0.1:$REDIS_PORT"
}

# An S3-compatible server (s3s-fs from crates.io: no package has one here).
install_s3() {
  command -v s3s-fs >/dev/null && return 0
  log "installing s3s-fs (cargo install, about 2 minutes)"
  cargo install --locked --quiet s3s-fs@0.14.1 --features binary
}

start_s3() {
  if curl -s -o /dev/null "http://127.0.0.1:$S3_PORT/" 2>/dev/null; then
    log "s3s-fs already running on 127.0.0.1:$S3_PORT"
    return
  fi
  # A bucket is a folder to s3s-fs.
  mkdir -p "$DIR/s3/$S3_BUCKET"
  nohup s3s-fs --host 127.0.0.1 --port "$S3_PORT" --access-key opsgen --secret-key "$PASSWORD-s3" "$DIR/s3" \
    >"$DIR/s3.log" 2>&1 &
  echo $! >"$DIR/s3.pid"
  for _ in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$S3_PORT/" && break
    sleep 0.05
  done
  log "s3s-fs ready on 127.0.0.1:$S3_PORT (bucket $S3_BUCKET)"
}

up() {
  install_missing
  install_s3
  mkdir -p "$DIR"
  [[ $(id -u) -eq 0 ]] && chown postgres:postgres "$DIR" 2>/dev/null || true
  chmod 755 "$DIR"
  make_cert
  start_postgres
  start_redis
  start_s3
  if [[ $WITH_DOCKER != 0 ]]; then "$DOCKER_SH" up; fi
}

down() {
  if [[ $WITH_DOCKER != 0 ]]; then "$DOCKER_SH" down; fi
  pg "$PG_BIN/pg_ctl" -D "$DIR/postgres" -m fast -w stop >/dev/null 2>&1 || true
  [[ -f $DIR/redis/redis.pid ]] && kill "$(cat "$DIR/redis/redis.pid")" 2>/dev/null || true
  [[ -f $DIR/s3.pid ]] && kill "$(cat "$DIR/s3.pid")" 2>/dev/null || true
  rm -rf "$DIR"
  log "stopped and removed $DIR"
}

env_vars() {
  cat <<VARS
export OPS_GEN_POSTGRES_URL=postgres://postgres:$PASSWORD@127.0.0.1:$PG_PORT/postgres
export OPS_GEN_REDIS_URL=redis://default:$PASSWORD@127.0.0.1:$REDIS_PORT/0
export OPS_GEN_TEST_TLS_DIR=$DIR/tls
export OPS_GEN_S3_ENDPOINT=http://127.0.0.1:$S3_PORT
export OPS_GEN_S3_ACCESS_KEY=opsgen
export OPS_GEN_S3_SECRET_KEY=$PASSWORD-s3
export OPS_GEN_S3_BUCKET=$S3_BUCKET
VARS
  if [[ $WITH_DOCKER != 0 ]]; then "$DOCKER_SH" env; fi
}

case ${1:-} in
  up) up ;;
  down) down ;;
  env) env_vars ;;
  *) echo "usage: $0 up|down|env" >&2; exit 2 ;;
esac
