//! Writes a synthetic result file for trying the reports and for the browser test:
//! `cargo run -p volley-report --example synth_result -- OUT.json [SECONDS]`.
//!
//! The run ramps VUs into saturation, fails on one endpoint, carries thresholds, checks and
//! server samples, and its target URL contains a `<script>` tag, which every report must show
//! as text.

use volley_report::fixture::{self, Second, Spec};

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(out) = args.next() else {
        eprintln!("usage: synth_result OUT.json [SECONDS]");
        std::process::exit(2);
    };
    let seconds: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(60);
    let mut secs = Vec::new();
    for t in 0..seconds {
        let vus = 5 + t * 50 / seconds.max(1);
        let rps = (vus * 40).min(900);
        let p50 = vus as f64 * 1000.0 / rps as f64 * 0.8;
        let failures = if t * 3 >= seconds { rps / 40 + t % 3 } else { 0 };
        secs.push(Second { requests: rps, failures, p50_ms: p50, vus });
    }
    let mut r = Spec {
        target: "http://127.0.0.1:3000/search?q=<script>window.__xss=1</script>".into(),
        concurrency: 55,
        seconds: secs,
        server: Some((vec![92.0, 88.0], 35.0)),
        ..Spec::default()
    }
    .build();
    let plan = fixture::plan_run();
    r.thresholds = plan.thresholds;
    r.thresholds[0].observed = r.metrics["http_req_duration"].values.get("p(95)").copied();
    r.thresholds[0].ok = r.thresholds[0].observed.is_some_and(|v| v < 200.0);
    r.thresholds[1].observed = Some(r.totals.error_rate());
    r.thresholds[1].ok = r.totals.error_rate() < 0.01;
    r.checks = vec![volley_metrics::CheckResult {
        name: "status 200".into(),
        step: "/predict".into(),
        passes: r.endpoints[1].requests - r.endpoints[1].failures,
        fails: r.endpoints[1].failures,
    }];
    let json = serde_json::to_string_pretty(&r).expect("a result serializes");
    if let Err(e) = std::fs::write(&out, json) {
        eprintln!("cannot write {out}: {e}");
        std::process::exit(1);
    }
}
