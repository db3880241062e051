//! Reports of real runs: `volley report` in every format, `--report FILE` by extension,
//! `volley compare` of two real runs, and one clear message for every bad input.
//! Rendering details (snapshots, findings rules, escaping) are unit-tested in the report crate.

use std::path::Path;

use serde_json::Value;

use crate::support::*;

/// Runs `volley URL ARGS -o FILE -q` against a fresh demo service and returns the result path.
fn real_run(dir: &Path, name: &str, url: &str, args: &[&str]) -> String {
    let out = dir.join(name).to_string_lossy().into_owned();
    let mut all = vec![url];
    all.extend_from_slice(args);
    all.extend(["-o", out.as_str(), "-q"]);
    volley(&all, RUN_TIMEOUT).expect_code(0);
    out
}

fn report(args: &[&str], code: i32) -> Output {
    let out = volley(args, RUN_TIMEOUT);
    out.expect_code(code);
    out
}

#[test]
fn real_run_renders_in_every_format() {
    let demo = demo();
    let dir = temp_dir();
    let url = format!("{}/flaky?p=0.2", demo.url());
    let result_path = real_run(dir.path(), "run.json", &url, &["-n", "400", "-c", "4"]);
    let result = read_result(Path::new(&result_path));
    assert_eq!(result.totals.requests, 400);

    let md = report(&["report", &result_path, "--format", "md", "--glossary"], 0).stdout;
    assert!(md.contains("## Findings"), "{md}");
    assert!(md.contains("| Requests completed | 400 |"), "{md}");
    assert!(
        md.contains(&format!(
            "{} of requests failed ({} of 400)",
            volley_report::format::pct(result.totals.error_rate()),
            result.totals.failed
        )),
        "{md}"
    );
    assert!(md.contains("500 Internal Server Error"));
    assert!(md.contains("## Glossary"));

    let html_path = dir.path().join("run.html");
    report(&["report", &result_path, "-o", html_path.to_str().unwrap()], 0);
    let html = std::fs::read_to_string(&html_path).unwrap();
    for id in ["chart-rps", "chart-latency", "chart-vus", "chart-failures", "chart-spectrum"] {
        assert!(html.contains(id), "missing {id}");
    }
    assert!(!html.contains("<script"), "the page needs no script");

    let prefix = dir.path().join("locust");
    report(&["report", &result_path, "--format", "csv", "-o", prefix.to_str().unwrap()], 0);
    let stats = std::fs::read_to_string(dir.path().join("locust_stats.csv")).unwrap();
    assert!(stats.contains(",Aggregated,400,"), "{stats}");
    assert!(dir.path().join("locust_stats_history.csv").exists());
    let failures = std::fs::read_to_string(dir.path().join("locust_failures.csv")).unwrap();
    assert!(
        failures.contains("HTTPError('500 Server Error: Internal Server Error for url: "),
        "{failures}"
    );
    let exceptions = std::fs::read_to_string(dir.path().join("locust_exceptions.csv")).unwrap();
    assert_eq!(exceptions, "Count,Message,Traceback,Nodes\r\n");

    let junit = report(&["report", &result_path, "--format", "junit"], 0).stdout;
    assert!(junit.starts_with("<?xml") && junit.contains("<testsuites"), "{junit}");

    // json: the result file itself, re-validated.
    let json = report(&["report", &result_path, "--format", "json"], 0).stdout;
    assert_eq!(parse_result(&json), result);
    let value: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["metrics"]["http_reqs"]["values"]["count"], 400.0);
    let schema_path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema/result.schema.json");
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(schema_path).unwrap()).unwrap();
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .build(&schema)
        .expect("the schema is a valid draft 2020-12 schema");
    let errors: Vec<String> =
        validator.iter_errors(&value).map(|e| format!("{e} at {}", e.instance_path)).collect();
    assert!(
        errors.is_empty(),
        "report --format json output does not match the schema: {errors:#?}"
    );
}

