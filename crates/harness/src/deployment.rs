//! A deployment volley did not start (`volley scale --scale-cmd`): the user's own command
//! brings it to N instances (`docker compose up -d --scale web={n}`, `kubectl scale
//! --replicas={n} … && kubectl rollout status …`, a script), and volley finds the instances
//! to sample among the processes or cgroups that match what the user named.
//!
//! Unlike a [`crate::Cluster`], nothing here owns the service: the deployment outlives volley
//! (it is left at the last count), so only the scale command itself is a child, killed with
//! its process group when it overruns its time or the user stops the sweep.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::HarnessError;
use crate::sample::{Cgroup, Target, Watch, matching_roots};

/// Lines of the scale command's output kept for its error message.
const OUTPUT_TAIL: usize = 20;
/// Bytes kept of each of those lines.
const LINE_MAX: usize = 1000;

/// The user's scale command, `{n}` standing for the instance count.
#[derive(Debug, Clone)]
pub struct ScaleCommand {
    pub template: String,
    /// How long the command may run.
    pub timeout: Duration,
}

impl ScaleCommand {
    /// The command line for `n` instances.
    pub fn for_count(&self, n: usize) -> String {
        self.template.replace("{n}", &n.to_string())
    }

    /// Runs the command for `n` through `sh -c` (with `N` and `VOLLEY_INSTANCES` in its
    /// environment) and waits for it. Its output is kept, never echoed: the last lines go
    /// into the error when it fails. `stopped` is polled so that a Ctrl-C does not wait for
    /// a slow rollout.
    pub fn run(&self, n: usize, stopped: &dyn Fn() -> bool) -> Result<(), HarnessError> {
        let command = self.for_count(n);
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(&command)
            .env("N", n.to_string())
            .env("VOLLEY_INSTANCES", n.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own group, so a timeout ends whatever it started in the foreground.
            .process_group(0)
            .spawn()
            .map_err(|source| HarnessError::Spawn { command: command.clone(), source })?;
        let tail = Arc::new(Mutex::new(Vec::<String>::new()));
        let readers: Vec<_> = [
            child.stdout.take().map(|o| Box::new(o) as Box<dyn Read + Send>),
            child.stderr.take().map(|e| Box::new(e) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        .map(|pipe| {
            let tail = tail.clone();
            std::thread::spawn(move || {
                let keep = |line: &[u8]| {
                    let mut t = tail.lock().unwrap_or_else(|p| p.into_inner());
                    if t.len() == OUTPUT_TAIL {
                        t.remove(0);
                    }
                    t.push(String::from_utf8_lossy(line).into_owned());
                };
                // Lines are cut at LINE_MAX bytes: a command that prints without newlines must
                // not grow memory without bound.
                let mut reader = BufReader::new(pipe);
                let mut line = Vec::new();
                while let Ok(chunk) = reader.fill_buf()
                    && !chunk.is_empty()
                {
                    let n = chunk.len();
                    for &b in chunk {
                        if b == b'\n' {
                            keep(&line);
                            line.clear();
                        } else if line.len() < LINE_MAX {
                            line.push(b);
                        }
                    }
                    reader.consume(n);
                }
                if !line.is_empty() {
                    keep(&line);
                }
            })
        })
        .collect();
        let deadline = Instant::now() + self.timeout;
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break Some(status);
            }
            if stopped() || Instant::now() >= deadline {
                kill_group(child.id());
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // A daemon it left behind may hold the pipes open: do not wait for it.
        let joined = Instant::now() + Duration::from_millis(300);
        for r in readers {
            while !r.is_finished() && Instant::now() < joined {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        let output = tail.lock().unwrap_or_else(|p| p.into_inner()).clone();
        match status {
            Some(s) if s.success() => Ok(()),
            Some(s) => Err(HarnessError::ScaleCommandFailed {
                command,
                status: crate::process::describe(s),
                output,
            }),
            None if stopped() => Err(HarnessError::Stopped),
            None => {
                Err(HarnessError::ScaleCommandTimeout { command, timeout: self.timeout, output })
            }
        }
    }
}

fn kill_group(pid: u32) {
    if let Ok(pid) = i32::try_from(pid) {
        // SAFETY: kill has no memory preconditions; a negative PID names the group.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
}

/// Which processes or cgroups are the deployment's instances (`--watch-name`,
/// `--watch-cgroup-glob`): looked up afresh at each count, since scaling changes them.
#[derive(Debug, Clone, Default)]
pub struct InstanceSelector {
    /// Process name or command-line patterns: each outermost matching process is an instance.
    pub names: Vec<String>,
    /// Glob patterns of cgroup directories (`/sys/fs/cgroup/system.slice/docker-*.scope`):
    /// each matching directory is an instance.
    pub cgroup_globs: Vec<String>,
}

impl InstanceSelector {
    pub fn is_empty(&self) -> bool {
        self.names.is_empty() && self.cgroup_globs.is_empty()
    }

    /// Checks the patterns before anything runs: a glob that does not parse is the user's
    /// mistake, reported with its position.
    pub fn check(&self) -> Result<(), HarnessError> {
        for g in &self.cgroup_globs {
            glob::Pattern::new(g).map_err(|e| HarnessError::BadGlob {
                pattern: g.clone(),
                message: format!("{} at character {}", e.msg, e.pos + 1),
            })?;
        }
        if self.names.iter().any(String::is_empty) {
            return Err(HarnessError::BadGlob {
                pattern: String::new(),
                message: "--watch-name needs a non-empty pattern".into(),
            });
        }
        Ok(())
    }

    /// One watch per instance found now, labelled with what it is (`pid 4242 (gunicorn)`,
    /// the cgroup's directory name): processes in PID order, then cgroups by path.
    pub fn watches(&self) -> Result<Vec<Watch>, HarnessError> {
        let mut watches = Vec::new();
        for pattern in &self.names {
            for pid in matching_roots(pattern) {
                let comm = std::fs::read_to_string(format!("/proc/{pid}/comm"))
                    .map(|c| c.trim().to_string())
                    .unwrap_or_default();
                watches.push(Watch::new(format!("pid {pid} ({comm})"), Target::Pid(pid)));
            }
        }
        for g in &self.cgroup_globs {
            let mut dirs: Vec<PathBuf> = glob::glob(g)
                .map_err(|e| HarnessError::BadGlob { pattern: g.clone(), message: e.to_string() })?
                .filter_map(Result::ok)
                .filter(|p| p.is_dir())
                .collect();
            dirs.sort();
            for dir in dirs {
                let label = dir.file_name().map_or_else(
                    || dir.display().to_string(),
                    |n| n.to_string_lossy().into_owned(),
                );
                watches.push(Watch::new(label, Target::Cgroup(Cgroup::resolve(&dir)?)));
            }
        }
        Ok(watches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_count_is_substituted_and_a_failure_keeps_the_output_tail() {
        let cmd = ScaleCommand {
            template: "echo scaling to {n}; exit 3".into(),
            timeout: Duration::from_secs(10),
        };
        assert_eq!(cmd.for_count(4), "echo scaling to 4; exit 3");
        match cmd.run(4, &|| false) {
            Err(HarnessError::ScaleCommandFailed { status, output, .. }) => {
                assert_eq!(output, ["scaling to 4"]);
                assert!(status.contains('3'), "{status}");
            }
            other => panic!("{other:?}"),
        }
        let ok =
            ScaleCommand { template: "test \"$N\" = 2".into(), timeout: Duration::from_secs(10) };
        ok.run(2, &|| false).unwrap();
    }

    #[test]
    fn endless_output_without_newlines_is_kept_bounded() {
        let cmd = ScaleCommand {
            template: "head -c 5000000 /dev/zero | tr '\\0' x; echo; echo last; exit 1".into(),
            timeout: Duration::from_secs(20),
        };
        match cmd.run(1, &|| false) {
            Err(HarnessError::ScaleCommandFailed { output, .. }) => {
                assert_eq!(output.len(), 2, "{}", output.len());
                assert_eq!(output[0].len(), LINE_MAX);
                assert_eq!(output[1], "last");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_overrunning_command_is_killed_at_its_timeout() {
        let cmd = ScaleCommand { template: "sleep 30".into(), timeout: Duration::from_millis(200) };
        let t0 = Instant::now();
        assert!(matches!(cmd.run(1, &|| false), Err(HarnessError::ScaleCommandTimeout { .. })));
        assert!(t0.elapsed() < Duration::from_secs(5));
        assert!(matches!(cmd.run(1, &|| true), Err(HarnessError::Stopped)));
    }

    #[test]
    fn instances_are_the_outermost_matching_processes() {
        let tag = format!("volley-selector-{}", std::process::id());
        // Two "instances", each a shell with a matching child: two roots, not four.
        let spawn = || {
            Command::new("bash")
                .arg("-c")
                .arg(format!("exec -a {tag}-main bash -c 'exec -a {tag}-worker sleep 30 & wait'"))
                .process_group(0)
                .spawn()
                .unwrap()
        };
        let mut kids = [spawn(), spawn()];
        std::thread::sleep(Duration::from_millis(300));
        let sel = InstanceSelector { names: vec![tag.clone()], cgroup_globs: Vec::new() };
        let w = sel.watches().unwrap();
        for k in &mut kids {
            kill_group(k.id());
            let _ = k.kill();
            let _ = k.wait();
        }
        let pids: Vec<u32> = kids.iter().map(|k| k.id()).collect();
        assert_eq!(w.len(), 2, "{:?}", w.iter().map(|w| &w.label).collect::<Vec<_>>());
        for (watch, pid) in w.iter().zip(&pids) {
            assert!(watch.label.starts_with(&format!("pid {pid} ")), "{}", watch.label);
        }
        let bad =
            InstanceSelector { names: Vec::new(), cgroup_globs: vec!["/sys/fs/cgroup/[".into()] };
        assert!(matches!(bad.check(), Err(HarnessError::BadGlob { .. })));
    }
}
