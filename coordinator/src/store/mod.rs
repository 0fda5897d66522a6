//! Log storage behind a small, log-shaped interface: append a batch atomically
//! and durably, read a range, the head, and a start-up snapshot.
//!
//! SQLite is the embedded default ([`sqlite::SqliteLog`]); PostgreSQL
//! ([`postgres::PostgresLog`]) is for several front-ends on one database;
//! [`memory::MemoryLog`] serves tests.

pub mod conformance;
pub mod faulty;
pub mod memory;
pub mod postgres;
pub mod sqlite;

use std::ops::ControlFlow;
use std::str::FromStr;

use bounties::{Entry, Hash32};

/// Why storage failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or failed (the cause is kept, typed).
    #[error("log database: {0}")]
    Database(Box<dyn std::error::Error + Send + Sync>),
    /// There is no log where one was expected.
    #[error("{}: no log database here", .0.display())]
    Missing(std::path::PathBuf),
    /// A stored entry does not decode.
    #[error("stored entry {seq} is corrupt: {reason}")]
    Corrupt {
        /// Its seq.
        seq: u64,
        /// What is wrong.
        reason: String,
    },
    /// This store's term as the log's writer ended: another took over (a
    /// later epoch), so its appends are refused, none written.
    #[error(
        "this coordinator's term as the writer (epoch {epoch}) has ended: epoch {current} took over"
    )]
    Deposed {
        /// This store's epoch.
        epoch: u64,
        /// The database's.
        current: u64,
    },
    /// An append that does not continue the log.
    #[error("append at seq {got} does not continue the log (next is {expected})")]
    NotNext {
        /// The next seq.
        expected: u64,
        /// The seq offered.
        got: u64,
    },
}

/// Where a node's log lives (`--store`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogLocation {
    /// `log.sqlite` in the data dir: the embedded default.
    DataDir,
    /// A PostgreSQL database, by its `postgres://` URL.
    Postgres(String),
}

impl FromStr for LogLocation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "sqlite" {
            Ok(LogLocation::DataDir)
        } else if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            Ok(LogLocation::Postgres(s.to_owned()))
        } else {
            Err(format!(
                "{s:?}: use `sqlite` (the data dir's log.sqlite) or a postgres://USER@HOST:PORT/DB URL"
            ))
        }
    }
}

impl std::fmt::Display for LogLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LogLocation::DataDir => f.write_str("sqlite"),
            LogLocation::Postgres(url) => f.write_str(&postgres::redact(url)),
        }
    }
}

/// A point the node has verified: replay up to `seq` may trust signatures,
/// provided the state there still has `state_root`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// The last entry covered.
    pub seq: u64,
    /// That entry's hash.
    pub hash: Hash32,
    /// The state root after it.
    pub state_root: Hash32,
}

/// An append-only log of entries. `conformance::check` is what every
/// implementation must pass.
pub trait LogStore: Send + Sync + 'static {
    /// Append `entries` (consecutive, continuing the log) in one atomic, durable
    /// step: when this returns `Ok`, all of them survive a crash; on `Err`, none.
    fn append(&self, entries: &[Entry]) -> Result<(), StoreError>;

    /// Up to `limit` entries from `from`, in order.
    fn read(&self, from: u64, limit: usize) -> Result<Vec<Entry>, StoreError>;

    /// The last entry's seq and hash (`None` for an empty log): after a failed
    /// append, the sequencer asks it whether the batch committed anyway.
    fn head(&self) -> Result<Option<(u64, Hash32)>, StoreError>;

    /// Record a verified point and the state image there
    /// (`State::to_image`), in one step; the image replaces older ones.
    fn put_snapshot(&self, snapshot: Snapshot, image: &[u8]) -> Result<(), StoreError>;

    /// The latest verified point.
    fn snapshot(&self) -> Result<Option<Snapshot>, StoreError>;

    /// The image recorded with the latest verified point (`None`: there is
    /// none, or a store older than images).
    fn image(&self) -> Result<Option<Vec<u8>>, StoreError>;
}

/// The one chunked read loop: hand `each` the log from `from` in (owned) chunks of
/// up to `chunk` entries, in order, until the log ends or `each` says stop.
pub fn for_each_chunk<E: From<StoreError>>(
    store: &dyn LogStore,
    from: u64,
    chunk: usize,
    mut each: impl FnMut(Vec<Entry>) -> Result<ControlFlow<()>, E>,
) -> Result<(), E> {
    let mut next = from;
    loop {
        let entries = store.read(next, chunk)?;
        let Some(last) = entries.last() else {
            return Ok(());
        };
        next = last.seq + 1;
        if each(entries)?.is_break() {
            return Ok(());
        }
    }
}

/// A stored 32-byte hash, or `Corrupt` naming the entry it belongs to.
pub(crate) fn hash_from(seq: u64, bytes: Vec<u8>) -> Result<Hash32, StoreError> {
    let arr: [u8; 32] = bytes.try_into().map_err(|_| StoreError::Corrupt {
        seq,
        reason: "hash is not 32 bytes".into(),
    })?;
    Ok(Hash32(arr))
}

/// Check that `entries` continue a log whose next seq is `next`.
pub(crate) fn check_continues(next: u64, entries: &[Entry]) -> Result<(), StoreError> {
    for (i, e) in entries.iter().enumerate() {
        let expected = next + i as u64;
        if e.seq != expected {
            return Err(StoreError::NotNext {
                expected,
                got: e.seq,
            });
        }
    }
    Ok(())
}
