//! A reader of one flat JSON object, for [`crate::decode`]: field names and scalar values are
//! taken straight from the record's bytes, in one pass, checked against RFC 8259 as they go.
//!
//! A general JSON parser builds values nobody asked for; here a field name is compared with the
//! column expected next before anything else, and a field the schema does not have is skipped —
//! still checked, so that a record is refused as "not JSON" exactly when it is not JSON. Outside
//! its strings JSON is ASCII, so a record is UTF-8 when its strings are: a string's UTF-8 is
//! checked only when its scan met a byte above 0x7f, and an ASCII record is never checked again.

/// Why the bytes are not one JSON value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Syntax {
    /// What was wrong.
    pub what: &'static str,
    /// The byte offset where it was found.
    pub at: usize,
}

impl std::fmt::Display for Syntax {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at byte {}", self.what, self.at)
    }
}

/// Scanning eight bytes at a time: a word's bytes are read little-endian (the first byte lowest)
/// and tested all at once, each answer in the byte's top bit. A test's borrows and carries run
/// from a byte to the next, so only its first (lowest) flagged byte is sure: every scan here
/// wants the first one, so no record's content decides a branch per byte.
const ONES: u64 = 0x0101_0101_0101_0101;
const TOPS: u64 = 0x8080_8080_8080_8080;

/// The eight bytes of `bytes` from `at` as a word, when there are eight.
fn word(bytes: &[u8], at: usize) -> Option<u64> {
    let eight = bytes.get(at..)?.first_chunk::<8>()?;
    Some(u64::from_le_bytes(*eight))
}

/// The first byte of a word's flags (8 when none).
fn first_flagged(flags: u64) -> usize {
    (flags.trailing_zeros() / 8) as usize
}

/// Flags the bytes of `w` that end a string's plain run: `"`, `\` or a control character.
fn run_ends(w: u64) -> u64 {
    let zero = |v: u64| v.wrapping_sub(ONES) & !v;
    let quote = zero(w ^ (ONES * u64::from(b'"')));
    let backslash = zero(w ^ (ONES * u64::from(b'\\')));
    // Below 0x20, of the bytes below 0x80 (a byte of a multi-byte character is not flagged).
    let control = w.wrapping_sub(ONES * 0x20) & !w;
    (quote | backslash | control) & TOPS
}

/// A run of a string's bytes taken as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run {
    /// Its length: up to the string's closing quote, an escape, or a control character (which
    /// JSON refuses), all ASCII, so a run ends on a character boundary.
    len: usize,
    /// Whether a byte of it is above 0x7f: only then can it be invalid UTF-8.
    wide: bool,
}

/// The run at the start of `rest`; `None` when the string never ends.
#[inline(always)]
fn plain_run(rest: &[u8]) -> Option<Run> {
    let mut n = 0;
    let mut tops = 0;
    while let Some(w) = word(rest, n) {
        let ends = run_ends(w);
        if ends != 0 {
            // The top bits of the bytes before the first flagged one.
            let before = (ends & ends.wrapping_neg()) - 1;
            return Some(Run {
                len: n + first_flagged(ends),
                wide: (tops | (w & before)) & TOPS != 0,
            });
        }
        tops |= w;
        n += 8;
    }
    // Fewer than eight bytes left.
    let mut wide = tops & TOPS != 0;
    for (i, &b) in rest[n..].iter().enumerate() {
        if b == b'"' || b == b'\\' || b < 0x20 {
            return Some(Run { len: n + i, wide });
        }
        wide |= b > 0x7f;
    }
    None
}

/// How many of a word's bytes, from the first, are ASCII digits.
fn leading_digits(w: u64) -> usize {
    // Above '9' (+0x46 reaches the top bit) or below '0' (-0x30 wraps).
    let not_digit = (w.wrapping_add(ONES * 0x46) | w.wrapping_sub(ONES * 0x30)) & TOPS;
    first_flagged(not_digit)
}

