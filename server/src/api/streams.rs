//! The edge's routes, `/streams/{id}/{*path}` and `/metrics`, with their
//! OpenAPI description. The edge serves them itself (one catch-all, whose
//! path it parses), so no `#[utoipa::path]` handler stands for them: the
//! description is built here, beside the routes, one path per kind of
//! object (the catch-all cannot be spelled in OpenAPI).

use std::sync::Arc;

use axum::body::Body;
use cdlc_transcoder::layout::{
    DASH_MANIFEST, HLS_MASTER, INIT_SEGMENT, MEDIA_PLAYLIST, POSTER, STORYBOARD_IMAGE, STORYBOARD_INDEX,
};
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::{Content, Ref, RefOr, Required, ResponseBuilder, Schema, Type};
use utoipa::openapi::{ObjectBuilder, Paths};
use utoipa::{PartialSchema, ToSchema};
use utoipa_axum::router::OpenApiRouter;

use super::ErrorBody;

/// How every stream object is served.
const SIGNED_URLS: &str = "A private asset's objects are served only through signed URLs, which put \
`~{token}/` after the asset id (`/streams/{id}/~{token}/master.m3u8`); the asset's `playback` links \
are signed for its uploader and admins. Range (206), `If-None-Match` and `If-Modified-Since` (304), \
gzip for manifests, CORS.";

/// The edge's routes, described.
pub fn routes(edge: &Arc<cdlc_edge::Edge>) -> OpenApiRouter {
    let service = edge.router().into_service::<Body>();
    let mut router = OpenApiRouter::new()
        .route_service("/streams/{id}/{*path}", service.clone())
        .route_service("/metrics", service);
    let document = router.get_openapi_mut();
    document.paths.merge(paths());
    let components = document.components.get_or_insert_with(Default::default);
    let mut schemas = vec![(ErrorBody::name().into_owned(), ErrorBody::schema())];
    ErrorBody::schemas(&mut schemas);
    components.schemas.extend(schemas);
    document.paths.paths.entry("/metrics".into()).or_insert_with(metrics);
    router
}

fn paths() -> Paths {
    let object = |id: &str, kind: &str, content_type: &str, path_params: &[(&str, &str)]| {
        let in_path: Vec<_> = [("id", "The asset's id.")]
            .iter()
            .chain(path_params)
            .map(|(name, about)| path_parameter(name, about).build())
            .collect();
        let mut get = OperationBuilder::new()
            .tag("edge")
            .operation_id(Some(id))
            .summary(Some(format!("{kind}, through the edge cache")))
            .description(Some(SIGNED_URLS))
            .parameters(Some(in_path.clone()));
        for (name, about) in [
            ("range", "`bytes=START-END`: part of the object (206)."),
            ("if-none-match", "An ETag seen before: 304 if unchanged."),
            ("if-modified-since", "A date seen before: 304 if unchanged."),
        ] {
            get = get.parameter(
                ParameterBuilder::new()
                    .name(name)
                    .parameter_in(ParameterIn::Header)
                    .required(Required::False)
                    .description(Some(about))
                    .schema(Some(string())),
            );
        }
        let body = Content::new(Some(binary()));
        let get = edge_errors(
            get.response("200", ResponseBuilder::new().description(kind).content(content_type, body.clone()))
                .response(
                    "206",
                    ResponseBuilder::new().description("The range asked for.").content(content_type, body),
                )
                .response("304", ResponseBuilder::new().description("Not modified.")),
            &[
                ("400", "The path is not /streams/ID/[~TOKEN/]PATH."),
                ("403", "A private asset without a valid signed URL, or an expired one."),
                ("404", "No such asset or object."),
                ("416", "The range is outside the object."),
                ("502", "The origin could not be reached and nothing usable is cached."),
            ],
        )
        .build();
        let preflight = OperationBuilder::new()
            .tag("edge")
            .operation_id(Some(format!("{id}_preflight")))
            .summary(Some("CORS preflight"))
            .parameters(Some(in_path))
            .response("204", ResponseBuilder::new().description("The allowed methods and headers."))
            .build();
        let mut item = PathItem::new(HttpMethod::Get, get);
        item.options = Some(preflight);
        item
    };
    let rendition = ("rendition", "The rendition's name, as the master playlist and the MPD list it.");
    Paths::builder()
        .path(format!("/streams/{{id}}/{HLS_MASTER}"), object("stream_hls_master", "The HLS master playlist", "application/vnd.apple.mpegurl", &[]))
        .path(format!("/streams/{{id}}/{DASH_MANIFEST}"), object("stream_dash_manifest", "The DASH manifest (MPD); an encrypted asset's has `ContentProtection` (CENC, ClearKey) and its segments under `cenc/`", "application/dash+xml", &[]))
        .path(
            format!("/streams/{{id}}/{}", crate::edge_origin::KEY_FILE),
            object("stream_content_key", "An encrypted asset's AES-128 key (16 bytes, `Cache-Control: private, no-store`; 404 for an asset that is not encrypted)", "application/octet-stream", &[]),
        )
        .path(format!("/streams/{{id}}/{}", crate::edge_origin::LICENSE_FILE), {
            let mut item = object("stream_clearkey_license", "An encrypted asset's ClearKey licence: every key as a JSON Web Key Set (`Cache-Control: private, no-store`; 404 for an asset that is not encrypted)", "application/json", &[]);
            item.post = Some(license_request());
            item
        })
        .path(
            "/streams/{id}/cenc/{rendition}/{segment}",
            object(
                "stream_cenc_segment",
                "An encrypted asset's CMAF segment with CENC (AES-CTR, `senc`), as its MPD names it",
                "video/iso.segment",
                &[rendition, ("segment", &format!("`{INIT_SEGMENT}` (with `encv`/`enca` and a ClearKey `pssh`), or a media segment `00001.m4s`…"))],
            ),
        )
        .path(
            "/streams/{id}/{still}",
            object(
                "stream_still",
                "A still of the asset",
                "image/jpeg",
                &[("still", &format!("`{POSTER}`, `{STORYBOARD_IMAGE}` (a sprite of thumbnails) or `{STORYBOARD_INDEX}` (WebVTT cues into the sprite, text/vtt)"))],
            ),
        )
        .path(
            format!("/streams/{{id}}/{{rendition}}/{MEDIA_PLAYLIST}"),
            object("stream_media_playlist", "A rendition's HLS media playlist", "application/vnd.apple.mpegurl", &[rendition]),
        )
        .path(
            "/streams/{id}/{rendition}/{segment}",
            object(
                "stream_segment",
                "A CMAF segment of a rendition",
                "video/iso.segment",
                &[rendition, ("segment", &format!("`{INIT_SEGMENT}` (video/mp4), or a media segment `00001.m4s`, `00002.m4s`…"))],
            ),
        )
        .build()
}

