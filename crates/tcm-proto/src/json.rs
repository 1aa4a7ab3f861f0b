//! A borrowed, validating JSON scanner for the typed decoding of server frames.
//!
//! [`ServerFrame::decode`](crate::ServerFrame::decode) reads the frames of the hot path (info
//! replies, inference replies, errors) with this scanner straight into typed structures: keys
//! are compared in place, strings without escapes are borrowed, numbers are read without a
//! `serde_json::Value` in between.
//!
//! The scanner reads the JSON grammar of RFC 8259 and checks what `serde_json` checks, but it
//! is deliberately narrow: whatever it does not handle the way `serde_json` would (numbers whose
//! value needs more than one rounding step, nesting deeper than [`MAX_DEPTH`], invalid input of
//! any kind) makes it stop with [`Bail`], and the caller decodes the frame through
//! `serde_json::Value` instead, which then gives the same answer (or the same error) it always
//! gave. The typed path is an optimisation, never a second opinion.

use std::borrow::Cow;
use std::sync::OnceLock;

/// The scanner met input it leaves to `serde_json` (invalid JSON, or a shape or number the
/// typed decoding does not handle); the caller falls back to the `Value` path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bail;

/// The scanner's result.
pub(crate) type Scan<T> = Result<T, Bail>;

/// Nesting the scanner follows before it leaves a value to `serde_json` (whose own limit is 128).
pub(crate) const MAX_DEPTH: usize = 64;

/// A JSON number, as `serde_json` classifies it: unsigned and negative integers, and floats.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Number {
    /// A non-negative integer.
    U64(u64),
    /// A negative integer.
    I64(i64),
    /// Anything with a fraction or an exponent (and `-0`).
    F64(f64),
}

impl Number {
    /// The value as `f64`, as `serde_json::Value::as_f64` gives it.
    pub(crate) fn as_f64(self) -> f64 {
        match self {
            Self::U64(v) => v as f64,
            Self::I64(v) => v as f64,
            Self::F64(v) => v,
        }
    }
}

/// The powers of ten `serde_json` scales a significand by, `10^0` to `10^308`, each the `f64`
/// nearest to it (exact up to `10^22`).
const POW10: [f64; 309] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22, 1e23, 1e24, 1e25, 1e26, 1e27, 1e28, 1e29, 1e30, 1e31, 1e32,
    1e33, 1e34, 1e35, 1e36, 1e37, 1e38, 1e39, 1e40, 1e41, 1e42, 1e43, 1e44, 1e45, 1e46, 1e47, 1e48,
    1e49, 1e50, 1e51, 1e52, 1e53, 1e54, 1e55, 1e56, 1e57, 1e58, 1e59, 1e60, 1e61, 1e62, 1e63, 1e64,
    1e65, 1e66, 1e67, 1e68, 1e69, 1e70, 1e71, 1e72, 1e73, 1e74, 1e75, 1e76, 1e77, 1e78, 1e79, 1e80,
    1e81, 1e82, 1e83, 1e84, 1e85, 1e86, 1e87, 1e88, 1e89, 1e90, 1e91, 1e92, 1e93, 1e94, 1e95, 1e96,
    1e97, 1e98, 1e99, 1e100, 1e101, 1e102, 1e103, 1e104, 1e105, 1e106, 1e107, 1e108, 1e109, 1e110,
    1e111, 1e112, 1e113, 1e114, 1e115, 1e116, 1e117, 1e118, 1e119, 1e120, 1e121, 1e122, 1e123,
    1e124, 1e125, 1e126, 1e127, 1e128, 1e129, 1e130, 1e131, 1e132, 1e133, 1e134, 1e135, 1e136,
    1e137, 1e138, 1e139, 1e140, 1e141, 1e142, 1e143, 1e144, 1e145, 1e146, 1e147, 1e148, 1e149,
    1e150, 1e151, 1e152, 1e153, 1e154, 1e155, 1e156, 1e157, 1e158, 1e159, 1e160, 1e161, 1e162,
    1e163, 1e164, 1e165, 1e166, 1e167, 1e168, 1e169, 1e170, 1e171, 1e172, 1e173, 1e174, 1e175,
    1e176, 1e177, 1e178, 1e179, 1e180, 1e181, 1e182, 1e183, 1e184, 1e185, 1e186, 1e187, 1e188,
    1e189, 1e190, 1e191, 1e192, 1e193, 1e194, 1e195, 1e196, 1e197, 1e198, 1e199, 1e200, 1e201,
    1e202, 1e203, 1e204, 1e205, 1e206, 1e207, 1e208, 1e209, 1e210, 1e211, 1e212, 1e213, 1e214,
    1e215, 1e216, 1e217, 1e218, 1e219, 1e220, 1e221, 1e222, 1e223, 1e224, 1e225, 1e226, 1e227,
    1e228, 1e229, 1e230, 1e231, 1e232, 1e233, 1e234, 1e235, 1e236, 1e237, 1e238, 1e239, 1e240,
    1e241, 1e242, 1e243, 1e244, 1e245, 1e246, 1e247, 1e248, 1e249, 1e250, 1e251, 1e252, 1e253,
    1e254, 1e255, 1e256, 1e257, 1e258, 1e259, 1e260, 1e261, 1e262, 1e263, 1e264, 1e265, 1e266,
    1e267, 1e268, 1e269, 1e270, 1e271, 1e272, 1e273, 1e274, 1e275, 1e276, 1e277, 1e278, 1e279,
    1e280, 1e281, 1e282, 1e283, 1e284, 1e285, 1e286, 1e287, 1e288, 1e289, 1e290, 1e291, 1e292,
    1e293, 1e294, 1e295, 1e296, 1e297, 1e298, 1e299, 1e300, 1e301, 1e302, 1e303, 1e304, 1e305,
    1e306, 1e307, 1e308,
];

