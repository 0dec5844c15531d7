//! The daily pipeline: refine (landing NDJSON → typed Parquet), validate
//! (checked, deduplicated, late events merged into their day), produce
//! (the aggregates). Each step reads only the zone before it, sorts what it
//! writes and leaves unchanged files alone, so re-running a day changes
//! nothing and deleting refined + validated and running again rebuilds the
//! same production files from landing.

use std::sync::Arc;

use bytes::Bytes;
use cdlc_plugin_api::utoipa::{self, ToSchema};
use cdlc_plugin_api::Objects;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::datasource::MemTable;
use datafusion::prelude::{SessionConfig, SessionContext};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::event::{self, LakeEvent, PLAYER_KINDS, SERVER_KINDS};
use crate::lake::{self, Day, LATE_DAYS};
use crate::{parquet_io, LakeError};

/// What one run of a day did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RunReport {
    pub day: String,
    /// Landing days refined for this run (the day and the late days after it).
    pub refined_days: Vec<String>,
    /// Lines of the day's own landing files that were not events (bad JSON,
    /// a missing or mistyped field).
    pub malformed_lines: u64,
    /// Events of the day, before the checks.
    pub candidates: u64,
    /// Events of the day refused by the schema check.
    pub rejected: u64,
    /// Copies of an event already counted (same event id).
    pub duplicates: u64,
    /// Events in the validated zone for the day.
    pub validated: u64,
    /// Of those, events that landed on a later day.
    pub late: u64,
    /// Files written (0 on a re-run of an unchanged day).
    pub files_written: u64,
}

