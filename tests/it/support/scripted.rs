//! A raw-TCP server that answers every request with the same bytes, written as given
//! (optionally in small pieces, so the client sees a response split across reads, or its
//! first byte alone and the rest after a pause), and
//! optionally closes the connection after each answer without saying so. It counts the
//! requests it read and the connections it accepted. For transport tests of the HTTP/1.1
//! codec: interim responses, HEAD, chunked framing, close-delimited bodies, silent closes, and
//! pipelining (the answers to the requests of one read written together, split at a moving
//! byte boundary; a connection closed after a number of answers).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// What the server sends for every request.
#[derive(Clone)]
pub struct Script {
    pub response: Vec<u8>,
    /// Write the response in pieces of this many bytes (0: in one write).
    pub piece: usize,
    /// Write the first byte of the response, wait this long, then the rest.
    pub first_byte_gap: Option<Duration>,
    /// Close the connection after each response (without `Connection: close`).
    pub close_after: bool,
    /// Answer the requests of one read with one buffer, written in two writes split at a
    /// boundary that moves by one byte with every batch of the connection (1, 2, ... len-1, 1,
    /// ...): a pipelining client sees its responses cut at every byte offset.
    pub split_batches: bool,
    /// Close the connection (without `Connection: close`) after this many answers on it.
    pub close_after_answers: Option<u64>,
    /// Answers after the first on a connection take turns with these: the connection's
    /// answer `i` is `[response, cycle...][i % (1 + cycle.len())]`.
    pub cycle: Vec<Vec<u8>>,
}

impl Script {
    pub fn new(response: impl Into<Vec<u8>>) -> Script {
        Script {
            response: response.into(),
            piece: 0,
            first_byte_gap: None,
            close_after: false,
            split_batches: false,
            close_after_answers: None,
            cycle: Vec::new(),
        }
    }
    pub fn cycle(mut self, others: &[&str]) -> Script {
        self.cycle = others.iter().map(|o| o.as_bytes().to_vec()).collect();
        self
    }
    /// The answer to the connection's request number `i` (from 0).
    fn answer(&self, i: u64) -> &[u8] {
        match (i % (1 + self.cycle.len() as u64)) as usize {
            0 => &self.response,
            k => &self.cycle[k - 1],
        }
    }
    pub fn split_batches(mut self) -> Script {
        self.split_batches = true;
        self
    }
    pub fn close_after_answers(mut self, n: u64) -> Script {
        self.close_after_answers = Some(n);
        self
    }
    pub fn in_pieces(mut self, piece: usize) -> Script {
        self.piece = piece;
        self
    }
    pub fn first_byte_then(mut self, gap: Duration) -> Script {
        self.first_byte_gap = Some(gap);
        self
    }
    pub fn close_after(mut self) -> Script {
        self.close_after = true;
        self
    }
}

#[derive(Default)]
struct Counts {
    requests: AtomicU64,
    connections: AtomicU64,
    stop: AtomicBool,
}

/// The running server; stops when dropped.
pub struct ScriptedServer {
    addr: SocketAddr,
    counts: Arc<Counts>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ScriptedServer {
    pub fn start(script: Script) -> ScriptedServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let counts = Arc::new(Counts::default());
        let c = counts.clone();
        let thread = std::thread::spawn(move || {
            let script = Arc::new(script);
            while !c.stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((sock, _)) => {
                        c.connections.fetch_add(1, Ordering::Relaxed);
                        let (c, script) = (c.clone(), script.clone());
                        std::thread::spawn(move || serve(sock, &script, &c));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        ScriptedServer { addr, counts, thread: Some(thread) }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
    pub fn requests(&self) -> u64 {
        self.counts.requests.load(Ordering::Relaxed)
    }
    pub fn connections(&self) -> u64 {
        self.counts.connections.load(Ordering::Relaxed)
    }
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        self.counts.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads requests (heads only: the transport tests send no bodies) and answers each one.
fn serve(mut sock: TcpStream, script: &Script, counts: &Counts) {
    let _ = sock.set_nodelay(true);
    let _ = sock.set_read_timeout(Some(Duration::from_secs(30)));
    let mut pending = Vec::new();
    let mut buf = [0u8; 4096];
    let (mut answered, mut batches) = (0u64, 0usize);
    let mut out = Vec::new();
    loop {
        while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            if script.close_after_answers.is_some_and(|n| answered >= n) {
                flush_batch(&mut sock, &mut out, &mut batches);
                return close_unanswered(sock);
            }
            pending.drain(..end + 4);
            counts.requests.fetch_add(1, Ordering::Relaxed);
            let response = script.answer(answered);
            answered += 1;
            let ok = if script.split_batches {
                out.extend_from_slice(response);
                true
            } else if let Some(gap) = script.first_byte_gap {
                let ok = sock.write_all(&response[..1]).is_ok();
                std::thread::sleep(gap);
                ok && sock.write_all(&response[1..]).is_ok()
            } else if script.piece == 0 {
                sock.write_all(response).is_ok()
            } else {
                response.chunks(script.piece).all(|p| {
                    let ok = sock.write_all(p).is_ok();
                    std::thread::sleep(Duration::from_micros(300));
                    ok
                })
            };
            if !ok || script.close_after {
                flush_batch(&mut sock, &mut out, &mut batches);
                return;
            }
        }
        if !flush_batch(&mut sock, &mut out, &mut batches) {
            return;
        }
        if script.close_after_answers.is_some_and(|n| answered >= n) {
            return close_unanswered(sock);
        }
        match sock.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => pending.extend_from_slice(&buf[..n]),
        }
    }
}

/// Closes without answering what else was sent: the FIN first, then whatever the client still
/// sends is read and dropped until it closes too (closing with unread bytes would send a reset
/// instead, which may destroy answers the client has not read yet).
fn close_unanswered(mut sock: TcpStream) {
    let _ = sock.shutdown(std::net::Shutdown::Write);
    let mut sink = [0u8; 4096];
    while matches!(sock.read(&mut sink), Ok(n) if n > 0) {}
}

/// Writes the answers gathered in `out` in two writes, cut after byte `1 + batches % (len-1)`
/// with a pause between them so that the client reads them apart.
fn flush_batch(sock: &mut TcpStream, out: &mut Vec<u8>, batches: &mut usize) -> bool {
    if out.is_empty() {
        return true;
    }
    let cut = if out.len() > 1 { 1 + *batches % (out.len() - 1) } else { out.len() };
    *batches += 1;
    let ok = sock.write_all(&out[..cut]).is_ok() && {
        std::thread::sleep(Duration::from_millis(1));
        sock.write_all(&out[cut..]).is_ok()
    };
    out.clear();
    ok
}
