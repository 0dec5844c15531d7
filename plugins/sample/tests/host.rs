//! The two sample plugins on the real host machinery (SQLite stores in a temp
//! directory, or a real MariaDB for the `_on_mysql` test; the in-process bus): `guestbook` owns a table, takes the
//! principal and publishes `guestbook.signed`; `tally` consumes that event
//! into a table of its own. Requests go through the merged router with
//! `oneshot`; the principal is put on each request as the host's
//! authentication layer would.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use cdlc_plugin_api::axum::body::Body;
use cdlc_plugin_api::axum::http::{Request, StatusCode};
use cdlc_plugin_api::axum::{Extension, Router};
use cdlc_plugin_api::host::{HostServices, NoImages, PluginHost};
use cdlc_plugin_api::{
    async_trait, AssetInfo, AssetState, Assets, AssetsError, Credential, DeletedUser, Health, Identity,
    InProcessBus, Playback, PluginError, Principal, Role,
};
use cdlc_plugin_store::Stores;
use tower::ServiceExt;

/// A fixed set of assets: the host's real implementation reads the metadata store.
struct FixedAssets(HashMap<String, AssetState>);

#[async_trait]
impl Assets for FixedAssets {
    async fn get(&self, id: &str) -> Result<Option<AssetInfo>, AssetsError> {
        Ok(self.0.get(id).map(|state| AssetInfo {
            id: id.into(),
            title: None,
            state: *state,
            private: false,
            duration_seconds: None,
        }))
    }
    async fn playback(&self, _id: &str) -> Result<Option<Playback>, AssetsError> {
        Ok(None)
    }
    async fn signed_playback(&self, _id: &str, _ttl: Duration) -> Result<Option<Playback>, AssetsError> {
        Err(AssetsError::SigningDisabled)
    }
}

async fn host(dir: &std::path::Path, config: &str) -> Result<PluginHost, PluginError> {
    host_on(Stores::sqlite(dir), dir, config).await
}

/// The sample plugins on `stores`, their objects under `dir`.
async fn host_on(stores: Stores, dir: &std::path::Path, config: &str) -> Result<PluginHost, PluginError> {
    let services = HostServices {
        stores,
        bus: Arc::new(InProcessBus::new()),
        assets: Arc::new(FixedAssets(HashMap::from([
            ("ready1".to_owned(), AssetState::Ready),
            ("busy1".to_owned(), AssetState::Processing),
        ]))),
        objects: Arc::new(cdlc_storage::LocalStore::open(dir.join("objects")).expect("object store")),
        images: Arc::new(NoImages),
        data_dir: None,
        jobs: None,
    };
    let config: toml::Table = toml::from_str(config).expect("toml");
    PluginHost::start(cdlc_plugin_sample::plugins(), &config, services).await
}

fn viewer(id: &str) -> Principal {
    Principal::User(Identity {
        user_id: id.into(),
        handle: format!("user_{id}"),
        role: Role::Viewer,
        credential: Credential::Session { session_id: "s".into(), cookie: false },
    })
}

