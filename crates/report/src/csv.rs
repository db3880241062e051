//! CSV in Locust's layout (`PREFIX_stats.csv`, `PREFIX_stats_history.csv`,
//! `PREFIX_failures.csv`, `PREFIX_exceptions.csv`: Locust 2.47's file names and headers, byte for
//! byte), so spreadsheets and scripts written for Locust's `--csv` output keep working.
//!
//! Rows as Locust writes them: endpoints sorted by name (then method) with `Aggregated` last;
//! one history row per second of the run; failures with the error in the form of Locust's
//! `HttpUser` (`HTTPError('500 Server Error: …')`). Times are milliseconds with µs precision
//! where Locust rounds to whole milliseconds: volley's percentiles are exact (HDR, 3 significant
//! digits), not Locust's rounded buckets.
//!
//! Every cell that carries a user string (names, methods, error texts) goes through
//! [`crate::escape::csv_cell`]: no formula injection, no raw control characters.

use volley_metrics::histogram::{self, Micros};
use volley_metrics::{EndpointStats, FailureKind, LatencyStats, RunResult, summary};

use crate::error::ReportError;
use crate::escape::csv_cell;
use crate::facts;
use crate::tables;

/// Locust's percentile columns: the ladder of [`summary::LADDER`] as Locust names it.
pub const PERCENTILES: [&str; 11] =
    ["50%", "66%", "75%", "80%", "90%", "95%", "98%", "99%", "99.9%", "99.99%", "100%"];

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

pub const FAILURES_COLUMNS: [&str; 6] =
    ["Method", "Name", "Error", "Occurrences", "First Seen", "Last Seen"];

pub const EXCEPTIONS_COLUMNS: [&str; 4] = ["Count", "Message", "Traceback", "Nodes"];

/// The suffixes of the four files, in the order of [`LocustCsv::files`].
pub const SUFFIXES: [&str; 4] =
    ["_stats.csv", "_stats_history.csv", "_failures.csv", "_exceptions.csv"];

/// The four files' contents.
#[derive(Debug, Clone, PartialEq)]
pub struct LocustCsv {
    pub stats: String,
    pub stats_history: String,
    pub failures: String,
    pub exceptions: String,
}

