//! What the routes answer: titles, people, credits, akas, links.

use cdlc_plugin_api::utoipa::{self, ToSchema};
use cdlc_plugin_api::{params, FromRow, Playback, Row, Sql, StoreError};
use serde::Serialize;

use crate::model::{Kind, LinkRole};

/// The columns `TitleView` reads.
pub const TITLE_COLUMNS: &str = "id, imdb_id, kind, imdb_type, primary_title, original_title, is_adult, \
    start_year, end_year, runtime_minutes, genres, synopsis, certificate, poster_key, backdrop_key, series_id, \
    season_number, episode_number, imdb_rating, imdb_votes, user_sum, user_count, rating, popularity, \
    created_at, updated_at";

/// A title.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TitleView {
    pub id: String,
    /// `tt…` when the title is IMDb's.
    pub imdb_id: Option<String>,
    pub kind: Kind,
    /// IMDb's title type (`tvMiniSeries`…) when imported.
    pub imdb_type: Option<String>,
    pub primary_title: String,
    pub original_title: Option<String>,
    pub is_adult: bool,
    pub start_year: Option<i64>,
    /// The last year of a series.
    pub end_year: Option<i64>,
    pub runtime_minutes: Option<i64>,
    pub genres: Vec<String>,
    pub synopsis: Option<String>,
    /// Certificate or maturity rating (`PG-13`, `FSK 12`).
    pub certificate: Option<String>,
    /// Where the poster is served, when there is one.
    pub poster_url: Option<String>,
    pub backdrop_url: Option<String>,
    /// For an episode or season: its series.
    pub series_id: Option<String>,
    pub season_number: Option<i64>,
    pub episode_number: Option<i64>,
    pub imdb_rating: Option<f64>,
    pub imdb_votes: i64,
    /// Our users' ratings: how many and their average.
    pub user_votes: i64,
    pub user_rating: Option<f64>,
    /// The average of every vote, IMDb's and ours.
    pub rating: Option<f64>,
    /// Every vote, IMDb's and ours: the popularity sort.
    pub votes: i64,
    /// The weighted rating top lists rank by (set in browse and top lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weighted_rating: Option<f64>,
    pub created_at: i64,
    pub updated_at: i64,
}

const BASE: &str = "/api/v1/catalog";

impl FromRow for TitleView {
    fn from_row(row: &Row) -> Result<TitleView, StoreError> {
        let id: String = row.get("id")?;
        let kind: String = row.get("kind")?;
        let genres: String = row.get("genres")?;
        let user_count: i64 = row.get("user_count")?;
        let user_sum: f64 = row.get("user_sum")?;
        let image = |column: &str, slot: &str| -> Result<Option<String>, StoreError> {
            Ok(row.get::<Option<String>>(column)?.map(|_| format!("{BASE}/titles/{id}/{slot}")))
        };
        Ok(TitleView {
            imdb_id: row.get("imdb_id")?,
            kind: Kind::parse(&kind)
                .map_err(|message| StoreError::Decode { column: "kind".into(), message })?,
            imdb_type: row.get("imdb_type")?,
            primary_title: row.get("primary_title")?,
            original_title: row.get("original_title")?,
            is_adult: row.get("is_adult")?,
            start_year: row.get("start_year")?,
            end_year: row.get("end_year")?,
            runtime_minutes: row.get("runtime_minutes")?,
            genres: genres.split(',').filter(|g| !g.is_empty()).map(str::to_owned).collect(),
            synopsis: row.get("synopsis")?,
            certificate: row.get("certificate")?,
            poster_url: image("poster_key", "poster")?,
            backdrop_url: image("backdrop_key", "backdrop")?,
            series_id: row.get("series_id")?,
            season_number: row.get("season_number")?,
            episode_number: row.get("episode_number")?,
            imdb_rating: row.get("imdb_rating")?,
            imdb_votes: row.get("imdb_votes")?,
            user_votes: user_count,
            user_rating: (user_count > 0).then(|| user_sum / user_count as f64),
            rating: row.get("rating")?,
            votes: row.get("popularity")?,
            weighted_rating: None,
            created_at: row.get("created_at")?,
            updated_at: row.get("updated_at")?,
            id,
        })
    }
}

pub async fn title(db: &impl Sql, id: &str) -> Result<Option<TitleView>, StoreError> {
    db.query_opt(&format!("SELECT {TITLE_COLUMNS} FROM titles WHERE id = ?"), params![id]).await
}

/// The columns `PersonView` reads.
pub const PERSON_COLUMNS: &str =
    "id, imdb_id, name, birth_year, death_year, professions, known_for, bio, photo_key, created_at, updated_at";

