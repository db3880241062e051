//! `volley report RESULT --format md|html|csv|junit|json|k6 [-o FILE]`, and `write_report`, which
//! `--report FILE` of quick mode and `volley run` use (format from the extension).
//!
//! Also the loader every command that reads result files shares (`compare`): one clear message
//! for a missing file, a file that is not a result, or a result of another schema version.
//! `volley report` also renders the sweeps of `volley scale -o` and the searches of `volley
//! capacity -o` (Markdown, HTML), told apart by `volley_metrics::read::document_from_path`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use volley_metrics::RunResult;
use volley_metrics::read::{Document, ReadError};
use volley_report::{csv, html, junit, k6, markdown};

use crate::outcome::{Outcome, usage};

/// Output formats of `volley report`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Markdown with findings.
    Md,
    /// One self-contained HTML page with charts.
    Html,
    /// Locust's CSV files (`-o PREFIX` writes PREFIX_stats.csv, _stats_history.csv, _failures.csv, _exceptions.csv).
    Csv,
    /// JUnit XML: one test case per threshold and per check.
    Junit,
    /// The result file itself, validated and re-serialized.
    Json,
    /// k6's `--summary-export` file (flat values, `thresholds: {expr: crossed}`, `root_group`).
    K6,
}

#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// A result file written by `volley ... -o result.json`.
    #[arg(value_name = "RESULT")]
    pub result: PathBuf,
    /// Output format; by default taken from -o's extension, else md.
    #[arg(short = 'f', long = "format", value_enum)]
    pub format: Option<Format>,
    /// Write to FILE instead of stdout (for csv: the prefix of the three files).
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Append a glossary of the metrics (md, html).
    #[arg(long)]
    pub glossary: bool,
}

/// Reads and checks a result file with `volley_metrics::read` (histograms decode, counts add
/// up); every problem is a usage error with a hint (exit 2).
pub fn load_result(path: &Path) -> anyhow::Result<RunResult> {
    volley_metrics::read::from_path(path).map_err(|e| read_error(path, e))
}

fn hint(e: &ReadError) -> &'static str {
    match e {
        ReadError::Io(_) => {
            "write one with `volley URL -o result.json` or `volley run PLAN --out result.json`"
        }
        ReadError::NoSchemaVersion => {
            "pass the file written by `-o`/`--out`, not a report or a k6 summary"
        }
        ReadError::NotJson(_) => "pass the file written by `-o`/`--out`",
        ReadError::SchemaVersion { .. } | ReadError::DocumentVersion { .. } => {
            "render it with the volley version that wrote it"
        }
        ReadError::Shape(_) => "was the file edited by hand?",
        ReadError::Histogram { .. } | ReadError::Counts { .. } => {
            "the file is damaged or was edited by hand; write it again with `-o`"
        }
        ReadError::Inner { source, .. } => hint(source),
    }
}

/// One message with the file, what is wrong and a hint (a usage error: exit 2).
fn read_error(path: &Path, e: ReadError) -> anyhow::Error {
    let what = match &e {
        ReadError::Io(_) => format!("cannot read the result file `{}`", path.display()),
        ReadError::NotJson(_) | ReadError::NoSchemaVersion => {
            format!("`{}` is not a volley result file", path.display())
        }
        _ => format!("`{}` cannot be used", path.display()),
    };
    let detail = match &e {
        ReadError::Io(io) => io.to_string(),
        other => other.to_string(),
    };
    usage(format!("{what}: {detail}\n  hint: {}", hint(&e)))
}

/// The format a file name asks for, from its extension.
pub fn format_of(path: &Path) -> anyhow::Result<Format> {
    let ext =
        path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).unwrap_or_default();
    Ok(match ext.as_str() {
        "md" | "markdown" => Format::Md,
        "html" | "htm" => Format::Html,
        "csv" => Format::Csv,
        "xml" => Format::Junit,
        "json" => Format::Json,
        _ => {
            return Err(usage(format!(
                "cannot tell the report format of `{}` from its extension\n  hint: use .md, .html, .csv, .xml (JUnit) or .json",
                path.display()
            )));
        }
    })
}

/// `PREFIX` of `PREFIX.csv` or of `PREFIX`, to which Locust's suffixes are appended.
fn csv_paths(path: &Path) -> Vec<(PathBuf, &'static str)> {
    let stem = match path.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("csv") => path.with_extension(""),
        _ => path.to_path_buf(),
    };
    csv::SUFFIXES
        .into_iter()
        .map(|suffix| {
            let mut name = stem.clone().into_os_string();
            name.push(suffix);
            (PathBuf::from(name), suffix)
        })
        .collect()
}

