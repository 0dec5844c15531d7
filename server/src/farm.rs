//! `cdlc worker`: a member of the farm: transcodes and the plugins' jobs.
//! It needs only the job queue (NATS JetStream) and object storage; what it learns and produces
//! goes back as report messages, so `cdlc serve` stays the one writer of
//! metadata.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use cdlc_plugin_api::host::PluginJobRunner;

use crate::config::Config;
use crate::worker::{JobRunner, JobSettings};

/// How long a stopping worker waits for its jobs to be handed back.
const STOP_GRACE: Duration = Duration::from_secs(5);

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The NATS server with JetStream, `nats://HOST:PORT` (overrides the
    /// config's `queue` and CDLC_QUEUE).
    #[arg(long)]
    queue: Option<String>,
    /// Object storage shared with `cdlc serve`: `file:///DIR` (default:
    /// DATA_DIR/objects) or `s3://BUCKET?endpoint=URL&region=…&path_style=true`
    /// (overrides the config's `objects` and CDLC_OBJECTS).
    #[arg(long)]
    objects: Option<String>,
    /// Jobs run at once (overrides the config's `workers` and CDLC_WORKERS).
    #[arg(long)]
    workers: Option<usize>,
    /// Directory for downloaded sources (`DATA_DIR/spool`); overrides the
    /// config and CDLC_DATA_DIR.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// TOML config file, the same as `cdlc serve` reads; fields a worker
    /// does not use are ignored.
    #[arg(long)]
    config: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let config = Config::for_command(args.config.as_deref(), |config| {
        if let Some(queue) = args.queue {
            config.queue = queue;
        }
        if let Some(objects) = args.objects {
            config.objects = Some(objects);
        }
        if let Some(workers) = args.workers {
            config.workers = workers;
        }
        if let Some(data_dir) = args.data_dir {
            config.data_dir = data_dir;
        }
    })?;
    if !config.queue.starts_with("nats://") {
        bail!("cdlc worker takes jobs from a shared queue: set --queue nats://HOST:PORT (or CDLC_QUEUE)");
    }
    if config.workers == 0 {
        bail!("workers must be at least 1 for cdlc worker");
    }
    let objects_name = config.objects.clone().unwrap_or_else(|| "DATA_DIR/objects".into());
    cdlc_transcoder::init()?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let result = runtime.block_on(async {
        let queue = config.connect_nats().await?;
        let (objects, _) = crate::state::open_objects(&config).await?;
        // The plugins' jobs need only their objects and config: no plugin
        // starts here, and no store opens.
        let plugin_jobs = PluginJobRunner::new(
            crate::plugins::built_in(),
            &crate::plugins::with_defaults(&config.plugins),
            objects.clone(),
        )
        .context("the plugins' config is not valid")?;
        let runner = Arc::new(JobRunner {
            plugin_jobs,
            objects,
            reporter: Arc::new(queue.clone()),
            settings: JobSettings::from_config(&config)?,
            spool_dir: config.data_dir.join("spool"),
            running: Default::default(),
        });
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let node = format!("worker-{}", std::process::id());
        let workers = crate::worker::spawn(runner, Arc::new(queue), &node, config.workers, stopped);
        eprintln!(
            "cdlc worker {node}: {} job(s) at once from {}, objects in {objects_name}",
            config.workers, config.queue
        );
        crate::serve::shutdown_signal().await;
        eprintln!("stopping: handing back running jobs");
        let _ = stop.send(true);
        let _ = tokio::time::timeout(STOP_GRACE, futures_util::future::join_all(workers)).await;
        anyhow::Ok(())
    });
    // A transcode that is still winding down must not hold the exit.
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}
