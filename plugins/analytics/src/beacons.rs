//! The player's beacons: `POST /api/v1/analytics/beacons`, a batch of one
//! view's events as JSON. Each batch that passes lands as one immutable
//! NDJSON file of lake events; Do-Not-Track (or Global Privacy Control)
//! stores nothing; the client's address is only ever kept as a salted
//! hash that changes every day, and is used to bound each client's rate.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cdlc_plugin_api::axum::extract::{ConnectInfo, State};
use cdlc_plugin_api::axum::http::{Extensions, HeaderMap, StatusCode};
use cdlc_plugin_api::utoipa::{self, ToSchema};
use cdlc_plugin_api::utoipa_axum::router::OpenApiRouter;
use cdlc_plugin_api::{axum, routes, ApiError, Json, Principal};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::event::{LakeEvent, PLAYER_KINDS};
use crate::lake::{self, Day, MS_PER_DAY};
use crate::App;

pub(crate) fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new().routes(routes!(ingest))
}

/// A batch of beacons from one view.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BeaconBatch {
    /// The anonymous view: 8–64 letters, digits, `-` or `_`, new for each playback.
    pub view_id: String,
    pub asset_id: String,
    /// The catalog title the asset belongs to, when the page knows it.
    #[serde(default)]
    pub title_id: Option<String>,
    /// `hls.js`, `dash.js` or `native`.
    pub player: String,
    pub events: Vec<Beacon>,
}

/// One event of a view.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Beacon {
    /// The event's number within its view (0, 1, 2…): a re-sent beacon keeps it.
    pub seq: u32,
    /// view_start, first_frame, rebuffer, rendition_switch, error, watch or complete.
    #[serde(rename = "type")]
    pub kind: String,
    /// When it happened, Unix milliseconds.
    pub t: i64,
    /// first_frame: time to first frame; rebuffer: the stall; watch: time watched since the last watch.
    #[serde(default)]
    pub ms: Option<i64>,
    /// The rendition playing (for rendition_switch, the new one), e.g. `720p`.
    #[serde(default)]
    pub rendition: Option<String>,
    /// error: the player's code (`networkError/fragLoadError`, `MEDIA_ERR_DECODE`…).
    #[serde(default)]
    pub code: Option<String>,
}

/// What a batch did.
#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    /// Events stored (0 under Do-Not-Track).
    pub stored: usize,
    /// Why nothing was stored, when nothing was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// How far an event's time may lie from the server's: behind, as far as
/// late events are still merged; ahead, a clock's plausible error.
const MAX_PAST_MS: i64 = lake::LATE_DAYS as i64 * MS_PER_DAY;
const MAX_FUTURE_MS: i64 = 3_600_000;

/// Takes a batch of beacons.
#[utoipa::path(post, path = "/beacons", request_body = BeaconBatch, responses(
    (status = 202, description = "stored (or dropped under Do-Not-Track)", body = Accepted),
    (status = 400, description = "the batch is malformed or too large; the message says what to fix", body = ApiError),
    (status = 429, description = "this client sent too many batches; retry later", body = ApiError),
))]
pub(crate) async fn ingest(
    State(app): State<App>,
    principal: Principal,
    headers: HeaderMap,
    extensions: Extensions,
    body: axum::body::Body,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let settings = &app.settings;
    // Read no more than the bound, whatever the client announced.
    let body = axum::body::to_bytes(body, settings.max_batch_bytes).await.map_err(|_| {
        ApiError::bad_request(format!(
            "a beacon batch may be at most {} bytes: send fewer events per batch",
            settings.max_batch_bytes
        ))
    })?;
    if do_not_track(&headers) {
        return Ok((StatusCode::ACCEPTED, Json(Accepted { stored: 0, reason: Some("Do-Not-Track".into()) })));
    }
    let address = extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let now = crate::now_ms();
    let client = app.salt.client(address, now);
    if !app.limiter.allow(&client, settings.batches_per_minute, settings.batch_burst) {
        return Err(ApiError::too_many_requests(
            format!(
                "more than {} beacon batches a minute from this client: batch more events",
                settings.batches_per_minute
            ),
            Duration::from_secs(10),
        ));
    }
    let batch: BeaconBatch = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!("the beacon batch is not valid JSON of the documented shape: {e}"))
    })?;
    let user_id = principal.identity().map(|i| i.user_id.clone());
    let browser = browser_family(headers.get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or(""));
    let events = lake_events(&batch, settings.max_batch_events, now, user_id, &client, browser)?;
    let mut text = Vec::with_capacity(body.len() * 2);
    for event in &events {
        serde_json::to_writer(&mut text, event).map_err(ApiError::internal)?;
        text.push(b'\n');
    }
    let key = lake::landing_key(Day::of_ms(now), now, &uuid::Uuid::new_v4().simple().to_string());
    app.ctx.objects().put(&key, Bytes::from(text)).await.map_err(|e| {
        ApiError::unavailable(format!("the beacons cannot be stored now: {e}"), Duration::from_secs(5))
    })?;
    Ok((StatusCode::ACCEPTED, Json(Accepted { stored: events.len(), reason: None })))
}

fn do_not_track(headers: &HeaderMap) -> bool {
    ["dnt", "sec-gpc"].iter().any(|name| headers.get(*name).is_some_and(|v| v.as_bytes() == b"1"))
}

pub(crate) fn check_token(field: &str, value: &str, min: usize) -> Result<(), ApiError> {
    if (min..=64).contains(&value.len())
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
    {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "{field} must be {min}-64 letters, digits, '-', '_', '.' or ':', not {:?}",
            value.chars().take(70).collect::<String>()
        )))
    }
}