/// The production tables, each one SQL statement over the day's validated
/// `events`. Only integers are summed, so the result does not depend on
/// how the engine splits the work; percentiles are nearest-rank.
pub const PRODUCTION: &[(&str, &str)] = &[
    (
        "views_by_asset",
        "WITH p AS (SELECT asset_id, COUNT(*) AS first_frames, \
           MAX(CASE WHEN rn = (n * 50 + 99) / 100 THEN value_ms END) AS startup_p50_ms, \
           MAX(CASE WHEN rn = (n * 95 + 99) / 100 THEN value_ms END) AS startup_p95_ms \
         FROM (SELECT asset_id, value_ms, ROW_NUMBER() OVER (PARTITION BY asset_id ORDER BY value_ms) AS rn, \
               COUNT(*) OVER (PARTITION BY asset_id) AS n FROM events WHERE kind = 'first_frame') s GROUP BY asset_id), \
         v AS (SELECT asset_id, MAX(title_id) AS title_id, \
           COUNT(DISTINCT CASE WHEN kind = 'view_start' THEN view_id END) AS views, \
           COUNT(DISTINCT CASE WHEN kind = 'view_start' THEN user_id END) AS signed_in_viewers, \
           SUM(CASE WHEN kind = 'watch' THEN value_ms ELSE 0 END) AS watch_ms, \
           SUM(CASE WHEN kind = 'complete' THEN 1 ELSE 0 END) AS completions, \
           SUM(CASE WHEN kind = 'rebuffer' THEN 1 ELSE 0 END) AS rebuffers, \
           SUM(CASE WHEN kind = 'rebuffer' THEN value_ms ELSE 0 END) AS rebuffer_ms, \
           SUM(CASE WHEN kind = 'error' THEN 1 ELSE 0 END) AS errors \
         FROM events WHERE source = 'player' GROUP BY asset_id) \
         SELECT '{day}' AS day, v.asset_id, v.title_id, v.views, v.signed_in_viewers, v.watch_ms, v.completions, \
           COALESCE(p.first_frames, 0) AS first_frames, p.startup_p50_ms, p.startup_p95_ms, \
           v.rebuffers, v.rebuffer_ms, v.errors \
         FROM v LEFT JOIN p ON v.asset_id = p.asset_id ORDER BY v.asset_id",
    ),
    (
        "qoe_by_rendition",
        "WITH p AS (SELECT rendition, COUNT(*) AS first_frames, \
           MAX(CASE WHEN rn = (n * 50 + 99) / 100 THEN value_ms END) AS startup_p50_ms, \
           MAX(CASE WHEN rn = (n * 95 + 99) / 100 THEN value_ms END) AS startup_p95_ms \
         FROM (SELECT rendition, value_ms, ROW_NUMBER() OVER (PARTITION BY rendition ORDER BY value_ms) AS rn, \
               COUNT(*) OVER (PARTITION BY rendition) AS n FROM events \
               WHERE kind = 'first_frame' AND rendition IS NOT NULL) s GROUP BY rendition), \
         r AS (SELECT rendition, \
           SUM(CASE WHEN kind = 'rebuffer' THEN 1 ELSE 0 END) AS rebuffers, \
           SUM(CASE WHEN kind = 'rebuffer' THEN value_ms ELSE 0 END) AS rebuffer_ms, \
           SUM(CASE WHEN kind = 'watch' THEN value_ms ELSE 0 END) AS watch_ms, \
           SUM(CASE WHEN kind = 'error' THEN 1 ELSE 0 END) AS errors, \
           SUM(CASE WHEN kind = 'rendition_switch' THEN 1 ELSE 0 END) AS switches_to \
         FROM events WHERE source = 'player' AND rendition IS NOT NULL GROUP BY rendition) \
         SELECT '{day}' AS day, r.rendition, COALESCE(p.first_frames, 0) AS first_frames, p.startup_p50_ms, \
           p.startup_p95_ms, r.rebuffers, r.rebuffer_ms, r.watch_ms, r.errors, r.switches_to \
         FROM r LEFT JOIN p ON r.rendition = p.rendition ORDER BY r.rendition",
    ),
    (
        "qoe_by_browser",
        "WITH p AS (SELECT browser, COUNT(*) AS first_frames, \
           MAX(CASE WHEN rn = (n * 50 + 99) / 100 THEN value_ms END) AS startup_p50_ms, \
           MAX(CASE WHEN rn = (n * 95 + 99) / 100 THEN value_ms END) AS startup_p95_ms \
         FROM (SELECT browser, value_ms, ROW_NUMBER() OVER (PARTITION BY browser ORDER BY value_ms) AS rn, \
               COUNT(*) OVER (PARTITION BY browser) AS n FROM events \
               WHERE kind = 'first_frame' AND browser IS NOT NULL) s GROUP BY browser), \
         b AS (SELECT browser, \
           COUNT(DISTINCT CASE WHEN kind = 'view_start' THEN view_id END) AS views, \
           SUM(CASE WHEN kind = 'watch' THEN value_ms ELSE 0 END) AS watch_ms, \
           SUM(CASE WHEN kind = 'rebuffer' THEN 1 ELSE 0 END) AS rebuffers, \
           SUM(CASE WHEN kind = 'rebuffer' THEN value_ms ELSE 0 END) AS rebuffer_ms, \
           SUM(CASE WHEN kind = 'error' THEN 1 ELSE 0 END) AS errors \
         FROM events WHERE source = 'player' AND browser IS NOT NULL GROUP BY browser) \
         SELECT '{day}' AS day, b.browser, b.views, b.watch_ms, COALESCE(p.first_frames, 0) AS first_frames, \
           p.startup_p50_ms, p.startup_p95_ms, b.rebuffers, b.rebuffer_ms, b.errors \
         FROM b LEFT JOIN p ON b.browser = p.browser ORDER BY b.browser",
    ),
    (
        "errors_by_code",
        "SELECT '{day}' AS day, COALESCE(player, 'unknown') AS player, error_code, COUNT(*) AS errors \
         FROM events WHERE kind = 'error' GROUP BY COALESCE(player, 'unknown'), error_code \
         ORDER BY player, error_code",
    ),
    (
        "upload_failures",
        "SELECT '{day}' AS day, reason, COUNT(*) AS failures, SUM(COALESCE(attempts, 1)) AS attempts \
         FROM events WHERE kind = 'transcode_failed' GROUP BY reason ORDER BY reason",
    ),
    (
        "transcodes",
        "SELECT '{day}' AS day, \
           SUM(CASE WHEN kind = 'upload_done' THEN 1 ELSE 0 END) AS uploads, \
           SUM(CASE WHEN kind = 'upload_done' THEN COALESCE(bytes, 0) ELSE 0 END) AS uploaded_bytes, \
           SUM(CASE WHEN kind = 'transcode_finished' THEN 1 ELSE 0 END) AS finished, \
           SUM(CASE WHEN kind = 'transcode_failed' THEN 1 ELSE 0 END) AS failed, \
           SUM(CASE WHEN kind = 'transcode_finished' THEN value_ms ELSE 0 END) AS transcode_ms, \
           SUM(CASE WHEN kind = 'transcode_finished' THEN COALESCE(media_ms, 0) ELSE 0 END) AS media_ms \
         FROM events WHERE kind IN ('upload_done', 'transcode_finished', 'transcode_failed')",
    ),
    (
        "edge",
        "SELECT '{day}' AS day, COALESCE(SUM(hits), 0) AS hits, COALESCE(SUM(misses), 0) AS misses, \
           COALESCE(SUM(bytes), 0) AS bytes, \
           CASE WHEN COALESCE(SUM(hits), 0) + COALESCE(SUM(misses), 0) = 0 THEN NULL \
             ELSE CAST(SUM(hits) AS DOUBLE) / CAST(SUM(hits) + SUM(misses) AS DOUBLE) END AS hit_ratio \
         FROM events WHERE kind = 'edge'",
    ),
    (
        "revenue_by_showtime",
        "SELECT '{day}' AS day, showtime_id, currency, COUNT(*) AS orders, SUM(amount) AS amount \
         FROM events WHERE kind = 'order_paid' GROUP BY showtime_id, currency ORDER BY showtime_id, currency",
    ),
];

