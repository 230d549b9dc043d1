//! Toxics as the REST API sees them, and their translation to noxious toxics.
//!
//! JSON shape (Toxiproxy 2.x): `{"name", "type", "stream", "toxicity", "attributes": {...}}`.
//! Parsing follows Toxiproxy's `AddToxicJson` order: stream, default name, type, duplicate name,
//! attributes. Missing attributes default to 0 as in Go. Values noxious cannot run safely (it would
//! underflow or spin) are rejected with 400 and a message that names the attribute and the fix.

use crate::error::ApiError;
use noxious::toxic::{StreamDirection, Toxic, ToxicKind};
use serde_json::{json, Map, Value};

/// Toxic types this server runs: Toxiproxy 2.x's, with `reset_peer` from our noxious patch.
pub const SUPPORTED_TYPES: &str =
    "latency, bandwidth, slow_close, timeout, slicer, limit_data, reset_peer, noop";

/// One toxic installed on a proxy. Invariant: `kind` passed `validate_kind`.
#[derive(Debug, Clone, PartialEq)]
pub struct ToxicSpec {
    pub name: String,
    pub stream: StreamDirection,
    pub toxicity: f32,
    pub kind: ToxicKind,
}

impl ToxicSpec {
    /// Parses a create-toxic body. `exists(name)` tells whether the proxy already has that toxic
    /// (409). Errors are Toxiproxy's: bad body 400, bad stream 400, bad type 400, duplicate 409.
    pub fn parse_new(body: &Value, exists: impl Fn(&str) -> bool) -> Result<ToxicSpec, ApiError> {
        let obj = body
            .as_object()
            .ok_or_else(|| ApiError::bad_body("expected a JSON object for the toxic"))?;
        let stream = parse_stream(obj.get("stream"))?;
        let type_name = optional_str(obj, "type")?.unwrap_or_default();
        let name = match optional_str(obj, "name")? {
            Some(n) if !n.is_empty() => n,
            _ => format!("{type_name}_{}", stream_name(stream)),
        };
        let fields = fields_of(&type_name)?;
        if exists(&name) {
            return Err(ApiError::toxic_exists());
        }
        let toxicity = parse_toxicity(obj.get("toxicity"), 1.0)?;
        let zeros = vec![0; fields.len()];
        let values = merge_attributes(fields, &zeros, obj.get("attributes"))?;
        let kind = build_kind(&type_name, &values)?;
        Ok(ToxicSpec { name, stream, toxicity, kind })
    }

    /// Applies an update body (`attributes` merged onto the current ones, optional `toxicity`),
    /// as Toxiproxy's `UpdateToxicJson` does. Name, type and stream never change.
    pub fn updated(&self, body: &Value) -> Result<ToxicSpec, ApiError> {
        let obj = body
            .as_object()
            .ok_or_else(|| ApiError::bad_body("expected a JSON object for the toxic update"))?;
        let type_name = self.kind.get_name();
        let fields = fields_of(type_name)?;
        let values = merge_attributes(fields, &values_of(&self.kind), obj.get("attributes"))?;
        Ok(ToxicSpec {
            name: self.name.clone(),
            stream: self.stream,
            toxicity: parse_toxicity(obj.get("toxicity"), self.toxicity)?,
            kind: build_kind(type_name, &values)?,
        })
    }

    /// The Toxiproxy JSON for this toxic.
    pub fn to_json(&self) -> Value {
        let type_name = self.kind.get_name();
        let fields = fields_of(type_name).unwrap_or(&[]);
        let attrs: Map<String, Value> = fields
            .iter()
            .zip(values_of(&self.kind))
            .map(|(k, v)| ((*k).to_owned(), json!(v)))
            .collect();
        json!({
            "name": self.name,
            "type": type_name,
            "stream": stream_name(self.stream),
            "toxicity": self.toxicity,
            "attributes": attrs,
        })
    }

