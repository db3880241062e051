//! k6 threshold expressions (`p(95)<500`, `rate<0.01`, `count>100`): the one grammar and the
//! one evaluation.
//!
//! The plan parses its `thresholds:` into [`Threshold`]s; the engine evaluates them on the
//! recorder (at the end, and during the run for `abortOnFail`); the verdicts go into the result,
//! and reports read them from there without evaluating anything again.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use crate::catalogue::MetricDef;
#[cfg(doc)]
use crate::recorder::Recorder;
use crate::recorder::{Gauges, Source};
use crate::result::{Metric, MetricKind, ThresholdOutcome, ThresholdResult};
use crate::selector::MetricKey;

/// All expressions on one metric key.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    pub key: MetricKey,
    pub exprs: Vec<ThresholdExpr>,
}

impl Threshold {
    /// The key's canonical text (`http_req_duration{name:stock,method:GET}`).
    pub fn metric(&self) -> String {
        self.key.to_string()
    }
}

/// One expression and its abort options.
#[derive(Debug, Clone, PartialEq)]
pub struct ThresholdExpr {
    /// As written: the key of the verdict in the result file.
    pub source: String,
    pub aggregate: Aggregate,
    pub op: Op,
    pub value: f64,
    pub abort_on_fail: bool,
    /// Do not evaluate for abort before this much time has passed (`delayAbortEval`).
    pub delay_abort_eval: Duration,
}

/// What an expression reads from a metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Aggregate {
    Avg,
    Min,
    Med,
    Max,
    /// `p(N)`, N in percent.
    Percentile(f64),
    Rate,
    Count,
    Value,
}

impl Aggregate {
    /// The aggregates a threshold may use on a metric of this kind (k6's rule).
    pub fn allowed(kind: MetricKind) -> &'static [&'static str] {
        match kind {
            MetricKind::Counter => &["count", "rate"],
            MetricKind::Gauge => &["value"],
            MetricKind::Rate => &["rate"],
            MetricKind::Trend => &["avg", "min", "med", "max", "p(N)"],
        }
    }

    pub fn applies_to(self, kind: MetricKind) -> bool {
        matches!(
            (self, kind),
            (Aggregate::Count | Aggregate::Rate, MetricKind::Counter)
                | (Aggregate::Value, MetricKind::Gauge)
                | (Aggregate::Rate, MetricKind::Rate)
                | (
                    Aggregate::Avg
                        | Aggregate::Min
                        | Aggregate::Med
                        | Aggregate::Max
                        | Aggregate::Percentile(_),
                    MetricKind::Trend
                )
        )
    }

    /// The key of this aggregate in a metric's k6 values (`p(95)`, `avg`, `rate`).
    pub fn key(self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Aggregate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Aggregate::Avg => f.write_str("avg"),
            Aggregate::Min => f.write_str("min"),
            Aggregate::Med => f.write_str("med"),
            Aggregate::Max => f.write_str("max"),
            Aggregate::Percentile(p) => write!(f, "p({p})"),
            Aggregate::Rate => f.write_str("rate"),
            Aggregate::Count => f.write_str("count"),
            Aggregate::Value => f.write_str("value"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Eq => "==",
            Op::Ne => "!=",
        }
    }

    pub fn holds(self, a: f64, b: f64) -> bool {
        match self {
            Op::Lt => a < b,
            Op::Le => a <= b,
            Op::Gt => a > b,
            Op::Ge => a >= b,
            Op::Eq => a == b,
            Op::Ne => a != b,
        }
    }
}

impl ThresholdExpr {
    /// Does the expression hold for this observed value?
    pub fn holds(&self, observed: f64) -> bool {
        self.op.holds(observed, self.value)
    }
}

/// What thresholds are judged on: the measurement behind a metric key. A run's [`Recorder`]
/// is one; the merged shards of a run ([`crate::merge`]) are another. Either way the verdict
/// is [`verdict`]'s, so a merged run is judged exactly as a single run would be.
pub trait Measurements {
    /// `None` when the key was not measured (a sub-metric nobody watched).
    fn source(&self, key: &MetricKey, g: &Gauges) -> Option<Source<'_>>;
}

/// One expression on the measurements: the observed value and the verdict. As k6: a rate
/// with no samples is not evaluated (it passes, with no observed value); any other aggregate
/// the measurements cannot give (a sub-metric nobody watched) fails, so nothing passes by
/// accident.
pub fn verdict<M: Measurements + ?Sized>(
    m: &M,
    key: &MetricKey,
    e: &ThresholdExpr,
    duration_s: f64,
    g: &Gauges,
) -> (Option<f64>, bool) {
    let Some(source) = m.source(key, g) else { return (None, false) };
    match source.aggregate(e.aggregate, duration_s) {
        Some(v) => (Some(v), e.holds(v)),
        None => (None, key.metric.kind == MetricKind::Rate),
    }
}

