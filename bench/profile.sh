#!/usr/bin/env bash
# The ops profile's two speed figures (issue #3), in one run:
#  - `ops-gen compose generate` for the default profile (goal ≤ 50 ms), against
#    the bare process start (`ops-gen --version`);
#  - `ops-gen compose up` (preflight + generate + Compose + health wait)
#    against Compose's own `up -d` plus a health poll, for the same services.
# Needs the private dockerd and test images: `scripts/services.sh up` (root).
# Writes bench/results/profile.md.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --quiet
eval "$(scripts/services.sh env)"
export DOCKER_HOST=$OPS_GEN_DOCKER_HOST
scripts/docker.sh ops-gen-image target/release/ops-gen >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/ops-gen.yml" <<'YAML'
stack: {project: opsgen-bench}
profile:
  services: [ops-gen, prometheus, node-exporter]
  images: {ops-gen: ops-gen-test/ops-gen:dev, prometheus: ops-gen-test/prometheus:2.42, node-exporter: ops-gen-test/node-exporter:1}
  ports: {ops-gen: 29743, prometheus: 29090, node-exporter: 29100}
  disk_budget: 1GiB
YAML
mkdir -p bench/results
python3 - "$PWD/target/release/ops-gen" "$work" >bench/results/profile.md <<'PY'
import subprocess, sys, time
ops, work = sys.argv[1], sys.argv[2]
def median(cmd, n=30, **kw):
    t = []
    for _ in range(n):
        s = time.perf_counter(); subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, **kw); t.append(time.perf_counter() - s)
    return sorted(t)[n // 2]
start = median([ops, "--version"])
gen = median([ops, "compose", "generate", "--out", work + "/default"], cwd="/")
subprocess.run([ops, "compose", "generate"], check=True, stdout=subprocess.DEVNULL, cwd=work)
services = ["ops-gen", "prometheus", "node-exporter"]
base = ["docker-compose", "-p", "opsgen-bench-raw", "--project-directory", work, "-f", work + "/compose/docker-compose.ops.yml", "--profile", "ops"]
def healthy(project):
    ids = subprocess.run(["docker", "ps", "-q", "--filter", "label=com.docker.compose.project=" + project], capture_output=True, text=True).stdout.split()
    if len(ids) < len(services): return False
    out = subprocess.run(["docker", "inspect", "-f", "{{.State.Health.Status}}"] + ids, capture_output=True, text=True).stdout.split()
    return all(s == "healthy" for s in out)
s = time.perf_counter(); subprocess.run(base + ["up", "-d"] + services, check=True, capture_output=True)
while not healthy("opsgen-bench-raw"): time.sleep(0.2)
raw = time.perf_counter() - s
subprocess.run(base + ["down", "-v"], check=True, capture_output=True)
s = time.perf_counter(); subprocess.run([ops, "compose", "up"], check=True, capture_output=True, cwd=work)
ours = time.perf_counter() - s
subprocess.run([ops, "compose", "destroy", "--yes"], check=True, capture_output=True, cwd=work)
print("| measure | time |\n|---|---|")
print(f"| `ops-gen --version` (process start) | {start*1000:.1f} ms |")
print(f"| `ops-gen compose generate` (default profile, 14 files) | {gen*1000:.1f} ms |")
print(f"| `docker-compose up -d` + poll until healthy (3 services) | {raw:.1f} s |")
print(f"| `ops-gen compose up` (preflight, generate, the same up, wait) | {ours:.1f} s |")
print(f"| overhead of `compose up` | {ours-raw:+.1f} s |")
PY
cat bench/results/profile.md
