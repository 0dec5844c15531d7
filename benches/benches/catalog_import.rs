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
//!
//! A third line is SQLite's own share for the catalog's schema: the same
//! rows, already parsed and in memory, inserted into the catalog's tables
//! (their keys and unique indexes) with one prepared statement each, the
//! principals' hash set on every title, then the secondary indexes built,
//! as the import does, in a file of the catalog store's 16 KiB pages. No
//! parsing, hashing or search index is timed: it is what SQLite alone needs
//! for these tables, one thread.

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

/// The data lines of a `.tsv.gz`, split on tabs, `\\N` as None.
fn tsv(file: &Path) -> Vec<Vec<Option<String>>> {
    let output = Command::new("zcat").arg(file).output().expect("zcat");
    assert!(output.status.success(), "zcat {} failed", file.display());
    let text = String::from_utf8(output.stdout).expect("UTF-8");
    let mut lines = text.lines();
    lines.next(); // the header
    lines.map(|l| l.split('\t').map(|v| (v != "\\N").then(|| v.to_owned())).collect()).collect()
}

/// The rows of `input` put in the catalog's schema by SQLite alone (see the
/// module's comment): the time of the SQLite calls only.
fn sqlite_schema_share(db: &Path, input: &Path) -> Duration {
    use rusqlite::{params, Connection};
    let connection = Connection::open(db).expect("open the floor's database");
    // The catalog's store is laid out for bulk loads (`Workload::BulkLoads`).
    connection.pragma_update(None, "page_size", 16384).unwrap();
    connection.pragma_update(None, "journal_mode", "WAL").unwrap();
    connection.pragma_update(None, "synchronous", "NORMAL").unwrap();
    let deferred = cdlc_plugin_catalog::schema::secondary_indexes();
    for statement in cdlc_plugin_catalog::schema::MIGRATIONS.iter().flat_map(|m| m.statements.iter()) {
        if let Some((index, _table)) = cdlc_plugin_store::portable::dropped_index(statement) {
            // The portable `DROP INDEX i ON t`, as SQLite writes it.
            connection.execute_batch(&format!("DROP INDEX {index}")).expect("the catalog's schema");
        } else if !deferred.iter().any(|d| d.create == *statement) {
            connection.execute_batch(statement).expect("the catalog's schema");
        }
    }
    let file = |name: &str| tsv(&input.join(format!("{name}.tsv.gz")));
    let ratings: std::collections::HashMap<String, (f64, i64)> = file("title.ratings")
        .into_iter()
        .map(|r| {
            let (id, average, votes) =
                (r[0].clone().unwrap(), r[1].as_deref().unwrap(), r[2].as_deref().unwrap());
            (id, (average.parse().unwrap(), votes.parse().unwrap()))
        })
        .collect();
    let basics = file("title.basics");
    let principals = file("title.principals");
    let names = file("name.basics");
    let mut spent = Duration::ZERO;
    // Everything but binding and running is done before the clock starts.
    let scores: Vec<(Option<f64>, i64, i64)> = basics
        .iter()
        .map(|r| {
            let (average, votes) =
                ratings.get(r[0].as_deref().unwrap()).map_or((None, 0), |(a, v)| (Some(*a), *v));
            (average, votes, r[5].as_deref().map_or(0, |y| y.parse().unwrap()))
        })
        .collect();
    let billings: Vec<i64> = principals.iter().map(|r| r[1].as_deref().unwrap().parse().unwrap()).collect();
    let mut timed = |rows: usize, sql: &str, bind: &dyn Fn(&mut rusqlite::Statement, usize)| {
        let started = Instant::now();
        for first in (0..rows).step_by(20_000) {
            connection.execute_batch("BEGIN").unwrap();
            let mut statement = connection.prepare_cached(sql).unwrap();
            for i in first..rows.min(first + 20_000) {
                bind(&mut statement, i);
            }
            drop(statement);
            connection.execute_batch("COMMIT").unwrap();
        }
        spent += started.elapsed();
    };
    timed(
        basics.len(),
        "INSERT INTO titles (id, imdb_id, kind, imdb_type, primary_title, original_title, sort_title, is_adult, \
         start_year, end_year, sort_year, runtime_minutes, genres, basics_hash, updated_at, imdb_rating, imdb_votes, \
         rating, popularity, ratings_hash, created_at) \
         VALUES (?1, ?1, 'movie', ?2, ?3, ?4, lower(?3), 0, ?5, ?6, ?7, ?8, ?9, 1, 1, ?10, ?11, ?10, ?11, 1, 1)",
        &|statement, i| {
            let (r, (average, votes, year)) = (&basics[i], scores[i]);
            statement
                .execute(params![r[0], r[1], r[2], r[3], r[5], r[6], year, r[7], r[8].as_deref().unwrap_or(""), average, votes])
                .unwrap();
        },
    );
    let genres: Vec<(&str, &str)> = basics
        .iter()
        .flat_map(|r| {
            let mut own: Vec<&str> =
                r[8].as_deref().unwrap_or("").split(',').filter(|g| !g.is_empty()).collect();
            own.dedup();
            own.into_iter().map(|g| (r[0].as_deref().unwrap(), g))
        })
        .collect();
    timed(
        genres.len(),
        "INSERT OR IGNORE INTO title_genres (title_id, genre) VALUES (?, ?)",
        &|statement, i| {
            statement.execute(params![genres[i].0, genres[i].1]).unwrap();
        },
    );
    timed(
        principals.len(),
        "INSERT INTO credits (id, title_id, person_id, category, job, characters, billing, source) \
         VALUES (?1 || '-' || ?2, ?1, ?3, ?4, ?5, ?6, ?2, 'cast')",
        &|statement, i| {
            let r = &principals[i];
            statement.execute(params![r[0], billings[i], r[2], r[3], r[4], r[5]]).unwrap();
        },
    );
    timed(basics.len(), "UPDATE titles SET principals_hash = 7 WHERE id = ?", &|statement, i| {
        statement.execute(params![basics[i][0]]).unwrap();
    });
    timed(
        names.len(),
        "INSERT INTO people (id, imdb_id, name, sort_name, birth_year, death_year, professions, known_for, \
         import_hash, updated_at, created_at) VALUES (?1, ?1, ?2, lower(?2), ?3, ?4, ?5, ?6, 1, 1, 1)",
        &|statement, i| {
            let r = &names[i];
            statement
                .execute(params![
                    r[0],
                    r[1],
                    r[2],
                    r[3],
                    r[4].as_deref().unwrap_or(""),
                    r[5].as_deref().unwrap_or("")
                ])
                .unwrap();
        },
    );
    let started = Instant::now();
    for index in &deferred {
        connection.execute_batch(index.create).expect("a secondary index");
    }
    spent + started.elapsed()
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
    let share = sqlite_schema_share(&dir.path().join("share.db"), &input);

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
    println!(
        "  SQLite's own share    {:>8.1} s  {:>10.0} rows/s  (the catalog's tables and indexes, rows in memory, one thread)",
        share.as_secs_f64(),
        per_second(share)
    );
    println!("  ratio cdlc / sqlite3  {:>8.2}x", first.as_secs_f64() / sqlite.as_secs_f64());
    println!("  ratio cdlc / SQLite's own share {:.2}x", first.as_secs_f64() / share.as_secs_f64());
    println!("  peak RSS of the cdlc import {peak:.0} MiB");
    println!("  second import (writes nothing) {:.1} s", second.as_secs_f64());
}