impl LocustCsv {
    /// (file suffix, contents), the suffixes of [`SUFFIXES`].
    pub fn files(&self) -> [(&'static str, &str); 4] {
        [
            (SUFFIXES[0], &self.stats),
            (SUFFIXES[1], &self.stats_history),
            (SUFFIXES[2], &self.failures),
            (SUFFIXES[3], &self.exceptions),
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

/// The percentile cells of a histogram (exact), else of a [`LatencyStats`] (which lacks 66%,
/// 75%, 80%, 98% and 99.99%: `N/A`, Locust's own marker). `N/A` for every cell when nothing
/// was measured, as Locust writes for an entry without requests.
fn percentile_cells(h: Option<&Micros>, l: &LatencyStats) -> Vec<String> {
    if let Some(h) = h.filter(|h| !h.is_empty()) {
        return summary::LADDER.iter().map(|p| num(summary::percentile_ms(h, *p))).collect();
    }
    if l.count == 0 {
        return vec!["N/A".into(); PERCENTILES.len()];
    }
    summary::LADDER
        .iter()
        .map(|p| match *p {
            50.0 => num(l.med),
            90.0 => num(l.p90),
            95.0 => num(l.p95),
            99.0 => num(l.p99),
            99.9 => num(l.p999),
            100.0 => num(l.max),
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

/// Endpoints in Locust's order: by name, then method.
fn sorted_endpoints(r: &RunResult) -> Vec<&EndpointStats> {
    let mut v: Vec<&EndpointStats> = r.endpoints.iter().collect();
    v.sort_by(|a, b| (&a.name, &a.method).cmp(&(&b.name, &b.method)));
    v
}

fn per_request(total: u64, requests: u64) -> f64 {
    if requests == 0 { 0.0 } else { total as f64 / requests as f64 }
}

/// `_stats.csv`: one row per endpoint (sorted by name) and the Aggregated row.
pub fn stats(r: &RunResult) -> Result<String, ReportError> {
    let mut w = writer();
    let header: Vec<&str> = STATS_COLUMNS.iter().chain(PERCENTILES.iter()).copied().collect();
    w.write_record(&header)?;
    let secs = r.duration_s.max(1e-9);
    for e in sorted_endpoints(r) {
        let h = decoded(r, &format!("http_req_duration{{name:{}}}", e.name));
        let l = &e.latency;
        let mut row = vec![
            csv_cell(&e.method).into_owned(),
            csv_cell(&e.name).into_owned(),
            e.requests.to_string(),
            e.failures.to_string(),
            num(l.med),
            num(l.avg),
            num(l.min),
            num(l.max),
            num(per_request(e.body_bytes, e.requests)),
            num(e.rps),
            num(e.failures_per_s),
        ];
        row.extend(percentile_cells(h.as_ref(), l));
        w.write_record(&row)?;
    }
    let l = tables::overall_latency(r);
    let h = decoded(r, "http_req_duration");
    let t = &r.totals;
    let body: u64 = r.endpoints.iter().map(|e| e.body_bytes).sum();
    let mut row = vec![
        String::new(),
        "Aggregated".into(),
        t.requests.to_string(),
        t.failed.to_string(),
        num(l.med),
        num(l.avg),
        num(l.min),
        num(l.max),
        num(per_request(body, t.requests)),
        num(t.rps),
        num(t.failed as f64 / secs),
    ];
    row.extend(percentile_cells(h.as_ref(), &l));
    w.write_record(&row)?;
    finish(w)
}

/// Seconds since the Unix epoch of `started_at`; 0 when it is not RFC 3339.
fn epoch(r: &RunResult) -> u64 {
    humantime::parse_rfc3339_weak(&r.started_at)
        .ok()
        .and_then(|st| st.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `_stats_history.csv`: one Aggregated row per second of the run, each with the running
/// (cumulative) statistics of the run up to the end of that second, as Locust writes by
/// default. Linear in the number of seconds.
pub fn stats_history(r: &RunResult) -> Result<String, ReportError> {
    let mut w = writer();
    let header: Vec<&str> = HISTORY_COLUMNS
        .iter()
        .chain(PERCENTILES.iter())
        .chain(HISTORY_TOTAL_COLUMNS.iter())
        .copied()
        .collect();
    w.write_record(&header)?;
    let (mut reqs, mut fails, mut body) = (0u64, 0u64, 0u64);
    let (mut sum_ms, mut counted) = (0.0f64, 0u64);
    let (mut min, mut max) = (f64::INFINITY, 0.0f64);
    let last = r.timeseries.len().saturating_sub(1);
    let overall = tables::overall_latency(r);
    let keys: Vec<String> = summary::LADDER.iter().map(|p| summary::percentile_key(*p)).collect();
    let start = epoch(r);
    let mut row: Vec<String> = Vec::with_capacity(header.len());
    for (i, p) in r.timeseries.iter().enumerate() {
        reqs += p.requests;
        fails += p.failures;
        body += p.body_bytes;
        if let Some(l) = &p.latency {
            sum_ms += l.avg * l.count as f64;
            counted += l.count;
            min = min.min(l.min);
            max = max.max(l.max);
        }
        row.clear();
        row.extend([
            (start + p.t).to_string(),
            p.vus.to_string(),
            String::new(),
            "Aggregated".into(),
            num(p.requests as f64),
            num(p.failures as f64),
        ]);
        let cum = &p.cumulative_percentiles;
        row.extend(
            keys.iter().map(|k| cum.get(k.as_str()).map_or_else(|| "N/A".into(), |v| num(*v))),
        );
        let median = match cum.get(keys[0].as_str()) {
            Some(v) => num(*v),
            None if counted == 0 => "0".into(),
            // A result written before the running percentiles were recorded: only the last
            // row, the run's own, is known.
            None if i == last => num(overall.med),
            None => "N/A".into(),
        };
        row.extend([
            reqs.to_string(),
            fails.to_string(),
            median,
            num(if counted == 0 { 0.0 } else { sum_ms / counted as f64 }),
            num(if min.is_finite() { min } else { 0.0 }),
            num(max),
            num(per_request(body, reqs)),
        ]);
        w.write_record(&row)?;
    }
    finish(w)
}

/// The failure text Locust's `HttpUser` would write (the `repr` of the exception `requests`
/// raises; Locust puts the request's name where `requests` has the URL), for an unexpected
/// status or a transport failure.
fn error_text(e: &EndpointStats, cause: Cause<'_>) -> String {
    match cause {
        Cause::Status(code) => {
            let label = crate::format::status_label(code);
            let reason = label.strip_prefix(code).unwrap_or("").trim();
            let class = if code.starts_with('4') { "Client" } else { "Server" };
            let what = if code.starts_with('4') || code.starts_with('5') {
                format!("{code} {class} Error: {reason} for url: {}", e.name)
            } else {
                // Locust fails only 4xx/5xx by itself; volley's expected statuses may exclude
                // others (a plan's check): say which status it was.
                format!("unexpected status {label} for url: {}", e.name)
            };
            format!("HTTPError({})", py_repr(&what))
        }
        Cause::Kind(kind) => {
            let k = FailureKind::ALL.iter().find(|k| k.as_str() == kind);
            let class = match k {
                Some(FailureKind::Timeout) => "ReadTimeout",
                Some(FailureKind::Tls) => "SSLError",
                Some(FailureKind::Malformed) => "InvalidHeader",
                _ => "ConnectionError",
            };
            let what = match k {
                Some(k) => format!("{kind}: {}", k.describe()),
                None => kind.to_string(),
            };
            format!("{class}({})", py_repr(&what))
        }
    }
}

enum Cause<'a> {
    Status(&'a str),
    Kind(&'a str),
}

/// A Python string literal as `repr` writes it (single quotes unless the text holds a single
/// quote and no double quote).
fn py_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') { '"' } else { '\'' };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// `_failures.csv`: one row per endpoint and cause (unexpected status or transport kind),
/// sorted by name, method and error. `First Seen`/`Last Seen` as Locust writes them (UTC, to
/// the second, truncated); empty for a result written before volley recorded them.
pub fn failures(r: &RunResult) -> Result<String, ReportError> {
    let mut w = writer();
    w.write_record(FAILURES_COLUMNS)?;
    let start = humantime::parse_rfc3339_weak(&r.started_at).ok();
    let at = |s: f64| match (start, std::time::Duration::try_from_secs_f64(s)) {
        (Some(t), Ok(d)) => {
            t.checked_add(d).map(|t| humantime::format_rfc3339_seconds(t).to_string())
        }
        _ => None,
    };
    let seen = |e: &EndpointStats, key: &str| {
        e.failures_seen.get(key).map_or((String::new(), String::new()), |s| {
            (at(s.first_s).unwrap_or_default(), at(s.last_s).unwrap_or_default())
        })
    };
    // (name, method, error, occurrences, (first seen, last seen)), sorted as Locust sorts.
    type Row<'a> = (&'a str, &'a str, String, u64, (String, String));
    let mut rows: Vec<Row> = Vec::new();
    for e in &r.endpoints {
        for (code, n) in &e.status_codes {
            if *n > 0 && !facts::is_expected_status(r, code) {
                let error = error_text(e, Cause::Status(code));
                rows.push((&e.name, &e.method, error, *n, seen(e, code)));
            }
        }
        for (kind, n) in &e.failure_kinds {
            if *n > 0 {
                rows.push((
                    &e.name,
                    &e.method,
                    error_text(e, Cause::Kind(kind)),
                    *n,
                    seen(e, kind),
                ));
            }
        }
    }
    rows.sort();
    for (name, method, error, n, (first, last)) in rows {
        w.write_record([
            csv_cell(method).as_ref(),
            csv_cell(name).as_ref(),
            csv_cell(&error).as_ref(),
            &n.to_string(),
            &first,
            &last,
        ])?;
    }
    finish(w)
}

/// `_exceptions.csv`: Locust's errors raised in user code. volley runs no user code, so it is
/// the header alone.
pub fn exceptions(_r: &RunResult) -> Result<String, ReportError> {
    let mut w = writer();
    w.write_record(EXCEPTIONS_COLUMNS)?;
    finish(w)
}

/// All four files.
pub fn render(r: &RunResult) -> Result<LocustCsv, ReportError> {
    Ok(LocustCsv {
        stats: stats(r)?,
        stats_history: stats_history(r)?,
        failures: failures(r)?,
        exceptions: exceptions(r)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;
    use volley_metrics::FailureSeen;

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
        assert!(c.failures.starts_with("Method,Name,Error,Occurrences,First Seen,Last Seen\r\n"));
        assert_eq!(c.exceptions, "Count,Message,Traceback,Nodes\r\n");
    }

    #[test]
    fn names_with_commas_and_quotes_are_quoted() {
        let mut r = fixture::plan_run();
        r.endpoints[0].name = "/a,\"b\"".into();
        let c = render(&r).unwrap();
        assert!(c.stats.contains("GET,\"/a,\"\"b\"\"\",260"), "{}", c.stats);
    }

    #[test]
    fn rows_sorted_by_name_then_method_aggregated_last() {
        let mut r = fixture::plan_run();
        let mut b = r.endpoints[0].clone();
        b.name = "aaa".into();
        b.method = "POST".into();
        let mut a = b.clone();
        a.method = "GET".into();
        r.endpoints.push(b);
        r.endpoints.push(a);
        let c = render(&r).unwrap();
        let names: Vec<(String, String)> = c
            .stats
            .lines()
            .skip(1)
            .map(|l| {
                let mut it = l.split(',');
                (it.next().unwrap().to_string(), it.next().unwrap().to_string())
            })
            .collect();
        let mut sorted = names[..names.len() - 1].to_vec();
        sorted.sort_by(|x, y| (&x.1, &x.0).cmp(&(&y.1, &y.0)));
        assert_eq!(&names[..names.len() - 1], &sorted[..]);
        let aaa: Vec<&(String, String)> = names.iter().filter(|n| n.1 == "aaa").collect();
        assert_eq!(aaa, [&("GET".to_string(), "aaa".to_string()), &("POST".into(), "aaa".into())]);
        assert_eq!(names.last().unwrap(), &(String::new(), "Aggregated".to_string()));
    }

    #[test]
    fn content_size_is_body_bytes() {
        let r = fixture::plan_run();
        let c = render(&r).unwrap();
        let e = r.endpoints.iter().find(|e| e.requests > 0).unwrap();
        assert!(e.body_bytes < e.bytes_received);
        let want = num(e.body_bytes as f64 / e.requests as f64);
        let row = c.stats.lines().find(|l| l.split(',').nth(1) == Some(e.name.as_str())).unwrap();
        assert_eq!(row.split(',').nth(8), Some(want.as_str()), "{row}");
    }

    #[test]
    fn failures_are_first_and_last_seen_as_locust_writes_the_times() {
        let mut r = fixture::plan_run();
        r.started_at = "2026-12-03T07:19:18.750Z".into();
        let e = r.endpoints.iter_mut().find(|e| e.status_codes.contains_key("500")).unwrap();
        let code = "500".to_string();
        // 0.25 s after a start at .750 is the next whole second; Locust truncates, as here.
        e.failures_seen.insert(code.clone(), FailureSeen { first_s: 0.25, last_s: 61.1 });
        let name = e.name.clone();
        let c = failures(&r).unwrap();
        let row = c
            .lines()
            .find(|l| l.contains(&format!(",{name},")) && l.contains(&code))
            .unwrap_or_else(|| panic!("{c}"));
        assert!(row.ends_with(",2026-12-03T07:19:19Z,2026-12-03T07:20:19Z"), "{row}");
        // A cause without recorded times (an older result) leaves both cells empty.
        let bare = failures(&fixture::plan_run()).unwrap();
        assert!(bare.lines().skip(1).all(|l| l.ends_with(",,")), "{bare}");
    }

    #[test]
    fn every_history_row_has_every_percentile() {
        let r = fixture::plan_run();
        let c = render(&r).unwrap();
        for (line, p) in c.stats_history.lines().skip(1).zip(&r.timeseries) {
            let cells: Vec<&str> = line.split(',').collect();
            assert_eq!(cells.len(), 24, "{line}");
            if p.cumulative_percentiles.is_empty() {
                continue;
            }
            assert!(cells[6..17].iter().chain(&cells[17..24]).all(|c| *c != "N/A"), "{line}");
            // Total Median Response Time is the running 50%.
            assert_eq!(cells[6], cells[19], "{line}");
            let ps: Vec<f64> = cells[6..17].iter().map(|c| c.parse().unwrap()).collect();
            assert!(ps.windows(2).all(|w| w[0] <= w[1]), "{line}");
        }
        let last: Vec<&str> = c.stats_history.lines().last().unwrap().split(',').collect();
        let overall = tables::overall_latency(&r);
        assert_eq!(last[19], num(overall.med));
        assert_eq!(last[16], num(overall.max));
    }

    #[test]
    fn failures_in_locusts_form_and_exceptions_header_only() {
        let r = fixture::plan_run();
        let c = render(&r).unwrap();
        let mut lines = c.failures.lines();
        assert_eq!(lines.next(), Some("Method,Name,Error,Occurrences,First Seen,Last Seen"));
        let rows: Vec<&str> = lines.collect();
        assert!(!rows.is_empty());
        assert!(
            rows.iter().any(
                |l| l.contains(",HTTPError('500 Server Error: Internal Server Error for url: ")
            ),
            "{rows:?}"
        );
        assert!(rows.iter().any(|l| l.contains(",ReadTimeout('timeout: ")), "{rows:?}");
        assert_eq!(c.exceptions, "Count,Message,Traceback,Nodes\r\n");
    }

    #[test]
    fn python_repr_quotes_as_python_does() {
        assert_eq!(py_repr("a"), "'a'");
        assert_eq!(py_repr("it's"), "\"it's\"");
        assert_eq!(py_repr("it's \"x\""), "'it\\'s \"x\"'");
        assert_eq!(py_repr("a\nb\u{1b}"), "'a\\nb\\x1b'");
    }

    #[test]
    fn formula_cells_are_neutralised_and_controls_visible() {
        for bad in ["=1+1", "+1", "-2", "@SUM(A1)"] {
            assert_eq!(csv_cell(bad), format!("'{bad}"));
        }
        assert_eq!(csv_cell("\tx"), "\u{2409}x");
        assert_eq!(csv_cell("a\u{1b}[2J"), "a\u{241b}[2J");
        for fine in ["/", "index", "1-2", "a=b", ""] {
            assert_eq!(csv_cell(fine), fine);
        }
        let mut r = fixture::plan_run();
        r.endpoints[0].name = "=HYPERLINK(\"http://x\",\"y\")".into();
        r.endpoints[0].method = "@GET".into();
        let c = render(&r).unwrap();
        assert!(
            c.stats.contains("'@GET,\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\""),
            "{}",
            c.stats
        );
        for file in [&c.stats, &c.stats_history, &c.failures] {
            for line in file.lines() {
                for cell in line.split(',') {
                    let cell = cell.trim_start_matches('"');
                    assert!(!cell.starts_with(['=', '+', '@', '\t', '\r']), "{line}");
                }
            }
        }
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
