//! The social plugin (`social`, routes at `/api/v1/social/…`): watchlists,
//! lists (ordered or ranked, with notes, public / followers / private /
//! link-only), the diary (watched on a date, rewatch, a rating in half
//! stars, like, tags, a review with a spoiler flag), four favourites, likes
//! and comments on reviews and lists, follows and blocks, continue watching
//! (position beacons, resume, watched at 90 %), the activity feed,
//! recommendations and GraphQL over the social graph and catalog reads.
//! Built on the plugin API only: titles are read through the catalog's REST
//! API (`catalog`), never its tables.
//!
//! - `schema`: the tables; `access`: who may see what (the one check REST
//!   and GraphQL share); `titles`: catalog reads, batched.
//! - `api`: the REST routes; `feed`: the activity feed; `recs`: the
//!   recommendations; `graphql`: the GraphQL endpoint.

mod access;
mod api;
mod feed;
mod graphql;
mod recs;
pub mod schema;
mod titles;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use cdlc_plugin_api::store::Value;
use cdlc_plugin_api::{
    async_trait, params, ApiError, ApiRouter, DeletedUser, Health, Identity, Migration, Plugin,
    PluginContext, PluginError, Sql, StoreError,
};
use serde::Deserialize;

/// The name of the plugin, its store and its config section.
pub const NAME: &str = "social";

/// The `[plugins.social]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// The longest review, in characters.
    pub max_review_chars: usize,
    /// The most entries a list holds.
    pub max_list_entries: usize,
    /// The most titles on a watchlist.
    pub max_watchlist: usize,
    /// The least time between two stored position beacons of one viewer
    /// and asset, in milliseconds; beacons in between are answered and
    /// dropped (the 90 % mark is never dropped).
    pub beacon_interval_ms: i64,
    /// How deep a GraphQL query may nest.
    pub graphql_max_depth: usize,
    /// The most a GraphQL query may cost (each field 1, lists times their `first`).
    pub graphql_max_complexity: usize,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            max_review_chars: 10_000,
            max_list_entries: 1000,
            max_watchlist: 2000,
            beacon_interval_ms: 10_000,
            graphql_max_depth: 8,
            graphql_max_complexity: 5000,
        }
    }
}

impl Settings {
    fn check(&self) -> Result<(), String> {
        if !(1..=100_000).contains(&self.max_review_chars) {
            return Err("max_review_chars must be 1 to 100000".into());
        }
        if !(1..=100_000).contains(&self.max_list_entries) || !(1..=100_000).contains(&self.max_watchlist) {
            return Err("max_list_entries and max_watchlist must be 1 to 100000".into());
        }
        if !(0..=600_000).contains(&self.beacon_interval_ms) {
            return Err("beacon_interval_ms must be 0 to 600000".into());
        }
        if !(2..=64).contains(&self.graphql_max_depth)
            || !(10..=1_000_000).contains(&self.graphql_max_complexity)
        {
            return Err("graphql_max_depth must be 2 to 64 and graphql_max_complexity 10 to 1000000".into());
        }
        Ok(())
    }
}

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct App {
    pub ctx: PluginContext,
    pub settings: Arc<Settings>,
    /// Members whose handle is stored, so a request writes it once.
    known: Arc<Mutex<HashMap<String, String>>>,
    pub graphql: Arc<OnceLock<graphql::SocialSchema>>,
}

impl App {
    fn new(ctx: PluginContext, settings: Settings) -> App {
        App { ctx, settings: Arc::new(settings), known: Arc::default(), graphql: Arc::default() }
    }

    pub fn db(&self) -> &cdlc_plugin_api::Db {
        self.ctx.db()
    }

    /// Records (once per process) the handle of a user who acts here, so
    /// others can find and follow them by it.
    pub async fn remember(&self, who: &Identity) -> Result<(), StoreError> {
        let known = self.known.lock().unwrap_or_else(|e| e.into_inner()).get(&who.user_id).cloned();
        if known.as_deref() == Some(who.handle.as_str()) {
            return Ok(());
        }
        let key = who.handle.to_lowercase();
        let changed = self
            .db()
            .execute(
                "UPDATE members SET handle = ?, handle_key = ? WHERE user_id = ?",
                params![&who.handle, &key, &who.user_id],
            )
            .await?;
        if changed == 0 {
            match self
                .db()
                .execute(
                    "INSERT INTO members (user_id, handle, handle_key, created_at) VALUES (?, ?, ?, ?)",
                    params![&who.user_id, &who.handle, &key, now_ms()],
                )
                .await
            {
                Ok(_) | Err(StoreError::Conflict(_)) => {}
                Err(error) => return Err(error),
            }
        }
        self.known.lock().unwrap_or_else(|e| e.into_inner()).insert(who.user_id.clone(), who.handle.clone());
        Ok(())
    }

