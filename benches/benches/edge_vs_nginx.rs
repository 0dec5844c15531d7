//! The edge with a hot cache against nginx serving the same files from
//! disk, in one run: wrk at 64 connections on a 1 MB segment and a 2 KB
//! playlist, alternating nginx and the edge, reporting requests/s, p99 and
//! the ratios, in two layouts:
//!
//! - shared: servers and wrk (two threads) on all the cores, as they come.
//!   wrk then competes with the server it measures, and its latencies include
//!   the time its own threads wait for a core, which grows with the server's
//!   throughput.
//! - split (machines with 2 cores or more): wrk (one thread) pinned to core 0,
//!   the servers to the other cores with one worker (nginx) or thread (edge)
//!   per core, so each side has its own.
//!
//! nginx: a generated config on a free loopback port (pid, logs and temp
//! paths in a temporary directory, so no root), sendfile on, access log
//! off, open_file_cache on, as many workers as cores. The edge: the release
//! `cdlc edge --origin file://…` in front of the same directory, warmed.
//! Both need the Debian packages `nginx` and `wrk` (`make bench` installs them).
//!
//! Settings: CDLC_BENCH_RUNS (alternations, default 2), CDLC_BENCH_DURATION
//! (seconds of each wrk run, default 10).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cdlc_testkit::free_port;

/// Deterministic bytes (a segment is incompressible).
fn noise(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

fn write_objects(objects: &Path) {
    let dir = objects.join("streams/bench/720p");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("00001.m4s"), noise(1 << 20)).expect("segment");
    let mut playlist = String::from(
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:2\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-MAP:URI=\"init.mp4\"\n",
    );
    let mut n = 1;
    while playlist.len() < 2000 {
        playlist.push_str(&format!("#EXTINF:2.000,\n{n:05}.m4s\n"));
        n += 1;
    }
    playlist.push_str("#EXT-X-ENDLIST\n");
    std::fs::write(dir.join("playlist.m3u8"), playlist).expect("playlist");
}

struct Process(Child);

impl Drop for Process {
    /// SIGTERM first: nginx's master then stops its workers (a SIGKILL
    /// would leave them running); SIGKILL if it is still there after 5 s.
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let ok = Command::new("curl")
            .args(["-s", "-f", "-o", "/dev/null", url])
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{url} did not answer within 20 s");
}

/// Where the processes of one layout run.
#[derive(Debug, Clone)]
struct Layout {
    name: &'static str,
    /// `taskset -c` list of the servers' cores, and how many there are.
    server_cores: Option<(String, usize)>,
    /// wrk's threads, and its `taskset -c` list.
    wrk_threads: usize,
    wrk_cores: Option<String>,
}

impl Layout {
    fn all(cores: usize) -> Vec<Layout> {
        let mut layouts =
            vec![Layout { name: "shared", server_cores: None, wrk_threads: 2, wrk_cores: None }];
        if cores >= 2 {
            let servers = if cores == 2 { "1".to_owned() } else { format!("1-{}", cores - 1) };
            layouts.push(Layout {
                name: "split",
                server_cores: Some((servers, cores - 1)),
                wrk_threads: 1,
                wrk_cores: Some("0".into()),
            });
        }
        layouts
    }

    fn describe(&self) -> String {
        match (&self.server_cores, &self.wrk_cores) {
            (Some((servers, n)), Some(wrk)) => format!(
                "servers on core(s) {servers} ({n} worker(s) each), wrk -t{} on core {wrk}",
                self.wrk_threads
            ),
            _ => format!("servers and wrk -t{} on every core", self.wrk_threads),
        }
    }
}

/// `program` under `taskset -c cores` when `cores` is set.
fn pinned(cores: Option<&str>, program: &str) -> Command {
    match cores {
        Some(cores) => {
            let mut command = Command::new("taskset");
            command.args(["-c", cores, program]);
            command
        }
        None => Command::new(program),
    }
}

fn start_nginx(dir: &Path, objects: &Path, port: u16, layout: &Layout) -> Process {
    let prefix = dir.join(format!("nginx-{}", layout.name));
    let workers = layout.server_cores.as_ref().map_or("auto".to_owned(), |(_, n)| n.to_string());
    std::fs::create_dir_all(prefix.join("logs")).expect("mkdir");
    let config = format!(
        r#"worker_processes {workers};
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    open_file_cache max=1000 inactive=60s;
    client_body_temp_path {prefix}/client;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    types {{ application/vnd.apple.mpegurl m3u8; video/iso.segment m4s; }}
    server {{
        listen 127.0.0.1:{port};
        root {objects};
        etag on;
    }}
}}
"#,
        prefix = prefix.display(),
        objects = objects.display(),
    );
    let conf = prefix.join("nginx.conf");
    std::fs::write(&conf, config).expect("nginx.conf");
    let child = pinned(layout.server_cores.as_ref().map(|(c, _)| c.as_str()), "nginx")
        .arg("-p")
        .arg(&prefix)
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx (apt install nginx; make bench does)");
    Process(child)
}

