#!/usr/bin/env bash
# Runs every check CI runs: formatting, clippy with warnings denied, and every test.
# Installs what it needs when missing: a C compiler (bundled SQLite, librdkafka), Python 3 with
# venv (the interop tests make a venv with boto3, the AWS Encryption SDK, pyarrow and DuckDB from
# PyPI), and the tansu Kafka broker.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cc >/dev/null 2>&1; then
    echo "==> installing a C compiler (for the bundled SQLite)"
    apt-get update -qq && apt-get install -y -qq build-essential
fi
if ! python3 -m venv --help >/dev/null 2>&1; then
    echo "==> installing Python 3 with venv (the interop tests run boto3 and the AWS Encryption SDK)"
    apt-get update -qq && apt-get install -y -qq python3 python3-venv
fi
if ! command -v tansu >/dev/null 2>&1; then
    # The Kafka-compatible broker the integration tests run (about 15 minutes to build on 2 cores,
    # once per machine).
    echo "==> installing the tansu broker (cargo install tansu)"
    cargo install tansu --locked --features dynostore
fi
for component in rustfmt clippy; do
    if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
        rustup component add "$component"
    fi
done

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "==> cargo test"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --locked 2>&1 | tee "$log"
# One closing line for the whole run, summed over every test binary.
awk '/^test result:/ { p += $4; f += $6; i += $8 } END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, i }' "$log"
