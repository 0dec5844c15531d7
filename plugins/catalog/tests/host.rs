//! The catalog on the real host machinery: SQLite stores and local objects
//! in a temp directory, the in-process bus, the search index on disk.
//! Requests go through the host's router with `oneshot`, the principal put
//! on each request as the host's authentication layer would. The IMDb files
//! are the small sample catalog (`imdb::sample`), gzip-compressed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use cdlc_plugin_api::axum::body::Body;
use cdlc_plugin_api::axum::http::{Request, StatusCode};
use cdlc_plugin_api::axum::{Extension, Router};
use cdlc_plugin_api::host::{HostServices, NoImages, PluginHost};
use cdlc_plugin_api::{
    async_trait, AssetInfo, AssetState, Assets, AssetsError, Credential, DeletedUser, Event, EventBus,
    Identity, InProcessBus, Playback, Principal, Role, Scope,
};
use cdlc_plugin_catalog::imdb::sample;
use cdlc_plugin_catalog::imdb::Dataset;
use cdlc_plugin_store::Stores;
use serde_json::{json, Value};
use tower::ServiceExt;

struct FixedAssets(HashMap<String, AssetState>);

#[async_trait]
impl Assets for FixedAssets {
    async fn get(&self, id: &str) -> Result<Option<AssetInfo>, AssetsError> {
        Ok(self.0.get(id).map(|state| AssetInfo {
            id: id.into(),
            title: None,
            state: *state,
            private: false,
            duration_seconds: Some(2.0),
        }))
    }
    async fn playback(&self, id: &str) -> Result<Option<Playback>, AssetsError> {
        Ok((self.0.get(id) == Some(&AssetState::Ready)).then(|| Playback {
            hls: format!("/streams/{id}/master.m3u8"),
            dash: format!("/streams/{id}/manifest.mpd"),
            poster: None,
            expires: None,
        }))
    }
    async fn signed_playback(&self, _id: &str, _ttl: Duration) -> Result<Option<Playback>, AssetsError> {
        Err(AssetsError::SigningDisabled)
    }
}

struct Catalog {
    host: PluginHost,
    app: Router,
    bus: Arc<InProcessBus>,
    dir: tempfile::TempDir,
    stores: Stores,
}

async fn start(config: &str) -> Catalog {
    let dir = tempfile::tempdir().unwrap();
    start_in(dir, config).await
}

async fn start_in(dir: tempfile::TempDir, config: &str) -> Catalog {
    let stores = Stores::sqlite(&dir.path().join("stores"));
    start_on(dir, stores, config).await
}

/// The catalog on MySQL: fresh databases on the real MariaDB that
/// `cdlc_testkit::mariadb` starts for this test binary (or `CDLC_TEST_MYSQL`).
async fn start_on_mysql() -> Catalog {
    let mariadb = cdlc_testkit::mariadb::MariaDbServer::shared();
    let stores = Stores::open(&mariadb.url(&mariadb.fresh_prefix())).expect("MySQL stores");
    start_on(tempfile::tempdir().unwrap(), stores, "").await
}

async fn start_on(dir: tempfile::TempDir, stores: Stores, config: &str) -> Catalog {
    let bus = Arc::new(InProcessBus::new());
    let services = HostServices {
        stores: stores.clone(),
        bus: bus.clone(),
        assets: Arc::new(FixedAssets(HashMap::from([("asset1".to_owned(), AssetState::Ready)]))),
        objects: Arc::new(cdlc_storage::LocalStore::open(dir.path().join("objects")).expect("object store")),
        images: Arc::new(NoImages),
        data_dir: Some(dir.path().join("plugins")),
        jobs: None,
    };
    let config: toml::Table = toml::from_str(config).expect("toml");
    let host = PluginHost::start(vec![Arc::new(cdlc_plugin_catalog::Catalog::new())], &config, services)
        .await
        .expect("the catalog starts");
    let app = host.router();
    Catalog { host, app, bus, dir, stores }
}

fn user(id: &str, role: Role, credential: Credential) -> Principal {
    Principal::User(Identity { user_id: id.into(), handle: format!("user_{id}"), role, credential })
}

fn admin() -> Principal {
    user("admin", Role::Admin, Credential::Root)
}

fn viewer(id: &str) -> Principal {
    user(id, Role::Viewer, Credential::Session { session_id: "s".into(), cookie: false })
}

struct Answer {
    status: StatusCode,
    headers: cdlc_plugin_api::axum::http::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&self.body)))
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

async fn send(app: &Router, principal: Principal, request: Request<Body>) -> Answer {
    let response = app.clone().layer(Extension(principal)).oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = cdlc_plugin_api::axum::body::to_bytes(response.into_body(), 64 << 20).await.unwrap().to_vec();
    Answer { status, headers, body }
}

async fn call(app: &Router, principal: Principal, method: &str, uri: &str, body: Option<Value>) -> Answer {
    let mut request = Request::builder().method(method).uri(format!("/api/v1/catalog{uri}"));
    if body.is_some() {
        request = request.header("content-type", "application/json");
    }
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    send(app, principal, request.body(Body::from(body)).unwrap()).await
}

async fn get(app: &Router, uri: &str) -> Value {
    let answer = call(app, Principal::Anonymous, "GET", uri, None).await;
    assert_eq!(answer.status, StatusCode::OK, "GET {uri}: {}", answer.text());
    answer.json()
}

fn multipart(files: &[(String, Vec<u8>)]) -> (String, Vec<u8>) {
    let boundary = "cdlc-test-boundary-7f3a";
    let mut body = Vec::new();
    for (name, data) in files {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/gzip\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

fn read_files(paths: &[PathBuf]) -> Vec<(String, Vec<u8>)> {
    paths
        .iter()
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(p).unwrap()))
        .collect()
}

async fn post_import(app: &Router, principal: Principal, files: &[(String, Vec<u8>)], query: &str) -> Answer {
    let (content_type, body) = multipart(files);
    let request = Request::builder()
        .method("POST")
        .uri(format!("/api/v1/catalog/imports{query}"))
        .header("content-type", content_type)
        .body(Body::from(body))
        .unwrap();
    send(app, principal, request).await
}

