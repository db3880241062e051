//! The one way to stop a run: the first Ctrl-C, SIGTERM or SIGHUP, the dashboard's stop
//! button, or a sweep being cut short all cancel the same [`Stop`]. The engine then lets
//! requests in flight finish within its grace period, and the partial result is still
//! printed and saved. Later signals never cost the result: they only say so, and a watchdog
//! exits if stopping ever takes far longer than it can.

use std::time::Duration;

use volley_engine::CancellationToken;

/// After a second signal, how long the stop and the save may take before volley gives up.
const WATCHDOG: Duration = Duration::from_secs(30);

/// A graceful stop shared by everything a command runs (cheap to clone).
#[derive(Debug, Clone, Default)]
pub struct Stop {
    token: CancellationToken,
}

impl Stop {
    pub fn new() -> Stop {
        Stop::default()
    }

    /// A stop that the first SIGINT/SIGTERM/SIGHUP triggers.
    pub fn on_signals() -> Stop {
        let stop = Stop::new();
        install(stop.clone());
        stop
    }

    /// Asks everything running under this stop to end gracefully.
    pub fn stop(&self) {
        self.token.cancel();
    }

    /// A stop of its own that this one also triggers (a capacity step the overload guard
    /// may end without ending the search).
    pub fn child(&self) -> Stop {
        Stop { token: self.token.child_token() }
    }

    pub fn is_stopped(&self) -> bool {
        self.token.is_cancelled()
    }

    /// The engine's view of it.
    pub fn token(&self) -> CancellationToken {
        self.token.clone()
    }
}

fn install(stop: Stop) {
    let spawned = std::thread::Builder::new().name("volley-signals".into()).spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
            return;
        };
        rt.block_on(async move {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut int), Ok(mut term), Ok(mut hup)) = (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
                signal(SignalKind::hangup()),
            ) else {
                return;
            };
            for n in 0.. {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                    _ = hup.recv() => {}
                }
                if n == 0 {
                    stop.stop();
                } else if n == 1 {
                    eprintln!(
                        "\nvolley: already stopping; the result is saved as soon as requests in \
                         flight end (at most a few seconds)"
                    );
                    std::thread::spawn(|| {
                        std::thread::sleep(WATCHDOG);
                        eprintln!("volley: the stop took over {WATCHDOG:?}; exiting unsaved");
                        std::process::exit(130);
                    });
                }
            }
        });
    });
    // Without the handler the default action (terminate) still applies: nothing to report.
    drop(spawned);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_one_stop() {
        let a = Stop::new();
        let b = a.clone();
        let t = a.token();
        assert!(!b.is_stopped());
        b.stop();
        assert!(a.is_stopped() && t.is_cancelled());
    }
}
