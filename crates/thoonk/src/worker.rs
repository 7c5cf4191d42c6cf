//! `Worker`: runs a handler on a queue's jobs, with a concurrency limit,
//! leases kept alive, failures retried with backoff, and graceful shutdown.
//!
//! Nothing is lost whatever dies when: a job is claimed atomically, its
//! lease is extended while the handler runs (and a liveness mark of the
//! worker says it is alive), and any worker's recovery pass sends the jobs
//! of a dead or silent worker back to the queue within seconds.

use crate::finisher::{Finished, Finisher, Refill, WorkerState};
use crate::{Claimed, Error, Job, JobRef, Result, State};
use futures_util::FutureExt;
use rand::Rng;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

/// Finishing tasks per queue, each with its own batches and connection (the
/// jobs take turns): while Redis runs one's batch, the worker runs the jobs
/// the other's brought back, so neither waits on the other. One trip in
/// flight at a time cannot do that: Redis answers all it has read at once,
/// and the two halves of a worker would stay in step.
const FINISHERS: usize = 2;

/// How often a worker extends its leases, renews its liveness mark and runs
/// the recovery pass; more often when the queue's lease is shorter than
/// three of these, so that each claim is extended about three times a lease.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// The heartbeat never comes more often than this, however short the lease.
const MIN_HEARTBEAT: Duration = Duration::from_millis(10);
/// How long a worker's liveness mark lasts: its jobs are recovered this long
/// after its last heartbeat.
const LIVENESS: Duration = Duration::from_secs(3);

/// Why a handler did not finish its job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    reason: String,
    retry: bool,
}

impl Failure {
    /// A failure worth retrying: the job is cancelled, and comes back after
    /// a backoff delay (or is stalled once cancelled more than the queue's
    /// `max_cancels`).
    pub fn retry(reason: impl fmt::Display) -> Self {
        Failure {
            reason: reason.to_string(),
            retry: true,
        }
    }

    /// A failure that retrying will not mend (bad input, say): the job is
    /// stalled at once, with the reason kept.
    pub fn permanent(reason: impl fmt::Display) -> Self {
        Failure {
            reason: reason.to_string(),
            retry: false,
        }
    }

    /// What went wrong.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// Any error is a failure worth retrying.
impl<E: std::error::Error> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure::retry(e)
    }
}

/// Exponential backoff with jitter, capped: the delay before a cancelled
/// job comes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The delay after the first failure.
    pub base: Duration,
    /// No delay is longer.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_secs(1),
            max: Duration::from_secs(300),
        }
    }
}

impl Backoff {
    /// The delay after a job's `failures`-th failure (1 for the first):
    /// `base * 2^(failures-1)`, capped at `max`, then a random amount up to
    /// half of it taken off, so jobs that failed together do not all come
    /// back together.
    pub fn delay(&self, failures: u64) -> Duration {
        let exp = failures.saturating_sub(1).min(32) as u32;
        let full = self
            .base
            .saturating_mul(2u32.saturating_pow(exp))
            .min(self.max);
        full.mul_f64(1.0 - rand::rng().random_range(0.0..0.5))
    }
}

/// What a worker did while it ran.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Report {
    /// Jobs finished.
    pub finished: u64,
    /// Jobs cancelled after a failure (to come back later).
    pub cancelled: u64,
    /// Jobs stalled (a permanent failure, or too many cancels).
    pub stalled: u64,
    /// Jobs given back unfinished at shutdown (not counted as failures).
    pub released: u64,
    /// Outcomes refused because the claim had been taken back meanwhile.
    pub refused: u64,
}

#[derive(Default)]
struct Counters {
    finished: AtomicU64,
    cancelled: AtomicU64,
    stalled: AtomicU64,
    refused: AtomicU64,
}

/// Which of a worker's queues gets a free slot first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Order {
    /// In the order given: a queue gets a slot only while every queue
    /// before it has nothing to claim.
    Strict,
    /// At random, each queue as often as its weight (one per queue, in the
    /// order given) says, among the queues with work: with weights 3 and 1,
    /// about three jobs of the first to one of the second while both have
    /// work, and all slots to either while the other is empty. A queue of
    /// weight 0 is served only while all the others are empty.
    Weighted(Vec<u32>),
}

