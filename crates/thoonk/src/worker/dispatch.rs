//! A running worker ([`Dispatch`]) and its claim loop: free slots offered
//! to the queues in the worker's order, claimed jobs started, watchers
//! armed when every queue is empty.

use super::finisher::Refill;
use super::heartbeat;
use super::lane::{Lane, Outlets};
use super::process::{Handler, Run};
use super::report::Counters;
use super::settings::Settings;
use super::timeout;
use super::watcher::Woke;
use crate::{Job, Queue, Result};
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::task::AbortOnDropHandle;
use tracing::Instrument;

/// Finishing tasks per queue, each with its own batches and connection (the
/// jobs take turns): while Redis runs one's batch, the worker runs the jobs
/// the other's brought back, so neither waits on the other. One trip in
/// flight at a time cannot do that: Redis answers all it has read at once,
/// and the two halves of a worker would stay in step.
const FINISHERS: usize = 2;

/// The first pause after a failed claim; it doubles up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(50);
const MAX_PAUSE: Duration = Duration::from_secs(5);

/// A worker while it runs.
pub(crate) struct Dispatch {
    pub(crate) worker: Settings,
    handler: Handler,
    pub(crate) counters: Arc<Counters>,
    /// One permit per job running (or claimed and about to run).
    permits: Arc<Semaphore>,
    /// The jobs running, each in its task.
    pub(crate) tasks: JoinSet<()>,
    pub(crate) lanes: Vec<Lane>,
    /// Jobs finishers claimed in place of finished ones, with their slots.
    pub(crate) refills: mpsc::UnboundedReceiver<Refill>,
    /// Jobs watchers claimed after a wait.
    woke: mpsc::UnboundedReceiver<Woke>,
    /// One heartbeat task per queue, stopped when dropped.
    pub(crate) heartbeats: Vec<AbortOnDropHandle<()>>,
    /// The finisher the next job started from a claim goes to.
    turn: usize,
}

/// Jobs claimed apart from the claim loop, or the end.
enum Elsewhere {
    Refill(Refill),
    Woke(Woke),
    Shutdown,
}

/// What one claim round did.
#[derive(Default)]
struct Round {
    claimed_any: bool,
    failed: bool,
    /// Slots no claim filled.
    free: usize,
}

impl Dispatch {
    /// Starts every part of the worker: finishing connections, a lane per
    /// queue, a heartbeat per queue (each beating once before the first
    /// claim, so the worker is marked alive).
    pub(crate) async fn start(worker: Settings, handler: Handler) -> Result<Dispatch> {
        // The finishes (and their refills) of all queues go over connections
        // of their own, so they and the worker's own claims do not wait on
        // each other.
        let mut finishing = Vec::with_capacity(FINISHERS);
        for _ in 0..FINISHERS {
            finishing.push(worker.queues[0].thoonk.with_own_connection().await?);
        }
        let (refills_tx, refills) = mpsc::unbounded_channel();
        let (woke_tx, woke) = mpsc::unbounded_channel();
        let outlets = Outlets {
            refills: refills_tx,
            woke: woke_tx,
        };
        let mut lanes = Vec::with_capacity(worker.queues.len());
        for (i, queue) in worker.queues.iter().enumerate() {
            let refilling = worker.order.refills(i);
            lanes.push(Lane::start(&worker.id, i, queue, &finishing, refilling, &outlets).await?);
        }
        // Only the finishers hold refill senders now: the channel closes
        // once they are all gone, which shutdown waits for.
        drop(outlets);
        let mut heartbeats = Vec::with_capacity(lanes.len());
        let about = crate::queue::at_work::about_worker(worker.concurrency);
        for lane in &lanes {
            heartbeats.push(heartbeat::start(&worker.id, &about, &lane.queue, &lane.state).await?);
        }
        Ok(Dispatch {
            permits: Arc::new(Semaphore::new(worker.concurrency)),
            worker,
            handler,
            counters: Arc::default(),
            tasks: JoinSet::new(),
            lanes,
            refills,
            woke,
            heartbeats,
            turn: 0,
        })
    }

