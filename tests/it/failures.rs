//! Every failure kind, produced by a real misbehaving server, counted exactly: the server's own
//! count of requests read is compared with volley's, and the kind must be the right one.

use std::time::Duration;

use crate::support::*;

/// Runs `-n N -c C` against a server that does `action` to every request, and checks that every
/// request was counted once, as a transport failure of `kind`.
#[track_caller]
fn all_fail_as(action: Action, kind: &str, n: u64, extra: &[&str]) -> RunResult {
    all_fail_with_hint(action, kind, n, extra).0
}

/// [`all_fail_as`], returning what volley printed on stderr too (its cause and hint).
#[track_caller]
fn all_fail_with_hint(action: Action, kind: &str, n: u64, extra: &[&str]) -> (RunResult, String) {
    let server = TestServer::start(Behavior::action(action));
    let (ns, url) = (n.to_string(), server.url("/"));
    let mut args = vec![url.as_str(), "-n", ns.as_str(), "-c", "2"];
    args.extend_from_slice(extra);
    let (r, out) = volley_json(&args, 1);
    assert_accounting(&r);
    assert_eq!(r.totals.requests, n, "{}", out.stderr);
    assert_eq!(r.totals.transport_failures, n);
    assert_eq!(r.totals.failed, n);
    assert_eq!(r.totals.responses, 0);
    assert_eq!(r.failures.get(kind), Some(&n), "failures {:?}", r.failures);
    assert_eq!(r.failures.len(), 1, "one kind only: {:?}", r.failures);
    assert_eq!(server.requests(), n, "requests the server read");
    assert_eq!(r.endpoints[0].failure_kinds.get(kind), Some(&n));
    assert_eq!(r.metrics["http_req_failed"].values["rate"], 1.0);
    (r, out.stderr)
}

/// The hint line volley printed after "no response from the target".
#[track_caller]
fn hint(stderr: &str) -> &str {
    assert!(stderr.contains("error: no response from the target"), "{stderr}");
    let at = stderr.find("  hint: ").unwrap_or_else(|| panic!("no hint in {stderr}"));
    stderr[at + 8..].lines().next().unwrap()
}

#[test]
fn every_kind_gets_its_own_hint_and_only_refused_asks_if_the_service_runs() {
    let cases = [
        (Action::Reset, "reset", "closed or reset connections before answering"),
        (Action::Garbage, "malformed", "does not answer HTTP/1.1 on that port"),
        (Action::EarlyClose, "closed", "closed or reset connections before answering"),
    ];
    for (action, kind, want) in cases {
        let (_, stderr) = all_fail_with_hint(action, kind, 4, &[]);
        assert!(hint(&stderr).contains(want), "{kind}: {stderr}");
        assert!(!stderr.contains("is the service running"), "{kind}: {stderr}");
    }
    let (_, stderr) = all_fail_with_hint(Action::Silent, "timeout", 2, &["--timeout", "200ms"]);
    assert!(hint(&stderr).contains("no complete response in time"), "{stderr}");
    assert!(!stderr.contains("is the service running"), "{stderr}");

    let url = refused_url("/");
    let (_, out) = volley_json(&[&url, "-n", "3"], 1);
    assert_eq!(hint(&out.stderr), format!("is the service running and listening at {url}?"));
}

#[test]
fn the_malformed_hint_names_the_protocol_volley_spoke() {
    let server = TestServer::start(Behavior::action(Action::GarbageOnConnect));
    let url = server.url("/");
    // (Garbage before the HTTP/2 preface fails as `other` under `--http2-prior-knowledge`;
    // the HTTP/2 wording is unit-tested with `FailureKind::hint` and `protocol_spoken`.)
    let (r, out) = volley_json(&[&url, "-n", "4", "-c", "2", "--http1.1"], 1);
    assert_accounting(&r);
    assert_eq!(r.failures.get("malformed"), Some(&4), "{:?}", r.failures);
    let hint = hint(&out.stderr);
    assert!(hint.contains("does not answer HTTP/1.1 on that port"), "{hint}");
}

#[test]
fn a_self_signed_certificate_is_named_and_insecure_suggested() {
    let server = TlsServer::start();
    let url = format!("https://localhost:{}/", server.port);
    let (r, out) = volley_json(&[&url, "-n", "6", "-c", "2"], 1);
    assert_accounting(&r);
    assert_eq!(r.failures.get("tls"), Some(&6), "{:?}", r.failures);
    assert!(
        out.stderr.contains(
            "  cause: the server's certificate is self-signed or signed by an unknown authority"
        ),
        "{}",
        out.stderr
    );
    assert!(hint(&out.stderr).contains("`--insecure` (-k)"), "{}", out.stderr);
    // And with --insecure it answers.
    let (r, _) = volley_json(&[&url, "-n", "6", "-c", "2", "--insecure"], 0);
    assert_eq!(r.totals.responses, 6);
}

