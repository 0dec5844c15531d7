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
use cdlc_plugin_api::{ApiError, ApiRouter, Credential, Identity, Json, Principal, Role};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::secret::{self, KEY_PREFIX, SESSION_PREFIX};
use crate::{
    AccountError, Accounts, ApiKeyInfo, Deletion, NewApiKey, ProfileChange, SessionInfo, SignUp, User,
};

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

/// The routes with their OpenAPI description, relative to where the
/// server mounts them (every operation tagged `accounts`); they expect the
/// `authenticate` middleware in front.
pub fn router(accounts: Accounts) -> ApiRouter {
    OpenApiRouter::new()
        .routes(routes!(sign_up))
        .routes(routes!(sign_in))
        .routes(routes!(sign_out))
        .routes(routes!(me, update_me, delete_me))
        .routes(routes!(change_password))
        .routes(routes!(my_sessions))
        .routes(routes!(revoke_session))
        .routes(routes!(my_keys, create_key))
        .routes(routes!(revoke_key))
        .routes(routes!(list_users))
        .routes(routes!(get_user, change_user, delete_user))
        .routes(routes!(reset_password))
        .routes(routes!(create_invite))
        .with_state(accounts)
}

/// An account, alone.
#[derive(Serialize, ToSchema)]
struct UserAnswer {
    user: User,
}

/// A session just opened.
#[derive(Serialize, ToSchema)]
struct SignedIn {
    user: User,
    session: SessionInfo,
    /// The `X-CSRF-Token` value every cookie-authenticated write must carry.
    csrf_token: String,
    /// The session token (`cdlc_s_…`), only when the request asked for it
    /// (`"token": true`); otherwise it is in the `cdlc_session` cookie.
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
}

/// The signed-in account.
#[derive(Serialize, ToSchema)]
struct Me {
    user: User,
    /// The `X-CSRF-Token` value, when signed in by cookie.
    #[serde(skip_serializing_if = "Option::is_none")]
    csrf_token: Option<String>,
}

/// A session of mine, and whether it is the one asking.
#[derive(Serialize, ToSchema)]
struct MySession {
    #[serde(flatten)]
    session: SessionInfo,
    current: bool,
}

#[derive(Serialize, ToSchema)]
struct MySessions {
    items: Vec<MySession>,
}

#[derive(Serialize, ToSchema)]
struct MyKeys {
    items: Vec<ApiKeyInfo>,
}

/// A new API key: its secret is shown this once.
#[derive(Serialize, ToSchema)]
struct CreatedKey {
    key: ApiKeyInfo,
    /// `cdlc_k_{prefix}_…`: send it as `Authorization: Bearer …`.
    secret: String,
}

/// A page of accounts.
#[derive(Serialize, ToSchema)]
struct UsersPage {
    items: Vec<User>,
    /// The cursor of the next page; null on the last.
    next: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct Deleted {
    deleted: Deletion,
}

/// An invite code for sign-up (when sign-up is invite-only).
#[derive(Serialize, ToSchema)]
struct Invite {
    code: String,
    role: Role,
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

/// Create an account.
///
/// Open sign-up makes a viewer; invite-only sign-up needs `invite`, whose
/// role the account gets. No credential needed.
#[utoipa::path(post, path = "/sign-up", tag = "accounts", request_body = SignUp, responses(
    (status = 201, description = "The account was created.", body = UserAnswer),
    (status = 400, description = "A field is out of bounds or malformed.", body = ApiError),
    (status = 403, description = "Sign-up is closed, or needs a valid invite.", body = ApiError),
    (status = 409, description = "The handle or email is taken.", body = ApiError),
))]
async fn sign_up(
    State(accounts): State<Accounts>,
    Json(request): Json<SignUp>,
) -> Result<Response, ApiError> {
    let user = accounts.sign_up(request).await?;
    Ok((StatusCode::CREATED, Json(UserAnswer { user })).into_response())
}

