//! Why a target failed, in words: one diagnostic connection after a run whose requests failed.
//!
//! The hot path counts a failed TLS handshake as the failure kind `tls` and moves on; it does
//! not keep rustls' reason per request. When a run's requests all failed (or some failed at the
//! TLS handshake), the binary asks this module to look once more, outside the measurement: a
//! fresh handshake with the run's own TLS configuration names the certificate's problem
//! (expired, another host's, self-signed or unknown issuer), and a second look in the other
//! protocol tells an `http://` URL aimed at a TLS port (or `https://` at a plain one) apart
//! from a server that is merely broken. The probe sends no HTTP request over TLS and at most
//! one `HEAD /` in plain text; it is never counted in the result.

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use volley_plan::Target;

use crate::transport::{resolve, tls_config};

/// What the second look found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// The TLS handshake fails for this reason (a certificate problem, in words).
    Certificate(String),
    /// The handshake fails for a reason other than the certificate (protocol versions, an
    /// alert from the server), in rustls' words.
    Handshake(String),
    /// An `http://` URL whose port speaks TLS.
    PortSpeaksTls,
    /// An `https://` URL whose port answers plain HTTP.
    PortSpeaksPlainHttp,
}

impl Finding {
    /// The cause, as a clause after "because".
    pub fn cause(&self) -> String {
        match self {
            Finding::Certificate(why) => format!("the server's certificate {why}"),
            Finding::Handshake(why) => format!("the TLS handshake failed: {why}"),
            Finding::PortSpeaksTls => "the port speaks TLS but the URL says http://".into(),
            Finding::PortSpeaksPlainHttp => {
                "the port answers plain HTTP but the URL says https://".into()
            }
        }
    }

    /// What to do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            Finding::Certificate(_) => {
                "for a test server, `--insecure` (-k) accepts any certificate; otherwise fix the \
                 certificate or the host name in the URL"
            }
            Finding::Handshake(_) => {
                "check the server's TLS set-up (TLS 1.2 or 1.3 with a common cipher suite)"
            }
            Finding::PortSpeaksTls => "use https:// in the URL",
            Finding::PortSpeaksPlainHttp => "use http:// in the URL",
        }
    }
}

/// Looks at `url` once more (bounded by `timeout` per step) and says what is wrong with the
/// protocol it speaks, or `None` when the probe finds nothing to say (the port refuses, the
/// handshake works now, the server is plain broken). Builds its own small runtime: it runs
/// after the engine's threads are gone.
pub fn diagnose(url: &str, insecure: bool, timeout: Duration) -> Option<Finding> {
    diagnose_with(url, tls_config(insecure).ok()?, timeout)
}

/// [`diagnose`] with a given client configuration for `https://` URLs (tests trust their own
/// authority with it).
pub fn diagnose_with(
    url: &str,
    config: Arc<rustls::ClientConfig>,
    timeout: Duration,
) -> Option<Finding> {
    let target = Target::parse(url).ok()?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
    rt.block_on(async {
        if target.https {
            let why = match handshake(&target, config, timeout).await {
                Handshake::NoConnection | Handshake::Done => return None,
                Handshake::Failed(rustls::Error::InvalidCertificate(e)) => {
                    return Some(Finding::Certificate(certificate_problem(&e, &target.host)));
                }
                Handshake::Failed(e) => Some(e.to_string()),
                // A plain HTTP server waits for the end of a request head the ClientHello
                // never sends.
                Handshake::Silent => None,
            };
            if answers_plain_http(&target, timeout).await {
                Some(Finding::PortSpeaksPlainHttp)
            } else {
                why.map(Finding::Handshake)
            }
        } else {
            let any = tls_config(true).ok()?;
            matches!(handshake(&target, any, timeout).await, Handshake::Done)
                .then_some(Finding::PortSpeaksTls)
        }
    })
}

