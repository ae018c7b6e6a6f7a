"""COUNT calls that the caller's (empty) policies refuse: ListKeys as a user with no permissions.
Run by tests/it/alerts.rs against a served key core whose [alerts] denied_burst is COUNT."""
import os
import sys

import boto3

from checks import error_code

kms = boto3.client("kms")
codes = [error_code(lambda: kms.list_keys()) for _ in range(int(os.environ["COUNT"]))]
ok = all(code == "AccessDeniedException" for code in codes)
print(f"{'PASS' if ok else 'FAIL'} refused: {codes}")
sys.exit(0 if ok else 1)
