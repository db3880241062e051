//! Execution segments through the binary: N shards of one test started together
//! (`--execution-segment`, `--execution-segment-sequence`, `--start-at`) against one server
//! whose own request count is the truth: their requests add up to the unsegmented run's,
//! exactly, for the closed and the open model; the segment is recorded in each result; bad
//! segments and start times are usage errors.

use std::time::{Duration, SystemTime};

use crate::support::*;

/// A `--start-at` value `secs` seconds from now (whole seconds, UTC).
pub fn start_in(secs: u64) -> String {
    let at = SystemTime::now() + Duration::from_secs(secs);
    humantime::format_rfc3339_seconds(at).to_string()
}

/// The sequence of `n` equal segments and its segments, in k6's syntax.
pub fn equal_segments(n: u64) -> (String, Vec<String>) {
    let p = |i: u64| match i {
        0 => "0".to_string(),
        i if i == n => "1".to_string(),
        i => format!("{i}/{n}"),
    };
    let seq = (0..=n).map(p).collect::<Vec<_>>().join(",");
    (seq, (0..n).map(|i| format!("{}:{}", p(i), p(i + 1))).collect())
}

/// Runs `args` as `n` shards started together; returns their results in segment order.
pub fn run_shards(args: &[&str], n: u64) -> Vec<RunResult> {
    let (seq, segments) = equal_segments(n);
    let at = start_in(3);
    let children: Vec<Spawned> = segments
        .iter()
        .map(|seg| {
            let mut all: Vec<&str> = args.to_vec();
            all.extend(["--execution-segment", seg, "--execution-segment-sequence", &seq]);
            all.extend(["--start-at", &at, "--json", "-q"]);
            Spawned::start(volley_command(&all))
        })
        .collect();
    children
        .into_iter()
        .map(|c| {
            let out = c.wait(RUN_TIMEOUT);
            out.expect_code(0);
            parse_result(&out.stdout)
        })
        .collect()
}

#[test]
fn shards_of_shared_iterations_add_up_to_the_whole_run_exactly() {
    let server = TestServer::start(Behavior::ok());
    let url = server.url("/");
    let args = ["-c", "5", "-n", "101", url.as_str()];
    let (whole, _) = volley_json(&args, 0);
    assert_eq!(whole.totals.requests, 101);
    assert_eq!(whole.config.execution_segment, None);
    for n in [2u64, 3] {
        let before = server.requests();
        let shards = run_shards(&args, n);
        let (_, segments) = equal_segments(n);
        for (r, seg) in shards.iter().zip(&segments) {
            assert_accounting(r);
            let recorded = r.config.execution_segment.as_deref().unwrap();
            assert_eq!(
                volley_metrics::segment::Segment::parse(recorded).unwrap(),
                volley_metrics::segment::Segment::parse(seg).unwrap()
            );
            assert_eq!(r.config.plan_fingerprint, whole.config.plan_fingerprint);
        }
        let requests: u64 = shards.iter().map(|r| r.totals.requests).sum();
        let iterations: u64 = shards.iter().map(|r| r.totals.iterations).sum();
        assert_eq!(requests, 101, "{n} shards");
        assert_eq!(iterations, whole.totals.iterations);
        assert_eq!(server.requests() - before, 101, "the server's own count, {n} shards");
    }
}

#[test]
fn shards_of_an_arrival_rate_split_its_slots() {
    let server = TestServer::start(Behavior::ok());
    let url = server.url("/");
    // 90 arrivals at 300/s: every one is either sent or counted as dropped, once.
    let args = ["--rps", "300", "-n", "90", "-c", "20", url.as_str()];
    let shards = run_shards(&args, 4);
    let sent: u64 = shards.iter().map(|r| r.totals.requests).sum();
    let dropped: u64 = shards.iter().map(|r| r.totals.dropped).sum();
    assert_eq!(sent + dropped, 90, "{shards:?}");
    assert_eq!(server.requests(), sent);
    // k6's striping: 90 slots in 4 segments are 23, 23, 22, 22.
    let per: Vec<u64> = shards.iter().map(|r| r.totals.requests + r.totals.dropped).collect();
    assert_eq!(per, [23, 23, 22, 22]);
}

#[test]
fn bad_segments_and_start_times_are_usage_errors() {
    let url = refused_url("/");
    for (flags, needle) in [
        (vec!["--execution-segment", "1/2:1/4"], "start must be less than its end"),
        (
            vec!["--execution-segment", "0:1/3", "--execution-segment-sequence", "0,1/2,1"],
            "is not one of the sequence",
        ),
        (vec!["--execution-segment", "half"], "not a percentage, decimal or fraction"),
        (vec!["--start-at", "2999-01-01T00:00:00Z"], "more than 24 hours ahead"),
        (vec!["--start-at", "2001-01-01T00:00:00Z"], "more than an hour ago"),
        (vec!["--start-at", "noon"], "--start-at `noon`"),
    ] {
        let mut args = vec![url.as_str(), "-n", "1"];
        args.extend(flags);
        let out = volley(&args, RUN_TIMEOUT);
        out.expect_code(2);
        assert!(out.stderr.contains(needle), "{args:?}: {}", out.streams());
    }
}
