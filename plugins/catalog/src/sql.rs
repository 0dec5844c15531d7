//! Batched statements in the portable subset: many rows per INSERT, many
//! rows per UPDATE (one `CASE id WHEN ? THEN ?` per column), `IN (?, …)`
//! lists. A statement binds at most `MAX_PARAMS` values, well under both
//! SQLite's and MySQL's limits.

use cdlc_plugin_api::store::{Planned, Value};
use cdlc_plugin_api::{Sql, StoreError};

/// The most values one statement binds.
pub const MAX_PARAMS: usize = 2000;

/// The most rows one UPDATE sets. Each row's `CASE id WHEN ? …` finds its
/// value by comparing the id with the WHENs one after another, so a long
/// CASE costs rows² comparisons: 666 rows a statement updated 300 000
/// titles 2.7x slower than 64 (SQLite, measured); fewer than ~64 only adds
/// statements.
pub const UPDATE_ROWS: usize = 64;

/// A statement and its values, planned before a transaction runs it (so a
/// transaction that has to run again runs the same statements).
pub use cdlc_plugin_api::store::Statement;

fn marks(n: usize) -> String {
    let mut out = String::with_capacity(n * 3);
    for i in 0..n {
        out.push_str(if i == 0 { "?" } else { ", ?" });
    }
    out
}

/// `INSERT INTO table (columns) VALUES (…), (…)` for `rows`, as few statements as fit.
pub fn insert(table: &str, columns: &[&str], rows: Vec<Vec<Value>>, out: &mut Vec<Statement>) {
    if rows.is_empty() {
        return;
    }
    let per_statement = (MAX_PARAMS / columns.len()).max(1);
    let row_marks = format!("({})", marks(columns.len()));
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<Vec<Value>> = rows.by_ref().take(per_statement).collect();
        let mut sql = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
        for i in 0..chunk.len() {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&row_marks);
        }
        // Sized at once: collecting a flatten grows the list step by step.
        let mut params = Vec::with_capacity(chunk.len() * columns.len());
        for row in chunk {
            params.extend(row);
        }
        out.push((sql, params));
    }
}

/// Sets `columns` of each row named by its `key` (`rows`: key, then one
/// value per column), as few statements as fit.
pub fn update(
    table: &str,
    key: &str,
    columns: &[&str],
    rows: Vec<(String, Vec<Value>)>,
    out: &mut Vec<Statement>,
) {
    if rows.is_empty() {
        return;
    }
    let per_statement = (MAX_PARAMS / (2 * columns.len() + 1)).clamp(1, UPDATE_ROWS);
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<(String, Vec<Value>)> = rows.by_ref().take(per_statement).collect();
        let mut sql = format!("UPDATE {table} SET ");
        let mut params = Vec::with_capacity(chunk.len() * (2 * columns.len() + 1));
        for (c, column) in columns.iter().enumerate() {
            if c > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("{column} = CASE {key}"));
            for (id, values) in &chunk {
                sql.push_str(" WHEN ? THEN ?");
                params.push(Value::Text(id.clone()));
                params.push(values[c].clone());
            }
            sql.push_str(" END");
        }
        sql.push_str(&format!(" WHERE {key} IN ({})", marks(chunk.len())));
        params.extend(chunk.into_iter().map(|(id, _)| Value::Text(id)));
        out.push((sql, params));
    }
}

/// `{prefix} IN (?, …){suffix}` over `ids`, as few statements as fit.
pub fn with_ids(prefix: &str, suffix: &str, ids: &[String], out: &mut Vec<Statement>) {
    for chunk in ids.chunks(MAX_PARAMS) {
        let sql = format!("{prefix} IN ({}){suffix}", marks(chunk.len()));
        out.push((sql, chunk.iter().map(|id| Value::Text(id.clone())).collect()));
    }
}

/// Runs `sql` with `ids` as its `IN (…)` list (placed where `{ids}` is), in
/// chunks; every chunk's rows.
pub async fn query_ids(
    db: &impl Sql,
    sql: &str,
    ids: &[String],
) -> Result<Vec<cdlc_plugin_api::Row>, StoreError> {
    let mut rows = Vec::new();
    for chunk in ids.chunks(MAX_PARAMS) {
        let statement = sql.replace("{ids}", &marks(chunk.len()));
        let params: Vec<Value> = chunk.iter().map(|id| Value::Text(id.clone())).collect();
        rows.extend(db.query(&statement, &params).await?);
    }
    Ok(rows)
}

/// Runs planned statements in one transaction; the rows they changed.
pub async fn run(db: &cdlc_plugin_api::Db, statements: Vec<Statement>) -> Result<u64, StoreError> {
    if statements.is_empty() {
        return Ok(0);
    }
    let statements: Planned = std::sync::Arc::new(statements);
    db.transaction(|tx| {
        let statements = statements.clone();
        async move { tx.execute_all(&statements).await }
    })
    .await
}

/// Recomputes the stored score columns of `ids` from the IMDb votes and our
/// users' ratings: `popularity` is every vote, `rating` their average.
pub fn refresh_scores(ids: &[String], out: &mut Vec<Statement>) {
    with_ids(
        "UPDATE titles SET popularity = imdb_votes + user_count, rating = CASE WHEN imdb_votes + user_count > 0 \
         THEN (COALESCE(imdb_rating, 0) * imdb_votes + user_sum) / (imdb_votes + user_count) END WHERE id",
        "",
        ids,
        out,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_split_to_stay_under_the_parameter_limit() {
        let mut out = Vec::new();
        let rows: Vec<Vec<Value>> = (0..2500).map(|i| vec![Value::Int(i), Value::Int(i)]).collect();
        insert("t", &["a", "b"], rows, &mut out);
        assert_eq!(out.len(), 3);
        assert!(out.iter().all(|(_, p)| p.len() <= MAX_PARAMS));
        for (sql, _) in &out {
            cdlc_plugin_api::store::portable::check(sql).unwrap();
        }
        let mut out = Vec::new();
        update("t", "id", &["a", "b"], vec![("x".into(), vec![Value::Int(1), Value::Null])], &mut out);
        assert_eq!(
            out[0].0,
            "UPDATE t SET a = CASE id WHEN ? THEN ? END, b = CASE id WHEN ? THEN ? END WHERE id IN (?)"
        );
        cdlc_plugin_api::store::portable::check(&out[0].0).unwrap();
        let mut out = Vec::new();
        let rows = (0..200).map(|i| (format!("t{i}"), vec![Value::Int(i)])).collect();
        update("t", "id", &["a"], rows, &mut out);
        assert_eq!(out.iter().map(|(_, p)| p.len() / 3).collect::<Vec<_>>(), [64, 64, 64, 8]);
    }
}
