//! The generator's own limits: open files. Every VU holds at most one connection, so one file
//! descriptor. The soft `RLIMIT_NOFILE` (often 1024) is raised to the hard limit when a run
//! starts, and a spec whose VUs cannot all hold a connection is reported before anything is
//! sent; connections that still fail for lack of descriptors or local ports are counted as
//! [`volley_metrics::FailureKind::Local`], the generator's failure, not the server's.

use volley_plan::Spec;

/// Descriptors kept for what is not a VU's connection: stdio, the runtimes' epoll and event
/// descriptors, the result and report files, name resolution.
pub const RESERVE: u64 = 64;

/// The spec's VUs cannot all hold a connection within the open-files limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "up to {needed} connections may be open at once, but this process may only open {limit} \
     files (ulimit -n): connections beyond that fail as `local`, the generator's failure, not \
     the server's\n  hint: raise the limit (`ulimit -n {want}`, or the hard limit in \
     /etc/security/limits.conf) or lower -c / the plan's VUs"
)]
pub struct FdShortage {
    /// Connections the spec may hold at once.
    pub needed: u64,
    /// The soft limit in force after raising it.
    pub limit: u64,
    /// A limit that fits: `needed` plus the reserve.
    pub want: u64,
}

/// Connections the spec may hold open at once: one per VU that can run, scenarios counted as
/// if they all overlapped (a plan's start times may well make them overlap).
pub fn connections_needed(spec: &Spec) -> u64 {
    spec.scenarios
        .iter()
        .map(|sc| crate::schedule::vus_needed(&sc.executor))
        .fold(0u64, u64::saturating_add)
}

/// Raises the soft open-files limit as far as the hard limit allows (idempotent), and returns
/// the soft limit in force afterwards (`None` when it cannot be read, or is unlimited).
pub fn raise_open_files() -> Option<u64> {
    #[cfg(unix)]
    {
        // SAFETY: getrlimit/setrlimit only read and write the struct passed to them.
        unsafe {
            let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
                return None;
            }
            if r.rlim_cur < r.rlim_max {
                // An unlimited hard limit is refused for files on Linux: the kernel's own
                // ceiling (fs.nr_open) is the most the soft limit can be.
                let mut targets = vec![r.rlim_max];
                if let Some(n) = nr_open() {
                    targets.push(n.min(r.rlim_max));
                }
                for t in targets {
                    let want = libc::rlimit { rlim_cur: t, rlim_max: r.rlim_max };
                    if t > r.rlim_cur && libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                        r.rlim_cur = t;
                        break;
                    }
                }
            }
            (r.rlim_cur != libc::RLIM_INFINITY).then_some(r.rlim_cur)
        }
    }
    #[cfg(not(unix))]
    {
        None
    }
}

#[cfg(unix)]
fn nr_open() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/fs/nr_open").ok()?.trim().parse().ok()
}

/// Raises the open-files limit, then says whether the spec's connections fit in it.
pub fn check_open_files(spec: &Spec) -> Result<(), FdShortage> {
    let needed = connections_needed(spec);
    match raise_open_files() {
        Some(limit) if needed.saturating_add(RESERVE) > limit => {
            Err(FdShortage { needed, limit, want: needed.saturating_add(RESERVE) })
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_is_raised_to_the_hard_limit() {
        let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: as above.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) }, 0);
        let soft = raise_open_files();
        let mut after = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: as above.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut after) }, 0);
        assert!(after.rlim_cur >= r.rlim_cur);
        assert_eq!(after.rlim_max, r.rlim_max, "the hard limit is left alone");
        if after.rlim_cur != libc::RLIM_INFINITY {
            assert_eq!(soft, Some(after.rlim_cur));
        }
    }

    #[test]
    fn shortage_names_the_figures_and_the_fix() {
        let e = FdShortage { needed: 1000, limit: 256, want: 1064 };
        let text = e.to_string();
        assert!(text.contains("1000 connections") && text.contains("open 256 files"), "{text}");
        assert!(text.contains("ulimit -n 1064") && text.contains("`local`"), "{text}");
    }
}
