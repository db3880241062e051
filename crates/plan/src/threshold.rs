//! k6 threshold expressions (`p(95)<500`, `rate<0.01`, `count>100`): parsing, validation
//! against the metric's type, and evaluation.
//!
//! Evaluation is pure: it takes a metric's k6 values map (`avg`, `p(95)`, `rate`, …; times in
//! milliseconds, as k6). A `p(N)` aggregate other than those always present (90, 95, 99, 99.9)
//! names a percentile the engine must add to the values map under exactly `aggregate`.

use std::collections::BTreeMap;
use std::time::Duration;

/// All expressions on one metric key (possibly a sub-metric: `http_req_duration{name:x}`).
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    pub metric: String,
    pub exprs: Vec<ThresholdExpr>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ThresholdExpr {
    /// As written, the key of the outcome in the result file.
    pub source: String,
    /// `avg`, `min`, `med`, `max`, `p(95)`, `rate`, `count`, `value` — the key into k6 values.
    pub aggregate: String,
    pub op: Op,
    pub value: f64,
    pub abort_on_fail: bool,
    /// Do not evaluate for abort before this much time has passed (`delayAbortEval`).
    pub delay_abort_eval: Duration,
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
}

impl ThresholdExpr {
    /// The observed aggregate and whether the expression holds. `None` when the metric has
    /// no such aggregate.
    pub fn evaluate(&self, values: &BTreeMap<String, f64>) -> Option<(f64, bool)> {
        let v = *values.get(&self.aggregate)?;
        let ok = match self.op {
            Op::Lt => v < self.value,
            Op::Le => v <= self.value,
            Op::Gt => v > self.value,
            Op::Ge => v >= self.value,
            Op::Eq => v == self.value,
            Op::Ne => v != self.value,
        };
        Some((v, ok))
    }

    /// The percentile this expression needs, when it is a `p(N)` (N in percent).
    pub fn percentile(&self) -> Option<f64> {
        self.aggregate.strip_prefix("p(")?.strip_suffix(')')?.parse().ok()
    }
}

/// k6's four metric types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    Counter,
    Gauge,
    Rate,
    Trend,
}

impl MetricType {
    /// Aggregates a threshold may use on a metric of this type.
    pub fn aggregates(self) -> &'static [&'static str] {
        match self {
            MetricType::Counter => &["count", "rate"],
            MetricType::Gauge => &["value", "min", "max"],
            MetricType::Rate => &["rate"],
            MetricType::Trend => &["avg", "min", "med", "max", "p(N)"],
        }
    }

    fn name(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Rate => "rate",
            MetricType::Trend => "trend",
        }
    }
}

/// The metrics volley produces (k6's names) and their types.
pub const METRICS: &[(&str, MetricType)] = &[
    ("http_reqs", MetricType::Counter),
    ("http_req_duration", MetricType::Trend),
    ("http_req_failed", MetricType::Rate),
    ("http_req_connecting", MetricType::Trend),
    ("http_req_tls_handshaking", MetricType::Trend),
    ("http_req_waiting", MetricType::Trend),
    ("http_req_receiving", MetricType::Trend),
    ("iterations", MetricType::Counter),
    ("iteration_duration", MetricType::Trend),
    ("dropped_iterations", MetricType::Counter),
    ("vus", MetricType::Gauge),
    ("vus_max", MetricType::Gauge),
    ("checks", MetricType::Rate),
    ("data_received", MetricType::Counter),
    ("data_sent", MetricType::Counter),
];

/// Tags a sub-metric may select on.
pub const TAGS: &[&str] =
    &["name", "status", "method", "scenario", "flow", "instance", "url", "expected_response"];

/// A problem with a threshold, with a hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThresholdError {
    pub message: String,
    pub hint: Option<String>,
}

fn terr(message: String, hint: Option<String>) -> ThresholdError {
    ThresholdError { message, hint }
}

