//! Artifact storage (models, datasets), content-addressed by SHA-256, behind
//! a stream-shaped interface an object store can implement as well as a
//! directory: bytes go in from a verified [`Staged`] upload and come out as a
//! stream; the store records who uploaded each artifact.
//!
//! [`local::LocalArtifacts`] keeps them under the data dir,
//! [`s3::S3Artifacts`] in an S3-compatible bucket; every
//! implementation passes [`conformance::check`]; [`faulty::FaultyArtifacts`]
//! fails a chosen write, for tests.

pub mod conformance;
pub mod faulty;
pub mod local;
pub mod s3;

use std::future::Future;
use std::pin::Pin;

use bounties::{AccountId, Hash32};
use bytes::Bytes;

pub use crate::staging::Staged;
pub use local::LocalArtifacts;

/// Where a node's artifacts live (`--artifacts`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArtifactLocation {
    /// `artifacts/` in the data dir: the embedded default.
    DataDir,
    /// An S3-compatible bucket.
    S3(s3::BucketUrl),
}

impl std::str::FromStr for ArtifactLocation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "dir" {
            Ok(ArtifactLocation::DataDir)
        } else if s.starts_with("s3://") {
            Ok(ArtifactLocation::S3(s.parse()?))
        } else {
            Err(format!(
                "{s:?}: use `dir` (the data dir's artifacts/) or s3://BUCKET?endpoint=http://HOST:PORT"
            ))
        }
    }
}

impl std::fmt::Display for ArtifactLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ArtifactLocation::DataDir => f.write_str("dir"),
            ArtifactLocation::S3(url) => write!(f, "s3://{}?endpoint={}", url.bucket, url.endpoint),
        }
    }
}

/// A boxed future, so the trait can be used as an object.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An artifact's bytes, in order.
pub type ByteStream = Pin<Box<dyn futures_util::Stream<Item = std::io::Result<Bytes>> + Send>>;

/// A stored artifact, opened for reading.
#[allow(missing_debug_implementations)]
pub struct Artifact {
    /// Its length in bytes.
    pub size: u64,
    /// Its bytes.
    pub body: ByteStream,
}

/// Why the artifact store failed (the cause is kept, typed).
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// Reading or writing the store.
    #[error("artifact store: {0}")]
    Io(#[from] std::io::Error),
    /// Its worker thread died.
    #[error("artifact store: {0}")]
    Worker(#[from] tokio::task::JoinError),
    /// The object store refused or failed.
    #[error("artifact store: {0}")]
    Remote(Box<dyn std::error::Error + Send + Sync>),
}

/// Where verified artifacts live. `conformance::check` is what every
/// implementation must pass.
pub trait ArtifactStore: Send + Sync + 'static {
    /// The size of a stored artifact (`None`: not stored).
    fn size(&self, hash: Hash32) -> BoxFuture<'_, Result<Option<u64>, ArtifactError>>;

    /// Keep `staged`, whose bytes the caller has verified hash to `hash`, as
    /// that artifact, and record `owner` as an uploader. When this returns
    /// `Ok`, both are durable; on `Err` the artifact may be absent, but an
    /// artifact is never stored without its owner. If `hash` is stored
    /// already, its bytes are kept and only the owner is recorded.
    fn put(
        &self,
        hash: Hash32,
        staged: Staged,
        owner: AccountId,
    ) -> BoxFuture<'_, Result<(), ArtifactError>>;

    /// Record one more uploader of `hash` (idempotent, durable on `Ok`).
    fn add_owner(&self, hash: Hash32, owner: AccountId)
    -> BoxFuture<'_, Result<(), ArtifactError>>;

    /// Who uploaded `hash`, in account order, each once.
    fn owners(&self, hash: Hash32) -> BoxFuture<'_, Result<Vec<AccountId>, ArtifactError>>;

    /// Open `hash` for reading (`None`: not stored).
    fn read(&self, hash: Hash32) -> BoxFuture<'_, Result<Option<Artifact>, ArtifactError>>;
}
