//! `volley scale` of the demo service, as the sweep tests run it: one command line built in one
//! place (`--` `volley serve-demo --threads 1 --port {port}`, so each instance is one
//! single-threaded process), marked so that survivors can be found, bounded in time, with the
//! saved sweep and its Markdown report read back.

use std::path::PathBuf;
use std::time::Duration;

use volley_metrics::sweep::Sweep;

use crate::cluster::{MARK, unique_mark, wait_no_marked};
use crate::support::{Output, Spawned, VOLLEY, temp_dir, volley_command};

/// A finished sweep: the process's output, the saved sweep and the Markdown report.
pub struct DemoSweep {
    pub run: Output,
    pub sweep: Sweep,
    /// `--report` of the sweep, `scale.md`.
    pub markdown: String,
    /// Holds `scale.json` and `scale.md` until dropped.
    pub dir: tempfile::TempDir,
}

impl DemoSweep {
    pub fn json_path(&self) -> PathBuf {
        self.dir.path().join("scale.json")
    }
}

/// Runs `volley scale FLAGS -o scale.json --report scale.md -- volley serve-demo --threads 1
/// --port {port} DEMO_ARGS` in a fresh directory; panics unless it exits 0 within `timeout`
/// and leaves no process behind. `name` tells this test's processes apart.
#[track_caller]
pub fn scale_demo(name: &str, flags: &[&str], demo_args: &[&str], timeout: Duration) -> DemoSweep {
    let dir = temp_dir();
    let out = dir.path().join("scale.json");
    let md = dir.path().join("scale.md");
    let mark = unique_mark(name);
    let mut args: Vec<&str> = vec!["scale"];
    args.extend_from_slice(flags);
    args.extend(["-o", out.to_str().unwrap(), "--report", md.to_str().unwrap(), "--"]);
    args.extend([VOLLEY, "serve-demo", "--threads", "1", "--port", "{port}"]);
    args.extend_from_slice(demo_args);
    let mut cmd = volley_command(&args);
    cmd.env(MARK, &mark);
    let run = Spawned::start(cmd).wait(timeout);
    run.expect_code(0);
    assert!(wait_no_marked(&mark, Duration::from_secs(5)).is_empty(), "instances left behind");
    let sweep = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let markdown = std::fs::read_to_string(&md).unwrap();
    DemoSweep { run, sweep, markdown, dir }
}
