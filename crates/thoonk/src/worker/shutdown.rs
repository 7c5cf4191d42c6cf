//! A worker's graceful stop: no more claims, running handlers get the
//! grace period, and whatever it still holds goes back to its queues.

use super::dispatch::Dispatch;
use super::state::{fenced, LaneState};
use super::Report;
use crate::{Queue, Result};
use std::sync::atomic::Ordering;
use std::sync::Arc;

impl Dispatch {
    /// Stops the worker and says what it did.
    pub(crate) async fn stop(mut self) -> Result<Report> {
        for lane in &self.lanes {
            lane.state.claiming.store(false, Ordering::Relaxed);
            lane.state.stopping.store(true, Ordering::Relaxed);
            // Its wait would claim what comes next: stop it now. (A job
            // that came in the very instant of this may have been claimed
            // all the same, its reply lost with the connection:
            // `forget_worker` below sends it back.)
            lane.watcher.abort();
            // A stopping worker publishes nothing more: the other workers
            // (or the dashboard) fire the schedules from now on.
            lane.ticker.abort();
        }
        self.drain().await;
        let Dispatch {
            worker,
            counters,
            lanes,
            mut refills,
            heartbeats,
            ..
        } = self;
        // Refills a trip under way brings back are not started; the
        // finishers held them when they claimed them, so they are released
        // below. Once the last handler let go of a finisher, it closes its
        // sender of the channel.
        let lanes: Vec<(Queue, Arc<LaneState>)> =
            lanes.into_iter().map(|l| (l.queue, l.state)).collect();
        while refills.recv().await.is_some() {}
        drop(heartbeats);
        let released = give_back(&worker.id, &lanes).await?;
        Ok(counters.report(released))
    }

    /// Lets running handlers finish within the grace period, then drops
    /// what is still running.
    async fn drain(&mut self) {
        let drained = tokio::time::timeout(self.worker.grace, async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            self.tasks.abort_all();
            while self.tasks.join_next().await.is_some() {}
        }
    }
}

/// Releases every claim the worker still holds and ends its liveness mark,
/// on every queue even when one of them fails. Returns how many jobs were
/// released.
async fn give_back(worker: &str, lanes: &[(Queue, Arc<LaneState>)]) -> Result<u64> {
    let mut released = 0;
    let mut failed = None;
    for (queue, state) in lanes {
        match queue.release(&fenced(&state.drain())).await {
            Ok(n) => released += n as u64,
            Err(e) => failed = failed.or(Some(e)),
        }
        if let Err(e) = queue.forget_worker(worker).await {
            failed = failed.or(Some(e));
        }
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(released),
    }
}
