//! `lakeseal key …` and `lakeseal alias …`: keys, their rotation, deletion, tags and policies,
//! and aliases.

use clap::{Args, Subcommand};
use lakeseal_keycore::model::Tag;

use crate::input::{self, Source};

#[derive(Debug, Subcommand)]
pub(crate) enum KeyCmd {
    /// Create a key: symmetric (the default), RSA or ECC.
    Create(CreateArgs),
    /// Describe a key.
    Describe(KeyIdArg),
    /// List keys.
    List(PageArgs),
    /// Enable a disabled key.
    Enable(KeyIdArg),
    /// Disable a key: it refuses every cryptographic operation until enabled.
    Disable(KeyIdArg),
    /// Make a new primary key version now.
    Rotate(KeyIdArg),
    /// Rotate automatically every --rotation-period-in-days (90-2560, default 90).
    EnableRotation(EnableRotationArgs),
    /// Stop automatic rotation.
    DisableRotation(KeyIdArg),
    /// Whether automatic rotation is on.
    RotationStatus(KeyIdArg),
    /// The rotations a key has had.
    ListRotations(ListRotationsArgs),
    /// Destroy the key after --pending-window-in-days (7-30, default 30).
    ScheduleDeletion(ScheduleDeletionArgs),
    /// Cancel a scheduled deletion; the key comes back disabled.
    CancelDeletion(KeyIdArg),
    /// Add or overwrite tags.
    Tag(TagArgs),
    /// Remove tags.
    Untag(UntagArgs),
    /// List a key's tags.
    ListTags(KeyIdArg),
    /// Print a key's policy document.
    GetPolicy(KeyIdArg),
    /// Replace a key's policy document.
    PutPolicy(PutKeyPolicyArgs),
    /// A wrapping public key and an import token (24 hours) for a key of origin EXTERNAL.
    GetParametersForImport(GetParametersForImportArgs),
    /// Import wrapped key material into a key of origin EXTERNAL.
    ImportKeyMaterial(ImportKeyMaterialArgs),
    /// Delete a key's imported material: it is PendingImport until the same material returns.
    DeleteImportedKeyMaterial(KeyIdArg),
    /// The PKCS#11 key stores of --keycore-config and whether each is connected.
    DescribeKeyStores(PageArgs),
}

#[derive(Debug, Args)]
pub(crate) struct GetParametersForImportArgs {
    /// Key id, key ARN, alias name or alias ARN.
    #[arg(long)]
    pub(crate) key_id: String,
    /// RSAES_OAEP_SHA_1, RSAES_OAEP_SHA_256, RSA_AES_KEY_WRAP_SHA_1 or RSA_AES_KEY_WRAP_SHA_256.
    #[arg(long)]
    pub(crate) wrapping_algorithm: String,
    /// RSA_2048, RSA_3072 or RSA_4096.
    #[arg(long)]
    pub(crate) wrapping_key_spec: String,
}

