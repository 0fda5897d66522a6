//! Safetensors files: a checked reader for untrusted bytes and a deterministic writer.
//!
//! Every uploaded file is hostile until checked. The reader caps the header
//! size and the tensor count before parsing, refuses duplicate keys, unknown
//! dtypes, odd names, shapes whose byte size overflows or disagrees with the
//! offsets, and offsets that overlap, leave holes or run past the end. It
//! never allocates by a size read from the file. The writer emits the header
//! with keys in byte order (tensors and `__metadata__` alike) and the data in
//! name order, so the same tensors and metadata always give the same bytes;
//! Python's `safetensors` reads the result.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::ids::Hash32;
use crate::weights::{TensorRef, weights_hash};

/// The largest header accepted.
pub const HEADER_BYTES_MAX: u64 = 8 * 1024 * 1024;
/// The most tensors a file may hold.
pub const TENSORS_MAX: usize = 16_384;
/// The longest tensor name.
pub const NAME_BYTES_MAX: usize = 256;
/// The highest tensor rank.
pub const RANK_MAX: usize = 8;
/// The most metadata entries.
pub const METADATA_ENTRIES_MAX: usize = 256;
/// The longest metadata value.
pub const METADATA_VALUE_BYTES_MAX: usize = 64 * 1024;

/// Element types the project reads and writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Dtype {
    /// unsigned 8-bit
    U8,
    /// unsigned 16-bit
    U16,
    /// signed 32-bit
    I32,
    /// signed 64-bit
    I64,
    /// 32-bit float
    F32,
    /// 64-bit float
    F64,
}

impl Dtype {
    /// The safetensors name.
    pub fn as_str(self) -> &'static str {
        match self {
            Dtype::U8 => "U8",
            Dtype::U16 => "U16",
            Dtype::I32 => "I32",
            Dtype::I64 => "I64",
            Dtype::F32 => "F32",
            Dtype::F64 => "F64",
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Dtype::U8 => 1,
            Dtype::U16 => 2,
            Dtype::I32 | Dtype::F32 => 4,
            Dtype::I64 | Dtype::F64 => 8,
        }
    }

    fn parse(s: &str) -> Option<Dtype> {
        Some(match s {
            "U8" => Dtype::U8,
            "U16" => Dtype::U16,
            "I32" => Dtype::I32,
            "I64" => Dtype::I64,
            "F32" => Dtype::F32,
            "F64" => Dtype::F64,
            _ => return None,
        })
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TensorFileError {
    /// Fewer than 8 bytes.
    #[error("file is {0} bytes: too short for a safetensors header")]
    TooShort(usize),
    /// The header length is over the cap or past the end of the file.
    #[error("header of {len} bytes is larger than {max} or than the file")]
    HeaderSize {
        /// Declared length.
        len: u64,
        /// The cap (or the bytes available).
        max: u64,
    },
    /// The header is not the JSON we expect.
    #[error("header is not valid safetensors JSON: {0}")]
    HeaderJson(String),
    /// Too many tensors.
    #[error("file has more than {TENSORS_MAX} tensors")]
    TooManyTensors,
    /// A key appears twice.
    #[error("key {0:?} appears twice in the header")]
    DuplicateKey(String),
    /// A tensor name is empty, too long, or has control characters or path separators.
    #[error(
        "tensor name {0:?} is not allowed (1-{NAME_BYTES_MAX} bytes, no control characters, '/', '\\' or leading \"__\")"
    )]
    BadName(String),
    /// The dtype is not one we read.
    #[error("tensor {name:?} has unsupported dtype {dtype:?}")]
    UnknownDtype {
        /// The tensor.
        name: String,
        /// The dtype given.
        dtype: String,
    },
    /// The shape's rank or byte size is out of range.
    #[error("tensor {0:?} has a shape whose size overflows or whose rank exceeds {RANK_MAX}")]
    BadShape(String),
    /// The offsets do not match the shape.
    #[error("tensor {name:?} spans {got} bytes but its shape needs {expected}")]
    SizeMismatch {
        /// The tensor.
        name: String,
        /// Bytes the shape needs.
        expected: u64,
        /// Bytes the offsets give.
        got: u64,
    },
    /// Offsets overlap, leave a hole, or run past the end.
    #[error("tensor {0:?} has offsets that overlap, leave a gap, or run past the data")]
    BadOffsets(String),
    /// The data section is longer than the tensors.
    #[error("{0} bytes after the last tensor")]
    TrailingBytes(u64),
    /// Metadata that is not string to string, or too large.
    #[error(
        "__metadata__ must be at most {METADATA_ENTRIES_MAX} string entries of at most {METADATA_VALUE_BYTES_MAX} bytes"
    )]
    BadMetadata,
    /// Writing: two tensors with one name, or data not matching its shape.
    #[error("cannot write tensor {0:?}: duplicate name or data not matching its shape")]
    Write(String),
}

