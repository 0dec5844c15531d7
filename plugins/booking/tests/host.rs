//! The booking plugin on the real host machinery: its SQLite store in a
//! temp directory, its routes through the host's router, and the TEST
//! payment provider as its own process (`cdlc-test-payments`), which calls
//! the plugin's webhook over HTTP. Principals are put on requests as the
//! host's authentication layer would.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cdlc_plugin_api::axum::body::Body;
use cdlc_plugin_api::axum::http::{Request, StatusCode};
use cdlc_plugin_api::axum::{Extension, Router};
use cdlc_plugin_api::host::{HostServices, NoAssets, NoImages, PluginHost};
use cdlc_plugin_api::{Credential, DeletedUser, Identity, InProcessBus, Plugin, Principal, Role, Scope};
use cdlc_plugin_booking::Booking;
use cdlc_plugin_store::Stores;
use serde_json::{json, Value};
use tower::ServiceExt;

const API_KEY: &str = "sk_test_booking_host";
const WEBHOOK_SECRET: &str = "whsec_test_booking_host_secret";

/// The TEST provider process; killed on drop.
struct Provider {
    child: Child,
    url: String,
    http: reqwest::Client,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Provider {
    async fn get(&self, path: &str) -> Value {
        let answer = self.http.get(format!("{}{path}", self.url)).bearer_auth(API_KEY).send().await.unwrap();
        assert!(answer.status().is_success(), "GET {path}: {}", answer.status());
        answer.json().await.unwrap()
    }

    async fn intents_of(&self, order_id: &str) -> Vec<Value> {
        self.get(&format!("/v1/payment_intents?order_id={order_id}")).await["data"]
            .as_array()
            .unwrap()
            .clone()
    }
}

use cdlc_testkit::free_port;

/// A started booking plugin with its router and the TEST provider.
struct Fixture {
    _dir: tempfile::TempDir,
    host: PluginHost,
    app: Router,
    provider: Provider,
    stores: Stores,
}

/// The plugin on SQLite files in a temporary directory.
async fn fixture(extra: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let stores = Stores::sqlite(&dir.path().join("stores"));
    fixture_on(dir, stores, extra).await
}

/// The plugin on a real MariaDB (started once for this test binary), in
/// databases of its own.
async fn fixture_on_mysql(extra: &str) -> Fixture {
    let mariadb = cdlc_testkit::mariadb::MariaDbServer::shared();
    let stores = Stores::open(&mariadb.url(&mariadb.fresh_prefix())).expect("MySQL stores");
    fixture_on(tempfile::tempdir().unwrap(), stores, extra).await
}

async fn fixture_on(dir: tempfile::TempDir, stores: Stores, extra: &str) -> Fixture {
    fixture_with(dir, stores, extra, vec![Arc::new(Booking::new())]).await
}

/// Booking beside the real catalog plugin, which it reads titles from.
async fn fixture_with_catalog() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let stores = Stores::sqlite(&dir.path().join("stores"));
    let plugins: Vec<Arc<dyn Plugin>> =
        vec![Arc::new(Booking::new()), Arc::new(cdlc_plugin_catalog::Catalog::new())];
    fixture_with(dir, stores, "", plugins).await
}

