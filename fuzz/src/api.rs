//! The HTTP API through the real router, in process: a fresh node per input
//! (the fixture's log in memory, artifacts in a temporary directory, a manual
//! clock), one request built from the bytes, and the promises that no request
//! is answered with a 5xx or leaves the state unconserved, and that no read
//! (GET, HEAD) appends to the log.
//!
//! Input: byte 0 picks the method; byte 1 the signing (bit 0: sign the
//! request's headers as a known account picked by the high bits; bit 1: the
//! body is a borsh `Action` that the harness signs with that account's next
//! nonce and posts as JSON); then the path up to a newline; then the body.

use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{Method, Request};
use bounties::auth::{HEADER_ACCOUNT, HEADER_SIGNATURE, HEADER_TIMESTAMP, sign_request};
use bounties::chain::Wallet;
use bounties::{Action, encoding};
use coordinator::artifacts::LocalArtifacts;
use coordinator::clock::ManualClock;
use coordinator::node::{Config, Node};
use coordinator::staging::Staging;
use coordinator::store::LogStore;
use coordinator::store::memory::MemoryLog;
use http_body_util::BodyExt;
use tower::ServiceExt;

use crate::fixture;

const METHODS: [Method; 5] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::HEAD,
];

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
    })
}

pub fn api(data: &[u8]) {
    let [method, flags, rest @ ..] = data else {
        return;
    };
    let method = METHODS[usize::from(*method) % METHODS.len()].clone();
    let (path, body) = match rest.iter().position(|&b| b == b'\n') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let Ok(path) = std::str::from_utf8(path) else {
        return;
    };
    if !path.starts_with('/') {
        return;
    }
    let fx = fixture::state();
    let key = &fx.keys[usize::from(flags >> 2) % fx.keys.len()];
    let now = fx.chain.state().head().timestamp.0 + 1_000;

    let mut request = Request::builder().method(method.clone()).uri(path);
    if flags & 1 == 1 {
        let path_only = path.split('?').next().unwrap_or(path);
        let sig = sign_request(key, fixture::CHAIN, method.as_str(), path_only, now);
        request = request
            .header(HEADER_ACCOUNT, key.account().to_hex())
            .header(HEADER_TIMESTAMP, now.to_string())
            .header(HEADER_SIGNATURE, sig.to_hex());
    }
    let body = if flags & 2 == 2 {
        let Ok(action) = encoding::decode::<Action>(body) else {
            return;
        };
        let nonce = fx.chain.state().nonce(&key.account());
        let signed = Wallet::new(key.clone(), fixture::CHAIN, nonce).sign(action);
        request = request.header("content-type", "application/json");
        Body::from(serde_json::to_vec(&signed).expect("json"))
    } else {
        if body.first() == Some(&b'{') {
            request = request.header("content-type", "application/json");
        }
        Body::from(body.to_vec())
    };
    let Ok(request) = request.body(body) else {
        return;
    };

    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = Arc::new(MemoryLog::default());
    store.append(fx.chain.entries()).expect("the fixture's log");
    let rt = runtime();
    let _guard = rt.enter();
    let node = Node::start(
        store,
        Arc::new(LocalArtifacts::open(&dir.path().join("artifacts")).expect("artifacts")),
        Staging::open(&dir.path().join("staging")).expect("staging"),
        Arc::new(ManualClock::at(now)),
        Some(fx.keys[fx.keys.len() - 2].clone()),
        Config::default(),
    )
    .expect("the node starts");
    let head = node.state().head();
    let router = coordinator::routes::router(Arc::clone(&node));
    rt.block_on(async {
        let response = router.oneshot(request).await.expect("infallible");
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        assert!(
            !status.is_server_error(),
            "{method} {path} answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
    });
    let state = node.state();
    state
        .check_conservation()
        .expect("conservation after a request");
    if matches!(method, Method::GET | Method::HEAD) {
        assert_eq!(state.head(), head, "{method} {path} appended to the log");
    }
}
