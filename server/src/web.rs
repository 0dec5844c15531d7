//! The web UI: the pages built from `web/` (library, upload, asset player,
//! catalog titles and people, social profiles, booking), embedded in the
//! binary by `build.rs`. The page URLs (`/`, `/upload`, `/assets/{id}`,
//! `/titles/{id}`, `/u/{handle}`, `/lists/{id}`…) all answer the one `index.html`, whose
//! script routes on the client; its bundles live under `/static/` with
//! content-hashed names, so they are cached for good while the page itself
//! is revalidated.

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::error::ApiError;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));
}

/// What the pages may load: only this server (no CDN, no third party),
/// plus the blob: workers and media sources hls.js and dash.js create.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data: blob:; media-src 'self' blob: data:; worker-src 'self' blob:; connect-src 'self'; \
     object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/// Shown at the UI's URLs by a binary built without `web/dist`.
const NOT_BUILT_PAGE: &str = "<!doctype html><meta charset=utf-8><meta name=viewport content=\"width=device-width\">\
<title>cdlc: the web UI is not built</title>\
<body style=\"font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem\">\
<h1>The web UI is not built into this binary</h1>\
<p>This <code>cdlc</code> was compiled without <code>web/dist</code>. Build the UI, then the binary:</p>\
<pre>make build        # or: cd web &amp;&amp; npm ci &amp;&amp; npm run build &amp;&amp; cd .. &amp;&amp; cargo build -p cdlc</pre>\
<p>The API works without it: <a href=\"/api/v1/openapi.json\">/api/v1/openapi.json</a>.</p></body>";

/// The UI's routes; merged into the API's router.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(page))
        .route("/upload", get(page))
        .route("/sign-up", get(page))
        .route("/account", get(page))
        .route("/admin/users", get(page))
        .route("/admin/analytics", get(page))
        .route("/assets/{id}", get(page))
        .route("/showtimes", get(page))
        .route("/showtimes/{id}", get(page))
        .route("/orders", get(page))
        .route("/subscription", get(page))
        .route("/check-in", get(page))
        .route("/titles", get(page))
        .route("/titles/{id}", get(page))
        .route("/titles/{id}/edit", get(page))
        .route("/people/{id}", get(page))
        .route("/people/{id}/edit", get(page))
        .route("/catalog/titles/new", get(page))
        .route("/catalog/people/new", get(page))
        .route("/catalog/import", get(page))
        .route("/u/{handle}", get(page))
        .route("/lists/{id}", get(page))
        .route("/static/{*path}", get(static_file))
}

fn file(path: &str) -> Option<&'static [u8]> {
    embedded::WEB_FILES.iter().find(|(name, _)| *name == path).map(|(_, bytes)| *bytes)
}

