#!/usr/bin/env bash
# ops-gen's exporter against the peer exporters Debian packages, in one run on
# this machine: postgres_exporter, redis_exporter, blackbox_exporter (http_2xx)
# and a "ceiling" server (same HTTP stack as ops-gen, fixed body, no work).
#
#   bench/run.sh                                   full run (about 4 minutes + build)
#   BENCH_SECONDS=3 BENCH_SCRAPES=500 bench/run.sh smoke run (under 2 minutes)
#
# Prints a Markdown table and writes it to bench/results/latest.md. Everything
# it starts listens on 127.0.0.1 and is stopped on exit; PostgreSQL and Redis
# come from scripts/services.sh (stopped again only if this script started
# them and BENCH_KEEP_SERVICES is not 1).
#
# Settings (environment):
#   BENCH_SECONDS        length of each wrk run                         [10]
#   BENCH_SCRAPES        scrapes counted for CPU and RSS-after          [2000]
#   BENCH_CONNECTIONS    wrk connections of the throughput run          [16]
#   BENCH_COUNT_MAX      cut-off of the counted run, seconds            [180]
#   BENCH_HUNG_MAX       client cut-off for a scrape of a hung target   [20]
#   BENCH_PORT_BASE      first of 11 consecutive loopback ports         [19700]
#   BENCH_KEEP_SERVICES  1: leave PostgreSQL/Redis running if started   [0]
#   BENCH_KEEP_LOGS      1: keep the work folder (logs, wrk output)     [0]
#   CARGO_TARGET_DIR     honoured by the build step
set -euo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SECONDS_PER_RUN=${BENCH_SECONDS:-10}
SCRAPES=${BENCH_SCRAPES:-2000}
CONNECTIONS=${BENCH_CONNECTIONS:-16}
HUNG_MAX=${BENCH_HUNG_MAX:-20}
PORT_BASE=${BENCH_PORT_BASE:-19700}
KEEP_SERVICES=${BENCH_KEEP_SERVICES:-0}
KEEP_LOGS=${BENCH_KEEP_LOGS:-0}
COUNT_MAX=${BENCH_COUNT_MAX:-180}
# What the hung-target scrape tells the exporter its deadline is.
HUNG_DEADLINE=2
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
RESULTS=$ROOT/bench/results/latest.md
PG_PORT=${OPS_GEN_PG_PORT:-55432}
REDIS_PORT=${OPS_GEN_REDIS_PORT:-56379}

for v in SECONDS_PER_RUN SCRAPES CONNECTIONS COUNT_MAX HUNG_MAX PORT_BASE; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "bench: $v must be a positive integer" >&2; exit 2; }
done
for tool in curl wrk python3 prometheus-postgres-exporter prometheus-redis-exporter prometheus-blackbox-exporter; do
  command -v "$tool" >/dev/null || {
    echo "bench: $tool is missing (apt-get install wrk curl python3 prometheus-postgres-exporter prometheus-redis-exporter prometheus-blackbox-exporter)" >&2
    exit 2
  }
done

log() { printf 'bench: %s %s\n' "$(date +%T)" "$*" >&2; }

# ---------------------------------------------------------------- cleanup --

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ops-gen-bench.XXXXXX")
PIDS=()
STARTED_SERVICES=0

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 30); do
    local alive=0
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if ((STARTED_SERVICES)) && [[ $KEEP_SERVICES != 1 ]]; then
    "$ROOT/scripts/services.sh" down >/dev/null 2>&1 || true
  fi
  if ((rc == 0)) && [[ $KEEP_LOGS != 1 ]]; then
    rm -rf "$WORK"
  elif ((rc == 0)); then
    log "logs kept in $WORK"
  else
    log "failed (exit $rc); logs kept in $WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------------ tools --

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start NAME CMD...: runs CMD in the background, logging to $WORK/NAME.log.
start() {
  local name=$1
  shift
  "$@" >"$WORK/$name.log" 2>&1 &
  PIDS+=("$!")
  PID[$name]=$!
}

# wait_port NAME PORT: until PORT accepts connections (at most 15 s).
wait_port() {
  local name=$1 port=$2
  for _ in $(seq 150); do
    port_open "$port" && return 0
    kill -0 "${PID[$name]}" 2>/dev/null || break
    sleep 0.1
  done
  log "$name did not start listening on 127.0.0.1:$port; its log:"
  tail -n 20 "$WORK/$name.log" >&2
  exit 1
}

