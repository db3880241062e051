//! Why a request got no usable answer.
//!
//! A request either yields an HTTP response (whatever its status) or fails with one of these
//! kinds. Kinds are data, not errors: they are counted, never propagated.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// Transport-level failure of one request (no complete HTTP response was received).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The connection was refused (nothing listens on the port).
    Refused,
    /// The peer reset the connection (ECONNRESET, EPIPE).
    Reset,
    /// The peer closed the connection before the response was complete (early close,
    /// truncated body).
    Closed,
    /// No complete answer within the request timeout.
    Timeout,
    /// The TLS handshake failed.
    Tls,
    /// The host name did not resolve.
    Dns,
    /// The bytes received were not a valid HTTP response.
    Malformed,
    /// The load generator itself ran out of a local resource (open files, ephemeral ports:
    /// EMFILE, ENFILE, EADDRNOTAVAIL): the request never reached the server. Kept out of the
    /// latency histograms, which measure the server.
    Local,
    /// Anything else (unexpected I/O errors).
    Other,
    /// HTTP/2: the server reset the request's stream (RST_STREAM) with an error code other
    /// than REFUSED_STREAM (a refused stream was never processed: it is sent again once).
    StreamReset,
    /// HTTP/2: the server shut the connection down (GOAWAY) with an error code while the
    /// request was in flight, or the request found every fresh connection going away. A
    /// graceful GOAWAY (NO_ERROR) fails nothing: streams it left unprocessed are sent again
    /// on a new connection.
    Goaway,
}

impl FailureKind {
    pub const ALL: [FailureKind; 11] = [
        FailureKind::Refused,
        FailureKind::Reset,
        FailureKind::Closed,
        FailureKind::Timeout,
        FailureKind::Tls,
        FailureKind::Dns,
        FailureKind::Malformed,
        FailureKind::Local,
        FailureKind::Other,
        FailureKind::StreamReset,
        FailureKind::Goaway,
    ];
    pub const COUNT: usize = Self::ALL.len();

    pub fn index(self) -> usize {
        self as usize
    }

    /// True for failures on the generator's side: the server never saw the request, so the
    /// sample says nothing about its latency.
    pub fn is_local(self) -> bool {
        self == FailureKind::Local
    }

    /// The name used in the result file and every report.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Refused => "refused",
            FailureKind::Reset => "reset",
            FailureKind::Closed => "closed",
            FailureKind::Timeout => "timeout",
            FailureKind::Tls => "tls",
            FailureKind::Dns => "dns",
            FailureKind::Malformed => "malformed",
            FailureKind::Local => "local",
            FailureKind::Other => "other",
            FailureKind::StreamReset => "stream_reset",
            FailureKind::Goaway => "goaway",
        }
    }

    /// One line a user can act on.
    pub fn describe(self) -> &'static str {
        match self {
            FailureKind::Refused => "connection refused: nothing listening, or the backlog is full",
            FailureKind::Reset => "connection reset by the server",
            FailureKind::Closed => "connection closed before the response was complete",
            FailureKind::Timeout => "no complete response within the timeout",
            FailureKind::Tls => "TLS handshake failed",
            FailureKind::Dns => "host name did not resolve",
            FailureKind::Malformed => "the server sent bytes that are not valid HTTP",
            FailureKind::Local => {
                "volley ran out of open files or local ports: the generator failed, not the server"
            }
            FailureKind::Other => "other I/O error",
            FailureKind::StreamReset => "HTTP/2 stream reset by the server (RST_STREAM)",
            FailureKind::Goaway => "HTTP/2 connection shut down by the server (GOAWAY) mid-request",
        }
    }
}

impl FailureKind {
    /// What to look at when every request failed this way; `protocol` is the one volley spoke
    /// (`HTTP/1.1`, `HTTP/2`), which a `malformed` answer did not follow.
    pub fn hint(self, protocol: &str) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            FailureKind::Refused => "is the service running and listening at that address?",
            FailureKind::Reset | FailureKind::Closed => {
                "the service closed or reset connections before answering: check its logs (a \
                 crash, a connection limit, or a protocol it does not expect)"
            }
            FailureKind::Timeout => {
                "the service sent no complete response in time: is it stuck or overloaded? \
                 `--timeout` waits longer"
            }
            FailureKind::Tls => {
                "check the server's certificate and TLS set-up, or pass `--insecure` (-k) for a \
                 test server"
            }
            FailureKind::Dns => "check the host name in the URL",
            FailureKind::Malformed => {
                // Either no HTTP at all, or heads that parse with bodies framed wrongly (a bad
                // Content-Length or chunk size): the sample does not tell the two apart.
                return Cow::Owned(format!(
                    "the service does not answer {protocol} on that port, or frames its bodies \
                     wrongly (a bad Content-Length or chunk size): check the port and the scheme, \
                     then the service's responses (curl -v)"
                ));
            }
            FailureKind::Local => {
                "raise the open-files limit (`ulimit -n`) or use fewer connections"
            }
            FailureKind::Other => "see the failures in the summary",
            FailureKind::StreamReset => {
                "the service reset HTTP/2 streams: check its logs and its stream limits (max \
                 concurrent streams, request size)"
            }
            FailureKind::Goaway => {
                "the service shut HTTP/2 connections down with an error: check its logs"
            }
        })
    }
}

impl std::fmt::Display for FailureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_round_trip_through_serde() {
        for (i, k) in FailureKind::ALL.iter().enumerate() {
            assert_eq!(k.index(), i);
            let json = serde_json::to_string(k).unwrap();
            assert_eq!(json, format!("\"{}\"", k.as_str()));
            assert_eq!(serde_json::from_str::<FailureKind>(&json).unwrap(), *k);
        }
        assert!(FailureKind::Local.is_local() && !FailureKind::Refused.is_local());
    }

    #[test]
    fn the_malformed_hint_names_the_protocol_spoken() {
        for p in ["HTTP/1.1", "HTTP/2"] {
            let h = FailureKind::Malformed.hint(p);
            assert!(h.contains(&format!("does not answer {p} on that port")), "{h}");
        }
        assert!(!FailureKind::Reset.hint("HTTP/2").contains("HTTP/1.1"));
        for k in FailureKind::ALL {
            assert!(!k.hint("HTTP/2").contains("  "), "{k}: no run of spaces in a hint");
        }
    }
}
