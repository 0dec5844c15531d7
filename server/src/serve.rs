//! `cdlc serve`: the API, the in-process workers and stream serving, on
//! the embedded backends (local objects, SQLite).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;

use crate::config::Config;
use crate::state::AppState;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on (overrides the config and CDLC_LISTEN).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Data directory (overrides the config and CDLC_DATA_DIR).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// TOML config file; every field is optional (see docs/config.md).
    #[arg(long)]
    config: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let mut config = Config::load(args.config.as_deref(), |name| std::env::var(name).ok())?;
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(data_dir) = args.data_dir {
        config.data_dir = data_dir;
    }
    config.validate().context("the configuration is not valid")?;
    cdlc_transcoder::init()?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let workers = config.workers;
        let listen = config.listen;
        let state = Arc::new(AppState::open(config).await?);
        // The embedded store belongs to this process alone: jobs left
        // running belonged to a previous run that died.
        let requeued = state.metadata.requeue_running_jobs().await?;
        if requeued > 0 {
            eprintln!("resuming {requeued} job(s) interrupted by the previous stop");
        }
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        eprintln!(
            "cdlc serving on http://{} (data in {}, {workers} worker(s))",
            listener.local_addr()?,
            state.config.data_dir.display()
        );
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let _workers = crate::worker::spawn(state.clone(), workers, stopped);
        axum::serve(listener, crate::api::app(state))
            .with_graceful_shutdown(shutdown_signal())
            .await
            .context("the server stopped")?;
        // Running transcodes are not awaited: their jobs stay leased and
        // run again after a restart.
        let _ = stop.send(true);
        Ok(())
    })
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(_) => return interrupt.await.unwrap_or(()),
        };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
