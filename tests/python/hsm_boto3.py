"""HSM-backed keys through boto3, as an application would use them: a symmetric key in the
PKCS#11 key store STORE_ID (data keys, encryption context, rotation with old blobs still
opening, disable), and ECDSA and RSA keys whose signatures Python's `cryptography` checks with
only the public key. Run by tests/it/hsm.rs. Prints one JSON line of what it made, then PASS."""
import base64
import json
import os

import boto3
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, utils

kms = boto3.client("kms")
store_id = os.environ["STORE_ID"]


def code(call):
    try:
        call()
    except ClientError as e:
        return e.response["Error"]["Code"]
    return None


stores = kms.describe_custom_key_stores()["CustomKeyStores"]
mine = [s for s in stores if s["CustomKeyStoreId"] == store_id]
assert mine and mine[0]["ConnectionState"] == "CONNECTED", stores
assert mine[0]["CustomKeyStoreType"] == "AWS_CLOUDHSM", mine
assert code(lambda: kms.describe_custom_key_stores(CustomKeyStoreId="cks-absent")) == "CustomKeyStoreNotFoundException"
assert code(lambda: kms.create_key(Origin="AWS_CLOUDHSM", CustomKeyStoreId="cks-absent")) == "CustomKeyStoreNotFoundException"

meta = kms.create_key(Origin="AWS_CLOUDHSM", CustomKeyStoreId=store_id, Description="telemetry, in the HSM")["KeyMetadata"]
assert meta["Origin"] == "AWS_CLOUDHSM" and meta["CustomKeyStoreId"] == store_id, meta
key = meta["KeyId"]
assert kms.describe_key(KeyId=key)["KeyMetadata"]["CustomKeyStoreId"] == store_id

ctx = {"table": "telemetry", "tenant": "a"}
dk = kms.generate_data_key(KeyId=key, KeySpec="AES_256", EncryptionContext=ctx)
assert len(dk["Plaintext"]) == 32
opened = kms.decrypt(CiphertextBlob=dk["CiphertextBlob"], EncryptionContext=ctx)
assert opened["Plaintext"] == dk["Plaintext"] and opened["KeyId"] == meta["Arn"], opened
assert code(lambda: kms.decrypt(CiphertextBlob=dk["CiphertextBlob"], EncryptionContext={"table": "other"})) == "InvalidCiphertextException"
assert code(lambda: kms.decrypt(CiphertextBlob=dk["CiphertextBlob"])) == "InvalidCiphertextException"
tampered = bytearray(dk["CiphertextBlob"])
tampered[-1] ^= 1
assert code(lambda: kms.decrypt(CiphertextBlob=bytes(tampered), EncryptionContext=ctx)) == "InvalidCiphertextException"
sealed = kms.encrypt(KeyId=key, Plaintext=b"reading 21.5", EncryptionContext=ctx)["CiphertextBlob"]

# Rotation makes a new token key; blobs of the old one still open.
kms.rotate_key_on_demand(KeyId=key)
assert len(kms.list_key_rotations(KeyId=key)["Rotations"]) == 1
dk2 = kms.generate_data_key(KeyId=key, NumberOfBytes=32, EncryptionContext=ctx)
assert kms.decrypt(CiphertextBlob=dk["CiphertextBlob"], EncryptionContext=ctx)["Plaintext"] == dk["Plaintext"]
assert kms.decrypt(CiphertextBlob=dk2["CiphertextBlob"], EncryptionContext=ctx)["Plaintext"] == dk2["Plaintext"]
moved = kms.re_encrypt(CiphertextBlob=sealed, SourceEncryptionContext=ctx, DestinationKeyId=key,
                       DestinationEncryptionContext={"table": "archive"})["CiphertextBlob"]
assert kms.decrypt(CiphertextBlob=moved, EncryptionContext={"table": "archive"})["Plaintext"] == b"reading 21.5"

