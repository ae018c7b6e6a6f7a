#!/usr/bin/env bash
# Runs every check CI runs: formatting, clippy with warnings denied, and every test.
# Installs what it needs when missing (scripts/ensure-tools.sh): a C compiler, the OpenSSL and
# libcurl headers librdkafka links, stunnel and openssl (the TLS broker tests), Python 3 with venv
# (the interop tests make a venv with boto3, the AWS Encryption SDK, pyarrow, DuckDB and
# confluent-kafka from PyPI), PostgreSQL (the secret-rotation tests start their own server),
# the tansu Kafka broker, and cargo-audit (Cargo.lock checked against third_party/advisory-db).
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/ensure-tools.sh
for component in rustfmt clippy; do
    if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
        rustup component add "$component"
    fi
done

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "==> cargo audit (vendored RustSec snapshot)"
scripts/audit-deps.sh
echo "==> cargo test"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --locked 2>&1 | tee "$log"
# One closing line for the whole run, summed over every test binary.
awk '/^test result:/ { p += $4; f += $6; i += $8 } END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, i }' "$log"
