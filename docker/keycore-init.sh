#!/bin/sh
# Once: the key core's data directory, the telemetry key, and the stage's own user whose only
# permission is the least-privilege stage policy. Its credentials go to /data/stage-credentials.
set -e
[ -d /data/keycore ] && exit 0
export LAKESEAL_DATA_DIR=/data/keycore
lakeseal keycore init --region eu-west-1 --output text >/dev/null
arn=$(lakeseal key create --description "IoT telemetry" --output text | sed -n 's/^KeyMetadata.Arn\t//p')
lakeseal alias create --alias-name alias/telemetry --target-key-id "$arn" >/dev/null
sed "s|\${TELEMETRY_KEY_ARN}|$arn|" /policies/stage-role-policy.json > /tmp/stage-policy.json
lakeseal iam create-user --user-name stage >/dev/null
lakeseal iam put-user-policy --user-name stage --policy-name telemetry-keys \
  --policy-document file:///tmp/stage-policy.json >/dev/null
lakeseal iam create-access-key --user-name stage --credentials-file /data/stage-credentials >/dev/null
