"""boto3's secretsmanager client against the Lakeseal key core: the whole API, its staging
labels, deletion and restore, resource policies, cross-account reads, a disabled CMK, the example
dashboard role, and AWS's errors for bad input.

Run by tests/it/secrets.rs, which starts the key core and makes the identities named in the
environment (each `<NAME>_KEY` is `access-key-id:secret-access-key`). Prints one line per check;
exits non-zero at the first failure.
"""
import json
import os
import sys

import boto3
import botocore.exceptions
from botocore.config import Config

from checks import check, error_code


def client(service, key=None, session=None):
    kwargs = {"config": Config(retries={"max_attempts": 1})}
    if key:
        access, secret = os.environ[key].split(":", 1)
        kwargs.update(aws_access_key_id=access, aws_secret_access_key=secret)
    if session:
        kwargs.update(
            aws_access_key_id=session["AccessKeyId"],
            aws_secret_access_key=session["SecretAccessKey"],
            aws_session_token=session["SessionToken"],
        )
    return boto3.client(service, **kwargs)


sm = client("secretsmanager")
kms = client("kms")
TOKEN_A = "a" * 32
TOKEN_B = "b" * 32

# Create, read, and the ARN's form.
made = sm.create_secret(Name="db/password", SecretString="first", ClientRequestToken=TOKEN_A, Tags=[{"Key": "team", "Value": "data"}])
arn = made["ARN"]
check("arn form", arn.startswith("arn:aws:secretsmanager:eu-west-1:111122223333:secret:db/password-") and len(arn.rsplit("-", 1)[1]) == 6, arn)
check("first version is the token", made["VersionId"] == TOKEN_A)
got = sm.get_secret_value(SecretId="db/password")
check("read by name", got["SecretString"] == "first" and got["VersionStages"] == ["AWSCURRENT"] and got["ARN"] == arn)
check("read by arn", sm.get_secret_value(SecretId=arn)["SecretString"] == "first")
check("read by partial arn", sm.get_secret_value(SecretId=arn[:-7])["SecretString"] == "first")
check("create retried is idempotent", sm.create_secret(Name="db/password", SecretString="first", ClientRequestToken=TOKEN_A)["VersionId"] == TOKEN_A)
check("create again is refused", error_code(lambda: sm.create_secret(Name="db/password", SecretString="other")) == "ResourceExistsException")

# Labels through puts.
put = sm.put_secret_value(SecretId=arn, SecretString="second", ClientRequestToken=TOKEN_B)
check("put makes a current version", put["VersionId"] == TOKEN_B and put["VersionStages"] == ["AWSCURRENT"])
check("current moved", sm.get_secret_value(SecretId=arn)["SecretString"] == "second")
previous = sm.get_secret_value(SecretId=arn, VersionStage="AWSPREVIOUS")
check("previous kept", previous["SecretString"] == "first" and previous["VersionId"] == TOKEN_A)
check("read by version id", sm.get_secret_value(SecretId=arn, VersionId=TOKEN_A)["SecretString"] == "first")
again = sm.put_secret_value(SecretId=arn, SecretString="second", ClientRequestToken=TOKEN_B)
check("put retried is idempotent", again["VersionId"] == TOKEN_B)
check(
    "same token, other value",
    error_code(lambda: sm.put_secret_value(SecretId=arn, SecretString="changed", ClientRequestToken=TOKEN_B)) == "ResourceExistsException",
)
pending = sm.put_secret_value(SecretId=arn, SecretString="third", VersionStages=["AWSPENDING"])
stages = sm.describe_secret(SecretId=arn)["VersionIdsToStages"]
check(
    "three labels on three versions",
    stages == {TOKEN_A: ["AWSPREVIOUS"], TOKEN_B: ["AWSCURRENT"], pending["VersionId"]: ["AWSPENDING"]},
    stages,
)
check(
    "moving current needs the version that has it",
    error_code(lambda: sm.update_secret_version_stage(SecretId=arn, VersionStage="AWSCURRENT", MoveToVersionId=pending["VersionId"]))
    == "InvalidParameterException",
)
sm.update_secret_version_stage(SecretId=arn, VersionStage="AWSCURRENT", MoveToVersionId=pending["VersionId"], RemoveFromVersionId=TOKEN_B)
sm.update_secret_version_stage(SecretId=arn, VersionStage="AWSPENDING", RemoveFromVersionId=pending["VersionId"])
stages = sm.describe_secret(SecretId=arn)["VersionIdsToStages"]
check("current moved by label", stages == {TOKEN_B: ["AWSPREVIOUS"], pending["VersionId"]: ["AWSCURRENT"]}, stages)
versions = sm.list_secret_version_ids(SecretId=arn)["Versions"]
check("labelled versions listed", sorted(v["VersionId"] for v in versions) == sorted([TOKEN_B, pending["VersionId"]]))
all_versions = sm.list_secret_version_ids(SecretId=arn, IncludeDeprecated=True)["Versions"]
check("deprecated versions listed on request", len(all_versions) == 3)
check("unknown label", error_code(lambda: sm.get_secret_value(SecretId=arn, VersionStage="blue")) == "ResourceNotFoundException")

