//! Property: whatever the thresholds of a result, every format that shows verdicts shows the
//! result's own — the same expressions, in the same order, each passing or crossed exactly as
//! `RunResult::thresholds` says. Reports never evaluate a threshold themselves; this test is
//! what keeps a second evaluation (or a lost verdict) from creeping back into one of them.

use proptest::prelude::*;
use volley_metrics::RunResult;
use volley_metrics::result::ThresholdResult;
use volley_report::{findings, fixture, html, junit, k6, markdown, terminal};

/// Metric keys a threshold may name: plain, one tag, several tags (spaces, any order), and
/// names with characters every output must escape.
const METRICS: &[&str] = &[
    "http_req_duration",
    "http_req_failed",
    "http_reqs",
    "checks",
    "http_req_duration{name:/predict}",
    "http_req_duration{name:stock, method:GET}",
    "http_reqs{status:200,name:a|b}",
    "checks{check:body has <b>*ok*</b>}",
];

const EXPRESSIONS: &[&str] =
    &["p(95)<200", "p(99.9)<=1000", "avg<50", "rate<0.01", "count>10", "max<5", "med>=1"];

fn thresholds() -> impl Strategy<Value = Vec<ThresholdResult>> {
    // Unique (metric, expression) pairs: k6's export keys verdicts by both.
    proptest::collection::btree_map(
        (0..METRICS.len(), 0..EXPRESSIONS.len()),
        (any::<bool>(), proptest::option::of(0.0f64..1e6), any::<bool>()),
        0..12,
    )
    .prop_map(|m| {
        m.into_iter()
            .map(|((mi, ei), (ok, observed, abort))| ThresholdResult {
                metric: METRICS[mi].to_string(),
                expression: EXPRESSIONS[ei].to_string(),
                ok,
                observed,
                abort_on_fail: abort,
            })
            .collect()
    })
    .prop_shuffle()
}

/// A result with these verdicts; every metric a threshold names exists, as the assembler
/// guarantees (a sub-metric a threshold names is always written).
fn result_with(ths: Vec<ThresholdResult>) -> RunResult {
    let mut r = fixture::plan_run();
    for t in &ths {
        if !r.metrics.contains_key(&t.metric) {
            let base = t.metric.split('{').next().unwrap();
            // The fixture has no `checks` metric: any rate stands in for it.
            let m = r.metrics.get(base).unwrap_or(&r.metrics["http_req_failed"]).clone();
            r.metrics.insert(t.metric.clone(), m);
        }
    }
    for m in r.metrics.values_mut() {
        m.thresholds.clear();
    }
    r.thresholds = ths;
    r
}

fn marks(s: &str) -> Vec<bool> {
    s.chars().filter_map(|c| (c == '✓' || c == '✗').then_some(c == '✓')).collect()
}

fn verdicts(r: &RunResult) -> Vec<bool> {
    r.thresholds.iter().map(|t| t.ok).collect()
}

/// The text of a section: from its heading to the next heading.
fn section<'a>(doc: &'a str, start: &str, next: &[&str]) -> &'a str {
    let Some(i) = doc.find(start) else { return "" };
    let rest = &doc[i + start.len()..];
    let end = next.iter().filter_map(|n| rest.find(n)).min().unwrap_or(rest.len());
    &rest[..end]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn every_format_shows_the_results_own_verdicts(ths in thresholds()) {
        let r = result_with(ths);
        let want = verdicts(&r);
        let crossed = want.iter().filter(|ok| !**ok).count();

        // Terminal: one ✓/✗ line per expression under THRESHOLDS, in the result's order.
        let text = terminal::render(&r, terminal::Style { color: false });
        let part = section(&text, "THRESHOLDS", &["CHECKS", "HTTP", "EXECUTION"]);
        prop_assert_eq!(marks(part), want.clone(), "terminal:\n{}", part);

        // Markdown and HTML: the thresholds table, first column.
        let md = markdown::render(&r, markdown::Options { glossary: false });
        let part = section(&md, "## Thresholds", &["\n## "]);
        prop_assert_eq!(marks(part), want.clone(), "markdown:\n{}", part);
        let page = html::render(&r, html::Options { glossary: false }).unwrap();
        let part = section(&page, "<h2>Thresholds</h2>", &["<h2>"]);
        prop_assert_eq!(marks(part), want.clone(), "html:\n{}", part);

        // JUnit: one failing test case per crossed threshold.
        let xml = junit::render(&r);
        let suite = section(&xml, "name=\"thresholds\"", &["</testsuite>"]);
        let cases = suite.matches("<testcase").count();
        prop_assert_eq!(cases, want.len(), "junit:\n{}", suite);
        prop_assert_eq!(suite.matches("<failure").count(), crossed, "junit:\n{}", suite);

        // k6's summary export: `thresholds: {expression: crossed}` under each metric.
        let export = k6::export(&r);
        for t in &r.thresholds {
            let got = &export["metrics"][&t.metric]["thresholds"][&t.expression];
            prop_assert_eq!(got, &serde_json::json!(!t.ok), "k6 export of {} {}", t.metric, t.expression);
        }

        // The findings count the crossed ones.
        let said = findings::analyze(&r).iter().map(|f| f.text.clone()).collect::<Vec<_>>().join("\n");
        if r.thresholds.is_empty() {
            prop_assert!(!said.contains("threshold"), "{}", said);
        } else if crossed == 0 {
            let all = match want.len() {
                1 => "The one threshold passed.".to_string(),
                n => format!("All {n} thresholds passed."),
            };
            prop_assert!(said.contains(&all), "{}", said);
        } else {
            let some = format!("{crossed} of {} thresholds", want.len());
            prop_assert!(said.contains(&some), "{}", said);
        }
    }
}
