//! The whole service as one router: the JSON API, the artifact routes and
//! the web pages, under the layers every request passes (a whole-body
//! deadline for JSON bodies, the response counter) and one fallback.

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
        .with_state(node)
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