/// The batch as lake events, or a sentence saying what is wrong with it.
pub(crate) fn lake_events(
    batch: &BeaconBatch,
    max_events: usize,
    now: i64,
    user_id: Option<String>,
    client: &str,
    browser: &str,
) -> Result<Vec<LakeEvent>, ApiError> {
    check_token("view_id", &batch.view_id, 8)?;
    check_token("asset_id", &batch.asset_id, 1)?;
    if let Some(title) = &batch.title_id {
        check_token("title_id", title, 1)?;
    }
    if !["hls.js", "dash.js", "native"].contains(&batch.player.as_str()) {
        return Err(ApiError::bad_request(format!(
            "player must be hls.js, dash.js or native, not {:?}",
            batch.player.chars().take(40).collect::<String>()
        )));
    }
    if batch.events.is_empty() || batch.events.len() > max_events {
        return Err(ApiError::bad_request(format!(
            "a batch holds 1 to {max_events} events, this one has {}",
            batch.events.len()
        )));
    }
    let mut events = Vec::with_capacity(batch.events.len());
    for (n, beacon) in batch.events.iter().enumerate() {
        let at = |message: String| ApiError::bad_request(format!("events[{n}] ({}): {message}", beacon.kind));
        if !PLAYER_KINDS.contains(&beacon.kind.as_str()) {
            return Err(at(format!("type must be one of {}", PLAYER_KINDS.join(", "))));
        }
        if beacon.t < now - MAX_PAST_MS || beacon.t > now + MAX_FUTURE_MS {
            return Err(at(format!(
                "t {} is not a time of the last {} days in Unix milliseconds",
                beacon.t,
                lake::LATE_DAYS
            )));
        }
        let needs_ms = match beacon.kind.as_str() {
            "first_frame" => Some(600_000),
            "rebuffer" | "watch" => Some(3_600_000),
            _ => None,
        };
        match (needs_ms, beacon.ms) {
            (Some(max), Some(ms)) if (0..=max).contains(&ms) => {}
            (Some(max), _) => return Err(at(format!("ms must be 0 to {max} milliseconds"))),
            (None, _) => {}
        }
        if let Some(rendition) = &beacon.rendition {
            check_token("rendition", rendition, 1).map_err(|e| at(e.message().to_owned()))?;
        } else if beacon.kind == "rendition_switch" {
            return Err(at("a rendition_switch names the new rendition".into()));
        }
        let code = match (&beacon.code, beacon.kind.as_str()) {
            (Some(code), _) if (1..=120).contains(&code.len()) && !code.chars().any(char::is_control) => {
                Some(code.clone())
            }
            (Some(_), _) => return Err(at("code must be 1-120 characters".into())),
            (None, "error") => return Err(at("an error carries the player's code".into())),
            (None, _) => None,
        };
        events.push(LakeEvent {
            event_id: format!("{}.{}", batch.view_id, beacon.seq),
            kind: beacon.kind.clone(),
            at_ms: beacon.t,
            received_ms: now,
            source: Some("player".into()),
            view_id: Some(batch.view_id.clone()),
            user_id: user_id.clone(),
            client: Some(client.to_owned()),
            asset_id: Some(batch.asset_id.clone()),
            title_id: batch.title_id.clone(),
            player: Some(batch.player.clone()),
            browser: Some(browser.to_owned()),
            rendition: beacon.rendition.clone(),
            error_code: code,
            value_ms: if needs_ms.is_some() { beacon.ms } else { None },
            ..LakeEvent::default()
        });
    }
    Ok(events)
}

/// The browser's family from its User-Agent (order matters: Edge and Opera
/// also say Chrome, Chrome also says Safari).
pub fn browser_family(agent: &str) -> &'static str {
    if agent.contains("Edg/") {
        "edge"
    } else if agent.contains("OPR/") {
        "opera"
    } else if agent.contains("Firefox/") {
        "firefox"
    } else if agent.contains("Chrome/") || agent.contains("Chromium/") {
        "chrome"
    } else if agent.contains("Safari/") {
        "safari"
    } else {
        "other"
    }
}

/// The salt of the client hash: random, in memory only, new each UTC day,
/// so a hash cannot be turned back into an address nor followed across days.
#[derive(Default)]
pub(crate) struct Salt {
    current: Mutex<Option<(Day, [u8; 16])>>,
}

impl Salt {
    pub fn client(&self, address: Option<IpAddr>, now: i64) -> String {
        let Some(address) = address else { return "unknown".into() };
        let day = Day::of_ms(now);
        let salt = {
            let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
            match *current {
                Some((d, salt)) if d == day => salt,
                _ => {
                    let salt = *uuid::Uuid::new_v4().as_bytes();
                    *current = Some((day, salt));
                    salt
                }
            }
        };
        let mut hash = Sha256::new();
        hash.update(salt);
        hash.update(address.to_string());
        hex::encode(&hash.finalize()[..8])
    }
}

/// A token bucket per client hash.
#[derive(Default)]
pub(crate) struct Limiter {
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl Limiter {
    pub fn allow(&self, client: &str, per_minute: u32, burst: u32) -> bool {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() > 100_000 {
            buckets.retain(|_, (_, seen)| now.duration_since(*seen) < Duration::from_secs(120));
        }
        let (tokens, seen) = buckets.entry(client.to_owned()).or_insert((f64::from(burst), now));
        let refill = now.duration_since(*seen).as_secs_f64() * f64::from(per_minute) / 60.0;
        *tokens = (*tokens + refill).min(f64::from(burst));
        *seen = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}
