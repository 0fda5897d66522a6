//! `PUT` and `GET /v1/artifacts/{sha256}`: streamed, hashed, checked, sealed.

use std::path::Path as FsPath;

use axum::Extension;
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bounties::arch::{ARCHITECTURE_TAG, Architecture};
use bounties::tensorfile::{HEADER_BYTES_MAX, TensorHeader, header_len};
use bounties::{AccountId, Hash32};
use bounties_api::ArtifactKind;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use std::io::Write;

use super::{Shared, parse_hash};
use crate::access::{Visibility, may_read, visibility};
use crate::error::ApiError;
use crate::node::Node;
use crate::server::Peer;

/// Deletes an upload's temp file unless it was kept.
struct TempFile<'a>(&'a FsPath, bool);

impl Drop for TempFile<'_> {
    fn drop(&mut self) {
        if !self.1 {
            let _ = std::fs::remove_file(self.0);
        }
    }
}

fn signer(
    node: &Node,
    headers: &HeaderMap,
    method: &str,
    hash: &Hash32,
) -> Result<Option<AccountId>, ApiError> {
    let state = node.state();
    crate::auth::signer(
        headers,
        &state,
        method,
        &format!("/v1/artifacts/{hash}"),
        node.clock.now_ms(),
        &node.replay_guard,
    )
}

pub(super) async fn upload(
    State(node): Shared,
    Path(hash): Path<String>,
    peer: Option<Extension<Peer>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let refused = |e: ApiError| {
        node.metrics.upload_refused();
        e
    };
    let hash = parse_hash(&hash).map_err(refused)?;
    let owner = signer(&node, &headers, "PUT", &hash)
        .map_err(refused)?
        .ok_or_else(|| refused(ApiError::Auth("uploading needs a signed request".into())))?;
    let cap = node.config.max_artifact_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(len) = declared.filter(|&len| len > cap) {
        return Err(refused(ApiError::TooLarge(format!(
            "{len} bytes is over the {cap}-byte artifact cap"
        ))));
    }
    let ip = peer.map_or(std::net::Ipv4Addr::LOCALHOST.into(), |Extension(p)| {
        p.0.ip()
    });
    let _slot = node
        .uploads
        .acquire(ip, node.config.uploads_per_client)
        .map_err(|e| refused(e.into()))?;

    let tmp_path = node.artifacts.temp_path();
    let mut tmp = TempFile(&tmp_path, false);
    // The whole body must arrive by this deadline, however it trickles in.
    let deadline = upload_deadline(&node.config, declared.unwrap_or(cap));
    let received = receive(&node, body, &tmp_path, cap, deadline)
        .await
        .map_err(refused)?;
    if received.hash != hash {
        return Err(refused(ApiError::HashMismatch {
            expected: hash.to_hex(),
            got: received.hash.to_hex(),
        }));
    }
    // Ownership comes from the bytes alone: an uploader of a stored artifact
    // is recorded only after sending all of it again (a signed PUT that only
    // names the hash is refused above by the hash check).
    if node.artifacts.size(hash).await?.is_some() {
        node.artifacts.add_owner(hash, owner).await?;
        return Ok((
            StatusCode::OK,
            Json(bounties_api::Uploaded {
                hash,
                size: received.size,
                stored: false,
                kind: None,
            }),
        )
            .into_response());
    }
    let kind = check(&node, &received, &tmp_path).await.map_err(refused)?;
    node.artifacts.store(hash, &tmp_path, owner).await?;
    tmp.1 = true;
    node.metrics.uploaded(received.size);
    Ok((
        StatusCode::CREATED,
        Json(bounties_api::Uploaded {
            hash,
            size: received.size,
            stored: true,
            kind: Some(kind),
        }),
    )
        .into_response())
}

struct Received {
    hash: Hash32,
    size: u64,
    /// The file's first bytes, through the end of the safetensors header.
    prefix: Vec<u8>,
}

/// Stream the body into `path`, hashing it, under the cap and the idle
/// timeout. A blocking writer thread hashes and writes while this task keeps
/// reading the socket, so the two overlap; the file is fsynced before return.
/// When an upload of `len` bytes must be complete: a base allowance plus the
/// time the slowest acceptable client takes to send it.
fn upload_deadline(config: &crate::node::Config, len: u64) -> tokio::time::Instant {
    let rate = config.upload_min_bytes_per_sec.max(1);
    let secs = config.body_deadline.as_secs().saturating_add(len / rate);
    tokio::time::Instant::now() + std::time::Duration::from_secs(secs)
}

