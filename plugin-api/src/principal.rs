//! Who is asking: the principal the host's authentication puts on every
//! request, and the checks handlers make against it.
//!
//! A user acts through a session (the web UI's cookie, or a bearer session
//! token) with everything its role allows, or through an API key with its
//! owner's role narrowed to the key's scopes. The host's root token (the
//! bootstrap credential) is an admin with every scope. A handler says what
//! each write needs: `principal.require(Role::Uploader, &Scope::ASSETS_WRITE)?`.

use std::borrow::Cow;
use std::convert::Infallible;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};

use crate::ApiError;

/// What a user may do, each role including those below it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Watches, rates, keeps lists: the role of every new account.
    Viewer,
    /// And uploads and manages their own assets.
    Uploader,
    /// And manages every asset, user and plugin.
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Uploader, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Uploader => "uploader",
            Role::Admin => "admin",
        }
    }

    /// Parses a role name; the error is a sentence listing the known ones.
    pub fn parse(name: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == name)
            .ok_or_else(|| format!("unknown role {name:?}: use one of viewer, uploader, admin"))
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A permission an API key can carry: `resource:action`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Scope(Cow<'static, str>);

impl Scope {
    /// Upload, change and delete assets.
    pub const ASSETS_WRITE: Scope = Scope(Cow::Borrowed("assets:write"));
    /// Read private assets and sign their URLs.
    pub const ASSETS_READ: Scope = Scope(Cow::Borrowed("assets:read"));
    /// Purge the edge cache.
    pub const EDGE_PURGE: Scope = Scope(Cow::Borrowed("edge:purge"));
    /// Import catalog datasets.
    pub const CATALOG_IMPORT: Scope = Scope(Cow::Borrowed("catalog:import"));

    /// A plugin's own scope, e.g. `Scope::new("booking:checkin")`.
    pub fn new(name: &str) -> Result<Scope, String> {
        let valid_part = |p: &str| {
            (1..=32).contains(&p.len())
                && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        };
        match name.split_once(':') {
            Some((resource, action)) if valid_part(resource) && valid_part(action) => {
                Ok(Scope(Cow::Owned(name.to_owned())))
            }
            _ => Err(format!(
                "the scope {name:?} must be resource:action in lower-case letters, digits or '_' (e.g. assets:write)"
            )),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// In OpenAPI: a string `resource:action`.
impl utoipa::PartialSchema for Scope {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::String)
            .pattern(Some("^[a-z0-9_]{1,32}:[a-z0-9_]{1,32}$"))
            .description(Some("A permission `resource:action`, e.g. `assets:write`, `edge:purge`."))
            .examples([serde_json::json!("assets:write")])
            .into()
    }
}

impl utoipa::ToSchema for Scope {}

impl TryFrom<String> for Scope {
    type Error = String;
    fn try_from(name: String) -> Result<Scope, String> {
        Scope::new(&name)
    }
}

impl From<Scope> for String {
    fn from(scope: Scope) -> String {
        scope.0.into_owned()
    }
}

/// How the principal proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A session; `cookie` when it came in the web UI's cookie (whose writes
    /// the host has already checked for the CSRF header).
    Session { session_id: String, cookie: bool },
    /// An API key, limited to its scopes.
    ApiKey { key_id: String, scopes: Vec<Scope> },
    /// The host's bootstrap root token.
    Root,
}

/// An authenticated user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user_id: String,
    pub handle: String,
    pub role: Role,
    pub credential: Credential,
}

impl Identity {
    /// Whether this credential carries `scope`: sessions and root carry all.
    pub fn has_scope(&self, scope: &Scope) -> bool {
        match &self.credential {
            Credential::ApiKey { scopes, .. } => scopes.contains(scope),
            Credential::Session { .. } | Credential::Root => true,
        }
    }
}

/// The principal of a request: extract it in any handler. The host's
/// authentication layer puts it in the request; a request it did not see
/// is anonymous.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Principal {
    #[default]
    Anonymous,
    User(Identity),
    /// A valid session cookie on a write that lacks the CSRF header: treated
    /// as nobody, and any check that needs a user answers 403 saying so
    /// (while sign-in and other anonymous routes keep working).
    CsrfMissing,
}

impl Principal {
    pub fn identity(&self) -> Option<&Identity> {
        match self {
            Principal::User(identity) => Some(identity),
            Principal::Anonymous | Principal::CsrfMissing => None,
        }
    }

