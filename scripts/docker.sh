#!/usr/bin/env bash
# A private Docker engine for ops-gen's tests, and the local images they use.
# No image registry is reachable on the test machines, so every image is made
# with `docker import` from files on this machine. Debian's dockerd listens on
# its own socket (never the system one), with vfs storage, no iptables and no
# default bridge; user-defined networks, service-name DNS, named volumes,
# healthchecks and ports published on 127.0.0.1 work. Needs root.
#
#   scripts/docker.sh up                  install what is missing, start dockerd,
#                                         wait until it answers, build missing images
#   scripts/docker.sh down                remove containers and networks, stop
#                                         dockerd, delete its folder
#   scripts/docker.sh env                 print DOCKER_HOST (eval "$(… env)")
#   scripts/docker.sh images              build the images below if missing or stale
#   scripts/docker.sh ops-gen-image BIN   build ops-gen-test/ops-gen:dev from BIN
#   scripts/docker.sh debian-base         import debian:bookworm-slim (debootstrap
#                                         minbase, cached in OPS_GEN_CACHE_DIR), the
#                                         base the project's Dockerfile builds FROM
#
# Images (busybox userland, /etc/passwd with nobody = 65534):
#   ops-gen-test/busybox:1          CMD ["sh"]
#   ops-gen-test/prometheus:2.42    Debian's prometheus + promtool, laid out like
#                                   prom/prometheus: ENTRYPOINT ["/bin/prometheus"],
#                                   CMD config /etc/prometheus/prometheus.yml and
#                                   storage /prometheus, USER 65534, WORKDIR and
#                                   VOLUME /prometheus (anonymous volume when none is
#                                   mounted, as with prom/prometheus), EXPOSE 9090
#   ops-gen-test/node-exporter:1    Debian's node exporter like prom/node-exporter:
#                                   ENTRYPOINT ["/bin/node_exporter"], USER 65534,
#                                   EXPOSE 9100
#   ops-gen-test/postgres:15        Debian's PostgreSQL 15 started like the official
#                                   postgres image (initdb into PGDATA on first start,
#                                   POSTGRES_HOST_AUTH_METHOD / POSTGRES_PASSWORD, refusing
#                                   to start with neither, POSTGRES_INITDB_ARGS, USER 999,
#                                   EXPOSE 5432), with its client tools psql, pg_restore
#                                   and pg_isready: drills with engine docker
#   ops-gen-test/redis:7            Debian's redis-server and redis-cli like the official
#                                   redis image (WORKDIR and VOLUME /data, EXPOSE 6379)
#   ops-gen-test/exits:1            busybox whose entrypoint prints "ops-gen-test/exits:
#                                   this image always fails to start" to stderr and
#                                   exits with code 3: a drill image that dies at once
#   ops-gen-test/ops-gen:dev        ENTRYPOINT ["/usr/local/bin/ops-gen"],
#                                   CMD ["serve","--listen","0.0.0.0:9743"], WORKDIR /data
# Each image carries a label with a key of its inputs (recipe, binaries, their
# libraries); it is rebuilt only when the key changes (for ops-gen: its sha256).
# Healthchecks can use `wget -qO- http://127.0.0.1:PORT/…` in every image.
#
# busybox (or any binary without signal handlers) as PID 1 ignores SIGTERM:
# give compose services `init: true` (Debian's tini is the docker-init) or stop
# them with `-t 1`, or every `down` waits 10 s per container.
#
# Limits of this engine (dockerd 20.10, API 1.41, no default bridge, no NAT):
# - a container needs a user-defined network (compose makes one); with the
#   default network it only has loopback, and its published ports go nowhere;
# - containers cannot reach the host's 127.0.0.1 services unless they use
#   `network_mode: host`; `host-gateway` in extra_hosts resolves to nothing;
# - Compose is docker-compose 1.29 (no `docker compose`, no `include:`, no
#   `up --wait`, no top-level `name:`).
#
# The folder (socket, data, logs) is OPS_GEN_DOCKER_DIR, /tmp/ops-gen-docker by
# default; it must be short, because containerd's socket lives under it and
# unix socket paths are limited to 107 bytes. OPS_GEN_DOCKER_TIMEOUT (30 s) is
# how long `up` waits for dockerd to answer.
set -euo pipefail

