//! Reading bytes that may be gzip-compressed, with a cap against decompression bombs.

use std::borrow::Cow;
use std::io::Read;

use crate::error::DatasetError;

/// The most bytes any loader decompresses (Fashion-MNIST's training images are 47 MB).
pub const DECOMPRESSED_BYTES_MAX: u64 = 1 << 30;

/// Whether `bytes` start with the gzip magic.
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

/// `bytes` decompressed if they are gzip, as they are otherwise.
pub fn maybe_gunzip<'a>(bytes: &'a [u8], origin: &str) -> Result<Cow<'a, [u8]>, DatasetError> {
    if !is_gzip(bytes) {
        return Ok(Cow::Borrowed(bytes));
    }
    let mut out = Vec::with_capacity(bytes.len().saturating_mul(4).min(64 << 20));
    let mut decoder = flate2::read::MultiGzDecoder::new(bytes).take(DECOMPRESSED_BYTES_MAX + 1);
    decoder
        .read_to_end(&mut out)
        .map_err(|e| DatasetError::Gzip {
            origin: origin.to_owned(),
            offset: out.len() as u64,
            detail: e.to_string(),
        })?;
    if out.len() as u64 > DECOMPRESSED_BYTES_MAX {
        return Err(DatasetError::TooLarge {
            origin: origin.to_owned(),
            max_bytes: DECOMPRESSED_BYTES_MAX,
        });
    }
    Ok(Cow::Owned(out))
}
