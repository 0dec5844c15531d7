//! The HTTP API: `app(state)` is the whole router, so tests can call it
//! without a port. Every route but the web UI's is added with its OpenAPI
//! description (`routes!` on handlers with `#[utoipa::path]`, or
//! `streams::routes` for the edge), so the document served at
//! `/api/v1/openapi.json` is made from the same code as the router.

mod assets;
pub(crate) mod authz;
mod captions;
mod direct;
mod document;
mod refusal;
mod streams;
mod tus;
mod upload;

use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderName, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json, Router};
use cdlc_plugin_api::{Health, Principal};
use serde::Serialize;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use crate::error::ApiError;
pub use crate::state::SharedState;
/// The one error body `{"error":{"code","message"}}`, as `body = ErrorBody`
/// in the responses of `#[utoipa::path]`.
use cdlc_plugin_api::ApiError as ErrorBody;

/// The whole HTTP surface of `cdlc serve`: the API (assets, uploads, the
/// accounts routes at `/api/v1/accounts`, every started plugin at
/// `/api/v1/{name}`) behind the accounts middleware, which puts the
/// `Principal` on each request; the edge (`/streams`, `/metrics`) and the web
/// UI beside it; one CORS layer and the access log around everything.
pub fn app(state: SharedState) -> Router {
    let (routes, _) = routes(state);
    // CorsLayer takes every OPTIONS for a preflight; tus's own OPTIONS (no
    // Access-Control-Request-Method) must reach its handler.
    let with_cors = routes.clone().layer(cors());
    let steer = tower::service_fn(move |request: Request| {
        let preflight_or_other = request.method() != Method::OPTIONS
            || request.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
        let target = if preflight_or_other { with_cors.clone() } else { routes.clone() };
        async move { tower::ServiceExt::oneshot(target, request).await }
    });
    Router::new()
        .fallback_service(steer)
        .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
        .layer(access_log())
        .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), MakeRequestUuid))
}

/// Every route, before CORS and the access log, and the OpenAPI document
/// of all of them but the web UI's, which it serves at
/// `/api/v1/openapi.json` (serialized once, here).
fn routes(state: SharedState) -> (Router, utoipa::openapi::OpenApi) {
    let (documented, document) = documented(&state).split_for_parts();
    let document = document::finish(document);
    let json = serde_json::to_vec(&document).unwrap_or_default();
    let routes = documented.layer(Extension(Document(bytes::Bytes::from(json)))).merge(crate::web::router());
    (routes, document)
}

/// The routes the OpenAPI document describes.
fn documented(state: &SharedState) -> OpenApiRouter {
    let body_limit = state.config.max_upload_bytes.saturating_add(1 << 20).min(usize::MAX as u64) as usize;
    let mut plugins = OpenApiRouter::from(state.plugins.router());
    *plugins.get_openapi_mut() = state.plugins.openapi();
    let api = OpenApiRouter::new()
        .routes(routes!(ready))
        .routes(routes!(openapi))
        .routes(routes!(assets::list, assets::upload))
        .routes(routes!(assets::get, assets::delete))
        .routes(routes!(assets::events))
        .routes(routes!(captions::list, captions::add))
        .routes(routes!(captions::remove))
        .routes(routes!(tus::create, tus::options))
        .routes(routes!(tus::head, tus::patch, tus::terminate))
        .routes(routes!(direct::create))
        .routes(routes!(direct::abort))
        .routes(routes!(direct::complete))
        .routes(routes!(purge))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state.clone())
        .nest("/api/v1/accounts", cdlc_accounts::http::router(state.accounts.clone()))
        .merge(plugins)
        .layer(axum::middleware::from_fn_with_state(
            state.accounts.clone(),
            cdlc_accounts::http::authenticate,
        ))
        // Outside authentication, so a refused upload's body is drained too.
        .layer(axum::middleware::from_fn(refusal::drain_refused));
    // Stream objects are authorized by signed URLs, not by sessions: a
    // session cookie would otherwise cost a store read per segment.
    OpenApiRouter::new().routes(routes!(healthz)).merge(streams::routes(&state.edge)).merge(api)
}

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Headers browsers may send across origins.
const CORS_ALLOW_HEADERS: [&str; 11] = [
    "range",
    "if-none-match",
    "if-modified-since",
    "authorization",
    "content-type",
    "tus-resumable",
    "upload-length",
    "upload-offset",
    "upload-metadata",
    "x-csrf-token",
    "x-request-id",
];
/// Headers browsers may read across origins: the edge's (`cdlc-cache`) and the API's.
const CORS_EXPOSE_HEADERS: [&str; 12] = [
    "content-range",
    "content-length",
    "etag",
    "accept-ranges",
    "cdlc-cache",
    "location",
    "upload-offset",
    "upload-length",
    "tus-resumable",
    "cdlc-asset-id",
    "retry-after",
    "x-request-id",
];

