//! The analytics plugin on a real plugin host (SQLite store, local object
//! storage, the in-process bus): beacons land as NDJSON with no address in
//! them, bad batches get 400 with a sentence, Do-Not-Track stores nothing,
//! a client past its rate gets 429; host events land too; an admin runs the
//! day and reads the tables, the asset's numbers and bounded SQL.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use cdlc_plugin_analytics::{Analytics, Day};
use cdlc_plugin_api::axum::body::Body;
use cdlc_plugin_api::axum::extract::ConnectInfo;
use cdlc_plugin_api::axum::http::{Request, StatusCode};
use cdlc_plugin_api::axum::{Extension, Router};
use cdlc_plugin_api::host::{HostServices, NoAssets, NoImages, PluginHost, PrefixedObjects};
use cdlc_plugin_api::{Credential, Event, EventBus, Identity, InProcessBus, Objects, Principal, Role};
use cdlc_plugin_store::Stores;
use serde_json::{json, Value};
use tower::ServiceExt;

struct Fixture {
    _dir: tempfile::TempDir,
    app: Router,
    bus: Arc<InProcessBus>,
    objects: PrefixedObjects,
    _host: PluginHost,
}

async fn fixture(config: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(cdlc_storage::LocalStore::open(dir.path().join("objects")).unwrap());
    let bus = Arc::new(InProcessBus::new());
    let services = HostServices {
        stores: Stores::sqlite(&dir.path().join("stores")),
        bus: bus.clone(),
        assets: Arc::new(NoAssets),
        objects: store.clone(),
        images: Arc::new(NoImages),
        data_dir: None,
        jobs: None,
    };
    let config: toml::Table = toml::from_str(&format!("[analytics]\ndaily_run_hour = -1\n{config}")).unwrap();
    let host = PluginHost::start(vec![Arc::new(Analytics::new())], &config, services).await.expect("start");
    Fixture {
        app: host.router(),
        bus,
        objects: PrefixedObjects::new(store, "analytics"),
        _host: host,
        _dir: dir,
    }
}

fn user(role: Role, id: &str) -> Principal {
    Principal::User(Identity {
        user_id: id.into(),
        handle: id.into(),
        role,
        credential: Credential::Session { session_id: "s".into(), cookie: false },
    })
}

struct Answer {
    status: StatusCode,
    body: Value,
    text: String,
}

