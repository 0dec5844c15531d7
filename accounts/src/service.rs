//! The accounts service: every operation, on the accounts store. The HTTP
//! routes (`http.rs`) are a thin layer over this.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cdlc_plugin_api::{
    params, Credential, Db, DeletedUser, FromRow, Identity, Migration, Role, Row, Scope, Sql, StoreError,
};

use crate::error::{invalid, AccountError};
use crate::limiter::Limiter;
use crate::model::*;
use crate::{secret, validate};

/// The accounts store's schema (portable SQL; see cdlc-plugin-store).
pub const MIGRATIONS: &[Migration] = &[Migration {
    name: "0001_accounts",
    statements: &[
        "CREATE TABLE users (
            id VARCHAR(36) PRIMARY KEY,
            handle VARCHAR(30) NOT NULL,
            email VARCHAR(254) NOT NULL,
            email_key VARCHAR(254) NOT NULL,
            display_name VARCHAR(80) NOT NULL,
            bio TEXT NOT NULL,
            avatar_key VARCHAR(200),
            role VARCHAR(16) NOT NULL,
            password_hash VARCHAR(255) NOT NULL,
            language VARCHAR(35) NOT NULL,
            subtitles BOOLEAN NOT NULL,
            autoplay BOOLEAN NOT NULL,
            maturity_limit BIGINT,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL
        )",
        "CREATE UNIQUE INDEX users_by_handle ON users (handle)",
        "CREATE UNIQUE INDEX users_by_email ON users (email_key)",
        "CREATE TABLE sessions (
            id VARCHAR(36) PRIMARY KEY,
            token_hash VARCHAR(64) NOT NULL,
            user_id VARCHAR(36) NOT NULL,
            created_at BIGINT NOT NULL,
            last_seen_at BIGINT NOT NULL,
            expires_at BIGINT NOT NULL,
            user_agent VARCHAR(200) NOT NULL,
            ip VARCHAR(64) NOT NULL
        )",
        "CREATE UNIQUE INDEX sessions_by_token ON sessions (token_hash)",
        "CREATE INDEX sessions_by_user ON sessions (user_id)",
        "CREATE TABLE api_keys (
            id VARCHAR(36) PRIMARY KEY,
            prefix VARCHAR(16) NOT NULL,
            secret_hash VARCHAR(64) NOT NULL,
            user_id VARCHAR(36) NOT NULL,
            name VARCHAR(80) NOT NULL,
            scopes TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            expires_at BIGINT,
            last_used_at BIGINT
        )",
        "CREATE UNIQUE INDEX api_keys_by_prefix ON api_keys (prefix)",
        "CREATE INDEX api_keys_by_user ON api_keys (user_id)",
        "CREATE TABLE invites (
            code_hash VARCHAR(64) PRIMARY KEY,
            role VARCHAR(16) NOT NULL,
            created_by VARCHAR(36) NOT NULL,
            created_at BIGINT NOT NULL,
            expires_at BIGINT NOT NULL,
            used_by VARCHAR(36)
        )",
    ],
}];

/// Writes of `last_seen_at` / `last_used_at` happen at most this often per
/// credential, so an active client does not write on every request.
pub const TOUCH_INTERVAL: Duration = Duration::from_secs(60);
/// Largest page of the admin's user list.
pub const MAX_PAGE: u32 = 200;

/// What the host does when an account is gone: tell every plugin.
#[async_trait]
pub trait UserDeletedHook: Send + Sync {
    /// The names of the plugins whose hook failed, each with its error.
    async fn user_deleted(&self, user: &DeletedUser) -> Vec<String>;
}

/// A deleted account and how the plugins took it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Deletion {
    pub user: DeletedUser,
    /// Plugins that failed to remove the user's data (the deletion may be
    /// retried by an admin; hooks are idempotent).
    pub plugin_failures: Vec<String>,
}

/// The accounts service. Cheap to clone.
#[derive(Clone)]
pub struct Accounts {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    config: AccountsConfig,
    per_account: Limiter,
    per_ip: Limiter,
    hook: Option<Arc<dyn UserDeletedHook>>,
}