/// The one CORS layer, for the API and the edge alike: preflights are
/// answered here; other requests (tus's own OPTIONS among them) reach their
/// handler and gain the headers, replacing any the edge set.
fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::any())
        .allow_methods([
            Method::GET,
            Method::HEAD,
            Method::OPTIONS,
            Method::POST,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers(CORS_ALLOW_HEADERS.map(HeaderName::from_static))
        .expose_headers(CORS_EXPOSE_HEADERS.map(HeaderName::from_static))
        .max_age(Duration::from_secs(86_400))
}

/// The access log: one `request` span per request with fixed field names
/// (`request_id`, `method`, `path`), and one event at its end with
/// `status` and `latency_ms`.
type AccessLog = TraceLayer<
    tower_http::classify::SharedClassifier<tower_http::classify::ServerErrorsAsFailures>,
    fn(&Request) -> tracing::Span,
    (),
    fn(&Response, Duration, &tracing::Span),
>;

fn access_log() -> AccessLog {
    fn span(request: &Request) -> tracing::Span {
        let request_id = request.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("");
        tracing::info_span!("request", request_id, method = %request.method(), path = request.uri().path())
    }
    fn done(response: &Response, latency: Duration, _span: &tracing::Span) {
        tracing::info!(
            status = response.status().as_u16(),
            latency_ms = latency.as_millis() as u64,
            "served"
        );
    }
    TraceLayer::new_for_http()
        .make_span_with(span as fn(&Request) -> tracing::Span)
        .on_request(())
        .on_response(done as fn(&Response, Duration, &tracing::Span))
}

/// Forget what the edge cache holds of one asset, or everything.
///
/// Needs role admin and scope `edge:purge`.
#[utoipa::path(post, path = "/api/v1/edge/purge", tag = "edge", request_body = cdlc_edge::PurgeRequest,
    security(("bearer" = ["admin", "edge:purge"]), ("session_cookie" = ["admin"], "csrf" = [])),
    responses(
        (status = 200, description = "Purged: `{\"purged\": \"all\"}` or `{\"purged\": {\"asset\": ID}}`.",
            body = Object, example = json!({"purged": "all"})),
        (status = 400, description = "The body is neither `{\"asset\": ID}` nor `{\"all\": true}`.", body = ErrorBody),
        (status = 401, description = "Not signed in.", body = ErrorBody),
        (status = 403, description = "Not an admin, or a key without `edge:purge`.", body = ErrorBody),
    ))]
async fn purge(principal: Principal, State(state): State<SharedState>, body: axum::body::Bytes) -> Response {
    if let Err(refused) = authz::purger(&principal) {
        return refused.into_response();
    }
    match state.edge.purge_request(&body) {
        Ok(answer) => Json(answer).into_response(),
        Err(error) => error.into_response(),
    }
}

/// The OpenAPI document, serialized once at start.
#[derive(Clone)]
struct Document(bytes::Bytes);

