//! Identities: users, roles, access keys and their identity policies, as the store keeps them;
//! the operations on them are in `ops/` (`iam_users`, `iam_roles`, `access_keys`,
//! `assume_role`, `iam_manage`) like every other.
//!
//! An access key's secret is handed out once and stored only sealed under the root key.
//! Authentication (SigV4, in the server) asks [`KeyCore::signing_identity`] for the secret of an
//! access key id and the [`Principal`] it stands for.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lakeseal_envelope::{EncryptionContext, SecretBytes, random_bytes};
use serde::{Deserialize, Serialize};

use crate::clock::Millis;
use crate::{Error, KeyCore, Principal, Result};

/// A user of an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct User {
    /// The user's name, unique in its account.
    pub name: String,
    /// `arn:aws:iam::<account>:user/<name>`.
    pub arn: String,
    /// The account.
    pub account_id: String,
    /// Inline identity policies by name.
    pub policies: BTreeMap<String, String>,
    /// When it was created.
    pub created: Millis,
}

impl User {
    /// The user as AWS IAM describes one (`GetUser`, `CreateUser`): member names and an ISO 8601
    /// creation date.
    pub fn aws(&self) -> serde_json::Value {
        serde_json::json!({
            "Path": "/",
            "UserName": self.name,
            "Arn": self.arn,
            "CreateDate": crate::clock::rfc3339(self.created),
        })
    }
}

impl Role {
    /// The role as AWS IAM describes one (`GetRole`, `CreateRole`).
    pub fn aws(&self) -> serde_json::Value {
        serde_json::json!({
            "Path": "/",
            "RoleName": self.name,
            "Arn": self.arn,
            "CreateDate": crate::clock::rfc3339(self.created),
            "AssumeRolePolicyDocument": self.trust_policy,
        })
    }
}

/// Who an access key belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyOwner {
    /// A long-lived key of a user.
    User {
        /// The user's ARN.
        arn: String,
    },
    /// Temporary credentials from `AssumeRole`.
    Session {
        /// `arn:aws:sts::<account>:assumed-role/<role>/<session>`.
        arn: String,
        /// When the credentials stop working.
        expires: Millis,
        /// SHA-256 of the session token (hex); the token itself is not kept.
        token_sha256: String,
    },
}

/// A role: an identity that trusted principals assume for a while.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Role {
    /// The role's name, unique in its account.
    pub name: String,
    /// `arn:aws:iam::<account>:role/<name>`.
    pub arn: String,
    /// The account.
    pub account_id: String,
    /// Who may assume it (a policy with `Principal` and `sts:AssumeRole`).
    pub trust_policy: String,
    /// Inline identity policies by name.
    pub policies: BTreeMap<String, String>,
    /// When it was created.
    pub created: Millis,
}

/// A workload identity: an authorisation token that obtains short-lived credentials of one
/// role from the credentials endpoint, and nothing else. Only the token's digest is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WorkloadIdentity {
    /// Its name, unique in its account; the session name of the credentials it obtains.
    pub name: String,
    /// `arn:aws:iam::<account>:workload-identity/<name>`: the principal a trust policy names.
    pub arn: String,
    /// The account.
    pub account_id: String,
    /// The role it obtains credentials of.
    pub role_arn: String,
    /// How long those credentials live, seconds.
    pub duration_seconds: u32,
    /// SHA-256 (hex) of the current token; the token itself is not kept.
    pub token_sha256: String,
    /// When it was created.
    pub created: Millis,
    /// When its token was last issued (at creation or rotation).
    pub token_issued: Millis,
}

impl WorkloadIdentity {
    /// As listed and described: never the token's digest.
    pub fn aws(&self) -> serde_json::Value {
        serde_json::json!({
            "WorkloadIdentityName": self.name,
            "Arn": self.arn,
            "RoleArn": self.role_arn,
            "DurationSeconds": self.duration_seconds,
            "CreateDate": crate::clock::rfc3339(self.created),
            "TokenIssueDate": crate::clock::rfc3339(self.token_issued),
        })
    }
}

/// Temporary credentials from `AssumeRole`: the only time the secret and token are seen.
#[derive(Debug)]
pub struct SessionCredentials {
    /// `ASIA…`.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: SecretBytes,
    /// The session token, to send as `X-Amz-Security-Token`.
    pub session_token: SecretBytes,
    /// When they expire.
    pub expiration: Millis,
    /// `arn:aws:sts::<account>:assumed-role/<role>/<session>`.
    pub assumed_role_arn: String,
    /// The role's own ARN.
    pub role_arn: String,
}

/// What authentication needs to know about an access key.
#[derive(Debug)]
pub struct SigningIdentity {
    /// Who the key stands for.
    pub principal: Principal,
    /// The secret access key.
    pub secret: SecretBytes,
    /// For temporary credentials: SHA-256 (hex) of the session token the request must carry.
    pub session_token_sha256: Option<String>,
    /// For temporary credentials, and keys a rotation retired: when they stop working.
    pub expires: Option<Millis>,
}

/// The shortest `AssumeRole` session AWS grants, in seconds: the default of
/// [`crate::Options::min_session_seconds`].
pub const MIN_SESSION_SECONDS: u32 = 900;

/// The longest `AssumeRole` session, in seconds.
pub const MAX_SESSION_SECONDS: u32 = 43_200;

/// An access key as stored: its secret is sealed under the root key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessKeyRecord {
    /// `AKIA…`.
    pub access_key_id: String,
    /// The account.
    pub account_id: String,
    /// Whose key it is.
    pub owner: KeyOwner,
    /// The secret, sealed under the root key.
    #[serde(with = "crate::wire::b64")]
    pub sealed_secret: Vec<u8>,
    /// When it was created.
    pub created: Millis,
    /// When a rotation retired it: it authenticates until then, and is deleted after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retire_at: Option<Millis>,
}

