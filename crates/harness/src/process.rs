//! One supervised instance: spawned in a process group of its own, killed with its parent,
//! probed until ready, restarted with backoff when it exits, and stopped group-wide.
//!
//! Each instance has a supervisor thread that forks the child and waits for it. The thread is
//! the child's parent for `PR_SET_PDEATHSIG`, which fires when the *forking thread* dies, so it
//! must live as long as the child: a pool thread that exits when idle would kill the instance.
//!
//! `PR_SET_PDEATHSIG` only reaches the direct child. A service started through a wrapper
//! (`npm start`, `sh -c`) has its real server one level down, so a small reaper process (a
//! POSIX shell loop) learns every instance's process group through a pipe and, when the pipe
//! closes because volley died without cleaning up (SIGKILL), kills those groups.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::HarnessError;

/// Lines of output kept per instance for error messages.
const TAIL_LINES: usize = 12;
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// An instance that ran this long before exiting restarts without delay again.
const HEALTHY_RUN: Duration = Duration::from_secs(10);

/// How to run an instance.
#[derive(Debug, Clone)]
pub struct Launch {
    /// Program and arguments; `{port}` is replaced by the instance's port.
    pub command: Vec<String>,
    /// `GET` this path and wait for a 2xx; otherwise a TCP accept is enough.
    pub ready_path: Option<String>,
    pub ready_timeout: Duration,
    /// Copy the instance's output to stderr, each line prefixed with `[instance N]`.
    pub echo_output: bool,
}

/// Live state of one instance, shared by its supervisor, the proxy and the sampler.
#[derive(Debug)]
pub struct Instance {
    /// 1-based, as shown in `X-Served-By` and in reports.
    pub number: usize,
    /// How log lines and errors name it: `instance 3`, or `nginx` for the balancer.
    pub name: String,
    pub port: u16,
    pub addr: SocketAddr,
    /// PID of the running child, 0 while none runs.
    pub pid: AtomicU32,
    /// Ready and not exited: the proxy may send to it.
    pub up: AtomicBool,
    pub restarts: Arc<AtomicU64>,
    /// Requests in flight through the proxy (least-conn).
    pub inflight: AtomicUsize,
    /// Last lines the instance wrote (stdout and stderr).
    pub output: Mutex<VecDeque<String>>,
    /// What happened to the instance, with seconds since the cluster started.
    pub events: Mutex<Vec<(f64, String)>>,
}

impl Instance {
    pub(crate) fn new(number: usize, port: u16) -> Instance {
        Instance::named(format!("instance {number}"), number, port)
    }

    fn named(name: String, number: usize, port: u16) -> Instance {
        Instance {
            number,
            name,
            port,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            pid: AtomicU32::new(0),
            up: AtomicBool::new(false),
            restarts: Arc::new(AtomicU64::new(0)),
            inflight: AtomicUsize::new(0),
            output: Mutex::new(VecDeque::new()),
            events: Mutex::new(Vec::new()),
        }
    }

    pub fn output_tail(&self) -> Vec<String> {
        self.output.lock().map(|o| o.iter().cloned().collect()).unwrap_or_default()
    }
}

/// The supervisor of one instance. Dropping it stops the instance.
pub struct Supervisor {
    pub instance: Arc<Instance>,
    stopping: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

enum StartReport {
    Ready,
    Failed(HarnessError),
}

impl Supervisor {
    /// Starts the instance and returns once it is ready (or could not become so; then nothing
    /// is left running).
    pub fn start(
        number: usize,
        port: u16,
        launch: Launch,
        epoch: Instant,
    ) -> Result<Supervisor, HarnessError> {
        Supervisor::start_instance(Instance::new(number, port), launch, epoch)
    }

    /// Starts a supervised process that is not one of the numbered instances (nginx), named
    /// `name` in log lines, events and errors.
    pub fn start_named(
        name: &str,
        port: u16,
        launch: Launch,
        epoch: Instant,
    ) -> Result<Supervisor, HarnessError> {
        Supervisor::start_instance(Instance::named(name.into(), 0, port), launch, epoch)
    }

