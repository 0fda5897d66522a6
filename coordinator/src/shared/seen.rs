//! The replay guard shared by every front-end: a signed request's signature
//! is a row, inserted once, so a request accepted by one front-end is refused
//! by all (and after any restart: the table outlives processes, so no
//! start-up floor is needed).
//!
//! Rows are kept while their request could still pass the time window, with
//! a margin for front-ends whose clocks differ: deleting by one front-end's
//! clock must never forget a request another front-end would still accept.

use std::sync::atomic::{AtomicU64, Ordering};

use bounties::Signature;
use tokio_postgres::error::SqlState;

use crate::artifacts::BoxFuture;
use crate::auth::{Refused, SeenRequests, WINDOW_MS};
use crate::store::postgres::{Database, db};

/// Rows are deleted this long after their request's timestamp: two windows.
pub const KEEP_MS: u64 = 2 * WINDOW_MS;

/// Expired rows are deleted once per this many accepted requests.
const PRUNE_EVERY: u64 = 1024;

/// Signed requests seen by any front-end on this database.
#[allow(missing_debug_implementations)]
pub struct SharedSeen {
    database: Database,
    accepted: AtomicU64,
}

impl SharedSeen {
    /// The guard in `database` (its table is part of the log's schema).
    pub fn new(database: Database) -> SharedSeen {
        SharedSeen {
            database,
            accepted: AtomicU64::new(0),
        }
    }
}

impl SeenRequests for SharedSeen {
    fn first_use(&self, sig: Signature, ts: u64, now: u64) -> BoxFuture<'_, Result<(), Refused>> {
        let prune = self
            .accepted
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(PRUNE_EVERY);
        Box::pin(async move {
            // The caller checked the window: ts is within minutes of now.
            let (Ok(signed_at), Ok(horizon)) = (
                i64::try_from(ts),
                i64::try_from(now.saturating_sub(KEEP_MS)),
            ) else {
                return Err(Refused::BelowFloor);
            };
            let inserted = self
                .database
                .run(move |pool| async move {
                    let client = pool.get().await.map_err(db)?;
                    if prune {
                        client
                            .execute(
                                "DELETE FROM seen_requests WHERE signed_at_ms < $1",
                                &[&horizon],
                            )
                            .await
                            .map_err(db)?;
                    }
                    match client
                        .execute(
                            "INSERT INTO seen_requests (signature, signed_at_ms) VALUES ($1, $2)",
                            &[&sig.0.as_slice(), &signed_at],
                        )
                        .await
                    {
                        Ok(_) => Ok(true),
                        Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => Ok(false),
                        Err(e) => Err(db(e)),
                    }
                })
                .await?;
            if inserted {
                Ok(())
            } else {
                Err(Refused::Replayed)
            }
        })
    }
}
