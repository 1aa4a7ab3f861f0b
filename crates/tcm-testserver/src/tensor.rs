//! Tensors: datatypes, conversion of JSON and shared-memory inputs, and JSON output encoding.

use serde_json::{Map, Value};
use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

/// A Triton datatype.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    /// `BOOL`.
    Bool,
    /// `UINT8`.
    U8,
    /// `UINT16`.
    U16,
    /// `UINT32`.
    U32,
    /// `UINT64`.
    U64,
    /// `INT8`.
    I8,
    /// `INT16`.
    I16,
    /// `INT32`.
    I32,
    /// `INT64`.
    I64,
    /// `FP16`.
    F16,
    /// `FP32`.
    F32,
    /// `FP64`.
    F64,
    /// `BYTES` (`TYPE_STRING` in model configs).
    Bytes,
}

impl DType {
    /// Parses a Triton name (`FP32`) or a model-config name (`TYPE_FP32`, `TYPE_STRING`).
    pub fn parse(name: &str) -> Option<DType> {
        let n = name.strip_prefix("TYPE_").unwrap_or(name);
        Some(match n {
            "BOOL" => DType::Bool,
            "UINT8" => DType::U8,
            "UINT16" => DType::U16,
            "UINT32" => DType::U32,
            "UINT64" => DType::U64,
            "INT8" => DType::I8,
            "INT16" => DType::I16,
            "INT32" => DType::I32,
            "INT64" => DType::I64,
            "FP16" => DType::F16,
            "FP32" => DType::F32,
            "FP64" => DType::F64,
            "BYTES" | "STRING" => DType::Bytes,
            _ => return None,
        })
    }

    /// The Triton name.
    pub fn name(self) -> &'static str {
        match self {
            DType::Bool => "BOOL",
            DType::U8 => "UINT8",
            DType::U16 => "UINT16",
            DType::U32 => "UINT32",
            DType::U64 => "UINT64",
            DType::I8 => "INT8",
            DType::I16 => "INT16",
            DType::I32 => "INT32",
            DType::I64 => "INT64",
            DType::F16 => "FP16",
            DType::F32 => "FP32",
            DType::F64 => "FP64",
            DType::Bytes => "BYTES",
        }
    }

    /// Element size used by the 413 estimate (BYTES counts 8).
    pub fn size(self) -> u64 {
        match self {
            DType::Bool | DType::U8 | DType::I8 => 1,
            DType::U16 | DType::I16 | DType::F16 => 2,
            DType::U32 | DType::I32 | DType::F32 => 4,
            DType::U64 | DType::I64 | DType::F64 | DType::Bytes => 8,
        }
    }

    fn is_float(self) -> bool {
        matches!(self, DType::F16 | DType::F32 | DType::F64)
    }

    fn is_int(self) -> bool {
        matches!(
            self,
            DType::U8
                | DType::U16
                | DType::U32
                | DType::U64
                | DType::I8
                | DType::I16
                | DType::I32
                | DType::I64
        )
    }

    /// numpy's scalar type name, as it appears in Python error texts.
    pub fn numpy_name(self) -> &'static str {
        match self {
            DType::Bool => "numpy.bool_",
            DType::U8 => "numpy.uint8",
            DType::U16 => "numpy.uint16",
            DType::U32 => "numpy.uint32",
            DType::U64 => "numpy.uint64",
            DType::I8 => "numpy.int8",
            DType::I16 => "numpy.int16",
            DType::I32 => "numpy.int32",
            DType::I64 => "numpy.int64",
            DType::F16 => "numpy.float16",
            DType::F32 => "numpy.float32",
            DType::F64 => "numpy.float64",
            DType::Bytes => "bytes",
        }
    }
}

/// Flat, row-major tensor storage.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    /// Floating-point elements (FP32 values are already rounded to f32).
    Float(Vec<f64>),
    /// Integer elements.
    Int(Vec<i64>),
    /// Boolean elements.
    Bool(Vec<bool>),
    /// BYTES elements.
    Bytes(Vec<String>),
}

impl Data {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            Data::Float(v) => v.len(),
            Data::Int(v) => v.len(),
            Data::Bool(v) => v.len(),
            Data::Bytes(v) => v.len(),
        }
    }

    /// Whether the tensor has no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A named tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// Input or output name.
    pub name: String,
    /// Datatype.
    pub dtype: DType,
    /// Shape.
    pub shape: Vec<usize>,
    /// Elements, row-major.
    pub data: Data,
}

