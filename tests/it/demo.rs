//! `volley demo`: runs with no arguments but a folder, prints the comparison, writes the HTML
//! report and leaves no process behind.

use std::time::Duration;

use crate::cluster::{CPU_HEAVY, MARK, unique_mark, wait_no_marked};
use crate::support::{Spawned, temp_dir, volley_command};

#[test]
fn demo_compares_one_and_two_instances_and_writes_the_report() {
    let _cpu = CPU_HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let dir = temp_dir();
    let mark = unique_mark("demo");
    // Shorter than the real demo (and lighter requests: this is a debug build), same path.
    let mut cmd = volley_command(&[
        "demo",
        "--out-dir",
        dir.path().to_str().unwrap(),
        "--duration",
        "3s",
        "--warmup",
        "1s",
        "--heavy-n",
        "300000",
    ]);
    cmd.env(MARK, &mark);
    let out = Spawned::start(cmd).wait(Duration::from_secs(120));
    out.expect_code(0);
    assert!(wait_no_marked(&mark, Duration::from_secs(5)).is_empty(), "processes left behind");
    let report = dir.path().join("volley-demo-report.html");
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.contains("<table>") && html.contains("Findings"), "{html}");
    assert!(out.stdout.contains("speedup"), "{}", out.streams());
    assert!(out.stdout.contains("report: "), "{}", out.streams());
    assert!(out.stdout.contains("volley-demo-report.html"), "{}", out.streams());
    // One row per instance count.
    let rows = out.stdout.lines().filter(|l| {
        let t = l.trim_start();
        t.starts_with("1 ") || t.starts_with("2 ")
    });
    assert!(rows.count() >= 2, "{}", out.streams());
}
