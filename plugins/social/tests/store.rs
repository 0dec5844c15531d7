//! The social plugin's store-level contract: the plugin and the catalog it
//! reads titles from, on the real host machinery, through their routes, on
//! every store backend. `contract!` runs each behaviour once per backend:
//! - `sqlite::*`: SQLite files in a temporary directory;
//! - `mysql::*`: fresh databases on a real MariaDB (the one
//!   `cdlc_testkit::mariadb` starts for this test binary, or the
//!   server `CDLC_TEST_MYSQL` names).
//!
//! Principals are put on requests as the host's authentication layer would.

use std::sync::Arc;

use cdlc_plugin_api::axum::body::Body;
use cdlc_plugin_api::axum::http::Request;
use cdlc_plugin_api::axum::{Extension, Router};
use cdlc_plugin_api::host::{HostServices, NoAssets, NoImages, PluginHost};
use cdlc_plugin_api::{
    params, Credential, DeletedUser, Identity, InProcessBus, Plugin, Principal, Role, Sql,
};
use cdlc_plugin_store::Stores;
use serde_json::{json, Value};
use tower::ServiceExt;

/// Social and the catalog started on `stores`, and the router of both.
struct Fixture {
    _dir: tempfile::TempDir,
    host: PluginHost,
    app: Router,
    stores: Stores,
}

async fn fixture(dir: tempfile::TempDir, stores: Stores) -> Fixture {
    let plugins: Vec<Arc<dyn Plugin>> =
        vec![Arc::new(cdlc_plugin_social::Social::new()), Arc::new(cdlc_plugin_catalog::Catalog::new())];
    let config: toml::Table = toml::from_str("[social]\nbeacon_interval_ms = 0\n").expect("toml");
    let services = HostServices {
        stores: stores.clone(),
        bus: Arc::new(InProcessBus::new()),
        assets: Arc::new(NoAssets),
        objects: Arc::new(cdlc_storage::LocalStore::open(dir.path().join("objects")).expect("objects")),
        images: Arc::new(NoImages),
        data_dir: None,
        jobs: None,
    };
    let host = PluginHost::start(plugins, &config, services).await.expect("start the plugins");
    let app = host.router();
    Fixture { _dir: dir, host, app, stores }
}

async fn sqlite_fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let stores = Stores::sqlite(&dir.path().join("stores"));
    fixture(dir, stores).await
}

async fn mysql_fixture() -> Fixture {
    let mariadb = cdlc_testkit::mariadb::MariaDbServer::shared();
    let stores = Stores::open(&mariadb.url(&mariadb.fresh_prefix())).expect("MySQL stores");
    fixture(tempfile::tempdir().expect("temp dir"), stores).await
}

/// Runs each named behaviour once per backend.
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::behaviour::$name(&super::sqlite_fixture().await).await;
                }
            )*
        }

        mod mysql {
            $(
                #[tokio::test]
                async fn $name() {
                    super::behaviour::$name(&super::mysql_fixture().await).await;
                }
            )*
        }
    };
}

contract!(
    watchlists_and_lists_keep_their_order_and_each_title_once,
    hidden_lists_and_entries_never_reach_others,
    a_follower_sees_logs_in_the_feed_and_one_reads_ones_own_state_of_a_title,
    recommendations_come_from_co_occurrence_and_hidden_ones_go,
    deleting_a_user_removes_their_social_data,
);

/// A signed-in member: `user_id` a UUID as the host makes them.
struct Member {
    principal: Principal,
    id: String,
}

fn member(n: u32, handle: &str) -> Member {
    let id = format!("00000000-0000-7000-8000-{n:012}");
    let principal = Principal::User(Identity {
        user_id: id.clone(),
        handle: handle.into(),
        role: Role::Viewer,
        credential: Credential::Session { session_id: format!("s{n}"), cookie: false },
    });
    Member { principal, id }
}

fn admin() -> Principal {
    Principal::User(Identity {
        user_id: "00000000-0000-7000-8000-999999999999".into(),
        handle: "root".into(),
        role: Role::Admin,
        credential: Credential::Session { session_id: "admin".into(), cookie: false },
    })
}

struct Answer {
    status: u16,
    body: Value,
    text: String,
}

impl Answer {
    #[track_caller]
    fn ok(self, status: u16) -> Value {
        assert_eq!(self.status, status, "{}", self.text);
        self.body
    }