DIR=$(realpath -m "${OPS_GEN_DOCKER_DIR:-/tmp/ops-gen-docker}")
SOCK=$DIR/docker.sock
PIDFILE=$DIR/docker.pid
LOG=$DIR/dockerd.log
EXEC_ROOT=$DIR/exec
CONTAINERD_SOCK=$EXEC_ROOT/containerd/containerd.sock
START_TIMEOUT=${OPS_GEN_DOCKER_TIMEOUT:-30}
# PostgreSQL and Redis: the stand-ins of their official images are made of them.
PACKAGES=(docker.io docker-compose busybox-static prometheus prometheus-node-exporter
  postgresql-15 postgresql-client-15 redis-server redis-tools debootstrap)
# Kept across runs: the Debian root filesystem debootstrap fetches (~2 min).
CACHE_DIR=$(realpath -m "${OPS_GEN_CACHE_DIR:-/var/cache/ops-gen-test}")
KEY_LABEL=org.ops-gen.test.key
PATH_IN_IMAGES=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# Only our daemon: whatever the caller's environment points at.
export DOCKER_HOST=unix://$SOCK
unset DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH

STAGING=
trap '[[ -z $STAGING ]] || rm -rf "$STAGING"' EXIT

log() { printf 'docker: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

check_dir() {
  [[ $DIR != / && $DIR =~ ^/[A-Za-z0-9._/-]+$ ]] ||
    die "OPS_GEN_DOCKER_DIR=$DIR: use an absolute path of letters, digits, '.', '_', '-' and '/'"
  # containerd also makes "$CONTAINERD_SOCK.ttrpc"; sun_path holds 107 bytes.
  ((${#CONTAINERD_SOCK} + 6 <= 107)) ||
    die "OPS_GEN_DOCKER_DIR=$DIR is too long for unix socket paths (at most $((107 - 6 - ${#CONTAINERD_SOCK} + ${#DIR})) characters)"
}

need_root() {
  [[ $(id -u) -eq 0 ]] || die "$1 needs root (dockerd runs as root; image files are owned by 65534)"
}

# shellcheck source=scripts/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/apt.sh"

# Alive and not a zombie: PID 1 on these machines reaps exited orphans late,
# and `kill -0` succeeds on a zombie.
alive() {
  local st
  st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n $st && ${st:0:1} != Z ]]
}

# containerd (and with "shims", its shims) serving our exec-root: left
# behind when a daemon was killed.
our_containerd() {
  local p
  for p in /proc/[0-9]*; do
    case $(cat "$p/comm" 2>/dev/null) in
      containerd) ;;
      containerd-shim*) [[ ${1:-} == shims ]] || continue ;;
      *) continue ;;
    esac
    tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -q -- "$CONTAINERD_SOCK\\|$EXEC_ROOT/containerd/containerd.toml" || continue
    if alive "${p#/proc/}"; then echo "${p#/proc/}"; fi
  done
}

answers() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

# The pid of the dockerd serving our socket, if it is alive.
our_pid() {
  local pid
  [[ -f $PIDFILE ]] || return 1
  pid=$(<"$PIDFILE")
  [[ $pid =~ ^[0-9]+$ ]] && alive "$pid" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "--host=unix://$SOCK " || return 1
  echo "$pid"
}

wait_ready() {
  local pid=$1 deadline=$((SECONDS + START_TIMEOUT))
  until answers; do
    if ! alive "$pid"; then
      log "dockerd exited during start; the end of $LOG:"
      tail -n 20 "$LOG" >&2 || true
      exit 1
    fi
    if ((SECONDS >= deadline)); then
      log "dockerd (pid $pid) did not answer on $SOCK within ${START_TIMEOUT} s; the end of $LOG:"
      tail -n 20 "$LOG" >&2 || true
      exit 1
    fi
    sleep 0.1
  done
}

