//! `volley merge` through the binary: shards of one plan run together against one local
//! server (whose own count is the truth), merged: counts equal the unsegmented run's and the
//! server's, merged percentiles equal those of the shards' histograms merged by hand, a
//! threshold crossed only in aggregate fails the merge (exit 99), and results of different
//! tests or overlapping segments are refused (exit 2).

use std::path::{Path, PathBuf};

use crate::segments::run_shards;
use crate::support::*;
use volley_metrics::histogram;

fn plan(dir: &Path, url: &str, threshold: &str) -> String {
    let path = dir.join("plan.yaml");
    let text = format!(
        "base_url: {url}\nscenarios:\n  s:\n    executor: shared-iterations\n    vus: 4\n    \
         iterations: 200\n    flows:\n      - steps:\n          - {{ get: /a, name: a, check: {{ status: 200 }} }}\n\
         thresholds:\n  http_reqs: [\"{threshold}\"]\n  \"http_req_duration{{name:a}}\": [\"p(99)<5000\"]\n"
    );
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

fn save(dir: &Path, results: &[RunResult]) -> Vec<PathBuf> {
    results
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let p = dir.join(format!("shard{i}.json"));
            std::fs::write(&p, serde_json::to_string(r).unwrap()).unwrap();
            p
        })
        .collect()
}

fn merge(files: &[PathBuf], extra: &[&str], code: i32) -> (Output, PathBuf) {
    let out = files[0].with_file_name("merged.json");
    let mut args = vec!["merge"];
    args.extend(files.iter().map(|p| p.to_str().unwrap()));
    args.extend(["-o", out.to_str().unwrap(), "-q"]);
    args.extend(extra);
    let o = volley(&args, RUN_TIMEOUT);
    o.expect_code(code);
    (o, out)
}

#[test]
fn shards_merge_into_the_unsegmented_run() {
    let server = TestServer::start(Behavior::ok());
    let dir = temp_dir();
    let plan = plan(dir.path(), &server.url(""), "count<1000");
    let (whole, _) = volley_json(&["run", &plan], 0);
    assert_eq!(whole.totals.requests, 200);
    for n in [2u64, 4] {
        let before = server.requests();
        let shards = run_shards(&["run", &plan], n);
        let files = save(dir.path(), &shards);
        let report = dir.path().join("merged.html");
        let (_, out) = merge(&files, &["--report", report.to_str().unwrap()], 0);
        let m = read_result(&out);
        assert_accounting(&m);
        assert_eq!(server.requests() - before, 200, "the server's count, {n} shards");
        assert_eq!(m.totals.requests, whole.totals.requests);
        assert_eq!(m.totals.iterations, whole.totals.iterations);
        assert_eq!(m.endpoints[0].requests, 200);
        assert_eq!(m.metrics["http_reqs"].values["count"], 200.0);
        assert_eq!(m.root_group.checks[0].passes, 200);
        assert_eq!(m.config.execution_segment, None, "the whole test");
        assert_eq!(m.config.merged_segments.len(), n as usize);
        // The shards' histograms merged by hand give the merged percentiles.
        for key in ["http_req_duration", "http_req_duration{name:a}", "iteration_duration"] {
            let mut h = histogram::new();
            for s in &shards {
                h.add(histogram::decode(&s.histograms[key]).unwrap()).unwrap();
            }
            assert_eq!(h.len(), 200, "{key}");
            let got = histogram::decode(&m.histograms[key]).unwrap();
            assert_eq!(got, h, "{key}");
            let v = &m.metrics[key].values;
            assert_eq!(v["p(95)"], h.value_at_quantile(0.95) as f64 / 1000.0, "{key}");
            assert_eq!(v["max"], h.max() as f64 / 1000.0, "{key}");
            assert_eq!(v["count"], 200.0, "{key}");
        }
        assert!(std::fs::read_to_string(&report).unwrap().contains("<html"));
        ordinary(&out, &files[0]);
    }
}