impl Tensor {
    /// The JSON value of an output: nested lists in the tensor's shape; BYTES: one string or a flat list.
    pub fn to_json(&self) -> Value {
        if let Data::Bytes(v) = &self.data {
            return if v.len() == 1 {
                Value::from(v[0].clone())
            } else {
                Value::from(v.clone())
            };
        }
        let flat: Vec<Value> = match &self.data {
            Data::Float(v) => v.iter().map(|x| float_value(*x)).collect(),
            Data::Int(v) => v.iter().map(|x| Value::from(*x)).collect(),
            Data::Bool(v) => v.iter().map(|x| Value::from(*x)).collect(),
            Data::Bytes(_) => Vec::new(),
        };
        nest(&flat, &self.shape)
    }
}

fn float_value(x: f64) -> Value {
    // orjson writes NaN and infinities as null.
    serde_json::Number::from_f64(x)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

fn nest(flat: &[Value], shape: &[usize]) -> Value {
    match shape.split_first() {
        None => flat.first().cloned().unwrap_or(Value::Null),
        Some((_, [])) => Value::Array(flat.to_vec()),
        Some((&n, rest)) => {
            let inner: usize = rest.iter().fold(1usize, |a, d| a.saturating_mul(*d));
            Value::Array(
                (0..n)
                    .map(|i| {
                        let lo = i.saturating_mul(inner).min(flat.len());
                        let hi = (i + 1).saturating_mul(inner).min(flat.len());
                        nest(&flat[lo..hi], rest)
                    })
                    .collect(),
            )
        }
    }
}

/// Python-style list text: `[2, 2]`.
pub fn py_list(dims: &[i64]) -> String {
    let items: Vec<String> = dims.iter().map(i64::to_string).collect();
    format!("[{}]", items.join(", "))
}

/// Failures while turning a request input into a tensor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputError {
    /// A plain exception of the manager (its `str()`), e.g. `'value'` for a missing key.
    Plain(String),
    /// The manager's own shape check failed (typed `TRITON_SHAPE_MISMATCH`, model `unknown`).
    ShapeMismatch(String),
    /// A typed SHM error: `(code, reason)`.
    Shm(&'static str, String),
    /// A cast failure of SHM metadata, reported as a FAILED string.
    ShmCast(String),
}

/// Whether an input entry is an SHM reference (§9.7).
pub fn is_shm_input(entry: &Value) -> bool {
    entry.as_object().is_some_and(|o| {
        ["shm_key", "offset", "byte_size", "shape", "dtype"]
            .iter()
            .all(|k| o.contains_key(*k))
    })
}

/// Renames an SDK-shaped entry `{name,shape,datatype,data}` to the internal `{name,dims,type,value}`.
pub fn normalize_entry(entry: &Value) -> Value {
    let Some(o) = entry.as_object() else {
        return entry.clone();
    };
    let sdk = ["name", "shape", "datatype", "data"]
        .iter()
        .all(|k| o.contains_key(*k));
    if !sdk {
        return entry.clone();
    }
    let mut m = Map::new();
    m.insert("name".into(), o.get("name").cloned().unwrap_or(Value::Null));
    m.insert(
        "dims".into(),
        o.get("shape").cloned().unwrap_or(Value::Null),
    );
    m.insert(
        "type".into(),
        o.get("datatype").cloned().unwrap_or(Value::Null),
    );
    m.insert(
        "value".into(),
        o.get("data").cloned().unwrap_or(Value::Null),
    );
    Value::Object(m)
}

/// Declared dims of an entry (int `n` means `[n]`), if readable.
pub fn declared_dims(v: Option<&Value>) -> Option<Vec<i64>> {
    match v? {
        Value::Number(n) => n.as_i64().map(|d| vec![d]),
        Value::Array(items) => items.iter().map(Value::as_i64).collect(),
        _ => None,
    }
}

/// Size estimate of one (normalised) entry for the 413 check.
pub fn estimated_bytes(entry: &Value) -> u64 {
    let Some(o) = entry.as_object() else { return 0 };
    if is_shm_input(entry) {
        return o.get("byte_size").and_then(Value::as_u64).unwrap_or(0);
    }
    let dims = declared_dims(o.get("dims")).unwrap_or_default();
    let size = o
        .get("type")
        .and_then(Value::as_str)
        .and_then(DType::parse)
        .map(DType::size)
        .unwrap_or(4);
    let numel = dims
        .iter()
        .fold(1u64, |a, d| a.saturating_mul((*d).max(0) as u64));
    numel.saturating_mul(size)
}

fn python_repr_str(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// Converts a normalised JSON entry `{name,dims,type,value}` into a tensor (numpy conversion, then
/// the manager's strict shape check).
pub fn tensor_from_json(entry: &Value) -> Result<Tensor, InputError> {
    let o = match entry {
        Value::Object(o) => o,
        Value::String(_) => {
            return Err(InputError::Plain("string indices must be integers".into()));
        }
        other => {
            return Err(InputError::Plain(format!(
                "'{}' object is not subscriptable",
                py_type(other)
            )));
        }
    };
    for key in ["name", "dims", "type", "value"] {
        if !o.contains_key(key) {
            return Err(InputError::Plain(format!("'{key}'")));
        }
    }
    let name = match o.get("name") {
        Some(Value::String(s)) => s.clone(),
        Some(other) => crate::frames::to_json(other),
        None => String::new(),
    };
    let type_name = o.get("type").and_then(Value::as_str).unwrap_or("");
    let dtype = DType::parse(type_name)
        .ok_or_else(|| InputError::Plain(format!("data type '{type_name}' is not supported")))?;
    let dims = declared_dims(o.get("dims"))
        .ok_or_else(|| InputError::Plain("dims must be an int or a list of ints".into()))?;
    let value = match o.get("value") {
        Some(Value::Array(a)) => Value::Array(a.clone()),
        Some(scalar) => Value::Array(vec![scalar.clone()]),
        None => Value::Array(Vec::new()),
    };
    let shape = value_shape(&value).ok_or_else(|| {
        InputError::Plain(
            "setting an array element with a sequence. The requested array has an inhomogeneous shape"
                .into(),
        )
    })?;
    let mut flat = Vec::new();
    flatten(&value, &mut flat);
    let data = convert(&flat, dtype)?;
    let shape_i: Vec<i64> = shape.iter().map(|d| *d as i64).collect();
    if shape_i != dims {
        return Err(InputError::ShapeMismatch(format!(
            "Input shape mismatch for '{name}': dims={} vs value.shape={}",
            py_list(&dims),
            py_list(&shape_i)
        )));
    }
    Ok(Tensor {
        name,
        dtype,
        shape,
        data,
    })
}

/// Python's type name of a JSON value (`NoneType`, `int`, `str`, ...).
pub fn py_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

fn value_shape(v: &Value) -> Option<Vec<usize>> {
    match v {
        Value::Array(items) => {
            let mut shape = vec![items.len()];
            if let Some(first) = items.first() {
                let inner = value_shape(first)?;
                for it in &items[1..] {
                    if value_shape(it)? != inner {
                        return None;
                    }
                }
                shape.extend(inner);
            }
            Some(shape)
        }
        _ => Some(Vec::new()),
    }
}

fn flatten<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| flatten(i, out)),
        other => out.push(other),
    }
}

