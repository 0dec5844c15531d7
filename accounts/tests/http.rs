//! The accounts routes in-process (`oneshot`, no port) behind the real
//! authentication middleware, each test twice: `sqlite::*` on a SQLite store
//! in a temp directory, `mysql::*` on a fresh database of the real MariaDB
//! server `cdlc_testkit::mariadb` starts once for this binary.
//! `/probe/upload` stands for a write of the server (an upload): it asks for
//! what the upload route will ask for.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use axum::routing::post;
use axum::Router;
use cdlc_accounts::http::{authenticate, router, CSRF_HEADER};
use cdlc_accounts::{Accounts, AccountsConfig, Rate, SignupPolicy, UserDeletedHook};
use cdlc_plugin_api::{params, ApiError, Db, DeletedUser, Principal, Role, Scope, Sql};
use cdlc_plugin_store::Stores;
use cdlc_testkit::mariadb::MariaDbServer;
use serde_json::{json, Value};
use tower::ServiceExt;

const ROOT: &str = "root-token-for-tests-0123456789";

#[derive(Default)]
struct RecordingHook(Mutex<Vec<DeletedUser>>);

#[async_trait]
impl UserDeletedHook for RecordingHook {
    async fn user_deleted(&self, user: &DeletedUser) -> Vec<String> {
        self.0.lock().unwrap().push(user.clone());
        Vec::new()
    }
}

struct Server {
    app: Router,
    db: Db,
    hook: Arc<RecordingHook>,
    _dir: tempfile::TempDir,
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Value,
}

impl Answer {
    fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or_default()
    }
}

#[derive(Clone, Copy, Debug)]
enum Engine {
    Sqlite,
    MySql,
}

tokio::task_local! {
    /// The engine of the store the running test's `server` opens.
    static ENGINE: Engine;
}

/// Runs each named test once per engine.
macro_rules! on_each_engine {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::ENGINE.scope(super::Engine::Sqlite, super::$name()).await
                }
            )*
        }

        mod mysql {
            $(
                #[tokio::test]
                async fn $name() {
                    super::ENGINE.scope(super::Engine::MySql, super::$name()).await
                }
            )*
        }
    };
}

on_each_engine!(
    sign_up_sign_in_use_the_session_and_sign_out_revokes_it,
    the_web_cookie_is_http_only_strict_and_writes_need_the_csrf_header,
    repeated_wrong_passwords_are_rate_limited_per_account_and_per_ip,
    roles_and_api_key_scopes_decide_who_may_upload,
    bad_input_gets_a_sentence_and_nothing_panics,
    deleting_an_account_removes_its_credentials_and_tells_the_plugins,
    the_database_holds_argon2id_hashes_and_no_token_in_clear,
    sessions_are_listed_revoked_and_renewed_while_used,
    admins_reset_passwords_change_roles_and_page_through_users,
    sign_up_follows_the_policy,
);

async fn server(config: AccountsConfig) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let db = match ENGINE.get() {
        Engine::Sqlite => Db::open_sqlite("accounts", &dir.path().join("accounts.db")).await.unwrap(),
        Engine::MySql => {
            let mariadb = MariaDbServer::shared();
            let stores = Stores::open(&mariadb.url(&mariadb.fresh_prefix())).unwrap();
            stores.db("accounts").await.unwrap()
        }
    };
    let hook = Arc::new(RecordingHook::default());
    let config = AccountsConfig { root_token: Some(ROOT.into()), ..config };
    let accounts = Accounts::open(db.clone(), config, Some(hook.clone())).await.unwrap();
    let upload = |principal: Principal| async move {
        principal.require(Role::Uploader, &Scope::ASSETS_WRITE)?;
        Ok::<_, ApiError>(StatusCode::CREATED)
    };
    let app = Router::new()
        .nest("/api/v1/accounts", router(accounts.clone()).into())
        .route("/probe/upload", post(upload))
        .layer(axum::middleware::from_fn_with_state(accounts, authenticate));
    Server { app, db, hook, _dir: dir }
}

/// How a request authenticates.
#[derive(Clone, Copy)]
enum Auth<'a> {
    None,
    Bearer(&'a str),
    Cookie(&'a str, Option<&'a str>),
}

impl Server {
    async fn call(&self, method: &str, uri: &str, auth: Auth<'_>, body: Option<Value>) -> Answer {
        self.call_from(method, uri, auth, body, "10.0.0.1").await
    }

