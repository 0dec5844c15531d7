//! The embedded backend: one SQLite file, WAL mode, migrations by
//! `PRAGMA user_version`.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::{
    Asset, AssetStatus, Event, Job, JobKind, JobState, MetadataError, MetadataStore, NewAsset, Page,
    RenditionRecord, SegmentRecord, MAX_PAGE_SIZE,
};

/// Schema versions, applied in order; never edit one that has shipped.
const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    "CREATE TABLE assets (
        id TEXT PRIMARY KEY,
        title TEXT,
        status TEXT NOT NULL,
        progress REAL NOT NULL DEFAULT 0,
        error TEXT,
        private INTEGER NOT NULL DEFAULT 0,
        source TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE INDEX assets_by_status ON assets (status, id);
    CREATE TABLE renditions (
        asset_id TEXT NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        width INTEGER,
        height INTEGER,
        bitrate INTEGER NOT NULL,
        codec TEXT NOT NULL,
        PRIMARY KEY (asset_id, name)
    );
    CREATE TABLE segments (
        asset_id TEXT NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
        rendition TEXT NOT NULL,
        number INTEGER NOT NULL,
        start_ns INTEGER NOT NULL,
        duration_ns INTEGER NOT NULL,
        size INTEGER NOT NULL,
        PRIMARY KEY (asset_id, rendition, number)
    );
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        asset_id TEXT NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        max_attempts INTEGER NOT NULL,
        lease_owner TEXT,
        lease_until INTEGER,
        run_after INTEGER NOT NULL,
        last_error TEXT
    );
    CREATE INDEX jobs_due ON jobs (state, run_after);
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        asset_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        data TEXT NOT NULL,
        at INTEGER NOT NULL
    );",
    // 2: a job's subject is an asset or, for a plugin's job, a name of the
    // plugin's (so no foreign key to assets: `enqueue_job` checks that a
    // transcode's asset exists, `delete_asset` removes the asset's jobs).
    "CREATE TABLE jobs_v2 (
        id TEXT PRIMARY KEY,
        asset_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        max_attempts INTEGER NOT NULL,
        lease_owner TEXT,
        lease_until INTEGER,
        run_after INTEGER NOT NULL,
        last_error TEXT
    );
    INSERT INTO jobs_v2 SELECT id, asset_id, kind, state, attempts, max_attempts, lease_owner, lease_until, run_after, last_error FROM jobs;
    DROP TABLE jobs;
    ALTER TABLE jobs_v2 RENAME TO jobs;
    CREATE INDEX jobs_due ON jobs (state, run_after);
    CREATE INDEX jobs_by_asset ON jobs (asset_id);",
];

/// The embedded metadata store.
#[derive(Clone)]
pub struct SqliteStore {
    connection: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteStore")
    }
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

fn corrupt(what: &str, value: &str) -> MetadataError {
    MetadataError::Corrupt(format!("{what} {value:?}"))
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and migrates it.
    pub fn open(path: &Path) -> Result<SqliteStore, MetadataError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| MetadataError::Database(format!("cannot create {}: {e}", parent.display())))?;
        }
        Self::init(Connection::open(path)?)
    }

    /// An in-memory database, for tests and one-shot tools.
    pub fn in_memory() -> Result<SqliteStore, MetadataError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(mut connection: Connection) -> Result<SqliteStore, MetadataError> {
        connection.busy_timeout(Duration::from_secs(5))?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "NORMAL")?;
        connection.pragma_update(None, "foreign_keys", "ON")?;
        let version: i64 = connection.pragma_query_value(None, "user_version", |r| r.get(0))?;
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(MetadataError::Database(format!(
                "the database is at schema version {version}, newer than this cdlc ({known}); upgrade cdlc"
            )));
        }
        for (index, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = connection.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", index as i64 + 1)?;
            tx.commit()?;
        }
        Ok(SqliteStore { connection: Arc::new(Mutex::new(connection)) })
    }

    /// Runs `work` on the connection in the blocking pool.
    async fn with<T, F>(&self, work: F) -> Result<T, MetadataError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, MetadataError> + Send + 'static,
    {
        let connection = self.connection.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = connection.lock().unwrap_or_else(|e| e.into_inner());
            work(&mut guard)
        })
        .await
        .map_err(|e| MetadataError::Database(format!("the metadata task failed: {e}")))?
    }
}

const ASSET_COLUMNS: &str = "id, title, status, progress, error, private, source, created_at, updated_at";

