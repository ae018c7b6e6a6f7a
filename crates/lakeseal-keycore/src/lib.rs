//! The Lakeseal key core: a key-management service engine.
//!
//! It keeps customer master keys (CMKs) whose material never leaves it, and answers the AWS KMS
//! operations on them: `CreateKey`, `GenerateDataKey`, `Encrypt`, `Decrypt`, `ReEncrypt`,
//! rotation, aliases, tags, disable/enable and scheduled deletion ending in crypto-erasure.
//!
//! * **Versions.** A rotation makes a new primary version; older versions keep decrypting.
//! * **States.** `Enabled`, `Disabled`, `PendingDeletion`, with the table of what each allows in
//!   [`state::STATE_TABLE`].
//! * **Durable.** A data directory holds a SQLite store (key material sealed under a root key),
//!   the root key (mode 0600), and the audit log. An operation is answered only once its effect
//!   and its audit record are on disk.
//! * **Audited.** Every call, allowed or refused, appends a hash-chained record; see [`audit`].
//!
//! Every call takes the caller's [`Principal`] and [`RequestContext`].
//!
//! ```
//! use lakeseal_envelope::EncryptionContext;
//! use lakeseal_keycore::ops::create_key::CreateKeyRequest;
//! use lakeseal_keycore::ops::decrypt::DecryptRequest;
//! use lakeseal_keycore::ops::generate_data_key::GenerateDataKeyRequest;
//! use lakeseal_keycore::{InitOptions, KeyCore, Options, Principal, RequestContext};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let init = InitOptions { region: "eu-west-1".into(), account_id: None, partition: "aws".into() };
//! let location = KeyCore::init(dir.path(), &init)?;
//! let core = KeyCore::open(dir.path(), Options::default())?;
//! let admin = Principal::account_root(&location.account_id);
//! let ctx = RequestContext::local("example");
//!
//! let key = core.create_key(&admin, &ctx, CreateKeyRequest::default()).await?;
//! let context = EncryptionContext::from_iter([("table", "telemetry")]);
//! let req = GenerateDataKeyRequest::aes_256(&key.key_metadata.key_id, context.clone());
//! let dek = core.generate_data_key(&admin, &ctx, req).await?;
//!
//! let again = core
//!     .decrypt(&admin, &ctx, DecryptRequest {
//!         ciphertext_blob: dek.ciphertext_blob.clone(),
//!         encryption_context: context,
//!         key_id: None,
//!         encryption_algorithm: None,
//!     })
//!     .await?;
//! assert_eq!(again.plaintext.expose_secret(), dek.plaintext.expose_secret());
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod asymmetric;
pub mod audit;
pub(crate) mod authz;
pub mod clock;
mod core;
mod error;
pub mod hsm;
pub mod iam;
pub mod import;
pub mod key_metrics;
pub mod key_spec;
pub mod model;
pub mod ops;
pub mod policy;
mod request;
mod root;
pub mod rotation;
pub mod secrets;
pub mod state;
mod store;

pub use crate::core::{
    AuditReset, DEFAULT_SECRETS_KEY_ALIAS, InitOptions, KeyCore, MAX_CONTEXT_BYTES, Options,
};
pub use audit::Durability;
pub use error::{Error, Result};
pub use lakeseal_kms_types::{ErrorCode, wire};
pub use ops::iam_manage::Holder;
pub use request::{Principal, RequestContext, Service};
