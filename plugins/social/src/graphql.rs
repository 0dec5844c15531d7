//! GraphQL over the social graph and catalog reads, at
//! `POST /api/v1/social/graphql` (async-graphql): users → lists → entries →
//! titles, diaries, favourites, follows and the feed.
//!
//! - The same authorization as REST: every object is built from what
//!   `access` let the reader see (a blocked user is `null`, a private list
//!   is absent), with the same functions.
//! - No N+1: titles, relations (blocks and follows of the reader), users'
//!   lists, lists' entries and users' diaries go through DataLoaders, so a
//!   level of the query costs one statement per kind of thing, not one per
//!   item; the feed page itself is three statements and one catalog read.
//! - Limits: depth (`graphql_max_depth`) and complexity
//!   (`graphql_max_complexity`, a list field costs `first` × its children);
//!   a query beyond either is refused with a 400 sentence.
//! - The answer's `extensions.sql_statements` counts the statements the
//!   store ran while it was answered (with concurrent requests it counts
//!   theirs too), and `extensions.catalog_reads` the catalog calls.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{Context, EmptyMutation, EmptySubscription, Object, Schema, SimpleObject, ID};
use cdlc_plugin_api::axum;
use cdlc_plugin_api::axum::extract::State;
use cdlc_plugin_api::store::Value;
use cdlc_plugin_api::utoipa::{self, ToSchema};
use cdlc_plugin_api::utoipa_axum::router::OpenApiRouter;
use cdlc_plugin_api::{params, routes, ApiError, Json, Principal, Sql};
use serde::Deserialize;

use crate::access::{self, Member, Relation};
use crate::api::{self, DiaryView, EntryRow, ListView};
use crate::feed::{self, marks, FeedItem, Verb};
use crate::titles::{self, TitleSummary};
use crate::App;

pub(crate) type SocialSchema = Schema<QueryRoot, EmptyMutation, EmptySubscription>;

pub(crate) fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new().routes(routes!(graphql))
}

/// How long a DataLoader gathers keys before it reads: long enough that
/// the items of one level (resolved together) land in one batch on a busy
/// machine, short against a request.
const BATCH_WAIT: std::time::Duration = std::time::Duration::from_millis(5);

/// The longest query text accepted.
const MAX_QUERY: usize = 20_000;
/// The most items a nested list field returns.
const MAX_FIRST: i32 = 100;
/// The most rows a batched nested read takes per parent.
const PER_PARENT: i64 = 100;

fn schema(app: &App) -> SocialSchema {
    app.graphql
        .get_or_init(|| {
            Schema::build(QueryRoot, EmptyMutation, EmptySubscription)
                .limit_depth(app.settings.graphql_max_depth)
                .limit_complexity(app.settings.graphql_max_complexity)
                .finish()
        })
        .clone()
}

/// A GraphQL request.
#[derive(Debug, Deserialize, ToSchema)]
pub struct GraphQlBody {
    pub query: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub variables: Option<serde_json::Value>,
    #[serde(default, rename = "operationName")]
    pub operation_name: Option<String>,
}

/// GraphQL over the social graph and catalog reads (users, lists, entries,
/// titles, diaries, follows, the feed); the same authorization as REST.
#[utoipa::path(post, path = "/graphql", request_body = GraphQlBody, responses(
    (status = 200, description = "a GraphQL response: data, errors, extensions", body = Object),
    (status = 400, description = "the query is not valid, too deep or too complex", body = ApiError),
))]
async fn graphql(
    State(app): State<App>,
    principal: Principal,
    Json(body): Json<GraphQlBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if body.query.len() > MAX_QUERY {
        return Err(ApiError::bad_request(format!("the query must be at most {MAX_QUERY} bytes")));
    }
    let reader = api::reader(&app, &principal).await?;
    let statements = app.db().statements();
    let reads = titles::catalog_reads();
    let mut request = async_graphql::Request::new(body.query);
    if let Some(name) = body.operation_name {
        request = request.operation_name(name);
    }
    if let Some(variables) = body.variables {
        request = request.variables(async_graphql::Variables::from_json(variables));
    }
    let spawn = |f| {
        tokio::spawn(f);
    };
    let request = request
        .data(Reader(reader))
        .data(app.clone())
        .data(DataLoader::new(TitleLoader(app.clone()), spawn).delay(BATCH_WAIT))
        .data(
            DataLoader::new(RelationLoader(app.clone(), request_reader(&principal)), spawn).delay(BATCH_WAIT),
        )
        .data(DataLoader::new(ListsLoader(app.clone()), spawn).delay(BATCH_WAIT))
        .data(DataLoader::new(EntriesLoader(app.clone()), spawn).delay(BATCH_WAIT))
        .data(DataLoader::new(DiaryLoader(app.clone()), spawn).delay(BATCH_WAIT));
    let response = schema(&app).execute(request).await;
    if response.data == async_graphql::Value::Null && !response.errors.is_empty() {
        let why: Vec<String> = response.errors.iter().map(|e| e.message.clone()).collect();
        return Err(ApiError::bad_request(format!("the GraphQL query was refused: {}", why.join("; "))));
    }
    let mut json = serde_json::to_value(&response).map_err(ApiError::internal)?;
    json["extensions"] = serde_json::json!({
        "sql_statements": app.db().statements() - statements,
        "catalog_reads": titles::catalog_reads() - reads,
    });
    Ok(Json(json))
}

