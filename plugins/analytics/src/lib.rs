//! The analytics plugin: what viewers experience (the player's beacons:
//! startup time, stalls, rendition switches, errors, watch time) and what
//! the server does (uploads, transcodes, the edge, the plugins' orders),
//! kept in a data lake in the plugin's object storage and read with
//! DataFusion.
//!
//! The lake has four zones (see `lake`): landing (NDJSON as received,
//! immutable), refined (typed Parquet), validated (checked, deduplicated by
//! event id, late events merged into their day) and production (the
//! aggregates the dashboards read). `pipeline::run_day` makes a day's
//! refined, validated and production files; it is idempotent and can be
//! replayed from landing. A run is a job on the host's queue (`runs`), so
//! the farm's workers run it. See docs/architecture.md, "Analytics".

mod api;
mod beacons;
pub mod event;
pub mod lake;
pub mod lake_store;
mod parquet_io;
pub mod pipeline;
pub mod query;
pub mod runs;
mod server_events;

use std::sync::{Arc, Mutex};

use cdlc_plugin_api::{
    async_trait, ApiRouter, DeletedUser, Event, JobContext, JobEnded, JobError, Migration, Plugin,
    PluginContext, PluginError, PluginJob,
};
use serde::Deserialize;

pub use beacons::browser_family;
pub use lake::Day;
pub use pipeline::{run_day, RunReport};

/// `[plugins.analytics]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// The largest beacon batch, bytes.
    pub max_batch_bytes: usize,
    /// The most events in one batch.
    pub max_batch_events: usize,
    /// Beacon batches a client (by its hashed address) may send a minute…
    pub batches_per_minute: u32,
    /// …and at once.
    pub batch_burst: u32,
    /// The UTC hour at which yesterday (and the late days before it) are run; -1 for never.
    pub daily_run_hour: i32,
    /// The longest an admin's SQL may run, ms.
    pub sql_timeout_ms: u64,
    /// The most rows an admin's SQL returns.
    pub sql_max_rows: usize,
    /// The memory an admin's SQL may use, bytes.
    pub sql_max_memory: usize,
    /// How long `POST /runs` waits for the run's job to end before it
    /// answers 202 (the run goes on), ms.
    pub run_wait_ms: u64,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            max_batch_bytes: 64 * 1024,
            max_batch_events: 200,
            batches_per_minute: 120,
            batch_burst: 30,
            daily_run_hour: 2,
            sql_timeout_ms: 10_000,
            sql_max_rows: 10_000,
            sql_max_memory: 512 << 20,
            run_wait_ms: 60_000,
        }
    }
}

impl Settings {
    fn check(&self) -> Result<(), String> {
        if !(1024..=1 << 20).contains(&self.max_batch_bytes) {
            return Err("max_batch_bytes must be 1024 to 1048576".into());
        }
        if !(1..=10_000).contains(&self.max_batch_events) {
            return Err("max_batch_events must be 1 to 10000".into());
        }
        if self.batches_per_minute == 0 || self.batch_burst == 0 {
            return Err("batches_per_minute and batch_burst must be at least 1".into());
        }
        if !(-1..=23).contains(&self.daily_run_hour) {
            return Err("daily_run_hour must be 0 to 23, or -1 for no daily run".into());
        }
        if self.sql_timeout_ms == 0 || self.sql_max_rows == 0 || self.sql_max_memory < 1 << 20 {
            return Err("sql_timeout_ms and sql_max_rows must be at least 1, sql_max_memory 1 MiB".into());
        }
        if self.run_wait_ms > 600_000 {
            return Err("run_wait_ms must be at most 600000 (10 minutes)".into());
        }
        Ok(())
    }
}

/// Why a lake step failed.
#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    #[error(transparent)]
    Objects(#[from] cdlc_plugin_api::ObjectsError),
    #[error("a lake file cannot be read or written: {0}")]
    Parquet(String),
    #[error("the query engine failed: {0}")]
    Query(String),
    /// The caller's SQL is wrong or too costly; the message says why.
    #[error("{0}")]
    BadQuery(String),
    #[error("{0}")]
    Failed(String),
}

