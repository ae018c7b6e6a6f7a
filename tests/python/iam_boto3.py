"""boto3's IAM client against the Lakeseal key core: users, access keys, roles and inline
policies managed over the API while it serves.

Run by tests/it/clients.rs with AWS_ENDPOINT_URL_KMS (the key core serves IAM on the same
endpoint), AWS_SHARED_CREDENTIALS_FILE (the admin) and AWS_DEFAULT_REGION. Prints one line per
check; exits non-zero at the first failure.
"""
import json
import os
import sys

import boto3
import botocore.exceptions


def check(name, condition):
    if not condition:
        print(f"FAIL {name}", flush=True)
        sys.exit(1)
    print(f"PASS {name}", flush=True)


def error_code(call):
    try:
        call()
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]
    return None


endpoint = os.environ["AWS_ENDPOINT_URL_KMS"]
iam = boto3.client("iam", endpoint_url=endpoint)

user = iam.create_user(UserName="writer")["User"]
check("create user", user["UserName"] == "writer" and user["Arn"].endswith(":user/writer"))
check("create date is a date", user["CreateDate"].year >= 2024)
check("get user", iam.get_user(UserName="writer")["User"]["Arn"] == user["Arn"])
check("list users", "writer" in [u["UserName"] for u in iam.list_users()["Users"]])
check("a user is made once", error_code(lambda: iam.create_user(UserName="writer")) == "EntityAlreadyExists")

may_list = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:ListKeys", "Resource": "*"}]}
iam.put_user_policy(UserName="writer", PolicyName="list-keys", PolicyDocument=json.dumps(may_list))
got = iam.get_user_policy(UserName="writer", PolicyName="list-keys")
check("get user policy", got["PolicyDocument"] == may_list and got["PolicyName"] == "list-keys")
check("list user policies", iam.list_user_policies(UserName="writer")["PolicyNames"] == ["list-keys"])
check(
    "a malformed policy is refused",
    error_code(lambda: iam.put_user_policy(UserName="writer", PolicyName="bad", PolicyDocument='{"Statment": []}'))
    == "MalformedPolicyDocument",
)

key = iam.create_access_key(UserName="writer")["AccessKey"]
check("create access key", key["AccessKeyId"].startswith("AKIA") and len(key["SecretAccessKey"]) == 40)
listed = iam.list_access_keys(UserName="writer")["AccessKeyMetadata"]
check("list access keys", [k["AccessKeyId"] for k in listed] == [key["AccessKeyId"]])
last_used = iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])
check("last use names the owner", last_used["UserName"] == "writer")
check("an unknown key is no entity", error_code(lambda: iam.get_access_key_last_used(AccessKeyId="AKIA" + "Q" * 16)) == "NoSuchEntity")
as_writer = dict(
    endpoint_url=endpoint,
    aws_access_key_id=key["AccessKeyId"],
    aws_secret_access_key=key["SecretAccessKey"],
)
kms_writer = boto3.client("kms", **as_writer)
check("the new key signs", "Keys" in kms_writer.list_keys())
check("its policy bounds it", error_code(lambda: kms_writer.create_key()) == "AccessDeniedException")
iam_writer = boto3.client("iam", **as_writer)
check("it may not manage identities", error_code(lambda: iam_writer.create_user(UserName="x")) == "AccessDenied")
check("a user with keys is not deleted", error_code(lambda: iam.delete_user(UserName="writer")) == "DeleteConflict")

iam.delete_access_key(UserName="writer", AccessKeyId=key["AccessKeyId"])
check("a deleted key signs no more", error_code(lambda: kms_writer.list_keys()) == "UnrecognizedClientException")
iam.delete_user_policy(UserName="writer", PolicyName="list-keys")
iam.delete_user(UserName="writer")
check("the user is gone", error_code(lambda: iam.get_user(UserName="writer")) == "NoSuchEntity")

account = user["Arn"].split(":")[4]
trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "sts:AssumeRole"}]}
role = iam.create_role(RoleName="stage", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
check("create role", role["Arn"].endswith(":role/stage"))
check("get role", iam.get_role(RoleName="stage")["Role"]["AssumeRolePolicyDocument"] == trust)
check("list roles", [r["RoleName"] for r in iam.list_roles()["Roles"]] == ["stage"])
iam.put_role_policy(RoleName="stage", PolicyName="list-keys", PolicyDocument=json.dumps(may_list))
check("get role policy", iam.get_role_policy(RoleName="stage", PolicyName="list-keys")["PolicyDocument"] == may_list)
check("list role policies", iam.list_role_policies(RoleName="stage")["PolicyNames"] == ["list-keys"])
check("a role with policies is not deleted", error_code(lambda: iam.delete_role(RoleName="stage")) == "DeleteConflict")
iam.delete_role_policy(RoleName="stage", PolicyName="list-keys")
iam.delete_role(RoleName="stage")
check("the role is gone", error_code(lambda: iam.get_role(RoleName="stage")) == "NoSuchEntity")
print("ALL PASSED")
