//! People: list by name, one person with their filmography, create,
//! change, delete.

use cdlc_plugin_api::axum;
use cdlc_plugin_api::axum::extract::{Path, State};
use cdlc_plugin_api::axum::http::StatusCode;
use cdlc_plugin_api::store::Value;
use cdlc_plugin_api::utoipa::{self, IntoParams, ToSchema};
use cdlc_plugin_api::utoipa_axum::router::OpenApiRouter;
use cdlc_plugin_api::{params, routes, ApiError, FromRow, Json, Principal, Sql, StoreError};
use serde::{Deserialize, Deserializer};

use super::views::{self, CreditView, PersonView, CREDIT_SELECT, PERSON_COLUMNS};
use super::{bounded, check_id, decode_cursor, limit, page_of, require_write, Page, PageQuery, Query};
use crate::model::{clip, now_ms, sort_key};
use crate::Shared;

type Shared_ = std::sync::Arc<Shared>;

pub(super) fn routes() -> OpenApiRouter<Shared_> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_person, patch_person, delete_person))
        .routes(routes!(person_credits))
}

fn no_person(id: &str) -> ApiError {
    ApiError::not_found(format!("there is no person {:?}", clip(id, 40)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PeopleQuery {
    /// Names starting with this (case folded); for words anywhere use `/search`.
    prefix: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

/// People by name, A to Z.
#[utoipa::path(operation_id = "list_people", get, path = "/people", params(PeopleQuery), responses((status = 200, body = Page<PersonView>)))]
async fn list(
    State(shared): State<Shared_>,
    Query(q): Query<PeopleQuery>,
) -> Result<Json<Page<PersonView>>, ApiError> {
    let limit = limit(q.limit)?;
    let mut clauses = vec!["1 = 1".to_owned()];
    let mut values = Vec::new();
    if let Some(prefix) = q.prefix.as_deref().filter(|p| !p.is_empty()) {
        if prefix.chars().count() > 100 {
            return Err(ApiError::bad_request("prefix must be at most 100 characters"));
        }
        let escaped: String = sort_key(prefix)
            .chars()
            .flat_map(|c| if matches!(c, '%' | '_' | '!') { vec!['!', c] } else { vec![c] })
            .collect();
        clauses.push("sort_name LIKE ? ESCAPE '!'".into());
        values.push(Value::Text(format!("{escaped}%")));
    }
    if let Some(cursor) = &q.cursor {
        let parts = decode_cursor(cursor, "tt")?;
        clauses.push("(sort_name > ? OR (sort_name = ? AND id > ?))".into());
        values.extend([parts[0].clone(), parts[0].clone(), parts[1].clone()]);
    }
    values.push(Value::Int(limit as i64 + 1));
    let sql = format!(
        "SELECT {PERSON_COLUMNS}, sort_name FROM people WHERE {} ORDER BY sort_name, id LIMIT ?",
        clauses.join(" AND ")
    );
    let rows = shared.ctx.db().query(&sql, &values).await?;
    Ok(Json(page_of(&rows, limit, PersonView::from_row, |last| {
        Ok(vec![Value::Text(last.get("sort_name")?), Value::Text(last.get("id")?)])
    })?))
}

/// A person with their first credits.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct PersonDetail {
    #[serde(flatten)]
    pub person: PersonView,
    /// The first credits, newest title first (the rest: `/people/{id}/credits`).
    pub credits: Vec<CreditView>,
    pub credits_next_cursor: Option<String>,
}

/// One person, with their filmography's first page.
#[utoipa::path(get, path = "/people/{id}", params(("id" = String, Path)), responses(
    (status = 200, body = PersonDetail),
    (status = 404, description = "no such person", body = ApiError),
))]
async fn get_person(
    State(shared): State<Shared_>,
    Path(id): Path<String>,
) -> Result<Json<PersonDetail>, ApiError> {
    check_id(&id, "person")?;
    let db = shared.ctx.db();
    let person = views::person(db, &id).await?.ok_or_else(|| no_person(&id))?;
    let credits = credits_page(db, &id, None, 50).await?;
    Ok(Json(PersonDetail { person, credits: credits.items, credits_next_cursor: credits.next_cursor }))
}

