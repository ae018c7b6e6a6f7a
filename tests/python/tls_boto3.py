"""boto3 over HTTPS to the key core: verify= the private CA's file works for KMS, Secrets Manager,
IAM and STS; verify= a CA that signed nothing of the server's is refused before any request; and
plain HTTP to the TLS port gets no answer. Run by tests/it/keycore_tls.rs."""
import os

import boto3
import botocore.config
import botocore.exceptions

from checks import check

# Only verify= decides here, not the bundle the harness names for other scripts.
os.environ.pop("AWS_CA_BUNDLE", None)
ca, other = os.environ["CA_FILE"], os.environ["OTHER_CA_FILE"]
once = botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"})

kms = boto3.client("kms", verify=ca)
key = kms.create_key()["KeyMetadata"]["KeyId"]
made = kms.generate_data_key(KeyId=key, KeySpec="AES_256")
check("kms over https", kms.decrypt(CiphertextBlob=made["CiphertextBlob"])["Plaintext"] == made["Plaintext"])

sm = boto3.client("secretsmanager", verify=ca)
sm.create_secret(Name="tls/probe", SecretString="over-tls")
check("secretsmanager over https", sm.get_secret_value(SecretId="tls/probe")["SecretString"] == "over-tls")

iam = boto3.client("iam", verify=ca)
trust = '{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}}'
role = iam.create_role(RoleName="tls-probe", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
sts = boto3.client("sts", verify=ca)
session = sts.assume_role(RoleArn=role, RoleSessionName="tls")["Credentials"]
check("iam and sts over https", session["AccessKeyId"].startswith("ASIA"))

try:
    boto3.client("kms", verify=other, config=once).list_keys()
    check("another CA refused", False, "the call went through")
except botocore.exceptions.SSLError as e:
    check("another CA refused", "CERTIFICATE_VERIFY_FAILED" in str(e), str(e))

plain = os.environ["AWS_ENDPOINT_URL_KMS"].replace("https://", "http://")
try:
    boto3.client("kms", endpoint_url=plain, config=once).list_keys()
    check("plain http refused", False, "the call went through")
except (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError) as e:
    check("plain http refused", True)
