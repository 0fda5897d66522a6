//! The HTTP server loop: hyper with a header-read timeout (a client that
//! dribbles its headers is dropped; stock `axum::serve` would wait forever),
//! a cap on the connections one client address may hold open (so slow
//! clients from one place cannot use up the file descriptors), the client's
//! address on every request, and graceful shutdown.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tower::ServiceExt;

/// The client's address, put on each request.
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub SocketAddr);

/// Open connections per client address.
#[derive(Clone, Debug, Default)]
struct Connections(Arc<Mutex<BTreeMap<IpAddr, usize>>>);

/// One open connection, counted until dropped.
struct Counted(Connections, IpAddr);

impl Connections {
    fn open(&self, ip: IpAddr, max: usize) -> Option<Counted> {
        let mut map = self.0.lock().expect("lock");
        let n = map.entry(ip).or_default();
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Counted(self.clone(), ip))
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        let mut map = (self.0).0.lock().expect("lock");
        if let Some(n) = map.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.1);
            }
        }
    }
}

/// Serve `router` on `listener` until `shutdown` resolves; connections in
/// flight then get a moment to finish. A client address holding
/// `per_client` connections has further ones closed at once.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    header_timeout: Duration,
    per_client: usize,
    shutdown: impl Future<Output = ()>,
) {
    let connections = Connections::default();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(1 << 20);
    let builder = Arc::new(builder.http1_only());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (stream, addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(counted) = connections.open(addr.ip(), per_client) else {
            // Over the cap: close without reading a byte.
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let builder = Arc::clone(&builder);
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let _counted = counted;
            let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(Peer(addr));
                router.clone().oneshot(req)
            });
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = stop.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
                }
            }
        });
    }
    let _ = stop_tx.send(true);
}
