//! Calls from one plugin to another's public REST API, in process: social
//! reads titles through `GET /api/v1/catalog/titles/{id}`, never through the
//! catalog's tables. The call goes through the other plugin's router as the
//! principal the caller names (usually the one of the request it serves),
//! so the callee's own authorization applies unchanged.

use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use bytes::Bytes;
use serde::de::DeserializeOwned;
use tower::ServiceExt;

use crate::plugin::PluginError;
use crate::Principal;

/// The largest answer a peer call reads.
pub const MAX_PEER_RESPONSE: usize = 16 * 1024 * 1024;

/// What another plugin answered.
#[derive(Debug, Clone)]
pub struct PeerResponse {
    pub status: StatusCode,
    pub body: Bytes,
}

impl PeerResponse {
    /// The body as JSON of type `T`; an error names the plugin's answer.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, PluginError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            PluginError::Failed(format!("a peer answered {} with unexpected JSON: {e}", self.status))
        })
    }
}

/// The started plugins' routes, set by the host once every plugin is mounted.
#[derive(Clone, Default)]
pub(crate) struct Peers {
    routes: Arc<OnceLock<Vec<(&'static str, Router)>>>,
}

impl Peers {
    pub(crate) fn set(&self, routes: Vec<(&'static str, Router)>) {
        let _ = self.routes.set(routes);
    }

    pub(crate) async fn call(
        &self,
        plugin: &str,
        method: Method,
        path_and_query: &str,
        principal: &Principal,
        body: Option<serde_json::Value>,
    ) -> Result<PeerResponse, PluginError> {
        if !path_and_query.starts_with('/') {
            return Err(PluginError::Failed(format!("a peer path must start with '/': {path_and_query:?}")));
        }
        let router = self
            .routes
            .get()
            .and_then(|routes| routes.iter().find(|(name, _)| *name == plugin))
            .map(|(_, router)| router.clone())
            .ok_or_else(|| PluginError::Failed(format!("the plugin {plugin:?} is not running")))?;
        let mut request = Request::builder().method(method).uri(path_and_query);
        let body = match body {
            Some(json) => {
                request = request.header("content-type", "application/json");
                Body::from(serde_json::to_vec(&json).map_err(|e| PluginError::Failed(e.to_string()))?)
            }
            None => Body::empty(),
        };
        let mut request =
            request.body(body).map_err(|e| PluginError::Failed(format!("a peer request: {e}")))?;
        request.extensions_mut().insert(principal.clone());
        let response = router.oneshot(request).await.unwrap_or_else(|never| match never {});
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), MAX_PEER_RESPONSE).await.map_err(|e| {
            PluginError::Failed(format!("the plugin {plugin:?} answered too much or broke off: {e}"))
        })?;
        Ok(PeerResponse { status, body })
    }
}
