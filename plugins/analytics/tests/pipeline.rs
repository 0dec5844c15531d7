//! The lake pipeline on 1 000 000 generated landing lines (duplicates,
//! late and too-late events, malformed lines, events that fail the schema
//! check, server events): every production table equals the same
//! aggregate computed here by a plain fold over the same NDJSON (its own
//! parsing, checks, dedup and nearest-rank percentiles, no DataFusion); an
//! admin's SQL over the days gives the fold's numbers while fetching under
//! a quarter of the validated files' bytes, and storage failing under it
//! is a storage error; a second run changes no file; deleting refined and validated and running
//! again rebuilds byte-identical production files from landing.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cdlc_plugin_analytics::lake::{self, Day, LATE_DAYS, MS_PER_DAY};
use cdlc_plugin_analytics::pipeline::PRODUCTION;
use cdlc_plugin_analytics::{query, run_day, LakeError};
use cdlc_plugin_api::host::PrefixedObjects;
use cdlc_plugin_api::{ObjectInfo, Objects, ObjectsError};
use serde_json::{json, Value};

const LINES: usize = 1_000_000;
const DAYS: [&str; 3] = ["2026-11-01", "2026-11-02", "2026-11-03"];
const RENDITIONS: [&str; 4] = ["240p", "360p", "720p", "1080p"];
const BROWSERS: [&str; 4] = ["chrome", "firefox", "safari", "edge"];
const PLAYERS: [&str; 3] = ["hls.js", "dash.js", "native"];
const CODES: [&str; 4] =
    ["networkError/fragLoadError", "mediaError/bufferStalledError", "MEDIA_ERR_DECODE", "dash/25"];
const REASONS: [&str; 4] =
    ["no video stream", "the source is truncated", "the transcode timed out", "x264enc failed"];

/// A small deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent_tenths: u64) -> bool {
        self.below(1000) < percent_tenths
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

/// One generated line: its landing time and its text.
struct Line {
    received_ms: i64,
    text: String,
}

