//! Ctrl-C, SIGTERM and SIGHUP: the first one asks the run to stop gracefully; the partial
//! result is then printed and saved. Later signals never cost the result: the engine's stop
//! already bounds what is left (the grace period for requests in flight, then saving), so they
//! only say so. A watchdog exits if that ever takes far longer than it can.

use std::time::Duration;

use volley_engine::CancellationToken;

/// After a second signal, how long the stop and the save may take before volley gives up.
const WATCHDOG: Duration = Duration::from_secs(30);

/// Cancels `token` on the first SIGINT/SIGTERM/SIGHUP.
pub fn install(token: CancellationToken) {
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
                    token.cancel();
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
