//! Evaluation leases shared by every front-end: each lease is a row, and a
//! lease is given inside one transaction that holds a lock all front-ends
//! take, reads the leases in force, applies the same rule as one front-end
//! alone ([`Leases::lease`]) and writes what it gave. So an evaluator asking
//! two front-ends gets the same lease, an audit slot is counted once, and a
//! lease given by one front-end opens the sealed files at any other.
//!
//! Why a lock rather than `FOR UPDATE SKIP LOCKED`: the jobs are not a queue
//! of interchangeable rows. Who scores what was drawn in the log; what must
//! not happen twice is one evaluator's lease, or an audit past its slots,
//! and both depend on the other leases in force. Leases are asked for every
//! few seconds per evaluator, so serialising them costs nothing that matters.

use std::sync::Arc;

use bounties::{AccountId, Hash32, State, SubmissionId};

use crate::artifacts::BoxFuture;
use crate::jobs::{JobKind, Lease, LeaseBook, Leases};
use crate::store::StoreError;
use crate::store::postgres::{Database, db};

/// The lock every lease transaction takes (an arbitrary constant: "mb-lease").
const LEASES_LOCK: i64 = 0x6d62_2d6c_6561_7365;

/// Leases in the log's database.
#[allow(missing_debug_implementations)]
pub struct SharedLeases {
    database: Database,
}

impl SharedLeases {
    /// The leases in `database` (their tables are part of the log's schema).
    pub fn new(database: Database) -> SharedLeases {
        SharedLeases { database }
    }
}

/// A time or a seq as PostgreSQL's BIGINT (ours stay far below its top).
fn big(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(db)
}

fn decode(text: &str) -> Result<Lease, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
        seq: 0,
        reason: format!("a stored lease does not decode: {e}"),
    })
}

impl LeaseBook for SharedLeases {
    fn lease(
        &self,
        state: Arc<State>,
        evaluator: AccountId,
        now_ms: u64,
        ttl_ms: u64,
        token: String,
    ) -> BoxFuture<'_, Result<Option<Lease>, StoreError>> {
        Box::pin(self.database.run(move |pool| async move {
            let now = big(now_ms)?;
            let who = evaluator.to_hex();
            let mut client = pool.get().await.map_err(db)?;
            let tx = client.transaction().await.map_err(db)?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LEASES_LOCK])
                .await
                .map_err(db)?;
            tx.execute("DELETE FROM leases WHERE expires_at_ms <= $1", &[&now])
                .await
                .map_err(db)?;
            let active = tx
                .query("SELECT lease FROM leases", &[])
                .await
                .map_err(db)?
                .iter()
                .map(|r| decode(r.get(0)))
                .collect::<Result<Vec<_>, _>>()?;
            // The rule asks only whether this evaluator audited a submission.
            let audited = tx
                .query(
                    "SELECT submission FROM audits WHERE evaluator = $1",
                    &[&who],
                )
                .await
                .map_err(db)?
                .iter()
                .map(|r| (evaluator, SubmissionId(r.get::<_, i64>(0) as u64)))
                .collect::<Vec<_>>();
            let mut book = Leases::from_parts(active, audited);
            let Some(lease) = book.lease(&state, evaluator, now_ms, ttl_ms, token.clone()) else {
                return Ok(None);
            };
            if lease.token == token {
                let submission = big(lease.submission.0)?;
                let text = serde_json::to_string(&lease).map_err(db)?;
                tx.execute(
                    "INSERT INTO leases (token, evaluator, submission, expires_at_ms, lease) \
                     VALUES ($1, $2, $3, $4, $5)",
                    &[&token, &who, &submission, &big(lease.expires_at_ms)?, &text],
                )
                .await
                .map_err(db)?;
                if lease.kind == JobKind::Audit {
                    tx.execute(
                        "INSERT INTO audits (evaluator, submission) VALUES ($1, $2) \
                         ON CONFLICT DO NOTHING",
                        &[&who, &submission],
                    )
                    .await
                    .map_err(db)?;
                }
            }
            tx.commit().await.map_err(db)?;
            Ok(Some(lease))
        }))
    }

    fn grants(
        &self,
        reader: AccountId,
        hash: Hash32,
        now_ms: u64,
    ) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(self.database.run(move |pool| async move {
            let client = pool.get().await.map_err(db)?;
            let held = client
                .query(
                    "SELECT lease FROM leases WHERE evaluator = $1 AND expires_at_ms > $2",
                    &[&reader.to_hex(), &big(now_ms)?],
                )
                .await
                .map_err(db)?
                .iter()
                .map(|r| decode(r.get(0)))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Leases::from_parts(held, []).grants(&reader, &hash, now_ms))
        }))
    }

    fn active(&self, now_ms: u64) -> BoxFuture<'_, Result<Vec<Lease>, StoreError>> {
        Box::pin(self.database.run(move |pool| async move {
            let client = pool.get().await.map_err(db)?;
            client
                .query(
                    "SELECT lease FROM leases WHERE expires_at_ms > $1 ORDER BY token",
                    &[&big(now_ms)?],
                )
                .await
                .map_err(db)?
                .iter()
                .map(|r| decode(r.get(0)))
                .collect()
        }))
    }

    fn complete(
        &self,
        evaluator: AccountId,
        submission: SubmissionId,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.database.run(move |pool| async move {
            let client = pool.get().await.map_err(db)?;
            client
                .execute(
                    "DELETE FROM leases WHERE evaluator = $1 AND submission = $2",
                    &[&evaluator.to_hex(), &big(submission.0)?],
                )
                .await
                .map_err(db)?;
            Ok(())
        }))
    }
}
