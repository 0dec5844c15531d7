//! `cdlc catalog import DIR|FILE…`: the catalog plugin's IMDb import from
//! the command line, on the same config, stores and search index as
//! `cdlc serve` (which must not be running on the same data directory: the
//! search index has one writer; import through the admin API then).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use cdlc_plugin_api::Plugin;
use cdlc_plugin_catalog::imdb::{self, ImportOptions};
use indicatif::{ProgressBar, ProgressStyle};

use crate::config::Config;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Import IMDb's non-commercial datasets (.tsv.gz files, or a directory of them).
    Import(ImportArgs),
}

#[derive(Debug, clap::Args)]
struct ImportArgs {
    /// The .tsv.gz files, or directories holding them.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// IMDb title types or catalog kinds to keep, comma-separated (movie,tvSeries,tvEpisode).
    #[arg(long, value_delimiter = ',')]
    kinds: Vec<String>,
    /// Only titles with at least this many IMDb votes (needs title.ratings).
    #[arg(long)]
    min_votes: Option<u64>,
    /// Only the N titles with the most votes (needs title.ratings).
    #[arg(long)]
    top: Option<u64>,
    /// Data directory (overrides the config and CDLC_DATA_DIR).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// TOML config file, as for `cdlc serve`.
    #[arg(long)]
    config: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let Command::Import(args) = args.command;
    let config = Config::for_command(args.config.as_deref(), |config| {
        if let Some(dir) = &args.data_dir {
            config.data_dir = dir.clone();
        }
    })?;
    let files = imdb::files_from_paths(&args.paths).map_err(anyhow::Error::msg)?;
    let options = ImportOptions { kinds: args.kinds, min_votes: args.min_votes, top: args.top };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let stores = cdlc_plugin_store::Stores::open(&config.stores_url())
            .context("cannot open the stores (setting stores, CDLC_STORES)")?;
        let catalog = cdlc_plugin_catalog::Catalog::new();
        let db = stores
            .db_for(catalog.name(), catalog.workload())
            .await
            .context("cannot open the catalog's store")?;
        db.migrate(catalog.migrations()).await.context("cannot migrate the catalog's store")?;
        let dir = config.data_dir.join("plugins").join(catalog.name());
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let (index, rebuild) = cdlc_plugin_catalog::open_index(Some(&dir)).map_err(anyhow::Error::msg)?;

        let bar = if args.quiet { ProgressBar::hidden() } else { ProgressBar::new(100) };
        bar.set_style(
            ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos:>3}% {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.enable_steady_tick(Duration::from_millis(250));
        let progress = {
            let bar = bar.clone();
            move |p: &imdb::Progress| {
                bar.set_position(p.percent() as u64);
                bar.set_message(match p.phase {
                    imdb::Phase::Reading => format!("{} ({} rows)", p.file, p.rows),
                    imdb::Phase::Indexing => format!("{} ({} rows read)", p.phase.describe(), p.rows),
                });
            }
        };
        let report = imdb::import(&db, Some(&index), &files, &options, &progress).await;
        bar.finish_and_clear();
        let report = report?;
        if rebuild {
            index.rebuild(&db).await.context("cannot rebuild the search index")?;
        }
        print_report(&report);
        Ok(())
    })
}

fn print_report(report: &imdb::Report) {
    println!(
        "{:<28} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "file", "read", "written", "unchanged", "skipped", "rejected"
    );
    for file in &report.files {
        println!(
            "{:<28} {:>10} {:>10} {:>10} {:>10} {:>10}",
            file.file,
            file.rows_read,
            file.rows_written,
            file.rows_unchanged,
            file.rows_skipped,
            file.rows_rejected
        );
        for rejection in &file.rejections {
            println!("    line {}: {}", rejection.line, rejection.reason);
        }
    }
    println!(
        "indexed {} titles and {} people in {:.1} s",
        report.titles_indexed, report.people_indexed, report.seconds
    );
}
