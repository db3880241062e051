//! `volley compare A.json B.json [C.json ...] [--labels a,b,...] [--format md|html] [-o FILE]`:
//! runs side by side with deltas against the first, and a written analysis that says which
//! differences are large enough to mean something (method in `volley_report::compare`).

use std::path::PathBuf;

use anyhow::Context;
use volley_report::compare::{self, Run};

use crate::cmd::report::load_result;
use crate::outcome::{Outcome, usage};

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareFormat {
    Md,
    Html,
}

#[derive(clap::Args, Debug)]
pub struct CompareArgs {
    /// Two or more result files; deltas are relative to the first.
    #[arg(value_name = "RESULT", num_args = 1..)]
    pub results: Vec<PathBuf>,
    /// Names of the runs, comma-separated, in the order of the files (default: each result's
    /// label, else its file name).
    #[arg(long, value_delimiter = ',', value_name = "a,b,...")]
    pub labels: Vec<String>,
    /// Output format; by default taken from -o's extension, else md.
    #[arg(short = 'f', long = "format", value_enum)]
    pub format: Option<CompareFormat>,
    /// Write to FILE instead of stdout.
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    pub out: Option<PathBuf>,
}

pub fn main(args: CompareArgs) -> anyhow::Result<Outcome> {
    if args.results.len() < 2 {
        return Err(usage(
            "compare needs at least two result files\n  hint: volley compare before.json after.json",
        ));
    }
    if !args.labels.is_empty() && args.labels.len() != args.results.len() {
        return Err(usage(format!(
            "--labels has {} names for {} result files\n  hint: give one name per file, e.g. --labels {}",
            args.labels.len(),
            args.results.len(),
            (1..=args.results.len()).map(|i| format!("run{i}")).collect::<Vec<_>>().join(",")
        )));
    }
    let mut runs = Vec::new();
    for (i, path) in args.results.iter().enumerate() {
        let result = load_result(path)?;
        let label = args
            .labels
            .get(i)
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .or_else(|| result.config.label.clone())
            .unwrap_or_else(|| {
                path.file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| format!("run {}", i + 1))
            });
        runs.push(Run { label, result });
    }
    let format = match (args.format, &args.out) {
        (Some(f), _) => f,
        (None, Some(out)) => {
            match out.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
                Some("html" | "htm") => CompareFormat::Html,
                Some("md" | "markdown") | None => CompareFormat::Md,
                Some(other) => {
                    return Err(usage(format!(
                        "cannot write a comparison as `.{other}`\n  hint: use --format md or --format html (or an .md/.html file name)"
                    )));
                }
            }
        }
        (None, None) => CompareFormat::Md,
    };
    let text = match format {
        CompareFormat::Md => compare::markdown(&runs),
        CompareFormat::Html => compare::html(&runs)?,
    };
    match &args.out {
        Some(out) => {
            std::fs::write(out, text)
                .with_context(|| format!("cannot write the comparison to `{}`", out.display()))?;
            eprintln!("wrote {}", out.display());
        }
        None => print!("{text}"),
    }
    Ok(Outcome::Success)
}
