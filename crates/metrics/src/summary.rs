//! Percentiles and k6-shaped metric values: computed here and nowhere else.

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::catalogue::Contains;
use crate::histogram::Micros;
use crate::result::{LatencyStats, Metric, MetricKind};
use crate::threshold::Aggregate;

const MS: f64 = 1000.0;

/// Latency statistics of a microsecond histogram, in milliseconds. All zero when empty.
pub fn latency(h: &Micros) -> LatencyStats {
    if h.is_empty() {
        return LatencyStats::default();
    }
    let q = |p: f64| h.value_at_quantile(p) as f64 / MS;
    LatencyStats {
        count: h.len(),
        avg: h.mean() / MS,
        min: h.min() as f64 / MS,
        med: q(0.5),
        max: h.max() as f64 / MS,
        p90: q(0.90),
        p95: q(0.95),
        p99: q(0.99),
        p999: q(0.999),
    }
}

/// A trend metric of times (values in ms), with k6's keys.
pub fn trend(h: &Micros) -> Metric {
    let s = latency(h);
    let values = BTreeMap::from([
        ("avg".to_string(), s.avg),
        ("min".to_string(), s.min),
        ("med".to_string(), s.med),
        ("max".to_string(), s.max),
        ("p(90)".to_string(), s.p90),
        ("p(95)".to_string(), s.p95),
        ("p(99)".to_string(), s.p99),
        ("p(99.9)".to_string(), s.p999),
        ("count".to_string(), s.count as f64),
    ]);
    Metric {
        kind: MetricKind::Trend,
        contains: Contains::Time,
        values,
        thresholds: BTreeMap::new(),
    }
}

/// One aggregate of a trend, in ms (all 0 when empty, as k6). `None` for a counter's or a
/// rate's aggregate.
pub fn trend_aggregate(h: &Micros, agg: Aggregate) -> Option<f64> {
    if h.is_empty() {
        return matches!(
            agg,
            Aggregate::Avg
                | Aggregate::Min
                | Aggregate::Med
                | Aggregate::Max
                | Aggregate::Percentile(_)
        )
        .then_some(0.0);
    }
    Some(match agg {
        Aggregate::Avg => h.mean() / MS,
        Aggregate::Min => h.min() as f64 / MS,
        Aggregate::Med => h.value_at_quantile(0.5) as f64 / MS,
        Aggregate::Max => h.max() as f64 / MS,
        Aggregate::Percentile(p) => percentile_ms(h, p),
        _ => return None,
    })
}

/// The percentiles of a time series' running statistics: Locust's `PERCENTILES_TO_REPORT`.
pub const LADDER: [f64; 11] = [50.0, 66.0, 75.0, 80.0, 90.0, 95.0, 98.0, 99.0, 99.9, 99.99, 100.0];

/// The key of a percentile in k6's form: `p(95)`, `p(99.9)`.
pub fn percentile_key(p: f64) -> String {
    format!("p({p})")
}

/// [`percentile_key`] of each of [`LADDER`] (a test keeps them equal).
const LADDER_KEYS: [&str; 11] = [
    "p(50)", "p(66)", "p(75)", "p(80)", "p(90)", "p(95)", "p(98)", "p(99)", "p(99.9)", "p(99.99)",
    "p(100)",
];

/// Every percentile of [`LADDER`], ms, keyed by [`percentile_key`]; empty for an empty histogram.
/// The keys are static: a run keeps one ladder per second, and eleven small strings each
/// second were most of a point's memory.
pub fn ladder(h: &Micros) -> BTreeMap<Cow<'static, str>, f64> {
    if h.is_empty() {
        return BTreeMap::new();
    }
    LADDER.iter().zip(LADDER_KEYS).map(|(p, k)| (Cow::Borrowed(k), percentile_ms(h, *p))).collect()
}

/// Any percentile of a trend, for threshold expressions such as `p(97.5)<300`.
pub fn percentile_ms(h: &Micros, p: f64) -> f64 {
    if h.is_empty() { 0.0 } else { h.value_at_percentile(p) as f64 / MS }
}

pub fn counter(count: u64, duration_s: f64, contains: Contains) -> Metric {
    let rate = if duration_s > 0.0 { count as f64 / duration_s } else { 0.0 };
    Metric {
        kind: MetricKind::Counter,
        contains,
        values: BTreeMap::from([("count".to_string(), count as f64), ("rate".to_string(), rate)]),
        thresholds: BTreeMap::new(),
    }
}

/// A rate: fraction of `passes` among `passes + fails`.
pub fn rate(passes: u64, fails: u64) -> Metric {
    let total = passes + fails;
    let r = if total == 0 { 0.0 } else { passes as f64 / total as f64 };
    Metric {
        kind: MetricKind::Rate,
        contains: Contains::Default,
        values: BTreeMap::from([
            ("rate".to_string(), r),
            ("passes".to_string(), passes as f64),
            ("fails".to_string(), fails as f64),
        ]),
        thresholds: BTreeMap::new(),
    }
}

pub fn gauge(value: f64, min: f64, max: f64) -> Metric {
    Metric {
        kind: MetricKind::Gauge,
        contains: Contains::Default,
        values: BTreeMap::from([
            ("value".to_string(), value),
            ("min".to_string(), min),
            ("max".to_string(), max),
        ]),
        thresholds: BTreeMap::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ladder_keys_are_the_percentile_keys_of_the_ladder() {
        let keys: Vec<String> = LADDER.iter().map(|p| percentile_key(*p)).collect();
        assert_eq!(keys, LADDER_KEYS);
    }
    use crate::histogram;

    #[test]
    fn latency_of_known_values() {
        let mut h = histogram::new();
        for ms in 1..=100u64 {
            histogram::record(&mut h, ms * 1000);
        }
        let s = latency(&h);
        assert_eq!(s.count, 100);
        assert!((s.med - 50.0).abs() < 0.1, "{s:?}");
        assert!((s.p99 - 99.0).abs() < 0.1, "{s:?}");
        assert!((s.max - 100.0).abs() < 0.1, "{s:?}");
        assert!((s.avg - 50.5).abs() < 0.1, "{s:?}");
    }

    #[test]
    fn ladder_keys_and_values() {
        let mut h = histogram::new();
        for ms in 1..=100u64 {
            histogram::record(&mut h, ms * 1000);
        }
        let l = ladder(&h);
        let keys: Vec<&str> = l.keys().map(|k| k.as_ref()).collect();
        assert_eq!(keys.len(), 11);
        assert!((l["p(66)"] - 66.0).abs() < 0.1, "{l:?}");
        assert!((l["p(99.99)"] - 100.0).abs() < 0.1, "{l:?}");
        assert!((l["p(100)"] - 100.0).abs() < 0.1, "{l:?}");
        assert!(ladder(&histogram::new()).is_empty());
    }

    #[test]
    fn empty_is_zero() {
        assert_eq!(latency(&histogram::new()), LatencyStats::default());
    }
}
