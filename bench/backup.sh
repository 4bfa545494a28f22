#!/usr/bin/env bash
# ops-gen's backup commands against the raw tools they wrap, on the same data,
# in one run on this machine:
#
#   - `backup run --only postgres`  vs  `pg_dump -Fc -f FILE`
#   - `backup verify SET`           vs  `sha256sum FILE` + `pg_restore -f /dev/null FILE`
#   - `backup drill --from SET`     vs  initdb + pg_ctl start + createdb + pg_restore
#                                       + pg_ctl stop (+ rm) into a throwaway cluster
#   - `backup run --only redis`     vs  `redis-cli --rdb FILE`
#
#   bench/backup.sh                                                  full run (scale 50, 1 M keys, 3 repetitions)
#   BENCH_PG_SCALE=2 BENCH_REDIS_KEYS=10000 BENCH_REPEAT=1 bench/backup.sh   smoke run (under a minute after the build)
#
# Prints a Markdown table (median seconds of BENCH_REPEAT runs, ratio
# ops-gen/raw, goal) and writes it to bench/results/backup.md. It starts its
# own PostgreSQL 15 cluster (initdb + pg_ctl as the postgres user, trust auth)
# and its own redis-server, both on 127.0.0.1 only, in a mktemp folder, and
# stops and removes them on exit. ops-gen runs with TMPDIR inside that folder,
# so whatever its drill leaves behind is seen (and reported) and removed.
#
# Like for like: raw and ops-gen alternate within each repetition (raw first
# on odd ones); the dump, verify and drill use the same programs ops-gen runs
# (`pg_dump`/`pg_restore` from PATH for run and verify, the version's own
# initdb/pg_ctl/pg_restore for the drill, with the drill's flags: initdb
# --no-sync with a scram password, a Unix socket only, fsync=off,
# full_page_writes=off, psql of the set's globals.sql, pg_restore
# --exit-on-error with owners, stop -m immediate). The raw verify and
# drill read the dump of the set ops-gen wrote.
#
# Settings (environment):
#   BENCH_PG_SCALE        pgbench -i scale of the database              [50]
#   BENCH_REDIS_KEYS      DEBUG POPULATE key count                      [1000000]
#   BENCH_REPEAT          repetitions of each measurement (median)      [3]
#   BENCH_STEP_MAX        cut-off of any one timed command, seconds     [1800]
#   BENCH_PG_PORT         the private PostgreSQL                        [55480]
#   BENCH_PG_DRILL_PORT   the raw drill's throwaway cluster             [55481]
#   BENCH_REDIS_PORT      the private redis-server                      [56480]
#   BENCH_BUILD_JOBS      cargo build -j                                [1]
#   BENCH_KEEP_LOGS       1: keep the work folder's logs                [0]
#   CARGO_TARGET_DIR      where the build goes                          [/tmp/bench-target]
set -euo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_SCALE=${BENCH_PG_SCALE:-50}
REDIS_KEYS=${BENCH_REDIS_KEYS:-1000000}
REPEAT=${BENCH_REPEAT:-3}
STEP_MAX=${BENCH_STEP_MAX:-1800}
PG_PORT=${BENCH_PG_PORT:-55480}
PG_DRILL_PORT=${BENCH_PG_DRILL_PORT:-55481}
REDIS_PORT=${BENCH_REDIS_PORT:-56480}
BUILD_JOBS=${BENCH_BUILD_JOBS:-1}
KEEP_LOGS=${BENCH_KEEP_LOGS:-0}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/bench-target}
RESULTS=$ROOT/bench/results/backup.md
PGBIN=/usr/lib/postgresql/15/bin
DB=bench

for v in PG_SCALE REDIS_KEYS REPEAT STEP_MAX PG_PORT PG_DRILL_PORT REDIS_PORT BUILD_JOBS; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "bench: $v must be a positive integer" >&2; exit 2; }
done
for tool in cargo git runuser timeout sha256sum pg_dump pg_restore redis-server redis-cli "$PGBIN/initdb" \
  "$PGBIN/pg_ctl" "$PGBIN/pgbench" "$PGBIN/psql" "$PGBIN/createdb" "$PGBIN/pg_restore"; do
  command -v "$tool" >/dev/null || {
    echo "bench: $tool is missing (apt-get install postgresql-15 postgresql-client-15 redis-server redis-tools)" >&2
    exit 2
  }
