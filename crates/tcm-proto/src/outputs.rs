//! [`Outputs`]: the outputs of a completed inference, decoded straight from the frame's text
//! into typed vectors.
//!
//! A rectangular (nested) list of numbers or booleans becomes its shape and one flat vector
//! (`i64` while every element is an integer, `f64` otherwise), without a JSON tree in between:
//! decoding a large reply holds the frame and about as many bytes again, not the many times the
//! frame a `serde_json::Value` per element costs. Anything else (strings, ragged lists, the
//! per-step objects of a pipeline) is kept as JSON.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::json::{Bail, MAX_DEPTH, Number, Scan, Scanner};
use crate::tensor::{OutputError, OutputTensor, flatten};

/// One output as decoded.
#[derive(Debug, Clone, PartialEq)]
enum Output {
    Ints { shape: Shape, values: Vec<i64> },
    Floats { shape: Shape, values: Vec<f64> },
    Bools { shape: Shape, values: Vec<bool> },
    Json(Value),
}

/// Dimensions a typed output holds at most; a tensor of more is kept as JSON.
const MAX_RANK: usize = 8;

/// The dimensions of a typed output, held in place (a reply's outputs need no allocation for
/// their shapes).
#[derive(Clone, Copy, PartialEq, Eq)]
struct Shape {
    dims: [usize; MAX_RANK],
    rank: usize,
}

impl Shape {
    fn as_slice(&self) -> &[usize] {
        &self.dims[..self.rank]
    }
}

impl fmt::Debug for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.as_slice().fmt(f)
    }
}

/// The outputs of a completed HTTP inference (or the per-step outputs of a pipeline): output
/// name → tensor, with typed accessors.
#[derive(Clone, PartialEq, Default)]
pub struct Outputs(
    /// Sorted by name, each name once: replies hold a handful of outputs, for which a sorted
    /// list is cheaper to build, search and drop than a tree.
    Vec<(String, Output)>,
);

impl fmt::Debug for Outputs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let map = DebugMap(&self.0);
        f.debug_tuple("Outputs").field(&map).finish()
    }
}

struct DebugMap<'a>(&'a [(String, Output)]);

impl fmt::Debug for DebugMap<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, v)| (k, v)))
            .finish()
    }
}

impl Outputs {
    /// Outputs given as JSON (output name → nested value).
    pub fn from_json(outputs: Map<String, Value>) -> Self {
        let mut this = Self(Vec::with_capacity(outputs.len()));
        for (name, value) in outputs {
            this.insert(name, Output::Json(value));
        }
        this
    }

    /// Adds an output; a later output of the same name replaces the earlier one (as in a JSON
    /// object).
    fn insert(&mut self, name: String, output: Output) {
        match self.0.binary_search_by(|(n, _)| n.as_str().cmp(&name)) {
            Ok(i) => self.0[i].1 = output,
            Err(i) => self.0.insert(i, (name, output)),
        }
    }

    /// Decodes the outputs of a completed frame from their texts, each straight into a typed
    /// vector where it is a rectangular list of numbers or booleans.
    pub(crate) fn decode(raw: BTreeMap<String, &RawValue>) -> Result<Self, serde_json::Error> {
        let mut outputs = Self::default();
        for (name, text) in raw {
            let output = match typed(text.get()) {
                Some(output) => output,
                None => Output::Json(serde_json::from_str(text.get())?),
            };
            outputs.insert(name, output);
        }
        Ok(outputs)
    }

    /// Decodes the outputs object at the scanner (output name → nested value) in one pass:
    /// each rectangular list of numbers or booleans straight into a typed vector, anything
    /// else as JSON, exactly as [`decode`](Self::decode) reads the same text.
    pub(crate) fn scan(s: &mut Scanner<'_>) -> Scan<Self> {
        let mut outputs = Self::default();
        s.begin_object()?;
        let mut first = true;
        while let Some(name) = s.next_key(&mut first)? {
            s.peek();
            let start = s.pos();
            let mut collected = Collected::new();
            let output = match collected.scan(s, 0)?.ok().and_then(|()| collected.finish()) {
                Some(output) => output,
                None => {
                    s.rewind(start);
                    Output::Json(s.value()?)
                }
            };
            outputs.insert(name.into_owned(), output);
        }
        Ok(outputs)
    }

