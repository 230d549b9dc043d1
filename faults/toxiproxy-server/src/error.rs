//! API errors with Toxiproxy 2.x's wording and status codes.
//!
//! Toxiproxy answers every failed request with `{"error": "<message>", "status": <code>}` and the same
//! code as the HTTP status. The base messages below are Toxiproxy's own (api.go); where this server
//! rejects something Toxiproxy would accept (because noxious would misbehave on it), the base message
//! is kept and a detail naming the field and the fix is appended after a colon, the way Toxiproxy's
//! `joinError` does.

use serde_json::json;

/// A failed API request: the message for the client and the HTTP status to answer with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub message: String,
    pub status: u16,
}

impl ApiError {
    fn new(message: impl Into<String>, status: u16) -> Self {
        ApiError { message: message.into(), status }
    }

    /// 400: the body is not the JSON the endpoint expects.
    pub fn bad_body(detail: impl std::fmt::Display) -> Self {
        Self::new(format!("bad request body: {detail}"), 400)
    }

    /// 400: a required field is missing or empty.
    pub fn missing_field(field: &str) -> Self {
        Self::new(format!("missing required field: {field}"), 400)
    }

    /// 404: no proxy with this name.
    pub fn proxy_not_found() -> Self {
        Self::new("proxy not found", 404)
    }

    /// 409: a proxy with this name already exists.
    pub fn proxy_exists() -> Self {
        Self::new("proxy already exists", 409)
    }

    /// 400: `stream` is neither upstream nor downstream.
    pub fn invalid_stream() -> Self {
        Self::new("stream was invalid, can be either upstream or downstream", 400)
    }

    /// 400: unknown toxic type. `detail` (may be empty) says why and what is supported.
    pub fn invalid_toxic_type(detail: &str) -> Self {
        if detail.is_empty() {
            Self::new("invalid toxic type", 400)
        } else {
            Self::new(format!("invalid toxic type: {detail}"), 400)
        }
    }

    /// 409: a toxic with this name already exists on the proxy.
    pub fn toxic_exists() -> Self {
        Self::new("toxic already exists", 409)
    }

    /// 404: no toxic with this name on the proxy.
    pub fn toxic_not_found() -> Self {
        Self::new("toxic not found", 404)
    }

    /// 404 for a path this API does not have (Toxiproxy's router answers 404 too).
    pub fn no_route(method: &str, path: &str) -> Self {
        Self::new(format!("no such endpoint: {method} {path}"), 404)
    }

    /// 405 for a known path with the wrong method.
    pub fn method_not_allowed(method: &str, path: &str) -> Self {
        Self::new(format!("method {method} not allowed on {path}"), 405)
    }

    /// 500: the proxy could not be started (Toxiproxy reports listen errors as 500 as well).
    pub fn listen_failed(listen: &str, err: impl std::fmt::Display) -> Self {
        Self::new(
            format!("listen tcp {listen}: {err} (choose a free port or another listen address)"),
            500,
        )
    }

    /// The JSON body Toxiproxy sends with an error.
    pub fn to_json(&self) -> serde_json::Value {
        json!({"error": self.message, "status": self.status})
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.status)
    }
}

impl std::error::Error for ApiError {}