fn generate() -> Vec<Line> {
    let mut rng = Rng(17);
    let mut lines: Vec<Line> = Vec::with_capacity(LINES + 1000);
    let mut next_id = 0u64;
    let days: Vec<Day> = DAYS.iter().map(|d| Day::parse(d).unwrap()).collect();
    let push = |rng: &mut Rng, lines: &mut Vec<Line>, mut event: Value| {
        let at = event["at_ms"].as_i64().unwrap();
        // Most land within a minute; 2% a day or three late; 0.1% too late to merge.
        let received = if rng.chance(1) {
            at + (LATE_DAYS as i64 + 2) * MS_PER_DAY
        } else if rng.chance(20) {
            at + (1 + rng.below(3) as i64) * MS_PER_DAY
        } else {
            at + rng.below(60_000) as i64
        };
        event["received_ms"] = json!(received);
        // 0.1%: a sender's clock two days ahead (refused).
        if rng.chance(1) {
            event["at_ms"] = json!(received + 2 * MS_PER_DAY);
        }
        // 0.5%: fails the schema check.
        if rng.chance(5) {
            match rng.below(4) {
                0 => event["kind"] = json!("seek"),
                1 => event["value_ms"] = json!(-5),
                2 => event.as_object_mut().unwrap().remove("view_id").map(|_| ()).unwrap_or(()),
                _ => event["kind"] = json!("error"),
            }
        }
        let text = event.to_string();
        // 3%: delivered twice, the copy up to a day later.
        if rng.chance(30) {
            let mut copy = event.clone();
            copy["received_ms"] = json!(received + rng.below(MS_PER_DAY as u64) as i64);
            lines.push(Line { received_ms: copy["received_ms"].as_i64().unwrap(), text: copy.to_string() });
        }
        // 0.5%: a malformed line beside it.
        if rng.chance(5) {
            let bad = match rng.below(3) {
                0 => text[..text.len() / 2].to_owned(),
                1 => text.replacen("\"event_id\"", "\"eventid\"", 1),
                _ => text.replacen(&format!("\"at_ms\":{}", event["at_ms"]), "\"at_ms\":\"soon\"", 1),
            };
            lines.push(Line { received_ms: received, text: bad });
        }
        lines.push(Line { received_ms: received, text });
    };
    while lines.len() < LINES {
        let day = days[rng.below(days.len() as u64) as usize];
        if rng.chance(30) {
            // A server event.
            let at = day.start_ms() + rng.below(MS_PER_DAY as u64 - 60_000) as i64;
            next_id += 1;
            let id = format!("host.{next_id:x}");
            let event = match rng.below(5) {
                0 => json!({"event_id": id, "kind": "upload_done", "at_ms": at, "source": "host",
                    "asset_id": format!("a{}", rng.below(50)), "bytes": rng.below(1 << 30)}),
                1 => json!({"event_id": id, "kind": "transcode_finished", "at_ms": at, "source": "host",
                    "asset_id": format!("a{}", rng.below(50)), "value_ms": 1000 + rng.below(600_000),
                    "media_ms": 1000 + rng.below(7_200_000), "attempts": 1 + rng.below(3)}),
                2 => json!({"event_id": id, "kind": "transcode_failed", "at_ms": at, "source": "host",
                    "asset_id": format!("a{}", rng.below(50)), "reason": rng.pick(&REASONS), "attempts": 1 + rng.below(3)}),
                3 => json!({"event_id": id, "kind": "edge", "at_ms": at, "source": "host",
                    "hits": rng.below(10_000), "misses": rng.below(1_000), "bytes": rng.below(1 << 32)}),
                _ => json!({"event_id": id, "kind": "order_paid", "at_ms": at, "source": "booking",
                    "showtime_id": format!("s{}", rng.below(20)), "amount": 500 + rng.below(3000),
                    "currency": if rng.chance(700) { "EUR" } else { "USD" }}),
            };
            push(&mut rng, &mut lines, event);
            continue;
        }
        // A view.
        next_id += 1;
        let view = format!("view{next_id:08x}");
        let asset = rng.below(50);
        let base = json!({
            "source": "player", "view_id": view, "asset_id": format!("a{asset}"), "title_id": format!("tt{}", asset % 20),
            "player": rng.pick(&PLAYERS), "browser": rng.pick(&BROWSERS),
        });
        let user = if rng.chance(300) { Some(format!("u{}", rng.below(1000))) } else { None };
        let mut at = day.start_ms() + rng.below(MS_PER_DAY as u64) as i64;
        let mut rendition = rng.pick(&RENDITIONS);
        let mut seq = 0;
        let mut emit = |rng: &mut Rng, lines: &mut Vec<Line>, kind: &str, extra: Value, at: i64| {
            let mut event = base.clone();
            let object = event.as_object_mut().unwrap();
            object.insert("event_id".into(), json!(format!("{view}.{seq}")));
            object.insert("kind".into(), json!(kind));
            object.insert("at_ms".into(), json!(at));
            if let Some(user) = &user {
                object.insert("user_id".into(), json!(user));
            }
            for (k, v) in extra.as_object().unwrap() {
                object.insert(k.clone(), v.clone());
            }
            seq += 1;
            push(rng, lines, event);
        };
        emit(&mut rng, &mut lines, "view_start", json!({}), at);
        at += 100 + rng.below(5000) as i64;
        {
            let fields = json!({"rendition": rendition, "value_ms": rng.below(5000)});
            emit(&mut rng, &mut lines, "first_frame", fields, at)
        };
        for _ in 0..(5 + rng.below(12)) {
            at += 10_000;
            match rng.below(10) {
                0 => {
                    let fields = json!({"rendition": rendition, "value_ms": rng.below(4000)});
                    emit(&mut rng, &mut lines, "rebuffer", fields, at)
                }
                1 => {
                    rendition = rng.pick(&RENDITIONS);
                    emit(&mut rng, &mut lines, "rendition_switch", json!({"rendition": rendition}), at)
                }
                2 if rng.chance(200) => {
                    let fields = json!({"rendition": rendition, "error_code": rng.pick(&CODES)});
                    emit(&mut rng, &mut lines, "error", fields, at)
                }
                _ => {
                    let fields = json!({"rendition": rendition, "value_ms": 9000 + rng.below(2000)});
                    emit(&mut rng, &mut lines, "watch", fields, at)
                }
            }
        }
        if rng.chance(400) {
            emit(&mut rng, &mut lines, "complete", json!({}), at + 1000);
        }
    }
    lines
}

