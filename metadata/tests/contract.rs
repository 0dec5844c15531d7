//! The behaviour every metadata backend must have. Each behaviour is one
//! async fn in `behaviour` that takes a fresh, empty store; `contract!`
//! runs every one of them against each backend:
//! - `sqlite::*`: an in-memory SQLite database;
//! - `scylla::*`: a fresh keyspace (`cdlc_test_<random>`, dropped when the
//!   test passes) on a real CQL node: the Apache Cassandra node
//!   `cdlc_testkit::cassandra` starts once for this test binary, or the
//!   running ScyllaDB or Cassandra node `CDLC_TEST_SCYLLA=host:port` names.

use std::time::Duration;

use cdlc_metadata::{
    AssetStatus, JobKind, JobState, MetadataError, MetadataStore, NewAsset, RenditionRecord, ScyllaStore,
    SegmentRecord, SqliteStore,
};
use cdlc_testkit::cassandra::CassandraNode;

fn sqlite_store() -> SqliteStore {
    SqliteStore::in_memory().expect("in-memory SQLite")
}

/// A store on a fresh keyspace of the shared CQL node.
async fn scylla_store() -> ScyllaStore {
    let node = CassandraNode::shared();
    let keyspace = format!("cdlc_test_{}", uuid::Uuid::new_v4().simple());
    match ScyllaStore::connect(&node.url(&keyspace)).await {
        Ok(store) => store,
        Err(error) => panic!("the CQL node at {} cannot be used: {error}", node.address()),
    }
}

/// Runs each named behaviour once per backend.
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let store = super::sqlite_store();
                    super::behaviour::$name(&store).await;
                }
            )*
        }

        mod scylla {
            $(
                #[tokio::test]
                async fn $name() {
                    let store = super::scylla_store().await;
                    super::behaviour::$name(&store).await;
                    store.drop_keyspace().await.expect("drop the test keyspace");
                }
            )*
        }
    };
}

contract!(
    an_asset_moves_through_its_states,
    unknown_assets_are_reported_not_invented,
    lists_are_paginated_newest_first_and_filter_by_status,
    renditions_and_segments_belong_to_their_asset_and_go_with_it,
    a_job_is_claimed_by_one_worker_at_a_time,
    an_expired_lease_lets_another_worker_take_the_job,
    failures_retry_with_backoff_until_attempts_run_out,
    events_come_back_in_order_from_a_cursor,
    running_jobs_go_back_to_the_queue_after_a_restart,
    racing_workers_never_share_a_job,
    a_plugin_job_has_a_subject_that_is_no_asset,
);

/// What only the CQL backend has: its URL's replication against the cluster.
mod scylla_url {
    use super::*;
    use cdlc_testkit::cassandra::DATACENTER;

    #[tokio::test]
    async fn network_topology_needs_the_datacenters_the_cluster_has() {
        let node = CassandraNode::shared();
        let keyspace = format!("cdlc_test_{}", uuid::Uuid::new_v4().simple());
        let url = format!("scylla://{}/{keyspace}?datacenters={DATACENTER}:1", node.address());
        let store = ScyllaStore::connect(&url).await.expect("the node's own datacenter");
        let id = behaviour::new_asset(&store, "placed").await;
        assert!(store.get_asset(&id).await.expect("get").is_some());
        store.drop_keyspace().await.expect("drop the test keyspace");

        let wrong = format!("scylla://{}/{keyspace}?datacenters=dc1:1", node.address());
        let error = ScyllaStore::connect(&wrong).await.expect_err("dc1 is not in the cluster").to_string();
        assert!(error.contains("dc1") && error.contains(DATACENTER), "{error}");
    }
}

mod behaviour {
    use super::*;

    pub async fn new_asset(store: &dyn MetadataStore, title: &str) -> String {
        store.create_asset(NewAsset { title: Some(title.into()), private: false }).await.expect("create").id
    }

    pub async fn an_asset_moves_through_its_states(store: &dyn MetadataStore) {
        let asset =
            store.create_asset(NewAsset { title: Some("Film".into()), private: true }).await.expect("create");
        assert_eq!(asset.status, AssetStatus::Uploading);
        assert!(asset.private);
        assert_eq!(asset.progress, 0.0);

        store.set_status(&asset.id, AssetStatus::Processing, None).await.expect("processing");
        store.set_progress(&asset.id, 42.5).await.expect("progress");
        store.set_source(&asset.id, serde_json::json!({"duration": 10})).await.expect("source");
        let seen = store.get_asset(&asset.id).await.expect("get").expect("exists");
        assert_eq!((seen.status, seen.progress), (AssetStatus::Processing, 42.5));
        assert_eq!(seen.source, Some(serde_json::json!({"duration": 10})));

        let ready = store.set_status(&asset.id, AssetStatus::Ready, Some("ignored")).await.expect("ready");
        assert_eq!((ready.progress, ready.error), (100.0, None), "ready means 100 % and no error");

        let errored = store
            .set_status(&asset.id, AssetStatus::Errored, Some("the file is empty"))
            .await
            .expect("errored");
        assert_eq!(errored.error.as_deref(), Some("the file is empty"));
    }

