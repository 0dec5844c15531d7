//! The catalog's side of the search index: documents are built from the
//! tables (a title with every aka, a person with the votes of the titles
//! they are known for) and replaced whenever a write touches them. The
//! index is derived data: when it is missing or of another schema version,
//! `start` rebuilds it from the tables.

use std::collections::HashMap;
use std::sync::Arc;

use cdlc_plugin_api::{Db, StoreError};
use cdlc_search::{PersonDoc, SearchIndex, TitleDoc};

use crate::sql::query_ids;

/// Ids reindexed per read of the tables (one `IN` list each).
const CHUNK: usize = crate::sql::MAX_PARAMS;

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
            let votes: HashMap<String, i64> =
                query_ids(db, "SELECT id, popularity FROM titles WHERE id IN ({ids})", &known)
                    .await?
                    .iter()
                    .map(|r| Ok((r.get("id")?, r.get("popularity")?)))
                    .collect::<Result<_, StoreError>>()?;
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
