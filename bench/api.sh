#!/usr/bin/env bash
# The ops API under load (issue #7), in one process: beacon ingest (the ring
# alone, and a flood over HTTP against the rate limit) with memory before
# and after, and the events stream fanned out to 100 subscribers.
# and the latency of /api/ops/context (p50, p99, with the test services'
# PostgreSQL and Redis as targets when `scripts/services.sh up` ran) and of
# refusals (no token, a wrong token, a read token on an admin action).
# Writes bench/results/api.md.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --quiet --example api
if [[ -d ${OPS_GEN_SERVICES_DIR:-/tmp/ops-gen-services} ]]; then eval "$(scripts/services.sh env)"; fi
out=$("${CARGO_TARGET_DIR:-target}/release/examples/api")
mkdir -p bench/results
python3 - "$out" >bench/results/api.md <<'PY'
import json, sys
r = json.loads(sys.argv[1])
print("| measure | result |")
print("|---|---|")
print(f"| ring of browser errors: adds per second (1,000 kept, 100 per route) | {r['ring_adds_per_second']:,.0f} |")
print(f"| memory growth after 200,000 more adds to a full ring | {r['ring_rss_growth_kib_after_200k']} KiB |")
print(f"| beacon flood over HTTP: {r['flood_requests']:,} posts from 16 clients | {r['flood_requests_per_second']:,.0f} requests/s answered |")
print(f"| of which stored / refused with 429 | {r['flood_accepted']:,} / {r['flood_limited']:,} |")
print(f"| memory growth during the flood | {r['flood_rss_growth_kib']} KiB |")
rate = r['fanout_delivered'] / r['fanout_seconds']
print(f"| events stream: {r['fanout_events']:,} events to {r['fanout_subscribers']} subscribers | {r['fanout_seconds']*1000:.0f} ms ({rate:,.0f} deliveries/s) |")
print(f"| `/api/ops/context`, 200 calls: p50 / p99 | {r['context_p50_ms']:.1f} ms / {r['context_p99_ms']:.1f} ms |")
for name, label in [("none", "no token (401)"), ("wrong", "wrong token of the same length (401)"), ("read_on_admin", "read token on an admin action (403)")]:
    t = r['refusals'][name]
    print(f"| refusal, {label}, 2,000 calls: p50 / p99 | {t['p50_ms']:.3f} ms / {t['p99_ms']:.3f} ms |")
PY
cat bench/results/api.md
