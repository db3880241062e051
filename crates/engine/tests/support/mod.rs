//! Test servers on 127.0.0.1:0 with scripted (mis)behaviour, and spec builders.
#![allow(dead_code)] // Shared by several test binaries, each using part of it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use volley_metrics::RunResult;
use volley_plan::{Body, Executor, Flow, HttpOptions, Scenario, Spec, Step, Template};

#[derive(Debug, Clone, Copy)]
pub enum Mode {
    Ok {
        delay_ms: u64,
    },
    /// Every response before `ms` after the server started waits until then.
    StallUntil {
        ms: u64,
    },
    Reset,
    Garbage,
    Truncated,
    EarlyClose,
    Hang,
    /// A tiny app: `POST /login` answers `{"token":"t-42"}` and sets cookie `sid=s1`;
    /// `GET /me` answers 200 with a `Bearer t-42` authorization and 401 without; `GET /whoami`
    /// 200 with the cookie and 401 without; anything else 200 with the path as body.
    App,
}

/// A server running on its own thread; stopped when dropped.
pub struct Server {
    pub port: u16,
    requests: Arc<AtomicU64>,
    connections: Arc<AtomicU64>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    pub fn start(mode: Mode) -> Server {
        let requests = Arc::new(AtomicU64::new(0));
        let connections = Arc::new(AtomicU64::new(0));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (ptx, prx) = std::sync::mpsc::channel();
        let (r2, c2) = (requests.clone(), connections.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
                ptx.send(l.local_addr().unwrap().port()).unwrap();
                let born = Instant::now();
                let accept = async {
                    loop {
                        let Ok((s, _)) = l.accept().await else { continue };
                        c2.fetch_add(1, Ordering::Relaxed);
                        tokio::spawn(serve(s, mode, r2.clone(), born));
                    }
                };
                tokio::select! {
                    _ = accept => {}
                    _ = rx => {}
                }
            });
        });
        let port = prx.recv().unwrap();
        Server { port, requests, connections, shutdown: Some(tx), thread: Some(thread) }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn serve(mut s: TcpStream, mode: Mode, requests: Arc<AtomicU64>, born: Instant) {
    let _ = s.set_nodelay(true);
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        // One request: headers up to the blank line (the tests send no bodies).
        let end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_string();
        let close = head.to_ascii_lowercase().contains("connection: close");
        buf.drain(..end);
        // Skip a request body announced by content-length.
        let body_len = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length").then(|| v.trim().parse::<usize>().ok())?
            })
            .unwrap_or(0);
        while buf.len() < body_len {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        buf.drain(..body_len);
        requests.fetch_add(1, Ordering::Relaxed);
        match mode {
            Mode::Ok { delay_ms } => {
                if delay_ms > 0 {
                    tokio::time::sleep(Duration::from_millis(delay_ms)).await;
                }
                if s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").await.is_err() {
                    return;
                }
            }
            Mode::StallUntil { ms } => {
                let until = born + Duration::from_millis(ms);
                tokio::time::sleep_until(until.into()).await;
                if s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").await.is_err() {
                    return;
                }
            }
            Mode::Reset => {
                #[allow(deprecated)]
                let _ = s.set_linger(Some(Duration::ZERO));
                return;
            }
            Mode::Garbage => {
                let _ = s.write_all(b"this is not http at all\r\n\r\n").await;
                return;
            }
            Mode::Truncated => {
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nshort").await;
                return;
            }
            Mode::EarlyClose => return,
            Mode::App => {
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                let mut extra = "";
                let (status, body) = if head.starts_with("POST /login") {
                    extra = "set-cookie: sid=s1; Path=/\r\n";
                    ("200 OK", r#"{"token":"t-42"}"#.to_string())
                } else if path == "/whoami" {
                    if head.to_ascii_lowercase().contains("cookie: sid=s1") {
                        ("200 OK", "s1".to_string())
                    } else {
                        ("401 Unauthorized", "who?".to_string())
                    }
                } else if path == "/me" {
                    if head.contains("Bearer t-42") {
                        ("200 OK", "me".to_string())
                    } else {
                        ("401 Unauthorized", "who?".to_string())
                    }
                } else {
                    ("200 OK", path)
                };
                let resp = format!(
                    "HTTP/1.1 {status}\r\ncontent-length: {}\r\nx-served-by: app\r\n{extra}\r\n{body}",
                    body.len()
                );
                if s.write_all(resp.as_bytes()).await.is_err() {
                    return;
                }
            }
            Mode::Hang => {
                tokio::time::sleep(Duration::from_secs(30)).await;
                return;
            }
        }
        if close {
            return;
        }
    }
}

/// A port on which nothing listens.
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Quick mode's shape: one scenario, one flow, one GET step.
pub fn quick_spec(url: &str, executor: Executor) -> Spec {
    Spec {
        base_url: None,
        scenarios: vec![Scenario {
            name: "default".into(),
            executor,
            start_time: Duration::ZERO,
            graceful_stop: Duration::from_secs(5),
            flows: vec![Flow {
                name: "default".into(),
                weight: 1,
                steps: vec![Step {
                    name: url
                        .split_once("://")
                        .map_or("/", |(_, r)| r.find('/').map_or("/", |i| &r[i..]))
                        .into(),
                    method: http::Method::GET,
                    url: Template::literal(url),
                    query: Vec::new(),
                    headers: Vec::new(),
                    body: Body::None,
                    timeout: None,
                    checks: Vec::new(),
                    extract: Vec::new(),
                    think_time: None,
                    version: None,
                }],
            }],
            think_time: None,
            feeders: Vec::new(),
        }],
        thresholds: Vec::new(),
        http: HttpOptions::default(),
        variables: Vec::new(),
        feeders: Vec::new(),
        files: Vec::new(),
        source: None,
    }
}

pub fn run(spec: &Spec, threads: usize) -> RunResult {
    let opts = volley_engine::RunOptions { threads, ..Default::default() };
    volley_engine::run(spec, opts).unwrap()
}

/// A plan from YAML text (the plan crate's loader), with `{port}` replaced.
pub fn plan(yaml: &str, port: u16) -> Spec {
    let text = yaml.replace("{port}", &port.to_string());
    volley_plan::load_str(&text, "test.yaml", std::path::Path::new("."), &Default::default())
        .unwrap_or_else(|e| panic!("{e}"))
}
