"""boto3 through an access-key rotation run by the key core: RotateSecret with the
keycore-access-key rotator, the service reading its new key from its secret, the old key working
through the overlap and refused after it; the rotation's errors and CancelRotateSecret.

Run by tests/it/secrets.rs, which makes the user `svc` (allowed to read its own secret and call
kms:GenerateRandom) and passes its first key as SVC_KEY (`access-key-id:secret-access-key`).
"""
import json
import os
import sys
import time

import boto3
import botocore.exceptions
from botocore.config import Config

from checks import check, error_code

OVERLAP_SECONDS = 6
ROTATOR = "arn:aws:lakeseal:eu-west-1:111122223333:rotator/keycore-access-key"


def client(service, access=None, secret=None):
    kwargs = {"config": Config(retries={"max_attempts": 1})}
    if access:
        kwargs.update(aws_access_key_id=access, aws_secret_access_key=secret)
    return boto3.client(service, **kwargs)


admin = client("secretsmanager")
old_id, old_secret = os.environ["SVC_KEY"].split(":", 1)
value = {"UserName": "svc", "AccessKeyId": old_id, "SecretAccessKey": old_secret}
admin.create_secret(
    Name="svc/access-key",
    SecretString=json.dumps(value),
    Tags=[{"Key": "lakeseal:rotation:overlap", "Value": f"{OVERLAP_SECONDS}s"}],
)

# Bad rotators and schedules are refused as AWS refuses bad parameters.
bad_rotator = lambda: admin.rotate_secret(SecretId="svc/access-key", RotationLambdaARN="arn:aws:lambda:eu-west-1:111122223333:function:rotate", RotationRules={"AutomaticallyAfterDays": 30})
check("a Lambda ARN is not a rotator", error_code(bad_rotator) == "InvalidParameterException")
bad_rules = lambda: admin.rotate_secret(SecretId="svc/access-key", RotationLambdaARN=ROTATOR, RotationRules={"AutomaticallyAfterDays": 1001})
check("1001 days is out of range", error_code(bad_rules) == "InvalidParameterException")
bad_cron = lambda: admin.rotate_secret(SecretId="svc/access-key", RotationLambdaARN=ROTATOR, RotationRules={"ScheduleExpression": "cron(0 8 1 * MON *)"})
check("a cron with both days is refused", error_code(bad_cron) == "InvalidParameterException")

rotated = admin.rotate_secret(
    SecretId="svc/access-key",
    RotationLambdaARN=ROTATOR,
    RotationRules={"ScheduleExpression": "cron(0 4 ? * SUN *)", "Duration": "2h"},
)
rotated_at = time.monotonic()
check("RotateSecret names the new version", len(rotated["VersionId"]) >= 32)

# The service, still on its old key, reads its secret and finds the new key.
as_old = client("secretsmanager", old_id, old_secret)
current = json.loads(as_old.get_secret_value(SecretId="svc/access-key")["SecretString"])
check("a new key is current", current["AccessKeyId"] != old_id and current["UserName"] == "svc")
previous = json.loads(admin.get_secret_value(SecretId="svc/access-key", VersionStage="AWSPREVIOUS")["SecretString"])
check("the old key is AWSPREVIOUS", previous["AccessKeyId"] == old_id)
described = admin.describe_secret(SecretId="svc/access-key")
stages = sorted(s for v in described["VersionIdsToStages"].values() for s in v)
check("labels after rotation", stages == ["AWSCURRENT", "AWSPREVIOUS"], stages)
check(
    "rotation described",
    described["RotationEnabled"]
    and described["RotationLambdaARN"] == ROTATOR
    and described["RotationRules"]["ScheduleExpression"] == "cron(0 4 ? * SUN *)"
    and "LastRotatedDate" in described
    and described["NextRotationDate"].weekday() == 6,
    described,
)

new_kms = client("kms", current["AccessKeyId"], current["SecretAccessKey"])
old_kms = client("kms", old_id, old_secret)
check("the new key works", len(new_kms.generate_random(NumberOfBytes=16)["Plaintext"]) == 16)
check("the old key works in the overlap", len(old_kms.generate_random(NumberOfBytes=16)["Plaintext"]) == 16)

# After the overlap the old key is refused; the new one goes on working.
deadline = rotated_at + OVERLAP_SECONDS + 30
while True:
    code = error_code(lambda: old_kms.generate_random(NumberOfBytes=16))
    if code != "ok":
        break
    if time.monotonic() > deadline:
        check("the old key is refused in time", False)
    time.sleep(0.2)
waited = time.monotonic() - rotated_at
check("the old key is refused after the overlap", code in ("ExpiredTokenException", "UnrecognizedClientException"), code)
check("not before the overlap ended", waited >= OVERLAP_SECONDS - 0.5, f"{waited:.1f}s")
check("the new key still works", len(new_kms.generate_random(NumberOfBytes=16)["Plaintext"]) == 16)
print(f"old key refused {waited:.1f}s after the rotation (overlap {OVERLAP_SECONDS}s)", flush=True)

# CancelRotateSecret turns the schedule off and keeps the rotator for later.
admin.cancel_rotate_secret(SecretId="svc/access-key")
described = admin.describe_secret(SecretId="svc/access-key")
check("cancelled", not described["RotationEnabled"] and "NextRotationDate" not in described and described["RotationLambdaARN"] == ROTATOR)
# A rotation the caller may not start is refused and changes nothing.
as_new = client("secretsmanager", current["AccessKeyId"], current["SecretAccessKey"])
check("svc may not rotate", error_code(lambda: as_new.rotate_secret(SecretId="svc/access-key")) == "AccessDeniedException")

print("ALL PASSED", flush=True)
