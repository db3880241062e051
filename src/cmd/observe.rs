//! Server observation around a run (`--watch-pid`, `--watch-name`, `--watch-cgroup`): starts
//! sampling before the load begins and folds the samples into the result afterwards.
//!
//! STUB written by the lead; the harness work fills it in and keeps the signatures.

use volley_metrics::RunResult;

use super::quick::OutputArgs;

/// Sampling in progress.
pub struct Observer {
    _private: (),
}

/// Starts sampling what the flags name; `None` when nothing is to be watched. Errors (a PID
/// that does not exist, a missing cgroup) are usage errors.
pub fn start(out: &OutputArgs) -> anyhow::Result<Option<Observer>> {
    let _ = out;
    Ok(None)
}

impl Observer {
    /// Stops sampling and writes `result.server` and the per-second `server` samples.
    pub fn finish(self, result: &mut RunResult) {
        let _ = result;
    }
}