    #[track_caller]
    fn refused(&self, status: u16, says: &str) {
        assert_eq!(self.status, status, "{}", self.text);
        assert!(self.body["error"]["code"].is_string(), "the one error shape: {}", self.text);
        let message = self.body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "wanted {says:?} in {message:?}");
    }
}

impl Fixture {
    async fn call(&self, who: &Principal, method: &str, uri: &str, body: Option<Value>) -> Answer {
        let mut request = Request::builder().method(method).uri(uri);
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let request =
            request.body(Body::from(body.map(|b| b.to_string()).unwrap_or_default())).expect("request");
        let response = self.app.clone().layer(Extension(who.clone())).oneshot(request).await.expect("answer");
        let status = response.status().as_u16();
        let bytes = cdlc_plugin_api::axum::body::to_bytes(response.into_body(), 1 << 22).await.expect("body");
        let text = String::from_utf8_lossy(&bytes).into_owned();
        Answer { status, body: serde_json::from_str(&text).unwrap_or(Value::Null), text }
    }

    async fn social(&self, who: &Member, method: &str, path: &str, body: Option<Value>) -> Answer {
        self.call(&who.principal, method, &format!("/api/v1/social{path}"), body).await
    }

    /// Catalog titles `Film 1`…`Film n` (ids `tt9000001`…).
    async fn titles(&self, n: usize) -> Vec<String> {
        let mut ids = Vec::new();
        for i in 1..=n {
            let id = format!("tt9{i:06}");
            let body = json!({ "kind": "movie", "primary_title": format!("Film {i}"), "imdb_id": id });
            self.call(&admin(), "POST", "/api/v1/catalog/titles", Some(body)).await.ok(201);
            ids.push(id);
        }
        ids
    }

    async fn log(&self, who: &Member, title: &str, extra: Value) -> Value {
        let mut body = json!({ "title_id": title });
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        self.social(who, "POST", "/diary", Some(body)).await.ok(201)
    }
}

fn ids_of(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["title_id"].as_str().map(str::to_owned))
        .collect()
}

mod behaviour {
    use super::*;

    pub async fn watchlists_and_lists_keep_their_order_and_each_title_once(f: &Fixture) {
        let t = f.titles(4).await;
        let ada = member(1, "ada");
        for title in &t[..3] {
            f.social(&ada, "POST", "/watchlist", Some(json!({ "title_id": title }))).await.ok(201);
        }
        f.social(&ada, "POST", "/watchlist", Some(json!({ "title_id": t[0] })))
            .await
            .refused(409, "already on your watchlist");
        f.social(&ada, "PUT", "/watchlist/order", Some(json!({ "title_ids": [t[2]] }))).await.ok(204);
        f.social(&ada, "DELETE", &format!("/watchlist/{}", t[1]), None).await.ok(204);
        let watchlist = f.social(&ada, "GET", "/watchlist", None).await.ok(200);
        assert_eq!(ids_of(&watchlist), [t[2].clone(), t[0].clone()], "{watchlist}");
        assert_eq!(watchlist["items"][0]["title"]["primary_title"], "Film 3", "{watchlist}");

        let list = f
            .social(
                &ada,
                "POST",
                "/lists",
                Some(json!({ "name": "Ranked", "ranked": true, "description": "mine" })),
            )
            .await
            .ok(201);
        let entries = format!("/lists/{}/entries", list["id"].as_str().expect("id"));
        for title in &t {
            f.social(
                &ada,
                "POST",
                &entries,
                Some(json!({ "title_id": title, "note": format!("on {title}") })),
            )
            .await
            .ok(201);
        }
        f.social(&ada, "POST", &entries, Some(json!({ "title_id": t[0] })))
            .await
            .refused(409, "already on this list");
        let order = format!("/lists/{}/order", list["id"].as_str().expect("id"));
        f.social(&ada, "PUT", &order, Some(json!({ "title_ids": [t[3], t[1]] }))).await.ok(204);
        f.social(&ada, "PUT", &order, Some(json!({ "title_ids": [t[3], t[3]] })))
            .await
            .refused(400, "named twice");
        // A note changed, then set to what it is (MySQL counts no changed row), then cleared.
        let entry = format!("{entries}/{}", t[1]);
        let edited = f.social(&ada, "PATCH", &entry, Some(json!({ "note": "better now" }))).await.ok(200);
        assert_eq!((edited["note"].as_str(), edited["position"].as_i64()), (Some("better now"), Some(2)));
        f.social(&ada, "PATCH", &entry, Some(json!({ "note": "better now" }))).await.ok(200);
        f.social(&ada, "PATCH", &entry, Some(json!({ "note": "x".repeat(2001) })))
            .await
            .refused(400, "at most 2000");
        f.social(&ada, "DELETE", &format!("{entries}/{}", t[2]), None).await.ok(204);
        f.social(&ada, "PATCH", &format!("{entries}/{}", t[2]), Some(json!({ "note": "gone" })))
            .await
            .refused(404, "not on this list");
        let page = f.social(&ada, "GET", &entries, None).await.ok(200);
        assert_eq!(ids_of(&page), [t[3].clone(), t[1].clone(), t[0].clone()], "{page}");
        let notes: Vec<Value> =
            page["items"].as_array().expect("items").iter().map(|e| e["note"].clone()).collect();
        assert_eq!(
            notes,
            [json!(format!("on {}", t[3])), json!("better now"), json!(format!("on {}", t[0]))]
        );
        let cleared = f.social(&ada, "PATCH", &entry, Some(json!({ "note": "  " }))).await.ok(200);
        assert_eq!(cleared["note"], Value::Null, "a blank note is no note");
        let seen = f
            .social(&ada, "GET", &format!("/lists/{}", list["id"].as_str().expect("id")), None)
            .await
            .ok(200);
        assert_eq!((seen["entries"].as_i64(), seen["ranked"].as_bool()), (Some(3), Some(true)), "{seen}");
    }

