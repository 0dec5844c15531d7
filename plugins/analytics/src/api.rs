//! The analytics routes (mounted at `/api/v1/analytics`): beacons from
//! anyone; runs, SQL and the dashboards' tables for admins; an asset's own
//! numbers for uploaders. Tables come as JSON, or as CSV with `format=csv`.

use std::time::Duration;

use bytes::Bytes;
use cdlc_plugin_api::axum::extract::{FromRequestParts, Path, Query as AxumQuery, State};
use cdlc_plugin_api::axum::http::header;
use cdlc_plugin_api::axum::http::request::Parts;
use cdlc_plugin_api::axum::http::StatusCode;
use cdlc_plugin_api::axum::response::{IntoResponse, Response};
use cdlc_plugin_api::utoipa::{self, IntoParams, ToSchema};
use cdlc_plugin_api::utoipa_axum::router::OpenApiRouter;
use cdlc_plugin_api::{
    axum, params, routes, ApiError, ApiRouter, JobsError, Json, PluginError, Principal, Role, Sql,
};
use serde::{Deserialize, Serialize};

use crate::lake::{self, Day, LATE_DAYS};
use crate::pipeline::{self, RunReport, Step, PRODUCTION};
use crate::query::{self, Bounds, Rows};
use crate::runs::{self, Outcome};
use crate::{beacons, App, LakeError};

pub(crate) fn router(app: App) -> ApiRouter {
    OpenApiRouter::new()
        .merge(beacons::routes())
        .routes(routes!(run, runs))
        .routes(routes!(sql))
        .routes(routes!(table))
        .routes(routes!(asset))
        .with_state(app)
}

/// Query parameters whose rejection is a sentence in the one error shape.
pub(crate) struct Query<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Query<T>, ApiError> {
        match AxumQuery::<T>::from_request_parts(parts, state).await {
            Ok(AxumQuery(value)) => Ok(Query(value)),
            Err(rejection) => Err(ApiError::bad_request(format!(
                "the query parameters do not fit: {}",
                rejection.body_text()
            ))),
        }
    }
}

fn lake_error(error: LakeError) -> ApiError {
    match error {
        LakeError::BadQuery(message) => ApiError::bad_request(message),
        LakeError::Objects(e) => {
            ApiError::unavailable(format!("the lake cannot be read now: {e}"), Duration::from_secs(5))
        }
        other => ApiError::internal(other),
    }
}

fn day(field: &str, text: &str) -> Result<Day, ApiError> {
    Day::parse(text).map_err(|e| ApiError::bad_request(format!("{field}: {e}")))
}

/// A range of days, `from..=to`, at most 366 days; by default the last 30.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct Range {
    /// First day, `YYYY-MM-DD` (default: 29 days before `to`).
    from: Option<String>,
    /// Last day, `YYYY-MM-DD` (default: today, UTC).
    to: Option<String>,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

impl Range {
    fn days(&self) -> Result<(Day, Day), ApiError> {
        let to = match &self.to {
            Some(text) => day("to", text)?,
            None => Day::today(),
        };
        let from = match &self.from {
            Some(text) => day("from", text)?,
            None => to.plus(-29),
        };
        if from > to || to.0 - from.0 > 365 {
            return Err(ApiError::bad_request("from must not be after to, and the range at most 366 days"));
        }
        Ok((from, to))
    }

    fn csv(&self) -> Result<bool, ApiError> {
        match self.format.as_deref() {
            None | Some("json") => Ok(false),
            Some("csv") => Ok(true),
            Some(other) => Err(ApiError::bad_request(format!("format must be json or csv, not {other:?}"))),
        }
    }
}

fn answer(rows: Rows, csv: bool, name: &str) -> Response {
    if csv {
        (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}.csv\"")),
            ],
            query::to_csv(&rows),
        )
            .into_response()
    } else {
        Json(rows).into_response()
    }
}

