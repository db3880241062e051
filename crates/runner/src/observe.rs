//! Server observation around a run (`--watch-pid`, `--watch-name`, `--watch-cgroup`): what to
//! watch, checked before any load is sent. volley's own process is always watched
//! (`server.generator`): a saturated generator makes every other figure suspect.

use std::path::PathBuf;

use volley_harness::observe::GENERATOR;
use volley_harness::sample::{Cgroup, Target, Watch, pid_exists};

use crate::RunError;

/// The processes and cgroups to sample during a run, as the user named them.
#[derive(Debug, Clone, Default)]
pub struct Watching {
    pub pids: Vec<u32>,
    /// Name or command-line patterns (children included).
    pub names: Vec<String>,
    /// cgroup (v2 or v1) directories.
    pub cgroups: Vec<PathBuf>,
}

impl Watching {
    /// The harness's watches, plus volley's own process. A PID that does not exist or a
    /// missing cgroup is a usage error.
    pub fn watches(&self) -> Result<Vec<Watch>, RunError> {
        let usage = |m: String| RunError::Usage(m);
        let mut watches = Vec::new();
        for &pid in &self.pids {
            if !pid_exists(pid) {
                return Err(usage(format!(
                    "--watch-pid {pid}: no process with that PID (hint: check it with `ps -p {pid}`)"
                )));
            }
            watches.push(Watch::new(format!("pid {pid}"), Target::Pid(pid)));
        }
        for pattern in &self.names {
            if pattern.is_empty() {
                return Err(usage("--watch-name needs a non-empty pattern".into()));
            }
            watches.push(Watch::new(format!("name {pattern}"), Target::Name(pattern.clone())));
        }
        for path in &self.cgroups {
            let cg = Cgroup::resolve(path).map_err(|e| {
                usage(format!("--watch-cgroup: {e} (hint: e.g. /sys/fs/cgroup/memory/docker/<id>)"))
            })?;
            watches.push(Watch::new(format!("cgroup {}", path.display()), Target::Cgroup(cg)));
        }
        watches.push(Watch::new(GENERATOR, Target::OwnProcessExcept(None)));
        Ok(watches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volley_itself_is_always_watched_and_bad_names_are_usage_errors() {
        let w = Watching::default().watches().unwrap();
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].label, GENERATOR);
        let bad = Watching { names: vec![String::new()], ..Watching::default() };
        assert!(matches!(bad.watches(), Err(RunError::Usage(_))));
    }
}