fn convert(flat: &[&Value], dtype: DType) -> Result<Data, InputError> {
    if dtype.is_float() {
        let mut out = Vec::with_capacity(flat.len());
        for v in flat {
            let x = match v {
                Value::Number(n) => n.as_f64().unwrap_or(0.0),
                Value::Bool(b) => f64::from(u8::from(*b)),
                Value::String(s) => s.trim().parse::<f64>().map_err(|_| {
                    InputError::Plain(format!(
                        "could not convert string to float: {}",
                        python_repr_str(s)
                    ))
                })?,
                other => {
                    return Err(InputError::Plain(format!(
                        "float() argument must be a string or a real number, not '{}'",
                        py_type(other)
                    )));
                }
            };
            out.push(match dtype {
                DType::F32 => f64::from(x as f32),
                DType::F16 => f64::from(f16_round(x as f32)),
                _ => x,
            });
        }
        Ok(Data::Float(out))
    } else if dtype.is_int() {
        let mut out = Vec::with_capacity(flat.len());
        for v in flat {
            let x = match v {
                Value::Number(n) => n
                    .as_i64()
                    .unwrap_or_else(|| n.as_f64().unwrap_or(0.0) as i64),
                Value::Bool(b) => i64::from(*b),
                Value::String(s) => s.trim().parse::<i64>().map_err(|_| {
                    InputError::Plain(format!(
                        "invalid literal for int() with base 10: {}",
                        python_repr_str(s)
                    ))
                })?,
                other => {
                    return Err(InputError::Plain(format!(
                        "int() argument must be a string, a bytes-like object or a real number, not '{}'",
                        py_type(other)
                    )));
                }
            };
            out.push(wrap_int(x, dtype));
        }
        Ok(Data::Int(out))
    } else if dtype == DType::Bool {
        Ok(Data::Bool(
            flat.iter()
                .map(|v| match v {
                    Value::Bool(b) => *b,
                    Value::Number(n) => n.as_f64().unwrap_or(0.0) != 0.0,
                    Value::String(s) => !s.is_empty(),
                    Value::Null => false,
                    _ => true,
                })
                .collect(),
        ))
    } else {
        Ok(Data::Bytes(
            flat.iter()
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => crate::frames::to_json(other),
                })
                .collect(),
        ))
    }
}

