//! Path parameters: parsed from request text, or refused with a clear error.
//! Only a parsed [`Hash32`] ever names an artifact.

use bounties::Hash32;

use crate::error::ApiError;

/// A hash from a path segment; only 64 lowercase hex characters pass.
pub(crate) fn parse_hash(s: &str) -> Result<Hash32, ApiError> {
    s.parse()
        .map_err(|_| ApiError::BadHash(s.chars().take(80).collect()))
}

pub(crate) fn parse_id(s: &str) -> Result<u64, ApiError> {
    s.parse()
        .map_err(|_| ApiError::BadRequest(format!("{s:?} is not a number")))
}
