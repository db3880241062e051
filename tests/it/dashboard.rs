//! The live dashboard (`--dashboard=127.0.0.1:0`) of a real run: the event stream and
//! Prometheus' `/metrics` while it runs (values rise, counts add up with the final result),
//! k6's REST API driven by the real k6 CLI, and the dashboard's security rules.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::http::{self, get, request};
use crate::support::*;

/// Starts `volley ARGS` and waits for the `dashboard at http://ADDR/` line; the child and ADDR.
fn start(args: &[&str]) -> (Spawned, String) {
    let child = Spawned::start(volley_command(args));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let err = child.stderr_so_far();
        if let Some(rest) = err.split("dashboard at http://").nth(1) {
            let addr = rest.split(['/', '?', '\n']).next().unwrap().to_string();
            return (child, addr);
        }
        assert!(Instant::now() < deadline, "no dashboard line; stderr:\n{err}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One parsed sample of the exposition format.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A careful parser of the Prometheus text format 0.0.4: `# HELP`/`# TYPE` lines, then
/// `name{label="value",...} number` with the format's escapes. Panics on anything else, and
/// checks that every sample belongs to a declared family of the right kind.
fn parse_prometheus(text: &str) -> Vec<Sample> {
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut out = Vec::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(
                matches!(kind, "counter" | "gauge" | "histogram" | "summary" | "untyped"),
                "{line}"
            );
            assert!(types.insert(name.into(), kind.into()).is_none(), "TYPE twice: {line}");
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        assert!(!line.starts_with('#'), "unknown comment: {line}");
        let name_end = line.find(['{', ' ']).expect("a name");
        let name = &line[..name_end];
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
                && !name.starts_with(|c: char| c.is_ascii_digit()),
            "bad metric name: {line}"
        );
        let mut labels = BTreeMap::new();
        let mut rest = &line[name_end..];
        if let Some(r) = rest.strip_prefix('{') {
            let mut chars = r.char_indices().peekable();
            let end;
            loop {
                let (i, c) = chars.next().expect("unterminated labels");
                if c == '}' {
                    end = Some(i);
                    break;
                }
                if c == ',' {
                    continue;
                }
                let mut key = String::from(c);
                for (_, c) in chars.by_ref() {
                    if c == '=' {
                        break;
                    }
                    key.push(c);
                }
                assert_eq!(
                    chars.next().map(|x| x.1),
                    Some('"'),
                    "label value must be quoted: {line}"
                );
                let mut value = String::new();
                loop {
                    let (_, c) = chars.next().expect("unterminated label value");
                    match c {
                        '"' => break,
                        '\\' => match chars.next().map(|x| x.1) {
                            Some('n') => value.push('\n'),
                            Some('\\') => value.push('\\'),
                            Some('"') => value.push('"'),
                            other => panic!("bad escape {other:?}: {line}"),
                        },
                        '\n' => panic!("raw newline in a label: {line}"),
                        c => value.push(c),
                    }
                }
                assert!(labels.insert(key, value).is_none(), "label twice: {line}");
            }
            rest = &r[end.unwrap() + 1..];
        }
        let value = rest.trim();
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value: {line}")),
        };
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s).filter(|f| types.get(*f).is_some_and(|k| k == "histogram"))
            })
            .unwrap_or(name);
        let kind = types.get(family).unwrap_or_else(|| panic!("sample before its TYPE: {line}"));
        if kind == "counter" {
            assert!(name.ends_with("_total"), "counters end in _total: {line}");
        }
        out.push(Sample { name: name.into(), labels, value });
    }
    // Histograms: buckets rise with `le` and end at +Inf = _count.
    let mut buckets: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for s in out.iter().filter(|s| s.name.ends_with("_bucket")) {
        let mut l = s.labels.clone();
        let le = l.remove("le").expect("le label");
        let le = if le == "+Inf" { f64::INFINITY } else { le.parse().unwrap() };
        buckets.entry(format!("{}{l:?}", s.name)).or_default().push((le, s.value));
    }
    for (k, b) in &buckets {
        assert!(b.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1), "{k}: {b:?}");
        assert_eq!(b.last().unwrap().0, f64::INFINITY, "{k}");
    }
    out
}

fn total(samples: &[Sample], name: &str) -> f64 {
    samples.iter().filter(|s| s.name == name).map(|s| s.value).sum()
}

