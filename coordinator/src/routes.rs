//! The whole service as one router: the JSON API, the artifact routes and
//! the web pages, under the layers every request passes (a span and a log
//! line per request, a whole-body deadline for JSON bodies, the response
//! counter) and one fallback.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};

use crate::api::JSON_BODY_MAX;
use crate::error::ApiError;
use crate::node::Node;

type Shared = State<Arc<Node>>;

/// The whole router.
pub fn router(node: Arc<Node>) -> Router {
    let json =
        crate::api::routes()
            .merge(crate::web::routes())
            .layer(middleware::from_fn_with_state(
                Arc::clone(&node),
                whole_body_in_time,
            ));
    json.merge(crate::api::artifact_routes())
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .layer(middleware::from_fn_with_state(Arc::clone(&node), count))
        .layer(middleware::from_fn(traced))
        .with_state(node)
}

/// Run the request in a span (id, method, route) and log its status and latency.
async fn traced(req: Request, next: Next) -> Response {
    use tracing::Instrument;
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        // Unrouted paths are the client's text: bounded before they reach a log.
        .map_or_else(
            || req.uri().path().chars().take(200).collect(),
            |p| p.as_str().to_owned(),
        );
    let span = tracing::info_span!(
        "request",
        id = crate::logging::request_id(),
        method = %req.method(),
        route = %route,
    );
    let started = std::time::Instant::now();
    let res = next.run(req).instrument(span.clone()).await;
    let status = res.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1e3;
    span.in_scope(|| {
        if status >= 500 {
            tracing::warn!(status, latency_ms, "answered");
        } else {
            tracing::info!(status, latency_ms, "answered");
        }
    });
    res
}

/// Read a (JSON) request body whole, under [`JSON_BODY_MAX`] and within the
/// configured deadline, before any handler runs: a client that declares a
/// body and trickles it (or never sends it) is cut off, however slowly it sends.
async fn whole_body_in_time(State(node): Shared, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let deadline = node.config.body_deadline;
    match tokio::time::timeout(deadline, axum::body::to_bytes(body, JSON_BODY_MAX)).await {
        Err(_) => ApiError::Timeout(format!(
            "the request body did not arrive within {} s",
            deadline.as_secs()
        ))
        .into_response(),
        Ok(Err(e)) => {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            if too_large {
                ApiError::TooLarge(format!(
                    "request bodies are capped at {JSON_BODY_MAX} bytes"
                ))
                .into_response()
            } else {
                ApiError::Incomplete(format!("the body broke off: {e}")).into_response()
            }
        }
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
                .await
        }
    }
}

async fn count(State(node): Shared, req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    node.metrics.response(res.status().as_u16());
    res
}