# wait_ok NAME URL: until URL answers 2xx (at most 30 s).
wait_ok() {
  local name=$1 url=$2
  for _ in $(seq 150); do
    curl -sf -o /dev/null --max-time 5 "$url" && return 0
    kill -0 "${PID[$name]}" 2>/dev/null || break
    sleep 0.2
  done
  log "$name never answered $url; its log:"
  tail -n 20 "$WORK/$name.log" >&2
  exit 1
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
# "anon/file" resident MiB: heap and stacks vs mapped binary and libraries.
rss_split() { awk '/^RssAnon:/ {a = $2} /^RssFile:/ {f = $2} END {printf "%.1f/%.1f", a / 1024, f / 1024}' "/proc/$1/status"; }
hwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
# utime + stime of a process, in clock ticks (fields 14 and 15 of stat).
cpu_ticks() {
  local stat
  stat=$(<"/proc/$1/stat")
  stat=${stat##*) }
  awk '{print $12 + $13}' <<<"$stat"
}
CLK_TCK=$(getconf CLK_TCK)

mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }

# A wrk duration ("812.00us", "1.20ms", "2.01s", "1.00m") in milliseconds.
to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0
    if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n *= 1; else if (v ~ /m$/) n *= 60000; else if (v ~ /s$/) n *= 1000
    printf "%.3f", n
  }'
}