/// The single page of the UI, or how to build it.
async fn page() -> Response {
    let (status, body) = match file("index.html") {
        Some(html) => (StatusCode::OK, html),
        None => (StatusCode::SERVICE_UNAVAILABLE, NOT_BUILT_PAGE.as_bytes()),
    };
    let headers = [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        // Revalidated every time, so a new binary's bundles are picked up.
        (header::CACHE_CONTROL, "no-cache"),
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
    ];
    (status, headers, body).into_response()
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("html") => "text/html; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("woff2") => "font/woff2",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Whether Accept-Encoding lists gzip with a weight above zero.
fn accepts_gzip(headers: &HeaderMap) -> bool {
    let Some(accepted) = headers.get(header::ACCEPT_ENCODING).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let refused =
        |param: &str| param.strip_prefix("q=").and_then(|q| q.parse::<f32>().ok()).is_some_and(|q| q <= 0.0);
    accepted.split(',').any(|entry| {
        let mut parts = entry.split(';').map(str::trim);
        parts.next() == Some("gzip") && !parts.any(refused)
    })
}

/// A bundle of the UI. Every name under `static/` carries a hash of its
/// contents, so it never changes: cached for a year, gzip when accepted.
async fn static_file(Path(path): Path<String>, headers: HeaderMap) -> Result<Response, ApiError> {
    let name = format!("static/{path}");
    let plain = file(&name).ok_or_else(|| ApiError::NotFound(format!("no file {name} in the web UI")))?;
    let compressed = if accepts_gzip(&headers) { file(&format!("{name}.gz")) } else { None };
    let mut response = compressed.unwrap_or(plain).into_response();
    let response_headers = response.headers_mut();
    response_headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(&name)));
    response_headers
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable"));
    response_headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    response_headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if compressed.is_some() {
        response_headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(response: Response) -> Vec<u8> {
        axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("body").to_vec()
    }

    /// With the UI built, the page names its bundles and each is served with
    /// its type and for good; without it, the page says how to build it.
    #[tokio::test]
    async fn the_page_and_its_bundles_are_served() {
        let response = page().await;
        assert_eq!(response.headers()[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-cache");
        let status = response.status();
        let html = String::from_utf8(body(response).await).expect("utf-8");
        if status == StatusCode::SERVICE_UNAVAILABLE {
            assert!(html.contains("npm ci"), "{html}");
            return;
        }
        assert_eq!(status, StatusCode::OK);
        let bundles: Vec<&str> =
            html.split("\"/static/").skip(1).filter_map(|rest| rest.split('"').next()).collect();
        assert!(bundles.iter().any(|b| b.ends_with(".js")), "no script in {html}");
        assert!(bundles.iter().any(|b| b.ends_with(".css")), "no stylesheet in {html}");
        for bundle in bundles {
            let response = static_file(Path(bundle.to_owned()), HeaderMap::new()).await.expect(bundle);
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(response.headers()[header::CACHE_CONTROL], "public, max-age=31536000, immutable");
            assert!(response.headers().get(header::CONTENT_ENCODING).is_none());
            let expected = if bundle.ends_with(".js") { "text/javascript" } else { "text/css" };
            assert!(response.headers()[header::CONTENT_TYPE].to_str().expect("ascii").starts_with(expected));
            assert!(!body(response).await.is_empty());

            let mut gzip = HeaderMap::new();
            gzip.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("br, gzip;q=0.8"));
            let response = static_file(Path(bundle.to_owned()), gzip).await.expect(bundle);
            assert_eq!(response.headers()[header::CONTENT_ENCODING], "gzip");
            assert_eq!(&body(response).await[..2], &[0x1f, 0x8b], "gzip magic");
        }
    }

    /// Every page the UI routes to (`web/src/main.js`) is served by the
    /// server too, so that a reload or a shared link of it opens the page.
    #[tokio::test]
    async fn every_page_of_the_ui_is_served() {
        use tower::ServiceExt;
        let routes = include_str!("../../web/src/main.js");
        let paths: Vec<String> = routes
            .split("pattern: /^")
            .skip(1)
            .filter_map(|rest| rest.split("$/").next())
            .map(|pattern| pattern.trim_end_matches("\\/?").replace("([^/]+)", "x1").replace("\\/", "/"))
            .collect();
        assert!(paths.len() >= 20 && paths.contains(&"/titles/x1/edit".to_owned()), "{paths:?}");
        for path in paths {
            let request = axum::http::Request::get(&path).body(axum::body::Body::empty()).expect("request");
            let response = router::<()>().oneshot(request).await.expect("infallible");
            assert_ne!(
                response.status(),
                StatusCode::NOT_FOUND,
                "{path} is a page of the UI the server does not serve"
            );
        }
    }

    #[tokio::test]
    async fn unknown_files_are_404() {
        let error = static_file(Path("nope-1234.js".into()), HeaderMap::new()).await.expect_err("missing");
        assert!(matches!(error, ApiError::NotFound(_)));
    }

    #[test]
    fn gzip_is_read_from_accept_encoding() {
        let with = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_static(value));
            accepts_gzip(&headers)
        };
        assert!(with("gzip, deflate, br"));
        assert!(with("br;q=1.0, gzip;q=0.5"));
        assert!(!with("br, deflate"));
        assert!(!with("x-gzip-not"));
        assert!(!with("gzip;q=0, br"), "q=0 refuses gzip");
    }
}