/// The merged result is an ordinary result: every report format and `compare` read it.
fn ordinary(merged: &Path, other: &Path) {
    let m = merged.to_str().unwrap();
    let html = volley(&["report", m, "--format", "html"], RUN_TIMEOUT);
    assert!(html.expect_code(0).stdout.contains("<html"), "{}", html.streams());
    let md = volley(&["report", m, "--format", "md"], RUN_TIMEOUT);
    assert!(md.expect_code(0).stdout.contains("200"), "{}", md.streams());
    let k6 = volley(&["report", m, "--format", "k6"], RUN_TIMEOUT);
    let k6: serde_json::Value = serde_json::from_str(&k6.expect_code(0).stdout).unwrap();
    assert_eq!(k6["metrics"]["http_reqs"]["count"], serde_json::json!(200), "{k6}");
    let c = volley(&["compare", m, other.to_str().unwrap()], RUN_TIMEOUT);
    assert!(!c.expect_code(0).stdout.is_empty());
}

#[test]
fn arrival_rate_shards_add_up_to_the_server_count_and_the_whole_run() {
    let server = TestServer::start(Behavior::ok());
    let dir = temp_dir();
    let path = dir.path().join("open.yaml");
    let text = format!(
        "base_url: {}\nscenarios:\n  s:\n    executor: constant-arrival-rate\n    rate: 60\n    \
         duration: 1s\n    pre_allocated_vus: 6\n    flows:\n      - steps:\n          - {{ get: /a }}\n",
        server.url("")
    );
    std::fs::write(&path, text).unwrap();
    let plan = path.to_str().unwrap();
    let (whole, _) = volley_json(&["run", plan], 0);
    assert_eq!((whole.totals.requests, whole.totals.dropped), (60, 0));
    let before = server.requests();
    let shards = run_shards(&["run", plan], 3);
    let files = save(dir.path(), &shards);
    let (_, out) = merge(&files, &[], 0);
    let m = read_result(&out);
    assert_accounting(&m);
    assert_eq!(server.requests() - before, 60, "the server's count");
    assert_eq!(m.totals.requests + m.totals.dropped, 60);
    assert_eq!(m.totals.requests, server.requests() - before);
    // Each shard's target is its share (20 of the 60 arrivals in 1 s), so its own report
    // reads achieved against what it was asked for, not a third of the plan's rate; the
    // shares add back up to the plan's rate.
    for s in &shards {
        let om = s.open_model.as_ref().unwrap();
        assert_eq!(om.target_rps, 20.0, "{:?}", s.config.execution_segment);
        assert_eq!(s.totals.requests + s.totals.dropped, 20);
    }
    assert_eq!(m.open_model.as_ref().unwrap().target_rps, 60.0);
}

#[test]
fn a_threshold_crossed_only_in_aggregate_fails_the_merge() {
    let server = TestServer::start(Behavior::ok());
    let dir = temp_dir();
    // Each half sends 100 requests (under 150); together they send 200.
    let plan = plan(dir.path(), &server.url(""), "count<150");
    let shards = run_shards(&["run", &plan], 2);
    assert!(shards.iter().all(|s| s.thresholds.iter().all(|t| t.ok)));
    let files = save(dir.path(), &shards);
    let (_, out) = merge(&files, &[], 99);
    let m = read_result(&out);
    let t = m.thresholds.iter().find(|t| t.metric == "http_reqs").unwrap();
    assert!(!t.ok);
    assert_eq!(t.observed, Some(200.0));
    assert!(!m.metrics["http_reqs"].thresholds["count<150"].ok);
}

#[test]
fn different_tests_and_overlapping_segments_are_refused() {
    let server = TestServer::start(Behavior::ok());
    let dir = temp_dir();
    let a = volley_json(&[&server.url("/a"), "-n", "5", "-c", "1"], 0).0;
    let b = volley_json(&[&server.url("/b"), "-n", "5", "-c", "1"], 0).0;
    let files = save(dir.path(), &[a.clone(), b]);
    let (o, _) = merge(&files, &[], 2);
    assert!(o.stderr.contains("different tests"), "{}", o.streams());
    let files = save(dir.path(), &[a.clone(), a]);
    let (o, _) = merge(&files, &[], 2);
    assert!(o.stderr.contains("overlap"), "{}", o.streams());
    // Shards 1 and 3 of 3 without shard 2: the gap is named.
    let args = [&server.url("/a"), "-n", "6", "-c", "3"];
    let shards = run_shards(&args, 3);
    let files = save(dir.path(), &[shards[0].clone(), shards[2].clone()]);
    let (o, _) = merge(&files, &[], 2);
    assert!(o.stderr.contains("gap") && o.stderr.contains("1/3:2/3"), "{}", o.streams());
}
