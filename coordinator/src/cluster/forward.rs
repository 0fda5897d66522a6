//! A follower's writes, passed to the log's writer over HTTP: the writer is
//! whoever the database's leader row names, asked again after each
//! takeover; its answer, acknowledgement or refusal, comes back as it was.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::artifacts::BoxFuture;
use bounties::SignedMessage;
use bounties_api as wire;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::node::{Forward, NodeError};
use crate::sequencer::Appended;
use crate::store::postgres::Database;

/// The header on a passed-on write: a front-end that receives one and does
/// not lead refuses it rather than passing it on again (no loops).
pub const FORWARDED: &str = "x-model-bounties-forwarded";

/// How long a write waits for a writer to be elected and reachable.
const FIND_LEADER_WITHIN: Duration = Duration::from_secs(10);
/// How long one passed-on write may take.
const ANSWER_WITHIN: Duration = Duration::from_secs(30);
/// The most bytes of the writer's answer read.
const ANSWER_BYTES_MAX: usize = 1 << 20;

/// Passes writes to the leader the database names.
#[allow(missing_debug_implementations)]
pub struct ToLeader {
    database: Database,
    own_url: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl ToLeader {
    /// Pass writes to the leader named in `database`; `own_url` is this
    /// front-end's (a leader row naming it is stale: it does not lead).
    pub fn new(database: Database, own_url: &str) -> Arc<ToLeader> {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(2)));
        Arc::new(ToLeader {
            database,
            own_url: own_url.to_owned(),
            client: Client::builder(TokioExecutor::new()).build(connector),
        })
    }

    /// Where the writer serves now, waiting (a while) for one to be elected.
    async fn leader_url(&self, deadline: Instant) -> Result<String, NodeError> {
        loop {
            let leader = self
                .database
                .leader()
                .await
                .map_err(|e| NodeError::NoLeader(e.to_string()))?;
            match leader.and_then(|l| l.url) {
                Some(url) if url != self.own_url => return Ok(url),
                // This front-end took the lock: the write is its own to make.
                Some(_) => {
                    return Err(NodeError::NoLeader(
                        "this front-end is taking over as the writer".into(),
                    ));
                }
                None if Instant::now() >= deadline => {
                    return Err(NodeError::NoLeader("no front-end leads the log".into()));
                }
                None => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    async fn pass(&self, signed: SignedMessage) -> Result<Appended, NodeError> {
        let body = Bytes::from(
            serde_json::to_vec(&wire::PostMessage {
                message: hex::encode(&signed.message),
                signature: signed.signature.to_hex(),
            })
            .expect("a message serialises"),
        );
        let deadline = Instant::now() + FIND_LEADER_WITHIN;
        loop {
            let url = self.leader_url(deadline).await?;
            let request = hyper::Request::post(format!("{url}/v1/messages"))
                .header(hyper::header::CONTENT_TYPE, "application/json")
                .header(FORWARDED, "1")
                .body(Full::new(body.clone()))
                .map_err(|e| NodeError::NoLeader(format!("{url}: {e}")))?;
            let response =
                match tokio::time::timeout(ANSWER_WITHIN, self.client.request(request)).await {
                    Ok(Ok(response)) => response,
                    // Not connected: the write never left, so trying the next
                    // writer cannot apply it twice.
                    Ok(Err(e)) if e.is_connect() && Instant::now() < deadline => {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                    // Sent, and the answer lost: it may have been applied. The
                    // client's retry (same nonce) settles which.
                    Ok(Err(e)) => return Err(NodeError::LeaderLost(format!("{url}: {e}"))),
                    Err(_) => {
                        return Err(NodeError::LeaderLost(format!("{url}: no answer in time")));
                    }
                };
            let status = response.status();
            let bytes = Limited::new(response.into_body(), ANSWER_BYTES_MAX)
                .collect()
                .await
                .map_err(|e| NodeError::LeaderLost(format!("{url}: the answer broke off: {e}")))?
                .to_bytes();
            return if status.is_success() {
                serde_json::from_slice::<Appended>(&bytes)
                    .map_err(|e| NodeError::LeaderLost(format!("{url}: unexpected answer: {e}")))
            } else {
                match serde_json::from_slice::<wire::ErrorBody>(&bytes) {
                    Ok(body) => Err(NodeError::Leader {
                        status: status.as_u16(),
                        code: body.error.code,
                        message: body.error.message,
                    }),
                    Err(_) => Err(NodeError::LeaderLost(format!(
                        "{url}: answered HTTP {status}"
                    ))),
                }
            };
        }
    }
}

impl Forward for ToLeader {
    fn forward(&self, signed: SignedMessage) -> BoxFuture<'_, Result<Appended, NodeError>> {
        Box::pin(self.pass(signed))
    }
}