fn asset_from_row(row: &Row<'_>) -> rusqlite::Result<Result<Asset, MetadataError>> {
    let status: String = row.get(2)?;
    let source: Option<String> = row.get(6)?;
    Ok((|| {
        Ok(Asset {
            id: row.get(0)?,
            title: row.get(1)?,
            status: AssetStatus::parse(&status).ok_or_else(|| corrupt("asset status", &status))?,
            progress: row.get(3)?,
            error: row.get(4)?,
            private: row.get::<_, i64>(5)? != 0,
            source: match source {
                Some(text) => Some(serde_json::from_str(&text).map_err(|_| corrupt("source info", &text))?),
                None => None,
            },
            created_at: row.get(7)?,
            updated_at: row.get(8)?,
        })
    })())
}

fn get_asset(conn: &Connection, id: &str) -> Result<Option<Asset>, MetadataError> {
    conn.query_row(&format!("SELECT {ASSET_COLUMNS} FROM assets WHERE id = ?1"), [id], asset_from_row)
        .optional()?
        .transpose()
}

const JOB_COLUMNS: &str =
    "id, asset_id, kind, state, attempts, max_attempts, lease_owner, lease_until, run_after, last_error";

fn job_from_row(row: &Row<'_>) -> rusqlite::Result<Result<Job, MetadataError>> {
    let kind: String = row.get(2)?;
    let state: String = row.get(3)?;
    Ok((|| {
        Ok(Job {
            id: row.get(0)?,
            asset_id: row.get(1)?,
            kind: JobKind::parse(&kind).ok_or_else(|| corrupt("job kind", &kind))?,
            state: JobState::parse(&state).ok_or_else(|| corrupt("job state", &state))?,
            attempts: row.get(4)?,
            max_attempts: row.get(5)?,
            lease_owner: row.get(6)?,
            lease_until: row.get(7)?,
            run_after: row.get(8)?,
            last_error: row.get(9)?,
        })
    })())
}