/// POST of the licence: what dash.js (or any EME player) sends for ClearKey.
fn license_request() -> utoipa::openapi::path::Operation {
    let json =
        |example: serde_json::Value| Content::builder().schema(Some(string())).example(Some(example)).build();
    let request = utoipa::openapi::request_body::RequestBodyBuilder::new()
        .description(Some("A W3C ClearKey licence request: key ids in base64url without padding."))
        .content("application/json", json(serde_json::json!({"kids": ["KEY_ID"], "type": "temporary"})))
        .required(Some(Required::True))
        .build();
    edge_errors(
        OperationBuilder::new()
            .tag("edge")
            .operation_id(Some("stream_clearkey_license_request"))
            .summary(Some("A ClearKey licence request, answered with the keys it names"))
            .description(Some(SIGNED_URLS))
            .parameter(path_parameter("id", "The asset's id."))
            .request_body(Some(request))
            .response(
                "200",
                ResponseBuilder::new().description("The licence (`Cache-Control: private, no-store`).").content(
                    "application/json",
                    json(serde_json::json!({"keys": [{"kty": "oct", "kid": "KEY_ID", "k": "KEY"}], "type": "temporary"})),
                ),
            ),
        &[
            ("400", "Not a licence request: `{\"kids\": [...]}` of at most 4 KiB."),
            ("403", "A private asset without a valid signed URL, or an expired one."),
            ("404", "No such asset, not encrypted, or no key with the ids asked for."),
            ("405", "Only the licence takes a POST."),
            ("502", "The origin could not be reached."),
        ],
    )
    .build()
}

fn metrics() -> PathItem {
    let get = OperationBuilder::new()
        .tag("edge")
        .operation_id(Some("edge_metrics"))
        .summary(Some("Edge counters in the Prometheus text format"))
        .description(Some(
            "Hits, misses, coalesced waits, origin fetches and errors, bytes, tier sizes and a latency histogram.",
        ))
        .response(
            "200",
            ResponseBuilder::new()
                .description("The counters.")
                .content("text/plain; version=0.0.4", Content::new(Some(string()))),
        )
        .build();
    PathItem::new(HttpMethod::Get, get)
}

fn path_parameter(name: &str, about: &str) -> ParameterBuilder {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some(about))
        .schema(Some(string()))
}

/// The error answers of an edge operation, each with the one error body.
fn edge_errors(mut operation: OperationBuilder, errors: &[(&str, &str)]) -> OperationBuilder {
    for (status, about) in errors {
        let body = Content::new(Some(RefOr::<Schema>::Ref(Ref::from_schema_name(ErrorBody::name()))));
        operation = operation
            .response(*status, ResponseBuilder::new().description(*about).content("application/json", body));
    }
    operation
}

fn string() -> RefOr<Schema> {
    ObjectBuilder::new().schema_type(Type::String).into()
}

/// Bytes: in OpenAPI 3.1, a string whose content is the media type's.
fn binary() -> RefOr<Schema> {
    ObjectBuilder::new().schema_type(Type::String).content_media_type("application/octet-stream").into()
}
