//! The key core's error type, with the AWS KMS error name of each variant.

use std::io;

use lakeseal_kms_types::ErrorCode;

use crate::Service;

/// Errors of the key core. [`Error::code`] gives the AWS KMS error name a client sees.
///
/// Messages name keys, aliases and limits, never key material or plaintext.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The key, alias or version does not exist (or no longer does).
    #[error("{0}")]
    NotFound(String),
    /// The key is disabled.
    #[error("{0}")]
    Disabled(String),
    /// The key's state does not allow the operation.
    #[error("{0}")]
    InvalidState(String),
    /// The ciphertext blob is malformed, altered, or its encryption context differs.
    /// Deliberately opaque.
    #[error("the ciphertext is invalid, or its encryption context does not match")]
    InvalidCiphertext,
    /// The blob was made under a key other than the one the caller named.
    #[error("the ciphertext was not encrypted under the key the request named")]
    IncorrectKey,
    /// A request parameter is out of range or malformed.
    #[error("{0}")]
    Validation(String),
    /// The key's spec or usage does not allow the operation or algorithm.
    #[error("{0}")]
    InvalidKeyUsage(String),
    /// `Verify`: the signature does not verify. Deliberately says nothing more.
    #[error("the signature is not valid for this message, key and algorithm")]
    InvalidSignature,
    /// The operation is not supported for this kind of key.
    #[error("{0}")]
    UnsupportedOperation(String),
    /// An import token that was altered or made for another key.
    #[error("{0}")]
    InvalidImportToken(String),
    /// An import token past its 24 hours.
    #[error("{0}")]
    ExpiredImportToken(String),
    /// Imported material other than the key had before.
    #[error("{0}")]
    IncorrectKeyMaterial(String),
    /// An identity still has what must be removed first (access keys, inline policies).
    #[error("{0}")]
    DeleteConflict(String),
    /// An alias of that name exists already.
    #[error("{0}")]
    AlreadyExists(String),
    /// The alias name is not of the form `alias/...` or is reserved.
    #[error("{0}")]
    InvalidAliasName(String),
    /// A Secrets Manager parameter is out of range or malformed.
    #[error("{0}")]
    InvalidParameter(String),
    /// The resource's state does not allow the request (a secret waiting to be deleted).
    #[error("{0}")]
    InvalidRequest(String),
    /// A limit on how many of something a resource may have.
    #[error("{0}")]
    LimitExceeded(String),
    /// A secret's value could not be sealed under its CMK (disabled, being deleted).
    #[error("{0}")]
    EncryptionFailure(String),
    /// A secret's value could not be opened with its CMK (disabled, being deleted, destroyed).
    #[error("{0}")]
    DecryptionFailure(String),
    /// A resource policy that would let anyone in, refused while `BlockPublicPolicy` holds.
    #[error("{0}")]
    PublicPolicy(String),
    /// A Secrets Manager `NextToken` that this key core did not hand out.
    #[error("the NextToken is not valid")]
    InvalidNextToken,
    /// A pagination marker that this key core did not hand out.
    #[error("the pagination marker is not valid")]
    InvalidMarker,
    /// A policy document that cannot be parsed or uses what is not supported.
    #[error("{0}")]
    MalformedPolicy(String),
    /// The caller may not do this.
    #[error("{0}")]
    AccessDenied(String),
    /// The data directory is missing, incomplete, locked or already initialised.
    #[error("{0}")]
    DataDir(String),
    /// The audit record could not be made durable, so the operation is refused (fail closed).
    #[error("the audit trail is unavailable: {0}")]
    Audit(String),
    /// The audit trail no longer holds the record the store anchored: it was emptied, cut
    /// short or replaced. Nothing is appended to it until an operator acknowledges the break.
    #[error(
        "{0}. Nothing is appended to it until an operator acknowledges the break with \
         `lakeseal audit reset --acknowledge-break` (the broken file is kept beside the new one)"
    )]
    AuditBroken(String),
    /// The durable store failed.
    #[error("key store: {0}")]
    Store(#[from] rusqlite::Error),
    /// A file of the data directory could not be read or written (the cause follows in the
    /// error's chain).
    #[error("data directory I/O failed")]
    Io(#[from] io::Error),
    /// A named file of the data directory could not be read or written.
    #[error("{}: {error}", path.display())]
    IoAt {
        /// The file or directory.
        path: std::path::PathBuf,
        /// What the system said.
        error: io::Error,
    },
    /// An invariant of the key core was broken; the message says which.
    #[error("internal error: {0}")]
    Internal(String),
    /// The key's HSM cannot be reached (disconnected, token gone, wrong PIN); worth retrying.
    #[error("{0}")]
    KeyUnavailable(String),
    /// No custom key store has that id.
    #[error("{0}")]
    CustomKeyStoreNotFound(String),
    /// The custom key store cannot do that now (it is disconnected).
    #[error("{0}")]
    CustomKeyStoreInvalidState(String),
}

impl Error {
    /// The AWS KMS error name (`__type`) for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::NotFound(_) => ErrorCode::NotFound,
            Error::Disabled(_) => ErrorCode::Disabled,
            Error::InvalidState(_) => ErrorCode::InvalidState,
            Error::InvalidCiphertext => ErrorCode::InvalidCiphertext,
            Error::IncorrectKey => ErrorCode::IncorrectKey,
            Error::Validation(_) => ErrorCode::Validation,
            Error::InvalidKeyUsage(_) => ErrorCode::InvalidKeyUsage,
            Error::InvalidSignature => ErrorCode::KmsInvalidSignature,
            Error::UnsupportedOperation(_) => ErrorCode::UnsupportedOperation,
            Error::InvalidImportToken(_) => ErrorCode::InvalidImportToken,
            Error::ExpiredImportToken(_) => ErrorCode::ExpiredImportToken,
            Error::IncorrectKeyMaterial(_) => ErrorCode::IncorrectKeyMaterial,
            Error::AlreadyExists(_) => ErrorCode::AlreadyExists,
            Error::DeleteConflict(_) => ErrorCode::DeleteConflict,
            Error::InvalidAliasName(_) => ErrorCode::InvalidAliasName,
            Error::InvalidMarker => ErrorCode::InvalidMarker,
            Error::MalformedPolicy(_) => ErrorCode::MalformedPolicy,
            Error::AccessDenied(_) => ErrorCode::AccessDenied,
            Error::InvalidParameter(_) => ErrorCode::Validation,
            Error::InvalidRequest(_) => ErrorCode::InvalidState,
            Error::LimitExceeded(_) => ErrorCode::LimitExceeded,
            Error::EncryptionFailure(_) => ErrorCode::EncryptionFailure,
            Error::DecryptionFailure(_) => ErrorCode::DecryptionFailure,
            Error::PublicPolicy(_) => ErrorCode::PublicPolicy,
            Error::InvalidNextToken => ErrorCode::InvalidNextToken,
            Error::KeyUnavailable(_) => ErrorCode::KeyUnavailable,
            Error::CustomKeyStoreNotFound(_) => ErrorCode::CustomKeyStoreNotFound,
            Error::CustomKeyStoreInvalidState(_) => ErrorCode::CustomKeyStoreInvalidState,
            Error::DataDir(_)
            | Error::Audit(_)
            | Error::AuditBroken(_)
            | Error::Store(_)
            | Error::Io(_)
            | Error::IoAt { .. }
            | Error::Internal(_) => ErrorCode::Internal,
        }
    }
}

