//! Seat maps: what an admin sends for a screen, checked and normalized into
//! the layout a UI draws and the rows of the `seats` table.
//!
//! A seat's id is `{row}-{seat}` (`F-12`); its position `x`, `y` is on a
//! grid a UI scales (defaults: its index in the row, the row's index), so
//! gaps and aisles are drawn by skipping grid cells.

use std::collections::HashSet;

use cdlc_plugin_api::utoipa::{self, ToSchema};
use cdlc_plugin_api::ApiError;
use serde::{Deserialize, Serialize};

pub const MAX_ROWS: usize = 100;
pub const MAX_SEATS_PER_ROW: usize = 100;
pub const MAX_SEATS: usize = 2_000;
pub const MAX_CATEGORIES: usize = 16;
pub const MAX_GRID: i64 = 1_000;

/// A price category (zone) of a seat map.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[schema(as = BookingCategory)]
pub struct Category {
    /// 1-32 lower-case letters, digits, `_` or `-`, e.g. `standard`.
    pub id: String,
    pub name: String,
}

/// One seat of a row.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[schema(as = BookingSeat)]
pub struct Seat {
    /// Set by the server: `{row}-{label}`.
    #[serde(default)]
    pub id: String,
    /// 1-8 letters or digits, unique in its row.
    pub label: String,
    /// One of the map's category ids.
    pub category: String,
    #[serde(default)]
    pub accessible: bool,
    /// A blocked seat is drawn but never sold (a broken seat, a camera spot).
    #[serde(default)]
    pub blocked: bool,
    #[serde(default)]
    pub x: Option<i64>,
    #[serde(default)]
    pub y: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[schema(as = BookingRow)]
pub struct Row {
    /// 1-8 letters or digits, unique in the map.
    pub label: String,
    pub seats: Vec<Seat>,
}

/// A seat map: categories and rows of seats.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[schema(as = BookingSeatMap)]
pub struct SeatMap {
    pub categories: Vec<Category>,
    pub rows: Vec<Row>,
}

fn label_ok(label: &str) -> bool {
    (1..=8).contains(&label.len()) && label.bytes().all(|b| b.is_ascii_alphanumeric())
}

pub fn category_ok(id: &str) -> bool {
    (1..=32).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

impl SeatMap {
    /// Checks the map and fills in seat ids and positions; each error says
    /// which row or seat to fix.
    pub fn normalize(mut self) -> Result<SeatMap, ApiError> {
        let bad = ApiError::bad_request;
        if self.categories.is_empty() || self.categories.len() > MAX_CATEGORIES {
            return Err(bad(format!("a seat map needs 1 to {MAX_CATEGORIES} categories")));
        }
        let mut categories = HashSet::new();
        for category in &self.categories {
            if !category_ok(&category.id) {
                return Err(bad(format!(
                    "the category id {:?} must be 1-32 lower-case letters, digits, '_' or '-'",
                    category.id
                )));
            }
            if category.name.trim().is_empty() || category.name.chars().count() > 64 {
                return Err(bad(format!("the category {} needs a name of 1-64 characters", category.id)));
            }
            if !categories.insert(category.id.clone()) {
                return Err(bad(format!("the category {} is listed twice", category.id)));
            }
        }
        if self.rows.is_empty() || self.rows.len() > MAX_ROWS {
            return Err(bad(format!("a seat map needs 1 to {MAX_ROWS} rows")));
        }
        let mut rows = HashSet::new();
        let mut total = 0;
        let mut positions = HashSet::new();
        for (y_index, row) in self.rows.iter_mut().enumerate() {
            if !label_ok(&row.label) {
                return Err(bad(format!("the row label {:?} must be 1-8 letters or digits", row.label)));
            }
            if !rows.insert(row.label.clone()) {
                return Err(bad(format!("the row {} is listed twice", row.label)));
            }
            if row.seats.is_empty() || row.seats.len() > MAX_SEATS_PER_ROW {
                return Err(bad(format!("the row {} needs 1 to {MAX_SEATS_PER_ROW} seats", row.label)));
            }
            total += row.seats.len();
            if total > MAX_SEATS {
                return Err(bad(format!("a seat map has at most {MAX_SEATS} seats")));
            }
            let mut labels = HashSet::new();
            for (x_index, seat) in row.seats.iter_mut().enumerate() {
                if !label_ok(&seat.label) {
                    return Err(bad(format!(
                        "the seat label {:?} in row {} must be 1-8 letters or digits",
                        seat.label, row.label
                    )));
                }
                if !labels.insert(seat.label.clone()) {
                    return Err(bad(format!("the seat {} is listed twice in row {}", seat.label, row.label)));
                }
                if !categories.contains(&seat.category) {
                    return Err(bad(format!(
                        "the seat {}-{} has the category {:?}, which the map does not list",
                        row.label, seat.label, seat.category
                    )));
                }
                let x = seat.x.unwrap_or(x_index as i64);
                let y = seat.y.unwrap_or(y_index as i64);
                if !(0..=MAX_GRID).contains(&x) || !(0..=MAX_GRID).contains(&y) {
                    return Err(bad(format!(
                        "the seat {}-{} is placed at ({x}, {y}); positions are 0..={MAX_GRID}",
                        row.label, seat.label
                    )));
                }
                if !positions.insert((x, y)) {
                    return Err(bad(format!(
                        "the seat {}-{} is placed at ({x}, {y}), where another seat is",
                        row.label, seat.label
                    )));
                }
                seat.id = format!("{}-{}", row.label, seat.label);
                seat.x = Some(x);
                seat.y = Some(y);
            }
        }
        Ok(self)
    }

    pub fn seats(&self) -> impl Iterator<Item = (&Row, &Seat)> {
        self.rows.iter().flat_map(|row| row.seats.iter().map(move |seat| (row, seat)))
    }

    /// Categories that have at least one seat for sale.
    pub fn sold_categories(&self) -> HashSet<&str> {
        self.seats().filter(|(_, s)| !s.blocked).map(|(_, s)| s.category.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(json: serde_json::Value) -> Result<SeatMap, ApiError> {
        serde_json::from_value::<SeatMap>(json).unwrap().normalize()
    }

    #[test]
    fn a_map_gets_ids_and_positions_and_mistakes_name_the_seat() {
        let ok = map(serde_json::json!({
            "categories": [{"id": "standard", "name": "Standard"}],
            "rows": [{"label": "A", "seats": [{"label": "1", "category": "standard"}, {"label": "2", "category": "standard", "x": 3}]}]
        }))
        .unwrap();
        let seats: Vec<_> = ok.seats().map(|(_, s)| (s.id.clone(), s.x, s.y)).collect();
        assert_eq!(seats, [("A-1".into(), Some(0), Some(0)), ("A-2".into(), Some(3), Some(0))]);
        let unknown = map(serde_json::json!({
            "categories": [{"id": "standard", "name": "Standard"}],
            "rows": [{"label": "A", "seats": [{"label": "1", "category": "vip"}]}]
        }))
        .unwrap_err();
        assert!(unknown.message().contains("A-1") && unknown.message().contains("vip"), "{unknown}");
        let twice = map(serde_json::json!({
            "categories": [{"id": "standard", "name": "Standard"}],
            "rows": [{"label": "A", "seats": [{"label": "1", "category": "standard"}, {"label": "1", "category": "standard"}]}]
        }))
        .unwrap_err();
        assert!(twice.message().contains("twice"), "{twice}");
    }
}
