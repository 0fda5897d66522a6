//! Artifacts as files under `<data dir>/artifacts/<first two hex>/<hash>`,
//! each uploader a marker file in `<hash>.owned/`: recording an owner is
//! one create (idempotent, no read-modify-write to race), the same shape an
//! object store gives with one key per owner.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use bounties::{AccountId, Hash32};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use super::{Artifact, ArtifactError, ArtifactStore, BoxFuture, ByteStream, Staged};

/// Files under one root directory.
#[derive(Debug)]
pub struct LocalArtifacts {
    root: PathBuf,
}

impl LocalArtifacts {
    /// A store rooted at `root` (created if missing). Copies cut off by a
    /// crash (in `root/.incoming`) are removed.
    pub fn open(root: &Path) -> std::io::Result<LocalArtifacts> {
        let incoming = root.join(".incoming");
        if incoming.exists() {
            std::fs::remove_dir_all(&incoming)?;
        }
        std::fs::create_dir_all(&incoming)?;
        Ok(LocalArtifacts {
            root: root.to_owned(),
        })
    }

    /// The file of an artifact. `hash` is typed, so its hex is always 64
    /// lowercase characters: no path trick can reach outside the store.
    fn path(&self, hash: Hash32) -> PathBuf {
        let hex = hash.to_hex();
        self.root.join(&hex[..2]).join(hex)
    }

    fn owners_dir(&self, hash: Hash32) -> PathBuf {
        self.path(hash).with_extension("owned")
    }

    /// Owners noted by earlier versions, one hex account per line in
    /// `<hash>.owners`; read, never written.
    fn legacy_owners(&self, hash: Hash32) -> PathBuf {
        self.path(hash).with_extension("owners")
    }

    async fn record_owner(&self, hash: Hash32, owner: AccountId) -> Result<(), ArtifactError> {
        let dir = self.owners_dir(hash);
        tokio::fs::create_dir_all(&dir).await?;
        let marker = dir.join(owner.to_hex());
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&marker)?;
            // The marker's directory entry is what must survive a crash.
            std::fs::File::open(marker.parent().expect("has a parent"))?.sync_all()
        })
        .await??;
        Ok(())
    }

    /// Copy a stream into place through `.incoming` (when the staged file is
    /// on another file system and cannot be renamed).
    async fn copy_in(&self, dest: &Path, mut body: ByteStream) -> Result<(), ArtifactError> {
        let mut bytes = [0u8; 12];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut bytes);
        let tmp = self
            .root
            .join(".incoming")
            .join(format!("{}.partial", hex::encode(bytes)));
        let copied = async {
            let mut file = tokio::fs::File::create_new(&tmp).await?;
            while let Some(chunk) = body.next().await {
                file.write_all(&chunk?).await?;
            }
            file.sync_data().await?;
            tokio::fs::rename(&tmp, dest).await
        }
        .await;
        if copied.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        Ok(copied?)
    }
}

async fn sync_dir(dir: PathBuf) -> Result<(), ArtifactError> {
    tokio::task::spawn_blocking(move || std::fs::File::open(&dir)?.sync_all()).await??;
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

    fn put(
        &self,
        hash: Hash32,
        staged: Staged,
        owner: AccountId,
    ) -> BoxFuture<'_, Result<(), ArtifactError>> {
        Box::pin(async move {
            let dest = self.path(hash);
            let dir = dest.parent().expect("has a parent").to_owned();
            tokio::fs::create_dir_all(&dir).await?;
            // The owner first: a crash between the two leaves an owner of an
            // absent file (harmless: nothing is served or submittable without
            // the file), never a file without its owner.
            self.record_owner(hash, owner).await?;
            if self.size(hash).await?.is_some() {
                return Ok(()); // stored already; `staged` is removed on drop
            }
            match staged.persist(&dest) {
                Ok(()) => {}
                Err((staged, e)) if e.kind() == std::io::ErrorKind::CrossesDevices => {
                    self.copy_in(&dest, staged.stream().await?).await?;
                }
                Err((_, e)) => return Err(e.into()),
            }
            // Make the new directory entry itself durable.
            sync_dir(dir).await
        })
    }

    fn add_owner(
        &self,
        hash: Hash32,
        owner: AccountId,
    ) -> BoxFuture<'_, Result<(), ArtifactError>> {
        Box::pin(self.record_owner(hash, owner))
    }

    fn owners(&self, hash: Hash32) -> BoxFuture<'_, Result<Vec<AccountId>, ArtifactError>> {
        Box::pin(async move {
            let mut owners = BTreeSet::<AccountId>::new();
            match tokio::fs::read_to_string(self.legacy_owners(hash)).await {
                Ok(text) => owners.extend(text.lines().filter_map(|l| l.parse::<AccountId>().ok())),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
            let mut markers = match tokio::fs::read_dir(self.owners_dir(hash)).await {
                Ok(rd) => rd,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Ok(owners.into_iter().collect());
                }
                Err(e) => return Err(e.into()),
            };
            while let Some(entry) = markers.next_entry().await? {
                if let Some(owner) = entry.file_name().to_str().and_then(|n| n.parse().ok()) {
                    owners.insert(owner);
                }
            }
            Ok(owners.into_iter().collect())
        })
    }

    fn read(&self, hash: Hash32) -> BoxFuture<'_, Result<Option<Artifact>, ArtifactError>> {
        Box::pin(async move {
            let file = match tokio::fs::File::open(self.path(hash)).await {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e.into()),
            };
            let size = file.metadata().await?.len();
            let body = tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024).boxed();
            Ok(Some(Artifact { size, body }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::staging::{Staging, collect};
    use std::io::Write;

    fn account(byte: u8) -> AccountId {
        bounties::SecretKey::from_seed([byte; 32]).account()
    }

    #[tokio::test]
    async fn owners_noted_by_earlier_versions_still_count() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalArtifacts::open(&dir.path().join("a")).unwrap();
        let hash = bounties::encoding::sha256(b"x");
        let legacy = store.legacy_owners(hash);
        std::fs::create_dir_all(legacy.parent().unwrap()).unwrap();
        std::fs::write(&legacy, format!("{}\n", account(1).to_hex())).unwrap();
        store.add_owner(hash, account(2)).await.unwrap();
        let mut want = vec![account(1), account(2)];
        want.sort();
        assert_eq!(store.owners(hash).await.unwrap(), want);
    }

    #[tokio::test]
    async fn a_stream_is_copied_in_whole_when_the_staged_file_cannot_be_renamed() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalArtifacts::open(&dir.path().join("a")).unwrap();
        let staging = Staging::open(&dir.path().join("s")).unwrap();
        let bytes: Vec<u8> = (0..700_000u32).map(|i| (i % 251) as u8).collect();
        let (mut staged, mut file) = staging.create().unwrap();
        file.write_all(&bytes).unwrap();
        staged.set_size(bytes.len() as u64);
        let hash = bounties::encoding::sha256(&bytes);
        let dest = store.path(hash);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        store
            .copy_in(&dest, staged.stream().await.unwrap())
            .await
            .unwrap();
        let read = store.read(hash).await.unwrap().unwrap();
        assert_eq!(read.size, bytes.len() as u64);
        assert_eq!(collect(read.body).await.unwrap(), bytes);
        assert_eq!(
            std::fs::read_dir(dir.path().join("a/.incoming"))
                .unwrap()
                .count(),
            0
        );
    }
}
