"""boto3 on the key core's credentials endpoint: no access key anywhere, only
AWS_CONTAINER_CREDENTIALS_FULL_URI and AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE, as an ECS task has.
The role may make data keys under KEY_ARN and nothing else. Run by tests/it/credentials_endpoint.rs."""
import os
import sys

import boto3
import botocore.session

from checks import error_code

session = botocore.session.get_session()
credentials = session.get_credentials()
if credentials is None or credentials.method != "container-role":
    print(f"FAIL credentials came from {getattr(credentials, 'method', None)}, not the endpoint")
    sys.exit(1)
frozen = credentials.get_frozen_credentials()
print(f"PASS credentials from the endpoint: {frozen.access_key[:4]}... with a session token: {bool(frozen.token)}")

kms = boto3.client("kms", endpoint_url=os.environ["AWS_ENDPOINT_URL_KMS"])
key = os.environ["KEY_ARN"]
dek = kms.generate_data_key(KeyId=key, KeySpec="AES_256")
print(f"PASS GenerateDataKey as the role: {len(dek['Plaintext'])} bytes")
code = error_code(lambda: kms.create_key())
print(f"{'PASS' if code == 'AccessDeniedException' else 'FAIL'} CreateKey as the role: {code}")
sys.exit(0 if code == "AccessDeniedException" else 1)
