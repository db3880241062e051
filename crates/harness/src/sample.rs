//! CPU and memory sampling of the processes under test, read straight from `/proc` and from
//! cgroup files, once a second on a thread of its own.
//!
//! `/proc/<pid>/stat` gives cumulative user+system ticks and the resident set in one read, which
//! is cheaper and more precise than a general-purpose system crate refreshing everything. A watch
//! names a *set* of processes (a PID and its descendants, every process matching a name, the
//! instance a supervisor currently runs); the set is re-resolved at each sample so restarts and
//! forked workers are followed. CPU % is the delta of ticks over the wall time between two
//! samples, 100 = one core.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use volley_metrics::{InstanceUsage, ResourceSample};

use crate::HarnessError;

/// Something whose processes are resolved again at every sample.
pub type PidSource = Arc<dyn Fn() -> Vec<u32> + Send + Sync>;

/// What one watch measures.
#[derive(Clone)]
pub enum Target {
    /// A process and its descendants.
    Pid(u32),
    /// Every process whose name equals the pattern or whose command line contains it, and
    /// their descendants (volley itself excluded).
    Name(String),
    /// A cgroup (v2 or v1 controllers).
    Cgroup(Cgroup),
    /// Root processes supplied by the caller (a supervised instance), and their descendants.
    Dynamic(PidSource),
    /// The threads of this process whose name starts with the prefix (the balancer's runtime).
    OwnThreads(String),
    /// This process, minus the threads whose name starts with the prefix (volley as a load
    /// generator when the balancer shares its process).
    OwnProcessExcept(Option<String>),
    /// The whole machine: busy CPU of all cores (`/proc/stat`) and memory in use
    /// (`MemTotal − MemAvailable`), to tell how much other work competed with the test.
    System,
}

/// One labelled watch.
#[derive(Clone)]
pub struct Watch {
    pub label: String,
    pub target: Target,
    /// Restarts counted by a supervisor, copied into the usage at the end.
    pub restarts: Option<Arc<AtomicU64>>,
}

impl Watch {
    pub fn new(label: impl Into<String>, target: Target) -> Self {
        Watch { label: label.into(), target, restarts: None }
    }
}

/// The files a cgroup's CPU and memory are read from.
#[derive(Debug, Clone, PartialEq)]
pub struct Cgroup {
    pub path: PathBuf,
    cpu: Option<CpuFile>,
    memory: Option<PathBuf>,
    /// `cgroup.procs` of the group: when no hierarchy accounts its CPU (a v1 memory group
    /// whose cpuacct side is elsewhere), the CPU of its member processes is summed instead.
    procs: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq)]
enum CpuFile {
    /// v2 `cpu.stat`, `usage_usec` line.
    V2Stat(PathBuf),
    /// v1 `cpuacct.usage`, nanoseconds.
    V1Usage(PathBuf),
}

