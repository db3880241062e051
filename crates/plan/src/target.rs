//! The one URL parser: every URL volley sends to (quick mode's, a plan's `base_url` and steps,
//! and each URL a template renders at run time) goes through [`Target::parse`].
//!
//! URLs are parsed the WHATWG way (the `url` crate, as browsers and curl treat them): spaces,
//! `<`, `>`, `"` and non-ASCII characters in the path or query are percent-encoded rather than
//! refused; a port above 65535 is an error, never a silent fallback to port 80; `user:pass@`
//! becomes a `Basic` `Authorization` header, as curl sends it.

use base64::Engine as _;

/// An absolute http(s) URL, ready to send to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The normalized URL (percent-encoded, without its user info).
    pub url: url::Url,
    pub https: bool,
    /// Host name or IP address, without IPv6 brackets.
    pub host: String,
    pub port: u16,
    /// The `Host` header's value: host, and the port when it is not the scheme's default.
    pub authority: String,
    /// `Basic …` from the URL's `user:pass@`, percent-decoded as curl does.
    pub basic_auth: Option<String>,
}

impl Target {
    /// Parses an absolute http or https URL. `Err` says what is wrong in a few words.
    pub fn parse(text: &str) -> Result<Target, String> {
        let mut url = url::Url::parse(text.trim()).map_err(|e| match e {
            url::ParseError::RelativeUrlWithoutBase => {
                "not an absolute URL (expected http://host/...)".to_string()
            }
            url::ParseError::InvalidPort => "invalid port number (ports are 1 to 65535)".into(),
            e => e.to_string(),
        })?;
        let https = match url.scheme() {
            "http" => false,
            "https" => true,
            other => return Err(format!("unsupported scheme `{other}` (use http or https)")),
        };
        let host = match url.host() {
            Some(url::Host::Domain(d)) => d.to_string(),
            Some(url::Host::Ipv4(a)) => a.to_string(),
            Some(url::Host::Ipv6(a)) => a.to_string(),
            None => return Err("the URL has no host".into()),
        };
        let port = url.port_or_known_default().unwrap_or(if https { 443 } else { 80 });
        if port == 0 {
            return Err("port 0 is not a port a server listens on".into());
        }
        let authority = match url.port() {
            Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_string(),
        };
        let basic_auth = if url.username().is_empty() && url.password().is_none() {
            None
        } else {
            let creds = format!(
                "{}:{}",
                percent_decode(url.username()),
                percent_decode(url.password().unwrap_or(""))
            );
            // Never sent in the request line, nor kept where the URL is shown.
            let _ = url.set_username("");
            let _ = url.set_password(None);
            Some(format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(creds)))
        };
        Ok(Target { url, https, host, port, authority, basic_auth })
    }

    /// The request target of HTTP/1 (`/path?query`), percent-encoded.
    pub fn path_and_query(&self) -> &str {
        match &self.url[url::Position::BeforePath..url::Position::AfterQuery] {
            "" => "/",
            p => p,
        }
    }
}

/// Checks a user header against what volley itself frames: `Err` explains the conflict.
///
/// volley writes `Content-Length` from the body it sends. A user `Content-Length` that says
/// otherwise makes the server wait for bytes that never come (every request times out) or cut
/// the body, and a `Transfer-Encoding` would frame the body twice; curl sends both as written
/// and k6 (Go) silently replaces them, so neither does what the user meant: refuse them, with
/// the reason. `body_len` is the body's length when it is known before the run. A `Host`
/// header is allowed (virtual hosting, as in curl and k6); `host_seen` says one was given
/// already, and a second is refused (servers must answer 400 to two).
pub fn check_user_header(
    name: &str,
    value: Option<&str>,
    body_len: Option<usize>,
    host_seen: bool,
) -> Result<(), HeaderConflict> {
    let conflict = |message: String, hint: &'static str| Err(HeaderConflict { message, hint });
    const DROP: &str = "drop the header: volley sets Content-Length from the body";
    if name.eq_ignore_ascii_case("content-length") {
        let given = value.and_then(|v| v.trim().parse::<usize>().ok());
        return match (given, body_len) {
            (Some(g), Some(n)) if g == n => Ok(()),
            (_, Some(n)) => conflict(
                format!(
                    "header `Content-Length: {}` but the body is {n} bytes",
                    value.unwrap_or_default().trim()
                ),
                DROP,
            ),
            (_, None) => conflict(
                "a `Content-Length` header, but the body is rendered per request".into(),
                DROP,
            ),
        };
    }
    if name.eq_ignore_ascii_case("transfer-encoding") {
        return conflict(
            "a `Transfer-Encoding` header: volley sends every body with Content-Length".into(),
            "drop the header",
        );
    }
    if name.eq_ignore_ascii_case("host") && host_seen {
        return conflict("two `Host` headers: servers answer 400 to that".into(), "keep one");
    }
    Ok(())
}

