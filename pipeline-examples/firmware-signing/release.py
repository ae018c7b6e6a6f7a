"""The release step of firmware signing, through the Lakeseal key core (boto3, unchanged).

    release.py sign --key-id KEY --image FILE --signature OUT
        Signs FILE's SHA-256 digest with the ECC_NIST_P256 key (ECDSA_SHA_256, MessageType
        DIGEST, so an image of any size is hashed here and never sent) and writes the DER
        signature to OUT. Run with the credentials of the `firmware-release` role, which may only
        Sign with that key.

    release.py export-public-key --key-id KEY --out FILE
        Writes the key's DER SubjectPublicKeyInfo to FILE, to be built into the devices. Run with
        the credentials of the `device-fleet` role, which may only GetPublicKey.

Credentials and the endpoint come from the usual AWS settings (AWS_ENDPOINT_URL_KMS, a profile,
or a role's temporary credentials); none are taken on the command line.
"""
import argparse
import hashlib
import sys

import boto3


def sign(kms, key_id, image_path, signature_path):
    digest = hashlib.sha256()
    with open(image_path, "rb") as image:
        for block in iter(lambda: image.read(1 << 20), b""):
            digest.update(block)
    signed = kms.sign(
        KeyId=key_id,
        Message=digest.digest(),
        MessageType="DIGEST",
        SigningAlgorithm="ECDSA_SHA_256",
    )
    with open(signature_path, "wb") as out:
        out.write(signed["Signature"])
    print(f"signed {image_path} with {signed['KeyId']}")


def export_public_key(kms, key_id, out_path):
    public = kms.get_public_key(KeyId=key_id)
    if public["KeySpec"] != "ECC_NIST_P256" or "ECDSA_SHA_256" not in public["SigningAlgorithms"]:
        sys.exit(f"{key_id} is not an ECC_NIST_P256 signing key")
    with open(out_path, "wb") as out:
        out.write(public["PublicKey"])
    print(f"wrote the public key of {public['KeyId']} to {out_path}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    s = commands.add_parser("sign")
    s.add_argument("--key-id", required=True)
    s.add_argument("--image", required=True)
    s.add_argument("--signature", required=True)
    e = commands.add_parser("export-public-key")
    e.add_argument("--key-id", required=True)
    e.add_argument("--out", required=True)
    args = parser.parse_args()
    kms = boto3.client("kms")
    if args.command == "sign":
        sign(kms, args.key_id, args.image, args.signature)
    else:
        export_public_key(kms, args.key_id, args.out)


if __name__ == "__main__":
    main()