    /// The noxious toxics that implement this one, in chain order.
    ///
    /// None at toxicity 0: noxious runs a toxic when `toxicity >= r` with r uniform in [0, 1), so
    /// 0 would still fire once in 2^24 connections; Toxiproxy (`r < toxicity`) never fires it.
    ///
    /// Bandwidth gets a hidden slicer in front of it (always active, no delay): noxious 1.0.4's
    /// bandwidth toxic forwards only 100 bytes per 100 ms slot and then panics on a Duration
    /// underflow for any chunk larger than rate*100 bytes, dropping the connection. Chunks of at
    /// most rate*100 bytes never enter that loop, and are paced exactly (len/rate ms each).
    pub fn to_noxious(&self) -> Vec<Toxic> {
        if self.toxicity <= 0.0 {
            return vec![];
        }
        let main = Toxic {
            kind: self.kind,
            name: self.name.clone(),
            toxicity: self.toxicity,
            direction: self.stream,
        };
        match self.kind {
            ToxicKind::Bandwidth { rate } if rate > 0 => {
                let slicer = Toxic {
                    kind: ToxicKind::Slicer { average_size: rate.saturating_mul(100), size_variation: 0, delay: 0 },
                    name: format!("{HIDDEN_PREFIX}{}", self.name),
                    toxicity: 1.0,
                    direction: self.stream,
                };
                vec![slicer, main]
            }
            _ => vec![main],
        }
    }
}

/// Prefix of helper toxics this server installs in noxious; never shown by the API.
const HIDDEN_PREFIX: &str = "__paxos_chaos_bandwidth_slicer__";

/// `"upstream"` or `"downstream"`.
pub fn stream_name(stream: StreamDirection) -> &'static str {
    match stream {
        StreamDirection::Upstream => "upstream",
        StreamDirection::Downstream => "downstream",
    }
}

fn parse_stream(value: Option<&Value>) -> Result<StreamDirection, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(StreamDirection::Downstream),
        Some(Value::String(s)) => match s.to_ascii_lowercase().as_str() {
            "downstream" => Ok(StreamDirection::Downstream),
            "upstream" => Ok(StreamDirection::Upstream),
            _ => Err(ApiError::invalid_stream()),
        },
        Some(other) => Err(ApiError::bad_body(format!("\"stream\" must be a string, got {other}"))),
    }
}

fn optional_str(obj: &Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(ApiError::bad_body(format!("\"{key}\" must be a string, got {other}"))),
    }
}

fn parse_toxicity(value: Option<&Value>, default: f32) -> Result<f32, ApiError> {
    let t = match value {
        None | Some(Value::Null) => return Ok(default),
        Some(v) => v.as_f64().ok_or_else(|| {
            ApiError::bad_body(format!("\"toxicity\" must be a number in [0, 1], got {v}"))
        })?,
    };
    if !(0.0..=1.0).contains(&t) {
        return Err(ApiError::bad_body(format!(
            "\"toxicity\" must be a number in [0, 1] (a probability), got {t}"
        )));
    }
    Ok(t as f32)
}

/// Attribute names per toxic type, in Toxiproxy's order; the error names what is supported.
fn fields_of(type_name: &str) -> Result<&'static [&'static str], ApiError> {
    Ok(match type_name {
        "latency" => &["latency", "jitter"],
        "bandwidth" => &["rate"],
        "slow_close" => &["delay"],
        "timeout" => &["timeout"],
        "slicer" => &["average_size", "size_variation", "delay"],
        "limit_data" => &["bytes"],
        "reset_peer" => &["timeout"],
        "noop" => &[],
        "" => {
            return Err(ApiError::invalid_toxic_type(&format!(
                "\"type\" is missing; supported types: {SUPPORTED_TYPES}"
            )))
        }
        other => {
            return Err(ApiError::invalid_toxic_type(&format!(
                "unknown type \"{other}\"; supported types: {SUPPORTED_TYPES}"
            )))
        }
    })
}

