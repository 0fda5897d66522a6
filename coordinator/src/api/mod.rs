//! The HTTP API under `/v1` (JSON), `/healthz`, `/metrics`, and the web pages.

mod artifacts;

use std::ops::ControlFlow;
use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use bounties::{AccountId, BountyId, SignedMessage};
use bounties_api as wire;

use crate::error::{ApiError, from_json_rejection};
use crate::node::Node;
use crate::params::{parse_hash, parse_id};

/// The cap on JSON request bodies.
pub const JSON_BODY_MAX: usize = 2 * 1024 * 1024;
/// The most entries one log read returns.
pub const LOG_PAGE_MAX: usize = 1000;
/// The most message bytes one log read returns (at least one entry is always
/// returned): a page's size is bounded in bytes, not only in entries.
pub const LOG_PAGE_BYTES_MAX: usize = 4 << 20;
/// Entries read from the store at a time while filling a page.
const LOG_READ_CHUNK: usize = 16;

type Shared = State<Arc<Node>>;
type ApiResult<T> = Result<Json<T>, ApiError>;

/// The `/v1` routes, `/healthz` and `/metrics`; JSON bodies arrive whole
/// within their deadline (layered by [`crate::routes`]).
pub fn routes() -> Router<Arc<Node>> {
    Router::new()
        .route("/v1/info", get(info))
        .route("/v1/messages", post(append))
        .route("/v1/log", get(log))
        .route("/v1/bounties", get(bounties))
        .route("/v1/bounties/{id}", get(bounty))
        .route("/v1/bounties/{id}/leaderboard", get(leaderboard))
        .route("/v1/accounts/{account}", get(account))
        .route("/v1/models/{hash}", get(model))
        .route("/v1/licences", get(licences))
        .route("/v1/jobs", get(jobs))
        .route("/v1/jobs/lease", post(lease))
        .route("/healthz", get(health))
        .route("/metrics", get(metrics))
}

/// The artifact routes: uploads stream under their own cap, checked while reading.
pub fn artifact_routes() -> Router<Arc<Node>> {
    Router::new()
        .route(
            "/v1/artifacts/{hash}",
            get(artifacts::download).put(artifacts::upload),
        )
        .layer(DefaultBodyLimit::disable())
}

