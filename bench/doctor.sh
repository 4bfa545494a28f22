#!/usr/bin/env bash
# `ops-gen doctor` when everything is up (issue #6: goal ≤ 2 s), and
# `ops-gen health` beside it. "Everything up": the real PostgreSQL, Redis
# and S3 targets of scripts/services.sh, and a running profile (exporter,
# Prometheus, node_exporter: the services with local images) started with
# `ops-gen compose up` first, so every port is held by the profile's own
# containers. Baselines in the same run: the bare process start, and
# `docker-compose version --short` (the Compose CLI check, a Python start,
# which the doctor cannot make faster).
# Needs the private dockerd and test images: `scripts/services.sh up` (root).
# Writes bench/results/doctor.md. BENCH_RUNS sets the runs per figure (20).
set -euo pipefail
cd "$(dirname "$0")/.."
ops=${CARGO_TARGET_DIR:-$PWD/target}/release/ops-gen
cargo build --release --locked --quiet
eval "$(scripts/services.sh env)"
export DOCKER_HOST=$OPS_GEN_DOCKER_HOST
scripts/docker.sh ops-gen-image "$ops" >/dev/null
work=$(mktemp -d)
project=opsgen-bench-doctor
cleanup() {
  (cd "$work" && "$ops" compose down >/dev/null 2>&1) || true
  docker volume ls -q --filter "label=com.docker.compose.project=$project" | xargs -r docker volume rm >/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
cat >"$work/ops-gen.yml" <<YAML
stack: {project: $project}
targets:
  db:
    kind: postgres
    url: \${OPS_GEN_POSTGRES_URL}
  cache:
    kind: redis
    url: \${OPS_GEN_REDIS_URL}
  store:
    kind: s3
    endpoint: \${OPS_GEN_S3_ENDPOINT}
    bucket: \${OPS_GEN_S3_BUCKET}
    access_key: \${OPS_GEN_S3_ACCESS_KEY}
    secret_key: \${OPS_GEN_S3_SECRET_KEY}
backup: {dir: backups}
profile:
  services: [ops-gen, prometheus, node-exporter]
  images: {ops-gen: ops-gen-test/ops-gen:dev, prometheus: ops-gen-test/prometheus:2.42, node-exporter: ops-gen-test/node-exporter:1}
  ports: {ops-gen: 39743, prometheus: 39090, node-exporter: 39100}
  disk_budget: 1GiB
YAML
(cd "$work" && "$ops" compose up >/dev/null)
mkdir -p bench/results
python3 - "$ops" "$work" "${BENCH_RUNS:-20}" >bench/results/doctor.md <<'PY'
import json, os, subprocess, sys, time
ops, work, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
def timed(cmd, expect=0):
    t = []
    for _ in range(n):
        s = time.perf_counter()
        code = subprocess.run(cmd, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
        t.append(time.perf_counter() - s)
        if code != expect:
            out = subprocess.run(cmd, cwd=work, capture_output=True, text=True)
            sys.exit(f"{' '.join(cmd)} exited {code}:\n{out.stdout}{out.stderr}")
    t.sort()
    return t[n // 2], t[-1]
load = os.getloadavg()[0]
checks = len(json.loads(subprocess.run([ops, "doctor", "--json"], cwd=work, capture_output=True, check=True).stdout)["checks"])
health = json.loads(subprocess.run([ops, "health", "--json"], cwd=work, capture_output=True, check=True).stdout)
rows = [
    ("`ops-gen --version` (process start)", timed([ops, "--version"])),
    ("`docker-compose version --short` (the Compose CLI check alone)", timed(["docker-compose", "version", "--short"])),
    (f"`ops-gen doctor`, everything up ({checks} checks)", timed([ops, "doctor"])),
    (f"`ops-gen health`, everything up ({len(health['components'])} components, {len(health['targets'])} targets)", timed([ops, "health"])),
]
print(f"{n} runs each; load average {load:.2f} before\n")
print("| measure | median | slowest |\n|---|---|---|")
for name, (median, worst) in rows:
    print(f"| {name} | {median*1000:.0f} ms | {worst*1000:.0f} ms |")
PY
cat bench/results/doctor.md
