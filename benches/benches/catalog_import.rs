//! `cdlc catalog import` of a generated IMDb-format catalog against
//! `sqlite3 .import` of the same TSVs, in the same run.
//!
//! The catalog: CDLC_BENCH_TITLES titles (default 1 000 000) with a rating
//! each, CDLC_BENCH_PRINCIPALS principals per title (default 3) and
//! CDLC_BENCH_PEOPLE people (default 1 000 000), as title.basics,
//! title.ratings, title.principals and name.basics `.tsv.gz`. cdlc parses,
//! checks, hashes, writes its tables with their indexes and builds the
//! search index; sqlite3 only copies the decompressed lines (zcat piped in,
//! no quote handling) into tables without indexes, the floor of what a
//! loader can do. Prints rows/s and wall time of both, their ratio, cdlc's
//! peak resident memory, and the time of a second import of the same files
//! (which writes nothing).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cdlc_plugin_catalog::imdb::sample::{write_large, Sizes};
use nix::sys::resource::{getrusage, UsageWho};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Peak resident set of the largest child so far, in MiB.
fn children_peak_mib() -> f64 {
    getrusage(UsageWho::RUSAGE_CHILDREN).expect("getrusage").max_rss() as f64 / 1024.0
}

fn run(command: &mut Command) -> Duration {
    let started = Instant::now();
    let output = command.output().expect("spawn");
    assert!(output.status.success(), "{command:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    started.elapsed()
}

fn sqlite_import(db: &Path, files: &[std::path::PathBuf]) -> Duration {
    let started = Instant::now();
    for file in files {
        let table = file.file_name().unwrap().to_string_lossy().replace(".tsv.gz", "").replace('.', "_");
        let mut zcat = Command::new("zcat").arg(file).stdout(Stdio::piped()).spawn().expect("zcat");
        let status = Command::new("sqlite3")
            .arg(db)
            .args([
                "-cmd",
                ".mode ascii",
                "-cmd",
                ".separator \"\\t\" \"\\n\"",
                &format!(".import /dev/stdin {table}"),
            ])
            .stdin(zcat.stdout.take().expect("zcat's stdout"))
            .status()
            .expect("sqlite3 is installed (apt install sqlite3)");
        assert!(status.success(), "sqlite3 .import {table} failed");
        assert!(zcat.wait().expect("zcat").success(), "zcat {} failed", file.display());
    }
    started.elapsed()
}

fn main() {
    let sizes = Sizes {
        titles: env_or("CDLC_BENCH_TITLES", 1_000_000),
        people: env_or("CDLC_BENCH_PEOPLE", 1_000_000),
        principals_per_title: env_or("CDLC_BENCH_PRINCIPALS", 3),
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let input = dir.path().join("imdb");
    std::fs::create_dir_all(&input).expect("input dir");
    let started = Instant::now();
    let files = write_large(&input, sizes).expect("generate the catalog");
    let rows =
        u64::from(sizes.titles) * (2 + u64::from(sizes.principals_per_title)) + u64::from(sizes.people);
    eprintln!("generated {rows} rows in {:.1} s", started.elapsed().as_secs_f64());

    let cdlc = cdlc_benches::cdlc_bin();
    let data = dir.path().join("data");
    let import = || {
        let mut command = Command::new(&cdlc);
        command.args(["catalog", "import", "--quiet", "--data-dir"]).arg(&data).arg(&input);
        command
    };
    let first = run(&mut import());
    let peak = children_peak_mib();
    let second = run(&mut import());
    let sqlite = sqlite_import(&dir.path().join("peer.db"), &files);

    let per_second = |d: Duration| rows as f64 / d.as_secs_f64();
    println!(
        "catalog import of {rows} rows ({} titles, {} principals, {} people):",
        sizes.titles,
        u64::from(sizes.titles) * u64::from(sizes.principals_per_title),
        sizes.people
    );
    println!(
        "  cdlc catalog import   {:>8.1} s  {:>10.0} rows/s  (tables, indexes, search index)",
        first.as_secs_f64(),
        per_second(first)
    );
    println!(
        "  sqlite3 .import       {:>8.1} s  {:>10.0} rows/s  (plain tables)",
        sqlite.as_secs_f64(),
        per_second(sqlite)
    );
    println!("  ratio cdlc / sqlite3  {:>8.2}x", first.as_secs_f64() / sqlite.as_secs_f64());
    println!("  peak RSS of the cdlc import {peak:.0} MiB");
    println!("  second import (writes nothing) {:.1} s", second.as_secs_f64());
}
