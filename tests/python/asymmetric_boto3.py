"""boto3 and Python's `cryptography` against the key core's asymmetric keys.

Every key spec and every algorithm it lists: signatures the key core makes verify with
`cryptography` under the public key from GetPublicKey (PSS with a digest-length salt,
`Prehashed` for DIGEST messages, DER ECDSA), the key core's Verify says true for them and
KMSInvalidSignatureException for a tampered message; OAEP ciphertexts made by `cryptography`
decrypt in the key core, and the key core's own ciphertexts are the modulus' length.

Run by tests/it/asymmetric.rs against a key core it started. Prints one line per check; exits
non-zero at the first failure.
"""
import os
import sys

import boto3
import botocore.exceptions
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils


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


HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
RSA_SIGNING = [
    f"RSASSA_{scheme}_SHA_{bits}" for scheme in ("PSS", "PKCS1_V1_5") for bits in ("256", "384", "512")
]
SIGNING = {
    "RSA_2048": RSA_SIGNING,
    "RSA_3072": RSA_SIGNING,
    "RSA_4096": RSA_SIGNING,
    "ECC_NIST_P256": ["ECDSA_SHA_256"],
    "ECC_NIST_P384": ["ECDSA_SHA_384"],
}
OAEP = {"RSAES_OAEP_SHA_1": hashes.SHA1, "RSAES_OAEP_SHA_256": hashes.SHA256}

kms = boto3.client("kms")


def hash_of(algorithm):
    return HASHES[algorithm.rsplit("_", 1)[1]]()


def verify_locally(public, algorithm, message, signature, prehashed):
    """Checks a signature with `cryptography` only: no key core involved."""
    h = hash_of(algorithm)
    chosen = utils.Prehashed(h) if prehashed else h
    try:
        if algorithm.startswith("ECDSA"):
            public.verify(signature, message, ec.ECDSA(chosen))
        elif algorithm.startswith("RSASSA_PSS"):
            pss = padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size)
            public.verify(signature, message, pss, chosen)
        else:
            public.verify(signature, message, padding.PKCS1v15(), chosen)
        return True
    except InvalidSignature:
        return False


message = b"lakeseal firmware 4.2.0 " + os.urandom(64)
for spec, algorithms in SIGNING.items():
    meta = kms.create_key(KeySpec=spec, KeyUsage="SIGN_VERIFY", Description=f"sign {spec}")["KeyMetadata"]
    key = meta["KeyId"]
    check(f"{spec} describe lists its signing algorithms", meta["SigningAlgorithms"] == algorithms
          and "EncryptionAlgorithms" not in meta and meta["KeySpec"] == spec)
    got = kms.get_public_key(KeyId=key)
    check(f"{spec} GetPublicKey lists the same", got["SigningAlgorithms"] == algorithms
          and got["KeyUsage"] == "SIGN_VERIFY" and got["KeySpec"] == spec)
    public = serialization.load_der_public_key(got["PublicKey"])
    if spec.startswith("RSA"):
        check(f"{spec} public key size", isinstance(public, rsa.RSAPublicKey)
              and public.key_size == int(spec[4:]))
    else:
        curve = {"ECC_NIST_P256": ec.SECP256R1, "ECC_NIST_P384": ec.SECP384R1}[spec]
        check(f"{spec} public key curve", isinstance(public.curve, curve))
    for algorithm in algorithms:
        h = hash_of(algorithm)
        digester = hashes.Hash(h)
        digester.update(message)
        digest = digester.finalize()
        for kind, signed in (("RAW", message), ("DIGEST", digest)):
            sig = kms.sign(KeyId=key, Message=signed, MessageType=kind, SigningAlgorithm=algorithm)
            check(f"{spec} {algorithm} {kind} names its key", sig["KeyId"] == meta["Arn"]
                  and sig["SigningAlgorithm"] == algorithm)
            signature = sig["Signature"]
            check(f"{spec} {algorithm} {kind} verifies with cryptography",
                  verify_locally(public, algorithm, message, signature, prehashed=False)
                  and verify_locally(public, algorithm, digest, signature, prehashed=True))
            tampered = bytearray(message)
            tampered[0] ^= 1
            check(f"{spec} {algorithm} {kind} tampered fails with cryptography",
                  not verify_locally(public, algorithm, bytes(tampered), signature, prehashed=False))
            ok = kms.verify(KeyId=key, Message=signed, MessageType=kind, Signature=signature,
                            SigningAlgorithm=algorithm)
            check(f"{spec} {algorithm} {kind} Verify", ok["SignatureValid"] is True)
            check(f"{spec} {algorithm} {kind} Verify refuses a tampered message",
                  error_code(lambda: kms.verify(KeyId=key, Message=bytes(tampered), MessageType="RAW",
                                                Signature=signature, SigningAlgorithm=algorithm))
                  == "KMSInvalidSignatureException")
        if algorithm.startswith("RSASSA_PSS"):
            # The salt is the digest's length: a verifier expecting another length refuses.
            sig = kms.sign(KeyId=key, Message=message, SigningAlgorithm=algorithm)["Signature"]
            try:
                public.verify(sig, message, padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size + 1), h)
                other_salt = True
            except InvalidSignature:
                other_salt = False
            check(f"{spec} {algorithm} salt is the digest length", not other_salt)
    check(f"{spec} GenerateDataKey is InvalidKeyUsage",
          error_code(lambda: kms.generate_data_key(KeyId=key, KeySpec="AES_256")) == "InvalidKeyUsageException")
    check(f"{spec} rotation is unsupported",
          error_code(lambda: kms.enable_key_rotation(KeyId=key)) == "UnsupportedOperationException")