/// Every expression of every threshold, in order: the verdicts the result carries.
pub fn evaluate<M: Measurements + ?Sized>(
    thresholds: &[Threshold],
    m: &M,
    duration_s: f64,
    g: &Gauges,
) -> Vec<ThresholdResult> {
    let mut out = Vec::new();
    for t in thresholds {
        for e in &t.exprs {
            let (observed, ok) = verdict(m, &t.key, e, duration_s, g);
            out.push(ThresholdResult {
                metric: t.metric(),
                expression: e.source.clone(),
                ok,
                observed,
                abort_on_fail: e.abort_on_fail,
            });
        }
    }
    out
}

/// Writes the verdicts (as [`evaluate`] returned them for `thresholds`) into the metrics they
/// judge: each metric's `thresholds` map, and the percentiles thresholds ask for beyond the
/// usual ones (`p(97.5)`). Metrics absent from `metrics` are skipped.
pub fn annotate(
    metrics: &mut BTreeMap<String, Metric>,
    thresholds: &[Threshold],
    verdicts: &[ThresholdResult],
) {
    let exprs = thresholds.iter().flat_map(|t| t.exprs.iter());
    for (e, tr) in exprs.zip(verdicts) {
        let Some(m) = metrics.get_mut(&tr.metric) else { continue };
        if let (Aggregate::Percentile(_), Some(v)) = (e.aggregate, tr.observed) {
            m.values.entry(e.aggregate.key()).or_insert(v);
        }
        m.thresholds.insert(tr.expression.clone(), ThresholdOutcome { ok: tr.ok });
    }
}

/// The thresholds a result was judged on, read back from its verdicts (metric text and
/// expression as written, through the one key and expression parsers).
pub fn from_verdicts(verdicts: &[ThresholdResult]) -> Result<Vec<Threshold>, ExprError> {
    let mut out: Vec<Threshold> = Vec::new();
    for v in verdicts {
        let key = MetricKey::parse(&v.metric).map_err(|es| {
            let why: Vec<String> = es.iter().map(|e| e.to_string()).collect();
            err(format!("`{}`: {}", v.metric, why.join("; ")), None)
        })?;
        let mut e = parse_expr(&v.expression, Some(key.metric))?;
        e.abort_on_fail = v.abort_on_fail;
        match out.last_mut() {
            Some(t) if t.metric() == key.to_string() => t.exprs.push(e),
            _ => out.push(Threshold { key, exprs: vec![e] }),
        }
    }
    Ok(out)
}

/// A problem with an expression, with a hint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ExprError {
    pub message: String,
    pub hint: Option<String>,
    /// The aggregate, when that is what was not understood (callers may suggest one).
    pub unknown_aggregate: Option<String>,
}

fn err(message: String, hint: Option<&str>) -> ExprError {
    ExprError { message, hint: hint.map(str::to_string), unknown_aggregate: None }
}

/// Every aggregate name, for hints.
pub const AGGREGATES: [&str; 8] = ["avg", "min", "med", "max", "p(95)", "rate", "count", "value"];

const USAGE: &str =
    "write `aggregate operator number`, e.g. `p(95)<500`, `avg<200`, `rate<0.01`, `count>100`";

