//! `random-token`: a secret that is a bearer token only its holders know; each rotation makes a
//! new random string. Nothing outside the key core changes, so `setSecret` has nothing to do.
//!
//! Configured by the secret's tags:
//! * `lakeseal:rotation:length` — characters, 16–4096 (default 32);
//! * `lakeseal:rotation:alphabet` — `alphanumeric` (default), `hex`, `base32` (RFC 4648,
//!   upper case), `urlsafe` (alphanumeric, `-`, `_`) or `printable` (ASCII `!`–`~` but the
//!   quotes and backslash, which break shells and config files).

use lakeseal_envelope::{SecretBytes, random_bytes};
use lakeseal_kms_types::secrets::SecretValue;
use zeroize::Zeroizing;

use super::{Rotating, RotationError, Rotator};

/// The tag that sets a token's length.
pub const LENGTH_TAG: &str = "lakeseal:rotation:length";
/// The tag that sets a token's alphabet.
pub const ALPHABET_TAG: &str = "lakeseal:rotation:alphabet";

const DEFAULT_LENGTH: usize = 32;
/// Shorter tokens than this are guessable; the tag is refused.
const MIN_LENGTH: usize = 16;
const MAX_LENGTH: usize = 4096;

/// The characters a token is drawn from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Alphabet {
    /// `A-Z a-z 0-9`.
    #[default]
    Alphanumeric,
    /// `0-9 a-f`.
    Hex,
    /// `A-Z 2-7`.
    Base32,
    /// `A-Z a-z 0-9 - _`.
    UrlSafe,
    /// ASCII `!` to `~` without `"`, `'`, `` ` `` and `\`.
    Printable,
}

impl Alphabet {
    /// The alphabet a tag value names.
    pub fn named(name: &str) -> Option<Self> {
        Some(match name {
            "alphanumeric" => Self::Alphanumeric,
            "hex" => Self::Hex,
            "base32" => Self::Base32,
            "urlsafe" => Self::UrlSafe,
            "printable" => Self::Printable,
            _ => return None,
        })
    }

    fn characters(self) -> Vec<u8> {
        let alnum = || (b'A'..=b'Z').chain(b'a'..=b'z').chain(b'0'..=b'9');
        match self {
            Self::Alphanumeric => alnum().collect(),
            Self::Hex => (b'0'..=b'9').chain(b'a'..=b'f').collect(),
            Self::Base32 => (b'A'..=b'Z').chain(b'2'..=b'7').collect(),
            Self::UrlSafe => alnum().chain([b'-', b'_']).collect(),
            Self::Printable => (b'!'..=b'~').filter(|c| !b"\"'`\\".contains(c)).collect(),
        }
    }
}

/// `length` characters drawn uniformly from `alphabet` (rejection sampling, so no character is
/// likelier than another), from the operating system's random source.
pub fn random_string(length: usize, alphabet: Alphabet) -> Result<SecretBytes, RotationError> {
    let characters = alphabet.characters();
    // The largest multiple of the alphabet's size that fits in a byte: bytes at or above it
    // are dropped, so every character is equally likely.
    let n = characters.len();
    let limit = 256 - 256 % n;
    let mut out = Zeroizing::new(Vec::with_capacity(length));
    while out.len() < length {
        let random = random_bytes(length * 2)
            .map_err(|e| RotationError::new(format!("no randomness: {e}")))?;
        let wanted = length - out.len();
        out.extend(
            random
                .expose_secret()
                .iter()
                .map(|&b| usize::from(b))
                .filter(|&b| b < limit)
                .map(|b| characters[b % n])
                .take(wanted),
        );
    }
    Ok(SecretBytes::new(std::mem::take(&mut *out)))
}

/// The `random-token` rotator.
#[derive(Debug, Default, Clone, Copy)]
pub struct RandomToken;

impl RandomToken {
    fn settings(secret: &Rotating<'_>) -> Result<(usize, Alphabet), RotationError> {
        let length = match secret.tag(LENGTH_TAG) {
            None => DEFAULT_LENGTH,
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|n| (MIN_LENGTH..=MAX_LENGTH).contains(n))
                .ok_or_else(|| {
                    RotationError::new(format!(
                        "the tag {LENGTH_TAG} must be a number from {MIN_LENGTH} to {MAX_LENGTH}"
                    ))
                })?,
        };
        let alphabet = match secret.tag(ALPHABET_TAG) {
            None => Alphabet::default(),
            Some(name) => Alphabet::named(name).ok_or_else(|| {
                RotationError::new(format!(
                    "the tag {ALPHABET_TAG} must be alphanumeric, hex, base32, urlsafe or printable"
                ))
            })?,
        };
        Ok((length, alphabet))
    }
}

#[async_trait::async_trait]
impl Rotator for RandomToken {
    fn name(&self) -> &'static str {
        "random-token"
    }

    async fn create_secret(
        &self,
        secret: &Rotating<'_>,
        _current: &SecretValue,
    ) -> Result<SecretValue, RotationError> {
        let (length, alphabet) = Self::settings(secret)?;
        Ok(SecretValue::String(random_string(length, alphabet)?))
    }

    async fn set_secret(
        &self,
        _secret: &Rotating<'_>,
        _current: &SecretValue,
        _pending: &SecretValue,
    ) -> Result<(), RotationError> {
        Ok(())
    }

    async fn test_secret(
        &self,
        secret: &Rotating<'_>,
        pending: &SecretValue,
    ) -> Result<(), RotationError> {
        let (length, alphabet) = Self::settings(secret)?;
        let characters = alphabet.characters();
        let token = pending.expose_secret();
        if token.len() != length || !token.iter().all(|c| characters.contains(c)) {
            return Err(RotationError::new(
                "the new token does not have the configured length and alphabet",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_the_length_and_alphabet_asked_for() {
        for alphabet in [
            Alphabet::Alphanumeric,
            Alphabet::Hex,
            Alphabet::Base32,
            Alphabet::UrlSafe,
            Alphabet::Printable,
        ] {
            let token = random_string(100, alphabet).unwrap();
            assert_eq!(token.len(), 100);
            let allowed = alphabet.characters();
            assert!(token.expose_secret().iter().all(|c| allowed.contains(c)));
        }
        assert!(!Alphabet::Printable.characters().contains(&b'\''));
        assert_eq!(Alphabet::Base32.characters().len(), 32);
    }

    #[test]
    fn every_character_turns_up_and_tokens_differ() {
        let token = random_string(4000, Alphabet::Hex).unwrap();
        for c in Alphabet::Hex.characters() {
            let count = token.expose_secret().iter().filter(|&&t| t == c).count();
            // 250 expected per character; a biased draw would leave some far off.
            assert!(
                (150..350).contains(&count),
                "{} drawn {count} times",
                c as char
            );
        }
        let other = random_string(4000, Alphabet::Hex).unwrap();
        assert_ne!(token.expose_secret(), other.expose_secret());
    }
}