    fn start_instance(
        instance: Instance,
        launch: Launch,
        epoch: Instant,
    ) -> Result<Supervisor, HarnessError> {
        let number = instance.number;
        let instance = Arc::new(instance);
        let stopping = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        let thread = {
            let instance = instance.clone();
            let stopping = stopping.clone();
            std::thread::Builder::new()
                // `volley-inst-2`, `volley-nginx`: a thread list names what each one supervises.
                .name(if number == 0 {
                    format!("volley-{}", instance.name)
                } else {
                    format!("volley-inst-{number}")
                })
                .spawn(move || supervise(&instance, &launch, &stopping, epoch, tx))?
        };
        let mut sup = Supervisor { instance, stopping, thread: Some(thread) };
        match rx.recv() {
            Ok(StartReport::Ready) => Ok(sup),
            Ok(StartReport::Failed(e)) => {
                sup.stop();
                Err(e)
            }
            Err(_) => {
                sup.stop();
                Err(HarnessError::Io(std::io::Error::other("instance supervisor died")))
            }
        }
    }

    /// Asks the supervisor to stop: the instance's group gets SIGTERM now (returns at once).
    pub fn begin_stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.instance.up.store(false, Ordering::SeqCst);
        signal_group(self.instance.pid.load(Ordering::SeqCst), libc::SIGTERM);
    }

    /// Stops the instance: SIGTERM to its process group, SIGKILL after a grace period.
    pub fn stop(&mut self) {
        self.begin_stop();
        let Some(thread) = self.thread.take() else { return };
        let deadline = Instant::now() + Duration::from_secs(3);
        while !thread.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        if !thread.is_finished() {
            signal_group(self.instance.pid.load(Ordering::SeqCst), libc::SIGKILL);
        }
        let _ = thread.join();
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        self.stop();
    }
}

fn signal_group(pid: u32, sig: i32) {
    if pid > 1 {
        // SAFETY: kill has no memory-safety preconditions; a negative PID names the group the
        // child leads (it called setpgid(0, 0) before exec).
        unsafe {
            libc::kill(-(pid as i32), sig);
        }
    }
}

fn log(instance: &Instance, epoch: Instant, msg: String) {
    let t = epoch.elapsed().as_secs_f64();
    eprintln!("volley cluster: [{t:.1}s] {msg}");
    if let Ok(mut ev) = instance.events.lock() {
        ev.push((t, msg));
    }
}

fn supervise(
    instance: &Arc<Instance>,
    launch: &Launch,
    stopping: &AtomicBool,
    epoch: Instant,
    tx: mpsc::Sender<StartReport>,
) {
    let mut first = Some(tx);
    let mut backoff = FIRST_BACKOFF;
    while !stopping.load(Ordering::SeqCst) {
        let mut child = match spawn(instance, launch) {
            Ok(c) => c,
            Err(e) => {
                if let Some(tx) = first.take() {
                    let _ = tx.send(StartReport::Failed(e));
                    return;
                }
                log(instance, epoch, format!("{} cannot restart: {e}", instance.name));
                sleep_unless(stopping, backoff);
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        let pid = child.id();
        instance.pid.store(pid, Ordering::SeqCst);
        let started = Instant::now();
        match wait_ready(instance, launch, &mut child, stopping) {
            Readiness::Ready => {
                instance.up.store(true, Ordering::SeqCst);
                if let Some(tx) = first.take() {
                    let _ = tx.send(StartReport::Ready);
                } else {
                    log(instance, epoch, format!("{} (pid {pid}) is back", instance.name));
                }
            }
            Readiness::Exited(status) => {
                if let Some(tx) = first.take() {
                    // Let the output readers drain the pipes the child wrote before dying.
                    std::thread::sleep(Duration::from_millis(50));
                    let _ = tx.send(StartReport::Failed(HarnessError::ExitedAtStart {
                        instance: instance.name.clone(),
                        status: describe(status),
                        output: instance.output_tail(),
                    }));
                    signal_group(pid, libc::SIGKILL);
                    tell_reaper('-', pid);
                    return;
                }
            }
            Readiness::TimedOut => {
                signal_group(pid, libc::SIGKILL);
                let _ = child.wait();
                tell_reaper('-', pid);
                if let Some(tx) = first.take() {
                    let _ = tx.send(StartReport::Failed(HarnessError::NeverReady {
                        instance: instance.name.clone(),
                        timeout: launch.ready_timeout,
                        output: instance.output_tail(),
                    }));
                    return;
                }
                log(instance, epoch, format!("{} was not ready in time", instance.name));
            }
            Readiness::Stopping => {}
        }
        let status = child.wait();
        instance.up.store(false, Ordering::SeqCst);
        // Whatever the child left in its group (workers it forked) goes with it.
        signal_group(pid, libc::SIGKILL);
        tell_reaper('-', pid);
        instance.pid.store(0, Ordering::SeqCst);
        if stopping.load(Ordering::SeqCst) {
            break;
        }
        if started.elapsed() >= HEALTHY_RUN {
            backoff = FIRST_BACKOFF;
        }
        let n = instance.restarts.fetch_add(1, Ordering::SeqCst) + 1;
        let how = status.map(describe).unwrap_or_else(|e| e.to_string());
        log(
            instance,
            epoch,
            format!(
                "{} (pid {pid}) exited ({how}); restart #{n} in {} ms",
                instance.name,
                backoff.as_millis()
            ),
        );
        sleep_unless(stopping, backoff);
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

fn sleep_unless(stopping: &AtomicBool, d: Duration) {
    let end = Instant::now() + d;
    while Instant::now() < end && !stopping.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(20).min(end - Instant::now()));
    }
}

/// How an exit status reads in a message.
pub fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit code {c}"),
        (None, Some(s)) => format!("killed by signal {s}"),
        _ => status.to_string(),
    }
}

