//! Why an accounts operation was refused, each a sentence for the user.

use std::time::Duration;

use cdlc_plugin_api::{ApiError, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// A field out of bounds or of the wrong shape.
    #[error("{0}")]
    Invalid(String),
    /// A handle or email another account has.
    #[error("{0}")]
    Taken(String),
    #[error("the handle, email or password is wrong")]
    BadCredentials,
    #[error("too many sign-in attempts; wait {} s and try again", .0.as_secs().max(1))]
    RateLimited(Duration),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    SignupRefused(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the account data is damaged: {0}")]
    Corrupt(String),
}

impl From<AccountError> for ApiError {
    fn from(error: AccountError) -> ApiError {
        match error {
            AccountError::Invalid(m) => ApiError::bad_request(m),
            AccountError::Taken(m) => ApiError::conflict(m),
            AccountError::BadCredentials => ApiError::unauthorized(error.to_string()),
            AccountError::RateLimited(after) => ApiError::too_many_requests(error.to_string(), after),
            AccountError::NotFound(m) => ApiError::not_found(m),
            AccountError::SignupRefused(m) => ApiError::forbidden(m),
            AccountError::Unauthorized(m) => ApiError::unauthorized(m),
            AccountError::Store(e) => e.into(),
            AccountError::Corrupt(_) => ApiError::internal(error),
        }
    }
}

pub(crate) fn invalid(message: String) -> AccountError {
    AccountError::Invalid(message)
}
