#!/usr/bin/env bash
# `ops-gen bundle` on a 20-container Compose project whose containers have
# written 10,000 log lines each (issue #6: goal ≤ 3 s). The exporter is
# not running, so the metrics part fails fast and the bundle is partial
# (exit 1): what is timed is the log tails, health, context and the archive.
# Baseline in the same run: `docker-compose logs --tail N` of the same
# project (the Compose CLI reading the same logs, unredacted, unsorted).
# Needs the private dockerd and test images: `scripts/services.sh up` (root).
# Writes bench/results/bundle.md. BENCH_RUNS sets the runs per figure (5).
set -euo pipefail
cd "$(dirname "$0")/.."
ops=${CARGO_TARGET_DIR:-$PWD/target}/release/ops-gen
cargo build --release --locked --quiet
eval "$(scripts/services.sh env)"
export DOCKER_HOST=$OPS_GEN_DOCKER_HOST
work=$(mktemp -d)
project=opsgen-bench-bundle
compose() { docker-compose -p "$project" -f "$work/docker-compose.yml" "$@"; }
cleanup() {
  compose down -t 0 >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
{
  echo 'version: "2.4"'
  echo 'services:'
  for i in $(seq -w 1 20); do
    cat <<YAML
  svc$i:
    image: ops-gen-test/busybox:1
    init: true
    environment: {APP_SECRET: bench-secret-$i}
    command: ["sh", "-c", "i=0; while [ \$\$i -lt 10000 ]; do echo \"svc$i request \$\$i GET /api/items?page=\$\$i status=200 took=3ms\"; i=\$\$((i+1)); done; echo done; sleep 3600"]
YAML
  done
} >"$work/docker-compose.yml"
cat >"$work/ops-gen.yml" <<YAML
stack: {project: $project}
profile:
  services: [ops-gen]
  ports: {ops-gen: 39799}
YAML
compose up -d >/dev/null 2>&1
for c in $(compose ps -q); do
  until docker logs --tail 1 "$c" 2>/dev/null | grep -q done; do sleep 0.2; done
done
mkdir -p bench/results
python3 - "$ops" "$work" "${BENCH_RUNS:-5}" "$project" >bench/results/bundle.md <<'PY'
import json, os, subprocess, sys, time
ops, work, n, project = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
def timed(cmd, expect):
    t = []
    for _ in range(n):
        s = time.perf_counter()
        code = subprocess.run(cmd, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
        t.append(time.perf_counter() - s)
        if code not in expect:
            out = subprocess.run(cmd, cwd=work, capture_output=True, text=True)
            sys.exit(f"{' '.join(cmd)} exited {code}:\n{out.stdout}{out.stderr}")
    t.sort()
    return t[n // 2], t[-1]
load = os.getloadavg()[0]
report = json.loads(subprocess.run([ops, "bundle", "--json", "--tail", "10000"], cwd=work, capture_output=True).stdout)
lines = sum(1 for _ in open(os.path.join(work, report["folder"], "log-tail.txt")))
leaked = subprocess.run(["grep", "-rl", "bench-secret-", os.path.join(work, "output")], capture_output=True).stdout
if leaked:
    sys.exit(f"secrets leaked into {leaked}")
dc = ["docker-compose", "-p", project, "-f", "docker-compose.yml", "logs", "--no-color"]
rows = [
    ("`docker-compose logs --tail 1000` (baseline)", timed(dc + ["--tail", "1000"], [0])),
    ("`ops-gen bundle` (1,000 lines per container, the default)", timed([ops, "bundle"], [0, 1])),
    ("`docker-compose logs --tail 10000` (baseline)", timed(dc + ["--tail", "10000"], [0])),
    (f"`ops-gen bundle --tail 10000` (every line: {lines} in log-tail.txt, {report['archive_bytes'] // 1024} KiB archive)", timed([ops, "bundle", "--tail", "10000"], [0, 1])),
]
print(f"{n} runs each; 20 containers x 10,000 lines; load average {load:.2f} before\n")
print("| measure | median | slowest |\n|---|---|---|")
for name, (median, worst) in rows:
    print(f"| {name} | {median*1000:.0f} ms | {worst*1000:.0f} ms |")
PY
cat bench/results/bundle.md
