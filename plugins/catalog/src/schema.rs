//! The catalog's tables (portable SQL: see `cdlc_plugin_store`).
//!
//! Ids are text: an imported title or person keeps its IMDb id (`tt0068646`,
//! `nm0000008`) as its id, so credits, episodes and akas of the import join
//! without a lookup; a title or person created through the API gets a
//! UUIDv7. `imdb_id` repeats the IMDb id (NULL for our own); the id being
//! the key, no index of its own keeps it unique.
//!
//! Columns an import owns carry a hash of the source rows they came from
//! (`basics_hash`, `ratings_hash`, …): a re-import compares hashes and writes
//! only what changed. Columns only the API writes (synopsis, certificate,
//! images, bio, photo) are never touched by an import.
//!
//! Sorting and ranking read stored columns: `popularity` (IMDb votes plus
//! our users' ratings), `rating` (the average of both, NULL without votes),
//! `sort_year` (0 without a year) and `sort_title` (folded, cut to 200).

use cdlc_plugin_api::store::portable;
use cdlc_plugin_api::Migration;

pub const MIGRATIONS: &[Migration] = &[
    Migration {
        name: "0001_catalog",
        statements: &[
            "CREATE TABLE titles (
            id VARCHAR(36) PRIMARY KEY,
            imdb_id VARCHAR(16),
            kind VARCHAR(16) NOT NULL,
            imdb_type VARCHAR(32),
            primary_title TEXT NOT NULL,
            original_title TEXT,
            sort_title VARCHAR(200) NOT NULL,
            is_adult BOOLEAN NOT NULL DEFAULT FALSE,
            start_year BIGINT,
            end_year BIGINT,
            sort_year BIGINT NOT NULL DEFAULT 0,
            runtime_minutes BIGINT,
            genres VARCHAR(255) NOT NULL DEFAULT '',
            synopsis TEXT,
            certificate VARCHAR(32),
            poster_key VARCHAR(255),
            backdrop_key VARCHAR(255),
            series_id VARCHAR(36),
            season_number BIGINT,
            episode_number BIGINT,
            imdb_rating DOUBLE,
            imdb_votes BIGINT NOT NULL DEFAULT 0,
            user_sum DOUBLE NOT NULL DEFAULT 0,
            user_count BIGINT NOT NULL DEFAULT 0,
            rating DOUBLE,
            popularity BIGINT NOT NULL DEFAULT 0,
            basics_hash BIGINT,
            ratings_hash BIGINT,
            episode_hash BIGINT,
            akas_hash BIGINT,
            crew_hash BIGINT,
            principals_hash BIGINT,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL
        )",
            "CREATE UNIQUE INDEX titles_by_imdb ON titles (imdb_id)",
            "CREATE INDEX titles_by_popularity ON titles (popularity, id)",
            "CREATE INDEX titles_by_year ON titles (sort_year, id)",
            "CREATE INDEX titles_by_name ON titles (sort_title, id)",
            "CREATE INDEX titles_by_kind ON titles (kind, popularity)",
            "CREATE INDEX titles_by_series ON titles (series_id, season_number, episode_number)",
            "CREATE TABLE title_genres (
            title_id VARCHAR(36) NOT NULL,
            genre VARCHAR(32) NOT NULL,
            PRIMARY KEY (title_id, genre)
        )",
            "CREATE INDEX title_genres_by_genre ON title_genres (genre, title_id)",
            "CREATE TABLE akas (
            title_id VARCHAR(36) NOT NULL,
            ordering BIGINT NOT NULL,
            title TEXT NOT NULL,
            region VARCHAR(8),
            language VARCHAR(8),
            types VARCHAR(100),
            attributes VARCHAR(255),
            is_original BOOLEAN NOT NULL DEFAULT FALSE,
            PRIMARY KEY (title_id, ordering)
        )",
            "CREATE TABLE people (
            id VARCHAR(36) PRIMARY KEY,
            imdb_id VARCHAR(16),
            name TEXT NOT NULL,
            sort_name VARCHAR(200) NOT NULL,
            birth_year BIGINT,
            death_year BIGINT,
            professions VARCHAR(255) NOT NULL DEFAULT '',
            known_for VARCHAR(255) NOT NULL DEFAULT '',
            bio TEXT,
            photo_key VARCHAR(255),
            import_hash BIGINT,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL
        )",
            "CREATE UNIQUE INDEX people_by_imdb ON people (imdb_id)",
            "CREATE INDEX people_by_name ON people (sort_name, id)",
            "CREATE TABLE credits (
            id VARCHAR(64) PRIMARY KEY,
            title_id VARCHAR(36) NOT NULL,
            person_id VARCHAR(36) NOT NULL,
            category VARCHAR(32) NOT NULL,
            job TEXT,
            characters TEXT,
            billing BIGINT NOT NULL,
            source VARCHAR(8) NOT NULL
        )",
            "CREATE INDEX credits_by_title ON credits (title_id, billing)",
            "CREATE INDEX credits_by_person ON credits (person_id, title_id)",
            "CREATE TABLE links (
            title_id VARCHAR(36) NOT NULL,
            asset_id VARCHAR(64) NOT NULL,
            role VARCHAR(16) NOT NULL,
            position BIGINT NOT NULL,
            created_at BIGINT NOT NULL,
            PRIMARY KEY (title_id, asset_id)
        )",
            "CREATE INDEX links_by_asset ON links (asset_id)",
            "CREATE TABLE user_ratings (
            user_id VARCHAR(36) NOT NULL,
            title_id VARCHAR(36) NOT NULL,
            rating DOUBLE NOT NULL,
            updated_at BIGINT NOT NULL,
            PRIMARY KEY (user_id, title_id)
        )",
            "CREATE INDEX user_ratings_by_title ON user_ratings (title_id)",
            "CREATE TABLE imports (
            id VARCHAR(36) PRIMARY KEY,
            state VARCHAR(16) NOT NULL,
            files TEXT NOT NULL,
            options TEXT NOT NULL,
            percent DOUBLE NOT NULL DEFAULT 0,
            report TEXT,
            error TEXT,
            created_by VARCHAR(36),
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL
        )",
        ],
    },
    // `imdb_id` is either NULL or the row's own id (an imported row, or one the
    // API made under an IMDb id, keeps that id as its key), so the primary key
    // keeps it unique: the two unique indexes only cost every insert a B-tree.
    Migration {
        name: "0002_imdb_ids_are_the_keys",
        statements: &["DROP INDEX titles_by_imdb ON titles", "DROP INDEX people_by_imdb ON people"],
    },
];