fn request_reader(principal: &Principal) -> Option<String> {
    principal.identity().map(|who| who.user_id.clone())
}

/// The signed-in reader of the request, if any.
struct Reader(Option<String>);

type GqlResult<T> = async_graphql::Result<T>;

fn gql(error: ApiError) -> async_graphql::Error {
    async_graphql::Error::new(error.message().to_owned())
}

fn first(n: Option<i32>) -> GqlResult<usize> {
    match n.unwrap_or(20) {
        n @ 1..=MAX_FIRST => Ok(n as usize),
        n => Err(async_graphql::Error::new(format!("first {n} must be 1 to {MAX_FIRST}"))),
    }
}

fn reader<'a>(ctx: &'a Context<'_>) -> Option<&'a str> {
    ctx.data_unchecked::<Reader>().0.as_deref()
}

fn app<'a>(ctx: &'a Context<'_>) -> &'a App {
    ctx.data_unchecked::<App>()
}

/// The root of every query.
pub struct QueryRoot;

#[Object]
impl QueryRoot {
    /// The signed-in user.
    async fn me(&self, ctx: &Context<'_>) -> Option<User> {
        let app = app(ctx);
        let id = reader(ctx)?;
        let sql = "SELECT user_id, handle FROM members WHERE user_id = ?";
        app.db().query_opt::<Member>(sql, params![id]).await.ok().flatten().map(User)
    }

    /// A member by handle or user id (`null` when either blocked the other).
    async fn user(&self, ctx: &Context<'_>, handle: String) -> GqlResult<Option<User>> {
        match access::visible_member(app(ctx).db(), reader(ctx), &handle).await {
            Ok((member, _)) => Ok(Some(User(member))),
            Err(e) if e.status() == 404 => Ok(None),
            Err(e) => Err(gql(e)),
        }
    }

    /// A list you may see (`key` for a link-only list).
    async fn list(&self, ctx: &Context<'_>, id: ID, key: Option<String>) -> GqlResult<Option<List>> {
        match api::visible_list(app(ctx), reader(ctx), &id, key.as_deref()).await {
            Ok((list, _)) => Ok(Some(List(list))),
            Err(e) if e.status() == 404 => Ok(None),
            Err(e) => Err(gql(e)),
        }
    }

