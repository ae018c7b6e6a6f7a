//! `lakeseal crypto …`: the cryptographic operations, flags as the `aws kms` CLI spells them.

use clap::{Args, Subcommand};
use lakeseal_envelope::EncryptionContext;

use crate::input::{self, Source};

#[derive(Debug, Subcommand)]
pub(crate) enum CryptoCmd {
    /// A data key, in plain (base64) and wrapped.
    GenerateDataKey(DataKeyArgs),
    /// A data key, wrapped only.
    GenerateDataKeyWithoutPlaintext(DataKeyArgs),
    /// Encrypt up to 4096 bytes.
    Encrypt(EncryptArgs),
    /// Decrypt a ciphertext blob.
    Decrypt(DecryptArgs),
    /// Move a ciphertext blob to another key without revealing the plaintext.
    ReEncrypt(ReEncryptArgs),
    /// Random bytes.
    GenerateRandom(RandomArgs),
    /// Sign a message or digest with an asymmetric SIGN_VERIFY key.
    Sign(SignArgs),
    /// Check a signature with the key core (SignatureValid, or KMSInvalidSignatureException).
    Verify(VerifyArgs),
    /// The public key of an asymmetric key (DER SubjectPublicKeyInfo, base64 in the output).
    GetPublicKey(GetPublicKeyArgs),
}

#[derive(Debug, Args)]
pub(crate) struct SignArgs {
    /// The SIGN_VERIFY key.
    #[arg(long)]
    pub(crate) key_id: String,
    /// The message: fileb://PATH (raw bytes) or - (standard input); never inline.
    #[arg(long, value_parser = input::source)]
    pub(crate) message: Source,
    /// RAW (up to 4096 bytes, hashed by the key core; the default) or DIGEST.
    #[arg(long)]
    pub(crate) message_type: Option<String>,
    /// One of the key's SigningAlgorithms (ECDSA_SHA_256, RSASSA_PSS_SHA_256, …).
    #[arg(long)]
    pub(crate) signing_algorithm: String,
}

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// The SIGN_VERIFY key.
    #[arg(long)]
    pub(crate) key_id: String,
    /// The message: fileb://PATH (raw bytes) or - (standard input); never inline.
    #[arg(long, value_parser = input::source)]
    pub(crate) message: Source,
    /// RAW (the default) or DIGEST, as it was signed.
    #[arg(long)]
    pub(crate) message_type: Option<String>,
    /// The signature: fileb://PATH (raw bytes) or - (standard input); never inline.
    #[arg(long, value_parser = input::source)]
    pub(crate) signature: Source,
    /// The algorithm it was made with.
    #[arg(long)]
    pub(crate) signing_algorithm: String,
}

#[derive(Debug, Args)]
pub(crate) struct GetPublicKeyArgs {
    /// The asymmetric key.
    #[arg(long)]
    pub(crate) key_id: String,
}

#[derive(Debug, Args)]
pub(crate) struct DataKeyArgs {
    /// The key that wraps the data key.
    #[arg(long)]
    pub(crate) key_id: String,
    /// AES_256 or AES_128 (give this or --number-of-bytes).
    #[arg(long, required_unless_present = "number_of_bytes")]
    pub(crate) key_spec: Option<String>,
    /// 1-1024.
    #[arg(long, conflicts_with = "key_spec")]
    pub(crate) number_of_bytes: Option<u32>,
    /// k=v,k2=v2 or a JSON object.
    #[arg(long, value_parser = parse_context)]
    pub(crate) encryption_context: Option<EncryptionContext>,
}

#[derive(Debug, Args)]
pub(crate) struct EncryptArgs {
    /// The key to encrypt under.
    #[arg(long)]
    pub(crate) key_id: String,
    /// The plaintext: base64 (line breaks allowed), fileb://PATH (raw bytes), file://PATH
    /// (base64 text) or - (raw bytes from standard input).
    #[arg(long, value_parser = input::source)]
    pub(crate) plaintext: Source,
    /// k=v,k2=v2 or a JSON object.
    #[arg(long, value_parser = parse_context)]
    pub(crate) encryption_context: Option<EncryptionContext>,
    /// SYMMETRIC_DEFAULT (the default), or RSAES_OAEP_SHA_1 / RSAES_OAEP_SHA_256 for an RSA key.
    #[arg(long)]
    pub(crate) encryption_algorithm: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct DecryptArgs {
    /// The ciphertext blob: base64, fileb://PATH (raw bytes), file://PATH (base64 text) or -
    /// (raw bytes from standard input).
    #[arg(long, value_parser = input::source)]
    pub(crate) ciphertext_blob: Source,
    /// k=v,k2=v2 or a JSON object: exactly the context it was encrypted with.
    #[arg(long, value_parser = parse_context)]
    pub(crate) encryption_context: Option<EncryptionContext>,
    /// Refuse unless the blob was made under this key (required for an RSA ciphertext).
    #[arg(long)]
    pub(crate) key_id: Option<String>,
    /// SYMMETRIC_DEFAULT (the default), or the RSAES_OAEP_* algorithm it was encrypted with.
    #[arg(long)]
    pub(crate) encryption_algorithm: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ReEncryptArgs {
    /// The ciphertext blob: base64, fileb://PATH (raw bytes), file://PATH (base64 text) or -
    /// (raw bytes from standard input).
    #[arg(long, value_parser = input::source)]
    pub(crate) ciphertext_blob: Source,
    /// The context it was encrypted with.
    #[arg(long, value_parser = parse_context)]
    pub(crate) source_encryption_context: Option<EncryptionContext>,
    /// Refuse unless the blob was made under this key.
    #[arg(long)]
    pub(crate) source_key_id: Option<String>,
    /// The key to move it to.
    #[arg(long)]
    pub(crate) destination_key_id: String,
    /// The context to bind under the new key.
    #[arg(long, value_parser = parse_context)]
    pub(crate) destination_encryption_context: Option<EncryptionContext>,
}

#[derive(Debug, Args)]
pub(crate) struct RandomArgs {
    /// 1-1024.
    #[arg(long)]
    pub(crate) number_of_bytes: u32,
}

/// `k=v,k2=v2` (the AWS CLI shorthand) or a JSON object; a key given twice is refused.
pub(crate) fn parse_context(text: &str) -> Result<EncryptionContext, String> {
    if text.trim_start().starts_with('{') {
        return serde_json::from_str(text)
            .map_err(|e| format!("not a JSON object of strings: {e}"));
    }
    let mut context = EncryptionContext::new();
    for pair in text.split(',').filter(|p| !p.is_empty()) {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| format!("{pair:?} is not key=value"))?;
        if context.get(k).is_some() {
            return Err(format!("the key {k:?} is given twice"));
        }
        context.insert(k, v);
    }
    Ok(context)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts_parse_both_ways() {
        let a = parse_context("table=telemetry,topic=iot").unwrap();
        let b = parse_context(r#"{"topic":"iot","table":"telemetry"}"#).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.get("table"), Some("telemetry"));
        assert!(parse_context("novalue").is_err());
        let twice = parse_context("a=b,a=c").unwrap_err();
        assert!(twice.contains("twice"), "{twice}");
        let twice = parse_context(r#"{"a":"b","a":"c"}"#).unwrap_err();
        assert!(twice.contains("twice"), "{twice}");
    }
}