impl Cgroup {
    /// Resolves a cgroup given as a directory (`/sys/fs/cgroup/memory/docker/ID`) or as a path
    /// relative to the hierarchies (`/docker/ID`, `/system.slice/x.service`): CPU from v2
    /// `cpu.stat` or v1 `cpuacct.usage`, memory from v2 `memory.current` or v1
    /// `memory.usage_in_bytes`, whichever is mounted.
    pub fn resolve(path: &Path) -> Result<Cgroup, HarnessError> {
        let mounts = cgroup_mounts();
        // The part below the hierarchy's mount point names the same group in every hierarchy.
        let mut relative = path.to_path_buf();
        for m in &mounts {
            if let Ok(rest) = path.strip_prefix(&m.dir) {
                relative = Path::new("/").join(rest);
                break;
            }
        }
        let rel = relative.strip_prefix("/").unwrap_or(&relative).to_path_buf();
        let mut candidates: Vec<(PathBuf, bool, bool)> = Vec::new(); // dir, has cpu, has mem
        if path.is_dir() {
            candidates.push((path.to_path_buf(), true, true));
        }
        for m in &mounts {
            candidates.push((m.dir.join(&rel), m.v2 || m.cpuacct, m.v2 || m.memory));
        }
        let mut cpu = None;
        let mut memory = None;
        let mut procs = None;
        for (dir, may_cpu, may_mem) in candidates {
            if procs.is_none() && dir.join("cgroup.procs").is_file() && dir != Path::new("/") {
                procs = Some(dir.join("cgroup.procs"));
            }
            if cpu.is_none() && may_cpu {
                if dir.join("cpu.stat").is_file()
                    && read_usage_usec(&dir.join("cpu.stat")).is_some()
                {
                    cpu = Some(CpuFile::V2Stat(dir.join("cpu.stat")));
                } else if dir.join("cpuacct.usage").is_file() {
                    cpu = Some(CpuFile::V1Usage(dir.join("cpuacct.usage")));
                }
            }
            if memory.is_none() && may_mem {
                if dir.join("memory.current").is_file() {
                    memory = Some(dir.join("memory.current"));
                } else if dir.join("memory.usage_in_bytes").is_file() {
                    memory = Some(dir.join("memory.usage_in_bytes"));
                }
            }
        }
        if cpu.is_none() && memory.is_none() {
            return Err(HarnessError::CgroupNotFound(path.to_path_buf()));
        }
        Ok(Cgroup { path: path.to_path_buf(), cpu, memory, procs })
    }

    /// Cumulative CPU time in nanoseconds and current memory in bytes.
    fn read(&self) -> (Option<u64>, Option<u64>) {
        let cpu = match &self.cpu {
            Some(CpuFile::V2Stat(p)) => read_usage_usec(p).map(|us| us * 1000),
            Some(CpuFile::V1Usage(p)) => read_u64(p),
            None => None,
        };
        (cpu, self.memory.as_deref().and_then(read_u64))
    }

    /// True when CPU comes from the group's own accounting rather than its processes.
    pub fn has_cpu_accounting(&self) -> bool {
        self.cpu.is_some()
    }

    /// Member processes, for the fallback CPU reading.
    fn members(&self) -> Vec<u32> {
        let Some(p) = &self.procs else { return Vec::new() };
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }
}

struct Mount {
    dir: PathBuf,
    v2: bool,
    cpuacct: bool,
    memory: bool,
}

fn cgroup_mounts() -> Vec<Mount> {
    let text = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let mut out = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 4 {
            continue;
        }
        let opts: Vec<&str> = f[3].split(',').collect();
        match f[2] {
            "cgroup2" => out.push(Mount {
                dir: PathBuf::from(f[1]),
                v2: true,
                cpuacct: false,
                memory: false,
            }),
            "cgroup" => out.push(Mount {
                dir: PathBuf::from(f[1]),
                v2: false,
                cpuacct: opts.contains(&"cpuacct"),
                memory: opts.contains(&"memory"),
            }),
            _ => {}
        }
    }
    out
}

fn read_u64(p: &Path) -> Option<u64> {
    std::fs::read_to_string(p).ok()?.trim().parse().ok()
}

fn read_usage_usec(p: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(p).ok()?;
    text.lines().find_map(|l| l.strip_prefix("usage_usec ")).and_then(|v| v.trim().parse().ok())
}

/// What `/proc/<pid>/stat` says about one process or thread.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcStat {
    pub ppid: u32,
    /// user + system time, clock ticks.
    pub ticks: u64,
    /// Start time after boot, clock ticks.
    pub start_ticks: u64,
    pub rss_pages: u64,
}

/// Parses the text of `/proc/<pid>/stat`. The name is in parentheses and may itself contain
/// spaces and parentheses, so fields are counted from the last `)`.
pub fn parse_stat(text: &str) -> Option<(String, ProcStat)> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_string();
    let rest: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    // rest[0] is field 3 (state); field k is rest[k - 3].
    let field = |k: usize| rest.get(k - 3).and_then(|v| v.parse::<u64>().ok());
    Some((
        comm,
        ProcStat {
            ppid: field(4)? as u32,
            ticks: field(14)? + field(15)?,
            start_ticks: field(22)?,
            rss_pages: field(24)?,
        },
    ))
}

