//! The NATS JetStream backend against a real `nats-server -js` started on
//! a free loopback port with its own store directory (killed at the end).

use std::time::{Duration, Instant};

use cdlc_metadata::{JobKind, SegmentRecord};
use cdlc_queue::{JobQueue, NatsQueue, NatsSettings, Report, ReportMessage, Reporter};
use cdlc_testkit::nats::NatsServer;

/// A real nats-server with its store in a temporary directory.
struct TestNats {
    server: NatsServer,
    _store: tempfile::TempDir,
}

impl TestNats {
    fn start() -> TestNats {
        let store = tempfile::tempdir().expect("tmp");
        TestNats { server: NatsServer::start(store.path()), _store: store }
    }

    fn url(&self) -> &str {
        self.server.url()
    }

    /// Messages in the job stream, as the server counts them.
    async fn queued_jobs(&self) -> u64 {
        let client = async_nats::connect(self.url()).await.expect("connect");
        let mut stream = async_nats::jetstream::new(client).get_stream("CDLC_JOBS").await.expect("stream");
        stream.info().await.expect("info").state.messages
    }

    async fn queue(&self, ack_wait: Duration, max_attempts: u32) -> NatsQueue {
        NatsQueue::connect(self.url(), NatsSettings { ack_wait, max_attempts }).await.expect("connect")
    }
}

const SHORT: Duration = Duration::from_millis(300);

#[tokio::test]
async fn a_job_goes_to_one_worker_and_an_ack_removes_it() {
    let server = TestNats::start();
    let queue = server.queue(Duration::from_secs(5), 3).await;
    let sent = queue.enqueue("asset-1", JobKind::Transcode).await.expect("enqueue");

    let delivery = queue.next("w1", Duration::from_secs(2)).await.expect("next").expect("a job");
    assert_eq!(delivery.job(), &sent);
    assert_eq!((delivery.attempt(), delivery.max_attempts()), (1, 3));
    assert!(queue.next("w2", SHORT).await.expect("next").is_none(), "a taken job goes to no one else");

    delivery.complete().await.expect("ack");
    assert!(queue.next("w2", Duration::from_secs(2)).await.expect("next").is_none(), "acked jobs are gone");
    assert_eq!(server.queued_jobs().await, 0, "the work queue holds nothing");
}

#[tokio::test]
async fn heartbeats_keep_a_long_job_from_redelivery() {
    let server = TestNats::start();
    let ack_wait = Duration::from_secs(1);
    let queue = server.queue(ack_wait, 3).await;
    queue.enqueue("asset-long", JobKind::Transcode).await.expect("enqueue");
    let delivery = queue.next("w1", Duration::from_secs(2)).await.expect("next").expect("a job");

    // Work for four ack waits, heartbeating three times per ack wait.
    let other = queue.clone();
    let thief = tokio::spawn(async move { other.next("w2", ack_wait * 4).await.expect("next").is_some() });
    let until = Instant::now() + ack_wait * 4;
    while Instant::now() < until {
        tokio::time::sleep(ack_wait / 3).await;
        delivery.heartbeat().await.expect("heartbeat");
    }
    assert!(!thief.await.expect("join"), "a heartbeated job was handed to a second worker");
    delivery.complete().await.expect("ack");
}

#[tokio::test]
async fn a_job_dropped_by_a_dead_worker_comes_back_after_the_ack_wait() {
    let server = TestNats::start();
    let ack_wait = Duration::from_secs(1);
    let queue = server.queue(ack_wait, 3).await;
    let sent = queue.enqueue("asset-2", JobKind::Transcode).await.expect("enqueue");
    let first = queue.next("w1", Duration::from_secs(2)).await.expect("next").expect("a job");
    let taken = Instant::now();
    drop(first); // the worker dies: no ack, no heartbeat

    let second = queue.next("w2", ack_wait * 5).await.expect("next").expect("redelivered");
    assert!(taken.elapsed() >= ack_wait - Duration::from_millis(100), "not before the ack wait");
    assert_eq!(second.job(), &sent);
    assert_eq!(second.attempt(), 2, "the delivery count says it is the second attempt");
    second.complete().await.expect("ack");
}

