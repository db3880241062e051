//! Reports: pure functions from a result file to text (terminal, Markdown, HTML, CSV, JUnit)
//! and comparisons of several results. Depends on `volley-metrics` only: never on the engine,
//! so a result from another machine renders the same.
//!
//! Building blocks other reports reuse: [`table::Table`] (one table, rendered as text, Markdown
//! or HTML), [`charts`] (SVG charts), [`html::environment`] (the HTML page shell and its
//! auto-escaping template environment), [`format`] (human units).

pub mod capacity;
pub mod charts;
pub mod compare;
pub mod csv;
pub mod error;
pub mod escape;
pub mod facts;
pub mod findings;
pub mod fixture;
pub mod format;
pub mod glossary;
pub mod html;
pub mod junit;
pub mod k6;
pub mod markdown;
pub mod scale;
pub mod stats;
pub mod sweep_findings;
pub mod table;
pub mod tables;
pub mod terminal;

pub use error::ReportError;

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use crate::fixture::{Second, Spec};

    /// A one-hour, one-million-request result renders in every format in under a second
    /// (optimized build; debug builds get a looser bound) and its HTML stays under 2 MB.
    #[test]
    fn one_hour_million_requests_renders_fast() {
        let seconds: Vec<Second> = (0..3600u64)
            .map(|t| Second {
                requests: 278 + (t % 3 == 0) as u64,
                failures: t % 7,
                p50_ms: 20.0 + (t % 60) as f64,
                vus: 50,
            })
            .collect();
        let r = Spec { seconds, server: Some((vec![80.0, 70.0], 30.0)), ..Spec::default() }.build();
        assert!(r.totals.requests >= 1_000_000, "{}", r.totals.requests);
        let start = Instant::now();
        let html = crate::html::render(&r, crate::html::Options { glossary: true }).unwrap();
        let html_time = start.elapsed();
        let md = crate::markdown::render(&r, crate::markdown::Options { glossary: true });
        let csv = crate::csv::render(&r).unwrap();
        let junit = crate::junit::render(&r);
        let term = crate::terminal::render(&r, crate::terminal::Style::default());
        let total = start.elapsed();
        let bound =
            if cfg!(debug_assertions) { Duration::from_secs(5) } else { Duration::from_secs(1) };
        eprintln!(
            "one-hour result: html {} bytes in {html_time:?}; all formats in {total:?}",
            html.len()
        );
        assert!(total < bound, "rendering took {total:?}");
        assert!(html.len() < 2_000_000, "html is {} bytes", html.len());
        assert!(!md.is_empty() && !junit.is_empty() && !term.is_empty());
        assert_eq!(csv.stats_history.lines().count(), 3601);
    }

    /// A run that completed nothing (refused target, Ctrl-C at once) still renders everywhere.
    #[test]
    fn empty_result_renders_in_every_format() {
        for seconds in [vec![], vec![Second { requests: 0, failures: 0, p50_ms: 0.0, vus: 0 }]] {
            let mut r = Spec { seconds, ..Spec::default() }.build();
            r.histograms.clear();
            r.interrupted = true;
            let html = crate::html::render(&r, crate::html::Options::default()).unwrap();
            assert!(html.contains("chart-rps"));
            let md = crate::markdown::render(&r, crate::markdown::Options::default());
            assert!(md.contains("No request was completed (0 requests)."), "{md}");
            crate::csv::render(&r).unwrap();
            crate::junit::render(&r);
            crate::terminal::render(&r, crate::terminal::Style::default());
            let runs = [
                crate::compare::Run { label: "a".into(), result: r.clone() },
                crate::compare::Run { label: "b".into(), result: r.clone() },
            ];
            crate::compare::html(&runs).unwrap();
            assert!(crate::compare::markdown(&runs).contains("too short"));
        }
    }
}