#[test]
fn the_live_stream_and_metrics_rise_and_add_up_with_the_result() {
    let demo = demo();
    let dir = temp_dir();
    let out = dir.path().join("r.json");
    let url = format!("{}/delay/5", demo.url());
    let (child, addr) = start(&[
        &url,
        "-c",
        "4",
        "-d",
        "5s",
        "--dashboard=127.0.0.1:0",
        "-q",
        "-o",
        out.to_str().unwrap(),
    ]);
    let page = get(&addr, "/");
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("app.js")
            && !page.body.contains("http://")
            && !page.body.contains("https://")
    );
    let a2 = addr.clone();
    let scraper = std::thread::spawn(move || {
        let mut scrapes = Vec::new();
        for _ in 0..2 {
            std::thread::sleep(Duration::from_millis(1500));
            let r = get(&a2, "/metrics");
            assert_eq!(r.status, 200);
            assert!(r.headers.iter().any(|(k, v)| k == "content-type" && v.starts_with("text/plain; version=0.0.4")));
            scrapes.push(parse_prometheus(&r.body));
        }
        scrapes
    });
    let events = http::sse(&addr, "/events", Duration::from_secs(60), |e| {
        matches!(e["phase"].as_str(), Some("ended" | "interrupted"))
    });
    let scrapes = scraper.join().unwrap();
    let done = child.wait(RUN_TIMEOUT);
    done.expect_code(0);
    let result = read_result(&out);
    assert_accounting(&result);

    // The stream: at least once a second while running, requests rising, then the end.
    let running: Vec<&Value> = events.iter().filter(|e| e["phase"] == "running").collect();
    assert!(running.len() >= 3, "{} running events", running.len());
    let reqs: Vec<u64> = running.iter().map(|e| e["requests"].as_u64().unwrap()).collect();
    assert!(reqs.windows(2).all(|w| w[0] <= w[1]) && reqs[0] < *reqs.last().unwrap(), "{reqs:?}");
    let last = events.last().unwrap();
    assert_eq!(last["phase"], "ended");
    assert_eq!(last["requests"].as_u64(), Some(result.totals.requests));
    assert_eq!(last["failures"].as_u64(), Some(result.totals.failed));
    assert!(
        last["report_html"].as_str().is_some_and(|h| h.contains("<html")),
        "the report comes with the end"
    );
    // Every live point is the result's point of the same second.
    let mut points = Vec::new();
    for e in &events {
        points.extend(e["points"].as_array().unwrap().iter().cloned());
    }
    assert!(points.len() >= 3, "{points:?}");
    for p in &points {
        let t = p[0].as_u64().unwrap();
        let tp = result.timeseries.iter().find(|x| x.t == t).expect("the second is in the result");
        assert_eq!(p[1].as_u64(), Some(tp.requests), "second {t}");
        assert_eq!(p[6].as_u64(), Some(tp.vus), "second {t}");
    }
    let ep = &last["endpoints"][0];
    assert_eq!(ep["name"], "/delay/5");
    assert_eq!(ep["requests"].as_u64(), Some(result.endpoints[0].requests));

    // Prometheus: the counters rise between scrapes and never pass the final count; the
    // histogram counts every request.
    let (a, b) = (
        total(&scrapes[0], "volley_http_reqs_total"),
        total(&scrapes[1], "volley_http_reqs_total"),
    );
    assert!(
        0.0 < a && a < b && b <= result.totals.requests as f64,
        "{a} {b} {}",
        result.totals.requests
    );
    let count = total(&scrapes[1], "volley_http_req_duration_seconds_count");
    assert_eq!(count, b, "the histogram counts what the counter counts");
    assert!(
        scrapes[1]
            .iter()
            .any(|s| s.name == "volley_server_cpu_percent" && s.labels["process"] == "volley")
    );
    let labels = &scrapes[1].iter().find(|s| s.name == "volley_http_reqs_total").unwrap().labels;
    assert_eq!(
        (
            labels["name"].as_str(),
            labels["method"].as_str(),
            labels["status"].as_str(),
            labels["scenario"].as_str()
        ),
        ("/delay/5", "GET", "200", "default")
    );
}

