//! The shutdown signal that `work` and `dashboard` stop gracefully on.

/// Installs the SIGTERM and SIGINT handlers at once (from here on either
/// is a graceful stop, not the default death of the process); the future
/// completes on either signal.
pub(crate) fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("a SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("a SIGINT handler");
    async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    }
}
