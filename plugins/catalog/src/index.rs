//! The catalog's side of the search index: documents are built from the
//! tables (a title with every aka, a person with the votes of the titles
//! they are known for) and replaced whenever a write touches them. The
//! index is derived data: when it is missing or of another schema version,
//! `start` rebuilds it from the tables.

use std::collections::HashMap;
use std::sync::Arc;

use cdlc_plugin_api::{Db, StoreError};
use cdlc_search::{PersonDoc, SearchIndex, TitleDoc};

use crate::imdb::datasets::parse_id;
use crate::sql::query_ids;

/// Ids reindexed per read of the tables (one `IN` list each).
const CHUNK: usize = crate::sql::MAX_PARAMS;

/// Above this many people, `people` reads the votes of every title that
/// has some once, in id order, instead of looking up each chunk's
/// known-for titles: those are all over the table, a page read each, and
/// the lookups took half of indexing a million people (4.2 of 8.7 s).
const VOTES_READ_ONCE_ABOVE: usize = 50_000;

/// The popularity of every imported title that has any (an import's
/// known-for lists name IMDb titles only), by the number of its id: one
/// keyset scan of the table in id order.
async fn title_votes(db: &Db) -> Result<foldhash::HashMap<u32, i64>, StoreError> {
    let mut votes = foldhash::HashMap::default();
    let mut after = String::new();
    loop {
        let rows = cdlc_plugin_api::Sql::query(
            db,
            "SELECT id, popularity FROM titles WHERE id > ? ORDER BY id LIMIT ?",
            cdlc_plugin_api::params![after.clone(), 5000],
        )
        .await?;
        let Some(last) = rows.last() else { return Ok(votes) };
        after = last.get("id")?;
        for row in &rows {
            let popularity: i64 = row.get("popularity")?;
            let id: String = row.get("id")?;
            if let (true, Ok(number)) = (popularity > 0, parse_id(&id, "tt")) {
                votes.insert(number, popularity);
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the search index failed: {0}")]
    Search(#[from] cdlc_search::SearchError),
    #[error("the search index task failed: {0}")]
    Join(String),
}

/// The ids of `chunk` that have no document among `found`.
fn missing<'a>(chunk: &[String], found: impl Iterator<Item = &'a str>) -> Vec<String> {
    let found: std::collections::HashSet<&str> = found.collect();
    chunk.iter().filter(|id| !found.contains(id.as_str())).cloned().collect()
}

/// The popularity of each title of `known` that has a row: from `all`
/// (`title_votes`) when given, else read.
async fn known_votes(
    db: &Db,
    known: Vec<String>,
    all: Option<&foldhash::HashMap<u32, i64>>,
) -> Result<HashMap<String, i64>, StoreError> {
    let Some(all) = all else {
        return query_ids(db, "SELECT id, popularity FROM titles WHERE id IN ({ids})", &known)
            .await?
            .iter()
            .map(|r| Ok((r.get("id")?, r.get("popularity")?)))
            .collect();
    };
    Ok(known
        .into_iter()
        .filter_map(|id| {
            let votes = *all.get(&parse_id(&id, "tt").ok()?)?;
            Some((id, votes))
        })
        .collect())
}

/// The index, shared by handlers and imports.
#[derive(Clone, Debug)]
pub struct Index(pub Arc<SearchIndex>);

impl Index {
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&SearchIndex) -> Result<T, cdlc_search::SearchError> + Send + 'static,
    ) -> Result<T, IndexError> {
        let index = self.0.clone();
        tokio::task::spawn_blocking(move || work(&index))
            .await
            .map_err(|e| IndexError::Join(e.to_string()))?
            .map_err(IndexError::from)
    }

    pub async fn commit(&self) -> Result<(), IndexError> {
        self.blocking(|index| index.commit()).await
    }

    pub async fn delete(&self, id: String) -> Result<(), IndexError> {
        self.blocking(move |index| index.delete(&id)).await
    }

    pub async fn search(
        &self,
        query: cdlc_search::SearchQuery,
        sort: cdlc_search::Sort,
    ) -> Result<cdlc_search::SearchPage, IndexError> {
        self.blocking(move |index| index.search_sorted(&query, sort)).await
    }

    /// Replaces the documents of `ids` (titles) with what the tables hold
    /// now; an id with no title is removed. Not committed.
    pub async fn titles(&self, db: &Db, ids: &[String]) -> Result<(), IndexError> {
        for chunk in ids.chunks(CHUNK) {
            let rows = query_ids(
                db,
                "SELECT id, kind, primary_title, original_title, start_year, genres, rating, popularity \
                 FROM titles WHERE id IN ({ids})",
                chunk,
            )
            .await?;
            let akas = query_ids(
                db,
                "SELECT title_id, title FROM akas WHERE title_id IN ({ids}) ORDER BY title_id, ordering",
                chunk,
            )
            .await?;
            let mut names: HashMap<String, Vec<String>> = HashMap::new();
            for aka in &akas {
                names.entry(aka.get("title_id")?).or_default().push(aka.get("title")?);
            }
            let mut docs = Vec::with_capacity(rows.len());
            for row in &rows {
                let id: String = row.get("id")?;
                let mut all = vec![row.get::<String>("primary_title")?];
                all.extend(row.get::<Option<String>>("original_title")?);
                all.extend(names.remove(&id).unwrap_or_default());
                let genres: String = row.get("genres")?;
                docs.push(TitleDoc {
                    kind: row.get("kind")?,
                    names: all,
                    year: row.get::<Option<i32>>("start_year")?,
                    genres: genres.split(',').filter(|g| !g.is_empty()).map(str::to_owned).collect(),
                    rating: row.get::<Option<f64>>("rating")?.map(|r| r.clamp(0.0, 10.0) as f32),
                    votes: row.get::<i64>("popularity")?.max(0) as u64,
                    id,
                });
            }
            let missing = missing(chunk, docs.iter().map(|d| d.id.as_str()));
            self.blocking(move |index| {
                for id in &missing {
                    index.delete(id)?;
                }
                index.upsert_titles(&docs)
            })
            .await?;
        }
        Ok(())
    }

    /// As `titles`, for people.
    pub async fn people(&self, db: &Db, ids: &[String]) -> Result<(), IndexError> {
        let all_votes = match ids.len() > VOTES_READ_ONCE_ABOVE {
            true => Some(title_votes(db).await?),
            false => None,
        };
        for chunk in ids.chunks(CHUNK) {
            let rows = query_ids(
                db,
                "SELECT id, name, professions, known_for FROM people WHERE id IN ({ids})",
                chunk,
            )
            .await?;
            let mut known: Vec<String> = Vec::new();
            for row in &rows {
                let list: String = row.get("known_for")?;
                known.extend(list.split(',').filter(|s| !s.is_empty()).map(str::to_owned));
            }
            known.sort();
            known.dedup();
            let votes = known_votes(db, known, all_votes.as_ref()).await?;
            let mut docs = Vec::with_capacity(rows.len());
            for row in &rows {
                let list: String = row.get("known_for")?;
                let professions: String = row.get("professions")?;
                docs.push(PersonDoc {
                    id: row.get("id")?,
                    name: row.get("name")?,
                    professions: professions
                        .split(',')
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect(),
                    known_for_votes: list
                        .split(',')
                        .filter_map(|t| votes.get(t))
                        .map(|v| (*v).max(0) as u64)
                        .sum(),
                });
            }
            let missing = missing(chunk, docs.iter().map(|d| d.id.as_str()));
            self.blocking(move |index| {
                for id in &missing {
                    index.delete(id)?;
                }
                index.upsert_people(&docs)
            })
            .await?;
        }
        Ok(())
    }

    /// Rebuilds every document from the tables (keyset pages of ids), then commits.
    pub async fn rebuild(&self, db: &Db) -> Result<(u64, u64), IndexError> {
        let titles = self.rebuild_table(db, "titles", true).await?;
        let people = self.rebuild_table(db, "people", false).await?;
        self.commit().await?;
        Ok((titles, people))
    }

    async fn rebuild_table(&self, db: &Db, table: &str, titles: bool) -> Result<u64, IndexError> {
        let mut after = String::new();
        let mut count = 0;
        loop {
            let rows = cdlc_plugin_api::Sql::query(
                db,
                &format!("SELECT id FROM {table} WHERE id > ? ORDER BY id LIMIT ?"),
                cdlc_plugin_api::params![after.clone(), 5000],
            )
            .await?;
            let Some(last) = rows.last() else { return Ok(count) };
            after = last.get("id")?;
            let ids: Vec<String> = rows.iter().map(|r| r.get("id")).collect::<Result<_, _>>()?;
            count += ids.len() as u64;
            if titles {
                self.titles(db, &ids).await?;
            } else {
                self.people(db, &ids).await?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cdlc_plugin_api::{params, Plugin, Sql};

    /// Both ways of finding the votes of the titles people are known for
    /// give the same answer: a title without votes counts as none, a title
    /// not in the catalog is left out.
    #[tokio::test]
    async fn votes_read_at_once_are_those_looked_up() {
        let dir = tempfile::tempdir().unwrap();
        let stores = cdlc_plugin_store::Stores::sqlite(dir.path());
        let catalog = crate::Catalog::new();
        let db = stores.db(catalog.name()).await.unwrap();
        db.migrate(catalog.migrations()).await.unwrap();
        for (id, popularity) in [("tt0000001", 10), ("tt0000002", 0), ("tt0000003", 5), ("0190a1b2-uuid", 7)]
        {
            db.execute(
                "INSERT INTO titles (id, kind, primary_title, sort_title, popularity, created_at, updated_at) \
                 VALUES (?, 'movie', 'T', 't', ?, 0, 0)",
                params![id, popularity],
            )
            .await
            .unwrap();
        }
        let all = title_votes(&db).await.unwrap();
        assert_eq!(all.len(), 2, "{all:?}");
        let known: Vec<String> =
            ["tt0000001", "tt0000002", "tt0000003", "tt0000009"].map(String::from).into();
        let looked_up = known_votes(&db, known.clone(), None).await.unwrap();
        let at_once = known_votes(&db, known, Some(&all)).await.unwrap();
        let sum = |votes: &HashMap<String, i64>| votes.values().map(|v| (*v).max(0)).sum::<i64>();
        assert_eq!((sum(&looked_up), sum(&at_once)), (15, 15));
        assert_eq!(at_once.get("tt0000003"), Some(&5));
        assert!(!looked_up.contains_key("tt0000009") && !at_once.contains_key("tt0000009"));
    }
}
