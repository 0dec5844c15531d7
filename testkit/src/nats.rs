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
        let port = crate::free_port();
        let child = Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(&store)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server is installed (make test installs the Debian package nats-server)");
        let server = NatsServer { child, url: format!("nats://127.0.0.1:{port}"), store };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
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