/// Which day to run.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RunRequest {
    /// `YYYY-MM-DD`, UTC.
    day: String,
    /// How long to wait for the run to end, ms: at most the plugin's
    /// `run_wait_ms`, which is also the default; 0 answers 202 at once (the
    /// web UI then follows the run's percentage on `GET /runs`).
    wait_ms: Option<u64>,
}

/// Runs refine, validate and produce for one day (an admin): each step is a
/// job on the queue, which a worker of the farm runs; the answer waits for
/// it up to `run_wait_ms` and is what the run counted (200), or 202 with the
/// queued run when it has not ended by then (`GET /runs` shows it later).
/// Re-running a day changes no file unless new events landed for it.
#[utoipa::path(post, path = "/runs", request_body = RunRequest, responses(
    (status = 200, body = RunReport),
    (status = 202, description = "queued or running still", body = QueuedRun),
    (status = 400, description = "the day is not a date", body = ApiError),
    (status = 401, description = "not signed in", body = ApiError),
    (status = 403, description = "not an admin", body = ApiError),
    (status = 500, description = "the run failed; the message says why", body = ApiError),
    (status = 503, description = "the job queue is unavailable", body = ApiError),
))]
async fn run(
    State(app): State<App>,
    principal: Principal,
    Json(body): Json<RunRequest>,
) -> Result<Response, ApiError> {
    principal.require_role(Role::Admin)?;
    let day = day("day", &body.day)?;
    if day > Day::today() {
        return Err(ApiError::bad_request(format!("{day} has not begun yet: run a day up to today")));
    }
    let asked = runs::ask(&app.ctx, day, "admin").await.map_err(queue_error)?;
    let wait = Duration::from_millis(body.wait_ms.unwrap_or(u64::MAX).min(app.settings.run_wait_ms));
    match runs::wait(&app.ctx, &asked, wait).await? {
        Outcome::Done(report) => Ok(Json(report).into_response()),
        Outcome::Failed(reason) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "run_failed",
            format!("the run of {day} failed: {reason}"),
        )),
        Outcome::Pending => {
            let queued = QueuedRun { day: day.to_string(), started_at: asked.asked_at, job_id: asked.job_id };
            Ok((StatusCode::ACCEPTED, Json(queued)).into_response())
        }
    }
}

fn queue_error(error: PluginError) -> ApiError {
    match error {
        PluginError::Jobs(JobsError::Unavailable(message)) => {
            ApiError::unavailable(format!("the run cannot be queued now: {message}"), Duration::from_secs(5))
        }
        other => ApiError::internal(other),
    }
}

/// A run that has not ended yet.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct QueuedRun {
    day: String,
    /// When it was asked for, ms since the epoch.
    started_at: i64,
    job_id: String,
}

/// One recorded run.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RunRecord {
    day: String,
    /// When it was asked for, ms since the epoch.
    started_at: i64,
    finished_at: Option<i64>,
    /// The step it is at (or ended at): refine, validate, produce.
    step: Option<String>,
    /// The job on the queue that runs that step.
    job_id: Option<String>,
    /// How far the run is, 0 to 100: the share of its three steps finished
    /// (100 once it ended well; a failed run stays where it stopped).
    percent: u8,
    /// `admin`, `daily` or `cli`.
    trigger: String,
    report: Option<RunReport>,
    failure: Option<String>,
}

