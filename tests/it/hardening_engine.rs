//! Issue 9, the engine's cases, through the binary: a rate no machine reaches costs bounded
//! memory and time and is counted exactly; never more VUs than requests; the generator's own
//! limits (open files) are named as the generator's, never mixed into the server's latency.
//! Memory cases run the child under `RLIMIT_AS`, so a regression fails instead of eating the
//! machine.

use std::os::unix::process::CommandExt;
use std::time::Duration;

use crate::support::*;

const GIB: u64 = 1 << 30;

/// `volley ARGS` with its address space capped at `address_space` bytes and its open files at
/// `files` (soft and hard, so volley cannot raise it), run to completion within `timeout`.
fn limited(
    args: &[&str],
    address_space: Option<u64>,
    files: Option<u64>,
    timeout: Duration,
) -> Output {
    let mut cmd = volley_command(args);
    // SAFETY: between fork and exec the closure only calls setrlimit, which is
    // async-signal-safe, and allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            for (resource, limit) in
                [(libc::RLIMIT_AS, address_space), (libc::RLIMIT_NOFILE, files)]
            {
                if let Some(n) = limit {
                    let r = libc::rlimit { rlim_cur: n, rlim_max: n };
                    if libc::setrlimit(resource, &r) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
            }
            Ok(())
        });
    }
    Spawned::start(cmd).wait(timeout)
}

/// An open-model run under a 1 GiB cap: it ends, saves its result, and every scheduled arrival
/// is either a request or a dropped iteration.
fn unreachable_rate(rate: &str, scheduled: u64) -> (RunResult, Output, u64) {
    let server = TestServer::start(Behavior::ok());
    let dir = temp_dir();
    let out_path = dir.path().join("x.json");
    let out_arg = out_path.to_str().unwrap();
    let url = server.url("/");
    let out = limited(
        &[&url, "--rps", rate, "-d", "1s", "--timeout", "5s", "-o", out_arg],
        Some(GIB),
        None,
        RUN_TIMEOUT,
    );
    out.expect_code(0);
    let r = read_result(&out_path);
    assert_accounting(&r);
    let om = r.open_model.as_ref().expect("an open-model section");
    assert_eq!(om.dropped, r.totals.dropped);
    assert_eq!(r.totals.interrupted_iterations, 0, "{:?}", r.totals);
    assert_eq!(r.totals.requests + r.totals.dropped, scheduled, "{:?}", r.totals);
    assert_eq!(server.requests(), r.totals.requests, "every request sent was counted");
    assert!(r.totals.dropped > 0, "{:?}", r.totals);
    (r, out, server.requests())
}

#[test]
fn a_billion_requests_per_second_is_counted_not_queued() {
    let (r, out, _) = unreachable_rate("1e9", 1_000_000_000);
    // 1 s of schedule, the last responses, and the save: not minutes.
    assert!(out.elapsed < Duration::from_secs(30), "{}", out.streams());
    // The default pool is capped: a high rate does not mean as many connections.
    assert!(r.totals.max_connections <= 1000, "{}", r.totals.max_connections);
    let om = r.open_model.as_ref().unwrap();
    assert!(om.generator_busy > 0.0 && om.generator_busy <= 1.0, "{om:?}");
    // When the worker threads had no idle time left, the summary says the machine, not the
    // server, set the limit.
    if om.generator_limited {
        assert!(out.stdout.contains("could not generate"), "{}", out.stdout);
    }
}

#[test]
fn a_million_per_second_finishes_on_time_in_bounded_memory() {
    let (_, out, _) = unreachable_rate("1e6", 1_000_000);
    assert!(out.elapsed < Duration::from_secs(20), "{}", out.streams());
}

#[test]
fn a_million_vus_for_ten_requests_start_ten() {
    let server = TestServer::start(Behavior::ok());
    let url = server.url("/");
    let out =
        limited(&[&url, "-c", "1000000", "-n", "10", "--json", "-q"], Some(GIB), None, RUN_TIMEOUT);
    out.expect_code(0);
    let r = parse_result(&out.stdout);
    assert_accounting(&r);
    assert_eq!(r.totals.requests, 10);
    assert_eq!(server.requests(), 10);
    assert!(server.connections() <= 10, "{}", server.connections());
    assert!(out.elapsed < Duration::from_secs(2), "{}", out.streams());
}

#[test]
fn out_of_open_files_is_the_generators_failure() {
    let server = TestServer::start(Behavior::ok());
    let dir = temp_dir();
    let out_path = dir.path().join("x.json");
    let url = server.url("/");
    let args = [&url, "-c", "1000", "-n", "3000", "-o", out_path.to_str().unwrap()];
    let out = limited(&args, None, Some(256), RUN_TIMEOUT);
    out.expect_code(0);
    // Said before the run, with the fix.
    assert!(
        out.stderr.contains("warning: up to 1000 connections") && out.stderr.contains("ulimit -n"),
        "{}",
        out.streams()
    );
    let r = read_result(&out_path);
    assert_accounting(&r);
    assert_eq!(r.totals.requests, 3000);
    let local = r.failures.get("local").copied().unwrap_or(0);
    assert!(local > 0, "{:?}", r.failures);
    assert_eq!(r.failures.get("other"), None, "{:?}", r.failures);
    assert!(r.totals.responses > 0 && server.requests() == r.totals.responses);
    // The server's latency is measured on the requests it saw: failed connects add no
    // samples (they used to be recorded at 1 µs, so the median read 1 µs).
    let e = &r.endpoints[0];
    assert_eq!(e.latency.count, r.totals.responses, "{e:?}");
    assert!(r.metrics["http_req_duration"].values["med"] >= 0.005, "{:?}", r.metrics);
    // The summary's findings name the generator, not the server.
    assert!(out.stdout.contains("the generator failed, not the server"), "{}", out.stdout);
}
