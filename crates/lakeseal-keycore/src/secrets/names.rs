//! Secret names, ARNs and version tokens, checked as AWS checks them.

use lakeseal_envelope::random_bytes;

use crate::model::Location;
use crate::{Error, Result};

/// The longest name.
pub(crate) const MAX_NAME: usize = 512;
/// The longest description.
pub(crate) const MAX_DESCRIPTION: usize = 2048;

/// A name: 1–512 of `A-Za-z0-9/_+=.@-`. AWS also advises against ending in a hyphen and six
/// characters (it would look like an ARN's suffix); that is allowed, as in AWS.
pub(crate) fn check_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > MAX_NAME
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_+=.@-".contains(&b))
    {
        return Err(Error::InvalidParameter(format!(
            "the secret name {:?} must be 1-{MAX_NAME} of A-Z a-z 0-9 / _ + = . @ -",
            shown(name)
        )));
    }
    Ok(())
}

/// A `ClientRequestToken` (a version id): 32–64 of `A-Za-z0-9-`.
pub(crate) fn check_token(token: &str) -> Result<()> {
    if !(32..=64).contains(&token.len())
        || !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(Error::InvalidParameter(format!(
            "ClientRequestToken {:?} must be 32-64 of A-Z a-z 0-9 -",
            shown(token)
        )));
    }
    Ok(())
}

/// A new version id when the caller gave none: a random UUID, as SDKs make.
pub(crate) fn new_token() -> Result<String> {
    let bytes = random_bytes(16)?;
    let b = bytes.expose_secret();
    let mut id = [0u8; 16];
    id.copy_from_slice(b);
    Ok(uuid::Builder::from_random_bytes(id).into_uuid().to_string())
}

/// A new secret's ARN: the name, a hyphen and six random characters, so that a secret made
/// again under an old name has another ARN and old grants do not reach it.
pub(crate) fn new_arn(location: &Location, name: &str) -> Result<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let random = random_bytes(6)?;
    let suffix: String = random
        .expose_secret()
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect();
    Ok(format!("{}{name}-{suffix}", arn_prefix(location)))
}

/// `arn:<partition>:secretsmanager:<region>:<account>:secret:`.
pub(crate) fn arn_prefix(location: &Location) -> String {
    format!(
        "arn:{}:secretsmanager:{}:{}:secret:",
        location.partition, location.region, location.account_id
    )
}

/// What a `SecretId` names: an ARN (whole, or without its six-character suffix) or a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SecretId<'a> {
    /// A whole ARN.
    Arn(&'a str),
    /// A name (or an ARN without its suffix, reduced to the name).
    Name(&'a str),
}

/// Splits a `SecretId`. An ARN of another partition, region or account names nothing here.
pub(crate) fn parse_id<'a>(location: &Location, id: &'a str) -> Option<SecretId<'a>> {
    if !id.starts_with("arn:") {
        return Some(SecretId::Name(id));
    }
    let rest = id.strip_prefix(arn_prefix(location).as_str())?;
    if rest.is_empty() {
        return None;
    }
    // A whole ARN ends in `-` and six characters; a partial one is just the name.
    Some(SecretId::Arn(id))
        .filter(|_| has_suffix(rest))
        .or(Some(SecretId::Name(rest)))
}

fn has_suffix(rest: &str) -> bool {
    let bytes = rest.as_bytes();
    bytes.len() > 7
        && bytes[bytes.len() - 7] == b'-'
        && bytes[bytes.len() - 6..]
            .iter()
            .all(u8::is_ascii_alphanumeric)
}

/// A caller's string as quoted in an error: at most 64 characters.
pub(crate) fn shown(text: &str) -> &str {
    match text.char_indices().nth(64) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn here() -> Location {
        Location {
            partition: "aws".into(),
            region: "eu-west-1".into(),
            account_id: "111122223333".into(),
        }
    }

    #[test]
    fn names_follow_aws_rules() {
        for ok in [
            "db/prod/password",
            "a",
            "x+y=z.w@v-u_t",
            &"n".repeat(MAX_NAME),
        ] {
            check_name(ok).unwrap();
        }
        for bad in [
            "",
            "has space",
            "semi;colon",
            "ünï",
            &"n".repeat(MAX_NAME + 1),
        ] {
            assert!(
                matches!(check_name(bad), Err(Error::InvalidParameter(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn tokens_are_32_to_64_safe_characters() {
        check_token(&new_token().unwrap()).unwrap();
        check_token(&"a".repeat(32)).unwrap();
        check_token(&"a".repeat(64)).unwrap();
        for bad in ["short", &"a".repeat(65), &format!("{}!", "a".repeat(40))] {
            assert!(
                matches!(check_token(bad), Err(Error::InvalidParameter(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn arns_have_a_six_character_suffix_and_parse_back() {
        let loc = here();
        let arn = new_arn(&loc, "db/password").unwrap();
        assert!(
            arn.starts_with("arn:aws:secretsmanager:eu-west-1:111122223333:secret:db/password-")
        );
        assert_eq!(arn.len(), arn_prefix(&loc).len() + "db/password".len() + 7);
        assert_eq!(parse_id(&loc, &arn), Some(SecretId::Arn(&arn)));
        let partial = format!("{}db/password", arn_prefix(&loc));
        assert_eq!(
            parse_id(&loc, &partial),
            Some(SecretId::Name("db/password"))
        );
        assert_eq!(
            parse_id(&loc, "db/password"),
            Some(SecretId::Name("db/password"))
        );
        let elsewhere = arn.replace("eu-west-1", "us-east-1");
        assert_eq!(parse_id(&loc, &elsewhere), None);
        assert_eq!(
            parse_id(&loc, "arn:aws:kms:eu-west-1:111122223333:key/x"),
            None
        );
    }

    #[test]
    fn quoted_input_is_cut() {
        assert_eq!(shown(&"é".repeat(100)).chars().count(), 64);
        assert_eq!(shown("short"), "short");
    }
}