/// An access key as listed: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccessKeyMetadata {
    /// The user's name.
    pub user_name: String,
    /// `AKIA…`.
    pub access_key_id: String,
    /// `Active` (keys are deleted, not deactivated, here).
    pub status: String,
    /// When it was created, ISO 8601 UTC.
    pub create_date: String,
}

/// A new access key: the only time its secret is seen outside the key core.
#[derive(Debug)]
pub struct NewAccessKey {
    /// The access key id.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: SecretBytes,
    /// The owner's ARN.
    pub owner_arn: String,
}

impl NewAccessKey {
    /// The key in the AWS shared-credentials file format, for a `[profile]`.
    pub fn credentials_file(&self, profile: &str) -> SecretBytes {
        let parts: [&[u8]; 7] = [
            b"[",
            profile.as_bytes(),
            b"]\naws_access_key_id = ",
            self.access_key_id.as_bytes(),
            b"\naws_secret_access_key = ",
            self.secret_access_key.expose_secret(),
            b"\n",
        ];
        // Sized once: a buffer that grew after the secret was in it would leave a copy behind.
        let mut text = Vec::with_capacity(parts.iter().map(|p| p.len()).sum());
        let capacity = text.capacity();
        for part in parts {
            text.extend_from_slice(part);
        }
        debug_assert_eq!(text.capacity(), capacity, "the buffer grew");
        SecretBytes::new(text)
    }
}

pub(crate) fn secret_context(access_key_id: &str) -> EncryptionContext {
    EncryptionContext::from_iter([
        ("lakeseal:purpose", "access-key-secret"),
        ("lakeseal:access-key-id", access_key_id),
    ])
}

/// `AKIA` or `ASIA` and 16 characters of the base32 alphabet, as AWS access key ids look.
pub(crate) fn new_access_key_id(prefix: &str) -> Result<String> {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let random = random_bytes(16)?;
    let tail: String = random
        .expose_secret()
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(b % 32)]))
        .collect();
    Ok(format!("{prefix}{tail}"))
}

/// 40 characters of base64, as AWS secret access keys look (240 bits of entropy).
pub(crate) fn new_secret() -> Result<SecretBytes> {
    let random = random_bytes(30)?;
    Ok(SecretBytes::new(
        STANDARD.encode(random.expose_secret()).into_bytes(),
    ))
}

/// SHA-256 of `bytes`, lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}

pub(crate) fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
}

impl KeyCore {
    /// For request authentication: who an access key stands for, its secret, and for temporary
    /// credentials the session token and expiry to check. An unknown key is `None`.
    pub fn signing_identity(&self, access_key_id: &str) -> Result<Option<SigningIdentity>> {
        let state = self.read();
        let Some(record) = state.access_keys.get(access_key_id) else {
            return Ok(None);
        };
        let secret = self
            .root()
            .open(&record.sealed_secret, &secret_context(access_key_id))
            .map_err(|_| Error::Internal(format!("access key {access_key_id} does not open")))?;
        let (arn, token, expires) = match &record.owner {
            KeyOwner::User { arn } => (arn, None, record.retire_at),
            KeyOwner::Session {
                arn,
                expires,
                token_sha256,
            } => (arn, Some(token_sha256.clone()), Some(*expires)),
        };
        Ok(Some(SigningIdentity {
            principal: Principal {
                account_id: record.account_id.clone(),
                arn: arn.clone(),
                access_key_id: Some(access_key_id.to_owned()),
            },
            secret,
            session_token_sha256: token,
            expires,
        }))
    }

    /// Whether an access key id is one of this key core's keys (for `scan-config`, which marks
    /// a leaked id it finds as confirmed). Opens nothing.
    pub fn knows_access_key(&self, access_key_id: &str) -> bool {
        self.read().access_keys.contains_key(access_key_id)
    }

    /// A user's ARN: as given, or the key core's account's user of that name.
    pub(crate) fn user_arn(&self, user: &str) -> String {
        if user.starts_with("arn:") {
            user.to_owned()
        } else {
            format!("arn:aws:iam::{}:user/{user}", self.location().account_id)
        }
    }

    /// A role's ARN: as given, or the key core's account's role of that name.
    pub(crate) fn role_arn(&self, role: &str) -> String {
        if role.starts_with("arn:") {
            role.to_owned()
        } else {
            format!("arn:aws:iam::{}:role/{role}", self.location().account_id)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_key_ids_look_like_aws_ones() {
        let id = new_access_key_id("AKIA").unwrap();
        assert_eq!(id.len(), 20);
        assert!(id.starts_with("AKIA"));
        assert!(
            id[4..]
                .bytes()
                .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
        );
        assert_eq!(new_secret().unwrap().len(), 40);
    }

    #[test]
    fn the_credentials_file_is_the_aws_format_in_one_buffer() {
        let key = NewAccessKey {
            access_key_id: "AKIAEXAMPLE".into(),
            secret_access_key: SecretBytes::new(b"wJalrXUtnFEMI/K7MDENG".to_vec()),
            owner_arn: "arn:aws:iam::111122223333:user/stage".into(),
        };
        let file = key.credentials_file("stage");
        assert_eq!(
            file.expose_secret(),
            b"[stage]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG\n"
        );
    }

    #[test]
    fn names() {
        assert!(valid_name("stage-writer@iot"));
        assert!(!valid_name(""));
        assert!(!valid_name("has space"));
    }
}