    fn output(&self, name: &str) -> Result<&Output, OutputError> {
        self.0
            .binary_search_by(|(n, _)| n.as_str().cmp(name))
            .map(|i| &self.0[i].1)
            .map_err(|_| OutputError::Missing(name.to_owned()))
    }

    /// The JSON of one output (built on request for typed outputs).
    pub fn get(&self, name: &str) -> Result<Value, OutputError> {
        Ok(self.output(name)?.to_json())
    }

    /// Output names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(name, _)| name.as_str())
    }

    /// Every output as JSON (output name → nested value).
    pub fn to_json(&self) -> Map<String, Value> {
        self.0
            .iter()
            .map(|(name, output)| (name.clone(), output.to_json()))
            .collect()
    }

    /// An output as `f64` values (any numeric output).
    pub fn f64(&self, name: &str) -> Result<OutputTensor<f64>, OutputError> {
        self.numbers(name, |v| v, |v| v as f64)
    }

    /// An output as `f32` values (FP32, FP16).
    pub fn f32(&self, name: &str) -> Result<OutputTensor<f32>, OutputError> {
        self.numbers(name, |v| v as f32, |v| v as f32)
    }

    /// An output as `i64` values (integer types).
    pub fn i64(&self, name: &str) -> Result<OutputTensor<i64>, OutputError> {
        match self.output(name)? {
            Output::Ints { shape, values } => Ok(tensor(shape, values.clone())),
            Output::Json(v) => flatten(name, v, "integers", Value::as_i64),
            _ => Err(wrong(name, "integers")),
        }
    }

    /// An output as booleans.
    pub fn bool(&self, name: &str) -> Result<OutputTensor<bool>, OutputError> {
        match self.output(name)? {
            Output::Bools { shape, values } => Ok(tensor(shape, values.clone())),
            Output::Json(v) => flatten(name, v, "booleans", Value::as_bool),
            _ => Err(wrong(name, "booleans")),
        }
    }

    /// A BYTES output as strings (the server flattens these; one element arrives as a string).
    pub fn strings(&self, name: &str) -> Result<Vec<String>, OutputError> {
        match self.output(name)? {
            Output::Json(Value::String(s)) => Ok(vec![s.clone()]),
            Output::Json(v) => {
                flatten(name, v, "strings", |x| x.as_str().map(str::to_owned)).map(|t| t.values)
            }
            _ => Err(wrong(name, "strings")),
        }
    }

    fn numbers<T>(
        &self,
        name: &str,
        float: impl Fn(f64) -> T,
        int: impl Fn(i64) -> T,
    ) -> Result<OutputTensor<T>, OutputError> {
        match self.output(name)? {
            Output::Floats { shape, values } => {
                Ok(tensor(shape, values.iter().map(|v| float(*v)).collect()))
            }
            Output::Ints { shape, values } => {
                Ok(tensor(shape, values.iter().map(|v| int(*v)).collect()))
            }
            Output::Json(v) => flatten(name, v, "numbers", |x| x.as_f64().map(&float)),
            Output::Bools { .. } => Err(wrong(name, "numbers")),
        }
    }
}

fn tensor<T>(shape: &Shape, values: Vec<T>) -> OutputTensor<T> {
    OutputTensor {
        shape: shape.as_slice().to_vec(),
        values,
    }
}

fn wrong(name: &str, expected: &'static str) -> OutputError {
    OutputError::WrongType {
        name: name.to_owned(),
        expected,
    }
}

impl Output {
    fn to_json(&self) -> Value {
        match self {
            Self::Ints { shape, values } => nest_values(shape, values),
            Self::Floats { shape, values } => nest_values(shape, values),
            Self::Bools { shape, values } => nest_values(shape, values),
            Self::Json(v) => v.clone(),
        }
    }
}

/// A typed output's values as the nested JSON lists of its shape.
fn nest_values<T: Copy + Into<Value>>(shape: &Shape, values: &[T]) -> Value {
    nest(shape.as_slice(), &mut values.iter().map(|v| (*v).into()))
}

/// Rebuilds the nested lists of `shape` from row-major `values`.
fn nest(shape: &[usize], values: &mut dyn Iterator<Item = Value>) -> Value {
    match shape.split_first() {
        None => values.next().unwrap_or(Value::Null),
        Some((n, rest)) => Value::Array((0..*n).map(|_| nest(rest, values)).collect()),
    }
}