/// Whether `serde_json` parses floats with correct rounding (its `float_roundtrip` feature,
/// which any crate of the build may enable). Without it, `serde_json` computes
/// `significand as f64` then one multiplication or division by a power of ten, and so does
/// [`Scanner::number`]; with it, the result is the correctly rounded one, as `str::parse` gives.
fn serde_json_rounds_correctly() -> bool {
    static ROUNDTRIP: OnceLock<bool> = OnceLock::new();
    *ROUNDTRIP.get_or_init(|| {
        // 80900993826735515 / 1e17 rounds twice to ...552; the nearest f64 is ...551.
        const PROBE: &str = "0.80900993826735515";
        serde_json::from_str::<f64>(PROBE).ok() == PROBE.parse::<f64>().ok()
    })
}

/// The end of the run of bytes from `pos` that need no attention inside a string (no `"`, no
/// `\\`, no control character), eight bytes at a time: the first such byte, or where fewer than
/// eight bytes are left.
pub(crate) fn plain_run(bytes: &[u8], mut pos: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    while let Some(chunk) = bytes.get(pos..pos + 8) {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        let quote = w ^ (ONES * u64::from(b'"'));
        let backslash = w ^ (ONES * u64::from(b'\\'));
        // A byte is flagged when it is zero (after the xor) or below 0x20; a flag may also be
        // set above a flagged byte by the borrow, so only the lowest flag is exact.
        let special = (quote.wrapping_sub(ONES) & !quote)
            | (backslash.wrapping_sub(ONES) & !backslash)
            | (w.wrapping_sub(ONES * 0x20) & !w);
        let special = special & HIGHS;
        if special != 0 {
            return pos + (special.trailing_zeros() / 8) as usize;
        }
        pos += 8;
    }
    pos
}

/// The value of `bytes` when they are eight ASCII digits (the first the most significant),
/// computed in a few word operations; `None` when any byte is not a digit.
#[inline]
fn eight_digits(bytes: &[u8]) -> Option<u64> {
    let mut word = [0; 8];
    word.copy_from_slice(bytes);
    let w = u64::from_le_bytes(word);
    // A digit (0x30..=0x39) has the high nibble 3, also after adding 6.
    let high = w & 0xF0F0_F0F0_F0F0_F0F0;
    let carried = (w.wrapping_add(0x0606_0606_0606_0606) & 0xF0F0_F0F0_F0F0_F0F0) >> 4;
    if high | carried != 0x3333_3333_3333_3333 {
        return None;
    }
    // Pairs, then quadruples, then all eight: each step joins neighbouring groups.
    let d = w - 0x3030_3030_3030_3030;
    let pairs = (d * 10 + (d >> 8)) & 0x00FF_00FF_00FF_00FF;
    let quads = (pairs * 100 + (pairs >> 16)) & 0x0000_FFFF_0000_FFFF;
    Some((quads * 10_000 + (quads >> 32)) & 0xFFFF_FFFF)
}

