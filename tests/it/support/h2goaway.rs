//! An h2c server driven frame by frame, for what the h2 crate's server cannot be made to do:
//! after `after` streams on a connection it sends a GOAWAY with an error code and keeps the
//! connection open (here for 100 ms), answering the streams it took and ignoring those above
//! its last stream id, as RFC 9113 §6.8 lets a server do. Every stream it takes is answered
//! 3 ms later (`:status 200`, no body), so some are in flight when it says GOAWAY. It counts
//! connections, streams answered and streams ignored.
//!
//! Frames are written by hand: SETTINGS (and their ACK), PING ACK, a HEADERS frame whose
//! header block is one HPACK byte (static entry 8, `:status 200`), and GOAWAY. Whatever else
//! the client sends is read and dropped.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const ENHANCE_YOUR_CALM: u32 = 0xb;
/// How long a connection stays open after its GOAWAY.
const LINGER: Duration = Duration::from_millis(100);
/// How long after a stream arrives it is answered.
const DELAY: Duration = Duration::from_millis(3);

#[derive(Default)]
struct Counts {
    connections: AtomicU64,
    answered: AtomicU64,
    ignored: AtomicU64,
}

/// The running server; stops when dropped.
pub struct GoawayServer {
    addr: SocketAddr,
    counts: Arc<Counts>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl GoawayServer {
    pub fn start(after: u64) -> GoawayServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let counts = Arc::new(Counts::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (c, s) = (counts.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((sock, _)) => {
                        c.connections.fetch_add(1, Ordering::Relaxed);
                        let (c, s) = (c.clone(), s.clone());
                        std::thread::spawn(move || serve(sock, after, &c, &s));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        GoawayServer { addr, counts, stop, thread: Some(thread) }
    }

    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
    pub fn connections(&self) -> u64 {
        self.counts.connections.load(Ordering::Relaxed)
    }
    pub fn answered(&self) -> u64 {
        self.counts.answered.load(Ordering::Relaxed)
    }
    /// Streams that arrived above the last stream id of the connection's GOAWAY.
    pub fn ignored(&self) -> u64 {
        self.counts.ignored.load(Ordering::Relaxed)
    }
}

impl Drop for GoawayServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    f.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn serve(mut sock: TcpStream, after: u64, counts: &Counts, stop: &AtomicBool) {
    let _ = sock.set_nodelay(true);
    let _ = sock.set_read_timeout(Some(Duration::from_millis(1)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let mut preface = false;
    let mut taken = 0u64;
    let mut goaway: Option<(u32, Instant)> = None;
    let mut due: std::collections::VecDeque<(Instant, u32)> = Default::default();
    if sock.write_all(&frame(4, 0, 0, &[])).is_err() {
        return;
    }
    loop {
        if stop.load(Ordering::Relaxed) || goaway.is_some_and(|(_, at)| at.elapsed() >= LINGER) {
            return;
        }
        let mut answers = Vec::new();
        while due.front().is_some_and(|(at, _)| *at <= Instant::now()) {
            let (_, stream) = due.pop_front().unwrap();
            answers.extend(frame(1, 0x5, stream, &[0x88]));
            counts.answered.fetch_add(1, Ordering::Relaxed);
        }
        if !answers.is_empty() && sock.write_all(&answers).is_err() {
            return;
        }
        match sock.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(_) => return,
        }
        if !preface {
            if buf.len() < PREFACE.len() {
                continue;
            }
            assert_eq!(&buf[..PREFACE.len()], PREFACE, "an h2c client preface");
            buf.drain(..PREFACE.len());
            preface = true;
        }
        let mut out = Vec::new();
        while buf.len() >= 9 {
            let len =
                (usize::from(buf[0]) << 16) | (usize::from(buf[1]) << 8) | usize::from(buf[2]);
            if buf.len() < 9 + len {
                break;
            }
            let (kind, flags) = (buf[3], buf[4]);
            let stream = u32::from_be_bytes([buf[5], buf[6], buf[7], buf[8]]) & 0x7fff_ffff;
            let payload: Vec<u8> = buf[9..9 + len].to_vec();
            buf.drain(..9 + len);
            match kind {
                // SETTINGS (not an ACK): acknowledge.
                4 if flags & 1 == 0 => out.extend(frame(4, 1, 0, &[])),
                // PING: answer it.
                6 if flags & 1 == 0 => out.extend(frame(6, 1, 0, &payload)),
                // HEADERS of a new stream.
                1 => match goaway {
                    Some((last, _)) if stream > last => {
                        counts.ignored.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        due.push_back((Instant::now() + DELAY, stream));
                        taken += 1;
                        if taken == after && goaway.is_none() {
                            let mut p = stream.to_be_bytes().to_vec();
                            p.extend_from_slice(&ENHANCE_YOUR_CALM.to_be_bytes());
                            out.extend(frame(7, 0, 0, &p));
                            goaway = Some((stream, Instant::now()));
                        }
                    }
                },
                _ => {}
            }
        }
        if !out.is_empty() && sock.write_all(&out).is_err() {
            return;
        }
    }
}