#[derive(Deserialize, ToSchema)]
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

/// Sign in: open a session.
///
/// The web UI gets the `cdlc_session` cookie (HttpOnly, SameSite=Strict);
/// with `"token": true` the session token comes in the body instead. Rate
/// limited per account and per client IP.
#[utoipa::path(post, path = "/sign-in", tag = "accounts", request_body = SignIn, responses(
    (status = 200, description = "Signed in.", body = SignedIn,
        headers(("set-cookie" = String, description = "The session cookie, unless `token` was asked for."))),
    (status = 400, description = "The body is malformed.", body = ApiError),
    (status = 401, description = "The handle, email or password is wrong.", body = ApiError),
    (status = 429, description = "Too many attempts.", body = ApiError,
        headers(("retry-after" = u64, description = "Seconds to wait."))),
))]
async fn sign_in(
    State(accounts): State<Accounts>,
    client: Client,
    Json(request): Json<SignIn>,
) -> Result<Response, ApiError> {
    let (user, session) =
        accounts.sign_in(&request.login, &request.password, &client.ip, &client.user_agent).await?;
    let mut body = SignedIn { user, session: session.session, csrf_token: session.csrf_token, token: None };
    if request.token {
        body.token = Some(session.token);
        return Ok(Json(body).into_response());
    }
    let max_age = accounts.config().session_max.as_secs();
    let mut response = Json(body).into_response();
    response.headers_mut().insert(SET_COOKIE, cookie_header(&accounts, &session.token, max_age));
    Ok(response)
}

/// Sign out: end the session asking.
///
/// Needs a session (a bearer session token, or the cookie and the CSRF header).
#[utoipa::path(post, path = "/sign-out", tag = "accounts",
    security(("bearer" = []), ("session_cookie" = [], "csrf" = [])),
    responses(
        (status = 204, description = "The session is revoked and the cookie cleared."),
        (status = 400, description = "The credential is an API key, which sign-out does not end.", body = ApiError),
        (status = 401, description = "Not signed in.", body = ApiError),
        (status = 403, description = "A cookie write without the CSRF header.", body = ApiError),
    ))]
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

/// My account.
///
/// Any credential of a user; signed in by cookie, the answer carries the CSRF token.
#[utoipa::path(get, path = "/me", tag = "accounts",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "The account.", body = Me),
        (status = 401, description = "Not signed in.", body = ApiError),
    ))]
async fn me(
    State(accounts): State<Accounts>,
    principal: Principal,
    headers: HeaderMap,
) -> Result<Json<Me>, ApiError> {
    let identity = principal.require_user()?;
    let user = accounts.user(&identity.user_id).await?;
    let csrf_token = match identity.credential {
        Credential::Session { cookie: true, .. } => session_cookie(&headers).map(|t| secret::csrf_token(&t)),
        _ => None,
    };
    Ok(Json(Me { user, csrf_token }))
}

/// Change my profile and preferences.
///
/// Any credential of a user (a cookie write also needs the CSRF header).
#[utoipa::path(patch, path = "/me", tag = "accounts", request_body = ProfileChange,
    security(("bearer" = []), ("session_cookie" = [], "csrf" = [])),
    responses(
        (status = 200, description = "The changed account.", body = UserAnswer),
        (status = 400, description = "A field is out of bounds or malformed.", body = ApiError),
        (status = 401, description = "Not signed in.", body = ApiError),
        (status = 403, description = "A cookie write without the CSRF header.", body = ApiError),
    ))]