/// Imports `files` through the API and waits for the report.
async fn import(app: &Router, files: &[(String, Vec<u8>)], query: &str) -> Value {
    let answer = post_import(app, admin(), files, query).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.text());
    wait_for_import(app, answer.json()["id"].as_str().unwrap()).await
}

/// The report of the import `id`, once it is done.
async fn wait_for_import(app: &Router, id: &str) -> Value {
    for _ in 0..600 {
        let status = call(app, admin(), "GET", &format!("/imports/{id}"), None).await.json();
        match status["state"].as_str().unwrap() {
            "running" => tokio::time::sleep(Duration::from_millis(20)).await,
            "done" => {
                assert_eq!(status["percent"], 100.0);
                return status["report"].clone();
            }
            other => panic!("the import ended {other}: {status:#}"),
        }
    }
    panic!("the import did not finish");
}

fn file_report<'a>(report: &'a Value, dataset: &str) -> &'a Value {
    report["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["dataset"] == dataset)
        .unwrap_or_else(|| panic!("{dataset}: {report:#}"))
}

fn total_written(report: &Value) -> u64 {
    report["files"].as_array().unwrap().iter().map(|f| f["rows_written"].as_u64().unwrap()).sum()
}

/// The catalog's store, opened beside the running plugin.
async fn catalog_store(catalog: &Catalog) -> cdlc_plugin_api::Db {
    catalog.stores.db("catalog").await.expect("the catalog's store")
}

/// Every secondary index of the schema is in the store (an import into
/// empty tables drops them and builds them at its end).
async fn assert_every_index_is_built(db: &cdlc_plugin_api::Db) {
    for index in cdlc_plugin_catalog::schema::secondary_indexes() {
        let present = db.indexes(index.table).await.expect("indexes");
        assert!(present.iter().any(|p| p == index.name), "{} is missing: {present:?}", index.name);
    }
}

fn lines(rows: &[String]) -> Vec<&str> {
    rows.iter().map(String::as_str).collect()
}

fn sample_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let input = dir.join("in");
    std::fs::create_dir_all(&input).unwrap();
    read_files(&sample::write_small(&input).unwrap())
}

#[tokio::test]
async fn an_import_reads_back_exactly_and_a_second_run_writes_nothing() {
    import_reads_back_exactly_and_again_writes_nothing(start("").await).await;
}

/// The same import on MySQL (MariaDB): the deferred indexes, the batched
/// upserts and the re-import's comparisons in the portable SQL of both.
#[tokio::test]
async fn on_mysql_an_import_reads_back_exactly_and_a_second_run_writes_nothing() {
    import_reads_back_exactly_and_again_writes_nothing(start_on_mysql().await).await;
}