impl Error {
    /// The error name a caller of `service` sees: Secrets Manager names the same failures
    /// differently from KMS.
    pub fn code_in(&self, service: Service) -> ErrorCode {
        let kms = self.code();
        if service == Service::Kms {
            return kms;
        }
        match self {
            Error::NotFound(_) => ErrorCode::ResourceNotFound,
            Error::AlreadyExists(_) => ErrorCode::ResourceExists,
            Error::Validation(_) | Error::InvalidParameter(_) => ErrorCode::InvalidParameter,
            Error::InvalidState(_) | Error::InvalidRequest(_) => ErrorCode::InvalidRequest,
            Error::InvalidMarker | Error::InvalidNextToken => ErrorCode::InvalidNextToken,
            _ if kms == ErrorCode::Internal => ErrorCode::InternalServiceError,
            _ => kms,
        }
    }
}

impl Error {
    /// For `map_err`: an I/O failure on `path`, named in the message.
    pub(crate) fn at(path: &std::path::Path) -> impl FnOnce(io::Error) -> Error + '_ {
        move |error| Error::IoAt {
            path: path.to_owned(),
            error,
        }
    }
}

impl From<lakeseal_envelope::Error> for Error {
    fn from(e: lakeseal_envelope::Error) -> Self {
        match e {
            lakeseal_envelope::Error::InvalidCiphertext => Error::InvalidCiphertext,
            other => Error::Internal(other.to_string()),
        }
    }
}

/// `Result` with the key core's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
