//! Upload ingestion, a service function that knows no HTTP: take an upload
//! slot, stream the body into staging under the size cap and the deadlines
//! (hashing and writing on two threads), check the bytes hash to the name,
//! check the safetensors file (a model against its architecture, a dataset
//! in full), and hand it to the artifact store with its uploader.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use bounties::arch::lora::{ADAPTER_TAG, BASE_WEIGHTS_TAG, LoraSpec};
use bounties::arch::{ARCHITECTURE_TAG, Architecture};
use bounties::tensorfile::{HEADER_BYTES_MAX, TensorHeader, header_len};
use bounties::{AccountId, Hash32};
use bounties_api::{ArtifactKind, Uploaded};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use std::io::Write;

use crate::artifacts::ArtifactError;
use crate::node::{Config, Node};
use crate::staging::Staged;

/// Why an upload was refused or failed; nothing was stored or recorded.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// Too many uploads at once from one client address.
    #[error("too many uploads in progress from this client (at most {0})")]
    TooManyUploads(usize),
    /// Over the artifact (or dataset) cap.
    #[error("{0}")]
    TooLarge(String),
    /// The bytes do not hash to the name they were sent under.
    #[error("the body's SHA-256 is {got}, not the {expected} named in the path")]
    HashMismatch {
        /// The name.
        expected: Hash32,
        /// Of the bytes.
        got: Hash32,
    },
    /// Not an acceptable safetensors model or dataset.
    #[error("{0}")]
    BadArtifact(String),
    /// The client paused too long or broke off.
    #[error("{0}")]
    Incomplete(String),
    /// The whole body did not arrive by its deadline.
    #[error("the upload did not complete in time: abandoned")]
    Timeout,
    /// Staging the bytes on local disk failed.
    #[error("staging the upload: {0}")]
    Staging(#[source] std::io::Error),
    /// The artifact store failed.
    #[error(transparent)]
    Artifacts(#[from] ArtifactError),
    /// A worker thread died.
    #[error("upload worker: {0}")]
    Worker(#[from] tokio::task::JoinError),
}

/// An upload, as the front end authenticated it.
#[derive(Clone, Copy, Debug)]
pub struct Upload {
    /// The name it is sent under.
    pub hash: Hash32,
    /// Who signed it.
    pub owner: AccountId,
    /// The length the client declared, if any (refused early when over the cap).
    pub declared_len: Option<u64>,
    /// Where it comes from (for the per-client upload slots).
    pub client: IpAddr,
}

/// Uploads in progress per client address.
#[derive(Debug, Default)]
pub struct UploadSlots(Arc<Mutex<BTreeMap<IpAddr, usize>>>);

/// Holds one upload slot until dropped.
#[derive(Debug)]
pub struct UploadSlot(Arc<Mutex<BTreeMap<IpAddr, usize>>>, IpAddr);

impl UploadSlots {
    /// Take a slot for `ip`, or refuse if it has `max` already.
    pub fn acquire(&self, ip: IpAddr, max: usize) -> Result<UploadSlot, IngestError> {
        let mut map = self.0.lock().expect("lock");
        let n = map.entry(ip).or_default();
        if *n >= max {
            return Err(IngestError::TooManyUploads(max));
        }
        *n += 1;
        Ok(UploadSlot(Arc::clone(&self.0), ip))
    }
}

impl Drop for UploadSlot {
    fn drop(&mut self) {
        let mut map = self.0.lock().expect("lock");
        if let Some(n) = map.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.1);
            }
        }
    }
}

/// Receive, verify and store one upload. Ownership comes from the bytes
/// alone: an uploader of a stored artifact is recorded only after sending
/// all of it again.
pub async fn ingest<S, E>(node: &Node, upload: Upload, body: S) -> Result<Uploaded, IngestError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let result = ingest_inner(node, upload, body).await;
    if result.is_err() {
        node.metrics.upload_refused();
    }
    result
}