# wrk_run NAME TAG WRK-ARGS...: runs wrk (bounded), keeps its output in
# $WORK/NAME.TAG.wrk and notes errors it reports.
wrk_run() {
  local name=$1 tag=$2
  shift 2
  local out=$WORK/$name.$tag.wrk
  timeout $((SECONDS_PER_RUN + 30)) wrk --timeout 10s "$@" >"$out" 2>&1 || {
    log "wrk failed for $name ($tag):"
    cat "$out" >&2
    exit 1
  }
  local bad
  bad=$(grep -E 'Non-2xx|Socket errors' "$out" | sed 's/^ *//' | paste -sd ';' - || true)
  [[ -z $bad ]] || NOTES+=("${LABEL[$name]}, $tag run: $bad")
}
wrk_rate() { awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$1"; }
wrk_percentile() { to_ms "$(awk -v p="$2" '$1 == p {print $2; exit}' "$1")"; }

# ------------------------------------------------------------- build/up ----

log "building (release) into $TARGET_DIR"
cargo build --manifest-path "$ROOT/Cargo.toml" --release --locked --bin ops-gen --example ceiling >&2
OPS_GEN=$TARGET_DIR/release/ops-gen
CEILING=$TARGET_DIR/release/examples/ceiling

# Stopped at the end only if neither was running before (never someone else's).
if ! port_open "$PG_PORT" && ! port_open "$REDIS_PORT"; then STARTED_SERVICES=1; fi
"$ROOT/scripts/services.sh" up
eval "$("$ROOT/scripts/services.sh" env)"
export OPS_GEN_POSTGRES_URL OPS_GEN_REDIS_URL
REDIS_PASSWORD=${OPS_GEN_REDIS_URL#redis://*:}
REDIS_PASSWORD=${REDIS_PASSWORD%%@*}

P_OPSGEN5=$PORT_BASE
P_OPSGEN0=$((PORT_BASE + 1))
P_PGEXP=$((PORT_BASE + 2))
P_REDISEXP=$((PORT_BASE + 3))
P_BLACKBOX=$((PORT_BASE + 4))
P_CEILING=$((PORT_BASE + 5))
P_APP=$((PORT_BASE + 6))
P_HUNG=$((PORT_BASE + 7))
P_OPSGEN_HUNG=$((PORT_BASE + 8))
P_PGEXP_HUNG=$((PORT_BASE + 9))
P_REDISEXP_HUNG=$((PORT_BASE + 10))
for p in $(seq "$PORT_BASE" $((PORT_BASE + 10))); do
  if port_open "$p"; then
    log "127.0.0.1:$p is already in use; pick other ports with BENCH_PORT_BASE"
    exit 1
  fi
done

declare -A PID=() LABEL=() URL=() BODY=() IDLE=() SPLIT=() AFTER=() PEAK=() CPU=() P50=() P99=() RPS=() HUNG=() SANITY=()
NOTES=()

# ---------------------------------------------------------------- start ----

# The HTTP target of ops-gen's http check and of blackbox_exporter.
start app "$CEILING" --listen "127.0.0.1:$P_APP" --size 3
wait_port app "$P_APP"

opsgen_config() { # PORT MIN_INTERVAL PG_URL REDIS_URL HTTP_URL
  cat <<YAML
listen: 127.0.0.1:$1
scrape:
  min_interval: $2
targets:
  postgres:
    kind: postgres
    url: $3
  redis:
    kind: redis
    url: $4
checks:
  app:
    kind: http
    url: $5
YAML
}
# shellcheck disable=SC2016 # ${...} is ops-gen's own env syntax
opsgen_config "$P_OPSGEN5" 5s '${OPS_GEN_POSTGRES_URL}' '${OPS_GEN_REDIS_URL}' "http://127.0.0.1:$P_APP/" >"$WORK/opsgen5.yml"
# shellcheck disable=SC2016
opsgen_config "$P_OPSGEN0" 0s '${OPS_GEN_POSTGRES_URL}' '${OPS_GEN_REDIS_URL}' "http://127.0.0.1:$P_APP/" >"$WORK/opsgen0.yml"

start opsgen5 "$OPS_GEN" serve --config "$WORK/opsgen5.yml" --listen "127.0.0.1:$P_OPSGEN5"
start opsgen0 "$OPS_GEN" serve --config "$WORK/opsgen0.yml" --listen "127.0.0.1:$P_OPSGEN0"
start pgexp env DATA_SOURCE_NAME="$OPS_GEN_POSTGRES_URL?sslmode=disable" \
  prometheus-postgres-exporter --web.listen-address="127.0.0.1:$P_PGEXP"
start redisexp prometheus-redis-exporter -web.listen-address "127.0.0.1:$P_REDISEXP" \
  -redis.addr "redis://127.0.0.1:$REDIS_PORT" -redis.password "$REDIS_PASSWORD"
cat >"$WORK/blackbox.yml" <<'YAML'
modules:
  http_2xx:
    prober: http
YAML
start blackbox prometheus-blackbox-exporter --config.file="$WORK/blackbox.yml" \
  --web.listen-address="127.0.0.1:$P_BLACKBOX"

URL[opsgen5]=http://127.0.0.1:$P_OPSGEN5/metrics
URL[opsgen0]=http://127.0.0.1:$P_OPSGEN0/metrics
URL[pgexp]=http://127.0.0.1:$P_PGEXP/metrics
URL[redisexp]=http://127.0.0.1:$P_REDISEXP/metrics
URL[blackbox]="http://127.0.0.1:$P_BLACKBOX/probe?target=http://127.0.0.1:$P_APP/&module=http_2xx"
URL[ceiling]=http://127.0.0.1:$P_CEILING/metrics

wait_ok opsgen5 "http://127.0.0.1:$P_OPSGEN5/-/ready"
wait_ok opsgen0 "http://127.0.0.1:$P_OPSGEN0/-/ready"
for name in pgexp redisexp blackbox; do wait_ok "$name" "${URL[$name]}"; done

# The ceiling serves as many bytes as ops-gen's own text-format answer.
OPSGEN_BYTES=$(curl -sf --max-time 10 "${URL[opsgen5]}" | wc -c)
start ceiling "$CEILING" --listen "127.0.0.1:$P_CEILING" --size "$OPSGEN_BYTES"
wait_ok ceiling "${URL[ceiling]}"

version() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null | sed 's/[-+].*//'; }
LABEL[opsgen5]="ops-gen, min_interval 5s (default)"
LABEL[opsgen0]="ops-gen, min_interval 0s"
LABEL[pgexp]="postgres_exporter $(version prometheus-postgres-exporter)"
LABEL[redisexp]="redis_exporter $(version prometheus-redis-exporter)"
LABEL[blackbox]="blackbox_exporter $(version prometheus-blackbox-exporter), http_2xx"
LABEL[ceiling]="ceiling (fixed $OPSGEN_BYTES-byte body)"
ORDER=(opsgen5 opsgen0 pgexp redisexp blackbox ceiling)
PEERS=(pgexp redisexp blackbox)

# Sanity: each exporter must see its target up, or the numbers mean nothing.
sanity() { # NAME REGEX
  local line
  line=$(curl -sf --max-time 10 "${URL[$1]}" | grep -E "$2" | sed -E 's/\{check="([^"]*)"[^}]*\}/{\1}/' | paste -sd ' ' - || true)
  SANITY[$1]=${line:-"(none of $2 found)"}
}
sanity opsgen0 '^opsgen_check_success'
sanity pgexp '^pg_up '
sanity redisexp '^redis_up '
sanity blackbox '^probe_success '

# -------------------------------------------------------------- measure ----

# counted NAME: SCRAPES sequential scrapes on one keep-alive connection (one
# curl, many URLs), cut at COUNT_MAX; sets COUNTED to how many answered 2xx.
counted() {
  local url=${URL[$1]} cfg=$WORK/$1.curlrc codes=$WORK/$1.counted.codes i
  for ((i = 0; i < SCRAPES; i++)); do printf 'url = "%s"\noutput = "/dev/null"\n' "$url"; done >"$cfg"
  if ! timeout "$COUNT_MAX" curl -s --globoff --max-time 10 -w '%{http_code}\n' -K "$cfg" >"$codes"; then
    NOTES+=("${LABEL[$1]}: the counted run was cut at ${COUNT_MAX} s or failed; CPU per scrape is approximate")
  fi
  COUNTED=$(grep -c '^2' "$codes" || true)
}

measure() {
  local name=$1 url=${URL[$1]} pid=${PID[$1]}
  log "measuring ${LABEL[$name]}"
  BODY[$name]=$(curl -sf --max-time 10 "$url" | wc -c)
  for _ in 1 2 3 4 5; do curl -sf -o /dev/null --max-time 10 "$url"; done
  sleep 1
  IDLE[$name]=$(rss_kib "$pid")
  SPLIT[$name]=$(rss_split "$pid")

  local t0 t1 n
  t0=$(cpu_ticks "$pid")
  counted "$name"
  n=$COUNTED
  t1=$(cpu_ticks "$pid")
  AFTER[$name]=$(rss_kib "$pid")
  if ((n < SCRAPES)); then
    NOTES+=("${LABEL[$name]}: only $n of $SCRAPES counted scrapes answered 2xx")
  fi
  ((n > 0)) || { log "no counted scrape of ${LABEL[$name]} succeeded"; exit 1; }
  # Under 1 clock tick over the whole run: print the resolution as a bound.
  CPU[$name]=$(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v n="$n" 'BEGIN {
    if (d > 0) printf "%.3f", d / hz / n * 1000; else printf "<%.3f", 1 / hz / n * 1000 }')

  wrk_run "$name" latency -t1 -c1 -d"${SECONDS_PER_RUN}s" --latency "$url"
  P50[$name]=$(wrk_percentile "$WORK/$name.latency.wrk" 50%)
  P99[$name]=$(wrk_percentile "$WORK/$name.latency.wrk" 99%)

  wrk_run "$name" throughput -t2 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" "$url"
  RPS[$name]=$(wrk_rate "$WORK/$name.throughput.wrk")
  PEAK[$name]=$(hwm_kib "$pid")
}
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for name in "${ORDER[@]}"; do measure "$name"; done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ------------------------------------------------------------ hung target --

log "hung target: a TCP server that accepts and never answers"
cat >"$WORK/hung.py" <<'PY'
import socket, sys, time
port, lifetime = int(sys.argv[1]), float(sys.argv[2])
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", port))
server.listen(128)
server.settimeout(0.5)
held = []
end = time.monotonic() + lifetime
while time.monotonic() < end:
    try:
        held.append(server.accept()[0])
    except socket.timeout:
        pass
PY
start hung python3 "$WORK/hung.py" "$P_HUNG" $((HUNG_MAX + 60))
wait_port hung "$P_HUNG"

opsgen_config "$P_OPSGEN_HUNG" 0s "postgres://postgres:x@127.0.0.1:$P_HUNG/postgres" \
  "redis://default:x@127.0.0.1:$P_HUNG/0" "http://127.0.0.1:$P_HUNG/" >"$WORK/opsgen-hung.yml"
start opsgen_hung "$OPS_GEN" serve --config "$WORK/opsgen-hung.yml" --listen "127.0.0.1:$P_OPSGEN_HUNG"
start pgexp_hung env DATA_SOURCE_NAME="postgres://postgres:x@127.0.0.1:$P_HUNG/postgres?sslmode=disable" \
  prometheus-postgres-exporter --web.listen-address="127.0.0.1:$P_PGEXP_HUNG"
start redisexp_hung prometheus-redis-exporter -web.listen-address "127.0.0.1:$P_REDISEXP_HUNG" \
  -redis.addr "redis://127.0.0.1:$P_HUNG" -redis.password x
wait_port opsgen_hung "$P_OPSGEN_HUNG"
wait_port pgexp_hung "$P_PGEXP_HUNG"
wait_port redisexp_hung "$P_REDISEXP_HUNG"

declare -A HUNG_URL=(
  [opsgen0]=http://127.0.0.1:$P_OPSGEN_HUNG/metrics
  [pgexp]=http://127.0.0.1:$P_PGEXP_HUNG/metrics
  [redisexp]=http://127.0.0.1:$P_REDISEXP_HUNG/metrics
  [blackbox]="http://127.0.0.1:$P_BLACKBOX/probe?target=http://127.0.0.1:$P_HUNG/&module=http_2xx"
)
declare -A HUNG_UP=([opsgen0]='^opsgen_check_success' [pgexp]='^pg_up ' [redisexp]='^redis_up ' [blackbox]='^probe_success ')
# One scrape each, all at once (independent processes), cut at HUNG_MAX.
hung_pids=()
for name in "${!HUNG_URL[@]}"; do
  curl -s -o "$WORK/$name.hung.body" -w '%{http_code} %{time_total}' --max-time "$HUNG_MAX" \
    -H "X-Prometheus-Scrape-Timeout-Seconds: $HUNG_DEADLINE" "${HUNG_URL[$name]}" >"$WORK/$name.hung.out" 2>/dev/null &
  hung_pids+=("$!")
done
for pid in "${hung_pids[@]}"; do wait "$pid" || true; done
HUNG_OK=0
for name in "${!HUNG_URL[@]}"; do
  read -r code secs <"$WORK/$name.hung.out" || true
  if [[ ${code:-000} == 000 ]]; then
    HUNG[$name]="no answer, cut by client at ${HUNG_MAX} s"
  else
    up=$(grep -E "${HUNG_UP[$name]}" "$WORK/$name.hung.body" | awk '{print $NF}' | paste -sd ',' - || true)
    HUNG[$name]=$(printf '%.2f s (HTTP %s, up=%s)' "$secs" "$code" "${up:-?}")
    if [[ $name == opsgen0 && $code == 200 ]] && awk -v s="$secs" -v d="$HUNG_DEADLINE" 'BEGIN {exit !(s <= d)}'; then
      HUNG_OK=1
    fi
  fi
done
HUNG[opsgen5]="see the 0s row (one hung instance, min_interval 0s)"
HUNG[ceiling]="n/a"

# ---------------------------------------------------------------- report ---

# best_of FIELD min|max: the best peer value of an array, by name.
best_of() {
  local -n field=$1
  local how=$2 best="" who="" name
  for name in "${PEERS[@]}"; do
    local v=${field[$name]}
    if [[ -z $best ]] || awk -v a="$v" -v b="$best" -v h="$how" 'BEGIN {exit !((h == "min") ? a < b : a > b)}'; then
      best=$v
      who=$name
    fi
  done
  printf '%s %s\n' "$best" "$who"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b == 0) print "inf"; else printf "%.3f", a / b}'; }
