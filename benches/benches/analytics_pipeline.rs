//! Analytics, in one run:
//!
//! 1. Beacon ingest at the API: the release `cdlc serve` (analytics' rate
//!    bound raised), CDLC_BENCH_CLIENTS (default 16) clients posting batches
//!    of 50 player events for CDLC_BENCH_DURATION seconds (default 10):
//!    batches/s and events/s landed (each batch is one NDJSON object).
//! 2. The lake pipeline in process: CDLC_BENCH_EVENTS (default 1 000 000)
//!    generated events of one day landed as NDJSON files, then refine →
//!    validate → produce for the day: events/s from landing to production.
//!    Next to it, the DuckDB CLI (`duckdb`, PyPI's duckdb-cli) runs the same
//!    checks, the same deduplication and the same production SQL (integer
//!    division spelled `//`, DuckDB's) over the same NDJSON, writing Parquet.
//!    Without `duckdb` on PATH its line says so.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cdlc_plugin_analytics::lake::{self, Day};
use cdlc_plugin_analytics::pipeline::{self, PRODUCTION};
use cdlc_plugin_api::host::PrefixedObjects;
use cdlc_plugin_api::Objects;

const TOKEN: &str = "bench-admin-token-0123456789abcdef";

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64
}

fn batch_body(view: u64, now: i64) -> String {
    let mut events = Vec::with_capacity(50);
    for seq in 0..50u32 {
        let (kind, extra) = match seq {
            0 => ("view_start", String::new()),
            1 => ("first_frame", ",\"ms\":840".to_owned()),
            n if n % 10 == 5 => ("rebuffer", ",\"ms\":300".to_owned()),
            _ => ("watch", ",\"ms\":10000".to_owned()),
        };
        events.push(format!(
            "{{\"seq\":{seq},\"type\":\"{kind}\",\"t\":{},\"rendition\":\"720p\"{extra}}}",
            now - 60_000 + i64::from(seq) * 1000
        ));
    }
    format!(
        "{{\"view_id\":\"benchview{view:012}\",\"asset_id\":\"a{}\",\"player\":\"hls.js\",\"events\":[{}]}}",
        view % 50,
        events.join(",")
    )
}

