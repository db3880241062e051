//! `schema/result.schema.json` against real output and against the Rust types: a real run's
//! result validates, a fully populated synthetic `RunResult` validates, and every struct's
//! fields are exactly the properties the schema lists, so the schema and the types cannot
//! drift apart.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use volley_metrics::*;

use crate::support::*;

fn schema() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema/result.schema.json");
    let text = std::fs::read_to_string(path).expect("schema/result.schema.json");
    serde_json::from_str(&text).expect("the schema is JSON")
}

fn validator() -> jsonschema::Validator {
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&schema())
        .expect("the schema is a valid draft 2020-12 schema")
}

#[track_caller]
fn assert_valid(instance: &Value) {
    let v = validator();
    let errors: Vec<String> =
        v.iter_errors(instance).map(|e| format!("{} at {}", e, e.instance_path)).collect();
    assert!(errors.is_empty(), "result does not match the schema:\n{}", errors.join("\n"));
}

fn latency(base: f64) -> LatencyStats {
    LatencyStats {
        count: 10,
        avg: base,
        min: base / 2.0,
        med: base,
        max: base * 3.0,
        p90: base * 2.0,
        p95: base * 2.2,
        p99: base * 2.5,
        p999: base * 2.9,
    }
}

fn metric(kind: MetricKind, contains: &str, values: &[(&str, f64)]) -> Metric {
    Metric {
        kind,
        contains: serde_json::from_value(serde_json::json!(contains)).unwrap(),
        values: values.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        thresholds: BTreeMap::from([("rate<0.01".to_string(), ThresholdOutcome { ok: true })]),
    }
}