async fn ingest_inner<S, E>(node: &Node, up: Upload, body: S) -> Result<Uploaded, IngestError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let cap = node.config.max_artifact_bytes;
    if let Some(len) = up.declared_len.filter(|&len| len > cap) {
        return Err(IngestError::TooLarge(format!(
            "{len} bytes is over the {cap}-byte artifact cap"
        )));
    }
    let _slot = node
        .uploads
        .acquire(up.client, node.config.uploads_per_client)?;
    // The whole body must arrive by this deadline, however it trickles in.
    let deadline = upload_deadline(&node.config, up.declared_len.unwrap_or(cap));
    let received = receive(node, body, cap, deadline).await?;
    if received.hash != up.hash {
        return Err(IngestError::HashMismatch {
            expected: up.hash,
            got: received.hash,
        });
    }
    let size = received.staged.size();
    if node.artifacts.size(up.hash).await?.is_some() {
        node.artifacts.add_owner(up.hash, up.owner).await?;
        return Ok(Uploaded {
            hash: up.hash,
            size,
            stored: false,
            kind: None,
        });
    }
    let kind = check(node, &received).await?;
    node.artifacts
        .put(up.hash, received.staged, up.owner)
        .await?;
    node.metrics.uploaded(size);
    Ok(Uploaded {
        hash: up.hash,
        size,
        stored: true,
        kind: Some(kind),
    })
}

/// When an upload of `len` bytes must be complete: a base allowance plus the
/// time the slowest acceptable client takes to send it.
fn upload_deadline(config: &Config, len: u64) -> tokio::time::Instant {
    let rate = config.upload_min_bytes_per_sec.max(1);
    let secs = config.body_deadline.as_secs().saturating_add(len / rate);
    tokio::time::Instant::now() + std::time::Duration::from_secs(secs)
}

/// Chunks of an upload queued for each of the writer and the hasher.
const IN_FLIGHT: usize = 8;

struct Received {
    hash: Hash32,
    staged: Staged,
    /// The file's first bytes, through the end of the safetensors header.
    prefix: Vec<u8>,
}

/// Stream the body into a staged file, hashing it, under the cap, the idle
/// timeout and the deadline. Two blocking threads, one hashing and one
/// writing, overlap with this task reading the socket; each chunk is shared
/// (reference-counted), not copied. The file is fsynced before return.
async fn receive<S, E>(
    node: &Node,
    mut body: S,
    cap: u64,
    deadline: tokio::time::Instant,
) -> Result<Received, IngestError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let (mut staged, file) = node.staging.create().map_err(IngestError::Staging)?;
    // Chunks are up to the server's read buffer (1 MiB): a few in flight
    // keep both threads busy, and bound what a slow disk makes an upload
    // hold in memory.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(IN_FLIGHT);
    let (hash_tx, mut hash_rx) = tokio::sync::mpsc::channel::<Bytes>(IN_FLIGHT);
    let hasher = tokio::task::spawn_blocking(move || {
        let mut hasher = Sha256::new();
        while let Some(chunk) = hash_rx.blocking_recv() {
            hasher.update(&chunk);
        }
        Hash32(hasher.finalize().into())
    });
    let writer = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        let mut file = file;
        while let Some(chunk) = rx.blocking_recv() {
            file.write_all(&chunk)?;
        }
        // Data and length are durable; the store makes its name durable.
        file.sync_data()
    });
    let mut size = 0u64;
    let mut prefix = Vec::new();
    let mut prefix_want = 8usize;
    loop {
        let idle = tokio::time::Instant::now() + node.config.body_idle_timeout;
        let next = tokio::time::timeout_at(idle.min(deadline), body.next())
            .await
            .map_err(|_| {
                if tokio::time::Instant::now() >= deadline {
                    IngestError::Timeout
                } else {
                    IngestError::Incomplete(format!(
                        "no bytes for {} s: upload abandoned",
                        node.config.body_idle_timeout.as_secs()
                    ))
                }
            })?;
        let Some(chunk) = next else { break };
        let chunk =
            chunk.map_err(|e| IngestError::Incomplete(format!("the body broke off: {e}")))?;
        size += chunk.len() as u64;
        if size > cap {
            return Err(IngestError::TooLarge(format!(
                "the body is over the {cap}-byte artifact cap"
            )));
        }
        if prefix.len() < prefix_want {
            let take = (prefix_want - prefix.len()).min(chunk.len());
            prefix.extend_from_slice(&chunk[..take]);
            if prefix.len() == 8 && prefix_want == 8 {
                let len = u64::from_le_bytes(prefix[..8].try_into().expect("8 bytes"));
                if len > HEADER_BYTES_MAX {
                    return Err(IngestError::BadArtifact(format!(
                        "safetensors header of {len} bytes is over the {HEADER_BYTES_MAX}-byte cap"
                    )));
                }
                prefix_want = 8 + len as usize;
                let more = (prefix_want - 8).min(chunk.len() - take);
                prefix.extend_from_slice(&chunk[take..take + more]);
            }
        }
        if hash_tx.send(chunk.clone()).await.is_err() || tx.send(chunk).await.is_err() {
            break; // the writer failed; its error is reported below
        }
    }
    drop((tx, hash_tx));
    writer.await?.map_err(IngestError::Staging)?;
    let hash = hasher.await?;
    staged.set_size(size);
    Ok(Received {
        hash,
        staged,
        prefix,
    })
}