fn values_of(kind: &ToxicKind) -> Vec<u64> {
    match *kind {
        ToxicKind::Noop => vec![],
        ToxicKind::Latency { latency, jitter } => vec![latency, jitter],
        ToxicKind::Bandwidth { rate } => vec![rate],
        ToxicKind::SlowClose { delay } => vec![delay],
        ToxicKind::Timeout { timeout } => vec![timeout],
        ToxicKind::Slicer { average_size, size_variation, delay } => {
            vec![average_size, size_variation, delay]
        }
        ToxicKind::LimitData { bytes } => vec![bytes],
        ToxicKind::ResetPeer { timeout } => vec![timeout],
    }
}

/// Overlays the given `attributes` object on `base`; unknown keys are ignored as in Toxiproxy.
fn merge_attributes(
    fields: &[&str],
    base: &[u64],
    attributes: Option<&Value>,
) -> Result<Vec<u64>, ApiError> {
    let mut values = base.to_vec();
    let obj = match attributes {
        None | Some(Value::Null) => return Ok(values),
        Some(Value::Object(obj)) => obj,
        Some(other) => {
            return Err(ApiError::bad_body(format!("\"attributes\" must be an object, got {other}")))
        }
    };
    for (i, field) in fields.iter().enumerate() {
        match obj.get(*field) {
            None | Some(Value::Null) => {}
            Some(v) => {
                values[i] = v.as_u64().ok_or_else(|| {
                    ApiError::bad_body(format!(
                        "attributes.{field} must be a non-negative integer, got {v}"
                    ))
                })?
            }
        }
    }
    Ok(values)
}

/// Builds the noxious kind and rejects values noxious would mishandle.
fn build_kind(type_name: &str, v: &[u64]) -> Result<ToxicKind, ApiError> {
    let kind = match type_name {
        "latency" => ToxicKind::Latency { latency: v[0], jitter: v[1] },
        "bandwidth" => ToxicKind::Bandwidth { rate: v[0] },
        "slow_close" => ToxicKind::SlowClose { delay: v[0] },
        "timeout" => ToxicKind::Timeout { timeout: v[0] },
        "slicer" => ToxicKind::Slicer { average_size: v[0], size_variation: v[1], delay: v[2] },
        "limit_data" => ToxicKind::LimitData { bytes: v[0] },
        "reset_peer" => ToxicKind::ResetPeer { timeout: v[0] },
        _ => ToxicKind::Noop,
    };
    validate_kind(&kind)?;
    Ok(kind)
}

