//! Frames as steps describe them: built for emission, checked on arrival.

use serde_json::Value;

use crate::matcher::{self, Bindings, MatchMode};
use crate::wildcard;

/// A data frame as sent or received.
#[derive(Debug)]
pub(super) enum Data {
    Text(String),
    Binary(Vec<u8>),
}

impl Data {
    pub(super) fn describe(&self) -> String {
        match self {
            Data::Text(t) => cut(t),
            Data::Binary(b) => format!(
                "binary frame of {} bytes {}",
                b.len(),
                cut(&String::from_utf8_lossy(b))
            ),
        }
    }

    /// The frame as JSON, when it is a text frame holding JSON.
    pub(super) fn json(&self) -> Option<Value> {
        match self {
            Data::Text(t) => serde_json::from_str(t).ok(),
            Data::Binary(_) => None,
        }
    }
}

pub(super) fn cut(s: &str) -> String {
    const LIMIT: usize = 200;
    if s.len() <= LIMIT {
        return s.to_string();
    }
    let mut end = LIMIT;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes)", &s[..end], s.len())
}

/// A frame as a step describes it; emitted or checked depending on the role.
pub(super) enum FrameSpec<'s> {
    Json(&'s Value, MatchMode),
    Text(&'s str),
    Binary(&'s str),
    Padded {
        frame: &'s Value,
        pad_path: &'s [String],
        total_bytes: usize,
    },
}

impl FrameSpec<'_> {
    pub(super) fn describe(&self) -> String {
        match self {
            FrameSpec::Json(v, MatchMode::Exact) => matcher::render(v),
            FrameSpec::Json(v, MatchMode::Shape) => format!("shape of {}", matcher::render(v)),
            FrameSpec::Text(t) => format!("text frame {}", cut(t)),
            FrameSpec::Binary(t) => format!("binary frame {}", cut(t)),
            FrameSpec::Padded {
                frame, total_bytes, ..
            } => format!("{} padded to {total_bytes} bytes", matcher::render(frame)),
        }
    }

    /// The concrete frame to emit; `<uuid4:NAME>` values chosen here are bound.
    pub(super) fn build(&self, bindings: &mut Bindings) -> Result<Data, String> {
        let mut generate = wildcard::generate;
        Ok(match self {
            FrameSpec::Json(v, _) => {
                Data::Text(matcher::instantiate_binding(v, bindings, &mut generate).to_string())
            }
            FrameSpec::Text(t) => Data::Text((*t).to_string()),
            FrameSpec::Binary(t) => Data::Binary(t.as_bytes().to_vec()),
            FrameSpec::Padded {
                frame,
                pad_path,
                total_bytes,
            } => {
                let mut v = matcher::instantiate_binding(frame, bindings, &mut generate);
                set_at(&mut v, pad_path, String::new())?;
                let base = v.to_string().len();
                let pad = total_bytes.checked_sub(base).ok_or_else(|| {
                    format!("the frame is {base} bytes before padding, over {total_bytes}")
                })?;
                set_at(&mut v, pad_path, "x".repeat(pad))?;
                Data::Text(v.to_string())
            }
        })
    }

    /// Check a received frame against the step.
    pub(super) fn check(&self, got: &Data, bindings: &mut Bindings) -> Result<(), String> {
        match (self, got) {
            (FrameSpec::Json(expected, mode), Data::Text(t)) => {
                let actual: Value =
                    serde_json::from_str(t).map_err(|e| format!("not JSON ({e})"))?;
                matcher::check(expected, &actual, *mode, bindings).map_err(|m| m.to_string())
            }
            (FrameSpec::Text(expected), Data::Text(t)) => {
                if expected == t {
                    Ok(())
                } else {
                    Err("different text".into())
                }
            }
            (FrameSpec::Binary(expected), Data::Binary(b)) => {
                if expected.as_bytes() == b.as_slice() {
                    Ok(())
                } else {
                    Err("different bytes".into())
                }
            }
            (
                FrameSpec::Padded {
                    frame,
                    pad_path,
                    total_bytes,
                },
                Data::Text(t),
            ) => {
                if t.len() != *total_bytes {
                    return Err(format!("{} bytes instead of {total_bytes}", t.len()));
                }
                let mut actual: Value =
                    serde_json::from_str(t).map_err(|e| format!("not JSON ({e})"))?;
                let pad = get_at(&actual, pad_path)
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("no padding string at {pad_path:?}"))?;
                if !pad.bytes().all(|b| b == b'x') {
                    return Err(format!("padding at {pad_path:?} is not a run of x"));
                }
                set_at(&mut actual, pad_path, String::new())?;
                let mut expected = (*frame).clone();
                set_at(&mut expected, pad_path, String::new())?;
                matcher::check(&expected, &actual, MatchMode::Exact, bindings)
                    .map_err(|m| m.to_string())
            }
            (_, Data::Binary(_)) => Err("a binary frame where a text frame was expected".into()),
            (_, Data::Text(_)) => Err("a text frame where a binary frame was expected".into()),
        }
    }
}

fn get_at<'v>(v: &'v Value, path: &[String]) -> Option<&'v Value> {
    path.iter().try_fold(v, |cur, key| cur.get(key))
}

fn set_at(v: &mut Value, path: &[String], s: String) -> Result<(), String> {
    let mut cur = v;
    for key in path {
        cur = cur
            .get_mut(key)
            .ok_or_else(|| format!("pad_path {path:?} not found in the frame"))?;
    }
    *cur = Value::String(s);
    Ok(())
}
