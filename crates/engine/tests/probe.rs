//! The second look after a failed run names what rustls really reports: certificates that
//! expired or belong to another host, self-signed ones, and URLs in the wrong protocol.

mod support;

use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use support::{Mode, Server};
use volley_engine::probe::{Finding, diagnose, diagnose_with};
use volley_testkit::tls::TlsServer;

const WAIT: Duration = Duration::from_secs(3);

/// A test authority, and a client configuration that trusts it (and nothing else).
struct Authority {
    issuer: Issuer<'static, KeyPair>,
    client: Arc<rustls::ClientConfig>,
}

impl Authority {
    fn new() -> Authority {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().unwrap();
        let ca = params.self_signed(&key).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.der().clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        Authority { issuer: Issuer::new(params, key), client: Arc::new(client) }
    }

    /// A leaf for `names`, valid until `not_after` (year).
    fn leaf(&self, names: &[&str], not_after: i32) -> TlsServer {
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.not_before = rcgen::date_time_ymd(2000, 1, 1);
        params.not_after = rcgen::date_time_ymd(not_after, 1, 1);
        let key = KeyPair::generate().unwrap();
        let cert: CertificateDer<'static> = params.signed_by(&key, &self.issuer).unwrap().into();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        TlsServer::with_cert(cert, key)
    }
}

fn certificate(finding: Option<Finding>) -> String {
    match finding {
        Some(Finding::Certificate(why)) => why,
        other => panic!("expected a certificate problem, got {other:?}"),
    }
}

#[test]
fn an_expired_certificate_is_named_with_its_age() {
    let ca = Authority::new();
    let server = ca.leaf(&["localhost"], 2020);
    let url = format!("https://localhost:{}/", server.port);
    let why = certificate(diagnose_with(&url, ca.client.clone(), WAIT));
    assert!(why.starts_with("has expired ("), "{why}");
    assert!(why.ends_with(" days ago)"), "{why}");
}

#[test]
fn a_certificate_for_another_host_names_both() {
    let ca = Authority::new();
    let server = ca.leaf(&["other.test"], 2100);
    let url = format!("https://localhost:{}/", server.port);
    let why = certificate(diagnose_with(&url, ca.client.clone(), WAIT));
    assert!(why.contains("not valid for the host name `localhost`"), "{why}");
    assert!(why.contains("other.test"), "{why}");
}

#[test]
fn a_good_certificate_leaves_nothing_to_say() {
    let ca = Authority::new();
    let server = ca.leaf(&["localhost"], 2100);
    let url = format!("https://localhost:{}/", server.port);
    assert_eq!(diagnose_with(&url, ca.client.clone(), WAIT), None);
}

#[test]
fn a_self_signed_certificate_and_the_insecure_hint() {
    let server = TlsServer::start();
    let url = format!("https://localhost:{}/", server.port);
    let found = diagnose(&url, false, WAIT);
    assert!(certificate(found.clone()).starts_with("is self-signed or signed by an unknown"));
    assert!(found.unwrap().hint().contains("--insecure"));
    // With --insecure the handshake works: no finding.
    assert_eq!(diagnose(&url, true, WAIT), None);
}

#[test]
fn a_url_in_the_wrong_protocol() {
    let tls = TlsServer::start();
    let url = format!("http://127.0.0.1:{}/", tls.port);
    assert_eq!(diagnose(&url, false, WAIT), Some(Finding::PortSpeaksTls));

    let plain = Server::start(Mode::Ok { delay_ms: 0 });
    let url = plain.url("/").replace("http://", "https://");
    assert_eq!(diagnose(&url, false, WAIT), Some(Finding::PortSpeaksPlainHttp));
    // A plain server on an http:// URL is not a protocol mismatch.
    assert_eq!(diagnose(&plain.url("/"), false, WAIT), None);
}
