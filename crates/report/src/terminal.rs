//! The terminal summary printed at the end of a run (stdout).
//!
//! STUB written by the lead; the report work replaces the body and keeps the signature.

use volley_metrics::RunResult;

/// How the summary is drawn.
#[derive(Debug, Clone, Copy, Default)]
pub struct Style {
    /// ANSI colours (off when `NO_COLOR` is set or stdout is not a terminal).
    pub color: bool,
}

/// The end-of-run summary.
pub fn render(result: &RunResult, style: Style) -> String {
    let _ = style;
    format!(
        "requests: {}  failed: {}  rps: {:.1}\n",
        result.totals.requests, result.totals.failed, result.totals.rps
    )
}