/// Lands the lines as files of up to 2000 lines per landing day.
async fn land(objects: &dyn Objects, lines: &[Line]) -> BTreeMap<Day, Vec<String>> {
    let mut by_day: BTreeMap<Day, Vec<&Line>> = BTreeMap::new();
    for line in lines {
        by_day.entry(Day::of_ms(line.received_ms)).or_default().push(line);
    }
    let mut files = BTreeMap::new();
    for (day, day_lines) in by_day {
        for (n, chunk) in day_lines.chunks(2000).enumerate() {
            let mut text = String::new();
            for line in chunk {
                text.push_str(&line.text);
                text.push('\n');
            }
            let key = lake::landing_key(day, chunk[0].received_ms, &format!("f{n:05}"));
            objects.put(&key, Bytes::from(text)).await.unwrap();
            files.entry(day).or_insert_with(Vec::new).push(key);
        }
    }
    files
}

/// What the fold keeps of a line.
#[derive(Clone)]
struct Ev {
    id: String,
    kind: String,
    at: i64,
    received: i64,
    text: HashMap<&'static str, String>,
    num: HashMap<&'static str, i64>,
}

const TEXT: [&str; 13] = [
    "source",
    "view_id",
    "user_id",
    "client",
    "asset_id",
    "title_id",
    "player",
    "browser",
    "rendition",
    "error_code",
    "reason",
    "showtime_id",
    "currency",
];
const NUM: [&str; 7] = ["value_ms", "media_ms", "attempts", "bytes", "hits", "misses", "amount"];

fn parse(line: &str) -> Option<Ev> {
    let value: Value = serde_json::from_str(line).ok()?;
    let mut ev = Ev {
        id: value.get("event_id")?.as_str()?.to_owned(),
        kind: value.get("kind")?.as_str()?.to_owned(),
        at: value.get("at_ms")?.as_i64()?,
        received: value.get("received_ms")?.as_i64()?,
        text: HashMap::new(),
        num: HashMap::new(),
    };
    for name in TEXT {
        match value.get(name) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => {
                ev.text.insert(name, s.clone());
            }
            Some(_) => return None,
        }
    }
    for name in NUM {
        match value.get(name) {
            None | Some(Value::Null) => {}
            Some(v) => {
                ev.num.insert(name, v.as_i64()?);
            }
        }
    }
    Some(ev)
}

fn passes(ev: &Ev) -> bool {
    let player = ["view_start", "first_frame", "rebuffer", "rendition_switch", "error", "watch", "complete"];
    let server =
        ["upload_done", "transcode_finished", "transcode_failed", "edge", "order_paid", "rating", "review"];
    let k = ev.kind.as_str();
    let t = |n: &str| ev.text.contains_key(n);
    let v = |n: &str| ev.num.get(n).copied();
    let within = |n: &str, max: i64| v(n).is_some_and(|x| (0..=max).contains(&x));
    (player.contains(&k) || server.contains(&k))
        && ev.at >= 0
        && ev.at <= ev.received + MS_PER_DAY
        && (!player.contains(&k) || (t("view_id") && t("asset_id")))
        && (k != "first_frame" || within("value_ms", 600_000))
        && (!(k == "rebuffer" || k == "watch") || within("value_ms", 3_600_000))
        && (k != "error" || t("error_code"))
        && (k != "rendition_switch" || t("rendition"))
        && (k != "transcode_failed" || t("reason"))
        && (k != "transcode_finished" || v("value_ms").is_some_and(|x| x >= 0))
        && (k != "edge" || (v("hits").is_some_and(|x| x >= 0) && v("misses").is_some_and(|x| x >= 0)))
        && (k != "order_paid" || (t("showtime_id") && v("amount").is_some_and(|x| x >= 0) && t("currency")))
}

