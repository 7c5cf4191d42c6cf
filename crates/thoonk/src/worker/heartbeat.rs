//! A worker's heartbeat on one queue: extends its leases, renews its
//! liveness mark, and runs the recovery pass that sends back what dead or
//! silent workers held (and that reads the queue's lease and job timeout
//! for the worker).

use super::state::{fenced, LaneState};
use crate::{Queue, Result};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::task::AbortOnDropHandle;

/// How often a worker extends its leases, renews its liveness mark and runs
/// the recovery pass; more often when the queue's lease is shorter than
/// three of these, so that each claim is extended about three times a lease.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// The heartbeat never comes more often than this, however short the lease.
pub(crate) const MIN_HEARTBEAT: Duration = Duration::from_millis(10);
/// How long a worker's liveness mark lasts: its jobs are recovered this long
/// after its last heartbeat.
const LIVENESS: Duration = Duration::from_secs(3);

/// Beats once, so the worker is marked alive before its first claim, then
/// goes on beating in a task of its own (one per queue, so that a slow node
/// delays only its own queue's: the others' leases and liveness marks must
/// not run out meanwhile, or their jobs would be taken back and run twice).
/// The task stops when the handle is dropped.
/// `about`: what the worker says of itself (see `at_work::about_worker`),
/// written with its liveness mark.
pub(crate) async fn start(
    worker: &str,
    about: &str,
    queue: &Queue,
    state: &Arc<LaneState>,
) -> Result<AbortOnDropHandle<()>> {
    let worker = (worker.to_string(), about.to_string());
    beat(&worker, queue, state).await?;
    let (queue, state) = (queue.clone(), state.clone());
    Ok(AbortOnDropHandle::new(tokio::spawn(async move {
        let mut next = tokio::time::Instant::now();
        loop {
            // Well within the queue's lease (as the last recovery pass read
            // it: anyone may change it): a claim not extended for a lease
            // is anyone's to take back.
            let period = (state.lease() / 3).clamp(MIN_HEARTBEAT, HEARTBEAT);
            next = (next + period).max(tokio::time::Instant::now());
            tokio::time::sleep_until(next).await;
            if let Err(e) = beat(&worker, &queue, &state).await {
                tracing::warn!(queue = queue.name(), "heartbeat failed: {e}");
            }
        }
    })))
}

/// Extends our leases on one queue, renews our liveness mark there, and
/// recovers what dead or silent workers held; notes the queue's lease and
/// job timeout. `worker`: its id, and what it says of itself.
async fn beat(worker: &(String, String), queue: &Queue, state: &LaneState) -> Result<()> {
    let held = state.held();
    let lost = queue
        .extend_for(&fenced(&held), Some((&worker.0, LIVENESS, &worker.1)))
        .await?;
    // A claim taken back is no longer ours to extend or release: its
    // handler's outcome will be refused.
    for id in state.forget_lost(&held, lost) {
        tracing::warn!(
            queue = queue.name(),
            id,
            "lease lost: the job was taken back"
        );
    }
    let (recovered, lease, timeout) = queue.recover_pass().await?;
    state.set_lease(lease);
    state.set_timeout(timeout);
    if !recovered.waiting.is_zero() {
        tracing::info!(
            queue = queue.name(),
            waiting = ?recovered.waiting,
            "Redis was silent while liveness marks ran out: recovery waits for the living to renew theirs"
        );
    }
    if recovered.requeued + recovered.stalled > 0 {
        tracing::info!(
            queue = queue.name(),
            requeued = recovered.requeued,
            stalled = recovered.stalled,
            "recovered jobs of expired claims"
        );
    }
    Ok(())
}
