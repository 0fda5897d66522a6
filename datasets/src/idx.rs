//! IDX files (the MNIST / Fashion-MNIST format), plain or gzip.
//!
//! Header: two zero bytes, a type byte (0x08 = unsigned byte, the only type
//! these datasets use), the number of dimensions, then each dimension as a
//! big-endian u32. The data must be exactly the product of the dimensions.

use std::collections::BTreeMap;

use crate::error::DatasetError;
use crate::format::{Dataset, Tensor, key};
use crate::gz::maybe_gunzip;

/// A parsed IDX array of bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxArray {
    /// Dimensions.
    pub dims: Vec<u64>,
    /// The values.
    pub data: Vec<u8>,
}

/// Parse IDX bytes (plain or gzip); `origin` names the file in errors.
pub fn parse_idx(bytes: &[u8], origin: &str) -> Result<IdxArray, DatasetError> {
    let bytes = maybe_gunzip(bytes, origin)?;
    let err = |offset: usize, detail: String| DatasetError::Idx {
        origin: origin.to_owned(),
        offset: offset as u64,
        detail,
    };
    if bytes.len() < 4 {
        return Err(err(
            0,
            format!(
                "file is {} bytes, shorter than the 4-byte magic",
                bytes.len()
            ),
        ));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(err(
            0,
            "magic must start with two zero bytes (is this an IDX file?)".into(),
        ));
    }
    if bytes[2] != 0x08 {
        return Err(err(
            2,
            format!(
                "element type 0x{:02x} is not supported (only 0x08, unsigned byte)",
                bytes[2]
            ),
        ));
    }
    let rank = usize::from(bytes[3]);
    if rank == 0 || rank > 4 {
        return Err(err(3, format!("{rank} dimensions; expected 1 to 4")));
    }
    let header = 4 + 4 * rank;
    if bytes.len() < header {
        return Err(err(
            bytes.len(),
            format!("header needs {header} bytes for {rank} dimensions"),
        ));
    }
    let dims: Vec<u64> = bytes[4..header]
        .chunks_exact(4)
        .map(|c| u64::from(u32::from_be_bytes(c.try_into().expect("4"))))
        .collect();
    let expected = dims
        .iter()
        .try_fold(1u64, |a, &d| a.checked_mul(d))
        .unwrap_or(u64::MAX);
    let got = (bytes.len() - header) as u64;
    if expected != got {
        return Err(err(
            header,
            format!(
                "header says {dims:?} = {expected} bytes of data, but the file has {got} after the {header}-byte header"
            ),
        ));
    }
    // Reuse the decompressed buffer rather than copying it: one copy of the data at peak.
    let data = match bytes {
        std::borrow::Cow::Owned(mut v) => {
            v.drain(..header);
            v
        }
        std::borrow::Cow::Borrowed(b) => b[header..].to_vec(),
    };
    Ok(IdxArray { dims, data })
}

/// An image classification dataset from an IDX images file (`[n, h, w]`)
/// and an IDX labels file (`[n]`). Inputs are flattened to `[n, h·w]` U8.
pub fn load_idx(
    images: (&[u8], &str),
    labels: (&[u8], &str),
    name: &str,
    licence: &str,
    source: &str,
) -> Result<Dataset, DatasetError> {
    let img = parse_idx(images.0, images.1)?;
    let lab = parse_idx(labels.0, labels.1)?;
    if img.dims.len() < 2 {
        return Err(DatasetError::invalid(
            images.1,
            format!("images must have at least 2 dimensions, got {:?}", img.dims),
        ));
    }
    if lab.dims.len() != 1 {
        return Err(DatasetError::invalid(
            labels.1,
            format!("labels must have 1 dimension, got {:?}", lab.dims),
        ));
    }
    if img.dims[0] != lab.dims[0] {
        return Err(DatasetError::invalid(
            labels.1,
            format!(
                "{} labels for {} images in {}",
                lab.dims[0], img.dims[0], images.1
            ),
        ));
    }
    let n = img.dims[0];
    let features: u64 = img.dims[1..].iter().product();
    let classes = u64::from(lab.data.iter().copied().max().unwrap_or(0)) + 1;
    let max = img.data.iter().copied().max().unwrap_or(0).max(1);
    let meta = BTreeMap::from([
        (key::NAME.to_owned(), name.to_owned()),
        (key::TASK.to_owned(), "classification".to_owned()),
        (key::LICENSE.to_owned(), licence.to_owned()),
        (key::SOURCE.to_owned(), source.to_owned()),
        (key::CLASSES.to_owned(), classes.to_string()),
        (key::INPUT_MAX.to_owned(), max.to_string()),
    ]);
    let targets: Vec<i64> = lab.data.iter().map(|&l| i64::from(l)).collect();
    let dataset = Dataset {
        meta,
        inputs: Tensor::u8(vec![n, features], img.data),
        targets: Tensor::i64(vec![n], &targets),
    };
    dataset
        .check()
        .map_err(|d| DatasetError::invalid(images.1, d))?;
    Ok(dataset)
}
