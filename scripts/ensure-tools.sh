# Sourced by scripts/test.sh and scripts/demo.sh: installs what they need when it is missing —
# a C compiler (bundled SQLite, librdkafka), the OpenSSL and libcurl headers librdkafka links for
# TLS, SASL and OIDC, stunnel and the openssl tool (the TLS broker tests), Python 3 with venv (the
# venvs of the interop clients and readers), PostgreSQL's server (the secret-rotation tests),
# SoftHSM2 (the PKCS#11 token of the HSM tests), and
# the tansu Kafka broker with its SQLite storage (SCRAM users live there; about 13 minutes to
# build on 2 cores, once a machine).
apt_install() {
    echo "==> installing $*"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}
if ! command -v cc >/dev/null 2>&1; then
    apt_install build-essential
fi
if ! command -v pkg-config >/dev/null 2>&1 || ! pkg-config --exists openssl libcurl; then
    apt_install pkg-config libssl-dev libcurl4-openssl-dev
fi
if ! command -v stunnel >/dev/null 2>&1 || ! command -v openssl >/dev/null 2>&1; then
    apt_install stunnel4 openssl
fi
# PostgreSQL's server binaries, for the rotation test (which runs its own server with initdb).
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    apt_install postgresql
fi
# SoftHSM2, the PKCS#11 token of the HSM-backed key tests and benchmarks.
if ! command -v softhsm2-util >/dev/null 2>&1 || [ ! -e /usr/lib/softhsm/libsofthsm2.so ]; then
    apt_install softhsm2
fi
if ! python3 -m venv --help >/dev/null 2>&1; then
    apt_install python3 python3-venv
fi
if ! command -v tansu >/dev/null 2>&1 || ! tansu --help 2>&1 | grep -q libsql; then
    echo "==> installing the tansu Kafka broker (cargo install tansu, once)"
    cargo install tansu --locked --features dynostore,libsql
fi