    pub async fn unknown_assets_are_reported_not_invented(store: &dyn MetadataStore) {
        assert!(store.get_asset("0123456789abcdef0123456789abcdef").await.expect("get").is_none());
        let missing = store.set_status("nope", AssetStatus::Ready, None).await.unwrap_err();
        assert!(matches!(missing, MetadataError::NoSuchAsset(_)), "{missing}");
        assert!(matches!(store.set_progress("nope", 1.0).await, Err(MetadataError::NoSuchAsset(_))));
        assert!(!store.delete_asset("nope").await.expect("delete"));
        let orphan = SegmentRecord {
            asset_id: "nope".into(),
            rendition: "360p".into(),
            number: 1,
            start_ns: 0,
            duration_ns: 1,
            size: 1,
        };
        assert!(matches!(store.put_segment(orphan).await, Err(MetadataError::NoSuchAsset(_))));
    }

    pub async fn lists_are_paginated_newest_first_and_filter_by_status(store: &dyn MetadataStore) {
        let mut ids = Vec::new();
        for i in 0..7 {
            ids.push(new_asset(store, &format!("film {i}")).await);
        }
        store.set_status(&ids[2], AssetStatus::Ready, None).await.expect("ready");
        store.set_status(&ids[5], AssetStatus::Ready, None).await.expect("ready");

        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = store.list_assets(None, 3, cursor.as_deref()).await.expect("page");
            assert!(page.items.len() <= 3);
            seen.extend(page.items.iter().map(|a| a.id.clone()));
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
        assert_eq!(seen, newest_first, "every asset once, newest first");

        let ready = store.list_assets(Some(AssetStatus::Ready), 50, None).await.expect("ready page");
        let ready_ids: Vec<&str> = ready.items.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ready_ids, vec![ids[5].as_str(), ids[2].as_str()]);
        assert!(ready.next.is_none());
        assert!(matches!(
            store.list_assets(None, 3, Some("x'; DROP TABLE assets")).await,
            Err(MetadataError::BadCursor)
        ));
    }

    pub async fn renditions_and_segments_belong_to_their_asset_and_go_with_it(store: &dyn MetadataStore) {
        let id = new_asset(store, "film").await;
        for (name, height) in [("360p", 360), ("720p", 720)] {
            store
                .put_rendition(RenditionRecord {
                    asset_id: id.clone(),
                    name: name.into(),
                    kind: "video".into(),
                    width: Some(height * 16 / 9),
                    height: Some(height),
                    bitrate: height as u64 * 4000,
                    codec: "avc1.64001f".into(),
                })
                .await
                .expect("rendition");
        }
        for number in [2, 1, 2] {
            store
                .put_segment(SegmentRecord {
                    asset_id: id.clone(),
                    rendition: "720p".into(),
                    number,
                    start_ns: (number as u64 - 1) * 2_000_000_000,
                    duration_ns: 2_000_000_000,
                    size: 1000 + number as u64,
                })
                .await
                .expect("segment");
        }
        let names: Vec<String> =
            store.renditions(&id).await.expect("renditions").into_iter().map(|r| r.name).collect();
        assert_eq!(names, vec!["720p", "360p"], "largest first");
        let numbers: Vec<u32> =
            store.segments(&id, "720p").await.expect("segments").iter().map(|s| s.number).collect();
        assert_eq!(numbers, vec![1, 2], "a segment written twice is recorded once");

        store.clear_outputs(&id).await.expect("clear");
        assert!(store.renditions(&id).await.expect("renditions").is_empty());
        store.enqueue_job(&id, JobKind::Transcode, 3).await.expect("job");
        assert!(store.delete_asset(&id).await.expect("delete"));
        assert!(store.get_asset(&id).await.expect("get").is_none());
        assert!(store.jobs(&id).await.expect("jobs").is_empty(), "jobs go with the asset");
    }

    pub async fn a_job_is_claimed_by_one_worker_at_a_time(store: &dyn MetadataStore) {
        let id = new_asset(store, "film").await;
        let job = store.enqueue_job(&id, JobKind::Transcode, 3).await.expect("enqueue");
        assert_eq!((job.state, job.attempts), (JobState::Queued, 0));

        let claimed =
            store.claim_job("worker-a", Duration::from_secs(60)).await.expect("claim").expect("a job");
        assert_eq!(
            (claimed.id.as_str(), claimed.state, claimed.attempts),
            (job.id.as_str(), JobState::Running, 1)
        );
        assert!(
            store.claim_job("worker-b", Duration::from_secs(60)).await.expect("claim").is_none(),
            "leased"
        );
        assert!(store.renew_lease(&job.id, "worker-a", Duration::from_secs(60)).await.expect("renew"));
        assert!(
            !store.renew_lease(&job.id, "worker-b", Duration::from_secs(60)).await.expect("renew"),
            "not b's"
        );
        assert!(matches!(store.complete_job(&job.id, "worker-b").await, Err(MetadataError::NotHeld(_))));
        store.complete_job(&job.id, "worker-a").await.expect("complete");
        assert_eq!(store.jobs(&id).await.expect("jobs")[0].state, JobState::Done);
        assert!(
            store.claim_job("worker-b", Duration::from_secs(60)).await.expect("claim").is_none(),
            "done is done"
        );
    }

    pub async fn an_expired_lease_lets_another_worker_take_the_job(store: &dyn MetadataStore) {
        let id = new_asset(store, "film").await;
        let job = store.enqueue_job(&id, JobKind::Transcode, 2).await.expect("enqueue");
        store.claim_job("dead-worker", Duration::from_millis(1)).await.expect("claim").expect("job");
        tokio::time::sleep(Duration::from_millis(20)).await;
        let retaken =
            store.claim_job("worker-b", Duration::from_secs(60)).await.expect("claim").expect("job again");
        assert_eq!((retaken.id.as_str(), retaken.attempts), (job.id.as_str(), 2));
        assert!(!store.renew_lease(&job.id, "dead-worker", Duration::from_secs(1)).await.expect("renew"));

        // It dies again: out of attempts, the job fails with a reason and an event.
        store.renew_lease(&job.id, "worker-b", Duration::from_millis(1)).await.expect("renew");
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(store.claim_job("worker-c", Duration::from_secs(60)).await.expect("claim").is_none());
        let failed = &store.jobs(&id).await.expect("jobs")[0];
        assert_eq!(failed.state, JobState::Failed);
        assert!(failed.last_error.as_deref().unwrap_or_default().contains("2 attempts"), "{failed:?}");
        let events = store.events_after(0, 50).await.expect("events");
        assert!(events.iter().any(|e| e.kind == "job.failed" && e.asset_id == id));
    }

    pub async fn failures_retry_with_backoff_until_attempts_run_out(store: &dyn MetadataStore) {
        let id = new_asset(store, "film").await;
        let job = store.enqueue_job(&id, JobKind::Transcode, 2).await.expect("enqueue");
        store.claim_job("w", Duration::from_secs(60)).await.expect("claim").expect("job");
        let state =
            store.fail_job(&job.id, "w", "disk full", Some(Duration::from_millis(50))).await.expect("fail");
        assert_eq!(state, JobState::Queued);
        assert!(store.claim_job("w", Duration::from_secs(60)).await.expect("claim").is_none(), "backing off");
        tokio::time::sleep(Duration::from_millis(80)).await;
        let again = store.claim_job("w", Duration::from_secs(60)).await.expect("claim").expect("due again");
        assert_eq!((again.attempts, again.last_error.as_deref()), (2, Some("disk full")));
        let state = store
            .fail_job(&job.id, "w", "disk still full", Some(Duration::from_millis(1)))
            .await
            .expect("fail");
        assert_eq!(state, JobState::Failed, "no attempts left");

        // A failure that retrying cannot fix fails at once.
        let other = store.enqueue_job(&id, JobKind::Transcode, 5).await.expect("enqueue");
        store.claim_job("w", Duration::from_secs(60)).await.expect("claim").expect("job");
        assert_eq!(
            store.fail_job(&other.id, "w", "not a video", None).await.expect("fail"),
            JobState::Failed
        );
    }

    pub async fn events_come_back_in_order_from_a_cursor(store: &dyn MetadataStore) {
        let id = new_asset(store, "film").await;
        let mut seqs = Vec::new();
        for i in 0..5 {
            seqs.push(
                store
                    .append_event(&id, "asset.progress", serde_json::json!({ "progress": i * 20 }))
                    .await
                    .expect("event")
                    .seq,
            );
        }
        assert!(seqs.windows(2).all(|w| w[0] < w[1]));
        let tail = store.events_after(seqs[2], 10).await.expect("events");
        let progress: Vec<i64> = tail.iter().map(|e| e.data["progress"].as_i64().unwrap_or(-1)).collect();
        assert_eq!(progress, vec![60, 80]);
    }

    pub async fn running_jobs_go_back_to_the_queue_after_a_restart(store: &dyn MetadataStore) {
        let id = new_asset(store, "film").await;
        let job = store.enqueue_job(&id, JobKind::Transcode, 3).await.expect("enqueue");
        store.claim_job("old-process", Duration::from_secs(600)).await.expect("claim").expect("job");
        assert_eq!(store.requeue_running_jobs().await.expect("requeue"), 1);
        let again =
            store.claim_job("new-process", Duration::from_secs(60)).await.expect("claim").expect("at once");
        assert_eq!((again.id, again.attempts), (job.id, 2));
    }

    pub async fn a_plugin_job_has_a_subject_that_is_no_asset(store: &dyn MetadataStore) {
        let missing = store.enqueue_job("no-such-asset", JobKind::Transcode, 3).await;
        assert!(matches!(missing, Err(MetadataError::NoSuchAsset(_))), "{missing:?}");
        let subject = "analytics/day/2026-12-01";
        let job = store.enqueue_job(subject, JobKind::Plugin, 3).await.expect("a plugin job needs no asset");
        let claimed = store.claim_job("w", Duration::from_secs(60)).await.expect("claim").expect("the job");
        assert_eq!(
            (claimed.id.as_str(), claimed.asset_id.as_str(), claimed.kind),
            (job.id.as_str(), subject, JobKind::Plugin)
        );
        // Deleting an asset leaves other subjects' jobs alone.
        let film = new_asset(store, "film").await;
        store.enqueue_job(&film, JobKind::Transcode, 3).await.expect("job");
        assert!(store.delete_asset(&film).await.expect("delete"));
        store.complete_job(&job.id, "w").await.expect("complete");
        assert_eq!(store.jobs(subject).await.expect("jobs")[0].state, JobState::Done);
    }

    pub async fn racing_workers_never_share_a_job(store: &dyn MetadataStore) {
        let id = new_asset(store, "film").await;
        let mut queued = Vec::new();
        for _ in 0..3 {
            queued.push(store.enqueue_job(&id, JobKind::Transcode, 3).await.expect("enqueue").id);
        }
        let workers: Vec<String> = (0..6).map(|n| format!("worker-{n}")).collect();
        let claims = futures_util::future::join_all(
            workers.iter().map(|worker| store.claim_job(worker, Duration::from_secs(60))),
        )
        .await;
        let mut claimed: Vec<(String, String)> = Vec::new();
        for (worker, claim) in workers.iter().zip(claims) {
            if let Some(job) = claim.expect("claim") {
                assert_eq!(job.lease_owner.as_deref(), Some(worker.as_str()));
                claimed.push((job.id, worker.clone()));
            }
        }
        let mut ids: Vec<String> = claimed.iter().map(|(id, _)| id.clone()).collect();
        ids.sort();
        queued.sort();
        assert_eq!(ids, queued, "each job once, to one worker");
        for (job_id, worker) in &claimed {
            store.complete_job(job_id, worker).await.expect("the winner holds its job");
        }
    }
}

