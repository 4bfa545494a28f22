#!/usr/bin/env bash
# The drift check on a 50-container Compose project (issue #5): time and
# Docker API calls per check run (cold, warm, after one restart), against
# what a person runs to see the same state: `docker-compose ps` and
# `docker-compose config --hash '*'`.
# Needs the private dockerd and test images: `scripts/services.sh up` (root).
# Writes bench/results/drift.md.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --quiet --example drift
eval "$(scripts/services.sh env)"
export DOCKER_HOST=$OPS_GEN_DOCKER_HOST
work=$(mktemp -d)
project=opsgen-drift-bench
down() { docker-compose -p "$project" -f "$work/docker-compose.yml" down -t 0 >/dev/null 2>&1 || true; rm -rf "$work"; }
trap down EXIT
# 10 services with 5 replicas each.
{
  echo "services:"
  for i in $(seq 10); do
    printf '  svc%s:\n    image: ops-gen-test/busybox:1\n    command: [sleep, "86400"]\n    scale: 5\n' "$i"
  done
} >"$work/docker-compose.yml"
printf 'stack:\n  project: %s\n  files: [docker-compose.yml]\nchecks:\n  drift:\n    kind: docker\n' "$project" >"$work/ops-gen.yml"
docker-compose -p "$project" -f "$work/docker-compose.yml" up -d >/dev/null 2>&1
containers=$(docker ps -q --filter "label=com.docker.compose.project=$project" | wc -l)
ours=$("${CARGO_TARGET_DIR:-target}/release/examples/drift" "$work/ops-gen.yml" "${project}_svc1_1")
mkdir -p bench/results
python3 - "$work" "$project" "$containers" "$ours" >bench/results/drift.md <<'PY'
import json, subprocess, sys, time
work, project, containers, ours = sys.argv[1], sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])
base = ["docker-compose", "-p", project, "-f", work + "/docker-compose.yml"]
def median(cmd, n=5):
    t = []
    for _ in range(n):
        s = time.perf_counter(); subprocess.run(cmd, check=True, capture_output=True, cwd=work); t.append(time.perf_counter() - s)
    return sorted(t)[n // 2] * 1000
ps = median(base + ["ps"])
hashes = median(base + ["config", "--hash", "*"])
print(f"{containers} containers in {ours['services']} services.\n")
print("| measure | time | Docker API calls |\n|---|---|---|")
print(f"| drift check, cold (Compose CLI resolves the files, every container inspected) | {ours['cold_ms']:.0f} ms | {ours['cold_calls']} |")
print(f"| drift check, warm (nothing changed; median of 20) | {ours['warm_ms_median']:.1f} ms | {ours['warm_calls']} |")
print(f"| drift check, after one container restarted | {ours['after_restart_ms']:.1f} ms | {ours['after_restart_calls']} |")
print(f"| `docker-compose ps` (state only, no drift) | {ps:.0f} ms | |")
print(f"| `docker-compose config --hash '*'` (declared hashes only) | {hashes:.0f} ms | |")
print(f"\nWarm run vs `docker-compose ps`: {ps / ours['warm_ms_median']:.0f}x faster.")
PY
cat bench/results/drift.md