fn read_stat(path: &Path) -> Option<(String, ProcStat)> {
    parse_stat(&std::fs::read_to_string(path).ok()?)
}

/// True when a process with this PID exists.
pub fn pid_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Every process: pid → (name, parent, stat). Read only when a watch needs the process tree.
struct ProcTable {
    procs: HashMap<u32, (String, ProcStat)>,
    children: HashMap<u32, Vec<u32>>,
}

impl ProcTable {
    fn scan() -> ProcTable {
        let mut procs = HashMap::new();
        let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
        if let Ok(dir) = std::fs::read_dir("/proc") {
            for entry in dir.flatten() {
                let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok())
                else {
                    continue;
                };
                if let Some((comm, st)) = read_stat(&entry.path().join("stat")) {
                    children.entry(st.ppid).or_default().push(pid);
                    procs.insert(pid, (comm, st));
                }
            }
        }
        ProcTable { procs, children }
    }

    /// The roots and all their descendants.
    fn with_descendants(&self, roots: &[u32]) -> Vec<u32> {
        let mut seen = HashSet::new();
        let mut stack: Vec<u32> = roots.to_vec();
        while let Some(p) = stack.pop() {
            if !self.procs.contains_key(&p) || !seen.insert(p) {
                continue;
            }
            if let Some(kids) = self.children.get(&p) {
                stack.extend(kids.iter().copied());
            }
        }
        let mut v: Vec<u32> = seen.into_iter().collect();
        v.sort_unstable();
        v
    }

    fn matching(&self, pattern: &str, own: u32) -> Vec<u32> {
        let mut roots = Vec::new();
        for (&pid, (comm, _)) in &self.procs {
            if pid == own {
                continue;
            }
            if comm == pattern || cmdline(pid).is_some_and(|c| c.contains(pattern)) {
                roots.push(pid);
            }
        }
        // volley's own children (instances it supervises) may match; volley itself never does.
        self.with_descendants(&roots).into_iter().filter(|&p| p != own).collect()
    }
}

/// The processes named by `pattern` as [`Target::Name`] matches them, but only the outermost
/// ones (a match whose ancestor also matches is left to that ancestor), volley itself
/// excluded (its command line names the pattern); in PID order. One per instance of a deployment: a container's or a
/// service manager's main process, its workers counted with it.
pub fn matching_roots(pattern: &str) -> Vec<u32> {
    let table = ProcTable::scan();
    let own = std::process::id();
    let matches: HashSet<u32> = table
        .procs
        .iter()
        .filter(|&(&pid, _)| pid != own)
        .filter(|&(&pid, (comm, _))| {
            comm == pattern || cmdline(pid).is_some_and(|c| c.contains(pattern))
        })
        .map(|(&pid, _)| pid)
        .collect();
    let has_matching_ancestor = |pid: u32| {
        let mut p = table.procs.get(&pid).map(|(_, s)| s.ppid);
        // Bounded: a PID table has no cycles, but a racing scan must not loop forever.
        for _ in 0..64 {
            match p {
                Some(0) | None => return false,
                Some(q) if matches.contains(&q) => return true,
                Some(q) => p = table.procs.get(&q).map(|(_, s)| s.ppid),
            }
        }
        false
    };
    let mut roots: Vec<u32> =
        matches.iter().copied().filter(|&p| !has_matching_ancestor(p)).collect();
    roots.sort_unstable();
    roots
}

fn cmdline(pid: u32) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        raw.split(|&b| b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect::<Vec<_>>()
            .join(" "),
    )
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 { p as u64 } else { 4096 }
}

fn uptime_s() -> f64 {
    std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|t| t.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0.0)
}

/// Per-watch state between two samples.
#[derive(Default)]
struct WatchState {
    /// Cumulative ticks per pid (or per tid) at the previous sample.
    prev: HashMap<u32, u64>,
    /// Cgroup CPU nanoseconds at the previous sample.
    prev_cgroup_ns: Option<u64>,
    pids: Vec<u32>,
    samples: Vec<ResourceSample>,
}