async fn call(
    app: &Router,
    principal: Principal,
    method: &str,
    uri: &str,
    body: Option<&str>,
) -> (StatusCode, String) {
    let mut request = Request::builder().method(method).uri(uri);
    if body.is_some() {
        request = request.header("content-type", "application/json");
    }
    let request = request.body(Body::from(body.unwrap_or_default().to_owned())).unwrap();
    let response = app.clone().layer(Extension(principal)).oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = cdlc_plugin_api::axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

async fn signatures(app: &Router) -> i64 {
    let (status, body) = call(app, Principal::Anonymous, "GET", "/api/v1/tally", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    serde_json::from_str::<serde_json::Value>(&body).unwrap()["signatures"].as_i64().unwrap()
}

async fn eventually(app: &Router, want: i64) {
    for _ in 0..100 {
        if signatures(app).await == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(signatures(app).await, want, "the tally never caught up");
}

#[tokio::test]
async fn plugins_mount_migrate_take_the_principal_and_exchange_events() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(dir.path(), "[guestbook]\nmax_message = 10\n").await.expect("start");
    assert!(dir.path().join("guestbook.db").exists() && dir.path().join("tally.db").exists(), "a store each");
    mount_migrate_take_the_principal_and_exchange_events(host).await;
}

/// The same plugins on MySQL: the stores on a real MariaDB the tests start.
#[tokio::test]
async fn plugins_on_mysql_mount_migrate_take_the_principal_and_exchange_events() {
    let mariadb = cdlc_testkit::mariadb::MariaDbServer::shared();
    let stores = Stores::open(&mariadb.url(&mariadb.fresh_prefix())).expect("stores");
    let objects = tempfile::tempdir().unwrap();
    let host = host_on(stores, objects.path(), "[guestbook]\nmax_message = 10\n").await.expect("start");
    mount_migrate_take_the_principal_and_exchange_events(host).await;
}

async fn mount_migrate_take_the_principal_and_exchange_events(host: PluginHost) {
    assert_eq!(host.names(), ["guestbook", "tally"]);
    let app = host.router();

    let (status, body) =
        call(&app, Principal::Anonymous, "POST", "/api/v1/guestbook/entries", Some(r#"{"message":"hi"}"#))
            .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body.contains(r#""code":"unauthorized""#), "{body}");

    let (status, body) =
        call(&app, viewer("u1"), "POST", "/api/v1/guestbook/entries", Some(r#"{"message":"hi"}"#)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _) = call(
        &app,
        viewer("u2"),
        "POST",
        "/api/v1/guestbook/entries",
        Some(r#"{"message":"hello","asset_id":"ready1"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);

    // Its config section reached it; the JSON extractor answers in the one shape.
    let (status, body) =
        call(&app, viewer("u1"), "POST", "/api/v1/guestbook/entries", Some(r#"{"message":"far too long"}"#))
            .await;
    assert_eq!((status, body.contains("at most 10 characters")), (StatusCode::BAD_REQUEST, true), "{body}");
    let (status, body) =
        call(&app, viewer("u1"), "POST", "/api/v1/guestbook/entries", Some(r#"{"mess"#)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.contains(r#""error":{"code":"bad_request","message":"the body is not valid JSON"#),
        "{body}"
    );
    let (status, body) = call(
        &app,
        viewer("u1"),
        "POST",
        "/api/v1/guestbook/entries",
        Some(r#"{"message":"x","asset_id":"busy1"}"#),
    )
    .await;
    assert_eq!((status, body.contains("not ready")), (StatusCode::BAD_REQUEST, true), "{body}");

    let (_, body) = call(&app, Principal::Anonymous, "GET", "/api/v1/guestbook/entries", None).await;
    assert_eq!(body, r#"["hello","hi"]"#);
    // tally consumed guestbook.signed into its own table.
    eventually(&app, 2).await;
    // and reads the guestbook through its API, not its table.
    let (status, body) = call(&app, Principal::Anonymous, "GET", "/api/v1/tally/messages", None).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, r#"{"messages":2}"#));

    // Deleting an account calls every plugin's hook.
    let failures = host.user_deleted(&DeletedUser { user_id: "u1".into(), handle: "user_u1".into() }).await;
    assert!(failures.is_empty(), "{failures:?}");
    let (_, body) = call(&app, Principal::Anonymous, "GET", "/api/v1/guestbook/entries", None).await;
    assert_eq!(body, r#"["hello"]"#);
    assert_eq!(signatures(&app).await, 1);

    let health = host.health().await;
    assert_eq!(health, [("guestbook", Health::Ready), ("tally", Health::Degraded("sample".into()))]);
    assert_eq!(host.web()[0].1.pages[0].path, "/guestbook");

    // Each plugin's routes are described under its prefix, tagged with its name.
    let openapi = serde_json::to_value(host.openapi()).unwrap();
    let entries = &openapi["paths"]["/api/v1/guestbook/entries"];
    assert_eq!(entries["post"]["tags"][0], "guestbook", "{openapi:#}");
    assert_eq!(entries["get"]["responses"]["200"]["content"]["application/json"]["schema"]["type"], "array");
    assert_eq!(openapi["paths"]["/api/v1/tally"]["get"]["tags"][0], "tally", "{openapi:#}");
    assert!(openapi["components"]["schemas"]["GuestbookEntry"].is_object(), "{openapi:#}");
    host.stop().await;
}

#[tokio::test]
async fn a_plugin_disabled_by_config_is_not_started_and_config_mistakes_are_sentences() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(dir.path(), "[tally]\nenabled = false\n").await.expect("start");
    assert_eq!(host.names(), ["guestbook"]);
    assert!(!dir.path().join("tally.db").exists(), "a disabled plugin gets no store");
    let app = host.router();
    let (status, _) = call(&app, Principal::Anonymous, "GET", "/api/v1/tally", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) =
        call(&app, viewer("u1"), "POST", "/api/v1/guestbook/entries", Some(r#"{"message":"hi"}"#)).await;
    assert_eq!(status, StatusCode::CREATED, "publishing with no consumer is fine");
    host.stop().await;

    // A plugin calling a disabled one gets an error that names it.
    let dir = tempfile::tempdir().unwrap();
    let lonely = crate::host(dir.path(), "[guestbook]\nenabled = false\n").await.expect("start");
    let (status, body) =
        call(&lonely.router(), Principal::Anonymous, "GET", "/api/v1/tally/messages", None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body.contains(r#"the plugin \"guestbook\" is not running"#), "{body}");

    let typo = host_error(dir.path(), "[guestbok]\n").await;
    assert!(typo.contains("[plugins.guestbok]") && typo.contains("known: guestbook, tally"), "{typo}");
    let wrong_type = host_error(dir.path(), "[guestbook]\nmax_message = \"ten\"\n").await;
    assert!(
        wrong_type.contains("[plugins.guestbook]") && wrong_type.contains("invalid type"),
        "{wrong_type}"
    );
    let enabled = host_error(dir.path(), "[tally]\nenabled = \"no\"\n").await;
    assert!(enabled.contains("enabled must be true or false"), "{enabled}");
}

async fn host_error(dir: &std::path::Path, config: &str) -> String {
    host(dir, config).await.map(|_| ()).expect_err(config).to_string()
}