    pub async fn hidden_lists_and_entries_never_reach_others(f: &Fixture) {
        let t = f.titles(2).await;
        let (bob, eve) = (member(2, "bob"), member(3, "eve"));
        f.social(&eve, "GET", "/feed", None).await.ok(200);
        let make = |name: &str, visibility: &str| json!({ "name": name, "visibility": visibility });
        let public = f.social(&bob, "POST", "/lists", Some(make("Open shelf", "public"))).await.ok(201);
        let secret = f.social(&bob, "POST", "/lists", Some(make("Secret shelf", "private"))).await.ok(201);
        let link = f.social(&bob, "POST", "/lists", Some(make("Linked shelf", "link"))).await.ok(201);
        for list in [&public, &secret, &link] {
            let path = format!("/lists/{}/entries", list["id"].as_str().expect("id"));
            f.social(&bob, "POST", &path, Some(json!({ "title_id": t[0], "note": "hush" }))).await.ok(201);
        }
        let (secret_id, link_id) = (secret["id"].as_str().expect("id"), link["id"].as_str().expect("id"));
        f.social(&eve, "GET", &format!("/lists/{secret_id}"), None).await.refused(404, "no list");
        f.social(&eve, "GET", &format!("/lists/{secret_id}/entries"), None).await.refused(404, "no list");
        f.social(&eve, "GET", &format!("/lists/{link_id}"), None).await.refused(404, "no list");
        let key = link["link_key"].as_str().expect("the owner sees the link key");
        f.social(&eve, "GET", &format!("/lists/{link_id}/entries?key={key}"), None).await.ok(200);
        let public_id = public["id"].as_str().expect("id");
        f.social(
            &eve,
            "PATCH",
            &format!("/lists/{public_id}/entries/{}", t[0]),
            Some(json!({ "note": "mine" })),
        )
        .await
        .refused(403, "owner");
        f.social(
            &eve,
            "PATCH",
            &format!("/lists/{secret_id}/entries/{}", t[0]),
            Some(json!({ "note": "mine" })),
        )
        .await
        .refused(404, "no list");
        let lists = f.social(&eve, "GET", "/users/bob/lists", None).await.ok(200);
        let names: Vec<&str> =
            lists["items"].as_array().expect("items").iter().filter_map(|l| l["name"].as_str()).collect();
        assert_eq!(names, ["Open shelf"], "{lists}");
        let search = f.social(&eve, "GET", "/lists?q=shelf", None).await.ok(200);
        assert_eq!(search["items"].as_array().map(Vec::len), Some(1), "{search}");
        let own = f.social(&bob, "GET", "/users/bob/lists", None).await.ok(200);
        assert_eq!(own["items"].as_array().map(Vec::len), Some(3), "the owner sees all: {own}");

        // A block hides the public list too.
        f.social(&bob, "PUT", "/blocks/eve", None).await.ok(204);
        f.social(&eve, "GET", &format!("/lists/{public_id}"), None).await.refused(404, "no list");
        let search = f.social(&eve, "GET", "/lists?q=shelf", None).await.ok(200);
        assert_eq!(search["items"], json!([]), "{search}");
    }