/// SQLite only: the embedded store is a file that outlives the process.
#[tokio::test]
async fn the_database_file_survives_a_reopen() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("meta/cdlc.db");
    let id = {
        let store = SqliteStore::open(&path).expect("open");
        behaviour::new_asset(&store, "kept").await
    };
    let store = SqliteStore::open(&path).expect("reopen migrates nothing twice");
    let asset = store.get_asset(&id).await.expect("get").expect("still there");
    assert_eq!(asset.title.as_deref(), Some("kept"));
}

/// `open` picks the backend a URL names and refuses what it cannot read
/// before touching the network.
#[tokio::test]
async fn a_url_picks_the_backend() {
    let dir = tempfile::tempdir().expect("tmp");
    let url = format!("sqlite://{}", dir.path().join("meta/cdlc.db").display());
    let store = cdlc_metadata::open(&url).await.expect("a SQLite file");
    behaviour::new_asset(store.as_ref(), "by url").await;
    assert!(dir.path().join("meta/cdlc.db").is_file());
    for bad in
        ["mysql://db/cdlc", "sqlite://relative.db", "scylla://db:9042/1keyspace", "scylla://db/ks?rf=3"]
    {
        let error = cdlc_metadata::open(bad).await.err().expect(bad);
        assert!(matches!(error, MetadataError::BadUrl(_)), "{bad}: {error}");
    }
}
