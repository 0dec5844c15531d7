//! The social feed at scale: 10 000 users following 100 each and 1 000 000
//! diary entries (with their feed items), on SQLite. Measures the feed
//! read (`GET /api/v1/social/feed?limit=20` through the plugin's router,
//! with its catalog read) at p50/p99 against the peer, the same page done
//! as one plain SQL join over the same tables with rusqlite, and the write
//! throughput of `POST /api/v1/social/diary` (entry, feed item and the
//! incremental co-occurrence counts). Goal: feed p99 under 30 ms.
//!
//! `cargo bench -p cdlc-benches --bench social_feed` (SOCIAL_USERS,
//! SOCIAL_FOLLOWS, SOCIAL_ENTRIES scale it down).

use std::sync::Arc;
use std::time::{Duration, Instant};

use cdlc_plugin_api::axum::body::Body;
use cdlc_plugin_api::axum::http::{Request, StatusCode};
use cdlc_plugin_api::axum::Router;
use cdlc_plugin_api::host::{HostServices, NoAssets, NoImages, PluginHost};
use cdlc_plugin_api::{Credential, Identity, InProcessBus, Plugin, Principal, Role};
use cdlc_plugin_store::Stores;
use serde_json::{json, Value};
use tower::ServiceExt;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn user_id(i: usize) -> String {
    format!("00000000-0000-4000-8000-{i:012}")
}

fn principal(i: usize, role: Role) -> Principal {
    Principal::User(Identity {
        user_id: user_id(i),
        handle: format!("user{i}"),
        role,
        credential: Credential::Session { session_id: format!("s{i}"), cookie: false },
    })
}