verdict() { # RATIO OP LIMIT
  awk -v r="$1" -v op="$2" -v l="$3" 'BEGIN {
    if (r == "inf") ok = (op == ">=")
    else ok = (op == "<=") ? r <= l : r >= l
    print ok ? "met" : "NOT met"
  }'
}

read -r best_p50 who_p50 < <(best_of P50 min)
read -r best_p99 who_p99 < <(best_of P99 min)
read -r best_rps who_rps < <(best_of RPS max)
read -r best_idle who_idle < <(best_of IDLE min)
read -r best_cpu who_cpu < <(best_of CPU min)

{
  echo "# ops-gen exporter vs Debian's peer exporters"
  echo
  echo "Run $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) cores ($(sed -n 's/^PRETTY_NAME="\(.*\)"$/\1/p' /etc/os-release)), ops-gen $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?')."
  echo "wrk runs of ${SECONDS_PER_RUN} s; latency at 1 connection; throughput at ${CONNECTIONS} connections, 2 threads;"
  echo "CPU and RSS-after over ${SCRAPES} sequential keep-alive scrapes; text format (no Accept header) everywhere."
  echo "Load generator, exporters, PostgreSQL and Redis share the same cores; load average"
  echo "before the measurements ${LOAD_BEFORE}, after ${LOAD_AFTER} (anything else running skews the numbers)."
  echo
  echo "| exporter | p50 ms | p99 ms | req/s | idle RSS MiB | RSS after ${SCRAPES} MiB | peak RSS MiB | CPU s / 1k scrapes | body bytes | scrape, target hung (deadline ${HUNG_DEADLINE} s) |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"
  for name in "${ORDER[@]}"; do
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "${LABEL[$name]}" \
      "${P50[$name]}" "${P99[$name]}" "${RPS[$name]}" "$(mib "${IDLE[$name]}")" "$(mib "${AFTER[$name]}")" \
      "$(mib "${PEAK[$name]}")" "${CPU[$name]}" "${BODY[$name]}" "${HUNG[$name]}"
  done
  echo
  printf 'Idle RSS split, anon/file MiB (file = mapped binary and libraries):'
  for name in "${ORDER[@]}"; do printf '\n- %s: %s' "${LABEL[$name]}" "${SPLIT[$name]}"; done
  echo
  echo
  echo "**Not like for like:** one ops-gen scrape checks PostgreSQL, Redis *and* an HTTP endpoint;"
  echo "each peer covers one target (and postgres_exporter/redis_exporter export far more series)."
  echo "With min_interval 5s most ops-gen scrapes reuse a recent result; with 0s every scrape runs"
  echo "the three checks (concurrent scrapes share one in-flight run). Best peer per column:"
  echo "p50 ${LABEL[$who_p50]}, p99 ${LABEL[$who_p99]}, req/s ${LABEL[$who_rps]}, idle RSS ${LABEL[$who_idle]}, CPU ${LABEL[$who_cpu]}."
  echo
  echo "| goal (from the issue) | ops-gen 5s | ops-gen 0s |"
  echo "|---|---|---|"
  goal_row() { # TEXT OP LIMIT FIELD REFERENCE
    local text=$1 op=$2 limit=$3 ref=$5 cells=() name
    local -n f=$4
    for name in opsgen5 opsgen0; do
      local r
      r=$(ratio "${f[$name]}" "$ref")
      cells+=("$r ($(verdict "$r" "$op" "$limit"))")
    done
    printf '| %s | %s | %s |\n' "$text" "${cells[0]}" "${cells[1]}"
  }
  goal_row "p50 latency <= 1/3 of best peer's (ratio)" "<=" 0.3333 P50 "$best_p50"
  goal_row "p99 latency <= 1/3 of best peer's (ratio)" "<=" 0.3333 P99 "$best_p99"
  goal_row "throughput >= 10x best peer's (ratio)" ">=" 10 RPS "$best_rps"
  goal_row "throughput >= 1/2 of the ceiling (ratio)" ">=" 0.5 RPS "${RPS[ceiling]}"
  goal_row "idle RSS <= 1/2 of smallest peer's (ratio)" "<=" 0.5 IDLE "$best_idle"
  goal_row "CPU per 1k scrapes <= 1/3 of best peer's (ratio)" "<=" 0.3333 CPU "$best_cpu"
  hung_verdict=$([[ $HUNG_OK == 1 ]] && echo met || echo "NOT met")
  printf '| a hung target never holds a scrape past its deadline | (same binary) | %s: %s |\n' "$hung_verdict" "${HUNG[opsgen0]}"
  echo
  echo "Sanity (targets seen up during the run):"
  for name in opsgen0 pgexp redisexp blackbox; do echo "- ${LABEL[$name]}: \`${SANITY[$name]}\`"; done
  if ((${#NOTES[@]})); then
    echo
    echo "Load-generator notes:"
    for n in "${NOTES[@]}"; do echo "- $n"; done
  fi
  problems=$(cat "$WORK"/opsgen5.log "$WORK"/opsgen0.log | grep -ciE 'warn|error' || true)
  echo
  echo "ops-gen log (5s and 0s instances): ${problems} warn/error lines."
  if ((problems)); then
    cat "$WORK"/opsgen5.log "$WORK"/opsgen0.log | grep -iE 'warn|error' | sed 's/\x1b\[[0-9;]*m//g' | sort | uniq -c | sort -rn | head -n 5 |
      sed -E 's/^ *([0-9]+) (.*)$/- \1x `\2`/'
  fi
} >"$WORK/report.md"

mkdir -p "$(dirname "$RESULTS")"
cp "$WORK/report.md" "$RESULTS"
cat "$RESULTS"
log "written to ${RESULTS#"$ROOT"/}"
