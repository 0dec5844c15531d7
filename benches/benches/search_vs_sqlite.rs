//! The catalog's search index against SQLite on the same catalog, in one
//! run: 1 000 000 generated titles (a sixth with akas) and 1 000 000 people,
//! built into each engine, then the same 1 000 queries against each (a
//! third typed exactly, a third with one typo, a third cut as if typed so
//! far), reporting build rows/s, size on disk, peak RSS, search p50/p99
//! and how often the title or person the query was made from is in the
//! first 20 hits.
//!
//! - cdlc-search: `SearchIndex::open` on a temporary folder, upserts in
//!   batches of 10 000, one commit, then `compact` (timed apart).
//! - SQLite (rusqlite, bundled): one table, WAL, `synchronous=NORMAL`,
//!   a prepared insert in transactions of 10 000 (no index on votes: see
//!   `sqlite`); the
//!   query is `names LIKE '%q%' ORDER BY votes DESC LIMIT 20`.
//!
//! Each engine runs in a child process of its own, so its peak RSS is its
//! own. The catalog is generated from each row's number (never held in
//! memory whole), so both engines see the same rows.
//!
//! SQLite scans every row for each query (seconds at this size), so it runs
//! every tenth query of the same list unless CDLC_BENCH_PEER_QUERIES says
//! otherwise.
//!
//! Settings: CDLC_BENCH_TITLES (default 1 000 000), CDLC_BENCH_PEOPLE
//! (default 1 000 000), CDLC_BENCH_QUERIES (default 1 000),
//! CDLC_BENCH_PEER_QUERIES (default a tenth of them).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cdlc_search::{PersonDoc, SearchIndex, SearchQuery, TitleDoc};

const ENGINE_ENV: &str = "CDLC_SEARCH_BENCH_ENGINE";
const BATCH: usize = 10_000;
const TOP: usize = 20;

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.replace('_', "").parse().ok()).unwrap_or(default)
}

/// splitmix64: a row's own random stream from its number.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03)
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

const SYLLABLES: &[&str] = &[
    "ka", "lo", "mi", "ra", "ten", "vor", "an", "el", "is", "do", "ber", "sa", "ni", "tor", "ma", "le",
    "quin", "ro", "sel", "fa", "gu", "hal", "ju", "ko", "lin", "mar", "nel", "os", "pa", "ri", "su", "ta",
    "ul", "ve", "wen", "ya", "ze", "bri", "cha", "dre",
];
const COMMON: &[&str] = &[
    "the", "of", "night", "love", "man", "house", "dead", "last", "life", "day", "girl", "city", "war",
    "time", "king", "black", "return", "story", "world", "blood", "café", "école", "señor", "über", "noël",
    "amélie", "crème", "déjà",
];
const KINDS: &[(&str, u32)] =
    &[("movie", 40), ("episode", 35), ("series", 8), ("short", 10), ("documentary", 7)];
const GENRES: &[&str] = &[
    "drama",
    "comedy",
    "crime",
    "horror",
    "romance",
    "thriller",
    "action",
    "adventure",
    "animation",
    "family",
    "fantasy",
    "history",
    "music",
    "mystery",
    "sci-fi",
    "sport",
    "war",
    "western",
    "documentary",
    "biography",
];

/// Word `k` of a 65 600-word vocabulary made of syllables.
fn vocab(k: usize) -> String {
    let n = SYLLABLES.len();
    let (count, mut k) = if k < n * n { (2, k) } else { (3, k - n * n) };
    let mut word = String::new();
    for _ in 0..count {
        word.push_str(SYLLABLES[k % n]);
        k /= n;
    }
    word
}

/// A word, Zipf-like: a few are very common, most are rare.
fn word(rng: &mut Rng) -> String {
    if rng.below(100) < 25 {
        return COMMON[rng.below(COMMON.len())].to_owned();
    }
    vocab((rng.unit().powi(3) * 65_600.0) as usize)
}

fn name(rng: &mut Rng, max_words: usize) -> String {
    let words: Vec<String> = (0..1 + rng.below(max_words)).map(|_| word(rng)).collect();
    let mut name = words.join(" ");
    if let Some(first) = name.get_mut(..1) {
        first.make_ascii_uppercase();
    }
    name
}

/// Votes: most titles have a few, some have millions.
fn votes(rng: &mut Rng) -> u64 {
    10f64.powf(rng.unit().powi(2) * 6.5) as u64
}