/// The elements collected so far: integers until the first non-integer.
enum Elements {
    Ints(Vec<i64>),
    Floats(Vec<f64>),
    Bools(Vec<bool>),
}

impl Elements {
    /// Adds a number: integers stay integers until the first non-integer, which turns the
    /// elements so far into floats.
    fn push(&mut self, number: Number) -> Result<(), NotTyped> {
        match (number, &mut *self) {
            (Number::U64(v), values) => {
                // Beyond i64 (UINT64's upper half) only JSON keeps the value exact.
                let v = i64::try_from(v).map_err(|_| NotTyped)?;
                values.push_int(v)?;
            }
            (Number::I64(v), values) => values.push_int(v)?,
            (Number::F64(v), Self::Floats(values)) => values.push(v),
            (Number::F64(v), Self::Ints(values)) => {
                let mut floats: Vec<f64> = values.iter().map(|i| *i as f64).collect();
                floats.push(v);
                *self = Self::Floats(floats);
            }
            (Number::F64(_), Self::Bools(_)) => return Err(NotTyped),
        }
        Ok(())
    }

    fn push_int(&mut self, v: i64) -> Result<(), NotTyped> {
        match self {
            Self::Ints(values) => values.push(v),
            Self::Floats(values) => values.push(v as f64),
            Self::Bools(_) => return Err(NotTyped),
        }
        Ok(())
    }
}

/// What the typed decode of one output collects: the length of the lists at each depth
/// ([`UNSEEN`] until a list at that depth ends), the depth of the leaves, and the elements.
struct Collected {
    shape: Shape,
    leaf_depth: Option<usize>,
    elements: Elements,
}

/// A depth of [`Collected::shape`] whose lists have not ended yet.
const UNSEEN: usize = usize::MAX;

/// A shape or element that a typed tensor cannot hold (the output is then kept as JSON).
#[derive(Debug)]
struct NotTyped;

impl Collected {
    fn new() -> Self {
        Self {
            shape: Shape {
                dims: [UNSEEN; MAX_RANK],
                rank: 0,
            },
            leaf_depth: None,
            elements: Elements::Ints(Vec::new()),
        }
    }

    /// Records a leaf at `depth`; every leaf of a rectangular tensor is at the same depth.
    fn leaf_at(&mut self, depth: usize) -> Result<&mut Elements, NotTyped> {
        if self.leaf_depth.is_some_and(|d| d != depth) {
            return Err(NotTyped);
        }
        self.leaf_depth = Some(depth);
        Ok(&mut self.elements)
    }

    /// Records a number leaf at `depth`.
    fn number(&mut self, depth: usize, number: Number) -> Result<(), NotTyped> {
        self.leaf_at(depth)?.push(number)
    }

    fn bool(&mut self, depth: usize, v: bool) -> Result<(), NotTyped> {
        let elements = self.leaf_at(depth)?;
        match elements {
            Elements::Ints(values) if values.is_empty() => *elements = Elements::Bools(vec![v]),
            Elements::Bools(values) => values.push(v),
            _ => return Err(NotTyped),
        }
        Ok(())
    }

    /// Records that the list at `depth` had `n` elements: every list at one depth has the same
    /// length.
    fn list(&mut self, depth: usize, n: usize) -> Result<(), NotTyped> {
        let seen = self.shape.dims.get_mut(depth).ok_or(NotTyped)?;
        match *seen {
            m if m != UNSEEN && m != n => Err(NotTyped),
            _ => {
                *seen = n;
                self.shape.rank = self.shape.rank.max(depth + 1);
                // An empty list holds no leaf: its depth is where the leaves would be.
                if n == 0 && self.leaf_depth.is_none() {
                    self.leaf_depth = Some(depth + 1);
                }
                Ok(())
            }
        }
    }

    /// The typed output, or `None` when nothing says what the elements are.
    fn finish(self) -> Option<Output> {
        let shape = self.shape;
        if shape.as_slice().contains(&UNSEEN) {
            return None;
        }
        Some(match self.elements {
            // No element says what it is: keep it as JSON, readable as any type.
            Elements::Ints(values) if values.is_empty() => return None,
            Elements::Ints(values) => Output::Ints { shape, values },
            Elements::Floats(values) => Output::Floats { shape, values },
            Elements::Bools(values) => Output::Bools { shape, values },
        })
    }