/// Splits `metric{tag:value,tag2:value2}` into the metric name and its tag selector.
pub fn split_metric_key(key: &str) -> Option<(&str, Vec<(&str, &str)>)> {
    let key = key.trim();
    let Some(open) = key.find('{') else { return Some((key, Vec::new())) };
    let inner = key[open + 1..].strip_suffix('}')?;
    let mut tags = Vec::new();
    for pair in inner.split(',') {
        let (k, v) = pair.split_once(':')?;
        tags.push((k.trim(), v.trim()));
    }
    Some((key[..open].trim(), tags))
}

/// Checks a threshold key: a known metric, and known tags with values.
pub fn check_metric_key(key: &str) -> Result<MetricType, Vec<ThresholdError>> {
    let Some((metric, tags)) = split_metric_key(key) else {
        return Err(vec![terr(
            format!("`{key}` is not a metric or a sub-metric"),
            Some(
                "write `metric` or `metric{tag:value}`, e.g. `http_req_duration{name:predict}`"
                    .into(),
            ),
        )]);
    };
    let mut errors = Vec::new();
    let kind = METRICS.iter().find(|(n, _)| *n == metric).map(|(_, t)| *t);
    if kind.is_none() {
        let hint = match crate::error::did_you_mean(metric, METRICS.iter().map(|(n, _)| *n)) {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!(
                "metrics: {}",
                METRICS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
            ),
        };
        errors.push(terr(format!("unknown metric `{metric}`"), Some(hint)));
    }
    for (k, v) in tags {
        if !TAGS.contains(&k) {
            let hint = match crate::error::did_you_mean(k, TAGS.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("tags: {}", TAGS.join(", ")),
            };
            errors.push(terr(format!("unknown tag `{k}` in `{key}`"), Some(hint)));
        } else if v.is_empty() {
            errors.push(terr(
                format!("tag `{k}` has no value in `{key}`"),
                Some(format!("write `{{{k}:value}}`")),
            ));
        }
    }
    match kind {
        Some(t) if errors.is_empty() => Ok(t),
        _ => Err(errors),
    }
}