async fn import_reads_back_exactly_and_again_writes_nothing(catalog: Catalog) {
    let app = &catalog.app;
    let files = sample_files(catalog.dir.path());
    let report = import(app, &files, "").await;
    let db = catalog_store(&catalog).await;
    assert_every_index_is_built(&db).await;

    let basics = file_report(&report, "title.basics");
    assert_eq!(basics["rows_read"], 13, "{basics:#}");
    assert_eq!(basics["rows_written"], 10, "{basics:#}");
    assert_eq!(basics["rows_rejected"], 3, "{basics:#}");
    let reasons: Vec<&str> =
        basics["rejections"].as_array().unwrap().iter().map(|r| r["reason"].as_str().unwrap()).collect();
    assert!(reasons.iter().any(|r| r.contains("videoGame is not kept")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("unknown title type \"hologram\"")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("has 3 fields, not 9")), "{reasons:?}");
    let ratings = file_report(&report, "title.ratings");
    assert_eq!(
        (ratings["rows_read"].as_u64(), ratings["rows_written"].as_u64(), ratings["rows_skipped"].as_u64()),
        (Some(10), Some(9), Some(1)),
        "{ratings:#}"
    );
    assert_eq!(file_report(&report, "name.basics")["rows_written"], 8);
    assert_eq!(file_report(&report, "title.principals")["rows_written"], 7);
    assert_eq!(report["titles_indexed"], 10);

    // The Godfather reads back as the files say.
    let godfather = get(app, "/titles/tt0068646").await;
    assert_eq!(godfather["primary_title"], "The Godfather");
    assert_eq!(godfather["kind"], "movie");
    assert_eq!(godfather["imdb_type"], "movie");
    assert_eq!(godfather["imdb_id"], "tt0068646");
    assert_eq!((godfather["start_year"].as_i64(), godfather["end_year"].as_i64()), (Some(1972), None));
    assert_eq!(godfather["runtime_minutes"], 175);
    assert_eq!(godfather["genres"], json!(["Crime", "Drama"]));
    assert_eq!(
        (godfather["imdb_rating"].as_f64(), godfather["imdb_votes"].as_i64()),
        (Some(9.2), Some(2_000_000))
    );
    assert_eq!(godfather["rating"], 9.2);
    let akas: Vec<(&str, &str)> = godfather["akas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["title"].as_str().unwrap(), a["region"].as_str().unwrap_or("-")))
        .collect();
    assert_eq!(akas, [("Der Pate", "DE"), ("Le Parrain", "FR"), ("The Godfather", "-"), ("Kumář", "CZ")]);
    assert_eq!(godfather["akas"][2]["is_original"], true);
    let credits: Vec<(String, String, Value)> = godfather["credits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["person_name"].as_str().unwrap().to_owned(),
                c["category"].as_str().unwrap().to_owned(),
                c["characters"].clone(),
            )
        })
        .collect();
    assert_eq!(
        credits,
        [
            ("Marlon Brando".into(), "actor".into(), json!(["Don Vito Corleone"])),
            ("Al Pacino".into(), "actor".into(), json!(["Michael Corleone"])),
            ("Francis Ford Coppola".into(), "director".into(), json!([])),
            ("Mario Puzo".into(), "writer".into(), json!([])),
            // The crew file also names Coppola as a writer; its director and
            // Puzo's writer credit are the cast's already.
            ("Francis Ford Coppola".into(), "writer".into(), json!([])),
        ]
    );
    assert_eq!(godfather["credits"][3]["job"], "screenplay by");

    // Bare quotes, unicode, documentaries.
    let carmencita = get(app, "/titles/tt0000001").await;
    assert_eq!(
        (carmencita["primary_title"].as_str(), carmencita["kind"].as_str()),
        (Some("\"Carmencita\""), Some("short"))
    );
    assert_eq!(get(app, "/titles/tt0000004").await["kind"], "documentary");
    let amelie = get(app, "/titles/tt0211915").await;
    assert_eq!(amelie["primary_title"], "Amélie");
    assert_eq!(amelie["original_title"], "Le fabuleux destin d'Amélie Poulain");
    assert!(amelie["akas"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["title"] == "アメリ" && a["language"] == "ja"));
    assert_eq!(amelie["credits"][0]["characters"], json!(["Amélie Poulain"]));
    let missing = call(app, Principal::Anonymous, "GET", "/titles/tt9999999", None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "the video game was not kept");

    // A series → seasons → episodes.
    let series = get(app, "/titles/tt0903747").await;
    assert_eq!((series["kind"].as_str(), series["end_year"].as_i64()), (Some("series"), Some(2013)));
    assert_eq!(
        series["seasons"],
        json!([
            {"season_number": null, "episodes": 1, "title_id": null},
            {"season_number": 1, "episodes": 2, "title_id": null},
            {"season_number": 2, "episodes": 1, "title_id": null},
        ])
    );
    let first = get(app, "/titles/tt0903747/seasons/1/episodes").await;
    let names: Vec<(&str, i64)> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["primary_title"].as_str().unwrap(), e["episode_number"].as_i64().unwrap()))
        .collect();
    assert_eq!(names, [("Pilot", 1), ("Cat's in the Bag...", 2)]);
    assert_eq!(first["items"][0]["series_id"], "tt0903747");
    assert_eq!(
        get(app, "/titles/tt0903747/seasons/none/episodes").await["items"][0]["primary_title"],
        "Good Cop Bad Cop"
    );
    let pilot = get(app, "/titles/tt0959621").await;
    assert_eq!(pilot["credits"][0]["characters"], json!(["Walter White", "Heisenberg"]));

    // People, with a filmography.
    let brando = get(app, "/people/nm0000008").await;
    assert_eq!(
        (brando["name"].as_str(), brando["birth_year"].as_i64(), brando["death_year"].as_i64()),
        (Some("Marlon Brando"), Some(1924), Some(2004))
    );
    assert_eq!(brando["professions"], json!(["actor", "producer", "director"]));
    assert_eq!(brando["known_for"], json!(["tt0068646", "tt0078788"]));
    assert_eq!(brando["credits"][0]["title"], "The Godfather");
    assert_eq!(get(app, "/people/nm9999999").await["birth_year"], Value::Null);

    // The same files again write nothing.
    let again = import(app, &files, "").await;
    assert_eq!(total_written(&again), 0, "{again:#}");
    assert_eq!(file_report(&again, "title.basics")["rows_unchanged"], 10);
    assert_eq!(file_report(&again, "title.akas")["rows_unchanged"], 7);
    assert_eq!(again["titles_indexed"], 0);

    // A newer file updates only what changed, and keeps what the API owns.
    let patched = call(
        app,
        admin(),
        "PATCH",
        "/titles/tt0068646",
        Some(json!({"synopsis": "An offer he can't refuse."})),
    )
    .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text());
    let input = catalog.dir.path().join("newer");
    std::fs::create_dir_all(&input).unwrap();
    let basics: Vec<String> = sample::BASICS.iter().map(|l| l.replace("\t175\t", "\t177\t")).collect();
    let ratings: Vec<String> =
        sample::RATINGS.iter().map(|l| l.replace("9.2\t2000000", "9.2\t2000100")).collect();
    let newer = read_files(&[
        sample::write_gz(&input, Dataset::Basics, &basics.iter().map(String::as_str).collect::<Vec<_>>())
            .unwrap(),
        sample::write_gz(&input, Dataset::Ratings, &ratings.iter().map(String::as_str).collect::<Vec<_>>())
            .unwrap(),
    ]);
    let update = import(app, &newer, "").await;
    assert_eq!(file_report(&update, "title.basics")["rows_written"], 1, "{update:#}");
    assert_eq!(file_report(&update, "title.ratings")["rows_written"], 1, "{update:#}");
    let godfather = get(app, "/titles/tt0068646").await;
    assert_eq!(
        (godfather["runtime_minutes"].as_i64(), godfather["imdb_votes"].as_i64()),
        (Some(177), Some(2_000_100))
    );
    assert_eq!(godfather["synopsis"], "An offer he can't refuse.");

    // A newer title.principals replaces the cast of the titles that changed.
    let principals: Vec<String> = sample::PRINCIPALS
        .iter()
        .map(|l| l.replace("Michael Corleone", "Michael"))
        .filter(|l| !l.contains("screenplay by"))
        .collect();
    let newer = read_files(&[sample::write_gz(
        &input,
        Dataset::Principals,
        &principals.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .unwrap()]);
    let update = import(app, &newer, "").await;
    let cast = file_report(&update, "title.principals");
    assert_eq!(
        (cast["rows_written"].as_u64(), cast["rows_unchanged"].as_u64()),
        (Some(3), Some(3)),
        "{cast:#}"
    );
    let credits = get(app, "/titles/tt0068646").await["credits"].clone();
    let characters: Vec<&Value> = credits
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["category"] == "actor")
        .map(|c| &c["characters"])
        .collect();
    assert_eq!(characters, [&json!(["Don Vito Corleone"]), &json!(["Michael"])], "{credits:#}");
    assert!(!credits.as_array().unwrap().iter().any(|c| c["job"] == "screenplay by"), "{credits:#}");
    assert_every_index_is_built(&db).await;
    catalog.host.stop().await;
}