    /// Reads the elements of a list that starts with a number, at `depth`, up to its `]`, and
    /// returns how many there were. Its every element must be a number (anything else would
    /// make the tensor ragged or mixed): the innermost lists of a tensor, its bulk, are read
    /// in this one loop.
    fn numbers(&mut self, s: &mut Scanner<'_>, depth: usize) -> Scan<Result<usize, NotTyped>> {
        let elements = match self.leaf_at(depth) {
            Ok(elements) => elements,
            Err(e) => return Ok(Err(e)),
        };
        let (mut first, mut n) = (true, 0);
        while s.next_element(&mut first)? {
            let Some(b'-' | b'0'..=b'9') = s.peek() else {
                return Ok(Err(NotTyped));
            };
            if let Err(e) = elements.push(s.number()?) {
                return Ok(Err(e));
            }
            n += 1;
        }
        Ok(Ok(n))
    }

    /// Reads one value at `depth` from the scanner. `Ok(Err(NotTyped))` leaves the scanner
    /// somewhere inside the value: the caller rewinds.
    fn scan(&mut self, s: &mut Scanner<'_>, depth: usize) -> Scan<Result<(), NotTyped>> {
        if depth > MAX_DEPTH {
            return Err(Bail);
        }
        Ok(match s.peek() {
            Some(b'[') => {
                s.begin_array()?;
                if let Some(b'-' | b'0'..=b'9') = s.peek() {
                    return Ok(match self.numbers(s, depth + 1)? {
                        Ok(n) => self.list(depth, n),
                        Err(e) => Err(e),
                    });
                }
                let mut first = true;
                let mut n = 0;
                while s.next_element(&mut first)? {
                    if let Err(e) = self.scan(s, depth + 1)? {
                        return Ok(Err(e));
                    }
                    n += 1;
                }
                self.list(depth, n)
            }
            Some(b't' | b'f') => {
                let v = s.bool()?;
                self.bool(depth, v)
            }
            Some(b'-' | b'0'..=b'9') => {
                let number = s.number()?;
                self.number(depth, number)
            }
            _ => Err(NotTyped),
        })
    }
}

/// An output's text as a typed tensor, or `None` when it is not a rectangular list of numbers
/// or booleans (or a single one).
fn typed(text: &str) -> Option<Output> {
    let mut collected = Collected::new();
    let mut de = serde_json::Deserializer::from_str(text);
    Collect {
        into: &mut collected,
        depth: 0,
    }
    .deserialize(&mut de)
    .ok()?;
    de.end().ok()?;
    collected.finish()
}