fn json_of(result: &RunResult) -> anyhow::Result<String> {
    result.totals.check().map_err(|e| anyhow::anyhow!("the result's counts do not add up: {e}"))?;
    Ok(serde_json::to_string_pretty(result).context("serializing the result")? + "\n")
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text)
        .with_context(|| format!("cannot write the report to `{}`", path.display()))
}

fn render_to(
    path: &Path,
    result: &RunResult,
    format: Format,
    glossary: bool,
) -> anyhow::Result<Vec<PathBuf>> {
    let text = match format {
        Format::Md => markdown::render(result, markdown::Options { glossary }),
        Format::Html => html::render(result, html::Options { glossary })?,
        Format::Junit => junit::render(result),
        Format::Json => json_of(result)?,
        Format::K6 => k6::render(result),
        Format::Csv => {
            let files = csv::render(result)?;
            let mut written = Vec::new();
            for ((p, _), (_, text)) in csv_paths(path).into_iter().zip(files.files()) {
                write(&p, text)?;
                written.push(p);
            }
            return Ok(written);
        }
    };
    write(path, &text)?;
    Ok(vec![path.to_path_buf()])
}

/// Renders `result` to `path`, the format chosen by the extension (`--report FILE` of quick
/// mode and `volley run`).
pub fn write_report(path: &Path, result: &RunResult) -> anyhow::Result<()> {
    let format = format_of(path)?;
    render_to(path, result, format, false)?;
    Ok(())
}

/// A sweep or a capacity search in `format` (Markdown, HTML, or the file itself).
fn render_document(doc: &Document, format: Format, path: &Path) -> anyhow::Result<String> {
    let (what, json) = match doc {
        Document::Sweep(s) => ("sweep", serde_json::to_string_pretty(s)),
        Document::Capacity(c) => ("capacity search", serde_json::to_string_pretty(c)),
        Document::Run(_) => unreachable!("runs render through render_to"),
    };
    Ok(match (format, doc) {
        (Format::Md, Document::Sweep(s)) => volley_report::scale::markdown(s),
        (Format::Html, Document::Sweep(s)) => volley_report::scale::html(s)?,
        (Format::Md, Document::Capacity(c)) => volley_report::capacity::markdown(c),
        (Format::Html, Document::Capacity(c)) => volley_report::capacity::html(c)?,
        (Format::Json, _) => json.context("serializing the file")? + "\n",
        _ => {
            return Err(usage(format!(
                "`{}` is a {what}: it renders as md, html or json\n  hint: csv, junit and k6 \
                 are formats of one run",
                path.display()
            )));
        }
    })
}

pub fn main(args: ReportArgs) -> anyhow::Result<Outcome> {
    let format = match (args.format, &args.out) {
        (Some(f), _) => f,
        (None, Some(out)) => format_of(out)?,
        (None, None) => Format::Md,
    };
    let result = match volley_metrics::read::document_from_path(&args.result)
        .map_err(|e| read_error(&args.result, e))?
    {
        Document::Run(r) => *r,
        doc => {
            let text = render_document(&doc, format, &args.result)?;
            match &args.out {
                Some(out) => {
                    write(out, &text)?;
                    eprintln!("wrote {}", out.display());
                }
                None => print!("{text}"),
            }
            return Ok(Outcome::Success);
        }
    };
    match &args.out {
        Some(out) => {
            let written = render_to(out, &result, format, args.glossary)?;
            for p in written {
                eprintln!("wrote {}", p.display());
            }
        }
        None => {
            let text = match format {
                Format::Md => {
                    markdown::render(&result, markdown::Options { glossary: args.glossary })
                }
                Format::Html => html::render(&result, html::Options { glossary: args.glossary })?,
                Format::Junit => junit::render(&result),
                Format::Json => json_of(&result)?,
                Format::K6 => k6::render(&result),
                Format::Csv => {
                    eprintln!(
                        "note: printing _stats.csv only; pass -o PREFIX to write all four Locust files"
                    );
                    csv::stats(&result)?
                }
            };
            print!("{text}");
        }
    }
    Ok(Outcome::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_prefix() {
        let p = csv_paths(Path::new("out/run.csv"));
        assert_eq!(p[0].0, PathBuf::from("out/run_stats.csv"));
        let p = csv_paths(Path::new("out/run"));
        assert_eq!(p[2].0, PathBuf::from("out/run_failures.csv"));
        assert_eq!(p[3].0, PathBuf::from("out/run_exceptions.csv"));
    }

    #[test]
    fn formats_from_extensions() {
        assert_eq!(format_of(Path::new("a.HTM")).unwrap(), Format::Html);
        assert_eq!(format_of(Path::new("a.xml")).unwrap(), Format::Junit);
        assert!(format_of(Path::new("a.pdf")).is_err());
    }
}
