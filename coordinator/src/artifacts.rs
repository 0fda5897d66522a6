//! Artifact storage (models, datasets), content-addressed by SHA-256.
//!
//! Uploads are streamed to a temp file and verified by the HTTP layer; a store
//! only keeps verified files and serves them back. [`LocalArtifacts`] keeps
//! them under the data dir; an S3-compatible store implements the same trait.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use bounties::{AccountId, Hash32};
use tokio::io::AsyncWriteExt;

/// A boxed future, so the trait can be used as an object.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why the artifact store failed (the cause is kept, typed).
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// Reading or writing the store.
    #[error("artifact store: {0}")]
    Io(#[from] std::io::Error),
    /// Its worker thread died.
    #[error("artifact store: {0}")]
    Worker(#[from] tokio::task::JoinError),
}

/// Where verified artifacts live.
pub trait ArtifactStore: Send + Sync + 'static {
    /// The size of a stored artifact.
    fn size(&self, hash: Hash32) -> BoxFuture<'_, Result<Option<u64>, ArtifactError>>;

    /// Keep `verified`, a local file whose SHA-256 is `hash`, as that artifact
    /// (moving it), and note `owner` as one of its uploaders.
    fn store<'a>(
        &'a self,
        hash: Hash32,
        verified: &'a Path,
        owner: AccountId,
    ) -> BoxFuture<'a, Result<(), ArtifactError>>;

    /// Note another uploader of an artifact already stored.
    fn add_owner(&self, hash: Hash32, owner: AccountId)
    -> BoxFuture<'_, Result<(), ArtifactError>>;

    /// Who uploaded it.
    fn owners(&self, hash: Hash32) -> BoxFuture<'_, Result<Vec<AccountId>, ArtifactError>>;

    /// Open it for reading.
    fn open(&self, hash: Hash32) -> BoxFuture<'_, Result<Option<tokio::fs::File>, ArtifactError>>;

    /// A fresh temp path for an upload in progress (same file system as the store).
    fn temp_path(&self) -> PathBuf;
}

/// Files under `<data dir>/artifacts/<first two hex>/<hash>`.
#[derive(Debug)]
pub struct LocalArtifacts {
    root: PathBuf,
    tmp: PathBuf,
}

impl LocalArtifacts {
    /// A store rooted at `root`, with temp files in `tmp` (emptied now: an
    /// upload cut off by a crash leaves nothing behind after a restart).
    pub fn open(root: &Path, tmp: &Path) -> std::io::Result<LocalArtifacts> {
        std::fs::create_dir_all(root)?;
        if tmp.exists() {
            std::fs::remove_dir_all(tmp)?;
        }
        std::fs::create_dir_all(tmp)?;
        Ok(LocalArtifacts {
            root: root.to_owned(),
            tmp: tmp.to_owned(),
        })
    }

    /// The file of an artifact. `hash` is typed, so its hex is always 64
    /// lowercase characters: no path trick can reach outside the store.
    fn path(&self, hash: Hash32) -> PathBuf {
        let hex = hash.to_hex();
        self.root.join(&hex[..2]).join(hex)
    }

    fn owners_path(&self, hash: Hash32) -> PathBuf {
        self.path(hash).with_extension("owners")
    }
}

async fn append_owner(path: PathBuf, owner: AccountId) -> Result<(), ArtifactError> {
    let existing = tokio::fs::read_to_string(&path).await.unwrap_or_default();
    let line = owner.to_hex();
    if existing.lines().any(|l| l == line) {
        return Ok(());
    }
    let mut f = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .await?;
    f.write_all(format!("{line}\n").as_bytes()).await?;
    f.sync_all().await?;
    Ok(())
}

impl ArtifactStore for LocalArtifacts {
    fn size(&self, hash: Hash32) -> BoxFuture<'_, Result<Option<u64>, ArtifactError>> {
        Box::pin(async move {
            match tokio::fs::metadata(self.path(hash)).await {
                Ok(m) => Ok(Some(m.len())),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e.into()),
            }
        })
    }

    fn store<'a>(
        &'a self,
        hash: Hash32,
        verified: &'a Path,
        owner: AccountId,
    ) -> BoxFuture<'a, Result<(), ArtifactError>> {
        Box::pin(async move {
            let dest = self.path(hash);
            let dir = dest.parent().expect("has a parent").to_owned();
            tokio::fs::create_dir_all(&dir).await?;
            // Owners first: a crash between the two leaves an owner note for an
            // absent file (harmless), never a file without its owner.
            append_owner(self.owners_path(hash), owner).await?;
            tokio::fs::rename(verified, &dest).await?;
            // Make the rename itself durable.
            tokio::task::spawn_blocking(move || std::fs::File::open(&dir)?.sync_all()).await??;
            Ok(())
        })
    }

    fn add_owner(
        &self,
        hash: Hash32,
        owner: AccountId,
    ) -> BoxFuture<'_, Result<(), ArtifactError>> {
        Box::pin(append_owner(self.owners_path(hash), owner))
    }

    fn owners(&self, hash: Hash32) -> BoxFuture<'_, Result<Vec<AccountId>, ArtifactError>> {
        Box::pin(async move {
            let text = match tokio::fs::read_to_string(self.owners_path(hash)).await {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                Err(e) => return Err(e.into()),
            };
            Ok(text.lines().filter_map(|l| l.parse().ok()).collect())
        })
    }

    fn open(&self, hash: Hash32) -> BoxFuture<'_, Result<Option<tokio::fs::File>, ArtifactError>> {
        Box::pin(async move {
            match tokio::fs::File::open(self.path(hash)).await {
                Ok(f) => Ok(Some(f)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e.into()),
            }
        })
    }

    fn temp_path(&self) -> PathBuf {
        let mut bytes = [0u8; 12];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut bytes);
        self.tmp.join(format!("{}.partial", hex::encode(bytes)))
    }
}
