//! A real CQL node for tests (`cdlc_testkit::cassandra`): Apache Cassandra 5.0
//! from Maven Central (`metadata/cassandra/`), one JVM on loopback ports
//! with a temporary data folder.
//!
//! [`CassandraNode::shared`] starts one per test process, the first time a
//! test asks; it is killed when the process ends, however it ends (a shell
//! watchdog holds a pipe only this process writes to). A test that stops
//! the node on purpose starts one of its own with [`CassandraNode::start`].
//!
//! `CDLC_TEST_SCYLLA=host:port` names a running node (ScyllaDB or
//! Cassandra) to use instead; the keyspaces the tests make are their own.
//!
//! Needs OpenJDK 17 (`CDLC_JAVA`, or Debian's `/usr/lib/jvm/java-17-*`, or
//! `java` on PATH when it is 17: Cassandra 5.0's security manager call
//! fails on Java 24 and later) and the jars, which `make test` fetches into
//! `.cache/cassandra` (the node fetches them itself when Maven is there).

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::{free_ports, fresh_dir, repository, tail, Watched};

/// A running node's CQL address, named instead of starting one.
pub const NODE_VARIABLE: &str = "CDLC_TEST_SCYLLA";
/// How long a node may take to open its CQL port (two shared cores).
const STARTUP_LIMIT: Duration = Duration::from_secs(180);
/// How long a stopping node may take to drain before it is killed.
const STOP_LIMIT: Duration = Duration::from_secs(30);
/// The datacenter a one-node Cassandra with SimpleSnitch reports.
pub const DATACENTER: &str = "datacenter1";

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Where a node listens: a running one (`CDLC_TEST_SCYLLA`) or one this
/// process started.
#[derive(Debug)]
pub struct CassandraNode {
    address: String,
    process: Option<Process>,
}

#[derive(Debug)]
struct Process {
    server: Option<Watched>,
    dir: PathBuf,
    cql_port: u16,
    java: PathBuf,
    lib: PathBuf,
    started_in: Duration,
}

impl CassandraNode {
    /// The node every test of this process shares.
    ///
    /// # Panics
    /// With what to install when Java 17 or the jars are missing, or with
    /// the node's log when it does not start.
    pub fn shared() -> &'static CassandraNode {
        static SHARED: OnceLock<CassandraNode> = OnceLock::new();
        SHARED.get_or_init(|| match std::env::var(NODE_VARIABLE) {
            Ok(node) if !node.trim().is_empty() => {
                CassandraNode { address: node.trim().to_owned(), process: None }
            }
            _ => {
                let node = CassandraNode::start();
                eprintln!(
                    "Apache Cassandra test node at {} opened its CQL port in {:.1} s",
                    node.address(),
                    node.started_in().as_secs_f64()
                );
                node
            }
        })
    }

    /// Starts a node of its own (for a test that stops it) and waits until
    /// its CQL port answers.
    pub fn start() -> CassandraNode {
        let java = java17();
        let lib = jars();
        let dir = fresh_dir("cassandra", COUNTER.fetch_add(1, Ordering::Relaxed));
        std::fs::create_dir_all(dir.join("conf")).expect("create the node's conf folder");
        let [cql_port, storage_port] = free_ports();
        std::fs::write(dir.join("conf/cassandra.yaml"), yaml(&dir, cql_port, storage_port))
            .expect("write cassandra.yaml");
        let source = repository().join("metadata/cassandra");
        std::fs::copy(source.join("logback.xml"), dir.join("conf/logback.xml")).expect("copy logback.xml");
        let mut process = Process { server: None, dir, cql_port, java, lib, started_in: Duration::ZERO };
        process.spawn();
        CassandraNode { address: format!("127.0.0.1:{cql_port}"), process: Some(process) }
    }

    /// `host:port` of the CQL port.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The `scylla://` URL of `keyspace` on this node (replication factor 1).
    pub fn url(&self, keyspace: &str) -> String {
        format!("scylla://{}/{keyspace}?replication_factor=1", self.address)
    }

    /// How long the node took to open its CQL port (zero for a node named
    /// by `CDLC_TEST_SCYLLA`).
    pub fn started_in(&self) -> Duration {
        self.process.as_ref().map_or(Duration::ZERO, |p| p.started_in)
    }

    /// Stops the node the way an operator would (SIGTERM, drain), keeping
    /// its data for [`CassandraNode::restart`].
    pub fn stop(&mut self) {
        let process = self.process.as_mut().expect("a node this test started");
        if let Some(mut server) = process.server.take() {
            server.stop_gracefully();
        }
    }

    /// Starts a stopped node again on the same ports and data.
    pub fn restart(&mut self) {
        let process = self.process.as_mut().expect("a node this test started");
        process.spawn();
    }
}