#[test]
fn the_real_k6_cli_reads_the_status_and_stop_ends_the_run_gracefully() {
    let k6 = crate::compat_k6::k6_binary();
    let demo = demo();
    let dir = temp_dir();
    let out = dir.path().join("r.json");
    let url = format!("{}/delay/5", demo.url());
    let (child, addr) = start(&[
        &url,
        "-c",
        "3",
        "-d",
        "60s",
        "--dashboard=127.0.0.1:0",
        "-q",
        "-o",
        out.to_str().unwrap(),
    ]);
    // Wait until the run is under way (the first second closed).
    http::sse(&addr, "/events", Duration::from_secs(30), |e| e["phase"] == "running");
    let status =
        std::process::Command::new(&k6).args(["status", "--address", &addr]).output().unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(status.status.success(), "{text}{}", String::from_utf8_lossy(&status.stderr));
    assert!(
        text.contains("running: true") && text.contains("vus: \"3\"") && text.contains("status: 7"),
        "{text}"
    );
    // k6 refuses to scale anything but an externally-controlled executor, and so does volley.
    let scale = std::process::Command::new(&k6)
        .args(["scale", "--vus", "5", "--address", &addr])
        .output()
        .unwrap();
    assert!(!scale.status.success());
    let err = String::from_utf8_lossy(&scale.stderr);
    assert!(err.contains("an externally-controlled executor needs to be configured"), "{err}");
    // k6's JSON:API stop: the run ends as after Ctrl-C, result saved, exit 130.
    let body = r#"{"data":{"type":"status","id":"default","attributes":{"stopped":true}}}"#;
    let r = request(&addr, "PATCH", "/v1/status", &[("Content-Type", "application/json")], body);
    assert_eq!(r.status, 200, "{}", r.body);
    let v: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["data"]["attributes"]["stopped"], true);
    let done = child.wait(RUN_TIMEOUT);
    done.expect_code(130);
    let result = read_result(&out);
    assert!(result.interrupted && result.totals.requests > 0);
    assert!(result.duration_s < 30.0, "stopped early: {}", result.duration_s);
    assert_accounting(&result);
}

#[test]
fn off_loopback_every_request_needs_the_token_and_control_refuses_other_origins() {
    let demo = demo();
    let url = format!("{}/delay/5", demo.url());
    let (child, addr) = start(&[&url, "-c", "1", "-d", "60s", "--dashboard=0.0.0.0:0", "-q"]);
    let err = child.stderr_so_far();
    let token = err.split("?token=").nth(1).unwrap().split_whitespace().next().unwrap().to_string();
    assert_eq!(token.len(), 32, "{err}");
    let port = addr.rsplit(':').next().unwrap();
    let local = format!("127.0.0.1:{port}");
    assert_eq!(get(&local, "/metrics").status, 401);
    assert_eq!(get(&local, "/metrics?token=wrong").status, 401);
    assert_eq!(get(&local, &format!("/metrics?token={token}")).status, 200);
    let bearer = format!("Bearer {token}");
    assert_eq!(request(&local, "GET", "/v1/status", &[("Authorization", &bearer)], "").status, 200);
    // A page from another origin cannot stop the run, even with the token.
    let evil = request(
        &local,
        "POST",
        "/api/stop",
        &[("Authorization", &bearer), ("Origin", "http://evil.example")],
        "",
    );
    assert_eq!(evil.status, 403);
    std::thread::sleep(Duration::from_millis(300));
    let mut child = child;
    assert!(!child.has_exited(), "a refused stop must not stop the run");
    let own = format!("http://{local}");
    let r =
        request(&local, "POST", "/api/stop", &[("Authorization", &bearer), ("Origin", &own)], "");
    assert_eq!(r.status, 202);
    child.wait(RUN_TIMEOUT).expect_code(130);
}

#[test]
fn on_loopback_a_foreign_host_name_is_refused() {
    let demo = demo();
    let url = format!("{}/", demo.url());
    let (child, addr) = start(&[&url, "-c", "1", "-d", "60s", "--dashboard=127.0.0.1:0", "-q"]);
    // DNS rebinding: a name that resolves to 127.0.0.1 but is not ours.
    let r = request(&addr, "GET", "/v1/status", &[("Host", "evil.example:80")], "");
    assert_eq!(r.status, 403);
    let r = request(
        &addr,
        "PATCH",
        "/v1/status",
        &[("Origin", "http://evil.example")],
        r#"{"data":{"attributes":{"stopped":true}}}"#,
    );
    assert_eq!(r.status, 403);
    assert_eq!(get(&addr, "/v1/status").status, 200);
    let r = request(&addr, "POST", "/api/stop", &[], "");
    assert_eq!(r.status, 202);
    child.wait(RUN_TIMEOUT).expect_code(130);
}

