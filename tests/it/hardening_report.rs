//! Outputs that must not attack their reader, and inputs that must not fool the analysis
//! (issue 9, items 13, 17, 18, 19), through the binary: hostile step and check names reach no
//! terminal, Markdown, HTML or JUnit output raw.

use std::path::Path;
use std::time::Duration;

use crate::support::*;

/// A name that tries everything: ESC sequences (clear screen, set the window title), a NUL, a
/// newline that would start an HTML block in Markdown, backticks that close a code span, markup.
const HOSTILE: &str = r#"\e[2J\e]0;pwned\a\0x\n<img src=x onerror=alert(1)>`|"#;
/// The same name as volley shows it.
const SHOWN: &str = "␛[2J␛]0;pwned␇␀x␊";

fn controls(s: &str, allowed: &[char]) -> Vec<char> {
    s.chars()
        .filter(|&c| {
            (c.is_control() || ('\u{202a}'..='\u{202e}').contains(&c)) && !allowed.contains(&c)
        })
        .collect()
}

/// A `<` that could open an HTML tag, neither backslash-escaped nor in a fenced code block.
fn raw_tag_outside_code(md: &str) -> Option<String> {
    let mut fence: Option<usize> = None;
    for line in md.lines() {
        let ticks = line.chars().take_while(|&c| c == '`').count();
        match fence {
            Some(f) if ticks >= f && line.trim_end().len() == ticks => fence = None,
            Some(_) => {}
            None if ticks >= 3 => fence = Some(ticks),
            None => {
                let b = line.as_bytes();
                let opens = |i: usize| {
                    b.get(i + 1).is_some_and(|&n| n.is_ascii_alphabetic() || b"/!?".contains(&n))
                };
                if (0..b.len()).any(|i| b[i] == b'<' && opens(i) && (i == 0 || b[i - 1] != b'\\')) {
                    return Some(line.to_string());
                }
            }
        }
    }
    None
}

fn hostile_plan(dir: &Path, base: &str) -> String {
    let plan = format!(
        r#"base_url: {base}
scenarios:
  hostile:
    executor: shared-iterations
    vus: 1
    iterations: 4
    flows:
      - name: "{HOSTILE}"
        steps:
          - get: /
            name: "{HOSTILE}"
            check: {{ name: "{HOSTILE}", status: 200 }}
"#
    );
    let path = dir.join("hostile.yaml");
    std::fs::write(&path, plan).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn hostile_names_reach_no_output_raw() {
    let demo = demo();
    let dir = temp_dir();
    let plan = hostile_plan(dir.path(), &demo.url());
    let result = dir.path().join("r.json");
    let out = volley(&["run", &plan, "-o", result.to_str().unwrap()], RUN_TIMEOUT);
    out.expect_code(0);
    let r = read_result(&result);
    assert_eq!(r.totals.requests, 4);
    assert_eq!(r.checks[0].passes, 4);
    assert!(r.checks[0].name.contains('\u{1b}'), "the result keeps the name as written");

    // The terminal summary (stdout is not a terminal: no colours at all).
    assert_eq!(controls(&out.stdout, &['\n']), Vec::<char>::new(), "{}", out.stdout);
    assert!(out.stdout.contains(SHOWN), "{}", out.stdout);

    let md = volley(&["report", result.to_str().unwrap(), "--format", "md"], RUN_TIMEOUT);
    md.expect_code(0);
    assert_eq!(controls(&md.stdout, &['\n']), Vec::<char>::new(), "{}", md.stdout);
    assert_eq!(raw_tag_outside_code(&md.stdout), None, "{}", md.stdout);
    assert!(md.stdout.contains("␊\\<img src=x onerror=alert(1)\\>\\`\\|"), "{}", md.stdout);

    let html = volley(&["report", result.to_str().unwrap(), "--format", "html"], RUN_TIMEOUT);
    html.expect_code(0);
    assert_eq!(controls(&html.stdout, &['\n']), Vec::<char>::new());
    assert!(!html.stdout.contains("<img"), "raw img tag in the HTML report");
    assert!(html.stdout.contains("&lt;img src=x onerror=alert(1)&gt;"));

    let xml = volley(&["report", result.to_str().unwrap(), "--format", "junit"], RUN_TIMEOUT);
    xml.expect_code(0);
    assert_eq!(controls(&xml.stdout, &['\n']), Vec::<char>::new(), "{}", xml.stdout);
    assert!(xml.stdout.contains("&lt;img src=x onerror=alert(1)&gt;`|"), "{}", xml.stdout);

    let copy = dir.path().join("copy.json");
    std::fs::copy(&result, &copy).unwrap();
    let cmp = volley(
        &["compare", result.to_str().unwrap(), copy.to_str().unwrap(), "--labels", "a`<b>,b"],
        RUN_TIMEOUT,
    );
    cmp.expect_code(0);
    assert_eq!(controls(&cmp.stdout, &['\n']), Vec::<char>::new(), "{}", cmp.stdout);
    assert_eq!(raw_tag_outside_code(&cmp.stdout), None, "{}", cmp.stdout);
}

/// Every format and `compare` refuse a damaged result alike: exit 2, one error naming the field.
#[test]
fn corrupted_results_are_refused_by_every_format() {
    let demo = demo();
    let dir = temp_dir();
    let good = dir.path().join("good.json");
    let url = format!("{}/flaky?p=0.3", demo.url());
    volley(&[&url, "-n", "60", "-c", "2", "-q", "-o", good.to_str().unwrap()], RUN_TIMEOUT)
        .expect_code(0);
    let value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&good).unwrap()).unwrap();
    assert!(value["totals"]["failed"].as_u64().unwrap() > 0, "the run must have failures");
    let encoded = value["histograms"]["http_req_duration"].as_str().unwrap().to_string();
    // Valid base64 (whole 4-character groups) of the first half of the encoding.
    let half = encoded[..encoded.len() / 8 * 4].to_string();
    let endpoint_key =
        value["endpoints"][0]["status_codes"].as_object().unwrap().keys().next().unwrap().clone();
    type Corrupt = Box<dyn Fn(&mut serde_json::Value)>;
    let cases: Vec<(&str, &str, Corrupt)> = vec![
        (
            "bad-base64",
            "`histograms.http_req_duration` is corrupted: histogram is not valid base64",
            Box::new(|v| v["histograms"]["http_req_duration"] = "@@not base64@@".into()),
        ),
        (
            "truncated-histogram",
            "`histograms.http_req_duration` is corrupted",
            Box::new(move |v| v["histograms"]["http_req_duration"] = half.clone().into()),
        ),
        (
            "totals",
            "`totals` does not add up: requests",
            Box::new(|v| {
                let n = v["totals"]["succeeded"].as_u64().unwrap();
                v["totals"]["succeeded"] = (n + 1).into();
            }),
        ),
        (
            "endpoint",
            "`endpoints[0]` does not add up",
            Box::new(move |v| {
                let n = v["endpoints"][0]["status_codes"][&endpoint_key].as_u64().unwrap();
                v["endpoints"][0]["status_codes"][&endpoint_key] = (n + 5).into();
            }),
        ),
    ];
    for (name, message, corrupt) in cases {
        let mut v = value.clone();
        corrupt(&mut v);
        let path = dir.path().join(format!("{name}.json"));
        std::fs::write(&path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
        let p = path.to_str().unwrap();
        let out_prefix = dir.path().join(format!("{name}-out"));
        let o = out_prefix.to_str().unwrap();
        for args in [
            vec!["report", p, "--format", "md"],
            vec!["report", p, "--format", "html"],
            vec!["report", p, "--format", "csv", "-o", o],
            vec!["report", p, "--format", "junit"],
            vec!["report", p, "--format", "json"],
            vec!["compare", good.to_str().unwrap(), p],
        ] {
            let out = volley(&args, RUN_TIMEOUT);
            out.expect_code(2);
            assert!(out.stdout.is_empty(), "{args:?}: {}", out.streams());
            assert!(out.stderr.contains(message), "{args:?}: {}", out.stderr);
            assert_eq!(
                out.stderr.lines().filter(|l| l.starts_with("error:")).count(),
                1,
                "{args:?}: {}",
                out.stderr
            );
        }
        assert!(!dir.path().join(format!("{name}-out_stats.csv")).exists());
    }
    // The undamaged file is accepted by the same reader.
    volley(&["report", good.to_str().unwrap(), "--format", "md"], RUN_TIMEOUT).expect_code(0);
}