    /// A catalog title.
    async fn title(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Option<Title>> {
        crate::check_id("title", &id).map_err(gql)?;
        Ok(ctx
            .data_unchecked::<DataLoader<TitleLoader>>()
            .load_one(id.to_string())
            .await
            .map_err(gql)?
            .map(Title))
    }

    /// Your feed, newest first.
    #[graphql(complexity = "first.unwrap_or(20).max(1) as usize * child_complexity")]
    async fn feed(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<FeedPage> {
        let Some(me) = reader(ctx) else {
            return Err(async_graphql::Error::new("sign in to read your feed"));
        };
        let page = feed::feed_page(app(ctx), me, after.as_deref(), self::first(first)?).await.map_err(gql)?;
        Ok(FeedPage { items: page.items.into_iter().map(Activity).collect(), next_cursor: page.next_cursor })
    }
}

/// A page of the feed.
#[derive(SimpleObject)]
pub struct FeedPage {
    items: Vec<Activity>,
    next_cursor: Option<String>,
}

/// A member.
pub struct User(Member);

#[Object]
impl User {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    async fn handle(&self) -> &str {
        &self.0.handle
    }

    /// Their lists you may see, newest first.
    #[graphql(complexity = "first.unwrap_or(20).max(1) as usize * child_complexity")]
    async fn lists(&self, ctx: &Context<'_>, first: Option<i32>) -> GqlResult<Vec<List>> {
        let n = self::first(first)?;
        let rel = relation(ctx, &self.0.id).await?;
        let lists =
            ctx.data_unchecked::<DataLoader<ListsLoader>>().load_one(self.0.id.clone()).await.map_err(gql)?;
        let reader = reader(ctx);
        Ok(lists
            .unwrap_or_default()
            .into_iter()
            .filter(|l| {
                rel.can_see(l.visibility, false) && l.visibility != access::Visibility::Link || rel.is_owner
            })
            .take(n)
            .map(|mut l| {
                if reader != Some(l.owner.id.as_str()) {
                    l.link_key = None;
                }
                List(l)
            })
            .collect())
    }

    /// Their diary entries you may see, newest first.
    #[graphql(complexity = "first.unwrap_or(20).max(1) as usize * child_complexity")]
    async fn diary(&self, ctx: &Context<'_>, first: Option<i32>) -> GqlResult<Vec<DiaryEntry>> {
        let n = self::first(first)?;
        let rel = relation(ctx, &self.0.id).await?;
        let entries =
            ctx.data_unchecked::<DataLoader<DiaryLoader>>().load_one(self.0.id.clone()).await.map_err(gql)?;
        Ok(entries
            .unwrap_or_default()
            .into_iter()
            .filter(|e| rel.can_see(e.visibility, false))
            .take(n)
            .map(DiaryEntry)
            .collect())
    }

    /// Their followers, newest first.
    #[graphql(complexity = "first.unwrap_or(20).max(1) as usize * child_complexity")]
    async fn followers(&self, ctx: &Context<'_>, first: Option<i32>) -> GqlResult<Vec<User>> {
        self.follows(ctx, first, true).await
    }

    /// Whom they follow, newest first.
    #[graphql(complexity = "first.unwrap_or(20).max(1) as usize * child_complexity")]
    async fn following(&self, ctx: &Context<'_>, first: Option<i32>) -> GqlResult<Vec<User>> {
        self.follows(ctx, first, false).await
    }
}

impl User {
    async fn follows(&self, ctx: &Context<'_>, first: Option<i32>, followers: bool) -> GqlResult<Vec<User>> {
        let q = api::PageQuery { limit: Some(self::first(first)?), cursor: None };
        let page = api::follow_page(app(ctx), reader(ctx), &self.0.id, followers, &q).await.map_err(gql)?;
        Ok(page.items.into_iter().map(|f| User(f.user)).collect())
    }
}

async fn relation(ctx: &Context<'_>, owner: &str) -> GqlResult<Relation> {
    Ok(ctx
        .data_unchecked::<DataLoader<RelationLoader>>()
        .load_one(owner.to_owned())
        .await
        .map_err(gql)?
        .unwrap_or(Relation::STRANGER))
}

/// A list.
pub struct List(ListView);

#[Object]
impl List {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    async fn ranked(&self) -> bool {
        self.0.ranked
    }
    async fn visibility(&self) -> &'static str {
        self.0.visibility.as_str()
    }
    async fn likes(&self) -> i64 {
        self.0.likes
    }
    async fn owner(&self) -> User {
        User(self.0.owner.clone())
    }

    /// Its entries, top first.
    #[graphql(complexity = "first.unwrap_or(20).max(1) as usize * child_complexity")]
    async fn entries(&self, ctx: &Context<'_>, first: Option<i32>) -> GqlResult<Vec<ListEntry>> {
        let n = self::first(first)?;
        let rows = ctx
            .data_unchecked::<DataLoader<EntriesLoader>>()
            .load_one(self.0.id.clone())
            .await
            .map_err(gql)?;
        Ok(rows.unwrap_or_default().into_iter().take(n).map(ListEntry).collect())
    }
}

/// An entry of a list.
pub struct ListEntry(Arc<EntryRow>);

#[Object]
impl ListEntry {
    async fn position(&self) -> i64 {
        self.0.position
    }
    async fn note(&self) -> Option<&str> {
        self.0.note.as_deref()
    }
    async fn title(&self, ctx: &Context<'_>) -> GqlResult<Option<Title>> {
        title(ctx, &self.0.title_id).await
    }
}

async fn title(ctx: &Context<'_>, id: &str) -> GqlResult<Option<Title>> {
    Ok(ctx.data_unchecked::<DataLoader<TitleLoader>>().load_one(id.to_owned()).await.map_err(gql)?.map(Title))
}

/// A diary entry.
pub struct DiaryEntry(DiaryView);

#[Object]
impl DiaryEntry {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    async fn watched_on(&self) -> &str {
        &self.0.watched_on
    }
    async fn rewatch(&self) -> bool {
        self.0.rewatch
    }
    /// Stars, 0.5–5.
    async fn rating(&self) -> Option<f64> {
        self.0.rating
    }
    async fn liked(&self) -> bool {
        self.0.liked
    }
    async fn tags(&self) -> &[String] {
        &self.0.tags
    }
    async fn review(&self) -> Option<&str> {
        self.0.review.as_deref()
    }
    async fn spoiler(&self) -> bool {
        self.0.spoiler
    }
    async fn likes(&self) -> i64 {
        self.0.likes
    }
    async fn comments(&self) -> i64 {
        self.0.comments
    }
    async fn user(&self) -> User {
        User(self.0.user.clone())
    }
    async fn title(&self, ctx: &Context<'_>) -> GqlResult<Option<Title>> {
        match &self.0.title {
            Some(t) => Ok(Some(Title(t.clone()))),
            None => title(ctx, &self.0.title_id).await,
        }
    }
}

/// An item of the feed.
pub struct Activity(FeedItem);

#[Object]
impl Activity {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// logged, rated, reviewed, listed or added_to_list.
    async fn verb(&self) -> &'static str {
        match self.0.verb {
            Verb::Logged => "logged",
            Verb::Rated => "rated",
            Verb::Reviewed => "reviewed",
            Verb::Listed => "listed",
            Verb::AddedToList => "added_to_list",
        }
    }
    async fn at(&self) -> i64 {
        self.0.at
    }
    async fn actor(&self) -> User {
        User(self.0.actor.clone())
    }
    async fn title(&self) -> Option<Title> {
        self.0.title.clone().map(Title)
    }
    async fn entry(&self) -> Option<DiaryEntry> {
        self.0.entry.clone().map(DiaryEntry)
    }
    async fn list(&self) -> Option<List> {
        self.0.list.clone().map(List)
    }
}