impl Process {
    fn spawn(&mut self) {
        let options = repository().join("metadata/cassandra/jvm17-server.options");
        let jamm = std::fs::read_dir(&self.lib)
            .expect("the jar folder")
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .find(|path| path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("jamm-")))
            .unwrap_or_else(|| {
                panic!("no jamm jar in {}: run metadata/cassandra/install.sh", self.lib.display())
            });
        let conf = self.dir.join("conf");
        let started = Instant::now();
        let mut java = Command::new(&self.java);
        java.args(["-Xms1g", "-Xmx1g", "-XX:+UseG1GC", "-XX:+ExitOnOutOfMemoryError"])
            .arg(format!("-javaagent:{}", jamm.display()))
            .arg(format!("@{}", options.display()))
            .arg(format!("-Dcassandra.config=file://{}", conf.join("cassandra.yaml").display()))
            .arg(format!("-Dcassandra.storagedir={}", self.dir.display()))
            .arg(format!("-Dlogback.configurationFile={}", conf.join("logback.xml").display()))
            .args(["-Dcassandra-foreground=yes", "-Dcassandra.skip_wait_for_gossip_to_settle=0"])
            .arg("-Dcassandra.ring_delay_ms=0")
            .arg("-cp")
            .arg(format!("{}:{}/*", conf.display(), self.lib.display()))
            .arg("org.apache.cassandra.service.CassandraDaemon");
        let log = self.dir.join("node.log");
        let mut server = Watched::spawn(&java, &self.dir, &log, STOP_LIMIT);
        loop {
            if TcpStream::connect(("127.0.0.1", self.cql_port)).is_ok() {
                self.started_in = started.elapsed();
                self.server = Some(server);
                return;
            }
            if let Some(status) = server.exited() {
                panic!("Cassandra exited ({status}) before it opened its CQL port:\n{}", tail(&log, 6000));
            }
            if started.elapsed() > STARTUP_LIMIT {
                panic!("Cassandra did not open its CQL port within {STARTUP_LIMIT:?}:\n{}", tail(&log, 6000));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// A minimal cassandra.yaml (5.0 key names: an unknown key is fatal).
fn yaml(dir: &Path, cql_port: u16, storage_port: u16) -> String {
    let dir = dir.display();
    format!(
        "cluster_name: cdlc-test
num_tokens: 1
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: SimpleSnitch
listen_address: 127.0.0.1
rpc_address: 127.0.0.1
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: \"127.0.0.1:{storage_port}\"
storage_port: {storage_port}
native_transport_port: {cql_port}
start_native_transport: true
data_file_directories: [{dir}/data]
commitlog_directory: {dir}/commitlog
hints_directory: {dir}/hints
saved_caches_directory: {dir}/saved_caches
cdc_raw_directory: {dir}/cdc_raw
auto_snapshot: false
commitlog_sync: periodic
commitlog_sync_period: 10s
"
    )
}

/// Java 17: `CDLC_JAVA`, Debian's OpenJDK 17, or `java` on PATH if it is 17.
fn java17() -> PathBuf {
    if let Some(path) = std::env::var_os("CDLC_JAVA").map(PathBuf::from) {
        assert!(path.is_file(), "CDLC_JAVA={} is not a file: point it at a Java 17 `java`", path.display());
        return path;
    }
    let debian = std::fs::read_dir("/usr/lib/jvm").into_iter().flatten().filter_map(|entry| {
        let path = entry.ok()?.path();
        let name = path.file_name()?.to_str()?.to_owned();
        name.starts_with("java-17-").then(|| path.join("bin/java")).filter(|java| java.is_file())
    });
    let on_path = Some(PathBuf::from("java")).filter(|java| {
        Command::new(java)
            .arg("-version")
            .output()
            .is_ok_and(|out| String::from_utf8_lossy(&out.stderr).contains("version \"17."))
    });
    debian.chain(on_path).next().unwrap_or_else(|| {
        panic!(
            "the CQL tests run Apache Cassandra 5.0, which needs Java 17, and none is installed: install the \
             Debian packages openjdk-17-jdk-headless and maven (make test does), set CDLC_JAVA to a Java 17 \
             `java`, or set {NODE_VARIABLE}=host:port to use a running ScyllaDB or Cassandra node"
        )
    })
}

/// The folder of Cassandra's jars, fetched with Maven when missing.
fn jars() -> PathBuf {
    let cache = match std::env::var_os("CDLC_CASSANDRA_CACHE") {
        Some(dir) => PathBuf::from(dir),
        None => repository().join(".cache/cassandra"),
    };
    let install = repository().join("metadata/cassandra/install.sh");
    let status = Command::new("sh").arg(&install).arg(&cache).status().expect("run sh");
    assert!(
        status.success(),
        "could not fetch Apache Cassandra into {} ({install:?} failed): install the Debian packages \
         openjdk-17-jdk-headless and maven (make test does), or set {NODE_VARIABLE}=host:port to use a \
         running ScyllaDB or Cassandra node",
        cache.display()
    );
    cache.join("lib")
}