struct Shared {
    watches: Vec<Watch>,
    states: Mutex<Vec<WatchState>>,
    stop: AtomicBool,
}

/// Sampling in progress. [`Sampler::finish`] stops it and returns what was seen.
pub struct Sampler {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    started: SystemTime,
    started_at: Instant,
    wake: Arc<(Mutex<bool>, std::sync::Condvar)>,
}

/// Usage of every watch, with sample times in seconds since the sampler started.
#[derive(Debug, Clone)]
pub struct Observed {
    pub started: SystemTime,
    pub usages: Vec<InstanceUsage>,
}

const PERIOD: Duration = Duration::from_secs(1);
/// A last sample covering less than this is dropped when earlier samples exist (CPU time is
/// counted in 10 ms ticks: a short window over- or under-reads by whole ticks).
const MIN_WINDOW_S: f64 = 0.25;

impl Sampler {
    /// Takes a baseline sample now and then one every second.
    pub fn start(watches: Vec<Watch>) -> Sampler {
        let states = watches.iter().map(|_| WatchState::default()).collect();
        let shared =
            Arc::new(Shared { watches, states: Mutex::new(states), stop: AtomicBool::new(false) });
        let started = SystemTime::now();
        let started_at = Instant::now();
        let mut ctx = Ctx::new(started_at);
        ctx.sample(&shared, true);
        let wake = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
        let thread = {
            let shared = shared.clone();
            let wake = wake.clone();
            std::thread::Builder::new()
                .name("volley-sampler".into())
                .spawn(move || {
                    let mut next = started_at + PERIOD;
                    loop {
                        let (lock, cvar) = &*wake;
                        let mut woken = lock.lock().unwrap();
                        while !*woken {
                            let now = Instant::now();
                            if now >= next {
                                break;
                            }
                            woken = cvar.wait_timeout(woken, next - now).unwrap().0;
                        }
                        let stopping = *woken;
                        drop(woken);
                        // The last sample covers the partial second before the stop.
                        ctx.sample(&shared, false);
                        if stopping || shared.stop.load(Ordering::Relaxed) {
                            break;
                        }
                        next += PERIOD;
                    }
                })
                .ok()
        };
        Sampler { shared, thread, started, started_at, wake }
    }

    /// Seconds since the sampler started.
    pub fn elapsed(&self) -> Duration {
        self.started_at.elapsed()
    }

    /// The latest sample of every watch, labelled (a live view; empty before the first).
    pub fn latest(&self) -> Vec<ResourceSample> {
        let states = self.shared.states.lock().unwrap_or_else(|e| e.into_inner());
        self.shared
            .watches
            .iter()
            .zip(states.iter())
            .filter_map(|(w, st)| {
                st.samples.last().map(|s| ResourceSample { label: w.label.clone(), ..s.clone() })
            })
            .collect()
    }

    /// Takes a last sample and returns the usage of every watch.
    pub fn finish(mut self) -> Observed {
        self.shared.stop.store(true, Ordering::Relaxed);
        {
            let (lock, cvar) = &*self.wake;
            *lock.lock().unwrap() = true;
            cvar.notify_all();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let mut states = self.shared.states.lock().unwrap();
        let usages = self
            .shared
            .watches
            .iter()
            .zip(states.iter_mut())
            .map(|(w, st)| {
                let mut u = usage_of(&w.label, std::mem::take(&mut st.samples));
                u.pids = st.pids.clone();
                u.restarts = w.restarts.as_ref().map_or(0, |r| r.load(Ordering::Relaxed));
                u
            })
            .collect();
        Observed { started: self.started, usages }
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        let (lock, cvar) = &*self.wake;
        if let Ok(mut w) = lock.lock() {
            *w = true;
        }
        cvar.notify_all();
    }
}

/// Averages and maxima of a series of samples.
pub fn usage_of(label: &str, samples: Vec<ResourceSample>) -> InstanceUsage {
    let n = samples.len().max(1) as f64;
    InstanceUsage {
        label: label.to_string(),
        pids: Vec::new(),
        cpu_pct_avg: samples.iter().map(|s| s.cpu_pct).sum::<f64>() / n,
        cpu_pct_max: samples.iter().map(|s| s.cpu_pct).fold(0.0, f64::max),
        mem_bytes_avg: samples.iter().map(|s| s.mem_bytes as f64).sum::<f64>() / n,
        mem_bytes_max: samples.iter().map(|s| s.mem_bytes).max().unwrap_or(0),
        restarts: 0,
        samples,
    }
}

/// The sampling thread's own state.
struct Ctx {
    started_at: Instant,
    last: Option<(Instant, f64)>,
    hz: f64,
    page: u64,
    own: u32,
}

impl Ctx {
    fn new(started_at: Instant) -> Ctx {
        Ctx {
            started_at,
            last: None,
            hz: clock_ticks(),
            page: page_size(),
            own: std::process::id(),
        }
    }

