//! The one reader of result files: every command that renders or compares saved results goes
//! through [`from_path`] (or [`from_str`]), so every output refuses a bad file alike.
//!
//! Reading checks more than the JSON shape: the schema version, that every serialized histogram
//! decodes, and that the counts add up (`requests = responses + transport_failures = succeeded +
//! failed`, for the totals and for every endpoint; status and failure tallies match them). A
//! report of a file that does not add up would print figures that are wrong, so such a file is
//! refused with the field that is wrong named ([`ReadError`]).
//!
//! [`document_from_path`] reads any file volley writes with `-o`: one run, a sweep (`volley
//! scale`) or a capacity search (`volley capacity`), each run inside checked the same way.

use std::path::Path;

use crate::capacity::{CAPACITY_SCHEMA_VERSION, CapacityResult};
use crate::histogram::{self, DecodeError};
use crate::result::{RunResult, SCHEMA_VERSION};
use crate::sweep::{SWEEP_SCHEMA_VERSION, Sweep};

/// Why a result file cannot be used; each message names the field at fault.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read the result file: {0}")]
    Io(#[from] std::io::Error),
    #[error("it is not JSON ({0})")]
    NotJson(serde_json::Error),
    #[error("it has no `schema_version`")]
    NoSchemaVersion,
    #[error(
        "it uses result schema version {found} (written by volley {by}); this volley reads version {SCHEMA_VERSION}"
    )]
    SchemaVersion { found: u64, by: String },
    #[error("it is not a valid volley result: {0}")]
    Shape(serde_json::Error),
    #[error("`histograms.{key}` is corrupted: {source}")]
    Histogram {
        key: String,
        #[source]
        source: DecodeError,
    },
    /// A count that does not add up; `field` is its JSON path (`totals`, `endpoints[2]`).
    #[error("`{field}` does not add up: {detail}")]
    Counts { field: String, detail: String },
    /// A sweep or capacity file of another schema version (`what`: `sweep`, `capacity search`).
    #[error(
        "it is a {what} of schema version {found} (written by volley {by}); this volley reads version {expected}"
    )]
    DocumentVersion { what: &'static str, found: u64, expected: u32, by: String },
    /// A run inside a sweep or capacity file that fails the checks; `at` is its JSON path
    /// (`sweep[1].result`, `steps[3].result`).
    #[error("in `{at}`: {source}")]
    Inner {
        at: String,
        #[source]
        source: Box<ReadError>,
    },
}

/// What a file volley wrote with `-o` holds.
#[derive(Debug, Clone)]
pub enum Document {
    /// One run (quick mode, `run`, `merge`).
    Run(Box<RunResult>),
    /// A scaling sweep (`volley scale`, `volley demo`).
    Sweep(Box<Sweep>),
    /// A capacity search (`volley capacity`).
    Capacity(Box<CapacityResult>),
}

/// Reads any file volley writes with `-o` (see [`document_from_str`]).
pub fn document_from_path(path: &Path) -> Result<Document, ReadError> {
    document_from_str(&std::fs::read_to_string(path)?)
}

/// Tells a sweep (top-level `sweep` and `rows`) and a capacity search (`steps` and
/// `conclusion`) from a run's result, checks its schema version, and checks every run inside as
/// [`from_str`] checks one.
pub fn document_from_str(text: &str) -> Result<Document, ReadError> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(ReadError::NotJson)?;
    let has = |k: &str| value.get(k).is_some();
    let (what, expected) = if has("sweep") && has("rows") {
        ("sweep", SWEEP_SCHEMA_VERSION)
    } else if has("steps") && has("conclusion") {
        ("capacity search", CAPACITY_SCHEMA_VERSION)
    } else {
        return from_value(value).map(|r| Document::Run(Box::new(r)));
    };
    let Some(found) = value.get("schema_version").and_then(|v| v.as_u64()) else {
        return Err(ReadError::NoSchemaVersion);
    };
    if found != u64::from(expected) {
        let by = value.get("volley_version").and_then(|v| v.as_str()).unwrap_or("another version");
        return Err(ReadError::DocumentVersion { what, found, expected, by: by.to_string() });
    }
    let inner = |at: String, r: &RunResult| {
        check(r).map_err(|e| ReadError::Inner { at, source: Box::new(e) })
    };
    if what == "sweep" {
        let s: Sweep = serde_json::from_value(value).map_err(ReadError::Shape)?;
        for (i, run) in s.sweep.iter().enumerate() {
            inner(format!("sweep[{i}].result"), &run.result)?;
        }
        Ok(Document::Sweep(Box::new(s)))
    } else {
        let c: CapacityResult = serde_json::from_value(value).map_err(ReadError::Shape)?;
        for (i, step) in c.steps.iter().enumerate() {
            inner(format!("steps[{i}].result"), &step.result)?;
        }
        Ok(Document::Capacity(Box::new(c)))
    }
}