    fn forget(&self, user_id: &str) {
        self.known.lock().unwrap_or_else(|e| e.into_inner()).remove(user_id);
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub(crate) fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// An id from a path or body: this plugin's UUIDs, the catalog's title ids,
/// the host's asset ids and handles are all at most 64 letters, digits, `-`, `_`.
pub(crate) fn check_id(what: &str, id: &str) -> Result<(), ApiError> {
    if (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "{what} {:?} is not an id: 1-64 letters, digits, '-' or '_'",
            id.chars().take(70).collect::<String>()
        )))
    }
}

/// The plugin, for the host's list of built-in plugins.
#[derive(Default)]
pub struct Social {
    app: OnceLock<App>,
}

impl Social {
    pub fn new() -> Social {
        Social::default()
    }
}

#[async_trait]
impl Plugin for Social {
    fn name(&self) -> &'static str {
        NAME
    }

    fn version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn migrations(&self) -> &'static [Migration] {
        schema::MIGRATIONS
    }

    async fn start(&self, ctx: &PluginContext) -> Result<(), PluginError> {
        let settings: Settings = ctx.config()?;
        settings.check().map_err(|message| PluginError::Config { plugin: NAME.into(), message })?;
        self.app
            .set(App::new(ctx.clone(), settings))
            .map_err(|_| PluginError::Failed("the social plugin was started twice".into()))
    }

    fn router(&self, ctx: PluginContext) -> ApiRouter {
        let app = self.app.get().cloned().unwrap_or_else(|| App::new(ctx, Settings::default()));
        api::router(app)
    }

    async fn user_deleted(&self, ctx: &PluginContext, user: &DeletedUser) -> Result<(), PluginError> {
        if let Some(app) = self.app.get() {
            app.forget(&user.user_id);
        }
        remove_user(ctx.db(), &user.user_id).await?;
        Ok(())
    }

    async fn health(&self, ctx: &PluginContext) -> Health {
        match ctx.db().query("SELECT user_id FROM members LIMIT ?", params![1]).await {
            Ok(_) => Health::Ready,
            Err(error) => Health::Down(format!("the social store: {error}")),
        }
    }
}

/// Everything the plugin holds of a user, in one transaction: their
/// profile, lists and entries, diary, likes and comments (theirs and those
/// on their reviews and lists), follows and blocks both ways, positions,
/// feed items, engagements and hidden recommendations. The co-occurrence
/// counts are anonymous sums: a title's count of engaged users drops by
/// one per title they had engaged with.
pub async fn remove_user(db: &cdlc_plugin_api::Db, user_id: &str) -> Result<(), StoreError> {
    let user_id = user_id.to_owned();
    db.transaction(|tx| {
        let user_id = user_id.clone();
        async move {
            let u = user_id.as_str();
            tx.execute(
                "UPDATE title_counts SET users = users - 1 WHERE users > 0 AND title_id IN (SELECT title_id FROM engagements WHERE user_id = ?)",
                params![u],
            )
            .await?;
            for (sql, times) in [
                ("DELETE FROM list_entries WHERE list_id IN (SELECT id FROM lists WHERE owner_id = ?)", 1),
                ("DELETE FROM likes WHERE target_kind = 'list' AND target_id IN (SELECT id FROM lists WHERE owner_id = ?)", 1),
                ("DELETE FROM comments WHERE target_kind = 'list' AND target_id IN (SELECT id FROM lists WHERE owner_id = ?)", 1),
                ("DELETE FROM likes WHERE target_kind = 'review' AND target_id IN (SELECT id FROM diary WHERE user_id = ?)", 1),
                ("DELETE FROM comments WHERE target_kind = 'review' AND target_id IN (SELECT id FROM diary WHERE user_id = ?)", 1),
                ("DELETE FROM lists WHERE owner_id = ?", 1),
                ("DELETE FROM diary WHERE user_id = ?", 1),
                ("DELETE FROM likes WHERE user_id = ?", 1),
                ("DELETE FROM comments WHERE user_id = ?", 1),
                ("DELETE FROM watchlist WHERE user_id = ?", 1),
                ("DELETE FROM favourites WHERE user_id = ?", 1),
                ("DELETE FROM follows WHERE follower_id = ? OR followee_id = ?", 2),
                ("DELETE FROM blocks WHERE blocker_id = ? OR blocked_id = ?", 2),
                ("DELETE FROM progress WHERE user_id = ?", 1),
                ("DELETE FROM activity WHERE actor_id = ?", 1),
                ("DELETE FROM engagements WHERE user_id = ?", 1),
                ("DELETE FROM hidden_recs WHERE user_id = ?", 1),
                ("DELETE FROM members WHERE user_id = ?", 1),
            ] {
                tx.execute(sql, &vec![Value::from(u); times]).await?;
            }
            Ok::<_, StoreError>(())
        }
    })
    .await
}
