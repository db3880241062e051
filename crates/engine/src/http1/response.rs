//! HTTP/1.1 response parsing: the head with `httparse` from the connection's read buffer,
//! the body by a small state machine (Content-Length, chunked with strict chunk-size
//! validation, or delimited by the close). Both work on whatever bytes have arrived, so a
//! response split at any byte boundary, or several responses in one read (pipelining), parse
//! the same. Nothing here allocates.

use volley_metrics::FailureKind;

/// Headers read per response head; more is a malformed response (hyper's limit is 100).
pub const MAX_HEADERS: usize = 100;
/// Longest chunk extension or trailer section accepted before the response counts as malformed.
const MAX_CHUNK_META: u32 = 16 * 1024;

/// How the body of a response ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body (HEAD, 204, 304, `Content-Length: 0`).
    Empty,
    Length(u64),
    Chunked,
    /// Read until the server closes (no length, no chunking).
    UntilClose,
}

/// What a complete final response head says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub status: u16,
    /// The connection cannot carry another request after this response.
    pub close: bool,
    pub framing: Framing,
}

/// The outcome of [`parse_head`] on the bytes received so far.
#[derive(Debug, PartialEq, Eq)]
pub enum HeadParse {
    /// More bytes are needed.
    Partial,
    /// An interim (1xx) response of this many bytes: skip it and parse again.
    Interim(usize),
    /// The final head, of this many bytes.
    Final(usize, Head),
}

/// Parses a response head at the start of `buf`. `expect_body` is false for a HEAD request.
/// `on_header` sees every header of the final head (not of interim ones).
pub fn parse_head(
    buf: &[u8],
    expect_body: bool,
    mut on_header: impl FnMut(&[u8], &[u8]),
) -> Result<HeadParse, FailureKind> {
    // Left uninitialized: filling 100 empty headers per response cost more than parsing them.
    let mut headers = [const { std::mem::MaybeUninit::<httparse::Header>::uninit() }; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut []);
    let n = match httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut resp,
        buf,
        &mut headers,
    ) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(HeadParse::Partial),
        Err(_) => return Err(FailureKind::Malformed),
    };
    let status = resp.code.ok_or(FailureKind::Malformed)?;
    // 101 would switch protocols, which volley never asks for: not an interim answer here.
    if (100..200).contains(&status) && status != 101 {
        return Ok(HeadParse::Interim(n));
    }
    let http10 = resp.version == Some(0);
    let mut close = http10;
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut other_coding = false;
    for h in resp.headers.iter() {
        let (name, value) = (h.name.as_bytes(), h.value);
        if name_is(name, b"content-length") {
            let v = parse_length(value).ok_or(FailureKind::Malformed)?;
            if length.is_some_and(|l| l != v) {
                return Err(FailureKind::Malformed);
            }
            length = Some(v);
        } else if name_is(name, b"transfer-encoding") {
            // The last coding decides: chunked ends the body itself; anything else after it
            // leaves the close as the only end (RFC 9112 §6.3).
            match value.rsplit(|b| *b == b',').next().map(trim) {
                Some(last) if last.eq_ignore_ascii_case(b"chunked") => {
                    chunked = true;
                    other_coding = false;
                }
                _ => {
                    chunked = false;
                    other_coding = true;
                }
            }
        } else if name_is(name, b"connection") {
            for token in value.split(|b| *b == b',').map(trim) {
                if token.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if http10 && token.eq_ignore_ascii_case(b"keep-alive") {
                    close = false;
                }
            }
        }
        on_header(name, value);
    }
    let framing = if !expect_body || status == 204 || status == 304 || status == 101 {
        Framing::Empty
    } else if chunked {
        Framing::Chunked
    } else if other_coding {
        Framing::UntilClose
    } else {
        match length {
            Some(0) => Framing::Empty,
            Some(l) => Framing::Length(l),
            None => Framing::UntilClose,
        }
    };
    let close = close || framing == Framing::UntilClose || status == 101;
    Ok(HeadParse::Final(n, Head { status, close, framing }))
}

