//! What each asset write and read needs of the principal the accounts
//! middleware put on the request: the one place the API's handlers ask.
//!
//! - Upload (multipart, tus, direct): role uploader and scope `assets:write`.
//! - Change or delete an asset, or continue its upload: the same, and being
//!   its uploader, or an admin.
//! - Signed URLs for a private asset: its uploader or an admin (an API key
//!   needs `assets:read`); viewers never.
//! - Purge the edge: admin and scope `edge:purge`.

use cdlc_plugin_api::{Identity, Principal, Role, Scope};

use super::{ApiError, SharedState};

/// 401/403 unless the principal may upload.
pub fn uploader(principal: &Principal) -> Result<&Identity, ApiError> {
    Ok(principal.require(Role::Uploader, &Scope::ASSETS_WRITE)?)
}

/// 401/403 unless the principal may change `asset_id` (its uploader or an admin).
pub async fn may_change<'p>(
    state: &SharedState,
    principal: &'p Principal,
    asset_id: &str,
) -> Result<&'p Identity, ApiError> {
    let identity = uploader(principal)?;
    if identity.role >= Role::Admin {
        return Ok(identity);
    }
    let owners = state.owners.of(&[asset_id]).await.map_err(|e| ApiError::Internal(e.into()))?;
    if owners.get(asset_id) == Some(&identity.user_id) {
        Ok(identity)
    } else {
        Err(ApiError::Forbidden(format!(
            "only the uploader of asset {asset_id} or an admin may change it, and {} is neither",
            identity.handle
        )))
    }
}

/// Records the principal (already checked by `uploader`) as the uploader of
/// a new asset.
pub async fn record_uploader(
    state: &SharedState,
    identity: &Identity,
    asset_id: &str,
) -> Result<(), ApiError> {
    state.owners.record(asset_id, &identity.user_id).await.map_err(|e| ApiError::Internal(e.into()))
}

/// Who a view is for: whether it may get signed URLs of private assets.
#[derive(Debug, Clone)]
pub enum Reader {
    Anyone,
    /// Every private asset (an admin with `assets:read`).
    All,
    /// The private assets this user uploaded.
    Uploader(String),
}

impl Reader {
    pub fn of(principal: &Principal) -> Reader {
        match principal.identity() {
            Some(identity) if identity.role >= Role::Admin && identity.has_scope(&Scope::ASSETS_READ) => {
                Reader::All
            }
            Some(identity) if identity.role >= Role::Uploader && identity.has_scope(&Scope::ASSETS_READ) => {
                Reader::Uploader(identity.user_id.clone())
            }
            _ => Reader::Anyone,
        }
    }

    /// Whether this reader gets signed URLs for a private asset uploaded by `owner`.
    pub fn may_sign(&self, owner: Option<&String>) -> bool {
        match self {
            Reader::Anyone => false,
            Reader::All => true,
            Reader::Uploader(user) => owner == Some(user),
        }
    }
}

/// 401/403 unless the principal may purge the edge.
pub fn purger(principal: &Principal) -> Result<&Identity, ApiError> {
    Ok(principal.require(Role::Admin, &Scope::EDGE_PURGE)?)
}
