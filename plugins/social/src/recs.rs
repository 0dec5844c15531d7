//! Recommendations from implicit feedback: a title a user logged (not
//! rated below 2.5 stars), liked or watched to 90 % is an engagement.
//!
//! - "Because you watched X": item-item co-occurrence. Each new engagement
//!   adds one to the pair counts of the title with the user's
//!   `RECENT_PAIRS` latest other engagements (both ways), so a write costs
//!   at most `2 × RECENT_PAIRS` small updates, whatever the data's size;
//!   reading scores the candidates of the user's `SEEDS` latest titles by
//!   cosine similarity (co-count ÷ √(count a × count b)), which keeps
//!   titles everybody watches from drowning the specific ones.
//! - "Popular with people you follow": titles in the diaries of those you
//!   follow (public and followers-only entries), by how many of them.
//! - "Popular": titles by engaged users, for a new user with nothing yet.
//!
//! Titles one has engaged with or hidden are never recommended.

use std::collections::{HashMap, HashSet};

use cdlc_plugin_api::axum;
use cdlc_plugin_api::axum::extract::{Path, State};
use cdlc_plugin_api::axum::http::StatusCode;
use cdlc_plugin_api::store::Value;
use cdlc_plugin_api::utoipa::{self, IntoParams, ToSchema};
use cdlc_plugin_api::utoipa_axum::router::OpenApiRouter;
use cdlc_plugin_api::{params, routes, ApiError, Json, Principal, Sql, StoreError, Tx};
use serde::{Deserialize, Serialize};

use crate::api::{limit, writer, Query};
use crate::feed::marks;
use crate::titles::{self, TitleSummary};
use crate::{check_id, now_ms, App};

pub(crate) fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new().routes(routes!(recommendations)).routes(routes!(hide, unhide))
}

/// How many of a user's latest titles a new engagement pairs with.
pub const RECENT_PAIRS: i64 = 50;
/// How many of a user's latest titles seed "because you watched".
pub const SEEDS: usize = 20;
/// The most pair rows read for one user's recommendations.
const CANDIDATES: i64 = 2000;
/// The most titles a user's own history excludes (their latest).
const HISTORY: i64 = 2000;