/// The schema check of the validated zone, as an SQL condition on an
/// event's columns (public so peers can run the same check).
pub fn check_sql() -> String {
    checks()
}

fn checks() -> String {
    let list = |kinds: &[&str]| kinds.iter().map(|k| format!("'{k}'")).collect::<Vec<_>>().join(", ");
    format!(
        "kind IN ({player}, {server}) \
         AND at_ms >= 0 AND at_ms <= received_ms + 86400000 \
         AND (kind NOT IN ({player}) OR (view_id IS NOT NULL AND asset_id IS NOT NULL)) \
         AND (kind <> 'first_frame' OR (value_ms >= 0 AND value_ms <= 600000)) \
         AND (kind NOT IN ('rebuffer', 'watch') OR (value_ms >= 0 AND value_ms <= 3600000)) \
         AND (kind <> 'error' OR error_code IS NOT NULL) \
         AND (kind <> 'rendition_switch' OR rendition IS NOT NULL) \
         AND (kind <> 'transcode_failed' OR reason IS NOT NULL) \
         AND (kind <> 'transcode_finished' OR value_ms >= 0) \
         AND (kind <> 'edge' OR (hits >= 0 AND misses >= 0)) \
         AND (kind <> 'order_paid' OR (showtime_id IS NOT NULL AND amount >= 0 AND currency IS NOT NULL))",
        player = list(PLAYER_KINDS),
        server = list(SERVER_KINDS),
    )
}

fn session() -> SessionContext {
    SessionContext::new_with_config(SessionConfig::new().with_target_partitions(2))
}

fn register(
    ctx: &SessionContext,
    name: &str,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
) -> Result<(), LakeError> {
    let table = MemTable::try_new(schema, vec![batches]).map_err(LakeError::query)?;
    ctx.register_table(name, Arc::new(table)).map_err(LakeError::query)?;
    Ok(())
}

async fn sql(ctx: &SessionContext, statement: &str) -> Result<(SchemaRef, Vec<RecordBatch>), LakeError> {
    let frame = ctx.sql(statement).await.map_err(LakeError::query)?;
    let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
    let batches = frame.collect().await.map_err(LakeError::query)?;
    Ok((schema, batches))
}

fn rows(batches: &[RecordBatch]) -> u64 {
    batches.iter().map(|b| b.num_rows() as u64).sum()
}

/// Refines the landing files of `day` unless the refined file was made of
/// exactly these files already. Returns (malformed lines, written).
pub async fn refine(objects: &dyn Objects, day: Day) -> Result<(u64, bool), LakeError> {
    let mut sources = objects.list(&lake::landing_prefix(day)).await?;
    sources.sort_by(|a, b| a.key.cmp(&b.key));
    let listing: Vec<(String, String)> = sources.iter().map(|o| (o.key.clone(), o.etag.clone())).collect();
    let listing = serde_json::to_vec(&listing).map_err(LakeError::failed)?;
    if let Some(existing) = objects.get(&lake::refined_sources_key(day)).await? {
        if existing.as_ref() == listing.as_slice() && objects.head(&lake::refined_key(day)).await?.is_some() {
            let report = objects.get(&refine_report_key(day)).await?;
            let malformed =
                report.and_then(|r| std::str::from_utf8(&r).ok()?.trim().parse().ok()).unwrap_or(0);
            return Ok((malformed, false));
        }
    }
    let mut files = Vec::with_capacity(sources.len());
    for source in &sources {
        files.push(objects.get(&source.key).await?.unwrap_or_default());
    }
    let (events, malformed) =
        tokio::task::spawn_blocking(move || parse_landing(&files)).await.map_err(LakeError::failed)?;
    let data = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, LakeError> {
        let batch = event::to_batch(&events).map_err(LakeError::arrow)?;
        parquet_io::write(event::schema(), &[batch])
    })
    .await
    .map_err(LakeError::failed)??;
    let mut written = lake::put_if_changed(objects, &lake::refined_key(day), data).await?;
    written |=
        lake::put_if_changed(objects, &refine_report_key(day), malformed.to_string().into_bytes()).await?;
    written |= lake::put_if_changed(objects, &lake::refined_sources_key(day), listing).await?;
    Ok((malformed, written))
}

