//! Events from the bus into the landing zone: the host's uploads,
//! transcodes and edge counts, the booking plugin's paid orders. Each
//! lands as a batch of one line; its id is a hash of the bus event, so an
//! event delivered twice is counted once.

use bytes::Bytes;
use cdlc_plugin_api::{Event, PluginContext, PluginError};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::event::LakeEvent;
use crate::lake::{self, Day};

/// The topics taken: `assets.uploaded {asset_id, bytes}`, `assets.transcoded
/// {asset_id, job_id, duration_ms, media_ms, attempts}`,
/// `assets.transcode_failed {asset_id, job_id, reason, attempts,
/// duration_ms}`, `edge.counts {hits, misses, bytes}` and `booking.order_paid
/// {order_id, showtime_id, amount, currency}`.
pub const TOPICS: &[&str] =
    &["assets.uploaded", "assets.transcoded", "assets.transcode_failed", "edge.counts", "booking.order_paid"];

/// The lake event of a bus event, `None` for a topic not taken.
pub fn lake_event(event: &Event, received_ms: i64) -> Option<LakeEvent> {
    let kind = match event.topic.as_str() {
        "assets.uploaded" => "upload_done",
        "assets.transcoded" => "transcode_finished",
        "assets.transcode_failed" => "transcode_failed",
        "edge.counts" => "edge",
        "booking.order_paid" => "order_paid",
        _ => return None,
    };
    let p = &event.payload;
    let text =
        |name: &str| p.get(name).and_then(Value::as_str).map(|s| s.chars().take(500).collect::<String>());
    let number = |name: &str| p.get(name).and_then(Value::as_i64);
    let mut hash = Sha256::new();
    hash.update(event.topic.as_bytes());
    hash.update(event.at_ms.to_le_bytes());
    hash.update(event.payload.to_string().as_bytes());
    Some(LakeEvent {
        event_id: format!("{}.{}", event.source, hex::encode(&hash.finalize()[..12])),
        kind: kind.to_owned(),
        at_ms: event.at_ms,
        received_ms,
        source: Some(event.source.clone()),
        asset_id: text("asset_id"),
        reason: text("reason"),
        value_ms: number("duration_ms"),
        media_ms: number("media_ms"),
        attempts: number("attempts"),
        bytes: number("bytes"),
        hits: number("hits"),
        misses: number("misses"),
        showtime_id: text("showtime_id"),
        amount: number("amount"),
        currency: text("currency"),
        user_id: text("user_id"),
        ..LakeEvent::default()
    })
}

pub async fn land(ctx: &PluginContext, event: &Event) -> Result<(), PluginError> {
    let now = crate::now_ms();
    let Some(lake_event) = lake_event(event, now) else { return Ok(()) };
    let mut line = serde_json::to_vec(&lake_event).map_err(|e| PluginError::Failed(e.to_string()))?;
    line.push(b'\n');
    let key = lake::landing_key(Day::of_ms(now), now, &uuid::Uuid::new_v4().simple().to_string());
    ctx.objects().put(&key, Bytes::from(line)).await.map_err(|e| PluginError::Failed(e.to_string()))?;
    Ok(())
}
