//! Every HTTP error, mapped to a status and a JSON body in one place:
//! `{"error": {"code": "...", "message": "..."}}`, with stable codes.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::ingest::IngestError;
use crate::node::NodeError;
use crate::publication::PublicationError;

/// An error answered over HTTP.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A malformed request (bad JSON, unknown field, bad parameter).
    #[error("{0}")]
    BadRequest(String),
    /// A path parameter that is not a 64-hex hash.
    #[error("{0:?} is not a SHA-256 hash (64 lowercase hex characters)")]
    BadHash(String),
    /// Nothing there.
    #[error("{0}")]
    NotFound(String),
    /// Bad, stale or replayed request signature.
    #[error("{0}")]
    Auth(String),
    /// Signed, but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// Body larger than allowed.
    #[error("{0}")]
    TooLarge(String),
    /// A client that sent too slowly or broke off.
    #[error("{0}")]
    Incomplete(String),
    /// A body that did not arrive in time.
    #[error("{0}")]
    Timeout(String),
    /// A domain refusal or failure of the service core.
    #[error(transparent)]
    Node(#[from] NodeError),
    /// An upload refused or failed.
    #[error(transparent)]
    Ingest(#[from] IngestError),
    /// The evaluator has no job to do now.
    #[error("no submission needs a receipt from this evaluator now")]
    NoJob,
    /// Something failed on our side: logged in full, never sent.
    #[error("internal error: {0}")]
    Internal(Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    /// The status and stable code.
    pub fn status_and_code(&self) -> (StatusCode, &str) {
        use ApiError::*;
        match self {
            BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            BadHash(_) => (StatusCode::BAD_REQUEST, "bad_hash"),
            NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Auth(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            Incomplete(_) => (StatusCode::BAD_REQUEST, "incomplete_body"),
            Timeout(_) => (StatusCode::REQUEST_TIMEOUT, "body_timeout"),
            Node(e) => match e {
                NodeError::Rejected(r) => (StatusCode::UNPROCESSABLE_ENTITY, r.code()),
                NodeError::NotUploaded { .. }
                | NodeError::Publication(PublicationError::NotUploaded { .. }) => {
                    (StatusCode::UNPROCESSABLE_ENTITY, "not_uploaded")
                }
                NodeError::Publication(PublicationError::NotAModel { .. }) => {
                    (StatusCode::UNPROCESSABLE_ENTITY, "not_a_model")
                }
                NodeError::Publication(PublicationError::WeightsMismatch { .. }) => {
                    (StatusCode::UNPROCESSABLE_ENTITY, "weights_mismatch")
                }
                NodeError::Publication(PublicationError::Artifacts(_)) => {
                    (StatusCode::INTERNAL_SERVER_ERROR, "internal")
                }
                NodeError::Stopped => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
                NodeError::NoLeader(_) => (StatusCode::SERVICE_UNAVAILABLE, "no_leader"),
                NodeError::LeaderLost(_) => (StatusCode::SERVICE_UNAVAILABLE, "outcome_unknown"),
                // This front-end stopped leading mid-write: nothing of it was
                // written; the retry goes to the new leader.
                NodeError::Store(e) if matches!(**e, crate::store::StoreError::Deposed { .. }) => {
                    (StatusCode::SERVICE_UNAVAILABLE, "no_leader")
                }
                // Passed back as the writer answered (a status it should
                // not send at all is a bad gateway).
                NodeError::Leader { status, code, .. } => (
                    StatusCode::from_u16(*status)
                        .ok()
                        .filter(|s| s.is_client_error() || s.is_server_error())
                        .unwrap_or(StatusCode::BAD_GATEWAY),
                    code.as_str(),
                ),
                NodeError::NoOperatorKey | NodeError::Store(_) | NodeError::Artifacts(_) => {
                    (StatusCode::INTERNAL_SERVER_ERROR, "internal")
                }
            },
            Ingest(e) => match e {
                IngestError::TooManyUploads(_) => {
                    (StatusCode::TOO_MANY_REQUESTS, "too_many_uploads")
                }
                IngestError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
                IngestError::HashMismatch { .. } => (StatusCode::BAD_REQUEST, "hash_mismatch"),
                IngestError::BadArtifact(_) => (StatusCode::UNPROCESSABLE_ENTITY, "bad_artifact"),
                IngestError::Incomplete(_) => (StatusCode::BAD_REQUEST, "incomplete_body"),
                IngestError::Timeout => (StatusCode::REQUEST_TIMEOUT, "body_timeout"),
                IngestError::Staging(_) | IngestError::Artifacts(_) | IngestError::Worker(_) => {
                    (StatusCode::INTERNAL_SERVER_ERROR, "internal")
                }
            },
            NoJob => (StatusCode::NOT_FOUND, "no_job"),
            Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        ApiError::Internal(Box::new(e))
    }
}

impl From<crate::artifacts::ArtifactError> for ApiError {
    fn from(e: crate::artifacts::ArtifactError) -> Self {
        ApiError::Internal(Box::new(e))
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        ApiError::Internal(Box::new(e))
    }
}

impl ApiError {
    /// Whether the cause is ours, not the client's: logged, and not described to the client.
    fn is_internal(&self) -> bool {
        self.status_and_code().0 == StatusCode::INTERNAL_SERVER_ERROR
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let code = code.to_owned();
        let message = if self.is_internal() {
            // The details may name paths or the database: the log gets them.
            tracing::error!(error = %chain(&self), "internal error");
            "internal error; the operator's log has the details".to_owned()
        } else {
            self.to_string()
        };
        let body = bounties_api::ErrorBody {
            error: bounties_api::ErrorDetail { code, message },
        };
        (status, Json(body)).into_response()
    }
}

/// An error with its sources, `a: b: c`.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.ends_with(&more) {
            text = format!("{text}: {more}");
        }
        source = s.source();
    }
    text
}

/// Turn axum's extractor rejections (bad JSON, unknown fields, bad query)
/// into the same JSON error shape.
pub fn from_json_rejection(r: axum::extract::rejection::JsonRejection) -> ApiError {
    use axum::extract::rejection::JsonRejection::*;
    match r {
        BytesRejection(b) if b.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::TooLarge(b.body_text())
        }
        other => ApiError::BadRequest(other.body_text()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_internal_error_is_answered_without_its_details() {
        let cause = std::io::Error::other("disk full at /srv/chain/artifacts/tmp");
        let res = ApiError::Internal(Box::new(cause)).into_response();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(res.into_body(), 1 << 16)
            .await
            .unwrap();
        let body: bounties_api::ErrorBody = serde_json::from_slice(&body).unwrap();
        assert_eq!(body.error.code, "internal");
        assert!(
            !body.error.message.contains("/srv"),
            "{}",
            body.error.message
        );
        // A client's own mistake is described to it.
        let res = ApiError::NotFound("no bounty 7".into()).into_response();
        let body = axum::body::to_bytes(res.into_body(), 1 << 16)
            .await
            .unwrap();
        assert!(String::from_utf8_lossy(&body).contains("no bounty 7"));
    }
}
