//! The key core's operations, one AWS KMS operation (or a close family) per file. Each has its
//! request and response types in the AWS JSON shape, its checks, and its apply step.

mod access_keys;
pub mod aliases;
mod assume_role;
pub mod create_key;
pub mod custom_key_stores;
pub mod decrypt;
pub mod describe_key;
pub mod encrypt;
pub mod generate_data_key;
pub mod generate_random;
pub(crate) mod iam_manage;
mod iam_roles;
mod iam_users;
pub mod import;
pub mod key_deletion;
pub mod key_policy;
pub mod key_state;
pub mod list_keys;
pub mod public_key;
pub mod re_encrypt;
pub mod rotation;
pub(crate) mod secrets;
pub mod sign;
pub mod tags;
pub mod workload_identity;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::{Error, Result};

pub use lakeseal_kms_types::{Empty, KeyIdRequest};

/// Default and largest page sizes of list operations.
const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 1000;

pub(crate) fn page_limit(limit: Option<u32>) -> Result<usize> {
    match limit.unwrap_or(DEFAULT_LIMIT) {
        n @ 1..=MAX_LIMIT => Ok(n as usize),
        n => Err(Error::Validation(format!(
            "Limit {n} is out of range 1..={MAX_LIMIT}"
        ))),
    }
}

/// Markers are the name to resume at, base64url so that callers treat them as opaque.
pub(crate) fn encode_marker(name: &str) -> String {
    URL_SAFE_NO_PAD.encode(name)
}

pub(crate) fn decode_marker(marker: Option<&str>) -> Result<Option<String>> {
    marker
        .map(|m| {
            URL_SAFE_NO_PAD
                .decode(m)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or(Error::InvalidMarker)
        })
        .transpose()
}

/// Takes one page from an ordered iterator of `(name, item)` starting at `marker`.
pub(crate) fn page<'a, T: 'a>(
    items: impl Iterator<Item = (&'a String, T)>,
    marker: Option<&str>,
    limit: Option<u32>,
) -> Result<(Vec<T>, Option<String>)> {
    let limit = page_limit(limit)?;
    let start = decode_marker(marker)?;
    let mut out = Vec::new();
    for (name, item) in items {
        if start.as_deref().is_some_and(|s| name.as_str() < s) {
            continue;
        }
        if out.len() == limit {
            return Ok((out, Some(encode_marker(name))));
        }
        out.push(item);
    }
    Ok((out, None))
}
