//! How a command ended, and the exit code that says so (see `product.md`: 0 success, 1 run
//! failure, 2 usage or plan error, 99 thresholds crossed, 130 interrupted; 143 for
//! `volley cluster` stopped by SIGTERM, as shells report a process killed by it).

use std::process::ExitCode;

/// A command's successful ending. Failures are `anyhow::Error`s; wrap a user mistake in
/// [`Usage`] to get exit code 2 instead of 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    ThresholdsCrossed,
    Interrupted,
    /// Stopped by SIGTERM (`volley cluster`, a long-running server): 143 = 128 + 15.
    Terminated,
    /// The run went through but failed as a whole (no response at all): the result is still
    /// printed and saved, the exit code is 1.
    RunFailed,
}

/// Marks an error as the user's mistake (bad flag value, bad plan): exit code 2.
#[derive(Debug)]
pub struct Usage;

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("usage error")
    }
}

impl std::error::Error for Usage {}

/// Wraps a message as a usage error: printed as is, exit code 2.
pub fn usage(msg: impl std::fmt::Display) -> anyhow::Error {
    anyhow::Error::new(Usage).context(msg.to_string())
}

pub fn exit(result: anyhow::Result<Outcome>) -> ExitCode {
    match result {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::ThresholdsCrossed) => ExitCode::from(99),
        Ok(Outcome::Interrupted) => ExitCode::from(130),
        Ok(Outcome::Terminated) => ExitCode::from(143),
        Ok(Outcome::RunFailed) => ExitCode::from(1),
        Err(e) => {
            let is_usage = e.chain().any(|c| c.is::<Usage>());
            // `{:#}` prints the context chain on one line, without a backtrace.
            let msg = format!("{e:#}");
            let msg = msg.trim_end_matches(": usage error");
            eprintln!("error: {msg}");
            ExitCode::from(if is_usage { 2 } else { 1 })
        }
    }
}