/// This document: every route of the API, the accounts and the started
/// plugins, and the edge's paths (OpenAPI 3.1).
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta", responses(
    (status = 200, description = "The OpenAPI document.", content_type = "application/json", body = Object),
))]
async fn openapi(Extension(Document(json)): Extension<Document>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], json)
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "meta", responses(
    (status = 200, description = "Alive.", content_type = "text/plain", body = String, example = "ok"),
))]
async fn healthz() -> &'static str {
    "ok"
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
enum ReadyStatus {
    Ready,
    /// A started plugin is down.
    Degraded,
}

#[derive(Serialize, ToSchema)]
struct Readiness {
    status: ReadyStatus,
    /// Each started plugin's health, by name.
    plugins: std::collections::BTreeMap<&'static str, Health>,
}

/// Readiness: the metadata store answers and no started plugin is down.
///
/// Each plugin's health is listed.
#[utoipa::path(get, path = "/readyz", tag = "meta", responses(
    (status = 200, description = "Ready.", body = Readiness),
    (status = 500, description = "The metadata store failed.", body = ErrorBody),
    (status = 503, description = "A plugin is down.", body = Readiness),
))]
async fn ready(State(state): State<SharedState>) -> Result<Response, ApiError> {
    state.metadata.list_assets(None, 1, None).await?;
    let plugins: std::collections::BTreeMap<_, _> = state.plugins.health().await.into_iter().collect();
    let down = plugins.values().any(|health| matches!(health, Health::Down(_)));
    let body = Readiness { status: if down { ReadyStatus::Degraded } else { ReadyStatus::Ready }, plugins };
    let status = if down { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::OK };
    Ok((status, Json(body)).into_response())
}

#[cfg(test)]
mod tests {
    /// The whole router in process (`oneshot`, no port): real state on a
    /// temporary data directory.
    mod in_process {
        use std::sync::Arc;

        use axum::body::Body;
        use axum::http::{Request, StatusCode};
        use tower::ServiceExt;

        use crate::config::Config;
        use crate::state::AppState;

        const ROOT: &str = "in-process-root-token-0123456789";

        async fn state(dir: &std::path::Path, plugins: &str) -> crate::state::SharedState {
            let config = Config {
                data_dir: dir.to_owned(),
                admin_token: Some(ROOT.into()),
                plugins: toml::from_str(plugins).expect("plugins table"),
                ..Config::default()
            };
            Arc::new(AppState::open(config, None).await.expect("state"))
        }

        async fn app(dir: &std::path::Path) -> axum::Router {
            super::super::app(state(dir, "").await)
        }

        async fn send(
            app: &axum::Router,
            request: Request<Body>,
        ) -> (StatusCode, axum::http::HeaderMap, String) {
            let response = app.clone().oneshot(request).await.expect("infallible");
            let (status, headers) = (response.status(), response.headers().clone());
            let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.expect("body");
            (status, headers, String::from_utf8_lossy(&body).into_owned())
        }

