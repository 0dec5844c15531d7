//! Result rows, read by column name (never by position, so adding a column
//! to a SELECT cannot shift the others).

use std::sync::Arc;

use crate::value::{decode, FromValue, Value};
use crate::StoreError;

/// One result row.
#[derive(Debug, Clone)]
pub struct Row {
    columns: Arc<[String]>,
    values: Vec<Value>,
}

impl Row {
    pub(crate) fn new(columns: Arc<[String]>, values: Vec<Value>) -> Row {
        Row { columns, values }
    }

    /// The cell of `column` (matched without regard to ASCII case, as both
    /// SQLite and MySQL do) read as `T`.
    pub fn get<T: FromValue>(&self, column: &str) -> Result<T, StoreError> {
        match self.columns.iter().position(|c| c.eq_ignore_ascii_case(column)) {
            Some(index) => decode(column, &self.values[index]),
            None => Err(StoreError::Decode {
                column: column.to_owned(),
                message: format!(
                    "the query returns no such column (it returns: {})",
                    self.columns.join(", ")
                ),
            }),
        }
    }

    /// The column names, in the order of the SELECT.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }
}

/// A type built from one row, by column name.
///
/// ```ignore
/// impl FromRow for Movie {
///     fn from_row(row: &Row) -> Result<Movie, StoreError> {
///         Ok(Movie { id: row.get("id")?, title: row.get("title")?, year: row.get("year")? })
///     }
/// }
/// ```
pub trait FromRow: Sized {
    fn from_row(row: &Row) -> Result<Self, StoreError>;
}

impl FromRow for Row {
    fn from_row(row: &Row) -> Result<Row, StoreError> {
        Ok(row.clone())
    }
}
