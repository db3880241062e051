//! `schema/result.schema.json` and `schema/capacity.schema.json` against real output and
//! against the Rust types: a real run's result and a real capacity search validate, fully
//! populated synthetic documents validate, and every struct's fields are exactly the properties
//! the schema lists, so the schemas and the types cannot drift apart.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use volley_metrics::*;

use crate::support::*;

fn load(name: &str) -> Value {
    let path = format!("{}/schema/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).expect("the schema is JSON")
}

fn schema() -> Value {
    load("result.schema.json")
}

/// A validator of `schema`, with the result schema registered under its `$id` so that other
/// schemas (the capacity search's) can refer to it by relative URI, without any fetch.
fn validator_of(schema: &Value) -> jsonschema::Validator {
    let result = self::schema();
    let id = result["$id"].as_str().expect("the result schema has an $id").to_string();
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .with_resource(id, jsonschema::Resource::from_contents(result).unwrap())
        .build(schema)
        .expect("the schema is a valid draft 2020-12 schema")
}

fn validator() -> jsonschema::Validator {
    validator_of(&schema())
}

#[track_caller]
fn assert_valid(instance: &Value) {
    assert_valid_against(&validator(), instance, "result");
}

#[track_caller]
fn assert_valid_against(v: &jsonschema::Validator, instance: &Value, what: &str) {
    let errors: Vec<String> =
        v.iter_errors(instance).map(|e| format!("{} at {}", e, e.instance_path)).collect();
    assert!(errors.is_empty(), "{what} does not match the schema:\n{}", errors.join("\n"));
}

/// Every object definition lists exactly the fields the Rust type serializes: `cases` pairs a
/// definition (`(root)` for the schema itself) with a serialized instance that has them all.
#[track_caller]
fn assert_properties_match(schema: &Value, cases: &[(&str, &Value)]) {
    for (name, instance) in cases {
        let def = if *name == "(root)" { schema } else { &schema["$defs"][name] };
        let in_schema: BTreeSet<&String> = def["properties"].as_object().unwrap().keys().collect();
        let in_type: BTreeSet<&String> = instance.as_object().unwrap().keys().collect();
        assert_eq!(in_schema, in_type, "{name}: schema properties vs serialized fields");
    }
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
            streams: Some(4),
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
            failures_seen: BTreeMap::from([
                ("503".into(), FailureSeen { first_s: 0.25, last_s: 29.5 }),
                ("reset".into(), FailureSeen { first_s: 3.0, last_s: 3.0 }),
            ]),
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
    let cases: [(&str, &Value); 19] = [
        ("Group", &r["root_group"]),
        ("GroupCheck", &r["root_group"]["checks"][0]),
        ("RunConfig", &r["config"]),
        ("ScenarioConfig", &r["config"]["scenarios"][0]),
        ("Machine", &r["machine"]),
        ("Totals", &r["totals"]),
        ("Metric", &r["metrics"]["http_req_duration"]),
        ("LatencyStats", &r["endpoints"][0]["latency"]),
        ("EndpointStats", &r["endpoints"][0]),
        ("FailureSeen", &r["endpoints"][0]["failures_seen"]["503"]),
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
    assert_properties_match(&schema, &cases);
}

fn capacity_validator() -> jsonschema::Validator {
    validator_of(&load("capacity.schema.json"))
}

/// A capacity search with every optional field present, every reason kind used, and the fully
/// populated result inside its step.
fn synthetic_capacity() -> capacity::CapacityResult {
    use capacity::*;
    let reasons = vec![
        Reason::Slo {
            metric: "http_req_duration".into(),
            expression: "p(95)<200".into(),
            observed: Some(412.0),
        },
        Reason::Behind { achieved_rps: 61.0, offered_rps: 80.0 },
        Reason::Dropped { dropped: 12 },
        Reason::NoResponse { requests: 800 },
        Reason::Overloaded { why: "p95 latency reached 2100 ms, 10× the SLO's 200 ms".into() },
    ];
    let result = synthetic();
    let figures = StepFigures::of(80.0, 10.0, &result);
    CapacityResult {
        schema_version: CAPACITY_SCHEMA_VERSION,
        volley_version: "0.1.0".into(),
        workload: "GET http://127.0.0.1:3000/".into(),
        slos: vec!["http_req_duration: p(95)<200".into()],
        settings: Settings { max_rps: Some(1000.0), ..Settings::default() },
        machine: result.machine.clone(),
        started_at: "2026-11-22T05:00:00Z".into(),
        conclusion: Conclusion::Found,
        capacity_rps: Some(76.0),
        upper_rps: Some(80.0),
        bound_by: reasons.clone(),
        stopped_early: true,
        steps: vec![CapacityStep {
            index: 1,
            phase: Phase::Bisect,
            figures,
            good: false,
            reasons,
            overloaded: true,
            result,
        }],
        findings: vec!["Capacity: 76.00 req/s within the SLOs.".into()],
    }
}

#[test]
fn the_capacity_schema_is_valid_draft_2020_12() {
    capacity_validator();
    assert_eq!(
        load("capacity.schema.json")["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
}

#[test]
fn a_synthetic_capacity_search_validates_and_matches_the_types() {
    let c = serde_json::to_value(synthetic_capacity()).unwrap();
    assert_valid_against(&capacity_validator(), &c, "capacity search");
    let schema = load("capacity.schema.json");
    let cases: [(&str, &Value); 3] =
        [("Settings", &c["settings"]), ("CapacityStep", &c["steps"][0]), ("(root)", &c)];
    assert_properties_match(&schema, &cases);
    // Each kind of reason is one branch of `Reason`, with exactly the type's fields.
    let branches = schema["$defs"]["Reason"]["oneOf"].as_array().unwrap();
    let reasons = c["bound_by"].as_array().unwrap();
    assert_eq!(branches.len(), reasons.len(), "one branch per kind of reason");
    for reason in reasons {
        let kind = &reason["kind"];
        let branch = branches
            .iter()
            .find(|b| &b["properties"]["kind"]["const"] == kind)
            .unwrap_or_else(|| panic!("no branch for {kind}"));
        let in_schema: BTreeSet<&String> =
            branch["properties"].as_object().unwrap().keys().collect();
        let in_type: BTreeSet<&String> = reason.as_object().unwrap().keys().collect();
        assert_eq!(in_schema, in_type, "reason {kind}");
    }
}

#[test]
fn broken_capacity_searches_are_rejected() {
    let v = capacity_validator();
    let good = serde_json::to_value(synthetic_capacity()).unwrap();
    assert!(v.is_valid(&good));
    let mut no_capacity = good.clone();
    no_capacity.as_object_mut().unwrap().remove("capacity_rps");
    assert!(!v.is_valid(&no_capacity), "capacity_rps is required (null when none was found)");
    let mut none_found = good.clone();
    none_found["capacity_rps"] = Value::Null;
    assert!(v.is_valid(&none_found), "null: no good step");
    let mut conclusion = good.clone();
    conclusion["conclusion"] = "maybe".into();
    assert!(!v.is_valid(&conclusion));
    let mut reason = good.clone();
    reason["bound_by"][0]["kind"] = "vibes".into();
    assert!(!v.is_valid(&reason), "reasons are a closed set");
    // A step's result is checked against the result schema.
    let mut inner = good;
    inner["steps"][0]["result"].as_object_mut().unwrap().remove("totals");
    assert!(!v.is_valid(&inner), "each step carries a full result");
}

/// What `volley capacity -o` writes validates: a search of a single worker (50/s) that ramps
/// past its capacity and bisects back.
#[test]
fn a_real_capacity_search_validates() {
    let server =
        crate::support::capacity_server::QueueServer::start(std::time::Duration::from_millis(20));
    let dir = temp_dir();
    let out = dir.path().join("capacity.json");
    let o = volley(
        &[
            "capacity",
            &server.url(),
            "--slo",
            "http_req_duration: p(95)<100",
            "--start",
            "15",
            "--precision",
            "50%",
            "--step",
            "1s",
            "--settle",
            "0s",
            "-q",
            "-o",
            out.to_str().unwrap(),
        ],
        RUN_TIMEOUT,
    );
    // 99 when a loaded machine made even the start rate miss the SLO: the file is written and
    // valid all the same, which is what this test is about.
    assert!(matches!(o.code, Some(0 | 99)), "{}", o.streams());
    let value: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_valid_against(&capacity_validator(), &value, "the capacity search");
    let steps = value["steps"].as_array().unwrap();
    assert!(!steps.is_empty() && value["upper_rps"].is_number(), "{value:#}");
    for step in steps {
        assert_valid(&step["result"]);
    }
}

/// A validator of the sweep schema, with the result and capacity schemas it refers to
/// registered under their `$id`s.
fn sweep_validator() -> jsonschema::Validator {
    let resources = ["result.schema.json", "capacity.schema.json"].map(|name| {
        let s = load(name);
        let id = s["$id"].as_str().expect("an $id").to_string();
        (id, jsonschema::Resource::from_contents(s).unwrap())
    });
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .with_resources(resources.into_iter())
        .build(&load("sweep.schema.json"))
        .expect("a valid draft 2020-12 schema")
}

/// Throughput and capacity sweeps shaped as the report crate's fixtures, each result and search
/// inside a complete one, match the sweep schema, whose properties are exactly the types'
/// fields; a field the schema does not know, or a missing one, is caught.
#[test]
fn sweeps_match_their_schema() {
    let v = sweep_validator();
    let full = |mut s: volley_metrics::sweep::Sweep| {
        for run in &mut s.sweep {
            run.result = synthetic();
            run.backend_names = vec!["127.0.0.1:8081".into()];
            run.events = vec!["1.0 s: instance 1 exited".into()];
            run.other_cpu_pct = Some(3.0);
            run.balancer_cpu_pct = Some(4.0);
            run.generator_cpu_pct = Some(5.0);
            if run.capacity.is_some() {
                run.capacity = Some(Box::new(synthetic_capacity()));
            }
        }
        for row in &mut s.rows {
            row.other_cpu_pct = Some(3.0);
        }
        serde_json::to_value(&s).unwrap()
    };
    for (what, value) in [
        ("a throughput sweep", full(volley_report::fixture::sweep())),
        ("a capacity sweep", full(volley_report::fixture::capacity_sweep())),
    ] {
        assert_valid_against(&v, &value, what);
        let mut extra = value.clone();
        extra["sweep"][0]["unknown"] = 1.into();
        assert!(!v.is_valid(&extra), "{what}: an unknown field is caught");
        let mut missing = value.clone();
        missing["rows"][0].as_object_mut().unwrap().remove("p95_ms");
        assert!(!v.is_valid(&missing), "{what}: a missing field is caught");
    }
    let cap = full(volley_report::fixture::capacity_sweep());
    assert_eq!(cap["mode"], "capacity");
    let cases: [(&str, &Value); 4] = [
        ("SweepRun", &cap["sweep"][1]),
        ("SweepRow", &cap["rows"][1]),
        ("UslFit", &cap["analysis"]["usl"]),
        ("(root)", &cap),
    ];
    assert_properties_match(&load("sweep.schema.json"), &cases);
}

/// A real sweep, as `volley scale -o` writes it, matches the schema.
#[test]
fn a_real_sweep_validates() {
    let dir = temp_dir();
    let out = dir.path().join("sweep.json");
    let o = volley(
        &[
            "scale",
            "--instances",
            "1",
            "-n",
            "40",
            "-c",
            "2",
            "--warmup",
            "0s",
            "-q",
            "-o",
            out.to_str().unwrap(),
            "--",
            VOLLEY,
            "serve-demo",
            "--port",
            "{port}",
        ],
        RUN_TIMEOUT,
    );
    o.expect_code(0);
    let value: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_valid_against(&sweep_validator(), &value, "the sweep");
    assert_eq!(value["sweep"][0]["requests"], 40);
}
