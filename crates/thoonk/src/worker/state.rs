//! What a worker knows of one of its queues ([`LaneState`]), shared by its
//! claim loop, its heartbeat, its watcher and its finishers.

use crate::queue::claim::Claimed;
use crate::{Job, JobRef, Queue, DEFAULT_LEASE};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// What a worker knows of one of its queues.
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
    /// Whether the worker is stopping: a job whose run is dropped now is
    /// released at shutdown (else the worker itself was dropped, and the
    /// job comes back when its lease runs out). What a job's span says.
    pub(crate) stopping: AtomicBool,
    /// How many jobs its watcher claims when armed: the free slots then.
    pub(crate) free: AtomicUsize,
    /// Whether its watcher is armed and has not handed over yet.
    pub(crate) waiting: AtomicBool,
    /// The queue's lease in ms, as the heartbeat last read it.
    lease: AtomicU64,
    /// The queue's job timeout in ms (0: none), as the heartbeat last read
    /// it: what jobs started from now on are held to (with the worker's
    /// own, when that is shorter).
    timeout: AtomicU64,
    /// When its next delayed job falls due, as the last claim saw: the
    /// watcher wakes then at the latest.
    due: Mutex<Option<Instant>>,
    /// Until when flow control holds the queue's claims back, as the last
    /// claim saw (pause, rate, running limit): no claim is tried before.
    hold: Mutex<Option<Instant>>,
    /// Whether the queue has a rate limit (as the last claim let through
    /// whole saw): then only the claim loop and the watcher claim, and a
    /// finisher claims no refills, so that a worker asks a full window
    /// once, not from each of its paths.
    pub(crate) rate_limited: AtomicBool,
}

impl LaneState {
    /// A queue the worker holds nothing of yet, whose finishers claim
    /// refills when `claiming`.
    pub(crate) fn new(claiming: bool) -> LaneState {
        LaneState {
            held: Mutex::default(),
            more: AtomicBool::new(true),
            claiming: AtomicBool::new(claiming),
            stopping: AtomicBool::new(false),
            free: AtomicUsize::new(1),
            waiting: AtomicBool::new(false),
            lease: AtomicU64::new(DEFAULT_LEASE.as_millis() as u64),
            timeout: AtomicU64::new(0),
            due: Mutex::new(None),
            hold: Mutex::new(None),
            rate_limited: AtomicBool::new(false),
        }
    }

    /// Takes in what a claim for `asked` jobs got: its jobs (see
    /// [`LaneState::took`]), when the next delayed job falls due, and how
    /// long flow control holds claims back.
    /// (Asked for none, it was not made, and says nothing.)
    pub(crate) fn claimed(&self, claimed: &Claimed, asked: usize) {
        if asked > 0 {
            self.set_due(claimed.next_due);
            *self.hold.lock().unwrap() = claimed.hold;
            // (A held claim says nothing of which limit held it.)
            if claimed.hold.is_none() {
                self.rate_limited
                    .store(claimed.rate_limited, Ordering::Relaxed);
            }
        }
        self.took(&claimed.jobs, asked);
    }

    /// Flow control holds the queue's claims back for `ms` from now (as
    /// another worker's claim that filled the rate window said).
    pub(crate) fn hold_for(&self, ms: u64) {
        let until = Instant::now() + Duration::from_millis(ms);
        let mut hold = self.hold.lock().unwrap();
        *hold = Some(hold.map_or(until, |h| h.max(until)));
    }

    /// Until when flow control holds the queue's claims back, if it does
    /// now.
    pub(crate) fn held_until(&self) -> Option<Instant> {
        let hold = *self.hold.lock().unwrap();
        hold.filter(|&until| until > Instant::now())
    }

    /// Takes in what a claim for `asked` jobs got: held from the moment
    /// they are claimed, so that the heartbeat extends them even before
    /// they start; and whether the queue seemed to have more (asked for
    /// none, it says nothing of that).
    pub(crate) fn took(&self, jobs: &[Job], asked: usize) {
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
    pub(crate) async fn give_back(&self, queue: &Queue, jobs: &[Job]) {
        {
            let mut held = self.held.lock().unwrap();
            for claimed in jobs {
                held.remove(&claimed.id);
            }
        }
        let refs: Vec<JobRef<'_>> = jobs.iter().map(JobRef::from).collect();
        if let Err(e) = queue.release(&refs).await {
            tracing::warn!(
                queue = queue.name(),
                "giving back claims without a slot failed: {e}"
            );
        }
    }

    /// A job's claim is over (its outcome recorded, or refused). Only this
    /// claim: the job may have been taken back and claimed again, by this
    /// worker, under another token.
    pub(crate) fn let_go(&self, id: &str, token: &str) {
        let mut held = self.held.lock().unwrap();
        if held.get(id).is_some_and(|t| t == token) {
            held.remove(id);
        }
    }

    /// The (id, token) of every claim held now.
    pub(crate) fn held(&self) -> Vec<(String, String)> {
        let held = self.held.lock().unwrap();
        held.iter().map(|(i, t)| (i.clone(), t.clone())).collect()
    }

    /// Of the claims `asked` about (as [`LaneState::held`] gave them), those
    /// in `lost` were taken back: forgets each one still held under the same
    /// token (one that ended meanwhile by our own finish, cancel or stall
    /// was not taken back). Returns the ids it forgot.
    pub(crate) fn forget_lost(&self, asked: &[(String, String)], lost: Vec<String>) -> Vec<String> {
        let mut held = self.held.lock().unwrap();
        lost.into_iter()
            .filter(|id| {
                let ours = asked
                    .iter()
                    .any(|(i, token)| i == id && held.get(id) == Some(token));
                if ours {
                    held.remove(id);
                }
                ours
            })
            .collect()
    }

    /// Every claim held, no longer held: what shutdown releases.
    pub(crate) fn drain(&self) -> Vec<(String, String)> {
        self.held.lock().unwrap().drain().collect()
    }

    pub(crate) fn set_due(&self, next_due: Option<Instant>) {
        *self.due.lock().unwrap() = next_due;
    }

    pub(crate) fn due(&self) -> Option<Instant> {
        *self.due.lock().unwrap()
    }

    pub(crate) fn set_lease(&self, lease: Duration) {
        self.lease
            .store(lease.as_millis() as u64, Ordering::Relaxed);
    }

    pub(crate) fn lease(&self) -> Duration {
        Duration::from_millis(self.lease.load(Ordering::Relaxed))
    }

    pub(crate) fn set_timeout(&self, timeout: Option<Duration>) {
        let ms = timeout.map_or(0, |t| t.as_millis().max(1) as u64);
        self.timeout.store(ms, Ordering::Relaxed);
    }

    /// The queue's job timeout, as the heartbeat last read it.
    pub(crate) fn timeout(&self) -> Option<Duration> {
        let ms = self.timeout.load(Ordering::Relaxed);
        (ms > 0).then(|| Duration::from_millis(ms))
    }
}

/// Claims as references to fenced jobs, for the scripts that take many.
pub(crate) fn fenced(pairs: &[(String, String)]) -> Vec<JobRef<'_>> {
    pairs
        .iter()
        .map(|(id, token)| JobRef::fenced(id, token))
        .collect()
}