# Binary values, updates, description, tags, lists.
sm.create_secret(Name="device/cert", SecretBinary=b"\x00\x01binary\xff", Description="device certificate")
check("binary value", sm.get_secret_value(SecretId="device/cert")["SecretBinary"] == b"\x00\x01binary\xff")
updated = sm.update_secret(SecretId="device/cert", SecretString="now text", Description="now text")
check("update adds a current version", sm.get_secret_value(SecretId="device/cert")["SecretString"] == "now text" and "VersionId" in updated)
described = sm.describe_secret(SecretId="device/cert")
check("description updated", described["Description"] == "now text")
sm.tag_resource(SecretId="device/cert", Tags=[{"Key": "team", "Value": "fleet"}, {"Key": "tier", "Value": "1"}])
sm.untag_resource(SecretId="device/cert", TagKeys=["tier"])
check("tags", sm.describe_secret(SecretId="device/cert")["Tags"] == [{"Key": "team", "Value": "fleet"}])
names = [s["Name"] for s in sm.list_secrets()["SecretList"]]
check("list", names == ["db/password", "device/cert"], names)
filtered = sm.list_secrets(Filters=[{"Key": "name", "Values": ["device/"]}])["SecretList"]
check("filter by name", [s["Name"] for s in filtered] == ["device/cert"])
by_tag = sm.list_secrets(Filters=[{"Key": "tag-value", "Values": ["data"]}])["SecretList"]
check("filter by tag value", [s["Name"] for s in by_tag] == ["db/password"])
page = sm.list_secrets(MaxResults=1)
rest = sm.list_secrets(MaxResults=1, NextToken=page["NextToken"])
check("paginated", [s["Name"] for s in page["SecretList"] + rest["SecretList"]] == ["db/password", "device/cert"] and "NextToken" not in rest)
batch = sm.batch_get_secret_value(SecretIdList=["db/password", "device/cert", "no/such"])
check(
    "batch get",
    sorted(v["Name"] for v in batch["SecretValues"]) == ["db/password", "device/cert"]
    and [e["ErrorCode"] for e in batch["Errors"]] == ["ResourceNotFoundException"],
    batch["Errors"],
)

# Deletion window and restore; force delete.
deleted = sm.delete_secret(SecretId="device/cert", RecoveryWindowInDays=7)
check("deletion scheduled", "DeletionDate" in deleted)
check("reads refused while pending", error_code(lambda: sm.get_secret_value(SecretId="device/cert")) == "InvalidRequestException")
check("hidden from lists", [s["Name"] for s in sm.list_secrets()["SecretList"]] == ["db/password"])
check("listed on request", len(sm.list_secrets(IncludePlannedDeletion=True)["SecretList"]) == 2)
check("window out of range", error_code(lambda: sm.delete_secret(SecretId="db/password", RecoveryWindowInDays=3)) == "InvalidParameterException")
sm.restore_secret(SecretId="device/cert")
check("restored", sm.get_secret_value(SecretId="device/cert")["SecretString"] == "now text")
sm.delete_secret(SecretId="device/cert", ForceDeleteWithoutRecovery=True)
check("force deleted", error_code(lambda: sm.get_secret_value(SecretId="device/cert")) == "ResourceNotFoundException")
remade = sm.create_secret(Name="device/cert", SecretString="new")
check("name free again, new arn", remade["ARN"] != described["ARN"])

# A disabled CMK refuses reads; enabled again, they work.
key = kms.create_key(Description="secrets")["KeyMetadata"]
sm.create_secret(Name="sealed/by-cmk", SecretString="under my key", KmsKeyId=key["Arn"])
check("read under a CMK", sm.get_secret_value(SecretId="sealed/by-cmk")["SecretString"] == "under my key")
kms.disable_key(KeyId=key["KeyId"])
check("disabled CMK refuses reads", error_code(lambda: sm.get_secret_value(SecretId="sealed/by-cmk")) == "DecryptionFailure")
check("disabled CMK refuses writes", error_code(lambda: sm.put_secret_value(SecretId="sealed/by-cmk", SecretString="x")) == "EncryptionFailure")
kms.enable_key(KeyId=key["KeyId"])
check("enabled again", sm.get_secret_value(SecretId="sealed/by-cmk")["SecretString"] == "under my key")