async fn receive(
    node: &Node,
    body: Body,
    path: &FsPath,
    cap: u64,
    deadline: tokio::time::Instant,
) -> Result<Received, ApiError> {
    let internal = |e: std::io::Error| ApiError::Internal(Box::new(e));
    let file = std::fs::File::create(path).map_err(internal)?;
    // Two blocking threads, one hashing and one writing, so neither waits for
    // the other; each chunk is shared (reference-counted), not copied.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(64);
    let (hash_tx, mut hash_rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(64);
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
        // Data and length are durable; the rename into place is synced after.
        file.sync_data()
    });
    let mut size = 0u64;
    let mut prefix = Vec::new();
    let mut prefix_want = 8usize;
    let mut stream = body.into_data_stream();
    loop {
        let idle = tokio::time::Instant::now() + node.config.body_idle_timeout;
        let next = tokio::time::timeout_at(idle.min(deadline), stream.next())
            .await
            .map_err(|_| {
                if tokio::time::Instant::now() >= deadline {
                    ApiError::Timeout("the upload did not complete in time: abandoned".into())
                } else {
                    ApiError::Incomplete(format!(
                        "no bytes for {} s: upload abandoned",
                        node.config.body_idle_timeout.as_secs()
                    ))
                }
            })?;
        let Some(chunk) = next else { break };
        let chunk = chunk.map_err(|e| ApiError::Incomplete(format!("the body broke off: {e}")))?;
        size += chunk.len() as u64;
        if size > cap {
            return Err(ApiError::TooLarge(format!(
                "the body is over the {cap}-byte artifact cap"
            )));
        }
        if prefix.len() < prefix_want {
            let take = (prefix_want - prefix.len()).min(chunk.len());
            prefix.extend_from_slice(&chunk[..take]);
            if prefix.len() == 8 && prefix_want == 8 {
                let len = u64::from_le_bytes(prefix[..8].try_into().expect("8 bytes"));
                if len > HEADER_BYTES_MAX {
                    return Err(ApiError::BadArtifact(format!(
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
    let joined = |e: tokio::task::JoinError| ApiError::Internal(Box::new(e));
    writer.await.map_err(joined)?.map_err(internal)?;
    let hash = hasher.await.map_err(joined)?;
    Ok(Received { hash, size, prefix })
}

/// Check the safetensors header; a model against its architecture tag, a
/// dataset in full with the datasets crate. Returns the kind.
async fn check(node: &Node, r: &Received, path: &FsPath) -> Result<ArtifactKind, ApiError> {
    if r.prefix.len() >= 8 {
        header_len(r.prefix[..8].try_into().expect("8 bytes"), r.size)
            .map_err(|e| ApiError::BadArtifact(format!("not a safetensors file: {e}")))?;
    }
    let header = TensorHeader::parse(&r.prefix, r.size)
        .map_err(|e| ApiError::BadArtifact(format!("not a safetensors file: {e}")))?;
    if let Some(arch) = header.metadata.get(ARCHITECTURE_TAG) {
        let arch: Architecture = arch
            .parse()
            .map_err(|e| ApiError::BadArtifact(format!("model {ARCHITECTURE_TAG} tag: {e}")))?;
        arch.check_tensors(&header.tensors)
            .map_err(|e| ApiError::BadArtifact(format!("model does not match {arch}: {e}")))?;
        return Ok(ArtifactKind::Model);
    }
    if header.metadata.contains_key(datasets::format::key::TASK) {
        if r.size > node.config.max_dataset_bytes {
            return Err(ApiError::TooLarge(format!(
                "datasets are capped at {} bytes",
                node.config.max_dataset_bytes
            )));
        }
        let path = path.to_owned();
        tokio::task::spawn_blocking(move || datasets::Dataset::read_file(&path))
            .await
            .map_err(|e| ApiError::Internal(Box::new(e)))?
            .map_err(|e| ApiError::BadArtifact(format!("not a valid dataset: {e}")))?;
        return Ok(ArtifactKind::Dataset);
    }
    Err(ApiError::BadArtifact(format!(
        "a safetensors file without an {ARCHITECTURE_TAG} tag (model) or a Task tag (dataset)"
    )))
}

pub(super) async fn download(
    State(node): Shared,
    Path(hash): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let hash = parse_hash(&hash)?;
    let state = node.state();
    let rule = visibility(&state, &hash);
    let reader = signer(&node, &headers, "GET", &hash)?;
    let owners = match rule {
        Visibility::Public => Vec::new(),
        _ => node.artifacts.owners(hash).await?,
    };
    let leased = reader.is_some_and(|r| {
        node.leases
            .lock()
            .expect("lock")
            .grants(&r, &hash, node.clock.now_ms())
    });
    if !may_read(&rule, &owners, leased, reader.as_ref()) {
        return Err(match reader {
            None => ApiError::Auth(format!("artifact {hash} is sealed: sign the request")),
            Some(r) => {
                ApiError::Forbidden(format!("artifact {hash} is sealed and {r} may not read it"))
            }
        });
    }
    let (Some(size), Some(file)) = (
        node.artifacts.size(hash).await?,
        node.artifacts.open(hash).await?,
    ) else {
        return Err(ApiError::NotFound(format!("no artifact {hash}")));
    };
    node.metrics.downloaded(size);
    let stream = tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024);
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_LENGTH, size.to_string()),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}