    pub async fn a_follower_sees_logs_in_the_feed_and_one_reads_ones_own_state_of_a_title(f: &Fixture) {
        let t = f.titles(3).await;
        let (ada, bob) = (member(1, "ada"), member(2, "bob"));
        f.social(&ada, "GET", "/feed", None).await.ok(200);
        f.social(&bob, "PUT", "/follows/ada", None).await.ok(204);
        let state = |who: &'static str| format!("/titles/{who}/mine");
        let mine = f.social(&ada, "GET", &state("tt9000001"), None).await.ok(200);
        assert_eq!(
            mine,
            json!({ "title_id": t[0], "watchlisted": false, "rating": null, "logged_count": 0, "last_logged_on": null, "liked": false, "review_id": null })
        );
        f.social(&ada, "POST", "/watchlist", Some(json!({ "title_id": t[0] }))).await.ok(201);
        f.log(&ada, &t[0], json!({ "rating": 3.5, "watched_on": "2026-10-05" })).await;
        let review = f
            .log(&ada, &t[0], json!({ "liked": true, "rewatch": true, "review": "Twice as good.", "watched_on": "2026-09-01" }))
            .await;
        f.log(&ada, &t[1], json!({ "rating": 5, "visibility": "private", "review": "secret words" })).await;
        let mine = f.social(&ada, "GET", &state("tt9000001"), None).await.ok(200);
        assert_eq!(
            mine,
            json!({ "title_id": t[0], "watchlisted": true, "rating": 3.5, "logged_count": 2, "last_logged_on": "2026-10-05", "liked": true, "review_id": review["id"] })
        );
        let theirs = f.social(&bob, "GET", &state("tt9000001"), None).await.ok(200);
        assert_eq!(theirs["logged_count"], 0, "{theirs}");
        f.social(&ada, "GET", "/titles/no%20id/mine", None).await.refused(400, "not an id");
        f.call(&Principal::Anonymous, "GET", "/api/v1/social/titles/tt9000001/mine", None)
            .await
            .refused(401, "sign in");

        let feed = f.social(&bob, "GET", "/feed", None).await.ok(200);
        let verbs: Vec<&str> =
            feed["items"].as_array().expect("items").iter().filter_map(|i| i["verb"].as_str()).collect();
        assert_eq!(verbs, ["reviewed", "rated"], "newest first, the private entry left out: {feed}");
        assert_eq!(feed["items"][0]["entry"]["review"], "Twice as good.");
        assert!(!feed.to_string().contains("secret words"), "{feed}");
        let gql = f
            .social(&bob, "POST", "/graphql", Some(json!({ "query": "{ feed(first: 10) { items { verb entry { review } title { primaryTitle } } } }" })))
            .await
            .ok(200);
        assert_eq!(gql["data"]["feed"]["items"][0]["title"]["primaryTitle"], "Film 1", "{gql}");
        assert!(!gql.to_string().contains("secret words"), "{gql}");
        f.social(&ada, "POST", "/diary", Some(json!({ "title_id": t[2], "rating": 5.5 })))
            .await
            .refused(400, "0.5 to 5");
    }

