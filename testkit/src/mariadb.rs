//! A real MariaDB server for tests: Debian's
//! `mariadb-server-core` and `mariadb-client-core` (`make test` installs
//! them), a fresh data folder made by `mariadb-install-db`, `mariadbd` on
//! a free loopback port, and a user with a password the tests connect as.
//!
//! [`MariaDbServer::shared`] starts one per test process, the first time a
//! test asks; it is killed and its folder removed when the process ends,
//! however it ends (a shell watchdog holds a pipe only this process writes
//! to). `CDLC_TEST_MYSQL=mysql://USER:PASSWORD@HOST:PORT` names a running
//! MySQL or MariaDB server to use instead.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::{free_port, fresh_dir, tail, Watched};

/// A running server's URL (without a prefix), named instead of starting one.
pub const SERVER_VARIABLE: &str = "CDLC_TEST_MYSQL";
/// The user the tests connect as, and its password.
pub const USER: &str = "cdlc";
pub const PASSWORD: &str = "cdlc-test-password";
/// How long mariadbd may take to accept connections.
const STARTUP_LIMIT: Duration = Duration::from_secs(60);

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A MySQL-protocol server the tests may create databases on.
#[derive(Debug)]
pub struct MariaDbServer {
    /// `mysql://USER:PASSWORD@127.0.0.1:PORT`, without a database.
    base: String,
    /// Killed (and its folder removed) on drop.
    _server: Option<Watched>,
    started_in: Duration,
}

impl MariaDbServer {
    /// The server every test of this process shares.
    ///
    /// # Panics
    /// With what to install when MariaDB is missing, or with the server's
    /// log when it does not start.
    pub fn shared() -> &'static MariaDbServer {
        static SHARED: OnceLock<MariaDbServer> = OnceLock::new();
        SHARED.get_or_init(|| match std::env::var(SERVER_VARIABLE) {
            Ok(url) if !url.trim().is_empty() => MariaDbServer {
                base: url.trim().trim_end_matches('/').to_owned(),
                _server: None,
                started_in: Duration::ZERO,
            },
            _ => {
                let server = MariaDbServer::start();
                eprintln!(
                    "MariaDB test server at {} up in {:.1} s",
                    server.base,
                    server.started_in.as_secs_f64()
                );
                server
            }
        })
    }

    /// Starts a server of its own.
    pub fn start() -> MariaDbServer {
        let started = Instant::now();
        let dir = fresh_dir("mariadb", COUNTER.fetch_add(1, Ordering::Relaxed));
        let data = dir.join("data");
        let install = Command::new(tool("mariadb-install-db"))
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .args(["--auth-root-authentication-method=normal", "--skip-test-db", "--user=root"])
            .output()
            .expect("run mariadb-install-db");
        assert!(
            install.status.success(),
            "mariadb-install-db failed:\n{}{}",
            String::from_utf8_lossy(&install.stdout),
            String::from_utf8_lossy(&install.stderr)
        );
        let port = free_port();
        let socket = dir.join("sock");
        let mut mariadbd = Command::new(tool("mariadbd"));
        mariadbd
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--port={port}"))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--socket={}", socket.display()))
            .arg(format!("--pid-file={}", dir.join("pid").display()))
            .args([
                "--user=root",
                "--skip-name-resolve",
                "--skip-log-bin",
                "--innodb-buffer-pool-size=64M",
                "--innodb-log-file-size=16M",
                // The data is thrown away: no fsync per commit.
                "--innodb-flush-log-at-trx-commit=2",
                "--max-connections=500",
            ]);
        let log = dir.join("server.log");
        let mut server = Watched::spawn(&mariadbd, &dir, &log, Duration::ZERO);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = server.exited() {
                panic!("mariadbd exited ({status}) before it accepted connections:\n{}", tail(&log, 4000));
            }
            assert!(
                started.elapsed() < STARTUP_LIMIT,
                "mariadbd did not listen within {STARTUP_LIMIT:?}:\n{}",
                tail(&log, 4000)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        // The tests' user, over the socket as root (no password, "normal" auth).
        let grant = format!(
            "CREATE USER '{USER}'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}'; \
             GRANT ALL PRIVILEGES ON *.* TO '{USER}'@'127.0.0.1';"
        );
        let client = Command::new(tool("mariadb"))
            .arg("--no-defaults")
            .arg(format!("--socket={}", socket.display()))
            .args(["-u", "root", "-e", &grant])
            .output()
            .expect("run the mariadb client");
        assert!(
            client.status.success(),
            "creating the test user failed: {}",
            String::from_utf8_lossy(&client.stderr)
        );
        MariaDbServer {
            base: format!("mysql://{USER}:{PASSWORD}@127.0.0.1:{port}"),
            _server: Some(server),
            started_in: started.elapsed(),
        }
    }

    /// The stores URL of `prefix` on this server (each store is the database
    /// `{prefix}_{name}`).
    pub fn url(&self, prefix: &str) -> String {
        format!("{}/{prefix}", self.base)
    }

    /// How long install and start took (zero for a server named by `CDLC_TEST_MYSQL`).
    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    /// A prefix no other test of any process uses.
    pub fn fresh_prefix(&self) -> String {
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
        let unique =
            (nanos as u64) ^ (u64::from(std::process::id()) << 40) ^ COUNTER.fetch_add(1, Ordering::Relaxed);
        format!("t{unique:016x}")
    }
}

/// A MariaDB program: on PATH, or in /usr/sbin (mariadbd is there, often
/// outside a user's PATH).
fn tool(name: &str) -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).map(|dir| dir.join(name)).collect::<Vec<_>>())
        .unwrap_or_default();
    let debian = [Path::new("/usr/sbin").join(name), Path::new("/usr/bin").join(name)];
    on_path.into_iter().chain(debian).find(|p| p.is_file()).unwrap_or_else(|| {
        panic!(
            "the MySQL tests run Debian's MariaDB, and {name} is not installed: install the Debian \
             packages mariadb-server-core and mariadb-client-core (make test does), or set \
             {SERVER_VARIABLE}=mysql://USER:PASSWORD@HOST:PORT to use a running MySQL or MariaDB server"
        )
    })
}
