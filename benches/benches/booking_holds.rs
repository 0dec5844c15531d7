//! Seat holds on one hot showtime: 200 concurrent clients hold the 2 000
//! seats of one showtime through the release `cdlc serve` (HTTP, the
//! booking plugin's full path: auth, JSON, the seat-claim INSERT in its
//! transaction), next to the peer of the same work done as one plain SQL
//! conditional UPDATE per seat (`UPDATE … SET holder = ? WHERE seat = ? AND
//! holder IS NULL`) by 200 threads against the same SQLite file, sharing
//! one connection as SQLite's one writer (200 connections would mostly wait
//! in SQLite's busy handler instead). Reports
//! holds/s and the p50/p99 of one hold for both, and checks that every seat
//! was held exactly once on each side.
//!
//! Settings: CDLC_BENCH_CLIENTS (default 200), CDLC_BENCH_ROWS (rows of ten
//! seats, default 200).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TOKEN: &str = "bench-admin-token-0123456789abcdef";

use cdlc_testkit::free_port;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(data: &Path, port: u16) -> Server {
    let config = data.with_extension("toml");
    std::fs::write(
        &config,
        "[plugins.catalog]\nenabled = false\n\n[plugins.booking]\nmax_seats_per_hold = 1\nhold_seconds = 3600\n",
    )
    .expect("config");
    let child = Command::new(cdlc_benches::cdlc_bin())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(data)
        .arg("--config")
        .arg(&config)
        .env("CDLC_ADMIN_TOKEN", TOKEN)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("start cdlc serve");
    let server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "cdlc serve did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    server
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

struct Run {
    held: usize,
    refused: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Run {
    fn report(&mut self, name: &str) -> f64 {
        self.latencies.sort();
        let rate = self.held as f64 / self.elapsed.as_secs_f64();
        println!(
            "{name:<28} {:>6} holds in {:>6.2} s = {rate:>8.0} holds/s   p50 {:>7.2} ms   p99 {:>7.2} ms   ({} refused)",
            self.held,
            self.elapsed.as_secs_f64(),
            percentile(&self.latencies, 0.50),
            percentile(&self.latencies, 0.99),
            self.refused
        );
        rate
    }
}

async fn post(client: &reqwest::Client, url: &str, body: serde_json::Value) -> serde_json::Value {
    let answer = client.post(url).bearer_auth(TOKEN).json(&body).send().await.expect("POST");
    let status = answer.status();
    let text = answer.text().await.expect("body");
    assert!(status.is_success(), "{url}: {status} {text}");
    serde_json::from_str(&text).expect("JSON")
}

/// A showtime of `rows` rows of ten seats; its id and the seat ids.
async fn showtime(client: &reqwest::Client, base: &str, rows: usize) -> (String, Vec<String>) {
    let venue = post(client, &format!("{base}/venues"), serde_json::json!({ "name": "Bench" })).await;
    let labels: Vec<String> = (0..rows).map(|r| format!("R{r}")).collect();
    let map_rows: Vec<serde_json::Value> = labels
        .iter()
        .map(|label| {
            let seats: Vec<_> = (1..=10)
                .map(|s| serde_json::json!({ "label": s.to_string(), "category": "standard" }))
                .collect();
            serde_json::json!({ "label": label, "seats": seats })
        })
        .collect();
    let map =
        serde_json::json!({ "categories": [{ "id": "standard", "name": "Standard" }], "rows": map_rows });
    let screen = post(
        client,
        &format!("{base}/venues/{}/screens", venue["id"].as_str().expect("id")),
        serde_json::json!({ "name": "1", "seat_map": map }),
    )
    .await;
    let starts = time_in(7 * 86_400);
    let show = post(
        client,
        &format!("{base}/showtimes"),
        serde_json::json!({ "title_id": "tt0068646", "screen_id": screen["id"], "starts_at": starts,
            "runtime_minutes": 120, "currency": "EUR", "prices": { "standard": 1250 } }),
    )
    .await;
    let seats = labels.iter().flat_map(|l| (1..=10).map(move |s| format!("{l}-{s}"))).collect();
    (show["id"].as_str().expect("id").to_owned(), seats)
}

fn time_in(seconds: u64) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
    let output = Command::new("date")
        .args(["-u", "-d", &format!("@{}", now + seconds), "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .expect("date");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

async fn cdlc_holds(base: &str, showtime: &str, seats: &[String], clients: usize) -> Run {
    let client = reqwest::Client::builder().pool_max_idle_per_host(clients).build().expect("client");
    let seats = Arc::new(seats.to_vec());
    let url = Arc::new(format!("{base}/showtimes/{showtime}/holds"));
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let (client, seats, url) = (client.clone(), seats.clone(), url.clone());
            tokio::spawn(async move {
                let mut mine = Vec::new();
                let mut refused = 0;
                for seat in seats.iter().skip(c).step_by(clients) {
                    let t = Instant::now();
                    let answer = client
                        .post(url.as_str())
                        .bearer_auth(TOKEN)
                        .json(&serde_json::json!({ "seats": [seat] }))
                        .send()
                        .await
                        .expect("POST hold");
                    let status = answer.status().as_u16();
                    let _ = answer.bytes().await;
                    match status {
                        201 => mine.push(t.elapsed()),
                        _ => refused += 1,
                    }
                }
                (mine, refused)
            })
        })
        .collect();
    let mut run = Run { held: 0, refused: 0, elapsed: Duration::ZERO, latencies: Vec::new() };
    for task in tasks {
        let (latencies, refused) = task.await.expect("client");
        run.held += latencies.len();
        run.refused += refused;
        run.latencies.extend(latencies);
    }
    run.elapsed = started.elapsed();
    run
}

/// The peer: one conditional UPDATE per seat, 200 threads, one shared
/// connection (prepared statement cached), the same file.
fn sql_holds(db: &Path, seats: &[String], clients: usize) -> Run {
    let setup = rusqlite::Connection::open(db).expect("open the store");
    setup
        .execute_batch(
            "DROP TABLE IF EXISTS bench_seats; \
             CREATE TABLE bench_seats (seat_id TEXT PRIMARY KEY, holder TEXT, held_until INTEGER);",
        )
        .expect("peer table");
    {
        let mut insert = setup.prepare("INSERT INTO bench_seats (seat_id) VALUES (?)").expect("prepare");
        for seat in seats {
            insert.execute([seat]).expect("seat");
        }
    }
    let seats = Arc::new(seats.to_vec());
    let shared = rusqlite::Connection::open(db).expect("open");
    shared.busy_timeout(Duration::from_secs(30)).expect("busy timeout");
    // The plugin store's own settings (plugin-store/src/sqlite.rs).
    shared.pragma_update(None, "journal_mode", "WAL").expect("WAL");
    shared.pragma_update(None, "synchronous", "NORMAL").expect("synchronous");
    let shared = Arc::new(std::sync::Mutex::new(shared));
    let started = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|c| {
            let (seats, shared) = (seats.clone(), shared.clone());
            std::thread::spawn(move || {
                let mut mine = Vec::new();
                let mut refused = 0;
                for seat in seats.iter().skip(c).step_by(clients) {
                    let t = Instant::now();
                    let conn = shared.lock().expect("connection");
                    let changed = conn
                        .prepare_cached(
                            "UPDATE bench_seats SET holder = ?, held_until = ? WHERE seat_id = ? AND holder IS NULL",
                        )
                        .and_then(|mut update| update.execute(rusqlite::params![format!("client-{c}"), 3600, seat]))
                        .expect("update");
                    drop(conn);
                    match changed {
                        1 => mine.push(t.elapsed()),
                        _ => refused += 1,
                    }
                }
                (mine, refused)
            })
        })
        .collect();
    let mut run = Run { held: 0, refused: 0, elapsed: Duration::ZERO, latencies: Vec::new() };
    for thread in threads {
        let (latencies, refused) = thread.join().expect("thread");
        run.held += latencies.len();
        run.refused += refused;
        run.latencies.extend(latencies);
    }
    run.elapsed = started.elapsed();
    let count: i64 = setup
        .query_row("SELECT COUNT(*) FROM bench_seats WHERE holder IS NOT NULL", [], |r| r.get(0))
        .expect("count");
    assert_eq!(count as usize, seats.len(), "the peer held every seat once");
    setup.execute_batch("DROP TABLE bench_seats").expect("drop");
    run
}

fn main() {
    let clients = env_usize("CDLC_BENCH_CLIENTS", 200);
    let rows = env_usize("CDLC_BENCH_ROWS", 200);
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    let port = free_port();
    let _server = start(&data, port);
    let base = format!("http://127.0.0.1:{port}/api/v1/booking");
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    println!(
        "booking holds: {clients} concurrent clients, one showtime of {} seats, one seat per hold",
        rows * 10
    );
    let (mut cdlc, seats) = runtime.block_on(async {
        let client = reqwest::Client::new();
        let (show, seats) = showtime(&client, &base, rows).await;
        (cdlc_holds(&base, &show, &seats, clients).await, seats)
    });
    assert_eq!(cdlc.held, seats.len(), "cdlc held every seat once ({} refused)", cdlc.refused);
    let db = data.join("stores/booking.db");
    let claims: i64 = rusqlite::Connection::open(&db)
        .expect("store")
        .query_row("SELECT COUNT(*) FROM seat_claims", [], |r| r.get(0))
        .expect("claims");
    assert_eq!(claims as usize, seats.len(), "one claim per seat in the store");
    let cdlc_rate = cdlc.report("cdlc POST /holds (HTTP)");
    let mut peer = sql_holds(&db, &seats, clients);
    let peer_rate = peer.report("plain SQL conditional UPDATE");
    println!("ratio: cdlc at {:.0}% of the plain SQL peer's holds/s", 100.0 * cdlc_rate / peer_rate);
}
