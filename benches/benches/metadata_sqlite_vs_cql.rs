//! Metadata operations per second: the embedded SQLite store against a
//! real CQL node (Apache Cassandra 5.0 on this machine, started by
//! `cdlc_testkit::cassandra`), the same workload in one run.
//!
//! Operations, each run `CDLC_BENCH_OPS` times (default 400) by 1 client and
//! by 8 concurrent clients:
//! - create asset (SQLite: one transaction; CQL: one logged batch of 5 rows);
//! - record segment (one write after the asset's existence check);
//! - claim job (CQL: a read of each queue shard and a lightweight transaction);
//! - list page (20 assets, newest first).
//!
//! `CDLC_TEST_SCYLLA=host:port` measures a running ScyllaDB or Cassandra instead.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cdlc_metadata::{JobKind, MetadataStore, NewAsset, ScyllaStore, SegmentRecord, SqliteStore};
use cdlc_testkit::cassandra::CassandraNode;

const CLIENTS: usize = 8;
/// Assets per listed page.
const PAGE: u32 = 20;

#[derive(Clone, Copy, Debug)]
enum Op {
    CreateAsset,
    RecordSegment,
    ClaimJob,
    ListPage,
}

const OPS: [Op; 4] = [Op::CreateAsset, Op::RecordSegment, Op::ClaimJob, Op::ListPage];

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::CreateAsset => "create asset",
            Op::RecordSegment => "record segment",
            Op::ClaimJob => "claim job",
            Op::ListPage => "list page (20)",
        }
    }
}

/// Runs `count` of `op` split over `clients` tasks; operations per second.
async fn measure(store: Arc<dyn MetadataStore>, op: Op, count: usize, clients: usize) -> f64 {
    // What the operation needs already there: an asset to write segments
    // to, queued jobs to claim, assets to list.
    let asset =
        store.create_asset(NewAsset { title: Some("bench".into()), private: false }).await.expect("asset");
    match op {
        Op::ClaimJob => {
            for _ in 0..count {
                store.enqueue_job(&asset.id, JobKind::Transcode, 3).await.expect("enqueue");
            }
        }
        Op::ListPage => {
            for i in 0..PAGE * 2 {
                store
                    .create_asset(NewAsset { title: Some(format!("l{i}")), private: false })
                    .await
                    .expect("asset");
            }
        }
        Op::CreateAsset | Op::RecordSegment => {}
    }
    let per_client = count / clients;
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|client| {
            let store = store.clone();
            let asset_id = asset.id.clone();
            tokio::spawn(async move {
                for i in 0..per_client {
                    match op {
                        Op::CreateAsset => store
                            .create_asset(NewAsset { title: Some(format!("a{i}")), private: false })
                            .await
                            .map(|_| ()),
                        Op::RecordSegment => {
                            store
                                .put_segment(SegmentRecord {
                                    asset_id: asset_id.clone(),
                                    rendition: format!("r{client}"),
                                    number: i as u32,
                                    start_ns: i as u64 * 2_000_000_000,
                                    duration_ns: 2_000_000_000,
                                    size: 100_000,
                                })
                                .await
                        }
                        Op::ClaimJob => {
                            let job = store.claim_job(&format!("w{client}"), Duration::from_secs(60)).await;
                            job.map(|job| assert!(job.is_some(), "a queued job for every claim"))
                        }
                        Op::ListPage => store.list_assets(None, PAGE, None).await.map(|page| {
                            assert_eq!(page.items.len(), PAGE as usize, "a full page");
                        }),
                    }
                    .expect("operation");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("client");
    }
    (per_client * clients) as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let count: usize = std::env::var("CDLC_BENCH_OPS").ok().and_then(|v| v.parse().ok()).unwrap_or(400);
    let dir = tempfile::tempdir().expect("tmp");
    let started = Instant::now();
    let node = tokio::task::spawn_blocking(CassandraNode::shared).await.expect("node");
    println!("CQL node at {} ready in {:.1} s", node.address(), started.elapsed().as_secs_f64());
    let mut rows = Vec::new();
    for clients in [1, CLIENTS] {
        for op in OPS {
            // A fresh store per measurement, so earlier rows do not skew it.
            let path = dir.path().join(format!("{}-{clients}.db", op.name().replace(' ', "_")));
            let sqlite: Arc<dyn MetadataStore> = Arc::new(
                tokio::task::spawn_blocking(move || SqliteStore::open(&path)).await.unwrap().expect("sqlite"),
            );
            let keyspace = format!("cdlc_bench_{}_{clients}", op.name().split(' ').next().unwrap_or("op"));
            let cql = ScyllaStore::connect(&node.url(&keyspace)).await.expect("cql");
            let cql = Arc::new(cql);
            let sqlite_rate = measure(sqlite, op, count, clients).await;
            let cql_rate = measure(cql.clone(), op, count, clients).await;
            cql.drop_keyspace().await.expect("drop keyspace");
            rows.push((op.name(), clients, sqlite_rate, cql_rate));
        }
    }
    println!("\n{count} operations each; ops/s (higher is better)\n");
    println!("| operation | clients | SQLite (file, WAL) | CQL node (Cassandra 5.0, RF 1) | SQLite / CQL |");
    println!("| --- | --- | --- | --- | --- |");
    for (name, clients, sqlite, cql) in rows {
        println!("| {name} | {clients} | {sqlite:.0} | {cql:.0} | {:.1}× |", sqlite / cql);
    }
}
