# Sourced by scripts/test.sh and scripts/demo.sh: installs what they need when it is missing —
# a C compiler (bundled SQLite, librdkafka), Python 3 with venv (the venvs of the interop clients
# and readers), and the tansu Kafka broker (about 15 minutes to build on 2 cores, once a machine).
if ! command -v cc >/dev/null 2>&1; then
    echo "==> installing a C compiler (for the bundled SQLite and librdkafka)"
    apt-get update -qq && apt-get install -y -qq build-essential
fi
if ! python3 -m venv --help >/dev/null 2>&1; then
    echo "==> installing Python 3 with venv"
    apt-get update -qq && apt-get install -y -qq python3 python3-venv
fi
if ! command -v tansu >/dev/null 2>&1; then
    echo "==> installing the tansu Kafka broker (cargo install tansu, once)"
    cargo install tansu --locked --features dynostore
fi