fn wrap_int(x: i64, dtype: DType) -> i64 {
    match dtype {
        DType::I8 => i64::from(x as i8),
        DType::I16 => i64::from(x as i16),
        DType::I32 => i64::from(x as i32),
        DType::U8 => i64::from(x as u8),
        DType::U16 => i64::from(x as u16),
        DType::U32 => i64::from(x as u32),
        _ => x,
    }
}

fn f16_round(x: f32) -> f32 {
    f16_to_f32(f32_to_f16(x))
}

fn f32_to_f16(x: f32) -> u16 {
    let b = x.to_bits();
    let sign = ((b >> 16) & 0x8000) as u16;
    let exp = ((b >> 23) & 0xff) as i32;
    let man = b & 0x7f_ffff;
    if exp == 0xff {
        return sign | 0x7c00 | if man != 0 { 0x200 } else { 0 };
    }
    let e = exp - 127 + 15;
    if e >= 0x1f {
        return sign | 0x7c00;
    }
    if e <= 0 {
        if e < -10 {
            return sign;
        }
        let m = (man | 0x80_0000) >> (1 - e + 13);
        return sign | m as u16;
    }
    sign | ((e as u16) << 10) | ((man >> 13) as u16)
}

fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h & 0x8000) << 16;
    let exp = u32::from((h >> 10) & 0x1f);
    let man = u32::from(h & 0x3ff);
    let bits = if exp == 0 {
        if man == 0 {
            sign
        } else {
            let mut e = 127 - 15 + 1;
            let mut m = man;
            while m & 0x400 == 0 {
                m <<= 1;
                e -= 1;
            }
            sign | ((e as u32) << 23) | ((m & 0x3ff) << 13)
        }
    } else if exp == 0x1f {
        sign | 0x7f80_0000 | (man << 13)
    } else {
        sign | ((exp + 127 - 15) << 23) | (man << 13)
    };
    f32::from_bits(bits)
}

/// Shared-memory mappings one Triton client keeps (TCM §9.7): up to this many `(shm_key,
/// byte_size)` pairs, the least recently used one dropped first.
pub const SHM_MAPPINGS_PER_CLIENT: usize = 256;

/// A region as the server mapped it: the open object (reads see its current bytes for as long
/// as the mapping lives, even after its key is unlinked) and its size when it was mapped.
#[derive(Debug)]
struct Mapping {
    file: Arc<File>,
    len: u64,
}

/// One Triton client's cache of shared-memory mappings, as TCM keeps it: a region is mapped
/// (and registered with Triton) the first time a `(shm_key, byte_size)` pair is seen and that
/// mapping is used again for every later request with the same pair, up to
/// [`SHM_MAPPINGS_PER_CLIENT`] pairs (LRU).
///
/// So, like the real server, it keeps reading the memory it first mapped: a client that unlinks
/// a region and creates a new one under the same key gets the old bytes back while the pair is
/// cached. Here a mapping is an open file descriptor of the object, read with `pread`: it sees
/// every write to that object, and nothing written to a new object under the same name.
#[derive(Debug, Default)]
pub struct ClientMappings {
    /// Most recently used last.
    lru: Mutex<VecDeque<((String, u64), Mapping)>>,
}

