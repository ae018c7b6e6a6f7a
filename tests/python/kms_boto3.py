"""boto3 against the Lakeseal key core: the KMS operations a pipeline uses, and the refusals.

Run by tests/it/clients.rs with AWS_ENDPOINT_URL_KMS, AWS_SHARED_CREDENTIALS_FILE and
AWS_DEFAULT_REGION pointing at a key core it started. Prints one line per check; exits non-zero
at the first failure.
"""
import os
import sys

import boto3
import botocore.exceptions


def check(name, condition):
    if not condition:
        print(f"FAIL {name}", flush=True)
        sys.exit(1)
    print(f"PASS {name}", flush=True)


def error_code(call):
    try:
        call()
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]
    return None


kms = boto3.client("kms")

key = kms.create_key(Description="telemetry")["KeyMetadata"]
check("create key", key["KeyState"] == "Enabled" and key["Arn"].endswith(key["KeyId"]))
kms.create_alias(AliasName="alias/telemetry", TargetKeyId=key["KeyId"])
aliases = kms.list_aliases(KeyId=key["KeyId"])["Aliases"]
check("alias", [a["AliasName"] for a in aliases] == ["alias/telemetry"])

context = {"table": "telemetry", "topic": "iot"}
dek = kms.generate_data_key(KeyId="alias/telemetry", KeySpec="AES_256", EncryptionContext=context)
check("generate data key", len(dek["Plaintext"]) == 32 and dek["KeyId"] == key["Arn"])
back = kms.decrypt(CiphertextBlob=dek["CiphertextBlob"], EncryptionContext=context)
check("decrypt data key", back["Plaintext"] == dek["Plaintext"])
check(
    "context must match",
    error_code(lambda: kms.decrypt(CiphertextBlob=dek["CiphertextBlob"], EncryptionContext={"table": "x"}))
    == "InvalidCiphertextException",
)

secret = b"device 7 telemetry credentials"
enc = kms.encrypt(KeyId=key["KeyId"], Plaintext=secret, EncryptionContext={"purpose": "test"})
dec = kms.decrypt(CiphertextBlob=enc["CiphertextBlob"], EncryptionContext={"purpose": "test"})
check("encrypt/decrypt with context", dec["Plaintext"] == secret)

other = kms.create_key(Description="archive")["KeyMetadata"]
moved = kms.re_encrypt(
    CiphertextBlob=enc["CiphertextBlob"],
    SourceEncryptionContext={"purpose": "test"},
    DestinationKeyId=other["KeyId"],
    DestinationEncryptionContext={"purpose": "archive"},
)
check("re-encrypt", moved["SourceKeyId"] == key["Arn"] and moved["KeyId"] == other["Arn"])
check(
    "re-encrypted decrypts under the new key",
    kms.decrypt(CiphertextBlob=moved["CiphertextBlob"], EncryptionContext={"purpose": "archive"})["Plaintext"]
    == secret,
)

kms.rotate_key_on_demand(KeyId=key["KeyId"])
rotations = kms.list_key_rotations(KeyId=key["KeyId"])["Rotations"]
check("rotation on demand", len(rotations) == 1 and rotations[0]["RotationType"] == "ON_DEMAND")
check(
    "old ciphertext decrypts after rotation",
    kms.decrypt(CiphertextBlob=dek["CiphertextBlob"], EncryptionContext=context)["Plaintext"] == dek["Plaintext"],
)

kms.disable_key(KeyId=key["KeyId"])
check(
    "disabled key refuses",
    error_code(lambda: kms.decrypt(CiphertextBlob=dek["CiphertextBlob"], EncryptionContext=context))
    == "DisabledException",
)
kms.enable_key(KeyId=key["KeyId"])
check(
    "deletion window of 6 days refused",
    error_code(lambda: kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=6))
    == "ValidationException",
)

creds = boto3.Session().get_credentials()
wrong_secret = boto3.client(
    "kms",
    aws_access_key_id=creds.access_key,
    aws_secret_access_key="x" * 40,
)
check("wrong secret key refused", error_code(lambda: wrong_secret.list_keys()) == "InvalidSignatureException")
unknown = boto3.client("kms", aws_access_key_id="AKIA" + "Z" * 16, aws_secret_access_key="x" * 40)
check("unknown access key refused", error_code(lambda: unknown.list_keys()) == "UnrecognizedClientException")
check("not found", error_code(lambda: kms.describe_key(KeyId="alias/nope")) == "NotFoundException")
print("ALL PASSED", flush=True)
