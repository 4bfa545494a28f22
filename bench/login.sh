#!/usr/bin/env bash
# Bad basic-auth logins (issue #18): /healthz latency alone, and while 32
# connections send wrong passwords for 10 s from one client address and
# from 32. Writes bench/results/login.md.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --quiet --example login
out=$("${CARGO_TARGET_DIR:-target}/release/examples/login")
mkdir -p bench/results
python3 - "$out" >bench/results/login.md <<'PY'
import json, sys
r = json.loads(sys.argv[1])
print(f"bcrypt cost {r['bcrypt_cost']}; {r['connections']} connections sending wrong passwords for {r['flood_seconds']} s.")
print()
print("| `/healthz` while … | requests | p50 | p99 | max | wrong logins answered 401 (bcrypt run) / 429 (throttled) |")
print("|---|---|---|---|---|---|")
q = r['quiet']
print(f"| nothing else happens | {q['requests']} | {q['p50_ms']:.2f} ms | {q['p99_ms']:.2f} ms | {q['max_ms']:.2f} ms | – |")
for key, label in [("one_address", "32 connections from one address"), ("thirty_two_addresses", "32 connections from 32 addresses")]:
    f = r[key]; h = f['health']
    print(f"| {label} | {h['requests']} | {h['p50_ms']:.2f} ms | {h['p99_ms']:.2f} ms | {h['max_ms']:.2f} ms | {f['refused_401']:,} / {f['limited_429']:,} |")
PY
cat bench/results/login.md
