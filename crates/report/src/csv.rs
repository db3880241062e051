//! CSV in Locust's layout (`PREFIX_stats.csv`, `PREFIX_stats_history.csv`,
//! `PREFIX_failures.csv`, same column names), so spreadsheets and scripts written for Locust's
//! `--csv` output keep working.
//!
//! Times are milliseconds. A percentile the result cannot give exactly (a per-second window
//! keeps p50/p90/p95/p99/p99.9/max only) is written as `N/A`, Locust's own marker.

use volley_metrics::histogram::{self, Micros};
use volley_metrics::{LatencyStats, RunResult};

use crate::error::ReportError;
use crate::facts;
use crate::tables;

/// Locust's percentile columns.
pub const PERCENTILES: [(&str, f64); 11] = [
    ("50%", 0.5),
    ("66%", 0.66),
    ("75%", 0.75),
    ("80%", 0.8),
    ("90%", 0.9),
    ("95%", 0.95),
    ("98%", 0.98),
    ("99%", 0.99),
    ("99.9%", 0.999),
    ("99.99%", 0.9999),
    ("100%", 1.0),
];

pub const STATS_COLUMNS: [&str; 11] = [
    "Type",
    "Name",
    "Request Count",
    "Failure Count",
    "Median Response Time",
    "Average Response Time",
    "Min Response Time",
    "Max Response Time",
    "Average Content Size",
    "Requests/s",
    "Failures/s",
];

pub const HISTORY_COLUMNS: [&str; 6] =
    ["Timestamp", "User Count", "Type", "Name", "Requests/s", "Failures/s"];

pub const HISTORY_TOTAL_COLUMNS: [&str; 7] = [
    "Total Request Count",
    "Total Failure Count",
    "Total Median Response Time",
    "Total Average Response Time",
    "Total Min Response Time",
    "Total Max Response Time",
    "Total Average Content Size",
];

pub const FAILURES_COLUMNS: [&str; 4] = ["Method", "Name", "Error", "Occurrences"];

/// The three files' contents.
#[derive(Debug, Clone, PartialEq)]
pub struct LocustCsv {
    pub stats: String,
    pub stats_history: String,
    pub failures: String,
}

impl LocustCsv {
    /// (file suffix, contents): `_stats.csv`, `_stats_history.csv`, `_failures.csv`.
    pub fn files(&self) -> [(&'static str, &str); 3] {
        [
            ("_stats.csv", &self.stats),
            ("_stats_history.csv", &self.stats_history),
            ("_failures.csv", &self.failures),
        ]
    }
}

/// Milliseconds with µs precision, trailing zeros trimmed.
fn num(v: f64) -> String {
    if !v.is_finite() {
        return "N/A".into();
    }
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.to_string() }
}

/// The percentile cells: exact from a histogram, else the few a [`LatencyStats`] carries.
fn percentile_cells(h: Option<&Micros>, l: Option<&LatencyStats>) -> Vec<String> {
    PERCENTILES
        .iter()
        .map(|(_, q)| match (h, l) {
            (Some(h), _) if !h.is_empty() => num(h.value_at_quantile(*q) as f64 / 1000.0),
            (_, Some(l)) if l.count > 0 || l.max > 0.0 => match *q {
                0.5 => num(l.med),
                0.9 => num(l.p90),
                0.95 => num(l.p95),
                0.99 => num(l.p99),
                0.999 => num(l.p999),
                1.0 => num(l.max),
                _ => "N/A".into(),
            },
            _ => "N/A".into(),
        })
        .collect()
}

fn writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new())
}

