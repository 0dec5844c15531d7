//! The real servers the tests run, and what they share.
//!
//! - [`seaweed`]: an S3 server (SeaweedFS `weed mini`);
//! - [`cassandra`]: a CQL node (Apache Cassandra 5.0);
//! - [`mariadb`]: a MySQL server (Debian's MariaDB);
//! - [`nats`]: a NATS server with JetStream.
//!
//! [`Watched`] runs a server so that it dies with the test process however
//! that ends, [`free_ports`] finds loopback ports, [`tail`] reads the end of
//! a log for a failure message.
//!
//! The servers live here, not behind a test feature of the crates they
//! serve: a feature that only tests turn on gives those crates, and every
//! crate above them, a second build in `cargo test`.

pub mod cassandra;
pub mod mariadb;
pub mod nats;
pub mod seaweed;

use std::io::{Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Runs the server; on EOF of stdin (the test process closed the pipe or
/// died: only it holds the write end) stops it: SIGTERM, and SIGKILL after
/// `$CDLC_STOP_TENTHS` tenths of a second, when `$CDLC_WATCHED_DIR/stopping`
/// exists (a stop the test asked for: the folder stays), SIGKILL and the
/// folder removed otherwise (the data is thrown away, and a graceful stop
/// takes seconds).
const WATCHDOG: &str = r#"
"$0" "$@" >>"$CDLC_WATCHED_LOG" 2>&1 </dev/null &
server=$!
cat >/dev/null
if [ -e "$CDLC_WATCHED_DIR/stopping" ]; then
  kill -TERM "$server"
  i=0
  while kill -0 "$server" 2>/dev/null && [ $i -lt "$CDLC_STOP_TENTHS" ]; do sleep 0.1; i=$((i+1)); done
  kill -9 "$server" 2>/dev/null
  wait "$server"
else
  kill -9 "$server"
  wait "$server"
  rm -rf "$CDLC_WATCHED_DIR"
fi
"#;

/// A server process under a shell watchdog, its output appended to `log`
/// and its folder `dir`. Dropped (or when the test process ends), it is
/// killed and `dir` removed.
#[derive(Debug)]
pub struct Watched {
    watchdog: Option<Child>,
    dir: PathBuf,
}

impl Watched {
    /// Starts `server` (its program, arguments and environment are taken
    /// from the command) under the watchdog.
    pub fn spawn(server: &Command, dir: &Path, log: &Path, stop_limit: Duration) -> Watched {
        let mut shell = Command::new("sh");
        shell.arg("-c").arg(WATCHDOG).arg(server.get_program()).args(server.get_args());
        for (name, value) in server.get_envs() {
            match value {
                Some(value) => shell.env(name, value),
                None => shell.env_remove(name),
            };
        }
        let watchdog = shell
            .env("CDLC_WATCHED_DIR", dir)
            .env("CDLC_WATCHED_LOG", log)
            .env("CDLC_STOP_TENTHS", (stop_limit.as_millis() / 100).to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            // The shell would only report that the server was killed.
            .stderr(Stdio::null())
            .spawn()
            .expect("run sh");
        Watched { watchdog: Some(watchdog), dir: dir.to_owned() }
    }

    /// The server's exit status if it has exited (its watchdog then ends too).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.watchdog.as_mut().and_then(|child| child.try_wait().ok().flatten())
    }

    /// Stops the server the way an operator would (SIGTERM, then SIGKILL
    /// after the stop limit) and keeps its folder, for a restart.
    pub fn stop_gracefully(&mut self) {
        std::fs::write(self.dir.join("stopping"), "").expect("mark the stop");
        self.close();
        let _ = std::fs::remove_file(self.dir.join("stopping"));
    }

    /// Closes the watchdog's pipe and waits until the server is gone.
    fn close(&mut self) {
        if let Some(mut watchdog) = self.watchdog.take() {
            drop(watchdog.stdin.take());
            let _ = watchdog.wait();
        }
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.dir.join("stopping"));
        self.close();
    }
}

/// Where [`free_port`] looks: below Linux's ephemeral range (32768 and
/// up), which outgoing connections draw from. A port the OS hands out for
/// `bind(0)` is in that range, so a server's own client connections (weed's
/// master dialing its volume server) can take it before the server that was
/// told to listen on it starts: CI saw "port 34467 for S3 is not available".
pub const PORTS: std::ops::Range<u16> = 15_000..32_000;

/// A free loopback port in [`PORTS`]. Each call of a process tries the
/// next port after the last one it returned, starting from a place the
/// process id and the clock pick, so the threads of a test binary never
/// get the same port and two binaries seldom start near each other.
pub fn free_port() -> u16 {
    free_ports::<1>()[0]
}

/// Distinct free loopback ports in [`PORTS`].
pub fn free_ports<const N: usize>() -> [u16; N] {
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let span = u32::from(PORTS.end - PORTS.start);
    let _ = NEXT.compare_exchange(u32::MAX, start_offset(span), Ordering::Relaxed, Ordering::Relaxed);
    let mut ports = [0; N];
    let mut found = 0;
    for _ in 0..span {
        if found == N {
            break;
        }
        let offset = NEXT.fetch_add(1, Ordering::Relaxed) % span;
        let port = PORTS.start + u16::try_from(offset).expect("offset below the span");
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            ports[found] = port;
            found += 1;
        }
    }
    assert_eq!(found, N, "no {N} free loopback ports in {PORTS:?}");
    ports
}

