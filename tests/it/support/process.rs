//! Running the `volley` binary as a child: bounded in time, killed on drop, output captured.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Path of the binary under test (built by cargo for integration tests).
pub const VOLLEY: &str = env!("CARGO_BIN_EXE_volley");

/// How a finished child ended.
#[derive(Debug)]
pub struct Output {
    /// Exit code; `None` if killed by a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Output {
    /// Panics with both streams shown unless the exit code is `code`.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, Some(code), "unexpected exit code; {}", self.streams());
        self
    }

    /// Both streams, for assertion messages.
    pub fn streams(&self) -> String {
        format!(
            "exit {:?} after {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code, self.elapsed, self.stdout, self.stderr
        )
    }
}

/// Runs `volley ARGS...` to completion; kills it and panics after `timeout`.
#[track_caller]
pub fn volley(args: &[&str], timeout: Duration) -> Output {
    Spawned::start(volley_command(args)).wait(timeout)
}

/// A `Command` for `volley ARGS...` with a clean environment for our purposes: no colour,
/// no terminal, stdin closed.
pub fn volley_command(args: &[&str]) -> Command {
    let mut cmd = Command::new(VOLLEY);
    cmd.args(args).env("NO_COLOR", "1").env_remove("PORT").env_remove("RUST_BACKTRACE");
    cmd
}

/// A running child whose stderr (and, unless taken, stdout) is collected in the background.
/// Dropping it kills the child, so a failing test leaves nothing behind.
pub struct Spawned {
    child: Child,
    started: Instant,
    stdout: Option<Collector>,
    stderr: Option<Collector>,
}

struct Collector {
    buf: Arc<Mutex<Vec<u8>>>,
    thread: Option<JoinHandle<()>>,
}

impl Collector {
    fn new(mut r: impl Read + Send + 'static) -> Self {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        let thread = std::thread::spawn(move || {
            let mut chunk = [0u8; 8192];
            while let Ok(n) = r.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&chunk[..n]);
            }
        });
        Collector { buf, thread: Some(thread) }
    }

    fn finish(mut self) -> String {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        String::from_utf8_lossy(&self.buf.lock().unwrap()).into_owned()
    }
}

impl Spawned {
    /// Starts `cmd` with piped stdout and stderr.
    pub fn start(mut cmd: Command) -> Spawned {
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        let stdout = Collector::new(child.stdout.take().unwrap());
        let stderr = Collector::new(child.stderr.take().unwrap());
        Spawned { child, started: Instant::now(), stdout: Some(stdout), stderr: Some(stderr) }
    }

    /// Starts `cmd` and waits until its stdout prints `listening on http://ADDR` (as
    /// `serve-demo` and `cluster` do); returns the child and the URL. Panics after `timeout`.
    pub fn start_listening(mut cmd: Command, timeout: Duration) -> (Spawned, String) {
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        let stdout = child.stdout.take().unwrap();
        let stderr = Collector::new(child.stderr.take().unwrap());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || read_listening(stdout, tx));
        let mut spawned =
            Spawned { child, started: Instant::now(), stdout: None, stderr: Some(stderr) };
        match rx.recv_timeout(timeout) {
            Ok(url) => (spawned, url),
            Err(_) => {
                spawned.kill();
                let err = spawned.stderr_so_far();
                panic!("no `listening on` line within {timeout:?}; stderr:\n{err}")
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal (`libc::SIGINT`, `libc::SIGTERM` ...) to the child.
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) with a pid we own; no memory is touched.
        let rc = unsafe { libc::kill(self.child.id() as libc::pid_t, sig) };
        assert_eq!(rc, 0, "kill({}, {sig}) failed", self.child.id());
    }

    /// The child's stderr so far (without waiting for it to end).
    pub fn stderr_so_far(&self) -> String {
        match &self.stderr {
            Some(c) => String::from_utf8_lossy(&c.buf.lock().unwrap()).into_owned(),
            None => String::new(),
        }
    }

    /// Whether the child has exited.
    pub fn has_exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Waits for the child to exit; kills it and panics (showing its output) after `timeout`.
    #[track_caller]
    pub fn wait(mut self, timeout: Duration) -> Output {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            if Instant::now() >= deadline {
                self.kill();
                let err = self.stderr_so_far();
                panic!("volley still running after {timeout:?}: killed; stderr so far:\n{err}");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let elapsed = self.started.elapsed();
        let stdout = self.stdout.take().map(Collector::finish).unwrap_or_default();
        let stderr = self.stderr.take().map(Collector::finish).unwrap_or_default();
        Output { code: status.code(), stdout, stderr, elapsed }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if !matches!(self.child.try_wait(), Ok(Some(_))) {
            self.kill();
        }
    }
}

fn read_listening(stdout: ChildStdout, tx: std::sync::mpsc::Sender<String>) {
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let Ok(line) = line else { return };
        if let Some(url) = line.trim().strip_prefix("listening on ") {
            let _ = tx.send(url.to_string());
            break;
        }
    }
    // Keep draining so the child never blocks on a full pipe.
    for _ in lines {}
}

/// Reads a result file into the typed result (panics with the file's start if it does not
/// parse: that is a schema break).
#[track_caller]
pub fn read_result(path: &Path) -> volley_metrics::RunResult {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read result {}: {e}", path.display()));
    parse_result(&text)
}

/// Parses result JSON text into the typed result.
#[track_caller]
pub fn parse_result(text: &str) -> volley_metrics::RunResult {
    serde_json::from_str(text).unwrap_or_else(|e| {
        let head: String = text.chars().take(2000).collect();
        panic!("result does not parse as RunResult: {e}\n{head}")
    })
}
