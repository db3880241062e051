//! The CSV files through the binary: hostile names cannot attack a spreadsheet (issue 9, item
//! 16), and a one-day result renders in linear time (item 21).

use std::time::{Duration, Instant};

use volley_metrics::TimePoint;
use volley_report::fixture::Spec;

use crate::support::*;

/// Every cell of every CSV file, parsed as a spreadsheet would.
fn cells(text: &str) -> Vec<String> {
    let mut rdr = ::csv::ReaderBuilder::new().has_headers(false).from_reader(text.as_bytes());
    rdr.records().flat_map(|r| r.unwrap().iter().map(str::to_string).collect::<Vec<_>>()).collect()
}

#[test]
fn hostile_step_and_check_names_are_neutralised_in_every_csv_file() {
    let demo = demo();
    let dir = temp_dir();
    let plan = dir.path().join("plan.yaml");
    let hostile = [
        "=HYPERLINK(\"http://evil.example/\",\"x\")",
        "+cmd|' /C calc'!A0",
        "-2+3",
        "@SUM(1+1)*cmd|' /C calc'!A0",
        "\tstep",
        "\rstep",
    ];
    let mut text = format!(
        "base_url: {}\nscenarios:\n  s:\n    executor: shared-iterations\n    vus: 1\n    iterations: 2\n    flows:\n      - name: f\n        steps:\n",
        demo.url().trim_end_matches('/')
    );
    for (i, name) in hostile.iter().enumerate() {
        let quoted = serde_json::to_string(name).unwrap(); // a JSON string is a YAML string
        let path = if i % 2 == 0 { "/status/500" } else { "/bytes/10" };
        text.push_str(&format!(
            "          - get: {path}\n            name: {quoted}\n            check: {{ status: 200 }}\n"
        ));
    }
    std::fs::write(&plan, text).unwrap();
    let result = dir.path().join("r.json");
    volley(&["run", plan.to_str().unwrap(), "-q", "-o", result.to_str().unwrap()], RUN_TIMEOUT)
        .expect_code(0);
    let prefix = dir.path().join("out");
    volley(
        &["report", result.to_str().unwrap(), "--format", "csv", "-o", prefix.to_str().unwrap()],
        RUN_TIMEOUT,
    )
    .expect_code(0);
    let mut seen = Vec::new();
    for suffix in ["_stats", "_stats_history", "_failures", "_exceptions"] {
        let text = std::fs::read_to_string(dir.path().join(format!("out{suffix}.csv"))).unwrap();
        for cell in cells(&text) {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "{suffix}.csv has a formula cell: {cell:?}"
            );
            assert!(!cell.chars().any(|c| c.is_control()), "{suffix}.csv: {cell:?}");
            seen.push(cell);
        }
    }
    // Every name is still there, as text: a leading `'`, control characters made visible.
    for name in &hostile[..4] {
        assert!(seen.contains(&format!("'{name}")), "{name:?} missing from {seen:?}");
    }
    assert!(seen.contains(&"\u{2409}step".to_string()), "{seen:?}");
    assert!(seen.contains(&"\u{240d}step".to_string()), "{seen:?}");
    // The 500s are failures rows under their neutralised names.
    let failures = std::fs::read_to_string(dir.path().join("out_failures.csv")).unwrap();
    assert!(failures.contains("'=HYPERLINK("), "{failures}");
    assert!(failures.contains("HTTPError('500 Server Error: Internal Server Error for url: "));
}

#[test]
fn a_one_day_result_renders_to_csv_in_linear_time() {
    let dir = temp_dir();
    // A short synthetic run whose time series is stretched to one day (86,400 points, each a
    // copy of a real second of it): what the CSV's cost depends on is the number of points.
    let mut day = Spec::steady(2, 3, 25.0, 4).build();
    let second = day.timeseries[0].clone();
    day.timeseries = (0..86_400).map(|t| TimePoint { t, ..second.clone() }).collect();
    let path = dir.path().join("day.json");
    std::fs::write(&path, serde_json::to_string(&day).unwrap()).unwrap();
    let prefix = dir.path().join("day");
    let (p, prefix_s) = (path.to_str().unwrap(), prefix.to_str().unwrap());
    let start = Instant::now();
    let out = volley(&["report", p, "--format", "csv", "-o", prefix_s], Duration::from_secs(120));
    let csv_time = start.elapsed();
    out.expect_code(0);
    // The same result as HTML, which was always linear: the CSV must not cost more than a
    // small multiple of it (it was 18 times slower, quadratic). Measured, not assumed: both
    // include reading the 86,400-point result.
    let html = dir.path().join("day.html");
    let start = Instant::now();
    volley(&["report", p, "-o", html.to_str().unwrap()], Duration::from_secs(120)).expect_code(0);
    let html_time = start.elapsed();
    eprintln!("one-day result: csv {csv_time:?}, html {html_time:?}");
    let bound = if cfg!(debug_assertions) { 120 } else { 2 };
    assert!(csv_time < Duration::from_secs(bound), "csv took {csv_time:?}");
    assert!(csv_time < html_time * 3, "csv {csv_time:?} vs html {html_time:?}");
    let history = std::fs::read_to_string(dir.path().join("day_stats_history.csv")).unwrap();
    assert_eq!(history.lines().count(), 86_401);
    let last: Vec<&str> = history.lines().last().unwrap().split(',').collect();
    assert_eq!(last[17], (86_400u64 * 3).to_string());
    assert!(last[6..17].iter().all(|c| *c != "N/A"), "{last:?}");
}