/// The last final head a connection parsed, to recall instead of parsing it again.
///
/// Parsing a head depends on nothing but its bytes and whether the request was a HEAD, so
/// a head byte-identical to the remembered one has the same [`Head`] and the same length:
/// it is recognised by one comparison instead of being parsed. A server's responses to one
/// request usually differ only in `Date`, once a second, so at thousands of responses per
/// second almost every head is recalled; a head that differs in any byte is parsed as any
/// other. Only heads whose headers nobody needs to see are remembered (the caller decides:
/// no cookies, no backend header, headers not kept), since a recalled head calls no header
/// callback.
#[derive(Debug, Default)]
pub struct Memo {
    bytes: Vec<u8>,
    /// What `bytes` parsed to, and the `expect_body` it was parsed with.
    parsed: Option<(Head, bool)>,
}

/// Longer heads are not remembered: comparing them costs more, and they are rare.
const MEMO_MAX: usize = 1024;

impl Memo {
    /// The remembered head, when `buf` starts with its exact bytes and it was parsed with
    /// the same `expect_body`.
    #[inline]
    pub fn recall(&self, buf: &[u8], expect_body: bool) -> Option<HeadParse> {
        let (head, body) = self.parsed?;
        (body == expect_body && buf.starts_with(&self.bytes))
            .then_some(HeadParse::Final(self.bytes.len(), head))
    }

    /// Remembers the final head `bytes` parsed to `head`.
    pub fn remember(&mut self, bytes: &[u8], expect_body: bool, head: Head) {
        if bytes.len() > MEMO_MAX {
            self.forget();
            return;
        }
        self.bytes.clear();
        self.bytes.extend_from_slice(bytes);
        self.parsed = Some((head, expect_body));
    }

    pub fn forget(&mut self) {
        self.parsed = None;
    }
}

/// Whether header `name` is `lower` (lowercase letters, digits and `-`), whatever its case.
///
/// Eight bytes at a time with the ASCII case bit set: `httparse` only lets token characters
/// into a name, and among them the case bit maps only a letter's capital onto it (CR or
/// control bytes, which would also map onto `-` or a digit, are not tokens). Three to five
/// names are compared per response; byte-wise case folding was a measurable share of it.
#[inline]
pub fn name_is(name: &[u8], lower: &[u8]) -> bool {
    const CASE: u64 = 0x2020_2020_2020_2020;
    if name.len() != lower.len() {
        return false;
    }
    let word = |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"));
    let n = name.len();
    if n < 8 {
        return name.iter().zip(lower).all(|(a, b)| a | 0x20 == *b);
    }
    let mut at = 0;
    while at + 8 <= n {
        if word(name, at) | CASE != word(lower, at) | CASE {
            return false;
        }
        at += 8;
    }
    // The last, overlapping word.
    at == n || word(name, n - 8) | CASE == word(lower, n - 8) | CASE
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(s.len());
    let end = s.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(start, |e| e + 1);
    &s[start..end]
}

fn parse_length(v: &[u8]) -> Option<u64> {
    let v = trim(v);
    if v.is_empty() || v.len() > 19 {
        return None;
    }
    v.iter().try_fold(0u64, |acc, b| b.is_ascii_digit().then(|| acc * 10 + u64::from(b - b'0')))
}

/// Where the chunked decoder is in the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Hex digits of a chunk size (`digits` so far).
    Size {
        value: u64,
        digits: u8,
    },
    /// Spaces after the size, before `;` or CR.
    SizeSpace {
        value: u64,
    },
    /// A chunk extension, skipped up to CR.
    Ext {
        value: u64,
        len: u32,
    },
    SizeLf {
        value: u64,
    },
    Data {
        left: u64,
    },
    DataCr,
    DataLf,
    /// Trailer section after the last chunk: `line` bytes on the current line.
    Trailer {
        line: u32,
        total: u32,
    },
    TrailerLf {
        line: u32,
        total: u32,
    },
}

/// Decodes one response body from successive slices of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    Length(u64),
    Chunked(ChunkState),
    UntilClose,
    Done,
}

/// The chunked decoder's state (opaque).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkState(Chunk);

impl Body {
    pub fn new(framing: Framing) -> Body {
        match framing {
            Framing::Empty | Framing::Length(0) => Body::Done,
            Framing::Length(n) => Body::Length(n),
            Framing::Chunked => Body::Chunked(ChunkState(Chunk::Size { value: 0, digits: 0 })),
            Framing::UntilClose => Body::UntilClose,
        }
    }