/// Keeps the set of live process groups; at end of input (volley is gone) kills them all.
const REAPER_SCRIPT: &str = r#"groups=" "
while IFS= read -r line; do
  case "$line" in
    +*) groups="$groups${line#+} " ;;
    -*) new=" "; for g in $groups; do [ "$g" = "${line#-}" ] || new="$new$g "; done; groups=$new ;;
  esac
done
for g in $groups; do kill -9 "-$g" 2>/dev/null; done
"#;

static REAPER: std::sync::OnceLock<Option<Mutex<std::process::ChildStdin>>> =
    std::sync::OnceLock::new();

/// Tells the reaper about a process group (`+`) or that it is gone (`-`). Without a reaper
/// (no `sh`), direct children are still covered by `PR_SET_PDEATHSIG`.
fn tell_reaper(sign: char, pgid: u32) {
    let reaper = REAPER.get_or_init(|| {
        let mut child = Command::new("sh")
            .args(["-c", REAPER_SCRIPT])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .ok()?;
        let stdin = child.stdin.take()?;
        // Reaped when it exits after volley's own exit closes the pipe: by init, then.
        std::mem::forget(child);
        Some(Mutex::new(stdin))
    });
    if let Some(pipe) = reaper
        && let Ok(mut pipe) = pipe.lock()
    {
        let _ = writeln!(pipe, "{sign}{pgid}");
    }
}

fn spawn(instance: &Arc<Instance>, launch: &Launch) -> Result<Child, HarnessError> {
    let port = instance.port.to_string();
    let args: Vec<String> = launch.command.iter().map(|a| a.replace("{port}", &port)).collect();
    let Some((program, rest)) = args.split_first() else {
        return Err(HarnessError::CommandNotFound(String::new()));
    };
    let mut cmd = Command::new(program);
    cmd.args(rest)
        .env("PORT", &port)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: getpid is async-signal-safe and is called before fork.
    let parent = unsafe { libc::getpid() };
    // SAFETY: the closure runs between fork and exec and only calls async-signal-safe
    // functions (setpgid, prctl, getppid), allocating nothing.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setpgid(0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died between fork and prctl: then nobody would kill us.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => HarnessError::CommandNotFound(program.clone()),
        _ => HarnessError::Spawn { command: program.clone(), source: e },
    })?;
    tell_reaper('+', child.id());
    if let Some(out) = child.stdout.take() {
        pump(instance.clone(), out, launch.echo_output);
    }
    if let Some(err) = child.stderr.take() {
        pump(instance.clone(), err, launch.echo_output);
    }
    Ok(child)
}