async fn ingest_at_the_api() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let config = dir.path().join("cdlc.toml");
    std::fs::write(&config, "[plugins.analytics]\nbatches_per_minute = 100000000\nbatch_burst = 1000000\n")
        .expect("config");
    let mut server = Command::new(cdlc_benches::cdlc_bin())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(dir.path().join("data"))
        .arg("--config")
        .arg(&config)
        .env("CDLC_ADMIN_TOKEN", TOKEN)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cdlc serve");
    let url = format!("http://127.0.0.1:{port}/api/v1/analytics/beacons");
    let http = reqwest::Client::new();
    let up = Instant::now() + Duration::from_secs(60);
    while http
        .get(format!("http://127.0.0.1:{port}/readyz"))
        .send()
        .await
        .map(|r| !r.status().is_success())
        .unwrap_or(true)
    {
        assert!(Instant::now() < up, "cdlc serve did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let clients: u64 = env_or("CDLC_BENCH_CLIENTS", 16);
    let seconds: u64 = env_or("CDLC_BENCH_DURATION", 10);
    let batches = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let end = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..clients {
        let (http, url, batches, refused) = (http.clone(), url.clone(), batches.clone(), refused.clone());
        tasks.push(tokio::spawn(async move {
            let mut view = client << 32;
            while Instant::now() < end {
                view += 1;
                let body = batch_body(view, now_ms());
                match http.post(&url).header("content-type", "application/json").body(body).send().await {
                    Ok(r) if r.status().as_u16() == 202 => batches.fetch_add(1, Ordering::Relaxed),
                    _ => refused.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    for task in tasks {
        task.await.expect("client");
    }
    let elapsed = started.elapsed().as_secs_f64();
    let landed = batches.load(Ordering::Relaxed);
    let _ = server.kill();
    let _ = server.wait();
    println!(
        "beacon ingest (cdlc serve, {clients} clients, batches of 50): {:.0} batches/s, {:.0} events/s, {} refused",
        landed as f64 / elapsed,
        landed as f64 * 50.0 / elapsed,
        refused.load(Ordering::Relaxed)
    );
}

/// SplitMix64.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % n
    }
}

/// `events` lines of `day` (2% repeated), as files of 5000 lines.
fn generate(day: Day, events: usize) -> Vec<String> {
    let mut rng = Rng(7);
    let renditions = ["240p", "360p", "720p", "1080p"];
    let browsers = ["chrome", "firefox", "safari", "edge"];
    let (mut files, mut file, mut n, mut view) = (Vec::new(), String::new(), 0usize, 0u64);
    let mut seq = 0;
    while n < events {
        if seq == 0 || rng.below(20) == 0 {
            view += 1;
            seq = 0;
        }
        let at = day.start_ms() + rng.below(86_000_000) as i64;
        let kind = match seq {
            0 => "view_start",
            1 => "first_frame",
            _ => ["watch", "watch", "watch", "rebuffer", "rendition_switch"][rng.below(5) as usize],
        };
        let line = format!(
            "{{\"event_id\":\"v{view}.{seq}\",\"kind\":\"{kind}\",\"at_ms\":{at},\"received_ms\":{},\"source\":\"player\",\
             \"view_id\":\"v{view}\",\"asset_id\":\"a{}\",\"player\":\"hls.js\",\"browser\":\"{}\",\"rendition\":\"{}\",\"value_ms\":{}}}\n",
            at + 500,
            view % 200,
            browsers[(view % 4) as usize],
            renditions[rng.below(4) as usize],
            rng.below(5000)
        );
        seq += 1;
        let copies = if rng.below(50) == 0 { 2 } else { 1 };
        for _ in 0..copies {
            file.push_str(&line);
            n += 1;
            if n % 5000 == 0 {
                files.push(std::mem::take(&mut file));
            }
        }
    }
    if !file.is_empty() {
        files.push(file);
    }
    files
}

fn duckdb_script(dir: &std::path::Path, out: &std::path::Path, day: Day) -> String {
    let columns = "{event_id: 'VARCHAR', kind: 'VARCHAR', at_ms: 'BIGINT', received_ms: 'BIGINT', source: 'VARCHAR', \
        view_id: 'VARCHAR', user_id: 'VARCHAR', client: 'VARCHAR', asset_id: 'VARCHAR', title_id: 'VARCHAR', \
        player: 'VARCHAR', browser: 'VARCHAR', rendition: 'VARCHAR', error_code: 'VARCHAR', reason: 'VARCHAR', \
        value_ms: 'BIGINT', media_ms: 'BIGINT', attempts: 'BIGINT', bytes: 'BIGINT', hits: 'BIGINT', misses: 'BIGINT', \
        showtime_id: 'VARCHAR', amount: 'BIGINT', currency: 'VARCHAR'}";
    let mut script = format!(
        "SET threads = 2;\nCREATE TABLE events AS SELECT * EXCLUDE (copy_number) FROM (SELECT *, \
         row_number() OVER (PARTITION BY event_id ORDER BY received_ms, kind, at_ms, value_ms, view_id, asset_id) AS copy_number \
         FROM read_ndjson('{}/*.ndjson', columns = {columns}, ignore_errors = true) \
         WHERE strftime(make_timestamp(at_ms * 1000), '%Y-%m-%d') = '{day}' AND {}) WHERE copy_number = 1;\n",
        dir.display(),
        pipeline::check_sql()
    );
    for (table, sql) in PRODUCTION {
        let sql = sql.replace("{day}", &day.to_string()).replace(") / 100", ") // 100");
        script.push_str(&format!("COPY ({sql}) TO '{}/{table}.parquet' (FORMAT parquet);\n", out.display()));
    }
    script
}

async fn pipeline_next_to_duckdb() {
    let events: usize = env_or("CDLC_BENCH_EVENTS", 1_000_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(cdlc_storage::LocalStore::open(dir.path()).expect("store"));
    let objects = PrefixedObjects::new(store, "analytics");
    let day = Day::parse("2026-11-02").expect("day");
    let files = generate(day, events);
    for (n, text) in files.iter().enumerate() {
        objects
            .put(
                &lake::landing_key(day, day.start_ms() + n as i64, &format!("b{n:05}")),
                Bytes::from(text.clone()),
            )
            .await
            .expect("land");
    }
    let started = Instant::now();
    let report = cdlc_plugin_analytics::run_day(&objects, day).await.expect("run");
    let ours = started.elapsed().as_secs_f64();
    println!(
        "lake pipeline (refine, validate, produce; {events} landed lines, {} validated, {} duplicates): {ours:.2} s, {:.0} events/s",
        report.validated,
        report.duplicates,
        events as f64 / ours
    );
    let again = Instant::now();
    let rerun = cdlc_plugin_analytics::run_day(&objects, day).await.expect("re-run");
    println!(
        "  re-run of the unchanged day: {:.2} s, {} files written",
        again.elapsed().as_secs_f64(),
        rerun.files_written
    );

    let landing = dir.path().join("plugins/analytics").join(lake::landing_prefix(day));
    let out = tempfile::tempdir().expect("out");
    let script = duckdb_script(&landing, out.path(), day);
    let started = Instant::now();
    let child = Command::new("duckdb")
        .arg(":memory:")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        println!("duckdb CLI: not on PATH (pip install duckdb-cli), no comparison");
        return;
    };
    child.stdin.take().expect("stdin").write_all(script.as_bytes()).expect("script");
    let output = child.wait_with_output().expect("duckdb");
    let theirs = started.elapsed().as_secs_f64();
    assert!(output.status.success(), "duckdb failed: {}", String::from_utf8_lossy(&output.stderr));
    let tables = std::fs::read_dir(out.path()).expect("out").count();
    println!(
        "duckdb CLI (same checks, dedup and production SQL over the same NDJSON, {tables} tables): {theirs:.2} s, {:.0} events/s ({:.2}x ours)",
        events as f64 / theirs,
        ours / theirs
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        ingest_at_the_api().await;
        pipeline_next_to_duckdb().await;
    });
}
