//! The signals that stop a serving process: Ctrl-C at a terminal, SIGTERM from systemd, `kill` or a
//! container runtime. Both end the process the same clean way (the outbox and the store are
//! transactional, so stopping between two steps loses nothing).

use std::future::Future;

/// Starts listening for Ctrl-C (SIGINT) and, on Unix, SIGTERM at once, and returns a future that
/// completes when one arrives. The handlers are in place when this returns, so a signal sent right
/// after a server says where it listens stops it cleanly instead of killing it.
#[cfg(unix)]
pub fn stop_requested() -> impl Future<Output = ()> + Send {
    use tokio::signal::unix::{Signal, SignalKind, signal};
    async fn wait(s: Option<Signal>) {
        match s {
            Some(mut s) => {
                s.recv().await;
            }
            // No handler (unusual; e.g. signals unavailable): the other signal still stops it.
            None => std::future::pending().await,
        }
    }
    let term = signal(SignalKind::terminate()).ok();
    let interrupt = signal(SignalKind::interrupt()).ok();
    async move {
        tokio::select! {
            () = wait(term) => {}
            () = wait(interrupt) => {}
        }
    }
}

/// Waits for Ctrl-C.
#[cfg(not(unix))]
pub fn stop_requested() -> impl Future<Output = ()> + Send {
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