#[test]
fn report_flag_picks_the_format_from_the_extension() {
    let demo = demo();
    let dir = temp_dir();
    for name in ["r.md", "r.html", "r.xml", "r.json"] {
        let path = dir.path().join(name);
        let url = format!("{}/", demo.url());
        volley(
            &[&url, "-n", "20", "-c", "2", "-q", "--report", path.to_str().unwrap()],
            RUN_TIMEOUT,
        )
        .expect_code(0);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let expected = match name {
            "r.md" => "# Load test report",
            "r.html" => "<!doctype html>",
            "r.xml" => "<?xml",
            _ => "\"schema_version\"",
        };
        assert!(text.contains(expected), "{name}: {text}");
    }
    let csv = dir.path().join("r.csv");
    volley(&[&demo.url(), "-n", "20", "-q", "--report", csv.to_str().unwrap()], RUN_TIMEOUT)
        .expect_code(0);
    assert!(dir.path().join("r_stats.csv").exists());
    let out = volley(&[&demo.url(), "-n", "5", "-q", "--report", "r.pdf"], RUN_TIMEOUT);
    assert_eq!(out.code, Some(2), "{}", out.streams());
    assert!(out.stderr.contains(".md, .html, .csv, .xml"), "{}", out.stderr);
}

#[test]
fn compare_two_real_runs() {
    let demo = demo_with_threads(1);
    let dir = temp_dir();
    let url = format!("{}/delay/5", demo.url());
    let a = real_run(dir.path(), "a.json", &url, &["-d", "3s", "-c", "1"]);
    let b = real_run(dir.path(), "b.json", &url, &["-d", "3s", "-c", "8"]);
    let md = report(&["compare", &a, &b, "--labels", "one user,eight users"], 0).stdout;
    assert!(md.contains("| Metric | one user | eight users | Δ vs one user |"), "{md}");
    assert!(md.contains("With eight users the service completed"), "{md}");
    assert!(md.contains("more requests per second"), "{md}");
    assert!(md.contains("## Method"));
    let html_path = dir.path().join("cmp.html");
    report(&["compare", &a, &b, "-o", html_path.to_str().unwrap()], 0);
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(html.contains("chart-rps") && html.contains("a vs b"), "labels default to file names");
}

#[test]
fn bad_inputs_get_one_clear_message() {
    let dir = temp_dir();
    let missing = dir.path().join("missing.json");
    let out = report(&["report", missing.to_str().unwrap()], 2);
    assert!(out.stderr.contains("cannot read the result file"), "{}", out.stderr);
    assert_eq!(out.stderr.lines().filter(|l| l.starts_with("error:")).count(), 1);

    let not_json = dir.path().join("notes.json");
    std::fs::write(&not_json, "hello").unwrap();
    let out = report(&["report", not_json.to_str().unwrap()], 2);
    assert!(out.stderr.contains("not JSON"), "{}", out.stderr);

    let other = dir.path().join("k6.json");
    std::fs::write(&other, r#"{"metrics": {}}"#).unwrap();
    let out = report(&["report", other.to_str().unwrap()], 2);
    assert!(out.stderr.contains("no `schema_version`"), "{}", out.stderr);

    let future = dir.path().join("future.json");
    std::fs::write(&future, r#"{"schema_version": 99, "volley_version": "9.0.0"}"#).unwrap();
    let out = report(&["report", future.to_str().unwrap(), "--format", "html"], 2);
    assert!(out.stderr.contains("schema version 99 (written by volley 9.0.0)"), "{}", out.stderr);

    let truncated = dir.path().join("truncated.json");
    std::fs::write(&truncated, r#"{"schema_version": 1}"#).unwrap();
    let out = report(&["report", truncated.to_str().unwrap()], 2);
    assert!(out.stderr.contains("not a valid volley result"), "{}", out.stderr);

    let out = report(&["compare", other.to_str().unwrap()], 2);
    assert!(out.stderr.contains("at least two result files"), "{}", out.stderr);
    let out = report(&["compare", "a.json", "b.json", "--labels", "x"], 2);
    assert!(out.stderr.contains("--labels has 1 names for 2 result files"), "{}", out.stderr);
    let out = report(&["compare", missing.to_str().unwrap(), other.to_str().unwrap()], 2);
    assert!(out.stderr.contains("cannot read the result file"), "{}", out.stderr);
}