/// Whether no byte of `bytes` needs escaping in a JSON string (no `"`, no `\\`, no control
/// character; `serde_json` leaves everything else as it is).
pub(crate) fn needs_no_escape(bytes: &[u8]) -> bool {
    let words = bytes.len() - bytes.len() % 8;
    plain_run(bytes, 0) == words && !bytes[words..].iter().any(|&b| special(b))
}

/// A byte that ends a plain run inside a string: `"`, `\\` or a control character.
fn special(b: u8) -> bool {
    b == b'"' || b == b'\\' || b < 0x20
}

/// A key read by [`Scanner::next_key_expecting`].
#[derive(Debug, PartialEq)]
pub(crate) enum Key<'a> {
    /// The key expected.
    Expected,
    /// Another key.
    Other(Cow<'a, str>),
}

/// A cursor over one JSON text.
pub(crate) struct Scanner<'a> {
    text: &'a str,
    pos: usize,
    correct_rounding: bool,
}

impl<'a> Scanner<'a> {
    /// A scanner at the start of `text`.
    pub(crate) fn new(text: &'a str) -> Self {
        Self {
            text,
            pos: 0,
            correct_rounding: serde_json_rounds_correctly(),
        }
    }

    /// The byte offset of the cursor.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// Moves the cursor back to `pos` (an offset this scanner returned).
    pub(crate) fn rewind(&mut self, pos: usize) {
        self.pos = pos;
    }

    /// Whether the text at the cursor starts with `prefix` (whitespace is not skipped).
    #[inline]
    pub(crate) fn at(&self, prefix: &[u8]) -> bool {
        self.text
            .as_bytes()
            .get(self.pos..)
            .is_some_and(|rest| rest.starts_with(prefix))
    }