/// Issue 9 item 13: a sweep whose balancer answers 502 counts no throughput, flags every
/// instance count, gives no speedup and no USL fit (no R² printed).
#[test]
fn a_sweep_of_502s_has_no_throughput_and_no_fit() {
    use volley_metrics::sweep::Sweep;
    let _cpu = crate::cluster::CPU_HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let dir = temp_dir();
    let out = dir.path().join("scale.json");
    let md = dir.path().join("scale.md");
    let run = volley(
        &[
            "scale",
            "--instances",
            "1,2",
            "--path",
            "/status/502",
            "-c",
            "2",
            "-d",
            "1s",
            "--warmup",
            "0s",
            "-o",
            out.to_str().unwrap(),
            "--report",
            md.to_str().unwrap(),
            "--",
            VOLLEY,
            "serve-demo",
            "--port",
            "{port}",
        ],
        Duration::from_secs(90),
    );
    run.expect_code(0);
    let sweep: Sweep = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(sweep.sweep.len(), 2);
    for r in &sweep.sweep {
        let t = &r.result.totals;
        assert!(t.requests > 0 && t.failed == t.requests, "{t:?}");
        assert_eq!(r.result.status_codes.get("502"), Some(&t.requests));
        assert_eq!(r.rps, 0.0, "no successful response, no throughput");
        assert!(r.request_rps > 0.0 && r.high_error_rate);
    }
    for row in &sweep.rows {
        assert!(row.high_error_rate);
        assert_eq!((row.rps, row.speedup, row.efficiency), (0.0, None, None));
    }
    assert!(sweep.analysis.usl.is_none());
    let findings = sweep.analysis.findings.join("\n");
    assert!(findings.contains("1 instance(s): 100.0% of requests failed"), "{findings}");
    assert!(findings.contains("No instance count ran without a high error rate"), "{findings}");
    assert!(!findings.contains("Going from"), "{findings}");
    let md = std::fs::read_to_string(&md).unwrap();
    for text in [&run.stdout, &md] {
        assert!(text.contains("100.00% (high: not used)"), "{text}");
        assert!(!text.contains("R²"), "no fit, no R²: {text}");
        assert!(text.contains("successful responses only"), "{text}");
    }
}