fn finish(w: csv::Writer<Vec<u8>>) -> Result<String, ReportError> {
    let bytes = w.into_inner().map_err(|e| ReportError::Io(e.into_error()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn decoded(r: &RunResult, key: &str) -> Option<Micros> {
    r.histograms.get(key).and_then(|s| histogram::decode(s).ok())
}

/// `_stats.csv`: one row per endpoint and the Aggregated row.
pub fn stats(r: &RunResult) -> Result<String, ReportError> {
    let mut w = writer();
    let header: Vec<&str> =
        STATS_COLUMNS.iter().copied().chain(PERCENTILES.iter().map(|p| p.0)).collect();
    w.write_record(&header)?;
    let secs = r.duration_s.max(1e-9);
    for e in &r.endpoints {
        let h = decoded(r, &format!("http_req_duration{{name:{}}}", e.name));
        let l = &e.latency;
        let mut row = vec![
            e.method.clone(),
            e.name.clone(),
            e.requests.to_string(),
            e.failures.to_string(),
            num(l.med),
            num(l.avg),
            num(l.min),
            num(l.max),
            num(if e.requests == 0 { 0.0 } else { e.bytes_received as f64 / e.requests as f64 }),
            num(e.rps),
            num(e.failures_per_s),
        ];
        row.extend(percentile_cells(h.as_ref(), Some(l)));
        w.write_record(&row)?;
    }
    let l = tables::overall_latency(r);
    let h = decoded(r, "http_req_duration");
    let t = &r.totals;
    let mut row = vec![
        String::new(),
        "Aggregated".into(),
        t.requests.to_string(),
        t.failed.to_string(),
        num(l.med),
        num(l.avg),
        num(l.min),
        num(l.max),
        num(if t.requests == 0 { 0.0 } else { t.bytes_received as f64 / t.requests as f64 }),
        num(t.rps),
        num(t.failed as f64 / secs),
    ];
    row.extend(percentile_cells(h.as_ref(), Some(&l)));
    w.write_record(&row)?;
    finish(w)
}

/// Seconds since the Unix epoch of `started_at + t`; 0 when `started_at` is not RFC 3339.
fn timestamp(r: &RunResult, t: u64) -> u64 {
    humantime::parse_rfc3339_weak(&r.started_at)
        .ok()
        .and_then(|st| st.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs() + t)
        .unwrap_or(t)
}

/// `_stats_history.csv`: one Aggregated row per second of the run.
pub fn stats_history(r: &RunResult) -> Result<String, ReportError> {
    let mut w = writer();
    let header: Vec<&str> = HISTORY_COLUMNS
        .iter()
        .copied()
        .chain(PERCENTILES.iter().map(|p| p.0))
        .chain(HISTORY_TOTAL_COLUMNS.iter().copied())
        .collect();
    w.write_record(&header)?;
    let (mut reqs, mut fails, mut bytes) = (0u64, 0u64, 0u64);
    let (mut sum_ms, mut min, mut max) = (0.0f64, f64::INFINITY, 0.0f64);
    let last = r.timeseries.len().saturating_sub(1);
    let overall = tables::overall_latency(r);
    for (i, p) in r.timeseries.iter().enumerate() {
        reqs += p.requests;
        fails += p.failures;
        bytes += p.bytes_received;
        if let Some(l) = &p.latency {
            sum_ms += l.avg * l.count as f64;
            min = min.min(l.min);
            max = max.max(l.max);
        }
        let mut row = vec![
            timestamp(r, p.t).to_string(),
            p.vus.to_string(),
            String::new(),
            "Aggregated".into(),
            num(p.requests as f64),
            num(p.failures as f64),
        ];
        row.extend(percentile_cells(None, p.latency.as_ref()));
        let counted: u64 =
            r.timeseries[..=i].iter().filter_map(|p| p.latency.as_ref()).map(|l| l.count).sum();
        row.extend([
            reqs.to_string(),
            fails.to_string(),
            // A running median cannot be rebuilt from per-second summaries; the last row is the
            // run's own.
            if i == last { num(overall.med) } else { "N/A".into() },
            num(if counted == 0 { 0.0 } else { sum_ms / counted as f64 }),
            num(if min.is_finite() { min } else { 0.0 }),
            num(max),
            num(if reqs == 0 { 0.0 } else { bytes as f64 / reqs as f64 }),
        ]);
        w.write_record(&row)?;
    }
    finish(w)
}

/// `_failures.csv`: one row per endpoint and cause (unexpected status or transport kind).
pub fn failures(r: &RunResult) -> Result<String, ReportError> {
    let mut w = writer();
    w.write_record(FAILURES_COLUMNS)?;
    for e in &r.endpoints {
        for (code, n) in &e.status_codes {
            if *n > 0 && !facts::is_expected_status(r, code) {
                w.write_record([
                    e.method.as_str(),
                    e.name.as_str(),
                    &format!("HTTP {}", crate::format::status_label(code)),
                    &n.to_string(),
                ])?;
            }
        }
        for (kind, n) in &e.failure_kinds {
            if *n > 0 {
                let what = volley_metrics::FailureKind::ALL
                    .iter()
                    .find(|k| k.as_str() == kind)
                    .map(|k| format!("{kind}: {}", k.describe()))
                    .unwrap_or_else(|| kind.clone());
                w.write_record([e.method.as_str(), e.name.as_str(), &what, &n.to_string()])?;
            }
        }
    }
    finish(w)
}

/// All three files.
pub fn render(r: &RunResult) -> Result<LocustCsv, ReportError> {
    Ok(LocustCsv { stats: stats(r)?, stats_history: stats_history(r)?, failures: failures(r)? })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;

    #[test]
    fn plan_run_snapshot() {
        let c = render(&fixture::plan_run()).unwrap();
        insta::assert_snapshot!("stats", c.stats);
        insta::assert_snapshot!("stats_history", c.stats_history);
        insta::assert_snapshot!("failures", c.failures);
    }

    #[test]
    fn columns_are_locusts() {
        let c = render(&fixture::plan_run()).unwrap();
        assert!(c.stats.starts_with("Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%\r\n"));
        assert!(
            c.stats_history
                .starts_with("Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,")
        );
        assert!(
            c.stats_history
                .lines()
                .next()
                .unwrap()
                .ends_with("Total Max Response Time,Total Average Content Size")
        );
        assert!(c.failures.starts_with("Method,Name,Error,Occurrences\r\n"));
    }

    #[test]
    fn names_with_commas_and_quotes_are_quoted() {
        let mut r = fixture::plan_run();
        r.endpoints[0].name = "/a,\"b\"".into();
        let c = render(&r).unwrap();
        assert!(c.stats.contains("GET,\"/a,\"\"b\"\"\",260"), "{}", c.stats);
    }

    #[test]
    fn history_totals_add_up() {
        let r = fixture::plan_run();
        let c = render(&r).unwrap();
        let last = c.stats_history.lines().last().unwrap();
        let cells: Vec<&str> = last.split(',').collect();
        assert_eq!(cells[17], r.totals.requests.to_string());
        assert_eq!(cells[18], r.totals.failed.to_string());
        assert_eq!(cells[0], (1_767_323_045 + 11).to_string()); // 2026-01-02T03:04:05Z + 11 s
    }
}