async fn update_me(
    State(accounts): State<Accounts>,
    principal: Principal,
    Json(change): Json<ProfileChange>,
) -> Result<Json<UserAnswer>, ApiError> {
    let identity = principal.require_user()?;
    let user = accounts.update_profile(&identity.user_id, change).await?;
    Ok(Json(UserAnswer { user }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PasswordChange {
    current: String,
    new: String,
}

/// Change my password; my other sessions end.
///
/// Needs a session (a bearer session token, or the cookie and the CSRF
/// header), not an API key.
#[utoipa::path(post, path = "/me/password", tag = "accounts", request_body = PasswordChange,
    security(("bearer" = []), ("session_cookie" = [], "csrf" = [])),
    responses(
        (status = 204, description = "Changed."),
        (status = 400, description = "The new password is out of bounds, or the body is malformed.", body = ApiError),
        (status = 401, description = "Not signed in, or the current password is wrong.", body = ApiError),
        (status = 403, description = "Not a session, or a cookie write without the CSRF header.", body = ApiError),
    ))]
async fn change_password(
    State(accounts): State<Accounts>,
    principal: Principal,
    Json(change): Json<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    let (identity, session_id) = require_session(&principal)?;
    accounts.change_password(&identity.user_id, &change.current, &change.new, Some(session_id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PasswordOnly {
    password: String,
}

/// Delete my account, its sessions and keys, and what every plugin holds of me.
///
/// Needs a session (a bearer session token, or the cookie and the CSRF
/// header) and the password.
#[utoipa::path(delete, path = "/me", tag = "accounts", request_body = PasswordOnly,
    security(("bearer" = []), ("session_cookie" = [], "csrf" = [])),
    responses(
        (status = 200, description = "Deleted; the cookie is cleared.", body = Deleted),
        (status = 400, description = "The body is malformed.", body = ApiError),
        (status = 401, description = "Not signed in, or the password is wrong.", body = ApiError),
        (status = 403, description = "Not a session, or a cookie write without the CSRF header.", body = ApiError),
    ))]
async fn delete_me(
    State(accounts): State<Accounts>,
    principal: Principal,
    Json(confirm): Json<PasswordOnly>,
) -> Result<Response, ApiError> {
    let (identity, _) = require_session(&principal)?;
    let deletion = accounts.delete_own_account(&identity.user_id, &confirm.password).await?;
    let mut response = Json(Deleted { deleted: deletion }).into_response();
    response.headers_mut().insert(SET_COOKIE, cookie_header(&accounts, "", 0));
    Ok(response)
}

/// My sessions.
///
/// Needs a session (a bearer session token or the cookie), not an API key.
#[utoipa::path(get, path = "/me/sessions", tag = "accounts",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "Every open session of mine.", body = MySessions),
        (status = 401, description = "Not signed in.", body = ApiError),
        (status = 403, description = "Not a session.", body = ApiError),
    ))]
async fn my_sessions(
    State(accounts): State<Accounts>,
    principal: Principal,
) -> Result<Json<MySessions>, ApiError> {
    let (identity, current) = require_session(&principal)?;
    let sessions = accounts.sessions(&identity.user_id).await?;
    let items =
        sessions.into_iter().map(|session| MySession { current: session.id == current, session }).collect();
    Ok(Json(MySessions { items }))
}

/// Revoke one of my sessions.
///
/// Needs a session (a bearer session token, or the cookie and the CSRF header).
#[utoipa::path(delete, path = "/me/sessions/{id}", tag = "accounts",
    params(("id" = String, Path, description = "The session's id.")),
    security(("bearer" = []), ("session_cookie" = [], "csrf" = [])),
    responses(
        (status = 204, description = "Revoked."),
        (status = 401, description = "Not signed in.", body = ApiError),
        (status = 403, description = "Not a session, or a cookie write without the CSRF header.", body = ApiError),
        (status = 404, description = "No such session of mine.", body = ApiError),
    ))]
async fn revoke_session(
    State(accounts): State<Accounts>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let (identity, _) = require_session(&principal)?;
    accounts.revoke_session(&identity.user_id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// My API keys (never their secrets).
///
/// Needs a session (a bearer session token or the cookie), not an API key.
#[utoipa::path(get, path = "/me/api-keys", tag = "accounts",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "Every key of mine.", body = MyKeys),
        (status = 401, description = "Not signed in.", body = ApiError),
        (status = 403, description = "Not a session.", body = ApiError),
    ))]
