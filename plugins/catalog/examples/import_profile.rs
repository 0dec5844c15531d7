//! Times each pass of an IMDb import in process, for profiling (`perf
//! record` this example, not the whole server):
//! `cargo run --release -p cdlc-plugin-catalog --example import_profile -- generate DIR TITLES PEOPLE PRINCIPALS`
//! writes a generated catalog; `… -- import DIR DATA` imports it into a
//! fresh store under DATA and prints the seconds each file took, the search
//! indexing after the last file, the report and the peak resident memory.

use std::sync::Mutex;
use std::time::Instant;

use cdlc_plugin_api::Plugin;
use cdlc_plugin_catalog::imdb::{self, sample, ImportOptions};

/// A field of /proc/self/status in MiB: VmHWM (peak resident), RssAnon
/// (heap and stacks, now), RssFile (mapped files such as the search
/// index's segments, now).
fn status_mib(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("generate") => {
            let dir = std::path::Path::new(&args[1]);
            std::fs::create_dir_all(dir)?;
            let number = |i: usize| args[i].parse::<u32>().expect("a number");
            let sizes =
                sample::Sizes { titles: number(2), people: number(3), principals_per_title: number(4) };
            sample::write_large(dir, sizes)?;
            Ok(())
        }
        Some("import") => import(std::path::Path::new(&args[1]), std::path::Path::new(&args[2])),
        _ => anyhow::bail!("usage: generate DIR TITLES PEOPLE PRINCIPALS | import DIR DATA"),
    }
}

fn import(input: &std::path::Path, data: &std::path::Path) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let stores = cdlc_plugin_store::Stores::sqlite(&data.join("stores"));
        let catalog = cdlc_plugin_catalog::Catalog::new();
        let db = stores.db(catalog.name()).await?;
        db.migrate(catalog.migrations()).await?;
        let dir = data.join("plugins").join(catalog.name());
        std::fs::create_dir_all(&dir)?;
        let (index, _) = cdlc_plugin_catalog::open_index(Some(&dir)).map_err(anyhow::Error::msg)?;
        let files = imdb::files_from_paths(&[input.to_owned()]).map_err(anyhow::Error::msg)?;
        let started = Instant::now();
        let last = Mutex::new((String::new(), Instant::now()));
        let progress = |p: &imdb::Progress| {
            let mut last = last.lock().unwrap();
            if last.0 != p.file {
                if !last.0.is_empty() {
                    eprintln!("{:<28} {:>7.1} s", last.0, last.1.elapsed().as_secs_f64());
                }
                *last = (p.file.clone(), Instant::now());
            }
        };
        let report = imdb::import(&db, Some(&index), &files, &ImportOptions::default(), &progress).await?;
        let last = last.lock().unwrap();
        eprintln!("{:<28} {:>7.1} s (then the search index)", last.0, last.1.elapsed().as_secs_f64());
        eprintln!("  of which deferred indexes {:.1} s, search index {:.1} s", report.index_seconds, report.search_seconds);
        let rows: u64 = report.files.iter().map(|f| f.rows_read).sum();
        let seconds = started.elapsed().as_secs_f64();
        for f in &report.files {
            eprintln!(
                "  {}: read {} written {} unchanged {} skipped {} rejected {}",
                f.file, f.rows_read, f.rows_written, f.rows_unchanged, f.rows_skipped, f.rows_rejected
            );
        }
        println!(
            "{rows} rows in {seconds:.1} s: {:.0} rows/s, peak RSS {:.0} MiB (at the end: {:.0} MiB anonymous, {:.0} MiB mapped files)",
            rows as f64 / seconds,
            status_mib("VmHWM"),
            status_mib("RssAnon"),
            status_mib("RssFile")
        );
        Ok(())
    })
}
