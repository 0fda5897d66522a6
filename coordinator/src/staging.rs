//! Uploads in progress, staged on local disk outside any artifact store: the
//! bytes are received, hashed and checked here, and only then handed to the
//! store (which may be a local directory or an object store elsewhere).

use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_util::StreamExt;

use crate::artifacts::ByteStream;

/// A local directory of staged uploads, emptied when opened: an upload cut
/// off by a crash leaves nothing behind after a restart.
#[derive(Debug)]
pub struct Staging {
    dir: PathBuf,
}

impl Staging {
    /// Stage uploads in `dir` (created, and emptied of earlier leftovers).
    pub fn open(dir: &Path) -> std::io::Result<Staging> {
        if dir.exists() {
            std::fs::remove_dir_all(dir)?;
        }
        std::fs::create_dir_all(dir)?;
        Ok(Staging {
            dir: dir.to_owned(),
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A fresh, empty staged file and a handle to write it.
    pub fn create(&self) -> std::io::Result<(Staged, std::fs::File)> {
        let mut bytes = [0u8; 12];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut bytes);
        let path = self.dir.join(format!("{}.partial", hex::encode(bytes)));
        let file = std::fs::File::create_new(&path)?;
        let staged = Staged {
            path,
            size: 0,
            moved: false,
        };
        Ok((staged, file))
    }
}

/// One staged upload; its file is removed when this is dropped, unless a
/// store took it over with [`Staged::persist`].
#[derive(Debug)]
pub struct Staged {
    path: PathBuf,
    size: u64,
    moved: bool,
}

impl Staged {
    /// Its length in bytes, once received.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Record its length once the caller has written it all.
    pub fn set_size(&mut self, size: u64) {
        self.size = size;
    }

    /// The staged file, for checks that read it whole.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its bytes, as a stream (how a store that is not on this disk copies it).
    pub async fn stream(&self) -> std::io::Result<ByteStream> {
        let file = tokio::fs::File::open(&self.path).await?;
        Ok(tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024).boxed())
    }

    /// Move the staged file to `dest` (a rename: same file system only). On
    /// failure it stays staged and is handed back with the error.
    pub fn persist(mut self, dest: &Path) -> Result<(), (Staged, std::io::Error)> {
        match std::fs::rename(&self.path, dest) {
            Ok(()) => {
                self.moved = true;
                Ok(())
            }
            Err(e) => Err((self, e)),
        }
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.moved {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Everything a stream yields, concatenated (for tests and small artifacts).
pub async fn collect(mut stream: ByteStream) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk: Bytes = chunk?;
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}
