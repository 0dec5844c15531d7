//! The lake's layout in the plugin's object storage (under
//! `plugins/analytics/`), its days, and writes that leave an unchanged file
//! alone.
//!
//! ```text
//! lake/landing/day=2026-12-01/{received_ms}-{batch}.ndjson   as received, immutable
//! lake/refined/day=2026-12-01/events.parquet                 typed; rows LANDED that day
//! lake/refined/day=2026-12-01/_sources.json                  the landing files it was made of
//! lake/validated/day=2026-12-01/events.parquet               checked, deduplicated; events OF that day
//! lake/production/{table}/day=2026-12-01/part.parquet        aggregates of that day
//! lake/reports/day=2026-12-01.json                           what the last run of the day counted
//! ```

use bytes::Bytes;
use cdlc_plugin_api::{Objects, ObjectsError};

/// How many days after its own an event may land and still be merged into
/// its day: validating day D reads what landed on D..=D+LATE_DAYS.
pub const LATE_DAYS: i32 = 7;

pub const MS_PER_DAY: i64 = 86_400_000;

/// A UTC calendar day, as days since 1970-01-01.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(pub i32);

impl Day {
    pub fn of_ms(ms: i64) -> Day {
        Day(ms.div_euclid(MS_PER_DAY) as i32)
    }

    pub fn today() -> Day {
        Day::of_ms(crate::now_ms())
    }

    pub fn start_ms(self) -> i64 {
        i64::from(self.0) * MS_PER_DAY
    }

    pub fn plus(self, days: i32) -> Day {
        Day(self.0 + days)
    }

    /// `YYYY-MM-DD`, with a sentence when it is not one.
    pub fn parse(text: &str) -> Result<Day, String> {
        let bad = || {
            format!(
                "day must be a date such as 2026-12-01, not {:?}",
                text.chars().take(40).collect::<String>()
            )
        };
        let parts: Vec<&str> = text.split('-').collect();
        if parts.len() != 3 || parts[0].len() != 4 || parts[1].len() != 2 || parts[2].len() != 2 {
            return Err(bad());
        }
        let number = |s: &str| s.parse::<i64>().map_err(|_| bad());
        let (y, m, d) = (number(parts[0])?, number(parts[1])?, number(parts[2])?);
        if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
            return Err(bad());
        }
        Ok(Day(days_from_civil(y, m, d) as i32))
    }
}

impl std::fmt::Display for Day {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (y, m, d) = civil_from_days(i64::from(self.0));
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's algorithms for the proleptic Gregorian calendar.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { yoe + era * 400 + 1 } else { yoe + era * 400 }, m, d)
}

pub fn landing_prefix(day: Day) -> String {
    format!("lake/landing/day={day}/")
}

/// A batch's key: received time first, so a listing is in arrival order.
pub fn landing_key(day: Day, received_ms: i64, batch_id: &str) -> String {
    format!("{}{received_ms:013}-{batch_id}.ndjson", landing_prefix(day))
}

pub fn refined_key(day: Day) -> String {
    format!("lake/refined/day={day}/events.parquet")
}

pub fn refined_sources_key(day: Day) -> String {
    format!("lake/refined/day={day}/_sources.json")
}

/// Where the validated files are, one a day.
pub const VALIDATED_PREFIX: &str = "lake/validated/";

pub fn validated_key(day: Day) -> String {
    format!("{VALIDATED_PREFIX}day={day}/events.parquet")
}

pub fn production_prefix(table: &str) -> String {
    format!("lake/production/{table}/")
}

pub fn production_key(table: &str, day: Day) -> String {
    format!("{}day={day}/part.parquet", production_prefix(table))
}

pub fn report_key(day: Day) -> String {
    format!("lake/reports/day={day}.json")
}

/// The day of a partitioned key (`…/day=2026-12-01/…`).
pub fn day_of_key(key: &str) -> Option<Day> {
    let start = key.find("day=")? + 4;
    Day::parse(key.get(start..start + 10)?).ok()
}

/// Writes `data` unless the object already holds exactly these bytes, so
/// a re-run leaves an unchanged file (and its modification time) alone.
/// Whether it wrote.
pub async fn put_if_changed(objects: &dyn Objects, key: &str, data: Vec<u8>) -> Result<bool, ObjectsError> {
    if let Some(existing) = objects.get(key).await? {
        if existing.as_ref() == data.as_slice() {
            return Ok(false);
        }
    }
    objects.put(key, Bytes::from(data)).await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_round_trip() {
        for text in ["1970-01-01", "2000-02-29", "2026-12-01", "2024-12-31", "2100-03-01"] {
            assert_eq!(Day::parse(text).unwrap().to_string(), text);
        }
        assert_eq!(Day::parse("2026-12-01").unwrap().start_ms(), 1_796_083_200_000);
        assert_eq!(Day::of_ms(1_796_083_200_000 + MS_PER_DAY - 1).to_string(), "2026-12-01");
        for bad in ["2026-13-01", "2026-02-29", "26-12-01", "2026-12-1", "yesterday", ""] {
            assert!(Day::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(day_of_key("lake/landing/day=2026-12-01/x.ndjson"), Day::parse("2026-12-01").ok());
    }
}
