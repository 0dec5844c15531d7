//! What accounts holds and hands out.

use std::time::Duration;

use cdlc_plugin_api::{Role, Scope};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::limiter::Rate;

/// Who may create an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignupPolicy {
    /// Anyone, as a viewer.
    #[default]
    Open,
    /// Only with an invite code an admin made.
    InviteOnly,
    /// Nobody; admins (or the root token) create no accounts through sign-up.
    Closed,
}

/// The settings of accounts, each with its default.
#[derive(Debug, Clone)]
pub struct AccountsConfig {
    /// Who may sign up. Default: open.
    pub signup: SignupPolicy,
    /// A session unused this long expires. Default: 14 days.
    pub session_idle: Duration,
    /// A session expires this long after sign-in however much it is used.
    /// Default: 90 days.
    pub session_max: Duration,
    /// Mark the session cookie `Secure` (serve over HTTPS). Default: false.
    pub secure_cookie: bool,
    /// The bootstrap root credential (`CDLC_ADMIN_TOKEN`): an admin with
    /// every scope and no account. Default: none.
    pub root_token: Option<String>,
    /// Read the client's IP from the last `X-Forwarded-For` entry (behind a
    /// proxy you run). Default: false, the connection's address.
    pub trust_forwarded_for: bool,
    /// Sign-in attempts per account. Default: 10 at once, then one per 30 s.
    pub per_account: Rate,
    /// Sign-in attempts per client IP. Default: 30 at once, then one per 2 s.
    pub per_ip: Rate,
    /// How long an invite code stays valid. Default: 7 days.
    pub invite_ttl: Duration,
}

impl Default for AccountsConfig {
    fn default() -> AccountsConfig {
        AccountsConfig {
            signup: SignupPolicy::Open,
            session_idle: Duration::from_secs(14 * 86_400),
            session_max: Duration::from_secs(90 * 86_400),
            secure_cookie: false,
            root_token: None,
            trust_forwarded_for: false,
            per_account: Rate { burst: 10, refill: Duration::from_secs(30) },
            per_ip: Rate { burst: 30, refill: Duration::from_secs(2) },
            invite_ttl: Duration::from_secs(7 * 86_400),
        }
    }
}

/// Viewing preferences.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Preferences {
    /// A BCP 47 tag: the UI's and the default audio/subtitle language.
    pub language: String,
    pub subtitles: bool,
    pub autoplay: bool,
    /// The highest age rating to show, or none.
    pub maturity_limit: Option<u8>,
}

impl Default for Preferences {
    fn default() -> Preferences {
        Preferences { language: "en".into(), subtitles: false, autoplay: true, maturity_limit: None }
    }
}

/// An account, as its owner and admins see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct User {
    pub id: String,
    pub handle: String,
    pub email: String,
    pub display_name: String,
    pub bio: String,
    /// The avatar's object key (`avatars/…`), if one was uploaded.
    pub avatar_key: Option<String>,
    pub role: Role,
    pub preferences: Preferences,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
}

/// A new account.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct SignUp {
    pub handle: String,
    pub email: String,
    pub password: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub invite: Option<String>,
}

/// A change of profile; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileChange {
    pub display_name: Option<String>,
    pub bio: Option<String>,
    /// `null` removes the avatar.
    #[serde(default, with = "double_option")]
    pub avatar_key: Option<Option<String>>,
    pub preferences: Option<PreferencesChange>,
}

/// A change of preferences; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreferencesChange {
    pub language: Option<String>,
    pub subtitles: Option<bool>,
    pub autoplay: Option<bool>,
    #[serde(default, with = "double_option")]
    pub maturity_limit: Option<Option<u8>>,
}

mod double_option {
    use serde::{Deserialize, Deserializer};
    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

/// A session, as listed under "my sessions".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SessionInfo {
    pub id: String,
    /// Milliseconds since the Unix epoch, as are the other times.
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub user_agent: String,
    pub ip: String,
}

/// A session just opened: the token is shown this once.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub session: SessionInfo,
    pub token: String,
    pub csrf_token: String,
}

/// An API key, as listed: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ApiKeyInfo {
    pub id: String,
    pub name: String,
    /// Shown so a key can be recognised: `cdlc_k_{prefix}_…`.
    pub prefix: String,
    pub scopes: Vec<Scope>,
    /// Milliseconds since the Unix epoch, as are the other times.
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

/// A new key's request.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct NewApiKey {
    pub name: String,
    pub scopes: Vec<Scope>,
    /// Days until it expires; none for a key that lasts until revoked.
    #[serde(default)]
    pub expires_in_days: Option<u32>,
}

/// The longest an API key may be made to last, in days.
pub const MAX_KEY_DAYS: u32 = 3650;
/// Most API keys one user may hold.
pub const MAX_KEYS_PER_USER: usize = 50;
