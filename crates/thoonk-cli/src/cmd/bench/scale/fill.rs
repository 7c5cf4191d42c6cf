//! Filling a queue to a size through the library's own calls, so that
//! its Redis state is exactly what users' calls leave: `publish_many` in
//! batches, then `claim` in batches, then `stall` of some of the claimed.

use super::holder::HOLDS;
use crate::cmd::bench::load::{payload, publish_all, Progress};
use std::time::Duration;
use thoonk::{Job, Publish, Queue};

/// Delayed jobs in each size's queue: enough for a page of them.
pub(super) const DELAYED: usize = 10;
/// Jobs per claim call while filling.
const CLAIM_BATCH: usize = 1000;
/// Stall calls in flight at once while filling (there is no batch stall).
const STALLS_IN_FLIGHT: usize = 200;

/// What filling left for the operations to work on.
pub(super) struct Filled {
    /// The jobs claimed by hand and left claimed (N/50).
    pub(super) held: Vec<Job>,
    /// Ids of stalled jobs, for retry to take from.
    pub(super) stalled: Vec<String>,
}

/// Fills `queue`, unused, to `n` available jobs (and `HOLDS` more for the
/// holding workers to take), `n / 10` stalled, `n / 50` claimed and
/// `DELAYED` delayed jobs due in an hour.
pub(super) async fn fill(queue: &Queue, n: usize, payload_bytes: usize) -> Result<Filled, String> {
    let e = |e: thoonk::Error| e.to_string();
    // No claim may run out while the bench runs (a recovery pass would
    // send the claimed jobs back): a day, where the default is 30 s.
    queue
        .set_lease(Duration::from_secs(24 * 3600))
        .await
        .map_err(e)?;
    let (stalled, claimed) = (n / 10, n / 50);
    let total = n + stalled + claimed + HOLDS;
    let progress = Progress::new("fill: publish", total);
    publish_all(queue, total, &|i| payload(i, payload_bytes), &progress).await?;
    progress.done();

    let mut taken = claim_all(queue, stalled + claimed).await?;
    let held = taken.split_off(stalled);
    let progress = Progress::new("fill: stall", stalled);
    for (done, chunk) in taken.chunks(STALLS_IN_FLIGHT).enumerate() {
        let calls = chunk.iter().map(|job| queue.stall(job));
        for r in futures_util::future::join_all(calls).await {
            r.map_err(e)?;
        }
        progress.set((done * STALLS_IN_FLIGHT + chunk.len()).min(stalled));
    }
    progress.done();

    let later = || Publish::new().delay(Duration::from_secs(3600));
    let delayed = (0..DELAYED).map(|i| (payload(i, payload_bytes), later()));
    queue.publish_many(delayed).await.map_err(e)?;
    Ok(Filled {
        held,
        stalled: taken.into_iter().map(|job| job.id).collect(),
    })
}

/// Claims `n` jobs, oldest first, in batches.
async fn claim_all(queue: &Queue, n: usize) -> Result<Vec<Job>, String> {
    let progress = Progress::new("fill: claim", n);
    let mut taken = Vec::with_capacity(n);
    while taken.len() < n {
        let batch = queue
            .claim(CLAIM_BATCH.min(n - taken.len()))
            .await
            .map_err(|e| e.to_string())?;
        if batch.is_empty() {
            return Err(format!(
                "queue {} ran out of jobs to claim while filling",
                queue.name()
            ));
        }
        taken.extend(batch);
        progress.set(taken.len());
    }
    progress.done();
    Ok(taken)
}
