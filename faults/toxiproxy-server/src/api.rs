//! The REST endpoints of Toxiproxy 2.x over HTTP/1.1 (hyper), mapped onto the registry.
//!
//! Status codes as Toxiproxy: 200 reads and updates, 201 proxy create and populate, 204 deletes and
//! reset, 200 toxic create. Every error is `{"error", "status"}` JSON (see error.rs).

use crate::error::ApiError;
use crate::proxy::ProxyRequest;
use crate::registry::{ProxyUpdate, Registry};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Map, Value};
use std::convert::Infallible;
use std::sync::Arc;

/// The version this server reports; `server` tells it apart from the official Toxiproxy.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "-noxious-1.0.4");
/// Largest request body accepted (a populate of a 7-node cluster is a few KiB).
const BODY_LIMIT: usize = 1 << 20;

enum Reply {
    Json(u16, Value),
    Empty(u16),
}

/// Serves one request; never fails at the HTTP level (errors become JSON error responses).
pub async fn handle(registry: Arc<Registry>, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let body = match Limited::new(req.into_body(), BODY_LIMIT).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) => Err(ApiError::bad_body(format!("could not read the body: {err}"))),
    };
    let result = match body {
        Ok(body) => route(&registry, &method, &path, &body).await,
        Err(err) => Err(err),
    };
    let reply = result.unwrap_or_else(|err| Reply::Json(err.status, err.to_json()));
    if method != Method::GET {
        let status = match &reply {
            Reply::Json(s, _) | Reply::Empty(s) => *s,
        };
        eprintln!("toxiproxy-server: {method} {path} -> {status}");
    }
    Ok(render(reply))
}

async fn route(reg: &Registry, method: &Method, path: &str, body: &[u8]) -> Result<Reply, ApiError> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let is_update = *method == Method::POST || *method == Method::PATCH;
    match (segments.as_slice(), method) {
        (["version"], &Method::GET) => Ok(Reply::Json(200, json!({"version": VERSION, "server": "paxos-chaos-noxious"}))),
        (["reset"], &Method::POST) => reg.reset().await.map(|_| Reply::Empty(204)),
        (["populate"], &Method::POST) => populate(reg, body).await,
        (["proxies"], &Method::GET) => Ok(Reply::Json(200, reg.list().await)),
        (["proxies"], &Method::POST) => {
            let req = parse_proxy_request(&parse_json(body)?, None)?;
            reg.create(&req).await.map(|p| Reply::Json(201, p))
        }
        (["proxies", name], &Method::GET) => reg.get(name).await.map(ok),
        (["proxies", name], _) if is_update => {
            let upd = parse_proxy_update(&parse_json(body)?)?;
            reg.update(name, &upd).await.map(ok)
        }
        (["proxies", name], &Method::DELETE) => reg.delete(name).await.map(|_| Reply::Empty(204)),
        (["proxies", name, "toxics"], &Method::GET) => reg.toxics(name).await.map(ok),
        (["proxies", name, "toxics"], &Method::POST) => {
            // Toxiproxy looks the proxy up before it reads the body: unknown proxy wins over bad JSON.
            reg.get(name).await?;
            reg.add_toxic(name, &parse_json(body)?).await.map(ok)
        }
        (["proxies", name, "toxics", toxic], &Method::GET) => reg.toxic(name, toxic).await.map(ok),
        (["proxies", name, "toxics", toxic], _) if is_update => {
            reg.get(name).await?;
            reg.update_toxic(name, toxic, &parse_json(body)?).await.map(ok)
        }
        (["proxies", name, "toxics", toxic], &Method::DELETE) => {
            reg.remove_toxic(name, toxic).await.map(|_| Reply::Empty(204))
        }
        (["version"] | ["reset"] | ["populate"] | ["proxies", ..], _) if segments.len() <= 4 => {
            Err(ApiError::method_not_allowed(method.as_str(), path))
        }
        _ => Err(ApiError::no_route(method.as_str(), path)),
    }
}

fn ok(value: Value) -> Reply {
    Reply::Json(200, value)
}

async fn populate(reg: &Registry, body: &[u8]) -> Result<Reply, ApiError> {
    let value = parse_json(body)?;
    let items = value
        .as_array()
        .ok_or_else(|| ApiError::bad_body("expected a JSON array of proxies"))?;
    let mut reqs = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let req = parse_proxy_request(item, Some(i + 1))?;
        if reqs.iter().any(|r: &ProxyRequest| r.name == req.name) {
            return Err(ApiError::bad_body(format!("duplicate proxy name \"{}\" at proxy {}", req.name, i + 1)));
        }
        reqs.push(req);
    }
    let (done, err) = reg.populate(&reqs).await;
    Ok(match err {
        None => Reply::Json(201, json!({"proxies": done})),
        Some(err) => Reply::Json(err.status, json!({"error": err.message, "status": err.status, "proxies": done})),
    })
}

/// Parses a request body as JSON. Errors: 400 "bad request body: ..." (an empty body included).
pub fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_body("EOF (the request needs a JSON body)"));
    }
    serde_json::from_slice(body).map_err(ApiError::bad_body)
}

/// A proxy as given to `POST /proxies`, `/populate` or the config file. `index` (1-based) is set
/// for list items so errors say which one is wrong, as Toxiproxy's "name at proxy 2".
pub fn parse_proxy_request(value: &Value, index: Option<usize>) -> Result<ProxyRequest, ApiError> {
    let at = index.map(|i| format!(" at proxy {i}")).unwrap_or_default();
    let obj = value
        .as_object()
        .ok_or_else(|| ApiError::bad_body(format!("expected a JSON object for the proxy{at}")))?;
    let name = string_field(obj, "name", &at)?.unwrap_or_default();
    if name.is_empty() {
        return Err(ApiError::missing_field(&format!("name{at}")));
    }
    let upstream = string_field(obj, "upstream", &at)?.unwrap_or_default();
    if upstream.is_empty() {
        return Err(ApiError::missing_field(&format!("upstream{at}")));
    }
    let listen = string_field(obj, "listen", &at)?.unwrap_or_default();
    let enabled = bool_field(obj, "enabled", &at)?.unwrap_or(true);
    Ok(ProxyRequest { name, listen, upstream, enabled })
}

fn parse_proxy_update(value: &Value) -> Result<ProxyUpdate, ApiError> {
    let obj = value
        .as_object()
        .ok_or_else(|| ApiError::bad_body("expected a JSON object for the proxy update"))?;
    Ok(ProxyUpdate {
        listen: string_field(obj, "listen", "")?.filter(|l| !l.is_empty()),
        upstream: string_field(obj, "upstream", "")?.filter(|u| !u.is_empty()),
        enabled: bool_field(obj, "enabled", "")?,
    })
}

fn string_field(obj: &Map<String, Value>, key: &str, at: &str) -> Result<Option<String>, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(ApiError::bad_body(format!("\"{key}\"{at} must be a string, got {other}"))),
    }
}

fn bool_field(obj: &Map<String, Value>, key: &str, at: &str) -> Result<Option<bool>, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(ApiError::bad_body(format!("\"{key}\"{at} must be true or false, got {other}"))),
    }
}

fn render(reply: Reply) -> Response<Full<Bytes>> {
    let (status, body, json) = match reply {
        Reply::Json(status, value) => (status, Bytes::from(format!("{value}\n")), true),
        Reply::Empty(status) => (status, Bytes::new(), false),
    };
    let mut builder = Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
    if json {
        builder = builder.header("Content-Type", "application/json");
    }
    builder.body(Full::new(body)).unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}
