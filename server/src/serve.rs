//! `cdlc serve`: the API, the in-process workers and stream serving, on
//! the embedded backends (local objects, SQLite); with a NATS queue it is
//! also the one writer of what the farm's workers report.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;

use crate::config::Config;
use crate::reports::ReportApplier;
use crate::state::AppState;
use crate::worker::{JobRunner, JobSettings};

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
    let config = Config::for_command(args.config.as_deref(), |config| {
        if let Some(listen) = args.listen {
            config.listen = listen;
        }
        if let Some(data_dir) = args.data_dir {
            config.data_dir = data_dir;
        }
    })?;
    cdlc_transcoder::init()?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let workers = config.workers;
        let listen = config.listen;
        let nats = match config.queue.as_str() {
            "embedded" => None,
            _ => Some(config.connect_nats().await?),
        };
        let state = Arc::new(AppState::open(config, nats.clone()).await?);
        // The embedded store belongs to this process alone: jobs left
        // running belonged to a previous run that died. A ScyllaDB cluster
        // is shared by many processes, whose running jobs are alive; a dead
        // one's jobs come back when their leases expire.
        if state.config.metadata_url().starts_with("sqlite://") {
            let requeued = state.metadata.requeue_running_jobs().await?;
            if requeued > 0 {
                eprintln!("resuming {requeued} job(s) interrupted by the previous stop");
            }
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
        let applier = Arc::new(ReportApplier::new(state.clone()));
        let reporter: Arc<dyn cdlc_queue::Reporter> = match &nats {
            Some(queue) => {
                tokio::spawn(crate::reports::consume_reports(
                    applier.clone(),
                    queue.clone(),
                    stopped.clone(),
                ));
                tokio::spawn(crate::reports::consume_exhausted(applier, queue.clone(), stopped.clone()));
                Arc::new(queue.clone())
            }
            None => applier,
        };
        let runner = Arc::new(JobRunner {
            objects: state.objects.clone(),
            reporter,
            settings: JobSettings::from_config(&state.config)?,
            spool_dir: state.spool_dir.clone(),
            running: state.running.clone(),
            plugin_jobs: state.plugins.job_runner(),
        });
        let node = format!("serve-{}", std::process::id());
        let _workers = crate::worker::spawn(runner, state.queue.clone(), &node, workers, stopped);
        tokio::spawn(announce_edge_counts(state.clone()));
        let plugins = state.plugins.clone();
        let app = crate::api::app(state).into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown_signal())
            .await
            .context("the server stopped")?;
        // Running transcodes are not awaited: their jobs stay leased and
        // run again after a restart.
        let _ = stop.send(true);
        // The plugins' `stop` runs when nothing else holds the host (the
        // report consumers may still); otherwise dropping it stops their
        // event delivery.
        if let Ok(plugins) = Arc::try_unwrap(plugins) {
            plugins.stop().await;
        }
        Ok(())
    })
}

pub async fn shutdown_signal() {
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

/// How often the edge's hits, misses and bytes since the last time are
/// published as `edge.counts` (for analytics); nothing when nothing moved.
const EDGE_COUNTS_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

async fn announce_edge_counts(state: crate::state::SharedState) {
    let mut last = (0, 0, 0);
    let mut tick = tokio::time::interval(EDGE_COUNTS_EVERY);
    tick.tick().await;
    loop {
        tick.tick().await;
        let now = state.edge.counts();
        let delta = (now.0 - last.0, now.1 - last.1, now.2 - last.2);
        last = now;
        if delta != (0, 0, 0) {
            let payload = serde_json::json!({ "hits": delta.0, "misses": delta.1, "bytes": delta.2 });
            state.announce("edge", "counts", payload).await;
        }
    }
}