    /// Claims jobs and starts them until `shutdown` completes.
    pub(crate) async fn until(&mut self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut pause = FIRST_PAUSE;
        // Whether to ask every queue before waiting: not right after a
        // watcher's claim that got less than it asked for (the queues had
        // nothing more when it claimed; their watchers say when they do).
        let mut ask = true;
        loop {
            while self.tasks.try_join_next().is_some() {}
            // A slot for at least one job, then all the free ones; or a
            // job claimed elsewhere.
            let permits = self.permits.clone();
            let first = tokio::select! {
                slot = permits.acquire_owned() => Ok(slot.expect("never closed")),
                other = self.claimed_elsewhere(&mut shutdown) => Err(other),
            };
            let first = match first {
                Ok(slot) => slot,
                Err(Elsewhere::Refill(refill)) => {
                    self.start_refill(refill);
                    continue;
                }
                Err(Elsewhere::Woke(woke)) => {
                    ask |= self.take(woke);
                    continue;
                }
                Err(Elsewhere::Shutdown) => return,
            };
            let round = self.claim_round(first, ask).await;
            ask = true;
            if round.claimed_any {
                pause = FIRST_PAUSE;
                continue;
            }
            if round.failed {
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = &mut shutdown => return,
                }
                pause = (pause * 2).min(MAX_PAUSE);
                continue;
            }
            // Nothing anywhere: wait for work on every queue at once, each
            // queue's watcher claiming what comes for the free slots.
            self.arm_watchers(round.free);
            match self.claimed_elsewhere(&mut shutdown).await {
                Elsewhere::Woke(woke) => {
                    ask = self.take(woke);
                    // Let the jobs just started run, and their finishes go
                    // out, before the watchers' next waits do.
                    tokio::task::yield_now().await;
                }
                Elsewhere::Refill(refill) => self.start_refill(refill),
                Elsewhere::Shutdown => return,
            }
        }
    }

    /// The next job a finisher or a watcher claimed, or shutdown.
    async fn claimed_elsewhere(
        &mut self,
        shutdown: &mut (impl Future<Output = ()> + Unpin),
    ) -> Elsewhere {
        tokio::select! {
            Some(refill) = self.refills.recv() => Elsewhere::Refill(refill),
            Some(woke) = self.woke.recv() => Elsewhere::Woke(woke),
            _ = shutdown => Elsewhere::Shutdown,
        }
    }

    /// Claims for the free slots (`first` and all others free now) from
    /// each queue in the worker's order, unless not to `ask`, and starts
    /// what it got.
    async fn claim_round(&mut self, first: OwnedSemaphorePermit, ask: bool) -> Round {
        let mut slots = vec![first];
        while let Ok(slot) = self.permits.clone().try_acquire_owned() {
            slots.push(slot);
        }
        let mut round = Round::default();
        for i in self.worker.order.pick(self.lanes.len()) {
            if slots.is_empty() || !ask {
                break;
            }
            let lane = &self.lanes[i];
            // Held back by flow control: its watcher claims when the hold
            // ends (a claim now would get nothing).
            if lane.state.held_until().is_some() {
                continue;
            }
            match lane
                .queue
                .claim_for(slots.len(), Some(&self.worker.id))
                .await
            {
                Ok(claimed) => {
                    lane.state.claimed(&claimed, slots.len());
                    round.claimed_any |= !claimed.jobs.is_empty();
                    for job in claimed.jobs {
                        let slot = slots.pop().expect("claimed no more than the free slots");
                        self.start_job(i, job, slot, None);
                    }
                }
                Err(e) => {
                    tracing::warn!(queue = lane.queue.name(), "claim failed, retrying: {e}");
                    round.failed = true;
                }
            }
        }
        round.free = slots.len();
        round
    }

    /// Arms each idle watcher to wait for work and claim up to `free` jobs.
    /// Each keeps its wait (and connection) across rounds: one queue's
    /// work does not cut the others' waits short.
    fn arm_watchers(&self, free: usize) {
        for lane in &self.lanes {
            // Not one still waiting: the stored wake would start a second
            // wait (and claim) once its own ends.
            if !lane.state.waiting.swap(true, Ordering::Relaxed) {
                lane.state.free.store(free, Ordering::Relaxed);
                lane.armed.notify_one();
            }
        }
    }

    /// Jobs a watcher claimed: each gets a free slot, or (when another
    /// queue's watcher took the slots first) goes back to its queue.
    /// Returns whether the queue may have more.
    fn take(&mut self, woke: Woke) -> bool {
        let mut extra = Vec::new();
        for job in woke.jobs {
            match self.permits.clone().try_acquire_owned() {
                Ok(slot) => self.start_job(woke.lane, job, slot, None),
                Err(_) => extra.push(job),
            }
        }
        if !extra.is_empty() {
            let lane = &self.lanes[woke.lane];
            let (queue, state) = (lane.queue.clone(), lane.state.clone());
            self.tasks
                .spawn(async move { state.give_back(&queue, &extra).await });
        }
        woke.more
    }

    /// Starts a job a finisher claimed, in the slot of the job it replaces,
    /// to be finished by that same finisher.
    fn start_refill(&mut self, refill: Refill) {
        let by = Some(refill.finisher);
        self.start_job(refill.lane, refill.job, refill.slot, by);
    }

    /// Starts a job already in its lane's `held` (claims enter it as they
    /// are made), to be finished by the lane's finisher `by`, or by each
    /// finisher in turn.
    fn start_job(&mut self, lane: usize, job: Job, slot: OwnedSemaphorePermit, by: Option<usize>) {
        let by = by.unwrap_or_else(|| {
            let next = self.turn;
            self.turn = (next + 1) % FINISHERS;
            next
        });
        let lane = &self.lanes[lane];
        let (queue, state, finisher) = (
            lane.queue.clone(),
            lane.state.clone(),
            lane.finishers[by].clone(),
        );
        let (handler, counters) = (self.handler.clone(), self.counters.clone());
        let (backoff, grace) = (self.worker.backoff, self.worker.grace);
        // Fixed as it starts: a change of the queue's later on is for the
        // jobs started after it.
        let timeout = timeout::applied(self.worker.timeout, state.timeout());
        let span = job_span(&queue, &job, &self.worker.id);
        let task = async move {
            let (id, token) = (job.id.clone(), job.token.clone());
            let run = Run {
                queue: &queue,
                lane: &state,
                handler: &handler,
                backoff,
                counters: &counters,
                finisher: &finisher,
                timeout,
                grace,
            };
            run.process(job, slot).await;
            state.let_go(&id, &token);
        };
        // The handler, the outcome's recording and whatever they log run
        // inside the job's span (and the run's drop too, should shutdown
        // cut it short).
        self.tasks.spawn(task.instrument(span));
    }
}

/// The span a job's run goes in: a user's subscriber (OpenTelemetry
/// through `tracing-opentelemetry`, say) sees each job as one span, with
/// the handler's own events and spans inside it.
///
/// At debug level, so that a program logging at info (the CLI's default)
/// makes none: with no subscriber interested, the macro reads one atomic
/// and neither builds the span nor evaluates its fields.
fn job_span(queue: &Queue, job: &Job, worker: &str) -> tracing::Span {
    tracing::debug_span!(
        "job",
        queue = queue.name(),
        id = job.id.as_str(),
        // The claim this is of the job's, counting from 1: its cancel
        // count (failures, cancels, leases run out) plus this one.
        attempt = job.retries + 1,
        // As it is registered in Redis (its liveness mark, its tokens).
        worker,
    )
}
