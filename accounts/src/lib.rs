//! Accounts: users with roles, argon2id passwords, sessions, API keys and
//! rate-limited sign-in, on a store of their own (cdlc-plugin-store, so the
//! MySQL backend serves it too), and the HTTP routes the server mounts.
//!
//! - `Accounts` (service.rs): every operation.
//! - `http`: the routes (`router`) and the authentication middleware
//!   (`authenticate`) that puts a `Principal` on every request.
//! - `secret`: how passwords, tokens and keys are made and stored.

mod error;
pub mod http;
mod limiter;
mod model;
pub mod secret;
mod service;
pub mod validate;

pub use error::AccountError;
pub use limiter::{Limiter, Rate};
pub use model::*;
pub use service::{Accounts, Deletion, UserDeletedHook, MAX_PAGE, MIGRATIONS, TOUCH_INTERVAL};