async fn call(
    router: &Router,
    method: &str,
    path: &str,
    who: &Principal,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(path);
    let body = match body {
        Some(json) => {
            request = request.header("content-type", "application/json");
            Body::from(json.to_string())
        }
        None => Body::empty(),
    };
    let mut request = request.body(body).expect("request");
    request.extensions_mut().insert(who.clone());
    let response = router.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let bytes = cdlc_plugin_api::axum::body::to_bytes(response.into_body(), 64 << 20).await.expect("body");
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Fills the social store by hand, fast: members, follows, diary entries
/// and their feed items, in one transaction.
fn bulk_load(path: &std::path::Path, users: usize, follows: usize, entries: usize, titles: &[String]) {
    let mut db = rusqlite::Connection::open(path).expect("social.db");
    db.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF;").expect("pragmas");
    let tx = db.transaction().expect("tx");
    {
        let mut member = tx
            .prepare("INSERT INTO members (user_id, handle, handle_key, created_at) VALUES (?1, ?2, ?2, 0)")
            .unwrap();
        let mut follow = tx
            .prepare("INSERT INTO follows (follower_id, followee_id, created_at) VALUES (?1, ?2, 0)")
            .unwrap();
        let mut diary = tx
            .prepare(
                "INSERT INTO diary (id, user_id, title_id, watched_on, rewatch, rating, liked, tags, review, spoiler, visibility, created_at) \
                 VALUES (?1, ?2, ?3, '2026-01-01', 0, ?4, 0, '[]', ?5, 0, ?6, ?7)",
            )
            .unwrap();
        let mut activity = tx
            .prepare("INSERT INTO activity (id, actor_id, kind, subject_id, title_id, visibility, created_at) VALUES (?1, ?2, 'diary', ?3, ?4, ?5, ?6)")
            .unwrap();
        for i in 0..users {
            member.execute(rusqlite::params![user_id(i), format!("user{i}")]).unwrap();
            // Follows spread over everyone: i follows i+1 … i+follows (mod users), strided.
            for k in 1..=follows {
                let j = (i + k * 97) % users;
                if j != i {
                    let _ = follow.execute(rusqlite::params![user_id(i), user_id(j)]);
                }
            }
        }
        let start = 1_700_000_000_000i64;
        for e in 0..entries {
            let user = (e * 7919) % users;
            let id = format!("00000000-0000-7000-8000-{e:012}");
            let visibility = if e % 10 == 0 { "private" } else { "public" };
            let at = start + e as i64 * 1000;
            let title = &titles[e % titles.len()];
            let review = (e % 3 == 0).then(|| format!("review {e}"));
            diary
                .execute(rusqlite::params![
                    id,
                    user_id(user),
                    title,
                    (e % 10 + 1) as i64,
                    review,
                    visibility,
                    at
                ])
                .unwrap();
            activity
                .execute(rusqlite::params![format!("a{id}"), user_id(user), id, title, visibility, at])
                .unwrap();
        }
    }
    tx.commit().expect("commit");
    db.execute_batch("ANALYZE;").expect("analyze");
}

const PEER_SQL: &str =
    "SELECT a.id, a.actor_id, m.handle, a.kind, a.title_id, a.created_at, d.rating, d.review, d.watched_on \
     FROM follows f JOIN activity a ON a.actor_id = f.followee_id JOIN members m ON m.user_id = a.actor_id \
     LEFT JOIN diary d ON d.id = a.subject_id \
     WHERE f.follower_id = ?1 AND a.visibility IN ('public', 'followers') \
     ORDER BY a.created_at DESC, a.id DESC LIMIT 20";

#[tokio::main]
async fn main() {
    let users = env("SOCIAL_USERS", 10_000);
    let follows = env("SOCIAL_FOLLOWS", 100);
    let entries = env("SOCIAL_ENTRIES", 1_000_000);
    let reads = env("SOCIAL_READS", 2000);
    let writes = env("SOCIAL_WRITES", 2000);
    let dir = tempfile::tempdir().expect("temp dir");
    let stores_dir = dir.path().join("stores");
    // Each host gets a plugins folder of its own: the first one's catalog
    // search index stays locked after its stop (the bench then only needs
    // the catalog's titles, which are in its store).
    let (stores, root) = (&stores_dir, dir.path());
    let start_host = move |plugins: &'static str| async move {
        let services = HostServices {
            stores: Stores::sqlite(stores),
            bus: Arc::new(InProcessBus::new()),
            assets: Arc::new(NoAssets),
            objects: Arc::new(cdlc_storage::LocalStore::open(root.join("objects")).expect("objects")),
            images: Arc::new(NoImages),
            data_dir: Some(root.join(plugins)),
            jobs: None,
        };
        let plugins: Vec<Arc<dyn Plugin>> =
            vec![Arc::new(cdlc_plugin_catalog::Catalog::new()), Arc::new(cdlc_plugin_social::Social::new())];
        PluginHost::start(plugins, &toml::Table::new(), services).await.expect("start the plugins")
    };

    // Titles through the catalog's API, then the host stops so the store can be filled by hand.
    let host = start_host("plugins-load").await;
    let router = host.router();
    let admin = principal(0, Role::Admin);
    let mut titles = Vec::new();
    for i in 0..500 {
        let id = format!("tt8{i:06}");
        let body = json!({"kind": "movie", "primary_title": format!("Film {i}"), "imdb_id": id});
        let (status, answer) = call(&router, "POST", "/api/v1/catalog/titles", &admin, Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        titles.push(id);
    }
    host.stop().await;
    drop(router);
    let loading = Instant::now();
    bulk_load(&stores_dir.join("social.db"), users, follows, entries, &titles);
    eprintln!(
        "loaded {users} users × {follows} follows, {entries} diary entries in {:.1?}",
        loading.elapsed()
    );

    let host = start_host("plugins").await;
    let router = host.router();
    let mut seed = 42u64;
    let mut next = move || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 33) as usize
    };

    // Warm both paths, then measure feed reads of random users.
    let peer = rusqlite::Connection::open(stores_dir.join("social.db")).expect("peer connection");
    let mut peer_statement = peer.prepare(PEER_SQL).expect("peer SQL");
    let (mut ours, mut theirs) = (Vec::with_capacity(reads), Vec::with_capacity(reads));
    for round in 0..reads + 50 {
        let reader = next() % users;
        let who = principal(reader, Role::Viewer);
        let started = Instant::now();
        let (status, page) = call(&router, "GET", "/api/v1/social/feed?limit=20", &who, None).await;
        let took = started.elapsed();
        assert_eq!(status, StatusCode::OK, "{page}");
        let started = Instant::now();
        let rows: Vec<String> = peer_statement
            .query_map([user_id(reader)], |r| r.get::<_, String>(0))
            .expect("peer query")
            .collect::<Result<_, _>>()
            .expect("peer rows");
        let peer_took = started.elapsed();
        let items = page["items"].as_array().map(Vec::len).unwrap_or(0);
        assert_eq!(items, rows.len(), "the plugin's page and the join's have the same length");
        if round >= 50 {
            ours.push(took);
            theirs.push(peer_took);
        }
    }
    ours.sort();
    theirs.sort();

    // Writes: diary entries of random users (each with its feed item and co-occurrence counts).
    let started = Instant::now();
    for _ in 0..writes {
        let who = principal(next() % users, Role::Viewer);
        let title = &titles[next() % titles.len()];
        let body = json!({"title_id": title, "rating": 4, "review": "written by the bench"});
        let (status, answer) = call(&router, "POST", "/api/v1/social/diary", &who, Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
    }
    let write_rate = writes as f64 / started.elapsed().as_secs_f64();
    host.stop().await;

    println!("social feed, {users} users × {follows} follows, {entries} diary entries (SQLite, 2 cores):");
    println!(
        "  feed read (plugin, 20 items + catalog read): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (goal p99 < 30 ms)",
        percentile(&ours, 0.5).as_secs_f64() * 1e3,
        percentile(&ours, 0.99).as_secs_f64() * 1e3,
        ours.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
    );
    println!(
        "  peer (one plain SQL join, rusqlite):          p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(&theirs, 0.5).as_secs_f64() * 1e3,
        percentile(&theirs, 0.99).as_secs_f64() * 1e3,
        theirs.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
    );
    println!("  diary writes (entry + feed item + co-occurrence): {write_rate:.0} per second, one writer");
}
