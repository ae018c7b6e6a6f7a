//! `keycore-access-key`: rotates an access key of a key-core user. The secret is the JSON
//! `{"UserName": …, "AccessKeyId": …, "SecretAccessKey": …}` (other members are kept).
//!
//! `createSecret` makes the user a new access key; `testSecret` checks that the key core would
//! authenticate it; once the new key is current, `finishSecret` gives the previous key an
//! overlap — clients that still hold it keep working — after which the key core deletes it.
//! The overlap is the secret's tag `lakeseal:rotation:overlap` (`<n>s|m|h|d`, at most 30 days;
//! default 24 hours).

use lakeseal_envelope::SecretBytes;
use lakeseal_kms_types::secrets::SecretValue;
use subtle::ConstantTimeEq;

use super::{Rotating, RotationError, Rotator, SecretJson};
use crate::clock::{DAY_MS, Millis};

/// The tag that sets how long the previous key keeps working.
pub const OVERLAP_TAG: &str = "lakeseal:rotation:overlap";

const DEFAULT_OVERLAP_MS: Millis = DAY_MS;
const MAX_OVERLAP_MS: Millis = 30 * DAY_MS;

/// The `keycore-access-key` rotator.
#[derive(Debug, Default, Clone, Copy)]
pub struct KeycoreAccessKey;

/// The overlap a tag value gives: `<n>` followed by `s`, `m`, `h` or `d`.
fn overlap_ms(secret: &Rotating<'_>) -> Result<Millis, RotationError> {
    let Some(text) = secret.tag(OVERLAP_TAG) else {
        return Ok(DEFAULT_OVERLAP_MS);
    };
    let bad = || {
        RotationError::new(format!(
            "the tag {OVERLAP_TAG} must be <n>s, <n>m, <n>h or <n>d, at most 30 days"
        ))
    };
    let last = text.chars().last().ok_or_else(bad)?;
    let unit = match last {
        's' => 1000,
        'm' => 60 * 1000,
        'h' => 60 * 60 * 1000,
        'd' => DAY_MS,
        _ => return Err(bad()),
    };
    let n: Millis = text[..text.len() - last.len_utf8()]
        .parse()
        .map_err(|_| bad())?;
    n.checked_mul(unit)
        .filter(|ms| (0..=MAX_OVERLAP_MS).contains(ms))
        .ok_or_else(bad)
}

#[async_trait::async_trait]
impl Rotator for KeycoreAccessKey {
    fn name(&self) -> &'static str {
        "keycore-access-key"
    }

    async fn create_secret(
        &self,
        secret: &Rotating<'_>,
        current: &SecretValue,
    ) -> Result<SecretValue, RotationError> {
        overlap_ms(secret)?;
        let mut json = SecretJson::parse(current)?;
        let user = json.required("UserName")?.to_owned();
        let key = secret.core.create_access_key_for_rotation(&user).await?;
        json.set("AccessKeyId", key.access_key_id.clone());
        let secret_key = String::from_utf8(key.secret_access_key.expose_secret().to_vec())
            .map_err(|_| RotationError::new("the new secret access key is not text"))?;
        json.set("SecretAccessKey", secret_key);
        json.to_value()
    }

    async fn set_secret(
        &self,
        _secret: &Rotating<'_>,
        _current: &SecretValue,
        _pending: &SecretValue,
    ) -> Result<(), RotationError> {
        // The key is live from the moment it is made.
        Ok(())
    }

    async fn test_secret(
        &self,
        secret: &Rotating<'_>,
        pending: &SecretValue,
    ) -> Result<(), RotationError> {
        let json = SecretJson::parse(pending)?;
        let id = json.required("AccessKeyId")?;
        let identity = secret
            .core
            .signing_identity(id)?
            .ok_or_else(|| RotationError::new(format!("access key {id} does not exist")))?;
        let given = SecretBytes::new(json.required("SecretAccessKey")?.as_bytes().to_vec());
        let same = identity.secret.expose_secret().ct_eq(given.expose_secret());
        if !bool::from(same) || identity.expires.is_some() {
            return Err(RotationError::new(format!(
                "access key {id} would not authenticate with the new secret"
            )));
        }
        let user = secret.core.user_arn(json.required("UserName")?);
        if identity.principal.arn != user {
            return Err(RotationError::new(format!(
                "access key {id} belongs to {}, not {user}",
                identity.principal.arn
            )));
        }
        Ok(())
    }

    async fn finish_secret(
        &self,
        secret: &Rotating<'_>,
        previous: &SecretValue,
    ) -> Result<(), RotationError> {
        let json = SecretJson::parse(previous)?;
        let (Some(user), Some(id)) = (json.str("UserName"), json.str("AccessKeyId")) else {
            // A first value written by hand may hold no key yet.
            return Ok(());
        };
        let at = secret.core.now_ms() + overlap_ms(secret)?;
        secret.core.retire_access_key(user, id, at).await?;
        Ok(())
    }

    async fn discard(
        &self,
        secret: &Rotating<'_>,
        stale: &SecretValue,
    ) -> Result<(), RotationError> {
        let json = SecretJson::parse(stale)?;
        if let (Some(user), Some(id)) = (json.str("UserName"), json.str("AccessKeyId")) {
            secret.core.delete_access_key_for_rotation(user, id).await?;
        }
        Ok(())
    }
}
