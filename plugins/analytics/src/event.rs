//! One event of the lake: a flat record every source fills in part (a
//! player's beacon, a host event, a plugin's event). The landing zone holds
//! it as a JSON line; the refined and validated zones as Parquet columns of
//! the same names.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Builder, RecordBatch, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use serde::{Deserialize, Serialize};

/// The kinds a player sends.
pub const PLAYER_KINDS: &[&str] =
    &["view_start", "first_frame", "rebuffer", "rendition_switch", "error", "watch", "complete"];

/// The kinds taken from the event bus.
pub const SERVER_KINDS: &[&str] =
    &["upload_done", "transcode_finished", "transcode_failed", "edge", "order_paid", "rating", "review"];

/// A lake event. `event_id`, `kind`, `at_ms` and `received_ms` are
/// required; the rest depends on the kind.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LakeEvent {
    /// Unique per event: a re-sent beacon keeps its id, so it is counted once.
    pub event_id: String,
    pub kind: String,
    /// When it happened (the sender's clock), Unix ms: decides its day.
    pub at_ms: i64,
    /// When it reached the server, Unix ms: decides its landing day.
    pub received_ms: i64,
    /// `player`, `host` or the publishing plugin's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The anonymous view (one playback of one asset in one page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view_id: Option<String>,
    /// The signed-in user, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// A salted hash of the client's address (the address is never stored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title_id: Option<String>,
    /// `hls.js`, `dash.js` or `native`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub player: Option<String>,
    /// The browser's family (`chrome`, `firefox`, `safari`, `edge`, `other`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub browser: Option<String>,
    /// The rendition playing (for `rendition_switch`, the one switched to).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rendition: Option<String>,
    /// The player's error code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// Why something failed (a transcode, an upload).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Milliseconds: time to first frame, a stall, watch time since the last
    /// `watch`, a transcode's wall time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_ms: Option<i64>,
    /// A transcode's media duration, ms (media_ms / value_ms is its speed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hits: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub misses: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub showtime_id: Option<String>,
    /// Minor units of `currency`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
}

const TEXT: &[&str] = &[
    "event_id",
    "kind",
    "source",
    "view_id",
    "user_id",
    "client",
    "asset_id",
    "title_id",
    "player",
    "browser",
    "rendition",
    "error_code",
    "reason",
    "showtime_id",
    "currency",
];
const NUMBERS: &[&str] =
    &["at_ms", "received_ms", "value_ms", "media_ms", "attempts", "bytes", "hits", "misses", "amount"];

fn text(event: &LakeEvent, column: usize) -> Option<&str> {
    match column {
        0 => Some(&event.event_id),
        1 => Some(&event.kind),
        2 => event.source.as_deref(),
        3 => event.view_id.as_deref(),
        4 => event.user_id.as_deref(),
        5 => event.client.as_deref(),
        6 => event.asset_id.as_deref(),
        7 => event.title_id.as_deref(),
        8 => event.player.as_deref(),
        9 => event.browser.as_deref(),
        10 => event.rendition.as_deref(),
        11 => event.error_code.as_deref(),
        12 => event.reason.as_deref(),
        13 => event.showtime_id.as_deref(),
        _ => event.currency.as_deref(),
    }
}

fn number(event: &LakeEvent, column: usize) -> Option<i64> {
    match column {
        0 => Some(event.at_ms),
        1 => Some(event.received_ms),
        2 => event.value_ms,
        3 => event.media_ms,
        4 => event.attempts,
        5 => event.bytes,
        6 => event.hits,
        7 => event.misses,
        _ => event.amount,
    }
}

/// The refined zone's columns: the event's, then `day` (the event's own
/// UTC day, `YYYY-MM-DD`).
pub fn schema() -> SchemaRef {
    let mut fields: Vec<Field> =
        TEXT.iter().enumerate().map(|(i, name)| Field::new(*name, DataType::Utf8, i > 1)).collect();
    fields.extend(NUMBERS.iter().enumerate().map(|(i, name)| Field::new(*name, DataType::Int64, i > 1)));
    fields.push(Field::new("day", DataType::Utf8, false));
    Arc::new(Schema::new(fields))
}

/// The events as one batch of `schema()`.
pub fn to_batch(events: &[LakeEvent]) -> Result<RecordBatch, datafusion::arrow::error::ArrowError> {
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(TEXT.len() + NUMBERS.len() + 1);
    for column in 0..TEXT.len() {
        let mut builder = StringBuilder::with_capacity(events.len(), events.len() * 16);
        for event in events {
            builder.append_option(text(event, column));
        }
        columns.push(Arc::new(builder.finish()));
    }
    for column in 0..NUMBERS.len() {
        let mut builder = Int64Builder::with_capacity(events.len());
        for event in events {
            builder.append_option(number(event, column));
        }
        columns.push(Arc::new(builder.finish()));
    }
    let mut days = StringBuilder::with_capacity(events.len(), events.len() * 10);
    for event in events {
        days.append_value(crate::lake::Day::of_ms(event.at_ms).to_string());
    }
    columns.push(Arc::new(days.finish()));
    RecordBatch::try_new(schema(), columns)
}
