"""What the boto3 scripts share: one PASS/FAIL line per check, stopping at the first failure, and
the AWS error code of a call that should be refused ("ok" when it was not)."""
import sys

import botocore.exceptions


def check(name, condition, detail=""):
    if not condition:
        print(f"FAIL {name} {detail}", flush=True)
        sys.exit(1)
    print(f"PASS {name}", flush=True)


def error_code(call):
    try:
        call()
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]
    return "ok"
