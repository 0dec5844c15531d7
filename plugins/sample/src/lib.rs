//! Two sample plugins that use every part of the plugin API, so the host's
//! machinery is proved on a real `cdlc serve` and not only in unit tests.
//! Both are built into `cdlc` and off unless the config enables them
//! (`[plugins.guestbook] enabled = true`).
//!
//! - `guestbook`: owns a table (`entries`), takes the principal (a viewer
//!   signs), checks an asset through `Assets`, reads its config section
//!   (`max_message`) and publishes `guestbook.signed`.
//! - `tally`: consumes `guestbook.signed` into a table of its own, and
//!   counts the guestbook's messages through the guestbook's REST API.
//!
//! Both remove a deleted user's rows in `user_deleted`.

use cdlc_plugin_api::axum::extract::State;
// `routes!` names `axum` and `utoipa` by their bare names.
use cdlc_plugin_api::axum;
use cdlc_plugin_api::axum::http::StatusCode;
use cdlc_plugin_api::utoipa::{self, ToSchema};
use cdlc_plugin_api::utoipa_axum::router::OpenApiRouter;
use cdlc_plugin_api::{
    async_trait, params, routes, ApiError, ApiRouter, DeletedUser, Event, Health, Json, Migration, Plugin,
    PluginContext, PluginError, Principal, Role, Sql, WebBundle, WebPage,
};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The sample plugins, for the host's list of built-in plugins.
pub fn plugins() -> Vec<std::sync::Arc<dyn Plugin>> {
    vec![std::sync::Arc::new(Guestbook), std::sync::Arc::new(Tally)]
}

/// Signed messages, one table.
pub struct Guestbook;

#[derive(Debug, Deserialize)]
struct GuestbookSettings {
    #[serde(default = "default_max")]
    max_message: usize,
}
fn default_max() -> usize {
    200
}

/// A message to sign, optionally about a ready asset.
#[derive(Deserialize, ToSchema)]
#[schema(as = GuestbookEntry)]
struct Entry {
    message: String,
    asset_id: Option<String>,
}

/// Signs the guestbook (a viewer at least).
#[utoipa::path(post, path = "/entries", request_body = Entry, responses(
    (status = 201, description = "signed"),
    (status = 400, description = "the message is too long or the asset is not ready", body = ApiError),
    (status = 401, description = "not signed in", body = ApiError),
))]
async fn sign(
    State(ctx): State<PluginContext>,
    principal: Principal,
    Json(entry): Json<Entry>,
) -> Result<StatusCode, ApiError> {
    let user = principal.require_role(Role::Viewer)?;
    let settings: GuestbookSettings = ctx.config().map_err(ApiError::internal)?;
    if entry.message.chars().count() > settings.max_message {
        return Err(ApiError::bad_request(format!(
            "the message must be at most {} characters",
            settings.max_message
        )));
    }
    if let Some(asset) = &entry.asset_id {
        if !ctx.assets().is_ready(asset).await.map_err(ApiError::internal)? {
            return Err(ApiError::bad_request(format!("the asset {asset} is not ready")));
        }
    }
    ctx.db()
        .execute(
            "INSERT INTO entries (user_id, message) VALUES (?, ?)",
            params![&user.user_id, entry.message],
        )
        .await?;
    ctx.publish("signed", serde_json::json!({ "user_id": user.user_id }))
        .await
        .map_err(ApiError::internal)?;
    Ok(StatusCode::CREATED)
}

/// Every message, in alphabetical order.
#[utoipa::path(get, path = "/entries", responses((status = 200, body = Vec<String>)))]
async fn entries(State(ctx): State<PluginContext>) -> Result<Json<Vec<String>>, ApiError> {
    let rows = ctx.db().query("SELECT message FROM entries ORDER BY message", params![]).await?;
    Ok(Json(rows.iter().map(|r| r.get("message")).collect::<Result<_, _>>()?))
}

