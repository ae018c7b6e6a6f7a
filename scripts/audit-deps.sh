#!/usr/bin/env bash
# Checks Cargo.lock against the vendored RustSec advisory snapshot (third_party/advisory-db):
# exits non-zero if any dependency has an advisory of a vulnerability (RUSTSEC-2023-0071 in the
# `rsa` crate among them). The build machines cannot fetch the live database, so the snapshot
# is opened as a local git repository with `--no-fetch`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

if ! cargo audit --version >/dev/null 2>&1; then
    echo "installing cargo-audit (about 4 minutes on 2 cores)" >&2
    cargo install cargo-audit --locked --quiet
fi

db=$(mktemp -d)
trap 'rm -rf "$db"' EXIT
cp -r "$root/third_party/advisory-db/." "$db/"
git -C "$db" init --quiet
git -C "$db" add --all
git -C "$db" -c user.name=lakeseal -c user.email=lakeseal@localhost \
    commit --quiet --message "vendored RustSec advisory snapshot"

# --stale: the snapshot is older than cargo-audit's 90-day freshness check by design.
cargo audit --db "$db" --no-fetch --stale --file "$root/Cargo.lock" "$@"