impl ClientMappings {
    /// The cached mapping of `(key, byte_size)`, or the one `open` makes, cached from now on.
    fn map(
        &self,
        key: &str,
        byte_size: u64,
        open: impl FnOnce() -> Result<Mapping, InputError>,
    ) -> Result<(Arc<File>, u64), InputError> {
        let mut lru = self.lru.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(i) = lru
            .iter()
            .position(|((k, n), _)| k == key && *n == byte_size)
        {
            if let Some(hit) = lru.remove(i) {
                let found = (Arc::clone(&hit.1.file), hit.1.len);
                lru.push_back(hit);
                return Ok(found);
            }
        }
        let mapping = open()?;
        let found = (Arc::clone(&mapping.file), mapping.len);
        if lru.len() >= SHM_MAPPINGS_PER_CLIENT {
            lru.pop_front();
        }
        lru.push_back(((key.to_owned(), byte_size), mapping));
        Ok(found)
    }

    /// Mappings held.
    pub fn len(&self) -> usize {
        self.lru
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether no mapping is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The shared-memory mappings of every registered Triton server, by `(vm_ip, container_id)`:
/// one [`ClientMappings`] per Triton client. A transient client lives for one request, so its
/// mappings do too (see [`tensor_from_shm`]).
#[derive(Debug, Default)]
pub struct ShmMappings {
    clients: Mutex<HashMap<(String, String), Arc<ClientMappings>>>,
}

impl ShmMappings {
    /// The mappings of the Triton client of `(vm_ip, container_id)`.
    pub fn client(&self, vm_ip: &str, container_id: &str) -> Arc<ClientMappings> {
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(
            clients
                .entry((vm_ip.to_owned(), container_id.to_owned()))
                .or_default(),
        )
    }
}

/// Reads `buf.len()` bytes of `file` from `offset`, leaving the file position alone.
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
    }
    #[cfg(not(unix))]
    {
        use std::io::{Read, Seek, SeekFrom};
        let mut file = file;
        file.seek(SeekFrom::Start(offset))?;
        file.read_exact(buf)
    }
}