/// Check the safetensors header; a model against its architecture tag, a
/// dataset in full with the datasets crate. Returns the kind.
async fn check(node: &Node, r: &Received) -> Result<ArtifactKind, IngestError> {
    let size = r.staged.size();
    let bad = |e: &dyn std::fmt::Display| {
        IngestError::BadArtifact(format!("not a safetensors file: {e}"))
    };
    if r.prefix.len() >= 8 {
        header_len(r.prefix[..8].try_into().expect("8 bytes"), size).map_err(|e| bad(&e))?;
    }
    let header = TensorHeader::parse(&r.prefix, size).map_err(|e| bad(&e))?;
    if let Some(arch) = header.metadata.get(ARCHITECTURE_TAG) {
        let arch: Architecture = arch
            .parse()
            .map_err(|e| IngestError::BadArtifact(format!("model {ARCHITECTURE_TAG} tag: {e}")))?;
        if let Some(tag) = header.metadata.get(ADAPTER_TAG) {
            check_adapter(&arch, tag, &header)?;
            return Ok(ArtifactKind::Model);
        }
        arch.check_tensors(&header.tensors)
            .map_err(|e| IngestError::BadArtifact(format!("model does not match {arch}: {e}")))?;
        return Ok(ArtifactKind::Model);
    }
    if header.metadata.contains_key(datasets::format::key::TASK) {
        if size > node.config.max_dataset_bytes {
            return Err(IngestError::TooLarge(format!(
                "datasets are capped at {} bytes",
                node.config.max_dataset_bytes
            )));
        }
        let path = r.staged.path().to_owned();
        tokio::task::spawn_blocking(move || datasets::Dataset::read_file(&path))
            .await?
            .map_err(|e| IngestError::BadArtifact(format!("not a valid dataset: {e}")))?;
        return Ok(ArtifactKind::Dataset);
    }
    Err(IngestError::BadArtifact(format!(
        "a safetensors file without an {ARCHITECTURE_TAG} tag (model) or a Task tag (dataset)"
    )))
}

/// A LoRA adapter's header: a bert base, a well-formed spec and base hash,
/// and exactly the tensors of the modules it targets.
fn check_adapter(arch: &Architecture, tag: &str, header: &TensorHeader) -> Result<(), IngestError> {
    let bad = |why: String| IngestError::BadArtifact(format!("LoRA adapter: {why}"));
    let Architecture::Bert(base) = arch else {
        return Err(bad(format!("adapters apply to a bert base, not {arch}")));
    };
    let lora = LoraSpec::from_tag(tag, base).map_err(|e| bad(format!("{ADAPTER_TAG} tag: {e}")))?;
    header
        .metadata
        .get(BASE_WEIGHTS_TAG)
        .and_then(|h| h.parse::<Hash32>().ok())
        .ok_or_else(|| bad(format!("no well-formed {BASE_WEIGHTS_TAG} tag")))?;
    lora.check_tensors(base, &header.tensors)
        .map_err(|e| bad(format!("does not match {lora} on {arch}: {e}")))
}
