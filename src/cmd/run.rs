//! `volley run PLAN`: loads and validates a plan (with overrides), runs it, and writes the
//! outputs. Also home of [`execute`], what every single-run command shares with quick mode:
//! check the outputs, run it as a [`volley_runner::Run`] under signals with the progress
//! line, then print and save the result.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use volley_metrics::{FailureKind, RunResult};
use volley_plan::Spec;
use volley_runner::{Live, Run, RunError, Stop};

use super::quick::OutputArgs;
use crate::outcome::{Outcome, usage};

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The plan file (YAML).
    #[arg(value_name = "PLAN")]
    pub plan: PathBuf,
    #[command(flatten)]
    pub overrides: super::validate::PlanOverrideArgs,
    /// Seed of the random choices (flows, think time, generators), for repeatable runs.
    #[arg(long = "seed", default_value_t = 0x5EED)]
    pub seed: u64,
    #[command(flatten)]
    pub output: OutputArgs,
}

pub fn main(args: RunArgs) -> anyhow::Result<Outcome> {
    let overrides = args.overrides.to_overrides()?;
    let spec = volley_plan::load(&args.plan, &overrides).map_err(super::validate::plan_error)?;
    let mut run = Run::plan(&args.plan, spec);
    run.seed = args.seed;
    execute(run, &args.output)
}

/// Runs `run` with Ctrl-C handling, watching what `output` names and the live progress
/// line, then prints and saves the result as `output` asks. The outcome maps to the exit
/// code (130 interrupted, 99 thresholds).
pub fn execute(mut run: Run, output: &OutputArgs) -> anyhow::Result<Outcome> {
    check_outputs(output)?;
    run.segment = output.segment.tuple()?;
    run.start_at = output.segment.start_at(std::time::SystemTime::now())?;
    // Before anything is sent: VUs that cannot all hold a connection are a generator-side
    // limit the user should hear about now, not discover as `local` failures afterwards.
    if let Err(short) = volley_engine::limits::check_open_files(&run.spec) {
        eprintln!("warning: {short}");
    }
    run.watching = output.watching();
    let stop = Stop::on_signals();
    let live = Live::new();
    let dashboard = output.dashboard.start(&stop, &live)?;
    let line = crate::progress::start(&live, output.quiet || output.json);
    let result = run.execute(&stop, &live);
    if let Some(l) = line {
        l.finish();
    }
    let result = result.map_err(run_error)?;
    if let Some(d) = dashboard {
        d.finish_run(&result);
    }
    write_outputs(&result, output)?;
    match outcome_of(&result, &run.spec) {
        Outcome::ThresholdsCrossed if output.no_threshold_exit => Ok(Outcome::Success),
        o => Ok(o),
    }
}

/// `-o -`: the result on stdout, framed.
fn to_stdout(path: &std::path::Path) -> bool {
    path.as_os_str() == "-"
}

/// The runner's errors as the binary reports them: the user's mistakes exit 2.
pub fn run_error(e: RunError) -> anyhow::Error {
    match e {
        RunError::Usage(m) => usage(m),
        RunError::Cluster(e) => super::cluster::start_error(e),
        e => anyhow::anyhow!("{e}"),
    }
}

/// Checks every output path before any load is sent, so a typo costs a second, not a run:
/// the folder must exist and be writable, the path must not be a folder, and a report's
/// extension must name a format (usage errors, exit 2).
pub fn check_outputs(output: &OutputArgs) -> anyhow::Result<()> {
    if let Some(path) = output.out.as_deref().filter(|p| !to_stdout(p)) {
        check_writable(path, "-o/--out")?;
    }
    if let Some(path) = &output.report {
        super::report::format_of(path)?;
        check_writable(path, "--report")?;
    }
    Ok(())
}

pub fn check_writable(path: &std::path::Path, flag: &str) -> anyhow::Result<()> {
    if path.is_dir() {
        return Err(usage(format!(
            "{flag} `{}` is a folder (hint: give a file name, e.g. {}/result.json)",
            path.display(),
            path.display()
        )));
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => std::path::Path::new("."),
    };
    if !dir.is_dir() {
        return Err(usage(format!(
            "{flag} `{}`: the folder `{}` does not exist (hint: create it first)",
            path.display(),
            dir.display()
        )));
    }
    let writable = std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(dir.as_os_str()))
        // SAFETY: `c` is a valid NUL-terminated path; access(2) only reads it.
        .map(|c| unsafe { libc::access(c.as_ptr(), libc::W_OK) } == 0)
        .unwrap_or(false);
    let existing_read_only = std::fs::metadata(path).is_ok_and(|m| m.permissions().readonly());
    if !writable || existing_read_only {
        return Err(usage(format!(
            "{flag} `{}`: cannot write there (permission denied)",
            path.display()
        )));
    }
    Ok(())
}

/// The cause (when a second look finds one) and the hint for a run that got no response: the
/// hint follows the most frequent failure kind ("is the service running" only for refused
/// connections), and for the kinds a protocol mismatch or a certificate explains, one
/// diagnostic connection (never counted) names the problem, with the spec's `--insecure`. The
/// hint speaks of the protocol the spec's requests went out in
/// ([`volley_engine::protocol_spoken`]), never of HTTP/1.1 by default.
fn why_no_response(result: &RunResult, spec: &Spec) -> (Option<String>, String) {
    let most = result.failures.iter().max_by_key(|(k, n)| (**n, std::cmp::Reverse(*k)));
    let named = |name: &String| FailureKind::ALL.into_iter().find(|k| k.as_str() == name);
    let Some(kind) = most.and_then(|(name, _)| named(name)) else {
        return (None, "see the summary above".into());
    };
    let target = result.config.target.as_deref();
    if kind == FailureKind::Refused {
        let at = target.unwrap_or("the plan's URLs");
        return (None, format!("is the service running and listening at {at}?"));
    }
    let second_look = matches!(
        kind,
        FailureKind::Tls
            | FailureKind::Closed
            | FailureKind::Reset
            | FailureKind::Malformed
            | FailureKind::Timeout
    );
    if second_look && let Some(url) = target {
        let wait = Duration::from_secs_f64(result.config.timeout_s.clamp(0.1, 2.0));
        if let Some(found) = volley_engine::probe::diagnose(url, spec.http.insecure, wait) {
            return (Some(found.cause()), found.hint().to_string());
        }
    }
    (None, kind.hint(volley_engine::protocol_spoken(spec)).into_owned())
}

