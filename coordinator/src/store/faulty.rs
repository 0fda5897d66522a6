//! A fault-injecting wrapper around any [`LogStore`], for tests of "a store
//! error acknowledges nothing": fail the N-th append before it writes
//! anything, or after it is durable (the answer lost, as in a crash right
//! after the commit). What the inner store holds is the durable prefix a
//! restart recovers from.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use bounties::{Entry, Hash32};

use super::{LogStore, Snapshot, StoreError};

/// When the injected append fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Fail without writing anything.
    BeforeWrite,
    /// Write durably, then fail (the commit happened; its answer did not).
    AfterWrite,
    /// Die: this append fails (durable first if `committed`), and so does
    /// every later call, until a restart opens the inner store again.
    Crash {
        /// Whether the failing append reached the disk.
        committed: bool,
    },
}

impl Fault {
    /// Whether the failing write is durable anyway.
    pub fn commits(self) -> bool {
        matches!(self, Fault::AfterWrite | Fault::Crash { committed: true })
    }
}

/// A store whose `nth` append (1-based, counted from creation) fails with `fault`.
pub struct FaultyLog {
    inner: Arc<dyn LogStore>,
    appends: AtomicU64,
    nth: u64,
    fault: Fault,
    crashed: AtomicBool,
}

impl FaultyLog {
    /// Wrap `inner`; its `nth` append fails with `fault`.
    pub fn new(inner: Arc<dyn LogStore>, nth: u64, fault: Fault) -> FaultyLog {
        FaultyLog {
            inner,
            appends: AtomicU64::new(0),
            nth,
            fault,
            crashed: AtomicBool::new(false),
        }
    }

    /// The wrapped store: what survived, for a restart.
    pub fn inner(&self) -> Arc<dyn LogStore> {
        Arc::clone(&self.inner)
    }

    fn injected(&self) -> StoreError {
        StoreError::Database("injected fault".into())
    }

    /// After a crash nothing answers.
    fn alive(&self) -> Result<(), StoreError> {
        if self.crashed.load(Ordering::SeqCst) {
            return Err(StoreError::Database("the store crashed".into()));
        }
        Ok(())
    }
}

impl std::fmt::Debug for FaultyLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultyLog")
            .field("nth", &self.nth)
            .field("fault", &self.fault)
            .finish_non_exhaustive()
    }
}

impl LogStore for FaultyLog {
    fn append(&self, entries: &[Entry]) -> Result<(), StoreError> {
        self.alive()?;
        let n = self.appends.fetch_add(1, Ordering::SeqCst) + 1;
        if n != self.nth {
            return self.inner.append(entries);
        }
        if self.fault.commits() {
            self.inner.append(entries)?;
        }
        if matches!(self.fault, Fault::Crash { .. }) {
            self.crashed.store(true, Ordering::SeqCst);
        }
        Err(self.injected())
    }

    fn read(&self, from: u64, limit: usize) -> Result<Vec<Entry>, StoreError> {
        self.alive()?;
        self.inner.read(from, limit)
    }

    fn head(&self) -> Result<Option<(u64, Hash32)>, StoreError> {
        self.alive()?;
        self.inner.head()
    }

    fn put_snapshot(&self, snapshot: Snapshot, image: &[u8]) -> Result<(), StoreError> {
        self.alive()?;
        self.inner.put_snapshot(snapshot, image)
    }

    fn snapshot(&self) -> Result<Option<Snapshot>, StoreError> {
        self.alive()?;
        self.inner.snapshot()
    }

    fn image(&self) -> Result<Option<Vec<u8>>, StoreError> {
        self.alive()?;
        self.inner.image()
    }
}