impl ReadError {
    /// Whether the file is not a volley result at all (as opposed to a damaged one).
    pub fn is_not_a_result(&self) -> bool {
        matches!(self, ReadError::NotJson(_) | ReadError::NoSchemaVersion)
    }
}

/// Reads, parses and checks a result file.
pub fn from_path(path: &Path) -> Result<RunResult, ReadError> {
    from_str(&std::fs::read_to_string(path)?)
}

/// Parses and checks the text of a result file.
pub fn from_str(text: &str) -> Result<RunResult, ReadError> {
    from_value(serde_json::from_str(text).map_err(ReadError::NotJson)?)
}

fn from_value(value: serde_json::Value) -> Result<RunResult, ReadError> {
    let Some(found) = value.get("schema_version").and_then(|v| v.as_u64()) else {
        return Err(ReadError::NoSchemaVersion);
    };
    if found != u64::from(SCHEMA_VERSION) {
        let by = value.get("volley_version").and_then(|v| v.as_str()).unwrap_or("another version");
        return Err(ReadError::SchemaVersion { found, by: by.to_string() });
    }
    let result: RunResult = serde_json::from_value(value).map_err(ReadError::Shape)?;
    check(&result)?;
    Ok(result)
}

fn counts(field: impl Into<String>, detail: String) -> ReadError {
    ReadError::Counts { field: field.into(), detail }
}

