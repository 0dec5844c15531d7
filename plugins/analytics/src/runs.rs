//! Runs of the lake pipeline as jobs on the host's queue, so the farm runs
//! them: asking for a run of a day records it in the `runs` table and queues
//! its first step; a worker (`cdlc serve`'s or a `cdlc worker`'s) runs the
//! step (`run`); the serving process, told how it ended (`ended`), adds what
//! it counted to the run's row and queues the next step: refine, validate,
//! produce. Each step is a plugin job named after it, with the key
//! `{day}:{asked_at}` naming the run.

use cdlc_plugin_api::{
    params, JobContext, JobEnded, JobError, PluginContext, PluginError, PluginJob, Sql, StoreError,
};

use crate::lake::Day;
use crate::pipeline::{self, RunReport, Step};
use crate::LakeError;

/// A run asked for: its row's key, and its first job's id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asked {
    pub day: Day,
    pub asked_at: i64,
    pub job_id: String,
}

/// Records a run of `day` asked for by `trigger` (`admin`, `daily`) and
/// queues its first step. The row comes first, so a step's end always
/// finds it.
pub async fn ask(ctx: &PluginContext, day: Day, trigger: &str) -> Result<Asked, PluginError> {
    let asked_at = unique_now_ms();
    ctx.db()
        .execute(
            "INSERT INTO runs (day, started_at, trigger_name, step) VALUES (?, ?, ?, ?)",
            params![day.to_string(), asked_at, trigger, Step::Refine.name()],
        )
        .await?;
    let job_id = queue_step(ctx, day, asked_at, Step::Refine).await?;
    Ok(Asked { day, asked_at, job_id })
}

/// Queues `step` of the run; a queue that refuses ends the run with why.
async fn queue_step(ctx: &PluginContext, day: Day, asked_at: i64, step: Step) -> Result<String, PluginError> {
    let db = ctx.db();
    match ctx.enqueue_job(step.name(), &format!("{day}:{asked_at}")).await {
        Ok(job_id) => {
            db.execute(
                "UPDATE runs SET job_id = ? WHERE day = ? AND started_at = ? AND step = ?",
                params![job_id.clone(), day.to_string(), asked_at, step.name()],
            )
            .await?;
            Ok(job_id)
        }
        Err(error) => {
            let failure = format!("the {} step could not be queued: {error}", step.name());
            finish(ctx, day, asked_at, None, Some(failure)).await?;
            Err(error)
        }
    }
}

async fn finish(
    ctx: &PluginContext,
    day: Day,
    asked_at: i64,
    report: Option<&RunReport>,
    failure: Option<String>,
) -> Result<(), StoreError> {
    let report = report.and_then(|r| serde_json::to_string(r).ok());
    ctx.db()
        .execute(
            "UPDATE runs SET finished_at = ?, report = ?, failure = ? WHERE day = ? AND started_at = ?",
            params![crate::now_ms(), report, failure, day.to_string(), asked_at],
        )
        .await?;
    Ok(())
}

/// Milliseconds since the epoch, never the same twice in this process (two
/// runs asked for in one millisecond get distinct rows).
fn unique_now_ms() -> i64 {
    use std::sync::atomic::{AtomicI64, Ordering};
    static LAST: AtomicI64 = AtomicI64::new(0);
    let now = crate::now_ms();
    let previous = LAST.fetch_max(now, Ordering::SeqCst);
    if previous >= now {
        LAST.fetch_add(1, Ordering::SeqCst) + 1
    } else {
        now
    }
}

fn parse_key(key: &str) -> Option<(Day, i64)> {
    let (day, asked_at) = key.split_once(':')?;
    Some((Day::parse(day).ok()?, asked_at.parse().ok()?))
}