fn start_offset(span: u32) -> u32 {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or_default();
    (std::process::id().wrapping_mul(2_654_435_761) ^ nanos) % span
}

/// The last `bytes` of a log, or a note that there is none.
pub fn tail(log: &Path, bytes: u64) -> String {
    let Ok(mut file) = std::fs::File::open(log) else {
        return format!("(no log at {})", log.display());
    };
    let length = file.metadata().map(|m| m.len()).unwrap_or_default();
    let _ = file.seek(SeekFrom::Start(length.saturating_sub(bytes)));
    let mut text = String::new();
    let _ = file.read_to_string(&mut text);
    text
}

/// The repository's root (where `.cache/` and `metadata/cassandra/` are).
pub fn repository() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap_or(Path::new("."))
}

/// A per-process folder under the temp dir, made empty.
pub fn fresh_dir(kind: &str, counter: u64) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cdlc-{kind}-{}-{counter}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    dir
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alive(pid_file: &Path) -> bool {
        let pid = std::fs::read_to_string(pid_file).unwrap_or_default();
        Command::new("kill").args(["-0", pid.trim()]).status().is_ok_and(|s| s.success())
    }

    /// A server that writes its pid, then sleeps.
    fn sleeper(dir: &Path) -> Command {
        let mut command = Command::new("sh");
        command.arg("-c").arg(format!("echo $$ > {}/pid; exec sleep 60", dir.display()));
        command
    }

    fn wait_for(file: &Path) {
        for _ in 0..100 {
            if std::fs::read_to_string(file).is_ok_and(|t| !t.trim().is_empty()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("{} never appeared", file.display());
    }

    #[test]
    fn a_dropped_server_is_killed_and_its_folder_removed() {
        let dir = fresh_dir("testkit-drop", 0);
        let log = dir.join("log");
        let mut watched = Watched::spawn(&sleeper(&dir), &dir, &log, Duration::ZERO);
        wait_for(&dir.join("pid"));
        let pid_copy = std::env::temp_dir().join(format!("cdlc-testkit-pid-{}", std::process::id()));
        std::fs::copy(dir.join("pid"), &pid_copy).expect("copy the pid");
        assert!(watched.exited().is_none() && alive(&pid_copy));
        drop(watched);
        assert!(!alive(&pid_copy), "the server was killed");
        assert!(!dir.exists(), "its folder was removed");
        let _ = std::fs::remove_file(pid_copy);
    }

    #[test]
    fn a_graceful_stop_keeps_the_folder() {
        let dir = fresh_dir("testkit-stop", 0);
        let mut watched = Watched::spawn(&sleeper(&dir), &dir, &dir.join("log"), Duration::from_secs(5));
        wait_for(&dir.join("pid"));
        watched.stop_gracefully();
        assert!(!alive(&dir.join("pid")), "SIGTERM stopped it");
        assert!(dir.join("pid").exists() && !dir.join("stopping").exists(), "the folder stays, unmarked");
        drop(watched);
        std::fs::remove_dir_all(&dir).expect("clean up");
    }
}