/// Parses one expression (`p(95) < 500`) for `metric` (when known: its kind limits the
/// aggregates, as in k6).
pub fn parse_expr(src: &str, metric: Option<&MetricDef>) -> Result<ThresholdExpr, ExprError> {
    let s = src.trim();
    let op_at = s.find(['<', '>', '=', '!']).ok_or_else(|| {
        err(format!("`{src}` has no comparison operator (<, <=, >, >=, ==, !=)"), Some(USAGE))
    })?;
    let (agg, rest) = s.split_at(op_at);
    let (op, value) = [
        ("<=", Op::Le),
        (">=", Op::Ge),
        ("===", Op::Eq),
        ("==", Op::Eq),
        ("!==", Op::Ne),
        ("!=", Op::Ne),
        ("<", Op::Lt),
        (">", Op::Gt),
    ]
    .iter()
    .find_map(|(t, op)| rest.strip_prefix(t).map(|v| (*op, v)))
    .ok_or_else(|| err(format!("`{src}`: unknown operator"), Some(USAGE)))?;
    let agg = agg.trim().replace(' ', "");
    let value_text = value.trim();
    let value: f64 = value_text.parse().map_err(|_| {
        err(
            format!("`{src}`: `{value_text}` is not a number"),
            Some("thresholds compare with plain numbers; times are in milliseconds (`p(95)<500`)"),
        )
    })?;
    if !value.is_finite() {
        return Err(err(format!("`{src}`: `{value_text}` is not a finite number"), Some(USAGE)));
    }
    let aggregate = match agg.as_str() {
        "avg" => Aggregate::Avg,
        "min" => Aggregate::Min,
        "med" => Aggregate::Med,
        "max" => Aggregate::Max,
        "rate" => Aggregate::Rate,
        "count" => Aggregate::Count,
        "value" => Aggregate::Value,
        _ => match agg.strip_prefix("p(").and_then(|x| x.strip_suffix(')')) {
            Some(p) => {
                let n: f64 = p.parse().map_err(|_| {
                    err(
                        format!("`{src}`: `p({p})` needs a percentile number"),
                        Some("write `p(95)` or `p(99.9)`"),
                    )
                })?;
                if !(n > 0.0 && n <= 100.0) {
                    return Err(err(
                        format!("`{src}`: percentile {n} is outside 0–100"),
                        Some("write `p(95)` or `p(99.9)`"),
                    ));
                }
                Aggregate::Percentile(n)
            }
            None => {
                return Err(ExprError {
                    message: format!("`{src}`: unknown aggregate `{agg}`"),
                    hint: Some("aggregates: avg, min, med, max, p(N), rate, count, value".into()),
                    unknown_aggregate: Some(agg),
                });
            }
        },
    };
    if let Some(m) = metric
        && !aggregate.applies_to(m.kind)
    {
        let kind = m.kind.as_str();
        return Err(ExprError {
            message: format!("`{src}`: `{aggregate}` does not apply to {} (a {kind})", m.name),
            hint: Some(format!("a {kind} metric has {}", Aggregate::allowed(m.kind).join(", "))),
            unknown_aggregate: None,
        });
    }
    Ok(ThresholdExpr {
        source: src.to_string(),
        aggregate,
        op,
        value,
        abort_on_fail: false,
        delay_abort_eval: Duration::ZERO,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::lookup;

    fn p(src: &str, metric: &str) -> Result<ThresholdExpr, ExprError> {
        parse_expr(src, lookup(metric))
    }

    #[test]
    fn parses_k6_expressions() {
        let e = p("p(95)<500", "http_req_duration").unwrap();
        assert_eq!((e.aggregate, e.op, e.value), (Aggregate::Percentile(95.0), Op::Lt, 500.0));
        assert_eq!(e.aggregate.key(), "p(95)");
        let e = p(" p( 99.9 ) <= 1e3 ", "http_req_duration").unwrap();
        assert_eq!((e.aggregate, e.op, e.value), (Aggregate::Percentile(99.9), Op::Le, 1000.0));
        assert_eq!(e.aggregate.key(), "p(99.9)");
        assert_eq!(p("rate<0.01", "http_req_failed").unwrap().aggregate, Aggregate::Rate);
        assert_eq!(p("count>=10", "http_reqs").unwrap().op, Op::Ge);
        assert_eq!(p("value!=0", "vus").unwrap().op, Op::Ne);
        assert_eq!(parse_expr("avg===3", None).unwrap().op, Op::Eq);
        assert_eq!(p("p(95)<1", "http_req_sending").unwrap().aggregate.key(), "p(95)");
    }

    #[test]
    fn refuses_what_k6_refuses() {
        for bad in ["p95<500", "p(95)<fast", "p(101)<5", "avg 500", "avg<", "mean<3", "avg=>3"] {
            assert!(p(bad, "http_req_duration").is_err(), "{bad}");
        }
        // k6: a trend has no `count`, a gauge only `value`, a rate only `rate`.
        assert!(p("count>10", "http_req_duration").unwrap_err().message.contains("a trend"));
        assert!(p("min>0", "vus").is_err());
        assert!(p("p(95)<1", "checks").unwrap_err().message.contains("a rate"));
        assert!(p("avg<1", "http_reqs").is_err());
        assert_eq!(p("mx<1", "http_req_duration").unwrap_err().unknown_aggregate.unwrap(), "mx");
    }

    #[test]
    fn comparisons() {
        let e = parse_expr("p(95)<500", None).unwrap();
        assert!(e.holds(420.0) && !e.holds(500.0));
        assert!(parse_expr("rate<=0.01", None).unwrap().holds(0.01));
        assert!(parse_expr("count!=3", None).unwrap().holds(2.0));
    }
}
