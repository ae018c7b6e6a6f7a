"""After an HSM key's deletion window ended (tests/it/hsm.rs moves the key core's clock): a blob
it made, and the key itself, as boto3 sees them. BLOB (base64) and CONTEXT (JSON) name the blob,
KEY the key. Prints one JSON object of the error codes."""
import base64
import json
import os

import boto3
from botocore.exceptions import ClientError

kms = boto3.client("kms")


def code(call):
    try:
        call()
    except ClientError as e:
        return e.response["Error"]["Code"]
    return None


print(json.dumps({
    "decrypt": code(lambda: kms.decrypt(CiphertextBlob=base64.b64decode(os.environ["BLOB"]),
                                        EncryptionContext=json.loads(os.environ["CONTEXT"]))),
    "generate": code(lambda: kms.generate_data_key(KeyId=os.environ["KEY"], KeySpec="AES_256")),
}))
