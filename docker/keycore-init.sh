#!/bin/sh
# Once: the key core's data directory, the telemetry key, the stage's least-privilege role, and
# the stage's workload identity: a token (0600, alone on its own volume) that obtains that role's
# short-lived credentials from the key core's credentials endpoint, and nothing else. No access
# key leaves the key core's volume. Both of the key core's listeners speak TLS under a private
# CA made here; its certificate (public) goes beside the token for the stage to verify with.
set -e
[ -d /data/keycore ] && exit 0
export LAKESEAL_DATA_DIR=/data/keycore
account=$(lakeseal keycore init --region eu-west-1 --tls-name keycore --tls-name localhost \
  --tls-name 127.0.0.1 --output text | sed -n 's/^AccountId\t//p')
cp /data/keycore/tls/ca.pem /stage-token/ca.pem
arn=$(lakeseal key create --description "IoT telemetry" --output text | sed -n 's/^KeyMetadata.Arn\t//p')
lakeseal alias create --alias-name alias/telemetry --target-key-id "$arn" >/dev/null
sed "s|\${TELEMETRY_KEY_ARN}|$arn|" /policies/stage-role-policy.json > /tmp/stage-policy.json
sed -e "s|\${ACCOUNT_ID}|$account|" -e "s|\${WORKLOAD_IDENTITY}|stage|" \
  /policies/workload-trust-policy.json > /tmp/stage-trust.json
lakeseal iam create-role --role-name stage \
  --assume-role-policy-document file:///tmp/stage-trust.json >/dev/null
lakeseal iam put-role-policy --role-name stage --policy-name telemetry-keys \
  --policy-document file:///tmp/stage-policy.json >/dev/null
lakeseal iam create-workload-identity --name stage --role-name stage \
  --token-file /stage-token/stage.token >/dev/null
