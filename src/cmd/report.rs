//! `volley report RESULT --format md|html|csv|junit|json [-o FILE]`.
//!
//! STUB written by the lead; the report work fills it in and keeps `write_report`'s signature.

use std::path::Path;

use volley_metrics::RunResult;

use crate::outcome::Outcome;

#[derive(clap::Args, Debug)]
pub struct ReportArgs {}

pub fn main(_args: ReportArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("`volley report` is not implemented yet")
}

/// Renders `result` to `path`, the format chosen by the extension (`--report FILE` of quick
/// mode and `volley run`).
pub fn write_report(path: &Path, result: &RunResult) -> anyhow::Result<()> {
    let _ = (path, result);
    anyhow::bail!("reports are not implemented yet")
}
