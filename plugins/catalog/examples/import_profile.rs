//! Times each pass of an IMDb import in process, for profiling (`perf
//! record` this example, not the whole server):
//! `cargo run --release -p cdlc-plugin-catalog --example import_profile -- generate DIR TITLES PEOPLE PRINCIPALS`
//! writes a generated catalog; `… -- search DATA [QUERIES]` times search on
//! an imported one (against SQLite's LIKE); `… -- import DIR DATA` imports it into a
//! fresh store under DATA and prints the seconds each file took, the search
//! indexing after the last file, the report and the peak resident memory.

use std::sync::Mutex;
use std::time::Instant;

use cdlc_plugin_api::{Plugin, Sql};
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
        Some("search") => {
            search(std::path::Path::new(&args[1]), args.get(2).map_or(Ok(1000), |n| n.parse())?)
        }
        _ => anyhow::bail!(
            "usage: generate DIR TITLES PEOPLE PRINCIPALS | import DIR DATA | search DATA [QUERIES]"
        ),
    }
}

fn import(input: &std::path::Path, data: &std::path::Path) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let stores = cdlc_plugin_store::Stores::sqlite(&data.join("stores"));
        let catalog = cdlc_plugin_catalog::Catalog::new();
        let db = stores.db_for(catalog.name(), catalog.workload()).await?;
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

/// Search latency on an imported catalog (`DATA` of an `import`): QUERIES
/// names of its titles, spread over the table, a third typed whole, a third
/// with one letter changed, a third cut as if still being typed, against the
/// search index (20 hits) and, for every tenth, SQLite's `LIKE '%q%'` over
/// the same titles ordered by popularity (the plain-SQL peer).
fn search(data: &std::path::Path, queries: usize) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let stores = cdlc_plugin_store::Stores::sqlite(&data.join("stores"));
        let catalog = cdlc_plugin_catalog::Catalog::new();
        let db = stores.db_for(catalog.name(), catalog.workload()).await?;
        let (index, _) = cdlc_plugin_catalog::open_index(Some(&data.join("plugins").join(catalog.name())))
            .map_err(anyhow::Error::msg)?;
        let count: i64 = db.query("SELECT COUNT(*) AS n FROM titles", &[]).await?[0].get("n")?;
        let step = (count as usize / queries.max(1)).max(1);
        let rows = db
            .query(
                "SELECT id, primary_title FROM titles ORDER BY id LIMIT ?",
                cdlc_plugin_api::params![(step * queries) as i64],
            )
            .await?;
        let mut cases = Vec::new();
        for (n, row) in rows.iter().step_by(step).enumerate() {
            let id: String = row.get("id")?;
            let name: String = row.get("primary_title")?;
            let text = match n % 3 {
                0 => name.clone(),
                1 => name
                    .char_indices()
                    .map(|(i, c)| if i == name.len() / 2 && c.is_alphabetic() { 'q' } else { c })
                    .collect(),
                _ => name.chars().take((name.chars().count() * 3 / 5).max(3)).collect(),
            };
            cases.push((id, text));
        }
        let mut times = Vec::new();
        let mut found = [0usize; 3];
        for (n, (id, text)) in cases.iter().enumerate() {
            let query = cdlc_search::SearchQuery {
                text: text.clone(),
                target: cdlc_search::Target::Titles,
                limit: 20,
                ..Default::default()
            };
            let started = Instant::now();
            let page = index.search(query, cdlc_search::Sort::Relevance).await?;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            found[n % 3] += usize::from(page.hits.iter().any(|h| &h.id == id) || page.total > 20 && {
                // A name many titles share: found when every hit is a title of that name.
                page.hits.iter().all(|h| h.name.eq_ignore_ascii_case(text))
            });
        }
        let mut peer = Vec::new();
        for (_, text) in cases.iter().step_by(10) {
            let started = Instant::now();
            db.query(
                "SELECT id FROM titles WHERE primary_title LIKE ? ORDER BY popularity DESC LIMIT 20",
                cdlc_plugin_api::params![format!("%{text}%")],
            )
            .await?;
            peer.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        let at = |v: &mut Vec<f64>, q: f64| {
            v.sort_by(f64::total_cmp);
            v[((v.len() as f64 * q) as usize).min(v.len() - 1)]
        };
        println!(
            "{} queries on {count} titles: search p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; the title (or 20 of its name) in the first 20: whole {:.0} %, one typo {:.0} %, cut {:.0} %",
            times.len(),
            at(&mut times, 0.5),
            at(&mut times, 0.99),
            at(&mut times, 1.0),
            found[0] as f64 * 300.0 / cases.len() as f64,
            found[1] as f64 * 300.0 / cases.len() as f64,
            found[2] as f64 * 300.0 / cases.len() as f64,
        );
        println!(
            "{} of them as LIKE '%q%': p50 {:.1} ms, p99 {:.1} ms",
            peer.len(),
            at(&mut peer, 0.5),
            at(&mut peer, 0.99)
        );
        Ok(())
    })
}