/// The number that a word's first `n` bytes (1 to 8, all digits) write: digits are paired, the
/// pairs paired, and those pairs paired, by three multiplications (as in `fast_float`).
fn digits_value(w: u64, n: usize) -> u64 {
    // Digit values, moved to the top of the word: the bytes below are zeros in front of them.
    let v = w.wrapping_sub(ONES * u64::from(b'0')) << (8 * (8 - n));
    let pairs = v.wrapping_mul(10).wrapping_add(v >> 8);
    let low = (pairs & 0x0000_00ff_0000_00ff).wrapping_mul(100 + (1_000_000 << 32));
    let high = ((pairs >> 16) & 0x0000_00ff_0000_00ff).wrapping_mul(1 + (10_000 << 32));
    u64::from(((low.wrapping_add(high)) >> 32) as u32)
}

/// Ten to the power of each number of digits a word can hold.
const POW10_WORD: [u64; 9] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
];

/// The powers of ten that are exact doubles.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// A field name as a record writes it when it needs no escapes, with its closing quote, in
/// words: compared with the record a word at a time (a call to `memcmp` costs more than the
/// comparing, and a byte at a time branches per byte).
#[derive(Debug, Clone)]
pub(crate) struct FieldName {
    /// The name and its closing quote.
    bytes: Box<[u8]>,
    /// `bytes` in words, each with the mask of its bytes that are the name's (the last word is
    /// padded with zeros).
    words: Box<[(u64, u64)]>,
}

impl FieldName {
    /// `name`'s raw form; `None` when JSON would escape it (then it is compared after
    /// unescaping).
    pub(crate) fn new(name: &str) -> Option<Self> {
        // A byte that would end a string's plain run is one JSON escapes.
        if plain_run(name.as_bytes()).is_some() {
            return None;
        }
        let bytes: Box<[u8]> = [name.as_bytes(), b"\""].concat().into();
        let words = bytes
            .chunks(8)
            .map(|chunk| {
                let mut word = [0; 8];
                word[..chunk.len()].copy_from_slice(chunk);
                let mask = u64::MAX >> (8 * (8 - chunk.len()));
                (u64::from_le_bytes(word), mask)
            })
            .collect();
        Some(Self { bytes, words })
    }

    /// Whether `rest` starts with the name and its closing quote.
    fn starts(&self, rest: &[u8]) -> bool {
        let mut diff = 0;
        for (i, &(expected, mask)) in self.words.iter().enumerate() {
            let Some(got) = word(rest, i * 8) else {
                // Near the record's end.
                return rest.starts_with(&self.bytes);
            };
            diff |= (got & mask) ^ expected;
        }
        diff == 0
    }
}

/// How deep arrays and objects may nest inside a skipped field.
const MAX_DEPTH: usize = 128;

/// A scalar value, or the kind of a composite one (which no column takes, so it is not read).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Scalar {
    Null,
    Bool(bool),
    /// An integer that fits an `i64`.
    Int(i64),
    /// Any other number.
    Float(f64),
    /// A string with escapes; its text, unescaped, was appended to the buffer given to
    /// [`Reader::value`].
    Str,
    /// A string without escapes: its text is the record's bytes in this range
    /// ([`Reader::slice`]), not copied.
    Raw(usize, usize),
    Array,
    Object,
}