/// The last 100 runs, newest first (an admin).
#[utoipa::path(get, path = "/runs", responses(
    (status = 200, body = Vec<RunRecord>),
    (status = 401, description = "not signed in", body = ApiError),
    (status = 403, description = "not an admin", body = ApiError),
))]
async fn runs(State(app): State<App>, principal: Principal) -> Result<Json<Vec<RunRecord>>, ApiError> {
    principal.require_role(Role::Admin)?;
    let rows = app
        .ctx
        .db()
        .query(
            "SELECT day, started_at, finished_at, step, job_id, trigger_name, report, failure FROM runs \
             ORDER BY started_at DESC LIMIT 100",
            params![],
        )
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let report: Option<String> = row.get("report")?;
        let step: Option<String> = row.get("step")?;
        let finished_at: Option<i64> = row.get("finished_at")?;
        let failure: Option<String> = row.get("failure")?;
        let percent = match (finished_at, &failure) {
            (Some(_), None) => 100,
            _ => step.as_deref().and_then(Step::parse).map_or(0, Step::percent_done_before),
        };
        out.push(RunRecord {
            day: row.get("day")?,
            started_at: row.get("started_at")?,
            finished_at,
            step,
            job_id: row.get("job_id")?,
            percent,
            trigger: row.get("trigger_name")?,
            report: report.and_then(|r| serde_json::from_str(&r).ok()),
            failure,
        });
    }
    Ok(Json(out))
}

/// A read-only query.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SqlRequest {
    /// One SELECT over the production tables and `events` (the validated events).
    sql: String,
    /// First day of data to load, `YYYY-MM-DD` (default: 6 days before `to`).
    from: Option<String>,
    /// Last day, default today.
    to: Option<String>,
}

/// Runs one read-only SQL statement (an admin): DDL, DML and SET are
/// refused; the query is bounded in time, rows and memory.
#[utoipa::path(post, path = "/sql", request_body = SqlRequest, responses(
    (status = 200, body = Rows),
    (status = 400, description = "not one read-only statement, or over its bounds; the message says which", body = ApiError),
    (status = 401, description = "not signed in", body = ApiError),
    (status = 403, description = "not an admin", body = ApiError),
))]
async fn sql(
    State(app): State<App>,
    principal: Principal,
    Json(body): Json<SqlRequest>,
) -> Result<Json<Rows>, ApiError> {
    principal.require_role(Role::Admin)?;
    if body.sql.len() > 20_000 {
        return Err(ApiError::bad_request("the statement may be at most 20000 bytes"));
    }
    let range = Range { from: body.from, to: body.to, format: None };
    let to = match &range.to {
        Some(t) => day("to", t)?,
        None => Day::today(),
    };
    let from = match &range.from {
        Some(f) => day("from", f)?,
        None => to.plus(-6),
    };
    if from > to || to.0 - from.0 > 92 {
        return Err(ApiError::bad_request("from must not be after to, and a query may load at most 93 days"));
    }
    let settings = &app.settings;
    let bounds = Bounds {
        timeout: Duration::from_millis(settings.sql_timeout_ms),
        max_rows: settings.sql_max_rows,
        max_memory: settings.sql_max_memory,
    };
    query::run_sql(app.ctx.shared_objects(), &body.sql, from, to, bounds).await.map(Json).map_err(lake_error)
}

/// A production table over a range of days (an admin; the dashboards).
#[utoipa::path(get, path = "/tables/{table}", params(("table" = String, Path), Range), responses(
    (status = 200, description = "the rows as JSON, or CSV with format=csv", body = Rows),
    (status = 400, description = "bad range or format", body = ApiError),
    (status = 401, description = "not signed in", body = ApiError),
    (status = 403, description = "not an admin", body = ApiError),
    (status = 404, description = "no such table", body = ApiError),
))]
async fn table(
    State(app): State<App>,
    principal: Principal,
    Path(table): Path<String>,
    Query(range): Query<Range>,
) -> Result<Response, ApiError> {
    principal.require_role(Role::Admin)?;
    let (from, to) = range.days()?;
    let csv = range.csv()?;
    if !PRODUCTION.iter().any(|(name, _)| *name == table) {
        let names: Vec<&str> = PRODUCTION.iter().map(|(n, _)| *n).collect();
        return Err(ApiError::not_found(format!("no table {table:?}: the tables are {}", names.join(", "))));
    }
    let (schema, batches) =
        query::production(app.ctx.objects(), &table, from, to).await.map_err(lake_error)?;
    let rows = query::to_rows(&schema, &batches).map_err(lake_error)?;
    Ok(answer(rows, csv, &table))
}

