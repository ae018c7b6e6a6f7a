"""The device side of firmware signing, in Python with `cryptography` only: no key core, no
credentials — just the public key built into the device.

    verify_firmware.py --public-key KEY.der --image FILE --signature FILE.sig

Exits 0 and prints "accepted" when the signature is the ECDSA P-256 / SHA-256 signature of the
image under the key; exits 1 and prints "rejected" otherwise (a tampered image, another key, a
damaged signature).
"""
import argparse
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec


def accepts(public_key_der, image, signature):
    public = serialization.load_der_public_key(public_key_der)
    if not isinstance(public, ec.EllipticCurvePublicKey) or not isinstance(public.curve, ec.SECP256R1):
        raise ValueError("the public key is not an ECDSA P-256 key")
    try:
        public.verify(signature, image, ec.ECDSA(hashes.SHA256()))
        return True
    except InvalidSignature:
        return False


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--public-key", required=True)
    parser.add_argument("--image", required=True)
    parser.add_argument("--signature", required=True)
    args = parser.parse_args()
    with open(args.public_key, "rb") as f:
        public_key_der = f.read()
    with open(args.image, "rb") as f:
        image = f.read()
    with open(args.signature, "rb") as f:
        signature = f.read()
    if accepts(public_key_der, image, signature):
        print("accepted")
        return 0
    print("rejected")
    return 1


if __name__ == "__main__":
    sys.exit(main())