async fn call(
    f: &Fixture,
    who: &Principal,
    method: &str,
    uri: &str,
    body: String,
    headers: &[(&str, &str)],
) -> Answer {
    let mut request = Request::builder().method(method).uri(format!("/api/v1/analytics{uri}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut request = request.body(Body::from(body)).unwrap();
    let address: SocketAddr = "203.0.113.77:5555".parse().unwrap();
    request.extensions_mut().insert(ConnectInfo(address));
    let response = f.app.clone().layer(Extension(who.clone())).oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = cdlc_plugin_api::axum::body::to_bytes(response.into_body(), 1 << 24).await.unwrap();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    Answer { status, body: serde_json::from_str(&text).unwrap_or(Value::Null), text }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

fn batch(view: &str, events: Value) -> String {
    json!({"view_id": view, "asset_id": "asset1", "player": "hls.js", "events": events}).to_string()
}

const CHROME: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";

async fn landed(f: &Fixture) -> Vec<Value> {
    let mut lines = Vec::new();
    for object in f.objects.list("lake/landing/").await.unwrap() {
        let data = f.objects.get(&object.key).await.unwrap().unwrap();
        for line in std::str::from_utf8(&data).unwrap().lines() {
            lines.push(serde_json::from_str(line).unwrap());
        }
    }
    lines
}

#[tokio::test]
async fn beacons_land_as_ndjson_without_the_address_and_bad_batches_get_sentences() {
    let f = fixture("").await;
    let t = now_ms();
    let good = batch(
        "view00000001",
        json!([
            {"seq": 0, "type": "view_start", "t": t - 3000},
            {"seq": 1, "type": "first_frame", "t": t - 2500, "ms": 480, "rendition": "720p"},
            {"seq": 2, "type": "rebuffer", "t": t - 2000, "ms": 300, "rendition": "720p"},
            {"seq": 3, "type": "rendition_switch", "t": t - 1500, "rendition": "360p"},
            {"seq": 4, "type": "error", "t": t - 1200, "code": "networkError/fragLoadError"},
            {"seq": 5, "type": "watch", "t": t - 1000, "ms": 9000, "rendition": "360p"},
            {"seq": 6, "type": "complete", "t": t}
        ]),
    );
    let viewer = user(Role::Viewer, "user-7");
    let answer = call(&f, &viewer, "POST", "/beacons", good.clone(), &[("user-agent", CHROME)]).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.text);
    assert_eq!(answer.body["stored"], 7);
    let lines = landed(&f).await;
    assert_eq!(lines.len(), 7);
    assert_eq!(lines[1]["kind"], "first_frame");
    assert_eq!(lines[1]["value_ms"], 480);
    assert_eq!(lines[1]["event_id"], "view00000001.1");
    assert_eq!(lines[0]["user_id"], "user-7");
    assert_eq!(lines[0]["browser"], "chrome");
    let everything = lines.iter().map(Value::to_string).collect::<String>();
    assert!(!everything.contains("203.0.113"), "the address is stored: {everything}");
    assert_eq!(lines[0]["client"].as_str().unwrap().len(), 16, "a hash of the address stands in");

    // Do-Not-Track and Global Privacy Control: nothing stored.
    for header in ["dnt", "sec-gpc"] {
        let answer =
            call(&f, &Principal::Anonymous, "POST", "/beacons", good.clone(), &[(header, "1")]).await;
        assert_eq!(answer.status, StatusCode::ACCEPTED);
        assert_eq!(answer.body["stored"], 0);
    }
    assert_eq!(landed(&f).await.len(), 7);

    let bad: Vec<(String, &str)> = vec![
        ("{\"view_id\": ".into(), "not valid JSON"),
        (batch("short", json!([{"seq": 0, "type": "view_start", "t": t}])), "view_id must be 8-64"),
        (batch("view00000002", json!([])), "1 to 200 events"),
        (batch("view00000002", json!([{"seq": 0, "type": "seek", "t": t}])), "type must be one of"),
        (batch("view00000002", json!([{"seq": 0, "type": "first_frame", "t": t}])), "ms must be 0 to 600000"),
        (batch("view00000002", json!([{"seq": 0, "type": "error", "t": t}])), "carries the player's code"),
        (
            batch("view00000002", json!([{"seq": 0, "type": "watch", "t": 5, "ms": 1}])),
            "is not a time of the last 7 days",
        ),
        (
            batch("view00000002", json!([{"seq": 0, "type": "view_start", "t": t, "ip": "1.2.3.4"}])),
            "unknown field",
        ),
        (
            batch(
                "view00000002",
                json!((0..201).map(|n| json!({"seq": n, "type": "view_start", "t": t})).collect::<Vec<_>>()),
            ),
            "1 to 200 events",
        ),
        (format!("{{\"pad\": \"{}\"}}", "x".repeat(70 * 1024)), "at most 65536 bytes"),
    ];
    for (body, says) in bad {
        let answer = call(&f, &Principal::Anonymous, "POST", "/beacons", body, &[]).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{says}: {}", answer.text);
        let message = answer.body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{says:?} not in {message:?}");
    }
    assert_eq!(landed(&f).await.len(), 7, "nothing of a refused batch lands");
}

#[tokio::test]
async fn a_client_past_its_rate_gets_429() {
    let f = fixture("batches_per_minute = 60\nbatch_burst = 5\n").await;
    let body = batch("view00000009", json!([{"seq": 0, "type": "view_start", "t": now_ms()}]));
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(call(&f, &Principal::Anonymous, "POST", "/beacons", body.clone(), &[]).await.status);
    }
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::ACCEPTED).count(), 5, "{statuses:?}");
    let refused = call(&f, &Principal::Anonymous, "POST", "/beacons", body, &[]).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.body["error"]["message"].as_str().unwrap().contains("beacon batches a minute"));
}

