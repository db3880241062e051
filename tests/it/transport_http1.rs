//! The HTTP/1.1 transport against servers that answer in every legal and illegal way the
//! codec must handle: responses split into small writes, interim 1xx answers, HEAD, chunked
//! bodies (valid, invalid, oversized sizes), close-delimited bodies, and a server that closes
//! each connection after one answer without saying so. Counts are compared with the server's.

use std::time::Duration;

use crate::support::*;

/// `-n N -c C` against `server`; returns the result after the accounting checks.
#[track_caller]
fn run(server: &ScriptedServer, n: u64, extra: &[&str]) -> RunResult {
    let (ns, url) = (n.to_string(), server.url("/"));
    let mut args = vec![url.as_str(), "-n", ns.as_str(), "-c", "2"];
    args.extend_from_slice(extra);
    let code = if extra.contains(&"--expect-fail") { 1 } else { 0 };
    let args: Vec<&str> = args.into_iter().filter(|a| *a != "--expect-fail").collect();
    let (r, out) = volley_json(&args, code);
    assert_accounting(&r);
    assert_eq!(r.totals.requests, n, "{}", out.stderr);
    r
}

#[test]
fn responses_split_into_small_writes_are_read_whole() {
    let body = "x".repeat(300);
    let resp = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: 300\r\nX-Pad: {}\r\n\r\n{body}",
        "p".repeat(90)
    );
    let server = ScriptedServer::start(Script::new(resp).in_pieces(7));
    let r = run(&server, 20, &[]);
    assert_eq!(r.totals.responses, 20);
    assert_eq!(server.requests(), 20);
    assert_eq!(server.connections(), 2, "keep-alive: one connection per VU");
}

#[test]
fn waiting_ends_at_the_first_byte_and_receiving_runs_to_the_last() {
    // k6's phases: TTFB is the first byte of the response, not the end of its head.
    let resp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let gap = Duration::from_millis(150);
    let server = ScriptedServer::start(Script::new(resp).first_byte_then(gap));
    let r = run(&server, 4, &[]);
    let med = |m: &str| r.metrics[m].values["med"];
    assert!(med("http_req_waiting") < 50.0, "waiting {}", med("http_req_waiting"));
    assert!(med("http_req_receiving") >= 140.0, "receiving {}", med("http_req_receiving"));
    assert!(med("http_req_duration") >= 140.0, "duration {}", med("http_req_duration"));
}

#[test]
fn chunked_responses_split_at_small_boundaries() {
    let resp = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;a=b\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nX-Trailer: 1\r\n\r\n";
    let server = ScriptedServer::start(Script::new(resp).in_pieces(3));
    let r = run(&server, 20, &[]);
    assert_eq!(r.totals.responses, 20);
    assert_eq!(server.connections(), 2);
}

#[test]
fn invalid_and_oversized_chunk_sizes_are_malformed() {
    for size in ["zz", "1ffffffffffffffff", "-5"] {
        let resp = format!(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{size}\r\nabc\r\n0\r\n\r\n"
        );
        let server = ScriptedServer::start(Script::new(resp));
        let r = run(&server, 6, &["--expect-fail"]);
        assert_eq!(r.failures.get("malformed"), Some(&6), "size {size}: {:?}", r.failures);
        assert_eq!(server.requests(), 6);
    }
}

#[test]
fn interim_responses_are_skipped() {
    let resp = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok";
    let server = ScriptedServer::start(Script::new(resp).in_pieces(5));
    let r = run(&server, 10, &[]);
    assert_eq!(r.totals.responses, 10);
    assert_eq!(r.totals.failed, 0, "{:?}", r.status_codes);
    assert_eq!(server.connections(), 2);
}

#[test]
fn head_responses_have_no_body_whatever_their_length_says() {
    // A body after the head would be read as the next response and fail it.
    let server =
        ScriptedServer::start(Script::new("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"));
    let r = run(&server, 10, &["-m", "HEAD"]);
    assert_eq!((r.totals.responses, r.totals.failed), (10, 0));
    assert!(server.connections() <= 2, "keep-alive after HEAD: {}", server.connections());
}

#[test]
fn close_delimited_bodies_end_at_the_close() {
    let resp =
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nthe body ends when the server closes";
    let server = ScriptedServer::start(Script::new(resp).close_after());
    let r = run(&server, 10, &[]);
    assert_eq!((r.totals.responses, r.totals.failed), (10, 0));
    assert_eq!(server.requests(), 10);
    assert_eq!(server.connections(), 10, "a close-delimited response uses up its connection");
}

#[test]
fn a_server_closing_after_every_response_loses_no_request() {
    // No `Connection: close`: the next request races the close and is retried once on a
    // fresh connection, since nothing of its response had arrived.
    let server = ScriptedServer::start(
        Script::new("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").close_after(),
    );
    let r = run(&server, 30, &[]);
    assert_eq!((r.totals.responses, r.totals.failed), (30, 0), "{:?}", r.failures);
    assert_eq!(server.requests(), 30, "each request reached the server exactly once");
}

#[test]
fn non_idempotent_requests_are_not_retried() {
    let server = ScriptedServer::start(
        Script::new("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").close_after(),
    );
    let (r, _) = volley_json(&[&server.url("/"), "-n", "10", "-c", "1", "-m", "POST"], 0);
    assert_accounting(&r);
    assert_eq!(r.totals.requests, 10);
    // Every POST after the first goes out on a connection the server already closed.
    assert!(r.totals.transport_failures >= 1, "{:?}", r.failures);
    assert_eq!(r.totals.responses, server.requests());
}

/// A connection recalls a head byte-identical to its last one instead of parsing it again;
/// heads that differ from the last in one byte (a length, a status, an added header) are
/// parsed afresh, in every order, and a recalled head frames its body as a parsed one.
#[test]
fn heads_differing_from_the_last_by_one_byte_are_parsed_afresh() {
    let a = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
    let b = "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nhello!!";
    let c = "HTTP/1.1 503 OK\r\nContent-Length: 5\r\n\r\nhello";
    let d = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";
    // Each connection answers a a b b c d, then closes (d says so): one VU, ten connections.
    let server = ScriptedServer::start(Script::new(a).cycle(&[a, b, b, c, d]));
    let (r, out) = volley_json(&[&server.url("/"), "-n", "60", "-c", "1"], 0);
    assert_accounting(&r);
    assert_eq!(r.totals.requests, 60, "{}", out.stderr);
    assert_eq!(r.totals.responses, 60);
    assert_eq!(r.totals.failed, 10, "one 503 per connection");
    assert_eq!(r.totals.retries, 0);
    assert_eq!(server.connections(), 10, "the close of d is seen every time");
    let per_connection = 2 * a.len() + 2 * b.len() + c.len() + d.len();
    assert_eq!(r.totals.bytes_received, 10 * per_connection as u64);
}