/// One tensor's place in a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    /// Its name.
    pub name: String,
    /// Its dtype.
    pub dtype: Dtype,
    /// Its shape.
    pub shape: Vec<u64>,
    /// Its bytes, relative to the start of the file.
    pub range: Range<usize>,
}

impl TensorInfo {
    /// The number of elements.
    pub fn elements(&self) -> u64 {
        self.shape.iter().product()
    }
}

/// A checked view of a safetensors file's header over its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorFile<'a> {
    bytes: &'a [u8],
    /// `__metadata__`, in key order.
    pub metadata: BTreeMap<String, String>,
    /// The tensors, in name order.
    pub tensors: Vec<TensorInfo>,
}

/// Raw header entry as in the JSON.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTensor {
    dtype: String,
    shape: Vec<u64>,
    data_offsets: (u64, u64),
}

/// One entry of the header: `__metadata__` or a tensor.
enum RawEntry {
    /// `__metadata__`'s string pairs in file order, or `None` if it is not an
    /// object of strings (reported as [`TensorFileError::BadMetadata`]).
    Metadata(Option<Vec<(String, String)>>),
    /// A tensor; serde's derive refuses a field given twice.
    Tensor(RawTensor),
}

/// The header's entries in file order, with duplicates detected.
struct RawHeader(Vec<(String, RawEntry)>);

/// A JSON object of strings read pair by pair, so a key given twice is seen
/// (a map type would keep the last value silently). `None` when a value is
/// not a string or a key repeats.
struct StrictStrings(Option<Vec<(String, String)>>);