async fn bump(tx: &Tx, update: &str, insert: &str, keys: &[Value]) -> Result<(), StoreError> {
    if tx.execute(update, keys).await? == 0 {
        match tx.execute(insert, keys).await {
            Ok(_) => {}
            // Another writer inserted it first (MySQL): count on theirs.
            Err(StoreError::Conflict(_)) => {
                tx.execute(update, keys).await?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Records that `user` engaged with `title` (once per user and title) and
/// updates the counts incrementally.
pub(crate) async fn engage(tx: &Tx, user: &str, title: &str, now: i64) -> Result<(), StoreError> {
    match tx
        .execute(
            "INSERT INTO engagements (user_id, title_id, created_at) VALUES (?, ?, ?)",
            params![user, title, now],
        )
        .await
    {
        Ok(_) => {}
        Err(StoreError::Conflict(_)) => return Ok(()),
        Err(e) => return Err(e),
    }
    bump(
        tx,
        "UPDATE title_counts SET users = users + 1 WHERE title_id = ?",
        "INSERT INTO title_counts (title_id, users) VALUES (?, 1)",
        params![title],
    )
    .await?;
    let others = tx
        .query(
            "SELECT title_id FROM engagements WHERE user_id = ? AND title_id <> ? ORDER BY created_at DESC LIMIT ?",
            params![user, title, RECENT_PAIRS],
        )
        .await?;
    for row in &others {
        let other: String = row.get("title_id")?;
        for (a, b) in [(title, other.as_str()), (other.as_str(), title)] {
            bump(
                tx,
                "UPDATE co_counts SET users = users + 1 WHERE title_a = ? AND title_b = ?",
                "INSERT INTO co_counts (title_a, title_b, users) VALUES (?, ?, 1)",
                params![a, b],
            )
            .await?;
        }
    }
    Ok(())
}

/// A recommended title.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Recommendation {
    pub title_id: String,
    pub title: Option<TitleSummary>,
    /// Higher is stronger; comparable within one row only.
    pub score: f64,
    /// "Because you watched" this title.
    pub because_title_id: Option<String>,
}

/// The rows of recommendations.
#[derive(Debug, Serialize, ToSchema)]
pub struct Recommendations {
    pub because_you_watched: Vec<Recommendation>,
    pub popular_with_following: Vec<Recommendation>,
    /// What many watch: for everyone, and all a new user gets.
    pub popular: Vec<Recommendation>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RecsQuery {
    /// Titles per row, 1–100 (default 20).
    pub limit: Option<usize>,
}

fn rec(title_id: String, score: f64, because: Option<String>) -> Recommendation {
    Recommendation { title_id, title: None, score, because_title_id: because }
}

/// The recommendations of `user`, `n` titles per row.
pub(crate) async fn compute(app: &App, user: &str, n: usize) -> Result<Recommendations, ApiError> {
    let db = app.db();
    let history = db
        .query(
            "SELECT title_id FROM engagements WHERE user_id = ? ORDER BY created_at DESC LIMIT ?",
            params![user, HISTORY],
        )
        .await?;
    let history = history.iter().map(|r| r.get::<String>("title_id")).collect::<Result<Vec<_>, _>>()?;
    let hidden = db
        .query("SELECT title_id FROM hidden_recs WHERE user_id = ? LIMIT ?", params![user, HISTORY])
        .await?;
    let mut excluded: HashSet<String> = history.iter().cloned().collect();
    for row in &hidden {
        excluded.insert(row.get("title_id")?);
    }

    let mut because = Vec::new();
    let seeds: Vec<Value> = history.iter().take(SEEDS).map(|t| Value::Text(t.clone())).collect();
    if !seeds.is_empty() {
        let sql = format!(
            "SELECT c.title_a, c.title_b, c.users, ta.users AS count_a, tb.users AS count_b FROM co_counts c \
             JOIN title_counts ta ON ta.title_id = c.title_a JOIN title_counts tb ON tb.title_id = c.title_b \
             WHERE c.title_a IN ({}) ORDER BY c.users DESC LIMIT ?",
            marks(seeds.len())
        );
        let mut values = seeds.clone();
        values.push(Value::Int(CANDIDATES));
        let mut scores: HashMap<String, (f64, String, f64)> = HashMap::new();
        for row in db.query(&sql, &values).await? {
            let b: String = row.get("title_b")?;
            if excluded.contains(&b) {
                continue;
            }
            let (co, ca, cb): (i64, i64, i64) = (row.get("users")?, row.get("count_a")?, row.get("count_b")?);
            let sim = co as f64 / ((ca.max(1) * cb.max(1)) as f64).sqrt();
            let entry = scores.entry(b).or_insert((0.0, String::new(), 0.0));
            entry.0 += sim;
            if sim > entry.2 {
                entry.1 = row.get("title_a")?;
                entry.2 = sim;
            }
        }
        let mut ranked: Vec<(String, (f64, String, f64))> = scores.into_iter().collect();
        ranked.sort_by(|x, y| y.1 .0.total_cmp(&x.1 .0).then_with(|| x.0.cmp(&y.0)));
        because = ranked.into_iter().take(n).map(|(t, (score, seed, _))| rec(t, score, Some(seed))).collect();
    }

    let rows = db
        .query(
            "SELECT title_id, COUNT(DISTINCT user_id) AS people FROM diary \
             WHERE user_id IN (SELECT followee_id FROM follows WHERE follower_id = ?) AND visibility IN ('public', 'followers') \
             GROUP BY title_id ORDER BY people DESC, title_id LIMIT ?",
            params![user, (n + excluded.len()).min(2000) as i64],
        )
        .await?;
    let mut following = Vec::new();
    for row in &rows {
        let t: String = row.get("title_id")?;
        if !excluded.contains(&t) && following.len() < n {
            following.push(rec(t, row.get::<i64>("people")? as f64, None));
        }
    }

    let rows = db
        .query(
            "SELECT title_id, users FROM title_counts ORDER BY users DESC, title_id LIMIT ?",
            params![(n + excluded.len()).min(2000) as i64],
        )
        .await?;
    let mut popular = Vec::new();
    for row in &rows {
        let t: String = row.get("title_id")?;
        if !excluded.contains(&t) && popular.len() < n {
            popular.push(rec(t, row.get::<i64>("users")? as f64, None));
        }
    }

    let ids: Vec<String> = because
        .iter()
        .chain(&following)
        .chain(&popular)
        .map(|r: &Recommendation| r.title_id.clone())
        .collect();
    let found = titles::titles(&app.ctx, &ids).await?;
    let fill = |mut rows: Vec<Recommendation>| {
        for r in &mut rows {
            r.title = found.get(&r.title_id).cloned();
        }
        rows
    };
    Ok(Recommendations {
        because_you_watched: fill(because),
        popular_with_following: fill(following),
        popular: fill(popular),
    })
}

/// Your recommendations: because you watched…, popular with people you
/// follow, and popular.
#[utoipa::path(get, path = "/recommendations", params(RecsQuery), responses(
    (status = 200, body = Recommendations),
    (status = 400, description = "the limit is not valid", body = ApiError),
    (status = 401, description = "not signed in", body = ApiError),
))]
async fn recommendations(
    State(app): State<App>,
    principal: Principal,
    Query(q): Query<RecsQuery>,
) -> Result<Json<Recommendations>, ApiError> {
    let who = writer(&app, &principal).await?;
    Ok(Json(compute(&app, &who.user_id, limit(q.limit)?).await?))
}

/// Hides a title from your recommendations.
#[utoipa::path(put, path = "/recommendations/hidden/{title_id}", params(("title_id" = String, Path)), responses(
    (status = 204, description = "hidden"),
    (status = 400, description = "not a title id", body = ApiError),
    (status = 401, description = "not signed in", body = ApiError),
))]
async fn hide(
    State(app): State<App>,
    principal: Principal,
    Path(title_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let who = writer(&app, &principal).await?;
    check_id("title_id", &title_id)?;
    match app
        .db()
        .execute(
            "INSERT INTO hidden_recs (user_id, title_id, created_at) VALUES (?, ?, ?)",
            params![&who.user_id, &title_id, now_ms()],
        )
        .await
    {
        Ok(_) | Err(StoreError::Conflict(_)) => Ok(StatusCode::NO_CONTENT),
        Err(e) => Err(e.into()),
    }
}

/// Shows a hidden title in your recommendations again.
#[utoipa::path(delete, path = "/recommendations/hidden/{title_id}", params(("title_id" = String, Path)), responses(
    (status = 204, description = "no longer hidden"),
    (status = 400, description = "not a title id", body = ApiError),
    (status = 401, description = "not signed in", body = ApiError),
))]
async fn unhide(
    State(app): State<App>,
    principal: Principal,
    Path(title_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let who = writer(&app, &principal).await?;
    check_id("title_id", &title_id)?;
    app.db()
        .execute(
            "DELETE FROM hidden_recs WHERE user_id = ? AND title_id = ?",
            params![&who.user_id, &title_id],
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
