//! Ratings: IMDb's average and votes (imported) and our users' own (1–10
//! in half steps, one per user per title), combined into each title's
//! `rating` (the average of every vote) and `popularity` (every vote), and
//! the weighted rating that ranks top lists:
//!
//! WR = v/(v+m)·R + m/(v+m)·C = (v·R + m·C) / (v + m)
//!
//! with R the title's rating, v its votes, m the `weighted_min_votes`
//! setting and C the mean rating of every rated title in the catalog. A
//! title with few votes is pulled towards C, so ten 10s do not outrank a
//! classic.

use cdlc_plugin_api::{params, Db, Sql, StoreError};

use crate::model::now_ms;
use crate::sql;

/// C: the mean of the rated titles' ratings (0 when none is rated).
pub async fn mean_rating(db: &impl Sql) -> Result<f64, StoreError> {
    let rows = db.query("SELECT AVG(rating) AS c FROM titles WHERE rating IS NOT NULL", params![]).await?;
    Ok(rows.first().map(|r| r.get::<Option<f64>>("c")).transpose()?.flatten().unwrap_or(0.0))
}

/// WR for `rating` R with `votes` v, given m and C.
pub fn weighted(rating: Option<f64>, votes: i64, m: f64, c: f64) -> f64 {
    let v = votes.max(0) as f64;
    if v + m <= 0.0 {
        return c;
    }
    (v * rating.unwrap_or(c) + m * c) / (v + m)
}

/// The SQL expression of WR over `titles`, with two parameters: m·C, m.
pub const WEIGHTED_SQL: &str = "((COALESCE(rating, 0) * popularity + ?) / (popularity + ?))";

/// Checks a user's rating: 1 to 10 in steps of 0.5.
pub fn check(rating: f64) -> Result<(), String> {
    if !(1.0..=10.0).contains(&rating) || (rating * 2.0).fract() != 0.0 {
        return Err(format!("the rating {rating} must be from 1 to 10, in steps of 0.5 (e.g. 7 or 7.5)"));
    }
    Ok(())
}

/// Sets (or replaces) `user`'s rating of `title`; false when there is no such title.
pub async fn set(db: &Db, user: &str, title: &str, rating: f64) -> Result<bool, StoreError> {
    let (user, title) = (user.to_owned(), title.to_owned());
    db.transaction(|tx| {
        let (user, title) = (user.clone(), title.clone());
        async move {
            if tx.query("SELECT id FROM titles WHERE id = ?", params![&title]).await?.is_empty() {
                return Ok(false);
            }
            let old = tx
                .query("SELECT rating FROM user_ratings WHERE user_id = ? AND title_id = ?", params![&user, &title])
                .await?;
            let now = now_ms();
            let (sum_delta, count_delta) = match old.first() {
                Some(row) => {
                    let previous: f64 = row.get("rating")?;
                    tx.execute(
                        "UPDATE user_ratings SET rating = ?, updated_at = ? WHERE user_id = ? AND title_id = ?",
                        params![rating, now, &user, &title],
                    )
                    .await?;
                    (rating - previous, 0)
                }
                None => {
                    tx.execute(
                        "INSERT INTO user_ratings (user_id, title_id, rating, updated_at) VALUES (?, ?, ?, ?)",
                        params![&user, &title, rating, now],
                    )
                    .await?;
                    (rating, 1)
                }
            };
            adjust(&tx, &title, sum_delta, count_delta).await?;
            Ok(true)
        }
    })
    .await
}

/// Removes `user`'s rating of `title`; false when there was none.
pub async fn remove(db: &Db, user: &str, title: &str) -> Result<bool, StoreError> {
    let (user, title) = (user.to_owned(), title.to_owned());
    db.transaction(|tx| {
        let (user, title) = (user.clone(), title.clone());
        async move { remove_in(&tx, &user, &title).await }
    })
    .await
}

async fn remove_in(tx: &impl Sql, user: &str, title: &str) -> Result<bool, StoreError> {
    let old = tx
        .query("SELECT rating FROM user_ratings WHERE user_id = ? AND title_id = ?", params![user, title])
        .await?;
    let Some(row) = old.first() else { return Ok(false) };
    let previous: f64 = row.get("rating")?;
    tx.execute("DELETE FROM user_ratings WHERE user_id = ? AND title_id = ?", params![user, title]).await?;
    adjust(tx, title, -previous, -1).await?;
    Ok(true)
}

/// Removes every rating of `user` (their account was deleted); how many.
pub async fn remove_user(db: &Db, user: &str) -> Result<u64, StoreError> {
    let mut removed = 0;
    loop {
        let titles: Vec<String> = db
            .query(
                "SELECT title_id FROM user_ratings WHERE user_id = ? ORDER BY title_id LIMIT ?",
                params![user, 500],
            )
            .await?
            .iter()
            .map(|r| r.get("title_id"))
            .collect::<Result<_, _>>()?;
        if titles.is_empty() {
            return Ok(removed);
        }
        let user = user.to_owned();
        let titles = std::sync::Arc::new(titles);
        removed += db
            .transaction(|tx| {
                let (user, titles) = (user.clone(), titles.clone());
                async move {
                    let mut n = 0;
                    for title in titles.iter() {
                        n += u64::from(remove_in(&tx, &user, title).await?);
                    }
                    Ok::<_, StoreError>(n)
                }
            })
            .await?;
    }
}

/// Moves a title's user sums, then recomputes its rating and popularity (a
/// second statement, so both backends see the new sums).
async fn adjust(tx: &impl Sql, title: &str, sum_delta: f64, count_delta: i64) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE titles SET user_sum = user_sum + ?, user_count = user_count + ? WHERE id = ?",
        params![sum_delta, count_delta, title],
    )
    .await?;
    let mut statements = Vec::new();
    sql::refresh_scores(&[title.to_owned()], &mut statements);
    for (statement, values) in statements {
        tx.execute(&statement, &values).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_weighted_rating_is_imdbs_formula() {
        // v = 500, R = 9, m = 1000, C = 6.5: (500·9 + 1000·6.5) / 1500.
        assert!((weighted(Some(9.0), 500, 1000.0, 6.5) - 11_000.0 / 1500.0).abs() < 1e-12);
        assert_eq!(weighted(None, 0, 1000.0, 6.5), 6.5);
        assert!(check(7.5).is_ok() && check(0.5).is_err() && check(7.3).is_err() && check(11.0).is_err());
    }
}
