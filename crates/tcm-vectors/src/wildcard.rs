//! Wildcard tokens (README §2): strings standing for values that vary per run.
//!
//! A JSON string is a wildcard only when the whole string is one of the tokens below; anything
//! else (including `<id>` inside a message text) is an ordinary string.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Number, Value};

/// A parsed wildcard token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wildcard<'a> {
    /// `<any>`: any JSON value.
    Any,
    /// `<any:string>`.
    AnyString,
    /// `<any:number>`.
    AnyNumber,
    /// `<any:int>`: a number with an integral value.
    AnyInt,
    /// `<any:bool>`.
    AnyBool,
    /// `<hex16>`: 16 lowercase hex digits.
    Hex16,
    /// `<uuid4>`: a lowercase hyphenated UUID v4.
    Uuid4,
    /// `<uuid4:NAME>`: a UUID v4, bound to `NAME`.
    Uuid4Bind(&'a str),
    /// `<ref:NAME>`: the value bound to `NAME`.
    Ref(&'a str),
}

/// Parse `s` as a wildcard token; `None` for an ordinary string.
pub fn parse(s: &str) -> Option<Wildcard<'_>> {
    let inner = s.strip_prefix('<')?.strip_suffix('>')?;
    Some(match inner {
        "any" => Wildcard::Any,
        "any:string" => Wildcard::AnyString,
        "any:number" => Wildcard::AnyNumber,
        "any:int" => Wildcard::AnyInt,
        "any:bool" => Wildcard::AnyBool,
        "hex16" => Wildcard::Hex16,
        "uuid4" => Wildcard::Uuid4,
        _ => {
            if let Some(name) = inner.strip_prefix("uuid4:").filter(|n| valid_name(n)) {
                Wildcard::Uuid4Bind(name)
            } else if let Some(name) = inner.strip_prefix("ref:").filter(|n| valid_name(n)) {
                Wildcard::Ref(name)
            } else {
                return None;
            }
        }
    })
}

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Whether `s` is exactly 16 lowercase hex digits.
pub fn is_hex16(s: &str) -> bool {
    s.len() == 16 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Whether `s` is a lowercase hyphenated UUID of version 4 (RFC 4122 variant).
pub fn is_uuid4(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 36 {
        return false;
    }
    for (i, &c) in b.iter().enumerate() {
        let ok = match i {
            8 | 13 | 18 | 23 => c == b'-',
            14 => c == b'4',
            19 => matches!(c, b'8' | b'9' | b'a' | b'b'),
            _ => matches!(c, b'0'..=b'9' | b'a'..=b'f'),
        };
        if !ok {
            return false;
        }
    }
    true
}

/// Whether `n` has an integral value (`3`, `3.0`, `3e0`).
pub fn is_integral(n: &Number) -> bool {
    n.is_i64()
        || n.is_u64()
        || n.as_f64()
            .is_some_and(|f| f.is_finite() && f.fract() == 0.0)
}

/// Whether `v` satisfies the type-only part of wildcard `w` (bindings are the matcher's job).
pub fn accepts(w: Wildcard<'_>, v: &Value) -> bool {
    match w {
        Wildcard::Any => true,
        Wildcard::AnyString => v.is_string(),
        Wildcard::AnyNumber => v.is_number(),
        Wildcard::AnyInt => matches!(v, Value::Number(n) if is_integral(n)),
        Wildcard::AnyBool => v.is_boolean(),
        Wildcard::Hex16 => v.as_str().is_some_and(is_hex16),
        Wildcard::Uuid4 | Wildcard::Uuid4Bind(_) => v.as_str().is_some_and(is_uuid4),
        Wildcard::Ref(_) => true,
    }
}

/// 64 unpredictable bits from the standard library's per-process random hash keys.
fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    h.write_u128(nanos);
    h.finish()
}

/// A fresh random lowercase UUID v4.
pub fn fresh_uuid4() -> String {
    let hi = random_u64();
    let lo = random_u64();
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&hi.to_be_bytes());
    bytes[8..].copy_from_slice(&lo.to_be_bytes());
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// A fresh random 16-digit lowercase hex string.
pub fn fresh_hex16() -> String {
    format!("{:016x}", random_u64())
}

/// A concrete value for a wildcard token, used when a runner emits a frame holding wildcards.
/// `<any>` becomes `null`, typed wildcards a plain value of their type, `<hex16>` and
/// `<uuid4...>` fresh random values; an ordinary string is returned unchanged.
pub fn generate(token: &str) -> Value {
    match parse(token) {
        Some(Wildcard::Any) => Value::Null,
        Some(Wildcard::AnyString) => Value::String("any".into()),
        Some(Wildcard::AnyNumber) => {
            let secs = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.5);
            Number::from_f64(secs).map_or(Value::Null, Value::Number)
        }
        Some(Wildcard::AnyInt) => Value::from(0),
        Some(Wildcard::AnyBool) => Value::Bool(true),
        Some(Wildcard::Hex16) => Value::String(fresh_hex16()),
        Some(Wildcard::Uuid4 | Wildcard::Uuid4Bind(_)) => Value::String(fresh_uuid4()),
        Some(Wildcard::Ref(_)) | None => Value::String(token.to_string()),
    }
}