/// Reads one SHM input entry: metadata checks, then the region `<shm_dir>/<key without '/'>`,
/// decoded as raw little-endian, row-major elements.
///
/// The region is read through `mappings`, the Triton client's cache: mapped the first time its
/// `(shm_key, byte_size)` is seen and read through that same mapping afterwards. `None` (a
/// transient client) maps it for this request alone.
pub fn tensor_from_shm(
    entry: &Value,
    shm_dir: &Path,
    mappings: Option<&ClientMappings>,
) -> Result<Tensor, InputError> {
    let o = entry.as_object().cloned().unwrap_or_default();
    let name = o
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let key = o
        .get("shm_key")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let offset = py_int(o.get("offset"))?;
    let byte_size = py_int(o.get("byte_size"))?;
    let dtype_name = o
        .get("dtype")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let meta = |reason: &str| {
        InputError::Shm(
            "TRITON_INFERENCE_FAILED",
            format!("Invalid SHM input: {reason}"),
        )
    };
    if name.is_empty() {
        return Err(meta("missing input name"));
    }
    if key.is_empty() {
        return Err(meta("missing shm_key"));
    }
    if offset < 0 {
        return Err(meta("offset must be >= 0"));
    }
    if byte_size <= 0 {
        return Err(meta("byte_size must be > 0"));
    }
    let shape: Option<Vec<usize>> = o.get("shape").and_then(Value::as_array).and_then(|a| {
        a.iter()
            .map(|d| d.as_i64().filter(|d| *d >= 0).map(|d| d as usize))
            .collect()
    });
    let shape = shape.ok_or_else(|| meta("shape must be list[int>=0]"))?;
    if dtype_name.is_empty() {
        return Err(meta("missing dtype"));
    }
    let dtype = DType::parse(&dtype_name)
        .ok_or_else(|| InputError::Plain(format!("data type '{dtype_name}' is not supported")))?;
    if !shm_dir.is_dir() {
        return Err(InputError::Shm(
            "TRITON_SHM_UNAVAILABLE",
            "POSIX shared memory is not available (/dev/shm inaccessible)".into(),
        ));
    }
    let name_only = key.trim_start_matches('/');
    if name_only.is_empty() || name_only.contains('/') || name_only.starts_with('.') {
        // POSIX shared-memory names hold no further '/': nothing outside the directory is read.
        return Err(InputError::Shm(
            "TRITON_SHM_UNAVAILABLE",
            format!("Shared memory key not found: '{key}'"),
        ));
    }
    let path = shm_dir.join(name_only);
    let open = || {
        let file = File::open(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                InputError::Shm(
                    "TRITON_SHM_UNAVAILABLE",
                    format!("Shared memory key not found: '{key}'"),
                )
            } else {
                InputError::Shm(
                    "TRITON_SHM_UNAVAILABLE",
                    format!("Failed to map shared memory region: {e}"),
                )
            }
        })?;
        let len = file.metadata().map(|m| m.len()).map_err(|e| {
            InputError::Shm(
                "TRITON_SHM_UNAVAILABLE",
                format!("Failed to map shared memory region: {e}"),
            )
        })?;
        Ok(Mapping {
            file: Arc::new(file),
            len,
        })
    };
    let (offset, byte_size) = (offset as u64, byte_size as u64);
    let (file, mapped) = match mappings {
        Some(cache) => cache.map(&key, byte_size, open)?,
        None => {
            let m = open()?;
            (m.file, m.len)
        }
    };
    let end = offset.saturating_add(byte_size);
    let too_small = || {
        InputError::Shm(
            "TRITON_SHM_REGISTRATION_FAILED",
            format!(
                "Failed to register shared memory region '{key}': region of {mapped} bytes is smaller than offset {offset} + byte_size {byte_size}"
            ),
        )
    };
    if end > mapped {
        return Err(too_small());
    }
    let mut region = vec![0u8; usize::try_from(byte_size).map_err(|_| too_small())?];
    read_at(&file, &mut region, offset).map_err(|e| {
        InputError::Shm(
            "TRITON_SHM_UNAVAILABLE",
            format!("Failed to map shared memory region: {e}"),
        )
    })?;
    let byte_size = region.len();
    let elem = match dtype {
        DType::Bytes => 0,
        d => d.size() as usize,
    };
    let expected = shape
        .iter()
        .try_fold(elem, |a, d| a.checked_mul(*d))
        .unwrap_or(usize::MAX);
    if elem == 0 || expected != byte_size {
        return Err(InputError::Plain(format!(
            "[400] [request id: <id_unknown>] input byte size mismatch for input '{name}': expected {} bytes for shape {} and datatype {}, got {byte_size}",
            expected,
            py_list(&shape.iter().map(|d| *d as i64).collect::<Vec<_>>()),
            dtype.name()
        )));
    }
    Ok(Tensor {
        name,
        dtype,
        shape,
        data: decode_le(&region, dtype),
    })
}

fn py_int(v: Option<&Value>) -> Result<i64, InputError> {
    match v {
        Some(Value::Number(n)) => Ok(n
            .as_i64()
            .unwrap_or_else(|| n.as_f64().unwrap_or(0.0) as i64)),
        Some(Value::Bool(b)) => Ok(i64::from(*b)),
        Some(Value::String(s)) => s.trim().parse::<i64>().map_err(|_| {
            InputError::ShmCast(format!(
                "invalid literal for int() with base 10: {}",
                python_repr_str(s)
            ))
        }),
        Some(other) => Err(InputError::ShmCast(format!(
            "int() argument must be a string, a bytes-like object or a real number, not '{}'",
            py_type(other)
        ))),
        None => Err(InputError::ShmCast(
            "int() argument must be a string, a bytes-like object or a real number, not 'NoneType'"
                .into(),
        )),
    }
}

