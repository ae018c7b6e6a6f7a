"""One look at the key core while its HSM comes and goes: GenerateDataKey under each key id
given as an argument (an HSM key and a software key), and the key stores' connection state.
With `--put-secret NAME VALUE` first, puts a new value of that secret before.
Run by tests/it/hsm.rs. Prints one JSON object: per key "ok" or the error code and message."""
import json
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

# No retries: the test looks at each answer as it comes.
kms = boto3.client("kms", config=Config(retries={"max_attempts": 1, "mode": "standard"}))
answers = {}
keys = sys.argv[1:]
if keys[:1] == ["--put-secret"]:
    # --put-secret NAME VALUE: a new AWSCURRENT version first (a key store's PIN, in the tests).
    secrets = boto3.client("secretsmanager")
    secrets.put_secret_value(SecretId=keys[1], SecretString=keys[2])
    keys = keys[3:]
for key in keys:
    try:
        kms.generate_data_key(KeyId=key, KeySpec="AES_256")
        answers[key] = {"result": "ok"}
    except ClientError as e:
        answers[key] = {"result": e.response["Error"]["Code"], "message": e.response["Error"]["Message"],
                        "status": e.response["ResponseMetadata"]["HTTPStatusCode"]}
answers["stores"] = [
    {"id": s["CustomKeyStoreId"], "state": s["ConnectionState"], "code": s.get("ConnectionErrorCode")}
    for s in kms.describe_custom_key_stores()["CustomKeyStores"]
]
print(json.dumps(answers))
