"""Malformed requests, signed correctly with botocore's SigV4 signer, sent raw to the KMS and
the Secrets Manager protocols: each gets the AWS error type it should, never a 500. Run by
tests/it/clients.rs."""
import json
import os
import sys
import urllib.error
import urllib.request

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

endpoint = os.environ["AWS_ENDPOINT_URL_KMS"]
region = os.environ["AWS_DEFAULT_REGION"]
credentials = boto3.Session().get_credentials()
key_id = boto3.client("kms").create_key()["KeyMetadata"]["KeyId"]
boto3.client("secretsmanager", endpoint_url=endpoint).create_secret(Name="app/token", SecretString="x")


def send(target, body, content_type="application/x-amz-json-1.1"):
    headers = {"Content-Type": content_type}
    if target:
        headers["X-Amz-Target"] = target
    request = AWSRequest(method="POST", url=endpoint + "/", data=body, headers=headers)
    service = "secretsmanager" if target and target.startswith("secretsmanager.") else "kms"
    SigV4Auth(credentials, service, region).add_auth(request)
    prepared = urllib.request.Request(endpoint + "/", data=body, headers=dict(request.headers), method="POST")
    try:
        with urllib.request.urlopen(prepared) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


cases = [
    ("malformed JSON", "TrentService.Encrypt", b"{not json", "SerializationException"),
    ("wrong member type", "TrentService.Encrypt", json.dumps({"KeyId": 7, "Plaintext": "aGk="}).encode(), "SerializationException"),
    ("unknown target", "TrentService.MakeCoffee", b"{}", "UnknownOperationException"),
    ("no target", None, b"{}", "UnknownOperationException"),
    ("bad base64", "TrentService.Decrypt", json.dumps({"CiphertextBlob": "***"}).encode(), "SerializationException"),
    ("garbage ciphertext", "TrentService.Decrypt", json.dumps({"CiphertextBlob": "AAAA"}).encode(), "InvalidCiphertextException"),
    ("unknown key", "TrentService.DescribeKey", json.dumps({"KeyId": "alias/nope"}).encode(), "NotFoundException"),
    ("oversized context", "TrentService.GenerateDataKey",
     json.dumps({"KeyId": key_id, "KeySpec": "AES_256", "EncryptionContext": {"k": "v" * 9000}}).encode(), "ValidationException"),
    ("body over 128 KiB", "TrentService.Encrypt", b'{"KeyId":"' + b"x" * 140000 + b'"}', "ValidationException"),
    ("plaintext over 4096", "TrentService.Encrypt",
     json.dumps({"KeyId": key_id, "Plaintext": "A" * 8000}).encode(), "ValidationException"),
    ("secrets: malformed JSON", "secretsmanager.GetSecretValue", b"{not json", "SerializationException"),
    ("secrets: unknown operation", "secretsmanager.MakeCoffee", b"{}", "UnknownOperationException"),
    ("secrets: value over 64 KiB", "secretsmanager.CreateSecret",
     json.dumps({"Name": "big", "SecretString": "v" * 70000}).encode(), "InvalidParameterException"),
    ("secrets: bad name", "secretsmanager.CreateSecret",
     json.dumps({"Name": "bad name", "SecretString": "v"}).encode(), "InvalidParameterException"),
    ("secrets: bad base64", "secretsmanager.CreateSecret",
     json.dumps({"Name": "b64", "SecretBinary": "***"}).encode(), "SerializationException"),
    ("secrets: unknown label", "secretsmanager.GetSecretValue",
     json.dumps({"SecretId": "app/token", "VersionStage": "nope"}).encode(), "ResourceNotFoundException"),
    ("secrets: body over 128 KiB", "secretsmanager.PutSecretValue",
     b'{"SecretId":"app/token","SecretString":"' + b"x" * 140000 + b'"}', "InvalidParameterException"),
]
failed = False
for name, target, body, expected in cases:
    status, reply = send(target, body)
    kind = reply.get("__type")
    ok = kind == expected and status < 500 and reply.get("message")
    print(f"{'PASS' if ok else 'FAIL'} {name}: {status} {kind} {reply.get('message', '')[:80]}")
    failed |= not ok
sys.exit(1 if failed else 0)