    async fn call_from(
        &self,
        method: &str,
        uri: &str,
        auth: Auth<'_>,
        body: Option<Value>,
        ip: &str,
    ) -> Answer {
        let mut request = Request::builder().method(method).uri(uri).header("user-agent", "tests");
        match auth {
            Auth::None => {}
            Auth::Bearer(token) => request = request.header("authorization", format!("Bearer {token}")),
            Auth::Cookie(cookie, csrf) => {
                request = request.header("cookie", format!("theme=dark; cdlc_session={cookie}"));
                if let Some(csrf) = csrf {
                    request = request.header(CSRF_HEADER, csrf);
                }
            }
        }
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let mut request = request.body(Body::from(body.map(|b| b.to_string()).unwrap_or_default())).unwrap();
        let addr: SocketAddr = format!("{ip}:5000").parse().unwrap();
        request.extensions_mut().insert(ConnectInfo(addr));
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        let body =
            if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).expect("JSON body") };
        Answer { status, headers, body }
    }

    async fn sign_up(&self, handle: &str) -> String {
        let answer = self
            .call(
                "POST",
                "/api/v1/accounts/sign-up",
                Auth::None,
                Some(json!({ "handle": handle, "email": format!("{handle}@example.com"), "password": "correct horse battery" })),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
        answer.body["user"]["id"].as_str().unwrap().to_owned()
    }

    /// Signs in for a bearer session token.
    async fn token(&self, login: &str) -> String {
        let answer = self
            .call(
                "POST",
                "/api/v1/accounts/sign-in",
                Auth::None,
                Some(json!({ "login": login, "password": "correct horse battery", "token": true })),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        answer.body["token"].as_str().unwrap().to_owned()
    }

    async fn set_role(&self, user_id: &str, role: &str) {
        let uri = format!("/api/v1/accounts/users/{user_id}");
        let answer = self.call("PATCH", &uri, Auth::Bearer(ROOT), Some(json!({ "role": role }))).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    }

    async fn new_key(&self, token: &str, scopes: &[&str], days: Option<u32>) -> (String, String) {
        let answer = self
            .call(
                "POST",
                "/api/v1/accounts/me/api-keys",
                Auth::Bearer(token),
                Some(json!({ "name": "ci", "scopes": scopes, "expires_in_days": days })),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
        (
            answer.body["key"]["id"].as_str().unwrap().to_owned(),
            answer.body["secret"].as_str().unwrap().to_owned(),
        )
    }
}

async fn sign_up_sign_in_use_the_session_and_sign_out_revokes_it() {
    let server = server(AccountsConfig::default()).await;
    let id = server.sign_up("Ada_L").await;
    let token = server.token("ADA_L@example.com").await;
    let me = server.call("GET", "/api/v1/accounts/me", Auth::Bearer(&token), None).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["user"]["id"], id.as_str());
    assert_eq!(me.body["user"]["handle"], "ada_l", "handles are lower-cased");
    assert_eq!(me.body["user"]["role"], "viewer");
    assert_eq!(
        me.body["user"]["preferences"],
        json!({"language":"en","subtitles":false,"autoplay":true,"maturity_limit":null})
    );

    let out = server.call("POST", "/api/v1/accounts/sign-out", Auth::Bearer(&token), None).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    let after = server.call("GET", "/api/v1/accounts/me", Auth::Bearer(&token), None).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    assert!(after.message().contains("sign in again"), "{}", after.body);

    let wrong = server
        .call(
            "POST",
            "/api/v1/accounts/sign-in",
            Auth::None,
            Some(json!({ "login": "ada_l", "password": "wrong password!" })),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.body["error"]["code"], "unauthorized");
    assert_eq!(wrong.message(), "the handle, email or password is wrong");
    let nobody = server
        .call(
            "POST",
            "/api/v1/accounts/sign-in",
            Auth::None,
            Some(json!({ "login": "nobody", "password": "wrong password!" })),
        )
        .await;
    assert_eq!(
        (nobody.status, nobody.message()),
        (wrong.status, wrong.message()),
        "no hint that the account exists"
    );
}

async fn the_web_cookie_is_http_only_strict_and_writes_need_the_csrf_header() {
    let server = server(AccountsConfig { secure_cookie: true, ..AccountsConfig::default() }).await;
    server.sign_up("grace").await;
    let answer = server
        .call(
            "POST",
            "/api/v1/accounts/sign-in",
            Auth::None,
            Some(json!({ "login": "grace", "password": "correct horse battery" })),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert!(answer.body.get("token").is_none(), "cookie mode keeps the token out of the body");
    let cookie = answer.headers["set-cookie"].to_str().unwrap().to_owned();
    for part in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/", "Max-Age=7776000"] {
        assert!(cookie.contains(part), "{cookie} lacks {part}");
    }
    let token = cookie.split(';').next().unwrap().strip_prefix("cdlc_session=").unwrap().to_owned();
    let csrf = answer.body["csrf_token"].as_str().unwrap().to_owned();

    let me = server.call("GET", "/api/v1/accounts/me", Auth::Cookie(&token, None), None).await;
    assert_eq!(me.status, StatusCode::OK, "reads need no CSRF header");
    assert_eq!(me.body["csrf_token"], csrf.as_str(), "GET /me gives the page its CSRF token");

    let change = json!({ "bio": "compilers" });
    let forged =
        server.call("PATCH", "/api/v1/accounts/me", Auth::Cookie(&token, None), Some(change.clone())).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(forged.message().contains("X-CSRF-Token"), "{}", forged.body);
    let wrong = server
        .call("PATCH", "/api/v1/accounts/me", Auth::Cookie(&token, Some("0000")), Some(change.clone()))
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    let upload = server.call("POST", "/probe/upload", Auth::Cookie(&token, None), None).await;
    assert_eq!(upload.status, StatusCode::FORBIDDEN, "every cookie write, not only accounts'");
    let ok =
        server.call("PATCH", "/api/v1/accounts/me", Auth::Cookie(&token, Some(&csrf)), Some(change)).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(ok.body["user"]["bio"], "compilers");

    // Signing out clears the cookie; the stale cookie is then anonymous, so
    // signing in again works.
    let out = server.call("POST", "/api/v1/accounts/sign-out", Auth::Cookie(&token, Some(&csrf)), None).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert!(out.headers["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    let stale = server.call("GET", "/api/v1/accounts/me", Auth::Cookie(&token, None), None).await;
    assert_eq!(stale.status, StatusCode::UNAUTHORIZED);
    let again = server
        .call(
            "POST",
            "/api/v1/accounts/sign-in",
            Auth::Cookie(&token, None),
            Some(json!({ "login": "grace", "password": "correct horse battery" })),
        )
        .await;
    assert_eq!(again.status, StatusCode::OK);
}

async fn repeated_wrong_passwords_are_rate_limited_per_account_and_per_ip() {
    let server = server(AccountsConfig::default()).await;
    server.sign_up("linus").await;
    let attempt = |login: &'static str, ip: &'static str| {
        let server = &server;
        async move {
            server
                .call_from(
                    "POST",
                    "/api/v1/accounts/sign-in",
                    Auth::None,
                    Some(json!({ "login": login, "password": "not the password" })),
                    ip,
                )
                .await
        }
    };
    let mut statuses = Vec::new();
    for i in 0..20 {
        // A new IP each time: the account's own limit must stop it.
        let ip: &'static str = Box::leak(format!("10.1.0.{i}").into_boxed_str());
        statuses.push(attempt("linus", ip).await.status);
    }
    assert!(statuses[..10].iter().all(|s| *s == StatusCode::UNAUTHORIZED), "{statuses:?}");
    assert!(statuses[10..].iter().all(|s| *s == StatusCode::TOO_MANY_REQUESTS), "{statuses:?}");
    let limited = attempt("linus", "10.2.0.1").await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = limited.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=30).contains(&retry), "{retry}");
    assert!(limited.message().contains("wait"), "{}", limited.body);
    // Even the right password waits: the limit comes before the check.
    let right = server
        .call_from(
            "POST",
            "/api/v1/accounts/sign-in",
            Auth::None,
            Some(json!({ "login": "linus", "password": "correct horse battery" })),
            "10.3.0.1",
        )
        .await;
    assert_eq!(right.status, StatusCode::TOO_MANY_REQUESTS);

    // One IP spraying many accounts hits the per-IP limit.
    let server = server_with_ip_limit().await;
    let mut last = StatusCode::OK;
    for i in 0..6 {
        let login: &'static str = Box::leak(format!("user{i}").into_boxed_str());
        last = attempt_on(&server, login).await;
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
}

async fn server_with_ip_limit() -> Server {
    server(AccountsConfig {
        per_ip: Rate { burst: 5, refill: Duration::from_secs(60) },
        ..AccountsConfig::default()
    })
    .await
}

async fn attempt_on(server: &Server, login: &str) -> StatusCode {
    server
        .call_from(
            "POST",
            "/api/v1/accounts/sign-in",
            Auth::None,
            Some(json!({ "login": login, "password": "not the password" })),
            "10.9.9.9",
        )
        .await
        .status
}

async fn roles_and_api_key_scopes_decide_who_may_upload() {
    let server = server(AccountsConfig::default()).await;
    let id = server.sign_up("uma").await;
    let token = server.token("uma").await;
    let viewer = server.call("POST", "/probe/upload", Auth::Bearer(&token), None).await;
    assert_eq!(viewer.status, StatusCode::FORBIDDEN);
    assert!(viewer.message().contains("uploader role"), "{}", viewer.body);

    server.set_role(&id, "uploader").await;
    let uploader = server.call("POST", "/probe/upload", Auth::Bearer(&token), None).await;
    assert_eq!(uploader.status, StatusCode::CREATED, "the role applies to live sessions at once");

    let (write_id, write_key) = server.new_key(&token, &["assets:write"], None).await;
    let (_, purge_key) = server.new_key(&token, &["edge:purge"], None).await;
    let (expiring_id, expiring_key) = server.new_key(&token, &["assets:write"], Some(30)).await;
    assert_eq!(
        server.call("POST", "/probe/upload", Auth::Bearer(&write_key), None).await.status,
        StatusCode::CREATED
    );
    let unscoped = server.call("POST", "/probe/upload", Auth::Bearer(&purge_key), None).await;
    assert_eq!(unscoped.status, StatusCode::FORBIDDEN);
    assert!(unscoped.message().contains("assets:write"), "{}", unscoped.body);

    // Listing shows the prefix, never the secret; last use is recorded.
    let keys = server.call("GET", "/api/v1/accounts/me/api-keys", Auth::Bearer(&token), None).await;
    let listed = keys.body["items"].as_array().unwrap();
    assert_eq!(listed.len(), 3);
    let write = listed.iter().find(|k| k["id"] == write_id.as_str()).unwrap();
    assert!(write_key.starts_with(&format!("cdlc_k_{}_", write["prefix"].as_str().unwrap())));
    assert!(!keys.body.to_string().contains(&write_key[20..]), "no secret in the listing");
    assert!(write["last_used_at"].is_i64());
    assert_eq!(write["scopes"], json!(["assets:write"]));

    // An API key cannot manage the account.
    let minting = server
        .call(
            "POST",
            "/api/v1/accounts/me/api-keys",
            Auth::Bearer(&write_key),
            Some(json!({ "name": "x", "scopes": ["assets:write"] })),
        )
        .await;
    assert_eq!(minting.status, StatusCode::FORBIDDEN);

    // Revoked and expired keys are 401.
    let revoke = server
        .call("DELETE", &format!("/api/v1/accounts/me/api-keys/{write_id}"), Auth::Bearer(&token), None)
        .await;
    assert_eq!(revoke.status, StatusCode::NO_CONTENT);
    let revoked = server.call("POST", "/probe/upload", Auth::Bearer(&write_key), None).await;
    assert_eq!(revoked.status, StatusCode::UNAUTHORIZED);
    assert!(revoked.message().contains("unknown or revoked"));
    server
        .db
        .execute("UPDATE api_keys SET expires_at = ? WHERE id = ?", params![1, &expiring_id])
        .await
        .unwrap();
    let expired = server.call("POST", "/probe/upload", Auth::Bearer(&expiring_key), None).await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    assert!(expired.message().contains("expired"));
    let root = server.call("POST", "/probe/upload", Auth::Bearer(ROOT), None).await;
    assert_eq!(root.status, StatusCode::CREATED, "the root token is the bootstrap admin");
}

async fn bad_input_gets_a_sentence_and_nothing_panics() {
    let server = server(AccountsConfig::default()).await;
    let id = server.sign_up("taken").await;
    let sign_up = |body: Value| server.call("POST", "/api/v1/accounts/sign-up", Auth::None, Some(body));
    let cases = [
        (json!({"handle":"ab","email":"a@example.com","password":"correct horse battery"}), 400, "3 to 30"),
        (
            json!({"handle":"has space","email":"a@example.com","password":"correct horse battery"}),
            400,
            "only letters",
        ),
        (
            json!({"handle":"fine","email":"not-an-email","password":"correct horse battery"}),
            400,
            "name@example.com",
        ),
        (json!({"handle":"fine","email":"a@example.com","password":"short"}), 400, "at least 10"),
        (json!({"handle":"fine","email":"a@example.com","password":"p".repeat(300)}), 400, "at most 256"),
        (
            json!({"handle":"fine","email":"a@example.com","password":"correct horse battery","display_name":"d".repeat(81)}),
            400,
            "at most 80",
        ),
        (
            json!({"handle":"TAKEN","email":"b@example.com","password":"correct horse battery"}),
            409,
            "handle taken is taken",
        ),
        (
            json!({"handle":"other","email":"Taken@EXAMPLE.com","password":"correct horse battery"}),
            409,
            "email address exists",
        ),
        (json!({"handle":"fine"}), 400, "missing field"),
    ];
    for (body, status, sentence) in cases {
        let answer = sign_up(body.clone()).await;
        assert_eq!(answer.status.as_u16(), status, "{body}: {}", answer.body);
        assert!(answer.message().contains(sentence), "{body}: {}", answer.body);
    }
    let token = server.token("taken").await;
    let bio = server
        .call("PATCH", "/api/v1/accounts/me", Auth::Bearer(&token), Some(json!({ "bio": "b".repeat(1001) })))
        .await;
    assert!(bio.status == 400 && bio.message().contains("at most 1000"), "{}", bio.body);
    let unknown = server
        .call("PATCH", "/api/v1/accounts/me", Auth::Bearer(&token), Some(json!({ "nickname": "x" })))
        .await;
    assert!(unknown.status == 400 && unknown.message().contains("nickname"), "{}", unknown.body);
    let prefs = server
        .call(
            "PATCH",
            "/api/v1/accounts/me",
            Auth::Bearer(&token),
            Some(json!({ "preferences": { "language": "pt-BR", "maturity_limit": 16, "subtitles": true } })),
        )
        .await;
    assert_eq!(
        prefs.body["user"]["preferences"],
        json!({"language":"pt-BR","subtitles":true,"autoplay":true,"maturity_limit":16})
    );
    let role = server
        .call(
            "PATCH",
            &format!("/api/v1/accounts/users/{id}"),
            Auth::Bearer(ROOT),
            Some(json!({ "role": "owner" })),
        )
        .await;
    assert!(role.status == 400 && role.message().contains("unknown role \"owner\""), "{}", role.body);
    let scope = server
        .call(
            "POST",
            "/api/v1/accounts/me/api-keys",
            Auth::Bearer(&token),
            Some(json!({ "name": "x", "scopes": ["everything"] })),
        )
        .await;
    assert!(scope.status == 400 && scope.message().contains("resource:action"), "{}", scope.body);
    for bad in ["cdlc_s_nothex", "cdlc_k_123", "garbage", "cdlc_s_"] {
        let answer = server.call("GET", "/api/v1/accounts/me", Auth::Bearer(bad), None).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{bad}");
        assert!(!answer.message().is_empty(), "{bad}");
    }
    let not_json =
        server.call("POST", "/api/v1/accounts/sign-in", Auth::None, Some(json!("just a string"))).await;
    assert_eq!(not_json.status, StatusCode::BAD_REQUEST);
    let not_admin = server.call("GET", "/api/v1/accounts/users", Auth::Bearer(&token), None).await;
    assert_eq!(not_admin.status, StatusCode::FORBIDDEN);
    let bad_page = server.call("GET", "/api/v1/accounts/users?limit=lots", Auth::Bearer(ROOT), None).await;
    assert!(bad_page.status == 400 && bad_page.message().contains("query string"), "{}", bad_page.body);
}

async fn deleting_an_account_removes_its_credentials_and_tells_the_plugins() {
    let server = server(AccountsConfig::default()).await;
    let id = server.sign_up("leaving").await;
    let keeper = server.sign_up("staying").await;
    let token = server.token("leaving").await;
    let other_session = server.token("leaving").await;
    let (_, key) = server.new_key(&token, &["assets:write"], None).await;

    let wrong = server
        .call(
            "DELETE",
            "/api/v1/accounts/me",
            Auth::Bearer(&token),
            Some(json!({ "password": "not it at all" })),
        )
        .await;
    assert!(wrong.status == 400 && wrong.message().contains("not deleted"), "{}", wrong.body);
    let gone = server
        .call(
            "DELETE",
            "/api/v1/accounts/me",
            Auth::Bearer(&token),
            Some(json!({ "password": "correct horse battery" })),
        )
        .await;
    assert_eq!(gone.status, StatusCode::OK, "{}", gone.body);
    assert_eq!(gone.body["deleted"]["user"]["user_id"], id.as_str());
    for credential in [&token, &other_session, &key] {
        assert_eq!(
            server.call("GET", "/api/v1/accounts/me", Auth::Bearer(credential), None).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    for table in ["sessions", "api_keys"] {
        let rows = server
            .db
            .query(&format!("SELECT user_id FROM {table} WHERE user_id = ?"), params![&id])
            .await
            .unwrap();
        assert!(rows.is_empty(), "{table} still holds the user");
    }
    assert_eq!(
        *server.hook.0.lock().unwrap(),
        [DeletedUser { user_id: id.clone(), handle: "leaving".into() }]
    );
    let handle_free = server.sign_up("leaving").await;
    assert_ne!(handle_free, id, "the handle is free again");

    let admin_delete =
        server.call("DELETE", &format!("/api/v1/accounts/users/{keeper}"), Auth::Bearer(ROOT), None).await;
    assert_eq!(admin_delete.status, StatusCode::OK);
    assert_eq!(server.hook.0.lock().unwrap().len(), 2);
    let again =
        server.call("DELETE", &format!("/api/v1/accounts/users/{keeper}"), Auth::Bearer(ROOT), None).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
}

async fn the_database_holds_argon2id_hashes_and_no_token_in_clear() {
    let server = server(AccountsConfig::default()).await;
    server.sign_up("carol").await;
    let token = server.token("carol").await;
    let (_, key) = server.new_key(&token, &["assets:write"], None).await;
    let users = server.db.query("SELECT password_hash FROM users", params![]).await.unwrap();
    let hash: String = users[0].get("password_hash").unwrap();
    assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
    let secret = key.rsplit('_').next().unwrap();
    for table in ["users", "sessions", "api_keys", "cdlc_migrations"] {
        for row in server.db.query(&format!("SELECT * FROM {table}"), params![]).await.unwrap() {
            for column in row.columns() {
                let cell = format!("{:?}", row.get::<cdlc_plugin_api::store::Value>(column).unwrap());
                assert!(
                    !cell.contains(&token[7..]) && !cell.contains(secret),
                    "{table}.{column} holds a credential"
                );
                assert!(!cell.contains("correct horse"), "{table}.{column} holds the password");
            }
        }
    }
}

async fn sessions_are_listed_revoked_and_renewed_while_used() {
    let server = server(AccountsConfig::default()).await;
    let id = server.sign_up("dave").await;
    let first = server.token("dave").await;
    let second = server.token("dave").await;
    let list = server.call("GET", "/api/v1/accounts/me/sessions", Auth::Bearer(&first), None).await;
    let items = list.body["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 2);
    assert_eq!(items.iter().filter(|s| s["current"] == true).count(), 1);
    assert!(items.iter().all(|s| s["user_agent"] == "tests" && s["ip"] == "10.0.0.1"));
    let other = items.iter().find(|s| s["current"] == false).unwrap()["id"].as_str().unwrap().to_owned();
    let revoked = server
        .call("DELETE", &format!("/api/v1/accounts/me/sessions/{other}"), Auth::Bearer(&first), None)
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    assert_eq!(
        server.call("GET", "/api/v1/accounts/me", Auth::Bearer(&second), None).await.status,
        StatusCode::UNAUTHORIZED
    );
    let missing = server
        .call("DELETE", &format!("/api/v1/accounts/me/sessions/{other}"), Auth::Bearer(&first), None)
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    // Sliding renewal: a session used after a while is extended.
    let hour_ago = now_ms() - 3_600_000;
    server
        .db
        .execute(
            "UPDATE sessions SET last_seen_at = ?, expires_at = ? WHERE user_id = ?",
            params![hour_ago, now_ms() + 5_000, &id],
        )
        .await
        .unwrap();
    assert_eq!(
        server.call("GET", "/api/v1/accounts/me", Auth::Bearer(&first), None).await.status,
        StatusCode::OK
    );
    let row =
        &server.db.query("SELECT expires_at FROM sessions WHERE user_id = ?", params![&id]).await.unwrap()[0];
    let expires: i64 = row.get("expires_at").unwrap();
    assert!(expires > now_ms() + 13 * 86_400_000, "renewed to the idle timeout");
    // An expired one is refused and removed.
    server
        .db
        .execute("UPDATE sessions SET expires_at = ? WHERE user_id = ?", params![hour_ago, &id])
        .await
        .unwrap();
    let expired = server.call("GET", "/api/v1/accounts/me", Auth::Bearer(&first), None).await;
    assert!(expired.status == 401 && expired.message().contains("expired"), "{}", expired.body);
}

async fn admins_reset_passwords_change_roles_and_page_through_users() {
    let server = server(AccountsConfig::default()).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(server.sign_up(&format!("member{i}")).await);
    }
    let old = server.token("member0").await;
    let reset = server
        .call(
            "POST",
            &format!("/api/v1/accounts/users/{}/password", ids[0]),
            Auth::Bearer(ROOT),
            Some(json!({ "password": "a brand new secret" })),
        )
        .await;
    assert_eq!(reset.status, StatusCode::NO_CONTENT);
    assert_eq!(
        server.call("GET", "/api/v1/accounts/me", Auth::Bearer(&old), None).await.status,
        StatusCode::UNAUTHORIZED
    );
    let signed_in = server
        .call(
            "POST",
            "/api/v1/accounts/sign-in",
            Auth::None,
            Some(json!({ "login": "member0", "password": "a brand new secret", "token": true })),
        )
        .await;
    assert_eq!(signed_in.status, StatusCode::OK);

    server.set_role(&ids[1], "admin").await;
    let admin = server.token("member1").await;
    let mut seen = Vec::new();
    let mut uri = "/api/v1/accounts/users?limit=2".to_owned();
    loop {
        let page = server.call("GET", &uri, Auth::Bearer(&admin), None).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let items = page.body["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|u| u["id"].as_str().unwrap().to_owned()));
        match page.body["next"].as_str() {
            Some(next) => uri = format!("/api/v1/accounts/users?limit=2&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(seen, ids, "every user once, in creation order");
}

async fn sign_up_follows_the_policy() {
    let closed = server(AccountsConfig { signup: SignupPolicy::Closed, ..AccountsConfig::default() }).await;
    let body = json!({ "handle": "eve", "email": "eve@example.com", "password": "correct horse battery" });
    let refused = closed.call("POST", "/api/v1/accounts/sign-up", Auth::None, Some(body.clone())).await;
    assert!(refused.status == 403 && refused.message().contains("closed"), "{}", refused.body);

    let invite_only =
        server(AccountsConfig { signup: SignupPolicy::InviteOnly, ..AccountsConfig::default() }).await;
    let without = invite_only.call("POST", "/api/v1/accounts/sign-up", Auth::None, Some(body.clone())).await;
    assert!(without.status == 403 && without.message().contains("invite code"), "{}", without.body);
    let invite = invite_only
        .call("POST", "/api/v1/accounts/invites", Auth::Bearer(ROOT), Some(json!({ "role": "uploader" })))
        .await;
    assert_eq!(invite.status, StatusCode::CREATED, "{}", invite.body);
    let code = invite.body["code"].as_str().unwrap();
    let mut with = body.clone();
    with["invite"] = json!(code);
    let joined = invite_only.call("POST", "/api/v1/accounts/sign-up", Auth::None, Some(with.clone())).await;
    assert_eq!(joined.status, StatusCode::CREATED, "{}", joined.body);
    assert_eq!(joined.body["user"]["role"], "uploader", "the invite's role");
    with["handle"] = json!("eve2");
    with["email"] = json!("eve2@example.com");
    let reused = invite_only.call("POST", "/api/v1/accounts/sign-up", Auth::None, Some(with)).await;
    assert!(reused.status == 403 && reused.message().contains("used or expired"), "{}", reused.body);
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}
