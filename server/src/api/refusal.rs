//! Refusing a request before its body is read, so that the client can read
//! the refusal.
//!
//! Handlers refuse uploads (no token, wrong headers, too large) before they
//! read, or finish reading, the body. Closing a socket whose receive buffer
//! still holds bytes makes the kernel send a reset, and a client still
//! sending (Python's http.client, any client without `Expect:
//! 100-continue`) then gets EPIPE or ECONNRESET instead of the answer. So
//! after a refusal the rest of the body is read and dropped, up to
//! [`DRAIN_BYTES`] and [`DRAIN_TIME`]; a body announced or found larger
//! than that is not read, and the connection is closed after the answer.
//!
//! A client that sent `Expect: 100-continue` waits: hyper answers 100 only
//! when the body is first read, so a handler that refuses before reading
//! sends the refusal and no 100, and nothing is drained.

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::{header, HeaderValue, Version};
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Frame, SizeHint};

/// Most bytes of a refused request's body read to let its client hear the
/// refusal. It bounds what an unauthenticated client can make the server
/// read, and it is above what loopback and LAN clients have in flight.
pub const DRAIN_BYTES: u64 = 8 << 20;
/// Longest time spent reading a refused request's body.
pub const DRAIN_TIME: Duration = Duration::from_secs(2);

/// The middleware: see the module's documentation.
pub async fn drain_refused(request: Request, next: Next) -> Response {
    if request.body().is_end_stream() {
        return next.run(request).await;
    }
    let expects_continue = request
        .headers()
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let http1 = request.version() <= Version::HTTP_11;
    let (parts, body) = request.into_parts();
    let shared = Arc::new(SharedState { body: Mutex::new(body), polled: Default::default() });
    let mut response = next.run(Request::from_parts(parts, Body::new(SharedBody(shared.clone())))).await;
    if !(response.status().is_client_error() || response.status().is_server_error()) {
        return response;
    }
    let untouched = !shared.polled.load(std::sync::atomic::Ordering::Relaxed);
    let drained = if expects_continue && untouched { false } else { drain(&shared).await };
    if !drained && http1 {
        response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

struct SharedState {
    body: Mutex<Body>,
    /// Whether the handler read the body at all (and so sent a 100 Continue).
    polled: std::sync::atomic::AtomicBool,
}

impl SharedState {
    fn body(&self) -> MutexGuard<'_, Body> {
        self.body.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The request body as the handler sees it; the middleware keeps a handle
/// to read what the handler left.
struct SharedBody(Arc<SharedState>);

impl HttpBody for SharedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        self.0.polled.store(true, std::sync::atomic::Ordering::Relaxed);
        Pin::new(&mut *self.0.body()).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.0.body().is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.0.body().size_hint()
    }
}

/// Reads the rest of the body within the bounds; whether it all came.
async fn drain(shared: &SharedState) -> bool {
    if shared.body().size_hint().lower() > DRAIN_BYTES {
        return false;
    }
    let read_all = async {
        let mut read = 0u64;
        loop {
            let frame = std::future::poll_fn(|cx| Pin::new(&mut *shared.body()).poll_frame(cx)).await;
            match frame {
                None => return true,
                Some(Ok(frame)) => {
                    read += frame.data_ref().map_or(0, |data| data.len() as u64);
                    if read > DRAIN_BYTES {
                        return false;
                    }
                }
                Some(Err(_)) => return false,
            }
        }
    };
    tokio::time::timeout(DRAIN_TIME, read_all).await.unwrap_or(false)
}