async fn my_keys(State(accounts): State<Accounts>, principal: Principal) -> Result<Json<MyKeys>, ApiError> {
    let (identity, _) = require_session(&principal)?;
    Ok(Json(MyKeys { items: accounts.api_keys(&identity.user_id).await? }))
}

/// Create an API key with some of my role's scopes; its secret is shown this once.
///
/// Needs a session (a bearer session token, or the cookie and the CSRF header).
#[utoipa::path(post, path = "/me/api-keys", tag = "accounts", request_body = NewApiKey,
    security(("bearer" = []), ("session_cookie" = [], "csrf" = [])),
    responses(
        (status = 201, description = "Created.", body = CreatedKey),
        (status = 400, description = "A name, scope or expiry is out of bounds.", body = ApiError),
        (status = 401, description = "Not signed in.", body = ApiError),
        (status = 403, description = "Not a session, or a cookie write without the CSRF header.", body = ApiError),
    ))]
async fn create_key(
    State(accounts): State<Accounts>,
    principal: Principal,
    Json(request): Json<NewApiKey>,
) -> Result<Response, ApiError> {
    let (identity, _) = require_session(&principal)?;
    let (key, secret) = accounts.create_api_key(&identity.user_id, request).await?;
    Ok((StatusCode::CREATED, Json(CreatedKey { key, secret })).into_response())
}

/// Revoke one of my API keys.
///
/// Needs a session (a bearer session token, or the cookie and the CSRF header).
#[utoipa::path(delete, path = "/me/api-keys/{id}", tag = "accounts",
    params(("id" = String, Path, description = "The key's id.")),
    security(("bearer" = []), ("session_cookie" = [], "csrf" = [])),
    responses(
        (status = 204, description = "Revoked."),
        (status = 401, description = "Not signed in.", body = ApiError),
        (status = 403, description = "Not a session, or a cookie write without the CSRF header.", body = ApiError),
        (status = 404, description = "No such key of mine.", body = ApiError),
    ))]
async fn revoke_key(
    State(accounts): State<Accounts>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let (identity, _) = require_session(&principal)?;
    accounts.revoke_api_key(&identity.user_id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Accounts per page, at most 200 (default 50).
    limit: Option<u32>,
    /// `next` of the previous page.
    cursor: Option<String>,
}

/// Every account, a page at a time.
///
/// Needs role admin.
#[utoipa::path(get, path = "/users", tag = "accounts", params(ListQuery),
    security(("bearer" = ["admin"]), ("session_cookie" = ["admin"])),
    responses(
        (status = 200, description = "A page of accounts.", body = UsersPage),
        (status = 400, description = "The query string is wrong.", body = ApiError),
        (status = 401, description = "Not signed in.", body = ApiError),
        (status = 403, description = "Not an admin.", body = ApiError),
    ))]
async fn list_users(
    State(accounts): State<Accounts>,
    principal: Principal,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<UsersPage>, ApiError> {
    principal.require_role(Role::Admin)?;
    let Query(query) =
        query.map_err(|e| ApiError::bad_request(format!("the query string is wrong: {}", e.body_text())))?;
    let (items, next) = accounts.list_users(query.limit.unwrap_or(50), query.cursor.as_deref()).await?;
    Ok(Json(UsersPage { items, next }))
}

/// One account.
///
/// Needs role admin.
#[utoipa::path(get, path = "/users/{id}", tag = "accounts",
    params(("id" = String, Path, description = "The account's id.")),
    security(("bearer" = ["admin"]), ("session_cookie" = ["admin"])),
    responses(
        (status = 200, description = "The account.", body = UserAnswer),
        (status = 401, description = "Not signed in.", body = ApiError),
        (status = 403, description = "Not an admin.", body = ApiError),
        (status = 404, description = "No such account.", body = ApiError),
    ))]
