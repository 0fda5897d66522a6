//! Local files: key files (0600, never overwritten), the download cache's
//! place, a file's SHA-256 streamed, and fresh keys from the OS generator.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use bounties::{Hash32, SecretKey};
use sha2::{Digest, Sha256};

use crate::ClientError;

fn file_error(path: &Path) -> impl Fn(std::io::Error) -> ClientError + '_ {
    move |e| ClientError::File {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// Where downloads are cached: `given`, else `$XDG_CACHE_HOME/model-bounties`,
/// else `~/.cache/model-bounties`, else `./.model-bounties-cache`.
pub fn cache_dir(given: Option<PathBuf>) -> PathBuf {
    given
        .or_else(|| {
            std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("model-bounties"))
        })
        .or_else(|| {
            std::env::var_os("HOME").map(|d| PathBuf::from(d).join(".cache/model-bounties"))
        })
        .unwrap_or_else(|| PathBuf::from(".model-bounties-cache"))
}

/// SHA-256 of a file, streamed.
pub fn sha256_file(path: &Path) -> Result<Hash32, ClientError> {
    let err = file_error(path);
    let mut f = std::fs::File::open(path).map_err(&err)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f.read(&mut buf).map_err(&err)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(Hash32(hasher.finalize().into()))
}

/// Read a key file: the 32-byte seed as 64 hex characters.
pub fn read_key_file(path: &Path) -> Result<SecretKey, ClientError> {
    let text = std::fs::read_to_string(path).map_err(file_error(path))?;
    SecretKey::from_hex_seed(text.trim()).map_err(|_| ClientError::File {
        path: path.display().to_string(),
        reason: "a key file holds a seed of 64 hex characters".into(),
    })
}

/// Write a key file readable by its owner only; never overwrites.
pub fn write_key_file(path: &Path, key: &SecretKey) -> Result<(), ClientError> {
    use std::os::unix::fs::OpenOptionsExt;
    let err = file_error(path);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(&err)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(&err)?;
    writeln!(f, "{}", hex::encode(key.seed())).map_err(&err)?;
    f.sync_all().map_err(&err)
}

/// A fresh random key (from the operating system's generator).
pub fn random_key() -> SecretKey {
    let mut seed = [0u8; 32];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut seed);
    SecretKey::from_seed(seed)
}
