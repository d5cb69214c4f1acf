//! The signals that stop a serving process: Ctrl-C at a terminal, SIGTERM from systemd, `kill` or a
//! container runtime. Both end the process the same clean way (the outbox and the store are
//! transactional, so stopping between two steps loses nothing).

/// Waits for Ctrl-C (SIGINT) or, on Unix, SIGTERM.
pub async fn stop_requested() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            // No SIGTERM handler (unusual; e.g. signals unavailable): Ctrl-C still stops the process.
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