async fn get_user(
    State(accounts): State<Accounts>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<UserAnswer>, ApiError> {
    principal.require_role(Role::Admin)?;
    Ok(Json(UserAnswer { user: accounts.user(&id).await? }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UserChange {
    /// viewer, uploader or admin.
    role: String,
}

/// Change an account's role.
///
/// Needs role admin (a cookie write also needs the CSRF header).
#[utoipa::path(patch, path = "/users/{id}", tag = "accounts", request_body = UserChange,
    params(("id" = String, Path, description = "The account's id.")),
    security(("bearer" = ["admin"]), ("session_cookie" = ["admin"], "csrf" = [])),
    responses(
        (status = 200, description = "The changed account.", body = UserAnswer),
        (status = 400, description = "An unknown role, or a malformed body.", body = ApiError),
        (status = 401, description = "Not signed in.", body = ApiError),
        (status = 403, description = "Not an admin, or a cookie write without the CSRF header.", body = ApiError),
        (status = 404, description = "No such account.", body = ApiError),
    ))]
async fn change_user(
    State(accounts): State<Accounts>,
    principal: Principal,
    Path(id): Path<String>,
    Json(change): Json<UserChange>,
) -> Result<Json<UserAnswer>, ApiError> {
    principal.require_role(Role::Admin)?;
    let role = Role::parse(&change.role).map_err(ApiError::bad_request)?;
    Ok(Json(UserAnswer { user: accounts.set_role(&id, role).await? }))
}

/// Set an account's password; its sessions end.
///
/// Needs role admin (a cookie write also needs the CSRF header).
#[utoipa::path(post, path = "/users/{id}/password", tag = "accounts", request_body = PasswordOnly,
    params(("id" = String, Path, description = "The account's id.")),
    security(("bearer" = ["admin"]), ("session_cookie" = ["admin"], "csrf" = [])),
    responses(
        (status = 204, description = "Set."),
        (status = 400, description = "The password is out of bounds, or the body is malformed.", body = ApiError),
        (status = 401, description = "Not signed in.", body = ApiError),
        (status = 403, description = "Not an admin, or a cookie write without the CSRF header.", body = ApiError),
        (status = 404, description = "No such account.", body = ApiError),
    ))]
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

/// Delete an account, its sessions and keys, and what every plugin holds of it.
///
/// Needs role admin (a cookie write also needs the CSRF header).
#[utoipa::path(delete, path = "/users/{id}", tag = "accounts",
    params(("id" = String, Path, description = "The account's id.")),
    security(("bearer" = ["admin"]), ("session_cookie" = ["admin"], "csrf" = [])),
    responses(
        (status = 200, description = "Deleted.", body = Deleted),
        (status = 401, description = "Not signed in.", body = ApiError),
        (status = 403, description = "Not an admin, or a cookie write without the CSRF header.", body = ApiError),
        (status = 404, description = "No such account.", body = ApiError),
    ))]
async fn delete_user(
    State(accounts): State<Accounts>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Deleted>, ApiError> {
    principal.require_role(Role::Admin)?;
    Ok(Json(Deleted { deleted: accounts.delete_user(&id).await? }))
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
struct InviteRequest {
    /// The role the invited account gets: viewer (default), uploader or admin.
    role: Option<String>,
}

/// Make an invite code for sign-up.
///
/// Needs role admin (a cookie write also needs the CSRF header).
#[utoipa::path(post, path = "/invites", tag = "accounts", request_body = InviteRequest,
    security(("bearer" = ["admin"]), ("session_cookie" = ["admin"], "csrf" = [])),
    responses(
        (status = 201, description = "The code, valid for the configured time.", body = Invite),
        (status = 400, description = "An unknown role, or a malformed body.", body = ApiError),
        (status = 401, description = "Not signed in.", body = ApiError),
        (status = 403, description = "Not an admin, or a cookie write without the CSRF header.", body = ApiError),
    ))]
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
    Ok((StatusCode::CREATED, Json(Invite { code, role })).into_response())
}
