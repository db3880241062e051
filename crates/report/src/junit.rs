//! JUnit XML: one test case per threshold and per check, so CI systems (GitLab, Jenkins,
//! GitHub test reporters) list them; a crossed threshold or a failing check is a `<failure>`
//! carrying the observed value. A run without thresholds or checks yields one test case for
//! the run itself (failed when it was interrupted or aborted).

use std::fmt::Write as _;

use volley_metrics::RunResult;

use crate::{facts, format};

pub use crate::escape::xml as xml_escape;

struct Case {
    class: String,
    name: String,
    failure: Option<(String, String)>,
}

fn suite(out: &mut String, name: &str, cases: &[Case], time: f64) {
    let failures = cases.iter().filter(|c| c.failure.is_some()).count();
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\" time=\"{time:.3}\">",
        xml_escape(name),
        cases.len()
    );
    for c in cases {
        let _ = write!(
            out,
            "    <testcase classname=\"{}\" name=\"{}\" time=\"0\"",
            xml_escape(&c.class),
            xml_escape(&c.name)
        );
        match &c.failure {
            None => out.push_str("/>\n"),
            Some((message, body)) => {
                let _ = writeln!(
                    out,
                    ">\n      <failure type=\"{}\" message=\"{}\">{}</failure>\n    </testcase>",
                    xml_escape(name),
                    xml_escape(message),
                    xml_escape(body)
                );
            }
        }
    }
    out.push_str("  </testsuite>\n");
}

/// The JUnit document.
pub fn render(r: &RunResult) -> String {
    let thresholds: Vec<Case> = r
        .thresholds
        .iter()
        .map(|t| {
            let observed = t
                .observed
                .map(|v| facts::observed(&t.metric, &t.expression, v))
                .unwrap_or_else(|| "n/a".into());
            Case {
                class: format!("thresholds.{}", t.metric),
                name: t.expression.clone(),
                failure: (!t.ok).then(|| {
                    (
                        format!("{} crossed: {observed}", t.expression),
                        format!(
                            "threshold '{}' on {} was crossed; observed {observed}",
                            t.expression, t.metric
                        ),
                    )
                }),
            }
        })
        .collect();
    let checks: Vec<Case> = r
        .checks
        .iter()
        .map(|c| {
            let total = c.passes + c.fails;
            Case {
                class: if c.step.is_empty() {
                    "checks".into()
                } else {
                    format!("checks.{}", c.step)
                },
                name: c.name.clone(),
                failure: (c.fails > 0).then(|| {
                    (
                        format!(
                            "{} of {} failed ({})",
                            format::count(c.fails),
                            format::count(total),
                            format::pct_of(c.fails, total)
                        ),
                        format!("✓ {} / ✗ {}", format::count(c.passes), format::count(c.fails)),
                    )
                }),
            }
        })
        .collect();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let all = thresholds.len() + checks.len();
    let run_case = (all == 0).then(|| Case {
        class: "run".into(),
        name: facts::target(r),
        failure: (r.interrupted || r.aborted_by.is_some()).then(|| {
            (
                "run did not complete".to_string(),
                format!("interrupted after {}", format::seconds(r.duration_s)),
            )
        }),
    });
    let failures = thresholds
        .iter()
        .chain(checks.iter())
        .chain(run_case.iter())
        .filter(|c| c.failure.is_some())
        .count();
    let _ = writeln!(
        out,
        "<testsuites name=\"volley\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" time=\"{:.3}\">",
        all.max(1),
        r.duration_s
    );
    if !thresholds.is_empty() {
        suite(&mut out, "thresholds", &thresholds, r.duration_s);
    }
    if !checks.is_empty() {
        suite(&mut out, "checks", &checks, r.duration_s);
    }
    if let Some(c) = run_case {
        suite(&mut out, "run", &[c], r.duration_s);
    }
    out.push_str("</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::{self, Spec};

    #[test]
    fn plan_run_snapshot() {
        insta::assert_snapshot!(render(&fixture::plan_run()));
    }

    #[test]
    fn markup_is_escaped() {
        let mut r = fixture::plan_run();
        r.checks[0].name = "body has <b> & \"quotes\" \u{1}".into();
        let x = render(&r);
        assert!(x.contains("name=\"body has &lt;b&gt; &amp; &quot;quotes&quot; ␁\""), "{x}");
        assert!(!x.contains('\u{1}'));
    }

    #[test]
    fn run_without_thresholds_is_one_case() {
        let x = render(&Spec::default().build());
        assert!(x.contains("tests=\"1\" failures=\"0\""), "{x}");
        let mut r = Spec::default().build();
        r.interrupted = true;
        assert!(render(&r).contains("<failure"));
    }
}