impl Order {
    /// The queues to offer free slots to, first first.
    fn pick(&self, lanes: usize) -> Vec<usize> {
        match self {
            Order::Strict => (0..lanes).collect(),
            Order::Weighted(weights) => {
                // A weighted draw without replacement.
                let mut left: Vec<usize> = (0..lanes).collect();
                let mut order = Vec::with_capacity(lanes);
                let mut rng = rand::rng();
                while !left.is_empty() {
                    let total: u64 = left.iter().map(|&i| u64::from(weights[i])).sum();
                    let mut ticket = rng.random_range(0..total.max(1));
                    let at = left
                        .iter()
                        .position(|&i| {
                            let w = u64::from(weights[i]);
                            if ticket < w {
                                return true;
                            }
                            ticket -= w;
                            false
                        })
                        .unwrap_or(0);
                    order.push(left.remove(at));
                }
                order
            }
        }
    }
}

/// Runs a handler on the jobs of one queue, or of several.
#[derive(Debug, Clone)]
pub struct Worker {
    queues: Vec<Job>,
    order: Order,
    id: String,
    concurrency: usize,
    backoff: Backoff,
    grace: Duration,
}

impl Worker {
    /// A worker on `job`'s queue: one job at a time, default backoff, 10 s
    /// of grace at shutdown.
    pub fn new(job: Job) -> Worker {
        Worker {
            queues: vec![job],
            order: Order::Strict,
            id: crate::new_id(),
            concurrency: 1,
            backoff: Backoff::default(),
            grace: Duration::from_secs(10),
        }
    }

    /// A worker on several queues (on a cluster they may live on different
    /// nodes), sharing one concurrency limit; `order` says which queue a
    /// free slot goes to. It waits for work on all of them at once, with
    /// one blocking connection per queue. Refuses an empty list, a queue
    /// named twice, queues of different clients (`Thoonk`s: the worker's
    /// finishes share its finishing connections), and weights that do not match the
    /// queues or are all zero.
    pub fn serving(queues: Vec<Job>, order: Order) -> Result<Worker> {
        let names: Vec<&str> = queues.iter().map(Job::name).collect();
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
        worker.queues = queues;
        worker.order = order;
        Ok(worker)
    }

    /// Run up to `n` handlers at once.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// The delays before failed jobs come back.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// How long running handlers may go on after shutdown is asked for;
    /// what is still running then is released back to the queue.
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// This worker's id: its claims' tokens end in `@id`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Claims jobs and runs `handler` on each until `shutdown` completes.
    ///
    /// `Ok(result)` finishes the job with the result; `Err(failure)`
    /// cancels it with backoff, or stalls it for a permanent failure; a
    /// handler that panics counts as a failure to retry. Once running, it
    /// waits out Redis going away (with backoff) and goes on when it is
    /// back; it fails only if Redis cannot be reached to start, or to
    /// release what it holds at the end.
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
        H: Fn(Claimed) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<R, Failure>> + Send + 'static,
        R: Into<Vec<u8>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let this = Arc::new(self);
        let counters = Arc::new(Counters::default());
        let permits = Arc::new(Semaphore::new(this.concurrency));
        let mut tasks = JoinSet::new();
        let (refill_tx, mut refills) = mpsc::unbounded_channel::<Refill>();
        // One lane per queue: what the worker holds of it, its finishers
        // (which claim refills), its watcher. The finishes (and their
        // refills) of all queues go over connections of their own, so they
        // and the worker's own claims do not wait on each other.
        let mut finishing = Vec::with_capacity(FINISHERS);
        for _ in 0..FINISHERS {
            finishing.push(this.queues[0].thoonk.with_own_connection().await?);
        }
        let mut lanes = Vec::with_capacity(this.queues.len());
        let (woke_tx, mut woke) = mpsc::unbounded_channel::<Woke>();
        for (i, job) in this.queues.iter().enumerate() {
            // Only the first queue in strict order refills the slots its
            // finishes free: a later queue's refill would keep the slot from
            // the claim round that asks the earlier queues first; and by
            // weight, refills would keep each queue at the share it happened
            // to get first. Their freed slots go back to the claim loop.
            let refills = i == 0 && matches!(this.order, Order::Strict);
            let lane = Lane::start(
                &this,
                i,
                job,
                &finishing,
                refills,
                refill_tx.clone(),
                woke_tx.clone(),
            );
            lanes.push(lane.await?);
        }
        drop(refill_tx);