fn title(n: usize) -> TitleDoc {
    let mut rng = Rng::new(n as u64);
    let mut pick = rng.below(100) as u32;
    let kind = KINDS
        .iter()
        .find(|(_, share)| pick.checked_sub(*share).map(|left| pick = left).is_none())
        .map_or("movie", |k| k.0);
    let mut names = vec![name(&mut rng, 4)];
    if rng.below(6) == 0 {
        names.extend((0..1 + rng.below(3)).map(|_| name(&mut rng, 3)));
    }
    TitleDoc {
        id: format!("tt{n:08}"),
        kind: kind.to_owned(),
        names,
        year: Some(1900 + rng.below(126) as i32),
        genres: (0..1 + rng.below(3)).map(|_| GENRES[rng.below(GENRES.len())].to_owned()).collect(),
        rating: (rng.below(5) != 0).then(|| (10 + rng.below(91)) as f32 / 10.0),
        votes: votes(&mut rng),
    }
}

fn person(n: usize) -> PersonDoc {
    let mut rng = Rng::new(!(n as u64));
    let first = vocab(rng.below(2_000));
    let last = vocab(rng.below(65_600));
    let mut name = format!("{first} {last}");
    name[..1].make_ascii_uppercase();
    PersonDoc {
        id: format!("nm{n:08}"),
        name,
        professions: vec![["actor", "actress", "director", "writer", "producer"][rng.below(5)].to_owned()],
        known_for_votes: votes(&mut rng),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Typed {
    Exact,
    Typo,
    Prefix,
}

struct BenchQuery {
    text: String,
    typed: Typed,
    /// The row the query was made from.
    expect: String,
}

/// Replaces a middle letter of the longest word (of 5 letters or more).
fn with_typo(text: &str) -> String {
    let words: Vec<&str> = text.split(' ').collect();
    let Some((at, longest)) = words.iter().enumerate().max_by_key(|(_, w)| w.chars().count()) else {
        return text.to_owned();
    };
    let chars: Vec<char> = longest.chars().collect();
    if chars.len() < 5 {
        return text.to_owned();
    }
    let middle = chars.len() / 2;
    let swapped: String = chars
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if i == middle {
                if *c == 'x' {
                    'q'
                } else {
                    'x'
                }
            } else {
                *c
            }
        })
        .collect();
    let mut out: Vec<String> = words.iter().map(|w| w.to_string()).collect();
    out[at] = swapped;
    out.join(" ")
}

/// The name cut in its last word, as if typed so far (3 letters or more).
fn as_typed(text: &str) -> String {
    let mut words: Vec<&str> = text.split(' ').collect();
    let last = words.pop().unwrap_or_default();
    let cut: String = last.chars().take(3.max(last.chars().count().saturating_sub(2))).collect();
    words.push(&cut);
    words.join(" ")
}

fn queries(count: usize, titles: usize, people: usize) -> Vec<BenchQuery> {
    let mut rng = Rng::new(0xC0FFEE);
    (0..count)
        .map(|n| {
            let (name, expect) = if people > 0 && rng.below(5) == 0 {
                let p = person(rng.below(people));
                (p.name, p.id)
            } else {
                let t = title(rng.below(titles));
                (t.names[0].clone(), t.id)
            };
            let typed = [Typed::Exact, Typed::Typo, Typed::Prefix][n % 3];
            let text = match typed {
                Typed::Exact => name,
                Typed::Typo => with_typo(&name),
                Typed::Prefix => as_typed(&name),
            };
            BenchQuery { text, typed, expect }
        })
        .collect()
}

