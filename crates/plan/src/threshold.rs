//! A plan's `thresholds:`: parsed into metrics' one threshold type, with plan-style errors.
//!
//! The grammar, the metric catalogue and the selector parser live in `volley_metrics`
//! (`threshold`, `catalogue`, `selector`); this module only turns their errors into messages
//! with hints (did you mean …?).

pub use volley_metrics::selector::{KeyError, MetricKey, Tag};
pub use volley_metrics::threshold::{Aggregate, Op, Threshold, ThresholdExpr};

use volley_metrics::catalogue::{self, MetricDef};
use volley_metrics::threshold::{self as grammar, AGGREGATES};

use crate::error::did_you_mean;

/// A problem with a threshold, with a hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThresholdError {
    pub message: String,
    pub hint: Option<String>,
}

/// Checks a threshold key: a known metric, and known tags with values.
pub fn check_metric_key(key: &str) -> Result<MetricKey, Vec<ThresholdError>> {
    MetricKey::parse(key).map_err(|es| {
        es.into_iter()
            .map(|e| {
                let hint = match &e {
                    KeyError::Syntax(_) => Some(
                        "write `metric` or `metric{tag:value,tag:value}`, e.g. \
                         `http_req_duration{name:predict,method:GET}`"
                            .to_string(),
                    ),
                    KeyError::UnknownMetric(m) => Some(match did_you_mean(m, catalogue::names()) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => format!(
                            "metrics: {}",
                            catalogue::names().collect::<Vec<_>>().join(", ")
                        ),
                    }),
                    KeyError::UnknownTag { tag, .. } => {
                        Some(match did_you_mean(tag, Tag::names()) {
                            Some(s) => format!("did you mean `{s}`?"),
                            None => {
                                format!("tags: {}", Tag::names().collect::<Vec<_>>().join(", "))
                            }
                        })
                    }
                    KeyError::EmptyValue { tag, .. } => Some(format!("write `{{{tag}:value}}`")),
                };
                ThresholdError { message: e.to_string(), hint }
            })
            .collect()
    })
}

/// Parses one expression (`p(95) < 500`) for `metric` (when known).
pub fn parse_expr(src: &str, metric: Option<&MetricDef>) -> Result<ThresholdExpr, ThresholdError> {
    grammar::parse_expr(src, metric).map_err(|e| {
        let hint = match e.unknown_aggregate.as_deref().and_then(|a| did_you_mean(a, AGGREGATES)) {
            Some(s) => Some(format!("did you mean `{s}`?")),
            None => e.hint,
        };
        ThresholdError { message: e.message, hint }
    })
}

/// Parses one SLO as `volley capacity --slo` takes it: `METRIC: EXPR` in k6's threshold syntax
/// (`http_req_duration: p(95)<200`, `http_req_duration{name:predict}: p(99)<500`), into the
/// one threshold type, so that the engine evaluates it like any plan threshold.
pub fn parse_slo(text: &str) -> Result<Threshold, Vec<ThresholdError>> {
    // The separator is the first colon outside the selector's braces.
    let mut depth = 0usize;
    let colon = text.char_indices().find_map(|(i, c)| {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ':' if depth == 0 => return Some(i),
            _ => {}
        }
        None
    });
    let Some(colon) = colon else {
        return Err(vec![ThresholdError {
            message: format!("`{text}` is not `METRIC: EXPRESSION`"),
            hint: Some(
                "write e.g. `http_req_duration: p(95)<200` or `http_req_failed: rate<0.01`".into(),
            ),
        }]);
    };
    let key = check_metric_key(text[..colon].trim())?;
    let expr = parse_expr(text[colon + 1..].trim(), Some(key.metric)).map_err(|e| vec![e])?;
    Ok(Threshold { key, exprs: vec![expr] })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_keys() {
        let k = check_metric_key("http_req_duration{name:predict}").unwrap();
        assert_eq!(k.metric.name, "http_req_duration");
        assert!(check_metric_key("http_reqs{status:500,method:GET}").is_ok());
        assert!(check_metric_key("http_req_sending").is_ok());
        assert!(check_metric_key("checks{check:stock 200}").is_ok());
        let e = check_metric_key("http_req_duraton{nme:x}").unwrap_err();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].hint.as_deref(), Some("did you mean `http_req_duration`?"));
        assert_eq!(e[1].hint.as_deref(), Some("did you mean `name`?"));
        assert!(check_metric_key("http_reqs{name}").is_err());
    }

    #[test]
    fn slos() {
        let t = parse_slo("http_req_duration: p(95)<200").unwrap();
        assert_eq!(
            (t.metric(), t.exprs[0].source.as_str()),
            ("http_req_duration".into(), "p(95)<200")
        );
        let t = parse_slo("http_req_duration{name:predict,method:POST}:p(99) < 500").unwrap();
        assert_eq!(t.metric(), "http_req_duration{name:predict,method:POST}");
        assert_eq!(t.exprs[0].value, 500.0);
        assert!(parse_slo("http_req_failed: rate<0.01").is_ok());
        assert!(parse_slo("p(95)<200").unwrap_err()[0].message.contains("METRIC"));
        assert!(parse_slo("http_req_duration p(95)<200").is_err());
        let e = parse_slo("http_req_duraton: p(95)<200").unwrap_err();
        assert_eq!(e[0].hint.as_deref(), Some("did you mean `http_req_duration`?"));
        assert!(parse_slo("http_req_failed: p(95)<1").unwrap_err()[0].message.contains("a rate"));
    }

    #[test]
    fn hints() {
        let trend = catalogue::lookup("http_req_duration");
        assert_eq!(
            parse_expr("mx<1", trend).unwrap_err().hint.as_deref(),
            Some("did you mean `max`?")
        );
        let e = parse_expr("rate<0.01", trend).unwrap_err();
        assert!(e.message.contains("does not apply"), "{e:?}");
    }
}
