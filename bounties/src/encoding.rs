//! Canonical bytes: the one encoding that is hashed and signed, and the domain tags.
//!
//! The encoding is borsh: fixed-width little-endian integers, `u32` length
//! prefixes, enum tags as one byte, no floats, no `usize`, no unordered maps.
//! Decoding is strict: every byte must be consumed and re-encoding must give
//! back the same bytes, so one value has exactly one encoding.

use borsh::{BorshDeserialize, BorshSerialize};
use sha2::{Digest, Sha256};

use crate::ids::Hash32;

/// Tag for message signatures.
pub const DOMAIN_MESSAGE: &[u8] = b"model-bounties/message/v1";
/// Tag for the genesis signature.
pub const DOMAIN_GENESIS: &[u8] = b"model-bounties/genesis/v1";
/// Tag for entry hashes.
pub const DOMAIN_ENTRY: &[u8] = b"model-bounties/entry/v1";
/// Tag for state roots.
pub const DOMAIN_STATE: &[u8] = b"model-bounties/state/v1";
/// Tag for weights hashes.
pub const DOMAIN_WEIGHTS: &[u8] = b"model-bounties/weights/v1";
/// Tag for per-example score digests.
pub const DOMAIN_EXAMPLES: &[u8] = b"model-bounties/example-scores/v1";
/// Tag for bootstrap seeds.
pub const DOMAIN_BOOTSTRAP: &[u8] = b"model-bounties/bootstrap/v1";
/// Tag for a bounty's draw seed, from its `EndSubmissions` signature.
pub const DOMAIN_DRAW_SEED: &[u8] = b"model-bounties/draw-seed/v1";
/// Tag for the seeds of evaluator panels.
pub const DOMAIN_PANEL: &[u8] = b"model-bounties/panel/v1";
/// Tag for the seeds of dispute panels.
pub const DOMAIN_DISPUTE: &[u8] = b"model-bounties/dispute/v1";

/// Why bytes did not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// borsh could not read the bytes.
    #[error("malformed encoding: {0}")]
    Malformed(String),
    /// The bytes decoded, but they are not the canonical spelling of the value.
    #[error("non-canonical encoding")]
    NonCanonical,
}

/// The canonical bytes of `value`.
pub fn encode<T: BorshSerialize>(value: &T) -> Vec<u8> {
    borsh::to_vec(value).expect("writing borsh to a Vec cannot fail")
}

/// Decode `bytes` strictly: all bytes consumed and canonical.
pub fn decode<T: BorshSerialize + BorshDeserialize>(bytes: &[u8]) -> Result<T, DecodeError> {
    let value: T = borsh::from_slice(bytes).map_err(|e| DecodeError::Malformed(e.to_string()))?;
    if encode(&value) != bytes {
        return Err(DecodeError::NonCanonical);
    }
    Ok(value)
}

/// What a signer signs: a domain tag, the chain id and the exact message bytes.
pub fn signing_payload(domain: &[u8], chain_id: &str, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(domain.len() + chain_id.len() + bytes.len() + 8);
    out.extend_from_slice(&(domain.len() as u32).to_le_bytes());
    out.extend_from_slice(domain);
    out.extend_from_slice(&(chain_id.len() as u32).to_le_bytes());
    out.extend_from_slice(chain_id.as_bytes());
    out.extend_from_slice(bytes);
    out
}

/// SHA-256 of a domain tag followed by `parts`.
pub fn tagged_hash(domain: &[u8], parts: &[&[u8]]) -> Hash32 {
    let mut h = Sha256::new();
    h.update((domain.len() as u32).to_le_bytes());
    h.update(domain);
    for part in parts {
        h.update(part);
    }
    Hash32(h.finalize().into())
}

/// SHA-256 of raw bytes (file hashes).
pub fn sha256(bytes: &[u8]) -> Hash32 {
    Hash32(Sha256::digest(bytes).into())
}

/// The digest of a receipt's per-example scores.
pub fn example_scores_digest(scores: &[i64]) -> Hash32 {
    let mut h = Sha256::new();
    h.update((DOMAIN_EXAMPLES.len() as u32).to_le_bytes());
    h.update(DOMAIN_EXAMPLES);
    h.update((scores.len() as u64).to_le_bytes());
    for s in scores {
        h.update(s.to_le_bytes());
    }
    Hash32(h.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_rejects_trailing_and_non_canonical_bytes() {
        let bytes = encode(&(1u32, true));
        assert_eq!(decode::<(u32, bool)>(&bytes), Ok((1, true)));
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(decode::<(u32, bool)>(&trailing).is_err());
        let mut bad_bool = bytes;
        *bad_bool.last_mut().unwrap() = 2;
        assert!(decode::<(u32, bool)>(&bad_bool).is_err());
    }

    #[test]
    fn payload_separates_domain_and_chain() {
        // Without length prefixes ("ab","c") and ("a","bc") would collide.
        assert_ne!(
            signing_payload(b"ab", "c", b""),
            signing_payload(b"a", "bc", b"")
        );
    }
}
