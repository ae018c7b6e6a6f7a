"""The firmware-signing roles of pipeline-examples/policies/ hold exactly what they promise.

With the session credentials in SESSION (JSON from roles.py MODE=assume): `firmware-release`
may only Sign with the firmware key, `device-fleet` may only GetPublicKey of it; every other call
here is refused with AccessDeniedException. Run by tests/it/firmware.rs."""
import json
import os
import sys

import boto3

from checks import error_code

session = json.loads(os.environ["SESSION"])
kms = boto3.client(
    "kms",
    aws_access_key_id=session["AccessKeyId"],
    aws_secret_access_key=session["SecretAccessKey"],
    aws_session_token=session["SessionToken"],
)
key = os.environ["FIRMWARE_KEY_ARN"]
other = os.environ["OTHER_SIGNING_KEY_ARN"]
digest = bytes(32)
calls = {
    "Sign": lambda: kms.sign(KeyId=key, Message=digest, MessageType="DIGEST", SigningAlgorithm="ECDSA_SHA_256"),
    "GetPublicKey": lambda: kms.get_public_key(KeyId=key),
    "Sign(other key)": lambda: kms.sign(KeyId=other, Message=digest, MessageType="DIGEST", SigningAlgorithm="ECDSA_SHA_256"),
    "GetPublicKey(other key)": lambda: kms.get_public_key(KeyId=other),
    "Verify": lambda: kms.verify(KeyId=key, Message=digest, MessageType="DIGEST", Signature=b"0", SigningAlgorithm="ECDSA_SHA_256"),
    "DescribeKey": lambda: kms.describe_key(KeyId=key),
    "CreateKey": lambda: kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY"),
    "DisableKey": lambda: kms.disable_key(KeyId=key),
    "ScheduleKeyDeletion": lambda: kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7),
}
permitted = {"firmware-release": {"Sign"}, "device-fleet": {"GetPublicKey"}}[os.environ["ROLE"]]
failed = False
for name, call in calls.items():
    expected = "ok" if name in permitted else "AccessDeniedException"
    code = error_code(call)
    ok = code == expected
    failed |= not ok
    print(f"{'PASS' if ok else 'FAIL'} {os.environ['ROLE']} {name}: {code}")
sys.exit(1 if failed else 0)
