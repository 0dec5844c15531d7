//! `cdlc analytics run --day YYYY-MM-DD`: the analytics plugin's lake
//! pipeline (refine, validate, produce) for one day or a range, on the same
//! config and object storage as `cdlc serve`. Safe beside a running serve:
//! each step writes whole files and leaves unchanged ones alone.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use cdlc_plugin_analytics::Day;
use cdlc_plugin_api::host::PrefixedObjects;

use crate::config::Config;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Run refine, validate and produce for a day (UTC), replaying from landing.
    Run(RunArgs),
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// The day, YYYY-MM-DD (default: yesterday, UTC).
    #[arg(long)]
    day: Option<String>,
    /// Also the N days before it.
    #[arg(long, default_value_t = 0)]
    before: u32,
    /// Data directory (overrides the config and CDLC_DATA_DIR).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// TOML config file, as for `cdlc serve`.
    #[arg(long)]
    config: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let Command::Run(args) = args.command;
    let config = Config::for_command(args.config.as_deref(), |config| {
        if let Some(dir) = &args.data_dir {
            config.data_dir = dir.clone();
        }
    })?;
    let last = match &args.day {
        Some(text) => Day::parse(text).map_err(anyhow::Error::msg)?,
        None => Day::today().plus(-1),
    };
    if args.before > 366 {
        anyhow::bail!("--before may be at most 366 days");
    }
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let (store, _) = crate::state::open_objects(&config).await?;
        let objects = PrefixedObjects::new(Arc::clone(&store), "analytics");
        println!(
            "{:<10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>8}",
            "day", "malformed", "rejected", "duplicates", "late", "validated", "written"
        );
        for back in (0..=args.before as i32).rev() {
            let day = last.plus(-back);
            let report = cdlc_plugin_analytics::run_day(&objects, day)
                .await
                .with_context(|| format!("the lake run of {day} failed"))?;
            println!(
                "{:<10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>8}",
                report.day,
                report.malformed_lines,
                report.rejected,
                report.duplicates,
                report.late,
                report.validated,
                report.files_written
            );
        }
        Ok(())
    })
}