/// The events of `day` as the fold sees them: from the landing files of
/// the day and the late days after it, valid, one per id.
fn events_of(day: Day, landed: &BTreeMap<Day, Vec<Vec<Ev>>>) -> Vec<Ev> {
    let mut kept: BTreeMap<String, Ev> = BTreeMap::new();
    for landing in 0..=LATE_DAYS {
        for file in landed.get(&day.plus(landing)).into_iter().flatten() {
            for ev in file {
                if Day::of_ms(ev.at) != day || !passes(ev) {
                    continue;
                }
                match kept.get(&ev.id) {
                    Some(first) if first.received <= ev.received => {}
                    _ => {
                        kept.insert(ev.id.clone(), ev.clone());
                    }
                }
            }
        }
    }
    kept.into_values().collect()
}

fn nearest_rank(values: &mut [i64], percent: usize) -> Value {
    if values.is_empty() {
        return Value::Null;
    }
    values.sort_unstable();
    json!(values[(values.len() * percent).div_ceil(100) - 1])
}

#[derive(Default)]
struct Group {
    views: BTreeSet<String>,
    users: BTreeSet<String>,
    title: Option<String>,
    watch: i64,
    completions: i64,
    rebuffers: i64,
    rebuffer_ms: i64,
    errors: i64,
    switches: i64,
    startups: Vec<i64>,
    seen: bool,
}

fn group_by<'a>(events: &'a [Ev], key: &str) -> BTreeMap<&'a str, Group> {
    let mut groups: BTreeMap<&str, Group> = BTreeMap::new();
    for ev in events {
        let Some(k) = ev.text.get(key) else { continue };
        let is_player = ev.text.get("source").map(String::as_str) == Some("player");
        let g = groups.entry(k.as_str()).or_default();
        if ev.kind == "first_frame" {
            g.startups.push(ev.num["value_ms"]);
        }
        if !is_player {
            continue;
        }
        g.seen = true;
        let ms = ev.num.get("value_ms").copied().unwrap_or(0);
        match ev.kind.as_str() {
            "view_start" => {
                g.views.insert(ev.text["view_id"].clone());
                if let Some(user) = ev.text.get("user_id") {
                    g.users.insert(user.clone());
                }
            }
            "watch" => g.watch += ms,
            "complete" => g.completions += 1,
            "rebuffer" => {
                g.rebuffers += 1;
                g.rebuffer_ms += ms;
            }
            "error" => g.errors += 1,
            "rendition_switch" => g.switches += 1,
            _ => {}
        }
        if let Some(title) = ev.text.get("title_id") {
            if g.title.as_ref().is_none_or(|t| title > t) {
                g.title = Some(title.clone());
            }
        }
    }
    groups.retain(|_, g| g.seen);
    groups
}

