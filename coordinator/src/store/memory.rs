//! An in-memory log store for tests.

use std::sync::RwLock;

use bounties::{Entry, Hash32};

use super::{LogStore, Snapshot, StoreError, check_continues};

/// Entries in a vector; nothing survives the process.
#[derive(Debug, Default)]
pub struct MemoryLog {
    entries: RwLock<Vec<Entry>>,
    snapshot: RwLock<Option<(Snapshot, Vec<u8>)>>,
}

impl LogStore for MemoryLog {
    fn append(&self, entries: &[Entry]) -> Result<(), StoreError> {
        let mut log = self.entries.write().expect("lock");
        check_continues(log.len() as u64, entries)?;
        log.extend_from_slice(entries);
        Ok(())
    }

    fn read(&self, from: u64, limit: usize) -> Result<Vec<Entry>, StoreError> {
        let log = self.entries.read().expect("lock");
        let start = (from as usize).min(log.len());
        Ok(log[start..].iter().take(limit).cloned().collect())
    }

    fn head(&self) -> Result<Option<(u64, Hash32)>, StoreError> {
        Ok(self
            .entries
            .read()
            .expect("lock")
            .last()
            .map(|e| (e.seq, e.hash())))
    }

    fn put_snapshot(&self, snapshot: Snapshot, image: &[u8]) -> Result<(), StoreError> {
        *self.snapshot.write().expect("lock") = Some((snapshot, image.to_vec()));
        Ok(())
    }

    fn snapshot(&self) -> Result<Option<Snapshot>, StoreError> {
        Ok(self.snapshot.read().expect("lock").as_ref().map(|s| s.0))
    }

    fn image(&self) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .snapshot
            .read()
            .expect("lock")
            .as_ref()
            .map(|s| s.1.clone()))
    }
}
