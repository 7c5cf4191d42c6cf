//! A queue's ticker: fires the queue's due schedules when their tick comes
//! ([`Queue::fire_schedules`]), in every worker of the queue; Redis lets
//! one of them publish each tick.

use crate::pubsub::Listener;
use crate::{Queue, Result};
use std::time::Duration;
use tokio_util::task::AbortOnDropHandle;

/// The longest a ticker sleeps without reading the queue's ticks: a
/// schedule added while its event was missed (the subscription was down)
/// is noticed this late at worst. One cheap read, so a queue without
/// schedules costs its workers that much and no more.
const POLL: Duration = Duration::from_secs(5);
/// After a failed fire, the pause before the next.
const AFTER_FAILURE: Duration = Duration::from_secs(1);

/// Starts the ticker of `queue`: it fires what is due, sleeps until the
/// next tick (or a schedule is added: `event.job.schedule`), and so on
/// until the handle is dropped.
pub(crate) async fn start(queue: &Queue) -> Result<AbortOnDropHandle<()>> {
    let added = queue
        .thoonk
        .subscribe(vec![queue.keys.channel("schedule")])
        .await
        .map_err(queue.at("subscribe to schedule events"))?;
    Ok(AbortOnDropHandle::new(tokio::spawn(run(
        queue.clone(),
        added,
    ))))
}

async fn run(queue: Queue, mut added: Listener) {
    let mut listening = true;
    loop {
        let wait = match queue.fire_schedules().await {
            Ok(fired) => {
                for id in &fired.published {
                    tracing::debug!(queue = queue.name(), id, "a schedule ticked");
                }
                fired.next_in.map_or(POLL, |next| next.min(POLL))
            }
            Err(e) => {
                tracing::warn!(queue = queue.name(), "firing schedules failed: {e}");
                AFTER_FAILURE
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            notice = added.recv(), if listening => match notice {
                None => listening = false,
                // A schedule added or replaced (or the subscription back):
                // its first tick may come before the sleep would end. One
                // read covers all that came.
                Some(_) => added.skip_queued(),
            },
        }
    }
}
