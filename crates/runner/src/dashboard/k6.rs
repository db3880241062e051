//! k6's REST API (`/v1/status`, `/v1/metrics`) as k6's own CLI expects it (JSON:API
//! documents: `{"data": {"type": "status", "id": "default", "attributes": {...}}}`), so that
//! `k6 status|pause|resume|scale|stop --address ADDR` work against volley.

use serde_json::{Value, json};

use super::board::{Phase, State};

/// k6's execution status numbers (`lib.ExecutionStatus`): running and ended.
const RUNNING: u32 = 7;
const ENDED: u32 = 9;
const CREATED: u32 = 0;

/// What a `PATCH /v1/status` asks for.
#[derive(Debug, Default, PartialEq)]
pub struct Patch {
    pub paused: Option<bool>,
    pub vus: Option<u64>,
    pub vus_max: Option<u64>,
    pub stopped: bool,
}

/// A k6 API error document and its HTTP status.
pub fn error(status: u16, title: &str, detail: &str) -> (u16, Value) {
    (status, json!({"errors": [{"status": status.to_string(), "title": title, "detail": detail}]}))
}

/// Parses k6's status document (`attributes` may name any subset).
pub fn parse_patch(body: &[u8]) -> Result<Patch, (u16, Value)> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| error(400, "Invalid data", &e.to_string()))?;
    let a = &v["data"]["attributes"];
    if !a.is_object() {
        return Err(error(400, "Invalid data", "expected {\"data\": {\"attributes\": {...}}}"));
    }
    let uint = |k: &str| -> Result<Option<u64>, (u16, Value)> {
        match &a[k] {
            Value::Null => Ok(None),
            v => v.as_u64().map(Some).ok_or_else(|| {
                error(400, "Invalid data", &format!("`{k}` must be a whole number"))
            }),
        }
    };
    Ok(Patch {
        paused: a["paused"].as_bool(),
        vus: uint("vus")?,
        vus_max: uint("vus-max")?,
        stopped: a["stopped"].as_bool().unwrap_or(false),
    })
}

/// `GET /v1/status`.
pub fn status(s: &State, stopped: bool, paused: bool) -> Value {
    let (status, running) = match s.phase {
        Phase::Starting => (CREATED, false),
        Phase::Running => (RUNNING, true),
        Phase::Ended | Phase::Interrupted => (ENDED, false),
    };
    let tainted = s.result.as_ref().is_some_and(|r| r.thresholds.iter().any(|t| !t.ok));
    json!({"data": {"type": "status", "id": "default", "attributes": {
        "status": status,
        "paused": paused,
        "vus": s.vus,
        "vus-max": s.max_vus.max(s.vus),
        "stopped": stopped,
        "running": running,
        "tainted": tainted,
    }}})
}

/// `GET /v1/metrics`: every metric of the result so far, with its values.
pub fn metrics(s: &State) -> Value {
    let data: Vec<Value> = s
        .result
        .as_ref()
        .map(|r| {
            r.metrics
                .iter()
                .map(|(name, m)| {
                    let tainted =
                        (!m.thresholds.is_empty()).then(|| m.thresholds.values().any(|t| !t.ok));
                    json!({"type": "metrics", "id": name, "attributes": {
                        "type": m.kind, "contains": m.contains, "tainted": tainted,
                        "sample": m.values,
                    }})
                })
                .collect()
        })
        .unwrap_or_default();
    json!({ "data": data })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k6s_patch_bodies_parse() {
        let p = parse_patch(
            br#"{"data":{"type":"status","id":"default","attributes":{"paused":true,"vus":7}}}"#,
        )
        .unwrap();
        assert_eq!(p, Patch { paused: Some(true), vus: Some(7), ..Patch::default() });
        assert_eq!(parse_patch(b"{}").unwrap_err().0, 400);
        let (code, body) = parse_patch(br#"{"data":{"attributes":{"vus":-1}}}"#).unwrap_err();
        assert_eq!((code, body["errors"][0]["title"].as_str()), (400, Some("Invalid data")));
    }

    #[test]
    fn status_has_k6s_attributes() {
        let s = State::default();
        let v = status(&s, false, false);
        let a = &v["data"]["attributes"];
        for k in ["status", "paused", "vus", "vus-max", "stopped", "running", "tainted"] {
            assert!(!a[k].is_null(), "{k}");
        }
        assert_eq!(v["data"]["type"], "status");
    }
}
