//! The worker runtime ([`Worker`]): runs a handler on a queue's jobs, with
//! a concurrency limit, leases kept alive, failures retried with backoff,
//! and graceful shutdown.
//!
//! Nothing is lost whatever dies when: a job is claimed atomically, its
//! lease is extended while the handler runs (and a liveness mark of the
//! worker says it is alive), and any worker's recovery pass sends the jobs
//! of a dead or silent worker back to the queue within seconds.
//!
//! The parts, each in its file: the claim loop (`dispatch`), one lane per
//! queue (`lane`, with what it knows of the queue in `state`), its watcher
//! waiting for work (`watcher`), its finishers sending finishes in batches
//! (`finisher`), its heartbeat (`heartbeat`), one job's run (`process`,
//! in the job's tracing span, which `dispatch` opens), held to its timeout
//! (`timeout`), the firing of its schedules (`ticker`), and the graceful
//! stop (`shutdown`).

mod dispatch;
mod failure;
mod finisher;
mod heartbeat;
mod lane;
mod order;
mod output;
mod process;
mod report;
mod settings;
mod shutdown;
mod state;
mod ticker;
mod timeout;
mod watcher;

pub use failure::{Backoff, Failure};
pub use order::Order;
pub use output::{Json, Output};
pub use report::Report;
pub(crate) use timeout::TimeoutSignal;

use crate::{limits, Error, Job, Queue, Result};
use dispatch::Dispatch;
use futures_util::FutureExt;
use settings::Settings;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Runs a handler on the jobs of one queue, or of several.
///
/// The defaults, each with its setter:
/// - one job at a time: [`Worker::concurrency`];
/// - a failed job comes back after 1 s, then 2 s, 4 s, … at most 5 minutes,
///   each less up to half at random: [`Worker::backoff`];
/// - at shutdown, running jobs get 10 s to finish: [`Worker::grace`];
/// - no timeout: a handler runs as long as it takes ([`Worker::timeout`]).
///
/// The queue's own settings apply too: a claim not extended for 30 s is
/// taken back ([`Queue::set_lease`]; the worker extends its claims every
/// second or so), a job that failed more than 25 times is stalled
/// ([`Queue::set_max_cancels`]), and the queue may set a job timeout
/// ([`ConfigChange::timeout`](crate::ConfigChange::timeout)).
///
/// ```
/// use std::time::Duration;
/// use thoonk::{EventKind, Failure, Job, Publish, Thoonk, Worker};
///
/// # #[tokio::main] async fn main() -> thoonk::Result<()> {
/// # let _redis = thoonk_testkit::doc_redis();
/// let thumbs = Thoonk::connect_from_env().await?.queue("thumbs")?;
/// let mut finishes = thumbs.subscribe_to(&[EventKind::Finish]).await?;
/// thumbs.publish("cat.png", Publish::new()).await?;
/// let report = Worker::new(thumbs.clone())
///     .concurrency(8)
///     .timeout(Duration::from_secs(60))
///     .run(
///         |job: Job| async move {
///             let path = String::from_utf8(job.item).map_err(Failure::permanent)?;
///             Ok::<_, Failure>(format!("{path}.thumb")) // the job's result
///         },
///         // Shutdown: here after one job; a service waits for Ctrl-C.
///         async move {
///             finishes.next().await;
///         },
///     )
///     .await?;
/// assert_eq!(report.finished, 1);
/// # Ok(()) }
/// ```
///
/// # Tracing
///
/// Each job runs in a `job` span of [`tracing`](https://docs.rs/tracing),
/// at debug level, with the fields `queue`, `id`, `attempt` (the job's
/// [`retries`](Job::retries) + 1) and `worker` (this worker's
/// [`id`](Worker::id)); the handler runs inside it (its own events and
/// spans land in it), and so does the recording of the outcome. In it, a
/// debug event for each change of the job's state: `claimed`, `finished`,
/// `cancelled` (fields `reason`, `delay_ms`), `stalled` (`reason`),
/// `released at shutdown`; a timeout is a warning there. A program with no
/// subscriber, or one that logs `thoonk` at info, builds no span.
#[derive(Debug, Clone)]
pub struct Worker {
    settings: Settings,
}

impl Worker {
    /// A worker on `queue`, with the defaults above.
    pub fn new(queue: Queue) -> Worker {
        Worker {
            settings: Settings {
                queues: vec![queue],
                order: Order::Strict,
                id: crate::new_id(),
                concurrency: 1,
                backoff: Backoff::default(),
                grace: Duration::from_secs(10),
                timeout: None,
            },
        }
    }