impl std::fmt::Debug for Accounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accounts").field("db", &self.inner.db).finish_non_exhaustive()
    }
}

const USER_COLUMNS: &str = "id, handle, email, display_name, bio, avatar_key, role, language, subtitles, \
                            autoplay, maturity_limit, created_at";

impl FromRow for User {
    fn from_row(row: &Row) -> Result<User, StoreError> {
        let role: String = row.get("role")?;
        Ok(User {
            id: row.get("id")?,
            handle: row.get("handle")?,
            email: row.get("email")?,
            display_name: row.get("display_name")?,
            bio: row.get("bio")?,
            avatar_key: row.get("avatar_key")?,
            role: Role::parse(&role)
                .map_err(|message| StoreError::Decode { column: "role".into(), message })?,
            preferences: Preferences {
                language: row.get("language")?,
                subtitles: row.get("subtitles")?,
                autoplay: row.get("autoplay")?,
                maturity_limit: row.get::<Option<u32>>("maturity_limit")?.map(|v| v.min(255) as u8),
            },
            created_at: row.get("created_at")?,
        })
    }
}

impl FromRow for SessionInfo {
    fn from_row(row: &Row) -> Result<SessionInfo, StoreError> {
        Ok(SessionInfo {
            id: row.get("id")?,
            created_at: row.get("created_at")?,
            last_seen_at: row.get("last_seen_at")?,
            expires_at: row.get("expires_at")?,
            user_agent: row.get("user_agent")?,
            ip: row.get("ip")?,
        })
    }
}

fn parse_scopes(text: &str) -> Result<Vec<Scope>, StoreError> {
    text.split_whitespace()
        .map(|s| Scope::new(s).map_err(|message| StoreError::Decode { column: "scopes".into(), message }))
        .collect()
}

impl FromRow for ApiKeyInfo {
    fn from_row(row: &Row) -> Result<ApiKeyInfo, StoreError> {
        Ok(ApiKeyInfo {
            id: row.get("id")?,
            name: row.get("name")?,
            prefix: row.get("prefix")?,
            scopes: parse_scopes(&row.get::<String>("scopes")?)?,
            created_at: row.get("created_at")?,
            expires_at: row.get("expires_at")?,
            last_used_at: row.get("last_used_at")?,
        })
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Runs slow CPU work (argon2) off the async runtime.
async fn cpu<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(work).await {
        Ok(value) => value,
        Err(error) => std::panic::resume_unwind(error.into_panic()),
    }
}

fn no_user(id: &str) -> AccountError {
    AccountError::NotFound(format!("no user with id {id}"))
}

impl Accounts {
    /// Opens accounts on its store (migrating it). `hook` is told of every
    /// deleted account (the host passes its plugins').
    pub async fn open(
        db: Db,
        config: AccountsConfig,
        hook: Option<Arc<dyn UserDeletedHook>>,
    ) -> Result<Accounts, AccountError> {
        db.migrate(MIGRATIONS).await?;
        let per_account = Limiter::new(config.per_account, 100_000);
        let per_ip = Limiter::new(config.per_ip, 100_000);
        Ok(Accounts { inner: Arc::new(Inner { db, config, per_account, per_ip, hook }) })
    }

    pub fn config(&self) -> &AccountsConfig {
        &self.inner.config
    }

    fn db(&self) -> &Db {
        &self.inner.db
    }