impl LakeError {
    pub(crate) fn parquet(e: impl std::fmt::Display) -> LakeError {
        LakeError::Parquet(e.to_string())
    }
    pub(crate) fn arrow(e: impl std::fmt::Display) -> LakeError {
        LakeError::Parquet(e.to_string())
    }
    pub(crate) fn query(e: impl std::fmt::Display) -> LakeError {
        LakeError::Query(e.to_string())
    }
    pub(crate) fn failed(e: impl std::fmt::Display) -> LakeError {
        LakeError::Failed(e.to_string())
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct App {
    pub ctx: PluginContext,
    pub settings: Arc<Settings>,
    pub salt: Arc<beacons::Salt>,
    pub limiter: Arc<beacons::Limiter>,
}

/// The plugin, for the host's list of built-in plugins.
#[derive(Default)]
pub struct Analytics {
    app: Mutex<Option<App>>,
    daily: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// One day's run at a time on this worker (a run reads and writes
    /// whole days; two at once would only double the memory).
    one_run: tokio::sync::Mutex<()>,
}

impl Analytics {
    pub fn new() -> Analytics {
        Analytics::default()
    }
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        name: "0001_analytics",
        statements: &[
            // One row per run of a day: what the admin page and the daily run read.
            "CREATE TABLE runs (day VARCHAR(10) NOT NULL, started_at BIGINT NOT NULL, finished_at BIGINT, \
         trigger_name VARCHAR(16) NOT NULL, report TEXT, failure TEXT, PRIMARY KEY (day, started_at))",
        ],
    },
    Migration {
        name: "0002_runs_are_jobs",
        // A run's steps are jobs on the host's queue (see `runs`): the step the
        // run is at and its job. started_at is when the run was asked for.
        statements: &[
            "ALTER TABLE runs ADD COLUMN step VARCHAR(16)",
            "ALTER TABLE runs ADD COLUMN job_id VARCHAR(32)",
        ],
    },
];

#[async_trait]
impl Plugin for Analytics {
    fn name(&self) -> &'static str {
        "analytics"
    }

    fn version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn migrations(&self) -> &'static [Migration] {
        MIGRATIONS
    }

    async fn start(&self, ctx: &PluginContext) -> Result<(), PluginError> {
        let settings: Settings = ctx.config()?;
        settings.check().map_err(|message| PluginError::Config { plugin: ctx.name().to_owned(), message })?;
        let app = App {
            ctx: ctx.clone(),
            settings: Arc::new(settings),
            salt: Arc::default(),
            limiter: Arc::default(),
        };
        if app.settings.daily_run_hour >= 0 {
            let handle = tokio::spawn(api::daily(app.clone()));
            *self.daily.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle);
        }
        *self.app.lock().unwrap_or_else(|e| e.into_inner()) = Some(app);
        Ok(())
    }

    fn router(&self, ctx: PluginContext) -> ApiRouter {
        let app = self.app.lock().unwrap_or_else(|e| e.into_inner()).clone().unwrap_or_else(|| App {
            ctx,
            settings: Arc::default(),
            salt: Arc::default(),
            limiter: Arc::default(),
        });
        api::router(app)
    }

    fn consumes(&self) -> Vec<String> {
        server_events::TOPICS.iter().map(|t| t.to_string()).collect()
    }

    async fn on_event(&self, ctx: &PluginContext, event: Event) -> Result<(), PluginError> {
        server_events::land(ctx, &event).await
    }

    async fn run_job(&self, ctx: &JobContext, job: &PluginJob) -> Result<serde_json::Value, JobError> {
        let _one = self.one_run.lock().await;
        runs::run(ctx, job).await
    }

    async fn job_ended(&self, ctx: &PluginContext, ended: &JobEnded) -> Result<(), PluginError> {
        runs::ended(ctx, ended).await
    }

    async fn user_deleted(&self, ctx: &PluginContext, user: &DeletedUser) -> Result<(), PluginError> {
        // The lake keeps no account data beyond the user id on events; the
        // next runs of the affected days drop it (see "Analytics" in the
        // architecture notes: landing is rewritten without the id).
        api::forget_user(ctx, &user.user_id).await.map_err(|e| PluginError::Failed(e.to_string()))
    }

    async fn stop(&self, _ctx: &PluginContext) {
        if let Some(handle) = self.daily.lock().unwrap_or_else(|e| e.into_inner()).take() {
            handle.abort();
        }
    }
}