/// Decodes raw little-endian elements.
pub fn decode_le(bytes: &[u8], dtype: DType) -> Data {
    fn arr<const N: usize>(c: &[u8]) -> [u8; N] {
        let mut a = [0u8; N];
        a.copy_from_slice(&c[..N]);
        a
    }
    let n = dtype.size() as usize;
    let chunks = bytes.chunks_exact(n);
    match dtype {
        DType::F32 => Data::Float(
            chunks
                .map(|c| f64::from(f32::from_le_bytes(arr(c))))
                .collect(),
        ),
        DType::F64 => Data::Float(chunks.map(|c| f64::from_le_bytes(arr(c))).collect()),
        DType::F16 => Data::Float(
            chunks
                .map(|c| f64::from(f16_to_f32(u16::from_le_bytes(arr(c)))))
                .collect(),
        ),
        DType::I8 => Data::Int(chunks.map(|c| i64::from(c[0] as i8)).collect()),
        DType::U8 => Data::Int(chunks.map(|c| i64::from(c[0])).collect()),
        DType::I16 => Data::Int(
            chunks
                .map(|c| i64::from(i16::from_le_bytes(arr(c))))
                .collect(),
        ),
        DType::U16 => Data::Int(
            chunks
                .map(|c| i64::from(u16::from_le_bytes(arr(c))))
                .collect(),
        ),
        DType::I32 => Data::Int(
            chunks
                .map(|c| i64::from(i32::from_le_bytes(arr(c))))
                .collect(),
        ),
        DType::U32 => Data::Int(
            chunks
                .map(|c| i64::from(u32::from_le_bytes(arr(c))))
                .collect(),
        ),
        DType::I64 => Data::Int(chunks.map(|c| i64::from_le_bytes(arr(c))).collect()),
        DType::U64 => Data::Int(chunks.map(|c| u64::from_le_bytes(arr(c)) as i64).collect()),
        DType::Bool => Data::Bool(chunks.map(|c| c[0] != 0).collect()),
        DType::Bytes => Data::Bytes(Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fp32_outputs_print_the_float64_expansion() {
        let t = tensor_from_json(&json!({"name":"INPUT0","dims":[1],"type":"FP32","value":[0.1]}))
            .unwrap();
        assert_eq!(
            serde_json::to_string(&t.to_json()).unwrap(),
            "[0.10000000149011612]"
        );
    }

    #[test]
    fn scalar_values_are_wrapped_and_int_dims_mean_a_list() {
        let t = tensor_from_json(&json!({"name":"INPUT0","dims":1,"type":"TYPE_FP32","value":9.5}))
            .unwrap();
        assert_eq!(t.shape, vec![1]);
        assert_eq!(t.to_json(), json!([9.5]));
    }

    #[test]
    fn declared_shape_must_match_exactly() {
        let e = tensor_from_json(
            &json!({"name":"INPUT0","dims":[2,2],"type":"FP32","value":[1,2,3,4]}),
        )
        .unwrap_err();
        assert_eq!(
            e,
            InputError::ShapeMismatch(
                "Input shape mismatch for 'INPUT0': dims=[2, 2] vs value.shape=[4]".into()
            )
        );
    }

    #[test]
    fn conversion_errors_use_python_texts() {
        let e = tensor_from_json(&json!({"name":"I","dims":[1],"type":"FP32","value":["abc"]}))
            .unwrap_err();
        assert_eq!(
            e,
            InputError::Plain("could not convert string to float: 'abc'".into())
        );
        let e = tensor_from_json(&json!({"name":"I","dims":[1],"type":"FP32"})).unwrap_err();
        assert_eq!(e, InputError::Plain("'value'".into()));
    }

    #[test]
    fn nested_outputs_keep_their_shape() {
        let t = tensor_from_json(
            &json!({"name":"I","dims":[2,2],"type":"INT32","value":[[1,2],[3,4]]}),
        )
        .unwrap();
        assert_eq!(t.to_json(), json!([[1, 2], [3, 4]]));
    }

    #[test]
    fn sdk_entries_are_renamed() {
        let n = normalize_entry(&json!({"name":"I","shape":[1],"datatype":"FP32","data":[1]}));
        assert_eq!(n, json!({"name":"I","dims":[1],"type":"FP32","value":[1]}));
    }

    /// A directory standing in for `/dev/shm`, with `region` helpers.
    struct ShmDir(std::path::PathBuf);

    impl ShmDir {
        fn new(name: &str) -> Self {
            let dir = std::env::temp_dir().join(format!("tcm-{name}-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }

        /// Creates (or replaces, as unlink + create would) the object `key` holding `values`.
        fn recreate(&self, key: &str, values: &[f32]) {
            let path = self.0.join(key);
            let _ = std::fs::remove_file(&path);
            std::fs::write(
                path,
                values
                    .iter()
                    .flat_map(|f| f.to_le_bytes())
                    .collect::<Vec<_>>(),
            )
            .unwrap();
        }

        /// Writes `values` into the existing object `key`, as a client writes its mapping.
        fn overwrite(&self, key: &str, values: &[f32]) {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .open(self.0.join(key))
                .unwrap();
            f.write_all(
                &values
                    .iter()
                    .flat_map(|f| f.to_le_bytes())
                    .collect::<Vec<_>>(),
            )
            .unwrap();
        }
    }

    impl Drop for ShmDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn fp32_entry(key: &str, n: usize) -> Value {
        json!({"name":"INPUT0","shm_key":format!("/{key}"),"offset":0,"byte_size":n*4,"shape":[n],"dtype":"FP32"})
    }

    #[test]
    fn a_cached_mapping_sees_every_write_to_its_object() {
        let dir = ShmDir::new("shm-writes");
        let cache = ClientMappings::default();
        dir.recreate("r", &[1.0, 2.0]);
        let read = || tensor_from_shm(&fp32_entry("r", 2), &dir.0, Some(&cache)).unwrap();
        assert_eq!(read().to_json(), json!([1.0, 2.0]));
        dir.overwrite("r", &[3.0, 4.0]);
        assert_eq!(
            read().to_json(),
            json!([3.0, 4.0]),
            "same object, new bytes"
        );
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn a_region_recreated_under_a_cached_key_and_size_is_read_stale() {
        let dir = ShmDir::new("shm-stale");
        let cache = ClientMappings::default();
        dir.recreate("r", &[1.0, 2.0]);
        let entry = fp32_entry("r", 2);
        assert_eq!(
            tensor_from_shm(&entry, &dir.0, Some(&cache))
                .unwrap()
                .to_json(),
            json!([1.0, 2.0])
        );
        // Unlink and re-create under the same key: the server keeps its old mapping.
        dir.recreate("r", &[5.0, 6.0]);
        assert_eq!(
            tensor_from_shm(&entry, &dir.0, Some(&cache))
                .unwrap()
                .to_json(),
            json!([1.0, 2.0]),
            "the cached (key, byte_size) still maps the unlinked object"
        );
        // Another byte_size is another mapping, of the new object.
        assert_eq!(
            tensor_from_shm(&fp32_entry("r", 1), &dir.0, Some(&cache))
                .unwrap()
                .to_json(),
            json!([5.0])
        );
        // A transient client maps afresh for its one request.
        assert_eq!(
            tensor_from_shm(&entry, &dir.0, None).unwrap().to_json(),
            json!([5.0, 6.0])
        );
    }

    #[test]
    fn the_least_recently_used_mapping_goes_past_256() {
        let dir = ShmDir::new("shm-lru");
        let cache = ClientMappings::default();
        dir.recreate("r", &[1.0]);
        dir.recreate("other", &[0.0]);
        let read = |key: &str| tensor_from_shm(&fp32_entry(key, 1), &dir.0, Some(&cache)).unwrap();
        read("r");
        // 256 pairs more, each read once: `r` is the least recently used.
        for i in 0..SHM_MAPPINGS_PER_CLIENT {
            let key = format!("k{i}");
            dir.recreate(&key, &[i as f32]);
            read(&key);
        }
        assert_eq!(cache.len(), SHM_MAPPINGS_PER_CLIENT);
        dir.recreate("r", &[2.0]);
        assert_eq!(
            read("r").to_json(),
            json!([2.0]),
            "evicted, so mapped again"
        );
    }

    #[test]
    fn registered_servers_have_one_cache_each() {
        let all = ShmMappings::default();
        let a = all.client("10.0.0.1", "c");
        assert!(Arc::ptr_eq(&a, &all.client("10.0.0.1", "c")));
        assert!(!Arc::ptr_eq(&a, &all.client("10.0.0.2", "c")));
    }

    #[test]
    fn shm_regions_are_read_little_endian() {
        let dir = std::env::temp_dir().join(format!("tcm-shm-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bytes: Vec<u8> = [1.5f32, -2.0]
            .iter()
            .flat_map(|f| f.to_le_bytes())
            .collect();
        std::fs::write(dir.join("region"), &bytes).unwrap();
        let entry = json!({"name":"INPUT0","shm_key":"/region","offset":0,"byte_size":8,"shape":[2],"dtype":"FP32"});
        assert!(is_shm_input(&entry));
        let t = tensor_from_shm(&entry, &dir, None).unwrap();
        assert_eq!(t.to_json(), json!([1.5, -2.0]));
        let missing = json!({"name":"INPUT0","shm_key":"/nope","offset":0,"byte_size":8,"shape":[2],"dtype":"FP32"});
        assert!(matches!(
            tensor_from_shm(&missing, &dir, None),
            Err(InputError::Shm("TRITON_SHM_UNAVAILABLE", _))
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
