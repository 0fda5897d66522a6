//! The weights hash: a model's (or a dataset's) identity, independent of file layout and metadata.
//!
//! SHA-256, under a domain tag, over the tensors in byte order of their names;
//! for each tensor its name, dtype name, shape and raw little-endian bytes,
//! each length-prefixed. `__metadata__` is not part of it, so re-saving a file
//! or editing its licence tags does not change what the model is.

use sha2::{Digest, Sha256};

use crate::encoding::DOMAIN_WEIGHTS;
use crate::ids::Hash32;

/// One tensor as read from a file: borrowed, already validated by the reader.
#[derive(Clone, Copy, Debug)]
pub struct TensorRef<'a> {
    /// The tensor's name.
    pub name: &'a str,
    /// The safetensors dtype name (`F32`, `I64`, `U8`, ...).
    pub dtype: &'a str,
    /// The shape.
    pub shape: &'a [u64],
    /// The raw bytes.
    pub data: &'a [u8],
}

/// Why a set of tensors has no weights hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WeightsHashError {
    /// Two tensors share a name.
    #[error("tensor name {0:?} appears twice")]
    DuplicateName(String),
}

/// The weights hash of `tensors` (any order; they are sorted here).
pub fn weights_hash<'a>(
    tensors: impl IntoIterator<Item = TensorRef<'a>>,
) -> Result<Hash32, WeightsHashError> {
    let mut tensors: Vec<TensorRef<'a>> = tensors.into_iter().collect();
    tensors.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    if let Some(pair) = tensors.windows(2).find(|p| p[0].name == p[1].name) {
        return Err(WeightsHashError::DuplicateName(pair[0].name.to_owned()));
    }
    let mut h = Sha256::new();
    h.update((DOMAIN_WEIGHTS.len() as u32).to_le_bytes());
    h.update(DOMAIN_WEIGHTS);
    h.update((tensors.len() as u64).to_le_bytes());
    for t in &tensors {
        h.update((t.name.len() as u64).to_le_bytes());
        h.update(t.name.as_bytes());
        h.update((t.dtype.len() as u64).to_le_bytes());
        h.update(t.dtype.as_bytes());
        h.update((t.shape.len() as u64).to_le_bytes());
        for d in t.shape {
            h.update(d.to_le_bytes());
        }
        h.update((t.data.len() as u64).to_le_bytes());
        h.update(t.data);
    }
    Ok(Hash32(h.finalize().into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t<'a>(name: &'a str, shape: &'a [u64], data: &'a [u8]) -> TensorRef<'a> {
        TensorRef {
            name,
            dtype: "F32",
            shape,
            data,
        }
    }

    #[test]
    fn order_of_tensors_does_not_matter() {
        let (a, b) = ([1u8, 2, 3, 4], [5u8, 6, 7, 8]);
        let x = weights_hash([t("a", &[1], &a), t("b", &[1], &b)]).unwrap();
        let y = weights_hash([t("b", &[1], &b), t("a", &[1], &a)]).unwrap();
        assert_eq!(x, y);
    }

    #[test]
    fn name_shape_dtype_and_bytes_all_matter() {
        let d = [0u8; 8];
        let base = weights_hash([t("w", &[2], &d)]).unwrap();
        assert_ne!(base, weights_hash([t("v", &[2], &d)]).unwrap());
        assert_ne!(base, weights_hash([t("w", &[1, 2], &d)]).unwrap());
        assert_ne!(
            base,
            weights_hash([TensorRef {
                dtype: "I32",
                ..t("w", &[2], &d)
            }])
            .unwrap()
        );
        assert_ne!(
            base,
            weights_hash([t("w", &[2], &[0, 0, 0, 0, 0, 0, 0, 1])]).unwrap()
        );
        // Pinned: a change of the hash's definition must fail loudly.
        expect_test::expect!["57ae480b8c8f42e18db501ec0aefc69d41563f323d90120f3c53cb8fef9905e5"]
            .assert_eq(&base.to_hex());
    }

    #[test]
    fn duplicate_names_are_refused() {
        let d = [0u8; 4];
        assert!(weights_hash([t("w", &[1], &d), t("w", &[1], &d)]).is_err());
    }
}
