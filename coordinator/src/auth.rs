//! Checking signed requests: the account headers, a time window, no replays.
//!
//! "No replays" is [`SeenRequests`]: in memory for one front-end
//! ([`ReplayGuard`]), or in PostgreSQL for several
//! ([`crate::shared::seen::SharedSeen`]), so a request one front-end accepted
//! is refused by every other.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use axum::http::HeaderMap;
use bounties::auth::{HEADER_ACCOUNT, HEADER_SIGNATURE, HEADER_TIMESTAMP, verify_request};
use bounties::{AccountId, Signature, State};

use crate::artifacts::BoxFuture;
use crate::error::ApiError;
use crate::store::StoreError;

/// How far a request's timestamp may be from the server's clock.
pub const WINDOW_MS: u64 = 5 * 60 * 1000;

/// The most signatures remembered at once: the guard's memory is bounded
/// (about 100 bytes each) however many requests arrive.
pub const SEEN_MAX: usize = 100_000;

/// Why a signed request was not taken as new.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// Its signature was used before.
    #[error("this signed request was already used")]
    Replayed,
    /// It is older than the guard's floor.
    #[error(
        "the request was signed before the server's replay floor (a restart, or a burst of \
         requests): sign it again"
    )]
    BelowFloor,
    /// The shared guard's database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<Refused> for ApiError {
    fn from(e: Refused) -> Self {
        match e {
            Refused::Store(s) => ApiError::from(s),
            other => ApiError::Auth(other.to_string()),
        }
    }
}

/// Where a front-end remembers the signed requests it accepted.
pub trait SeenRequests: Send + Sync + 'static {
    /// Take `sig`, made at `ts` (ms; within [`WINDOW_MS`] of `now`), as used:
    /// `Ok` the first time only.
    fn first_use(&self, sig: Signature, ts: u64, now: u64) -> BoxFuture<'_, Result<(), Refused>>;
}

impl SeenRequests for ReplayGuard {
    fn first_use(&self, sig: Signature, ts: u64, now: u64) -> BoxFuture<'_, Result<(), Refused>> {
        Box::pin(std::future::ready(self.remember(&sig, ts, now)))
    }
}

/// Signatures seen, the same ordered by request time, and the floor.
#[derive(Debug)]
struct Seen {
    set: BTreeSet<[u8; 64]>,
    by_time: BTreeMap<(u64, [u8; 64]), ()>,
    /// Requests timestamped before this are refused. It starts at the
    /// server's start time (so a request signed before a restart cannot be
    /// replayed after it, though the memory of it is gone) and rises when the
    /// oldest remembered signature is forgotten to stay within [`SEEN_MAX`].
    floor_ms: u64,
}

/// Signed requests are accepted once: a signature is remembered while its
/// timestamp is within the window, and anything older than the floor is
/// refused outright.
#[derive(Debug)]
pub struct ReplayGuard {
    seen: Mutex<Seen>,
    max: usize,
}

impl ReplayGuard {
    /// A guard for a server that started at `start_ms`, remembering at most `max` signatures.
    pub fn new(start_ms: u64, max: usize) -> ReplayGuard {
        ReplayGuard {
            seen: Mutex::new(Seen {
                set: BTreeSet::new(),
                by_time: BTreeMap::new(),
                floor_ms: start_ms,
            }),
            max: max.max(1),
        }
    }

    /// Remember `sig` (made at `ts`); an error if it was seen before or is below the floor.
    fn remember(&self, sig: &Signature, ts: u64, now: u64) -> Result<(), Refused> {
        let mut guard = self.seen.lock().expect("lock");
        let seen = &mut *guard;
        if ts < seen.floor_ms {
            return Err(Refused::BelowFloor);
        }
        // Forget what has left the window: it would be refused by time anyway.
        let horizon = now.saturating_sub(WINDOW_MS);
        while let Some((&(t, s), _)) = seen.by_time.first_key_value() {
            if t >= horizon && seen.set.len() < self.max {
                break;
            }
            seen.by_time.pop_first();
            seen.set.remove(&s);
            if t >= horizon {
                // Forgotten early to stay bounded: refuse anything as old.
                seen.floor_ms = seen.floor_ms.max(t + 1);
            }
        }
        if ts < seen.floor_ms {
            return Err(Refused::BelowFloor);
        }
        if !seen.set.insert(sig.0) {
            return Err(Refused::Replayed);
        }
        seen.by_time.insert((ts, sig.0), ());
        Ok(())
    }

    /// How many signatures are remembered now.
    pub fn len(&self) -> usize {
        self.seen.lock().expect("lock").set.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The account that signed this request, if it carries the headers; an
/// error if the headers are there but wrong, stale or replayed.
///
/// Only accounts the ledger knows (a balance, a bond or a message in the
/// log) may sign requests, so fresh keys cannot fill the replay guard.
pub async fn signer(
    headers: &HeaderMap,
    state: &State,
    method: &str,
    path: &str,
    now_ms: u64,
    guard: &dyn SeenRequests,
) -> Result<Option<AccountId>, ApiError> {
    let chain_id = state.chain_id();
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
    let known = !state.balance(&account).is_zero()
        || state.nonce(&account) > 0
        || state.evaluator(&account).is_some();
    if !known {
        return Err(ApiError::Forbidden(format!(
            "{account} has no balance, bond or message on this ledger: fund it first"
        )));
    }
    guard.first_use(sig, ts, now_ms).await?;
    Ok(Some(account))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(i: u8) -> Signature {
        Signature([i; 64])
    }

    #[test]
    fn the_guard_stays_bounded_and_refuses_what_it_forgot() {
        let now = 1_000_000;
        let guard = ReplayGuard::new(now - 10_000, 3);
        // Before the start floor: refused (a request signed before a restart).
        assert!(guard.remember(&sig(9), now - 10_001, now).is_err());
        for (i, ts) in [(1, now - 4), (2, now - 3), (3, now - 2)] {
            guard.remember(&sig(i), ts, now).unwrap();
        }
        assert!(guard.remember(&sig(2), now - 3, now).is_err(), "a replay");
        // A fourth forgets the oldest and raises the floor past it.
        guard.remember(&sig(4), now - 1, now).unwrap();
        assert_eq!(guard.len(), 3);
        assert!(
            guard.remember(&sig(1), now - 4, now).is_err(),
            "forgotten, but below the floor"
        );
        assert!(guard.remember(&sig(5), now - 4, now).is_err());
        guard.remember(&sig(6), now, now).unwrap();
        assert_eq!(guard.len(), 3);
    }
}
