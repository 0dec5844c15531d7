//! `cdlc serve`: for now, an HTTP server for the streams that
//! `cdlc transcode` wrote under `DATA_DIR/streams`. The upload API, the
//! metadata store and the workers join it with issue 3.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use axum::http::{header, HeaderValue, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;
use tower_http::cors::CorsLayer;
use tower_http::services::ServeDir;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, env = "CDLC_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Data directory; streams are served from its `streams` folder.
    #[arg(long, env = "CDLC_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let streams = args.data_dir.join("streams");
    std::fs::create_dir_all(&streams).with_context(|| format!("cannot create {}", streams.display()))?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        eprintln!(
            "cdlc serving {} at http://{}/streams/ (try: cdlc transcode movie.mp4 {}/NAME)",
            streams.display(),
            listener.local_addr()?,
            streams.display()
        );
        axum::serve(listener, app(streams))
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .context("the server stopped")
    })
}

fn app(streams: PathBuf) -> Router {
    Router::new()
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .nest_service("/streams", ServeDir::new(streams))
        .layer(middleware::from_fn(media_headers))
        .layer(CorsLayer::permissive())
}

/// Content types players expect, and caching by object kind.
async fn media_headers(request: Request<axum::body::Body>, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let mut response = next.run(request).await;
    let (content_type, cache) = match path.rsplit('.').next() {
        Some("m3u8") => ("application/vnd.apple.mpegurl", "no-cache"),
        Some("mpd") => ("application/dash+xml", "no-cache"),
        Some("m4s") => ("video/iso.segment", "public, max-age=31536000, immutable"),
        Some("mp4") => ("video/mp4", "public, max-age=31536000, immutable"),
        _ => return response,
    };
    if response.status().is_success() {
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    }
    response
}
