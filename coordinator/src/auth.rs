//! Checking signed requests: the account headers, a time window, no replays.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use axum::http::HeaderMap;
use bounties::auth::{HEADER_ACCOUNT, HEADER_SIGNATURE, HEADER_TIMESTAMP, verify_request};
use bounties::{AccountId, Signature};

use crate::error::ApiError;

/// How far a request's timestamp may be from the server's clock.
pub const WINDOW_MS: u64 = 5 * 60 * 1000;

/// Signatures seen, and the same ordered by request time for forgetting.
type Seen = (BTreeSet<[u8; 64]>, BTreeMap<(u64, [u8; 64]), ()>);

/// Signatures seen within the window: a request is accepted once.
#[derive(Debug, Default)]
pub struct ReplayGuard {
    seen: Mutex<Seen>,
}

impl ReplayGuard {
    /// Remember `sig` (made at `ts`); false if it was seen before.
    fn first_use(&self, sig: &Signature, ts: u64, now: u64) -> bool {
        let mut guard = self.seen.lock().expect("lock");
        let (set, by_time) = &mut *guard;
        // Forget what has left the window: it would be refused by time anyway.
        let horizon = now.saturating_sub(WINDOW_MS);
        while let Some((&(t, s), _)) = by_time.first_key_value() {
            if t >= horizon {
                break;
            }
            by_time.pop_first();
            set.remove(&s);
        }
        if !set.insert(sig.0) {
            return false;
        }
        by_time.insert((ts, sig.0), ());
        true
    }
}

/// The account that signed this request, if it carries the headers; an
/// error if the headers are there but wrong, stale or replayed.
pub fn signer(
    headers: &HeaderMap,
    chain_id: &str,
    method: &str,
    path: &str,
    now_ms: u64,
    guard: &ReplayGuard,
) -> Result<Option<AccountId>, ApiError> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(account), Some(ts), Some(sig)) = (
        get(HEADER_ACCOUNT),
        get(HEADER_TIMESTAMP),
        get(HEADER_SIGNATURE),
    ) else {
        if headers.contains_key(HEADER_ACCOUNT) || headers.contains_key(HEADER_SIGNATURE) {
            return Err(ApiError::Auth(
                "incomplete request signature headers".into(),
            ));
        }
        return Ok(None);
    };
    let account: AccountId = account
        .parse()
        .map_err(|_| ApiError::Auth(format!("{HEADER_ACCOUNT} is not 64 hex characters")))?;
    let ts: u64 = ts
        .parse()
        .map_err(|_| ApiError::Auth(format!("{HEADER_TIMESTAMP} is not milliseconds")))?;
    let sig: Signature = sig
        .parse()
        .map_err(|_| ApiError::Auth(format!("{HEADER_SIGNATURE} is not 128 hex characters")))?;
    if ts.abs_diff(now_ms) > WINDOW_MS {
        return Err(ApiError::Auth(format!(
            "request timestamp is more than {} s from the server's clock",
            WINDOW_MS / 1000
        )));
    }
    verify_request(&account, chain_id, method, path, ts, &sig)
        .map_err(|e| ApiError::Auth(format!("request signature: {e}")))?;
    if !guard.first_use(&sig, ts, now_ms) {
        return Err(ApiError::Auth(
            "this signed request was already used".into(),
        ));
    }
    Ok(Some(account))
}
