//! Serving an edge on its own port (`cdlc edge`), the way nginx does it: one
//! single-threaded runtime per core, each accepting on its own
//! `SO_REUSEPORT` listener, so the kernel spreads connections over the cores
//! and a request never moves between threads. HTTP/1.1 and HTTP/2 cleartext
//! (h2c) on the same port.
//!
//! GET and HEAD of `/streams/…` go straight to the edge's handler; every
//! other request (`/metrics`, purge, CORS preflights, the caller's routes)
//! goes through the `Router`. On shutdown the listeners close and open
//! connections get [`DRAIN`] to finish.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, Response};
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::sync::watch;

use crate::Edge;

/// Time open connections get to finish once shutdown begins.
pub const DRAIN: Duration = Duration::from_secs(10);
/// Pending connections each listener queues.
const BACKLOG: i32 = 1024;

/// Listeners bound and ready to serve; binding first lets the caller report
/// a taken port (and the port chosen for `:0`) before anything runs.
#[derive(Debug)]
pub struct Listeners {
    sockets: Vec<std::net::TcpListener>,
    local_addr: SocketAddr,
}

impl Listeners {
    /// Binds `threads` listeners (at least one) to `addr` with `SO_REUSEPORT`.
    pub fn bind(addr: SocketAddr, threads: usize) -> io::Result<Listeners> {
        let first = reuse_port_listener(addr)?;
        // With port 0 the first bind chose the port; the others share it.
        let local_addr = first.local_addr()?;
        let mut sockets = vec![first];
        for _ in 1..threads.max(1) {
            sockets.push(reuse_port_listener(local_addr)?);
        }
        Ok(Listeners { sockets, local_addr })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves `edge` (and `router` for everything but stream objects) until
    /// `shutdown` completes, then drains. Blocks the calling thread.
    pub fn serve(
        self,
        edge: Arc<Edge>,
        router: Router,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> io::Result<()> {
        let (stop, stopped) = watch::channel(false);
        let mut threads = Vec::with_capacity(self.sockets.len());
        for (i, socket) in self.sockets.into_iter().enumerate() {
            let (edge, router, stopped) = (edge.clone(), router.clone(), stopped.clone());
            let thread = std::thread::Builder::new()
                .name(format!("cdlc-edge-{i}"))
                .spawn(move || serve_one(socket, edge, router, stopped))?;
            threads.push(thread);
        }
        let signals = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        signals.block_on(shutdown);
        let _ = stop.send(true);
        let mut result = Ok(());
        for thread in threads {
            match thread.join() {
                Ok(Ok(())) => {}
                Ok(Err(error)) => result = Err(error),
                Err(_) => result = Err(io::Error::other("an edge thread panicked")),
            }
        }
        result
    }
}

fn reuse_port_listener(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// One core: a single-threaded runtime accepting on its own listener.
fn serve_one(
    socket: std::net::TcpListener,
    edge: Arc<Edge>,
    router: Router,
    mut stopped: watch::Receiver<bool>,
) -> io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(socket)?;
        let builder = auto::Builder::new(TokioExecutor::new());
        let graceful = GracefulShutdown::new();
        let fallback = TowerToHyperService::new(router);
        loop {
            let tcp = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((tcp, _)) => tcp,
                    Err(error) => {
                        // Out of file descriptors and the like: wait, do not spin.
                        tracing::warn!(%error, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = stopped.wait_for(|stop| *stop) => break,
            };
            // Small responses (playlists) leave at once instead of waiting for an ACK.
            let _ = tcp.set_nodelay(true);
            let (edge, fallback) = (edge.clone(), fallback.clone());
            let service =
                hyper::service::service_fn(move |request| respond(edge.clone(), fallback.clone(), request));
            let connection = builder.serve_connection(TokioIo::new(tcp), service).into_owned();
            let connection = graceful.watch(connection);
            tokio::spawn(async move {
                let _ = connection.await;
            });
        }
        drop(listener);
        let _ = tokio::time::timeout(DRAIN, graceful.shutdown()).await;
        Ok(())
    })
}

async fn respond(
    edge: Arc<Edge>,
    fallback: TowerToHyperService<Router>,
    request: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let lean = matches!(*request.method(), Method::GET | Method::HEAD)
        && request.uri().path().starts_with("/streams/");
    if lean {
        let (method, path, headers) = (request.method(), request.uri().path(), request.headers());
        return Ok(crate::http::stream_response(&edge, method, path, headers).await);
    }
    hyper::service::Service::call(&fallback, request).await
}
