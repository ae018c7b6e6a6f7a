"""A pyarrow KmsClient for Lakeseal lake files, shared by the reader scripts.

wrappedDEK is base64 JSON holding the key core's ciphertext blob and the encryption context bound
to it; unwrapping is a KMS Decrypt (boto3, SigV4) with that context and the file's CMK."""
import base64
import json

import boto3
import pyarrow.parquet.encryption as pe


class LakesealKms(pe.KmsClient):
    def __init__(self, config, unwrapped=None):
        super().__init__()
        self.kms = boto3.client("kms")
        self.unwrapped = unwrapped

    def wrap_key(self, key_bytes, master_key_identifier):
        raise NotImplementedError("this reader only reads")

    def unwrap_key(self, wrapped_key, master_key_identifier):
        wrapped = json.loads(base64.b64decode(wrapped_key))
        key = self.kms.decrypt(
            CiphertextBlob=base64.b64decode(wrapped["blob"]),
            EncryptionContext=wrapped["context"],
            KeyId=master_key_identifier,
        )["Plaintext"]
        if self.unwrapped is not None:
            self.unwrapped["key"] = key
        return key
