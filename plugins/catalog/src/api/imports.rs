//! Imports of IMDb's datasets through the API: the files come as a
//! multipart upload, land in the plugin's objects under
//! `landing/{import_id}/` (where a farm worker could pick them up), and the
//! import runs in the background; its status, percent and report are read
//! back by id.

use std::path::PathBuf;
use std::sync::Arc;

use cdlc_plugin_api::axum;
use cdlc_plugin_api::axum::extract::multipart::MultipartRejection;
use cdlc_plugin_api::axum::extract::{Multipart, Path, State};
use cdlc_plugin_api::axum::http::StatusCode;
use cdlc_plugin_api::store::Value;
use cdlc_plugin_api::utoipa::{self, IntoParams, ToSchema};
use cdlc_plugin_api::utoipa_axum::router::OpenApiRouter;
use cdlc_plugin_api::{params, routes, ApiError, FromRow, Json, Principal, Row, Sql, StoreError};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

use super::{decode_cursor, limit, page_of, require_import, words, Page, PageQuery, Query};
use crate::imdb::{self, ImportError, ImportFile, ImportOptions, Report};
use crate::model::now_ms;
use crate::Shared;

type Shared_ = Arc<Shared>;

pub(super) fn routes() -> OpenApiRouter<Shared_> {
    OpenApiRouter::new().routes(routes!(list, create)).routes(routes!(get_import))
}

/// An import and where it is.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportView {
    pub id: String,
    /// `running`, `done` or `failed`.
    pub state: String,
    /// The files, as uploaded.
    pub files: Vec<String>,
    pub options: ImportOptions,
    /// 0–100: up to 99 from the compressed bytes read, 100 once done.
    pub percent: f64,
    /// While running: `reading` the files, then `indexing` (the deferred
    /// indexes built again and the search index committed, after the last file).
    pub phase: Option<imdb::Phase>,
    /// Rows read, written, unchanged, skipped and rejected per file (when done).
    pub report: Option<Report>,
    /// Why it failed.
    pub error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A column of JSON text, decoded.
fn json_column<T: serde::de::DeserializeOwned>(row: &Row, column: &str) -> Result<Option<T>, StoreError> {
    row.get::<Option<String>>(column)?
        .map(|text| serde_json::from_str(&text))
        .transpose()
        .map_err(|e| StoreError::Decode { column: column.to_owned(), message: e.to_string() })
}