/// The checks [`from_str`] makes beyond the JSON shape: histograms decode, counts add up.
pub fn check(r: &RunResult) -> Result<(), ReadError> {
    let t = &r.totals;
    t.check().map_err(|e| counts("totals", e))?;
    let statuses: u64 = r.status_codes.values().fold(0u64, |a, n| a.saturating_add(*n));
    if statuses != t.responses {
        return Err(counts(
            "status_codes",
            format!("they sum to {statuses}, but totals.responses is {}", t.responses),
        ));
    }
    let kinds: u64 = r.failures.values().fold(0u64, |a, n| a.saturating_add(*n));
    if kinds != t.transport_failures {
        return Err(counts(
            "failures",
            format!(
                "they sum to {kinds}, but totals.transport_failures is {}",
                t.transport_failures
            ),
        ));
    }
    let mut endpoint_requests = 0u64;
    for (i, e) in r.endpoints.iter().enumerate() {
        let field = format!("endpoints[{i}]");
        let s: u64 = e.status_codes.values().fold(0u64, |a, n| a.saturating_add(*n));
        let f: u64 = e.failure_kinds.values().fold(0u64, |a, n| a.saturating_add(*n));
        if s.checked_add(f) != Some(e.requests) {
            return Err(counts(
                field,
                format!(
                    "{} {}: requests {} != responses {s} (status codes) + transport failures {f}",
                    e.method, e.name, e.requests
                ),
            ));
        }
        if e.failures < f || e.failures > e.requests {
            return Err(counts(
                field,
                format!(
                    "{} {}: failures {} must lie between its transport failures {f} and its requests {}",
                    e.method, e.name, e.failures, e.requests
                ),
            ));
        }
        endpoint_requests = endpoint_requests.saturating_add(e.requests);
    }
    if !r.endpoints.is_empty() && endpoint_requests != t.requests {
        return Err(counts(
            "endpoints",
            format!(
                "their requests sum to {endpoint_requests}, but totals.requests is {}",
                t.requests
            ),
        ));
    }
    // Every report sums the checks' counts; a sum no u64 holds is not a count anything made.
    let mut evaluations = Some(0u64);
    for c in &r.checks {
        evaluations = evaluations.and_then(|a| a.checked_add(c.passes)?.checked_add(c.fails));
    }
    if evaluations.is_none() {
        return Err(counts(
            "checks",
            "their passes and fails sum beyond any count a run can make".to_string(),
        ));
    }
    for (key, enc) in &r.histograms {
        histogram::decode(enc)
            .map_err(|source| ReadError::Histogram { key: key.clone(), source })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::CheckResult;

    /// A small valid result: 10 requests on one endpoint, 8 succeeded, 1 500, 1 timeout.
    fn valid() -> serde_json::Value {
        let mut h = histogram::new();
        for v in [1_000, 2_000, 30_000] {
            histogram::record(&mut h, v);
        }
        serde_json::json!({
            "schema_version": 1, "volley_version": "0", "config": {"mode": "quick",
            "concurrency": 1, "timeout_s": 1.0, "keepalive": true},
            "started_at": "1970-01-01T00:00:00Z", "ended_at": "1970-01-01T00:00:01Z",
            "duration_s": 1.0, "interrupted": false,
            "machine": {"hostname": "h", "os": "linux", "arch": "x", "cpus": 2, "threads": 1},
            "totals": {"requests": 10, "responses": 9, "transport_failures": 1,
            "succeeded": 8, "failed": 2, "dropped": 0, "iterations": 10,
            "interrupted_iterations": 0, "bytes_sent": 0, "bytes_received": 0, "rps": 10.0,
            "max_connections": 1},
            "metrics": {}, "failures": {"timeout": 1}, "status_codes": {"200": 8, "500": 1},
            "endpoints": [{"name": "/", "method": "GET", "requests": 10, "failures": 2,
              "bytes_received": 0, "latency": {"count": 9, "avg": 1.0, "min": 1.0, "med": 1.0,
              "max": 1.0, "p90": 1.0, "p95": 1.0, "p99": 1.0, "p999": 1.0}, "rps": 10.0,
              "failures_per_s": 2.0, "status_codes": {"200": 8, "500": 1},
              "failure_kinds": {"timeout": 1}}],
            "timeseries": [], "histograms": {"http_req_duration": histogram::encode(&h)}
        })
    }

    fn read(v: &serde_json::Value) -> Result<RunResult, ReadError> {
        from_str(&v.to_string())
    }

    #[test]
    fn a_valid_result_is_read() {
        let r = read(&valid()).unwrap();
        assert_eq!(r.totals.requests, 10);
    }

    #[test]
    fn corrupted_histograms_are_refused_by_name() {
        let mut v = valid();
        v["histograms"]["http_req_duration{name:/}"] = "not base64!".into();
        let e = read(&v).unwrap_err().to_string();
        assert!(e.starts_with("`histograms.http_req_duration{name:/}` is corrupted: "), "{e}");
        let mut v = valid();
        let good = v["histograms"]["http_req_duration"].as_str().unwrap().to_string();
        // Valid base64 of a truncated encoding.
        let truncated = {
            use base64::Engine as _;
            let bytes = base64::engine::general_purpose::STANDARD.decode(&good).unwrap();
            base64::engine::general_purpose::STANDARD.encode(&bytes[..bytes.len() / 2])
        };
        v["histograms"]["http_req_duration"] = truncated.into();
        let e = read(&v).unwrap_err().to_string();
        assert!(e.contains("`histograms.http_req_duration` is corrupted"), "{e}");
    }

    #[test]
    fn counts_that_do_not_add_up_are_refused_by_field() {
        type Corrupt = fn(&mut serde_json::Value);
        let cases: [(&str, Corrupt); 6] = [
            ("`totals` does not add up: requests 10 != responses 9 + transport failures 2", |v| {
                v["totals"]["transport_failures"] = 2.into()
            }),
            ("`totals` does not add up: requests 10 != succeeded 9 + failed 2", |v| {
                v["totals"]["succeeded"] = 9.into()
            }),
            ("`status_codes` does not add up: they sum to 10", |v| {
                v["status_codes"]["500"] = 2.into()
            }),
            ("`failures` does not add up: they sum to 0", |v| {
                v["failures"] = serde_json::json!({})
            }),
            ("`endpoints[0]` does not add up: GET /: requests 10 != responses 8", |v| {
                v["endpoints"][0]["status_codes"]["500"] = 0.into()
            }),
            ("`endpoints[0]` does not add up: GET /: failures 11", |v| {
                v["endpoints"][0]["failures"] = 11.into()
            }),
        ];
        for (want, corrupt) in cases {
            let mut v = valid();
            corrupt(&mut v);
            let e = read(&v).unwrap_err().to_string();
            assert!(e.starts_with(want), "{e}\nwanted {want}");
        }
        let mut r = read(&valid()).unwrap();
        let check =
            |name: &str, passes| CheckResult { name: name.into(), passes, ..Default::default() };
        r.checks = vec![check("a", u64::MAX), check("b", 1)];
        let e = super::check(&r).unwrap_err().to_string();
        assert!(e.starts_with("`checks` does not add up: their passes and fails sum"), "{e}");
        let mut v = valid();
        v["endpoints"][0]["requests"] = 5.into();
        v["endpoints"][0]["status_codes"] = serde_json::json!({"200": 4});
        v["endpoints"][0]["failures"] = 1.into();
        let e = read(&v).unwrap_err().to_string();
        assert!(e.starts_with("`endpoints` does not add up: their requests sum to 5"), "{e}");
    }

    #[test]
    fn not_results_say_so() {
        assert!(matches!(from_str("hello"), Err(ReadError::NotJson(_))));
        assert!(matches!(from_str(r#"{"metrics": {}}"#), Err(ReadError::NoSchemaVersion)));
        let e = from_str(r#"{"schema_version": 99, "volley_version": "9.0.0"}"#).unwrap_err();
        assert!(e.to_string().contains("schema version 99 (written by volley 9.0.0)"), "{e}");
        assert!(matches!(from_str(r#"{"schema_version": 1}"#), Err(ReadError::Shape(_))));
        let text = valid().to_string();
        assert!(matches!(from_str(&text[..text.len() / 2]), Err(ReadError::NotJson(_))));
    }

    /// Sweeps and capacity searches are told from runs, and the runs inside them are checked.
    #[test]
    fn documents_are_told_apart_and_their_runs_checked() {
        use crate::sweep::{SweepMode, SweepRun, analyze};
        let run = read(&valid()).unwrap();
        assert!(matches!(document_from_str(&valid().to_string()), Ok(Document::Run(_))));
        let runs = vec![SweepRun::from_result(1, 1, run.clone())];
        let (rows, analysis) = analyze(&runs, SweepMode::Throughput);
        let sweep = Sweep {
            schema_version: SWEEP_SCHEMA_VERSION,
            volley_version: "0".into(),
            command: vec!["app".into()],
            workload: "GET /".into(),
            balancer: "round-robin".into(),
            mode: SweepMode::Throughput,
            slos: Vec::new(),
            machine: run.machine.clone(),
            started_at: run.started_at.clone(),
            sweep: runs,
            rows,
            analysis,
        };
        let mut v = serde_json::to_value(&sweep).unwrap();
        assert!(matches!(document_from_str(&v.to_string()), Ok(Document::Sweep(s)) if *s == sweep));
        v["sweep"][0]["result"]["totals"]["succeeded"] = 9.into();
        let e = document_from_str(&v.to_string()).unwrap_err().to_string();
        assert!(e.starts_with("in `sweep[0].result`: `totals` does not add up"), "{e}");
        v["schema_version"] = 1.into();
        let e = document_from_str(&v.to_string()).unwrap_err().to_string();
        assert!(e.starts_with("it is a sweep of schema version 1 (written by volley 0)"), "{e}");

        use crate::capacity::{CapacityHead, CapacityStep, Phase, Search, Settings};
        let mut search = Search::new(Settings::default()).unwrap();
        let step = CapacityStep::new(1, Phase::Ramp, 10.0, 1.0, None, run.clone());
        search.record(10.0, &step.reasons);
        let head = CapacityHead {
            volley_version: "0".into(),
            workload: "GET /".into(),
            slos: vec![],
            machine: run.machine.clone(),
            started_at: run.started_at.clone(),
        };
        let c = CapacityResult::assemble(&search, vec![step], head);
        let mut v = serde_json::to_value(&c).unwrap();
        assert!(matches!(document_from_str(&v.to_string()), Ok(Document::Capacity(_))));
        v["steps"][0]["result"]["status_codes"] = serde_json::json!({});
        let e = document_from_str(&v.to_string()).unwrap_err().to_string();
        assert!(e.starts_with("in `steps[0].result`: `status_codes` does not add up"), "{e}");
    }
}
