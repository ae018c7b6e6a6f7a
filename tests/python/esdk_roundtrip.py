"""The AWS Encryption SDK for Python, with the Lakeseal key core as its KMS.

Run by tests/it/clients.rs; KEY_ARN names a key it created. Exits non-zero on failure.
"""
import os
import sys

import aws_encryption_sdk
from aws_encryption_sdk import CommitmentPolicy

arn = os.environ["KEY_ARN"]
client = aws_encryption_sdk.EncryptionSDKClient(
    commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
)
provider = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(key_ids=[arn])
message = b"sensor 42: 21.5 C, battery 3.61 V"
ciphertext, header = client.encrypt(
    source=message, key_provider=provider, encryption_context={"table": "telemetry"}
)
plaintext, decrypted_header = client.decrypt(source=ciphertext, key_provider=provider)
if plaintext != message or decrypted_header.encryption_context.get("table") != "telemetry":
    print("FAIL round trip")
    sys.exit(1)
if message in ciphertext:
    print("FAIL plaintext visible in the message")
    sys.exit(1)
print(f"PASS esdk round trip ({len(ciphertext)} bytes)")