start_dockerd() {
  local pid
  if pid=$(our_pid); then
    wait_ready "$pid"
    log "dockerd already running on $SOCK"
    return
  fi
  if answers; then
    log "a daemon already answers on $SOCK (no pid file): using it"
    return
  fi
  mkdir -p "$DIR"
  chmod 755 "$DIR"
  # Left behind when a previous daemon was killed: its containerd (dockerd
  # would reuse it, or wait on its dead socket), the sockets and pid files.
  # shellcheck disable=SC2046
  stop_pids "containerd of a previous dockerd" $(our_containerd)
  rm -f "$SOCK" "$PIDFILE" "$CONTAINERD_SOCK" "$CONTAINERD_SOCK.ttrpc" "$EXEC_ROOT/containerd/containerd.pid"
  # Own session, so the caller's process group (a CI step, a terminal) ending
  # does not take the daemon with it; `down` stops it.
  (
    cd /
    exec setsid dockerd --storage-driver=vfs --iptables=false --ip6tables=false --bridge=none \
      --host="unix://$SOCK" --data-root="$DIR/data" --exec-root="$EXEC_ROOT" --pidfile="$PIDFILE" \
      </dev/null >"$LOG" 2>&1 9>&- # not our lock
  ) &
  pid=$!
  wait_ready "$pid"
  log "dockerd ready on $SOCK (pid $pid, data in $DIR)"
}