/// A catalog title.
pub struct Title(TitleSummary);

#[Object]
impl Title {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    async fn kind(&self) -> &str {
        &self.0.kind
    }
    async fn primary_title(&self) -> &str {
        &self.0.primary_title
    }
    async fn start_year(&self) -> Option<i64> {
        self.0.start_year
    }
    async fn runtime_minutes(&self) -> Option<i64> {
        self.0.runtime_minutes
    }
    async fn genres(&self) -> &[String] {
        &self.0.genres
    }
}

type LoadError = ApiError;

fn load_error(error: impl Into<ApiError>) -> LoadError {
    error.into()
}

/// Titles by id: one catalog read per batch.
pub struct TitleLoader(App);

impl Loader<String> for TitleLoader {
    type Value = TitleSummary;
    type Error = LoadError;

    async fn load(&self, keys: &[String]) -> Result<HashMap<String, TitleSummary>, LoadError> {
        titles::titles(&self.0.ctx, keys).await.map_err(load_error)
    }
}

/// The reader's relation to owners: two statements per batch.
pub struct RelationLoader(App, Option<String>);

impl Loader<String> for RelationLoader {
    type Value = Relation;
    type Error = LoadError;

    async fn load(&self, keys: &[String]) -> Result<HashMap<String, Relation>, LoadError> {
        let Some(me) = &self.1 else {
            return Ok(keys.iter().map(|k| (k.clone(), Relation::STRANGER)).collect());
        };
        let owners: Vec<Value> = keys.iter().map(|k| Value::Text(k.clone())).collect();
        let mut values = vec![Value::Text(me.clone())];
        values.extend(owners.iter().cloned());
        values.push(Value::Text(me.clone()));
        values.extend(owners.iter().cloned());
        let sql = format!(
            "SELECT blocker_id, blocked_id FROM blocks WHERE (blocker_id = ? AND blocked_id IN ({0})) OR (blocked_id = ? AND blocker_id IN ({0}))",
            marks(owners.len())
        );
        let db = self.0.db();
        let mut blocked = std::collections::HashSet::new();
        for row in db.query(&sql, &values).await.map_err(load_error)? {
            let (a, b): (String, String) =
                (row.get("blocker_id").map_err(load_error)?, row.get("blocked_id").map_err(load_error)?);
            blocked.insert(if &a == me { b } else { a });
        }
        let mut values = vec![Value::Text(me.clone())];
        values.extend(owners.iter().cloned());
        let sql = format!(
            "SELECT followee_id FROM follows WHERE follower_id = ? AND followee_id IN ({})",
            marks(owners.len())
        );
        let mut follows = std::collections::HashSet::new();
        for row in db.query(&sql, &values).await.map_err(load_error)? {
            follows.insert(row.get::<String>("followee_id").map_err(load_error)?);
        }
        Ok(keys
            .iter()
            .map(|k| {
                let rel = Relation {
                    is_owner: k == me,
                    blocked: k != me && blocked.contains(k),
                    follows: follows.contains(k),
                };
                (k.clone(), rel)
            })
            .collect())
    }
}