done
id postgres >/dev/null 2>&1 || { echo "bench: there is no postgres user (apt-get install postgresql-15)" >&2; exit 2; }
((EUID == 0)) || { echo "bench: run as root (the clusters run as the postgres user through runuser)" >&2; exit 2; }

log() { printf 'bench: %s %s\n' "$(date +%T)" "$*" >&2; }

# ---------------------------------------------------------------- cleanup --

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ops-gen-bench-backup.XXXXXX")
# The postgres user must reach its folders below this one.
chmod 711 "$WORK"
mkdir -p "$WORK/logs" "$WORK/raw" "$WORK/tmp"
chmod 1777 "$WORK/tmp"
REDIS_PID=""

# Stops every cluster whose data folder lies below $WORK (ours, the raw
# drill's, and any an ops-gen drill left running in its scratch folder).
stop_clusters() {
  local pidfile data
  while IFS= read -r pidfile; do
    data=$(dirname "$pidfile")
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
  done < <(find "$WORK" -name postmaster.pid -type f 2>/dev/null)
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n $REDIS_PID ]]; then
    kill -TERM "$REDIS_PID" 2>/dev/null || true
    for _ in $(seq 50); do
      kill -0 "$REDIS_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$REDIS_PID" 2>/dev/null || true
    wait "$REDIS_PID" 2>/dev/null || true
  fi
  stop_clusters
  if ((rc == 0)) && [[ $KEEP_LOGS != 1 ]]; then
    rm -rf "$WORK"
  else
    # Keep the logs, not the gigabytes.
    rm -rf "$WORK/pg/data" "$WORK/drill" "$WORK/redis/dump.rdb" "$WORK/raw" "$WORK/backups" "$WORK/tmp"
    if ((rc == 0)); then log "logs kept in $WORK"; else log "failed (exit $rc); logs kept in $WORK"; fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------------ tools --

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
AS_PG=(runuser -u postgres --)
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", b - a}'; }

# fail NAME WHAT: says what failed, shows the end of its log, exits.
fail() {
  log "FAILED: $2"
  if [[ -f $WORK/logs/$1.log ]]; then
    log "last lines of $WORK/logs/$1.log:"
    tail -n 25 "$WORK/logs/$1.log" >&2
  fi
  exit 1
}

# step NAME CMD...: runs CMD cut at STEP_MAX, appending to $WORK/logs/NAME.log.
step() {
  local name=$1
  shift
  printf '+ %s\n' "$*" >>"$WORK/logs/$name.log"
  timeout -k 10 "$STEP_MAX" "$@" >>"$WORK/logs/$name.log" 2>&1
}

# timed NAME CMD...: runs CMD (a program, cut at STEP_MAX, or a function made
# of bounded steps), logging to $WORK/logs/NAME.log; sets ELAPSED (seconds).
# Any non-zero exit is fatal.
timed() {
  local name=$1 t0 t1 rc=0
  shift
  : >"$WORK/logs/$name.log"
  t0=$(now)
  if declare -F "$1" >/dev/null; then
    "$@" "$name" || rc=$?
  else
    step "$name" "$@" || rc=$?
  fi
  t1=$(now)
  ((rc == 0)) || fail "$name" "$* (exit $rc; 124 means cut at ${STEP_MAX} s)"
  ELAPSED=$(secs "$t0" "$t1")
}

median() {
  printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {
    if (NR % 2) printf "%.3f", v[(NR + 1) / 2]; else printf "%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b <= 0) print "n/a"; else printf "%.2f", a / b}'; }
add() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a + b}'; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a - b}'; }
verdict() { # RATIO LIMIT
  awk -v r="$1" -v l="$2" 'BEGIN {if (r == "n/a") print "n/a"; else print (r + 0 <= l + 0) ? "met" : "NOT met"}'
}
mb() { awk -v b="$1" 'BEGIN {printf "%.1f", b / 1e6}'; }