fn refine_report_key(day: Day) -> String {
    format!("lake/refined/day={day}/_malformed.txt")
}

/// Parses landing files, lines in parallel (the CPU part of refining):
/// the events in file and line order, and how many lines were not events.
pub fn parse_landing(files: &[Bytes]) -> (Vec<LakeEvent>, u64) {
    let lines: Vec<&[u8]> = files
        .iter()
        .flat_map(|file| file.split(|b| *b == b'\n'))
        .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
        .collect();
    let parsed: Vec<Option<LakeEvent>> =
        lines.par_iter().with_min_len(4096).map(|line| serde_json::from_slice(line).ok()).collect();
    let malformed = parsed.iter().filter(|e| e.is_none()).count() as u64;
    (parsed.into_iter().flatten().collect(), malformed)
}

/// Validates `day`: the events of that day from the refined files of the
/// day and the `LATE_DAYS` after it, checked, one per event id (the copy
/// received first), sorted by event id.
pub async fn validate(objects: &dyn Objects, day: Day, report: &mut RunReport) -> Result<bool, LakeError> {
    let mut batches = Vec::new();
    for landing in 0..=LATE_DAYS {
        if let Some(data) = objects.get(&lake::refined_key(day.plus(landing))).await? {
            let (_, mut read) = parquet_io::read(data)?;
            batches.append(&mut read);
        }
    }
    let ctx = session();
    register(&ctx, "refined", event::schema(), batches)?;
    let start = day.start_ms();
    let own = format!("day = '{day}'");
    let counts = format!(
        "SELECT COUNT(*) AS candidates, \
           COALESCE(SUM(CASE WHEN {checks} THEN 0 ELSE 1 END), 0) AS rejected, \
           COUNT(DISTINCT CASE WHEN {checks} THEN event_id END) AS kept, \
           COUNT(DISTINCT CASE WHEN ({checks}) AND received_ms >= {late} THEN event_id END) AS late \
         FROM refined WHERE {own}",
        checks = checks(),
        late = start + lake::MS_PER_DAY,
    );
    let (_, counted) = sql(&ctx, &counts).await?;
    let value = |column: usize| -> u64 {
        counted
            .first()
            .and_then(|b| b.column(column).as_any().downcast_ref::<datafusion::arrow::array::Int64Array>())
            .map(|a| a.value(0).max(0) as u64)
            .unwrap_or(0)
    };
    report.candidates = value(0);
    report.rejected = value(1);
    let columns = event::schema().fields().iter().map(|f| f.name().clone()).collect::<Vec<_>>().join(", ");
    let statement = format!(
        "SELECT {columns} FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY event_id \
           ORDER BY received_ms, kind, at_ms, value_ms, view_id, asset_id) AS copy_number \
         FROM refined WHERE {own} AND {checks}) d WHERE copy_number = 1 ORDER BY event_id",
        checks = checks(),
    );
    let (_, kept) = sql(&ctx, &statement).await?;
    // The zone's own schema, whatever nullability the plan inferred.
    let kept = kept
        .into_iter()
        .map(|b| RecordBatch::try_new(event::schema(), b.columns().to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(LakeError::arrow)?;
    report.validated = rows(&kept);
    report.duplicates = report.candidates - report.rejected - report.validated;
    // Late: those of the day's events that first reached the server after the day.
    let late = value(3);
    report.late = late.min(report.validated);
    let data = tokio::task::spawn_blocking(move || parquet_io::write(event::schema(), &kept))
        .await
        .map_err(LakeError::failed)??;
    Ok(lake::put_if_changed(objects, &lake::validated_key(day), data).await?)
}

/// Produces every production table of `day` from its validated events.
pub async fn produce(objects: &dyn Objects, day: Day) -> Result<u64, LakeError> {
    let (schema, batches) = match objects.get(&lake::validated_key(day)).await? {
        Some(data) => parquet_io::read(data)?,
        None => (event::schema(), Vec::new()),
    };
    let ctx = session();
    register(&ctx, "events", schema, batches)?;
    let mut written = 0;
    for (table, statement) in PRODUCTION {
        let (schema, batches) = sql(&ctx, &statement.replace("{day}", &day.to_string())).await?;
        let data = parquet_io::write(schema, &batches)?;
        written += u64::from(lake::put_if_changed(objects, &lake::production_key(table, day), data).await?);
    }
    Ok(written)
}

/// Runs the three steps for `day`: refines it and the late days after it
/// (those not yet refined from the same files), validates, produces, and
/// stores the day's report. The queue runs the same steps as three jobs
/// (see `runs`); this is the whole day in one go (`cdlc analytics run`).
pub async fn run_day(objects: &dyn Objects, day: Day) -> Result<RunReport, LakeError> {
    let mut report = RunReport { day: day.to_string(), ..RunReport::default() };
    for step in Step::ALL {
        report.absorb(step.run(objects, day).await?);
    }
    store_report(objects, &mut report).await?;
    Ok(report)
}

/// A step of a day's run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Refine,
    Validate,
    Produce,
}

impl Step {
    pub const ALL: [Step; 3] = [Step::Refine, Step::Validate, Step::Produce];

    pub fn name(self) -> &'static str {
        match self {
            Step::Refine => "refine",
            Step::Validate => "validate",
            Step::Produce => "produce",
        }
    }

    pub fn parse(name: &str) -> Option<Step> {
        Step::ALL.into_iter().find(|step| step.name() == name)
    }

    /// How far a run is when this step is the one it waits for: the share
    /// of the three steps already finished, 0 to 66 (a finished run is 100).
    pub fn percent_done_before(self) -> u8 {
        // The variants are declared in the order of `ALL`.
        (self as usize * 100 / Step::ALL.len()) as u8
    }

    /// The step after this one, `None` after producing.
    pub fn next(self) -> Option<Step> {
        match self {
            Step::Refine => Some(Step::Validate),
            Step::Validate => Some(Step::Produce),
            Step::Produce => None,
        }
    }

    /// Runs the step for `day`; the report has what it counted.
    pub async fn run(self, objects: &dyn Objects, day: Day) -> Result<RunReport, LakeError> {
        let mut report = RunReport { day: day.to_string(), ..RunReport::default() };
        match self {
            Step::Refine => {
                let today = Day::today();
                for landing in 0..=LATE_DAYS {
                    let landing = day.plus(landing);
                    if landing > today.plus(1) {
                        break;
                    }
                    let (malformed, written) = refine(objects, landing).await?;
                    if landing == day {
                        report.malformed_lines = malformed;
                    }
                    if written {
                        report.files_written += 1;
                        report.refined_days.push(landing.to_string());
                    }
                }
            }
            Step::Validate => report.files_written += u64::from(validate(objects, day, &mut report).await?),
            Step::Produce => report.files_written += produce(objects, day).await?,
        }
        Ok(report)
    }
}

