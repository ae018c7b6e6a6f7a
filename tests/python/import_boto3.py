"""Bring your own key with boto3: material made here, wrapped with `cryptography` under both
wrapping families, imported into the key core.

MODE=now: every import path that needs no time to pass, and set-up for MODE=later (a token and
material with ValidTo two hours on, saved in STATE_DIR). MODE=later, after tests/it/import.rs
moved the key core's clock a day on: the saved token is expired and the material has lapsed to
PendingImport. Prints one line per check; exits non-zero at the first failure.
"""
import datetime
import json
import os
import sys

import boto3
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

from checks import check, error_code

kms = boto3.client("kms")
state_dir = os.environ["STATE_DIR"]
ALGORITHMS = ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "RSA_AES_KEY_WRAP_SHA_1", "RSA_AES_KEY_WRAP_SHA_256"]


def wrap(public_der, algorithm, material):
    """Wraps `material` as AWS's import documentation says, with `cryptography` only."""
    public = serialization.load_der_public_key(public_der)
    h = hashes.SHA1() if algorithm.endswith("SHA_1") else hashes.SHA256()
    oaep = padding.OAEP(mgf=padding.MGF1(h), algorithm=h, label=None)
    if algorithm.startswith("RSAES_OAEP"):
        return public.encrypt(material, oaep)
    aes_key = os.urandom(32)
    return public.encrypt(aes_key, oaep) + aes_key_wrap_with_padding(aes_key, material)


def parameters(key, algorithm, spec="RSA_2048"):
    return kms.get_parameters_for_import(KeyId=key, WrappingAlgorithm=algorithm, WrappingKeySpec=spec)


def import_material(key, material, algorithm, params=None, **expiry):
    params = params or parameters(key, algorithm)
    expiry = expiry or {"ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"}
    kms.import_key_material(
        KeyId=key,
        ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=wrap(params["PublicKey"], algorithm, material),
        **expiry,
    )


def external_key(**kwargs):
    return kms.create_key(Origin="EXTERNAL", **kwargs)["KeyMetadata"]


def state(key):
    return kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"]


if os.environ["MODE"] == "now":
    for i, algorithm in enumerate(ALGORITHMS):
        meta = external_key(Description=f"byok {algorithm}")
        key = meta["KeyId"]
        check(f"{algorithm} new key is PendingImport", meta["KeyState"] == "PendingImport" and meta["Origin"] == "EXTERNAL")
        spec = ["RSA_2048", "RSA_3072", "RSA_4096", "RSA_2048"][i]
        params = parameters(key, algorithm, spec)
        public = serialization.load_der_public_key(params["PublicKey"])
        valid_for = params["ParametersValidTo"] - datetime.datetime.now(datetime.timezone.utc)
        check(f"{algorithm} {spec} wrapping key and a 24-hour token",
              public.key_size == int(spec[4:]) and datetime.timedelta(hours=23) < valid_for <= datetime.timedelta(hours=24))
        material = os.urandom(32)
        import_material(key, material, algorithm, params)
        check(f"{algorithm} imported and enabled", state(key) == "Enabled")
        blob = kms.encrypt(KeyId=key, Plaintext=b"telemetry", EncryptionContext={"table": "telemetry"})["CiphertextBlob"]
        back = kms.decrypt(CiphertextBlob=blob, EncryptionContext={"table": "telemetry"})["Plaintext"]
        check(f"{algorithm} data encrypted under it decrypts", back == b"telemetry")
        kms.delete_imported_key_material(KeyId=key)
        check(f"{algorithm} deleted material: PendingImport", state(key) == "PendingImport")
        code = error_code(lambda: kms.decrypt(CiphertextBlob=blob, EncryptionContext={"table": "telemetry"}))
        check(f"{algorithm} deleted material: blobs unreadable", code == "KMSInvalidStateException", code)
        code = error_code(lambda: import_material(key, os.urandom(32), algorithm, params))
        check(f"{algorithm} different material refused", code == "IncorrectKeyMaterialException", code)
        import_material(key, material, algorithm, params)
        back = kms.decrypt(CiphertextBlob=blob, EncryptionContext={"table": "telemetry"})["Plaintext"]
        check(f"{algorithm} the same material reimported: blobs read again", back == b"telemetry")

    first, second = external_key()["KeyId"], external_key()["KeyId"]
    params = parameters(second, "RSAES_OAEP_SHA_256")
    code = error_code(lambda: import_material(first, os.urandom(32), "RSAES_OAEP_SHA_256", params))
    check("a token of another key is refused", code == "InvalidImportTokenException", code)
    tampered = bytearray(parameters(first, "RSAES_OAEP_SHA_256")["ImportToken"])
    tampered[len(tampered) // 2] ^= 1
    forged = {"ImportToken": bytes(tampered), "PublicKey": params["PublicKey"]}
    code = error_code(lambda: import_material(first, os.urandom(32), "RSAES_OAEP_SHA_256", forged))
    check("a tampered token is refused", code == "InvalidImportTokenException", code)

    # An ECC key pair made here, imported as PKCS#8 under RSA-AES key wrap, signs for the key core.
    private = ec.generate_private_key(ec.SECP256R1())
    pkcs8 = private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption())
    signer = external_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyId"]
    import_material(signer, pkcs8, "RSA_AES_KEY_WRAP_SHA_256")
    signature = kms.sign(KeyId=signer, Message=b"firmware", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    private.public_key().verify(signature, b"firmware", ec.ECDSA(hashes.SHA256()))
    check("an imported P-256 key signs as the key made by cryptography", True)

    # For MODE=later: a token to use after it expires, and material that lapses.
    waiting = external_key()["KeyId"]
    saved = parameters(waiting, "RSAES_OAEP_SHA_256")
    lapsing = external_key()["KeyId"]
    material = os.urandom(32)
    valid_to = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=2)
    import_material(lapsing, material, "RSA_AES_KEY_WRAP_SHA_256",
                    ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=valid_to)
    meta = kms.describe_key(KeyId=lapsing)["KeyMetadata"]
    check("ValidTo is kept", meta["ExpirationModel"] == "KEY_MATERIAL_EXPIRES"
          and abs((meta["ValidTo"] - valid_to).total_seconds()) < 1)
    blob = kms.encrypt(KeyId=lapsing, Plaintext=b"lapsing")["CiphertextBlob"]
    with open(os.path.join(state_dir, "state.json"), "w") as f:
        json.dump({
            "waiting": waiting, "token": saved["ImportToken"].hex(), "public": saved["PublicKey"].hex(),
            "lapsing": lapsing, "material": material.hex(), "blob": blob.hex(),
        }, f)
    print("ALL PASSED", flush=True)
else:
    with open(os.path.join(state_dir, "state.json")) as f:
        s = json.load(f)
    saved = {"ImportToken": bytes.fromhex(s["token"]), "PublicKey": bytes.fromhex(s["public"])}
    code = error_code(lambda: import_material(s["waiting"], os.urandom(32), "RSAES_OAEP_SHA_256", saved))
    check("an expired token is refused", code == "ExpiredImportTokenException", code)
    check("material past ValidTo: PendingImport", state(s["lapsing"]) == "PendingImport")
    blob = bytes.fromhex(s["blob"])
    code = error_code(lambda: kms.decrypt(CiphertextBlob=blob))
    check("material past ValidTo: blobs unreadable", code == "KMSInvalidStateException", code)
    import_material(s["lapsing"], bytes.fromhex(s["material"]), "RSAES_OAEP_SHA_1")
    check("reimported after expiry: blobs read again", kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"lapsing")
    print("ALL PASSED", flush=True)