    /// A worker on several queues (on a cluster they may live on different
    /// nodes), sharing one concurrency limit; `order` says which queue a
    /// free slot goes to. It waits for work on all of them at once, with
    /// one blocking connection per queue. Refuses an empty list, a queue
    /// named twice, queues of different clients (`Thoonk`s: the worker's
    /// finishes share its finishing connections), and weights that do not match the
    /// queues or are all zero.
    pub fn serving(queues: Vec<Queue>, order: Order) -> Result<Worker> {
        let names: Vec<&str> = queues.iter().map(Queue::name).collect();
        let refuse = |reason: String| Err(Error::InvalidWorker { reason });
        if names.is_empty() {
            return refuse("it serves no queue".into());
        }
        if let Some(twice) = names
            .iter()
            .enumerate()
            .find_map(|(i, n)| names[..i].contains(n).then_some(n))
        {
            return refuse(format!("queue {twice} is named twice"));
        }
        if queues
            .iter()
            .any(|q| !q.thoonk.same_client(&queues[0].thoonk))
        {
            return refuse("its queues come from different clients: take them all from one".into());
        }
        if let Order::Weighted(weights) = &order {
            if weights.len() != names.len() {
                return refuse(format!(
                    "{} weights for {} queues",
                    weights.len(),
                    names.len()
                ));
            }
            if weights.iter().all(|&w| w == 0) {
                return refuse("every weight is zero".into());
            }
        }
        let mut worker = Worker::new(queues[0].clone());
        worker.settings.queues = queues;
        worker.settings.order = order;
        Ok(worker)
    }

    /// Run up to `n` handlers at once (default 1; at least 1, at most
    /// [`MAX_BATCH`](crate::MAX_BATCH)).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.settings.concurrency = n.clamp(1, crate::MAX_BATCH);
        self
    }

    /// The delays before failed jobs come back (default: 1 s doubling up
    /// to 5 minutes, jittered).
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.settings.backoff = backoff;
        self
    }

    /// How long running handlers may go on after shutdown is asked for
    /// (default 10 s); what is still running then is released back to the
    /// front of its queue, not counted as a failure. Also how long a
    /// handler past its timeout may take to stop before it is dropped
    /// ([`Worker::timeout`]).
    pub fn grace(mut self, grace: Duration) -> Self {
        self.settings.grace = grace;
        self
    }

    /// How long a handler may run on one job (default: as long as it
    /// takes; at least 1 ms, at most [`MAX_LEASE`](crate::MAX_LEASE), or
    /// [`Worker::run`] refuses to start). The queue may set a timeout too
    /// ([`ConfigChange::timeout`](crate::ConfigChange::timeout)); when both
    /// are set, the shorter applies.
    ///
    /// When it passes, the job's [`Job::timed_out`] completes, so that a
    /// handler watching it can stop cleanly; one still running the
    /// [grace](Worker::grace) later is dropped. Either way the job is
    /// cancelled with the reason `timed out after Ns`: it comes back after
    /// the [backoff](Worker::backoff), counted toward the queue's
    /// `max_cancels` as any failure, and is stalled once past them.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.settings.timeout = Some(timeout);
        self
    }

    /// This worker's id: its claims' tokens end in `@id`.
    pub fn id(&self) -> &str {
        &self.settings.id
    }

    /// Claims jobs and runs `handler` on each until `shutdown` completes.
    ///
    /// `Ok(result)` finishes the job with the result; `Err(failure)`
    /// cancels it with backoff, or stalls it for a permanent failure; a
    /// handler that panics counts as a failure to retry. Once running, it
    /// waits out Redis going away (with backoff) and goes on when it is
    /// back; it fails only if Redis cannot be reached to start, or to
    /// release what it holds at the end. It refuses to start with a
    /// [timeout](Worker::timeout) out of range.
    ///
    /// Stop it through `shutdown`, not by dropping this future: a dropped
    /// worker releases nothing, and its jobs come back only when its
    /// liveness mark runs out (seconds later, counted as cancels).
    pub async fn run<H, Fut, R>(
        self,
        handler: H,
        shutdown: impl Future<Output = ()>,
    ) -> Result<Report>
    where
        H: Fn(Job) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<R, Failure>> + Send + 'static,
        R: Output + Send + 'static,
    {
        if let Some(timeout) = self.settings.timeout {
            limits::between("timeout", timeout, limits::MIN_TIMEOUT, limits::MAX_LEASE)
                .map_err(|refused| refused.on("work", self.settings.queues[0].name()))?;
        }
        let handler: process::Handler = Arc::new(move |job| {
            handler(job)
                .map(|done| done.and_then(Output::into_result))
                .boxed()
        });
        let mut running = Dispatch::start(self.settings, handler).await?;
        running.until(shutdown).await;
        running.stop().await
    }
}