/// Why a user header cannot be sent as written, and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (hint: {hint})")]
pub struct HeaderConflict {
    pub message: String,
    pub hint: &'static str,
}

/// Percent-decodes user info (`p%40ss` → `p@ss`) as curl does.
fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_above_65535_are_errors() {
        let e = Target::parse("http://127.0.0.1:108279/").unwrap_err();
        assert!(e.contains("invalid port"), "{e}");
        assert!(Target::parse("http://127.0.0.1:65536/").is_err());
        assert!(Target::parse("http://127.0.0.1:0/").is_err());
        let t = Target::parse("http://127.0.0.1:65535/").unwrap();
        assert_eq!((t.port, t.authority.as_str()), (65535, "127.0.0.1:65535"));
    }

    #[test]
    fn percent_encodes_as_browsers_do() {
        let t = Target::parse("http://h/a b/<x>/é?q=a b&r=<é>#frag").unwrap();
        assert_eq!(t.path_and_query(), "/a%20b/%3Cx%3E/%C3%A9?q=a%20b&r=%3C%C3%A9%3E");
        assert_eq!(Target::parse("http://h").unwrap().path_and_query(), "/");
        assert_eq!(Target::parse("http://h?x=1").unwrap().path_and_query(), "/?x=1");
        assert_eq!(Target::parse("https://h:443/p").unwrap().authority, "h");
        let v6 = Target::parse("http://[::1]:8080/").unwrap();
        assert_eq!((v6.host.as_str(), v6.authority.as_str()), ("::1", "[::1]:8080"));
    }

    #[test]
    fn user_info_becomes_basic_auth() {
        let t = Target::parse("http://al%40ice:p%3Ass@h:1/x").unwrap();
        // base64("al@ice:p:ss")
        assert_eq!(t.basic_auth.as_deref(), Some("Basic YWxAaWNlOnA6c3M="));
        assert_eq!(t.url.as_str(), "http://h:1/x");
        assert_eq!(Target::parse("http://u@h/").unwrap().basic_auth.as_deref(), Some("Basic dTo="));
        assert_eq!(Target::parse("http://h/").unwrap().basic_auth, None);
    }

    #[test]
    fn framing_headers() {
        assert!(check_user_header("Content-Length", Some("5"), Some(5), false).is_ok());
        let e = check_user_header("content-length", Some("99"), Some(5), false).unwrap_err();
        let e = e.to_string();
        assert!(e.contains("Content-Length: 99") && e.contains("5 bytes"), "{e}");
        assert!(check_user_header("Content-Length", Some("5"), None, false).is_err());
        assert!(check_user_header("Transfer-Encoding", Some("chunked"), Some(0), false).is_err());
        assert!(check_user_header("Host", Some("a"), Some(0), false).is_ok());
        assert!(check_user_header("host", Some("a"), Some(0), true).is_err());
        assert!(check_user_header("X-Any", Some("a"), None, true).is_ok());
    }

    #[test]
    fn errors_say_why() {
        assert!(Target::parse("not a url").unwrap_err().contains("absolute"));
        assert!(Target::parse("ftp://h/").unwrap_err().contains("ftp"));
        assert!(Target::parse("http://").unwrap_err().contains("host"));
    }
}
