//! The accounts routes (mounted by the server at `/api/v1/accounts`) and
//! the authentication middleware every API route sits behind.
//!
//! Credentials, in the order they are looked at:
//! 1. `Authorization: Bearer …`: the root token, a session token
//!    (`cdlc_s_…`) or an API key (`cdlc_k_…`). One that is malformed,
//!    unknown, revoked or expired answers 401 at once.
//! 2. The `cdlc_session` cookie (HttpOnly, SameSite=Strict, Secure when
//!    configured), set by a sign-in in cookie mode for the web UI. A write
//!    (any method but GET, HEAD, OPTIONS) must also carry `X-CSRF-Token`
//!    with the value sign-in and `GET /me` return; without it the request
//!    counts as `Principal::CsrfMissing`, which every route that needs a user
//!    refuses with 403. A stale cookie counts as anonymous, so signing in
//!    again works.
//! 3. Nothing: anonymous.
//!
//! Account management (password, sessions, keys, deletion) needs a session:
//! an API key cannot mint more keys or delete its owner.

use std::net::SocketAddr;

use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, Request, State};
use axum::http::header::{AUTHORIZATION, COOKIE, SET_COOKIE, USER_AGENT};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Router;
use cdlc_plugin_api::{ApiError, Credential, Identity, Json, Principal, Role};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::secret::{self, KEY_PREFIX, SESSION_PREFIX};
use crate::{AccountError, Accounts, NewApiKey, ProfileChange, SignUp};

pub const SESSION_COOKIE: &str = "cdlc_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The middleware: `.layer(axum::middleware::from_fn_with_state(accounts, authenticate))`.
pub async fn authenticate(State(accounts): State<Accounts>, mut request: Request, next: Next) -> Response {
    match principal_of(&accounts, request.headers(), request.method()).await {
        Ok(principal) => {
            request.extensions_mut().insert(principal);
            next.run(request).await
        }
        Err(error) => error.into_response(),
    }
}

fn root_identity() -> Identity {
    Identity {
        user_id: "root".into(),
        handle: "root".into(),
        role: Role::Admin,
        credential: Credential::Root,
    }
}

/// The principal of a request's headers.
pub async fn principal_of(
    accounts: &Accounts,
    headers: &HeaderMap,
    method: &Method,
) -> Result<Principal, ApiError> {
    if let Some(value) = headers.get(AUTHORIZATION) {
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::unauthorized("send the credential as `Authorization: Bearer TOKEN`"))?;
        let identity = if accounts.is_root_token(token) {
            root_identity()
        } else if token.starts_with(SESSION_PREFIX) {
            accounts.session_identity(token, false).await?
        } else if token.starts_with(KEY_PREFIX) {
            accounts.key_identity(token).await?
        } else {
            return Err(ApiError::unauthorized(
                "the bearer token is neither a session token (cdlc_s_…), an API key (cdlc_k_…) nor the root token",
            ));
        };
        return Ok(Principal::User(identity));
    }
    let Some(token) = session_cookie(headers) else { return Ok(Principal::Anonymous) };
    match accounts.session_identity(&token, true).await {
        Ok(identity) => {
            let safe = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
            let csrf_ok = headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| secret::same(v, &secret::csrf_token(&token)));
            Ok(if safe || csrf_ok { Principal::User(identity) } else { Principal::CsrfMissing })
        }
        Err(AccountError::Unauthorized(_)) => Ok(Principal::Anonymous),
        Err(other) => Err(other.into()),
    }
}

fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim().to_owned())
}

fn cookie_header(accounts: &Accounts, value: &str, max_age: u64) -> HeaderValue {
    let secure = if accounts.config().secure_cookie { "; Secure" } else { "" };
    let cookie =
        format!("{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}");
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static("cdlc_session=; Max-Age=0"))
}

/// The routes, relative to where the server mounts them; they expect the
/// `authenticate` middleware in front.
pub fn router(accounts: Accounts) -> Router {
    Router::new()
        .route("/sign-up", post(sign_up))
        .route("/sign-in", post(sign_in))
        .route("/sign-out", post(sign_out))
        .route("/me", get(me).patch(update_me).delete(delete_me))
        .route("/me/password", post(change_password))
        .route("/me/sessions", get(my_sessions))
        .route("/me/sessions/{id}", delete(revoke_session))
        .route("/me/api-keys", get(my_keys).post(create_key))
        .route("/me/api-keys/{id}", delete(revoke_key))
        .route("/users", get(list_users))
        .route("/users/{id}", get(get_user).patch(change_user).delete(delete_user))
        .route("/users/{id}/password", post(reset_password))
        .route("/invites", post(create_invite))
        .with_state(accounts)
}