/// A person.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PersonView {
    pub id: String,
    /// `nm…` when the person is IMDb's.
    pub imdb_id: Option<String>,
    pub name: String,
    pub birth_year: Option<i64>,
    pub death_year: Option<i64>,
    /// `actor`, `director`, `writer`…
    pub professions: Vec<String>,
    /// Ids of the titles the person is best known for.
    pub known_for: Vec<String>,
    pub bio: Option<String>,
    pub photo_url: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

fn list(text: String) -> Vec<String> {
    text.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

impl FromRow for PersonView {
    fn from_row(row: &Row) -> Result<PersonView, StoreError> {
        let id: String = row.get("id")?;
        Ok(PersonView {
            imdb_id: row.get("imdb_id")?,
            name: row.get("name")?,
            birth_year: row.get("birth_year")?,
            death_year: row.get("death_year")?,
            professions: list(row.get("professions")?),
            known_for: list(row.get("known_for")?),
            bio: row.get("bio")?,
            photo_url: row.get::<Option<String>>("photo_key")?.map(|_| format!("{BASE}/people/{id}/photo")),
            created_at: row.get("created_at")?,
            updated_at: row.get("updated_at")?,
            id,
        })
    }
}

pub async fn person(db: &impl Sql, id: &str) -> Result<Option<PersonView>, StoreError> {
    db.query_opt(&format!("SELECT {PERSON_COLUMNS} FROM people WHERE id = ?"), params![id]).await
}

/// A person's part in a title.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreditView {
    pub id: String,
    pub title_id: String,
    /// The title's primary title (absent when the title is not in the catalog).
    pub title: Option<String>,
    pub person_id: String,
    /// The person's name (absent when the person is not in the catalog).
    pub person_name: Option<String>,
    /// Whether the person has a photo (at `/people/{id}/photo`).
    pub person_photo_url: Option<String>,
    /// `actor`, `actress`, `director`, `writer`…
    pub category: String,
    pub job: Option<String>,
    /// The characters played.
    pub characters: Vec<String>,
    /// Order of billing: lower first.
    pub billing: i64,
    /// `cast` (IMDb's principals), `crew` (IMDb's directors and writers) or `api`.
    pub source: String,
}

/// The SELECT of credits with their title's and person's names.
pub const CREDIT_SELECT: &str = "SELECT credits.id AS id, credits.title_id AS title_id, titles.primary_title AS title, \
    credits.person_id AS person_id, people.name AS person_name, people.photo_key AS photo_key, category, job, \
    characters, billing, source FROM credits LEFT JOIN people ON people.id = credits.person_id \
    LEFT JOIN titles ON titles.id = credits.title_id";

impl FromRow for CreditView {
    fn from_row(row: &Row) -> Result<CreditView, StoreError> {
        let characters: Option<String> = row.get("characters")?;
        let person_id: String = row.get("person_id")?;
        Ok(CreditView {
            id: row.get("id")?,
            title_id: row.get("title_id")?,
            title: row.get("title")?,
            person_name: row.get("person_name")?,
            person_photo_url: row
                .get::<Option<String>>("photo_key")?
                .map(|_| format!("{BASE}/people/{person_id}/photo")),
            person_id,
            category: row.get("category")?,
            job: row.get("job")?,
            characters: characters.and_then(|json| serde_json::from_str(&json).ok()).unwrap_or_default(),
            billing: row.get("billing")?,
            source: row.get("source")?,
        })
    }
}

/// A title's name in a region or language.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AkaView {
    pub ordering: i64,
    pub title: String,
    /// ISO 3166 region (`FR`), when known.
    pub region: Option<String>,
    /// ISO 639 language (`fr`), when known.
    pub language: Option<String>,
    /// IMDb's types (`imdbDisplay`, `original`…).
    pub types: Option<String>,
    pub attributes: Option<String>,
    pub is_original: bool,
}

impl FromRow for AkaView {
    fn from_row(row: &Row) -> Result<AkaView, StoreError> {
        Ok(AkaView {
            ordering: row.get("ordering")?,
            title: row.get("title")?,
            region: row.get("region")?,
            language: row.get("language")?,
            types: row.get("types")?,
            attributes: row.get("attributes")?,
            is_original: row.get("is_original")?,
        })
    }
}

/// An asset linked to a title.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LinkView {
    pub title_id: String,
    pub asset_id: String,
    pub role: LinkRole,
    /// Order among the title's links of the same role.
    pub position: i64,
    /// `uploading`, `processing`, `ready`, `errored`; absent when the asset is gone.
    pub state: Option<String>,
    /// Where a player finds the streams (a ready, public asset).
    #[schema(value_type = Option<Object>)]
    pub playback: Option<Playback>,
    pub created_at: i64,
}

/// A season of a series.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SeasonView {
    /// Absent for episodes IMDb gives no season (specials are often season 0).
    pub season_number: Option<i64>,
    pub episodes: i64,
    /// The season's own title, when the catalog has one (kind season).
    pub title_id: Option<String>,
}