#[test]
fn bad_dashboard_flags_are_usage_errors() {
    let out = volley(&["http://127.0.0.1:1/", "--dashboard=nonsense"], RUN_TIMEOUT);
    out.expect_code(2);
    assert!(out.stderr.contains("--dashboard `nonsense`"), "{}", out.streams());
    let out = volley(&["http://127.0.0.1:1/", "--dashboard-token", "x"], RUN_TIMEOUT);
    out.expect_code(2);
    assert!(out.stderr.contains("needs --dashboard"), "{}", out.streams());
}

#[test]
fn the_real_k6_cli_scales_pauses_and_resumes_an_externally_controlled_run() {
    let k6 = crate::compat_k6::k6_binary();
    let demo = demo();
    let dir = temp_dir();
    let plan = dir.path().join("ext.yaml");
    std::fs::write(
        &plan,
        format!(
            "base_url: {}\nscenarios:\n  steer:\n    executor: externally-controlled\n    vus: 2\n    max_vus: 6\n    duration: 60s\n    think_time: 20ms\n    steps: [ {{ get: /delay/1 }} ]\n",
            demo.url()
        ),
    )
    .unwrap();
    let out = dir.path().join("r.json");
    let (child, addr) = start(&[
        "run",
        plan.to_str().unwrap(),
        "--dashboard=127.0.0.1:0",
        "-q",
        "-o",
        out.to_str().unwrap(),
    ]);
    let vus_of = |e: &Value| e["vus"].as_u64().unwrap_or(0);
    http::sse(&addr, "/events", Duration::from_secs(30), |e| {
        e["phase"] == "running" && vus_of(e) == 2
    });
    let k6_run = |args: &[&str]| {
        let o =
            std::process::Command::new(&k6).args(args).args(["--address", &addr]).output().unwrap();
        let text =
            format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert!(o.status.success(), "k6 {args:?}: {text}");
        text
    };
    let text = k6_run(&["scale", "--vus", "5"]);
    assert!(text.contains("vus: \"5\""), "{text}");
    // The engine follows: a whole second at 5 VUs.
    http::sse(&addr, "/events", Duration::from_secs(30), |e| {
        e["points"].as_array().unwrap().iter().any(|p| p[6] == 5)
    });
    // Above max_vus: refused with k6's wording, nothing changes.
    let body = r#"{"data":{"type":"status","id":"default","attributes":{"vus":9}}}"#;
    let r = request(&addr, "PATCH", "/v1/status", &[], body);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body.contains("must be less than or equal to the number of maxVUs (6)"),
        "{}",
        r.body
    );
    let text = k6_run(&["pause"]);
    assert!(text.contains("paused: \"true\""), "{text}");
    let mut idle_t = 0;
    http::sse(&addr, "/events", Duration::from_secs(30), |e| {
        let idle = e["points"].as_array().unwrap().iter().find(|p| p[6] == 0 && p[1] == 0);
        idle_t = idle.map_or(0, |p| p[0].as_u64().unwrap());
        idle.is_some()
    });
    let text = k6_run(&["resume"]);
    assert!(text.contains("paused: \"false\""), "{text}");
    // The stream starts with the history: wait for a second after the paused one.
    http::sse(&addr, "/events", Duration::from_secs(30), |e| {
        e["points"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p[0].as_u64() > Some(idle_t) && p[6] == 5 && p[1].as_u64() > Some(0))
    });
    let r =
        request(&addr, "PATCH", "/v1/status", &[], r#"{"data":{"attributes":{"stopped":true}}}"#);
    assert_eq!(r.status, 200);
    child.wait(RUN_TIMEOUT).expect_code(130);
    let result = read_result(&out);
    assert_accounting(&result);
    // The result's time series shows the steering: 2 VUs, then 5, none while paused, 5 again.
    let vus: Vec<u64> = result.timeseries.iter().map(|p| p.vus).collect();
    let first5 = vus.iter().position(|&v| v == 5).expect("5 VUs after k6 scale");
    assert!(vus[..first5].contains(&2), "{vus:?}");
    let paused = first5 + vus[first5..].iter().position(|&v| v == 0).expect("0 VUs while paused");
    let idle = &result.timeseries[paused];
    assert_eq!(idle.requests, 0, "nothing sent in a paused second");
    assert!(vus[paused..].contains(&5), "{vus:?}");
    assert_eq!(result.config.scenarios[0].executor, "externally-controlled");
}