#[tokio::test]
async fn host_events_and_beacons_become_the_days_tables_for_admins() {
    let f = fixture("").await;
    let t = now_ms();
    for (view, startup) in [("viewaaaaaaaa", 400), ("viewbbbbbbbb", 900)] {
        let body = batch(
            view,
            json!([
                {"seq": 0, "type": "view_start", "t": t - 5000},
                {"seq": 1, "type": "first_frame", "t": t - 4000, "ms": startup, "rendition": "720p"},
                {"seq": 2, "type": "watch", "t": t - 1000, "ms": 4000, "rendition": "720p"}
            ]),
        );
        assert_eq!(
            call(&f, &Principal::Anonymous, "POST", "/beacons", body.clone(), &[]).await.status,
            StatusCode::ACCEPTED
        );
        // Sent twice (a retry): counted once.
        assert_eq!(
            call(&f, &Principal::Anonymous, "POST", "/beacons", body, &[]).await.status,
            StatusCode::ACCEPTED
        );
    }
    let publish = |topic: &str, payload: Value| {
        let (publisher, _) = topic.split_once('.').unwrap();
        Event {
            topic: topic.into(),
            source: if publisher == "booking" { "booking".into() } else { "host".into() },
            payload,
            at_ms: t,
        }
    };
    f.bus
        .publish(publish(
            "assets.transcode_failed",
            json!({"asset_id": "a2", "reason": "no video stream", "attempts": 3}),
        ))
        .await
        .unwrap();
    f.bus.publish(publish("edge.counts", json!({"hits": 90, "misses": 10, "bytes": 12345}))).await.unwrap();
    f.bus
        .publish(publish(
            "booking.order_paid",
            json!({"order_id": "o1", "showtime_id": "s1", "amount": 1250, "currency": "EUR"}),
        ))
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while landed(&f).await.len() < 15 {
        assert!(std::time::Instant::now() < deadline, "the host events landed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let admin = user(Role::Admin, "admin-1");
    let day = Day::today().to_string();
    let viewer = user(Role::Viewer, "viewer-1");
    let refused = call(
        &f,
        &viewer,
        "POST",
        "/runs",
        json!({"day": day}).to_string(),
        &[("content-type", "application/json")],
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let bad = call(
        &f,
        &admin,
        "POST",
        "/runs",
        json!({"day": "yesterday"}).to_string(),
        &[("content-type", "application/json")],
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body["error"]["message"].as_str().unwrap().contains("2026-12-01"), "{}", bad.text);
    let run = call(
        &f,
        &admin,
        "POST",
        "/runs",
        json!({"day": day}).to_string(),
        &[("content-type", "application/json")],
    )
    .await;
    assert_eq!(run.status, StatusCode::OK, "{}", run.text);
    assert_eq!(run.body["validated"], 9);
    assert_eq!(run.body["duplicates"], 6);
    // The run was a job (here on a task of this process, the host's own
    // queue being absent), recorded with how it ended.
    let runs = call(&f, &admin, "GET", "/runs", String::new(), &[]).await;
    assert_eq!(runs.status, StatusCode::OK, "{}", runs.text);
    let recorded = &runs.body[0];
    assert_eq!((recorded["day"].as_str(), recorded["trigger"].as_str()), (Some(day.as_str()), Some("admin")));
    assert!(recorded["job_id"].is_string() && recorded["finished_at"].is_i64(), "{recorded}");
    assert_eq!(recorded["step"], "produce", "the three steps ran: {recorded}");
    assert_eq!(recorded["percent"], 100, "a run that ended well is done: {recorded}");
    assert_eq!(recorded["report"]["validated"], 9, "{recorded}");

    // Asked not to wait, the run answers 202 at once; GET /runs then shows
    // its percentage until it has ended, the same day's counts again.
    let queued = call(
        &f,
        &admin,
        "POST",
        "/runs",
        json!({"day": day, "wait_ms": 0}).to_string(),
        &[("content-type", "application/json")],
    )
    .await;
    assert_eq!(queued.status, StatusCode::ACCEPTED, "{}", queued.text);
    assert!(queued.body["job_id"].is_string(), "{}", queued.text);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let runs = call(&f, &admin, "GET", "/runs", String::new(), &[]).await;
        let mine = runs
            .body
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["started_at"] == queued.body["started_at"])
            .cloned();
        let mine = mine.expect("the queued run is recorded");
        let percent = mine["percent"].as_u64().unwrap();
        assert!(percent <= 100 && mine["failure"].is_null(), "{mine}");
        if mine["finished_at"].is_i64() {
            assert_eq!((percent, &mine["report"]["validated"]), (100, &json!(9)), "{mine}");
            break;
        }
        assert!([0, 33, 66].contains(&percent), "a run under way is at a step: {mine}");
        assert!(std::time::Instant::now() < deadline, "the queued run ended within a minute: {mine}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    let asset = call(&f, &admin, "GET", "/assets/asset1", String::new(), &[]).await;
    assert_eq!(asset.status, StatusCode::OK, "{}", asset.text);
    let columns: Vec<&str> =
        asset.body["columns"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    let row = &asset.body["rows"][0];
    let get = |name: &str| &row[columns.iter().position(|c| *c == name).unwrap()];
    assert_eq!(get("views"), 2);
    assert_eq!(get("watch_ms"), 8000);
    assert_eq!(get("startup_p50_ms"), 400);
    assert_eq!(get("startup_p95_ms"), 900);

    let edge = call(&f, &admin, "GET", "/tables/edge?format=csv", String::new(), &[]).await;
    assert_eq!(edge.status, StatusCode::OK);
    assert_eq!(edge.text, format!("day,hits,misses,bytes,hit_ratio\r\n{day},90,10,12345,0.9\r\n"));
    let failures = call(&f, &admin, "GET", "/tables/upload_failures", String::new(), &[]).await;
    assert_eq!(failures.body["rows"][0][1], "no video stream");
    assert_eq!(failures.body["rows"][0][3], 3);
    let revenue = call(&f, &admin, "GET", "/tables/revenue_by_showtime", String::new(), &[]).await;
    assert_eq!(revenue.body["rows"][0], json!([day, "s1", "EUR", 1, 1250]));
    let missing = call(&f, &admin, "GET", "/tables/nope", String::new(), &[]).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.body["error"]["message"].as_str().unwrap().contains("views_by_asset"));

    let sql = |statement: &str| json!({"sql": statement}).to_string();
    let json_header = [("content-type", "application/json")];
    let answer = call(
        &f,
        &admin,
        "POST",
        "/sql",
        sql("SELECT kind, COUNT(*) AS n FROM events GROUP BY kind ORDER BY kind"),
        &json_header,
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.body["rows"][0], json!(["edge", 1]));
    for (statement, says) in [
        ("DROP TABLE events", "DDL"),
        ("INSERT INTO events (kind) VALUES ('x')", ""),
        ("SELECT 1; SELECT 2", "one statement"),
        ("SELEC nothing", ""),
    ] {
        let answer = call(&f, &admin, "POST", "/sql", sql(statement), &json_header).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{statement}: {}", answer.text);
        assert!(
            answer.body["error"]["message"].as_str().unwrap().contains(says),
            "{statement}: {}",
            answer.text
        );
    }
    let f2 = fixture("sql_max_rows = 3\n").await;
    let many =
        call(&f2, &admin, "POST", "/sql", sql("SELECT * FROM generate_series(1, 100)"), &json_header).await;
    assert_eq!(many.status, StatusCode::OK, "{}", many.text);
    assert_eq!(many.body["rows"].as_array().unwrap().len(), 3);
    assert_eq!(many.body["truncated"], true);
    let anonymous = call(&f, &Principal::Anonymous, "POST", "/sql", sql("SELECT 1"), &json_header).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}