/// Parses one expression (`p(95) < 500`) for a metric of type `kind` (when known).
pub fn parse_expr(src: &str, kind: Option<MetricType>) -> Result<ThresholdExpr, ThresholdError> {
    let s = src.trim();
    let usage = || {
        Some(
            "write `aggregate operator number`, e.g. `p(95)<500`, `avg<200`, `rate<0.01`, `count>100`"
                .to_string(),
        )
    };
    let op_at = s.find(['<', '>', '=', '!']).ok_or_else(|| {
        terr(format!("`{src}` has no comparison operator (<, <=, >, >=, ==, !=)"), usage())
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
    .ok_or_else(|| terr(format!("`{src}`: unknown operator"), usage()))?;
    let agg = agg.trim().replace(' ', "");
    let value_text = value.trim();
    let value: f64 = value_text.parse().map_err(|_| {
        terr(
            format!("`{src}`: `{value_text}` is not a number"),
            Some(
                "thresholds compare with plain numbers; times are in milliseconds (`p(95)<500`)"
                    .into(),
            ),
        )
    })?;
    if !value.is_finite() {
        return Err(terr(format!("`{src}`: `{value_text}` is not a finite number"), usage()));
    }
    let aggregate = if let Some(p) = agg.strip_prefix("p(").and_then(|x| x.strip_suffix(')')) {
        let n: f64 = p.parse().map_err(|_| {
            terr(
                format!("`{src}`: `p({p})` needs a percentile number"),
                Some("write `p(95)` or `p(99.9)`".into()),
            )
        })?;
        if !(n > 0.0 && n <= 100.0) {
            return Err(terr(
                format!("`{src}`: percentile {n} is outside 0–100"),
                Some("write `p(95)` or `p(99.9)`".into()),
            ));
        }
        format!("p({n})")
    } else if ["avg", "min", "med", "max", "rate", "count", "value"].contains(&agg.as_str()) {
        agg.clone()
    } else {
        let hint = match crate::error::did_you_mean(
            &agg,
            ["avg", "min", "med", "max", "rate", "count", "value", "p(95)"],
        ) {
            Some(s) => format!("did you mean `{s}`?"),
            None => "aggregates: avg, min, med, max, p(N), rate, count, value".to_string(),
        };
        return Err(terr(format!("`{src}`: unknown aggregate `{agg}`"), Some(hint)));
    };
    if let Some(kind) = kind {
        let allowed = kind.aggregates();
        let fits = allowed.contains(&aggregate.as_str())
            || (aggregate.starts_with("p(") && allowed.contains(&"p(N)"));
        if !fits {
            return Err(terr(
                format!("`{src}`: `{aggregate}` does not apply to a {} metric", kind.name()),
                Some(format!("a {} metric has {}", kind.name(), allowed.join(", "))),
            ));
        }
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

    #[test]
    fn parses_k6_expressions() {
        let e = parse_expr("p(95)<500", Some(MetricType::Trend)).unwrap();
        assert_eq!((e.aggregate.as_str(), e.op, e.value), ("p(95)", Op::Lt, 500.0));
        let e = parse_expr(" p( 99.9 ) <= 1e3 ", Some(MetricType::Trend)).unwrap();
        assert_eq!((e.aggregate.as_str(), e.op, e.value), ("p(99.9)", Op::Le, 1000.0));
        assert_eq!(e.percentile(), Some(99.9));
        let e = parse_expr("rate<0.01", Some(MetricType::Rate)).unwrap();
        assert_eq!((e.aggregate.as_str(), e.op), ("rate", Op::Lt));
        assert_eq!(parse_expr("count>=10", Some(MetricType::Counter)).unwrap().op, Op::Ge);
        assert_eq!(parse_expr("value!=0", Some(MetricType::Gauge)).unwrap().op, Op::Ne);
        assert_eq!(parse_expr("avg==3", None).unwrap().op, Op::Eq);
    }

    #[test]
    fn rejects_bad_expressions() {
        for bad in ["p95<500", "p(95)<fast", "p(101)<5", "avg 500", "avg<", "mean<3", "avg=>3"] {
            assert!(parse_expr(bad, Some(MetricType::Trend)).is_err(), "{bad}");
        }
        let e = parse_expr("rate<0.01", Some(MetricType::Trend)).unwrap_err();
        assert!(e.message.contains("does not apply to a trend"), "{e:?}");
        let e = parse_expr("p(95)<1", Some(MetricType::Rate)).unwrap_err();
        assert!(e.message.contains("does not apply to a rate"), "{e:?}");
    }

    #[test]
    fn metric_keys() {
        assert_eq!(check_metric_key("http_req_duration{name:predict}"), Ok(MetricType::Trend));
        assert_eq!(check_metric_key("http_reqs{status:500,method:GET}"), Ok(MetricType::Counter));
        let e = check_metric_key("http_req_duraton{nme:x}").unwrap_err();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].hint.as_deref(), Some("did you mean `http_req_duration`?"));
        assert_eq!(e[1].hint.as_deref(), Some("did you mean `name`?"));
        assert!(check_metric_key("http_reqs{name}").is_err());
        assert_eq!(
            split_metric_key("a{ name: x ,status:200}").unwrap(),
            ("a", vec![("name", "x"), ("status", "200")])
        );
    }

    #[test]
    fn evaluates() {
        let values = BTreeMap::from([("p(95)".to_string(), 420.0), ("rate".to_string(), 0.02)]);
        let e = parse_expr("p(95)<500", None).unwrap();
        assert_eq!(e.evaluate(&values), Some((420.0, true)));
        let e = parse_expr("rate<0.01", None).unwrap();
        assert_eq!(e.evaluate(&values), Some((0.02, false)));
        assert_eq!(parse_expr("avg<1", None).unwrap().evaluate(&values), None);
    }
}