#[test]
fn a_url_with_the_wrong_scheme_says_which_to_use() {
    let tls = TlsServer::start();
    let url = format!("http://127.0.0.1:{}/", tls.port);
    let (_, out) = volley_json(&[&url, "-n", "2", "--timeout", "500ms"], 1);
    assert!(
        out.stderr.contains("  cause: the port speaks TLS but the URL says http://"),
        "{}",
        out.stderr
    );
    assert_eq!(hint(&out.stderr), "use https:// in the URL");

    let plain = TestServer::start(Behavior::ok());
    let url = format!("https://{}/", plain.addr());
    let (_, out) = volley_json(&[&url, "-n", "2", "--timeout", "500ms"], 1);
    assert!(
        out.stderr.contains("  cause: the port answers plain HTTP but the URL says https://"),
        "{}",
        out.stderr
    );
    assert_eq!(hint(&out.stderr), "use http:// in the URL");
}

#[test]
fn reset_is_counted_as_reset() {
    all_fail_as(Action::Reset, "reset", 40, &[]);
}

#[test]
fn garbage_is_counted_as_malformed() {
    all_fail_as(Action::Garbage, "malformed", 40, &[]);
}

#[test]
fn truncated_body_is_counted_as_closed() {
    all_fail_as(Action::Truncated, "closed", 40, &[]);
}

#[test]
fn early_close_is_counted_as_closed() {
    all_fail_as(Action::EarlyClose, "closed", 40, &[]);
}

#[test]
fn silence_is_counted_as_timeout() {
    let r = all_fail_as(Action::Silent, "timeout", 4, &["--timeout", "300ms"]);
    // 2 rounds of 2 VUs, each waiting for the timeout.
    assert!(r.duration_s >= 0.55 && r.duration_s < 5.0, "duration {}", r.duration_s);
}

#[test]
fn timeout_applies_to_a_slow_response() {
    let server = TestServer::start(Behavior::ok().delay(Duration::from_millis(400)));
    let (r, _) = volley_json(&[&server.url("/"), "-n", "4", "-c", "4", "--timeout", "100ms"], 1);
    assert_accounting(&r);
    assert_eq!(r.failures.get("timeout"), Some(&4), "{:?}", r.failures);
}

#[test]
fn refused_target_finishes_quickly_with_every_request_counted() {
    let url = refused_url("/");
    let out = volley(&[&url, "-n", "1000", "-c", "10", "--json", "-q"], Duration::from_secs(20));
    assert!(out.elapsed < Duration::from_secs(5), "took {:?}", out.elapsed);
    // A dead target is a failed run (exit 1), but the result is complete and printed.
    assert_eq!(out.code, Some(1), "{}", out.streams());
    assert!(out.stderr.contains("no response from the target"), "{}", out.stderr);
    let r = parse_result(&out.stdout);
    assert_accounting(&r);
    assert_eq!(r.totals.requests, 1000);
    assert_eq!(r.failures.get("refused"), Some(&1000), "{:?}", r.failures);
    assert!(!out.stderr.contains("panicked"));
}

#[test]
fn one_failure_among_successes() {
    for (action, kind) in
        [(Action::Reset, "reset"), (Action::EarlyClose, "closed"), (Action::Garbage, "malformed")]
    {
        let server = TestServer::start(Behavior::ok().fail_nth(10, action));
        // POST: a GET that fails before any byte of its response on a reused connection is
        // retried once on a fresh one (see transport_http1), which would hide the failure.
        let args = [&server.url("/"), "-n", "50", "-c", "1", "-m", "POST"];
        let (r, _) = volley_json(&args, 0);
        assert_accounting(&r);
        assert_eq!(server.requests(), 50, "{kind}: the failed request is not retried");
        assert_eq!(r.totals.requests, 50, "{kind}");
        assert_eq!(r.failures.get(kind), Some(&1), "{kind}: {:?}", r.failures);
        assert_eq!(r.totals.responses, 49, "{kind}");
        assert_eq!(r.totals.failed, 1, "{kind}");
        assert_eq!(server.connections(), 2, "{kind}: the VU reconnects once");
    }
}

#[test]
fn error_statuses_are_responses_that_failed() {
    let server = TestServer::start(Behavior::status(503));
    let (r, _) = volley_json(&[&server.url("/"), "-n", "30", "-c", "3"], 0);
    assert_accounting(&r);
    assert_eq!(r.totals.responses, 30);
    assert_eq!(r.totals.transport_failures, 0);
    assert_eq!(r.totals.failed, 30);
    assert_eq!(r.status_codes.get("503"), Some(&30));
    assert!(r.failures.is_empty());
}

#[test]
fn a_failed_tls_handshake_is_counted_as_tls() {
    let server = TestServer::start(Behavior::action(Action::GarbageOnConnect));
    let url = format!("https://{}/", server.addr());
    let (r, out) = volley_json(&[&url, "-n", "20", "-c", "2", "--insecure"], 1);
    assert_accounting(&r);
    assert_eq!(r.totals.requests, 20);
    assert_eq!(r.failures.get("tls"), Some(&20), "{:?}", r.failures);
    assert!(out.stderr.contains("  cause: the TLS handshake failed: "), "{}", out.stderr);
    // One handshake attempt per request, then the second look after the run: one more
    // handshake and one plain-HTTP try, neither counted in the result.
    assert_eq!(server.connections(), 20 + 2);
}
