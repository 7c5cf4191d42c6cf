//! One job's run: the handler called (a panic caught as a failure, a run
//! past the job's timeout stopped as one), then its outcome recorded —
//! finished, cancelled with backoff, or stalled — trying again while Redis
//! is away. It runs inside the job's span (see `dispatch`), and says each
//! change of the job's state there, at debug level.

use super::finisher::{Finished, Finisher};
use super::report::Counters;
use super::state::LaneState;
use super::{timeout, Backoff, Failure};
use crate::{Cancel, Error, Job, JobRef, Queue, Result, State};
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::OwnedSemaphorePermit;

/// What a handler ends with: the result to finish the job with (or none),
/// or a failure.
pub(crate) type Outcome = std::result::Result<Option<Vec<u8>>, Failure>;

/// A handler with its types erased (one boxed future per job), so that the
/// runtime's parts need no type parameters.
pub(crate) type Handler = Arc<dyn Fn(Job) -> BoxFuture<'static, Outcome> + Send + Sync>;

/// What a job's run needs of its worker and queue.
pub(crate) struct Run<'a> {
    pub(crate) queue: &'a Queue,
    /// What the worker knows of the queue: whether it is stopping.
    pub(crate) lane: &'a LaneState,
    pub(crate) handler: &'a Handler,
    pub(crate) backoff: Backoff,
    pub(crate) counters: &'a Counters,
    /// The finisher its finish goes through.
    pub(crate) finisher: &'a Finisher,
    /// The job's timeout, fixed when it starts (the worker's, or the
    /// queue's as the heartbeat last read it, whichever is shorter).
    pub(crate) timeout: Option<Duration>,
    /// How long a handler past its timeout may take to stop.
    pub(crate) grace: Duration,
}

impl Run<'_> {
    /// Runs the handler on `job`, which holds `slot`, and records the
    /// outcome; the slot is given up once the outcome is recorded (a
    /// finish hands it on to a refill).
    pub(crate) async fn process(&self, mut job: Job, slot: OwnedSemaphorePermit) {
        tracing::debug!(token = job.token.as_str(), "claimed");
        let started = Instant::now();
        let mut running = Running {
            lane: self.lane,
            returned: false,
        };
        let outcome = match self.timeout {
            None => self.call(job.clone()).await,
            Some(limit) => {
                let signal = job.arm_timeout();
                let at = (self.queue.name(), job.id.as_str());
                timeout::bounded(self.call(job.clone()), limit, self.grace, signal, at).await
            }
        };
        running.returned = true;
        let ran = started.elapsed();
        self.record(&job, &outcome, ran, slot).await;
    }

    /// The handler's outcome on `job`.
    async fn call(&self, job: Job) -> Outcome {
        // A panic is caught here and is a failure like any other; the
        // handler is dropped with this task (shutdown after the grace).
        match AssertUnwindSafe((self.handler)(job)).catch_unwind().await {
            Ok(outcome) => outcome,
            Err(panic) => Err(Failure::transient(format!(
                "handler panicked: {}",
                panic_message(panic)
            ))),
        }
    }

    /// Records the outcome until it is in, or refused, or cannot be.
    /// (`ran`: how long the handler ran, for the queue's history.)
    async fn record(
        &self,
        job: &Job,
        outcome: &Outcome,
        ran: Duration,
        slot: OwnedSemaphorePermit,
    ) {
        let mut slot = Some(slot);
        let mut pause = Duration::from_millis(50);
        loop {
            let done = match outcome {
                Ok(result) => {
                    let held = slot.take().expect("a slot until the outcome is recorded");
                    match self.finisher.finish(job, result.clone(), ran, held).await {
                        Finished::Recorded(done) => done.map(|_| {
                            tracing::debug!("finished");
                            &self.counters.finished
                        }),
                        Finished::Retry(e, back) => {
                            slot = Some(back);
                            Err(e)
                        }
                    }
                }
                Err(failure) => self.fail(job, failure).await,
            };
            match done {
                Ok(counter) => return Counters::add(counter),
                // The connection failed, or the finish is to be sent again
                // with its slot back: the job is still ours until its lease
                // runs out, so keep trying, or the work is done twice.
                Err(e) if slot.is_some() && e.is_transient() => {
                    tracing::warn!(
                        queue = self.queue.name(),
                        id = job.id,
                        "recording the outcome failed, retrying: {e}"
                    );
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
                Err(e) => return self.unrecorded(job, e),
            }
        }
    }

    /// Cancels the job with backoff, or stalls it; returns the counter of
    /// what happened.
    async fn fail(&self, job: &Job, failure: &Failure) -> Result<&AtomicU64> {
        let target = JobRef::from(job);
        let reason = failure.reason();
        if !failure.comes_back() {
            self.queue.stall_with(target, reason).await?;
            tracing::debug!(reason, "stalled: a permanent failure");
            return Ok(&self.counters.stalled);
        }
        let delay = self.backoff.delay(job.retries + 1);
        let cancel = Cancel::new().delay(delay).reason(reason);
        let went = self.queue.cancel_with(target, cancel).await?;
        Ok(match went {
            State::Stalled => {
                tracing::debug!(
                    reason,
                    "stalled: cancelled more than the queue's max_cancels"
                );
                &self.counters.stalled
            }
            _ => {
                let delay_ms = delay.as_millis() as u64;
                tracing::debug!(reason, delay_ms, "cancelled: comes back after the backoff");
                &self.counters.failed
            }
        })
    }

    /// An outcome that will not be recorded: says why.
    fn unrecorded(&self, job: &Job, e: Error) {
        let (queue, id) = (self.queue.name(), &job.id);
        match e {
            // Not to be mended by trying again: the lease will run out and
            // the job will come back.
            e @ (Error::Redis { .. } | Error::Stopped { .. }) => {
                tracing::error!(queue, id, "recording the outcome failed: {e}")
            }
            // Taken back (we were too slow, or paused): another worker has
            // it now. Nothing to do but say so.
            refused => {
                tracing::warn!(queue, id, "outcome refused: {refused}");
                Counters::add(&self.counters.refused);
            }
        }
    }
}

/// A job's handler while it runs: dropped before it returned, the run was
/// cut short, and says so in the job's span (the span is entered while its
/// task is dropped).
struct Running<'a> {
    lane: &'a LaneState,
    returned: bool,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if self.returned {
            return;
        }
        if self.lane.stopping.load(Ordering::Relaxed) {
            // Past the grace: the worker releases the job with whatever
            // else it holds, back to the front of its queue, uncounted.
            tracing::debug!("released at shutdown: the grace ran out");
        } else {
            tracing::debug!("dropped with its worker: comes back when its lease runs out");
        }
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}