    pub async fn recommendations_come_from_co_occurrence_and_hidden_ones_go(f: &Fixture) {
        let t = f.titles(6).await;
        // Four watch A (t0) and B (t1); two others watch C (t2) and D (t3).
        for n in 0..6u32 {
            let who = member(10 + n, &format!("viewer{n}"));
            let pair = if n < 4 { [&t[0], &t[1]] } else { [&t[2], &t[3]] };
            for title in pair {
                f.log(&who, title, json!({ "rating": 4 })).await;
            }
        }
        let fan = member(30, "fan");
        f.log(&fan, &t[0], json!({ "liked": true })).await;
        let recs = f.social(&fan, "GET", "/recommendations?limit=5", None).await.ok(200);
        assert_eq!(recs["because_you_watched"][0]["title_id"], t[1], "{recs}");
        assert_eq!(recs["because_you_watched"][0]["because_title_id"], t[0], "{recs}");
        assert!(
            !recs.to_string().contains(&format!("\"title_id\":\"{}\"", t[0])),
            "a watched title is not recommended"
        );
        f.social(&fan, "PUT", &format!("/recommendations/hidden/{}", t[1]), None).await.ok(204);
        f.social(&fan, "PUT", &format!("/recommendations/hidden/{}", t[1]), None).await.ok(204);
        let recs = f.social(&fan, "GET", "/recommendations?limit=5", None).await.ok(200);
        assert!(!recs.to_string().contains(&format!("\"{}\"", t[1])), "hidden stays hidden: {recs}");
        f.social(&fan, "DELETE", &format!("/recommendations/hidden/{}", t[1]), None).await.ok(204);
        let recs = f.social(&fan, "GET", "/recommendations?limit=5", None).await.ok(200);
        assert_eq!(recs["because_you_watched"][0]["title_id"], t[1], "shown again: {recs}");

        let fresh = member(31, "fresh");
        let recs = f.social(&fresh, "GET", "/recommendations?limit=2", None).await.ok(200);
        let popular: Vec<&str> = recs["popular"]
            .as_array()
            .expect("popular")
            .iter()
            .filter_map(|r| r["title_id"].as_str())
            .collect();
        assert_eq!(popular, [t[0].as_str(), t[1].as_str()], "most engaged first: {recs}");
    }

    pub async fn deleting_a_user_removes_their_social_data(f: &Fixture) {
        let t = f.titles(2).await;
        let (ada, bob) = (member(1, "ada"), member(2, "bob"));
        f.social(&ada, "GET", "/feed", None).await.ok(200);
        f.social(&bob, "PUT", "/follows/ada", None).await.ok(204);
        f.social(&ada, "PUT", "/follows/bob", None).await.ok(204);
        let entry = f.log(&bob, &t[0], json!({ "rating": 4, "review": "fine" })).await;
        f.social(&ada, "PUT", &format!("/likes/review/{}", entry["id"].as_str().expect("id")), None)
            .await
            .ok(204);
        let list = f.social(&bob, "POST", "/lists", Some(json!({ "name": "Bob's" }))).await.ok(201);
        let path = format!("/lists/{}/entries", list["id"].as_str().expect("id"));
        f.social(&bob, "POST", &path, Some(json!({ "title_id": t[1] }))).await.ok(201);
        f.social(&bob, "POST", "/watchlist", Some(json!({ "title_id": t[1] }))).await.ok(201);
        f.social(&bob, "PUT", &format!("/recommendations/hidden/{}", t[1]), None).await.ok(204);

        let failures =
            f.host.user_deleted(&DeletedUser { user_id: bob.id.clone(), handle: "bob".into() }).await;
        assert!(failures.is_empty(), "{failures:?}");
        let db = f.stores.db("social").await.expect("the social store");
        for (table, column) in [
            ("members", "user_id"),
            ("diary", "user_id"),
            ("lists", "owner_id"),
            ("watchlist", "user_id"),
            ("follows", "follower_id"),
            ("follows", "followee_id"),
            ("activity", "actor_id"),
            ("engagements", "user_id"),
            ("hidden_recs", "user_id"),
        ] {
            let rows = db
                .query(&format!("SELECT COUNT(*) AS n FROM {table} WHERE {column} = ?"), params![&bob.id])
                .await
                .expect("count");
            assert_eq!(rows[0].get::<i64>("n").expect("n"), 0, "{table}.{column} still holds bob's rows");
        }
        let likes = db.query("SELECT COUNT(*) AS n FROM likes", params![]).await.expect("count");
        assert_eq!(likes[0].get::<i64>("n").expect("n"), 0, "likes of bob's review went with it");
        let counts = db
            .query("SELECT users FROM title_counts WHERE title_id = ?", params![&t[0]])
            .await
            .expect("count");
        assert_eq!(counts[0].get::<i64>("users").expect("users"), 0, "the popularity count drops");
        f.social(&ada, "GET", "/users/bob", None).await.refused(404, "nobody called");
        assert_eq!(f.social(&ada, "GET", "/feed", None).await.ok(200)["items"], json!([]));
    }
}