declare -A T=()   # "OPERATION.SIDE" -> space-separated seconds, one per repetition
NOTES=()
declare -A NOTED=()
note() { [[ -n ${NOTED[$1]:-} ]] || { NOTED[$1]=1; NOTES+=("$1"); }; }
record() { T[$1]="${T[$1]:-}${T[$1]:+ }$ELAPSED"; }
med() { read -r -a _v <<<"${T[$1]}"; median "${_v[@]}"; }

# pair I FN_RAW FN_OPS: both, raw first on odd repetitions.
pair() {
  if (($1 % 2)); then "$2" "$1"; "$3" "$1"; else "$3" "$1"; "$2" "$1"; fi
}

# ------------------------------------------------------------- build/up ----

for p in "$PG_PORT" "$PG_DRILL_PORT" "$REDIS_PORT"; do
  if port_open "$p"; then
    log "127.0.0.1:$p is already in use; pick others with BENCH_PG_PORT, BENCH_PG_DRILL_PORT, BENCH_REDIS_PORT"
    exit 1
  fi
done

log "building (release, -j$BUILD_JOBS) into $CARGO_TARGET_DIR"
cargo build --manifest-path "$ROOT/Cargo.toml" --release --locked --bin ops-gen -j "$BUILD_JOBS" >&2
OPS_GEN=$CARGO_TARGET_DIR/release/ops-gen
REVISION=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?')

log "private PostgreSQL on 127.0.0.1:$PG_PORT"
mkdir -p "$WORK/pg"
chown postgres:postgres "$WORK/pg"
step pg-init "${AS_PG[@]}" "$PGBIN/initdb" -D "$WORK/pg/data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 ||
  fail pg-init "initdb of the private cluster"
step pg-init "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$WORK/pg/data" -l "$WORK/pg/server.log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $WORK/pg -c fsync=off" start ||
  fail pg-init "start of the private cluster (its log: $WORK/pg/server.log)"