async fn info(State(node): Shared) -> Json<wire::Info> {
    let state = node.state();
    let head = state.head();
    Json(wire::Info {
        chain_id: state.chain_id().to_owned(),
        head: wire::Head {
            seq: head.seq,
            hash: head.hash,
            timestamp_ms: head.timestamp.0,
        },
        state_root: node.root(&state),
        operator: state.operator(),
        minter: state.minter(),
        params: state.params().clone(),
        server_time_ms: node.clock.now_ms(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
    })
}

async fn health(State(node): Shared) -> ApiResult<wire::Health> {
    let head_seq = node.state().head().seq;
    let store = Arc::clone(&node.store);
    let stored = tokio::task::spawn_blocking(move || store.head()).await??;
    let store_head_seq = stored.map_or(0, |(seq, _)| seq);
    let epoch = node.metrics.epoch();
    Ok(Json(wire::Health {
        status: "ok".into(),
        role: if node.leads() { "leader" } else { "follower" }.into(),
        epoch,
        head_seq,
        store_head_seq,
        lag: store_head_seq.saturating_sub(head_seq),
    }))
}

async fn append(
    State(node): Shared,
    headers: HeaderMap,
    body: Result<Json<wire::PostMessage>, JsonRejection>,
) -> ApiResult<wire::Appended> {
    // A write another front-end passed on is not passed on again: a stale
    // leader row must not bounce it between followers.
    if headers.contains_key(crate::cluster::forward::FORWARDED) && !node.leads() {
        return Err(crate::node::NodeError::NoLeader(
            "a write was passed to a front-end that does not lead".into(),
        )
        .into());
    }
    let Json(body) = body.map_err(from_json_rejection)?;
    let message = hex::decode(&body.message)
        .map_err(|_| ApiError::BadRequest("message: expected hex bytes".into()))?;
    let signature = body
        .signature
        .parse()
        .map_err(|_| ApiError::BadRequest("signature: expected 128 hex characters".into()))?;
    let appended = node.append(SignedMessage { message, signature }).await?;
    Ok(Json(appended))
}

async fn log(
    State(node): Shared,
    q: Result<Query<wire::LogQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<wire::LogPage> {
    let Query(q) = q.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let limit = q.limit.unwrap_or(LOG_PAGE_MAX).min(LOG_PAGE_MAX);
    let store = Arc::clone(&node.store);
    let entries = tokio::task::spawn_blocking(move || read_page(store.as_ref(), q.from, limit))
        .await
        .map_err(|e| ApiError::Internal(Box::new(e)))??;
    Ok(Json(wire::LogPage { entries }))
}

/// Up to `limit` entries from `from`, stopping before the page's message
/// bytes would pass [`LOG_PAGE_BYTES_MAX`] (but never empty while entries remain).
fn read_page(
    store: &dyn crate::store::LogStore,
    from: u64,
    limit: usize,
) -> Result<Vec<bounties::Entry>, crate::store::StoreError> {
    let mut page = Vec::new();
    let mut bytes = 0usize;
    crate::store::for_each_chunk(store, from, LOG_READ_CHUNK.min(limit), |chunk| {
        for entry in chunk {
            bytes += entry.message.len();
            if page.len() == limit || (bytes > LOG_PAGE_BYTES_MAX && !page.is_empty()) {
                return Ok::<_, crate::store::StoreError>(ControlFlow::Break(()));
            }
            page.push(entry);
        }
        Ok(ControlFlow::Continue(()))
    })?;
    Ok(page)
}

async fn bounties(State(node): Shared) -> Json<wire::BountyList> {
    let state = node.state();
    Json(wire::BountyList {
        bounties: state.bounties().cloned().collect(),
    })
}

async fn bounty(State(node): Shared, Path(id): Path<String>) -> ApiResult<wire::BountyPage> {
    let id = BountyId(parse_id(&id)?);
    let state = node.state();
    let bounty = state
        .bounty(id)
        .ok_or_else(|| ApiError::NotFound(format!("no bounty {id}")))?;
    let submissions = state
        .submissions_of(id)
        .into_iter()
        .map(|s| wire::SubmissionReceipts {
            submission: s.clone(),
            receipts: state.receipts_for(s.id).into_iter().cloned().collect(),
        })
        .collect();
    Ok(Json(wire::BountyPage {
        bounty: bounty.clone(),
        submissions,
        leaderboard: state.leaderboard(id).unwrap_or_default(),
    }))
}

async fn leaderboard(State(node): Shared, Path(id): Path<String>) -> ApiResult<wire::Leaderboard> {
    let id = BountyId(parse_id(&id)?);
    let rows = node
        .state()
        .leaderboard(id)
        .ok_or_else(|| ApiError::NotFound(format!("no bounty {id}")))?;
    Ok(Json(wire::Leaderboard { bounty: id, rows }))
}

async fn account(State(node): Shared, Path(account): Path<String>) -> ApiResult<wire::AccountPage> {
    let account: AccountId = account
        .parse()
        .map_err(|_| ApiError::BadRequest("an account is 64 lowercase hex characters".into()))?;
    let state = node.state();
    Ok(Json(wire::AccountPage {
        account: state.account(&account),
        licences: state.licences_of(&account).into_iter().cloned().collect(),
    }))
}

async fn model(State(node): Shared, Path(hash): Path<String>) -> ApiResult<wire::ModelPage> {
    let hash = parse_hash(&hash)?;
    let state = node.state();
    let provenance = state
        .provenance(&hash)
        .ok_or_else(|| ApiError::NotFound(format!("no model with weights hash {hash}")))?;
    Ok(Json(provenance))
}

async fn licences(
    State(node): Shared,
    q: Result<Query<wire::LicenceQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<wire::LicenceList> {
    let Query(q) = q.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let state = node.state();
    let list = match (q.licensee, q.model) {
        (Some(a), None) => {
            let a: AccountId = a.parse().map_err(|_| {
                ApiError::BadRequest("licensee: 64 lowercase hex characters".into())
            })?;
            state.licences_of(&a)
        }
        (None, Some(m)) => state.licences_for(&parse_hash(&m)?),
        _ => {
            return Err(ApiError::BadRequest(
                "give exactly one of ?licensee=ACCOUNT or ?model=WEIGHTS_HASH".into(),
            ));
        }
    };
    Ok(Json(wire::LicenceList {
        licences: list.into_iter().cloned().collect(),
    }))
}

async fn jobs(State(node): Shared) -> ApiResult<wire::JobList> {
    let active = node
        .leases
        .active(node.clock.now_ms())
        .await?
        .into_iter()
        .map(|l| wire::ActiveLease {
            submission: l.submission,
            bounty: l.bounty,
            evaluator: l.evaluator,
            expires_at_ms: l.expires_at_ms,
        })
        .collect();
    Ok(Json(wire::JobList { leases: active }))
}

async fn lease(State(node): Shared, headers: HeaderMap) -> ApiResult<wire::LeaseGrant> {
    let state = node.state();
    let evaluator = crate::auth::signer(
        &headers,
        &state,
        "POST",
        "/v1/jobs/lease",
        node.clock.now_ms(),
        node.replay_guard.as_ref(),
    )
    .await?
    .ok_or_else(|| ApiError::Auth("leasing a job needs a signed request".into()))?;
    if !state.in_good_standing(&evaluator) {
        return Err(ApiError::Forbidden(format!(
            "{evaluator} is not a registered evaluator with the minimum bond"
        )));
    }
    let mut token = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut token);
    let lease = node
        .leases
        .lease(
            Arc::clone(&state),
            evaluator,
            node.clock.now_ms(),
            node.config.lease_ttl_ms,
            hex::encode(token),
        )
        .await?
        .ok_or(ApiError::NoJob)?;
    node.metrics.leased();
    let bounty = state.bounty(lease.bounty).expect("leased from the state");
    Ok(Json(wire::LeaseGrant {
        lease,
        spec: (*bounty.spec).clone(),
    }))
}

async fn metrics(State(node): Shared) -> impl IntoResponse {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        node.metrics.render(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::LogStore;
    use crate::store::memory::MemoryLog;
    use bounties::{Entry, Hash32, Signature, TimestampMs};

    fn entry(seq: u64, bytes: usize) -> Entry {
        Entry {
            seq,
            prev_hash: Hash32::ZERO,
            timestamp_ms: TimestampMs(seq),
            message: vec![0; bytes],
            signature: Signature([0; 64]),
        }
    }

    #[test]
    fn a_log_page_is_bounded_in_bytes_and_never_empty() {
        let log = MemoryLog::default();
        let entries: Vec<Entry> = (0..40).map(|i| entry(i, 900_000)).collect();
        log.append(&entries).unwrap();
        let page = read_page(&log, 0, LOG_PAGE_MAX).unwrap();
        let bytes: usize = page.iter().map(|e| e.message.len()).sum();
        assert_eq!(page.len(), LOG_PAGE_BYTES_MAX / 900_000);
        assert!(bytes <= LOG_PAGE_BYTES_MAX);
        // The next page starts where this one stopped.
        let next = read_page(&log, page.len() as u64, LOG_PAGE_MAX).unwrap();
        assert_eq!(next[0].seq, page.len() as u64);
        // An entry larger than the budget still comes, alone.
        let huge = MemoryLog::default();
        huge.append(&[entry(0, LOG_PAGE_BYTES_MAX + 1), entry(1, 10)])
            .unwrap();
        assert_eq!(read_page(&huge, 0, 10).unwrap().len(), 1);
        assert_eq!(read_page(&log, 0, 3).unwrap().len(), 3);
    }
}
