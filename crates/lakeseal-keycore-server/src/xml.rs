//! The query protocols' XML answers (STS, IAM), some of which carry a secret: a new access key's
//! secret, a session's secret and token.
//!
//! [`SecretText`] holds such an answer while it is written: its memory is wiped when it is
//! dropped and, unlike a `String`'s, also when it grows (a `String` that reallocates leaves the
//! old copy in freed memory). [`Escaped`] writes XML character data straight into it, with no
//! copy of its own. The finished body leaves for the HTTP layer by [`SecretText::into_body`]:
//! that buffer is the one copy outside the key core, freed by hyper once it is sent, unwiped.

use std::fmt::{self, Display, Write};

use zeroize::Zeroizing;

/// A text buffer for an answer that may hold a secret.
#[derive(Default)]
pub(crate) struct SecretText(Zeroizing<String>);

impl fmt::Debug for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretText({} bytes)", self.0.len())
    }
}

impl SecretText {
    /// An empty buffer with room for `capacity` bytes.
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self(Zeroizing::new(String::with_capacity(capacity)))
    }

    /// The text written so far.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// The answer as an HTTP body: moved out, not copied (see the module's note).
    pub(crate) fn into_body(mut self) -> Vec<u8> {
        std::mem::take(&mut *self.0).into_bytes()
    }
}

impl Write for SecretText {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.0.capacity() - self.0.len() < s.len() {
            let wanted = (self.0.len() + s.len()).max(self.0.capacity() * 2);
            let mut bigger = String::with_capacity(wanted);
            bigger.push_str(&self.0);
            // The old allocation is wiped as it goes.
            drop(Zeroizing::new(std::mem::replace(&mut *self.0, bigger)));
        }
        self.0.push_str(s);
        Ok(())
    }
}

/// Text as XML character data (`&`, `<`, `>`, `"` and `'` escaped), written where it is
/// formatted.
pub(crate) struct Escaped<'a>(pub(crate) &'a str);

impl Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(i) = rest.find(['&', '<', '>', '"', '\'']) {
            f.write_str(&rest[..i])?;
            f.write_str(match rest.as_bytes()[i] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&apos;",
            })?;
            rest = &rest[i + 1..];
        }
        f.write_str(rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_special_character_is_escaped_and_nothing_else() {
        assert_eq!(
            Escaped(r#"a&b<c>d"e'f g/h+="#).to_string(),
            "a&amp;b&lt;c&gt;d&quot;e&apos;f g/h+="
        );
        assert_eq!(Escaped("").to_string(), "");
        assert_eq!(Escaped("<<").to_string(), "&lt;&lt;");
        assert_eq!(Escaped("é&ü").to_string(), "é&amp;ü");
    }

    #[test]
    fn the_buffer_grows_past_its_capacity_and_keeps_every_byte() {
        let mut text = SecretText::with_capacity(4);
        let mut expected = String::new();
        for i in 0..200 {
            write!(text, "<k>{}</k>", Escaped(&format!("{i}&"))).unwrap();
            write!(expected, "<k>{i}&amp;</k>").unwrap();
        }
        assert_eq!(text.as_str(), expected);
        assert_eq!(text.into_body(), expected.into_bytes());
    }

    #[test]
    fn debug_shows_the_length_only() {
        let mut text = SecretText::default();
        text.write_str("s3cret").unwrap();
        assert_eq!(format!("{text:?}"), "SecretText(6 bytes)");
    }
}
