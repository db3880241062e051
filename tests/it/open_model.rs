//! The open model (`--rps`): requests start on schedule whatever the responses, latency is
//! measured from the intended start (no coordinated omission), and requests that could not
//! start are counted as dropped.

use std::time::Duration;

use crate::support::*;

/// A server answering in 1 ms that holds every response for 1 s, once, 1 s after the first
/// request: a GC pause.
fn stalling_server() -> TestServer {
    TestServer::start(
        Behavior::ok()
            .delay(Duration::from_millis(1))
            .stall(Duration::from_secs(1), Duration::from_secs(1)),
    )
}

#[test]
fn a_stall_shows_at_p99_in_the_open_model() {
    let server = stalling_server();
    let (r, _) = volley_json(&[&server.url("/"), "--rps", "200", "-d", "4s", "-c", "400"], 0);
    assert_accounting(&r);
    // A fifth of the requests were due during the stall; they waited up to a second each.
    let d = &r.metrics["http_req_duration"].values;
    assert!(d["p(99)"] >= 500.0, "open model must show the stall at p99: {d:?}");
    assert!(d["max"] >= 900.0, "{d:?}");
    assert!(d["p(90)"] >= 100.0, "a fifth of requests were due during the stall: {d:?}");
    let om = r.open_model.as_ref().expect("open_model section for an --rps run");
    assert_eq!(om.target_rps, 200.0);
    assert_eq!(om.dropped, 0, "400 slots are enough for 200 rps × 1 s stall");
    assert_eq!(r.totals.dropped, 0);
    assert!((om.achieved_rps - 200.0).abs() < 10.0, "achieved {}", om.achieved_rps);
    assert!((r.totals.requests as i64 - 800).abs() <= 4, "requests {}", r.totals.requests);
    assert_eq!(server.requests(), r.totals.requests);
}

#[test]
fn the_same_stall_hides_in_the_closed_model() {
    let server = stalling_server();
    let (r, _) = volley_json(&[&server.url("/"), "-c", "2", "-d", "4s"], 0);
    assert_accounting(&r);
    let d = &r.metrics["http_req_duration"].values;
    // The stall happened (each of the 2 VUs waited through it) ...
    assert!(d["max"] >= 500.0, "{d:?}");
    // ... but only 2 of thousands of requests saw it: coordinated omission hides it.
    assert!(d["p(99)"] < 100.0, "closed model p99 {d:?}");
    assert!(r.open_model.is_none());
    assert!(r.totals.requests > 500, "{}", r.totals.requests);
}

#[test]
fn requests_that_cannot_start_are_dropped_and_counted() {
    // One slot, 50 ms per answer: at most ~20 of the 100 per second can start.
    let server = TestServer::start(Behavior::ok().delay(Duration::from_millis(50)));
    let (r, _) = volley_json(&[&server.url("/"), "--rps", "100", "-d", "2s", "-c", "1"], 0);
    assert_accounting(&r);
    let scheduled = r.totals.requests + r.totals.dropped;
    assert!(
        (195..=205).contains(&scheduled),
        "started {} + dropped {}",
        r.totals.requests,
        r.totals.dropped
    );
    assert!(r.totals.requests <= 45, "at most one in flight: {}", r.totals.requests);
    assert!(r.totals.dropped >= 150, "dropped {}", r.totals.dropped);
    assert_eq!(r.open_model.as_ref().unwrap().dropped, r.totals.dropped);
    let dropped = r.metrics.get("dropped_iterations").expect("k6's dropped_iterations metric");
    assert_eq!(dropped.values["count"], r.totals.dropped as f64);
    let series: u64 = r.timeseries.iter().map(|p| p.dropped).sum();
    assert_eq!(series, r.totals.dropped, "time series dropped add up");
    assert_eq!(server.requests(), r.totals.requests);
}

#[test]
fn the_rate_is_kept() {
    // 200 slots absorb a scheduling hiccup of the busy test machine of up to 200 ms.
    let server = TestServer::start(Behavior::ok());
    let (r, _) = volley_json(&[&server.url("/"), "--rps", "1000", "-d", "2s", "-c", "200"], 0);
    assert_accounting(&r);
    let t = &r.totals;
    assert!((t.requests as i64 - 2000).abs() <= 20, "requests {}", t.requests);
    assert!(t.dropped <= 20, "dropped {}", t.dropped);
    let om = r.open_model.as_ref().unwrap();
    assert!((om.achieved_rps - 1000.0).abs() < 20.0, "achieved {}", om.achieved_rps);
    // Against an instant server, the schedule is kept within milliseconds (p99 allows for
    // the other tests sharing the CPUs).
    assert!(om.schedule_lag.med < 5.0, "schedule lag {:?}", om.schedule_lag);
    assert!(om.schedule_lag.p99 < 100.0, "schedule lag {:?}", om.schedule_lag);
    // Raw latency (from the actual send) never exceeds the corrected one (from the intended
    // start).
    let corrected = &r.metrics["http_req_duration"].values;
    assert!(om.raw_latency.count > 0);
    assert!(om.raw_latency.med <= corrected["med"] + 0.01, "{:?} vs {corrected:?}", om.raw_latency);
    assert!(om.raw_latency.max <= corrected["max"] + 0.01, "{:?} vs {corrected:?}", om.raw_latency);
}

#[test]
fn open_model_with_n_sends_exactly_n() {
    let server = TestServer::start(Behavior::ok());
    let (r, _) = volley_json(&[&server.url("/"), "--rps", "500", "-n", "300", "-c", "10"], 0);
    assert_accounting(&r);
    assert_eq!(r.totals.requests + r.totals.dropped, 300);
    assert_eq!(server.requests(), r.totals.requests);
    assert!(r.duration_s >= 0.55 && r.duration_s < 2.0, "300 at 500/s: {}", r.duration_s);
}
