//! `volley merge A.json B.json ... -o merged.json [--report merged.html]`: the exact merge of
//! the results of a test's execution segments (`volley_metrics::merge`), with the thresholds
//! evaluated again on the merged metrics (exit 99 when one is crossed, as a run would).

use std::path::PathBuf;

use volley_metrics::merge::{MergeError, merge};

use crate::cmd::report::load_result;
use crate::outcome::{Outcome, usage};

#[derive(clap::Args, Debug)]
pub struct MergeArgs {
    /// The result files of the shards (one per execution segment).
    #[arg(value_name = "RESULT", num_args = 1..)]
    pub results: Vec<PathBuf>,
    /// Save the merged result file (JSON) here.
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Also render a report of the merged result; the format comes from the extension.
    #[arg(long = "report", value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Print the merged result JSON to stdout instead of the summary.
    #[arg(long = "json")]
    pub json: bool,
    /// No summary.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
}

pub fn main(args: MergeArgs) -> anyhow::Result<Outcome> {
    if let Some(path) = &args.report {
        super::report::format_of(path)?;
    }
    let mut results = Vec::new();
    for path in &args.results {
        results.push((path.display().to_string(), load_result(path)?));
    }
    let merged = merge_results(&results)?;
    write_merged(&merged, &args)?;
    if !volley_metrics::merge::covers_all(&merged.config.merged_segments) {
        eprintln!(
            "warning: the shards cover only part of the test (segments {})",
            merged.config.merged_segments.join(", ")
        );
    }
    Ok(if merged.thresholds.iter().any(|t| !t.ok) {
        Outcome::ThresholdsCrossed
    } else {
        Outcome::Success
    })
}

/// Writes `-o` and `--report` of a merged result and prints its summary (or JSON); shared
/// with `volley k8s --apply`, whose shards are merged the same way.
pub fn write_merged(merged: &volley_metrics::RunResult, args: &MergeArgs) -> anyhow::Result<()> {
    let (out, report) = (args.out.as_deref(), args.report.as_deref());
    super::run::write_result(merged, out, report, args.json, args.quiet, "merged result")
}

/// Merges, and checks the merged result as the reader checks any file (its counts must add
/// up); refusals are the user's mistakes (exit 2).
pub fn merge_results(
    results: &[(String, volley_metrics::RunResult)],
) -> anyhow::Result<volley_metrics::RunResult> {
    let merged = merge(results).map_err(|e| match e {
        MergeError::Bad { .. } => anyhow::anyhow!("{e}"),
        e => usage(e),
    })?;
    volley_metrics::read::check(&merged)
        .map_err(|e| anyhow::anyhow!("the merged result does not add up: {e}"))?;
    Ok(merged)
}