/// The worker's side: one step of the key's day.
pub async fn run(ctx: &JobContext, job: &PluginJob) -> Result<serde_json::Value, JobError> {
    let step = Step::parse(&job.job)
        .ok_or_else(|| JobError::permanent(format!("the analytics plugin has no job {:?}", job.job)))?;
    let (day, _) = parse_key(&job.key)
        .ok_or_else(|| JobError::permanent(format!("{:?} is not DAY:ASKED_AT", job.key)))?;
    match step.run(ctx.objects(), day).await {
        Ok(report) => serde_json::to_value(&report).map_err(JobError::permanent),
        // Storage that did not answer may answer the next attempt.
        Err(error @ LakeError::Objects(_)) => Err(JobError::retryable(error)),
        Err(error) => Err(JobError::permanent(error)),
    }
}

/// The serving process's side: the step's counts join the run's row, and
/// the next step is queued (or, after producing, the day's report stored
/// and the run finished). Only the end of the step the row waits for
/// counts, so a repeated end changes nothing.
pub async fn ended(ctx: &PluginContext, ended: &JobEnded) -> Result<(), PluginError> {
    let (Some((day, asked_at)), Some(step)) = (parse_key(&ended.key), Step::parse(&ended.job)) else {
        return Err(PluginError::Failed(format!("{}/{} is no run step", ended.job, ended.key)));
    };
    let rows = ctx
        .db()
        .query(
            "SELECT report FROM runs WHERE day = ? AND started_at = ? AND step = ? AND finished_at IS NULL",
            params![day.to_string(), asked_at, step.name()],
        )
        .await?;
    let Some(row) = rows.into_iter().next() else {
        tracing::debug!(plugin = "analytics", %day, step = step.name(), "a step's end the run no longer waits for");
        return Ok(());
    };
    let counted = match &ended.outcome {
        Ok(output) => serde_json::from_value::<RunReport>(output.clone())
            .map_err(|e| format!("the worker's report is not one: {e}")),
        Err(reason) => Err(reason.clone()),
    };
    let counted = match counted {
        Ok(counted) => counted,
        Err(reason) => {
            tracing::warn!(plugin = "analytics", %day, step = step.name(), reason, "a lake run failed");
            let failure = format!("the {} step failed: {reason}", step.name());
            return Ok(finish(ctx, day, asked_at, None, Some(failure)).await?);
        }
    };
    let so_far: Option<String> = row.get("report")?;
    let mut report = so_far
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_else(|| RunReport { day: day.to_string(), ..RunReport::default() });
    report.absorb(counted);
    let Some(next) = step.next() else {
        let stored = pipeline::store_report(ctx.objects(), &mut report).await;
        let failure = stored.err().map(|e| format!("the day's report could not be stored: {e}"));
        if failure.is_none() {
            tracing::info!(plugin = "analytics", %day, validated = report.validated, "lake day run");
        }
        return Ok(finish(ctx, day, asked_at, Some(&report), failure).await?);
    };
    let advanced = ctx
        .db()
        .execute(
            "UPDATE runs SET report = ?, step = ? WHERE day = ? AND started_at = ? AND step = ? AND finished_at IS NULL",
            params![
                serde_json::to_string(&report).ok(),
                next.name(),
                day.to_string(),
                asked_at,
                step.name()
            ],
        )
        .await?;
    if advanced == 1 {
        queue_step(ctx, day, asked_at, next).await?;
    }
    Ok(())
}

/// How a run stands.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// A step is queued or running.
    Pending,
    Done(RunReport),
    Failed(String),
}

/// The run's outcome, waiting up to `wait` for it to end.
pub async fn wait(
    ctx: &PluginContext,
    asked: &Asked,
    wait: std::time::Duration,
) -> Result<Outcome, StoreError> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let rows = ctx
            .db()
            .query(
                "SELECT finished_at, report, failure FROM runs WHERE day = ? AND started_at = ?",
                params![asked.day.to_string(), asked.asked_at],
            )
            .await?;
        if let Some(row) = rows.into_iter().next() {
            let finished: Option<i64> = row.get("finished_at")?;
            if finished.is_some() {
                let report: Option<String> = row.get("report")?;
                let failure: Option<String> = row.get("failure")?;
                return Ok(match (report.and_then(|r| serde_json::from_str(&r).ok()), failure) {
                    (Some(report), None) => Outcome::Done(report),
                    (_, failure) => Outcome::Failed(failure.unwrap_or_else(|| "the run failed".into())),
                });
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(Outcome::Pending);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
