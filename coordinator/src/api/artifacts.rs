//! `PUT` and `GET /v1/artifacts/{sha256}`: the signed request's front end to
//! [`crate::ingest`], and sealed downloads streamed from the store.

use axum::Extension;
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bounties::{AccountId, Hash32};

use super::{Shared, parse_hash};
use crate::access::{Visibility, may_read, visibility};
use crate::error::ApiError;
use crate::ingest::{Upload, ingest};
use crate::node::Node;
use crate::server::Peer;

async fn signer(
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
        node.replay_guard.as_ref(),
    )
    .await
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
        .await
        .map_err(refused)?
        .ok_or_else(|| refused(ApiError::Auth("uploading needs a signed request".into())))?;
    let declared_len = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let client = peer.map_or(std::net::Ipv4Addr::LOCALHOST.into(), |Extension(p)| {
        p.0.ip()
    });
    let upload = Upload {
        hash,
        owner,
        declared_len,
        client,
    };
    let uploaded = ingest(&node, upload, body.into_data_stream()).await?;
    let status = if uploaded.stored {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(uploaded)).into_response())
}

pub(super) async fn download(
    State(node): Shared,
    Path(hash): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let hash = parse_hash(&hash)?;
    let state = node.state();
    let rule = visibility(&state, &hash);
    let reader = signer(&node, &headers, "GET", &hash).await?;
    let owners = match rule {
        Visibility::Public => Vec::new(),
        _ => node.artifacts.owners(hash).await?,
    };
    let leased = match reader {
        Some(r) if rule != Visibility::Public => {
            node.leases.grants(r, hash, node.clock.now_ms()).await?
        }
        _ => false,
    };
    if !may_read(&rule, &owners, leased, reader.as_ref()) {
        return Err(match reader {
            None => ApiError::Auth(format!("artifact {hash} is sealed: sign the request")),
            Some(r) => {
                ApiError::Forbidden(format!("artifact {hash} is sealed and {r} may not read it"))
            }
        });
    }
    let Some(artifact) = node.artifacts.read(hash).await? else {
        return Err(ApiError::NotFound(format!("no artifact {hash}")));
    };
    node.metrics.downloaded(artifact.size);
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_LENGTH, artifact.size.to_string()),
        ],
        Body::from_stream(artifact.body),
    )
        .into_response())
}