async fn credits_page(
    db: &impl Sql,
    person: &str,
    cursor: Option<&str>,
    limit: usize,
) -> Result<Page<CreditView>, ApiError> {
    let mut values = vec![Value::Text(person.to_owned())];
    let mut after = String::new();
    if let Some(cursor) = cursor {
        let parts = decode_cursor(cursor, "it")?;
        after = " AND (COALESCE(titles.sort_year, 0) < ? OR (COALESCE(titles.sort_year, 0) = ? AND credits.id > ?))".into();
        values.extend([parts[0].clone(), parts[0].clone(), parts[1].clone()]);
    }
    values.push(Value::Int(limit as i64 + 1));
    let sql = format!(
        "{CREDIT_SELECT} WHERE credits.person_id = ?{after} ORDER BY COALESCE(titles.sort_year, 0) DESC, credits.id LIMIT ?"
    );
    let sql = sql.replace(
        "SELECT credits.id AS id,",
        "SELECT COALESCE(titles.sort_year, 0) AS year_key, credits.id AS id,",
    );
    let rows = db.query(&sql, &values).await?;
    Ok(page_of(&rows, limit, CreditView::from_row, |last| {
        Ok(vec![Value::Int(last.get("year_key")?), Value::Text(last.get("id")?)])
    })?)
}

/// A person's credits, newest title first.
#[utoipa::path(get, path = "/people/{id}/credits", params(("id" = String, Path), PageQuery), responses(
    (status = 200, body = Page<CreditView>),
    (status = 404, description = "no such person", body = ApiError),
))]
async fn person_credits(
    State(shared): State<Shared_>,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Json<Page<CreditView>>, ApiError> {
    check_id(&id, "person")?;
    let db = shared.ctx.db();
    views::person(db, &id).await?.ok_or_else(|| no_person(&id))?;
    Ok(Json(credits_page(db, &id, q.cursor.as_deref(), limit(q.limit)?).await?))
}

/// A new person.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonInput {
    pub name: String,
    /// `nm…`: the person becomes that IMDb person (its id), so an import updates them.
    pub imdb_id: Option<String>,
    pub birth_year: Option<i64>,
    pub death_year: Option<i64>,
    #[serde(default)]
    pub professions: Vec<String>,
    pub bio: Option<String>,
}

fn some<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Changes to a person: a field left out stays, `null` clears it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonPatch {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<i64>)]
    pub birth_year: Option<Option<i64>>,
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<i64>)]
    pub death_year: Option<Option<i64>>,
    pub professions: Option<Vec<String>>,
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<String>)]
    pub bio: Option<Option<String>>,
}

fn check_person(p: &PersonInput) -> Result<(), ApiError> {
    let name = p.name.trim();
    if name.is_empty() || name.chars().count() > 1000 {
        return Err(ApiError::bad_request("name must be 1-1000 characters"));
    }
    bounded(&p.bio, "bio", 20_000)?;
    for (year, what) in [(p.birth_year, "birth_year"), (p.death_year, "death_year")] {
        if year.is_some_and(|y| !(0..=2200).contains(&y)) {
            return Err(ApiError::bad_request(format!("{what} must be 0 to 2200")));
        }
    }
    if let (Some(birth), Some(death)) = (p.birth_year, p.death_year) {
        if death < birth {
            return Err(ApiError::bad_request(format!("death_year {death} is before birth_year {birth}")));
        }
    }
    if p.professions.len() > 16
        || p.professions.iter().any(|x| x.is_empty() || x.len() > 40 || x.contains(','))
    {
        return Err(ApiError::bad_request(
            "professions must be at most 16 names of 1-40 characters without commas",
        ));
    }
    Ok(())
}