/// A result with every optional field present and every list non-empty.
fn synthetic() -> RunResult {
    let sample =
        ResourceSample { t: 1.0, label: "instance 1".into(), cpu_pct: 97.5, mem_bytes: 50 << 20 };
    let usage = InstanceUsage {
        label: "instance 1".into(),
        pids: vec![4242],
        cpu_pct_avg: 80.0,
        cpu_pct_max: 99.0,
        mem_bytes_avg: 4.0e7,
        mem_bytes_max: 50 << 20,
        restarts: 1,
        samples: vec![sample.clone()],
    };
    let trend = [
        ("avg", 1.5),
        ("min", 0.2),
        ("med", 1.1),
        ("max", 9.0),
        ("p(90)", 2.0),
        ("p(95)", 3.0),
        ("p(99)", 5.0),
        ("p(99.9)", 8.0),
    ];
    RunResult {
        schema_version: SCHEMA_VERSION,
        volley_version: "0.1.0".into(),
        config: RunConfig {
            mode: "plan".into(),
            target: Some("http://127.0.0.1:3000".into()),
            method: Some("GET".into()),
            concurrency: 50,
            requests: Some(1000),
            duration_s: Some(30.0),
            timeout_s: 60.0,
            keepalive: true,
            expected_statuses: StatusSet(vec![(200, 299), (404, 404)]),
            plan: Some("plan.yaml".into()),
            scenarios: vec![ScenarioConfig {
                name: "shoppers".into(),
                executor: "ramping-vus".into(),
                description: "up to 200 VUs over 3 stages".into(),
            }],
            label: Some("baseline".into()),
            command_line: vec!["volley".into(), "run".into(), "plan.yaml".into()],
            execution_segment: Some("1/4:1/2".into()),
            execution_segment_sequence: Some("0,1/4,1/2,3/4,1".into()),
            plan_fingerprint: Some("0123456789abcdef0123456789abcdef".into()),
            merged_segments: vec!["0:1/4".into(), "1/4:1/2".into()],
        },
        started_at: "2026-11-22T05:00:00Z".into(),
        ended_at: "2026-11-22T05:00:30.5Z".into(),
        duration_s: 30.5,
        interrupted: false,
        aborted_by: Some("p(95)<500".into()),
        machine: Machine {
            hostname: "host".into(),
            os: "linux".into(),
            arch: "x86_64".into(),
            cpus: 2,
            memory_bytes: 8 << 30,
            threads: 2,
        },
        totals: Totals {
            requests: 1000,
            responses: 990,
            transport_failures: 10,
            succeeded: 980,
            failed: 20,
            dropped: 3,
            iterations: 500,
            interrupted_iterations: 1,
            bytes_sent: 100_000,
            bytes_received: 2_000_000,
            rps: 32.8,
            max_connections: 50,
            retries: 2,
        },
        root_group: Group::root(vec![CheckResult {
            name: "status 200".into(),
            step: "predict".into(),
            passes: 9,
            fails: 1,
        }]),
        metrics: BTreeMap::from([
            (
                "http_reqs".into(),
                metric(MetricKind::Counter, "default", &[("count", 1000.0), ("rate", 32.8)]),
            ),
            ("http_req_duration".into(), metric(MetricKind::Trend, "time", &trend)),
            ("http_req_duration{name:predict}".into(), metric(MetricKind::Trend, "time", &trend)),
            (
                "http_req_duration{expected_response:true}".into(),
                metric(MetricKind::Trend, "time", &trend),
            ),
            (
                "http_req_failed".into(),
                metric(
                    MetricKind::Rate,
                    "default",
                    &[("rate", 0.02), ("passes", 20.0), ("fails", 980.0)],
                ),
            ),
            (
                "vus".into(),
                metric(
                    MetricKind::Gauge,
                    "default",
                    &[("value", 50.0), ("min", 0.0), ("max", 50.0)],
                ),
            ),
            (
                "data_received".into(),
                metric(MetricKind::Counter, "data", &[("count", 2e6), ("rate", 65573.0)]),
            ),
        ]),
        failures: BTreeMap::from([("reset".into(), 4), ("timeout".into(), 6)]),
        status_codes: BTreeMap::from([("200".into(), 980), ("503".into(), 10)]),
        endpoints: vec![EndpointStats {
            name: "predict".into(),
            method: "POST".into(),
            requests: 1000,
            failures: 20,
            bytes_received: 2_000_000,
            body_bytes: 1_900_000,
            latency: latency(1.5),
            rps: 32.8,
            failures_per_s: 0.66,
            status_codes: BTreeMap::from([("200".into(), 980), ("503".into(), 10)]),
            failure_kinds: BTreeMap::from([("reset".into(), 4), ("timeout".into(), 6)]),
        }],
        checks: vec![CheckResult {
            name: "status 200".into(),
            step: "predict".into(),
            passes: 980,
            fails: 20,
        }],
        thresholds: vec![ThresholdResult {
            metric: "http_req_duration".into(),
            expression: "p(95)<500".into(),
            ok: true,
            observed: Some(3.0),
            abort_on_fail: true,
        }],
        timeseries: vec![TimePoint {
            t: 0,
            requests: 33,
            failures: 1,
            transport_failures: 1,
            dropped: 0,
            bytes_received: 66_000,
            body_bytes: 62_000,
            bytes_sent: 3300,
            vus: 50,
            connections: 50,
            latency: Some(latency(1.4)),
            cumulative_percentiles: summary::ladder(&{
                let mut h = histogram::new();
                histogram::record(&mut h, 1400);
                h
            }),
            server: vec![sample.clone()],
        }],
        open_model: Some(OpenModel {
            target_rps: 100.0,
            achieved_rps: 99.5,
            dropped: 3,
            generator_busy: 0.97,
            generator_limited: true,
            raw_latency: latency(1.0),
            schedule_lag: latency(0.1),
        }),
        server: Some(ServerObservation {
            instances: vec![usage.clone()],
            generator: Some(usage.clone()),
            balancer: Some(usage),
        }),
        backends: vec![BackendStats {
            backend: "instance-1".into(),
            requests: 1000,
            failures: 20,
            latency: latency(1.5),
        }],
        protocols: BTreeMap::from([("HTTP/2".into(), 1000)]),
        histograms: BTreeMap::from([("http_req_duration".into(), "SGlzdG9ncmFt".into())]),
    }
}

