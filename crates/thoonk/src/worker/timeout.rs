//! Job timeouts: the signal a handler watches ([`Job::timed_out`]), and a
//! handler's run held to its timeout — signalled when it passes, dropped
//! a grace later, its job cancelled with the reason.

use super::process::Outcome;
use super::Failure;
use crate::Job;
use std::future::Future;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A claim's timeout signal: none for a job claimed by hand or run with
/// no timeout (it never fires), else the token the worker cancels when
/// the job's timeout passes. Clones share it, so a handler may hand the
/// job (or what [`Job::timed_out`] returns) to tasks of its own.
#[derive(Debug, Clone, Default)]
pub(crate) struct TimeoutSignal(Option<CancellationToken>);

/// Every signal is equal to every other: the signal belongs to the claim,
/// which the job's token already names, so two jobs are equal exactly
/// when their queue, id, payload, count and token are.
impl PartialEq for TimeoutSignal {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for TimeoutSignal {}

impl<T> Job<T> {
    /// Completes once the worker running this job has given up on it: its
    /// timeout ([`Worker::timeout`](crate::Worker::timeout), or the queue's
    /// [`QueueConfig::timeout`](crate::QueueConfig::timeout)) passed. A
    /// handler that watches it (in a `tokio::select!`, say) can stop
    /// cleanly: roll back, kill what it started. Whatever it returns then,
    /// the job is cancelled as timed out; a handler still running the
    /// worker's grace later is dropped. For a job claimed by hand, or run
    /// with no timeout, it never completes.
    ///
    /// Why a method on the job, not a second argument to the handler or a
    /// task-local: every handler (`Fn(Job) -> Fut`, typed ones included)
    /// gets it without a new signature, and it goes wherever the job goes.
    /// The future is `'static` and owns its part of the signal, so it may
    /// move into a task of the handler's own after the job's payload was
    /// taken apart.
    pub fn timed_out(&self) -> impl Future<Output = ()> + Send + 'static {
        let signal = self.timeout.0.clone();
        async move {
            match signal {
                Some(token) => token.cancelled_owned().await,
                None => std::future::pending().await,
            }
        }
    }

    /// Whether the job's timeout has passed (see [`Job::timed_out`]): for
    /// a handler that checks between steps, or code off the async runtime.
    pub fn is_timed_out(&self) -> bool {
        self.timeout.0.as_ref().is_some_and(|t| t.is_cancelled())
    }

    /// Gives the job a timeout signal (it has none when claimed): the
    /// handler's copy of the job shares it with the worker, which fires it.
    pub(crate) fn arm_timeout(&mut self) -> CancellationToken {
        let token = CancellationToken::new();
        self.timeout = TimeoutSignal(Some(token.clone()));
        token
    }
}

/// The timeout a job started now is held to: the shorter of the worker's
/// and the queue's, when either is set.
pub(crate) fn applied(worker: Option<Duration>, queue: Option<Duration>) -> Option<Duration> {
    match (worker, queue) {
        (Some(w), Some(q)) => Some(w.min(q)),
        (one, other) => one.or(other),
    }
}

/// What a timed-out job is cancelled with: `timed out after 1.5s`.
pub(crate) fn reason(limit: Duration) -> String {
    format!("timed out after {}s", limit.as_secs_f64())
}

/// Runs `handled` (the handler's run on the job whose id is `id`) for at
/// most `limit`; past it, fires `signal`, lets the handler run on for
/// `grace` to stop on its own, then drops it. A handler that ended in
/// time has its own outcome; one that did not has the timeout's, a
/// transient failure: the job is cancelled with backoff, counted toward
/// the queue's `max_cancels`, as any failure.
pub(crate) async fn bounded(
    handled: impl Future<Output = Outcome>,
    limit: Duration,
    grace: Duration,
    signal: CancellationToken,
    (queue, id): (&str, &str),
) -> Outcome {
    tokio::pin!(handled);
    if let Ok(outcome) = tokio::time::timeout(limit, &mut handled).await {
        return outcome;
    }
    let reason = reason(limit);
    tracing::warn!(queue, id, "{reason}: its handler is asked to stop");
    signal.cancel();
    // What it returns now is not the job's outcome: the job was given up
    // on at the timeout, and the count and reason say so. What it says is
    // logged (a command's stderr, say), for whoever wonders why it hung.
    match tokio::time::timeout(grace, handled).await {
        Ok(Err(failure)) => tracing::info!(queue, id, "its handler stopped: {}", failure.reason()),
        Ok(Ok(_)) => tracing::info!(queue, id, "its handler stopped; its result is dropped"),
        Err(_) => tracing::warn!(
            queue,
            id,
            "its handler did not stop within the grace of {grace:?}: dropped"
        ),
    }
    Err(Failure::transient(reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shorter_timeout_applies_and_the_reason_says_it_in_seconds() {
        let s = Duration::from_secs;
        assert_eq!(applied(None, None), None);
        assert_eq!(applied(Some(s(2)), None), Some(s(2)));
        assert_eq!(applied(None, Some(s(3))), Some(s(3)));
        assert_eq!(applied(Some(s(5)), Some(s(3))), Some(s(3)));
        assert_eq!(applied(Some(s(2)), Some(s(3))), Some(s(2)));
        assert_eq!(reason(s(1)), "timed out after 1s");
        assert_eq!(reason(Duration::from_millis(1500)), "timed out after 1.5s");
        assert_eq!(reason(Duration::from_millis(250)), "timed out after 0.25s");
    }

    #[test]
    fn a_signal_is_shared_by_clones_and_not_compared() {
        let mut job = Job {
            queue: "q".into(),
            id: "j".into(),
            item: b"x".to_vec(),
            retries: 0,
            token: "1.abc".into(),
            timeout: TimeoutSignal::default(),
        };
        let claimed = job.clone();
        let signal = job.arm_timeout();
        let handed = job.clone();
        assert_eq!(job, claimed, "the same claim, armed or not");
        assert!(!handed.is_timed_out() && !claimed.is_timed_out());
        signal.cancel();
        assert!(handed.is_timed_out() && job.is_timed_out());
        assert!(!claimed.is_timed_out(), "claimed without a timeout");
    }
}