    pub fn is_done(&self) -> bool {
        *self == Body::Done
    }

    /// Consumes body bytes from the start of `buf`, handing the payload to `sink`. Returns how
    /// many bytes of `buf` belong to this body; the rest is the next response.
    pub fn feed(&mut self, buf: &[u8], sink: &mut impl FnMut(&[u8])) -> Result<usize, FailureKind> {
        match self {
            Body::Done => Ok(0),
            Body::UntilClose => {
                sink(buf);
                Ok(buf.len())
            }
            Body::Length(left) => {
                let n = (*left).min(buf.len() as u64) as usize;
                sink(&buf[..n]);
                *left -= n as u64;
                if *left == 0 {
                    *self = Body::Done;
                }
                Ok(n)
            }
            Body::Chunked(ChunkState(state)) => {
                let mut i = 0;
                while i < buf.len() {
                    if let Chunk::Data { left } = state {
                        let n = (*left).min((buf.len() - i) as u64) as usize;
                        sink(&buf[i..i + n]);
                        i += n;
                        *left -= n as u64;
                        if *left == 0 {
                            *state = Chunk::DataCr;
                        }
                        continue;
                    }
                    let b = buf[i];
                    i += 1;
                    match step(*state, b)? {
                        Some(next) => *state = next,
                        None => {
                            *self = Body::Done;
                            return Ok(i);
                        }
                    }
                }
                Ok(i)
            }
        }
    }

    /// The server closed the connection: fine only for a close-delimited body.
    pub fn at_eof(&mut self) -> Result<(), FailureKind> {
        match self {
            Body::UntilClose | Body::Done => {
                *self = Body::Done;
                Ok(())
            }
            _ => Err(FailureKind::Closed),
        }
    }
}

