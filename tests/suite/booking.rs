//! The booking plugin on a real `cdlc serve`, paying through the TEST
//! payment provider process (`cdlc-test-payments`), driven over HTTP with
//! curl by concurrent buyers; what was sold is read back from the plugin's
//! SQLite store.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::accounts::{call, call_with, sign_in, sign_up, start_with_config, Answer, As};
use crate::server::{free_port, Server, TOKEN};

const API_KEY: &str = "sk_test_suite";
const WEBHOOK_SECRET: &str = "whsec_test_suite_secret_0123";

/// The TEST provider process beside the `cdlc` binary; killed on drop.
struct Payments {
    child: Child,
    port: u16,
}

impl Drop for Payments {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn payments_bin() -> PathBuf {
    let bin = crate::support::cdlc_bin().with_file_name("cdlc-test-payments");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p cdlc-plugin-booking` (make test does)",
        bin.display()
    );
    bin
}

impl Payments {
    fn start(port: u16, server: &Server) -> Payments {
        let child = Command::new(payments_bin())
            .args([
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--api-key",
                API_KEY,
                "--webhook-secret",
                WEBHOOK_SECRET,
            ])
            .args(["--webhook-url", &server.url("/api/v1/booking/payments/webhook")])
            .stdout(Stdio::null())
            .spawn()
            .expect("start cdlc-test-payments");
        let payments = Payments { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while payments.curl(&[], "/healthz").0 != 200 {
            assert!(Instant::now() < deadline, "the TEST provider did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        payments
    }

    fn curl(&self, args: &[&str], path: &str) -> (u16, String) {
        let output = Command::new("curl")
            .args(["-s", "-S", "--max-time", "30", "-w", "\n%{http_code}", "-H"])
            .arg(format!("Authorization: Bearer {API_KEY}"))
            .args(args)
            .arg(format!("http://127.0.0.1:{}{path}", self.port))
            .output()
            .expect("curl");
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        let (body, status) = text.rsplit_once('\n').unwrap_or(("", "0"));
        (status.trim().parse().unwrap_or(0), body.to_owned())
    }

    fn json(&self, args: &[&str], path: &str) -> Value {
        let (status, body) = self.curl(args, path);
        assert!((200..300).contains(&status), "{path}: {status} {body}");
        serde_json::from_str(&body).expect("JSON")
    }

    fn intents_of(&self, order: &str) -> Vec<Value> {
        self.json(&[], &format!("/v1/payment_intents?order_id={order}"))["data"]
            .as_array()
            .expect("data")
            .clone()
    }
}

fn config(payments_port: u16, extra: &str) -> String {
    format!(
        "[accounts]\nsignup = \"open\"\n\n# Showtimes name their runtime: no catalog here.\n[plugins.catalog]\nenabled = false\n\n[plugins.booking]\nsweep_seconds = 1\n{extra}\n\
         [plugins.booking.payments]\nprovider = \"test\"\nurl = \"http://127.0.0.1:{payments_port}\"\n\
         api_key = \"{API_KEY}\"\nwebhook_secret = \"{WEBHOOK_SECRET}\"\n"
    )
}

fn booking(server: &Server, method: &str, path: &str, who: As, body: Option<&Value>) -> Answer {
    call(server, method, &format!("/api/v1/booking{path}"), who, body)
}

fn ok(answer: Answer, status: u16) -> Value {
    assert_eq!(answer.status, status, "{}", answer.body);
    answer.body
}

fn store_count(data: &Path, sql: &str) -> i64 {
    let db = rusqlite::Connection::open(data.join("stores/booking.db")).expect("booking.db");
    db.query_row(sql, [], |row| row.get(0)).expect(sql)
}

/// Seconds from now as RFC 3339 (UTC).
fn at(seconds_from_now: i64) -> String {
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64;
    let output = Command::new("date")
        .args(["-u", "-d", &format!("@{}", now + seconds_from_now), "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .expect("date");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// A screen of `rows` rows of ten standard seats and a showtime on it; the ids.
fn showtime(server: &Server, rows: u8, starts_in: i64) -> (String, String) {
    let venue =
        ok(booking(server, "POST", "/venues", As::Bearer(TOKEN), Some(&json!({ "name": "Kino" }))), 201);
    let rows: Vec<Value> = (0..rows)
        .map(|r| {
            let seats: Vec<Value> =
                (1..=10).map(|s| json!({ "label": s.to_string(), "category": "standard" })).collect();
            json!({ "label": ((b'A' + r) as char).to_string(), "seats": seats })
        })
        .collect();
    let map = json!({ "categories": [{ "id": "standard", "name": "Standard" }], "rows": rows });
    let path = format!("/venues/{}/screens", venue["id"].as_str().expect("id"));
    let screen = ok(
        booking(server, "POST", &path, As::Bearer(TOKEN), Some(&json!({ "name": "1", "seat_map": map }))),
        201,
    );
    let screen_id = screen["id"].as_str().expect("id").to_owned();
    let body = json!({ "title_id": "tt0068646", "screen_id": screen_id, "starts_at": at(starts_in),
        "runtime_minutes": 120, "currency": "EUR", "prices": { "standard": 1250 } });
    let showtime = ok(booking(server, "POST", "/showtimes", As::Bearer(TOKEN), Some(&body)), 201);
    (showtime["id"].as_str().expect("id").to_owned(), screen_id)
}

fn hold(server: &Server, who: &str, showtime: &str, seats: &[&str]) -> Answer {
    let body = json!({ "seats": seats });
    booking(server, "POST", &format!("/showtimes/{showtime}/holds"), As::Bearer(who), Some(&body))
}

fn checkout(server: &Server, who: &str, hold: &str, key: &str) -> Answer {
    let body = json!({ "hold_id": hold });
    call_with(
        server,
        "POST",
        "/api/v1/booking/orders",
        As::Bearer(who),
        Some(&body),
        &[("Idempotency-Key", key)],
    )
}

fn pay(server: &Server, who: &str, order: &str, card: &str) -> Answer {
    let body = json!({ "card_number": card });
    booking(server, "POST", &format!("/orders/{order}/pay"), As::Bearer(who), Some(&body))
}

fn buyers(server: &Server, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let handle = format!("buyer{i}");
            sign_up(server, &handle);
            sign_in(server, &handle)
        })
        .collect()
}

/// Holds, checkout, payment, webhooks and check-in under concurrency.
#[test]
fn booking_sells_each_seat_once_to_concurrent_buyers_and_charges_once() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    let payments_port = free_port();
    let server = Arc::new(start_with_config(&data, &config(payments_port, "")));
    let payments = Payments::start(payments_port, &server);
    let tokens = Arc::new(buyers(&server, 5));

    // 100 concurrent buyers for one seat: exactly one hold, 99 clear 409s.
    let (hot, screen_id) = showtime(&server, 1, 7200);
    let racers: Vec<_> = (0..100)
        .map(|n| {
            let (server, tokens, hot) = (server.clone(), tokens.clone(), hot.clone());
            std::thread::spawn(move || hold(&server, &tokens[n % tokens.len()], &hot, &["A-5"]))
        })
        .collect();
    let answers: Vec<Answer> = racers.into_iter().map(|r| r.join().expect("racer")).collect();
    let won = answers.iter().filter(|a| a.status == 201).count();
    for lost in answers.iter().filter(|a| a.status != 201) {
        lost.refused(409, "A-5 is taken");
    }
    assert_eq!(won, 1, "exactly one hold of 100");

    // 200 concurrent buyers over 50 seats: each picks a seat the map shows
    // free until one is held or none is left, then checks out and pays.
    let (showtime_id, _) = showtime(&server, 5, 7200 * 2);
    let started = Instant::now();
    let crowd: Vec<_> = (0..200)
        .map(|n| {
            let (server, tokens, showtime_id) = (server.clone(), tokens.clone(), showtime_id.clone());
            std::thread::spawn(move || {
                let token = &tokens[n % tokens.len()];
                loop {
                    let map = ok(
                        booking(&server, "GET", &format!("/showtimes/{showtime_id}/seats"), As::Nobody, None),
                        200,
                    );
                    let free: Vec<String> = map["seats"]
                        .as_array()
                        .expect("seats")
                        .iter()
                        .filter(|s| s["status"] == "available")
                        .filter_map(|s| s["id"].as_str().map(str::to_owned))
                        .collect();
                    if free.is_empty() {
                        return None;
                    }
                    let seat = &free[n % free.len()];
                    let held = hold(&server, token, &showtime_id, &[seat]);
                    if held.status == 409 {
                        held.refused(409, "taken");
                        continue;
                    }
                    let held = ok(held, 201);
                    let order = ok(
                        checkout(&server, token, held["id"].as_str().expect("id"), &format!("crowd-{n}")),
                        201,
                    );
                    let paid =
                        ok(pay(&server, token, order["id"].as_str().expect("id"), "4242424242424242"), 200);
                    assert_eq!(paid["status"], "paid", "{paid}");
                    return Some(seat.clone());
                }
            })
        })
        .collect();
    let mut bought: Vec<String> = crowd.into_iter().filter_map(|c| c.join().expect("buyer")).collect();
    let elapsed = started.elapsed();
    bought.sort();
    let sold = bought.len();
    bought.dedup();
    assert_eq!((sold, bought.len()), (50, 50), "exactly 50 seats sold, each once");
    eprintln!("booking: 200 buyers bought 50 seats in {:.2} s", elapsed.as_secs_f64());
    let in_store = |sql: &str| store_count(&data, &sql.replace("SHOWTIME", &showtime_id));
    assert_eq!(
        in_store("SELECT COUNT(*) FROM orders WHERE showtime_id = 'SHOWTIME' AND status = 'paid'"),
        50
    );
    assert_eq!(
        in_store("SELECT COUNT(*) FROM tickets WHERE showtime_id = 'SHOWTIME' AND status = 'valid'"),
        50
    );
    assert_eq!(
        in_store(
            "SELECT COUNT(*) FROM (SELECT seat_id FROM tickets WHERE showtime_id = 'SHOWTIME' \
             GROUP BY seat_id HAVING COUNT(DISTINCT order_id) > 1)"
        ),
        0,
        "no seat in two orders"
    );
    let seats_now = booking(&server, "GET", &format!("/showtimes/{showtime_id}/seats"), As::Nobody, None);
    assert_eq!(ok(seats_now, 200)["available"], 0);

    // A checkout replayed with the same key: the same order, one intent, one charge.
    let buyer = &tokens[0];
    let (quiet, _) = showtime(&server, 1, 7200 * 3);
    let held = ok(hold(&server, buyer, &quiet, &["A-1", "A-2"]), 201);
    let hold_id = held["id"].as_str().expect("id");
    let first = ok(checkout(&server, buyer, hold_id, "replay-key"), 201);
    let order_id = first["id"].as_str().expect("id").to_owned();
    let replay = checkout(&server, buyer, hold_id, "replay-key");
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(ok(replay, 200)["id"].as_str(), Some(order_id.as_str()));
    let paid = ok(pay(&server, buyer, &order_id, "4242424242424242"), 200);
    assert_eq!(paid["tickets"].as_array().map(Vec::len), Some(2));
    assert_eq!(ok(checkout(&server, buyer, hold_id, "replay-key"), 200)["status"], "paid");
    let intents = payments.intents_of(&order_id);
    assert_eq!((intents.len(), intents[0]["charges"].as_i64()), (1, Some(1)), "{intents:?}");

    // A duplicated webhook is acknowledged and applied once.
    let events = payments.json(&[], "/v1/events");
    let event = events["data"]
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["type"] == "payment_intent.succeeded" && e["intent"] == intents[0]["id"])
        .expect("the success event")
        .clone();
    let deadline = Instant::now() + Duration::from_secs(10);
    while payments.json(&[], "/v1/events")["data"]
        .as_array()
        .and_then(|all| all.iter().find(|e| e["id"] == event["id"]).cloned())
        .is_some_and(|e| e["deliveries"].as_array().is_none_or(Vec::is_empty))
    {
        assert!(Instant::now() < deadline, "the webhook was never delivered");
        std::thread::sleep(Duration::from_millis(100));
    }
    let recorded = store_count(&data, "SELECT COUNT(*) FROM webhook_events");
    let tickets = store_count(&data, "SELECT COUNT(*) FROM tickets");
    let resent =
        payments.json(&["-X", "POST"], &format!("/v1/events/{}/resend", event["id"].as_str().expect("id")));
    assert_eq!(resent["status"], 200, "{resent}");
    assert_eq!(store_count(&data, "SELECT COUNT(*) FROM webhook_events"), recorded);
    assert_eq!(store_count(&data, "SELECT COUNT(*) FROM tickets"), tickets);

    // A ticket checks in once; the second scan is refused with a sentence.
    let payload = paid["tickets"][0]["qr_payload"].as_str().expect("payload");
    let scan = json!({ "payload": payload });
    let path = format!("/showtimes/{quiet}/check-ins");
    booking(&server, "POST", &path, As::Bearer(buyer), Some(&scan)).refused(403, "staff");
    ok(booking(&server, "POST", &path, As::Bearer(TOKEN), Some(&scan)), 200);
    booking(&server, "POST", &path, As::Bearer(TOKEN), Some(&scan)).refused(409, "already used");
    let (status, svg) = server.curl(
        &["-H", &format!("Authorization: Bearer {buyer}")],
        &format!("/api/v1/booking/tickets/{}/qr.svg", paid["tickets"][0]["id"].as_str().expect("id")),
    );
    assert!(status == 200 && svg.contains("<svg"), "{status}");

    // Bad input: 4xx sentences, nothing panics.
    let (other, _) = showtime(&server, 2, 7200 * 4);
    hold(&server, buyer, &other, &["Z-1"]).refused(400, "not on this showtime's screen");
    let bad_show = |field: &str, value: Value| {
        let mut body = json!({ "title_id": "tt1", "screen_id": screen_id, "starts_at": at(7200 * 9),
            "runtime_minutes": 90, "currency": "EUR", "prices": { "standard": 100 } });
        body[field] = value;
        booking(&server, "POST", "/showtimes", As::Bearer(TOKEN), Some(&body))
    };
    bad_show("currency", json!("ZZZ")).refused(400, "ISO 4217");
    bad_show("prices", json!({ "standard": -1 })).refused(400, "negative");
    bad_show("prices", json!({ "standard": 9_223_372_036_854_775_807i64 })).refused(400, "largest");
    bad_show("prices", json!({ "standard": 1e40 })).refused(400, "");
    let (past, _) = showtime(&server, 1, -7200 * 5);
    hold(&server, buyer, &past, &["A-1"]).refused(409, "started");
    let (status, body) = server.curl(
        &["-X", "POST", "-H", "test-payments-signature: t=1,v1=00", "--data", "{\"id\":\"evt_x\"}"],
        "/api/v1/booking/payments/webhook",
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("signature"), "{body}");
    call(&server, "GET", "/api/v1/booking/orders", As::Nobody, None).refused(401, "sign in");
}

/// A hold expires and frees its seat; a payment that succeeds after that is
/// refunded, and the order says why.
#[test]
fn booking_holds_expire_and_a_late_payment_is_refunded() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    let payments_port = free_port();
    let server = start_with_config(&data, &config(payments_port, "hold_seconds = 2\n"));
    let payments = Payments::start(payments_port, &server);
    let tokens = buyers(&server, 2);
    let (showtime_id, _) = showtime(&server, 1, 7200);

    ok(hold(&server, &tokens[0], &showtime_id, &["A-1"]), 201);
    hold(&server, &tokens[1], &showtime_id, &["A-1"]).refused(409, "taken");
    std::thread::sleep(Duration::from_millis(2300));
    ok(hold(&server, &tokens[1], &showtime_id, &["A-1"]), 201);

    let held = ok(hold(&server, &tokens[0], &showtime_id, &["A-2"]), 201);
    let order = ok(checkout(&server, &tokens[0], held["id"].as_str().expect("id"), "late"), 201);
    let order_id = order["id"].as_str().expect("id");
    let waiting = ok(pay(&server, &tokens[0], order_id, "4000002500003155"), 200);
    let action = waiting["payment"]["next_action_url"].as_str().expect("an action URL").to_owned();
    std::thread::sleep(Duration::from_millis(3000));
    let expired =
        ok(booking(&server, "GET", &format!("/orders/{order_id}"), As::Bearer(&tokens[0]), None), 200);
    assert_eq!(expired["status"], "expired", "{expired}");
    let path = action
        .split_once("127.0.0.1")
        .and_then(|(_, rest)| rest.split_once('/'))
        .map(|(_, p)| format!("/{p}"));
    let approved = payments.curl(&["-X", "POST", "--data", "action=approve"], &path.expect("a path"));
    assert_eq!(approved.0, 200, "{}", approved.1);
    let deadline = Instant::now() + Duration::from_secs(15);
    let refunded = loop {
        let now =
            ok(booking(&server, "GET", &format!("/orders/{order_id}"), As::Bearer(&tokens[0]), None), 200);
        if now["refund"]["state"] == "done" {
            break now;
        }
        assert!(Instant::now() < deadline, "never refunded: {now}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(refunded["status"], "refunded");
    assert!(
        refunded["status_reason"].as_str().unwrap_or_default().contains("after the seat hold expired"),
        "{refunded}"
    );
    let intent = &payments.intents_of(order_id)[0];
    assert_eq!((intent["charges"].as_i64(), intent["amount_refunded"].as_i64()), (Some(1), Some(1250)));
    assert_eq!(store_count(&data, "SELECT COUNT(*) FROM tickets"), 0, "no ticket without a paid order");
}

/// `kill -9` of the server while buyers pay, then a restart: every payment
/// the provider took ends as tickets or a refund (the lost webhooks are made
/// up by asking the provider), no paid order lacks tickets and no ticket
/// lacks a paid order.
#[test]
fn booking_survives_a_kill_mid_checkout() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    let payments_port = free_port();
    let config = config(payments_port, "");
    let server = Arc::new(start_with_config(&data, &config));
    let payments = Payments::start(payments_port, &server);
    let tokens = buyers(&server, 3);
    let (showtime_id, _) = showtime(&server, 3, 7200);
    let orders: Vec<(String, String)> = (0..30)
        .map(|n| {
            let token = tokens[n % tokens.len()].clone();
            let seat = format!("{}-{}", (b'A' + (n / 10) as u8) as char, n % 10 + 1);
            let held = ok(hold(&server, &token, &showtime_id, &[&seat]), 201);
            let order =
                ok(checkout(&server, &token, held["id"].as_str().expect("id"), &format!("kill-{n}")), 201);
            (token, order["id"].as_str().expect("id").to_owned())
        })
        .collect();
    let payers: Vec<_> = orders
        .iter()
        .cloned()
        .map(|(token, order)| {
            let server = server.clone();
            std::thread::spawn(move || pay(&server, &token, &order, "4242424242424242").status)
        })
        .collect();
    std::thread::sleep(Duration::from_millis(250));
    let killed = Command::new("kill").args(["-9", &server.pid().to_string()]).status().expect("kill");
    assert!(killed.success());
    let answered: Vec<u16> = payers.into_iter().map(|p| p.join().expect("payer")).collect();
    eprintln!(
        "booking: {} of 30 payments answered before the kill",
        answered.iter().filter(|s| **s == 200).count()
    );
    drop(server);

    let server = start_with_config(&data, &config);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let unsettled: Vec<Value> = orders
            .iter()
            .filter_map(|(token, id)| {
                let order =
                    ok(booking(&server, "GET", &format!("/orders/{id}"), As::Bearer(token), None), 200);
                let charged = payments.intents_of(id).iter().any(|i| i["charges"] == 1);
                let settled = if charged {
                    order["status"] == "paid" || order["refund"]["state"] == "done"
                } else {
                    order["status"] != "paid"
                };
                (!settled).then_some(order)
            })
            .collect();
        if unsettled.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "payments never settled: {unsettled:?}");
        std::thread::sleep(Duration::from_millis(300));
    }
    let count = |sql: &str| store_count(&data, sql);
    assert_eq!(
        count(
            "SELECT COUNT(*) FROM orders o WHERE o.status = 'paid' AND (SELECT COUNT(*) FROM tickets t \
             WHERE t.order_id = o.id AND t.status = 'valid') <> (SELECT COUNT(*) FROM order_items i WHERE i.order_id = o.id)"
        ),
        0,
        "no paid order without its tickets"
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM tickets t JOIN orders o ON o.id = t.order_id WHERE t.status = 'valid' AND o.status <> 'paid'"),
        0,
        "no ticket without a paid order"
    );
    assert_eq!(count("SELECT COUNT(*) FROM tickets WHERE order_id NOT IN (SELECT id FROM orders)"), 0);
    assert_eq!(
        count("SELECT COUNT(*) FROM orders o WHERE o.status = 'paid' AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.order_id = o.id)"),
        0,
        "every paid order has its ticket delivery queued"
    );
    // A delivery the killed server had claimed stays with it until the claim
    // lapses (30 s, so that of several servers only one delivers): then the
    // restarted one takes it over.
    eventually_or(
        50,
        || count("SELECT COUNT(*) FROM deliveries WHERE status <> 'delivered'") == 0,
        || format!("the ticket deliveries never finished: {:#?}", undelivered(&data)),
    );
    let paid = count("SELECT COUNT(*) FROM orders WHERE status = 'paid'");
    eprintln!("booking: after the restart {paid} of 30 orders are paid");
}

/// Waits until `check` holds, polling; panics with `what` after `seconds`.
fn eventually(seconds: u64, what: &str, check: impl FnMut() -> bool) {
    eventually_or(seconds, check, || what.to_owned());
}

/// Waits for `check`, failing after `seconds` with what `explain` says then.
fn eventually_or(seconds: u64, mut check: impl FnMut() -> bool, explain: impl FnOnce() -> String) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while !check() {
        if Instant::now() >= deadline {
            panic!("{}", explain());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The ticket deliveries not yet delivered, one line each.
fn undelivered(data: &Path) -> Vec<String> {
    let db = rusqlite::Connection::open(data.join("stores/booking.db")).expect("booking.db");
    let mut rows = db
        .prepare("SELECT order_id, status, attempts, last_error, claimed_until FROM deliveries WHERE status <> 'delivered'")
        .expect("select");
    rows.query_map([], |r| {
        Ok(format!(
            "{} {} attempts={} error={:?} claimed_until={}",
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, Option<String>>(3)?,
            r.get::<_, i64>(4)?
        ))
    })
    .expect("rows")
    .collect::<Result<_, _>>()
    .expect("rows")
}

fn subscribe(server: &Server, who: &str, plan: &str, card: &str, key: &str) -> Answer {
    let body = json!({ "plan_id": plan, "card_number": card });
    call_with(
        server,
        "POST",
        "/api/v1/booking/subscriptions",
        As::Bearer(who),
        Some(&body),
        &[("Idempotency-Key", key)],
    )
}

/// Subscriptions on a real server with three-second billing periods (the
/// TEST setting): a premium asset plays through signed URLs for a
/// subscriber and answers 402 to others; renewals charge once per period;
/// a cancel ends at period end; a failing renewal goes past due and ends;
/// a paid order's tickets are e-mailed to a maildir exactly once.
#[test]
fn booking_subscriptions_renew_lapse_and_entitle_premium_playback() {
    let (clip_dir, clip) = crate::server::clip(2);
    let data = clip_dir.path().join("data");
    let payments_port = free_port();
    let extra = "test_period_seconds = 3\nrenewal_retry_seconds = 1\nrenewal_attempts = 2\n";
    let server = start_with_config(&data, &config(payments_port, extra));
    let payments = Payments::start(payments_port, &server);
    let tokens = buyers(&server, 5);
    let (subscriber, stranger, decliner, lapser) = (&tokens[0], &tokens[1], &tokens[2], &tokens[3]);

    // A private asset, marked premium; a public one cannot be.
    let auth = format!("Authorization: Bearer {TOKEN}");
    let form = format!("file=@{}", clip.display());
    let upload = |private: &str| {
        let (status, body) =
            server.curl(&["-X", "POST", "-H", &auth, "-F", &form, "-F", private], "/api/v1/assets");
        assert_eq!(status, 201, "{body}");
        let asset: Value = serde_json::from_str(&body).expect("JSON");
        asset["id"].as_str().expect("id").to_owned()
    };
    let premium = upload("private=true");
    let public = upload("private=false");
    for id in [&premium, &public] {
        eventually(180, "the clips never became ready", || {
            let asset = call(&server, "GET", &format!("/api/v1/assets/{id}"), As::Bearer(TOKEN), None);
            asset.body["status"] == "ready"
        });
    }
    booking(&server, "PUT", &format!("/premium/{public}"), As::Bearer(TOKEN), None)
        .refused(409, "make it private");
    booking(&server, "PUT", &format!("/premium/{premium}"), As::Bearer(subscriber), None).refused(403, "");
    assert_eq!(booking(&server, "PUT", &format!("/premium/{premium}"), As::Bearer(TOKEN), None).status, 204);

    // Plans; bad ones are refused with sentences.
    let plan = |body: Value| booking(&server, "POST", "/plans", As::Bearer(TOKEN), Some(&body));
    plan(json!({ "name": "Bad", "interval": "week", "amount": 100, "currency": "EUR" }))
        .refused(400, "month or year");
    plan(json!({ "name": "Bad", "interval": "month", "amount": -1, "currency": "EUR" }))
        .refused(400, "negative");
    plan(json!({ "name": "Bad", "interval": "month", "amount": 100, "currency": "XYZ" }))
        .refused(400, "ISO 4217");
    let monthly =
        ok(plan(json!({ "name": "Premium", "interval": "month", "amount": 999, "currency": "EUR" })), 201);
    let monthly = monthly["id"].as_str().expect("id").to_owned();
    let trial = ok(
        plan(
            json!({ "name": "Premium trial", "interval": "month", "amount": 999, "currency": "EUR", "trial_days": 7 }),
        ),
        201,
    );
    let trial = trial["id"].as_str().expect("id").to_owned();

    // Without a subscription: 401 anonymous, 402 naming the plans; the stream
    // itself does not play unsigned.
    let watch = |who: As| booking(&server, "GET", &format!("/watch/{premium}"), who, None);
    watch(As::Nobody).refused(401, "premium");
    watch(As::Bearer(stranger)).refused(402, "Premium (EUR 9.99 a month)");
    let (status, _) = server.get(&format!("/streams/{premium}/master.m3u8"));
    assert!(status == 401 || status == 403 || status == 404, "an unsigned premium stream answered {status}");
    assert_eq!(
        ok(booking(&server, "GET", &format!("/watch/{public}"), As::Nobody, None), 200)["asset_id"],
        public.as_str()
    );

    // Subscribe: charged once, replays return the same subscription.
    let first = ok(subscribe(&server, subscriber, &monthly, "4242424242424242", "sub-1"), 201);
    assert_eq!(
        (first["status"].as_str(), first["entitled"].as_bool()),
        (Some("active"), Some(true)),
        "{first}"
    );
    let replay = subscribe(&server, subscriber, &monthly, "4242424242424242", "sub-1");
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(ok(replay, 200)["id"], first["id"]);
    subscribe(&server, subscriber, &monthly, "4242424242424242", "sub-2").refused(409, "already have");
    let sub_id = first["id"].as_str().expect("id").to_owned();
    let invoice = first["invoices"][0]["id"].as_str().expect("an invoice").to_owned();
    let intents = payments.intents_of(&invoice);
    assert_eq!((intents.len(), intents[0]["charges"].as_i64()), (1, Some(1)), "{intents:?}");

    // The subscriber gets signed URLs that play: ffmpeg decodes them.
    let granted = ok(watch(As::Bearer(subscriber)), 200);
    let hls = granted["playback"]["hls"].as_str().expect("hls").to_owned();
    let url = if hls.starts_with("http") { hls.clone() } else { server.url(&hls) };
    let decoded =
        Command::new("ffmpeg").args(["-v", "error", "-i", &url, "-f", "null", "-"]).output().expect("ffmpeg");
    assert!(
        decoded.status.success(),
        "the subscriber's stream does not decode: {}",
        String::from_utf8_lossy(&decoded.stderr)
    );

    // Renewals: one paid invoice per period, each charged once.
    let count = |sql: &str| store_count(&data, &sql.replace("SUB", &sub_id));
    eventually(20, "the subscription never renewed twice", || {
        count("SELECT COUNT(*) FROM invoices WHERE subscription_id = 'SUB' AND status = 'paid'") >= 3
    });
    assert_eq!(
        count("SELECT COUNT(*) FROM (SELECT period_index FROM invoices WHERE subscription_id = 'SUB' GROUP BY period_index HAVING COUNT(*) > 1)"),
        0,
        "one invoice per period"
    );
    let charged: i64 =
        count("SELECT COUNT(*) FROM invoices WHERE subscription_id = 'SUB' AND status = 'paid'");
    let intents: i64 = store_count(&data, &format!(
        "SELECT COUNT(DISTINCT payment_intent) FROM invoices WHERE subscription_id = '{sub_id}' AND status = 'paid'"
    ));
    assert_eq!(charged, intents);

    // Cancel at period end: still entitled now, not after the period.
    let canceled = ok(
        booking(&server, "POST", &format!("/subscriptions/{sub_id}/cancel"), As::Bearer(subscriber), None),
        200,
    );
    assert_eq!(
        (canceled["cancel_at_period_end"].as_bool(), canceled["entitled"].as_bool()),
        (Some(true), Some(true))
    );
    eventually(15, "the canceled subscription never ended", || {
        ok(booking(&server, "GET", &format!("/subscriptions/{sub_id}"), As::Bearer(subscriber), None), 200)
            ["status"]
            == "canceled"
    });
    watch(As::Bearer(subscriber)).refused(402, "subscribe");

    // A declined first payment starts nothing; another card then works.
    subscribe(&server, decliner, &monthly, "4000000000000002", "d-1").refused(402, "declined");
    ok(subscribe(&server, decliner, &monthly, "4242424242424242", "d-2"), 201);
    subscribe(&server, decliner, &monthly, "1234", "d-3").refused(400, "12-19 digits");

    // A trial entitles without a charge; its failing renewal goes past due,
    // is retried, then ends unpaid.
    let trialing = ok(subscribe(&server, lapser, &trial, "4000000000000341", "l-1"), 201);
    assert_eq!(trialing["status"], "trialing", "{trialing}");
    assert_eq!(trialing["invoices"].as_array().map(Vec::len), Some(0), "no charge during a trial");
    ok(watch(As::Bearer(lapser)), 200);
    let lapsed_id = trialing["id"].as_str().expect("id").to_owned();
    let status_of =
        || ok(booking(&server, "GET", &format!("/subscriptions/{lapsed_id}"), As::Bearer(lapser), None), 200);
    eventually(15, "the failed renewal never went past due", || status_of()["status"] != "trialing");
    eventually(20, "the unpaid subscription never ended", || status_of()["status"] == "canceled");
    let ended = status_of();
    assert!(ended["status_reason"].as_str().unwrap_or_default().contains("failed 2 times"), "{ended}");
    watch(As::Bearer(lapser)).refused(402, "subscribe");

    // A paid order's tickets reach the maildir once, with their codes.
    let (show, _) = showtime(&server, 1, 7200);
    let held = ok(hold(&server, stranger, &show, &["A-3"]), 201);
    let body = json!({ "hold_id": held["id"], "email": "ada@example.org" });
    let order = call_with(
        &server,
        "POST",
        "/api/v1/booking/orders",
        As::Bearer(stranger),
        Some(&body),
        &[("Idempotency-Key", "mail-1")],
    );
    let order = ok(order, 201);
    let order_id = order["id"].as_str().expect("id").to_owned();
    let paid = ok(pay(&server, stranger, &order_id, "4242424242424242"), 200);
    let message = data.join("plugins/booking/mail/new").join(format!("{order_id}.booking.cdlc"));
    eventually(15, "the tickets were never e-mailed", || message.exists());
    let text = std::fs::read_to_string(&message).expect("the message");
    assert!(text.contains("To: ada@example.org"), "{text}");
    assert!(text.contains(paid["tickets"][0]["qr_payload"].as_str().expect("payload")), "{text}");
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(std::fs::read_dir(data.join("plugins/booking/mail/new")).expect("maildir").count(), 1);
    assert_eq!(store_count(&data, "SELECT COUNT(*) FROM deliveries WHERE status = 'delivered'"), 1);
    let bad = json!({ "hold_id": held["id"], "email": "not an address" });
    call_with(
        &server,
        "POST",
        "/api/v1/booking/orders",
        As::Bearer(stranger),
        Some(&bad),
        &[("Idempotency-Key", "mail-2")],
    )
    .refused(400, "email");
}