    fn sample(&mut self, shared: &Shared, baseline: bool) {
        let now = Instant::now();
        let up = uptime_s();
        let elapsed = self.last.map(|(t, _)| now.duration_since(t).as_secs_f64());
        let prev_up_ticks = self.last.map(|(_, u)| u * self.hz);
        let needs_table = shared
            .watches
            .iter()
            .any(|w| matches!(w.target, Target::Pid(_) | Target::Name(_) | Target::Dynamic(_)));
        let table = needs_table.then(ProcTable::scan);
        let t = now.duration_since(self.started_at).as_secs_f64();
        let mut states = shared.states.lock().unwrap();
        for (w, st) in shared.watches.iter().zip(states.iter_mut()) {
            let (cpu_ns_or_ticks, mem) = match &w.target {
                Target::Cgroup(cg) if !cg.has_cpu_accounting() => {
                    let entries: Vec<(u32, ProcStat)> = cg
                        .members()
                        .into_iter()
                        .filter_map(|p| {
                            read_stat(Path::new(&format!("/proc/{p}/stat"))).map(|(_, s)| (p, s))
                        })
                        .collect();
                    st.pids = entries.iter().map(|e| e.0).collect();
                    let ticks = self.delta_ticks(st, &entries, prev_up_ticks);
                    (Some(ticks as f64 / self.hz), cg.read().1.unwrap_or(0))
                }
                Target::System => {
                    let busy = system_busy_ticks();
                    let delta = match (busy, st.prev.get(&0)) {
                        (Some(b), Some(&p)) => Some(b.saturating_sub(p) as f64 / self.hz),
                        _ => None,
                    };
                    if let Some(b) = busy {
                        st.prev.insert(0, b);
                    }
                    (delta, memory_in_use().unwrap_or(0))
                }
                Target::Cgroup(cg) => {
                    let (cpu_ns, mem) = cg.read();
                    let delta = match (cpu_ns, st.prev_cgroup_ns) {
                        (Some(c), Some(p)) => Some(c.saturating_sub(p) as f64 / 1e9),
                        _ => None,
                    };
                    st.prev_cgroup_ns = cpu_ns;
                    (delta, mem.unwrap_or(0))
                }
                target => {
                    let entries = self.entries(target, table.as_ref());
                    st.pids = entries.iter().map(|e| e.0).collect();
                    let ticks = self.delta_ticks(st, &entries, prev_up_ticks);
                    let mut rss: u64 = entries.iter().map(|(_, s)| s.rss_pages * self.page).sum();
                    if matches!(target, Target::OwnThreads(_)) {
                        // Threads share the process's memory; it is counted once, elsewhere.
                        rss = 0;
                    }
                    (Some(ticks as f64 / self.hz), rss)
                }
            };
            // A sliver of a second (the stop came just after a regular sample) holds a tick or
            // two of CPU: as a percentage of a few milliseconds that would read 500%.
            let short = elapsed.is_none_or(|e| e < MIN_WINDOW_S);
            if baseline || (short && (!st.samples.is_empty() || elapsed.is_none_or(|e| e < 0.05))) {
                continue;
            }
            let cpu_pct = match (cpu_ns_or_ticks, elapsed) {
                (Some(cpu_s), Some(e)) if e > 0.0 => cpu_s / e * 100.0,
                _ => 0.0,
            };
            st.samples.push(ResourceSample { t, label: w.label.clone(), cpu_pct, mem_bytes: mem });
        }
        self.last = Some((now, up));
    }