    /// Creates an account, under the sign-up policy.
    pub async fn sign_up(&self, request: SignUp) -> Result<User, AccountError> {
        let handle = validate::handle(&request.handle).map_err(invalid)?;
        let email = validate::email(&request.email).map_err(invalid)?;
        validate::password(&request.password).map_err(invalid)?;
        let display_name = match &request.display_name {
            Some(name) => validate::display_name(name).map_err(invalid)?,
            None => handle.clone(),
        };
        let invite = match (self.inner.config.signup, request.invite.as_deref()) {
            (SignupPolicy::Closed, _) => {
                return Err(AccountError::SignupRefused(
                    "sign-up is closed on this server; ask an admin".into(),
                ))
            }
            (SignupPolicy::InviteOnly, None) => {
                return Err(AccountError::SignupRefused(
                    "sign-up on this server needs an invite code; ask an admin for one".into(),
                ))
            }
            (SignupPolicy::InviteOnly, Some(code)) => Some(secret::sha256_hex(code)),
            (SignupPolicy::Open, _) => None,
        };
        let password = request.password.clone();
        let password_hash = cpu(move || secret::hash_password(&password)).await;
        let id = uuid::Uuid::now_v7().to_string();
        let now = now_ms();
        let prefs = Preferences::default();
        let email_key = validate::email_key(&email);
        let inserted = self
            .db()
            .transaction(|tx| {
                let (id, handle, email, email_key, display_name, password_hash, invite, prefs) =
                    (&id, &handle, &email, &email_key, &display_name, &password_hash, &invite, &prefs);
                async move {
                    let mut role = Role::Viewer;
                    if let Some(code_hash) = invite {
                        let row: Option<Row> = tx
                            .query_opt("SELECT role FROM invites WHERE code_hash = ?", params![code_hash])
                            .await?;
                        let taken = tx
                            .execute(
                                "UPDATE invites SET used_by = ? WHERE code_hash = ? AND used_by IS NULL AND expires_at > ?",
                                params![id, code_hash, now],
                            )
                            .await?;
                        match row {
                            Some(row) if taken == 1 => {
                                role = Role::parse(&row.get::<String>("role")?)
                                    .map_err(|e| AccountError::Corrupt(format!("invite role: {e}")))?;
                            }
                            _ => {
                                return Err(AccountError::SignupRefused(
                                    "the invite code is unknown, used or expired; ask an admin for a new one".into(),
                                ))
                            }
                        }
                    }
                    tx.execute(
                        "INSERT INTO users (id, handle, email, email_key, display_name, bio, avatar_key, role, \
                         password_hash, language, subtitles, autoplay, maturity_limit, created_at, updated_at) \
                         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        params![
                            id,
                            handle,
                            email,
                            email_key,
                            display_name,
                            "",
                            None::<String>,
                            role.as_str(),
                            password_hash,
                            &prefs.language,
                            prefs.subtitles,
                            prefs.autoplay,
                            prefs.maturity_limit.map(i64::from),
                            now,
                            now
                        ],
                    )
                    .await?;
                    Ok::<_, AccountError>(())
                }
            })
            .await;
        match inserted {
            Ok(()) => {}
            Err(AccountError::Store(StoreError::Conflict(_))) => {
                return Err(self.which_is_taken(&handle, &email).await)
            }
            Err(other) => return Err(other),
        }
        tracing::info!(user_id = %id, handle = %handle, "account created");
        self.user(&id).await
    }

    async fn which_is_taken(&self, handle: &str, email: &str) -> AccountError {
        let handle_taken = self
            .db()
            .query("SELECT id FROM users WHERE handle = ?", params![handle])
            .await
            .map(|rows| !rows.is_empty())
            .unwrap_or(false);
        if handle_taken {
            AccountError::Taken(format!("the handle {handle} is taken; choose another"))
        } else {
            let _ = email;
            AccountError::Taken("an account with this email address exists; sign in instead".into())
        }
    }

    /// Checks a password, under the rate limits, and opens a session.
    pub async fn sign_in(
        &self,
        login: &str,
        password: &str,
        ip: &str,
        user_agent: &str,
    ) -> Result<(User, NewSession), AccountError> {
        let login = login.trim();
        let (column, key) = if login.contains('@') {
            ("email_key", validate::email_key(login))
        } else {
            ("handle", login.to_ascii_lowercase())
        };
        if key.is_empty()
            || key.len() > validate::MAX_EMAIL
            || password.chars().count() > validate::MAX_PASSWORD
        {
            return Err(AccountError::BadCredentials);
        }
        self.inner.per_ip.take(ip).map_err(AccountError::RateLimited)?;
        self.inner.per_account.take(&key).map_err(AccountError::RateLimited)?;

        let sql = format!("SELECT id, password_hash FROM users WHERE {column} = ?");
        let row: Option<Row> = self.db().query_opt(&sql, params![&key]).await?;
        let password = password.to_owned();
        let Some(row) = row else {
            cpu(move || secret::burn_verification(&password)).await;
            return Err(AccountError::BadCredentials);
        };
        let id: String = row.get("id")?;
        let phc: String = row.get("password_hash")?;
        let (matches, stale) = {
            let phc = phc.clone();
            let password = password.clone();
            cpu(move || (secret::verify_password(&phc, &password), secret::needs_rehash(&phc))).await
        };
        if !matches {
            tracing::info!(user_id = %id, ip, "wrong password");
            return Err(AccountError::BadCredentials);
        }
        if stale {
            let fresh = cpu(move || secret::hash_password(&password)).await;
            self.db()
                .execute(
                    "UPDATE users SET password_hash = ? WHERE id = ? AND password_hash = ?",
                    params![fresh, &id, phc],
                )
                .await?;
        }
        let session = self.open_session(&id, ip, user_agent).await?;
        Ok((self.user(&id).await?, session))
    }