#[test]
fn a_capacity_search_shows_its_steps_live_and_offers_its_report() {
    // 20 ms per request, one at a time: 50 requests/s.
    let server = crate::support::capacity_server::QueueServer::start(Duration::from_millis(20));
    let dir = temp_dir();
    let out = dir.path().join("capacity.json");
    let (child, addr) = start(&[
        "capacity",
        &server.url(),
        "--slo",
        "http_req_duration: p(95)<100",
        "--start",
        "20",
        "--step",
        "1s",
        "--settle",
        "0s",
        "--max-steps",
        "4",
        "--dashboard=127.0.0.1:0",
        "-q",
        "-o",
        out.to_str().unwrap(),
    ]);
    let events = http::sse(&addr, "/events", Duration::from_secs(90), |e| {
        matches!(e["phase"].as_str(), Some("ended" | "interrupted"))
    });
    let done = child.wait(RUN_TIMEOUT);
    done.expect_code(0);
    let c: volley_metrics::capacity::CapacityResult =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();

    // While it ran: the steps' requests rose within each step (a step is a run of its own).
    let running: Vec<&Value> = events.iter().filter(|e| e["phase"] == "running").collect();
    assert!(running.len() >= 2, "{} running events", running.len());
    // The SLO is judged live as a threshold of the step.
    assert!(
        running.iter().any(|e| e["thresholds"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t["expression"] == "p(95)<100"))),
        "no live SLO verdict"
    );
    // At the end: every finished step, with the figures of the saved search, and the capacity.
    let last = events.last().unwrap();
    assert_eq!(last["phase"], "ended");
    let cap = &last["capacity"];
    let steps = cap["steps"].as_array().expect("the capacity panel");
    assert_eq!(steps.len(), c.steps.len());
    for (live, saved) in steps.iter().zip(&c.steps) {
        assert_eq!(live["index"].as_u64(), Some(saved.index as u64));
        assert_eq!(live["offered_rps"].as_f64(), Some(saved.figures.offered_rps));
        assert_eq!(live["achieved_rps"].as_f64(), Some(saved.figures.achieved_rps));
        assert_eq!(live["verdict"] == "good", saved.good, "{live}");
    }
    assert_eq!(cap["capacity_rps"].as_f64(), c.capacity_rps);
    // The report offered at the end (carried by the last event) is the search's own, with its
    // knee chart.
    let report = last["report_html"].as_str().expect("the report comes with the end");
    assert!(report.contains("<svg") && report.contains("apacity"), "{report}");
}

/// `scale --capacity --dashboard`: the sweep panel lists each count's capacity as it is found,
/// and the capacity panel shows the search of the count being measured.
#[test]
fn a_capacity_sweep_shows_each_counts_capacity_live() {
    let dir = temp_dir();
    let out = dir.path().join("sweep.json");
    let (child, addr) = start(&[
        "scale",
        "--instances",
        "1,2",
        "--capacity",
        "--slo",
        "http_req_duration: p(95)<500",
        "--start",
        "40",
        "--precision",
        "100%",
        "--step",
        "1s",
        "--settle",
        "0s",
        "--path",
        "/work/10",
        "--dashboard=127.0.0.1:0",
        "-q",
        "-o",
        out.to_str().unwrap(),
        "--",
        VOLLEY,
        "serve-demo",
        "--threads",
        "1",
        "--port",
        "{port}",
    ]);
    let events = http::sse(&addr, "/events", Duration::from_secs(90), |e| {
        matches!(e["phase"].as_str(), Some("ended" | "interrupted"))
    });
    let done = child.wait(RUN_TIMEOUT);
    done.expect_code(0);
    let s: volley_metrics::sweep::Sweep =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let last = events.last().unwrap();
    let runs = last["sweep"]["runs"].as_array().expect("the sweep panel");
    assert_eq!(runs.len(), 2);
    for (live, saved) in runs.iter().zip(&s.sweep) {
        assert_eq!(live["capacity_rps"].as_f64(), saved.capacity_rps, "{live}");
    }
    // The capacity panel holds the last count's search only.
    let steps = last["capacity"]["steps"].as_array().expect("the capacity panel");
    assert_eq!(steps.len(), s.sweep[1].capacity.as_ref().unwrap().steps.len());
    // While the first count was searched, its steps were shown.
    assert!(
        events.iter().any(|e| e["sweep"]["current"] == 1
            && e["capacity"]["steps"].as_array().is_some_and(|a| !a.is_empty())),
        "the first count's search was shown live"
    );
}