PSQL=("$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres)
step pg-init "$PGBIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres "$DB" || fail pg-init "createdb $DB"
log "pgbench -i -s $PG_SCALE"
step pg-init "$PGBIN/pgbench" -i -q -s "$PG_SCALE" -h 127.0.0.1 -p "$PG_PORT" -U postgres "$DB" ||
  fail pg-init "pgbench -i -s $PG_SCALE"
# Nothing dirty left for a checkpoint to write during the measurements.
step pg-init "${PSQL[@]}" -d "$DB" -c CHECKPOINT || fail pg-init "CHECKPOINT"
DB_BYTES=$("${PSQL[@]}" -d "$DB" -Atc "SELECT pg_database_size('$DB')")
ACCOUNTS=$("${PSQL[@]}" -d "$DB" -Atc "SELECT count(*) FROM pgbench_accounts")

log "private redis-server on 127.0.0.1:$REDIS_PORT, DEBUG POPULATE $REDIS_KEYS"
mkdir -p "$WORK/redis"
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$WORK/redis" --save "" --appendonly no \
  --enable-debug-command yes --repl-diskless-sync-delay 0 --daemonize no \
  --logfile "$WORK/redis/redis.log" >/dev/null 2>&1 &
REDIS_PID=$!
RCLI=(redis-cli -h 127.0.0.1 -p "$REDIS_PORT")
for _ in $(seq 150); do
  [[ $("${RCLI[@]}" PING 2>/dev/null) == PONG ]] && break
  kill -0 "$REDIS_PID" 2>/dev/null || break
  sleep 0.1
done
[[ $("${RCLI[@]}" PING 2>/dev/null) == PONG ]] || {
  log "redis-server did not answer on 127.0.0.1:$REDIS_PORT; its log:"
  tail -n 20 "$WORK/redis/redis.log" >&2
  exit 1
}
step redis-init "${RCLI[@]}" DEBUG POPULATE "$REDIS_KEYS" || fail redis-init "DEBUG POPULATE $REDIS_KEYS"
KEYS=$("${RCLI[@]}" DBSIZE)
[[ $KEYS == "$REDIS_KEYS" ]] || { log "redis holds $KEYS keys, expected $REDIS_KEYS"; exit 1; }

CFG=$WORK/ops-gen.yml
BACKUPS=$WORK/backups
cat >"$CFG" <<YAML
targets:
  pg:
    kind: postgres
    url: postgres://postgres@127.0.0.1:$PG_PORT/$DB
  cache:
    kind: redis
    url: redis://127.0.0.1:$REDIS_PORT/0
backup:
  dir: $BACKUPS
  retention:
    keep_last: 100
YAML
step config "$OPS_GEN" --config "$CFG" --no-color config check || fail config "ops-gen config check of $CFG"

# ops NAME ARGS...: one timed ops-gen command with the bench config; then
# notes whatever it left behind (scratch folders, half-written sets, servers).
ops() {
  local name=$1 left
  shift
  local what="ops-gen $*"
  what=${what//"$WORK"/WORK}
  local before after
  before=$(leftovers)
  timed "$name" env TMPDIR="$WORK/tmp" "$OPS_GEN" --config "$CFG" --no-color "$@"
  after=$(leftovers)
  left=$(comm -13 <(echo "$before") <(echo "$after") | paste -sd ';' -)
  [[ -z $left ]] || note "\`$what\` left behind: $left"
}
# What may be left behind, one per line: TMPDIR entries, half-written sets,
# processes whose command line names our TMPDIR.
leftovers() {
  {
    find "$WORK/tmp" -mindepth 1 -maxdepth 1 -printf 'in its TMPDIR: %f\n' 2>/dev/null || true
    find "$BACKUPS" -mindepth 1 -maxdepth 1 -name '.tmp-*' -printf 'half-written set: %f\n' 2>/dev/null || true
    { pgrep -a -f -- "$WORK/tmp/" || true; } | sed "s|$WORK|WORK|g; s/^/process still running: /" | cut -c1-160
  } | sort
}

# The set a `backup run` printed ("backup set PATH").
set_of() { sed -n 's/^backup set //p' "$WORK/logs/$1.log" | tail -n 1; }

# ---------------------------------------------------------- measure: dump --

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
STARTED=$(date -u +%Y-%m-%dT%H:%M:%SZ)

raw_dump() {
  timed "dump.raw.$1" pg_dump -Fc -h 127.0.0.1 -p "$PG_PORT" -U postgres -f "$WORK/raw/dump.$1.dump" "$DB"
  record dump.raw
  RAW_DUMP=$WORK/raw/dump.$1.dump
}
PG_SET=""
ops_dump() {
  ops "dump.ops.$1" backup run --only postgres
  record dump.ops
  PG_SET=$(set_of "dump.ops.$1")
  [[ -n $PG_SET && -f $PG_SET/postgres/pg/$DB.dump ]] || fail "dump.ops.$1" "backup run printed no set holding postgres/pg/$DB.dump"
}
log "PostgreSQL dump: pg_dump -Fc vs ops-gen backup run --only postgres (x$REPEAT)"
for ((i = 1; i <= REPEAT; i++)); do pair "$i" raw_dump ops_dump; done
DUMP=$PG_SET/postgres/pg/$DB.dump
DUMP_BYTES=$(stat -c %s "$DUMP")
RAW_DUMP_BYTES=$(stat -c %s "$RAW_DUMP")

# -------------------------------------------------------- measure: verify --

raw_verify() {
  timed "verify.sha.$1" sha256sum "$DUMP"
  record verify.sha
  timed "verify.restore.$1" pg_restore -f /dev/null "$DUMP"
  record verify.restore
}
ops_verify() {
  ops "verify.ops.$1" backup verify "$PG_SET"
  record verify.ops
}
log "verify: sha256sum + pg_restore -f /dev/null vs ops-gen backup verify (x$REPEAT)"
for ((i = 1; i <= REPEAT; i++)); do pair "$i" raw_verify ops_verify; done
grep -q '"ok": true' "$PG_SET/verify.json" || fail "verify.ops.1" "verify.json of $PG_SET does not say ok"

# --------------------------------------------------------- measure: drill --

# The raw drill, as one timed function of bounded steps (its last argument is
# the log name that `timed` passes): what `backup drill` does, by hand: a
# cluster on a Unix socket only with a password, the roles of globals.sql,
# then pg_restore with owners and grants.
GLOBALS=$PG_SET/postgres/pg/globals.sql
raw_drill_steps() {
  local name=$1 dir=$WORK/drill
  local opts="-c listen_addresses='' -p $PG_DRILL_PORT -c unix_socket_directories='$dir' -c unix_socket_permissions=0700 -c fsync=off -c full_page_writes=off"
  local conn=(-h "$dir" -p "$PG_DRILL_PORT" -U ops_gen_drill)
  mkdir -m 700 "$dir" && printf '%s' bench-drill-pw >"$dir/pw" && chown -R postgres:postgres "$dir" || return 1
  step "$name" "${AS_PG[@]}" "$PGBIN/initdb" -D "$dir/data" -A scram-sha-256 -U ops_gen_drill --pwfile="$dir/pw" \
    --no-sync -E UTF8 || return 1
  step "$name" "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -o "$opts" -w -t 60 start || return 1
  step "$name" env PGPASSWORD=bench-drill-pw "$PGBIN/psql" -X -q "${conn[@]}" -d postgres -f "$GLOBALS" || return 1
  step "$name" env PGPASSWORD=bench-drill-pw "$PGBIN/createdb" "${conn[@]}" "$DB" || return 1
  step "$name" env PGPASSWORD=bench-drill-pw "$PGBIN/pg_restore" --exit-on-error "${conn[@]}" -d "$DB" "$DUMP" || return 1
  step "$name" "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$dir/data" -m immediate -w stop || return 1
  rm -rf "$dir"
}
raw_drill() {
  timed "drill.raw.$1" raw_drill_steps
  record drill.raw
}
ops_drill() {
  ops "drill.ops.$1" backup drill --from "$PG_SET"
  record drill.ops
  local restore
  restore=$(sed -n 's/^ *"restore_seconds": *\([0-9.eE+-]*\),*$/\1/p' "$PG_SET/restore-drill-summary.json" | head -n 1)
  [[ -n $restore ]] || fail "drill.ops.$1" "restore-drill-summary.json has no restore_seconds"
  ELAPSED=$restore
  record drill.ops_restore
}
log "drill: raw initdb/pg_ctl/createdb/pg_restore vs ops-gen backup drill (x$REPEAT)"
for ((i = 1; i <= REPEAT; i++)); do pair "$i" raw_drill ops_drill; done
grep -q '"success": true' "$PG_SET/restore-drill-summary.json" ||
  fail "drill.ops.1" "restore-drill-summary.json of $PG_SET does not say success"

# --------------------------------------------------------- measure: redis --

# Redis reaps the fork of the previous --rdb only on its next cron tick; a
# sync asked for before that waits for the tick (tens of ms), which would
# penalise whichever side runs second. Wait until no fork is left (at most 10 s).
redis_settle() {
  for _ in $(seq 200); do
    "${RCLI[@]}" INFO persistence | grep -q '^rdb_bgsave_in_progress:0' && return 0
    sleep 0.05
  done
  log "redis still reports a background save after 10 s"
  exit 1
}
raw_rdb() {
  redis_settle
  timed "rdb.raw.$1" redis-cli -h 127.0.0.1 -p "$REDIS_PORT" --rdb "$WORK/raw/dump.$1.rdb"
  record rdb.raw
  RAW_RDB=$WORK/raw/dump.$1.rdb
}
REDIS_SET=""
ops_rdb() {
  redis_settle
  ops "rdb.ops.$1" backup run --only redis
  record rdb.ops
  REDIS_SET=$(set_of "rdb.ops.$1")
  [[ -n $REDIS_SET && -f $REDIS_SET/redis/cache.rdb ]] || fail "rdb.ops.$1" "backup run printed no set holding redis/cache.rdb"
}
log "Redis: redis-cli --rdb vs ops-gen backup run --only redis (x$REPEAT)"
for ((i = 1; i <= REPEAT; i++)); do pair "$i" raw_rdb ops_rdb; done
RDB_BYTES=$(stat -c %s "$REDIS_SET/redis/cache.rdb")
RAW_RDB_BYTES=$(stat -c %s "$RAW_RDB")

LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# -------------------------------------------------------- leftovers check --

# Files in the backup folder that are neither a set, latest.json nor the
# lock, and files in a set that its manifest does not list (besides
# verify.json, restore-drill-summary.json and complete.json).
while IFS= read -r entry; do
  case $entry in
    latest.json | .lock | .lock.d) ;;
    [0-9]*T*Z | [0-9]*T*Z-[0-9]*) [[ -d $BACKUPS/$entry ]] || note "backup folder: \`$entry\` is not a folder" ;;
    *) note "backup folder holds an unexpected \`$entry\`" ;;
  esac