    /// CPU ticks the entries used since the previous sample; remembers them for the next.
    fn delta_ticks(
        &self,
        st: &mut WatchState,
        entries: &[(u32, ProcStat)],
        prev_up_ticks: Option<f64>,
    ) -> u64 {
        let mut ticks = 0u64;
        let mut next = HashMap::with_capacity(entries.len());
        for (id, stat) in entries {
            match st.prev.get(id) {
                Some(&p) => ticks += stat.ticks.saturating_sub(p),
                // Born since the last sample: all of its time is new.
                None if prev_up_ticks.is_some_and(|u| stat.start_ticks as f64 >= u) => {
                    ticks += stat.ticks
                }
                None => {}
            }
            next.insert(*id, stat.ticks);
        }
        st.prev = next;
        ticks
    }

    /// The processes (or threads) a watch covers now, with their stats.
    fn entries(&self, target: &Target, table: Option<&ProcTable>) -> Vec<(u32, ProcStat)> {
        let from_table = |pids: Vec<u32>| -> Vec<(u32, ProcStat)> {
            let Some(table) = table else { return Vec::new() };
            pids.into_iter().filter_map(|p| table.procs.get(&p).map(|(_, s)| (p, *s))).collect()
        };
        match target {
            Target::Pid(pid) => {
                from_table(table.map_or_else(Vec::new, |t| t.with_descendants(&[*pid])))
            }
            Target::Name(pattern) => {
                from_table(table.map_or_else(Vec::new, |t| t.matching(pattern, self.own)))
            }
            Target::Dynamic(source) => {
                let roots = source();
                from_table(table.map_or_else(Vec::new, |t| t.with_descendants(&roots)))
            }
            Target::OwnThreads(prefix) => own_threads(|name| name.starts_with(prefix.as_str())),
            Target::OwnProcessExcept(prefix) => {
                let Some((_, whole)) = read_stat(Path::new("/proc/self/stat")) else {
                    return Vec::new();
                };
                let mut stat = whole;
                if let Some(prefix) = prefix {
                    let excluded: u64 = own_threads(|name| name.starts_with(prefix.as_str()))
                        .iter()
                        .map(|(_, s)| s.ticks)
                        .sum();
                    stat.ticks = stat.ticks.saturating_sub(excluded);
                }
                vec![(self.own, stat)]
            }
            Target::Cgroup(_) | Target::System => Vec::new(),
        }
    }
}

/// Busy ticks of all CPUs since boot: user, nice, system, irq, softirq, steal (guest time is
/// already in user).
fn system_busy_ticks() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal
    Some(v.first()? + v.get(1)? + v.get(2)? + v.get(5)? + v.get(6)? + v.get(7).unwrap_or(&0))
}

/// `MemTotal − MemAvailable`, bytes.
fn memory_in_use() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb = |key: &str| -> Option<u64> {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    };
    Some(kb("MemTotal:")?.saturating_sub(kb("MemAvailable:")?) * 1024)
}