    /// The text between two offsets this scanner returned.
    pub(crate) fn slice(&self, start: usize, end: usize) -> Scan<&'a str> {
        self.text.get(start..end).ok_or(Bail)
    }

    fn byte(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.byte() {
            self.pos += 1;
        }
    }

    /// The next byte that is not whitespace, without consuming it.
    pub(crate) fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.byte()
    }

    fn expect(&mut self, b: u8) -> Scan<()> {
        if self.peek() == Some(b) {
            self.pos += 1;
            Ok(())
        } else {
            Err(Bail)
        }
    }

    /// Checks that only whitespace is left.
    pub(crate) fn end(&mut self) -> Scan<()> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(Bail),
        }
    }

    /// Consumes the `{` of an object.
    pub(crate) fn begin_object(&mut self) -> Scan<()> {
        self.expect(b'{')
    }

    /// The next key of the object being read (and its `:`), or `None` after its `}`. `first`
    /// starts `true` for each object.
    pub(crate) fn next_key(&mut self, first: &mut bool) -> Scan<Option<Cow<'a, str>>> {
        if !self.key_ahead(first)? {
            return Ok(None);
        }
        let key = self.string()?;
        self.expect(b':')?;
        Ok(Some(key))
    }

    /// [`next_key`](Self::next_key) when the key is probably `expected` (a key without
    /// escapes): an object whose keys usually come in one order is read by comparing bytes,
    /// and any other key is read the general way.
    pub(crate) fn next_key_expecting(
        &mut self,
        first: &mut bool,
        expected: Option<&str>,
    ) -> Scan<Option<Key<'a>>> {
        if !self.key_ahead(first)? {
            return Ok(None);
        }
        let key = match expected {
            Some(expected) if self.take_quoted(expected) => Key::Expected,
            _ => Key::Other(self.string()?),
        };
        self.expect(b':')?;
        Ok(Some(key))
    }

    /// Moves to the next key of the object being read (past its `,`); `false` after the
    /// object's `}`.
    fn key_ahead(&mut self, first: &mut bool) -> Scan<bool> {
        self.item_ahead(b'}', first, |b| b == b'"')
    }

    /// Moves to the next item of the object or array being read (past its `,`); `false` after
    /// its `close`. `first` starts `true` for each; the first item must start with a byte that
    /// `opens` accepts.
    #[inline]
    fn item_ahead(&mut self, close: u8, first: &mut bool, opens: fn(u8) -> bool) -> Scan<bool> {
        match self.peek() {
            Some(b) if b == close => {
                self.pos += 1;
                Ok(false)
            }
            Some(b',') if !*first => {
                self.pos += 1;
                Ok(true)
            }
            Some(b) if *first && opens(b) => {
                *first = false;
                Ok(true)
            }
            _ => Err(Bail),
        }
    }

    /// Consumes the string at the cursor if its text is exactly `"expected"`.
    fn take_quoted(&mut self, expected: &str) -> bool {
        self.skip_ws();
        let bytes = self.text.as_bytes();
        let end = self.pos + 1 + expected.len();
        let exact = bytes.get(self.pos) == Some(&b'"')
            && bytes.get(self.pos + 1..end) == Some(expected.as_bytes())
            && bytes.get(end) == Some(&b'"');
        if exact {
            self.pos = end + 1;
        }
        exact
    }

    /// Consumes the `[` of an array.
    pub(crate) fn begin_array(&mut self) -> Scan<()> {
        self.expect(b'[')
    }

    /// Whether the array being read has another element (consuming its `,`), or `false` after
    /// its `]`. `first` starts `true` for each array.
    pub(crate) fn next_element(&mut self, first: &mut bool) -> Scan<bool> {
        self.item_ahead(b']', first, |_| true)
    }

    /// The string at the cursor if it needs no decoding (no escape, no control character),
    /// consumed; otherwise `None`, the cursor unmoved.
    #[inline]
    fn plain_string(&mut self) -> Option<&'a str> {
        self.skip_ws();
        let bytes = self.text.as_bytes();
        if bytes.get(self.pos) != Some(&b'"') {
            return None;
        }
        let end = plain_run(bytes, self.pos + 1);
        if bytes.get(end) != Some(&b'"') {
            return None;
        }
        let text = self.text.get(self.pos + 1..end)?;
        self.pos = end + 1;
        Some(text)
    }

    /// A string, borrowed when it has no escapes.
    #[inline]
    pub(crate) fn string(&mut self) -> Scan<Cow<'a, str>> {
        match self.plain_string() {
            Some(plain) => Ok(Cow::Borrowed(plain)),
            None => self.decoded_string(),
        }
    }

    /// A string that [`plain_string`](Self::plain_string) did not take: one with escapes, or
    /// an invalid one.
    fn decoded_string(&mut self) -> Scan<Cow<'a, str>> {
        self.expect(b'"')?;
        let start = self.pos;
        let bytes = self.text.as_bytes();
        let mut escaped = false;
        loop {
            self.pos = plain_run(bytes, self.pos);
            match bytes.get(self.pos) {
                Some(b'"') => break,
                Some(b'\\') => {
                    escaped = true;
                    self.pos += 2;
                }
                Some(&b) if special(b) => return Err(Bail),
                Some(_) => self.pos += 1,
                None => return Err(Bail),
            }
        }
        let inner = self.slice(start, self.pos)?;
        self.pos += 1;
        if !escaped {
            return Ok(Cow::Borrowed(inner));
        }
        // Escapes are rare in frames: `serde_json` decodes them (and rejects bad ones) exactly
        // as the `Value` path would.
        let quoted = self.slice(start - 1, self.pos)?;
        serde_json::from_str::<String>(quoted)
            .map(Cow::Owned)
            .map_err(|_| Bail)
    }

    /// A string or `null` (as `None`).
    pub(crate) fn opt_string(&mut self) -> Scan<Option<Cow<'a, str>>> {
        match self.peek() {
            Some(b'n') => self.null().map(|()| None),
            _ => self.string().map(Some),
        }
    }

    /// The literal `null`.
    pub(crate) fn null(&mut self) -> Scan<()> {
        self.literal("null")
    }

    /// `true` or `false`.
    pub(crate) fn bool(&mut self) -> Scan<bool> {
        match self.peek() {
            Some(b't') => self.literal("true").map(|()| true),
            _ => self.literal("false").map(|()| false),
        }
    }

    fn literal(&mut self, word: &str) -> Scan<()> {
        self.skip_ws();
        if self.at(word.as_bytes()) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(Bail)
        }
    }

    /// The run of digits at the cursor appended to `acc`, and how many there were; `Bail` when
    /// the value outgrows `u64`.
    #[inline]
    fn digits(&mut self, mut acc: u64) -> Scan<(u64, i32)> {
        let mut count = 0;
        // Eight digits at a time while `acc` stays far enough below `u64::MAX` that eight more
        // cannot overflow it (10^11 · 10^8 + 10^8 < 2^64), and while the run has at least two
        // digits left (a single digit, such as each of `1.0`, goes straight to the loop below).
        let bytes = self.text.as_bytes();
        while acc < 100_000_000_000 && matches!(bytes.get(self.pos + 1), Some(b'0'..=b'9')) {
            let Some(eight) = bytes.get(self.pos..self.pos + 8) else {
                break;
            };
            let Some(v) = eight_digits(eight) else {
                break;
            };
            acc = acc * 100_000_000 + v;
            self.pos += 8;
            count += 8;
        }
        while let Some(b @ b'0'..=b'9') = self.byte() {
            acc = acc
                .checked_mul(10)
                .and_then(|a| a.checked_add(u64::from(b - b'0')))
                .ok_or(Bail)?;
            self.pos += 1;
            count += 1;
        }
        Ok((acc, count))
    }

    /// A number, with the value `serde_json` gives it. Integers beyond `u64`, and powers of ten
    /// beyond ±308 (for which `serde_json` divides twice, or fails), are left to it.
    pub(crate) fn number(&mut self) -> Scan<Number> {
        self.skip_ws();
        let start = self.pos;
        let negative = self.byte() == Some(b'-');
        if negative {
            self.pos += 1;
        }
        let significand = match self.byte() {
            Some(b'0') => {
                self.pos += 1;
                if let Some(b'0'..=b'9') = self.byte() {
                    return Err(Bail);
                }
                0
            }
            Some(b'1'..=b'9') => self.digits(0)?.0,
            _ => return Err(Bail),
        };
        let (significand, mut exponent, float) = match self.byte() {
            Some(b'.') => {
                self.pos += 1;
                let (s, n) = self.digits(significand)?;
                if n == 0 {
                    return Err(Bail);
                }
                (s, -n, true)
            }
            _ => (significand, 0, false),
        };
        let float = if let Some(b'e' | b'E') = self.byte() {
            self.pos += 1;
            let negative_exp = match self.byte() {
                Some(b'-') => {
                    self.pos += 1;
                    true
                }
                Some(b'+') => {
                    self.pos += 1;
                    false
                }
                _ => false,
            };
            let (e, n) = self.digits(0)?;
            if n == 0 || e > 1000 {
                return Err(Bail);
            }
            let e = e as i32;
            exponent += if negative_exp { -e } else { e };
            true
        } else {
            float
        };
        if !float {
            if !negative {
                return Ok(Number::U64(significand));
            }
            // As `serde_json`: `-0` and integers below `i64::MIN` are floats.
            let n = (significand as i64).wrapping_neg();
            return Ok(if n >= 0 {
                Number::F64(-(significand as f64))
            } else {
                Number::I64(n)
            });
        }
        let pow = *POW10.get(exponent.unsigned_abs() as usize).ok_or(Bail)?;
        let magnitude = if self.correct_rounding {
            self.slice(start, self.pos)?
                .trim_start_matches('-')
                .parse()
                .map_err(|_| Bail)?
        } else if exponent >= 0 {
            significand as f64 * pow
        } else {
            significand as f64 / pow
        };
        // Beyond `f64`: `serde_json` rejects the number.
        if magnitude.is_infinite() {
            return Err(Bail);
        }
        Ok(Number::F64(if negative { -magnitude } else { magnitude }))
    }

    /// Skips one value, checking it as `serde_json` would.
    pub(crate) fn skip(&mut self) -> Scan<()> {
        self.skip_at(0)
    }

    fn skip_at(&mut self, depth: usize) -> Scan<()> {
        if depth > MAX_DEPTH {
            return Err(Bail);
        }
        match self.peek() {
            Some(b'{') => {
                self.pos += 1;
                let mut first = true;
                while self.next_key(&mut first)?.is_some() {
                    self.skip_at(depth + 1)?;
                }
                Ok(())
            }
            Some(b'[') => {
                self.pos += 1;
                let mut first = true;
                while self.next_element(&mut first)? {
                    self.skip_at(depth + 1)?;
                }
                Ok(())
            }
            Some(b'"') => self.string().map(drop),
            Some(b't' | b'f') => self.bool().map(drop),
            Some(b'n') => self.null(),
            _ => self.number().map(drop),
        }
    }

    /// Skips one value and returns its text.
    pub(crate) fn raw(&mut self) -> Scan<&'a str> {
        self.skip_ws();
        let start = self.pos;
        self.skip()?;
        self.slice(start, self.pos)
    }

    /// One value as a `serde_json::Value` (for the parts of a frame the API keeps as JSON).
    pub(crate) fn value(&mut self) -> Scan<serde_json::Value> {
        match self.peek() {
            Some(b'"') => Ok(serde_json::Value::String(self.string()?.into_owned())),
            Some(b'n') => self.null().map(|()| serde_json::Value::Null),
            _ => serde_json::from_str(self.raw()?).map_err(|_| Bail),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(text: &str) -> Scan<Number> {
        let mut s = Scanner::new(text);
        let n = s.number()?;
        s.end().map(|()| n)
    }

    #[test]
    fn numbers_read_as_serde_json_reads_them() {
        for text in [
            "0",
            "-0",
            "7",
            "-7",
            "18446744073709551615",
            "-9223372036854775808",
            "-9223372036854775809",
            "0.1234567",
            "-1.5e3",
            "1E-7",
            "2.5e+2",
            "0.80900993826735515",
            "0.12345670163631439",
            "1767225600.123",
            "123456789012345678.9",
            "1e-30",
            "0.00000005960464477539063",
            "-1.7976931348623157e308",
            "2.2e-300",
        ] {
            assert_eq!(
                number(text).map(Bits),
                Ok(serde_json_number(text)),
                "{text}"
            );
        }
    }

    /// A number compared bit for bit (so that `-0.0` and `0.0` differ).
    #[derive(Debug)]
    struct Bits(Number);

    impl PartialEq for Bits {
        fn eq(&self, other: &Self) -> bool {
            match (self.0, other.0) {
                (Number::F64(a), Number::F64(b)) => a.to_bits() == b.to_bits(),
                (a, b) => a == b,
            }
        }
    }

    /// The number `serde_json` reads from `text`.
    fn serde_json_number(text: &str) -> Bits {
        serde_json_reads(text).expect("a number serde_json reads")
    }

    /// The number `serde_json` reads from `text`, if it reads one.
    fn serde_json_reads(text: &str) -> Option<Bits> {
        let value: serde_json::Value = serde_json::from_str(text).ok()?;
        Some(Bits(if let Some(u) = value.as_u64() {
            Number::U64(u)
        } else if let Some(i) = value.as_i64() {
            Number::I64(i)
        } else {
            Number::F64(value.as_f64()?)
        }))
    }

    proptest::proptest! {
        /// Long runs of digits (read eight at a time), in the integer part, the fraction or
        /// both, with any exponent, read as `serde_json` reads them; only a significand beyond
        /// `u64` or a power of ten beyond ±308 is left to it, and what it rejects is too.
        #[test]
        fn long_numbers_read_as_serde_json_reads_them(
            negative in proptest::bool::ANY,
            int in "0|[1-9][0-9]{0,21}",
            fraction in proptest::option::of("[0-9]{1,24}"),
            exponent in proptest::option::of(-340i32..=340),
        ) {
            let mut text = format!("{}{int}", if negative { "-" } else { "" });
            if let Some(f) = &fraction {
                text += &format!(".{f}");
            }
            if let Some(e) = exponent {
                text += &format!("e{e}");
            }
            let digits = format!("{int}{}", fraction.as_deref().unwrap_or(""));
            let significant = digits.trim_start_matches('0');
            let scale = exponent.unwrap_or(0) - fraction.as_ref().map_or(0, |f| f.len() as i32);
            let fits = (significant.is_empty() || significant.parse::<u64>().is_ok())
                && scale.abs() <= 308;
            match (number(&text), serde_json_reads(&text)) {
                (Ok(ours), theirs) => proptest::prop_assert_eq!(Some(Bits(ours)), theirs),
                (Err(Bail), None) => {}
                (Err(Bail), Some(_)) => {
                    proptest::prop_assert!(!fits, "{} was left to serde_json", text)
                }
            }
        }
    }

    #[test]
    fn with_correctly_rounding_serde_json_floats_are_what_str_parse_gives() {
        let rounding = |text: &str| {
            let mut s = Scanner::new(text);
            s.correct_rounding = true;
            s.number().map(Bits)
        };
        for text in [
            "0.80900993826735515",
            "-1e-30",
            "1e300",
            "-0.0",
            "123.456e-5",
        ] {
            let parsed: f64 = text.parse().expect("a float");
            assert_eq!(rounding(text), Ok(Bits(Number::F64(parsed))), "{text}");
        }
        assert_eq!(rounding("9e308"), Err(Bail), "beyond f64");
    }

    #[test]
    fn what_the_scanner_leaves_to_serde_json_bails() {
        for text in [
            "01",
            "1.",
            ".5",
            "-",
            "1e",
            "1e400",
            "9e308",
            "1e-400",
            "+1",
            "1ee2",
            "99999999999999999999",
        ] {
            assert_eq!(number(text), Err(Bail), "{text}");
        }
    }

    #[test]
    fn an_expected_key_is_read_as_the_general_way_reads_it() {
        let text = r#"{"a":1,"bb" : 2, "c":3,"d\u0065":4,"e":5,"f":6 , "g" :7}"#;
        let (mut fast, mut general) = (Scanner::new(text), Scanner::new(text));
        fast.begin_object().expect("object");
        general.begin_object().expect("object");
        let (mut f1, mut f2) = (true, true);
        // Right, right around whitespace, escaped, wrong, right around whitespace, then the
        // end.
        for expected in ["a", "bb", "c", "de", "x", "f", "g", "y"] {
            let key = fast.next_key_expecting(&mut f1, Some(expected)).map(|k| {
                k.map(|k| match k {
                    Key::Expected => Cow::Borrowed(expected),
                    Key::Other(other) => other,
                })
            });
            assert_eq!(key, general.next_key(&mut f2), "{expected}");
            assert_eq!(fast.pos(), general.pos(), "{expected}");
            if key.expect("scans").is_none() {
                break;
            }
            assert_eq!(fast.number(), general.number());
        }
        assert_eq!(fast.end(), Ok(()));
    }

    #[test]
    fn strings_are_borrowed_without_escapes_and_decoded_with_them() {
        let mut s = Scanner::new(r#" "plain" "a\"b\u00e9" "bad\u12" "ctl	x" "#);
        assert!(matches!(s.string(), Ok(Cow::Borrowed("plain"))));
        assert_eq!(s.string().as_deref(), Ok("a\"bé"));
        assert_eq!(s.string(), Err(Bail));
        let mut s = Scanner::new("\"ctl\tx\"");
        assert_eq!(s.string(), Err(Bail), "a raw control character");
    }

    #[test]
    fn skipping_validates_as_serde_json_does() {
        for (text, valid) in [
            (r#"{"a":[1,2.5,{"b":null}],"c":"d","e":true}"#, true),
            (r#"{"a":1,}"#, false),
            (r#"[1 2]"#, false),
            (r#"{"a" 1}"#, false),
            (r#"[tru]"#, false),
            (r#"[]"#, true),
            (r#"{}"#, true),
        ] {
            let mut s = Scanner::new(text);
            let ours = s.skip().and_then(|()| s.end()).is_ok();
            assert_eq!(ours, valid, "{text}");
            assert_eq!(
                serde_json::from_str::<serde_json::Value>(text).is_ok(),
                valid
            );
        }
        let deep = "[".repeat(MAX_DEPTH + 2) + &"]".repeat(MAX_DEPTH + 2);
        assert_eq!(Scanner::new(&deep).skip(), Err(Bail), "left to serde_json");
    }
}