impl FromRow for ImportView {
    fn from_row(row: &Row) -> Result<ImportView, StoreError> {
        Ok(ImportView {
            id: row.get("id")?,
            state: row.get("state")?,
            files: json_column(row, "files")?.unwrap_or_default(),
            options: json_column(row, "options")?.unwrap_or_default(),
            percent: row.get("percent")?,
            phase: None,
            report: json_column(row, "report")?,
            error: row.get("error")?,
            created_at: row.get("created_at")?,
            updated_at: row.get("updated_at")?,
        })
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportParams {
    /// IMDb title types or catalog kinds to keep, comma-separated (`movie,tvSeries,tvEpisode`).
    kinds: Option<String>,
    /// Only titles with at least this many IMDb votes.
    min_votes: Option<u64>,
    /// Only the N titles with the most votes.
    top: Option<u64>,
}

fn import_error(error: ImportError) -> ApiError {
    match error {
        ImportError::File { .. } | ImportError::Options(_) => ApiError::bad_request(error.to_string()),
        other => ApiError::internal(other),
    }
}

/// A name that can be an object key and ends in `.tsv.gz`.
fn check_file_name(name: &str) -> Result<(), ApiError> {
    let safe = !name.is_empty()
        && name.len() <= 200
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        && !name.starts_with('.');
    if !safe || !name.ends_with(".tsv.gz") {
        return Err(ApiError::bad_request(format!(
            "the file name {:?} must end in .tsv.gz and hold only letters, digits and - _ . (e.g. title.basics.tsv.gz)",
            crate::model::clip(name, 80)
        )));
    }
    Ok(())
}

struct Spool(PathBuf);

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Starts an import of IMDb `.tsv.gz` files sent as multipart parts (admin,
/// `catalog:import`). The files are checked (gzip, a dataset's header)
/// before the answer; the import then runs in the background.
#[utoipa::path(operation_id = "create_imports", post, path = "/imports", params(ImportParams),
    request_body(content = Vec<u8>, content_type = "multipart/form-data", description = "one part per .tsv.gz file, with its file name"),
    responses(
        (status = 202, body = ImportView),
        (status = 400, description = "no file, a file that is not gzip or not an IMDb dataset, or a bad option", body = ApiError),
        (status = 409, description = "another import is running", body = ApiError),
        (status = 413, description = "the files are larger than max_import_bytes", body = ApiError),
    ))]
async fn create(
    State(shared): State<Shared_>,
    principal: Principal,
    Query(params): Query<ImportParams>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, Json<ImportView>), ApiError> {
    let user = require_import(&principal)?.user_id.clone();
    let mut multipart = multipart.map_err(|e| {
        ApiError::bad_request(format!(
            "send the files as multipart/form-data, one part per file: {}",
            e.body_text()
        ))
    })?;
    let options = ImportOptions {
        kinds: words(params.kinds.as_deref(), 20, "kinds")?,
        min_votes: params.min_votes,
        top: params.top,
    };
    options.check().map_err(import_error)?;
    let id = uuid::Uuid::now_v7().to_string();
    {
        let mut running = shared.running_import.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((other, _)) = &*running {
            return Err(ApiError::conflict(format!("the import {other} is running: wait until it is done")));
        }
        *running = Some((id.clone(), imdb::Progress::default()));
    }
    let started = start(&shared, &id, &user, &mut multipart, options).await;
    if started.is_err() {
        *shared.running_import.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
    started.map(|view| (StatusCode::ACCEPTED, Json(view)))
}

async fn start(
    shared: &Shared_,
    id: &str,
    user: &str,
    multipart: &mut Multipart,
    options: ImportOptions,
) -> Result<ImportView, ApiError> {
    let root = shared.ctx.data_dir().map_or_else(std::env::temp_dir, |d| d.to_owned());
    let spool = Spool(root.join(format!("import-{id}")));
    tokio::fs::create_dir_all(&spool.0).await.map_err(ApiError::internal)?;
    let max = shared.settings.max_import_bytes;
    let mut total = 0u64;
    let mut files = Vec::new();
    while let Some(mut field) = multipart
        .next_field()
        .await
        .map_err(|e| ApiError::bad_request(format!("the multipart body cannot be read: {}", e.body_text())))?
    {
        let Some(name) = field.file_name().map(str::to_owned) else { continue };
        check_file_name(&name)?;
        if files.iter().any(|f: &ImportFile| f.name == name) {
            return Err(ApiError::bad_request(format!("the file {name} is sent twice")));
        }
        let path = spool.0.join(&name);
        let mut out = tokio::fs::File::create(&path).await.map_err(ApiError::internal)?;
        while let Some(chunk) = field.chunk().await.map_err(|e| {
            ApiError::bad_request(format!("the upload of {name} broke off: {}", e.body_text()))
        })? {
            total += chunk.len() as u64;
            if total > max {
                return Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    format!("the files of one import must be at most {max} bytes (max_import_bytes)"),
                ));
            }
            out.write_all(&chunk).await.map_err(ApiError::internal)?;
        }
        out.flush().await.map_err(ApiError::internal)?;
        files.push(ImportFile { path, name });
    }
    if files.is_empty() {
        return Err(ApiError::bad_request(
            "send at least one .tsv.gz file (a multipart part with a file name)",
        ));
    }
    imdb::check_files(&files).await.map_err(import_error)?;
    for file in &files {
        shared
            .ctx
            .objects()
            .put_file(&format!("landing/{id}/{}", file.name), &file.path)
            .await
            .map_err(ApiError::internal)?;
    }
    let now = now_ms();
    let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
    shared
        .ctx
        .db()
        .execute(
            "INSERT INTO imports (id, state, files, options, percent, created_by, created_at, updated_at) VALUES (?, 'running', ?, ?, 0, ?, ?, ?)",
            params![
                id,
                serde_json::to_string(&names).map_err(ApiError::internal)?,
                serde_json::to_string(&options).map_err(ApiError::internal)?,
                user,
                now,
                now
            ],
        )
        .await?;
    let (task_shared, task_id) = (shared.clone(), id.to_owned());
    tokio::spawn(async move {
        let spool = spool;
        run(&task_shared, &task_id, &files, &options).await;
        drop(spool);
    });
    view(shared, id).await
}

