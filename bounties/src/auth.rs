//! Signed HTTP requests: how an account proves who it is to read sealed artifacts
//! or lease evaluation jobs, without sending a ledger message.
//!
//! The signature covers a domain tag, the chain id, the method, the path and a
//! timestamp; the server accepts it only within a window around its clock and
//! only once, so a captured request cannot be replayed later or elsewhere.

use crate::encoding::signing_payload;
use crate::ids::AccountId;
use crate::keys::{SecretKey, Signature, SignatureError, verify_strict};

/// Tag for request signatures.
pub const DOMAIN_REQUEST: &[u8] = b"model-bounties/request/v1";

/// Header naming the signing account (64 hex).
pub const HEADER_ACCOUNT: &str = "x-bounty-account";
/// Header carrying the request time in milliseconds since the Unix epoch.
pub const HEADER_TIMESTAMP: &str = "x-bounty-timestamp";
/// Header carrying the signature (128 hex).
pub const HEADER_SIGNATURE: &str = "x-bounty-signature";

/// The bytes a request signature covers.
pub fn request_payload(method: &str, path: &str, timestamp_ms: u64) -> Vec<u8> {
    let mut body = Vec::with_capacity(method.len() + path.len() + 16);
    for part in [method.as_bytes(), path.as_bytes()] {
        body.extend_from_slice(&(part.len() as u32).to_le_bytes());
        body.extend_from_slice(part);
    }
    body.extend_from_slice(&timestamp_ms.to_le_bytes());
    body
}

/// Sign a request (`method` upper case, `path` without the query).
pub fn sign_request(
    key: &SecretKey,
    chain_id: &str,
    method: &str,
    path: &str,
    timestamp_ms: u64,
) -> Signature {
    key.sign(&signing_payload(
        DOMAIN_REQUEST,
        chain_id,
        &request_payload(method, path, timestamp_ms),
    ))
}

/// Verify a request signature (the caller checks the time window and replays).
pub fn verify_request(
    account: &AccountId,
    chain_id: &str,
    method: &str,
    path: &str,
    timestamp_ms: u64,
    signature: &Signature,
) -> Result<(), SignatureError> {
    verify_strict(
        account,
        &signing_payload(
            DOMAIN_REQUEST,
            chain_id,
            &request_payload(method, path, timestamp_ms),
        ),
        signature,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_signature_binds_chain_method_path_and_time() {
        let key = SecretKey::from_seed([3; 32]);
        let sig = sign_request(&key, "c", "GET", "/v1/artifacts/ab", 1000);
        let ok = |chain, method, path, ts| {
            verify_request(&key.account(), chain, method, path, ts, &sig).is_ok()
        };
        assert!(ok("c", "GET", "/v1/artifacts/ab", 1000));
        assert!(!ok("d", "GET", "/v1/artifacts/ab", 1000));
        assert!(!ok("c", "PUT", "/v1/artifacts/ab", 1000));
        assert!(!ok("c", "GET", "/v1/artifacts/ac", 1000));
        assert!(!ok("c", "GET", "/v1/artifacts/ab", 1001));
    }
}
