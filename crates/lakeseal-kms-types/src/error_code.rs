//! The AWS error names (`__type`) Lakeseal's key core answers with, and the error body they
//! travel in.

use serde::{Deserialize, Serialize};

macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident = $name:literal,)+) => {
        /// An AWS error name (KMS and Secrets Manager). The key core answers only with these;
        /// a client reading another service's answer keeps the name as text (see
        /// [`ErrorBody`]).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)+
        }

        impl ErrorCode {
            /// Every name, for tests and documentation.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)+];

            /// The name as it goes on the wire.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $name,)+
                }
            }

            /// The code of `name`, if it is one the key core uses.
            pub fn from_name(name: &str) -> Option<Self> {
                match name {
                    $($name => Some(ErrorCode::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

error_codes! {
    /// The key, alias, identity or version does not exist (or no longer does).
    NotFound = "NotFoundException",
    /// The key is disabled.
    Disabled = "DisabledException",
    /// The key's state does not allow the operation.
    InvalidState = "KMSInvalidStateException",
    /// The ciphertext blob is malformed or altered, or its encryption context differs.
    InvalidCiphertext = "InvalidCiphertextException",
    /// The blob was made under a key other than the one the request named.
    IncorrectKey = "IncorrectKeyException",
    /// A parameter is out of range or malformed.
    Validation = "ValidationException",
    /// The key's usage or spec does not allow the operation or algorithm (a symmetric
    /// operation on an asymmetric key, or the reverse).
    InvalidKeyUsage = "InvalidKeyUsageException",
    /// `Verify`: the signature does not verify.
    KmsInvalidSignature = "KMSInvalidSignatureException",
    /// The operation is not supported for this kind of key (rotating an asymmetric key).
    UnsupportedOperation = "UnsupportedOperationException",
    /// `ImportKeyMaterial`: the token was tampered with, or made for another key.
    InvalidImportToken = "InvalidImportTokenException",
    /// `ImportKeyMaterial`: the token is past its 24 hours.
    ExpiredImportToken = "ExpiredImportTokenException",
    /// `ImportKeyMaterial`: material other than what the key had before.
    IncorrectKeyMaterial = "IncorrectKeyMaterialException",
    /// The name is taken.
    AlreadyExists = "AlreadyExistsException",
    /// An identity still has what must be removed first.
    DeleteConflict = "DeleteConflictException",
    /// The alias name is not `alias/...` or is reserved.
    InvalidAliasName = "InvalidAliasNameException",
    /// A pagination marker the key core did not hand out.
    InvalidMarker = "InvalidMarkerException",
    /// A policy document that cannot be parsed or uses what is not supported.
    MalformedPolicy = "MalformedPolicyDocumentException",
    /// The caller may not do this.
    AccessDenied = "AccessDeniedException",
    /// The key core failed; worth retrying.
    Internal = "KMSInternalException",
    /// The key lives in a key store (an HSM) that cannot be reached now; worth retrying.
    KeyUnavailable = "KeyUnavailableException",
    /// No custom key store has that id or name.
    CustomKeyStoreNotFound = "CustomKeyStoreNotFoundException",
    /// The custom key store is not connected, so it cannot make keys now.
    CustomKeyStoreInvalidState = "CustomKeyStoreInvalidStateException",
    /// The body is not a JSON document of the operation's shape.
    Serialization = "SerializationException",
    /// No such operation.
    UnknownOperation = "UnknownOperationException",
    /// The account is over its request quota; worth retrying later.
    Throttling = "ThrottlingException",
    /// A quota other than the request rate; AWS KMS also uses it for throttling.
    LimitExceeded = "LimitExceededException",
    /// The body did not arrive in time.
    RequestTimeout = "RequestTimeoutException",
    /// The request is not signed.
    MissingAuthenticationToken = "MissingAuthenticationTokenException",
    /// The signature is malformed or incomplete.
    IncompleteSignature = "IncompleteSignatureException",
    /// The signature does not match (or is out of its time window).
    InvalidSignature = "InvalidSignatureException",
    /// The access key is not known.
    UnrecognizedClient = "UnrecognizedClientException",
    /// The session's credentials have expired.
    ExpiredToken = "ExpiredTokenException",
    /// Secrets Manager: no such secret, version or label.
    ResourceNotFound = "ResourceNotFoundException",
    /// Secrets Manager: a secret of that name, or a version of that id with another value.
    ResourceExists = "ResourceExistsException",
    /// Secrets Manager: a parameter is out of range or malformed.
    InvalidParameter = "InvalidParameterException",
    /// Secrets Manager: the secret's state does not allow the operation (deletion pending).
    InvalidRequest = "InvalidRequestException",
    /// Secrets Manager: the CMK could not seal the value (disabled, pending deletion).
    EncryptionFailure = "EncryptionFailure",
    /// Secrets Manager: the CMK could not open the value (disabled, pending deletion, gone).
    DecryptionFailure = "DecryptionFailure",
    /// Secrets Manager: a resource policy that would let anyone in.
    PublicPolicy = "PublicPolicyException",
    /// Secrets Manager: a `NextToken` this key core did not hand out.
    InvalidNextToken = "InvalidNextTokenException",
    /// Secrets Manager: the key core failed.
    InternalServiceError = "InternalServiceError",
}

impl ErrorCode {
    /// Whether the failure is the service's (HTTP 5xx), not the request's.
    pub fn is_server_fault(self) -> bool {
        matches!(
            self,
            ErrorCode::Internal | ErrorCode::InternalServiceError | ErrorCode::KeyUnavailable
        )
    }

    /// Whether the service asks the caller to slow down.
    pub fn is_throttling(self) -> bool {
        matches!(self, ErrorCode::Throttling | ErrorCode::LimitExceeded)
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// The body of a failed JSON-protocol answer: `{"__type": "...", "message": "..."}`.
///
/// `kind` is text, not an [`ErrorCode`], because a client may be talking to another KMS: some
/// qualify the name (`com.amazonaws.kms#ThrottlingException`), and some spell the message
/// `Message`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error name, perhaps qualified.
    #[serde(rename = "__type", default)]
    pub kind: String,
    /// What went wrong, for people.
    #[serde(default, alias = "Message")]
    pub message: String,
}

impl ErrorBody {
    /// The name without a service qualifier.
    pub fn name(&self) -> &str {
        self.kind.rsplit('#').next().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_reads_back_as_its_code() {
        for &code in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_name(code.as_str()), Some(code));
            let secrets_manager_style =
                code.as_str().ends_with("Failure") || code == ErrorCode::InternalServiceError;
            assert!(
                code.as_str().ends_with("Exception") || secrets_manager_style,
                "{code}"
            );
        }
        assert_eq!(ErrorCode::from_name("NoSuchThing"), None);
    }

    #[test]
    fn qualified_names_and_capitalised_messages_are_read() {
        let body: ErrorBody = serde_json::from_str(
            r#"{"__type":"com.amazonaws.kms#ThrottlingException","Message":"slow down"}"#,
        )
        .unwrap();
        assert_eq!(body.name(), "ThrottlingException");
        assert_eq!(body.message, "slow down");
        let out = serde_json::to_string(&ErrorBody {
            kind: ErrorCode::NotFound.to_string(),
            message: "no key".into(),
        })
        .unwrap();
        assert_eq!(out, r#"{"__type":"NotFoundException","message":"no key"}"#);
    }
}