/// A cursor over one record.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    /// A reader of `bytes`.
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, at: 0 }
    }

    /// The record's bytes in `from..to`, a range that [`Scalar::Raw`] gave: UTF-8.
    pub(crate) fn slice(&self, from: usize, to: usize) -> &'a [u8] {
        &self.bytes[from..to]
    }

    /// `run`, the bytes from `at`, once checked to be UTF-8 when it has bytes above 0x7f.
    #[inline(always)]
    fn checked(&self, at: usize, run: Run) -> Result<&'a [u8], Syntax> {
        let bytes = &self.bytes[at..at + run.len];
        if run.wide {
            Self::utf8(bytes, at)?;
        }
        Ok(bytes)
    }

    /// `bytes`, from `at` in the record, must be UTF-8.
    #[cold]
    fn utf8(bytes: &[u8], at: usize) -> Result<(), Syntax> {
        match std::str::from_utf8(bytes) {
            Ok(_) => Ok(()),
            Err(e) => Err(Syntax {
                what: "invalid UTF-8",
                at: at + e.valid_up_to(),
            }),
        }
    }

    fn fail<T>(&self, what: &'static str) -> Result<T, Syntax> {
        Err(Syntax { what, at: self.at })
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.at) {
            self.at += 1;
        }
    }

    /// The next byte after whitespace, not consumed.
    pub(crate) fn peek(&mut self) -> Option<u8> {
        match self.bytes.get(self.at) {
            // Compact JSON: every byte above the space is not whitespace.
            Some(&b) if b > b' ' => Some(b),
            _ => {
                self.skip_whitespace();
                self.bytes.get(self.at).copied()
            }
        }
    }

    fn expect(&mut self, byte: u8, what: &'static str) -> Result<(), Syntax> {
        if self.peek() == Some(byte) {
            self.at += 1;
            Ok(())
        } else {
            self.fail(what)
        }
    }

    /// `{`, and whether the object is empty (then `}` is consumed too).
    pub(crate) fn object_start(&mut self) -> Result<bool, Syntax> {
        self.expect(b'{', "expected '{'")?;
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(true);
        }
        Ok(false)
    }

    /// After a field's value: true if another field follows (`,`), false at the end (`}`).
    pub(crate) fn object_next(&mut self) -> Result<bool, Syntax> {
        match self.peek() {
            Some(b',') => {
                self.at += 1;
                Ok(true)
            }
            Some(b'}') => {
                self.at += 1;
                Ok(false)
            }
            _ => self.fail("expected ',' or '}'"),
        }
    }

    /// Nothing but whitespace may follow the value.
    pub(crate) fn end(&mut self) -> Result<(), Syntax> {
        match self.peek() {
            None => Ok(()),
            Some(_) => self.fail("trailing characters"),
        }
    }

    /// A field name and its `:`. True when the name's raw bytes are `expected` (the usual case:
    /// producers write fields in one order), found without copying; otherwise the name is
    /// unescaped into `scratch` (cleared first) and false is returned.
    /// `expected` is `None` when there is no guess, or for a name that JSON must escape.
    pub(crate) fn field_name(
        &mut self,
        expected: Option<&FieldName>,
        scratch: &mut Vec<u8>,
    ) -> Result<bool, Syntax> {
        self.expect(b'"', "expected a field name")?;
        let rest = &self.bytes[self.at..];
        let matched = expected.filter(|name| name.starts(rest));
        if let Some(name) = matched {
            self.at += name.bytes.len();
        } else {
            scratch.clear();
            self.string_body(scratch)?;
        }
        self.expect(b':', "expected ':'")?;
        Ok(matched.is_some())
    }

    /// A value. A string's text (UTF-8) is appended to `text`, unless it is [`Scalar::Raw`];
    /// arrays and objects are skipped (checked) only when `skip_composites`, else left unread.
    pub(crate) fn value(
        &mut self,
        text: &mut Vec<u8>,
        skip_composites: bool,
    ) -> Result<Scalar, Syntax> {
        match self.peek() {
            Some(b'"') => {
                self.at += 1;
                let start = self.at;
                match plain_run(&self.bytes[start..]) {
                    // Most strings: the text is taken from the record where it is.
                    Some(run) if self.bytes[start + run.len] == b'"' => {
                        self.checked(start, run)?;
                        self.at += run.len + 1;
                        Ok(Scalar::Raw(start, start + run.len))
                    }
                    // An escape (or a control character, or no end): unescaped.
                    _ => {
                        self.string_body(text)?;
                        Ok(Scalar::Str)
                    }
                }
            }
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') => self.literal(b"true", Scalar::Bool(true)),
            Some(b'f') => self.literal(b"false", Scalar::Bool(false)),
            Some(b'n') => self.literal(b"null", Scalar::Null),
            Some(open @ (b'[' | b'{')) => {
                let kind = if open == b'[' {
                    Scalar::Array
                } else {
                    Scalar::Object
                };
                if skip_composites {
                    self.skip_composite(text)?;
                }
                Ok(kind)
            }
            Some(_) => self.fail("expected a value"),
            None => self.fail("unexpected end"),
        }
    }

    /// Skips the array or object at the cursor, checking it; strings inside go through
    /// `scratch` and are dropped from it.
    fn skip_composite(&mut self, scratch: &mut Vec<u8>) -> Result<(), Syntax> {
        enum At {
            /// At an opening bracket.
            Open,
            /// Where a member of the innermost open composite starts.
            Member,
            /// After a whole value.
            After,
        }
        // The closing bracket of each composite open around the cursor.
        let mut open: Vec<u8> = Vec::new();
        let mut at = At::Open;
        loop {
            at = match at {
                At::Open => {
                    if open.len() == MAX_DEPTH {
                        return self.fail("nested too deep");
                    }
                    let close = if self.bytes[self.at] == b'[' {
                        b']'
                    } else {
                        b'}'
                    };
                    self.at += 1;
                    if self.peek() == Some(close) {
                        self.at += 1;
                        At::After
                    } else {
                        open.push(close);
                        At::Member
                    }
                }
                At::Member => {
                    let start = scratch.len();
                    if open.last() == Some(&b'}') {
                        self.expect(b'"', "expected a field name")?;
                        self.string_body(scratch)?;
                        self.expect(b':', "expected ':'")?;
                    }
                    let value = self.value(scratch, false)?;
                    scratch.truncate(start);
                    match value {
                        Scalar::Array | Scalar::Object => At::Open,
                        _ => At::After,
                    }
                }
                At::After => {
                    let Some(&close) = open.last() else {
                        return Ok(());
                    };
                    match self.peek() {
                        Some(b',') => {
                            self.at += 1;
                            At::Member
                        }
                        Some(b) if b == close => {
                            self.at += 1;
                            open.pop();
                            At::After
                        }
                        _ => return self.fail("expected ',' or a closing bracket"),
                    }
                }
            };
        }
    }

    fn literal(&mut self, word: &[u8], value: Scalar) -> Result<Scalar, Syntax> {
        if self.bytes[self.at..].starts_with(word) {
            self.at += word.len();
            Ok(value)
        } else {
            self.fail("expected a value")
        }
    }

    /// Digits at the cursor, appended to `value`: how many, and the result (which wraps past
    /// `u64::MAX`; callers use it only for few enough digits).
    fn digits(&mut self, mut value: u64) -> (usize, u64) {
        let start = self.at;
        while let Some(w) = word(self.bytes, self.at) {
            let n = leading_digits(w);
            if n > 0 {
                value = value
                    .wrapping_mul(POW10_WORD[n])
                    .wrapping_add(digits_value(w, n));
                self.at += n;
            }
            if n < 8 {
                return (self.at - start, value);
            }
        }
        // Fewer than eight bytes left.
        while let Some(&d @ b'0'..=b'9') = self.bytes.get(self.at) {
            value = value.wrapping_mul(10).wrapping_add(u64::from(d - b'0'));
            self.at += 1;
        }
        (self.at - start, value)
    }

    /// A number by RFC 8259's grammar: an `i64` when it is an integer that fits, else an `f64`.
    #[inline]
    fn number(&mut self) -> Result<Scalar, Syntax> {
        if let Some((value, end)) = self.short_number() {
            self.at = end;
            return Ok(value);
        }
        self.any_number()
    }

    /// [`Reader::number`] for any number.
    #[inline(never)]
    fn any_number(&mut self) -> Result<Scalar, Syntax> {
        let start = self.at;
        let negative = self.bytes[self.at] == b'-';
        if negative {
            self.at += 1;
        }
        let (whole, mut mantissa) = match self.bytes.get(self.at) {
            Some(b'0') => {
                self.at += 1;
                (1, 0)
            }
            Some(b'1'..=b'9') => self.digits(0),
            _ => return self.fail("expected a digit"),
        };
        let mut digits = whole;
        let mut fraction = 0;
        // `-0` is the float -0.0, as serde_json reads it: an integer column refuses it, a float
        // column keeps its sign.
        let mut integer = !(negative && mantissa == 0);
        if self.bytes.get(self.at) == Some(&b'.') {
            self.at += 1;
            integer = false;
            (fraction, mantissa) = self.digits(mantissa);
            if fraction == 0 {
                return self.fail("expected a digit");
            }
            digits += fraction;
        }
        let mut exponent: i64 = 0;
        if let Some(b'e' | b'E') = self.bytes.get(self.at) {
            self.at += 1;
            integer = false;
            let minus = self.bytes.get(self.at) == Some(&b'-');
            if minus || self.bytes.get(self.at) == Some(&b'+') {
                self.at += 1;
            }
            let (n, value) = self.digits(0);
            if n == 0 {
                return self.fail("expected a digit");
            }
            // More digits than this cannot be exact anyway; the slow path below reads them.
            exponent = if n > 4 { i64::MAX } else { value as i64 };
            if minus {
                exponent = -exponent;
            }
        }
        // Up to 18 digits are exact in the `u64` (< 10^18).
        if integer && digits <= 18 {
            let v = mantissa as i64;
            return Ok(Scalar::Int(if negative { -v } else { v }));
        }
        // Clinger's fast path: a mantissa below 2^53 and a power of ten below 10^23 are both
        // exact doubles, so one multiplication or division rounds correctly.
        let scale = exponent.saturating_sub(fraction as i64);
        if !integer && digits <= 15 && (-22..=22).contains(&scale) {
            let m = mantissa as i64 as f64;
            let v = if scale < 0 {
                m / POW10[scale.unsigned_abs() as usize]
            } else {
                m * POW10[scale as usize]
            };
            return Ok(Scalar::Float(if negative { -v } else { v }));
        }
        // A number's bytes are ASCII: this never fails.
        let Ok(text) = std::str::from_utf8(&self.bytes[start..self.at]) else {
            return self.fail("expected a digit");
        };
        if integer && let Ok(v) = text.parse::<i64>() {
            return Ok(Scalar::Int(v));
        }
        match text.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(Scalar::Float(v)),
            _ => Err(Syntax {
                what: "number out of range",
                at: start,
            }),
        }
    }

    /// The usual number, read in two or three words: an optional `-`, up to 15 digits of which
    /// at most 7 after a `.`, no exponent, and 8 bytes to read at each step. The value and where
    /// the number ends; `None` for any other (`-0`, a leading zero, an exponent, more digits, the
    /// record's last bytes, or not a number), which [`Reader::number`] reads the general way — to
    /// the same value.
    #[inline]
    fn short_number(&self) -> Option<(Scalar, usize)> {
        let bytes = self.bytes;
        let negative = bytes.get(self.at) == Some(&b'-');
        let mut at = self.at + usize::from(negative);
        let w = word(bytes, at)?;
        let whole = leading_digits(w);
        // No digit, or a leading zero (`0` alone is fine).
        if whole == 0 || (whole > 1 && w as u8 == b'0') {
            return None;
        }
        let mut mantissa = digits_value(w, whole);
        let mut digits = whole;
        at += whole;
        if whole == 8 {
            let w = word(bytes, at)?;
            let more = leading_digits(w);
            if more == 8 {
                return None;
            }
            if more > 0 {
                mantissa = mantissa * POW10_WORD[more] + digits_value(w, more);
            }
            digits += more;
            at += more;
        }
        let mut fraction = 0;
        if bytes.get(at) == Some(&b'.') {
            let w = word(bytes, at + 1)?;
            fraction = leading_digits(w);
            if fraction == 0 || fraction == 8 || digits + fraction > 15 {
                return None;
            }
            mantissa = mantissa * POW10_WORD[fraction] + digits_value(w, fraction);
            at += 1 + fraction;
        }
        // At most 15 digits by now: 8 and 7 more before the point, and the point's check.
        if matches!(bytes.get(at), Some(b'e' | b'E')) {
            return None;
        }
        if fraction == 0 {
            // `-0` is the float -0.0 (see `any_number`).
            if negative && mantissa == 0 {
                return None;
            }
            let v = mantissa as i64;
            return Some((Scalar::Int(if negative { -v } else { v }), at));
        }
        // Exact mantissa (below 2^53) and power of ten: one correctly rounded division, as in
        // `any_number`'s fast path.
        let v = mantissa as i64 as f64 / POW10[fraction];
        Some((Scalar::Float(if negative { -v } else { v }), at))
    }

    /// A string's body after its opening quote, through the closing one, unescaped into `out`.
    fn string_body(&mut self, out: &mut Vec<u8>) -> Result<(), Syntax> {
        loop {
            let rest = &self.bytes[self.at..];
            let Some(run) = plain_run(rest) else {
                self.at = self.bytes.len();
                return self.fail("unterminated string");
            };
            out.extend_from_slice(self.checked(self.at, run)?);
            self.at += run.len;
            match rest[run.len] {
                b'"' => {
                    self.at += 1;
                    return Ok(());
                }
                b'\\' => {
                    self.at += 1;
                    let escaped = match self.bytes.get(self.at) {
                        Some(b'"') => b'"',
                        Some(b'\\') => b'\\',
                        Some(b'/') => b'/',
                        Some(b'b') => 0x08,
                        Some(b'f') => 0x0c,
                        Some(b'n') => b'\n',
                        Some(b'r') => b'\r',
                        Some(b't') => b'\t',
                        Some(b'u') => {
                            self.at += 1;
                            let c = self.unicode_escape()?;
                            out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                            continue;
                        }
                        _ => return self.fail("invalid escape"),
                    };
                    self.at += 1;
                    out.push(escaped);
                }
                _ => return self.fail("control character in string"),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, Syntax> {
        let Some(hex) = self.bytes.get(self.at..self.at + 4) else {
            return self.fail("invalid \\u escape");
        };
        let mut v = 0;
        for &h in hex {
            let Some(d) = (h as char).to_digit(16) else {
                return self.fail("invalid \\u escape");
            };
            v = v * 16 + d;
        }
        self.at += 4;
        Ok(v)
    }

    /// After `\u`: one code point, from a surrogate pair where there is one.
    fn unicode_escape(&mut self) -> Result<char, Syntax> {
        let first = self.hex4()?;
        let code = match first {
            0xD800..=0xDBFF => {
                if !self.bytes[self.at..].starts_with(b"\\u") {
                    return self.fail("lone surrogate in \\u escape");
                }
                self.at += 2;
                let second = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&second) {
                    return self.fail("lone surrogate in \\u escape");
                }
                0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
            }
            0xDC00..=0xDFFF => return self.fail("lone surrogate in \\u escape"),
            c => c,
        };
        char::from_u32(code).map_or_else(|| self.fail("invalid \\u escape"), Ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(text: &str) -> Result<Scalar, Syntax> {
        let mut r = Reader::new(text.as_bytes());
        let v = r.value(&mut Vec::new(), true)?;
        r.end()?;
        Ok(v)
    }

    /// The number at the start of `text`, read as inside a record (`short_number` needs eight
    /// bytes ahead), and where it ends.
    fn number_in_record(text: &str) -> Result<(Scalar, usize), Syntax> {
        let record = format!("{text},\"next\":0}}");
        let mut r = Reader::new(record.as_bytes());
        let v = r.value(&mut Vec::new(), true)?;
        Ok((v, r.at))
    }

    /// The fast paths give exactly what the standard library's correctly rounded parser gives,
    /// at a record's end (the general path) and inside one (mostly `short_number`).
    #[test]
    fn numbers_are_read_exactly() {
        let mut random = crate::testing::xorshift(0x9e37_79b9_7f4a_7c15);
        for _ in 0..200_000 {
            let whole_digits = random(18) as u32 + 1;
            let whole = random(10usize.pow(whole_digits));
            let fraction_digits = random(12);
            let fraction = random(10usize.pow(fraction_digits as u32));
            let sign = if random(2) == 0 { "-" } else { "" };
            let mut text = format!("{sign}{whole}");
            if fraction_digits > 0 {
                text += &format!(".{fraction:0fraction_digits$}");
            }
            if random(4) == 0 {
                text += &format!("e{}", random(60) as i64 - 30);
            }
            let expected: f64 = text.parse().unwrap();
            let alone = number(&text).unwrap();
            assert_eq!(number_in_record(&text), Ok((alone, text.len())), "{text}");
            match alone {
                Scalar::Float(v) => assert_eq!(v.to_bits(), expected.to_bits(), "{text}"),
                Scalar::Int(v) => {
                    assert!(!text.contains(['.', 'e']), "{text}");
                    assert_eq!(v, text.parse::<i64>().unwrap(), "{text}");
                }
                other => panic!("{text}: {other:?}"),
            }
        }
        assert_eq!(number("-0").unwrap(), Scalar::Float(-0.0));
        assert_eq!(
            number("-9223372036854775808").unwrap(),
            Scalar::Int(i64::MIN)
        );
        assert_eq!(
            number("9223372036854775808").unwrap(),
            Scalar::Float(9_223_372_036_854_775_808.0)
        );
        for bad in [
            "01", "1.", ".5", "-", "1e", "1e+", "+1", "1e999", "0x1", "1.5.2",
        ] {
            assert!(number(bad).is_err(), "{bad}");
        }
        for (text, value) in [
            ("-0", Scalar::Float(-0.0)),
            ("0", Scalar::Int(0)),
            ("0.5", Scalar::Float(0.5)),
            ("12345678", Scalar::Int(12_345_678)),
            ("123456789012345", Scalar::Int(123_456_789_012_345)),
            (
                "1234567890123456789",
                Scalar::Int(1_234_567_890_123_456_789),
            ),
            ("-1.2345678", Scalar::Float(-1.234_567_8)),
            ("1.23456789", Scalar::Float(1.234_567_89)),
            ("12.5E3", Scalar::Float(12_500.0)),
        ] {
            assert_eq!(number_in_record(text), Ok((value, text.len())), "{text}");
        }
        // Where a number stops, the record's next byte decides: as the general path does.
        assert_eq!(number_in_record("1.5.2").map(|(_, at)| at), Ok(3));
        assert_eq!(number_in_record("12x").map(|(_, at)| at), Ok(2));
        assert_eq!(number_in_record("01"), Ok((Scalar::Int(0), 1)));
        for bad in ["1.", "-", "-.5", "1e"] {
            assert!(number_in_record(bad).is_err(), "{bad}");
        }
    }

    /// The word-at-a-time scans find what a byte-at-a-time scan finds, wherever it is, whatever
    /// comes after it (the bytes whose borrows could mislead them included).
    #[test]
    fn word_scans_agree_with_byte_scans() {
        const BYTES: &[u8] = b"\"\\\x00\x1f\x20\x2f0123456789\x3a\x7f\x80\xb9\xba\xffa";
        let mut random = crate::testing::xorshift(0x2545_f491_4f6c_dd1d);
        for _ in 0..100_000 {
            let len = random(24);
            // Mostly digits or plain text, so runs are long enough to cross words.
            let bytes: Vec<u8> = (0..len)
                .map(|_| match random(4) {
                    0 => BYTES[random(BYTES.len())],
                    1 => b'0' + random(10) as u8,
                    _ => b"ab9"[random(3)],
                })
                .collect();
            let plain = bytes
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
                .map(|len| Run {
                    len,
                    wide: !bytes[..len].is_ascii(),
                });
            assert_eq!(plain_run(&bytes), plain, "{bytes:?}");
            let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
            let value = bytes[..digits].iter().fold(7_u64, |v, &d| {
                v.wrapping_mul(10).wrapping_add(u64::from(d - b'0'))
            });
            let mut reader = Reader::new(&bytes);
            assert_eq!(reader.digits(7), (digits, value), "{bytes:?}");
            assert_eq!(reader.at, digits);
        }
    }

    /// A name matches a record's bytes exactly when they start with it and its closing quote:
    /// at every length, with a byte changed anywhere, with the record ending right after it.
    #[test]
    fn field_names_match_exactly() {
        assert!(FieldName::new("a\"b").is_none());
        assert!(FieldName::new("tab\there").is_none());
        for len in 0..20 {
            let name: String = (0..len).map(|i| char::from(b'a' + i as u8)).collect();
            let field = FieldName::new(&name).unwrap();
            let exact = format!("{name}\":1}}");
            assert!(field.starts(exact.as_bytes()), "{exact}");
            assert!(field.starts(&exact.as_bytes()[..len + 1]), "{exact}");
            assert!(!field.starts(&exact.as_bytes()[..len]), "{exact}");
            for at in 0..=len {
                let mut changed = exact.clone().into_bytes();
                changed[at] ^= 0x01;
                assert!(!field.starts(&changed), "{changed:?}");
            }
            // A longer name that starts with this one.
            assert!(!field.starts(format!("{name}x\":1}}").as_bytes()));
        }
    }

    #[test]
    fn composites_are_skipped_and_checked() {
        for good in [
            "[]",
            "{}",
            "[[[]]]",
            r#"{"a":[1,{"b":{}}],"c":"\ud83d\ude00"}"#,
            " [ 1 , [ ] ] ",
        ] {
            let mut r = Reader::new(good.as_bytes());
            r.value(&mut Vec::new(), true).unwrap();
            r.end().unwrap();
        }
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        for bad in [
            "[1,]",
            "[1 2]",
            "{\"a\"}",
            "{\"a\":1,}",
            "[}",
            "{]",
            "[",
            "[\"\\ud800\"]",
            &deep,
        ] {
            let mut r = Reader::new(bad.as_bytes());
            let read = r.value(&mut Vec::new(), true).and_then(|_| r.end());
            assert!(read.is_err(), "{bad}");
        }
    }
}