done < <(find "$BACKUPS" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort)
for s in "$BACKUPS"/[0-9]*; do
  [[ -d $s ]] || continue
  while IFS= read -r f; do
    case $f in
      manifest.json | manifest.sha256 | verify.json | restore-drill-summary.json | complete.json) ;;
      *) grep -qF "\"path\": \"$f\"" "$s/manifest.json" || note "set $(basename "$s") holds \`$f\`, not in its manifest" ;;
    esac
  done < <(cd "$s" && find . -type f -printf '%P\n' | sort)
done
SETS=$(find "$BACKUPS" -mindepth 1 -maxdepth 1 -type d -name '[0-9]*' | wc -l)
BACKUP_DU=$(du -sb "$BACKUPS" | cut -f1)
OPS_PROBLEMS=$(cat "$WORK"/logs/*.ops.*.log | sed 's/\x1b\[[0-9;]*m//g' | grep -ciE 'warn|error' || true)

# ---------------------------------------------------------------- report ---

row() { # OPERATION RAW OPS GOAL-LIMIT(or -) GOAL-TEXT
  local r
  r=$(ratio "$3" "$2")
  if [[ $4 == - ]]; then
    printf '| %s | %s | %s | %s | %s |\n' "$1" "$2" "$3" "$r" "$5"
  else
    printf '| %s | %s | %s | %s | %s (%s) |\n' "$1" "$2" "$3" "$r" "$5" "$(verdict "$r" "$4")"
  fi
}
samples() { printf -- '- %s: raw `%s`, ops-gen `%s`\n' "$1" "${T[$2]}" "${T[$3]}"; }

M_DUMP_RAW=$(med dump.raw)
M_DUMP_OPS=$(med dump.ops)
M_SHA=$(med verify.sha)
M_RESTORE=$(med verify.restore)
M_VERIFY_RAW=$(add "$M_SHA" "$M_RESTORE")
M_VERIFY_OPS=$(med verify.ops)
M_HASH_OPS=$(sub "$M_VERIFY_OPS" "$M_RESTORE")
M_DRILL_RAW=$(med drill.raw)
M_DRILL_OPS=$(med drill.ops)
M_DRILL_OPS_RESTORE=$(med drill.ops_restore)
M_DRILL_RAW_PLUS=$(add "$M_DRILL_RAW" "$M_VERIFY_RAW")
M_RDB_RAW=$(med rdb.raw)
M_RDB_OPS=$(med rdb.ops)

{
  echo "# ops-gen backup commands vs the raw tools"
  echo
  echo "Run $STARTED on $(nproc) cores ($(sed -n 's/^PRETTY_NAME="\(.*\)"$/\1/p' /etc/os-release)), ops-gen $REVISION;"
  echo "load average before ${LOAD_BEFORE}, after ${LOAD_AFTER} (anything else running skews the numbers)."
  echo "PostgreSQL 15 (private cluster): \`pgbench -i -s $PG_SCALE\`, database $(mb "$DB_BYTES") MB, $ACCOUNTS accounts;"
  echo "custom-format dump $(mb "$DUMP_BYTES") MB (raw pg_dump: $(mb "$RAW_DUMP_BYTES") MB)."
  echo "Redis $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p') (private): $KEYS keys, RDB $(mb "$RDB_BYTES") MB (raw: $(mb "$RAW_RDB_BYTES") MB)."
  echo "Median wall-clock seconds of $REPEAT run(s) each; raw and ops-gen alternate; ratio = ops-gen / raw."
  if ((PG_SCALE < 50 || REDIS_KEYS < 1000000 || REPEAT < 3)); then
    echo "**Smaller than the reference run** (scale 50, 1 M keys, 3 repetitions): fixed costs (process start,"
    echo "version checks, connections: tens of ms) dominate these ratios; they test the script, not the goals."
  fi
  echo
  echo "| operation | raw tool (s) | ops-gen (s) | ratio | goal |"
  echo "|---|---:|---:|---:|---|"
  row "PostgreSQL backup: \`pg_dump -Fc -f FILE\` vs \`backup run --only postgres\`" \
    "$M_DUMP_RAW" "$M_DUMP_OPS" 1.10 "≤ 1.10"
  row "verify: \`sha256sum\` + \`pg_restore -f /dev/null\` vs \`backup verify SET\`" \
    "$M_VERIFY_RAW" "$M_VERIFY_OPS" - "none stated (whole command)"
  row "verify, hashing: \`sha256sum\` vs \`backup verify\` minus raw \`pg_restore\` (derived)" \
    "$M_SHA" "$M_HASH_OPS" - "near disk speed"
  row "drill: initdb + pg_ctl start + createdb + pg_restore + pg_ctl stop vs \`backup drill --from SET\`" \
    "$M_DRILL_RAW" "$M_DRILL_OPS" 1.25 "≤ 1.25"
  row "drill, context: the raw chain + raw verify (drill verifies the set first) vs \`backup drill\`" \
    "$M_DRILL_RAW_PLUS" "$M_DRILL_OPS" - "none (explains the row above)"
  row "Redis backup: \`redis-cli --rdb FILE\` vs \`backup run --only redis\`" \
    "$M_RDB_RAW" "$M_RDB_OPS" - "none stated"
  echo
  echo "Parts: raw \`sha256sum\` ${M_SHA} s, raw \`pg_restore -f /dev/null\` ${M_RESTORE} s;"
  echo "the drill's own recorded \`restore_seconds\` (initdb to restored data) ${M_DRILL_OPS_RESTORE} s."
  echo "The hashing row subtracts the raw pg_restore median from the verify median: with a small"
  echo "dump it is within the noise of the two measurements (sha256sum of $(mb "$DUMP_BYTES") MB takes ${M_SHA} s)."
  echo
  echo "Samples (s, in repetition order):"
  echo
  samples "PostgreSQL backup" dump.raw dump.ops
  printf -- '- verify: raw sha256sum `%s`, raw pg_restore `%s`, ops-gen `%s`\n' "${T[verify.sha]}" "${T[verify.restore]}" "${T[verify.ops]}"
  samples "drill" drill.raw drill.ops
  samples "Redis backup" rdb.raw rdb.ops
  echo
  echo "Backup folder after the run: $SETS sets, $(mb "$BACKUP_DU") MB; ops-gen logs: ${OPS_PROBLEMS} warn/error lines."
  if ((OPS_PROBLEMS)); then
    cat "$WORK"/logs/*.ops.*.log | sed 's/\x1b\[[0-9;]*m//g' | grep -iE 'warn|error' | sort | uniq -c | sort -rn | head -n 5 |
      sed -E 's/^ *([0-9]+) (.*)$/- \1x `\2`/'
  fi
  if ((${#NOTES[@]})); then
    echo
    echo "Left behind by ops-gen:"
    for n in "${NOTES[@]}"; do echo "- $n"; done
  fi
} >"$WORK/report.md"

mkdir -p "$(dirname "$RESULTS")"
cp "$WORK/report.md" "$RESULTS"
cat "$RESULTS"
log "written to ${RESULTS#"$ROOT"/}"
