//! What a worker did while it ran ([`Report`]), counted as it goes.

use std::sync::atomic::{AtomicU64, Ordering};

/// What a worker did while it ran.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Report {
    /// Jobs finished.
    pub finished: u64,
    /// Jobs whose handler failed (a transient failure, or a panic): sent
    /// back to come again after a backoff.
    pub failed: u64,
    /// Jobs stalled: a permanent failure, or failed more than the queue's
    /// `max_cancels` times.
    pub stalled: u64,
    /// Jobs given back unfinished at shutdown (not counted as failures).
    pub released: u64,
    /// Outcomes refused because the claim had been taken back meanwhile.
    pub refused: u64,
}

/// The outcomes of a running worker's handlers, counted from every task.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) finished: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) stalled: AtomicU64,
    pub(crate) refused: AtomicU64,
}

impl Counters {
    /// Counts one outcome.
    pub(crate) fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The report of a worker that released `released` jobs at the end.
    pub(crate) fn report(&self, released: u64) -> Report {
        Report {
            finished: self.finished.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            stalled: self.stalled.load(Ordering::Relaxed),
            released,
            refused: self.refused.load(Ordering::Relaxed),
        }
    }
}
