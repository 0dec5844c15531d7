//! `cdlc edge`: the cache alone, near viewers, in front of a cdlc origin
//! (`http://…`) or of an object store (`file:///…`, the objects directory of
//! a cdlc data directory).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use cdlc_edge::{EdgeSettings, HttpOrigin, Origin, SigningKeys, StoreOrigin};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to cache: `http(s)://host:port` of a cdlc server, or
    /// `file:///path/to/data/objects` (stream objects under `streams/`).
    #[arg(long, env = "CDLC_EDGE_ORIGIN")]
    origin: String,
    /// Address to listen on (HTTP/1.1 and HTTP/2 cleartext on the same port).
    #[arg(long, env = "CDLC_EDGE_LISTEN", default_value = "127.0.0.1:8081")]
    listen: SocketAddr,
    /// Byte budget of the memory tier.
    #[arg(long, env = "CDLC_EDGE_MEMORY_BYTES", default_value_t = cdlc_edge::settings::DEFAULT_MEMORY_BYTES)]
    memory_bytes: u64,
    /// Directory of the disk tier (none: memory only).
    #[arg(long, env = "CDLC_EDGE_DISK_DIR")]
    disk_dir: Option<PathBuf>,
    /// Byte budget of the disk tier.
    #[arg(long, env = "CDLC_EDGE_DISK_BYTES", default_value_t = cdlc_edge::settings::DEFAULT_DISK_BYTES)]
    disk_bytes: u64,
    /// Largest object fetched and kept.
    #[arg(long, env = "CDLC_EDGE_MAX_OBJECT_BYTES", default_value_t = cdlc_edge::settings::DEFAULT_MAX_OBJECT_BYTES)]
    max_object_bytes: u64,
    /// Seconds a stale copy is served while the origin fails.
    #[arg(long, env = "CDLC_EDGE_STALE_IF_ERROR", default_value_t = cdlc_edge::settings::DEFAULT_STALE_IF_ERROR.as_secs())]
    stale_if_error: u64,
    /// Keys of signed URLs, `ID:SECRET[,ID:SECRET]` (the first signs; the
    /// same keys as the origin's `signing_keys`).
    #[arg(long, env = "CDLC_SIGNING_KEYS", default_value = "", hide_env_values = true)]
    signing_keys: String,
    /// Bearer token of the purge API (16+ characters); unset refuses purges.
    #[arg(long, env = "CDLC_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Bearer token sent to an HTTP origin (its admin token) so it hands
    /// over the objects of private assets; the edge then asks for signed URLs.
    #[arg(long, env = "CDLC_EDGE_ORIGIN_TOKEN", hide_env_values = true)]
    origin_token: Option<String>,
    /// Threads serving requests, one per core by default (0).
    #[arg(long, env = "CDLC_EDGE_THREADS", default_value_t = 0)]
    threads: usize,
    /// Seconds an origin fetch may take.
    #[arg(long, env = "CDLC_EDGE_ORIGIN_TIMEOUT", default_value_t = 30)]
    origin_timeout: u64,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.threads > 256 {
        bail!("threads must be 256 or fewer (0: one per core)");
    }
    if !(1..=600).contains(&args.origin_timeout) {
        bail!("origin_timeout must be between 1 and 600 seconds");
    }
    let settings = EdgeSettings {
        memory_bytes: args.memory_bytes,
        disk_dir: args.disk_dir,
        disk_bytes: args.disk_bytes,
        max_object_bytes: args.max_object_bytes,
        stale_if_error: Duration::from_secs(args.stale_if_error),
        signing_keys: SigningKeys::parse(&args.signing_keys)?,
        admin_token: args.admin_token,
    };
    settings.validate().context("the edge settings are not valid")?;
    let origin: Arc<dyn Origin> = if let Some(dir) = args.origin.strip_prefix("file://") {
        let store = cdlc_storage::LocalStore::open(dir)
            .with_context(|| format!("cannot open the object store {dir}"))?;
        Arc::new(StoreOrigin::new(Arc::new(store), "streams/", &args.origin, settings.max_object_bytes))
    } else if args.origin.starts_with("http://") || args.origin.starts_with("https://") {
        Arc::new(HttpOrigin::new(
            &args.origin,
            args.origin_token,
            settings.max_object_bytes,
            Duration::from_secs(args.origin_timeout),
        )?)
    } else {
        bail!("origin must be http://HOST:PORT, https://HOST:PORT or file:///DIR, not {:?}", args.origin);
    };
    let threads = match args.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let server = cdlc_edge::server::EdgeServer::bind(args.listen, threads)
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let edge = cdlc_edge::Edge::new(settings, origin).context("the edge settings are not valid")?;
    let router = edge.router().route("/healthz", axum::routing::get(|| async { "ok" }));
    eprintln!("cdlc edge on http://{} caching {} ({threads} threads)", server.local_addr(), args.origin);
    server.serve(edge, router, crate::serve::shutdown_signal()).context("the edge stopped")
}