/// One byte of chunk framing; `None` when the body is complete.
fn step(state: Chunk, b: u8) -> Result<Option<Chunk>, FailureKind> {
    let bad = Err(FailureKind::Malformed);
    let next = match state {
        Chunk::Size { value, digits } => match b {
            b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                // 16 hex digits fill a u64: a longer size is oversized, not a big body.
                if digits >= 16 {
                    return bad;
                }
                let d = (b as char).to_digit(16).expect("hex digit") as u64;
                Chunk::Size { value: value << 4 | d, digits: digits + 1 }
            }
            _ if digits == 0 => return bad,
            b' ' | b'\t' => Chunk::SizeSpace { value },
            b';' => Chunk::Ext { value, len: 0 },
            b'\r' => Chunk::SizeLf { value },
            _ => return bad,
        },
        Chunk::SizeSpace { value } => match b {
            b' ' | b'\t' => Chunk::SizeSpace { value },
            b';' => Chunk::Ext { value, len: 0 },
            b'\r' => Chunk::SizeLf { value },
            _ => return bad,
        },
        Chunk::Ext { value, len } => match b {
            b'\r' => Chunk::SizeLf { value },
            b'\n' => return bad,
            _ if len >= MAX_CHUNK_META => return bad,
            _ => Chunk::Ext { value, len: len + 1 },
        },
        Chunk::SizeLf { value } => match (b, value) {
            (b'\n', 0) => Chunk::Trailer { line: 0, total: 0 },
            (b'\n', left) => Chunk::Data { left },
            _ => return bad,
        },
        Chunk::Data { .. } => unreachable!("data is consumed in bulk"),
        Chunk::DataCr => match b {
            b'\r' => Chunk::DataLf,
            _ => return bad,
        },
        Chunk::DataLf => match b {
            b'\n' => Chunk::Size { value: 0, digits: 0 },
            _ => return bad,
        },
        Chunk::Trailer { line, total } => match b {
            b'\r' => Chunk::TrailerLf { line, total },
            b'\n' => return bad,
            _ if total >= MAX_CHUNK_META => return bad,
            _ => Chunk::Trailer { line: line + 1, total: total + 1 },
        },
        Chunk::TrailerLf { line, total } => match b {
            b'\n' if line == 0 => return Ok(None),
            b'\n' => Chunk::Trailer { line: 0, total },
            _ => return bad,
        },
    };
    Ok(Some(next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_memo_recalls_only_the_exact_bytes_of_the_last_head() {
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n";
        let parsed = Head { status: 200, close: false, framing: Framing::Length(2) };
        let mut memo = Memo::default();
        assert_eq!(memo.recall(head, true), None, "nothing remembered yet");
        memo.remember(head, true, parsed);
        let mut next = head.to_vec();
        next.extend_from_slice(b"okHTTP/1.1");
        assert_eq!(memo.recall(&next, true), Some(HeadParse::Final(head.len(), parsed)));
        assert_eq!(memo.recall(&next, false), None, "parsed for another method");
        assert_eq!(memo.recall(&head[..head.len() - 1], true), None, "incomplete");
        for at in 0..head.len() {
            let mut other = head.to_vec();
            other[at] ^= 1;
            assert_eq!(memo.recall(&other, true), None, "byte {at} differs");
        }
        memo.forget();
        assert_eq!(memo.recall(head, true), None);
        let long = [head.as_slice(), &[b'x'; MEMO_MAX]].concat();
        memo.remember(&long, true, parsed);
        assert_eq!(memo.recall(&long, true), None, "too long to remember");
    }

    #[test]
    fn header_names_compare_without_case_and_only_equal_ones_match() {
        let names: &[&[u8]] = &[
            b"content-length",
            b"transfer-encoding",
            b"connection",
            b"set-cookie",
            b"x-served-by",
            b"via",
            b"x",
            b"etag1234",
        ];
        for &lower in names {
            let upper = lower.to_ascii_uppercase();
            assert!(name_is(lower, lower) && name_is(&upper, lower), "{lower:?}");
            let mixed: Vec<u8> = lower
                .iter()
                .enumerate()
                .map(|(i, b)| if i % 2 == 0 { b.to_ascii_uppercase() } else { *b })
                .collect();
            assert!(name_is(&mixed, lower));
            // Every single-byte change at every position (within the token bytes) is told apart.
            for i in 0..lower.len() {
                for other in
                    b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                {
                    let mut v = lower.to_vec();
                    v[i] = *other;
                    assert_eq!(
                        name_is(&v, lower),
                        v.eq_ignore_ascii_case(lower),
                        "{v:?} vs {lower:?}"
                    );
                }
            }
        }
        assert!(!name_is(b"content-lengthx", b"content-length"));
        assert!(!name_is(b"", b"x") && name_is(b"", b""));
    }

    /// Parses one whole response from `bytes` fed in pieces of `piece` bytes (as reads would
    /// deliver them); returns (status, body, bytes consumed).
    fn parse_split(
        bytes: &[u8],
        piece: usize,
        head: bool,
    ) -> Result<(u16, Vec<u8>, usize), FailureKind> {
        let mut buf = Vec::new();
        let mut fed = 0;
        let mut start = 0;
        let more = |buf: &mut Vec<u8>, fed: &mut usize| -> bool {
            if *fed == bytes.len() {
                return false;
            }
            let end = (*fed + piece).min(bytes.len());
            buf.extend_from_slice(&bytes[*fed..end]);
            *fed = end;
            true
        };
        let h = loop {
            match parse_head(&buf[start..], !head, |_, _| {})? {
                HeadParse::Partial => {
                    if !more(&mut buf, &mut fed) {
                        return Err(FailureKind::Closed);
                    }
                }
                HeadParse::Interim(n) => start += n,
                HeadParse::Final(n, h) => {
                    start += n;
                    break h;
                }
            }
        };
        let mut body = Body::new(h.framing);
        let mut out = Vec::new();
        loop {
            let n = body.feed(&buf[start..], &mut |d| out.extend_from_slice(d))?;
            start += n;
            if body.is_done() {
                return Ok((h.status, out, start));
            }
            if !more(&mut buf, &mut fed) {
                body.at_eof()?;
                return Ok((h.status, out, start));
            }
        }
    }

    fn every_split(bytes: &[u8], head: bool) -> Result<(u16, Vec<u8>, usize), FailureKind> {
        let whole = parse_split(bytes, bytes.len().max(1), head);
        for piece in 1..bytes.len() {
            assert_eq!(parse_split(bytes, piece, head), whole, "split in pieces of {piece}");
        }
        whole
    }

    #[test]
    fn content_length_bodies_at_every_split() {
        let r = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 204";
        let (status, body, used) = every_split(r, false).unwrap();
        assert_eq!((status, body.as_slice(), used), (200, &b"hello"[..], 43));
    }

    #[test]
    fn chunked_bodies_with_extensions_and_trailers_at_every_split() {
        let r = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5;x=1\r\nhello\r\n\
                  1a \r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-T: 1\r\n\r\nNEXT";
        let (status, body, used) = every_split(r, false).unwrap();
        assert_eq!(status, 200);
        assert_eq!(body, b"helloabcdefghijklmnopqrstuvwxyz");
        assert_eq!(&r[used..], b"NEXT");
    }

    #[test]
    fn invalid_and_oversized_chunk_sizes_are_malformed() {
        for size in ["zz", "", " 5", "-1", "5 x", "0x5", "1ffffffffffffffff", "5\n"] {
            let r = format!(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{size}\r\nhello\r\n0\r\n\r\n"
            );
            assert_eq!(
                parse_split(r.as_bytes(), r.len(), false),
                Err(FailureKind::Malformed),
                "chunk size {size:?}"
            );
        }
        // Data not followed by CRLF, a bare LF in the trailers.
        for r in [
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhello\r\n0\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: 1\n\r\n",
        ] {
            assert_eq!(parse_split(r.as_bytes(), 7, false), Err(FailureKind::Malformed));
        }
        // Sixteen digits is the most a size can have, and a valid (if huge) size.
        let r = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n000000000000000a\r\n0123456789\r\n0\r\n\r\n";
        assert_eq!(every_split(r, false).unwrap().1, b"0123456789");
    }

    #[test]
    fn interim_responses_are_skipped() {
        let r = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n\
                  HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok";
        let (status, body, _) = every_split(r, false).unwrap();
        assert_eq!((status, body.as_slice()), (201, &b"ok"[..]));
    }

    #[test]
    fn head_204_and_304_have_no_body() {
        let r = b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n";
        assert_eq!(every_split(r, true).unwrap(), (200, vec![], r.len()));
        for status in [204, 304] {
            let r = format!("HTTP/1.1 {status} X\r\nContent-Length: 9\r\n\r\nHTTP/1.1");
            assert_eq!(every_split(r.as_bytes(), false).unwrap(), (status, vec![], r.len() - 8));
        }
    }

    #[test]
    fn close_delimited_bodies_end_at_the_close() {
        let r = b"HTTP/1.1 200 OK\r\n\r\nall of this";
        assert_eq!(every_split(r, false).unwrap().1, b"all of this");
        let mut close = false;
        let h = parse_head(r, true, |_, _| {}).unwrap();
        if let HeadParse::Final(_, h) = h {
            close = h.close;
        }
        assert!(close, "a close-delimited body cannot be followed by another response");
        // A truncated length-delimited body is not a close-delimited one.
        let r = b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nshort";
        assert_eq!(every_split(r, false), Err(FailureKind::Closed));
    }

    #[test]
    fn heads_say_when_the_connection_closes() {
        let head = |r: &[u8]| match parse_head(r, true, |_, _| {}).unwrap() {
            HeadParse::Final(_, h) => h,
            other => panic!("{other:?}"),
        };
        assert!(head(b"HTTP/1.1 200 OK\r\nConnection: Close\r\nContent-Length: 0\r\n\r\n").close);
        assert!(!head(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").close);
        assert!(head(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").close);
        assert!(
            !head(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n").close
        );
    }

    #[test]
    fn bad_heads_and_lengths_are_malformed() {
        for r in [
            &b"garbage\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
        ] {
            assert_eq!(parse_head(r, true, |_, _| {}), Err(FailureKind::Malformed));
        }
        let mut seen = Vec::new();
        let r =
            b"HTTP/1.1 200 OK\r\nX-Backend: b1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n";
        assert!(matches!(
            parse_head(r, true, |k, v| seen.push((k.to_vec(), v.to_vec()))),
            Ok(HeadParse::Final(_, Head { framing: Framing::Length(1), .. }))
        ));
        assert_eq!(seen[0], (b"X-Backend".to_vec(), b"b1".to_vec()));
    }
}
