//! Server observation around a run (`--watch-pid`, `--watch-name`, `--watch-cgroup`): starts
//! sampling before the load begins and folds the samples into the result afterwards. volley's
//! own process is always watched (`server.generator`): a saturated generator makes every other
//! figure suspect.

use volley_harness::observe::{GENERATOR, attach};
use volley_harness::sample::{Cgroup, Sampler, Target, Watch, pid_exists};
use volley_metrics::RunResult;

use super::quick::OutputArgs;
use crate::outcome::usage;

/// Sampling in progress.
pub struct Observer {
    sampler: Sampler,
}

/// Starts sampling what the flags name, and volley itself. Errors (a PID that does not exist,
/// a missing cgroup) are usage errors.
pub fn start(out: &OutputArgs) -> anyhow::Result<Option<Observer>> {
    Ok(Some(Observer { sampler: Sampler::start(watches(out)?) }))
}

/// The watches the flags ask for, plus volley's own process.
pub fn watches(out: &OutputArgs) -> anyhow::Result<Vec<Watch>> {
    let mut watches = Vec::new();
    for &pid in &out.watch_pid {
        if !pid_exists(pid) {
            return Err(usage(format!(
                "--watch-pid {pid}: no process with that PID (hint: check it with `ps -p {pid}`)"
            )));
        }
        watches.push(Watch::new(format!("pid {pid}"), Target::Pid(pid)));
    }
    for pattern in &out.watch_name {
        if pattern.is_empty() {
            return Err(usage("--watch-name needs a non-empty pattern"));
        }
        watches.push(Watch::new(format!("name {pattern}"), Target::Name(pattern.clone())));
    }
    for path in &out.watch_cgroup {
        let cg = Cgroup::resolve(path).map_err(|e| {
            usage(format!("--watch-cgroup: {e} (hint: e.g. /sys/fs/cgroup/memory/docker/<id>)"))
        })?;
        watches.push(Watch::new(format!("cgroup {}", path.display()), Target::Cgroup(cg)));
    }
    watches.push(Watch::new(GENERATOR, Target::OwnProcessExcept(None)));
    Ok(watches)
}

impl Observer {
    /// Stops sampling and writes `result.server` and the per-second `server` samples.
    pub fn finish(self, result: &mut RunResult) {
        attach(result, self.sampler.finish());
    }
}