fn own_threads(keep: impl Fn(&str) -> bool) -> Vec<(u32, ProcStat)> {
    let mut out = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
        for entry in dir.flatten() {
            let Some(tid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            if let Some((comm, st)) = read_stat(&entry.path().join("stat"))
                && keep(&comm)
            {
                out.push((tid, st));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_spaces_in_name() {
        let text = "4242 (my (odd) proc) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 \
                    1 0 12345 1000000 300 18446744073709551615";
        let (comm, st) = parse_stat(text).unwrap();
        assert_eq!(comm, "my (odd) proc");
        assert_eq!(st.ppid, 1);
        assert_eq!(st.ticks, 300);
        assert_eq!(st.start_ticks, 12345);
        assert_eq!(st.rss_pages, 300);
    }

    #[test]
    fn usage_averages_and_maxima() {
        let s = |cpu, mem| ResourceSample {
            t: 0.0,
            label: String::new(),
            cpu_pct: cpu,
            mem_bytes: mem,
        };
        let u = usage_of("x", vec![s(50.0, 10), s(100.0, 30)]);
        assert_eq!(u.cpu_pct_avg, 75.0);
        assert_eq!(u.cpu_pct_max, 100.0);
        assert_eq!(u.mem_bytes_avg, 20.0);
        assert_eq!(u.mem_bytes_max, 30);
    }

    fn fake_cgroup(name: &str, files: &[(&str, &str)]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("volley-cg-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (f, text) in files {
            std::fs::write(dir.join(f), text).unwrap();
        }
        dir
    }

    #[test]
    fn reads_v2_and_v1_cgroup_files() {
        let v2 = fake_cgroup(
            "v2",
            &[("cpu.stat", "usage_usec 1500\nuser_usec 1000\n"), ("memory.current", "4096\n")],
        );
        let cg = Cgroup::resolve(&v2).unwrap();
        assert_eq!(cg.read(), (Some(1_500_000), Some(4096)));
        let v1 = fake_cgroup(
            "v1",
            &[("cpuacct.usage", "2500000\n"), ("memory.usage_in_bytes", "8192\n")],
        );
        let cg = Cgroup::resolve(&v1).unwrap();
        assert_eq!(cg.read(), (Some(2_500_000), Some(8192)));
        assert!(cg.has_cpu_accounting());
        for d in [v2, v1] {
            let _ = std::fs::remove_dir_all(d);
        }
    }

    #[test]
    fn missing_cgroup_is_an_error() {
        let err = Cgroup::resolve(Path::new("/no/such/cgroup/here")).unwrap_err();
        assert!(matches!(err, HarnessError::CgroupNotFound(_)));
    }

    #[test]
    fn a_process_burning_one_core_reads_near_100() {
        let mut burner =
            std::process::Command::new("sh").args(["-c", "while :; do :; done"]).spawn().unwrap();
        struct Kill<'a>(&'a mut std::process::Child);
        impl Drop for Kill<'_> {
            fn drop(&mut self) {
                let _ = self.0.kill();
                let _ = self.0.wait();
            }
        }
        let pid = burner.id();
        let _guard = Kill(&mut burner);
        let ticks = || read_stat(Path::new(&format!("/proc/{pid}/stat"))).unwrap().1.ticks;
        let (ticks0, t0) = (ticks(), Instant::now());
        let sampler = Sampler::start(vec![Watch::new("burner", Target::Pid(pid))]);
        std::thread::sleep(Duration::from_millis(3000));
        let obs = sampler.finish();
        // What it really got: on a shared machine a busy loop may get less than a core.
        let truth = (ticks() - ticks0) as f64 / clock_ticks() / t0.elapsed().as_secs_f64() * 100.0;
        let u = &obs.usages[0];
        assert_eq!(u.pids, vec![pid]);
        assert!(u.samples.len() >= 3, "{u:?}");
        assert!((u.cpu_pct_avg - truth).abs() <= 15.0, "{u:?} vs {truth:.1}%");
        if truth >= 90.0 {
            assert!((85.0..=115.0).contains(&u.cpu_pct_avg), "one busy core reads ~100%: {u:?}");
        }
        assert!(u.mem_bytes_max > 0);
    }

    #[test]
    fn own_process_is_sampled() {
        let sampler = Sampler::start(vec![Watch::new("me", Target::OwnProcessExcept(None))]);
        // Burn a little CPU so the reading is not zero.
        let t0 = Instant::now();
        let mut x = 0u64;
        while t0.elapsed() < Duration::from_millis(300) {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        std::hint::black_box(x);
        let obs = sampler.finish();
        let u = &obs.usages[0];
        assert_eq!(u.samples.len(), 1);
        // Busy for 300 ms: some ticks at least, whatever else runs on the machine.
        assert!(u.samples[0].cpu_pct > 0.0 && u.samples[0].cpu_pct <= 110.0, "{u:?}");
        assert!(u.mem_bytes_max > 0);
    }
}