/// A first load does not read its tables back (it knows what it wrote), so
/// a file out of order is where it could go wrong: a title that comes
/// again after more than a batch of lines, and a title's cast split in
/// two. They must end as they would in a loaded catalog: the later row
/// wins, and the later cast replaces the earlier one. Meanwhile the API
/// refuses to create or delete a title under an IMDb id.
#[tokio::test]
async fn a_first_load_of_files_out_of_order_ends_as_the_later_rows_say() {
    let catalog = start("").await;
    let input = catalog.dir.path().join("out-of-order");
    std::fs::create_dir_all(&input).unwrap();
    let filler = cdlc_plugin_catalog::imdb::tsv::BATCH_LINES as u32 + 10;
    let title = |n: u32, name: &str| format!("tt{n:07}\tmovie\t{name}\t{name}\t0\t2001\t\\N\t90\tDrama");
    let mut basics = vec![title(1, "First Name")];
    basics.extend((10..10 + filler).map(|n| title(n, "Filler")));
    basics.push(title(1, "Second Name"));
    let cast =
        |n: u32, ordering: u32, person: u32| format!("tt{n:07}\t{ordering}\tnm{person:07}\tactor\t\\N\t\\N");
    let mut principals = vec![cast(1, 1, 1), cast(1, 2, 2)];
    principals.extend((10..10 + filler).map(|n| cast(n, 1, 3)));
    principals.extend([cast(1, 1, 2), cast(1, 3, 3)]);
    let names: Vec<String> = (1..=3).map(|n| format!("nm{n:07}\tPerson {n}\t\\N\t\\N\tactor\t\\N")).collect();
    let files = read_files(&[
        sample::write_gz(&input, Dataset::Basics, &lines(&basics)).unwrap(),
        sample::write_gz(&input, Dataset::Principals, &lines(&principals)).unwrap(),
        sample::write_gz(&input, Dataset::Names, &lines(&names)).unwrap(),
    ]);
    let answer = post_import(&catalog.app, admin(), &files, "").await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.text());
    // While it runs, the API creates and deletes no row under an IMDb id
    // (the import does not read its rows back); other writes go on.
    let with_imdb_id = json!({"kind": "movie", "primary_title": "Mine", "imdb_id": "tt0000002"});
    let refused = call(&catalog.app, admin(), "POST", "/titles", Some(with_imdb_id.clone())).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.text());
    assert!(refused.text().contains("is running"), "{}", refused.text());
    let refused = call(&catalog.app, admin(), "DELETE", "/titles/tt0000001", None).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.text());
    let own = call(
        &catalog.app,
        admin(),
        "POST",
        "/titles",
        Some(json!({"kind": "movie", "primary_title": "Ours"})),
    )
    .await;
    assert_eq!(own.status, StatusCode::CREATED, "{}", own.text());
    let report = wait_for_import(&catalog.app, answer.json()["id"].as_str().unwrap()).await;
    assert_eq!(file_report(&report, "title.basics")["rows_written"], filler + 2, "{report:#}");
    let after = call(&catalog.app, admin(), "POST", "/titles", Some(with_imdb_id)).await;
    assert_eq!(after.status, StatusCode::CREATED, "{}", after.text());
    assert_eq!(file_report(&report, "title.principals")["rows_rejected"], 0, "{report:#}");

    let first = get(&catalog.app, "/titles/tt0000001").await;
    assert_eq!(first["primary_title"], "Second Name");
    let credits: Vec<(i64, &str)> = first["credits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["billing"].as_i64().unwrap(), c["person_name"].as_str().unwrap()))
        .collect();
    assert_eq!(credits, [(1, "Person 2"), (3, "Person 3")]);
    let again = import(&catalog.app, &files, "").await;
    // The fillers are unchanged; the title given twice is written twice again.
    assert_eq!(file_report(&again, "title.basics")["rows_unchanged"], filler, "{again:#}");
}

#[tokio::test]
async fn filters_keep_the_chosen_titles_and_the_people_credited_in_them() {
    let catalog = start("").await;
    let app = &catalog.app;
    let files = sample_files(catalog.dir.path());
    let report = import(app, &files, "?kinds=movie,tvSeries&min_votes=1000").await;
    let basics = file_report(&report, "title.basics");
    // Godfather, Amélie, Nanook (movies ≥ 1000 votes) and Breaking Bad.
    assert_eq!(basics["rows_written"], 4, "{basics:#}");
    assert_eq!(get(app, "/titles?limit=100").await["items"].as_array().unwrap().len(), 4);
    // Only people credited in the kept titles (Cranston is in an episode).
    let names = file_report(&report, "name.basics");
    assert_eq!(
        (names["rows_written"].as_u64(), names["rows_skipped"].as_u64()),
        (Some(6), Some(2)),
        "{names:#}"
    );
    let top = import(app, &files, "?top=1").await;
    assert_eq!(file_report(&top, "title.basics")["rows_skipped"], 9, "{top:#}");
    let bad = post_import(app, admin(), &files, "?kinds=film").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.text().contains("unknown kind \\\"film\\\""), "{}", bad.text());
}