/// Reads an instance's output line by line into its tail (and to our stderr when echoing).
fn pump(instance: Arc<Instance>, stream: impl Read + Send + 'static, echo: bool) {
    let _ = std::thread::Builder::new().name("volley-output".into()).spawn(move || {
        let reader = BufReader::new(stream);
        for line in reader.split(b'\n') {
            let Ok(line) = line else { break };
            let line = String::from_utf8_lossy(&line).trim_end().to_string();
            if echo {
                let mut err = std::io::stderr().lock();
                let _ = writeln!(err, "[{}] {line}", instance.name);
            }
            if let Ok(mut tail) = instance.output.lock() {
                if tail.len() == TAIL_LINES {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
        }
    });
}

enum Readiness {
    Ready,
    Exited(ExitStatus),
    TimedOut,
    Stopping,
}

fn wait_ready(
    instance: &Instance,
    launch: &Launch,
    child: &mut Child,
    stopping: &AtomicBool,
) -> Readiness {
    let deadline = Instant::now() + launch.ready_timeout;
    loop {
        if stopping.load(Ordering::SeqCst) {
            return Readiness::Stopping;
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Readiness::Exited(status);
        }
        if probe(instance.addr, launch.ready_path.as_deref()) {
            return Readiness::Ready;
        }
        if Instant::now() >= deadline {
            return Readiness::TimedOut;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A TCP accept, or a 2xx answer to `GET path`.
fn probe(addr: SocketAddr, path: Option<&str>) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let Some(path) = path else { return true };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if stream.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut buf = [0u8; 16];
    let mut n = 0;
    while n < 12 {
        match stream.read(&mut buf[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    // "HTTP/1.1 2xx"
    n >= 12 && buf.starts_with(b"HTTP/1.") && buf[9] == b'2'
}

/// Ports on 127.0.0.1 free right now, distinct from each other.
pub fn free_ports(n: usize) -> std::io::Result<Vec<u16>> {
    // Keep every listener open until all are chosen, so no port is handed out twice.
    let listeners: Vec<std::net::TcpListener> =
        (0..n).map(|_| std::net::TcpListener::bind("127.0.0.1:0")).collect::<Result<_, _>>()?;
    listeners.iter().map(|l| l.local_addr().map(|a| a.port())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn launch(cmd: &[&str]) -> Launch {
        Launch {
            command: cmd.iter().map(|s| s.to_string()).collect(),
            ready_path: None,
            ready_timeout: Duration::from_secs(2),
            echo_output: false,
        }
    }

    #[test]
    fn command_not_found() {
        let port = free_ports(1).unwrap()[0];
        let err = Supervisor::start(1, port, launch(&["/no/such/volley-cmd"]), Instant::now())
            .err()
            .unwrap();
        assert!(matches!(err, HarnessError::CommandNotFound(ref c) if c == "/no/such/volley-cmd"));
    }

    #[test]
    fn crash_at_start_shows_output() {
        let port = free_ports(1).unwrap()[0];
        let l = launch(&["sh", "-c", "echo boom on {port} >&2; exit 3"]);
        let err = Supervisor::start(1, port, l, Instant::now()).err().unwrap();
        let msg = err.to_string();
        assert!(msg.contains("exit code 3"), "{msg}");
        assert!(msg.contains(&format!("boom on {port}")), "{msg}");
    }

    /// nginx is supervised like an instance but is not one: its messages say `nginx`.
    #[test]
    fn a_named_process_is_called_by_its_name() {
        let port = free_ports(1).unwrap()[0];
        let l = launch(&["sh", "-c", "exit 3"]);
        let err = Supervisor::start_named("nginx", port, l.clone(), Instant::now()).err().unwrap();
        assert_eq!(
            err.to_string(),
            "nginx exited during start-up (exit code 3); it printed nothing"
        );
        let err = Supervisor::start(2, port, l, Instant::now()).err().unwrap();
        assert!(err.to_string().starts_with("instance 2 exited during start-up"), "{err}");
    }

    #[test]
    fn never_ready_times_out() {
        let port = free_ports(1).unwrap()[0];
        let mut l = launch(&["sleep", "30"]);
        l.ready_timeout = Duration::from_millis(300);
        let err = Supervisor::start(1, port, l, Instant::now()).err().unwrap();
        assert!(matches!(err, HarnessError::NeverReady { .. }), "{err}");
    }

    #[test]
    fn free_ports_are_distinct() {
        let p = free_ports(4).unwrap();
        let set: std::collections::HashSet<_> = p.iter().collect();
        assert_eq!(set.len(), 4);
    }
}