impl RunReport {
    /// Adds what a step counted (each count comes from one step, so adding
    /// merges them).
    pub fn absorb(&mut self, step: RunReport) {
        self.refined_days.extend(step.refined_days);
        self.malformed_lines += step.malformed_lines;
        self.candidates += step.candidates;
        self.rejected += step.rejected;
        self.duplicates += step.duplicates;
        self.validated += step.validated;
        self.late += step.late;
        self.files_written += step.files_written;
    }
}

/// Keeps the day's counts at `lake/reports/day=D.json` (unchanged on a
/// re-run that counted the same).
pub async fn store_report(objects: &dyn Objects, report: &mut RunReport) -> Result<(), LakeError> {
    let day = Day::parse(&report.day).map_err(LakeError::failed)?;
    let mut stored = report.clone();
    stored.files_written = 0;
    stored.refined_days.clear();
    let text = serde_json::to_vec_pretty(&stored).map_err(LakeError::failed)?;
    report.files_written += u64::from(lake::put_if_changed(objects, &lake::report_key(day), text).await?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Step;

    #[test]
    fn a_run_waiting_for_a_step_is_as_far_as_the_steps_before_it() {
        let percents: Vec<u8> = Step::ALL.into_iter().map(Step::percent_done_before).collect();
        assert_eq!(percents, [0, 33, 66]);
    }
}