fn expected(table: &str, day: Day, events: &[Ev]) -> Vec<Vec<Value>> {
    let d = json!(day.to_string());
    let count = |kind: &str| events.iter().filter(|e| e.kind == kind).count() as i64;
    let sum = |kind: &str, field: &str| -> i64 {
        events.iter().filter(|e| e.kind == kind).map(|e| e.num.get(field).copied().unwrap_or(0)).sum()
    };
    match table {
        "views_by_asset" => group_by(events, "asset_id")
            .into_iter()
            .map(|(asset, mut g)| {
                let n = g.startups.len() as i64;
                vec![
                    d.clone(),
                    json!(asset),
                    json!(g.title),
                    json!(g.views.len()),
                    json!(g.users.len()),
                    json!(g.watch),
                    json!(g.completions),
                    json!(n),
                    nearest_rank(&mut g.startups, 50),
                    nearest_rank(&mut g.startups, 95),
                    json!(g.rebuffers),
                    json!(g.rebuffer_ms),
                    json!(g.errors),
                ]
            })
            .collect(),
        "qoe_by_rendition" => group_by(events, "rendition")
            .into_iter()
            .map(|(rendition, mut g)| {
                let n = g.startups.len() as i64;
                vec![
                    d.clone(),
                    json!(rendition),
                    json!(n),
                    nearest_rank(&mut g.startups, 50),
                    nearest_rank(&mut g.startups, 95),
                    json!(g.rebuffers),
                    json!(g.rebuffer_ms),
                    json!(g.watch),
                    json!(g.errors),
                    json!(g.switches),
                ]
            })
            .collect(),
        "qoe_by_browser" => group_by(events, "browser")
            .into_iter()
            .map(|(browser, mut g)| {
                let n = g.startups.len() as i64;
                vec![
                    d.clone(),
                    json!(browser),
                    json!(g.views.len()),
                    json!(g.watch),
                    json!(n),
                    nearest_rank(&mut g.startups, 50),
                    nearest_rank(&mut g.startups, 95),
                    json!(g.rebuffers),
                    json!(g.rebuffer_ms),
                    json!(g.errors),
                ]
            })
            .collect(),
        "errors_by_code" => {
            let mut counts: BTreeMap<(String, String), i64> = BTreeMap::new();
            for e in events.iter().filter(|e| e.kind == "error") {
                let player = e.text.get("player").cloned().unwrap_or_else(|| "unknown".into());
                *counts.entry((player, e.text["error_code"].clone())).or_default() += 1;
            }
            counts.into_iter().map(|((p, c), n)| vec![d.clone(), json!(p), json!(c), json!(n)]).collect()
        }
        "upload_failures" => {
            let mut counts: BTreeMap<String, (i64, i64)> = BTreeMap::new();
            for e in events.iter().filter(|e| e.kind == "transcode_failed") {
                let entry = counts.entry(e.text["reason"].clone()).or_default();
                entry.0 += 1;
                entry.1 += e.num.get("attempts").copied().unwrap_or(1);
            }
            counts.into_iter().map(|(r, (n, a))| vec![d.clone(), json!(r), json!(n), json!(a)]).collect()
        }
        "transcodes" => vec![vec![
            d.clone(),
            json!(count("upload_done")),
            json!(sum("upload_done", "bytes")),
            json!(count("transcode_finished")),
            json!(count("transcode_failed")),
            json!(sum("transcode_finished", "value_ms")),
            json!(sum("transcode_finished", "media_ms")),
        ]],
        "edge" => {
            let (hits, misses) = (sum("edge", "hits"), sum("edge", "misses"));
            let ratio =
                if hits + misses == 0 { Value::Null } else { json!(hits as f64 / (hits + misses) as f64) };
            vec![vec![d.clone(), json!(hits), json!(misses), json!(sum("edge", "bytes")), ratio]]
        }
        "revenue_by_showtime" => {
            let mut sums: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
            for e in events.iter().filter(|e| e.kind == "order_paid") {
                let entry =
                    sums.entry((e.text["showtime_id"].clone(), e.text["currency"].clone())).or_default();
                entry.0 += 1;
                entry.1 += e.num["amount"];
            }
            sums.into_iter()
                .map(|((s, c), (n, a))| vec![d.clone(), json!(s), json!(c), json!(n), json!(a)])
                .collect()
        }
        other => panic!("no expected rows for {other}"),
    }
}

/// The plugin's objects, counting the bytes reads fetch (whole or by
/// range); with `down`, every read fails as storage that is unreachable.
struct Watched {
    inner: PrefixedObjects,
    read: AtomicU64,
    down: bool,
}

impl Watched {
    fn new(store: &Arc<cdlc_storage::LocalStore>, down: bool) -> Watched {
        Watched { inner: PrefixedObjects::new(store.clone(), "analytics"), read: AtomicU64::new(0), down }
    }

