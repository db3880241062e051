//! The live progress line on stderr: elapsed, rps, p95, failures, VUs. Drawn only when stderr
//! is a terminal (and not `-q`); a pipe or a file gets nothing, so logs stay clean.

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use volley_runner::Live;
use volley_runner::live::Snapshot;

/// A progress line being drawn; [`Line::finish`] clears it.
pub struct Line {
    drawn: Arc<AtomicBool>,
}

/// True when stderr is a terminal.
pub fn stderr_is_terminal() -> bool {
    // SAFETY: isatty only inspects the file descriptor.
    unsafe { libc::isatty(2) == 1 }
}

/// Draws the line from `live`'s snapshots when it should be shown.
pub fn start(live: &Live, quiet: bool) -> Option<Line> {
    if quiet || !stderr_is_terminal() {
        return None;
    }
    let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let drawn = Arc::new(AtomicBool::new(false));
    let d = drawn.clone();
    live.subscribe(move |p| {
        let mut err = std::io::stderr();
        let _ = write!(err, "\r\x1b[2K{}", format_line(p, color));
        let _ = err.flush();
        d.store(true, Ordering::Relaxed);
    });
    Some(Line { drawn })
}

/// One progress line (no terminal control codes besides optional colour).
pub fn format_line(p: &Snapshot, color: bool) -> String {
    let fail = if p.failures > 0 && color {
        format!("\x1b[31m{} failed\x1b[0m", p.failures)
    } else {
        format!("{} failed", p.failures)
    };
    let mut s = format!(
        "{:>4}s  {} reqs  {:.0} req/s  p95 {:.2} ms  {}  {} VUs",
        p.elapsed.as_secs(),
        p.requests,
        p.rps,
        p.p95_ms,
        fail,
        p.vus
    );
    if p.dropped > 0 {
        s.push_str(&format!("  {} dropped", p.dropped));
    }
    s
}

impl Line {
    /// Clears the line (the run ended: no snapshot comes any more).
    pub fn finish(self) {
        if self.drawn.load(Ordering::Relaxed) {
            let mut err = std::io::stderr();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn line_shows_the_live_figures() {
        let engine = volley_engine::Progress {
            elapsed: Duration::from_secs(3),
            requests: 1200,
            failures: 2,
            rps: 400.0,
            p95_ms: 4.25,
            vus: 10,
            dropped: 0,
            ..Default::default()
        };
        let p = Snapshot { engine, server: Vec::new() };
        assert_eq!(
            format_line(&p, false),
            "   3s  1200 reqs  400 req/s  p95 4.25 ms  2 failed  10 VUs"
        );
        assert!(format_line(&p, true).contains("\x1b[31m2 failed"));
    }
}