/// The certificate's problem in words, as the predicate of "the server's certificate …".
pub fn certificate_problem(e: &rustls::CertificateError, host: &str) -> String {
    use rustls::CertificateError as C;
    match e {
        C::ExpiredContext { time, not_after } => {
            format!("has expired ({} ago)", ago(time.as_secs().saturating_sub(not_after.as_secs())))
        }
        C::Expired => "has expired".into(),
        C::NotValidYet | C::NotValidYetContext { .. } => "is not valid yet".into(),
        C::NotValidForNameContext { presented, .. } if !presented.is_empty() => format!(
            "is not valid for the host name `{host}` (it was issued for {})",
            presented.join(", ")
        ),
        C::NotValidForName | C::NotValidForNameContext { .. } => {
            format!("is not valid for the host name `{host}` (it was issued for another name)")
        }
        C::UnknownIssuer => {
            "is self-signed or signed by an unknown authority (not in the Mozilla roots volley \
             trusts)"
                .into()
        }
        C::Revoked => "has been revoked".into(),
        C::BadSignature => "has an invalid signature".into(),
        C::InvalidPurpose | C::InvalidPurposeContext { .. } => {
            "is not meant for a TLS server (its key usage forbids it)".into()
        }
        other => format!("was refused ({other:?})"),
    }
}

fn ago(secs: u64) -> String {
    match secs {
        0..120 => format!("{secs} s"),
        120..7200 => format!("{} min", secs / 60),
        7200..172_800 => format!("{} h", secs / 3600),
        _ => format!("{} days", secs / 86_400),
    }
}

enum Handshake {
    NoConnection,
    Done,
    Failed(rustls::Error),
    /// No answer within the timeout.
    Silent,
}

async fn handshake(
    target: &Target,
    config: Arc<rustls::ClientConfig>,
    timeout: Duration,
) -> Handshake {
    let Some(tcp) = connect(target, timeout).await else { return Handshake::NoConnection };
    let Ok(name) = ServerName::try_from(target.host.clone()) else {
        return Handshake::NoConnection;
    };
    let tls = tokio_rustls::TlsConnector::from(config).connect(name, tcp);
    match tokio::time::timeout(timeout, tls).await {
        Err(_) => Handshake::Silent,
        Ok(Ok(_)) => Handshake::Done,
        Ok(Err(e)) => match e.into_inner().map(|inner| inner.downcast::<rustls::Error>()) {
            Some(Ok(e)) => Handshake::Failed(*e),
            // Reset or closed mid-handshake: not a TLS reason.
            _ => Handshake::Failed(rustls::Error::General(
                "the server closed the connection during the handshake".into(),
            )),
        },
    }
}

async fn answers_plain_http(target: &Target, timeout: Duration) -> bool {
    let Some(mut tcp) = connect(target, timeout).await else { return false };
    let head =
        format!("HEAD / HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", target.authority);
    let look = async {
        tcp.write_all(head.as_bytes()).await.ok()?;
        let mut buf = [0u8; 8];
        tcp.read_exact(&mut buf).await.ok()?;
        Some(buf.starts_with(b"HTTP/1."))
    };
    matches!(tokio::time::timeout(timeout, look).await, Ok(Some(true)))
}

async fn connect(target: &Target, timeout: Duration) -> Option<TcpStream> {
    let addr = resolve(&target.host, target.port).await.ok()?;
    tokio::time::timeout(timeout, TcpStream::connect(addr)).await.ok()?.ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_certificate_problem_reads_as_a_sentence() {
        use rustls::CertificateError as C;
        let cases = [
            (C::Expired, "has expired"),
            (
                C::ExpiredContext {
                    time: rustls::pki_types::UnixTime::since_unix_epoch(Duration::from_secs(
                        10 * 86_400,
                    )),
                    not_after: rustls::pki_types::UnixTime::since_unix_epoch(Duration::from_secs(
                        86_400,
                    )),
                },
                "has expired (9 days ago)",
            ),
            (C::NotValidYet, "is not valid yet"),
            (C::NotValidForName, "is not valid for the host name `example.test`"),
            (C::UnknownIssuer, "is self-signed"),
            (C::Revoked, "has been revoked"),
        ];
        for (e, want) in cases {
            let got = certificate_problem(&e, "example.test");
            assert!(got.starts_with(want), "{e:?}: {got}");
            let finding = Finding::Certificate(got);
            assert!(finding.cause().starts_with("the server's certificate "));
            assert!(finding.hint().contains("--insecure"));
        }
    }

    #[test]
    fn a_closed_port_says_nothing() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url = format!("https://127.0.0.1:{port}/");
        assert_eq!(diagnose(&url, false, Duration::from_secs(2)), None);
        let url = format!("http://127.0.0.1:{port}/");
        assert_eq!(diagnose(&url, false, Duration::from_secs(2)), None);
    }
}
