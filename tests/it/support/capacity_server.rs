//! Servers of known capacity for the capacity search's tests, raw TCP on 127.0.0.1:0.
//!
//! - [`QueueServer`]: one worker with a fixed, sleep-based service time (so its capacity is
//!   `1 / service time` whatever the machine): connection threads read requests and queue them
//!   for the single worker, which answers them one after another.
//! - [`RateLimitServer`] answers at once, with 200 while the requests of the last second stay
//!   within a limit and 500 above it: its error rate jumps above that rate.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Reads one request head (the tests send GETs without a body); false at end of stream.
fn read_request(r: &mut BufReader<TcpStream>) -> bool {
    let mut line = String::new();
    loop {
        line.clear();
        match r.read_line(&mut line) {
            Ok(0) | Err(_) => return false,
            Ok(_) if line == "\r\n" || line == "\n" => return true,
            Ok(_) => {}
        }
    }
}

fn respond(s: &mut TcpStream, status: &str) -> bool {
    let body = "ok\n";
    let msg = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n\r\n{body}", body.len());
    s.write_all(msg.as_bytes()).is_ok()
}

/// Serves every connection on its own thread with `handle(stream)`, until dropped.
fn serve(handle: Arc<dyn Fn(TcpStream) + Send + Sync>) -> (SocketAddr, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let st = stop.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            if st.load(Ordering::SeqCst) {
                break;
            }
            let Ok(conn) = conn else { continue };
            let _ = conn.set_nodelay(true);
            let h = handle.clone();
            std::thread::spawn(move || h(conn));
        }
    });
    (addr, stop)
}

fn unblock(addr: SocketAddr, stop: &AtomicBool) {
    stop.store(true, Ordering::SeqCst);
    let _ = TcpStream::connect(addr);
}

/// One worker, fixed service time.
pub struct QueueServer {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl QueueServer {
    pub fn start(service: Duration) -> QueueServer {
        let (tx, rx) = mpsc::channel::<mpsc::Sender<()>>();
        std::thread::spawn(move || {
            for done in rx {
                std::thread::sleep(service);
                let _ = done.send(());
            }
        });
        let tx = Arc::new(Mutex::new(tx));
        let (addr, stop) = serve(Arc::new(move |conn: TcpStream| {
            let mut w = conn.try_clone().unwrap();
            let mut r = BufReader::new(conn);
            while read_request(&mut r) {
                let (done_tx, done_rx) = mpsc::channel();
                if tx.lock().unwrap().send(done_tx).is_err() || done_rx.recv().is_err() {
                    return;
                }
                if !respond(&mut w, "200 OK") {
                    return;
                }
            }
        }));
        QueueServer { addr, stop }
    }

    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

impl Drop for QueueServer {
    fn drop(&mut self) {
        unblock(self.addr, &self.stop);
    }
}

/// 200 up to `limit` requests in the last second, 500 beyond.
pub struct RateLimitServer {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl RateLimitServer {
    pub fn start(limit: usize) -> RateLimitServer {
        let window = Arc::new(Mutex::new(std::collections::VecDeque::<Instant>::new()));
        let (addr, stop) = serve(Arc::new(move |conn: TcpStream| {
            let mut w = conn.try_clone().unwrap();
            let mut r = BufReader::new(conn);
            while read_request(&mut r) {
                let ok = {
                    let mut q = window.lock().unwrap();
                    let now = Instant::now();
                    while q.front().is_some_and(|t| now.duration_since(*t) > Duration::from_secs(1))
                    {
                        q.pop_front();
                    }
                    q.push_back(now);
                    q.len() <= limit
                };
                if !respond(&mut w, if ok { "200 OK" } else { "500 Internal Server Error" }) {
                    return;
                }
            }
        }));
        RateLimitServer { addr, stop }
    }

    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

impl Drop for RateLimitServer {
    fn drop(&mut self) {
        unblock(self.addr, &self.stop);
    }
}