fn validate_kind(kind: &ToxicKind) -> Result<(), ApiError> {
    match *kind {
        // noxious computes latency + r - jitter in u64: jitter > latency would underflow.
        ToxicKind::Latency { latency, jitter } if jitter > latency => Err(ApiError::bad_body(format!(
            "attributes.jitter ({jitter}) must not exceed attributes.latency ({latency}) on this \
             server; lower jitter or raise latency"
        ))),
        // noxious slices forever on size 0 and underflows when variation >= average.
        ToxicKind::Slicer { average_size: 0, .. } => Err(ApiError::bad_body(
            "attributes.average_size must be at least 1 for a slicer toxic",
        )),
        ToxicKind::Slicer { average_size, size_variation, .. } if size_variation >= average_size => {
            Err(ApiError::bad_body(format!(
                "attributes.size_variation ({size_variation}) must be less than \
                 attributes.average_size ({average_size})"
            )))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: Value) -> Result<ToxicSpec, ApiError> {
        ToxicSpec::parse_new(&body, |n| n == "taken")
    }

    #[test]
    fn defaults_follow_toxiproxy() {
        let t = parse(json!({"type": "latency", "attributes": {"latency": 5}})).unwrap();
        assert_eq!(t.name, "latency_downstream");
        assert_eq!(t.stream, StreamDirection::Downstream);
        assert_eq!(t.toxicity, 1.0);
        assert_eq!(t.kind, ToxicKind::Latency { latency: 5, jitter: 0 });
        assert_eq!(t.to_json()["attributes"], json!({"latency": 5, "jitter": 0}));
    }

    #[test]
    fn errors_have_toxiproxy_codes_in_toxiproxy_order() {
        assert_eq!(parse(json!({"type": "latency", "stream": "both"})).unwrap_err().status, 400);
        assert_eq!(parse(json!({"type": "nope"})).unwrap_err().message.split(':').next(), Some("invalid toxic type"));
        assert_eq!(parse(json!({"type": "latency", "name": "taken"})).unwrap_err().status, 409);
        let bad = parse(json!({"type": "latency", "attributes": {"latency": -1}})).unwrap_err();
        assert!(bad.message.starts_with("bad request body: attributes.latency"), "{}", bad.message);
        let bad = parse(json!({"type": "reset_peer", "attributes": {"timeout": -5}})).unwrap_err();
        assert_eq!(bad.status, 400);
        assert!(bad.message.contains("attributes.timeout must be a non-negative integer"), "{}", bad.message);
    }

    #[test]
    fn rejects_values_noxious_mishandles() {
        assert!(parse(json!({"type": "latency", "attributes": {"latency": 1, "jitter": 2}})).is_err());
        assert!(parse(json!({"type": "slicer", "attributes": {"average_size": 0}})).is_err());
        assert!(parse(json!({"type": "slicer", "attributes": {"average_size": 4, "size_variation": 4}})).is_err());
        for toxicity in [json!(1.5), json!(-1), json!("x")] {
            let bad = parse(json!({"type": "timeout", "toxicity": toxicity})).unwrap_err();
            assert_eq!(bad.status, 400);
            assert!(bad.message.contains("\"toxicity\" must be a number in [0, 1]"), "{}", bad.message);
        }
    }

    #[test]
    fn reset_peer_is_a_toxic_with_a_timeout() {
        let t = parse(json!({"type": "reset_peer", "stream": "upstream", "attributes": {"timeout": 250}})).unwrap();
        assert_eq!(t.name, "reset_peer_upstream");
        assert_eq!(t.kind, ToxicKind::ResetPeer { timeout: 250 });
        assert_eq!(t.to_json()["attributes"], json!({"timeout": 250}));
        let immediate = parse(json!({"type": "reset_peer"})).unwrap();
        assert_eq!(immediate.kind, ToxicKind::ResetPeer { timeout: 0 });
    }

    #[test]
    fn toxicity_zero_installs_nothing_in_noxious() {
        for kind in ["latency", "timeout", "reset_peer", "limit_data", "bandwidth"] {
            let t = parse(json!({"type": kind, "toxicity": 0, "attributes": {"rate": 1}})).unwrap();
            assert!(t.to_noxious().is_empty(), "{kind}");
            assert_eq!(t.to_json()["toxicity"], json!(0.0));
        }
        let half = parse(json!({"type": "timeout", "toxicity": 0.5})).unwrap();
        assert_eq!(half.to_noxious()[0].toxicity, 0.5);
    }

    #[test]
    fn update_merges_attributes_and_keeps_identity() {
        let t = parse(json!({"type": "slicer", "stream": "upstream", "attributes": {"average_size": 8, "delay": 3}})).unwrap();
        let u = t.updated(&json!({"attributes": {"average_size": 16}, "toxicity": 0.25})).unwrap();
        assert_eq!(u.name, "slicer_upstream");
        assert_eq!(u.kind, ToxicKind::Slicer { average_size: 16, size_variation: 0, delay: 3 });
        assert_eq!(u.toxicity, 0.25);
    }

    #[test]
    fn bandwidth_gets_a_hidden_slicer_that_keeps_chunks_under_rate_times_100() {
        let t = parse(json!({"type": "bandwidth", "attributes": {"rate": 7}})).unwrap();
        let chain = t.to_noxious();
        assert_eq!(chain.len(), 2);
        assert_eq!(chain[0].kind, ToxicKind::Slicer { average_size: 700, size_variation: 0, delay: 0 });
        assert_eq!(chain[0].toxicity, 1.0);
        assert_eq!(chain[1].name, "bandwidth_downstream");
        let unlimited = parse(json!({"type": "bandwidth", "attributes": {"rate": 0}})).unwrap();
        assert_eq!(unlimited.to_noxious().len(), 1);
    }
}
