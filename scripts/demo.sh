#!/usr/bin/env bash
# The IoT-to-warehouse demo, end to end, on this machine: a Kafka broker (tansu), the key core
# server, the stream stage under a least-privilege role, 1,000,000 simulated records, the lake
# queried with DuckDB and pyarrow under a read-only role, a summary; then everything stops.
# Neither the stage nor the queries hold an access key: each has a workload identity's token and
# gets its role's short-lived credentials from the key core's credentials endpoint. Installs what
# is missing. RECORDS=N changes the number of records.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
records=${RECORDS:-1000000}
scenario=$root/pipeline-examples/iot-to-warehouse
target=${CARGO_TARGET_DIR:-$root/target}
work=$target/demo
step() { printf '\n==> %s\n' "$*"; }

pids=()
stop_all() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop_all EXIT

source scripts/ensure-tools.sh
step "building lakeseal"
cargo build --locked -p lakeseal-cli
lakeseal=$target/debug/lakeseal
venv=$target/demo-venv
if [ ! -x "$venv/bin/python" ] || ! cmp -s "$scenario/requirements.txt" "$venv/requirements.txt"; then
    step "making the readers' Python venv (boto3, pyarrow, DuckDB)"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$scenario/requirements.txt"
    cp "$scenario/requirements.txt" "$venv/requirements.txt"
fi

rm -rf "$work" && mkdir -p "$work"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
broker_port=$(free_port); kc_port=$(free_port); kc_metrics=$(free_port); stage_metrics=$(free_port)
credentials_port=$(free_port)
brokers=127.0.0.1:$broker_port
wait_port() {
    for _ in $(seq 1 300); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "nothing listens on port $1" >&2; exit 1
}

step "starting the broker on $brokers"
tansu broker --storage-engine memory://tansu/ --listener-url "tcp://$brokers" \
    --advertised-listener-url "tcp://$brokers" >"$work/broker.log" 2>&1 &
pids+=($!)
wait_port "$broker_port"
tansu topic create telemetry --partitions 4 --broker "tcp://$brokers" >/dev/null
tansu topic create telemetry-dlq --partitions 1 --broker "tcp://$brokers" >/dev/null

