//! Interrupts during `play`: the first SIGINT or SIGTERM asks the run to stop and write what it has;
//! a second SIGINT quits at once.

/// The first SIGINT or SIGTERM cancels `interrupted`: every wait ends at once, nothing new is sent,
/// reads in flight are dropped, retries in flight get a short grace (then stay in the ledger as in
/// flight, for `--resume` to check), and the ledger and the reports are written. A second SIGINT
/// exits at once with 130; the ledger stays consistent, since each of its writes is one
/// transaction.
pub(super) async fn watch_signals(
    interrupted: tokio_util::sync::CancellationToken,
    notices: super::Notices,
) {
    first_signal().await;
    interrupted.cancel();
    // Listen for the second Ctrl-C before inviting it: a SIGINT that comes while nobody listens is
    // lost (the handler is installed, so it does not end the process either).
    let second = second_interrupt();
    notices.note(
        "interrupted",
        &format!(
            "interrupted: finishing the requests in flight (at most {}ms more) and writing the reports (Ctrl-C again to quit now)",
            crate::client::IN_FLIGHT_GRACE.as_millis()
        ),
    );
    second.await;
    notices.note("interrupted", "interrupted twice: quitting now");
    std::process::exit(130);
}

/// A SIGINT listener, registered when this is called (not when the future is first polled).
#[cfg(unix)]
fn second_interrupt() -> impl Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let listener = signal(SignalKind::interrupt());
    async move {
        match listener {
            Ok(mut sigint) => {
                sigint.recv().await;
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
}

#[cfg(not(unix))]
fn second_interrupt() -> impl Future<Output = ()> {
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(unix)]
async fn first_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn first_signal() {
    let _ = tokio::signal::ctrl_c().await;
}
