"""One look at the key core while its HSM comes and goes: GenerateDataKey under each key id
given as an argument (an HSM key and a software key), and the key stores' connection state.
Run by tests/it/hsm.rs. Prints one JSON object: per key "ok" or the error code and message."""
import json
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

# No retries: the test looks at each answer as it comes.
kms = boto3.client("kms", config=Config(retries={"max_attempts": 1, "mode": "standard"}))
answers = {}
for key in sys.argv[1:]:
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