/// A non-unique secondary index of the migrations, which an import into a
/// (nearly) empty table drops and builds once at its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecondaryIndex {
    pub name: &'static str,
    pub table: &'static str,
    /// The `CREATE INDEX` statement of the migration.
    pub create: &'static str,
}

/// The non-unique indexes the migrations create (and no later one drops),
/// read from their statements so the list cannot drift from the schema.
/// Unique indexes are left out: they are constraints, not only a way to read.
pub fn secondary_indexes() -> Vec<SecondaryIndex> {
    let statements = || MIGRATIONS.iter().flat_map(|m| m.statements.iter());
    let dropped: Vec<&str> = statements()
        .filter_map(|statement| portable::dropped_index(statement))
        .map(|(index, _)| index)
        .collect();
    statements()
        .filter_map(|statement| {
            let rest = statement.strip_prefix("CREATE INDEX ")?;
            let mut words = rest.split_whitespace();
            let name = words.next()?;
            let table = (words.next()? == "ON").then(|| words.next())??;
            Some(SecondaryIndex { name, table, create: statement })
        })
        .filter(|index| !dropped.contains(&index.name))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secondary_indexes_are_read_from_the_migrations() {
        let indexes = secondary_indexes();
        let names: Vec<&str> = indexes.iter().map(|i| i.name).collect();
        assert!(names.contains(&"credits_by_person") && names.contains(&"titles_by_series"), "{names:?}");
        assert!(!names.contains(&"titles_by_imdb"), "unique indexes are not deferred");
        let genres = indexes.iter().find(|i| i.name == "title_genres_by_genre").unwrap();
        assert_eq!(genres.table, "title_genres");
        assert_eq!(indexes.len(), 11);
    }
}
