//! The accept loop: `axum::serve` with the limits a public-facing intranet
//! service needs. A client must send its request headers within
//! `[server] header_timeout_secs` and pause no longer within its body
//! (also the time an idle kept-alive connection is kept), so half-open
//! connections do not pile up; at most
//! `[server] max_connections` connections are served at once, the next ones
//! wait in the kernel's backlog, so file descriptors never run out and
//! `/healthz` keeps answering. Once a crowd that filled every slot has
//! gone (an eighth of the slots or fewer in use), the allocator's free
//! pages are handed back to the system, so a connection flood leaves the
//! resident memory where it was.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::Service;

/// Times the free memory was handed back after a crowd, since start.
static RELEASES: AtomicU64 = AtomicU64::new(0);

/// Times a crowd that filled every connection slot went and the free memory
/// was handed back to the system, since the process started.
pub fn memory_releases() -> u64 {
    RELEASES.load(Ordering::Relaxed)
}

/// How long a shutdown waits for the requests in flight.
const DRAIN: Duration = Duration::from_secs(30);

/// Serves `app` on `listener` until `shutdown` resolves, then lets the
/// requests in flight finish (at most [`DRAIN`]).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    max_connections: usize,
    header_timeout: Duration,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let max = max_connections.max(1);
    let slots = Arc::new(Semaphore::new(max));
    let crowded = Arc::new(AtomicBool::new(false));
    let mut make = app.into_make_service_with_connect_info::<SocketAddr>();
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => p.map_err(std::io::Error::other)?,
            _ = &mut shutdown => break,
        };
        if slots.available_permits() == 0 {
            crowded.store(true, Ordering::Relaxed);
        }
        let (stream, addr) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of descriptors or a reset before accept: wait, go on.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let svc = match make.call(addr).await {
            Ok(s) => s,
            Err(e) => match e {},
        };
        let svc = TowerToHyperService::new(tower::ServiceExt::map_request(
            svc,
            // A body that stalls longer than a header may is given up,
            // so a client that never finishes one cannot hold its slot.
            move |req: Request<Incoming>| {
                req.map(|b| {
                    axum::body::Body::new(tower_http::timeout::TimeoutBody::new(header_timeout, b))
                })
            },
        ));
        let mut builder = Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout);
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), svc)
            .into_owned();
        let conn = graceful.watch(conn);
        let (slots, crowded) = (slots.clone(), crowded.clone());
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended");
            }
            drop(permit);
            // In use: the slots held, less the one the accept loop waits with.
            let in_use = (max - slots.available_permits()).saturating_sub(1);
            if in_use <= max / 8 && crowded.swap(false, Ordering::Relaxed) {
                tracing::info!("the connection crowd has gone: free memory handed back");
                tokio::task::spawn_blocking(|| {
                    crate::live::release_free_memory();
                    RELEASES.fetch_add(1, Ordering::Relaxed);
                });
            }
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(DRAIN) => tracing::warn!("requests still in flight after the drain time"),
    }
    Ok(())
}