async fn fixture_with(
    dir: tempfile::TempDir,
    stores: Stores,
    extra: &str,
    plugins: Vec<Arc<dyn Plugin>>,
) -> Fixture {
    let provider_port = free_port();
    let provider_url = format!("http://127.0.0.1:{provider_port}");
    let config = format!(
        "[booking]\nsweep_seconds = 1\n{extra}\n[booking.payments]\nprovider = \"test\"\nurl = \"{provider_url}\"\n\
         api_key = \"{API_KEY}\"\nwebhook_secret = \"{WEBHOOK_SECRET}\"\n"
    );
    let config: toml::Table = toml::from_str(&config).expect("toml");
    let services = HostServices {
        stores: stores.clone(),
        bus: Arc::new(InProcessBus::new()),
        assets: Arc::new(NoAssets),
        objects: Arc::new(cdlc_storage::LocalStore::open(dir.path().join("objects")).unwrap()),
        images: Arc::new(NoImages),
        data_dir: None,
        jobs: None,
    };
    let host = PluginHost::start(plugins, &config, services).await.expect("start");
    let app = host.router();
    // The webhook arrives over real HTTP.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let webhook = format!("http://{}/api/v1/booking/payments/webhook", listener.local_addr().unwrap());
    let served = app.clone();
    tokio::spawn(async move { cdlc_plugin_api::axum::serve(listener, served).await });
    let child = Command::new(env!("CARGO_BIN_EXE_cdlc-test-payments"))
        .args(["--listen", &format!("127.0.0.1:{provider_port}"), "--api-key", API_KEY])
        .args(["--webhook-secret", WEBHOOK_SECRET, "--webhook-url", &webhook])
        .stdout(Stdio::null())
        .spawn()
        .expect("start the TEST provider");
    let provider = Provider { child, url: provider_url, http: reqwest::Client::new() };
    let deadline = Instant::now() + Duration::from_secs(10);
    while provider.http.get(format!("{}/healthz", provider.url)).send().await.is_err() {
        assert!(Instant::now() < deadline, "the TEST provider did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Fixture { _dir: dir, host, app, provider, stores }
}

fn user(id: &str, role: Role) -> Principal {
    Principal::User(Identity {
        user_id: id.into(),
        handle: format!("user_{id}"),
        role,
        credential: Credential::Session { session_id: "s".into(), cookie: false },
    })
}

fn admin() -> Principal {
    user("admin1", Role::Admin)
}

struct Answer {
    status: StatusCode,
    headers: HashMap<String, String>,
    body: Value,
    text: String,
}

impl Answer {
    fn ok(self, status: u16) -> Value {
        assert_eq!(self.status.as_u16(), status, "{}", self.text);
        self.body
    }
    fn refused(&self, status: u16, says: &str) {
        assert_eq!(self.status.as_u16(), status, "{}", self.text);
        assert!(self.body["error"]["code"].is_string(), "the one error shape: {}", self.text);
        let message = self.body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "wanted {says:?} in {message:?}");
    }
}

async fn call_with(
    app: &Router,
    who: &Principal,
    method: &str,
    uri: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> Answer {
    call_plugin(app, who, "booking", method, uri, body, headers).await
}

async fn call_plugin(
    app: &Router,
    who: &Principal,
    plugin: &str,
    method: &str,
    uri: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> Answer {
    let mut request = Request::builder().method(method).uri(format!("/api/v1/{plugin}{uri}"));
    if body.is_some() {
        request = request.header("content-type", "application/json");
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(Body::from(body.map(|b| b.to_string()).unwrap_or_default())).unwrap();
    let response = app.clone().layer(Extension(who.clone())).oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned()))
        .collect();
    let bytes = cdlc_plugin_api::axum::body::to_bytes(response.into_body(), 1 << 22).await.unwrap();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    Answer { status, headers, body: serde_json::from_str(&text).unwrap_or(Value::Null), text }
}

async fn call(app: &Router, who: &Principal, method: &str, uri: &str, body: Option<Value>) -> Answer {
    call_with(app, who, method, uri, body, &[]).await
}

/// A seat map of `rows` rows of `per_row` seats: row A premium, the rest
/// standard; seat A-1 accessible, the last seat of the last row blocked.
fn seat_map(rows: usize, per_row: usize) -> Value {
    let rows: Vec<Value> = (0..rows)
        .map(|r| {
            let label = ((b'A' + r as u8) as char).to_string();
            let seats: Vec<Value> = (1..=per_row)
                .map(|s| {
                    json!({
                        "label": s.to_string(),
                        "category": if r == 0 { "premium" } else { "standard" },
                        "accessible": r == 0 && s == 1,
                        "blocked": r + 1 == rows && s == per_row && rows > 1,
                    })
                })
                .collect();
            json!({ "label": label, "seats": seats })
        })
        .collect();
    json!({
        "categories": [{ "id": "standard", "name": "Standard" }, { "id": "premium", "name": "Premium" }],
        "rows": rows,
    })
}

fn in_minutes(minutes: i64) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let secs = now + minutes * 60;
    // RFC 3339 by hand (UTC): days since the epoch to a civil date.
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// A venue, a screen of `rows`×`per_row` and a showtime starting in two hours.
async fn showtime(app: &Router, rows: usize, per_row: usize) -> (String, String) {
    let venue =
        call(app, &admin(), "POST", "/venues", Some(json!({ "name": "Rex", "city": "Bern" }))).await.ok(201);
    let venue_id = venue["id"].as_str().unwrap();
    let screen = call(
        app,
        &admin(),
        "POST",
        &format!("/venues/{venue_id}/screens"),
        Some(json!({ "name": "Saal 1", "seat_map": seat_map(rows, per_row) })),
    )
    .await
    .ok(201);
    let screen_id = screen["id"].as_str().unwrap().to_owned();
    let showtime = call(
        app,
        &admin(),
        "POST",
        "/showtimes",
        Some(json!({
            "title_id": "tt0068646", "screen_id": screen_id, "starts_at": in_minutes(120), "runtime_minutes": 175,
            "language": "en", "subtitles": "de", "format": "2D", "currency": "CHF",
            "prices": { "standard": 1800, "premium": 2400 },
        })),
    )
    .await
    .ok(201);
    (showtime["id"].as_str().unwrap().to_owned(), screen_id)
}

async fn hold(app: &Router, who: &Principal, showtime: &str, seats: &[&str]) -> Answer {
    call(app, who, "POST", &format!("/showtimes/{showtime}/holds"), Some(json!({ "seats": seats }))).await
}

async fn checkout(app: &Router, who: &Principal, hold_id: &str, key: &str) -> Answer {
    call_with(app, who, "POST", "/orders", Some(json!({ "hold_id": hold_id })), &[("idempotency-key", key)])
        .await
}

async fn pay(app: &Router, who: &Principal, order: &str, card: &str) -> Answer {
    call(app, who, "POST", &format!("/orders/{order}/pay"), Some(json!({ "card_number": card }))).await
}

async fn order_until(app: &Router, who: &Principal, order: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let body = call(app, who, "GET", &format!("/orders/{order}"), None).await.ok(200);
        if done(&body) {
            return body;
        }
        assert!(Instant::now() < deadline, "the order never got there: {body:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn store(fixture: &Fixture) -> auditor::Store {
    auditor::Store(fixture.stores.clone())
}

/// Reads the plugin's own store through the store crate (as an auditor would).
mod auditor {
    pub struct Store(pub cdlc_plugin_store::Stores);
    impl Store {
        pub async fn count(&self, sql: &str) -> i64 {
            use cdlc_plugin_store::Sql;
            let db = self.0.db("booking").await.unwrap();
            db.query(sql, &[]).await.unwrap()[0].get::<i64>("n").unwrap()
        }
    }
}

#[tokio::test]
async fn venues_seat_maps_and_showtimes_with_listing_and_bad_input() {
    let f = fixture("").await;
    let app = &f.app;
    // Writes need an admin; reads are public.
    call(app, &user("u1", Role::Viewer), "POST", "/venues", Some(json!({ "name": "X" })))
        .await
        .refused(403, "admin");
    call(app, &Principal::Anonymous, "POST", "/venues", Some(json!({ "name": "X" })))
        .await
        .refused(401, "sign in");
    let (showtime_id, screen_id) = showtime(app, 3, 4).await;
    let screen =
        call(app, &Principal::Anonymous, "GET", &format!("/screens/{screen_id}"), None).await.ok(200);
    assert_eq!(screen["seat_count"], 12);
    assert_eq!(screen["seat_map"]["rows"][0]["seats"][0]["id"], "A-1");
    assert_eq!(screen["seat_map"]["rows"][0]["seats"][0]["accessible"], true);

    // The showtime's end comes from the runtime; its seats are drawable.
    let got =
        call(app, &Principal::Anonymous, "GET", &format!("/showtimes/{showtime_id}"), None).await.ok(200);
    assert_eq!(got["runtime_minutes"], 175);
    assert_eq!(got["prices"].as_array().unwrap().len(), 2);
    let seats = call(app, &Principal::Anonymous, "GET", &format!("/showtimes/{showtime_id}/seats"), None)
        .await
        .ok(200);
    assert_eq!(seats["available"], 11, "12 seats, one blocked: {seats}");
    assert_eq!(seats["seats"].as_array().unwrap().iter().filter(|s| s["status"] == "blocked").count(), 1);

    // Bad input: sentences.
    let venue_id = got["venue_id"].as_str().unwrap();
    let bad_map = json!({ "name": "S2", "seat_map": { "categories": [{ "id": "standard", "name": "S" }],
        "rows": [{ "label": "A", "seats": [{ "label": "1", "category": "vip" }] }] } });
    call(app, &admin(), "POST", &format!("/venues/{venue_id}/screens"), Some(bad_map))
        .await
        .refused(400, "vip");
    let base = json!({ "title_id": "tt1", "screen_id": screen_id, "starts_at": in_minutes(600), "runtime_minutes": 90,
        "currency": "CHF", "prices": { "standard": 1000, "premium": 1500 } });
    let with = |field: &str, value: Value| {
        let mut body = base.clone();
        body[field] = value;
        body
    };
    call(app, &admin(), "POST", "/showtimes", Some(with("currency", json!("XYZ"))))
        .await
        .refused(400, "ISO 4217");
    call(app, &admin(), "POST", "/showtimes", Some(with("prices", json!({ "standard": -5, "premium": 1 }))))
        .await
        .refused(400, "negative");
    call(
        app,
        &admin(),
        "POST",
        "/showtimes",
        Some(with("prices", json!({ "standard": 1u64 << 62, "premium": 1 }))),
    )
    .await
    .refused(400, "largest");
    call(
        app,
        &admin(),
        "POST",
        "/showtimes",
        Some(with("prices", json!({ "standard": 1e30, "premium": 1 }))),
    )
    .await
    .refused(400, "");
    call(app, &admin(), "POST", "/showtimes", Some(with("prices", json!({ "standard": 1 }))))
        .await
        .refused(400, "premium");
    call(app, &admin(), "POST", "/showtimes", Some(with("starts_at", json!("tomorrow"))))
        .await
        .refused(400, "RFC 3339");
    let mut no_runtime = base.clone();
    no_runtime.as_object_mut().unwrap().remove("runtime_minutes");
    call(app, &admin(), "POST", "/showtimes", Some(no_runtime)).await.refused(400, "runtime_minutes");
    call(app, &admin(), "POST", "/showtimes", Some(with("starts_at", json!(in_minutes(150)))))
        .await
        .refused(409, "overlap");

    // Listing by title, venue and day, a page at a time.
    for hours in [10, 14, 18] {
        let body = with("starts_at", json!(in_minutes(hours * 60)));
        call(app, &admin(), "POST", "/showtimes", Some(body)).await.ok(201);
    }
    let by_title =
        call(app, &Principal::Anonymous, "GET", "/showtimes?title_id=tt1&limit=2", None).await.ok(200);
    assert_eq!(by_title["items"].as_array().unwrap().len(), 2);
    let cursor = by_title["next_cursor"].as_str().expect("a next page");
    let rest = call(
        app,
        &Principal::Anonymous,
        "GET",
        &format!("/showtimes?title_id=tt1&limit=2&cursor={cursor}"),
        None,
    )
    .await
    .ok(200);
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert!(rest["next_cursor"].is_null());
    let by_venue = call(app, &Principal::Anonymous, "GET", &format!("/showtimes?venue_id={venue_id}"), None)
        .await
        .ok(200);
    assert_eq!(by_venue["items"].as_array().unwrap().len(), 4);
    let today = &in_minutes(120)[..10];
    let by_day =
        call(app, &Principal::Anonymous, "GET", &format!("/showtimes?day={today}"), None).await.ok(200);
    assert!(by_day["items"].as_array().unwrap().iter().any(|s| s["id"] == showtime_id.as_str()), "{by_day}");
    call(app, &Principal::Anonymous, "GET", "/showtimes?day=01-02-2026", None)
        .await
        .refused(400, "YYYY-MM-DD");
    call(app, &Principal::Anonymous, "GET", "/showtimes?limit=0", None).await.refused(400, "limit");

    // The map may change while nothing is sold; not once a seat is held.
    let changed = call(
        app,
        &admin(),
        "PUT",
        &format!("/screens/{screen_id}/seat-map"),
        Some(json!({ "seat_map": seat_map(2, 5) })),
    )
    .await
    .ok(200);
    assert_eq!((changed["seat_count"].as_i64(), changed["map_version"].as_i64()), (Some(10), Some(2)));
    let seats = call(app, &Principal::Anonymous, "GET", &format!("/showtimes/{showtime_id}/seats"), None)
        .await
        .ok(200);
    assert_eq!(seats["seats"].as_array().unwrap().len(), 10, "future showtimes take the new map");
    hold(app, &user("u1", Role::Viewer), &showtime_id, &["B-2"]).await.ok(201);
    call(
        app,
        &admin(),
        "PUT",
        &format!("/screens/{screen_id}/seat-map"),
        Some(json!({ "seat_map": seat_map(3, 3) })),
    )
    .await
    .refused(409, "sold or held");
    f.host.stop().await;
}

#[tokio::test]
async fn a_hundred_buyers_of_one_seat_get_one_hold_and_bad_holds_are_refused() {
    a_hundred_buyers_of_one_seat(fixture("").await).await;
}

#[tokio::test]
async fn on_mysql_a_hundred_buyers_of_one_seat_get_one_hold_and_bad_holds_are_refused() {
    a_hundred_buyers_of_one_seat(fixture_on_mysql("").await).await;
}

async fn a_hundred_buyers_of_one_seat(f: Fixture) {
    let (showtime_id, _) = showtime(&f.app, 3, 4).await;
    let mut buyers = Vec::new();
    for n in 0..100 {
        let (app, showtime_id) = (f.app.clone(), showtime_id.clone());
        buyers.push(tokio::spawn(async move {
            hold(&app, &user(&format!("b{n}"), Role::Viewer), &showtime_id, &["B-3"]).await
        }));
    }
    let mut won = 0;
    for buyer in buyers {
        let answer = buyer.await.unwrap();
        if answer.status == StatusCode::CREATED {
            won += 1;
        } else {
            answer.refused(409, "B-3 is taken");
        }
    }
    assert_eq!(won, 1, "exactly one hold");
    assert_eq!(store(&f).count("SELECT COUNT(*) AS n FROM seat_claims WHERE seat_id = 'B-3'").await, 1);

    // A hold takes all its seats or none.
    let viewer = user("v1", Role::Viewer);
    hold(&f.app, &viewer, &showtime_id, &["B-2", "B-3"]).await.refused(409, "B-3");
    assert_eq!(store(&f).count("SELECT COUNT(*) AS n FROM seat_claims WHERE seat_id = 'B-2'").await, 0);
    hold(&f.app, &viewer, &showtime_id, &["Z-9"]).await.refused(400, "not on this showtime's screen");
    hold(&f.app, &viewer, &showtime_id, &["C-4"]).await.refused(409, "blocked");
    hold(&f.app, &viewer, &showtime_id, &[]).await.refused(400, "1 to 10");
    hold(&f.app, &viewer, &showtime_id, &["A-1", "A-1"]).await.refused(400, "each once");
    hold(&f.app, &Principal::Anonymous, &showtime_id, &["A-1"]).await.refused(401, "sign in");
    // Seats of another screen.
    let (other_showtime, _) = showtime(&f.app, 1, 2).await;
    let other = hold(&f.app, &viewer, &other_showtime, &["A-1"]).await.ok(201);
    let _ = other;
    hold(&f.app, &viewer, &other_showtime, &["B-1"]).await.refused(400, "not on this showtime's screen");
    f.host.stop().await;
}

#[tokio::test]
async fn a_hold_expires_and_its_seat_is_free_again_and_past_showtimes_refuse_holds() {
    let f = fixture("hold_seconds = 1\n").await;
    let (showtime_id, screen_id) = showtime(&f.app, 2, 2).await;
    let ada = user("ada", Role::Viewer);
    let held = hold(&f.app, &ada, &showtime_id, &["B-1"]).await.ok(201);
    hold(&f.app, &user("bob", Role::Viewer), &showtime_id, &["B-1"]).await.refused(409, "taken");
    tokio::time::sleep(Duration::from_millis(1300)).await;
    // Reads treat it as free at once, before any sweep.
    let seats = call(&f.app, &Principal::Anonymous, "GET", &format!("/showtimes/{showtime_id}/seats"), None)
        .await
        .ok(200);
    let b1 = seats["seats"].as_array().unwrap().iter().find(|s| s["id"] == "B-1").unwrap().clone();
    assert_eq!(b1["status"], "available", "{seats}");
    checkout(&f.app, &ada, held["id"].as_str().unwrap(), "k-expired").await.refused(409, "expired");
    // The sweeper releases it without any request.
    let deadline = Instant::now() + Duration::from_secs(5);
    while store(&f).count("SELECT COUNT(*) AS n FROM seat_claims").await != 0 {
        assert!(Instant::now() < deadline, "the sweeper never released the hold");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    hold(&f.app, &user("bob", Role::Viewer), &showtime_id, &["B-1"]).await.ok(201);

    // A showtime that has started refuses holds.
    let past = call(
        &f.app,
        &admin(),
        "POST",
        "/showtimes",
        Some(json!({ "title_id": "tt2", "screen_id": screen_id, "starts_at": in_minutes(-600), "runtime_minutes": 60,
            "currency": "EUR", "prices": { "standard": 900, "premium": 1200 } })),
    )
    .await
    .ok(201);
    hold(&f.app, &ada, past["id"].as_str().unwrap(), &["A-1"]).await.refused(409, "started");
    f.host.stop().await;
}

#[tokio::test]
async fn checkout_is_idempotent_payment_issues_tickets_and_a_ticket_checks_in_once() {
    let f = fixture("").await;
    let (showtime_id, _) = showtime(&f.app, 3, 4).await;
    let ada = user("ada", Role::Viewer);
    let held = hold(&f.app, &ada, &showtime_id, &["A-2", "B-2"]).await.ok(201);
    assert_eq!(held["total"], 2400 + 1800);
    let hold_id = held["id"].as_str().unwrap();
    call_with(&f.app, &ada, "POST", "/orders", Some(json!({ "hold_id": hold_id })), &[])
        .await
        .refused(400, "Idempotency-Key");
    let first = checkout(&f.app, &ada, hold_id, "key-1").await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    let order_id = first.body["id"].as_str().unwrap().to_owned();
    assert_eq!((first.body["status"].as_str(), first.body["amount"].as_i64()), (Some("pending"), Some(4200)));
    // Replays, even concurrent ones, return the same order and make no second intent.
    let mut replays = Vec::new();
    for _ in 0..10 {
        let (app, ada, hold_id) = (f.app.clone(), ada.clone(), hold_id.to_owned());
        replays.push(tokio::spawn(async move { checkout(&app, &ada, &hold_id, "key-1").await }));
    }
    for replay in replays {
        let replay = replay.await.unwrap();
        assert_eq!(replay.headers.get("idempotent-replayed").map(String::as_str), Some("true"));
        assert_eq!(replay.ok(200)["id"].as_str(), Some(order_id.as_str()));
    }
    checkout(&f.app, &ada, hold_id, "key-2").await.refused(409, "already checked out");
    let other_hold = hold(&f.app, &ada, &showtime_id, &["C-1"]).await.ok(201);
    checkout(&f.app, &ada, other_hold["id"].as_str().unwrap(), "key-1").await.refused(422, "another hold");
    checkout(&f.app, &user("bob", Role::Viewer), hold_id, "key-b").await.refused(404, "no hold");
    assert_eq!(f.provider.intents_of(&order_id).await.len(), 1, "one intent for the order");

    // Declined, then paid.
    pay(&f.app, &ada, &order_id, "4000000000000002").await.refused(402, "declined");
    pay(&f.app, &ada, &order_id, "1234").await.refused(400, "12-19 digits");
    let paid = pay(&f.app, &ada, &order_id, "4242 4242 4242 4242").await.ok(200);
    assert_eq!(paid["status"], "paid", "{paid:#}");
    let tickets = paid["tickets"].as_array().unwrap().clone();
    assert_eq!(tickets.len(), 2);
    pay(&f.app, &ada, &order_id, "4242424242424242").await.refused(409, "only a pending order");
    // The success webhook arrives too and changes nothing.
    let paid_again = order_until(&f.app, &ada, &order_id, |o| o["payment"]["status"] == "succeeded").await;
    assert_eq!(paid_again["tickets"].as_array().unwrap().len(), 2);
    let intents = f.provider.intents_of(&order_id).await;
    assert_eq!((intents.len(), intents[0]["charges"].as_i64()), (1, Some(1)), "charged once: {intents:?}");
    assert_eq!(store(&f).count("SELECT COUNT(*) AS n FROM tickets").await, 2);
    let seats = call(&f.app, &Principal::Anonymous, "GET", &format!("/showtimes/{showtime_id}/seats"), None)
        .await
        .ok(200);
    assert_eq!(seats["seats"].as_array().unwrap().iter().filter(|s| s["status"] == "sold").count(), 2);

    // The QR code is an SVG for its buyer only.
    let ticket_id = tickets[0]["id"].as_str().unwrap();
    let svg = call(&f.app, &ada, "GET", &format!("/tickets/{ticket_id}/qr.svg"), None).await;
    assert_eq!(svg.status, StatusCode::OK);
    assert!(
        svg.text.starts_with("<?xml") && svg.text.contains("<svg"),
        "{}",
        &svg.text[..80.min(svg.text.len())]
    );
    call(&f.app, &user("bob", Role::Viewer), "GET", &format!("/tickets/{ticket_id}/qr.svg"), None)
        .await
        .refused(404, "no ticket");

    // Check-in: staff only, once; a forged code is refused.
    let payload = tickets[0]["qr_payload"].as_str().unwrap();
    let scan = |who: Principal, payload: String| {
        let (app, showtime_id) = (f.app.clone(), showtime_id.clone());
        async move {
            call(
                &app,
                &who,
                "POST",
                &format!("/showtimes/{showtime_id}/check-ins"),
                Some(json!({ "payload": payload })),
            )
            .await
        }
    };
    let door = user("door1", Role::Viewer);
    scan(door.clone(), payload.into()).await.refused(403, "staff");
    call(&f.app, &admin(), "PUT", "/staff/door1", None).await.ok(204);
    // Change the MAC's last hex digit to a different one (a fixed "0" would
    // equal the real digit one time in sixteen).
    let (head, last) = payload.split_at(payload.len() - 1);
    let forged = format!("{head}{}", if last == "0" { "1" } else { "0" });
    scan(door.clone(), forged).await.refused(400, "signature");
    let key_without_scope = Principal::User(Identity {
        user_id: "door1".into(),
        handle: "door1".into(),
        role: Role::Viewer,
        credential: Credential::ApiKey { key_id: "k".into(), scopes: vec![Scope::ASSETS_READ] },
    });
    scan(key_without_scope, payload.into()).await.refused(403, "booking:checkin");
    let scans: Vec<_> = (0..5).map(|_| tokio::spawn(scan(door.clone(), payload.to_owned()))).collect();
    let mut admitted = 0;
    for answer in scans {
        let answer = answer.await.unwrap();
        if answer.status == StatusCode::OK {
            admitted += 1;
        } else {
            answer.refused(409, "already used");
        }
    }
    assert_eq!(admitted, 1, "a ticket admits once");

    // A used ticket cannot be refunded; a fresh paid order can, and frees its seats.
    call(&f.app, &ada, "POST", &format!("/orders/{order_id}/cancel"), None)
        .await
        .refused(409, "already used");
    let second = hold(&f.app, &ada, &showtime_id, &["B-4"]).await.ok(201);
    let second = checkout(&f.app, &ada, second["id"].as_str().unwrap(), "key-3").await.ok(201);
    let second_id = second["id"].as_str().unwrap();
    pay(&f.app, &ada, second_id, "4242424242424242").await.ok(200);
    let refunded = call(&f.app, &ada, "POST", &format!("/orders/{second_id}/cancel"), None).await.ok(200);
    assert_eq!(refunded["status"], "refunded");
    assert_eq!(refunded["refund"]["state"], "done", "{refunded:#}");
    assert_eq!(refunded["tickets"][0]["status"], "void");
    hold(&f.app, &user("bob", Role::Viewer), &showtime_id, &["B-4"]).await.ok(201);
    let listed = call(&f.app, &ada, "GET", "/orders?limit=1", None).await.ok(200);
    assert_eq!(listed["items"][0]["id"].as_str(), Some(second_id), "newest first");
    assert!(listed["next_cursor"].is_string());
    f.host.stop().await;
}

#[tokio::test]
async fn a_payment_after_the_hold_expired_is_refunded_and_webhooks_are_signed_and_applied_once() {
    let f = fixture("hold_seconds = 2\n").await;
    let (showtime_id, _) = showtime(&f.app, 2, 3).await;
    let ada = user("ada", Role::Viewer);
    let held = hold(&f.app, &ada, &showtime_id, &["B-1"]).await.ok(201);
    let order = checkout(&f.app, &ada, held["id"].as_str().unwrap(), "late").await.ok(201);
    let order_id = order["id"].as_str().unwrap().to_owned();
    let waiting = pay(&f.app, &ada, &order_id, "4000002500003155").await.ok(200);
    assert_eq!(waiting["payment"]["status"], "requires_action", "{waiting:#}");
    let action = waiting["payment"]["next_action_url"].as_str().unwrap().to_owned();
    // The buyer dawdles past the hold; the sweeper expires the order and someone else takes the seat.
    order_until(&f.app, &ada, &order_id, |o| o["status"] == "expired").await;
    hold(&f.app, &user("bob", Role::Viewer), &showtime_id, &["B-1"]).await.ok(201);
    // Then approves: the payment succeeds at the provider and must be refunded.
    let approved = f.provider.http.post(&action).form(&[("action", "approve")]).send().await.unwrap();
    assert!(approved.status().is_success());
    let refunded = order_until(&f.app, &ada, &order_id, |o| o["refund"]["state"] == "done").await;
    assert_eq!(refunded["status"], "refunded");
    let reason = refunded["status_reason"].as_str().unwrap();
    assert!(reason.contains("after the seat hold expired"), "{reason}");
    assert!(refunded["tickets"].as_array().unwrap().is_empty(), "no ticket without a paid order");
    let intent = &f.provider.intents_of(&order_id).await[0];
    assert_eq!((intent["charges"].as_i64(), intent["amount_refunded"].as_i64()), (Some(1), Some(1800)));

    // Webhooks: a forged one is refused; a duplicated one is acknowledged and not applied again.
    let webhook = |body: String, signature: Option<String>| {
        let app = f.app.clone();
        async move {
            let mut headers = vec![];
            if let Some(s) = &signature {
                headers.push(("test-payments-signature", s.as_str()));
            }
            let request = Request::builder().method("POST").uri("/api/v1/booking/payments/webhook");
            let request = headers.iter().fold(request, |r, (n, v)| r.header(*n, *v));
            let response = app.oneshot(request.body(Body::from(body)).unwrap()).await.unwrap();
            let status = response.status();
            let bytes = cdlc_plugin_api::axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
            (status, String::from_utf8_lossy(&bytes).into_owned())
        }
    };
    let forged =
        json!({ "id": "evt_forged", "type": "payment_intent.succeeded", "data": { "object": intent } })
            .to_string();
    let (status, body) = webhook(forged.clone(), Some("t=1,v1=00".into())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("signature"), "{body}");
    let (status, body) = webhook(forged, None).await;
    assert_eq!((status, body.contains("header")), (StatusCode::BAD_REQUEST, true), "{body}");

    let events = f.provider.get("/v1/events").await;
    let succeeded = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "payment_intent.succeeded")
        .unwrap()
        .clone();
    let before = store(&f).count("SELECT COUNT(*) AS n FROM webhook_events").await;
    let resend = f
        .provider
        .http
        .post(format!("{}/v1/events/{}/resend", f.provider.url, succeeded["id"].as_str().unwrap()))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap();
    assert!(resend.status().is_success());
    let resent: Value = resend.json().await.unwrap();
    assert_eq!(resent["status"], 200);
    assert_eq!(store(&f).count("SELECT COUNT(*) AS n FROM webhook_events").await, before, "recorded once");
    let after = call(&f.app, &ada, "GET", &format!("/orders/{order_id}"), None).await.ok(200);
    assert_eq!(
        (after["status"].as_str(), after["tickets"].as_array().map(Vec::len)),
        (Some("refunded"), Some(0))
    );
    let intent = &f.provider.intents_of(&order_id).await[0];
    assert_eq!(intent["amount_refunded"].as_i64(), Some(1800), "refunded once");
    f.host.stop().await;
}

#[tokio::test]
async fn two_hundred_buyers_over_fifty_seats_sell_each_seat_once() {
    two_hundred_buyers_over_fifty_seats(fixture("").await).await;
}

#[tokio::test]
async fn on_mysql_two_hundred_buyers_over_fifty_seats_sell_each_seat_once() {
    two_hundred_buyers_over_fifty_seats(fixture_on_mysql("").await).await;
}

async fn two_hundred_buyers_over_fifty_seats(f: Fixture) {
    let (showtime_id, _) = showtime(&f.app, 5, 10).await;
    let seats: Vec<String> = (0..5u8)
        .flat_map(|r| (1..=10).map(move |s| format!("{}-{s}", (b'A' + r) as char)))
        .filter(|s| s != "E-10")
        .collect();
    assert_eq!(seats.len(), 49, "50 seats, one blocked");
    let mut buyers = Vec::new();
    for n in 0..200usize {
        let (app, showtime_id) = (f.app.clone(), showtime_id.clone());
        // Each buyer wants two seats next to each other, overlapping others' wishes.
        let wanted = [seats[n % 49].clone(), seats[(n * 7 + 1) % 49].clone()];
        buyers.push(tokio::spawn(async move {
            let who = user(&format!("buyer{n}"), Role::Viewer);
            let wanted: Vec<&str> = wanted.iter().map(String::as_str).collect();
            let wanted = if wanted[0] == wanted[1] { &wanted[..1] } else { &wanted[..] };
            let held = hold(&app, &who, &showtime_id, wanted).await;
            if held.status != StatusCode::CREATED {
                held.refused(409, "taken");
                return 0;
            }
            let order =
                checkout(&app, &who, held.body["id"].as_str().unwrap(), &format!("k{n}")).await.ok(201);
            let paid = pay(&app, &who, order["id"].as_str().unwrap(), "4242424242424242").await.ok(200);
            assert_eq!(paid["status"], "paid");
            paid["tickets"].as_array().unwrap().len()
        }));
    }
    let mut sold = 0;
    for buyer in buyers {
        sold += buyer.await.unwrap();
    }
    let s = store(&f);
    assert_eq!(s.count("SELECT COUNT(*) AS n FROM tickets WHERE status = 'valid'").await as usize, sold);
    assert_eq!(
        s.count("SELECT COUNT(*) AS n FROM (SELECT showtime_id, seat_id FROM tickets GROUP BY showtime_id, seat_id HAVING COUNT(*) > 1) d")
            .await,
        0,
        "no seat in two orders"
    );
    assert_eq!(s.count("SELECT COUNT(*) AS n FROM orders WHERE status = 'paid' AND id NOT IN (SELECT order_id FROM tickets)").await, 0);
    assert!(sold <= 49 && sold > 0, "{sold}");
    // Then the rest go to single-seat buyers until the showtime is sold out.
    for (n, seat) in seats.iter().enumerate() {
        let who = user(&format!("late{n}"), Role::Viewer);
        let held = hold(&f.app, &who, &showtime_id, &[seat.as_str()]).await;
        if held.status == StatusCode::CREATED {
            let order = checkout(&f.app, &who, held.body["id"].as_str().unwrap(), "k").await.ok(201);
            pay(&f.app, &who, order["id"].as_str().unwrap(), "4242424242424242").await.ok(200);
        }
    }
    assert_eq!(
        s.count("SELECT COUNT(*) AS n FROM tickets WHERE status = 'valid'").await,
        49,
        "every seat sold once"
    );
    let available =
        call(&f.app, &Principal::Anonymous, "GET", &format!("/showtimes/{showtime_id}/seats"), None)
            .await
            .ok(200);
    assert_eq!(available["available"], 0);
    f.host.stop().await;
}

#[tokio::test]
async fn a_deleted_user_leaves_no_hold_and_only_anonymous_paid_orders() {
    let f = fixture("").await;
    let (showtime_id, _) = showtime(&f.app, 2, 3).await;
    let ada = user("ada", Role::Viewer);
    let paid_hold = hold(&f.app, &ada, &showtime_id, &["A-1"]).await.ok(201);
    let paid = checkout(&f.app, &ada, paid_hold["id"].as_str().unwrap(), "p").await.ok(201);
    pay(&f.app, &ada, paid["id"].as_str().unwrap(), "4242424242424242").await.ok(200);
    let pending_hold = hold(&f.app, &ada, &showtime_id, &["A-2"]).await.ok(201);
    checkout(&f.app, &ada, pending_hold["id"].as_str().unwrap(), "q").await.ok(201);
    hold(&f.app, &ada, &showtime_id, &["A-3"]).await.ok(201);
    let failures =
        f.host.user_deleted(&DeletedUser { user_id: "ada".into(), handle: "user_ada".into() }).await;
    assert!(failures.is_empty(), "{failures:?}");
    let s = store(&f);
    assert_eq!(s.count("SELECT COUNT(*) AS n FROM orders WHERE user_id = 'ada'").await, 0);
    assert_eq!(s.count("SELECT COUNT(*) AS n FROM holds WHERE user_id = 'ada'").await, 0);
    assert_eq!(s.count("SELECT COUNT(*) AS n FROM tickets WHERE user_id IS NOT NULL").await, 0);
    assert_eq!(
        s.count("SELECT COUNT(*) AS n FROM orders WHERE status = 'paid' AND user_id IS NULL").await,
        1,
        "kept, anonymized"
    );
    assert_eq!(s.count("SELECT COUNT(*) AS n FROM orders WHERE status = 'canceled'").await, 1);
    // The pending and held seats are on sale again; the sold one is not.
    let seats = call(&f.app, &Principal::Anonymous, "GET", &format!("/showtimes/{showtime_id}/seats"), None)
        .await
        .ok(200);
    let status: Vec<_> = seats["seats"]
        .as_array()
        .unwrap()
        .iter()
        .take(3)
        .map(|s| s["status"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(status, ["sold", "available", "available"]);
    // Idempotent.
    assert!(f
        .host
        .user_deleted(&DeletedUser { user_id: "ada".into(), handle: "user_ada".into() })
        .await
        .is_empty());
    // The plugin's routes are described, with Booking-prefixed schemas.
    let openapi = serde_json::to_value(f.host.openapi()).unwrap();
    assert_eq!(openapi["paths"]["/api/v1/booking/orders"]["post"]["tags"][0], "booking");
    assert!(openapi["components"]["schemas"]["BookingOrder"].is_object(), "{openapi:#}");
    f.host.stop().await;
}

#[tokio::test]
async fn a_showtime_of_a_catalog_title_takes_its_runtime_and_name_from_the_catalog() {
    let f = fixture_with_catalog().await;
    let title = call_plugin(
        &f.app,
        &admin(),
        "catalog",
        "POST",
        "/titles",
        Some(json!({ "kind": "movie", "primary_title": "Le Samouraï", "runtime_minutes": 105 })),
        &[],
    )
    .await
    .ok(201);
    let title_id = title["id"].as_str().unwrap();
    let venue = call(&f.app, &admin(), "POST", "/venues", Some(json!({ "name": "Rex", "city": "Bern" })))
        .await
        .ok(201);
    let screen = call(
        &f.app,
        &admin(),
        "POST",
        &format!("/venues/{}/screens", venue["id"].as_str().unwrap()),
        Some(json!({ "name": "Saal 1", "seat_map": seat_map(2, 4) })),
    )
    .await
    .ok(201);
    let body = |title_id: &str| {
        json!({
            "title_id": title_id, "screen_id": screen["id"], "starts_at": "2030-01-01T20:00:00Z",
            "currency": "CHF", "prices": { "standard": 1800, "premium": 2400 },
        })
    };
    // No runtime in the request: the catalog's 105 minutes and its name.
    let showtime = call(&f.app, &admin(), "POST", "/showtimes", Some(body(title_id))).await.ok(201);
    assert_eq!(showtime["runtime_minutes"], 105, "{showtime}");
    assert_eq!(showtime["title_name"], "Le Samouraï", "{showtime}");
    assert_eq!(showtime["ends_at"], "2030-01-01T21:45:00Z", "{showtime}");
    // A title the catalog does not have is refused, not booked blind.
    call(&f.app, &admin(), "POST", "/showtimes", Some(body("tt9999999")))
        .await
        .refused(400, "the catalog has no title tt9999999");
}