# Resource policies: a deny wins over an identity allow; a public policy is blocked.
reader = client("secretsmanager", key="READER_KEY")
check("reader may read", reader.get_secret_value(SecretId="db/password")["SecretString"] == "third")
reader_arn = os.environ["READER_ARN"]
deny = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Principal": {"AWS": reader_arn}, "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]}
sm.put_resource_policy(SecretId="db/password", ResourcePolicy=json.dumps(deny))
check("resource policy read back", json.loads(sm.get_resource_policy(SecretId="db/password")["ResourcePolicy"]) == deny)
check("resource policy deny wins", error_code(lambda: reader.get_secret_value(SecretId="db/password")) == "AccessDeniedException")
sm.delete_resource_policy(SecretId="db/password")
check("deny removed", reader.get_secret_value(SecretId="db/password")["SecretString"] == "third")
public = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]}
check("public policy blocked", error_code(lambda: sm.put_resource_policy(SecretId="db/password", ResourcePolicy=json.dumps(public))) == "PublicPolicyException")
check("malformed policy", error_code(lambda: sm.put_resource_policy(SecretId="db/password", ResourcePolicy="{not json")) == "MalformedPolicyDocumentException")

# Another account needs both the secret's resource policy and its own identity policy (and a
# CMK whose key policy lets it decrypt).
outsider = client("secretsmanager", key="OUTSIDER_KEY")
bare = client("secretsmanager", key="OUTSIDER_BARE_KEY")
cross_policy = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"},
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::444455556666:root"}, "Action": "kms:Decrypt", "Resource": "*"},
    ],
}
shared_key = kms.create_key(Description="shared", Policy=json.dumps(cross_policy))["KeyMetadata"]
shared_arn = sm.create_secret(Name="shared/feed", SecretString="shared value", KmsKeyId=shared_key["Arn"])["ARN"]
code = error_code(lambda: outsider.get_secret_value(SecretId=shared_arn))
check("no resource policy, no cross-account read", code == "AccessDeniedException", code)
grant = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::444455556666:root"}, "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]}
sm.put_resource_policy(SecretId=shared_arn, ResourcePolicy=json.dumps(grant))
check("both policies, cross-account read", outsider.get_secret_value(SecretId=shared_arn)["SecretString"] == "shared value")
check("resource policy alone is not enough", error_code(lambda: bare.get_secret_value(SecretId=shared_arn)) == "AccessDeniedException")

# The example dashboard role reads exactly its one secret.
sm.create_secret(Name="dashboard/warehouse", SecretString='{"username":"dash","password":"pw"}')
sts = client("sts")
session = sts.assume_role(RoleArn=os.environ["DASHBOARD_ROLE_ARN"], RoleSessionName="dashboard")["Credentials"]
dashboard = client("secretsmanager", session=session)
check("dashboard reads its secret", json.loads(dashboard.get_secret_value(SecretId="dashboard/warehouse")["SecretString"])["username"] == "dash")
for other in ["db/password", "sealed/by-cmk"]:
    check(f"dashboard may not read {other}", error_code(lambda: dashboard.get_secret_value(SecretId=other)) == "AccessDeniedException")
check("dashboard may not list", error_code(lambda: dashboard.list_secrets()) == "AccessDeniedException")
check("dashboard may not write", error_code(lambda: dashboard.put_secret_value(SecretId="dashboard/warehouse", SecretString="x")) == "AccessDeniedException")

# Bad input gets AWS's errors.
check("oversized value", error_code(lambda: sm.create_secret(Name="big", SecretString="x" * 65537)) == "InvalidParameterException")
check("bad name", error_code(lambda: sm.create_secret(Name="bad name!", SecretString="x")) == "InvalidParameterException")
check("bad token", error_code(lambda: sm.put_secret_value(SecretId=arn, SecretString="x", ClientRequestToken="!" * 40)) == "InvalidParameterException")
check("both value kinds", error_code(lambda: sm.create_secret(Name="both", SecretString="x", SecretBinary=b"y")) == "InvalidParameterException")
check("unknown secret", error_code(lambda: sm.describe_secret(SecretId="no/such")) == "ResourceNotFoundException")
check("bad filter", error_code(lambda: sm.list_secrets(Filters=[{"Key": "colour", "Values": ["x"]}])) == "InvalidParameterException")
print("ALL PASSED", flush=True)
