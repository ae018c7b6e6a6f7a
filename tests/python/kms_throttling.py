"""Throttling: over the account's control-plane quota, requests get ThrottlingException; boto3's
standard retry mode backs off and gets through. Run by tests/it/clients.rs against a key core
started with a quota of 2 control requests per second."""
import concurrent.futures
import sys

import boto3
import botocore.exceptions
from botocore.config import Config

no_retry = boto3.client("kms", config=Config(retries={"mode": "standard", "max_attempts": 1}))


def one(_):
    try:
        no_retry.list_keys()
        return "ok"
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]


# Twenty requests at once: far more than a burst of 2, however slow this machine is today.
with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
    codes = list(pool.map(one, range(20)))
if "ThrottlingException" not in codes or "ok" not in codes:
    print(f"FAIL throttling: {codes}")
    sys.exit(1)
print(f"PASS throttled: {codes.count('ThrottlingException')} of {len(codes)}")

retrying = boto3.client("kms", config=Config(retries={"mode": "standard", "max_attempts": 10}))
for _ in range(6):
    retrying.list_keys()
print("PASS standard retries got every request through")