#[tokio::test]
async fn a_retry_comes_back_after_its_delay_and_giving_up_removes_the_job() {
    let server = TestNats::start();
    let queue = server.queue(Duration::from_secs(5), 3).await;
    let sent = queue.enqueue("asset-3", JobKind::Transcode).await.expect("enqueue");
    let first = queue.next("w1", Duration::from_secs(2)).await.expect("next").expect("a job");
    first.retry_later("the disk was full", Duration::from_secs(1)).await.expect("nak");
    assert!(queue.next("w1", SHORT).await.expect("next").is_none(), "not before the delay");
    let second = queue.next("w1", Duration::from_secs(3)).await.expect("next").expect("retried");
    assert_eq!((second.job(), second.attempt()), (&sent, 2));
    second.give_up("not a video").await.expect("term");
    assert!(queue.next("w1", Duration::from_secs(2)).await.expect("next").is_none(), "given up for good");
}

#[tokio::test]
async fn a_job_whose_workers_all_die_is_reported_exhausted_once() {
    let server = TestNats::start();
    let ack_wait = Duration::from_secs(1);
    let queue = server.queue(ack_wait, 2).await;
    let mut exhausted = queue.exhausted_jobs().await.expect("advisories");
    let sent = queue.enqueue("asset-4", JobKind::Transcode).await.expect("enqueue");
    for attempt in 1..=2 {
        let delivery = queue.next("w", ack_wait * 5).await.expect("next").expect("delivered");
        assert_eq!(delivery.attempt(), attempt);
        drop(delivery);
    }
    // The server notices the last attempt expired when a worker asks again.
    assert!(queue.next("w", ack_wait * 3).await.expect("next").is_none(), "no third delivery");
    let found = tokio::time::timeout(Duration::from_secs(10), exhausted.next())
        .await
        .expect("an advisory within 10 s")
        .expect("feed open")
        .expect("a job message");
    assert_eq!((&found.job, found.attempts), (&sent, 2));
    assert!(found.reason().contains("2 attempts"), "{}", found.reason());
    assert_eq!(server.queued_jobs().await, 0, "the exhausted job is removed");
}

#[tokio::test]
async fn reports_arrive_in_order_and_stay_until_acked() {
    let server = TestNats::start();
    let queue = server.queue(Duration::from_secs(1), 3).await;
    let report =
        |attempt, report| ReportMessage { asset_id: "asset-5".into(), job_id: "j".into(), attempt, report };
    let sent = vec![
        report(1, Report::Started),
        report(1, Report::Progress { percent: 12.5 }),
        report(
            1,
            Report::Segment {
                segment: SegmentRecord {
                    asset_id: "asset-5".into(),
                    rendition: "360p".into(),
                    number: 1,
                    start_ns: 0,
                    duration_ns: 2_000_000_000,
                    size: 1234,
                },
            },
        ),
        report(1, Report::Failed { reason: "no video stream".into() }),
    ];
    for message in &sent {
        queue.report(message.clone()).await.expect("publish");
    }
    {
        let mut feed = queue.reports().await.expect("feed");
        let first = feed.next().await.expect("open").expect("report");
        assert_eq!(first.report, sent[0]);
        // Not acked: the consumer goes away (serve restarts).
    }
    let reader = server.queue(Duration::from_secs(1), 3).await;
    let mut feed = reader.reports().await.expect("feed");
    let mut received = Vec::new();
    while received.len() < sent.len() {
        let delivery = tokio::time::timeout(Duration::from_secs(10), feed.next())
            .await
            .expect("reports keep coming")
            .expect("open")
            .expect("report");
        received.push(delivery.report.clone());
        delivery.ack().await.expect("ack");
    }
    assert_eq!(received, sent, "every report, once, in order, the unacked one again first");
}