        // Mark ourselves alive on every queue before the first claim; then
        // one heartbeat task per queue, so that a slow node delays only its
        // own queue's (the others' leases and liveness marks must not run
        // out meanwhile, or their jobs would be taken back and run twice).
        let mut heartbeats = Vec::with_capacity(lanes.len());
        for lane in &lanes {
            this.heartbeat(&lane.job, &lane.state).await?;
            let (this, job, state) = (this.clone(), lane.job.clone(), lane.state.clone());
            heartbeats.push(AbortOnDrop(tokio::spawn(async move {
                let mut next = tokio::time::Instant::now();
                loop {
                    // Well within the queue's lease (as the last recovery
                    // pass read it: anyone may change it): a claim not
                    // extended for a lease is anyone's to take back.
                    let period = (state.lease() / 3).clamp(MIN_HEARTBEAT, HEARTBEAT);
                    next = (next + period).max(tokio::time::Instant::now());
                    tokio::time::sleep_until(next).await;
                    if let Err(e) = this.heartbeat(&job, &state).await {
                        tracing::warn!(queue = job.name(), "heartbeat failed: {e}");
                    }
                }
            })));
        }

        // Starts a job already in its lane's `held` (claims enter it as
        // they are made), to be finished by the lane's finisher `by` (a
        // refill, by the one that claimed it), or by each finisher in turn.
        let turn = AtomicUsize::new(0);
        let start = |tasks: &mut JoinSet<()>,
                     lane: &Lane,
                     job: Claimed,
                     slot: OwnedSemaphorePermit,
                     by: Option<usize>| {
            let by = by.unwrap_or_else(|| turn.fetch_add(1, Ordering::Relaxed) % FINISHERS);
            let (this, state, counters, handler, finisher, queue) = (
                this.clone(),
                lane.state.clone(),
                counters.clone(),
                handler.clone(),
                lane.finishers[by].clone(),
                lane.job.clone(),
            );
            tasks.spawn(async move {
                let (id, token) = (job.id.clone(), job.token.clone());
                this.process(&queue, job, handler, &counters, &finisher, slot)
                    .await;
                // Only this claim: the job may have been taken back and
                // claimed again, by this worker, under another token.
                let mut held = state.held.lock().unwrap();
                if held.get(&id) == Some(&token) {
                    held.remove(&id);
                }
            });
        };
        // Jobs a watcher claimed: each gets a free slot, or (when another
        // queue's watcher took the slots first) goes back to its queue.
        let take = |tasks: &mut JoinSet<()>, lanes: &[Lane], woke: Woke| {
            let lane = &lanes[woke.lane];
            let mut extra = Vec::new();
            for job in woke.jobs {
                match permits.clone().try_acquire_owned() {
                    Ok(slot) => start(tasks, lane, job, slot, None),
                    Err(_) => extra.push(job),
                }
            }
            if !extra.is_empty() {
                let (job, state) = (lane.job.clone(), lane.state.clone());
                tasks.spawn(async move { state.give_back(&job, &extra).await });
            }
            woke.more
        };
        let mut pause = Duration::from_millis(50);
        // Whether to ask every queue before waiting: not right after a
        // watcher's claim that got less than it asked for (the queues had
        // nothing more when it claimed; their watchers say when they do).
        let mut ask = true;
        tokio::pin!(shutdown);
        'claiming: loop {
            while tasks.try_join_next().is_some() {}
            // A slot for at least one job, then all the free ones; or a job
            // a finisher claimed in place of a finished one.
            let first = tokio::select! {
                p = permits.clone().acquire_owned() => p.expect("never closed"),
                Some(refill) = refills.recv() => {
                    start(&mut tasks, &lanes[refill.lane], refill.job, refill.slot, Some(refill.finisher));
                    continue;
                }
                Some(w) = woke.recv() => {
                    ask |= take(&mut tasks, &lanes, w);
                    continue;
                }
                _ = &mut shutdown => break 'claiming,
            };
            let mut slots = vec![first];
            while let Ok(p) = permits.clone().try_acquire_owned() {
                slots.push(p);
            }
            let (mut claimed_any, mut failed) = (false, false);
            for i in this.order.pick(lanes.len()) {
                if slots.is_empty() || !ask {
                    break;
                }
                let lane = &mut lanes[i];
                match lane.job.claim_for(slots.len(), Some(&this.id)).await {
                    Ok((jobs, next_due)) => {
                        lane.state.set_due(next_due);
                        lane.state.took(&jobs, slots.len());
                        claimed_any |= !jobs.is_empty();
                        for job in jobs {
                            let slot = slots.pop().expect("claimed no more than the free slots");
                            start(&mut tasks, &lanes[i], job, slot, None);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(
                            queue = lane.job.name(),
                            "claim failed, retrying in {pause:?}: {e}"
                        );
                        failed = true;
                    }
                }
            }
            ask = true;
            let free = slots.len();
            drop(slots);
            if claimed_any {
                pause = Duration::from_millis(50);
                continue;
            }
            if failed {
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = &mut shutdown => break 'claiming,
                }
                pause = (pause * 2).min(Duration::from_secs(5));
                continue;
            }
            // Nothing anywhere: wait for work on every queue at once, each
            // queue's watcher claiming what comes for the free slots. Each
            // keeps its wait (and connection) across rounds: one queue's
            // work does not cut the others' waits short.
            for lane in &lanes {
                // Not one still waiting: the stored wake would start a
                // second wait (and claim) once its own ends.
                if !lane.state.waiting.swap(true, Ordering::Relaxed) {
                    lane.state.free.store(free, Ordering::Relaxed);
                    lane.armed.notify_one();
                }
            }
            tokio::select! {
                Some(w) = woke.recv() => {
                    ask = take(&mut tasks, &lanes, w);
                    // Let the jobs just started run, and their finishes go
                    // out, before the watchers' next waits do.
                    tokio::task::yield_now().await;
                }
                Some(refill) = refills.recv() => start(&mut tasks, &lanes[refill.lane], refill.job, refill.slot, Some(refill.finisher)),
                _ = &mut shutdown => break 'claiming,
            }
        }
        for lane in &lanes {
            lane.state.claiming.store(false, Ordering::Relaxed);
            // Its wait would claim what comes next: stop it now. (A job
            // that came in the very instant of this may have been claimed
            // all the same, its reply lost with the connection:
            // `forget_worker` below sends it back.)
            lane.watcher.0.abort();
        }

        // Shutdown: no more claims; running handlers get the grace period.
        let drained = tokio::time::timeout(this.grace, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
        }
        // Refills a trip under way brings back are not started; the
        // finishers held them when they claimed them, so they are released
        // below. Once the last handler let go of a finisher, it closes its
        // sender of the channel.
        let mut released = 0;
        let lanes: Vec<(Job, Arc<LaneState>)> =
            lanes.into_iter().map(|l| (l.job, l.state)).collect();
        while refills.recv().await.is_some() {}
        drop(heartbeats);
        // Every queue gets its jobs back even when one of them fails.
        let mut failed = None;
        for (job, state) in &lanes {
            let left: Vec<(String, String)> = state.held.lock().unwrap().drain().collect();
            match job.release(&fenced(&left)).await {
                Ok(n) => released += n as u64,
                Err(e) => failed = failed.or(Some(e)),
            }
            if let Err(e) = job.forget_worker(&this.id).await {
                failed = failed.or(Some(e));
            }
        }
        if let Some(e) = failed {
            return Err(e);
        }
        Ok(Report {
            finished: counters.finished.load(Ordering::Relaxed),
            cancelled: counters.cancelled.load(Ordering::Relaxed),
            stalled: counters.stalled.load(Ordering::Relaxed),
            released,
            refused: counters.refused.load(Ordering::Relaxed),
        })
    }

    /// Runs the handler on one job and records its outcome.
    async fn process<H, Fut, R>(
        &self,
        queue: &Job,
        job: Claimed,
        handler: Arc<H>,
        counters: &Counters,
        finisher: &Finisher,
        slot: OwnedSemaphorePermit,
    ) where
        H: Fn(Claimed) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<R, Failure>> + Send + 'static,
        R: Into<Vec<u8>> + Send + 'static,
    {
        // A panic is caught here and is a failure like any other; the
        // handler is dropped with this task (shutdown after the grace).
        let outcome = match AssertUnwindSafe(handler(job.clone())).catch_unwind().await {
            Ok(Ok(result)) => Ok(result.into()),
            Ok(Err(failure)) => Err(failure),
            Err(panic) => Err(Failure::retry(format!(
                "handler panicked: {}",
                panic_message(panic)
            ))),
        };
        let target = JobRef::from(&job);
        // Held until the outcome is recorded (a finish hands it on).
        let mut slot = Some(slot);
        let mut pause = Duration::from_millis(50);
        loop {
            let done = match &outcome {
                Ok(result) => {
                    let held_slot = slot.take().expect("a slot until the outcome is recorded");
                    match finisher.finish(&job, result.clone(), held_slot).await {
                        Finished::Recorded(done) => done.map(|_| &counters.finished),
                        Finished::Retry(e, back) => {
                            slot = Some(back);
                            Err(e)
                        }
                    }
                }
                Err(f) if f.retry => {
                    let delay = self.backoff.delay(job.cancelled + 1);
                    let cancel = crate::Cancel::new().delay(delay).reason(&f.reason);
                    queue
                        .cancel_with(target, cancel)
                        .await
                        .map(|state| match state {
                            State::Stalled => &counters.stalled,
                            _ => &counters.cancelled,
                        })
                }
                Err(f) => queue
                    .stall_with(target, &f.reason)
                    .await
                    .map(|_| &counters.stalled),
            };
            match done {
                Ok(counter) => {
                    counter.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                // The connection failed, or the finish is to be sent again
                // with its slot back: the job is still ours until its lease
                // runs out, so keep trying, or the work is done twice.
                Err(Error::Redis(e)) if slot.is_some() && transient(&e) => {
                    tracing::warn!(
                        queue = queue.name(),
                        id = job.id,
                        "recording the outcome failed, retrying: {e}"
                    );
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
                Err(Error::Redis(e)) => {
                    // Not to be mended by trying again: the lease will run
                    // out and the job will come back.
                    tracing::error!(
                        queue = queue.name(),
                        id = job.id,
                        "recording the outcome failed: {e}"
                    );
                    return;
                }
                Err(refused) => {
                    // Taken back (we were too slow, or paused): another
                    // worker has it now. Nothing to do but say so.
                    tracing::warn!(
                        queue = queue.name(),
                        id = job.id,
                        "outcome refused: {refused}"
                    );
                    counters.refused.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
        }
    }

    /// Extends our leases on one queue, renews our liveness mark there, and
    /// recovers what dead or silent workers held; notes the queue's lease.
    async fn heartbeat(&self, job: &Job, state: &LaneState) -> Result<()> {
        let pairs: Vec<(String, String)> = state
            .held
            .lock()
            .unwrap()
            .iter()
            .map(|(i, t)| (i.clone(), t.clone()))
            .collect();
        let lost = job
            .extend_for(&fenced(&pairs), Some((&self.id, LIVENESS)))
            .await?;
        // A claim that ended meanwhile by our own finish, cancel or stall
        // (no longer held) was not taken back. One that was is no longer
        // ours to extend or release: its handler's outcome will be refused.
        {
            let mut held = state.held.lock().unwrap();
            for id in lost {
                let ours = pairs
                    .iter()
                    .any(|(i, token)| *i == id && held.get(&id) == Some(token));
                if ours {
                    tracing::warn!(queue = job.name(), id, "lease lost: the job was taken back");
                    held.remove(&id);
                }
            }
        }
        let (recovered, lease) = job.recover_pass().await?;
        state
            .lease
            .store(lease.as_millis() as u64, Ordering::Relaxed);
        if recovered.requeued + recovered.stalled > 0 {
            tracing::info!(
                queue = job.name(),
                requeued = recovered.requeued,
                stalled = recovered.stalled,
                "recovered jobs of expired claims"
            );
        }
        Ok(())
    }
}

/// What a worker knows of one of its queues, shared by its claim loop, its
/// heartbeat, its watcher and its finishers.
#[derive(Debug)]
pub(crate) struct LaneState {
    /// id -> token of every job the worker holds of the queue, started or
    /// not: what the heartbeat extends and what shutdown releases.
    held: Mutex<HashMap<String, String>>,
    /// Whether the queue seemed to have more work (the last claim, the
    /// worker's, its watcher's or a refill, got all it asked for).
    pub(crate) more: AtomicBool,
    /// Whether its finishers claim refills.
    pub(crate) claiming: AtomicBool,
    /// How many jobs its watcher claims when armed: the free slots then.
    free: AtomicUsize,
    /// Whether its watcher is armed and has not handed over yet.
    waiting: AtomicBool,
    /// The queue's lease in ms, as the heartbeat last read it.
    lease: AtomicU64,
    /// When its next delayed job falls due (Unix ms; `u64::MAX`: none), as
    /// the last claim saw: the watcher wakes then at the latest.
    due: AtomicU64,
}

impl LaneState {
    fn new(claiming: bool) -> LaneState {
        LaneState {
            held: Mutex::default(),
            more: AtomicBool::new(true),
            claiming: AtomicBool::new(claiming),
            free: AtomicUsize::new(1),
            waiting: AtomicBool::new(false),
            lease: AtomicU64::new(crate::DEFAULT_LEASE.as_millis() as u64),
            due: AtomicU64::new(u64::MAX),
        }
    }

    /// Takes in what a claim for `asked` jobs got: held from the moment
    /// they are claimed, so that the heartbeat extends them even before
    /// they start; and whether the queue seemed to have more (asked for
    /// none, it says nothing of that).
    pub(crate) fn took(&self, jobs: &[Claimed], asked: usize) {
        self.held
            .lock()
            .unwrap()
            .extend(jobs.iter().map(|job| (job.id.clone(), job.token.clone())));
        if asked > 0 {
            self.more.store(jobs.len() == asked, Ordering::Relaxed);
        }
    }

    /// Gives back claims that found no slot: no longer held, and back to
    /// the front of their queue (not counted as a cancel).
    pub(crate) async fn give_back(&self, job: &Job, jobs: &[Claimed]) {
        {
            let mut held = self.held.lock().unwrap();
            for claimed in jobs {
                held.remove(&claimed.id);
            }
        }
        let refs: Vec<JobRef<'_>> = jobs.iter().map(JobRef::from).collect();
        if let Err(e) = job.release(&refs).await {
            tracing::warn!(
                queue = job.name(),
                "giving back claims without a slot failed: {e}"
            );
        }
    }

    fn set_due(&self, next_due: Option<u64>) {
        self.due
            .store(next_due.unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    fn due(&self) -> Option<u64> {
        Some(self.due.load(Ordering::Relaxed)).filter(|&at| at != u64::MAX)
    }

    fn lease(&self) -> Duration {
        Duration::from_millis(self.lease.load(Ordering::Relaxed))
    }
}

/// One queue of a worker.
struct Lane {
    job: Job,
    state: Arc<LaneState>,
    finishers: Vec<Finisher>,
    /// Asks its watcher to wait for work.
    armed: Arc<Notify>,
    watcher: AbortOnDrop<()>,
}

impl Lane {
    async fn start(
        worker: &Worker,
        lane: usize,
        job: &Job,
        finishing: &[crate::Thoonk],
        refilling: bool,
        refills: mpsc::UnboundedSender<Refill>,
        woke: mpsc::UnboundedSender<Woke>,
    ) -> Result<Lane> {
        let state = Arc::new(LaneState::new(refilling));
        let finishers = finishing
            .iter()
            .enumerate()
            .map(|(i, thoonk)| {
                Finisher::start(WorkerState {
                    job: Job {
                        thoonk: thoonk.clone(),
                        keys: job.keys.clone(),
                    },
                    lane,
                    finisher: i,
                    id: worker.id.clone(),
                    state: state.clone(),
                    refills: refills.clone(),
                })
            })
            .collect();
        let armed = Arc::new(Notify::new());
        let watcher = Watcher {
            job: job.clone(),
            lane,
            worker: worker.id.clone(),
            delays: job.thoonk.listen(vec![job.keys.channel("delay")]).await?,
            armed: armed.clone(),
            state: state.clone(),
            woke,
        };
        Ok(Lane {
            job: job.clone(),
            state,
            finishers,
            armed,
            watcher: AbortOnDrop(tokio::spawn(watcher.run())),
        })
    }
}

/// What a watcher found: jobs it claimed for the worker (already in its
/// lane's `held`).
struct Woke {
    lane: usize,
    jobs: Vec<Claimed>,
    /// The queue may have more: the claim got all it asked for, or failed.
    more: bool,
}

/// A queue's watcher: each time it is armed, waits until the queue has
/// work (or a delayed job falls due) and claims it in the same trip (see
/// [`crate::Thoonk::wait_for_list_then`]), then hands the jobs over on
/// `woke`.
struct Watcher {
    job: Job,
    lane: usize,
    worker: String,
    /// Jobs delayed meanwhile: one may fall due before the wait ends.
    delays: crate::events::Listener,
    armed: Arc<Notify>,
    state: Arc<LaneState>,
    woke: mpsc::UnboundedSender<Woke>,
}

impl Watcher {
    async fn run(mut self) {
        let mut listening = true;
        loop {
            self.armed.notified().await;
            let max = self.state.free.load(Ordering::Relaxed).max(1);
            let thoonk = &self.job.thoonk;
            // The claim that ends the wait is stamped with the time it was
            // sent, not the time it runs: so the wait lasts at most a third
            // of the lease, and with the heartbeat's extension within
            // another third, no recovery pass takes a fresh claim for an
            // expired one.
            let cap = tokio::time::Instant::now() + (self.state.lease() / 3).max(MIN_HEARTBEAT);
            let wake = match self.state.due() {
                None => cap,
                Some(at) => thoonk.instant_of(at).min(cap),
            };
            let call = self.job.claim_call(max, Some(&self.worker));
            let claim = thoonk.wait_for_list_then(
                &self.job.keys.ids,
                crate::waiting::block_until(Some(wake)),
                &call,
            );
            tokio::pin!(claim);
            // A job delayed while we wait, due before the wait ends, is
            // claimed apart when it falls due (and so is the next such
            // one): the wait is not dropped, since its claim may already
            // be under way.
            let mut early: Option<tokio::time::Instant> = None;
            let reply = loop {
                tokio::select! {
                    reply = &mut claim => break reply,
                    notice = self.delays.recv(), if listening => {
                        if notice.is_none() {
                            listening = false;
                            continue;
                        }
                        // One read covers every job delayed so far.
                        self.delays.skip_queued();
                        match self.job.first_due().await {
                            Ok(Some(at)) if at < wake => {
                                early = crate::waiting::earliest(early, Some(at));
                            }
                            Ok(_) => {}
                            Err(e) => tracing::warn!(queue = self.job.name(), "reading the first delayed job failed: {e}"),
                        }
                    }
                    _ = tokio::time::sleep_until(early.unwrap_or(wake)), if early.is_some() => {
                        let claimed = self.job.claim_for(max, Some(&self.worker)).await;
                        let next = claimed.as_ref().ok().and_then(|(_, due)| *due);
                        early = next.map(|at| thoonk.instant_of(at)).filter(|&at| at < wake);
                        if self.hand_over(claimed, max).await.is_err() {
                            return;
                        }
                    }
                }
            };
            // Before the hand-over: once it is in, the worker may arm us.
            self.state.waiting.store(false, Ordering::Relaxed);
            let claimed = reply.and_then(|reply| self.job.read_claimed(reply));
            if self.hand_over(claimed, max).await.is_err() {
                return;
            }
        }
    }

    /// Holds what a claim got and hands it to the worker. Errs when the
    /// worker has gone.
    async fn hand_over(
        &self,
        claimed: Result<(Vec<Claimed>, Option<u64>)>,
        max: usize,
    ) -> std::result::Result<(), ()> {
        let woke = match claimed {
            Ok((jobs, next_due)) => {
                self.state.set_due(next_due);
                self.state.took(&jobs, max);
                Woke {
                    lane: self.lane,
                    more: jobs.len() == max,
                    jobs,
                }
            }
            Err(e) => {
                tracing::warn!(queue = self.job.name(), "waiting for work failed: {e}");
                // Not at once: the claim this brings would fail the same way.
                tokio::time::sleep(Duration::from_millis(200)).await;
                self.state.more.store(true, Ordering::Relaxed);
                Woke {
                    lane: self.lane,
                    jobs: Vec::new(),
                    more: true,
                }
            }
        };
        self.woke.send(woke).map_err(drop)
    }
}

/// Whether trying again may mend the error (a connection lost, a server
/// still loading), rather than repeat it (a script error).
fn transient(e: &redis::RedisError) -> bool {
    !matches!(e.retry_method(), redis::RetryMethod::NoRetry)
}

fn fenced(pairs: &[(String, String)]) -> Vec<JobRef<'_>> {
    pairs
        .iter()
        .map(|(id, token)| JobRef::fenced(id, token))
        .collect()
}

/// Aborts the task when dropped, so no handler outlives its worker.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let b = Backoff {
            base: Duration::from_secs(1),
            max: Duration::from_secs(10),
        };
        for _ in 0..100 {
            let d1 = b.delay(1);
            assert!(d1 > Duration::from_millis(500) && d1 <= Duration::from_secs(1));
            let d3 = b.delay(3);
            assert!(d3 > Duration::from_secs(2) && d3 <= Duration::from_secs(4));
            let d50 = b.delay(50);
            assert!(d50 > Duration::from_secs(5) && d50 <= Duration::from_secs(10));
        }
    }
}