LIMITS = {"RSA_2048": (214, 190), "RSA_3072": (342, 318), "RSA_4096": (470, 446)}
for spec, limits in LIMITS.items():
    meta = kms.create_key(KeySpec=spec, KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]
    key = meta["KeyId"]
    check(f"{spec} encrypt key lists OAEP only", meta["EncryptionAlgorithms"] == list(OAEP)
          and "SigningAlgorithms" not in meta)
    public = serialization.load_der_public_key(kms.get_public_key(KeyId=key)["PublicKey"])
    modulus = public.key_size // 8
    for (algorithm, h), limit in zip(OAEP.items(), limits):
        oaep = padding.OAEP(mgf=padding.MGF1(h()), algorithm=h(), label=None)
        plaintext = os.urandom(limit)
        outside = public.encrypt(plaintext, oaep)
        back = kms.decrypt(KeyId=key, CiphertextBlob=outside, EncryptionAlgorithm=algorithm)
        check(f"{spec} {algorithm} cryptography's ciphertext decrypts", back["Plaintext"] == plaintext
              and back["EncryptionAlgorithm"] == algorithm)
        inside = kms.encrypt(KeyId=key, Plaintext=plaintext, EncryptionAlgorithm=algorithm)
        check(f"{spec} {algorithm} ciphertext is the modulus length",
              len(inside["CiphertextBlob"]) == modulus)
        again = kms.decrypt(KeyId=key, CiphertextBlob=inside["CiphertextBlob"], EncryptionAlgorithm=algorithm)
        check(f"{spec} {algorithm} round trip", again["Plaintext"] == plaintext)
        check(f"{spec} {algorithm} over the limit is refused",
              error_code(lambda: kms.encrypt(KeyId=key, Plaintext=os.urandom(limit + 1),
                                             EncryptionAlgorithm=algorithm)) == "ValidationException")
    check(f"{spec} SYMMETRIC_DEFAULT is InvalidKeyUsage",
          error_code(lambda: kms.encrypt(KeyId=key, Plaintext=b"x")) == "InvalidKeyUsageException")
    check(f"{spec} Sign is InvalidKeyUsage",
          error_code(lambda: kms.sign(KeyId=key, Message=b"x", SigningAlgorithm="RSASSA_PSS_SHA_256"))
          == "InvalidKeyUsageException")

symmetric = kms.create_key()["KeyMetadata"]["KeyId"]
check("Sign with a symmetric key is InvalidKeyUsage",
      error_code(lambda: kms.sign(KeyId=symmetric, Message=b"x", SigningAlgorithm="ECDSA_SHA_256"))
      == "InvalidKeyUsageException")
check("GetPublicKey of a symmetric key is InvalidKeyUsage",
      error_code(lambda: kms.get_public_key(KeyId=symmetric)) == "InvalidKeyUsageException")
print("ALL PASSED", flush=True)
