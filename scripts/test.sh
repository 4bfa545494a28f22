#!/usr/bin/env bash
# The whole test suite on a fresh machine: install and start the real
# services the tests need, then the same gates CI applies.
# This is the README's test command (`make test`) and what .ci/run runs.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/services.sh up
eval "$(scripts/services.sh env)"

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy --all-targets --locked -- -D warnings"
cargo clippy --all-targets --locked -- -D warnings
echo "== cargo doc (warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --locked --quiet
echo "== cargo test --locked"
cargo test --locked
