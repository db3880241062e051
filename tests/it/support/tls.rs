//! TLS for the test servers: the shared test kit's (`crates/testkit`), so that the engine's
//! tests and these use one self-signed server.

pub use volley_testkit::tls::{TlsServer, acceptor};
