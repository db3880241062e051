//! HTTP/1.1 request serialization: a request becomes the exact bytes written to the socket,
//! once. A static step is serialized when the run is set up and written as is on every
//! iteration; a rendered step is serialized when it is rendered.

use http::Method;

/// Methods whose request may be sent again after a failure that left no trace of a response
/// (RFC 9110 §9.2.2): retrying them on a fresh connection cannot do anything twice.
pub fn idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS | Method::TRACE
    )
}

/// Methods that announce their body length even when the body is empty, as curl and hyper do
/// (a server may otherwise wait for a body that never comes, or answer 411).
fn wants_length(method: &Method) -> bool {
    matches!(*method, Method::POST | Method::PUT | Method::PATCH)
}

/// Writes the request line, headers and body of one HTTP/1.1 request to `out` (appending).
/// `headers` are written in order; `Content-Length` is added from `body` unless present.
pub fn serialize<'a>(
    out: &mut Vec<u8>,
    method: &Method,
    target: &str,
    headers: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
    body: &[u8],
) {
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let mut has_length = false;
    for (name, value) in headers {
        has_length |= name.eq_ignore_ascii_case(b"content-length")
            || name.eq_ignore_ascii_case(b"transfer-encoding");
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    if !has_length && (!body.is_empty() || wants_length(method)) {
        out.extend_from_slice(b"content-length: ");
        out.extend_from_slice(itoa_buf(body.len() as u64).as_slice());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

/// Decimal digits of `n` on the stack.
struct Digits {
    buf: [u8; 20],
    start: usize,
}

impl Digits {
    fn as_slice(&self) -> &[u8] {
        &self.buf[self.start..]
    }
}

fn itoa_buf(mut n: u64) -> Digits {
    let mut d = Digits { buf: [0; 20], start: 20 };
    loop {
        d.start -= 1;
        d.buf[d.start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return d;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ser(method: Method, headers: &[(&str, &str)], body: &str) -> String {
        let mut out = Vec::new();
        let h = headers.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes()));
        serialize(&mut out, &method, "/a?b=1", h, body.as_bytes());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn requests_are_serialized_with_a_length_when_they_need_one() {
        assert_eq!(
            ser(Method::GET, &[("host", "x:1"), ("x-a", "1")], ""),
            "GET /a?b=1 HTTP/1.1\r\nhost: x:1\r\nx-a: 1\r\n\r\n"
        );
        assert_eq!(
            ser(Method::POST, &[("host", "x")], "hello"),
            "POST /a?b=1 HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nhello"
        );
        assert_eq!(
            ser(Method::POST, &[("host", "x")], ""),
            "POST /a?b=1 HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n"
        );
        // A length the user set is theirs (whether it is right is checked where flags are).
        assert_eq!(
            ser(Method::PUT, &[("Content-Length", "2")], "hi"),
            "PUT /a?b=1 HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi"
        );
        assert_eq!(itoa_buf(0).as_slice(), b"0");
        assert_eq!(itoa_buf(u64::MAX).as_slice(), u64::MAX.to_string().as_bytes());
    }

    #[test]
    fn only_idempotent_methods_are_retried() {
        assert!(idempotent(&Method::GET) && idempotent(&Method::PUT) && idempotent(&Method::HEAD));
        assert!(!idempotent(&Method::POST) && !idempotent(&Method::PATCH));
    }
}