/// Where a request comes from, for the rate limits and the session list.
struct Client {
    ip: String,
    user_agent: String,
}

impl FromRequestParts<Accounts> for Client {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, accounts: &Accounts) -> Result<Client, ApiError> {
        let forwarded = accounts
            .config()
            .trust_forwarded_for
            .then(|| parts.headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()))
            .flatten()
            .and_then(|v| v.rsplit(',').next())
            .map(|ip| ip.trim().to_owned());
        let connected = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string());
        let user_agent = parts.headers.get(USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        Ok(Client { ip: forwarded.or(connected).unwrap_or_else(|| "unknown".into()), user_agent })
    }
}

/// The session behind a request, or 403 for another credential.
fn require_session(principal: &Principal) -> Result<(&Identity, &str), ApiError> {
    let identity = principal.require_user()?;
    match &identity.credential {
        Credential::Session { session_id, .. } => Ok((identity, session_id)),
        _ => Err(ApiError::forbidden(
            "manage the account from a signed-in session, not with an API key or the root token",
        )),
    }
}

async fn sign_up(
    State(accounts): State<Accounts>,
    Json(request): Json<SignUp>,
) -> Result<Response, ApiError> {
    let user = accounts.sign_up(request).await?;
    Ok((StatusCode::CREATED, Json(json!({ "user": user }))).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignIn {
    /// A handle or an email address.
    login: String,
    password: String,
    /// true: answer the session token in the body (API clients) instead of
    /// setting the cookie (the web UI).
    #[serde(default)]
    token: bool,
}

async fn sign_in(
    State(accounts): State<Accounts>,
    client: Client,
    Json(request): Json<SignIn>,
) -> Result<Response, ApiError> {
    let (user, session) =
        accounts.sign_in(&request.login, &request.password, &client.ip, &client.user_agent).await?;
    let mut body = json!({ "user": user, "session": session.session, "csrf_token": session.csrf_token });
    if request.token {
        body["token"] = Value::String(session.token);
        return Ok(Json(body).into_response());
    }
    let max_age = accounts.config().session_max.as_secs();
    let mut response = Json(body).into_response();
    response.headers_mut().insert(SET_COOKIE, cookie_header(&accounts, &session.token, max_age));
    Ok(response)
}

async fn sign_out(State(accounts): State<Accounts>, principal: Principal) -> Result<Response, ApiError> {
    let identity = principal.require_user()?;
    let Credential::Session { session_id, .. } = &identity.credential else {
        return Err(ApiError::bad_request(
            "sign-out ends a session; revoke an API key with DELETE /api/v1/accounts/me/api-keys/{id}",
        ));
    };
    accounts.end_session(session_id).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(SET_COOKIE, cookie_header(&accounts, "", 0));
    Ok(response)
}

async fn me(
    State(accounts): State<Accounts>,
    principal: Principal,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let identity = principal.require_user()?;
    let user = accounts.user(&identity.user_id).await?;
    let mut body = json!({ "user": user });
    if let Credential::Session { cookie: true, .. } = identity.credential {
        if let Some(token) = session_cookie(&headers) {
            body["csrf_token"] = Value::String(secret::csrf_token(&token));
        }
    }
    Ok(Json(body))
}

async fn update_me(
    State(accounts): State<Accounts>,
    principal: Principal,
    Json(change): Json<ProfileChange>,
) -> Result<Json<Value>, ApiError> {
    let identity = principal.require_user()?;
    let user = accounts.update_profile(&identity.user_id, change).await?;
    Ok(Json(json!({ "user": user })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordChange {
    current: String,
    new: String,
}

async fn change_password(
    State(accounts): State<Accounts>,
    principal: Principal,
    Json(change): Json<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    let (identity, session_id) = require_session(&principal)?;
    accounts.change_password(&identity.user_id, &change.current, &change.new, Some(session_id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordOnly {
    password: String,
}

async fn delete_me(
    State(accounts): State<Accounts>,
    principal: Principal,
    Json(confirm): Json<PasswordOnly>,
) -> Result<Response, ApiError> {
    let (identity, _) = require_session(&principal)?;
    let deletion = accounts.delete_own_account(&identity.user_id, &confirm.password).await?;
    let mut response = Json(json!({ "deleted": deletion })).into_response();
    response.headers_mut().insert(SET_COOKIE, cookie_header(&accounts, "", 0));
    Ok(response)
}

async fn my_sessions(
    State(accounts): State<Accounts>,
    principal: Principal,
) -> Result<Json<Value>, ApiError> {
    let (identity, current) = require_session(&principal)?;
    let sessions = accounts.sessions(&identity.user_id).await?;
    let items: Vec<Value> = sessions
        .into_iter()
        .map(|s| {
            let is_current = s.id == current;
            let mut item = json!(s);
            item["current"] = Value::Bool(is_current);
            item
        })
        .collect();
    Ok(Json(json!({ "items": items })))
}

async fn revoke_session(
    State(accounts): State<Accounts>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let (identity, _) = require_session(&principal)?;
    accounts.revoke_session(&identity.user_id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn my_keys(State(accounts): State<Accounts>, principal: Principal) -> Result<Json<Value>, ApiError> {
    let (identity, _) = require_session(&principal)?;
    Ok(Json(json!({ "items": accounts.api_keys(&identity.user_id).await? })))
}

async fn create_key(
    State(accounts): State<Accounts>,
    principal: Principal,
    Json(request): Json<NewApiKey>,
) -> Result<Response, ApiError> {
    let (identity, _) = require_session(&principal)?;
    let (key, secret) = accounts.create_api_key(&identity.user_id, request).await?;
    Ok((StatusCode::CREATED, Json(json!({ "key": key, "secret": secret }))).into_response())
}

async fn revoke_key(
    State(accounts): State<Accounts>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let (identity, _) = require_session(&principal)?;
    accounts.revoke_api_key(&identity.user_id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    limit: Option<u32>,
    cursor: Option<String>,
}

async fn list_users(
    State(accounts): State<Accounts>,
    principal: Principal,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    principal.require_role(Role::Admin)?;
    let Query(query) =
        query.map_err(|e| ApiError::bad_request(format!("the query string is wrong: {}", e.body_text())))?;
    let (items, next) = accounts.list_users(query.limit.unwrap_or(50), query.cursor.as_deref()).await?;
    Ok(Json(json!({ "items": items, "next": next })))
}

async fn get_user(
    State(accounts): State<Accounts>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    principal.require_role(Role::Admin)?;
    Ok(Json(json!({ "user": accounts.user(&id).await? })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserChange {
    role: String,
}

async fn change_user(
    State(accounts): State<Accounts>,
    principal: Principal,
    Path(id): Path<String>,
    Json(change): Json<UserChange>,
) -> Result<Json<Value>, ApiError> {
    principal.require_role(Role::Admin)?;
    let role = Role::parse(&change.role).map_err(ApiError::bad_request)?;
    Ok(Json(json!({ "user": accounts.set_role(&id, role).await? })))
}

async fn reset_password(
    State(accounts): State<Accounts>,
    principal: Principal,
    Path(id): Path<String>,
    Json(request): Json<PasswordOnly>,
) -> Result<StatusCode, ApiError> {
    principal.require_role(Role::Admin)?;
    accounts.reset_password(&id, &request.password).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_user(
    State(accounts): State<Accounts>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    principal.require_role(Role::Admin)?;
    Ok(Json(json!({ "deleted": accounts.delete_user(&id).await? })))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct InviteRequest {
    role: Option<String>,
}

async fn create_invite(
    State(accounts): State<Accounts>,
    principal: Principal,
    Json(request): Json<InviteRequest>,
) -> Result<Response, ApiError> {
    let admin = principal.require_role(Role::Admin)?;
    let role = request
        .role
        .as_deref()
        .map(Role::parse)
        .transpose()
        .map_err(ApiError::bad_request)?
        .unwrap_or(Role::Viewer);
    let code = accounts.create_invite(&admin.user_id, role).await?;
    Ok((StatusCode::CREATED, Json(json!({ "code": code, "role": role }))).into_response())
}
