//! k6's `--summary-export` file, from a result: what `volley report R.json --format k6` writes,
//! so jq lines written for `k6 run --summary-export` (`.metrics.http_req_duration["p(95)"]`,
//! `.root_group.checks["status 200"].passes`) run unchanged.
//!
//! The shape differs from the result's own (which is k6's `handleSummary` data): values sit
//! directly under the metric, trends carry k6's default statistics only, a rate is
//! `{passes, fails, value}`, thresholds map an expression to whether it was *crossed*, and the
//! root group's checks are an object keyed by name. Verdicts are the result's; nothing is
//! evaluated again.

use serde::Serialize;
use serde_json::{Map, Value, json};
use volley_metrics::{MetricKind, RunResult};

/// k6's default `summaryTrendStats`.
const TREND_STATS: [&str; 6] = ["avg", "min", "med", "max", "p(90)", "p(95)"];

/// A number as k6 (Go) writes it: whole numbers without a fraction.
fn number(v: f64) -> Value {
    if v.fract() == 0.0 && v.abs() < 9.0e15 { json!(v as i64) } else { json!(v) }
}

/// The export as a JSON value.
pub fn export(r: &RunResult) -> Value {
    let mut metrics = Map::new();
    for (name, m) in &r.metrics {
        let get = |k: &str| m.values.get(k).copied().unwrap_or(0.0);
        let mut out = Map::new();
        match m.kind {
            MetricKind::Trend => {
                for k in TREND_STATS {
                    out.insert(k.into(), number(get(k)));
                }
            }
            MetricKind::Counter => {
                out.insert("count".into(), number(get("count")));
                out.insert("rate".into(), number(get("rate")));
            }
            MetricKind::Rate => {
                out.insert("passes".into(), number(get("passes")));
                out.insert("fails".into(), number(get("fails")));
                out.insert("value".into(), number(get("rate")));
            }
            MetricKind::Gauge => {
                for k in ["value", "min", "max"] {
                    out.insert(k.into(), number(get(k)));
                }
            }
        }
        // The verdicts come from the result's one list of threshold results; k6 writes `true`
        // for a crossed threshold.
        let crossed: Map<String, Value> = r
            .thresholds
            .iter()
            .filter(|t| &t.metric == name)
            .map(|t| (t.expression.clone(), json!(!t.ok)))
            .collect();
        if !crossed.is_empty() {
            out.insert("thresholds".into(), Value::Object(crossed));
        }
        metrics.insert(name.clone(), Value::Object(out));
    }
    let g = &r.root_group;
    let checks: Map<String, Value> = g
        .checks
        .iter()
        .map(|c| {
            let v = json!({
                "name": c.name, "path": c.path, "id": c.id, "passes": c.passes, "fails": c.fails,
            });
            (c.name.clone(), v)
        })
        .collect();
    json!({
        "root_group": { "name": g.name, "path": g.path, "id": g.id, "groups": {}, "checks": checks },
        "metrics": metrics,
    })
}

/// The export as k6 indents it (four spaces), with a final newline.
pub fn render(r: &RunResult) -> String {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    export(r).serialize(&mut ser).expect("a JSON value always serializes");
    let mut s = String::from_utf8(buf).expect("serde_json writes UTF-8");
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;

    #[test]
    fn summary_export_shape() {
        let r = fixture::plan_run();
        let v = export(&r);
        let d = &v["metrics"]["http_req_duration"];
        assert!(d["p(95)"].is_number() && d.get("values").is_none() && d.get("type").is_none());
        assert_eq!(d.as_object().unwrap().len(), 6 + usize::from(d.get("thresholds").is_some()));
        let f = &v["metrics"]["http_req_failed"];
        assert!(f["passes"].is_u64() && f["fails"].is_u64() && f["value"].is_number());
        assert!(v["metrics"]["http_reqs"]["count"].is_u64(), "integer counts");
        // Crossed = not ok, for every verdict of the result.
        for t in &r.thresholds {
            assert_eq!(v["metrics"][&t.metric]["thresholds"][&t.expression], json!(!t.ok), "{t:?}");
        }
        let c = &v["root_group"]["checks"]["status 200"];
        let (p, f): (u64, u64) = r
            .checks
            .iter()
            .filter(|c| c.name == "status 200")
            .fold((0, 0), |a, c| (a.0 + c.passes, a.1 + c.fails));
        assert_eq!((c["passes"].as_u64(), c["fails"].as_u64()), (Some(p), Some(f)));
        assert_eq!(c["path"], "::status 200");
        assert_eq!(v["root_group"]["id"], "d41d8cd98f00b204e9800998ecf8427e");
        assert!(render(&r).starts_with("{\n    \"root_group\""));
    }
}