    async fn open_session(
        &self,
        user_id: &str,
        ip: &str,
        user_agent: &str,
    ) -> Result<NewSession, AccountError> {
        let (token, hash) = secret::new_session_token();
        let now = now_ms();
        let session = SessionInfo {
            id: uuid::Uuid::now_v7().to_string(),
            created_at: now,
            last_seen_at: now,
            expires_at: now + ms(self.inner.config.session_idle.min(self.inner.config.session_max)),
            user_agent: user_agent.chars().take(200).collect(),
            ip: ip.chars().take(64).collect(),
        };
        self.db()
            .execute(
                "INSERT INTO sessions (id, token_hash, user_id, created_at, last_seen_at, expires_at, user_agent, ip) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                params![
                    &session.id,
                    hash,
                    user_id,
                    session.created_at,
                    session.last_seen_at,
                    session.expires_at,
                    &session.user_agent,
                    &session.ip
                ],
            )
            .await?;
        let csrf_token = secret::csrf_token(&token);
        Ok(NewSession { session, token, csrf_token })
    }

    /// The identity of a session token, renewing the session (sliding expiry,
    /// capped at `session_max` after sign-in); `Unauthorized` when the token
    /// is unknown, revoked or expired.
    pub async fn session_identity(&self, token: &str, cookie: bool) -> Result<Identity, AccountError> {
        if !secret::is_session_token(token) {
            return Err(AccountError::Unauthorized("the session token is malformed; sign in again".into()));
        }
        let row: Option<Row> = self
            .db()
            .query_opt(
                "SELECT s.id AS session_id, s.created_at, s.last_seen_at, s.expires_at, u.id AS user_id, u.handle, u.role \
                 FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = ?",
                params![secret::sha256_hex(token)],
            )
            .await?;
        let Some(row) = row else {
            return Err(AccountError::Unauthorized(
                "the session has ended (signed out or revoked); sign in again".into(),
            ));
        };
        let session_id: String = row.get("session_id")?;
        let now = now_ms();
        if row.get::<i64>("expires_at")? <= now {
            self.db().execute("DELETE FROM sessions WHERE id = ?", params![&session_id]).await?;
            return Err(AccountError::Unauthorized("the session has expired; sign in again".into()));
        }
        if now - row.get::<i64>("last_seen_at")? >= ms(TOUCH_INTERVAL) {
            let cap = row.get::<i64>("created_at")? + ms(self.inner.config.session_max);
            let expires = (now + ms(self.inner.config.session_idle)).min(cap);
            self.db()
                .execute(
                    "UPDATE sessions SET last_seen_at = ?, expires_at = ? WHERE id = ?",
                    params![now, expires, &session_id],
                )
                .await?;
        }
        Ok(Identity {
            user_id: row.get("user_id")?,
            handle: row.get("handle")?,
            role: role_of(&row)?,
            credential: Credential::Session { session_id, cookie },
        })
    }

    /// The identity of an API key; `Unauthorized` when it is malformed,
    /// unknown, revoked or expired.
    pub async fn key_identity(&self, key: &str) -> Result<Identity, AccountError> {
        let Some((prefix, secret_part)) = secret::parse_api_key(key) else {
            return Err(AccountError::Unauthorized(
                "the API key is malformed: expected cdlc_k_PREFIX_SECRET".into(),
            ));
        };
        let row: Option<Row> = self
            .db()
            .query_opt(
                "SELECT k.id AS key_id, k.secret_hash, k.scopes, k.expires_at, k.last_used_at, u.id AS user_id, \
                 u.handle, u.role FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.prefix = ?",
                params![prefix],
            )
            .await?;
        let unknown = || AccountError::Unauthorized("the API key is unknown or revoked".into());
        let Some(row) = row else { return Err(unknown()) };
        if !secret::same(&secret::sha256_hex(secret_part), &row.get::<String>("secret_hash")?) {
            return Err(unknown());
        }
        let now = now_ms();
        if row.get::<Option<i64>>("expires_at")?.is_some_and(|at| at <= now) {
            return Err(AccountError::Unauthorized("the API key has expired; create a new one".into()));
        }
        let key_id: String = row.get("key_id")?;
        if row.get::<Option<i64>>("last_used_at")?.is_none_or(|at| now - at >= ms(TOUCH_INTERVAL)) {
            self.db()
                .execute("UPDATE api_keys SET last_used_at = ? WHERE id = ?", params![now, &key_id])
                .await?;
        }
        Ok(Identity {
            user_id: row.get("user_id")?,
            handle: row.get("handle")?,
            role: role_of(&row)?,
            credential: Credential::ApiKey { key_id, scopes: parse_scopes(&row.get::<String>("scopes")?)? },
        })
    }

    /// Whether `token` is the root token (constant time).
    pub fn is_root_token(&self, token: &str) -> bool {
        self.inner.config.root_token.as_deref().is_some_and(|root| secret::same(root, token))
    }

    pub async fn user(&self, id: &str) -> Result<User, AccountError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?");
        self.db().query_opt(&sql, params![id]).await?.ok_or_else(|| no_user(id))
    }

    pub async fn update_profile(&self, id: &str, change: ProfileChange) -> Result<User, AccountError> {
        let mut user = self.user(id).await?;
        if let Some(name) = change.display_name {
            user.display_name = validate::display_name(&name).map_err(invalid)?;
        }
        if let Some(bio) = change.bio {
            user.bio = validate::bio(&bio).map_err(invalid)?;
        }
        if let Some(avatar) = change.avatar_key {
            user.avatar_key = avatar.map(|k| validate::avatar_key(&k)).transpose().map_err(invalid)?;
        }
        if let Some(prefs) = change.preferences {
            if let Some(language) = prefs.language {
                user.preferences.language = validate::language(&language).map_err(invalid)?;
            }
            if let Some(subtitles) = prefs.subtitles {
                user.preferences.subtitles = subtitles;
            }
            if let Some(autoplay) = prefs.autoplay {
                user.preferences.autoplay = autoplay;
            }
            if let Some(limit) = prefs.maturity_limit {
                user.preferences.maturity_limit = validate::maturity_limit(limit).map_err(invalid)?;
            }
        }
        let p = &user.preferences;
        self.db()
            .execute(
                "UPDATE users SET display_name = ?, bio = ?, avatar_key = ?, language = ?, subtitles = ?, autoplay = ?, \
                 maturity_limit = ?, updated_at = ? WHERE id = ?",
                params![
                    &user.display_name,
                    &user.bio,
                    user.avatar_key.clone(),
                    &p.language,
                    p.subtitles,
                    p.autoplay,
                    p.maturity_limit.map(i64::from),
                    now_ms(),
                    id
                ],
            )
            .await?;
        Ok(user)
    }

    /// Changes a password after checking the current one; every other
    /// session of the user ends (`keep` is the session making the change).
    pub async fn change_password(
        &self,
        id: &str,
        current: &str,
        new: &str,
        keep: Option<&str>,
    ) -> Result<(), AccountError> {
        validate::password(new).map_err(invalid)?;
        let row: Row = self
            .db()
            .query_opt("SELECT password_hash FROM users WHERE id = ?", params![id])
            .await?
            .ok_or_else(|| no_user(id))?;
        let phc: String = row.get("password_hash")?;
        let current = current.to_owned();
        if !cpu(move || secret::verify_password(&phc, &current)).await {
            return Err(AccountError::Invalid("the current password is wrong".into()));
        }
        self.set_password(id, new, keep).await
    }

    async fn set_password(&self, id: &str, new: &str, keep: Option<&str>) -> Result<(), AccountError> {
        let new = new.to_owned();
        let hash = cpu(move || secret::hash_password(&new)).await;
        let keep = keep.unwrap_or("");
        self.db()
            .transaction(|tx| {
                let hash = &hash;
                async move {
                    let changed = tx
                        .execute(
                            "UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?",
                            params![hash, now_ms(), id],
                        )
                        .await?;
                    if changed == 0 {
                        return Err(no_user(id));
                    }
                    tx.execute("DELETE FROM sessions WHERE user_id = ? AND id <> ?", params![id, keep])
                        .await?;
                    Ok(())
                }
            })
            .await
    }

    /// Ends one session (sign-out).
    pub async fn end_session(&self, session_id: &str) -> Result<(), AccountError> {
        self.db().execute("DELETE FROM sessions WHERE id = ?", params![session_id]).await?;
        Ok(())
    }

    pub async fn sessions(&self, user_id: &str) -> Result<Vec<SessionInfo>, AccountError> {
        Ok(self
            .db()
            .query_as(
                "SELECT id, created_at, last_seen_at, expires_at, user_agent, ip FROM sessions \
                 WHERE user_id = ? AND expires_at > ? ORDER BY id DESC",
                params![user_id, now_ms()],
            )
            .await?)
    }

    pub async fn revoke_session(&self, user_id: &str, session_id: &str) -> Result<(), AccountError> {
        let gone = self
            .db()
            .execute("DELETE FROM sessions WHERE id = ? AND user_id = ?", params![session_id, user_id])
            .await?;
        if gone == 0 {
            return Err(AccountError::NotFound(format!("you have no session {session_id}")));
        }
        Ok(())
    }

    /// Creates an API key; the whole key is returned this once.
    pub async fn create_api_key(
        &self,
        user_id: &str,
        request: NewApiKey,
    ) -> Result<(ApiKeyInfo, String), AccountError> {
        let name = validate::key_name(&request.name).map_err(invalid)?;
        if request.scopes.is_empty() {
            return Err(AccountError::Invalid("give the key at least one scope, e.g. assets:write".into()));
        }
        if request.scopes.len() > 32 {
            return Err(AccountError::Invalid("a key may carry at most 32 scopes".into()));
        }
        let now = now_ms();
        let expires_at = match request.expires_in_days {
            Some(0) => return Err(AccountError::Invalid("expires_in_days must be at least 1".into())),
            Some(days) if days > MAX_KEY_DAYS => {
                return Err(AccountError::Invalid(format!("expires_in_days must be at most {MAX_KEY_DAYS}")))
            }
            Some(days) => Some(now + i64::from(days) * 86_400_000),
            None => None,
        };
        if self.api_keys(user_id).await?.len() >= MAX_KEYS_PER_USER {
            return Err(AccountError::Invalid(format!(
                "you hold {MAX_KEYS_PER_USER} API keys, the most allowed; revoke one first"
            )));
        }
        let mut scopes = request.scopes;
        scopes.sort();
        scopes.dedup();
        let (key, prefix, secret_hash) = secret::new_api_key();
        let info = ApiKeyInfo {
            id: uuid::Uuid::now_v7().to_string(),
            name,
            prefix,
            scopes,
            created_at: now,
            expires_at,
            last_used_at: None,
        };
        let scope_text = info.scopes.iter().map(Scope::as_str).collect::<Vec<_>>().join(" ");
        self.db()
            .execute(
                "INSERT INTO api_keys (id, prefix, secret_hash, user_id, name, scopes, created_at, expires_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                params![&info.id, &info.prefix, secret_hash, user_id, &info.name, scope_text, now, expires_at],
            )
            .await?;
        Ok((info, key))
    }

    pub async fn api_keys(&self, user_id: &str) -> Result<Vec<ApiKeyInfo>, AccountError> {
        Ok(self
            .db()
            .query_as(
                "SELECT id, name, prefix, scopes, created_at, expires_at, last_used_at FROM api_keys \
                 WHERE user_id = ? ORDER BY id",
                params![user_id],
            )
            .await?)
    }

    pub async fn revoke_api_key(&self, user_id: &str, key_id: &str) -> Result<(), AccountError> {
        let gone = self
            .db()
            .execute("DELETE FROM api_keys WHERE id = ? AND user_id = ?", params![key_id, user_id])
            .await?;
        if gone == 0 {
            return Err(AccountError::NotFound(format!("you have no API key {key_id}")));
        }
        Ok(())
    }

    /// An invite code for `role`, shown this once.
    pub async fn create_invite(&self, created_by: &str, role: Role) -> Result<String, AccountError> {
        let code = format!("cdlc_i_{}", hex::encode(secret::random_bytes::<16>()));
        let now = now_ms();
        self.db()
            .execute(
                "INSERT INTO invites (code_hash, role, created_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
                params![secret::sha256_hex(&code), role.as_str(), created_by, now, now + ms(self.inner.config.invite_ttl)],
            )
            .await?;
        Ok(code)
    }

    /// Users in creation order, `limit` at a time after the id `cursor`.
    pub async fn list_users(
        &self,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<(Vec<User>, Option<String>), AccountError> {
        let limit = limit.clamp(1, MAX_PAGE);
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id > ? ORDER BY id LIMIT ?");
        let users: Vec<User> =
            self.db().query_as(&sql, params![cursor.unwrap_or(""), i64::from(limit) + 1]).await?;
        let mut users = users;
        let next = if users.len() > limit as usize {
            users.truncate(limit as usize);
            users.last().map(|u| u.id.clone())
        } else {
            None
        };
        Ok((users, next))
    }

    /// Admin: changes a user's role.
    pub async fn set_role(&self, id: &str, role: Role) -> Result<User, AccountError> {
        let changed = self
            .db()
            .execute(
                "UPDATE users SET role = ?, updated_at = ? WHERE id = ?",
                params![role.as_str(), now_ms(), id],
            )
            .await?;
        if changed == 0 {
            return Err(no_user(id));
        }
        tracing::info!(user_id = id, role = role.as_str(), "role changed");
        self.user(id).await
    }

    /// Admin: sets a new password and ends every session of the user.
    pub async fn reset_password(&self, id: &str, new: &str) -> Result<(), AccountError> {
        validate::password(new).map_err(invalid)?;
        self.set_password(id, new, None).await
    }

    /// Deletes the account after checking its password.
    pub async fn delete_own_account(&self, id: &str, password: &str) -> Result<Deletion, AccountError> {
        let row: Row = self
            .db()
            .query_opt("SELECT password_hash FROM users WHERE id = ?", params![id])
            .await?
            .ok_or_else(|| no_user(id))?;
        let phc: String = row.get("password_hash")?;
        let password = password.to_owned();
        if !cpu(move || secret::verify_password(&phc, &password)).await {
            return Err(AccountError::Invalid("the password is wrong; the account was not deleted".into()));
        }
        self.delete_user(id).await
    }

    /// Deletes the user, its sessions and keys in one transaction, then
    /// tells the hook (every plugin).
    pub async fn delete_user(&self, id: &str) -> Result<Deletion, AccountError> {
        let user = self.user(id).await?;
        self.db()
            .transaction(|tx| async move {
                tx.execute("DELETE FROM sessions WHERE user_id = ?", params![id]).await?;
                tx.execute("DELETE FROM api_keys WHERE user_id = ?", params![id]).await?;
                tx.execute("DELETE FROM users WHERE id = ?", params![id]).await?;
                Ok::<_, AccountError>(())
            })
            .await?;
        let deleted = DeletedUser { user_id: user.id, handle: user.handle };
        tracing::info!(user_id = %deleted.user_id, "account deleted");
        let plugin_failures = match &self.inner.hook {
            Some(hook) => hook.user_deleted(&deleted).await,
            None => Vec::new(),
        };
        Ok(Deletion { user: deleted, plugin_failures })
    }
}

fn role_of(row: &Row) -> Result<Role, AccountError> {
    Role::parse(&row.get::<String>("role")?).map_err(AccountError::Corrupt)
}
