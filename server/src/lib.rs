//! `cdlc`: the one binary of the cdlc media server. The binary
//! (`src/main.rs`) only calls [`main`]; the commands live in this library
//! so that the config's parser can be fuzzed (`fuzz/`) without a process.

mod analytics;
mod api;
mod bus;
mod captions;
mod catalog;
pub mod config;
mod content_keys;
mod edge;
mod edge_origin;
mod error;
mod farm;
mod fast_publish;
mod key_wrap;
mod owners;
mod plugin_assets;
mod plugin_images;
mod plugin_jobs;
mod plugins;
mod published;
mod reports;
mod running;
mod serve;
mod state;
mod transcode;
mod web;
mod webhooks;
mod worker;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "cdlc", version, about = "The cdlc media server")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Transcode one video file into an HLS + DASH ladder of CMAF segments.
    Transcode(transcode::Args),
    /// Run the media server: upload API, workers and stream serving.
    Serve(serve::Args),
    /// Run an edge cache alone, in front of a cdlc origin or an object store.
    Edge(edge::Args),
    /// The catalog: `cdlc catalog import DIR|FILE…` imports IMDb's datasets.
    Catalog(catalog::Args),
    /// Analytics: `cdlc analytics run --day YYYY-MM-DD` runs the lake's pipeline for a day.
    Analytics(analytics::Args),
    /// Run a transcoding farm member: pulls jobs from a NATS queue, reads
    /// and writes object storage, reports back over NATS.
    Worker(farm::Args),
    /// Internal: one probe and transcode, spoken to over stdin and stdout by
    /// `cdlc serve`, `cdlc worker` and `cdlc transcode`, which start it.
    #[command(hide = true)]
    TranscodeJob,
    /// Internal: one thumbnail of an uploaded image, spoken to over stdin
    /// and stdout by `cdlc serve` (the catalog's posters and photos).
    #[command(hide = true)]
    ThumbnailJob,
}

/// Parses the command line and runs the command.
pub fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CDLC_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, not in log files.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Transcode(args) => transcode::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Edge(args) => edge::run(args),
        Command::Worker(args) => farm::run(args),
        Command::Catalog(args) => catalog::run(args),
        Command::Analytics(args) => analytics::run(args),
        Command::TranscodeJob => return cdlc_isolation::child::run_child(),
        Command::ThumbnailJob => return cdlc_isolation::thumbnail::run_thumbnail_child(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