/// Creates a person (admin, `catalog:write`).
#[utoipa::path(operation_id = "create_people", post, path = "/people", request_body = PersonInput, responses(
    (status = 201, body = PersonView),
    (status = 400, description = "a field is not valid", body = ApiError),
    (status = 409, description = "the IMDb id is taken, or an import is running", body = ApiError),
))]
async fn create(
    State(shared): State<Shared_>,
    principal: Principal,
    Json(input): Json<PersonInput>,
) -> Result<(StatusCode, Json<PersonView>), ApiError> {
    require_write(&principal)?;
    check_person(&input)?;
    let id = match &input.imdb_id {
        Some(imdb) => {
            crate::imdb::datasets::parse_id(imdb, "nm").map_err(ApiError::bad_request)?;
            super::refuse_while_importing(&shared, "create a person with an IMDb id")?;
            imdb.clone()
        }
        None => uuid::Uuid::now_v7().to_string(),
    };
    let now = now_ms();
    let db = shared.ctx.db();
    let inserted = db
        .execute(
            "INSERT INTO people (id, imdb_id, name, sort_name, birth_year, death_year, professions, known_for, bio, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, '', ?, ?, ?)",
            params![
                &id,
                input.imdb_id.clone(),
                input.name.trim(),
                sort_key(&input.name),
                input.birth_year,
                input.death_year,
                input.professions.join(","),
                input.bio.clone(),
                now,
                now
            ],
        )
        .await;
    match inserted {
        Err(StoreError::Conflict(_)) => {
            return Err(ApiError::conflict(format!("the person {id} exists already")))
        }
        other => other?,
    };
    super::reindex(&shared, &[], std::slice::from_ref(&id)).await;
    Ok((StatusCode::CREATED, Json(views::person(db, &id).await?.ok_or_else(|| no_person(&id))?)))
}

/// Changes a person (admin, `catalog:write`).
#[utoipa::path(patch, path = "/people/{id}", params(("id" = String, Path)), request_body = PersonPatch, responses(
    (status = 200, body = PersonView),
    (status = 400, description = "a field is not valid", body = ApiError),
    (status = 404, description = "no such person", body = ApiError),
))]
async fn patch_person(
    State(shared): State<Shared_>,
    principal: Principal,
    Path(id): Path<String>,
    Json(patch): Json<PersonPatch>,
) -> Result<Json<PersonView>, ApiError> {
    require_write(&principal)?;
    check_id(&id, "person")?;
    let db = shared.ctx.db();
    let current = views::person(db, &id).await?.ok_or_else(|| no_person(&id))?;
    let merged = PersonInput {
        name: patch.name.unwrap_or(current.name),
        imdb_id: None,
        birth_year: patch.birth_year.unwrap_or(current.birth_year),
        death_year: patch.death_year.unwrap_or(current.death_year),
        professions: patch.professions.unwrap_or(current.professions),
        bio: patch.bio.unwrap_or(current.bio),
    };
    check_person(&merged)?;
    db.execute(
        "UPDATE people SET name = ?, sort_name = ?, birth_year = ?, death_year = ?, professions = ?, bio = ?, updated_at = ? WHERE id = ?",
        params![
            merged.name.trim(),
            sort_key(&merged.name),
            merged.birth_year,
            merged.death_year,
            merged.professions.join(","),
            merged.bio,
            now_ms(),
            &id
        ],
    )
    .await?;
    super::reindex(&shared, &[], std::slice::from_ref(&id)).await;
    Ok(Json(views::person(db, &id).await?.ok_or_else(|| no_person(&id))?))
}

/// Deletes a person with their credits and photo (admin, `catalog:write`).
#[utoipa::path(delete, path = "/people/{id}", params(("id" = String, Path)), responses(
    (status = 204, description = "deleted"),
    (status = 404, description = "no such person", body = ApiError),
    (status = 409, description = "an imported person while an import runs", body = ApiError),
))]
async fn delete_person(
    State(shared): State<Shared_>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    require_write(&principal)?;
    check_id(&id, "person")?;
    if crate::imdb::datasets::parse_id(&id, "nm").is_ok() {
        super::refuse_while_importing(&shared, "delete an imported person")?;
    }
    let db = shared.ctx.db();
    let person = views::person(db, &id).await?.ok_or_else(|| no_person(&id))?;
    db.transaction(|tx| {
        let id = id.clone();
        async move {
            tx.execute("DELETE FROM credits WHERE person_id = ?", params![&id]).await?;
            tx.execute("DELETE FROM people WHERE id = ?", params![&id]).await?;
            Ok::<_, StoreError>(())
        }
    })
    .await?;
    if person.photo_url.is_some() {
        for ext in ["jpg", "png", "thumb.jpg"] {
            let _ = shared.ctx.objects().delete(&format!("photos/{id}.{ext}")).await;
        }
    }
    if let Err(error) = shared.index.delete(id.clone()).await {
        tracing::error!(plugin = crate::NAME, %error, "cannot remove a person from the search index");
    }
    super::reindex(&shared, &[], &[]).await;
    Ok(StatusCode::NO_CONTENT)
}