impl<'de> Deserialize<'de> for StrictStrings {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StrictStrings;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of strings")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StrictStrings, A::Error> {
                let mut pairs: Vec<(String, String)> = Vec::new();
                let mut ok = true;
                while let Some(key) = map.next_key::<String>()? {
                    if pairs.len() > METADATA_ENTRIES_MAX {
                        return Err(de::Error::custom("too many metadata entries"));
                    }
                    match map.next_value::<serde_json::Value>()? {
                        serde_json::Value::String(v) if ok => {
                            ok = !pairs.iter().any(|(k, _)| *k == key);
                            pairs.push((key, v));
                        }
                        _ => ok = false,
                    }
                }
                Ok(StrictStrings(ok.then_some(pairs)))
            }
            fn visit_unit<E: de::Error>(self) -> Result<StrictStrings, E> {
                Ok(StrictStrings(None))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<StrictStrings, E> {
                Ok(StrictStrings(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<StrictStrings, E> {
                Ok(StrictStrings(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<StrictStrings, E> {
                Ok(StrictStrings(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<StrictStrings, E> {
                Ok(StrictStrings(None))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<StrictStrings, E> {
                Ok(StrictStrings(None))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<StrictStrings, A::Error> {
                while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(StrictStrings(None))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for RawHeader {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawHeader;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawHeader, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    if entries.len() > TENSORS_MAX {
                        return Err(de::Error::custom("too many tensors"));
                    }
                    let entry = if key == "__metadata__" {
                        RawEntry::Metadata(map.next_value::<StrictStrings>()?.0)
                    } else {
                        // Parsed straight from the text (not via a `Value`,
                        // which would drop a repeated field): the derive sees
                        // every field, and a bad entry is reported with its name.
                        let tensor = map
                            .next_value::<RawTensor>()
                            .map_err(|e| de::Error::custom(format!("tensor {key:?}: {e}")))?;
                        RawEntry::Tensor(tensor)
                    };
                    entries.push((key, entry));
                }
                Ok(RawHeader(entries))
            }
        }
        d.deserialize_map(V)
    }
}

fn name_is_valid(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= NAME_BYTES_MAX
        && !name.starts_with("__")
        && !name
            .chars()
            .any(|c| c.is_control() || c == '/' || c == '\\')
}

/// A checked safetensors header, read without the tensor data: what a server
/// streaming an upload can check before it accepts the bytes that follow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorHeader {
    /// `__metadata__`, in key order.
    pub metadata: BTreeMap<String, String>,
    /// The tensors, in name order, with ranges relative to the start of the file.
    pub tensors: Vec<TensorInfo>,
}

/// The header's length from a file's first 8 bytes, checked against the cap
/// and the file's length; the header ends at `8 + length`.
pub fn header_len(first8: [u8; 8], file_len: u64) -> Result<u64, TensorFileError> {
    let header_len = u64::from_le_bytes(first8);
    let available = file_len.saturating_sub(8);
    if header_len > HEADER_BYTES_MAX || header_len > available {
        return Err(TensorFileError::HeaderSize {
            len: header_len,
            max: HEADER_BYTES_MAX.min(available),
        });
    }
    Ok(header_len)
}

impl TensorHeader {
    /// Check the header at the start of `prefix` (at least the first
    /// `8 + header length` bytes) of a file of `file_len` bytes: names, dtypes,
    /// shapes, and offsets that tile the data exactly.
    pub fn parse(prefix: &[u8], file_len: u64) -> Result<TensorHeader, TensorFileError> {
        if file_len < 8 || prefix.len() < 8 {
            return Err(TensorFileError::TooShort(
                file_len.min(prefix.len() as u64) as usize
            ));
        }
        let header_len = header_len(prefix[..8].try_into().expect("8 bytes"), file_len)?;
        let data_start = 8 + header_len as usize;
        let header = prefix
            .get(8..data_start)
            .ok_or(TensorFileError::HeaderSize {
                len: header_len,
                max: (prefix.len() - 8) as u64,
            })?;
        let raw: RawHeader = serde_json::from_slice(header).map_err(|e| {
            if e.to_string().contains("too many tensors") {
                TensorFileError::TooManyTensors
            } else {
                TensorFileError::HeaderJson(e.to_string())
            }
        })?;
        let mut seen = BTreeSet::new();
        let mut metadata = BTreeMap::new();
        let mut tensors = Vec::new();
        let data_len = file_len - data_start as u64;
        for (key, entry) in raw.0 {
            if !seen.insert(key.clone()) {
                return Err(TensorFileError::DuplicateKey(key));
            }
            let raw = match entry {
                RawEntry::Metadata(pairs) => {
                    let pairs = pairs.ok_or(TensorFileError::BadMetadata)?;
                    let count = pairs.len();
                    metadata = pairs.into_iter().collect();
                    if metadata.len() != count
                        || metadata.len() > METADATA_ENTRIES_MAX
                        || metadata
                            .values()
                            .any(|v| v.len() > METADATA_VALUE_BYTES_MAX)
                    {
                        return Err(TensorFileError::BadMetadata);
                    }
                    continue;
                }
                RawEntry::Tensor(raw) => raw,
            };
            if !name_is_valid(&key) {
                return Err(TensorFileError::BadName(key.chars().take(80).collect()));
            }
            let dtype = Dtype::parse(&raw.dtype).ok_or_else(|| TensorFileError::UnknownDtype {
                name: key.clone(),
                dtype: raw.dtype.clone(),
            })?;
            if raw.shape.len() > RANK_MAX {
                return Err(TensorFileError::BadShape(key));
            }
            let expected = raw
                .shape
                .iter()
                .try_fold(dtype.size() as u64, |acc, &d| acc.checked_mul(d))
                .ok_or_else(|| TensorFileError::BadShape(key.clone()))?;
            let (begin, end) = raw.data_offsets;
            if end < begin || end > data_len {
                return Err(TensorFileError::BadOffsets(key));
            }
            if end - begin != expected {
                return Err(TensorFileError::SizeMismatch {
                    name: key,
                    expected,
                    got: end - begin,
                });
            }
            let range = data_start + begin as usize..data_start + end as usize;
            tensors.push(TensorInfo {
                name: key,
                dtype,
                shape: raw.shape,
                range,
            });
        }
        // The data must be exactly the tensors laid end to end: no overlap, no hole.
        let mut by_offset: Vec<&TensorInfo> = tensors.iter().collect();
        by_offset.sort_by_key(|t| (t.range.start, t.range.end));
        let mut cursor = data_start as u64;
        for t in by_offset {
            if t.range.start as u64 != cursor {
                return Err(TensorFileError::BadOffsets(t.name.clone()));
            }
            cursor = t.range.end as u64;
        }
        if cursor != file_len {
            return Err(TensorFileError::TrailingBytes(file_len - cursor));
        }
        tensors.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(TensorHeader { metadata, tensors })
    }
}

impl<'a> TensorFile<'a> {
    /// Check `bytes` as a safetensors file.
    pub fn parse(bytes: &'a [u8]) -> Result<TensorFile<'a>, TensorFileError> {
        let TensorHeader { metadata, tensors } = TensorHeader::parse(bytes, bytes.len() as u64)?;
        Ok(TensorFile {
            bytes,
            metadata,
            tensors,
        })
    }

    /// A tensor by name.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors
            .binary_search_by(|t| t.name.as_str().cmp(name))
            .ok()
            .map(|i| &self.tensors[i])
    }

    /// A tensor's raw little-endian bytes.
    pub fn data(&self, info: &TensorInfo) -> &'a [u8] {
        &self.bytes[info.range.clone()]
    }

    /// An F32 tensor's values (little-endian decoded); `None` for other dtypes.
    pub fn f32_values(&self, info: &TensorInfo) -> Option<Vec<f32>> {
        (info.dtype == Dtype::F32).then(|| {
            self.data(info)
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
                .collect()
        })
    }

    /// The weights hash: tensors in name order, metadata ignored.
    pub fn weights_hash(&self) -> Hash32 {
        weights_hash(self.tensors.iter().map(|t| TensorRef {
            name: &t.name,
            dtype: t.dtype.as_str(),
            shape: &t.shape,
            data: self.data(t),
        }))
        .expect("names are unique after parsing")
    }
}

/// A tensor to write.
#[derive(Clone, Debug)]
pub struct TensorData<'a> {
    /// Its name.
    pub name: &'a str,
    /// Its dtype.
    pub dtype: Dtype,
    /// Its shape.
    pub shape: Vec<u64>,
    /// Its raw little-endian bytes.
    pub data: &'a [u8],
}

/// Write a safetensors file: header keys in byte order, data in name order,
/// header padded with spaces to a multiple of 8 bytes.
pub fn write(
    metadata: &BTreeMap<String, String>,
    tensors: &[TensorData<'_>],
) -> Result<Vec<u8>, TensorFileError> {
    let mut sorted: Vec<&TensorData<'_>> = tensors.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(b.name));
    let mut header: BTreeMap<&str, serde_json::Value> = BTreeMap::new();
    let mut offset = 0u64;
    for t in &sorted {
        let bytes = t
            .shape
            .iter()
            .try_fold(t.dtype.size() as u64, |acc, &d| acc.checked_mul(d));
        if !name_is_valid(t.name)
            || bytes != Some(t.data.len() as u64)
            || header.contains_key(t.name)
        {
            return Err(TensorFileError::Write(t.name.to_owned()));
        }
        let end = offset + t.data.len() as u64;
        header.insert(
            t.name,
            serde_json::json!({ "dtype": t.dtype.as_str(), "shape": t.shape, "data_offsets": [offset, end] }),
        );
        offset = end;
    }
    if !metadata.is_empty() {
        header.insert(
            "__metadata__",
            serde_json::to_value(metadata).expect("strings serialise"),
        );
    }
    let mut json = serde_json::to_vec(&header).expect("JSON values serialise");
    while !json.len().is_multiple_of(8) {
        json.push(b' ');
    }
    let mut out = Vec::with_capacity(8 + json.len() + offset as usize);
    out.extend_from_slice(&(json.len() as u64).to_le_bytes());
    out.extend_from_slice(&json);
    for t in sorted {
        out.extend_from_slice(t.data);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let meta: BTreeMap<String, String> = [("Zeta", "1"), ("Alpha", "2"), ("name", "x")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let w = [0u8; 24];
        let b = [1u8; 8];
        write(
            &meta,
            &[
                TensorData {
                    name: "w",
                    dtype: Dtype::F32,
                    shape: vec![2, 3],
                    data: &w,
                },
                TensorData {
                    name: "b",
                    dtype: Dtype::I64,
                    shape: vec![1],
                    data: &b,
                },
            ],
        )
        .unwrap()
    }

    #[test]
    fn writes_sorted_and_reads_back() {
        let bytes = sample();
        let f = TensorFile::parse(&bytes).unwrap();
        assert_eq!(
            f.tensors
                .iter()
                .map(|t| t.name.as_str())
                .collect::<Vec<_>>(),
            ["b", "w"]
        );
        assert_eq!(f.data(f.tensor("b").unwrap()), &[1u8; 8]);
        assert_eq!(f.metadata["Alpha"], "2");
        let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        assert_eq!(header_len % 8, 0);
        let header = std::str::from_utf8(&bytes[8..8 + header_len]).unwrap();
        // Keys in byte order: "__metadata__" sorts between "Z.." and lowercase.
        assert!(header.find("\"__metadata__\"").unwrap() < header.find("\"b\"").unwrap());
        assert!(header.find("\"Alpha\"").unwrap() < header.find("\"Zeta\"").unwrap());
        assert_eq!(sample(), bytes, "same input, same bytes");
    }

    #[test]
    fn metadata_does_not_change_the_weights_hash() {
        let a = sample();
        let f = TensorFile::parse(&a).unwrap();
        let t: Vec<TensorData<'_>> = f
            .tensors
            .iter()
            .map(|t| TensorData {
                name: &t.name,
                dtype: t.dtype,
                shape: t.shape.clone(),
                data: f.data(t),
            })
            .collect();
        let b = write(&BTreeMap::new(), &t).unwrap();
        assert_ne!(a, b);
        assert_eq!(
            f.weights_hash(),
            TensorFile::parse(&b).unwrap().weights_hash()
        );
    }
}
