//! A real `nats-server -js` for tests: started on
//! a free loopback port with its own store directory, killed on drop.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running nats-server with JetStream.
#[derive(Debug)]
pub struct NatsServer {
    child: Child,
    url: String,
    store: PathBuf,
}

impl NatsServer {
    /// Starts `nats-server` (the Debian package; `make test` installs it)
    /// with its store under `store`, and waits until it accepts connections.
    ///
    /// # Panics
    /// When nats-server is missing or does not listen within 20 s: tests
    /// cannot run without it.
    pub fn start(store: impl Into<PathBuf>) -> NatsServer {
        let store = store.into();
        // A port another process took between our check and nats-server's
        // bind makes nats-server exit while the probe reaches that other
        // listener: so the probe wants NATS's greeting from a server that
        // still runs, and a new port is tried when ours exited.
        for _ in 0..5 {
            let port = crate::free_port();
            let mut child = Command::new("nats-server")
                .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
                .arg(&store)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("nats-server is installed (make test installs the Debian package nats-server)");
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                if child.try_wait().ok().flatten().is_some() {
                    break; // it exited: the port was taken
                }
                if greets(port) && child.try_wait().ok().flatten().is_none() {
                    return NatsServer { child, url: format!("nats://127.0.0.1:{port}"), store };
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    panic!("nats-server did not listen on {port}");
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("nats-server exited at start five times (its ports taken?)");
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn store(&self) -> &std::path::Path {
        &self.store
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether a NATS server answers on `port`: it greets with `INFO {…}`.
fn greets(port: u16) -> bool {
    use std::io::Read;
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut greeting = [0u8; 5];
    stream.read_exact(&mut greeting).is_ok() && &greeting == b"INFO "
}