#[test]
fn the_schema_is_valid_draft_2020_12() {
    validator();
    assert_eq!(schema()["$schema"], "https://json-schema.org/draft/2020-12/schema");
}

#[test]
fn a_synthetic_result_validates() {
    let r = synthetic();
    assert!(r.totals.check().is_ok(), "the synthetic result keeps the invariants");
    assert_valid(&serde_json::to_value(&r).unwrap());
}

#[test]
fn a_real_run_validates() {
    let server = TestServer::start(Behavior::ok().fail_nth(3, Action::Reset));
    let (_, out) = volley_json(&[&server.url("/"), "-n", "50", "-c", "2"], 0);
    let value: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_valid(&value);

    let server = TestServer::start(Behavior::ok());
    let (_, out) = volley_json(&[&server.url("/"), "--rps", "100", "-d", "1s", "-c", "5"], 0);
    let value: Value = serde_json::from_str(&out.stdout).unwrap();
    assert!(value.get("open_model").is_some());
    assert_valid(&value);
}

#[test]
fn broken_results_are_rejected() {
    let v = validator();
    let good = serde_json::to_value(synthetic()).unwrap();
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("totals");
    assert!(!v.is_valid(&missing), "totals is required");
    let mut unknown_kind = good.clone();
    unknown_kind["failures"]["exploded"] = 1.into();
    assert!(!v.is_valid(&unknown_kind), "failure kinds are a closed set");
    let mut bad_trend = good.clone();
    bad_trend["metrics"]["http_req_duration"]["values"].as_object_mut().unwrap().remove("p(95)");
    assert!(!v.is_valid(&bad_trend), "a trend has k6's keys");
    let mut nan = good.clone();
    nan["duration_s"] = Value::Null; // what serde_json writes for NaN
    assert!(!v.is_valid(&nan));
    let mut bad_time = good;
    bad_time["started_at"] = "yesterday".into();
    assert!(!v.is_valid(&bad_time), "timestamps are RFC 3339");
}

/// Every object definition lists exactly the fields the Rust type serializes (all of them
/// present in the synthetic result), no more, no fewer.
#[test]
fn schema_properties_match_the_types() {
    let schema = schema();
    let r = serde_json::to_value(synthetic()).unwrap();
    let defs = &schema["$defs"];
    let cases: [(&str, &Value); 18] = [
        ("Group", &r["root_group"]),
        ("GroupCheck", &r["root_group"]["checks"][0]),
        ("RunConfig", &r["config"]),
        ("ScenarioConfig", &r["config"]["scenarios"][0]),
        ("Machine", &r["machine"]),
        ("Totals", &r["totals"]),
        ("Metric", &r["metrics"]["http_req_duration"]),
        ("LatencyStats", &r["endpoints"][0]["latency"]),
        ("EndpointStats", &r["endpoints"][0]),
        ("CheckResult", &r["checks"][0]),
        ("ThresholdResult", &r["thresholds"][0]),
        ("TimePoint", &r["timeseries"][0]),
        ("OpenModel", &r["open_model"]),
        ("ServerObservation", &r["server"]),
        ("InstanceUsage", &r["server"]["instances"][0]),
        ("ResourceSample", &r["server"]["instances"][0]["samples"][0]),
        ("BackendStats", &r["backends"][0]),
        ("(root)", &r),
    ];
    for (name, instance) in cases {
        let def = if name == "(root)" { &schema } else { &defs[name] };
        let in_schema: BTreeSet<&String> = def["properties"].as_object().unwrap().keys().collect();
        let in_type: BTreeSet<&String> = instance.as_object().unwrap().keys().collect();
        assert_eq!(in_schema, in_type, "{name}: schema properties vs serialized fields");
    }
}