    /// 401 unless signed in (403 for a cookie write without the CSRF header).
    pub fn require_user(&self) -> Result<&Identity, ApiError> {
        match self {
            Principal::User(identity) => Ok(identity),
            Principal::Anonymous => {
                Err(ApiError::unauthorized("sign in first, or send an API key as `Authorization: Bearer KEY`"))
            }
            Principal::CsrfMissing => Err(ApiError::forbidden(
                "a write signed in by cookie needs the X-CSRF-Token header (its value comes with sign-in and GET /me)",
            )),
        }
    }

    /// 401 unless signed in, 403 unless the role is `role` or above.
    pub fn require_role(&self, role: Role) -> Result<&Identity, ApiError> {
        let identity = self.require_user()?;
        if identity.role >= role {
            Ok(identity)
        } else {
            Err(ApiError::forbidden(format!(
                "this needs the {role} role and {} is a {}; ask an admin",
                identity.handle, identity.role
            )))
        }
    }

    /// 401 unless signed in, 403 unless the credential carries `scope`.
    pub fn require_scope(&self, scope: &Scope) -> Result<&Identity, ApiError> {
        let identity = self.require_user()?;
        if identity.has_scope(scope) {
            Ok(identity)
        } else {
            Err(ApiError::forbidden(format!(
                "this API key lacks the scope {scope}; create a key that has it"
            )))
        }
    }

    /// Both checks: what a write names.
    pub fn require(&self, role: Role, scope: &Scope) -> Result<&Identity, ApiError> {
        self.require_role(role)?;
        self.require_scope(scope)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Principal, Infallible> {
        Ok(parts.extensions.get::<Principal>().cloned().unwrap_or_default())
    }
}

/// Extracting an `Identity` answers 401 for an anonymous request.
impl<S: Send + Sync> FromRequestParts<S> for Identity {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Identity, ApiError> {
        let Ok(principal) = Principal::from_request_parts(parts, state).await;
        principal.require_user().cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(role: Role, credential: Credential) -> Principal {
        Principal::User(Identity { user_id: "u1".into(), handle: "ada".into(), role, credential })
    }

    #[test]
    fn roles_include_those_below() {
        let uploader = user(Role::Uploader, Credential::Session { session_id: "s".into(), cookie: false });
        assert!(uploader.require_role(Role::Viewer).is_ok());
        assert!(uploader.require_role(Role::Uploader).is_ok());
        let refused = uploader.require_role(Role::Admin).unwrap_err();
        assert_eq!(refused.status(), 403);
        assert!(refused.message().contains("needs the admin role"), "{refused}");
        assert_eq!(Principal::Anonymous.require_role(Role::Viewer).unwrap_err().status(), 401);
    }

    #[test]
    fn an_api_key_carries_only_its_scopes_and_its_owners_role() {
        let key =
            user(Role::Viewer, Credential::ApiKey { key_id: "k".into(), scopes: vec![Scope::ASSETS_WRITE] });
        assert!(key.require_scope(&Scope::ASSETS_WRITE).is_ok());
        let purge = key.require_scope(&Scope::EDGE_PURGE).unwrap_err();
        assert_eq!(purge.status(), 403);
        assert!(purge.message().contains("edge:purge"));
        // The scope does not lift the owner's role.
        assert_eq!(key.require(Role::Uploader, &Scope::ASSETS_WRITE).unwrap_err().status(), 403);
        let root = user(Role::Admin, Credential::Root);
        assert!(root.require(Role::Admin, &Scope::CATALOG_IMPORT).is_ok());
    }

    #[test]
    fn names_are_parsed_with_sentences() {
        assert_eq!(Role::parse("uploader"), Ok(Role::Uploader));
        assert!(Role::parse("owner").unwrap_err().contains("viewer, uploader, admin"));
        assert_eq!(Scope::new("booking:check_in").unwrap().as_str(), "booking:check_in");
        for bad in ["assets", "Assets:write", "assets:", ":write", "a:b:c", "assets:wr ite"] {
            assert!(Scope::new(bad).is_err(), "{bad}");
        }
        let scopes: Vec<Scope> = serde_json::from_str(r#"["assets:write","edge:purge"]"#).unwrap();
        assert_eq!(scopes, [Scope::ASSETS_WRITE, Scope::EDGE_PURGE]);
        assert!(serde_json::from_str::<Scope>(r#""nope""#).is_err());
    }
}
