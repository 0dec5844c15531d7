//! The HTTP API: `app(state)` is the whole router, so tests can call it
//! without a port.

mod assets;
pub(crate) mod authz;
mod direct;
mod refusal;
mod tus;
mod upload;

use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderName, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, head, post};
use axum::{Json, Router};
use cdlc_plugin_api::{Health, Principal};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

pub use crate::error::ApiError;
pub use crate::state::SharedState;

/// The whole HTTP surface of `cdlc serve`: the API (assets, uploads, the
/// accounts routes at `/api/v1/accounts`, every started plugin at
/// `/api/v1/{name}`) behind the accounts middleware, which puts the
/// `Principal` on each request; the edge (`/streams`, `/metrics`) and the web
/// UI beside it; one CORS layer and the access log around everything.
pub fn app(state: SharedState) -> Router {
    let edge = state.edge.router().into_service::<axum::body::Body>();
    let body_limit = state.config.max_upload_bytes.saturating_add(1 << 20).min(usize::MAX as u64) as usize;
    let api = Router::new()
        .route("/readyz", get(ready))
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/assets", get(assets::list).post(assets::upload))
        .route("/api/v1/assets/{id}", get(assets::get).delete(assets::delete))
        .route("/api/v1/assets/{id}/events", get(assets::events))
        .route("/api/v1/uploads", post(tus::create).options(tus::options))
        .route("/api/v1/uploads/{id}", head(tus::head).patch(tus::patch).delete(tus::terminate))
        .route("/api/v1/direct-uploads", post(direct::create))
        .route("/api/v1/direct-uploads/{id}", delete(direct::abort))
        .route("/api/v1/direct-uploads/{id}/complete", post(direct::complete))
        .route("/api/v1/edge/purge", post(purge))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state.clone())
        .nest("/api/v1/accounts", cdlc_accounts::http::router(state.accounts.clone()))
        .merge(state.plugins.router())
        .layer(axum::middleware::from_fn_with_state(
            state.accounts.clone(),
            cdlc_accounts::http::authenticate,
        ))
        // Outside authentication, so a refused upload's body is drained too.
        .layer(axum::middleware::from_fn(refusal::drain_refused));
    // Stream objects are authorized by signed URLs, not by sessions: a
    // session cookie would otherwise cost a store read per segment.
    let routes = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route_service("/streams/{id}/{*path}", edge.clone())
        .route_service("/metrics", edge)
        .merge(api)
        .merge(crate::web::router());
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

/// `POST /api/v1/edge/purge`: an admin with `edge:purge`; the edge does the rest.
async fn purge(principal: Principal, State(state): State<SharedState>, body: axum::body::Bytes) -> Response {
    if let Err(refused) = authz::purger(&principal) {
        return refused.into_response();
    }
    match state.edge.purge_request(&body) {
        Ok(answer) => Json(answer).into_response(),
        Err(error) => error.into_response(),
    }
}

/// The OpenAPI document of every route in [`app`].
pub const OPENAPI: &str = include_str!("openapi.json");

async fn openapi() -> ([(header::HeaderName, &'static str); 1], &'static str) {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

/// Ready when the metadata store answers and no started plugin is down;
/// each plugin's health is listed.
async fn ready(State(state): State<SharedState>) -> Result<Response, ApiError> {
    state.metadata.list_assets(None, 1, None).await?;
    let plugins = state.plugins.health().await;
    let down = plugins.iter().any(|(_, health)| matches!(health, Health::Down(_)));
    let body = serde_json::json!({
        "status": if down { "degraded" } else { "ready" },
        "plugins": plugins.into_iter().collect::<std::collections::BTreeMap<_, _>>(),
    });
    let status = if down { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::OK };
    Ok((status, Json(body)).into_response())
}

#[cfg(test)]
mod tests {
    /// Every route of the router is in the OpenAPI document, and nothing else.
    #[test]
    fn the_openapi_document_lists_every_route() {
        let document: serde_json::Value = serde_json::from_str(super::OPENAPI).expect("valid JSON");
        let documented: std::collections::BTreeSet<String> =
            document["paths"].as_object().expect("paths").keys().cloned().collect();
        let source = include_str!("mod.rs");
        let routed: std::collections::BTreeSet<String> = source
            .lines()
            .filter_map(|l| {
                l.trim().strip_prefix(".route(\"").or_else(|| l.trim().strip_prefix(".route_service(\""))
            })
            .filter_map(|l| l.split('"').next())
            .map(|p| p.replace("{*path}", "{path}"))
            .collect();
        assert_eq!(documented, routed);
    }

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

        async fn app(dir: &std::path::Path) -> axum::Router {
            let config =
                Config { data_dir: dir.to_owned(), admin_token: Some(ROOT.into()), ..Config::default() };
            super::super::app(Arc::new(AppState::open(config, None).await.expect("state")))
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
    }
}
