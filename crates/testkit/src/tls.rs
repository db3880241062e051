//! TLS for test servers: fresh self-signed certificates for `localhost`, acceptors offering a
//! choice of ALPN protocols, and [`TlsServer`], an https server on 127.0.0.1:0 that completes
//! handshakes and answers `200 ok` to each request head on a keep-alive connection.

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A fresh self-signed certificate for `localhost`, and its key.
pub fn self_signed() -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
    (ck.cert.der().clone(), key)
}

/// An acceptor presenting `cert`, offering `alpn` (none: no ALPN).
pub fn acceptor_with(
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
    alpn: &[&[u8]],
) -> tokio_rustls::TlsAcceptor {
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .unwrap();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

/// An acceptor with a fresh self-signed certificate for `localhost`, offering `alpn`.
pub fn acceptor(alpn: &[&[u8]]) -> tokio_rustls::TlsAcceptor {
    let (cert, key) = self_signed();
    acceptor_with(cert, key, alpn)
}

/// An https server on 127.0.0.1:0 with its own runtime thread; stopped when dropped.
pub struct TlsServer {
    pub port: u16,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TlsServer {
    /// With a fresh self-signed certificate for `localhost`.
    pub fn start() -> TlsServer {
        let (cert, key) = self_signed();
        TlsServer::with_cert(cert, key)
    }

    /// Presenting `cert` (tests of certificate problems: expired, another host's).
    pub fn with_cert(cert: CertificateDer<'static>, key: PrivateKeyDer<'static>) -> TlsServer {
        let acceptor = acceptor_with(cert, key, &[]);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let accept = async {
                    loop {
                        let Ok((sock, _)) = listener.accept().await else { continue };
                        tokio::spawn(serve(acceptor.clone(), sock));
                    }
                };
                tokio::select! {
                    _ = accept => {}
                    _ = stop_rx => {}
                }
            });
            rt.shutdown_background();
        });
        TlsServer { port, stop: Some(stop), thread: Some(thread) }
    }
}

/// One connection: the handshake, then `200 ok` to each request head, until the client closes.
async fn serve(acceptor: tokio_rustls::TlsAcceptor, sock: tokio::net::TcpStream) {
    let Ok(mut tls) = acceptor.accept(sock).await else { return };
    let mut head = Vec::new();
    let mut chunk = [0u8; 4096];
    while let Ok(n @ 1..) = tls.read(&mut chunk).await {
        head.extend_from_slice(&chunk[..n]);
        while let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            head.drain(..end + 4);
            let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
            if tls.write_all(ok).await.is_err() {
                return;
            }
        }
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
