"""Least privilege, as the example roles in pipeline-examples/policies/ promise.

MODE=assume: assume ROLE_ARN with the admin's credentials and print the temporary credentials
as JSON. MODE=check: with those credentials (SESSION env), every permitted call of ROLE must
succeed and every forbidden one must be refused with AccessDeniedException. MODE=expired: the
credentials must be refused as expired. Run by tests/it/policies.rs."""
import json
import os
import sys

import boto3

from checks import error_code

endpoint = os.environ["AWS_ENDPOINT_URL_KMS"]
mode = os.environ["MODE"]


if mode == "assume":
    sts = boto3.client("sts", endpoint_url=endpoint)
    creds = sts.assume_role(RoleArn=os.environ["ROLE_ARN"], RoleSessionName="policy-test")["Credentials"]
    print(json.dumps({k: str(v) for k, v in creds.items()}))
    sys.exit(0)

session = json.loads(os.environ["SESSION"])
kms = boto3.client(
    "kms",
    aws_access_key_id=session["AccessKeyId"],
    aws_secret_access_key=session["SecretAccessKey"],
    aws_session_token=session["SessionToken"],
)
key = os.environ["TELEMETRY_KEY_ARN"]
other = os.environ["OTHER_KEY_ARN"]
telemetry = {"table": "telemetry"}

if mode == "expired":
    code = error_code(lambda: kms.generate_data_key(KeyId=key, KeySpec="AES_256", EncryptionContext=telemetry))
    print(f"{'PASS' if code == 'ExpiredTokenException' else 'FAIL'} expired credentials: {code}")
    sys.exit(0 if code == "ExpiredTokenException" else 1)

blob = os.environ["TELEMETRY_BLOB"]
import base64


blob = base64.b64decode(blob)
calls = {
    "GenerateDataKey(telemetry)": lambda: kms.generate_data_key(KeyId=key, KeySpec="AES_256", EncryptionContext=telemetry),
    "Decrypt(telemetry)": lambda: kms.decrypt(CiphertextBlob=blob, EncryptionContext=telemetry),
    "GenerateDataKey(billing context)": lambda: kms.generate_data_key(KeyId=key, KeySpec="AES_256", EncryptionContext={"table": "billing"}),
    "GenerateDataKey(other key)": lambda: kms.generate_data_key(KeyId=other, KeySpec="AES_256", EncryptionContext=telemetry),
    "Encrypt": lambda: kms.encrypt(KeyId=key, Plaintext=b"x", EncryptionContext=telemetry),
    "DescribeKey": lambda: kms.describe_key(KeyId=key),
    "ListKeys": lambda: kms.list_keys(),
    "CreateKey": lambda: kms.create_key(),
    "DisableKey": lambda: kms.disable_key(KeyId=key),
    "ScheduleKeyDeletion": lambda: kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7),
    "PutKeyPolicy": lambda: kms.put_key_policy(KeyId=key, PolicyName="default", Policy="{}"),
    "GenerateRandom": lambda: kms.generate_random(NumberOfBytes=16),
}
permitted = {
    "stage": {"GenerateDataKey(telemetry)", "Decrypt(telemetry)"},
    "query": {"Decrypt(telemetry)"},
    "dashboard": set(),
    "ingest": set(),
}[os.environ["ROLE"]]
failed = False
for name, call in calls.items():
    expected = "ok" if name in permitted else "AccessDeniedException"
    code = error_code(call)
    ok = code == expected
    failed |= not ok
    print(f"{'PASS' if ok else 'FAIL'} {os.environ['ROLE']} {name}: {code}")
sys.exit(1 if failed else 0)
