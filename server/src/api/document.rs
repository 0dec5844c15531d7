//! What the OpenAPI document says beyond its paths: who serves it, the
//! credentials (security schemes) the operations name, and the tags.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{ComponentsBuilder, InfoBuilder, OpenApi};

/// The name of each security scheme, as the operations' `security` name them.
pub const BEARER: &str = "bearer";
pub const SESSION_COOKIE: &str = "session_cookie";
pub const CSRF: &str = "csrf";

const DESCRIPTION: &str = "The media API of cdlc (assets, uploads, the edge), its accounts and \
every started plugin (each under `/api/v1/{name}`, tagged with its name), generated from the \
code that routes them.\n\n\
Credentials: `Authorization: Bearer` with a session token (`cdlc_s_…`), an API key \
(`cdlc_k_…`, limited to its scopes) or the root token (`CDLC_ADMIN_TOKEN`, an admin with every \
scope); or the web UI's `cdlc_session` cookie, whose writes also need `X-CSRF-Token`. Each \
operation's description says the role and scope it needs; in its `security`, the names listed \
with a scheme are that role and scope.\n\n\
Every error answers `{\"error\":{\"code\",\"message\"}}` (schema `Error`), the message a \
sentence that says what to fix.";

/// The paths' document with its info, security schemes and tags.
pub fn finish(mut document: OpenApi) -> OpenApi {
    document.info = InfoBuilder::new()
        .title("cdlc")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(DESCRIPTION))
        .build();
    let components = document.components.get_or_insert_with(|| ComponentsBuilder::new().build());
    components.add_security_scheme(
        BEARER,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "A session token (`cdlc_s_…`, from sign-in with `\"token\": true`), an API key \
                     (`cdlc_k_…`, its scopes only) or the root token (`CDLC_ADMIN_TOKEN`).",
                ))
                .build(),
        ),
    );
    components.add_security_scheme(
        SESSION_COOKIE,
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
            cdlc_accounts::http::SESSION_COOKIE,
            "The web UI's session (HttpOnly, SameSite=Strict), set by sign-in.",
        ))),
    );
    components.add_security_scheme(
        CSRF,
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
            "X-CSRF-Token",
            "Needed with the cookie on every write: the `csrf_token` of sign-in and `GET /me`.",
        ))),
    );
    let mut tags: Vec<_> = [
        ("assets", "Assets: list, read, upload (multipart), delete, follow."),
        ("uploads", "Resumable uploads (tus 1.0) and direct-to-bucket uploads."),
        ("edge", "The edge cache: stream objects, counters, purge."),
        ("accounts", "Users, sessions, API keys, invites."),
        ("meta", "Health, readiness and this document."),
    ]
    .into_iter()
    .map(|(name, about)| TagBuilder::new().name(name).description(Some(about)).build())
    .collect();
    let mut plugin_tags = std::collections::BTreeSet::new();
    for operation in document.paths.paths.values_mut().flat_map(cdlc_plugin_api::host::operations) {
        let plugin =
            operation.tags.iter().flatten().find(|tag| !tags.iter().any(|known| &known.name == *tag));
        if let Some(plugin) = plugin.cloned() {
            // A plugin's handler names may be anyone's: its name keeps
            // the operation ids unique.
            if let Some(id) = &mut operation.operation_id {
                *id = format!("{plugin}_{id}");
            }
            plugin_tags.insert(plugin);
        }
        describe_responses(operation);
    }
    tags.extend(plugin_tags.into_iter().map(|name| {
        let about = format!("The {name} plugin, at /api/v1/{name}.");
        TagBuilder::new().name(name).description(Some(about)).build()
    }));
    document.tags = Some(tags);
    document
}

/// OpenAPI requires a description of every response, and utoipa leaves
/// out an empty one (a plugin's `(status = 200, body = …)`): the status's
/// reason phrase stands in.
fn describe_responses(operation: &mut utoipa::openapi::path::Operation) {
    for (status, response) in operation.responses.responses.iter_mut() {
        if let utoipa::openapi::RefOr::T(response) = response {
            if response.description.is_empty() {
                let reason = status.parse().ok().and_then(|code| axum::http::StatusCode::from_u16(code).ok());
                response.description =
                    reason.and_then(|code| code.canonical_reason()).unwrap_or("The answer.").to_owned();
            }
        }
    }
}
