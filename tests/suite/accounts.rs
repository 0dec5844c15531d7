//! Accounts, roles, API keys and plugins on a real `cdlc serve`, driven
//! over HTTP with curl; the accounts store is read back from its SQLite file.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::server::{Server, TOKEN};

/// One answer: status, headers (lower-cased names) and the JSON body.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Value,
}

impl Answer {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    pub(crate) fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or_default()
    }

    /// A refusal in the one error shape, with a sentence.
    pub(crate) fn refused(&self, status: u16, says: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        assert!(self.body["error"]["code"].is_string(), "the one error shape: {}", self.body);
        assert!(self.message().contains(says), "wanted {says:?} in {}", self.body);
    }
}

/// How a request proves who it is.
#[derive(Clone, Copy)]
pub(crate) enum As<'a> {
    Nobody,
    Bearer(&'a str),
    /// The web UI's cookie, with or without the CSRF header.
    Cookie {
        session: &'a str,
        csrf: Option<&'a str>,
    },
}

pub(crate) fn call(server: &Server, method: &str, path: &str, who: As, body: Option<&Value>) -> Answer {
    call_with(server, method, path, who, body, &[])
}

/// `call` with extra request headers (`Idempotency-Key`…).
pub(crate) fn call_with(
    server: &Server,
    method: &str,
    path: &str,
    who: As,
    body: Option<&Value>,
    headers: &[(&str, &str)],
) -> Answer {
    let mut args: Vec<String> = vec!["-i".into(), "-X".into(), method.into()];
    for (name, value) in headers {
        args.extend(["-H".into(), format!("{name}: {value}")]);
    }
    match who {
        As::Nobody => {}
        As::Bearer(token) => args.extend(["-H".into(), format!("Authorization: Bearer {token}")]),
        As::Cookie { session, csrf } => {
            args.extend(["-H".into(), format!("Cookie: cdlc_session={session}")]);
            if let Some(csrf) = csrf {
                args.extend(["-H".into(), format!("X-CSRF-Token: {csrf}")]);
            }
        }
    }
    if let Some(body) = body {
        args.extend([
            "-H".into(),
            "content-type: application/json".into(),
            "--data".into(),
            body.to_string(),
        ]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (status, text) = server.curl(&args, path);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let headers = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Answer { status, headers, body: serde_json::from_str(body).unwrap_or(Value::Null) }
}

pub(crate) fn sign_up(server: &Server, handle: &str) -> Value {
    let body =
        json!({ "handle": handle, "email": format!("{handle}@example.com"), "password": password(handle) });
    let answer = call(server, "POST", "/api/v1/accounts/sign-up", As::Nobody, Some(&body));
    assert_eq!(answer.status, 201, "{}", answer.body);
    answer.body["user"].clone()
}

pub(crate) fn password(handle: &str) -> String {
    format!("{handle} has a long passphrase")
}

/// Signs in for a bearer session token.
pub(crate) fn sign_in(server: &Server, handle: &str) -> String {
    let body = json!({ "login": handle, "password": password(handle), "token": true });
    let answer = call(server, "POST", "/api/v1/accounts/sign-in", As::Nobody, Some(&body));
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body["token"].as_str().expect("token").to_owned()
}

fn set_role(server: &Server, user_id: &str, role: &str) {
    let answer = call(
        server,
        "PATCH",
        &format!("/api/v1/accounts/users/{user_id}"),
        As::Bearer(TOKEN),
        Some(&json!({ "role": role })),
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
}

fn create_key(server: &Server, session: &str, scopes: &[&str]) -> (String, String) {
    let body = json!({ "name": format!("key {}", scopes.join(" ")), "scopes": scopes });
    let answer = call(server, "POST", "/api/v1/accounts/me/api-keys", As::Bearer(session), Some(&body));
    assert_eq!(answer.status, 201, "{}", answer.body);
    (
        answer.body["key"]["id"].as_str().expect("id").to_owned(),
        answer.body["secret"].as_str().expect("secret").to_owned(),
    )
}

fn upload(server: &Server, file: &Path, who: As) -> Answer {
    let form = format!("file=@{}", file.display());
    let mut args: Vec<String> = vec!["-i".into(), "-X".into(), "POST".into(), "-F".into(), form];
    if let As::Bearer(token) = who {
        args.extend(["-H".into(), format!("Authorization: Bearer {token}")]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (status, text) = server.curl(&args, "/api/v1/assets");
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    // curl answers a 100 Continue first: take the last head's body.
    let body = body.rsplit_once("\r\n\r\n").map(|(_, b)| b).unwrap_or(body);
    Answer { status, headers: Vec::new(), body: serde_json::from_str(body).unwrap_or(Value::Null) }
}

pub(crate) fn start_with_config(data: &Path, config: &str) -> Server {
    std::fs::create_dir_all(data).expect("data dir");
    let file = data.join("cdlc.toml");
    std::fs::write(&file, config).expect("config");
    Server::start_with_config(data, Some(&file), &[])
}

fn tiny_video(dir: &Path) -> std::path::PathBuf {
    // Bytes are enough: authorization is decided before the probe.
    let path = dir.join("clip.mp4");
    std::fs::write(&path, vec![0u8; 4096]).expect("write");
    path
}

/// Accounts, roles, keys, cookies and the sample plugins on one server.
#[test]
fn accounts_roles_keys_cookies_and_plugins() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    let server = start_with_config(
        &data,
        "[accounts]\nsignup = \"open\"\n\n[plugins.guestbook]\nenabled = true\nmax_message = 40\n\n[plugins.tally]\nenabled = true\n",
    );
    let clip = tiny_video(dir.path());

    // Sign-up → sign-in → the session works → sign-out revokes it.
    let ada = sign_up(&server, "ada");
    assert_eq!(ada["role"], "viewer", "a new account is a viewer");
    let session = sign_in(&server, "ada");
    let me = call(&server, "GET", "/api/v1/accounts/me", As::Bearer(&session), None);
    assert_eq!((me.status, me.body["user"]["handle"].as_str()), (200, Some("ada")), "{}", me.body);
    assert_eq!(call(&server, "POST", "/api/v1/accounts/sign-out", As::Bearer(&session), None).status, 204);
    call(&server, "GET", "/api/v1/accounts/me", As::Bearer(&session), None).refused(401, "session");

    // A wrong password: 401 with a sentence.
    let wrong = json!({ "login": "ada", "password": "not the passphrase", "token": true });
    call(&server, "POST", "/api/v1/accounts/sign-in", As::Nobody, Some(&wrong)).refused(401, "password");

    // Bad input: 4xx JSON sentences, nothing panics.
    let long_handle =
        json!({ "handle": "a".repeat(200), "email": "x@example.com", "password": password("x") });
    call(&server, "POST", "/api/v1/accounts/sign-up", As::Nobody, Some(&long_handle)).refused(400, "handle");
    let bad_email = json!({ "handle": "bea", "email": "not-an-email", "password": password("bea") });
    call(&server, "POST", "/api/v1/accounts/sign-up", As::Nobody, Some(&bad_email)).refused(400, "email");
    let duplicate = json!({ "handle": "ada", "email": "other@example.com", "password": password("ada") });
    call(&server, "POST", "/api/v1/accounts/sign-up", As::Nobody, Some(&duplicate)).refused(409, "ada");
    let ada_id = ada["id"].as_str().expect("id");
    call(
        &server,
        "PATCH",
        &format!("/api/v1/accounts/users/{ada_id}"),
        As::Bearer(TOKEN),
        Some(&json!({ "role": "owner" })),
    )
    .refused(400, "viewer, uploader, admin");
    call(&server, "GET", "/api/v1/accounts/me", As::Bearer("cdlc_s_forged"), None).refused(401, "");
    call(&server, "GET", "/api/v1/assets", As::Bearer("not-a-token"), None).refused(401, "cdlc_k_");
    let (status, body) = server.curl(
        &["-X", "POST", "-H", "content-type: application/json", "--data", "{\"login\":"],
        "/api/v1/accounts/sign-in",
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("\"code\":\"bad_request\""), "{body}");

    // A viewer cannot upload; an uploader can, and owns the asset.
    let viewer = sign_in(&server, "ada");
    upload(&server, &clip, As::Bearer(&viewer)).refused(403, "uploader");
    let bob = sign_up(&server, "bob");
    set_role(&server, bob["id"].as_str().expect("id"), "uploader");
    let uploader = sign_in(&server, "bob");
    let uploaded = upload(&server, &clip, As::Bearer(&uploader));
    assert_eq!(uploaded.status, 201, "{}", uploaded.body);
    let bobs_asset = uploaded.body["id"].as_str().expect("asset id").to_owned();
    call(&server, "DELETE", &format!("/api/v1/assets/{bobs_asset}"), As::Bearer(&viewer), None)
        .refused(403, "uploader");

    // API keys: with assets:write an upload works, without it 403, revoked or expired 401.
    let (_, writer) = create_key(&server, &uploader, &["assets:write"]);
    assert!(writer.starts_with("cdlc_k_"), "{writer}");
    let by_key = upload(&server, &clip, As::Bearer(&writer));
    assert_eq!(by_key.status, 201, "{}", by_key.body);
    let (_, purger) = create_key(&server, &uploader, &["edge:purge"]);
    upload(&server, &clip, As::Bearer(&purger)).refused(403, "assets:write");
    let (revoked_id, revoked) = create_key(&server, &uploader, &["assets:write"]);
    let answer = call(
        &server,
        "DELETE",
        &format!("/api/v1/accounts/me/api-keys/{revoked_id}"),
        As::Bearer(&uploader),
        None,
    );
    assert_eq!(answer.status, 204, "{}", answer.body);
    upload(&server, &clip, As::Bearer(&revoked)).refused(401, "");
    let (expired_id, expired) = create_key(&server, &uploader, &["assets:write"]);
    {
        let db = rusqlite::Connection::open(data.join("stores/accounts.db")).expect("accounts.db");
        let changed = db
            .execute("UPDATE api_keys SET expires_at = 1000 WHERE id = ?1", [&expired_id])
            .expect("expire the key");
        assert_eq!(changed, 1);
    }
    upload(&server, &clip, As::Bearer(&expired)).refused(401, "");
    // The uploader deletes their own asset.
    let answer =
        call(&server, "DELETE", &format!("/api/v1/assets/{bobs_asset}"), As::Bearer(&uploader), None);
    assert_eq!(answer.status, 204, "{}", answer.body);

    // The web UI's cookie: HttpOnly, SameSite=Strict; a write without the CSRF header is 403.
    let body = json!({ "login": "ada", "password": password("ada") });
    let signed_in = call(&server, "POST", "/api/v1/accounts/sign-in", As::Nobody, Some(&body));
    assert_eq!(signed_in.status, 200, "{}", signed_in.body);
    let cookie = signed_in.header("set-cookie").expect("a session cookie").to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(signed_in.body.get("token").is_none(), "the cookie mode never puts the token in the body");
    let cookie_session =
        cookie.split(';').next().and_then(|c| c.strip_prefix("cdlc_session=")).expect("value");
    let csrf = signed_in.body["csrf_token"].as_str().expect("csrf token");
    let change = json!({ "display_name": "Ada L." });
    call(
        &server,
        "PATCH",
        "/api/v1/accounts/me",
        As::Cookie { session: cookie_session, csrf: None },
        Some(&change),
    )
    .refused(403, "X-CSRF-Token");
    let answer = call(
        &server,
        "PATCH",
        "/api/v1/accounts/me",
        As::Cookie { session: cookie_session, csrf: Some(csrf) },
        Some(&change),
    );
    assert_eq!(
        (answer.status, answer.body["user"]["display_name"].as_str()),
        (200, Some("Ada L.")),
        "{}",
        answer.body
    );

    // The sample plugins: mounted through config, the principal, an event published and consumed.
    call(&server, "POST", "/api/v1/guestbook/entries", As::Nobody, Some(&json!({ "message": "hi" })))
        .refused(401, "sign in");
    let signed = call(
        &server,
        "POST",
        "/api/v1/guestbook/entries",
        As::Bearer(&viewer),
        Some(&json!({ "message": "hi" })),
    );
    assert_eq!(signed.status, 201, "{}", signed.body);
    call(
        &server,
        "POST",
        "/api/v1/guestbook/entries",
        As::Bearer(&viewer),
        Some(&json!({ "message": "x".repeat(41) })),
    )
    .refused(400, "at most 40 characters");
    let tally = || call(&server, "GET", "/api/v1/tally", As::Nobody, None).body["signatures"].as_i64();
    let deadline = Instant::now() + Duration::from_secs(10);
    while tally() != Some(1) {
        assert!(Instant::now() < deadline, "tally never consumed guestbook.signed: {:?}", tally());
        std::thread::sleep(Duration::from_millis(50));
    }
    let ready = call(&server, "GET", "/readyz", As::Nobody, None);
    assert_eq!(ready.body["plugins"]["guestbook"]["status"], "ready", "{}", ready.body);
    assert_eq!(ready.body["plugins"]["tally"]["status"], "degraded", "{}", ready.body);
    assert!(
        data.join("stores/guestbook.db").exists() && data.join("stores/tally.db").exists(),
        "a store each"
    );

    // Deleting the account removes its sessions and keys and calls every plugin's hook.
    let (_, adas_key) = create_key(&server, &viewer, &["catalog:import"]);
    let answer = call(
        &server,
        "DELETE",
        "/api/v1/accounts/me",
        As::Bearer(&viewer),
        Some(&json!({ "password": password("ada") })),
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["deleted"]["plugin_failures"], json!([]), "{}", answer.body);
    call(&server, "GET", "/api/v1/accounts/me", As::Bearer(&viewer), None).refused(401, "");
    call(&server, "GET", "/api/v1/accounts/me", As::Bearer(&adas_key), None).refused(401, "");
    let entries = call(&server, "GET", "/api/v1/guestbook/entries", As::Nobody, None);
    assert_eq!(entries.body, json!([]), "guestbook removed ada's entry");
    assert_eq!(tally(), Some(0), "tally removed ada's signature");
    let db = rusqlite::Connection::open(data.join("stores/accounts.db")).expect("accounts.db");
    let count = |sql: &str| db.query_row(sql, [ada_id], |row| row.get::<_, i64>(0)).expect(sql);
    assert_eq!(count("SELECT COUNT(*) FROM sessions WHERE user_id = ?1"), 0);
    assert_eq!(count("SELECT COUNT(*) FROM api_keys WHERE user_id = ?1"), 0);
    assert_eq!(count("SELECT COUNT(*) FROM users WHERE id = ?1"), 0);

    // What the accounts store holds: argon2id PHC strings, no token in clear.
    let hashes: Vec<String> = db
        .prepare("SELECT password_hash FROM users")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .expect("hashes");
    assert!(!hashes.is_empty());
    for hash in &hashes {
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
    }
    drop(db);
    let mut stored = Vec::new();
    for name in ["accounts.db", "accounts.db-wal"] {
        stored.extend(std::fs::read(data.join("stores").join(name)).unwrap_or_default());
    }
    let stored = String::from_utf8_lossy(&stored);
    for secret in [&uploader, &writer, &purger, &revoked, &expired, &session, &viewer, &adas_key] {
        let tail = &secret[secret.len() - 24..];
        assert!(!stored.contains(tail), "a credential is stored in clear: …{tail}");
    }
    assert!(!stored.contains(&password("bob")), "a password is stored in clear");
}

/// Twenty wrong passwords: the account's bucket runs dry and sign-in answers
/// 429 with Retry-After.
#[test]
fn repeated_wrong_passwords_are_rate_limited() {
    let dir = tempfile::tempdir().expect("tmp");
    let server = Server::start(&dir.path().join("data"), &[]);
    sign_up(&server, "cyd");
    let wrong = json!({ "login": "cyd", "password": "a wrong passphrase", "token": true });
    let answers: Vec<Answer> = (0..20)
        .map(|_| call(&server, "POST", "/api/v1/accounts/sign-in", As::Nobody, Some(&wrong)))
        .collect();
    assert_eq!(answers[0].status, 401, "{}", answers[0].body);
    let limited = answers.last().expect("20 answers");
    limited.refused(429, "");
    let retry: u64 = limited.header("retry-after").expect("Retry-After").parse().expect("seconds");
    assert!(retry >= 1, "{retry}");
    // The right password waits too: the bucket is the account's.
    let right = json!({ "login": "cyd", "password": password("cyd"), "token": true });
    assert_eq!(call(&server, "POST", "/api/v1/accounts/sign-in", As::Nobody, Some(&right)).status, 429);
}

/// The samples are off unless enabled; a section naming no plugin stops the server.
#[test]
fn plugins_follow_the_config() {
    let dir = tempfile::tempdir().expect("tmp");
    let server = start_with_config(
        &dir.path().join("on"),
        "[plugins.guestbook]\nenabled = true\n[plugins.tally]\nenabled = false\n",
    );
    assert_eq!(call(&server, "GET", "/api/v1/guestbook/entries", As::Nobody, None).status, 200);
    assert_eq!(call(&server, "GET", "/api/v1/tally", As::Nobody, None).status, 404, "disabled by config");
    assert!(!dir.path().join("on/stores/tally.db").exists(), "a disabled plugin gets no store");
    drop(server);
    let server = Server::start(&dir.path().join("default"), &[]);
    assert_eq!(
        call(&server, "GET", "/api/v1/guestbook/entries", As::Nobody, None).status,
        404,
        "off by default"
    );
    drop(server);

    let file = dir.path().join("typo.toml");
    std::fs::write(&file, "[plugins.guestbok]\n").expect("config");
    let output = std::process::Command::new(crate::support::cdlc_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&file)
        .arg("--data-dir")
        .arg(dir.path().join("typo"))
        .env("CDLC_ADMIN_TOKEN", TOKEN)
        .output()
        .expect("run cdlc serve");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "a typo must stop the server");
    assert!(
        stderr.contains("[plugins.guestbok]")
            && stderr.contains("known: catalog, guestbook, tally, booking, social, analytics"),
        "{stderr}"
    );
}

/// Accounts (and the asset owners) on a real MariaDB: `stores = mysql://…`
/// through sign-up, roles and an upload; then the server is killed and the
/// accounts routes answer 503 with a sentence, not a hang.
#[test]
fn accounts_on_mysql_sign_up_upload_and_answer_503_when_the_server_is_gone() {
    let mariadb = cdlc_testkit::mariadb::MariaDbServer::start();
    let dir = tempfile::tempdir().expect("tmp");
    let stores = mariadb.url(&mariadb.fresh_prefix());
    let server = Server::start(&dir.path().join("data"), &[("CDLC_STORES", &stores)]);
    let alice = sign_up(&server, "alice");
    set_role(&server, alice["id"].as_str().expect("id"), "uploader");
    let token = sign_in(&server, "alice");
    let (_clip_dir, clip) = crate::server::clip(1);
    let uploaded = upload(&server, &clip, As::Bearer(&token));
    assert_eq!(uploaded.status, 201, "{}", uploaded.body);
    let me = call(&server, "GET", "/api/v1/accounts/me", As::Bearer(&token), None);
    assert_eq!((me.status, me.body["user"]["handle"].as_str()), (200, Some("alice")), "{}", me.body);

    drop(mariadb);
    let started = Instant::now();
    let body = json!({ "login": "alice", "password": password("alice"), "token": true });
    let refused = call(&server, "POST", "/api/v1/accounts/sign-in", As::Nobody, Some(&body));
    refused.refused(503, "database server is not answering");
    assert!(refused.header("retry-after").is_some(), "{:?}", refused.headers);
    assert!(started.elapsed() < Duration::from_secs(15), "an answer, not a hang: {:?}", started.elapsed());
}
