//! The simulation's storage: the log in memory with faults the world arms
//! one append at a time, and artifacts in memory.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use bounties::{AccountId, Entry, Hash32};
use coordinator::artifacts::{Artifact, ArtifactError, ArtifactStore, BoxFuture, Staged};
use coordinator::store::{LogStore, Snapshot, StoreError};

/// What the next append does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Fails before writing anything.
    BeforeWrite,
    /// Writes durably, then fails (the answer is lost after the commit).
    AfterWrite,
    /// Writes durably, fails, and the head cannot be read either: the
    /// sequencer cannot tell what happened and stops (a restart recovers).
    AfterWriteHeadLost,
}

/// A log held in memory that keeps everything it wrote (its durable prefix)
/// and fails the appends it is told to.
#[derive(Debug, Default)]
pub struct SimLog {
    entries: Mutex<Vec<Entry>>,
    snapshot: Mutex<Option<(Snapshot, Vec<u8>)>>,
    next: Mutex<Option<Fault>>,
    head_lost: Mutex<bool>,
    stopped: Mutex<bool>,
    /// Sabotage (tests of the checks only): forget the last entry at a restart.
    forgetful: bool,
}

impl SimLog {
    /// A log that breaks its promise: at every restart it forgets its last
    /// entry, acknowledged or not. Only the tests of the checks use it.
    pub fn forgetful() -> SimLog {
        SimLog {
            forgetful: true,
            ..SimLog::default()
        }
    }

    /// A restart: the fault armed belonged to the old process; a forgetful
    /// log drops its last entry (and a snapshot past it) here.
    pub fn restarted(&self) {
        *self.next.lock().expect("lock") = None;
        *self.head_lost.lock().expect("lock") = false;
        if self.forgetful {
            let mut entries = self.entries.lock().expect("lock");
            if entries.len() > 1 {
                entries.pop();
                *self.snapshot.lock().expect("lock") = None;
            }
        }
    }

    /// Make the next append fail with `fault`.
    pub fn arm(&self, fault: Fault) {
        *self.next.lock().expect("lock") = Some(fault);
    }

    /// Forget a fault armed for an append that never reached the log.
    pub fn disarm(&self) {
        *self.next.lock().expect("lock") = None;
    }

    /// Whether a head read failed after a failed append since the last
    /// call: the sequencer's contract is to stop then, so the node must restart.
    pub fn take_stopped(&self) -> bool {
        std::mem::take(&mut *self.stopped.lock().expect("lock"))
    }

    fn injected() -> StoreError {
        StoreError::Database("injected fault".into())
    }

    fn write(&self, batch: &[Entry]) -> Result<(), StoreError> {
        let mut entries = self.entries.lock().expect("lock");
        let expected = entries.len() as u64;
        for (i, e) in batch.iter().enumerate() {
            if e.seq != expected + i as u64 {
                return Err(StoreError::NotNext {
                    expected: expected + i as u64,
                    got: e.seq,
                });
            }
        }
        entries.extend_from_slice(batch);
        Ok(())
    }
}

impl LogStore for SimLog {
    fn append(&self, entries: &[Entry]) -> Result<(), StoreError> {
        let fault = self.next.lock().expect("lock").take();
        match fault {
            None => self.write(entries),
            Some(Fault::BeforeWrite) => Err(SimLog::injected()),
            Some(Fault::AfterWrite) => {
                self.write(entries)?;
                Err(SimLog::injected())
            }
            Some(Fault::AfterWriteHeadLost) => {
                self.write(entries)?;
                *self.head_lost.lock().expect("lock") = true;
                Err(SimLog::injected())
            }
        }
    }

    fn read(&self, from: u64, limit: usize) -> Result<Vec<Entry>, StoreError> {
        let entries = self.entries.lock().expect("lock");
        let start = (from as usize).min(entries.len());
        Ok(entries[start..].iter().take(limit).cloned().collect())
    }

    fn head(&self) -> Result<Option<(u64, Hash32)>, StoreError> {
        let mut lost = self.head_lost.lock().expect("lock");
        if *lost {
            *lost = false;
            *self.stopped.lock().expect("lock") = true;
            return Err(SimLog::injected());
        }
        Ok(self
            .entries
            .lock()
            .expect("lock")
            .last()
            .map(|e| (e.seq, e.hash())))
    }

    fn put_snapshot(&self, snapshot: Snapshot, image: &[u8]) -> Result<(), StoreError> {
        *self.snapshot.lock().expect("lock") = Some((snapshot, image.to_vec()));
        Ok(())
    }

    fn snapshot(&self) -> Result<Option<Snapshot>, StoreError> {
        Ok(self.snapshot.lock().expect("lock").as_ref().map(|s| s.0))
    }

    fn image(&self) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .snapshot
            .lock()
            .expect("lock")
            .as_ref()
            .map(|s| s.1.clone()))
    }
}

/// Artifacts in memory: each file's bytes and uploaders. Durable for the
/// simulation's purposes (they survive a node's restart, like files).
#[derive(Debug, Default)]
pub struct MemoryArtifacts {
    files: Mutex<BTreeMap<Hash32, (bytes::Bytes, BTreeSet<AccountId>)>>,
}

impl ArtifactStore for MemoryArtifacts {
    fn size(&self, hash: Hash32) -> BoxFuture<'_, Result<Option<u64>, ArtifactError>> {
        let size = self
            .files
            .lock()
            .expect("lock")
            .get(&hash)
            .map(|(b, _)| b.len() as u64);
        Box::pin(async move { Ok(size) })
    }

    fn put(
        &self,
        hash: Hash32,
        staged: Staged,
        owner: AccountId,
    ) -> BoxFuture<'_, Result<(), ArtifactError>> {
        Box::pin(async move {
            let bytes = std::fs::read(staged.path())?;
            drop(staged);
            let mut files = self.files.lock().expect("lock");
            let file = files
                .entry(hash)
                .or_insert_with(|| (bytes.into(), BTreeSet::new()));
            file.1.insert(owner);
            Ok(())
        })
    }

    fn add_owner(
        &self,
        hash: Hash32,
        owner: AccountId,
    ) -> BoxFuture<'_, Result<(), ArtifactError>> {
        if let Some(file) = self.files.lock().expect("lock").get_mut(&hash) {
            file.1.insert(owner);
        }
        Box::pin(async { Ok(()) })
    }

    fn owners(&self, hash: Hash32) -> BoxFuture<'_, Result<Vec<AccountId>, ArtifactError>> {
        let owners = self
            .files
            .lock()
            .expect("lock")
            .get(&hash)
            .map(|(_, o)| o.iter().copied().collect())
            .unwrap_or_default();
        Box::pin(async move { Ok(owners) })
    }

    fn read(&self, hash: Hash32) -> BoxFuture<'_, Result<Option<Artifact>, ArtifactError>> {
        let file = self
            .files
            .lock()
            .expect("lock")
            .get(&hash)
            .map(|(b, _)| b.clone());
        Box::pin(async move {
            Ok(file.map(|b| Artifact {
                size: b.len() as u64,
                body: Box::pin(futures_util::stream::iter([Ok(b)])),
            }))
        })
    }
}