async fn run(shared: &Shared_, id: &str, files: &[ImportFile], options: &ImportOptions) {
    let progress_shared = shared.clone();
    let progress = move |p: &imdb::Progress| {
        let mut running = progress_shared.running_import.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, at)) = running.as_mut() {
            *at = p.clone();
        }
    };
    let outcome = imdb::import(shared.ctx.db(), Some(&shared.index), files, options, &progress).await;
    shared.forget_mean();
    let (state, report, error) = match outcome {
        Ok(report) => {
            tracing::info!(
                plugin = crate::NAME,
                import = id,
                rows_written = report.rows_written(),
                "import done"
            );
            ("done", serde_json::to_string(&report).ok(), None)
        }
        Err(error) => {
            tracing::warn!(plugin = crate::NAME, import = id, %error, "import failed");
            ("failed", None, Some(error.to_string()))
        }
    };
    let written = shared
        .ctx
        .db()
        .execute(
            "UPDATE imports SET state = ?, percent = ?, report = ?, error = ?, updated_at = ? WHERE id = ?",
            params![state, if state == "done" { 100.0 } else { 0.0 }, report, error, now_ms(), id],
        )
        .await;
    if let Err(error) = written {
        tracing::error!(plugin = crate::NAME, import = id, %error, "cannot record the end of an import");
    }
    *shared.running_import.lock().unwrap_or_else(|e| e.into_inner()) = None;
}

async fn view(shared: &Shared, id: &str) -> Result<ImportView, ApiError> {
    let mut view: ImportView =
        shared.ctx.db().query_opt("SELECT * FROM imports WHERE id = ?", params![id]).await?.ok_or_else(
            || ApiError::not_found(format!("there is no import {:?}", crate::model::clip(id, 40))),
        )?;
    if view.state == "running" {
        let running = shared.running_import.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((running_id, progress)) = &*running {
            if running_id == id {
                view.percent = progress.percent();
                view.phase = Some(progress.phase);
            }
        }
    }
    Ok(view)
}

/// An import: its state, percent and (when done) its report (admin, `catalog:import`).
#[utoipa::path(get, path = "/imports/{id}", params(("id" = String, Path)), responses(
    (status = 200, body = ImportView),
    (status = 404, description = "no such import", body = ApiError),
))]
async fn get_import(
    State(shared): State<Shared_>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<ImportView>, ApiError> {
    require_import(&principal)?;
    Ok(Json(view(&shared, &id).await?))
}

/// The imports, newest first (admin, `catalog:import`).
#[utoipa::path(operation_id = "list_imports", get, path = "/imports", params(PageQuery), responses((status = 200, body = Page<ImportView>)))]
async fn list(
    State(shared): State<Shared_>,
    principal: Principal,
    Query(q): Query<PageQuery>,
) -> Result<Json<Page<ImportView>>, ApiError> {
    require_import(&principal)?;
    let limit = limit(q.limit)?;
    let mut values = Vec::new();
    let mut clause = "1 = 1";
    if let Some(cursor) = &q.cursor {
        values.push(decode_cursor(cursor, "t")?.remove(0));
        clause = "id < ?";
    }
    values.push(Value::Int(limit as i64 + 1));
    let rows = shared
        .ctx
        .db()
        .query(&format!("SELECT * FROM imports WHERE {clause} ORDER BY id DESC LIMIT ?"), &values)
        .await?;
    Ok(Json(page_of(&rows, limit, ImportView::from_row, |last| Ok(vec![Value::Text(last.get("id")?)]))?))
}