    fn count(&self, data: Result<Option<Bytes>, ObjectsError>) -> Result<Option<Bytes>, ObjectsError> {
        if self.down {
            return Err(ObjectsError::Unavailable("the test's storage is down".into()));
        }
        if let Ok(Some(data)) = &data {
            self.read.fetch_add(data.len() as u64, Ordering::Relaxed);
        }
        data
    }
}

#[async_trait::async_trait]
impl Objects for Watched {
    async fn put(&self, key: &str, data: Bytes) -> Result<ObjectInfo, ObjectsError> {
        self.inner.put(key, data).await
    }
    async fn put_file(&self, key: &str, path: &std::path::Path) -> Result<ObjectInfo, ObjectsError> {
        self.inner.put_file(key, path).await
    }
    async fn get(&self, key: &str) -> Result<Option<Bytes>, ObjectsError> {
        self.count(self.inner.get(key).await)
    }
    async fn get_range(&self, key: &str, start: u64, end: u64) -> Result<Option<Bytes>, ObjectsError> {
        self.count(self.inner.get_range(key, start, end).await)
    }
    async fn download_to(&self, key: &str, path: &std::path::Path) -> Result<Option<u64>, ObjectsError> {
        self.inner.download_to(key, path).await
    }
    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, ObjectsError> {
        self.inner.head(key).await
    }
    async fn delete(&self, key: &str) -> Result<bool, ObjectsError> {
        self.inner.delete(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, ObjectsError> {
        self.inner.list(prefix).await
    }
}

/// An admin's SQL over the validated days gives the fold's numbers while
/// fetching a small part of the files (the footers and one column's pages),
/// and storage that fails under it is a storage error, not a bad query.
async fn sql_reads_by_ranges(
    store: &Arc<cdlc_storage::LocalStore>,
    days: &[Day],
    landed: &BTreeMap<Day, Vec<Vec<Ev>>>,
) {
    let (from, to) = (days[0], days[days.len() - 1]);
    let bounds = query::Bounds { timeout: Duration::from_secs(120), max_rows: 10, max_memory: 256 << 20 };
    let statement = "SELECT COUNT(*) AS n, SUM(value_ms) AS total FROM events";
    let events: Vec<Ev> = days.iter().flat_map(|d| events_of(*d, landed)).collect();
    let total: i64 = events.iter().filter_map(|e| e.num.get("value_ms")).sum();

    let watched = Arc::new(Watched::new(store, false));
    let rows = query::run_sql(watched.clone(), statement, from, to, bounds).await.unwrap();
    assert_eq!(rows.rows, vec![vec![json!(events.len()), json!(total)]], "{statement}");
    let mut validated_bytes = 0;
    for object in watched.inner.list(lake::VALIDATED_PREFIX).await.unwrap() {
        validated_bytes += object.size;
    }
    let read = watched.read.load(Ordering::Relaxed);
    eprintln!(
        "SQL over one column of {} validated days read {read} of {validated_bytes} bytes ({:.1} %)",
        days.len(),
        read as f64 * 100.0 / validated_bytes as f64
    );
    assert!(read > 0 && read * 4 < validated_bytes, "read {read} of {validated_bytes} bytes");

    let down = Arc::new(Watched::new(store, true));
    match query::run_sql(down, statement, from, to, bounds).await {
        Err(LakeError::Objects(ObjectsError::Unavailable(message))) => {
            assert!(message.contains("storage is down"), "{message}")
        }
        other => panic!("storage down gave {other:?}"),
    }
}

/// Every object of the lake's zones with its bytes.
async fn snapshot(objects: &dyn Objects, zone: &str) -> BTreeMap<String, (Bytes, i64)> {
    let mut out = BTreeMap::new();
    for object in objects.list(zone).await.unwrap() {
        let data = objects.get(&object.key).await.unwrap().unwrap();
        out.insert(object.key, (data, object.modified_ms));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_landed_lines_become_the_same_aggregates_as_a_plain_fold() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(cdlc_storage::LocalStore::open(dir.path()).unwrap());
    let objects = PrefixedObjects::new(store.clone(), "analytics");
    let started = std::time::Instant::now();
    let lines = generate();
    assert!(lines.len() >= LINES);
    let files = land(&objects, &lines).await;
    eprintln!("generated and landed {} lines in {:.1?}", lines.len(), started.elapsed());

    // The fold's own reading of the same landing files.
    let mut landed: BTreeMap<Day, Vec<Vec<Ev>>> = BTreeMap::new();
    let mut malformed_first_day = 0;
    for (day, keys) in &files {
        for key in keys {
            let data = objects.get(key).await.unwrap().unwrap();
            let text = std::str::from_utf8(&data).unwrap();
            let parsed: Vec<Option<Ev>> = text.lines().map(parse).collect();
            if day.to_string() == DAYS[0] {
                malformed_first_day += parsed.iter().filter(|e| e.is_none()).count() as u64;
            }
            landed.entry(*day).or_default().push(parsed.into_iter().flatten().collect());
        }
    }
    drop(lines);

    let days: Vec<Day> = DAYS.iter().map(|d| Day::parse(d).unwrap()).collect();
    let step = std::time::Instant::now();
    let mut reports = Vec::new();
    for day in &days {
        reports.push(run_day(&objects, *day).await.unwrap());
    }
    eprintln!("first run of {} days in {:.1?}", days.len(), step.elapsed());
    assert_eq!(reports[0].malformed_lines, malformed_first_day);
    assert!(malformed_first_day > 100, "the generator makes malformed lines");

    for (day, report) in days.iter().zip(&reports) {
        let events = events_of(*day, &landed);
        assert_eq!(report.validated, events.len() as u64, "{day}: validated events");
        assert!(report.duplicates > 1000 && report.rejected > 100 && report.late > 1000, "{day}: {report:?}");
        for (table, _) in PRODUCTION {
            let (schema, batches) = query::production(&objects, table, *day, *day).await.unwrap();
            let rows = query::to_rows(&schema, &batches).unwrap();
            let want = expected(table, *day, &events);
            assert!(!want.is_empty(), "{day} {table}: the fold found rows");
            assert_eq!(rows.rows.len(), want.len(), "{day} {table}: row count");
            for (got, want) in rows.rows.iter().zip(&want) {
                assert_eq!(got, want, "{day} {table} ({:?})", rows.columns);
            }
        }
    }

    sql_reads_by_ranges(&store, &days, &landed).await;

    // A second run changes no file.
    let before = snapshot(&objects, "lake/").await;
    for day in &days {
        let report = run_day(&objects, *day).await.unwrap();
        assert_eq!(report.files_written, 0, "{day}: a re-run wrote {report:?}");
    }
    assert_eq!(snapshot(&objects, "lake/").await, before, "a re-run changed the lake");

    // Replay from landing: refined and validated gone, production rebuilt the same.
    for zone in ["lake/refined/", "lake/validated/"] {
        for object in objects.list(zone).await.unwrap() {
            objects.delete(&object.key).await.unwrap();
        }
    }
    let step = std::time::Instant::now();
    for day in &days {
        run_day(&objects, *day).await.unwrap();
    }
    eprintln!("replay of {} days in {:.1?}", days.len(), step.elapsed());
    let production = |s: &BTreeMap<String, (Bytes, i64)>| -> BTreeMap<String, Bytes> {
        s.iter()
            .filter(|(k, _)| k.starts_with("lake/production/"))
            .map(|(k, (b, _))| (k.clone(), b.clone()))
            .collect()
    };
    let after = snapshot(&objects, "lake/").await;
    assert_eq!(production(&after), production(&before), "replayed production files differ");
    let zone = |s: &BTreeMap<String, (Bytes, i64)>, z: &str| s.keys().filter(|k| k.starts_with(z)).count();
    assert_eq!(zone(&after, "lake/validated/"), days.len());
    eprintln!("whole test in {:.1?}", started.elapsed());
}