#[async_trait]
impl Plugin for Guestbook {
    fn name(&self) -> &'static str {
        "guestbook"
    }
    fn version(&self) -> &'static str {
        "1.0.0"
    }
    fn migrations(&self) -> &'static [Migration] {
        &[Migration {
            name: "0001_entries",
            statements: &["CREATE TABLE entries (user_id VARCHAR(36) NOT NULL, message TEXT NOT NULL)"],
        }]
    }
    async fn start(&self, ctx: &PluginContext) -> Result<(), PluginError> {
        ctx.config::<GuestbookSettings>().map(|_| ())
    }
    fn router(&self, ctx: PluginContext) -> ApiRouter {
        OpenApiRouter::new().routes(routes!(entries, sign)).with_state(ctx)
    }
    fn web(&self) -> WebBundle {
        WebBundle {
            pages: vec![WebPage {
                path: "/guestbook".into(),
                title: "Guestbook".into(),
                script: "app.js".into(),
            }],
            files: vec![],
        }
    }
    async fn user_deleted(&self, ctx: &PluginContext, user: &DeletedUser) -> Result<(), PluginError> {
        ctx.db().execute("DELETE FROM entries WHERE user_id = ?", params![&user.user_id]).await?;
        Ok(())
    }
}

/// Counts `guestbook.signed` events into its own table.
pub struct Tally;

#[derive(Serialize, ToSchema)]
struct Count {
    /// Signatures seen since the tally started.
    signatures: i64,
}

#[derive(Serialize, ToSchema)]
struct Messages {
    /// Messages in the guestbook, read through its public API.
    messages: usize,
}

/// How many messages the guestbook holds, asked of the guestbook's own API
/// (a plugin reads another's data only so).
#[utoipa::path(get, path = "/messages", responses((status = 200, body = Messages)))]
async fn messages(
    State(ctx): State<PluginContext>,
    principal: Principal,
) -> Result<Json<Messages>, ApiError> {
    let entries: Vec<String> = ctx
        .get_json("guestbook", "/entries", &principal)
        .await
        .map_err(|e| {
            ApiError::unavailable(format!("the guestbook cannot be read: {e}"), Duration::from_secs(30))
        })?
        .unwrap_or_default();
    Ok(Json(Messages { messages: entries.len() }))
}

/// How many signatures the tally has seen.
#[utoipa::path(get, path = "/", responses((status = 200, body = Count)))]
async fn count(State(ctx): State<PluginContext>) -> Result<Json<Count>, ApiError> {
    let rows = ctx.db().query("SELECT COUNT(*) AS n FROM signatures", params![]).await?;
    Ok(Json(Count { signatures: rows[0].get::<i64>("n")? }))
}

#[async_trait]
impl Plugin for Tally {
    fn name(&self) -> &'static str {
        "tally"
    }
    fn version(&self) -> &'static str {
        "0.1.0"
    }
    fn migrations(&self) -> &'static [Migration] {
        &[Migration {
            name: "0001_signatures",
            statements: &["CREATE TABLE signatures (user_id VARCHAR(36) NOT NULL, at_ms BIGINT NOT NULL)"],
        }]
    }
    fn router(&self, ctx: PluginContext) -> ApiRouter {
        OpenApiRouter::new().routes(routes!(count)).routes(routes!(messages)).with_state(ctx)
    }
    fn consumes(&self) -> Vec<String> {
        vec!["guestbook.signed".into()]
    }
    async fn on_event(&self, ctx: &PluginContext, event: Event) -> Result<(), PluginError> {
        let user = event.payload["user_id"].as_str().unwrap_or_default().to_owned();
        ctx.db()
            .execute("INSERT INTO signatures (user_id, at_ms) VALUES (?, ?)", params![user, event.at_ms])
            .await?;
        Ok(())
    }
    async fn user_deleted(&self, ctx: &PluginContext, user: &DeletedUser) -> Result<(), PluginError> {
        ctx.db().execute("DELETE FROM signatures WHERE user_id = ?", params![&user.user_id]).await?;
        Ok(())
    }
    async fn health(&self, _ctx: &PluginContext) -> Health {
        Health::Degraded("sample".into())
    }
}