step "setting up the key core: master key, alias, a least-privilege role each for the stage and the queries"
export LAKESEAL_DATA_DIR=$work/keycore
region=eu-west-1
# A private CA and the key core's certificate for this host: both listeners speak TLS only.
"$lakeseal" keycore init --region "$region" --tls-name 127.0.0.1 --tls-name localhost --output text >/dev/null
# Every client here (the lakeseal CLI, boto3, the stage through its ca_file) verifies against it.
export AWS_CA_BUNDLE=$LAKESEAL_DATA_DIR/tls/ca.pem
account=$("$lakeseal" iam list | "$venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["Users"][0]["Arn"].split(":")[4])')
key_arn=$("$lakeseal" key create --description "IoT telemetry" | "$venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["KeyMetadata"]["Arn"])')
"$lakeseal" alias create --alias-name alias/telemetry --target-key-id "$key_arn" >/dev/null
fill() { sed -e "s|\${ACCOUNT_ID}|$account|g" -e "s|\${REGION}|$region|g" -e "s|\${TELEMETRY_KEY_ARN}|$key_arn|g" \
    -e "s|\${WORKLOAD_IDENTITY}|${2:-}|g" "$1"; }
# Each role trusts one workload identity, whose token (a 0600 file) is all its process holds.
for role in stage query; do
    fill pipeline-examples/policies/workload-trust-policy.json "$role" >"$work/$role-trust.json"
    fill "pipeline-examples/policies/$role-role-policy.json" >"$work/$role-policy.json"
    "$lakeseal" iam create-role --role-name "$role" \
        --assume-role-policy-document "file://$work/$role-trust.json" >/dev/null
    "$lakeseal" iam put-role-policy --role-name "$role" --policy-name least-privilege \
        --policy-document "file://$work/$role-policy.json" >/dev/null
    "$lakeseal" iam create-workload-identity --name "$role" --role-name "$role" \
        --token-file "$work/$role.token" >/dev/null
done

step "starting the key core server on https://127.0.0.1:$kc_port (credentials endpoint on :$credentials_port, both TLS; metrics on :$kc_metrics)"
"$lakeseal" keycore serve --listen "127.0.0.1:$kc_port" --metrics-listen "127.0.0.1:$kc_metrics" \
    --credentials-listen "127.0.0.1:$credentials_port" >"$work/keycore.log" 2>&1 &
pids+=($!)
wait_port "$kc_port"
wait_port "$credentials_port"
endpoint=https://127.0.0.1:$kc_port
credentials_uri=https://127.0.0.1:$credentials_port/v1/credentials

sed -e "s|127.0.0.1:9092|$brokers|" -e "s|https://127.0.0.1:7070|$endpoint|" \
    -e "s|https://127.0.0.1:7071/v1/credentials|$credentials_uri|" -e "s|./ca.pem|$AWS_CA_BUNDLE|" \
    -e "s|./stage.token|$work/stage.token|" -e "s|file://./lake|file://$work/lake|" \
    "$scenario/stage.toml" >"$work/stage.toml"
step "starting the stage (metrics on :$stage_metrics)"
RUST_LOG=${RUST_LOG:-info} "$lakeseal" stage run --config "$work/stage.toml" \
    --metrics-listen "127.0.0.1:$stage_metrics" >"$work/stage.log" 2>&1 &
stage_pid=$!
pids+=($stage_pid)
wait_port "$stage_metrics"

step "simulating $records records from 10,000 devices"
started=$(date +%s.%N)
"$lakeseal" simulate --brokers "$brokers" --topic telemetry --devices 10000 --records "$records" \
    --malformed 0.01 >"$work/simulate.json"
produced=$("$venv/bin/python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["Records"])' "$work/simulate.json")

metric() {  # metric PORT NAME [LABEL]: the sum of a series' samples
    "$venv/bin/python" - "$1" "$2" "${3:-}" <<'PY'
import sys, urllib.request
port, name, label = sys.argv[1], sys.argv[2], sys.argv[3]
text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
print(int(sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines()
              if not l.startswith("#") and l.split("{")[0].split(" ")[0] == name and label in l)))
PY
}
step "waiting until the lake holds every record"
while :; do
    written=$(metric "$stage_metrics" lakeseal_stage_records_total 'outcome="written"')
    dead=$(metric "$stage_metrics" lakeseal_stage_records_total 'outcome="dead_letter"')
    printf '\r    %s written, %s dead letters, of %s' "$written" "$dead" "$produced"
    [ $((written + dead)) -ge "$produced" ] && break
    sleep 1
done
finished=$(date +%s.%N)
echo

step "stopping the stage (it writes and commits every window)"
kill -TERM "$stage_pid"; wait "$stage_pid"

# The readers as the query role: its token, the endpoint, no access key (as an AWS SDK finds them).
export AWS_CONTAINER_CREDENTIALS_FULL_URI=$credentials_uri AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=$work/query.token
keys=(--endpoint "$endpoint" --region "$region")
step "checking the lake: every file decrypts, every offset exactly once"
"$lakeseal" lake verify --table telemetry "$work/lake" --brokers "$brokers" --topic telemetry \
    "${keys[@]}" >"$work/verify.json"
in_lake=$("$venv/bin/python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["Rows"])' "$work/verify.json")
files=$("$venv/bin/python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["Files"])' "$work/verify.json")

step "querying the lake with DuckDB (keys from lakeseal lake unwrap-key)"
LAKESEAL=$lakeseal "$venv/bin/python" "$scenario/query_duckdb.py" "$work/lake/telemetry" -- "${keys[@]}"
step "querying the lake with pyarrow (its own decryption, keys unwrapped by the key core)"
AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_CONFIG_FILE=/dev/null AWS_DEFAULT_REGION=$region \
    AWS_ENDPOINT_URL_KMS=$endpoint "$venv/bin/python" "$scenario/query_pyarrow.py" "$work/lake/telemetry"

step "scanning every file the demo wrote and ships for plaintext credentials"
# The running key core holds the data directory; the scan needs no confirmation here.
env -u LAKESEAL_DATA_DIR "$lakeseal" scan-config "$scenario" pipeline-examples/policies "$work"/*.toml "$work"/*.json
step "looking for anomalies in the audit trail (rates, new addresses, denials …)"
"$lakeseal" audit alerts >"$work/alerts.json"   # exits 1 on an alert
live_alerts=$(metric "$kc_metrics" lakeseal_keycore_alerts_total)
issued=$(metric "$kc_metrics" lakeseal_keycore_requests_total 'operation="GetRoleCredentials"')

calls=$(metric "$kc_metrics" lakeseal_keycore_requests_total)
gdk=$(metric "$kc_metrics" lakeseal_keycore_requests_total 'operation="GenerateDataKey"')
rate=$("$venv/bin/python" -c "print(round($produced / ($finished - $started)))")
step "summary"
cat <<SUMMARY
    records produced         $produced
    records in the lake      $in_lake
    in the dead-letter topic $dead
    files                    $files
    key-core calls           $calls ($gdk GenerateDataKey, $issued role credentials issued)
    audit alerts             $live_alerts
    records/s, end to end    $rate (simulate start to lake complete)
    logs and data            $work
SUMMARY
[ "$in_lake" -eq "$written" ] && [ $((in_lake + dead)) -eq "$produced" ]
