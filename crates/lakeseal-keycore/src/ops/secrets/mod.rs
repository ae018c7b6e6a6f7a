//! The AWS Secrets Manager operations, by family: `write` (create, put, update), `read` (get,
//! batch get), `describe` (describe, list, list versions), `manage` (labels, tags, deletion,
//! resource policies), `rotate` (rotation and its schedule). Shapes from `lakeseal_kms_types::secrets`.

mod describe;
mod manage;
mod read;
mod rotate;
mod write;

pub(crate) use self::write::refuse_if_deleted;

use lakeseal_envelope::SecretBytes;
use lakeseal_kms_types::secrets::{MAX_SECRET_BYTES, SecretTag, SecretValue};

use crate::{Error, Result};

/// The most tags a secret may carry.
const MAX_TAGS: usize = 50;
/// The most results one page of a list may hold.
const MAX_RESULTS: u32 = 100;

/// The value of a write request: at most one of the two members, at most 64 KiB.
pub(crate) fn value_of(
    string: Option<SecretBytes>,
    binary: Option<SecretBytes>,
) -> Result<Option<SecretValue>> {
    let value = SecretValue::from_members(string, binary)
        .map_err(|why| Error::InvalidParameter(why.to_owned()))?;
    if let Some(v) = &value
        && v.expose_secret().len() > MAX_SECRET_BYTES
    {
        return Err(Error::InvalidParameter(format!(
            "the secret value is {} bytes; the limit is {MAX_SECRET_BYTES}",
            v.expose_secret().len()
        )));
    }
    Ok(value)
}

/// Tags as AWS allows them: at most 50, keys 1–128 characters, values at most 256, keys not
/// starting with `aws:`.
pub(crate) fn check_tags(tags: &[SecretTag]) -> Result<()> {
    if tags.len() > MAX_TAGS {
        return Err(Error::InvalidParameter(format!(
            "at most {MAX_TAGS} tags per secret"
        )));
    }
    for tag in tags {
        if tag.key.is_empty() || tag.key.chars().count() > 128 || tag.value.chars().count() > 256 {
            return Err(Error::InvalidParameter(
                "tag keys are 1-128 characters, values at most 256".into(),
            ));
        }
        if tag.key.starts_with("aws:") {
            return Err(Error::InvalidParameter(
                "tag keys starting with aws: are reserved".into(),
            ));
        }
    }
    Ok(())
}

/// A page size as the secrets manager allows it (1–100).
pub(crate) fn max_results(requested: Option<u32>) -> Result<Option<u32>> {
    match requested {
        Some(n) if !(1..=MAX_RESULTS).contains(&n) => Err(Error::InvalidParameter(format!(
            "MaxResults {n} is out of range 1-{MAX_RESULTS}"
        ))),
        other => Ok(other),
    }
}