/// Users' lists, newest first (at most `PER_PARENT` each on average): one statement per batch.
pub struct ListsLoader(App);

impl Loader<String> for ListsLoader {
    type Value = Vec<ListView>;
    type Error = LoadError;

    async fn load(&self, keys: &[String]) -> Result<HashMap<String, Vec<ListView>>, LoadError> {
        let mut values: Vec<Value> = keys.iter().map(|k| Value::Text(k.clone())).collect();
        values.push(Value::Int(PER_PARENT * keys.len() as i64));
        let sql = format!(
            "{} WHERE l.owner_id IN ({}) ORDER BY l.created_at DESC, l.id DESC LIMIT ?",
            api::list_select(),
            marks(keys.len())
        );
        let rows: Vec<ListView> = self.0.db().query_as(&sql, &values).await.map_err(load_error)?;
        let mut out: HashMap<String, Vec<ListView>> = HashMap::new();
        for list in rows {
            out.entry(list.owner.id.clone()).or_default().push(list);
        }
        Ok(out)
    }
}

/// Lists' entries, top first: one statement per batch.
pub struct EntriesLoader(App);

impl Loader<String> for EntriesLoader {
    type Value = Vec<Arc<EntryRow>>;
    type Error = LoadError;

    async fn load(&self, keys: &[String]) -> Result<HashMap<String, Vec<Arc<EntryRow>>>, LoadError> {
        let mut values: Vec<Value> = keys.iter().map(|k| Value::Text(k.clone())).collect();
        values.push(Value::Int(PER_PARENT * keys.len() as i64));
        let sql = format!(
            "SELECT list_id, title_id, position, note, added_at FROM list_entries WHERE list_id IN ({}) ORDER BY list_id, position LIMIT ?",
            marks(keys.len())
        );
        let rows = self.0.db().query(&sql, &values).await.map_err(load_error)?;
        let mut out: HashMap<String, Vec<Arc<EntryRow>>> = HashMap::new();
        for row in &rows {
            let list: String = row.get("list_id").map_err(load_error)?;
            let entry = <EntryRow as cdlc_plugin_api::FromRow>::from_row(row).map_err(load_error)?;
            out.entry(list).or_default().push(Arc::new(entry));
        }
        Ok(out)
    }
}

/// Users' diaries, newest first: one statement per batch.
pub struct DiaryLoader(App);

impl Loader<String> for DiaryLoader {
    type Value = Vec<DiaryView>;
    type Error = LoadError;

    async fn load(&self, keys: &[String]) -> Result<HashMap<String, Vec<DiaryView>>, LoadError> {
        let mut values: Vec<Value> = keys.iter().map(|k| Value::Text(k.clone())).collect();
        values.push(Value::Int(PER_PARENT * keys.len() as i64));
        let sql = format!(
            "{} WHERE d.user_id IN ({}) ORDER BY d.created_at DESC, d.id DESC LIMIT ?",
            api::diary_select(),
            marks(keys.len())
        );
        let rows: Vec<DiaryView> = self.0.db().query_as(&sql, &values).await.map_err(load_error)?;
        let mut out: HashMap<String, Vec<DiaryView>> = HashMap::new();
        for entry in rows {
            out.entry(entry.user.id.clone()).or_default().push(entry);
        }
        Ok(out)
    }
}