/// Collects one value at `depth` of the nesting.
struct Collect<'a> {
    into: &'a mut Collected,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for Collect<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Collect<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a rectangular list of numbers or booleans")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let depth = self.depth;
        let mut n = 0;
        while seq
            .next_element_seed(Collect {
                into: &mut *self.into,
                depth: depth + 1,
            })?
            .is_some()
        {
            n += 1;
        }
        self.into.list(depth, n).map_err(not_typed)
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<(), E> {
        self.into
            .number(self.depth, Number::I64(v))
            .map_err(not_typed)
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<(), E> {
        self.into
            .number(self.depth, Number::U64(v))
            .map_err(not_typed)
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<(), E> {
        self.into
            .number(self.depth, Number::F64(v))
            .map_err(not_typed)
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<(), E> {
        self.into.bool(self.depth, v).map_err(not_typed)
    }
}

fn not_typed<E: serde::de::Error>(NotTyped: NotTyped) -> E {
    E::custom("not a rectangular list of numbers or booleans")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(data: &str) -> Outputs {
        let raw: BTreeMap<String, &RawValue> = serde_json::from_str(data).expect("an object");
        Outputs::decode(raw).expect("decodes")
    }

    #[test]
    fn rectangular_numbers_are_typed_with_their_shape() {
        let o = decode(r#"{"A":[[1,2,3],[4,5,6]],"B":[1.5,2],"C":[true,false],"D":7}"#);
        let a = o.i64("A").unwrap();
        assert_eq!((a.shape, a.values), (vec![2, 3], vec![1, 2, 3, 4, 5, 6]));
        assert_eq!(
            o.f32("A").unwrap().values,
            vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
        );
        assert_eq!(o.f64("B").unwrap().values, vec![1.5, 2.0]);
        assert!(o.i64("B").is_err(), "floats are not integers");
        assert_eq!(o.bool("C").unwrap().values, vec![true, false]);
        assert_eq!(o.f64("D").unwrap().shape, Vec::<usize>::new());
        assert_eq!(
            o.get("A").unwrap(),
            serde_json::json!([[1, 2, 3], [4, 5, 6]])
        );
    }

    #[test]
    fn everything_else_is_kept_as_json_with_the_same_accessors() {
        let o =
            decode(r#"{"S":["a","b"],"R":[[1,2],[3]],"P":{"OUTPUT0":[1]},"M":[1,true],"E":[]}"#);
        assert_eq!(o.strings("S").unwrap(), vec!["a", "b"]);
        assert!(matches!(o.f64("R"), Err(OutputError::Ragged(_))));
        assert_eq!(o.get("P").unwrap()["OUTPUT0"], serde_json::json!([1]));
        assert!(o.f64("M").is_err());
        assert_eq!(o.f64("E").unwrap().values, Vec::<f64>::new());
        assert!(matches!(o.get("X"), Err(OutputError::Missing(_))));
    }

    #[test]
    fn typed_and_json_decoding_agree() {
        for data in [
            r#"{"O":[[0.5,1],[2,3.25]]}"#,
            r#"{"O":[[[1]],[[2]]]}"#,
            r#"{"O":[1,2,3]}"#,
            r#"{"O":[[1,2],[3,4],[5,6]]}"#,
            r#"{"O":[[1,2],[3]]}"#,
            r#"{"O":[1,[2]]}"#,
            r#"{"O":[1,true]}"#,
            r#"{"O":[1,null]}"#,
            r#"{"O":[1,2.5,-3]}"#,
            r#"{"O":[-1,18446744073709551615]}"#,
            r#"{"O":[[[[[[[[1,2]]]]]]]]}"#,
            r#"{"O":[[[[[[[[[1,2]]]]]]]]]}"#,
        ] {
            let typed = decode(data);
            let scanned = Outputs::scan(&mut crate::json::Scanner::new(data)).unwrap();
            assert_eq!(scanned, typed, "{data}");
            let map: Map<String, Value> = serde_json::from_str(data).unwrap();
            let json = Outputs::from_json(map);
            assert_eq!(typed.f64("O"), json.f64("O"), "{data}");
            if !data.contains('.') {
                assert_eq!(typed.to_json(), json.to_json(), "{data}");
            }
        }
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    fn nested(shape: &[usize], leaves: &mut impl Iterator<Item = Value>) -> Value {
        nest(shape, leaves)
    }

    proptest! {
        /// Whatever rectangular list (or ragged or mixed one) the server sends, the typed decode
        /// reads the same through every accessor as the JSON it came as.
        #[test]
        fn typed_decoding_reads_like_json(
            shape in proptest::collection::vec(0usize..4, 0..4),
            kind in 0u8..6,
            seed in any::<u64>(),
        ) {
            let mut n = seed;
            let mut leaves = std::iter::from_fn(|| {
                n = n.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                Some(match kind {
                    0 => Value::from((n >> 40) as i64 - (1 << 23)),
                    1 => Value::from(((n >> 11) as f64) / 1e6),
                    2 => Value::from(n & 1 == 0),
                    3 => if n & 3 == 0 { Value::from("s") } else { Value::from(1.5) },
                    4 => if n & 3 == 0 { Value::from(true) } else { Value::from(7) },
                    _ => if n & 3 == 0 { Value::from(u64::MAX) } else { Value::from(-7) },
                })
            });
            let value = nested(&shape, &mut leaves);
            let text = serde_json::json!({"O": value}).to_string();
            let raw: BTreeMap<String, &RawValue> = serde_json::from_str(&text).unwrap();
            let typed = Outputs::decode(raw).unwrap();
            let json = Outputs::from_json(serde_json::from_str(&text).unwrap());
            let scanned = Outputs::scan(&mut crate::json::Scanner::new(&text)).unwrap();
            prop_assert_eq!(&scanned, &typed, "{}", text);
            prop_assert_eq!(typed.f64("O"), json.f64("O"));
            prop_assert_eq!(typed.i64("O"), json.i64("O"));
            prop_assert_eq!(typed.bool("O"), json.bool("O"));
            prop_assert_eq!(typed.strings("O"), json.strings("O"));
        }
    }
}