        #[tokio::test]
        async fn authorization_cors_and_request_ids() {
            let dir = tempfile::tempdir().expect("tmp");
            let app = app(dir.path()).await;

            let get = |uri: &str| Request::get(uri).body(Body::empty()).expect("request");
            let (status, headers, body) = send(&app, get("/readyz")).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            assert!(headers.contains_key("x-request-id"), "every answer has a request id");

            // Writes name what they need.
            let purge = |auth: Option<&str>| {
                let mut request =
                    Request::post("/api/v1/edge/purge").header("content-type", "application/json");
                if let Some(auth) = auth {
                    request = request.header("authorization", format!("Bearer {auth}"));
                }
                request.body(Body::from(r#"{"all":true}"#)).expect("request")
            };
            let (status, _, body) = send(&app, purge(None)).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
            assert!(body.contains(r#""code":"unauthorized""#), "{body}");
            let (status, _, body) = send(&app, purge(Some(ROOT))).await;
            assert_eq!((status, body.as_str()), (StatusCode::OK, r#"{"purged":"all"}"#));
            let (status, _, body) = send(&app, purge(Some("cdlc_k_nope_nope"))).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

            // One CORS layer: the edge's cdlc-cache stays exposed, preflights allow if-modified-since.
            let request = Request::get("/streams/a1/master.m3u8").header("origin", "http://player.test");
            let (_, headers, _) = send(&app, request.body(Body::empty()).expect("request")).await;
            let exposed = headers["access-control-expose-headers"].to_str().expect("ascii");
            assert!(exposed.contains("cdlc-cache") && exposed.contains("content-range"), "{exposed}");
            let preflight = Request::options("/streams/a1/master.m3u8")
                .header("origin", "http://player.test")
                .header("access-control-request-method", "GET")
                .header("access-control-request-headers", "if-modified-since, range")
                .body(Body::empty())
                .expect("request");
            let (status, headers, _) = send(&app, preflight).await;
            assert!(status.is_success(), "{status}");
            let allowed = headers["access-control-allow-headers"].to_str().expect("ascii");
            assert!(allowed.contains("if-modified-since") && allowed.contains("range"), "{allowed}");

            // tus's own OPTIONS still reaches its handler.
            let (status, headers, _) =
                send(&app, Request::options("/api/v1/uploads").body(Body::empty()).expect("request")).await;
            assert_eq!(status, StatusCode::NO_CONTENT);
            assert_eq!(headers["tus-extension"], "creation,termination");

            // The accounts routes are mounted; a viewer's upload is 403 with a sentence.
            let sign_up = Request::post("/api/v1/accounts/sign-up")
                .header("content-type", "application/json")
                .body(Body::from(
                    r#"{"handle":"ada","email":"ada@example.com","password":"a long passphrase"}"#,
                ))
                .expect("request");
            assert_eq!(send(&app, sign_up).await.0, StatusCode::CREATED);
            let sign_in = Request::post("/api/v1/accounts/sign-in")
                .header("content-type", "application/json")
                .body(Body::from(r#"{"login":"ada","password":"a long passphrase","token":true}"#))
                .expect("request");
            let (status, _, body) = send(&app, sign_in).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            let token = serde_json::from_str::<serde_json::Value>(&body).expect("json")["token"]
                .as_str()
                .expect("token")
                .to_owned();
            let upload = Request::post("/api/v1/uploads")
                .header("authorization", format!("Bearer {token}"))
                .header("tus-resumable", "1.0.0")
                .header("upload-length", "100")
                .body(Body::empty())
                .expect("request");
            let (status, _, body) = send(&app, upload).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
            assert!(body.contains("needs the uploader role"), "{body}");
        }

        /// The route templates a router answers, as axum holds them (its
        /// `Debug` lists them; nested routers are flattened into it).
        fn templates(router: &axum::Router) -> std::collections::BTreeSet<String> {
            let debug = format!("{router:?}");
            let found: std::collections::BTreeSet<String> = debug
                .split("RouteId(")
                .skip(1)
                .filter_map(|rest| rest.split_once(": \"").map(|(_, path)| path))
                .filter_map(|path| path.split('"').next())
                .map(str::to_owned)
                .collect();
            assert!(
                found.contains("/healthz"),
                "axum's Debug of a router no longer lists its paths: {debug:.400}"
            );
            found
        }

        /// A concrete path for a template: each `{param}` (or `{*rest}`) a word.
        fn concrete(template: &str) -> String {
            template
                .split('/')
                .map(|part| match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                    Some(name) if name.starts_with('*') => "master.m3u8".to_owned(),
                    Some(_) => "a1".to_owned(),
                    None => part.to_owned(),
                })
                .collect::<Vec<_>>()
                .join("/")
        }

        const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

        /// Whether the router has a route for `method path` (a handler's own
        /// 404 or 405 is JSON, even to HEAD; no route is axum's bare 405 or 404).
        async fn answers(router: &axum::Router, method: &str, path: &str) -> bool {
            let request = Request::builder().method(method).uri(path).body(Body::empty()).expect("request");
            let response = router.clone().oneshot(request).await.expect("infallible");
            let status = response.status();
            let typed = response.headers().contains_key("content-type");
            // A handler's own 404 or 405 (the edge's POST of an object that
            // is not a licence) is a JSON error; the router's are bare.
            !matches!(status, StatusCode::METHOD_NOT_ALLOWED | StatusCode::NOT_FOUND) || typed
        }

        fn documented_methods(document: &serde_json::Value) -> std::collections::BTreeSet<(String, String)> {
            let mut pairs = std::collections::BTreeSet::new();
            for (path, item) in document["paths"].as_object().expect("paths") {
                for method in item.as_object().expect("path item").keys() {
                    if METHODS.contains(&method.to_uppercase().as_str()) {
                        pairs.insert((method.to_uppercase(), path.clone()));
                    }
                }
            }
            pairs
        }

        /// The document served at /api/v1/openapi.json and the routes it
        /// is made from, with the sample plugins started.
        async fn served_document(dir: &std::path::Path) -> (axum::Router, serde_json::Value) {
            let state = state(dir, "[guestbook]\nenabled = true\n[tally]\nenabled = true\n").await;
            let (routes, _) = super::super::routes(state.clone());
            let app = super::super::app(state);
            let get = Request::get("/api/v1/openapi.json").body(Body::empty()).expect("request");
            let (status, headers, body) = send(&app, get).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            assert_eq!(headers["content-type"], "application/json");
            (routes, serde_json::from_str(&body).expect("the document is JSON"))
        }

        /// Every route the router answers (but the web UI's pages) is in the
        /// document with the methods it answers, and every documented
        /// operation is answered.
        #[tokio::test]
        async fn the_document_describes_every_route_and_nothing_else() {
            let dir = tempfile::tempdir().expect("tmp");
            let (routes, document) = served_document(dir.path()).await;
            let documented = documented_methods(&document);
            let web =
                templates(&crate::web::router::<()>().route("/healthz", axum::routing::get(|| async {})));
            let routed: Vec<String> =
                templates(&routes).into_iter().filter(|t| t == "/healthz" || !web.contains(t)).collect();

            // The template that answers a documented path: itself, or the
            // catch-all (`/streams/{id}/{*path}`) whose prefix it has.
            let template_of = |path: &str| -> String {
                if routed.iter().any(|t| t == path) {
                    return path.to_owned();
                }
                routed
                    .iter()
                    .filter_map(|t| t.split_once("{*").map(|(prefix, _)| (t, prefix)))
                    .find(|(_, prefix)| path.starts_with(prefix))
                    .map(|(t, _)| t.clone())
                    .unwrap_or_else(|| panic!("the document has {path}, which no route answers"))
            };
            let mut expected = std::collections::BTreeSet::new();
            for (method, path) in &documented {
                let template = template_of(path);
                expected.insert((method.clone(), template.clone()));
                if method == "GET" {
                    expected.insert(("HEAD".to_owned(), template)); // axum answers HEAD for GET
                }
                assert!(
                    answers(&routes, method, &concrete(path)).await,
                    "{method} {path} is documented, not routed"
                );
            }
            let mut answered = std::collections::BTreeSet::new();
            for template in &routed {
                for method in METHODS {
                    if answers(&routes, method, &concrete(template)).await {
                        answered.insert((method.to_owned(), template.clone()));
                    }
                }
            }
            let undocumented: Vec<_> = answered.difference(&expected).collect();
            let unrouted: Vec<_> = expected.difference(&answered).collect();
            assert!(
                undocumented.is_empty() && unrouted.is_empty(),
                "routed, not documented: {undocumented:?}; documented, not routed: {unrouted:?}"
            );
            for must in [
                "/api/v1/assets",
                "/api/v1/uploads/{id}",
                "/api/v1/accounts/sign-in",
                "/api/v1/accounts/me/api-keys/{id}",
                "/api/v1/accounts/users/{id}/password",
                "/api/v1/guestbook/entries",
                "/api/v1/tally",
                "/streams/{id}/master.m3u8",
                "/streams/{id}/manifest.mpd",
                "/streams/{id}/{rendition}/{segment}",
                "/metrics",
                "/api/v1/openapi.json",
            ] {
                assert!(document["paths"][must].is_object(), "{must} is not in the document");
            }
            assert_eq!(document["paths"]["/api/v1/guestbook/entries"]["post"]["tags"][0], "guestbook");
        }

        /// Resolves a local `$ref` (`#/components/schemas/X`).
        fn resolve<'a>(document: &'a serde_json::Value, reference: &str) -> Option<&'a serde_json::Value> {
            document.pointer(reference.strip_prefix('#')?)
        }

        fn walk<'a>(value: &'a serde_json::Value, found: &mut Vec<(&'a str, &'a serde_json::Value)>) {
            match value {
                serde_json::Value::Object(map) => {
                    for (key, inner) in map {
                        found.push((key.as_str(), inner));
                        walk(inner, found);
                    }
                }
                serde_json::Value::Array(items) => items.iter().for_each(|inner| walk(inner, found)),
                _ => {}
            }
        }

        /// The properties of a schema, through `$ref` and `allOf`.
        fn properties(document: &serde_json::Value, schema: &serde_json::Value) -> Vec<String> {
            if let Some(reference) = schema["$ref"].as_str() {
                return properties(document, resolve(document, reference).expect("resolves"));
            }
            let mut names: Vec<String> =
                schema["properties"].as_object().map(|p| p.keys().cloned().collect()).unwrap_or_default();
            for part in schema["allOf"].as_array().into_iter().flatten() {
                names.extend(properties(document, part));
            }
            names
        }

        fn property<'a>(
            document: &'a serde_json::Value,
            schema: &'a serde_json::Value,
            name: &str,
        ) -> Option<&'a serde_json::Value> {
            if let Some(reference) = schema["$ref"].as_str() {
                return property(document, resolve(document, reference)?, name);
            }
            if let Some(found) = schema["properties"].get(name) {
                return Some(found);
            }
            for choice in ["allOf", "oneOf", "anyOf"] {
                for part in schema[choice].as_array().into_iter().flatten() {
                    if let Some(found) = property(document, part, name) {
                        return Some(found);
                    }
                }
            }
            None
        }

        /// The document is structurally valid OpenAPI 3.1: every `$ref`
        /// resolves, every security requirement names a scheme, every path
        /// parameter is declared, every operation has a summary and
        /// responses, and every error answer (but HEAD's) is the one
        /// `Error` body. The asset shows `playback.expires`.
        #[tokio::test]
        async fn the_document_is_valid_openapi_3_1() {
            let dir = tempfile::tempdir().expect("tmp");
            let (_, document) = served_document(dir.path()).await;
            assert_eq!(document["openapi"], "3.1.0");
            assert_eq!(document["info"]["title"], "cdlc");
            assert_eq!(document["info"]["version"], env!("CARGO_PKG_VERSION"));

            let mut nodes = Vec::new();
            walk(&document, &mut nodes);
            let refs: Vec<&str> =
                nodes.iter().filter(|(k, _)| *k == "$ref").filter_map(|(_, v)| v.as_str()).collect();
            assert!(refs.len() > 50, "{} references", refs.len());
            for reference in refs {
                assert!(
                    reference.starts_with("#/components/schemas/") && resolve(&document, reference).is_some(),
                    "{reference} does not resolve"
                );
            }

            let schemes = document["components"]["securitySchemes"].as_object().expect("security schemes");
            for name in [
                super::super::document::BEARER,
                super::super::document::SESSION_COOKIE,
                super::super::document::CSRF,
            ] {
                assert!(schemes.contains_key(name), "{name}");
            }
            let tags: Vec<&str> = document["tags"]
                .as_array()
                .expect("tags")
                .iter()
                .filter_map(|t| t["name"].as_str())
                .collect();
            let mut operations = 0;
            let mut operation_ids = std::collections::BTreeSet::new();
            for (path, item) in document["paths"].as_object().expect("paths") {
                assert!(path.starts_with('/'), "{path}");
                let in_path: std::collections::BTreeSet<&str> = path
                    .split('{')
                    .skip(1)
                    .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
                    .collect();
                for (method, operation) in item.as_object().expect("path item") {
                    let at = format!("{method} {path}");
                    operations += 1;
                    let id = operation["operationId"].as_str().unwrap_or_else(|| panic!("{at} has no id"));
                    assert!(operation_ids.insert(id), "{at}: the operation id {id} is taken");
                    assert!(
                        operation["summary"].as_str().is_some_and(|s| !s.is_empty()),
                        "{at} has no summary"
                    );
                    let operation_tags =
                        operation["tags"].as_array().unwrap_or_else(|| panic!("{at} has no tag"));
                    for tag in operation_tags {
                        assert!(tags.contains(&tag.as_str().expect("tag")), "{at}: tag {tag} is not listed");
                    }
                    let declared: std::collections::BTreeSet<&str> = operation["parameters"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter(|p| p["in"] == "path")
                        .map(|p| {
                            assert_eq!(p["required"], true, "{at}: path parameters are required");
                            p["name"].as_str().expect("name")
                        })
                        .collect();
                    assert_eq!(declared, in_path, "{at}: the path's parameters and the declared ones differ");
                    for requirement in operation["security"].as_array().into_iter().flatten() {
                        for scheme in requirement.as_object().expect("requirement").keys() {
                            assert!(schemes.contains_key(scheme), "{at} names the unknown scheme {scheme}");
                        }
                    }
                    let responses = operation["responses"].as_object().expect("responses");
                    assert!(!responses.is_empty(), "{at} has no responses");
                    for (status, response) in responses {
                        let code: u16 = status.parse().unwrap_or_else(|_| panic!("{at}: status {status}"));
                        assert!((100..600).contains(&code), "{at}: status {status}");
                        assert!(response["description"].is_string(), "{at} {status}: no description");
                        if code >= 400 && method != "head" {
                            let schema = &response["content"]["application/json"]["schema"];
                            let is_error = schema["$ref"] == "#/components/schemas/Error"
                                || (path == "/readyz" && code == 503);
                            assert!(is_error, "{at} {status} answers no Error body: {response}");
                        }
                    }
                }
            }
            assert!(operations > 40, "{operations} operations");
            let error = &document["components"]["schemas"]["Error"];
            assert_eq!(properties(&document, error), ["error"]);
            let detail = property(&document, error, "error").expect("error.error");
            let mut names = properties(&document, detail);
            names.sort();
            assert_eq!(names, ["code", "message"]);

            // The asset view, generated from the type the API answers.
            let asset = &document["paths"]["/api/v1/assets/{id}"]["get"]["responses"]["200"]["content"]
                ["application/json"]["schema"];
            for field in ["id", "status", "progress", "renditions", "playback", "poster", "storyboard"] {
                assert!(property(&document, asset, field).is_some(), "the asset has no {field}");
            }
            let playback = property(&document, asset, "playback").expect("playback");
            for field in ["hls", "dash", "expires"] {
                assert!(
                    property(&document, playback, field).is_some(),
                    "playback has no {field}: {playback}"
                );
            }
            let user = &document["components"]["schemas"]["User"];
            assert!(property(&document, user, "role").is_some(), "{user}");
        }
    }
}
