//! Serving an edge on its own port (`cdlc edge`), the way nginx does it: one
//! single-threaded runtime per core, so a request never moves between
//! threads and no work-stealing scheduler sits in its path. One acceptor
//! hands each new connection to the core serving the fewest (connections
//! are long-lived keep-alives: balancing them at accept keeps any core from
//! carrying more than its share, which a kernel hash of `SO_REUSEPORT` does
//! not). HTTP/1.1 and HTTP/2 cleartext (h2c) on the same port.
//!
//! GET and HEAD of `/streams/…` go straight to the edge's handler; every
//! other request (`/metrics`, purge, CORS preflights, the caller's routes)
//! goes through the `Router`. On shutdown the listener closes and open
//! connections get [`DRAIN`] to finish.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, Response};
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::sync::mpsc;

use crate::Edge;

/// Time open connections get to finish once shutdown begins.
pub const DRAIN: Duration = Duration::from_secs(10);
/// Pending connections the listener queues.
const BACKLOG: i32 = 1024;
/// Time an HTTP/1 client gets to send a request's headers, counted from when
/// the connection is ready for the next request: a connection that sends
/// nothing (or trickles a header) is closed instead of held forever.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// A bound listener and the number of serving threads; binding first lets
/// the caller report a taken port (and the port chosen for `:0`) before
/// anything runs.
#[derive(Debug)]
pub struct EdgeServer {
    listener: std::net::TcpListener,
    threads: usize,
    local_addr: SocketAddr,
    header_read_timeout: Duration,
}

impl EdgeServer {
    /// Binds `addr`, to be served by `threads` threads (at least one).
    pub fn bind(addr: SocketAddr, threads: usize) -> io::Result<EdgeServer> {
        use socket2::{Domain, Protocol, Socket, Type};
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_reuse_address(true)?;
        socket.set_nonblocking(true)?;
        socket.bind(&addr.into())?;
        socket.listen(BACKLOG)?;
        let listener: std::net::TcpListener = socket.into();
        let local_addr = listener.local_addr()?;
        Ok(EdgeServer {
            listener,
            threads: threads.max(1),
            local_addr,
            header_read_timeout: HEADER_READ_TIMEOUT,
        })
    }

    /// Replaces [`HEADER_READ_TIMEOUT`].
    pub fn header_read_timeout(mut self, timeout: Duration) -> EdgeServer {
        self.header_read_timeout = timeout;
        self
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves `edge` (and `router` for everything but stream objects) until
    /// `shutdown` completes, then drains. Blocks the calling thread, which
    /// accepts; the serving threads are its children.
    pub fn serve(
        self,
        edge: Arc<Edge>,
        router: Router,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> io::Result<()> {
        let mut cores = Vec::with_capacity(self.threads);
        let mut threads = Vec::with_capacity(self.threads);
        for i in 0..self.threads {
            let (handoff, connections) = mpsc::unbounded_channel();
            let open = Arc::new(AtomicUsize::new(0));
            let core = Core {
                edge: edge.clone(),
                router: router.clone(),
                open: open.clone(),
                header_read_timeout: self.header_read_timeout,
            };
            let thread = std::thread::Builder::new()
                .name(format!("cdlc-edge-{i}"))
                .spawn(move || core.serve(connections))?;
            cores.push((handoff, open));
            threads.push(thread);
        }
        let acceptor = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let accepted = acceptor.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(self.listener)?;
            tokio::pin!(shutdown);
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
                    _ = &mut shutdown => return Ok::<_, io::Error>(()),
                };
                // Small responses (playlists) leave at once instead of waiting for an ACK.
                let _ = tcp.set_nodelay(true);
                let (handoff, open) = cores
                    .iter()
                    .min_by_key(|(_, open)| open.load(Ordering::Relaxed))
                    .expect("at least one serving thread");
                let Ok(tcp) = tcp.into_std() else { continue };
                open.fetch_add(1, Ordering::Relaxed);
                if handoff.send(tcp).is_err() {
                    return Err(io::Error::other("an edge thread stopped"));
                }
            }
        });
        // The listener is closed; dropping the hand-offs tells each core to drain.
        drop(acceptor);
        let mut result = accepted;
        for thread in threads {
            match thread.join() {
                Ok(Ok(())) => {}
                Ok(Err(error)) => result = result.and(Err(error)),
                Err(_) => result = Err(io::Error::other("an edge thread panicked")),
            }
        }
        result
    }
}

/// One serving thread: a single-threaded runtime running the connections
/// the acceptor hands it.
struct Core {
    edge: Arc<Edge>,
    router: Router,
    /// Connections open on this core (the acceptor adds, the core removes).
    open: Arc<AtomicUsize>,
    header_read_timeout: Duration,
}

impl Core {
    fn serve(self, mut connections: mpsc::UnboundedReceiver<std::net::TcpStream>) -> io::Result<()> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        runtime.block_on(async move {
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder.http1().timer(TokioTimer::new()).header_read_timeout(self.header_read_timeout);
            builder.http2().timer(TokioTimer::new());
            let graceful = GracefulShutdown::new();
            let fallback = TowerToHyperService::new(self.router);
            while let Some(tcp) = connections.recv().await {
                let open = self.open.clone();
                let Ok(tcp) = tokio::net::TcpStream::from_std(tcp) else {
                    open.fetch_sub(1, Ordering::Relaxed);
                    continue;
                };
                let (edge, fallback) = (self.edge.clone(), fallback.clone());
                let service = hyper::service::service_fn(move |request| {
                    respond(edge.clone(), fallback.clone(), request)
                });
                let connection = builder.serve_connection(TokioIo::new(tcp), service).into_owned();
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    let _ = connection.await;
                    open.fetch_sub(1, Ordering::Relaxed);
                });
            }
            let _ = tokio::time::timeout(DRAIN, graceful.shutdown()).await;
            Ok(())
        })
    }
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
