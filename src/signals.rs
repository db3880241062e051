//! Ctrl-C and SIGTERM: the first one asks the run to stop gracefully (the partial result is
//! still printed and saved), a second one exits at once.

use volley_engine::CancellationToken;

/// Cancels `token` on the first SIGINT/SIGTERM; exits with 130 on the second.
pub fn install(token: CancellationToken) {
    let spawned = std::thread::Builder::new().name("volley-signals".into()).spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
            return;
        };
        rt.block_on(async move {
            let Ok(mut term) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            else {
                return;
            };
            for n in 0.. {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
                if n == 0 {
                    token.cancel();
                } else {
                    std::process::exit(130);
                }
            }
        });
    });
    // Without the handler the default action (terminate) still applies: nothing to report.
    drop(spawned);
}
