//! A fault-injecting wrapper around any [`ArtifactStore`], for tests of "a
//! store error acknowledges nothing": fail the N-th put before it stores
//! anything, or after the artifact and its owner are durable (the answer
//! lost). Reads and owner lookups pass through.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bounties::{AccountId, Hash32};

use super::{Artifact, ArtifactError, ArtifactStore, BoxFuture, Staged};
pub use crate::store::faulty::Fault;

/// A store whose `nth` put (1-based, counted from creation) fails with `fault`.
pub struct FaultyArtifacts {
    inner: Arc<dyn ArtifactStore>,
    puts: AtomicU64,
    nth: u64,
    fault: Fault,
}

impl FaultyArtifacts {
    /// Wrap `inner`; its `nth` put fails with `fault` (a crash acts as a
    /// failure before or after the write, as its `committed` says).
    pub fn new(inner: Arc<dyn ArtifactStore>, nth: u64, fault: Fault) -> FaultyArtifacts {
        FaultyArtifacts {
            inner,
            puts: AtomicU64::new(0),
            nth,
            fault,
        }
    }
}

impl std::fmt::Debug for FaultyArtifacts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultyArtifacts")
            .field("nth", &self.nth)
            .field("fault", &self.fault)
            .finish_non_exhaustive()
    }
}

fn injected() -> ArtifactError {
    std::io::Error::other("injected fault at /srv/artifacts").into()
}

impl ArtifactStore for FaultyArtifacts {
    fn size(&self, hash: Hash32) -> BoxFuture<'_, Result<Option<u64>, ArtifactError>> {
        self.inner.size(hash)
    }

    fn put(
        &self,
        hash: Hash32,
        staged: Staged,
        owner: AccountId,
    ) -> BoxFuture<'_, Result<(), ArtifactError>> {
        let n = self.puts.fetch_add(1, Ordering::SeqCst) + 1;
        if n != self.nth {
            return self.inner.put(hash, staged, owner);
        }
        Box::pin(async move {
            if self.fault.commits() {
                self.inner.put(hash, staged, owner).await?;
            }
            Err(injected())
        })
    }

    fn add_owner(
        &self,
        hash: Hash32,
        owner: AccountId,
    ) -> BoxFuture<'_, Result<(), ArtifactError>> {
        self.inner.add_owner(hash, owner)
    }

    fn owners(&self, hash: Hash32) -> BoxFuture<'_, Result<Vec<AccountId>, ArtifactError>> {
        self.inner.owners(hash)
    }

    fn read(&self, hash: Hash32) -> BoxFuture<'_, Result<Option<Artifact>, ArtifactError>> {
        self.inner.read(hash)
    }
}
