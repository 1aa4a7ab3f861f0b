//! Bounded building blocks for structured inputs (decoded with the `arbitrary` crate).
//!
//! The string types read a length prefix from the front of the input, followed by that many
//! bytes (converted lossily to UTF-8), so seeds can be written by hand or by
//! `scripts/fuzz-seeds.py` without reimplementing `arbitrary`'s length encoding.

use arbitrary::{Arbitrary, Unstructured};

/// Largest [`Text`], in bytes.
pub const MAX_TEXT: usize = 8192;

/// Most operations one input runs.
pub const MAX_OPS: usize = 256;

/// A string of up to [`MAX_TEXT`] bytes: a little-endian `u16` length, then the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text(pub String);

impl<'a> Arbitrary<'a> for Text {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let len = usize::from(u16::arbitrary(u)?) % (MAX_TEXT + 1);
        let bytes = u.bytes(len.min(u.len()))?;
        Ok(Self(String::from_utf8_lossy(bytes).into_owned()))
    }

    fn size_hint(_depth: usize) -> (usize, Option<usize>) {
        (2, Some(2 + MAX_TEXT))
    }
}

/// A string of up to 255 bytes: a `u8` length, then the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Short(pub String);

impl<'a> Arbitrary<'a> for Short {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let len = usize::from(u8::arbitrary(u)?);
        let bytes = u.bytes(len.min(u.len()))?;
        Ok(Self(String::from_utf8_lossy(bytes).into_owned()))
    }

    fn size_hint(_depth: usize) -> (usize, Option<usize>) {
        (1, Some(256))
    }
}

impl Short {
    /// The string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Up to `max` items decoded one after the other while input remains.
pub fn bounded_list<'a, T: Arbitrary<'a>>(
    u: &mut Unstructured<'a>,
    max: usize,
) -> arbitrary::Result<Vec<T>> {
    let n = usize::from(u8::arbitrary(u)?) % (max + 1);
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        if u.is_empty() {
            break;
        }
        out.push(T::arbitrary(u)?);
    }
    Ok(out)
}

/// Milliseconds from a `u32`, at most one hour.
pub fn bounded_ms(ms: u32) -> u64 {
    u64::from(ms) % 3_600_001
}

/// Parses `text` as JSON, or keeps it as a JSON string.
pub fn json_or_string(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::String(text.to_owned()))
}
