//! `coordinator audit`: replay the log in this data dir's store from scratch
//! (every hash link, signature, rule and balance) and report the first entry
//! that does not hold. Auditing a running coordinator over HTTP is a client's
//! job: `bounty --coordinator URL audit`.

use std::ops::ControlFlow;

use bounties::replay::{ReplayError, ReplayReport, Replayer};

use crate::store::{LogStore, StoreError};

/// Entries read from the store at a time.
const CHUNK: usize = 8192;

/// Why an audit failed.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// Reading failed.
    #[error("could not read the log: {0}")]
    Store(#[from] StoreError),
    /// An entry breaks the chain or the rules, or the books do not balance.
    #[error(transparent)]
    Diverges(#[from] ReplayError),
}

/// Audit the log in a store.
pub fn audit_store(store: &dyn LogStore) -> Result<ReplayReport, AuditError> {
    let mut replayer = Replayer::default();
    crate::store::for_each_chunk(store, 0, CHUNK, |chunk| {
        replayer.feed(&chunk, |_, _| {})?;
        Ok::<_, AuditError>(ControlFlow::Continue(()))
    })?;
    let (_, report) = replayer.finish()?;
    Ok(report)
}