fn start_edge(objects: &Path, port: u16, layout: &Layout) -> Process {
    let threads = layout.server_cores.as_ref().map_or(0, |(_, n)| *n);
    let cdlc = cdlc_benches::cdlc_bin();
    let child = pinned(layout.server_cores.as_ref().map(|(c, _)| c.as_str()), &cdlc.to_string_lossy())
        .arg("edge")
        .args(["--threads", &threads.to_string()])
        .arg("--origin")
        .arg(format!("file://{}", objects.display()))
        .args(["--listen", &format!("127.0.0.1:{port}"), "--memory-bytes", &(256u64 << 20).to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cdlc edge");
    Process(child)
}

#[derive(Debug, Clone, Copy)]
struct Run {
    requests_per_second: f64,
    p99_ms: f64,
}

/// `wrk -c64 -t{threads} -d{seconds}s --latency URL`, parsed.
fn wrk(url: &str, seconds: u64, layout: &Layout) -> Run {
    let output = pinned(layout.wrk_cores.as_deref(), "wrk")
        .args(["-c64", &format!("-t{}", layout.wrk_threads), &format!("-d{seconds}s"), "--latency", url])
        .output()
        .expect("wrk (apt install wrk; make bench does)");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(!text.contains("Non-2xx"), "errors from {url}:\n{text}");
    let requests_per_second = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Requests/sec in\n{text}"));
    let p99 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no 99% line in\n{text}"));
    Run { requests_per_second, p99_ms: milliseconds(p99) }
}

fn milliseconds(value: &str) -> f64 {
    let (number, factor) = if let Some(n) = value.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = value.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = value.strip_suffix('s') {
        (n, 1000.0)
    } else {
        (value, 1.0)
    };
    number.parse::<f64>().expect("latency") * factor
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn main() {
    let runs: usize = std::env::var("CDLC_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(2);
    let seconds: u64 = std::env::var("CDLC_BENCH_DURATION").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
    let dir = tempfile::tempdir().expect("tmp");
    let objects = dir.path().join("objects");
    write_objects(&objects);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let objects_under_test = [
        ("1 MB segment", "/streams/bench/720p/00001.m4s"),
        ("2 KB playlist", "/streams/bench/720p/playlist.m3u8"),
    ];
    for layout in Layout::all(cores) {
        let (nginx_port, edge_port) = (free_port(), free_port());
        let _nginx = start_nginx(dir.path(), &objects, nginx_port, &layout);
        let _edge = start_edge(&objects, edge_port, &layout);
        for (_, path) in objects_under_test {
            wait_for(&format!("http://127.0.0.1:{nginx_port}{path}"));
            wait_for(&format!("http://127.0.0.1:{edge_port}{path}"));
            wrk(&format!("http://127.0.0.1:{edge_port}{path}"), 1, &layout); // warm the edge's cache
        }
        println!(
            "edge_vs_nginx, {} layout: {}; wrk -c64 -d{seconds}s, {runs} alternating run(s), medians",
            layout.name,
            layout.describe()
        );
        println!(
            "{:<14} {:>12} {:>12} {:>9} {:>12} {:>12} {:>9}",
            "object", "nginx req/s", "edge req/s", "ratio", "nginx p99", "edge p99", "ratio"
        );
        for (name, path) in objects_under_test {
            let (mut nginx, mut edge) = (Vec::new(), Vec::new());
            for _ in 0..runs {
                nginx.push(wrk(&format!("http://127.0.0.1:{nginx_port}{path}"), seconds, &layout));
                edge.push(wrk(&format!("http://127.0.0.1:{edge_port}{path}"), seconds, &layout));
            }
            let rps = |runs: &[Run]| median(runs.iter().map(|r| r.requests_per_second).collect());
            let p99 = |runs: &[Run]| median(runs.iter().map(|r| r.p99_ms).collect());
            let (nginx_rps, edge_rps, nginx_p99, edge_p99) =
                (rps(&nginx), rps(&edge), p99(&nginx), p99(&edge));
            println!(
                "{name:<14} {nginx_rps:>12.0} {edge_rps:>12.0} {:>8.2}x {:>10.2}ms {:>10.2}ms {:>8.2}x",
                edge_rps / nginx_rps,
                nginx_p99,
                edge_p99,
                edge_p99 / nginx_p99,
            );
        }
        println!();
    }
    println!("(req/s ratio = edge/nginx, higher is better; p99 ratio = edge/nginx, lower is better)");
}