stop_pids() { # stop_pids WHAT PID...: TERM, then KILL after 20 s
  local what=$1 deadline=$((SECONDS + 20)) left p
  shift
  (($#)) || return 0
  kill -TERM "$@" 2>/dev/null || true
  while :; do
    left=()
    for p in "$@"; do if alive "$p"; then left+=("$p"); fi; done
    ((${#left[@]})) || return 0
    if ((SECONDS >= deadline)); then
      log "$what (pid ${left[*]}) did not stop within 20 s: killing"
      kill -KILL "${left[@]}" 2>/dev/null || true
      sleep 0.5
      return 0
    fi
    sleep 0.1
  done
}

# What a killed daemon cannot clean up, found from its data: processes and
# cgroups of its containers, the host bridges of its networks.
clean_after_crash() {
  local d id cg ids=() nets=() pids=() kv=$DIR/data/network/files/local-kv.db
  for d in "$DIR"/data/containers/*/; do
    [[ -d $d ]] && ids+=("$(basename "$d")")
  done
  for id in "${ids[@]}"; do
    for cg in /sys/fs/cgroup/docker/"$id" /sys/fs/cgroup/*/docker/"$id"; do
      if [[ -f $cg/cgroup.procs ]]; then mapfile -t -O "${#pids[@]}" pids <"$cg/cgroup.procs"; fi
    done
  done
  if ((${#pids[@]})); then
    kill -KILL "${pids[@]}" 2>/dev/null || true
    sleep 0.2
  fi
  for id in "${ids[@]}"; do
    rmdir /sys/fs/cgroup/docker/"$id" /sys/fs/cgroup/*/docker/"$id" 2>/dev/null || true
  done
  if [[ -f $kv ]]; then
    mapfile -t nets < <(grep -ao 'docker/network/v1.0/bridge/[0-9a-f]\{64\}' "$kv" | cut -d/ -f5 | sort -u)
    for id in "${nets[@]}"; do
      if ip link show "br-${id:0:12}" >/dev/null 2>&1; then ip link del "br-${id:0:12}" 2>/dev/null || true; fi
    done
  fi
}

down() {
  local pid ids
  if answers; then
    # Containers first (busybox as PID 1 ignores SIGTERM: no 10 s waits), then
    # user-defined networks, whose host bridges would otherwise outlive $DIR.
    ids=$(docker ps -aq)
    # shellcheck disable=SC2086
    [[ -z $ids ]] || docker rm -f $ids >/dev/null 2>&1 || true
    docker network prune -f >/dev/null 2>&1 || true
  fi
  if pid=$(our_pid); then stop_pids dockerd "$pid"; fi
  # containerd and shims of a daemon that was killed: they name our socket.
  # shellcheck disable=SC2046
  stop_pids "containerd processes of $DIR" $(our_containerd shims)
  clean_after_crash
  # Mounts a killed daemon left (network namespaces, shm), deepest first.
  awk -v d="$DIR/" 'index($2, d) == 1 {print $2}' /proc/self/mounts | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
  rm -rf "$DIR"
  log "stopped dockerd and removed $DIR"
}

env_vars() {
  cat <<VARS
export DOCKER_HOST=unix://$SOCK
export OPS_GEN_DOCKER_HOST=unix://$SOCK
VARS
}

# --- images ---------------------------------------------------------------

# The libraries a dynamic executable loads (nothing for a static one).
libs_of() { ldd "$1" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' || true; }

# A key line per input file: path, size and mtime (cheap; apt replaces files).
stat_key() { (($# == 0)) || stat -L -c '%n %s %Y' "$@"; }

# Busybox userland: /bin/busybox with every applet linked in /bin, nobody and
# nogroup as 65534, files-then-DNS name lookup, CA certificates, /tmp.
stage_base() {
  local root=$1
  mkdir -p "$root"/{bin,etc/ssl/certs,home,root,tmp,usr/bin,var}
  chmod 1777 "$root/tmp"
  chmod 700 "$root/root"
  cp /bin/busybox "$root/bin/busybox"
  for a in $(/bin/busybox --list); do
    [[ -e $root/bin/$a ]] || ln -s busybox "$root/bin/$a"
  done
  printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'nobody:x:65534:65534:nobody:/home:/bin/false' >"$root/etc/passwd"
  printf '%s\n' 'root:x:0:' 'nobody:x:65534:' 'nogroup:x:65534:' >"$root/etc/group"
  printf '%s\n' 'passwd: files' 'group: files' 'hosts: files dns' >"$root/etc/nsswitch.conf"
  if [[ -f /etc/ssl/certs/ca-certificates.crt ]]; then
    cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
  fi
}
base_inputs() {
  stat_key /bin/busybox
  if [[ -f /etc/ssl/certs/ca-certificates.crt ]]; then stat_key /etc/ssl/certs/ca-certificates.crt; fi
}

# add_binary ROOT SRC DEST: SRC at DEST in ROOT, with the libraries it loads.
add_binary() {
  local root=$1 src=$2 dest=$3 lib
  mkdir -p "$root$(dirname "$dest")"
  cp -L "$src" "$root$dest"
  for lib in $(libs_of "$src"); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
}
binary_inputs() { # the key lines of binaries and their libraries
  local b
  for b in "$@"; do
    stat_key "$b"
    # shellcheck disable=SC2046
    stat_key $(libs_of "$b")
  done | sort -u
}

PROMETHEUS_YML='# Like the default config of prom/prometheus: scrape itself.
global:
  scrape_interval: 15s
  evaluation_interval: 15s
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ["localhost:9090"]'

recipe_busybox() {
  CHANGES=('CMD ["sh"]')
}
inputs_busybox() { :; }
stage_busybox() { :; }

recipe_prometheus() {
  CHANGES=(
    'ENTRYPOINT ["/bin/prometheus"]'
    'CMD ["--config.file=/etc/prometheus/prometheus.yml","--storage.tsdb.path=/prometheus"]'
    'USER 65534'
    'WORKDIR /prometheus'
    'VOLUME ["/prometheus"]'
    'EXPOSE 9090'
  )
}
inputs_prometheus() {
  binary_inputs /usr/bin/prometheus /usr/bin/promtool
  # Debian's prometheus serves its web UI from here (not embedded).
  if [[ -d /usr/share/prometheus/web ]]; then find /usr/share/prometheus/web -type f -exec stat -c '%n %s %Y' {} + | sort; fi
  printf '%s\n' "$PROMETHEUS_YML"
}
stage_prometheus() {
  local root=$1
  add_binary "$root" /usr/bin/prometheus /bin/prometheus
  add_binary "$root" /usr/bin/promtool /bin/promtool
  if [[ -d /usr/share/prometheus/web ]]; then
    mkdir -p "$root/usr/share/prometheus"
    cp -r /usr/share/prometheus/web "$root/usr/share/prometheus/"
  fi
  mkdir -p "$root/etc/prometheus" "$root/prometheus"
  printf '%s\n' "$PROMETHEUS_YML" >"$root/etc/prometheus/prometheus.yml"
  chown -R 65534:65534 "$root/etc/prometheus" "$root/prometheus"
}

recipe_node_exporter() {
  CHANGES=('ENTRYPOINT ["/bin/node_exporter"]' 'USER 65534' 'EXPOSE 9100')
}
inputs_node_exporter() { binary_inputs /usr/bin/prometheus-node-exporter; }
stage_node_exporter() {
  add_binary "$1" /usr/bin/prometheus-node-exporter /bin/node_exporter
  # Debian's build reads its textfile collector from here by default. (It also
  # enables the systemd collector, which logs an error per scrape without
  # D-Bus; pass --no-collector.systemd to silence it.)
  mkdir -p "$1/var/lib/prometheus/node-exporter"
}

# PostgreSQL 15 from Debian's server and client packages, laid out and
# started like the official postgres image as far as a drill needs it:
# PGDATA in a volume, initdb on first start (with POSTGRES_PASSWORD, or
# POSTGRES_HOST_AUTH_METHOD=trust; with neither it refuses to start, as the
# official image does; POSTGRES_INITDB_ARGS are passed on), then postgres
# listening on every address; psql, pg_restore and pg_isready on PATH.
PG_BIN=/usr/lib/postgresql/15/bin
PG_CLIENTS=(psql pg_restore pg_isready)
PG_ENTRYPOINT='#!/bin/sh
# A stand-in for the official image'"'"'s docker-entrypoint.sh.
set -e
if [ "$1" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "$POSTGRES_PASSWORD" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != trust ]; then
    echo "Error: Database is uninitialized and superuser password is not specified." >&2
    echo "       You must specify POSTGRES_PASSWORD to a non-empty value for the superuser." >&2
    exit 1
  fi
  if [ -n "$POSTGRES_PASSWORD" ]; then
    printf "%s\n" "$POSTGRES_PASSWORD" >/tmp/pwfile
    initdb -D "$PGDATA" -U "${POSTGRES_USER:-postgres}" -E UTF8 --locale=C --pwfile=/tmp/pwfile $POSTGRES_INITDB_ARGS >/dev/null
    rm -f /tmp/pwfile
    method=scram-sha-256
  else
    initdb -D "$PGDATA" -U "${POSTGRES_USER:-postgres}" -E UTF8 --locale=C $POSTGRES_INITDB_ARGS >/dev/null
  fi
  printf "host all all all %s\n" "${POSTGRES_HOST_AUTH_METHOD:-$method}" >>"$PGDATA/pg_hba.conf"
fi
if [ "$1" = postgres ]; then
  shift
  exec postgres -D "$PGDATA" -c listen_addresses="*" "$@"
fi
exec "$@"'
recipe_postgres() {
  CHANGES=(
    'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]'
    'CMD ["postgres"]'
    'USER 999'
    'ENV PGDATA=/var/lib/postgresql/data'
    'ENV TZ=UTC'
    'VOLUME ["/var/lib/postgresql/data"]'
    'EXPOSE 5432'
  )
}
pg_libs() { find /usr/lib/postgresql/15/lib -maxdepth 1 -name '*.so' ! -name 'llvmjit*' | sort; }
inputs_postgres() {
  # shellcheck disable=SC2046
  binary_inputs "$PG_BIN/postgres" "$PG_BIN/initdb" "${PG_CLIENTS[@]/#/$PG_BIN/}" $(pg_libs)
  find /usr/share/postgresql/15 -type f -exec stat -c '%n %s %Y' {} + | sort
  printf '%s\n' "$PG_ENTRYPOINT"
}
stage_postgres() {
  local root=$1 lib tool
  add_binary "$root" "$PG_BIN/postgres" "$PG_BIN/postgres"
  add_binary "$root" "$PG_BIN/initdb" "$PG_BIN/initdb"
  for tool in "${PG_CLIENTS[@]}"; do
    add_binary "$root" "$PG_BIN/$tool" "$PG_BIN/$tool"
  done
  for lib in $(pg_libs); do add_binary "$root" "$lib" "$lib"; done
  mkdir -p "$root/usr/share/postgresql" "$root/usr/share/zoneinfo" "$root/usr/local/bin" "$root/var/run/postgresql"
  cp -r /usr/share/postgresql/15 "$root/usr/share/postgresql/"
  cp -L /usr/share/zoneinfo/UTC "$root/usr/share/zoneinfo/UTC"
  ln -s "$PG_BIN/postgres" "$root/usr/local/bin/postgres"
  ln -s "$PG_BIN/initdb" "$root/usr/local/bin/initdb"
  for tool in "${PG_CLIENTS[@]}"; do ln -s "$PG_BIN/$tool" "$root/usr/local/bin/$tool"; done
  printf '%s\n' "$PG_ENTRYPOINT" >"$root/usr/local/bin/docker-entrypoint.sh"
  chmod 755 "$root/usr/local/bin/docker-entrypoint.sh"
  echo 'postgres:x:999:999:postgres:/var/lib/postgresql:/bin/sh' >>"$root/etc/passwd"
  echo 'postgres:x:999:' >>"$root/etc/group"
  mkdir -p "$root/var/lib/postgresql/data"
  chmod 700 "$root/var/lib/postgresql/data"
  chown -R 999:999 "$root/var/lib/postgresql" "$root/var/run/postgresql"
}

# Redis from Debian's packages, started like the official redis image:
# WORKDIR /data, so `redis-server --dir /data …` finds a dump.rdb put there;
# redis-cli on PATH, as in the official image.
recipe_redis() {
  CHANGES=('CMD ["redis-server"]' 'WORKDIR /data' 'VOLUME ["/data"]' 'EXPOSE 6379')
}
inputs_redis() { binary_inputs /usr/bin/redis-server /usr/bin/redis-cli; }
stage_redis() {
  add_binary "$1" /usr/bin/redis-server /usr/local/bin/redis-server
  add_binary "$1" /usr/bin/redis-cli /usr/local/bin/redis-cli
  mkdir -p "$1/data"
}

# An image that dies as soon as it starts, saying why on stderr: what a
# drill meets with an image that needs settings it lacks.
recipe_exits() {
  CHANGES=('ENTRYPOINT ["/bin/sh","-c","echo \"ops-gen-test/exits: this image always fails to start\" >&2; exit 3"]')
}
inputs_exits() { :; }
stage_exits() { :; }

OPS_GEN_BINARY=
recipe_ops_gen() {
  CHANGES=(
    'ENTRYPOINT ["/usr/local/bin/ops-gen"]'
    'CMD ["serve","--listen","0.0.0.0:9743"]'
    'WORKDIR /data'
    'EXPOSE 9743'
  )
}
inputs_ops_gen() {
  sha256sum <"$OPS_GEN_BINARY"
  # shellcheck disable=SC2046
  stat_key $(libs_of "$OPS_GEN_BINARY")
}
stage_ops_gen() {
  local root=$1
  add_binary "$root" "$OPS_GEN_BINARY" /usr/local/bin/ops-gen
  # Writable whether the service runs as root or as `user: 65534`.
  mkdir -p "$root/data"
  chown 65534:65534 "$root/data"
  chmod 1777 "$root/data"
}

# build_image TAG RECIPE: import the rootfs of RECIPE as TAG unless TAG
# already carries the key of the same recipe and inputs.
build_image() {
  local tag=$1 recipe=$2 key have old root t0=$SECONDS
  local -a CHANGES args=()
  "recipe_$recipe"
  key=$(
    {
      declare -f stage_base add_binary "recipe_$recipe" "stage_$recipe"
      printf '%s\n' "${CHANGES[@]}" "$PATH_IN_IMAGES"
      base_inputs
      "inputs_$recipe"
    } | sha256sum | cut -c1-32
  )
  have=$(docker image inspect -f "{{index .Config.Labels \"$KEY_LABEL\"}}" "$tag" 2>/dev/null || true)
  [[ $have == "$key" ]] && return 0
  old=$(docker image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)
  root=$(mktemp -d "$DIR/rootfs.XXXXXX")
  STAGING=$root
  chmod 755 "$root"
  stage_base "$root"
  "stage_$recipe" "$root"
  for c in "${CHANGES[@]}" "ENV PATH=$PATH_IN_IMAGES" "LABEL $KEY_LABEL=$key"; do args+=(--change "$c"); done
  tar --numeric-owner -C "$root" -cf - . | docker import "${args[@]}" - "$tag" >/dev/null
  rm -rf "$root"
  STAGING=
  # The image it replaces, unless a container still uses it.
  [[ -z $old ]] || docker image rm "$old" >/dev/null 2>&1 || true
  log "built $tag in $((SECONDS - t0)) s"
}

require_daemon() {
  answers || die "no dockerd answers on $SOCK: run scripts/docker.sh up first"
}

images() {
  require_daemon
  build_image ops-gen-test/busybox:1 busybox
  build_image ops-gen-test/prometheus:2.42 prometheus
  build_image ops-gen-test/node-exporter:1 node_exporter
  build_image ops-gen-test/postgres:15 postgres
  build_image ops-gen-test/redis:7 redis
  build_image ops-gen-test/exits:1 exits
}

ops_gen_image() {
  [[ -n ${1:-} ]] || die "usage: $0 ops-gen-image PATH/TO/ops-gen"
  [[ -f $1 && -x $1 ]] || die "$1 is not an executable file"
  require_daemon
  OPS_GEN_BINARY=$(realpath "$1")
  build_image ops-gen-test/ops-gen:dev ops_gen
}

# debian:bookworm-slim, made here: Debian's minimal root filesystem from
# Debian's package registry, imported under the name the Dockerfile uses.
debian_base() {
  require_daemon
  if docker image inspect debian:bookworm-slim >/dev/null 2>&1; then return; fi
  local tarball=$CACHE_DIR/debian-bookworm-minbase.tar
  if [[ ! -s $tarball ]]; then
    mkdir -p "$CACHE_DIR"
    local root
    root=$(mktemp -d "$CACHE_DIR/rootfs.XXXXXX")
    chmod 0755 "$root" # it becomes the image's `/`: everyone must traverse it
    log "debootstrap bookworm (minbase) into $root"
    debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian >"$CACHE_DIR/debootstrap.log" 2>&1 \
      || { rm -rf "$root"; die "debootstrap failed; see $CACHE_DIR/debootstrap.log"; }
    tar -C "$root" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
    rm -rf "$root"
  fi
  docker import -c 'CMD ["bash"]' "$tarball" debian:bookworm-slim >/dev/null
  log "imported debian:bookworm-slim"
}

up() {
  install_missing
  start_dockerd
  images
}

# One at a time: parallel test runs all call `up`. Outside $DIR, which `down`
# removes.
lock() {
  exec 9>"$DIR.lock"
  flock -w 120 9 || die "another scripts/docker.sh holds $DIR.lock"
}

case ${1:-} in
  up) check_dir; need_root "starting dockerd"; lock; up ;;
  down) check_dir; need_root "stopping dockerd"; lock; down ;;
  env) check_dir; env_vars ;;
  images) check_dir; need_root "building images"; lock; images ;;
  ops-gen-image) check_dir; need_root "building images"; lock; ops_gen_image "${2:-}" ;;
  debian-base) check_dir; need_root "building images"; lock; debian_base ;;
  *) echo "usage: $0 up|down|env|images|ops-gen-image BINARY|debian-base" >&2; exit 2 ;;
esac