#[derive(Debug, Args)]
pub(crate) struct ImportKeyMaterialArgs {
    /// Key id, key ARN, alias name or alias ARN.
    #[arg(long)]
    pub(crate) key_id: String,
    /// The import token: fileb://PATH (raw bytes), file://PATH (base64 text) or base64.
    #[arg(long, value_parser = input::source)]
    pub(crate) import_token: Source,
    /// The wrapped material: fileb://PATH (raw bytes) or - (standard input); never inline.
    #[arg(long, value_parser = input::source)]
    pub(crate) encrypted_key_material: Source,
    /// KEY_MATERIAL_EXPIRES (needs --valid-to) or KEY_MATERIAL_DOES_NOT_EXPIRE.
    #[arg(long)]
    pub(crate) expiration_model: Option<String>,
    /// When the material expires, RFC 3339 (2027-01-31T00:00:00Z).
    #[arg(long)]
    pub(crate) valid_to: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct PutKeyPolicyArgs {
    /// Key id, key ARN, alias name or alias ARN.
    #[arg(long)]
    pub(crate) key_id: String,
    /// The policy document: inline JSON, file://PATH, fileb://PATH or - (standard input).
    #[arg(long, value_parser = input::source)]
    pub(crate) policy: Source,
    /// Accept a policy that would not let you change it again (AWS's lockout safety check).
    #[arg(long)]
    pub(crate) bypass_policy_lockout_safety_check: bool,
}

#[derive(Debug, Args)]
pub(crate) struct KeyIdArg {
    /// Key id, key ARN, alias name or alias ARN.
    #[arg(long)]
    pub(crate) key_id: String,
}

#[derive(Debug, Args)]
pub(crate) struct CreateArgs {
    /// Free text.
    #[arg(long)]
    pub(crate) description: Option<String>,
    /// SYMMETRIC_DEFAULT (the default), RSA_2048, RSA_3072, RSA_4096, ECC_NIST_P256 or
    /// ECC_NIST_P384.
    #[arg(long)]
    pub(crate) key_spec: Option<String>,
    /// ENCRYPT_DECRYPT (the default, as in AWS KMS) or SIGN_VERIFY (needed for ECC keys).
    #[arg(long)]
    pub(crate) key_usage: Option<String>,
    /// AWS_KMS: the key core makes the key material (the default); EXTERNAL: imported later;
    /// AWS_CLOUDHSM: made inside a PKCS#11 token (see --protection-level).
    #[arg(long)]
    pub(crate) origin: Option<String>,
    /// HSM: the key is made and used inside a PKCS#11 token (origin AWS_CLOUDHSM), in
    /// --custom-key-store-id or the first [[key_stores]] of --keycore-config; SOFTWARE (the
    /// default): in the key core.
    #[arg(long, value_parser = ["SOFTWARE", "HSM"])]
    pub(crate) protection_level: Option<String>,
    /// The PKCS#11 key store of an HSM key (DescribeCustomKeyStores lists them).
    #[arg(long)]
    pub(crate) custom_key_store_id: Option<String>,
    /// The key policy: inline JSON, file://PATH, fileb://PATH or - (standard input); default:
    /// the account root may do anything.
    #[arg(long, value_parser = input::source)]
    pub(crate) policy: Option<Source>,
    /// Accept a policy that would not let you change it again (AWS's lockout safety check).
    #[arg(long)]
    pub(crate) bypass_policy_lockout_safety_check: bool,
    /// Tags as TagKey=k,TagValue=v (repeat for more).
    #[arg(long, num_args = 1.., value_parser = parse_tag)]
    pub(crate) tags: Vec<Tag>,
}

#[derive(Debug, Args)]
pub(crate) struct PageArgs {
    /// Page size, 1-1000.
    #[arg(long)]
    pub(crate) limit: Option<u32>,
    /// NextMarker of the previous page.
    #[arg(long)]
    pub(crate) marker: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct EnableRotationArgs {
    /// Key id, key ARN, alias name or alias ARN.
    #[arg(long)]
    pub(crate) key_id: String,
    /// 90-2560 days; 90 when absent.
    #[arg(long)]
    pub(crate) rotation_period_in_days: Option<u32>,
}

#[derive(Debug, Args)]
pub(crate) struct ListRotationsArgs {
    /// Key id, key ARN, alias name or alias ARN.
    #[arg(long)]
    pub(crate) key_id: String,
    /// Page size, 1-1000.
    #[arg(long)]
    pub(crate) limit: Option<u32>,
    /// NextMarker of the previous page.
    #[arg(long)]
    pub(crate) marker: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ScheduleDeletionArgs {
    /// Key id, key ARN, alias name or alias ARN.
    #[arg(long)]
    pub(crate) key_id: String,
    /// 7-30 days; 30 when absent.
    #[arg(long)]
    pub(crate) pending_window_in_days: Option<u32>,
}

#[derive(Debug, Args)]
pub(crate) struct TagArgs {
    /// Key id, key ARN, alias name or alias ARN.
    #[arg(long)]
    pub(crate) key_id: String,
    /// Tags as TagKey=k,TagValue=v (repeat for more).
    #[arg(long, required = true, num_args = 1.., value_parser = parse_tag)]
    pub(crate) tags: Vec<Tag>,
}

#[derive(Debug, Args)]
pub(crate) struct UntagArgs {
    /// Key id, key ARN, alias name or alias ARN.
    #[arg(long)]
    pub(crate) key_id: String,
    /// Keys of the tags to remove.
    #[arg(long, required = true, num_args = 1..)]
    pub(crate) tag_keys: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum AliasCmd {
    /// Create an alias for a key.
    Create(AliasArgs),
    /// Point an alias at another key.
    Update(AliasArgs),
    /// Delete an alias (the key is untouched).
    Delete(AliasNameArg),
    /// List aliases.
    List(ListAliasesArgs),
}

#[derive(Debug, Args)]
pub(crate) struct AliasArgs {
    /// alias/...
    #[arg(long)]
    pub(crate) alias_name: String,
    /// Key id or key ARN.
    #[arg(long)]
    pub(crate) target_key_id: String,
}

#[derive(Debug, Args)]
pub(crate) struct AliasNameArg {
    /// alias/...
    #[arg(long)]
    pub(crate) alias_name: String,
}

#[derive(Debug, Args)]
pub(crate) struct ListAliasesArgs {
    /// Only this key's aliases.
    #[arg(long)]
    pub(crate) key_id: Option<String>,
    /// Page size, 1-1000.
    #[arg(long)]
    pub(crate) limit: Option<u32>,
    /// NextMarker of the previous page.
    #[arg(long)]
    pub(crate) marker: Option<String>,
}

/// `TagKey=k,TagValue=v`.
fn parse_tag(text: &str) -> Result<Tag, String> {
    let (mut key, mut value) = (None, None);
    for part in text.split(',') {
        match part.split_once('=') {
            Some(("TagKey", k)) => key = Some(k.to_owned()),
            Some(("TagValue", v)) => value = Some(v.to_owned()),
            _ => return Err(format!("{part:?}: expected TagKey=k,TagValue=v")),
        }
    }
    Ok(Tag {
        tag_key: key.ok_or("TagKey is missing")?,
        tag_value: value.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_parse() {
        let t = parse_tag("TagKey=team,TagValue=iot").unwrap();
        assert_eq!((t.tag_key.as_str(), t.tag_value.as_str()), ("team", "iot"));
        assert!(parse_tag("team=iot").is_err());
    }
}