/// An asset's own numbers per day (views, watch time, startup, stalls), as
/// of the last run of each day (an uploader).
#[utoipa::path(get, path = "/assets/{asset_id}", params(("asset_id" = String, Path), Range), responses(
    (status = 200, description = "views_by_asset rows of the asset, JSON or CSV", body = Rows),
    (status = 400, description = "bad id, range or format", body = ApiError),
    (status = 401, description = "not signed in", body = ApiError),
    (status = 403, description = "not an uploader", body = ApiError),
))]
async fn asset(
    State(app): State<App>,
    principal: Principal,
    Path(asset_id): Path<String>,
    Query(range): Query<Range>,
) -> Result<Response, ApiError> {
    principal.require_role(Role::Uploader)?;
    beacons::check_token("asset_id", &asset_id, 1)?;
    let (from, to) = range.days()?;
    let csv = range.csv()?;
    let (schema, batches) =
        query::production(app.ctx.objects(), "views_by_asset", from, to).await.map_err(lake_error)?;
    let mut rows = query::to_rows(&schema, &batches).map_err(lake_error)?;
    let column = rows.columns.iter().position(|c| c == "asset_id").unwrap_or(1);
    rows.rows.retain(|row| row.get(column).and_then(|v| v.as_str()) == Some(asset_id.as_str()));
    Ok(answer(rows, csv, &format!("asset-{asset_id}")))
}

/// The daily run: at `daily_run_hour` UTC, yesterday and the `LATE_DAYS`
/// before it (whose late events may have landed since).
pub(crate) async fn daily(app: App) {
    let hour = i64::from(app.settings.daily_run_hour);
    loop {
        let now = crate::now_ms();
        let today = Day::of_ms(now);
        let mut next = today.start_ms() + hour * 3_600_000;
        if next <= now {
            next += lake::MS_PER_DAY;
        }
        tokio::time::sleep(Duration::from_millis((next - now) as u64)).await;
        let yesterday = Day::of_ms(next).plus(-1);
        for back in (0..=LATE_DAYS).rev() {
            let day = yesterday.plus(-back);
            if let Err(error) = runs::ask(&app.ctx, day, "daily").await {
                tracing::warn!(plugin = "analytics", day = %day, %error, "the daily lake run cannot be queued");
            }
        }
    }
}

/// Removes a deleted user's id from every landing file that holds it, so
/// the next run of those days (started here) has none of it.
pub(crate) async fn forget_user(
    ctx: &cdlc_plugin_api::PluginContext,
    user_id: &str,
) -> Result<(), LakeError> {
    let objects = ctx.objects();
    let needle = format!("\"user_id\":{}", serde_json::Value::String(user_id.to_owned()));
    let mut days = Vec::new();
    for object in objects.list("lake/landing/").await? {
        let Some(data) = objects.get(&object.key).await? else { continue };
        let text = String::from_utf8_lossy(&data);
        if !text.contains(&needle) {
            continue;
        }
        let mut out = String::with_capacity(text.len());
        for line in text.lines() {
            match serde_json::from_str::<crate::event::LakeEvent>(line) {
                Ok(mut event) if event.user_id.as_deref() == Some(user_id) => {
                    event.user_id = None;
                    out.push_str(&serde_json::to_string(&event).map_err(LakeError::failed)?);
                }
                _ => out.push_str(line),
            }
            out.push('\n');
        }
        objects.put(&object.key, Bytes::from(out)).await?;
        if let Some(day) = lake::day_of_key(&object.key) {
            days.push(day);
        }
    }
    days.sort();
    days.dedup();
    for landed in days {
        for back in 0..=LATE_DAYS {
            let day = landed.plus(-back);
            if objects.head(&lake::validated_key(day)).await?.is_some() {
                pipeline::run_day(objects, day).await?;
            }
        }
    }
    Ok(())
}