fn get_job(conn: &Connection, id: &str) -> Result<Option<Job>, MetadataError> {
    conn.query_row(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1"), [id], job_from_row)
        .optional()?
        .transpose()
}

fn insert_event(
    conn: &Connection,
    asset_id: &str,
    kind: &str,
    data: &serde_json::Value,
) -> Result<Event, MetadataError> {
    let at = now_ms();
    conn.execute(
        "INSERT INTO events (asset_id, kind, data, at) VALUES (?1, ?2, ?3, ?4)",
        params![asset_id, kind, data.to_string(), at],
    )?;
    Ok(Event {
        seq: conn.last_insert_rowid(),
        asset_id: asset_id.into(),
        kind: kind.into(),
        data: data.clone(),
        at,
    })
}

/// A foreign-key failure means the asset a row belongs to does not exist.
fn unless_asset_missing(error: rusqlite::Error, asset_id: &str) -> MetadataError {
    match error {
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation => {
            MetadataError::NoSuchAsset(asset_id.to_owned())
        }
        other => other.into(),
    }
}

#[async_trait::async_trait]
impl MetadataStore for SqliteStore {
    async fn create_asset(&self, new: NewAsset) -> Result<Asset, MetadataError> {
        let id = uuid::Uuid::now_v7().simple().to_string();
        self.with(move |conn| {
            let now = now_ms();
            conn.execute(
                "INSERT INTO assets (id, title, status, progress, private, created_at, updated_at)
                 VALUES (?1, ?2, 'uploading', 0, ?3, ?4, ?4)",
                params![id, new.title, new.private as i64, now],
            )?;
            get_asset(conn, &id)?.ok_or(MetadataError::NoSuchAsset(id))
        })
        .await
    }

    async fn get_asset(&self, id: &str) -> Result<Option<Asset>, MetadataError> {
        let id = id.to_owned();
        self.with(move |conn| get_asset(conn, &id)).await
    }

    async fn list_assets(
        &self,
        status: Option<AssetStatus>,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<Asset>, MetadataError> {
        if cursor.is_some_and(|c| !crate::is_asset_id(c)) {
            return Err(MetadataError::BadCursor);
        }
        let cursor = cursor.map(str::to_owned);
        let limit = limit.clamp(1, MAX_PAGE_SIZE);
        self.with(move |conn| {
            let mut statement = conn.prepare(&format!(
                "SELECT {ASSET_COLUMNS} FROM assets
                 WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR id < ?2)
                 ORDER BY id DESC LIMIT ?3"
            ))?;
            let rows = statement.query_map(
                params![status.map(AssetStatus::as_str), cursor, limit as i64 + 1],
                asset_from_row,
            )?;
            let mut items = rows
                .map(|r| r.map_err(MetadataError::from).and_then(|a| a))
                .collect::<Result<Vec<_>, _>>()?;
            let next = if items.len() > limit as usize {
                items.truncate(limit as usize);
                items.last().map(|a| a.id.clone())
            } else {
                None
            };
            Ok(Page { items, next })
        })
        .await
    }

    async fn set_status(
        &self,
        id: &str,
        status: AssetStatus,
        error: Option<&str>,
    ) -> Result<Asset, MetadataError> {
        let (id, error) =
            (id.to_owned(), error.map(str::to_owned).filter(|_| status == AssetStatus::Errored));
        self.with(move |conn| {
            let progress_sql = match status {
                AssetStatus::Ready => ", progress = 100",
                AssetStatus::Uploading => ", progress = 0",
                _ => "",
            };
            let changed = conn.execute(
                &format!(
                    "UPDATE assets SET status = ?2, error = ?3, updated_at = ?4{progress_sql} WHERE id = ?1"
                ),
                params![id, status.as_str(), error, now_ms()],
            )?;
            if changed == 0 {
                return Err(MetadataError::NoSuchAsset(id));
            }
            get_asset(conn, &id)?.ok_or(MetadataError::NoSuchAsset(id))
        })
        .await
    }

    async fn set_progress(&self, id: &str, percent: f64) -> Result<(), MetadataError> {
        let id = id.to_owned();
        self.with(move |conn| {
            let changed = conn.execute(
                "UPDATE assets SET progress = ?2, updated_at = ?3 WHERE id = ?1",
                params![id, percent.clamp(0.0, 100.0), now_ms()],
            )?;
            if changed == 0 {
                return Err(MetadataError::NoSuchAsset(id));
            }
            Ok(())
        })
        .await
    }

    async fn set_source(&self, id: &str, source: serde_json::Value) -> Result<(), MetadataError> {
        let id = id.to_owned();
        self.with(move |conn| {
            let changed = conn.execute(
                "UPDATE assets SET source = ?2, updated_at = ?3 WHERE id = ?1",
                params![id, source.to_string(), now_ms()],
            )?;
            if changed == 0 {
                return Err(MetadataError::NoSuchAsset(id));
            }
            Ok(())
        })
        .await
    }

    async fn delete_asset(&self, id: &str) -> Result<bool, MetadataError> {
        let id = id.to_owned();
        self.with(move |conn| {
            let tx = conn.transaction()?;
            let changed = tx.execute("DELETE FROM assets WHERE id = ?1", [&id])?;
            tx.execute("DELETE FROM jobs WHERE asset_id = ?1 AND kind = 'transcode'", [&id])?;
            if changed > 0 {
                insert_event(&tx, &id, "asset.deleted", &serde_json::json!({}))?;
            }
            tx.commit()?;
            Ok(changed > 0)
        })
        .await
    }

    async fn put_rendition(&self, r: RenditionRecord) -> Result<(), MetadataError> {
        self.with(move |conn| {
            conn.execute(
                "INSERT OR REPLACE INTO renditions (asset_id, name, kind, width, height, bitrate, codec)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![r.asset_id, r.name, r.kind, r.width, r.height, r.bitrate as i64, r.codec],
            )
            .map_err(|e| unless_asset_missing(e, &r.asset_id))?;
            Ok(())
        })
        .await
    }

    async fn renditions(&self, asset_id: &str) -> Result<Vec<RenditionRecord>, MetadataError> {
        let asset_id = asset_id.to_owned();
        self.with(move |conn| {
            let mut statement = conn.prepare(
                "SELECT asset_id, name, kind, width, height, bitrate, codec FROM renditions
                 WHERE asset_id = ?1 ORDER BY kind DESC, COALESCE(height, 0) * COALESCE(width, 0) DESC, name",
            )?;
            let rows = statement.query_map([asset_id], |row| {
                Ok(RenditionRecord {
                    asset_id: row.get(0)?,
                    name: row.get(1)?,
                    kind: row.get(2)?,
                    width: row.get(3)?,
                    height: row.get(4)?,
                    bitrate: row.get::<_, i64>(5)? as u64,
                    codec: row.get(6)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn put_segment(&self, s: SegmentRecord) -> Result<(), MetadataError> {
        self.with(move |conn| {
            conn.execute(
                "INSERT OR REPLACE INTO segments (asset_id, rendition, number, start_ns, duration_ns, size)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    s.asset_id,
                    s.rendition,
                    s.number,
                    s.start_ns as i64,
                    s.duration_ns as i64,
                    s.size as i64
                ],
            )
            .map_err(|e| unless_asset_missing(e, &s.asset_id))?;
            Ok(())
        })
        .await
    }

    async fn segments(&self, asset_id: &str, rendition: &str) -> Result<Vec<SegmentRecord>, MetadataError> {
        let (asset_id, rendition) = (asset_id.to_owned(), rendition.to_owned());
        self.with(move |conn| {
            let mut statement = conn.prepare(
                "SELECT asset_id, rendition, number, start_ns, duration_ns, size FROM segments
                 WHERE asset_id = ?1 AND rendition = ?2 ORDER BY number",
            )?;
            let rows = statement.query_map(params![asset_id, rendition], |row| {
                Ok(SegmentRecord {
                    asset_id: row.get(0)?,
                    rendition: row.get(1)?,
                    number: row.get(2)?,
                    start_ns: row.get::<_, i64>(3)? as u64,
                    duration_ns: row.get::<_, i64>(4)? as u64,
                    size: row.get::<_, i64>(5)? as u64,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn clear_outputs(&self, asset_id: &str) -> Result<(), MetadataError> {
        let asset_id = asset_id.to_owned();
        self.with(move |conn| {
            let tx = conn.transaction()?;
            tx.execute("DELETE FROM segments WHERE asset_id = ?1", [&asset_id])?;
            tx.execute("DELETE FROM renditions WHERE asset_id = ?1", [&asset_id])?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn enqueue_job(
        &self,
        asset_id: &str,
        kind: JobKind,
        max_attempts: u32,
    ) -> Result<Job, MetadataError> {
        let asset_id = asset_id.to_owned();
        let id = uuid::Uuid::now_v7().simple().to_string();
        self.with(move |conn| {
            let tx = conn.transaction()?;
            if kind == JobKind::Transcode {
                let exists: Option<i64> = tx
                    .query_row("SELECT 1 FROM assets WHERE id = ?1", [&asset_id], |r| r.get(0))
                    .optional()?;
                if exists.is_none() {
                    return Err(MetadataError::NoSuchAsset(asset_id));
                }
            }
            tx.execute(
                "INSERT INTO jobs (id, asset_id, kind, state, attempts, max_attempts, run_after)
                 VALUES (?1, ?2, ?3, 'queued', 0, ?4, ?5)",
                params![id, asset_id, kind.as_str(), max_attempts.max(1), now_ms()],
            )?;
            let job = get_job(&tx, &id)?.ok_or(MetadataError::NotHeld(id))?;
            tx.commit()?;
            Ok(job)
        })
        .await
    }

    async fn claim_job(&self, worker: &str, lease: Duration) -> Result<Option<Job>, MetadataError> {
        let worker = worker.to_owned();
        self.with(move |conn| {
            let now = now_ms();
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            // A job whose worker died on every attempt is failed, not retried forever.
            let dead: Vec<(String, String, u32)> = {
                let mut statement = tx.prepare(
                    "SELECT id, asset_id, attempts FROM jobs
                     WHERE state = 'running' AND lease_until < ?1 AND attempts >= max_attempts",
                )?;
                let rows = statement.query_map([now], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
                rows.collect::<Result<_, _>>()?
            };
            for (id, asset_id, attempts) in dead {
                let error = format!("the worker stopped during each of {attempts} attempts");
                tx.execute(
                    "UPDATE jobs SET state = 'failed', lease_owner = NULL, lease_until = NULL, last_error = ?2 WHERE id = ?1",
                    params![id, error],
                )?;
                insert_event(&tx, &asset_id, "job.failed", &serde_json::json!({ "job_id": id, "error": error }))?;
            }
            let due: Option<String> = tx
                .query_row(
                    "SELECT id FROM jobs
                     WHERE (state = 'queued' AND run_after <= ?1) OR (state = 'running' AND lease_until < ?1)
                     ORDER BY run_after, id LIMIT 1",
                    [now],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(id) = due else {
                tx.commit()?;
                return Ok(None);
            };
            tx.execute(
                "UPDATE jobs SET state = 'running', lease_owner = ?2, lease_until = ?3, attempts = attempts + 1 WHERE id = ?1",
                params![id, worker, now + lease.as_millis() as i64],
            )?;
            let job = get_job(&tx, &id)?;
            tx.commit()?;
            Ok(job)
        })
        .await
    }

    async fn renew_lease(&self, job_id: &str, worker: &str, lease: Duration) -> Result<bool, MetadataError> {
        let (job_id, worker) = (job_id.to_owned(), worker.to_owned());
        self.with(move |conn| {
            let changed = conn.execute(
                "UPDATE jobs SET lease_until = ?3 WHERE id = ?1 AND lease_owner = ?2 AND state = 'running'",
                params![job_id, worker, now_ms() + lease.as_millis() as i64],
            )?;
            Ok(changed > 0)
        })
        .await
    }

    async fn complete_job(&self, job_id: &str, worker: &str) -> Result<(), MetadataError> {
        let (job_id, worker) = (job_id.to_owned(), worker.to_owned());
        self.with(move |conn| {
            let changed = conn.execute(
                "UPDATE jobs SET state = 'done', lease_owner = NULL, lease_until = NULL
                 WHERE id = ?1 AND lease_owner = ?2 AND state = 'running'",
                params![job_id, worker],
            )?;
            if changed == 0 {
                return Err(MetadataError::NotHeld(job_id));
            }
            Ok(())
        })
        .await
    }

    async fn fail_job(
        &self,
        job_id: &str,
        worker: &str,
        error: &str,
        retry_in: Option<Duration>,
    ) -> Result<JobState, MetadataError> {
        let (job_id, worker, error) = (job_id.to_owned(), worker.to_owned(), error.to_owned());
        self.with(move |conn| {
            let tx = conn.transaction()?;
            let job = get_job(&tx, &job_id)?
                .filter(|j| j.state == JobState::Running && j.lease_owner.as_deref() == Some(worker.as_str()))
                .ok_or_else(|| MetadataError::NotHeld(job_id.clone()))?;
            let state = match retry_in {
                Some(delay) if job.attempts < job.max_attempts => {
                    tx.execute(
                        "UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_until = NULL,
                         run_after = ?2, last_error = ?3 WHERE id = ?1",
                        params![job_id, now_ms() + delay.as_millis() as i64, error],
                    )?;
                    JobState::Queued
                }
                _ => {
                    tx.execute(
                        "UPDATE jobs SET state = 'failed', lease_owner = NULL, lease_until = NULL, last_error = ?2 WHERE id = ?1",
                        params![job_id, error],
                    )?;
                    JobState::Failed
                }
            };
            tx.commit()?;
            Ok(state)
        })
        .await
    }

    async fn jobs(&self, asset_id: &str) -> Result<Vec<Job>, MetadataError> {
        let asset_id = asset_id.to_owned();
        self.with(move |conn| {
            let mut statement =
                conn.prepare(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE asset_id = ?1 ORDER BY id"))?;
            let rows = statement.query_map([asset_id], job_from_row)?;
            rows.map(|r| r.map_err(MetadataError::from).and_then(|j| j)).collect()
        })
        .await
    }

    async fn requeue_running_jobs(&self) -> Result<usize, MetadataError> {
        self.with(|conn| {
            Ok(conn.execute(
                "UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_until = NULL, run_after = ?1
                 WHERE state = 'running'",
                [now_ms()],
            )?)
        })
        .await
    }

    async fn append_event(
        &self,
        asset_id: &str,
        kind: &str,
        data: serde_json::Value,
    ) -> Result<Event, MetadataError> {
        let (asset_id, kind) = (asset_id.to_owned(), kind.to_owned());
        self.with(move |conn| insert_event(conn, &asset_id, &kind, &data)).await
    }

    async fn events_after(&self, after: i64, limit: u32) -> Result<Vec<Event>, MetadataError> {
        self.with(move |conn| {
            let mut statement = conn.prepare(
                "SELECT seq, asset_id, kind, data, at FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )?;
            let rows = statement.query_map(params![after, limit.clamp(1, MAX_PAGE_SIZE) as i64], |row| {
                let data: String = row.get(3)?;
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, data, row.get(4)?))
            })?;
            rows.map(|r| {
                let (seq, asset_id, kind, data, at) = r?;
                let data = serde_json::from_str(&data).map_err(|_| corrupt("event data", &data))?;
                Ok(Event { seq, asset_id, kind, data, at })
            })
            .collect()
        })
        .await
    }
}