kms.disable_key(KeyId=key)
assert code(lambda: kms.decrypt(CiphertextBlob=dk["CiphertextBlob"], EncryptionContext=ctx)) == "DisabledException"
assert code(lambda: kms.generate_data_key(KeyId=key, KeySpec="AES_256")) == "DisabledException"
kms.enable_key(KeyId=key)
assert kms.decrypt(CiphertextBlob=dk["CiphertextBlob"], EncryptionContext=ctx)["Plaintext"] == dk["Plaintext"]

signing = []
message = b"firmware image 1.4.2"
for spec, algorithm, digest in (
    ("ECC_NIST_P256", "ECDSA_SHA_256", hashes.SHA256()),
    ("ECC_NIST_P384", "ECDSA_SHA_384", hashes.SHA384()),
):
    signer = kms.create_key(Origin="AWS_CLOUDHSM", CustomKeyStoreId=store_id, KeySpec=spec,
                            KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    assert signer["SigningAlgorithms"] == [algorithm], signer
    public = serialization.load_der_public_key(kms.get_public_key(KeyId=signer["KeyId"])["PublicKey"])
    signature = kms.sign(KeyId=signer["KeyId"], Message=message, MessageType="RAW",
                         SigningAlgorithm=algorithm)["Signature"]
    public.verify(signature, message, ec.ECDSA(digest))  # raises InvalidSignature if not
    hasher = hashes.Hash(digest)
    hasher.update(message)
    prehashed = hasher.finalize()
    signature = kms.sign(KeyId=signer["KeyId"], Message=prehashed, MessageType="DIGEST",
                         SigningAlgorithm=algorithm)["Signature"]
    public.verify(signature, prehashed, ec.ECDSA(utils.Prehashed(digest)))
    assert kms.verify(KeyId=signer["KeyId"], Message=message, Signature=signature,
                      SigningAlgorithm=algorithm)["SignatureValid"]
    assert code(lambda: kms.verify(KeyId=signer["KeyId"], Message=b"another image", Signature=signature,
                                   SigningAlgorithm=algorithm)) == "KMSInvalidSignatureException"
    signing.append(signer["KeyId"])

rsa = kms.create_key(Origin="AWS_CLOUDHSM", CustomKeyStoreId=store_id, KeySpec="RSA_2048",
                     KeyUsage="SIGN_VERIFY")["KeyMetadata"]
rsa_public = serialization.load_der_public_key(kms.get_public_key(KeyId=rsa["KeyId"])["PublicKey"])
assert rsa_public.key_size == 2048
for algorithm, digest, pad in (
    ("RSASSA_PSS_SHA_256", hashes.SHA256(), lambda d: padding.PSS(padding.MGF1(d), d.digest_size)),
    ("RSASSA_PSS_SHA_512", hashes.SHA512(), lambda d: padding.PSS(padding.MGF1(d), d.digest_size)),
    ("RSASSA_PKCS1_V1_5_SHA_384", hashes.SHA384(), lambda d: padding.PKCS1v15()),
):
    signature = kms.sign(KeyId=rsa["KeyId"], Message=message, SigningAlgorithm=algorithm)["Signature"]
    rsa_public.verify(signature, message, pad(digest), digest)
    assert kms.verify(KeyId=rsa["KeyId"], Message=message, Signature=signature,
                      SigningAlgorithm=algorithm)["SignatureValid"]
signing.append(rsa["KeyId"])

# What the token cannot do inside is refused, not done outside it: RSA decryption would need
# OAEP with SHA-256, which SoftHSM2 lacks.
assert code(lambda: kms.create_key(Origin="AWS_CLOUDHSM", CustomKeyStoreId=store_id, KeySpec="RSA_2048",
                                   KeyUsage="ENCRYPT_DECRYPT")) == "UnsupportedOperationException"

print(json.dumps({
    "symmetric": key,
    "signing": signing,
    "blob": base64.b64encode(dk["CiphertextBlob"]).decode(),
    "context": ctx,
}))
print("PASS")