/// What one engine measured (printed by the child as one JSON line).
#[derive(Debug, Default)]
struct Figures {
    engine: String,
    rows: usize,
    build: Duration,
    compact: Duration,
    disk_bytes: u64,
    peak_rss_kb: i64,
    latencies: Vec<Duration>,
    found: [(usize, usize); 3],
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_bytes(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

fn peak_rss_kb() -> i64 {
    nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF).map_or(0, |u| u.max_rss())
}

fn run_queries(queries: &[BenchQuery], figures: &mut Figures, mut search: impl FnMut(&str) -> Vec<String>) {
    for q in queries {
        let started = Instant::now();
        let hits = search(&q.text);
        figures.latencies.push(started.elapsed());
        let slot = &mut figures.found[q.typed as usize];
        slot.1 += 1;
        if hits.iter().take(TOP).any(|id| *id == q.expect) {
            slot.0 += 1;
        }
    }
}

fn tantivy(dir: &Path, titles: usize, people: usize, queries: &[BenchQuery]) -> Figures {
    let mut figures =
        Figures { engine: "cdlc-search (tantivy)".into(), rows: titles + people, ..Figures::default() };
    let index = SearchIndex::open(dir).expect("open the index");
    let started = Instant::now();
    for start in (0..titles).step_by(BATCH) {
        let batch: Vec<TitleDoc> = (start..(start + BATCH).min(titles)).map(title).collect();
        index.upsert_titles(&batch).expect("upsert titles");
    }
    for start in (0..people).step_by(BATCH) {
        let batch: Vec<PersonDoc> = (start..(start + BATCH).min(people)).map(person).collect();
        index.upsert_people(&batch).expect("upsert people");
    }
    index.commit().expect("commit");
    figures.build = started.elapsed();
    eprintln!(
        "tantivy: built in {:.1?}, {} segments, peak RSS {} MB; compacting",
        figures.build,
        index.segment_count(),
        peak_rss_kb() / 1024
    );
    let started = Instant::now();
    index.compact().expect("compact");
    figures.compact = started.elapsed();
    assert_eq!(index.doc_count(), (titles + people) as u64, "every row indexed");
    eprintln!("tantivy: compacted in {:.1?}, peak RSS {} MB", figures.compact, peak_rss_kb() / 1024);
    figures.disk_bytes = dir_bytes(dir);
    run_queries(queries, &mut figures, |text| {
        let page = index.search(&SearchQuery { limit: TOP, ..SearchQuery::text(text) }).expect("search");
        page.hits.into_iter().map(|hit| hit.id).collect()
    });
    figures.peak_rss_kb = peak_rss_kb();
    figures
}

fn sqlite(dir: &Path, titles: usize, people: usize, queries: &[BenchQuery]) -> Figures {
    let mut figures =
        Figures { engine: "SQLite LIKE '%q%'".into(), rows: titles + people, ..Figures::default() };
    std::fs::create_dir_all(dir).expect("mkdir");
    let mut db = rusqlite::Connection::open(dir.join("catalog.db")).expect("open sqlite");
    db.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
         CREATE TABLE entries (id TEXT PRIMARY KEY, target TEXT NOT NULL, kind TEXT, names TEXT NOT NULL,
           year INTEGER, genres TEXT, rating REAL, votes INTEGER NOT NULL);",
    )
    .expect("schema");
    let started = Instant::now();
    let insert = "INSERT INTO entries VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
    for start in (0..titles).step_by(BATCH) {
        let tx = db.transaction().expect("begin");
        {
            let mut statement = tx.prepare_cached(insert).expect("prepare");
            for t in (start..(start + BATCH).min(titles)).map(title) {
                let row = (
                    &t.id,
                    "title",
                    &t.kind,
                    t.names.join("\n"),
                    t.year,
                    t.genres.join(","),
                    t.rating,
                    t.votes as i64,
                );
                statement.execute(row).expect("insert");
            }
        }
        tx.commit().expect("commit");
    }
    for start in (0..people).step_by(BATCH) {
        let tx = db.transaction().expect("begin");
        {
            let mut statement = tx.prepare_cached(insert).expect("prepare");
            for p in (start..(start + BATCH).min(people)).map(person) {
                let none: Option<String> = None;
                let row = (
                    &p.id,
                    "person",
                    &none,
                    &p.name,
                    None::<i32>,
                    p.professions.join(","),
                    None::<f32>,
                    p.known_for_votes as i64,
                );
                statement.execute(row).expect("insert");
            }
        }
        tx.commit().expect("commit");
    }
    db.execute_batch("CREATE INDEX entries_votes ON entries (votes DESC); PRAGMA wal_checkpoint(TRUNCATE);")
        .expect("index");
    figures.build = started.elapsed();
    figures.disk_bytes = dir_bytes(dir);
    let mut statement = db
        .prepare("SELECT id FROM entries WHERE names LIKE ?1 ORDER BY votes DESC LIMIT 20")
        .expect("prepare");
    run_queries(queries, &mut figures, |text| {
        let pattern = format!("%{}%", text.replace(['%', '_'], ""));
        statement
            .query_map([pattern], |row| row.get::<_, String>(0))
            .expect("query")
            .map(|r| r.expect("row"))
            .collect()
    });
    figures.peak_rss_kb = peak_rss_kb();
    figures
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn to_json(f: &Figures) -> String {
    let mut latencies = f.latencies.clone();
    latencies.sort();
    serde_json::json!({
        "engine": f.engine, "rows": f.rows, "build_s": f.build.as_secs_f64(), "compact_s": f.compact.as_secs_f64(),
        "disk_bytes": f.disk_bytes, "peak_rss_kb": f.peak_rss_kb, "queries": f.latencies.len(),
        "p50_ms": percentile(&latencies, 0.50).as_secs_f64() * 1e3, "p99_ms": percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        "max_ms": latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
        "found": f.found.iter().map(|(hit, of)| [*hit, *of]).collect::<Vec<_>>(),
    })
    .to_string()
}

fn child(engine: &str) {
    let (titles, people) = (setting("CDLC_BENCH_TITLES", 1_000_000), setting("CDLC_BENCH_PEOPLE", 1_000_000));
    let mut queries = queries(setting("CDLC_BENCH_QUERIES", 1_000), titles, people);
    if engine == "sqlite" {
        let keep = setting("CDLC_BENCH_PEER_QUERIES", queries.len().div_ceil(10)).clamp(1, queries.len());
        let step = queries.len() / keep;
        queries = queries.into_iter().step_by(step).take(keep).collect();
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join(engine);
    let figures = match engine {
        "tantivy" => tantivy(&dir, titles, people, &queries),
        _ => sqlite(&dir, titles, people, &queries),
    };
    println!("RESULT {}", to_json(&figures));
}

fn main() {
    if let Ok(engine) = std::env::var(ENGINE_ENV) {
        return child(&engine);
    }
    let exe = std::env::current_exe().expect("own path");
    let mut rows = Vec::new();
    for engine in ["tantivy", "sqlite"] {
        eprintln!("running {engine}");
        let output = Command::new(&exe)
            .env(ENGINE_ENV, engine)
            .stderr(Stdio::inherit())
            .output()
            .expect("run the engine's child");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{engine} failed (its errors are above)");
        let line = stdout.lines().find_map(|l| l.strip_prefix("RESULT ")).expect("a RESULT line");
        eprintln!("{engine}: {line}");
        rows.push(serde_json::from_str::<serde_json::Value>(line).expect("json"));
    }
    let sample = queries(3, setting("CDLC_BENCH_TITLES", 1_000_000), setting("CDLC_BENCH_PEOPLE", 1_000_000));
    println!(
        "\nsearch: {} rows, {} queries (e.g. {:?}, {:?}, {:?})",
        rows[0]["rows"],
        setting("CDLC_BENCH_QUERIES", 1_000),
        sample[0].text,
        sample[1].text,
        sample[2].text
    );
    println!(
        "| engine | build rows/s | build s | compact s | on disk MB | peak RSS MB | queries | p50 ms | p99 ms | max ms | in top {TOP}: exact | typo | prefix |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for row in &rows {
        let found = |i: usize| format!("{}/{}", row["found"][i][0], row["found"][i][1]);
        println!(
            "| {} | {:.0} | {:.1} | {:.1} | {:.0} | {:.0} | {} | {:.2} | {:.2} | {:.2} | {} | {} | {} |",
            row["engine"].as_str().unwrap_or_default(),
            row["rows"].as_f64().unwrap_or(0.0) / row["build_s"].as_f64().unwrap_or(1.0),
            row["build_s"].as_f64().unwrap_or(0.0),
            row["compact_s"].as_f64().unwrap_or(0.0),
            row["disk_bytes"].as_f64().unwrap_or(0.0) / 1e6,
            row["peak_rss_kb"].as_f64().unwrap_or(0.0) / 1024.0,
            row["queries"],
            row["p50_ms"].as_f64().unwrap_or(0.0),
            row["p99_ms"].as_f64().unwrap_or(0.0),
            row["max_ms"].as_f64().unwrap_or(0.0),
            found(0),
            found(1),
            found(2),
        );
    }
    let p99 = rows[0]["p99_ms"].as_f64().unwrap_or(f64::MAX);
    println!("cdlc-search p99 {p99:.2} ms: goal < 20 ms {}", if p99 < 20.0 { "met" } else { "NOT met" });
}
