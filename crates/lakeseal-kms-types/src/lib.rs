//! The AWS wire shapes Lakeseal's key core speaks (KMS, and Secrets Manager in [`secrets`]),
//! shared by the key core (which answers them), its server (which carries them over HTTP) and
//! the key client (which sends them), so that a client does not compile the engine to talk to
//! it.
//!
//! * One module per operation (or close family): its request and response, `PascalCase` JSON as
//!   AWS sends it, blobs in base64, secrets in [`lakeseal_envelope::SecretBytes`] that zeroize.
//! * [`wire`]: the serde helpers for base64 blobs, secret bytes and epoch-second times.
//! * [`ErrorCode`] and [`ErrorBody`]: the error names and the body they travel in.
//!
//! Every KMS operation the key core answers has its shapes here, data plane (what the stage's
//! key client sends) and control plane (keys, aliases, tags, policies, rotation, deletion); the
//! engine's `ops/` re-exports them beside the code that answers them.
//!
//! ```
//! use lakeseal_envelope::EncryptionContext;
//! use lakeseal_kms_types::generate_data_key::GenerateDataKeyRequest;
//!
//! let context = EncryptionContext::from_iter([("table", "telemetry")]);
//! let req = GenerateDataKeyRequest::aes_256("alias/telemetry", context);
//! let json = serde_json::to_string(&req).unwrap();
//! assert!(json.starts_with(r#"{"KeyId":"alias/telemetry","KeySpec":"AES_256""#));
//! assert_eq!(req.data_key_len(), Ok(32));
//! ```
#![warn(missing_docs)]

pub mod aliases;
mod common;
pub mod create_key;
pub mod custom_key_stores;
pub mod decrypt;
pub mod describe_key;
pub mod encrypt;
mod error_code;
pub mod generate_data_key;
pub mod generate_random;
pub mod import;
pub mod key_deletion;
pub mod key_policy;
pub mod list_keys;
pub mod re_encrypt;
pub mod rotation;
pub mod secrets;
pub mod sign;
pub mod tags;
pub mod wire;

pub use common::{Empty, KeyIdRequest, KeyState, RotationType, Tag};
pub use error_code::{ErrorBody, ErrorCode};
pub use wire::Millis;
