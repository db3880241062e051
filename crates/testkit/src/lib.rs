//! Test support shared by the test binaries of several crates, so that each test server is
//! written once: today the TLS ones ([`tls`]). A dev-dependency only; volley never links it.

pub mod tls;