/// Prints the summary (or JSON) and writes `-o` and `--report`; `-o -` prints the result
/// framed on stdout after the summary.
fn write_outputs(result: &RunResult, output: &OutputArgs) -> anyhow::Result<()> {
    let framed = output.out.as_deref().is_some_and(to_stdout);
    let out = output.out.as_deref().filter(|p| !to_stdout(p));
    write_result(result, out, output.report.as_deref(), output.json, output.quiet, "result")?;
    if framed {
        let json = serde_json::to_string_pretty(result).context("serializing the result")?;
        print!("{}", volley_runner::kubernetes::frame(&json));
    }
    Ok(())
}

/// Writes `result` to `out` (`-o`; `what` names it in the error) and `report` (`--report`),
/// then prints it as JSON (`--json`) or as the terminal summary (colored on a terminal unless
/// `NO_COLOR`), unless `quiet`: the one way a result leaves the binary, run or merged.
pub fn write_result(
    result: &RunResult,
    out: Option<&std::path::Path>,
    report: Option<&std::path::Path>,
    json: bool,
    quiet: bool,
    what: &str,
) -> anyhow::Result<()> {
    // Serialized once for both the file and stdout (a day-long result's document is large).
    let text = (out.is_some() || json)
        .then(|| serde_json::to_string_pretty(result))
        .transpose()
        .context("serializing the result")?;
    if let (Some(path), Some(text)) = (out, &text) {
        use std::io::Write as _;
        std::fs::File::create(path)
            .and_then(|mut f| f.write_all(text.as_bytes()).and_then(|()| f.write_all(b"\n")))
            .with_context(|| format!("cannot write the {what} to `{}`", path.display()))?;
    }
    if let Some(path) = report {
        super::report::write_report(path, result)?;
    }
    if let (true, Some(text)) = (json, &text) {
        println!("{text}");
    } else if !quiet {
        let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            && std::io::IsTerminal::is_terminal(&std::io::stdout());
        let style = volley_report::terminal::Style { color };
        print!("{}", volley_report::terminal::render(result, style));
    }
    Ok(())
}

/// The exit outcome of a run of `spec` (one run, or the merge of its shards), with the cause
/// and hint of [`why_no_response`] when nothing answered.
pub fn outcome_of(result: &RunResult, spec: &Spec) -> Outcome {
    if result.interrupted {
        Outcome::Interrupted
    } else if result.totals.requests == 0 {
        // Nothing was sent (a duration too short for one request, stages that all last 0s):
        // the run did not test anything, so it must not pass for a success in CI.
        eprintln!(
            "error: the run sent no request ({} dropped)\n  hint: give it a longer duration or \
             more iterations",
            result.totals.dropped
        );
        Outcome::RunFailed
    } else if result.totals.requests > 0 && result.totals.responses == 0 {
        // Every failure is counted and the summary printed, but a target that never answered
        // is a failed run ("bad target", exit 1), so scripts do not mistake it for success.
        let kinds: Vec<String> = result.failures.iter().map(|(k, n)| format!("{k}: {n}")).collect();
        eprintln!(
            "error: no response from the target: all {} requests failed ({})",
            result.totals.requests,
            kinds.join(", "),
        );
        let (cause, hint) = why_no_response(result, spec);
        if let Some(cause) = cause {
            eprintln!("  cause: {cause}");
        }
        eprintln!("  hint: {hint}");
        Outcome::RunFailed
    } else if result.thresholds.iter().any(|t| !t.ok) {
        Outcome::ThresholdsCrossed
    } else {
        Outcome::Success
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(step: &str) -> Spec {
        let text =
            format!("base_url: http://h\nvus: 1\niterations: 1\nsteps: [ {{ get: /{step} }} ]\n");
        volley_plan::load_str(&text, "p.yaml", std::path::Path::new("."), &Default::default())
            .unwrap()
    }

    /// A run (or a merge of shards, as `volley k8s` makes) whose every request failed as
    /// `kind`; no target, so no second look is taken.
    fn all_failed(kind: &str) -> RunResult {
        let mut r = volley_report::fixture::plan_run();
        r.config.target = None;
        r.failures = [(kind.to_string(), 4)].into();
        r
    }

    #[test]
    fn the_no_response_hint_names_the_protocol_the_spec_spoke() {
        let r = all_failed("malformed");
        let (cause, hint) = why_no_response(&r, &spec(", http2: true"));
        assert_eq!(cause, None);
        assert!(hint.contains("does not answer HTTP/2 on that port"), "{hint}");
        assert!(!hint.contains("HTTP/1.1"), "{hint}");
        let (_, hint) = why_no_response(&r, &spec(""));
        assert!(hint.contains("does not answer HTTP/1.1 on that port"), "{hint}");
        let (_, hint) = why_no_response(&all_failed("reset"), &spec(", http2: true"));
        assert!(hint.contains("closed or reset") && !hint.contains("HTTP/1.1"), "{hint}");
    }
}