#[tokio::test]
async fn bad_files_are_refused_with_sentences_and_bad_rows_are_counted() {
    let catalog = start("").await;
    let app = &catalog.app;
    let dir = catalog.dir.path().join("bad");
    std::fs::create_dir_all(&dir).unwrap();

    let plain = vec![("title.basics.tsv.gz".to_owned(), Dataset::Basics.header().as_bytes().to_vec())];
    let answer = post_import(app, admin(), &plain, "").await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.text().contains("title.basics.tsv.gz: it is not gzip-compressed"), "{}", answer.text());

    let akas = sample::write_gz(&dir, Dataset::Akas, sample::AKAS).unwrap();
    let wrong = vec![("title.basics.tsv.gz".to_owned(), std::fs::read(&akas).unwrap())];
    let answer = post_import(app, admin(), &wrong, "").await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(
        answer.text().contains("the header has the columns titleId, ordering, title, region, language, types, attributes, isOriginalTitle, but title.basics has tconst, titleType"),
        "{}",
        answer.text()
    );

    // Gzip, but not TSV: binary bytes where the header should be.
    let binary: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &binary).unwrap();
    let not_tsv = vec![("title.basics.tsv.gz".to_owned(), gz.finish().unwrap())];
    let answer = post_import(app, admin(), &not_tsv, "").await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.text().contains("title.basics.tsv.gz: the header has the columns"), "{}", answer.text());
    assert!(answer.text().contains("but title.basics has tconst, titleType"), "{}", answer.text());

    let answer = post_import(app, admin(), &[], "").await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.text().contains("send at least one .tsv.gz file"), "{}", answer.text());
    let answer = post_import(app, admin(), &[("x y.tsv".to_owned(), vec![1])], "").await;
    assert!(answer.text().contains("must end in .tsv.gz"), "{}", answer.text());

    assert_eq!(post_import(app, Principal::Anonymous, &plain, "").await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(post_import(app, viewer("v1"), &plain, "").await.status, StatusCode::FORBIDDEN);
    let key = user(
        "admin",
        Role::Admin,
        Credential::ApiKey { key_id: "k".into(), scopes: vec![Scope::ASSETS_WRITE] },
    );
    let answer = post_import(app, key, &plain, "").await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(answer.text().contains("catalog:import"), "{}", answer.text());

    // A 10 MB line, invalid UTF-8 and a bad id are rejected rows; the rows around them import.
    let long = format!("tt0000010\tmovie\t{}\t\\N\t0\t2000\t\\N\t90\tDrama", "x".repeat(10 << 20));
    let path = dir.join("title.basics.tsv.gz");
    {
        use std::io::Write;
        let mut out =
            flate2::write::GzEncoder::new(std::fs::File::create(&path).unwrap(), flate2::Compression::fast());
        writeln!(out, "{}", Dataset::Basics.header()).unwrap();
        writeln!(out, "tt0000011\tmovie\tBefore\t\\N\t0\t2000\t\\N\t90\tDrama").unwrap();
        writeln!(out, "{long}").unwrap();
        out.write_all(b"tt0000012\tmovie\tBad \xff bytes\t\\N\t0\t2000\t\\N\t90\tDrama\n").unwrap();
        writeln!(out, "tt12\tmovie\tShort id\t\\N\t0\t2000\t\\N\t90\tDrama").unwrap();
        writeln!(out, "tt0000013\tmovie\tAfter\t\\N\t0\tlater\t\\N\t90\tDrama").unwrap();
        writeln!(out, "tt0000014\tmovie\tLast\t\\N\t0\t2001\t\\N\t90\tDrama").unwrap();
        writeln!(out, "tt0000015\thologram\tUnknown kind\t\\N\t0\t2001\t\\N\t90\tDrama").unwrap();
        out.finish().unwrap();
    }
    let report = import(app, &read_files(&[path]), "").await;
    let basics = file_report(&report, "title.basics");
    assert_eq!(
        (basics["rows_read"].as_u64(), basics["rows_written"].as_u64(), basics["rows_rejected"].as_u64()),
        (Some(7), Some(2), Some(5)),
        "{basics:#}"
    );
    let reasons: Vec<(u64, &str)> = basics["rejections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["line"].as_u64().unwrap(), r["reason"].as_str().unwrap()))
        .collect();
    assert!(reasons.contains(&(3, "is longer than 1048576 bytes")), "{reasons:?}");
    assert!(reasons.contains(&(4, "is not UTF-8")), "{reasons:?}");
    assert!(reasons.iter().any(|(line, r)| *line == 5 && r.contains("is not an IMDb id")), "{reasons:?}");
    assert!(
        reasons.iter().any(|(line, r)| *line == 6 && r.contains("startYear \"later\" is not a number")),
        "{reasons:?}"
    );
    assert!(reasons.contains(&(8, "unknown title type \"hologram\"")), "{reasons:?}");
    assert_eq!(get(app, "/titles/tt0000014").await["primary_title"], "Last");
    let missing = call(app, admin(), "GET", "/titles/tt0000015", None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "the unknown kind was not imported");
}

#[tokio::test]
async fn ratings_aggregate_and_the_weighted_rating_matches_a_hand_computation() {
    let catalog = start("[catalog]\nweighted_min_votes = 1000\n").await;
    let app = &catalog.app;
    import(app, &sample_files(catalog.dir.path()), "").await;

    for (user, rating) in [("u1", 8.0), ("u2", 10.0)] {
        let answer =
            call(app, viewer(user), "PUT", "/titles/tt0211915/rating", Some(json!({"rating": rating}))).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    }
    let amelie = get(app, "/titles/tt0211915").await;
    assert_eq!((amelie["user_votes"].as_i64(), amelie["user_rating"].as_f64()), (Some(2), Some(9.0)));
    assert_eq!(amelie["votes"], 800_002);
    let expected = (8.3 * 800_000.0 + 18.0) / 800_002.0;
    assert!((amelie["rating"].as_f64().unwrap() - expected).abs() < 1e-9, "{amelie:#}");
    // Change and remove.
    call(app, viewer("u1"), "PUT", "/titles/tt0211915/rating", Some(json!({"rating": 6.5}))).await;
    assert_eq!(call(app, viewer("u1"), "GET", "/titles/tt0211915/rating", None).await.json()["rating"], 6.5);
    assert_eq!(get(app, "/titles/tt0211915").await["user_rating"], 8.25);
    assert_eq!(
        call(app, viewer("u2"), "DELETE", "/titles/tt0211915/rating", None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(get(app, "/titles/tt0211915").await["user_votes"], 1);
    for bad in [json!({"rating": 11}), json!({"rating": 7.3}), json!({"rating": 0})] {
        let answer = call(app, viewer("u1"), "PUT", "/titles/tt0211915/rating", Some(bad)).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        assert!(answer.text().contains("steps of 0.5"), "{}", answer.text());
    }
    assert_eq!(
        call(app, Principal::Anonymous, "PUT", "/titles/tt0211915/rating", Some(json!({"rating": 5})))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    // Ten users give an obscure title 10: it does not outrank a classic.
    for n in 0..10 {
        call(app, viewer(&format!("fan{n}")), "PUT", "/titles/tt7777777/rating", Some(json!({"rating": 10})))
            .await;
    }

    // By hand: every rated title's (rating, votes); C is their mean rating.
    let mut titles: Vec<(&str, f64, f64)> = vec![
        ("tt0000001", 5.7, 2100.0),
        ("tt0000004", 7.5, 18000.0),
        ("tt0068646", 9.2, 2_000_000.0),
        ("tt0211915", (8.3 * 800_000.0 + 6.5) / 800_001.0, 800_001.0),
        ("tt0903747", 9.5, 2_100_000.0),
        ("tt0959621", 9.0, 40000.0),
        ("tt1054724", 8.6, 30000.0),
        ("tt1232244", 8.7, 28000.0),
        ("tt7777777", (5.1 * 12.0 + 100.0) / 22.0, 22.0),
    ];
    let c = titles.iter().map(|t| t.1).sum::<f64>() / titles.len() as f64;
    let m = 1000.0;
    let wr = |r: f64, v: f64| v / (v + m) * r + m / (v + m) * c;
    titles.retain(|t| !["tt0959621", "tt1054724", "tt1232244"].contains(&t.0)); // episodes are not listed
    titles.sort_by(|a, b| wr(b.1, b.2).total_cmp(&wr(a.1, a.2)));
    let top = get(app, "/top?limit=100").await;
    let got: Vec<&str> = top["items"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
    let want: Vec<&str> = titles.iter().map(|t| t.0).collect();
    assert_eq!(got[..want.len()], want[..], "{top:#}");
    for (item, (_, r, v)) in top["items"].as_array().unwrap().iter().zip(&titles) {
        assert!((item["weighted_rating"].as_f64().unwrap() - wr(*r, *v)).abs() < 1e-9, "{item:#}");
    }
    // Per genre and decade.
    let crime70s = get(app, "/top?genre=Crime&decade=1970").await;
    assert_eq!(
        crime70s["items"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect::<Vec<_>>(),
        ["tt0068646"]
    );

    // A deleted user's ratings go.
    catalog.host.user_deleted(&DeletedUser { user_id: "u1".into(), handle: "user_u1".into() }).await;
    assert_eq!(get(app, "/titles/tt0211915").await["user_votes"], 0);
    assert_eq!(get(app, "/titles/tt0211915").await["rating"], 8.3);
}

#[tokio::test]
async fn titles_people_credits_and_images_are_managed_through_the_api() {
    let catalog = start("[catalog]\nmax_image_bytes = 4096\n").await;
    let app = &catalog.app;
    let series = call(app, admin(), "POST", "/titles", Some(json!({"kind": "series", "primary_title": "Kaamelott", "start_year": 2005, "end_year": 2009, "genres": ["Comedy"]}))).await;
    assert_eq!(series.status, StatusCode::CREATED, "{}", series.text());
    let series_id = series.json()["id"].as_str().unwrap().to_owned();
    let season = call(
        app,
        admin(),
        "POST",
        "/titles",
        Some(
            json!({"kind": "season", "primary_title": "Livre I", "series_id": series_id, "season_number": 1}),
        ),
    )
    .await;
    assert_eq!(season.status, StatusCode::CREATED, "{}", season.text());
    let episode = call(app, admin(), "POST", "/titles", Some(json!({
        "kind": "episode", "primary_title": "Heat", "series_id": series_id, "season_number": 1, "episode_number": 1,
        "akas": [{"title": "Heat (VO)", "region": "FR", "language": "fr"}]
    }))).await;
    assert_eq!(episode.status, StatusCode::CREATED, "{}", episode.text());
    let episode_id = episode.json()["id"].as_str().unwrap().to_owned();
    let seasons = get(app, &format!("/titles/{series_id}/seasons")).await;
    assert_eq!(seasons[0]["episodes"], 1);
    assert_eq!(seasons[0]["title_id"], season.json()["id"]);

    for (body, says) in [
        (json!({"kind": "film", "primary_title": "x"}), "unknown variant `film`"),
        (json!({"kind": "movie", "primary_title": ""}), "primary_title must be 1-1000"),
        (json!({"kind": "movie", "primary_title": "x", "start_year": 3000}), "start_year 3000"),
        (json!({"kind": "episode", "primary_title": "x", "series_id": episode_id}), "is not a series"),
        (json!({"kind": "movie", "primary_title": "x", "imdb_id": "tt12"}), "is not an IMDb id"),
        (json!({"kind": "movie", "primary_title": "x", "colour": "red"}), "unknown field `colour`"),
    ] {
        let answer = call(app, admin(), "POST", "/titles", Some(body.clone())).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body}");
        assert!(answer.text().contains(says), "{body}: {}", answer.text());
    }
    let writer_key = user(
        "ed",
        Role::Admin,
        Credential::ApiKey { key_id: "k".into(), scopes: vec![Scope::new("catalog:write").unwrap()] },
    );
    let viewer_answer =
        call(app, viewer("v"), "POST", "/titles", Some(json!({"kind": "movie", "primary_title": "x"}))).await;
    assert_eq!(viewer_answer.status, StatusCode::FORBIDDEN);
    let movie = call(app, writer_key, "POST", "/titles", Some(json!({"kind": "movie", "primary_title": "Le Samouraï", "imdb_id": "tt0062229", "start_year": 1967}))).await;
    assert_eq!(movie.status, StatusCode::CREATED, "{}", movie.text());
    assert_eq!(movie.json()["id"], "tt0062229");
    assert_eq!(
        call(
            app,
            admin(),
            "POST",
            "/titles",
            Some(json!({"kind": "movie", "primary_title": "again", "imdb_id": "tt0062229"}))
        )
        .await
        .status,
        StatusCode::CONFLICT
    );

    let person = call(
        app,
        admin(),
        "POST",
        "/people",
        Some(json!({"name": "Alexandre Astier", "birth_year": 1974, "professions": ["actor", "writer"]})),
    )
    .await;
    assert_eq!(person.status, StatusCode::CREATED, "{}", person.text());
    let person_id = person.json()["id"].as_str().unwrap().to_owned();
    let credit = call(
        app,
        admin(),
        "POST",
        &format!("/titles/{episode_id}/credits"),
        Some(json!({"person_id": person_id, "category": "actor", "characters": ["Arthur"]})),
    )
    .await;
    assert_eq!(credit.status, StatusCode::CREATED, "{}", credit.text());
    assert_eq!(credit.json()["person_name"], "Alexandre Astier");
    let bad = call(
        app,
        admin(),
        "POST",
        &format!("/titles/{episode_id}/credits"),
        Some(json!({"person_id": person_id, "category": "hero"})),
    )
    .await;
    assert!(bad.text().contains("category \\\"hero\\\" must be one of"), "{}", bad.text());
    let patched = call(
        app,
        admin(),
        "PATCH",
        &format!("/people/{person_id}"),
        Some(json!({"bio": "Roi de Bretagne.", "death_year": null})),
    )
    .await;
    assert_eq!(patched.json()["bio"], "Roi de Bretagne.");
    assert_eq!(
        get(app, &format!("/people/{person_id}")).await["credits"][0]["characters"],
        json!(["Arthur"])
    );

    // A series that has episodes cannot go; its episode can.
    assert_eq!(
        call(app, admin(), "DELETE", &format!("/titles/{series_id}"), None).await.status,
        StatusCode::CONFLICT
    );

    // Images: checked by their first bytes, bounded, served with an ETag.
    let jpeg = [&[0xFF, 0xD8, 0xFF, 0xE0][..], &[0u8; 500]].concat();
    let put = |uri: String, body: Vec<u8>| {
        let request = Request::builder()
            .method("PUT")
            .uri(format!("/api/v1/catalog{uri}"))
            .body(Body::from(body))
            .unwrap();
        send(app, admin(), request)
    };
    assert_eq!(
        put(format!("/titles/{episode_id}/poster"), jpeg.clone()).await.status,
        StatusCode::NO_CONTENT
    );
    let not_image = put(format!("/titles/{episode_id}/poster"), b"GIF89a not allowed".to_vec()).await;
    assert_eq!(not_image.status, StatusCode::BAD_REQUEST);
    assert!(not_image.text().contains("JPEG or PNG"), "{}", not_image.text());
    let too_big = put(
        format!("/people/{person_id}/photo"),
        [&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A][..], &[0u8; 5000]].concat(),
    )
    .await;
    assert_eq!(too_big.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", too_big.text());
    let served = send(
        app,
        Principal::Anonymous,
        Request::get(format!("/api/v1/catalog/titles/{episode_id}/poster")).body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(served.status, StatusCode::OK);
    assert_eq!(served.body, jpeg);
    assert_eq!(served.headers["content-type"], "image/jpeg");
    assert!(served.headers["cache-control"].to_str().unwrap().contains("max-age"));
    let etag = served.headers["etag"].clone();
    let revalidated = send(
        app,
        Principal::Anonymous,
        Request::get(format!("/api/v1/catalog/titles/{episode_id}/poster"))
            .header("if-none-match", etag)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(revalidated.status, StatusCode::NOT_MODIFIED);
    // A host that makes no thumbnails (NoImages here) serves the full image as the thumbnail.
    let thumb = send(
        app,
        Principal::Anonymous,
        Request::get(format!("/api/v1/catalog/titles/{episode_id}/poster?size=thumb"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!((thumb.status, thumb.body == jpeg), (StatusCode::OK, true));
    let bad_size =
        call(app, Principal::Anonymous, "GET", &format!("/titles/{episode_id}/poster?size=huge"), None).await;
    assert_eq!(bad_size.status, StatusCode::BAD_REQUEST);
    assert!(bad_size.text().contains("thumb or full"), "{}", bad_size.text());
    assert!(get(app, &format!("/titles/{episode_id}")).await["poster_url"]
        .as_str()
        .unwrap()
        .ends_with("/poster"));

    assert_eq!(
        call(app, admin(), "DELETE", &format!("/titles/{episode_id}"), None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(app, Principal::Anonymous, "GET", &format!("/titles/{episode_id}"), None).await.status,
        StatusCode::NOT_FOUND
    );
    assert!(
        std::fs::read_dir(catalog.dir.path().join("objects/plugins/catalog/posters"))
            .map(|d| d.count())
            .unwrap_or(0)
            == 0,
        "the poster went with its title"
    );
}

#[tokio::test]
async fn a_linked_asset_is_unlinked_when_it_is_deleted() {
    let catalog = start("").await;
    let app = &catalog.app;
    let movie = call(
        app,
        admin(),
        "POST",
        "/titles",
        Some(json!({"kind": "movie", "primary_title": "Trailer Park"})),
    )
    .await
    .json();
    let id = movie["id"].as_str().unwrap();
    let missing = call(
        app,
        admin(),
        "POST",
        &format!("/titles/{id}/links"),
        Some(json!({"asset_id": "nope", "role": "trailer"})),
    )
    .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert!(missing.text().contains("there is no asset"), "{}", missing.text());
    let linked = call(
        app,
        admin(),
        "POST",
        &format!("/titles/{id}/links"),
        Some(json!({"asset_id": "asset1", "role": "trailer"})),
    )
    .await;
    assert_eq!(linked.status, StatusCode::CREATED, "{}", linked.text());
    let title = get(app, &format!("/titles/{id}")).await;
    assert_eq!(title["links"][0]["role"], "trailer");
    assert_eq!(title["links"][0]["state"], "ready");
    assert_eq!(title["links"][0]["playback"]["hls"], "/streams/asset1/master.m3u8");
    assert_eq!(get(app, "/assets/asset1/titles").await[0]["title"]["id"], id);

    catalog
        .bus
        .publish(Event {
            topic: "assets.deleted".into(),
            source: "host".into(),
            payload: json!({"asset_id": "asset1"}),
            at_ms: 0,
        })
        .await
        .unwrap();
    for _ in 0..100 {
        if get(app, &format!("/titles/{id}/links")).await.as_array().unwrap().is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the deleted asset stayed linked");
}

#[tokio::test]
async fn search_finds_typos_accents_akas_and_people_and_browse_pages_through_everything() {
    let catalog = start("").await;
    let app = &catalog.app;
    import(app, &sample_files(catalog.dir.path()), "").await;

    let hits = get(app, "/search?q=godfathr").await;
    assert_eq!(hits["items"][0]["id"], "tt0068646", "{hits:#}");
    // The popular Godfather ranks above the obscure one of the same name.
    let ids: Vec<&str> =
        hits["items"].as_array().unwrap().iter().map(|h| h["id"].as_str().unwrap()).collect();
    let obscure = ids.iter().position(|i| *i == "tt7777777").expect("the obscure one is found too");
    assert!(obscure > 0, "{ids:?}");
    assert_eq!(hits["items"][0]["title"]["primary_title"], "The Godfather");
    assert_eq!(get(app, "/search?q=amelie").await["items"][0]["id"], "tt0211915");
    assert_eq!(get(app, "/search?q=AMÉLIE&target=titles").await["items"][0]["id"], "tt0211915");
    assert_eq!(get(app, "/search?q=der%20pate").await["items"][0]["id"], "tt0068646");
    let person = get(app, "/search?q=coppo&target=people").await;
    assert_eq!(person["items"][0]["id"], "nm0000338", "{person:#}");
    assert_eq!(person["items"][0]["person"]["name"], "Francis Ford Coppola");
    assert_eq!(get(app, "/search?q=breaking&kind=series").await["items"][0]["id"], "tt0903747");
    let bad = call(app, Principal::Anonymous, "GET", "/search?q=x&kind=film", None).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.text().contains("unknown kind"), "{}", bad.text());

    // A title created through the API is found at once; a deleted one no more.
    let created =
        call(app, admin(), "POST", "/titles", Some(json!({"kind": "movie", "primary_title": "Zardoz"})))
            .await
            .json();
    assert_eq!(get(app, "/search?q=zardo").await["items"][0]["id"], created["id"]);

    // Browse every sort to the end through the cursors: each title once.
    for sort in ["popularity", "rating", "year", "title"] {
        let mut seen = Vec::new();
        let mut cursor = String::new();
        loop {
            let page = get(app, &format!("/titles?sort={sort}&limit=2{cursor}")).await;
            seen.extend(
                page["items"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap().to_owned()),
            );
            match page["next_cursor"].as_str() {
                Some(next) => cursor = format!("&cursor={next}"),
                None => break,
            }
        }
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!((seen.len(), unique.len()), (7, 7), "{sort}: {seen:?}");
        if sort == "title" {
            assert_eq!(seen[0], "tt0211915", "Amélie first: {seen:?}");
        }
        if sort == "popularity" {
            assert_eq!(seen[0], "tt0903747", "{seen:?}");
        }
    }
    let dramas = get(app, "/titles?genre=Drama&year_min=1970&year_max=1979").await;
    assert_eq!(dramas["items"].as_array().unwrap().len(), 1);
    for (query, says) in [
        ("/titles?limit=0", "limit 0 must be 1 to 100"),
        ("/titles?cursor=zz", "the cursor is not one this list gave out"),
        ("/titles?kind=film", "unknown kind"),
        ("/titles?year_min=2000&year_max=1990", "is after year_max"),
        ("/titles?sort=best", "the query parameters do not fit"),
        ("/titles?limit=many", "the query parameters do not fit"),
    ] {
        let answer = call(app, Principal::Anonymous, "GET", query, None).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(answer.text().contains(says), "{query}: {}", answer.text());
    }

    // The index survives a restart, and is rebuilt from the tables when lost.
    catalog.host.stop().await;
    drop(catalog.app);
    let dir = catalog.dir;
    std::fs::remove_dir_all(dir.path().join("plugins/catalog/search")).unwrap();
    let again = start_in(dir, "").await;
    for _ in 0..100 {
        if get(&again.app, "/search?q=godfather").await["total"].as_u64().unwrap() > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the search index was not rebuilt");
}

#[tokio::test]
async fn routes_are_described_in_openapi() {
    let catalog = start("").await;
    let openapi = serde_json::to_value(catalog.host.openapi()).unwrap();
    for path in [
        "/api/v1/catalog/titles",
        "/api/v1/catalog/titles/{id}",
        "/api/v1/catalog/search",
        "/api/v1/catalog/imports",
        "/api/v1/catalog/titles/{id}/poster",
    ] {
        assert!(openapi["paths"][path].is_object(), "{path} is missing: {:#}", openapi["paths"]);
    }
    assert_eq!(openapi["paths"]["/api/v1/catalog/titles"]["get"]["tags"][0], "catalog");
}

#[tokio::test]
async fn indexes_a_stopped_import_left_dropped_are_built_at_start() {
    let catalog = start("").await;
    let db = catalog_store(&catalog).await;
    db.drop_index("credits", "credits_by_person").await.unwrap();
    db.drop_index("titles", "titles_by_popularity").await.unwrap();
    catalog.host.stop().await;
    drop(catalog.app);
    let dir = catalog.dir;
    // Another index directory: the stopped host's writer lock may outlive it a moment.
    std::fs::remove_dir_all(dir.path().join("plugins/catalog/search")).unwrap();
    let again = start_in(dir, "").await;
    assert_every_index_is_built(&db).await;
    again.host.stop().await;
}

/// The progress an import reports: it reads the files (the percent from
/// their bytes, never going back, never 100), then says it is building the
/// indexes once every file is read; 100 is only the finished import's.
#[tokio::test]
async fn the_progress_reads_the_files_then_says_the_indexes_are_built() {
    use cdlc_plugin_catalog::imdb::{self, ImportOptions, Phase, Progress};
    let catalog = start("").await;
    let db = catalog_store(&catalog).await;
    let input = catalog.dir.path().join("progress");
    std::fs::create_dir_all(&input).unwrap();
    let files = imdb::files_from_paths(&sample::write_small(&input).unwrap()).unwrap();
    let seen = std::sync::Mutex::new(Vec::<Progress>::new());
    let record = |p: &Progress| seen.lock().unwrap().push(p.clone());
    let report = imdb::import(&db, None, &files, &ImportOptions::default(), &record).await.unwrap();
    let seen = seen.into_inner().unwrap();
    let (last, reading) = seen.split_last().expect("progress was reported");
    assert!(!reading.is_empty() && reading.iter().all(|p| p.phase == Phase::Reading), "{seen:#?}");
    assert!(reading.windows(2).all(|w| w[0].percent() <= w[1].percent()), "{seen:#?}");
    assert!(seen.iter().all(|p| p.percent() < 100.0), "{seen:#?}");
    assert_eq!(last.phase, Phase::Indexing, "{seen:#?}");
    assert_eq!(last.bytes_done, last.bytes_total);
    assert_eq!(last.rows, report.files.iter().map(|f| f.rows_read).sum::<u64>());
    assert_eq!(last.phase.describe(), "building the indexes");
    catalog.host.stop().await;
}
